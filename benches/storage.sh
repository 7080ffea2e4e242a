#!/usr/bin/env bash
# Volume benchmark: six local storage nodes, `sextant bench volume` at
# concurrency 1, 8 and 64, next to this disk's fsync floor and a loopback
# round trip measured in the same run. Prints one JSON line per measurement;
# BENCHMARKS.md records the results and the targets.
#
#   benches/volume.sh [DURATION]        (default 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10s}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sextant-target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/sextant"

WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/sextant-bench.XXXXXX")"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

BASE=$((20000 + RANDOM % 20000))
{
  echo 'segment_size = "10GiB"'
  for i in 1 2 3 4 5 6; do
    az=az-a; [ "$i" -gt 2 ] && az=az-b; [ "$i" -gt 4 ] && az=az-c
    printf '[[storage]]\nid = %d\naddr = "127.0.0.1:%d"\naz = "%s"\n' "$i" $((BASE + i)) "$az"
  done
} > "$WORK/cluster.toml"

for i in 1 2 3 4 5 6; do
  az=az-a; [ "$i" -gt 2 ] && az=az-b; [ "$i" -gt 4 ] && az=az-c
  SEXTANT_LOG=warn "$BIN" storage --listen "127.0.0.1:$((BASE + i))" --az "$az" \
    --data "$WORK/node-$i" --node-id "$i" 2>"$WORK/node-$i.log" &
  PIDS+=($!)
done
sleep 1

echo "# floors (same disk as the nodes: $WORK)"
"$BIN" bench floor --dir "$WORK" --duration 3s
for c in 1 8 64; do
  echo "# bench volume --concurrency $c --duration $DURATION"
  SEXTANT_LOG=warn "$BIN" bench volume --cluster "$WORK/cluster.toml" --duration "$DURATION" \
    --concurrency "$c" --payload-bytes 100
done

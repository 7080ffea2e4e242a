#!/usr/bin/env bash
# Replica lag (issue 5's benchmark): a writer and 1 or 3 read replicas in one
# process (`sextant bench lag`) against six fresh local storage nodes, at the
# writer's full upsert throughput (8 workers) and paced at 1,000 commits/s.
# Lag = from a commit's acknowledgement until a reader's read point covers
# it. Prints one JSON line per run; BENCHMARKS.md records the results.
#
#   benches/lag.sh [DURATION]        (default 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
DURATION="${1:-10s}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sextant-target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/sextant"

WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/sextant-lag.XXXXXX")"
PIDS=()
stop_nodes() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}
cleanup() {
  stop_nodes
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_nodes DIR: six storage nodes, two per AZ, and DIR/cluster.toml.
start_nodes() {
  local dir="$1" base=$(free_ports 7)
  mkdir -p "$dir"
  {
    echo 'segment_size = "10GiB"'
    for i in 1 2 3 4 5 6; do
      az=az-a; [ "$i" -gt 2 ] && az=az-b; [ "$i" -gt 4 ] && az=az-c
      printf '[[storage]]\nid = %d\naddr = "127.0.0.1:%d"\naz = "%s"\n' "$i" $((base + i)) "$az"
    done
  } > "$dir/cluster.toml"
  for i in 1 2 3 4 5 6; do
    az=az-a; [ "$i" -gt 2 ] && az=az-b; [ "$i" -gt 4 ] && az=az-c
    SEXTANT_LOG=warn "$BIN" storage --listen "127.0.0.1:$((base + i))" --az "$az" \
      --data "$dir/node-$i" --node-id "$i" 2>"$dir/node-$i.log" &
    PIDS+=($!)
  done
  sleep 1
}

n=0
for readers in 1 3; do
  for rate in 0 1000; do
    n=$((n + 1))
    start_nodes "$WORK/run-$n"
    echo "# bench lag --readers $readers --rate $rate (0 = full speed) --duration $DURATION"
    SEXTANT_LOG=warn "$BIN" bench lag --cluster "$WORK/run-$n/cluster.toml" \
      --readers "$readers" --rate "$rate" --concurrency 8 --duration "$DURATION"
    stop_nodes
  done
done

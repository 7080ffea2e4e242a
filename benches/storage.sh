#!/usr/bin/env bash
# Storage and engine benchmarks on this machine, in one run:
#   1. the floors: one 4 KiB append + fdatasync on the nodes' disk; six
#      4 KiB writes + fdatasync started together on six files of that disk,
#      until the fourth is done (`quorum_fsync_*`: what a 4/6 commit waits
#      for when the six replicas share the disk); one loopback TCP round trip;
#   2. `sextant bench volume` (raw MTRs through the volume client) against six
#      local storage nodes at concurrency 1, 8 and 64;
#   3. `sextant bench engine` (single-row upserts of ~500-byte JSON values with
#      two secondary indexes, then warm and cold point reads) against six fresh
#      nodes at concurrency 1, 8 and 32.
# Prints one JSON line per measurement; BENCHMARKS.md records the results.
#
#   benches/storage.sh [DURATION]       (default 10s)
#
# SEXTANT_BIN=path runs that binary instead of building one, so two builds
# can be measured in turn on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
DURATION="${1:-10s}"
if [ -n "${SEXTANT_BIN:-}" ]; then
  BIN="$SEXTANT_BIN"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sextant-target}"
  cargo build --release --quiet
  BIN="$CARGO_TARGET_DIR/release/sextant"
fi

WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/sextant-bench.XXXXXX")"
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

echo "# floors (same disk as the nodes: $WORK)"
"$BIN" bench floor --dir "$WORK" --duration 3s

start_nodes "$WORK/volume"
for c in 1 8 64; do
  echo "# bench volume --concurrency $c --duration $DURATION"
  SEXTANT_LOG=warn "$BIN" bench volume --cluster "$WORK/volume/cluster.toml" --duration "$DURATION" \
    --concurrency "$c" --payload-bytes 100
done
stop_nodes

start_nodes "$WORK/engine"
for c in 1 8 32; do
  echo "# bench engine --concurrency $c --duration $DURATION"
  SEXTANT_LOG=warn "$BIN" bench engine --cluster "$WORK/engine/cluster.toml" --duration "$DURATION" \
    --concurrency "$c" --value-bytes 500 --reads 2000
done
stop_nodes

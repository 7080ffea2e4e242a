#!/usr/bin/env bash
# `sextant export` throughput: rows per second exporting one hour of EVENTS
# events, from a Sextant reader endpoint and from PostgreSQL 15, on this
# machine in one run, one server at a time so they do not share the cores.
#
#   benches/export.sh
#
# For each server: a throwaway PostgreSQL 15 cluster (default durability),
# then `sextant dev` (release build; the export reads its reader endpoint);
# the table
#   events(id bigint primary key, ts timestamptz not null, site text,
#          payload jsonb not null)
# filled server-side with EVENTS rows spread evenly over 2024-01-01
# 00:00-01:00 UTC (INSERT … SELECT from generate_series, in batches of
# BATCH rows); for Sextant, a wait until the reader has every row. Then
# `sextant export --once` of that one window in each FORMATS entry, timed
# end to end (connect, COPY, write, fsync, rename, checkpoint). Prints rows/s
# per server and format and the Sextant/PostgreSQL ratio.
#
# Environment (defaults in brackets):
#   EVENTS [1000000]   rows in the hour
#   BATCH [100000]     rows per INSERT … SELECT
#   FORMATS ["csv ndjson csv+gzip"]
#   ONLY ["postgres sextant"]  which servers to run
#   KEEP [0]           1 keeps the work directory
#   PG_BIN [/usr/lib/postgresql/15/bin]
#   CARGO_TARGET_DIR [/var/cache/sextant-target]
# Quick run: EVENTS=100000 benches/export.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

EVENTS="${EVENTS:-1000000}"
BATCH="${BATCH:-100000}"
FORMATS="${FORMATS:-csv ndjson csv+gzip}"
ONLY="${ONLY:-postgres sextant}"
KEEP="${KEEP:-0}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sextant-target}"

if [ ! -x "$PG_BIN/postgres" ] || ! command -v psql >/dev/null; then
  log "installing PostgreSQL 15"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi

log "building sextant (release)"
cargo build --release --locked --quiet -p sextant
SEXTANT="$CARGO_TARGET_DIR/release/sextant"

WORK="$(mktemp -d /var/tmp/sextant-export-bench.XXXXXX)"
chmod 755 "$WORK"
PG_DATA="$WORK/postgres"
SEXTANT_PID=""
cleanup() {
  if [ -n "$SEXTANT_PID" ]; then
    kill "$SEXTANT_PID" 2>/dev/null || true
    wait "$SEXTANT_PID" 2>/dev/null || true
  fi
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true
  fi
  if [ "$KEEP" = 1 ]; then
    echo "work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

export PGPASSWORD=sextant
sql() {
  local port=$1
  shift
  psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U sextant -d sextant "$@"
}

# load PORT: the table and EVENTS rows in 2024-01-01 00:00-01:00 UTC.
load() {
  local port=$1 from=1 to
  sql "$port" -c "CREATE TABLE events (id bigint PRIMARY KEY, ts timestamptz NOT NULL, site text, payload jsonb NOT NULL)"
  while [ "$from" -le "$EVENTS" ]; do
    to=$((from + BATCH - 1))
    [ "$to" -gt "$EVENTS" ] && to=$EVENTS
    sql "$port" -c "INSERT INTO events SELECT g,
        '2024-01-01 00:00:00+00'::timestamptz + (g - 1) * (interval '3600 seconds' / $EVENTS),
        'site-' || (g * 7919 % 1000),
        ('{\"temp\": ' || (g * 104729 % 6001 - 2000) / 100.0 || ', \"seq\": ' || g || ', \"tags\": [\"t' || g % 11 || '\"]}')::jsonb
      FROM generate_series($from::int8, $to::int8) g"
    from=$((to + 1))
  done
}

declare -A RATE
# export_runs NAME PORT: times one export per format.
export_runs() {
  local name=$1 port=$2 fmt args out start end rows
  for fmt in $FORMATS; do
    case "$fmt" in
      csv) args=(--format csv) ;;
      ndjson) args=(--format ndjson) ;;
      csv+gzip) args=(--format csv --compress gzip) ;;
      *) echo "unknown format $fmt" >&2; exit 1 ;;
    esac
    out="$WORK/out-$name-$fmt"
    start=$(date +%s.%N)
    SEXTANT_LOG=warn "$SEXTANT" export --database-url "postgres://sextant:sextant@127.0.0.1:$port/sextant" \
      --table events --time-column ts --out "$out" --once "${args[@]}" \
      --since 2024-01-01T00:00:00Z --until 2024-01-01T01:00:00Z
    end=$(date +%s.%N)
    rows=$(python3 -c "import json;print(json.load(open('$out/events.checkpoint.json'))['last_window_end'])")
    [ "$rows" = "2024-01-01T01:00:00Z" ] || { echo "export of $name $fmt did not finish" >&2; exit 1; }
    RATE[$name,$fmt]=$(awk -v n="$EVENTS" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }')
    log "$name $fmt: ${RATE[$name,$fmt]} rows/s ($(du -sh "$out" | cut -f1))"
  done
}

for server in $ONLY; do
  case "$server" in
    postgres)
      log "PostgreSQL: initdb, start, load $EVENTS rows"
      echo sextant > "$WORK/pw"
      chmod 644 "$WORK/pw"
      mkdir -p "$PG_DATA"
      if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DATA"; fi
      as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U sextant -E UTF8 --locale=C -A scram-sha-256 \
        --pwfile="$WORK/pw" >/dev/null
      PG_PORT=$(free_port)
      as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w \
        -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1" start >/dev/null
      psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U sextant -d postgres -c "CREATE DATABASE sextant"
      load "$PG_PORT"
      sql "$PG_PORT" -c "VACUUM ANALYZE events"
      export_runs postgres "$PG_PORT"
      as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null
      ;;
    sextant)
      log "Sextant: sextant dev, load $EVENTS rows through the writer"
      W_PORT=$(free_port)
      R_PORT=$(free_port)
      SEXTANT_LOG=warn "$SEXTANT" dev --data "$WORK/sextant" --port "$W_PORT" --reader-port "$R_PORT" \
        --http-port "$(free_port)" --storage-port "$(free_ports 12)" \
        >"$WORK/sextant.out" 2>"$WORK/sextant.log" &
      SEXTANT_PID=$!
      for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$R_PORT") 2>/dev/null && break
        sleep 0.1
      done
      load "$W_PORT"
      until [ "$(sql "$R_PORT" -At -c "SELECT count(*) FROM events" 2>/dev/null)" = "$EVENTS" ]; do
        sleep 0.2
      done
      export_runs sextant "$R_PORT"
      kill "$SEXTANT_PID"
      wait "$SEXTANT_PID" || true
      SEXTANT_PID=""
      ;;
    *) echo "unknown server $server" >&2; exit 1 ;;
  esac
done

echo
echo "one hour of $EVENTS events, sextant export --once, rows/s"
printf '%-10s %14s %14s %8s\n' format postgresql sextant ratio
for fmt in $FORMATS; do
  pg="${RATE[postgres,$fmt]:-}"
  sx="${RATE[sextant,$fmt]:-}"
  ratio=""
  if [ -n "$pg" ] && [ -n "$sx" ]; then
    ratio=$(awk -v a="$sx" -v b="$pg" 'BEGIN { printf "%.2f", a / b }')
  fi
  printf '%-10s %14s %14s %8s\n' "$fmt" "${pg:--}" "${sx:--}" "$ratio"
done

#!/usr/bin/env bash
# The ingest service against Sextant and PostgreSQL 15 on this machine, side
# by side, and PostgreSQL's own COPY of the same events.
#
# One run, one server at a time so they do not share the two cores:
#   1. PostgreSQL 15 (a throwaway cluster, fsync and synchronous_commit on),
#      then `sextant dev` (six storage nodes and the writer in one process);
#   2. on each, `sextant ingest` (release build) writing to it, and per batch
#      size a fresh CDC table of the default shape
#        (id text primary key, payload jsonb not null, position bigint,
#         ingested_at timestamptz not null default now())
#      with two expression indexes, on (payload->>'customer') and
#      (payload->>'status');
#   3. examples/event_producer posts ~500-byte plain events as NDJSON
#      batches of 1, 100 and 1,000 events, CONCURRENCY requests in flight,
#      every event a new key; it prints events/s and p50/p99 request latency;
#   4. the same 1,000-batch events, written as a COPY text file by the
#      producer, loaded with COPY FROM STDIN into a fresh table of the same
#      shape (PostgreSQL, and Sextant for reference), timed.
# Prints one line per run; BENCHMARKS.md records them.
#
#   benches/ingest.sh
#
# Environment (defaults in brackets):
#   EVENTS_1 [2000] EVENTS_100 [20000] EVENTS_1000 [50000]  events per batch size
#   CONCURRENCY [4]     requests in flight
#   ONLY ["postgres sextant"]  which servers to run
#   PG_BIN [/usr/lib/postgresql/15/bin]
#   CARGO_TARGET_DIR [/var/cache/sextant-target]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

EVENTS_1="${EVENTS_1:-2000}"
EVENTS_100="${EVENTS_100:-20000}"
EVENTS_1000="${EVENTS_1000:-50000}"
CONCURRENCY="${CONCURRENCY:-4}"
ONLY="${ONLY:-postgres sextant}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sextant-target}"

if [ ! -x "$PG_BIN/postgres" ] || ! command -v psql >/dev/null; then
  log "installing PostgreSQL 15"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
PSQL="$PG_BIN/psql"

log "building sextant and the event producer (release)"
cargo build --release --locked --quiet -p sextant --bin sextant --example event_producer
SEXTANT="$CARGO_TARGET_DIR/release/sextant"
PRODUCER="$CARGO_TARGET_DIR/release/examples/event_producer"

WORK="$(mktemp -d /var/tmp/sextant-ingest-bench.XXXXXX)"
chmod 755 "$WORK"
PG_DATA="$WORK/postgres"
SEXTANT_PID=""
INGEST_PID=""
cleanup() {
  for pid in $INGEST_PID $SEXTANT_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export PGPASSWORD=sextant
sql() {
  local port="$1"
  shift
  "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U sextant -d sextant "$@"
}
schema() {
  echo "CREATE TABLE $1 (id text PRIMARY KEY, payload jsonb NOT NULL, position bigint,
    ingested_at timestamptz NOT NULL DEFAULT now());
  CREATE INDEX ${1}_customer ON $1 ((payload->>'customer'));
  CREATE INDEX ${1}_status ON $1 ((payload->>'status'));"
}

COPY_FILE="$WORK/events.copy"
"$PRODUCER" --events "$EVENTS_1000" --copy-file "$COPY_FILE" >/dev/null
chmod 644 "$COPY_FILE"

# run NAME PORT: the ingest service on the server at PORT, three batch sizes,
# then COPY.
run() {
  local name="$1" port="$2" http batch events out t0 t1 count
  http=$(free_port)
  SEXTANT_LOG=warn "$SEXTANT" ingest --listen "127.0.0.1:$http" \
    --database-url "postgres://sextant:sextant@127.0.0.1:$port/sextant" \
    >"$WORK/ingest-$name.out" 2>"$WORK/ingest-$name.log" &
  INGEST_PID=$!
  wait_port "$http"
  for batch in 1 100 1000; do
    events="EVENTS_$batch"
    events="${!events}"
    sql "$port" -c "$(schema "bench_b$batch")"
    out=$("$PRODUCER" --url "http://127.0.0.1:$http" --table "bench_b$batch" \
      --events "$events" --batch "$batch" --concurrency "$CONCURRENCY")
    count=$(sql "$port" -At -c "SELECT count(*) FROM bench_b$batch")
    [ "$count" = "$events" ] || { echo "$name: $count rows in bench_b$batch, expected $events" >&2; exit 1; }
    echo "$name ingest $out"
  done
  kill "$INGEST_PID"
  wait "$INGEST_PID" || true
  INGEST_PID=""
  sql "$port" -c "$(schema bench_copy)"
  t0=$(now)
  sql "$port" -c "COPY bench_copy (id, payload, position) FROM STDIN" < "$COPY_FILE"
  t1=$(now)
  count=$(sql "$port" -At -c "SELECT count(*) FROM bench_copy")
  [ "$count" = "$EVENTS_1000" ] || { echo "$name: COPY loaded $count rows" >&2; exit 1; }
  awk -v n="$EVENTS_1000" -v a="$t0" -v b="$t1" -v name="$name" \
    'BEGIN { printf "%s copy events=%d seconds=%.3f events_per_s=%.0f\n", name, n, b - a, n / (b - a) }'
}

if [[ " $ONLY " == *" postgres "* ]]; then
  PG_PORT=$(free_port)
  mkdir -p "$PG_DATA"
  if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DATA"; fi
  log "PostgreSQL on port $PG_PORT"
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -l "$PG_DATA/server.log" \
    -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on" start >/dev/null
  "$PSQL" -X -q -h "$PG_DATA" -p "$PG_PORT" -U postgres -d postgres \
    -c "CREATE ROLE sextant LOGIN PASSWORD 'sextant'" -c "CREATE DATABASE sextant OWNER sextant"
  run postgres "$PG_PORT"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null
fi

if [[ " $ONLY " == *" sextant "* ]]; then
  SX_PORT=$(free_port)
  log "Sextant: sextant dev on port $SX_PORT"
  SEXTANT_LOG=warn "$SEXTANT" dev --data "$WORK/sextant" --port "$SX_PORT" \
    --reader-port "$(free_port)" --http-port "$(free_port)" --storage-port "$(free_ports 12)" \
    --readers 0 >"$WORK/sextant.out" 2>"$WORK/sextant.log" &
  SEXTANT_PID=$!
  wait_port "$SX_PORT"
  run sextant "$SX_PORT"
fi

#!/usr/bin/env bash
# Sextant against PostgreSQL 15 on this machine, side by side, with pgbench.
#
# One run, one server at a time so they do not share the two cores:
#   1. PostgreSQL 15 (a throwaway cluster, default durability: fsync and
#      synchronous_commit on), then `sextant dev` (six storage nodes and the
#      writer in one process, fsync on);
#   2. on each, the table
#        events(id text primary key, payload jsonb not null, position bigint,
#               ingested_at timestamptz not null default now())
#      with expression indexes on (payload->>'site_id') and
#      ((payload->>'temp')::float);
#   3. loads EVENTS rows (~500-byte JSON payloads, generated deterministically
#      into a file once) with COPY FROM STDIN, timed. If the server refuses
#      COPY, the rows go in as multi-row INSERTs of BATCH rows instead, and
#      PostgreSQL is timed the same way too so the ratio compares like with
#      like;
#   4. pgbench -n -M extended, DURATION seconds per run, at each of CLIENTS,
#      for three custom scripts:
#        pk_lookup    SELECT payload FROM events WHERE id = :id
#        site_lookup  SELECT id FROM events WHERE payload->>'site_id' = :site LIMIT 10
#        upsert       INSERT … ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload,
#                     position = EXCLUDED.position WHERE events.position < EXCLUDED.position
#                     (ids drawn from 1.25 × EVENTS, so about one in five is new)
# and prints a table: workload, clients, tps and mean latency of each server,
# and the Sextant/PostgreSQL tps ratio, then the load times and their ratio.
#
#   benches/pgbench.sh
#
# Environment (defaults in brackets):
#   EVENTS [1000000]    rows loaded before the pgbench runs
#   DURATION [20]       seconds per pgbench run
#   CLIENTS ["1 8 32"]  client counts
#   WORKLOADS ["pk_lookup site_lookup upsert"]  which pgbench scripts to run
#   BATCH [1000]        rows per INSERT when COPY is refused
#   ONLY ["postgres sextant"]  which servers to run
#   DATA_DIR [/var/tmp/sextant-pgbench]  where the generated events file is kept
#   SEXTANT_RSS_MAX_MB [8192]  stop sextant dev if its resident memory passes this
#                        (the machine is shared; the OOM killer would pick at random)
#   SEXTANT_BIN [build it]  a sextant binary to use instead of building one
#   KEEP [0]            1 keeps the work directory (server data) after the run;
#                       pgbench outputs, logs and the summary are always kept in
#                       DATA_DIR/results-TIME
#   PG_BIN [/usr/lib/postgresql/15/bin]
#   CARGO_TARGET_DIR [/var/cache/sextant-target]
# Quick run: EVENTS=100000 DURATION=5 benches/pgbench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

EVENTS="${EVENTS:-1000000}"
DURATION="${DURATION:-20}"
CLIENTS="${CLIENTS:-1 8 32}"
BATCH="${BATCH:-1000}"
ONLY="${ONLY:-postgres sextant}"
SEXTANT_RSS_MAX_MB="${SEXTANT_RSS_MAX_MB:-8192}"
KEEP="${KEEP:-0}"
DATA_DIR="${DATA_DIR:-/var/tmp/sextant-pgbench}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sextant-target}"
WORKLOADS="${WORKLOADS:-pk_lookup site_lookup upsert}"

# --- prerequisites ----------------------------------------------------------
if [ ! -x "$PG_BIN/postgres" ] || [ ! -x "$PG_BIN/pgbench" ] || ! command -v psql >/dev/null; then
  log "installing PostgreSQL 15 and pgbench"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib
fi
case "$("$PG_BIN/postgres" --version)" in
  *" 15."*) ;;
  *) echo "$PG_BIN/postgres is not PostgreSQL 15; set PG_BIN" >&2; exit 1 ;;
esac
PSQL="$PG_BIN/psql"
PGBENCH="$PG_BIN/pgbench"

if [ -n "${SEXTANT_BIN:-}" ]; then
  SEXTANT="$SEXTANT_BIN"
else
  log "building sextant (release)"
  cargo build --release --locked --quiet -p sextant
  SEXTANT="$CARGO_TARGET_DIR/release/sextant"
fi

WORK="$(mktemp -d /var/tmp/sextant-pgbench-run.XXXXXX)"
# pgbench outputs, logs and the summary outlive the run.
RESULTS="$DATA_DIR/results-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RESULTS"
chmod 755 "$WORK"
PG_DATA="$WORK/postgres"
SEXTANT_PID=""
WATCHDOG_PID=""
cleanup() {
  local rc=$?
  if [ -n "$WATCHDOG_PID" ]; then
    kill "$WATCHDOG_PID" 2>/dev/null || true
  fi
  if [ -n "$SEXTANT_PID" ]; then
    kill "$SEXTANT_PID" 2>/dev/null || true
    wait "$SEXTANT_PID" 2>/dev/null || true
  fi
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true
  fi
  if [ "$rc" != 0 ] && [ -s "$WORK/sextant.log" ]; then
    echo "last lines of the sextant dev log:" >&2
    tail -n 20 "$WORK/sextant.log" >&2
  fi
  if [ "$KEEP" = 1 ]; then
    echo "work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# --- the events file --------------------------------------------------------
# COPY text format: id, payload, position. Ids are decimal strings 1..EVENTS
# (pgbench draws integers); site_id is one of 1000 decimal strings; payloads
# are ~500 bytes. Everything derives from the row number, so the file is the
# same on every machine.
EVENTS_FILE="$DATA_DIR/events-$EVENTS.tsv"
if [ ! -s "$EVENTS_FILE" ]; then
  log "generating $EVENTS events into $EVENTS_FILE"
  mkdir -p "$DATA_DIR"
  awk -v n="$EVENTS" 'BEGIN {
    pad = "";
    for (k = 0; k < 19; k++) pad = pad "lorem ipsum ";
    for (i = 1; i <= n; i++) {
      site = (i * 7919) % 1000;
      temp = ((i * 104729) % 6001 - 2000) / 100;
      hum = (i * 31) % 100;
      printf "%d\t{\"site_id\": \"%d\", \"temp\": %.2f, \"humidity\": %d, \"device\": {\"id\": \"dev-%06d\", \"fw\": \"1.%d.%d\", \"battery\": %d}, \"tags\": [\"t%d\", \"t%d\"], \"seq\": %d, \"note\": \"%s\"}\t%d\n",
        i, site, temp, hum, i % 50000, i % 7, i % 13, (i * 17) % 100, i % 11, i % 29, i, pad, i;
    }
  }' > "$EVENTS_FILE.tmp"
  mv "$EVENTS_FILE.tmp" "$EVENTS_FILE"
fi
log "events file: $EVENTS_FILE ($(wc -c < "$EVENTS_FILE") bytes, $(head -c 2000 "$EVENTS_FILE" | head -n 1 | cut -f2 | wc -c) bytes per payload)"

# INSERT batches from the same file, for servers that refuse COPY.
INSERTS_FILE="$DATA_DIR/events-$EVENTS-insert-$BATCH.sql"
make_inserts() {
  if [ ! -s "$INSERTS_FILE" ]; then
    log "writing INSERT batches of $BATCH rows into $INSERTS_FILE"
    awk -F'\t' -v batch="$BATCH" '{
      row = sprintf("(%c%s%c, %c%s%c, %s)", 39, $1, 39, 39, $2, 39, $3);
      if ((NR - 1) % batch == 0) printf "INSERT INTO events (id, payload, position) VALUES %s", row;
      else printf ",\n%s", row;
      if (NR % batch == 0) printf ";\n";
    } END { if (NR % batch != 0) printf ";\n" }' "$EVENTS_FILE" > "$INSERTS_FILE.tmp"
    mv "$INSERTS_FILE.tmp" "$INSERTS_FILE"
  fi
}

# --- pgbench scripts ---------------------------------------------------------
cat > "$WORK/pk_lookup.sql" <<'EOF'
\set id random(1, :events)
SELECT payload FROM events WHERE id = :id;
EOF
cat > "$WORK/site_lookup.sql" <<'EOF'
\set site random(0, 999)
SELECT id FROM events WHERE payload->>'site_id' = :site LIMIT 10;
EOF
cat > "$WORK/upsert.sql" <<'EOF'
\set id random(1, :events * 5 / 4)
\set site random(0, 999)
\set temp random(-2000, 4000)
\set pos random(1, 2000000000)
INSERT INTO events (id, payload, position)
VALUES (:id, ('{"site_id": "' || :site::text || '", "temp": ' || (:temp::float8 / 100)::text || ', "humidity": 50, "device": {"id": "dev-bench", "fw": "2.0.0", "battery": 80}, "tags": ["bench"], "note": "lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum lorem ipsum"}')::jsonb, :pos)
ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload, position = EXCLUDED.position
WHERE events.position < EXCLUDED.position;
EOF
chmod 644 "$WORK"/*.sql

SCHEMA="CREATE TABLE events (id text PRIMARY KEY, payload jsonb NOT NULL, position bigint, ingested_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX events_site ON events ((payload->>'site_id'));
CREATE INDEX events_temp ON events (((payload->>'temp')::float));"

export PGPASSWORD=sextant
# Both servers over plain TCP, like with like: the throwaway PostgreSQL has
# no certificate, while sextant dev's endpoints offer TLS and psql/pgbench
# would take it by default. benches/proxy.sh measures what TLS costs.
export PGSSLMODE=disable
declare -A TPS LAT LOAD LOAD_HOW

# sql PORT ARGS...: psql against the server on PORT as sextant.
sql() {
  local port="$1"
  shift
  "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U sextant -d sextant "$@"
}

# elapsed T0 T1: seconds between two `now`s.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# load NAME PORT: loads the events file, COPY first, INSERT batches if COPY
# is refused; records seconds and method. Fails (returns 1) when neither
# loads every row.
load() {
  local name="$1" port="$2" t0 t1 err="$RESULTS/$1-copy.err" count
  sql "$port" -c "$SCHEMA"
  t0=$(now)
  if sql "$port" -c "COPY events (id, payload, position) FROM STDIN" < "$EVENTS_FILE" 2>"$err"; then
    t1=$(now)
    LOAD[$name]=$(elapsed "$t0" "$t1")
    LOAD_HOW[$name]="COPY"
  else
    log "$name refused COPY: $(head -c 300 "$err")"
    log "$name: loading with INSERT batches of $BATCH rows instead"
    sql "$port" -c "DROP TABLE events" -c "$SCHEMA"
    make_inserts
    t0=$(now)
    if ! sql "$port" -f "$INSERTS_FILE" >/dev/null 2>"$RESULTS/$name-insert.err"; then
      log "$name: the INSERT load failed: $(tail -n 3 "$RESULTS/$name-insert.err")"
      LOAD_HOW[$name]="failed"
      return 1
    fi
    t1=$(now)
    LOAD[$name]=$(elapsed "$t0" "$t1")
    LOAD_HOW[$name]="INSERT x$BATCH"
  fi
  count=$(sql "$port" -A -t -c "SELECT count(*) FROM events") || count="?"
  if [ "$count" != "$EVENTS" ]; then
    log "$name: loaded $count rows, expected $EVENTS"
    LOAD_HOW[$name]="failed"
    return 1
  fi
  log "$name: loaded $EVENTS rows in ${LOAD[$name]} s (${LOAD_HOW[$name]})"
}

# bench NAME PORT: every workload at every client count.
bench() {
  local name="$1" port="$2" w c jobs out
  for w in $WORKLOADS; do
    for c in $CLIENTS; do
      jobs=$(( c < 4 ? c : 4 ))
      out="$RESULTS/$name-$w-$c.out"
      log "$name: $w, $c clients, ${DURATION}s"
      if "$PGBENCH" -h 127.0.0.1 -p "$port" -U sextant -n -M extended -T "$DURATION" \
          -c "$c" -j "$jobs" -f "$WORK/$w.sql" -D events="$EVENTS" sextant >"$out" 2>&1; then
        TPS[$name,$w,$c]=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out")
        LAT[$name,$w,$c]=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$out")
      else
        log "$name: pgbench failed for $w at $c clients:"
        grep -v '^pgbench: error: client [0-9]* aborted' "$out" | head -n 5 >&2 || true
        TPS[$name,$w,$c]="failed"
        LAT[$name,$w,$c]="-"
      fi
    done
  done
}

# --- PostgreSQL ---------------------------------------------------------------
if [[ " $ONLY " == *" postgres "* ]]; then
  PG_PORT=$(free_port)
  mkdir -p "$PG_DATA"
  if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DATA"; fi
  log "PostgreSQL: initdb and start on port $PG_PORT (fsync on, synchronous_commit on)"
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -l "$PG_DATA/server.log" \
    -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on" start >/dev/null
  "$PSQL" -X -q -h "$PG_DATA" -p "$PG_PORT" -U postgres -d postgres \
    -c "CREATE ROLE sextant LOGIN PASSWORD 'sextant'" -c "CREATE DATABASE sextant OWNER sextant"
  load postgres "$PG_PORT"
  sql "$PG_PORT" -c "ANALYZE events"
  bench postgres "$PG_PORT"
  if [ "${LOAD_HOW[postgres]}" = COPY ] && [[ " $ONLY " == *" sextant "* ]]; then
    # Timed again with INSERT batches, in case Sextant needs them.
    sql "$PG_PORT" -c "DROP TABLE events" -c "$SCHEMA"
    make_inserts
    t0=$(now)
    sql "$PG_PORT" -f "$INSERTS_FILE" >/dev/null
    t1=$(now)
    LOAD[postgres_insert]=$(elapsed "$t0" "$t1")
    log "postgres: loaded $EVENTS rows in ${LOAD[postgres_insert]} s (INSERT x$BATCH)"
  fi
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null
fi

# --- Sextant -----------------------------------------------------------------
if [[ " $ONLY " == *" sextant "* ]]; then
  SX_PORT=$(free_port)
  SX_STORAGE=$(free_ports 12)
  log "Sextant: sextant dev on port $SX_PORT (storage nodes from port $SX_STORAGE)"
  SEXTANT_LOG=warn "$SEXTANT" dev --data "$WORK/sextant" --port "$SX_PORT" \
    --reader-port "$(free_port)" --http-port "$(free_port)" --storage-port "$SX_STORAGE" \
    >"$WORK/sextant.out" 2>"$WORK/sextant.log" &
  SEXTANT_PID=$!
  # Stops sextant dev before it takes the machine's memory; records its peak.
  (
    peak=0
    while kill -0 "$SEXTANT_PID" 2>/dev/null; do
      rss=$(awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$SEXTANT_PID/status" 2>/dev/null || echo 0)
      if [ "${rss:-0}" -gt "$peak" ]; then peak=$rss; echo "$peak" > "$WORK/sextant.rss"; fi
      if [ "${rss:-0}" -gt "$SEXTANT_RSS_MAX_MB" ]; then
        echo "# sextant dev uses ${rss} MiB, over SEXTANT_RSS_MAX_MB=$SEXTANT_RSS_MAX_MB: stopping it" >&2
        kill "$SEXTANT_PID" 2>/dev/null || true
        break
      fi
      sleep 1
    done
  ) &
  WATCHDOG_PID=$!
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$SX_PORT") 2>/dev/null; then break; fi
    if ! kill -0 "$SEXTANT_PID" 2>/dev/null; then
      echo "sextant dev exited:" >&2
      cat "$WORK/sextant.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  if load sextant "$SX_PORT"; then
    log "sextant: peak resident memory after the load $(cat "$WORK/sextant.rss" 2>/dev/null || echo '?') MiB"
    bench sextant "$SX_PORT"
  fi
  log "sextant: peak resident memory $(cat "$WORK/sextant.rss" 2>/dev/null || echo '?') MiB"
  kill "$SEXTANT_PID" 2>/dev/null || true
  wait "$SEXTANT_PID" || true
  SEXTANT_PID=""
  cp "$WORK/sextant.log" "$RESULTS/sextant.log" 2>/dev/null || true
fi

# --- results -------------------------------------------------------------------
exec > >(tee "$RESULTS/summary.txt")
echo
echo "pgbench -M extended, ${DURATION}s per run, $EVENTS events ($(nproc) cores)"
printf '%-12s %7s | %12s %10s | %12s %10s | %9s\n' workload clients "pg tps" "pg ms" "sextant tps" "sextant ms" "sx/pg tps"
for w in $WORKLOADS; do
  for c in $CLIENTS; do
    pt="${TPS[postgres,$w,$c]:--}" pl="${LAT[postgres,$w,$c]:--}"
    st="${TPS[sextant,$w,$c]:--}" sl="${LAT[sextant,$w,$c]:--}"
    printf '%-12s %7s | %12s %10s | %12s %10s | %9s\n' "$w" "$c" "$pt" "$pl" "$st" "$sl" "$(ratio "$st" "$pt")"
  done
done
echo
echo "load of $EVENTS events"
printf '%-10s %14s %10s\n' server method seconds
for name in postgres sextant; do
  if [ -n "${LOAD[$name]:-}" ]; then
    printf '%-10s %14s %10.1f\n' "$name" "${LOAD_HOW[$name]}" "${LOAD[$name]}"
  elif [ -n "${LOAD_HOW[$name]:-}" ]; then
    printf '%-10s %14s %10s\n' "$name" "${LOAD_HOW[$name]}" "-"
  fi
done
if [ -n "${LOAD[postgres_insert]:-}" ]; then
  printf '%-10s %14s %10.1f\n' postgres "INSERT x$BATCH" "${LOAD[postgres_insert]}"
fi
if [ -n "${LOAD[sextant]:-}" ] && [ -n "${LOAD[postgres]:-}" ]; then
  if [ "${LOAD_HOW[sextant]}" = "${LOAD_HOW[postgres]}" ]; then
    echo "sextant/postgres load time (${LOAD_HOW[sextant]}): $(ratio "${LOAD[sextant]}" "${LOAD[postgres]}")"
  elif [ -n "${LOAD[postgres_insert]:-}" ]; then
    echo "sextant/postgres load time (INSERT x$BATCH): $(ratio "${LOAD[sextant]}" "${LOAD[postgres_insert]}")"
  fi
fi

#!/usr/bin/env bash
# The BI query set (issue "BI tools and analytics", Benchmark) on PostgreSQL
# 15 and on a Sextant reader endpoint, on this machine in one run, one server
# at a time so they do not share the two cores.
#
#   benches/bi.sh
#
# For each server:
#   1. PostgreSQL 15 (a throwaway cluster, default settings), or `sextant dev`
#      (release build) loading through its writer port and queried on its
#      reader port (--reader-port), after a wait until the reader has every
#      row;
#   2. the tables
#        events(id bigint primary key, payload jsonb not null,
#               ingested_at timestamptz not null)
#      with expression indexes on (payload->>'site_id') and
#      ((payload->>'temp')::float) and an index on ingested_at, and
#        sites(id text primary key, name text not null, region text not null)
#      with 1,000 sites;
#   3. EVENTS events (~500-byte JSON payloads: site_id, status, temp, device,
#      tags, message; spread evenly over 2024-01-01 00:00 UTC + 24 h; generated
#      deterministically into a file once) loaded with COPY FROM STDIN;
#   4. each query of the set once to warm caches (its output kept, and
#      compared between the servers), then RUNS more times in one psql
#      session with \timing (client-observed time: execution and transfer of
#      the result); the median is the query's time.
# Prints per query the median of each server and the Sextant/PostgreSQL time
# ratio, then the set's total (sum of medians) and its ratio, and whether
# each query's answer is the same on both servers.
#
# The query set ("now" is the end of the data, 2024-01-02 00:00 UTC):
#   site_counts_1h      counts per payload->>'site_id' over the last hour
#   per_minute_1h       per-minute histogram with date_trunc over the last hour
#   status_hourly_24h   hourly histogram of payload->>'status' over 24 h
#   top_statuses        top-5 statuses over all events
#   sites_join_distinct join with sites, count(DISTINCT device) per region
#   temp_percentiles    percentile_cont 0.5/0.95 of (payload->>'temp')::float
#                       per site
#   site_drilldown      one site's latest 50 events through the expression index
#   latest_errors       the latest 20 errors joined to sites
#
# Environment (defaults in brackets):
#   EVENTS [1000000]    events loaded
#   RUNS [5]            timed runs per query (after one warm-up run)
#   QUERIES [all]       which queries to run, by name
#   ONLY ["postgres sextant"]  which servers to run
#   DATA_DIR [/var/tmp/sextant-bi]  where the generated events file and each
#                       run's results (outputs, timings, summary) are kept
#   SEXTANT_RSS_MAX_MB [8192]  stop sextant dev if its resident memory passes this
#   SEXTANT_DEV_BUFFER_POOL [1GiB]  sextant dev's --buffer-pool (each compute
#                       node's page cache), read by sextant dev itself
#   KEEP [0]            1 keeps the work directory (server data)
#   SETTLE [30]         seconds to wait at least after Sextant's load before
#                       timing, and then until sextant dev is idle (under
#                       5% of a core for 3 s in a row, at most IDLE_WAIT
#                       [600] s more): its storage nodes coalesce the loaded
#                       records on the same cores (PostgreSQL gets VACUUM
#                       ANALYZE instead)
#   PG_BIN [/usr/lib/postgresql/15/bin]
#   CARGO_TARGET_DIR [/var/cache/sextant-target]
#   SEXTANT_BIN [the release build]  a sextant binary to run instead of building
# Quick run: EVENTS=100000 RUNS=3 benches/bi.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

EVENTS="${EVENTS:-1000000}"
RUNS="${RUNS:-5}"
ONLY="${ONLY:-postgres sextant}"
DATA_DIR="${DATA_DIR:-/var/tmp/sextant-bi}"
SEXTANT_RSS_MAX_MB="${SEXTANT_RSS_MAX_MB:-8192}"
KEEP="${KEEP:-0}"
SETTLE="${SETTLE:-30}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sextant-target}"

# --- the query set -------------------------------------------------------------
ALL_QUERIES="site_counts_1h per_minute_1h status_hourly_24h top_statuses sites_join_distinct temp_percentiles site_drilldown latest_errors"
QUERIES="${QUERIES:-$ALL_QUERIES}"
declare -A Q
Q[site_counts_1h]="SELECT payload->>'site_id' AS site, count(*) AS n FROM events
  WHERE ingested_at >= timestamptz '2024-01-02 00:00:00+00' - interval '1 hour'
  GROUP BY 1 ORDER BY 1"
Q[per_minute_1h]="SELECT date_trunc('minute', ingested_at) AS minute, count(*) AS n FROM events
  WHERE ingested_at >= timestamptz '2024-01-02 00:00:00+00' - interval '1 hour'
  GROUP BY 1 ORDER BY 1"
Q[status_hourly_24h]="SELECT date_trunc('hour', ingested_at) AS hour, payload->>'status' AS status, count(*) AS n
  FROM events
  WHERE ingested_at >= timestamptz '2024-01-02 00:00:00+00' - interval '24 hours'
  GROUP BY 1, 2 ORDER BY 1, 2"
Q[top_statuses]="SELECT payload->>'status' AS status, count(*) AS n FROM events
  GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
Q[sites_join_distinct]="SELECT s.region, count(DISTINCT e.payload->'device'->>'id') AS devices, count(*) AS n
  FROM events e JOIN sites s ON s.id = e.payload->>'site_id'
  GROUP BY s.region ORDER BY s.region"
Q[temp_percentiles]="SELECT payload->>'site_id' AS site,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY (payload->>'temp')::float) AS p50,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY (payload->>'temp')::float) AS p95
  FROM events GROUP BY 1 ORDER BY 1"
Q[site_drilldown]="SELECT id, ingested_at, payload->>'status' AS status, (payload->>'temp')::float AS temp
  FROM events WHERE payload->>'site_id' = '42'
  ORDER BY ingested_at DESC, id DESC LIMIT 50"
Q[latest_errors]="SELECT e.id, e.ingested_at, s.name, s.region, e.payload->>'message' AS message
  FROM events e JOIN sites s ON s.id = e.payload->>'site_id'
  WHERE e.payload->>'status' = 'error'
  ORDER BY e.ingested_at DESC, e.id DESC LIMIT 20"
for q in $QUERIES; do
  [ -n "${Q[$q]:-}" ] || { echo "unknown query $q (known: $ALL_QUERIES)" >&2; exit 1; }
done

SCHEMA="CREATE TABLE events (id bigint PRIMARY KEY, payload jsonb NOT NULL, ingested_at timestamptz NOT NULL);
CREATE INDEX events_site ON events ((payload->>'site_id'));
CREATE INDEX events_temp ON events (((payload->>'temp')::float));
CREATE INDEX events_time ON events (ingested_at);
CREATE TABLE sites (id text PRIMARY KEY, name text NOT NULL, region text NOT NULL);
INSERT INTO sites SELECT g::text, 'site ' || g, (ARRAY['eu', 'us', 'ap', 'sa'])[g % 4 + 1]
  FROM generate_series(0, 999) g;"

# --- prerequisites ----------------------------------------------------------
if [ ! -x "$PG_BIN/postgres" ] || ! command -v psql >/dev/null; then
  log "installing PostgreSQL 15"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
case "$("$PG_BIN/postgres" --version)" in
  *" 15."*) ;;
  *) echo "$PG_BIN/postgres is not PostgreSQL 15; set PG_BIN" >&2; exit 1 ;;
esac
PSQL="$PG_BIN/psql"

SEXTANT="${SEXTANT_BIN:-$CARGO_TARGET_DIR/release/sextant}"
if [[ " $ONLY " == *" sextant "* ]] && [ -z "${SEXTANT_BIN:-}" ]; then
  log "building sextant (release)"
  cargo build --release --locked --quiet -p sextant
fi

WORK="$(mktemp -d /var/tmp/sextant-bi-run.XXXXXX)"
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
# COPY text format: id, payload, ingested_at. Everything derives from the row
# number, so the file is the same on every machine. Statuses: 3% "error",
# 7% "warn", the rest "ok"; 1,000 sites; 50,000 devices.
EVENTS_FILE="$DATA_DIR/events-$EVENTS.tsv"
if [ ! -s "$EVENTS_FILE" ]; then
  log "generating $EVENTS events into $EVENTS_FILE"
  mkdir -p "$DATA_DIR"
  awk -v n="$EVENTS" 'BEGIN {
    pad = "";
    for (k = 0; k < 25; k++) pad = pad "lorem ipsum ";
    for (i = 1; i <= n; i++) {
      site = (i * 7919) % 1000;
      temp = ((i * 104729) % 6001 - 2000) / 100;
      r = (i * 48271) % 100;
      status = r < 3 ? "error" : (r < 10 ? "warn" : "ok");
      us = int((i - 1) * 86400000000 / n);
      s = int(us / 1000000);
      ts = sprintf("2024-01-01 %02d:%02d:%02d.%06d+00", int(s / 3600), int(s / 60) % 60, s % 60, us % 1000000);
      printf "%d\t{\"site_id\": \"%d\", \"status\": \"%s\", \"temp\": %.2f, \"humidity\": %d, \"device\": {\"id\": \"dev-%06d\", \"fw\": \"1.%d.%d\", \"battery\": %d}, \"tags\": [\"t%d\", \"t%d\"], \"seq\": %d, \"message\": \"%s at step %d\", \"note\": \"%s\"}\t%s\n",
        i, site, status, temp, (i * 31) % 100, i % 50000, i % 7, i % 13, (i * 17) % 100, i % 11, i % 29, i, status, i % 97, pad, ts;
    }
  }' > "$EVENTS_FILE.tmp"
  mv "$EVENTS_FILE.tmp" "$EVENTS_FILE"
fi
chmod 644 "$EVENTS_FILE"
log "events file: $EVENTS_FILE ($(wc -c < "$EVENTS_FILE") bytes, $(head -n 1 "$EVENTS_FILE" | cut -f2 | wc -c) bytes per payload)"

export PGPASSWORD=sextant
# Both servers over plain TCP, like with like: the throwaway PostgreSQL has
# no certificate, while sextant dev's endpoints offer TLS and psql/pgbench
# would take it by default. benches/proxy.sh measures what TLS costs.
export PGSSLMODE=disable
declare -A MEDIAN LOAD

# sql PORT ARGS...: psql against the server on PORT as sextant.
sql() {
  local port="$1"
  shift
  "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U sextant -d sextant "$@"
}

# wait_idle PID MAX: until PID uses under 5% of a core for 3 s in a row
# (CPU ticks from /proc), or MAX seconds.
wait_idle() {
  local pid="$1" max="$2" quiet=0 waited=0 before after hz
  hz=$(getconf CLK_TCK)
  cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
  before=$(cpu_ticks "$pid")
  while [ "$quiet" -lt 3 ] && [ "$waited" -lt "$max" ]; do
    sleep 1
    waited=$((waited + 1))
    after=$(cpu_ticks "$pid")
    if [ $(((after - before) * 100)) -lt $((hz * 5)) ]; then quiet=$((quiet + 1)); else quiet=0; fi
    before=$after
  done
  log "sextant: idle after ${waited} s more"
}

# load NAME PORT: the schema, then the events file with COPY.
load() {
  local name="$1" port="$2" t0 t1 count
  sql "$port" -c "$SCHEMA" >/dev/null
  t0=$(now)
  sql "$port" -c "COPY events (id, payload, ingested_at) FROM STDIN" < "$EVENTS_FILE"
  t1=$(now)
  LOAD[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  count=$(sql "$port" -At -c "SELECT count(*) FROM events")
  [ "$count" = "$EVENTS" ] || { echo "$name: loaded $count rows, expected $EVENTS" >&2; exit 1; }
  log "$name: loaded $EVENTS events in ${LOAD[$name]} s"
}

# run_queries NAME PORT: each query once (output kept), then RUNS timed runs.
run_queries() {
  local name="$1" port="$2" q times i
  for q in $QUERIES; do
    sql "$port" -A -c "${Q[$q]}" > "$RESULTS/$name-$q.out"
    {
      echo '\timing on'
      echo '\o /dev/null'
      for ((i = 0; i < RUNS; i++)); do printf '%s;\n' "${Q[$q]}"; done
    } > "$WORK/$q.sql"
    sql "$port" -f "$WORK/$q.sql" > "$RESULTS/$name-$q.timing"
    times=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$RESULTS/$name-$q.timing")
    [ "$(echo "$times" | wc -l)" = "$RUNS" ] || { echo "$name $q: expected $RUNS timings" >&2; exit 1; }
    MEDIAN[$name,$q]=$(echo "$times" | sort -g | awk '{ t[NR] = $1 } END { if (NR % 2) print t[(NR + 1) / 2]; else printf "%.3f\n", (t[NR / 2] + t[NR / 2 + 1]) / 2 }')
    log "$name $q: median ${MEDIAN[$name,$q]} ms of $(echo $times)"
  done
}

# --- PostgreSQL ---------------------------------------------------------------
if [[ " $ONLY " == *" postgres "* ]]; then
  PG_PORT=$(free_port)
  mkdir -p "$PG_DATA"
  if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DATA"; fi
  log "PostgreSQL: initdb and start on port $PG_PORT"
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -l "$PG_DATA/server.log" \
    -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c TimeZone=UTC" start >/dev/null
  "$PSQL" -X -q -h "$PG_DATA" -p "$PG_PORT" -U postgres -d postgres \
    -c "CREATE ROLE sextant LOGIN PASSWORD 'sextant'" -c "CREATE DATABASE sextant OWNER sextant"
  load postgres "$PG_PORT"
  sql "$PG_PORT" -c "VACUUM ANALYZE events" -c "VACUUM ANALYZE sites"
  run_queries postgres "$PG_PORT"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null
fi

# --- Sextant -----------------------------------------------------------------
if [[ " $ONLY " == *" sextant "* ]]; then
  W_PORT=$(free_port)
  R_PORT=$(free_port)
  log "Sextant: sextant dev, writer on port $W_PORT, reader on port $R_PORT"
  SEXTANT_LOG=warn "$SEXTANT" dev --data "$WORK/sextant" --port "$W_PORT" --reader-port "$R_PORT" \
    --http-port "$(free_port)" --storage-port "$(free_ports 12)" \
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
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$R_PORT") 2>/dev/null && break
    if ! kill -0 "$SEXTANT_PID" 2>/dev/null; then
      echo "sextant dev exited:" >&2
      cat "$WORK/sextant.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  load sextant "$W_PORT"
  log "sextant: waiting for the reader to have every event"
  until [ "$(sql "$R_PORT" -At -c "SELECT count(*) FROM events" 2>/dev/null)" = "$EVENTS" ]; do
    sleep 0.5
  done
  log "sextant: letting the storage nodes settle for ${SETTLE} s, then until idle"
  sleep "$SETTLE"
  wait_idle "$SEXTANT_PID" "${IDLE_WAIT:-600}"
  run_queries sextant "$R_PORT"
  log "sextant: peak resident memory $(cat "$WORK/sextant.rss" 2>/dev/null || echo '?') MiB"
  kill "$SEXTANT_PID" 2>/dev/null || true
  wait "$SEXTANT_PID" || true
  SEXTANT_PID=""
fi

# --- results -------------------------------------------------------------------
exec > >(tee "$RESULTS/summary.txt")
echo
echo "BI query set over $EVENTS events, median of $RUNS runs after one warm-up ($(nproc) cores)"
printf '%-20s | %12s | %12s | %9s | %s\n' query "pg ms" "sextant ms" "sx/pg" "same answer"
pg_total=0 sx_total=0
for q in $QUERIES; do
  p="${MEDIAN[postgres,$q]:--}" s="${MEDIAN[sextant,$q]:--}" same="-"
  if [ -f "$RESULTS/postgres-$q.out" ] && [ -f "$RESULTS/sextant-$q.out" ]; then
    if cmp -s "$RESULTS/postgres-$q.out" "$RESULTS/sextant-$q.out"; then same=yes; else same=NO; fi
  fi
  [[ "$p" =~ ^[0-9.]+$ ]] && pg_total=$(awk -v a="$pg_total" -v b="$p" 'BEGIN { print a + b }')
  [[ "$s" =~ ^[0-9.]+$ ]] && sx_total=$(awk -v a="$sx_total" -v b="$s" 'BEGIN { print a + b }')
  printf '%-20s | %12s | %12s | %9s | %s\n' "$q" "$p" "$s" "$(ratio "$s" "$p")" "$same"
done
printf '%-20s | %12s | %12s | %9s |\n' "set (sum)" "$pg_total" "$sx_total" "$(ratio "$sx_total" "$pg_total")"
echo
for name in postgres sextant; do
  [ -n "${LOAD[$name]:-}" ] && echo "$name: COPY of $EVENTS events took ${LOAD[$name]} s"
done
echo "outputs and timings: $RESULTS"

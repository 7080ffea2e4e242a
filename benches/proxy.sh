#!/usr/bin/env bash
# The proxy's cost and its failover blackout, on this machine.
#
# One run:
#   1. a Sextant cluster of real processes on loopback: six `sextant storage`
#      nodes (three AZs), a writer and a reader `sextant compute`, and
#      `sextant proxy` in front with TLS (a self-signed pair made with
#      openssl); a PostgreSQL 15 server (throwaway, default durability) with
#      a second `sextant proxy` in front of it;
#   2. the table kv(id int8 primary key, v int8 not null) with ROWS rows on
#      each;
#   3. pgbench -n -M extended, DURATION seconds per run, at each of CLIENTS:
#        lookup  SELECT v FROM kv WHERE id = :id
#        upsert  INSERT INTO kv VALUES (:id, :v) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v
#      directly against the server (plain TCP) and through the proxy (TLS,
#      sslmode=require), and prints tps, mean latency and proxy/direct;
#   4. FAILOVERS writer failovers on the Sextant cluster: a loop writes
#      through the proxy (one psql connection per write, so new connections
#      are held too), the current writer is SIGKILLed, and the blackout is
#      the time from the kill to the first write acknowledged after it; the
#      killed node then comes back as a reader of the new writer, and once
#      the proxy sees it healthy the next round kills the new writer. Prints
#      every blackout, p50 and max, and the proxy's own
#      proxy_failover_blackout_seconds (first missed health check to new
#      writer).
#
#   benches/proxy.sh
#
# Environment (defaults in brackets):
#   ROWS [100000]        rows in kv
#   DURATION [10]        seconds per pgbench run
#   CLIENTS ["1 8"]      client counts
#   FAILOVERS [10]       writer failovers to time
#   ONLY ["sextant postgres"]  which servers the pgbench part runs against
#   PG_BIN [/usr/lib/postgresql/15/bin]
#   CARGO_TARGET_DIR [/var/cache/sextant-target]
#   KEEP [0]             1 keeps the work directory (logs, data)
# Quick run: ROWS=10000 DURATION=3 FAILOVERS=3 benches/proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

ROWS="${ROWS:-100000}"
DURATION="${DURATION:-10}"
CLIENTS="${CLIENTS:-1 8}"
FAILOVERS="${FAILOVERS:-10}"
ONLY="${ONLY:-sextant postgres}"
KEEP="${KEEP:-0}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/sextant-target}"

if [ ! -x "$PG_BIN/postgres" ] || [ ! -x "$PG_BIN/pgbench" ] || ! command -v psql >/dev/null || ! command -v openssl >/dev/null; then
  log "installing PostgreSQL 15, pgbench and openssl"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib openssl
fi
PSQL="$PG_BIN/psql"
PGBENCH="$PG_BIN/pgbench"

log "building sextant (release)"
cargo build --release --locked --quiet -p sextant
SEXTANT="$CARGO_TARGET_DIR/release/sextant"

WORK="$(mktemp -d /var/tmp/sextant-proxy-bench.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
PG_DATA="$WORK/postgres"
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${NODE_PID[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true
  fi
  if [ "$KEEP" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# http GET|POST ADDR PATH: the body.
http() {
  local method=$1 addr=$2 path=$3
  exec 4<>"/dev/tcp/${addr%:*}/${addr##*:}"
  printf '%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' "$method" "$path" "$addr" >&4
  sed '1,/^\r$/d' <&4
  exec 4<&-
}

export PGPASSWORD=sextant
sql() { # sql PORT SSLMODE ARGS...
  local port=$1 mode=$2; shift 2
  PGSSLMODE=$mode "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U sextant -d sextant "$@"
}

# --- TLS pair ------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# --- the Sextant cluster -------------------------------------------------------
CLUSTER="$WORK/cluster.toml"
echo 'segment_size = "64MiB"' > "$CLUSTER"
for i in 1 2 3 4 5 6; do
  port=$(free_port); az="az-$(( (i - 1) / 2 ))"
  printf '[[storage]]\nid = %d\naddr = "127.0.0.1:%d"\naz = "%s"\n' "$i" "$port" "$az" >> "$CLUSTER"
  SEXTANT_LOG=warn "$SEXTANT" storage --listen "127.0.0.1:$port" --az "$az" --node-id "$i" \
    --data "$WORK/storage-$i" > "$WORK/storage-$i.log" 2>&1 &
  PIDS+=($!)
  wait_port "$port" "storage node $i"
done
declare -A NODE_PORT NODE_ADMIN NODE_REDO NODE_PID
for n in node-a node-b; do
  NODE_PORT[$n]=$(free_port); NODE_ADMIN[$n]="127.0.0.1:$(free_port)"; NODE_REDO[$n]="127.0.0.1:$(free_port)"
done
printf '[[compute]]\nid = "node-a"\naddr = "127.0.0.1:%d"\nadmin = "%s"\nrole = "writer"\nredo = "%s"\n' \
  "${NODE_PORT[node-a]}" "${NODE_ADMIN[node-a]}" "${NODE_REDO[node-a]}" >> "$CLUSTER"
printf '[[compute]]\nid = "node-b"\naddr = "127.0.0.1:%d"\nadmin = "%s"\nrole = "reader"\nredo = "%s"\n' \
  "${NODE_PORT[node-b]}" "${NODE_ADMIN[node-b]}" "${NODE_REDO[node-b]}" >> "$CLUSTER"

# start_compute NODE ROLE [WRITER_REDO]
start_compute() {
  local n=$1 role=$2 extra=()
  [ $# -ge 3 ] && extra=(--writer-redo "$3")
  SEXTANT_LOG=warn "$SEXTANT" compute --role "$role" --listen "127.0.0.1:${NODE_PORT[$n]}" \
    --admin "${NODE_ADMIN[$n]}" --redo "${NODE_REDO[$n]}" --name "$n" --cluster "$CLUSTER" "${extra[@]}" \
    >> "$WORK/$n.log" 2>&1 &
  NODE_PID[$n]=$!
  wait_port "${NODE_PORT[$n]}" "compute $n"
}
start_compute node-a writer
sql "${NODE_PORT[node-a]}" disable -c "CREATE TABLE kv (id int8 PRIMARY KEY, v int8 NOT NULL)"
log "loading $ROWS rows into Sextant"
seq 1 "$ROWS" | awk '{ print $1 "\t" $1 }' | sql "${NODE_PORT[node-a]}" disable -c "COPY kv FROM STDIN"
start_compute node-b reader

SX_PROXY=$(free_port); SX_PROXY_R=$(free_port); SX_METRICS="127.0.0.1:$(free_port)"
SEXTANT_LOG=info "$SEXTANT" proxy --listen "127.0.0.1:$SX_PROXY" --reader-listen "127.0.0.1:$SX_PROXY_R" \
  --cluster "$CLUSTER" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" --metrics "$SX_METRICS" \
  --health-interval 100ms --health-timeout 300ms > "$WORK/proxy-sextant.log" 2>&1 &
PIDS+=($!)
wait_port "$SX_PROXY" "sextant proxy"

# --- PostgreSQL ------------------------------------------------------------------
PG_PORT=$(free_port)
echo sextant > "$WORK/pw"
mkdir -p "$PG_DATA"
if [ "$(id -u)" = 0 ]; then chown postgres "$WORK/pw" "$PG_DATA"; chmod 700 "$PG_DATA"; fi
as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U sextant -A scram-sha-256 --pwfile="$WORK/pw" -E UTF8 --locale=C >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/postgres.log" \
  -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DATA -c max_connections=200" start >/dev/null
PGPASSWORD=sextant "$PSQL" -X -q -h 127.0.0.1 -p "$PG_PORT" -U sextant -d postgres -c "CREATE DATABASE sextant"
sql "$PG_PORT" disable -c "CREATE TABLE kv (id int8 PRIMARY KEY, v int8 NOT NULL)"
seq 1 "$ROWS" | awk '{ print $1 "\t" $1 }' | sql "$PG_PORT" disable -c "COPY kv FROM STDIN"
printf '[[compute]]\nid = "postgres"\naddr = "127.0.0.1:%d"\nrole = "writer"\n' "$PG_PORT" > "$WORK/pg-cluster.toml"
PG_PROXY=$(free_port); PG_PROXY_R=$(free_port)
SEXTANT_LOG=warn "$SEXTANT" proxy --listen "127.0.0.1:$PG_PROXY" --reader-listen "127.0.0.1:$PG_PROXY_R" \
  --cluster "$WORK/pg-cluster.toml" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" \
  > "$WORK/proxy-postgres.log" 2>&1 &
PIDS+=($!)
wait_port "$PG_PROXY" "postgres proxy"

# --- pgbench: direct vs through the proxy -------------------------------------------
cat > "$WORK/lookup.sql" <<EOF
\\set id random(1, $ROWS)
SELECT v FROM kv WHERE id = :id;
EOF
cat > "$WORK/upsert.sql" <<EOF
\\set id random(1, $ROWS)
\\set v random(1, 1000000000)
INSERT INTO kv VALUES (:id, :v) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;
EOF

declare -A TPS LAT
bench() { # bench KEY PORT SSLMODE WORKLOAD CLIENTS
  local key=$1 port=$2 mode=$3 w=$4 c=$5 out
  out=$(PGSSLMODE=$mode "$PGBENCH" -n -M extended -f "$WORK/$w.sql" -c "$c" -j "$c" -T "$DURATION" \
    -h 127.0.0.1 -p "$port" -U sextant sextant 2>&1) || { echo "$out" >&2; exit 1; }
  TPS[$key]=$(echo "$out" | awk '/^tps =/ { printf "%.0f", $3 }')
  LAT[$key]=$(echo "$out" | awk '/^latency average/ { print $4 }')
}

printf '\n%-8s %-7s %-7s %12s %10s %12s %10s %8s\n' server workload clients direct_tps lat_ms proxy_tls_tps lat_ms ratio
for server in $ONLY; do
  case $server in
    sextant) direct=${NODE_PORT[node-a]}; proxied=$SX_PROXY ;;
    postgres) direct=$PG_PORT; proxied=$PG_PROXY ;;
    *) echo "unknown server $server" >&2; exit 1 ;;
  esac
  for w in lookup upsert; do
    for c in $CLIENTS; do
      bench "$server-$w-$c-direct" "$direct" disable "$w" "$c"
      bench "$server-$w-$c-proxy" "$proxied" require "$w" "$c"
      d=${TPS[$server-$w-$c-direct]}; p=${TPS[$server-$w-$c-proxy]}
      printf '%-8s %-7s %-7s %12s %10s %12s %10s %8s\n' "$server" "$w" "$c" "$d" "${LAT[$server-$w-$c-direct]}" \
        "$p" "${LAT[$server-$w-$c-proxy]}" "$(awk -v a="$p" -v b="$d" 'BEGIN { printf "%.2f", a / b }')"
    done
  done
done

# --- failover blackout --------------------------------------------------------------
now_ms() { date +%s%3N; }
writer=node-a; reader=node-b
BLACKOUTS=()
for round in $(seq 1 "$FAILOVERS"); do
  # The reader must be caught up and seen healthy by the proxy.
  for i in $(seq 1 300); do
    if http GET "${NODE_ADMIN[$reader]}" /health | grep -q '"role":"reader"'; then break; fi
    sleep 0.1
  done
  sleep 1
  kill -9 "${NODE_PID[$writer]}"; wait "${NODE_PID[$writer]}" 2>/dev/null || true
  killed=$(now_ms)
  n=0
  until sql "$SX_PROXY" require -c "INSERT INTO kv VALUES (-1, $round) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v" 2>/dev/null; do
    n=$((n + 1))
    [ "$n" -lt 600 ] || { echo "no write through the proxy 60 s after the kill" >&2; tail -20 "$WORK/proxy-sextant.log" >&2; exit 1; }
    sleep 0.01
  done
  ms=$(( $(now_ms) - killed ))
  BLACKOUTS+=("$ms")
  log "failover $round: $writer killed, $reader took over, first write after ${ms} ms"
  # The old writer comes back as a reader of the new one.
  start_compute "$writer" reader "${NODE_REDO[$reader]}"
  tmp=$writer; writer=$reader; reader=$tmp
done
sorted=$(printf '%s\n' "${BLACKOUTS[@]}" | sort -n)
p50=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
max=$(echo "$sorted" | tail -1)
echo
echo "failover blackout (kill to first acknowledged write through the proxy), $FAILOVERS failovers:"
echo "  each (ms): ${BLACKOUTS[*]}"
echo "  p50 ${p50} ms, max ${max} ms"
echo "  the proxy's own count (first missed check to new writer):"
http GET "$SX_METRICS" /metrics | grep -E '^proxy_failover_blackout_seconds_(sum|count)|^proxy_failovers_total' | sed 's/^/    /'

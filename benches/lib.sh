# Helpers the benchmark scripts share; sourced by benches/*.sh after they
# cd to the repository root.

# log MESSAGE...: a progress line on stderr.
log() { printf '# %s\n' "$*" >&2; }

# as_pg COMMAND...: runs a PostgreSQL server command as the postgres user
# when we are root (initdb and postgres refuse to run as root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Ports are drawn from 10000-31999, below Linux's ephemeral range
# (32768-60999): a port there may be held by an outgoing connection, which
# no listener check sees and which makes a later bind fail.
PORT_LOW=10000
PORT_SPAN=22000

# free_port: a loopback port nothing listens on.
free_port() {
  local p
  while :; do
    p=$((PORT_LOW + RANDOM % PORT_SPAN))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

# free_ports N: the first of N consecutive loopback ports nothing listens on
# (sextant dev's six storage nodes take --storage-port and the eleven ports
# after it).
free_ports() {
  local n=$1 p i
  while :; do
    p=$((PORT_LOW + RANDOM % (PORT_SPAN - n)))
    for ((i = 0; i < n; i++)); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$((p + i))") 2>/dev/null; then continue 2; fi
    done
    echo "$p"
    return
  done
}

# wait_port PORT [WHAT]: waits up to 60 s for something to listen on PORT.
wait_port() {
  local port=$1 what=${2:-something} i
  for i in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$what never listened on port $port" >&2
  return 1
}

# now: seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }

# ratio A B: A / B to two decimals, or "-" when either is not a number.
ratio() {
  if [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]]; then
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'
  else
    echo "-"
  fi
}

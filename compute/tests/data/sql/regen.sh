#!/usr/bin/env bash
# Regenerates the *.expected files beside this script: runs every case of
# every *.sql file against a real PostgreSQL 15 and records what it answers.
# compute/tests/sql_pg.rs runs the same cases against Sextant and compares;
# it needs no PostgreSQL. The formats are described in
# compute/tests/sql_pg/cases.rs.
#
# Usage: compute/tests/data/sql/regen.sh
#
# Starts a throwaway cluster in a temporary directory (initdb and pg_ctl run
# as the postgres user when this runs as root), with database `sextant` owned
# by user `sextant` (password `sextant`, SCRAM over TCP on 127.0.0.1), and
# stops it on exit. The recording itself is the ignored test
# `regenerate_expected_from_postgresql` in sql_pg.rs, so both sides use the
# same client and the same rendering. Before each case it drops and
# recreates the public schema, and each case runs on its own connection.
#
# PG_BIN picks the server's bin directory (default /usr/lib/postgresql/15/bin,
# from Debian's postgresql-15 package). CARGO_TARGET_DIR is honoured.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
pg_bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
if [ ! -x "$pg_bin/initdb" ]; then
    echo "no PostgreSQL 15 server in $pg_bin; apt-get install postgresql-15 or set PG_BIN" >&2
    exit 1
fi
case "$("$pg_bin/postgres" --version)" in
    *" 15."*) ;;
    *) echo "$pg_bin/postgres is not PostgreSQL 15: $("$pg_bin/postgres" --version)" >&2; exit 1 ;;
esac

tmp="$(mktemp -d /tmp/sextant-sql-pg.XXXXXX)"
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
if [ "$(id -u)" = 0 ]; then
    chown postgres "$tmp"
fi
cleanup() {
    as_pg "$pg_bin/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# The C locale makes text compare bytewise, as Sextant's does; messages stay
# English; the server's time zone is UTC, as Sextant's is.
as_pg "$pg_bin/initdb" -D "$tmp/data" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
port=$((20000 + RANDOM % 20000))
as_pg "$pg_bin/pg_ctl" -D "$tmp/data" -w -l "$tmp/server.log" \
    -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c timezone=UTC -c lc_messages=C -c log_timezone=UTC" \
    start >/dev/null

psql=("$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U postgres -d postgres)
"${psql[@]}" -c "CREATE ROLE sextant LOGIN PASSWORD 'sextant'"
"${psql[@]}" -c "CREATE DATABASE sextant OWNER sextant"

cd "$repo"
SQL_PG_REGEN_ADDR="127.0.0.1:$port" cargo test -p sextant-compute --test sql_pg -- \
    --ignored --exact regenerate_expected_from_postgresql --nocapture

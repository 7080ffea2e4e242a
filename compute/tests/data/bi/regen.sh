#!/usr/bin/env bash
# Regenerates PostgreSQL's recorded answers for tests/bi_clients.rs: runs the
# same client programs the test runs (sqlalchemy_client.py with SQLAlchemy,
# psycopg2, psycopg 3 and pandas; JdbcClient.java with pgjdbc) against a
# throwaway PostgreSQL holding schema.sql, and writes their outputs to
# sqlalchemy.out and jdbc.out.
#
# Usage: compute/tests/data/bi/regen.sh
#
# Needs PostgreSQL's server binaries (Debian: postgresql), Java 17 and
# pgjdbc (Debian: libpostgresql-jdbc-java), and python3 with venv and pip
# (the Python packages are installed from PyPI, pinned by requirements.txt,
# into BI_VENV, default a fresh venv in the work directory). PGBIN picks the
# server binaries' directory, default the newest /usr/lib/postgresql/*/bin.
#
# The cluster mirrors `sextant dev`: the superuser and the only database are
# `sextant`, encoding UTF8, locale C.UTF-8, time zone UTC, listening on
# loopback TCP (the clients connect like they connect to Sextant).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
JAR="${PGJDBC_JAR:-/usr/share/java/postgresql.jar}"
if [ ! -x "$PGBIN/initdb" ]; then
    echo "regen.sh: no PostgreSQL server binaries (set PGBIN)" >&2
    exit 1
fi
if [ ! -f "$JAR" ]; then
    echo "regen.sh: no pgjdbc at $JAR (apt-get install libpostgresql-jdbc-java)" >&2
    exit 1
fi

work="$(mktemp -d /tmp/sextant-bi-pg.XXXXXX)"
run_as=()
if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root.
    chown postgres "$work"
    run_as=(runuser -u postgres --)
fi
cleanup() {
    "${run_as[@]}" "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"${run_as[@]}" "$PGBIN/initdb" -D "$work/data" -A trust -U sextant -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$work/initdb.log" 2>&1
"${run_as[@]}" "$PGBIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
    -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c TimeZone=UTC" \
    start >/dev/null

export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=sextant
psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off)
"${psql[@]}" -d postgres -c 'CREATE DATABASE sextant'
"${psql[@]}" -d sextant -f "$here/schema.sql"

venv="${BI_VENV:-$work/venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r "$here/requirements.txt"

(cd "$here" && "$venv/bin/python" sqlalchemy_client.py 127.0.0.1 "$port") >"$here/sqlalchemy.out"
(cd "$here" && java -cp "$JAR" JdbcClient.java 127.0.0.1 "$port") >"$here/jdbc.out"

version="$("${psql[@]}" -d sextant -At -c 'SHOW server_version')"
echo "$version" >"$here/VERSION"
echo "regen.sh: outputs of PostgreSQL $version written to $here"

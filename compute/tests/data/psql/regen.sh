#!/usr/bin/env bash
# Regenerates the expected psql outputs: runs each meta-command of
# commands.txt with psql against a real PostgreSQL holding schema.sql,
# and records psql's output in unaligned mode (-A, so that a cell's width
# does not shift the whole table) (<name>.out) and the catalog queries psql sent
# (<name>.sql, from the server's log_statement = all). It also records the
# queries psql's tab completion sends for table names (tab_complete.sql,
# captured by typing into psql under tmux) and their outputs
# (tab_complete_<n>.out). tests/psql_meta.rs runs the same commands and
# queries against Sextant and compares.
#
# Usage: compute/tests/data/psql/regen.sh
#
# Needs PostgreSQL's server binaries and psql (Debian: apt-get install
# postgresql), and tmux to capture tab completion (without tmux the saved
# tab_complete.sql is kept and only its outputs are regenerated). PGBIN
# picks the binaries' directory, default the newest
# /usr/lib/postgresql/*/bin.
#
# The cluster mirrors Sextant's single database: the bootstrap superuser is
# `sextant`, the only database is `sextant` (the initdb ones are dropped),
# with encoding UTF8 and locale C.UTF-8 (code-point order, which is how
# Sextant compares text).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [ ! -x "$PGBIN/initdb" ]; then
    echo "regen.sh: no PostgreSQL server binaries (set PGBIN)" >&2
    exit 1
fi

work="$(mktemp -d /tmp/sextant-psql-pg.XXXXXX)"
run_as=()
if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root.
    chown postgres "$work"
    run_as=(runuser -u postgres --)
fi
session="sextant-psql-regen-$$"
cleanup() {
    tmux kill-session -t "$session" >/dev/null 2>&1 || true
    "${run_as[@]}" "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"${run_as[@]}" "$PGBIN/initdb" -D "$work/data" -A trust -U sextant -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$work/initdb.log" 2>&1
"${run_as[@]}" "$PGBIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
    -o "-k $work -c listen_addresses= -c fsync=off -c TimeZone=UTC -c log_statement=all -c log_line_prefix=" \
    start >/dev/null

export PGHOST="$work" PGUSER=sextant PGDATABASE=sextant
psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off)
"${psql[@]}" -d postgres -c 'CREATE DATABASE sextant'
"${psql[@]}" -d postgres -c 'ALTER DATABASE template1 IS_TEMPLATE false' -c 'DROP DATABASE template1'
"${psql[@]}" -c 'ALTER DATABASE template0 IS_TEMPLATE false' -c 'DROP DATABASE template0' \
    -c 'DROP DATABASE postgres'
"${psql[@]}" -f "$here/schema.sql"

log_offset() { stat -c %s "$work/server.log"; }

# The statements logged since byte $1, one per paragraph.
statements_since() {
    tail -c +"$(($1 + 1))" "$work/server.log" \
        | sed -n -e '/^LOG:  statement: /{s///;s/^/\n/;p;d;}' -e '/^LOG:  /d' -e 'p' \
        | sed -e '1{/^$/d}'
}

# A file name for a meta-command: `\d+ events` is `d+_events`.
slug() { printf '%s' "$1" | sed -e 's/^\\//' -e 's/ /_/g'; }

rm -f "$here"/*.out "$here"/*.sql.log
grep -v -e '^#' -e '^$' "$here/commands.txt" | while IFS= read -r command; do
    name="$(slug "$command")"
    before="$(log_offset)"
    "${psql[@]}" -A -c "$command" >"$here/$name.out"
    sleep 0.2
    statements_since "$before" >"$here/$name.sql"
done

if command -v tmux >/dev/null; then
    before="$(log_offset)"
    tmux new-session -d -s "$session" -x 200 -y 50 \
        "env PGHOST=$work PGUSER=sextant PGDATABASE=sextant $PGBIN/psql -X"
    sleep 1
    # Completing a table after FROM, after \d, and after INSERT INTO.
    tmux send-keys -t "$session" "select * from ev" Tab Tab
    sleep 1
    tmux send-keys -t "$session" C-u "\\d ev" Tab
    sleep 1
    tmux send-keys -t "$session" C-u "insert into " Tab Tab
    sleep 1
    tmux send-keys -t "$session" C-u "\\q" Enter
    sleep 1
    # Each completion query once, in the order psql sent them.
    statements_since "$before" | awk 'BEGIN { RS = ""; ORS = "\n\n" } !seen[$0]++' >"$here/tab_complete.sql"
fi

# The tab completion queries' outputs, one file per query.
awk -v dir="$work" 'BEGIN { RS = ""; n = 0 } { n++; f = dir "/tab_complete_" n ".sql"; print > f; close(f) }' \
    "$here/tab_complete.sql"
for query in "$work"/tab_complete_*.sql; do
    name="$(basename "$query" .sql)"
    "${psql[@]}" -A -f "$query" >"$here/$name.out"
done

version="$("${psql[@]}" -At -c 'SHOW server_version')"
echo "$version" >"$here/VERSION"
echo "regen.sh: outputs of PostgreSQL $version written to $here"

#!/usr/bin/env bash
# Regenerates expected/: runs each query of queries.tsv against a real
# PostgreSQL holding schema.sql and records the rows, every column as text,
# in COPY text format. compute/tests/pg_catalog_pg.rs computes the same
# rows from sql::pg_catalog and compares.
#
# Usage: compute/tests/data/pg_catalog/regen.sh
#
# Needs PostgreSQL's server binaries (Debian: apt-get install postgresql);
# PGBIN picks their directory, default the newest /usr/lib/postgresql/*/bin.
# The cluster mirrors Sextant's single database, as ../psql/regen.sh's
# does: superuser and only database `sextant`, UTF8, locale C.UTF-8.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [ ! -x "$PGBIN/initdb" ]; then
    echo "regen.sh: no PostgreSQL server binaries (set PGBIN)" >&2
    exit 1
fi

work="$(mktemp -d /tmp/sextant-catalog-pg.XXXXXX)"
run_as=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$work"
    run_as=(runuser -u postgres --)
fi
cleanup() {
    "${run_as[@]}" "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"${run_as[@]}" "$PGBIN/initdb" -D "$work/data" -A trust -U sextant -E UTF8 --locale=C.UTF-8 \
    --no-sync >"$work/initdb.log" 2>&1
"${run_as[@]}" "$PGBIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
    -o "-k $work -c listen_addresses= -c fsync=off -c TimeZone=UTC" start >/dev/null

export PGHOST="$work" PGUSER=sextant PGDATABASE=sextant
psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off)
"${psql[@]}" -d postgres -c 'CREATE DATABASE sextant'
"${psql[@]}" -d postgres -c 'ALTER DATABASE template1 IS_TEMPLATE false' -c 'DROP DATABASE template1'
"${psql[@]}" -c 'ALTER DATABASE template0 IS_TEMPLATE false' -c 'DROP DATABASE template0' \
    -c 'DROP DATABASE postgres'
"${psql[@]}" -f "$here/schema.sql"

# One filter condition as SQL.
condition() {
    local cond="$1"
    if [[ "$cond" =~ ^(.+)\ in\ (.+)$ ]]; then
        local values
        values="$(printf '%s' "${BASH_REMATCH[2]}" | sed -e "s/'/''/g" -e "s/|/', '/g")"
        printf "(%s)::text IN ('%s')" "${BASH_REMATCH[1]}" "$values"
    elif [[ "$cond" =~ ^(.+)\ \>\ (.+)$ ]]; then
        printf "%s > %s" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    else
        echo "regen.sh: bad condition: $cond" >&2
        exit 1
    fi
}

rm -rf "$here/expected"
mkdir "$here/expected"
grep -v -e '^#' -e '^$' "$here/queries.tsv" | while IFS=$'\t' read -r name relation columns filter; do
    select=""
    n=0
    # Split the column list on commas outside parentheses.
    while IFS= read -r column; do
        n=$((n + 1))
        select+="${select:+, }(${column})::text AS c$n"
    done < <(printf '%s' "$columns" | awk 'BEGIN { RS = ""; depth = 0; cur = "" }
        { for (i = 1; i <= length($0); i++) { ch = substr($0, i, 1)
            if (ch == "(") depth++; if (ch == ")") depth--
            if (ch == "," && depth == 0) { print cur; cur = "" } else cur = cur ch } }
        END { print cur }' | sed -e 's/^ *//')
    where="true"
    if [ "$filter" != "-" ]; then
        where=""
        while IFS= read -r cond; do
            where+="${where:+ AND }$(condition "$cond")"
        done < <(printf '%s\n' "$filter" | sed -e 's/ and /\n/g')
    fi
    order="$(seq -s, 1 "$n")"
    query="SELECT * FROM (SELECT $select FROM $relation WHERE $where) s ORDER BY $order"
    "${psql[@]}" -c "\\copy ($query) to '$work/$name.tsv'"
    cp "$work/$name.tsv" "$here/expected/$name.tsv"
done

"${psql[@]}" -At -c 'SHOW server_version' >"$here/expected/VERSION"
echo "regen.sh: $(ls "$here/expected" | wc -l) files written to $here/expected"

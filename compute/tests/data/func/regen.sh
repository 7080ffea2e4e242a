#!/usr/bin/env bash
# Regenerates expected.tsv: runs every case in cases.tsv through a real
# PostgreSQL and records the result type and text, or the error.
# compute/tests/func_pg.rs resolves and evaluates the same cases with
# sextant_compute::sql::func and compares; it needs no PostgreSQL.
#
# Usage: compute/tests/data/func/regen.sh
#
# Starts a throwaway cluster in a temporary directory (as the postgres user
# when run as root) and stops it on exit. Set PG_BIN to pick the server's
# bin directory; the default is the newest /usr/lib/postgresql/*/bin (Debian:
# apt-get install postgresql). The data in this directory came from
# PostgreSQL 15 (the first line of expected.tsv says which build).
#
# Case format (cases.tsv): one case per line, fields separated by tabs.
# Lines starting with "--" and empty lines are comments. The first field is
#   name            a function, called as pg_catalog.name(args...)
#                   (greatest and least as the special syntax they are)
#   op:OP           a binary operator, (arg1) OP (arg2)
#   prefix:OP       a prefix operator, OP (arg1)
#   like, ilike     (arg1) LIKE (arg2) [ESCAPE (arg3)], checked against
#                   sql::func::like_match
#   @timezone       sets the session TimeZone to the second field for the
#                   cases that follow
# and the rest are the arguments:
#   type:value      a typed literal, 'value'::type
#   unknown:value   an untyped string literal, 'value'
#   null            an untyped NULL
#   null:type       a typed NULL, NULL::type
#
# Result format (expected.tsv): the case's fields, a "=>" field, then one of
#   value <type> <text>           pg_typeof of the result and its output text
#   null <type>                   SQL NULL
#   error <sqlstate> <message> <detail> <hint>
#   set                           for @timezone lines
# with backslash, tab, newline and carriage return escaped as \\ \t \n \r.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cases="$here/cases.tsv"
expected="$here/expected.tsv"

pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [ ! -x "$pg_bin/initdb" ]; then
    echo "no PostgreSQL server found; install one (apt-get install postgresql) or set PG_BIN" >&2
    exit 1
fi

tmp="$(mktemp -d /tmp/sextant-func-pg.XXXXXX)"
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

# The C locale makes text compare bytewise and fold case in ASCII only, as
# Sextant's does.
as_pg "$pg_bin/initdb" -D "$tmp/data" -A trust -U postgres -E UTF8 --locale=C >/dev/null
port=$((20000 + RANDOM % 20000))
as_pg "$pg_bin/pg_ctl" -D "$tmp/data" -w -l "$tmp/server.log" \
    -o "-p $port -k $tmp -c listen_addresses=''" start >/dev/null

psql=("$pg_bin/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U postgres -d postgres)

{
    "${psql[@]}" -c "select '-- ' || version()"
    "${psql[@]}" -v cases="$(cat "$cases")" <<'SQL'
set timezone = 'UTC';
set datestyle = 'ISO, MDY';
set intervalstyle = 'postgres';
set extra_float_digits = 1;
set bytea_output = 'hex';

-- Escapes a result field: backslash, tab, newline, carriage return.
create function pg_temp.esc(t text) returns text language sql immutable as $$
    select replace(replace(replace(replace(t, E'\\', E'\\\\'), E'\t', E'\\t'), E'\n', E'\\n'), E'\r', E'\\r')
$$;

-- An argument as SQL.
create function pg_temp.lit(arg text) returns text language sql immutable as $$
    select case when arg = 'null' then 'NULL'
                when arg like 'null:%' then 'NULL::' || substr(arg, 6)
                when arg like 'unknown:%' then quote_literal(substr(arg, 9))
                else format('%L::%s', substr(arg, strpos(arg, ':') + 1), split_part(arg, ':', 1))
           end
$$;

-- The SQL expression for a case.
create function pg_temp.case_sql(f text[]) returns text language plpgsql as $$
declare
    op text := f[1];
    args text[] := coalesce((select array_agg(pg_temp.lit(a) order by i)
                             from unnest(f[2:]) with ordinality as u(a, i)), '{}');
begin
    if op like 'op:%' then
        return format('(%s) %s (%s)', args[1], substr(op, 4), args[2]);
    elsif op like 'prefix:%' then
        return format('%s (%s)', substr(op, 8), args[1]);
    elsif op in ('like', 'ilike') then
        return format('(%s) %s (%s)', args[1], op, args[2])
               || coalesce(' escape ' || args[3], '');
    elsif op in ('greatest', 'least') then
        return format('%s(%s)', op, array_to_string(args, ', '));
    end if;
    return format('pg_catalog.%I(%s)', op, array_to_string(args, ', '));
end
$$;

-- Runs one case and formats its result.
create function pg_temp.run_case(line text) returns text language plpgsql as $$
declare
    f text[] := string_to_array(line, E'\t');
    q text;
    ty text;
    v text;
    st text;
    msg text;
    det text;
    hnt text;
begin
    if f[1] = '@timezone' then
        perform set_config('timezone', f[2], false);
        return 'set';
    end if;
    begin
        q := pg_temp.case_sql(f);
        -- format's %s prints with the type's output function (a boolean as t).
        execute format('select pg_typeof(v)::text, case when v is not null then format(''%%s'', v) end'
                       ' from (select %s as v) as s', q) into ty, v;
        return case when v is null then E'null\t' || ty else E'value\t' || ty || E'\t' || pg_temp.esc(v) end;
    exception when others then
        get stacked diagnostics st = returned_sqlstate, msg = message_text,
                                det = pg_exception_detail, hnt = pg_exception_hint;
        return concat_ws(E'\t', 'error', st, pg_temp.esc(msg), pg_temp.esc(coalesce(det, '')),
                         pg_temp.esc(coalesce(hnt, '')));
    end;
end
$$;

select line || E'\t=>\t' || pg_temp.run_case(line)
from regexp_split_to_table(:'cases', E'\n') with ordinality as t(line, n)
where line <> '' and line not like '--%'
order by n;
SQL
} >"$expected.tmp"
mv "$expected.tmp" "$expected"
echo "wrote $(grep -vc '^--' "$expected") results to $expected"

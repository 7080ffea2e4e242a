#!/usr/bin/env bash
# Regenerates expected.tsv: runs every case in cases.tsv through a real
# PostgreSQL and records what it returns. compute/tests/numeric_pg.rs runs
# the same cases through compute::datum::numeric_ops and compares; it needs
# no PostgreSQL.
#
# Usage: compute/tests/data/numeric/regen.sh
#
# Starts a throwaway cluster in a temporary directory (as the postgres user
# when run as root) and stops it on exit. Set PG_BIN to pick the server's
# bin directory; the default is the newest /usr/lib/postgresql/*/bin (Debian:
# apt-get install postgresql). The data in this directory came from
# PostgreSQL 15 (the first line of expected.tsv says which build); numeric
# results differ between major versions, so regenerate with 15.
#
# Case format (cases.tsv): one case per line, fields separated by tabs, the
# operation first, then its arguments as text. Lines starting with "--" and
# empty lines are comments. The operations and the SQL each one runs are in
# case_sql() below. An operation prefixed with "summary:" reports
#   <length of the text> <scale> <first 20 characters>...<last 20 characters>
# of its numeric result instead of the whole text, for results too long to
# keep here.
#
# Result format (expected.tsv): the case's fields, a "=>" field, then one of
#   value <text>                  the result cast to text
#   null                          SQL NULL
#   error <sqlstate> <message>
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

tmp="$(mktemp -d /tmp/sextant-numeric-pg.XXXXXX)"
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

as_pg "$pg_bin/initdb" -D "$tmp/data" -A trust -U postgres -E UTF8 --locale=C >/dev/null
port=$((20000 + RANDOM % 20000))
as_pg "$pg_bin/pg_ctl" -D "$tmp/data" -w -l "$tmp/server.log" \
    -o "-p $port -k $tmp -c listen_addresses=''" start >/dev/null

psql=("$pg_bin/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U postgres -d postgres)

# The cases go in a table through COPY, which has no length limit (a psql
# variable on the command line would be capped at 128 KiB). CSV with
# control-character delimiter and quote takes each line verbatim.
"${psql[@]}" -c "create table cases_in (n int generated always as identity, line text)"
"${psql[@]}" -c "copy cases_in (line) from stdin with (format csv, delimiter E'\x01', quote E'\x02')" <"$cases"

{
    "${psql[@]}" -c "select '-- ' || version()"
    "${psql[@]}" <<'SQL'
-- float8 output as PostgreSQL 12 and later print it by default: the
-- shortest text that reads back as the same double.
set extra_float_digits = 1;

-- Escapes a result field: backslash, tab, newline, carriage return.
create function pg_temp.esc(t text) returns text language sql immutable as $$
    select replace(replace(replace(replace(t, E'\\', E'\\\\'), E'\t', E'\\t'), E'\n', E'\\n'), E'\r', E'\\r')
$$;

-- The head, tail, length and scale of a long numeric result.
create function pg_temp.summary(r numeric) returns text language sql immutable as $$
    select format('%s %s %s...%s', length(r::text), scale(r), left(r::text, 20), right(r::text, 20))
$$;

-- The SQL for a case, returning one value.
create function pg_temp.case_sql(f text[]) returns text language plpgsql as $$
declare
    op text := f[1];
    args text[] := f[2:];
begin
    if op like 'summary:%' then
        return format('pg_temp.summary(%s)', pg_temp.case_sql(array[substr(op, 9)] || args));
    end if;
    case op
    when 'add' then return format('%L::numeric + %L::numeric', f[2], f[3]);
    when 'sub' then return format('%L::numeric - %L::numeric', f[2], f[3]);
    when 'mul' then return format('%L::numeric * %L::numeric', f[2], f[3]);
    when 'div' then return format('%L::numeric / %L::numeric', f[2], f[3]);
    when 'mod' then return format('%L::numeric %% %L::numeric', f[2], f[3]);
    when 'div_trunc' then return format('div(%L::numeric, %L::numeric)', f[2], f[3]);
    when 'power' then return format('power(%L::numeric, %L::numeric)', f[2], f[3]);
    when 'log' then return format('log(%L::numeric, %L::numeric)', f[2], f[3]);
    when 'log10' then return format('log(%L::numeric)', f[2]);
    when 'neg' then return format('-(%L::numeric)', f[2]);
    when 'abs', 'sign', 'ceil', 'floor', 'sqrt', 'exp', 'ln' then
        return format('%s(%L::numeric)', op, f[2]);
    when 'round', 'trunc' then return format('%s(%L::numeric, %L::int4)', op, f[2], f[3]);
    when 'from_float8' then return format('%L::float8::numeric', f[2]);
    when 'to_float8' then return format('%L::numeric::float8', f[2]);
    when 'to_int8' then return format('%L::numeric::int8', f[2]);
    when 'sum', 'avg' then
        return format('(select %s(x::numeric) from unnest(%L::text[]) as t(x))', op, args);
    when 'sum_int8' then return format('(select sum(x::int8) from unnest(%L::text[]) as t(x))', args);
    when 'avg_int8' then return format('(select avg(x::int8) from unnest(%L::text[]) as t(x))', args);
    when 'avg_int4' then return format('(select avg(x::int4) from unnest(%L::text[]) as t(x))', args);
    else
        raise exception 'unknown case operation %', op;
    end case;
end
$$;

-- Runs one case and formats its result.
create function pg_temp.run_case(line text) returns text language plpgsql as $$
declare
    f text[] := string_to_array(line, E'\t');
    v text;
    st text;
    msg text;
begin
    begin
        execute format('select (%s)::text', pg_temp.case_sql(f)) into v;
        return case when v is null then 'null' else E'value\t' || pg_temp.esc(v) end;
    exception when others then
        get stacked diagnostics st = returned_sqlstate, msg = message_text;
        return concat_ws(E'\t', 'error', st, pg_temp.esc(msg));
    end;
end
$$;

select line || E'\t=>\t' || pg_temp.run_case(line)
from cases_in
where line <> '' and line not like '--%'
order by n;
SQL
} >"$expected.tmp"
mv "$expected.tmp" "$expected"
echo "wrote $(grep -vc '^--' "$expected") results to $expected"

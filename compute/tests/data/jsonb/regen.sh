#!/usr/bin/env bash
# Regenerates expected.tsv: runs every case in cases.tsv through a real
# PostgreSQL and records what it returns. compute/tests/jsonb_pg.rs runs the
# same cases through compute::jsonb and compares; it needs no PostgreSQL.
#
# Usage: compute/tests/data/jsonb/regen.sh
#
# Starts a throwaway cluster in a temporary directory (as the postgres user
# when run as root) and stops it on exit. Set PG_BIN to pick the server's
# bin directory; the default is the newest /usr/lib/postgresql/*/bin (Debian:
# apt-get install postgresql). The data in this directory came from
# PostgreSQL 15 (the first line of expected.tsv says which build).
#
# Case format (cases.tsv): one case per line, fields separated by tabs, the
# operation first. Lines starting with "--" and empty lines are comments.
# jsonb arguments are JSON text, text[] arguments are array literals
# ({a,b,NULL}), and "any" arguments (to_jsonb, the builders, the aggregates)
# are typed literals, type:value, or the word null. The operations and the
# SQL each one runs are in case_sql() below.
#
# Result format (expected.tsv): the case's fields, a "=>" field, then one of
#   value <text>                  the result cast to text
#   null                          SQL NULL
#   rows <text>...                a set-returning function's rows, columns flattened
#   error <sqlstate> <message> <detail> <hint>
# with backslash, tab, newline and carriage return escaped as \\ \t \n \r,
# and a NULL column of a row as \N.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cases="$here/cases.tsv"
expected="$here/expected.tsv"

pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
if [ ! -x "$pg_bin/initdb" ]; then
    echo "no PostgreSQL server found; install one (apt-get install postgresql) or set PG_BIN" >&2
    exit 1
fi

tmp="$(mktemp -d /tmp/sextant-jsonb-pg.XXXXXX)"
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

# The C locale makes text compare bytewise, as Sextant's does.
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

-- A typed literal, type:value, as SQL; the word null is an untyped NULL.
create function pg_temp.lit(arg text) returns text language sql immutable as $$
    select case when arg = 'null' then 'NULL'
                else format('%L::%s', substr(arg, strpos(arg, ':') + 1), split_part(arg, ':', 1))
           end
$$;

-- The SQL for a case. Set-returning operations return a text[] of their
-- rows' columns; the rest return one value.
create function pg_temp.case_sql(f text[]) returns text language plpgsql as $$
declare
    op text := f[1];
    n int := coalesce(array_length(f, 1), 1) - 1;
    rest text;
begin
    if op in ('jsonb_build_object', 'jsonb_build_array', 'to_jsonb') then
        rest := coalesce((select string_agg(pg_temp.lit(a), ', ' order by i)
                          from unnest(f[2:]) with ordinality as u(a, i)), '');
        return format('%s(%s)', op, rest);
    end if;
    case op
    when 'jsonb' then return format('%L::jsonb', f[2]);
    when '->' then return format('%L::jsonb -> %L::text', f[2], f[3]);
    when '->>' then return format('%L::jsonb ->> %L::text', f[2], f[3]);
    when '->i' then return format('%L::jsonb -> %L::int4', f[2], f[3]);
    when '->>i' then return format('%L::jsonb ->> %L::int4', f[2], f[3]);
    when '#>' then return format('%L::jsonb #> %L::text[]', f[2], f[3]);
    when '#>>' then return format('%L::jsonb #>> %L::text[]', f[2], f[3]);
    when '@>' then return format('%L::jsonb @> %L::jsonb', f[2], f[3]);
    when '<@' then return format('%L::jsonb <@ %L::jsonb', f[2], f[3]);
    when '?' then return format('%L::jsonb ? %L::text', f[2], f[3]);
    when '?|' then return format('%L::jsonb ?| %L::text[]', f[2], f[3]);
    when '?&' then return format('%L::jsonb ?& %L::text[]', f[2], f[3]);
    when '||' then return format('%L::jsonb || %L::jsonb', f[2], f[3]);
    when '-' then return format('%L::jsonb - %L::text', f[2], f[3]);
    when '-i' then return format('%L::jsonb - %L::int4', f[2], f[3]);
    when '-a' then return format('%L::jsonb - %L::text[]', f[2], f[3]);
    when '#-' then return format('%L::jsonb #- %L::text[]', f[2], f[3]);
    when 'jsonb_set', 'jsonb_insert' then
        if n = 4 then
            return format('%s(%L::jsonb, %L::text[], %L::jsonb, %L::bool)', op, f[2], f[3], f[4], f[5]);
        end if;
        return format('%s(%L::jsonb, %L::text[], %L::jsonb)', op, f[2], f[3], f[4]);
    when 'jsonb_typeof', 'jsonb_array_length' then return format('%s(%L::jsonb)', op, f[2]);
    when 'cmp' then
        return format('case when %1$L::jsonb < %2$L::jsonb then -1 when %1$L::jsonb = %2$L::jsonb then 0 else 1 end',
                      f[2], f[3]);
    when 'jsonb_object_keys', 'jsonb_array_elements', 'jsonb_array_elements_text' then
        return format('array(select x::text from %s(%L::jsonb) with ordinality as t(x, o) order by o)', op, f[2]);
    when 'jsonb_each', 'jsonb_each_text' then
        return format('array(select c from %s(%L::jsonb) with ordinality as t(k, v, o),'
                      ' unnest(array[k, v::text]) with ordinality as u(c, p) order by o, p)', op, f[2]);
    when 'jsonb_agg' then
        if n = 0 then
            return '(select jsonb_agg(x) from (select 1 where false) as t(x))';
        end if;
        rest := (select string_agg(format('(%s, %s)', i, pg_temp.lit(a)), ', ' order by i)
                 from unnest(f[2:]) with ordinality as u(a, i));
        return format('(select jsonb_agg(x order by o) from (values %s) as t(o, x))', rest);
    when 'jsonb_object_agg' then
        rest := (select string_agg(format('(%s, %s, %s)', i, pg_temp.lit(f[2 * i]), pg_temp.lit(f[2 * i + 1])),
                                   ', ' order by i)
                 from generate_series(1, n / 2) as i);
        return format('(select jsonb_object_agg(k, v order by o) from (values %s) as t(o, k, v))', rest);
    else
        raise exception 'unknown case operation %', op;
    end case;
end
$$;

-- Runs one case and formats its result.
create function pg_temp.run_case(line text) returns text language plpgsql as $$
declare
    f text[] := string_to_array(line, E'\t');
    q text := pg_temp.case_sql(f);
    rows text[];
    v text;
    st text;
    msg text;
    det text;
    hnt text;
begin
    begin
        if f[1] in ('jsonb_object_keys', 'jsonb_each', 'jsonb_each_text',
                    'jsonb_array_elements', 'jsonb_array_elements_text') then
            execute 'select ' || q into rows;
            return 'rows' || coalesce((select string_agg(E'\t' || coalesce(pg_temp.esc(x), '\N'), '' order by i)
                                       from unnest(rows) with ordinality as u(x, i)), '');
        end if;
        execute format('select (%s)::text', q) into v;
        return case when v is null then 'null' else E'value\t' || pg_temp.esc(v) end;
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

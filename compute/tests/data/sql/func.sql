-- Scalar functions and operators: CASE, casts, dates and times, intervals,
-- strings, pattern matching, generate_series.

-- case: case_expressions (extended)
CREATE TABLE t (id int PRIMARY KEY, n int);
INSERT INTO t VALUES (1, -5), (2, 0), (3, 7), (4, NULL);
SELECT id, CASE WHEN n < 0 THEN 'neg' WHEN n = 0 THEN 'zero' ELSE 'pos' END FROM t ORDER BY id;
SELECT id, CASE n WHEN 0 THEN 'zero' WHEN 7 THEN 'seven' END AS name FROM t ORDER BY id;
SELECT id, CASE WHEN n IS NULL THEN 0 ELSE n * 2 END AS doubled FROM t ORDER BY id;
SELECT CASE WHEN true THEN 1 ELSE 'x' END;
SELECT CASE WHEN false THEN 1 / 0 ELSE 2 END;
SELECT sum(CASE WHEN n > 0 THEN 1 ELSE 0 END) AS positives FROM t;

-- case: coalesce_nullif_greatest
SELECT coalesce(NULL, NULL, 3, 4), coalesce(NULL::text, 'dflt'), nullif(1, 1), nullif(1, 2);
SELECT greatest(1, 5, 3), least(1, 5, 3), greatest('a', 'b'), greatest(1, NULL), least(NULL::int, NULL);

-- case: casts (extended)
SELECT '42'::int, '42'::bigint + 1, CAST('7' AS smallint), 3.7::int, (-3.5)::int, 2.5::int;
SELECT '3.25'::float8, '1e3'::float8, 1::float8 / 3, '0.1'::float4, 10::numeric / 4;
SELECT 42::text, 3.5::text, true::text, 'yes'::boolean, 'f'::boolean, 1::boolean;
SELECT '2024-02-29'::date, '2024-02-29 13:14:15'::timestamp, '2024-02-29 13:14:15+02'::timestamptz;
SELECT '{"a": 1}'::jsonb, '[1, 2]'::json, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid;
SELECT 12.345::numeric(5, 2), 'abc'::varchar(2), 'abc'::char(5) || '|';
SELECT '1 day 2 hours'::interval, '90 minutes'::interval, 'P1Y2M'::interval;
SELECT int '5', text 'x', date '2024-01-01', timestamptz '2024-01-01 00:00:00+00';
SELECT pg_typeof(1), pg_typeof(1.5), pg_typeof('x'::text), pg_typeof(1::bigint + 1), pg_typeof(now());

-- case: cast_errors
SELECT 'abc'::int;
SELECT '12.5'::int;
SELECT ''::int;
SELECT '99999999999'::int;
SELECT 32768::smallint;
SELECT 'nan'::numeric::int;
SELECT 'x'::boolean;
SELECT '2024-13-01'::date;
SELECT 'not a date'::timestamptz;
SELECT '{"a":'::jsonb;
SELECT 'zz'::uuid;
SELECT '1 fortnight'::interval;
SELECT 1::jsonb;
SELECT '1'::nosuchtype;
SELECT CAST(1 AS jsonb);
SELECT  true::date;
SELECT 1 + 'a'::nosuch;

-- case: is_unknown (extended)
SELECT NULL IS UNKNOWN, true IS NOT UNKNOWN, (1 = NULL) IS UNKNOWN, NULL::boolean IS NOT UNKNOWN, 'f' IS UNKNOWN;
SELECT 1 IS UNKNOWN;
SELECT 'maybe' IS NOT UNKNOWN;

-- case: numeric_typmod_casts (extended)
SELECT 12.345::numeric(5, 2), CAST(-0.005 AS numeric(3, 2)), 1234.5::numeric(4, 0), 'NaN'::numeric(3, 1), 5::numeric(3), 2.5::numeric(3, -1);
SELECT x::numeric(6, 1) FROM (VALUES (1.25), (-1.25), (NULL)) AS v(x);
SELECT 10::numeric(2, 1);
SELECT 'Infinity'::numeric(3, 1);
SELECT 1::numeric(1001, 0);

-- case: arithmetic_errors
SELECT 1 / 0;
SELECT 1 % 0;
SELECT 1.5 / 0;
SELECT 1::float8 / 0;
SELECT 2147483647 + 1;
SELECT 9223372036854775807::bigint * 2;
SELECT -32768::smallint;
SELECT (-32768)::smallint * -1;
SELECT sqrt(-1);
SELECT 'a' + 1;

-- case: numeric_functions (extended)
SELECT abs(-3), abs(-2.5), round(2.5), round(-2.5), round(3.14159, 2), round(2.5::float8), trunc(-2.7), ceil(2.1), floor(-2.1);
SELECT mod(7, 3), power(2, 10), sqrt(16), sign(-4), div(7, 2), 7 / 2.0;
SELECT 0.1 + 0.2, 0.1::float8 + 0.2::float8, 1e20::float8, 1.0 / 3, 100::numeric;
SELECT 'Infinity'::float8, '-inf'::float8, 'NaN'::float8, 1e-5::float8, 123456789012345678::float8;

-- case: string_functions (extended)
SELECT length('hello'), char_length('héllo'), octet_length('héllo'), upper('abc'), lower('ABC'), initcap('hello world');
SELECT substr('abcdef', 2, 3), substring('abcdef' from 3), substring('abcdef', 2), left('abcdef', 2), right('abcdef', 2);
SELECT position('c' in 'abcd'), strpos('abcd', 'd'), replace('a-b-c', '-', '+'), repeat('ab', 3), reverse('abc');
SELECT trim('  x  '), ltrim('  x'), rtrim('x  '), trim(both 'x' from 'xxaxx'), btrim('--a--', '-'), lpad('7', 3, '0'), rpad('ab', 4, '.');
SELECT split_part('a,b,c', ',', 2), split_part('a,b,c', ',', 5), concat('a', NULL, 'b', 1), concat_ws('-', 'a', NULL, 'b');
SELECT 'a' || 1, 1 || 'a', md5('abc'), to_hex(255), chr(65), ascii('A');
SELECT format('%s has %s items', 'cart', 3), format('%I.%L', 'Tab', 'it''s'), quote_ident('a b'), quote_literal('x''y');
SELECT starts_with('sextant', 'sex'), 'abc' < 'abd', 'B' < 'a', 'abc' = 'abc ';

-- case: like_and_regex (extended)
CREATE TABLE t (id int PRIMARY KEY, s text);
INSERT INTO t VALUES (1, 'apple'), (2, 'Apricot'), (3, 'banana'), (4, 'a_b'), (5, 'a%b'), (6, NULL);
SELECT id FROM t WHERE s LIKE 'a%' ORDER BY id;
SELECT id FROM t WHERE s ILIKE 'a%' ORDER BY id;
SELECT id FROM t WHERE s NOT LIKE '%an%' ORDER BY id;
SELECT id FROM t WHERE s NOT ILIKE 'A%' ORDER BY id;
SELECT id FROM t WHERE s LIKE 'a\_b' ORDER BY id;
SELECT id FROM t WHERE s LIKE 'a!%b' ESCAPE '!' ORDER BY id;
SELECT id FROM t WHERE s LIKE '_pple';
SELECT id FROM t WHERE s ~ '^a' ORDER BY id;
SELECT id FROM t WHERE s ~* '^a' ORDER BY id;
SELECT id FROM t WHERE s !~ 'an' ORDER BY id;
SELECT id FROM t WHERE s !~* 'AN' ORDER BY id;
SELECT id FROM t WHERE s ~ '(na){2}' ORDER BY id;
SELECT 'abc' ~ 'b', 'abc' ~ '^b', 'ABC' ~* 'b', 'x' LIKE NULL, 'abc' SIMILAR TO '(a|b)%';
SELECT regexp_replace('a1b22c', '[0-9]+', '#'), regexp_replace('a1b22c', '[0-9]+', '#', 'g'), regexp_match('key=val', '(\w+)=(\w+)');
SELECT 'abc' ~ '(';

-- case: date_time_functions (extended)
SELECT date_trunc('hour', timestamp '2024-03-10 14:35:12.5');
SELECT date_trunc('day', timestamptz '2024-03-10 14:35:12+00'), date_trunc('month', date '2024-03-10');
SELECT date_trunc('week', timestamp '2024-03-10 14:35:12'), date_trunc('year', timestamp '2024-03-10 14:35:12'), date_trunc('minute', timestamp '2024-03-10 14:35:12');
SELECT extract(year FROM timestamp '2024-03-10 14:35:12'), extract(month FROM date '2024-03-10'), extract(hour FROM timestamptz '2024-03-10 14:35:12+00');
SELECT extract(epoch FROM timestamptz '2024-01-01 00:00:00+00'), extract(dow FROM date '2024-03-10'), extract(doy FROM date '2024-03-10');
SELECT extract(second FROM timestamp '2024-03-10 14:35:12.25'), date_part('day', timestamp '2024-03-10 14:35:12'), extract(epoch FROM interval '1 day 1 hour');
SELECT to_timestamp(0), to_timestamp(1700000000.5), make_date(2024, 2, 29), make_interval(days => 3);
SELECT to_char(timestamp '2024-03-10 14:35:12', 'YYYY-MM-DD HH24:MI:SS'), to_char(date '2024-03-10', 'Mon DD, YYYY');
SELECT timestamptz '2024-03-10 14:35:12+05', timestamp '2024-03-10 14:35:12' AT TIME ZONE 'UTC', timestamptz '2024-03-10 14:35:12+00' AT TIME ZONE 'America/New_York';
SELECT date '2024-03-10' + 1, date '2024-03-10' - date '2024-01-01', date '2024-03-10' - 1;
SELECT extract(century FROM date '2024-01-01'), extract(quarter FROM date '2024-05-01'), extract(isodow FROM date '2024-03-10');
SELECT extract(nosuchfield FROM date '2024-01-01');

-- case: named_arguments (extended)
SELECT make_interval(days => 3, hours => 2), make_interval(1, days => 2), make_interval(secs => 1.5), make_date(year => 2024, month => 2, day => 29);
SELECT make_timestamp(2024, 1, 2, 3, 4, sec => 5.5), jsonb_set('{"a": 1}', '{b}', '2'), jsonb_set(jsonb_in => '{"a": 1}', path => '{b}', replacement => '2', create_if_missing => false);
SELECT current_setting(setting_name => 'TimeZone');
SELECT make_interval(nosuch => 1);
SELECT make_interval(days => 1, days => 2);
SELECT make_interval(days => 1, 2);
SELECT make_interval(1, years => 2);
SELECT lower(x => 'a');

-- case: intervals (extended)
SELECT timestamp '2024-01-31 10:00' + interval '1 month', timestamp '2024-01-31 10:00' + interval '1 day 2 hours';
SELECT timestamptz '2024-01-01 00:00+00' - interval '90 minutes', date '2024-01-01' + interval '36 hours';
SELECT timestamp '2024-03-10 12:00' - timestamp '2024-03-08 06:30', interval '1 hour' * 3, interval '1 day' / 4;
SELECT interval '1 day' > interval '23 hours', interval '25 hours' = interval '1 day 1 hour', -interval '2 days';
SELECT interval '1 year 2 months 3 days 04:05:06.7', interval '-1 day', interval '0', interval '3600 seconds';
SELECT justify_hours(interval '27 hours'), justify_days(interval '35 days'), age(timestamp '2024-03-10', timestamp '2023-01-01');

-- case: now_and_clock
SELECT now() IS NOT NULL, current_timestamp = now(), now() - now() = interval '0';
SELECT current_date = now()::date, localtimestamp IS NOT NULL, clock_timestamp() >= now();
SELECT pg_typeof(now()), pg_typeof(current_date), pg_typeof(current_timestamp);
BEGIN;
CREATE TABLE t (at timestamptz);
INSERT INTO t VALUES (now());
SELECT at = now() FROM t;
COMMIT;

-- case: generate_series (extended)
SELECT generate_series(1, 5);
SELECT * FROM generate_series(10, 1, -3);
SELECT g FROM generate_series(1, 3) AS g ORDER BY g DESC;
SELECT g * 2 AS doubled FROM generate_series(1, 4) g WHERE g % 2 = 0;
SELECT count(*), sum(g) FROM generate_series(1, 1000) AS g;
SELECT * FROM generate_series(timestamp '2024-01-01', timestamp '2024-01-02', interval '8 hours');
SELECT * FROM generate_series(1, 0);
SELECT * FROM generate_series(1, 5, 0);

-- case: uuid_functions
SELECT length(gen_random_uuid()::text), gen_random_uuid() <> gen_random_uuid();
SELECT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid, '{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}'::uuid;
SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid;

-- case: boolean_and_comparison
SELECT 1 < 2, 2 <= 2, 'b' > 'a', 1 = 1.0, 1.5 >= 2, NULL::int < 1;
SELECT true = false, true > false, 1 BETWEEN 0 AND 2, 5 BETWEEN SYMMETRIC 10 AND 1;
SELECT 3 IN (1, 2, NULL), 1 IN (1, NULL), 3 NOT IN (1, 2), (1, 2) = (1, 2), (1, 2) < (1, 3);
SELECT true IS TRUE, NULL IS UNKNOWN, false IS NOT FALSE, NULL::boolean IS NOT TRUE;

-- case: operators_before_a_sign (extended)
SELECT 1<-1, 2>-1, 1<=-1, 1>=+1, 1<>-1, 1=-1, 1<+1, 0<-+1, 2*-3, 6/-2;
SELECT 7%+4;
SELECT 1<-(2), -1<-1.5, 1<-'2'::int;
CREATE TABLE t (a int, x int, j jsonb, s text);
INSERT INTO t VALUES (-1, 2, '{"k": [1, 2], "m": {"n": "v"}}', 'x');
SELECT a<>-1, x=-1, a<-x, x>-a, a<=-x, x>=-+a FROM t;
SELECT a FROM t WHERE a<-0 AND x>-1;
SELECT j->'k', j->>'m', j->'k'->-1, j#>'{m,n}', j#>>'{k,0}', j@>'{"k": [2]}', '{}'<@j, s||'y', a!=x, a<=x, a>=x, a<>x FROM t;
SELECT 1!=-1;
SELECT 1!=/**/-1, 1<>-1;
SELECT 1%-1;
SELECT a<->x FROM t;

-- case: between_symmetric (extended)
SELECT 5 BETWEEN SYMMETRIC 1 AND 10, 5 NOT BETWEEN SYMMETRIC 10 AND 1, 0 BETWEEN SYMMETRIC 10 AND 1, 0 NOT BETWEEN SYMMETRIC 1 AND 10;
SELECT 5 BETWEEN ASYMMETRIC 10 AND 1, NULL BETWEEN SYMMETRIC 1 AND 2, 1 BETWEEN SYMMETRIC NULL AND 1, 3 BETWEEN SYMMETRIC NULL AND 1;
SELECT 'b' BETWEEN SYMMETRIC 'c' AND 'a' AND true, NOT 2 BETWEEN SYMMETRIC 3 AND 1 + 1;
SELECT 1 BETWEEN SYMMETRIC AND 2;

-- case: character_n (extended)
CREATE TABLE c (id int PRIMARY KEY, a char(3), b character(5), t text, v varchar(4));
INSERT INTO c VALUES (1, 'x', 'x', 'x', 'x'), (2, 'ab ', 'ab', 'ab  ', 'ab'), (3, 'abc', 'abcde', 'abc', 'abc '), (4, NULL, 'z    ', NULL, NULL);
SELECT id, a, b, a || '|', b::text || '|', length(a), octet_length(a), a = b, a = t, a < 'b', a = 'ab      ' FROM c ORDER BY id;
SELECT id FROM c WHERE a = 'ab' ORDER BY id;
SELECT id FROM c WHERE a IN ('x', 'abc  ') ORDER BY id;
SELECT id FROM c WHERE a BETWEEN 'ab' AND 'ab' ORDER BY id;
SELECT id, a IS DISTINCT FROM 'ab', a IS NOT DISTINCT FROM b, 'ab  '::char(4) IS NOT DISTINCT FROM 'ab'::char(2) FROM c ORDER BY id;
SELECT id, CASE a WHEN 'ab' THEN 'two' WHEN 'x  ' THEN 'one' ELSE 'other' END FROM c ORDER BY id;
INSERT INTO c (id, t, v) SELECT 10 + id, b, b FROM c WHERE id < 3;
INSERT INTO c (id, t, v) VALUES (13, 'q '::char(3), 'q '::char(3));
SELECT id, t || '|', v || '|' FROM c WHERE id > 10 ORDER BY id;
INSERT INTO c (id, a) VALUES (20, 'abcd');
INSERT INTO c (id, a) VALUES (21, 'abc   ');
UPDATE c SET a = 'toolong' WHERE id = 1;
SELECT a || '|' FROM c WHERE id = 21;
SELECT 'abc'::char(2), 'a'::char(3) || '|', 'ab  '::bpchar || '|', 'x'::character, 'xyz'::bpchar(2), 'a '::char(2) = 'a'::char(4), upper('ab '::char(3)) || '|';
SELECT pg_typeof('x'::char(3)), pg_typeof('x'::bpchar), format_type(1042, 7), format_type(1042, -1), format_type(1042, NULL), format_type(1014, -1), 'char(3)'::regtype;
SELECT coalesce(a, t) || '|' FROM c WHERE id = 2;
SELECT a FROM c WHERE id = 2 UNION ALL SELECT 'q'::text ORDER BY 1;
SELECT 'a'::char(0);
SELECT 'a'::char(2) = 1;
SELECT attname, atttypid::regtype, atttypmod, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'c'::regclass AND attnum > 0 ORDER BY attnum;
SELECT column_name, data_type, character_maximum_length, character_octet_length FROM information_schema.columns WHERE table_name = 'c' ORDER BY ordinal_position;

-- case: character_n_keys
CREATE TABLE k (code char(4) PRIMARY KEY, n int);
INSERT INTO k VALUES ('ab', 1), ('abc ', 2), ('x', 3);
INSERT INTO k VALUES ('ab  ', 4);
INSERT INTO k VALUES ('ab', 5) ON CONFLICT (code) DO UPDATE SET n = k.n + 10;
SELECT code, n, code || '|' FROM k ORDER BY code;
SELECT * FROM k WHERE code = 'ab';
SELECT * FROM k WHERE code > 'ab' ORDER BY code DESC;
CREATE TABLE r (code text, w int);
INSERT INTO r VALUES ('ab', 100), ('x', 200), ('abc ', 300);
SELECT k.code, r.w FROM k JOIN r ON k.code = r.code ORDER BY 1, 2;
SELECT code, count(*) FROM (SELECT code FROM k UNION ALL SELECT code FROM k) s GROUP BY code ORDER BY code;
SELECT DISTINCT code FROM k ORDER BY code;
SELECT max(code), min(code) FROM k;
SELECT x || '|' FROM (VALUES ('b'::char(3)), (E'a\t'::char(3)), ('a'::char(1)), ('a '::char(2))) v(x) ORDER BY x, 1;
SELECT x || '|', rank() OVER (ORDER BY x) FROM (VALUES ('b'::char(3)), ('a'::char(1)), ('a '::char(2))) v(x) ORDER BY 2, 1;
SELECT code FROM k UNION SELECT 'ab'::char(4) ORDER BY 1;
SELECT DISTINCT code FROM k ORDER BY code DESC;
UPDATE k SET code = 'abcde' WHERE n = 3;
DELETE FROM k WHERE code = 'x   ';
SELECT count(*) FROM k;

-- case: character_n_ddl
CREATE TABLE d (id int PRIMARY KEY, c char(3) DEFAULT 'x', v varchar(5));
INSERT INTO d (id, v) VALUES (1, 'ab');
ALTER TABLE d ADD COLUMN e character(2) DEFAULT 'y';
COPY d FROM STDIN;
2	pq	cd	z
\.
COPY d FROM STDIN;
3	toolong	cd	z
\.
SELECT id, c || '|', v, e || '|', length(e) FROM d ORDER BY id;
COPY d TO STDOUT;
CREATE INDEX d_c ON d (c);
CREATE UNIQUE INDEX d_e ON d ((e || c));
INSERT INTO d VALUES (4, 'x', NULL, 'y ');
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'd'::regclass ORDER BY 1;
SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'd'::regclass ORDER BY adnum;
ALTER TABLE d ALTER COLUMN c SET DEFAULT 'abcd';
INSERT INTO d (id) VALUES (5);
ALTER TABLE d ALTER COLUMN c SET DEFAULT 'abc  ';
INSERT INTO d (id) VALUES (5);
SELECT id, c || '|', pg_typeof(c) FROM d ORDER BY id;
SELECT id FROM d WHERE c = 'pq' AND v = 'cd';

-- case: function_errors
SELECT nosuchfunc(1);
SELECT length(1, 2);
SELECT substr();
SELECT lower(1);
SELECT date_trunc('fortnight', now());
SELECT repeat('x', -1), left('abc', -1);
SELECT upper(NULL), length(NULL), abs(NULL::int);

-- case: similar_to_and_regexp_match (extended)
SELECT 'abc' SIMILAR TO 'a%', 'abc' SIMILAR TO 'b%', 'abc' NOT SIMILAR TO '%(b|d)%', 'a.c' SIMILAR TO 'a.c', 'abc' SIMILAR TO 'a.c', 'a_c' SIMILAR TO 'a#_c' ESCAPE '#', 'abc' SIMILAR TO '[a-c]+', NULL SIMILAR TO 'a';
SELECT similar_to_escape('a%_(b|c)'), similar_to_escape('a#%', '#'), similar_to_escape('x', '');
SELECT regexp_match('foobarbequebaz', 'ba.'), regexp_match('abc', '(x)?(b)'), regexp_match('ABC', 'b', 'i'), regexp_match('abc', 'z');
SELECT regexp_match('abc', 'b', 'g');
SELECT 'abc' SIMILAR TO 'a' ESCAPE 'xy';
SELECT (SELECT 1, 2) FROM (SELECT 1) AS s;
SELECT * FROM ( SELECT 1) JOIN (SELECT 2) AS b ON true;

-- Records: row constructors, whole-row references, field selection, row
-- comparisons and information_schema._pg_expandarray (what pgjdbc's
-- DatabaseMetaData reads index keys with).

-- case: row_constructors (extended)
SELECT ROW(1, 'a'), (1, 'a', NULL), ROW(1.50, true), ROW();
SELECT ROW(NULL, '', 'a b', 'x,y', '(p)', 'q"r', E's\\t', 'plain', E'tab\there');
SELECT ROW(ROW(1, 'a b'), NULL, ARRAY[1, 2]);
SELECT (ROW(1, 2)).f1, (ROW(1, 'x'::text)).f2, ((1, 2)).f2;
SELECT ROW(1, 2)::text, pg_typeof(ROW(1, 2)), pg_typeof((1, 2));
SELECT to_jsonb(ROW(1, 'a')), row_to_json(ROW(1, NULL)), to_json((2, 'b'));

-- case: whole_row_references (extended)
CREATE TABLE t (id int PRIMARY KEY, name text, score numeric);
INSERT INTO t VALUES (1, 'ann', 1.50), (2, 'bo b', NULL), (3, '', 7);
SELECT s FROM (SELECT id, name FROM t) s ORDER BY s.id;
SELECT (s).name, (s).id FROM (SELECT id, name FROM t) AS s ORDER BY 2;
SELECT to_jsonb(t), row_to_json(t), to_json(t) FROM t ORDER BY id;
SELECT jsonb_agg(t ORDER BY id) FROM t;
SELECT jsonb_agg(s) FROM (SELECT id, score FROM t WHERE id < 3 ORDER BY id) s;
SELECT id FROM t WHERE t IS NOT NULL ORDER BY id;
SELECT (t).name FROM t WHERE (t).score > 1 ORDER BY (t).id;
SELECT id, (SELECT to_jsonb(t) ->> 'name') FROM t ORDER BY id;
SELECT count(DISTINCT s) FROM (SELECT id % 2 AS p, 'x' AS q FROM t) s;

-- case: records_in_aggregates_and_set_operations (extended)
CREATE TABLE t (id int PRIMARY KEY, name text);
INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, NULL);
SELECT json_agg(t ORDER BY id) FROM t;
SELECT json_agg(s) FROM (SELECT id, (id, name) AS r FROM t) s;
SELECT json_agg(s ORDER BY a NULLS FIRST) FROM (SELECT NULL::record AS s, 1 AS a UNION ALL SELECT ROW(2, 'x'::text), 2) q;
SELECT json_agg(s) FROM (SELECT 1 AS a WHERE false) s;
SELECT r FROM (SELECT ROW(1, 2) AS r UNION SELECT ROW(1, 2) UNION SELECT ROW(0, 5)) s ORDER BY r;
SELECT s, count(*) FROM (SELECT id % 2 AS m, 'k'::text AS k FROM t) s GROUP BY s ORDER BY s;
SELECT coalesce(NULL, ROW(1, 2)), CASE WHEN id > 1 THEN ROW(id, name) ELSE ROW(0, 'none'::text) END FROM t ORDER BY id;
SELECT CASE WHEN true THEN 1 ELSE abs(1) END, CASE WHEN true THEN 1 END, CASE WHEN true THEN 1 ELSE (SELECT 1 AS z) END;

-- case: field_selection_errors
CREATE TABLE t (id int PRIMARY KEY, name text);
SELECT (ROW(1, 2)).y;
SELECT (1).x;
SELECT (t).zz FROM t;
SELECT (s).zz FROM (SELECT 1 AS a) s;
SELECT '(1,2)'::record;
SELECT NULL::record IS NULL;
CREATE TABLE r (r record);

-- case: row_comparisons (extended)
SELECT (1, 2) = (1, 2), (1, 2) <> (1, 3), (1, NULL) = (1, NULL), (1, NULL) = (2, NULL), (1, NULL) <> (1, 3);
SELECT (1, 2) < (1, 3), (1, 2) <= (1, 2), (2, 0) > (1, 9), (1, NULL) < (1, 5), (1, 2) >= (1, 3), (1, 2) < (2, NULL);
SELECT ROW(1, 'a') = ROW(1, 'a'), (1, 'b') > (1, 'a'), (1, 2.5) = (1.0, 2.50);
SELECT (1, 2) IN ((1, 2), (3, 4)), (1, 2) NOT IN ((3, 4)), (1, NULL) IN ((1, 2)), (1, NULL) IN ((2, 2));
SELECT ROW(NULL, NULL) IS NULL, ROW(1, NULL) IS NULL, ROW(1, NULL) IS NOT NULL, ROW(1, 2) IS NOT NULL;
SELECT x = y, x < z, x IS NOT DISTINCT FROM y FROM (SELECT ROW(1, NULL::int) AS x, ROW(1, NULL::int) AS y, ROW(2, 0) AS z) s;
CREATE TABLE p (a int PRIMARY KEY, b text);
INSERT INTO p VALUES (1, 'x'), (2, 'y'), (3, NULL);
SELECT a, b FROM p WHERE (a, b) IN (SELECT a, b FROM p WHERE a > 1) ORDER BY a;
SELECT a FROM p WHERE (a, b) NOT IN (SELECT 1, 'x') ORDER BY a;
SELECT a FROM p WHERE (a, b) > (1, 'x') ORDER BY a;
SELECT a, (a, b) = ANY (SELECT a, b FROM p WHERE a < 3) FROM p ORDER BY a;
SELECT (1, 2) = (SELECT 1, 2), (1, 2) < (SELECT 1, 3), (1, 2) = (SELECT 1, 2 WHERE false), (1, 'a'::text) <> (SELECT 1, 'b'::text);
SELECT a, (a, b) = (SELECT p2.a, p2.b FROM p p2 WHERE p2.a = p.a) FROM p ORDER BY a;
SELECT a FROM p WHERE (a, b) = (SELECT max(a) - 1, 'y'::text FROM p);
SELECT (1, 2) = (SELECT g, g FROM generate_series(1, 2) g);
SELECT (1, 2) = (SELECT 1);
SELECT (1, 2) = (1, 2, 3);
SELECT (1, 2) IN (SELECT 1);
SELECT (1, 2) NOT IN (SELECT 1);
SELECT (1, 2) IN (SELECT 1, 2, 3);

-- case: pg_expandarray (extended)
SELECT information_schema._pg_expandarray(ARRAY[10, 20, 30]);
SELECT x, n FROM information_schema._pg_expandarray(ARRAY['a', NULL, 'c']) ORDER BY n;
SELECT * FROM information_schema._pg_expandarray('3 1 2'::int2vector) AS e;
SELECT (information_schema._pg_expandarray('3 1 2'::int2vector)).x, (information_schema._pg_expandarray('3 1 2'::int2vector)).n;
SELECT k, (k).x, (k).n FROM (SELECT information_schema._pg_expandarray(ARRAY[5, 7]) AS k) r WHERE (r.k).x = 7;
SELECT generate_series(1, 3) AS g, information_schema._pg_expandarray(ARRAY['a', 'b']) AS e;
SELECT information_schema._pg_expandarray(ARRAY[]::int[]), information_schema._pg_expandarray(NULL::int[]);
CREATE TABLE k (a int, b int, c int, PRIMARY KEY (c, a));
SELECT result.column_name, result.key_seq FROM (SELECT a.attname AS column_name, (information_schema._pg_expandarray(i.indkey)).n AS key_seq, information_schema._pg_expandarray(i.indkey) AS keys, a.attnum AS a_attnum FROM pg_catalog.pg_class ct JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid) JOIN pg_catalog.pg_index i ON (a.attrelid = i.indrelid) WHERE ct.relname = 'k' AND i.indisprimary) result WHERE result.a_attnum = (result.keys).x ORDER BY result.key_seq;

-- case: bit_operators (extended)
SELECT 5 & 3, 5 | 3, 5 # 3, ~5, 1 << 4, -16 >> 2, 1 << 33;
SELECT 5::int2 & 1::smallint, ~0::int2, 1::int8 << 40, 6::int8 & 3, 12::int8 | 3::int8 # 1;
SELECT pg_typeof(1::int2 & 1::int2), pg_typeof(1::int2 << 1), pg_typeof(1::int8 >> 1);

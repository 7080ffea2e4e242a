-- Single-table queries: projections, filters, ordering, aggregates, grouping.

-- case: select_without_from (extended)
SELECT 1;
SELECT 1 AS one, 'two' AS two, NULL AS nothing;
SELECT 1 + 2 * 3, (1 + 2) * 3, 7 / 2, 7 % 3, -7 / 2, 2 ^ 10;
SELECT 'a' || 'b' || 'c', 'x' || NULL;
SELECT true AND NULL, false AND NULL, true OR NULL, NOT true;
SELECT NULL = NULL, NULL IS NULL, 1 IS NOT NULL, NULL IS DISTINCT FROM 1, 2 IS NOT DISTINCT FROM 2;

-- case: select_star_and_columns (extended)
CREATE TABLE t (id int PRIMARY KEY, name text, score int);
INSERT INTO t VALUES (1, 'ann', 90), (2, 'bob', 75), (3, 'cyd', NULL);
SELECT * FROM t ORDER BY id;
SELECT name, id FROM t ORDER BY id;
SELECT t.name, t.* FROM t ORDER BY t.id;
SELECT x.id FROM t AS x ORDER BY x.id;
SELECT x.id FROM t x ORDER BY 1;
SELECT id * 2 AS double_id, score + 1 FROM t ORDER BY id;
SELECT t.nope FROM t;
SELECT u.id FROM t;

-- case: where_filters (extended)
CREATE TABLE t (id int PRIMARY KEY, name text, score int, active boolean);
INSERT INTO t VALUES (1, 'ann', 90, true), (2, 'bob', 75, false), (3, 'cyd', NULL, true), (4, 'dee', 60, NULL), (5, 'eve', 75, true);
SELECT id FROM t WHERE score > 70 ORDER BY id;
SELECT id FROM t WHERE score >= 75 AND active ORDER BY id;
SELECT id FROM t WHERE score < 70 OR active IS NULL ORDER BY id;
SELECT id FROM t WHERE NOT active ORDER BY id;
SELECT id FROM t WHERE active IS NOT TRUE ORDER BY id;
SELECT id FROM t WHERE score IS NULL;
SELECT id FROM t WHERE score <> 75 ORDER BY id;
SELECT id FROM t WHERE score != 75 ORDER BY id;
SELECT id FROM t WHERE id IN (1, 3, 5, 7) ORDER BY id;
SELECT id FROM t WHERE id NOT IN (1, 3) ORDER BY id;
SELECT id FROM t WHERE score NOT IN (75, NULL);
SELECT id FROM t WHERE id BETWEEN 2 AND 4 ORDER BY id;
SELECT id FROM t WHERE id NOT BETWEEN 2 AND 4 ORDER BY id;
SELECT id FROM t WHERE name > 'b' AND name < 'd' ORDER BY id;
SELECT id FROM t WHERE id = 2 OR id = 4 ORDER BY id;
SELECT id FROM t WHERE false;
SELECT id FROM t WHERE NULL;
SELECT id FROM t WHERE 1;

-- case: order_by (extended)
CREATE TABLE t (id int PRIMARY KEY, name text, score int);
INSERT INTO t VALUES (1, 'ann', 90), (2, 'bob', 75), (3, 'cyd', NULL), (4, 'Dee', 60), (5, 'eve', 75);
SELECT id, score FROM t ORDER BY score, id;
SELECT id, score FROM t ORDER BY score DESC, id;
SELECT id, score FROM t ORDER BY score NULLS FIRST, id;
SELECT id, score FROM t ORDER BY score DESC NULLS LAST, id DESC;
SELECT id, score FROM t ORDER BY score ASC NULLS LAST, id;
SELECT name FROM t ORDER BY name;
SELECT name FROM t ORDER BY lower(name) DESC;
SELECT id, score FROM t ORDER BY 2 DESC, 1;
SELECT id AS key, score FROM t ORDER BY key DESC;
SELECT id FROM t ORDER BY score * -1, id;
SELECT id FROM t ORDER BY 3;
SELECT id FROM t ORDER BY nope;

-- case: limit_offset (extended)
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t SELECT generate_series(1, 20);
SELECT id FROM t ORDER BY id LIMIT 3;
SELECT id FROM t ORDER BY id LIMIT 3 OFFSET 5;
SELECT id FROM t ORDER BY id OFFSET 18;
SELECT id FROM t ORDER BY id DESC LIMIT 2;
SELECT id FROM t ORDER BY id LIMIT 0;
SELECT id FROM t ORDER BY id LIMIT ALL OFFSET 19;
SELECT id FROM t ORDER BY id LIMIT NULL OFFSET 18;
SELECT id FROM t ORDER BY id OFFSET 2 ROWS FETCH FIRST 2 ROWS ONLY;
SELECT id FROM t ORDER BY id LIMIT -1;
SELECT id FROM t ORDER BY id OFFSET -1;
SELECT id FROM t ORDER BY id LIMIT 100 OFFSET 100;

-- case: distinct (extended)
CREATE TABLE t (id int PRIMARY KEY, a text, b int);
INSERT INTO t VALUES (1, 'x', 1), (2, 'x', 1), (3, 'y', 2), (4, NULL, NULL), (5, NULL, NULL), (6, 'x', 2);
SELECT DISTINCT a FROM t ORDER BY a;
SELECT DISTINCT a, b FROM t ORDER BY a, b;
SELECT DISTINCT b FROM t ORDER BY b DESC NULLS LAST;
SELECT DISTINCT ON (a) a, id FROM t ORDER BY a, id DESC;
SELECT count(*) FROM (SELECT DISTINCT a FROM t) AS d;

-- case: aggregates_basic (extended)
CREATE TABLE t (id int PRIMARY KEY, grp text, n int, f float8, price numeric);
INSERT INTO t VALUES (1, 'a', 10, 1.5, 9.99), (2, 'a', 20, 2.5, 0.01), (3, 'b', NULL, NULL, NULL), (4, 'b', 5, -1, 100), (5, 'c', 7, 0.25, 3.333);
SELECT count(*), count(n), count(DISTINCT grp), sum(n), avg(n), min(n), max(n) FROM t;
SELECT sum(f), avg(f), min(f), max(f) FROM t;
SELECT sum(price), avg(price), min(price), max(price) FROM t;
SELECT min(grp), max(grp) FROM t;
SELECT count(*) FROM t WHERE false;
SELECT sum(n), avg(n), min(n), max(n), count(n) FROM t WHERE false;
SELECT string_agg(grp, ',' ORDER BY id) FROM t;
SELECT string_agg(grp, '|' ORDER BY id DESC) FROM t;
SELECT string_agg(DISTINCT grp, ',' ORDER BY grp) FROM t;
SELECT bool_and(n > 0), bool_or(n > 15), every(n > 6) FROM t;
SELECT count(*) FILTER (WHERE n > 6), sum(n) FILTER (WHERE grp = 'a') FROM t;
SELECT array_agg(id ORDER BY id) FROM t;

-- case: aggregate_result_types
CREATE TABLE t (i2 smallint, i4 int, i8 bigint, f4 real, f8 float8, num numeric);
INSERT INTO t VALUES (1, 2, 3, 1.5, 2.5, 3.5), (4, 5, 6, 4.5, 5.5, 6.5);
SELECT sum(i2), sum(i4), sum(i8), sum(f4), sum(f8), sum(num) FROM t;
SELECT avg(i2), avg(i4), avg(i8), avg(f4), avg(f8), avg(num) FROM t;
SELECT min(i2), max(i8), min(f4), max(num) FROM t;
SELECT count(*), count(i4) FROM t;

-- case: aggregate_overflow
CREATE TABLE t (n bigint);
INSERT INTO t VALUES (9223372036854775807), (1);
SELECT sum(n) FROM t;
SELECT avg(n) FROM t;
SELECT max(n) + 1 FROM t;

-- case: group_by (extended)
CREATE TABLE t (id int PRIMARY KEY, grp text, sub int, n int);
INSERT INTO t VALUES (1, 'a', 1, 10), (2, 'a', 1, 20), (3, 'a', 2, 30), (4, 'b', 1, 5), (5, NULL, 1, 1), (6, NULL, 2, 2);
SELECT grp, count(*), sum(n) FROM t GROUP BY grp ORDER BY grp;
SELECT grp, sub, count(*) FROM t GROUP BY grp, sub ORDER BY grp NULLS FIRST, sub;
SELECT grp, max(n) - min(n) AS spread FROM t GROUP BY grp ORDER BY spread DESC, grp;
SELECT grp FROM t GROUP BY grp ORDER BY count(*) DESC, grp;
SELECT grp, count(*) FROM t GROUP BY 1 ORDER BY 1;
SELECT upper(grp) AS g, count(*) FROM t GROUP BY upper(grp) ORDER BY g;
SELECT sub * 10 AS bucket, sum(n) FROM t GROUP BY bucket ORDER BY bucket;
SELECT grp, n FROM t GROUP BY grp ORDER BY grp;
SELECT n, count(*) FROM t GROUP BY grp;

-- case: having (extended)
CREATE TABLE t (id int PRIMARY KEY, grp text, n int);
INSERT INTO t VALUES (1, 'a', 10), (2, 'a', 20), (3, 'b', 5), (4, 'c', 1), (5, 'c', 2), (6, 'c', 3);
SELECT grp, count(*) FROM t GROUP BY grp HAVING count(*) > 1 ORDER BY grp;
SELECT grp, sum(n) FROM t GROUP BY grp HAVING sum(n) >= 6 AND grp <> 'a' ORDER BY grp;
SELECT grp FROM t GROUP BY grp HAVING max(n) < 10 ORDER BY grp;
SELECT count(*) FROM t HAVING count(*) > 100;
SELECT count(*) FROM t HAVING count(*) > 1;
SELECT grp FROM t GROUP BY grp HAVING n > 1;

-- case: aggregate_errors
CREATE TABLE t (id int PRIMARY KEY, n int, s text);
INSERT INTO t VALUES (1, 1, 'a');
SELECT id, count(*) FROM t;
SELECT sum(s) FROM t;
SELECT count(*) FROM t WHERE count(*) > 1;
SELECT sum(count(*)) FROM t;
SELECT nosuchagg(n) FROM t;
SELECT avg('x') FROM t;

-- case: expressions_on_columns
CREATE TABLE t (id int PRIMARY KEY, a int, b int, s text);
INSERT INTO t VALUES (1, 7, 2, 'Hello'), (2, -3, 4, NULL), (3, 0, 0, 'x');
SELECT id, a + b, a - b, a * b, a / NULLIF(b, 0), a % NULLIF(b, 0) FROM t ORDER BY id;
SELECT id, abs(a), -a, a > b, a = b, greatest(a, b), least(a, b) FROM t ORDER BY id;
SELECT id, coalesce(s, 'none'), s IS NULL, length(s) FROM t ORDER BY id;
SELECT id, a::float8 / 3 AS third FROM t ORDER BY id;
SELECT id, (a > 0) = (b > 0) AS same_sign FROM t ORDER BY id;

-- case: select_from_values
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(n, s) ORDER BY n DESC;
SELECT column1, column2 FROM (VALUES (1, 'a')) AS v;
VALUES (1, 'one'), (2, 'two');

-- case: large_scan_with_filters
CREATE TABLE t (id int PRIMARY KEY, bucket int, label text);
INSERT INTO t SELECT g, g % 10, 'label-' || (g % 7) FROM generate_series(1, 5000) AS g;
SELECT bucket, count(*), min(id), max(id) FROM t GROUP BY bucket ORDER BY bucket;
SELECT label, count(*) FROM t WHERE bucket IN (1, 2) GROUP BY label ORDER BY label;
SELECT id FROM t WHERE id > 4990 ORDER BY id DESC;
SELECT count(*) FROM t WHERE label = 'label-3' AND bucket = 3;
SELECT id FROM t ORDER BY bucket DESC, id DESC LIMIT 3;

-- case: index_scans_agree_with_table_scans
CREATE TABLE t (id int PRIMARY KEY, k text, n int);
INSERT INTO t SELECT g, 'k' || (g % 50), g % 13 FROM generate_series(1, 1000) AS g;
CREATE INDEX t_k ON t (k);
CREATE INDEX t_n ON t (n);
SELECT count(*), min(id), max(id) FROM t WHERE k = 'k7';
SELECT count(*) FROM t WHERE n = 5;
SELECT count(*) FROM t WHERE n > 10;
SELECT count(*) FROM t WHERE n >= 3 AND n < 5;
SELECT id FROM t WHERE k = 'k7' AND n = 0 ORDER BY id;
UPDATE t SET k = 'moved' WHERE k = 'k7';
SELECT count(*) FROM t WHERE k = 'k7';
SELECT count(*) FROM t WHERE k = 'moved';
DELETE FROM t WHERE n = 5;
SELECT count(*) FROM t WHERE n = 5;

-- case: top_n_with_projection (extended)
CREATE TABLE ev (id int PRIMARY KEY, grp int, doc jsonb);
INSERT INTO ev SELECT g, g % 7, jsonb_build_object('site', (g * 37) % 11, 'temp', (g % 13) * 1.5, 'tag', CASE WHEN g % 5 = 0 THEN NULL ELSE 't' || (g % 5) END) FROM generate_series(1, 300) g;
SELECT id, doc->>'site' AS site, (doc->>'temp')::float AS temp FROM ev ORDER BY grp DESC, id LIMIT 5;
SELECT id, doc->>'tag' AS tag FROM ev ORDER BY doc->>'tag' NULLS FIRST, id DESC LIMIT 4 OFFSET 3;
SELECT id, grp * 10 + 1 AS k, upper(doc->>'tag') FROM ev ORDER BY k DESC, id LIMIT 3 OFFSET 100;
SELECT id, (doc->>'temp')::float * 2 AS t2 FROM ev ORDER BY t2 DESC, id LIMIT 6;
SELECT id FROM ev ORDER BY grp, id LIMIT 0;
SELECT count(*) FROM (SELECT id, doc->>'site' FROM ev ORDER BY grp, id LIMIT 1000) s;
SELECT grp, count(*) AS n, max(doc->>'site') FROM ev GROUP BY grp ORDER BY n DESC, grp LIMIT 3;
SELECT id, doc->>'site' FROM ev ORDER BY grp, id LIMIT 2 OFFSET 298;

-- Subqueries (scalar, IN, EXISTS, correlated, derived tables) and CTEs.

-- case: scalar_subquery (extended)
CREATE TABLE t (id int PRIMARY KEY, n int);
INSERT INTO t VALUES (1, 10), (2, 20), (3, 30);
SELECT (SELECT max(n) FROM t);
SELECT id, n, (SELECT avg(n) FROM t) AS mean FROM t ORDER BY id;
SELECT id FROM t WHERE n > (SELECT avg(n) FROM t);
SELECT id FROM t WHERE n = (SELECT n FROM t WHERE id = 99);
SELECT (SELECT n FROM t);
SELECT (SELECT id, n FROM t WHERE id = 1);

-- case: in_subquery (extended)
CREATE TABLE a (id int PRIMARY KEY, tag text);
CREATE TABLE b (id int PRIMARY KEY, a_id int);
INSERT INTO a VALUES (1, 'x'), (2, 'y'), (3, 'z');
INSERT INTO b VALUES (10, 1), (11, 1), (12, 3), (13, NULL);
SELECT id FROM a WHERE id IN (SELECT a_id FROM b) ORDER BY id;
SELECT id FROM a WHERE id NOT IN (SELECT a_id FROM b WHERE a_id IS NOT NULL) ORDER BY id;
SELECT id FROM a WHERE id NOT IN (SELECT a_id FROM b);
SELECT id, id IN (SELECT a_id FROM b) AS referenced FROM a ORDER BY id;
SELECT id FROM a WHERE (id, tag) IN (SELECT 1, 'x');
SELECT id FROM a WHERE id = ANY (SELECT a_id FROM b) ORDER BY id;
SELECT id FROM a WHERE id > ALL (SELECT a_id FROM b WHERE a_id IS NOT NULL);

-- case: exists_subquery (extended)
CREATE TABLE a (id int PRIMARY KEY, tag text);
CREATE TABLE b (id int PRIMARY KEY, a_id int);
INSERT INTO a VALUES (1, 'x'), (2, 'y'), (3, 'z');
INSERT INTO b VALUES (10, 1), (11, 1), (12, 3);
SELECT id FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.a_id = a.id) ORDER BY id;
SELECT id FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.a_id = a.id);
SELECT EXISTS (SELECT 1 FROM b WHERE a_id = 3), EXISTS (SELECT 1 FROM b WHERE a_id = 2);

-- case: correlated_subquery (extended)
CREATE TABLE a (id int PRIMARY KEY, tag text);
CREATE TABLE b (id int PRIMARY KEY, a_id int, amount int);
INSERT INTO a VALUES (1, 'x'), (2, 'y'), (3, 'z');
INSERT INTO b VALUES (10, 1, 5), (11, 1, 7), (12, 3, 1);
SELECT id, (SELECT count(*) FROM b WHERE b.a_id = a.id) AS n FROM a ORDER BY id;
SELECT id, (SELECT sum(amount) FROM b WHERE b.a_id = a.id) AS total FROM a ORDER BY id;
SELECT b.id FROM b WHERE amount = (SELECT max(amount) FROM b AS b2 WHERE b2.a_id = b.a_id) ORDER BY b.id;
UPDATE a SET tag = tag || (SELECT count(*) FROM b WHERE b.a_id = a.id);
SELECT id, tag FROM a ORDER BY id;
DELETE FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.a_id = a.id);
SELECT id FROM a ORDER BY id;

-- case: derived_tables (extended)
CREATE TABLE t (id int PRIMARY KEY, grp text, n int);
INSERT INTO t VALUES (1, 'a', 1), (2, 'a', 2), (3, 'b', 3), (4, 'c', 4);
SELECT grp, total FROM (SELECT grp, sum(n) AS total FROM t GROUP BY grp) AS s WHERE total > 2 ORDER BY grp;
SELECT max(total) FROM (SELECT sum(n) AS total FROM t GROUP BY grp) s;
SELECT * FROM (SELECT id, n * 2 AS d FROM t) AS x ORDER BY d DESC LIMIT 2;
SELECT * FROM (SELECT 1) AS one;
SELECT * FROM (SELECT id FROM t);

-- case: ctes (extended)
CREATE TABLE t (id int PRIMARY KEY, grp text, n int);
INSERT INTO t VALUES (1, 'a', 1), (2, 'a', 2), (3, 'b', 3), (4, 'c', 4);
WITH s AS (SELECT grp, sum(n) AS total FROM t GROUP BY grp) SELECT grp, total FROM s ORDER BY total DESC, grp;
WITH big AS (SELECT id FROM t WHERE n > 1), bigger AS (SELECT id FROM big WHERE id > 2) SELECT id FROM bigger ORDER BY id;
WITH s (k, v) AS (VALUES (1, 'one'), (2, 'two')) SELECT k, v FROM s ORDER BY k;
WITH s AS (SELECT id FROM t) SELECT t.id, t.n FROM t JOIN s ON s.id = t.id WHERE t.grp = 'a' ORDER BY t.id;
WITH s AS MATERIALIZED (SELECT count(*) AS c FROM t) SELECT c FROM s;
WITH s AS (SELECT 1 AS x) SELECT nope FROM s;

-- case: recursive_cte
WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r;
CREATE TABLE tree (id int PRIMARY KEY, parent int);
INSERT INTO tree VALUES (1, NULL), (2, 1), (3, 1), (4, 2), (5, 4);
WITH RECURSIVE down AS (SELECT id, 0 AS depth FROM tree WHERE id = 2 UNION ALL SELECT tree.id, depth + 1 FROM tree JOIN down ON tree.parent = down.id) SELECT id, depth FROM down ORDER BY id;

-- case: recursive_cte_union_and_errors
CREATE TABLE edge (a int, b int, PRIMARY KEY (a, b));
INSERT INTO edge VALUES (1, 2), (2, 3), (3, 1), (3, 4);
WITH RECURSIVE reach (n) AS (SELECT 1 UNION SELECT edge.b FROM edge JOIN reach ON edge.a = reach.n) SELECT n FROM reach ORDER BY n;
WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n * 2 FROM r WHERE n < 100), s AS (SELECT count(*) AS c FROM r) SELECT c, (SELECT max(n) FROM r) FROM s;
WITH RECURSIVE r (n) AS (SELECT 1::bigint UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n, pg_typeof(n) FROM r;
WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1.5 FROM r WHERE n < 3) SELECT n FROM r;
WITH RECURSIVE r (n) AS (SELECT n FROM r) SELECT n FROM r;
WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1, n FROM r) SELECT n FROM r;
WITH RECURSIVE r (a, b, c) AS (SELECT 1, 2) SELECT * FROM r;

-- case: data_modifying_cte
CREATE TABLE src (id int PRIMARY KEY, v text);
CREATE TABLE archive (id int PRIMARY KEY, v text);
INSERT INTO src VALUES (1, 'a'), (2, 'b'), (3, 'c');
WITH moved AS (DELETE FROM src WHERE id < 3 RETURNING id, v) INSERT INTO archive SELECT id, v FROM moved;
SELECT id FROM src ORDER BY id;
SELECT id, v FROM archive ORDER BY id;
WITH ins AS (INSERT INTO src VALUES (4, 'd') RETURNING id) SELECT count(*) FROM ins;

-- case: data_modifying_cte_forms
CREATE TABLE src (id int PRIMARY KEY, v text, n numeric, at timestamptz);
CREATE TABLE log (id int, what text);
INSERT INTO src VALUES (1, 'it''s', 1.50, '2024-01-02 03:04:05+00'), (2, NULL, -2, NULL);
WITH up AS (UPDATE src SET n = n * 2 WHERE id = 1 RETURNING id, v, n, at) SELECT * FROM up;
WITH gone AS (DELETE FROM src WHERE id = 99 RETURNING id) SELECT count(*), max(id) FROM gone;
WITH a AS (INSERT INTO log VALUES (1, 'a') RETURNING *), b AS (DELETE FROM src WHERE id = 2 RETURNING id, v) SELECT a.what, b.id, b.v FROM a, b;
WITH quiet AS (INSERT INTO log VALUES (2, 'quiet')) SELECT count(*) FROM src;
WITH quiet AS (INSERT INTO log VALUES (3, 'quiet')) SELECT * FROM quiet;
WITH r(k) AS (INSERT INTO log VALUES (4, 'renamed') RETURNING id) INSERT INTO src (id, v) SELECT k + 10, 'copied' FROM r RETURNING id, v;
SELECT * FROM log ORDER BY id;
SELECT id, v, n FROM src ORDER BY id;

-- case: set_operations
CREATE TABLE a (n int);
CREATE TABLE b (n int);
INSERT INTO a VALUES (1), (2), (2), (3);
INSERT INTO b VALUES (2), (3), (4);
SELECT n FROM a UNION SELECT n FROM b ORDER BY n;
SELECT n FROM a UNION ALL SELECT n FROM b ORDER BY n;
SELECT n FROM a INTERSECT SELECT n FROM b ORDER BY n;
SELECT n FROM a EXCEPT SELECT n FROM b ORDER BY n;
SELECT n FROM a EXCEPT ALL SELECT n FROM b ORDER BY n;
SELECT 1 AS x UNION SELECT 'a';
SELECT 1, 2 UNION SELECT 3;

-- case: set_operation_literal_types (extended)
SELECT 1 AS n UNION SELECT '2' ORDER BY 1;
SELECT 'a' AS s UNION ALL SELECT 'b' ORDER BY 1;
SELECT 'x' UNION SELECT 1.5;
SELECT '{"a": [1, 2]}'::jsonb -> 5000000000;
SELECT '{"a": [1, 2]}'::jsonb -> 'a' -> 1::smallint;

-- case: subquery_errors
CREATE TABLE t (id int PRIMARY KEY);
SELECT id FROM t WHERE id IN (SELECT nope FROM t);
SELECT id FROM t WHERE id IN (SELECT id, id FROM t);
SELECT * FROM (SELECT 1) AS s(a, b);

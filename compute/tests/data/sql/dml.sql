-- DML: INSERT, UPDATE, DELETE, upserts and RETURNING, with their command tags.

-- case: insert_tags (extended)
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a');
INSERT INTO t VALUES (2, 'b'), (3, 'c'), (4, 'd');
INSERT INTO t (v, id) VALUES ('e', 5);
INSERT INTO t (id) VALUES (6);
SELECT id, v FROM t ORDER BY id;

-- case: insert_column_errors
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t (id, nope) VALUES (1, 'x');
INSERT INTO t VALUES (1, 'x', 'extra');
INSERT INTO t (id, v) VALUES (1);
INSERT INTO t (id) VALUES (1, 'x');
INSERT INTO t (id, id) VALUES (1, 2);
INSERT INTO nosuch VALUES (1);
SELECT count(*) FROM t;

-- case: insert_type_coercion
CREATE TABLE t (i int, b bigint, f float8, n numeric, s text, d date, j jsonb, ok boolean);
INSERT INTO t VALUES ('7', 8, 9, 10, 11, '2024-02-29', '[1, "x"]', 'yes');
INSERT INTO t VALUES (1.5, 2.5, '3.25', '4.125', 5.5, '2024-03-01', '{"a": null}', 'off');
SELECT * FROM t ORDER BY i;
INSERT INTO t (i) VALUES ('seven');
INSERT INTO t (i) VALUES (3000000000);
INSERT INTO t (d) VALUES ('2024-02-30');
INSERT INTO t (j) VALUES ('{bad json}');
INSERT INTO t (ok) VALUES ('maybe');
INSERT INTO t (i) VALUES (true);

-- case: insert_expressions
CREATE TABLE t (id int PRIMARY KEY, v text, n int);
INSERT INTO t VALUES (1 + 1, 'a' || 'b', 6 * 7);
INSERT INTO t VALUES (abs(-3), upper('x'), length('four'));
INSERT INTO t VALUES (10, NULL, NULL::int);
SELECT id, v, n FROM t ORDER BY id;

-- case: insert_select (extended)
CREATE TABLE src (id int PRIMARY KEY, v text);
CREATE TABLE dst (id int PRIMARY KEY, v text);
INSERT INTO src VALUES (1, 'a'), (2, 'b'), (3, 'c');
INSERT INTO dst SELECT id, v FROM src WHERE id < 3;
INSERT INTO dst (id, v) SELECT id + 10, upper(v) FROM src;
INSERT INTO dst SELECT * FROM src WHERE false;
INSERT INTO dst SELECT id, v FROM src;
SELECT id, v FROM dst ORDER BY id;

-- case: insert_select_constant
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT 1, 'one';
INSERT INTO t SELECT g, 'gen' FROM generate_series(2, 5) AS g;
SELECT id, v FROM t ORDER BY id;

-- case: insert_duplicate_key
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a');
INSERT INTO t VALUES (1, 'b');
INSERT INTO t VALUES (2, 'b'), (2, 'c');
SELECT id, v FROM t ORDER BY id;

-- case: insert_text_key_duplicate
CREATE TABLE t (id text PRIMARY KEY, n int);
INSERT INTO t VALUES ('k1', 1);
INSERT INTO t VALUES ('k1', 2);
INSERT INTO t VALUES ('with space', 3), ('with space', 4);

-- case: insert_not_null_violation
CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL, n int);
INSERT INTO t VALUES (1, NULL, 5);
INSERT INTO t (id, n) VALUES (2, 6);
INSERT INTO t VALUES (NULL, 'x', 7);
INSERT INTO t VALUES (3, 'ok', NULL);
UPDATE t SET v = NULL WHERE id = 3;
SELECT id, v, n FROM t;

-- case: insert_returning (extended)
CREATE TABLE t (id int PRIMARY KEY, v text, n int DEFAULT 100);
INSERT INTO t (id, v) VALUES (1, 'a') RETURNING *;
INSERT INTO t (id, v) VALUES (2, 'b'), (3, 'c') RETURNING id, n;
INSERT INTO t (id, v) VALUES (4, 'd') RETURNING id * 2 AS doubled, upper(v), n + 1;
INSERT INTO t (id, v) VALUES (5, 'e') RETURNING nope;
SELECT count(*) FROM t;

-- case: insert_returning_default_now
CREATE TABLE t (id int PRIMARY KEY, at timestamptz DEFAULT now());
INSERT INTO t (id) VALUES (1) RETURNING id, at IS NOT NULL AS has_at;

-- case: on_conflict_do_nothing (extended)
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a');
INSERT INTO t VALUES (1, 'b') ON CONFLICT DO NOTHING;
INSERT INTO t VALUES (1, 'b'), (2, 'b') ON CONFLICT DO NOTHING;
INSERT INTO t VALUES (2, 'c') ON CONFLICT (id) DO NOTHING;
INSERT INTO t VALUES (3, 'c'), (3, 'd') ON CONFLICT DO NOTHING;
INSERT INTO t VALUES (4, 'x') ON CONFLICT DO NOTHING RETURNING id;
INSERT INTO t VALUES (4, 'y') ON CONFLICT DO NOTHING RETURNING id;
SELECT id, v FROM t ORDER BY id;

-- case: on_conflict_do_update (extended)
CREATE TABLE t (id int PRIMARY KEY, v text, hits int NOT NULL DEFAULT 0);
INSERT INTO t VALUES (1, 'a', 0);
INSERT INTO t VALUES (1, 'b', 0) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, hits = t.hits + 1;
INSERT INTO t VALUES (1, 'c', 0), (2, 'z', 0) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, hits = t.hits + 1;
INSERT INTO t AS cur VALUES (2, 'y', 5) ON CONFLICT (id) DO UPDATE SET hits = cur.hits + EXCLUDED.hits RETURNING *;
SELECT id, v, hits FROM t ORDER BY id;

-- case: on_conflict_do_update_where
CREATE TABLE events (id text PRIMARY KEY, payload jsonb NOT NULL, position bigint);
INSERT INTO events VALUES ('a', '{"v": 1}', 10), ('b', '{"v": 1}', 10);
INSERT INTO events VALUES ('a', '{"v": 2}', 11)
    ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload, position = EXCLUDED.position
    WHERE events.position < EXCLUDED.position;
INSERT INTO events VALUES ('b', '{"v": 2}', 9)
    ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload, position = EXCLUDED.position
    WHERE events.position < EXCLUDED.position;
INSERT INTO events VALUES ('a', '{"v": 3}', 12), ('b', '{"v": 3}', 5), ('c', '{"v": 3}', 1)
    ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload, position = EXCLUDED.position
    WHERE events.position < EXCLUDED.position
    RETURNING id, position;
SELECT id, payload, position FROM events ORDER BY id;

-- case: on_conflict_same_row_twice
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a'), (1, 'b') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;
SELECT count(*) FROM t;

-- case: on_conflict_unique_indexes
CREATE TABLE t (a int, b int, email text UNIQUE, n int, PRIMARY KEY (a, b));
INSERT INTO t VALUES (1, 1, 'x@y', 0);
INSERT INTO t VALUES (2, 2, 'x@y', 0) ON CONFLICT DO NOTHING;
INSERT INTO t VALUES (2, 2, 'x@y', 0) ON CONFLICT (email) DO UPDATE SET n = t.n + 1 RETURNING a, b, n;
INSERT INTO t VALUES (1, 1, 'other', 5) ON CONFLICT (b, a) DO UPDATE SET n = EXCLUDED.n RETURNING email, n;
INSERT INTO t VALUES (3, 3, NULL, 0), (4, 4, NULL, 0) ON CONFLICT (email) DO NOTHING;
INSERT INTO t VALUES (1, 1, 'new@y', 0) ON CONFLICT (email) DO NOTHING;
SELECT * FROM t ORDER BY a;

-- case: on_conflict_on_constraint
CREATE TABLE t (id int PRIMARY KEY, email text UNIQUE, n int);
CREATE UNIQUE INDEX t_n ON t (n);
INSERT INTO t VALUES (1, 'x@y', 0);
INSERT INTO t VALUES (2, 'x@y', 5) ON CONFLICT ON CONSTRAINT t_email_key DO UPDATE SET n = t.n + 1 RETURNING id, n;
INSERT INTO t VALUES (1, 'z@y', 7) ON CONFLICT ON CONSTRAINT t_pkey DO UPDATE SET email = EXCLUDED.email RETURNING *;
INSERT INTO t VALUES (3, 'z@y', 9) ON CONFLICT ON CONSTRAINT t_email_key DO NOTHING;
INSERT INTO t VALUES (4, 'w@y', 9) ON CONFLICT ON CONSTRAINT t_n DO NOTHING;
INSERT INTO t VALUES (4, 'w@y', 9) ON CONFLICT ON CONSTRAINT nope DO NOTHING;
INSERT INTO t VALUES (4, 'z@y', 9) ON CONFLICT ON CONSTRAINT t_pkey DO NOTHING;
SELECT * FROM t ORDER BY id;

-- case: on_conflict_errors
CREATE TABLE t (id int PRIMARY KEY, v text, u int);
CREATE UNIQUE INDEX t_u ON t (u);
INSERT INTO t VALUES (1, 'a', 1) ON CONFLICT (v) DO NOTHING;
INSERT INTO t VALUES (1, 'a', 1) ON CONFLICT (nope) DO NOTHING;
INSERT INTO t VALUES (1, 'a', 1) ON CONFLICT DO UPDATE SET v = 'x';
INSERT INTO t VALUES (1, 'a', 1) ON CONFLICT (id) DO UPDATE SET id = 2, id = 3;
INSERT INTO t VALUES (1, 'a', 1) ON CONFLICT (u) DO UPDATE SET v = EXCLUDED.v || '!';
INSERT INTO t VALUES (2, 'b', 1) ON CONFLICT (u) DO UPDATE SET v = EXCLUDED.v || '!';
INSERT INTO t VALUES (3, 'c', 1) ON CONFLICT (id) DO NOTHING;
SELECT id, v, u FROM t ORDER BY id;

-- case: on_conflict_expression_index
CREATE TABLE events (id text PRIMARY KEY, payload jsonb NOT NULL);
CREATE UNIQUE INDEX events_ext ON events ((payload->>'ext'));
INSERT INTO events VALUES ('a', '{"ext": "1"}');
INSERT INTO events VALUES ('b', '{"ext": "1"}') ON CONFLICT ((payload->>'ext')) DO UPDATE SET payload = EXCLUDED.payload || '{"seen": true}';
SELECT id, payload FROM events ORDER BY id;

-- case: on_conflict_expression_do_nothing (extended)
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, payload jsonb);
CREATE UNIQUE INDEX users_lower_name ON users (lower(name));
CREATE UNIQUE INDEX users_ext ON users ((payload->>'ext'));
INSERT INTO users VALUES (1, 'Ann', '{"ext": "a"}');
INSERT INTO users VALUES (2, 'ann', '{"ext": "b"}') ON CONFLICT (lower(name)) DO NOTHING;
INSERT INTO users VALUES (2, 'ANN', '{"ext": "c"}') ON CONFLICT ((lower(name))) DO NOTHING RETURNING id;
INSERT INTO users VALUES (3, 'Bob', '{"ext": "a"}') ON CONFLICT ( ( payload ->> 'ext' ) ) DO NOTHING;
INSERT INTO users VALUES (4, 'Cy', NULL), (5, 'cy', NULL), (6, 'Dee', NULL) ON CONFLICT (lower(name)) DO NOTHING RETURNING id, name;
INSERT INTO users VALUES (7, 'Eve', '{"ext": "a"}') ON CONFLICT DO NOTHING;
INSERT INTO users VALUES (7, 'Ann', '{"ext": "z"}') ON CONFLICT ((payload->>'ext')) DO NOTHING;
SELECT id, name, payload FROM users ORDER BY id;

-- case: on_conflict_expression_no_match (extended)
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, payload jsonb);
CREATE UNIQUE INDEX users_lower_name ON users (lower(name));
INSERT INTO users VALUES (1, 'Ann', '{}') ON CONFLICT (upper(name)) DO NOTHING;
INSERT INTO users VALUES (1, 'Ann', '{}') ON CONFLICT (lower(name), id) DO NOTHING;
INSERT INTO users VALUES (1, 'Ann', '{}') ON CONFLICT ((payload->>'ext')) DO UPDATE SET name = 'x';
INSERT INTO users VALUES (1, 'Ann', '{}') ON CONFLICT ((nosuch || 'x')) DO NOTHING;
INSERT INTO users VALUES (1, 'Ann', '{}') ON CONFLICT ((payload->>)) DO NOTHING;
INSERT INTO users VALUES (1, 'Ann', '{}') ON CONFLICT (payload->>'ext') DO NOTHING;
INSERT INTO users VALUES (1, 'Ann', '{}') ON CONFLICT (lower(name) || 'x') DO NOTHING;
INSERT INTO users VALUES (1, 'Ann', '{}') ON CONFLICT ((id)) DO NOTHING RETURNING id;
SELECT id, name FROM users ORDER BY id;

-- case: on_conflict_multi_expression_index (extended)
CREATE TABLE m (id int PRIMARY KEY, a int, b text, c int);
CREATE UNIQUE INDEX m_ab ON m ((a + 1), lower(b));
CREATE UNIQUE INDEX m_ac ON m (a, (c * 2));
INSERT INTO m VALUES (1, 1, 'X', 1);
INSERT INTO m VALUES (2, 1, 'x', 2) ON CONFLICT (lower(b), (a+1)) DO UPDATE SET c = m.c + excluded.c RETURNING *;
INSERT INTO m VALUES (2, 1, 'x', 2) ON CONFLICT ((a+1)) DO NOTHING;
INSERT INTO m VALUES (2, 1, 'x', 2) ON CONFLICT ((1+a), lower(b)) DO NOTHING;
INSERT INTO m VALUES (2, 1, 'x', 2) ON CONFLICT (((a+1)), (lower(b)), lower(b)) DO NOTHING;
INSERT INTO m VALUES (3, 1, 'y', 3) ON CONFLICT (a, (c*2)) DO UPDATE SET b = 'z' RETURNING *;
INSERT INTO m VALUES (4, 2, 'q', 9), (5, 2, 'Q', 8) ON CONFLICT (lower(b), (a + 1)) DO UPDATE SET c = excluded.c;
INSERT INTO m VALUES (6, 1, 'w', 3) ON CONFLICT (lower(b), (a + 1)) DO NOTHING;
INSERT INTO m VALUES (7, 1, 'z', 1), (8, 1, 'Z', 1) ON CONFLICT (lower(b), (a + 1)) DO UPDATE SET c = excluded.c;
SELECT id, a, b, c FROM m ORDER BY id;

-- case: on_conflict_index_predicate (extended)
CREATE TABLE t (id int PRIMARY KEY, a int, b text, n int);
CREATE UNIQUE INDEX t_a ON t (a);
CREATE UNIQUE INDEX t_lb ON t (lower(b));
INSERT INTO t VALUES (1, 1, 'X', 0);
INSERT INTO t VALUES (2, 1, 'y', 0) ON CONFLICT (a) WHERE n > 0 DO NOTHING;
INSERT INTO t VALUES (2, 1, 'y', 5) ON CONFLICT (a) WHERE n>-1 AND b IS NOT NULL DO UPDATE SET n = t.n + excluded.n WHERE t.n = 0 RETURNING *;
INSERT INTO t AS cur VALUES (3, 1, 'y', 1) ON CONFLICT (a) WHERE cur.n<-1 DO UPDATE SET n = cur.n + 1 RETURNING id, n;
INSERT INTO t VALUES (4, 4, 'x', 1) ON CONFLICT (lower(b)) WHERE lower(b) <> '' DO UPDATE SET n = 9 RETURNING id, n;
INSERT INTO t VALUES (5, 5, 'q', 1) ON CONFLICT (id) WHERE n DO NOTHING;
INSERT INTO t VALUES (5, 5, 'q', 1) ON CONFLICT (id) WHERE NULL DO NOTHING;
INSERT INTO t VALUES (5, 6, 'r', 1) ON CONFLICT (id) WHERE random() > 2 DO NOTHING;
INSERT INTO t VALUES (6, 6, 'r', 1) ON CONFLICT (id)
  WHERE n > 0
  DO NOTHING;
INSERT INTO t VALUES (6, 7, 's', 2) ON CONFLICT (id) WHERE (n > 0) DO UPDATE SET n = excluded.n;
INSERT INTO t VALUES (7, 7, 't', 3) ON CONFLICT (a) WHERE true DO NOTHING;
SELECT * FROM t ORDER BY id;

-- case: on_conflict_index_predicate_errors (extended)
CREATE TABLE t (id int PRIMARY KEY, a int, n int);
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (a) WHERE n > 0 DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE nope > 0 DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE excluded.n > 0 DO NOTHING;
INSERT INTO t AS x VALUES (1, 1, 1) ON CONFLICT (id) WHERE y.n > 0 DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE (SELECT true) DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE NOT EXISTS (SELECT 1) DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE n IN (SELECT 1) DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE count(*) > 0 DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE generate_series(1, 2) > 0 DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE row_number() OVER () > 0 DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE n > 'x' DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE n > 0;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE n > 0 RETURNING id;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE n > 0 AND DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT WHERE n > 0 DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT ON CONSTRAINT t_pkey WHERE n > 0 DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (nope) WHERE n > 0 DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (a) WHERE nope > 0 DO NOTHING;
INSERT INTO t VALUES (1, 1, 1) ON CONFLICT (id) WHERE n > 0 DO UPDATE SET n = 1, n = 2;
SELECT count(*) FROM t;

-- case: update_tags (extended)
CREATE TABLE t (id int PRIMARY KEY, v text, n int);
INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3);
UPDATE t SET n = n * 10;
UPDATE t SET v = 'x' WHERE id = 2;
UPDATE t SET v = 'y' WHERE id = 99;
UPDATE t SET v = v || '!', n = n + 1 WHERE n > 15;
SELECT id, v, n FROM t ORDER BY id;

-- case: update_returning (extended)
CREATE TABLE t (id int PRIMARY KEY, v text, n int);
INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3);
UPDATE t SET n = n + 100 WHERE id >= 2 RETURNING id, n;
UPDATE t SET v = upper(v) WHERE id = 1 RETURNING *;
UPDATE t SET v = 'none' WHERE false RETURNING id;

-- case: update_primary_key
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a'), (2, 'b');
UPDATE t SET id = 10 WHERE id = 1;
UPDATE t SET id = 10 WHERE id = 2;
UPDATE t SET id = id + 100;
SELECT id, v FROM t ORDER BY id;

-- case: update_errors
CREATE TABLE t (id int PRIMARY KEY, v text, n int);
INSERT INTO t VALUES (1, 'a', 1);
UPDATE t SET nope = 1;
UPDATE t SET n = 'abc';
UPDATE t SET n = n / 0;
UPDATE t SET v = 'x' WHERE nope = 1;
UPDATE nosuch SET v = 1;
SELECT id, v, n FROM t;

-- case: update_with_from_subquery_value
CREATE TABLE t (id int PRIMARY KEY, n int);
CREATE TABLE totals (k text PRIMARY KEY, total int);
INSERT INTO t VALUES (1, 5), (2, 7);
INSERT INTO totals VALUES ('all', 0);
UPDATE totals SET total = (SELECT sum(n) FROM t) WHERE k = 'all';
SELECT k, total FROM totals;

-- case: delete_tags (extended)
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');
DELETE FROM t WHERE id = 1;
DELETE FROM t WHERE id = 1;
DELETE FROM t WHERE v IN ('b', 'c');
SELECT id, v FROM t ORDER BY id;
DELETE FROM t;
SELECT count(*) FROM t;

-- case: delete_returning (extended)
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');
DELETE FROM t WHERE id > 1 RETURNING *;
DELETE FROM t RETURNING id, v || '?' AS v2;
DELETE FROM t RETURNING id;

-- case: delete_errors
CREATE TABLE t (id int PRIMARY KEY);
DELETE FROM t WHERE nope = 1;
DELETE FROM nosuch;
DELETE FROM t WHERE id = 'x';

-- case: delete_then_reinsert
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a');
DELETE FROM t WHERE id = 1;
INSERT INTO t VALUES (1, 'b');
SELECT id, v FROM t;

-- case: many_rows
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 2000) AS g;
SELECT count(*), min(id), max(id), sum(id) FROM t;
UPDATE t SET v = 'even' WHERE id % 2 = 0;
DELETE FROM t WHERE id > 1500;
SELECT v, count(*) FROM t GROUP BY v ORDER BY count(*) DESC, v LIMIT 2;
SELECT id, v FROM t WHERE id BETWEEN 998 AND 1002 ORDER BY id;

-- case: table_without_primary_key
CREATE TABLE t (a int, b text);
INSERT INTO t VALUES (1, 'x'), (1, 'x'), (2, 'y');
SELECT a, b, count(*) FROM t GROUP BY a, b ORDER BY a;
UPDATE t SET b = 'z' WHERE a = 1;
DELETE FROM t WHERE a = 2;
SELECT a, b FROM t ORDER BY a, b;

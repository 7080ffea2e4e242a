-- Errors: SQLSTATE, message, DETAIL, HINT and POSITION as PostgreSQL reports them.

-- case: undefined_table_42P01 (extended)
SELECT * FROM nosuch;
SELECT a FROM nosuch WHERE a = 1;
INSERT INTO nosuch (a) VALUES (1);
UPDATE nosuch SET a = 1;
DELETE FROM nosuch;
DROP TABLE nosuch;
DROP INDEX nosuch;
CREATE INDEX nosuch_i ON nosuch (a);

-- case: undefined_column_42703 (extended)
CREATE TABLE t (id int PRIMARY KEY, name text);
SELECT nope FROM t;
SELECT id, name, nope FROM t;
SELECT id FROM t WHERE nope > 1;
SELECT id FROM t ORDER BY nope;
SELECT t.nope FROM t;
SELECT count(nope) FROM t;
INSERT INTO t (nope) VALUES (1);
UPDATE t SET nope = 1;
UPDATE t SET name = nope;
INSERT INTO t VALUES (1, 'a') RETURNING nope;
SELECT nope;
SELECT "ID" FROM t;

-- case: syntax_error_42601 (extended)
SELEC 1;
SELECT 1 +;
SELECT * FROM;
SELECT (1;
SELECT 'unterminated;
SELECT 1 FROM t WHERE;
INSERT INTO t VALUES;
CREATE TABLE (id int);
SELECT * FROM t ORDER id;
SELECT 1 2;
UPDATE SET x = 1;
DELETE t;
SELECT count(*) FROM t GROUP BY;
CREATE TABLE t (id int,);
SELECT ,1;

-- case: syntax_error_multiline
SELECT id,
       name
  FROM t
 WHERE id = = 1;

-- case: duplicate_table_42P07
CREATE TABLE t (id int);
CREATE TABLE t (id int);
CREATE TABLE T (id int);
CREATE INDEX i ON t (id);
CREATE INDEX i ON t (id);
CREATE TABLE i (id int);

-- case: unique_violation_23505 (extended)
CREATE TABLE t (id int PRIMARY KEY, email text, a int, b text);
CREATE UNIQUE INDEX t_email ON t (email);
CREATE UNIQUE INDEX t_ab ON t (a, b);
INSERT INTO t VALUES (1, 'x@y', 1, 'p');
INSERT INTO t VALUES (1, 'z@y', 2, 'q');
INSERT INTO t VALUES (2, 'x@y', 2, 'q');
INSERT INTO t VALUES (3, 'w@y', 1, 'p');
INSERT INTO t VALUES (4, 'v@y', 1, NULL), (5, 'u@y', 1, NULL);
UPDATE t SET a = 1, b = 'p' WHERE id = 4;
INSERT INTO t VALUES (6, 'a "quoted" val', 6, 'with, comma');
INSERT INTO t VALUES (7, 'a "quoted" val', 7, 'x');
INSERT INTO t VALUES (8, 'q', 6, 'with, comma');
SELECT id FROM t ORDER BY id;

-- case: not_null_violation_23502 (extended)
CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL, j jsonb NOT NULL, n numeric);
INSERT INTO t VALUES (1, NULL, '{}', 1.5);
INSERT INTO t (id, v) VALUES (2, 'x');
INSERT INTO t VALUES (3, 'x', '{"k": [1, 2]}', 2.50);
UPDATE t SET j = NULL;
INSERT INTO t SELECT 4, NULL, '[]', NULL;

-- case: invalid_text_representation_22P02 (extended)
CREATE TABLE t (id int PRIMARY KEY, n bigint, f float8, b boolean, u uuid, ts timestamptz, num numeric);
INSERT INTO t (id) VALUES ('one');
INSERT INTO t (id, n) VALUES (1, '12abc');
INSERT INTO t (id, f) VALUES (1, 'fast');
INSERT INTO t (id, b) VALUES (1, 'ja');
INSERT INTO t (id, u) VALUES (1, '1234');
INSERT INTO t (id, num) VALUES (1, '1.2.3');
SELECT id FROM t WHERE id = 'abc';
SELECT 'x'::int;
SELECT '1e400'::float8;
SELECT 'tomorrow'::timestamptz IS NOT NULL;
SELECT '2024-01-01 25:00:00'::timestamp;

-- case: division_by_zero_22012 (extended)
CREATE TABLE t (id int PRIMARY KEY, n int, f float8, m numeric);
INSERT INTO t VALUES (1, 0, 0, 0);
SELECT 10 / n FROM t;
SELECT 10 % n FROM t;
SELECT 10.0 / f FROM t;
SELECT 10 / m FROM t;
SELECT id FROM t WHERE 1 / n = 1;
UPDATE t SET n = 1 / n;
SELECT 1 / 0.0;
SELECT 0 / 0;

-- case: read_only_25006 (extended)
CREATE TABLE t (id int);
BEGIN READ ONLY;
INSERT INTO t VALUES (1);
ROLLBACK;
SET TRANSACTION READ ONLY;
BEGIN;
SET TRANSACTION READ ONLY;
DELETE FROM t;
ROLLBACK;

-- case: in_failed_transaction_25P02 (extended)
BEGIN;
SELECT nope;
SELECT 1;
SAVEPOINT sp;
COMMIT;

-- case: feature_not_supported_0A000
CREATE TABLE t (id int PRIMARY KEY, v text);
SELECT * FROM t FOR UPDATE NOWAIT;
SELECT 1 FOR UPDATE;
SELECT count(*) FROM t FOR UPDATE;
SELECT count(*) FROM t FOR KEY SHARE;
SELECT DISTINCT v FROM t FOR UPDATE;
SELECT DISTINCT ON (v) v FROM t FOR SHARE;
SELECT v FROM t GROUP BY v FOR SHARE;
SELECT 1 UNION SELECT 2 FOR UPDATE;
SELECT 1 EXCEPT SELECT 2 FOR NO KEY UPDATE;
SELECT row_number() OVER () FROM t FOR UPDATE;
SELECT generate_series(1, 2) FROM t FOR UPDATE;
SELECT * FROM t, generate_series(1, 2) g FOR UPDATE OF g;
CREATE UNIQUE INDEX ON t USING hash (v);
CREATE UNIQUE INDEX ON t USING gist (v);
CREATE UNIQUE INDEX ON t USING nosuch (v);
CREATE INDEX t_v_hash ON t USING hash (v);
CREATE TABLE d (a int DEFAULT (SELECT 1));
CREATE TABLE d (a int DEFAULT 1 + (SELECT 1));
ALTER TABLE t ADD COLUMN w int DEFAULT (SELECT 2);
ALTER TABLE t ALTER COLUMN v SET DEFAULT (SELECT 'x');
INSERT INTO t VALUES (1, 'a');
SELECT * FROM t FOR UPDATE;

-- case: numeric_value_out_of_range_22003
SELECT 2147483647::int + 1;
SELECT (-2147483648)::int * -1;
SELECT 10000000000::int;
SELECT 1e400::float8;
SELECT 12345.678::numeric(5, 2);
SELECT abs(-2147483648::int);

-- case: string_data_right_truncation_22001
CREATE TABLE t (code varchar(3), c char(2));
INSERT INTO t VALUES ('abcd', 'x');
INSERT INTO t VALUES ('abc', 'xyz');
INSERT INTO t VALUES ('ab   ', 'x ');
SELECT code, c || '|' FROM t;

-- case: datatype_mismatch_42804
CREATE TABLE t (id int PRIMARY KEY, b boolean, j jsonb);
INSERT INTO t VALUES (1, 1, '{}');
INSERT INTO t VALUES (1, true, 1);
SELECT id FROM t WHERE id;
SELECT CASE WHEN id THEN 1 END FROM t;

-- case: undefined_function_42883
SELECT nosuch();
SELECT 'a'::text - 'b'::text;
SELECT true + 1;
SELECT '{}'::jsonb ->> 1.5;
SELECT sum('x');
SELECT jsonb_set('{}', '{a}');

-- case: ambiguous_and_grouping_errors
CREATE TABLE a (id int, v int);
CREATE TABLE b (id int, v int);
SELECT id FROM a, b;
SELECT v, count(*) FROM a;
SELECT a.v FROM a GROUP BY id;
SELECT count(*) OVER () FROM a WHERE count(*) > 0;

-- case: invalid_parameter_value
SELECT repeat('x', 3), generate_series(1, 3, 0);
SELECT substr('abc', 1, -1);
SELECT split_part('a,b', ',', 0);
SELECT date_trunc('nope', timestamp '2024-01-01');
SET statement_timeout = 'abc';
SET client_encoding = 'NOSUCHENCODING';
SET nosuch_setting = 1;
SHOW nosuch_setting;

-- Transactions: blocks, isolation levels, read-only, failed blocks.

-- case: commit_and_rollback (extended)
CREATE TABLE t (id int PRIMARY KEY, v text);
BEGIN;
INSERT INTO t VALUES (1, 'a');
SELECT count(*) FROM t;
COMMIT;
BEGIN;
INSERT INTO t VALUES (2, 'b');
UPDATE t SET v = 'changed' WHERE id = 1;
ROLLBACK;
SELECT id, v FROM t ORDER BY id;

-- case: transaction_keywords
CREATE TABLE t (id int PRIMARY KEY);
START TRANSACTION;
INSERT INTO t VALUES (1);
END;
BEGIN WORK;
INSERT INTO t VALUES (2);
COMMIT WORK;
BEGIN TRANSACTION;
INSERT INTO t VALUES (3);
ABORT;
BEGIN;
INSERT INTO t VALUES (4);
ROLLBACK WORK;
SELECT id FROM t ORDER BY id;

-- case: commit_and_rollback_outside_block
COMMIT;
ROLLBACK;
END;
ABORT;
SELECT 1;

-- case: begin_inside_block
BEGIN;
BEGIN;
SELECT 1;
COMMIT;
COMMIT;

-- case: isolation_levels
BEGIN ISOLATION LEVEL SERIALIZABLE;
SHOW transaction_isolation;
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SHOW transaction_isolation;
COMMIT;
BEGIN ISOLATION LEVEL READ COMMITTED;
SHOW transaction_isolation;
COMMIT;
BEGIN ISOLATION LEVEL READ UNCOMMITTED;
SHOW transaction_isolation;
COMMIT;
START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ WRITE;
SHOW transaction_isolation;
SHOW transaction_read_only;
COMMIT;
SHOW transaction_isolation;

-- case: set_transaction
BEGIN;
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;
SHOW transaction_isolation;
COMMIT;
BEGIN;
SELECT 1;
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;
ROLLBACK;
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;

-- case: read_only_transaction (extended)
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a');
BEGIN READ ONLY;
SHOW transaction_read_only;
SELECT id, v FROM t;
INSERT INTO t VALUES (2, 'b');
SELECT 1;
ROLLBACK;
BEGIN TRANSACTION READ ONLY;
UPDATE t SET v = 'x';
ROLLBACK;
BEGIN READ ONLY;
DELETE FROM t;
ROLLBACK;
BEGIN READ ONLY;
CREATE TABLE u (id int);
ROLLBACK;
START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY;
TRUNCATE t;
ROLLBACK;
SELECT id, v FROM t;

-- case: default_transaction_read_only
CREATE TABLE t (id int);
SET default_transaction_read_only = on;
SHOW default_transaction_read_only;
INSERT INTO t VALUES (1);
BEGIN READ WRITE;
INSERT INTO t VALUES (2);
COMMIT;
RESET default_transaction_read_only;
INSERT INTO t VALUES (3);
SELECT id FROM t ORDER BY id;

-- case: failed_block (extended)
CREATE TABLE t (id int PRIMARY KEY);
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1 / 0;
SELECT 1;
INSERT INTO t VALUES (2);
COMMIT;
SELECT count(*) FROM t;

-- case: failed_block_rollback
CREATE TABLE t (id int PRIMARY KEY);
BEGIN;
INSERT INTO t VALUES (1);
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK;
SELECT count(*) FROM t;
INSERT INTO t VALUES (1);
SELECT count(*) FROM t;

-- case: failed_block_by_syntax_error
BEGIN;
SELEC 1;
SELECT 1;
SHOW search_path;
ROLLBACK;
SELECT 2;

-- case: error_outside_block_is_atomic
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1), (2), (1);
INSERT INTO t VALUES (5), (6), (1 / 0);
SELECT count(*) FROM t;

-- case: statement_sees_own_writes
CREATE TABLE t (id int PRIMARY KEY, n int);
BEGIN;
INSERT INTO t VALUES (1, 1);
UPDATE t SET n = n + 1 WHERE id = 1;
SELECT n FROM t WHERE id = 1;
DELETE FROM t WHERE id = 1;
SELECT count(*) FROM t;
INSERT INTO t VALUES (1, 10);
COMMIT;
SELECT id, n FROM t;

-- case: large_transaction
CREATE TABLE t (id int PRIMARY KEY, v text);
BEGIN;
INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 3000) AS g;
UPDATE t SET v = 'y' WHERE id % 3 = 0;
SELECT count(*), count(*) FILTER (WHERE v = 'y') FROM t;
ROLLBACK;
SELECT count(*) FROM t;

-- case: multi_statement_query
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); SELECT count(*) FROM t;
INSERT INTO t VALUES (3); INSERT INTO t VALUES (3); INSERT INTO t VALUES (4);
SELECT id FROM t ORDER BY id;
BEGIN; INSERT INTO t VALUES (5); COMMIT;
SELECT id FROM t ORDER BY id;

-- case: multi_statement_with_explicit_rollback
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1); BEGIN; INSERT INTO t VALUES (2); ROLLBACK;
SELECT id FROM t ORDER BY id;
BEGIN; INSERT INTO t VALUES (3);
SELECT id FROM t ORDER BY id;
COMMIT;

-- case: savepoints
CREATE TABLE t (id int PRIMARY KEY);
BEGIN;
INSERT INTO t VALUES (1);
SAVEPOINT s1;
INSERT INTO t VALUES (2);
ROLLBACK TO SAVEPOINT s1;
INSERT INTO t VALUES (3);
RELEASE SAVEPOINT s1;
COMMIT;
SELECT id FROM t ORDER BY id;

-- case: savepoints_undo_writes_and_ddl
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'one'), (2, 'two');
BEGIN;
UPDATE t SET v = 'uno' WHERE id = 1;
SAVEPOINT a;
UPDATE t SET v = 'eins' WHERE id = 1;
DELETE FROM t WHERE id = 2;
INSERT INTO t VALUES (3, 'three');
SAVEPOINT b;
INSERT INTO t VALUES (4, 'four');
CREATE TABLE u (x int);
INSERT INTO u VALUES (1);
ROLLBACK TO SAVEPOINT b;
SELECT * FROM t ORDER BY id;
SELECT * FROM u;
ROLLBACK TO a;
SELECT * FROM t ORDER BY id;
INSERT INTO t VALUES (1, 'dup');
SAVEPOINT c;
ROLLBACK TO a;
SAVEPOINT c;
INSERT INTO t VALUES (5, 'five');
TRUNCATE t;
SELECT count(*) FROM t;
ROLLBACK TO c;
SELECT * FROM t ORDER BY id;
RELEASE SAVEPOINT a;
SAVEPOINT d;
INSERT INTO t VALUES (6, 'six');
RELEASE d;
COMMIT;
SELECT * FROM t ORDER BY id;

-- case: default_read_only_blocks_and_set_transaction
CREATE TABLE t (id int PRIMARY KEY);
SET default_transaction_read_only = on;
BEGIN;
SHOW transaction_read_only;
INSERT INTO t VALUES (1);
ROLLBACK;
BEGIN;
SET TRANSACTION READ WRITE;
INSERT INTO t VALUES (2);
COMMIT;
BEGIN READ ONLY;
SELECT count(*) FROM t;
SET TRANSACTION READ WRITE;
ROLLBACK;
BEGIN;
SELECT 1;
SET TRANSACTION READ ONLY;
INSERT INTO t VALUES (3);
ROLLBACK;
SELECT id FROM t ORDER BY id;

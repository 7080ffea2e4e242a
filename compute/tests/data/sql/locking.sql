-- SELECT ... FOR UPDATE | FOR NO KEY UPDATE | FOR SHARE | FOR KEY SHARE in one session: the rows come back as
-- a plain SELECT's (the locked tables' keys are not output columns, in
-- either protocol), and the shapes PostgreSQL refuses fail as it fails them.

-- case: locking_selects_return_plain_rows (extended)
CREATE TABLE acct (id int PRIMARY KEY, owner int NOT NULL, bal int NOT NULL);
CREATE TABLE owner (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO owner VALUES (1, 'ann'), (2, 'bob');
INSERT INTO acct VALUES (1, 1, 100), (2, 1, 200), (3, 2, 300);
SELECT * FROM acct WHERE id = 2 FOR UPDATE;
SELECT bal FROM acct ORDER BY bal DESC LIMIT 2 FOR SHARE;
SELECT a.bal, o.name FROM acct a JOIN owner o ON o.id = a.owner ORDER BY a.id FOR UPDATE OF a;
SELECT o.name FROM acct a, owner o WHERE o.id = a.owner AND a.id = 3 FOR SHARE OF o NOWAIT;
SELECT id FROM acct WHERE bal > 150 ORDER BY id FOR UPDATE SKIP LOCKED;
SELECT 1 AS one FOR UPDATE;
SELECT a.id, o.name FROM acct a, owner o WHERE o.id = a.owner AND a.id = 1 FOR UPDATE OF a, o;
SELECT a.id FROM acct a, owner o WHERE o.id = a.owner AND a.id = 1 FOR UPDATE OF o FOR SHARE OF a;
BEGIN;
SELECT owner, bal FROM acct WHERE id = 1 FOR UPDATE;
UPDATE acct SET bal = bal - 1 WHERE id = 1;
SELECT bal FROM acct WHERE id = 1 FOR UPDATE;
COMMIT;

-- case: locking_select_refusals (extended)
CREATE TABLE acct (id int PRIMARY KEY, owner int NOT NULL, bal int NOT NULL);
CREATE TABLE owner (id int PRIMARY KEY, name text NOT NULL);
SELECT count(*) FROM acct FOR UPDATE;
SELECT owner FROM acct GROUP BY owner FOR SHARE;
SELECT DISTINCT owner FROM acct FOR UPDATE;
SELECT id FROM acct UNION SELECT id FROM owner FOR UPDATE;
SELECT row_number() OVER () FROM acct FOR UPDATE;
SELECT * FROM acct FOR UPDATE OF nope;
SELECT * FROM acct FOR SHARE OF public.acct;
SELECT * FROM acct a, owner o FOR SHARE OF a, nope;
SELECT * FROM acct a, owner o FOR SHARE OF a,;
SELECT * FROM generate_series(1, 2) g FOR UPDATE OF g;
WITH w AS (SELECT 1 AS x) SELECT * FROM w FOR UPDATE OF w;
WITH w AS (SELECT 1 AS x) SELECT * FROM w FOR UPDATE;
SELECT * FROM owner o LEFT JOIN acct a ON a.owner = o.id FOR UPDATE;
SELECT * FROM owner o LEFT JOIN acct a ON a.owner = o.id FOR UPDATE OF o;
VALUES (1) FOR UPDATE;
BEGIN READ ONLY;
SELECT * FROM acct FOR SHARE;
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM acct a, owner o FOR SHARE OF a FOR UPDATE OF a, o;
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM acct a, owner o FOR SHARE OF o FOR UPDATE OF a;
ROLLBACK;
BEGIN READ ONLY;
SELECT 1 FOR UPDATE;
ROLLBACK;

-- case: locking_key_strengths (extended)
CREATE TABLE acct (id int PRIMARY KEY, owner int NOT NULL, bal int NOT NULL);
CREATE TABLE owner (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO owner VALUES (1, 'ann'), (2, 'bob');
INSERT INTO acct VALUES (1, 1, 100), (2, 1, 200), (3, 2, 300);
SELECT * FROM acct WHERE id = 2 FOR NO KEY UPDATE;
SELECT bal FROM acct ORDER BY bal DESC LIMIT 2 FOR KEY SHARE;
SELECT a.bal, o.name FROM acct a JOIN owner o ON o.id = a.owner ORDER BY a.id FOR NO KEY UPDATE OF a;
SELECT a.id, o.name FROM acct a, owner o WHERE o.id = a.owner AND a.id = 1 FOR KEY SHARE OF a, o NOWAIT;
SELECT id FROM acct WHERE bal > 150 ORDER BY id FOR no key update SKIP LOCKED;
SELECT a.id FROM acct a, owner o WHERE o.id = a.owner AND a.id = 3 FOR KEY SHARE OF o FOR NO KEY UPDATE OF a FOR UPDATE OF o;
SELECT 1 AS one FOR KEY SHARE;
BEGIN;
SELECT owner, bal FROM acct WHERE id = 1 FOR NO KEY UPDATE;
UPDATE acct SET bal = bal - 1 WHERE id = 1;
SELECT bal FROM acct WHERE id = 1 FOR KEY SHARE;
COMMIT;

-- case: locking_key_strength_refusals (extended)
CREATE TABLE acct (id int PRIMARY KEY, owner int NOT NULL, bal int NOT NULL);
CREATE TABLE owner (id int PRIMARY KEY, name text NOT NULL);
SELECT count(*) FROM acct FOR KEY SHARE;
SELECT owner FROM acct GROUP BY owner FOR NO KEY UPDATE FOR UPDATE;
SELECT DISTINCT owner FROM acct FOR KEY SHARE;
SELECT id FROM acct UNION SELECT id FROM owner FOR NO KEY UPDATE;
SELECT * FROM acct FOR KEY SHARE OF nope;
SELECT * FROM acct FOR NO KEY UPDATE OF public.acct;
SELECT * FROM acct a, owner o FOR KEY SHARE OF a, nope;
SELECT * FROM acct a, owner o FOR KEY SHARE OF a,;
WITH w AS (SELECT 1 AS x) SELECT * FROM w FOR NO KEY UPDATE OF w;
SELECT * FROM owner o LEFT JOIN acct a ON a.owner = o.id FOR KEY SHARE;
VALUES (1) FOR NO KEY UPDATE;
SELECT * FROM acct FOR KEY UPDATE;
SELECT * FROM acct FOR NO KEY SHARE;
BEGIN READ ONLY;
SELECT * FROM acct FOR KEY SHARE;
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM acct FOR NO KEY UPDATE;
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM acct a, owner o FOR KEY SHARE OF a FOR NO KEY UPDATE OF a, o;
ROLLBACK;
BEGIN READ ONLY;
SELECT * FROM acct a, owner o FOR KEY SHARE FOR SHARE OF o;
ROLLBACK;
BEGIN READ ONLY;
SELECT 1 FOR NO KEY UPDATE;
ROLLBACK;

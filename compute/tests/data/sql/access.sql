-- Access paths: IN lists and = ANY (array) read through the primary key,
-- an index or an indexed expression, and keys compared with values of a
-- wider integer or float type. Sextant reads these through its indexes;
-- the answers must be PostgreSQL's whatever the plan.

-- case: in_lists_on_keys (extended)
CREATE TABLE t (id int PRIMARY KEY, s smallint, b bigint, v varchar(10), payload jsonb);
CREATE INDEX t_s ON t (s);
CREATE INDEX t_b ON t (b);
CREATE INDEX t_v ON t (v);
CREATE INDEX t_site ON t ((payload->>'site_id'));
INSERT INTO t SELECT g, g % 50, g * 1000000000::bigint, 'v' || (g % 7), jsonb_build_object('site_id', (g % 13)::text) FROM generate_series(1, 300) g;
SELECT id FROM t WHERE id IN (13, 1, 2, 13, NULL, 999) ORDER BY id;
SELECT id FROM t WHERE id IN (13);
SELECT id FROM t WHERE id = ANY ('{7,3,5}') ORDER BY id;
SELECT id FROM t WHERE id = ANY (ARRAY[7, 3, NULL]) ORDER BY id;
SELECT id FROM t WHERE id = ANY (NULL::int[]);
SELECT id FROM t WHERE id IN (NULL, NULL);
SELECT id FROM t WHERE id IN (1 + 1, 2 * 2) ORDER BY id;
SELECT s, id FROM t WHERE s IN (3, 1) ORDER BY s, id;
SELECT s, id FROM t WHERE s IN (30, 4) ORDER BY s DESC, id DESC LIMIT 3;
SELECT s, id FROM t WHERE s IN (30, 4) ORDER BY s, id LIMIT 3 OFFSET 2;
SELECT id FROM t WHERE payload->>'site_id' IN ('2', '1') AND id < 60 ORDER BY id;
SELECT id FROM t WHERE payload->>'site_id' = ANY ('{3,x}'::text[]) AND id < 60 ORDER BY id;
SELECT id FROM t WHERE v IN ('v1', 'v2') AND id < 20 ORDER BY id;
SELECT id FROM t WHERE v = ANY ('{v3,v9}'::text[]) AND id < 30 ORDER BY id;
SELECT id FROM t WHERE id IN (20, 9, 8, 7) ORDER BY id LIMIT 2;
SELECT id FROM t WHERE id IN (10, 19, 18, 1) ORDER BY id DESC LIMIT 2;
SELECT id FROM t WHERE b IN (5000000000, 7000000000, 5) ORDER BY id;
SELECT id FROM t WHERE id NOT IN (1, 2) AND id < 5 ORDER BY id;
SELECT count(*) FROM t WHERE id IN (1, 2, 3) AND s IN (2, 3, 4);
UPDATE t SET s = 99 WHERE id IN (1, 2, 3);
SELECT id, s FROM t WHERE id IN (1, 2, 3, 4) ORDER BY id;
SELECT id FROM t WHERE s IN (99) ORDER BY id;
DELETE FROM t WHERE id = ANY ('{1,2}');
SELECT count(*) FROM t WHERE id IN (1, 2, 3);

-- case: in_lists_on_a_key_prefix (extended)
CREATE TABLE t2 (a int, b int, PRIMARY KEY (a, b));
INSERT INTO t2 SELECT a, b FROM generate_series(1, 20) a, generate_series(1, 20) b;
SELECT a, b FROM t2 WHERE a = 1 AND b IN (3, 1) ORDER BY a, b;
SELECT a, b FROM t2 WHERE a IN (2, 1) AND b = 1 ORDER BY a, b;
SELECT a, b FROM t2 WHERE a IN (2, 1) AND b IN (2, 1) ORDER BY a, b;
SELECT a, b FROM t2 WHERE a IN (7, 2) AND b > 18 ORDER BY a, b;
SELECT a, b FROM t2 WHERE a IN (7, 2) ORDER BY a DESC, b DESC LIMIT 3;
SELECT a, b FROM t2 WHERE a = ANY ('{3,NULL}') AND b < 3 ORDER BY a, b;

-- case: wider_values_on_narrower_keys (extended)
CREATE TABLE c (k smallint PRIMARY KEY, i int NOT NULL, r real);
CREATE INDEX c_i ON c (i);
CREATE INDEX c_r ON c (r);
INSERT INTO c SELECT g, g * 1000, g / 4.0 FROM generate_series(-30, 30) g;
SELECT k FROM c WHERE k = 5;
SELECT k FROM c WHERE k = 5::bigint;
SELECT k FROM c WHERE k = 100000;
SELECT k FROM c WHERE k = -3000000000;
SELECT k FROM c WHERE k > 40000;
SELECT count(*) FROM c WHERE k < 40000;
SELECT count(*) FROM c WHERE k > -40000 AND k <= 9223372036854775807;
SELECT count(*) FROM c WHERE k BETWEEN 21::bigint AND 100000;
SELECT k FROM c WHERE k IN (3, 100000, 4::bigint) ORDER BY k;
SELECT k FROM c WHERE k = ANY ('{4,100000}'::int[]) ORDER BY k;
SELECT k FROM c WHERE i = 3000::bigint;
SELECT k FROM c WHERE i = 3000000000;
SELECT count(*) FROM c WHERE i < 3000000000;
SELECT count(*) FROM c WHERE i > -3000000000 AND i < 3000000000;
SELECT k FROM c WHERE i >= 29000::bigint ORDER BY k;
SELECT k FROM c WHERE i = ANY ('{-2000, 3000000000}'::bigint[]);
SELECT k FROM c WHERE r = 1.25::float8;
SELECT k FROM c WHERE r = 0.1::float8;
SELECT k FROM c WHERE r > 7.3::float8;
SELECT k FROM c WHERE r < -7.3::float8;

-- case: conditions_the_key_range_enforces (extended)
CREATE TABLE ev (id int PRIMARY KEY, at timestamptz NOT NULL, n int, big bigint NOT NULL, doc jsonb);
CREATE INDEX ev_at ON ev (at);
CREATE INDEX ev_n ON ev (n);
CREATE INDEX ev_big ON ev (big);
CREATE INDEX ev_site ON ev ((doc->>'site'));
INSERT INTO ev SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', CASE WHEN g % 10 = 0 THEN NULL ELSE g % 50 END, g * 1000, CASE WHEN g % 7 = 0 THEN '{}' ELSE jsonb_build_object('site', (g % 13)::text) END FROM generate_series(1, 2000) g;
SELECT count(*), min(id), max(id) FROM ev WHERE at >= timestamptz '2024-01-02 08:00:00+00';
SELECT count(*), min(id), max(id) FROM ev WHERE at > timestamptz '2024-01-02 08:00:00+00' AND at <= timestamptz '2024-01-02 09:00:00+00';
SELECT count(*), min(id), max(id) FROM ev WHERE at >= timestamptz '2024-01-01 00:05:00+00';
SELECT count(*), min(id), max(id) FROM ev WHERE at < timestamptz '2024-01-01 01:00:00+00' AND id % 2 = 0;
SELECT count(*) FROM ev WHERE n > 45;
SELECT count(*) FROM ev WHERE n >= 48 AND n < 49;
SELECT count(*) FROM ev WHERE n < 2;
SELECT count(*) FROM ev WHERE n BETWEEN 10 AND 12;
SELECT count(*) FROM ev WHERE n >= 10 AND n >= 40 AND n <= 41;
SELECT count(*) FROM ev WHERE n = 5::bigint;
SELECT count(*) FROM ev WHERE big > 1999000;
SELECT count(*) FROM ev WHERE big >= 5 AND big < 20000;
SELECT count(*) FROM ev WHERE doc->>'site' = '3';
SELECT count(*) FROM ev WHERE doc->>'site' > '8';
SELECT id FROM ev WHERE doc->>'site' = '3' AND at > timestamptz '2024-01-02 08:00:00+00' ORDER BY id LIMIT 3;
SELECT id FROM ev WHERE at >= timestamptz '2024-01-02 09:00:00+00' ORDER BY at DESC LIMIT 2;
BEGIN;
INSERT INTO ev VALUES (5000, timestamptz '2030-01-01 00:00:00+00', NULL, 1, NULL);
UPDATE ev SET at = timestamptz '2000-01-01 00:00:00+00' WHERE id = 1999;
SELECT count(*), max(id) FROM ev WHERE at >= timestamptz '2024-01-02 08:00:00+00';
ROLLBACK;

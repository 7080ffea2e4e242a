-- DDL: tables, columns, indexes. Each case starts from an empty schema.

-- case: create_table_basic (extended)
CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL, note text);
INSERT INTO t VALUES (1, 'a', NULL);
SELECT id, name, note FROM t;

-- case: create_table_types
CREATE TABLE t (
    a smallint,
    b integer,
    c bigint,
    d real,
    e double precision,
    f numeric(10, 2),
    g text,
    h varchar(5),
    i boolean,
    j timestamptz,
    k timestamp,
    l date,
    m uuid,
    n jsonb,
    o bytea,
    p interval
);
INSERT INTO t VALUES (1, 2, 3, 1.5, 2.25, 3.14159, 'x', 'abc', true,
    '2024-01-02 03:04:05+00', '2024-01-02 03:04:05', '2024-01-02',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": [1, 2]}', '\x0102', '1 day 2 hours');
SELECT * FROM t;
INSERT INTO t (h) VALUES ('abcdef');
INSERT INTO t (f) VALUES (123456789.123);

-- case: create_table_already_exists
CREATE TABLE t (id int);
CREATE TABLE t (id int);
CREATE TABLE IF NOT EXISTS t (id int, other text);
SELECT * FROM t;

-- case: create_table_duplicate_column
CREATE TABLE t (id int, id text);

-- case: create_table_two_primary_keys
CREATE TABLE t (a int PRIMARY KEY, b int PRIMARY KEY);

-- case: create_table_composite_primary_key (extended)
CREATE TABLE t (a int, b text, v int, PRIMARY KEY (a, b));
INSERT INTO t VALUES (1, 'x', 10), (1, 'y', 20), (2, 'x', 30);
INSERT INTO t VALUES (1, 'x', 40);
INSERT INTO t VALUES (NULL, 'z', 50);
SELECT a, b, v FROM t ORDER BY a, b;

-- case: create_table_unknown_type
CREATE TABLE t (id int, v nosuchtype);

-- case: create_table_defaults (extended)
CREATE TABLE t (
    id int PRIMARY KEY,
    n int DEFAULT 42,
    s text DEFAULT 'none',
    b boolean NOT NULL DEFAULT false,
    f double precision DEFAULT 1.5 * 2
);
INSERT INTO t (id) VALUES (1);
INSERT INTO t (id, n) VALUES (2, NULL);
INSERT INTO t VALUES (3, DEFAULT, 'given', DEFAULT, DEFAULT);
INSERT INTO t DEFAULT VALUES;
SELECT * FROM t ORDER BY id;

-- case: create_table_default_now
CREATE TABLE t (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
INSERT INTO t (id) VALUES (1), (2);
SELECT id, at IS NOT NULL AS has_at, at <= now() AS not_future, now() - at < interval '1 hour' AS recent FROM t ORDER BY id;
SELECT count(DISTINCT at) FROM t;

-- case: create_table_default_gen_random_uuid
CREATE TABLE t (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), v int);
INSERT INTO t (v) VALUES (1), (2), (3);
SELECT count(*), count(DISTINCT id) FROM t;
SELECT length(id::text), substr(id::text, 15, 1) AS version FROM t ORDER BY v;

-- case: create_table_events
CREATE TABLE events (
    id text PRIMARY KEY,
    payload jsonb NOT NULL,
    position bigint,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_site ON events ((payload->>'site_id'));
CREATE INDEX events_temp ON events (((payload->>'temp')::float));
INSERT INTO events (id, payload, position) VALUES
    ('e1', '{"site_id": "s1", "temp": 20.5}', 1),
    ('e2', '{"site_id": "s2", "temp": 18}', 2),
    ('e3', '{"site_id": "s1", "temp": 25.25}', 3);
SELECT id FROM events WHERE payload->>'site_id' = 's1' ORDER BY id;
SELECT id FROM events WHERE (payload->>'temp')::float > 19 ORDER BY id;
SELECT id, payload, position FROM events ORDER BY position;

-- case: drop_table
CREATE TABLE t (id int);
DROP TABLE t;
SELECT * FROM t;
DROP TABLE t;
DROP TABLE IF EXISTS t;
CREATE TABLE t (id text);
INSERT INTO t VALUES ('again');
SELECT * FROM t;

-- case: drop_table_several
CREATE TABLE a (id int);
CREATE TABLE b (id int);
DROP TABLE a, b;
DROP TABLE IF EXISTS a, b;

-- case: drop_table_in_transaction_rolled_back
CREATE TABLE t (id int);
INSERT INTO t VALUES (1);
BEGIN;
DROP TABLE t;
ROLLBACK;
SELECT * FROM t;

-- case: create_table_in_transaction_rolled_back
BEGIN;
CREATE TABLE t (id int);
INSERT INTO t VALUES (1);
SELECT * FROM t;
ROLLBACK;
SELECT * FROM t;

-- case: truncate
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'a'), (2, 'b');
TRUNCATE t;
SELECT count(*) FROM t;
INSERT INTO t VALUES (1, 'again');
TRUNCATE TABLE t;
SELECT * FROM t;
TRUNCATE nosuch;

-- case: truncate_rolled_back
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1), (2);
BEGIN;
TRUNCATE t;
SELECT count(*) FROM t;
ROLLBACK;
SELECT count(*) FROM t;

-- case: alter_table_add_column
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1), (2);
ALTER TABLE t ADD COLUMN v text;
ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 7;
ALTER TABLE t ADD w jsonb DEFAULT '{}';
SELECT * FROM t ORDER BY id;
INSERT INTO t (id, v) VALUES (3, 'x');
SELECT * FROM t ORDER BY id;
ALTER TABLE t ADD COLUMN v text;
ALTER TABLE t ADD COLUMN IF NOT EXISTS v text;
ALTER TABLE t ADD COLUMN req int NOT NULL;

-- case: alter_table_drop_column
CREATE TABLE t (id int PRIMARY KEY, a text, b int);
INSERT INTO t VALUES (1, 'x', 10);
ALTER TABLE t DROP COLUMN a;
SELECT * FROM t;
SELECT a FROM t;
INSERT INTO t VALUES (2, 20);
SELECT * FROM t ORDER BY id;
ALTER TABLE t DROP COLUMN a;
ALTER TABLE t DROP COLUMN IF EXISTS a;
ALTER TABLE t DROP b;
SELECT * FROM t ORDER BY id;

-- case: alter_table_rename_column
CREATE TABLE t (id int PRIMARY KEY, old_name text);
INSERT INTO t VALUES (1, 'x');
ALTER TABLE t RENAME COLUMN old_name TO new_name;
SELECT new_name FROM t;
SELECT old_name FROM t;
ALTER TABLE t RENAME new_name TO id;
ALTER TABLE t RENAME COLUMN nope TO other;
SELECT * FROM t;

-- case: alter_table_rename_table
CREATE TABLE t (id int);
INSERT INTO t VALUES (1);
ALTER TABLE t RENAME TO u;
SELECT * FROM u;
SELECT * FROM t;

-- case: alter_table_missing
ALTER TABLE nosuch ADD COLUMN v int;
ALTER TABLE IF EXISTS nosuch ADD COLUMN v int;

-- case: alter_table_alter_column
CREATE TABLE t (id int PRIMARY KEY, v int);
INSERT INTO t VALUES (1, NULL);
ALTER TABLE t ALTER COLUMN v SET DEFAULT 5;
INSERT INTO t (id) VALUES (2);
ALTER TABLE t ALTER COLUMN v SET NOT NULL;
UPDATE t SET v = 0 WHERE v IS NULL;
ALTER TABLE t ALTER COLUMN v SET NOT NULL;
INSERT INTO t VALUES (3, NULL);
ALTER TABLE t ALTER COLUMN v DROP NOT NULL;
ALTER TABLE t ALTER COLUMN v DROP DEFAULT;
INSERT INTO t (id) VALUES (4);
SELECT * FROM t ORDER BY id;

-- case: create_index_on_columns
CREATE TABLE t (id int PRIMARY KEY, a text, b int);
INSERT INTO t VALUES (1, 'x', 3), (2, 'y', 2), (3, 'x', 1);
CREATE INDEX t_a ON t (a);
CREATE INDEX t_a_b ON t (a, b DESC);
SELECT id FROM t WHERE a = 'x' ORDER BY id;
SELECT id FROM t WHERE a = 'x' AND b = 1;
CREATE INDEX t_a ON t (b);
CREATE INDEX IF NOT EXISTS t_a ON t (b);
CREATE INDEX t_nope ON t (nope);
CREATE INDEX t_x ON nosuch (a);

-- case: create_index_unnamed
CREATE TABLE t (id int PRIMARY KEY, a text);
CREATE INDEX ON t (a);
CREATE INDEX ON t (a);
DROP INDEX t_a_idx;
DROP INDEX t_a_idx1;

-- case: create_unique_index (extended)
CREATE TABLE t (id int PRIMARY KEY, email text);
INSERT INTO t VALUES (1, 'a@x'), (2, 'b@x');
CREATE UNIQUE INDEX t_email ON t (email);
INSERT INTO t VALUES (3, 'a@x');
INSERT INTO t VALUES (3, NULL);
INSERT INTO t VALUES (4, NULL);
UPDATE t SET email = 'b@x' WHERE id = 1;
SELECT id, email FROM t ORDER BY id;

-- case: create_unique_index_over_duplicates
CREATE TABLE t (id int PRIMARY KEY, v int);
INSERT INTO t VALUES (1, 10), (2, 10);
CREATE UNIQUE INDEX t_v ON t (v);
INSERT INTO t VALUES (3, 10);
SELECT count(*) FROM t;

-- case: unique_constraint_in_table
CREATE TABLE t (id int PRIMARY KEY, code text UNIQUE);
INSERT INTO t VALUES (1, 'a');
INSERT INTO t VALUES (2, 'a');

-- case: create_expression_indexes
CREATE TABLE events (id text PRIMARY KEY, payload jsonb NOT NULL);
CREATE INDEX events_site ON events ((payload->>'site_id'));
CREATE INDEX events_temp ON events (((payload->>'temp')::float));
CREATE INDEX events_lower ON events (lower(id));
INSERT INTO events VALUES ('A', '{"site_id": "s1", "temp": "1.5"}'), ('b', '{"site_id": "s2"}');
SELECT id FROM events WHERE payload->>'site_id' = 's2';
SELECT id FROM events WHERE (payload->>'temp')::float = 1.5;
SELECT id FROM events WHERE lower(id) = 'a';
INSERT INTO events VALUES ('c', '{"temp": "warm"}');
SELECT count(*) FROM events;

-- case: create_unique_expression_index
CREATE TABLE events (id text PRIMARY KEY, payload jsonb NOT NULL);
CREATE UNIQUE INDEX events_ext ON events ((payload->>'ext_id'));
INSERT INTO events VALUES ('a', '{"ext_id": "1"}');
INSERT INTO events VALUES ('b', '{"ext_id": "1"}');
INSERT INTO events VALUES ('c', '{}'), ('d', '{}');
SELECT id FROM events ORDER BY id;

-- case: drop_index
CREATE TABLE t (id int PRIMARY KEY, v int);
CREATE INDEX t_v ON t (v);
DROP INDEX t_v;
DROP INDEX t_v;
DROP INDEX IF EXISTS t_v;
CREATE INDEX t_v ON t (v);
INSERT INTO t VALUES (1, 1);
SELECT id FROM t WHERE v = 1;

-- case: drop_table_drops_its_indexes
CREATE TABLE t (id int PRIMARY KEY, v int);
CREATE INDEX t_v ON t (v);
DROP TABLE t;
DROP INDEX t_v;
CREATE TABLE t (id int PRIMARY KEY, v int);
CREATE INDEX t_v ON t (v);

-- case: name_collisions_between_tables_and_indexes
CREATE TABLE t (id int PRIMARY KEY);
CREATE INDEX t ON t (id);
CREATE INDEX t_pkey ON t (id);
CREATE TABLE t_pkey (id int);

-- case: quoted_identifiers
CREATE TABLE "Mixed Case" ("Id" int PRIMARY KEY, "select" text);
INSERT INTO "Mixed Case" VALUES (1, 'kw');
SELECT "Id", "select" FROM "Mixed Case";
SELECT id FROM "Mixed Case";
SELECT * FROM mixed_case;
CREATE TABLE Upper (ID int);
INSERT INTO upper VALUES (1);
SELECT Id FROM UPPER;

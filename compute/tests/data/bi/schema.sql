-- The reference schema for tests/bi_clients.rs: what a BI tool finds on a
-- Sextant reader. A CDC events table as Sextant's ingester writes it (JSONB
-- payload, timestamptz, expression indexes), a sites dimension table and a
-- table with a composite primary key, with a few rows each.
--
-- Sextant has no foreign keys, sequences, views or schemas other than
-- public (ARCHITECTURE.md, "BI clients"), so the schema has none either;
-- the clients' foreign-key calls still run and return empty lists on both
-- servers.
-- `sextant dev` makes its ingest service's table at startup; PostgreSQL gets
-- the same one (cdc-ingest/src/ingest/sql.rs, create_tombstones) so that
-- both list the same tables.
CREATE TABLE IF NOT EXISTS sextant_ingest_tombstones (table_name text NOT NULL, id text NOT NULL,
    position bigint NOT NULL, PRIMARY KEY (table_name, id));
CREATE TABLE sites (
    id integer PRIMARY KEY,
    name text NOT NULL,
    region varchar(32) DEFAULT 'eu',
    opened date,
    UNIQUE (name)
);
CREATE TABLE events (
    id bigint PRIMARY KEY,
    site_id integer NOT NULL,
    payload jsonb NOT NULL,
    status smallint DEFAULT 0,
    temp double precision,
    amount numeric(10,2),
    ratio numeric,
    tags text[],
    ingested_at timestamptz NOT NULL DEFAULT now(),
    local_at timestamp,
    note varchar(200),
    seen boolean DEFAULT false,
    body bytea,
    trace uuid,
    span interval,
    score real
);
CREATE INDEX events_site ON events ((payload->>'site_id'));
CREATE INDEX events_temp ON events (((payload->>'temp')::float));
CREATE INDEX events_site_time ON events (site_id, ingested_at);
CREATE UNIQUE INDEX events_trace ON events (trace);
CREATE TABLE readings (
    site_id integer,
    at timestamptz,
    value real,
    PRIMARY KEY (site_id, at)
);

INSERT INTO sites VALUES
    (1, 'Lyon', 'eu', '2021-03-01'),
    (2, 'Osaka', 'ap', '2022-07-15'),
    (3, 'Denver', DEFAULT, NULL);
INSERT INTO events VALUES
    (1, 1, '{"site_id": "1", "temp": 21.5, "status": "ok"}', 200, 21.5, 12.50, 0.25,
     '{a,b}', '2024-05-01 10:00:00+00', '2024-05-01 10:00:00', 'first', true, '\x0102',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 hour 30 minutes', 1.5),
    (2, 2, '{"site_id": "2", "temp": 18.25, "status": "error"}', 500, 18.25, 7.00, 1,
     '{}', '2024-05-01 10:05:00+00', NULL, NULL, false, NULL, NULL, '2 days', NULL),
    (3, 1, '{"site_id": "1", "temp": -3, "tags": [1, 2]}', DEFAULT, NULL, NULL, NULL,
     NULL, '2024-05-01 11:00:00+00', '2024-05-01 11:00:00.123456', 'third', DEFAULT, '', NULL, NULL, -0.5),
    (4, 3, '{}', 404, 0, 0, 123.456, '{x}', '2024-05-02 00:00:00+00', NULL, 'fourth', NULL, NULL,
     'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '-1 day', 0),
    (5, 2, '{"site_id": "2", "temp": 30}', 200, 30, 99999999.99, NULL, NULL,
     '2024-05-02 12:30:00+00', NULL, NULL, true, '\xff', NULL, NULL, 3.25);
INSERT INTO readings VALUES
    (1, '2024-05-01 10:00:00+00', 1.25),
    (1, '2024-05-01 11:00:00+00', 2.5),
    (2, '2024-05-01 10:00:00+00', NULL);

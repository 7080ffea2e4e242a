-- The schema tests/pg_catalog_pg.rs describes; that test builds the same
-- tables in memory (keep the two in step). The first table is psql's
-- reference CDC table.
CREATE TABLE events (
    id text PRIMARY KEY,
    payload jsonb NOT NULL,
    position bigint,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_site ON events ((payload->>'site_id'));
CREATE INDEX events_temp ON events (((payload->>'temp')::float));
CREATE UNIQUE INDEX events_position ON events (position);

CREATE TABLE readings (
    site text,
    at timestamptz,
    v numeric(10,2) DEFAULT 0,
    label varchar(20) DEFAULT 'x',
    flag boolean DEFAULT true,
    n bigint DEFAULT -1,
    u uuid DEFAULT gen_random_uuid(),
    tags text[],
    kind "char",
    PRIMARY KEY (site, at)
);
CREATE INDEX readings_label ON readings (lower(label), n);

CREATE TABLE notes (body text DEFAULT NULL);

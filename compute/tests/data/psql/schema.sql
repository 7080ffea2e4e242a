-- The reference schema for tests/psql_meta.rs: a CDC table as Sextant's
-- ingester writes it, with expression indexes on the payload.
-- `sextant dev` makes its ingest service's table at startup; PostgreSQL gets
-- the same one (cdc-ingest/src/ingest/sql.rs, create_tombstones).
CREATE TABLE IF NOT EXISTS sextant_ingest_tombstones (table_name text NOT NULL, id text NOT NULL,
    position bigint NOT NULL, PRIMARY KEY (table_name, id));
CREATE TABLE events (
    id text PRIMARY KEY,
    payload jsonb NOT NULL,
    position bigint,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_site ON events ((payload->>'site_id'));
CREATE INDEX events_temp ON events (((payload->>'temp')::float));
CREATE UNIQUE INDEX events_position ON events (position);

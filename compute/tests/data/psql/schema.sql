-- The reference schema for tests/psql_meta.rs: a CDC table as Sextant's
-- ingester writes it, with expression indexes on the payload.
CREATE TABLE events (
    id text PRIMARY KEY,
    payload jsonb NOT NULL,
    position bigint,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_site ON events ((payload->>'site_id'));
CREATE INDEX events_temp ON events (((payload->>'temp')::float));
CREATE UNIQUE INDEX events_position ON events (position);

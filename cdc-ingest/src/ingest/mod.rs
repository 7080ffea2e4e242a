//! The ingest service: `POST /v1/tables/{table}/events`.

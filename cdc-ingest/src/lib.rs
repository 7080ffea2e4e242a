//! Change data in and out of Sextant over the Postgres protocol
//! (DESIGN.md §5), as any client would: it links neither the compute nor
//! the storage crate, so both halves work against real PostgreSQL too.
//!
//! * [`ingest`]: the HTTP service that turns JSON change events (plain or
//!   Debezium) into idempotent batched upserts and deletes through the
//!   proxy's writer endpoint.
//! * [`export`]: `sextant export`, one file per closed time window from the
//!   reader endpoint, written atomically with a checkpoint.

pub mod export;
pub mod ingest;

//! Sextant's storage service: the log is the database.
//!
//! This crate owns the storage protocol, both ends of it: the types and codec
//! that cross the wire ([`types`], [`wire`]), the segment replica state machine
//! ([`segment`]) and the storage node server around it, and the volume client
//! that compute uses as its storage driver (quorum writes, VCL/VDL, page-read
//! routing, recovery). See `ARCHITECTURE.md` and `docs/storage-format.md`.
//!
//! This crate **must not depend on any other Sextant crate**: compute depends
//! on it, never the other way round.

pub mod cluster;
pub mod metrics;
pub mod net;
pub mod node;
pub mod segment;
pub mod types;
pub mod volume;
pub mod wire;

//! Sextant's proxy (DESIGN.md §4): the only door users and BI tools knock
//! on. It terminates TLS, authenticates clients the way Amazon RDS does (an
//! IAM auth token, or a SCRAM password), relays each session to the writer
//! or to a reader, and hides a writer failover behind a short pause.
//!
//! It speaks the Postgres protocol to clients and to compute, and the
//! compute nodes' HTTP admin API for health and promotion; it links neither
//! the compute nor the storage crate, so it works in front of real
//! PostgreSQL too.

pub mod iam;

//! Sextant's compute engine: tables and indexes as B+trees whose pages live
//! on the storage service.
//!
//! Every committed change leaves the writer as redo records through the
//! volume client (`sextant_storage::volume`); nothing else is written
//! anywhere. See `ARCHITECTURE.md` and `docs/page-format.md`.
//!
//! This crate depends on `sextant-storage` and on no other Sextant crate.

pub mod btree;
pub mod bufpool;
pub mod cast;
pub mod catalog;
pub mod datum;
pub mod engine;
pub mod jsonb;
pub mod keycode;
pub mod metrics;
pub mod page;
pub mod pages;
pub mod pgtext;
pub mod redo;
pub mod replica;
pub mod server;
pub mod sql;
pub mod store;
pub mod superblock;
pub mod writeset;

//! SQL over the engine: PostgreSQL's grammar (sqlparser), our own binder,
//! planner and executor, typed on PostgreSQL's type system, so clients see
//! PostgreSQL exactly (DESIGN.md §3 says why not an off-the-shelf engine).
//!
//! The protocol layer (`crate::server`) talks to one [`session::Session`] per
//! connection; everything SQL lives below it.

mod alter;
pub mod array;
pub mod copy;
mod cursor;
pub mod dialect;
mod dml_cte;
pub mod error;
pub mod exec;
pub mod expr;
pub mod func;
pub mod grouping_sets;
mod keyfn;
pub mod lateral;
mod memo;
mod named_args;
mod ordered_set;
pub mod pg_catalog;
pub mod plan;
pub mod record;
pub mod session;
pub mod settings;
pub mod spill;
pub mod window;

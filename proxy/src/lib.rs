//! Sextant's proxy (DESIGN.md §4): the only door users and BI tools knock
//! on. It terminates TLS, authenticates clients the way Amazon RDS does (an
//! IAM auth token, or a SCRAM password), relays each session to the writer
//! or to a reader, and hides a writer failover behind a short pause.
//!
//! It speaks the Postgres protocol to clients and to compute, and the
//! compute nodes' HTTP admin API for health and promotion; it links neither
//! the compute nor the storage crate, so it works in front of real
//! PostgreSQL too. This crate **must not depend on `sextant-compute` or
//! `sextant-storage`**.
//!
//! Entry point: [`Proxy::start`] with a [`ProxyConfig`].
//!
//! Modules, outside in: `server` (listeners, handshake), `tls`, `auth`
//! (`scram`, `iam`), `session` (the relay and failover of one session),
//! `backend` (logging in to compute, replaying session state), `topology`
//! (health checks, writer choice, promotion; `admin` is its HTTP client),
//! `cancel`, `metrics`, `wire` (message framing), `error`, `config`.

pub mod admin;
pub mod auth;
pub mod backend;
pub mod cancel;
pub mod config;
pub mod error;
pub mod iam;
pub mod metrics;
pub mod scram;
pub mod server;
pub mod session;
pub mod tls;
pub mod topology;
pub mod wire;

pub use config::{
    load_cluster_nodes, BackendCredentials, ComputeNode, HealthConfig, Limits, Listen, ProxyConfig,
    RoleHint, TlsFiles,
};
pub use error::{ClientError, ConfigError, StartError};
pub use server::{Proxy, ProxyHandle};

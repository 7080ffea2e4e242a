//! Read replicas: the writer's redo stream and the readers that follow it.
//!
//! The writer pushes every durable MTR, whole and in LSN order, to its
//! subscribed readers (a big transaction's MTR, sent to storage in chunks,
//! as its last chunk plus the pages the others changed) over TCP ([`hub`], framed by [`wire`]); each reader
//! applies the MTRs to the pages it has cached, moves its read point by
//! whole MTRs and serves queries there ([`follower`]). The writer never
//! waits for a reader: each subscriber has a bounded buffer, and a reader
//! that falls behind is dropped from the stream and catches up from storage
//! (it jumps to the writer's VDL and stops trusting its cache for the gap).
//!
//! A reader is promoted to the writer by [`promote`]: recovery under a
//! new epoch, which fences the old writer.
//!
//! Both ends report what a replica's lag is ([`ReplicaStatus`]), for
//! `/metrics` and the `sextant_replica_status()` SQL function.

pub mod follower;
pub mod hub;
pub mod promote;
pub mod wire;

use sextant_storage::types::{Lsn, PageId, RecordBody};

/// Receives each MTR the writer's commit pipeline submits, in LSN order,
/// before it is durable. Must not block: it is called inside the pipeline.
pub trait MtrSink: Send + Sync {
    /// MTR `commit_lsn`: its records, one per LSN ending at `commit_lsn`.
    /// A big transaction's MTR is sent to storage in chunks; only the last
    /// comes here, with `streamed`, the pages earlier chunks changed (their
    /// LSNs lie between the previous MTR and `records`): a reader must stop
    /// trusting its cached copies of them at this MTR.
    fn submitted(&self, commit_lsn: Lsn, records: Vec<(PageId, RecordBody)>, streamed: Vec<PageId>);
}

/// One compute node's replication state, as one row of
/// `sextant_replica_status()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// The node's name (`--name`, or its address).
    pub server_id: String,
    /// `writer` or `reader`.
    pub role: &'static str,
    /// True while the reader receives the stream (always true for the
    /// writer's own row).
    pub connected: bool,
    /// The writer's VDL, as this row's reporter last knew it.
    pub durable_lsn: Lsn,
    /// The node's read point (the VDL for the writer).
    pub read_lsn: Lsn,
    /// The oldest snapshot open on the node.
    pub oldest_snapshot_lsn: Lsn,
    /// `durable_lsn − read_lsn`.
    pub lag_lsn: u64,
    /// How long the data at `read_lsn` has been stale, in milliseconds.
    pub lag_ms: u64,
}

/// Where `sextant_replica_status()` gets its rows.
pub trait StatusSource: Send + Sync {
    /// Every row this node knows: the writer lists itself and its readers, a
    /// reader itself.
    fn replica_status(&self) -> Vec<ReplicaStatus>;
}

//! Metrics of a compute node, exported in the Prometheus text format.
//!
//! One [`ComputeMetrics`] per server rather than a process-wide registry, as
//! the storage node does: tests run several servers in one process. Names
//! follow `compute_<thing>_<unit>` (STYLE §3); labels are fixed-cardinality
//! enums, never users or databases.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label: why a connection was turned away or ended by the server.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(missing_docs)]
pub enum RefusedReason {
    /// Over the connection limit (SQLSTATE 53300).
    TooManyConnections,
    /// Wrong password or unknown user (28P01).
    Authentication,
    /// A malformed, unsupported or timed-out startup.
    Startup,
    /// The server is shutting down (57P01).
    Shutdown,
}

/// Label: how a session ended without the client asking.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(missing_docs)]
pub enum TerminatedReason {
    /// `idle_session_timeout` (57P05).
    IdleSession,
    /// `idle_in_transaction_session_timeout` (25P03).
    IdleInTransaction,
    /// A protocol violation (08P01).
    ProtocolViolation,
    /// Server shutdown (57P01).
    Shutdown,
}

/// Label: which protocol ran a statement.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(missing_docs)]
pub enum Protocol {
    Simple,
    Extended,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    reason: RefusedReason,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TerminatedLabels {
    reason: TerminatedReason,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: Protocol,
}

/// The metrics of one compute node's Postgres protocol server.
pub struct ComputeMetrics {
    registry: Registry,
    connections_active: Gauge<i64, std::sync::atomic::AtomicI64>,
    connections: Counter,
    refused: Family<RefusedLabels, Counter>,
    terminated: Family<TerminatedLabels, Counter>,
    statements: Family<ProtocolLabels, Counter>,
    statement_errors: Family<ProtocolLabels, Counter>,
    cancel_requests: Counter,
    vdl: Gauge<u64, AtomicU64>,
    epoch: Gauge<u64, AtomicU64>,
    read_point: Gauge<u64, AtomicU64>,
    replica_lag_lsn: Gauge<u64, AtomicU64>,
    replica_lag_ms: Gauge<u64, AtomicU64>,
    replica_readers: Gauge<u64, AtomicU64>,
    pool_capacity: Gauge<u64, AtomicU64>,
    pool_bytes: Gauge<u64, AtomicU64>,
    pool_hits: Counter,
    pool_misses: Counter,
    pool_evictions: Counter,
}

impl std::fmt::Debug for ComputeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputeMetrics").finish_non_exhaustive()
    }
}

impl Default for ComputeMetrics {
    fn default() -> Self {
        ComputeMetrics::new()
    }
}

impl ComputeMetrics {
    /// Registers every metric.
    pub fn new() -> ComputeMetrics {
        let mut registry = Registry::with_prefix("compute");
        let connections_active = Gauge::default();
        registry.register(
            "connections_active",
            "Client sessions open now",
            connections_active.clone(),
        );
        let connections = Counter::default();
        registry.register(
            "connections",
            "Client sessions that completed authentication",
            connections.clone(),
        );
        let refused = Family::<RefusedLabels, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections turned away before a session started, by reason",
            refused.clone(),
        );
        let terminated = Family::<TerminatedLabels, Counter>::default();
        registry.register(
            "sessions_terminated",
            "Sessions the server ended, by reason",
            terminated.clone(),
        );
        let statements = Family::<ProtocolLabels, Counter>::default();
        registry.register(
            "statements",
            "Statements executed, by protocol",
            statements.clone(),
        );
        let statement_errors = Family::<ProtocolLabels, Counter>::default();
        registry.register(
            "statement_errors",
            "Statements that ended in an ErrorResponse, by protocol",
            statement_errors.clone(),
        );
        let cancel_requests = Counter::default();
        registry.register(
            "cancel_requests",
            "CancelRequest messages that matched a session",
            cancel_requests.clone(),
        );
        let vdl = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "vdl_lsn",
            "The volume durable LSN the writer last reported",
            vdl.clone(),
        );
        let epoch = Gauge::<u64, AtomicU64>::default();
        registry.register("epoch", "The writer's volume epoch", epoch.clone());
        let read_point = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "read_point_lsn",
            "The LSN this node serves queries at (a reader's read point, the writer's VDL)",
            read_point.clone(),
        );
        let replica_lag_lsn = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "replica_lag_lsn",
            "Writer VDL minus read point: this reader's, or the largest of the writer's readers",
            replica_lag_lsn.clone(),
        );
        let replica_lag_ms = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "replica_lag_ms",
            "How long the data at the read point has been stale, in milliseconds: this reader's, or the largest of the writer's readers",
            replica_lag_ms.clone(),
        );
        let replica_readers = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "replica_readers",
            "Readers subscribed to the writer's redo stream",
            replica_readers.clone(),
        );
        let pool_capacity = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "buffer_pool_capacity_bytes",
            "The most page images the buffer pool holds (--buffer-pool)",
            pool_capacity.clone(),
        );
        let pool_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "buffer_pool_bytes",
            "Page images the buffer pool holds now",
            pool_bytes.clone(),
        );
        let pool_hits = Counter::default();
        registry.register(
            "buffer_pool_hits",
            "Page reads served from the buffer pool",
            pool_hits.clone(),
        );
        let pool_misses = Counter::default();
        registry.register(
            "buffer_pool_misses",
            "Page reads that went to storage",
            pool_misses.clone(),
        );
        let pool_evictions = Counter::default();
        registry.register(
            "buffer_pool_evictions",
            "Page versions the buffer pool evicted",
            pool_evictions.clone(),
        );
        ComputeMetrics {
            pool_capacity,
            pool_bytes,
            pool_hits,
            pool_misses,
            pool_evictions,
            read_point,
            replica_lag_lsn,
            replica_lag_ms,
            replica_readers,
            registry,
            connections_active,
            connections,
            refused,
            terminated,
            statements,
            statement_errors,
            cancel_requests,
            vdl,
            epoch,
        }
    }

    /// A session started (authentication succeeded).
    pub fn session_started(&self) {
        self.connections.inc();
        self.connections_active.inc();
    }

    /// A session ended, for whatever reason.
    pub fn session_ended(&self) {
        self.connections_active.dec();
    }

    /// A connection was turned away.
    pub fn refused(&self, reason: RefusedReason) {
        self.refused.get_or_create(&RefusedLabels { reason }).inc();
    }

    /// The server ended a session.
    pub fn terminated(&self, reason: TerminatedReason) {
        self.terminated
            .get_or_create(&TerminatedLabels { reason })
            .inc();
    }

    /// A statement ran; `ok` is false if it sent an ErrorResponse.
    pub fn statement(&self, protocol: Protocol, ok: bool) {
        self.statements
            .get_or_create(&ProtocolLabels { protocol })
            .inc();
        if !ok {
            self.statement_errors
                .get_or_create(&ProtocolLabels { protocol })
                .inc();
        }
    }

    /// A cancel request found its session.
    pub fn cancel_request(&self) {
        self.cancel_requests.inc();
    }

    /// Publishes the writer's VDL and epoch (the admin endpoint calls this
    /// before encoding).
    pub fn set_volume(&self, vdl: u64, epoch: u64) {
        self.vdl.set(vdl);
        self.epoch.set(epoch);
    }

    /// Publishes the buffer pool's size and counters.
    pub fn set_pool(&self, pool: &crate::bufpool::BufferPool) {
        let stats = pool.stats();
        self.pool_capacity.set(pool.capacity_bytes());
        self.pool_bytes
            .set(stats.versions * crate::pages::PAGE_SIZE as u64);
        // The pool counts from its start; a counter only moves forward.
        for (counter, total) in [
            (&self.pool_hits, stats.hits),
            (&self.pool_misses, stats.misses),
            (&self.pool_evictions, stats.evictions),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    /// Publishes replication state from `sextant_replica_status()`'s rows:
    /// the first is this node's own, the rest (on the writer) its readers.
    pub fn set_replication(&self, rows: &[crate::replica::ReplicaStatus]) {
        let Some(own) = rows.first() else { return };
        self.read_point.set(own.read_lsn.0);
        let (lag_lsn, lag_ms) = if own.role == "writer" {
            rows[1..]
                .iter()
                .fold((0, 0), |(l, m), r| (l.max(r.lag_lsn), m.max(r.lag_ms)))
        } else {
            (own.lag_lsn, own.lag_ms)
        };
        self.replica_lag_lsn.set(lag_lsn);
        self.replica_lag_ms.set(lag_ms);
        let readers = if own.role == "writer" {
            rows.len() - 1
        } else {
            0
        };
        self.replica_readers.set(readers as u64);
    }

    /// Sessions open now.
    pub fn connections_active(&self) -> i64 {
        self.connections_active.get()
    }

    /// The whole registry in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention() {
        let m = ComputeMetrics::new();
        m.session_started();
        m.refused(RefusedReason::TooManyConnections);
        m.statement(Protocol::Extended, false);
        m.set_volume(7, 2);
        let row = |role, read, lag_lsn, lag_ms| crate::replica::ReplicaStatus {
            server_id: "n".into(),
            role,
            connected: true,
            durable_lsn: sextant_storage::types::Lsn(100),
            read_lsn: sextant_storage::types::Lsn(read),
            oldest_snapshot_lsn: sextant_storage::types::Lsn(read),
            lag_lsn,
            lag_ms,
        };
        m.set_replication(&[
            row("writer", 100, 0, 0),
            row("reader", 90, 10, 4),
            row("reader", 95, 5, 9),
        ]);
        let text = m.encode();
        for name in [
            "compute_connections_active 1",
            "compute_connections_total 1",
            "compute_connections_refused_total{reason=\"TooManyConnections\"} 1",
            "compute_statements_total{protocol=\"Extended\"} 1",
            "compute_statement_errors_total{protocol=\"Extended\"} 1",
            "compute_vdl_lsn 7",
            "compute_epoch 2",
            "compute_read_point_lsn 100",
            "compute_replica_lag_lsn 10",
            "compute_replica_lag_ms 9",
            "compute_replica_readers 2",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }
}

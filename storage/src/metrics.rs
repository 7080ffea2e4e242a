//! Metrics of the storage node, exported in the Prometheus text format.
//!
//! One [`NodeMetrics`] per node rather than a process-wide registry: `sextant
//! dev` and the in-process test clusters run six nodes in one process, and
//! each serves its own `/metrics`. Names follow `storage_<thing>_<unit>`
//! (STYLE §3); labels are fixed-cardinality enums, plus the PG id on the SCL
//! gauge, which is bounded by the segments one node hosts.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

use crate::types::{Lsn, PgId};
use crate::wire::{ErrorCode, Message};

/// Fsync latency buckets: 50 µs doubling to about 1.6 s.
const FSYNC_BUCKETS: u16 = 16;
const FSYNC_BUCKET_START_SECONDS: f64 = 0.000_05;

/// Label: the kind of a request.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(missing_docs)]
pub enum RequestKind {
    CreateSegment,
    Append,
    Adopt,
    GetPage,
    SetEpoch,
    ReadLog,
    Truncate,
    ListSegments,
    GossipPull,
    /// A reply sent to the node as if it were a request.
    NotARequest,
}

impl RequestKind {
    /// The kind of `msg`.
    pub fn of(msg: &Message) -> RequestKind {
        match msg {
            Message::CreateSegment { .. } => RequestKind::CreateSegment,
            Message::Append { .. } => RequestKind::Append,
            Message::Adopt { .. } => RequestKind::Adopt,
            Message::GetPage { .. } => RequestKind::GetPage,
            Message::SetEpoch { .. } => RequestKind::SetEpoch,
            Message::ReadLog { .. } => RequestKind::ReadLog,
            Message::Truncate { .. } => RequestKind::Truncate,
            Message::ListSegments => RequestKind::ListSegments,
            Message::GossipPull { .. } => RequestKind::GossipPull,
            Message::Ok
            | Message::AppendAck { .. }
            | Message::Page { .. }
            | Message::NotYet { .. }
            | Message::TooOld { .. }
            | Message::EpochSet { .. }
            | Message::Log { .. }
            | Message::Segments(_)
            | Message::GossipPush { .. }
            | Message::Error { .. } => RequestKind::NotARequest,
        }
    }
}

/// Label: the class of an error reply.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(missing_docs)]
pub enum ErrorLabel {
    Malformed,
    TooLarge,
    UnsupportedVersion,
    UnknownSegment,
    StaleEpoch,
    EpochBehind,
    Invalid,
    Internal,
}

impl From<ErrorCode> for ErrorLabel {
    fn from(code: ErrorCode) -> ErrorLabel {
        // Exhaustive on purpose: a new code must choose its label.
        match code {
            ErrorCode::Malformed => ErrorLabel::Malformed,
            ErrorCode::TooLarge => ErrorLabel::TooLarge,
            ErrorCode::UnsupportedVersion => ErrorLabel::UnsupportedVersion,
            ErrorCode::UnknownSegment => ErrorLabel::UnknownSegment,
            ErrorCode::StaleEpoch => ErrorLabel::StaleEpoch,
            ErrorCode::EpochBehind => ErrorLabel::EpochBehind,
            ErrorCode::Invalid => ErrorLabel::Invalid,
            ErrorCode::Internal => ErrorLabel::Internal,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: RequestKind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: ErrorLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PgLabels {
    pg: u32,
}

/// The metrics of one storage node.
pub struct NodeMetrics {
    registry: Registry,
    records_received: Counter,
    received_bytes: Counter,
    fsync_seconds: Histogram,
    segment_scl: Family<PgLabels, Gauge<u64, AtomicU64>>,
    gossip_repaired_records: Counter,
    repaired_pages: Counter,
    corrupt_entries: Counter,
    requests: Family<KindLabels, Counter>,
    errors: Family<CodeLabels, Counter>,
    cache_bytes: Gauge<u64, AtomicU64>,
    segment_index_bytes: Family<PgLabels, Gauge<u64, AtomicU64>>,
    segment_body_bytes: Family<PgLabels, Gauge<u64, AtomicU64>>,
    cache_hits: Gauge<u64, AtomicU64>,
    cache_misses: Gauge<u64, AtomicU64>,
}

impl std::fmt::Debug for NodeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeMetrics").finish_non_exhaustive()
    }
}

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics::new()
    }
}

impl NodeMetrics {
    /// Registers every metric of a node.
    pub fn new() -> NodeMetrics {
        let mut registry = Registry::with_prefix("storage");
        let records_received = Counter::default();
        registry.register(
            "records_received",
            "Log records received in appends from the writer",
            records_received.clone(),
        );
        let received_bytes = Counter::default();
        registry.register_with_unit(
            "received",
            "Bytes of log records received in appends from the writer",
            Unit::Bytes,
            received_bytes.clone(),
        );
        let fsync_seconds = Histogram::new(exponential_buckets(
            FSYNC_BUCKET_START_SECONDS,
            2.0,
            FSYNC_BUCKETS,
        ));
        registry.register_with_unit(
            "fsync",
            "Time to write and fsync one group-commit batch of a segment log",
            Unit::Seconds,
            fsync_seconds.clone(),
        );
        let segment_scl = Family::<PgLabels, Gauge<u64, AtomicU64>>::default();
        registry.register(
            "segment_scl_lsn",
            "Durable segment complete LSN, per protection group",
            segment_scl.clone(),
        );
        let gossip_repaired_records = Counter::default();
        registry.register(
            "gossip_repaired_records",
            "Log records this node was missing and got from a peer by gossip",
            gossip_repaired_records.clone(),
        );
        let repaired_pages = Counter::default();
        registry.register(
            "repaired_pages",
            "Page images lost to corruption and fetched from a peer",
            repaired_pages.clone(),
        );
        let corrupt_entries = Counter::default();
        registry.register(
            "corrupt_entries",
            "Damaged log entries or meta files detected when loading segments",
            corrupt_entries.clone(),
        );
        let requests = Family::<KindLabels, Counter>::default();
        registry.register("requests", "Requests received, by kind", requests.clone());
        let errors = Family::<CodeLabels, Counter>::default();
        registry.register("errors", "Error replies sent, by code", errors.clone());
        let cache_bytes = Gauge::<u64, AtomicU64>::default();
        registry.register_with_unit(
            "cache",
            "Bytes of record bodies and page images held in the node's cache",
            Unit::Bytes,
            cache_bytes.clone(),
        );
        let cache_hits = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "cache_hits",
            "Body and image reads answered from the cache since start",
            cache_hits.clone(),
        );
        let cache_misses = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "cache_misses",
            "Body and image reads that went to disk since start",
            cache_misses.clone(),
        );
        let segment_index_bytes = Family::<PgLabels, Gauge<u64, AtomicU64>>::default();
        registry.register_with_unit(
            "segment_index",
            "Estimated bytes of a segment's in-memory index (records, page versions), per protection group",
            Unit::Bytes,
            segment_index_bytes.clone(),
        );
        let segment_body_bytes = Family::<PgLabels, Gauge<u64, AtomicU64>>::default();
        registry.register_with_unit(
            "segment_body",
            "Bytes of record bodies and images a segment holds in memory (not yet durable, or not taken by the page file)",
            Unit::Bytes,
            segment_body_bytes.clone(),
        );
        NodeMetrics {
            registry,
            cache_bytes,
            segment_index_bytes,
            segment_body_bytes,
            cache_hits,
            cache_misses,
            records_received,
            received_bytes,
            fsync_seconds,
            segment_scl,
            gossip_repaired_records,
            repaired_pages,
            corrupt_entries,
            requests,
            errors,
        }
    }

    /// Counts an append's records and their encoded bytes.
    pub fn records_received(&self, records: u64, bytes: u64) {
        self.records_received.inc_by(records);
        self.received_bytes.inc_by(bytes);
    }

    /// Records the latency of one write-and-fsync.
    pub fn fsync_seconds(&self, seconds: f64) {
        self.fsync_seconds.observe(seconds);
    }

    /// Publishes a segment's durable SCL.
    pub fn segment_scl(&self, pg: PgId, scl: Lsn) {
        self.segment_scl
            .get_or_create(&PgLabels { pg: pg.0 })
            .set(scl.0);
    }

    /// Counts records filled in by gossip.
    pub fn gossip_repaired(&self, records: u64) {
        self.gossip_repaired_records.inc_by(records);
    }

    /// Counts a page repaired from a peer.
    pub fn page_repaired(&self) {
        self.repaired_pages.inc();
    }

    /// Counts damaged entries found on disk.
    pub fn corrupt_entries(&self, n: u64) {
        self.corrupt_entries.inc_by(n);
    }

    /// Publishes the cache's size and hit counts.
    pub fn cache(&self, bytes: u64, hits: u64, misses: u64) {
        self.cache_bytes.set(bytes);
        self.cache_hits.set(hits);
        self.cache_misses.set(misses);
    }

    /// Publishes what a segment holds in memory.
    pub fn segment_memory(&self, pg: PgId, index_bytes: u64, body_bytes: u64) {
        self.segment_index_bytes
            .get_or_create(&PgLabels { pg: pg.0 })
            .set(index_bytes);
        self.segment_body_bytes
            .get_or_create(&PgLabels { pg: pg.0 })
            .set(body_bytes);
    }

    /// Counts one request.
    pub fn request(&self, kind: RequestKind) {
        self.requests.get_or_create(&KindLabels { kind }).inc();
    }

    /// Counts one error reply.
    pub fn error(&self, code: ErrorCode) {
        self.errors
            .get_or_create(&CodeLabels { code: code.into() })
            .inc();
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
        let m = NodeMetrics::new();
        m.records_received(3, 300);
        m.fsync_seconds(0.001);
        m.segment_scl(PgId(7), Lsn(42));
        m.request(RequestKind::Append);
        m.error(ErrorCode::StaleEpoch);
        m.corrupt_entries(1);
        m.gossip_repaired(2);
        let text = m.encode();
        for needle in [
            "storage_records_received_total 3",
            "storage_received_bytes_total 300",
            "storage_fsync_seconds_bucket",
            "storage_segment_scl_lsn{pg=\"7\"} 42",
            "storage_requests_total{kind=\"Append\"} 1",
            "storage_errors_total{code=\"StaleEpoch\"} 1",
            "storage_corrupt_entries_total 1",
            "storage_gossip_repaired_records_total 2",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
    }
}

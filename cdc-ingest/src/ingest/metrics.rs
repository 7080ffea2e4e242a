//! Metrics of the ingest service, served at `GET /metrics` in the
//! Prometheus text format.
//!
//! One [`IngestMetrics`] per service rather than a process-wide registry:
//! tests (and `sextant dev`) run several services in one process. Names are
//! `cdc_ingest_<thing>_<unit>` (STYLE §3); labels are fixed enums, never
//! table names, which producers choose.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// Label: what became of an event.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(missing_docs)]
pub enum Outcome {
    /// Upserted.
    Applied,
    /// Older than the row, a tombstone or another event in the batch.
    SkippedStale,
    /// A delete that took effect.
    Deleted,
    /// A truncate.
    Truncated,
    /// A tombstone (JSON null), skipped.
    Ignored,
}

/// Label: why a request was refused.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(missing_docs)]
pub enum RejectReason {
    /// 401.
    Unauthorized,
    /// 400: malformed body or event.
    Invalid,
    /// 413.
    TooLarge,
    /// 415.
    UnsupportedMediaType,
    /// 404.
    TableNotFound,
    /// 429: the queue is full.
    QueueFull,
    /// 503: no writer reachable, a commit's outcome unknown, or shutting down.
    Unavailable,
    /// 400: the database refused the rows (say a cast of an extra column).
    RejectedByDatabase,
    /// 500.
    Internal,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    reason: RejectReason,
}

/// First bucket of the batch-size histogram (events); 15 doublings reach
/// 16,384, above the largest default batch.
const BATCH_BUCKET_START_EVENTS: f64 = 1.0;
const BATCH_BUCKETS: u16 = 15;
/// First bucket of the commit latency histogram; 16 doublings reach ~33 s.
const COMMIT_BUCKET_START_SECONDS: f64 = 0.001;
const COMMIT_BUCKETS: u16 = 16;

/// The ingest service's metrics.
pub struct IngestMetrics {
    registry: Registry,
    events: Family<OutcomeLabels, Counter>,
    rejects: Family<RejectLabels, Counter>,
    batch_events: Histogram,
    commit_seconds: Histogram,
    queue_events: Gauge<i64, AtomicI64>,
    reconnects: Counter,
    conflict_retries: Counter,
}

impl std::fmt::Debug for IngestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestMetrics").finish_non_exhaustive()
    }
}

impl Default for IngestMetrics {
    fn default() -> Self {
        IngestMetrics::new()
    }
}

impl IngestMetrics {
    /// Registers every metric.
    pub fn new() -> IngestMetrics {
        let mut registry = Registry::with_prefix("cdc_ingest");
        let events = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "events",
            "Events handled, by outcome (rate() of it is events per second)",
            events.clone(),
        );
        let rejects = Family::<RejectLabels, Counter>::default();
        registry.register("rejects", "Requests refused, by reason", rejects.clone());
        let batch_events = Histogram::new(exponential_buckets(
            BATCH_BUCKET_START_EVENTS,
            2.0,
            BATCH_BUCKETS,
        ));
        registry.register(
            "batch_events",
            "Events per committed transaction",
            batch_events.clone(),
        );
        let commit_seconds = Histogram::new(exponential_buckets(
            COMMIT_BUCKET_START_SECONDS,
            2.0,
            COMMIT_BUCKETS,
        ));
        registry.register_with_unit(
            "commit",
            "Time from BEGIN to a successful COMMIT of one batch",
            Unit::Seconds,
            commit_seconds.clone(),
        );
        let queue_events = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "queue_events",
            "Events accepted and not yet answered",
            queue_events.clone(),
        );
        let reconnects = Counter::default();
        registry.register(
            "reconnects",
            "Connections to the database opened after one was lost",
            reconnects.clone(),
        );
        let conflict_retries = Counter::default();
        registry.register(
            "conflict_retries",
            "Batches run again after a write conflict with another writer's batch",
            conflict_retries.clone(),
        );
        IngestMetrics {
            registry,
            events,
            rejects,
            batch_events,
            commit_seconds,
            queue_events,
            reconnects,
            conflict_retries,
        }
    }

    /// Counts `n` events with `outcome`.
    pub fn events(&self, outcome: Outcome, n: u64) {
        self.events
            .get_or_create(&OutcomeLabels { outcome })
            .inc_by(n);
    }

    /// Counts a refused request.
    pub fn reject(&self, reason: RejectReason) {
        self.rejects.get_or_create(&RejectLabels { reason }).inc();
    }

    /// Records a committed batch.
    pub fn batch_committed(&self, events: u64, seconds: f64) {
        self.batch_events.observe(events as f64);
        self.commit_seconds.observe(seconds);
    }

    /// Moves the queue depth by `delta` events.
    pub fn queue_add(&self, delta: i64) {
        self.queue_events.inc_by(delta);
    }

    /// Counts a reconnect.
    pub fn reconnected(&self) {
        self.reconnects.inc();
    }

    /// Counts a batch run again after a write conflict.
    pub fn conflict_retried(&self) {
        self.conflict_retries.inc();
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

//! The proxy's Prometheus metrics (prefix `proxy_`), served on `/metrics`.
//!
//! Labels are fixed sets chosen in code (endpoint, failure reason, error
//! kind), never user names or addresses.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Which listener a client came in on.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Endpoint {
    Writer,
    Reader,
}

impl Endpoint {
    /// Lowercase name for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Endpoint::Writer => "writer",
            Endpoint::Reader => "reader",
        }
    }
}

/// What went wrong talking to compute.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum BackendErrorKind {
    /// TCP connect failed or timed out.
    Connect,
    /// Compute refused the proxy's login or startup.
    Login,
    /// The connection broke mid-session.
    Io,
    /// Compute sent something the proxy cannot frame.
    Protocol,
}

/// How a failover ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum FailoverOutcome {
    /// This proxy promoted a reader.
    Promoted,
    /// Another proxy (or an operator) had promoted a node already.
    Adopted,
    /// No reader could be promoted (the proxy keeps trying).
    Failed,
}

impl BackendErrorKind {
    fn as_str(&self) -> &'static str {
        match self {
            BackendErrorKind::Connect => "connect",
            BackendErrorKind::Login => "login",
            BackendErrorKind::Io => "io",
            BackendErrorKind::Protocol => "protocol",
        }
    }
}

impl FailoverOutcome {
    fn as_str(&self) -> &'static str {
        match self {
            FailoverOutcome::Promoted => "promoted",
            FailoverOutcome::Adopted => "adopted",
            FailoverOutcome::Failed => "failed",
        }
    }
}

// Label values are lowercase, as Prometheus convention has them.
macro_rules! label_value {
    ($t:ty) => {
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}
label_value!(Endpoint);
label_value!(BackendErrorKind);
label_value!(FailoverOutcome);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: Endpoint,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: BackendErrorKind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: FailoverOutcome,
}

/// Every metric of one proxy.
pub struct ProxyMetrics {
    registry: Registry,
    connections: Family<EndpointLabels, Counter>,
    connections_active: Family<EndpointLabels, Gauge<i64, AtomicI64>>,
    auth_failures: Family<ReasonLabels, Counter>,
    backend_errors: Family<KindLabels, Counter>,
    failovers: Family<OutcomeLabels, Counter>,
    blackout: Histogram,
    transactions_failed_over: Counter,
    sessions_reattached: Counter,
}

impl std::fmt::Debug for ProxyMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyMetrics").finish_non_exhaustive()
    }
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        ProxyMetrics::new()
    }
}

impl ProxyMetrics {
    /// Registers every metric.
    pub fn new() -> ProxyMetrics {
        let mut registry = Registry::with_prefix("proxy");
        let connections = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "client_connections",
            "Client sessions that authenticated, by endpoint",
            connections.clone(),
        );
        let connections_active = Family::<EndpointLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "client_connections_active",
            "Client sessions open now, by endpoint",
            connections_active.clone(),
        );
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "auth_failures",
            "Failed client authentications, by the check that failed",
            auth_failures.clone(),
        );
        let backend_errors = Family::<KindLabels, Counter>::default();
        registry.register(
            "backend_errors",
            "Errors talking to compute nodes, by kind",
            backend_errors.clone(),
        );
        let failovers = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "failovers",
            "Writer failovers, by outcome",
            failovers.clone(),
        );
        // 25 ms .. ~100 s.
        let blackout = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
            0.025, 2.0, 13,
        ));
        registry.register(
            "failover_blackout_seconds",
            "Time from the writer's first missed health check to the new writer",
            blackout.clone(),
        );
        let transactions_failed_over = Counter::default();
        registry.register(
            "transactions_failed_over",
            "Open transactions failed with 40001 because the writer failed over",
            transactions_failed_over.clone(),
        );
        let sessions_reattached = Counter::default();
        registry.register(
            "sessions_reattached",
            "Client sessions moved to a new backend connection, settings replayed",
            sessions_reattached.clone(),
        );
        ProxyMetrics {
            registry,
            connections,
            connections_active,
            auth_failures,
            backend_errors,
            failovers,
            blackout,
            transactions_failed_over,
            sessions_reattached,
        }
    }

    /// A client authenticated on `endpoint`; the guard counts it active.
    pub fn connection(&self, endpoint: Endpoint) -> ActiveGuard {
        let labels = EndpointLabels { endpoint };
        self.connections.get_or_create(&labels).inc();
        let gauge = self.connections_active.get_or_create(&labels).clone();
        gauge.inc();
        ActiveGuard { gauge }
    }

    /// A failed authentication; `reason` is a fixed snake_case label.
    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn backend_error(&self, kind: BackendErrorKind) {
        self.backend_errors
            .get_or_create(&KindLabels { kind })
            .inc();
    }

    pub fn failover(&self, outcome: FailoverOutcome) {
        self.failovers
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn blackout(&self, seconds: f64) {
        self.blackout.observe(seconds);
    }

    pub fn transaction_failed_over(&self) {
        self.transactions_failed_over.inc();
    }

    pub fn session_reattached(&self) {
        self.sessions_reattached.inc();
    }

    /// Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Decrements the active-connections gauge when the session ends.
pub struct ActiveGuard {
    gauge: Gauge<i64, AtomicI64>,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

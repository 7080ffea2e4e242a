//! The ingest service: `POST /v1/tables/{table}/events` turns JSON change
//! events into idempotent, batched upserts and deletes on JSONB tables
//! (DESIGN.md §5), over the Postgres protocol through the proxy's writer
//! endpoint, so it works against real PostgreSQL as well.
//!
//! * [`config`]: limits, batching and the per-table event mapping.
//! * [`event`]: bodies (JSON, NDJSON, gzip) to changes; plain and Debezium.
//! * [`sql`]: the statements, and why they are idempotent.
//! * [`writer`]: the batching writers (one connection each), their
//!   acknowledgement rule, conflict retries and reconnects.
//! * [`http`]: routes, auth, limits and status codes.
//! * [`auth`], [`iam`]: bearer tokens, and SigV4 signatures against the
//!   proxy's IAM file.
//!
//! A request is acknowledged (200) only after the transaction holding its
//! events commits. When the database connection dies during COMMIT the
//! outcome is unknown and the answer is 503: retrying is safe, because
//! every upsert and delete is guarded by the event's position, so events
//! that did commit are skipped as stale the second time.
//!
//! [`Service::start`] runs it in-process (the `sextant ingest` command and
//! `sextant dev` both do); [`ServiceHandle::shutdown`] stops accepting and
//! answers every queued request before returning.

pub mod auth;
pub mod config;
pub mod event;
mod http;
pub mod iam;
pub mod metrics;
pub mod sql;
pub mod writer;

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use self::config::Config;
pub use self::http::OPENAPI_JSON;
pub use self::writer::Counts;

use self::auth::Auth;
use self::metrics::IngestMetrics;

/// Requests queued at most, whatever their size; the events in them are
/// bounded separately by `limits.queue_events_max`.
pub const QUEUE_REQUESTS_MAX: usize = 4096;

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The tokens file was refused.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// The listener has no address.
    #[error("failed to read the listener's address: {0}")]
    Listener(std::io::Error),
}

/// The ingest service.
#[derive(Debug)]
pub struct Service;

impl Service {
    /// Starts serving on `listener` and writing to `config.database_url`.
    /// The database need not be up yet: until it is, requests get 503.
    pub async fn start(config: Config, listener: TcpListener) -> Result<ServiceHandle, StartError> {
        let auth = Auth::load(config.tokens_file.as_deref(), config.iam_file.as_deref())?;
        if auth.is_open() {
            warn!("no tokens file and no IAM file: the ingest service accepts every request");
        }
        let addr = listener.local_addr().map_err(StartError::Listener)?;
        let config = Arc::new(config);
        let metrics = Arc::new(IngestMetrics::new());
        let up = Arc::new(AtomicBool::new(false));
        let (queue, queue_rx) = mpsc::channel(QUEUE_REQUESTS_MAX);
        let writer = tokio::spawn(writer::run(
            config.clone(),
            metrics.clone(),
            up.clone(),
            queue_rx,
        ));
        let state = Arc::new(http::AppState {
            permits: Arc::new(Semaphore::new(config.queue_events_max as usize)),
            config,
            auth,
            queue,
            up,
            metrics,
        });
        let app = http::router(state);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        info!(%addr, "ingest service listening");
        Ok(ServiceHandle {
            addr,
            stop: Some(stop),
            server,
            writer,
        })
    }
}

/// A running service.
#[derive(Debug)]
pub struct ServiceHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
    writer: JoinHandle<()>,
}

impl ServiceHandle {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets requests in flight finish (each is
    /// answered after its batch commits or fails), then stops the writer
    /// once the queue is empty.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join().await
    }

    /// Waits until the service stops by itself (the listener failed) or
    /// after [`ServiceHandle::shutdown`].
    async fn join(self) -> std::io::Result<()> {
        let served = self
            .server
            .await
            .map_err(|e| std::io::Error::other(format!("ingest server task: {e}")))?;
        // The router, and with it the queue's sender, is gone: the writer
        // drains what is queued and ends.
        self.writer
            .await
            .map_err(|e| std::io::Error::other(format!("ingest writer task: {e}")))?;
        info!("ingest service stopped");
        served
    }
}

/// A ready-to-paste `curl` line that posts one event to `table` on the
/// service at `addr`, with `token` as the bearer token if there is one.
pub fn curl_example(addr: SocketAddr, table: &str, token: Option<&str>) -> String {
    let auth = token
        .map(|t| format!(" -H 'Authorization: Bearer {t}'"))
        .unwrap_or_default();
    format!(
        "curl -sS http://{addr}/v1/tables/{table}/events -H 'Content-Type: application/json'{auth} \
         -d '{{\"id\": \"order-1\", \"ts_ms\": 1, \"status\": \"new\"}}'"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn openapi_document_is_json_and_names_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI_JSON).unwrap();
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        for path in [
            "/v1/tables/{table}/events",
            "/healthz",
            "/metrics",
            "/openapi.json",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
    }

    #[test]
    fn curl_example_is_one_line() {
        let line = super::curl_example("127.0.0.1:8080".parse().unwrap(), "orders", Some("t0k"));
        assert!(!line.contains('\n'));
        assert!(line.contains("http://127.0.0.1:8080/v1/tables/orders/events"));
        assert!(line.contains("Bearer t0k"));
    }
}

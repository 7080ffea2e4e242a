//! The PostgreSQL wire-protocol server of the writer.
//!
//! Clients (psql, drivers, BI tools) connect here; each connection gets one
//! [`Session`](crate::sql::session::Session) from the shared
//! [`Database`](crate::sql::session::Database), and this module only
//! translates between protocol messages and session calls. Everything SQL —
//! parsing, planning, prepared statements, transactions, error codes — lives
//! in [`crate::sql`].
//!
//! # What comes from `pgwire`
//!
//! The message codec, TLS negotiation (`SSLRequest`, GSSENC refusal and
//! direct TLS with ALPN) and the SCRAM-SHA-256 state machine. The connection
//! state machine is ours ([`conn`]): pgwire's handler traits keep their own
//! statement and portal stores and cancel a query by dropping its future,
//! while the session owns prepared statements and cancels cooperatively, and
//! a suspended portal here must keep the rest of its rows.
//!
//! # Protocol coverage
//!
//! Startup with SCRAM-SHA-256 (and `-PLUS` channel binding over TLS),
//! protocol 3.0 and 3.2 (newer minor versions and `_pq_` options are
//! negotiated down), ParameterStatus, BackendKeyData, simple query, extended
//! query (Parse, Bind with text and binary parameters, Describe, Execute with
//! row limits and portal suspension, Close, Flush, Sync), CancelRequest and
//! Terminate, COPY FROM STDIN and COPY TO STDOUT in text format codes (see
//! [`conn`]), NoticeResponse, and the CONTEXT field of errors.
//!
//! # Limits
//!
//! A connection limit ([`ServerConfig::max_connections`], SQLSTATE 53300
//! beyond it), a bound on connections still in their handshake
//! ([`HANDSHAKES_MAX`]), a startup timeout, and PostgreSQL's two idle
//! timeouts. Cancel requests do not count against the connection limit, as in
//! PostgreSQL.
//!
//! # Logging
//!
//! A client that disconnects, even mid-query, is logged at DEBUG: it is not an
//! error (STYLE §7). Failed authentication is INFO; protocol violations WARN.

mod auth;
mod conn;
pub mod format;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tracing::Instrument as _;

use crate::metrics::{ComputeMetrics, RefusedReason};
use crate::sql::session::Database;

/// Connections that may be in their handshake (TLS, startup, SCRAM) at once.
/// Each is bounded in time by [`ServerConfig::startup_timeout`]; beyond this
/// the TCP connection is closed at once, so a flood of half-open clients
/// costs a bounded number of tasks.
pub const HANDSHAKES_MAX: usize = 128;

/// Largest `max_connections` accepted; every session holds a task, buffers
/// and a cancel-table entry.
pub const MAX_CONNECTIONS_MAX: u32 = 10_000;

/// How long to back off after `accept` fails (out of file descriptors, say)
/// before trying again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Tunables of the server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Most sessions at once; PostgreSQL's `max_connections` (default 100).
    pub max_connections: u32,
    /// Time a client has from connecting to finishing authentication;
    /// PostgreSQL's `authentication_timeout` (default 1 min).
    pub startup_timeout: Duration,
    /// Ends a session idle outside a transaction for this long (SQLSTATE
    /// 57P05); PostgreSQL's `idle_session_timeout`, off by default.
    pub idle_session_timeout: Option<Duration>,
    /// Ends a session idle inside a transaction for this long (25P03);
    /// PostgreSQL's `idle_in_transaction_session_timeout`. On by default
    /// here: an open transaction pins its snapshot's page versions in the
    /// buffer pool.
    pub idle_in_transaction_session_timeout: Option<Duration>,
    /// On shutdown, how long sessions get to finish their statement and
    /// receive their termination notice before their tasks are dropped.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 100,
            startup_timeout: Duration::from_secs(60),
            idle_session_timeout: None,
            idle_in_transaction_session_timeout: Some(Duration::from_secs(600)),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl ServerConfig {
    /// Checks the ranges once, before the listener starts (STYLE §5).
    pub fn validate(&self) -> Result<(), ServerError> {
        if self.max_connections == 0 || self.max_connections > MAX_CONNECTIONS_MAX {
            return Err(ServerError::Config(format!(
                "max_connections must be between 1 and {MAX_CONNECTIONS_MAX}, not {}",
                self.max_connections
            )));
        }
        if self.startup_timeout < Duration::from_millis(100)
            || self.startup_timeout > Duration::from_secs(600)
        {
            return Err(ServerError::Config(
                "startup_timeout must be between 100ms and 10min".into(),
            ));
        }
        for (name, t) in [
            ("idle_session_timeout", self.idle_session_timeout),
            (
                "idle_in_transaction_session_timeout",
                self.idle_in_transaction_session_timeout,
            ),
        ] {
            if t.is_some_and(|t| t < Duration::from_millis(10)) {
                return Err(ServerError::Config(format!(
                    "{name} must be at least 10ms when set"
                )));
            }
        }
        if self.shutdown_grace > Duration::from_secs(600) {
            return Err(ServerError::Config(
                "shutdown_grace must be at most 10min".into(),
            ));
        }
        Ok(())
    }
}

/// TLS for client connections: a certificate chain and its private key.
#[derive(Clone)]
pub struct TlsConfig {
    acceptor: tokio_rustls::TlsAcceptor,
    /// The PEM chain, for SCRAM channel binding (`tls-server-end-point`).
    cert_pem: Arc<Vec<u8>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Loads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1
    /// or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsConfig, ServerError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| ServerError::ReadFile {
                path: p.to_path_buf(),
                source,
            })
        };
        TlsConfig::from_pem(&read(cert)?, &read(key)?)
    }

    /// Builds the TLS configuration from PEM bytes, with rustls's `ring`
    /// provider.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsConfig, ServerError> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ServerError::Tls(format!("read certificate chain: {e}")))?;
        if certs.is_empty() {
            return Err(ServerError::Tls(
                "the certificate file holds no certificate".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| ServerError::Tls(format!("read private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServerError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| ServerError::Tls(format!("certificate and key: {e}")))?;
        // Direct TLS (PostgreSQL 17's `sslnegotiation=direct`) requires ALPN.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(TlsConfig {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            cert_pem: Arc::new(cert_pem.to_vec()),
        })
    }
}

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A configuration value is out of range.
    #[error("invalid server configuration: {0}")]
    Config(String),
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// A file could not be read.
    #[error("read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The listener's address could not be read.
    #[error("listener: {0}")]
    Listener(io::Error),
}

/// Serves the Postgres protocol on `listener` with the default
/// [`ServerConfig`] until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    db: Arc<Database>,
    tls: Option<TlsConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    serve_with(
        listener,
        db,
        tls,
        ServerConfig::default(),
        Arc::new(ComputeMetrics::new()),
        shutdown,
    )
    .await
}

/// Serves the Postgres protocol on `listener` until `shutdown` completes.
///
/// On shutdown the listener closes, idle sessions receive FATAL 57P01 and
/// close, running statements are cancelled and their sessions closed after
/// they return; whatever is left after [`ServerConfig::shutdown_grace`] is
/// dropped. Open transactions roll back (they were never committed).
pub async fn serve_with(
    listener: TcpListener,
    db: Arc<Database>,
    tls: Option<TlsConfig>,
    cfg: ServerConfig,
    metrics: Arc<ComputeMetrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    cfg.validate()?;
    let local = listener.local_addr().map_err(ServerError::Listener)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        sessions: Arc::new(Semaphore::new(cfg.max_connections as usize)),
        handshakes: Arc::new(Semaphore::new(HANDSHAKES_MAX)),
        db,
        tls,
        cfg,
        metrics,
        cancels: Mutex::new(HashMap::new()),
        next_pid: AtomicI32::new(1),
        verifiers: auth::Verifiers::new(),
        stop: stop_rx,
    });
    tracing::info!(%local, tls = shared.tls.is_some(), max_connections = shared.cfg.max_connections, "postgres protocol server listening");
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let Ok(permit) = shared.handshakes.clone().try_acquire_owned() else {
                        shared.metrics.refused(RefusedReason::TooManyConnections);
                        tracing::warn!(%peer, "too many connections in their handshake; closing a new one");
                        continue;
                    };
                    let span = tracing::info_span!("pg_conn", %peer, pid = tracing::field::Empty);
                    tasks.spawn(conn::handle(shared.clone(), tcp, peer, permit).instrument(span));
                }
                Err(e) => {
                    tracing::warn!("failed to accept a connection: {e}");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => log_task_end(done),
        }
    }
    drop(listener);
    tracing::info!(
        sessions = tasks.len(),
        "postgres protocol server shutting down"
    );
    let _ = stop_tx.send(true);
    shared.cancel_all();
    let drain = async {
        while let Some(done) = tasks.join_next().await {
            log_task_end(done);
        }
    };
    if tokio::time::timeout(shared.cfg.shutdown_grace, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            sessions = tasks.len(),
            "sessions still running after the shutdown grace; dropping them"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    Ok(())
}

fn log_task_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::error!("a connection task panicked: {e}");
        }
    }
}

/// State every connection of one server shares.
pub(crate) struct Shared {
    db: Arc<Database>,
    tls: Option<TlsConfig>,
    cfg: ServerConfig,
    metrics: Arc<ComputeMetrics>,
    /// One permit per session ([`ServerConfig::max_connections`]).
    sessions: Arc<Semaphore>,
    /// One permit per connection in its handshake ([`HANDSHAKES_MAX`]).
    handshakes: Arc<Semaphore>,
    /// BackendKeyData → the session's cancel handle. Bounded by the
    /// session limit: an entry lives exactly as long as its session.
    cancels: Mutex<HashMap<i32, CancelEntry>>,
    next_pid: AtomicI32,
    verifiers: auth::Verifiers,
    stop: watch::Receiver<bool>,
}

struct CancelEntry {
    secret: Bytes,
    handle: CancelHandle,
}

/// Asks one session's running statement to stop, from another task: the
/// flag behind `Session::cancel_handle`, which the executor polls (57014).
#[derive(Clone)]
pub(crate) struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    pub(crate) fn new(flag: Arc<AtomicBool>) -> CancelHandle {
        CancelHandle(flag)
    }

    fn cancel(&self) {
        // The same store `Session::cancel` makes.
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Shared {
    /// A process id for BackendKeyData that no live session uses.
    fn register_cancel(&self, secret: Bytes, handle: CancelHandle) -> i32 {
        let mut cancels = self.cancels.lock().expect("cancel table lock");
        assert!(
            cancels.len() <= MAX_CONNECTIONS_MAX as usize,
            "cancel table has {} entries",
            cancels.len()
        );
        loop {
            // Positive, like a PostgreSQL backend pid; wraps after 2^31 sessions.
            let pid = self.next_pid.fetch_add(1, Ordering::Relaxed) & i32::MAX;
            if pid != 0 && !cancels.contains_key(&pid) {
                cancels.insert(pid, CancelEntry { secret, handle });
                return pid;
            }
        }
    }

    fn unregister_cancel(&self, pid: i32) {
        self.cancels.lock().expect("cancel table lock").remove(&pid);
    }

    /// Cancels the running statement of session `pid` if `secret` matches;
    /// a mismatch is silently ignored, as PostgreSQL does.
    fn cancel(&self, pid: i32, secret: &[u8]) -> bool {
        let cancels = self.cancels.lock().expect("cancel table lock");
        match cancels.get(&pid) {
            Some(e) if auth::constant_time_eq(&e.secret, secret) => {
                e.handle.cancel();
                true
            }
            _ => false,
        }
    }

    fn cancel_all(&self) {
        for e in self.cancels.lock().expect("cancel table lock").values() {
            e.handle.cancel();
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

//! The proxy as a whole: listeners, the connection handshake (TLS and
//! GSSAPI-encryption negotiation, cancel requests, the startup message,
//! authentication), sessions, the health monitor and `/metrics`.
//!
//! [`Proxy::start`] is the in-process entry point (`sextant proxy` and
//! `sextant dev` both call it); it returns a [`ProxyHandle`] that tells the
//! bound addresses and stops everything on [`ProxyHandle::shutdown`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument as _;

use crate::auth::{AuthError, Authenticator};
use crate::cancel::{self, CancelRegistry};
use crate::config::{BackendCredentials, Limits, Listen, ProxyConfig};
use crate::error::{ClientError, StartError};
use crate::metrics::{Endpoint, ProxyMetrics};
use crate::session::{End, Session};
use crate::topology::Topology;
use crate::wire::{self, Severity, Startup};

/// A client's byte stream, plain TCP or TLS.
pub trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientIo for T {}
/// A boxed client stream.
pub type ClientStream = Box<dyn ClientIo>;

/// What every session shares.
pub(crate) struct Shared {
    pub topology: Arc<Topology>,
    pub metrics: Arc<ProxyMetrics>,
    pub auth: Authenticator,
    pub backend: BackendCredentials,
    pub limits: Limits,
    pub hold_timeout: Duration,
    pub reader_fallback_to_writer: bool,
    pub cancels: Arc<CancelRegistry>,
    pub tls: Option<TlsAcceptor>,
    pub require_tls: bool,
    pub stop: watch::Receiver<bool>,
    pub connections: Arc<Semaphore>,
}

/// The proxy.
pub struct Proxy;

/// A running proxy.
pub struct ProxyHandle {
    writer_addr: SocketAddr,
    reader_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    metrics: Arc<ProxyMetrics>,
    topology: Arc<Topology>,
}

impl std::fmt::Debug for ProxyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyHandle")
            .field("writer_addr", &self.writer_addr)
            .field("reader_addr", &self.reader_addr)
            .finish_non_exhaustive()
    }
}

impl ProxyHandle {
    /// The writer endpoint's bound address.
    pub fn writer_addr(&self) -> SocketAddr {
        self.writer_addr
    }
    /// The reader endpoint's bound address.
    pub fn reader_addr(&self) -> Option<SocketAddr> {
        self.reader_addr
    }
    /// The `/metrics` listener's bound address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }
    /// The metrics, Prometheus text.
    pub fn metrics_text(&self) -> String {
        self.metrics.encode()
    }
    /// The name of the node the proxy takes for the writer now.
    pub fn current_writer(&self) -> Option<String> {
        self.topology.view().writer.map(|w| w.name)
    }
    /// Stops listening, ends every session (57P01) and the monitor.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn bind(listen: Listen, what: &'static str) -> Result<TcpListener, StartError> {
    let r = match listen {
        Listen::Addr(a) => TcpListener::bind(a).await,
        Listen::Bound(l) => l
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(l)),
    };
    r.map_err(|source| StartError::Listen { what, source })
}

fn default_endpoint_names(addrs: &[SocketAddr]) -> Vec<String> {
    let mut names = Vec::new();
    for a in addrs {
        names.push(a.to_string());
        if a.ip().is_loopback() || a.ip().is_unspecified() {
            names.push(format!("localhost:{}", a.port()));
            names.push(format!("127.0.0.1:{}", a.port()));
        }
    }
    names.dedup();
    names
}

impl Proxy {
    /// Validates the configuration, binds the listeners and starts serving.
    pub async fn start(config: ProxyConfig) -> Result<ProxyHandle, StartError> {
        config.validate()?;
        let tls = match &config.tls {
            Some(files) => Some(TlsAcceptor::from(crate::tls::server_config(files)?)),
            None => None,
        };
        let writer = bind(config.writer_listen, "the writer endpoint").await?;
        let reader = match config.reader_listen {
            Some(l) => Some(bind(l, "the reader endpoint").await?),
            None => None,
        };
        let metrics_listener = match config.metrics_listen {
            Some(l) => Some(bind(l, "/metrics").await?),
            None => None,
        };
        let local = |l: &TcpListener, what| {
            l.local_addr()
                .map_err(|source| StartError::Listen { what, source })
        };
        let writer_addr = local(&writer, "the writer endpoint")?;
        let reader_addr = reader
            .as_ref()
            .map(|l| local(l, "the reader endpoint"))
            .transpose()?;
        let metrics_addr = metrics_listener
            .as_ref()
            .map(|l| local(l, "/metrics"))
            .transpose()?;
        let endpoint_names = if config.endpoint_names.is_empty() {
            let mut addrs = vec![writer_addr];
            addrs.extend(reader_addr);
            default_endpoint_names(&addrs)
        } else {
            config.endpoint_names
        };

        let metrics = Arc::new(ProxyMetrics::new());
        let topology = Topology::new(config.nodes, config.health, metrics.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            topology: topology.clone(),
            metrics: metrics.clone(),
            auth: Authenticator::new(
                config.iam,
                endpoint_names.clone(),
                config.token_clock_skew,
                config.backend.clone(),
            ),
            backend: config.backend,
            connections: Arc::new(Semaphore::new(config.limits.max_connections as usize)),
            limits: config.limits,
            hold_timeout: config.hold_timeout,
            reader_fallback_to_writer: config.reader_fallback_to_writer,
            cancels: Arc::new(CancelRegistry::default()),
            tls,
            require_tls: config.require_tls,
            stop: stop_rx.clone(),
        });
        let mut tasks = vec![tokio::spawn(topology.clone().monitor(stop_rx.clone()))];
        tasks.push(tokio::spawn(accept_loop(
            writer,
            Endpoint::Writer,
            shared.clone(),
        )));
        if let Some(r) = reader {
            tasks.push(tokio::spawn(accept_loop(
                r,
                Endpoint::Reader,
                shared.clone(),
            )));
        }
        if let Some(l) = metrics_listener {
            tasks.push(tokio::spawn(serve_metrics(
                l,
                metrics.clone(),
                stop_rx.clone(),
            )));
        }
        tracing::info!(
            writer = %writer_addr,
            reader = ?reader_addr,
            metrics = ?metrics_addr,
            tls = shared.tls.is_some(),
            endpoints = ?endpoint_names,
            "proxy listening"
        );
        Ok(ProxyHandle {
            writer_addr,
            reader_addr,
            metrics_addr,
            stop: stop_tx,
            tasks,
            metrics,
            topology,
        })
    }
}

async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<ProxyMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.encode(),
                )
            }
        }),
    );
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!("/metrics server failed: {e}");
    }
}

async fn accept_loop(listener: TcpListener, endpoint: Endpoint, shared: Arc<Shared>) {
    let mut stop = shared.stop.clone();
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((tcp, peer)) => {
                    let span = tracing::info_span!("session", %peer, endpoint = endpoint.as_str());
                    sessions.spawn(handle(tcp, peer, endpoint, shared.clone()).instrument(span));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off.
                    tracing::warn!(endpoint = endpoint.as_str(), "failed to accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
        }
    }
    // Sessions see the stop signal themselves and say goodbye.
    while sessions.join_next().await.is_some() {}
}

/// One client connection, start to end.
async fn handle(tcp: TcpStream, peer: SocketAddr, endpoint: Endpoint, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let permit = shared.connections.clone().try_acquire_owned().ok();
    let opened = tokio::time::timeout(
        shared.limits.auth_timeout,
        open(tcp, peer, endpoint, &shared, permit.is_some()),
    )
    .await;
    let mut session = match opened {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(_) => {
            tracing::info!(%peer, "client did not finish logging in in time");
            return;
        }
    };
    let _active = shared.metrics.connection(endpoint);
    if session.start().await.is_err() {
        return;
    }
    let end = session.run().await;
    match end {
        End::ClientLeft => tracing::debug!(%peer, "client left"),
        End::Closed(e) => {
            tracing::info!(%peer, code = e.sqlstate(), "session closed: {}", e.client_message())
        }
        End::ClientIo(e) => tracing::debug!(%peer, "client connection broke: {e}"),
    }
    drop(permit);
}

/// Reads one untagged startup-phase packet, exactly (no read-ahead, so no
/// plaintext bytes can be smuggled past a TLS upgrade).
async fn read_startup<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<Result<Startup, String>> {
    let len = s.read_u32().await?;
    if !(8..=wire::MAX_STARTUP_PACKET_LENGTH).contains(&len) {
        return Ok(Err(format!("invalid startup packet length {len}")));
    }
    let mut body = vec![0u8; len as usize - 4];
    s.read_exact(&mut body).await?;
    Ok(wire::parse_startup(&body).map_err(|e| e.to_string()))
}

async fn refuse<S: AsyncWrite + Unpin>(s: &mut S, e: &ClientError) {
    let mut out = BytesMut::new();
    wire::error_response(&mut out, Severity::Fatal, e.sqlstate(), &e.client_message());
    let _ = s.write_all(&out).await;
    let _ = s.flush().await;
    let _ = s.shutdown().await;
}

async fn cancel(shared: &Shared, process_id: i32, secret_key: i32) {
    match shared.cancels.lookup(process_id, secret_key) {
        Some(key) => {
            if let Err(e) = cancel::forward(&key, shared.limits.connect_timeout).await {
                tracing::warn!(backend = %key.addr, "failed to forward a cancel request: {e}");
            }
        }
        None => tracing::debug!(process_id, "cancel request matches no session"),
    }
}

/// Negotiation, startup and authentication; a session ready to start, or
/// `None` when the connection ended here (cancel request, refusal).
async fn open(
    mut tcp: TcpStream,
    peer: SocketAddr,
    endpoint: Endpoint,
    shared: &Arc<Shared>,
    within_limit: bool,
) -> Option<Session> {
    let (mut stream, tls, version, params): (ClientStream, bool, u32, Vec<(String, String)>) = loop {
        match read_startup(&mut tcp).await {
            Err(e) => {
                tracing::debug!(%peer, "connection closed during startup: {e}");
                return None;
            }
            Ok(Err(why)) => {
                refuse(&mut tcp, &ClientError::Protocol(why)).await;
                return None;
            }
            Ok(Ok(Startup::SslRequest)) => {
                let Some(acceptor) = &shared.tls else {
                    tcp.write_all(b"N").await.ok()?;
                    continue;
                };
                tcp.write_all(b"S").await.ok()?;
                let mut t: ClientStream = match acceptor.accept(tcp).await {
                    Ok(t) => Box::new(t),
                    Err(e) => {
                        tracing::info!(%peer, "TLS handshake failed: {e}");
                        return None;
                    }
                };
                match read_startup(&mut t).await {
                    Err(_) => return None,
                    Ok(Ok(Startup::Startup { version, params })) => {
                        break (t, true, version, params)
                    }
                    Ok(Ok(Startup::Cancel {
                        process_id,
                        secret_key,
                    })) => {
                        cancel(shared, process_id, secret_key).await;
                        return None;
                    }
                    Ok(Ok(_)) => {
                        refuse(
                            &mut t,
                            &ClientError::Protocol("negotiation request inside TLS".into()),
                        )
                        .await;
                        return None;
                    }
                    Ok(Err(why)) => {
                        refuse(&mut t, &ClientError::Protocol(why)).await;
                        return None;
                    }
                }
            }
            // GSSAPI encryption is not offered; the client then goes on
            // with TLS or plain text, as with PostgreSQL built without it.
            Ok(Ok(Startup::GssEncRequest)) => {
                tcp.write_all(b"N").await.ok()?;
            }
            Ok(Ok(Startup::Cancel {
                process_id,
                secret_key,
            })) => {
                cancel(shared, process_id, secret_key).await;
                return None;
            }
            Ok(Ok(Startup::Startup { version, params })) => {
                break (Box::new(tcp), false, version, params)
            }
        }
    };

    let (major, minor) = (version >> 16, version & 0xffff);
    if major != 3 {
        refuse(
            &mut stream,
            &ClientError::Unsupported(format!("frontend protocol {major}.{minor}")),
        )
        .await;
        return None;
    }
    let mut out = BytesMut::new();
    let unknown_options: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k.starts_with("_pq_."))
        .map(|(k, _)| k.as_str())
        .collect();
    if minor > 0 || !unknown_options.is_empty() {
        // NegotiateProtocolVersion: the proxy speaks 3.0.
        wire::negotiate_protocol_version(&mut out, 0, &unknown_options);
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if !within_limit {
        refuse(&mut stream, &ClientError::TooManyConnections).await;
        return None;
    }
    if shared.require_tls && !tls {
        shared.metrics.auth_failure("tls_required");
        tracing::info!(%peer, "refused: TLS is required");
        refuse(&mut stream, &ClientError::TlsRequired).await;
        return None;
    }
    if param("replication").is_some_and(|v| v != "false" && v != "0" && v != "off") {
        refuse(
            &mut stream,
            &ClientError::Unsupported("replication connections".into()),
        )
        .await;
        return None;
    }
    let Some(user) = param("user").filter(|u| !u.is_empty()) else {
        refuse(
            &mut stream,
            &ClientError::Protocol("no user name in the startup message".into()),
        )
        .await;
        return None;
    };
    let database = param("database")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| shared.backend.database.clone());
    if !out.is_empty() {
        stream.write_all(&out).await.ok()?;
    }

    let mut buf = BytesMut::new();
    match shared
        .auth
        .authenticate(&mut stream, &mut buf, &user, tls)
        .await
    {
        Ok(method) => {
            tracing::info!(%peer, %user, ?method, tls, "client authenticated");
        }
        Err(AuthError::Failed { reason }) => {
            shared.metrics.auth_failure(reason);
            tracing::warn!(%peer, %user, tls, reason, "authentication failed");
            refuse(&mut stream, &ClientError::AuthFailed { user }).await;
            return None;
        }
        Err(AuthError::Disconnected) => {
            tracing::debug!(%peer, "client left during authentication");
            return None;
        }
        Err(AuthError::Protocol(why)) => {
            shared.metrics.auth_failure("protocol");
            refuse(&mut stream, &ClientError::Protocol(why)).await;
            return None;
        }
        Err(AuthError::Io(e)) => {
            tracing::debug!(%peer, "client I/O during authentication: {e}");
            return None;
        }
    }
    out.clear();
    wire::authentication(&mut out, wire::AUTH_OK, &[]);
    stream.write_all(&out).await.ok()?;

    let forwarded: Vec<(String, String)> = params
        .into_iter()
        .filter(|(k, _)| {
            !matches!(k.as_str(), "user" | "database" | "replication") && !k.starts_with("_pq_.")
        })
        .collect();
    let registration = shared.cancels.register(shared.auth.rng());
    Some(Session::new(
        shared.clone(),
        endpoint,
        stream,
        buf,
        database,
        forwarded,
        registration,
    ))
}

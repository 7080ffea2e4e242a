//! The relay of one client session, and how it survives a writer failover.
//!
//! # Relay
//! One task per session runs an event loop over four buffers: bytes read
//! from the client and from the backend (split into whole messages, each at
//! most `max_message_bytes`), and bytes waiting to be written to each. Whole
//! messages are forwarded unchanged in both directions (simple and extended
//! query, COPY both ways, notices, notifications, errors). A side stops
//! being read while the other side's write buffer is above
//! [`WRITE_BUFFER_HIGH_BYTES`], so memory stays bounded and a slow reader
//! slows its peer instead of the proxy.
//!
//! The loop watches just enough to know where the session is: requests
//! awaiting `ReadyForQuery` (each `Query`, `Sync` and `FunctionCall`),
//! extended-protocol messages not yet followed by `Sync`, COPY IN, and the
//! transaction status of the last `ReadyForQuery`. It also records the
//! session's state that a new backend connection would need: statements
//! that change the session (`SET`, `RESET`, `PREPARE`, `DEALLOCATE`,
//! `DISCARD`, `LISTEN`, `UNLISTEN`, sent alone in a simple `Query`, once they
//! succeed outside a transaction or their transaction commits; `SET LOCAL`
//! and `SET TRANSACTION` are not session state) and named prepared
//! statements (`Parse` with a name, until `Close`). Startup parameters are
//! sent again in the new startup message.
//!
//! # Failover
//! When the backend connection breaks, or the topology names another writer
//! (the old one may be paused rather than dead), the session detaches:
//! * **idle, no transaction**: nothing to tell the client. The next message
//!   waits (up to `hold_timeout`) for a writer, a new backend connection is
//!   opened, the session state replayed, and the message forwarded: the
//!   client sees a pause.
//! * **a transaction was open, or a request was in flight**: the client gets
//!   SQLSTATE **40001** (`serialization_failure`) for it, and the new backend
//!   is put in a failed transaction (`BEGIN` + a failing statement) so the
//!   client's later statements get 25P02 until it rolls back, exactly as if
//!   the transaction had failed on the server. If the session was idle in
//!   the transaction, the 40001 answers its next message (a `ROLLBACK` just
//!   goes through).
//!
//! 40001 rather than 08006: drivers, ORMs and retry loops treat 40001 as
//! "retry the transaction" on the same connection, which is what the client
//! should do, while a class 08 error tells most drivers (pgjdbc, psycopg,
//! npgsql) the connection is dead and must be discarded, which it is not.
//! The one case where 40001's promise (nothing was committed) may not hold:
//! a `COMMIT` or autocommit statement in flight when the writer died may
//! have committed before the reply was lost, the same uncertainty a
//! dropped connection gives; the message says so, and writes retried this
//! way should be idempotent (upserts). Every other statement is held, not
//! failed, and the client's TCP connection stays open throughout.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;

use crate::backend::{self, BackendConn, ConnectError};
use crate::cancel::{BackendKey, Registration};
use crate::error::ClientError;
use crate::metrics::{BackendErrorKind, Endpoint};
use crate::server::{ClientStream, Shared};
use crate::topology::{NodeSession, Target};
use crate::wire::{self, FrameError, Severity};

/// Above this many bytes waiting to be written to one side, the other side
/// is not read (backpressure).
pub const WRITE_BUFFER_HIGH_BYTES: usize = 256 << 10;
/// Session statements replayed after a failover, at most; a session that
/// makes more stops being tracked and is closed if it must be re-attached.
pub const TRACKED_STATEMENTS_MAX: usize = 256;
/// Named prepared statements replayed, at most (same rule).
pub const TRACKED_PREPARED_MAX: usize = 1024;
/// Bytes of tracked statements and `Parse` messages, at most (same rule).
pub const TRACKED_BYTES_MAX: usize = 4 << 20;

/// How long a closing session keeps reading (and dropping) client input
/// after its FATAL error, so the error is not lost to a TCP reset.
const CLOSE_DRAIN_TIME: Duration = Duration::from_millis(500);

/// A backend connection in use.
struct Attached {
    target: Target,
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    buf: BytesMut,
    out: BytesMut,
    /// Counts this session on the node (least-connections).
    _count: NodeSession,
}

/// What a session tracks to move to a new backend.
#[derive(Default)]
struct Tracked {
    /// Session statements in order.
    statements: Vec<String>,
    /// Session statements of the open transaction, kept if it commits.
    in_transaction: Vec<String>,
    /// Named `Parse` messages, whole.
    prepared: BTreeMap<String, Bytes>,
    bytes: usize,
    /// Over a limit: the session can no longer be moved.
    overflowed: bool,
}

impl Tracked {
    fn check_limits(&mut self) {
        if self.statements.len() + self.in_transaction.len() > TRACKED_STATEMENTS_MAX
            || self.prepared.len() > TRACKED_PREPARED_MAX
            || self.bytes > TRACKED_BYTES_MAX
        {
            if !self.overflowed {
                tracing::warn!(
                    "session state over the tracking limits; it cannot survive a failover"
                );
            }
            self.overflowed = true;
        }
    }
    /// A request finished, its `ReadyForQuery` going from transaction
    /// status `before` to `after`: keep what it did to the session.
    fn settle(&mut self, p: Pending, before: u8, after: u8) {
        if let Some(statement) = p.statement {
            if !p.failed {
                match statement {
                    SessionStatement::DiscardAll => self.clear(),
                    SessionStatement::Track(sql) => {
                        self.bytes += sql.len();
                        if after == b'I' {
                            self.statements.push(sql);
                        } else {
                            self.in_transaction.push(sql);
                        }
                        self.check_limits();
                    }
                }
            }
        }
        if before != b'I' && after == b'I' {
            // A transaction ended: its session statements stay if it
            // committed.
            let committed = !p.failed && p.tag.as_deref() == Some("COMMIT");
            let kept = std::mem::take(&mut self.in_transaction);
            if committed {
                self.statements.extend(kept);
            }
        }
    }

    fn clear(&mut self) {
        self.statements.clear();
        self.in_transaction.clear();
        self.prepared.clear();
        self.bytes = 0;
    }
}

/// How a simple query changes the session, if it does.
#[derive(Debug, PartialEq, Eq)]
enum SessionStatement {
    /// Replay it after a failover.
    Track(String),
    /// `DISCARD ALL`: forget everything tracked.
    DiscardAll,
}

fn words(sql: &str) -> impl Iterator<Item = String> + '_ {
    sql.split(|c: char| c.is_whitespace() || c == ';' || c == '=')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
}

/// Classifies a simple query's text.
fn classify(sql: &str) -> Option<SessionStatement> {
    let trimmed = sql.trim().trim_end_matches(';').trim_end();
    if trimmed.contains(';') {
        // Several statements in one message: not tracked (documented).
        return None;
    }
    let mut w = words(trimmed);
    let first = w.next()?;
    match first.as_str() {
        "set" => match w.next()?.as_str() {
            "local" | "transaction" => None,
            _ => Some(SessionStatement::Track(trimmed.to_owned())),
        },
        "discard" => match w.next()?.as_str() {
            "all" => Some(SessionStatement::DiscardAll),
            _ => Some(SessionStatement::Track(trimmed.to_owned())),
        },
        "reset" | "prepare" | "deallocate" | "listen" | "unlisten" => {
            Some(SessionStatement::Track(trimmed.to_owned()))
        }
        _ => None,
    }
}

/// `ROLLBACK` or `ABORT` (not `ROLLBACK TO SAVEPOINT`).
fn is_rollback(sql: &str) -> bool {
    let mut w = words(sql);
    matches!(w.next().as_deref(), Some("rollback" | "abort")) && !w.any(|x| x == "to")
}

/// What one request (a `Query` or a `Sync`) will do to tracked state once
/// its `ReadyForQuery` arrives.
struct Pending {
    statement: Option<SessionStatement>,
    failed: bool,
    tag: Option<String>,
}

/// How the session ended.
#[derive(Debug)]
pub enum End {
    /// The client sent Terminate or closed the connection.
    ClientLeft,
    /// The proxy ended it and told the client why.
    Closed(ClientError),
    /// I/O error on the client side.
    ClientIo(std::io::Error),
}

pub struct Session {
    shared: Arc<Shared>,
    endpoint: Endpoint,
    client_read: ReadHalf<ClientStream>,
    client_write: WriteHalf<ClientStream>,
    client_buf: BytesMut,
    to_client: BytesMut,
    client_dirty: bool,
    backend: Option<Attached>,
    database: String,
    params: Vec<(String, String)>,
    cancel: Registration,
    tracked: Tracked,
    pending: VecDeque<Pending>,
    /// Transaction status of the last `ReadyForQuery` the client saw.
    tx_status: u8,
    /// Requests forwarded whose `ReadyForQuery` has not come back.
    awaiting_ready: u32,
    /// Extended-protocol messages forwarded since the last `Sync`.
    unsynced: bool,
    /// The backend is in COPY IN.
    copy_in: bool,
    /// After an error the proxy raised mid extended-protocol batch: drop
    /// client messages until `Sync`, then answer `ReadyForQuery(status)`.
    discard_until_sync: Option<u8>,
    /// A transaction was lost while idle: the next message gets 40001.
    owe_failover_error: bool,
    /// The next backend must be put in a failed transaction.
    abort_on_attach: bool,
    last_client_activity: Instant,
}

enum Event {
    ClientRead(std::io::Result<usize>),
    ClientWrote(std::io::Result<usize>),
    ClientFlushed(std::io::Result<()>),
    BackendRead(std::io::Result<usize>),
    BackendWrote(std::io::Result<usize>),
    ViewChanged,
    IdleTimeout,
    Stop,
    Nothing,
}

async fn read_opt(b: Option<(&mut OwnedReadHalf, &mut BytesMut)>) -> std::io::Result<usize> {
    match b {
        Some((r, buf)) => r.read_buf(buf).await,
        None => std::future::pending().await,
    }
}

/// Writes pending bytes to the client, or flushes once they are written
/// (TLS buffers records); never both in one call, so the future is
/// cancel-safe in `select!`.
async fn write_client(w: &mut WriteHalf<ClientStream>, buf: &BytesMut, flush: bool) -> Event {
    if !buf.is_empty() {
        Event::ClientWrote(w.write(buf).await)
    } else if flush {
        Event::ClientFlushed(w.flush().await)
    } else {
        std::future::pending().await
    }
}

async fn write_opt(b: Option<(&mut OwnedWriteHalf, &BytesMut)>) -> std::io::Result<usize> {
    match b {
        Some((w, buf)) => w.write(buf).await,
        None => std::future::pending().await,
    }
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        shared: Arc<Shared>,
        endpoint: Endpoint,
        stream: ClientStream,
        client_buf: BytesMut,
        database: String,
        params: Vec<(String, String)>,
        cancel: Registration,
    ) -> Session {
        let (client_read, client_write) = tokio::io::split(stream);
        Session {
            shared,
            endpoint,
            client_read,
            client_write,
            client_buf,
            to_client: BytesMut::with_capacity(16 << 10),
            client_dirty: false,
            backend: None,
            database,
            params,
            cancel,
            tracked: Tracked::default(),
            pending: VecDeque::new(),
            tx_status: b'I',
            awaiting_ready: 0,
            unsynced: false,
            copy_in: false,
            discard_until_sync: None,
            owe_failover_error: false,
            abort_on_attach: false,
            last_client_activity: Instant::now(),
        }
    }

    /// Opens the first backend session and sends the client what follows
    /// `AuthenticationOk`: parameter statuses, the proxy's key, ready.
    /// A refusal by the server (say, an unknown database) is forwarded.
    pub async fn start(&mut self) -> Result<(), End> {
        let deadline = Instant::now() + self.shared.hold_timeout;
        let conn = match self.open_backend(deadline).await {
            Ok(c) => c,
            Err(OpenError::Refused(frame)) => {
                self.to_client.extend_from_slice(&frame);
                self.flush_client().await.map_err(End::ClientIo)?;
                return Err(End::Closed(ClientError::BackendUnavailable));
            }
            Err(OpenError::Client(e)) => return Err(self.close_with(e).await),
        };
        for ps in &conn.parameter_status {
            self.to_client.extend_from_slice(ps);
        }
        wire::backend_key_data(
            &mut self.to_client,
            self.cancel.process_id,
            self.cancel.secret_key,
        );
        wire::ready_for_query(&mut self.to_client, b'I');
        self.install(conn);
        self.flush_client().await.map_err(End::ClientIo)?;
        Ok(())
    }

    async fn flush_client(&mut self) -> std::io::Result<()> {
        if !self.to_client.is_empty() {
            self.client_write.write_all(&self.to_client).await?;
            self.to_client.clear();
        }
        self.client_write.flush().await?;
        self.client_dirty = false;
        Ok(())
    }

    /// Sends a FATAL error and ends the session. The connection is closed
    /// gracefully (FIN, then unread input drained for a moment), so that a
    /// client still sending, say, an over-long message reads the error
    /// instead of a reset.
    async fn close_with(&mut self, e: ClientError) -> End {
        wire::error_response(
            &mut self.to_client,
            Severity::Fatal,
            e.sqlstate(),
            &e.client_message(),
        );
        if self.flush_client().await.is_ok() && self.client_write.shutdown().await.is_ok() {
            let mut scratch = vec![0u8; 64 << 10];
            let drain = async {
                while matches!(self.client_read.read(&mut scratch).await, Ok(n) if n > 0) {}
            };
            let _ = tokio::time::timeout(CLOSE_DRAIN_TIME, drain).await;
        }
        End::Closed(e)
    }

    fn install(&mut self, conn: BackendConn) {
        *self.cancel.slot.lock().expect("cancel slot lock") = Some(BackendKey {
            addr: conn.target.sql_addr.clone(),
            process_id: conn.process_id,
            secret_key: conn.secret_key,
        });
        let count = self.shared.topology.enter(&conn.target);
        self.backend = Some(Attached {
            target: conn.target,
            read: conn.read,
            write: conn.write,
            buf: conn.buf,
            out: BytesMut::with_capacity(16 << 10),
            _count: count,
        });
    }

    /// Finds a node for this endpoint and logs in, retrying until
    /// `deadline` (a writer may be on its way).
    async fn open_backend(&mut self, deadline: Instant) -> Result<BackendConn, OpenError> {
        let sh = self.shared.clone();
        loop {
            let target = match self.endpoint {
                Endpoint::Writer => sh.topology.wait_writer(deadline).await,
                Endpoint::Reader => {
                    sh.topology
                        .pick_reader(sh.reader_fallback_to_writer, deadline)
                        .await
                }
            };
            let Some(target) = target else {
                return Err(OpenError::Client(ClientError::NoBackend {
                    endpoint: match self.endpoint {
                        Endpoint::Writer => "writer",
                        Endpoint::Reader => "reader",
                    },
                }));
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = sh
                .limits
                .connect_timeout
                .min(left.max(Duration::from_millis(100)));
            match backend::connect(&target, &sh.backend, &self.database, &self.params, timeout)
                .await
            {
                Ok(c) => return Ok(c),
                Err(ConnectError::Refused { fields, frame }) => {
                    sh.metrics.backend_error(BackendErrorKind::Login);
                    // Retry only what a failover explains (the node is
                    // starting up or shutting down).
                    let transient = fields.code.starts_with("57P") || fields.code == "25006";
                    if !transient || Instant::now() >= deadline {
                        tracing::warn!(node = %target.name, code = %fields.code, "backend refused the session: {}", fields.message);
                        return Err(OpenError::Refused(frame));
                    }
                }
                Err(e) => {
                    sh.metrics.backend_error(match e {
                        ConnectError::Connect { .. } | ConnectError::Timeout => {
                            BackendErrorKind::Connect
                        }
                        _ => BackendErrorKind::Login,
                    });
                    tracing::warn!(node = %target.name, "failed to open a backend session: {e}");
                    sh.topology.report_failure(target.index);
                    if Instant::now() >= deadline {
                        return Err(OpenError::Client(ClientError::BackendUnavailable));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Attaches to a new backend and replays the session's state.
    async fn reattach(&mut self, deadline: Instant) -> Result<(), ClientError> {
        if self.tracked.overflowed {
            return Err(ClientError::BackendUnavailable);
        }
        loop {
            let mut conn = match self.open_backend(deadline).await {
                Ok(c) => c,
                Err(OpenError::Refused(_)) => return Err(ClientError::BackendUnavailable),
                Err(OpenError::Client(e)) => return Err(e),
            };
            let parses: Vec<Bytes> = self.tracked.prepared.values().cloned().collect();
            let timeout = self.shared.limits.connect_timeout;
            match backend::replay(
                &mut conn,
                &self.tracked.statements,
                &parses,
                self.abort_on_attach,
                timeout,
            )
            .await
            {
                Ok(()) => {
                    tracing::info!(
                        node = %conn.target.name,
                        statements = self.tracked.statements.len(),
                        prepared = parses.len(),
                        failed_transaction = self.abort_on_attach,
                        "session re-attached"
                    );
                    self.shared.metrics.session_reattached();
                    self.abort_on_attach = false;
                    self.install(conn);
                    return Ok(());
                }
                Err(e) => {
                    self.shared.metrics.backend_error(BackendErrorKind::Io);
                    tracing::warn!(node = %conn.target.name, "failed to replay session state: {e}");
                    if Instant::now() >= deadline {
                        return Err(ClientError::BackendUnavailable);
                    }
                }
            }
        }
    }

    /// The backend is gone (or no longer the writer): detach, and fail what
    /// was open (module doc).
    fn detach(&mut self, why: &str, broken: bool) {
        let Some(b) = self.backend.take() else { return };
        *self.cancel.slot.lock().expect("cancel slot lock") = None;
        if broken {
            self.shared.metrics.backend_error(BackendErrorKind::Io);
            self.shared.topology.report_failure(b.target.index);
        }
        let in_flight = self.awaiting_ready > 0 || self.unsynced || self.copy_in;
        let in_transaction = self.tx_status != b'I';
        tracing::info!(
            node = %b.target.name,
            in_flight,
            in_transaction,
            "session detached from its backend: {why}"
        );
        if in_flight {
            let status = if in_transaction { b'E' } else { b'I' };
            let e = ClientError::TransactionFailedOver;
            self.shared.metrics.transaction_failed_over();
            // Every request awaiting an answer gets the error and its
            // ReadyForQuery (an error may follow partial results); a batch
            // not yet synced gets the error now and ReadyForQuery at Sync.
            for _ in 0..self.awaiting_ready {
                wire::error_response(
                    &mut self.to_client,
                    Severity::Error,
                    e.sqlstate(),
                    &e.client_message(),
                );
                wire::ready_for_query(&mut self.to_client, status);
            }
            if self.unsynced {
                wire::error_response(
                    &mut self.to_client,
                    Severity::Error,
                    e.sqlstate(),
                    &e.client_message(),
                );
                self.discard_until_sync = Some(status);
            }
            self.awaiting_ready = 0;
            self.unsynced = false;
            self.copy_in = false;
            self.pending.clear();
            self.tx_status = status;
            self.abort_on_attach = in_transaction;
        } else if in_transaction {
            self.owe_failover_error = true;
            self.abort_on_attach = true;
        }
        if self.abort_on_attach {
            self.tracked.in_transaction.clear();
        }
    }

    /// Answers a client request the proxy cannot forward with `e`, keeping
    /// the protocol in step: `ReadyForQuery` now for `Query`/`Sync`/
    /// `FunctionCall`, or after the coming `Sync` otherwise.
    fn fail_request(&mut self, tag: u8, e: &ClientError, status: u8) {
        wire::error_response(
            &mut self.to_client,
            Severity::Error,
            e.sqlstate(),
            &e.client_message(),
        );
        match tag {
            b'Q' | b'S' | b'F' => wire::ready_for_query(&mut self.to_client, status),
            _ => self.discard_until_sync = Some(status),
        }
        self.tx_status = status;
    }

    /// Handles one message from the client. `Err` ends the session.
    async fn on_client(&mut self, f: wire::Frame) -> Result<(), End> {
        let tag = f.tag();
        if tag == b'X' {
            if let Some(b) = &mut self.backend {
                b.out.extend_from_slice(f.raw());
                let _ = b.write.write_all(&b.out).await;
            }
            return Err(End::ClientLeft);
        }
        if matches!(tag, b'd' | b'c' | b'f') && self.backend.is_none() {
            // COPY data for a COPY the failover ended: dropped, as a server
            // drops it after a COPY error.
            return Ok(());
        }
        if let Some(status) = self.discard_until_sync {
            if tag == b'S' {
                self.discard_until_sync = None;
                wire::ready_for_query(&mut self.to_client, status);
            }
            return Ok(());
        }
        let query = if tag == b'Q' {
            Some(wire::parse_query(f.body()).map_err(|e| self.protocol(e))?)
        } else {
            None
        };
        if self.owe_failover_error {
            self.owe_failover_error = false;
            if !query.as_deref().is_some_and(is_rollback) {
                self.shared.metrics.transaction_failed_over();
                self.fail_request(tag, &ClientError::TransactionFailedOver, b'E');
                return Ok(());
            }
        }
        if self.backend.is_none() {
            // Hold the message until a backend is ready (bounded).
            self.flush_client().await.map_err(End::ClientIo)?;
            let deadline = Instant::now() + self.shared.hold_timeout;
            if let Err(e) = self.reattach(deadline).await {
                if self.tracked.overflowed {
                    return Err(self.close_with(e).await);
                }
                tracing::warn!("held statement failed: {}", e.client_message());
                let status = self.tx_status;
                self.fail_request(tag, &e, status);
                return Ok(());
            }
        }
        self.track_client(tag, &f, query)?;
        let b = self.backend.as_mut().expect("attached above");
        b.out.extend_from_slice(f.raw());
        Ok(())
    }

    fn protocol(&self, e: FrameError) -> End {
        End::Closed(ClientError::Protocol(e.to_string()))
    }

    /// Updates request and tracked state for a message being forwarded.
    fn track_client(&mut self, tag: u8, f: &wire::Frame, query: Option<String>) -> Result<(), End> {
        match tag {
            b'Q' => {
                self.awaiting_ready += 1;
                let statement = query.as_deref().and_then(classify);
                self.pending.push_back(Pending {
                    statement,
                    failed: false,
                    tag: None,
                });
            }
            b'S' => {
                self.awaiting_ready += 1;
                self.unsynced = false;
                self.pending.push_back(Pending {
                    statement: None,
                    failed: false,
                    tag: None,
                });
            }
            b'F' => {
                self.awaiting_ready += 1;
                self.pending.push_back(Pending {
                    statement: None,
                    failed: false,
                    tag: None,
                });
            }
            b'P' => {
                self.unsynced = true;
                let (name, _) = wire::parse_parse(f.body()).map_err(|e| self.protocol(e))?;
                if !name.is_empty() {
                    self.tracked.bytes += f.raw().len();
                    if let Some(old) = self.tracked.prepared.insert(name, f.raw().clone()) {
                        self.tracked.bytes -= old.len();
                    }
                    self.tracked.check_limits();
                }
            }
            b'C' => {
                self.unsynced = true;
                let (kind, name) = wire::parse_close(f.body()).map_err(|e| self.protocol(e))?;
                if kind == b'S' {
                    if let Some(old) = self.tracked.prepared.remove(&name) {
                        self.tracked.bytes -= old.len();
                    }
                }
            }
            b'B' | b'E' | b'D' | b'H' => self.unsynced = true,
            _ => {}
        }
        Ok(())
    }

    /// Handles one message from the backend: forwards it (mostly) and
    /// follows the session's state.
    fn on_backend(&mut self, f: wire::Frame) {
        match f.tag() {
            b'Z' => {
                let status = f.body().first().copied().unwrap_or(b'I');
                if self.awaiting_ready == 0 {
                    tracing::warn!("backend sent ReadyForQuery nobody asked for");
                } else {
                    self.awaiting_ready -= 1;
                }
                self.copy_in = false;
                let before = self.tx_status;
                self.tx_status = status;
                if let Some(p) = self.pending.pop_front() {
                    self.tracked.settle(p, before, status);
                }
            }
            b'E' => {
                let e = wire::parse_error(f.body());
                if matches!(e.severity.as_str(), "FATAL" | "PANIC") {
                    // The server is ending this backend session (shutdown,
                    // termination): the client's session goes on elsewhere.
                    let why = format!("backend ended the session: {} {}", e.code, e.message);
                    self.detach(&why, true);
                    return;
                }
                if let Some(p) = self.pending.front_mut() {
                    p.failed = true;
                }
                self.copy_in = false;
            }
            b'C' => {
                if let Some(p) = self.pending.front_mut() {
                    let mut body = f.body();
                    p.tag = wire::cstr(&mut body);
                }
            }
            b'G' => self.copy_in = true,
            // The client has the proxy's key, not the backend's.
            b'K' => return,
            _ => {}
        }
        self.to_client.extend_from_slice(f.raw());
    }

    fn is_idle(&self) -> bool {
        self.awaiting_ready == 0 && !self.unsynced && !self.copy_in
    }

    /// Runs the session until it ends.
    pub async fn run(&mut self) -> End {
        let mut view_rx = self.shared.topology.subscribe();
        let mut stop = self.shared.stop.clone();
        let max = self.shared.limits.max_message_bytes;
        loop {
            // Forward every whole message the buffers hold, within
            // backpressure.
            while self.to_client.len() < WRITE_BUFFER_HIGH_BYTES {
                let Some(b) = self.backend.as_mut() else {
                    break;
                };
                match wire::try_frame(&mut b.buf, max) {
                    Ok(Some(f)) => self.on_backend(f),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("backend sent an unframeable message: {e}");
                        self.shared
                            .metrics
                            .backend_error(BackendErrorKind::Protocol);
                        self.detach("protocol error", true);
                    }
                }
            }
            let mut client_blocked = false;
            loop {
                let backlog = self.backend.as_ref().map_or(0, |b| b.out.len());
                if backlog >= WRITE_BUFFER_HIGH_BYTES
                    || self.to_client.len() >= WRITE_BUFFER_HIGH_BYTES
                {
                    client_blocked = true;
                    break;
                }
                match wire::try_frame(&mut self.client_buf, max) {
                    Ok(Some(f)) => {
                        self.last_client_activity = Instant::now();
                        if let Err(end) = self.on_client(f).await {
                            if let End::Closed(e) = &end {
                                if matches!(e, ClientError::Protocol(_)) {
                                    return self.close_with(e.clone()).await;
                                }
                            }
                            return end;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return self.close_with(ClientError::Protocol(e.to_string())).await,
                }
            }
            let backend_blocked = self.to_client.len() >= WRITE_BUFFER_HIGH_BYTES;
            let idle_deadline = match self.shared.limits.idle_timeout {
                Some(t) if self.is_idle() => Some(self.last_client_activity + t),
                _ => None,
            };
            let watch_view = self.endpoint == Endpoint::Writer && self.backend.is_some();
            let flush_client = self.client_dirty && self.to_client.is_empty();

            let event = {
                let (b_read, b_write) = match self.backend.as_mut() {
                    Some(a) => (
                        (!backend_blocked).then_some((&mut a.read, &mut a.buf)),
                        (!a.out.is_empty()).then_some((&mut a.write, &a.out)),
                    ),
                    None => (None, None),
                };
                let client_read = &mut self.client_read;
                let client_buf = &mut self.client_buf;
                let client_write = &mut self.client_write;
                let to_client = &self.to_client;
                tokio::select! {
                    r = client_read.read_buf(client_buf), if !client_blocked => Event::ClientRead(r),
                    r = read_opt(b_read) => Event::BackendRead(r),
                    e = write_client(client_write, to_client, flush_client) => e,
                    r = write_opt(b_write) => Event::BackendWrote(r),
                    _ = tokio::time::sleep_until(idle_deadline.unwrap_or_else(Instant::now)), if idle_deadline.is_some() => Event::IdleTimeout,
                    r = view_rx.changed(), if watch_view => match r {
                        Ok(()) => Event::ViewChanged,
                        Err(_) => Event::Stop,
                    },
                    r = stop.changed() => match r {
                        Ok(()) if !*stop.borrow() => Event::Nothing,
                        _ => Event::Stop,
                    },
                }
            };
            match event {
                Event::ClientRead(Ok(0)) => return End::ClientLeft,
                Event::ClientRead(Ok(_)) => {}
                Event::ClientRead(Err(e))
                | Event::ClientWrote(Err(e))
                | Event::ClientFlushed(Err(e)) => return End::ClientIo(e),
                Event::ClientWrote(Ok(n)) => {
                    self.to_client.advance(n);
                    self.client_dirty = true;
                }
                Event::ClientFlushed(Ok(())) => self.client_dirty = false,
                Event::BackendRead(Ok(0)) => self.detach("backend closed the connection", true),
                Event::BackendRead(Ok(_)) => {}
                Event::BackendRead(Err(e)) | Event::BackendWrote(Err(e)) => {
                    self.detach(&format!("backend I/O: {e}"), true)
                }
                Event::BackendWrote(Ok(n)) => {
                    if let Some(b) = self.backend.as_mut() {
                        b.out.advance(n);
                    }
                }
                Event::ViewChanged => {
                    let view = view_rx.borrow_and_update().clone();
                    let on = self.backend.as_ref().map(|b| b.target.index);
                    if on.is_some() && view.writer.as_ref().map(|w| w.index) != on {
                        self.detach("the writer moved", false);
                    }
                }
                Event::IdleTimeout => return self.close_with(ClientError::IdleTimeout).await,
                Event::Stop => return self.close_with(ClientError::Shutdown).await,
                Event::Nothing => {}
            }
        }
    }
}

enum OpenError {
    /// The server's own refusal, to forward as is.
    Refused(Bytes),
    Client(ClientError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_statements_are_recognised() {
        let t = |s: &str| Some(SessionStatement::Track(s.into()));
        assert_eq!(
            classify("SET search_path = app"),
            t("SET search_path = app")
        );
        assert_eq!(classify("  set TimeZone='UTC';  "), t("set TimeZone='UTC'"));
        assert_eq!(classify("SET LOCAL work_mem = '1MB'"), None);
        assert_eq!(
            classify("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
            None
        );
        assert_eq!(classify("SET a = 1; SELECT 1"), None);
        assert_eq!(
            classify("PREPARE q AS SELECT 1"),
            t("PREPARE q AS SELECT 1")
        );
        assert_eq!(classify("discard all"), Some(SessionStatement::DiscardAll));
        assert_eq!(classify("SELECT 1"), None);
        assert_eq!(classify(""), None);
    }

    fn request(sql: &str, failed: bool, tag: &str) -> Pending {
        Pending {
            statement: classify(sql),
            failed,
            tag: Some(tag.into()),
        }
    }

    #[test]
    fn session_statements_are_kept_when_they_last() {
        let mut t = Tracked::default();
        t.settle(request("SET a = 1", false, "SET"), b'I', b'I');
        t.settle(request("SET b = 1", true, ""), b'I', b'I');
        // Inside a transaction that rolls back: dropped.
        t.settle(request("BEGIN", false, "BEGIN"), b'I', b'T');
        t.settle(request("SET c = 1", false, "SET"), b'T', b'T');
        t.settle(request("ROLLBACK", false, "ROLLBACK"), b'T', b'I');
        // Inside a transaction that commits: kept.
        t.settle(request("BEGIN", false, "BEGIN"), b'I', b'T');
        t.settle(request("SET d = 1", false, "SET"), b'T', b'T');
        t.settle(request("COMMIT", false, "COMMIT"), b'T', b'I');
        // COMMIT of a failed transaction answers ROLLBACK.
        t.settle(request("BEGIN", false, "BEGIN"), b'I', b'T');
        t.settle(request("SET e = 1", false, "SET"), b'T', b'T');
        t.settle(request("SELECT 1/0", true, ""), b'T', b'E');
        t.settle(request("COMMIT", false, "ROLLBACK"), b'E', b'I');
        assert_eq!(t.statements, vec!["SET a = 1", "SET d = 1"]);
        t.settle(request("DISCARD ALL", false, "DISCARD ALL"), b'I', b'I');
        assert!(t.statements.is_empty());
    }

    #[test]
    fn tracking_stops_past_its_limits() {
        let mut t = Tracked::default();
        for i in 0..=TRACKED_STATEMENTS_MAX {
            assert!(!t.overflowed);
            t.settle(request(&format!("SET x{i} = 1"), false, "SET"), b'I', b'I');
        }
        assert!(t.overflowed);
    }

    #[test]
    fn rollbacks_are_recognised() {
        assert!(is_rollback("ROLLBACK"));
        assert!(is_rollback("abort;"));
        assert!(is_rollback("rollback work"));
        assert!(!is_rollback("ROLLBACK TO SAVEPOINT a"));
        assert!(!is_rollback("COMMIT"));
    }
}

//! One client connection: the startup handshake, then the query loop.
//!
//! # Extended query protocol
//!
//! Statements are the session's (`Session::prepare`); this layer keeps what
//! the protocol needs beside them: each statement's parameter types and
//! result columns (for Describe and for decoding binary parameters) and the
//! portals. A portal is a statement, its parameters in text form and the
//! result formats. Its first Execute runs the statement to completion and
//! keeps the rows; an Execute with a row limit sends that many and answers
//! PortalSuspended, and the next Execute continues from there. As in
//! PostgreSQL, a limit met exactly suspends the portal even when no row is
//! left, and the following Execute completes it with `SELECT 0`. Portals end
//! with their transaction: at a Sync or simple query that leaves the session
//! idle, all are dropped.
//!
//! After an error in an extended-query message, everything up to the next
//! Sync is discarded, then ReadyForQuery reports the session's transaction
//! status (`E` inside a failed block).
//!
//! # COPY
//!
//! COPY FROM STDIN (from a simple query or an Execute) answers
//! CopyInResponse and puts the connection in copy-in mode: CopyData goes to
//! the session as it arrives, CopyDone ends the COPY with its
//! CommandComplete, CopyFail or a bad record ends it with an
//! ErrorResponse. As in PostgreSQL, Flush and Sync are ignored in copy-in
//! mode (drivers send Sync right after Execute), and any other message
//! aborts the COPY with 08P01. After a simple query's COPY the rest of the
//! query string runs, then ReadyForQuery; after an Execute's, the next Sync
//! answers it (after a failed one, everything up to that Sync is skipped).
//! COPY TO STDOUT answers CopyOutResponse, one CopyData per row, CopyDone
//! and CommandComplete. Every column is in text format (code 0).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use pgwire::api::auth::sasl::scram::ScramServerAuth;
use pgwire::api::PgWireConnectionState;
use pgwire::error::PgWireError;
use pgwire::messages::copy::{CopyData, CopyDone, CopyInResponse, CopyOutResponse};
use pgwire::messages::data::{
    DataRow, FieldDescription, NoData, ParameterDescription, RowDescription,
};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Close, CloseComplete, Describe, Execute, Parse, ParseComplete,
    PortalSuspended, TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::{
    CommandComplete, EmptyQueryResponse, ErrorResponse, ReadyForQuery, TransactionStatus,
};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, NegotiateProtocolVersion, ParameterStatus,
    PasswordMessageFamily, SecretKey, Startup,
};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage, ProtocolVersion};
use pgwire::tokio::server::{negotiate_tls, MaybeTls, PgWireMessageServerCodec};
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio_util::codec::{Decoder, Encoder, Framed, FramedParts};

use super::format::{self, oid};
use super::{CancelHandle, Shared};
use crate::metrics::{Protocol, RefusedReason, TerminatedReason};
use crate::sql::error::{code, SqlError};
use crate::sql::session::{Column, Prepared, QueryResult, Session, TxStatus};

/// Prepared statements one session may hold; PostgreSQL has no limit, but
/// every one here keeps a plan and its descriptions in memory.
const STATEMENTS_MAX: usize = 10_000;
/// Open portals one session may hold.
const PORTALS_MAX: usize = 1_000;
/// Secret key length for protocol 3.2 (PostgreSQL 18 sends 32 bytes; 3.0
/// only has room for 4).
const SECRET_KEY_LEN_V3_2: usize = 32;

/// SQLSTATEs only the protocol layer raises (PostgreSQL's `errcodes.txt`).
mod protocol_code {
    /// protocol_violation
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    /// invalid_authorization_specification
    pub const INVALID_AUTHORIZATION: &str = "28000";
    /// invalid_password
    pub const INVALID_PASSWORD: &str = "28P01";
    /// too_many_connections
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    /// cannot_connect_now
    pub const CANNOT_CONNECT_NOW: &str = "57P03";
    /// admin_shutdown
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    /// idle_session_timeout
    pub const IDLE_SESSION_TIMEOUT: &str = "57P05";
    /// idle_in_transaction_session_timeout
    pub const IDLE_IN_TRANSACTION_TIMEOUT: &str = "25P03";
    /// invalid_cursor_name
    pub const INVALID_CURSOR_NAME: &str = "34000";
    /// duplicate_prepared_statement
    pub const DUPLICATE_PREPARED_STATEMENT: &str = "42P05";
    /// duplicate_cursor
    pub const DUPLICATE_CURSOR: &str = "42P03";
    /// invalid_binary_representation
    pub const INVALID_BINARY_REPRESENTATION: &str = "22P03";
    /// character_not_in_repertoire
    pub const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
}
use protocol_code as pc;

/// The message codec with decoding panics turned into errors: pgwire's
/// decoders index into the frame without checking every length, and network
/// input must never take a task down (STYLE §4).
pub(super) struct Codec(PgWireMessageServerCodec<()>);

impl Decoder for Codec {
    type Item = PgWireFrontendMessage;
    type Error = PgWireError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.0.decode(src))) {
            Ok(r) => r,
            Err(_) => {
                // The buffer is in an unknown state; the connection ends.
                src.clear();
                Err(PgWireError::InvalidStartupMessage)
            }
        }
    }
}

impl Encoder<PgWireBackendMessage> for Codec {
    type Error = io::Error;

    fn encode(&mut self, item: PgWireBackendMessage, dst: &mut BytesMut) -> Result<(), io::Error> {
        self.0.encode(item, dst)
    }
}

type Socket = Framed<MaybeTls, Codec>;

fn set_state(socket: &mut Socket, state: PgWireConnectionState) {
    socket.codec_mut().0.client_info.state = state;
}

/// Why a connection ended abnormally.
#[derive(Debug)]
enum ConnError {
    Io(io::Error),
    Protocol(PgWireError),
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        ConnError::Io(e)
    }
}

impl From<PgWireError> for ConnError {
    fn from(e: PgWireError) -> Self {
        match e {
            PgWireError::IoError(e) => ConnError::Io(e),
            e => ConnError::Protocol(e),
        }
    }
}

/// A client going away is routine (neon's `is_expected_io_error`).
fn is_disconnect(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected | TimedOut
    ) || e.to_string().contains("bytes remaining on stream")
}

fn log_end(e: &ConnError) {
    match e {
        ConnError::Io(e) if is_disconnect(e) => tracing::debug!("client disconnected: {e}"),
        ConnError::Io(e) => tracing::info!("connection failed: {e}"),
        ConnError::Protocol(e) => tracing::warn!("protocol violation: {e}"),
    }
}

/// Runs one accepted connection to its end.
pub(super) async fn handle(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    handshake: OwnedSemaphorePermit,
) {
    let mut stop = shared.stop.clone();
    let startup = tokio::time::timeout(shared.cfg.startup_timeout, startup(&shared, tcp, peer));
    let outcome = tokio::select! {
        r = startup => match r {
            Ok(r) => r,
            Err(_) => {
                shared.metrics.refused(RefusedReason::Startup);
                tracing::debug!("startup timed out");
                return;
            }
        },
        _ = stop.wait_for(|s| *s) => return,
    };
    drop(handshake);
    match outcome {
        Ok(Some(mut conn)) => {
            let end = conn.run().await;
            if let Err(e) = end {
                log_end(&e);
            } else {
                tracing::debug!("session ended");
            }
        }
        Ok(None) => {}
        Err(e) => log_end(&e),
    }
}

/// Builds an ErrorResponse with PostgreSQL's fields.
fn notice_response(n: &crate::sql::session::Notice) -> PgWireBackendMessage {
    PgWireBackendMessage::NoticeResponse(pgwire::messages::response::NoticeResponse::new(vec![
        (b'S', n.severity.to_owned()),
        (b'V', n.severity.to_owned()),
        (b'C', n.code.to_owned()),
        (b'M', n.message.clone()),
    ]))
}

fn error_response(severity: &str, e: &SqlError) -> ErrorResponse {
    let mut fields = vec![
        (b'S', severity.to_owned()),
        (b'V', severity.to_owned()),
        (b'C', e.code.to_owned()),
        (b'M', e.message.clone()),
    ];
    if let Some(d) = &e.detail {
        fields.push((b'D', d.clone()));
    }
    if let Some(h) = &e.hint {
        fields.push((b'H', h.clone()));
    }
    if let Some(p) = e.position {
        fields.push((b'P', p.to_string()));
    }
    if let Some(c) = &e.context {
        fields.push((b'W', c.clone()));
    }
    ErrorResponse::new(fields)
}

/// Builds a NoticeResponse with PostgreSQL's fields.
/// Sends a FATAL error and flushes; the caller then closes the connection.
async fn fatal(
    socket: &mut Socket,
    code: &'static str,
    message: impl Into<String>,
) -> Result<(), ConnError> {
    let e = SqlError::new(code, message);
    socket
        .send(PgWireBackendMessage::ErrorResponse(error_response(
            "FATAL", &e,
        )))
        .await?;
    Ok(())
}

/// Reads the next message during startup; `None` if the client left.
async fn next_startup_message(
    socket: &mut Socket,
) -> Result<Option<PgWireFrontendMessage>, ConnError> {
    match socket.next().await {
        None => Ok(None),
        Some(Ok(m)) => Ok(Some(m)),
        Some(Err(e)) => {
            let e = ConnError::from(e);
            if let ConnError::Protocol(p) = &e {
                let _ = fatal(
                    socket,
                    pc::PROTOCOL_VIOLATION,
                    format!("invalid startup packet: {p}"),
                )
                .await;
            }
            Err(e)
        }
    }
}

/// Reads a password-family message during authentication; `None` if the
/// client left (psql does, to prompt for a password, then reconnects).
async fn next_password_message(
    socket: &mut Socket,
) -> Result<Option<PasswordMessageFamily>, ConnError> {
    match next_startup_message(socket).await? {
        None => Ok(None),
        Some(PgWireFrontendMessage::PasswordMessageFamily(p)) => Ok(Some(p)),
        Some(PgWireFrontendMessage::Terminate(_)) => Ok(None),
        Some(_) => {
            fatal(socket, pc::PROTOCOL_VIOLATION, "expected SASL response").await?;
            Ok(None)
        }
    }
}

/// TLS negotiation, startup message, SCRAM, ParameterStatus and
/// BackendKeyData. `None` when the connection was a cancel request or the
/// client went away or was refused (already told why).
async fn startup(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Result<Option<Conn>, ConnError> {
    let acceptor = shared.tls.as_ref().map(|t| t.acceptor.clone());
    let Some(framed) = negotiate_tls::<()>(tcp, acceptor).await? else {
        tracing::debug!(%peer, "direct TLS connection, but TLS is not configured");
        return Ok(None);
    };
    let parts = framed.into_parts();
    let secure = parts.codec.client_info.is_secure;
    let mut new_parts = FramedParts::new(parts.io, Codec(parts.codec));
    new_parts.read_buf = parts.read_buf;
    new_parts.write_buf = parts.write_buf;
    let mut socket: Socket = Framed::from_parts(new_parts);

    let startup = match next_startup_message(&mut socket).await? {
        None => return Ok(None),
        Some(PgWireFrontendMessage::CancelRequest(c)) => {
            if shared.cancel(c.pid, &c.secret_key.to_bytes()) {
                shared.metrics.cancel_request();
                tracing::info!(pid = c.pid, "cancel request");
            } else {
                tracing::debug!(pid = c.pid, "cancel request matched no session");
            }
            return Ok(None);
        }
        Some(PgWireFrontendMessage::Startup(s)) => s,
        Some(other) => {
            tracing::debug!(?other, "unexpected message before startup");
            shared.metrics.refused(RefusedReason::Startup);
            fatal(
                &mut socket,
                pc::PROTOCOL_VIOLATION,
                "expected a startup message",
            )
            .await?;
            return Ok(None);
        }
    };
    let version = negotiate_version(&mut socket, &startup).await?;

    let params = &startup.parameters;
    let Some(user) = params.get("user").filter(|u| !u.is_empty()).cloned() else {
        shared.metrics.refused(RefusedReason::Startup);
        fatal(
            &mut socket,
            pc::INVALID_AUTHORIZATION,
            "no PostgreSQL user name specified in startup packet",
        )
        .await?;
        return Ok(None);
    };
    let database = params
        .get("database")
        .filter(|d| !d.is_empty())
        .cloned()
        .unwrap_or_else(|| user.clone());
    if shared.stopping() {
        shared.metrics.refused(RefusedReason::Shutdown);
        fatal(
            &mut socket,
            pc::CANNOT_CONNECT_NOW,
            "the database system is shutting down",
        )
        .await?;
        return Ok(None);
    }
    let Ok(permit) = shared.sessions.clone().try_acquire_owned() else {
        shared.metrics.refused(RefusedReason::TooManyConnections);
        tracing::warn!(%peer, max_connections = shared.cfg.max_connections, "too many connections; refusing one");
        fatal(
            &mut socket,
            pc::TOO_MANY_CONNECTIONS,
            "sorry, too many clients already",
        )
        .await?;
        return Ok(None);
    };

    if !authenticate(shared, &mut socket, &user, secure).await? {
        return Ok(None);
    }
    if database != shared.db.name() {
        fatal(
            &mut socket,
            "3D000",
            format!("database \"{database}\" does not exist"),
        )
        .await?;
        return Ok(None);
    }

    let mut session = shared.db.session(&user, &database);
    for (name, value) in params.iter() {
        // A value we cannot honour (a named time zone, another encoding)
        // keeps the default rather than refusing the connection: drivers
        // send their environment's values unasked.
        if let Err(e) = session.apply_startup_parameter(name, value) {
            tracing::info!(parameter = %name, value = %value, "startup parameter ignored: {}", e.message);
        }
    }
    let secret = match version {
        ProtocolVersion::PROTOCOL3_0 => shared.verifiers.random(4),
        _ => shared.verifiers.random(SECRET_KEY_LEN_V3_2),
    };
    let secret = Bytes::from(secret);
    let pid = shared.register_cancel(secret.clone(), CancelHandle::new(session.cancel_handle()));
    session.set_backend_pid(pid);
    let guard = SessionGuard {
        shared: shared.clone(),
        pid,
        _permit: permit,
    };
    tracing::Span::current().record("pid", pid);
    shared.metrics.session_started();

    let mut status = shared.db.server_parameters();
    if !status.iter().any(|(n, _)| n == "session_authorization") {
        status.push(("session_authorization".to_owned(), user.clone()));
    }
    for (name, value) in status.iter_mut() {
        match name.as_str() {
            "application_name" => {
                if let Some(app) = params.get("application_name") {
                    value.clone_from(app);
                }
            }
            "session_authorization" => value.clone_from(&user),
            _ => {}
        }
    }
    for (name, value) in status {
        socket
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                name, value,
            )))
            .await?;
    }
    let key = match version {
        ProtocolVersion::PROTOCOL3_0 => SecretKey::I32(i32::from_be_bytes(
            secret[..4].try_into().expect("4-byte key"),
        )),
        _ => SecretKey::Bytes(secret),
    };
    socket
        .feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
            pid, key,
        )))
        .await?;
    socket
        .feed(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
            TransactionStatus::Idle,
        )))
        .await?;
    socket.flush().await?;
    set_state(&mut socket, PgWireConnectionState::ReadyForQuery);
    tracing::debug!(%user, %database, "session started");

    Ok(Some(Conn {
        socket,
        session,
        statements: HashMap::new(),
        portals: HashMap::new(),
        skip_until_sync: false,
        copy_in: None,
        stop: shared.stop.clone(),
        shared: shared.clone(),
        _guard: guard,
    }))
}

/// Picks protocol 3.0 or 3.2 and, when the client asked for something else
/// or for `_pq_` options, says so with NegotiateProtocolVersion.
async fn negotiate_version(
    socket: &mut Socket,
    startup: &Startup,
) -> Result<ProtocolVersion, ConnError> {
    let minor = startup.protocol_number_minor;
    let (version, served_minor) = if minor >= 2 {
        (ProtocolVersion::PROTOCOL3_2, 2)
    } else {
        (ProtocolVersion::PROTOCOL3_0, 0)
    };
    socket.codec_mut().0.client_info.protocol_version = version;
    let unsupported: Vec<String> = startup
        .parameters
        .keys()
        .filter(|k| k.starts_with("_pq_."))
        .cloned()
        .collect();
    if minor != served_minor || !unsupported.is_empty() {
        // PostgreSQL sends the whole version number here, not just the minor.
        let m = NegotiateProtocolVersion::new(i32::from(version), unsupported);
        socket
            .feed(PgWireBackendMessage::NegotiateProtocolVersion(m))
            .await?;
    }
    Ok(version)
}

/// SCRAM-SHA-256. Returns whether the client proved the password; on
/// failure the client has been told.
async fn authenticate(
    shared: &Shared,
    socket: &mut Socket,
    user: &str,
    secure: bool,
) -> Result<bool, ConnError> {
    set_state(socket, PgWireConnectionState::AuthenticationInProgress);
    let mut scram = ScramServerAuth::new();
    let mut mechanisms = vec!["SCRAM-SHA-256".to_owned()];
    if let (true, Some(tls)) = (secure, shared.tls.as_ref()) {
        // Channel binding needs the certificate's signature algorithm to be
        // one pgwire knows; without it, plain SCRAM still works.
        if scram.configure_certificate(&tls.cert_pem).is_ok() {
            mechanisms.push("SCRAM-SHA-256-PLUS".to_owned());
        }
    }
    socket
        .send(PgWireBackendMessage::Authentication(Authentication::SASL(
            mechanisms.clone(),
        )))
        .await?;

    let Some(first) = next_password_message(socket).await? else {
        return Ok(false);
    };
    let initial = match first.into_sasl_initial_response() {
        Ok(m) => m,
        Err(e) => {
            shared.metrics.refused(RefusedReason::Startup);
            fatal(
                socket,
                pc::PROTOCOL_VIOLATION,
                format!("malformed SASL message: {e}"),
            )
            .await?;
            return Ok(false);
        }
    };
    if !mechanisms.contains(&initial.auth_method) {
        shared.metrics.refused(RefusedReason::Startup);
        fatal(
            socket,
            pc::PROTOCOL_VIOLATION,
            "client selected an invalid SASL authentication mechanism",
        )
        .await?;
        return Ok(false);
    }
    let Some(data) = initial.data else {
        shared.metrics.refused(RefusedReason::Startup);
        fatal(
            socket,
            pc::PROTOCOL_VIOLATION,
            "malformed SCRAM message: empty client-first message",
        )
        .await?;
        return Ok(false);
    };
    let (secret, known) = shared.verifiers.secret(&shared.db, user);
    let (server_first, waiting) = match scram.on_client_first_message_with_secret(&data, secret) {
        Ok(r) => r,
        Err(e) => {
            shared.metrics.refused(RefusedReason::Startup);
            fatal(
                socket,
                pc::PROTOCOL_VIOLATION,
                format!("malformed SCRAM message: {e}"),
            )
            .await?;
            return Ok(false);
        }
    };
    socket
        .send(PgWireBackendMessage::Authentication(
            Authentication::SASLContinue(Bytes::from(server_first)),
        ))
        .await?;

    let Some(last) = next_password_message(socket).await? else {
        return Ok(false);
    };
    let response = match last.into_sasl_response() {
        Ok(r) => r,
        Err(e) => {
            shared.metrics.refused(RefusedReason::Startup);
            fatal(
                socket,
                pc::PROTOCOL_VIOLATION,
                format!("malformed SASL message: {e}"),
            )
            .await?;
            return Ok(false);
        }
    };
    match waiting.on_client_final_message(&response.data) {
        Ok(server_final) if known => {
            socket
                .feed(PgWireBackendMessage::Authentication(
                    Authentication::SASLFinal(Bytes::from(server_final)),
                ))
                .await?;
            socket
                .feed(PgWireBackendMessage::Authentication(Authentication::Ok))
                .await?;
            Ok(true)
        }
        Ok(_) | Err(PgWireError::InvalidPassword(_)) => {
            shared.metrics.refused(RefusedReason::Authentication);
            tracing::info!(%user, "password authentication failed");
            fatal(
                socket,
                pc::INVALID_PASSWORD,
                format!("password authentication failed for user \"{user}\""),
            )
            .await?;
            Ok(false)
        }
        Err(e) => {
            shared.metrics.refused(RefusedReason::Startup);
            fatal(
                socket,
                pc::PROTOCOL_VIOLATION,
                format!("malformed SCRAM message: {e}"),
            )
            .await?;
            Ok(false)
        }
    }
}

/// Unregisters the session's cancel key and releases its connection slot,
/// however the connection task ends (including being dropped at shutdown).
struct SessionGuard {
    shared: Arc<Shared>,
    pid: i32,
    _permit: OwnedSemaphorePermit,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.shared.unregister_cancel(self.pid);
        self.shared.metrics.session_ended();
    }
}

/// The result columns and parameter types of a prepared statement.
struct Statement {
    param_types: Vec<u32>,
    columns: Vec<ColumnDesc>,
}

#[derive(Clone)]
struct ColumnDesc {
    name: String,
    type_oid: u32,
    type_len: i16,
    type_mod: i32,
    table_oid: u32,
    column_id: i16,
}

impl ColumnDesc {
    fn of(c: &Column) -> ColumnDesc {
        ColumnDesc {
            name: c.name.clone(),
            type_oid: c.type_oid,
            type_len: c.type_len,
            type_mod: c.type_mod,
            table_oid: c.table_oid,
            column_id: c.column_id,
        }
    }
}

impl From<Prepared> for Statement {
    fn from(p: Prepared) -> Statement {
        Statement {
            param_types: p.param_types,
            columns: p.columns.iter().map(ColumnDesc::of).collect(),
        }
    }
}

struct Portal {
    statement: String,
    /// Parameters in text form; taken by the first Execute.
    params: Vec<Option<String>>,
    /// The statement's described columns, for Describe.
    columns: Vec<ColumnDesc>,
    /// Format code per result column (0 text, 1 binary).
    formats: Vec<i16>,
    state: PortalState,
}

enum PortalState {
    /// Bound, not yet executed.
    Ready,
    /// Executed; rows not yet sent.
    Rows {
        types: Vec<u32>,
        rows: VecDeque<Vec<Option<String>>>,
        tag: String,
    },
    /// Completed with this tag.
    Done { tag: Option<String> },
}

/// An error answered with an ErrorResponse, or the connection failing.
enum StepError {
    Sql(SqlError),
    Conn(ConnError),
}

impl From<SqlError> for StepError {
    fn from(e: SqlError) -> Self {
        StepError::Sql(e)
    }
}

impl From<ConnError> for StepError {
    fn from(e: ConnError) -> Self {
        StepError::Conn(e)
    }
}

impl From<io::Error> for StepError {
    fn from(e: io::Error) -> Self {
        StepError::Conn(ConnError::Io(e))
    }
}

type Step = Result<(), StepError>;

/// The protocol a COPY FROM STDIN came in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CopyStarted {
    /// A simple query: the rest of its string follows the COPY.
    Simple,
    /// An Execute: the next Sync ends it.
    Extended,
}

enum Next {
    Message(PgWireFrontendMessage),
    Closed,
    Timeout(TerminatedReason),
    Stop,
}

/// A session after startup.
struct Conn {
    socket: Socket,
    session: Session,
    statements: HashMap<String, Statement>,
    portals: HashMap<String, Portal>,
    skip_until_sync: bool,
    /// In copy-in mode: how the COPY was started.
    copy_in: Option<CopyStarted>,
    stop: watch::Receiver<bool>,
    shared: Arc<Shared>,
    _guard: SessionGuard,
}

impl Conn {
    async fn run(&mut self) -> Result<(), ConnError> {
        loop {
            let msg = match self.next().await? {
                Next::Message(m) => m,
                Next::Closed => return Ok(()),
                Next::Timeout(reason) => {
                    self.shared.metrics.terminated(reason);
                    let (code, what) = match reason {
                        TerminatedReason::IdleInTransaction => {
                            (pc::IDLE_IN_TRANSACTION_TIMEOUT, "idle-in-transaction")
                        }
                        _ => (pc::IDLE_SESSION_TIMEOUT, "idle-session"),
                    };
                    tracing::info!("terminating an {what} session after its timeout");
                    fatal(
                        &mut self.socket,
                        code,
                        format!("terminating connection due to {what} timeout"),
                    )
                    .await?;
                    return Ok(());
                }
                Next::Stop => {
                    self.shared.metrics.terminated(TerminatedReason::Shutdown);
                    fatal(
                        &mut self.socket,
                        pc::ADMIN_SHUTDOWN,
                        "terminating connection due to administrator command",
                    )
                    .await?;
                    return Ok(());
                }
            };
            match self.dispatch(msg).await {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for the next message, the idle timeout or shutdown.
    async fn next(&mut self) -> Result<Next, ConnError> {
        let timeout = match self.session.tx_status() {
            TxStatus::Idle => self.shared.cfg.idle_session_timeout,
            TxStatus::InBlock | TxStatus::Failed => {
                self.shared.cfg.idle_in_transaction_session_timeout
            }
        };
        let reason = match self.session.tx_status() {
            TxStatus::Idle => TerminatedReason::IdleSession,
            TxStatus::InBlock | TxStatus::Failed => TerminatedReason::IdleInTransaction,
        };
        let idle = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let socket = &mut self.socket;
        let stop = &mut self.stop;
        let got = tokio::select! {
            m = socket.next() => m,
            () = idle => return Ok(Next::Timeout(reason)),
            _ = stop.wait_for(|s| *s) => return Ok(Next::Stop),
        };
        match got {
            None => Ok(Next::Closed),
            Some(Ok(m)) => Ok(Next::Message(m)),
            Some(Err(e)) => {
                let e = ConnError::from(e);
                if let ConnError::Protocol(p) = &e {
                    self.shared
                        .metrics
                        .terminated(TerminatedReason::ProtocolViolation);
                    let _ = fatal(
                        &mut self.socket,
                        pc::PROTOCOL_VIOLATION,
                        format!("invalid frontend message: {p}"),
                    )
                    .await;
                }
                Err(e)
            }
        }
    }

    /// Handles one message; `false` ends the connection.
    async fn dispatch(&mut self, msg: PgWireFrontendMessage) -> Result<bool, ConnError> {
        if let Some(started) = self.copy_in {
            return self.copy_in_message(started, msg).await;
        }
        let step = match msg {
            PgWireFrontendMessage::Terminate(_) => return Ok(false),
            PgWireFrontendMessage::Sync(_) => {
                self.skip_until_sync = false;
                self.sync().await?;
                return Ok(true);
            }
            PgWireFrontendMessage::Flush(_) => {
                self.socket.flush().await?;
                return Ok(true);
            }
            // PostgreSQL ignores COPY messages outside COPY.
            PgWireFrontendMessage::CopyData(_)
            | PgWireFrontendMessage::CopyDone(_)
            | PgWireFrontendMessage::CopyFail(_) => return Ok(true),
            _ if self.skip_until_sync => return Ok(true),
            PgWireFrontendMessage::Query(q) => {
                self.simple_query(&q.query).await?;
                return Ok(true);
            }
            PgWireFrontendMessage::Parse(m) => self.parse(m).await,
            PgWireFrontendMessage::Bind(m) => self.bind(m).await,
            PgWireFrontendMessage::Describe(m) => self.describe(m).await,
            PgWireFrontendMessage::Execute(m) => self.execute(m).await,
            PgWireFrontendMessage::Close(m) => self.close(m).await,
            other => {
                tracing::warn!(?other, "unexpected message after startup");
                self.shared
                    .metrics
                    .terminated(TerminatedReason::ProtocolViolation);
                fatal(
                    &mut self.socket,
                    pc::PROTOCOL_VIOLATION,
                    "unexpected message type",
                )
                .await?;
                return Ok(false);
            }
        };
        match step {
            Ok(()) => Ok(true),
            Err(StepError::Sql(e)) => {
                self.skip_until_sync = true;
                self.socket
                    .feed(PgWireBackendMessage::ErrorResponse(error_response(
                        "ERROR", &e,
                    )))
                    .await?;
                Ok(true)
            }
            Err(StepError::Conn(e)) => Err(e),
        }
    }

    /// Handles one message in copy-in mode.
    async fn copy_in_message(
        &mut self,
        started: CopyStarted,
        msg: PgWireFrontendMessage,
    ) -> Result<bool, ConnError> {
        let outcome = match msg {
            PgWireFrontendMessage::CopyData(d) => match self.session.copy_in_data(&d.data) {
                Ok(()) => return Ok(true),
                Err(e) => Err(e),
            },
            PgWireFrontendMessage::CopyDone(_) => self.session.copy_in_done().await,
            PgWireFrontendMessage::CopyFail(f) => Err(self.session.copy_in_fail(&f.message)),
            // Drivers send Sync (and Flush) right after Execute, not knowing
            // the statement was COPY; PostgreSQL ignores them here.
            PgWireFrontendMessage::Sync(_) | PgWireFrontendMessage::Flush(_) => return Ok(true),
            PgWireFrontendMessage::Terminate(_) => return Ok(false),
            other => Err(self.session.copy_in_abort(SqlError::new(
                code::PROTOCOL_VIOLATION,
                format!(
                    "unexpected message type 0x{:02X} during COPY from stdin",
                    message_type(&other)
                ),
            ))),
        };
        self.copy_in = None;
        let ok = outcome.is_ok();
        if started == CopyStarted::Simple {
            // An Execute's COPY was counted when it started.
            self.shared.metrics.statement(Protocol::Simple, ok);
        }
        match outcome {
            Ok(r) => self.send_result(r).await?,
            Err(e) => {
                self.socket
                    .feed(PgWireBackendMessage::ErrorResponse(error_response(
                        "ERROR", &e,
                    )))
                    .await?;
            }
        }
        match started {
            CopyStarted::Simple => {
                let rest = self.session.simple_query_resume().await;
                self.send_simple_results(rest).await?;
            }
            CopyStarted::Extended => {
                self.skip_until_sync = !ok;
                self.send_notices().await?;
            }
        }
        Ok(true)
    }

    /// Sends the NOTICEs the session raised.
    async fn send_notices(&mut self) -> Result<(), ConnError> {
        for n in self.session.take_notices() {
            self.socket.feed(notice_response(&n)).await?;
        }
        Ok(())
    }

    /// Sends one result of a simple query (CopyIn: the CopyInResponse,
    /// entering copy-in mode).
    async fn send_result(&mut self, r: QueryResult) -> Result<(), ConnError> {
        match r {
            QueryResult::Rows { columns, rows, tag } => {
                let descs: Vec<ColumnDesc> = columns.iter().map(ColumnDesc::of).collect();
                self.socket.feed(row_description(&descs, &[])).await?;
                for row in &rows {
                    let data = text_row(row);
                    self.socket
                        .feed(PgWireBackendMessage::DataRow(data))
                        .await?;
                }
                self.socket
                    .feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(
                        tag,
                    )))
                    .await?;
            }
            QueryResult::Command { tag } => {
                self.socket
                    .feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(
                        tag,
                    )))
                    .await?;
            }
            QueryResult::Empty => {
                self.socket
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
            }
            QueryResult::CopyIn { columns } => {
                let n = field_count(columns);
                self.socket
                    .feed(PgWireBackendMessage::CopyInResponse(CopyInResponse::new(
                        0,
                        n,
                        vec![0; columns],
                    )))
                    .await?;
                self.socket.flush().await?;
            }
            QueryResult::CopyOut { columns, rows, tag } => {
                let n = field_count(columns);
                self.socket
                    .feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
                        0,
                        n,
                        vec![0; columns],
                    )))
                    .await?;
                for row in rows {
                    self.socket
                        .feed(PgWireBackendMessage::CopyData(CopyData::new(Bytes::from(
                            row,
                        ))))
                        .await?;
                }
                self.socket
                    .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
                    .await?;
                self.socket
                    .feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(
                        tag,
                    )))
                    .await?;
            }
        }
        Ok(())
    }

    /// Sends a simple query's results, then ReadyForQuery unless the last
    /// one started a COPY FROM STDIN.
    async fn send_simple_results(
        &mut self,
        results: Vec<Result<QueryResult, SqlError>>,
    ) -> Result<(), ConnError> {
        // Each statement's NOTICEs go out just before its result.
        let notices = self.session.take_notices();
        let mut next_notice = 0;
        for (i, r) in results.into_iter().enumerate() {
            let ok = r.is_ok();
            while let Some(n) = notices.get(next_notice).filter(|n| n.statement <= i) {
                self.socket.feed(notice_response(n)).await?;
                next_notice += 1;
            }
            match r {
                Ok(r @ QueryResult::CopyIn { .. }) => {
                    self.send_result(r).await?;
                    self.copy_in = Some(CopyStarted::Simple);
                    // Its statement is counted when the COPY ends.
                    return Ok(());
                }
                Ok(r) => self.send_result(r).await?,
                Err(e) => {
                    self.socket
                        .feed(PgWireBackendMessage::ErrorResponse(error_response(
                            "ERROR", &e,
                        )))
                        .await?;
                }
            }
            self.shared.metrics.statement(Protocol::Simple, ok);
        }
        for n in &notices[next_notice..] {
            self.socket.feed(notice_response(n)).await?;
        }
        self.end_of_transaction();
        self.ready_for_query().await
    }

    fn tx_status(&self) -> TransactionStatus {
        match self.session.tx_status() {
            TxStatus::Idle => TransactionStatus::Idle,
            TxStatus::InBlock => TransactionStatus::Transaction,
            TxStatus::Failed => TransactionStatus::Error,
        }
    }

    /// Portals do not outlive their transaction.
    fn end_of_transaction(&mut self) {
        if matches!(self.session.tx_status(), TxStatus::Idle) {
            self.portals.clear();
        }
    }

    async fn ready_for_query(&mut self) -> Result<(), ConnError> {
        // Settings changed by the statements just run, reported before
        // ReadyForQuery as PostgreSQL does.
        for (name, value) in self.session.take_parameter_changes() {
            self.socket
                .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                    name, value,
                )))
                .await?;
        }
        let status = self.tx_status();
        self.socket
            .feed(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                status,
            )))
            .await?;
        self.socket.flush().await?;
        Ok(())
    }

    async fn sync(&mut self) -> Result<(), ConnError> {
        self.end_of_transaction();
        self.ready_for_query().await
    }

    async fn simple_query(&mut self, sql: &str) -> Result<(), ConnError> {
        // A simple query drops the unnamed statement and portal, as in
        // PostgreSQL's `exec_simple_query`.
        self.portals.remove("");
        if self.statements.remove("").is_some() {
            self.session.close_statement("");
        }
        let results = self.session.simple_query(sql).await;
        if results.is_empty() {
            self.socket
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        }
        self.send_simple_results(results).await
    }

    async fn parse(&mut self, m: Parse) -> Step {
        let name = m.name.unwrap_or_default();
        if self.statements.len() >= STATEMENTS_MAX && !self.statements.contains_key(&name) {
            return Err(SqlError::new(
                code::PROGRAM_LIMIT_EXCEEDED,
                format!("too many prepared statements: the limit is {STATEMENTS_MAX}"),
            )
            .into());
        }
        if name.is_empty() {
            self.statements.remove("");
        } else if self.statements.contains_key(&name) {
            return Err(SqlError::new(
                pc::DUPLICATE_PREPARED_STATEMENT,
                format!("prepared statement \"{name}\" already exists"),
            )
            .into());
        }
        let prepared = self.session.prepare(&name, &m.query, &m.type_oids)?;
        self.statements.insert(name, Statement::from(prepared));
        self.socket
            .feed(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
            .await?;
        Ok(())
    }

    async fn bind(&mut self, m: Bind) -> Step {
        let stmt_name = m.statement_name.unwrap_or_default();
        let portal_name = m.portal_name.unwrap_or_default();
        let Some(stmt) = self.statements.get(&stmt_name) else {
            let message = if stmt_name.is_empty() {
                "unnamed prepared statement does not exist".to_owned()
            } else {
                format!("prepared statement \"{stmt_name}\" does not exist")
            };
            return Err(SqlError::new(code::INVALID_SQL_STATEMENT_NAME, message).into());
        };
        if !portal_name.is_empty() && self.portals.contains_key(&portal_name) {
            return Err(SqlError::new(
                pc::DUPLICATE_CURSOR,
                format!("cursor \"{portal_name}\" already exists"),
            )
            .into());
        }
        if self.portals.len() >= PORTALS_MAX && !self.portals.contains_key(&portal_name) {
            return Err(SqlError::new(
                code::PROGRAM_LIMIT_EXCEEDED,
                format!("too many open portals: the limit is {PORTALS_MAX}"),
            )
            .into());
        }
        let params = decode_params(
            &stmt_name,
            &stmt.param_types,
            &m.parameter_format_codes,
            &m.parameters,
        )?;
        let formats = result_formats(&stmt.columns, &m.result_column_format_codes)?;
        let portal = Portal {
            statement: stmt_name,
            params,
            columns: stmt.columns.clone(),
            formats,
            state: PortalState::Ready,
        };
        self.portals.insert(portal_name, portal);
        self.socket
            .feed(PgWireBackendMessage::BindComplete(BindComplete::new()))
            .await?;
        Ok(())
    }

    async fn describe(&mut self, m: Describe) -> Step {
        let name = m.name.unwrap_or_default();
        match m.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                let Some(stmt) = self.statements.get(&name) else {
                    return Err(SqlError::new(
                        code::INVALID_SQL_STATEMENT_NAME,
                        format!("prepared statement \"{name}\" does not exist"),
                    )
                    .into());
                };
                let params = ParameterDescription::new(stmt.param_types.clone());
                let rows = if stmt.columns.is_empty() {
                    PgWireBackendMessage::NoData(NoData::new())
                } else {
                    row_description(&stmt.columns, &[])
                };
                self.socket
                    .feed(PgWireBackendMessage::ParameterDescription(params))
                    .await?;
                self.socket.feed(rows).await?;
            }
            TARGET_TYPE_BYTE_PORTAL => {
                // A cursor DECLAREd in SQL is a portal too (psycopg 3
                // describes its server-side cursors this way).
                let cursor = (!self.portals.contains_key(&name))
                    .then(|| self.session.cursor_columns(&name))
                    .flatten();
                if let Some(columns) = cursor {
                    let columns: Vec<ColumnDesc> = columns.iter().map(ColumnDesc::of).collect();
                    let rows = if columns.is_empty() {
                        PgWireBackendMessage::NoData(NoData::new())
                    } else {
                        row_description(&columns, &[])
                    };
                    self.socket.feed(rows).await?;
                    return Ok(());
                }
                let Some(portal) = self.portals.get(&name) else {
                    return Err(SqlError::new(
                        pc::INVALID_CURSOR_NAME,
                        format!("portal \"{name}\" does not exist"),
                    )
                    .into());
                };
                let rows = if portal.columns.is_empty() {
                    PgWireBackendMessage::NoData(NoData::new())
                } else {
                    row_description(&portal.columns, &portal.formats)
                };
                self.socket.feed(rows).await?;
            }
            other => {
                return Err(SqlError::new(
                    pc::PROTOCOL_VIOLATION,
                    format!("invalid DESCRIBE message subtype {other}"),
                )
                .into())
            }
        }
        Ok(())
    }

    async fn execute(&mut self, m: Execute) -> Step {
        let name = m.name.unwrap_or_default();
        let max_rows = usize::try_from(m.max_rows).unwrap_or(0);
        let Some(portal) = self.portals.get_mut(&name) else {
            return Err(SqlError::new(
                pc::INVALID_CURSOR_NAME,
                format!("portal \"{name}\" does not exist"),
            )
            .into());
        };
        if matches!(portal.state, PortalState::Ready) {
            let statement = portal.statement.clone();
            let params = std::mem::take(&mut portal.params);
            // The session materializes results, so the statement runs once,
            // to completion, and the portal hands its rows out in pieces.
            let result = self.session.execute(&statement, &params, 0).await;
            self.shared
                .metrics
                .statement(Protocol::Extended, result.is_ok());
            self.send_notices().await?;
            let portal = self.portals.get_mut(&name).expect("portal still bound");
            match result {
                Ok(QueryResult::Rows { columns, rows, tag }) => {
                    let types = columns.iter().map(|c| c.type_oid).collect();
                    portal.state = PortalState::Rows {
                        types,
                        rows: rows.into(),
                        tag,
                    };
                }
                Ok(QueryResult::Command { tag }) => {
                    portal.state = PortalState::Done {
                        tag: Some(tag.clone()),
                    };
                    self.socket
                        .feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(
                            tag,
                        )))
                        .await?;
                    return Ok(());
                }
                Ok(QueryResult::Empty) => {
                    portal.state = PortalState::Done { tag: None };
                    self.socket
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            EmptyQueryResponse::new(),
                        ))
                        .await?;
                    return Ok(());
                }
                Ok(r @ QueryResult::CopyIn { .. }) => {
                    portal.state = PortalState::Done { tag: None };
                    self.send_result(r).await?;
                    self.copy_in = Some(CopyStarted::Extended);
                    return Ok(());
                }
                Ok(r @ QueryResult::CopyOut { .. }) => {
                    // COPY TO sends everything whatever the row limit, as
                    // in PostgreSQL.
                    portal.state = PortalState::Done { tag: None };
                    self.send_result(r).await?;
                    return Ok(());
                }
                Err(e) => {
                    portal.state = PortalState::Done { tag: None };
                    return Err(e.into());
                }
            }
        }
        let portal = self.portals.get_mut(&name).expect("portal exists");
        match &mut portal.state {
            PortalState::Ready => unreachable!("executed above"),
            PortalState::Done { tag: Some(tag) } => {
                let tag = rows_tag(tag, 0);
                self.socket
                    .feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(
                        tag,
                    )))
                    .await?;
            }
            PortalState::Done { tag: None } => {
                self.socket
                    .feed(PgWireBackendMessage::EmptyQueryResponse(
                        EmptyQueryResponse::new(),
                    ))
                    .await?;
            }
            PortalState::Rows { types, rows, tag } => {
                let mut sent = 0usize;
                while max_rows == 0 || sent < max_rows {
                    let Some(row) = rows.pop_front() else { break };
                    let data = encode_row(&row, types, &portal.formats).map_err(|e| {
                        SqlError::new(
                            code::INTERNAL_ERROR,
                            format!("could not send a result value in binary: {}", e.0),
                        )
                    })?;
                    self.socket
                        .feed(PgWireBackendMessage::DataRow(data))
                        .await?;
                    sent += 1;
                }
                if max_rows > 0 && sent == max_rows {
                    self.socket
                        .feed(PgWireBackendMessage::PortalSuspended(PortalSuspended::new()))
                        .await?;
                } else {
                    let tag = rows_tag(tag, sent);
                    portal.state = PortalState::Done {
                        tag: Some(tag.clone()),
                    };
                    self.socket
                        .feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(
                            tag,
                        )))
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn close(&mut self, m: Close) -> Step {
        let name = m.name.unwrap_or_default();
        match m.target_type {
            TARGET_TYPE_BYTE_STATEMENT => {
                if self.statements.remove(&name).is_some() {
                    self.session.close_statement(&name);
                }
            }
            TARGET_TYPE_BYTE_PORTAL => {
                self.portals.remove(&name);
            }
            other => {
                return Err(SqlError::new(
                    pc::PROTOCOL_VIOLATION,
                    format!("invalid CLOSE message subtype {other}"),
                )
                .into())
            }
        }
        // Closing something that does not exist is not an error.
        self.socket
            .feed(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
            .await?;
        Ok(())
    }
}

/// The type byte of a frontend message, for errors that name it.
fn message_type(m: &PgWireFrontendMessage) -> u8 {
    match m {
        PgWireFrontendMessage::Query(_) => b'Q',
        PgWireFrontendMessage::Parse(_) => b'P',
        PgWireFrontendMessage::Bind(_) => b'B',
        PgWireFrontendMessage::Describe(_) => b'D',
        PgWireFrontendMessage::Execute(_) => b'E',
        PgWireFrontendMessage::Close(_) => b'C',
        PgWireFrontendMessage::Sync(_) => b'S',
        PgWireFrontendMessage::Flush(_) => b'H',
        PgWireFrontendMessage::Terminate(_) => b'X',
        PgWireFrontendMessage::CopyData(_) => b'd',
        PgWireFrontendMessage::CopyDone(_) => b'c',
        PgWireFrontendMessage::CopyFail(_) => b'f',
        _ => b'p',
    }
}

/// The command tag for `sent` rows of a portal: PostgreSQL counts the rows
/// of this Execute in a SELECT's tag; other tags (INSERT … RETURNING) keep
/// the statement's count.
fn rows_tag(tag: &str, sent: usize) -> String {
    if tag == "SELECT" || tag.starts_with("SELECT ") {
        format!("SELECT {sent}")
    } else {
        tag.to_owned()
    }
}

/// The per-item format from a Bind format list: none means all text, one
/// means all the same, otherwise one each.
fn format_at(codes: &[i16], i: usize) -> i16 {
    match codes {
        [] => 0,
        [one] => *one,
        many => many[i],
    }
}

fn decode_params(
    stmt_name: &str,
    types: &[u32],
    formats: &[i16],
    values: &[Option<Bytes>],
) -> Result<Vec<Option<String>>, SqlError> {
    if values.len() != types.len() {
        return Err(SqlError::new(
            pc::PROTOCOL_VIOLATION,
            format!(
                "bind message supplies {} parameters, but prepared statement \"{stmt_name}\" requires {}",
                values.len(),
                types.len()
            ),
        ));
    }
    if formats.len() > 1 && formats.len() != values.len() {
        return Err(SqlError::new(
            pc::PROTOCOL_VIOLATION,
            format!(
                "bind message has {} parameter formats but {} parameters",
                formats.len(),
                values.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let Some(bytes) = v else {
            out.push(None);
            continue;
        };
        let n = i + 1;
        let text = match format_at(formats, i) {
            0 => match std::str::from_utf8(bytes) {
                Ok(s) if !s.contains('\0') => s.to_owned(),
                _ => {
                    return Err(SqlError::new(
                        pc::CHARACTER_NOT_IN_REPERTOIRE,
                        format!(
                            "invalid byte sequence for encoding \"UTF8\" in bind parameter {n}"
                        ),
                    ))
                }
            },
            1 => {
                let ty = types[i];
                if !format::has_binary(ty) {
                    return Err(SqlError::new(
                        code::FEATURE_NOT_SUPPORTED,
                        format!(
                            "binary format for parameter ${n} of type {} is not supported",
                            format::type_name(ty)
                        ),
                    )
                    .with_hint("Send the parameter in text format."));
                }
                format::binary_to_text(ty, bytes).map_err(|e| {
                    SqlError::new(
                        pc::INVALID_BINARY_REPRESENTATION,
                        format!("incorrect binary data format in bind parameter {n}"),
                    )
                    .with_detail(e.0)
                })?
            }
            other => {
                return Err(SqlError::new(
                    pc::PROTOCOL_VIOLATION,
                    format!("unsupported format code: {other}"),
                ))
            }
        };
        out.push(Some(text));
    }
    Ok(out)
}

fn result_formats(columns: &[ColumnDesc], codes: &[i16]) -> Result<Vec<i16>, SqlError> {
    if codes.len() > 1 && codes.len() != columns.len() {
        return Err(SqlError::new(
            pc::PROTOCOL_VIOLATION,
            format!(
                "bind message has {} result formats but query has {} columns",
                codes.len(),
                columns.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        let f = format_at(codes, i);
        match f {
            0 => {}
            1 if format::has_binary(c.type_oid) => {}
            1 => {
                return Err(SqlError::new(
                    code::FEATURE_NOT_SUPPORTED,
                    format!(
                        "binary output for type {} is not supported",
                        format::type_name(c.type_oid)
                    ),
                )
                .with_hint("Ask for this column in text format."))
            }
            other => {
                return Err(SqlError::new(
                    pc::PROTOCOL_VIOLATION,
                    format!("unsupported format code: {other}"),
                ))
            }
        }
        out.push(f);
    }
    Ok(out)
}

fn row_description(columns: &[ColumnDesc], formats: &[i16]) -> PgWireBackendMessage {
    let fields = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let format = formats.get(i).copied().unwrap_or(0);
            FieldDescription::new(
                c.name.clone(),
                // An OID is unsigned; the wire field is its 32 bits.
                c.table_oid as i32,
                c.column_id,
                c.type_oid,
                c.type_len,
                c.type_mod,
                format,
            )
        })
        .collect();
    PgWireBackendMessage::RowDescription(RowDescription::new(fields))
}

fn field_count(n: usize) -> i16 {
    // The session never returns more than PostgreSQL's 1664 result columns.
    i16::try_from(n).expect("result has at most i16::MAX columns")
}

/// A DataRow of text values.
fn text_row(row: &[Option<String>]) -> DataRow {
    let mut buf = BytesMut::with_capacity(
        row.iter()
            .map(|v| 4 + v.as_ref().map_or(0, String::len))
            .sum(),
    );
    for v in row {
        match v {
            None => buf.put_i32(-1),
            Some(s) => {
                buf.put_i32(value_len(s.len()));
                buf.put_slice(s.as_bytes());
            }
        }
    }
    DataRow::new(buf, field_count(row.len()))
}

fn value_len(n: usize) -> i32 {
    // Values are at most 1 GB (`datum::MAX_VALUE_BYTES`).
    i32::try_from(n).expect("a value is under 2 GiB")
}

/// A DataRow in the portal's formats; binary values are converted from the
/// session's text.
fn encode_row(
    row: &[Option<String>],
    types: &[u32],
    formats: &[i16],
) -> Result<DataRow, format::FormatError> {
    let mut buf = BytesMut::new();
    for (i, v) in row.iter().enumerate() {
        match v {
            None => buf.put_i32(-1),
            Some(s) if formats.get(i).copied().unwrap_or(0) == 1 => {
                let at = buf.len();
                buf.put_i32(0);
                format::text_to_binary(types.get(i).copied().unwrap_or(oid::TEXT), s, &mut buf)?;
                let len = value_len(buf.len() - at - 4);
                buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
            Some(s) => {
                buf.put_i32(value_len(s.len()));
                buf.put_slice(s.as_bytes());
            }
        }
    }
    Ok(DataRow::new(buf, field_count(row.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_tags_count_the_rows_of_each_execute() {
        assert_eq!(rows_tag("SELECT 10", 3), "SELECT 3");
        assert_eq!(rows_tag("SELECT 10", 0), "SELECT 0");
        assert_eq!(rows_tag("INSERT 0 5", 2), "INSERT 0 5");
    }

    #[test]
    fn bind_parameter_counts_and_formats_are_checked() {
        let e = decode_params("s", &[oid::INT4], &[], &[]).unwrap_err();
        assert_eq!(e.code, "08P01");
        assert_eq!(
            e.message,
            "bind message supplies 0 parameters, but prepared statement \"s\" requires 1"
        );
        let e = decode_params("s", &[oid::INT4, oid::INT4], &[0, 1, 1], &[None, None]).unwrap_err();
        assert_eq!(e.code, "08P01");
        let e = decode_params(
            "s",
            &[oid::INT4],
            &[1],
            &[Some(Bytes::from_static(&[1, 2]))],
        )
        .unwrap_err();
        assert_eq!(e.code, "22P03");
        let got = decode_params(
            "s",
            &[oid::INT4, oid::TEXT, oid::BOOL],
            &[1, 0, 1],
            &[
                Some(Bytes::from_static(&[0, 0, 1, 0])),
                Some(Bytes::from_static(b"x")),
                None,
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            vec![Some("256".to_owned()), Some("x".to_owned()), None]
        );
    }

    #[test]
    fn binary_results_only_for_known_types() {
        let cols = [
            ColumnDesc {
                name: "a".into(),
                type_oid: oid::INT4,
                type_len: 4,
                type_mod: -1,
                table_oid: 0,
                column_id: 0,
            },
            ColumnDesc {
                name: "b".into(),
                type_oid: 99_999,
                type_len: -1,
                type_mod: -1,
                table_oid: 0,
                column_id: 0,
            },
        ];
        assert_eq!(result_formats(&cols, &[1, 0]).unwrap(), vec![1, 0]);
        assert_eq!(result_formats(&cols, &[1]).unwrap_err().code, "0A000");
        assert_eq!(result_formats(&cols, &[0, 0, 0]).unwrap_err().code, "08P01");
    }

    #[test]
    fn binary_rows_carry_lengths() {
        let row = encode_row(
            &[Some("7".into()), None, Some("ab".into())],
            &[oid::INT8, oid::INT8, oid::TEXT],
            &[1, 1, 0],
        )
        .unwrap();
        let want: Vec<u8> = [
            &8i32.to_be_bytes()[..],
            &7i64.to_be_bytes(),
            &(-1i32).to_be_bytes(),
            &2i32.to_be_bytes(),
            b"ab",
        ]
        .concat();
        assert_eq!(&row.data[..], &want[..]);
        assert_eq!(row.field_count, 3);
    }
}

//! Backend connections: the proxy logging in to a compute node with its own
//! credentials, and replaying a session's state on a fresh connection.
//!
//! Login speaks the client side of PostgreSQL authentication (SCRAM-SHA-256
//! through postgres-protocol, MD5 or cleartext, whatever the server asks)
//! and collects the server's `ParameterStatus` messages and key. Replay runs
//! the tracked session statements (`SET`, `PREPARE`, ...) and re-sends the
//! named `Parse` messages, absorbing their answers, so that a session moved
//! to a new writer finds its settings and prepared statements where it left
//! them.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::config::BackendCredentials;
use crate::topology::Target;
use crate::wire::{self, ErrorFields, Frame};

/// Largest message accepted during login and replay (parameter statuses,
/// notices, errors): far above what a server sends there.
const LOGIN_MESSAGE_MAX_BYTES: u32 = 1 << 20;

/// A statement that fails on any PostgreSQL-compatible server, run inside
/// `BEGIN` to leave a re-attached session in a failed transaction, where
/// its client believes it is (see `session.rs`).
pub const ABORT_STATEMENT: &str = "SELECT 1/0 AS \"transaction lost in a writer failover\"";

/// Why a backend session could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("timed out")]
    Timeout,
    /// The server refused the startup or login; its error is forwarded to
    /// the client when nothing else has been said yet.
    #[error("server refused the session: {} {}", .fields.code, .fields.message)]
    Refused { fields: ErrorFields, frame: Bytes },
    #[error("server asked for an unsupported authentication method ({0})")]
    AuthMethod(u32),
    #[error("login: {0}")]
    Login(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(String),
}

/// A logged-in backend session, ready for queries.
pub struct BackendConn {
    pub target: Target,
    pub read: OwnedReadHalf,
    pub write: OwnedWriteHalf,
    /// Bytes read past the login (none in practice: the server waits for us).
    pub buf: BytesMut,
    /// The server's `BackendKeyData`, for forwarding cancel requests.
    pub process_id: i32,
    pub secret_key: i32,
    /// The server's `ParameterStatus` messages, whole.
    pub parameter_status: Vec<Bytes>,
}

async fn next_frame(
    read: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    max: u32,
) -> Result<Frame, ConnectError> {
    loop {
        if let Some(f) =
            wire::try_frame(buf, max).map_err(|e| ConnectError::Protocol(e.to_string()))?
        {
            return Ok(f);
        }
        if read.read_buf(buf).await? == 0 {
            return Err(ConnectError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
}

/// Connects to `target` and logs in, within `timeout`.
pub async fn connect(
    target: &Target,
    creds: &BackendCredentials,
    database: &str,
    params: &[(String, String)],
    timeout: Duration,
) -> Result<BackendConn, ConnectError> {
    tokio::time::timeout(timeout, login(target, creds, database, params))
        .await
        .map_err(|_| ConnectError::Timeout)?
}

async fn login(
    target: &Target,
    creds: &BackendCredentials,
    database: &str,
    params: &[(String, String)],
) -> Result<BackendConn, ConnectError> {
    let stream = TcpStream::connect(&target.sql_addr)
        .await
        .map_err(|source| ConnectError::Connect {
            addr: target.sql_addr.clone(),
            source,
        })?;
    stream.set_nodelay(true)?;
    let (mut read, mut write) = stream.into_split();
    let mut out = BytesMut::new();
    let mut all: Vec<(&str, &str)> = vec![("user", &creds.user), ("database", database)];
    all.extend(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    frontend::startup_message(all.iter().copied(), &mut out)?;
    write.write_all(&out).await?;

    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut scram: Option<ScramSha256> = None;
    let mut key = None;
    let mut parameter_status = Vec::new();
    loop {
        let f = next_frame(&mut read, &mut buf, LOGIN_MESSAGE_MAX_BYTES).await?;
        match f.tag() {
            b'R' => {
                let body = f.body();
                if body.len() < 4 {
                    return Err(ConnectError::Protocol(
                        "short authentication message".into(),
                    ));
                }
                let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let data = &body[4..];
                out.clear();
                match code {
                    wire::AUTH_OK => continue,
                    wire::AUTH_CLEARTEXT => {
                        frontend::password_message(creds.password.as_bytes(), &mut out)?;
                    }
                    wire::AUTH_MD5 => {
                        let salt: [u8; 4] = data
                            .get(..4)
                            .and_then(|s| s.try_into().ok())
                            .ok_or_else(|| ConnectError::Protocol("short MD5 salt".into()))?;
                        let hash = postgres_protocol::authentication::md5_hash(
                            creds.user.as_bytes(),
                            creds.password.as_bytes(),
                            salt,
                        );
                        frontend::password_message(hash.as_bytes(), &mut out)?;
                    }
                    wire::AUTH_SASL => {
                        let offers_scram = data
                            .split(|&b| b == 0)
                            .any(|m| m == SCRAM_SHA_256.as_bytes());
                        if !offers_scram {
                            return Err(ConnectError::Login(
                                "server offers no SASL mechanism the proxy speaks".into(),
                            ));
                        }
                        let s = ScramSha256::new(
                            creds.password.as_bytes(),
                            ChannelBinding::unsupported(),
                        );
                        frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut out)?;
                        scram = Some(s);
                    }
                    wire::AUTH_SASL_CONTINUE => {
                        let s = scram
                            .as_mut()
                            .ok_or_else(|| ConnectError::Protocol("SASL continue first".into()))?;
                        s.update(data)
                            .map_err(|e| ConnectError::Login(e.to_string()))?;
                        frontend::sasl_response(s.message(), &mut out)?;
                    }
                    wire::AUTH_SASL_FINAL => {
                        let s = scram
                            .as_mut()
                            .ok_or_else(|| ConnectError::Protocol("SASL final first".into()))?;
                        s.finish(data)
                            .map_err(|e| ConnectError::Login(format!("server signature: {e}")))?;
                        continue;
                    }
                    other => return Err(ConnectError::AuthMethod(other)),
                }
                write.write_all(&out).await?;
            }
            b'E' => {
                return Err(ConnectError::Refused {
                    fields: wire::parse_error(f.body()),
                    frame: f.raw().clone(),
                })
            }
            b'S' => parameter_status.push(f.raw().clone()),
            b'K' => {
                let b = f.body();
                if b.len() < 8 {
                    return Err(ConnectError::Protocol("short BackendKeyData".into()));
                }
                key = Some((
                    i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                ));
            }
            b'Z' => break,
            // Notices and NegotiateProtocolVersion: nothing to do.
            _ => {}
        }
    }
    let (process_id, secret_key) = key.unwrap_or((0, 0));
    Ok(BackendConn {
        target: target.clone(),
        read,
        write,
        buf,
        process_id,
        secret_key,
        parameter_status,
    })
}

/// Replays session state on a fresh connection: `statements` one simple
/// query each, then the named `Parse` messages and one `Sync`, then (if
/// `abort_transaction`) `BEGIN` and [`ABORT_STATEMENT`]. Answers are
/// absorbed; a statement that fails now is logged, since the client has no
/// request to attach the error to.
pub async fn replay(
    conn: &mut BackendConn,
    statements: &[String],
    parses: &[Bytes],
    abort_transaction: bool,
    timeout: Duration,
) -> Result<(), ConnectError> {
    let mut out = BytesMut::new();
    let mut expect_ready = 0usize;
    for s in statements {
        wire::query(&mut out, s);
        expect_ready += 1;
    }
    if !parses.is_empty() {
        for p in parses {
            out.extend_from_slice(p);
        }
        wire::sync(&mut out);
        expect_ready += 1;
    }
    if abort_transaction {
        wire::query(&mut out, "BEGIN");
        wire::query(&mut out, ABORT_STATEMENT);
        expect_ready += 2;
    }
    if expect_ready == 0 {
        return Ok(());
    }
    let work = async {
        conn.write.write_all(&out).await?;
        let mut last_status = b'I';
        let mut seen = 0;
        while seen < expect_ready {
            let f = next_frame(&mut conn.read, &mut conn.buf, LOGIN_MESSAGE_MAX_BYTES).await?;
            match f.tag() {
                b'Z' => {
                    seen += 1;
                    last_status = f.body().first().copied().unwrap_or(b'I');
                }
                b'E' => {
                    let e = wire::parse_error(f.body());
                    let expected = abort_transaction && seen + 1 == expect_ready;
                    if !expected {
                        tracing::warn!(
                            node = %conn.target.name,
                            code = %e.code,
                            "replayed session state failed on the new backend: {}",
                            e.message
                        );
                    }
                }
                _ => {}
            }
        }
        if abort_transaction && last_status != b'E' {
            return Err(ConnectError::Protocol(format!(
                "expected a failed transaction after replay, the server says {:?}",
                last_status as char
            )));
        }
        Ok(())
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ConnectError::Timeout)?
}

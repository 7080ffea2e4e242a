//! A minimal PostgreSQL frontend that keeps everything the server says.
//!
//! tokio-postgres reduces a CommandComplete to its row count and hands
//! notices and ParameterStatus messages to the connection task, so it
//! cannot show the command tag (`INSERT 0 1` against `UPDATE 1`) that the
//! conformance suite compares. This client speaks the protocol directly,
//! with postgres-protocol for the message codecs and SCRAM, and returns
//! every message of a query in the order it arrived. It runs one statement
//! at a time, through the simple protocol (Query) or the extended one
//! (Parse/Bind/Describe/Execute/Sync, results in text format), and feeds
//! COPY FROM STDIN from a buffer.

use std::fmt;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::backend::{ErrorFields, Message};
use postgres_protocol::message::frontend::{self, BindError};
use postgres_protocol::IsNull;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest one query may take before the client gives up on the
/// connection; a server that hangs fails its case instead of the run.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest backend message accepted; a conformance query returns a
/// few kilobytes, so anything near this is a framing bug.
const MESSAGE_BYTES_MAX: usize = 64 << 20;

/// Where and as whom to connect.
#[derive(Clone, Debug)]
pub struct ConnectParams {
    /// `host:port`.
    pub addr: String,
    pub user: String,
    pub password: String,
    pub database: String,
}

/// Why the client could not finish a query or a connection.
#[derive(Debug)]
pub enum WireError {
    Io(io::Error),
    Timeout,
    /// The server closed the connection.
    Closed,
    /// The server broke the protocol, or refused the login.
    Protocol(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Io(e) => write!(f, "i/o error: {e}"),
            WireError::Timeout => write!(f, "no answer within {QUERY_TIMEOUT:?}"),
            WireError::Closed => write!(f, "server closed the connection"),
            WireError::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> WireError {
        WireError::Io(e)
    }
}

/// The fields of an ErrorResponse or NoticeResponse that the suite keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `V` (non-localized severity), else `S`.
    pub severity: String,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based character position in the statement.
    pub position: Option<String>,
    /// `W`: where the error happened (JSON input, COPY line, …).
    pub context: Option<String>,
}

/// One backend message of interest, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// RowDescription: column names and type OIDs.
    Columns(Vec<(String, u32)>),
    /// DataRow in text format; `None` is SQL NULL.
    Row(Vec<Option<String>>),
    /// CommandComplete with its tag.
    Complete(String),
    EmptyQuery,
    Error(Report),
    Notice(Report),
    Parameter(String, String),
    /// CopyInResponse: overall format and column count.
    CopyIn {
        format: u8,
        columns: usize,
    },
    /// CopyOutResponse: overall format and column count.
    CopyOut {
        format: u8,
        columns: usize,
    },
    /// CopyData from the server (COPY TO STDOUT).
    CopyData(Vec<u8>),
    /// ReadyForQuery's transaction status: `I`, `T` or `E`.
    Ready(u8),
}

/// One open connection.
pub struct Conn {
    stream: TcpStream,
    read: BytesMut,
    write: BytesMut,
}

impl Conn {
    /// Connects and logs in (trust, cleartext, MD5 or SCRAM-SHA-256), then
    /// waits for the first ReadyForQuery.
    pub async fn connect(p: &ConnectParams) -> Result<Conn, WireError> {
        tokio::time::timeout(QUERY_TIMEOUT, Conn::connect_inner(p))
            .await
            .map_err(|_| WireError::Timeout)?
    }

    async fn connect_inner(p: &ConnectParams) -> Result<Conn, WireError> {
        let stream = TcpStream::connect(&p.addr).await?;
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            read: BytesMut::with_capacity(8192),
            write: BytesMut::with_capacity(8192),
        };
        frontend::startup_message(
            [
                ("user", p.user.as_str()),
                ("database", p.database.as_str()),
                ("client_encoding", "UTF8"),
            ],
            &mut conn.write,
        )?;
        conn.flush().await?;
        let mut scram: Option<ScramSha256> = None;
        loop {
            match conn.next_message().await? {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(p.password.as_bytes(), &mut conn.write)?;
                    conn.flush().await?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = md5_hash(p.user.as_bytes(), p.password.as_bytes(), body.salt());
                    frontend::password_message(hash.as_bytes(), &mut conn.write)?;
                    conn.flush().await?;
                }
                Message::AuthenticationSasl(body) => {
                    let mechanisms: Vec<String> = body
                        .mechanisms()
                        .map(|m| Ok(m.to_owned()))
                        .collect()
                        .map_err(WireError::Io)?;
                    if !mechanisms.iter().any(|m| m == SCRAM_SHA_256) {
                        return Err(WireError::Protocol(format!(
                            "no supported SASL mechanism in {mechanisms:?}"
                        )));
                    }
                    let s = ScramSha256::new(p.password.as_bytes(), ChannelBinding::unsupported());
                    frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut conn.write)?;
                    conn.flush().await?;
                    scram = Some(s);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s = scram.as_mut().ok_or_else(|| {
                        WireError::Protocol("SASL continue before SASL start".into())
                    })?;
                    s.update(body.data())?;
                    frontend::sasl_response(s.message(), &mut conn.write)?;
                    conn.flush().await?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let s = scram.as_mut().ok_or_else(|| {
                        WireError::Protocol("SASL final before SASL start".into())
                    })?;
                    s.finish(body.data())?;
                }
                Message::ErrorResponse(body) => {
                    let r = report(body.fields())?;
                    return Err(WireError::Protocol(format!(
                        "login refused: {} {}",
                        r.code, r.message
                    )));
                }
                Message::ParameterStatus(_)
                | Message::BackendKeyData(_)
                | Message::NoticeResponse(_) => {}
                Message::ReadyForQuery(_) => return Ok(conn),
                _ => {
                    return Err(WireError::Protocol(
                        "unexpected message during login".into(),
                    ))
                }
            }
        }
    }

    /// Runs `sql` as one Query message; `copy_in` feeds a COPY FROM STDIN.
    pub async fn simple_query(
        &mut self,
        sql: &str,
        copy_in: Option<&[u8]>,
    ) -> Result<Vec<Event>, WireError> {
        frontend::query(sql, &mut self.write)?;
        self.flush().await?;
        self.collect(copy_in).await
    }

    /// Runs `sql` through the unnamed statement and portal, asking for every
    /// result column in text format.
    pub async fn extended_query(
        &mut self,
        sql: &str,
        copy_in: Option<&[u8]>,
    ) -> Result<Vec<Event>, WireError> {
        frontend::parse("", sql, std::iter::empty(), &mut self.write)?;
        frontend::bind(
            "",
            "",
            std::iter::empty(),
            std::iter::empty::<()>(),
            |(), _| Ok(IsNull::No),
            std::iter::empty(),
            &mut self.write,
        )
        .map_err(|e| match e {
            BindError::Conversion(e) => WireError::Protocol(format!("encode Bind: {e}")),
            BindError::Serialization(e) => WireError::Io(e),
        })?;
        frontend::describe(b'P', "", &mut self.write)?;
        frontend::execute("", 0, &mut self.write)?;
        frontend::sync(&mut self.write);
        self.flush().await?;
        self.collect(copy_in).await
    }

    /// Says goodbye; errors are irrelevant at this point.
    pub async fn close(mut self) {
        frontend::terminate(&mut self.write);
        let _ = self.flush().await;
    }

    /// Reads messages up to and including ReadyForQuery.
    async fn collect(&mut self, copy_in: Option<&[u8]>) -> Result<Vec<Event>, WireError> {
        tokio::time::timeout(QUERY_TIMEOUT, self.collect_inner(copy_in))
            .await
            .map_err(|_| WireError::Timeout)?
    }

    async fn collect_inner(&mut self, copy_in: Option<&[u8]>) -> Result<Vec<Event>, WireError> {
        let mut events = Vec::new();
        loop {
            let event = match self.next_message().await? {
                Message::RowDescription(body) => {
                    let columns = body
                        .fields()
                        .map(|f| Ok((f.name().to_owned(), f.type_oid())))
                        .collect()?;
                    Event::Columns(columns)
                }
                Message::DataRow(body) => {
                    let buf = body.buffer();
                    let row = body
                        .ranges()
                        .map(|r| Ok(r.map(|r| String::from_utf8_lossy(&buf[r]).into_owned())))
                        .collect()?;
                    Event::Row(row)
                }
                Message::CommandComplete(body) => Event::Complete(body.tag()?.to_owned()),
                Message::EmptyQueryResponse => Event::EmptyQuery,
                Message::ErrorResponse(body) => Event::Error(report(body.fields())?),
                Message::NoticeResponse(body) => Event::Notice(report(body.fields())?),
                Message::ParameterStatus(body) => {
                    Event::Parameter(body.name()?.to_owned(), body.value()?.to_owned())
                }
                Message::CopyInResponse(body) => {
                    let columns = body.column_formats().count()?;
                    let event = Event::CopyIn {
                        format: body.format(),
                        columns,
                    };
                    match copy_in {
                        Some(data) => {
                            if !data.is_empty() {
                                frontend::CopyData::new(data)?.write(&mut self.write);
                            }
                            frontend::copy_done(&mut self.write);
                        }
                        None => frontend::copy_fail("the case has no COPY data", &mut self.write)?,
                    }
                    self.flush().await?;
                    event
                }
                Message::CopyOutResponse(body) => Event::CopyOut {
                    format: body.format(),
                    columns: body.column_formats().count()?,
                },
                Message::CopyData(body) => Event::CopyData(body.data().to_vec()),
                Message::ReadyForQuery(body) => {
                    events.push(Event::Ready(body.status()));
                    return Ok(events);
                }
                Message::ParseComplete
                | Message::BindComplete
                | Message::NoData
                | Message::CopyDone
                | Message::CloseComplete
                | Message::PortalSuspended
                | Message::NotificationResponse(_) => continue,
                _ => return Err(WireError::Protocol("unexpected message in a query".into())),
            };
            events.push(event);
        }
    }

    async fn flush(&mut self) -> Result<(), WireError> {
        self.stream.write_all(&self.write).await?;
        self.write.clear();
        Ok(())
    }

    async fn next_message(&mut self) -> Result<Message, WireError> {
        loop {
            if self.read.len() >= 5 {
                let len = u32::from_be_bytes(self.read[1..5].try_into().expect("4 bytes"));
                if len as usize > MESSAGE_BYTES_MAX {
                    return Err(WireError::Protocol(format!("message of {len} bytes")));
                }
            }
            if let Some(m) = Message::parse(&mut self.read)? {
                return Ok(m);
            }
            self.read.reserve(8192);
            if self.stream.read_buf(&mut self.read).await? == 0 {
                return Err(WireError::Closed);
            }
        }
    }
}

fn report(mut fields: ErrorFields<'_>) -> Result<Report, WireError> {
    let mut r = Report::default();
    let mut localized = String::new();
    while let Some(f) = fields.next()? {
        let value = String::from_utf8_lossy(f.value_bytes()).into_owned();
        match f.type_() {
            b'V' => r.severity = value,
            b'S' => localized = value,
            b'C' => r.code = value,
            b'M' => r.message = value,
            b'D' => r.detail = Some(value),
            b'H' => r.hint = Some(value),
            b'P' => r.position = Some(value),
            b'W' => r.context = Some(value),
            _ => {}
        }
    }
    if r.severity.is_empty() {
        r.severity = localized;
    }
    Ok(r)
}

//! Postgres wire protocol (version 3) framing, as much as a relay needs.
//!
//! The proxy forwards messages whole and unchanged; it only looks inside the
//! few it must understand (startup, authentication, `ReadyForQuery`,
//! `Parse`/`Close` of named statements, simple `Query` text, errors). So a
//! message here is its raw bytes (`tag`, `length`, body), split off a read
//! buffer once it is complete, with an upper bound on its length: the relay
//! holds a whole message in memory, and the bound is what keeps a client (or
//! a broken backend) from making it hold more.
//!
//! Reference: <https://www.postgresql.org/docs/current/protocol-message-formats.html>.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Longest startup packet PostgreSQL accepts (`MAX_STARTUP_PACKET_LENGTH`
/// in src/include/libpq/pqcomm.h); the proxy applies the same bound.
pub const MAX_STARTUP_PACKET_LENGTH: u32 = 10_000;
/// `SSLRequest` code (pqcomm.h `NEGOTIATE_SSL_CODE`).
pub const SSL_REQUEST_CODE: u32 = 80_877_103;
/// `GSSENCRequest` code (pqcomm.h `NEGOTIATE_GSS_CODE`).
pub const GSSENC_REQUEST_CODE: u32 = 80_877_104;
/// `CancelRequest` code (pqcomm.h `CANCEL_REQUEST_CODE`).
pub const CANCEL_REQUEST_CODE: u32 = 80_877_102;
/// Protocol 3.0 (pqcomm.h `PG_PROTOCOL(3, 0)`).
pub const PROTOCOL_VERSION_3_0: u32 = 196_608;

/// Why bytes could not be framed as a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The declared length is above the configured limit.
    #[error("message of {len} bytes is over the limit of {max} bytes")]
    TooLong { len: u32, max: u32 },
    /// The declared length is below the 4 bytes of the length itself.
    #[error("message length {0} is invalid")]
    BadLength(u32),
    /// A message's contents do not parse.
    #[error("malformed {0} message")]
    Malformed(&'static str),
}

/// One whole message: its tag, length and body, exactly as on the wire.
#[derive(Clone, Debug)]
pub struct Frame {
    raw: Bytes,
}

impl Frame {
    /// The message type byte.
    pub fn tag(&self) -> u8 {
        self.raw[0]
    }
    /// The body after the tag and length.
    pub fn body(&self) -> &[u8] {
        &self.raw[5..]
    }
    /// The whole message, ready to forward.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }
}

/// Splits one complete tagged message off the front of `buf`, or returns
/// `Ok(None)` when more bytes are needed.
pub fn try_frame(buf: &mut BytesMut, max_len: u32) -> Result<Option<Frame>, FrameError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if len < 4 {
        return Err(FrameError::BadLength(len));
    }
    if len > max_len {
        return Err(FrameError::TooLong { len, max: max_len });
    }
    let total = len as usize + 1;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    let raw = buf.split_to(total).freeze();
    Ok(Some(Frame { raw }))
}

/// The first packet of a connection (no tag byte).
#[derive(Debug, PartialEq, Eq)]
pub enum Startup {
    /// The client asks for TLS.
    SslRequest,
    /// The client asks for GSSAPI encryption (which the proxy declines).
    GssEncRequest,
    /// A cancel request for the session with this key.
    Cancel { process_id: i32, secret_key: i32 },
    /// A startup message: protocol version and parameters (`user`,
    /// `database`, `application_name`, ...), in order.
    Startup {
        version: u32,
        params: Vec<(String, String)>,
    },
}

/// Parses a startup packet body (after its 4-byte length).
pub fn parse_startup(body: &[u8]) -> Result<Startup, FrameError> {
    let mut b = body;
    if b.len() < 4 {
        return Err(FrameError::Malformed("startup"));
    }
    let code = b.get_u32();
    match code {
        SSL_REQUEST_CODE if b.is_empty() => Ok(Startup::SslRequest),
        GSSENC_REQUEST_CODE if b.is_empty() => Ok(Startup::GssEncRequest),
        CANCEL_REQUEST_CODE if b.len() == 8 => Ok(Startup::Cancel {
            process_id: b.get_i32(),
            secret_key: b.get_i32(),
        }),
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE | CANCEL_REQUEST_CODE => {
            Err(FrameError::Malformed("negotiation request"))
        }
        version => {
            let mut params = Vec::new();
            loop {
                let name = cstr(&mut b).ok_or(FrameError::Malformed("startup"))?;
                if name.is_empty() {
                    break;
                }
                let value = cstr(&mut b).ok_or(FrameError::Malformed("startup"))?;
                params.push((name, value));
            }
            Ok(Startup::Startup { version, params })
        }
    }
}

/// Reads a NUL-terminated UTF-8 string off the front of `b`.
pub fn cstr(b: &mut &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0)?;
    let s = std::str::from_utf8(&b[..end]).ok()?.to_owned();
    *b = &b[end + 1..];
    Some(s)
}

/// The fields of an `ErrorResponse` or `NoticeResponse` the proxy uses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ErrorFields {
    pub severity: String,
    pub code: String,
    pub message: String,
}

/// Parses an `ErrorResponse`/`NoticeResponse` body.
pub fn parse_error(body: &[u8]) -> ErrorFields {
    let mut f = ErrorFields::default();
    let mut b = body;
    while let Some((&kind, rest)) = b.split_first() {
        if kind == 0 {
            break;
        }
        b = rest;
        let Some(value) = cstr(&mut b) else { break };
        match kind {
            b'V' => f.severity = value,
            b'S' if f.severity.is_empty() => f.severity = value,
            b'C' => f.code = value,
            b'M' => f.message = value,
            _ => {}
        }
    }
    f
}

fn put_tagged(out: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    out.put_u8(tag);
    let at = out.len();
    out.put_u32(0);
    body(out);
    let len = u32::try_from(out.len() - at).expect("message under 4 GiB");
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn put_cstr(out: &mut BytesMut, s: &str) {
    debug_assert!(!s.as_bytes().contains(&0), "NUL in a protocol string");
    out.put_slice(s.as_bytes());
    out.put_u8(0);
}

/// Severity of an error the proxy itself sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The statement failed; the session goes on.
    Error,
    /// The session ends after this message.
    Fatal,
}

/// `ErrorResponse` with severity, SQLSTATE and message.
pub fn error_response(out: &mut BytesMut, severity: Severity, code: &str, message: &str) {
    let sev = match severity {
        Severity::Error => "ERROR",
        Severity::Fatal => "FATAL",
    };
    put_tagged(out, b'E', |o| {
        o.put_u8(b'S');
        put_cstr(o, sev);
        o.put_u8(b'V');
        put_cstr(o, sev);
        o.put_u8(b'C');
        put_cstr(o, code);
        o.put_u8(b'M');
        put_cstr(o, message);
        o.put_u8(0);
    });
}

/// `ReadyForQuery` with a transaction status (`I`, `T` or `E`).
pub fn ready_for_query(out: &mut BytesMut, status: u8) {
    assert!(
        matches!(status, b'I' | b'T' | b'E'),
        "transaction status {status}"
    );
    put_tagged(out, b'Z', |o| o.put_u8(status));
}

/// `Authentication*` with a code and optional data.
pub fn authentication(out: &mut BytesMut, code: u32, data: &[u8]) {
    put_tagged(out, b'R', |o| {
        o.put_u32(code);
        o.put_slice(data);
    });
}

/// `AuthenticationOk`.
pub const AUTH_OK: u32 = 0;
/// `AuthenticationCleartextPassword`.
pub const AUTH_CLEARTEXT: u32 = 3;
/// `AuthenticationMD5Password`.
pub const AUTH_MD5: u32 = 5;
/// `AuthenticationSASL`.
pub const AUTH_SASL: u32 = 10;
/// `AuthenticationSASLContinue`.
pub const AUTH_SASL_CONTINUE: u32 = 11;
/// `AuthenticationSASLFinal`.
pub const AUTH_SASL_FINAL: u32 = 12;

/// `BackendKeyData`.
pub fn backend_key_data(out: &mut BytesMut, process_id: i32, secret_key: i32) {
    put_tagged(out, b'K', |o| {
        o.put_i32(process_id);
        o.put_i32(secret_key);
    });
}

/// `NegotiateProtocolVersion`: the newest minor version the proxy speaks
/// and the protocol options (`_pq_.*`) it did not recognise.
pub fn negotiate_protocol_version(out: &mut BytesMut, minor: u32, unrecognised: &[&str]) {
    put_tagged(out, b'v', |o| {
        o.put_u32(minor);
        o.put_u32(u32::try_from(unrecognised.len()).expect("a startup packet's options fit"));
        for name in unrecognised {
            put_cstr(o, name);
        }
    });
}

/// A `CancelRequest` packet.
pub fn cancel_request(out: &mut BytesMut, process_id: i32, secret_key: i32) {
    out.put_u32(16);
    out.put_u32(CANCEL_REQUEST_CODE);
    out.put_i32(process_id);
    out.put_i32(secret_key);
}

/// A simple `Query`.
pub fn query(out: &mut BytesMut, sql: &str) {
    put_tagged(out, b'Q', |o| put_cstr(o, sql));
}

/// `Sync`.
pub fn sync(out: &mut BytesMut) {
    put_tagged(out, b'S', |_| {});
}

/// The statement name of a `Parse` body, and its query text.
pub fn parse_parse(body: &[u8]) -> Result<(String, String), FrameError> {
    let mut b = body;
    let name = cstr(&mut b).ok_or(FrameError::Malformed("Parse"))?;
    let sql = cstr(&mut b).ok_or(FrameError::Malformed("Parse"))?;
    Ok((name, sql))
}

/// The kind (`S` statement, `P` portal) and name of a `Close` body.
pub fn parse_close(body: &[u8]) -> Result<(u8, String), FrameError> {
    let (&kind, mut rest) = body.split_first().ok_or(FrameError::Malformed("Close"))?;
    let name = cstr(&mut rest).ok_or(FrameError::Malformed("Close"))?;
    Ok((kind, name))
}

/// The text of a simple `Query` body.
pub fn parse_query(body: &[u8]) -> Result<String, FrameError> {
    let mut b = body;
    cstr(&mut b).ok_or(FrameError::Malformed("Query"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_at_message_boundaries_and_wait_for_the_rest() {
        let mut out = BytesMut::new();
        query(&mut out, "SELECT 1");
        ready_for_query(&mut out, b'I');
        let whole = out.clone();
        let mut buf = BytesMut::from(&whole[..7]);
        assert!(try_frame(&mut buf, 1024).unwrap().is_none());
        buf.extend_from_slice(&whole[7..]);
        let q = try_frame(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(q.tag(), b'Q');
        assert_eq!(parse_query(q.body()).unwrap(), "SELECT 1");
        let z = try_frame(&mut buf, 1024).unwrap().unwrap();
        assert_eq!((z.tag(), z.body()), (b'Z', &b"I"[..]));
        assert!(buf.is_empty());
    }

    #[test]
    fn an_over_long_or_short_length_is_refused_before_buffering() {
        let mut buf = BytesMut::from(&[b'Q', 0, 0, 1, 0][..]);
        assert!(matches!(
            try_frame(&mut buf, 100),
            Err(FrameError::TooLong { len: 256, max: 100 })
        ));
        let mut buf = BytesMut::from(&[b'Q', 0, 0, 0, 3][..]);
        assert!(matches!(
            try_frame(&mut buf, 100),
            Err(FrameError::BadLength(3))
        ));
    }

    #[test]
    fn startup_packets_parse() {
        let mut b = BytesMut::new();
        b.put_u32(PROTOCOL_VERSION_3_0);
        for s in ["user", "alice", "database", "db", ""] {
            put_cstr(&mut b, s);
        }
        assert_eq!(
            parse_startup(&b).unwrap(),
            Startup::Startup {
                version: PROTOCOL_VERSION_3_0,
                params: vec![
                    ("user".into(), "alice".into()),
                    ("database".into(), "db".into())
                ]
            }
        );
        assert_eq!(
            parse_startup(&SSL_REQUEST_CODE.to_be_bytes()).unwrap(),
            Startup::SslRequest
        );
        let mut c = BytesMut::new();
        cancel_request(&mut c, 7, -9);
        assert_eq!(
            parse_startup(&c[4..]).unwrap(),
            Startup::Cancel {
                process_id: 7,
                secret_key: -9
            }
        );
        assert!(parse_startup(&[0, 3, 0, 0, b'u']).is_err());
    }

    #[test]
    fn error_responses_round_trip() {
        let mut out = BytesMut::new();
        error_response(&mut out, Severity::Fatal, "28P01", "nope");
        let f = try_frame(&mut out, 1024).unwrap().unwrap();
        assert_eq!(
            parse_error(f.body()),
            ErrorFields {
                severity: "FATAL".into(),
                code: "28P01".into(),
                message: "nope".into()
            }
        );
    }
}

//! The compute nodes' HTTP admin API, client side: `GET /health` and
//! `POST /promote` (src/cmd/compute.rs in the `sextant` binary).
//!
//! One HTTP/1.1 request per connection (`Connection: close`), read to the
//! end: health checks are a few per second per node, so a connection pool
//! would buy nothing, and a fresh connection is itself part of the check.
//! Replies are bounded ([`RESPONSE_MAX_BYTES`]).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest admin reply read; `/health` is a few hundred bytes plus one
/// entry per reader.
pub const RESPONSE_MAX_BYTES: u64 = 1 << 20;

/// Why an admin request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("malformed HTTP reply: {0}")]
    Malformed(&'static str),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
}

/// What a node says about itself on `/health`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Health {
    /// `writer`, `reader`, `promoting` or `fenced`.
    pub role: String,
    /// Its storage epoch: the writer with the highest epoch is the writer.
    #[serde(default)]
    pub epoch: u64,
    /// How far it has applied the log (readers) or its VDL (the writer).
    #[serde(default)]
    pub read_point: u64,
}

/// `POST /promote`'s answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromoteReply {
    /// 200: it is the writer now, at this epoch.
    Promoted { epoch: u64 },
    /// 409: it was not a reader (another proxy promoted it, or it is the
    /// writer, or it is promoting).
    Conflict(String),
}

async fn request(
    addr: &str,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), AdminError> {
    let work = async {
        let mut s = TcpStream::connect(addr).await?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        (&mut s)
            .take(RESPONSE_MAX_BYTES)
            .read_to_end(&mut raw)
            .await?;
        parse_response(&raw)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| AdminError::Timeout)?
}

fn parse_response(raw: &[u8]) -> Result<(u16, String), AdminError> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(AdminError::Malformed("no end of headers"))?;
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or(AdminError::Malformed("no status line"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body).ok_or(AdminError::Malformed("bad chunked body"))?
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size + 2..)?;
    }
}

/// `GET /health`.
pub async fn health(addr: &str, timeout: Duration) -> Result<Health, AdminError> {
    let (status, body) = request(addr, "GET", "/health", timeout).await?;
    if status != 200 {
        return Err(AdminError::Status { status, body });
    }
    serde_json::from_str(&body)
        .map_err(|_| AdminError::Malformed("health is not the expected JSON"))
}

/// `POST /promote`.
pub async fn promote(addr: &str, timeout: Duration) -> Result<PromoteReply, AdminError> {
    #[derive(serde::Deserialize)]
    struct Promoted {
        epoch: u64,
    }
    let (status, body) = request(addr, "POST", "/promote", timeout).await?;
    match status {
        200 => {
            let p: Promoted = serde_json::from_str(&body)
                .map_err(|_| AdminError::Malformed("promote reply is not the expected JSON"))?;
            Ok(PromoteReply::Promoted { epoch: p.epoch })
        }
        409 => Ok(PromoteReply::Conflict(body)),
        _ => Err(AdminError::Status { status, body }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_plain_and_chunked() {
        let (s, b) = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((s, b.as_str()), (200, "{}"));
        let (s, b) = parse_response(
            b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((s, b.as_str()), (409, "abcde"));
        assert!(parse_response(b"garbage").is_err());
    }
}

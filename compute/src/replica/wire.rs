//! The redo stream's messages and framing.
//!
//! Framed like the storage protocol (`sextant_storage::wire`), with its own
//! magic so the two can never be confused:
//!
//! ```text
//! magic u32 "SXRS" | version u8 | kind u8 | reserved u16 | len u32 | crc32c(payload) u32 | payload
//! ```
//!
//! all big-endian. Redo travels as storage's own [`LogRecord`]s, each with
//! its checksum: consecutive LSNs, `vol_prev_lsn` chaining every record to
//! the one before (across MTRs too, so a reader sees a gap), the last record
//! of an MTR flagged CPL. `pg_prev_lsn` is not tracked on the stream and is
//! zero. An MTR larger than one frame spans several `Records` frames; a
//! reader applies it when its CPL record arrives. A big transaction's MTR,
//! which the writer sends to storage in chunks, travels as its last chunk's
//! records preceded by `Streamed` frames listing the pages the earlier
//! chunks changed (their LSNs are skipped: `vol_prev_lsn` of the last
//! chunk's first record is the previous MTR's CPL). Decoding never panics
//! on bad input.
#![warn(missing_docs)]

use bytes::{Buf, BufMut, Bytes, BytesMut};
use sextant_storage::types::{DecodeError, Epoch, LogRecord, Lsn, PageId};
use tokio::io::{AsyncRead, AsyncReadExt};

/// First bytes of every frame: "SXRS".
pub const STREAM_MAGIC: u32 = 0x5358_5253;
/// Version of the redo stream; a peer speaking another is refused.
pub const STREAM_VERSION: u8 = 2;
/// Bytes before a frame's payload.
pub const HEADER_BYTES: usize = 4 + 1 + 1 + 2 + 4 + 4;
/// Largest payload of one frame, as in the storage protocol: bounds what
/// one frame pins in memory on either end.
pub const PAYLOAD_MAX: usize = sextant_storage::wire::FRAME_PAYLOAD_MAX;
/// Longest reader name.
pub const NAME_BYTES_MAX: usize = 256;

/// Every message of the redo stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamMsg {
    /// Reader → writer, first: "stream to me; I have applied up to
    /// `read_point`".
    Subscribe {
        /// The reader's name, for status and logs.
        name: String,
        /// The reader's read point.
        read_point: Lsn,
    },
    /// Reader → writer, periodically: where the reader is.
    Feedback {
        /// The reader's read point.
        read_point: Lsn,
        /// Its oldest open snapshot: storage must keep versions from there.
        oldest_snapshot: Lsn,
    },
    /// Writer → reader, first: the stream continues with the MTRs after
    /// `start`, a durable MTR boundary (the writer's VDL when the reader
    /// subscribed).
    Hello {
        /// The writer's epoch.
        epoch: Epoch,
        /// Where the stream starts.
        start: Lsn,
    },
    /// Writer → reader: durable records in LSN order (see the module docs).
    Records(Vec<LogRecord>),
    /// Writer → reader: the writer's VDL (a heartbeat when idle).
    Vdl(Lsn),
    /// Writer → reader, before the records of a streamed MTR: pages its
    /// earlier chunks changed (see the module docs).
    Streamed(Vec<PageId>),
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The connection failed or closed.
    #[error("redo stream I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Not a redo stream frame.
    #[error("bad redo stream magic {0:#010x}")]
    BadMagic(u32),
    /// Another version of the stream.
    #[error("unsupported redo stream version {0}")]
    UnsupportedVersion(u8),
    /// Payload larger than [`PAYLOAD_MAX`].
    #[error("redo stream frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Checksum mismatch.
    #[error("redo stream frame checksum mismatch")]
    Checksum,
    /// A field is out of range or the payload is cut short.
    #[error("malformed redo stream frame: {0}")]
    Malformed(&'static str),
    /// A record inside failed its checks.
    #[error("bad record on the redo stream: {0}")]
    Record(#[from] DecodeError),
}

mod kind {
    pub const SUBSCRIBE: u8 = 1;
    pub const FEEDBACK: u8 = 2;
    pub const HELLO: u8 = 3;
    pub const RECORDS: u8 = 4;
    pub const VDL: u8 = 5;
    pub const STREAMED: u8 = 6;
}

impl StreamMsg {
    /// The encoded frame.
    pub fn to_frame(&self) -> Bytes {
        let mut payload = BytesMut::new();
        let k = match self {
            StreamMsg::Subscribe { name, read_point } => {
                assert!(name.len() <= NAME_BYTES_MAX, "reader name too long");
                payload.put_u16(name.len() as u16);
                payload.put_slice(name.as_bytes());
                payload.put_u64(read_point.0);
                kind::SUBSCRIBE
            }
            StreamMsg::Feedback {
                read_point,
                oldest_snapshot,
            } => {
                payload.put_u64(read_point.0);
                payload.put_u64(oldest_snapshot.0);
                kind::FEEDBACK
            }
            StreamMsg::Hello { epoch, start } => {
                payload.put_u64(epoch.0);
                payload.put_u64(start.0);
                kind::HELLO
            }
            StreamMsg::Records(records) => {
                payload.put_u32(records.len() as u32);
                for r in records {
                    r.encode(&mut payload);
                }
                kind::RECORDS
            }
            StreamMsg::Vdl(vdl) => {
                payload.put_u64(vdl.0);
                kind::VDL
            }
            StreamMsg::Streamed(pages) => {
                payload.put_u32(pages.len() as u32);
                for p in pages {
                    payload.put_u64(p.0);
                }
                kind::STREAMED
            }
        };
        assert!(
            payload.len() <= PAYLOAD_MAX,
            "redo stream payload {} over the limit; callers split records",
            payload.len()
        );
        let mut out = BytesMut::with_capacity(HEADER_BYTES + payload.len());
        out.put_u32(STREAM_MAGIC);
        out.put_u8(STREAM_VERSION);
        out.put_u8(k);
        out.put_u16(0);
        out.put_u32(payload.len() as u32);
        out.put_u32(crc32c::crc32c(&payload));
        out.put_slice(&payload);
        out.freeze()
    }

    /// Checks a header and returns the payload length.
    pub fn check_header(header: &[u8; HEADER_BYTES]) -> Result<usize, StreamError> {
        let magic = u32::from_be_bytes(header[0..4].try_into().expect("4 bytes"));
        if magic != STREAM_MAGIC {
            return Err(StreamError::BadMagic(magic));
        }
        if header[4] != STREAM_VERSION {
            return Err(StreamError::UnsupportedVersion(header[4]));
        }
        let len = u32::from_be_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
        if len > PAYLOAD_MAX {
            return Err(StreamError::TooLarge(len));
        }
        Ok(len)
    }

    /// Decodes a frame whose header passed [`StreamMsg::check_header`].
    pub fn decode(header: &[u8; HEADER_BYTES], mut payload: Bytes) -> Result<Self, StreamError> {
        let crc = u32::from_be_bytes(header[12..16].try_into().expect("4 bytes"));
        if crc32c::crc32c(&payload) != crc {
            return Err(StreamError::Checksum);
        }
        let need = |p: &Bytes, n: usize| {
            if p.len() < n {
                Err(StreamError::Malformed("payload cut short"))
            } else {
                Ok(())
            }
        };
        let msg = match header[5] {
            kind::SUBSCRIBE => {
                need(&payload, 2)?;
                let n = usize::from(payload.get_u16());
                if n > NAME_BYTES_MAX {
                    return Err(StreamError::Malformed("reader name too long"));
                }
                need(&payload, n + 8)?;
                let name = String::from_utf8(payload.split_to(n).to_vec())
                    .map_err(|_| StreamError::Malformed("reader name is not UTF-8"))?;
                StreamMsg::Subscribe {
                    name,
                    read_point: Lsn(payload.get_u64()),
                }
            }
            kind::FEEDBACK => {
                need(&payload, 16)?;
                StreamMsg::Feedback {
                    read_point: Lsn(payload.get_u64()),
                    oldest_snapshot: Lsn(payload.get_u64()),
                }
            }
            kind::HELLO => {
                need(&payload, 16)?;
                StreamMsg::Hello {
                    epoch: Epoch(payload.get_u64()),
                    start: Lsn(payload.get_u64()),
                }
            }
            kind::RECORDS => {
                need(&payload, 4)?;
                let n = payload.get_u32() as usize;
                // Each record has a header: a count past that is a lie.
                if n > payload.len() / sextant_storage::types::RECORD_HEADER_BYTES {
                    return Err(StreamError::Malformed("record count exceeds the payload"));
                }
                let mut records = Vec::with_capacity(n);
                for _ in 0..n {
                    records.push(LogRecord::decode(&mut payload)?);
                }
                StreamMsg::Records(records)
            }
            kind::VDL => {
                need(&payload, 8)?;
                StreamMsg::Vdl(Lsn(payload.get_u64()))
            }
            kind::STREAMED => {
                need(&payload, 4)?;
                let n = payload.get_u32() as usize;
                need(&payload, n.saturating_mul(8))?;
                StreamMsg::Streamed((0..n).map(|_| PageId(payload.get_u64())).collect())
            }
            _ => return Err(StreamError::Malformed("unknown message kind")),
        };
        if !payload.is_empty() {
            return Err(StreamError::Malformed("trailing bytes"));
        }
        Ok(msg)
    }

    /// Reads one frame.
    pub async fn read(rd: &mut (impl AsyncRead + Unpin)) -> Result<StreamMsg, StreamError> {
        let mut header = [0u8; HEADER_BYTES];
        rd.read_exact(&mut header).await?;
        let len = StreamMsg::check_header(&header)?;
        let mut payload = vec![0u8; len];
        rd.read_exact(&mut payload).await?;
        StreamMsg::decode(&header, payload.into())
    }
}

/// Splits a streamed MTR's page list into `Streamed` messages that each fit
/// one frame.
pub fn streamed_frames(pages: &[PageId]) -> Vec<StreamMsg> {
    pages
        .chunks((PAYLOAD_MAX - 4) / 8)
        .map(|c| StreamMsg::Streamed(c.to_vec()))
        .collect()
}

/// Splits records into `Records` messages that each fit one frame.
pub fn records_frames(records: &[LogRecord]) -> Vec<StreamMsg> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut bytes = 4;
    for r in records {
        let n = r.encoded_len();
        if bytes + n > PAYLOAD_MAX && !cur.is_empty() {
            out.push(StreamMsg::Records(std::mem::take(&mut cur)));
            bytes = 4;
        }
        bytes += n;
        cur.push(r.clone());
    }
    if !cur.is_empty() {
        out.push(StreamMsg::Records(cur));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sextant_storage::types::{RecordBody, FLAG_CPL, PAGE_SIZE};

    fn rec(lsn: u64, cpl: bool, bytes: usize) -> LogRecord {
        LogRecord {
            lsn: Lsn(lsn),
            epoch: Epoch(7),
            page: PageId(lsn % 5),
            pg_prev_lsn: Lsn::ZERO,
            vol_prev_lsn: Lsn(lsn - 1),
            flags: if cpl { FLAG_CPL } else { 0 },
            body: if bytes == PAGE_SIZE {
                RecordBody::Image(Bytes::from(vec![3u8; PAGE_SIZE]))
            } else {
                RecordBody::Delta {
                    offset: 10,
                    bytes: Bytes::from(vec![1u8; bytes]),
                }
            },
        }
    }

    #[test]
    fn every_message_round_trips() {
        let msgs = vec![
            StreamMsg::Subscribe {
                name: "reader-1".into(),
                read_point: Lsn(42),
            },
            StreamMsg::Feedback {
                read_point: Lsn(9),
                oldest_snapshot: Lsn(3),
            },
            StreamMsg::Hello {
                epoch: Epoch(5),
                start: Lsn(77),
            },
            StreamMsg::Records(vec![rec(1, false, 20), rec(2, true, PAGE_SIZE)]),
            StreamMsg::Vdl(Lsn(100)),
            StreamMsg::Streamed(vec![PageId(3), PageId(70_000)]),
            StreamMsg::Streamed(vec![]),
        ];
        for m in msgs {
            let f = m.to_frame();
            let header: [u8; HEADER_BYTES] = f[..HEADER_BYTES].try_into().unwrap();
            let len = StreamMsg::check_header(&header).unwrap();
            assert_eq!(len, f.len() - HEADER_BYTES);
            let back = StreamMsg::decode(&header, f.slice(HEADER_BYTES..)).unwrap();
            assert_eq!(back, m);
        }
    }

    #[test]
    fn a_flipped_bit_is_refused() {
        let f = StreamMsg::Records(vec![rec(1, true, 100)]).to_frame();
        for i in [0, 4, HEADER_BYTES + 3, f.len() - 1] {
            let mut bad = f.to_vec();
            bad[i] ^= 0x40;
            let header: [u8; HEADER_BYTES] = bad[..HEADER_BYTES].try_into().unwrap();
            let r = StreamMsg::check_header(&header).and_then(|_| {
                StreamMsg::decode(&header, Bytes::from(bad[HEADER_BYTES..].to_vec()))
            });
            assert!(r.is_err(), "flip at byte {i} accepted");
        }
    }

    #[test]
    fn a_big_mtr_is_split_into_frames_that_fit() {
        let records: Vec<LogRecord> = (1..=1200u64)
            .map(|l| rec(l, l == 1200, PAGE_SIZE))
            .collect();
        let frames = records_frames(&records);
        assert!(frames.len() > 1, "about 10 MB cannot fit one frame");
        let mut back = Vec::new();
        for f in &frames {
            let bytes = f.to_frame();
            assert!(bytes.len() <= HEADER_BYTES + PAYLOAD_MAX);
            if let StreamMsg::Records(r) = f {
                back.extend(r.iter().cloned());
            }
        }
        assert_eq!(back, records);
    }
}

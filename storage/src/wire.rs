//! The storage protocol's messages and their framing.
//!
//! One TCP connection carries many requests at once: every frame names the
//! request it belongs to (`req_id`), so the volume client pipelines appends and
//! page reads without waiting for each reply. A frame is
//!
//! ```text
//! magic u32 | version u8 | kind u8 | reserved u16 | req_id u64 | len u32 | crc32c(payload) u32 | payload
//! ```
//!
//! all big-endian. A frame that is malformed, oversized, of another version or
//! fails its checksum is answered with [`Message::Error`] and the connection is
//! closed; decoding never touches stored data and never panics on bad input.
//! The layout is drawn in `docs/storage-format.md`.
#![warn(missing_docs)]

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::types::{DecodeError, Epoch, LogRecord, Lsn, NodeId, PageId, PgId, PAGE_SIZE};

/// First bytes of every frame: "SXT1".
pub const FRAME_MAGIC: u32 = 0x5358_5431;
/// Version of this protocol; a peer speaking another is refused. 2: reads
/// carry the epoch of their read point.
pub const PROTOCOL_VERSION: u8 = 2;
/// Bytes before a frame's payload.
pub const FRAME_HEADER_BYTES: usize = 4 + 1 + 1 + 2 + 8 + 4 + 4;
/// Largest payload of one frame. Bounds the memory one request can pin on a
/// node; the volume client splits batches to stay under it.
pub const FRAME_PAYLOAD_MAX: usize = 4 * 1024 * 1024;
/// Largest number of replicas in a segment's replica list.
pub const REPLICAS_MAX: usize = 16;
/// Largest epoch history carried in one message. An epoch is one failover or
/// restart of the writer; a volume with more has bigger problems.
pub const HISTORY_MAX: usize = 4096;
/// Longest string (address, AZ name, error text) in a message.
pub const STRING_BYTES_MAX: usize = 1024;

/// One replica of a protection group: which node hosts it and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    /// Node id from the cluster file.
    pub node: NodeId,
    /// `host:port` of the node's storage protocol listener.
    pub addr: String,
    /// Availability zone of the node.
    pub az: String,
}

/// Start of an epoch: every record written under an older epoch with an LSN
/// above `above` was discarded by the recovery that opened `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// The epoch recovery opened.
    pub epoch: Epoch,
    /// The VDL recovery found; older-epoch records above it are void.
    pub above: Lsn,
}

/// What a node reports about one segment it hosts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The protection group.
    pub pg: PgId,
    /// Pages per protection group of the volume.
    pub pages_per_pg: u64,
    /// The segment's epoch.
    pub epoch: Epoch,
    /// The segment's durable SCL.
    pub scl: Lsn,
    /// The PG's six replicas.
    pub replicas: Vec<Replica>,
}

/// Error classes a node sends back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame or message could not be decoded; the connection closes.
    Malformed,
    /// The frame exceeded `FRAME_PAYLOAD_MAX`; the connection closes.
    TooLarge,
    /// Another protocol version; the connection closes.
    UnsupportedVersion,
    /// The node hosts no segment for that PG.
    UnknownSegment,
    /// The request's epoch is below the segment's: the sender is fenced.
    StaleEpoch,
    /// The segment is behind the request's epoch and needs its history
    /// (an [`Message::Adopt`]) before it can take the request.
    EpochBehind,
    /// The request is well formed but not acceptable (e.g. a bad record).
    Invalid,
    /// The node failed (e.g. a disk error); the request may be retried.
    Internal,
}

impl ErrorCode {
    fn to_u8(self) -> u8 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::TooLarge => 2,
            ErrorCode::UnsupportedVersion => 3,
            ErrorCode::UnknownSegment => 4,
            ErrorCode::StaleEpoch => 5,
            ErrorCode::EpochBehind => 6,
            ErrorCode::Invalid => 7,
            ErrorCode::Internal => 8,
        }
    }

    fn from_u8(v: u8) -> Result<Self, WireError> {
        Ok(match v {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::TooLarge,
            3 => ErrorCode::UnsupportedVersion,
            4 => ErrorCode::UnknownSegment,
            5 => ErrorCode::StaleEpoch,
            6 => ErrorCode::EpochBehind,
            7 => ErrorCode::Invalid,
            8 => ErrorCode::Internal,
            _ => return Err(WireError::Malformed("unknown error code")),
        })
    }
}

/// Every message of the protocol, requests and replies alike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    // ---- requests from the volume client ----
    /// Create the segment of `pg` on this node (idempotent).
    CreateSegment {
        /// The PG.
        pg: PgId,
        /// Pages per PG of the volume.
        pages_per_pg: u64,
        /// All six replicas, this node among them.
        replicas: Vec<Replica>,
    },
    /// Append records (possibly none: a heartbeat carrying the VDL).
    Append {
        /// The PG.
        pg: PgId,
        /// The writer's epoch.
        epoch: Epoch,
        /// The writer's VDL: all records at or below are durable.
        vdl: Lsn,
        /// Highest record of this PG at or below `vdl` (`Lsn::ZERO` if none).
        pg_tail: Lsn,
        /// Minimum read point of all compute nodes: versions below it may go.
        pgmrpl: Lsn,
        /// Records of this PG, in LSN order.
        records: Vec<LogRecord>,
    },
    /// Teach a segment the volume's epoch history (after `EpochBehind`).
    Adopt {
        /// The PG.
        pg: PgId,
        /// Every epoch start, oldest first.
        history: Vec<Truncation>,
    },
    /// Read the newest version of `page` at or below `lsn`.
    GetPage {
        /// The PG.
        pg: PgId,
        /// The page.
        page: PageId,
        /// Read point.
        lsn: Lsn,
        /// The epoch whose history the read point belongs to: a replica
        /// serves the read only once it has adopted that history, so it
        /// holds no record that epoch's recovery voided.
        epoch: Epoch,
    },
    /// Recovery, step 1: raise the segment's epoch (fencing older writers).
    SetEpoch {
        /// The PG.
        pg: PgId,
        /// The new epoch.
        epoch: Epoch,
    },
    /// Recovery, step 2: the records above `after`.
    ReadLog {
        /// The PG.
        pg: PgId,
        /// Send records with LSN above this.
        after: Lsn,
        /// Stop after about this many bytes (`more` says if there is more).
        bytes_max: u32,
    },
    /// Recovery, step 3: void older-epoch records above `above`.
    Truncate {
        /// The PG.
        pg: PgId,
        /// The epoch recovery opened.
        epoch: Epoch,
        /// The recovered VDL.
        above: Lsn,
    },
    /// Which segments does this node host?
    ListSegments,
    /// Gossip: a peer replica asks for records above its SCL.
    GossipPull {
        /// The PG.
        pg: PgId,
        /// The asker's epoch.
        epoch: Epoch,
        /// The asker's SCL.
        scl: Lsn,
    },

    // ---- replies from the storage node ----
    /// Request done.
    Ok,
    /// Reply to `Append` and `Adopt`: the segment's durable SCL.
    AppendAck {
        /// The PG.
        pg: PgId,
        /// Durable SCL: every record of the PG at or below it is fsynced here.
        scl: Lsn,
    },
    /// Reply to `GetPage`: the page as of `lsn`.
    Page {
        /// The read point served.
        lsn: Lsn,
        /// `PAGE_SIZE` bytes.
        image: Bytes,
    },
    /// Reply to `GetPage`: this replica's SCL is below the read point.
    NotYet {
        /// The replica's SCL.
        scl: Lsn,
    },
    /// Reply to `GetPage`: versions at the read point were collected.
    TooOld {
        /// Oldest readable LSN.
        horizon: Lsn,
    },
    /// Reply to `SetEpoch`.
    EpochSet {
        /// The segment's SCL.
        scl: Lsn,
        /// Highest VDL the segment has heard of.
        hint_vdl: Lsn,
        /// Highest LSN the segment holds.
        max_lsn: Lsn,
        /// The segment's epoch history.
        history: Vec<Truncation>,
    },
    /// Reply to `ReadLog`.
    Log {
        /// Highest record at or below `min(after, scl)` (the PG's tail there).
        tail: Lsn,
        /// The segment's SCL.
        scl: Lsn,
        /// Records above `after`, in LSN order.
        records: Vec<LogRecord>,
        /// More records remain above the last one sent.
        more: bool,
    },
    /// Reply to `ListSegments`.
    Segments(Vec<SegmentInfo>),
    /// Reply to `GossipPull`.
    GossipPush {
        /// The sender's epoch history.
        history: Vec<Truncation>,
        /// The sender's SCL.
        scl: Lsn,
        /// Highest VDL the sender has heard of, and the PG's tail there.
        hint_vdl: Lsn,
        /// The PG's highest record at or below `hint_vdl`.
        hint_tail: Lsn,
        /// Records above the asker's SCL.
        records: Vec<LogRecord>,
        /// More records remain.
        more: bool,
    },
    /// The request failed.
    Error {
        /// Class of failure.
        code: ErrorCode,
        /// The segment's epoch, for `StaleEpoch`/`EpochBehind`.
        epoch: Epoch,
        /// Human-readable detail.
        message: String,
    },
}

/// A message with the request it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Chosen by the requester; echoed in the reply.
    pub req_id: u64,
    /// The message.
    pub msg: Message,
}

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The frame does not start with `FRAME_MAGIC`.
    #[error("bad frame magic {0:#010x}")]
    BadMagic(u32),
    /// Another protocol version.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// Payload larger than `FRAME_PAYLOAD_MAX`.
    #[error("frame payload of {len} bytes exceeds the limit of {FRAME_PAYLOAD_MAX}")]
    TooLarge {
        /// Declared payload length.
        len: usize,
    },
    /// Checksum mismatch.
    #[error("frame checksum mismatch")]
    Checksum,
    /// A field is out of range or the payload is cut short.
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    /// A log record inside failed its checks.
    #[error("bad record in frame: {0}")]
    Record(#[from] DecodeError),
}

impl WireError {
    /// The error code to answer this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            WireError::TooLarge { .. } => ErrorCode::TooLarge,
            WireError::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            WireError::BadMagic(_)
            | WireError::Checksum
            | WireError::Malformed(_)
            | WireError::Record(_) => ErrorCode::Malformed,
        }
    }
}

mod tag {
    pub const CREATE_SEGMENT: u8 = 1;
    pub const APPEND: u8 = 2;
    pub const ADOPT: u8 = 3;
    pub const GET_PAGE: u8 = 4;
    pub const SET_EPOCH: u8 = 5;
    pub const READ_LOG: u8 = 6;
    pub const TRUNCATE: u8 = 7;
    pub const LIST_SEGMENTS: u8 = 8;
    pub const GOSSIP_PULL: u8 = 9;
    pub const OK: u8 = 64;
    pub const APPEND_ACK: u8 = 65;
    pub const PAGE: u8 = 66;
    pub const NOT_YET: u8 = 67;
    pub const TOO_OLD: u8 = 68;
    pub const EPOCH_SET: u8 = 69;
    pub const LOG: u8 = 70;
    pub const SEGMENTS: u8 = 71;
    pub const GOSSIP_PUSH: u8 = 72;
    pub const ERROR: u8 = 73;
}

impl Frame {
    /// Appends the encoded frame to `out`.
    ///
    /// The payload is encoded in place after a header whose kind, length
    /// and checksum are filled in afterwards: an append to six replicas
    /// encodes six frames, and a payload buffer copied into `out` cost an
    /// allocation and a copy of every record each time.
    pub fn encode(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u32(FRAME_MAGIC);
        out.put_u8(PROTOCOL_VERSION);
        out.put_u8(0); // kind, below
        out.put_u16(0);
        out.put_u64(self.req_id);
        out.put_u32(0); // payload length, below
        out.put_u32(0); // payload checksum, below
        debug_assert_eq!(out.len() - start, FRAME_HEADER_BYTES);
        let kind = self.msg.encode_payload(out);
        let payload = out.len() - start - FRAME_HEADER_BYTES;
        assert!(
            payload <= FRAME_PAYLOAD_MAX,
            "frame payload {payload} over the limit; callers split batches"
        );
        let crc = crc32c::crc32c(&out[start + FRAME_HEADER_BYTES..]);
        out[start + 5] = kind;
        out[start + 16..start + 20].copy_from_slice(&(payload as u32).to_be_bytes());
        out[start + 20..start + 24].copy_from_slice(&crc.to_be_bytes());
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.encode(&mut b);
        b.freeze()
    }

    /// Checks a frame header and returns the payload length, so a reader can
    /// refuse an oversized frame before buffering it.
    pub fn check_header(header: &[u8; FRAME_HEADER_BYTES]) -> Result<usize, WireError> {
        let magic = u32::from_be_bytes(header[0..4].try_into().expect("4 bytes"));
        if magic != FRAME_MAGIC {
            return Err(WireError::BadMagic(magic));
        }
        if header[4] != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion(header[4]));
        }
        let len = u32::from_be_bytes(header[16..20].try_into().expect("4 bytes")) as usize;
        if len > FRAME_PAYLOAD_MAX {
            return Err(WireError::TooLarge { len });
        }
        Ok(len)
    }

    /// The request id of a header that passed `check_header`, used to address
    /// the error reply even when the payload is bad.
    pub fn header_req_id(header: &[u8; FRAME_HEADER_BYTES]) -> u64 {
        u64::from_be_bytes(header[8..16].try_into().expect("8 bytes"))
    }

    /// Decodes a frame from its header and payload.
    pub fn decode(header: &[u8; FRAME_HEADER_BYTES], payload: Bytes) -> Result<Frame, WireError> {
        let len = Self::check_header(header)?;
        if payload.len() != len {
            return Err(WireError::Malformed("payload length differs from header"));
        }
        let crc = u32::from_be_bytes(header[20..24].try_into().expect("4 bytes"));
        if crc32c::crc32c(&payload) != crc {
            return Err(WireError::Checksum);
        }
        let req_id = Self::header_req_id(header);
        let msg = Message::decode_payload(header[5], payload)?;
        Ok(Frame { req_id, msg })
    }

    /// Decodes one whole frame from the front of `buf`, if complete.
    pub fn decode_from(buf: &mut BytesMut) -> Result<Option<Frame>, WireError> {
        if buf.len() < FRAME_HEADER_BYTES {
            return Ok(None);
        }
        let header: [u8; FRAME_HEADER_BYTES] =
            buf[..FRAME_HEADER_BYTES].try_into().expect("header bytes");
        let len = Self::check_header(&header)?;
        if buf.len() < FRAME_HEADER_BYTES + len {
            return Ok(None);
        }
        buf.advance(FRAME_HEADER_BYTES);
        let payload = buf.split_to(len).freeze();
        Self::decode(&header, payload).map(Some)
    }
}

/// A bounds-checked reader: network input never panics.
struct Reader(Bytes);

impl Reader {
    fn need(&self, n: usize) -> Result<(), WireError> {
        if self.0.remaining() < n {
            Err(WireError::Malformed("payload cut short"))
        } else {
            Ok(())
        }
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        self.need(1)?;
        Ok(self.0.get_u8())
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        self.need(4)?;
        Ok(self.0.get_u32())
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        self.need(8)?;
        Ok(self.0.get_u64())
    }
    fn lsn(&mut self) -> Result<Lsn, WireError> {
        self.u64().map(Lsn)
    }
    fn epoch(&mut self) -> Result<Epoch, WireError> {
        self.u64().map(Epoch)
    }
    fn pg(&mut self) -> Result<PgId, WireError> {
        self.u32().map(PgId)
    }
    fn bool(&mut self) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Malformed("bad boolean")),
        }
    }
    fn count(&mut self, max: usize) -> Result<usize, WireError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(WireError::Malformed("count over its limit"));
        }
        Ok(n)
    }
    fn bytes(&mut self, max: usize) -> Result<Bytes, WireError> {
        let n = self.count(max)?;
        self.need(n)?;
        Ok(self.0.split_to(n))
    }
    fn string(&mut self) -> Result<String, WireError> {
        let b = self.bytes(STRING_BYTES_MAX)?;
        String::from_utf8(b.to_vec()).map_err(|_| WireError::Malformed("string not UTF-8"))
    }
    fn records(&mut self) -> Result<Vec<LogRecord>, WireError> {
        // Each record is at least a header long, so the remaining length bounds the count.
        let n = self.count(FRAME_PAYLOAD_MAX / crate::types::RECORD_HEADER_BYTES)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(LogRecord::decode(&mut self.0)?);
        }
        Ok(out)
    }
    fn history(&mut self) -> Result<Vec<Truncation>, WireError> {
        let n = self.count(HISTORY_MAX)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(Truncation {
                epoch: self.epoch()?,
                above: self.lsn()?,
            });
        }
        Ok(out)
    }
    fn replicas(&mut self) -> Result<Vec<Replica>, WireError> {
        let n = self.count(REPLICAS_MAX)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(Replica {
                node: NodeId(self.u32()?),
                addr: self.string()?,
                az: self.string()?,
            });
        }
        Ok(out)
    }
    fn finish(self) -> Result<(), WireError> {
        if self.0.has_remaining() {
            Err(WireError::Malformed("trailing bytes"))
        } else {
            Ok(())
        }
    }
}

fn put_bytes(b: &mut BytesMut, v: &[u8]) {
    b.put_u32(u32::try_from(v.len()).expect("length fits u32"));
    b.put_slice(v);
}
fn put_string(b: &mut BytesMut, s: &str) {
    let s = if s.len() > STRING_BYTES_MAX {
        // Cut at a char boundary so the text stays valid UTF-8.
        let mut end = STRING_BYTES_MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        &s[..end]
    } else {
        s
    };
    put_bytes(b, s.as_bytes());
}
fn put_records(b: &mut BytesMut, records: &[LogRecord]) {
    b.put_u32(records.len() as u32);
    for r in records {
        r.encode(b);
    }
}
fn put_history(b: &mut BytesMut, h: &[Truncation]) {
    assert!(h.len() <= HISTORY_MAX, "epoch history over its limit");
    b.put_u32(h.len() as u32);
    for t in h {
        b.put_u64(t.epoch.0);
        b.put_u64(t.above.0);
    }
}
fn put_replicas(b: &mut BytesMut, rs: &[Replica]) {
    assert!(rs.len() <= REPLICAS_MAX);
    b.put_u32(rs.len() as u32);
    for r in rs {
        b.put_u32(r.node.0);
        put_string(b, &r.addr);
        put_string(b, &r.az);
    }
}

impl Message {
    fn encode_payload(&self, b: &mut BytesMut) -> u8 {
        match self {
            Message::CreateSegment {
                pg,
                pages_per_pg,
                replicas,
            } => {
                b.put_u32(pg.0);
                b.put_u64(*pages_per_pg);
                put_replicas(b, replicas);
                tag::CREATE_SEGMENT
            }
            Message::Append {
                pg,
                epoch,
                vdl,
                pg_tail,
                pgmrpl,
                records,
            } => {
                b.put_u32(pg.0);
                b.put_u64(epoch.0);
                b.put_u64(vdl.0);
                b.put_u64(pg_tail.0);
                b.put_u64(pgmrpl.0);
                put_records(b, records);
                tag::APPEND
            }
            Message::Adopt { pg, history } => {
                b.put_u32(pg.0);
                put_history(b, history);
                tag::ADOPT
            }
            Message::GetPage {
                pg,
                page,
                lsn,
                epoch,
            } => {
                b.put_u32(pg.0);
                b.put_u64(page.0);
                b.put_u64(lsn.0);
                b.put_u64(epoch.0);
                tag::GET_PAGE
            }
            Message::SetEpoch { pg, epoch } => {
                b.put_u32(pg.0);
                b.put_u64(epoch.0);
                tag::SET_EPOCH
            }
            Message::ReadLog {
                pg,
                after,
                bytes_max,
            } => {
                b.put_u32(pg.0);
                b.put_u64(after.0);
                b.put_u32(*bytes_max);
                tag::READ_LOG
            }
            Message::Truncate { pg, epoch, above } => {
                b.put_u32(pg.0);
                b.put_u64(epoch.0);
                b.put_u64(above.0);
                tag::TRUNCATE
            }
            Message::ListSegments => tag::LIST_SEGMENTS,
            Message::GossipPull { pg, epoch, scl } => {
                b.put_u32(pg.0);
                b.put_u64(epoch.0);
                b.put_u64(scl.0);
                tag::GOSSIP_PULL
            }
            Message::Ok => tag::OK,
            Message::AppendAck { pg, scl } => {
                b.put_u32(pg.0);
                b.put_u64(scl.0);
                tag::APPEND_ACK
            }
            Message::Page { lsn, image } => {
                b.put_u64(lsn.0);
                put_bytes(b, image);
                tag::PAGE
            }
            Message::NotYet { scl } => {
                b.put_u64(scl.0);
                tag::NOT_YET
            }
            Message::TooOld { horizon } => {
                b.put_u64(horizon.0);
                tag::TOO_OLD
            }
            Message::EpochSet {
                scl,
                hint_vdl,
                max_lsn,
                history,
            } => {
                b.put_u64(scl.0);
                b.put_u64(hint_vdl.0);
                b.put_u64(max_lsn.0);
                put_history(b, history);
                tag::EPOCH_SET
            }
            Message::Log {
                tail,
                scl,
                records,
                more,
            } => {
                b.put_u64(tail.0);
                b.put_u64(scl.0);
                put_records(b, records);
                b.put_u8(u8::from(*more));
                tag::LOG
            }
            Message::Segments(infos) => {
                b.put_u32(infos.len() as u32);
                for i in infos {
                    b.put_u32(i.pg.0);
                    b.put_u64(i.pages_per_pg);
                    b.put_u64(i.epoch.0);
                    b.put_u64(i.scl.0);
                    put_replicas(b, &i.replicas);
                }
                tag::SEGMENTS
            }
            Message::GossipPush {
                history,
                scl,
                hint_vdl,
                hint_tail,
                records,
                more,
            } => {
                put_history(b, history);
                b.put_u64(scl.0);
                b.put_u64(hint_vdl.0);
                b.put_u64(hint_tail.0);
                put_records(b, records);
                b.put_u8(u8::from(*more));
                tag::GOSSIP_PUSH
            }
            Message::Error {
                code,
                epoch,
                message,
            } => {
                b.put_u8(code.to_u8());
                b.put_u64(epoch.0);
                put_string(b, message);
                tag::ERROR
            }
        }
    }

    fn decode_payload(kind: u8, payload: Bytes) -> Result<Message, WireError> {
        let mut r = Reader(payload);
        let msg = match kind {
            tag::CREATE_SEGMENT => {
                let pg = r.pg()?;
                let pages_per_pg = r.u64()?;
                if pages_per_pg == 0 {
                    return Err(WireError::Malformed("zero pages per PG"));
                }
                Message::CreateSegment {
                    pg,
                    pages_per_pg,
                    replicas: r.replicas()?,
                }
            }
            tag::APPEND => Message::Append {
                pg: r.pg()?,
                epoch: r.epoch()?,
                vdl: r.lsn()?,
                pg_tail: r.lsn()?,
                pgmrpl: r.lsn()?,
                records: r.records()?,
            },
            tag::ADOPT => Message::Adopt {
                pg: r.pg()?,
                history: r.history()?,
            },
            tag::GET_PAGE => Message::GetPage {
                pg: r.pg()?,
                page: PageId(r.u64()?),
                lsn: r.lsn()?,
                epoch: r.epoch()?,
            },
            tag::SET_EPOCH => Message::SetEpoch {
                pg: r.pg()?,
                epoch: r.epoch()?,
            },
            tag::READ_LOG => Message::ReadLog {
                pg: r.pg()?,
                after: r.lsn()?,
                bytes_max: r.u32()?,
            },
            tag::TRUNCATE => Message::Truncate {
                pg: r.pg()?,
                epoch: r.epoch()?,
                above: r.lsn()?,
            },
            tag::LIST_SEGMENTS => Message::ListSegments,
            tag::GOSSIP_PULL => Message::GossipPull {
                pg: r.pg()?,
                epoch: r.epoch()?,
                scl: r.lsn()?,
            },
            tag::OK => Message::Ok,
            tag::APPEND_ACK => Message::AppendAck {
                pg: r.pg()?,
                scl: r.lsn()?,
            },
            tag::PAGE => {
                let lsn = r.lsn()?;
                let image = r.bytes(PAGE_SIZE)?;
                if image.len() != PAGE_SIZE {
                    return Err(WireError::Malformed("page image of the wrong size"));
                }
                Message::Page { lsn, image }
            }
            tag::NOT_YET => Message::NotYet { scl: r.lsn()? },
            tag::TOO_OLD => Message::TooOld { horizon: r.lsn()? },
            tag::EPOCH_SET => Message::EpochSet {
                scl: r.lsn()?,
                hint_vdl: r.lsn()?,
                max_lsn: r.lsn()?,
                history: r.history()?,
            },
            tag::LOG => Message::Log {
                tail: r.lsn()?,
                scl: r.lsn()?,
                records: r.records()?,
                more: r.bool()?,
            },
            tag::SEGMENTS => {
                let n = r.count(1 << 20)?;
                let mut infos = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    infos.push(SegmentInfo {
                        pg: r.pg()?,
                        pages_per_pg: r.u64()?,
                        epoch: r.epoch()?,
                        scl: r.lsn()?,
                        replicas: r.replicas()?,
                    });
                }
                Message::Segments(infos)
            }
            tag::GOSSIP_PUSH => Message::GossipPush {
                history: r.history()?,
                scl: r.lsn()?,
                hint_vdl: r.lsn()?,
                hint_tail: r.lsn()?,
                records: r.records()?,
                more: r.bool()?,
            },
            tag::ERROR => Message::Error {
                code: ErrorCode::from_u8(r.u8()?)?,
                epoch: r.epoch()?,
                message: r.string()?,
            },
            _ => return Err(WireError::Malformed("unknown message kind")),
        };
        r.finish()?;
        Ok(msg)
    }

    /// An error reply.
    pub fn error(code: ErrorCode, epoch: Epoch, message: impl Into<String>) -> Message {
        Message::Error {
            code,
            epoch,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{RecordBody, FLAG_CPL};
    use proptest::prelude::*;

    fn rec(lsn: u64) -> LogRecord {
        LogRecord {
            lsn: Lsn(lsn),
            epoch: Epoch(3),
            page: PageId(lsn * 7),
            pg_prev_lsn: Lsn(lsn - 1),
            vol_prev_lsn: Lsn(lsn - 1),
            flags: FLAG_CPL,
            body: RecordBody::Delta {
                offset: 10,
                bytes: Bytes::from_static(b"hello"),
            },
        }
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let lsn = any::<u64>().prop_map(Lsn);
        prop_oneof![
            (any::<u32>(), 1u64..1000, 0usize..7).prop_map(|(pg, p, n)| Message::CreateSegment {
                pg: PgId(pg),
                pages_per_pg: p,
                replicas: (0..n)
                    .map(|i| Replica {
                        node: NodeId(i as u32),
                        addr: format!("h{i}:1"),
                        az: "az-ä".into()
                    })
                    .collect(),
            }),
            (any::<u32>(), any::<u64>(), lsn.clone(), 1u64..50).prop_map(|(pg, e, v, n)| {
                Message::Append {
                    pg: PgId(pg),
                    epoch: Epoch(e),
                    vdl: v,
                    pg_tail: Lsn(n),
                    pgmrpl: Lsn(1),
                    records: (1..n).map(rec).collect(),
                }
            }),
            proptest::collection::vec((any::<u64>(), any::<u64>()), 0..5).prop_map(|h| {
                Message::Adopt {
                    pg: PgId(1),
                    history: h
                        .into_iter()
                        .map(|(e, a)| Truncation {
                            epoch: Epoch(e),
                            above: Lsn(a),
                        })
                        .collect(),
                }
            }),
            (any::<u32>(), any::<u64>(), lsn.clone(), any::<u64>()).prop_map(|(pg, p, l, e)| {
                Message::GetPage {
                    pg: PgId(pg),
                    page: PageId(p),
                    lsn: l,
                    epoch: Epoch(e),
                }
            }),
            (lsn.clone(), any::<u8>()).prop_map(|(l, b)| Message::Page {
                lsn: l,
                image: Bytes::from(vec![b; PAGE_SIZE])
            }),
            (lsn.clone(), any::<bool>()).prop_map(|(l, more)| Message::Log {
                tail: l,
                scl: l,
                records: vec![rec(5)],
                more
            }),
            ".{0,40}".prop_map(|m| Message::error(ErrorCode::StaleEpoch, Epoch(9), m)),
            Just(Message::ListSegments),
            lsn.prop_map(|l| Message::GossipPush {
                history: vec![],
                scl: l,
                hint_vdl: l,
                hint_tail: l,
                records: vec![rec(2)],
                more: false
            }),
        ]
    }

    proptest! {
        #[test]
        fn frames_round_trip(msg in arb_message(), req_id in any::<u64>()) {
            let frame = Frame { req_id, msg };
            let mut buf = BytesMut::from(&frame.to_bytes()[..]);
            prop_assert_eq!(Frame::decode_from(&mut buf).unwrap(), Some(frame));
            prop_assert!(buf.is_empty());
        }

        /// Garbage never panics the decoder.
        #[test]
        fn garbage_is_an_error_not_a_panic(kind in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Message::decode_payload(kind, Bytes::from(payload));
        }
    }

    #[test]
    fn oversized_frame_is_refused_from_its_header() {
        let mut h = [0u8; FRAME_HEADER_BYTES];
        h[0..4].copy_from_slice(&FRAME_MAGIC.to_be_bytes());
        h[4] = PROTOCOL_VERSION;
        h[16..20].copy_from_slice(&((FRAME_PAYLOAD_MAX + 1) as u32).to_be_bytes());
        assert_eq!(
            Frame::check_header(&h),
            Err(WireError::TooLarge {
                len: FRAME_PAYLOAD_MAX + 1
            })
        );
        h[4] = 9;
        assert_eq!(
            Frame::check_header(&h),
            Err(WireError::UnsupportedVersion(9))
        );
    }

    #[test]
    fn flipped_payload_byte_fails_the_checksum() {
        let frame = Frame {
            req_id: 1,
            msg: Message::Append {
                pg: PgId(0),
                epoch: Epoch(1),
                vdl: Lsn(0),
                pg_tail: Lsn(0),
                pgmrpl: Lsn(0),
                records: vec![rec(1)],
            },
        };
        let mut raw = BytesMut::from(&frame.to_bytes()[..]);
        let last = raw.len() - 1;
        raw[last] ^= 0x40;
        assert_eq!(Frame::decode_from(&mut raw), Err(WireError::Checksum));
    }
}

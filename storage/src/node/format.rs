//! The on-disk format of a segment: the log-entry framing, the meta file and
//! the directory layout. Pure encoding and decoding plus a few blocking file
//! helpers; no runtime.
//!
//! A segment lives in `data_dir/pg-NNNNNNNN/`:
//!
//! * `meta`: the [`DiskMeta`] (segment identity, epoch, epoch history, the log
//!   generation and, for a compacted log, its horizon and base-page list),
//!   replaced atomically (`meta.tmp`, fsync, rename, fsync the directory) and
//!   guarded by a CRC32C. A meta that fails its checks is never guessed at: the
//!   node refuses the segment.
//! * `log.<generation>`: append-only [`LogEntry`] values, each framed by a
//!   header with its own CRC32C and a CRC32C of the payload, so one flipped
//!   byte anywhere is caught, and a damaged entry is skipped without losing the
//!   ones after it. The file is grown ahead of the entries in zeroed chunks
//!   (see [`preallocation_end`]), so the log ends where its entries do, not
//!   where the file does.
//!
//! # Why the header carries a key
//! The key (the LSN of a record, the page of a base image) sits in the
//! checksummed header, apart from the payload, so when only the payload is
//! damaged the loader still knows *what* was lost: a lost base image makes its
//! page unreadable until it is repaired from a peer instead of being served as
//! zeros. A lost record needs no key: it leaves a hole below which the SCL
//! stops, and gossip refills it.
//!
//! # Why the log is preallocated with zeros
//! The writer fsyncs every batch. Appending past the end of the file makes
//! that fsync write the inode (size, block map) as well as the data; writing
//! into blocks already allocated *and written* does not (blocks reserved
//! with `fallocate` would not do: they are unwritten extents, whose first
//! write still changes metadata). So the file grows in chunks of zeros,
//! written and fsynced with the batch that needs them, and batches overwrite
//! them. The end of the log is found by the entries' checksums: a zeroed
//! header is not an entry, and an entry that fails its checks with no valid
//! entry after it is the torn tail of the last write.
//!
//! # What the scan assumes
//! After a header that fails its checksum the scan looks for the next offset
//! that starts a valid header. A page image that happens to contain a
//! well-formed entry (magic, header and payload checksums all matching) could
//! be mistaken for one there; that needs a damaged header right before a page
//! whose contents imitate our own framing, and is accepted as a risk. The byte
//! layouts are drawn in `docs/storage-format.md`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::segment::{DurableMeta, LogEntry, LogLoc, SegmentMeta};
use crate::types::{Epoch, LogRecord, Lsn, NodeId, PageId, PgId, PAGE_SIZE, RECORD_BYTES_MAX};
use crate::wire::{Replica, Truncation, HISTORY_MAX, REPLICAS_MAX, STRING_BYTES_MAX};

/// First bytes of every log entry: "SXL1".
pub const ENTRY_MAGIC: u32 = 0x5358_4C31;
/// magic, kind, key, payload length, payload crc, header crc.
pub const ENTRY_HEADER_BYTES: usize = 4 + 1 + 8 + 4 + 4 + 4;
/// Bytes of the header covered by the header checksum.
const ENTRY_HEADER_CHECKED_BYTES: usize = ENTRY_HEADER_BYTES - 4;
/// Largest payload: a record entry holding a full-page image. Anything larger
/// is corrupt by definition, so a damaged length never makes the loader read
/// past a bounded window.
pub const ENTRY_PAYLOAD_MAX: usize = 8 + RECORD_BYTES_MAX;
/// Payload of a base entry: page, lsn, image.
const BASE_PAYLOAD_BYTES: usize = 8 + 8 + PAGE_SIZE;
const _: () = assert!(BASE_PAYLOAD_BYTES <= ENTRY_PAYLOAD_MAX);

const KIND_RECORD: u8 = 1;
const KIND_HINT: u8 = 2;
const KIND_HORIZON: u8 = 3;
const KIND_BASE: u8 = 4;

/// First bytes of the meta file: "SXM1".
pub const META_MAGIC: u32 = 0x5358_4D31;
/// Version of the meta layout.
pub const META_VERSION: u8 = 1;
/// Largest meta file. The base-page list is stored as runs, so even a 10 GiB
/// segment with every other page present stays far below this.
pub const META_BYTES_MAX: usize = 64 * 1024 * 1024;
/// magic, version, body length.
const META_HEADER_BYTES: usize = 4 + 1 + 4;

/// Name of the meta file in a segment directory.
pub const META_FILE: &str = "meta";
const META_TMP_FILE: &str = "meta.tmp";
const LOG_PREFIX: &str = "log.";

/// Everything the meta file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskMeta {
    /// Identity, epoch and epoch history.
    pub durable: DurableMeta,
    /// Which `log.<generation>` is current.
    pub generation: u64,
    /// GC horizon of the current log (`Lsn::ZERO` for a log never compacted).
    pub horizon: Lsn,
    /// Highest record of the PG at or below `horizon`.
    pub horizon_tail: Lsn,
    /// Pages with a `Base` entry in the current log, ascending.
    pub base_pages: Vec<PageId>,
}

/// Why a meta file was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetaError {
    /// Shorter than its header or its declared length.
    #[error("meta file truncated: {len} bytes")]
    Truncated {
        /// Bytes in the file.
        len: usize,
    },
    /// Not a meta file, or another version.
    #[error("meta file has bad magic {magic:#010x} or version {version}")]
    BadMagic {
        /// Magic found.
        magic: u32,
        /// Version found.
        version: u8,
    },
    /// Checksum mismatch.
    #[error("meta checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// Checksum in the file.
        stored: u32,
        /// Checksum of the bytes read.
        computed: u32,
    },
    /// The fields decode but are out of range or contradict each other.
    #[error("meta file corrupted: {0}")]
    Corrupted(&'static str),
}

// ---------------------------------------------------------------------------
// Directory layout
// ---------------------------------------------------------------------------

/// Directory name of a segment: `pg-` and the PG id, zero-padded to 8 digits.
pub fn segment_dir_name(pg: PgId) -> String {
    format!("pg-{:08}", pg.0)
}

/// The PG of a segment directory name, if it is one (only the canonical
/// spelling counts, so `pg-7` and `pg-00000007` cannot both claim PG 7).
pub fn parse_segment_dir_name(name: &str) -> Option<PgId> {
    let id: u32 = name.strip_prefix("pg-")?.parse().ok()?;
    (segment_dir_name(PgId(id)) == name).then_some(PgId(id))
}

/// File name of log generation `generation`.
pub fn log_file_name(generation: u64) -> String {
    format!("{LOG_PREFIX}{generation}")
}

/// The generation of a log file name, if it is one.
pub fn parse_log_file_name(name: &str) -> Option<u64> {
    let generation: u64 = name.strip_prefix(LOG_PREFIX)?.parse().ok()?;
    (log_file_name(generation) == name).then_some(generation)
}

// ---------------------------------------------------------------------------
// Log entries
// ---------------------------------------------------------------------------

fn entry_kind_and_key(entry: &LogEntry) -> (u8, u64) {
    match entry {
        LogEntry::Record { record, .. } => (KIND_RECORD, record.lsn.0),
        LogEntry::Hint { vdl, .. } => (KIND_HINT, vdl.0),
        LogEntry::Horizon { lsn, .. } => (KIND_HORIZON, lsn.0),
        LogEntry::Base { page, .. } => (KIND_BASE, page.0),
    }
}

/// Bytes [`encode_entry`] appends for `entry`, so a batch's buffer can be
/// allocated once at its size rather than grown (and copied) as it fills.
pub fn encoded_entry_len(entry: &LogEntry) -> usize {
    ENTRY_HEADER_BYTES
        + match entry {
            LogEntry::Record { record, .. } => 8 + record.encoded_len(),
            LogEntry::Hint { .. } | LogEntry::Horizon { .. } => 16,
            LogEntry::Base { .. } => BASE_PAYLOAD_BYTES,
        }
}

/// Appends one framed entry to `out`, the payload encoded in place (no
/// buffer of its own: this runs for every record the writer writes).
pub fn encode_entry(entry: &LogEntry, out: &mut BytesMut) {
    let (kind, key) = entry_kind_and_key(entry);
    let start = out.len();
    let payload_start = start + ENTRY_HEADER_BYTES;
    out.put_bytes(0, ENTRY_HEADER_BYTES);
    match entry {
        LogEntry::Record {
            received_ms,
            record,
        } => {
            out.reserve(8 + record.encoded_len());
            out.put_u64(*received_ms);
            record.encode(out);
        }
        LogEntry::Hint { vdl, tail } | LogEntry::Horizon { lsn: vdl, tail } => {
            out.put_u64(vdl.0);
            out.put_u64(tail.0);
        }
        LogEntry::Base { page, lsn, image } => {
            assert_eq!(
                image.len(),
                PAGE_SIZE,
                "base image of page {page} has the wrong size"
            );
            out.reserve(BASE_PAYLOAD_BYTES);
            out.put_u64(page.0);
            out.put_u64(lsn.0);
            out.put_slice(image);
        }
    }
    let payload_len = out.len() - payload_start;
    assert!(
        payload_len <= ENTRY_PAYLOAD_MAX,
        "entry payload {payload_len} over the limit"
    );
    debug_assert_eq!(out.len() - start, encoded_entry_len(entry));
    let payload_crc = crc32c::crc32c(&out[payload_start..]);
    let mut header = &mut out[start..payload_start];
    header.put_u32(ENTRY_MAGIC);
    header.put_u8(kind);
    header.put_u64(key);
    header.put_u32(u32::try_from(payload_len).expect("bounded by ENTRY_PAYLOAD_MAX"));
    header.put_u32(payload_crc);
    let header_crc = crc32c::crc32c(&out[start..start + ENTRY_HEADER_CHECKED_BYTES]);
    (&mut out[start + ENTRY_HEADER_CHECKED_BYTES..payload_start]).put_u32(header_crc);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EntryHeader {
    kind: u8,
    key: u64,
    len: usize,
    payload_crc: u32,
}

enum HeaderParse {
    /// Fewer bytes than a header remain.
    Incomplete,
    /// The bytes are not a valid header.
    Bad,
    Ok(EntryHeader),
}

fn parse_header(b: &[u8]) -> HeaderParse {
    if b.len() < ENTRY_HEADER_BYTES {
        return HeaderParse::Incomplete;
    }
    let mut h = &b[..ENTRY_HEADER_BYTES];
    let magic = h.get_u32();
    let kind = h.get_u8();
    let key = h.get_u64();
    let len = h.get_u32() as usize;
    let payload_crc = h.get_u32();
    let header_crc = h.get_u32();
    if magic != ENTRY_MAGIC
        || crc32c::crc32c(&b[..ENTRY_HEADER_CHECKED_BYTES]) != header_crc
        || !(KIND_RECORD..=KIND_BASE).contains(&kind)
        || len > ENTRY_PAYLOAD_MAX
    {
        return HeaderParse::Bad;
    }
    HeaderParse::Ok(EntryHeader {
        kind,
        key,
        len,
        payload_crc,
    })
}

/// Decodes a payload whose checksum matched. `None` if its fields contradict
/// the header or each other (possible only for a forged or buggy entry).
fn decode_payload(h: &EntryHeader, mut p: Bytes) -> Option<LogEntry> {
    match h.kind {
        KIND_RECORD => {
            if p.len() < 8 {
                return None;
            }
            let received_ms = p.get_u64();
            let record = LogRecord::decode(&mut p).ok()?;
            (p.is_empty() && record.lsn.0 == h.key).then_some(LogEntry::Record {
                received_ms,
                record,
            })
        }
        KIND_HINT | KIND_HORIZON => {
            if p.len() != 16 {
                return None;
            }
            let lsn = Lsn(p.get_u64());
            let tail = Lsn(p.get_u64());
            if lsn.0 != h.key || tail > lsn {
                return None;
            }
            Some(if h.kind == KIND_HINT {
                LogEntry::Hint { vdl: lsn, tail }
            } else {
                LogEntry::Horizon { lsn, tail }
            })
        }
        KIND_BASE => {
            if p.len() != BASE_PAYLOAD_BYTES {
                return None;
            }
            let page = PageId(p.get_u64());
            let lsn = Lsn(p.get_u64());
            (page.0 == h.key).then_some(LogEntry::Base {
                page,
                lsn,
                image: p,
            })
        }
        _ => None,
    }
}

/// One damaged stretch of a log file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Offset of the damaged entry or of the first unreadable byte.
    pub offset: u64,
    /// Bytes skipped.
    pub len: u64,
    /// What was wrong.
    pub what: &'static str,
}

/// What a scan of a log file found, besides its entries.
#[derive(Debug, Default)]
pub struct ScanSummary {
    /// Pages whose `Base` entry was damaged but whose header named them.
    pub lost_bases: Vec<PageId>,
    /// Damaged entries skipped (the scan went on after each). Damage after
    /// the last valid entry is not listed: it is the torn tail.
    pub damaged: Vec<Damage>,
    /// Length of the log: the end of the last valid entry. Bytes past it are
    /// a torn tail (a write cut short by a crash) or preallocated zeros, and
    /// are cut off.
    pub valid_len: u64,
    /// End of the last non-zero byte at or after `valid_len` (`valid_len`
    /// when only zeros follow): `written_len - valid_len` bytes are torn.
    pub written_len: u64,
}

/// What a scan of a log held in memory found.
#[derive(Debug, Default)]
pub struct LogScan {
    /// Entries that passed every check, in file order.
    pub entries: Vec<LogEntry>,
    /// Pages whose `Base` entry was damaged but whose header named them.
    pub lost_bases: Vec<PageId>,
    /// Damaged entries skipped (the scan went on after each).
    pub damaged: Vec<Damage>,
    /// See [`ScanSummary::valid_len`].
    pub valid_len: u64,
    /// See [`ScanSummary::written_len`].
    pub written_len: u64,
}

/// Bytes a scan reads from a file at once.
const SCAN_WINDOW_BYTES: usize = 1024 * 1024;
const _: () = assert!(SCAN_WINDOW_BYTES >= ENTRY_HEADER_BYTES + ENTRY_PAYLOAD_MAX);

/// Random access to the bytes of a log, for the scanner.
trait Source {
    fn len(&self) -> u64;
    /// Up to `n` bytes from `pos`; fewer only at the end.
    fn bytes(&mut self, pos: u64, n: usize) -> io::Result<&[u8]>;
}

impl Source for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn bytes(&mut self, pos: u64, n: usize) -> io::Result<&[u8]> {
        let start = (pos as usize).min(<[u8]>::len(self));
        let end = start.saturating_add(n).min(<[u8]>::len(self));
        Ok(&self[start..end])
    }
}

/// A file read through a window, so scanning a log of any size holds at most
/// [`SCAN_WINDOW_BYTES`] of it.
struct FileSource<'a> {
    file: &'a File,
    len: u64,
    buf: Vec<u8>,
    start: u64,
}

impl Source for FileSource<'_> {
    fn len(&self) -> u64 {
        self.len
    }
    fn bytes(&mut self, pos: u64, n: usize) -> io::Result<&[u8]> {
        use std::os::unix::fs::FileExt;
        let want_end = pos.saturating_add(n as u64).min(self.len);
        let have_end = self.start + self.buf.len() as u64;
        if pos < self.start || want_end > have_end {
            let read = (self.len.saturating_sub(pos)).min(SCAN_WINDOW_BYTES.max(n) as u64) as usize;
            self.buf.resize(read, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.start = pos;
        }
        let from = (pos - self.start) as usize;
        let to = (want_end.max(pos) - self.start) as usize;
        Ok(&self.buf[from..to])
    }
}

fn find_next_header(src: &mut dyn Source, from: u64) -> io::Result<Option<u64>> {
    let magic = ENTRY_MAGIC.to_be_bytes();
    let len = src.len();
    let mut at = from;
    while at + ENTRY_HEADER_BYTES as u64 <= len {
        let window = src.bytes(at, SCAN_WINDOW_BYTES)?;
        let Some(rel) = window.windows(4).position(|w| w == magic) else {
            // The last three bytes may start a magic that continues beyond.
            at += (window.len() as u64).saturating_sub(3).max(1);
            continue;
        };
        at += rel as u64;
        if let HeaderParse::Ok(_) = parse_header(src.bytes(at, ENTRY_HEADER_BYTES)?) {
            return Ok(Some(at));
        }
        at += 1;
    }
    Ok(None)
}

fn scan(
    src: &mut dyn Source,
    generation: u32,
    found: &mut dyn FnMut(LogEntry, LogLoc),
) -> io::Result<ScanSummary> {
    let mut scan = ScanSummary::default();
    let len = src.len();
    let mut pos = 0u64;
    while pos < len {
        let header = match parse_header(src.bytes(pos, ENTRY_HEADER_BYTES)?) {
            HeaderParse::Ok(h) => h,
            HeaderParse::Incomplete => break,
            HeaderParse::Bad => match find_next_header(src, pos + 1)? {
                Some(next) => {
                    scan.damaged.push(Damage {
                        offset: pos,
                        len: next - pos,
                        what: "bad entry header",
                    });
                    pos = next;
                    continue;
                }
                // Nothing readable follows: a header torn by a crash, or
                // damage in the last entry. Either way the rest goes.
                None => break,
            },
        };
        let end = pos + (ENTRY_HEADER_BYTES + header.len) as u64;
        if end > len {
            // A whole header but a short payload: the last write was torn.
            break;
        }
        let payload = src.bytes(pos + ENTRY_HEADER_BYTES as u64, header.len)?;
        let decoded = if crc32c::crc32c(payload) != header.payload_crc {
            Err("payload checksum mismatch")
        } else {
            decode_payload(&header, Bytes::copy_from_slice(payload)).ok_or("payload fields invalid")
        };
        match decoded {
            Ok(entry) => {
                found(
                    entry,
                    LogLoc {
                        generation,
                        len: u32::try_from(end - pos).expect("bounded by ENTRY_PAYLOAD_MAX"),
                        offset: pos,
                    },
                );
                scan.valid_len = end;
            }
            Err(what) => {
                if header.kind == KIND_BASE {
                    scan.lost_bases.push(PageId(header.key));
                }
                scan.damaged.push(Damage {
                    offset: pos,
                    len: end - pos,
                    what,
                });
            }
        }
        pos = end;
    }
    // Damage with no valid entry after it is the last write, torn by a
    // crash (in a preallocated file its missing bytes read as zeros, so its
    // header can be whole): it was never acknowledged, and is cut off.
    let valid_len = scan.valid_len;
    scan.damaged.retain(|d| d.offset < valid_len);
    scan.written_len = nonzero_end(src, valid_len)?;
    Ok(scan)
}

/// End of the last non-zero byte in `[from, len)`, or `from` if all are zero.
fn nonzero_end(src: &mut dyn Source, from: u64) -> io::Result<u64> {
    let len = src.len();
    let mut end = from;
    let mut at = from;
    while at < len {
        let window = src.bytes(at, SCAN_WINDOW_BYTES)?;
        assert!(
            !window.is_empty(),
            "a source returns bytes below its length"
        );
        if let Some(last) = window.iter().rposition(|b| *b != 0) {
            end = at + last as u64 + 1;
        }
        at += window.len() as u64;
    }
    Ok(end)
}

/// Reads every entry it can from the bytes of a log file. Never panics.
pub fn scan_log(data: &[u8]) -> LogScan {
    let mut entries = Vec::new();
    let mut src = data;
    let s = scan(&mut src, 0, &mut |e, _| entries.push(e)).expect("a slice never fails to read");
    LogScan {
        entries,
        lost_bases: s.lost_bases,
        damaged: s.damaged,
        valid_len: s.valid_len,
        written_len: s.written_len,
    }
}

/// Scans a log file through a bounded window, handing each valid entry and
/// its location (in `generation`) to `found`. Never panics on bad data.
pub fn scan_log_file(
    file: &File,
    generation: u32,
    found: &mut dyn FnMut(LogEntry, LogLoc),
) -> io::Result<ScanSummary> {
    let len = file.metadata()?.len();
    let mut src = FileSource {
        file,
        len,
        buf: Vec::new(),
        start: 0,
    };
    scan(&mut src, generation, found)
}

/// Why one entry could not be read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntryReadError {
    /// Reading failed.
    #[error("read {len} bytes at {offset}: {source}")]
    Io {
        /// Offset asked for.
        offset: u64,
        /// Length asked for.
        len: u32,
        /// The cause.
        source: io::Error,
    },
    /// The bytes are not a valid entry of that length.
    #[error("entry at {offset} is damaged: {what}")]
    Damaged {
        /// Offset asked for.
        offset: u64,
        /// What was wrong.
        what: &'static str,
    },
}

/// Reads and checks (both checksums, the fields) the entry at `loc`.
pub fn read_entry_at(file: &File, loc: LogLoc) -> Result<LogEntry, EntryReadError> {
    use std::os::unix::fs::FileExt;
    let damaged = |what| EntryReadError::Damaged {
        offset: loc.offset,
        what,
    };
    let len = loc.len as usize;
    if !(ENTRY_HEADER_BYTES..=ENTRY_HEADER_BYTES + ENTRY_PAYLOAD_MAX).contains(&len) {
        return Err(damaged("length out of range"));
    }
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, loc.offset)
        .map_err(|source| EntryReadError::Io {
            offset: loc.offset,
            len: loc.len,
            source,
        })?;
    decode_entry_at(Bytes::from(buf), loc)
}

/// Checks (both checksums, the fields) and decodes `buf`, the bytes of the
/// entry at `loc`.
pub fn decode_entry_at(buf: Bytes, loc: LogLoc) -> Result<LogEntry, EntryReadError> {
    let damaged = |what| EntryReadError::Damaged {
        offset: loc.offset,
        what,
    };
    let len = loc.len as usize;
    if buf.len() != len {
        return Err(damaged("entry length differs from its location"));
    }
    let header = match parse_header(&buf) {
        HeaderParse::Ok(h) => h,
        HeaderParse::Incomplete | HeaderParse::Bad => return Err(damaged("bad entry header")),
    };
    if ENTRY_HEADER_BYTES + header.len != len {
        return Err(damaged("entry length differs from its location"));
    }
    if crc32c::crc32c(&buf[ENTRY_HEADER_BYTES..]) != header.payload_crc {
        return Err(damaged("payload checksum mismatch"));
    }
    let payload = buf.slice(ENTRY_HEADER_BYTES..);
    decode_payload(&header, payload).ok_or_else(|| damaged("payload fields invalid"))
}

// ---------------------------------------------------------------------------
// Meta file
// ---------------------------------------------------------------------------

fn put_string(b: &mut BytesMut, s: &str) {
    b.put_u32(u32::try_from(s.len()).expect("checked against STRING_BYTES_MAX"));
    b.put_slice(s.as_bytes());
}

/// Encodes a meta file.
pub fn encode_meta(m: &DiskMeta) -> Bytes {
    let d = &m.durable;
    assert!(
        d.meta.replicas.len() <= REPLICAS_MAX,
        "replica list over its limit"
    );
    assert!(
        d.history.len() <= HISTORY_MAX,
        "epoch history over its limit"
    );
    let mut body = BytesMut::new();
    body.put_u32(d.meta.pg.0);
    body.put_u64(d.meta.pages_per_pg);
    body.put_u32(d.meta.replicas.len() as u32);
    for r in &d.meta.replicas {
        assert!(r.addr.len() <= STRING_BYTES_MAX && r.az.len() <= STRING_BYTES_MAX);
        body.put_u32(r.node.0);
        put_string(&mut body, &r.addr);
        put_string(&mut body, &r.az);
    }
    body.put_u64(d.epoch.0);
    body.put_u32(d.history.len() as u32);
    for t in &d.history {
        body.put_u64(t.epoch.0);
        body.put_u64(t.above.0);
    }
    body.put_u64(m.generation);
    body.put_u64(m.horizon.0);
    body.put_u64(m.horizon_tail.0);
    // Base pages as runs of consecutive ids: compact for the usual dense PG.
    let runs = page_runs(&m.base_pages);
    body.put_u32(u32::try_from(runs.len()).expect("runs bounded by pages per PG"));
    for (first, count) in runs {
        body.put_u64(first);
        body.put_u64(count);
    }
    let mut out = BytesMut::with_capacity(META_HEADER_BYTES + body.len() + 4);
    out.put_u32(META_MAGIC);
    out.put_u8(META_VERSION);
    out.put_u32(u32::try_from(body.len()).expect("meta below 4 GiB"));
    out.put_slice(&body);
    let crc = crc32c::crc32c(&out);
    out.put_u32(crc);
    assert!(
        out.len() <= META_BYTES_MAX,
        "meta of {} bytes over its limit",
        out.len()
    );
    out.freeze()
}

fn page_runs(pages: &[PageId]) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for p in pages {
        match runs.last_mut() {
            Some((first, count)) if *first + *count == p.0 => *count += 1,
            _ => runs.push((p.0, 1)),
        }
    }
    runs
}

struct MetaReader(Bytes);

impl MetaReader {
    fn need(&self, n: usize) -> Result<(), MetaError> {
        if self.0.remaining() < n {
            Err(MetaError::Corrupted("field cut short"))
        } else {
            Ok(())
        }
    }
    fn u32(&mut self) -> Result<u32, MetaError> {
        self.need(4)?;
        Ok(self.0.get_u32())
    }
    fn u64(&mut self) -> Result<u64, MetaError> {
        self.need(8)?;
        Ok(self.0.get_u64())
    }
    fn count(&mut self, max: usize) -> Result<usize, MetaError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(MetaError::Corrupted("count over its limit"));
        }
        Ok(n)
    }
    fn string(&mut self) -> Result<String, MetaError> {
        let n = self.count(STRING_BYTES_MAX)?;
        self.need(n)?;
        String::from_utf8(self.0.split_to(n).to_vec())
            .map_err(|_| MetaError::Corrupted("string not UTF-8"))
    }
}

/// Decodes and checks a meta file. Never panics.
pub fn decode_meta(raw: &[u8]) -> Result<DiskMeta, MetaError> {
    if raw.len() < META_HEADER_BYTES + 4 {
        return Err(MetaError::Truncated { len: raw.len() });
    }
    let magic = u32::from_be_bytes(raw[0..4].try_into().expect("4 bytes"));
    let version = raw[4];
    if magic != META_MAGIC || version != META_VERSION {
        return Err(MetaError::BadMagic { magic, version });
    }
    let body_len = u32::from_be_bytes(raw[5..9].try_into().expect("4 bytes")) as usize;
    if raw.len() != META_HEADER_BYTES + body_len + 4 {
        return Err(MetaError::Truncated { len: raw.len() });
    }
    let (checked, crc) = raw.split_at(raw.len() - 4);
    let stored = u32::from_be_bytes(crc.try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(checked);
    if stored != computed {
        return Err(MetaError::Checksum { stored, computed });
    }
    let mut r = MetaReader(Bytes::copy_from_slice(&checked[META_HEADER_BYTES..]));
    let pg = PgId(r.u32()?);
    let pages_per_pg = r.u64()?;
    if pages_per_pg == 0 {
        return Err(MetaError::Corrupted("zero pages per PG"));
    }
    let n = r.count(REPLICAS_MAX)?;
    let mut replicas = Vec::with_capacity(n);
    for _ in 0..n {
        replicas.push(Replica {
            node: NodeId(r.u32()?),
            addr: r.string()?,
            az: r.string()?,
        });
    }
    let epoch = Epoch(r.u64()?);
    let n = r.count(HISTORY_MAX)?;
    let mut history: Vec<Truncation> = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Truncation {
            epoch: Epoch(r.u64()?),
            above: Lsn(r.u64()?),
        };
        if history.last().is_some_and(|prev| prev.epoch >= t.epoch) {
            return Err(MetaError::Corrupted("epoch history out of order"));
        }
        if t.epoch > epoch {
            return Err(MetaError::Corrupted("epoch history above the epoch"));
        }
        history.push(t);
    }
    let generation = r.u64()?;
    let horizon = Lsn(r.u64()?);
    let horizon_tail = Lsn(r.u64()?);
    if horizon_tail > horizon {
        return Err(MetaError::Corrupted("horizon tail above the horizon"));
    }
    let first_page = u64::from(pg.0)
        .checked_mul(pages_per_pg)
        .ok_or(MetaError::Corrupted("PG beyond the page space"))?;
    let end_page = first_page
        .checked_add(pages_per_pg)
        .ok_or(MetaError::Corrupted("PG beyond the page space"))?;
    let runs = r.count(META_BYTES_MAX / 16)?;
    let mut base_pages = Vec::new();
    for _ in 0..runs {
        let first = r.u64()?;
        let count = r.u64()?;
        let last = first
            .checked_add(count)
            .ok_or(MetaError::Corrupted("base run overflows"))?;
        if count == 0 || first < first_page || last > end_page {
            return Err(MetaError::Corrupted("base run outside the PG"));
        }
        if base_pages.last().is_some_and(|p: &PageId| p.0 >= first) {
            return Err(MetaError::Corrupted("base runs out of order"));
        }
        base_pages.extend((first..last).map(PageId));
    }
    if r.0.has_remaining() {
        return Err(MetaError::Corrupted("trailing bytes"));
    }
    Ok(DiskMeta {
        durable: DurableMeta {
            meta: SegmentMeta {
                pg,
                pages_per_pg,
                replicas,
            },
            epoch,
            history,
        },
        generation,
        horizon,
        horizon_tail,
        base_pages,
    })
}

// ---------------------------------------------------------------------------
// Blocking file helpers
// ---------------------------------------------------------------------------

/// Fsyncs a directory so that entries created, renamed or removed in it last.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `dir/meta` atomically: write `meta.tmp`, fsync it, rename it over
/// `meta`, fsync the directory. A crash leaves either the old or the new meta.
pub fn write_meta(dir: &Path, meta: &DiskMeta, fsync: bool) -> io::Result<()> {
    let tmp = dir.join(META_TMP_FILE);
    let bytes = encode_meta(meta);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        if fsync {
            f.sync_all()?;
        }
    }
    fs::rename(&tmp, dir.join(META_FILE))?;
    if fsync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Reads `dir/meta`, refusing files over [`META_BYTES_MAX`].
pub fn read_meta(dir: &Path) -> io::Result<Result<DiskMeta, MetaError>> {
    let path = dir.join(META_FILE);
    let len = fs::metadata(&path)?.len();
    if len > META_BYTES_MAX as u64 {
        return Ok(Err(MetaError::Corrupted("meta file over its size limit")));
    }
    Ok(decode_meta(&fs::read(&path)?))
}

/// Opens a log file for writing at explicit offsets (not `O_APPEND`: the
/// file's end is preallocated space, not the log's end) and reading back by
/// location, creating it if needed.
pub fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
}

/// Smallest chunk a log file grows by.
pub const LOG_PREALLOC_MIN_BYTES: u64 = 64 * 1024;
/// Largest chunk a log file grows by: zeroing it costs one write of this
/// size, and its fsync, inside the batch that first needs it, every time
/// the log has filled the previous one. 1 MiB rather than 4: `bench volume`
/// c64 on six fresh nodes, three alternating pairs, 35,002 / 36,355 / 34,804
/// commits/s at 4 MiB against 37,868 / 36,968 / 36,188 at 1 MiB, p99 10.0–11.2
/// ms against 10.8–12.0 (256 KiB: 36,604 and 34,548).
pub const LOG_PREALLOC_MAX_BYTES: u64 = 1024 * 1024;

/// The length to grow a log file of `allocated` bytes to so that it holds a
/// log of `needed` bytes, the last `written` of them a batch about to be
/// written: `needed` plus a chunk that doubles with the file (a small
/// segment stays small) up to [`LOG_PREALLOC_MAX_BYTES`], rounded up to 4
/// KiB blocks; `allocated` when it already holds `needed`. A batch at
/// least a chunk long gets no chunk after it: its own write grows the file
/// by more than the chunk would, so the inode update its fsync carries is
/// paid for, and zeros ahead of it would double the bytes written (a bulk
/// load's batches are megabytes, and zeroing them first and a chunk after
/// took 18% of `sextant dev`'s samples in a profile of 1,000-event ingest
/// batches on a busy machine; measured since, it saves 0–8% of a COPY's
/// time, within this machine's noise).
pub fn preallocation_end(needed: u64, allocated: u64, written: u64) -> u64 {
    if needed <= allocated {
        return allocated;
    }
    let chunk = allocated.clamp(LOG_PREALLOC_MIN_BYTES, LOG_PREALLOC_MAX_BYTES);
    let ahead = if written >= chunk { 0 } else { chunk };
    (needed + ahead).next_multiple_of(4096)
}

/// Writes zeros over `[from, to)` of `file` (growing it), so that later
/// writes there overwrite allocated, written blocks. The caller fsyncs.
pub fn zero_fill(file: &File, from: u64, to: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    const PIECE: u64 = 1024 * 1024;
    let zeros = vec![0u8; PIECE.min(to.saturating_sub(from)) as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(PIECE);
        file.write_all_at(&zeros[..n as usize], at)?;
        at += n;
    }
    Ok(())
}

/// Path of `log.<generation>` in `dir`.
pub fn log_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(log_file_name(generation))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{RecordBody, FLAG_CPL};
    use proptest::prelude::*;

    fn record(lsn: u64, page: u64) -> LogEntry {
        LogEntry::Record {
            received_ms: 1_700_000_000_000 + lsn,
            record: LogRecord {
                lsn: Lsn(lsn),
                epoch: Epoch(2),
                page: PageId(page),
                pg_prev_lsn: Lsn(lsn - 1),
                vol_prev_lsn: Lsn(lsn - 1),
                flags: FLAG_CPL,
                body: RecordBody::Delta {
                    offset: 8,
                    bytes: Bytes::from(vec![lsn as u8; 40]),
                },
            },
        }
    }

    fn sample_entries() -> Vec<LogEntry> {
        vec![
            LogEntry::Horizon {
                lsn: Lsn(10),
                tail: Lsn(9),
            },
            LogEntry::Base {
                page: PageId(17),
                lsn: Lsn(9),
                image: Bytes::from(vec![7u8; PAGE_SIZE]),
            },
            LogEntry::Base {
                page: PageId(18),
                lsn: Lsn(4),
                image: Bytes::from(vec![8u8; PAGE_SIZE]),
            },
            LogEntry::Hint {
                vdl: Lsn(12),
                tail: Lsn(11),
            },
            record(11, 17),
            record(12, 18),
            record(13, 17),
        ]
    }

    fn encode_all(entries: &[LogEntry]) -> (Vec<u8>, Vec<usize>) {
        let mut buf = BytesMut::new();
        let mut starts = Vec::new();
        for e in entries {
            starts.push(buf.len());
            encode_entry(e, &mut buf);
        }
        (buf.to_vec(), starts)
    }

    fn meta() -> DiskMeta {
        DiskMeta {
            durable: DurableMeta {
                meta: SegmentMeta {
                    pg: PgId(1),
                    pages_per_pg: 16,
                    replicas: vec![Replica {
                        node: NodeId(3),
                        addr: "127.0.0.1:1".into(),
                        az: "az-b".into(),
                    }],
                },
                epoch: Epoch(5),
                history: vec![
                    Truncation {
                        epoch: Epoch(1),
                        above: Lsn(0),
                    },
                    Truncation {
                        epoch: Epoch(5),
                        above: Lsn(90),
                    },
                ],
            },
            generation: 3,
            horizon: Lsn(80),
            horizon_tail: Lsn(77),
            base_pages: vec![PageId(16), PageId(17), PageId(18), PageId(25)],
        }
    }

    #[test]
    fn entries_round_trip() {
        let entries = sample_entries();
        let (raw, _) = encode_all(&entries);
        let scan = scan_log(&raw);
        assert_eq!(scan.entries, entries);
        assert!(scan.damaged.is_empty());
        assert_eq!(scan.valid_len, raw.len() as u64);
        let sized: usize = entries.iter().map(encoded_entry_len).sum();
        assert_eq!(
            sized,
            raw.len(),
            "encoded_entry_len sizes the writer's buffer"
        );
    }

    #[test]
    fn damaged_base_payload_names_the_lost_page() {
        let entries = sample_entries();
        let (mut raw, starts) = encode_all(&entries);
        raw[starts[2] + ENTRY_HEADER_BYTES + 100] ^= 0x10;
        let scan = scan_log(&raw);
        assert_eq!(scan.lost_bases, vec![PageId(18)]);
        assert_eq!(scan.entries.len(), entries.len() - 1);
        assert_eq!(scan.damaged.len(), 1);
        assert_eq!(scan.valid_len, raw.len() as u64);
    }

    #[test]
    fn damaged_header_skips_to_the_next_entry() {
        let entries = sample_entries();
        let (mut raw, starts) = encode_all(&entries);
        raw[starts[4] + 6] ^= 0x01; // inside the key of record 11
        let scan = scan_log(&raw);
        let mut expect = entries.clone();
        expect.remove(4);
        assert_eq!(scan.entries, expect);
        assert_eq!(scan.damaged.len(), 1);
        assert_eq!(scan.damaged[0].offset, starts[4] as u64);
    }

    #[test]
    fn torn_tail_is_cut_off() {
        let entries = sample_entries();
        let (raw, starts) = encode_all(&entries);
        for cut in [
            starts[6] + 3,
            starts[6] + ENTRY_HEADER_BYTES + 5,
            raw.len() - 1,
        ] {
            let scan = scan_log(&raw[..cut]);
            assert_eq!(scan.entries, entries[..6]);
            assert_eq!(scan.valid_len, starts[6] as u64);
            assert!(scan.damaged.is_empty());
        }
    }

    #[test]
    fn preallocated_zeros_are_not_entries() {
        let entries = sample_entries();
        let (mut raw, _) = encode_all(&entries);
        let log_len = raw.len() as u64;
        raw.resize(raw.len() + 3 * 4096 + 17, 0);
        let scan = scan_log(&raw);
        assert_eq!(scan.entries, entries);
        assert!(scan.damaged.is_empty());
        assert_eq!((scan.valid_len, scan.written_len), (log_len, log_len));
    }

    #[test]
    fn entry_torn_into_preallocated_zeros_is_cut_off() {
        let entries = sample_entries();
        let (mut raw, starts) = encode_all(&entries);
        let last = starts[entries.len() - 1];
        // The last write reached the disk only in part: its header is whole,
        // the rest of its payload still reads as the zeros written ahead.
        let torn_end = last + ENTRY_HEADER_BYTES + 5;
        raw.truncate(torn_end);
        raw.resize(torn_end + 8192, 0);
        let scan = scan_log(&raw);
        assert_eq!(scan.entries, entries[..entries.len() - 1]);
        assert!(scan.damaged.is_empty(), "{:?}", scan.damaged);
        assert_eq!(scan.valid_len, last as u64);
        assert!(scan.written_len > scan.valid_len && scan.written_len <= torn_end as u64);
    }

    #[test]
    fn zeroed_entry_in_the_middle_is_damage_not_the_end() {
        let entries = sample_entries();
        let (mut raw, starts) = encode_all(&entries);
        // One entry's bytes lost to zeros (a bad sector), valid ones after,
        // then the zeros written ahead of the log.
        raw[starts[3]..starts[4]].fill(0);
        let log_len = raw.len() as u64;
        raw.resize(raw.len() + 4096, 0);
        let scan = scan_log(&raw);
        let mut expect = entries.clone();
        expect.remove(3);
        assert_eq!(scan.entries, expect);
        assert_eq!(scan.damaged.len(), 1);
        assert_eq!(scan.damaged[0].offset, starts[3] as u64);
        assert_eq!((scan.valid_len, scan.written_len), (log_len, log_len));
    }

    #[test]
    fn preallocation_grows_in_doubling_bounded_chunks() {
        assert_eq!(preallocation_end(100, 4096, 100), 4096);
        assert_eq!(preallocation_end(1, 0, 1), LOG_PREALLOC_MIN_BYTES + 4096);
        let big = 64 * LOG_PREALLOC_MAX_BYTES;
        assert_eq!(
            preallocation_end(big + 1, big, 100),
            big + LOG_PREALLOC_MAX_BYTES + 4096
        );
        let mid = 3 * LOG_PREALLOC_MIN_BYTES;
        let end = preallocation_end(mid + 10, mid, 100);
        assert!(end >= 2 * mid + 10 && end.is_multiple_of(4096));
        // A batch as long as a chunk grows the file to its own end only.
        let batch = LOG_PREALLOC_MAX_BYTES + 10;
        assert_eq!(
            preallocation_end(big + batch, big, batch),
            (big + batch).next_multiple_of(4096)
        );
    }

    #[test]
    fn meta_round_trips_and_runs_compress() {
        let m = meta();
        let raw = encode_meta(&m);
        assert_eq!(decode_meta(&raw), Ok(m.clone()));
        assert_eq!(page_runs(&m.base_pages), vec![(16, 3), (25, 1)]);
    }

    #[test]
    fn names_parse_only_in_canonical_form() {
        assert_eq!(segment_dir_name(PgId(42)), "pg-00000042");
        assert_eq!(parse_segment_dir_name("pg-00000042"), Some(PgId(42)));
        assert_eq!(parse_segment_dir_name("pg-42"), None);
        assert_eq!(parse_segment_dir_name("pg-00000042.tmp"), None);
        assert_eq!(parse_log_file_name("log.7"), Some(7));
        assert_eq!(parse_log_file_name("log.07"), None);
    }

    proptest! {
        /// Any flipped bit in the meta file is refused, never misread.
        #[test]
        fn meta_bit_flips_are_refused(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut raw = encode_meta(&meta()).to_vec();
            let i = pos.index(raw.len());
            raw[i] ^= 1 << bit;
            prop_assert!(decode_meta(&raw).is_err());
        }

        /// Any flipped bit in a log loses at most the entry it hits, never
        /// yields a wrong entry, and never panics.
        #[test]
        fn log_bit_flips_lose_at_most_one_entry(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let entries = sample_entries();
            let (mut raw, starts) = encode_all(&entries);
            let i = pos.index(raw.len());
            raw[i] ^= 1 << bit;
            let hit = starts.iter().rposition(|s| *s <= i).expect("offset in some entry");
            let scan = scan_log(&raw);
            let mut expect = entries.clone();
            expect.remove(hit);
            if hit == entries.len() - 1 {
                // Damage in the last entry's header looks like a torn tail.
                prop_assert!(scan.entries == expect);
            } else {
                prop_assert_eq!(&scan.entries, &expect);
                prop_assert_eq!(scan.damaged.len(), 1);
            }
        }

        /// Arbitrary bytes never panic the scanner.
        #[test]
        fn garbage_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..4000)) {
            let scan = scan_log(&raw);
            prop_assert!(scan.valid_len <= raw.len() as u64);
        }
    }
}

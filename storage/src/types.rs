//! The types that cross the storage protocol, and the log-record codec.
//!
//! Everything here is plain data: no sockets, no runtime, no files. Both ends of
//! the protocol (the storage node and compute's volume client) and the
//! deterministic simulation share these definitions, so a change here is a
//! protocol change. The byte layout of a log record is drawn in
//! `docs/storage-format.md`.
#![warn(missing_docs)]

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Size of one page of the volume, in bytes.
pub const PAGE_SIZE: usize = 8192;
/// `PAGE_SIZE` as the wire/disk integer type.
pub const PAGE_SIZE_U64: u64 = PAGE_SIZE as u64;

/// Fixed part of an encoded log record: crc, length, lsn, epoch, page,
/// pg_prev_lsn, vol_prev_lsn, flags, kind, offset, body length.
pub const RECORD_HEADER_BYTES: usize = 4 + 4 + 8 + 8 + 8 + 8 + 8 + 1 + 1 + 2 + 4;
/// Largest encoded log record: a full page image plus the header. Anything
/// larger on the wire or on disk is corrupt by definition.
pub const RECORD_BYTES_MAX: usize = RECORD_HEADER_BYTES + PAGE_SIZE;

const _: () = assert!(PAGE_SIZE <= u16::MAX as usize + 1, "delta offsets are u16");
const _: () = assert!(PAGE_SIZE.is_power_of_two());

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// Log sequence number: the position of a record in the volume's single,
    /// totally ordered log. `Lsn(0)` means "none" (before the first record).
    Lsn(u64)
);
id_type!(
    /// Number of an 8 KiB page in the volume's address space.
    PageId(u64)
);
id_type!(
    /// Volume epoch. A writer holds one epoch; segments reject writes from any
    /// lower epoch, which fences a deposed writer without a consensus round.
    Epoch(u64)
);
id_type!(
    /// Identity of a storage node, unique in the cluster file.
    NodeId(u32)
);
id_type!(
    /// Protection group: the unit of replication. PG `k` covers pages
    /// `[k·P, (k+1)·P)` where `P` is pages per segment.
    PgId(u32)
);

impl Lsn {
    /// The LSN before every record.
    pub const ZERO: Lsn = Lsn(0);

    /// The LSN right after this one.
    pub fn next(self) -> Lsn {
        Lsn(self.0.checked_add(1).expect("LSN space exhausted"))
    }
}

impl PageId {
    /// The protection group holding this page, for `pages_per_pg` pages per PG.
    pub fn pg(self, pages_per_pg: u64) -> PgId {
        assert!(pages_per_pg > 0);
        let pg = self.0 / pages_per_pg;
        PgId(u32::try_from(pg).expect("page beyond the largest volume"))
    }
}

/// Flag bit: this record is the last of its mini-transaction (a consistency
/// point). VDL only ever lands on such a record.
pub const FLAG_CPL: u8 = 0b0000_0001;

/// What a log record does to its page. Applying either is a byte copy: storage
/// never interprets page contents.
#[derive(Clone, PartialEq, Eq)]
pub enum RecordBody {
    /// Copy `bytes` into the page at `offset`.
    Delta {
        /// First byte of the page to overwrite.
        offset: u16,
        /// The new bytes; `offset + bytes.len() <= PAGE_SIZE`.
        bytes: Bytes,
    },
    /// Replace the whole page; exactly `PAGE_SIZE` bytes.
    Image(Bytes),
    /// Several copies into the page, applied in order: packed runs of
    /// `offset: u16, len: u16, bytes` (big-endian), each inside the page.
    /// One change to a page (its header and the few ranges a row touched)
    /// is then one record rather than one per range, which is what storage
    /// pays for: an index entry, a header and a checksum per record, and a
    /// delta chain that reaches the coalescing threshold sooner.
    Deltas(Bytes),
}

/// Bytes a run of [`RecordBody::Deltas`] adds before its data.
pub const DELTA_RUN_HEADER_BYTES: usize = 4;

/// The runs of a packed [`RecordBody::Deltas`] body; `None` at the first
/// run that is truncated or leaves the page.
struct Runs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Runs<'a> {
    type Item = Option<(usize, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let head = self.rest.get(..DELTA_RUN_HEADER_BYTES)?;
            let offset = usize::from(u16::from_be_bytes([head[0], head[1]]));
            let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let end = DELTA_RUN_HEADER_BYTES.checked_add(len)?;
            let bytes = self.rest.get(DELTA_RUN_HEADER_BYTES..end)?;
            if offset + len > PAGE_SIZE {
                return None;
            }
            self.rest = &self.rest[end..];
            Some((offset, bytes))
        })();
        if parsed.is_none() {
            self.rest = &[];
        }
        Some(parsed)
    }
}

impl fmt::Debug for RecordBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordBody::Delta { offset, bytes } => {
                write!(f, "Delta(@{offset}, {} bytes)", bytes.len())
            }
            RecordBody::Image(_) => write!(f, "Image"),
            RecordBody::Deltas(bytes) => write!(f, "Deltas({} bytes)", bytes.len()),
        }
    }
}

impl RecordBody {
    /// Packs `runs` (offset, new bytes) into one [`RecordBody::Deltas`].
    /// Panics if a run leaves the page.
    pub fn deltas<'a>(runs: impl IntoIterator<Item = (usize, &'a [u8])>) -> RecordBody {
        let mut buf = BytesMut::new();
        for (offset, bytes) in runs {
            assert!(
                offset + bytes.len() <= PAGE_SIZE,
                "delta run leaves the page"
            );
            buf.put_u16(u16::try_from(offset).expect("offset within a page"));
            buf.put_u16(u16::try_from(bytes.len()).expect("run within a page"));
            buf.put_slice(bytes);
        }
        RecordBody::Deltas(buf.freeze())
    }

    fn runs(packed: &[u8]) -> Runs<'_> {
        Runs { rest: packed }
    }

    /// Applies this body to a page image in place.
    pub fn apply(&self, page: &mut [u8]) {
        assert_eq!(page.len(), PAGE_SIZE);
        match self {
            RecordBody::Delta { offset, bytes } => {
                let start = usize::from(*offset);
                page[start..start + bytes.len()].copy_from_slice(bytes);
            }
            RecordBody::Image(bytes) => page.copy_from_slice(bytes),
            RecordBody::Deltas(packed) => {
                for run in Self::runs(packed) {
                    let (start, bytes) = run.expect("a decoded or packed body is valid");
                    page[start..start + bytes.len()].copy_from_slice(bytes);
                }
            }
        }
    }

    fn is_valid(&self) -> bool {
        match self {
            RecordBody::Delta { offset, bytes } => usize::from(*offset) + bytes.len() <= PAGE_SIZE,
            RecordBody::Image(bytes) => bytes.len() == PAGE_SIZE,
            RecordBody::Deltas(packed) => {
                packed.len() <= PAGE_SIZE && Self::runs(packed).all(|r| r.is_some())
            }
        }
    }

    /// True for a body that replaces the whole page.
    pub fn is_image(&self) -> bool {
        matches!(self, RecordBody::Image(_))
    }

    /// Bytes of payload this body carries.
    pub fn len(&self) -> usize {
        match self {
            RecordBody::Delta { bytes, .. }
            | RecordBody::Image(bytes)
            | RecordBody::Deltas(bytes) => bytes.len(),
        }
    }

    /// True for an empty delta.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One redo record: a change to one page, at one LSN, written under one epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Position in the volume log.
    pub lsn: Lsn,
    /// Epoch of the writer that produced the record.
    pub epoch: Epoch,
    /// The page changed.
    pub page: PageId,
    /// LSN of the previous record in the same protection group (`Lsn::ZERO`
    /// for the group's first record); lets a segment see its holes.
    pub pg_prev_lsn: Lsn,
    /// LSN of the previous record in the whole volume; recovery walks this
    /// chain to find the volume's complete prefix.
    pub vol_prev_lsn: Lsn,
    /// `FLAG_CPL` and future bits.
    pub flags: u8,
    /// The change itself.
    pub body: RecordBody,
}

/// A record that failed to decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the header or the declared length.
    #[error("truncated record: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Declared length above `RECORD_BYTES_MAX`.
    #[error("record length {len} exceeds the limit of {RECORD_BYTES_MAX} bytes")]
    TooLarge {
        /// Declared length.
        len: usize,
    },
    /// CRC32C mismatch.
    #[error("record checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// Checksum in the record.
        stored: u32,
        /// Checksum of the bytes received.
        computed: u32,
    },
    /// The fields decode but contradict each other.
    #[error("invalid record: {0}")]
    Invalid(&'static str),
}

const KIND_DELTA: u8 = 1;
const KIND_IMAGE: u8 = 2;
const KIND_DELTAS: u8 = 3;

impl LogRecord {
    /// True when this record closes a mini-transaction.
    pub fn is_cpl(&self) -> bool {
        self.flags & FLAG_CPL != 0
    }

    /// Length of the encoded record.
    pub fn encoded_len(&self) -> usize {
        RECORD_HEADER_BYTES + self.body.len()
    }

    /// Appends the encoded record (checksum first) to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        assert!(
            self.body.is_valid(),
            "encoding an invalid body {:?}",
            self.body
        );
        assert!(self.lsn > self.pg_prev_lsn, "pg_prev_lsn must precede lsn");
        assert!(
            self.lsn > self.vol_prev_lsn,
            "vol_prev_lsn must precede lsn"
        );
        let len = self.encoded_len();
        buf.reserve(len);
        let start = buf.len();
        buf.put_u32(0); // checksum, filled below
        buf.put_u32(u32::try_from(len).expect("record length fits u32"));
        buf.put_u64(self.lsn.0);
        buf.put_u64(self.epoch.0);
        buf.put_u64(self.page.0);
        buf.put_u64(self.pg_prev_lsn.0);
        buf.put_u64(self.vol_prev_lsn.0);
        buf.put_u8(self.flags);
        let (kind, offset, bytes) = match &self.body {
            RecordBody::Delta { offset, bytes } => (KIND_DELTA, *offset, bytes),
            RecordBody::Image(bytes) => (KIND_IMAGE, 0, bytes),
            RecordBody::Deltas(bytes) => (KIND_DELTAS, 0, bytes),
        };
        buf.put_u8(kind);
        buf.put_u16(offset);
        buf.put_u32(u32::try_from(bytes.len()).expect("body fits u32"));
        buf.put_slice(bytes);
        let crc = crc32c::crc32c(&buf[start + 4..]);
        buf[start..start + 4].copy_from_slice(&crc.to_be_bytes());
        debug_assert_eq!(buf.len() - start, len);
    }

    /// Encodes into a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        buf.freeze()
    }

    /// Decodes one record from the front of `buf`, checking its checksum, and
    /// advances `buf` past it. On error `buf` is left unchanged.
    pub fn decode(buf: &mut Bytes) -> Result<LogRecord, DecodeError> {
        if buf.len() < 8 {
            return Err(DecodeError::Truncated {
                need: 8,
                have: buf.len(),
            });
        }
        let stored = u32::from_be_bytes(buf[0..4].try_into().expect("4 bytes"));
        let len = u32::from_be_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
        if len > RECORD_BYTES_MAX {
            return Err(DecodeError::TooLarge { len });
        }
        if len < RECORD_HEADER_BYTES {
            return Err(DecodeError::Invalid("length below the header size"));
        }
        if buf.len() < len {
            return Err(DecodeError::Truncated {
                need: len,
                have: buf.len(),
            });
        }
        let computed = crc32c::crc32c(&buf[4..len]);
        if computed != stored {
            return Err(DecodeError::Checksum { stored, computed });
        }
        let mut rec = buf.slice(8..len);
        let lsn = Lsn(rec.get_u64());
        let epoch = Epoch(rec.get_u64());
        let page = PageId(rec.get_u64());
        let pg_prev_lsn = Lsn(rec.get_u64());
        let vol_prev_lsn = Lsn(rec.get_u64());
        let flags = rec.get_u8();
        let kind = rec.get_u8();
        let offset = rec.get_u16();
        let body_len = rec.get_u32() as usize;
        if body_len != rec.len() {
            return Err(DecodeError::Invalid(
                "body length disagrees with record length",
            ));
        }
        let body = match kind {
            KIND_DELTA => RecordBody::Delta { offset, bytes: rec },
            KIND_IMAGE if offset == 0 => RecordBody::Image(rec),
            KIND_IMAGE => return Err(DecodeError::Invalid("image with an offset")),
            KIND_DELTAS if offset == 0 => RecordBody::Deltas(rec),
            KIND_DELTAS => return Err(DecodeError::Invalid("packed deltas with an offset")),
            _ => return Err(DecodeError::Invalid("unknown record kind")),
        };
        if !body.is_valid() {
            return Err(DecodeError::Invalid("body exceeds the page"));
        }
        if lsn <= pg_prev_lsn || lsn <= vol_prev_lsn {
            return Err(DecodeError::Invalid("backlink not below the record's LSN"));
        }
        buf.advance(len);
        Ok(LogRecord {
            lsn,
            epoch,
            page,
            pg_prev_lsn,
            vol_prev_lsn,
            flags,
            body,
        })
    }
}

/// Reconstructs a page: start from `base` (zeros when `None`) and apply
/// `records` in order. The caller supplies records in LSN order.
pub fn reconstruct_page<'a>(
    base: Option<&[u8]>,
    records: impl IntoIterator<Item = &'a RecordBody>,
) -> Box<[u8]> {
    let mut page = vec![0u8; PAGE_SIZE].into_boxed_slice();
    if let Some(base) = base {
        page.copy_from_slice(base);
    }
    for body in records {
        body.apply(&mut page);
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_body() -> impl Strategy<Value = RecordBody> {
        prop_oneof![
            (0usize..PAGE_SIZE).prop_flat_map(|off| {
                proptest::collection::vec(any::<u8>(), 0..=(PAGE_SIZE - off).min(300)).prop_map(
                    move |b| RecordBody::Delta {
                        offset: off as u16,
                        bytes: Bytes::from(b),
                    },
                )
            }),
            any::<u8>().prop_map(|b| RecordBody::Image(Bytes::from(vec![b; PAGE_SIZE]))),
            proptest::collection::vec(
                (0usize..PAGE_SIZE).prop_flat_map(|off| {
                    proptest::collection::vec(any::<u8>(), 0..=(PAGE_SIZE - off).min(100))
                        .prop_map(move |b| (off, b))
                }),
                0..8,
            )
            .prop_map(|runs| RecordBody::deltas(runs.iter().map(|(o, b)| (*o, &b[..])))),
        ]
    }

    fn arb_record() -> impl Strategy<Value = LogRecord> {
        (
            1u64..u64::MAX / 2,
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u8>(),
            arb_body(),
        )
            .prop_map(|(lsn, epoch, page, pp, vp, flags, body)| LogRecord {
                lsn: Lsn(lsn),
                epoch: Epoch(epoch),
                page: PageId(page),
                pg_prev_lsn: Lsn(pp % lsn),
                vol_prev_lsn: Lsn(vp % lsn),
                flags,
                body,
            })
    }

    proptest! {
        #[test]
        fn record_round_trips(recs in proptest::collection::vec(arb_record(), 1..5)) {
            let mut buf = BytesMut::new();
            for r in &recs { r.encode(&mut buf); }
            let mut bytes = buf.freeze();
            for r in &recs {
                prop_assert_eq!(&LogRecord::decode(&mut bytes).unwrap(), r);
            }
            prop_assert!(bytes.is_empty());
        }

        #[test]
        fn any_flipped_byte_is_caught(rec in arb_record(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut raw = rec.to_bytes().to_vec();
            let i = pos.index(raw.len());
            raw[i] ^= 1 << bit;
            let mut bytes = Bytes::from(raw);
            prop_assert!(LogRecord::decode(&mut bytes).is_err());
        }

        /// Reconstruction equals applying the same writes to a plain byte array.
        #[test]
        fn reconstruction_matches_model(bodies in proptest::collection::vec(arb_body(), 0..20)) {
            let mut model = vec![0u8; PAGE_SIZE];
            for b in &bodies {
                match b {
                    RecordBody::Delta { offset, bytes } => {
                        for (i, x) in bytes.iter().enumerate() { model[*offset as usize + i] = *x; }
                    }
                    RecordBody::Image(bytes) => model = bytes.to_vec(),
                    RecordBody::Deltas(packed) => {
                        for run in RecordBody::runs(packed) {
                            let (offset, bytes) = run.unwrap();
                            model[offset..offset + bytes.len()].copy_from_slice(bytes);
                        }
                    }
                }
            }
            prop_assert_eq!(&reconstruct_page(None, &bodies)[..], &model[..]);
        }
    }

    #[test]
    fn packed_deltas_leaving_the_page_are_rejected() {
        let mut packed = BytesMut::new();
        packed.put_u16((PAGE_SIZE - 2) as u16);
        packed.put_u16(4);
        packed.put_slice(&[1, 2, 3, 4]);
        let rec = LogRecord {
            lsn: Lsn(2),
            epoch: Epoch(1),
            page: PageId(0),
            pg_prev_lsn: Lsn(1),
            vol_prev_lsn: Lsn(1),
            flags: 0,
            body: RecordBody::Deltas(Bytes::new()),
        };
        let mut raw = BytesMut::from(&rec.to_bytes()[..]);
        // Splice the bad body in and fix the lengths and checksum.
        raw.truncate(RECORD_HEADER_BYTES);
        raw.put_slice(&packed);
        let len = raw.len() as u32;
        raw[4..8].copy_from_slice(&len.to_be_bytes());
        let body_len = packed.len() as u32;
        raw[RECORD_HEADER_BYTES - 4..RECORD_HEADER_BYTES].copy_from_slice(&body_len.to_be_bytes());
        let crc = crc32c::crc32c(&raw[4..]);
        raw[0..4].copy_from_slice(&crc.to_be_bytes());
        let mut b = raw.freeze();
        assert_eq!(
            LogRecord::decode(&mut b),
            Err(DecodeError::Invalid("body exceeds the page"))
        );
    }

    #[test]
    fn oversized_length_is_rejected_before_reading() {
        let mut raw = BytesMut::new();
        raw.put_u32(0);
        raw.put_u32((RECORD_BYTES_MAX + 1) as u32);
        let mut b = raw.freeze();
        assert_eq!(
            LogRecord::decode(&mut b),
            Err(DecodeError::TooLarge {
                len: RECORD_BYTES_MAX + 1
            })
        );
    }
}

//! One segment replica: the part of a protection group that one storage node
//! keeps, as a sans-IO state machine.
//!
//! The segment holds the PG's log records and the page versions built from
//! them. It decides what to accept (epochs, epoch history, backlinks), computes
//! its SCL, serves page reads, coalesces deltas into images and collects old
//! versions. It does no I/O: every change that must survive a crash is queued
//! as a [`LogEntry`] (drained with [`Segment::take_pending`]) or flagged in
//! [`Segment::meta_dirty`], and the caller makes those durable before it
//! acknowledges anything. The storage node wraps this in files and sockets; the
//! simulation wraps it in a model disk and network. Both run the same code.
//!
//! # SCL
//! The SCL is an LSN in the volume's log such that this segment holds every
//! record of its PG at or below it. It advances two ways: along `pg_prev_lsn`
//! backlinks (a record whose predecessor is at or below the SCL closes the gap
//! up to itself), and by the writer's VDL hint `(vdl, pg_tail)`, which says the
//! PG has no record in `(pg_tail, vdl]`.
//!
//! # Epochs
//! `history` lists, for each epoch recovery opened, the VDL it recovered: any
//! record of an older epoch above that LSN was discarded and must never be
//! accepted again (from a stale writer or from gossip of a stale peer).
//!
//! A history is the *lineage* of its newest epoch: exactly the truncations
//! that epoch's recovery knew of. A recovery that was superseded may still
//! have truncated a few replicas before a newer recovery fenced a quorum
//! without seeing them; the newer one may then keep records that truncation
//! voids. So such an entry is not part of the volume: learning a newer
//! lineage replaces the segment's history, dropping entries it lacks, and an
//! older lineage adds nothing. Hence every sender of an epoch start sends the
//! whole lineage (`Adopt`, gossip), never a lone entry.
//!
//! # Bodies and images live in a [`BodyStore`]
//! In memory the segment keeps an *index*: per record its header fields and
//! where its body is, per page the LSNs of its versions. A body is in memory
//! ([`Body::Mem`]) only until the caller has made it durable and reports its
//! place in the log file ([`Segment::spilled`]); from then on it is read back
//! through the store, which checks the entry's checksums on every read and
//! may cache it. Coalesced page images (from [`Segment::materialize`],
//! [`Segment::collect`], [`Segment::repair_page`]) go to the store's page
//! file. A read that fails (checksum, I/O, an entry that is not the one
//! expected) is never served: the record is dropped as a hole for gossip to
//! refill (the SCL steps back below it), an image makes its page *lost*
//! until repaired from a peer, exactly as for damage found at load time.
//! With [`InMemory`] (the simulation, unit tests) nothing leaves memory and
//! the segment does no I/O at all.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::types::{reconstruct_page, Epoch, LogRecord, Lsn, PageId, PgId, RecordBody, PAGE_SIZE};
use crate::wire::{Replica, Truncation};

/// A page chain longer than this many deltas past its last image is coalesced
/// into a new image by [`Segment::materialize`]; GC leaves a chain up to this
/// long below the horizon as it is. A read of such a page applies up to this
/// many deltas. 64 rather than 16: under upserts on 1,000,000 events most
/// images were then of a few hot pages, one per 17 changes, and at 64 the
/// same runs did 2,804–3,165 commits/s against 2,536–2,724, CPU per upsert
/// 512–533 µs against 610–645. Unit tests use 4, so their short runs reach it.
pub const DELTAS_PER_IMAGE_MAX: usize = if cfg!(test) { 4 } else { 64 };
/// GC leaves a chain below the horizon as it is only if its deltas take at
/// most this many bytes: a page never keeps more than about five pages'
/// worth there (its image and these deltas), which the log carries until
/// the page next changes. Four pages rather than one: with one, upserts on
/// 1,000,000 events ran 9–11% slower (3,178 and 2,931 commits/s against
/// 3,479 and 3,296 unbounded), with four as fast (3,381 and 3,771 against
/// 3,556). Unit tests use 200 bytes, so both bounds are reached.
pub const KEPT_CHAIN_BYTES_MAX: usize = if cfg!(test) { 200 } else { 4 * PAGE_SIZE };
/// Bytes of records one gossip reply or log read carries at most.
pub const GOSSIP_BYTES_MAX: usize = 1024 * 1024;

/// The identity of a segment: fixed at creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentMeta {
    /// The protection group.
    pub pg: PgId,
    /// Pages per protection group of the volume.
    pub pages_per_pg: u64,
    /// All six replicas of the PG.
    pub replicas: Vec<Replica>,
}

/// State kept outside the log, rewritten atomically when it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurableMeta {
    /// Identity.
    pub meta: SegmentMeta,
    /// Current epoch.
    pub epoch: Epoch,
    /// Epoch history, oldest first.
    pub history: Vec<Truncation>,
}

/// One entry of a segment's durable log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEntry {
    /// A redo record, with the wall-clock time it arrived (for retention).
    Record {
        /// Milliseconds since the Unix epoch when it was received.
        received_ms: u64,
        /// The record.
        record: LogRecord,
    },
    /// The writer's VDL and the PG's tail at it.
    Hint {
        /// The VDL.
        vdl: Lsn,
        /// Highest record of this PG at or below `vdl`.
        tail: Lsn,
    },
    /// Start of a compacted log: versions at or below `lsn` were collected;
    /// the `Base` entries that follow hold each page as of `lsn`.
    Horizon {
        /// The GC horizon.
        lsn: Lsn,
        /// Highest record of the PG at or below the horizon.
        tail: Lsn,
    },
    /// A page image as of the horizon (only after a `Horizon`).
    Base {
        /// The page.
        page: PageId,
        /// LSN of the newest record folded into it.
        lsn: Lsn,
        /// `PAGE_SIZE` bytes.
        image: Bytes,
    },
}

/// Where an entry sits in the segment's current log file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogLoc {
    /// Log generation the offset is in (a location never crosses a
    /// compaction: the store refuses a stale one rather than misread).
    pub generation: u32,
    /// Length of the whole entry, header included.
    pub len: u32,
    /// Byte offset of the entry's header.
    pub offset: u64,
}

/// A slot of the store's page file, holding one coalesced page image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageSlot(pub u32);

/// Where a page image is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// In memory (no store behind the segment, or the store could not take it).
    Mem(Bytes),
    /// A `Base` entry, or a record entry whose body is an image, in the log.
    Log(LogLoc),
    /// A slot of the page file.
    Slot(ImageSlot),
}

/// Why the store could not give back what it was asked for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The bytes read fail their checksum or do not decode.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Where a segment keeps bodies and images it does not hold in memory. Every
/// read checks the checksums of what it read; the segment additionally checks
/// that what came back is the entry it asked for.
pub trait BodyStore: Send + Sync + fmt::Debug {
    /// Reads the log entry at `loc`.
    fn read_entry(&self, loc: LogLoc) -> Result<LogEntry, ReadError>;
    /// Keeps a page image out of memory; `None` leaves it to the caller to
    /// keep in memory.
    fn put_image(&self, page: PageId, lsn: Lsn, image: &Bytes) -> Option<ImageSlot>;
    /// Reads an image kept with [`BodyStore::put_image`].
    fn read_image(&self, slot: ImageSlot, page: PageId, lsn: Lsn) -> Result<Bytes, ReadError>;
    /// The slot is no longer referenced.
    fn free_image(&self, slot: ImageSlot);
}

/// A store with no disk behind it: every body and image stays in memory.
#[derive(Debug, Default)]
pub struct InMemory;

impl BodyStore for InMemory {
    fn read_entry(&self, loc: LogLoc) -> Result<LogEntry, ReadError> {
        Err(ReadError::Corrupt(format!(
            "no log file behind an in-memory segment (asked for {loc:?})"
        )))
    }
    fn put_image(&self, _page: PageId, _lsn: Lsn, _image: &Bytes) -> Option<ImageSlot> {
        None
    }
    fn read_image(&self, slot: ImageSlot, _page: PageId, _lsn: Lsn) -> Result<Bytes, ReadError> {
        Err(ReadError::Corrupt(format!(
            "no page file behind an in-memory segment (asked for {slot:?})"
        )))
    }
    fn free_image(&self, _slot: ImageSlot) {}
}

/// Something a read found damaged: a record to refetch, or a page image
/// whose page must be repaired from a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// The body of the record at this LSN.
    Record(Lsn),
    /// The image of `page` at `lsn`.
    Image {
        /// The page.
        page: PageId,
        /// The version's LSN.
        lsn: Lsn,
    },
}

/// One item of a compaction: what the new log holds, in order, with bodies
/// still where they are (read them with [`read_planned`]).
#[derive(Clone, Debug)]
pub enum Planned {
    /// An entry held in memory (horizon, hint, or a record not yet spilled).
    Entry(LogEntry),
    /// A page image as of the horizon.
    Base {
        /// The page.
        page: PageId,
        /// Its version's LSN.
        lsn: Lsn,
        /// Where the image is now.
        image: Stored,
    },
    /// A record whose body is in the log file.
    Record {
        /// Its LSN.
        lsn: Lsn,
        /// Its epoch.
        epoch: Epoch,
        /// Where it is now.
        loc: LogLoc,
    },
}

/// Reads the entry a [`Planned`] item stands for.
pub fn read_planned(store: &dyn BodyStore, item: &Planned) -> Result<LogEntry, Lost> {
    match item {
        Planned::Entry(e) => Ok(e.clone()),
        Planned::Base { page, lsn, image } => Ok(LogEntry::Base {
            page: *page,
            lsn: *lsn,
            image: image_from(store, *page, *lsn, image)?,
        }),
        Planned::Record { lsn, epoch, loc } => {
            let (received_ms, record) = record_from(store, *loc, *lsn, *epoch)?;
            Ok(LogEntry::Record {
                received_ms,
                record,
            })
        }
    }
}

fn record_from(
    store: &dyn BodyStore,
    loc: LogLoc,
    lsn: Lsn,
    epoch: Epoch,
) -> Result<(u64, LogRecord), Lost> {
    match store.read_entry(loc) {
        Ok(LogEntry::Record {
            received_ms,
            record,
        }) if record.lsn == lsn && record.epoch == epoch => Ok((received_ms, record)),
        Ok(other) => {
            tracing::error!(%lsn, ?loc, found = ?entry_key(&other), "log location holds another entry; treating the record as lost");
            Err(Lost::Record(lsn))
        }
        Err(e) => {
            tracing::warn!(%lsn, ?loc, "failed to read a record back: {e}; treating it as lost");
            Err(Lost::Record(lsn))
        }
    }
}

fn image_from(
    store: &dyn BodyStore,
    page: PageId,
    lsn: Lsn,
    stored: &Stored,
) -> Result<Bytes, Lost> {
    let lost = Lost::Image { page, lsn };
    let read = match stored {
        Stored::Mem(b) => return Ok(b.clone()),
        Stored::Slot(slot) => store.read_image(*slot, page, lsn),
        Stored::Log(loc) => match store.read_entry(*loc) {
            Ok(LogEntry::Base {
                page: p,
                lsn: l,
                image,
            }) if p == page && l == lsn => Ok(image),
            Ok(LogEntry::Record {
                record:
                    LogRecord {
                        lsn: l,
                        page: p,
                        body: RecordBody::Image(image),
                        ..
                    },
                ..
            }) if p == page && l == lsn => Ok(image),
            Ok(other) => Err(ReadError::Corrupt(format!(
                "location holds {:?}, not the image of page {page} at {lsn}",
                entry_key(&other)
            ))),
            Err(e) => Err(e),
        },
    };
    match read {
        Ok(image) if image.len() == PAGE_SIZE => Ok(image),
        Ok(image) => {
            tracing::error!(%page, %lsn, len = image.len(), "stored image of the wrong size; treating the page as lost");
            Err(lost)
        }
        Err(e) => {
            tracing::warn!(%page, %lsn, ?stored, "failed to read a page image back: {e}; treating the page as lost");
            Err(lost)
        }
    }
}

fn entry_key(e: &LogEntry) -> (&'static str, u64) {
    match e {
        LogEntry::Record { record, .. } => ("record", record.lsn.0),
        LogEntry::Hint { vdl, .. } => ("hint", vdl.0),
        LogEntry::Horizon { lsn, .. } => ("horizon", lsn.0),
        LogEntry::Base { page, .. } => ("base", page.0),
    }
}

/// What a segment holds in memory, for accounting and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentMemory {
    /// Records in the index.
    pub records: usize,
    /// Page versions in the index.
    pub versions: usize,
    /// Bytes of record bodies and images held in memory (not in a store).
    pub body_bytes: usize,
    /// Estimated bytes of the index itself.
    pub index_bytes: usize,
}

/// Why a segment refused a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentError {
    /// The request's epoch is older than the segment's.
    #[error("epoch {request} is stale: segment is at epoch {current}")]
    StaleEpoch {
        /// Epoch in the request.
        request: Epoch,
        /// The segment's epoch.
        current: Epoch,
    },
    /// The segment has not learned where the request's epoch starts.
    #[error("segment at epoch {current} lacks the history of epoch {request}")]
    EpochBehind {
        /// Epoch in the request.
        request: Epoch,
        /// The segment's epoch.
        current: Epoch,
    },
    /// The request contradicts the segment (bad page, history conflict, …).
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// Result of a page read.
#[derive(Debug, PartialEq, Eq)]
pub enum PageRead {
    /// The page as of the read point.
    Page(Bytes),
    /// This replica's SCL is below the read point (or the page awaits repair).
    NotYet {
        /// The SCL.
        scl: Lsn,
    },
    /// The read point is below what was kept.
    TooOld {
        /// Oldest readable LSN.
        horizon: Lsn,
    },
}

/// Page images to coalesce, planned under the segment's lock and built
/// without it ([`build_images`]); see [`Segment::plan_materialize`].
#[derive(Debug)]
pub struct Coalesce {
    /// The collect's new horizon; `None` for a materialize.
    target: Option<Lsn>,
    /// The segment's change count when planned: the plan is dropped if it moved.
    change: u64,
    jobs: Vec<Job>,
    /// Collect only: pages whose chain at the new horizon is short enough
    /// to keep as it is (see [`Segment::plan_collect`]), with the LSN of
    /// the image it starts from: only the versions before it go, and no
    /// image is built.
    trims: Vec<(PageId, Lsn)>,
    /// Collect only: the pages looked at, which leave `unsettled` if they
    /// have nothing above the new horizon.
    examined: Vec<PageId>,
}

impl Coalesce {
    /// Pages planned.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }
    /// True if nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

#[derive(Debug)]
struct Job {
    page: PageId,
    /// The version the image replaces or becomes.
    at: Lsn,
    /// Newest first, ending at an image (or the page's first version).
    chain: Vec<Link>,
}

#[derive(Debug)]
enum Link {
    Image { lsn: Lsn, stored: Stored },
    Record { lsn: Lsn, epoch: Epoch, body: Body },
}

/// Builds the images of a plan, reading bodies through `store` (which may
/// block on disk: call it without the segment's lock). Each image is kept
/// in the store; on a damaged read the ones made so far are freed.
pub fn build_images(store: &dyn BodyStore, plan: &Coalesce) -> Result<Vec<Stored>, Lost> {
    let mut out = Vec::with_capacity(plan.jobs.len());
    for job in &plan.jobs {
        match build_one(store, job) {
            Ok(image) => out.push(match store.put_image(job.page, job.at, &image) {
                Some(slot) => Stored::Slot(slot),
                None => Stored::Mem(image),
            }),
            Err(lost) => {
                free_images(store, out.into_iter().map(Version::Image));
                return Err(lost);
            }
        }
    }
    Ok(out)
}

fn build_one(store: &dyn BodyStore, job: &Job) -> Result<Bytes, Lost> {
    let mut base: Option<Bytes> = None;
    let mut deltas: Vec<RecordBody> = Vec::new();
    for link in &job.chain {
        match link {
            Link::Image { lsn, stored } => base = Some(image_from(store, job.page, *lsn, stored)?),
            Link::Record { lsn, epoch, body } => {
                let record = match body {
                    Body::Mem(r) => (**r).clone(),
                    Body::Log(loc) => record_from(store, *loc, *lsn, *epoch)?.1,
                };
                if record.page != job.page {
                    tracing::error!(%lsn, page = %job.page, "record read back belongs to another page; treating it as lost");
                    return Err(Lost::Record(*lsn));
                }
                match record.body {
                    RecordBody::Image(b) => base = Some(b),
                    body => deltas.push(body),
                }
            }
        }
    }
    deltas.reverse();
    Ok(Bytes::from(
        reconstruct_page(base.as_deref(), deltas.iter()).into_vec(),
    ))
}

/// A version of a page.
#[derive(Clone, Debug)]
enum Version {
    /// The body of the log record at this LSN (held in `Segment::log`, or
    /// in `Segment::cold` at or below the horizon): a delta, or an image if
    /// the record carries one (`image`, the record's own flag, kept here so
    /// walking a chain needs no lookup in the log).
    Record { image: bool },
    /// A page image kept apart from the record index.
    Image(Stored),
}

impl Version {
    /// True if the version is a whole page: a chain ends here.
    fn is_image(&self) -> bool {
        match self {
            Version::Image(_) => true,
            Version::Record { image } => *image,
        }
    }
}

/// The versions of one page, by LSN: a sorted vector. A page holds a few
/// versions (one image at or below the horizon, the deltas since) and
/// gains new ones at the end, so an insert is a push; a `BTreeMap` here
/// allocated a node of ~500 bytes per page and walked it on every record
/// (3% of `sextant dev`'s CPU under upserts). Same methods, same meaning.
#[derive(Clone, Debug, Default)]
struct Versions(Vec<(Lsn, Version)>);

impl Versions {
    fn position(&self, lsn: &Lsn) -> Result<usize, usize> {
        self.0.binary_search_by(|(l, _)| l.cmp(lsn))
    }

    /// Inserts `v` at `lsn`, returning the version it replaced.
    fn insert(&mut self, lsn: Lsn, v: Version) -> Option<Version> {
        if self.0.last().is_none_or(|(last, _)| *last < lsn) {
            self.0.push((lsn, v));
            return None;
        }
        match self.position(&lsn) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, v)),
            Err(i) => {
                self.0.insert(i, (lsn, v));
                None
            }
        }
    }

    fn get(&self, lsn: &Lsn) -> Option<&Version> {
        self.position(lsn).ok().map(|i| &self.0[i].1)
    }

    fn get_mut(&mut self, lsn: &Lsn) -> Option<&mut Version> {
        self.position(lsn).ok().map(|i| &mut self.0[i].1)
    }

    fn remove(&mut self, lsn: &Lsn) -> Option<Version> {
        self.position(lsn).ok().map(|i| self.0.remove(i).1)
    }

    /// Moves the versions at or above `lsn` out.
    fn split_off(&mut self, lsn: &Lsn) -> Versions {
        let at = self.0.partition_point(|(l, _)| l < lsn);
        Versions(self.0.split_off(at))
    }

    /// Moves the versions below `lsn` out.
    fn drop_before(&mut self, lsn: &Lsn) -> Versions {
        let at = self.0.partition_point(|(l, _)| l < lsn);
        Versions(self.0.drain(..at).collect())
    }

    /// The versions with LSNs in `range`, in LSN order.
    fn range(
        &self,
        range: impl std::ops::RangeBounds<Lsn>,
    ) -> impl DoubleEndedIterator<Item = (&Lsn, &Version)> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(a) => self.0.partition_point(|(l, _)| l < a),
            Bound::Excluded(a) => self.0.partition_point(|(l, _)| l <= a),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(b) => self.0.partition_point(|(l, _)| l <= b),
            Bound::Excluded(b) => self.0.partition_point(|(l, _)| l < b),
            Bound::Unbounded => self.0.len(),
        };
        self.0[start..end.max(start)].iter().map(|(l, v)| (l, v))
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn values(&self) -> impl Iterator<Item = &Version> {
        self.0.iter().map(|(_, v)| v)
    }

    fn into_values(self) -> impl Iterator<Item = Version> {
        self.0.into_iter().map(|(_, v)| v)
    }
}

/// Where a held record's body is.
#[derive(Clone, Debug)]
enum Body {
    /// Not yet durable (or no store behind the segment).
    Mem(Box<LogRecord>),
    /// In the log file.
    Log(LogLoc),
}

/// A record in the index: what the segment decides with, and where its body is.
#[derive(Clone, Debug)]
struct Held {
    received_ms: u64,
    epoch: Epoch,
    page: PageId,
    pg_prev_lsn: Lsn,
    /// Encoded length of the record.
    len: u32,
    /// The body is a full page image.
    image: bool,
    body: Body,
}

impl Held {
    fn of(record: LogRecord, received_ms: u64, loc: Option<LogLoc>) -> Held {
        Held {
            received_ms,
            epoch: record.epoch,
            page: record.page,
            pg_prev_lsn: record.pg_prev_lsn,
            len: u32::try_from(record.encoded_len())
                .expect("records are bounded by RECORD_BYTES_MAX"),
            image: matches!(record.body, RecordBody::Image(_)),
            body: match loc {
                Some(loc) => Body::Log(loc),
                None => Body::Mem(Box::new(record)),
            },
        }
    }
}

/// A record at or below the GC horizon whose body is on disk. It is kept
/// for the retention window, so peers can catch up and compaction can carry
/// it, and for as long as it is a delta in its page's chain at the horizon
/// (see [`Segment::plan_collect`]): then reads need it too. Hence the
/// smallest entry that still finds and checks it.
#[derive(Clone, Copy, Debug)]
struct Cold {
    lsn: Lsn,
    epoch: Epoch,
    /// The page it changes: a delta below the horizon may still be part of
    /// its page's chain there (see [`Segment::plan_collect`]).
    page: PageId,
    received_ms: u64,
    /// Encoded length of the record.
    len: u32,
    loc: LogLoc,
}

/// Copies a record's body out of whatever buffer it was decoded from (a
/// network frame holds many records: keeping a slice would keep it all).
fn detach(mut r: LogRecord) -> LogRecord {
    r.body = match r.body {
        RecordBody::Delta { offset, bytes } => RecordBody::Delta {
            offset,
            bytes: Bytes::copy_from_slice(&bytes),
        },
        RecordBody::Image(b) => RecordBody::Image(Bytes::copy_from_slice(&b)),
        RecordBody::Deltas(b) => RecordBody::Deltas(Bytes::copy_from_slice(&b)),
    };
    r
}

/// [`detach`] for the records of one append, into one buffer of their own:
/// one allocation per append, not one per record. They arrived together and
/// become durable in the same batch, when their bodies leave memory
/// together; freeing one small chunk per record in bulk there overflowed the
/// allocator's per-thread cache into its slow path (see BENCHMARKS.md).
fn detach_all(records: Vec<LogRecord>) -> Vec<LogRecord> {
    let mut buf = BytesMut::with_capacity(records.iter().map(|r| r.body.len()).sum());
    let mut copy = |b: &Bytes| {
        buf.extend_from_slice(b);
        buf.split().freeze()
    };
    records
        .into_iter()
        .map(|mut r| {
            r.body = match r.body {
                RecordBody::Delta { offset, bytes } => RecordBody::Delta {
                    offset,
                    bytes: copy(&bytes),
                },
                RecordBody::Image(b) => RecordBody::Image(copy(&b)),
                RecordBody::Deltas(b) => RecordBody::Deltas(copy(&b)),
            };
            r
        })
        .collect()
}

/// A segment replica's state. See the module docs.
#[derive(Debug)]
pub struct Segment {
    meta: SegmentMeta,
    epoch: Epoch,
    history: Vec<Truncation>,
    meta_dirty: bool,
    log: BTreeMap<Lsn, Held>,
    /// Records demoted from `log` (see [`Cold`]), ascending, all below every
    /// key of `log`.
    cold: Vec<Cold>,
    /// Bytes of the records in `log` and `cold`.
    log_bytes: u64,
    scl: Lsn,
    hint_vdl: Lsn,
    hint_tail: Lsn,
    pgmrpl: Lsn,
    horizon: Lsn,
    /// Highest record of the PG at or below `horizon` (records there may have
    /// left the log).
    horizon_tail: Lsn,
    pages: HashMap<PageId, Versions>,
    /// Pages whose stored image failed its checksum: unreadable until repaired.
    lost_pages: BTreeSet<PageId>,
    /// Pages repaired from a peer: versions below their LSN are gone.
    page_horizon: HashMap<PageId, Lsn>,
    pending: Vec<LogEntry>,
    store: Arc<dyn BodyStore>,
    /// Damaged reads handled since [`Segment::take_losses`].
    losses: u64,
    /// Bumped by every change to versions a [`Coalesce`] plan may cover
    /// (losses, truncations, repairs, coalescing itself).
    changes: u64,
    /// Pages whose delta chain may have grown past [`DELTAS_PER_IMAGE_MAX`]
    /// since [`Segment::plan_materialize`] last looked: a record arrived,
    /// a record above the SCL may have come within it, or a plan for the
    /// page was made but not yet installed. Planning walks only these,
    /// not every page of the segment.
    chains: HashSet<PageId>,
    /// Pages that may have versions above the horizon: the ones
    /// [`Segment::plan_collect`] looks at. Every other page's versions are
    /// at or below the horizon and already collected.
    unsettled: HashSet<PageId>,
}

/// Rebuilds a segment entry by entry, as a loader reads its log.
#[derive(Debug)]
pub struct Restore {
    seg: Segment,
}

impl Restore {
    /// Starts from the durable meta; bodies at a location are read through `store`.
    pub fn new(durable: DurableMeta, store: Arc<dyn BodyStore>) -> Restore {
        let mut seg = Segment::create_with_store(durable.meta, durable.epoch, store);
        seg.history = durable.history;
        seg.meta_dirty = false;
        Restore { seg }
    }

    /// Replays one entry that survived, in file order. With a location, only
    /// the index is kept: the body stays in the file.
    pub fn push(&mut self, entry: LogEntry, loc: Option<LogLoc>) {
        let seg = &mut self.seg;
        match entry {
            LogEntry::Record {
                received_ms,
                record,
            } => {
                // Validity is rechecked: the history may have grown after
                // the record was written (a truncation logged in meta).
                if seg.is_valid(&record) {
                    let lsn = record.lsn;
                    seg.insert(lsn, Held::of(record, received_ms, loc));
                }
            }
            LogEntry::Hint { vdl, tail } => seg.note_hint(vdl, tail),
            LogEntry::Horizon { lsn, tail } => {
                seg.horizon = lsn;
                seg.horizon_tail = tail;
                seg.scl = seg.scl.max(lsn);
            }
            LogEntry::Base { page, lsn, image } => {
                assert_eq!(image.len(), PAGE_SIZE, "base image of the wrong size");
                let stored = match loc {
                    Some(loc) => Stored::Log(loc),
                    None => Stored::Mem(image),
                };
                seg.pages
                    .entry(page)
                    .or_default()
                    .insert(lsn, Version::Image(stored));
            }
        }
    }

    /// The rebuilt segment. `lost_pages` are pages whose `Base` entry failed
    /// its checksum; they stay unreadable until [`Segment::repair_page`].
    pub fn finish(self, lost_pages: impl IntoIterator<Item = PageId>) -> Segment {
        let mut seg = self.seg;
        seg.lost_pages.extend(lost_pages);
        seg.pending.clear();
        seg.advance_scl();
        seg.demote();
        seg
    }
}

impl Segment {
    /// A new, empty segment that keeps everything in memory.
    pub fn create(meta: SegmentMeta, epoch: Epoch) -> Segment {
        Segment::create_with_store(meta, epoch, Arc::new(InMemory))
    }

    /// A new, empty segment whose spilled bodies and images live in `store`.
    pub fn create_with_store(
        meta: SegmentMeta,
        epoch: Epoch,
        store: Arc<dyn BodyStore>,
    ) -> Segment {
        assert!(meta.pages_per_pg > 0);
        Segment {
            meta,
            epoch,
            history: Vec::new(),
            meta_dirty: true,
            log: BTreeMap::new(),
            cold: Vec::new(),
            log_bytes: 0,
            scl: Lsn::ZERO,
            hint_vdl: Lsn::ZERO,
            hint_tail: Lsn::ZERO,
            pgmrpl: Lsn::ZERO,
            horizon: Lsn::ZERO,
            horizon_tail: Lsn::ZERO,
            pages: HashMap::new(),
            lost_pages: BTreeSet::new(),
            page_horizon: HashMap::new(),
            pending: Vec::new(),
            store,
            losses: 0,
            changes: 0,
            chains: HashSet::new(),
            unsettled: HashSet::new(),
        }
    }

    /// Rebuilds an in-memory segment from its durable meta and the log
    /// entries that survived (in file order). `lost_pages` are pages whose
    /// `Base` entry failed its checksum; they stay unreadable until
    /// [`Segment::repair_page`].
    pub fn restore(
        durable: DurableMeta,
        entries: impl IntoIterator<Item = LogEntry>,
        lost_pages: impl IntoIterator<Item = PageId>,
    ) -> Segment {
        let mut r = Restore::new(durable, Arc::new(InMemory));
        for e in entries {
            r.push(e, None);
        }
        r.finish(lost_pages)
    }

    /// Identity of the segment.
    pub fn meta(&self) -> &SegmentMeta {
        &self.meta
    }
    /// The protection group.
    pub fn pg(&self) -> PgId {
        self.meta.pg
    }
    /// Current epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }
    /// Epoch history, oldest first.
    pub fn history(&self) -> &[Truncation] {
        &self.history
    }
    /// Segment complete LSN (in memory; the caller tracks what is fsynced).
    pub fn scl(&self) -> Lsn {
        self.scl
    }
    /// Highest LSN held.
    pub fn max_lsn(&self) -> Lsn {
        self.log
            .keys()
            .next_back()
            .copied()
            .or(self.cold.last().map(|c| c.lsn))
            .unwrap_or(self.horizon_tail)
    }
    /// Highest VDL heard of.
    pub fn hint_vdl(&self) -> Lsn {
        self.hint_vdl
    }
    /// Oldest readable LSN.
    pub fn horizon(&self) -> Lsn {
        self.horizon
    }
    /// Records held in the log.
    pub fn record_count(&self) -> usize {
        self.log.len() + self.cold.len()
    }
    /// Bytes of records held in the log.
    pub fn log_bytes(&self) -> u64 {
        self.log_bytes
    }
    /// Pages awaiting repair from a peer.
    pub fn lost_pages(&self) -> impl Iterator<Item = PageId> + '_ {
        self.lost_pages.iter().copied()
    }

    /// The durable meta, to be written when [`Segment::meta_dirty`] says so.
    pub fn durable_meta(&self) -> DurableMeta {
        DurableMeta {
            meta: self.meta.clone(),
            epoch: self.epoch,
            history: self.history.clone(),
        }
    }
    /// True when the meta changed since the last [`Segment::meta_written`].
    pub fn meta_dirty(&self) -> bool {
        self.meta_dirty
    }
    /// The caller made the meta durable.
    pub fn meta_written(&mut self) {
        self.meta_dirty = false;
    }
    /// Log entries to make durable, in order.
    pub fn take_pending(&mut self) -> Vec<LogEntry> {
        std::mem::take(&mut self.pending)
    }

    /// Handles an append from the writer. Records already held are ignored,
    /// so a resent batch is harmless.
    pub fn append(
        &mut self,
        epoch: Epoch,
        vdl: Lsn,
        pg_tail: Lsn,
        pgmrpl: Lsn,
        records: Vec<LogRecord>,
        now_ms: u64,
    ) -> Result<(), SegmentError> {
        self.check_writer_epoch(epoch)?;
        for r in &records {
            self.check_record(r)?;
            // Recovery re-replicates records of older epochs that it kept;
            // anything newer than the sender, or voided, is a forgery or a bug.
            if r.epoch > epoch || !self.is_valid(r) {
                return Err(SegmentError::Invalid(format!(
                    "record {} of epoch {} in an append of epoch {epoch}",
                    r.lsn, r.epoch
                )));
            }
        }
        if pg_tail > vdl {
            return Err(SegmentError::Invalid(format!(
                "pg_tail {pg_tail} above vdl {vdl}"
            )));
        }
        for r in detach_all(records) {
            self.accept(r, now_ms);
        }
        if vdl > self.hint_vdl {
            self.note_hint(vdl, pg_tail);
            self.pending.push(LogEntry::Hint { vdl, tail: pg_tail });
        }
        self.pgmrpl = self.pgmrpl.max(pgmrpl);
        self.advance_scl();
        Ok(())
    }

    /// Recovery step 1: raise the epoch. Returns the segment's state.
    pub fn set_epoch(&mut self, epoch: Epoch) -> Result<(), SegmentError> {
        if epoch < self.epoch {
            return Err(SegmentError::StaleEpoch {
                request: epoch,
                current: self.epoch,
            });
        }
        if epoch > self.epoch {
            self.epoch = epoch;
            self.meta_dirty = true;
        }
        Ok(())
    }

    /// Opens `epoch` at `above` on top of the lineage this segment knows,
    /// voiding older records above it. Recovery sends [`Segment::adopt`] with
    /// its whole lineage instead: a lone entry cannot drop truncations the
    /// segment holds that the new epoch's recovery never saw.
    pub fn truncate(&mut self, epoch: Epoch, above: Lsn) -> Result<(), SegmentError> {
        if epoch < self.epoch {
            return Err(SegmentError::StaleEpoch {
                request: epoch,
                current: self.epoch,
            });
        }
        let mut lineage = self.history.clone();
        if !lineage.iter().any(|t| t.epoch == epoch) {
            lineage.push(Truncation { epoch, above });
        }
        self.learn_lineage(&lineage)
    }

    /// Learns the epoch history from a writer or a recovery: the whole
    /// lineage of its epoch (see the module docs). Refuses a sender whose
    /// newest epoch is older than the segment's, which a newer writer's
    /// recovery has fenced.
    pub fn adopt(&mut self, history: &[Truncation]) -> Result<(), SegmentError> {
        if let Some(newest) = history.iter().map(|t| t.epoch).max() {
            if newest < self.epoch {
                return Err(SegmentError::StaleEpoch {
                    request: newest,
                    current: self.epoch,
                });
            }
        }
        self.learn_lineage(history)
    }

    /// Takes `history` as the lineage of its newest epoch: a newer lineage
    /// replaces ours (raising the epoch and dropping every record it voids),
    /// an older one adds nothing, and one of our newest epoch must be ours.
    fn learn_lineage(&mut self, history: &[Truncation]) -> Result<(), SegmentError> {
        let mut lineage = history.to_vec();
        lineage.sort_by_key(|t| t.epoch);
        lineage.dedup();
        for pair in lineage.windows(2) {
            if pair[0].epoch == pair[1].epoch {
                return Err(SegmentError::Invalid(format!(
                    "epoch {} starts twice in one history",
                    pair[0].epoch
                )));
            }
        }
        for t in &lineage {
            if let Some(h) = self
                .history
                .iter()
                .find(|h| h.epoch == t.epoch && h.above != t.above)
            {
                return Err(SegmentError::Invalid(format!(
                    "epoch {} starts at {} here but at {} in the request",
                    t.epoch, h.above, t.above
                )));
            }
        }
        let Some(theirs) = lineage.last().map(|t| t.epoch) else {
            return Ok(());
        };
        match self.history.last().map(|t| t.epoch) {
            Some(ours) if theirs < ours => return Ok(()),
            Some(ours) if theirs == ours => {
                if lineage != self.history {
                    return Err(SegmentError::Invalid(format!(
                        "two lineages of epoch {theirs}: {:?} here, {lineage:?} in the request",
                        self.history
                    )));
                }
                return Ok(());
            }
            _ => {}
        }
        for t in lineage.iter().filter(|t| !self.history.contains(t)) {
            if t.above < self.horizon {
                // Recovery never truncates below a VDL every compute node could
                // read at, so this is a bug elsewhere or a forged request.
                return Err(SegmentError::Invalid(format!(
                    "truncation at {} below the GC horizon {}",
                    t.above, self.horizon
                )));
            }
        }
        // Entries the newer lineage lacks came from recoveries superseded
        // before its recovery could see them: they are not part of the volume.
        // The records they voided are gone here; gossip and repair bring back
        // the ones the volume kept.
        if self.history.iter().any(|h| !lineage.contains(h)) {
            self.history.retain(|h| lineage.contains(h));
            self.meta_dirty = true;
        }
        for t in &lineage {
            if self.history.contains(t) {
                continue;
            }
            let pos = self.history.partition_point(|h| h.epoch < t.epoch);
            self.history.insert(pos, *t);
            self.epoch = self.epoch.max(t.epoch);
            self.meta_dirty = true;
            self.apply_truncation(*t);
        }
        self.advance_scl();
        Ok(())
    }

    /// Whether this segment may serve reads at a read point of `epoch`: only
    /// once it has adopted that epoch's history. Until then it may hold
    /// records of an older epoch that the epoch's recovery voided (the
    /// segment was cut off while recovery ran, recovery never saw them, and
    /// their LSNs went to new records), and its SCL would cover them.
    pub fn check_reader_epoch(&self, epoch: Epoch) -> Result<(), SegmentError> {
        if self.history.iter().any(|t| t.epoch == epoch) {
            return Ok(());
        }
        if epoch < self.lineage_epoch() {
            // An epoch our lineage passed over: its recovery never completed
            // in the history this segment follows.
            return Err(SegmentError::StaleEpoch {
                request: epoch,
                current: self.epoch,
            });
        }
        Err(SegmentError::EpochBehind {
            request: epoch,
            current: self.epoch,
        })
    }

    /// Serves a page read at `lsn`. A damaged body found on the way is
    /// handled (see the module docs) and the read answers `NotYet`.
    pub fn get_page(&mut self, page: PageId, lsn: Lsn) -> Result<PageRead, SegmentError> {
        self.check_page(page)?;
        if lsn > self.scl || self.lost_pages.contains(&page) {
            return Ok(PageRead::NotYet { scl: self.scl });
        }
        let horizon = self
            .horizon
            .max(self.page_horizon.get(&page).copied().unwrap_or(Lsn::ZERO));
        if lsn < horizon {
            return Ok(PageRead::TooOld { horizon });
        }
        match self.reconstruct(page, lsn) {
            Ok(image) => Ok(PageRead::Page(Bytes::from(image.into_vec()))),
            Err(lost) => {
                self.note_lost(lost);
                Ok(PageRead::NotYet { scl: self.scl })
            }
        }
    }

    /// Recovery step 2: records above `after` (at most about `bytes_max` of
    /// them), the PG's tail at `min(after, scl)`, and whether more remain.
    pub fn read_log(&mut self, after: Lsn, bytes_max: usize) -> (Lsn, Vec<LogRecord>, bool) {
        let (records, more) = self.records_after(after, bytes_max);
        let bound = after.min(self.scl);
        let tail = self
            .last_record_at_or_below(bound)
            .unwrap_or(Lsn::ZERO)
            .max(if self.horizon <= bound {
                self.horizon_tail
            } else {
                Lsn::ZERO
            });
        (tail, records, more)
    }

    /// Answers a peer's gossip pull: records above its SCL.
    pub fn gossip_reply(&mut self, peer_scl: Lsn) -> (Vec<LogRecord>, bool) {
        self.records_after(peer_scl, GOSSIP_BYTES_MAX)
    }

    /// The newest epoch of the history this segment adopted (`Epoch(0)`
    /// before any): the epoch its own page reads from peers are made at.
    pub fn lineage_epoch(&self) -> Epoch {
        // The history is kept oldest first, as `learn_lineage` reads it.
        self.history.last().map_or(Epoch(0), |t| t.epoch)
    }

    /// The VDL hint and the PG's tail there, for gossip.
    pub fn hint(&self) -> (Lsn, Lsn) {
        (self.hint_vdl, self.hint_tail)
    }

    /// Takes a peer's gossip reply. Returns how many records it filled in.
    pub fn gossip_receive(
        &mut self,
        history: &[Truncation],
        hint_vdl: Lsn,
        hint_tail: Lsn,
        records: Vec<LogRecord>,
        now_ms: u64,
    ) -> Result<usize, SegmentError> {
        self.learn_lineage(history)?;
        let mut filled = 0;
        for r in records {
            self.check_record(&r)?;
            if self.is_valid(&r) && !self.log.contains_key(&r.lsn) && r.lsn > self.horizon {
                self.accept(detach(r), now_ms);
                filled += 1;
            }
        }
        if hint_vdl > self.hint_vdl && hint_tail <= hint_vdl {
            self.note_hint(hint_vdl, hint_tail);
            self.pending.push(LogEntry::Hint {
                vdl: hint_vdl,
                tail: hint_tail,
            });
        }
        self.advance_scl();
        Ok(filled)
    }

    /// Installs a page fetched from a peer at `lsn` (≤ SCL) in place of a lost
    /// image. Reads below `lsn` of that page answer `TooOld` from then on.
    pub fn repair_page(
        &mut self,
        page: PageId,
        lsn: Lsn,
        image: Bytes,
    ) -> Result<(), SegmentError> {
        self.check_page(page)?;
        if image.len() != PAGE_SIZE || lsn > self.scl {
            return Err(SegmentError::Invalid(
                "repair image of the wrong size or above the SCL".into(),
            ));
        }
        let image = Bytes::copy_from_slice(&image);
        self.changes += 1;
        let stored = self.keep_image(page, lsn, image);
        let versions = self.pages.entry(page).or_default();
        free_images(
            &*self.store,
            versions.drop_before(&lsn.next()).into_values(),
        );
        versions.insert(lsn, Version::Image(stored));
        self.unsettled.insert(page);
        self.page_horizon.insert(page, lsn);
        self.lost_pages.remove(&page);
        Ok(())
    }

    /// Coalesces long delta chains at or below the SCL into page images.
    /// Returns the number of images made. Images go to the store's page
    /// file; the log keeps the records, so nothing needs persisting.
    pub fn materialize(&mut self) -> usize {
        let plan = self.plan_materialize();
        let built = build_images(&*self.store, &plan);
        self.apply_materialize(plan, built)
    }

    /// Drops page versions below the minimum read point: each page keeps the
    /// chain that builds it as of the new horizon, one image and a few
    /// deltas (see [`Segment::plan_collect`]).
    /// Returns true if the horizon moved. A damaged body found on the way
    /// is handled and the horizon stays.
    pub fn collect(&mut self) -> bool {
        let Some(plan) = self.plan_collect() else {
            return false;
        };
        let built = build_images(&*self.store, &plan);
        self.apply_collect(plan, built)
    }

    /// What [`Segment::materialize`] would coalesce, as index data only: the
    /// images are built from it with [`build_images`], without the segment
    /// (so a caller can do the reads outside its lock), then applied with
    /// [`Segment::apply_materialize`].
    pub fn plan_materialize(&mut self) -> Coalesce {
        let scl = self.scl;
        let mut jobs = Vec::new();
        let mut keep = Vec::new();
        for page in std::mem::take(&mut self.chains) {
            let Some(versions) = self.pages.get(&page) else {
                continue;
            };
            // A lost page waits for its repair; a chain with records above
            // the SCL may lengthen when the SCL moves, without a new record.
            if self.lost_pages.contains(&page) || versions.range(scl.next()..).next().is_some() {
                keep.push(page);
                if self.lost_pages.contains(&page) {
                    continue;
                }
            }
            let mut deltas = 0;
            let mut last = None;
            for (lsn, v) in versions.range(..=scl).rev() {
                let delta = match v {
                    Version::Image(_) => false,
                    Version::Record { image } => !image,
                };
                if !delta {
                    break;
                }
                last.get_or_insert(*lsn);
                deltas += 1;
            }
            if deltas > DELTAS_PER_IMAGE_MAX {
                let at = last.expect("a chain with deltas has a last one");
                jobs.push(self.job(page, at, at));
                // Looked at again next time, in case the plan is dropped.
                keep.push(page);
            }
        }
        self.chains.extend(keep);
        Coalesce {
            target: None,
            change: self.changes,
            jobs,
            trims: Vec::new(),
            examined: Vec::new(),
        }
    }

    /// What [`Segment::collect`] would coalesce (see
    /// [`Segment::plan_materialize`]); `None` if the horizon would not move.
    ///
    /// Only pages with versions above the current horizon are looked at
    /// (`unsettled`). A page's chain at the new horizon is kept as it is
    /// when it is an image and at most [`DELTAS_PER_IMAGE_MAX`] deltas of
    /// at most [`KEPT_CHAIN_BYTES_MAX`] in all: only the versions before
    /// that image go. A longer chain, or one with no image, becomes one
    /// image at the horizon. So a page changed a few times between passes
    /// costs no image, where one image per changed page per pass was most
    /// of a busy node's work.
    pub fn plan_collect(&self) -> Option<Coalesce> {
        let target = self.pgmrpl.min(self.scl).min(self.hint_vdl);
        if target <= self.horizon {
            return None;
        }
        #[cfg(debug_assertions)]
        for (page, versions) in &self.pages {
            assert!(
                self.unsettled.contains(page)
                    || versions.range(self.horizon.next()..).next().is_none(),
                "page {page} has versions above the horizon but is not unsettled"
            );
        }
        let mut pages: Vec<PageId> = self.unsettled.iter().copied().collect();
        pages.sort();
        let mut jobs = Vec::new();
        let mut trims = Vec::new();
        for &page in &pages {
            let Some(versions) = self.pages.get(&page) else {
                continue;
            };
            let Some((&newest, _)) = versions.range(..=target).next_back() else {
                continue;
            };
            // The image a short enough chain starts from; none once the
            // chain is too long to keep (or has no image).
            let (mut deltas, mut bytes) = (0, 0);
            let mut base = None;
            for (lsn, v) in versions.range(..=target).rev() {
                if v.is_image() {
                    base = Some(*lsn);
                    break;
                }
                deltas += 1;
                bytes += self.record_len(*lsn);
                if deltas > DELTAS_PER_IMAGE_MAX || bytes > KEPT_CHAIN_BYTES_MAX {
                    break;
                }
            }
            match base {
                Some(base) if !self.lost_pages.contains(&page) => {
                    if versions.range(..base).next().is_some() {
                        trims.push((page, base));
                    }
                }
                _ => jobs.push(self.job(page, newest, target)),
            }
        }
        Some(Coalesce {
            target: Some(target),
            change: self.changes,
            jobs,
            trims,
            examined: pages,
        })
    }

    /// Installs the images of a materialize plan, unless the segment changed
    /// under it (then it is dropped, to be planned again). A damaged body
    /// found while building is handled here. Returns the images installed.
    pub fn apply_materialize(&mut self, plan: Coalesce, built: Result<Vec<Stored>, Lost>) -> usize {
        assert!(
            plan.target.is_none(),
            "a collect plan applied as a materialize"
        );
        let Some(images) = self.accept_built(&plan, built) else {
            return 0;
        };
        let made = images.len();
        for (job, stored) in plan.jobs.iter().zip(images) {
            let old = self
                .pages
                .get_mut(&job.page)
                .expect("page planned")
                .insert(job.at, Version::Image(stored));
            free_images(&*self.store, old);
            self.unsettled.insert(job.page);
        }
        self.changes += 1;
        made
    }

    /// Installs the images of a collect plan and moves the horizon, unless
    /// the segment changed under it. Returns true if the horizon moved.
    pub fn apply_collect(&mut self, plan: Coalesce, built: Result<Vec<Stored>, Lost>) -> bool {
        let target = plan
            .target
            .expect("a materialize plan applied as a collect");
        let Some(images) = self.accept_built(&plan, built) else {
            return false;
        };
        assert!(target > self.horizon, "horizon moved under a collect plan");
        for (job, stored) in plan.jobs.iter().zip(images) {
            let versions = self.pages.get_mut(&job.page).expect("page planned");
            free_images(
                &*self.store,
                versions.drop_before(&job.at.next()).into_values(),
            );
            versions.insert(job.at, Version::Image(stored));
        }
        for &(page, base) in &plan.trims {
            let versions = self.pages.get_mut(&page).expect("page planned");
            free_images(&*self.store, versions.drop_before(&base).into_values());
        }
        for page in &plan.examined {
            let above = self
                .pages
                .get(page)
                .is_some_and(|vs| vs.range(target.next()..).next().is_some());
            if !above {
                self.unsettled.remove(page);
            }
        }
        self.horizon_tail = self
            .last_record_at_or_below(target)
            .unwrap_or(Lsn::ZERO)
            .max(self.horizon_tail);
        self.horizon = target;
        self.changes += 1;
        self.demote();
        true
    }

    /// The images of a plan if they may be installed; frees them and handles
    /// the damage otherwise.
    fn accept_built(
        &mut self,
        plan: &Coalesce,
        built: Result<Vec<Stored>, Lost>,
    ) -> Option<Vec<Stored>> {
        match built {
            Ok(images) if plan.change == self.changes => {
                assert_eq!(images.len(), plan.jobs.len(), "one image per job");
                Some(images)
            }
            Ok(images) => {
                free_images(&*self.store, images.into_iter().map(Version::Image));
                None
            }
            // Damage in a chain that changed since the plan may be a slot
            // reused under it, not damage: plan again instead.
            Err(lost) if plan.change == self.changes => {
                self.note_lost(lost);
                None
            }
            Err(_) => None,
        }
    }

    /// The chain of `page` to coalesce into an image at `at`, read as of
    /// `read_at`: versions from the newest at or below `read_at` back to
    /// the first image.
    fn job(&self, page: PageId, at: Lsn, read_at: Lsn) -> Job {
        let mut chain = Vec::new();
        if let Some(versions) = self.pages.get(&page) {
            for (lsn, v) in versions.range(..=read_at).rev() {
                match v {
                    Version::Image(stored) => {
                        chain.push(Link::Image {
                            lsn: *lsn,
                            stored: stored.clone(),
                        });
                        break;
                    }
                    Version::Record { image } => {
                        let (epoch, body) = match self.log.get(lsn) {
                            Some(held) => (held.epoch, held.body.clone()),
                            None => {
                                let c = self.cold_record(*lsn);
                                (c.epoch, Body::Log(c.loc))
                            }
                        };
                        chain.push(Link::Record {
                            lsn: *lsn,
                            epoch,
                            body,
                        });
                        if *image {
                            break;
                        }
                    }
                }
            }
        }
        Job { page, at, chain }
    }

    /// Drops from the log the records at or below the horizon that arrived
    /// before `keep_since_ms` (the retention window). Returns how many left.
    /// The caller then rewrites the log from [`Segment::snapshot`].
    pub fn trim_log(&mut self, keep_since_ms: u64) -> usize {
        // A delta in its page's chain at the horizon stays, however old.
        let candidates: Vec<Lsn> = self
            .log
            .range(..=self.horizon)
            .filter(|(l, h)| h.received_ms < keep_since_ms && !self.is_chained_delta(h.page, **l))
            .map(|(l, _)| *l)
            .collect();
        let cold_before = self.cold.len();
        let mut cold_bytes = 0u64;
        let pages = &self.pages;
        self.cold.retain(|c| {
            let keep = c.received_ms >= keep_since_ms || chained_delta(pages, c.page, c.lsn);
            if !keep {
                cold_bytes += u64::from(c.len);
            }
            keep
        });
        self.log_bytes -= cold_bytes;
        let trimmed_cold = cold_before - self.cold.len();
        for lsn in &candidates {
            let held = self.log.remove(lsn).expect("listed");
            self.log_bytes -= u64::from(held.len);
            // A page whose image at the horizon is this record's keeps the
            // image, now apart from the record.
            if let Some(versions) = self.pages.get_mut(&held.page) {
                if let Some(v @ Version::Record { .. }) = versions.get_mut(lsn) {
                    assert!(held.image, "chained delta {lsn} trimmed");
                    *v = Version::Image(match held.body {
                        Body::Log(loc) => Stored::Log(loc),
                        Body::Mem(r) => match r.body {
                            RecordBody::Image(b) => Stored::Mem(b),
                            RecordBody::Delta { .. } | RecordBody::Deltas(_) => {
                                unreachable!("checked above")
                            }
                        },
                    });
                }
            }
        }
        candidates.len() + trimmed_cold
    }

    /// What a compacted log needs to rebuild this segment, in order: the
    /// horizon, each page's image there, the hint, and the records still
    /// held; bodies stay where they are. Only the index is walked.
    pub fn compaction_plan(&self) -> Vec<Planned> {
        let mut out = vec![Planned::Entry(LogEntry::Horizon {
            lsn: self.horizon,
            tail: self.horizon_tail,
        })];
        let mut pages: Vec<_> = self.pages.iter().collect();
        pages.sort_by_key(|(p, _)| **p);
        for (page, versions) in pages {
            // The image the page's chain at the horizon starts from; the
            // deltas after it are records, carried below.
            let base = versions
                .range(..=self.horizon)
                .rev()
                .find(|(_, v)| v.is_image());
            assert!(
                base.is_some() || versions.range(..=self.horizon).next().is_none(),
                "page {page} has versions at the horizon but no image"
            );
            match base {
                Some((lsn, Version::Image(image))) => out.push(Planned::Base {
                    page: *page,
                    lsn: *lsn,
                    image: image.clone(),
                }),
                Some((lsn, Version::Record { .. })) => {
                    let held = self
                        .log
                        .get(lsn)
                        .expect("record version without its record");
                    assert!(held.image, "base {lsn} of page {page} is a delta");
                    out.push(Planned::Base {
                        page: *page,
                        lsn: *lsn,
                        image: match &held.body {
                            Body::Log(loc) => Stored::Log(*loc),
                            Body::Mem(r) => match &r.body {
                                RecordBody::Image(b) => Stored::Mem(b.clone()),
                                RecordBody::Delta { .. } | RecordBody::Deltas(_) => {
                                    unreachable!("checked above")
                                }
                            },
                        },
                    });
                }
                None => {}
            }
        }
        out.push(Planned::Entry(LogEntry::Hint {
            vdl: self.hint_vdl,
            tail: self.hint_tail,
        }));
        for c in &self.cold {
            out.push(Planned::Record {
                lsn: c.lsn,
                epoch: c.epoch,
                loc: c.loc,
            });
        }
        for (lsn, held) in &self.log {
            out.push(match &held.body {
                Body::Mem(r) => Planned::Entry(LogEntry::Record {
                    received_ms: held.received_ms,
                    record: (**r).clone(),
                }),
                Body::Log(loc) => Planned::Record {
                    lsn: *lsn,
                    epoch: held.epoch,
                    loc: *loc,
                },
            });
        }
        out
    }

    /// Every entry a compacted log needs to rebuild this segment (the
    /// [`Segment::compaction_plan`] with bodies read back). A damaged body
    /// is handled and left out.
    pub fn snapshot(&mut self) -> Vec<LogEntry> {
        let plan = self.compaction_plan();
        let mut out = Vec::with_capacity(plan.len());
        for item in &plan {
            match read_planned(&*self.store, item) {
                Ok(e) => out.push(e),
                Err(lost) => self.note_lost(lost),
            }
        }
        out
    }

    /// After a compaction wrote `plan[i]` at `locs[i]` in the new log (now
    /// current): points the index at the new file. Items whose record or
    /// image changed since the plan was taken are left alone.
    pub fn relocate(&mut self, plan: &[Planned], locs: &[LogLoc]) {
        self.changes += 1;
        assert_eq!(plan.len(), locs.len(), "one location per planned entry");
        for (item, loc) in plan.iter().zip(locs) {
            match item {
                Planned::Record { lsn, epoch, .. }
                | Planned::Entry(LogEntry::Record {
                    record: LogRecord { lsn, epoch, .. },
                    ..
                }) => {
                    if let Some(held) = self.log.get_mut(lsn) {
                        if held.epoch == *epoch {
                            held.body = Body::Log(*loc);
                        }
                    } else if let Ok(i) = self.cold.binary_search_by_key(lsn, |c| c.lsn) {
                        if self.cold[i].epoch == *epoch {
                            self.cold[i].loc = *loc;
                        }
                    }
                }
                Planned::Base { page, lsn, image } => {
                    let Some(v) = self.pages.get_mut(page).and_then(|vs| vs.get_mut(lsn)) else {
                        continue;
                    };
                    if let Version::Image(now) = v {
                        if now == image {
                            let old = std::mem::replace(now, Stored::Log(*loc));
                            free_images(&*self.store, Some(Version::Image(old)));
                        }
                    }
                }
                Planned::Entry(_) => {}
            }
        }
    }

    /// The caller made the record at `lsn` durable at `loc`: its body leaves
    /// memory. Ignored if the record is gone or another one took its place.
    pub fn spilled(&mut self, lsn: Lsn, epoch: Epoch, loc: LogLoc) {
        if let Some(held) = self.log.get_mut(&lsn) {
            if held.epoch == epoch && matches!(held.body, Body::Mem(_)) {
                held.body = Body::Log(loc);
            }
        }
    }

    /// Handles something a read found damaged: a record becomes a hole (the
    /// SCL steps back below it until gossip refills it), an image makes its
    /// page lost until repaired from a peer.
    pub fn note_lost(&mut self, lost: Lost) {
        self.losses += 1;
        self.changes += 1;
        match lost {
            Lost::Record(lsn) => {
                let Some(held) = self.log.remove(&lsn) else {
                    // Below the horizon: only peers and compaction wanted it.
                    if let Ok(i) = self.cold.binary_search_by_key(&lsn, |c| c.lsn) {
                        let c = self.cold.remove(i);
                        self.log_bytes -= u64::from(c.len);
                        tracing::warn!(%lsn, "retained record body lost below the horizon; dropping it");
                        // A delta of its page's chain there: the page
                        // cannot be rebuilt until repaired from a peer.
                        if self.is_chained_delta(c.page, lsn) {
                            if let Some(versions) = self.pages.get_mut(&c.page) {
                                versions.remove(&lsn);
                            }
                            self.lost_pages.insert(c.page);
                        }
                    }
                    return;
                };
                self.log_bytes -= u64::from(held.len);
                if let Some(versions) = self.pages.get_mut(&held.page) {
                    if matches!(versions.get(&lsn), Some(Version::Record { .. })) {
                        versions.remove(&lsn);
                        // At or below the horizon that was part of the
                        // page's chain there: nothing else can stand in.
                        if lsn <= self.horizon {
                            self.lost_pages.insert(held.page);
                        }
                    }
                }
                // Below the horizon it was only kept for peers; above, this
                // replica no longer holds everything up to its SCL.
                if lsn > self.horizon && self.scl >= lsn {
                    self.scl = Lsn(lsn.0 - 1).max(self.horizon);
                }
                tracing::warn!(%lsn, page = %held.page, scl = %self.scl, "record body lost; gossip will refill it");
            }
            Lost::Image { page, lsn } => {
                if let Some(versions) = self.pages.get_mut(&page) {
                    if let Some(Version::Image(_)) = versions.get(&lsn) {
                        let old = versions.remove(&lsn);
                        free_images(&*self.store, old);
                        if let Some(h) = self.log.get(&lsn).filter(|h| h.page == page) {
                            versions.insert(lsn, Version::Record { image: h.image });
                        }
                        self.unsettled.insert(page);
                    }
                }
                self.lost_pages.insert(page);
                tracing::warn!(%page, %lsn, "page image lost; the page is unreadable until repaired from a peer");
            }
        }
    }

    /// Damaged reads handled since the last call.
    pub fn take_losses(&mut self) -> u64 {
        std::mem::take(&mut self.losses)
    }

    /// What the segment holds in memory. Walks the records above the horizon
    /// and the page versions (the compact records below it are counted by
    /// size): for tests and the maintenance tick, not per request.
    pub fn memory(&self) -> SegmentMemory {
        let mut m = SegmentMemory {
            records: self.log.len() + self.cold.len(),
            ..SegmentMemory::default()
        };
        for held in self.log.values() {
            if let Body::Mem(r) = &held.body {
                m.body_bytes += r.body.len();
            }
        }
        for versions in self.pages.values() {
            m.versions += versions.len();
            for v in versions.values() {
                if let Version::Image(Stored::Mem(b)) = v {
                    m.body_bytes += b.len();
                }
            }
        }
        // BTreeMap nodes hold up to 11 entries and are at least half full;
        // vectors grow by doubling, and the page map's table by half again.
        let per_record = std::mem::size_of::<(Lsn, Held)>() * 3 / 2;
        let per_version = std::mem::size_of::<(Lsn, Version)>() * 3 / 2;
        let per_page = std::mem::size_of::<(PageId, Versions)>() * 3 / 2;
        m.index_bytes = self.log.len() * per_record
            + self.cold.capacity() * std::mem::size_of::<Cold>()
            + m.versions * per_version
            + self.pages.len() * per_page;
        m
    }

    /// Pages of this PG that have any version.
    pub fn base_pages(&self) -> Vec<PageId> {
        let mut v: Vec<PageId> = self
            .pages
            .iter()
            .filter(|(_, vs)| vs.range(..=self.horizon).next().is_some())
            .map(|(p, _)| *p)
            .collect();
        v.sort();
        v
    }

    // ---- internals ----

    fn check_writer_epoch(&self, epoch: Epoch) -> Result<(), SegmentError> {
        if epoch < self.epoch {
            return Err(SegmentError::StaleEpoch {
                request: epoch,
                current: self.epoch,
            });
        }
        if epoch > self.epoch || !self.history.iter().any(|t| t.epoch == epoch) {
            return Err(SegmentError::EpochBehind {
                request: epoch,
                current: self.epoch,
            });
        }
        Ok(())
    }

    fn check_page(&self, page: PageId) -> Result<(), SegmentError> {
        if page.0 / self.meta.pages_per_pg != u64::from(self.meta.pg.0) {
            return Err(SegmentError::Invalid(format!(
                "page {page} is not in PG {}",
                self.meta.pg
            )));
        }
        Ok(())
    }

    fn check_record(&self, r: &LogRecord) -> Result<(), SegmentError> {
        self.check_page(r.page)
    }

    /// A record is valid unless a later epoch's recovery voided it.
    fn is_valid(&self, r: &LogRecord) -> bool {
        self.history
            .iter()
            .all(|t| t.epoch <= r.epoch || r.lsn <= t.above)
    }

    /// Takes a record whose body is its own (see [`detach`]).
    fn accept(&mut self, r: LogRecord, now_ms: u64) {
        if r.lsn <= self.horizon || !self.is_valid(&r) {
            return;
        }
        if let Some(held) = self.log.get(&r.lsn) {
            if held.epoch != r.epoch || held.page != r.page {
                // Two valid records at one LSN cannot exist: recovery allocates
                // above every LSN it saw and voids what it did not keep.
                tracing::error!(lsn = %r.lsn, held_epoch = %held.epoch, new_epoch = %r.epoch,
                    "conflicting records at one LSN; keeping the one held");
            }
            return;
        }
        self.pending.push(LogEntry::Record {
            received_ms: now_ms,
            record: r.clone(),
        });
        let lsn = r.lsn;
        self.insert(lsn, Held::of(r, now_ms, None));
    }

    fn insert(&mut self, lsn: Lsn, held: Held) {
        // At or below the horizon (only when a compacted log is loaded: a
        // live segment refuses such records) a record is a version only if
        // it follows its page's image there, as part of the chain a collect
        // kept (see `plan_collect`); an older one is kept for peers only.
        let chained = lsn > self.horizon
            || self
                .pages
                .get(&held.page)
                .is_some_and(|vs| vs.range(..lsn).next().is_some());
        if chained {
            let old = self
                .pages
                .entry(held.page)
                .or_default()
                .insert(lsn, Version::Record { image: held.image });
            free_images(&*self.store, old);
            self.chains.insert(held.page);
            if lsn > self.horizon {
                self.unsettled.insert(held.page);
            }
        }
        self.log_bytes += u64::from(held.len);
        if let Some(old) = self.log.insert(lsn, held) {
            self.log_bytes -= u64::from(old.len);
        }
    }

    /// Moves spilled records at or below the horizon from the front of `log`
    /// to `cold`. A page whose image there is such a record's keeps the
    /// image, now by location.
    fn demote(&mut self) {
        while let Some(entry) = self.log.first_entry() {
            if *entry.key() > self.horizon || !matches!(entry.get().body, Body::Log(_)) {
                break;
            }
            let (lsn, held) = entry.remove_entry();
            let Body::Log(loc) = held.body else {
                unreachable!("checked above");
            };
            // A delta still a version is part of its page's chain at the
            // horizon (see `plan_collect`): it stays one, its body now
            // found through `cold`.
            if let Some(v @ Version::Record { image: true }) = self
                .pages
                .get_mut(&held.page)
                .and_then(|vs| vs.get_mut(&lsn))
            {
                *v = Version::Image(Stored::Log(loc));
            }
            assert!(
                self.cold.last().is_none_or(|c| c.lsn < lsn),
                "cold records out of order at {lsn}"
            );
            self.cold.push(Cold {
                lsn,
                epoch: held.epoch,
                page: held.page,
                received_ms: held.received_ms,
                len: held.len,
                loc,
            });
        }
    }

    /// Encoded length of the record at `lsn`, which a page version names.
    fn record_len(&self, lsn: Lsn) -> usize {
        let len = match self.log.get(&lsn) {
            Some(held) => held.len,
            None => self.cold_record(lsn).len,
        };
        len as usize
    }

    /// The record demoted to `cold` at `lsn`, which the index names.
    fn cold_record(&self, lsn: Lsn) -> Cold {
        let i = self
            .cold
            .binary_search_by_key(&lsn, |c| c.lsn)
            .expect("a record the index names is in log or cold");
        self.cold[i]
    }

    /// True if the record at `lsn` of `page` is a delta in the page's chain.
    fn is_chained_delta(&self, page: PageId, lsn: Lsn) -> bool {
        chained_delta(&self.pages, page, lsn)
    }

    /// The highest record held at or below `bound`.
    fn last_record_at_or_below(&self, bound: Lsn) -> Option<Lsn> {
        self.log
            .range(..=bound)
            .next_back()
            .map(|(l, _)| *l)
            .or_else(|| {
                let n = self.cold.partition_point(|c| c.lsn <= bound);
                n.checked_sub(1).map(|i| self.cold[i].lsn)
            })
    }

    /// Keeps a new page image: in the store if it takes it, else in memory.
    fn keep_image(&self, page: PageId, lsn: Lsn, image: Bytes) -> Stored {
        match self.store.put_image(page, lsn, &image) {
            Some(slot) => Stored::Slot(slot),
            None => Stored::Mem(image),
        }
    }

    fn note_hint(&mut self, vdl: Lsn, tail: Lsn) {
        if vdl > self.hint_vdl {
            self.hint_vdl = vdl;
            self.hint_tail = tail;
        }
    }

    fn apply_truncation(&mut self, t: Truncation) {
        self.changes += 1;
        let doomed: Vec<Lsn> = self
            .log
            .range(t.above.next()..)
            .filter(|(_, h)| h.epoch < t.epoch)
            .map(|(l, _)| *l)
            .collect();
        for lsn in doomed {
            let held = self.log.remove(&lsn).expect("listed");
            self.log_bytes -= u64::from(held.len);
        }
        // Page versions above the truncation point may include voided records
        // (directly or folded into an image): rebuild them from the log.
        let mut above: HashMap<PageId, Vec<(Lsn, bool)>> = HashMap::new();
        for (lsn, held) in self.log.range(t.above.next()..) {
            above.entry(held.page).or_default().push((*lsn, held.image));
        }
        for (page, versions) in self.pages.iter_mut() {
            if versions.range(t.above.next()..).next().is_none() {
                continue;
            }
            let dropped = versions.split_off(&t.above.next());
            free_images(&*self.store, dropped.into_values());
            for &(lsn, image) in above.get(page).into_iter().flatten() {
                versions.insert(lsn, Version::Record { image });
            }
            self.chains.insert(*page);
            self.unsettled.insert(*page);
        }
        if self.scl > t.above {
            self.scl = t.above;
        }
        if self.hint_vdl > t.above {
            self.hint_vdl = t.above;
            self.hint_tail = self
                .last_record_at_or_below(t.above)
                .unwrap_or(self.horizon_tail);
        }
    }

    fn advance_scl(&mut self) {
        loop {
            let mut moved = false;
            while let Some((lsn, held)) = self.log.range(self.scl.next()..).next() {
                if held.pg_prev_lsn <= self.scl {
                    self.scl = *lsn;
                    moved = true;
                } else {
                    break;
                }
            }
            if self.hint_tail <= self.scl && self.hint_vdl > self.scl {
                self.scl = self.hint_vdl;
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    /// The record at `lsn` (which the index holds), read back if spilled.
    fn record(&self, lsn: Lsn) -> Result<LogRecord, Lost> {
        let Some(held) = self.log.get(&lsn) else {
            let c = self.cold_record(lsn);
            return record_from(&*self.store, c.loc, lsn, c.epoch).map(|(_, r)| r);
        };
        match &held.body {
            Body::Mem(r) => Ok((**r).clone()),
            Body::Log(loc) => {
                let (_, r) = record_from(&*self.store, *loc, lsn, held.epoch)?;
                if r.page != held.page || r.pg_prev_lsn != held.pg_prev_lsn {
                    tracing::error!(%lsn, "record read back differs from its index entry; treating it as lost");
                    return Err(Lost::Record(lsn));
                }
                Ok(r)
            }
        }
    }

    fn records_after(&mut self, after: Lsn, bytes_max: usize) -> (Vec<LogRecord>, bool) {
        let mut lsns = Vec::new();
        let mut bytes = 0;
        let mut more = false;
        let first_cold = self.cold.partition_point(|c| c.lsn <= after);
        let cold = self.cold[first_cold..].iter().map(|c| (c.lsn, c.len));
        let hot = self.log.range(after.next()..).map(|(l, h)| (*l, h.len));
        for (lsn, len) in cold.chain(hot) {
            let len = len as usize;
            if !lsns.is_empty() && bytes + len > bytes_max {
                more = true;
                break;
            }
            bytes += len;
            lsns.push(lsn);
        }
        let mut out = Vec::with_capacity(lsns.len());
        for lsn in lsns {
            match self.record(lsn) {
                Ok(r) => out.push(r),
                // Not served: the record is now a hole here, and the peer
                // gets it from another replica.
                Err(lost) => self.note_lost(lost),
            }
        }
        (out, more)
    }

    fn reconstruct(&self, page: PageId, lsn: Lsn) -> Result<Box<[u8]>, Lost> {
        let Some(versions) = self.pages.get(&page) else {
            return Ok(vec![0u8; PAGE_SIZE].into_boxed_slice());
        };
        let mut chain: Vec<RecordBody> = Vec::new();
        let mut base: Option<Bytes> = None;
        for (at, v) in versions.range(..=lsn).rev() {
            match v {
                Version::Image(stored) => {
                    base = Some(image_from(&*self.store, page, *at, stored)?);
                    break;
                }
                Version::Record { .. } => match self.record(*at)?.body {
                    RecordBody::Image(img) => {
                        base = Some(img);
                        break;
                    }
                    body => chain.push(body),
                },
            }
        }
        chain.reverse();
        Ok(reconstruct_page(base.as_deref(), chain.iter()))
    }
}

/// True if the record at `lsn` of `page` is a delta among the page's
/// versions (apart from [`Segment`] so a walk of its other fields may ask).
fn chained_delta(pages: &HashMap<PageId, Versions>, page: PageId, lsn: Lsn) -> bool {
    matches!(
        pages.get(&page).and_then(|vs| vs.get(&lsn)),
        Some(Version::Record { image: false })
    )
}

/// Returns the page-file slots of dropped versions to the store.
fn free_images(store: &dyn BodyStore, dropped: impl IntoIterator<Item = Version>) {
    for v in dropped {
        if let Version::Image(Stored::Slot(slot)) = v {
            store.free_image(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{NodeId, FLAG_CPL};
    use proptest::prelude::*;

    const PAGES: u64 = 16;

    fn meta() -> SegmentMeta {
        SegmentMeta {
            pg: PgId(0),
            pages_per_pg: PAGES,
            replicas: vec![Replica {
                node: NodeId(1),
                addr: "a:1".into(),
                az: "az-a".into(),
            }],
        }
    }

    fn fresh() -> Segment {
        let mut s = Segment::create(meta(), Epoch(1));
        s.adopt(&[Truncation {
            epoch: Epoch(1),
            above: Lsn::ZERO,
        }])
        .unwrap();
        s
    }

    fn delta(lsn: u64, prev: u64, page: u64, off: u16, byte: u8) -> LogRecord {
        LogRecord {
            lsn: Lsn(lsn),
            epoch: Epoch(1),
            page: PageId(page),
            pg_prev_lsn: Lsn(prev),
            vol_prev_lsn: Lsn(lsn - 1),
            flags: FLAG_CPL,
            body: RecordBody::Delta {
                offset: off,
                bytes: Bytes::from(vec![byte; 4]),
            },
        }
    }

    #[test]
    fn scl_stops_at_a_hole_and_closes_when_it_fills() {
        let mut s = fresh();
        s.append(
            Epoch(1),
            Lsn(0),
            Lsn(0),
            Lsn(0),
            vec![delta(1, 0, 1, 0, 1), delta(3, 2, 1, 0, 3)],
            0,
        )
        .unwrap();
        assert_eq!(s.scl(), Lsn(1));
        assert_eq!(
            s.get_page(PageId(1), Lsn(3)).unwrap(),
            PageRead::NotYet { scl: Lsn(1) }
        );
        s.append(
            Epoch(1),
            Lsn(0),
            Lsn(0),
            Lsn(0),
            vec![delta(2, 1, 2, 0, 2)],
            0,
        )
        .unwrap();
        assert_eq!(s.scl(), Lsn(3));
        // A VDL hint moves the SCL past LSNs that belong to other PGs.
        s.append(Epoch(1), Lsn(10), Lsn(3), Lsn(0), vec![], 0)
            .unwrap();
        assert_eq!(s.scl(), Lsn(10));
    }

    #[test]
    fn stale_epoch_and_voided_records_are_refused() {
        let mut s = fresh();
        s.append(
            Epoch(1),
            Lsn(0),
            Lsn(0),
            Lsn(0),
            vec![delta(1, 0, 1, 0, 1), delta(2, 1, 1, 0, 2)],
            0,
        )
        .unwrap();
        s.set_epoch(Epoch(2)).unwrap();
        assert!(matches!(
            s.append(
                Epoch(1),
                Lsn(0),
                Lsn(0),
                Lsn(0),
                vec![delta(3, 2, 1, 0, 3)],
                0
            ),
            Err(SegmentError::StaleEpoch { .. })
        ));
        s.truncate(Epoch(2), Lsn(1)).unwrap();
        assert_eq!(s.scl(), Lsn(1));
        assert_eq!(s.max_lsn(), Lsn(1));
        // Gossip from a stale peer cannot bring the voided record back.
        let filled = s
            .gossip_receive(&[], Lsn(0), Lsn(0), vec![delta(2, 1, 1, 0, 2)], 0)
            .unwrap();
        assert_eq!(filled, 0);
        match s.get_page(PageId(1), Lsn(1)).unwrap() {
            PageRead::Page(p) => assert_eq!(&p[..4], &[1, 1, 1, 1]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_are_served_only_at_epochs_of_the_adopted_history() {
        let mut s = fresh();
        s.append(
            Epoch(1),
            Lsn(0),
            Lsn(0),
            Lsn(0),
            vec![delta(1, 0, 1, 0, 1), delta(2, 1, 1, 0, 2)],
            0,
        )
        .unwrap();
        assert_eq!(s.check_reader_epoch(Epoch(1)), Ok(()));
        // Recovery of epoch 3 raised the epoch here but its history has not
        // come: record 2 may be void under it, so no read at epoch 3 yet.
        s.set_epoch(Epoch(3)).unwrap();
        assert!(matches!(
            s.check_reader_epoch(Epoch(3)),
            Err(SegmentError::EpochBehind { .. })
        ));
        s.adopt(&[t(1, 0), t(3, 1)]).unwrap();
        assert_eq!(s.check_reader_epoch(Epoch(3)), Ok(()));
        assert_eq!(s.check_reader_epoch(Epoch(1)), Ok(()));
        // Epoch 2 never opened in this lineage: a reader of it is refused.
        assert!(matches!(
            s.check_reader_epoch(Epoch(2)),
            Err(SegmentError::StaleEpoch { .. })
        ));
        assert_eq!(s.lineage_epoch(), Epoch(3));
    }

    fn t(epoch: u64, above: u64) -> Truncation {
        Truncation {
            epoch: Epoch(epoch),
            above: Lsn(above),
        }
    }

    /// Found by the simulation: a recovery of epoch 2 truncated this replica
    /// at 1 and was superseded; epoch 3's recovery never saw that truncation
    /// and kept records 2 and 3. Its lineage must replace ours, or the stale
    /// entry voids records the volume kept here and, by gossip, everywhere.
    #[test]
    fn newer_lineage_drops_a_superseded_truncation() {
        let mut s = fresh();
        let kept = vec![delta(2, 1, 1, 0, 2), delta(3, 2, 1, 0, 3)];
        let mut all = vec![delta(1, 0, 1, 0, 1)];
        all.extend(kept.clone());
        s.append(Epoch(1), Lsn(0), Lsn(0), Lsn(0), all, 0).unwrap();
        s.adopt(&[t(1, 0), t(2, 1)]).unwrap();
        assert_eq!(s.max_lsn(), Lsn(1));

        s.adopt(&[t(1, 0), t(3, 3)]).unwrap();
        assert_eq!(s.history(), &[t(1, 0), t(3, 3)]);
        assert_eq!(s.epoch(), Epoch(3));
        let filled = s
            .gossip_receive(&[t(1, 0), t(3, 3)], Lsn(3), Lsn(3), kept, 0)
            .unwrap();
        assert_eq!(filled, 2);
        assert_eq!(s.scl(), Lsn(3));

        // A stale peer's older lineage cannot bring epoch 2 back, and a sender
        // older than the segment's epoch is fenced.
        s.gossip_receive(&[t(1, 0), t(2, 1)], Lsn(0), Lsn(0), vec![], 0)
            .unwrap();
        assert_eq!(s.history(), &[t(1, 0), t(3, 3)]);
        assert_eq!(s.max_lsn(), Lsn(3));
        assert!(matches!(
            s.adopt(&[t(1, 0), t(2, 1)]),
            Err(SegmentError::StaleEpoch { .. })
        ));
        assert!(matches!(
            s.gossip_receive(&[t(1, 0), t(3, 2)], Lsn(0), Lsn(0), vec![], 0),
            Err(SegmentError::Invalid(_))
        ));
    }

    #[test]
    fn restore_rebuilds_from_pending_entries() {
        let mut s = fresh();
        s.append(
            Epoch(1),
            Lsn(2),
            Lsn(2),
            Lsn(0),
            vec![delta(1, 0, 1, 0, 1), delta(2, 1, 3, 8, 2)],
            7,
        )
        .unwrap();
        let entries = s.take_pending();
        let mut r = Segment::restore(s.durable_meta(), entries, []);
        assert_eq!(r.scl(), s.scl());
        for p in 0..PAGES {
            assert_eq!(r.get_page(PageId(p), Lsn(2)), s.get_page(PageId(p), Lsn(2)));
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write {
            page: u64,
            off: u16,
            byte: u8,
            image: bool,
        },
        Materialize,
        Collect {
            lag: u64,
        },
        Compact,
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..PAGES, 0u16..(PAGE_SIZE as u16 - 4), any::<u8>(), prop::bool::weighted(0.05))
                .prop_map(|(page, off, byte, image)| Op::Write { page, off, byte, image }),
            1 => Just(Op::Materialize),
            1 => (0u64..10).prop_map(|lag| Op::Collect { lag }),
            1 => Just(Op::Compact),
        ]
    }

    /// One operation on a page's versions, for the model test below.
    #[derive(Debug, Clone)]
    enum VersionsOp {
        Insert(u64, bool),
        Remove(u64),
        SplitOff(u64),
        DropBefore(u64),
        Range(u64, u64),
    }

    fn arb_versions_op() -> impl Strategy<Value = VersionsOp> {
        prop_oneof![
            4 => (0u64..64, any::<bool>()).prop_map(|(l, i)| VersionsOp::Insert(l, i)),
            1 => (0u64..64).prop_map(VersionsOp::Remove),
            1 => (0u64..64).prop_map(VersionsOp::SplitOff),
            1 => (0u64..64).prop_map(VersionsOp::DropBefore),
            2 => (0u64..64, 0u64..64).prop_map(|(a, b)| VersionsOp::Range(a, b)),
        ]
    }

    fn image_flag(v: &Version) -> Option<bool> {
        match v {
            Version::Record { image } => Some(*image),
            Version::Image(_) => None,
        }
    }

    fn lsns<'a>(it: impl Iterator<Item = (&'a Lsn, &'a Version)>) -> Vec<Lsn> {
        it.map(|(l, _)| *l).collect()
    }

    proptest! {
        /// A page's version vector answers what a `BTreeMap` would.
        #[test]
        fn versions_match_a_btreemap(ops in proptest::collection::vec(arb_versions_op(), 1..200)) {
            let mut v = Versions::default();
            let mut m: BTreeMap<Lsn, bool> = BTreeMap::new();
            for op in ops {
                match op {
                    VersionsOp::Insert(l, image) => {
                        let old = v.insert(Lsn(l), Version::Record { image });
                        prop_assert_eq!(old.as_ref().and_then(image_flag), m.insert(Lsn(l), image));
                    }
                    VersionsOp::Remove(l) => {
                        let old = v.remove(&Lsn(l));
                        prop_assert_eq!(old.as_ref().and_then(image_flag), m.remove(&Lsn(l)));
                    }
                    VersionsOp::SplitOff(l) => {
                        let got: Vec<(Lsn, Option<bool>)> =
                            v.split_off(&Lsn(l)).0.iter().map(|(l, x)| (*l, image_flag(x))).collect();
                        let want: Vec<(Lsn, Option<bool>)> =
                            m.split_off(&Lsn(l)).into_iter().map(|(l, x)| (l, Some(x))).collect();
                        prop_assert_eq!(got, want);
                    }
                    VersionsOp::DropBefore(l) => {
                        let got: Vec<(Lsn, Option<bool>)> =
                            v.drop_before(&Lsn(l)).0.iter().map(|(l, x)| (*l, image_flag(x))).collect();
                        let kept = m.split_off(&Lsn(l));
                        let want: Vec<(Lsn, Option<bool>)> =
                            std::mem::replace(&mut m, kept).into_iter().map(|(l, x)| (l, Some(x))).collect();
                        prop_assert_eq!(got, want);
                    }
                    VersionsOp::Range(a, b) => {
                        let (a, b) = (Lsn(a.min(b)), Lsn(a.max(b)));
                        prop_assert_eq!(lsns(v.range(a..=b)), m.range(a..=b).map(|(l, _)| *l).collect::<Vec<_>>());
                        prop_assert_eq!(lsns(v.range(..b).rev()), m.range(..b).rev().map(|(l, _)| *l).collect::<Vec<_>>());
                        prop_assert_eq!(lsns(v.range(a.next()..)), m.range(a.next()..).map(|(l, _)| *l).collect::<Vec<_>>());
                    }
                }
                prop_assert_eq!(v.len(), m.len());
                for (l, image) in &m {
                    prop_assert_eq!(v.get(l).and_then(image_flag), Some(*image));
                }
            }
        }
    }

    proptest! {
        /// Page reconstruction (images, deltas, coalescing, GC, compaction and
        /// restore) equals a model that keeps every page version in full.
        #[test]
        fn pages_match_a_full_copy_model(ops in proptest::collection::vec(arb_op(), 1..120)) {
            let mut s = fresh();
            let mut model: Vec<Vec<Vec<u8>>> = vec![vec![vec![0u8; PAGE_SIZE]]; PAGES as usize];
            // model[page][lsn] = image of page after lsn (index 0 = zeros)
            let mut lsn = 0u64;
            for op in ops {
                match op {
                    Op::Write { page, off, byte, image } => {
                        lsn += 1;
                        let body = if image {
                            RecordBody::Image(Bytes::from(vec![byte; PAGE_SIZE]))
                        } else {
                            RecordBody::Delta { offset: off, bytes: Bytes::from(vec![byte; 4]) }
                        };
                        let mut rec = delta(lsn, lsn - 1, page, 0, 0);
                        rec.body = body.clone();
                        s.append(Epoch(1), Lsn(lsn - 1), Lsn(lsn - 1), Lsn(0), vec![rec], 0).unwrap();
                        for (p, hist) in model.iter_mut().enumerate() {
                            let mut next = hist.last().unwrap().clone();
                            if p as u64 == page { body.apply(&mut next); }
                            hist.push(next);
                        }
                    }
                    Op::Materialize => { s.materialize(); }
                    Op::Collect { lag } => {
                        let to = lsn.saturating_sub(lag);
                        s.append(Epoch(1), Lsn(lsn), Lsn(lsn), Lsn(to), vec![], 0).unwrap();
                        s.collect();
                    }
                    Op::Compact => {
                        s.trim_log(1);
                        let entries = s.snapshot();
                        let bases = s.base_pages();
                        s = Segment::restore(s.durable_meta(), entries, []);
                        prop_assert_eq!(bases, s.base_pages());
                    }
                }
                for p in 0..PAGES {
                    for at in [lsn, lsn.saturating_sub(1), lsn.saturating_sub(5)] {
                        match s.get_page(PageId(p), Lsn(at)).unwrap() {
                            PageRead::Page(img) => prop_assert_eq!(&img[..], &model[p as usize][at as usize][..]),
                            PageRead::TooOld { horizon } => prop_assert!(Lsn(at) < horizon),
                            PageRead::NotYet { scl } => prop_assert!(false, "scl {scl} below {at}"),
                        }
                    }
                }
            }
        }
    }
}

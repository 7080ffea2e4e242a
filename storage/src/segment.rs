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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;

use crate::types::{reconstruct_page, Epoch, LogRecord, Lsn, PageId, PgId, RecordBody, PAGE_SIZE};
use crate::wire::{Replica, Truncation};

/// A page chain longer than this many deltas past its last image is coalesced
/// into a new image by [`Segment::materialize`].
pub const DELTAS_PER_IMAGE_MAX: usize = 16;
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

#[derive(Clone, Debug)]
enum Version {
    Delta(RecordBody),
    Image(Bytes),
}

#[derive(Clone, Debug)]
struct Held {
    received_ms: u64,
    record: LogRecord,
}

/// A segment replica's state. See the module docs.
#[derive(Debug)]
pub struct Segment {
    meta: SegmentMeta,
    epoch: Epoch,
    history: Vec<Truncation>,
    meta_dirty: bool,
    log: BTreeMap<Lsn, Held>,
    log_bytes: u64,
    scl: Lsn,
    hint_vdl: Lsn,
    hint_tail: Lsn,
    pgmrpl: Lsn,
    horizon: Lsn,
    /// Highest record of the PG at or below `horizon` (records there may have
    /// left the log).
    horizon_tail: Lsn,
    pages: HashMap<PageId, BTreeMap<Lsn, Version>>,
    /// Pages whose stored image failed its checksum: unreadable until repaired.
    lost_pages: BTreeSet<PageId>,
    /// Pages repaired from a peer: versions below their LSN are gone.
    page_horizon: HashMap<PageId, Lsn>,
    pending: Vec<LogEntry>,
}

impl Segment {
    /// A new, empty segment.
    pub fn create(meta: SegmentMeta, epoch: Epoch) -> Segment {
        assert!(meta.pages_per_pg > 0);
        Segment {
            meta,
            epoch,
            history: Vec::new(),
            meta_dirty: true,
            log: BTreeMap::new(),
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
        }
    }

    /// Rebuilds a segment from its durable meta and the log entries that
    /// survived (in file order). `lost_pages` are pages whose `Base` entry
    /// failed its checksum; they stay unreadable until [`Segment::repair_page`].
    pub fn restore(
        durable: DurableMeta,
        entries: impl IntoIterator<Item = LogEntry>,
        lost_pages: impl IntoIterator<Item = PageId>,
    ) -> Segment {
        let mut seg = Segment::create(durable.meta, durable.epoch);
        seg.history = durable.history;
        seg.meta_dirty = false;
        for entry in entries {
            match entry {
                LogEntry::Record {
                    received_ms,
                    record,
                } => {
                    // Validity is rechecked: the history may have grown after
                    // the record was written (a truncation logged in meta).
                    if seg.is_valid(&record) {
                        seg.insert(record, received_ms);
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
                    seg.pages
                        .entry(page)
                        .or_default()
                        .insert(lsn, Version::Image(image));
                }
            }
        }
        seg.lost_pages.extend(lost_pages);
        seg.pending.clear();
        seg.advance_scl();
        seg
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
        self.log.len()
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
        for r in records {
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

    /// Serves a page read at `lsn`.
    pub fn get_page(&self, page: PageId, lsn: Lsn) -> Result<PageRead, SegmentError> {
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
        Ok(PageRead::Page(Bytes::from(
            self.reconstruct(page, lsn).into_vec(),
        )))
    }

    /// Recovery step 2: records above `after` (at most about `bytes_max` of
    /// them), the PG's tail at `min(after, scl)`, and whether more remain.
    pub fn read_log(&self, after: Lsn, bytes_max: usize) -> (Lsn, Vec<LogRecord>, bool) {
        let bound = after.min(self.scl);
        let tail = self
            .log
            .range(..=bound)
            .next_back()
            .map(|(l, _)| *l)
            .unwrap_or(Lsn::ZERO)
            .max(if self.horizon <= bound {
                self.horizon_tail
            } else {
                Lsn::ZERO
            });
        let (records, more) = self.records_after(after, bytes_max);
        (tail, records, more)
    }

    /// Answers a peer's gossip pull: records above its SCL.
    pub fn gossip_reply(&self, peer_scl: Lsn) -> (Vec<LogRecord>, bool) {
        self.records_after(peer_scl, GOSSIP_BYTES_MAX)
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
                self.accept(r, now_ms);
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
        let versions = self.pages.entry(page).or_default();
        let newer = versions.split_off(&lsn.next());
        *versions = newer;
        versions.insert(lsn, Version::Image(image));
        self.page_horizon.insert(page, lsn);
        self.lost_pages.remove(&page);
        Ok(())
    }

    /// Coalesces long delta chains at or below the SCL into page images.
    /// Returns the number of images made. Images live in memory; the log
    /// keeps the records, so nothing needs persisting.
    pub fn materialize(&mut self) -> usize {
        let scl = self.scl;
        let mut todo = Vec::new();
        for (page, versions) in &self.pages {
            let mut deltas = 0;
            let mut last = None;
            for (lsn, v) in versions.range(..=scl).rev() {
                if matches!(v, Version::Image(_)) {
                    break;
                }
                last.get_or_insert(*lsn);
                deltas += 1;
            }
            if deltas > DELTAS_PER_IMAGE_MAX {
                todo.push((*page, last.expect("a chain with deltas has a last one")));
            }
        }
        for (page, lsn) in &todo {
            let image = Bytes::from(self.reconstruct(*page, *lsn).into_vec());
            self.pages
                .get_mut(page)
                .expect("page listed above")
                .insert(*lsn, Version::Image(image));
        }
        todo.len()
    }

    /// Drops page versions below the minimum read point: each page keeps one
    /// image as of the new horizon. Returns true if the horizon moved.
    pub fn collect(&mut self) -> bool {
        let target = self.pgmrpl.min(self.scl).min(self.hint_vdl);
        if target <= self.horizon {
            return false;
        }
        let pages: Vec<PageId> = self.pages.keys().copied().collect();
        for page in pages {
            let versions = self.pages.get(&page).expect("listed");
            let Some((&newest, _)) = versions.range(..=target).next_back() else {
                continue;
            };
            let only_one = versions.range(..=target).nth(1).is_none();
            if only_one && matches!(versions.get(&newest), Some(Version::Image(_))) {
                continue;
            }
            let image = Bytes::from(self.reconstruct(page, target).into_vec());
            let versions = self.pages.get_mut(&page).expect("listed");
            let keep = versions.split_off(&newest.next());
            *versions = keep;
            versions.insert(newest, Version::Image(image));
        }
        self.horizon_tail = self
            .log
            .range(..=target)
            .next_back()
            .map(|(l, _)| *l)
            .unwrap_or(Lsn::ZERO)
            .max(self.horizon_tail);
        self.horizon = target;
        true
    }

    /// Drops from the log the records at or below the horizon that arrived
    /// before `keep_since_ms` (the retention window). Returns how many left.
    /// The caller then rewrites the log from [`Segment::snapshot`].
    pub fn trim_log(&mut self, keep_since_ms: u64) -> usize {
        let candidates: Vec<Lsn> = self
            .log
            .range(..=self.horizon)
            .filter(|(_, h)| h.received_ms < keep_since_ms)
            .map(|(l, _)| *l)
            .collect();
        for lsn in &candidates {
            let held = self.log.remove(lsn).expect("listed");
            self.log_bytes -= held.record.encoded_len() as u64;
        }
        candidates.len()
    }

    /// Every entry a compacted log needs to rebuild this segment: the horizon,
    /// each page's image there, the hint, and the records still held.
    pub fn snapshot(&self) -> Vec<LogEntry> {
        let mut out = vec![LogEntry::Horizon {
            lsn: self.horizon,
            tail: self.horizon_tail,
        }];
        let mut pages: Vec<_> = self.pages.iter().collect();
        pages.sort_by_key(|(p, _)| **p);
        for (page, versions) in pages {
            if let Some((lsn, Version::Image(image))) = versions.range(..=self.horizon).next_back()
            {
                out.push(LogEntry::Base {
                    page: *page,
                    lsn: *lsn,
                    image: image.clone(),
                });
            } else {
                debug_assert!(
                    versions.range(..=self.horizon).next().is_none(),
                    "page {page} has deltas below the horizon without an image"
                );
            }
        }
        out.push(LogEntry::Hint {
            vdl: self.hint_vdl,
            tail: self.hint_tail,
        });
        for held in self.log.values() {
            out.push(LogEntry::Record {
                received_ms: held.received_ms,
                record: held.record.clone(),
            });
        }
        out
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

    fn accept(&mut self, r: LogRecord, now_ms: u64) {
        if r.lsn <= self.horizon || !self.is_valid(&r) {
            return;
        }
        if let Some(held) = self.log.get(&r.lsn) {
            if held.record != r {
                // Two valid records at one LSN cannot exist: recovery allocates
                // above every LSN it saw and voids what it did not keep.
                tracing::error!(lsn = %r.lsn, held_epoch = %held.record.epoch, new_epoch = %r.epoch,
                    "conflicting records at one LSN; keeping the one held");
            }
            return;
        }
        self.pending.push(LogEntry::Record {
            received_ms: now_ms,
            record: r.clone(),
        });
        self.insert(r, now_ms);
    }

    fn insert(&mut self, r: LogRecord, received_ms: u64) {
        if r.lsn > self.horizon {
            let version = match &r.body {
                RecordBody::Image(b) => Version::Image(b.clone()),
                body => Version::Delta(body.clone()),
            };
            self.pages.entry(r.page).or_default().insert(r.lsn, version);
        }
        self.log_bytes += r.encoded_len() as u64;
        self.log.insert(
            r.lsn,
            Held {
                received_ms,
                record: r,
            },
        );
    }

    fn note_hint(&mut self, vdl: Lsn, tail: Lsn) {
        if vdl > self.hint_vdl {
            self.hint_vdl = vdl;
            self.hint_tail = tail;
        }
    }

    fn apply_truncation(&mut self, t: Truncation) {
        let doomed: Vec<Lsn> = self
            .log
            .range(t.above.next()..)
            .filter(|(_, h)| h.record.epoch < t.epoch)
            .map(|(l, _)| *l)
            .collect();
        for lsn in doomed {
            let held = self.log.remove(&lsn).expect("listed");
            self.log_bytes -= held.record.encoded_len() as u64;
        }
        // Page versions above the truncation point may include voided records
        // (directly or folded into an image): rebuild them from the log.
        for (page, versions) in self.pages.iter_mut() {
            if versions.range(t.above.next()..).next().is_none() {
                continue;
            }
            versions.split_off(&t.above.next());
            for (lsn, held) in self.log.range(t.above.next()..) {
                if held.record.page == *page {
                    let v = match &held.record.body {
                        RecordBody::Image(b) => Version::Image(b.clone()),
                        body => Version::Delta(body.clone()),
                    };
                    versions.insert(*lsn, v);
                }
            }
        }
        if self.scl > t.above {
            self.scl = t.above;
        }
        if self.hint_vdl > t.above {
            self.hint_vdl = t.above;
            self.hint_tail = self
                .log
                .range(..=t.above)
                .next_back()
                .map(|(l, _)| *l)
                .unwrap_or(self.horizon_tail);
        }
    }

    fn advance_scl(&mut self) {
        loop {
            let mut moved = false;
            while let Some((lsn, held)) = self.log.range(self.scl.next()..).next() {
                if held.record.pg_prev_lsn <= self.scl {
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

    fn records_after(&self, after: Lsn, bytes_max: usize) -> (Vec<LogRecord>, bool) {
        let mut out = Vec::new();
        let mut bytes = 0;
        for held in self.log.range(after.next()..).map(|(_, h)| h) {
            if !out.is_empty() && bytes + held.record.encoded_len() > bytes_max {
                return (out, true);
            }
            bytes += held.record.encoded_len();
            out.push(held.record.clone());
        }
        (out, false)
    }

    fn reconstruct(&self, page: PageId, lsn: Lsn) -> Box<[u8]> {
        let Some(versions) = self.pages.get(&page) else {
            return vec![0u8; PAGE_SIZE].into_boxed_slice();
        };
        let mut chain: Vec<&RecordBody> = Vec::new();
        let mut base: Option<&[u8]> = None;
        for (_, v) in versions.range(..=lsn).rev() {
            match v {
                Version::Image(img) => {
                    base = Some(img);
                    break;
                }
                Version::Delta(body) => chain.push(body),
            }
        }
        chain.reverse();
        reconstruct_page(base, chain)
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
        let r = Segment::restore(s.durable_meta(), entries, []);
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

//! One hosted segment: the in-memory [`Segment`] plus its files, and the
//! group-commit writer that makes its changes durable.
//!
//! # Group commit
//! A request changes the segment under [`Slot::state`], moves what
//! [`Segment::take_pending`] returned into the slot's queue and bumps the
//! slot's change sequence number; then it wakes the writer and waits for
//! that number to become durable. The writer takes *everything* queued at
//! once, with the segment's SCL at that moment, writes it (meta first when it
//! changed), fsyncs once, and only then publishes `(seq, scl)` as durable.
//! Every request whose change is in the batch then completes, and an ack
//! carries the durable SCL, never the in-memory one. A batch is written at
//! the log's end inside zeros written ahead of it (the file grows by chunks,
//! [`format::preallocation_end`]), so its fsync writes data, not the inode;
//! a batch longer than a chunk grows the file itself instead.
//!
//! # Locking
//! Two async mutexes, always taken in this order: `io` (the log file, held by
//! the writer for a whole batch and by compaction for a whole rewrite), then
//! `state` (the segment, held only for in-memory work). Requests take only
//! `state`, so they apply and queue while a batch is being fsynced, and the
//! next batch picks them all up together.
//!
//! # Compaction
//! Write `log.<gen+1>` from [`Segment::snapshot`], fsync it and the directory,
//! replace the meta (new generation, horizon, base pages), then delete
//! `log.<gen>`. A crash before the meta rename leaves the old generation
//! current (the new file is an orphan the loader deletes); after it, the new
//! one (the old file is the orphan). Either way the segment loads whole.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tokio::sync::{watch, Mutex, Notify};

use crate::metrics::NodeMetrics;
use crate::node::disk::{Cache, DiskStore};
use crate::node::format::{self, DiskMeta, MetaError};
use crate::node::until_shutdown;
use crate::segment::{
    read_planned, LogEntry, LogLoc, Lost, Planned, Restore, Segment, SegmentMeta,
};
use crate::types::{Epoch, Lsn, PageId, PgId, PAGE_SIZE_U64};

/// What is durable of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Durable {
    /// Highest change sequence number on disk.
    pub seq: u64,
    /// The segment's SCL when that change was taken for fsync.
    pub scl: Lsn,
    /// The writer stopped (disk failure or shutdown): nothing more will
    /// become durable, so waiters must fail.
    pub stopped: bool,
}

/// The in-memory side of a slot.
#[derive(Debug)]
pub(crate) struct SegState {
    pub seg: Segment,
    /// Entries taken from the segment, waiting for the writer.
    queue: Vec<LogEntry>,
    /// Change sequence number: bumped whenever something must be written.
    seq: u64,
    /// Pages repaired from a peer, with the LSN of the image installed. Such
    /// an image lives only in memory until a compaction below a horizon at
    /// or above that LSN writes it as a base; until then compaction waits.
    pub repaired: BTreeMap<PageId, Lsn>,
    /// Highest minimum read point the writer sent.
    pub pgmrpl_seen: Lsn,
    /// `trim_log` dropped records that the log file still holds.
    trimmed_since_compaction: bool,
}

impl SegState {
    /// Queues what the last operation produced; returns the sequence number
    /// to wait for (covering earlier changes still in flight, too).
    pub fn note_changes(&mut self) -> u64 {
        let pending = self.seg.take_pending();
        if !pending.is_empty() || self.seg.meta_dirty() {
            self.queue.extend(pending);
            self.seq += 1;
        }
        self.seq
    }
}

/// The file side of a slot; only the writer and compaction touch it.
#[derive(Debug)]
pub(crate) struct LogIo {
    file: Arc<File>,
    generation: u64,
    horizon: Lsn,
    horizon_tail: Lsn,
    base_pages: Vec<PageId>,
    /// Highest change sequence number written.
    written_seq: u64,
    /// Bytes of log in the file: where the next entry goes.
    len: u64,
    /// Bytes in the file: the log, then zeros written ahead of it
    /// (`format::preallocation_end`), which batches overwrite.
    allocated: u64,
}

/// Why a segment could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The meta file is damaged: the segment is refused, not guessed at.
    #[error("meta file of {dir} is damaged: {source}")]
    Meta {
        /// The segment directory.
        dir: PathBuf,
        /// What was wrong.
        source: MetaError,
    },
    /// The meta is fine but contradicts its directory or files.
    #[error("segment in {dir} is inconsistent: {what}")]
    Inconsistent {
        /// The segment directory.
        dir: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// Reading or repairing the files failed.
    #[error("failed to load segment in {dir}: {source}")]
    Io {
        /// The segment directory.
        dir: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// A segment hosted by this node.
pub(crate) struct Slot {
    pub pg: PgId,
    pub dir: PathBuf,
    pub state: Mutex<SegState>,
    io: Mutex<LogIo>,
    /// The segment's files as its body store.
    pub store: Arc<DiskStore>,
    /// Records the writer made durable, with their places in the log, not
    /// yet reported to the segment: whoever next holds `state` does (the
    /// writer does not wait for `state` between batches).
    spills: std::sync::Mutex<Vec<(Lsn, Epoch, LogLoc)>>,
    durable: watch::Sender<Durable>,
    wake: Notify,
    /// Bytes in the current log file, readable without the `io` lock.
    log_file_bytes: AtomicU64,
    fsync: bool,
    pub metrics: Arc<NodeMetrics>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("pg", &self.pg)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A loaded segment and what the load found.
pub(crate) struct Loaded {
    pub slot: Arc<Slot>,
    /// Damaged entries skipped.
    pub damaged: u64,
    /// Bytes of torn tail cut off.
    pub torn_bytes: u64,
}

impl Slot {
    fn new(
        pg: PgId,
        dir: PathBuf,
        seg: Segment,
        io: LogIo,
        store: Arc<DiskStore>,
        fsync: bool,
        metrics: Arc<NodeMetrics>,
    ) -> Slot {
        let file_bytes = io.len;
        let scl = seg.scl();
        metrics.segment_scl(pg, scl);
        Slot {
            pg,
            dir,
            state: Mutex::new(SegState {
                seg,
                queue: Vec::new(),
                seq: 0,
                repaired: BTreeMap::new(),
                pgmrpl_seen: Lsn::ZERO,
                trimmed_since_compaction: false,
            }),
            io: Mutex::new(io),
            store,
            spills: std::sync::Mutex::new(Vec::new()),
            durable: watch::channel(Durable {
                seq: 0,
                scl,
                stopped: false,
            })
            .0,
            wake: Notify::new(),
            log_file_bytes: AtomicU64::new(file_bytes),
            fsync,
            metrics,
        }
    }

    /// Creates a new segment on disk (blocking): directory, meta, empty log.
    /// Its epoch starts at zero; the writer sets the history with `Adopt` or
    /// `Truncate`.
    pub fn create_blocking(
        dir: PathBuf,
        meta: SegmentMeta,
        fsync: bool,
        metrics: Arc<NodeMetrics>,
        cache: Arc<Cache>,
    ) -> io::Result<Arc<Slot>> {
        let pg = meta.pg;
        // Never overwrite: a directory here is a segment this node refused
        // or one that appeared behind its back, and both need a human.
        if dir.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists but is not a loaded segment", dir.display()),
            ));
        }
        // A `.creating` directory is a creation that crashed before its
        // rename: it holds nothing of value.
        let tmp = dir.with_extension("creating");
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        fs::create_dir_all(&tmp)?;
        let disk = DiskMeta {
            durable: crate::segment::DurableMeta {
                meta: meta.clone(),
                epoch: Epoch(0),
                history: Vec::new(),
            },
            generation: 0,
            horizon: Lsn::ZERO,
            horizon_tail: Lsn::ZERO,
            base_pages: Vec::new(),
        };
        format::write_meta(&tmp, &disk, fsync)?;
        let log = File::create(format::log_path(&tmp, 0))?;
        if fsync {
            log.sync_all()?;
            format::sync_dir(&tmp)?;
        }
        drop(log);
        // The directory appears under its real name only once complete.
        fs::rename(&tmp, &dir)?;
        if fsync {
            if let Some(parent) = dir.parent() {
                format::sync_dir(parent)?;
            }
        }
        let file = Arc::new(format::open_log(&format::log_path(&dir, 0))?);
        let store = Arc::new(DiskStore::open(&dir, file.clone(), 0, cache)?);
        let mut seg = Segment::create_with_store(meta, Epoch(0), store.clone());
        seg.meta_written();
        let io = LogIo {
            file,
            generation: 0,
            horizon: Lsn::ZERO,
            horizon_tail: Lsn::ZERO,
            base_pages: Vec::new(),
            written_seq: 0,
            len: 0,
            allocated: 0,
        };
        Ok(Arc::new(Slot::new(pg, dir, seg, io, store, fsync, metrics)))
    }

    /// Loads a segment from its directory (blocking). Damaged log entries are
    /// skipped (records become holes for gossip to fill, base images become
    /// lost pages to repair from a peer) and a torn tail is cut off; a
    /// damaged meta refuses the whole segment.
    pub fn load_blocking(
        dir: PathBuf,
        pg: PgId,
        fsync: bool,
        metrics: Arc<NodeMetrics>,
        cache: Arc<Cache>,
    ) -> Result<Loaded, LoadError> {
        let io_err = |source| LoadError::Io {
            dir: dir.clone(),
            source,
        };
        let inconsistent = |what: String| LoadError::Inconsistent {
            dir: dir.clone(),
            what,
        };
        let disk = format::read_meta(&dir)
            .map_err(io_err)?
            .map_err(|source| LoadError::Meta {
                dir: dir.clone(),
                source,
            })?;
        if disk.durable.meta.pg != pg {
            return Err(inconsistent(format!(
                "meta names PG {} in the directory of PG {pg}",
                disk.durable.meta.pg
            )));
        }
        // Remove leftovers: logs of other generations (a compaction cut short
        // on either side of its meta rename) and a meta.tmp never renamed.
        let mut have_log = false;
        for entry in fs::read_dir(&dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            match format::parse_log_file_name(name) {
                Some(g) if g == disk.generation => have_log = true,
                Some(g) => {
                    tracing::info!(dir = %dir.display(), generation = g, "removing log of another generation");
                    fs::remove_file(entry.path()).map_err(io_err)?;
                }
                None if name == "meta.tmp" => fs::remove_file(entry.path()).map_err(io_err)?,
                None => {}
            }
        }
        let path = format::log_path(&dir, disk.generation);
        if !have_log {
            if disk.generation != 0 {
                return Err(inconsistent(format!(
                    "log generation {} is missing",
                    disk.generation
                )));
            }
            File::create(&path).map_err(io_err)?;
        }
        let file = format::open_log(&path).map_err(io_err)?;
        let generation = u32::try_from(disk.generation).map_err(|_| {
            inconsistent(format!("log generation {} out of range", disk.generation))
        })?;
        let file = Arc::new(file);
        let store =
            Arc::new(DiskStore::open(&dir, file.clone(), generation, cache).map_err(io_err)?);
        let pages_per_pg = disk.durable.meta.pages_per_pg;
        let mut restore = Restore::new(disk.durable.clone(), store.clone());
        // The horizon comes from the meta, so a damaged Horizon entry costs
        // nothing; it must precede every record for restore to place them.
        if disk.generation > 0 || disk.horizon > Lsn::ZERO {
            restore.push(
                LogEntry::Horizon {
                    lsn: disk.horizon,
                    tail: disk.horizon_tail,
                },
                None,
            );
        }
        let mut damaged = 0u64;
        let mut bases_seen = Vec::new();
        // Only the index is kept: bodies stay in the file, read back by
        // location, so loading needs memory for the index, not the data.
        let scan = format::scan_log_file(&file, generation, &mut |e, loc| {
            match &e {
                LogEntry::Horizon { lsn, tail } => {
                    if (*lsn, *tail) != (disk.horizon, disk.horizon_tail) {
                        tracing::warn!(%lsn, %tail, meta_horizon = %disk.horizon,
                            "log horizon disagrees with the meta; using the meta's");
                        damaged += 1;
                    }
                    return;
                }
                LogEntry::Base { page, .. } if disk.base_pages.binary_search(page).is_err() => {
                    tracing::warn!(%page, "base image of a page the meta does not list; skipping it");
                    damaged += 1;
                    return;
                }
                LogEntry::Base { page, .. } => bases_seen.push(*page),
                LogEntry::Record { record, .. }
                    if record.page.0 / pages_per_pg != u64::from(pg.0) =>
                {
                    tracing::warn!(lsn = %record.lsn, page = %record.page, "record of another PG in the log; skipping it");
                    damaged += 1;
                    return;
                }
                LogEntry::Record { .. } | LogEntry::Hint { .. } => {}
            }
            restore.push(e, Some(loc));
        })
        .map_err(io_err)?;
        for d in &scan.damaged {
            tracing::warn!(file = %path.display(), offset = d.offset, len = d.len, what = d.what,
                "skipping damaged log entry; gossip and page repair will refill it");
        }
        // Past the last valid entry: a torn write (non-zero bytes), then
        // zeros written ahead by the writer. Both go; the writer grows the
        // file again when it next writes.
        let torn_bytes = scan.written_len - scan.valid_len;
        if torn_bytes > 0 {
            tracing::warn!(file = %path.display(), bytes = torn_bytes, "cutting off a torn log tail");
        }
        if file.metadata().map_err(io_err)?.len() > scan.valid_len {
            file.set_len(scan.valid_len).map_err(io_err)?;
        }
        if fsync {
            // What we read may still be only in the page cache (the last
            // process died before its fsync): make it durable before any ack
            // counts on it.
            file.sync_all().map_err(io_err)?;
        }
        damaged += scan.damaged.len() as u64;
        let mut lost: Vec<PageId> = scan.lost_bases;
        // A base whose header was damaged too left no trace in the scan: the
        // meta's list says it should be there.
        bases_seen.sort();
        for page in &disk.base_pages {
            if bases_seen.binary_search(page).is_err() && !lost.contains(page) {
                lost.push(*page);
            }
        }
        lost.retain(|p| disk.base_pages.binary_search(p).is_ok());
        lost.sort();
        lost.dedup();
        for page in &lost {
            tracing::warn!(%page, "base image lost; the page is unreadable until repaired from a peer");
        }

        let seg = restore.finish(lost);
        let io = LogIo {
            file,
            generation: disk.generation,
            horizon: disk.horizon,
            horizon_tail: disk.horizon_tail,
            base_pages: disk.base_pages,
            written_seq: 0,
            len: scan.valid_len,
            allocated: scan.valid_len,
        };
        let slot = Arc::new(Slot::new(pg, dir, seg, io, store, fsync, metrics));
        Ok(Loaded {
            slot,
            damaged,
            torn_bytes,
        })
    }

    /// The durable state now.
    pub fn durable(&self) -> Durable {
        *self.durable.borrow()
    }

    /// Bytes in the current log file.
    pub fn log_file_bytes(&self) -> u64 {
        self.log_file_bytes.load(Ordering::Relaxed)
    }

    /// Wakes the writer: something is queued.
    pub fn wake_writer(&self) {
        self.wake.notify_one();
    }

    /// Waits until change `seq` is durable; `None` if it never will be.
    pub async fn wait_durable(&self, seq: u64) -> Option<Durable> {
        let mut rx = self.durable.subscribe();
        let d = *rx.wait_for(|d| d.seq >= seq || d.stopped).await.ok()?;
        (d.seq >= seq).then_some(d)
    }

    /// Queues the changes of the operation just done under `st`, wakes the
    /// writer and waits for them (and everything before) to be durable.
    /// Consumes the guard so the lock is released before waiting.
    pub async fn commit(&self, mut st: tokio::sync::MutexGuard<'_, SegState>) -> Option<Durable> {
        let seq = st.note_changes();
        drop(st);
        if seq > self.durable().seq {
            self.wake_writer();
        }
        self.wait_durable(seq).await
    }

    /// Marks the writer stopped so that every waiter fails.
    pub fn stop(&self) {
        self.durable.send_modify(|d| d.stopped = true);
    }

    /// The writer task: one batch per wake-up until shutdown.
    pub async fn run_writer(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = until_shutdown(&mut shutdown) => break,
            }
            if !self.flush_or_stop().await {
                return;
            }
        }
        // Shutdown: what is queued was not acknowledged, but writing it
        // saves gossip the work of fetching it again after the restart.
        self.flush_or_stop().await;
        self.stop();
    }

    /// Flushes; on failure stops the segment. Returns whether it may go on.
    async fn flush_or_stop(&self) -> bool {
        if self.durable().stopped {
            // Compaction failed mid-switch: the files are in doubt.
            return false;
        }
        match self.flush().await {
            Ok(()) => true,
            Err(e) => {
                // After a failed write or fsync the file's state is unknown
                // (the kernel may have dropped the dirty pages): stop taking
                // writes until an operator restarts the node, which reloads
                // the segment from what is really on disk.
                tracing::error!(dir = %self.dir.display(), "failed to write segment log, segment stopped: {e}");
                self.stop();
                false
            }
        }
    }

    /// Writes and fsyncs everything queued, then publishes it as durable.
    async fn flush(&self) -> io::Result<()> {
        let mut io = self.io.lock().await;
        let (entries, meta, scl, seq) = {
            let mut st = self.state.lock().await;
            self.apply_spills(&mut st);
            if st.seq == io.written_seq {
                return Ok(());
            }
            let meta = st.seg.meta_dirty().then(|| {
                st.seg.meta_written();
                st.seg.durable_meta()
            });
            (std::mem::take(&mut st.queue), meta, st.seg.scl(), st.seq)
        };
        let mut buf = BytesMut::with_capacity(entries.iter().map(format::encoded_entry_len).sum());
        // Where each record lands, so its body can leave memory once durable.
        let mut spilled: Vec<(usize, LogLoc)> = Vec::new();
        // Where each entry ends in `buf`, to cache them as written.
        let mut ends = Vec::with_capacity(entries.len());
        let generation = u32::try_from(io.generation).expect("generation checked at load");
        for (i, e) in entries.iter().enumerate() {
            let start = buf.len();
            format::encode_entry(e, &mut buf);
            ends.push(buf.len());
            if matches!(e, LogEntry::Record { .. }) {
                spilled.push((
                    i,
                    LogLoc {
                        generation,
                        len: u32::try_from(buf.len() - start).expect("entries are bounded"),
                        offset: io.len + start as u64,
                    },
                ));
            }
        }
        let disk_meta = meta.map(|durable| DiskMeta {
            durable,
            generation: io.generation,
            horizon: io.horizon,
            horizon_tail: io.horizon_tail,
            base_pages: io.base_pages.clone(),
        });
        let file = io.file.clone();
        let dir = self.dir.clone();
        let fsync = self.fsync;
        let started = Instant::now();
        let written = buf.len() as u64;
        let (at, allocated) = (io.len, io.allocated);
        let grow_to = format::preallocation_end(at + written, allocated, written);
        let store = self.store.clone();
        let spills =
            tokio::task::spawn_blocking(move || -> io::Result<Vec<(Lsn, Epoch, LogLoc)>> {
                // Meta first: a new epoch or truncation must be on disk before
                // any record written under it.
                if let Some(m) = &disk_meta {
                    format::write_meta(&dir, m, fsync)?;
                }
                if !buf.is_empty() {
                    file.write_all_at(&buf, at)?;
                    // Out of zeroed space: grow the file past this batch
                    // (zeros after its bytes only), fsynced with it. Later
                    // batches overwrite the zeros, and their fsyncs need not
                    // write the inode.
                    if grow_to > allocated {
                        format::zero_fill(&file, allocated.max(at + written), grow_to)?;
                    }
                    if fsync {
                        file.sync_data()?;
                    }
                }
                // What was just written is what reads want next: keep it warm.
                store.note_written(generation, at, &buf, &ends);
                let spills = spilled
                    .into_iter()
                    .map(|(i, loc)| {
                        let LogEntry::Record { record, .. } = &entries[i] else {
                            unreachable!("only records are listed");
                        };
                        (record.lsn, record.epoch, loc)
                    })
                    .collect();
                Ok(spills)
            })
            .await
            .map_err(io::Error::other)??;
        self.metrics.fsync_seconds(started.elapsed().as_secs_f64());
        io.written_seq = seq;
        io.len += written;
        io.allocated = grow_to;
        assert!(io.len <= io.allocated, "log written past its file");
        self.log_file_bytes.fetch_add(written, Ordering::Relaxed);
        self.durable.send_modify(|d| {
            d.seq = seq;
            d.scl = scl;
        });
        self.metrics.segment_scl(self.pg, scl);
        // The bodies leave memory when the segment is next locked (the
        // next batch, maintenance): never a wait between batches.
        self.spills.lock().expect("spill list").extend(spills);
        Ok(())
    }

    /// Tells the segment where the records the writer made durable are, so
    /// their bodies leave memory. Call with `state` held.
    pub fn apply_spills(&self, st: &mut SegState) {
        let spills = std::mem::take(&mut *self.spills.lock().expect("spill list"));
        for (lsn, epoch, loc) in spills {
            st.seg.spilled(lsn, epoch, loc);
        }
    }

    /// Trims records older than `keep_since_ms` below the horizon and, if
    /// that (now or since the last compaction) dropped something and the
    /// log file is more than `growth_factor` times what is left, rewrites
    /// the log from a snapshot. Returns whether it compacted.
    ///
    /// Trimming without rewriting is harmless: the records stay in the file,
    /// and are at or below the horizon, so already folded into page images.
    pub async fn compact(&self, keep_since_ms: u64, growth_factor: u64) -> Result<bool, io::Error> {
        let mut io = self.io.lock().await;
        let (plan, base_pages, durable, queued, seq, scl, horizon, horizon_tail) = {
            let mut st = self.state.lock().await;
            // Durable records first, so the plan names them by location.
            self.apply_spills(&mut st);
            // A lost page or a repair image not yet below the horizon would
            // not survive a rewrite (see SegState::repaired); a dirty meta is
            // the writer's to write first.
            let horizon = st.seg.horizon();
            if st.seg.meta_dirty()
                || st.seg.lost_pages().next().is_some()
                || st.repaired.values().any(|l| *l > horizon)
            {
                return Ok(false);
            }
            if st.seg.trim_log(keep_since_ms) > 0 {
                st.trimmed_since_compaction = true;
            }
            if !st.trimmed_since_compaction
                || self.log_file_bytes() <= growth_factor * live_bytes(&st.seg)
            {
                return Ok(false);
            }
            let plan = st.seg.compaction_plan();
            let Some(Planned::Entry(LogEntry::Horizon {
                lsn: horizon,
                tail: horizon_tail,
            })) = plan.first().cloned()
            else {
                unreachable!("a plan starts with its horizon");
            };
            // Images the plan names by slot must stay put while it is read.
            self.store.pin_slots();
            (
                plan,
                st.seg.base_pages(),
                st.seg.durable_meta(),
                st.queue.len(),
                st.seq,
                st.seg.scl(),
                horizon,
                horizon_tail,
            )
        };
        let next = io.generation + 1;
        let Ok(next_generation) = u32::try_from(next) else {
            self.store.unpin_slots();
            return Ok(false);
        };
        let meta = DiskMeta {
            durable,
            generation: next,
            horizon,
            horizon_tail,
            base_pages: base_pages.clone(),
        };
        let dir = self.dir.clone();
        let fsync = self.fsync;
        let old = io.generation;
        let store = self.store.clone();
        let started = Instant::now();
        // The rewrite reads bodies back and streams them out: it holds only
        // the plan (an index) in memory, and no lock requests need.
        let result = tokio::task::spawn_blocking(move || {
            let r = compact_files(&dir, &store, old, next_generation, &plan, &meta, fsync);
            store.unpin_slots();
            r.map(|(file, locs, bytes)| (file, locs, bytes, plan))
        })
        .await
        .map_err(io::Error::other)?;
        let (file, locs, bytes, plan) = match result {
            Ok(done) => done,
            Err(CompactError::Lost(lost)) => {
                // Damage found while copying: handle it like any read would,
                // and try again once repaired.
                let mut st = self.state.lock().await;
                st.seg.note_lost(lost);
                self.after_read(&mut st);
                return Ok(false);
            }
            Err(CompactError::BeforeSwitch(e)) => {
                // The old generation is still current and whole, and the
                // queue still holds everything not yet in it: carry on.
                tracing::warn!(dir = %self.dir.display(), "failed to compact segment log, keeping the old one: {e}");
                return Ok(false);
            }
            Err(CompactError::AtSwitch(e)) => return Err(e),
        };
        self.metrics.fsync_seconds(started.elapsed().as_secs_f64());
        let file = Arc::new(file);
        io.file = file.clone();
        io.generation = next;
        io.horizon = horizon;
        io.horizon_tail = horizon_tail;
        io.base_pages = base_pages;
        io.written_seq = seq;
        io.len = bytes;
        io.allocated = bytes;
        self.log_file_bytes.store(bytes, Ordering::Relaxed);
        {
            // The snapshot holds what was queued when it was taken; what
            // arrived since is still queued, for the new file. The index moves
            // to the new file in the same critical section as the reads do.
            let mut st = self.state.lock().await;
            st.seg.relocate(&plan, &locs);
            self.store.switch_log(file, next_generation);
            st.queue.drain(..queued);
            st.trimmed_since_compaction = false;
            let horizon = st.seg.horizon();
            st.repaired.retain(|_, l| *l > horizon);
        }
        self.durable.send_modify(|d| {
            d.seq = d.seq.max(seq);
            d.scl = scl;
        });
        self.wake_writer();
        tracing::info!(dir = %self.dir.display(), generation = next, %horizon, bytes, "compacted segment log");
        Ok(true)
    }

    /// Bytes the node's cache holds now.
    #[cfg(test)]
    pub fn store_cache_bytes(&self) -> u64 {
        self.store.cache_bytes()
    }

    /// After a read under `st`: counts the damage it found and stops
    /// reporting a durable SCL the segment no longer has.
    pub fn after_read(&self, st: &mut SegState) {
        let losses = st.seg.take_losses();
        if losses == 0 {
            return;
        }
        self.metrics.corrupt_entries(losses);
        let scl = st.seg.scl();
        self.durable.send_modify(|d| d.scl = d.scl.min(scl));
        self.metrics.segment_scl(self.pg, scl);
    }
}

enum CompactError {
    /// A body could not be read back: nothing changed.
    Lost(Lost),
    /// Failed before the meta switched generations: nothing changed.
    BeforeSwitch(io::Error),
    /// Failed while switching: the on-disk state is unknown.
    AtSwitch(io::Error),
}

/// Entries buffered before a write during compaction.
const COMPACT_WRITE_BYTES: usize = 1024 * 1024;

/// Writes the new generation from `plan`, switches the meta to it and removes
/// the old one. Returns the new file, each planned entry's location and the
/// file's length.
fn compact_files(
    dir: &Path,
    store: &DiskStore,
    old: u64,
    next: u32,
    plan: &[Planned],
    meta: &DiskMeta,
    fsync: bool,
) -> Result<(File, Vec<LogLoc>, u64), CompactError> {
    let new_path = format::log_path(dir, u64::from(next));
    let write_new = || -> Result<(File, Vec<LogLoc>, u64), CompactError> {
        let io_err = CompactError::BeforeSwitch;
        if new_path.exists() {
            fs::remove_file(&new_path).map_err(io_err)?;
        }
        // Not `O_APPEND`: the writer continues it at explicit offsets.
        let mut f = File::options()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&new_path)
            .map_err(io_err)?;
        let mut locs = Vec::with_capacity(plan.len());
        let mut buf = BytesMut::new();
        let mut written = 0u64;
        for item in plan {
            let entry = read_planned(store, item).map_err(CompactError::Lost)?;
            let start = buf.len();
            format::encode_entry(&entry, &mut buf);
            locs.push(LogLoc {
                generation: next,
                len: u32::try_from(buf.len() - start).expect("entries are bounded"),
                offset: written + start as u64,
            });
            if buf.len() >= COMPACT_WRITE_BYTES {
                f.write_all(&buf).map_err(io_err)?;
                written += buf.len() as u64;
                buf.clear();
            }
        }
        f.write_all(&buf).map_err(io_err)?;
        written += buf.len() as u64;
        if fsync {
            f.sync_all().map_err(io_err)?;
            format::sync_dir(dir).map_err(io_err)?;
        }
        Ok((f, locs, written))
    };
    let done = write_new().inspect_err(|_| {
        let _ = fs::remove_file(&new_path);
    })?;
    format::write_meta(dir, meta, fsync).map_err(CompactError::AtSwitch)?;
    // From here the new generation is current; the old file is an orphan
    // the loader would delete anyway (its open handle stays readable until
    // the index has moved).
    let old_path = format::log_path(dir, old);
    if let Err(e) = fs::remove_file(&old_path) {
        tracing::warn!(file = %old_path.display(), "failed to remove the old log generation: {e}");
    } else if fsync {
        if let Err(e) = format::sync_dir(dir) {
            tracing::warn!(dir = %dir.display(), "failed to fsync the segment directory: {e}");
        }
    }
    Ok(done)
}

/// Live data estimate of a segment, for the compaction trigger.
fn live_bytes(seg: &Segment) -> u64 {
    seg.log_bytes() + seg.base_pages().len() as u64 * PAGE_SIZE_U64
}

#[cfg(test)]
mod tests {
    //! The durable-SCL rule (an ack never reports what is not fsynced) and
    //! compaction's crash safety: a crash on either side of the meta switch
    //! must load as a whole segment.
    use super::*;
    use crate::node::format::segment_dir_name;
    use crate::segment::PageRead;
    use crate::types::NodeId;
    use crate::types::{LogRecord, RecordBody, FLAG_CPL, PAGE_SIZE};
    use crate::wire::{Replica, Truncation};
    use bytes::Bytes;

    const PG: PgId = PgId(0);
    const PAGES: u64 = 8;

    fn meta() -> SegmentMeta {
        SegmentMeta {
            pg: PG,
            pages_per_pg: PAGES,
            replicas: vec![Replica {
                node: NodeId(1),
                addr: "127.0.0.1:1".into(),
                az: "az-a".into(),
            }],
        }
    }

    fn image(lsn: u64, page: u64) -> LogRecord {
        LogRecord {
            lsn: Lsn(lsn),
            epoch: Epoch(1),
            page: PageId(page),
            pg_prev_lsn: Lsn(lsn - 1),
            vol_prev_lsn: Lsn(lsn - 1),
            flags: FLAG_CPL,
            body: RecordBody::Image(Bytes::from(vec![lsn as u8; PAGE_SIZE])),
        }
    }

    fn new_slot(root: &Path) -> Arc<Slot> {
        Slot::create_blocking(
            root.join(segment_dir_name(PG)),
            meta(),
            true,
            Arc::new(NodeMetrics::new()),
            Arc::new(Cache::new(1 << 20)),
        )
        .expect("create")
    }

    /// A fresh slot that has adopted epoch 1, ready for appends.
    fn adopted_slot(root: &Path) -> Arc<Slot> {
        adopt_epoch_1(new_slot(root))
    }

    /// `slot`, fresh, with epoch 1 adopted.
    fn adopt_epoch_1(slot: Arc<Slot>) -> Arc<Slot> {
        {
            let mut st = slot.state.try_lock().expect("fresh slot");
            st.seg
                .adopt(&[Truncation {
                    epoch: Epoch(1),
                    above: Lsn::ZERO,
                }])
                .expect("adopt");
            st.note_changes();
        }
        slot
    }

    fn load(root: &Path) -> Loaded {
        Slot::load_blocking(
            root.join(segment_dir_name(PG)),
            PG,
            true,
            Arc::new(NodeMetrics::new()),
            Arc::new(Cache::new(1 << 20)),
        )
        .expect("load")
    }

    async fn append(slot: &Slot, lsns: std::ops::RangeInclusive<u64>, pgmrpl: u64) -> u64 {
        let mut st = slot.state.lock().await;
        let recs: Vec<_> = lsns.clone().map(|l| image(l, l % PAGES)).collect();
        st.seg
            .append(
                Epoch(1),
                Lsn(*lsns.end()),
                Lsn(*lsns.end()),
                Lsn(pgmrpl),
                recs,
                0,
            )
            .expect("append");
        st.note_changes()
    }

    async fn pages(slot: &Slot, at: u64) -> Vec<PageRead> {
        let mut st = slot.state.lock().await;
        (0..PAGES)
            .map(|p| st.seg.get_page(PageId(p), Lsn(at)).expect("read"))
            .collect()
    }

    #[tokio::test]
    async fn durable_scl_is_the_scl_of_the_fsynced_batch() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let slot = new_slot(tmp.path());
        {
            let mut st = slot.state.lock().await;
            st.seg
                .adopt(&[Truncation {
                    epoch: Epoch(1),
                    above: Lsn::ZERO,
                }])
                .expect("adopt");
            assert_eq!(st.note_changes(), 1);
        }
        slot.flush().await.expect("flush");
        assert_eq!(
            slot.durable(),
            Durable {
                seq: 1,
                scl: Lsn::ZERO,
                stopped: false
            }
        );

        // Two requests apply in memory; nothing is durable until the writer runs.
        assert_eq!(append(&slot, 1..=2, 0).await, 2);
        assert_eq!(append(&slot, 3..=3, 0).await, 3);
        assert_eq!(slot.state.lock().await.seg.scl(), Lsn(3));
        assert_eq!(slot.durable().scl, Lsn::ZERO);
        let first = tokio::spawn({
            let slot = slot.clone();
            async move { slot.wait_durable(2).await }
        });
        tokio::task::yield_now().await;
        assert!(!first.is_finished());

        // One batch completes both, with the SCL taken with the batch.
        slot.flush().await.expect("flush");
        assert_eq!(
            first.await.expect("join"),
            Some(Durable {
                seq: 3,
                scl: Lsn(3),
                stopped: false
            })
        );
        let before = pages(&slot, 3).await;
        drop(slot);
        let loaded = load(tmp.path());
        assert_eq!(loaded.damaged, 0);
        assert_eq!(loaded.slot.durable().scl, Lsn(3));
        assert_eq!(pages(&loaded.slot, 3).await, before);

        // A stopped writer fails waiters rather than acking.
        let seq = append(&loaded.slot, 4..=4, 0).await;
        loaded.slot.stop();
        assert_eq!(loaded.slot.wait_durable(seq).await, None);
    }

    #[tokio::test]
    async fn crash_on_either_side_of_the_compaction_switch_loads_whole() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join(segment_dir_name(PG));
        let slot = adopted_slot(tmp.path());
        append(&slot, 1..=40, 40).await;
        slot.flush().await.expect("flush");
        assert!(slot.state.lock().await.seg.collect());
        let expect = pages(&slot, 40).await;
        let old_meta = fs::read(dir.join("meta")).expect("meta");
        let old_log = fs::read(dir.join("log.0")).expect("log.0");

        assert!(slot.compact(u64::MAX, 0).await.expect("compact"));
        assert!(!dir.join("log.0").exists());
        let new_meta = fs::read(dir.join("meta")).expect("meta");
        let new_log = fs::read(dir.join("log.1")).expect("log.1");
        assert!(new_log.len() < old_log.len());
        drop(slot);

        // Crash after log.1 was written, before the meta switched.
        fs::write(dir.join("meta"), &old_meta).expect("write");
        fs::write(dir.join("log.0"), &old_log).expect("write");
        let l = load(tmp.path());
        assert_eq!(pages(&l.slot, 40).await, expect);
        assert!(dir.join("log.0").exists() && !dir.join("log.1").exists());
        drop(l);

        // Crash after the meta switched, before log.0 was deleted.
        fs::write(dir.join("meta"), &new_meta).expect("write");
        fs::write(dir.join("log.1"), &new_log).expect("write");
        let l = load(tmp.path());
        assert_eq!(pages(&l.slot, 40).await, expect);
        assert!(!dir.join("log.0").exists() && dir.join("log.1").exists());
        assert_eq!(l.damaged, 0);
        let st = l.slot.state.lock().await;
        assert_eq!(st.seg.horizon(), Lsn(40));
        assert_eq!(st.seg.lost_pages().count(), 0);
    }

    /// A compacted log is written to its exact length; appends after the
    /// switch grow it ahead again, and the whole reloads.
    #[tokio::test]
    async fn appends_after_a_compaction_grow_the_new_log_and_reload() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join(segment_dir_name(PG));
        let slot = adopted_slot(tmp.path());
        append(&slot, 1..=40, 40).await;
        slot.flush().await.expect("flush");
        assert!(slot.state.lock().await.seg.collect());
        assert!(slot.compact(u64::MAX, 0).await.expect("compact"));
        let compacted = slot.log_file_bytes();
        assert_eq!(
            fs::metadata(dir.join("log.1")).expect("log.1").len(),
            compacted
        );
        append(&slot, 41..=44, 0).await;
        slot.flush().await.expect("flush");
        let log_len = slot.log_file_bytes();
        assert!(log_len > compacted);
        assert!(fs::metadata(dir.join("log.1")).expect("log.1").len() > log_len);
        let expect = pages(&slot, 44).await;
        drop(slot);
        let l = load(tmp.path());
        assert_eq!((l.damaged, l.torn_bytes), (0, 0));
        assert_eq!(l.slot.durable().scl, Lsn(44));
        assert_eq!(pages(&l.slot, 44).await, expect);
        assert_eq!(
            fs::metadata(dir.join("log.1")).expect("log.1").len(),
            log_len
        );
    }

    #[tokio::test]
    async fn a_batch_longer_than_a_chunk_is_written_once_and_small_ones_get_zeros_ahead() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let log = tmp.path().join(segment_dir_name(PG)).join("log.0");
        let slot = adopted_slot(tmp.path());
        // 140 images of 8 KiB: over the largest chunk, so no zeros after it.
        append(&slot, 1..=140, 0).await;
        slot.flush().await.expect("flush");
        let big = slot.log_file_bytes();
        assert!(big > format::LOG_PREALLOC_MAX_BYTES);
        let len = fs::metadata(&log).expect("log").len();
        assert_eq!(len, big.next_multiple_of(4096), "nothing written ahead");
        // One image: the file grows a chunk past it, in zeros.
        append(&slot, 141..=141, 0).await;
        slot.flush().await.expect("flush");
        let small = slot.log_file_bytes();
        let raw = fs::read(&log).expect("log");
        assert!(raw.len() as u64 >= small + format::LOG_PREALLOC_MAX_BYTES);
        assert!(raw[small as usize..].iter().all(|b| *b == 0));
        let expect = pages(&slot, 141).await;
        drop(slot);
        let l = load(tmp.path());
        assert_eq!((l.damaged, l.torn_bytes), (0, 0));
        assert_eq!(l.slot.durable().scl, Lsn(141));
        assert_eq!(pages(&l.slot, 141).await, expect);
    }

    #[tokio::test]
    async fn preallocated_log_loads_to_its_last_entry_after_a_crash() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let log = tmp.path().join(segment_dir_name(PG)).join("log.0");
        let slot = adopted_slot(tmp.path());
        // Ten batches of 8 KiB images: the file grows several times.
        for b in 0..10 {
            append(&slot, 4 * b + 1..=4 * b + 4, 0).await;
            slot.flush().await.expect("flush");
        }
        let log_len = slot.log_file_bytes();
        let raw = fs::read(&log).expect("log");
        assert!(
            raw.len() as u64 > log_len,
            "the file is grown ahead of the log"
        );
        assert!(raw[log_len as usize..].iter().all(|b| *b == 0));
        let expect = pages(&slot, 40).await;
        drop(slot);

        // kill -9 in the middle of the next batch: half of record 41's entry
        // landed in the zeroed space after the log.
        let mut torn = BytesMut::new();
        format::encode_entry(
            &LogEntry::Record {
                received_ms: 0,
                record: image(41, 1),
            },
            &mut torn,
        );
        let half = &torn[..torn.len() / 2];
        let f = File::options().write(true).open(&log).expect("open");
        f.write_all_at(half, log_len).expect("tear");
        drop(f);
        let l = load(tmp.path());
        assert_eq!(l.damaged, 0);
        assert_eq!(l.torn_bytes, half.len() as u64);
        assert_eq!(fs::metadata(&log).expect("log").len(), log_len);
        assert_eq!(l.slot.durable().scl, Lsn(40));
        assert_eq!(pages(&l.slot, 40).await, expect);

        // Appends continue where the log ended and survive the next load.
        append(&l.slot, 41..=42, 0).await;
        l.slot.flush().await.expect("flush");
        let expect = pages(&l.slot, 42).await;
        drop(l);
        let l = load(tmp.path());
        assert_eq!((l.damaged, l.torn_bytes), (0, 0));
        assert_eq!(l.slot.durable().scl, Lsn(42));
        assert_eq!(pages(&l.slot, 42).await, expect);
    }

    // ---- the disk-backed segment against a model ----

    use proptest::prelude::*;
    use std::collections::BTreeMap as Map;

    fn new_slot_with(root: &Path, cache_bytes: u64) -> Arc<Slot> {
        adopt_epoch_1(
            Slot::create_blocking(
                root.join(segment_dir_name(PG)),
                meta(),
                false,
                Arc::new(NodeMetrics::new()),
                Arc::new(Cache::new(cache_bytes)),
            )
            .expect("create"),
        )
    }

    fn load_with(root: &Path, cache_bytes: u64) -> Arc<Slot> {
        Slot::load_blocking(
            root.join(segment_dir_name(PG)),
            PG,
            false,
            Arc::new(NodeMetrics::new()),
            Arc::new(Cache::new(cache_bytes)),
        )
        .expect("load")
        .slot
    }

    fn record(lsn: u64, page: u64, body: RecordBody) -> LogRecord {
        LogRecord {
            lsn: Lsn(lsn),
            epoch: Epoch(1),
            page: PageId(page),
            pg_prev_lsn: Lsn(lsn - 1),
            vol_prev_lsn: Lsn(lsn - 1),
            flags: FLAG_CPL,
            body,
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
        Flush,
        Materialize,
        Collect {
            lag: u64,
        },
        Compact,
        Restart,
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (0..PAGES, 0u16..(PAGE_SIZE as u16 - 8), any::<u8>(), prop::bool::weighted(0.05))
                .prop_map(|(page, off, byte, image)| Op::Write { page, off, byte, image }),
            2 => Just(Op::Flush),
            1 => Just(Op::Materialize),
            1 => (0u64..8).prop_map(|lag| Op::Collect { lag }),
            1 => Just(Op::Compact),
            1 => Just(Op::Restart),
        ]
    }

    /// The model: every page's image after every LSN, every record, and
    /// the horizon of the last compaction: records at or below it leave,
    /// except deltas still in their page's chain there.
    struct Model {
        pages: Vec<Vec<Vec<u8>>>,
        records: Map<Lsn, LogRecord>,
        compacted: Lsn,
    }

    async fn check(slot: &Slot, model: &Model, lsn: u64) -> Result<(), TestCaseError> {
        let mut st = slot.state.lock().await;
        for p in 0..PAGES {
            for at in [lsn, lsn.saturating_sub(1), lsn.saturating_sub(6)] {
                match st.seg.get_page(PageId(p), Lsn(at)).expect("read") {
                    PageRead::Page(img) => {
                        prop_assert!(
                            img[..] == model.pages[p as usize][at as usize][..],
                            "page {p} at {at}"
                        )
                    }
                    PageRead::TooOld { horizon } => prop_assert!(Lsn(at) < horizon),
                    PageRead::NotYet { scl } => {
                        prop_assert!(false, "page {p} at {at}: NotYet, scl {scl}")
                    }
                }
            }
        }
        for after in [0, lsn / 2, lsn.saturating_sub(1)] {
            let (got, more) = st.seg.gossip_reply(Lsn(after));
            prop_assert!(!more);
            let above = Lsn(after).max(model.compacted);
            let want: Vec<&LogRecord> = model
                .records
                .range(above.next()..)
                .map(|(_, r)| r)
                .collect();
            let (kept, rest): (Vec<&LogRecord>, Vec<&LogRecord>) =
                got.iter().partition(|r| r.lsn <= above);
            prop_assert_eq!(rest, want, "gossip after {}", after);
            for r in kept {
                prop_assert!(r.lsn > Lsn(after), "gossip after {} sent {}", after, r.lsn);
                prop_assert_eq!(Some(r), model.records.get(&r.lsn), "gossip after {}", after);
                prop_assert!(
                    matches!(r.body, RecordBody::Delta { .. }),
                    "only chained deltas outlive a compaction"
                );
            }
            prop_assert!(
                got.windows(2).all(|w| w[0].lsn < w[1].lsn),
                "gossip out of order"
            );
        }
        prop_assert_eq!(st.seg.take_losses(), 0);
        Ok(())
    }

    fn run_ops(ops: Vec<Op>, cache_bytes: u64) -> Result<(), TestCaseError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let tmp = tempfile::tempdir().expect("tempdir");
            let mut slot = new_slot_with(tmp.path(), cache_bytes);
            let mut model = Model {
                pages: vec![vec![vec![0u8; PAGE_SIZE]]; PAGES as usize],
                records: Map::new(),
                compacted: Lsn::ZERO,
            };
            let mut lsn = 0u64;
            for op in ops {
                match op {
                    Op::Write {
                        page,
                        off,
                        byte,
                        image,
                    } => {
                        lsn += 1;
                        let body = if image {
                            RecordBody::Image(Bytes::from(vec![byte; PAGE_SIZE]))
                        } else {
                            RecordBody::Delta {
                                offset: off,
                                bytes: Bytes::from(vec![byte; 8]),
                            }
                        };
                        let rec = record(lsn, page, body.clone());
                        let mut st = slot.state.lock().await;
                        st.seg
                            .append(
                                Epoch(1),
                                Lsn(lsn - 1),
                                Lsn(lsn - 1),
                                Lsn(0),
                                vec![rec.clone()],
                                0,
                            )
                            .expect("append");
                        st.note_changes();
                        model.records.insert(Lsn(lsn), rec);
                        for (p, hist) in model.pages.iter_mut().enumerate() {
                            let mut next = hist.last().expect("history").clone();
                            if p as u64 == page {
                                body.apply(&mut next);
                            }
                            hist.push(next);
                        }
                    }
                    Op::Flush => {
                        slot.flush().await.expect("flush");
                        let mut st = slot.state.lock().await;
                        slot.apply_spills(&mut st);
                    }
                    Op::Materialize => {
                        slot.state.lock().await.seg.materialize();
                    }
                    Op::Collect { lag } => {
                        let mut st = slot.state.lock().await;
                        let to = lsn.saturating_sub(lag);
                        st.seg
                            .append(Epoch(1), Lsn(lsn), Lsn(lsn), Lsn(to), vec![], 0)
                            .expect("hint");
                        st.note_changes();
                        st.seg.collect();
                    }
                    Op::Compact => {
                        slot.flush().await.expect("flush");
                        if slot.compact(u64::MAX, 0).await.expect("compact") {
                            model.compacted = slot.state.lock().await.seg.horizon();
                        }
                    }
                    Op::Restart => {
                        // Everything acknowledged was flushed; a restart keeps it.
                        slot.flush().await.expect("flush");
                        drop(slot);
                        slot = load_with(tmp.path(), cache_bytes);
                        let st = slot.state.lock().await;
                        prop_assert_eq!(
                            st.seg.memory().body_bytes,
                            0,
                            "a load keeps no bodies in memory"
                        );
                    }
                }
                check(&slot, &model, lsn).await?;
            }
            Ok(())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// A disk-backed segment (bodies spilled to its log, images in its
        /// page file, a cache that holds almost nothing) answers page reads
        /// and gossip exactly like a model that keeps everything, across
        /// flushes, coalescing, GC, compaction and restarts.
        #[test]
        fn disk_backed_segment_matches_a_model(ops in proptest::collection::vec(arb_op(), 1..80)) {
            run_ops(ops, 0)?;
        }

        /// The same with a cache large enough to hold everything.
        #[test]
        fn disk_backed_segment_matches_a_model_with_a_warm_cache(ops in proptest::collection::vec(arb_op(), 1..80)) {
            run_ops(ops, 64 << 20)?;
        }
    }

    /// A byte flipped on disk inside a spilled record is found by the read's
    /// checksum: the page is not served (`NotYet`), the record is not
    /// gossiped, and the SCL steps back below it until a peer refills it.
    #[tokio::test]
    async fn corrupt_record_read_back_is_not_served() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let slot = new_slot_with(tmp.path(), 0);
        let recs: Vec<LogRecord> = (1..=4)
            .map(|l| {
                record(
                    l,
                    1,
                    RecordBody::Delta {
                        offset: 16 * l as u16,
                        bytes: Bytes::from(vec![l as u8; 16]),
                    },
                )
            })
            .collect();
        {
            let mut st = slot.state.lock().await;
            st.seg
                .append(Epoch(1), Lsn(4), Lsn(4), Lsn(0), recs.clone(), 0)
                .expect("append");
            st.note_changes();
        }
        slot.flush().await.expect("flush");
        let good = pages(&slot, 4).await;
        {
            let mut st = slot.state.lock().await;
            slot.apply_spills(&mut st);
            assert_eq!(
                st.seg.memory().body_bytes,
                0,
                "bodies left memory once durable"
            );
        }
        // Flip a byte of record 4's body.
        let path = slot.dir.join("log.0");
        let mut raw = fs::read(&path).expect("read");
        let at = raw
            .windows(16)
            .position(|w| w == [4u8; 16])
            .expect("record 4's body is in the log");
        raw[at] ^= 0x40;
        fs::write(&path, &raw).expect("write");
        // The file is rewritten under the open handle's name: reopen it the
        // way the store reads (same inode is not guaranteed by fs::write).
        let file = Arc::new(format::open_log(&path).expect("open"));
        {
            let _st = slot.state.lock().await;
            let g = slot.store.generation();
            // Same generation: swap the handle only for this test.
            slot.store.replace_log_for_test(file, g);
        }

        let mut st = slot.state.lock().await;
        assert_eq!(
            st.seg.get_page(PageId(1), Lsn(4)).expect("read"),
            PageRead::NotYet { scl: Lsn(3) }
        );
        assert_eq!(st.seg.take_losses(), 1);
        assert_eq!(st.seg.scl(), Lsn(3));
        let (gossip, _) = st.seg.gossip_reply(Lsn(0));
        assert_eq!(gossip, recs[..3].to_vec());
        // Below the damage nothing changed.
        assert_eq!(
            st.seg.get_page(PageId(1), Lsn(3)).expect("read"),
            good_at(&recs, 3)
        );
        // A peer's gossip refills it.
        let history = st.seg.history().to_vec();
        let filled = st
            .seg
            .gossip_receive(&history, Lsn(4), Lsn(4), vec![recs[3].clone()], 0)
            .expect("gossip");
        assert_eq!(filled, 1);
        assert_eq!(st.seg.scl(), Lsn(4));
        drop(st);
        assert_eq!(pages(&slot, 4).await, good);
    }

    fn good_at(recs: &[LogRecord], at: u64) -> PageRead {
        let mut page = vec![0u8; PAGE_SIZE];
        for r in recs.iter().filter(|r| r.lsn.0 <= at) {
            r.body.apply(&mut page);
        }
        PageRead::Page(Bytes::from(page))
    }

    /// A damaged coalesced image in the page file makes its page lost (not
    /// served) until a peer's copy is installed.
    #[tokio::test]
    async fn corrupt_page_file_image_is_not_served() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let slot = new_slot_with(tmp.path(), 0);
        let recs: Vec<LogRecord> = (1..=40)
            .map(|l| {
                record(
                    l,
                    2,
                    RecordBody::Delta {
                        offset: 8 * (l as u16 % 100),
                        bytes: Bytes::from(vec![l as u8; 8]),
                    },
                )
            })
            .collect();
        {
            let mut st = slot.state.lock().await;
            st.seg
                .append(Epoch(1), Lsn(40), Lsn(40), Lsn(0), recs.clone(), 0)
                .expect("append");
            st.note_changes();
        }
        slot.flush().await.expect("flush");
        assert_eq!(slot.state.lock().await.seg.materialize(), 1);
        let pages_file = slot.dir.join(crate::node::disk::PAGES_FILE);
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&pages_file)
            .expect("open");
        std::os::unix::fs::FileExt::write_all_at(&f, &[0xEE; 4], 1000).expect("damage");
        let mut st = slot.state.lock().await;
        assert_eq!(
            st.seg.get_page(PageId(2), Lsn(40)).expect("read"),
            PageRead::NotYet { scl: Lsn(40) }
        );
        assert_eq!(st.seg.lost_pages().collect::<Vec<_>>(), vec![PageId(2)]);
        let PageRead::Page(image) = good_at(&recs, 40) else {
            unreachable!()
        };
        st.seg
            .repair_page(PageId(2), Lsn(40), image.clone())
            .expect("repair");
        assert_eq!(
            st.seg.get_page(PageId(2), Lsn(40)).expect("read"),
            PageRead::Page(image)
        );
    }

    /// Writing far more than the cache holds keeps the cache within its
    /// bound and no bodies in memory: what grows is the index, a few dozen
    /// bytes per record.
    #[tokio::test]
    async fn memory_stays_bounded_while_writing_far_more_than_the_cache() {
        const CACHE: u64 = 1 << 20;
        const PAGES_USED: u64 = PAGES;
        let tmp = tempfile::tempdir().expect("tempdir");
        let slot = new_slot_with(tmp.path(), CACHE);
        let mut model = vec![vec![0u8; PAGE_SIZE]; PAGES_USED as usize];
        let mut lsn = 0u64;
        let mut written = 0u64;
        for batch in 0..200u64 {
            let mut recs = Vec::new();
            for i in 0..50u64 {
                lsn += 1;
                let page = (batch * 7 + i) % PAGES_USED;
                let body = if i % 10 == 0 {
                    RecordBody::Image(Bytes::from(vec![(lsn % 251) as u8; PAGE_SIZE]))
                } else {
                    RecordBody::Delta {
                        offset: ((lsn * 97) % (PAGE_SIZE as u64 - 500)) as u16,
                        bytes: Bytes::from(vec![(lsn % 253) as u8; 500]),
                    }
                };
                body.apply(&mut model[page as usize]);
                let r = record(lsn, page, body);
                written += r.encoded_len() as u64;
                recs.push(r);
            }
            {
                let mut st = slot.state.lock().await;
                st.seg
                    .append(Epoch(1), Lsn(lsn), Lsn(lsn), Lsn(lsn), recs, 0)
                    .expect("append");
                st.note_changes();
            }
            slot.flush().await.expect("flush");
            let mut st = slot.state.lock().await;
            slot.apply_spills(&mut st);
            st.seg.materialize();
            if batch % 20 == 19 {
                st.seg.collect();
            }
            let m = st.seg.memory();
            assert_eq!(
                m.body_bytes, 0,
                "batch {batch}: bodies in memory after the fsync"
            );
            assert!(slot.store_cache_bytes() <= CACHE);
        }
        assert!(written > 10 * CACHE, "wrote {written} bytes");
        let st = slot.state.lock().await;
        let m = st.seg.memory();
        assert_eq!(m.records, lsn as usize);
        let per_record = m.index_bytes / m.records;
        assert!(
            per_record <= 120,
            "index costs {per_record} bytes per record"
        );
        drop(st);
        let got = pages(&slot, lsn).await;
        for (p, want) in model.iter().enumerate() {
            assert_eq!(
                got[p],
                PageRead::Page(Bytes::from(want.clone())),
                "page {p}"
            );
        }
        assert!(slot.store_cache_bytes() <= CACHE);
    }
}

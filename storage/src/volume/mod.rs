//! The volume client: compute's storage driver.
//!
//! [`Volume`] runs recovery when it opens, then drives the quorum state
//! machine ([`core::VolumeCore`]) over real connections: every request is its
//! own task, so many MTRs are in flight at once and replicas batch them into
//! one fsync (group commit); a ticker resends to lagging replicas and sends
//! VDL heartbeats. Callers either `commit` (submit and wait for the VDL to
//! pass the MTR) or `submit` and wait later. Page reads go to one replica whose
//! SCL covers the read point, moving on to the next on "not yet", an error or
//! a timeout.
//!
//! A read replica opens the same volume with [`Volume::open_reader`]: no
//! recovery, no epoch, no writes (see [`reader`]). Its "VDL" is its read
//! point, which its owner moves forward with [`Volume::set_read_point`]; a read
//! that every replica answers with "not yet" (the writer's VDL hint has not
//! reached them) is retried for a while, since the read point is durable.

pub mod core;
pub mod reader;
pub mod recovery;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::cluster::Cluster;
use crate::net::Peer;
use crate::types::{Epoch, Lsn, NodeId, PageId, PgId, RecordBody};
use crate::wire::{Message, Replica};

use self::core::{CoreConfig, Outgoing, SubmitError, VolumeCore};
use self::reader::ReadRouting;
use self::recovery::{Recovery, RecoveryError};

/// Tunables of the volume client.
#[derive(Clone, Debug)]
pub struct VolumeConfig {
    /// Write-path tunables.
    pub core: CoreConfig,
    /// Per-request timeout for appends and recovery requests.
    pub request_timeout: Duration,
    /// Per-replica timeout of a page read before trying the next replica.
    pub page_read_timeout: Duration,
    /// How long recovery waits for silent nodes when listing segments.
    pub recovery_list_wait: Duration,
    /// Low bits of this writer's epoch; distinct writers should differ.
    pub epoch_nonce: u16,
}

impl Default for VolumeConfig {
    fn default() -> Self {
        VolumeConfig {
            core: CoreConfig::default(),
            request_timeout: Duration::from_secs(2),
            page_read_timeout: Duration::from_millis(500),
            recovery_list_wait: Duration::from_secs(2),
            epoch_nonce: (std::process::id() & 0xFFFF) as u16,
        }
    }
}

/// Why a volume operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeError {
    /// Recovery could not complete.
    #[error("recovery failed: {0}")]
    Recovery(#[from] RecoveryError),
    /// A newer writer took over; this volume handle can no longer write.
    #[error("fenced: a newer writer opened epoch {0}")]
    Fenced(Epoch),
    /// The MTR had no changes.
    #[error("empty mini-transaction")]
    Empty,
    /// The page lies beyond the volume's last protection group.
    #[error("page {0} is beyond the end of the volume")]
    NoSuchPage(PageId),
    /// No replica could serve the read.
    #[error("page {page} at {lsn}: no replica could serve it ({detail})")]
    PageUnavailable {
        /// The page.
        page: PageId,
        /// The read point.
        lsn: Lsn,
        /// What each replica said.
        detail: String,
    },
    /// The read point is older than the GC horizon.
    #[error("page {page} at {lsn} is older than the horizon {horizon}")]
    TooOld {
        /// The page.
        page: PageId,
        /// The read point.
        lsn: Lsn,
        /// The oldest readable LSN.
        horizon: Lsn,
    },
    /// The volume was closed.
    #[error("volume closed")]
    Closed,
    /// This handle belongs to a read replica, which never writes.
    #[error("a read replica cannot write to the volume")]
    ReadOnly,
}

/// How long a reader retries a page read that every replica answers with
/// "not yet". Its read point is durable, so replicas reach it as soon as the
/// writer's next VDL hint (every few milliseconds) or gossip arrives; past
/// this something is wrong and the read fails.
pub const READER_NOT_YET_WAIT_MAX: Duration = Duration::from_secs(5);
/// First pause between rounds of a reader's page read; it doubles up to
/// [`READER_NOT_YET_BACKOFF_MAX`].
const READER_NOT_YET_BACKOFF: Duration = Duration::from_millis(2);
const READER_NOT_YET_BACKOFF_MAX: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Progress {
    vdl: Lsn,
    /// Every record at or below it is on a write quorum (the writer's VCL;
    /// a reader's read point).
    vcl: Lsn,
    fenced: Option<Epoch>,
}

/// The writer drives the quorum core; a reader only routes reads. One
/// per volume handle, so the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum Mode {
    Writer(Mutex<VolumeCore>),
    Reader(Mutex<ReadRouting>),
}

/// Read points that hold back storage GC (PGMRPL): the writer's own oldest
/// snapshot and one per read replica.
#[derive(Debug, Default)]
struct ReadPoints {
    own: Lsn,
    holds: HashMap<u64, Lsn>,
}

impl ReadPoints {
    fn min(&self) -> Lsn {
        self.holds.values().copied().fold(self.own, Lsn::min)
    }
}

/// Callers of [`Volume::wait_durable`] not yet covered by the VDL, by the
/// LSN each waits for. A VDL move wakes only the waiters it covers: with
/// many commits in flight, waking every one of them on each move (as a watch
/// channel does) costs more than the commits themselves. A waiter whose
/// caller gave up (a timeout) stays until the VDL passes its LSN.
#[derive(Debug, Default)]
struct DurableWaiters {
    by_lsn: BTreeMap<Lsn, Vec<oneshot::Sender<()>>>,
}

struct Inner {
    mode: Mode,
    peers: HashMap<NodeId, Peer>,
    progress: watch::Sender<Progress>,
    /// Lock order: `durable_waiters`, then `progress`.
    durable_waiters: Mutex<DurableWaiters>,
    read_points: Mutex<ReadPoints>,
    cfg: VolumeConfig,
    started: Instant,
}

impl Inner {
    /// Publishes `progress`, which only moves forward, and wakes the
    /// durability waiters it covers (all of them once fenced).
    fn publish(&self, progress: Progress) {
        let moved = self.progress.send_if_modified(|p| {
            let mut changed = false;
            if progress.vdl > p.vdl {
                p.vdl = progress.vdl;
                changed = true;
            }
            if progress.vcl > p.vcl {
                p.vcl = progress.vcl;
                changed = true;
            }
            if p.fenced.is_none() && progress.fenced.is_some() {
                p.fenced = progress.fenced;
                changed = true;
            }
            changed
        });
        if moved {
            self.wake_durable();
        }
    }

    /// Wakes the durability waiters the published progress covers. A waiter
    /// registers under the same lock after reading the progress, so none
    /// registers for a VDL already published and then sleeps.
    fn wake_durable(&self) {
        let woken = {
            let mut w = self.durable_waiters.lock().expect("durable waiters");
            let p = *self.progress.borrow();
            if p.fenced.is_some() {
                std::mem::take(&mut w.by_lsn)
            } else {
                let later = w.by_lsn.split_off(&p.vdl.next());
                std::mem::replace(&mut w.by_lsn, later)
            }
        };
        for tx in woken.into_values().flatten() {
            let _ = tx.send(());
        }
    }

    fn core(&self) -> Option<std::sync::MutexGuard<'_, VolumeCore>> {
        match &self.mode {
            Mode::Writer(core) => Some(core.lock().expect("core lock")),
            Mode::Reader(_) => None,
        }
    }
}

/// A handle to the volume, held by its one writer or by a read replica.
/// Cheap to clone.
#[derive(Clone)]
pub struct Volume {
    inner: Arc<Inner>,
    ticker: Option<Arc<tokio::task::JoinHandle<()>>>,
}

impl Drop for Volume {
    fn drop(&mut self) {
        if let Some(t) = &self.ticker {
            if Arc::strong_count(t) == 1 {
                t.abort();
            }
        }
    }
}

fn now_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

impl Volume {
    /// Recovers the volume described by `cluster` and opens it for writing
    /// under a new epoch. Waits as long as recovery needs: wrap it in a
    /// timeout to bound it.
    pub async fn open(cluster: Cluster, cfg: VolumeConfig) -> Result<Volume, VolumeError> {
        let peers: HashMap<NodeId, Peer> = cluster
            .nodes
            .iter()
            .map(|(id, n)| (*id, Peer::new(n.addr.clone())))
            .collect();
        let started = Instant::now();
        let recovered = recover(&cluster, &peers, &cfg, started).await?;
        tracing::info!(epoch = %recovered.epoch, vdl = %recovered.vdl, pgs = recovered.pgs.len(), "volume recovered");
        let vdl = recovered.vdl;
        let core = VolumeCore::new(cfg.core.clone(), cluster, recovered);
        let (progress, _) = watch::channel(Progress {
            vdl,
            vcl: vdl,
            fenced: None,
        });
        let inner = Arc::new(Inner {
            mode: Mode::Writer(Mutex::new(core)),
            peers,
            progress,
            durable_waiters: Mutex::new(DurableWaiters::default()),
            read_points: Mutex::new(ReadPoints::default()),
            cfg,
            started,
        });
        let weak = Arc::downgrade(&inner);
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(10));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let outs = {
                    let mut core = inner.core().expect("a writer's volume");
                    core.tick(now_ms(inner.started));
                    core.take_outgoing()
                };
                dispatch(&inner, outs);
            }
        });
        Ok(Volume {
            inner,
            ticker: Some(Arc::new(ticker)),
        })
    }

    /// Attaches to the volume described by `cluster` as a read replica at
    /// `read_point`, which must be durable (at most the VDL of the writer of
    /// `epoch`, whose redo the reader follows). No recovery, no epoch of its
    /// own, nothing written: the writer is not disturbed.
    pub fn open_reader(
        cluster: Cluster,
        cfg: VolumeConfig,
        read_point: Lsn,
        epoch: Epoch,
    ) -> Volume {
        let peers: HashMap<NodeId, Peer> = cluster
            .nodes
            .iter()
            .map(|(id, n)| (*id, Peer::new(n.addr.clone())))
            .collect();
        let (progress, _) = watch::channel(Progress {
            vdl: read_point,
            vcl: read_point,
            fenced: None,
        });
        Volume {
            inner: Arc::new(Inner {
                mode: Mode::Reader(Mutex::new(ReadRouting::new(cluster, epoch))),
                peers,
                progress,
                durable_waiters: Mutex::new(DurableWaiters::default()),
                read_points: Mutex::new(ReadPoints {
                    own: read_point,
                    holds: HashMap::new(),
                }),
                cfg,
                started: Instant::now(),
            }),
            ticker: None,
        }
    }

    /// True for a read replica's handle.
    pub fn is_reader(&self) -> bool {
        matches!(self.inner.mode, Mode::Reader(_))
    }

    /// The writer's epoch; `Epoch(0)` for a reader, which holds none.
    pub fn epoch(&self) -> Epoch {
        self.inner.core().map_or(Epoch(0), |c| c.epoch())
    }

    /// The newer epoch that fenced this writer, once a storage node
    /// rejected one of its requests (a write or an idle heartbeat) for it;
    /// `None` while it may still write, and always on a reader.
    pub fn fenced(&self) -> Option<Epoch> {
        self.inner.progress.borrow().fenced
    }

    /// The volume durable LSN; for a reader, its read point.
    pub fn vdl(&self) -> Lsn {
        self.inner.progress.borrow().vdl
    }

    /// Makes a reader's reads from now on those of the writer of `epoch`,
    /// whose redo it follows. Panics on a writer's handle or if `epoch`
    /// goes backwards.
    pub fn follow_epoch(&self, epoch: Epoch) {
        let Mode::Reader(routing) = &self.inner.mode else {
            panic!("only a reader follows a writer");
        };
        routing.lock().expect("routing lock").follow(epoch);
    }

    /// Moves a reader's read point forward to `lsn`, which must be durable
    /// and the end of a whole MTR. Panics on a writer's handle or if `lsn`
    /// goes backwards.
    pub fn set_read_point(&self, lsn: Lsn) {
        assert!(self.is_reader(), "only a reader sets its read point");
        self.inner.progress.send_modify(|p| {
            assert!(
                lsn >= p.vdl,
                "read point moving back from {} to {lsn}",
                p.vdl
            );
            p.vdl = lsn;
            p.vcl = p.vcl.max(lsn);
        });
        self.inner.wake_durable();
    }

    /// Highest LSN allocated; a reader's read point.
    pub fn last_lsn(&self) -> Lsn {
        match self.inner.core() {
            Some(c) => c.last_lsn(),
            None => self.vdl(),
        }
    }

    /// Number of protection groups (0 on a reader, which does not track them).
    pub fn pg_count(&self) -> usize {
        self.inner.core().map_or(0, |c| c.pg_count())
    }

    /// SCLs of each replica of `pg`, as last acknowledged (as last seen, on a
    /// reader).
    pub fn replica_scls(&self, pg: PgId) -> Vec<(Replica, Lsn)> {
        match &self.inner.mode {
            Mode::Writer(core) => core.lock().expect("core lock").replica_scls(pg),
            Mode::Reader(r) => r.lock().expect("routing lock").replica_scls(pg),
        }
    }

    /// Sets this compute node's own minimum read point (its oldest open
    /// snapshot). A writer tells storage the minimum of it and every hold
    /// ([`Volume::hold_read_point`]) as the PGMRPL; a reader only records it,
    /// for its owner to report to the writer.
    pub fn set_min_read_point(&self, lsn: Lsn) {
        let min = {
            let mut rp = self.inner.read_points.lock().expect("read points");
            rp.own = lsn;
            rp.min()
        };
        if let Some(mut core) = self.inner.core() {
            core.set_min_read_point(min);
        }
    }

    /// This node's own minimum read point, as last set.
    pub fn min_read_point(&self) -> Lsn {
        self.inner.read_points.lock().expect("read points").own
    }

    /// Holds storage GC at `lsn` for `holder` (a read replica's oldest
    /// snapshot), or releases the hold (`None`). Storage's horizon only moves
    /// forward: a hold keeps it from passing `lsn`, it cannot bring back what
    /// was collected.
    pub fn hold_read_point(&self, holder: u64, lsn: Option<Lsn>) {
        let min = {
            let mut rp = self.inner.read_points.lock().expect("read points");
            match lsn {
                Some(l) => rp.holds.insert(holder, l),
                None => rp.holds.remove(&holder),
            };
            rp.min()
        };
        if let Some(mut core) = self.inner.core() {
            core.set_min_read_point(min);
        }
    }

    /// Allocates LSNs for one MTR and sends it, waiting while the LSN
    /// allocation limit holds it back. Returns its commit LSN; it is durable
    /// once [`Volume::wait_durable`] returns for it.
    pub async fn submit(&self, changes: Vec<(PageId, RecordBody)>) -> Result<Lsn, VolumeError> {
        self.submit_records(changes, true).await
    }

    /// Sends one chunk of an MTR streamed in parts: records without a CPL
    /// (see [`VolumeCore::submit_without_cpl`]). Returns the chunk's last
    /// LSN; its records are on a write quorum once [`Volume::wait_written`]
    /// returns for it, and durable only with the CPL of a later submission.
    /// The LSN allocation limit holds a chunk back like an MTR; since the
    /// VDL cannot move while a stream is open, the caller waits for each
    /// chunk to be written before sending the next, so every chunk goes
    /// through alone.
    pub async fn submit_without_cpl(
        &self,
        changes: Vec<(PageId, RecordBody)>,
    ) -> Result<Lsn, VolumeError> {
        self.submit_records(changes, false).await
    }

    async fn submit_records(
        &self,
        changes: Vec<(PageId, RecordBody)>,
        cpl: bool,
    ) -> Result<Lsn, VolumeError> {
        let mut rx = self.inner.progress.subscribe();
        loop {
            let result = {
                let Some(mut core) = self.inner.core() else {
                    return Err(VolumeError::ReadOnly);
                };
                let now = now_ms(self.inner.started);
                let r = if cpl {
                    core.submit(changes.clone(), now)
                } else {
                    core.submit_without_cpl(changes.clone(), now)
                };
                (r, core.take_outgoing())
            };
            match result {
                (Ok(lsn), outs) => {
                    dispatch(&self.inner, outs);
                    return Ok(lsn);
                }
                (Err(SubmitError::Backpressure { .. }), _) => {
                    if rx.changed().await.is_err() {
                        return Err(VolumeError::Closed);
                    }
                }
                (Err(SubmitError::Fenced(e)), _) => return Err(VolumeError::Fenced(e)),
                (Err(SubmitError::Empty), _) => return Err(VolumeError::Empty),
            }
        }
    }

    /// Waits until the VDL reaches `lsn`.
    pub async fn wait_durable(&self, lsn: Lsn) -> Result<(), VolumeError> {
        loop {
            let woken = {
                let mut w = self.inner.durable_waiters.lock().expect("durable waiters");
                let p = *self.inner.progress.borrow();
                if p.vdl >= lsn {
                    return Ok(());
                }
                if let Some(e) = p.fenced {
                    return Err(VolumeError::Fenced(e));
                }
                let (tx, rx) = oneshot::channel();
                w.by_lsn.entry(lsn).or_default().push(tx);
                rx
            };
            // Woken once the VDL covers `lsn` or the writer is fenced; the
            // loop tells which.
            if woken.await.is_err() {
                return Err(VolumeError::Closed);
            }
        }
    }

    /// The volume complete LSN: every record at or below it is on a write
    /// quorum (a reader's read point).
    pub fn vcl(&self) -> Lsn {
        self.inner.progress.borrow().vcl
    }

    /// Waits until the VCL reaches `lsn`: every record up to it is on a
    /// write quorum, so its page versions can be read back, though without
    /// a CPL at or above `lsn` they are not durable.
    pub async fn wait_written(&self, lsn: Lsn) -> Result<(), VolumeError> {
        let mut rx = self.inner.progress.subscribe();
        loop {
            let p = *rx.borrow_and_update();
            if p.vcl >= lsn {
                return Ok(());
            }
            if let Some(e) = p.fenced {
                return Err(VolumeError::Fenced(e));
            }
            if rx.changed().await.is_err() {
                return Err(VolumeError::Closed);
            }
        }
    }

    /// Submits one MTR and waits until it is durable.
    pub async fn commit(&self, changes: Vec<(PageId, RecordBody)>) -> Result<Lsn, VolumeError> {
        let lsn = self.submit(changes).await?;
        self.wait_durable(lsn).await?;
        Ok(lsn)
    }

    /// Reads `page` as of `lsn` (at most the VDL) from one replica.
    ///
    /// A replica answers "not yet" while its SCL is below `lsn`. For a
    /// reader that is the read point running ahead of a replica; for the
    /// writer it happens when `lsn` is newer than the PG's last record:
    /// the PG's segments only learn that the volume moved past their own
    /// records from the next append or VDL hint (every `heartbeat_ms`), so
    /// a cold read right after commits to *other* PGs (a freshly promoted
    /// writer's empty buffer pool) waits for it. Both retry with backoff
    /// for up to [`READER_NOT_YET_WAIT_MAX`].
    pub async fn get_page(&self, page: PageId, lsn: Lsn) -> Result<Bytes, VolumeError> {
        let deadline = Instant::now() + READER_NOT_YET_WAIT_MAX;
        let mut pause = READER_NOT_YET_BACKOFF;
        loop {
            let attempt = match &self.inner.mode {
                Mode::Writer(_) => self.get_page_once(page, lsn).await,
                Mode::Reader(routing) => {
                    let (pg, replicas, epoch) = {
                        let mut routing = routing.lock().expect("routing lock");
                        let (pg, replicas) = routing.candidates(page, lsn);
                        (pg, replicas, routing.epoch())
                    };
                    self.read_from(pg, replicas, page, lsn, epoch).await
                }
            };
            match attempt {
                Err(VolumeError::PageUnavailable { detail, .. }) if Instant::now() < deadline => {
                    tracing::debug!(%page, %lsn, "page read retried: {detail}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(READER_NOT_YET_BACKOFF_MAX);
                }
                other => return other,
            }
        }
    }

    async fn get_page_once(&self, page: PageId, lsn: Lsn) -> Result<Bytes, VolumeError> {
        let (candidates, epoch) = {
            let mut core = self.inner.core().expect("a writer's volume");
            (core.read_candidates(page, lsn), core.epoch())
        };
        let Some((pg, replicas)) = candidates else {
            return Err(VolumeError::NoSuchPage(page));
        };
        self.read_from(pg, replicas, page, lsn, epoch).await
    }

    async fn read_from(
        &self,
        pg: PgId,
        replicas: Vec<Replica>,
        page: PageId,
        lsn: Lsn,
        epoch: Epoch,
    ) -> Result<Bytes, VolumeError> {
        let saw_scl = |node: NodeId, scl: Lsn| {
            if let Mode::Reader(r) = &self.inner.mode {
                r.lock().expect("routing lock").saw_scl(pg, node, scl);
            }
        };
        let mut detail = Vec::new();
        for r in replicas {
            let Some(peer) = self.inner.peers.get(&r.node) else {
                continue;
            };
            let reply = peer
                .request(
                    Message::GetPage {
                        pg,
                        page,
                        lsn,
                        epoch,
                    },
                    self.inner.cfg.page_read_timeout,
                )
                .await;
            match reply {
                Ok(Message::Page { image, .. }) => {
                    saw_scl(r.node, lsn);
                    return Ok(image);
                }
                Ok(Message::TooOld { horizon }) => {
                    return Err(VolumeError::TooOld { page, lsn, horizon })
                }
                Ok(Message::NotYet { scl }) => {
                    saw_scl(r.node, scl);
                    detail.push(format!("node {}: not yet (SCL {scl})", r.node))
                }
                Ok(other) => detail.push(format!("node {}: {other:?}", r.node)),
                Err(e) => detail.push(format!("node {}: {e}", r.node)),
            }
        }
        Err(VolumeError::PageUnavailable {
            page,
            lsn,
            detail: detail.join("; "),
        })
    }
}

/// Sends each message on its own task and feeds the reply back to the core.
fn dispatch(inner: &Arc<Inner>, outs: Vec<Outgoing>) {
    for out in outs {
        let Some(peer) = inner.peers.get(&out.to).cloned() else {
            continue;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let reply = peer.request(out.msg, inner.cfg.request_timeout).await;
            let (outs, progress) = {
                let mut core = inner.core().expect("only a writer dispatches");
                let now = now_ms(inner.started);
                match reply {
                    Ok(msg) => core.on_reply(out.to, out.req_id, msg, now),
                    Err(e) => {
                        tracing::debug!(node = %out.to, "storage request failed: {e}");
                        core.on_failure(out.req_id, now);
                    }
                }
                (
                    core.take_outgoing(),
                    Progress {
                        vdl: core.vdl(),
                        vcl: core.vcl(),
                        fenced: core.fenced(),
                    },
                )
            };
            // Replies finish out of order: another task may already have
            // published a later VDL than the one computed here. Progress
            // only moves forward, or a commit that waited for its LSN could
            // be followed by a snapshot below it.
            inner.publish(progress);
            dispatch(&inner, outs);
        });
    }
}

async fn recover(
    cluster: &Cluster,
    peers: &HashMap<NodeId, Peer>,
    cfg: &VolumeConfig,
    started: Instant,
) -> Result<self::core::Recovered, VolumeError> {
    let rec = Arc::new(Mutex::new(Recovery::new(
        cluster.clone(),
        cfg.epoch_nonce,
        now_ms(started),
        cfg.recovery_list_wait.as_millis() as u64,
        cfg.request_timeout.as_millis() as u64,
    )));
    let (wake_tx, mut wake_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut last_log = Instant::now();
    loop {
        let outs = {
            let mut r = rec.lock().expect("recovery lock");
            r.tick(now_ms(started));
            if let Some(result) = r.take_result() {
                return result.map_err(VolumeError::from);
            }
            if last_log.elapsed() > Duration::from_secs(5) {
                tracing::warn!("recovery still running: {}", r.progress());
                last_log = Instant::now();
            }
            r.take_outgoing()
        };
        for out in outs {
            let Some(peer) = peers.get(&out.to).cloned() else {
                continue;
            };
            let rec = rec.clone();
            let wake = wake_tx.clone();
            let timeout = cfg.request_timeout;
            tokio::spawn(async move {
                if let Ok(msg) = peer.request(out.msg, timeout).await {
                    rec.lock().expect("recovery lock").on_reply(
                        out.to,
                        out.req_id,
                        msg,
                        now_ms(started),
                    );
                    let _ = wake.try_send(());
                }
            });
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), wake_rx.recv()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::reader::tests::cluster;
    use super::*;

    /// A durability waiter returns once the VDL (here a reader's read point)
    /// reaches its LSN, and not before; one whose LSN is already covered
    /// returns at once.
    #[tokio::test]
    async fn a_vdl_move_releases_exactly_the_waiters_it_covers() {
        let v = Volume::open_reader(cluster(), VolumeConfig::default(), Lsn(1), Epoch(1));
        let waiter = |lsn: u64| {
            let v = v.clone();
            tokio::spawn(async move { v.wait_durable(Lsn(lsn)).await })
        };
        let (w5, w10, w20) = (waiter(5), waiter(10), waiter(20));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!w5.is_finished() && !w10.is_finished() && !w20.is_finished());

        let released = |w: tokio::task::JoinHandle<Result<(), VolumeError>>| async move {
            tokio::time::timeout(Duration::from_secs(2), w)
                .await
                .expect("a covered waiter is woken")
                .unwrap()
                .unwrap()
        };
        v.set_read_point(Lsn(10));
        released(w5).await;
        released(w10).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!w20.is_finished(), "LSN 20 is not covered by a VDL of 10");

        v.wait_durable(Lsn(7)).await.unwrap();
        v.set_read_point(Lsn(25));
        released(w20).await;
    }
}

//! The reader's end of the redo stream: follow the writer, apply whole
//! MTRs, move the read point.
//!
//! # Following
//! The reader subscribes with its read point; the writer answers with
//! `start`, its VDL at that moment, and then streams every durable MTR after
//! it. Each MTR (records up to the one flagged CPL, chained by
//! `vol_prev_lsn`, so a missing record is seen) is applied in one step to
//! the buffer pool (`BufferPool::apply_mtr`; for a big transaction streamed
//! in chunks, the pages the earlier chunks changed are listed before the
//! records, and their cached versions are closed instead); then, if it touched the
//! catalog's pages, the catalog at its LSN is read and installed; only then
//! does the read point move to it. A snapshot therefore sees all of an MTR
//! or none of it, with the matching catalog.
//!
//! # Catching up
//! When `start` is above the read point (the reader was dropped from the
//! stream, partitioned, restarted, or the writer restarted), the MTRs in
//! between are not replayed: the pool closes every open-ended version at
//! the old point (`BufferPool::skip_to`), so later snapshots read those
//! pages from storage at the new point, and the catalog is read again. The
//! writer's VDL is durable, so storage can serve it.
//!
//! # Which writer
//! A reader knows the writer's redo stream address and, optionally, the
//! addresses where other compute nodes would serve theirs once promoted
//! ([`FollowerConfig::alternates`]). Each time it (re)subscribes it asks
//! all of them and follows the one with the highest epoch: a reader only
//! serves its redo stream after promotion, and a promotion takes a newer
//! epoch, so after a failover the readers find the new writer by
//! themselves. A writer older than the newest epoch the reader has
//! followed is refused, so a fenced writer that is still running can never
//! take a reader back to a stale timeline; its hub also closes its streams
//! as soon as it learns it was fenced.
//!
//! # Lag
//! `lag_lsn` is the writer's VDL, as last heard, minus the read point.
//! `lag_ms` is how long the reader has been behind the VDL it heard of (by
//! its own clock, so it leaves out the network's share); while
//! disconnected it is the time since the stream was lost, an upper bound
//! on how stale the data may be.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sextant_storage::cluster::Cluster;
use sextant_storage::types::{Epoch, LogRecord, Lsn, PageId, RecordBody};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::hub::AbortOnDrop;
use super::wire::{StreamError, StreamMsg};
use super::{ReplicaStatus, StatusSource};
use crate::engine::{Engine, EngineConfig, EngineError};
use crate::superblock::{Superblock, SUPERBLOCK_PAGE};

/// Bytes of one MTR a reader buffers before its CPL arrives. The writer's
/// transactions are bounded (`txn_bytes_max`), their MTRs are about the size
/// of the pages they touch; past this the stream is treated as broken.
pub const MTR_BYTES_MAX: u64 = 1 << 30;

/// Tunables of a reader.
#[derive(Clone, Debug)]
pub struct FollowerConfig {
    /// The writer's redo stream address.
    pub writer: String,
    /// Where other compute nodes serve their redo stream once promoted;
    /// the reader follows whichever of these and `writer` has the highest
    /// epoch.
    pub alternates: Vec<String>,
    /// This reader's name, for status and the writer's logs.
    pub name: String,
    /// How often the reader tells the writer its read point.
    pub feedback: Duration,
    /// A stream silent this long is dead (the writer sends its VDL at
    /// least every 100 ms).
    pub silence_max: Duration,
    /// Longest pause between attempts to subscribe again.
    pub reconnect_backoff_max: Duration,
}

impl FollowerConfig {
    /// Defaults for a reader of the writer at `writer`.
    pub fn new(writer: String, name: String) -> FollowerConfig {
        FollowerConfig {
            writer,
            alternates: Vec::new(),
            name,
            feedback: Duration::from_millis(100),
            silence_max: Duration::from_secs(2),
            reconnect_backoff_max: Duration::from_secs(1),
        }
    }
}

/// Why a reader could not start or lost the stream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FollowerError {
    /// The writer's redo stream could not be reached.
    #[error("subscribe to the redo stream at {addr}: {detail}")]
    Subscribe {
        /// The writer's redo stream address.
        addr: String,
        /// What failed.
        detail: String,
    },
    /// A frame was bad or the connection failed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// Nothing arrived in time.
    #[error("the redo stream was silent for {0:?}")]
    Silent(Duration),
    /// A record is missing or out of order.
    #[error("redo stream gap: expected a record after {expected}, got {lsn} after {prev}")]
    Gap {
        /// The last record received.
        expected: Lsn,
        /// The record's LSN.
        lsn: Lsn,
        /// Its `vol_prev_lsn`.
        prev: Lsn,
    },
    /// The writer broke the protocol.
    #[error("redo stream protocol: {0}")]
    Protocol(String),
    /// Reading the catalog or opening the engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

#[derive(Debug)]
struct Status {
    connected: bool,
    writer_vdl: Lsn,
    epoch: Epoch,
    behind_since: Option<Instant>,
    disconnected_at: Option<Instant>,
    mtrs_applied: u64,
    pages_applied: u64,
    pages_skipped: u64,
    catch_ups: u64,
}

struct Shared {
    engine: Engine,
    cfg: FollowerConfig,
    status: Mutex<Status>,
}

impl Shared {
    fn heard_vdl(&self, vdl: Lsn) {
        let read_point = self.engine.vdl();
        let mut st = self.status.lock().expect("status");
        st.writer_vdl = st.writer_vdl.max(vdl);
        if st.writer_vdl > read_point {
            st.behind_since.get_or_insert_with(Instant::now);
        } else {
            st.behind_since = None;
        }
    }
}

/// What the reader knows of the catalog's place on the pages.
struct CatalogWatch {
    root: PageId,
    pages: BTreeSet<PageId>,
}

/// A running reader: the engine it serves and the task following the
/// writer. Dropping it stops following (the engine stays at its read point).
pub struct Follower {
    shared: Arc<Shared>,
    _task: AbortOnDrop,
}

type Conn = (OwnedReadHalf, OwnedWriteHalf, Epoch, Lsn);

impl Follower {
    /// Subscribes to the writer's redo stream, opens a reader's engine at
    /// the writer's VDL and starts following.
    pub async fn start(
        cluster: Cluster,
        engine_cfg: EngineConfig,
        cfg: FollowerConfig,
    ) -> Result<Follower, FollowerError> {
        let conn = subscribe_newest(&cfg, Lsn::ZERO, Epoch(0)).await?;
        let start = conn.3;
        let engine = Engine::open_reader(cluster, engine_cfg, start, conn.2).await?;
        let (sb, _, pages) = engine.read_catalog_at(start)?;
        let watch = CatalogWatch {
            root: sb.catalog_root,
            pages,
        };
        let shared = Arc::new(Shared {
            engine,
            cfg,
            status: Mutex::new(Status {
                connected: false,
                writer_vdl: start,
                epoch: conn.2,
                behind_since: None,
                disconnected_at: Some(Instant::now()),
                mtrs_applied: 0,
                pages_applied: 0,
                pages_skipped: 0,
                catch_ups: 0,
            }),
        });
        let task = tokio::spawn(run(shared.clone(), Some(conn), watch));
        Ok(Follower {
            shared,
            _task: AbortOnDrop(task.abort_handle()),
        })
    }

    /// The reader's engine.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// The read point.
    pub fn read_point(&self) -> Lsn {
        self.shared.engine.vdl()
    }

    /// True while the reader receives the stream.
    pub fn is_connected(&self) -> bool {
        self.shared.status.lock().expect("status").connected
    }

    /// How many times the reader caught up from storage over a gap.
    pub fn catch_ups(&self) -> u64 {
        self.shared.status.lock().expect("status").catch_ups
    }

    /// MTRs applied, and pages they changed that were cached (applied) or
    /// not (skipped).
    pub fn applied_counts(&self) -> (u64, u64, u64) {
        let st = self.shared.status.lock().expect("status");
        (st.mtrs_applied, st.pages_applied, st.pages_skipped)
    }

    /// Waits until the read point reaches `lsn`; false on timeout.
    pub async fn wait_for(&self, lsn: Lsn, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.shared.engine.volume().wait_durable(lsn))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// This reader's row of `sextant_replica_status()`.
    pub fn status(&self) -> ReplicaStatus {
        status_row(&self.shared)
    }

    /// A status source to hand to the SQL layer and metrics.
    pub fn status_source(&self) -> Arc<dyn StatusSource> {
        Arc::new(FollowerStatus(self.shared.clone()))
    }
}

struct FollowerStatus(Arc<Shared>);

impl StatusSource for FollowerStatus {
    fn replica_status(&self) -> Vec<ReplicaStatus> {
        vec![status_row(&self.0)]
    }
}

fn status_row(shared: &Shared) -> ReplicaStatus {
    let read_point = shared.engine.vdl();
    let oldest = shared.engine.oldest_read_point();
    let st = shared.status.lock().expect("status");
    let now = Instant::now();
    let since = if st.connected {
        st.behind_since
    } else {
        st.disconnected_at
    };
    ReplicaStatus {
        server_id: shared.cfg.name.clone(),
        role: "reader",
        connected: st.connected,
        durable_lsn: st.writer_vdl.max(read_point),
        read_lsn: read_point,
        oldest_snapshot_lsn: oldest,
        lag_lsn: st.writer_vdl.0.saturating_sub(read_point.0),
        lag_ms: since.map_or(0, |t| now.duration_since(t).as_millis() as u64),
    }
}

/// Subscribes to every candidate writer at once and keeps the stream of
/// the one with the highest epoch, at least `min_epoch`.
async fn subscribe_newest(
    cfg: &FollowerConfig,
    read_point: Lsn,
    min_epoch: Epoch,
) -> Result<Conn, FollowerError> {
    let addrs: Vec<&String> = std::iter::once(&cfg.writer)
        .chain(cfg.alternates.iter().filter(|a| **a != cfg.writer))
        .collect();
    let tries = futures_util::future::join_all(
        addrs
            .iter()
            .map(|addr| subscribe(cfg, addr.as_str(), read_point)),
    )
    .await;
    let mut best: Option<Conn> = None;
    let mut errors = Vec::new();
    for (addr, r) in addrs.iter().zip(tries) {
        match r {
            Ok(c) if c.2 < min_epoch => errors.push(format!(
                "{addr}: its epoch {} is older than {min_epoch}, the newest followed",
                c.2
            )),
            Ok(c) => {
                if best.as_ref().is_none_or(|b| c.2 > b.2) {
                    best = Some(c);
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    best.ok_or_else(|| FollowerError::Subscribe {
        addr: addrs
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        detail: errors.join("; "),
    })
}

async fn subscribe(
    cfg: &FollowerConfig,
    addr: &str,
    read_point: Lsn,
) -> Result<Conn, FollowerError> {
    let fail = |detail: String| FollowerError::Subscribe {
        addr: addr.to_owned(),
        detail,
    };
    let stream = tokio::time::timeout(cfg.silence_max, TcpStream::connect(addr))
        .await
        .map_err(|_| fail("connect timed out".into()))?
        .map_err(|e| fail(e.to_string()))?;
    stream.set_nodelay(true).ok();
    let (mut rd, mut wr) = stream.into_split();
    let sub = StreamMsg::Subscribe {
        name: cfg.name.clone(),
        read_point,
    };
    wr.write_all(&sub.to_frame())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let hello = tokio::time::timeout(cfg.silence_max, StreamMsg::read(&mut rd))
        .await
        .map_err(|_| fail("no answer in time".into()))?
        .map_err(|e| fail(e.to_string()))?;
    match hello {
        StreamMsg::Hello { epoch, start } => Ok((rd, wr, epoch, start)),
        other => Err(fail(format!("expected Hello, got {other:?}"))),
    }
}

async fn run(shared: Arc<Shared>, mut conn: Option<Conn>, mut watch: CatalogWatch) {
    let engine = shared.engine.clone();
    let mut backoff = Duration::from_millis(20);
    loop {
        let (rd, mut wr, epoch, start) = match conn.take() {
            Some(c) => c,
            None => {
                let newest = shared.status.lock().expect("status").epoch;
                match subscribe_newest(&shared.cfg, engine.vdl(), newest).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!("failed to resubscribe: {e}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(shared.cfg.reconnect_backoff_max);
                        continue;
                    }
                }
            }
        };
        backoff = Duration::from_millis(20);
        // Reads from here on (the catch-up's first) are at this writer's
        // read points: storage serves them from replicas in its history.
        engine.follow_epoch(epoch);
        if let Err(e) = catch_up(&shared, start, &mut watch) {
            tracing::warn!(%start, "failed to catch up from storage: {e}");
            tokio::time::sleep(backoff).await;
            continue;
        }
        {
            let mut st = shared.status.lock().expect("status");
            st.connected = true;
            st.disconnected_at = None;
            st.epoch = epoch;
        }
        shared.heard_vdl(start);
        tracing::info!(read_point = %engine.vdl(), %epoch, "following the writer's redo stream");

        // Feedback: the read point and the oldest snapshot, for the
        // writer's status and storage GC.
        let fb_engine = engine.clone();
        let every = shared.cfg.feedback;
        let feedback = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let m = StreamMsg::Feedback {
                    read_point: fb_engine.vdl(),
                    oldest_snapshot: fb_engine.oldest_read_point(),
                };
                if wr.write_all(&m.to_frame()).await.is_err() {
                    return;
                }
            }
        });
        let _fb = AbortOnDrop(feedback.abort_handle());
        let e = follow(&shared, rd, &mut watch).await;
        {
            let mut st = shared.status.lock().expect("status");
            st.connected = false;
            st.disconnected_at = Some(Instant::now());
        }
        tracing::info!(read_point = %engine.vdl(), "lost the redo stream: {e}");
    }
}

/// Moves the read point to `start` over whatever the stream skipped, and
/// makes sure no partly applied state is left.
fn catch_up(shared: &Shared, start: Lsn, watch: &mut CatalogWatch) -> Result<(), FollowerError> {
    let engine = &shared.engine;
    let pool = engine.pool_arc();
    let read_point = engine.vdl();
    let applied = pool.applied().expect("a follower's pool");
    if start < applied {
        return Err(FollowerError::Protocol(format!(
            "the writer's stream starts at {start}, below the applied {applied}"
        )));
    }
    if start == read_point && applied == read_point {
        return Ok(());
    }
    let closed = pool.skip_to(start);
    let (sb, catalog, pages) = engine.read_catalog_at(start)?;
    engine.install_catalog(start, catalog);
    watch.root = sb.catalog_root;
    watch.pages = pages;
    engine.advance_read_point(start);
    shared.status.lock().expect("status").catch_ups += 1;
    tracing::info!(from = %read_point, to = %start, versions_closed = closed, "caught up from storage");
    Ok(())
}

async fn follow(shared: &Shared, mut rd: OwnedReadHalf, watch: &mut CatalogWatch) -> FollowerError {
    let engine = &shared.engine;
    let mut mtr: Vec<LogRecord> = Vec::new();
    let mut streamed: Vec<PageId> = Vec::new();
    let mut mtr_bytes = 0u64;
    let mut prev = engine.vdl();
    loop {
        let msg = match tokio::time::timeout(shared.cfg.silence_max, StreamMsg::read(&mut rd)).await
        {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return e.into(),
            Err(_) => return FollowerError::Silent(shared.cfg.silence_max),
        };
        match msg {
            StreamMsg::Records(records) => {
                for r in records {
                    if r.vol_prev_lsn != prev || r.lsn <= prev {
                        return FollowerError::Gap {
                            expected: prev,
                            lsn: r.lsn,
                            prev: r.vol_prev_lsn,
                        };
                    }
                    prev = r.lsn;
                    mtr_bytes += r.encoded_len() as u64;
                    if mtr_bytes > MTR_BYTES_MAX {
                        return FollowerError::Protocol(format!(
                            "MTR past {MTR_BYTES_MAX} bytes without a CPL"
                        ));
                    }
                    let cpl = r.is_cpl();
                    mtr.push(r);
                    if cpl {
                        let records = std::mem::take(&mut mtr);
                        let streamed = std::mem::take(&mut streamed);
                        mtr_bytes = 0;
                        if let Err(e) = apply(shared, records, &streamed, watch) {
                            return e;
                        }
                    }
                }
            }
            StreamMsg::Streamed(pages) => {
                mtr_bytes += 8 * pages.len() as u64;
                if mtr_bytes > MTR_BYTES_MAX {
                    return FollowerError::Protocol(format!(
                        "MTR past {MTR_BYTES_MAX} bytes without a CPL"
                    ));
                }
                streamed.extend(pages);
            }
            StreamMsg::Vdl(vdl) => shared.heard_vdl(vdl),
            other => return FollowerError::Protocol(format!("unexpected {other:?}")),
        }
    }
}

/// Applies one whole MTR (with the pages its earlier chunks changed, for a
/// streamed one) and moves the read point to it.
fn apply(
    shared: &Shared,
    records: Vec<LogRecord>,
    streamed: &[PageId],
    watch: &mut CatalogWatch,
) -> Result<(), FollowerError> {
    let engine = &shared.engine;
    let commit = records.last().expect("an MTR has records").lsn;
    shared.heard_vdl(commit);
    let changes: Vec<(PageId, RecordBody)> =
        records.into_iter().map(|r| (r.page, r.body)).collect();
    let pool = engine.pool_arc();
    let applied = match pool.apply_mtr(commit, &changes, streamed) {
        Ok(a) => a,
        Err(e) => {
            // The cache and the stream disagree: trust no cached page past
            // this MTR; snapshots from here on read storage.
            tracing::error!("dropping the cache: {e}");
            pool.skip_to(commit);
            Default::default()
        }
    };
    let touched: BTreeSet<PageId> = changes
        .iter()
        .map(|(p, _)| *p)
        .chain(streamed.iter().copied())
        .collect();
    let catalog_changed = touched
        .iter()
        .any(|p| *p != SUPERBLOCK_PAGE && watch.pages.contains(p))
        || (touched.contains(&SUPERBLOCK_PAGE)
            && superblock_root(engine, commit) != Some(watch.root));
    if catalog_changed {
        let (sb, catalog, pages) = engine.read_catalog_at(commit)?;
        engine.install_catalog(commit, catalog);
        watch.root = sb.catalog_root;
        watch.pages = pages;
    }
    engine.advance_read_point(commit);
    {
        let mut st = shared.status.lock().expect("status");
        st.mtrs_applied += 1;
        st.pages_applied += applied.pages_applied;
        st.pages_skipped += applied.pages_skipped;
    }
    shared.heard_vdl(commit);
    Ok(())
}

/// The catalog root in the cached superblock at `lsn`, if cached.
fn superblock_root(engine: &Engine, lsn: Lsn) -> Option<PageId> {
    let img = engine.pool().get(SUPERBLOCK_PAGE, lsn)?;
    Superblock::decode(&img).ok().map(|sb| sb.catalog_root)
}

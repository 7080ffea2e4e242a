//! The storage node server: hosts segment replicas on local disk and serves
//! the storage protocol ([`crate::wire`]) to the volume client and to peer
//! replicas.
//!
//! [`start`] loads every segment under `data_dir`, binds the listeners and
//! spawns the tasks; the returned [`NodeHandle`] stops them. Per segment there
//! are three background tasks, each in a span with `node_id` and `pg`:
//!
//! * the **writer** ([`store`]): group commit. Requests apply to the in-memory
//!   [`crate::segment::Segment`] and wait; the writer writes everything
//!   queued, fsyncs once and completes them all with the durable SCL.
//! * **gossip** ([`gossip`]): every `gossip_interval` pull records above our
//!   SCL from each other replica, and repair pages whose image was lost to
//!   corruption.
//! * **maintenance** ([`maintenance`]): materialize long delta chains, collect
//!   versions below the minimum read point, compact the log file.
//!
//! On-disk layout and the loader's handling of damage are in [`format`] and
//! `docs/storage-format.md`.
//!
//! # What this assumes
//! One process owns a data directory. Two nodes of the same process are kept
//! off one directory (a second `start` waits for the first node's tasks to
//! end); two processes are not, so deployments must not share directories.
//!
//! # Future work
//! A replica that misses records its peers have already dropped from their
//! logs (older than `log_retention` and below the GC horizon) cannot be filled
//! by gossip; that needs whole-segment copy (repair and membership, DESIGN §2).

pub mod disk;
pub mod format;
mod gossip;
mod handler;
mod maintenance;
mod server;
mod store;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::metrics::NodeMetrics;
use crate::net::Peer;
use crate::types::{NodeId, PgId};
use crate::wire::STRING_BYTES_MAX;

pub use store::LoadError;
use store::Slot;

/// Default interval between gossip rounds of a segment.
pub const DEFAULT_GOSSIP_INTERVAL: Duration = Duration::from_millis(200);
/// Default time log records are kept even below the GC horizon (the
/// backtrack/PITR window, and what lets a replica that was down catch up).
pub const DEFAULT_LOG_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Default time between GC passes of a segment (see [`NodeConfig::gc_interval`]).
pub const DEFAULT_GC_INTERVAL: Duration = Duration::from_secs(30);
/// Bounds of `gc_interval`.
pub const GC_INTERVAL_MIN: Duration = Duration::from_millis(10);
/// Upper bound of `gc_interval`: old versions are index entries in memory.
pub const GC_INTERVAL_MAX: Duration = Duration::from_secs(3600);
/// Shortest gossip interval accepted: faster only burns CPU.
pub const GOSSIP_INTERVAL_MIN: Duration = Duration::from_millis(1);
/// Longest gossip interval accepted: slower leaves holes open too long.
pub const GOSSIP_INTERVAL_MAX: Duration = Duration::from_secs(60);
/// Longest log retention accepted: a year of log is a misconfiguration.
pub const LOG_RETENTION_MAX: Duration = Duration::from_secs(366 * 24 * 3600);
/// Segments one node hosts at most. Bounds tasks, open files and the size of
/// a `Segments` reply.
pub const SEGMENTS_PER_NODE_MAX: usize = 4096;
/// Default bytes of record bodies and page images a node caches in memory.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// Smallest cache accepted: a few pages, enough for one chain.
pub const CACHE_BYTES_MIN: u64 = 256 * 1024;
/// Largest cache accepted.
pub const CACHE_BYTES_MAX: u64 = 1 << 40;
/// How long `start` waits for a node of this process that was stopped to let
/// go of the same data directory.
const DATA_DIR_RELEASE_WAIT: Duration = Duration::from_secs(10);

/// Configuration of one storage node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Storage protocol listener; port 0 picks a free port (tests, `sextant dev`).
    pub listen: SocketAddr,
    /// Availability zone of this node.
    pub az: String,
    /// Directory holding one subdirectory per segment.
    pub data_dir: PathBuf,
    /// This node's id in the cluster file.
    pub node_id: NodeId,
    /// HTTP listener serving `/metrics`, if any.
    pub metrics: Option<SocketAddr>,
    /// Interval between gossip rounds of each segment.
    pub gossip_interval: Duration,
    /// Keep log records this long even below the GC horizon.
    pub log_retention: Duration,
    /// Time between GC passes of a segment. A pass moves the horizon up to
    /// the writer's minimum read point, dropping the versions each changed
    /// page no longer needs there and coalescing only long chains into an
    /// image (`Segment::plan_collect`); when every changed page became an
    /// image, a pass every second took a third of `sextant dev`'s CPU under
    /// upserts. Old versions wait in memory (index entries; bodies are on
    /// disk) until then.
    pub gc_interval: Duration,
    /// Fsync before acknowledging. `false` only for benchmarks that say so.
    pub fsync: bool,
    /// Bytes of record bodies and page images kept in memory, for all the
    /// node's segments together; the rest is read back from disk.
    pub cache_bytes: u64,
}

impl NodeConfig {
    /// A configuration with the default intervals, retention and fsync on.
    pub fn new(
        listen: SocketAddr,
        az: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        node_id: NodeId,
    ) -> NodeConfig {
        NodeConfig {
            listen,
            az: az.into(),
            data_dir: data_dir.into(),
            node_id,
            metrics: None,
            gossip_interval: DEFAULT_GOSSIP_INTERVAL,
            log_retention: DEFAULT_LOG_RETENTION,
            gc_interval: DEFAULT_GC_INTERVAL,
            fsync: true,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }

    /// Range-checks the configuration (STYLE §5), once, before anything starts.
    pub fn validate(&self) -> Result<(), NodeError> {
        let bad = |what: String| Err(NodeError::Config(what));
        if self.az.is_empty() || self.az.len() > STRING_BYTES_MAX {
            return bad(format!("az must be 1 to {STRING_BYTES_MAX} bytes"));
        }
        if !(GOSSIP_INTERVAL_MIN..=GOSSIP_INTERVAL_MAX).contains(&self.gossip_interval) {
            return bad(format!(
                "gossip_interval {:?} outside {GOSSIP_INTERVAL_MIN:?}..={GOSSIP_INTERVAL_MAX:?}",
                self.gossip_interval
            ));
        }
        if self.log_retention > LOG_RETENTION_MAX {
            return bad(format!(
                "log_retention {:?} above {LOG_RETENTION_MAX:?}",
                self.log_retention
            ));
        }
        if !(GC_INTERVAL_MIN..=GC_INTERVAL_MAX).contains(&self.gc_interval) {
            return bad(format!(
                "gc_interval {:?} outside {GC_INTERVAL_MIN:?}..={GC_INTERVAL_MAX:?}",
                self.gc_interval
            ));
        }
        if !(CACHE_BYTES_MIN..=CACHE_BYTES_MAX).contains(&self.cache_bytes) {
            return bad(format!(
                "cache_bytes {} outside {CACHE_BYTES_MIN}..={CACHE_BYTES_MAX}",
                self.cache_bytes
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir is empty".into());
        }
        Ok(())
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The configuration is out of range.
    #[error("invalid node configuration: {0}")]
    Config(String),
    /// The data directory could not be created or read.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another node of this process still uses the data directory.
    #[error("data directory {0} is in use by another node of this process")]
    DataDirInUse(PathBuf),
    /// A listener could not be bound.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running node. Dropping it stops the node without waiting;
/// [`NodeHandle::shutdown`] waits until every task has ended.
#[derive(Debug)]
pub struct NodeHandle {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl NodeHandle {
    /// The bound storage protocol address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound `/metrics` address, if metrics are served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops the node and waits until all its tasks ended and its files are
    /// closed. Acknowledged writes are already durable; queued ones are not
    /// acknowledged.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(done) = self.done.take() {
            if let Err(e) = done.await {
                tracing::error!("storage node supervisor failed: {e}");
            }
        }
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Data directories in use by nodes of this process.
static DATA_DIRS_IN_USE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Holds a data directory for one node; released on drop.
struct DirLease(PathBuf);

impl DirLease {
    async fn acquire(path: PathBuf) -> Result<DirLease, NodeError> {
        let deadline = tokio::time::Instant::now() + DATA_DIR_RELEASE_WAIT;
        loop {
            if DATA_DIRS_IN_USE
                .lock()
                .expect("data dir registry")
                .insert(path.clone())
            {
                return Ok(DirLease(path));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(NodeError::DataDirInUse(path));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for DirLease {
    fn drop(&mut self) {
        DATA_DIRS_IN_USE
            .lock()
            .expect("data dir registry")
            .remove(&self.0);
    }
}

/// State shared by every task of one node.
pub(crate) struct Node {
    pub config: NodeConfig,
    pub metrics: Arc<NodeMetrics>,
    /// Bodies and images in memory, for all segments.
    pub cache: Arc<disk::Cache>,
    pub segments: RwLock<BTreeMap<PgId, Arc<Slot>>>,
    /// Segments found on disk but refused (damaged meta), with the reason.
    /// They are never served nor recreated over: a human must look.
    pub refused: RwLock<BTreeMap<PgId, String>>,
    /// Serializes segment creation.
    pub create_lock: tokio::sync::Mutex<()>,
    peers: Mutex<HashMap<String, Peer>>,
    pub shutdown: watch::Receiver<bool>,
    /// Every task holds a clone; the supervisor waits for all to drop.
    tracker: Mutex<Option<mpsc::Sender<()>>>,
}

impl Node {
    /// Spawns a task the node waits for at shutdown. After shutdown began,
    /// nothing new starts; returns whether the task was spawned.
    pub fn spawn<F>(&self, fut: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(token) = self.tracker.lock().expect("task tracker").clone() else {
            return false;
        };
        tokio::spawn(async move {
            let _token = token;
            fut.await;
        });
        true
    }

    /// The shared client handle to a peer node.
    pub fn peer(&self, addr: &str) -> Peer {
        self.peers
            .lock()
            .expect("peer map")
            .entry(addr.to_string())
            .or_insert_with(|| Peer::new(addr))
            .clone()
    }

    /// The slot of `pg`, if hosted.
    pub fn slot(&self, pg: PgId) -> Option<Arc<Slot>> {
        self.segments.read().expect("segment map").get(&pg).cloned()
    }

    /// Registers a slot and starts its writer, gossip and maintenance tasks.
    pub fn add_slot(self: &Arc<Self>, slot: Arc<Slot>) {
        let node_id = self.config.node_id;
        let pg = slot.pg;
        self.segments
            .write()
            .expect("segment map")
            .insert(pg, slot.clone());
        let span = tracing::info_span!("segment_writer", %node_id, %pg);
        if !self.spawn(
            slot.clone()
                .run_writer(self.shutdown.clone())
                .instrument(span),
        ) {
            // Shutdown began: with no writer, fail waiters instead of
            // leaving them hanging.
            slot.stop();
            return;
        }
        let span = tracing::info_span!("gossip", %node_id, %pg);
        let _ = self.spawn(gossip::run(self.clone(), slot.clone()).instrument(span));
        let span = tracing::info_span!("maintenance", %node_id, %pg);
        let _ = self.spawn(maintenance::run(self.clone(), slot).instrument(span));
    }
}

/// Resolves once the node is stopping (or its handle is gone).
pub(crate) async fn until_shutdown(rx: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it right here.
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}

/// Milliseconds since the Unix epoch (zero if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Starts a storage node: loads its segments, binds its listeners and spawns
/// its tasks.
pub async fn start(config: NodeConfig) -> Result<NodeHandle, NodeError> {
    config.validate()?;
    let dir_err = |source| NodeError::DataDir {
        path: config.data_dir.clone(),
        source,
    };
    tokio::fs::create_dir_all(&config.data_dir)
        .await
        .map_err(dir_err)?;
    let data_dir = tokio::fs::canonicalize(&config.data_dir)
        .await
        .map_err(dir_err)?;
    let lease = DirLease::acquire(data_dir.clone()).await?;
    let metrics = Arc::new(NodeMetrics::new());
    let node_id = config.node_id;
    let cache = Arc::new(disk::Cache::new(config.cache_bytes));

    let (slots, refused) = load_segments(&data_dir, config.fsync, metrics.clone(), cache.clone())
        .instrument(tracing::info_span!("load", %node_id))
        .await
        .map_err(|source| NodeError::DataDir {
            path: data_dir.clone(),
            source,
        })?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| NodeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| NodeError::Bind {
        addr: config.listen,
        source,
    })?;
    let metrics_listener = match config.metrics {
        Some(m) => {
            let l = tokio::net::TcpListener::bind(m)
                .await
                .map_err(|source| NodeError::Bind { addr: m, source })?;
            let a = l
                .local_addr()
                .map_err(|source| NodeError::Bind { addr: m, source })?;
            Some((l, a))
        }
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().map(|(_, a)| *a);

    let (stop_tx, stop_rx) = watch::channel(false);
    let (tracker_tx, mut tracker_rx) = mpsc::channel::<()>(1);
    let node = Arc::new(Node {
        config,
        metrics: metrics.clone(),
        cache,
        segments: RwLock::new(BTreeMap::new()),
        refused: RwLock::new(refused),
        create_lock: tokio::sync::Mutex::new(()),
        peers: Mutex::new(HashMap::new()),
        shutdown: stop_rx.clone(),
        tracker: Mutex::new(Some(tracker_tx)),
    });
    let hosted = slots.len();
    for slot in slots {
        node.add_slot(slot);
    }
    let _ = node.spawn(
        server::accept_loop(node.clone(), listener)
            .instrument(tracing::info_span!("listener", %node_id)),
    );
    if let Some((l, _)) = metrics_listener {
        let _ = node.spawn(
            server::serve_metrics(l, metrics, stop_rx.clone())
                .instrument(tracing::info_span!("metrics", %node_id)),
        );
    }
    tracing::info!(%node_id, %addr, ?metrics_addr, segments = hosted, data_dir = %data_dir.display(), "storage node started");

    let supervisor = {
        let node = node.clone();
        let mut stop_rx = stop_rx;
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
            node.tracker.lock().expect("task tracker").take();
            drop(node);
            // Every task holds a sender; recv yields None once all ended.
            let _ = tracker_rx.recv().await;
            drop(lease);
            tracing::info!(%node_id, "storage node stopped");
        }
    };
    let done = tokio::spawn(supervisor);
    Ok(NodeHandle {
        addr,
        metrics_addr,
        stop: stop_tx,
        done: Some(done),
    })
}

type LoadedSegments = (Vec<Arc<Slot>>, BTreeMap<PgId, String>);

/// Loads every segment directory under `data_dir`.
async fn load_segments(
    data_dir: &std::path::Path,
    fsync: bool,
    metrics: Arc<NodeMetrics>,
    cache: Arc<disk::Cache>,
) -> std::io::Result<LoadedSegments> {
    let mut slots = Vec::new();
    let mut refused = BTreeMap::new();
    let mut dirs = Vec::new();
    let mut rd = tokio::fs::read_dir(data_dir).await?;
    while let Some(entry) = rd.next_entry().await? {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(pg) = format::parse_segment_dir_name(name) {
            dirs.push((pg, entry.path()));
        } else if name.starts_with("pg-") && name.ends_with(".creating") {
            // A creation that crashed before its rename; never acknowledged.
            tracing::info!(dir = %entry.path().display(), "removing an unfinished segment creation");
            tokio::fs::remove_dir_all(entry.path()).await?;
        }
    }
    dirs.sort();
    if dirs.len() > SEGMENTS_PER_NODE_MAX {
        tracing::warn!(
            found = dirs.len(),
            max = SEGMENTS_PER_NODE_MAX,
            "more segments on disk than the per-node limit"
        );
    }
    for (pg, dir) in dirs {
        let m = metrics.clone();
        let c = cache.clone();
        let loaded = tokio::task::spawn_blocking(move || Slot::load_blocking(dir, pg, fsync, m, c))
            .await
            .map_err(std::io::Error::other)?;
        match loaded {
            Ok(l) => {
                if l.damaged > 0 {
                    metrics.corrupt_entries(l.damaged);
                    tracing::warn!(%pg, damaged = l.damaged, "segment loaded with damaged log entries");
                }
                if l.torn_bytes > 0 {
                    tracing::info!(%pg, bytes = l.torn_bytes, "segment log had a torn tail");
                }
                slots.push(l.slot);
            }
            Err(e) => {
                if matches!(e, LoadError::Meta { .. }) {
                    metrics.corrupt_entries(1);
                }
                tracing::error!(%pg, "refusing segment: {e}");
                refused.insert(pg, e.to_string());
            }
        }
    }
    Ok((slots, refused))
}

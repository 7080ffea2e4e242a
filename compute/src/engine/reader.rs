//! The engine as a read replica: opened at a read point, never writing.
//!
//! A reader's engine is the writer's engine with three differences, all
//! here so the commit pipeline stays the writer's alone: it attaches to the
//! volume without recovery (`Volume::open_reader`), so it never fences the
//! writer; its buffer pool follows the redo stream (`BufferPool::new_follower`);
//! and every transaction is read-only. `crate::replica::follower` applies the
//! stream and moves the read point with the methods below.

use std::cell::RefCell;

use super::*;
use sextant_storage::types::Epoch;

/// Pages a catalog load read: an MTR that changes one of them (or the
/// superblock's catalog root) changes the catalog.
pub(crate) type CatalogPages = BTreeSet<PageId>;

/// Records every page read through it.
struct Recording<'a, P: Pages> {
    pages: &'a P,
    seen: RefCell<CatalogPages>,
}

impl<P: Pages> Pages for Recording<'_, P> {
    fn get(&self, id: PageId) -> Result<crate::pages::PageRef, PageError> {
        self.seen.borrow_mut().insert(id);
        self.pages.get(id)
    }
    // No `prefetch`: a page only prefetched is not read, so not recorded.
}

impl Engine {
    /// Opens the engine as a read replica of the volume `cluster`
    /// describes, at `read_point` (durable: at most the writer's VDL, and
    /// the end of an MTR). No recovery runs and nothing is written.
    pub async fn open_reader(
        cluster: Cluster,
        cfg: EngineConfig,
        read_point: Lsn,
        epoch: Epoch,
    ) -> Result<Engine, EngineError> {
        let pages_per_pg = cluster.pages_per_pg();
        let volume = Volume::open_reader(cluster, cfg.volume.clone(), read_point, epoch);
        let pool = Arc::new(BufferPool::new_follower(cfg.pool_bytes, read_point));
        let snap = SnapshotPages::new(pool.clone(), volume.clone(), read_point);
        let (sb, catalog, _) = tokio::task::block_in_place(|| read_catalog(&snap))?;
        if sb.pages_per_pg != pages_per_pg {
            return Err(EngineError::Corrupted(format!(
                "volume has {} pages per PG but the cluster file gives {pages_per_pg}",
                sb.pages_per_pg
            )));
        }
        let catalog = Arc::new(catalog);
        // No commit pipeline: the queue's receiver is dropped, so a commit
        // that got this far would fail with Stopped (every transaction here
        // is read-only, so none does).
        let (queue, _) = tokio::sync::mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            next_object_id: AtomicU64::new(sb.next_object_id),
            volume,
            pool,
            cfg,
            queue,
            commit_groups: AtomicU64::new(0),
            commit_txns: AtomicU64::new(0),
            commit_waiting: AtomicU64::new(0),
            streaming: StreamCounters::default(),
            commit: tokio::sync::Mutex::new(CommitState {
                sb,
                last_write: HashMap::new(),
                last_ddl: HashMap::new(),
                catalog: catalog.clone(),
                poisoned: Some("a read replica does not commit".into()),
            }),
            catalogs: Mutex::new(BTreeMap::from([(read_point, catalog)])),
            snapshots: Mutex::new(BTreeMap::new()),
            rowids: Mutex::new(HashMap::new()),
            key_fn: RwLock::new(None),
            read_only: true,
            mtr_sink: std::sync::OnceLock::new(),
        });
        tracing::info!(%read_point, "read replica engine open");
        Ok(Engine { inner })
    }

    /// True for a read replica's engine.
    pub fn is_reader(&self) -> bool {
        self.inner.read_only
    }

    /// The newer writer's epoch, once storage rejected this writer's
    /// requests for it. A fenced engine never commits again: its commit
    /// pipeline stops at the first rejected MTR, and the SQL layer makes
    /// every later transaction read-only.
    pub fn fenced_by(&self) -> Option<sextant_storage::types::Epoch> {
        self.inner.volume.fenced()
    }

    /// Sends every MTR the writer submits to `sink` as well, in LSN order.
    /// Attach it before the first commit; a second sink is refused.
    pub fn set_mtr_sink(&self, sink: Arc<dyn MtrSink>) {
        assert!(!self.is_reader(), "a read replica submits no MTRs");
        assert!(
            self.inner.mtr_sink.set(sink).is_ok(),
            "an MTR sink is attached already"
        );
    }

    /// The buffer pool, shared (a reader's follower applies MTRs to it).
    pub(crate) fn pool_arc(&self) -> &Arc<BufferPool> {
        &self.inner.pool
    }

    /// Reads the catalog at `lsn` (the follower's last applied MTR, or an
    /// older point), with the pages it took.
    pub(crate) fn read_catalog_at(
        &self,
        lsn: Lsn,
    ) -> Result<(Superblock, Catalog, CatalogPages), EngineError> {
        let snap = SnapshotPages::new(self.inner.pool.clone(), self.inner.volume.clone(), lsn);
        tokio::task::block_in_place(|| read_catalog(&snap))
    }

    /// Makes `catalog` the catalog of snapshots at `lsn` and later, and
    /// forgets versions no open snapshot can use.
    pub(crate) fn install_catalog(&self, lsn: Lsn, catalog: Catalog) {
        let oldest = self.oldest_snapshot();
        let mut catalogs = self.inner.catalogs.lock().expect("catalogs");
        catalogs.insert(lsn, Arc::new(catalog));
        if let Some(keep) = catalogs.range(..=oldest).next_back().map(|(l, _)| *l) {
            let newer = catalogs.split_off(&keep);
            *catalogs = newer;
        }
    }

    /// The oldest read point an open snapshot uses (the read point when
    /// none is open): what storage must still be able to serve.
    pub(crate) fn oldest_read_point(&self) -> Lsn {
        self.oldest_snapshot()
    }

    /// Reads storage from now on as a reader of the writer of `epoch` (see
    /// `Volume::follow_epoch`): call on following a new writer, before
    /// reading at its read points.
    pub(crate) fn follow_epoch(&self, epoch: Epoch) {
        self.inner.volume.follow_epoch(epoch);
    }

    /// Moves a reader's read point to `lsn`: the MTRs up to it are applied
    /// to the pool and the catalog of `lsn` is installed.
    pub(crate) fn advance_read_point(&self, lsn: Lsn) {
        assert!(self.is_reader(), "only a reader has a read point");
        assert!(
            self.inner.pool.applied().is_some_and(|a| a >= lsn),
            "read point {lsn} above what the pool applied"
        );
        self.inner.volume.set_read_point(lsn);
        self.inner.pool.set_horizons(lsn, self.oldest_snapshot());
    }
}

/// The superblock and catalog as `pages` show them, and the pages read.
fn read_catalog<P: Pages>(pages: &P) -> Result<(Superblock, Catalog, CatalogPages), EngineError> {
    let rec = Recording {
        pages,
        seen: RefCell::new(BTreeSet::new()),
    };
    let sb = Superblock::decode(&*rec.get(SUPERBLOCK_PAGE)?)?;
    let catalog = load_catalog(&rec, sb.catalog_root)?;
    Ok((sb, catalog, rec.seen.into_inner()))
}

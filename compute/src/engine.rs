//! The engine: transactions over B+trees on the storage service.
//!
//! # Transactions
//! A transaction reads one snapshot, an LSN at most the VDL when it began,
//! plus its own writes, which it buffers (rows by table and primary key,
//! and its DDL). Nothing reaches a page before COMMIT. A row claimed by
//! `SELECT … FOR UPDATE` is buffered as a write that changes nothing
//! ([`Transaction::claim_rows`]) but counts as written at commit.
//!
//! # The commit pipeline
//! Commits go through one pipeline task, one at a time: check for conflicts
//! (first committer wins: a key written by a commit after our snapshot fails
//! us with a serialization failure), apply the DDL and the rows to the newest
//! pages, index maintenance included; turn the changed pages into redo
//! records; hand them to the volume client. The pipeline does not wait
//! for durability: the next commit builds on the pages this one left while
//! its records are still on their way, and each commit is acknowledged when
//! the VDL passes its LSN. New versions enter the buffer pool before the
//! records leave, so a snapshot that can see an LSN always finds its pages.
//!
//! # Read replicas
//! The same engine serves a read replica (`reader`, opened with
//! `Engine::open_reader`): every transaction is read-only, its "VDL" is
//! the read point, and `crate::replica` moves it forward. On the writer, an
//! attached [`MtrSink`] sees every MTR as it is submitted, in LSN order.
//!
//! **Group commit.** Transactions that queue while the pipeline is busy are
//! applied together, in queue order, to one MTR with one commit LSN: one
//! diff and seal per page, one submission, one durability wait for all. A
//! member that fails (40001, 23505) is rolled back out of the MTR alone; a
//! later member that writes a key an earlier one wrote fails with 40001, as
//! if the earlier one had committed first (it has: same LSN, earlier in the
//! serial order). Transactions with DDL commit in a group of their own.
//!
//! **Streamed MTRs.** A big transaction (DDL, writes spilled to disk, or
//! more than a quarter of a chunk buffered) also commits alone, and its MTR
//! is not held whole: once it holds `EngineConfig::mtr_chunk_pages` changed
//! pages (checked between rows), they are sealed as a chunk and sent as
//! records without a CPL; the next chunk is built while this one is being
//! written, and a chunk's pages leave memory once it is on a write quorum
//! (checked when the next is sent: one chunk in flight at a time).
//! Later reads of those pages in the same commit find their chunk version
//! in the buffer pool (evictable, see `bufpool`) or read it back from
//! storage at the chunk. Only the last part carries the CPL, so the VDL
//! jumps from below the first chunk to the commit LSN: no snapshot, here or
//! on a reader, sees part of the transaction, and recovery after a crash
//! mid-stream truncates every chunk. If applying fails after chunks went
//! out (a unique key found taken, say), a compensating MTR, streamed the
//! same way, writes back every page the chunks changed as it was before
//! the commit (read at the LSN before the first chunk; pages allocated past
//! the volume's end as zeros), so the failed transaction leaves nothing.
//!
//! # Limits
//! A transaction's buffered writes are bounded by
//! `EngineConfig::txn_bytes_max`; past it the statement fails with
//! [`EngineError::TransactionTooLarge`] and the transaction may roll back.
//! At commit a streamed MTR holds at most about two chunks of pages (one
//! being written, one being built), but still keeps
//! per changed page its chunk LSN (16 bytes) and per written key an entry
//! for first-committer-wins; a single tree operation (dropping a table's
//! tree) is not split into chunks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sextant_storage::cluster::Cluster;
use sextant_storage::types::{Lsn, PageId, RecordBody, PAGE_SIZE};
use sextant_storage::volume::{Volume, VolumeConfig, VolumeError};

use crate::btree::{BTree, BTreeError, Direction};
use crate::bufpool::BufferPool;
use crate::catalog::{self, Catalog, IndexDef, IndexKey, ObjectId, TableDef};
use crate::datum::{decode_row_masked, encode_row, DataType, Datum, SlotRead};
use crate::keycode::{decode_key, decode_key_each, decodes_exactly, encode_key, prefix_successor};
use crate::pages::{PageError, PageRef, Pages};
use crate::replica::MtrSink;
use crate::store::{LatestPages, MtrPages, SnapshotPages};
use crate::superblock::{Superblock, SuperblockError, SUPERBLOCK_PAGE};
use crate::writeset::{SpillError, Write, WriteMark, WriteSet};

/// Tunables of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Buffer pool size in bytes.
    pub pool_bytes: u64,
    /// Buffered writes one transaction keeps in memory before spilling the
    /// rest to a temporary file.
    pub txn_memory_bytes: u64,
    /// Largest amount of buffered writes (memory and spill) one transaction
    /// may hold.
    pub txn_bytes_max: u64,
    /// Changed pages one transaction's MTR holds before they are sent as a
    /// chunk without a CPL and dropped from memory (see the module docs):
    /// the commit of a big transaction holds about this many pages. At
    /// least [`MTR_CHUNK_PAGES_MIN`]; default [`MTR_CHUNK_PAGES_DEFAULT`].
    pub mtr_chunk_pages: usize,
    /// How long the commit pipeline holds queued transactions while the
    /// group before them is not yet durable (see [`run_pipeline`]); past
    /// this it sends the next group anyway. Default 10 ms.
    pub group_wait_max: Duration,
    /// The volume client's tunables.
    pub volume: VolumeConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            pool_bytes: 256 << 20,
            txn_memory_bytes: 64 << 20,
            txn_bytes_max: 16 << 30,
            mtr_chunk_pages: MTR_CHUNK_PAGES_DEFAULT,
            group_wait_max: Duration::from_millis(10),
            volume: VolumeConfig::default(),
        }
    }
}

/// Computes the key values of an expression index for a row; supplied by
/// the SQL layer, which owns expressions.
pub type IndexKeyFn =
    Arc<dyn Fn(&TableDef, &IndexDef, &[Datum]) -> Result<Vec<Datum>, KeyFnError> + Send + Sync>;

/// Why a key function failed: the SQL layer's own error (a cast of a
/// value that does not parse, say), handed back to it unchanged.
pub type KeyFnError = Box<dyn std::error::Error + Send + Sync>;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The storage service failed or fenced this writer.
    #[error(transparent)]
    Volume(#[from] VolumeError),
    /// A page could not be read.
    #[error(transparent)]
    Page(#[from] PageError),
    /// A B+tree operation failed.
    #[error(transparent)]
    Tree(#[from] BTreeError),
    /// Page 0 is unusable.
    #[error(transparent)]
    Superblock(#[from] SuperblockError),
    /// A concurrent commit changed what this transaction wrote (40001).
    #[error("could not serialize access due to concurrent update: {0}")]
    SerializationFailure(String),
    /// A key already exists (23505).
    #[error("duplicate key value violates unique constraint \"{constraint}\"")]
    UniqueViolation {
        /// The index (or primary key) name.
        constraint: String,
        /// The key, as text.
        key: String,
    },
    /// No such table (42P01).
    #[error("relation \"{0}\" does not exist")]
    NoSuchTable(String),
    /// The name is taken (42P07).
    #[error("relation \"{0}\" already exists")]
    DuplicateRelation(String),
    /// No such index.
    #[error("index \"{0}\" does not exist")]
    NoSuchIndex(String),
    /// A row does not fit its table.
    #[error("invalid row for \"{table}\": {detail}")]
    InvalidRow {
        /// The table.
        table: String,
        /// What is wrong.
        detail: String,
    },
    /// The transaction buffered more than `txn_bytes_max` (54000).
    #[error("transaction too large: {bytes} bytes buffered, the limit is {max}")]
    TransactionTooLarge {
        /// Bytes buffered.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The index key function failed.
    #[error("index expression failed: {0}")]
    KeyFunction(KeyFnError),
    /// A unique index cannot be built: existing rows share a key.
    #[error("could not create unique index \"{index}\": {key}")]
    DuplicatesForUniqueIndex {
        /// The index.
        index: String,
        /// PostgreSQL's DETAIL: `Key (v)=(10) is duplicated.`
        key: String,
    },
    /// Stored bytes do not decode.
    #[error("corrupt data: {0}")]
    Corrupted(String),
    /// A table definition change would break the catalog's invariants
    /// (the SQL layer checks what users may do before asking).
    #[error("invalid definition of \"{table}\": {detail}")]
    InvalidDefinition {
        /// The table.
        table: String,
        /// What is wrong.
        detail: String,
    },
    /// Spilling buffered writes to disk failed.
    #[error(transparent)]
    Spill(#[from] SpillError),
    /// The transaction is read-only (25006).
    #[error("cannot execute {0} in a read-only transaction")]
    ReadOnly(&'static str),
    /// The engine stopped (fenced or failed); nothing more can be written.
    #[error("engine stopped: {0}")]
    Stopped(String),
}

#[derive(Clone, Debug)]
enum Ddl {
    CreateTable(ObjectId),
    DropTable(Arc<TableDef>),
    CreateIndex(ObjectId, ObjectId),
    DropIndex(ObjectId, IndexDef),
    Truncate(ObjectId),
    /// Columns or names changed (ALTER TABLE); the transaction's definition
    /// replaces the stored one, trees and index roots kept.
    AlterTable(ObjectId),
}

impl Ddl {
    /// The table whose definition this changes.
    fn table(&self) -> ObjectId {
        match self {
            Ddl::CreateTable(t)
            | Ddl::CreateIndex(t, _)
            | Ddl::DropIndex(t, _)
            | Ddl::Truncate(t)
            | Ddl::AlterTable(t) => *t,
            Ddl::DropTable(def) => def.id,
        }
    }
}

struct CommitState {
    sb: Superblock,
    /// Commit LSN of the last write to each (table, key), kept while some
    /// open snapshot predates it.
    last_write: HashMap<(ObjectId, Vec<u8>), Lsn>,
    /// LSN of the last commit that changed each table's definition.
    last_ddl: HashMap<ObjectId, Lsn>,
    catalog: Arc<Catalog>,
    poisoned: Option<String>,
}

/// Transactions one commit group takes at most: bounds the work between
/// two submissions (and so the latency the first of them sees).
const GROUP_TXNS_MAX: usize = 256;
/// MTRs with more pages than this are sealed with `block_in_place` (big
/// commits: COPY), smaller ones on the pipeline's worker thread.
const BIG_MTR_PAGES: usize = 64;
/// Transactions with more buffered writes than this are applied with
/// `block_in_place`; smaller ones (single-row statements) in place.
const BIG_TXN_WRITES: usize = 256;
/// Smallest `EngineConfig::mtr_chunk_pages`: one row's changes (a split up
/// a tall tree, in every index) must fit a chunk comfortably.
pub const MTR_CHUNK_PAGES_MIN: usize = 16;
/// Default `EngineConfig::mtr_chunk_pages`: 16,384 pages (128 MiB). A page
/// changed again after its chunk went out is sent again in the next, so a
/// chunk must hold what a bulk load keeps changing: the leaves of every
/// index whose keys arrive in random order (~8,000 pages for the two
/// expression indexes at 1,000,000 events), besides the table's. With 4,096
/// those leaves filled each chunk by themselves and were resent in every
/// one: a COPY of 1,000,000 events into `sextant dev` sent 646,000 records
/// (793 MB per replica) and took 26.6–31.9 s; with 16,384, 90,000 records
/// (584 MB) and 13.4–15.5 s, peak resident memory 2.1 → 1.5 GiB (8,192:
/// 15.0 s; 32,768: 13.6 s, 1.9 GiB).
pub const MTR_CHUNK_PAGES_DEFAULT: usize = 16_384;

/// A test of a row as stored, before it is decoded: `false` means the
/// caller would drop the row anyway (see
/// [`Transaction::index_scan_visit_range`]).
pub type StoredRowTest<'a> = &'a dyn Fn(&[u8]) -> bool;

/// A transaction handed to the commit pipeline, and where its outcome
/// goes: the MTR's LSN (not yet durable), or `None` when it changed nothing.
struct Queued {
    txn: Transaction,
    done: tokio::sync::oneshot::Sender<Result<Option<Lsn>, EngineError>>,
}

/// A transaction of a commit group that changed pages: its keys (for
/// first-committer-wins) and, with DDL, its new catalog.
type Member = (Queued, Vec<(ObjectId, Vec<u8>)>, Option<Catalog>);

/// How many commit groups and transactions the pipeline has submitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// MTRs submitted for transactions (each one commit group).
    pub groups: u64,
    /// Transactions in them.
    pub transactions: u64,
    /// Transactions queued for the pipeline and not yet taken by it.
    pub waiting: u64,
    /// Chunks of streamed MTRs sent without a CPL (compensating MTRs'
    /// included).
    pub chunks: u64,
    /// Most changed pages one MTR held in memory at once, when sealed
    /// (a chunk or a whole MTR): the commit pipeline's peak page memory.
    pub mtr_pages_max: u64,
    /// Transactions that failed after chunks were sent and were undone by
    /// a compensating MTR.
    pub compensated: u64,
}

/// Counters of streamed MTRs (see [`CommitStats`]), and a failure hook.
#[derive(Debug, Default)]
struct StreamCounters {
    chunks: AtomicU64,
    mtr_pages_max: AtomicU64,
    compensated: AtomicU64,
    /// Failure injection: when non-zero, a streamed MTR stops the pipeline
    /// instead of sending its chunk number this + 1.
    fail_after_chunks: AtomicU64,
}

/// A streamed MTR's progress, for its commit.
#[derive(Debug, Default)]
struct Stream {
    /// Last LSN before the first chunk: the state the transaction started
    /// from, for compensation.
    base: Option<Lsn>,
    chunks: u64,
    /// LSN of the chunk sent last, until it is known to be on a write quorum.
    in_flight: Option<Lsn>,
    /// The volume failed (or failure was injected): the pipeline must stop.
    fatal: Option<String>,
}

/// Holds the commit pipeline (see [`Engine::pause_commits`]).
pub struct CommitsPaused<'a> {
    _state: tokio::sync::MutexGuard<'a, CommitState>,
}

struct Inner {
    volume: Volume,
    pool: Arc<BufferPool>,
    cfg: EngineConfig,
    commit: tokio::sync::Mutex<CommitState>,
    /// Transactions waiting for the commit pipeline task.
    queue: tokio::sync::mpsc::UnboundedSender<Queued>,
    commit_groups: AtomicU64,
    commit_txns: AtomicU64,
    commit_waiting: AtomicU64,
    streaming: StreamCounters,
    /// Catalog versions by the LSN of the commit that made them.
    catalogs: Mutex<BTreeMap<Lsn, Arc<Catalog>>>,
    snapshots: Mutex<BTreeMap<Lsn, usize>>,
    next_object_id: AtomicU64,
    rowids: Mutex<HashMap<ObjectId, Arc<AtomicU64>>>,
    key_fn: RwLock<Option<IndexKeyFn>>,
    /// A read replica: every transaction is read-only.
    read_only: bool,
    /// Where submitted MTRs go besides the volume (the redo stream).
    mtr_sink: std::sync::OnceLock<Arc<dyn MtrSink>>,
}

mod reader;

/// The writer's engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Recovers the volume and opens the engine at the recovered VDL,
    /// creating the superblock and catalog on a new volume.
    pub async fn open(cluster: Cluster, cfg: EngineConfig) -> Result<Engine, EngineError> {
        assert!(
            cfg.mtr_chunk_pages >= MTR_CHUNK_PAGES_MIN,
            "mtr_chunk_pages {} below {MTR_CHUNK_PAGES_MIN}",
            cfg.mtr_chunk_pages
        );
        let pages_per_pg = cluster.pages_per_pg();
        let volume = Volume::open(cluster, cfg.volume.clone()).await?;
        let pool = Arc::new(BufferPool::new(cfg.pool_bytes));
        let vdl = volume.vdl();
        let latest = LatestPages::new(pool.clone(), volume.clone());
        let sb_img = tokio::task::block_in_place(|| latest.get(SUPERBLOCK_PAGE))?;
        let existing = match Superblock::decode(&sb_img) {
            Ok(sb) => Some(sb),
            Err(SuperblockError::Empty) => None,
            Err(e) => return Err(e.into()),
        };
        let (sb, catalog, bootstrap) = match existing {
            Some(sb) => {
                if sb.pages_per_pg != pages_per_pg {
                    return Err(EngineError::Corrupted(format!(
                        "volume has {} pages per PG but the cluster file gives {pages_per_pg}",
                        sb.pages_per_pg
                    )));
                }
                let catalog =
                    tokio::task::block_in_place(|| load_catalog(&latest, sb.catalog_root))?;
                (sb, catalog, false)
            }
            None => {
                let sb = Superblock {
                    catalog_root: PageId(0),
                    next_page: PageId(1),
                    free_head: PageId(0),
                    free_count: 0,
                    pages_per_pg,
                    next_object_id: 1,
                };
                (sb, Catalog::default(), true)
            }
        };
        let catalog = Arc::new(catalog);
        let (queue, queued) = tokio::sync::mpsc::unbounded_channel();
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
                poisoned: None,
            }),
            catalogs: Mutex::new(BTreeMap::from([(vdl, catalog)])),
            snapshots: Mutex::new(BTreeMap::new()),
            rowids: Mutex::new(HashMap::new()),
            key_fn: RwLock::new(None),
            read_only: false,
            mtr_sink: std::sync::OnceLock::new(),
        });
        // Holds no engine between groups: it ends when the last handle is
        // dropped and the queue with it.
        tokio::spawn(run_pipeline(queued));
        let engine = Engine { inner };
        if bootstrap {
            engine.bootstrap().await?;
        }
        Ok(engine)
    }

    /// Supplies the function that computes expression index keys.
    pub fn set_index_key_fn(&self, f: IndexKeyFn) {
        *self.inner.key_fn.write().expect("key fn lock") = Some(f);
    }

    /// The volume's durable LSN: the newest snapshot a transaction can take.
    pub fn vdl(&self) -> Lsn {
        self.inner.volume.vdl()
    }

    /// The volume client (for status and metrics).
    pub fn volume(&self) -> &Volume {
        &self.inner.volume
    }

    /// The buffer pool (for metrics and tests).
    pub fn pool(&self) -> &BufferPool {
        &self.inner.pool
    }

    /// Commit groups and transactions submitted so far.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            groups: self.inner.commit_groups.load(Ordering::Relaxed),
            transactions: self.inner.commit_txns.load(Ordering::Relaxed),
            waiting: self.inner.commit_waiting.load(Ordering::Relaxed),
            chunks: self.inner.streaming.chunks.load(Ordering::Relaxed),
            mtr_pages_max: self.inner.streaming.mtr_pages_max.load(Ordering::Relaxed),
            compensated: self.inner.streaming.compensated.load(Ordering::Relaxed),
        }
    }

    /// Failure injection for tests of crashes mid-stream: from now on a
    /// streamed MTR that has sent `chunks` chunks stops the commit pipeline
    /// (as a crash would: nothing more is sent, the commit fails with
    /// [`EngineError::Stopped`]) instead of sending the next. 0 turns it off.
    #[doc(hidden)]
    pub fn fail_streams_after_chunks(&self, chunks: u64) {
        self.inner
            .streaming
            .fail_after_chunks
            .store(chunks, Ordering::Relaxed);
    }

    fn note_mtr_pages(&self, pages: usize) {
        self.inner
            .streaming
            .mtr_pages_max
            .fetch_max(pages as u64, Ordering::Relaxed);
    }

    /// Stops the commit pipeline until the returned guard is dropped:
    /// commits queue meanwhile, then go as one group. For maintenance that
    /// needs the newest pages still, and for tests of group commit.
    pub async fn pause_commits(&self) -> CommitsPaused<'_> {
        CommitsPaused {
            _state: self.inner.commit.lock().await,
        }
    }

    /// Starts a transaction reading the newest durable state.
    pub fn begin(&self) -> Transaction {
        self.begin_at(self.vdl())
    }

    /// Starts a read-only transaction at `lsn` (at most the VDL, and not
    /// older than the oldest catalog version kept).
    pub fn begin_at(&self, lsn: Lsn) -> Transaction {
        assert!(
            lsn <= self.vdl(),
            "snapshot {lsn} above the VDL {}",
            self.vdl()
        );
        *self
            .inner
            .snapshots
            .lock()
            .expect("snapshots")
            .entry(lsn)
            .or_insert(0) += 1;
        let catalog = self.catalog_at(lsn);
        Transaction {
            engine: self.clone(),
            snapshot: lsn,
            pages: SnapshotPages::new(self.inner.pool.clone(), self.inner.volume.clone(), lsn),
            snapshot_catalog: catalog.clone(),
            catalog: (*catalog).clone(),
            ddl: Vec::new(),
            truncated: BTreeSet::new(),
            writes: WriteSet::new(self.inner.cfg.txn_memory_bytes),
            read_only: self.inner.read_only,
            write_count: 0,
            savepoints: Vec::new(),
        }
    }

    fn catalog_at(&self, lsn: Lsn) -> Arc<Catalog> {
        let catalogs = self.inner.catalogs.lock().expect("catalogs");
        catalogs
            .range(..=lsn)
            .next_back()
            .or_else(|| catalogs.iter().next())
            .map(|(_, c)| c.clone())
            .expect("at least one catalog version")
    }

    fn end_snapshot(&self, lsn: Lsn) {
        let oldest = {
            let mut snaps = self.inner.snapshots.lock().expect("snapshots");
            let n = snaps.get_mut(&lsn).expect("registered snapshot");
            *n -= 1;
            if *n == 0 {
                snaps.remove(&lsn);
            }
            snaps.keys().next().copied()
        };
        let vdl = self.vdl();
        let oldest = oldest.unwrap_or(vdl);
        self.inner.pool.set_horizons(vdl, oldest);
        self.inner.volume.set_min_read_point(oldest);
    }

    fn oldest_snapshot(&self) -> Lsn {
        let snaps = self.inner.snapshots.lock().expect("snapshots");
        snaps.keys().next().copied().unwrap_or_else(|| self.vdl())
    }

    fn key_fn(&self) -> Option<IndexKeyFn> {
        self.inner.key_fn.read().expect("key fn lock").clone()
    }

    async fn bootstrap(&self) -> Result<(), EngineError> {
        let mut state = self.inner.commit.lock().await;
        let latest = LatestPages::new(self.inner.pool.clone(), self.inner.volume.clone());
        let mut mtr = MtrPages::new(latest, state.sb.clone());
        let tree = BTree::create(&mut mtr)?;
        mtr.superblock_mut().catalog_root = tree.root();
        let lsn = self.submit(&mut state, mtr).await?;
        drop(state);
        self.inner.volume.wait_durable(lsn).await?;
        tracing::info!(%lsn, "new volume: superblock and catalog created");
        Ok(())
    }

    /// Seals an MTR, caches its pages, and sends its records. Returns the
    /// commit LSN (not yet durable).
    async fn submit(&self, state: &mut CommitState, mtr: MtrPages) -> Result<Lsn, EngineError> {
        let base = self.inner.volume.last_lsn().0;
        let mut lsn = Lsn::ZERO;
        self.note_mtr_pages(mtr.page_count());
        let streamed = mtr.streamed_pages();
        let big = mtr.page_count() > BIG_MTR_PAGES;
        let seal = || {
            mtr.finish_with(|n| {
                assert!(n > 0, "submitting an empty MTR");
                lsn = Lsn(base + n as u64);
                lsn
            })
        };
        let done = if big {
            tokio::task::block_in_place(seal)?
        } else {
            seal()?
        };
        for (page, img) in &done.images {
            self.inner.pool.insert_committed(*page, lsn, img.clone());
        }
        state.sb = done.superblock;
        let sink = self.inner.mtr_sink.get();
        let records = sink.map(|_| done.records.clone());
        match self.inner.volume.submit(done.records).await {
            Ok(got) => {
                assert_eq!(got, lsn, "the commit pipeline is the volume's only writer");
                if let (Some(sink), Some(records)) = (sink, records) {
                    sink.submitted(lsn, records, streamed);
                }
                Ok(lsn)
            }
            Err(e) => {
                // Pages for this LSN are cached already: nothing more may commit.
                let why = e.to_string();
                tracing::error!("commit pipeline stopped: {why}");
                state.poisoned = Some(why);
                Err(e.into())
            }
        }
    }
}

/// The commit pipeline: one task, so commits are applied one at a time to
/// the newest pages. It takes every transaction queued while it waited for
/// the commit state (up to [`GROUP_TXNS_MAX`]), applies runs of row-only
/// transactions as one group (one MTR, one LSN) and each DDL transaction
/// alone, and hands each its outcome; committers wait for durability
/// themselves.
///
/// One group is in flight at a time: while the last group sent is not yet
/// durable, the next waits for it (at most `group_wait_max`), and
/// everything that queues meanwhile joins it. A lone committer never
/// waits (its own commit was durable before it could send another), and
/// under load the groups grow to what arrives in one quorum round trip. Each
/// group costs every replica a request, an fsync and a reply, and the six
/// replicas of `sextant dev` share the compute node's cores: sending groups
/// as fast as they were applied made them ~5 transactions each at 32
/// clients, and holding them makes them ~17, for 40–60% more upserts per
/// second at 8 and 32 clients (BENCHMARKS.md). Letting two or three groups
/// be in flight was measured too, and sat between the two.
async fn run_pipeline(mut queued: tokio::sync::mpsc::UnboundedReceiver<Queued>) {
    // The LSN of the last group sent, until it is known durable.
    let mut in_flight: Option<Lsn> = None;
    while let Some(first) = queued.recv().await {
        let engine = first.txn.engine.clone();
        let volume = &engine.inner.volume;
        if let Some(lsn) = in_flight.take() {
            if volume.vdl() < lsn {
                // An error (fenced, stopped) shows in the submission below.
                let wait = engine.inner.cfg.group_wait_max;
                let _ = tokio::time::timeout(wait, volume.wait_durable(lsn)).await;
            }
        }
        let mut state = engine.inner.commit.lock().await;
        let mut batch = vec![first];
        while batch.len() < GROUP_TXNS_MAX {
            match queued.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        engine
            .inner
            .commit_waiting
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        let mut group = Vec::new();
        let chunk_pages = engine.inner.cfg.mtr_chunk_pages;
        for q in batch {
            if !q.txn.commits_alone(chunk_pages) {
                group.push(q);
                continue;
            }
            if !group.is_empty() {
                engine
                    .commit_group(&mut state, std::mem::take(&mut group))
                    .await;
            }
            engine.commit_group(&mut state, vec![q]).await;
        }
        if !group.is_empty() {
            engine.commit_group(&mut state, group).await;
        }
        // The pipeline is the volume's only writer: a group that sent
        // anything moved its last LSN.
        let last = volume.last_lsn();
        if last > volume.vdl() {
            in_flight = Some(last);
        }
    }
}

impl Engine {
    /// Applies `group` in queue order to one MTR and submits it. A
    /// transaction that fails (40001, 23505, ...) is taken back out of the
    /// MTR and told; the others commit. Within the group a later transaction
    /// sees the earlier ones' rows as committed before it: a key written by
    /// an earlier member fails it with 40001, as a commit after its
    /// snapshot would.
    async fn commit_group(&self, state: &mut CommitState, group: Vec<Queued>) {
        if let Some(why) = &state.poisoned {
            for q in group {
                let _ = q.done.send(Err(EngineError::Stopped(why.clone())));
            }
            return;
        }
        let latest = LatestPages::new(self.inner.pool.clone(), self.inner.volume.clone());
        let mut mtr = MtrPages::new(latest, state.sb.clone());
        // A transaction alone in its group may stream its MTR in chunks.
        let chunk_pages = self.inner.cfg.mtr_chunk_pages;
        let streams = group.len() == 1 && group[0].txn.commits_alone(chunk_pages);
        let mut stream = Stream::default();
        // Members that changed pages, with their keys and new catalog.
        let mut members: Vec<Member> = Vec::new();
        for mut q in group {
            let checkpoint = mtr.checkpoint();
            let before = mtr.changes();
            let big = streams
                || q.txn.writes.spilled()
                || q.txn.writes.memory_len() > BIG_TXN_WRITES
                || !q.txn.ddl.is_empty();
            let mut apply = || -> Result<_, EngineError> {
                let mut between = |m: &mut MtrPages| {
                    if streams && m.page_count() >= chunk_pages {
                        self.send_chunk(m, &mut stream)
                    } else {
                        Ok(())
                    }
                };
                let applied = q.txn.apply(state, &mut mtr, &mut between);
                // The last chunk's pages go to the pool whether or not the
                // rest applied: the final part and compensation both build
                // on the pool's versions.
                self.settle_chunk(&mut mtr, &mut stream)?;
                let catalog = applied?;
                let mut keys = Vec::new();
                for entry in q.txn.writes.merged()? {
                    let ((table, key), _) = entry?;
                    keys.push((table, key));
                }
                Ok((catalog, keys))
            };
            let applied = if big {
                tokio::task::block_in_place(apply)
            } else {
                apply()
            };
            match applied {
                Err(e) => {
                    if let Some(why) = stream.fatal.take() {
                        tracing::error!("commit pipeline stopped: {why}");
                        state.poisoned = Some(why);
                        let _ = q.done.send(Err(e));
                        return;
                    }
                    if stream.chunks > 0 {
                        // Chunks went out: undo them before anything else commits.
                        let base = stream.base.expect("set by the first chunk");
                        if let Err(ce) = self.compensate(state, mtr, base).await {
                            let why = format!("undoing a failed streamed commit: {ce}");
                            tracing::error!("commit pipeline stopped: {why}");
                            state.poisoned = Some(why);
                        }
                        let _ = q.done.send(Err(e));
                        return;
                    }
                    mtr.restore(checkpoint);
                    let _ = q.done.send(Err(e));
                }
                Ok(_) if mtr.changes() == before => {
                    // Changed nothing after all (e.g. deletes of absent rows).
                    let _ = q.done.send(Ok(None));
                }
                Ok((catalog, keys)) => {
                    // Later members of the group conflict with these keys
                    // whatever their snapshot; the real LSN replaces it below.
                    for k in &keys {
                        state.last_write.insert(k.clone(), Lsn(u64::MAX));
                    }
                    members.push((q, keys, catalog));
                }
            }
        }
        if members.is_empty() {
            return;
        }
        if mtr.is_empty() {
            // Every change went out in chunks: the CPL needs a record.
            assert!(!mtr.streamed_pages().is_empty(), "members changed pages");
            mtr.superblock_mut();
        }
        let lsn = match self.submit(state, mtr).await {
            Ok(lsn) => lsn,
            Err(e) => {
                // `submit` poisoned the pipeline: nothing more commits.
                let why = e.to_string();
                let mut e = Some(e);
                for (q, _, _) in members {
                    let err = e
                        .take()
                        .unwrap_or_else(|| EngineError::Stopped(why.clone()));
                    let _ = q.done.send(Err(err));
                }
                return;
            }
        };
        if stream.chunks > 0 {
            // The chunks' pool versions may be evicted, and until the VDL
            // passes them the next commit would read such a page at the VDL,
            // below its chunk: wait before anything else commits.
            if let Err(e) = self.inner.volume.wait_durable(lsn).await {
                let why = e.to_string();
                tracing::error!("commit pipeline stopped: {why}");
                state.poisoned = Some(why);
                for (q, _, _) in members {
                    let _ = q.done.send(Err(EngineError::Stopped(e.to_string())));
                }
                return;
            }
        }
        self.inner.commit_groups.fetch_add(1, Ordering::Relaxed);
        self.inner
            .commit_txns
            .fetch_add(members.len() as u64, Ordering::Relaxed);
        for (q, keys, catalog) in members {
            for k in keys {
                state.last_write.insert(k, lsn);
            }
            if let Some(catalog) = catalog {
                for d in &q.txn.ddl {
                    state.last_ddl.insert(d.table(), lsn);
                }
                let catalog = Arc::new(catalog);
                state.catalog = catalog.clone();
                self.inner
                    .catalogs
                    .lock()
                    .expect("catalogs")
                    .insert(lsn, catalog);
            }
            let _ = q.done.send(Ok(Some(lsn)));
        }
        self.prune(state);
    }
}

impl Engine {
    /// Seals the pages `mtr` holds as one chunk of a streamed MTR and sends
    /// it without a CPL; then waits until the chunk sent before is on a
    /// write quorum and lets its pages go (the pool keeps them while it has
    /// room). So the next chunk is built while this one is written, and the
    /// MTR holds at most two chunks of pages. Runs inside `block_in_place`.
    /// A volume failure sets `stream.fatal`.
    fn send_chunk(&self, mtr: &mut MtrPages, stream: &mut Stream) -> Result<(), EngineError> {
        let fail_after = self
            .inner
            .streaming
            .fail_after_chunks
            .load(Ordering::Relaxed);
        if fail_after != 0 && stream.chunks >= fail_after {
            let why = format!("failure injected after {} chunks", stream.chunks);
            stream.fatal = Some(why.clone());
            return Err(EngineError::Stopped(why));
        }
        self.note_mtr_pages(mtr.held_count());
        let volume = &self.inner.volume;
        let base = volume.last_lsn();
        stream.base.get_or_insert(base);
        let Some(done) = mtr.finish_chunk(|n| Lsn(base.0 + n as u64))? else {
            return Ok(());
        };
        let expected = Lsn(base.0 + done.records.len() as u64);
        let records = done.records;
        let handle = tokio::runtime::Handle::current();
        let sent = tokio::task::block_in_place(|| {
            handle.block_on(async move { volume.submit_without_cpl(records).await })
        });
        let lsn = match sent {
            Ok(lsn) => lsn,
            Err(e) => {
                stream.fatal = Some(e.to_string());
                return Err(e.into());
            }
        };
        assert_eq!(
            lsn, expected,
            "the commit pipeline is the volume's only writer"
        );
        stream.chunks += 1;
        self.inner.streaming.chunks.fetch_add(1, Ordering::Relaxed);
        self.settle_chunk(mtr, stream)?;
        mtr.chunk_sent(
            done.images
                .into_iter()
                .zip(done.last_records)
                .map(|((page, img), last)| (page, img, last)),
        );
        stream.in_flight = Some(lsn);
        Ok(())
    }

    /// Waits until the chunk in flight, if any, is on a write quorum, then
    /// moves its pages from the MTR to the pool: a version there may be
    /// evicted and read back at once (see `bufpool`). Runs inside
    /// `block_in_place`. A volume failure sets `stream.fatal`.
    fn settle_chunk(&self, mtr: &mut MtrPages, stream: &mut Stream) -> Result<(), EngineError> {
        let Some(lsn) = stream.in_flight.take() else {
            return Ok(());
        };
        let volume = &self.inner.volume;
        let handle = tokio::runtime::Handle::current();
        let written = tokio::task::block_in_place(|| handle.block_on(volume.wait_written(lsn)));
        if let Err(e) = written {
            stream.fatal = Some(e.to_string());
            return Err(e.into());
        }
        for (page, img) in mtr.chunk_settled() {
            self.inner.pool.insert_streamed(page, lsn, img);
        }
        Ok(())
    }

    /// Undoes a streamed MTR whose transaction failed after chunks went
    /// out (the first one after `base`): writes every page they changed
    /// back as it was before the commit, as full images (pages past the
    /// superblock's end as zeros, as never-written pages read), in a
    /// compensating MTR streamed in chunks the same way. Its CPL makes the
    /// failed chunks durable only together with their undoing; a crash
    /// before it truncates both. Returns the compensating MTR's LSN.
    async fn compensate(
        &self,
        state: &mut CommitState,
        mtr: MtrPages,
        base: Lsn,
    ) -> Result<Lsn, EngineError> {
        let pages = mtr.streamed_pages();
        drop(mtr);
        let fresh = state.sb.next_page;
        let volume = &self.inner.volume;
        let pool = &self.inner.pool;
        // Every MTR before the chunks is written (the chunks are), and no
        // CPL lies among the chunks: the VDL is the state before the commit,
        // and storage serves it (`base` itself may be a void LSN recovery
        // skipped, which no segment can serve).
        let vdl = volume.vdl();
        assert!(
            vdl <= base,
            "VDL {vdl} inside a stream that began after {base}"
        );
        let before = SnapshotPages::new(pool.clone(), volume.clone(), vdl);
        let parts: Vec<&[PageId]> = pages.chunks(self.inner.cfg.mtr_chunk_pages).collect();
        let mut sent: Vec<PageId> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let lsn = Lsn(volume.last_lsn().0 + part.len() as u64);
            let images = tokio::task::block_in_place(|| {
                part.iter()
                    .map(|&p| Ok((p, before_image(&before, p, fresh, lsn)?)))
                    .collect::<Result<Vec<(PageId, PageRef)>, PageError>>()
            })?;
            self.note_mtr_pages(images.len());
            let records: Vec<(PageId, RecordBody)> = images
                .iter()
                .map(|(p, img)| {
                    (
                        *p,
                        RecordBody::Image(bytes::Bytes::copy_from_slice(&img[..])),
                    )
                })
                .collect();
            if i + 1 == parts.len() {
                for (p, img) in images {
                    pool.insert_committed(p, lsn, img);
                }
                let sink = self.inner.mtr_sink.get();
                let copy = sink.map(|_| records.clone());
                let got = volume.submit(records).await?;
                assert_eq!(got, lsn, "the commit pipeline is the volume's only writer");
                if let (Some(sink), Some(records)) = (sink, copy) {
                    sink.submitted(lsn, records, sent);
                }
                // As after a streamed commit: evicted chunk versions must not
                // be read at a VDL below them by the next commit.
                volume.wait_durable(lsn).await?;
                self.inner
                    .streaming
                    .compensated
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(%lsn, pages = pages.len(), "failed streamed commit undone");
                return Ok(lsn);
            }
            let got = volume.submit_without_cpl(records).await?;
            assert_eq!(got, lsn, "the commit pipeline is the volume's only writer");
            volume.wait_written(got).await?;
            for (p, img) in images {
                pool.insert_streamed(p, lsn, img);
            }
            self.inner.streaming.chunks.fetch_add(1, Ordering::Relaxed);
            sent.extend_from_slice(part);
        }
        unreachable!("a streamed MTR that sent chunks changed pages")
    }
}

/// Page `id` as it was at `before`'s snapshot, sealed at `lsn` for a
/// compensating MTR; a page at or past `fresh` (the superblock's end then)
/// was never written, so it goes back to zeros.
fn before_image(
    before: &SnapshotPages,
    id: PageId,
    fresh: PageId,
    lsn: Lsn,
) -> Result<PageRef, PageError> {
    if id.0 >= fresh.0 {
        return Ok(Arc::from(crate::pages::zeroed_page()));
    }
    let img = before.get(id)?;
    if img.iter().all(|b| *b == 0) {
        return Ok(img);
    }
    let mut img = img;
    let page = Arc::make_mut(&mut img);
    crate::page::set_page_lsn(page, lsn);
    crate::page::seal_checksum(page);
    Ok(img)
}

/// Runs B+tree work on the calling (tokio worker) thread. Tree code is
/// CPU work over cached pages; a miss blocks the thread inside
/// `store::fetch`, which hands the worker's other tasks to another thread
/// with `block_in_place` only then. Wrapping every call in `block_in_place`
/// instead cost a thread hand-off per statement even when nothing was
/// fetched (measured: a third of a primary-key lookup's CPU).
fn run_tree_work<R>(f: impl FnOnce() -> R) -> R {
    f()
}

fn load_catalog(pages: &impl Pages, root: PageId) -> Result<Catalog, EngineError> {
    let tree = BTree::open(root);
    let mut tables = Vec::new();
    for entry in tree.range(
        pages,
        Bound::Unbounded,
        Bound::Unbounded,
        Direction::Forward,
    ) {
        let (_, value) = entry?;
        tables.push(catalog::decode_table(&value).map_err(EngineError::Corrupted)?);
    }
    Ok(Catalog::from_tables(tables))
}

/// What a new table looks like.
#[derive(Clone, Debug)]
pub struct NewTable {
    /// Name.
    pub name: String,
    /// Columns.
    pub columns: Vec<catalog::ColumnDef>,
    /// Primary key column positions; empty for a hidden row id.
    pub primary_key: Vec<usize>,
}

/// What a new index looks like.
#[derive(Clone, Debug)]
pub struct NewIndex {
    /// Name.
    pub name: String,
    /// UNIQUE.
    pub unique: bool,
    /// Key parts.
    pub keys: Vec<IndexKey>,
    /// Backs a UNIQUE constraint ([`IndexDef::constraint`]).
    pub constraint: bool,
}

/// A row as read: its primary key (encoded) and its values.
pub type Row = (Vec<u8>, Vec<Datum>);

/// A transaction. Dropping it rolls back.
pub struct Transaction {
    engine: Engine,
    snapshot: Lsn,
    pages: SnapshotPages,
    snapshot_catalog: Arc<Catalog>,
    catalog: Catalog,
    ddl: Vec<Ddl>,
    truncated: BTreeSet<ObjectId>,
    writes: WriteSet,
    read_only: bool,
    /// Writes and DDL attempted so far.
    write_count: u64,
    /// The open savepoints, outermost first.
    savepoints: Vec<TxSavepoint>,
}

/// What a transaction had done when a savepoint was set: its catalog and
/// DDL, the tables it truncated, and its writes' mark.
#[derive(Debug)]
struct TxSavepoint {
    catalog: Catalog,
    ddl_len: usize,
    truncated: BTreeSet<ObjectId>,
    writes: WriteMark,
}

/// A savepoint of a [`Transaction`]: its depth among the open ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Savepoint(usize);

impl Drop for Transaction {
    fn drop(&mut self) {
        self.engine.end_snapshot(self.snapshot);
    }
}

impl Transaction {
    /// The snapshot LSN.
    pub fn snapshot(&self) -> Lsn {
        self.snapshot
    }

    /// The catalog as this transaction sees it (its own DDL included).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Makes every later write fail with 25006.
    pub fn set_read_only(&mut self) {
        self.read_only = true;
    }

    /// How many writes (rows or DDL) the transaction has attempted.
    pub fn write_count(&self) -> u64 {
        self.write_count
    }

    /// Sets a savepoint (SAVEPOINT): [`Transaction::rollback_to`] it undoes
    /// every write and DDL made after this.
    pub fn savepoint(&mut self) -> Savepoint {
        self.savepoints.push(TxSavepoint {
            catalog: self.catalog.clone(),
            ddl_len: self.ddl.len(),
            truncated: self.truncated.clone(),
            writes: self.writes.mark(),
        });
        Savepoint(self.savepoints.len() - 1)
    }

    /// Undoes every write and DDL made since `sp` (ROLLBACK TO SAVEPOINT);
    /// `sp` stays set, the savepoints set after it are gone.
    pub fn rollback_to(&mut self, sp: Savepoint) -> Result<(), EngineError> {
        assert!(
            sp.0 < self.savepoints.len(),
            "rollback to a savepoint not open"
        );
        self.savepoints.truncate(sp.0 + 1);
        let saved = &self.savepoints[sp.0];
        self.writes.rollback_to(saved.writes)?;
        self.catalog = saved.catalog.clone();
        self.ddl.truncate(saved.ddl_len);
        self.truncated = saved.truncated.clone();
        Ok(())
    }

    /// Forgets `sp` and the savepoints set after it (RELEASE SAVEPOINT):
    /// what they did stays.
    pub fn release(&mut self, sp: Savepoint) {
        assert!(
            sp.0 < self.savepoints.len(),
            "release of a savepoint not open"
        );
        self.writes.release(self.savepoints[sp.0].writes);
        self.savepoints.truncate(sp.0);
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.ddl.is_empty() && self.writes.is_empty()
    }

    /// Refuses writes in a read-only transaction; counts every write
    /// attempted otherwise (see [`Transaction::write_count`]).
    fn check_writable(&mut self, what: &'static str) -> Result<(), EngineError> {
        self.write_count += 1;
        if self.read_only {
            Err(EngineError::ReadOnly(what))
        } else {
            Ok(())
        }
    }

    fn table(&self, id: ObjectId) -> Result<Arc<TableDef>, EngineError> {
        self.catalog
            .table(id)
            .cloned()
            .ok_or_else(|| EngineError::NoSuchTable(format!("#{id}")))
    }

    /// Creates a table.
    pub fn create_table(&mut self, t: NewTable) -> Result<ObjectId, EngineError> {
        self.check_writable("CREATE TABLE")?;
        if self.catalog.relation_name_taken(&t.name) {
            return Err(EngineError::DuplicateRelation(t.name));
        }
        if t.primary_key.iter().any(|i| *i >= t.columns.len()) {
            return Err(EngineError::InvalidRow {
                table: t.name,
                detail: "primary key column out of range".into(),
            });
        }
        let id = self
            .engine
            .inner
            .next_object_id
            .fetch_add(1, Ordering::Relaxed);
        self.catalog.put(TableDef {
            id,
            name: t.name,
            columns: t.columns,
            primary_key: t.primary_key,
            root: PageId(0),
            indexes: Vec::new(),
            stored: None,
        });
        self.ddl.push(Ddl::CreateTable(id));
        Ok(id)
    }

    /// Drops a table and its indexes.
    pub fn drop_table(&mut self, id: ObjectId) -> Result<(), EngineError> {
        self.check_writable("DROP TABLE")?;
        let def = self
            .catalog
            .remove(id)
            .ok_or_else(|| EngineError::NoSuchTable(format!("#{id}")))?;
        self.writes.remove_table(id)?;
        self.ddl.push(Ddl::DropTable(def));
        Ok(())
    }

    /// Removes every row of a table.
    pub fn truncate(&mut self, id: ObjectId) -> Result<(), EngineError> {
        self.check_writable("TRUNCATE")?;
        self.table(id)?;
        self.writes.remove_table(id)?;
        self.truncated.insert(id);
        self.ddl.push(Ddl::Truncate(id));
        Ok(())
    }

    /// Creates an index; existing rows are indexed at commit.
    pub fn create_index(&mut self, table: ObjectId, ix: NewIndex) -> Result<ObjectId, EngineError> {
        self.check_writable("CREATE INDEX")?;
        if self.catalog.relation_name_taken(&ix.name) {
            return Err(EngineError::DuplicateRelation(ix.name));
        }
        let mut def = (*self.table(table)?).clone();
        let id = self
            .engine
            .inner
            .next_object_id
            .fetch_add(1, Ordering::Relaxed);
        def.indexes.push(IndexDef {
            id,
            name: ix.name,
            root: PageId(0),
            unique: ix.unique,
            keys: ix.keys,
            constraint: ix.constraint,
        });
        self.catalog.put(def);
        self.ddl.push(Ddl::CreateIndex(table, id));
        Ok(id)
    }

    /// Drops an index.
    pub fn drop_index(&mut self, name: &str) -> Result<(), EngineError> {
        self.check_writable("DROP INDEX")?;
        let (table, ix) = self
            .catalog
            .index_by_name(name)
            .map(|(t, i)| ((**t).clone(), i.clone()))
            .ok_or_else(|| EngineError::NoSuchIndex(name.to_string()))?;
        let mut def = table;
        def.indexes.retain(|i| i.id != ix.id);
        let tid = def.id;
        self.catalog.put(def);
        self.ddl.push(Ddl::DropIndex(tid, ix));
        Ok(())
    }

    /// Puts a changed definition of `table` in the transaction's catalog,
    /// after checking its invariants.
    fn alter(&mut self, def: TableDef) -> Result<(), EngineError> {
        def.check()
            .map_err(|detail| EngineError::InvalidDefinition {
                table: def.name.clone(),
                detail,
            })?;
        let id = def.id;
        self.catalog.put(def);
        self.ddl.push(Ddl::AlterTable(id));
        Ok(())
    }

    /// Adds a column at the end (ALTER TABLE ADD COLUMN) without touching
    /// stored rows: they read `col.missing`. Rows this transaction wrote
    /// already get the missing value now. Returns the column's position.
    pub fn add_column(
        &mut self,
        table: ObjectId,
        col: catalog::ColumnDef,
    ) -> Result<usize, EngineError> {
        self.check_writable("ALTER TABLE")?;
        let mut def = (*self.table(table)?).clone();
        if def.column(&col.name).is_some() {
            return Err(EngineError::InvalidDefinition {
                table: def.name,
                detail: format!("column \"{}\" exists", col.name),
            });
        }
        let missing = match &col.missing {
            Some(v) => v.datum().map_err(EngineError::Corrupted)?,
            None => Datum::Null,
        };
        if let Some(l) = def.stored.as_mut() {
            l.slots.push(l.width);
            l.width += 1;
        }
        def.columns.push(col);
        let position = def.columns.len() - 1;
        self.alter(def)?;
        self.writes
            .map_table(table, |row| row.push(missing.clone()))?;
        Ok(position)
    }

    /// Drops column `column` (ALTER TABLE DROP COLUMN) without touching
    /// stored rows: its slot is skipped from now on. Positions above it
    /// shift down, in index keys and the primary key too. Indexes that use
    /// the column must be dropped first, and it must not be part of the
    /// primary key.
    pub fn drop_column(&mut self, table: ObjectId, column: usize) -> Result<(), EngineError> {
        self.check_writable("ALTER TABLE")?;
        let mut def = (*self.table(table)?).clone();
        let invalid = |detail: String| EngineError::InvalidDefinition {
            table: def.name.clone(),
            detail,
        };
        if column >= def.columns.len() {
            return Err(invalid(format!("no column {column}")));
        }
        if def.primary_key.contains(&column) {
            return Err(invalid(format!("column {column} is in the primary key")));
        }
        if let Some(ix) = def
            .indexes
            .iter()
            .find(|ix| ix.keys.contains(&IndexKey::Column(column)))
        {
            return Err(invalid(format!("index {} uses column {column}", ix.name)));
        }
        let mut layout = def.stored.take().unwrap_or_else(|| catalog::StoredLayout {
            slots: (0..def.columns.len() as u32).collect(),
            width: def.columns.len() as u32,
        });
        layout.slots.remove(column);
        def.stored = Some(layout);
        def.columns.remove(column);
        let shift = |c: &mut usize| {
            if *c > column {
                *c -= 1;
            }
        };
        def.primary_key.iter_mut().for_each(shift);
        for ix in def.indexes.iter_mut() {
            for k in ix.keys.iter_mut() {
                if let IndexKey::Column(c) = k {
                    shift(c);
                }
            }
        }
        self.alter(def)?;
        self.writes.map_table(table, |row| {
            row.remove(column);
        })?;
        Ok(())
    }

    /// Replaces column `column`'s NOT NULL flag and DEFAULT (ALTER COLUMN
    /// SET/DROP DEFAULT, SET/DROP NOT NULL); its name, type and stored
    /// values stay. The SQL layer checks existing rows before setting NOT
    /// NULL.
    pub fn set_column_constraints(
        &mut self,
        table: ObjectId,
        column: usize,
        not_null: bool,
        default: Option<String>,
    ) -> Result<(), EngineError> {
        self.check_writable("ALTER TABLE")?;
        let mut def = (*self.table(table)?).clone();
        let Some(c) = def.columns.get_mut(column) else {
            return Err(EngineError::InvalidDefinition {
                table: def.name,
                detail: format!("no column {column}"),
            });
        };
        c.not_null = not_null;
        c.default = default;
        self.alter(def)
    }

    /// Renames column `column`. `restated` gives new key parts for the
    /// expression indexes whose text names the column; they must mean what
    /// the old ones meant (the SQL layer rewrites the names).
    pub fn rename_column(
        &mut self,
        table: ObjectId,
        column: usize,
        name: String,
        restated: Vec<(ObjectId, Vec<IndexKey>)>,
    ) -> Result<(), EngineError> {
        self.check_writable("ALTER TABLE")?;
        let mut def = (*self.table(table)?).clone();
        if column >= def.columns.len() || def.column(&name).is_some() {
            return Err(EngineError::InvalidDefinition {
                table: def.name,
                detail: format!("cannot rename column {column} to \"{name}\""),
            });
        }
        def.columns[column].name = name;
        restate_keys(&mut def, restated)?;
        self.alter(def)
    }

    /// Renames a table; `restated` as for [`Transaction::rename_column`]
    /// (expression texts that qualify columns with the table name).
    pub fn rename_table(
        &mut self,
        table: ObjectId,
        name: String,
        restated: Vec<(ObjectId, Vec<IndexKey>)>,
    ) -> Result<(), EngineError> {
        self.check_writable("ALTER TABLE")?;
        let mut def = (*self.table(table)?).clone();
        if self
            .catalog
            .table_by_name(&name)
            .is_some_and(|t| t.id != table)
            || self.catalog.index_by_name(&name).is_some()
        {
            return Err(EngineError::DuplicateRelation(name));
        }
        def.name = name;
        restate_keys(&mut def, restated)?;
        self.alter(def)
    }

    /// True when `table` has at least one row (its own writes included);
    /// reads at most until the first row found.
    pub fn has_rows(&self, table: ObjectId) -> Result<bool, EngineError> {
        self.table(table)?;
        let own = self.own_range(table, Bound::Unbounded, Bound::Unbounded)?;
        if own
            .iter()
            .any(|(_, w)| matches!(w, Write::Insert(_) | Write::Put(_)))
        {
            return Ok(true);
        }
        let Some(tree) = self.snapshot_tree(table) else {
            return Ok(false);
        };
        let deleted: BTreeSet<&[u8]> = own.iter().map(|(k, _)| k.as_slice()).collect();
        run_tree_work(|| {
            for entry in tree.range(
                &self.pages,
                Bound::Unbounded,
                Bound::Unbounded,
                Direction::Forward,
            ) {
                let (k, _) = entry?;
                if !deleted.contains(k.as_slice()) {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    /// Encodes the primary key of `row` for `table` (allocating a hidden row
    /// id for tables without a primary key).
    fn row_key(&self, def: &TableDef, row: &[Datum]) -> Result<Vec<u8>, EngineError> {
        let mut key = Vec::new();
        if def.has_hidden_rowid() {
            let counter = self.engine.rowid_counter(
                def,
                &self.pages,
                self.snapshot_catalog.table(def.id).is_some(),
            )?;
            let id = counter.fetch_add(1, Ordering::Relaxed);
            encode_key(&[Datum::Int8(id as i64)], &mut key)
                .map_err(|e| EngineError::Corrupted(e.to_string()))?;
        } else {
            let pk: Vec<Datum> = def.primary_key.iter().map(|i| row[*i].clone()).collect();
            if pk.iter().any(|d| matches!(d, Datum::Null)) {
                return Err(EngineError::InvalidRow {
                    table: def.name.clone(),
                    detail: "primary key is null".into(),
                });
            }
            encode_key(&pk, &mut key).map_err(|e| EngineError::InvalidRow {
                table: def.name.clone(),
                detail: e.to_string(),
            })?;
        }
        Ok(key)
    }

    /// The encoded primary key of a row with these key values.
    pub fn encode_pk(&self, table: ObjectId, pk: &[Datum]) -> Result<Vec<u8>, EngineError> {
        let def = self.table(table)?;
        let mut key = Vec::new();
        encode_key(pk, &mut key).map_err(|e| EngineError::InvalidRow {
            table: def.name.clone(),
            detail: e.to_string(),
        })?;
        Ok(key)
    }

    fn check_row(&self, def: &TableDef, row: &[Datum]) -> Result<(), EngineError> {
        if row.len() != def.columns.len() {
            return Err(EngineError::InvalidRow {
                table: def.name.clone(),
                detail: format!("{} values for {} columns", row.len(), def.columns.len()),
            });
        }
        Ok(())
    }

    fn buffer(&mut self, table: ObjectId, key: Vec<u8>, w: Write) -> Result<(), EngineError> {
        // An INSERT over our own DELETE replaces the stored row; a change to
        // our own INSERT is still an insert.
        let w = match (self.own_get(table, &key)?, w) {
            (Some(Write::Delete), Write::Insert(r)) => Write::Put(r),
            (Some(Write::Insert(_)), Write::Put(r)) => Write::Insert(r),
            (_, w) => w,
        };
        self.writes.put(table, key, w)?;
        let max = self.engine.inner.cfg.txn_bytes_max;
        if self.writes.spilled_bytes() > max {
            return Err(EngineError::TransactionTooLarge {
                bytes: self.writes.spilled_bytes(),
                max,
            });
        }
        Ok(())
    }

    /// Inserts a row; a row with the same primary key (or a unique index
    /// key) already visible fails with 23505.
    pub fn insert(&mut self, table: ObjectId, row: Vec<Datum>) -> Result<Vec<u8>, EngineError> {
        self.check_writable("INSERT")?;
        let def = self.table(table)?;
        self.check_row(&def, &row)?;
        let key = self.row_key(&def, &row)?;
        if self.get_by_key(table, &key)?.is_some() {
            return Err(EngineError::UniqueViolation {
                constraint: format!("{}_pkey", def.name),
                key: key_detail(&def, None, &pk_values(&def, &row)),
            });
        }
        self.check_unique_indexes(&def, &key, &row)?;
        self.buffer(table, key.clone(), Write::Insert(row))?;
        Ok(key)
    }

    /// Inserts rows as [`Transaction::insert`] does, in one pass that
    /// blocks its thread once rather than per row (COPY's batches). On
    /// failure, the position in `rows` of the row that failed; rows before
    /// it stay buffered, so the caller abandons the statement.
    pub fn insert_batch(
        &mut self,
        table: ObjectId,
        rows: Vec<Vec<Datum>>,
    ) -> Result<(), (usize, EngineError)> {
        tokio::task::block_in_place(|| {
            for (i, row) in rows.into_iter().enumerate() {
                self.insert(table, row).map_err(|e| (i, e))?;
            }
            Ok(())
        })
    }

    /// True when writes fail with 25006.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Inserts or replaces the row with `row`'s primary key.
    pub fn put(&mut self, table: ObjectId, row: Vec<Datum>) -> Result<Vec<u8>, EngineError> {
        self.check_writable("UPDATE")?;
        let def = self.table(table)?;
        self.check_row(&def, &row)?;
        let key = self.row_key(&def, &row)?;
        self.check_unique_indexes(&def, &key, &row)?;
        self.buffer(table, key.clone(), Write::Put(row))?;
        Ok(key)
    }

    /// Replaces the row stored under `key` (which the caller read). If the
    /// new row's primary key differs, the old row is deleted.
    pub fn update(
        &mut self,
        table: ObjectId,
        key: &[u8],
        row: Vec<Datum>,
    ) -> Result<Vec<u8>, EngineError> {
        self.check_writable("UPDATE")?;
        let def = self.table(table)?;
        self.check_row(&def, &row)?;
        let new_key = if def.has_hidden_rowid() {
            key.to_vec()
        } else {
            self.row_key(&def, &row)?
        };
        if new_key != key {
            if self.get_by_key(table, &new_key)?.is_some() {
                return Err(EngineError::UniqueViolation {
                    constraint: format!("{}_pkey", def.name),
                    key: key_detail(&def, None, &pk_values(&def, &row)),
                });
            }
            self.buffer(table, key.to_vec(), Write::Delete)?;
        }
        self.check_unique_indexes(&def, &new_key, &row)?;
        self.buffer(table, new_key.clone(), Write::Put(row))?;
        Ok(new_key)
    }

    /// Deletes the row stored under `key`.
    pub fn delete(&mut self, table: ObjectId, key: &[u8]) -> Result<(), EngineError> {
        self.check_writable("DELETE")?;
        self.table(table)?;
        self.buffer(table, key.to_vec(), Write::Delete)
    }

    /// Claims the rows with these primary key values (`SELECT … FOR
    /// UPDATE`): unless this transaction already wrote a row, its key is
    /// buffered as a [`Write::Lock`], which changes nothing but counts as
    /// written at commit, so first-committer-wins fails this transaction
    /// or a later one that writes or claims the same row (40001). A row
    /// whose stored version differs from the snapshot's in the newest
    /// committed state (a commit after the snapshot changed or deleted it)
    /// fails the claim now, as PostgreSQL fails the SELECT; one rewritten
    /// unchanged is only caught at commit.
    pub fn claim_rows(
        &mut self,
        rows: impl IntoIterator<Item = (ObjectId, Vec<Datum>)>,
    ) -> Result<(), EngineError> {
        self.check_writable("SELECT FOR UPDATE")?;
        let mut keys = Vec::new();
        for (table, pk) in rows {
            let key = self.encode_pk(table, &pk)?;
            if self.writes.get(table, &key)?.is_none() {
                keys.push((table, key));
            }
        }
        if keys.is_empty() {
            return Ok(());
        }
        if self.engine.vdl() > self.snapshot {
            let latest = self.engine.begin();
            run_tree_work(|| -> Result<(), EngineError> {
                for (table, key) in &keys {
                    let then = match self.snapshot_tree(*table) {
                        Some(t) => t.get(&self.pages, key)?,
                        None => None,
                    };
                    let now = match latest.snapshot_tree(*table) {
                        Some(t) => t.get(&latest.pages, key)?,
                        None => None,
                    };
                    if then != now {
                        let vals = decode_key(key)
                            .map(|v| format!("{v:?}"))
                            .unwrap_or_else(|_| format!("{key:02x?}"));
                        return Err(EngineError::SerializationFailure(format!(
                            "row {vals} was changed by a transaction that committed after this one began"
                        )));
                    }
                }
                Ok(())
            })?;
        }
        for (table, key) in keys {
            if self.writes.get(table, &key)?.is_none() {
                self.buffer(table, key, Write::Lock)?;
            }
        }
        Ok(())
    }

    /// This transaction's write to `(table, key)`, claims left out (they
    /// change no row).
    fn own_get(&self, table: ObjectId, key: &[u8]) -> Result<Option<Write>, EngineError> {
        Ok(self
            .writes
            .get(table, key)?
            .filter(|w| !matches!(w, Write::Lock)))
    }

    /// This transaction's writes to `table` in a key range, claims left
    /// out (they change no row).
    fn own_range(
        &self,
        table: ObjectId,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
    ) -> Result<Vec<(Vec<u8>, Write)>, EngineError> {
        let mut own = self.writes.range(table, lo, hi)?;
        own.retain(|(_, w)| !matches!(w, Write::Lock));
        Ok(own)
    }

    /// The row with primary key values `pk`.
    pub fn get(&self, table: ObjectId, pk: &[Datum]) -> Result<Option<Vec<Datum>>, EngineError> {
        let key = self.encode_pk(table, pk)?;
        self.get_by_key(table, &key)
    }

    /// The row stored under encoded key `key`.
    pub fn get_by_key(
        &self,
        table: ObjectId,
        key: &[u8],
    ) -> Result<Option<Vec<Datum>>, EngineError> {
        if let Some(w) = self.own_get(table, key)? {
            return Ok(match w {
                Write::Insert(r) | Write::Put(r) => Some(r.clone()),
                Write::Delete | Write::Lock => None,
            });
        }
        let Some(tree) = self.snapshot_tree(table) else {
            return Ok(None);
        };
        let def = self.table(table)?;
        let found = run_tree_work(|| tree.get(&self.pages, key))?;
        found.map(|v| decode_stored_row(&def, &v)).transpose()
    }

    /// The table's tree as of the snapshot, unless the table is new or was
    /// truncated in this transaction.
    fn snapshot_tree(&self, table: ObjectId) -> Option<BTree> {
        if self.truncated.contains(&table) {
            return None;
        }
        self.snapshot_catalog
            .table(table)
            .map(|t| BTree::open(t.root))
    }

    fn snapshot_index(&self, table: ObjectId, index: ObjectId) -> Option<BTree> {
        if self.truncated.contains(&table) {
            return None;
        }
        let t = self.snapshot_catalog.table(table)?;
        t.indexes
            .iter()
            .find(|i| i.id == index)
            .map(|i| BTree::open(i.root))
    }

    /// Rows with primary keys between `lower` and `upper` (key values, a
    /// prefix of the primary key allowed), in key order or reversed.
    pub fn scan(
        &self,
        table: ObjectId,
        lower: Bound<&[Datum]>,
        upper: Bound<&[Datum]>,
        dir: Direction,
    ) -> Result<Vec<Row>, EngineError> {
        let def = self.table(table)?;
        let (lo, hi) = key_bounds(lower, upper)?;
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<Datum>>> = BTreeMap::new();
        if let Some(tree) = self.snapshot_tree(table) {
            let cursor = tree.range(&self.pages, as_ref(&lo), as_ref(&hi), Direction::Forward);
            run_tree_work(|| -> Result<(), EngineError> {
                for entry in cursor {
                    let (k, v) = entry?;
                    merged.insert(k, Some(decode_stored_row(&def, &v)?));
                }
                Ok(())
            })?;
        }
        for (k, w) in self.own_range(table, as_ref(&lo), as_ref(&hi))? {
            merged.insert(
                k,
                match w {
                    Write::Insert(r) | Write::Put(r) => Some(r),
                    Write::Delete | Write::Lock => None,
                },
            );
        }
        let rows = merged.into_iter().filter_map(|(k, r)| r.map(|r| (k, r)));
        Ok(match dir {
            Direction::Forward => rows.collect(),
            Direction::Backward => {
                let mut v: Vec<Row> = rows.collect();
                v.reverse();
                v
            }
        })
    }

    /// Visits the rows with primary keys between `lower` and `upper`, in key
    /// order (forward), as [`Transaction::scan`] returns them, until `visit`
    /// answers `false`. Rows are decoded one at a time, so a consumer that
    /// keeps little (an aggregation, a spilling sort) holds little: only
    /// this transaction's own writes to the range are held, merged in key
    /// order.
    pub fn scan_visit<E: From<EngineError>>(
        &self,
        table: ObjectId,
        lower: Bound<&[Datum]>,
        upper: Bound<&[Datum]>,
        visit: impl FnMut(Row) -> Result<bool, E>,
    ) -> Result<(), E> {
        self.scan_visit_in(table, lower, upper, Direction::Forward, None, visit)
    }

    /// [`Transaction::scan_visit`] in primary-key order or reversed, with
    /// each row decoded as `cols` says ([`ReadCols`]: the columns read, the
    /// others NULL, and the members kept of jsonb columns; `None` decodes
    /// all).
    pub fn scan_visit_in<E: From<EngineError>>(
        &self,
        table: ObjectId,
        lower: Bound<&[Datum]>,
        upper: Bound<&[Datum]>,
        dir: Direction,
        cols: Option<&ReadCols>,
        visit: impl FnMut(Row) -> Result<bool, E>,
    ) -> Result<(), E> {
        let (lo, hi) = key_bounds(lower, upper)?;
        self.scan_visit_keys(table, as_ref(&lo), as_ref(&hi), dir, cols, visit)
    }

    /// Keys that cut `range` of `table` (of its `index`, if given) into
    /// `parts` ranges of about the same size for a parallel scan
    /// ([`BTree::split_keys`]), none when it is too small to be worth it.
    /// The parts ([`KeyRange::parts`]) are read with
    /// [`Self::scan_visit_keys`] or [`Self::index_scan_visit_range`].
    pub fn split_keys(
        &self,
        table: ObjectId,
        index: Option<ObjectId>,
        range: &KeyRange,
        parts: usize,
    ) -> Result<Vec<Vec<u8>>, EngineError> {
        let tree = match index {
            None => self.snapshot_tree(table),
            Some(ix) => self.snapshot_index(table, ix),
        };
        let Some(tree) = tree else {
            return Ok(Vec::new());
        };
        let (lo, hi) = range.bounds();
        run_tree_work(|| tree.split_keys(&self.pages, lo, hi, parts)).map_err(EngineError::from)
    }

    /// [`Self::scan_visit_in`] between encoded primary keys.
    pub fn scan_visit_keys<E: From<EngineError>>(
        &self,
        table: ObjectId,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        dir: Direction,
        cols: Option<&ReadCols>,
        mut visit: impl FnMut(Row) -> Result<bool, E>,
    ) -> Result<(), E> {
        let def = self.table(table)?;
        let mask = cols.map(|c| stored_mask(&def, c));
        let mask = mask.as_deref();
        // This transaction's writes in the range: a write replaces the
        // snapshot's version of its row (a delete hides it).
        let mut own = self.own_range(table, lo, hi)?;
        if dir == Direction::Backward {
            own.reverse();
        }
        let mut own = own.into_iter().peekable();
        // A key at or before `k` in the scan's direction.
        let reached = |wk: &Vec<u8>, k: &Vec<u8>| match dir {
            Direction::Forward => wk <= k,
            Direction::Backward => wk >= k,
        };
        // Own writes merge in by key: then every row needs its key.
        let keyless = cols.is_some_and(|c| c.keyless) && own.peek().is_none();
        if let Some(tree) = self.snapshot_tree(table) {
            let mut cursor = tree.range(&self.pages, lo, hi, dir);
            let done = run_tree_work(|| -> Result<bool, E> {
                // Rows are decoded from the page in place, not copied out
                // first (a copy of every value was a sixth of a scan's CPU).
                while let Some(entry) = cursor.next_with(|k, v| {
                    let k = if keyless { Vec::new() } else { k.to_vec() };
                    (k, decode_stored_cols(&def, v, mask))
                }) {
                    let (k, row) = entry.map_err(EngineError::from)?;
                    // Own writes up to this key, in order; the last one
                    // is this key's when this transaction wrote the row,
                    // and then hides the snapshot's version.
                    let mut written = false;
                    while let Some((wk, w)) = own.next_if(|(wk, _)| reached(wk, &k)) {
                        written = wk == k;
                        if let Write::Insert(r) | Write::Put(r) = w {
                            if !visit((wk, r))? {
                                return Ok(true);
                            }
                        }
                    }
                    if written {
                        continue;
                    }
                    if !visit((k, row?))? {
                        return Ok(true);
                    }
                }
                Ok(false)
            })?;
            if done {
                return Ok(());
            }
        }
        for (k, w) in own {
            if let Write::Insert(r) | Write::Put(r) = w {
                if !visit((k, r))? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Rows whose index key lies between `lower` and `upper` (index key
    /// values, a prefix allowed), in index order or reversed.
    pub fn index_scan(
        &self,
        table: ObjectId,
        index: ObjectId,
        lower: Bound<&[Datum]>,
        upper: Bound<&[Datum]>,
        dir: Direction,
    ) -> Result<Vec<Row>, EngineError> {
        let def = self.table(table)?;
        let ix = def
            .indexes
            .iter()
            .find(|i| i.id == index)
            .cloned()
            .ok_or_else(|| EngineError::NoSuchIndex(format!("#{index}")))?;
        let (lo, hi) = key_bounds(lower, upper)?;
        // Entries by (index key ‖ primary key), from the snapshot for rows
        // this transaction did not write, and from its own writes.
        let mut entries: BTreeMap<Vec<u8>, Row> = BTreeMap::new();
        let own: BTreeMap<Vec<u8>, Write> = self
            .own_range(table, Bound::Unbounded, Bound::Unbounded)?
            .into_iter()
            .collect();
        if let Some(tree) = self.snapshot_index(table, index) {
            let table_tree = self.snapshot_tree(table).expect("index without table");
            let cursor = tree.range(&self.pages, as_ref(&lo), as_ref(&hi), Direction::Forward);
            run_tree_work(|| -> Result<(), EngineError> {
                for entry in cursor {
                    let (ikey, pk) = entry?;
                    if own.contains_key(&pk) {
                        continue;
                    }
                    let Some(v) = table_tree.get(&self.pages, &pk)? else {
                        return Err(EngineError::Corrupted(format!(
                            "index {} points at a missing row",
                            ix.name
                        )));
                    };
                    entries.insert(ikey, (pk, decode_stored_row(&def, &v)?));
                }
                Ok(())
            })?;
        }
        let key_fn = self.engine.key_fn();
        for (pk, w) in own {
            if let Write::Insert(r) | Write::Put(r) = w {
                let ikey = index_entry_key(&def, &ix, key_fn.as_ref(), &r, &pk)?;
                if in_bounds(&ikey, &lo, &hi) {
                    entries.insert(ikey, (pk, r));
                }
            }
        }
        let rows = entries.into_values();
        Ok(match dir {
            Direction::Forward => rows.collect(),
            Direction::Backward => {
                let mut v: Vec<Row> = rows.collect();
                v.reverse();
                v
            }
        })
    }

    /// About what fraction of `index`'s entries (in this snapshot) lie
    /// between the bounds; `None` when the index is too small to tell (see
    /// [`BTree::estimate_fraction`]). This transaction's own writes are not
    /// counted.
    pub fn index_range_fraction(
        &self,
        table: ObjectId,
        index: ObjectId,
        lower: Bound<&[Datum]>,
        upper: Bound<&[Datum]>,
    ) -> Result<Option<f64>, EngineError> {
        let (lo, hi) = key_bounds(lower, upper)?;
        let Some(tree) = self.snapshot_index(table, index) else {
            return Ok(None);
        };
        run_tree_work(|| tree.estimate_fraction(&self.pages, as_ref(&lo), as_ref(&hi)))
            .map_err(EngineError::from)
    }

    /// Visits the rows whose index key lies between `lower` and `upper`, in
    /// index order (forward), as [`Transaction::index_scan`] returns them,
    /// until `visit` answers `false`. Rows after that are never read, so a
    /// LIMIT over an index reads only what it returns (plus this
    /// transaction's own writes to the table, which are merged in order).
    pub fn index_scan_visit<E: From<EngineError>>(
        &self,
        table: ObjectId,
        index: ObjectId,
        lower: Bound<&[Datum]>,
        upper: Bound<&[Datum]>,
        visit: impl FnMut(Row) -> Result<bool, E>,
    ) -> Result<(), E> {
        self.index_scan_visit_in(table, index, lower, upper, Direction::Forward, None, visit)
    }

    /// [`Transaction::index_scan_visit`] in index order or reversed (index
    /// order is the key values, then the primary key), decoding each row as
    /// `cols` says (as for [`Transaction::scan_visit_in`]).
    #[allow(clippy::too_many_arguments)]
    pub fn index_scan_visit_in<E: From<EngineError>>(
        &self,
        table: ObjectId,
        index: ObjectId,
        lower: Bound<&[Datum]>,
        upper: Bound<&[Datum]>,
        dir: Direction,
        cols: Option<&ReadCols>,
        visit: impl FnMut(Row) -> Result<bool, E>,
    ) -> Result<(), E> {
        let range = KeyRange::of(lower, upper)?;
        self.index_scan_visit_range(table, index, &range, dir, cols, None, visit)
    }

    /// [`Self::index_scan_visit_in`] over a range of encoded index keys.
    ///
    /// `may_pass`, when given, sees each row of the snapshot as stored
    /// (before it is decoded; this transaction's own rows are not shown to
    /// it): a row it answers `false` for is skipped, so it must answer
    /// `false` only for rows the caller would drop anyway.
    #[allow(clippy::too_many_arguments)]
    pub fn index_scan_visit_range<E: From<EngineError>>(
        &self,
        table: ObjectId,
        index: ObjectId,
        range: &KeyRange,
        dir: Direction,
        cols: Option<&ReadCols>,
        may_pass: Option<StoredRowTest<'_>>,
        visit: impl FnMut(Row) -> Result<bool, E>,
    ) -> Result<(), E> {
        let def = self.table(table)?;
        let mask = cols.map(|c| stored_mask(&def, c));
        let mask = mask.as_deref();
        let ix = find_index(&def, index)?;
        let table_tree = self.snapshot_tree(table);
        // Each snapshot entry's row is looked up in the table by its
        // primary key. Consecutive entries' rows are often in one leaf
        // (keys and index values that grow together, like ids and ingest
        // times), so each lookup starts from the leaf the last one ended in.
        let mut finger = None;
        let lookup = |_ikey: &[u8], pk: Vec<u8>| -> Result<Option<Row>, EngineError> {
            let tree = table_tree.as_ref().expect("index without table");
            let row = tree.get_near(&self.pages, &pk, &mut finger, |v| {
                if may_pass.is_some_and(|may| !may(v)) {
                    return None;
                }
                Some(decode_stored_cols(&def, v, mask))
            })?;
            let Some(row) = row else {
                return Err(EngineError::Corrupted(format!(
                    "index {} points at a missing row",
                    ix.name
                )));
            };
            match row {
                Some(row) => Ok(Some((pk, row?))),
                None => Ok(None),
            }
        };
        self.index_entries_visit(&def, &ix, range, dir, lookup, visit)
    }

    /// [`Transaction::index_scan_visit_in`] without reading the table: each
    /// row is decoded from its index entry (key values, then primary key),
    /// so only the columns [`index_only_columns`] names are filled and the
    /// others are NULL. The caller must read no other column; the planner
    /// chooses this access only when the query's expressions above the scan
    /// reference nothing else.
    ///
    /// Visibility is the index scan's: index entries are written in the
    /// same commit as their rows and read at the same snapshot, so the
    /// snapshot's entries are exactly its rows; this transaction's own
    /// writes are merged in as [`Transaction::index_scan_visit_in`] merges
    /// them (own inserts and updates appear as written, with every column,
    /// and own deletes hide their rows).
    pub fn index_only_scan_visit_in<E: From<EngineError>>(
        &self,
        table: ObjectId,
        index: ObjectId,
        lower: Bound<&[Datum]>,
        upper: Bound<&[Datum]>,
        dir: Direction,
        visit: impl FnMut(Row) -> Result<bool, E>,
    ) -> Result<(), E> {
        let range = KeyRange::of(lower, upper)?;
        self.index_only_scan_visit_range(table, index, &range, dir, visit)
    }

    /// [`Self::index_only_scan_visit_in`] over a range of encoded index
    /// keys.
    pub fn index_only_scan_visit_range<E: From<EngineError>>(
        &self,
        table: ObjectId,
        index: ObjectId,
        range: &KeyRange,
        dir: Direction,
        visit: impl FnMut(Row) -> Result<bool, E>,
    ) -> Result<(), E> {
        let def = self.table(table)?;
        let ix = find_index(&def, index)?;
        let Some(columns) = index_only_columns(&def, &ix) else {
            return Err(EngineError::InvalidDefinition {
                table: def.name.clone(),
                detail: format!("index {} cannot answer an index-only scan", ix.name),
            }
            .into());
        };
        // The entry key holds the key columns, then the primary key (a
        // hidden row id, an int8, for tables without one).
        let mut types: Vec<DataType> = columns
            .iter()
            .map(|&c| column_data_type(&def.columns[c]))
            .collect();
        if def.has_hidden_rowid() {
            types.push(DataType::Int8);
        }
        let width = def.columns.len();
        let decode = |ikey: &[u8], pk: Vec<u8>| -> Result<Option<Row>, EngineError> {
            let mut row = vec![Datum::Null; width];
            // The hidden row id, past the columns, is not a column.
            decode_key_each(ikey, &types, |i, d| {
                if let Some(&c) = columns.get(i) {
                    row[c] = d;
                }
            })
            .map_err(|e| EngineError::Corrupted(format!("entry of index {}: {e}", ix.name)))?;
            Ok(Some((pk, row)))
        };
        self.index_entries_visit(&def, &ix, range, dir, decode, visit)
    }

    /// The index scans' walk: the snapshot's entries of `ix` between the
    /// bounds, each made a row by `entry_row` (from the entry key and the
    /// primary key it points at; `None` skips the entry), merged in index
    /// order with this transaction's own writes, which hide the snapshot's
    /// versions of their rows; stops when `visit` answers `false`.
    #[allow(clippy::too_many_arguments)]
    fn index_entries_visit<E: From<EngineError>>(
        &self,
        def: &TableDef,
        ix: &IndexDef,
        range: &KeyRange,
        dir: Direction,
        mut entry_row: impl FnMut(&[u8], Vec<u8>) -> Result<Option<Row>, EngineError>,
        mut visit: impl FnMut(Row) -> Result<bool, E>,
    ) -> Result<(), E> {
        let (lo, hi) = (&range.lo, &range.hi);
        // This transaction's writes: they hide the snapshot's versions of
        // their rows, and those still present enter in index order.
        let own: BTreeMap<Vec<u8>, Write> = self
            .own_range(def.id, Bound::Unbounded, Bound::Unbounded)?
            .into_iter()
            .collect();
        let key_fn = self.engine.key_fn();
        let mut mine: BTreeMap<Vec<u8>, Row> = BTreeMap::new();
        for (pk, w) in &own {
            if let Write::Insert(r) | Write::Put(r) = w {
                let ikey = index_entry_key(def, ix, key_fn.as_ref(), r, pk)?;
                if in_bounds(&ikey, lo, hi) {
                    mine.insert(ikey, (pk.clone(), r.clone()));
                }
            }
        }
        let mut mine: Vec<(Vec<u8>, Row)> = mine.into_iter().collect();
        if dir == Direction::Backward {
            mine.reverse();
        }
        let mut mine = mine.into_iter().peekable();
        // An entry before `ikey` in the scan's direction.
        let before = |k: &Vec<u8>, ikey: &Vec<u8>| match dir {
            Direction::Forward => k < ikey,
            Direction::Backward => k > ikey,
        };
        if let Some(tree) = self.snapshot_index(def.id, ix.id) {
            let mut cursor = tree.range(&self.pages, as_ref(lo), as_ref(hi), dir);
            if own.is_empty() {
                // Nothing of this transaction's to merge: each entry is
                // made a row in place, without a copy of its key.
                return run_tree_work(|| -> Result<(), E> {
                    while let Some(row) = cursor.next_with(|k, v| entry_row(k, v.to_vec())) {
                        let Some(row) = row.map_err(EngineError::from)?? else {
                            continue;
                        };
                        if !visit(row)? {
                            break;
                        }
                    }
                    Ok(())
                });
            }
            let done = run_tree_work(|| -> Result<bool, E> {
                while let Some(entry) = cursor.next_with(|k, v| (k.to_vec(), v.to_vec())) {
                    let (ikey, pk) = entry.map_err(EngineError::from)?;
                    if own.contains_key(&pk) {
                        continue;
                    }
                    while let Some((_, row)) = mine.next_if(|(k, _)| before(k, &ikey)) {
                        if !visit(row)? {
                            return Ok(true);
                        }
                    }
                    let Some(row) = entry_row(&ikey, pk)? else {
                        continue;
                    };
                    if !visit(row)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            })?;
            if done {
                return Ok(());
            }
        }
        for (_, row) in mine {
            if !visit(row)? {
                break;
            }
        }
        Ok(())
    }

    fn check_unique_indexes(
        &self,
        def: &TableDef,
        key: &[u8],
        row: &[Datum],
    ) -> Result<(), EngineError> {
        let key_fn = self.engine.key_fn();
        for ix in def.indexes.iter().filter(|i| i.unique) {
            let values = index_values(def, ix, key_fn.as_ref(), row)?;
            if values.iter().any(|d| matches!(d, Datum::Null)) {
                continue;
            }
            let rows = self.index_scan(
                def.id,
                ix.id,
                Bound::Included(&values),
                Bound::Included(&values),
                Direction::Forward,
            )?;
            if rows.iter().any(|(pk, _)| pk != key) {
                return Err(EngineError::UniqueViolation {
                    constraint: ix.name.clone(),
                    key: key_detail(def, Some(ix), &values),
                });
            }
        }
        Ok(())
    }

    /// Rolls back.
    pub fn rollback(self) {}

    /// Commits: returns the commit LSN once it is durable (the snapshot LSN
    /// for a transaction that wrote nothing).
    ///
    /// The transaction goes to the commit pipeline, which may apply it in
    /// one MTR with others queued at the same time (group commit, see the
    /// module docs); it is acknowledged only once that MTR is durable.
    pub async fn commit(self) -> Result<Lsn, EngineError> {
        if self.is_empty() {
            return Ok(self.snapshot);
        }
        let engine = self.engine.clone();
        let snapshot = self.snapshot;
        let (done, outcome) = tokio::sync::oneshot::channel();
        engine.inner.commit_waiting.fetch_add(1, Ordering::Relaxed);
        engine
            .inner
            .queue
            .send(Queued { txn: self, done })
            .map_err(|_| EngineError::Stopped("the commit pipeline has stopped".into()))?;
        let applied = outcome
            .await
            .map_err(|_| EngineError::Stopped("the commit pipeline has stopped".into()))??;
        let Some(lsn) = applied else {
            return Ok(snapshot);
        };
        engine.inner.volume.wait_durable(lsn).await?;
        let vdl = engine.vdl();
        engine
            .inner
            .pool
            .set_horizons(vdl, engine.oldest_snapshot());
        Ok(lsn)
    }

    /// True if this transaction commits in a group of its own, where its
    /// MTR may be streamed in chunks of `chunk_pages`: it has DDL, spilled
    /// writes, or buffered writes past a quarter of a chunk's bytes.
    fn commits_alone(&self, chunk_pages: usize) -> bool {
        !self.ddl.is_empty()
            || self.writes.spilled()
            || self.writes.memory_bytes() > (chunk_pages * PAGE_SIZE / 4) as u64
    }

    /// Applies this transaction to `mtr`, over the newest pages and the
    /// transactions of its group applied before it. Returns the new catalog
    /// when it has DDL. `between` runs between rows (and index entries of a
    /// new index), where the pages are consistent: the commit pipeline
    /// streams chunks there. On error `mtr` may hold part of the changes:
    /// the caller restores its checkpoint (or undoes the chunks sent).
    fn apply(
        &mut self,
        state: &CommitState,
        mtr: &mut MtrPages,
        between: &mut dyn FnMut(&mut MtrPages) -> Result<(), EngineError>,
    ) -> Result<Option<Catalog>, EngineError> {
        // First committer wins.
        for entry in self.writes.merged()? {
            let ((table, key), _) = entry?;
            if state
                .last_ddl
                .get(&table)
                .is_some_and(|l| *l > self.snapshot)
            {
                return Err(EngineError::SerializationFailure(format!(
                    "table #{table} was changed concurrently"
                )));
            }
            if state
                .last_write
                .get(&(table, key.clone()))
                .is_some_and(|l| *l > self.snapshot)
            {
                let vals = decode_key(&key)
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_else(|_| format!("{key:02x?}"));
                return Err(EngineError::SerializationFailure(format!(
                    "row {vals} was changed by a transaction that committed after this one began"
                )));
            }
        }
        if !self.ddl.is_empty() && state.catalog.as_ref() != self.snapshot_catalog.as_ref() {
            let changed = self.ddl.iter().any(|d| {
                !matches!(d, Ddl::CreateTable(_))
                    && state
                        .last_ddl
                        .get(&d.table())
                        .is_some_and(|l| *l > self.snapshot)
            });
            let names_taken = self.ddl.iter().any(|d| match d {
                Ddl::CreateTable(id) | Ddl::AlterTable(id) => {
                    self.catalog.table(*id).is_some_and(|t| {
                        state
                            .catalog
                            .table_by_name(&t.name)
                            .is_some_and(|o| o.id != *id)
                    })
                }
                _ => false,
            });
            if changed || names_taken {
                return Err(EngineError::SerializationFailure(
                    "the catalog was changed concurrently".into(),
                ));
            }
        }

        // Rows-only transactions (the common case) read the current catalog;
        // only DDL needs a copy to change.
        let mut owned = (!self.ddl.is_empty()).then(|| (*state.catalog).clone());
        let mut unused = Catalog::default();
        let catalog: &mut Catalog = owned.as_mut().unwrap_or(&mut unused);
        let catalog_tree = BTree::open(mtr.superblock().catalog_root);
        let key_fn = self.engine.key_fn();

        // DDL, in the order it was issued.
        let mut new_indexes: Vec<(ObjectId, ObjectId)> = Vec::new();
        for d in self.ddl.clone() {
            match d {
                Ddl::CreateTable(id) => {
                    let Some(def) = self.catalog.table(id) else {
                        continue;
                    }; // dropped again
                    let mut def = (**def).clone();
                    def.root = BTree::create(mtr)?.root();
                    for ix in def.indexes.iter_mut() {
                        ix.root = BTree::create(mtr)?.root();
                    }
                    self.catalog.put(def.clone());
                    catalog.put(def);
                }
                Ddl::DropTable(def) => {
                    if let Some(stored) = catalog.remove(def.id) {
                        BTree::open(stored.root).destroy(mtr)?;
                        for ix in &stored.indexes {
                            BTree::open(ix.root).destroy(mtr)?;
                        }
                        catalog_tree.delete(mtr, &catalog::entry_key(def.id))?;
                    }
                }
                Ddl::Truncate(id) => {
                    if let Some(stored) = catalog.table(id) {
                        BTree::open(stored.root).clear(mtr)?;
                        for ix in &stored.indexes {
                            BTree::open(ix.root).clear(mtr)?;
                        }
                    }
                }
                Ddl::CreateIndex(table, index) => {
                    let Some(def) = self.catalog.table(table) else {
                        continue;
                    };
                    let mut def = (**def).clone();
                    let Some(ix) = def.indexes.iter_mut().find(|i| i.id == index) else {
                        continue;
                    };
                    if ix.root == PageId(0) {
                        ix.root = BTree::create(mtr)?.root();
                    }
                    if catalog.table(table).is_some() && !new_table(&self.ddl, table) {
                        new_indexes.push((table, index));
                    }
                    let mut stored = catalog
                        .table(table)
                        .map(|t| (**t).clone())
                        .unwrap_or_else(|| def.clone());
                    stored.indexes = def.indexes.clone();
                    self.catalog.put(def);
                    catalog.put(stored);
                }
                Ddl::AlterTable(table) => {
                    let (Some(def), Some(stored)) =
                        (self.catalog.table(table), catalog.table(table))
                    else {
                        continue; // dropped again later in this transaction
                    };
                    let mut stored = (**stored).clone();
                    stored.name.clone_from(&def.name);
                    stored.columns.clone_from(&def.columns);
                    stored.primary_key.clone_from(&def.primary_key);
                    stored.stored.clone_from(&def.stored);
                    // Key positions shift with the columns; the index set
                    // itself changes only through CreateIndex and DropIndex.
                    for ix in stored.indexes.iter_mut() {
                        if let Some(now) = def.indexes.iter().find(|i| i.id == ix.id) {
                            ix.keys.clone_from(&now.keys);
                            ix.name.clone_from(&now.name);
                        }
                    }
                    catalog.put(stored);
                }
                Ddl::DropIndex(table, ix) => {
                    if let Some(stored) = catalog.table(table) {
                        let mut stored = (**stored).clone();
                        if let Some(old) = stored.indexes.iter().find(|i| i.id == ix.id) {
                            if old.root != PageId(0) {
                                BTree::open(old.root).destroy(mtr)?;
                            }
                        }
                        stored.indexes.retain(|i| i.id != ix.id);
                        catalog.put(stored);
                    }
                }
            }
        }
        // Existing rows of a table that got a new index.
        for (table, index) in new_indexes {
            let def = catalog.table(table).expect("checked").clone();
            let ix = def
                .indexes
                .iter()
                .find(|i| i.id == index)
                .expect("created above")
                .clone();
            let tree = BTree::open(def.root);
            let rows: Vec<(Vec<u8>, Vec<u8>)> = tree
                .range(
                    &*mtr,
                    Bound::Unbounded,
                    Bound::Unbounded,
                    Direction::Forward,
                )
                .collect::<Result<_, _>>()?;
            let itree = BTree::open(ix.root);
            for (pk, v) in rows {
                between(mtr)?;
                let row = decode_stored_row(&def, &v)?;
                insert_index_entry(mtr, &def, &ix, key_fn.as_ref(), &itree, &row, &pk).map_err(
                    |e| match e {
                        EngineError::UniqueViolation { constraint, key } => {
                            EngineError::DuplicatesForUniqueIndex {
                                index: constraint,
                                key: key.replace(" already exists.", " is duplicated."),
                            }
                        }
                        e => e,
                    },
                )?;
            }
        }
        let ddl_changed = !self.ddl.is_empty();
        if ddl_changed {
            let ids: BTreeSet<ObjectId> = catalog.tables().map(|t| t.id).collect();
            for id in ids {
                let def = catalog.table(id).expect("listed");
                catalog_tree.put(mtr, &catalog::entry_key(id), &catalog::encode_table(def))?;
            }
            let next = self.engine.inner.next_object_id.load(Ordering::Relaxed);
            if mtr.superblock().next_object_id < next {
                mtr.superblock_mut().next_object_id = next;
            }
        }

        // Rows, with their index entries, in (table, key) order.
        let rows_catalog: &Catalog = if ddl_changed { catalog } else { &state.catalog };
        let mut current: Option<(ObjectId, Arc<TableDef>)> = None;
        let mut claimed = false;
        for entry in self.writes.merged()? {
            let ((table, key), w) = entry?;
            if w == Write::Lock {
                // A claimed row stays as it is; its key still counts as
                // written (see the caller).
                claimed = true;
                continue;
            }
            between(mtr)?;
            let key = &key;
            let w = &w;
            if current.as_ref().is_none_or(|(t, _)| *t != table) {
                let def = rows_catalog
                    .table(table)
                    .ok_or_else(|| EngineError::NoSuchTable(format!("#{table}")))?
                    .clone();
                current = Some((table, def));
            }
            let def = current.as_ref().expect("set above").1.clone();
            let tree = BTree::open(def.root);
            {
                let old = tree
                    .get(&*mtr, key)?
                    .map(|v| decode_stored_row(&def, &v))
                    .transpose()?;
                let new = match (w, &old) {
                    (Write::Insert(_), Some(_)) => {
                        return Err(EngineError::UniqueViolation {
                            constraint: format!("{}_pkey", def.name),
                            key: describe_key(&def, key),
                        })
                    }
                    (Write::Insert(r) | Write::Put(r), _) => Some(r),
                    (Write::Delete, _) => None,
                    (Write::Lock, _) => unreachable!("skipped above"),
                };
                if old.is_none() && new.is_none() {
                    continue;
                }
                for ix in &def.indexes {
                    let itree = BTree::open(ix.root);
                    if let Some(old) = &old {
                        let ikey = index_entry_key(&def, ix, key_fn.as_ref(), old, key)?;
                        itree.delete(mtr, &ikey)?;
                    }
                }
                match new {
                    Some(row) => {
                        let mut v = Vec::new();
                        encode_row(&def.row_to_stored(row), &mut v).map_err(|e| {
                            EngineError::InvalidRow {
                                table: def.name.clone(),
                                detail: e.to_string(),
                            }
                        })?;
                        tree.put(mtr, key, &v)?;
                        for ix in &def.indexes {
                            insert_index_entry(
                                mtr,
                                &def,
                                ix,
                                key_fn.as_ref(),
                                &BTree::open(ix.root),
                                row,
                                key,
                            )?;
                        }
                    }
                    None => {
                        tree.delete(mtr, key)?;
                    }
                }
            }
        }
        if claimed {
            // Claims must reach `last_write` with a commit LSN of their
            // own even when nothing else changed: the superblock record
            // gives the MTR one.
            mtr.superblock_mut();
        }
        Ok(owned)
    }
}

/// Replaces the key parts of the indexes named in `restated`, which must
/// keep their number of parts.
fn restate_keys(
    def: &mut TableDef,
    restated: Vec<(ObjectId, Vec<IndexKey>)>,
) -> Result<(), EngineError> {
    for (id, keys) in restated {
        let Some(ix) = def.indexes.iter_mut().find(|i| i.id == id) else {
            return Err(EngineError::NoSuchIndex(format!("#{id}")));
        };
        if ix.keys.len() != keys.len() {
            return Err(EngineError::InvalidDefinition {
                table: def.name.clone(),
                detail: format!("index {} restated with {} key parts", ix.name, keys.len()),
            });
        }
        ix.keys = keys;
    }
    Ok(())
}

fn new_table(ddl: &[Ddl], table: ObjectId) -> bool {
    ddl.iter()
        .any(|d| matches!(d, Ddl::CreateTable(t) if *t == table))
}

impl Engine {
    fn rowid_counter(
        &self,
        def: &TableDef,
        pages: &SnapshotPages,
        stored: bool,
    ) -> Result<Arc<AtomicU64>, EngineError> {
        let mut rowids = self.inner.rowids.lock().expect("rowids");
        if let Some(c) = rowids.get(&def.id) {
            return Ok(c.clone());
        }
        // First use since start: continue above the largest stored row id.
        // Rows committed after our snapshot can only have ids this process
        // handed out, which the counter already passed.
        let mut next = 1u64;
        if stored {
            let tree = BTree::open(def.root);
            let last = run_tree_work(|| {
                tree.range(
                    pages,
                    Bound::Unbounded,
                    Bound::Unbounded,
                    Direction::Backward,
                )
                .next()
                .transpose()
            })?;
            if let Some((k, _)) = last {
                if let Ok(vals) = decode_key(&k) {
                    if let Some(Datum::Int8(n)) = vals.first() {
                        next = (*n as u64) + 1;
                    }
                }
            }
        }
        let c = Arc::new(AtomicU64::new(next));
        rowids.insert(def.id, c.clone());
        Ok(c)
    }

    fn prune(&self, state: &mut CommitState) {
        let oldest = self.oldest_snapshot();
        if state.last_write.len() > 4096 {
            state.last_write.retain(|_, l| *l > oldest);
        }
        let mut catalogs = self.inner.catalogs.lock().expect("catalogs");
        // Keep the newest catalog at or below the oldest snapshot, and all after.
        if let Some(keep) = catalogs.range(..=oldest).next_back().map(|(l, _)| *l) {
            let newer = catalogs.split_off(&keep);
            *catalogs = newer;
        }
    }
}

/// Decodes a stored row into the table's columns: dropped columns'
/// values skipped, columns added since read as their missing value (see
/// `catalog`'s module docs).
fn decode_stored_row(def: &TableDef, bytes: &[u8]) -> Result<Vec<Datum>, EngineError> {
    decode_stored_cols(def, bytes, None)
}

/// [`decode_stored_row`] reading the stored slots as `mask` says (see
/// [`stored_mask`]).
fn decode_stored_cols(
    def: &TableDef,
    bytes: &[u8],
    mask: Option<&[SlotRead]>,
) -> Result<Vec<Datum>, EngineError> {
    let stored = decode_row_masked(bytes, mask)
        .map_err(|e| EngineError::Corrupted(format!("row of {}: {e}", def.name)))?;
    def.row_from_stored(stored)
        .map_err(|e| EngineError::Corrupted(format!("row of {}: {e}", def.name)))
}

/// What a scan decodes of each row of a table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadCols {
    /// Columns decoded, by position (columns past its end are decoded);
    /// the others read as NULL.
    pub cols: Vec<bool>,
    /// Decoded columns of type jsonb that the query reads only through
    /// `->` and `->>` with these keys (in [`crate::jsonb::members_order`],
    /// at most [`crate::jsonb::MEMBERS_MAX`]): an object in one decodes to
    /// those members alone.
    pub members: Vec<(usize, Arc<[Box<str>]>)>,
    /// The reader never looks at the rows' stored keys (a query's scan,
    /// not a DML's): a table scan may hand rows with empty keys, saving a
    /// copy of every key.
    pub keyless: bool,
}

/// How to read each stored slot for `cols` (by column position).
fn stored_mask(def: &TableDef, cols: &ReadCols) -> Vec<SlotRead> {
    let mut mask = vec![SlotRead::Skip; def.stored_width() as usize];
    for i in 0..def.columns.len() {
        if cols.cols.get(i) != Some(&false) {
            if let Some(m) = mask.get_mut(def.slot(i)) {
                *m = SlotRead::Whole;
            }
        }
    }
    for (i, keys) in &cols.members {
        assert!(
            cols.cols.get(*i) == Some(&true),
            "members read of column {i}, which is not read"
        );
        if let Some(m) = mask.get_mut(def.slot(*i)) {
            *m = SlotRead::Members(keys.clone());
        }
    }
    mask
}

fn index_values(
    def: &TableDef,
    ix: &IndexDef,
    key_fn: Option<&IndexKeyFn>,
    row: &[Datum],
) -> Result<Vec<Datum>, EngineError> {
    if ix.keys.iter().all(|k| matches!(k, IndexKey::Column(_))) {
        return Ok(ix
            .keys
            .iter()
            .map(|k| match k {
                IndexKey::Column(i) => row[*i].clone(),
                IndexKey::Expr(_) => unreachable!("checked above"),
            })
            .collect());
    }
    let f = key_fn.ok_or_else(|| {
        EngineError::KeyFunction(format!("no key function for expression index {}", ix.name).into())
    })?;
    let values = f(def, ix, row).map_err(EngineError::KeyFunction)?;
    if values.len() != ix.keys.len() {
        return Err(EngineError::KeyFunction(
            format!(
                "{} values for {} key parts of {}",
                values.len(),
                ix.keys.len(),
                ix.name
            )
            .into(),
        ));
    }
    Ok(values)
}

fn find_index(def: &TableDef, index: ObjectId) -> Result<IndexDef, EngineError> {
    def.indexes
        .iter()
        .find(|i| i.id == index)
        .cloned()
        .ok_or_else(|| EngineError::NoSuchIndex(format!("#{index}")))
}

/// The declared type of a column (text for a type this build does not
/// know, as the SQL layer reads it).
fn column_data_type(c: &catalog::ColumnDef) -> DataType {
    DataType::from_oid_typmod(crate::datum::Oid(c.type_oid), c.type_mod).unwrap_or(DataType::Text)
}

/// The columns an index-only read of `ix` fills, in entry order: its key
/// columns, then the primary key's (a column may appear twice). `None`
/// when `ix` cannot answer one: it has an expression key part, or a key
/// or primary-key column's type does not decode from the key exactly as
/// it was stored ([`decodes_exactly`]).
pub fn index_only_columns(def: &TableDef, ix: &IndexDef) -> Option<Vec<usize>> {
    let mut columns = Vec::with_capacity(ix.keys.len() + def.primary_key.len());
    for k in &ix.keys {
        match k {
            IndexKey::Column(c) => columns.push(*c),
            IndexKey::Expr(_) => return None,
        }
    }
    columns.extend_from_slice(&def.primary_key);
    columns
        .iter()
        .all(|&c| {
            def.columns.get(c).is_some_and(|col| {
                DataType::from_oid_typmod(crate::datum::Oid(col.type_oid), col.type_mod)
                    .is_some_and(decodes_exactly)
            })
        })
        .then_some(columns)
}

fn index_entry_key(
    def: &TableDef,
    ix: &IndexDef,
    key_fn: Option<&IndexKeyFn>,
    row: &[Datum],
    pk: &[u8],
) -> Result<Vec<u8>, EngineError> {
    let values = index_values(def, ix, key_fn, row)?;
    let mut key = Vec::new();
    encode_key(&values, &mut key)
        .map_err(|e| EngineError::KeyFunction(format!("index {}: {e}", ix.name).into()))?;
    key.extend_from_slice(pk);
    Ok(key)
}

fn insert_index_entry(
    mtr: &mut MtrPages,
    def: &TableDef,
    ix: &IndexDef,
    key_fn: Option<&IndexKeyFn>,
    tree: &BTree,
    row: &[Datum],
    pk: &[u8],
) -> Result<(), EngineError> {
    let values = index_values(def, ix, key_fn, row)?;
    let mut prefix = Vec::new();
    encode_key(&values, &mut prefix)
        .map_err(|e| EngineError::KeyFunction(format!("index {}: {e}", ix.name).into()))?;
    if ix.unique && !values.iter().any(|d| matches!(d, Datum::Null)) {
        let upper = prefix_successor(&prefix);
        let hi = match &upper {
            Some(u) => Bound::Excluded(u.as_slice()),
            None => Bound::Unbounded,
        };
        for entry in tree.range(
            &*mtr,
            Bound::Included(prefix.as_slice()),
            hi,
            Direction::Forward,
        ) {
            let (k, _) = entry?;
            if &k[prefix.len()..] != pk {
                return Err(EngineError::UniqueViolation {
                    constraint: ix.name.clone(),
                    key: key_detail(def, Some(ix), &values),
                });
            }
        }
    }
    let mut key = prefix;
    key.extend_from_slice(pk);
    tree.put(mtr, &key, pk)?;
    Ok(())
}

/// PostgreSQL's DETAIL for a unique violation: `Key (a, b)=(1, x) already
/// exists.`, from the primary key (`ix` None) or index `ix`.
fn key_detail(def: &TableDef, ix: Option<&IndexDef>, values: &[Datum]) -> String {
    let names = crate::sql::pg_catalog::index_key_columns(def, ix);
    let text = crate::pgtext::TextContext::default();
    let vals: Vec<String> = values
        .iter()
        .map(|v| match v {
            Datum::Null => "null".to_string(),
            v => crate::pgtext::format(v, &text),
        })
        .collect();
    format!(
        "Key ({})=({}) already exists.",
        names.join(", "),
        vals.join(", ")
    )
}

/// The primary key values of `row`.
fn pk_values(def: &TableDef, row: &[Datum]) -> Vec<Datum> {
    def.primary_key.iter().map(|&i| row[i].clone()).collect()
}

fn describe_key(def: &TableDef, key: &[u8]) -> String {
    match decode_key(key) {
        Ok(vals) => key_detail(def, None, &vals),
        Err(_) => format!("Key {key:02x?} already exists."),
    }
}

type KeyBound = Bound<Vec<u8>>;

/// Encodes bounds on key values (prefixes allowed) as byte bounds.
fn key_bounds(
    lower: Bound<&[Datum]>,
    upper: Bound<&[Datum]>,
) -> Result<(KeyBound, KeyBound), EngineError> {
    let enc = |d: &[Datum]| -> Result<Vec<u8>, EngineError> {
        let mut k = Vec::new();
        encode_key(d, &mut k).map_err(|e| EngineError::InvalidRow {
            table: String::new(),
            detail: e.to_string(),
        })?;
        Ok(k)
    };
    let lo = match lower {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(d) => Bound::Included(enc(d)?),
        // Past every key that starts with the prefix.
        Bound::Excluded(d) => match prefix_successor(&enc(d)?) {
            Some(s) => Bound::Included(s),
            None => {
                return Ok((
                    Bound::Excluded(vec![0xFF; 1]),
                    Bound::Excluded(vec![0xFF; 1]),
                ))
            }
        },
    };
    let hi = match upper {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(d) => match prefix_successor(&enc(d)?) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        },
        Bound::Excluded(d) => Bound::Excluded(enc(d)?),
    };
    Ok((lo, hi))
}

/// A range of encoded keys (a table's primary keys or an index's entry
/// keys): what a scan reads, or one part of it in a parallel scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    /// Lower bound.
    pub lo: Bound<Vec<u8>>,
    /// Upper bound.
    pub hi: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> KeyRange {
        KeyRange {
            lo: Bound::Unbounded,
            hi: Bound::Unbounded,
        }
    }

    /// The keys between bounds on key values (prefixes allowed), encoded
    /// as the scans encode them.
    pub fn of(lower: Bound<&[Datum]>, upper: Bound<&[Datum]>) -> Result<KeyRange, EngineError> {
        let (lo, hi) = key_bounds(lower, upper)?;
        Ok(KeyRange { lo, hi })
    }

    /// The keys in both this range and `other`.
    pub fn intersect(&self, other: &KeyRange) -> KeyRange {
        use std::cmp::Ordering::*;
        // Of two lower bounds the higher; of two upper bounds the lower;
        // at equal keys the exclusive one.
        let lo = match (&self.lo, &other.lo) {
            (Bound::Unbounded, b) | (b, Bound::Unbounded) => b.clone(),
            (a, b) => {
                let (ka, kb) = (bound_key(a), bound_key(b));
                match ka.cmp(kb) {
                    Greater => a.clone(),
                    Less => b.clone(),
                    Equal if matches!(a, Bound::Excluded(_)) => a.clone(),
                    Equal => b.clone(),
                }
            }
        };
        let hi = match (&self.hi, &other.hi) {
            (Bound::Unbounded, b) | (b, Bound::Unbounded) => b.clone(),
            (a, b) => {
                let (ka, kb) = (bound_key(a), bound_key(b));
                match ka.cmp(kb) {
                    Less => a.clone(),
                    Greater => b.clone(),
                    Equal if matches!(a, Bound::Excluded(_)) => a.clone(),
                    Equal => b.clone(),
                }
            }
        };
        KeyRange { lo, hi }
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        in_bounds(key, &self.lo, &self.hi)
    }

    /// `[cuts[i-1], cuts[i])` for each part `i` of a range cut at `cuts`
    /// (ascending, inside the range), each intersected with the range.
    pub fn parts(&self, cuts: &[Vec<u8>]) -> Vec<KeyRange> {
        (0..=cuts.len())
            .map(|i| {
                let part = KeyRange {
                    lo: match i {
                        0 => Bound::Unbounded,
                        _ => Bound::Included(cuts[i - 1].clone()),
                    },
                    hi: cuts
                        .get(i)
                        .map_or(Bound::Unbounded, |c| Bound::Excluded(c.clone())),
                };
                self.intersect(&part)
            })
            .collect()
    }

    fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (as_ref(&self.lo), as_ref(&self.hi))
    }
}

fn bound_key(b: &KeyBound) -> &[u8] {
    match b {
        Bound::Included(k) | Bound::Excluded(k) => k,
        Bound::Unbounded => unreachable!("unbounded sides are handled first"),
    }
}

fn as_ref(b: &KeyBound) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn in_bounds(k: &[u8], lo: &KeyBound, hi: &KeyBound) -> bool {
    let above = match lo {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(h) => k <= h.as_slice(),
        Bound::Excluded(h) => k < h.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

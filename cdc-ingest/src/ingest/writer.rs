//! The one task that writes: it takes requests off the bounded queue,
//! merges them into batches by size and time, and applies each batch in one
//! transaction on its own connection.
//!
//! # Acknowledgement
//!
//! A request is answered only after the transaction holding its events has
//! committed, or with an error once it is known not to have committed, or
//! with 503 when the outcome is unknown: the connection died while COMMIT
//! was in flight. The position guards make a producer's retry of such a
//! request safe: events that did commit are skipped as stale the second
//! time.
//!
//! # Failures
//!
//! * A batch the database refuses (bad cast of an extra column, a table
//!   dropped under us) is retried one request at a time, so only the
//!   request at fault fails and nothing of it is applied.
//! * A connection lost before COMMIT was sent means a rolled-back
//!   transaction: the writer reconnects once and retries the batch, then
//!   answers 503.
//! * While no connection can be made, the writer retries with exponential
//!   backoff ([`RECONNECT_BACKOFF_MIN`] to [`RECONNECT_BACKOFF_MAX`]) and
//!   `up` is false, so the HTTP side answers 503 with `Retry-After` without
//!   queueing.
//!
//! # Ordering
//!
//! Within a batch, a table's upsert chunks are pipelined on the connection
//! (sent without waiting for each answer), and so are its deletes; the
//! keys they touch are distinct, so their order does not matter. Upserts go
//! in key order, so two batches that share keys lock them in the same order.
//! Within a batch, events are reduced to the newest per key (a truncate is a
//! barrier) because one `INSERT … ON CONFLICT` may not touch a row twice;
//! the older ones count as skipped-as-stale.
//!
//! # Several writers
//!
//! `batch.writers` workers ([`BATCH_WRITERS_DEFAULT`]), each with its own
//! connection, take batches off the one queue, so one batch's statements
//! run while another's COMMIT waits for durability. The position guards
//! make the final rows independent of which commits first. Two batches
//! upserting one key are left to the database: PostgreSQL makes the second
//! wait for the first and then applies its guard to the committed row;
//! Sextant fails one with 40001 (first committer wins), and so may a
//! PostgreSQL deadlock (40P01). Either rolls the batch back, and its worker
//! runs it again ([`CONFLICT_RETRIES_MAX`]), now seeing the other's rows.
//! A batch that deletes or truncates runs alone: it waits for the batches in
//! flight and holds the others back (`Shared::order`). An upsert running
//! beside a delete of its key could otherwise miss the tombstone the
//! delete has not committed yet and bring the row back.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use tokio::sync::{mpsc, oneshot, Mutex, OwnedSemaphorePermit, RwLock};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};
use tracing::{info, warn};

use super::config::{Config, TableConfig};
use super::event::{Change, Parsed};
use super::metrics::{IngestMetrics, Outcome};
use super::sql;

/// First wait before reconnecting after a failed connect.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between connection attempts.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Bound on one connection attempt (TCP, TLS-less startup, auth).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Times a batch rolled back by a write conflict with another writer's
/// batch (40001, 40P01) runs again before its requests get 503.
pub const CONFLICT_RETRIES_MAX: u32 = 8;

/// What a request's events did, answered after commit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Upserts that changed a row.
    pub applied: u64,
    /// Upserts and deletes older than what the table (or a tombstone, or a
    /// newer event in the same batch) holds.
    pub skipped_stale: u64,
    /// Deletes that took effect.
    pub deleted: u64,
    /// Truncates applied.
    pub truncated: u64,
    /// Tombstones (JSON nulls) skipped.
    pub ignored: u64,
}

/// Why a request failed after it was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The table does not exist and is not to be created (404).
    #[error("table {0} does not exist (and its config does not create it)")]
    TableNotFound(String),
    /// The database refused this request's rows (400); nothing applied.
    #[error("the database refused the events: {0}")]
    Rejected(String),
    /// No writer reachable, or the commit's outcome unknown (503): retry.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (500), say a table whose shape does not fit.
    #[error("{0}")]
    Internal(String),
}

/// One request's events, queued.
pub struct Job {
    /// Target table (a checked identifier).
    pub table: String,
    /// Its changes.
    pub parsed: Parsed,
    /// Decoded body bytes, for batch sizing.
    pub bytes: u64,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Result<Counts, JobError>>,
    /// Its share of the queue's capacity, released when it is answered.
    pub permit: OwnedSemaphorePermit,
}

impl Job {
    fn events(&self) -> u64 {
        self.parsed.changes.len() as u64
    }
}

/// How one attempt at a batch failed.
#[derive(Debug)]
enum ApplyError {
    /// Rolled back for sure because of the data or the schema.
    Refused(JobError),
    /// The connection failed before COMMIT was sent: rolled back.
    LostBeforeCommit(String),
    /// The connection failed during COMMIT: outcome unknown.
    CommitUnknown(String),
    /// Rolled back by a write conflict with a concurrent transaction
    /// (40001 serialization failure, 40P01 deadlock): worth running again.
    Conflict(JobError),
}

/// Statement kinds cached per connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    /// Rows, and whether the tombstone guard is in.
    Upsert(usize, bool),
    Delete,
    Tombstone,
    Exists,
}

/// The queue as the writers take from it.
struct Queue {
    /// A request taken off the queue that did not fit the last batch: the
    /// next batch starts with it, whichever writer takes it.
    carried: Option<Job>,
    rx: mpsc::Receiver<Job>,
}

/// What the writers share.
struct Shared {
    queue: Mutex<Queue>,
    /// Writers waiting for the queue: while one is, a batch stops at its
    /// share of `batch.events_max` and `batch.bytes_max`, so that the
    /// requests queued go out on all writers at once.
    waiting: AtomicUsize,
    /// Set once the queue is closed and drained.
    closed: tokio::sync::watch::Sender<bool>,
    /// Read-held by a batch of upserts only, write-held by a batch that
    /// deletes or truncates (see the module docs).
    order: RwLock<()>,
    /// The tombstone table exists: found at a connect or made by a batch.
    /// Never goes back to false (the table is ours and never dropped).
    tombstones: AtomicBool,
    /// Writers with a live connection; `up` while there is one.
    connected: AtomicUsize,
    up: Arc<AtomicBool>,
    /// A writer has lost a connection: connections opened since are
    /// reconnects (of whichever writer opens them first).
    lost: AtomicBool,
}

/// Runs `config.batch.writers` writers on `queue` until it is closed and
/// drained. `up` tells the HTTP side whether any writer is connected.
pub async fn run(
    config: Arc<Config>,
    metrics: Arc<IngestMetrics>,
    up: Arc<AtomicBool>,
    queue: mpsc::Receiver<Job>,
) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            carried: None,
            rx: queue,
        }),
        waiting: AtomicUsize::new(0),
        closed: tokio::sync::watch::Sender::new(false),
        order: RwLock::new(()),
        tombstones: AtomicBool::new(false),
        connected: AtomicUsize::new(0),
        up,
        lost: AtomicBool::new(false),
    });
    let writers: Vec<_> = (0..config.batch.writers)
        .map(|_| {
            let writer = Writer::new(config.clone(), metrics.clone(), shared.clone());
            tokio::spawn(writer.run())
        })
        .collect();
    for writer in writers {
        if let Err(e) = writer.await {
            warn!("an ingest writer ended abnormally: {e}");
        }
    }
}

/// One writer's state.
struct Writer {
    config: Arc<Config>,
    metrics: Arc<IngestMetrics>,
    shared: Arc<Shared>,
    client: Option<Client>,
    backoff: Duration,
    next_attempt: Instant,
    /// Tables known to exist with a fitting shape, on any connection.
    tables: HashSet<String>,
    statements: HashMap<(String, Kind), Statement>,
    /// A request was answered with a transient error (503) since the last
    /// batch: the session may be in a state this writer cannot see (a
    /// transaction the proxy failed over, a COMMIT whose answer was lost),
    /// so the next batch starts on a new connection.
    transient: AtomicBool,
}

impl Writer {
    /// A writer that has not connected yet.
    fn new(config: Arc<Config>, metrics: Arc<IngestMetrics>, shared: Arc<Shared>) -> Writer {
        Writer {
            config,
            metrics,
            shared,
            client: None,
            backoff: RECONNECT_BACKOFF_MIN,
            next_attempt: Instant::now(),
            tables: HashSet::new(),
            statements: HashMap::new(),
            transient: AtomicBool::new(false),
        }
    }

    /// Runs until the queue is closed and drained.
    async fn run(mut self) {
        let shared = self.shared.clone();
        let mut closed = shared.closed.subscribe();
        self.try_connect().await;
        loop {
            if !self.connected() && shared.connected.load(Ordering::Acquire) > 0 {
                // Another writer serves the queue; reconnect when due.
                let wake = tokio::time::Instant::from_std(self.next_attempt);
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => {
                        self.try_connect().await;
                        continue;
                    }
                    () = async { drop(closed.wait_for(|closed| *closed).await) } => break,
                }
            }
            shared.waiting.fetch_add(1, Ordering::AcqRel);
            let mut queue = shared.queue.lock().await;
            shared.waiting.fetch_sub(1, Ordering::AcqRel);
            let first = match queue.carried.take() {
                Some(job) => job,
                None if self.connected() => match queue.rx.recv().await {
                    Some(job) => job,
                    None => break,
                },
                None => {
                    // No writer is connected: take requests (to answer them
                    // 503) until this one's reconnect is due.
                    let wake = tokio::time::Instant::from_std(self.next_attempt);
                    tokio::select! {
                        job = queue.rx.recv() => match job {
                            Some(job) => job,
                            None => break,
                        },
                        () = tokio::time::sleep_until(wake) => {
                            drop(queue);
                            self.try_connect().await;
                            continue;
                        }
                    }
                }
            };
            let batch = self.collect(first, &mut queue).await;
            drop(queue);
            self.process(batch).await;
        }
        shared.closed.send_replace(true);
        self.disconnected("the queue is closed");
        info!("ingest queue closed and drained; writer stops");
    }

    /// Adds queued requests to `first` until the batch is full or its wait
    /// is over (with no wait: what is queued now). A request that would
    /// overflow the batch is carried to the next one; a request bigger
    /// than a batch is a batch of its own. While another writer waits for
    /// the queue, a batch is full at its share of the limits.
    async fn collect(&self, first: Job, queue: &mut Queue) -> Vec<Job> {
        let limits = &self.config.batch;
        let (mut events_max, mut bytes_max) = (u64::from(limits.events_max), limits.bytes_max);
        if self.shared.waiting.load(Ordering::Acquire) > 0 {
            let writers = u64::from(limits.writers);
            events_max = events_max.div_ceil(writers);
            bytes_max = bytes_max.div_ceil(writers);
        }
        let deadline = tokio::time::Instant::now() + limits.wait;
        let mut events = first.events();
        let mut bytes = first.bytes;
        let mut batch = vec![first];
        while events < events_max && bytes < bytes_max {
            let job = match tokio::time::timeout_at(deadline, queue.rx.recv()).await {
                Ok(Some(job)) => job,
                Ok(None) | Err(_) => break,
            };
            if events + job.events() > events_max || bytes + job.bytes > bytes_max {
                queue.carried = Some(job);
                break;
            }
            events += job.events();
            bytes += job.bytes;
            batch.push(job);
        }
        batch
    }

    fn connected(&self) -> bool {
        self.client.as_ref().is_some_and(|c| !c.is_closed())
    }

    fn disconnected(&mut self, why: &str) {
        if self.client.take().is_some() {
            warn!("lost the database connection: {why}");
            self.shared.lost.store(true, Ordering::Release);
            let before = self.shared.connected.fetch_sub(1, Ordering::AcqRel);
            assert!(before > 0, "a connected writer was counted");
            if before == 1 {
                self.shared.up.store(false, Ordering::Release);
            }
        }
        self.statements.clear();
    }

    /// One connection attempt; on failure the next is scheduled with
    /// backoff.
    async fn try_connect(&mut self) -> bool {
        if self.connected() {
            return true;
        }
        self.disconnected("closed");
        match tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await {
            Ok(Ok((client, tombstones))) => {
                if tombstones {
                    self.shared.tombstones.store(true, Ordering::Release);
                }
                if self.shared.lost.load(Ordering::Acquire) {
                    self.metrics.reconnected();
                }
                self.client = Some(client);
                self.backoff = RECONNECT_BACKOFF_MIN;
                self.shared.connected.fetch_add(1, Ordering::AcqRel);
                self.shared.up.store(true, Ordering::Release);
                info!("connected to the database");
                true
            }
            Ok(Err(e)) => {
                self.connect_failed(&e);
                false
            }
            Err(_) => {
                self.connect_failed("timed out");
                false
            }
        }
    }

    fn connect_failed(&mut self, why: &str) {
        warn!(
            "failed to connect to the database ({why}); next attempt in {:?}",
            self.backoff
        );
        self.next_attempt = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(RECONNECT_BACKOFF_MAX);
    }

    /// A connection that can write, and whether the tombstone table exists.
    async fn connect(&self) -> Result<(Client, bool), String> {
        let (client, connection) = tokio_postgres::connect(&self.config.database_url, NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                warn!("database connection ended: {e}");
            }
        });
        // A reader endpoint cannot take our writes: fail the connect.
        let read_only: String = client
            .query_one("SHOW transaction_read_only", &[])
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        if read_only == "on" {
            return Err("the database is read-only (a reader endpoint?)".into());
        }
        let tombstones: bool = client
            .query_one(&sql::tombstones_exist(), &[])
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        Ok((client, tombstones))
    }

    #[tracing::instrument(skip_all, fields(requests = batch.len()))]
    async fn process(&mut self, batch: Vec<Job>) {
        let shared = self.shared.clone();
        // Held until every request of the batch is answered.
        let (_alone, _beside);
        if removes(&batch) {
            _alone = shared.order.write().await;
        } else {
            _beside = shared.order.read().await;
        }
        if self.transient.swap(false, Ordering::Relaxed) {
            self.disconnected("the last batch failed with a transient error");
        }
        if !self.connected() && (Instant::now() < self.next_attempt || !self.try_connect().await) {
            for job in batch {
                self.answer(job, Err(unreachable_error()));
            }
            return;
        }
        let mut ready = Vec::with_capacity(batch.len());
        for job in batch {
            match self.ensure_table(&job.table).await {
                Ok(()) => ready.push(job),
                Err(e) => self.answer(job, Err(e)),
            }
        }
        if ready.is_empty() {
            return;
        }
        let mut result = self.apply(&ready).await;
        let mut conflicts = 0;
        while matches!(result, Err(ApplyError::Conflict(_))) && conflicts < CONFLICT_RETRIES_MAX {
            conflicts += 1;
            self.metrics.conflict_retried();
            result = self.apply(&ready).await;
        }
        if let Err(ApplyError::LostBeforeCommit(why)) = &result {
            warn!("batch rolled back with the connection ({why}); reconnecting to retry it once");
            self.disconnected(why);
            if self.try_connect().await {
                result = self.apply(&ready).await;
            }
        }
        match result {
            Ok(counts) => {
                for (job, counts) in ready.into_iter().zip(counts) {
                    self.answer(job, Ok(counts));
                }
            }
            Err(ApplyError::Refused(e))
                if ready.len() > 1 && !matches!(e, JobError::Unavailable(_)) =>
            {
                // The table cache may be what is wrong (a table dropped).
                self.tables.clear();
                // Find the request at fault: each alone.
                warn!(
                    "batch of {} requests refused ({e}); retrying them one by one",
                    ready.len()
                );
                for job in ready {
                    let result = match self.ensure_table(&job.table).await {
                        Ok(()) => self.apply(std::slice::from_ref(&job)).await,
                        Err(e) => Err(ApplyError::Refused(e)),
                    };
                    let answer = self.settle(result.map(|mut c| c.pop().expect("one job")));
                    self.answer(job, answer);
                }
            }
            Err(e) => {
                self.tables.clear();
                let answer = self.settle(Err(e));
                for job in ready {
                    self.answer(job, answer.clone());
                }
            }
        }
    }

    /// The answer for an attempt's outcome.
    fn settle(&mut self, result: Result<Counts, ApplyError>) -> Result<Counts, JobError> {
        match result {
            Ok(counts) => Ok(counts),
            Err(ApplyError::Refused(e) | ApplyError::Conflict(e)) => Err(e),
            Err(ApplyError::LostBeforeCommit(why)) => {
                self.disconnected(&why);
                Err(JobError::Unavailable(format!(
                    "the database connection was lost and nothing was applied ({why}); retry"
                )))
            }
            Err(ApplyError::CommitUnknown(why)) => {
                self.disconnected(&why);
                Err(JobError::Unavailable(format!(
                    "the connection was lost during COMMIT, so whether the events were applied \
                     is unknown ({why}); retrying is safe: applied events are skipped as stale"
                )))
            }
        }
    }

    fn answer(&self, job: Job, result: Result<Counts, JobError>) {
        // Only a live session can be left in an unknown state.
        if matches!(&result, Err(JobError::Unavailable(_))) && self.client.is_some() {
            self.transient.store(true, Ordering::Relaxed);
        }
        if let Ok(counts) = &result {
            self.metrics.events(Outcome::Applied, counts.applied);
            self.metrics
                .events(Outcome::SkippedStale, counts.skipped_stale);
            self.metrics.events(Outcome::Deleted, counts.deleted);
            self.metrics.events(Outcome::Truncated, counts.truncated);
        }
        if let Ok(counts) = &result {
            self.metrics.events(Outcome::Ignored, counts.ignored);
        }
        self.metrics.queue_add(-(job.events() as i64));
        drop(job.permit);
        // The requester may have gone away (client disconnect); the result
        // stands either way.
        let _ = job.reply.send(result);
    }

    /// Makes sure `table` exists with the columns its mapping needs,
    /// creating it if its config says so.
    async fn ensure_table(&mut self, table: &str) -> Result<(), JobError> {
        if self.tables.contains(table) {
            return Ok(());
        }
        let mapping = self.config.table(table).clone();
        let mut columns = self.describe(table).await?;
        if columns.is_empty() {
            if !mapping.create {
                return Err(JobError::TableNotFound(table.to_owned()));
            }
            let client = self.client.as_ref().ok_or_else(unreachable_error)?;
            client
                .batch_execute(&sql::create_table(table, &mapping.columns))
                .await
                .map_err(|e| classify(&e).0)?;
            info!(table, "created table on first use");
            columns = self.describe(table).await?;
        }
        check_shape(table, &mapping, &columns)?;
        self.tables.insert(table.to_owned());
        Ok(())
    }

    async fn describe(&self, table: &str) -> Result<HashMap<String, String>, JobError> {
        let client = self.client.as_ref().ok_or_else(unreachable_error)?;
        let rows = client
            .query(sql::describe_table(), &[&table])
            .await
            .map_err(|e| classify(&e).0)?;
        Ok(rows
            .iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, String>(1)))
            .collect())
    }

    async fn statement(&mut self, table: &str, kind: Kind) -> Result<Statement, ApplyError> {
        let cache_key = (table.to_owned(), kind);
        if let Some(statement) = self.statements.get(&cache_key) {
            return Ok(statement.clone());
        }
        let mapping = self.config.table(table);
        let (text, params) = match &cache_key.1 {
            Kind::Upsert(rows, guarded) => (
                sql::upsert(table, &mapping.columns, *rows, *guarded),
                rows * (3 + mapping.columns.len()),
            ),
            Kind::Delete => (sql::delete(table), 2),
            Kind::Tombstone => (sql::tombstone(table), 2),
            Kind::Exists => (sql::exists(table), 1),
        };
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| ApplyError::LostBeforeCommit("no connection".into()))?;
        let statement = client
            .prepare_typed(&text, &vec![Type::TEXT; params])
            .await
            .map_err(|e| before_commit(&e))?;
        self.statements.insert(cache_key, statement.clone());
        Ok(statement)
    }

    /// One transaction for `jobs`; per-job counts after COMMIT.
    async fn apply(&mut self, jobs: &[Job]) -> Result<Vec<Counts>, ApplyError> {
        let started = Instant::now();
        let mut counts: Vec<Counts> = jobs
            .iter()
            .map(|job| Counts {
                ignored: job.parsed.ignored,
                ..Counts::default()
            })
            .collect();
        // The first delete or truncate makes the tombstone table, in its
        // own statement: a batch that rolls back must not take it along
        // while this writer believes it exists.
        if removes(jobs) && !self.shared.tombstones.load(Ordering::Acquire) {
            self.simple(&sql::create_tombstones()).await?;
            self.shared.tombstones.store(true, Ordering::Release);
        }
        self.simple("BEGIN").await?;
        match self.apply_in_transaction(jobs, &mut counts).await {
            Ok(()) => {}
            Err(e) => {
                if let ApplyError::Refused(_) | ApplyError::Conflict(_) = &e {
                    // Best effort: a failed ROLLBACK means a dead
                    // connection, which the next batch notices.
                    let _ = self.simple("ROLLBACK").await;
                }
                return Err(e);
            }
        }
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| ApplyError::LostBeforeCommit("no connection".into()))?;
        match client.batch_execute("COMMIT").await {
            Ok(()) => {}
            Err(e) => {
                return Err(match classify(&e) {
                    (_, true) => ApplyError::CommitUnknown(e.to_string()),
                    (refused, false) if is_conflict(&e) => ApplyError::Conflict(refused),
                    (refused, false) => ApplyError::Refused(refused),
                })
            }
        }
        let events: u64 = jobs.iter().map(Job::events).sum();
        self.metrics
            .batch_committed(events, started.elapsed().as_secs_f64());
        Ok(counts)
    }

    async fn simple(&self, text: &str) -> Result<(), ApplyError> {
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| ApplyError::LostBeforeCommit("no connection".into()))?;
        client
            .batch_execute(text)
            .await
            .map_err(|e| before_commit(&e))
    }

    async fn apply_in_transaction(
        &mut self,
        jobs: &[Job],
        counts: &mut [Counts],
    ) -> Result<(), ApplyError> {
        // Pending changes per table since that table's last truncate.
        let mut pending: Vec<(String, Vec<(usize, &Change)>)> = Vec::new();
        for (job_index, job) in jobs.iter().enumerate() {
            for change in &job.parsed.changes {
                let slot = match pending.iter().position(|(t, _)| *t == job.table) {
                    Some(slot) => slot,
                    None => {
                        pending.push((job.table.clone(), Vec::new()));
                        pending.len() - 1
                    }
                };
                if let Change::Truncate = change {
                    let ops = std::mem::take(&mut pending[slot].1);
                    self.flush(&job.table, ops, counts).await?;
                    for text in sql::truncate(&job.table) {
                        self.simple(&text).await?;
                    }
                    counts[job_index].truncated += 1;
                } else {
                    pending[slot].1.push((job_index, change));
                }
            }
        }
        for (table, ops) in pending {
            self.flush(&table, ops, counts).await?;
        }
        Ok(())
    }

    /// Applies the newest change per key of `ops` (in arrival order) to
    /// `table`; the others count as stale.
    async fn flush(
        &mut self,
        table: &str,
        ops: Vec<(usize, &Change)>,
        counts: &mut [Counts],
    ) -> Result<(), ApplyError> {
        let mut newest: HashMap<&str, usize> = HashMap::new();
        for (i, (job_index, change)) in ops.iter().enumerate() {
            let (key, position) = key_position(change);
            match newest.get(key) {
                Some(&winner) if key_position(ops[winner].1).1 > position => {
                    counts[*job_index].skipped_stale += 1;
                }
                Some(&winner) => {
                    counts[ops[winner].0].skipped_stale += 1;
                    newest.insert(key, i);
                }
                None => {
                    newest.insert(key, i);
                }
            }
        }
        let mut winners: Vec<usize> = newest.into_values().collect();
        winners.sort_unstable_by_key(|&i| key_position(ops[i].1).0);
        let (upserts, deletes): (Vec<usize>, Vec<usize>) = winners
            .into_iter()
            .partition(|&i| matches!(ops[i].1, Change::Upsert { .. }));

        // Upserts: chunks of powers of two, pipelined on the connection.
        let sizes = sql::chunk_sizes(upserts.len());
        let mut statements = Vec::with_capacity(sizes.len());
        for &size in &sizes {
            statements.push(
                self.statement(
                    table,
                    Kind::Upsert(size, self.shared.tombstones.load(Ordering::Acquire)),
                )
                .await?,
            );
        }
        let positions: Vec<String> = upserts
            .iter()
            .map(|&i| key_position(ops[i].1).1 .0.to_string())
            .collect();
        let mut chunks: Vec<(&[usize], Vec<&(dyn ToSql + Sync)>)> = Vec::new();
        let mut at = 0;
        for &size in &sizes {
            let chunk = &upserts[at..at + size];
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
            for (row, &i) in chunk.iter().enumerate() {
                let Change::Upsert {
                    key,
                    payload,
                    columns,
                    ..
                } = ops[i].1
                else {
                    unreachable!("partitioned above");
                };
                params.push(key);
                params.push(payload);
                params.push(&positions[at + row]);
                for column in columns {
                    params.push(column);
                }
            }
            chunks.push((chunk, params));
            at += size;
        }
        assert_eq!(at, upserts.len(), "chunks cover every upsert");
        let client = self.client.as_ref().expect("statement() checked");
        let results = try_join_all(
            chunks
                .iter()
                .zip(&statements)
                .map(|((_, params), statement)| client.query(statement, params)),
        )
        .await
        .map_err(|e| before_commit(&e))?;
        for ((chunk, _), rows) in chunks.iter().zip(results) {
            let changed: HashSet<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
            assert!(changed.len() <= chunk.len(), "more rows returned than sent");
            for &i in *chunk {
                let (key, _) = key_position(ops[i].1);
                if changed.contains(key) {
                    counts[ops[i].0].applied += 1;
                } else {
                    counts[ops[i].0].skipped_stale += 1;
                }
            }
        }

        // Deletes: each key's DELETE then tombstone, keys pipelined (they
        // are distinct, so their statements commute).
        if deletes.is_empty() {
            return Ok(());
        }
        let delete = self.statement(table, Kind::Delete).await?;
        let tombstone = self.statement(table, Kind::Tombstone).await?;
        let exists = self.statement(table, Kind::Exists).await?;
        let client = self.client.as_ref().expect("statement() checked");
        let delete_positions: Vec<String> = deletes
            .iter()
            .map(|&i| key_position(ops[i].1).1 .0.to_string())
            .collect();
        let outcomes = try_join_all(deletes.iter().zip(&delete_positions).map(|(&i, position)| {
            let key = key_position(ops[i].1).0;
            let (delete, tombstone) = (&delete, &tombstone);
            async move {
                let removed = client.execute(delete, &[&key, position]).await?;
                let recorded = client.execute(tombstone, &[&key, position]).await?;
                Ok::<_, tokio_postgres::Error>((removed, recorded))
            }
        }))
        .await
        .map_err(|e| before_commit(&e))?;
        // The newest delete of a key so far that removed no row took effect
        // unless the row is there with a newer position.
        let unsure: Vec<usize> = (0..deletes.len())
            .filter(|&d| outcomes[d].0 == 0 && outcomes[d].1 > 0)
            .collect();
        let present = try_join_all(unsure.iter().map(|&d| {
            let key = key_position(ops[deletes[d]].1).0;
            let exists = &exists;
            async move {
                client
                    .query(exists, &[&key])
                    .await
                    .map(|rows| !rows.is_empty())
            }
        }))
        .await
        .map_err(|e| before_commit(&e))?;
        let present: HashMap<usize, bool> = unsure.into_iter().zip(present).collect();
        for (d, &i) in deletes.iter().enumerate() {
            let (removed, recorded) = outcomes[d];
            let deleted = removed > 0 || (recorded > 0 && !present[&d]);
            if deleted {
                counts[ops[i].0].deleted += 1;
            } else {
                counts[ops[i].0].skipped_stale += 1;
            }
        }
        Ok(())
    }
}

/// Whether any of `jobs` deletes or truncates.
fn removes(jobs: &[Job]) -> bool {
    jobs.iter().any(|j| {
        j.parsed
            .changes
            .iter()
            .any(|c| !matches!(c, Change::Upsert { .. }))
    })
}

fn key_position(change: &Change) -> (&str, super::event::Position) {
    match change {
        Change::Upsert { key, position, .. } | Change::Delete { key, position } => (key, *position),
        Change::Truncate => unreachable!("truncates are barriers, never pending"),
    }
}

fn unreachable_error() -> JobError {
    JobError::Unavailable("no database writer is reachable; retry".into())
}

/// Checks that an existing table has what the mapping writes.
fn check_shape(
    table: &str,
    mapping: &TableConfig,
    columns: &HashMap<String, String>,
) -> Result<(), JobError> {
    let want = [("id", "text"), ("payload", "jsonb"), ("position", "bigint")];
    for (name, ty) in want {
        match columns.get(name) {
            Some(found) if found == ty => {}
            Some(found) => {
                return Err(JobError::Internal(format!(
                    "table {table} has column {name} of type {found}; the ingest service needs {ty}"
                )))
            }
            None => {
                return Err(JobError::Internal(format!(
                    "table {table} has no column {name} ({ty}), which the ingest service writes"
                )))
            }
        }
    }
    if !columns.contains_key("ingested_at") {
        return Err(JobError::Internal(format!(
            "table {table} has no column ingested_at (timestamptz), which the ingest service writes"
        )));
    }
    for column in &mapping.columns {
        if !columns.contains_key(&column.name) {
            return Err(JobError::Internal(format!(
                "table {table} has no column {} that its mapping fills from {}",
                column.name, column.path
            )));
        }
    }
    Ok(())
}

/// Maps a database error to the request's answer, and whether the
/// connection itself failed (no SQLSTATE: closed, reset, timed out).
fn classify(e: &tokio_postgres::Error) -> (JobError, bool) {
    let Some(db) = e.as_db_error() else {
        return (
            JobError::Unavailable(format!("database connection failed: {e}; retry")),
            true,
        );
    };
    let code = db.code().code();
    let text = format!("{} (SQLSTATE {code})", db.message());
    let error = match &code[..2] {
        // Data exceptions and integrity violations: this request's rows.
        "22" | "23" => JobError::Rejected(text),
        // Connection trouble, rollbacks (serialization, deadlock),
        // resources, operator intervention (shutdown, failover), and a
        // read-only session (a writer demoted under us): all transient.
        "08" | "40" | "53" | "57" => JobError::Unavailable(format!("{text}; retry")),
        "25" if code == "25006" => JobError::Unavailable(format!("{text}; retry")),
        // The transaction was aborted by an earlier statement whose error
        // this one did not see: behind the proxy, a failover (40001 for
        // the statement in flight, 25P02 for those pipelined after it).
        // The batch rolled back; a retry tells.
        "25" if code == "25P02" => JobError::Unavailable(format!("{text}; retry")),
        "42" if code == "42P01" => JobError::Internal(format!("{text}: the table went away")),
        _ => JobError::Internal(text),
    };
    (error, false)
}

fn before_commit(e: &tokio_postgres::Error) -> ApplyError {
    match classify(e) {
        (_, true) => ApplyError::LostBeforeCommit(e.to_string()),
        (refused, false) if is_conflict(e) => ApplyError::Conflict(refused),
        (refused, false) => ApplyError::Refused(refused),
    }
}

/// A rollback because of a concurrent transaction: serialization failure
/// or deadlock.
fn is_conflict(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        matches!(
            db.code(),
            &tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                | &tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
        )
    })
}

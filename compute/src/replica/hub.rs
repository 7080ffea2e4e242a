//! The writer's end of the redo stream.
//!
//! The commit pipeline hands every submitted MTR to the [`RedoHub`]
//! ([`MtrSink`]), in LSN order. A publisher task waits for each to become
//! durable (VDL ≥ its commit LSN) and then offers it, as log records, to
//! every subscribed reader. So readers see only durable, whole MTRs in LSN
//! order, and commits never wait for a reader.
//!
//! # Limits
//! * MTRs waiting for durability are bounded by the volume's LSN
//!   allocation limit (no LSN is allocated above VDL + LAL), so the pending
//!   queue is too; they share their record bytes with the buffer pool's
//!   pinned versions.
//! * Each subscriber has a byte budget ([`HubConfig::reader_bytes_max`]) and
//!   a message bound ([`READER_QUEUE_MAX`]). A reader whose queue would pass
//!   either is dropped from the stream: its connection closes, and it
//!   catches up from storage when it subscribes again. The writer holds no
//!   memory for a reader it dropped.
//! * At most [`READERS_MAX`] subscribers.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sextant_storage::types::{LogRecord, Lsn, PageId, RecordBody, FLAG_CPL};
use sextant_storage::volume::Volume;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};

use super::wire::{records_frames, streamed_frames, StreamError, StreamMsg};
use super::{MtrSink, ReplicaStatus, StatusSource};
use crate::engine::Engine;

/// Most readers one writer streams to (Aurora's limit is 15).
pub const READERS_MAX: usize = 15;
/// Most MTRs queued for one reader.
pub const READER_QUEUE_MAX: usize = 16_384;
/// Durability times kept for lag in milliseconds (one per MTR).
const DURABLE_TIMES_MAX: usize = 65_536;
/// How long a new connection may take to subscribe.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Tunables of the writer's redo stream.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Bytes of records queued for one reader before it is dropped.
    pub reader_bytes_max: u64,
    /// How often an idle stream carries the VDL.
    pub heartbeat: Duration,
    /// A reader silent this long (it sends feedback every 100 ms) is gone:
    /// its connection closes and its GC hold is released.
    pub feedback_silence_max: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            reader_bytes_max: 64 << 20,
            heartbeat: Duration::from_millis(100),
            feedback_silence_max: Duration::from_secs(5),
        }
    }
}

/// One durable MTR, ready to send.
struct Published {
    commit_lsn: Lsn,
    records: Vec<LogRecord>,
    /// Pages earlier chunks of a streamed MTR changed.
    streamed: Vec<PageId>,
    bytes: u64,
}

struct Pending {
    commit_lsn: Lsn,
    records: Vec<LogRecord>,
    streamed: Vec<PageId>,
}

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Arc<Published>>,
    queued_bytes: Arc<AtomicU64>,
    /// Dropped with the subscriber: ends its connection even mid-write, so
    /// what was queued for it is freed at once.
    _kill: oneshot::Sender<()>,
}

/// What the writer knows about one reader.
#[derive(Clone, Debug)]
struct ReaderInfo {
    name: String,
    read_point: Lsn,
    oldest_snapshot: Lsn,
}

struct HubState {
    /// MTRs submitted but not yet published, in LSN order.
    pending: VecDeque<Pending>,
    /// Commit LSN of the last MTR handed to the hub (the next one's
    /// `vol_prev_lsn`).
    last_submitted: Lsn,
    /// Commit LSN of the last MTR published: the stream's VDL.
    published: Lsn,
    /// When each recent MTR became durable.
    durable_times: VecDeque<(Lsn, Instant)>,
    subscribers: Vec<Subscriber>,
    readers: HashMap<u64, ReaderInfo>,
    next_id: u64,
    dropped: u64,
    stopped: Option<String>,
}

/// The writer's redo stream. See the module docs. Cheap to clone.
#[derive(Clone)]
pub struct RedoHub {
    inner: Arc<HubInner>,
}

struct HubInner {
    volume: Volume,
    name: String,
    cfg: HubConfig,
    state: Mutex<HubState>,
    wake: Arc<Notify>,
}

impl MtrSink for HubInner {
    fn submitted(
        &self,
        commit_lsn: Lsn,
        records: Vec<(PageId, RecordBody)>,
        streamed: Vec<PageId>,
    ) {
        let n = records.len() as u64;
        assert!(
            n > 0 && commit_lsn.0 >= n,
            "MTR {commit_lsn} of {n} records"
        );
        let epoch = self.volume.epoch();
        let mut st = self.state.lock().expect("hub state");
        assert!(
            commit_lsn > st.last_submitted,
            "MTR {commit_lsn} after {}",
            st.last_submitted
        );
        let first = commit_lsn.0 + 1 - n;
        let mut prev = st.last_submitted;
        let records = records
            .into_iter()
            .enumerate()
            .map(|(i, (page, body))| {
                let lsn = Lsn(first + i as u64);
                let r = LogRecord {
                    lsn,
                    epoch,
                    page,
                    pg_prev_lsn: Lsn::ZERO,
                    vol_prev_lsn: prev,
                    flags: if lsn == commit_lsn { FLAG_CPL } else { 0 },
                    body,
                };
                prev = lsn;
                r
            })
            .collect();
        st.last_submitted = commit_lsn;
        st.pending.push_back(Pending {
            commit_lsn,
            records,
            streamed,
        });
        drop(st);
        self.wake.notify_one();
    }
}

impl RedoHub {
    /// Attaches a redo stream to the writer's `engine` (before its first
    /// commit) and starts its publisher. `name` is the writer's name in
    /// status rows.
    pub fn attach(engine: &Engine, name: String, cfg: HubConfig) -> RedoHub {
        let vdl = engine.vdl();
        let inner = Arc::new(HubInner {
            volume: engine.volume().clone(),
            name,
            cfg,
            state: Mutex::new(HubState {
                pending: VecDeque::new(),
                last_submitted: vdl,
                published: vdl,
                durable_times: VecDeque::new(),
                subscribers: Vec::new(),
                readers: HashMap::new(),
                next_id: 1,
                dropped: 0,
                stopped: None,
            }),
            wake: Arc::new(Notify::new()),
        });
        engine.set_mtr_sink(inner.clone());
        tokio::spawn(publish(Arc::downgrade(&inner)));
        RedoHub { inner }
    }

    /// The stream's VDL: the last MTR published.
    pub fn published(&self) -> Lsn {
        self.inner.state.lock().expect("hub state").published
    }

    /// Readers subscribed now.
    pub fn readers(&self) -> usize {
        self.inner
            .state
            .lock()
            .expect("hub state")
            .subscribers
            .len()
    }

    /// Bytes of records queued for readers now.
    pub fn queued_bytes(&self) -> u64 {
        let st = self.inner.state.lock().expect("hub state");
        st.subscribers
            .iter()
            .map(|s| s.queued_bytes.load(Ordering::Relaxed))
            .sum()
    }

    /// Readers dropped from the stream for falling behind, since start.
    pub fn dropped(&self) -> u64 {
        self.inner.state.lock().expect("hub state").dropped
    }

    /// Accepts readers on `listener` until the hub stops.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("redo stream accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let hub = self.clone();
            tokio::spawn(async move {
                if let Err(e) = hub.serve_reader(stream).await {
                    tracing::info!(%peer, "redo stream to a reader ended: {e:#}");
                }
            });
        }
    }

    async fn serve_reader(&self, stream: TcpStream) -> Result<(), ReaderConnError> {
        stream.set_nodelay(true).ok();
        let (mut rd, mut wr) = stream.into_split();
        let first = tokio::time::timeout(SUBSCRIBE_TIMEOUT, StreamMsg::read(&mut rd))
            .await
            .map_err(|_| ReaderConnError::Refused("no subscription in time".into()))??;
        let StreamMsg::Subscribe { name, read_point } = first else {
            return Err(ReaderConnError::Refused(
                "first message is not a subscription".into(),
            ));
        };
        let queued = Arc::new(AtomicU64::new(0));
        let (tx, mut rx) = mpsc::channel(READER_QUEUE_MAX);
        let (kill, mut killed) = oneshot::channel::<()>();
        let (id, start) = {
            let mut st = self.inner.state.lock().expect("hub state");
            if let Some(why) = &st.stopped {
                return Err(ReaderConnError::Refused(format!("writer stopped: {why}")));
            }
            if let Some(by) = self.inner.volume.fenced() {
                return Err(ReaderConnError::Refused(format!(
                    "this writer was fenced by epoch {by}"
                )));
            }
            if st.subscribers.len() >= READERS_MAX {
                return Err(ReaderConnError::Refused("too many readers".into()));
            }
            let id = st.next_id;
            st.next_id += 1;
            st.subscribers.push(Subscriber {
                id,
                tx,
                queued_bytes: queued.clone(),
                _kill: kill,
            });
            st.readers.insert(
                id,
                ReaderInfo {
                    name: name.clone(),
                    read_point,
                    oldest_snapshot: read_point,
                },
            );
            (id, st.published)
        };
        // Storage keeps what the reader's snapshots need from here on.
        self.inner
            .volume
            .hold_read_point(id, Some(read_point.min(start)));
        tracing::info!(reader = %name, %read_point, %start, "reader subscribed to the redo stream");
        let _guard = Unsubscribe {
            hub: self.inner.clone(),
            id,
        };
        let hello = StreamMsg::Hello {
            epoch: self.inner.volume.epoch(),
            start,
        };
        wr.write_all(&hello.to_frame()).await?;

        // Feedback from the reader, on its own task.
        let hub = self.inner.clone();
        let silence_max = self.inner.cfg.feedback_silence_max;
        let mut feedback = tokio::spawn(async move {
            loop {
                let Ok(msg) = tokio::time::timeout(silence_max, StreamMsg::read(&mut rd)).await
                else {
                    return ReaderConnError::Refused("no feedback from the reader".into());
                };
                match msg {
                    Ok(StreamMsg::Feedback {
                        read_point,
                        oldest_snapshot,
                    }) => {
                        if let Some(r) = hub.state.lock().expect("hub state").readers.get_mut(&id) {
                            r.read_point = read_point;
                            r.oldest_snapshot = oldest_snapshot;
                        }
                        hub.volume
                            .hold_read_point(id, Some(oldest_snapshot.min(read_point)));
                    }
                    Ok(other) => {
                        return ReaderConnError::Refused(format!("unexpected {other:?}"));
                    }
                    Err(e) => return ReaderConnError::Stream(e),
                }
            }
        });
        let _abort = AbortOnDrop(feedback.abort_handle());
        let mut beat = tokio::time::interval(self.inner.cfg.heartbeat);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                m = rx.recv() => {
                    let Some(m) = m else {
                        return Err(ReaderConnError::FellBehind);
                    };
                    let mut buf = Vec::new();
                    m.encode(&mut buf);
                    // Batch whatever else is queued into the same write.
                    let mut sent = m.bytes;
                    while buf.len() < 1 << 20 {
                        let Ok(more) = rx.try_recv() else { break };
                        more.encode(&mut buf);
                        sent += more.bytes;
                    }
                    tokio::select! {
                        r = wr.write_all(&buf) => r?,
                        _ = &mut killed => return Err(ReaderConnError::FellBehind),
                    }
                    queued.fetch_sub(sent, Ordering::Relaxed);
                }
                _ = beat.tick() => {
                    // A fenced writer's stream is a stale timeline: end it,
                    // so its readers look for the newer writer.
                    if let Some(by) = self.inner.volume.fenced() {
                        return Err(ReaderConnError::Refused(format!("this writer was fenced by epoch {by}")));
                    }
                    let frame = StreamMsg::Vdl(self.published()).to_frame();
                    tokio::select! {
                        r = wr.write_all(&frame) => r?,
                        _ = &mut killed => return Err(ReaderConnError::FellBehind),
                    }
                }
                _ = &mut killed => return Err(ReaderConnError::FellBehind),
                r = &mut feedback => {
                    let e = r.unwrap_or_else(|e| ReaderConnError::Refused(e.to_string()));
                    return Err(e);
                }
            }
        }
    }
}

impl Published {
    /// Appends the MTR's frames: the streamed pages first, so a reader has
    /// them when the CPL record arrives.
    fn encode(&self, buf: &mut Vec<u8>) {
        for f in streamed_frames(&self.streamed) {
            buf.extend_from_slice(&f.to_frame());
        }
        for f in records_frames(&self.records) {
            buf.extend_from_slice(&f.to_frame());
        }
    }
}

/// Aborts a task when dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Removes a subscriber and its GC hold when its connection ends.
struct Unsubscribe {
    hub: Arc<HubInner>,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        let mut st = self.hub.state.lock().expect("hub state");
        st.subscribers.retain(|s| s.id != self.id);
        st.readers.remove(&self.id);
        drop(st);
        self.hub.volume.hold_read_point(self.id, None);
    }
}

/// Publishes MTRs as they become durable, in LSN order.
async fn publish(hub: std::sync::Weak<HubInner>) {
    loop {
        let Some(inner) = hub.upgrade() else { return };
        let front = inner
            .state
            .lock()
            .expect("hub state")
            .pending
            .front()
            .map(|p| p.commit_lsn);
        let Some(lsn) = front else {
            let wake = inner.wake.clone();
            drop(inner);
            // Re-check after a while even without a wake-up, so a dropped
            // engine ends this task.
            let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
            continue;
        };
        if let Err(e) = inner.volume.wait_durable(lsn).await {
            tracing::warn!("redo stream stopped: {e}");
            let mut st = inner.state.lock().expect("hub state");
            st.stopped = Some(e.to_string());
            st.subscribers.clear();
            st.pending.clear();
            return;
        }
        let vdl = inner.volume.vdl();
        let now = Instant::now();
        let mut st = inner.state.lock().expect("hub state");
        while st.pending.front().is_some_and(|p| p.commit_lsn <= vdl) {
            let p = st.pending.pop_front().expect("checked");
            let bytes = p
                .records
                .iter()
                .map(|r| r.encoded_len() as u64)
                .sum::<u64>()
                + 8 * p.streamed.len() as u64;
            let m = Arc::new(Published {
                commit_lsn: p.commit_lsn,
                records: p.records,
                streamed: p.streamed,
                bytes,
            });
            st.published = m.commit_lsn;
            st.durable_times.push_back((m.commit_lsn, now));
            if st.durable_times.len() > DURABLE_TIMES_MAX {
                st.durable_times.pop_front();
            }
            let max = inner.cfg.reader_bytes_max;
            let mut dropped = Vec::new();
            st.subscribers.retain(|s| {
                let queued = s.queued_bytes.load(Ordering::Relaxed);
                let fits = queued + m.bytes <= max || queued == 0;
                if fits && s.tx.try_send(m.clone()).is_ok() {
                    s.queued_bytes.fetch_add(m.bytes, Ordering::Relaxed);
                    true
                } else {
                    dropped.push(s.id);
                    false
                }
            });
            for id in dropped {
                st.dropped += 1;
                let name = st.readers.get(&id).map(|r| r.name.clone());
                tracing::warn!(reader = ?name, lsn = %m.commit_lsn, "reader fell behind; dropped from the redo stream");
            }
        }
    }
}

impl StatusSource for RedoHub {
    fn replica_status(&self) -> Vec<ReplicaStatus> {
        let st = self.inner.state.lock().expect("hub state");
        let vdl = st.published;
        let now = Instant::now();
        let mut rows = vec![ReplicaStatus {
            server_id: self.inner.name.clone(),
            role: "writer",
            connected: true,
            durable_lsn: vdl,
            read_lsn: vdl,
            oldest_snapshot_lsn: self.inner.volume.min_read_point().min(vdl),
            lag_lsn: 0,
            lag_ms: 0,
        }];
        let mut readers: Vec<&ReaderInfo> = st.readers.values().collect();
        readers.sort_by(|a, b| a.name.cmp(&b.name));
        for r in readers {
            // Stale since the first MTR above its read point became durable.
            let i = st
                .durable_times
                .partition_point(|(l, _)| *l <= r.read_point);
            let lag_ms = st
                .durable_times
                .get(i)
                .map_or(0, |(_, t)| now.duration_since(*t).as_millis() as u64);
            rows.push(ReplicaStatus {
                server_id: r.name.clone(),
                role: "reader",
                connected: true,
                durable_lsn: vdl,
                read_lsn: r.read_point,
                oldest_snapshot_lsn: r.oldest_snapshot,
                lag_lsn: vdl.0.saturating_sub(r.read_point.0),
                lag_ms,
            });
        }
        rows
    }
}

/// Why the stream to one reader ended (logged, never returned to users).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReaderConnError {
    /// A frame could not be read or the connection failed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// Writing to the reader failed.
    #[error("redo stream I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The reader did not follow the protocol or was refused.
    #[error("{0}")]
    Refused(String),
    /// The reader's queue passed its bound.
    #[error("dropped from the stream: the reader fell behind")]
    FellBehind,
}

//! A storage node as the simulation models it: the real [`Segment`] state
//! machine in memory, plus a model disk.
//!
//! It mirrors what the TCP node in `storage/src/node/` must do:
//!
//! * every change a segment queues ([`Segment::take_pending`]) or flags
//!   ([`Segment::meta_dirty`]) is *written* at once but only becomes
//!   *durable* when an fsync completes; one fsync at a time per node, and
//!   requests that arrive while one runs join the next (group fsync);
//! * when an fsync starts it records each segment's `scl()`; when it completes
//!   that value becomes the segment's durable SCL, which every ack carries;
//! * requests that change state are answered only after the fsync that covers
//!   them (so an ack never promises more than the disk holds);
//! * a crash drops memory and everything not yet fsynced (or, with torn
//!   writes, keeps a random prefix of it: the disk may persist unsynced data);
//!   a restart rebuilds each segment with [`Segment::restore`];
//! * may answer a log read or a gossip pull with fewer records than asked
//!   (`more` says so), and sometimes compacts a segment's log
//!   ([`Segment::trim_log`], then rewrites it from [`Segment::snapshot`]).
//!
//! Torn writes keep a *prefix* of the unsynced writes in the order they were
//! staged, meta changes included. That is a requirement on the real node, not
//! a simplification: [`Segment::restore`] trusts the durable meta to be at
//! least as new as every log entry, so a node must not let a log entry staged
//! after a meta change (say, a record of the epoch that change opened) reach
//! the disk before the meta change does (fsync the meta first, or log it).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sextant_storage::segment::{
    DurableMeta, LogEntry, PageRead, Segment, SegmentError, SegmentMeta,
};
use sextant_storage::types::{Epoch, Lsn, NodeId, PgId};
use sextant_storage::wire::{ErrorCode, Message, SegmentInfo};

use crate::rng::Rng;

/// An endpoint of the simulated network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Addr {
    /// A storage node.
    Node(NodeId),
    /// A client: a writer's quorum core, a recovery, or a page reader.
    Client(u32),
}

/// What survives a crash of one segment: its meta file and its log file.
pub struct Disk {
    pub meta: DurableMeta,
    pub entries: Vec<LogEntry>,
    /// `(lsn, epoch)` of every record in `entries`, for the durability checker.
    records: HashSet<(Lsn, Epoch)>,
}

impl Disk {
    fn new(meta: DurableMeta) -> Disk {
        Disk {
            meta,
            entries: Vec::new(),
            records: HashSet::new(),
        }
    }

    fn extend(&mut self, entries: impl IntoIterator<Item = LogEntry>) {
        for e in entries {
            if let LogEntry::Record { record, .. } = &e {
                self.records.insert((record.lsn, record.epoch));
            }
            self.entries.push(e);
        }
    }

    /// True if a restart would hold the record `(lsn, epoch)`: it is on disk
    /// and the durable epoch history does not void it.
    pub fn holds(&self, lsn: Lsn, epoch: Epoch) -> bool {
        self.records.contains(&(lsn, epoch))
            && self
                .meta
                .history
                .iter()
                .all(|t| t.epoch <= epoch || lsn <= t.above)
    }

    /// The segment a restart would rebuild.
    pub fn restore(&self) -> Segment {
        Segment::restore(
            self.meta.clone(),
            self.entries.iter().cloned(),
            std::iter::empty(),
        )
    }
}

/// One write to a segment's files, not yet fsynced.
enum Write {
    Entry(LogEntry),
    Meta(DurableMeta),
}

/// A segment in memory, with what was written for it but not yet fsynced.
pub struct Live {
    pub seg: Segment,
    written: Vec<Write>,
    /// The SCL of the last completed fsync: what acks promise.
    pub durable_scl: Lsn,
}

impl Live {
    fn new(seg: Segment, durable_scl: Lsn) -> Live {
        Live {
            seg,
            written: Vec::new(),
            durable_scl,
        }
    }

    /// Moves what the segment queued to the write buffer ("written, not
    /// synced"). Within one call a meta change precedes the entries: the
    /// segment adopts a history before it takes records under it.
    fn stage(&mut self) {
        if self.seg.meta_dirty() {
            self.written.push(Write::Meta(self.seg.durable_meta()));
            self.seg.meta_written();
        }
        self.written
            .extend(self.seg.take_pending().into_iter().map(Write::Entry));
    }
}

/// Applies writes to a segment's disk in order. Log entries of a segment
/// whose creation (its first meta) never reached the disk are lost with it.
fn apply_writes(disk: &mut BTreeMap<PgId, Disk>, pg: PgId, writes: Vec<Write>) {
    for w in writes {
        match w {
            Write::Meta(meta) => match disk.get_mut(&pg) {
                Some(d) => d.meta = meta,
                None => {
                    disk.insert(pg, Disk::new(meta));
                }
            },
            Write::Entry(e) => {
                if let Some(d) = disk.get_mut(&pg) {
                    d.extend([e]);
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum WaitKind {
    Created,
    Ack,
    EpochSet,
}

/// A request answered after the next fsync.
struct Waiter {
    to: Addr,
    req_id: u64,
    pg: PgId,
    kind: WaitKind,
}

struct Batch {
    pg: PgId,
    writes: Vec<Write>,
    /// `seg.scl()` when the batch was taken: durable once the fsync completes.
    scl: Lsn,
}

struct Fsync {
    batches: Vec<Batch>,
    waiters: Vec<Waiter>,
}

/// Counters of what nodes did, for the run summary.
#[derive(Default, Debug, Clone)]
pub struct NodeStats {
    pub fsyncs: u64,
    pub gossip_filled: u64,
    pub materialized: u64,
    pub collected: u64,
    pub compactions: u64,
}

/// One storage node.
pub struct Node {
    pub id: NodeId,
    pub up: bool,
    /// Bumped by every crash, so events of an earlier life are ignored.
    pub incarnation: u64,
    pub disk: BTreeMap<PgId, Disk>,
    pub live: BTreeMap<PgId, Live>,
    fsync: Option<Fsync>,
    waiters: Vec<Waiter>,
    gossip_inflight: HashMap<u64, (NodeId, PgId)>,
    next_req: u64,
    /// Most bytes of records this node puts in one log read or gossip reply.
    pub reply_bytes_max: usize,
    pub stats: NodeStats,
}

fn seg_error(e: SegmentError, current: Epoch) -> Message {
    let text = e.to_string();
    match e {
        SegmentError::StaleEpoch { current, .. } => {
            Message::error(ErrorCode::StaleEpoch, current, text)
        }
        SegmentError::EpochBehind { current, .. } => {
            Message::error(ErrorCode::EpochBehind, current, text)
        }
        SegmentError::Invalid(_) => Message::error(ErrorCode::Invalid, current, text),
        _ => Message::error(ErrorCode::Internal, current, text),
    }
}

fn unknown(pg: PgId) -> Message {
    Message::error(
        ErrorCode::UnknownSegment,
        Epoch(0),
        format!("no segment of PG {pg} here"),
    )
}

impl Node {
    pub fn new(id: NodeId) -> Node {
        Node {
            id,
            up: true,
            incarnation: 0,
            disk: BTreeMap::new(),
            live: BTreeMap::new(),
            fsync: None,
            waiters: Vec::new(),
            gossip_inflight: HashMap::new(),
            next_req: 1,
            reply_bytes_max: usize::MAX,
            stats: NodeStats::default(),
        }
    }

    fn wait(&mut self, to: Addr, req_id: u64, pg: PgId, kind: WaitKind) -> Option<Message> {
        self.waiters.push(Waiter {
            to,
            req_id,
            pg,
            kind,
        });
        None
    }

    /// Handles a request. Returns the reply if it goes out now; requests that
    /// change state are answered by [`Node::complete_fsync`].
    pub fn handle_request(
        &mut self,
        now: u64,
        from: Addr,
        req_id: u64,
        msg: Message,
    ) -> Option<Message> {
        match msg {
            Message::CreateSegment {
                pg,
                pages_per_pg,
                replicas,
            } => {
                if let Some(l) = self.live.get(&pg) {
                    if l.seg.meta().pages_per_pg != pages_per_pg {
                        return Some(Message::error(
                            ErrorCode::Invalid,
                            l.seg.epoch(),
                            format!("PG {pg} exists with {} pages", l.seg.meta().pages_per_pg),
                        ));
                    }
                    // Idempotent; wait for the fsync anyway, in case the
                    // creation itself is not durable yet.
                    return self.wait(from, req_id, pg, WaitKind::Created);
                }
                if pages_per_pg == 0 || !replicas.iter().any(|r| r.node == self.id) {
                    return Some(Message::error(
                        ErrorCode::Invalid,
                        Epoch(0),
                        "bad CreateSegment",
                    ));
                }
                let seg = Segment::create(
                    SegmentMeta {
                        pg,
                        pages_per_pg,
                        replicas,
                    },
                    Epoch(0),
                );
                let mut l = Live::new(seg, Lsn::ZERO);
                l.stage();
                self.live.insert(pg, l);
                self.wait(from, req_id, pg, WaitKind::Created)
            }
            Message::Append {
                pg,
                epoch,
                vdl,
                pg_tail,
                pgmrpl,
                records,
            } => {
                let Some(l) = self.live.get_mut(&pg) else {
                    return Some(unknown(pg));
                };
                let r = l.seg.append(epoch, vdl, pg_tail, pgmrpl, records, now);
                l.stage();
                match r {
                    Ok(()) => self.wait(from, req_id, pg, WaitKind::Ack),
                    Err(e) => Some(seg_error(e, l.seg.epoch())),
                }
            }
            Message::Adopt { pg, history } => {
                let Some(l) = self.live.get_mut(&pg) else {
                    return Some(unknown(pg));
                };
                let r = l.seg.adopt(&history);
                l.stage();
                match r {
                    Ok(()) => self.wait(from, req_id, pg, WaitKind::Ack),
                    Err(e) => Some(seg_error(e, l.seg.epoch())),
                }
            }
            Message::GetPage {
                pg,
                page,
                lsn,
                epoch,
            } => {
                let Some(l) = self.live.get_mut(&pg) else {
                    return Some(unknown(pg));
                };
                if let Err(e) = l.seg.check_reader_epoch(epoch) {
                    return Some(seg_error(e, l.seg.epoch()));
                }
                Some(match l.seg.get_page(page, lsn) {
                    Ok(PageRead::Page(image)) => Message::Page { lsn, image },
                    Ok(PageRead::NotYet { scl }) => Message::NotYet { scl },
                    Ok(PageRead::TooOld { horizon }) => Message::TooOld { horizon },
                    Err(e) => seg_error(e, l.seg.epoch()),
                })
            }
            Message::SetEpoch { pg, epoch } => {
                let Some(l) = self.live.get_mut(&pg) else {
                    return Some(unknown(pg));
                };
                let r = l.seg.set_epoch(epoch);
                l.stage();
                match r {
                    Ok(()) => self.wait(from, req_id, pg, WaitKind::EpochSet),
                    Err(e) => Some(seg_error(e, l.seg.epoch())),
                }
            }
            Message::ReadLog {
                pg,
                after,
                bytes_max,
            } => {
                let Some(l) = self.live.get_mut(&pg) else {
                    return Some(unknown(pg));
                };
                let (tail, records, more) = l
                    .seg
                    .read_log(after, (bytes_max as usize).min(self.reply_bytes_max));
                Some(Message::Log {
                    tail,
                    scl: l.seg.scl(),
                    records,
                    more,
                })
            }
            Message::Truncate { pg, epoch, above } => {
                let Some(l) = self.live.get_mut(&pg) else {
                    return Some(unknown(pg));
                };
                let r = l.seg.truncate(epoch, above);
                l.stage();
                match r {
                    Ok(()) => self.wait(from, req_id, pg, WaitKind::Ack),
                    Err(e) => Some(seg_error(e, l.seg.epoch())),
                }
            }
            Message::ListSegments => {
                // Only segments whose creation is durable: a listed segment
                // must not vanish in a crash.
                let infos = self
                    .live
                    .iter()
                    .filter(|(pg, _)| self.disk.contains_key(pg))
                    .map(|(pg, l)| SegmentInfo {
                        pg: *pg,
                        pages_per_pg: l.seg.meta().pages_per_pg,
                        epoch: l.seg.epoch(),
                        scl: l.durable_scl,
                        replicas: l.seg.meta().replicas.clone(),
                    })
                    .collect();
                Some(Message::Segments(infos))
            }
            Message::GossipPull { pg, epoch: _, scl } => {
                let Some(l) = self.live.get_mut(&pg) else {
                    return Some(unknown(pg));
                };
                let (mut records, mut more) = l.seg.gossip_reply(scl);
                let mut bytes = 0;
                if let Some(cut) = records.iter().position(|r| {
                    bytes += r.encoded_len();
                    bytes > self.reply_bytes_max
                }) {
                    records.truncate(cut.max(1));
                    more = true;
                }
                let (hint_vdl, hint_tail) = l.seg.hint();
                Some(Message::GossipPush {
                    history: l.seg.history().to_vec(),
                    scl: l.seg.scl(),
                    hint_vdl,
                    hint_tail,
                    records,
                    more,
                })
            }
            _ => Some(Message::error(
                ErrorCode::Malformed,
                Epoch(0),
                "not a request",
            )),
        }
    }

    /// Takes a peer's answer to our gossip pull. Returns a follow-up pull when
    /// the peer has more, or an error text if the segment refused the push.
    pub fn handle_gossip_reply(
        &mut self,
        now: u64,
        from: NodeId,
        req_id: u64,
        msg: Message,
    ) -> Result<Option<(NodeId, u64, Message)>, String> {
        let Some((peer, pg)) = self.gossip_inflight.remove(&req_id) else {
            return Ok(None);
        };
        if peer != from {
            return Ok(None);
        }
        let Message::GossipPush {
            history,
            scl: _,
            hint_vdl,
            hint_tail,
            records,
            more,
        } = msg
        else {
            return Ok(None);
        };
        let Some(l) = self.live.get_mut(&pg) else {
            return Ok(None);
        };
        let r = l
            .seg
            .gossip_receive(&history, hint_vdl, hint_tail, records, now);
        l.stage();
        match r {
            Ok(filled) => {
                self.stats.gossip_filled += filled as u64;
                // Page on only while it helps: a pull carries just the SCL, so
                // a replica whose hole no peer can fill (its records were
                // trimmed) would get the same page forever.
                if more && filled > 0 {
                    return Ok(Some(self.pull(peer, pg)));
                }
                Ok(None)
            }
            Err(e) => Err(format!(
                "node {} PG {pg} refused gossip from node {peer}: {e}",
                self.id
            )),
        }
    }

    fn pull(&mut self, peer: NodeId, pg: PgId) -> (NodeId, u64, Message) {
        let l = self.live.get(&pg).expect("pull for a live segment");
        let req = self.next_req;
        self.next_req += 1;
        self.gossip_inflight.insert(req, (peer, pg));
        (
            peer,
            req,
            Message::GossipPull {
                pg,
                epoch: l.seg.epoch(),
                scl: l.seg.scl(),
            },
        )
    }

    /// Background work: each segment pulls from one random peer, and
    /// sometimes coalesces deltas, collects old versions or compacts its log.
    pub fn background(&mut self, now: u64, rng: &mut Rng) -> Vec<(NodeId, u64, Message)> {
        let mut targets = Vec::new();
        let syncing: BTreeSet<PgId> = self
            .fsync
            .iter()
            .flat_map(|f| f.batches.iter().map(|b| b.pg))
            .collect();
        for (pg, l) in self.live.iter_mut() {
            if rng.chance(0.3) {
                self.stats.materialized += l.seg.materialize() as u64;
            }
            if rng.chance(0.3) && l.seg.collect() {
                self.stats.collected += 1;
            }
            l.stage();
            // Compaction rewrites the log from the segment's state, which is
            // only all durable when nothing is unsynced; the rewrite itself is
            // atomic (new file, fsync, rename).
            if rng.chance(0.05) && l.written.is_empty() && !syncing.contains(pg) {
                if let Some(d) = self.disk.get_mut(pg) {
                    let retention_ms = rng.range(0, 500);
                    l.seg.trim_log(now.saturating_sub(retention_ms));
                    d.entries = l.seg.snapshot();
                    self.stats.compactions += 1;
                }
            }
            let peers: Vec<NodeId> = l
                .seg
                .meta()
                .replicas
                .iter()
                .map(|r| r.node)
                .filter(|n| *n != self.id)
                .collect();
            if !peers.is_empty() {
                targets.push((rng.pick(&peers), *pg));
            }
        }
        targets
            .into_iter()
            .map(|(peer, pg)| self.pull(peer, pg))
            .collect()
    }

    /// Starts an fsync if none runs and something waits for one. Returns
    /// true if it started (the caller schedules its completion).
    pub fn start_fsync(&mut self) -> bool {
        if self.fsync.is_some() {
            return false;
        }
        let waiting: BTreeSet<PgId> = self.waiters.iter().map(|w| w.pg).collect();
        let mut batches = Vec::new();
        for (pg, l) in self.live.iter_mut() {
            if !l.written.is_empty() || waiting.contains(pg) {
                batches.push(Batch {
                    pg: *pg,
                    writes: std::mem::take(&mut l.written),
                    scl: l.seg.scl(),
                });
            }
        }
        if batches.is_empty() {
            return false;
        }
        self.fsync = Some(Fsync {
            batches,
            waiters: std::mem::take(&mut self.waiters),
        });
        true
    }

    /// The running fsync finished: its batches are durable and the requests
    /// waiting on it are answered.
    pub fn complete_fsync(&mut self) -> Vec<(Addr, u64, Message)> {
        let Some(f) = self.fsync.take() else {
            return Vec::new();
        };
        self.stats.fsyncs += 1;
        for b in f.batches {
            apply_writes(&mut self.disk, b.pg, b.writes);
            if let Some(l) = self.live.get_mut(&b.pg) {
                l.durable_scl = b.scl;
            }
        }
        let mut out = Vec::new();
        for w in f.waiters {
            let Some(l) = self.live.get(&w.pg) else {
                continue;
            };
            let msg = match w.kind {
                WaitKind::Created => Message::Ok,
                WaitKind::Ack => Message::AppendAck {
                    pg: w.pg,
                    scl: l.durable_scl,
                },
                WaitKind::EpochSet => Message::EpochSet {
                    scl: l.durable_scl,
                    hint_vdl: l.seg.hint_vdl(),
                    max_lsn: l.seg.max_lsn(),
                    history: l.seg.history().to_vec(),
                },
            };
            out.push((w.to, w.req_id, msg));
        }
        out
    }

    /// Crashes the node. With `torn`, a random prefix of each segment's
    /// unsynced writes survives, as a real disk may persist data nobody
    /// fsynced (see the module docs for why a prefix).
    pub fn crash(&mut self, torn: Option<&mut Rng>) {
        if let Some(rng) = torn {
            let mut unsynced: BTreeMap<PgId, Vec<Write>> = BTreeMap::new();
            if let Some(f) = self.fsync.take() {
                for b in f.batches {
                    unsynced.entry(b.pg).or_default().extend(b.writes);
                }
            }
            for (pg, l) in self.live.iter_mut() {
                unsynced.entry(*pg).or_default().append(&mut l.written);
            }
            for (pg, mut writes) in unsynced {
                let keep = rng.below(writes.len() as u64 + 1) as usize;
                writes.truncate(keep);
                apply_writes(&mut self.disk, pg, writes);
            }
        }
        self.up = false;
        self.live.clear();
        self.fsync = None;
        self.waiters.clear();
        self.gossip_inflight.clear();
        self.incarnation += 1;
    }

    /// Restarts the node from its disk.
    pub fn restart(&mut self) {
        assert!(!self.up, "restart of a running node");
        self.up = true;
        for (pg, d) in &self.disk {
            let seg = d.restore();
            let scl = seg.scl();
            self.live.insert(*pg, Live::new(seg, scl));
        }
    }
}

//! Volume recovery, as a sans-IO state machine.
//!
//! Run by every writer before its first write (start-up or promotion), as
//! DESIGN.md §2 describes:
//!
//! 1. **List**: ask every storage node which segments it hosts.
//! 2. **Fence**: raise the epoch on a write quorum (4/6) of every PG. From then
//!    on no older writer can get a write acknowledged by a quorum.
//! 3. **Read**: from the fenced replicas, collect every record above the
//!    highest VDL any of them heard of (`start`). Every durable record is on
//!    4 replicas, so any 4 include at least one copy.
//! 4. **Decide**: walk the `vol_prev_lsn` chain up from `start`: the VCL is
//!    where it breaks, the VDL the last CPL at or below it.
//! 5. **Truncate**: open the new epoch at the VDL on a quorum of every PG;
//!    older records above it are void everywhere, now and when a lagging
//!    replica learns the history later.
//! 6. **Repair**: send each fenced replica the records up to the VDL it lacks,
//!    until a quorum of every PG holds the whole recovered prefix, so nothing
//!    recovery kept rests on fewer than 4 copies.
//!
//! New LSNs start above the highest LSN seen, so a voided LSN is never reused.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::cluster::{Cluster, WRITE_QUORUM};
use crate::segment::GOSSIP_BYTES_MAX;
use crate::types::{Epoch, LogRecord, Lsn, NodeId, PgId};
use crate::wire::{ErrorCode, Message, Replica, SegmentInfo, Truncation, FRAME_PAYLOAD_MAX};

use super::core::{Outgoing, Recovered, RecoveredPg};

/// Epoch numbers carry a per-writer nonce in their low bits, so two writers
/// recovering at once never pick the same epoch.
pub const EPOCH_NONCE_BITS: u32 = 16;

/// Why recovery failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryError {
    /// Another writer raised the epoch past ours while we recovered.
    #[error("superseded: another writer opened epoch {0}")]
    Superseded(Epoch),
    /// Replicas disagree in a way recovery cannot resolve.
    #[error("inconsistent volume: {0}")]
    Inconsistent(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    List,
    Fence,
    Read,
    Truncate,
    Repair,
    Done,
}

#[derive(Debug, Default)]
struct PgRecovery {
    replicas: Vec<Replica>,
    pages_per_pg: u64,
    /// Fenced replicas and their SCLs.
    fenced: BTreeMap<NodeId, Lsn>,
    /// Replicas that answered they lack the segment.
    missing: BTreeSet<NodeId>,
    /// Replicas whose log above `start` was read completely.
    read_done: BTreeSet<NodeId>,
    /// Where the next read of each replica continues.
    read_from: BTreeMap<NodeId, Lsn>,
    /// Highest record at or below `start` that any replica reported.
    tail_at_start: Lsn,
    /// Replicas that took the truncation.
    truncated: BTreeSet<NodeId>,
    /// Replicas that hold the recovered prefix.
    repaired: BTreeMap<NodeId, Lsn>,
    /// Last record of the PG at or below the VDL.
    tail: Lsn,
}

#[derive(Clone, Copy, Debug)]
struct Req {
    node: NodeId,
    pg: Option<PgId>,
    sent_ms: u64,
}

/// The recovery state machine. See the module docs.
#[derive(Debug)]
pub struct Recovery {
    cluster: Cluster,
    nonce: u64,
    step: Step,
    started_ms: u64,
    list_wait_ms: u64,
    resend_ms: u64,
    listed: BTreeSet<NodeId>,
    max_epoch_seen: Epoch,
    epoch: Epoch,
    pgs: BTreeMap<PgId, PgRecovery>,
    history: Vec<Truncation>,
    start: Lsn,
    max_lsn: Lsn,
    records: BTreeMap<Lsn, LogRecord>,
    vdl: Lsn,
    next_req: u64,
    inflight: HashMap<u64, Req>,
    out: Vec<Outgoing>,
    result: Option<Result<Recovered, RecoveryError>>,
}

impl Recovery {
    /// Starts recovery. `nonce` distinguishes this writer's epoch from a
    /// concurrent one's; `list_wait_ms` is how long to wait for silent nodes
    /// before going on without them.
    pub fn new(cluster: Cluster, nonce: u16, now_ms: u64, list_wait_ms: u64, resend_ms: u64) -> Recovery {
        let mut r = Recovery {
            cluster,
            nonce: u64::from(nonce),
            step: Step::List,
            started_ms: now_ms,
            list_wait_ms,
            resend_ms,
            listed: BTreeSet::new(),
            max_epoch_seen: Epoch(0),
            epoch: Epoch(0),
            pgs: BTreeMap::new(),
            history: Vec::new(),
            start: Lsn::ZERO,
            max_lsn: Lsn::ZERO,
            records: BTreeMap::new(),
            vdl: Lsn::ZERO,
            next_req: 1,
            inflight: HashMap::new(),
            out: Vec::new(),
            result: None,
        };
        r.send_step(now_ms);
        r
    }

    /// The outcome, once recovery ended.
    pub fn result(&self) -> Option<&Result<Recovered, RecoveryError>> {
        self.result.as_ref()
    }

    /// Takes the outcome.
    pub fn take_result(&mut self) -> Option<Result<Recovered, RecoveryError>> {
        self.result.take()
    }

    /// Drains the messages to send.
    pub fn take_outgoing(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.out)
    }

    /// A short description of where recovery is, for logs.
    pub fn progress(&self) -> String {
        format!("{:?}: epoch {}, {} PGs, start {}, vdl {}", self.step, self.epoch, self.pgs.len(), self.start, self.vdl)
    }

    /// Resends unanswered requests and moves on when waiting is over.
    pub fn tick(&mut self, now_ms: u64) {
        if self.result.is_some() {
            return;
        }
        let stale: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, r)| now_ms.saturating_sub(r.sent_ms) >= self.resend_ms)
            .map(|(id, _)| *id)
            .collect();
        let resend = !stale.is_empty();
        for id in stale {
            self.inflight.remove(&id);
        }
        if self.step == Step::List {
            self.try_finish_list(now_ms);
        }
        if resend && self.result.is_none() {
            self.send_step(now_ms);
        }
    }

    /// Feeds a reply.
    pub fn on_reply(&mut self, from: NodeId, req_id: u64, msg: Message, now_ms: u64) {
        if self.result.is_some() {
            return;
        }
        let Some(req) = self.inflight.remove(&req_id) else { return };
        if req.node != from {
            return;
        }
        if let Message::Error { code: ErrorCode::StaleEpoch, epoch, .. } = &msg {
            if self.step != Step::List && *epoch > self.epoch {
                self.result = Some(Err(RecoveryError::Superseded(*epoch)));
                return;
            }
        }
        match (self.step, msg) {
            (Step::List, Message::Segments(infos)) => {
                self.listed.insert(from);
                for info in infos {
                    self.note_segment(info);
                }
                self.try_finish_list(now_ms);
            }
            (Step::Fence, Message::EpochSet { scl, hint_vdl, max_lsn, history }) => {
                let Some(pg) = req.pg else { return };
                if let Err(e) = self.merge_history(&history) {
                    self.result = Some(Err(e));
                    return;
                }
                self.start = self.start.max(hint_vdl);
                self.max_lsn = self.max_lsn.max(max_lsn);
                let p = self.pgs.get_mut(&pg).expect("fenced PG is known");
                p.missing.remove(&from);
                p.fenced.insert(from, scl);
                if self.pgs.values().all(|p| p.fenced.len() >= WRITE_QUORUM) {
                    self.step = Step::Read;
                    self.inflight.clear();
                    for p in self.pgs.values_mut() {
                        for n in p.fenced.keys() {
                            p.read_from.insert(*n, self.start);
                        }
                    }
                }
                self.send_step(now_ms);
            }
            (Step::Fence, Message::Error { code: ErrorCode::UnknownSegment, .. }) => {
                // The PG was being created when the last writer stopped and
                // this replica never got it. Create it, then fence it too, so
                // an older writer cannot create it later and write there.
                let Some(pg) = req.pg else { return };
                self.pgs.get_mut(&pg).expect("known").missing.insert(from);
                self.send_step(now_ms);
            }
            (Step::Fence, Message::Ok) => {
                let Some(pg) = req.pg else { return };
                self.pgs.get_mut(&pg).expect("known").missing.remove(&from);
                self.send_step(now_ms);
            }
            (Step::Read, Message::Log { tail, scl: _, records, more }) => {
                let Some(pg) = req.pg else { return };
                let pages_per_pg = self.cluster.pages_per_pg();
                let p = self.pgs.get_mut(&pg).expect("known");
                if !p.fenced.contains_key(&from) || p.read_done.contains(&from) {
                    return;
                }
                p.tail_at_start = p.tail_at_start.max(tail);
                let mut last = p.read_from.get(&from).copied().unwrap_or(self.start);
                for r in records {
                    if r.page.pg(pages_per_pg) != pg || r.lsn <= last {
                        continue;
                    }
                    last = r.lsn;
                    self.max_lsn = self.max_lsn.max(r.lsn);
                    self.records.entry(r.lsn).or_insert(r);
                }
                if more {
                    p.read_from.insert(from, last);
                } else {
                    p.read_done.insert(from);
                }
                if self.pgs.values().all(|p| p.read_done.len() >= WRITE_QUORUM) {
                    self.decide();
                    self.step = Step::Truncate;
                    self.inflight.clear();
                }
                self.send_step(now_ms);
            }
            (Step::Truncate, Message::AppendAck { pg, scl }) => {
                if let Some(p) = self.pgs.get_mut(&pg) {
                    p.truncated.insert(from);
                    let known = p.fenced.entry(from).or_insert(scl);
                    *known = (*known).max(scl);
                }
                if self.pgs.values().all(|p| p.truncated.len() >= WRITE_QUORUM) {
                    self.step = Step::Repair;
                    self.inflight.clear();
                }
                self.send_step(now_ms);
            }
            (Step::Repair, Message::AppendAck { pg, scl }) => {
                if let Some(p) = self.pgs.get_mut(&pg) {
                    let known = p.fenced.entry(from).or_insert(scl);
                    *known = (*known).max(scl);
                    if scl >= p.tail {
                        p.repaired.insert(from, scl);
                    }
                }
                if self.pgs.values().all(|p| p.repaired.len() >= WRITE_QUORUM) {
                    self.finish();
                }
            }
            (_, Message::Error { code, message, .. }) => {
                tracing::warn!(node = %from, ?code, step = ?self.step, "recovery request refused: {message}");
            }
            _ => {}
        }
    }

    fn note_segment(&mut self, info: SegmentInfo) {
        self.max_epoch_seen = self.max_epoch_seen.max(info.epoch);
        let p = self.pgs.entry(info.pg).or_default();
        if p.replicas.is_empty() {
            p.replicas = info.replicas;
            p.pages_per_pg = info.pages_per_pg;
        }
    }

    fn try_finish_list(&mut self, now_ms: u64) {
        let all = self.listed.len() == self.cluster.nodes.len();
        let waited = now_ms.saturating_sub(self.started_ms) >= self.list_wait_ms;
        // A PG holding durable records lives on at least 4 nodes, so once at
        // most 3 nodes are silent every such PG has been seen.
        let enough = self.listed.len() + 3 >= self.cluster.nodes.len();
        if !(all || (waited && enough)) {
            return;
        }
        for p in self.pgs.values() {
            if p.pages_per_pg != self.cluster.pages_per_pg() {
                self.result = Some(Err(RecoveryError::Inconsistent(format!(
                    "segments hold {} pages but the cluster file says {}",
                    p.pages_per_pg,
                    self.cluster.pages_per_pg()
                ))));
                return;
            }
        }
        // PGs are created in order, so ids are dense; fill any gap (a PG whose
        // segments were never created anywhere) from the placement.
        if let Some(&last) = self.pgs.keys().next_back() {
            for id in 0..last.0 {
                let pg = PgId(id);
                if !self.pgs.contains_key(&pg) {
                    let replicas = self.cluster.place(pg);
                    let p = PgRecovery {
                        missing: replicas.iter().map(|r| r.node).collect(),
                        replicas,
                        pages_per_pg: self.cluster.pages_per_pg(),
                        ..Default::default()
                    };
                    self.pgs.insert(pg, p);
                }
            }
        }
        let counter = (self.max_epoch_seen.0 >> EPOCH_NONCE_BITS) + 1;
        self.epoch = Epoch((counter << EPOCH_NONCE_BITS) | self.nonce);
        self.step = if self.pgs.is_empty() { Step::Done } else { Step::Fence };
        self.inflight.clear();
        if self.step == Step::Done {
            self.history = vec![Truncation { epoch: self.epoch, above: Lsn::ZERO }];
            self.finish();
        } else {
            self.send_step(now_ms);
        }
    }

    fn merge_history(&mut self, history: &[Truncation]) -> Result<(), RecoveryError> {
        for t in history {
            match self.history.iter().find(|h| h.epoch == t.epoch) {
                Some(h) if h.above != t.above => {
                    return Err(RecoveryError::Inconsistent(format!(
                        "epoch {} starts at {} on one replica and {} on another",
                        t.epoch, h.above, t.above
                    )))
                }
                Some(_) => {}
                None => {
                    let pos = self.history.partition_point(|h| h.epoch < t.epoch);
                    self.history.insert(pos, *t);
                }
            }
        }
        Ok(())
    }

    fn valid(&self, r: &LogRecord) -> bool {
        self.history.iter().all(|t| t.epoch <= r.epoch || r.lsn <= t.above)
    }

    /// Step 4: the VCL is where the `vol_prev_lsn` chain from `start` breaks.
    fn decide(&mut self) {
        let valid: BTreeMap<Lsn, LogRecord> =
            self.records.iter().filter(|(_, r)| self.valid(r)).map(|(l, r)| (*l, r.clone())).collect();
        let by_prev: HashMap<Lsn, Lsn> = valid.values().map(|r| (r.vol_prev_lsn, r.lsn)).collect();
        let mut vcl = self.start;
        let mut vdl = self.start;
        while let Some(&next) = by_prev.get(&vcl) {
            vcl = next;
            if valid[&next].is_cpl() {
                vdl = next;
            }
        }
        self.vdl = vdl;
        self.records = valid.into_iter().filter(|(l, _)| *l <= vdl).collect();
        let pages_per_pg = self.cluster.pages_per_pg();
        for p in self.pgs.values_mut() {
            p.tail = p.tail_at_start;
        }
        for r in self.records.values() {
            let pg = r.page.pg(pages_per_pg);
            if let Some(p) = self.pgs.get_mut(&pg) {
                p.tail = p.tail.max(r.lsn);
            }
        }
        self.history.retain(|t| t.epoch != self.epoch);
        self.history.push(Truncation { epoch: self.epoch, above: vdl });
        self.history.sort_by_key(|t| t.epoch);
        tracing::info!(epoch = %self.epoch, start = %self.start, %vcl, %vdl, max_lsn = %self.max_lsn, "recovery decided");
    }

    fn finish(&mut self) {
        self.step = Step::Done;
        let pgs = self
            .pgs
            .iter()
            .map(|(pg, p)| RecoveredPg {
                pg: *pg,
                replicas: p.replicas.clone(),
                tail: p.tail,
                scls: p.repaired.iter().map(|(n, s)| (*n, *s)).collect(),
                missing: p.missing.iter().copied().collect(),
            })
            .collect();
        self.result = Some(Ok(Recovered {
            epoch: self.epoch,
            history: self.history.clone(),
            vdl: self.vdl,
            max_lsn: self.max_lsn.max(self.vdl),
            pgs,
        }));
    }

    fn request(&mut self, to: NodeId, pg: Option<PgId>, msg: Message, now_ms: u64) {
        let req_id = self.next_req;
        self.next_req += 1;
        self.inflight.insert(req_id, Req { node: to, pg, sent_ms: now_ms });
        self.out.push(Outgoing { to, req_id, msg });
    }

    fn waiting_on(&self, node: NodeId, pg: Option<PgId>) -> bool {
        self.inflight.values().any(|r| r.node == node && r.pg == pg)
    }

    /// Sends whatever the current step still needs.
    fn send_step(&mut self, now_ms: u64) {
        let mut sends: Vec<(NodeId, Option<PgId>, Message)> = Vec::new();
        match self.step {
            Step::List => {
                for id in self.cluster.nodes.keys() {
                    if !self.listed.contains(id) && !self.waiting_on(*id, None) {
                        sends.push((*id, None, Message::ListSegments));
                    }
                }
            }
            Step::Fence => {
                for (pg, p) in &self.pgs {
                    for r in &p.replicas {
                        if p.fenced.contains_key(&r.node) || self.waiting_on(r.node, Some(*pg)) {
                            continue;
                        }
                        let msg = if p.missing.contains(&r.node) {
                            Message::CreateSegment {
                                pg: *pg,
                                pages_per_pg: self.cluster.pages_per_pg(),
                                replicas: p.replicas.clone(),
                            }
                        } else {
                            Message::SetEpoch { pg: *pg, epoch: self.epoch }
                        };
                        sends.push((r.node, Some(*pg), msg));
                    }
                }
            }
            Step::Read => {
                for (pg, p) in &self.pgs {
                    for n in p.fenced.keys() {
                        if !p.read_done.contains(n) && !self.waiting_on(*n, Some(*pg)) {
                            let after = p.read_from.get(n).copied().unwrap_or(self.start);
                            sends.push((*n, Some(*pg), Message::ReadLog { pg: *pg, after, bytes_max: GOSSIP_BYTES_MAX as u32 }));
                        }
                    }
                }
            }
            Step::Truncate => {
                for (pg, p) in &self.pgs {
                    for r in &p.replicas {
                        if p.truncated.contains(&r.node) || p.missing.contains(&r.node) || self.waiting_on(r.node, Some(*pg)) {
                            continue;
                        }
                        sends.push((r.node, Some(*pg), Message::Truncate { pg: *pg, epoch: self.epoch, above: self.vdl }));
                    }
                }
            }
            Step::Repair => {
                let pages_per_pg = self.cluster.pages_per_pg();
                for (pg, p) in &self.pgs {
                    for n in &p.truncated {
                        if p.repaired.contains_key(n) || self.waiting_on(*n, Some(*pg)) {
                            continue;
                        }
                        let have = p.fenced.get(n).copied().unwrap_or(Lsn::ZERO);
                        // One frame's worth per round; the ack's SCL says where
                        // the next round starts.
                        let mut bytes = 0usize;
                        let records: Vec<LogRecord> = self
                            .records
                            .range(have.next()..)
                            .map(|(_, r)| r)
                            .filter(|r| r.page.pg(pages_per_pg) == *pg)
                            .take_while(|r| {
                                bytes += r.encoded_len();
                                bytes <= FRAME_PAYLOAD_MAX / 2
                            })
                            .cloned()
                            .collect();
                        sends.push((
                            *n,
                            Some(*pg),
                            Message::Append {
                                pg: *pg,
                                epoch: self.epoch,
                                vdl: self.vdl,
                                pg_tail: p.tail,
                                pgmrpl: Lsn::ZERO,
                                records,
                            },
                        ));
                    }
                }
            }
            Step::Done => {}
        }
        for (to, pg, msg) in sends {
            self.request(to, pg, msg, now_ms);
        }
    }
}

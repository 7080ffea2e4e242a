//! Volume recovery, as a sans-IO state machine.
//!
//! Run by every writer before its first write (start-up or promotion), as
//! DESIGN.md §2 describes:
//!
//! 1. **List**: ask every storage node which segments it hosts. An empty
//!    volume gets PG 0, so there is always something to fence.
//! 2. **Fence**: raise the epoch on a write quorum (4/6) of every PG. From then
//!    on no older writer can get a write acknowledged by a quorum.
//!    Then **list again** and fence any PG that appeared meanwhile: an older
//!    writer may have grown the volume after the first list. A writer counts
//!    acks from a PG it created only after a write quorum of PG 0 confirmed
//!    its epoch, which it asks after the PG exists on a write quorum (see
//!    [`super::core`]); so any such PG was created before this recovery's
//!    fence of PG 0 completed, and the second list sees it.
//! 3. **Read**: from the fenced replicas, collect every record above the
//!    highest VDL any of them heard of (`start`). Every durable record is on
//!    4 replicas, so any 4 include at least one copy.
//! 4. **Decide**: walk the `vol_prev_lsn` chain up from `start`: the VCL is
//!    where it breaks, the VDL the last CPL at or below it.
//! 5. **Truncate**: open the new epoch at the VDL on a quorum of every PG;
//!    older records above it are void everywhere, now and when a lagging
//!    replica learns the history later. Recovery sends the whole epoch
//!    history (`Adopt`), not a lone `Truncate`: a history is the lineage of
//!    its newest epoch (see [`crate::segment`]), and only the whole lineage
//!    lets a replica drop truncations of superseded recoveries this one never
//!    saw, which would void records it keeps.
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
    /// List again after fencing, for PGs an older writer created meanwhile.
    Relist,
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
    /// An `Adopt` opening the epoch (its ack looks like a repair ack).
    opens_epoch: bool,
}

/// The recovery state machine. See the module docs.
#[derive(Debug)]
pub struct Recovery {
    cluster: Cluster,
    nonce: u64,
    step: Step,
    /// When the current list (first or second) started.
    list_started_ms: u64,
    /// The second list is done.
    relisted: bool,
    list_wait_ms: u64,
    resend_ms: u64,
    /// When the last request went out.
    last_send_ms: u64,
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
    pub fn new(
        cluster: Cluster,
        nonce: u16,
        now_ms: u64,
        list_wait_ms: u64,
        resend_ms: u64,
    ) -> Recovery {
        let mut r = Recovery {
            cluster,
            nonce: u64::from(nonce),
            step: Step::List,
            list_started_ms: now_ms,
            relisted: false,
            list_wait_ms,
            resend_ms,
            last_send_ms: now_ms,
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
        format!(
            "{:?}: epoch {}, {} PGs, start {}, vdl {}",
            self.step,
            self.epoch,
            self.pgs.len(),
            self.start,
            self.vdl
        )
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
        // Resend what is stale, and also re-run the step when nothing was sent
        // for `resend_ms`: a replica that answered without progress (e.g. a
        // repair ack below the PG's tail, because its hole lies below `start`
        // and only gossip can fill it) has nothing in flight, so waiting for
        // stale requests alone would wait forever once every request is
        // answered.
        let idle = now_ms.saturating_sub(self.last_send_ms) >= self.resend_ms;
        let resend = !stale.is_empty() || idle;
        for id in stale {
            self.inflight.remove(&id);
        }
        if matches!(self.step, Step::List | Step::Relist) {
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
        let Some(req) = self.inflight.remove(&req_id) else {
            return;
        };
        if req.node != from {
            return;
        }
        if let Message::Error {
            code: ErrorCode::StaleEpoch,
            epoch,
            ..
        } = &msg
        {
            if self.step != Step::List && *epoch > self.epoch {
                self.result = Some(Err(RecoveryError::Superseded(*epoch)));
                return;
            }
        }
        match (self.step, msg) {
            (Step::List | Step::Relist, Message::Segments(infos)) => {
                self.listed.insert(from);
                for info in infos {
                    self.note_segment(info);
                }
                self.try_finish_list(now_ms);
            }
            (
                Step::Fence,
                Message::EpochSet {
                    scl,
                    hint_vdl,
                    max_lsn,
                    history,
                },
            ) => {
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
                    if self.relisted {
                        self.start_read();
                    } else {
                        self.step = Step::Relist;
                        self.relisted = true;
                        self.listed.clear();
                        self.list_started_ms = now_ms;
                        self.inflight.clear();
                    }
                }
                self.send_step(now_ms);
            }
            (
                Step::Fence,
                Message::Error {
                    code: ErrorCode::UnknownSegment,
                    ..
                },
            ) => {
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
            (
                Step::Read,
                Message::Log {
                    tail,
                    scl: _,
                    records,
                    more,
                },
            ) => {
                let Some(pg) = req.pg else { return };
                let pages_per_pg = self.cluster.pages_per_pg();
                let p = self.pgs.get_mut(&pg).expect("known");
                if !p.fenced.contains_key(&from) || p.read_done.contains(&from) {
                    return;
                }
                let mut last = p.read_from.get(&from).copied().unwrap_or(self.start);
                // `tail` is the PG's last record at or below `min(after, scl)`:
                // about `start` only on the first page. Later pages read after
                // their last record, so their tail may be any record above
                // `start`, even above the VDL recovery decides.
                if last == self.start {
                    p.tail_at_start = p.tail_at_start.max(tail);
                }
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
                    // The latest SCL, not the highest: the truncation may
                    // have lowered it, and repair resends from it.
                    p.fenced.insert(from, scl);
                }
                if self.pgs.values().all(|p| p.truncated.len() >= WRITE_QUORUM) {
                    self.step = Step::Repair;
                    self.inflight.clear();
                }
                self.send_step(now_ms);
            }
            (Step::Repair, Message::AppendAck { pg, scl }) => {
                // Send the next round at once only on progress; a replica
                // that is stuck (its hole lies below `start`, so only gossip
                // can fill it) is asked again when `tick` finds us idle.
                let mut again = false;
                if let Some(p) = self.pgs.get_mut(&pg) {
                    let before = p.fenced.insert(from, scl);
                    if req.opens_epoch {
                        // Took the truncation after the Truncate step ended:
                        // it can be repaired like the others.
                        p.truncated.insert(from);
                        again = true;
                    } else if scl >= p.tail {
                        p.repaired.insert(from, scl);
                    } else {
                        again = before.is_none_or(|b| scl > b);
                    }
                }
                if self.pgs.values().all(|p| p.repaired.len() >= WRITE_QUORUM) {
                    self.finish();
                } else if again {
                    self.send_step(now_ms);
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
        let waited = now_ms.saturating_sub(self.list_started_ms) >= self.list_wait_ms;
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
        //
        // An empty volume gets PG 0 the same way: recovery must fence
        // something, or it completes without telling any node about its
        // epoch. Two writers starting on an empty volume would then both
        // complete, the later one possibly with the lower epoch, and each
        // would write as the owner (the older one's Adopt even voids the
        // newer one's acknowledged records). Fencing PG 0 on a write quorum
        // makes a later recovery see the epoch and orders racing ones.
        let last = self.pgs.keys().next_back().copied().unwrap_or(PgId(0));
        for id in 0..=last.0 {
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
        self.inflight.clear();
        if self.step == Step::List {
            let counter = (self.max_epoch_seen.0 >> EPOCH_NONCE_BITS) + 1;
            self.epoch = Epoch((counter << EPOCH_NONCE_BITS) | self.nonce);
            self.step = Step::Fence;
        } else if self.pgs.values().all(|p| p.fenced.len() >= WRITE_QUORUM) {
            self.start_read();
        } else {
            // New PGs: fence them too, then read.
            self.step = Step::Fence;
        }
        self.send_step(now_ms);
    }

    fn start_read(&mut self) {
        self.step = Step::Read;
        self.inflight.clear();
        for p in self.pgs.values_mut() {
            for n in p.fenced.keys() {
                p.read_from.insert(*n, self.start);
            }
        }
    }

    /// Keeps the lineage of the newest epoch any fenced replica knows. An
    /// older replica's extra entries are truncations of recoveries that were
    /// superseded before that epoch's recovery saw them: not part of the
    /// volume (see [`crate::segment`]).
    fn merge_history(&mut self, history: &[Truncation]) -> Result<(), RecoveryError> {
        for t in history {
            if let Some(h) = self
                .history
                .iter()
                .find(|h| h.epoch == t.epoch && h.above != t.above)
            {
                return Err(RecoveryError::Inconsistent(format!(
                    "epoch {} starts at {} on one replica and {} on another",
                    t.epoch, h.above, t.above
                )));
            }
        }
        let mut lineage = history.to_vec();
        lineage.sort_by_key(|t| t.epoch);
        let theirs = lineage.last().map(|t| t.epoch);
        let ours = self.history.last().map(|t| t.epoch);
        if theirs > ours {
            self.history = lineage;
        } else if theirs == ours && lineage != self.history {
            return Err(RecoveryError::Inconsistent(format!(
                "two lineages of epoch {:?}: {:?} and {lineage:?}",
                theirs, self.history
            )));
        }
        Ok(())
    }

    fn valid(&self, r: &LogRecord) -> bool {
        self.history
            .iter()
            .all(|t| t.epoch <= r.epoch || r.lsn <= t.above)
    }

    /// Step 4: the VCL is where the `vol_prev_lsn` chain from `start` breaks.
    fn decide(&mut self) {
        let valid: BTreeMap<Lsn, LogRecord> = self
            .records
            .iter()
            .filter(|(_, r)| self.valid(r))
            .map(|(l, r)| (*l, r.clone()))
            .collect();
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
        self.history.push(Truncation {
            epoch: self.epoch,
            above: vdl,
        });
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
        let opens_epoch = matches!(msg, Message::Adopt { .. });
        self.inflight.insert(
            req_id,
            Req {
                node: to,
                pg,
                sent_ms: now_ms,
                opens_epoch,
            },
        );
        self.last_send_ms = now_ms;
        self.out.push(Outgoing { to, req_id, msg });
    }

    fn waiting_on(&self, node: NodeId, pg: Option<PgId>) -> bool {
        self.inflight.values().any(|r| r.node == node && r.pg == pg)
    }

    /// Sends whatever the current step still needs.
    fn send_step(&mut self, now_ms: u64) {
        let mut sends: Vec<(NodeId, Option<PgId>, Message)> = Vec::new();
        match self.step {
            Step::List | Step::Relist => {
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
                            Message::SetEpoch {
                                pg: *pg,
                                epoch: self.epoch,
                            }
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
                            sends.push((
                                *n,
                                Some(*pg),
                                Message::ReadLog {
                                    pg: *pg,
                                    after,
                                    bytes_max: GOSSIP_BYTES_MAX as u32,
                                },
                            ));
                        }
                    }
                }
            }
            Step::Truncate => {
                for (pg, p) in &self.pgs {
                    for r in &p.replicas {
                        if p.truncated.contains(&r.node)
                            || p.missing.contains(&r.node)
                            || self.waiting_on(r.node, Some(*pg))
                        {
                            continue;
                        }
                        sends.push((
                            r.node,
                            Some(*pg),
                            Message::Adopt {
                                pg: *pg,
                                history: self.history.clone(),
                            },
                        ));
                    }
                }
            }
            Step::Repair => {
                let pages_per_pg = self.cluster.pages_per_pg();
                for (pg, p) in &self.pgs {
                    // The Truncate step ended at the first quorum, but one of
                    // those replicas may never catch up (a hole below `start`
                    // only gossip can fill, or a crash): keep truncating the
                    // others so that any 4 can complete the repair.
                    for r in &p.replicas {
                        if p.truncated.contains(&r.node)
                            || p.missing.contains(&r.node)
                            || self.waiting_on(r.node, Some(*pg))
                        {
                            continue;
                        }
                        sends.push((
                            r.node,
                            Some(*pg),
                            Message::Adopt {
                                pg: *pg,
                                history: self.history.clone(),
                            },
                        ));
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{PageId, RecordBody, FLAG_CPL};
    use bytes::Bytes;

    fn cluster() -> Cluster {
        let mut s = String::from("segment_size = \"512KiB\"\n");
        for (i, az) in ["az-a", "az-a", "az-b", "az-b", "az-c", "az-c"]
            .iter()
            .enumerate()
        {
            s += &format!(
                "[[storage]]\nid = {}\naddr = \"127.0.0.1:{}\"\naz = \"{az}\"\n",
                i + 1,
                7101 + i
            );
        }
        Cluster::parse(&s).expect("valid cluster file")
    }

    /// Answers every request in `outs` with what `reply` says (`None`: no answer).
    fn answer(
        r: &mut Recovery,
        outs: &[Outgoing],
        now: u64,
        reply: impl Fn(&Outgoing) -> Option<Message>,
    ) {
        for o in outs {
            if let Some(m) = reply(o) {
                r.on_reply(o.to, o.req_id, m, now);
            }
        }
    }

    /// Found by the simulation: recovery retried only requests that got no
    /// answer. In Repair, replicas that answered below the PG's tail (holes
    /// below `start`, which only gossip fills) have nothing in flight, so
    /// once every request was answered recovery waited forever, even after
    /// gossip had filled the holes.
    #[test]
    fn recovery_asks_again_when_every_request_was_answered_short() {
        let cluster = cluster();
        let replicas = cluster.place(PgId(0));
        let old = Epoch((1 << EPOCH_NONCE_BITS) | 1);
        let history = vec![Truncation {
            epoch: old,
            above: Lsn::ZERO,
        }];
        let record = LogRecord {
            lsn: Lsn(1),
            epoch: old,
            page: PageId(0),
            pg_prev_lsn: Lsn::ZERO,
            vol_prev_lsn: Lsn::ZERO,
            flags: FLAG_CPL,
            body: RecordBody::Delta {
                offset: 0,
                bytes: Bytes::from_static(b"x"),
            },
        };
        let mut r = Recovery::new(cluster.clone(), 7, 0, 100, 100);
        let segments = Message::Segments(vec![SegmentInfo {
            pg: PgId(0),
            pages_per_pg: cluster.pages_per_pg(),
            epoch: old,
            scl: Lsn(1),
            replicas: replicas.clone(),
        }]);
        // List, fence, list again, read.
        let outs = r.take_outgoing();
        answer(&mut r, &outs, 1, |_| Some(segments.clone()));
        let outs = r.take_outgoing();
        answer(&mut r, &outs, 2, |_| {
            Some(Message::EpochSet {
                scl: Lsn(1),
                hint_vdl: Lsn::ZERO,
                max_lsn: Lsn(1),
                history: history.clone(),
            })
        });
        let outs = r.take_outgoing();
        answer(&mut r, &outs, 3, |_| Some(segments.clone()));
        let outs = r.take_outgoing();
        answer(&mut r, &outs, 4, |_| {
            Some(Message::Log {
                tail: Lsn::ZERO,
                scl: Lsn(1),
                records: vec![record.clone()],
                more: false,
            })
        });
        // Truncate: all take it. Repair: three replicas hold the prefix, the
        // other three answer below the tail.
        let outs = r.take_outgoing();
        assert!(
            outs.iter().all(|o| matches!(o.msg, Message::Adopt { .. })),
            "{outs:?}"
        );
        answer(&mut r, &outs, 5, |_| {
            Some(Message::AppendAck {
                pg: PgId(0),
                scl: Lsn::ZERO,
            })
        });
        let stuck: Vec<NodeId> = replicas[3..].iter().map(|r| r.node).collect();
        let mut outs = r.take_outgoing();
        while !outs.is_empty() {
            answer(&mut r, &outs, 6, |o| {
                let scl = if stuck.contains(&o.to) {
                    Lsn::ZERO
                } else {
                    Lsn(1)
                };
                Some(Message::AppendAck { pg: PgId(0), scl })
            });
            outs = r.take_outgoing();
        }
        assert!(r.result().is_none());
        // Nothing is in flight; gossip fills the holes meanwhile. Recovery
        // must ask the stuck replicas again.
        r.tick(6 + 100);
        let outs = r.take_outgoing();
        assert!(
            stuck.iter().all(|n| outs.iter().any(|o| o.to == *n)),
            "no retry: {outs:?}"
        );
        answer(&mut r, &outs, 107, |_| {
            Some(Message::AppendAck {
                pg: PgId(0),
                scl: Lsn(1),
            })
        });
        let rec = r
            .take_result()
            .expect("recovery finished")
            .expect("recovery succeeded");
        assert_eq!(rec.vdl, Lsn(1));
    }
}

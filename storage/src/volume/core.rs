//! The writer's side of the quorum protocol, as a sans-IO state machine.
//!
//! [`VolumeCore`] turns mini-transactions (MTRs) into log records, decides
//! what to send to which replica, and turns replies into the volume's VCL and
//! VDL. It owns no sockets and no clock: the caller feeds it replies and the
//! time, and drains the messages it wants sent. The tokio driver in
//! [`super::Volume`] and the deterministic simulation both run it.
//!
//! # Durability bookkeeping
//! Each replica acknowledges with its SCL. A PG's *durable point* is the 4th
//! highest SCL of its six replicas: every record of the PG at or below it is
//! on a write quorum. The VCL advances over the allocated records in LSN
//! order while each is at or below its PG's durable point; the VDL is the
//! last CPL passed. A commit is acknowledged once the VDL reaches its LSN.
//!
//! # Growing the volume
//! A PG this writer creates itself (the first write past the last PG) is
//! unknown to any recovery that listed segments before it existed, so a newer
//! writer's recovery could miss records this writer got durable there. Such a
//! PG's acks therefore count only once the PG is *confirmed*: after it exists
//! on a write quorum, a round of heartbeats to PG 0 must come back from a
//! write quorum still at this writer's epoch. Recovery fences PG 0 and then
//! lists segments again (see [`super::recovery`]), so a confirmed PG is seen
//! by every later recovery, and a deposed writer's confirmation fails.
//!
//! # Resends
//! A record stays in its PG's buffer until it is durable and every ready
//! replica that acknowledged anything within `request_timeout_ms` was sent
//! it (durable records at most `lal` LSNs back): under
//! load the two slowest replicas trail the write quorum, and a record
//! dropped at durability would reach them only as a hole for gossip to
//! fill, a peer reading it back from its log and a pull per peer; measured
//! at concurrency 64 on six nodes, those pulls took a sixth of the nodes'
//! CPU. The replicas that miss a record anyway (down, cut off, or past the
//! bound) get it by gossip. A replica whose SCL lags the records
//! sent to it for longer than `resend_ms`, with no append to it still
//! awaiting its reply, is sent them again; appends are idempotent on the
//! node. An append that gets no reply fails after `request_timeout_ms`, and
//! its replica is then sent everything above its SCL again.
//!
//! # Flow control
//! At most [`APPENDS_IN_FLIGHT_MAX`] appends to one replica await their
//! replies; the rest of a PG's records wait in its buffer and go out as
//! replies come back. A large MTR (a bulk load) is thus streamed to each
//! replica at the pace it takes it, instead of being queued whole on every
//! connection, and resent whole each time the replica had not finished
//! within `resend_ms`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::cluster::{Cluster, WRITE_QUORUM};
use crate::types::{Epoch, LogRecord, Lsn, NodeId, PageId, PgId, RecordBody, FLAG_CPL};
use crate::wire::{ErrorCode, Message, Replica, Truncation, FRAME_PAYLOAD_MAX};

/// Appends to one replica of one PG that may await their replies at once.
/// One: what arrives while it is out goes in the next append, so appends
/// grow with the load instead of each costing every replica a request, a
/// wake-up and a share of an fsync for a few records. Measured with six
/// nodes on two cores (`sextant bench volume --payload-bytes 100`, builds
/// alternating): concurrency 64 at 26–30k commits/s with four in flight
/// against 35–39k with one, node CPU per commit 44–52 µs against 34–37,
/// p50 1.6 against 1.15 ms; concurrency 8 +16%; concurrency 1 and the
/// engine's upserts (one commit group in flight already) unchanged. A
/// frame holds up to half of [`FRAME_PAYLOAD_MAX`], so a bulk load still
/// streams megabytes per round trip.
pub const APPENDS_IN_FLIGHT_MAX: usize = 1;

/// Tunables of the write path.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// LSN allocation limit: no LSN is allocated above `VDL + lal`. Bounds the
    /// records in flight (and so memory and recovery work) and pushes back on
    /// writers when storage is slow.
    pub lal: u64,
    /// Resend to a replica that has not caught up after this long.
    pub resend_ms: u64,
    /// Send an empty append carrying the VDL to idle replicas this often.
    pub heartbeat_ms: u64,
    /// Forget a request with no reply after this long.
    pub request_timeout_ms: u64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            lal: 100_000,
            resend_ms: 200,
            heartbeat_ms: 100,
            request_timeout_ms: 2_000,
        }
    }
}

/// A message for the driver to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Destination node.
    pub to: NodeId,
    /// Request id; the reply must be fed back with it.
    pub req_id: u64,
    /// The request.
    pub msg: Message,
}

/// Why an MTR was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError {
    /// Allocating would pass `VDL + LAL`; retry once the VDL moves.
    #[error("LSN allocation limit reached (VDL {vdl}, limit {lal})")]
    Backpressure {
        /// The current VDL.
        vdl: Lsn,
        /// The limit.
        lal: u64,
    },
    /// A newer writer raised the epoch: this writer must stop.
    #[error("fenced: the volume is at epoch {0}, a newer writer took over")]
    Fenced(Epoch),
    /// The MTR has no changes.
    #[error("empty mini-transaction")]
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Needs `CreateSegment`.
    NeedCreate,
    Creating,
    /// Needs `Adopt` of the epoch history.
    NeedAdopt,
    Adopting,
    Ready,
}

#[derive(Debug)]
struct ReplicaState {
    info: Replica,
    phase: Phase,
    scl: Lsn,
    /// Records up to here were sent and are not yet known missing.
    sent_upto: Lsn,
    last_send_ms: u64,
    /// When the replica last acknowledged an append or adoption.
    last_ack_ms: u64,
    hint_sent: Lsn,
    /// Appends sent to this replica still awaiting their replies (kept in
    /// step with `inflight`, so a flush need not count them).
    appends_in_flight: usize,
}

#[derive(Debug)]
struct PgState {
    replicas: Vec<ReplicaState>,
    /// Last record allocated in this PG.
    tail: Lsn,
    /// Last record of this PG at or below the VDL.
    tail_le_vdl: Lsn,
    /// Every record of the PG at or below this is on a write quorum.
    durable: Lsn,
    /// Records not yet durable, and durable ones a ready replica has not
    /// been sent yet (see the module docs on resends).
    unacked: BTreeMap<Lsn, LogRecord>,
    /// Every later recovery will find this PG: it came from recovery, or a
    /// write quorum of PG 0 confirmed this writer's epoch after the PG was
    /// created on a write quorum. Acks count toward `durable` only then.
    confirmed: bool,
}

/// The PG whose replicas confirm this writer's epoch for PGs it creates:
/// every recovery fences it before its second list of segments.
const CONFIRM_PG: PgId = PgId(0);

/// A round of heartbeats to [`CONFIRM_PG`] that confirms new PGs.
#[derive(Debug)]
struct Confirm {
    round: u64,
    /// PGs that existed on a write quorum when the round was sent.
    pgs: Vec<PgId>,
    acked: BTreeSet<NodeId>,
    sent_ms: u64,
}

#[derive(Clone, Copy, Debug)]
enum ReqKind {
    Create,
    Adopt,
    Append,
    /// A heartbeat of confirmation round `n`.
    Confirm(u64),
}

#[derive(Clone, Copy, Debug)]
struct Inflight {
    node: NodeId,
    pg: PgId,
    kind: ReqKind,
    sent_ms: u64,
}

/// What recovery hands the writer for each PG.
#[derive(Clone, Debug)]
pub struct RecoveredPg {
    /// The PG.
    pub pg: PgId,
    /// Its six replicas.
    pub replicas: Vec<Replica>,
    /// Last record of the PG at or below the recovered VDL.
    pub tail: Lsn,
    /// SCLs recovery saw, by node.
    pub scls: Vec<(NodeId, Lsn)>,
    /// Replicas known to lack the segment.
    pub missing: Vec<NodeId>,
}

/// The state a writer starts from: the result of recovery.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// The writer's epoch.
    pub epoch: Epoch,
    /// Every epoch start, oldest first, this epoch's included.
    pub history: Vec<Truncation>,
    /// Recovered VDL (= VCL).
    pub vdl: Lsn,
    /// Highest LSN any replica reported: new LSNs start above it.
    pub max_lsn: Lsn,
    /// The PGs that exist.
    pub pgs: Vec<RecoveredPg>,
}

/// The writer's quorum state machine. See the module docs.
#[derive(Debug)]
pub struct VolumeCore {
    cfg: CoreConfig,
    cluster: Cluster,
    epoch: Epoch,
    history: Vec<Truncation>,
    fenced: Option<Epoch>,
    /// Highest LSN allocated (or seen by recovery).
    last_lsn: Lsn,
    /// Last record of the volume's chain: the next record's `vol_prev_lsn`.
    chain_tail: Lsn,
    /// Highest LSN recovery saw; LSNs up to it are void, and the allocation
    /// limit counts from above it.
    recovered_max: Lsn,
    vcl: Lsn,
    vdl: Lsn,
    outstanding: BTreeMap<Lsn, (PgId, bool)>,
    since_vdl: Vec<(Lsn, PgId)>,
    pgs: BTreeMap<PgId, PgState>,
    pgmrpl: Lsn,
    next_req: u64,
    inflight: HashMap<u64, Inflight>,
    out: Vec<Outgoing>,
    read_rotor: usize,
    confirm: Option<Confirm>,
    confirm_rounds: u64,
}

impl VolumeCore {
    /// A writer core starting from a completed recovery.
    pub fn new(cfg: CoreConfig, cluster: Cluster, rec: Recovered) -> VolumeCore {
        assert!(cfg.lal > 0, "LAL must be positive");
        assert!(
            rec.history.iter().any(|t| t.epoch == rec.epoch),
            "history lacks the writer's epoch"
        );
        assert!(
            rec.max_lsn >= rec.vdl,
            "max LSN {} below VDL {}",
            rec.max_lsn,
            rec.vdl
        );
        assert!(
            rec.pgs.iter().any(|p| p.pg == CONFIRM_PG),
            "recovery always hands over PG 0"
        );
        let mut pgs = BTreeMap::new();
        for p in rec.pgs {
            let replicas = p
                .replicas
                .iter()
                .map(|info| {
                    let scl = p
                        .scls
                        .iter()
                        .find(|(n, _)| *n == info.node)
                        .map(|(_, s)| *s)
                        .unwrap_or(Lsn::ZERO);
                    let missing = p.missing.contains(&info.node);
                    ReplicaState {
                        info: info.clone(),
                        phase: if missing {
                            Phase::NeedCreate
                        } else {
                            Phase::NeedAdopt
                        },
                        scl,
                        sent_upto: scl,
                        last_send_ms: 0,
                        last_ack_ms: 0,
                        hint_sent: Lsn::ZERO,
                        appends_in_flight: 0,
                    }
                })
                .collect();
            pgs.insert(
                p.pg,
                PgState {
                    replicas,
                    tail: p.tail,
                    tail_le_vdl: p.tail,
                    durable: p.tail,
                    unacked: BTreeMap::new(),
                    confirmed: true,
                },
            );
        }
        VolumeCore {
            cfg,
            cluster,
            epoch: rec.epoch,
            history: rec.history,
            fenced: None,
            // LSNs between the VDL and the highest one seen were voided by
            // recovery; new ones start above all of them so no LSN is reused.
            last_lsn: rec.max_lsn,
            chain_tail: rec.vdl,
            recovered_max: rec.max_lsn,
            vcl: rec.vdl,
            vdl: rec.vdl,
            outstanding: BTreeMap::new(),
            since_vdl: Vec::new(),
            pgs,
            pgmrpl: Lsn::ZERO,
            next_req: 1,
            inflight: HashMap::new(),
            out: Vec::new(),
            read_rotor: 0,
            confirm: None,
            confirm_rounds: 0,
        }
    }

    /// The writer's epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }
    /// Volume complete LSN.
    pub fn vcl(&self) -> Lsn {
        self.vcl
    }
    /// Volume durable LSN: commits at or below it are durable.
    pub fn vdl(&self) -> Lsn {
        self.vdl
    }
    /// Highest LSN allocated.
    pub fn last_lsn(&self) -> Lsn {
        self.last_lsn
    }
    /// The epoch that fenced this writer, if one did.
    pub fn fenced(&self) -> Option<Epoch> {
        self.fenced
    }
    /// Number of protection groups.
    pub fn pg_count(&self) -> usize {
        self.pgs.len()
    }
    /// The epoch history.
    pub fn history(&self) -> &[Truncation] {
        &self.history
    }
    /// The cluster description.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Sets the minimum read point of all compute nodes (PGMRPL), sent to
    /// segments so they may collect older versions. Never above the VDL.
    pub fn set_min_read_point(&mut self, lsn: Lsn) {
        self.pgmrpl = self.pgmrpl.max(lsn.min(self.vdl));
    }

    /// Allocates LSNs for one MTR, queues its records for the replicas, and
    /// returns the commit LSN (its last record, a CPL). The commit is durable
    /// once [`VolumeCore::vdl`] reaches it.
    pub fn submit(
        &mut self,
        changes: Vec<(PageId, RecordBody)>,
        now_ms: u64,
    ) -> Result<Lsn, SubmitError> {
        self.submit_records(changes, now_ms, true)
    }

    /// [`VolumeCore::submit`] without a CPL: one chunk of an MTR streamed in
    /// parts, whose last part is submitted with one. Returns the chunk's last
    /// LSN. Until a later CPL is durable the VDL stays below the chunk, so
    /// recovery truncates it. Its records count toward [`VolumeCore::vcl`].
    pub fn submit_without_cpl(
        &mut self,
        changes: Vec<(PageId, RecordBody)>,
        now_ms: u64,
    ) -> Result<Lsn, SubmitError> {
        self.submit_records(changes, now_ms, false)
    }

    fn submit_records(
        &mut self,
        changes: Vec<(PageId, RecordBody)>,
        now_ms: u64,
        last_is_cpl: bool,
    ) -> Result<Lsn, SubmitError> {
        if let Some(e) = self.fenced {
            return Err(SubmitError::Fenced(e));
        }
        if changes.is_empty() {
            return Err(SubmitError::Empty);
        }
        let n = changes.len() as u64;
        // An MTR larger than the whole limit is let through alone, when
        // nothing else is in flight: otherwise it could never be written.
        let over = self.last_lsn.0 + n > self.vdl.max(self.recovered_max).0 + self.cfg.lal;
        if over && !self.outstanding.is_empty() {
            return Err(SubmitError::Backpressure {
                vdl: self.vdl,
                lal: self.cfg.lal,
            });
        }
        let pages_per_pg = self.cluster.pages_per_pg();
        let count = changes.len();
        for (i, (page, body)) in changes.into_iter().enumerate() {
            let pg = page.pg(pages_per_pg);
            self.ensure_pg(pg);
            let state = self.pgs.get_mut(&pg).expect("ensured");
            let lsn = self.last_lsn.next();
            let cpl = last_is_cpl && i + 1 == count;
            let rec = LogRecord {
                lsn,
                epoch: self.epoch,
                page,
                pg_prev_lsn: state.tail,
                vol_prev_lsn: self.chain_tail,
                flags: if cpl { FLAG_CPL } else { 0 },
                body,
            };
            state.tail = lsn;
            state.unacked.insert(lsn, rec);
            self.outstanding.insert(lsn, (pg, cpl));
            self.last_lsn = lsn;
            self.chain_tail = lsn;
        }
        self.flush(now_ms);
        Ok(self.last_lsn)
    }

    /// Drains the messages to send.
    pub fn take_outgoing(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.out)
    }

    /// Feeds a reply to request `req_id` from node `from`.
    pub fn on_reply(&mut self, from: NodeId, req_id: u64, msg: Message, now_ms: u64) {
        let Some(req) = self.take_inflight(req_id) else {
            return;
        };
        if req.node != from {
            return;
        }
        if let ReqKind::Confirm(round) = req.kind {
            self.on_confirm_reply(from, round, msg, now_ms);
            self.flush(now_ms);
            return;
        }
        let Some(pg) = self.pgs.get_mut(&req.pg) else {
            return;
        };
        let Some(r) = pg.replicas.iter_mut().find(|r| r.info.node == from) else {
            return;
        };
        match msg {
            Message::Ok if matches!(req.kind, ReqKind::Create) => {
                r.phase = Phase::NeedAdopt;
            }
            Message::AppendAck { pg: ack_pg, scl } if ack_pg == req.pg => {
                if matches!(req.kind, ReqKind::Adopt) && r.phase == Phase::Adopting {
                    // What recovery heard of this replica may have counted
                    // records the adoption just voided.
                    r.phase = Phase::Ready;
                    r.sent_upto = scl;
                    r.scl = scl;
                }
                if r.phase != Phase::Ready {
                    return;
                }
                r.scl = r.scl.max(scl);
                r.last_ack_ms = now_ms;
                self.on_scl(req.pg, now_ms);
            }
            Message::Error {
                code,
                epoch,
                message,
            } => match code {
                ErrorCode::StaleEpoch if epoch > self.epoch => {
                    tracing::error!(%epoch, mine = %self.epoch, "writer fenced by a newer epoch");
                    self.fenced = Some(epoch);
                }
                ErrorCode::EpochBehind => r.phase = Phase::NeedAdopt,
                ErrorCode::UnknownSegment => r.phase = Phase::NeedCreate,
                _ => {
                    tracing::warn!(node = %from, pg = %req.pg, ?code, "replica refused a request: {message}");
                    Self::reset_after_failure(r, req.kind);
                }
            },
            other => {
                tracing::warn!(node = %from, pg = %req.pg, "unexpected reply {other:?}");
                Self::reset_after_failure(r, req.kind);
            }
        }
        self.flush(now_ms);
    }

    /// A request got no reply (lost, timed out, or its connection broke).
    pub fn on_failure(&mut self, req_id: u64, now_ms: u64) {
        let Some(req) = self.take_inflight(req_id) else {
            return;
        };
        if let Some(r) = self
            .pgs
            .get_mut(&req.pg)
            .and_then(|p| p.replicas.iter_mut().find(|r| r.info.node == req.node))
        {
            Self::reset_after_failure(r, req.kind);
        }
        self.flush(now_ms);
    }

    fn on_confirm_reply(&mut self, from: NodeId, round: u64, msg: Message, now_ms: u64) {
        match msg {
            Message::AppendAck { pg, .. } if pg == CONFIRM_PG => {
                let Some(c) = self.confirm.as_mut().filter(|c| c.round == round) else {
                    return;
                };
                c.acked.insert(from);
                if c.acked.len() >= WRITE_QUORUM {
                    let c = self.confirm.take().expect("checked above");
                    for pg in c.pgs {
                        self.pgs
                            .get_mut(&pg)
                            .expect("confirmed PGs are known")
                            .confirmed = true;
                        self.on_scl(pg, now_ms);
                    }
                }
            }
            Message::Error {
                code: ErrorCode::StaleEpoch,
                epoch,
                ..
            } if epoch > self.epoch => {
                tracing::error!(%epoch, mine = %self.epoch, "writer fenced by a newer epoch");
                self.fenced = Some(epoch);
            }
            // Anything else (not yet adopted, unreachable, ...): a later
            // round retries.
            _ => {}
        }
    }

    /// Sends a confirmation round when PGs this writer created exist on a
    /// write quorum and none is in progress.
    fn start_confirm(&mut self, now_ms: u64) {
        if self.confirm.is_some() {
            return;
        }
        let pgs: Vec<PgId> = self
            .pgs
            .iter()
            .filter(|(_, p)| {
                !p.confirmed
                    && p.replicas
                        .iter()
                        .filter(|r| !matches!(r.phase, Phase::NeedCreate | Phase::Creating))
                        .count()
                        >= WRITE_QUORUM
            })
            .map(|(id, _)| *id)
            .collect();
        if pgs.is_empty() {
            return;
        }
        let anchor = self
            .pgs
            .get(&CONFIRM_PG)
            .expect("recovery always hands over PG 0");
        let msg = Message::Append {
            pg: CONFIRM_PG,
            epoch: self.epoch,
            vdl: self.vdl,
            pg_tail: anchor.tail_le_vdl,
            pgmrpl: self.pgmrpl,
            records: Vec::new(),
        };
        let nodes: Vec<NodeId> = anchor.replicas.iter().map(|r| r.info.node).collect();
        self.confirm_rounds += 1;
        let round = self.confirm_rounds;
        for node in nodes {
            self.request(
                node,
                CONFIRM_PG,
                ReqKind::Confirm(round),
                msg.clone(),
                now_ms,
            );
        }
        self.confirm = Some(Confirm {
            round,
            pgs,
            acked: BTreeSet::new(),
            sent_ms: now_ms,
        });
    }

    fn reset_after_failure(r: &mut ReplicaState, kind: ReqKind) {
        match (kind, r.phase) {
            (ReqKind::Create, Phase::Creating) => r.phase = Phase::NeedCreate,
            (ReqKind::Adopt, Phase::Adopting) => r.phase = Phase::NeedAdopt,
            // Resend from what the replica is known to hold.
            (ReqKind::Append, _) => r.sent_upto = r.sent_upto.min(r.scl),
            _ => {}
        }
    }

    /// Advances time: expires requests, resends to lagging replicas and sends
    /// heartbeats. Call every few milliseconds.
    pub fn tick(&mut self, now_ms: u64) {
        let timeout = self.cfg.request_timeout_ms;
        let mut expired: Vec<u64> = self
            .inflight
            .iter()
            .filter(|(_, r)| now_ms.saturating_sub(r.sent_ms) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        // Each failure flushes, so the order decides what is sent when:
        // expire in request order, not the hash map's per-process random
        // order, so the same inputs give the same outputs (a simulation seed
        // must replay exactly).
        expired.sort_unstable();
        for id in expired {
            self.on_failure(id, now_ms);
        }
        for pg in self.pgs.values_mut() {
            let last = pg.unacked.keys().next_back().copied().unwrap_or(Lsn::ZERO);
            for r in pg.replicas.iter_mut() {
                // A replica still working through our appends is not lagging.
                if r.phase == Phase::Ready
                    && r.scl < last
                    && now_ms.saturating_sub(r.last_send_ms) >= self.cfg.resend_ms
                    && r.appends_in_flight == 0
                {
                    r.sent_upto = r.sent_upto.min(r.scl);
                }
            }
        }
        // A confirmation round that did not complete in time starts over;
        // acks of the old round no longer count.
        if self
            .confirm
            .as_ref()
            .is_some_and(|c| now_ms.saturating_sub(c.sent_ms) >= self.cfg.resend_ms)
        {
            self.confirm = None;
        }
        self.flush(now_ms);
    }

    /// Replicas to read `page` at `lsn` from, best first: those known to have
    /// an SCL at or above `lsn`, rotated to spread load, then the rest.
    ///
    /// Only replicas that adopted this writer's epoch history: one that has
    /// not may still hold records of an older epoch that this epoch's
    /// recovery voided (it was cut off while recovery ran, so recovery never
    /// saw them and gave their LSNs to new records), and its own SCL covers
    /// them, so it would serve a page with changes the volume never had.
    pub fn read_candidates(&mut self, page: PageId, lsn: Lsn) -> Option<(PgId, Vec<Replica>)> {
        let pg = page.pg(self.cluster.pages_per_pg());
        let state = self.pgs.get(&pg)?;
        self.read_rotor = self.read_rotor.wrapping_add(1);
        let n = state.replicas.len();
        let mut ready: Vec<Replica> = Vec::new();
        let mut rest: Vec<Replica> = Vec::new();
        for i in 0..n {
            let r = &state.replicas[(i + self.read_rotor) % n];
            if r.phase != Phase::Ready {
                continue;
            }
            if r.scl >= lsn {
                ready.push(r.info.clone());
            } else {
                rest.push(r.info.clone());
            }
        }
        ready.extend(rest);
        Some((pg, ready))
    }

    /// SCL of each replica of `pg` as this writer last heard it.
    pub fn replica_scls(&self, pg: PgId) -> Vec<(Replica, Lsn)> {
        self.pgs
            .get(&pg)
            .map(|p| p.replicas.iter().map(|r| (r.info.clone(), r.scl)).collect())
            .unwrap_or_default()
    }

    // ---- internals ----

    fn ensure_pg(&mut self, pg: PgId) {
        if self.pgs.contains_key(&pg) {
            return;
        }
        // PGs are created in order: a page past the end grows the volume by
        // every PG up to it, so PG ids stay dense.
        let next = self.pgs.keys().next_back().map(|p| p.0 + 1).unwrap_or(0);
        for id in next..=pg.0 {
            let replicas = self
                .cluster
                .place(PgId(id))
                .into_iter()
                .map(|info| ReplicaState {
                    info,
                    phase: Phase::NeedCreate,
                    scl: Lsn::ZERO,
                    sent_upto: Lsn::ZERO,
                    last_send_ms: 0,
                    last_ack_ms: 0,
                    hint_sent: Lsn::ZERO,
                    appends_in_flight: 0,
                })
                .collect();
            tracing::info!(pg = id, "volume grows by a protection group");
            self.pgs.insert(
                PgId(id),
                PgState {
                    replicas,
                    tail: Lsn::ZERO,
                    tail_le_vdl: Lsn::ZERO,
                    durable: Lsn::ZERO,
                    unacked: BTreeMap::new(),
                    confirmed: false,
                },
            );
        }
    }

    fn on_scl(&mut self, pg_id: PgId, now_ms: u64) {
        let (lal, live_ms) = (self.cfg.lal, self.cfg.request_timeout_ms);
        let pg = self.pgs.get_mut(&pg_id).expect("caller checked");
        let mut scls: Vec<Lsn> = pg.replicas.iter().map(|r| r.scl).collect();
        scls.sort_unstable_by(|a, b| b.cmp(a));
        let durable = scls[WRITE_QUORUM - 1];
        if !pg.confirmed || durable <= pg.durable {
            return;
        }
        pg.durable = durable;
        pg.release(lal, now_ms.saturating_sub(live_ms));
        self.advance_vcl();
    }

    fn advance_vcl(&mut self) {
        while let Some((&lsn, &(pg, cpl))) = self.outstanding.first_key_value() {
            if self.pgs[&pg].durable < lsn {
                break;
            }
            self.outstanding.pop_first();
            assert!(
                lsn > self.vcl,
                "VCL must only grow: {lsn} after {}",
                self.vcl
            );
            self.vcl = lsn;
            self.since_vdl.push((lsn, pg));
            if cpl {
                assert!(
                    lsn > self.vdl,
                    "VDL must only grow: {lsn} after {}",
                    self.vdl
                );
                self.vdl = lsn;
                for (l, p) in self.since_vdl.drain(..) {
                    self.pgs.get_mut(&p).expect("known PG").tail_le_vdl = l;
                }
            }
        }
    }

    fn request(&mut self, to: NodeId, pg: PgId, kind: ReqKind, msg: Message, now_ms: u64) {
        let req_id = self.next_req;
        self.next_req += 1;
        if matches!(kind, ReqKind::Append) {
            if let Some(r) = self.replica_mut(pg, to) {
                r.appends_in_flight += 1;
            }
        }
        self.inflight.insert(
            req_id,
            Inflight {
                node: to,
                pg,
                kind,
                sent_ms: now_ms,
            },
        );
        self.out.push(Outgoing { to, req_id, msg });
    }

    /// Forgets request `req_id` (answered or failed), keeping its replica's
    /// count of appends in flight in step.
    fn take_inflight(&mut self, req_id: u64) -> Option<Inflight> {
        let req = self.inflight.remove(&req_id)?;
        if matches!(req.kind, ReqKind::Append) {
            if let Some(r) = self.replica_mut(req.pg, req.node) {
                r.appends_in_flight -= 1;
            }
        }
        Some(req)
    }

    fn replica_mut(&mut self, pg: PgId, node: NodeId) -> Option<&mut ReplicaState> {
        self.pgs
            .get_mut(&pg)?
            .replicas
            .iter_mut()
            .find(|r| r.info.node == node)
    }

    /// Builds every message the current state calls for.
    fn flush(&mut self, now_ms: u64) {
        if self.fenced.is_some() {
            return;
        }
        self.start_confirm(now_ms);
        let pages_per_pg = self.cluster.pages_per_pg();
        let mut sends: Vec<(NodeId, PgId, ReqKind, Message)> = Vec::new();
        for (&pg_id, pg) in self.pgs.iter_mut() {
            // Only a replica still to be created needs the list; most
            // flushes find none.
            let infos = if pg.replicas.iter().any(|r| r.phase == Phase::NeedCreate) {
                pg.replicas_info()
            } else {
                Vec::new()
            };
            for r in pg.replicas.iter_mut() {
                match r.phase {
                    Phase::NeedCreate => {
                        r.phase = Phase::Creating;
                        sends.push((
                            r.info.node,
                            pg_id,
                            ReqKind::Create,
                            Message::CreateSegment {
                                pg: pg_id,
                                pages_per_pg,
                                replicas: infos.clone(),
                            },
                        ));
                    }
                    Phase::NeedAdopt => {
                        r.phase = Phase::Adopting;
                        sends.push((
                            r.info.node,
                            pg_id,
                            ReqKind::Adopt,
                            Message::Adopt {
                                pg: pg_id,
                                history: self.history.clone(),
                            },
                        ));
                    }
                    Phase::Creating | Phase::Adopting => {}
                    Phase::Ready => {
                        let hint_due = self.vdl > r.hint_sent
                            && now_ms.saturating_sub(r.last_send_ms) >= self.cfg.heartbeat_ms;
                        if pg.tail <= r.sent_upto && !hint_due {
                            continue;
                        }
                        let room = APPENDS_IN_FLIGHT_MAX.saturating_sub(r.appends_in_flight);
                        if room == 0 {
                            // Replies will come back (or time out) and flush again.
                            continue;
                        }
                        // Split into frames under the payload limit, as many
                        // as the window has room for.
                        let from = r.sent_upto.max(r.scl);
                        let mut chunks: Vec<Vec<LogRecord>> = vec![Vec::new()];
                        let mut bytes = 0usize;
                        // Up to the PG's tail, unless the window fills first.
                        let mut sent_to = pg.tail;
                        for rec in pg.unacked.range(from.next()..).map(|(_, rec)| rec) {
                            let n = chunks.len();
                            let last = chunks.last_mut().expect("never empty");
                            if bytes + rec.encoded_len() > FRAME_PAYLOAD_MAX / 2 && !last.is_empty()
                            {
                                if n == room {
                                    sent_to = last.last().expect("not empty").lsn;
                                    break;
                                }
                                chunks.push(Vec::new());
                                bytes = 0;
                            }
                            bytes += rec.encoded_len();
                            chunks.last_mut().expect("never empty").push(rec.clone());
                        }
                        debug_assert!(chunks.len() <= room);
                        for records in chunks {
                            if records.is_empty() && !hint_due {
                                continue;
                            }
                            let msg = Message::Append {
                                pg: pg_id,
                                epoch: self.epoch,
                                vdl: self.vdl,
                                pg_tail: pg.tail_le_vdl,
                                pgmrpl: self.pgmrpl,
                                records,
                            };
                            sends.push((r.info.node, pg_id, ReqKind::Append, msg));
                        }
                        r.sent_upto = r.sent_upto.max(sent_to);
                        r.hint_sent = self.vdl;
                        r.last_send_ms = now_ms;
                    }
                }
            }
        }
        for (to, pg, kind, msg) in sends {
            self.request(to, pg, kind, msg, now_ms);
        }
    }
}

impl PgState {
    /// Drops the buffered records that are durable and were sent to every
    /// ready replica that acknowledged something since `live_since_ms`, and
    /// any durable ones more than `lal` LSNs below the durable point. A
    /// replica that is down or cut off gets what it missed by gossip.
    fn release(&mut self, lal: u64, live_since_ms: u64) {
        let sent = self
            .replicas
            .iter()
            .filter(|r| r.phase == Phase::Ready && r.last_ack_ms >= live_since_ms)
            .map(|r| r.sent_upto.max(r.scl))
            .min()
            .unwrap_or(self.durable);
        let floor = Lsn(self.durable.0.saturating_sub(lal));
        let keep_above = sent.min(self.durable).max(floor);
        self.unacked = self.unacked.split_off(&keep_above.next());
    }

    fn replicas_info(&self) -> Vec<Replica> {
        self.replicas.iter().map(|r| r.info.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn core() -> VolumeCore {
        let mut toml = String::from("segment_size = \"512KiB\"\n");
        for i in 1..=6u32 {
            let az = ["az-a", "az-b", "az-c"][(i as usize - 1) / 2];
            toml += &format!(
                "[[storage]]\nid = {i}\naddr = \"127.0.0.1:{}\"\naz = \"{az}\"\n",
                7000 + i
            );
        }
        let cluster = Cluster::parse(&toml).unwrap();
        let rec = Recovered {
            epoch: Epoch(1),
            history: vec![Truncation {
                epoch: Epoch(1),
                above: Lsn::ZERO,
            }],
            vdl: Lsn::ZERO,
            max_lsn: Lsn::ZERO,
            pgs: vec![RecoveredPg {
                pg: PgId(0),
                replicas: cluster.place(PgId(0)),
                tail: Lsn::ZERO,
                scls: Vec::new(),
                missing: Vec::new(),
            }],
        };
        VolumeCore::new(CoreConfig::default(), cluster, rec)
    }

    fn stamp(n: u8) -> Vec<(PageId, RecordBody)> {
        vec![(
            PageId(1),
            RecordBody::Delta {
                offset: 0,
                bytes: Bytes::from(vec![n]),
            },
        )]
    }

    /// Answers what a fresh core sends before it takes commits (adopting
    /// the replicas, confirming the epoch) as healthy replicas would.
    fn settle(core: &mut VolumeCore) {
        core.tick(0);
        for round in 0.. {
            assert!(round < 10, "the core never settled");
            let out = core.take_outgoing();
            if out.is_empty() {
                return;
            }
            for o in out {
                let pg = match o.msg {
                    Message::Adopt { pg, .. } | Message::Append { pg, .. } => pg,
                    other => panic!("unexpected request {other:?}"),
                };
                let scl = core.last_lsn();
                core.on_reply(o.to, o.req_id, Message::AppendAck { pg, scl }, 0);
            }
        }
    }

    /// (destination, request id, records) of each append taken out.
    fn appends(core: &mut VolumeCore) -> Vec<(NodeId, u64, usize)> {
        core.take_outgoing()
            .into_iter()
            .filter_map(|o| match o.msg {
                Message::Append { records, .. } => Some((o.to, o.req_id, records.len())),
                _ => None,
            })
            .collect()
    }

    /// Records that become durable on the four quickest replicas while the
    /// other two still work on an earlier append are still sent to those
    /// two afterwards, not left for gossip to fill.
    #[test]
    fn trailing_replicas_are_sent_what_became_durable_without_them() {
        let mut core = core();
        settle(&mut core);
        let ack = |core: &mut VolumeCore, to: NodeId, req_id: u64, scl: Lsn| {
            let reply = Message::AppendAck { pg: PgId(0), scl };
            core.on_reply(to, req_id, reply, 1);
        };
        let r1 = core.submit(stamp(1), 0).unwrap();
        let first = appends(&mut core);
        assert_eq!(first.len(), 6, "{first:?}");
        let (quick, slow) = first.split_at(WRITE_QUORUM);
        for &(to, req_id, _) in quick {
            ack(&mut core, to, req_id, r1);
        }
        let r2 = core.submit(stamp(2), 0).unwrap();
        let second = appends(&mut core);
        assert_eq!(second.len(), WRITE_QUORUM, "the slow two have no room");
        for &(to, req_id, _) in &second {
            ack(&mut core, to, req_id, r2);
        }
        assert_eq!(core.vdl(), r2, "r2 is durable on the quick four");
        for &(to, req_id, _) in slow {
            ack(&mut core, to, req_id, r1);
        }
        let mut third = appends(&mut core);
        third.sort();
        let mut want: Vec<(NodeId, u64, usize)> =
            slow.iter().map(|&(to, _, _)| (to, 0, 1)).collect();
        want.sort();
        assert_eq!(
            third
                .iter()
                .map(|&(to, _, n)| (to, 0, n))
                .collect::<Vec<_>>(),
            want,
            "each slow replica is sent r2"
        );
    }

    /// While a replica's append awaits its reply, later commits wait in the
    /// PG's buffer and go to that replica together, in one append, once
    /// the reply is in.
    #[test]
    fn commits_behind_an_append_in_flight_go_as_one_append() {
        let mut core = core();
        settle(&mut core);
        let first_lsn = core.submit(stamp(1), 0).unwrap();
        let first = appends(&mut core);
        assert_eq!(first.len(), 6, "{first:?}");
        assert!(first.iter().all(|(_, _, n)| *n == 1), "{first:?}");

        for n in 2..=5 {
            core.submit(stamp(n), 0).unwrap();
        }
        assert_eq!(appends(&mut core), Vec::new(), "sent past the limit");

        let (node, req_id, _) = first[0];
        core.on_reply(
            node,
            req_id,
            Message::AppendAck {
                pg: PgId(0),
                scl: first_lsn,
            },
            1,
        );
        let next = appends(&mut core);
        assert_eq!(
            next,
            vec![(node, next[0].1, 4)],
            "one append of the four waiting"
        );
    }
}

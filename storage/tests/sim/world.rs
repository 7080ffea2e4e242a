//! The simulated world: event queue, network, faults, writers, recoveries,
//! workload and checkers.
//!
//! One run is a pure function of its seed. The seed first picks the run's
//! options (cluster size, fault rates, workload), then drives every decision
//! in event order. Events sit in a queue ordered by `(time, seq)`; handling one
//! may schedule others. The run has two phases: a *fault* phase with message
//! loss, duplication, reordering, partitions, node crashes and writer crashes
//! (with zombies), then a *heal* phase with no new faults, in which some
//! writer must get a fresh MTR acknowledged (liveness).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;

use bytes::Bytes;
use sextant_storage::cluster::{Cluster, WRITE_QUORUM};
use sextant_storage::segment::PageRead;
use sextant_storage::types::{Epoch, Lsn, NodeId, PageId, PgId, RecordBody, PAGE_SIZE};
use sextant_storage::volume::core::{CoreConfig, Recovered, SubmitError, VolumeCore};
use sextant_storage::volume::recovery::{Recovery, RecoveryError};
use sextant_storage::wire::Message;

use crate::model::{Model, Mtr};
use crate::node::{Addr, Node, NodeStats};
use crate::rng::Rng;

/// How often clients (writers and recoveries) get a `tick`, as the tokio
/// driver's ticker does.
const CLIENT_TICK_MS: u64 = 10;
/// Lines of event trace kept for a failure report, unless the environment
/// variable `SIM_TRACE_LINES` asks for more (when replaying one seed).
const TRACE_LINES_DEFAULT: usize = 600;
/// Events one run may handle; a run that needs more is itself a failure
/// (something is spinning).
const EVENTS_MAX: u64 = 2_000_000;
/// Segment size of the simulated cluster: 64 pages per PG.
const SEGMENT_SIZE: &str = "512KiB";

/// Outcome of a failed run.
pub struct Failure {
    pub seed: u64,
    pub message: String,
    pub trace: Vec<String>,
    pub summary: String,
}

/// Knobs of one run, drawn from the seed.
#[derive(Clone, Debug)]
pub struct Opts {
    pub nodes: usize,
    pub pgs_max: u32,
    pub hot_pages: u64,
    pub grow_every_ms: u64,
    pub fault_ms: u64,
    pub heal_ms: u64,
    pub delay_ms: (u64, u64),
    pub loss: f64,
    pub dup: f64,
    pub fsync_ms: (u64, u64),
    pub fault_every_ms: (u64, u64),
    pub node_crash_p: f64,
    pub down_max: usize,
    pub restart_ms: (u64, u64),
    pub torn_writes: bool,
    pub partition_p: f64,
    pub partition_ms: (u64, u64),
    pub writer_crash_p: f64,
    pub zombie_p: f64,
    pub zombie_cut_p: f64,
    pub zombie_ms: (u64, u64),
    pub racing_recovery_p: f64,
    pub failover_ms: (u64, u64),
    pub submit_every_ms: (u64, u64),
    pub read_p: f64,
    pub gossip_ms: (u64, u64),
    pub reply_bytes_max: usize,
    pub lal: u64,
}

impl Opts {
    fn draw(rng: &mut Rng) -> Opts {
        // Some seeds are calm, some stormy: a mix finds both slow-burning
        // and fault-heavy bugs. A quarter are failover storms: writers and
        // recoveries crash often, abandoned recoveries race on, and zombies
        // keep reaching some nodes; superseded recoveries' truncations came
        // out only there.
        let storm = rng.range(0, 3) as f64 / 3.0;
        let failovers = rng.chance(0.25);
        let nodes = if rng.chance(0.75) {
            6
        } else {
            rng.range(7, 9) as usize
        };
        Opts {
            nodes,
            pgs_max: rng.range(2, 3) as u32,
            hot_pages: rng.range(3, 10),
            grow_every_ms: rng.range(50, 1500),
            fault_ms: rng.range(2500, 4000),
            heal_ms: 20_000,
            delay_ms: (rng.range(0, 2), rng.range(5, 40)),
            loss: storm * 0.08,
            dup: storm * 0.05,
            fsync_ms: (1, rng.range(2, 20)),
            fault_every_ms: (20, rng.range(100, 400)),
            node_crash_p: 0.05 + storm * 0.2,
            down_max: rng.range(1, 3) as usize,
            restart_ms: (20, rng.range(100, 1500)),
            torn_writes: rng.chance(0.5),
            partition_p: 0.03 + storm * 0.15,
            partition_ms: (20, rng.range(100, 1500)),
            writer_crash_p: if failovers {
                0.1 + storm * 0.3
            } else {
                0.02 + storm * 0.12
            },
            zombie_p: if failovers { 0.9 } else { 0.6 },
            zombie_cut_p: if failovers { 0.95 } else { 0.5 },
            zombie_ms: (50, rng.range(200, 2000)),
            racing_recovery_p: if failovers { 0.9 } else { 0.3 },
            failover_ms: (0, rng.range(5, 300)),
            submit_every_ms: (1, rng.range(5, 30)),
            read_p: 0.3,
            gossip_ms: (20, rng.range(40, 200)),
            reply_bytes_max: if rng.chance(0.5) {
                rng.range(100, 2000) as usize
            } else {
                usize::MAX
            },
            lal: rng.range(8, 200),
        }
    }
}

#[derive(Debug)]
enum Event {
    Deliver {
        from: Addr,
        to: Addr,
        req_id: u64,
        msg: Message,
    },
    FsyncDone {
        node: NodeId,
        incarnation: u64,
    },
    NodeTick {
        node: NodeId,
        incarnation: u64,
    },
    NodeRestart {
        node: NodeId,
    },
    ClientTick,
    Workload,
    Fault,
    ConnFail {
        client: u32,
        req_id: u64,
    },
    PartitionEnd {
        id: u64,
    },
    StartRecovery,
    Heal,
}

/// One line of the event trace.
enum Trace {
    Text(String),
    Msg {
        from: Label,
        to: Label,
        req_id: u64,
        msg: Message,
    },
}

/// An endpoint as the trace names it.
#[derive(Clone, Copy)]
enum Label {
    Addr(Addr),
    Writer(usize),
    Recovery(usize),
    Reader(usize),
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Addr(Addr::Node(n)) => write!(f, "n{n}"),
            Label::Addr(Addr::Client(c)) => write!(f, "c{c}"),
            Label::Writer(w) => write!(f, "w{w}"),
            Label::Recovery(r) => write!(f, "r{r}"),
            Label::Reader(w) => write!(f, "reader of w{w}"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum ClientRef {
    Writer(usize),
    Recovery(usize),
    Reader,
}

/// A writer: one `VolumeCore`, from one completed recovery.
struct Writer {
    client: u32,
    reader: u32,
    /// `None` once the process is gone.
    core: Option<VolumeCore>,
    epoch: Epoch,
    recovered_vdl: Lsn,
    /// Set when the writer is deposed (crashed but still running, or
    /// superseded): it runs until then.
    zombie_until: Option<u64>,
    /// Global MTR ids, in submission order.
    mtrs: Vec<usize>,
    /// MTRs acknowledged: a prefix of `mtrs`.
    acked: usize,
    /// MTRs in the model: a prefix of `mtrs`.
    in_model: usize,
    /// Set when the next recovery completes: how many of `mtrs` it kept.
    kept: Option<usize>,
    vdl: Lsn,
    /// Requests in flight, so a node crash can fail them as a broken
    /// connection would.
    inflight: HashMap<u64, (NodeId, u64)>,
}

struct Rec {
    client: u32,
    rec: Recovery,
    alive: bool,
}

struct ReadReq {
    page: PageId,
    lsn: Lsn,
    writer: usize,
    node: NodeId,
}

struct Partition {
    id: u64,
    nodes: BTreeSet<NodeId>,
    /// Cut these nodes from clients (all of them, or only these).
    cut_clients: bool,
    clients: Option<BTreeSet<u32>>,
    /// Cut these nodes from the other nodes.
    cut_peers: bool,
}

/// Counters for the run summary.
#[derive(Default, Debug, Clone)]
pub struct Stats {
    pub events: u64,
    pub messages: u64,
    pub dropped: u64,
    pub submitted: u64,
    pub acked: u64,
    pub backpressure: u64,
    pub recoveries_started: u64,
    pub recoveries_done: u64,
    pub superseded: u64,
    pub node_crashes: u64,
    pub writer_crashes: u64,
    pub zombies: u64,
    pub zombie_submits: u64,
    pub partitions: u64,
    pub reads_checked: u64,
    pub reads_other: u64,
    pub pages_checked: u64,
    pub invalid_replies: u64,
    pub end_ms: u64,
}

/// The world of one run.
pub struct World {
    rng: Rng,
    pub opts: Opts,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Event>,
    cluster: Cluster,
    core_cfg: CoreConfig,
    nodes: BTreeMap<NodeId, Node>,
    partitions: Vec<Partition>,
    next_partition: u64,
    writers: Vec<Writer>,
    recoveries: Vec<Rec>,
    clients: HashMap<u32, ClientRef>,
    next_client: u32,
    used_nonces: BTreeSet<u16>,
    active_writer: Option<usize>,
    active_recovery: Option<usize>,
    /// The writer of the latest completed recovery: the model follows it.
    latest: Option<usize>,
    /// `(epoch, vdl)` of every completed recovery, in completion order.
    completed: Vec<(Epoch, Lsn)>,
    mtrs: Vec<Mtr>,
    model: Model,
    reads: HashMap<(u32, u64), ReadReq>,
    next_read: u64,
    healed_at: Option<u64>,
    live_at: Option<u64>,
    loss: f64,
    dup: f64,
    trace: VecDeque<(u64, Trace)>,
    trace_lines_max: usize,
    pub stats: Stats,
}

type Check = Result<(), String>;

fn ep(e: Epoch) -> String {
    format!("{}.{}", e.0 >> 16, e.0 & 0xFFFF)
}

fn describe(m: &Message) -> String {
    match m {
        Message::CreateSegment { pg, .. } => format!("CreateSegment pg{pg}"),
        Message::Append {
            pg,
            epoch,
            vdl,
            pg_tail,
            records,
            ..
        } => {
            let lsns: Vec<u64> = records.iter().map(|r| r.lsn.0).collect();
            format!(
                "Append pg{pg} e{} vdl{vdl} tail{pg_tail} recs{lsns:?}",
                ep(*epoch)
            )
        }
        Message::Adopt { pg, history } => {
            let h: Vec<String> = history
                .iter()
                .map(|t| format!("{}@{}", ep(t.epoch), t.above))
                .collect();
            format!("Adopt pg{pg} [{}]", h.join(" "))
        }
        Message::GetPage {
            pg,
            page,
            lsn,
            epoch,
        } => format!("GetPage pg{pg} page{page} @{lsn} e{epoch}"),
        Message::SetEpoch { pg, epoch } => format!("SetEpoch pg{pg} e{}", ep(*epoch)),
        Message::ReadLog { pg, after, .. } => format!("ReadLog pg{pg} after{after}"),
        Message::Truncate { pg, epoch, above } => {
            format!("Truncate pg{pg} e{} above{above}", ep(*epoch))
        }
        Message::ListSegments => "ListSegments".into(),
        Message::GossipPull { pg, scl, .. } => format!("GossipPull pg{pg} scl{scl}"),
        Message::Ok => "Ok".into(),
        Message::AppendAck { pg, scl } => format!("AppendAck pg{pg} scl{scl}"),
        Message::Page { lsn, .. } => format!("Page @{lsn}"),
        Message::NotYet { scl } => format!("NotYet scl{scl}"),
        Message::TooOld { horizon } => format!("TooOld horizon{horizon}"),
        Message::EpochSet {
            scl,
            hint_vdl,
            max_lsn,
            history,
        } => {
            let h: Vec<String> = history
                .iter()
                .map(|t| format!("{}@{}", ep(t.epoch), t.above))
                .collect();
            format!(
                "EpochSet scl{scl} hint{hint_vdl} max{max_lsn} [{}]",
                h.join(" ")
            )
        }
        Message::Log {
            tail,
            scl,
            records,
            more,
        } => {
            let lsns: Vec<String> = records
                .iter()
                .map(|r| format!("{}/{}", r.lsn, ep(r.epoch)))
                .collect();
            format!(
                "Log tail{tail} scl{scl} recs[{}] more={more}",
                lsns.join(" ")
            )
        }
        Message::Segments(infos) => {
            let s: Vec<String> = infos
                .iter()
                .map(|i| format!("pg{}/e{}/scl{}", i.pg, ep(i.epoch), i.scl))
                .collect();
            format!("Segments [{}]", s.join(" "))
        }
        Message::GossipPush {
            scl,
            hint_vdl,
            records,
            more,
            ..
        } => {
            format!(
                "GossipPush scl{scl} hint{hint_vdl} recs{} more={more}",
                records.len()
            )
        }
        Message::Error {
            code,
            epoch,
            message,
        } => format!("Error {code:?} e{} {message}", ep(*epoch)),
    }
}

impl World {
    pub fn new(seed: u64) -> World {
        let mut rng = Rng::new(seed);
        let opts = Opts::draw(&mut rng);
        let cluster =
            Cluster::parse(&cluster_toml(opts.nodes)).expect("generated cluster file is valid");
        let core_cfg = CoreConfig {
            lal: opts.lal,
            resend_ms: 80,
            heartbeat_ms: 40,
            request_timeout_ms: 300,
        };
        let nodes = cluster
            .nodes
            .keys()
            .map(|id| {
                let mut n = Node::new(*id);
                n.reply_bytes_max = opts.reply_bytes_max;
                (*id, n)
            })
            .collect();
        let mut w = World {
            rng,
            loss: opts.loss,
            dup: opts.dup,
            opts,
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            cluster,
            core_cfg,
            nodes,
            partitions: Vec::new(),
            next_partition: 1,
            writers: Vec::new(),
            recoveries: Vec::new(),
            clients: HashMap::new(),
            next_client: 1,
            used_nonces: BTreeSet::new(),
            active_writer: None,
            active_recovery: None,
            latest: None,
            completed: Vec::new(),
            mtrs: Vec::new(),
            model: Model::default(),
            reads: HashMap::new(),
            next_read: 1,
            healed_at: None,
            live_at: None,
            trace: VecDeque::new(),
            trace_lines_max: std::env::var("SIM_TRACE_LINES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(TRACE_LINES_DEFAULT),
            stats: Stats::default(),
        };
        w.schedule(0, Event::StartRecovery);
        w.schedule(0, Event::ClientTick);
        w.schedule(1, Event::Workload);
        let first_fault = w
            .rng
            .range(w.opts.fault_every_ms.0, w.opts.fault_every_ms.1);
        w.schedule(first_fault, Event::Fault);
        w.schedule(w.opts.fault_ms, Event::Heal);
        let ids: Vec<NodeId> = w.nodes.keys().copied().collect();
        for node in ids {
            let at = w.rng.range(1, w.opts.gossip_ms.1);
            w.schedule(
                at,
                Event::NodeTick {
                    node,
                    incarnation: 0,
                },
            );
        }
        w
    }

    fn schedule(&mut self, delay_ms: u64, ev: Event) {
        self.seq += 1;
        self.queue.insert((self.now + delay_ms, self.seq), ev);
    }

    fn tr(&mut self, line: String) {
        self.push_trace(Trace::Text(line));
    }

    /// Traces a delivered message; formatted only if a report is printed,
    /// which saves a fifth of a debug run.
    fn tr_msg(&mut self, from: Label, to: Label, req_id: u64, msg: &Message) {
        self.push_trace(Trace::Msg {
            from,
            to,
            req_id,
            msg: msg.clone(),
        });
    }

    fn push_trace(&mut self, t: Trace) {
        if self.trace.len() >= self.trace_lines_max {
            self.trace.pop_front();
        }
        self.trace.push_back((self.now, t));
    }

    pub fn trace_lines(&self) -> Vec<String> {
        self.trace
            .iter()
            .map(|(at, t)| match t {
                Trace::Text(line) => format!("{at:>6}ms {line}"),
                Trace::Msg {
                    from,
                    to,
                    req_id,
                    msg,
                } => {
                    format!("{at:>6}ms {from} -> {to} #{req_id} {}", describe(msg))
                }
            })
            .collect()
    }

    pub fn summary(&self) -> String {
        let mut s = format!("{:?}\n{:?}\n", self.opts, self.stats);
        let mut ns = NodeStats::default();
        for n in self.nodes.values() {
            ns.fsyncs += n.stats.fsyncs;
            ns.gossip_filled += n.stats.gossip_filled;
            ns.materialized += n.stats.materialized;
            ns.collected += n.stats.collected;
            ns.compactions += n.stats.compactions;
        }
        let _ = write!(
            s,
            "{ns:?}\ncompleted recoveries (epoch, vdl): {:?}\nmodel records: {}",
            self.completed
                .iter()
                .map(|(e, v)| (ep(*e), v.0))
                .collect::<Vec<_>>(),
            self.model.record_count()
        );
        s
    }

    /// Runs to the end. `Err` is a checker failure.
    pub fn run(&mut self) -> Check {
        let end = self.opts.fault_ms + self.opts.heal_ms;
        while let Some(((at, _), ev)) = self.queue.pop_first() {
            if at > end {
                break;
            }
            self.now = at;
            self.stats.events += 1;
            if self.stats.events > EVENTS_MAX {
                return Err(format!("more than {EVENTS_MAX} events: something spins"));
            }
            self.dispatch(ev)?;
            if self.live_at.is_some() {
                break;
            }
        }
        self.stats.end_ms = self.now;
        match (self.healed_at, self.live_at) {
            (Some(_), Some(_)) => Ok(()),
            (Some(h), None) => Err(format!(
                "liveness: no MTR submitted after healing at {h}ms was acknowledged by {}ms",
                h + self.opts.heal_ms
            )),
            (None, _) => Err("run ended before healing".into()),
        }
    }

    fn dispatch(&mut self, ev: Event) -> Check {
        match ev {
            Event::Deliver {
                from,
                to,
                req_id,
                msg,
            } => self.deliver(from, to, req_id, msg)?,
            Event::FsyncDone { node, incarnation } => {
                let n = self.nodes.get_mut(&node).expect("known node");
                if !n.up || n.incarnation != incarnation {
                    return Ok(());
                }
                let replies = n.complete_fsync();
                for (to, req_id, msg) in replies {
                    self.send(Addr::Node(node), to, req_id, msg);
                }
                self.maybe_fsync(node);
            }
            Event::NodeTick { node, incarnation } => {
                let n = self.nodes.get_mut(&node).expect("known node");
                if !n.up || n.incarnation != incarnation {
                    return Ok(());
                }
                let now = self.now;
                let pulls = n.background(now, &mut self.rng);
                for (to, req_id, msg) in pulls {
                    self.send(Addr::Node(node), Addr::Node(to), req_id, msg);
                }
                self.maybe_fsync(node);
                let next = self.rng.range(self.opts.gossip_ms.0, self.opts.gossip_ms.1);
                self.schedule(next, Event::NodeTick { node, incarnation });
            }
            Event::NodeRestart { node } => {
                let n = self.nodes.get_mut(&node).expect("known node");
                if n.up {
                    return Ok(());
                }
                n.restart();
                let incarnation = n.incarnation;
                let scls: Vec<String> = n
                    .live
                    .iter()
                    .map(|(pg, l)| format!("pg{pg}:{}", l.seg.scl()))
                    .collect();
                self.tr(format!("node {node} restarts [{}]", scls.join(" ")));
                self.schedule(1, Event::NodeTick { node, incarnation });
            }
            Event::ClientTick => {
                self.client_tick()?;
                self.schedule(CLIENT_TICK_MS, Event::ClientTick);
            }
            Event::Workload => {
                self.workload()?;
                let next = self
                    .rng
                    .range(self.opts.submit_every_ms.0, self.opts.submit_every_ms.1);
                self.schedule(next, Event::Workload);
            }
            Event::Fault => {
                if self.healed_at.is_none() {
                    self.fault()?;
                    let next = self
                        .rng
                        .range(self.opts.fault_every_ms.0, self.opts.fault_every_ms.1);
                    self.schedule(next, Event::Fault);
                }
            }
            Event::ConnFail { client, req_id } => {
                if let Some(ClientRef::Writer(w)) = self.clients.get(&client).copied() {
                    let wr = &mut self.writers[w];
                    if wr.inflight.remove(&req_id).is_some() {
                        if let Some(core) = wr.core.as_mut() {
                            core.on_failure(req_id, self.now);
                            self.pump_writer(w)?;
                        }
                    }
                }
            }
            Event::PartitionEnd { id } => {
                self.partitions.retain(|p| p.id != id);
                self.tr(format!("partition {id} heals"));
            }
            Event::StartRecovery => self.start_recovery()?,
            Event::Heal => self.heal()?,
        }
        Ok(())
    }

    // ---- network ----

    fn blocked(&self, a: Addr, b: Addr) -> bool {
        self.partitions.iter().any(|p| match (a, b) {
            (Addr::Node(x), Addr::Node(y)) => {
                p.cut_peers && p.nodes.contains(&x) != p.nodes.contains(&y)
            }
            (Addr::Node(n), Addr::Client(c)) | (Addr::Client(c), Addr::Node(n)) => {
                p.cut_clients
                    && p.nodes.contains(&n)
                    && p.clients.as_ref().is_none_or(|cs| cs.contains(&c))
            }
            (Addr::Client(_), Addr::Client(_)) => false,
        })
    }

    fn send(&mut self, from: Addr, to: Addr, req_id: u64, msg: Message) {
        self.stats.messages += 1;
        if self.blocked(from, to) || self.rng.chance(self.loss) {
            self.stats.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.dup) { 2 } else { 1 };
        for i in 0..copies {
            let delay = self.rng.range(self.opts.delay_ms.0, self.opts.delay_ms.1);
            let _ = i;
            self.schedule(
                delay,
                Event::Deliver {
                    from,
                    to,
                    req_id,
                    msg: msg.clone(),
                },
            );
        }
    }

    fn deliver(&mut self, from: Addr, to: Addr, req_id: u64, msg: Message) -> Check {
        if self.blocked(from, to) {
            self.stats.dropped += 1;
            return Ok(());
        }
        match to {
            Addr::Node(n) => {
                if !self.nodes[&n].up {
                    self.stats.dropped += 1;
                    return Ok(());
                }
                self.tr_msg(Label::Addr(from), Label::Addr(to), req_id, &msg);
                if matches!(msg, Message::GossipPush { .. } | Message::Error { .. }) {
                    let Addr::Node(peer) = from else {
                        return Ok(());
                    };
                    let now = self.now;
                    let next = self
                        .nodes
                        .get_mut(&n)
                        .expect("known")
                        .handle_gossip_reply(now, peer, req_id, msg)?;
                    if let Some((peer, req, pull)) = next {
                        self.send(to, Addr::Node(peer), req, pull);
                    }
                } else {
                    let now = self.now;
                    let reply = self
                        .nodes
                        .get_mut(&n)
                        .expect("known")
                        .handle_request(now, from, req_id, msg);
                    if let Some(reply) = reply {
                        self.send(to, from, req_id, reply);
                    }
                }
                self.maybe_fsync(n);
            }
            Addr::Client(c) => {
                let Addr::Node(node) = from else {
                    return Ok(());
                };
                let Some(client) = self.clients.get(&c).copied() else {
                    return Ok(());
                };
                match client {
                    ClientRef::Writer(w) => {
                        if self.writers[w].core.is_none() {
                            return Ok(());
                        }
                        self.tr_msg(Label::Addr(from), Label::Writer(w), req_id, &msg);
                        if matches!(
                            msg,
                            Message::Error {
                                code: sextant_storage::wire::ErrorCode::Invalid,
                                ..
                            }
                        ) {
                            self.stats.invalid_replies += 1;
                        }
                        let now = self.now;
                        let wr = &mut self.writers[w];
                        wr.inflight.remove(&req_id);
                        wr.core
                            .as_mut()
                            .expect("checked")
                            .on_reply(node, req_id, msg, now);
                        self.pump_writer(w)?;
                    }
                    ClientRef::Recovery(r) => {
                        if !self.recoveries[r].alive {
                            return Ok(());
                        }
                        self.tr_msg(Label::Addr(from), Label::Recovery(r), req_id, &msg);
                        let now = self.now;
                        self.recoveries[r].rec.on_reply(node, req_id, msg, now);
                        self.pump_recovery(r)?;
                    }
                    ClientRef::Reader => self.check_read(c, node, req_id, msg)?,
                }
            }
        }
        Ok(())
    }

    fn maybe_fsync(&mut self, node: NodeId) {
        let n = self.nodes.get_mut(&node).expect("known node");
        if n.up && n.start_fsync() {
            let incarnation = n.incarnation;
            let d = self.rng.range(self.opts.fsync_ms.0, self.opts.fsync_ms.1);
            self.schedule(d, Event::FsyncDone { node, incarnation });
        }
    }

    fn new_client(&mut self, r: ClientRef) -> u32 {
        let c = self.next_client;
        self.next_client += 1;
        self.clients.insert(c, r);
        c
    }

    // ---- clients ----

    fn client_tick(&mut self) -> Check {
        let now = self.now;
        for w in 0..self.writers.len() {
            let wr = &mut self.writers[w];
            let Some(core) = wr.core.as_mut() else {
                continue;
            };
            if wr.zombie_until.is_some_and(|t| t <= now) {
                wr.core = None;
                wr.inflight.clear();
                self.tr(format!("zombie writer w{w} stops"));
                continue;
            }
            core.tick(now);
            let timeout = self.core_cfg.request_timeout_ms;
            wr.inflight
                .retain(|_, (_, sent)| now.saturating_sub(*sent) < 2 * timeout);
            self.pump_writer(w)?;
        }
        for r in 0..self.recoveries.len() {
            if self.recoveries[r].alive {
                self.recoveries[r].rec.tick(now);
                self.pump_recovery(r)?;
            }
        }
        Ok(())
    }

    fn start_recovery(&mut self) -> Check {
        if self.active_writer.is_some() || self.active_recovery.is_some() {
            return Ok(());
        }
        let nonce = loop {
            let n = self.rng.next_u64() as u16;
            if self.used_nonces.insert(n) {
                break n;
            }
        };
        let idx = self.recoveries.len();
        let client = self.new_client(ClientRef::Recovery(idx));
        let rec = Recovery::new(self.cluster.clone(), nonce, self.now, 300, 150);
        self.recoveries.push(Rec {
            client,
            rec,
            alive: true,
        });
        self.active_recovery = Some(idx);
        self.stats.recoveries_started += 1;
        self.tr(format!("recovery r{idx} starts (nonce {nonce})"));
        self.pump_recovery(idx)
    }

    fn pump_recovery(&mut self, r: usize) -> Check {
        let client = self.recoveries[r].client;
        let outs = self.recoveries[r].rec.take_outgoing();
        for o in outs {
            self.send(Addr::Client(client), Addr::Node(o.to), o.req_id, o.msg);
        }
        let Some(result) = self.recoveries[r].rec.take_result() else {
            return Ok(());
        };
        self.recoveries[r].alive = false;
        match result {
            Ok(rec) => self.recovery_done(r, rec),
            Err(RecoveryError::Superseded(e)) => {
                self.stats.superseded += 1;
                self.tr(format!("recovery r{r} superseded by epoch {}", ep(e)));
                if self.active_recovery == Some(r) {
                    self.active_recovery = None;
                    let d = self
                        .rng
                        .range(self.opts.failover_ms.0, self.opts.failover_ms.1);
                    self.schedule(d, Event::StartRecovery);
                }
                Ok(())
            }
            Err(e) => Err(format!("recovery r{r} failed: {e}")),
        }
    }

    fn pump_writer(&mut self, w: usize) -> Check {
        let now = self.now;
        let wr = &mut self.writers[w];
        let Some(core) = wr.core.as_mut() else {
            return Ok(());
        };
        let outs = core.take_outgoing();
        let vdl = core.vdl();
        let fenced = core.fenced();
        let client = wr.client;
        for o in &outs {
            wr.inflight.insert(o.req_id, (o.to, now));
        }
        for o in outs {
            self.send(Addr::Client(client), Addr::Node(o.to), o.req_id, o.msg);
        }
        if vdl != self.writers[w].vdl {
            self.on_vdl(w, vdl)?;
        }
        if let Some(e) = fenced {
            if self.active_writer == Some(w) {
                self.tr(format!(
                    "writer w{w} learns it is fenced by epoch {}",
                    ep(e)
                ));
                self.active_writer = None;
                // It stays up a little: replies in flight may still move its VDL.
                self.writers[w].zombie_until = Some(now + 200);
                let d = self
                    .rng
                    .range(self.opts.failover_ms.0, self.opts.failover_ms.1);
                self.schedule(d, Event::StartRecovery);
            }
        }
        Ok(())
    }

    // ---- checkers ----

    /// Checker (b) and (c): a writer's VDL moved.
    fn on_vdl(&mut self, w: usize, vdl: Lsn) -> Check {
        let wr = &self.writers[w];
        let epoch = wr.epoch;
        if vdl < wr.vdl {
            return Err(format!(
                "writer w{w} (epoch {}): VDL went back from {} to {vdl}",
                ep(epoch),
                wr.vdl
            ));
        }
        let from = wr.acked;
        let mut acked = wr.acked;
        while acked < wr.mtrs.len() && self.mtrs[wr.mtrs[acked]].commit <= vdl {
            acked += 1;
        }
        if acked == from || self.mtrs[wr.mtrs[acked - 1]].commit != vdl {
            return Err(format!(
                "writer w{w} (epoch {}): VDL {vdl} is not the commit LSN of one of its MTRs",
                ep(epoch)
            ));
        }
        let line = format!("writer w{w} (epoch {}) VDL {} -> {vdl}", ep(epoch), wr.vdl);
        self.tr(line);
        let wr = &self.writers[w];
        // (b) Every record now acknowledged is durable on a write quorum.
        for &m in &wr.mtrs[from..acked] {
            let mtr = &self.mtrs[m];
            for (lsn, page, _) in mtr.records() {
                let pg = page.pg(self.cluster.pages_per_pg());
                let holders = self
                    .nodes
                    .values()
                    .filter(|n| n.disk.get(&pg).is_some_and(|d| d.holds(lsn, mtr.epoch)))
                    .count();
                if holders < WRITE_QUORUM {
                    return Err(format!(
                        "writer w{w} (epoch {}): VDL {vdl} passes record {lsn} (PG {pg}) that only {holders} \
                         replicas hold durably",
                        ep(epoch)
                    ));
                }
            }
        }
        let now = self.now;
        let wr = &mut self.writers[w];
        wr.vdl = vdl;
        wr.acked = acked;
        self.stats.acked += (acked - from) as u64;
        if let Some(kept) = wr.kept {
            // (c) A later epoch exists: this writer is deposed, and whatever
            // it acknowledges must be in what that epoch's recovery kept.
            if acked > kept {
                let m = &self.mtrs[wr.mtrs[kept]];
                return Err(format!(
                    "deposed writer w{w} (epoch {}) acknowledged the MTR committing at {} after a later \
                     recovery kept only {kept} of its MTRs (completed recoveries: {:?})",
                    ep(epoch),
                    m.commit,
                    self.completed.iter().map(|(e, v)| (ep(*e), v.0)).collect::<Vec<_>>()
                ));
            }
        } else {
            for i in wr.in_model..acked {
                self.model.add(&self.mtrs[wr.mtrs[i]]);
            }
            wr.in_model = wr.in_model.max(acked);
        }
        if let Some(h) = self.healed_at {
            if self.live_at.is_none()
                && self.writers[w].mtrs[from..acked]
                    .iter()
                    .any(|&m| self.mtrs[m].submitted_ms >= h)
            {
                self.live_at = Some(now);
                self.tr(format!(
                    "liveness: an MTR submitted after healing is acknowledged by w{w}"
                ));
            }
        }
        Ok(())
    }

    /// Checker (a): a recovery completed.
    fn recovery_done(&mut self, r: usize, rec: Recovered) -> Check {
        let epoch = rec.epoch;
        let vdl = rec.vdl;
        self.stats.recoveries_done += 1;
        self.tr(format!(
            "recovery r{r} done: epoch {} vdl {vdl} max_lsn {} pgs {}",
            ep(epoch),
            rec.max_lsn,
            rec.pgs.len()
        ));
        if let Some(p) = self.latest {
            let pw = &self.writers[p];
            if epoch <= pw.epoch {
                return Err(format!(
                    "recovery r{r} opened epoch {} after epoch {} had already completed",
                    ep(epoch),
                    ep(pw.epoch)
                ));
            }
            if vdl < pw.recovered_vdl {
                return Err(format!(
                    "recovery r{r} (epoch {}) recovered VDL {vdl}, below the previous epoch's {}",
                    ep(epoch),
                    pw.recovered_vdl
                ));
            }
            // The new chain is the previous epoch's chain plus a prefix of
            // its writer's MTRs, in submission order and whole.
            let kept = if vdl == pw.recovered_vdl {
                0
            } else {
                match pw.mtrs.iter().position(|&m| self.mtrs[m].commit == vdl) {
                    Some(i) => i + 1,
                    None => {
                        return Err(format!(
                            "recovery r{r} (epoch {}) recovered VDL {vdl}, which is not the commit LSN of any \
                             MTR of epoch {} (recovered at {}, MTR commits {:?}): a partial MTR or foreign \
                             records",
                            ep(epoch),
                            ep(pw.epoch),
                            pw.recovered_vdl,
                            pw.mtrs.iter().map(|&m| self.mtrs[m].commit.0).collect::<Vec<_>>()
                        ))
                    }
                }
            };
            if pw.acked > kept {
                let lost = &self.mtrs[pw.mtrs[kept]];
                return Err(format!(
                    "recovery r{r} (epoch {}) recovered VDL {vdl} and lost the acknowledged MTR committing at {} \
                     of epoch {} (its writer's VDL is {})",
                    ep(epoch),
                    lost.commit,
                    ep(pw.epoch),
                    pw.vdl
                ));
            }
            let in_model = pw.in_model;
            let mtrs = pw.mtrs.clone();
            for &m in &mtrs[in_model.min(kept)..kept] {
                self.model.add(&self.mtrs[m]);
            }
            let pw = &mut self.writers[p];
            pw.in_model = pw.in_model.max(kept);
            pw.kept = Some(kept);
        } else if vdl != Lsn::ZERO {
            return Err(format!(
                "first recovery r{r} recovered VDL {vdl} on an empty volume"
            ));
        }
        let last = rec.history.last().copied();
        if last.is_none_or(|t| t.epoch != epoch || t.above != vdl) {
            return Err(format!(
                "recovery r{r}: history {:?} does not end at ({}, {vdl})",
                rec.history,
                ep(epoch)
            ));
        }
        self.check_recovered_state(r, &rec)?;
        self.completed.push((epoch, vdl));

        let core = VolumeCore::new(self.core_cfg.clone(), self.cluster.clone(), rec);
        let w = self.writers.len();
        let client = self.new_client(ClientRef::Writer(w));
        let reader = self.new_client(ClientRef::Reader);
        self.writers.push(Writer {
            client,
            reader,
            core: Some(core),
            epoch,
            recovered_vdl: vdl,
            zombie_until: None,
            mtrs: Vec::new(),
            acked: 0,
            in_model: 0,
            kept: None,
            vdl,
            inflight: HashMap::new(),
        });
        if let Some(old) = self.active_writer {
            if self.writers[old].core.is_some() && self.writers[old].zombie_until.is_none() {
                let life = self.rng.range(self.opts.zombie_ms.0, self.opts.zombie_ms.1);
                self.writers[old].zombie_until = Some(self.now + life);
                self.stats.zombies += 1;
            }
        }
        self.active_writer = Some(w);
        self.latest = Some(w);
        if self.active_recovery == Some(r) {
            self.active_recovery = None;
        }
        self.tr(format!(
            "writer w{w} starts at epoch {} vdl {vdl}",
            ep(epoch)
        ));
        self.pump_writer(w)
    }

    /// After a recovery: a write quorum of every PG durably holds the
    /// recovered prefix under the new epoch, and every replica that knows the
    /// new epoch serves the model's pages at the recovered VDL.
    fn check_recovered_state(&mut self, r: usize, rec: &Recovered) -> Check {
        let ppp = self.cluster.pages_per_pg();
        let vdl = rec.vdl;
        let known: BTreeSet<PgId> = rec.pgs.iter().map(|p| p.pg).collect();
        for page in self.model.pages() {
            if !known.contains(&page.pg(ppp)) {
                return Err(format!(
                    "recovery r{r} (epoch {}) does not know PG {}, which holds committed page {page}",
                    ep(rec.epoch),
                    page.pg(ppp)
                ));
            }
        }
        for p in &rec.pgs {
            let pages = self.model.pages_in(p.pg, ppp);
            let expected: Vec<Box<[u8]>> = pages
                .iter()
                .map(|pg| self.model.page_at(*pg, vdl))
                .collect();
            let mut durable = 0;
            for replica in &p.replicas {
                let Some(d) = self.nodes[&replica.node].disk.get(&p.pg) else {
                    continue;
                };
                if !d.meta.history.iter().any(|t| t.epoch == rec.epoch) {
                    continue;
                }
                let mut seg = d.restore();
                if seg.scl() < vdl {
                    continue;
                }
                for (page, want) in pages.iter().zip(&expected) {
                    match seg.get_page(*page, vdl) {
                        Ok(PageRead::Page(img)) if img[..] == want[..] => self.stats.pages_checked += 1,
                        other => {
                            return Err(format!(
                                "recovery r{r} (epoch {}): node {}'s durable segment of PG {} (SCL {}) reads page \
                                 {page} at {vdl} as {}",
                                ep(rec.epoch),
                                replica.node,
                                p.pg,
                                seg.scl(),
                                page_diff(&other, want)
                            ))
                        }
                    }
                }
                durable += 1;
            }
            if durable < WRITE_QUORUM {
                return Err(format!(
                    "recovery r{r} (epoch {}) finished with only {durable} replicas of PG {} durably holding the \
                     prefix up to {vdl}",
                    ep(rec.epoch),
                    p.pg
                ));
            }
            for replica in &p.replicas {
                let n = self.nodes.get_mut(&replica.node).expect("replica node");
                let up = n.up;
                let Some(l) = n.live.get_mut(&p.pg).filter(|_| up) else {
                    continue;
                };
                if !l.seg.history().iter().any(|t| t.epoch == rec.epoch) || l.seg.scl() < vdl {
                    continue;
                }
                for (page, want) in pages.iter().zip(&expected) {
                    match l.seg.get_page(*page, vdl) {
                        Ok(PageRead::Page(img)) if img[..] == want[..] => self.stats.pages_checked += 1,
                        Ok(PageRead::TooOld { .. }) => {}
                        other => {
                            return Err(format!(
                                "recovery r{r} (epoch {}): node {}'s live segment of PG {} (SCL {}) reads page \
                                 {page} at {vdl} as {}",
                                ep(rec.epoch),
                                replica.node,
                                p.pg,
                                l.seg.scl(),
                                page_diff(&other, want)
                            ))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Checker (d): a page read answered.
    fn check_read(&mut self, client: u32, from: NodeId, req_id: u64, msg: Message) -> Check {
        let Some(rr) = self.reads.remove(&(client, req_id)) else {
            return Ok(());
        };
        if rr.node != from {
            return Err(format!(
                "read reply from node {from}, sent to node {}",
                rr.node
            ));
        }
        self.tr_msg(
            Label::Addr(Addr::Node(from)),
            Label::Reader(rr.writer),
            req_id,
            &msg,
        );
        match msg {
            Message::Page { lsn, image } => {
                let want = self.model.page_at(rr.page, rr.lsn);
                if lsn != rr.lsn || image[..] != want[..] {
                    let seg = self.nodes[&from]
                        .live
                        .get(&rr.page.pg(self.cluster.pages_per_pg()));
                    let seg_state = seg
                        .map(|l| {
                            format!(
                                "epoch {} history {:?} scl {}",
                                ep(l.seg.epoch()),
                                l.seg
                                    .history()
                                    .iter()
                                    .map(|t| (ep(t.epoch), t.above.0))
                                    .collect::<Vec<_>>(),
                                l.seg.scl()
                            )
                        })
                        .unwrap_or_default();
                    return Err(format!(
                        "writer w{} read page {} at {} from node {from} ({seg_state}): {}",
                        rr.writer,
                        rr.page,
                        rr.lsn,
                        page_diff(&Ok(PageRead::Page(image)), &want)
                    ));
                }
                self.stats.reads_checked += 1;
            }
            _ => self.stats.reads_other += 1,
        }
        Ok(())
    }

    // ---- workload ----

    fn workload(&mut self) -> Check {
        if let Some(w) = self.active_writer {
            if self.rng.chance(0.8) {
                self.submit(w)?;
            }
            if self.rng.chance(self.opts.read_p) {
                self.read(w);
            }
            if self.rng.chance(0.1) {
                if let Some(core) = self.writers[w].core.as_mut() {
                    let lag = self.rng.range(0, 40);
                    let mrp = Lsn(core.vdl().0.saturating_sub(lag));
                    core.set_min_read_point(mrp);
                }
            }
        }
        for z in 0..self.writers.len() {
            if Some(z) != self.active_writer && self.writers[z].core.is_some() {
                if self.rng.chance(0.5) {
                    self.stats.zombie_submits += 1;
                    self.submit(z)?;
                }
                if self.rng.chance(self.opts.read_p / 2.0) {
                    self.read(z);
                }
            }
        }
        Ok(())
    }

    fn gen_changes(&mut self) -> Vec<(PageId, RecordBody)> {
        let ppp = self.cluster.pages_per_pg();
        let pgs = (1 + self.now / self.opts.grow_every_ms).min(u64::from(self.opts.pgs_max));
        let n = self.rng.range(1, 4);
        let mut out = Vec::new();
        for _ in 0..n {
            let pg = self.rng.below(pgs);
            let page = PageId(pg * ppp + self.rng.below(self.opts.hot_pages));
            let body = if self.rng.chance(0.04) {
                let mut img = vec![self.rng.byte(); PAGE_SIZE];
                for b in img.iter_mut().take(16) {
                    *b = self.rng.byte();
                }
                RecordBody::Image(Bytes::from(img))
            } else {
                let len = self.rng.range(1, 16) as usize;
                let offset = self.rng.below((PAGE_SIZE - len) as u64) as u16;
                let bytes: Vec<u8> = (0..len).map(|_| self.rng.byte()).collect();
                RecordBody::Delta {
                    offset,
                    bytes: Bytes::from(bytes),
                }
            };
            out.push((page, body));
        }
        out
    }

    fn submit(&mut self, w: usize) -> Check {
        if self.writers[w].core.is_none() {
            return Ok(());
        }
        let changes = self.gen_changes();
        let now = self.now;
        let core = self.writers[w].core.as_mut().expect("checked");
        match core.submit(changes.clone(), now) {
            Ok(commit) => {
                let n = changes.len() as u64;
                let mtr = Mtr {
                    epoch: self.writers[w].epoch,
                    first: Lsn(commit.0 + 1 - n),
                    commit,
                    changes,
                    submitted_ms: now,
                };
                if let Some(&prev) = self.writers[w].mtrs.last() {
                    assert!(
                        self.mtrs[prev].commit < mtr.first,
                        "LSNs of one writer increase"
                    );
                }
                let pages: Vec<u64> = mtr.changes.iter().map(|(p, _)| p.0).collect();
                self.tr(format!(
                    "w{w} submits {}..={commit} pages {pages:?}",
                    mtr.first
                ));
                let id = self.mtrs.len();
                self.mtrs.push(mtr);
                self.writers[w].mtrs.push(id);
                self.stats.submitted += 1;
            }
            Err(SubmitError::Backpressure { .. }) => self.stats.backpressure += 1,
            Err(SubmitError::Fenced(_)) => {}
            Err(e) => return Err(format!("submit failed: {e}")),
        }
        self.pump_writer(w)
    }

    fn read(&mut self, w: usize) {
        let pages = self.model.pages();
        if pages.is_empty() {
            return;
        }
        let page = self.rng.pick(&pages);
        let reader = self.writers[w].reader;
        let Some(core) = self.writers[w].core.as_mut() else {
            return;
        };
        let vdl = core.vdl();
        if vdl == Lsn::ZERO {
            return;
        }
        let back = self.rng.range(0, 60);
        let lsn = Lsn(self.rng.range(vdl.0.saturating_sub(back).max(1), vdl.0));
        let epoch = core.epoch();
        let Some((pg, mut candidates)) = core.read_candidates(page, lsn) else {
            return;
        };
        // Then the PG's other replicas, which the writer does not read from
        // (they have not adopted its epoch's history) but a read replica,
        // knowing no such thing, may ask.
        for (r, _) in core.replica_scls(pg) {
            if !candidates.iter().any(|c| c.node == r.node) {
                candidates.push(r);
            }
        }
        if candidates.is_empty() {
            return;
        }
        // The driver stops at the first replica that answers a page; asking
        // several at once checks every answer a driver could get.
        let k = self.rng.range(1, candidates.len() as u64) as usize;
        for r in &candidates[..k] {
            let req = self.next_read;
            self.next_read += 1;
            self.reads.insert(
                (reader, req),
                ReadReq {
                    page,
                    lsn,
                    writer: w,
                    node: r.node,
                },
            );
            self.send(
                Addr::Client(reader),
                Addr::Node(r.node),
                req,
                Message::GetPage {
                    pg,
                    page,
                    lsn,
                    epoch,
                },
            );
        }
    }

    // ---- faults ----

    fn fault(&mut self) -> Check {
        let now = self.now;
        if self.rng.chance(self.opts.node_crash_p) {
            let down = self.nodes.values().filter(|n| !n.up).count();
            let up: Vec<NodeId> = self.nodes.values().filter(|n| n.up).map(|n| n.id).collect();
            if down < self.opts.down_max && !up.is_empty() {
                let node = self.rng.pick(&up);
                let torn = self.opts.torn_writes && self.rng.chance(0.5);
                let n = self.nodes.get_mut(&node).expect("known");
                n.crash(if torn { Some(&mut self.rng) } else { None });
                self.stats.node_crashes += 1;
                let after = self
                    .rng
                    .range(self.opts.restart_ms.0, self.opts.restart_ms.1);
                self.schedule(after, Event::NodeRestart { node });
                self.tr(format!(
                    "node {node} crashes (torn writes: {torn}), restarts in {after}ms"
                ));
                // Connections to it break: requests in flight fail.
                let mut fails = Vec::new();
                for wr in &self.writers {
                    for (req, (n, _)) in &wr.inflight {
                        if *n == node {
                            fails.push((wr.client, *req));
                        }
                    }
                }
                fails.sort();
                for (client, req_id) in fails {
                    let d = self.rng.range(1, 20);
                    self.schedule(d, Event::ConnFail { client, req_id });
                }
            }
        }
        if self.rng.chance(self.opts.partition_p) {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            let k = self.rng.range(1, 3) as usize;
            let mut nodes = BTreeSet::new();
            while nodes.len() < k {
                nodes.insert(self.rng.pick(&ids));
            }
            let kind = self.rng.below(3);
            let id = self.next_partition;
            self.next_partition += 1;
            let p = Partition {
                id,
                nodes,
                cut_clients: kind != 1,
                clients: None,
                cut_peers: kind != 0,
            };
            let len = self
                .rng
                .range(self.opts.partition_ms.0, self.opts.partition_ms.1);
            self.tr(format!(
                "partition {id}: nodes {:?} cut from clients {} peers {} for {len}ms",
                p.nodes, p.cut_clients, p.cut_peers
            ));
            self.partitions.push(p);
            self.stats.partitions += 1;
            self.schedule(len, Event::PartitionEnd { id });
        }
        if self.rng.chance(self.opts.writer_crash_p) {
            if let Some(w) = self.active_writer {
                self.active_writer = None;
                self.stats.writer_crashes += 1;
                if self.rng.chance(self.opts.zombie_p) {
                    let life = self.rng.range(self.opts.zombie_ms.0, self.opts.zombie_ms.1);
                    self.writers[w].zombie_until = Some(now + life);
                    self.stats.zombies += 1;
                    // A zombie usually still reaches some nodes that the new
                    // writer cannot: the interesting case for fencing.
                    if self.rng.chance(self.opts.zombie_cut_p) {
                        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
                        let k = self.rng.range(1, 3) as usize;
                        let mut nodes = BTreeSet::new();
                        while nodes.len() < k {
                            nodes.insert(self.rng.pick(&ids));
                        }
                        let id = self.next_partition;
                        self.next_partition += 1;
                        let clients = [self.writers[w].client, self.writers[w].reader]
                            .into_iter()
                            .collect();
                        self.tr(format!(
                            "zombie w{w} cut from nodes {nodes:?} (partition {id})"
                        ));
                        self.partitions.push(Partition {
                            id,
                            nodes,
                            cut_clients: true,
                            clients: Some(clients),
                            cut_peers: false,
                        });
                        self.schedule(life, Event::PartitionEnd { id });
                    }
                    self.tr(format!(
                        "writer w{w} crashes but runs on as a zombie for {life}ms"
                    ));
                } else {
                    self.writers[w].core = None;
                    self.writers[w].inflight.clear();
                    self.tr(format!("writer w{w} crashes"));
                }
                let d = self
                    .rng
                    .range(self.opts.failover_ms.0, self.opts.failover_ms.1);
                self.schedule(d, Event::StartRecovery);
            } else if let Some(r) = self.active_recovery {
                self.active_recovery = None;
                self.stats.writer_crashes += 1;
                if self.rng.chance(self.opts.racing_recovery_p) {
                    self.tr(format!(
                        "recovery r{r} is abandoned but keeps running (racing)"
                    ));
                } else {
                    self.recoveries[r].alive = false;
                    self.tr(format!("recovery r{r} crashes"));
                }
                let d = self
                    .rng
                    .range(self.opts.failover_ms.0, self.opts.failover_ms.1);
                self.schedule(d, Event::StartRecovery);
            }
        }
        Ok(())
    }

    fn heal(&mut self) -> Check {
        self.healed_at = Some(self.now);
        self.tr("heal: no more faults".into());
        self.partitions.clear();
        self.loss = 0.0;
        let down: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| !n.up)
            .map(|n| n.id)
            .collect();
        for node in down {
            self.schedule(0, Event::NodeRestart { node });
        }
        self.schedule(0, Event::StartRecovery);
        Ok(())
    }
}

fn page_diff(
    got: &Result<PageRead, sextant_storage::segment::SegmentError>,
    want: &[u8],
) -> String {
    match got {
        Ok(PageRead::Page(img)) => match img.iter().zip(want).position(|(a, b)| a != b) {
            Some(i) => format!(
                "a page differing from the model first at byte {i} ({} != {})",
                img[i], want[i]
            ),
            None if img.len() != want.len() => format!("a page of {} bytes", img.len()),
            None => "the model's page".into(),
        },
        other => format!("{other:?}"),
    }
}

/// A cluster file with `n` storage nodes: two per AZ in three AZs, the rest
/// spread over them (or a fourth AZ), and 64-page segments.
pub fn cluster_toml(n: usize) -> String {
    let azs = [
        "az-a", "az-b", "az-c", "az-a", "az-b", "az-c", "az-d", "az-d", "az-a",
    ];
    let mut s = format!("segment_size = \"{SEGMENT_SIZE}\"\n");
    for (i, az) in azs.iter().take(n).enumerate() {
        let _ = write!(
            s,
            "[[storage]]\nid = {}\naddr = \"sim-node-{}:7000\"\naz = \"{az}\"\n",
            i + 1,
            i + 1
        );
    }
    s
}

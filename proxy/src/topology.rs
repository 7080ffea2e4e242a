//! Which compute node is the writer, which readers are healthy, and writer
//! failover.
//!
//! A monitor task checks every node's `/health` each `health.interval` (a
//! session whose backend connection breaks wakes it at once). The writer is
//! the node that says `role: writer` with the highest storage epoch; a node
//! claiming `writer` with a lower epoch than the writer the proxy knows is
//! a stale writer that storage has fenced or is about to, and is ignored.
//!
//! When the writer misses `failover_misses` checks in a row, the monitor
//! publishes "no writer" (sessions then hold their statements, see
//! `session.rs`) and promotes the reader with the highest `read_point`
//! (`POST /promote`), trying the next one if that fails. Several proxies
//! may do this at once; it is safe because the compute node and storage
//! decide, not the proxy:
//! * a second `POST /promote` to the same node answers 409, and the losing
//!   proxy adopts the node once its `/health` says `writer`;
//! * while any node says `promoting`, no proxy promotes another one;
//! * if two proxies still promote two different readers, both run recovery
//!   under new epochs, the higher epoch wins in storage and fences the other
//!   (which then reports `fenced`), and every proxy follows the highest
//!   epoch.
//!
//! Nodes without an admin address (e.g. a plain PostgreSQL server) keep
//! the role the cluster file gives them and are healthy while their SQL
//! port accepts TCP connections; they are never promoted.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::admin::{self, Health, PromoteReply};
use crate::config::{ComputeNode, HealthConfig, RoleHint};
use crate::metrics::{FailoverOutcome, ProxyMetrics};

/// A node sessions can connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Index into the configured nodes.
    pub index: usize,
    pub name: String,
    pub sql_addr: String,
}

/// What sessions see of the topology.
#[derive(Clone, Debug)]
pub struct View {
    /// The writer, or `None` while there is none (failover in progress).
    pub writer: Option<Target>,
    /// The writer's storage epoch (0 when unknown or not reported).
    pub writer_epoch: u64,
    /// Healthy readers (indices into the nodes).
    pub readers: Vec<usize>,
}

/// The shared topology: the view, per-node session counts, the monitor's
/// wake-up.
pub struct Topology {
    nodes: Vec<ComputeNode>,
    sessions: Vec<AtomicU32>,
    view: watch::Sender<View>,
    wake: Notify,
    config: HealthConfig,
    metrics: Arc<ProxyMetrics>,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topology")
            .field("view", &*self.view.borrow())
            .finish_non_exhaustive()
    }
}

/// Counts a session on a node while it lives (least-connections).
pub struct NodeSession {
    topology: Arc<Topology>,
    index: usize,
}

impl Drop for NodeSession {
    fn drop(&mut self) {
        let before = self.topology.sessions[self.index].fetch_sub(1, Ordering::SeqCst);
        assert!(before > 0, "session count of node {} underflow", self.index);
    }
}

impl Topology {
    /// The starting view trusts the cluster file (the first writer-hinted
    /// node is the writer, every reader is healthy) until checks say more.
    pub fn new(
        nodes: Vec<ComputeNode>,
        config: HealthConfig,
        metrics: Arc<ProxyMetrics>,
    ) -> Arc<Topology> {
        let writer = nodes
            .iter()
            .enumerate()
            .find(|(_, n)| n.role == RoleHint::Writer)
            .map(|(index, n)| Target {
                index,
                name: n.name.clone(),
                sql_addr: n.sql_addr.clone(),
            });
        let readers = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.role == RoleHint::Reader)
            .map(|(i, _)| i)
            .collect();
        let (view, _) = watch::channel(View {
            writer,
            writer_epoch: 0,
            readers,
        });
        Arc::new(Topology {
            sessions: nodes.iter().map(|_| AtomicU32::new(0)).collect(),
            nodes,
            view,
            wake: Notify::new(),
            config,
            metrics,
        })
    }

    /// Subscribes to view changes.
    pub fn subscribe(&self) -> watch::Receiver<View> {
        self.view.subscribe()
    }

    /// The current view.
    pub fn view(&self) -> View {
        self.view.borrow().clone()
    }

    fn target(&self, index: usize) -> Target {
        let n = &self.nodes[index];
        Target {
            index,
            name: n.name.clone(),
            sql_addr: n.sql_addr.clone(),
        }
    }

    /// Counts a session on `target`'s node until the guard drops.
    pub fn enter(self: &Arc<Self>, target: &Target) -> NodeSession {
        self.sessions[target.index].fetch_add(1, Ordering::SeqCst);
        NodeSession {
            topology: self.clone(),
            index: target.index,
        }
    }

    /// Waits (until `deadline`) for a writer.
    pub async fn wait_writer(&self, deadline: tokio::time::Instant) -> Option<Target> {
        let mut rx = self.view.subscribe();
        loop {
            if let Some(w) = rx.borrow_and_update().writer.clone() {
                return Some(w);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// The healthy reader with the fewest sessions; with none, the writer
    /// if `fallback` (waiting for one until `deadline`).
    pub async fn pick_reader(
        &self,
        fallback: bool,
        deadline: tokio::time::Instant,
    ) -> Option<Target> {
        let best = {
            let view = self.view.borrow();
            view.readers
                .iter()
                .copied()
                .min_by_key(|&i| (self.sessions[i].load(Ordering::SeqCst), i))
        };
        match best {
            Some(i) => Some(self.target(i)),
            None if fallback => self.wait_writer(deadline).await,
            None => None,
        }
    }

    /// A session's connection to `index` broke: check now rather than at
    /// the next tick.
    pub fn report_failure(&self, index: usize) {
        tracing::debug!(node = %self.nodes[index].name, "session reports a broken backend");
        self.wake.notify_one();
    }

    /// Runs health checks and failovers until `stop` turns true.
    pub async fn monitor(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut state = MonitorState {
            misses: 0,
            first_miss: None,
        };
        loop {
            let started = tokio::time::Instant::now();
            self.tick(&mut state).await;
            tokio::select! {
                _ = tokio::time::sleep_until(started + self.config.interval) => {}
                _ = self.wake.notified() => {
                    // Sessions report broken connections in bursts: check
                    // at once, but at most four times per interval, so a
                    // burst cannot count misses faster than that.
                    tokio::time::sleep_until(started + self.config.interval / 4).await;
                }
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    async fn check_all(&self) -> Vec<Option<Health>> {
        let mut set = JoinSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let n = n.clone();
            let timeout = self.config.timeout;
            set.spawn(async move { (i, check(&n, timeout).await) });
        }
        let mut out = vec![None; self.nodes.len()];
        while let Some(r) = set.join_next().await {
            let (i, h) = r.expect("health check task does not panic");
            out[i] = h;
        }
        out
    }

    /// One round: check every node, update readers, follow or replace the
    /// writer.
    async fn tick(&self, state: &mut MonitorState) {
        let health = self.check_all().await;
        let readers: Vec<usize> = health
            .iter()
            .enumerate()
            .filter(|(_, h)| h.as_ref().is_some_and(|h| h.role == "reader"))
            .map(|(i, _)| i)
            .collect();
        let view = self.view();
        let current = view.writer.as_ref().map(|w| w.index);
        // The writer with the highest epoch, not older than the one known.
        let best_writer = health
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|h| (i, h)))
            .filter(|(_, h)| h.role == "writer" && h.epoch >= view.writer_epoch)
            .max_by_key(|(i, h)| (h.epoch, std::cmp::Reverse(*i)))
            .map(|(i, h)| (i, h.epoch));
        let current_ok = current.is_some_and(|c| best_writer.is_some_and(|(b, _)| b == c));

        if current_ok {
            let (_, epoch) = best_writer.expect("current_ok implies a writer");
            state.misses = 0;
            state.first_miss = None;
            self.publish(current, epoch, readers);
            return;
        }
        if let Some((b, epoch)) = best_writer {
            // Another node is the writer now (promoted by another proxy or
            // an operator), or the first writer after none.
            if current.is_some() || state.first_miss.is_some() {
                self.metrics.failover(FailoverOutcome::Adopted);
                self.finish_failover(state, b);
            }
            state.misses = 0;
            state.first_miss = None;
            self.publish(Some(b), epoch, readers);
            return;
        }
        // No node answers as a usable writer.
        state.misses += 1;
        let first_miss = *state.first_miss.get_or_insert_with(Instant::now);
        if let Some(c) = current {
            tracing::warn!(
                writer = %self.nodes[c].name,
                misses = state.misses,
                "writer missed a health check"
            );
            if state.misses < self.config.failover_misses {
                self.publish(current, view.writer_epoch, readers);
                return;
            }
            tracing::warn!(writer = %self.nodes[c].name, "writer is down: failing over");
        }
        // Hold new statements from here on.
        self.publish(None, view.writer_epoch, readers.clone());
        if health
            .iter()
            .any(|h| h.as_ref().is_some_and(|h| h.role == "promoting"))
        {
            tracing::info!("a node is promoting already; waiting for it");
            return;
        }
        let mut candidates: Vec<(usize, u64)> = health
            .iter()
            .enumerate()
            .filter(|(i, _)| self.nodes[*i].admin_addr.is_some())
            .filter_map(|(i, h)| h.as_ref().map(|h| (i, h)))
            .filter(|(_, h)| h.role == "reader")
            .map(|(i, h)| (i, h.read_point))
            .collect();
        candidates.sort_by_key(|&(i, rp)| (std::cmp::Reverse(rp), i));
        for (i, read_point) in candidates {
            let node = &self.nodes[i];
            let admin = node.admin_addr.as_deref().expect("filtered on admin");
            tracing::info!(node = %node.name, read_point, "promoting the most up-to-date reader");
            match admin::promote(admin, self.config.promote_timeout).await {
                Ok(PromoteReply::Promoted { epoch }) => {
                    self.metrics.failover(FailoverOutcome::Promoted);
                    self.finish_failover(state, i);
                    let readers = readers.into_iter().filter(|&r| r != i).collect();
                    self.publish(Some(i), epoch, readers);
                    return;
                }
                Ok(PromoteReply::Conflict(body)) => {
                    // Someone else is promoting it or did: follow it.
                    tracing::info!(node = %node.name, %body, "promotion refused; following that node");
                    if let Some(epoch) = self.await_writer(i, first_miss).await {
                        self.metrics.failover(FailoverOutcome::Adopted);
                        self.finish_failover(state, i);
                        let readers = readers.into_iter().filter(|&r| r != i).collect();
                        self.publish(Some(i), epoch, readers);
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(node = %node.name, "failed to promote: {e}");
                }
            }
        }
        if current.is_some() || state.misses == self.config.failover_misses {
            self.metrics.failover(FailoverOutcome::Failed);
            tracing::error!("no reader could be promoted; still trying");
        }
    }

    /// Polls a node that is (or is becoming) the writer until it says so.
    async fn await_writer(&self, index: usize, since: Instant) -> Option<u64> {
        let deadline = since + self.config.promote_timeout;
        while Instant::now() < deadline {
            match check(&self.nodes[index], self.config.timeout).await {
                Some(h) if h.role == "writer" => return Some(h.epoch),
                Some(h) if h.role == "promoting" => {}
                _ => return None,
            }
            tokio::time::sleep(self.config.interval.min(Duration::from_millis(50))).await;
        }
        None
    }

    fn finish_failover(&self, state: &mut MonitorState, new_writer: usize) {
        if let Some(first) = state.first_miss.take() {
            let blackout = first.elapsed();
            self.metrics.blackout(blackout.as_secs_f64());
            tracing::info!(
                writer = %self.nodes[new_writer].name,
                blackout_ms = blackout.as_millis() as u64,
                "new writer"
            );
        }
        state.misses = 0;
    }

    fn publish(&self, writer: Option<usize>, epoch: u64, readers: Vec<usize>) {
        let writer = writer.map(|i| self.target(i));
        self.view.send_if_modified(|v| {
            let changed = v.writer != writer || v.writer_epoch != epoch || v.readers != readers;
            v.writer = writer;
            v.writer_epoch = epoch;
            v.readers = readers;
            changed
        });
    }
}

struct MonitorState {
    /// Consecutive rounds without a usable writer.
    misses: u32,
    /// When the current run of misses began (blackout start).
    first_miss: Option<Instant>,
}

/// One node's health: `/health` when it has an admin address, else a TCP
/// connect to its SQL port with the role from the cluster file.
async fn check(node: &ComputeNode, timeout: Duration) -> Option<Health> {
    match &node.admin_addr {
        Some(admin) => match admin::health(admin, timeout).await {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::debug!(node = %node.name, "health check failed: {e}");
                None
            }
        },
        None => {
            let ok = matches!(
                tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&node.sql_addr)).await,
                Ok(Ok(_))
            );
            ok.then(|| Health {
                role: match node.role {
                    RoleHint::Writer => "writer".into(),
                    RoleHint::Reader => "reader".into(),
                },
                epoch: 0,
                read_point: 0,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, role: RoleHint) -> ComputeNode {
        ComputeNode {
            name: name.into(),
            sql_addr: format!("{name}:5432"),
            admin_addr: None,
            role,
        }
    }

    #[tokio::test]
    async fn the_reader_endpoint_picks_the_least_loaded_reader_then_falls_back() {
        let t = Topology::new(
            vec![
                node("w", RoleHint::Writer),
                node("r1", RoleHint::Reader),
                node("r2", RoleHint::Reader),
            ],
            HealthConfig::default(),
            Arc::new(ProxyMetrics::new()),
        );
        let soon = tokio::time::Instant::now() + Duration::from_millis(10);
        let a = t.pick_reader(true, soon).await.unwrap();
        assert_eq!(a.name, "r1");
        let _on_a = t.enter(&a);
        let b = t.pick_reader(true, soon).await.unwrap();
        assert_eq!(b.name, "r2", "r1 has a session");
        let _on_b1 = t.enter(&b);
        let _on_b2 = t.enter(&b);
        assert_eq!(t.pick_reader(true, soon).await.unwrap().name, "r1");
        drop(_on_a);
        // No healthy reader: the writer, or nothing without fallback.
        t.publish(Some(0), 7, vec![]);
        assert_eq!(t.pick_reader(true, soon).await.unwrap().name, "w");
        assert_eq!(t.pick_reader(false, soon).await, None);
        // No writer either: wait until the deadline, then give up.
        t.publish(None, 7, vec![]);
        assert_eq!(t.wait_writer(soon).await, None);
        let waiter = {
            let t = t.clone();
            tokio::spawn(async move {
                t.wait_writer(tokio::time::Instant::now() + Duration::from_secs(10))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        t.publish(Some(2), 8, vec![]);
        assert_eq!(
            waiter.await.unwrap().unwrap().name,
            "r2",
            "held until the new writer"
        );
    }
}

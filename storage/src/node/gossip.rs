//! Gossip between the replicas of a protection group, and page repair.
//!
//! Every `gossip_interval` a segment asks each other replica of its PG for the
//! records above its own SCL (`GossipPull`) and feeds the answer to
//! [`crate::segment::Segment::gossip_receive`]; what that accepts is
//! persisted by the same group-commit writer as an append. This is how a
//! replica that was down, partitioned, or lost records to a damaged log
//! catches up without the writer resending anything.
//!
//! The same round repairs pages whose base image was lost to corruption: it
//! fetches the page from a peer at the segment's SCL (capped at its VDL hint) and installs it with
//! [`crate::segment::Segment::repair_page`].
//!
//! A peer that is down is skipped: each request has a bounded timeout, peers
//! are asked in parallel, and the next round tries again.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tracing::Instrument;

use crate::net::Peer;
use crate::node::store::Slot;
use crate::node::{now_ms, until_shutdown, Node};
use crate::types::{NodeId, PageId};
use crate::wire::{ErrorCode, Message, HISTORY_MAX};

/// How long one gossip or repair request to a peer may take.
pub const GOSSIP_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Pulls from one peer in one round while it says it has more: catches up
/// about this many times `GOSSIP_BYTES_MAX` per round.
const PULLS_PER_ROUND_MAX: usize = 64;
/// Lost pages repaired per round; the rest wait for the next.
const REPAIRS_PER_ROUND_MAX: usize = 64;

/// The gossip task of one segment.
pub(crate) async fn run(node: Arc<Node>, slot: Arc<Slot>) {
    let mut shutdown = node.shutdown.clone();
    let mut tick = tokio::time::interval(node.config.gossip_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = until_shutdown(&mut shutdown) => return,
        }
        if slot.durable().stopped {
            return;
        }
        let peers = peers_of(&node, &slot).await;
        if peers.is_empty() {
            continue;
        }
        let round = async {
            let mut pulls = JoinSet::new();
            for (peer_id, peer) in &peers {
                let span = tracing::debug_span!("pull", peer = %peer_id);
                pulls.spawn(pull_from(node.clone(), slot.clone(), peer.clone()).instrument(span));
            }
            while pulls.join_next().await.is_some() {}
            repair_lost_pages(&node, &slot, &peers).await;
        };
        tokio::select! {
            _ = round => {}
            // Dropping the round aborts its pulls.
            _ = until_shutdown(&mut shutdown) => return,
        }
    }
}

async fn peers_of(node: &Node, slot: &Slot) -> Vec<(NodeId, Peer)> {
    let st = slot.state.lock().await;
    st.seg
        .meta()
        .replicas
        .iter()
        .filter(|r| r.node != node.config.node_id)
        .map(|r| (r.node, node.peer(&r.addr)))
        .collect()
}

async fn pull_from(node: Arc<Node>, slot: Arc<Slot>, peer: Peer) {
    let pg = slot.pg;
    for _ in 0..PULLS_PER_ROUND_MAX {
        let (epoch, scl) = {
            let st = slot.state.lock().await;
            (st.seg.epoch(), st.seg.scl())
        };
        let reply = match peer
            .request(
                Message::GossipPull { pg, epoch, scl },
                GOSSIP_REQUEST_TIMEOUT,
            )
            .await
        {
            Ok(reply) => reply,
            Err(e) => {
                tracing::debug!("gossip pull failed, skipping the peer this round: {e}");
                return;
            }
        };
        let (history, hint_vdl, hint_tail, records, more) = match reply {
            Message::GossipPush {
                history,
                scl: _,
                hint_vdl,
                hint_tail,
                records,
                more,
            } => (history, hint_vdl, hint_tail, records, more),
            Message::Error {
                code: ErrorCode::UnknownSegment,
                ..
            } => {
                tracing::debug!("peer does not host the segment (yet)");
                return;
            }
            other => {
                tracing::warn!(reply = ?other, "unexpected reply to a gossip pull");
                return;
            }
        };
        let mut st = slot.state.lock().await;
        let known = st.seg.history();
        let new = history
            .iter()
            .filter(|t| !known.iter().any(|h| h.epoch == t.epoch))
            .count();
        if known.len() + new > HISTORY_MAX {
            tracing::warn!("peer's epoch history would exceed {HISTORY_MAX} entries; ignoring it");
            return;
        }
        let result = st
            .seg
            .gossip_receive(&history, hint_vdl, hint_tail, records, now_ms());
        // Queue whatever was taken, even if the reply was refused half way.
        let seq = st.note_changes();
        drop(st);
        if seq > slot.durable().seq {
            slot.wake_writer();
        }
        match result {
            Ok(filled) => {
                if filled > 0 {
                    node.metrics.gossip_repaired(filled as u64);
                    tracing::debug!(filled, "gossip filled records");
                }
            }
            Err(e) => {
                tracing::warn!("failed to take a peer's gossip: {e}");
                return;
            }
        }
        if !more {
            return;
        }
    }
}

async fn repair_lost_pages(node: &Node, slot: &Slot, peers: &[(NodeId, Peer)]) {
    let lost: Vec<PageId> = {
        let st = slot.state.lock().await;
        st.seg.lost_pages().take(REPAIRS_PER_ROUND_MAX).collect()
    };
    for page in lost {
        // At or below the VDL hint, not just the SCL: recovery never
        // truncates below a VDL the writer announced, and a truncation below
        // the repair point would cut the repaired image out of the page.
        // Read at the epoch of the history this segment holds: a peer that
        // has not adopted it may hold records that history voided.
        let (at, epoch) = {
            let st = slot.state.lock().await;
            (st.seg.scl().min(st.seg.hint().0), st.seg.lineage_epoch())
        };
        for (peer_id, peer) in peers {
            let request = Message::GetPage {
                pg: slot.pg,
                page,
                lsn: at,
                epoch,
            };
            match peer.request(request, GOSSIP_REQUEST_TIMEOUT).await {
                Ok(Message::Page { image, .. }) => {
                    let mut st = slot.state.lock().await;
                    match st.seg.repair_page(page, at, image) {
                        Ok(()) => {
                            st.repaired.insert(page, at);
                            node.metrics.page_repaired();
                            tracing::info!(%page, lsn = %at, peer = %peer_id, "repaired lost page from a peer");
                            break;
                        }
                        // The SCL moved below `at` (a truncation): next round.
                        Err(e) => {
                            tracing::debug!(%page, "failed to install a repaired page: {e}");
                            break;
                        }
                    }
                }
                Ok(other) => {
                    tracing::debug!(%page, peer = %peer_id, reply = ?other, "peer cannot serve a lost page")
                }
                Err(e) => {
                    tracing::debug!(%page, peer = %peer_id, "failed to fetch a lost page: {e}")
                }
            }
        }
    }
}

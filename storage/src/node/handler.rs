//! Request handling: one function per request of the storage protocol,
//! mapping segment decisions to replies.
//!
//! Requests that change a segment apply under its lock, then wait for the
//! group-commit writer ([`super::store`]); their replies carry the durable
//! SCL. Reads are served from the segment's index, with bodies from memory,
//! the node's cache or the segment's files ([`super::disk`]). Replies that report state to recovery
//! (`EpochSet`, `Log`, `Segments`) wait until what they report is durable,
//! so recovery never counts on a record this node could still lose.

use std::sync::Arc;

use tracing::Instrument;

use crate::metrics::RequestKind;
use crate::node::format::segment_dir_name;
use crate::node::store::{Durable, SegState, Slot};
use crate::node::{now_ms, Node, SEGMENTS_PER_NODE_MAX};
use crate::segment::{PageRead, SegmentError, SegmentMeta, GOSSIP_BYTES_MAX};
use crate::types::{Epoch, LogRecord, Lsn, PageId, PgId};
use crate::wire::{
    ErrorCode, Message, Replica, SegmentInfo, Truncation, FRAME_PAYLOAD_MAX, HISTORY_MAX,
};

/// A reply, or the error reply to send instead.
type Reply = Result<Message, Message>;

/// Handles one decoded request.
pub(crate) async fn handle(node: &Arc<Node>, msg: Message) -> Message {
    let kind = RequestKind::of(&msg);
    node.metrics.request(kind);
    let span = tracing::debug_span!("request", ?kind, pg = pg_of(&msg).map(|p| p.0));
    let reply = async {
        match msg {
            Message::CreateSegment {
                pg,
                pages_per_pg,
                replicas,
            } => create_segment(node, pg, pages_per_pg, replicas).await,
            Message::Append {
                pg,
                epoch,
                vdl,
                pg_tail,
                pgmrpl,
                records,
            } => append(node, pg, epoch, vdl, pg_tail, pgmrpl, records).await,
            Message::Adopt { pg, history } => adopt(node, pg, history).await,
            Message::GetPage {
                pg,
                page,
                lsn,
                epoch,
            } => get_page(node, pg, page, lsn, epoch).await,
            Message::SetEpoch { pg, epoch } => set_epoch(node, pg, epoch).await,
            Message::ReadLog {
                pg,
                after,
                bytes_max,
            } => read_log(node, pg, after, bytes_max).await,
            Message::Truncate { pg, epoch, above } => truncate(node, pg, epoch, above).await,
            Message::ListSegments => list_segments(node).await,
            Message::GossipPull { pg, epoch: _, scl } => gossip_pull(node, pg, scl).await,
            Message::Ok
            | Message::AppendAck { .. }
            | Message::Page { .. }
            | Message::NotYet { .. }
            | Message::TooOld { .. }
            | Message::EpochSet { .. }
            | Message::Log { .. }
            | Message::Segments(_)
            | Message::GossipPush { .. }
            | Message::Error { .. } => Err(Message::error(
                ErrorCode::Invalid,
                Epoch(0),
                "not a request",
            )),
        }
    }
    .instrument(span)
    .await;
    reply.unwrap_or_else(|e| e)
}

fn pg_of(msg: &Message) -> Option<PgId> {
    match msg {
        Message::CreateSegment { pg, .. }
        | Message::Append { pg, .. }
        | Message::Adopt { pg, .. }
        | Message::GetPage { pg, .. }
        | Message::SetEpoch { pg, .. }
        | Message::ReadLog { pg, .. }
        | Message::Truncate { pg, .. }
        | Message::GossipPull { pg, .. } => Some(*pg),
        _ => None,
    }
}

fn slot(node: &Node, pg: PgId) -> Result<Arc<Slot>, Message> {
    if let Some(slot) = node.slot(pg) {
        if slot.durable().stopped {
            return Err(Message::error(
                ErrorCode::Internal,
                Epoch(0),
                format!("segment {pg} is stopped"),
            ));
        }
        return Ok(slot);
    }
    if let Some(why) = node.refused.read().expect("refused map").get(&pg) {
        return Err(Message::error(
            ErrorCode::Internal,
            Epoch(0),
            format!("segment {pg} refused: {why}"),
        ));
    }
    Err(Message::error(
        ErrorCode::UnknownSegment,
        Epoch(0),
        format!("no segment for PG {pg} here"),
    ))
}

/// The error reply for a segment's refusal; `epoch` is the segment's.
fn refusal(e: SegmentError, epoch: Epoch) -> Message {
    let text = e.to_string();
    // Exhaustive: a new refusal must choose its code.
    match e {
        SegmentError::StaleEpoch { current, .. } => {
            Message::error(ErrorCode::StaleEpoch, current, text)
        }
        SegmentError::EpochBehind { current, .. } => {
            Message::error(ErrorCode::EpochBehind, current, text)
        }
        SegmentError::Invalid(_) => Message::error(ErrorCode::Invalid, epoch, text),
    }
}

fn stopped(pg: PgId) -> Message {
    Message::error(
        ErrorCode::Internal,
        Epoch(0),
        format!("segment {pg} stopped before its change was durable"),
    )
}

/// Refuses history that would grow the segment's past what one message can
/// carry, so every later reply stays encodable.
fn check_history_room(st: &SegState, history: &[Truncation]) -> Result<(), Message> {
    let known = st.seg.history();
    let new = history
        .iter()
        .filter(|t| !known.iter().any(|h| h.epoch == t.epoch))
        .count();
    if known.len() + new > HISTORY_MAX {
        return Err(Message::error(
            ErrorCode::Invalid,
            st.seg.epoch(),
            format!("epoch history would exceed {HISTORY_MAX} entries"),
        ));
    }
    Ok(())
}

/// Commits a change and waits for durability, or queues whatever a refused
/// request changed (an `adopt` may apply part of a history) and refuses.
async fn commit_or_refuse(
    slot: &Slot,
    st: tokio::sync::MutexGuard<'_, SegState>,
    result: Result<(), SegmentError>,
) -> Result<Durable, Message> {
    match result {
        Ok(()) => slot.commit(st).await.ok_or_else(|| stopped(slot.pg)),
        Err(e) => {
            let epoch = st.seg.epoch();
            let mut st = st;
            let seq = st.note_changes();
            drop(st);
            if seq > slot.durable().seq {
                slot.wake_writer();
            }
            Err(refusal(e, epoch))
        }
    }
}

async fn create_segment(
    node: &Arc<Node>,
    pg: PgId,
    pages_per_pg: u64,
    replicas: Vec<Replica>,
) -> Reply {
    let invalid = |m: String| Message::error(ErrorCode::Invalid, Epoch(0), m);
    if !replicas.iter().any(|r| r.node == node.config.node_id) {
        return Err(invalid(format!(
            "replica list of PG {pg} does not name node {}",
            node.config.node_id
        )));
    }
    for (i, r) in replicas.iter().enumerate() {
        if replicas[..i].iter().any(|o| o.node == r.node) {
            return Err(invalid(format!("node {} listed twice for PG {pg}", r.node)));
        }
    }
    if u64::from(pg.0)
        .checked_add(1)
        .and_then(|n| n.checked_mul(pages_per_pg))
        .is_none()
    {
        return Err(invalid(format!(
            "PG {pg} of {pages_per_pg} pages is beyond the page space"
        )));
    }
    let meta = SegmentMeta {
        pg,
        pages_per_pg,
        replicas,
    };
    let _creating = node.create_lock.lock().await;
    if let Some(existing) = node.slot(pg) {
        let st = existing.state.lock().await;
        if *st.seg.meta() == meta {
            return Ok(Message::Ok);
        }
        return Err(invalid(format!(
            "segment {pg} exists with other pages_per_pg or replicas"
        )));
    }
    // A damaged segment stays refused: never build a new one over it.
    if let Some(why) = node.refused.read().expect("refused map").get(&pg) {
        return Err(Message::error(
            ErrorCode::Internal,
            Epoch(0),
            format!("segment {pg} refused: {why}"),
        ));
    }
    if node.segments.read().expect("segment map").len() >= SEGMENTS_PER_NODE_MAX {
        return Err(Message::error(
            ErrorCode::Internal,
            Epoch(0),
            format!("node hosts {SEGMENTS_PER_NODE_MAX} segments, its limit"),
        ));
    }
    let dir = node.config.data_dir.join(segment_dir_name(pg));
    let (fsync, metrics, cache) = (node.config.fsync, node.metrics.clone(), node.cache.clone());
    let created = tokio::task::spawn_blocking(move || {
        Slot::create_blocking(dir, meta, fsync, metrics, cache)
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r);
    match created {
        Ok(slot) => {
            node.add_slot(slot);
            tracing::info!(%pg, pages_per_pg, "created segment");
            Ok(Message::Ok)
        }
        Err(e) => {
            tracing::error!(%pg, "failed to create segment: {e}");
            Err(Message::error(
                ErrorCode::Internal,
                Epoch(0),
                format!("create segment {pg}: {e}"),
            ))
        }
    }
}

async fn append(
    node: &Arc<Node>,
    pg: PgId,
    epoch: Epoch,
    vdl: Lsn,
    pg_tail: Lsn,
    pgmrpl: Lsn,
    records: Vec<LogRecord>,
) -> Reply {
    let slot = slot(node, pg)?;
    let bytes: u64 = records.iter().map(|r| r.encoded_len() as u64).sum();
    node.metrics.records_received(records.len() as u64, bytes);
    let mut st = slot.state.lock().await;
    let result = st
        .seg
        .append(epoch, vdl, pg_tail, pgmrpl, records, now_ms());
    if result.is_ok() {
        st.pgmrpl_seen = st.pgmrpl_seen.max(pgmrpl);
    }
    let durable = commit_or_refuse(&slot, st, result).await?;
    Ok(Message::AppendAck {
        pg,
        scl: durable.scl,
    })
}

async fn adopt(node: &Arc<Node>, pg: PgId, history: Vec<Truncation>) -> Reply {
    let slot = slot(node, pg)?;
    let mut st = slot.state.lock().await;
    check_history_room(&st, &history)?;
    let result = st.seg.adopt(&history);
    let durable = commit_or_refuse(&slot, st, result).await?;
    Ok(Message::AppendAck {
        pg,
        scl: durable.scl,
    })
}

async fn truncate(node: &Arc<Node>, pg: PgId, epoch: Epoch, above: Lsn) -> Reply {
    let slot = slot(node, pg)?;
    let mut st = slot.state.lock().await;
    check_history_room(&st, &[Truncation { epoch, above }])?;
    let result = st.seg.truncate(epoch, above);
    let durable = commit_or_refuse(&slot, st, result).await?;
    Ok(Message::AppendAck {
        pg,
        scl: durable.scl,
    })
}

async fn set_epoch(node: &Arc<Node>, pg: PgId, epoch: Epoch) -> Reply {
    let slot = slot(node, pg)?;
    let mut st = slot.state.lock().await;
    let result = st.seg.set_epoch(epoch);
    let (hint_vdl, _) = st.seg.hint();
    let max_lsn = st.seg.max_lsn();
    let history = st.seg.history().to_vec();
    let durable = commit_or_refuse(&slot, st, result).await?;
    Ok(Message::EpochSet {
        scl: durable.scl,
        hint_vdl,
        max_lsn,
        history,
    })
}

async fn get_page(node: &Arc<Node>, pg: PgId, page: PageId, lsn: Lsn, epoch: Epoch) -> Reply {
    let slot = slot(node, pg)?;
    let mut st = slot.state.lock().await;
    if let Err(e) = st.seg.check_reader_epoch(epoch) {
        return Err(refusal(e, st.seg.epoch()));
    }
    let read = st.seg.get_page(page, lsn);
    slot.after_read(&mut st);
    match read {
        Ok(PageRead::Page(image)) => Ok(Message::Page { lsn, image }),
        Ok(PageRead::NotYet { scl }) => Ok(Message::NotYet { scl }),
        Ok(PageRead::TooOld { horizon }) => Ok(Message::TooOld { horizon }),
        Err(e) => Err(refusal(e, st.seg.epoch())),
    }
}

async fn read_log(node: &Arc<Node>, pg: PgId, after: Lsn, bytes_max: u32) -> Reply {
    let slot = slot(node, pg)?;
    let bytes_max = (bytes_max as usize).min(GOSSIP_BYTES_MAX);
    let mut st = slot.state.lock().await;
    let (tail, records, more) = st.seg.read_log(after, bytes_max);
    slot.after_read(&mut st);
    let scl = st.seg.scl();
    // Wait until everything read is durable here before reporting it.
    slot.commit(st).await.ok_or_else(|| stopped(pg))?;
    Ok(Message::Log {
        tail,
        scl,
        records,
        more,
    })
}

async fn gossip_pull(node: &Arc<Node>, pg: PgId, peer_scl: Lsn) -> Reply {
    let slot = slot(node, pg)?;
    let mut st = slot.state.lock().await;
    let (records, more) = st.seg.gossip_reply(peer_scl);
    slot.after_read(&mut st);
    let (hint_vdl, hint_tail) = st.seg.hint();
    Ok(Message::GossipPush {
        history: st.seg.history().to_vec(),
        scl: st.seg.scl(),
        hint_vdl,
        hint_tail,
        records,
        more,
    })
}

/// Bytes a `SegmentInfo` takes in a `Segments` payload.
fn info_bytes(i: &SegmentInfo) -> usize {
    4 + 8
        + 8
        + 8
        + 4
        + i.replicas
            .iter()
            .map(|r| 4 + 4 + r.addr.len() + 4 + r.az.len())
            .sum::<usize>()
}

async fn list_segments(node: &Arc<Node>) -> Reply {
    let slots: Vec<Arc<Slot>> = node
        .segments
        .read()
        .expect("segment map")
        .values()
        .cloned()
        .collect();
    let mut infos = Vec::with_capacity(slots.len());
    let mut bytes = 4;
    for slot in slots {
        let st = slot.state.lock().await;
        let (meta, epoch) = (st.seg.meta().clone(), st.seg.epoch());
        let Some(durable) = slot.commit(st).await else {
            continue;
        };
        let info = SegmentInfo {
            pg: meta.pg,
            pages_per_pg: meta.pages_per_pg,
            epoch,
            scl: durable.scl,
            replicas: meta.replicas,
        };
        bytes += info_bytes(&info);
        if bytes > FRAME_PAYLOAD_MAX {
            return Err(Message::error(
                ErrorCode::Internal,
                Epoch(0),
                "segment list exceeds one frame",
            ));
        }
        infos.push(info);
    }
    Ok(Message::Segments(infos))
}

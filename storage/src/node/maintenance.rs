//! Background upkeep of a segment: materialization, garbage collection and
//! log compaction.
//!
//! Every few gossip intervals the task coalesces long delta chains into page
//! images ([`crate::segment::Segment::materialize`]); every `gc_interval` it
//! drops versions below the minimum read point when the writer's `pgmrpl`
//! moved past the horizon ([`crate::segment::Segment::collect`]); and, when the log file has grown
//! well past the live data, lets [`super::store::Slot::compact`] trim records
//! older than the retention window and rewrite the log. The work runs on a
//! blocking thread so a big segment never stalls the runtime's workers, and
//! coalescing holds the segment lock only to plan and to install: the reads
//! and page-file writes that build the images happen without it (measured:
//! building them under the lock cut commit throughput by a third).

use std::sync::Arc;
use std::time::Duration;

use crate::node::store::Slot;
use crate::node::{now_ms, until_shutdown, Node};
use crate::segment::build_images;
use crate::types::PAGE_SIZE_U64;

/// Maintenance runs once per this many gossip intervals.
const GOSSIP_INTERVALS_PER_RUN: u32 = 5;
/// Bounds of the maintenance interval derived from the gossip interval.
const INTERVAL_MIN: Duration = Duration::from_millis(10);
const INTERVAL_MAX: Duration = Duration::from_secs(5);
/// A log file smaller than this is never compacted: rewriting it would cost
/// more than the space it frees.
pub const COMPACT_LOG_BYTES_MIN: u64 = 1024 * 1024;
/// Compact once the log file is this many times the live data.
pub const COMPACT_GROWTH_FACTOR: u64 = 2;
/// How often the segment memory gauges are refreshed: measuring walks every
/// record and page version of the segment under its lock, ~100 ms for a
/// segment of a million records (measured: at every 10 s, 3.5% of the
/// CPU of a `sextant dev` serving scans, and a stall for each request that
/// waited on the lock).
const MEMORY_METRICS_INTERVAL: Duration = Duration::from_secs(60);

/// Where in the GC cycle a segment replica starts, as a fraction of
/// `gc_interval`: spread over node ids and PGs (the golden ratio's
/// fractional part, so consecutive ids land far apart). A pass coalesces
/// every page changed since the last into an image, and six replicas that
/// started together passed together: under 32-client upserts `sextant dev`
/// (six replicas on two cores) fell from ~5,000 to ~1,600 commits/s for
/// two seconds every 30. Spread, one replica at a time takes a sixth of
/// that work, and a commit needs only four of the six acks: the lowest
/// two-second rate of the same 40 s run was ~3,400.
fn gc_phase(node_id: u32, pg: u32) -> f64 {
    const GOLDEN: f64 = 0.618_033_988_749_895;
    let n = f64::from(node_id) + 7.0 * f64::from(pg);
    (n * GOLDEN).fract()
}

/// The maintenance task of one segment.
pub(crate) async fn run(node: Arc<Node>, slot: Arc<Slot>) {
    let mut shutdown = node.shutdown.clone();
    let period =
        (node.config.gossip_interval * GOSSIP_INTERVALS_PER_RUN).clamp(INTERVAL_MIN, INTERVAL_MAX);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let retention_ms = u64::try_from(node.config.log_retention.as_millis()).unwrap_or(u64::MAX);
    let gc_interval = node.config.gc_interval;
    let mut last_gc = tokio::time::Instant::now()
        .checked_sub(gc_interval.mul_f64(gc_phase(node.config.node_id.0, slot.pg.0)))
        .unwrap_or_else(tokio::time::Instant::now);
    let mut last_measured: Option<tokio::time::Instant> = None;
    // The log file's size when compaction was last found not worth doing
    // (by the pre-check, or by `compact` after trimming, e.g. when the
    // retention window keeps the whole log): until the log grows or a GC
    // pass runs, the answer barely changes, and each check walks every
    // page of the segment (measured: with a million-row table on six
    // nodes and the log inside its retention window, most of an idle
    // `sextant dev`'s CPU, taken from the queries it served).
    let mut declined_at: Option<u64> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = until_shutdown(&mut shutdown) => return,
        }
        if slot.durable().stopped {
            return;
        }
        let c = node.cache.stats();
        node.metrics.cache(c.bytes, c.hits, c.misses);
        let file_bytes = slot.log_file_bytes();
        let work = slot.clone();
        let gc_due = last_gc.elapsed() >= gc_interval;
        if gc_due {
            last_gc = tokio::time::Instant::now();
        }
        let measure = last_measured.is_none_or(|t| t.elapsed() >= MEMORY_METRICS_INTERVAL);
        if measure {
            last_measured = Some(tokio::time::Instant::now());
        }
        let recheck = gc_due || declined_at != Some(file_bytes);
        let want_compaction = tokio::task::spawn_blocking(move || {
            // Plans are taken under the segment lock, images built (reads,
            // page-file writes) without it, and installed under it again:
            // appends and reads never wait for coalescing I/O.
            let mut st = work.state.blocking_lock();
            work.apply_spills(&mut st);
            let plan = st.seg.plan_materialize();
            work.store.pin_slots();
            drop(st);
            let built = build_images(&*work.store, &plan);
            let mut st = work.state.blocking_lock();
            let images = st.seg.apply_materialize(plan, built);
            if images > 0 {
                tracing::debug!(images, "materialized page images");
            }
            let plan = (gc_due && st.pgmrpl_seen > st.seg.horizon())
                .then(|| st.seg.plan_collect())
                .flatten();
            if let Some(plan) = plan {
                drop(st);
                let built = build_images(&*work.store, &plan);
                st = work.state.blocking_lock();
                if st.seg.apply_collect(plan, built) {
                    tracing::debug!(horizon = %st.seg.horizon(), "collected old versions");
                }
            }
            work.store.unpin_slots();
            work.after_read(&mut st);
            if measure {
                let m = st.seg.memory();
                work.metrics
                    .segment_memory(work.pg, m.index_bytes as u64, m.body_bytes as u64);
            }
            // Pre-check; `compact` decides after trimming.
            recheck
                && file_bytes >= COMPACT_LOG_BYTES_MIN
                && file_bytes
                    > COMPACT_GROWTH_FACTOR * st.seg.base_pages().len() as u64 * PAGE_SIZE_U64
        })
        .await;
        let want_compaction = match want_compaction {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("segment maintenance failed: {e}");
                continue;
            }
        };
        if !want_compaction {
            declined_at = Some(file_bytes);
            continue;
        }
        let keep_since_ms = now_ms().saturating_sub(retention_ms);
        match slot.compact(keep_since_ms, COMPACT_GROWTH_FACTOR).await {
            Ok(true) => declined_at = None,
            Ok(false) => declined_at = Some(file_bytes),
            Err(e) => {
                tracing::error!(dir = %slot.dir.display(), "failed to switch log generations, segment stopped: {e}");
                slot.stop();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::gc_phase;

    /// The six replicas of a PG (any six consecutive node ids) start their
    /// GC cycles apart, not together.
    #[test]
    fn replicas_of_a_pg_start_gc_apart() {
        for pg in 0..4 {
            for first in 1..20 {
                let mut phases: Vec<f64> = (first..first + 6).map(|n| gc_phase(n, pg)).collect();
                phases.sort_by(f64::total_cmp);
                assert!(phases.iter().all(|p| (0.0..1.0).contains(p)));
                let gaps = phases.windows(2).map(|w| w[1] - w[0]);
                let wrap = 1.0 - phases[5] + phases[0];
                let min = gaps.chain([wrap]).fold(f64::MAX, f64::min);
                assert!(min > 0.05, "pg {pg}, nodes {first}..: phases {phases:?}");
            }
        }
    }
}

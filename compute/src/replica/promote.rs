//! Promotion: a read replica becomes the writer (DESIGN.md §3).
//!
//! A reader is the writer's standby. Promoting it runs the writer's start:
//! volume recovery under a new epoch (`Engine::open`), which raises the
//! epoch on a write quorum of every protection group, so the old writer, if
//! it still runs, is fenced: storage rejects its next write or heartbeat and
//! it steps down (`Engine::fenced_by`). Recovery finds the VDL from a read
//! quorum of every PG, and every acknowledged commit is at or below it, so
//! promotion loses none; the reader's read point, which only ever passed
//! durable MTRs, is at or below it too (asserted).
//!
//! The new writer's engine is opened fresh beside the reader's: its buffer
//! pool starts cold (the follower's pool tracks versions by the stream's
//! rules, not the commit pipeline's). The follower keeps following until
//! recovery succeeded, so a failed promotion leaves a working reader; then
//! it stops. The reader's engine lives on for the transactions open on it,
//! read-only at their snapshots, until they end.

use sextant_storage::cluster::Cluster;
use sextant_storage::types::Lsn;

use super::follower::Follower;
use super::hub::{HubConfig, RedoHub};
use crate::engine::{Engine, EngineConfig, EngineError};

/// Why a promotion failed. The reader goes on following.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromoteError {
    /// Recovery under a new epoch, or opening the writer's engine, failed.
    #[error("recovery under a new epoch failed: {0}")]
    Recovery(#[from] EngineError),
}

/// A promoted reader: the writer's engine and its redo stream.
pub struct Promoted {
    /// The writer's engine, at the recovered VDL under the new epoch.
    pub engine: Engine,
    /// The redo stream of the new writer, for other readers.
    pub hub: RedoHub,
    /// The reader's read point when it stopped following.
    pub read_point: Lsn,
}

/// Promotes the reader that `follower` runs to the writer of the volume
/// `cluster` describes. `name` names the new writer in status rows. On
/// failure the follower is handed back, still following.
pub async fn promote(
    follower: Follower,
    cluster: Cluster,
    cfg: EngineConfig,
    name: String,
) -> Result<Promoted, (PromoteError, Follower)> {
    tracing::info!(read_point = %follower.read_point(), "promotion: recovering under a new epoch");
    let engine = match Engine::open(cluster, cfg).await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("promotion failed: {e}");
            return Err((e.into(), follower));
        }
    };
    // From here the old writer is fenced and its stream ends; stop following.
    let read_point = follower.read_point();
    drop(follower);
    assert!(
        read_point <= engine.vdl(),
        "the reader applied MTRs up to {read_point}, above the recovered VDL {}: a durable commit was lost",
        engine.vdl()
    );
    let hub = RedoHub::attach(&engine, name, HubConfig::default());
    tracing::info!(
        %read_point,
        vdl = %engine.vdl(),
        epoch = %engine.volume().epoch(),
        "promoted: this node is the writer"
    );
    Ok(Promoted {
        engine,
        hub,
        read_point,
    })
}

//! A compute node as its admin API sees it, shared by `sextant compute`
//! and `sextant dev`: its role (writer, reader, promoting, fenced), the
//! HTTP admin endpoint (`/health`, `/metrics`, `POST /promote`) and the
//! promotion of a reader into the writer on the same SQL port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sextant_compute::engine::EngineConfig;
use sextant_compute::metrics::ComputeMetrics;
use sextant_compute::replica::follower::Follower;
use sextant_compute::replica::hub::RedoHub;
use sextant_compute::replica::{promote, StatusSource};
use sextant_compute::sql::session::Database;
use sextant_storage::cluster::Cluster;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long the admin listener waits for open HTTP connections at shutdown.
const ADMIN_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Serves `hub`'s redo stream on `addr`, if there is one.
pub async fn serve_redo(hub: &RedoHub, addr: Option<SocketAddr>) -> anyhow::Result<()> {
    match addr {
        Some(addr) => {
            let l = TcpListener::bind(addr)
                .await
                .with_context(|| format!("listen on {addr} for the redo stream"))?;
            tracing::info!(%addr, "redo stream listening");
            tokio::spawn(hub.clone().serve(l));
        }
        None => tracing::warn!(
            "no redo stream address (--redo or the cluster file's `redo`): readers cannot follow this writer"
        ),
    }
    Ok(())
}

/// What keeps the node's role running: the writer's redo stream, or the
/// reader's follower (which `POST /promote` turns into the former).
pub enum NodeState {
    /// The writer (its redo hub lives in the status source and its
    /// listener task).
    Writer,
    Reader(Follower),
    /// While a promotion holds the follower (under the state lock).
    Promoting,
}

/// The node, as the admin endpoint sees and changes it.
pub struct Node {
    db: Arc<Database>,
    cluster: Cluster,
    /// How a promoted reader opens its writer engine.
    engine_cfg: EngineConfig,
    name: String,
    /// Where a writer (or a promoted reader) serves its redo stream.
    redo_listen: Option<SocketAddr>,
    status: std::sync::RwLock<Arc<dyn StatusSource>>,
    /// Held for the whole of a promotion, so two never run at once.
    state: tokio::sync::Mutex<NodeState>,
    promoting: AtomicBool,
}

impl Node {
    /// A node serving `db`; `state` holds what keeps its role running.
    pub fn new(
        db: Arc<Database>,
        cluster: Cluster,
        engine_cfg: EngineConfig,
        name: String,
        redo_listen: Option<SocketAddr>,
        status: Arc<dyn StatusSource>,
        state: NodeState,
    ) -> Arc<Node> {
        Arc::new(Node {
            db,
            cluster,
            engine_cfg,
            name,
            redo_listen,
            status: std::sync::RwLock::new(status),
            state: tokio::sync::Mutex::new(state),
            promoting: AtomicBool::new(false),
        })
    }

    /// The node's name in status rows and logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `writer`, `reader`, `promoting`, or `fenced` (a writer that a newer
    /// writer's epoch fenced: it fails every write and has stepped down).
    pub fn role(&self) -> &'static str {
        let engine = self.db.engine();
        if self.promoting.load(Ordering::SeqCst) {
            "promoting"
        } else if engine.is_reader() {
            "reader"
        } else if engine.fenced_by().is_some() {
            "fenced"
        } else {
            "writer"
        }
    }

    fn status(&self) -> Arc<dyn StatusSource> {
        self.status.read().expect("status lock").clone()
    }

    fn health(&self, metrics: &ComputeMetrics) -> serde_json::Value {
        let engine = self.db.engine();
        let rows = self.status().replica_status();
        let own = rows.first();
        serde_json::json!({
            "status": "ok",
            "role": self.role(),
            "name": self.name,
            "epoch": engine.volume().epoch().0,
            "fenced_by": engine.fenced_by().map(|e| e.0),
            "vdl": own.map_or(engine.vdl().0, |r| r.durable_lsn.0),
            "read_point": engine.vdl().0,
            "replica_lag_lsn": own.map_or(0, |r| r.lag_lsn),
            "replica_lag_ms": own.map_or(0, |r| r.lag_ms),
            "readers": rows.iter().skip(1).map(|r| serde_json::json!({
                "name": r.server_id,
                "connected": r.connected,
                "read_point": r.read_lsn.0,
                "lag_lsn": r.lag_lsn,
                "lag_ms": r.lag_ms,
            })).collect::<Vec<_>>(),
            "sessions": metrics.connections_active(),
        })
    }

    /// `POST /promote`: recovery under a new epoch, then this node is the
    /// writer on the same SQL port. 409 unless it is a reader.
    async fn promote(&self) -> (axum::http::StatusCode, serde_json::Value) {
        use axum::http::StatusCode;
        let mut state = self.state.lock().await;
        let follower = match std::mem::replace(&mut *state, NodeState::Promoting) {
            NodeState::Reader(f) => f,
            other => {
                *state = other;
                let role = self.role();
                return (
                    StatusCode::CONFLICT,
                    serde_json::json!({"error": format!("only a reader can be promoted; this node is the {role}"), "role": role}),
                );
            }
        };
        self.promoting.store(true, Ordering::SeqCst);
        let result = promote::promote(
            follower,
            self.cluster.clone(),
            self.engine_cfg.clone(),
            self.name.clone(),
        )
        .await;
        let reply = match result {
            Ok(p) => {
                let hub = p.hub.clone();
                let status: Arc<dyn StatusSource> = Arc::new(hub.clone());
                self.db.promote(p.engine.clone(), status.clone());
                *self.status.write().expect("status lock") = status;
                if let Err(e) = serve_redo(&hub, self.redo_listen).await {
                    tracing::warn!("promoted, but readers cannot follow: failed to {e:#}");
                }
                *state = NodeState::Writer;
                (
                    StatusCode::OK,
                    serde_json::json!({
                        "role": "writer",
                        "epoch": p.engine.volume().epoch().0,
                        "vdl": p.engine.vdl().0,
                        "read_point_before": p.read_point.0,
                    }),
                )
            }
            Err((e, follower)) => {
                *state = NodeState::Reader(follower);
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    serde_json::json!({"error": format!("promotion failed: {e}"), "role": "reader"}),
                )
            }
        };
        self.promoting.store(false, Ordering::SeqCst);
        reply
    }
}

/// `/health` (JSON: role, epoch, VDL, read point, lag), `/metrics`
/// (Prometheus text) and `POST /promote`.
pub async fn serve_admin(
    listener: TcpListener,
    node: Arc<Node>,
    metrics: Arc<ComputeMetrics>,
    stop: watch::Receiver<bool>,
) {
    let json = |v: serde_json::Value| {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
    };
    let (health_node, health_metrics) = (node.clone(), metrics.clone());
    let promote_node = node.clone();
    let app = axum::Router::new()
        .route(
            "/health",
            axum::routing::get(move || {
                let (node, metrics) = (health_node.clone(), health_metrics.clone());
                async move { json(node.health(&metrics)) }
            }),
        )
        .route(
            "/promote",
            axum::routing::post(move || {
                let node = promote_node.clone();
                async move {
                    let (code, body) = node.promote().await;
                    (code, json(body))
                }
            }),
        )
        .route(
            "/metrics",
            axum::routing::get(move || {
                let node = node.clone();
                let metrics = metrics.clone();
                async move {
                    let engine = node.db.engine();
                    let rows = node.status().replica_status();
                    let vdl = rows.first().map_or(engine.vdl(), |r| r.durable_lsn);
                    metrics.set_volume(vdl.0, engine.volume().epoch().0);
                    metrics.set_replication(&rows);
                    metrics.set_pool(engine.pool());
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode(),
                    )
                }
            }),
        );
    let mut graceful = stop.clone();
    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|s| *s).await;
    });
    // A scraper holding a keep-alive connection must not hold up shutdown.
    let mut hard = stop;
    let deadline = async move {
        let _ = hard.wait_for(|s| *s).await;
        tokio::time::sleep(ADMIN_SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        r = serve => if let Err(e) = r {
            tracing::warn!("admin listener failed: {e}");
        },
        () = deadline => {}
    }
}

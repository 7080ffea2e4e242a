//! `sextant compute`: a compute node (DESIGN.md §6).
//!
//! The writer recovers the volume described by `cluster.toml`, opens the
//! engine at the recovered VDL and serves the Postgres protocol on
//! `--listen`, with `/health` and `/metrics` on `--admin`, and its redo
//! stream on `--redo` (or its `[[compute]]` entry's `redo`). A reader
//! subscribes to the writer's redo stream (the `redo` of the cluster file's
//! `role = "writer"` entry, or `--writer-redo`), attaches to the volume at
//! the writer's VDL without recovery, and serves the same SQL read-only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use sextant_compute::engine::{Engine, EngineConfig};
use sextant_compute::metrics::ComputeMetrics;
use sextant_compute::replica::follower::{Follower, FollowerConfig};
use sextant_compute::replica::hub::{HubConfig, RedoHub};
use sextant_compute::replica::StatusSource;
use sextant_compute::server::{self, ServerConfig, TlsConfig};
use sextant_compute::sql::session::{Database, DatabaseConfig};
use sextant_storage::cluster::{Cluster, ComputeNode};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The dev superuser's password, used when none is given (with a warning).
const DEV_PASSWORD: &str = "sextant";

/// How long the admin listener waits for open HTTP connections at shutdown.
const ADMIN_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What a compute node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// The one node that writes: recovers the volume and commits.
    Writer,
    /// A read replica: follows the writer's redo stream, serves reads.
    Reader,
}

/// Flags of `sextant compute`.
#[derive(Args, Debug)]
pub struct ComputeArgs {
    /// Role of this node.
    #[arg(long, env = "SEXTANT_COMPUTE_ROLE", value_enum)]
    pub role: Role,
    /// Address of the Postgres protocol listener.
    #[arg(long, env = "SEXTANT_COMPUTE_LISTEN")]
    pub listen: SocketAddr,
    /// Address of the HTTP admin listener (`/health`, `/metrics`).
    #[arg(long, env = "SEXTANT_COMPUTE_ADMIN")]
    pub admin: SocketAddr,
    /// The cluster file naming the storage nodes.
    #[arg(long, env = "SEXTANT_COMPUTE_CLUSTER")]
    pub cluster: PathBuf,
    /// PEM certificate chain; with `--tls-key`, clients may connect with TLS.
    #[arg(long, env = "SEXTANT_COMPUTE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "SEXTANT_COMPUTE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Name of the database clients connect to.
    #[arg(long, env = "SEXTANT_COMPUTE_DATABASE", default_value = "sextant")]
    pub database: String,
    /// Name of the superuser.
    #[arg(long, env = "SEXTANT_COMPUTE_USER", default_value = "sextant")]
    pub user: String,
    /// The superuser's password (prefer the environment variable: a flag is
    /// visible in `ps`). Without one, the dev password `sextant` is used.
    #[arg(long, env = "SEXTANT_COMPUTE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Most client sessions at once.
    #[arg(long, env = "SEXTANT_COMPUTE_MAX_CONNECTIONS", default_value_t = 100)]
    pub max_connections: u32,
    /// Ends sessions idle inside a transaction this long; `0s` turns it off.
    #[arg(long, env = "SEXTANT_COMPUTE_IDLE_IN_TRANSACTION_TIMEOUT", default_value = "10min", value_parser = humantime::parse_duration)]
    pub idle_in_transaction_timeout: Duration,
    /// The writer's redo stream listener; defaults to the `redo` of the
    /// cluster file's compute entry whose `addr` is `--listen`.
    #[arg(long, env = "SEXTANT_COMPUTE_REDO")]
    pub redo: Option<SocketAddr>,
    /// A reader's source: the writer's redo stream address; defaults to the
    /// `redo` of the cluster file's `role = "writer"` entry.
    #[arg(long, env = "SEXTANT_COMPUTE_WRITER_REDO")]
    pub writer_redo: Option<String>,
    /// This node's name in replica status; defaults to the `id` of its
    /// cluster file entry, else its `--listen` address.
    #[arg(long, env = "SEXTANT_COMPUTE_NAME")]
    pub name: Option<String>,
    /// Ends sessions idle outside a transaction this long; `0s` (the
    /// default) turns it off.
    #[arg(long, env = "SEXTANT_COMPUTE_IDLE_SESSION_TIMEOUT", default_value = "0s", value_parser = humantime::parse_duration)]
    pub idle_session_timeout: Duration,
}

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// Checks the flags and returns the server's configuration.
fn server_config(args: &ComputeArgs) -> anyhow::Result<ServerConfig> {
    let cfg = ServerConfig {
        max_connections: args.max_connections,
        idle_in_transaction_session_timeout: nonzero(args.idle_in_transaction_timeout),
        idle_session_timeout: nonzero(args.idle_session_timeout),
        ..ServerConfig::default()
    };
    cfg.validate()?;
    Ok(cfg)
}

/// This node's entry in the cluster file: the one whose Postgres address
/// is `--listen`.
fn own_entry<'a>(cluster: &'a Cluster, args: &ComputeArgs) -> Option<&'a ComputeNode> {
    cluster
        .compute
        .iter()
        .find(|c| c.addr.parse::<SocketAddr>().is_ok_and(|a| a == args.listen))
}

/// Runs a compute node until Ctrl-C or SIGTERM.
pub async fn run(args: ComputeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.database.is_empty(), "--database must not be empty");
    anyhow::ensure!(!args.user.is_empty(), "--user must not be empty");
    let cfg = server_config(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsConfig::from_pem_files(cert, key)?),
        _ => None,
    };
    let password = match args.password.clone() {
        Some(p) if !p.is_empty() => p,
        Some(_) => anyhow::bail!("--password must not be empty"),
        None => {
            tracing::warn!(user = %args.user, "no password given; using the dev password");
            DEV_PASSWORD.to_owned()
        }
    };
    let cluster =
        Cluster::load(&args.cluster).with_context(|| format!("load {}", args.cluster.display()))?;

    let own = own_entry(&cluster, &args);
    let name = args
        .name
        .clone()
        .or_else(|| own.map(|c| c.id.clone()))
        .unwrap_or_else(|| args.listen.to_string());
    let redo_listen = match args.redo {
        Some(a) => Some(a),
        None => own
            .and_then(|c| c.redo.as_deref())
            .map(|r| {
                r.parse::<SocketAddr>()
                    .with_context(|| format!("redo address {r}"))
            })
            .transpose()?,
    };
    let db_cfg = DatabaseConfig {
        database: args.database.clone(),
        users: vec![(args.user.clone(), password)],
    };
    let (node, _follower) = match args.role {
        Role::Writer => {
            let engine = Engine::open(cluster, EngineConfig::default())
                .await
                .context("open the engine")?;
            tracing::info!(vdl = %engine.vdl(), epoch = %engine.volume().epoch(), "engine open");
            let hub = RedoHub::attach(&engine, name.clone(), HubConfig::default());
            match redo_listen {
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
            let status: Arc<dyn StatusSource> = Arc::new(hub);
            (Node { engine, status }, None)
        }
        Role::Reader => {
            let writer = match args.writer_redo.clone() {
                Some(w) => w,
                None => cluster
                    .compute
                    .iter()
                    .find(|c| c.role.as_deref() == Some("writer"))
                    .and_then(|c| c.redo.clone())
                    .context(
                        "no writer redo stream: give --writer-redo or a `role = \"writer\"` compute entry with `redo` in the cluster file",
                    )?,
            };
            let follower = Follower::start(
                cluster,
                EngineConfig::default(),
                FollowerConfig::new(writer.clone(), name.clone()),
            )
            .await
            .with_context(|| format!("follow the writer's redo stream at {writer}"))?;
            let engine = follower.engine().clone();
            tracing::info!(read_point = %engine.vdl(), %writer, "reader open");
            let status = follower.status_source();
            (Node { engine, status }, Some(follower))
        }
    };
    let db = Database::new(node.engine.clone(), db_cfg);
    db.set_status_source(node.status.clone());
    let metrics = Arc::new(ComputeMetrics::new());

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let admin = TcpListener::bind(args.admin)
        .await
        .with_context(|| format!("listen on {}", args.admin))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let role = args.role;
    let admin_task = tokio::spawn(serve_admin(admin, node, role, metrics.clone(), stop_rx));
    tracing::info!(listen = %args.listen, admin = %args.admin, ?role, "compute node ready");

    let served =
        server::serve_with(listener, db, tls, cfg, metrics, super::shutdown_signal()).await;
    let _ = stop_tx.send(true);
    let _ = admin_task.await;
    served?;
    tracing::info!("compute node stopped");
    Ok(())
}

/// What the admin endpoint reports on.
#[derive(Clone)]
struct Node {
    engine: Engine,
    status: Arc<dyn StatusSource>,
}

/// `/health` (JSON: role, epoch, VDL, read point, lag) and `/metrics`
/// (Prometheus text).
async fn serve_admin(
    listener: TcpListener,
    node: Node,
    role: Role,
    metrics: Arc<ComputeMetrics>,
    stop: watch::Receiver<bool>,
) {
    let health_node = node.clone();
    let health_metrics = metrics.clone();
    let role_name = match role {
        Role::Writer => "writer",
        Role::Reader => "reader",
    };
    let app = axum::Router::new()
        .route(
            "/health",
            axum::routing::get(move || {
                let node = health_node.clone();
                let metrics = health_metrics.clone();
                async move {
                    let rows = node.status.replica_status();
                    let own = rows.first();
                    let body = serde_json::json!({
                        "status": "ok",
                        "role": role_name,
                        "epoch": node.engine.volume().epoch().0,
                        "vdl": own.map_or(node.engine.vdl().0, |r| r.durable_lsn.0),
                        "read_point": node.engine.vdl().0,
                        "replica_lag_lsn": own.map_or(0, |r| r.lag_lsn),
                        "replica_lag_ms": own.map_or(0, |r| r.lag_ms),
                        "readers": rows.iter().skip(1).map(|r| serde_json::json!({
                            "name": r.server_id,
                            "read_point": r.read_lsn.0,
                            "lag_lsn": r.lag_lsn,
                            "lag_ms": r.lag_ms,
                        })).collect::<Vec<_>>(),
                        "sessions": metrics.connections_active(),
                    });
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body.to_string(),
                    )
                }
            }),
        )
        .route(
            "/metrics",
            axum::routing::get(move || {
                let node = node.clone();
                let metrics = metrics.clone();
                async move {
                    let rows = node.status.replica_status();
                    let vdl = rows.first().map_or(node.engine.vdl(), |r| r.durable_lsn);
                    metrics.set_volume(vdl.0, node.engine.volume().epoch().0);
                    metrics.set_replication(&rows);
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

//! `sextant compute`: a compute node (DESIGN.md §6).
//!
//! The writer recovers the volume described by `cluster.toml`, opens the
//! engine at the recovered VDL and serves the Postgres protocol on
//! `--listen`, with `/health` and `/metrics` on `--admin`. Readers are not
//! built yet: `--role reader` fails with exit status 2.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use sextant_compute::engine::{Engine, EngineConfig};
use sextant_compute::metrics::ComputeMetrics;
use sextant_compute::server::{self, ServerConfig, TlsConfig};
use sextant_compute::sql::session::{Database, DatabaseConfig};
use sextant_storage::cluster::Cluster;
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
    /// A read replica (not built yet).
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

/// Runs a compute node until Ctrl-C or SIGTERM.
pub async fn run(args: ComputeArgs) -> anyhow::Result<()> {
    if args.role == Role::Reader {
        eprintln!("error: reader role not implemented yet");
        std::process::exit(2);
    }
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

    let engine = Engine::open(cluster, EngineConfig::default())
        .await
        .context("open the engine")?;
    tracing::info!(vdl = %engine.vdl(), epoch = %engine.volume().epoch(), "engine open");
    let db = Database::new(
        engine.clone(),
        DatabaseConfig {
            database: args.database.clone(),
            users: vec![(args.user.clone(), password)],
        },
    );
    let metrics = Arc::new(ComputeMetrics::new());

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let admin = TcpListener::bind(args.admin)
        .await
        .with_context(|| format!("listen on {}", args.admin))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let admin_task = tokio::spawn(serve_admin(admin, engine, metrics.clone(), stop_rx));
    tracing::info!(listen = %args.listen, admin = %args.admin, "compute writer ready");

    let served =
        server::serve_with(listener, db, tls, cfg, metrics, super::shutdown_signal()).await;
    let _ = stop_tx.send(true);
    let _ = admin_task.await;
    served?;
    tracing::info!("compute writer stopped");
    Ok(())
}

/// `/health` (JSON: role, epoch, VDL) and `/metrics` (Prometheus text).
async fn serve_admin(
    listener: TcpListener,
    engine: Engine,
    metrics: Arc<ComputeMetrics>,
    stop: watch::Receiver<bool>,
) {
    let health_engine = engine.clone();
    let health_metrics = metrics.clone();
    let app = axum::Router::new()
        .route(
            "/health",
            axum::routing::get(move || {
                let engine = health_engine.clone();
                let metrics = health_metrics.clone();
                async move {
                    let body = serde_json::json!({
                        "status": "ok",
                        "role": "writer",
                        "epoch": engine.volume().epoch().0,
                        "vdl": engine.vdl().0,
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
                let engine = engine.clone();
                let metrics = metrics.clone();
                async move {
                    metrics.set_volume(engine.vdl().0, engine.volume().epoch().0);
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

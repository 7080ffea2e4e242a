//! `sextant compute`: a compute node (DESIGN.md §6).
//!
//! The writer recovers the volume described by `cluster.toml`, opens the
//! engine at the recovered VDL and serves the Postgres protocol on
//! `--listen`, with `/health` and `/metrics` on `--admin`, and its redo
//! stream on `--redo` (or its `[[compute]]` entry's `redo`). A reader
//! subscribes to the writer's redo stream (the `redo` of the cluster file's
//! `role = "writer"` entry, or `--writer-redo`), attaches to the volume at
//! the writer's VDL without recovery, and serves the same SQL read-only.
//!
//! `POST /promote` on a reader's admin endpoint makes it the writer
//! (`replica::promote`: recovery under a new epoch, which fences the old
//! writer) on the same SQL port, with its redo stream on `--redo` (or its
//! entry's `redo`). A writer that storage fenced reports `role: fenced` on
//! `/health` and fails every write.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::node::{serve_admin, serve_redo, Node, NodeState};
use anyhow::Context;
use clap::{Args, ValueEnum};
use sextant_compute::engine::Engine;
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
    /// Address of the HTTP admin listener (`/health`, `/metrics`, and
    /// `POST /promote` on a reader).
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
    /// Memory for cached pages (the buffer pool), e.g. `256MiB`, `4GiB`.
    /// A reader that holds its working set answers from memory; a page it
    /// lacks costs a round trip to a storage node.
    #[arg(long, env = "SEXTANT_COMPUTE_BUFFER_POOL", default_value = "1GiB", value_parser = super::buffer_pool_size)]
    pub buffer_pool: u64,
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
    let (engine, status, state) = match args.role {
        Role::Writer => {
            let engine = Engine::open(cluster.clone(), super::engine_config(args.buffer_pool))
                .await
                .context("open the engine")?;
            tracing::info!(vdl = %engine.vdl(), epoch = %engine.volume().epoch(), "engine open");
            let hub = RedoHub::attach(&engine, name.clone(), HubConfig::default());
            serve_redo(&hub, redo_listen).await?;
            let status: Arc<dyn StatusSource> = Arc::new(hub.clone());
            (engine, status, NodeState::Writer)
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
            // The other nodes' redo addresses: where a promoted one would
            // stream from, so this reader follows a failover by itself.
            let mut follow = FollowerConfig::new(writer.clone(), name.clone());
            follow.alternates = cluster
                .compute
                .iter()
                .filter(|c| own.is_none_or(|o| o.id != c.id))
                .filter_map(|c| c.redo.clone())
                .filter(|r| *r != writer)
                .collect();
            let follower = Follower::start(
                cluster.clone(),
                super::engine_config(args.buffer_pool),
                follow,
            )
            .await
            .with_context(|| format!("follow the writer's redo stream at {writer}"))?;
            let engine = follower.engine().clone();
            tracing::info!(read_point = %engine.vdl(), %writer, "reader open");
            let status = follower.status_source();
            (engine, status, NodeState::Reader(follower))
        }
    };
    let db = Database::new(engine, db_cfg);
    db.set_status_source(status.clone());
    let metrics = Arc::new(ComputeMetrics::new());

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let admin = TcpListener::bind(args.admin)
        .await
        .with_context(|| format!("listen on {}", args.admin))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let node = Node::new(
        db.clone(),
        cluster,
        super::engine_config(args.buffer_pool),
        name,
        redo_listen,
        status,
        state,
    );
    let admin_task = tokio::spawn(serve_admin(admin, node.clone(), metrics.clone(), stop_rx));
    tracing::info!(listen = %args.listen, admin = %args.admin, role = node.role(), "compute node ready");

    let served =
        server::serve_with(listener, db, tls, cfg, metrics, super::shutdown_signal()).await;
    let _ = stop_tx.send(true);
    let _ = admin_task.await;
    served?;
    tracing::info!("compute node stopped");
    Ok(())
}

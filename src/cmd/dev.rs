//! `sextant dev`: a whole cluster in one process on loopback.
//!
//! Today the cluster is the storage tier — six storage nodes, two in each of
//! three AZs, with a `cluster.toml` written into the data directory so other
//! subcommands (`sextant bench volume`) can reach them — the writer,
//! serving the Postgres protocol on `--port` (until the proxy exists, the
//! writer itself is the writer endpoint), and `--readers` read replicas
//! (one by default) following the writer's redo stream, the first on
//! `--reader-port` and the others on the ports after it (until the proxy
//! exists, the first reader is the reader endpoint). The proxy and ingest
//! service join this command as they are built; the flags for their
//! endpoints are part of the command-line contract (DESIGN.md §6) and are
//! accepted already. Data survives restarts under `--data`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sextant_compute::engine::{Engine, EngineConfig};
use sextant_compute::replica::follower::{Follower, FollowerConfig};
use sextant_compute::replica::hub::{HubConfig, RedoHub, READERS_MAX};
use sextant_compute::server;
use sextant_compute::sql::session::{Database, DatabaseConfig};
use sextant_storage::cluster::Cluster;
use sextant_storage::node::{self, NodeConfig};
use sextant_storage::types::NodeId;

/// Cache of each of the six storage nodes of `sextant dev`.
const DEV_STORAGE_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Flags of `sextant dev`.
#[derive(Args, Debug)]
pub struct DevArgs {
    /// Directory for all cluster data; reused across restarts.
    #[arg(long, env = "SEXTANT_DEV_DATA", default_value = "./sextant-data")]
    pub data: PathBuf,
    /// Writer endpoint (Postgres protocol).
    #[arg(long, env = "SEXTANT_DEV_PORT", default_value_t = 6432)]
    pub port: u16,
    /// Reader endpoint (Postgres protocol).
    #[arg(long, env = "SEXTANT_DEV_READER_PORT", default_value_t = 6433)]
    pub reader_port: u16,
    /// Ingest HTTP endpoint.
    #[arg(long, env = "SEXTANT_DEV_HTTP_PORT", default_value_t = 8080)]
    pub http_port: u16,
    /// Read replicas to run (0 to 15).
    #[arg(long, env = "SEXTANT_DEV_READERS", default_value_t = 1)]
    pub readers: u16,
    /// First port of the six storage nodes (they take six in a row) on the
    /// first start; later starts reuse the ports in `DATA/cluster.toml`.
    #[arg(long, env = "SEXTANT_DEV_STORAGE_PORT", default_value_t = 7101)]
    pub storage_port: u16,
}

const AZS: [&str; 3] = ["az-a", "az-b", "az-c"];

/// The dev cluster's database, superuser and password (DESIGN.md §6: dev
/// only, and printed).
const DEV_DATABASE: &str = "sextant";
const DEV_USER: &str = "sextant";
const DEV_PASSWORD: &str = "sextant";

/// Runs the dev cluster until Ctrl-C or SIGTERM.
pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("create {}", args.data.display()))?;
    let cluster_path = args.data.join("cluster.toml");
    if !cluster_path.exists() {
        anyhow::ensure!(
            args.storage_port <= u16::MAX - 12,
            "--storage-port too high: six nodes need six ports"
        );
        std::fs::write(&cluster_path, cluster_toml(args.storage_port))
            .with_context(|| format!("write {}", cluster_path.display()))?;
    }
    let cluster = Cluster::load(&cluster_path)?;
    let mut handles = Vec::new();
    for (id, n) in &cluster.nodes {
        let listen: SocketAddr = n
            .addr
            .parse()
            .with_context(|| format!("storage node {id} address {}", n.addr))?;
        let metrics = n
            .metrics
            .as_deref()
            .map(str::parse)
            .transpose()
            .context("metrics address")?;
        let config = NodeConfig {
            listen,
            az: n.az.clone(),
            data_dir: args.data.join(format!("storage-{id}")),
            node_id: NodeId(id.0),
            metrics,
            gossip_interval: Duration::from_millis(200),
            log_retention: Duration::from_secs(24 * 3600),
            fsync: true,
            // Six nodes share one process (and usually a laptop): a small
            // cache each keeps the cluster's memory modest at any data size.
            cache_bytes: DEV_STORAGE_CACHE_BYTES,
        };
        std::fs::create_dir_all(&config.data_dir)?;
        let handle = node::start(config)
            .await
            .with_context(|| format!("start storage node {id} on {listen}"))?;
        handles.push(handle);
    }

    anyhow::ensure!(
        usize::from(args.readers) <= READERS_MAX,
        "--readers must be at most {READERS_MAX}"
    );
    anyhow::ensure!(
        u32::from(args.reader_port) + u32::from(args.readers) <= u32::from(u16::MAX),
        "--reader-port too high for {} readers",
        args.readers
    );
    let engine = Engine::open(cluster.clone(), EngineConfig::default())
        .await
        .context("open the writer's engine")?;
    let hub = RedoHub::attach(&engine, "writer".into(), HubConfig::default());
    let redo = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("listen for the redo stream")?;
    let redo_addr = redo.local_addr()?;
    tokio::spawn(hub.clone().serve(redo));
    let db = Database::new(engine, dev_db_config());
    db.set_status_source(Arc::new(hub));
    let writer_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let listener = tokio::net::TcpListener::bind(writer_addr)
        .await
        .with_context(|| format!("listen on {writer_addr} for the writer (--port)"))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(server::serve(listener, db, None, async move {
        let _ = stop_rx.await;
    }));

    let mut readers = Vec::new();
    for i in 0..args.readers {
        let name = format!("reader-{}", i + 1);
        let follower = Follower::start(
            cluster.clone(),
            EngineConfig::default(),
            FollowerConfig::new(redo_addr.to_string(), name.clone()),
        )
        .await
        .with_context(|| format!("start {name}"))?;
        let db = Database::new(follower.engine().clone(), dev_db_config());
        db.set_status_source(follower.status_source());
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.reader_port + i));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen on {addr} for {name} (--reader-port)"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, db, None, async move {
            let _ = stopped.await;
        }));
        readers.push((follower, stop, task));
    }

    println!("{}", banner(&args, &cluster, &cluster_path));
    super::shutdown_signal().await;
    for (follower, stop, task) in readers {
        let _ = stop.send(());
        task.await.context("reader task")?.context("reader")?;
        drop(follower);
    }
    let _ = stop_tx.send(());
    writer.await.context("writer task")?.context("writer")?;
    for h in handles {
        h.shutdown().await;
    }
    Ok(())
}

fn dev_db_config() -> DatabaseConfig {
    DatabaseConfig {
        database: DEV_DATABASE.to_owned(),
        users: vec![(DEV_USER.to_owned(), DEV_PASSWORD.to_owned())],
    }
}

fn cluster_toml(base: u16) -> String {
    let mut s = String::from(
        "# Written by `sextant dev`: the dev cluster's storage nodes.\nsegment_size = \"10GiB\"\n",
    );
    for i in 0..6u16 {
        let az = AZS[usize::from(i / 2)];
        let port = base + i;
        let metrics = base + 6 + i;
        let _ = write!(
            s,
            "\n[[storage]]\nid = {}\naddr = \"127.0.0.1:{port}\"\naz = \"{az}\"\nmetrics = \"127.0.0.1:{metrics}\"\n",
            i + 1
        );
    }
    s
}

fn banner(args: &DevArgs, cluster: &Cluster, cluster_path: &Path) -> String {
    let mut s = format!(
        "Sextant dev cluster is up.\n\n\
         Writer (Postgres protocol): 127.0.0.1:{port}  database {DEV_DATABASE}, user {DEV_USER}, password {DEV_PASSWORD} (dev only)\n  \
         psql \"postgres://{DEV_USER}:{DEV_PASSWORD}@127.0.0.1:{port}/{DEV_DATABASE}\"\n\n",
        port = args.port
    );
    for i in 0..args.readers {
        let port = args.reader_port + i;
        let _ = write!(
            s,
            "Reader {} (read-only, follows the writer): 127.0.0.1:{port}\n  \
             psql \"postgres://{DEV_USER}:{DEV_PASSWORD}@127.0.0.1:{port}/{DEV_DATABASE}\"\n\n",
            i + 1
        );
    }
    s += "Storage nodes (6 copies of every page, 2 per AZ):\n";
    for (id, n) in &cluster.nodes {
        let _ = writeln!(
            s,
            "  node {id:<2} {:<6} {}  metrics http://{}/metrics",
            n.az,
            n.addr,
            n.metrics.as_deref().unwrap_or("-")
        );
    }
    let _ = write!(
        s,
        "\nCluster file: {}\nData:         {}\n\n\
         Ingest (:{}) is not part of this build yet.\nPress Ctrl-C to stop.",
        cluster_path.display(),
        args.data.display(),
        args.http_port
    );
    s
}

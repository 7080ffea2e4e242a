//! `sextant dev`: a whole cluster in one process on loopback.
//!
//! The whole of DESIGN.md §1 in one process: six storage nodes, two in
//! each of three AZs, with a `cluster.toml` written into the data
//! directory (storage entries fixed from the first start; the compute
//! entries of the running cluster rewritten below a marker at every start);
//! the writer and `--readers` read replicas (one by default) on free
//! loopback ports, each with an admin endpoint (`/health`, `/metrics`,
//! `POST /promote`); the proxy with its writer endpoint on `--port` and its
//! reader endpoint on `--reader-port` (TLS with a self-signed pair under
//! `DATA/tls/`, the dev IAM file `DATA/iam.toml`, failover); and the ingest
//! service on `--http-port`, writing through the proxy. The dev IAM user's
//! access key is in `DATA/dev-credentials.env`, the ingest bearer token in
//! `DATA/ingest-tokens`. Data survives restarts under `--data`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sextant_compute::engine::Engine;
use sextant_compute::metrics::ComputeMetrics;
use sextant_compute::replica::follower::{Follower, FollowerConfig};
use sextant_compute::replica::hub::{HubConfig, RedoHub, READERS_MAX};
use sextant_compute::replica::StatusSource;
use sextant_compute::server::{self, ServerConfig};
use sextant_compute::sql::session::{Database, DatabaseConfig};
use sextant_storage::cluster::Cluster;
use sextant_storage::node::{self, NodeConfig};
use sextant_storage::types::NodeId;
use tokio::net::TcpListener;
use tokio::sync::watch;

use sextant_cdc_ingest::ingest::{curl_example, Config as IngestConfig, Service as IngestService};

use sextant_proxy::iam::IamFile;
use sextant_proxy::{
    BackendCredentials, ComputeNode as ProxyNode, Listen, Proxy, ProxyConfig, ProxyHandle,
    RoleHint, TlsFiles,
};

use super::dev_iam;
use super::node::{serve_admin, Node, NodeState};

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
    /// Buffer pool of the writer and of each reader, e.g. `256MiB`, `2GiB`.
    #[arg(long, env = "SEXTANT_DEV_BUFFER_POOL", default_value = "1GiB", value_parser = super::buffer_pool_size)]
    pub buffer_pool: u64,
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
            gc_interval: node::DEFAULT_GC_INTERVAL,
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
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut nodes = Vec::new();

    let engine = Engine::open(cluster.clone(), super::engine_config(args.buffer_pool))
        .await
        .context("open the writer's engine")?;
    let hub = RedoHub::attach(&engine, "writer-1".into(), HubConfig::default());
    let redo = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("listen for the redo stream")?;
    let redo_addr = redo.local_addr()?;
    tokio::spawn(hub.clone().serve(redo));
    let db = Database::new(engine, dev_db_config());
    let status: Arc<dyn StatusSource> = Arc::new(hub);
    db.set_status_source(status.clone());
    let node = Node::new(
        db.clone(),
        cluster.clone(),
        super::engine_config(args.buffer_pool),
        "writer-1".into(),
        Some(redo_addr),
        status,
        NodeState::Writer,
    );
    // Compute nodes listen on free loopback ports: clients come in through
    // the proxy on --port and --reader-port.
    let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    nodes.push(
        start_node(node, db, any_port, Some(redo_addr), &stop_rx)
            .await
            .context("start the writer")?,
    );

    // Where each reader would serve its redo stream once promoted. They are
    // picked now, so every reader can follow whichever node is the writer.
    let mut promoted_redo = Vec::new();
    for _ in 0..args.readers {
        promoted_redo.push(free_loopback_addr().context("pick a redo stream port")?);
    }
    for i in 0..args.readers {
        let name = format!("reader-{}", i + 1);
        let own_redo = promoted_redo[usize::from(i)];
        let mut follow = FollowerConfig::new(redo_addr.to_string(), name.clone());
        follow.alternates = promoted_redo
            .iter()
            .filter(|a| **a != own_redo)
            .map(ToString::to_string)
            .collect();
        let follower = Follower::start(
            cluster.clone(),
            super::engine_config(args.buffer_pool),
            follow,
        )
        .await
        .with_context(|| format!("start {name}"))?;
        let db = Database::new(follower.engine().clone(), dev_db_config());
        let status = follower.status_source();
        db.set_status_source(status.clone());
        let node = Node::new(
            db.clone(),
            cluster.clone(),
            super::engine_config(args.buffer_pool),
            name.clone(),
            Some(own_redo),
            status,
            NodeState::Reader(follower),
        );
        nodes.push(
            start_node(node, db, any_port, Some(own_redo), &stop_rx)
                .await
                .with_context(|| format!("start {name}"))?,
        );
    }
    write_compute_entries(&cluster_path, &nodes)?;

    // The proxy: the writer endpoint on --port, the reader endpoint on
    // --reader-port, TLS with a self-signed pair, the dev IAM file.
    let iam = dev_iam::ensure(&args.data, DEV_USER, DEV_PASSWORD)?;
    let (cert, key) = dev_iam::ensure_tls(&args.data)?;
    let proxy = start_proxy(&args, &nodes, &iam, cert.clone(), key)
        .await
        .context("start the proxy")?;

    // The ingest service writes through the writer endpoint, as any client.
    let (tokens_file, ingest_token) = dev_iam::ensure_ingest_token(&args.data)?;
    let mut ingest_cfg = IngestConfig::new(format!(
        "postgres://{DEV_USER}:{DEV_PASSWORD}@127.0.0.1:{}/{DEV_DATABASE}",
        args.port
    ))?;
    ingest_cfg.defaults.create = true;
    ingest_cfg.tokens_file = Some(tokens_file);
    ingest_cfg.iam_file = Some(iam.iam_file.clone());
    let http = SocketAddr::from((Ipv4Addr::LOCALHOST, args.http_port));
    let ingest_listener = TcpListener::bind(http)
        .await
        .with_context(|| format!("listen on {http} for the ingest service (--http-port)"))?;
    let ingest = IngestService::start(ingest_cfg, ingest_listener)
        .await
        .context("start the ingest service")?;
    let curl = curl_example(ingest.local_addr(), "events", Some(&ingest_token));

    println!(
        "{}",
        banner(
            &args,
            &cluster,
            &cluster_path,
            &nodes,
            &Front {
                curl: &curl,
                iam: &iam,
                cert: &cert,
                proxy_metrics: proxy.metrics_addr(),
            }
        )
    );
    super::shutdown_signal().await;
    // Ingest first: it drains its queue into the still-running writer
    // through the proxy; then the proxy, then compute.
    if let Err(e) = ingest.shutdown().await {
        tracing::warn!("ingest service: {e}");
    }
    proxy.shutdown().await;
    let _ = stop_tx.send(true);
    // Readers first, so none is left following a stopped writer.
    for n in nodes.into_iter().rev() {
        let _ = n.admin.await;
        n.sql
            .await
            .context("compute node task")?
            .with_context(|| n.name.clone())?;
    }
    for h in handles {
        h.shutdown().await;
    }
    Ok(())
}

/// Starts the proxy in front of `nodes` (the writer first).
async fn start_proxy(
    args: &DevArgs,
    nodes: &[DevNode],
    iam: &dev_iam::DevIam,
    cert: PathBuf,
    key: PathBuf,
) -> anyhow::Result<ProxyHandle> {
    let compute = nodes
        .iter()
        .map(|n| ProxyNode {
            name: n.name.clone(),
            sql_addr: n.sql_addr.to_string(),
            admin_addr: Some(n.admin_addr.to_string()),
            role: if n.role == "writer" {
                RoleHint::Writer
            } else {
                RoleHint::Reader
            },
        })
        .collect();
    let mut cfg = ProxyConfig::new(
        Listen::Addr(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))),
        BackendCredentials {
            user: DEV_USER.to_owned(),
            password: DEV_PASSWORD.to_owned(),
            database: DEV_DATABASE.to_owned(),
        },
        compute,
    );
    cfg.reader_listen = Some(Listen::Addr(SocketAddr::from((
        Ipv4Addr::LOCALHOST,
        args.reader_port,
    ))));
    cfg.metrics_listen = Some(Listen::Addr(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))));
    cfg.tls = Some(TlsFiles { cert, key });
    cfg.iam = Some(Arc::new(
        IamFile::load(&iam.iam_file).context("load the dev IAM file")?,
    ));
    // Everything shares one process here: a writer busy with a big load
    // may answer its health check late, and that must not promote a
    // reader. Failover still happens within seconds of a real loss.
    cfg.health.timeout = Duration::from_secs(2);
    cfg.health.failover_misses = 12;
    Ok(Proxy::start(cfg).await?)
}

/// One compute node of the dev cluster, as it runs.
struct DevNode {
    name: String,
    role: &'static str,
    sql_addr: SocketAddr,
    admin_addr: SocketAddr,
    redo: Option<SocketAddr>,
    sql: tokio::task::JoinHandle<Result<(), server::ServerError>>,
    admin: tokio::task::JoinHandle<()>,
}

/// Serves `node`'s SQL on `sql` and its admin API on a free loopback port.
async fn start_node(
    node: Arc<Node>,
    db: Arc<Database>,
    sql: SocketAddr,
    redo: Option<SocketAddr>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<DevNode> {
    let listener = TcpListener::bind(sql)
        .await
        .with_context(|| format!("listen on {sql}"))?;
    let sql = listener.local_addr()?;
    let admin = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("listen for the admin API")?;
    let admin_addr = admin.local_addr()?;
    let metrics = Arc::new(ComputeMetrics::new());
    let name = node.name().to_owned();
    let role = node.role();
    let admin = tokio::spawn(serve_admin(admin, node, metrics.clone(), stop.clone()));
    let mut stopped = stop.clone();
    let task = tokio::spawn(server::serve_with(
        listener,
        db,
        None,
        ServerConfig::default(),
        metrics,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));
    Ok(DevNode {
        name,
        role,
        sql_addr: sql,
        admin_addr,
        redo,
        sql: task,
        admin,
    })
}

/// A loopback address whose port was free a moment ago (for a listener
/// bound later, on promotion).
fn free_loopback_addr() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}

/// Marks where `sextant dev` writes this run's compute nodes into the
/// cluster file (their ports change from run to run; the storage nodes'
/// above it do not).
const COMPUTE_MARKER: &str =
    "# Compute nodes of the running dev cluster (rewritten at every start).";

/// Rewrites the cluster file's compute entries, so `sextant status
/// --cluster DATA/cluster.toml` and other tools find this run's nodes.
fn write_compute_entries(path: &Path, nodes: &[DevNode]) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut s = match text.find(COMPUTE_MARKER) {
        Some(at) => text[..at].trim_end().to_owned(),
        None => text.trim_end().to_owned(),
    };
    let _ = writeln!(s, "\n\n{COMPUTE_MARKER}");
    for n in nodes {
        let _ = write!(
            s,
            "\n[[compute]]\nid = \"{}\"\naddr = \"{}\"\nadmin = \"{}\"\nrole = \"{}\"\n",
            n.name, n.sql_addr, n.admin_addr, n.role
        );
        if let Some(r) = n.redo {
            let _ = writeln!(s, "redo = \"{r}\"");
        }
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, s).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replace {}", path.display()))?;
    // The file must still load as a cluster file.
    Cluster::load(path)?;
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

/// What the banner says about the proxy and the ingest service.
struct Front<'a> {
    curl: &'a str,
    iam: &'a dev_iam::DevIam,
    cert: &'a Path,
    proxy_metrics: Option<SocketAddr>,
}

fn banner(
    args: &DevArgs,
    cluster: &Cluster,
    cluster_path: &Path,
    nodes: &[DevNode],
    front: &Front<'_>,
) -> String {
    let Front {
        curl,
        iam,
        cert,
        proxy_metrics,
    } = *front;
    let (port, rport) = (args.port, args.reader_port);
    let readers = match args.readers {
        0 => "no readers: it goes to the writer".to_owned(),
        1 => "one reader".to_owned(),
        n => format!("least-connections over {n} readers"),
    };
    let mut s = format!(
        "Sextant dev cluster is up.\n\n\
         Writer endpoint: 127.0.0.1:{port}  database {DEV_DATABASE}, user {DEV_USER}, password {DEV_PASSWORD} (dev only)\n  \
         psql \"postgres://{DEV_USER}:{DEV_PASSWORD}@127.0.0.1:{port}/{DEV_DATABASE}\"\n\
         Reader endpoint ({readers}): 127.0.0.1:{rport}\n  \
         psql \"postgres://{DEV_USER}:{DEV_PASSWORD}@127.0.0.1:{rport}/{DEV_DATABASE}\"\n\n\
         Both endpoints are the proxy: TLS with a self-signed certificate ({cert}; \
         sslmode=verify-full sslrootcert={cert}), passwords or IAM tokens, failover.\n\
         IAM: set -a; . {creds}; set +a\n  \
         PGPASSWORD=\"$(sextant token --host 127.0.0.1 --port {port} --user {DEV_USER} --region {region})\" \
         psql \"host=127.0.0.1 port={port} user={DEV_USER} dbname={DEV_DATABASE} sslmode=require\"\n\n",
        cert = cert.display(),
        creds = iam.credentials_env.display(),
        region = dev_iam::DEV_REGION,
    );
    if let Some(m) = proxy_metrics {
        let _ = writeln!(s, "Proxy metrics: http://{m}/metrics\n");
    }
    s += "Compute nodes (direct; /health, /metrics and POST /promote on a reader's admin API):\n";
    for n in nodes {
        let _ = writeln!(
            s,
            "  {:<9} {:<6} {}  admin http://{}/health",
            n.name, n.role, n.sql_addr, n.admin_addr
        );
    }
    s += "\nStorage nodes (6 copies of every page, 2 per AZ):\n";
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
        "\nIngest (HTTP JSON change events; tables made on first use): http://127.0.0.1:{}\n  {curl}\n\n\
         IAM user {} (access key {}) may connect as {DEV_USER} and post events.\n\n\
         Cluster file: {}\nData:         {}\n\nPress Ctrl-C to stop.",
        args.http_port,
        dev_iam::DEV_IAM_USER,
        iam.access_key_id,
        cluster_path.display(),
        args.data.display(),
    );
    s
}

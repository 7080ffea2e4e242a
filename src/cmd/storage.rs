//! `sextant storage`: one storage node, hosting segment replicas.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sextant_storage::node::{self, NodeConfig};
use sextant_storage::types::NodeId;

/// Flags of `sextant storage`.
#[derive(Args, Debug)]
pub struct StorageArgs {
    /// Address of the storage protocol listener.
    #[arg(long, env = "SEXTANT_STORAGE_LISTEN")]
    pub listen: SocketAddr,
    /// Availability zone of this node, as named in cluster.toml.
    #[arg(long, env = "SEXTANT_STORAGE_AZ")]
    pub az: String,
    /// Directory for segment logs; created if missing.
    #[arg(long, env = "SEXTANT_STORAGE_DATA")]
    pub data: PathBuf,
    /// Node id, as in cluster.toml. Defaults to the id stored in the data
    /// directory, or the listen port on first start.
    #[arg(long, env = "SEXTANT_STORAGE_NODE_ID")]
    pub node_id: Option<u32>,
    /// Address of the Prometheus `/metrics` listener.
    #[arg(long, env = "SEXTANT_STORAGE_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// How often each segment asks its peers for records it lacks.
    #[arg(long, env = "SEXTANT_STORAGE_GOSSIP_INTERVAL", default_value = "200ms", value_parser = humantime::parse_duration)]
    pub gossip_interval: Duration,
    /// How long log records are kept after they fall below the GC horizon.
    #[arg(long, env = "SEXTANT_STORAGE_LOG_RETENTION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub log_retention: Duration,
    /// How often each segment moves its GC horizon up to the writer's
    /// minimum read point (dropping versions no longer needed there; long
    /// delta chains become page images).
    #[arg(long, env = "SEXTANT_STORAGE_GC_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub gc_interval: Duration,
    /// Memory for record bodies and page images (all segments together), e.g.
    /// `64MiB`; the rest stays on disk and is read back on demand.
    #[arg(long, env = "SEXTANT_STORAGE_CACHE_SIZE", default_value = "64MiB", value_parser = parse_cache_size)]
    pub cache_size: u64,
    /// Threads that run requests. Each request is short in-memory work
    /// (fsyncs, coalescing and compaction run on threads of their own), so
    /// one thread serves a node's segments; more only pay off on a host with
    /// cores to spare (see ARCHITECTURE.md, "Storage node threads").
    #[arg(long, env = "SEXTANT_STORAGE_WORKER_THREADS", default_value_t = DEFAULT_WORKER_THREADS, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub worker_threads: u16,
}

/// Request threads of a storage node unless `--worker-threads` says
/// otherwise. Measured with six nodes on two cores (`benches/storage.sh`,
/// BENCHMARKS.md): one thread each commits ~20% more at concurrency 64 for
/// ~17% less CPU per commit than a thread per core, whose workers spent
/// their time waking and parking one another.
pub const DEFAULT_WORKER_THREADS: u16 = 1;

fn parse_cache_size(s: &str) -> Result<u64, String> {
    let bytes = sextant_storage::cluster::parse_size(s)?;
    if !(node::CACHE_BYTES_MIN..=node::CACHE_BYTES_MAX).contains(&bytes) {
        return Err(format!(
            "cache size must be between {} and {} bytes",
            node::CACHE_BYTES_MIN,
            node::CACHE_BYTES_MAX
        ));
    }
    Ok(bytes)
}

/// Checks the flags and returns the node's configuration.
pub fn config(args: StorageArgs) -> anyhow::Result<NodeConfig> {
    anyhow::ensure!(
        !args.az.trim().is_empty(),
        "--az must name an availability zone"
    );
    anyhow::ensure!(
        args.gossip_interval >= Duration::from_millis(10)
            && args.gossip_interval <= Duration::from_secs(60),
        "--gossip-interval must be between 10ms and 60s"
    );
    anyhow::ensure!(
        (node::GC_INTERVAL_MIN..=node::GC_INTERVAL_MAX).contains(&args.gc_interval),
        "--gc-interval must be between {:?} and {:?}",
        node::GC_INTERVAL_MIN,
        node::GC_INTERVAL_MAX
    );
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("create data directory {}", args.data.display()))?;
    let node_id = node_id(&args)?;
    Ok(NodeConfig {
        listen: args.listen,
        az: args.az,
        data_dir: args.data,
        node_id,
        metrics: args.metrics,
        gossip_interval: args.gossip_interval,
        log_retention: args.log_retention,
        gc_interval: args.gc_interval,
        fsync: true,
        cache_bytes: args.cache_size,
    })
}

fn node_id(args: &StorageArgs) -> anyhow::Result<NodeId> {
    let path = args.data.join("node-id");
    let stored = match std::fs::read_to_string(&path) {
        Ok(s) => Some(
            s.trim()
                .parse::<u32>()
                .with_context(|| format!("parse {}", path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    let id = match (args.node_id, stored) {
        (Some(given), Some(stored)) if given != stored => {
            anyhow::bail!(
                "--node-id {given} differs from id {stored} stored in {}",
                path.display()
            )
        }
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => u32::from(args.listen.port()),
    };
    if stored.is_none() {
        std::fs::write(&path, format!("{id}\n"))
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(NodeId(id))
}

/// Runs a storage node until Ctrl-C or SIGTERM.
pub async fn run(args: StorageArgs) -> anyhow::Result<()> {
    let config = config(args)?;
    let handle = node::start(config).await.context("start storage node")?;
    tracing::info!(addr = %handle.addr(), metrics = ?handle.metrics_addr(), "storage node ready");
    super::shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}

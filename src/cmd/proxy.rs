//! `sextant proxy`: the proxy in front of the compute nodes of a cluster
//! file (DESIGN.md §4 and §6). The writer endpoint is `--listen`, the reader
//! endpoint `--reader-listen`; the compute nodes are the `[[compute]]`
//! entries of `--cluster`. Everything else is in the `sextant-proxy` crate,
//! which `sextant dev` runs in process too.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use sextant_proxy::iam::IamFile;
use sextant_proxy::{
    BackendCredentials, HealthConfig, Limits, Listen, Proxy, ProxyConfig, TlsFiles,
};

/// Flags of `sextant proxy`.
#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// Address of the writer (cluster) endpoint.
    #[arg(long, env = "SEXTANT_PROXY_LISTEN")]
    pub listen: SocketAddr,
    /// Address of the reader endpoint.
    #[arg(long, env = "SEXTANT_PROXY_READER_LISTEN")]
    pub reader_listen: SocketAddr,
    /// The cluster file; its `[[compute]]` entries are the nodes to front.
    #[arg(long, env = "SEXTANT_PROXY_CLUSTER")]
    pub cluster: PathBuf,
    /// PEM certificate chain presented to clients; with `--tls-key`.
    #[arg(long, env = "SEXTANT_PROXY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "SEXTANT_PROXY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Refuse clients that do not use TLS.
    #[arg(long, env = "SEXTANT_PROXY_REQUIRE_TLS", requires = "tls_cert")]
    pub require_tls: bool,
    /// The IAM file (IAM users with access keys and policies, password
    /// users). Without it the one user is `--backend-user` with
    /// `--backend-password`.
    #[arg(long, env = "SEXTANT_PROXY_IAM")]
    pub iam: Option<PathBuf>,
    /// `host:port` names IAM tokens may be signed for (repeat the flag);
    /// default: the listen addresses, and `localhost:PORT` for loopback.
    #[arg(
        long = "endpoint-name",
        env = "SEXTANT_PROXY_ENDPOINT_NAMES",
        value_delimiter = ','
    )]
    pub endpoint_names: Vec<String>,
    /// Address of the HTTP `/metrics` listener.
    #[arg(long, env = "SEXTANT_PROXY_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// The user the proxy logs in to compute as.
    #[arg(long, env = "SEXTANT_PROXY_BACKEND_USER", default_value = "sextant")]
    pub backend_user: String,
    /// Its password (prefer the environment variable: a flag is visible in
    /// `ps`). Without one, the dev password `sextant` is used.
    #[arg(long, env = "SEXTANT_PROXY_BACKEND_PASSWORD", hide_env_values = true)]
    pub backend_password: Option<String>,
    /// Database for clients that name none.
    #[arg(
        long,
        env = "SEXTANT_PROXY_BACKEND_DATABASE",
        default_value = "sextant"
    )]
    pub backend_database: String,
    /// Time between health checks of each compute node.
    #[arg(long, env = "SEXTANT_PROXY_HEALTH_INTERVAL", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub health_interval: Duration,
    /// How long one health check may take.
    #[arg(long, env = "SEXTANT_PROXY_HEALTH_TIMEOUT", default_value = "500ms", value_parser = humantime::parse_duration)]
    pub health_timeout: Duration,
    /// Missed writer health checks in a row before a reader is promoted.
    #[arg(long, env = "SEXTANT_PROXY_FAILOVER_MISSES", default_value_t = 3)]
    pub failover_misses: u32,
    /// How long a promotion may take.
    #[arg(long, env = "SEXTANT_PROXY_PROMOTE_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub promote_timeout: Duration,
    /// How long statements and new sessions wait for a writer during a
    /// failover before failing with 57P03.
    #[arg(long, env = "SEXTANT_PROXY_HOLD_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub hold_timeout: Duration,
    /// Refuse reader endpoint sessions when no reader is healthy, instead of
    /// sending them to the writer.
    #[arg(long, env = "SEXTANT_PROXY_NO_READER_FALLBACK")]
    pub no_reader_fallback: bool,
    /// Most client connections at once (both endpoints).
    #[arg(long, env = "SEXTANT_PROXY_MAX_CONNECTIONS", default_value_t = 1000)]
    pub max_connections: u32,
    /// Largest protocol message, in bytes, either direction.
    #[arg(long, env = "SEXTANT_PROXY_MAX_MESSAGE_BYTES", default_value_t = 64 << 20)]
    pub max_message_bytes: u32,
    /// Disconnect clients idle this long; `0s` turns it off.
    #[arg(long, env = "SEXTANT_PROXY_IDLE_TIMEOUT", default_value = "30min", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// TLS, startup and authentication must finish within this.
    #[arg(long, env = "SEXTANT_PROXY_AUTH_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub auth_timeout: Duration,
    /// Connecting and logging in to a compute node must finish within this.
    #[arg(long, env = "SEXTANT_PROXY_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
}

/// Builds the proxy's configuration from the flags.
pub fn config(args: ProxyArgs) -> anyhow::Result<ProxyConfig> {
    let nodes = sextant_proxy::load_cluster_nodes(&args.cluster)?;
    let iam = match &args.iam {
        Some(p) => {
            Some(Arc::new(IamFile::load(p).with_context(|| {
                format!("load the IAM file {}", p.display())
            })?))
        }
        None => None,
    };
    let backend = BackendCredentials {
        user: args.backend_user,
        password: args.backend_password.unwrap_or_else(|| "sextant".into()),
        database: args.backend_database,
    };
    let mut c = ProxyConfig::new(Listen::Addr(args.listen), backend, nodes);
    c.reader_listen = Some(Listen::Addr(args.reader_listen));
    c.metrics_listen = args.metrics.map(Listen::Addr);
    c.tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    c.require_tls = args.require_tls;
    c.iam = iam;
    c.endpoint_names = args.endpoint_names;
    c.health = HealthConfig {
        interval: args.health_interval,
        timeout: args.health_timeout,
        failover_misses: args.failover_misses,
        promote_timeout: args.promote_timeout,
    };
    c.hold_timeout = args.hold_timeout;
    c.reader_fallback_to_writer = !args.no_reader_fallback;
    c.limits = Limits {
        max_connections: args.max_connections,
        max_message_bytes: args.max_message_bytes,
        idle_timeout: (!args.idle_timeout.is_zero()).then_some(args.idle_timeout),
        auth_timeout: args.auth_timeout,
        connect_timeout: args.connect_timeout,
    };
    c.validate()?;
    Ok(c)
}

/// Runs the proxy until Ctrl-C or SIGTERM.
pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let handle = Proxy::start(config(args)?).await?;
    super::shutdown_signal().await;
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
}

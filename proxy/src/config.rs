//! The proxy's configuration: listeners, TLS, users, the compute nodes it
//! fronts, health checking and failover, and limits.
//!
//! [`ProxyConfig`] is built by `sextant proxy` from flags and the cluster
//! file, or by `sextant dev` in process, and checked once by
//! [`ProxyConfig::validate`] before any listener starts: every limit has a
//! range, and a value outside it is an error naming the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::error::ConfigError;
use crate::iam::IamFile;

/// Where a listener is: an address to bind, or a socket bound already (so
/// a caller can pick free ports and hand them over without a race).
#[derive(Debug)]
pub enum Listen {
    /// Bind this address at start.
    Addr(SocketAddr),
    /// Use this bound socket.
    Bound(std::net::TcpListener),
}

/// The certificate chain and private key (PEM files) the proxy presents.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What the proxy logs in to compute with (its own credentials; clients
/// never see them).
#[derive(Clone)]
pub struct BackendCredentials {
    pub user: String,
    pub password: String,
    /// Database used when the client names none.
    pub database: String,
}

impl std::fmt::Debug for BackendCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendCredentials")
            .field("user", &self.user)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// What the cluster file says a compute node is, before health checks
/// tell what it is now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleHint {
    Writer,
    Reader,
}

/// A compute node the proxy may route to.
#[derive(Clone, Debug)]
pub struct ComputeNode {
    /// Its name (`id` in the cluster file), in logs and metrics.
    pub name: String,
    /// Postgres protocol address (`host:port`).
    pub sql_addr: String,
    /// HTTP admin address (`/health`, `POST /promote`). Without one the
    /// node keeps its hinted role and is healthy while its SQL port accepts
    /// connections; it can neither be promoted nor detected as promoted.
    pub admin_addr: Option<String>,
    /// The role the cluster file gives it.
    pub role: RoleHint,
}

/// Health checking and failover.
#[derive(Clone, Debug)]
pub struct HealthConfig {
    /// Time between health checks of every node.
    pub interval: Duration,
    /// How long one `/health` request may take before it counts as a miss.
    pub timeout: Duration,
    /// Consecutive misses after which the writer is declared dead and a
    /// reader promoted.
    pub failover_misses: u32,
    /// How long a `POST /promote` may take (it runs crash recovery).
    pub promote_timeout: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval: Duration::from_millis(250),
            timeout: Duration::from_millis(500),
            failover_misses: 3,
            promote_timeout: Duration::from_secs(30),
        }
    }
}

/// Explicit limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Client connections at once, both endpoints together; one more is
    /// refused with 53300.
    pub max_connections: u32,
    /// Largest protocol message in either direction. The relay holds a
    /// whole message in memory, so this bounds memory per session.
    pub max_message_bytes: u32,
    /// A client that sends nothing for this long outside a request is
    /// disconnected (57P05). `None`: never.
    pub idle_timeout: Option<Duration>,
    /// TLS negotiation, startup and authentication must finish within this.
    pub auth_timeout: Duration,
    /// Connecting and logging in to a compute node must finish within this.
    pub connect_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1000,
            max_message_bytes: 64 << 20,
            idle_timeout: Some(Duration::from_secs(30 * 60)),
            auth_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Smallest message limit: a startup packet or an error must fit.
pub const MAX_MESSAGE_BYTES_MIN: u32 = 64 << 10;
/// Largest message limit: PostgreSQL's own (1 GiB, `MaxAllocSize`).
pub const MAX_MESSAGE_BYTES_MAX: u32 = 1 << 30;
/// Most client connections one proxy takes.
pub const MAX_CONNECTIONS_MAX: u32 = 100_000;

/// Everything the proxy needs to start.
pub struct ProxyConfig {
    /// The writer (cluster) endpoint.
    pub writer_listen: Listen,
    /// The reader endpoint, if any.
    pub reader_listen: Option<Listen>,
    /// HTTP `/metrics`, if any.
    pub metrics_listen: Option<Listen>,
    /// TLS certificate and key; without them clients are told TLS is not
    /// available and IAM authentication is impossible.
    pub tls: Option<TlsFiles>,
    /// Refuse clients that do not negotiate TLS (28000).
    pub require_tls: bool,
    /// IAM users and password users. Without a file, the one user is the
    /// backend user with the backend password (SCRAM).
    pub iam: Option<Arc<IamFile>>,
    /// `host:port` names an IAM token may be signed for. Empty: the
    /// listeners' addresses, plus `localhost:PORT` for loopback ones.
    pub endpoint_names: Vec<String>,
    /// How far a token's signing time may be in the future.
    pub token_clock_skew: Duration,
    /// The proxy's own login to compute.
    pub backend: BackendCredentials,
    /// The compute nodes.
    pub nodes: Vec<ComputeNode>,
    pub health: HealthConfig,
    /// How long a statement (or a new connection) waits for a writer during
    /// a failover before it fails with 57P03.
    pub hold_timeout: Duration,
    /// Reader endpoint sessions go to the writer when no reader is healthy.
    pub reader_fallback_to_writer: bool,
    pub limits: Limits,
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("writer_listen", &self.writer_listen)
            .field("reader_listen", &self.reader_listen)
            .field("tls", &self.tls)
            .field("require_tls", &self.require_tls)
            .field("iam", &self.iam.is_some())
            .field("nodes", &self.nodes)
            .field("health", &self.health)
            .field("hold_timeout", &self.hold_timeout)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ProxyConfig {
    /// A configuration with defaults for everything but what must be given.
    pub fn new(
        writer_listen: Listen,
        backend: BackendCredentials,
        nodes: Vec<ComputeNode>,
    ) -> ProxyConfig {
        ProxyConfig {
            writer_listen,
            reader_listen: None,
            metrics_listen: None,
            tls: None,
            require_tls: false,
            iam: None,
            endpoint_names: Vec::new(),
            token_clock_skew: Duration::from_secs(60),
            backend,
            nodes,
            health: HealthConfig::default(),
            hold_timeout: Duration::from_secs(15),
            reader_fallback_to_writer: true,
            limits: Limits::default(),
        }
    }

    /// Range-checks every setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |setting: &'static str, why: String| Err(ConfigError::Invalid { setting, why });
        if self.nodes.is_empty() {
            return bad("nodes", "no compute nodes (a [[compute]] entry)".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if self.nodes[..i].iter().any(|m| m.name == n.name) {
                return bad("nodes", format!("compute node {:?} appears twice", n.name));
            }
        }
        if !self.nodes.iter().any(|n| n.role == RoleHint::Writer)
            && !self.nodes.iter().any(|n| n.admin_addr.is_some())
        {
            return bad(
                "nodes",
                "no writer: mark one node `role = \"writer\"` or give nodes an admin address"
                    .into(),
            );
        }
        if self.require_tls && self.tls.is_none() {
            return bad(
                "require_tls",
                "TLS is required but no certificate is given".into(),
            );
        }
        if self.backend.user.is_empty() {
            return bad("backend.user", "empty".into());
        }
        let l = &self.limits;
        if !(1..=MAX_CONNECTIONS_MAX).contains(&l.max_connections) {
            return bad(
                "max_connections",
                format!("{} is outside 1..={MAX_CONNECTIONS_MAX}", l.max_connections),
            );
        }
        if !(MAX_MESSAGE_BYTES_MIN..=MAX_MESSAGE_BYTES_MAX).contains(&l.max_message_bytes) {
            return bad(
                "max_message_bytes",
                format!(
                    "{} is outside {MAX_MESSAGE_BYTES_MIN}..={MAX_MESSAGE_BYTES_MAX}",
                    l.max_message_bytes
                ),
            );
        }
        let h = &self.health;
        let in_range = |d: Duration, lo_ms: u64, hi_s: u64| {
            d >= Duration::from_millis(lo_ms) && d <= Duration::from_secs(hi_s)
        };
        if !in_range(h.interval, 10, 60) {
            return bad(
                "health_interval",
                format!("{:?} is outside 10ms..=60s", h.interval),
            );
        }
        if !in_range(h.timeout, 10, 60) {
            return bad(
                "health_timeout",
                format!("{:?} is outside 10ms..=60s", h.timeout),
            );
        }
        if !(1..=100).contains(&h.failover_misses) {
            return bad(
                "failover_misses",
                format!("{} is outside 1..=100", h.failover_misses),
            );
        }
        if !in_range(h.promote_timeout, 100, 600) {
            return bad(
                "promote_timeout",
                format!("{:?} is outside 100ms..=600s", h.promote_timeout),
            );
        }
        if !in_range(self.hold_timeout, 0, 600) {
            return bad(
                "hold_timeout",
                format!("{:?} is over 600s", self.hold_timeout),
            );
        }
        if !in_range(l.auth_timeout, 100, 600) {
            return bad(
                "auth_timeout",
                format!("{:?} is outside 100ms..=600s", l.auth_timeout),
            );
        }
        if !in_range(l.connect_timeout, 10, 600) {
            return bad(
                "connect_timeout",
                format!("{:?} is outside 10ms..=600s", l.connect_timeout),
            );
        }
        if let Some(t) = l.idle_timeout {
            if !in_range(t, 100, 7 * 24 * 3600) {
                return bad("idle_timeout", format!("{t:?} is outside 100ms..=7d"));
            }
        }
        Ok(())
    }
}

/// The `[[compute]]` entries of a cluster file. Other sections (storage
/// nodes, segment size, ...) belong to other components and are ignored,
/// as are unknown keys inside an entry: the file is shared, and the proxy
/// must not fail when a field it has no use for is added.
pub fn load_cluster_nodes(path: &Path) -> Result<Vec<ComputeNode>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ClusterFile {
        path: path.to_owned(),
        why: e.to_string(),
    })?;
    parse_cluster_nodes(&text).map_err(|why| ConfigError::ClusterFile {
        path: path.to_owned(),
        why,
    })
}

#[derive(serde::Deserialize)]
struct RawCluster {
    #[serde(default)]
    compute: Vec<RawCompute>,
}

#[derive(serde::Deserialize)]
struct RawCompute {
    id: String,
    addr: String,
    #[serde(default)]
    admin: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

/// Parses the `[[compute]]` entries of a cluster file's text.
pub fn parse_cluster_nodes(text: &str) -> Result<Vec<ComputeNode>, String> {
    let raw: RawCluster = toml::from_str(text).map_err(|e| e.to_string())?;
    raw.compute
        .into_iter()
        .map(|c| {
            let role = match c.role.as_deref() {
                Some("writer") => RoleHint::Writer,
                Some("reader") | None => RoleHint::Reader,
                Some(other) => {
                    return Err(format!(
                        "compute {:?}: role {other:?} is neither \"writer\" nor \"reader\"",
                        c.id
                    ))
                }
            };
            Ok(ComputeNode {
                name: c.id,
                sql_addr: c.addr,
                admin_addr: c.admin,
                role,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_file_compute_entries_parse_and_other_sections_are_ignored() {
        let nodes = parse_cluster_nodes(
            r#"
segment_size = "512KiB"
[[storage]]
id = 1
addr = "127.0.0.1:7101"
az = "az-a"
[[compute]]
id = "writer-1"
addr = "127.0.0.1:7201"
admin = "127.0.0.1:7301"
role = "writer"
redo = "127.0.0.1:7401"
[[compute]]
id = "reader-1"
addr = "127.0.0.1:7202"
"#,
        )
        .unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].name, "writer-1");
        assert_eq!(nodes[0].role, RoleHint::Writer);
        assert_eq!(nodes[0].admin_addr.as_deref(), Some("127.0.0.1:7301"));
        assert_eq!(nodes[1].role, RoleHint::Reader);
        assert_eq!(nodes[1].admin_addr, None);
        let err = parse_cluster_nodes("[[compute]]\nid=\"x\"\naddr=\"a\"\nrole=\"boss\"\n");
        assert!(err.unwrap_err().contains("boss"));
    }

    #[test]
    fn out_of_range_limits_are_refused_by_name() {
        let mut c = ProxyConfig::new(
            Listen::Addr("127.0.0.1:0".parse().unwrap()),
            BackendCredentials {
                user: "u".into(),
                password: "p".into(),
                database: "d".into(),
            },
            vec![ComputeNode {
                name: "w".into(),
                sql_addr: "127.0.0.1:1".into(),
                admin_addr: None,
                role: RoleHint::Writer,
            }],
        );
        c.validate().unwrap();
        c.limits.max_message_bytes = 10;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("max_message_bytes"), "{e}");
        c.limits.max_message_bytes = 1 << 20;
        c.require_tls = true;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("require_tls"));
    }
}

//! The cluster file (`cluster.toml`) and segment placement.
//!
//! The cluster file is the one description of a multi-process cluster: storage
//! nodes with their AZs, compute nodes, and the segment size. Placement maps a
//! protection group to six storage nodes, two in each of three AZs, as a pure
//! function of the node list, so a writer that restarts places new PGs the same
//! way; nodes stay authoritative about what they host (`ListSegments`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::types::{NodeId, PgId, PAGE_SIZE_U64};
use crate::wire::Replica;

/// Replicas per protection group.
pub const REPLICAS: usize = 6;
/// Availability zones a PG spans.
pub const AZS_PER_PG: usize = 3;
/// Replicas per AZ.
pub const REPLICAS_PER_AZ: usize = 2;
/// Replicas that must hold a record for it to be durable.
pub const WRITE_QUORUM: usize = 4;
/// Replicas that must answer recovery for a PG.
pub const READ_QUORUM: usize = 3;
const _: () = assert!(AZS_PER_PG * REPLICAS_PER_AZ == REPLICAS);
const _: () = assert!(
    WRITE_QUORUM + READ_QUORUM > REPLICAS,
    "read and write quorums must overlap"
);
const _: () = assert!(
    2 * WRITE_QUORUM > REPLICAS,
    "two write quorums must overlap"
);

/// Smallest segment: one page would make every write its own PG.
pub const SEGMENT_SIZE_MIN: u64 = 64 * PAGE_SIZE_U64;
/// Largest segment, the size Aurora uses.
pub const SEGMENT_SIZE_MAX: u64 = 10 * 1024 * 1024 * 1024;

/// A storage node in the cluster file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StorageNode {
    /// Unique node id.
    pub id: u32,
    /// `host:port` of its storage protocol listener.
    pub addr: String,
    /// Availability zone.
    pub az: String,
    /// Optional `host:port` of its `/metrics` listener.
    #[serde(default)]
    pub metrics: Option<String>,
}

/// A compute node in the cluster file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ComputeNode {
    /// Name, e.g. `writer-1`.
    pub id: String,
    /// Postgres protocol address.
    pub addr: String,
    /// HTTP admin API address.
    #[serde(default)]
    pub admin: Option<String>,
    /// `writer` or `reader`.
    #[serde(default)]
    pub role: Option<String>,
    /// The writer's redo stream listener (`host:port`), which its read
    /// replicas subscribe to.
    #[serde(default)]
    pub redo: Option<String>,
}

/// The parsed cluster file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
// Unknown keys are rejected: a typo in a cluster file should fail loudly
// rather than silently fall back to a default.
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// Segment size, e.g. `"10GiB"`.
    #[serde(default = "default_segment_size")]
    pub segment_size: String,
    /// Storage nodes.
    #[serde(default)]
    pub storage: Vec<StorageNode>,
    /// Compute nodes.
    #[serde(default)]
    pub compute: Vec<ComputeNode>,
}

fn default_segment_size() -> String {
    "10GiB".to_string()
}

/// A cluster file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Reading the file failed.
    #[error("read cluster file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// TOML syntax or unknown keys.
    #[error("parse cluster file: {0}")]
    Parse(#[from] toml::de::Error),
    /// The contents are inconsistent.
    #[error("invalid cluster file: {0}")]
    Invalid(String),
}

/// A validated cluster description.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Bytes per segment (a multiple of the page size).
    pub segment_size: u64,
    /// Storage nodes by id.
    pub nodes: BTreeMap<NodeId, StorageNode>,
    /// Compute nodes.
    pub compute: Vec<ComputeNode>,
}

impl Cluster {
    /// Reads and validates a cluster file.
    pub fn load(path: &Path) -> Result<Cluster, ClusterError> {
        let text = std::fs::read_to_string(path).map_err(|source| ClusterError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Cluster::parse(&text)
    }

    /// Parses and validates cluster-file text.
    pub fn parse(text: &str) -> Result<Cluster, ClusterError> {
        let file: ClusterFile = toml::from_str(text)?;
        Cluster::from_file(file)
    }

    /// Validates a parsed cluster file.
    pub fn from_file(file: ClusterFile) -> Result<Cluster, ClusterError> {
        let segment_size = parse_size(&file.segment_size).map_err(ClusterError::Invalid)?;
        if segment_size % PAGE_SIZE_U64 != 0 {
            return Err(ClusterError::Invalid(format!(
                "segment_size {segment_size} is not a multiple of the {PAGE_SIZE_U64}-byte page"
            )));
        }
        if !(SEGMENT_SIZE_MIN..=SEGMENT_SIZE_MAX).contains(&segment_size) {
            return Err(ClusterError::Invalid(format!(
                "segment_size must be between {SEGMENT_SIZE_MIN} bytes and 10GiB, got {segment_size}"
            )));
        }
        let mut nodes = BTreeMap::new();
        for n in file.storage {
            if n.addr.is_empty() || n.az.is_empty() {
                return Err(ClusterError::Invalid(format!(
                    "storage node {} needs addr and az",
                    n.id
                )));
            }
            let id = n.id;
            if nodes.insert(NodeId(id), n).is_some() {
                return Err(ClusterError::Invalid(format!(
                    "storage node id {id} appears twice"
                )));
            }
        }
        let cluster = Cluster {
            segment_size,
            nodes,
            compute: file.compute,
        };
        let azs = cluster.azs();
        let usable = azs
            .values()
            .filter(|ns| ns.len() >= REPLICAS_PER_AZ)
            .count();
        if usable < AZS_PER_PG {
            return Err(ClusterError::Invalid(format!(
                "need at least {AZS_PER_PG} AZs with {REPLICAS_PER_AZ} storage nodes each; have {}",
                azs.iter()
                    .map(|(az, ns)| format!("{az}: {}", ns.len()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(cluster)
    }

    /// Pages per protection group.
    pub fn pages_per_pg(&self) -> u64 {
        self.segment_size / PAGE_SIZE_U64
    }

    fn azs(&self) -> BTreeMap<&str, Vec<&StorageNode>> {
        let mut azs: BTreeMap<&str, Vec<&StorageNode>> = BTreeMap::new();
        for n in self.nodes.values() {
            azs.entry(n.az.as_str()).or_default().push(n);
        }
        azs
    }

    /// The six replicas of `pg`: two nodes in each of three AZs, rotating
    /// through AZs and nodes so PGs spread evenly.
    pub fn place(&self, pg: PgId) -> Vec<Replica> {
        let azs: Vec<Vec<&StorageNode>> = self
            .azs()
            .into_values()
            .filter(|ns| ns.len() >= REPLICAS_PER_AZ)
            .collect();
        assert!(azs.len() >= AZS_PER_PG, "validated at load");
        let k = pg.0 as usize;
        let mut out = Vec::with_capacity(REPLICAS);
        for i in 0..AZS_PER_PG {
            let nodes = &azs[(k + i) % azs.len()];
            for j in 0..REPLICAS_PER_AZ {
                let n = nodes[(k * REPLICAS_PER_AZ + j) % nodes.len()];
                out.push(Replica {
                    node: NodeId(n.id),
                    addr: n.addr.clone(),
                    az: n.az.clone(),
                });
            }
        }
        assert_eq!(out.len(), REPLICAS);
        out
    }
}

/// Parses a size such as `10GiB`, `64MiB`, `8192` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad size {s:?}: expected e.g. \"10GiB\""))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "bad size unit {other:?} in {s:?}: use B, KiB, MiB or GiB"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} overflows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn six() -> String {
        let mut s = String::from("segment_size = \"64MiB\"\n");
        for (i, az) in ["az-a", "az-a", "az-b", "az-b", "az-c", "az-c"]
            .iter()
            .enumerate()
        {
            s += &format!(
                "[[storage]]\nid = {}\naddr = \"127.0.0.1:{}\"\naz = \"{az}\"\n",
                i + 1,
                7101 + i
            );
        }
        s
    }

    #[test]
    fn placement_is_two_per_az_on_distinct_nodes() {
        let mut text = six();
        text += "[[storage]]\nid = 7\naddr = \"127.0.0.1:7107\"\naz = \"az-d\"\n";
        text += "[[storage]]\nid = 8\naddr = \"127.0.0.1:7108\"\naz = \"az-d\"\n";
        text += "[[storage]]\nid = 9\naddr = \"127.0.0.1:7109\"\naz = \"az-a\"\n";
        let c = Cluster::parse(&text).unwrap();
        for pg in 0..50 {
            let r = c.place(PgId(pg));
            let mut ids: Vec<_> = r.iter().map(|r| r.node).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), 6, "pg {pg}: {r:?}");
            let mut per_az = BTreeMap::new();
            for x in &r {
                *per_az.entry(x.az.clone()).or_insert(0) += 1;
            }
            assert!(per_az.values().all(|n| *n == 2), "pg {pg}: {per_az:?}");
        }
        assert_eq!(c.pages_per_pg(), 8192);
    }

    #[test]
    fn bad_files_are_refused_with_reasons() {
        assert!(Cluster::parse("segment_size = \"64KiB\"")
            .unwrap_err()
            .to_string()
            .contains("between"));
        let two_azs = six().replace("az-c", "az-b");
        assert!(Cluster::parse(&two_azs)
            .unwrap_err()
            .to_string()
            .contains("at least 3 AZs"));
        assert!(Cluster::parse(&(six() + "bogus = 1\n")).is_err());
        assert_eq!(parse_size("10GiB").unwrap(), 10 << 30);
    }
}

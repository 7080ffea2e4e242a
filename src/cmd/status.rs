//! `sextant status --cluster FILE`: the cluster as its nodes see it now
//! (DESIGN.md §6): each compute node's role, epoch, VDL, read point and lag
//! from its admin `/health`, then each protection group's replicas with
//! their epoch and SCL from the storage nodes (`ListSegments`). A node that
//! does not answer is listed as unreachable; the command still succeeds,
//! since a status tool is most needed when something is down.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sextant_storage::cluster::Cluster;
use sextant_storage::net::Peer;
use sextant_storage::types::{Epoch, Lsn, NodeId, PgId};
use sextant_storage::wire::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long one node may take to answer.
const NODE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest `/health` response read (a few KiB with 15 readers).
const HEALTH_BYTES_MAX: u64 = 1 << 20;

/// Flags of `sextant status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The cluster file naming the storage and compute nodes.
    #[arg(long, env = "SEXTANT_STATUS_CLUSTER")]
    pub cluster: PathBuf,
}

/// Prints the cluster's status to stdout.
pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let cluster =
        Cluster::load(&args.cluster).with_context(|| format!("load {}", args.cluster.display()))?;
    print!("{}", render(&cluster).await);
    Ok(())
}

/// The status report as text.
pub async fn render(cluster: &Cluster) -> String {
    let mut out = String::from("compute nodes:\n");
    let healths = in_turn(cluster.compute.iter().map(|c| {
        let admin = c.admin.clone();
        async move {
            match admin {
                Some(a) => health(&a).await.map_err(|e| format!("{e:#}")),
                None => Err("no admin address in the cluster file".into()),
            }
        }
    }))
    .await;
    for (c, h) in cluster.compute.iter().zip(healths) {
        match h {
            Ok(h) => {
                out += &format!(
                    "  {:<12} {:<9} addr={} epoch={} vdl={} read_point={} lag_lsn={} lag_ms={}\n",
                    c.id,
                    h["role"].as_str().unwrap_or("?"),
                    c.addr,
                    h["epoch"],
                    h["vdl"],
                    h["read_point"],
                    h["replica_lag_lsn"],
                    h["replica_lag_ms"],
                )
            }
            Err(e) => out += &format!("  {:<12} unreachable addr={} ({e})\n", c.id, c.addr),
        }
    }
    out += "protection groups:\n";
    let listed = in_turn(cluster.nodes.iter().map(|(id, n)| {
        let addr = n.addr.clone();
        let id = *id;
        async move { (id, list_segments(&addr).await) }
    }))
    .await;
    let mut pgs: BTreeMap<PgId, Vec<(NodeId, Epoch, Lsn)>> = BTreeMap::new();
    for (id, listed) in &listed {
        match listed {
            Ok(segs) => {
                for (pg, epoch, scl) in segs {
                    pgs.entry(*pg).or_default().push((*id, *epoch, *scl));
                }
            }
            Err(e) => out += &format!("  storage node {id} unreachable ({e})\n"),
        }
    }
    for (pg, replicas) in pgs {
        out += &format!("  pg {pg}:");
        for (node, epoch, scl) in replicas {
            let az = cluster.nodes.get(&node).map_or("?", |n| n.az.as_str());
            out += &format!(" node {node} ({az}) epoch={epoch} scl={scl};");
        }
        out.pop();
        out += "\n";
    }
    out
}

/// Runs the futures one after another, results in order. Each is bounded
/// by `NODE_TIMEOUT`, so a cluster with a few nodes down still answers in
/// seconds.
async fn in_turn<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in futs {
        out.push(f.await);
    }
    out
}

async fn list_segments(addr: &str) -> Result<Vec<(PgId, Epoch, Lsn)>, String> {
    match Peer::new(addr.to_string())
        .request(Message::ListSegments, NODE_TIMEOUT)
        .await
    {
        Ok(Message::Segments(infos)) => Ok(infos.iter().map(|s| (s.pg, s.epoch, s.scl)).collect()),
        Ok(other) => Err(format!("unexpected answer {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

async fn health(admin: &str) -> anyhow::Result<serde_json::Value> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(admin)
            .await
            .with_context(|| format!("connect to {admin}"))?;
        s.write_all(
            format!("GET /health HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .context("send the request")?;
        let mut response = String::new();
        s.take(HEALTH_BYTES_MAX)
            .read_to_string(&mut response)
            .await
            .context("read the response")?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .context("no HTTP body")?;
        serde_json::from_str(body).context("parse /health")
    };
    tokio::time::timeout(NODE_TIMEOUT, fetch)
        .await
        .context("timed out")?
}

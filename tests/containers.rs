//! Container fault tests: each storage node runs in its own container, built
//! from this build's `sextant` binary (no registry: the image is made here),
//! on a private network. The bench runs in a container on the same network, so
//! every address in `cluster.toml` is a container name that both the volume
//! client and gossip between segments resolve.
//!
//! These tests need a Docker engine and fail, never skip, without one.

use std::path::Path;
use std::time::Duration;

use sextant_testkit::{Cluster, Node, NodeSpec, RunOutput, SextantImage};

const PORT: u16 = 7100;
const AZS: [&str; 3] = ["az-a", "az-b", "az-c"];

struct StorageCluster {
    cluster: Cluster,
    nodes: Vec<Node>,
    toml: String,
}

async fn start_storage() -> StorageCluster {
    let image = SextantImage::build(Path::new(env!("CARGO_BIN_EXE_sextant")))
        .await
        .expect("container tests need a Docker engine to build the sextant image");
    let cluster = Cluster::new(&image).await.expect("create the test network");
    let mut toml = String::from("segment_size = \"512KiB\"\n");
    let mut nodes = Vec::new();
    for i in 1..=6u32 {
        let az = AZS[((i - 1) / 2) as usize];
        let node = cluster
            .start(
                NodeSpec::new(format!("s{i}"))
                    .args([
                        "storage",
                        "--listen",
                        &format!("0.0.0.0:{PORT}"),
                        "--az",
                        az,
                    ])
                    .args([
                        "--data",
                        "/data",
                        "--node-id",
                        &i.to_string(),
                        "--gossip-interval",
                        "100ms",
                    ])
                    .port(PORT)
                    .wait_for_log("storage node ready"),
            )
            .await
            .expect("start a storage container");
        toml += &format!(
            "[[storage]]\nid = {i}\naddr = \"{}\"\naz = \"{az}\"\n",
            node.addr(PORT)
        );
        nodes.push(node);
    }
    StorageCluster {
        cluster,
        nodes,
        toml,
    }
}

impl StorageCluster {
    /// Runs `sextant bench volume` in a container on the network.
    async fn bench(&self, name: &str, duration: &str) -> serde_json::Value {
        let out: RunOutput = self
            .cluster
            .run(
                NodeSpec::new(name)
                    .args([
                        "bench",
                        "volume",
                        "--cluster",
                        "/cluster.toml",
                        "--duration",
                        duration,
                    ])
                    .args(["--concurrency", "8", "--payload-bytes", "128"])
                    .env("SEXTANT_LOG", "warn")
                    .file_contents(self.toml.clone().into_bytes(), "/cluster.toml")
                    .startup_timeout(Duration::from_secs(120)),
            )
            .await
            .expect("run the bench container");
        assert!(
            out.success(),
            "bench failed: {}\n{}",
            out.stdout,
            out.stderr
        );
        let line = out.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("bench output {line:?}: {e}\n{}", out.stderr))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_an_az_in_containers_keeps_commits_going() {
    let c = start_storage().await;
    let before = c.bench("bench-all", "4s").await;
    assert!(before["commits"].as_u64().unwrap() > 0, "{before}");
    assert_eq!(before["errors"].as_u64().unwrap(), 0, "{before}");

    // AZ a goes dark: one node killed, its neighbour cut off the network.
    c.nodes[0].kill().await.unwrap();
    c.nodes[1].disconnect().await.unwrap();
    let az_down = c.bench("bench-az-down", "6s").await;
    assert!(
        az_down["commits"].as_u64().unwrap() > 0,
        "no commits with one AZ down: {az_down}"
    );
    assert!(
        az_down["vdl"].as_u64().unwrap() > before["vdl"].as_u64().unwrap(),
        "the volume went backwards across recovery: {before} then {az_down}"
    );

    // A third node frozen: no quorum, nothing may be acknowledged.
    c.nodes[2].pause().await.unwrap();
    let stalled = c.bench("bench-stalled", "4s").await;
    assert_eq!(
        stalled["commits"].as_u64().unwrap(),
        0,
        "acknowledged without a quorum: {stalled}"
    );
    assert!(stalled["errors"].as_u64().unwrap() > 0, "{stalled}");

    // Back to four: commits resume and nothing acknowledged earlier is lost.
    c.nodes[2].unpause().await.unwrap();
    c.nodes[1].reconnect().await.unwrap();
    let resumed = c.bench("bench-resumed", "6s").await;
    assert!(resumed["commits"].as_u64().unwrap() > 0, "{resumed}");
    assert!(
        resumed["vdl"].as_u64().unwrap() > az_down["vdl"].as_u64().unwrap(),
        "{az_down} then {resumed}"
    );
}

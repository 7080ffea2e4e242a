//! Container fault tests: each storage node runs in its own container, built
//! from this build's `sextant` binary (no registry: the image is made here),
//! on a private network. The bench runs in a container on the same network, so
//! every address in `cluster.toml` is a container name that both the volume
//! client and gossip between segments resolve.
//!
//! Compute nodes and the proxy run in containers too: promotion with the
//! writer's container frozen, and the proxy's failover with the writer
//! frozen and then killed while clients upsert through it.
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

/// Minimal HTTP/1.1 request to a compute admin endpoint; returns the status
/// code and the body.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(120), s.read_to_string(&mut response))
        .await
        .expect("admin endpoint answered in time")
        .unwrap();
    let code = response
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

async fn connect(addr: std::net::SocketAddr) -> tokio_postgres::Client {
    let url = format!(
        "host={} port={} user=sextant password=sextant dbname=sextant connect_timeout=10",
        addr.ip(),
        addr.port()
    );
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    tokio::spawn(conn);
    client
}

/// A compute node container: SQL on 5432, admin on 8000, redo on 7400.
fn compute_spec(name: &str, role: &str, toml: &str) -> NodeSpec {
    NodeSpec::new(name)
        .args(["compute", "--role", role, "--name", name])
        .args(["--listen", "0.0.0.0:5432", "--admin", "0.0.0.0:8000"])
        .args(["--redo", "0.0.0.0:7400", "--cluster", "/cluster.toml"])
        .env("SEXTANT_COMPUTE_PASSWORD", "sextant")
        .env("SEXTANT_LOG", "info")
        .file_contents(toml.as_bytes().to_vec(), "/cluster.toml")
        .port(5432)
        .port(8000)
        .wait_for_log("compute node ready")
        .startup_timeout(Duration::from_secs(120))
}

/// Storage containers plus a writer and a reader container, with the
/// cluster file naming them all (compute entries by container name).
async fn start_writer_and_reader() -> (StorageCluster, String, Node, Node) {
    let c = start_storage().await;
    let net = c.cluster.name().to_owned();
    let mut toml = c.toml.clone();
    for (name, role) in [("writer-1", "writer"), ("reader-1", "reader")] {
        toml += &format!(
            "[[compute]]\nid = \"{name}\"\naddr = \"{net}-{name}:5432\"\nadmin = \"{net}-{name}:8000\"\nrole = \"{role}\"\nredo = \"{net}-{name}:7400\"\n"
        );
    }
    let writer = c
        .cluster
        .start(compute_spec("writer-1", "writer", &toml))
        .await
        .expect("start the writer container");
    let reader = c
        .cluster
        .start(compute_spec("reader-1", "reader", &toml))
        .await
        .expect("start the reader container");
    (c, toml, writer, reader)
}

/// Promotion with every node in a container: the writer's container is
/// frozen (cgroup freezer) under a write load, the reader is promoted with
/// `POST /promote`, it takes writes and holds every write acknowledged
/// before; the writer, thawed, is fenced: its writes fail with 25006.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_in_containers_with_the_writer_paused() {
    let (_storage, _toml, writer, reader) = start_writer_and_reader().await;
    let (w_sql, r_sql) = (
        writer.host_addr(5432).await.unwrap(),
        reader.host_addr(5432).await.unwrap(),
    );
    let (w_admin, r_admin) = (
        writer.host_addr(8000).await.unwrap(),
        reader.host_addr(8000).await.unwrap(),
    );

    let w = connect(w_sql).await;
    w.batch_execute("CREATE TABLE acked (k int PRIMARY KEY, v text)")
        .await
        .unwrap();
    let mut acked = 0;
    for k in 0..200 {
        w.execute("INSERT INTO acked VALUES ($1, 'x')", &[&k])
            .await
            .unwrap();
        acked += 1;
    }
    // One more write in flight when the writer freezes: it may or may not
    // commit, and is not counted.
    let in_flight = tokio::spawn(async move {
        w.execute("INSERT INTO acked VALUES (100000, 'in flight')", &[])
            .await
    });
    writer.pause().await.unwrap();

    let (code, body) = http(r_admin, "POST", "/promote").await;
    assert_eq!(code, 200, "promotion failed: {body}");
    let r = connect(r_sql).await;
    r.execute("INSERT INTO acked VALUES (-1, 'after')", &[])
        .await
        .expect("the promoted reader takes writes");
    let n: i64 = r
        .query_one(
            "SELECT count(*) FROM acked WHERE k >= 0 AND k < 100000",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, acked, "an acknowledged write is missing after promotion");

    // Thawed, the old writer learns it was fenced and refuses writes.
    writer.unpause().await.unwrap();
    let _ = in_flight.await;
    let old = connect(w_sql).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match old
            .execute("INSERT INTO acked VALUES (-2, 'stale')", &[])
            .await
        {
            Err(e) if e.code().map(|c| c.code()) == Some("25006") => break,
            other => assert!(
                std::time::Instant::now() < deadline,
                "the old writer was not fenced: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, body) = http(w_admin, "GET", "/health").await;
    assert_eq!(code, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["role"], "fenced", "{health}");
    let stale: i64 = r
        .query_one("SELECT count(*) FROM acked WHERE k = -2", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stale, 0,
        "a fenced writer's write reached the new writer's data"
    );
}

/// Issue 6's container test: storage, writer, reader and the proxy each in
/// a container; clients upsert through the proxy's published writer
/// endpoint while the writer's container is frozen and then killed. The
/// proxy promotes the reader; no client connection drops, every
/// acknowledged upsert is there afterwards, and the longest stall a client
/// saw is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_failover_in_containers_writer_paused_then_killed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let (c, toml, writer, _reader) = start_writer_and_reader().await;
    let proxy = c
        .cluster
        .start(
            NodeSpec::new("proxy")
                .args(["proxy", "--listen", "0.0.0.0:6432"])
                .args([
                    "--reader-listen",
                    "0.0.0.0:6433",
                    "--cluster",
                    "/cluster.toml",
                ])
                .args(["--health-interval", "100ms", "--hold-timeout", "30s"])
                .env("SEXTANT_PROXY_BACKEND_PASSWORD", "sextant")
                .env("SEXTANT_LOG", "info")
                .file_contents(toml.as_bytes().to_vec(), "/cluster.toml")
                .port(6432)
                .wait_for_log("proxy listening")
                .startup_timeout(Duration::from_secs(60)),
        )
        .await
        .expect("start the proxy container");
    let endpoint = proxy.host_addr(6432).await.unwrap();

    let setup = connect(endpoint).await;
    setup
        .batch_execute("CREATE TABLE kv (id int8 PRIMARY KEY, v int8 NOT NULL)")
        .await
        .unwrap();

    const CLIENTS: i64 = 3;
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let client = connect(endpoint).await;
            let mut acked = std::collections::BTreeMap::new();
            let mut longest = Duration::ZERO;
            let mut n = 0i64;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let key = id * 1000 + n % 4;
                let started = std::time::Instant::now();
                let r = client
                    .execute(
                        "INSERT INTO kv VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v",
                        &[&key, &n],
                    )
                    .await;
                longest = longest.max(started.elapsed());
                match r {
                    Ok(_) => {
                        acked.insert(key, n);
                    }
                    // In flight when the writer went away: the documented
                    // retryable answer; the session goes on.
                    Err(e) if e.code().map(|c| c.code()) == Some("40001") => {}
                    Err(e) => panic!("client {id}: upsert {n} failed: {e}"),
                }
            }
            assert!(!client.is_closed(), "client {id}'s connection was dropped");
            (acked, longest)
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    writer.pause().await.unwrap();
    // The proxy notices the frozen writer and promotes the reader; then the
    // frozen writer dies for good.
    tokio::time::sleep(Duration::from_secs(6)).await;
    writer.kill().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let mut expected = std::collections::BTreeMap::new();
    let mut longest = Duration::ZERO;
    for cl in clients {
        let (acked, l) = cl.await.unwrap();
        expected.extend(acked);
        longest = longest.max(l);
    }
    let check = connect(endpoint).await;
    for (key, v) in &expected {
        let got: i64 = check
            .query_one("SELECT v FROM kv WHERE id = $1", &[key])
            .await
            .unwrap()
            .get(0);
        assert!(
            got >= *v,
            "key {key}: acknowledged {v}, found {got} after the failover"
        );
    }
    let in_recovery: bool = check
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!in_recovery, "the writer endpoint is not on a writer");
    println!(
        "proxy failover in containers: {} keys checked, longest client stall {:?}",
        expected.len(),
        longest
    );
}

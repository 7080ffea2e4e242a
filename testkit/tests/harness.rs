//! Tests of the container harness itself, against the `echo-server` stand-in
//! (built by this package, run as `/sextant` in the image): two nodes on a
//! network, the host reaching published ports, and each fault operation seen
//! from the host and from a peer. They need a Docker engine and fail, with a
//! message saying so, where there is none.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sextant_testkit::{Cluster, Node, NodeSpec, SextantImage};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const PORT: u16 = 7100;

/// How long a request to a healthy node may take. A frozen or unreachable
/// node is judged by not answering within this.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

async fn image() -> SextantImage {
    SextantImage::build(Path::new(env!("CARGO_BIN_EXE_echo-server")))
        .await
        .expect("build the test image from echo-server")
}

fn echo_node(name: &str) -> NodeSpec {
    NodeSpec::new(name)
        .args(["serve", "--listen", "0.0.0.0:7100", "--data", "/data"])
        .port(PORT)
        .wait_for_log("listening on")
}

/// Sends a line to `addr` from the host and returns the echo.
async fn echo_from_host(addr: SocketAddr) -> Result<String, String> {
    let attempt = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (read, mut write) = stream.into_split();
        write
            .write_all(b"hello\n")
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut reply = String::new();
        BufReader::new(read)
            .read_line(&mut reply)
            .await
            .map_err(|e| format!("read: {e}"))?;
        Ok(reply)
    };
    tokio::time::timeout(ANSWER_TIMEOUT, attempt)
        .await
        .map_err(|_| format!("no answer within {ANSWER_TIMEOUT:?}"))?
}

async fn assert_host_reaches(node: &Node) {
    let addr = node.host_addr(PORT).await.expect("look up the host port");
    assert_eq!(
        echo_from_host(addr).await.as_deref(),
        Ok("hello\n"),
        "host -> {} via {addr}",
        node.hostname()
    );
}

/// Whether `from` can reach `to` across the cluster network, by name.
async fn peer_reaches(from: &Node, to: &Node) -> bool {
    let out = from
        .exec(["probe", &to.addr(PORT), "--timeout-ms", "1500"])
        .await
        .expect("exec the probe");
    out.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reach_each_other_by_name_until_disconnected() {
    let cluster = Cluster::new(&image().await)
        .await
        .expect("create a cluster");
    let a = cluster.start(echo_node("a")).await.expect("start a");
    let b = cluster.start(echo_node("b")).await.expect("start b");

    assert_host_reaches(&a).await;
    assert_host_reaches(&b).await;
    assert!(peer_reaches(&b, &a).await, "b cannot reach a by name");
    assert!(peer_reaches(&a, &b).await, "a cannot reach b by name");

    a.disconnect().await.expect("disconnect a");
    assert!(
        !peer_reaches(&b, &a).await,
        "b still reaches a after disconnect"
    );
    assert!(
        !peer_reaches(&a, &b).await,
        "a still reaches b after disconnect"
    );
    if let Ok(addr) = a.host_addr(PORT).await {
        assert!(
            echo_from_host(addr).await.is_err(),
            "host still reaches a via {addr} after disconnect"
        );
    }

    a.reconnect().await.expect("reconnect a");
    assert!(
        peer_reaches(&b, &a).await,
        "b cannot reach a after reconnect"
    );
    assert_host_reaches(&a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_node_answers_nothing_until_unpaused() {
    let cluster = Cluster::new(&image().await)
        .await
        .expect("create a cluster");
    let a = cluster.start(echo_node("a")).await.expect("start a");
    let b = cluster.start(echo_node("b")).await.expect("start b");
    let a_host = a.host_addr(PORT).await.expect("look up a's host port");

    a.pause().await.expect("pause a");
    assert!(
        a.is_running().await.expect("inspect a"),
        "a paused container still counts as running"
    );
    let frozen = echo_from_host(a_host).await;
    assert!(frozen.is_err(), "paused a answered the host: {frozen:?}");
    assert!(!peer_reaches(&b, &a).await, "paused a answered b");

    a.unpause().await.expect("unpause a");
    assert_host_reaches(&a).await;
    assert!(peer_reaches(&b, &a).await, "b cannot reach a after unpause");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dir_survives_kill_and_stop() {
    let cluster = Cluster::new(&image().await)
        .await
        .expect("create a cluster");
    let a = cluster.start(echo_node("a")).await.expect("start a");
    let boots = || {
        std::fs::read_to_string(a.data_dir().join("boots"))
            .expect("read the boot counter")
            .trim()
            .to_owned()
    };
    assert_eq!(boots(), "1");

    a.kill().await.expect("kill a");
    assert!(
        !a.is_running().await.expect("inspect a"),
        "a runs after SIGKILL"
    );
    let refused = echo_from_host(
        a.host_addr(PORT)
            .await
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 1))),
    )
    .await;
    assert!(refused.is_err(), "killed a answered: {refused:?}");
    a.start().await.expect("start a after kill");
    assert_eq!(boots(), "2", "the data dir did not survive SIGKILL");
    assert_host_reaches(&a).await;

    a.stop().await.expect("stop a");
    let logs = a.logs().await.expect("read a's logs");
    assert!(
        logs.contains("shutting down"),
        "stop did not send SIGTERM; logs:\n{logs}"
    );
    a.start().await.expect("start a after stop");
    assert_eq!(boots(), "3", "the data dir did not survive stop");
    assert_host_reaches(&a).await;

    // A one-shot container on the same network, with a file copied in.
    let probe = cluster
        .run(
            NodeSpec::new("oneshot")
                .args(["probe", &a.addr(PORT)])
                .file_contents("segment_size = \"64MiB\"\n", "/etc/sextant/cluster.toml"),
        )
        .await
        .expect("run a one-shot probe");
    assert!(probe.success(), "one-shot probe of a failed: {probe:?}");
    let failing = cluster
        .run(NodeSpec::new("oneshot").args(["probe", "nosuchhost:7100"]))
        .await
        .expect("run a failing one-shot probe");
    assert_eq!(failing.exit_code, 1, "{failing:?}");
    assert!(failing.stderr.contains("nosuchhost"), "{failing:?}");
}

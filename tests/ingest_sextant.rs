//! The ingest service against Sextant: `sextant dev` runs as a process and
//! the service writes to its writer endpoint (until the proxy is merged,
//! the writer itself listens on `--port`). The scenarios are the ones the
//! PostgreSQL side-by-side test runs (`cdc-ingest/tests/ingest_support`,
//! included by path), so both servers are held to the same behaviour.
//! Then the `sextant ingest` command: it serves, prints a curl line, and
//! SIGTERM drains it.

#[path = "../cdc-ingest/tests/ingest_support/mod.rs"]
mod ingest_support;
mod support;

use std::io::Read as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ingest_support::{counts, Endpoint};
use serde_json::json;
use support::{free_port, sextant_bin};

/// Twelve consecutive free ports for the six storage nodes and their
/// metrics, from a range unlike other test files' (they run at once).
fn free_port_range() -> u16 {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = std::process::id() % 2_000 + call * 101;
    for attempt in 0..300 {
        let base =
            u16::try_from(40_000 + (start + attempt * 13) % 1_500 * 12).expect("below 60000");
        let listeners: Vec<_> = (0..12)
            .map_while(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if listeners.len() == 12 {
            return base;
        }
    }
    panic!("no 12 consecutive free ports");
}

/// `sextant dev`, stopped with SIGTERM when dropped.
struct Dev {
    child: Option<Child>,
    port: u16,
    storage_port: u16,
    dir: tempfile::TempDir,
}

impl Dev {
    fn start() -> Dev {
        let mut dev = Dev {
            child: None,
            port: free_port(),
            storage_port: free_port_range(),
            dir: tempfile::tempdir().unwrap(),
        };
        dev.spawn();
        dev
    }

    /// Starts the process (again) on the same ports and data.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = self.dir.path().join("dev.log");
        let mut child = Command::new(sextant_bin())
            .arg("dev")
            .arg("--data")
            .arg(self.dir.path().join("data"))
            .args(["--port", &self.port.to_string()])
            .args(["--reader-port", &free_port().to_string()])
            .args(["--http-port", &free_port().to_string()])
            .args(["--storage-port", &self.storage_port.to_string()])
            .args(["--readers", "0"])
            .env("SEXTANT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .expect("spawn sextant dev");
        wait_for_port(&mut child, self.port, &log);
        self.child = Some(child);
    }

    /// SIGKILL: the writer vanishes mid-connection.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn url(&self) -> String {
        format!("postgres://sextant:sextant@127.0.0.1:{}/sextant", self.port)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = sigterm_and_wait(&mut child);
        }
    }
}

fn wait_for_port(child: &mut Child, port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "process exited with {status}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "port {port} never listened; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm_and_wait(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no exit after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_against_sextant() {
    let dev = Dev::start();
    let url = dev.url();
    ingest_support::plain_events(&url).await;
    ingest_support::debezium(&url).await;
    ingest_support::out_of_order_and_duplicates(&url).await;
    ingest_support::malformed_input(&url).await;
    ingest_support::oversized(&url).await;
    ingest_support::auth(&url).await;
    ingest_support::tables_and_operations(&url).await;
    ingest_support::sigv4_auth(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sextant_ingest_command_serves_and_drains_on_sigterm() {
    let dev = Dev::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ingest.toml");
    std::fs::write(&config, "[defaults]\ncreate = true\n").unwrap();
    let port = free_port();
    let log = dir.path().join("ingest.log");
    let mut child = Command::new(sextant_bin())
        .args(["ingest", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &dev.url()])
        .arg("--config")
        .arg(&config)
        .env("SEXTANT_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn sextant ingest");
    wait_for_port(&mut child, port, &log);
    let ep = Endpoint {
        addr: format!("127.0.0.1:{port}").parse().unwrap(),
        token: None,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while ep.get("/healthz").await.status != 200 {
        assert!(Instant::now() < deadline, "never connected to the writer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = ep
        .ndjson(
            "cli_events",
            &[
                json!({"id": "a", "ts_ms": 1}),
                json!({"id": "b", "ts_ms": 1}),
            ],
        )
        .await;
    assert_eq!(resp.counts(), counts(2, 0, 0, 0, 0));

    let status = sigterm_and_wait(&mut child);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "exited with {status}; log:\n{log_text}");
    assert!(log_text.contains("ingest service stopped"), "{log_text}");
    let mut banner = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut banner)
        .unwrap();
    assert!(
        banner.contains(&format!(
            "curl -sS http://127.0.0.1:{port}/v1/tables/events/events"
        )),
        "{banner}"
    );

    let (db, connection) = tokio_postgres::connect(&dev.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let n: i64 = db
        .query_one("SELECT count(*) FROM cli_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

/// The writer is killed: requests get 503 with Retry-After (nothing is
/// acknowledged that did not commit) and /healthz says so; once it is back
/// the service reconnects by itself and a producer's retry commits, with
/// the acknowledged rows still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_restart_is_503_then_the_service_reconnects() {
    let mut dev = Dev::start();
    let ingest = ingest_support::Ingest::start(&dev.url(), "[defaults]\ncreate = true\n").await;
    let ep = ingest.endpoint.clone();
    let first = ep
        .ndjson("restarts", &[json!({"id": "a", "ts_ms": 1})])
        .await;
    assert_eq!(first.counts(), counts(1, 0, 0, 0, 0));

    dev.kill();
    let down = ep
        .ndjson("restarts", &[json!({"id": "b", "ts_ms": 1})])
        .await;
    assert_eq!(down.status, 503, "{}", down.text());
    assert!(down.headers.contains_key("retry-after"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while ep.get("/healthz").await.status != 503 {
        assert!(Instant::now() < deadline, "healthz never noticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    dev.spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    let retried = loop {
        let resp = ep
            .ndjson("restarts", &[json!({"id": "b", "ts_ms": 1})])
            .await;
        if resp.status != 503 {
            break resp;
        }
        assert!(
            Instant::now() < deadline,
            "never reconnected: {}",
            resp.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(retried.counts(), counts(1, 0, 0, 0, 0));
    let metrics = ep.get("/metrics").await.text();
    // At least once: a request failing on the new session (the restarted
    // writer still starting) makes the next batch open yet another one.
    let reconnects: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cdc_ingest_reconnects_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(reconnects >= 1.0, "{metrics}");
    // The SQL connection of the harness died with the writer: look anew.
    let (db, connection) = tokio_postgres::connect(&dev.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let ids: Vec<String> = db
        .query("SELECT id FROM restarts ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, ["a", "b"]);
    ingest.shutdown().await;
}

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
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ingest_support::{counts, Endpoint};
use serde_json::json;
use support::{free_port, sextant_bin, sigterm_and_wait, wait_for_port, Dev};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_against_sextant() {
    let dev = Dev::start_with(&["--readers", "0"]);
    let url = dev.url();
    ingest_support::plain_events(&url).await;
    ingest_support::debezium(&url).await;
    ingest_support::out_of_order_and_duplicates(&url).await;
    ingest_support::concurrent_writers(&url).await;
    ingest_support::malformed_input(&url).await;
    ingest_support::oversized(&url).await;
    ingest_support::auth(&url).await;
    ingest_support::tables_and_operations(&url).await;
    ingest_support::sigv4_auth(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sextant_ingest_command_serves_and_drains_on_sigterm() {
    let dev = Dev::start_with(&["--readers", "0"]);
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
    let mut dev = Dev::start_with(&["--readers", "0"]);
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

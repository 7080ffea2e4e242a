//! The ingest service against real PostgreSQL (Debian's package, through
//! `sextant_testkit::postgres`): the shared scenarios of
//! `ingest_support`, plus what needs PostgreSQL's locks to hold a batch
//! open (queue full, drain on shutdown) or no server at all (503).

mod ingest_support;

use std::time::Duration;

use ingest_support::{counts, Endpoint, Ingest};
use serde_json::json;
use sextant_testkit::postgres::RealPostgres;

fn postgres() -> RealPostgres {
    RealPostgres::start().unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_against_postgres() {
    let pg = postgres();
    let url = pg.url();
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

/// A batch held by a row lock fills the queue (429 with Retry-After); a
/// shutdown while it is held still answers it after the lock goes, and the
/// listener is closed meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_and_draining_shutdown() {
    let pg = postgres();
    let url = pg.url();
    let ingest = Ingest::start(
        &url,
        "[limits]\nqueue_events_max = 10\n[tables.held]\ncreate = true\n",
    )
    .await;
    let ep = ingest.endpoint.clone();
    let first = ep.ndjson("held", &[json!({"id": "a", "ts_ms": 1})]).await;
    assert_eq!(first.counts(), counts(1, 0, 0, 0, 0));

    // Another session holds row a, so the next batch waits on it.
    let (locker, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    locker
        .batch_execute("BEGIN; UPDATE held SET position = 1 WHERE id = 'a'")
        .await
        .unwrap();
    let events: Vec<_> = (0..8)
        .map(|i| json!({"id": if i == 0 { "a".to_string() } else { format!("k{i}") }, "ts_ms": 2}))
        .collect();
    let held_ep = ep.clone();
    let held = tokio::spawn(async move { held_ep.ndjson("held", &events).await });
    // Wait until its 8 events occupy the queue.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ep.get("/healthz").await.json()["queue_events"] != 8 {
        assert!(std::time::Instant::now() < deadline, "request never queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let full = ep
        .ndjson(
            "held",
            &[
                json!({"id": "x", "ts_ms": 1}),
                json!({"id": "y", "ts_ms": 1}),
                json!({"id": "z", "ts_ms": 1}),
            ],
        )
        .await;
    assert_eq!(full.status, 429, "{}", full.text());
    assert_eq!(full.headers["retry-after"], "1");

    let addr = ep.addr;
    let shutdown = tokio::spawn(ingest.shutdown());
    // The listener closes while the held request still waits.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "listener still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !held.is_finished(),
        "answered before its transaction could commit"
    );
    locker.batch_execute("COMMIT").await.unwrap();
    let held = held.await.unwrap();
    assert_eq!(held.counts(), counts(8, 0, 0, 0, 0));
    shutdown.await.unwrap();
}

/// No database: 503 with Retry-After, and /healthz says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_database_is_503() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = sextant_cdc_ingest::ingest::Config::new(format!(
        "postgres://sextant:sextant@127.0.0.1:{port}/sextant"
    ))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = sextant_cdc_ingest::ingest::Service::start(config, listener)
        .await
        .unwrap();
    let ep = Endpoint {
        addr: handle.local_addr(),
        token: None,
    };
    let resp = ep
        .post(
            "t",
            "application/json",
            json!({"id": "a", "ts_ms": 1}).to_string(),
        )
        .await;
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert_eq!(resp.headers["retry-after"], "2");
    let health = ep.get("/healthz").await;
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["database"], "down");
    handle.shutdown().await.unwrap();
}

//! The proxy in front of a Sextant cluster of real processes (six storage
//! nodes, a writer and a reader `sextant compute`), two proxies at once (one
//! in process, one a `sextant proxy` process):
//! psql and tokio-postgres over TLS, the reader endpoint on the reader, and
//! a writer failover under load. Clients keep upserting through both
//! proxies while the writer is SIGKILLed; the proxies promote the reader
//! (exactly one `POST /promote` succeeds), and then: no client connection
//! was dropped, every acknowledged upsert is there, a transaction left open
//! across the failover fails with 40001 and its session goes on, a session
//! setting survived, and the longest statement stall is printed.
//!
//! Needs `psql` and `openssl`.

mod proxy_support;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proxy_support::{conninfo, metric, psql, start_proxy, Certs};
use sextant_proxy::ProxyHandle;
use support::{free_port, sextant_bin, spawn_compute, wait_for_port};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;

/// Upsert clients per proxy.
const CLIENTS_PER_PROXY: i64 = 2;
/// Keys each client cycles through.
const KEYS_PER_CLIENT: i64 = 4;

/// Kills the compute processes however the test ends.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn connect(
    port: u16,
    certs: &Certs,
    app: &str,
) -> (
    tokio_postgres::Client,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
) {
    let mut c = tokio_postgres::Config::new();
    c.host("127.0.0.1")
        .port(port)
        .user("sextant")
        .password("sextant")
        .dbname("sextant")
        .application_name(app)
        .ssl_mode(SslMode::Require)
        .connect_timeout(Duration::from_secs(10));
    let (client, conn) = c
        .connect(certs.connector())
        .await
        .expect("connect through the proxy");
    (client, tokio::spawn(conn))
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    acked: BTreeMap<i64, i64>,
    tried: BTreeMap<i64, i64>,
    /// Statements answered 40001 (in flight when the writer died).
    failed_over: u32,
    longest: Duration,
}

async fn upsert_client(
    port: u16,
    certs: Arc<Certs>,
    client_id: i64,
    stop: Arc<AtomicBool>,
) -> Seen {
    let (client, conn) = connect(port, &certs, &format!("upsert-{client_id}")).await;
    let upsert = client
        .prepare("INSERT INTO kv VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v")
        .await
        .unwrap();
    let mut seen = Seen::default();
    let mut n = 0i64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let key = client_id * 1000 + n % KEYS_PER_CLIENT;
        seen.tried.insert(key, n);
        let started = Instant::now();
        let r = client.execute(&upsert, &[&key, &n]).await;
        seen.longest = seen.longest.max(started.elapsed());
        match r {
            Ok(_) => {
                seen.acked.insert(key, n);
            }
            Err(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE) => {
                seen.failed_over += 1
            }
            Err(e) => panic!("client {client_id}: upsert {n} failed: {e}"),
        }
    }
    assert!(
        !conn.is_finished(),
        "client {client_id}'s connection was dropped"
    );
    seen
}

fn cluster_with_compute() -> (support::ProcCluster, Procs, u16, u16) {
    let storage = support::ProcCluster::start("512KiB");
    let (wport, rport) = (free_port(), free_port());
    let (wadmin, radmin) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let (wredo, rredo) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let mut toml = std::fs::read_to_string(&storage.cluster_file).unwrap();
    toml += &format!(
        "[[compute]]\nid = \"writer-1\"\naddr = \"127.0.0.1:{wport}\"\nadmin = \"{wadmin}\"\nrole = \"writer\"\nredo = \"{wredo}\"\n\
         [[compute]]\nid = \"reader-1\"\naddr = \"127.0.0.1:{rport}\"\nadmin = \"{radmin}\"\nrole = \"reader\"\nredo = \"{rredo}\"\n"
    );
    std::fs::write(&storage.cluster_file, toml).unwrap();
    let wlog = storage.dir.path().join("writer.log");
    let rlog = storage.dir.path().join("reader.log");
    let mut writer = spawn_compute(&storage.cluster_file, "writer", wport, &wadmin, &wlog);
    wait_for_port(&mut writer, wport, &wlog);
    let direct = psql(
        &conninfo(wport, "sextant", "sextant", "disable"),
        "CREATE TABLE kv (id int8 PRIMARY KEY, v int8 NOT NULL)",
    );
    assert!(
        direct.status.success(),
        "{}",
        String::from_utf8_lossy(&direct.stderr)
    );
    let mut reader = spawn_compute(&storage.cluster_file, "reader", rport, &radmin, &rlog);
    wait_for_port(&mut reader, rport, &rlog);
    (storage, Procs(vec![writer, reader]), wport, rport)
}

async fn start(cluster_file: &Path, certs: &Certs) -> ProxyHandle {
    let nodes = sextant_proxy::load_cluster_nodes(cluster_file).unwrap();
    start_proxy(nodes, Some(certs), |c| {
        c.hold_timeout = Duration::from_secs(30);
    })
    .await
}

/// A `sextant proxy` process with TLS and /metrics.
struct CliProxy {
    child: Child,
    port: u16,
    metrics: String,
}

impl CliProxy {
    fn start(cluster_file: &Path, certs: &Certs, log: &Path) -> CliProxy {
        let (port, rport, mport) = (free_port(), free_port(), free_port());
        let mut child = Command::new(sextant_bin())
            .args(["proxy", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--reader-listen", &format!("127.0.0.1:{rport}")])
            .arg("--cluster")
            .arg(cluster_file)
            .arg("--tls-cert")
            .arg(&certs.cert)
            .arg("--tls-key")
            .arg(&certs.key)
            .args(["--metrics", &format!("127.0.0.1:{mport}")])
            .args(["--health-interval", "100ms", "--hold-timeout", "30s"])
            .env("SEXTANT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("spawn sextant proxy");
        wait_for_port(&mut child, port, log);
        CliProxy {
            child,
            port,
            metrics: format!("127.0.0.1:{mport}"),
        }
    }

    fn metrics_text(&self) -> String {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(&self.metrics).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }
}

impl Drop for CliProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout_ok(o: std::process::Output) -> String {
    assert!(
        o.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stop {
    /// SIGKILL: connections break at once.
    Kill,
    /// SIGSTOP: connections hang; health checks time out.
    Pause,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writer_killed_under_load_through_two_proxies() {
    failover_under_load(Stop::Kill).await;
}

/// The paused writer is resumed after the failover with its stale epoch:
/// the proxies stay on the new writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writer_paused_under_load_through_two_proxies() {
    failover_under_load(Stop::Pause).await;
}

/// One cluster at a time: `free_port` cannot promise that two clusters
/// started at once get disjoint ports, and a storage port shared by two
/// clusters would let one cluster's promotion fence the other's writer.
static ONE_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn failover_under_load(how: Stop) {
    let _one = ONE_CLUSTER.lock().await;
    let (storage, mut procs, _wport, _rport) = cluster_with_compute();
    let certs = Arc::new(Certs::make(storage.dir.path()));
    let proxy = start(&storage.cluster_file, &certs).await;
    let cli_log = storage.dir.path().join("proxy.log");
    let cli = CliProxy::start(&storage.cluster_file, &certs, &cli_log);
    let ports = [proxy.writer_addr().port(), cli.port];

    // psql over TLS against Sextant; the reader endpoint is on the reader.
    let ci = conninfo(ports[0], "sextant", "sextant", "require");
    assert!(stdout_ok(psql(&ci, "\\conninfo")).contains("SSL connection"));
    assert_eq!(
        stdout_ok(psql(&ci, "SELECT pg_is_in_recovery()")).trim(),
        "f"
    );
    let rport = proxy.reader_addr().unwrap().port();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // The proxy's first view trusts the cluster file; health checks
        // confirm the reader within an interval.
        let r = psql(
            &conninfo(rport, "sextant", "sextant", "require"),
            "SELECT pg_is_in_recovery()",
        );
        if String::from_utf8_lossy(&r.stdout).trim() == "t" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reader endpoint never reached the reader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A session with a setting, and one with a transaction left open
    // across the failover.
    let (settled, settled_conn) = connect(ports[0], &certs, "settled").await;
    settled
        .batch_execute("SET application_name = 'survivor'")
        .await
        .unwrap();
    let (open_tx, open_conn) = connect(ports[1], &certs, "open-tx").await;
    open_tx.batch_execute("BEGIN").await.unwrap();
    open_tx
        .execute("INSERT INTO kv VALUES (-1, -1)", &[])
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for (p, port) in ports.iter().enumerate() {
        for c in 0..CLIENTS_PER_PROXY {
            let id = p as i64 * CLIENTS_PER_PROXY + c;
            clients.push(tokio::spawn(upsert_client(
                *port,
                certs.clone(),
                id,
                stop.clone(),
            )));
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed_at = Instant::now();
    match how {
        Stop::Kill => {
            let writer = &mut procs.0[0];
            writer.kill().unwrap();
            writer.wait().unwrap();
        }
        Stop::Pause => signal(&procs.0[0], "-STOP"),
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    let failovers = |t: &str| {
        metric(t, "proxy_failovers_total", "outcome=\"promoted\"")
            + metric(t, "proxy_failovers_total", "outcome=\"adopted\"")
    };
    while proxy.current_writer().as_deref() != Some("reader-1")
        || failovers(&cli.metrics_text()) < 1.0
    {
        assert!(
            Instant::now() < deadline,
            "the proxies never moved to reader-1; sextant proxy log:\n{}",
            std::fs::read_to_string(&cli_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let moved_after = killed_at.elapsed();
    if how == Stop::Pause {
        // Resumed, the old writer finds itself fenced by the new epoch;
        // until it says so it may still claim `writer`, with a lower epoch.
        signal(&procs.0[0], "-CONT");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut seen = Vec::new();
    for c in clients {
        seen.push(c.await.expect("client task"));
    }
    let longest = seen.iter().map(|s| s.longest).max().unwrap();
    let failed_over: u32 = seen.iter().map(|s| s.failed_over).sum();
    eprintln!(
        "failover ({how:?}): proxies on the new writer {moved_after:?} after the stop; \
         longest statement stall {longest:?}; {failed_over} in-flight statements answered 40001"
    );

    // Every acknowledged upsert is on the new writer (a later tried value
    // may be there too: a commit can be durable without its reply).
    let (check, _k) = connect(ports[0], &certs, "check").await;
    let rows: BTreeMap<i64, i64> = check
        .query("SELECT id, v FROM kv WHERE id >= 0", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut acked = 0;
    for s in &seen {
        for (key, value) in &s.acked {
            acked += 1;
            let got = rows.get(key).copied();
            let tried = s.tried[key];
            assert!(
                got.is_some_and(|v| v >= *value && v <= tried),
                "key {key}: acknowledged {value}, tried up to {tried}, new writer has {got:?}"
            );
        }
    }
    assert!(acked > 0);
    for s in &seen {
        assert!(
            s.acked.values().any(|_| true),
            "a client got nothing acknowledged"
        );
    }

    // The transaction open across the failover fails with 40001, the
    // session goes on; its insert is gone.
    let e = open_tx
        .execute("INSERT INTO kv VALUES (-2, -2)", &[])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::T_R_SERIALIZATION_FAILURE), "{e}");
    open_tx.batch_execute("ROLLBACK").await.unwrap();
    open_tx
        .execute("INSERT INTO kv VALUES (-3, -3)", &[])
        .await
        .unwrap();
    let n: i64 = check
        .query_one("SELECT count(*) FROM kv WHERE id IN (-1, -2)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the lost transaction's rows");
    // The idle session kept its setting on the new writer.
    let app: String = settled
        .query_one("SELECT current_setting('application_name')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(app, "survivor");
    assert!(!settled_conn.is_finished() && !open_conn.is_finished());

    // Exactly one proxy promoted; the other followed.
    let texts = [proxy.metrics_text(), cli.metrics_text()];
    let promoted: f64 = texts
        .iter()
        .map(|t| metric(t, "proxy_failovers_total", "outcome=\"promoted\""))
        .sum();
    let adopted: f64 = texts
        .iter()
        .map(|t| metric(t, "proxy_failovers_total", "outcome=\"adopted\""))
        .sum();
    assert_eq!((promoted, adopted), (1.0, 1.0), "{texts:?}");
    for t in &texts {
        assert_eq!(
            metric(t, "proxy_failover_blackout_seconds_count", ""),
            1.0,
            "{t}"
        );
    }
    assert_eq!(proxy.current_writer().as_deref(), Some("reader-1"));
    drop((settled, open_tx, check));
    proxy.shutdown().await;
    drop(cli);
}

/// Posts `body` (NDJSON) to the ingest service; the status code (0 when
/// the connection failed) and the response body.
async fn post_events(addr: std::net::SocketAddr, table: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return (0, String::new());
    };
    let req = format!(
        "POST /v1/tables/{table}/events HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    match tokio::time::timeout(Duration::from_secs(60), s.read_to_string(&mut response)).await {
        Ok(Ok(_)) => (
            response
                .get(9..12)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
            response
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default(),
        ),
        _ => (0, String::new()),
    }
}

/// Issue 7's failover test: the ingest service writes through the proxy's
/// writer endpoint while the writer is SIGKILLed. Producers retry every
/// request answered 503 (or 429) until it is acknowledged; afterwards every
/// acknowledged event is in the table exactly once, with its payload, and
/// nothing appears that was never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ingest_rides_through_a_writer_failover() {
    use sextant_cdc_ingest::ingest::{Config, Service};
    let _ = tracing_subscriber::fmt()
        .with_env_filter("sextant_cdc_ingest=info,sextant_proxy=info")
        .with_test_writer()
        .try_init();
    let _one = ONE_CLUSTER.lock().await;
    let (storage, mut procs, _wport, _rport) = cluster_with_compute();
    let certs = Arc::new(Certs::make(storage.dir.path()));
    let proxy = start(&storage.cluster_file, &certs).await;
    let mut cfg = Config::new(format!(
        "postgres://sextant:sextant@127.0.0.1:{}/sextant",
        proxy.writer_addr().port()
    ))
    .unwrap();
    cfg.defaults.create = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ingest = Service::start(cfg, listener).await.unwrap();
    let addr = ingest.local_addr();

    const PRODUCERS: usize = 2;
    const BATCH: usize = 20;
    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let stop = stop.clone();
        producers.push(tokio::spawn(async move {
            let (mut acked, mut sent) = (Vec::new(), Vec::new());
            let mut retries = 0u32;
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let ids: Vec<String> = (0..BATCH).map(|i| format!("p{p}-{}", n + i)).collect();
                n += BATCH;
                let body: String = ids
                    .iter()
                    .map(|id| format!("{{\"id\": \"{id}\", \"ts_ms\": 1, \"producer\": {p}}}\n"))
                    .collect();
                sent.extend(ids.iter().cloned());
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    match post_events(addr, "orders", &body).await {
                        (200, _) => break,
                        (code @ (429 | 503 | 0), why) => {
                            retries += 1;
                            assert!(
                                Instant::now() < deadline,
                                "a request was refused for a minute: {code} {why}"
                            );
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        (code, body) => panic!("producer {p}: HTTP {code}: {body}"),
                    }
                }
                acked.extend(ids);
            }
            (acked, sent, retries)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(&procs.0[0], "-KILL");
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::SeqCst);
    let (mut acked, mut sent, mut retries) = (Vec::new(), Vec::new(), 0);
    for p in producers {
        let (a, s, r) = p.await.unwrap();
        acked.extend(a);
        sent.extend(s);
        retries += r;
    }
    ingest.shutdown().await.unwrap();
    procs.0[0].wait().unwrap();

    let (client, _conn) = connect(proxy.writer_addr().port(), &certs, "check").await;
    let rows = client
        .query("SELECT id, payload->>'id' FROM orders", &[])
        .await
        .unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for r in &rows {
        let (id, in_payload): (String, String) = (r.get(0), r.get(1));
        assert_eq!(id, in_payload, "row {id} holds another event's payload");
        *seen.entry(id).or_insert(0) += 1;
    }
    assert!(seen.values().all(|&c| c == 1), "a key appears twice");
    let missing: Vec<_> = acked.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events are missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let sent: std::collections::BTreeSet<_> = sent.into_iter().collect();
    assert!(
        seen.keys().all(|id| sent.contains(id)),
        "a row appeared that was never sent"
    );
    assert!(
        acked.len() >= PRODUCERS * BATCH,
        "too few events acknowledged"
    );
    println!(
        "ingest across a writer failover: {} events acknowledged, {} requests retried",
        acked.len(),
        retries
    );
    proxy.shutdown().await;
}

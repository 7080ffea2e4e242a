//! The proxy in front of real PostgreSQL (Debian's package, through
//! `sextant_testkit::postgres`): TLS, SCRAM, the relay (simple and extended
//! query, COPY both ways, notices, errors, cancel), the reader endpoint's
//! fallback, limits, and sessions that outlive their backend connection
//! (PostgreSQL's `pg_terminate_backend` stands in for a writer that went
//! away): settings and prepared statements replayed, open transactions
//! failed with 40001 and the session going on.
//!
//! Needs `psql`, `openssl` and PostgreSQL 15's server programs.

mod proxy_support;

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use proxy_support::{conninfo, metric, psql, single_writer, start_proxy, Certs};
use sextant_testkit::postgres::RealPostgres;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout_ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "psql failed: {}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn pg_config(port: u16, password: &str) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    c.host("127.0.0.1")
        .port(port)
        .user("sextant")
        .password(password)
        .dbname("sextant")
        .connect_timeout(Duration::from_secs(10));
    c
}

type Conn = (
    tokio_postgres::Client,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
);

async fn connect_tls(port: u16, certs: &Certs, app: &str) -> Conn {
    let mut c = pg_config(port, "sextant");
    c.ssl_mode(SslMode::Require).application_name(app);
    let (client, conn) = c
        .connect(certs.connector())
        .await
        .expect("connect over TLS");
    (client, tokio::spawn(conn))
}

fn metrics_text(addr: std::net::SocketAddr) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

fn code(e: &tokio_postgres::Error) -> Option<&SqlState> {
    e.as_db_error().map(|d| d.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_relay_to_real_postgres_with_tokio_postgres_and_psql() {
    let pg = RealPostgres::start().expect("start PostgreSQL");
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path());
    let proxy = start_proxy(single_writer(&pg.addr()), Some(&certs), |_| {}).await;
    let port = proxy.writer_addr().port();

    // tokio-postgres over TLS (the certificate is verified): simple and
    // extended protocol, prepared statements, errors.
    let (client, _conn) = connect_tls(port, &certs, "relay").await;
    client
        .batch_execute("CREATE TABLE kv (id int8 PRIMARY KEY, v text NOT NULL)")
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO kv VALUES ($1, $2)")
        .await
        .unwrap();
    for i in 0..50i64 {
        client
            .execute(&insert, &[&i, &format!("v{i}")])
            .await
            .unwrap();
    }
    let row = client
        .query_one("SELECT count(*), max(v) FROM kv WHERE id >= $1", &[&10i64])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 40);
    assert_eq!(row.get::<_, String>(1), "v49");
    let dup = client.execute(&insert, &[&1i64, &"x"]).await.unwrap_err();
    assert_eq!(code(&dup), Some(&SqlState::UNIQUE_VIOLATION), "{dup}");
    let missing = client.simple_query("SELECT * FROM nope").await.unwrap_err();
    assert_eq!(
        code(&missing),
        Some(&SqlState::UNDEFINED_TABLE),
        "{missing}"
    );
    // The session is fine after errors.
    let r = client
        .query_one("SELECT $1::text", &[&"still here"])
        .await
        .unwrap();
    assert_eq!(r.get::<_, String>(0), "still here");

    // Cancel: the proxy's key goes to the proxy, which forwards it.
    let token = client.cancel_token();
    let connector = certs.connector();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel_query(connector).await
    });
    let started = Instant::now();
    let cancelled = client
        .simple_query("SELECT pg_sleep(30)")
        .await
        .unwrap_err();
    assert_eq!(
        code(&cancelled),
        Some(&SqlState::QUERY_CANCELED),
        "{cancelled}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    canceller.await.unwrap().unwrap();
    assert_eq!(
        client
            .query_one("SELECT 1", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        1
    );

    // psql over TLS: \conninfo says so; COPY both ways; notices.
    let ci = conninfo(port, "sextant", "sextant", "require");
    let info = stdout_ok(psql(&ci, "\\conninfo"));
    assert!(info.contains("SSL connection"), "{info}");
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "100,a\n101,b\n102,\"c,d\"\n").unwrap();
    let copied = stdout_ok(psql(
        &ci,
        &format!("\\copy kv FROM '{}' WITH (FORMAT csv)", csv.display()),
    ));
    assert_eq!(copied.trim(), "COPY 3");
    let out = stdout_ok(psql(
        &ci,
        "COPY (SELECT id, v FROM kv WHERE id >= 100 ORDER BY id) TO STDOUT WITH (FORMAT csv)",
    ));
    assert_eq!(out, "100,a\n101,b\n102,\"c,d\"\n");
    let notice = psql(&ci, "DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$");
    assert!(notice.status.success(), "{}", stderr(&notice));
    assert!(
        stderr(&notice).contains("hello from plpgsql"),
        "{}",
        stderr(&notice)
    );

    // The reader endpoint: no reader, so the writer serves it.
    let rport = proxy.reader_addr().unwrap().port();
    let n = stdout_ok(psql(
        &conninfo(rport, "sextant", "sextant", "require"),
        "SELECT count(*) FROM kv",
    ));
    assert_eq!(n.trim(), "53");

    // Authentication failures: one message, whichever the reason.
    let wrong = psql(&conninfo(port, "sextant", "guess", "require"), "SELECT 1");
    assert!(!wrong.status.success());
    // (libpq prints no SQLSTATE for connection errors; tokio-postgres
    // below checks the code.)
    assert!(
        stderr(&wrong).contains("password authentication failed for user \"sextant\""),
        "{}",
        stderr(&wrong)
    );
    let unknown = psql(&conninfo(port, "mallory", "guess", "disable"), "SELECT 1");
    assert!(
        stderr(&unknown).contains("password authentication failed for user \"mallory\""),
        "{}",
        stderr(&unknown)
    );
    let e = pg_config(port, "guess")
        .connect(tokio_postgres::NoTls)
        .await
        .err()
        .expect("a wrong password is refused");
    assert_eq!(code(&e), Some(&SqlState::INVALID_PASSWORD), "{e}");

    let text = metrics_text(proxy.metrics_addr().unwrap());
    assert!(
        metric(&text, "proxy_auth_failures_total", "reason=\"password\"") >= 2.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "proxy_auth_failures_total",
            "reason=\"unknown_user\""
        ) >= 1.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "proxy_client_connections_total",
            "endpoint=\"writer\""
        ) >= 5.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "proxy_client_connections_total",
            "endpoint=\"reader\""
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "proxy_client_connections_active",
            "endpoint=\"writer\""
        ),
        1.0,
        "{text}"
    );
    drop(client);
    proxy.shutdown().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiation_and_limits() {
    let pg = RealPostgres::start().expect("start PostgreSQL");
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path());

    // Require TLS: a plain connection is refused with 28000.
    let strict = start_proxy(single_writer(&pg.addr()), Some(&certs), |c| {
        c.require_tls = true
    })
    .await;
    let port = strict.writer_addr().port();
    let plain = psql(&conninfo(port, "sextant", "sextant", "disable"), "SELECT 1");
    assert!(!plain.status.success());
    assert!(
        stderr(&plain).contains("this server accepts TLS connections only"),
        "{}",
        stderr(&plain)
    );
    let e = pg_config(port, "sextant")
        .connect(tokio_postgres::NoTls)
        .await
        .err()
        .expect("plain text is refused");
    assert_eq!(
        code(&e),
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "{e}"
    );
    assert_eq!(
        stdout_ok(psql(
            &conninfo(port, "sextant", "sextant", "require"),
            "SELECT 1"
        ))
        .trim(),
        "1"
    );
    strict.shutdown().await;

    // Without TLS: SSLRequest is answered N; GSSENCRequest is answered N
    // and the client goes on in plain text on the same connection.
    let plain_proxy = start_proxy(single_writer(&pg.addr()), None, |c| {
        c.limits.max_connections = 2;
        c.limits.max_message_bytes = 64 << 10;
        c.limits.idle_timeout = Some(Duration::from_millis(2_000));
    })
    .await;
    let port = plain_proxy.writer_addr().port();
    let needs_tls = psql(&conninfo(port, "sextant", "sextant", "require"), "SELECT 1");
    assert!(
        stderr(&needs_tls).contains("server does not support SSL"),
        "{}",
        stderr(&needs_tls)
    );
    assert_eq!(
        stdout_ok(psql(
            &conninfo(port, "sextant", "sextant", "prefer"),
            "SELECT 2"
        ))
        .trim(),
        "2"
    );
    {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]).unwrap(); // 80877104
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"N");
        let mut startup = vec![0, 3, 0, 0];
        startup.extend_from_slice(b"user\0sextant\0\0");
        let mut pkt = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
        pkt.extend_from_slice(&startup);
        s.write_all(&pkt).unwrap();
        let mut head = [0u8; 9];
        s.read_exact(&mut head).unwrap();
        assert_eq!(head[0], b'R');
        assert_eq!(
            u32::from_be_bytes(head[5..9].try_into().unwrap()),
            10,
            "SASL"
        );
    }

    // A message over the limit ends the session with 08P01.
    let (client, conn) = pg_config(port, "sextant")
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let big = format!("SELECT '{}'", "x".repeat(100 << 10));
    let e = client.simple_query(&big).await.unwrap_err();
    assert_eq!(code(&e), Some(&SqlState::PROTOCOL_VIOLATION), "{e}");
    assert!(conn.await.unwrap().is_err(), "the session ended");

    // Idle past idle_timeout: 57P05.
    let (client, conn) = pg_config(port, "sextant")
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(client.simple_query("SELECT 1").await.is_err());
    let e = conn.await.unwrap().unwrap_err();
    assert_eq!(code(&e), Some(&SqlState::IDLE_SESSION_TIMEOUT), "{e}");

    // max_connections = 2: a third client is refused with 53300 (the
    // first two connect well within idle_timeout, even on a loaded machine).
    let (_c1, _k1) = {
        let (c, k) = pg_config(port, "sextant")
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap();
        (c, tokio::spawn(k))
    };
    let (_c2, _k2) = {
        let (c, k) = pg_config(port, "sextant")
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap();
        (c, tokio::spawn(k))
    };
    let third = pg_config(port, "sextant")
        .connect(tokio_postgres::NoTls)
        .await
        .err()
        .expect("over max_connections");
    assert_eq!(
        code(&third),
        Some(&SqlState::TOO_MANY_CONNECTIONS),
        "{third}"
    );
    plain_proxy.shutdown().await;
    drop(pg);
}

/// Terminates the backend session of the proxy session with this
/// application_name, directly on PostgreSQL.
async fn terminate(admin: &tokio_postgres::Client, app: &str) {
    let n: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "one backend session named {app}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_outlive_their_backend_connection() {
    let pg = RealPostgres::start().expect("start PostgreSQL");
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path());
    let proxy = start_proxy(single_writer(&pg.addr()), Some(&certs), |_| {}).await;
    let port = proxy.writer_addr().port();
    let (admin, _ak) = {
        let (c, k) = pg_config(pg.port, "sextant")
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap();
        (c, tokio::spawn(k))
    };
    admin
        .batch_execute("CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY)")
        .await
        .unwrap();

    // Idle session: settings, startup parameters and prepared statements
    // are all there on the new backend; the client notices nothing.
    let (client, conn) = connect_tls(port, &certs, "victim").await;
    client
        .batch_execute("SET search_path = app, public")
        .await
        .unwrap();
    client
        .batch_execute("SET statement_timeout = '12s'")
        .await
        .unwrap();
    client.batch_execute("BEGIN").await.unwrap();
    client.batch_execute("SET work_mem = '7MB'").await.unwrap();
    client.batch_execute("ROLLBACK").await.unwrap();
    let ins = client.prepare("INSERT INTO t VALUES ($1)").await.unwrap();
    client.execute(&ins, &[&1i32]).await.unwrap();
    terminate(&admin, "victim").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    client
        .execute(&ins, &[&2i32])
        .await
        .expect("prepared statement replayed");
    let row = client
        .query_one(
            "SELECT current_setting('search_path'), current_setting('statement_timeout'), \
             current_setting('application_name'), current_setting('work_mem')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "app, public");
    assert_eq!(row.get::<_, String>(1), "12s");
    assert_eq!(row.get::<_, String>(2), "victim");
    assert_eq!(
        row.get::<_, String>(3),
        "4MB",
        "a rolled-back SET is not replayed"
    );

    // Idle in a transaction: the next statement gets 40001, then 25P02
    // until ROLLBACK, then the session goes on.
    client.batch_execute("BEGIN").await.unwrap();
    client.execute(&ins, &[&3i32]).await.unwrap();
    terminate(&admin, "victim").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let e = client.execute(&ins, &[&4i32]).await.unwrap_err();
    assert_eq!(code(&e), Some(&SqlState::T_R_SERIALIZATION_FAILURE), "{e}");
    let e = client.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(code(&e), Some(&SqlState::IN_FAILED_SQL_TRANSACTION), "{e}");
    client.batch_execute("ROLLBACK").await.unwrap();
    client.execute(&ins, &[&5i32]).await.unwrap();

    // A statement in flight inside a transaction: 40001 at once.
    client.batch_execute("BEGIN").await.unwrap();
    client.execute(&ins, &[&6i32]).await.unwrap();
    let admin2 = admin;
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        terminate(&admin2, "victim").await;
        admin2
    });
    let e = client
        .simple_query("SELECT pg_sleep(20)")
        .await
        .unwrap_err();
    assert_eq!(code(&e), Some(&SqlState::T_R_SERIALIZATION_FAILURE), "{e}");
    let admin = killer.await.unwrap();
    client.batch_execute("ROLLBACK").await.unwrap();

    let ids: Vec<i32> = admin
        .query("SELECT id FROM app.t ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![1, 2, 5], "only committed rows");
    assert!(!conn.is_finished(), "the client connection stayed open");
    let text = proxy.metrics_text();
    assert!(
        metric(&text, "proxy_sessions_reattached_total", "") >= 3.0,
        "{text}"
    );
    assert!(
        metric(&text, "proxy_transactions_failed_over_total", "") >= 2.0,
        "{text}"
    );
    drop(client);
    proxy.shutdown().await;
    drop(pg);
}

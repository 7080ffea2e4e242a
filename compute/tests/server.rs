//! The Postgres wire protocol, end to end: a real driver (tokio-postgres)
//! and psql against the server, over six in-process storage nodes.
//!
//! tokio-postgres sends parameters in binary and asks for binary results,
//! so every `query` here also exercises the binary formats; `simple_query`
//! is the text protocol.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sextant_compute::metrics::ComputeMetrics;
use sextant_compute::server::{self, ServerConfig, TlsConfig};
use sextant_compute::sql::session::{Database, DatabaseConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

struct Server {
    _storage: common::Storage,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    metrics: Arc<ComputeMetrics>,
}

impl Server {
    async fn start() -> Server {
        Server::start_with(ServerConfig::default(), None).await
    }

    async fn start_with(cfg: ServerConfig, tls: Option<TlsConfig>) -> Server {
        let storage = common::Storage::start().await;
        let engine = storage.engine().await;
        let db = Database::new(
            engine,
            DatabaseConfig {
                database: "sextant".into(),
                users: vec![("sextant".into(), "sextant".into())],
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let metrics = Arc::new(ComputeMetrics::new());
        let m = metrics.clone();
        let task = tokio::spawn(async move {
            server::serve_with(listener, db, tls, cfg, m, async move {
                let _ = stopped.await;
            })
            .await
            .expect("server ran");
        });
        Server {
            _storage: storage,
            addr,
            stop: Some(stop),
            task,
            metrics,
        }
    }

    fn config(&self, user: &str, password: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.addr.port())
            .user(user)
            .password(password)
            .dbname("sextant");
        c.connect_timeout(Duration::from_secs(10));
        c
    }

    async fn connect(&self) -> Client {
        self.try_connect("sextant", "sextant")
            .await
            .expect("connect")
    }

    async fn try_connect(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Client, tokio_postgres::Error> {
        let (client, conn) = self.config(user, password).connect(NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), &mut self.task)
            .await
            .expect("server stopped in time")
            .unwrap();
    }
}

fn code(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_owned())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

fn db_error(e: &tokio_postgres::Error) -> &tokio_postgres::error::DbError {
    e.as_db_error()
        .unwrap_or_else(|| panic!("not a server error: {e}"))
}

/// The rows of the last result of a simple query, as text.
fn text_rows(msgs: &[SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
            }
            _ => None,
        })
        .collect()
}

fn command_counts(msgs: &[SimpleQueryMessage]) -> Vec<u64> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_password_authentication() {
    let s = Server::start().await;
    let c = s.connect().await;
    let rows = c.simple_query("SELECT 1").await.unwrap();
    assert_eq!(text_rows(&rows), vec![vec![Some("1".to_owned())]]);

    let e = s
        .try_connect("sextant", "wrong")
        .await
        .expect_err("wrong password refused");
    assert_eq!(code(&e), "28P01");
    assert_eq!(
        db_error(&e).message(),
        "password authentication failed for user \"sextant\""
    );
    assert_eq!(db_error(&e).severity(), "FATAL");

    // An unknown user gets the same answer as a wrong password.
    let e = s
        .try_connect("mallory", "sextant")
        .await
        .expect_err("unknown user refused");
    assert_eq!(code(&e), "28P01");
    assert_eq!(
        db_error(&e).message(),
        "password authentication failed for user \"mallory\""
    );

    // The session's parameters reach the client.
    let show = c.simple_query("SHOW server_version").await.unwrap();
    assert!(!text_rows(&show).is_empty());
    let text = s.metrics.encode();
    assert!(
        text.contains("compute_connections_refused_total{reason=\"Authentication\"} 2"),
        "{text}"
    );
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_queries_return_rows_tags_and_errors() {
    let s = Server::start().await;
    let c = s.connect().await;
    let r = c
        .simple_query(
            "CREATE TABLE t (id int PRIMARY KEY, name text, score float8); \
             INSERT INTO t VALUES (1, 'one', 1.5), (2, NULL, -2); \
             SELECT id, name, score FROM t ORDER BY id",
        )
        .await
        .unwrap();
    assert_eq!(command_counts(&r), vec![0, 2, 2]);
    assert_eq!(
        text_rows(&r),
        vec![
            vec![Some("1".into()), Some("one".into()), Some("1.5".into())],
            vec![Some("2".into()), None, Some("-2".into())]
        ]
    );
    // Column descriptions carry the names.
    let Some(SimpleQueryMessage::RowDescription(cols)) = r
        .iter()
        .find(|m| matches!(m, SimpleQueryMessage::RowDescription(_)))
    else {
        panic!("no RowDescription in {r:?}")
    };
    assert_eq!(
        cols.iter().map(|c| c.name()).collect::<Vec<_>>(),
        ["id", "name", "score"]
    );

    // An empty query string (EmptyQueryResponse reads as a 0 count).
    let r = c.simple_query("").await.unwrap();
    assert_eq!(command_counts(&r), vec![0]);
    assert!(text_rows(&r).is_empty());

    // An error carries its SQLSTATE and leaves the connection usable.
    let e = c.simple_query("SELECT * FROM missing").await.unwrap_err();
    assert_eq!(code(&e), "42P01");
    assert_eq!(
        db_error(&e).message(),
        "relation \"missing\" does not exist"
    );
    let e = c.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(code(&e), "42601");
    let r = c.simple_query("SELECT count(*) FROM t").await.unwrap();
    assert_eq!(text_rows(&r), vec![vec![Some("2".into())]]);

    // Statements after an error in the same string do not run.
    let e = c.simple_query("INSERT INTO t VALUES (3, 'x', 0); SELECT * FROM missing; INSERT INTO t VALUES (4, 'y', 0)").await;
    assert_eq!(code(&e.unwrap_err()), "42P01");
    let r = c
        .simple_query("SELECT id FROM t WHERE id >= 3")
        .await
        .unwrap();
    assert!(text_rows(&r).is_empty(), "{:?}", text_rows(&r));
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_status_follows_the_session() {
    let s = Server::start().await;
    let mut c = s.connect().await;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    c.batch_execute("BEGIN").await.unwrap();
    c.batch_execute("INSERT INTO t VALUES (1)").await.unwrap();
    let e = c.batch_execute("SELECT * FROM missing").await.unwrap_err();
    assert_eq!(code(&e), "42P01");
    // In a failed block, everything but ROLLBACK is refused.
    let e = c.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(code(&e), "25P02");
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        c.query_one("SELECT count(*) FROM t", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        0
    );

    // tokio-postgres's transaction API commits through the extended protocol.
    let tx = c.transaction().await.unwrap();
    tx.execute("INSERT INTO t VALUES ($1)", &[&7i32])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        c.query_one("SELECT id FROM t", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        7
    );
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_with_binary_parameters_and_results() {
    let s = Server::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE items (id bigint PRIMARY KEY, name text, price float8, small int2, qty int4, ok bool, blob bytea, ratio float4, note varchar(20))")
        .await
        .unwrap();
    let insert = c
        .prepare("INSERT INTO items VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .await
        .unwrap();
    assert_eq!(insert.params().len(), 9);
    for i in 1..=5i64 {
        let n = c
            .execute(
                &insert,
                &[
                    &i,
                    &format!("item {i}"),
                    &(i as f64 * 1.25),
                    &(i as i16),
                    &(i as i32 * 10),
                    &(i % 2 == 0),
                    &vec![0u8, i as u8, 255],
                    &(0.5f32),
                    &"é",
                ],
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    // A NULL parameter.
    let none: Option<String> = None;
    c.execute(
        &insert,
        &[
            &6i64,
            &none,
            &0.0f64,
            &0i16,
            &0i32,
            &false,
            &Vec::<u8>::new(),
            &-1.5f32,
            &"x",
        ],
    )
    .await
    .unwrap();

    let row = c
        .query_one(
            "SELECT id, name, price, small, qty, ok, blob, ratio, note FROM items WHERE id = $1",
            &[&4i64],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 4);
    assert_eq!(row.get::<_, String>(1), "item 4");
    assert_eq!(row.get::<_, f64>(2), 5.0);
    assert_eq!(row.get::<_, i16>(3), 4);
    assert_eq!(row.get::<_, i32>(4), 40);
    assert!(row.get::<_, bool>(5));
    assert_eq!(row.get::<_, Vec<u8>>(6), vec![0, 4, 255]);
    assert_eq!(row.get::<_, f32>(7), 0.5);
    assert_eq!(row.get::<_, String>(8), "é");
    let row = c
        .query_one("SELECT name FROM items WHERE id = $1", &[&6i64])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<String>>(0), None);

    // Text parameters and results through the same statement shapes.
    let r = c
        .simple_query("SELECT blob, ratio FROM items WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(
        text_rows(&r),
        vec![vec![Some("\\x0002ff".into()), Some("0.5".into())]]
    );

    // Reusing a named statement, and parameter types the client chose.
    let by_qty = c
        .prepare_typed(
            "SELECT id FROM items WHERE qty > $1 ORDER BY id",
            &[tokio_postgres::types::Type::INT4],
        )
        .await
        .unwrap();
    let ids: Vec<i64> = c
        .query(&by_qty, &[&25i32])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![3, 4, 5]);
    let ids: Vec<i64> = c
        .query(&by_qty, &[&45i32])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![5]);

    // A statement that fails to prepare, then one that fails to execute:
    // both answered with an error, the connection carries on.
    let e = c.prepare("SELECT nope FROM items").await.unwrap_err();
    assert_eq!(code(&e), "42703");
    let e = c
        .execute(
            &insert,
            &[
                &1i64,
                &"dup",
                &0.0f64,
                &0i16,
                &0i32,
                &true,
                &vec![1u8],
                &0f32,
                &"d",
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(code(&e), "23505");
    assert_eq!(
        c.query_one("SELECT count(*) FROM items", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        6
    );
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portals_return_rows_in_pieces() {
    let s = Server::start().await;
    let mut c = s.connect().await;
    c.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    c.batch_execute("INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e'),(6,'f'),(7,'g'),(8,'h'),(9,'i'),(10,'j')")
        .await
        .unwrap();
    let tx = c.transaction().await.unwrap();
    let stmt = tx
        .prepare("SELECT id, v FROM t WHERE id > $1 ORDER BY id")
        .await
        .unwrap();
    let portal = tx.bind(&stmt, &[&0i32]).await.unwrap();
    let mut seen = Vec::new();
    for want in [3, 3, 3, 1, 0] {
        let rows = tx.query_portal(&portal, 3).await.unwrap();
        assert_eq!(rows.len(), want, "after {seen:?}");
        seen.extend(rows.iter().map(|r| r.get::<_, i32>(0)));
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());

    // Two portals interleaved keep their own positions.
    let a = tx.bind(&stmt, &[&0i32]).await.unwrap();
    let b = tx.bind(&stmt, &[&5i32]).await.unwrap();
    assert_eq!(tx.query_portal(&a, 2).await.unwrap()[0].get::<_, i32>(0), 1);
    assert_eq!(tx.query_portal(&b, 2).await.unwrap()[0].get::<_, i32>(0), 6);
    assert_eq!(
        tx.query_portal(&a, 2).await.unwrap()[0].get::<_, String>(1),
        "c"
    );
    // No limit: the rest.
    assert_eq!(tx.query_portal(&b, 0).await.unwrap().len(), 3);
    tx.commit().await.unwrap();
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_statement() {
    let s = Server::start().await;
    let c = s.connect().await;
    c.batch_execute("CREATE TABLE big (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    // More rows than the executor's cancel-check interval (1024), each with
    // a value long enough to make string functions cost something.
    let values: Vec<String> = (0..3_000)
        .map(|i| format!("({i}, '{}')", "abcdefgh".repeat(32)))
        .collect();
    c.batch_execute(&format!("INSERT INTO big VALUES {}", values.join(",")))
        .await
        .unwrap();
    // Lengthen the filter until the query takes long enough to cancel in
    // flight, whatever this machine's speed.
    // (Each term nests the OR chain one level deeper, and nesting is
    // limited: the terms are heavy so that few are needed.)
    let term = "upper(repeat(v, 32)) LIKE '%NEEDLE%'";
    let mut terms = 4;
    let query = loop {
        let query = format!(
            "SELECT count(*) FROM big WHERE {}",
            vec![term; terms].join(" OR ")
        );
        let t = Instant::now();
        c.simple_query(&query).await.unwrap();
        if t.elapsed() > Duration::from_millis(1_500) {
            break query;
        }
        assert!(
            terms < 512,
            "{terms} terms over 3000 rows take only {:?}",
            t.elapsed()
        );
        terms *= 2;
    };
    let token = c.cancel_token();
    let started = Instant::now();
    let mut query = tokio::spawn(async move {
        let r = c.simple_query(&query).await;
        (r, c)
    });
    // A cancel that arrives before the statement starts is lost, as in
    // PostgreSQL, so keep asking until the statement ends.
    let mut cancels = 0;
    let (r, c) = loop {
        tokio::select! {
            done = &mut query => break done.unwrap(),
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                token.cancel_query(NoTls).await.unwrap();
                cancels += 1;
            }
        }
    };
    let e = r.expect_err("the statement was cancelled");
    assert_eq!(code(&e), "57014", "{e}");
    assert_eq!(
        db_error(&e).message(),
        "canceling statement due to user request"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // The session is usable afterwards.
    assert_eq!(
        c.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0),
        1
    );
    let text = s.metrics.encode();
    // Cancel requests are fire-and-forget: the last may still be in flight.
    let counted: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("compute_cancel_requests_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no cancel counter in\n{text}"));
    assert!(
        (1..=cancels).contains(&counted),
        "{counted} of {cancels} cancels counted"
    );
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_refuses_with_53300() {
    let cfg = ServerConfig {
        max_connections: 2,
        ..ServerConfig::default()
    };
    let s = Server::start_with(cfg, None).await;
    let a = s.connect().await;
    let b = s.connect().await;
    let e = s
        .try_connect("sextant", "sextant")
        .await
        .expect_err("third connection refused");
    assert_eq!(code(&e), "53300");
    assert_eq!(db_error(&e).message(), "sorry, too many clients already");
    drop(a);
    // The slot frees when the session ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    let c = loop {
        match s.try_connect("sextant", "sextant").await {
            Ok(c) => break c,
            Err(e) if code(&e) == "53300" && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("{e}"),
        }
    };
    c.simple_query("SELECT 1").await.unwrap();
    drop((b, c));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_in_transaction_sessions_are_ended() {
    let cfg = ServerConfig {
        idle_in_transaction_session_timeout: Some(Duration::from_millis(300)),
        ..ServerConfig::default()
    };
    let s = Server::start_with(cfg, None).await;
    let (c, conn) = s.config("sextant", "sextant").connect(NoTls).await.unwrap();
    let conn = tokio::spawn(conn);
    c.batch_execute("BEGIN").await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("server ended the session")
        .unwrap();
    let e = end.expect_err("ended with an error");
    assert_eq!(code(&e), "25P03");
    assert!(c.simple_query("SELECT 1").await.is_err());
    // Outside a transaction the session may idle (idle_session_timeout is off).
    let c = s.connect().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.simple_query("SELECT 1").await.unwrap();
    drop(c);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_sessions_with_57p01() {
    let s = Server::start().await;
    let (c, conn) = s.config("sextant", "sextant").connect(NoTls).await.unwrap();
    let conn = tokio::spawn(conn);
    c.simple_query("SELECT 1").await.unwrap();
    s.stop().await;
    let end = tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .unwrap()
        .unwrap();
    let e = end.expect_err("ended with an error");
    assert_eq!(code(&e), "57P01");
    assert!(c.simple_query("SELECT 1").await.is_err());
}

/// A self-signed certificate made with the `openssl` command.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_over_tls_with_channel_binding() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let tls = TlsConfig::from_pem_files(&cert, &key).unwrap();
    let s = Server::start_with(ServerConfig::default(), Some(tls)).await;
    let port = s.addr.port();
    for (options, want_ssl) in [
        ("sslmode=require channel_binding=require", true),
        ("sslmode=require channel_binding=disable", true),
        ("sslmode=disable", false),
    ] {
        let conninfo = format!("host=127.0.0.1 port={port} user=sextant dbname=sextant {options}");
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("psql")
                .args([
                    "-X",
                    "-At",
                    &conninfo,
                    "-c",
                    "SELECT 40 + 2",
                    "-c",
                    "\\conninfo",
                ])
                .env("PGPASSWORD", "sextant")
                .output()
                .expect("run psql (is postgresql-client installed?)")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{options}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.lines().next(), Some("42"), "{options}: {stdout}");
        assert_eq!(
            stdout.contains("SSL connection"),
            want_ssl,
            "{options}: {stdout}"
        );
    }
    s.stop().await;
}

#[test]
fn tls_config_rejects_garbage() {
    assert!(TlsConfig::from_pem(b"not a certificate", b"not a key").is_err());
    let e = TlsConfig::from_pem_files(
        std::path::Path::new("/nonexistent/cert.pem"),
        std::path::Path::new("/nonexistent/key.pem"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_is_refused_with_3d000() {
    let s = Server::start().await;
    let mut cfg = s.config("sextant", "sextant");
    cfg.dbname("nosuchdb");
    let e = match cfg.connect(NoTls).await {
        Ok(_) => panic!("connected to an unknown database"),
        Err(e) => e,
    };
    assert_eq!(code(&e), "3D000");
    assert_eq!(
        db_error(&e).message(),
        "database \"nosuchdb\" does not exist"
    );
    // The right database still works on the same server.
    s.connect().await.simple_query("SELECT 1").await.unwrap();
    s.stop().await;
}

//! SQL conformance against recorded PostgreSQL 15 behaviour.
//!
//! Every case in `data/sql/*.sql` runs against an in-process Sextant server
//! (six in-process storage nodes, as in `server.rs`) through the simple
//! query protocol, and the cases marked `(extended)` once more through the
//! extended protocol. What the server answers (command tags, columns and
//! their types, rows in text format, errors with SQLSTATE, message,
//! detail, hint, position and context, notices, parameter changes, the
//! transaction status) is rendered as text and compared with the
//! `data/sql/*.expected` file that `data/sql/regen.sh` recorded from a real
//! PostgreSQL 15. `cases.rs` describes both formats. PostgreSQL is not
//! needed to run this test.
//!
//! Each case starts on a fresh connection with no tables: PostgreSQL's run
//! drops and recreates the `public` schema, Sextant's drops every table in
//! its catalog.
//!
//! Cases Sextant does not pass yet are listed, grouped by the missing
//! feature, in `data/sql/known_failures.txt`. The test prints a diff for
//! every mismatch, listed or not, and fails when a case not on the list
//! fails or a case on the list passes (so the list only shrinks).
//! `SQL_PG_STRICT=1` ignores the list; `SQL_PG_FILTER=text` runs only the
//! cases whose `file/case` name contains `text`.
//!
//! To add a case, write it in a `.sql` file, run `regen.sh`, read the new
//! lines of the `.expected` file, and commit both.

#[path = "sql_pg/cases.rs"]
mod cases;
mod common;
#[path = "sql_pg/wire.rs"]
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cases::{echo, echo_lines, parse_cases, render_statement, Case, Expected, Outcome};
use sextant_compute::metrics::ComputeMetrics;
use sextant_compute::server::{self, ServerConfig};
use sextant_compute::sql::session::{Database, DatabaseConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wire::{Conn, ConnectParams, Event};

/// Where the case and expected files live.
fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sql")
}

/// One case file and its expected results.
struct CaseFile {
    /// The file name, `ddl.sql`.
    name: String,
    path: PathBuf,
    cases: Vec<Case>,
}

/// Loads every `*.sql` file, in name order.
fn load_case_files() -> Vec<CaseFile> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("read tests/data/sql")
        .map(|e| e.expect("read tests/data/sql entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no case files in {:?}", data_dir());
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read case file");
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let cases = parse_cases(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            CaseFile { name, path, cases }
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Simple,
    Extended,
}

impl Protocol {
    fn label(self) -> &'static str {
        match self {
            Protocol::Simple => "simple protocol",
            Protocol::Extended => "extended protocol",
        }
    }
}

fn protocols(case: &Case) -> &'static [Protocol] {
    if case.extended {
        &[Protocol::Simple, Protocol::Extended]
    } else {
        &[Protocol::Simple]
    }
}

/// Runs a case on a fresh connection and renders it as its expected block.
async fn run_case(params: &ConnectParams, case: &Case, protocol: Protocol) -> String {
    let mut out = format!("{}\n", case.header());
    let mut conn = match Conn::connect(params).await {
        Ok(c) => Some(c),
        Err(e) => {
            writeln!(out, "client: connect failed: {e}").expect("write to String");
            None
        }
    };
    for stmt in &case.statements {
        let outcome = match conn.as_mut() {
            None => Outcome::NotRun,
            Some(c) => {
                let data = stmt.copy_data.as_deref().map(str::as_bytes);
                let result = match protocol {
                    Protocol::Simple => c.simple_query(&stmt.sql, data).await,
                    Protocol::Extended => c.extended_query(&stmt.sql, data).await,
                };
                match result {
                    Ok(events) => Outcome::Events(events),
                    Err(e) => Outcome::Failed(e),
                }
            }
        };
        if matches!(outcome, Outcome::Failed(_)) {
            conn = None;
        }
        out.push_str(&render_statement(stmt, &outcome));
    }
    if let Some(c) = conn {
        c.close().await;
    }
    out
}

/// The echo lines a case renders to, for telling a stale expected file.
fn case_echo(case: &Case) -> String {
    let mut out = format!("{}\n", case.header());
    for stmt in &case.statements {
        out.push_str(&echo(stmt));
    }
    out
}

fn errors_in(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Error(r) => Some(format!("{} {}", r.code, r.message)),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Sextant
// ---------------------------------------------------------------------------

/// An in-process Sextant server, as `server.rs` starts it, keeping the
/// database so the harness can list the tables a case left behind.
struct Server {
    _storage: common::Storage,
    db: Arc<Database>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
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
        let served = db.clone();
        let task = tokio::spawn(async move {
            server::serve_with(
                listener,
                served,
                None,
                ServerConfig::default(),
                metrics,
                async move {
                    let _ = stopped.await;
                },
            )
            .await
            .expect("server ran");
        });
        Server {
            _storage: storage,
            db,
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn params(&self) -> ConnectParams {
        ConnectParams {
            addr: self.addr.to_string(),
            user: "sextant".into(),
            password: "sextant".into(),
            database: "sextant".into(),
        }
    }

    fn table_names(&self) -> Vec<String> {
        self.db
            .engine()
            .begin()
            .catalog()
            .tables()
            .map(|t| t.name.clone())
            .collect()
    }

    /// Drops every table, so the next case starts from an empty schema.
    async fn reset(&self) {
        // The previous case's connection may still be closing; its
        // transaction ends with it.
        for _ in 0..50 {
            let names = self.table_names();
            if names.is_empty() {
                return;
            }
            let mut conn = Conn::connect(&self.params())
                .await
                .unwrap_or_else(|e| panic!("reset: connect: {e}"));
            let mut errors = Vec::new();
            for name in &names {
                let sql = format!("DROP TABLE \"{}\"", name.replace('"', "\"\""));
                let events = conn
                    .simple_query(&sql, None)
                    .await
                    .unwrap_or_else(|e| panic!("reset: {sql}: {e}"));
                errors.extend(errors_in(&events));
            }
            conn.close().await;
            if self.table_names().is_empty() {
                return;
            }
            eprintln!("reset: tables left after dropping {names:?}: {errors:?}; retrying");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "reset: could not drop tables {:?}; later cases would not start empty",
            self.table_names()
        );
    }

    async fn stop(mut self) {
        let _ = self.stop.take().expect("stopped once").send(());
        tokio::time::timeout(Duration::from_secs(15), &mut self.task)
            .await
            .expect("server stopped in time")
            .expect("server task");
    }
}

/// `data/sql/known_failures.txt`: `file case` per line, `#` comments.
fn load_known_failures(files: &[CaseFile]) -> BTreeSet<(String, String)> {
    let path = data_dir().join("known_failures.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut known = BTreeSet::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(file), Some(case), None) = (words.next(), words.next(), words.next()) else {
            panic!("known_failures.txt:{}: expected `file.sql case`", n + 1);
        };
        let exists = files
            .iter()
            .any(|f| f.name == file && f.cases.iter().any(|c| c.name == case));
        assert!(
            exists,
            "known_failures.txt:{}: no case {case} in {file}",
            n + 1
        );
        assert!(
            known.insert((file.to_owned(), case.to_owned())),
            "known_failures.txt:{}: {file} {case} listed twice",
            n + 1
        );
    }
    known
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sextant_matches_postgresql() {
    let files = load_case_files();
    let strict = std::env::var("SQL_PG_STRICT").is_ok_and(|v| v == "1");
    let filter = std::env::var("SQL_PG_FILTER").ok();
    let known = if strict {
        BTreeSet::new()
    } else {
        load_known_failures(&files)
    };
    let server = Server::start().await;
    let params = server.params();

    let mut stale = Vec::new();
    let mut report = String::new();
    let mut failing: BTreeMap<(String, String), Vec<Protocol>> = BTreeMap::new();
    let mut ran = Vec::new();
    for file in &files {
        let expected_path = file.path.with_extension("expected");
        let expected =
            Expected::parse(&std::fs::read_to_string(&expected_path).unwrap_or_default());
        for case in &file.cases {
            let id = format!("{}/{}", file.name, case.name);
            if filter.as_deref().is_some_and(|f| !id.contains(f)) {
                continue;
            }
            let Some(want) = expected.block(&case.name) else {
                stale.push(format!("{id}: no expected block"));
                continue;
            };
            let recorded = echo_lines(want);
            let current = case_echo(case);
            if recorded != current.lines().collect::<Vec<_>>() {
                stale.push(format!("{id}: the case changed since it was recorded"));
                continue;
            }
            ran.push((file.name.clone(), case.name.clone()));
            for &protocol in protocols(case) {
                server.reset().await;
                let got = run_case(&params, case, protocol).await;
                if got.trim_end() != want.trim_end() {
                    let key = (file.name.clone(), case.name.clone());
                    let listed = if known.contains(&key) {
                        " [known failure]"
                    } else {
                        ""
                    };
                    writeln!(
                        report,
                        "=== {id} ({}){listed}\n{}",
                        protocol.label(),
                        cases::diff(want, &got)
                    )
                    .expect("write to String");
                    failing.entry(key).or_default().push(protocol);
                }
            }
        }
    }
    server.stop().await;

    let unexpected: Vec<String> = failing
        .keys()
        .filter(|k| !known.contains(*k))
        .map(|(f, c)| format!("{f} {c}"))
        .collect();
    let now_passing: Vec<String> = ran
        .iter()
        .filter(|k| known.contains(*k) && !failing.contains_key(*k))
        .map(|(f, c)| format!("{f} {c}"))
        .collect();
    println!("{report}");
    println!(
        "sql_pg: {} cases run, {} match PostgreSQL, {} differ ({} listed as known failures)",
        ran.len(),
        ran.len() - failing.len(),
        failing.len(),
        failing.len() - unexpected.len()
    );
    assert!(
        stale.is_empty(),
        "expected files are stale; run compute/tests/data/sql/regen.sh:\n{}",
        stale.join("\n")
    );
    assert!(
        unexpected.is_empty() && now_passing.is_empty(),
        "differences from PostgreSQL are printed above.\n\
         failing but not in known_failures.txt:\n  {}\n\
         passing but still in known_failures.txt (remove them):\n  {}",
        unexpected.join("\n  "),
        now_passing.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// PostgreSQL (regen.sh)
// ---------------------------------------------------------------------------

/// Records the expected files from a real PostgreSQL; `regen.sh` starts
/// one and runs this with `SQL_PG_REGEN_ADDR=127.0.0.1:PORT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a PostgreSQL server; run by data/sql/regen.sh"]
async fn regenerate_expected_from_postgresql() {
    let addr = std::env::var("SQL_PG_REGEN_ADDR")
        .expect("SQL_PG_REGEN_ADDR=host:port of the PostgreSQL that regen.sh started");
    let params = ConnectParams {
        addr,
        user: "sextant".into(),
        password: "sextant".into(),
        database: "sextant".into(),
    };
    let mut conn = Conn::connect(&params).await.expect("connect to PostgreSQL");
    let version = query_one(&mut conn, "SELECT version()").await;
    assert!(
        version.starts_with("PostgreSQL 15."),
        "regen.sh wants PostgreSQL 15, got {version}"
    );
    conn.close().await;

    let mut disagreements = Vec::new();
    for file in load_case_files() {
        let mut out = format!(
            "-- What {version} answered to the cases in {}.\n\
             -- Written by regen.sh; do not edit (compute/tests/sql_pg/cases.rs has the format).\n",
            file.name
        );
        for case in &file.cases {
            reset_postgres(&params).await;
            let simple = run_case(&params, case, Protocol::Simple).await;
            if case.extended {
                reset_postgres(&params).await;
                let extended = run_case(&params, case, Protocol::Extended).await;
                if extended != simple {
                    disagreements.push(format!(
                        "=== {}/{}: PostgreSQL answers the extended protocol differently\n{}",
                        file.name,
                        case.name,
                        cases::diff(&simple, &extended)
                    ));
                }
            }
            out.push('\n');
            out.push_str(&simple);
        }
        let path = file.path.with_extension("expected");
        std::fs::write(&path, out).unwrap_or_else(|e| panic!("write {path:?}: {e}"));
        println!("wrote {}", path.display());
    }
    assert!(
        disagreements.is_empty(),
        "cases marked (extended) must answer the same through both protocols:\n{}",
        disagreements.join("\n")
    );
}

async fn query_one(conn: &mut Conn, sql: &str) -> String {
    let events = conn.simple_query(sql, None).await.expect(sql);
    events
        .into_iter()
        .find_map(|e| match e {
            Event::Row(mut r) => r.remove(0),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no value"))
}

/// Gives the next case an empty `public` schema.
async fn reset_postgres(params: &ConnectParams) {
    let mut conn = Conn::connect(params).await.expect("connect to PostgreSQL");
    for sql in [
        "DROP SCHEMA IF EXISTS public CASCADE",
        "CREATE SCHEMA public",
    ] {
        let events = conn.simple_query(sql, None).await.expect(sql);
        let errors = errors_in(&events);
        assert!(errors.is_empty(), "{sql}: {errors:?}");
    }
    conn.close().await;
}

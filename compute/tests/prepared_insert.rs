//! A prepared INSERT is bound once and executed many times (the bound form
//! is cached with the prepared statement while the catalog it was bound
//! against is unchanged): these check that it still answers as a freshly
//! bound one would after the table changes under it, and time it.

mod common;

use common::{rows, run};

use sextant_compute::sql::session::{QueryResult, Session};

fn tag(r: &QueryResult) -> String {
    match r {
        QueryResult::Rows { tag, .. } | QueryResult::Command { tag } => tag.clone(),
        other => panic!("no tag: {other:?}"),
    }
}

fn p(v: &str) -> Option<String> {
    Some(v.to_string())
}

async fn exec(s: &mut Session, name: &str, params: &[Option<String>]) -> QueryResult {
    s.execute(name, params, 0)
        .await
        .unwrap_or_else(|e| panic!("{name}: {} {}", e.code, e.message))
}

async fn table(s: &mut Session, sql: &str) -> Vec<Vec<Option<String>>> {
    rows(&run(s, sql).await)
}

const UPSERT: &str = "INSERT INTO kv VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = kv.v || excluded.v RETURNING *";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_upsert_follows_alter_table() {
    let (_st, mut db) = common::sql_session().await;
    run(&mut db, "CREATE TABLE kv (k int PRIMARY KEY, v text)").await;
    db.prepare("up", UPSERT, &[]).expect("prepares");
    for v in ["a", "b"] {
        let r = exec(&mut db, "up", &[p("1"), p(v)]).await;
        assert_eq!(tag(&r), "INSERT 0 1");
    }
    assert_eq!(
        table(&mut db, "SELECT * FROM kv").await,
        [[p("1"), p("ab")]]
    );

    // A new column with a default: the prepared INSERT (two values, the
    // first two columns) fills it with the default, and RETURNING * shows it.
    run(&mut db, "ALTER TABLE kv ADD COLUMN n int DEFAULT 7").await;
    let r = exec(&mut db, "up", &[p("2"), p("x")]).await;
    assert_eq!(rows(&r), [[p("2"), p("x"), p("7")]]);
    let r = exec(&mut db, "up", &[p("2"), p("y")]).await;
    assert_eq!(rows(&r), [[p("2"), p("xy"), p("7")]]);

    // A changed default is the one used.
    run(&mut db, "ALTER TABLE kv ALTER COLUMN n SET DEFAULT 8").await;
    let r = exec(&mut db, "up", &[p("3"), p("z")]).await;
    assert_eq!(rows(&r), [[p("3"), p("z"), p("8")]]);

    // A dropped column the statement names: the error PostgreSQL gives.
    // (The values go to k and n now; the conflict on k = 1 reaches the
    // DO UPDATE, which names v.)
    run(&mut db, "ALTER TABLE kv DROP COLUMN v").await;
    let e = db.execute("up", &[p("1"), p("5")], 0).await.unwrap_err();
    assert_eq!(e.code, "42703", "{}", e.message);
    assert_eq!(
        table(&mut db, "SELECT k, n FROM kv ORDER BY k").await,
        [[p("1"), p("7")], [p("2"), p("7")], [p("3"), p("8")]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_upsert_follows_drop_and_create() {
    let (_st, mut db) = common::sql_session().await;
    run(&mut db, "CREATE TABLE kv (k int PRIMARY KEY, v text)").await;
    db.prepare("up", UPSERT, &[]).expect("prepares");
    exec(&mut db, "up", &[p("1"), p("a")]).await;
    exec(&mut db, "up", &[p("1"), p("b")]).await;

    // The same name, other columns, a unique index instead of the key.
    run(&mut db, "DROP TABLE kv").await;
    run(
        &mut db,
        "CREATE TABLE kv (id int PRIMARY KEY, k int, v text DEFAULT 'd')",
    )
    .await;
    // The statement's two values go to id and k now; the arbiter k has no
    // unique index: 42P10, as PostgreSQL answers.
    let e = db.execute("up", &[p("1"), p("10")], 0).await.unwrap_err();
    assert_eq!(e.code, "42P10", "{}", e.message);
    run(&mut db, "CREATE UNIQUE INDEX kv_k ON kv (k)").await;
    let r = exec(&mut db, "up", &[p("1"), p("10")]).await;
    assert_eq!(rows(&r), [[p("1"), p("10"), p("d")]]);
    let r = exec(&mut db, "up", &[p("2"), p("10")]).await;
    assert_eq!(rows(&r), [[p("1"), p("10"), p("dd")]]);

    // Back to the first shape: the old rows are gone, the old meaning back.
    run(&mut db, "DROP TABLE kv").await;
    run(&mut db, "CREATE TABLE kv (k int PRIMARY KEY, v text)").await;
    exec(&mut db, "up", &[p("1"), p("c")]).await;
    let r = exec(&mut db, "up", &[p("1"), p("d")]).await;
    assert_eq!(rows(&r), [[p("1"), p("cd")]]);
}

/// Parameter types come from the statement, so a NULL value binds as any
/// other, and a DO UPDATE WHERE and DEFAULT keep working across runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_upsert_with_nulls_defaults_and_a_where() {
    let (_st, mut db) = common::sql_session().await;
    run(
        &mut db,
        "CREATE TABLE c (k int PRIMARY KEY, n int DEFAULT 0, at int)",
    )
    .await;
    db.prepare(
        "bump",
        "INSERT INTO c VALUES ($1, DEFAULT, $2) ON CONFLICT (k) DO UPDATE SET n = c.n + 1, at = excluded.at WHERE c.n < 2",
        &[],
    )
    .expect("prepares");
    let mut tags = Vec::new();
    for at in [None, p("5"), None, p("6")] {
        tags.push(tag(&exec(&mut db, "bump", &[p("1"), at]).await));
    }
    assert_eq!(
        tags,
        ["INSERT 0 1", "INSERT 0 1", "INSERT 0 1", "INSERT 0 0"]
    );
    assert_eq!(
        table(&mut db, "SELECT k, n, at FROM c").await,
        [[p("1"), p("2"), None]]
    );
}

/// A prepared `INSERT … SELECT … FROM (VALUES …)` (the ingest service's
/// upsert) plans its source once: each run still reads its own parameters
/// and the data as it is then, and a change to a table the source reads
/// makes it plan again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_insert_select_reads_each_run_afresh() {
    let (_st, mut db) = common::sql_session().await;
    run(&mut db, "CREATE TABLE kv (k int PRIMARY KEY, v text)").await;
    run(&mut db, "CREATE TABLE gone (k int PRIMARY KEY)").await;
    let prepared = db.prepare(
        "up",
        "INSERT INTO kv AS cur (k, v) SELECT v.k, v.v \
         FROM (VALUES (CAST($1 AS int), CAST($2 AS text)), (CAST($3 AS int), CAST($4 AS text))) AS v(k, v) \
         WHERE NOT EXISTS (SELECT 1 FROM gone g WHERE g.k = v.k) \
         ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v WHERE cur.v < EXCLUDED.v RETURNING k",
        &[],
    )
    .expect("prepares");
    // The source's casts type the parameters (int4, text), as in PostgreSQL.
    assert_eq!(prepared.param_types, [23, 25, 23, 25]);
    let r = exec(&mut db, "up", &[p("1"), p("a"), p("2"), p("a")]).await;
    assert_eq!(rows(&r), [[p("1")], [p("2")]]);
    // Other values; key 2 only moves forward.
    let r = exec(&mut db, "up", &[p("2"), p("b"), p("3"), p("a")]).await;
    assert_eq!(rows(&r), [[p("2")], [p("3")]]);
    let r = exec(&mut db, "up", &[p("2"), p("a"), p("4"), None]).await;
    assert_eq!(rows(&r), [[p("4")]]);
    // A row the guard reads, written after the plan was made.
    run(&mut db, "INSERT INTO gone VALUES (5)").await;
    let r = exec(&mut db, "up", &[p("5"), p("z"), p("6"), p("z")]).await;
    assert_eq!(rows(&r), [[p("6")]]);
    assert_eq!(
        table(&mut db, "SELECT k, v FROM kv ORDER BY k").await,
        [
            [p("1"), p("a")],
            [p("2"), p("b")],
            [p("3"), p("a")],
            [p("4"), None],
            [p("6"), p("z")]
        ]
    );
    // The guard's table gone: planned again, and the error PostgreSQL gives.
    run(&mut db, "DROP TABLE gone").await;
    let e = db
        .execute("up", &[p("7"), p("a"), p("8"), p("a")], 0)
        .await
        .unwrap_err();
    assert_eq!(e.code, "42P01", "{}", e.message);
    run(&mut db, "CREATE TABLE gone (k int PRIMARY KEY)").await;
    run(&mut db, "INSERT INTO gone VALUES (7)").await;
    let r = exec(&mut db, "up", &[p("7"), p("a"), p("8"), p("a")]).await;
    assert_eq!(rows(&r), [[p("8")]]);
}

/// Times prepared upserts, 1000 keys, in one transaction: `cargo test
/// --release --test prepared_insert -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a timing loop, run by hand"]
async fn time_prepared_upserts() {
    let (_st, mut db) = common::sql_session().await;
    run(
        &mut db,
        "CREATE TABLE acct (id int PRIMARY KEY, bal bigint NOT NULL DEFAULT 0, note text, at timestamptz DEFAULT now())",
    )
    .await;
    let sql = "INSERT INTO acct (id, bal, note) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET bal = acct.bal + excluded.bal, note = excluded.note";
    // In one transaction, so commits do not swamp what executing costs.
    let n = 5_000;
    run(&mut db, "BEGIN").await;
    // A named statement, prepared once; then the unnamed one, parsed
    // before every execution as `pgbench -M extended` and drivers do.
    for name in ["up", ""] {
        let start = std::time::Instant::now();
        db.prepare(name, sql, &[]).expect("prepares");
        for i in 0..n {
            if name.is_empty() {
                db.prepare(name, sql, &[]).expect("prepares");
            }
            let id = (i % 1000).to_string();
            exec(&mut db, name, &[Some(id), p("1"), p("x")]).await;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{n} prepared upserts ({}) in {secs:.2}s: {:.0}/s, {:.1} us each",
            if name.is_empty() {
                "Parse each time"
            } else {
                "named"
            },
            n as f64 / secs,
            secs * 1e6 / n as f64
        );
    }
    run(&mut db, "COMMIT").await;
}

/// The same upserts through the server and tokio-postgres: a statement
/// prepared once, then the unnamed statement parsed with every execution
/// (`client.execute` with text). `cargo test --release --test
/// prepared_insert -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a timing loop, run by hand"]
async fn time_prepared_upserts_over_the_wire() {
    let server = common::server::Server::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE acct (id int PRIMARY KEY, bal bigint NOT NULL DEFAULT 0, note text, at timestamptz DEFAULT now())",
        )
        .await
        .unwrap();
    let sql = "INSERT INTO acct (id, bal, note) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET bal = acct.bal + excluded.bal, note = excluded.note";
    let n = 5_000;
    client.batch_execute("BEGIN").await.unwrap();
    let statement = client.prepare(sql).await.unwrap();
    for named in [true, false] {
        let start = std::time::Instant::now();
        for i in 0..n {
            let id = i % 1000;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&id, &1i64, &"x"];
            if named {
                client.execute(&statement, &params).await.unwrap();
            } else {
                client.execute(sql, &params).await.unwrap();
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{n} upserts over the wire ({}) in {secs:.2}s: {:.0}/s, {:.1} us each",
            if named { "named" } else { "Parse each time" },
            n as f64 / secs,
            secs * 1e6 / n as f64
        );
    }
    client.batch_execute("COMMIT").await.unwrap();
    server.stop().await;
}

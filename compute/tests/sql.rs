//! SQL sessions over the engine, without the wire: statement classes, their
//! command tags, and the SQLSTATEs PostgreSQL gives for their errors.

mod common;

use sextant_compute::sql::session::{QueryResult, Session, TxStatus};

async fn session() -> (common::Storage, Session) {
    common::sql_session().await
}

async fn ok(s: &mut Session, sql: &str) -> QueryResult {
    let mut r = s.simple_query(sql).await;
    r.pop()
        .unwrap()
        .unwrap_or_else(|e| panic!("{sql}: {} {}", e.code, e.message))
}

async fn err(s: &mut Session, sql: &str) -> String {
    match s.simple_query(sql).await.pop().unwrap() {
        Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
        Err(e) => e.code.to_string(),
    }
}

fn tag(r: &QueryResult) -> String {
    match r {
        QueryResult::Rows { tag, .. }
        | QueryResult::Command { tag }
        | QueryResult::CopyOut { tag, .. } => tag.clone(),
        QueryResult::Empty | QueryResult::CopyIn { .. } => String::new(),
    }
}

fn rows(r: &QueryResult) -> Vec<Vec<Option<String>>> {
    match r {
        QueryResult::Rows { rows, .. } => rows.clone(),
        other => panic!("no rows: {other:?}"),
    }
}

fn cols(r: &QueryResult) -> Vec<String> {
    match r {
        QueryResult::Rows { columns, .. } => columns.iter().map(|c| c.name.clone()).collect(),
        other => panic!("no rows: {other:?}"),
    }
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cdc_table_with_jsonb_and_expression_indexes() {
    let (_st, mut db) = session().await;
    assert_eq!(
        tag(&ok(&mut db, "CREATE TABLE events (id text PRIMARY KEY, payload jsonb NOT NULL, position bigint, note varchar(5))").await),
        "CREATE TABLE"
    );
    assert_eq!(
        tag(&ok(
            &mut db,
            "CREATE INDEX events_site ON events ((payload->>'site_id'))"
        )
        .await),
        "CREATE INDEX"
    );
    assert_eq!(
        tag(&ok(
            &mut db,
            "CREATE INDEX events_temp ON events (((payload->>'temp')::float))"
        )
        .await),
        "CREATE INDEX"
    );
    let r = ok(
        &mut db,
        r#"INSERT INTO events (id, payload, position) VALUES
           ('a', '{"site_id": "s1", "temp": 20.5, "b": [1, 2]}', 1),
           ('b', '{"temp": 18, "site_id": "s2"}', 2),
           ('c', '{"site_id": "s1", "temp": 22}', 3)"#,
    )
    .await;
    assert_eq!(tag(&r), "INSERT 0 3");
    let r = ok(
        &mut db,
        "SELECT id, payload->>'site_id' AS site, payload FROM events WHERE id = 'a'",
    )
    .await;
    assert_eq!(cols(&r), vec!["id", "site", "payload"]);
    assert_eq!(
        rows(&r),
        vec![vec![
            s("a"),
            s("s1"),
            s(r#"{"b": [1, 2], "temp": 20.5, "site_id": "s1"}"#)
        ]]
    );
    let r = ok(
        &mut db,
        "SELECT payload->>'site_id', count(*), max(position) FROM events GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(cols(&r), vec!["?column?", "count", "max"]);
    assert_eq!(
        rows(&r),
        vec![vec![s("s1"), s("2"), s("3")], vec![s("s2"), s("1"), s("2")]]
    );

    // Idempotent upsert: an older position never overwrites a newer row.
    let upsert = r#"INSERT INTO events (id, payload, position) VALUES ('a', '{"site_id": "s9"}', $POS)
        ON CONFLICT (id) DO UPDATE SET payload = EXCLUDED.payload, position = EXCLUDED.position
        WHERE events.position < EXCLUDED.position"#;
    assert_eq!(
        tag(&ok(&mut db, &upsert.replace("$POS", "0")).await),
        "INSERT 0 0"
    );
    assert_eq!(
        tag(&ok(&mut db, &upsert.replace("$POS", "5")).await),
        "INSERT 0 1"
    );
    let r = ok(
        &mut db,
        "SELECT payload->>'site_id', position FROM events WHERE id = 'a'",
    )
    .await;
    assert_eq!(rows(&r), vec![vec![s("s9"), s("5")]]);
    assert_eq!(
        tag(&ok(
            &mut db,
            "INSERT INTO events VALUES ('a', '{}') ON CONFLICT DO NOTHING"
        )
        .await),
        "INSERT 0 0"
    );

    let r = ok(&mut db, "UPDATE events SET position = position + 10 WHERE payload->>'site_id' = 's1' RETURNING id, position").await;
    assert_eq!(tag(&r), "UPDATE 1");
    assert_eq!(rows(&r), vec![vec![s("c"), s("13")]]);
    let r = ok(
        &mut db,
        "DELETE FROM events WHERE position > 4 RETURNING id",
    )
    .await;
    assert_eq!(tag(&r), "DELETE 2");
    let r = ok(&mut db, "SELECT count(*) FROM events").await;
    assert_eq!(rows(&r), vec![vec![s("1")]]);

    // Errors with PostgreSQL's SQLSTATEs.
    assert_eq!(err(&mut db, "SELECT * FROM nope").await, "42P01");
    assert_eq!(err(&mut db, "SELECT nope FROM events").await, "42703");
    assert_eq!(err(&mut db, "SELEC 1").await, "42601");
    assert_eq!(
        err(
            &mut db,
            "INSERT INTO events (id, payload) VALUES ('b', '{}')"
        )
        .await,
        "23505"
    );
    assert_eq!(
        err(&mut db, "INSERT INTO events (id) VALUES ('z')").await,
        "23502"
    );
    assert_eq!(
        err(
            &mut db,
            "INSERT INTO events (id, payload) VALUES ('z', '{bad')"
        )
        .await,
        "22P02"
    );
    assert_eq!(
        err(
            &mut db,
            "INSERT INTO events (id, payload, note) VALUES ('z', '{}', 'toolong')"
        )
        .await,
        "22001"
    );
    assert_eq!(err(&mut db, "SELECT 1/0").await, "22012");
    assert_eq!(err(&mut db, "CREATE TABLE events (x int)").await, "42P07");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_blocks_and_failed_state() {
    let (_st, mut db) = session().await;
    ok(&mut db, "CREATE TABLE t (k int PRIMARY KEY, v text)").await;
    assert_eq!(tag(&ok(&mut db, "BEGIN").await), "BEGIN");
    assert_eq!(db.tx_status(), TxStatus::InBlock);
    ok(&mut db, "INSERT INTO t VALUES (1, 'one')").await;
    let r = ok(&mut db, "SELECT v FROM t WHERE k = 1").await;
    assert_eq!(rows(&r), vec![vec![s("one")]]);
    assert_eq!(err(&mut db, "SELECT nope FROM t").await, "42703");
    assert_eq!(db.tx_status(), TxStatus::Failed);
    assert_eq!(err(&mut db, "SELECT 1").await, "25P02");
    assert_eq!(tag(&ok(&mut db, "COMMIT").await), "ROLLBACK");
    assert_eq!(db.tx_status(), TxStatus::Idle);
    assert_eq!(
        rows(&ok(&mut db, "SELECT count(*) FROM t").await),
        vec![vec![s("0")]]
    );

    ok(&mut db, "BEGIN READ ONLY").await;
    assert_eq!(
        err(&mut db, "INSERT INTO t VALUES (2, 'two')").await,
        "25006"
    );
    ok(&mut db, "ROLLBACK").await;

    // DDL inside a transaction is undone by ROLLBACK.
    ok(&mut db, "BEGIN").await;
    ok(&mut db, "CREATE TABLE u (x int)").await;
    ok(&mut db, "ROLLBACK").await;
    assert_eq!(err(&mut db, "SELECT * FROM u").await, "42P01");

    // Prepared statements with parameters.
    let p = db
        .prepare("ins", "INSERT INTO t (k, v) VALUES ($1, $2)", &[])
        .unwrap();
    assert_eq!(p.param_types, vec![23, 25]);
    for i in 0..5 {
        db.execute("ins", &[Some(i.to_string()), Some(format!("v{i}"))], 0)
            .await
            .unwrap();
    }
    let q = db
        .prepare("get", "SELECT v FROM t WHERE k = $1", &[])
        .unwrap();
    assert_eq!(q.param_types, vec![23]);
    assert_eq!(q.columns.len(), 1);
    let r = db.execute("get", &[Some("3".into())], 0).await.unwrap();
    assert_eq!(rows(&r), vec![vec![s("v3")]]);
    let r = db.execute("get", &[Some("x".into())], 0).await.unwrap_err();
    assert_eq!(r.code, "22P02");
    let r = ok(
        &mut db,
        "SELECT k, v FROM t ORDER BY k DESC LIMIT 2 OFFSET 1",
    )
    .await;
    assert_eq!(rows(&r), vec![vec![s("3"), s("v3")], vec![s("2"), s("v2")]]);
}

/// Each autocommit statement sees what the one before it committed: DDL,
/// rows, and no false write conflicts (replies from storage arrive out of
/// order, and the durable point must never be published backwards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_statement_sees_the_previous_commit() {
    let (_st, mut db) = session().await;
    for i in 0..200 {
        for sql in [
            format!("CREATE TABLE t{i} (id int PRIMARY KEY, v text)"),
            format!("CREATE INDEX t{i}_v ON t{i} (v)"),
            format!("INSERT INTO t{i} VALUES (1, 'a')"),
            format!("UPDATE t{i} SET v = 'b' WHERE id = 1"),
        ] {
            ok(&mut db, &sql).await;
        }
        assert_eq!(
            rows(&ok(&mut db, &format!("SELECT v FROM t{i} WHERE v = 'b'")).await),
            vec![vec![s("b")]]
        );
        ok(&mut db, &format!("DROP TABLE t{i}")).await;
    }
}

/// A data-modifying WITH runs before the rest of its statement, so a
/// statement whose other parts read the table it writes would see the
/// write, where PostgreSQL's single snapshot would not: it is refused
/// before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_modifying_with_refuses_reading_its_own_target() {
    let (_st, mut db) = session().await;
    ok(&mut db, "CREATE TABLE src (id int PRIMARY KEY)").await;
    ok(&mut db, "INSERT INTO src VALUES (1), (2)").await;
    for sql in [
        "WITH d AS (DELETE FROM src WHERE id = 1 RETURNING id) SELECT count(*) FROM src",
        "WITH d AS (DELETE FROM src RETURNING id) INSERT INTO src SELECT id + 10 FROM d",
        "WITH a AS (DELETE FROM src WHERE id = 1 RETURNING id), b AS (DELETE FROM src RETURNING id) SELECT 1",
    ] {
        assert_eq!(err(&mut db, sql).await, "0A000", "{sql}");
    }
    assert_eq!(
        rows(&ok(&mut db, "SELECT id FROM src ORDER BY id").await),
        [[s("1")], [s("2")]]
    );
}

//! Statements PostgreSQL runs and Sextant refuses: each answers SQLSTATE
//! 0A000 (feature_not_supported) with a message naming what is missing,
//! changes nothing, and leaves the session usable. These cannot be
//! conformance cases (data/sql), which compare with what PostgreSQL
//! answers; the 0A000 errors PostgreSQL gives itself are there
//! (errors.sql, feature_not_supported_0A000).

mod common;

use common::{rows, run};

/// Each statement with the words its error message must hold.
const REFUSED: &[(&str, &str)] = &[
    ("LISTEN channel", "LISTEN"),
    ("NOTIFY channel", "NOTIFY"),
    ("NOTIFY channel, 'payload'", "NOTIFY"),
    ("UNLISTEN channel", "UNLISTEN"),
    ("UNLISTEN *", "UNLISTEN"),
    (
        "CREATE TABLE p (id int) PARTITION BY RANGE (id)",
        "PARTITION BY",
    ),
    (
        "CREATE TABLE p (id int) PARTITION BY LIST (id)",
        "PARTITION BY",
    ),
    (
        "CREATE TABLE c PARTITION OF t FOR VALUES FROM (1) TO (10)",
        "PARTITION OF",
    ),
    (
        "CREATE TABLE IF NOT EXISTS public.c PARTITION OF t DEFAULT",
        "PARTITION OF",
    ),
    (
        "CREATE TEMP TABLE c PARTITION OF t FOR VALUES IN (1)",
        "PARTITION OF",
    ),
    ("CREATE TABLE k (a int) INHERITS (t)", "INHERITS"),
    ("CREATE TABLE k (a int CHECK (a > 0))", "CHECK"),
    ("CREATE TABLE k (a int, CHECK (a > 0))", "CHECK"),
    ("CREATE TABLE k (a int REFERENCES t (id))", "REFERENCES"),
    (
        "CREATE TABLE k (a int GENERATED ALWAYS AS (1) STORED)",
        "GENERATED",
    ),
    ("CREATE TABLE k AS SELECT 1", "CREATE TABLE AS"),
    ("CREATE INDEX ON t (v) WHERE id > 0", "partial indexes"),
    (
        "SELECT * FROM (SELECT * FROM t) s FOR UPDATE",
        "FOR UPDATE of a subquery",
    ),
    (
        "UPDATE t SET v = 'x' FROM t AS u WHERE u.id = t.id",
        "UPDATE ... FROM",
    ),
    (
        "DELETE FROM t USING t AS u WHERE u.id = t.id",
        "DELETE ... USING",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sextant_only_refusals_are_0a000_and_name_the_feature() {
    let (_st, mut db) = common::sql_session().await;
    run(&mut db, "CREATE TABLE t (id int PRIMARY KEY, v text)").await;
    run(&mut db, "INSERT INTO t VALUES (1, 'a')").await;
    for (sql, feature) in REFUSED {
        match db.simple_query(sql).await.pop().unwrap() {
            Ok(r) => panic!("{sql}: expected 0A000, got {r:?}"),
            Err(e) => {
                assert_eq!(e.code, "0A000", "{sql}: {}", e.message);
                assert!(
                    e.message.contains(feature),
                    "{sql}: {:?} does not name {feature:?}",
                    e.message
                );
            }
        }
    }
    // Nothing was made or changed, and the session goes on.
    let tables = run(
        &mut db,
        "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p', 'i') AND relnamespace = 'public'::regnamespace ORDER BY relname",
    )
    .await;
    assert_eq!(
        rows(&tables),
        [[Some("t".to_string())], [Some("t_pkey".to_string())]]
    );
    assert_eq!(
        rows(&run(&mut db, "SELECT id, v FROM t").await),
        [[Some("1".to_string()), Some("a".to_string())]]
    );
}

/// In a transaction block the refusal is an error like any other: the
/// block fails and rolls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_fails_the_transaction_block() {
    let (_st, mut db) = common::sql_session().await;
    run(&mut db, "CREATE TABLE t (id int PRIMARY KEY)").await;
    run(&mut db, "BEGIN").await;
    run(&mut db, "INSERT INTO t VALUES (1)").await;
    let e = db
        .simple_query("LISTEN channel")
        .await
        .pop()
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        ("0A000", "LISTEN is not supported")
    );
    let e = db
        .simple_query("SELECT 1")
        .await
        .pop()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, "25P02");
    run(&mut db, "ROLLBACK").await;
    assert_eq!(
        rows(&run(&mut db, "SELECT count(*) FROM t").await),
        [[Some("0".to_string())]]
    );
}

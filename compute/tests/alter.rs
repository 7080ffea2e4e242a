//! ALTER TABLE through the session: columns added with constant and
//! volatile defaults (old rows read the default without a rewrite, or each
//! get their own value), columns dropped with the indexes that use them,
//! renames that keep expression indexes working, rollback, and the
//! SQLSTATEs PostgreSQL gives.

mod common;

use sextant_compute::sql::error::SqlError;
use sextant_compute::sql::session::{Database, DatabaseConfig, QueryResult, Session};

async fn session() -> (common::Storage, Session) {
    common::sql_session().await
}

async fn ok(s: &mut Session, sql: &str) -> QueryResult {
    let mut r = s.simple_query(sql).await;
    r.pop()
        .unwrap()
        .unwrap_or_else(|e| panic!("{sql}: {} {}", e.code, e.message))
}

async fn fail(s: &mut Session, sql: &str) -> SqlError {
    match s.simple_query(sql).await.pop().unwrap() {
        Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
        Err(e) => e,
    }
}

async fn rows(s: &mut Session, sql: &str) -> Vec<Vec<Option<String>>> {
    match ok(s, sql).await {
        QueryResult::Rows { rows, .. } => rows,
        other => panic!("{sql}: no rows: {other:?}"),
    }
}

async fn columns(s: &mut Session, table: &str) -> Vec<String> {
    match ok(s, &format!("SELECT * FROM {table} LIMIT 0")).await {
        QueryResult::Rows { columns, .. } => columns.into_iter().map(|c| c.name).collect(),
        other => panic!("no rows: {other:?}"),
    }
}

fn v(s: &str) -> Option<String> {
    Some(s.to_owned())
}

fn table(rows: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| r.iter().map(|c| c.map(str::to_owned)).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_columns_read_their_default_in_old_rows() {
    let (_st, mut db) = session().await;
    ok(&mut db, "CREATE TABLE t (k int PRIMARY KEY, a text)").await;
    ok(&mut db, "INSERT INTO t VALUES (1, 'x'), (2, 'y')").await;
    let r = ok(&mut db, "ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 7").await;
    assert_eq!(
        r,
        QueryResult::Command {
            tag: "ALTER TABLE".into()
        }
    );
    ok(
        &mut db,
        "ALTER TABLE t ADD s text DEFAULT 'd' || 'e', ADD j jsonb DEFAULT '{\"a\": 1}'",
    )
    .await;
    ok(&mut db, "ALTER TABLE t ADD COLUMN nothing int").await;
    ok(&mut db, "INSERT INTO t (k, a) VALUES (3, 'z')").await;
    ok(&mut db, "INSERT INTO t VALUES (4, 'w', 8, NULL, NULL, 5)").await;
    assert_eq!(
        rows(&mut db, "SELECT k, a, n, s, j, nothing FROM t ORDER BY k").await,
        table(&[
            &[
                Some("1"),
                Some("x"),
                Some("7"),
                Some("de"),
                Some("{\"a\": 1}"),
                None
            ],
            &[
                Some("2"),
                Some("y"),
                Some("7"),
                Some("de"),
                Some("{\"a\": 1}"),
                None
            ],
            &[
                Some("3"),
                Some("z"),
                Some("7"),
                Some("de"),
                Some("{\"a\": 1}"),
                None
            ],
            &[Some("4"), Some("w"), Some("8"), None, None, Some("5")],
        ])
    );
    // Point lookups, filters and updates see the default too.
    assert_eq!(
        rows(&mut db, "SELECT n FROM t WHERE k = 2").await,
        vec![vec![v("7")]]
    );
    assert_eq!(
        rows(&mut db, "SELECT count(*) FROM t WHERE n = 7").await,
        vec![vec![v("3")]]
    );
    ok(&mut db, "UPDATE t SET n = n + 1 WHERE k = 1").await;
    assert_eq!(
        rows(&mut db, "SELECT n, s FROM t WHERE k = 1").await,
        vec![vec![v("8"), v("de")]]
    );
    // An index on an added column covers the old rows.
    ok(&mut db, "CREATE INDEX t_n ON t (n)").await;
    ok(&mut db, "DELETE FROM t WHERE n = 7").await;
    assert_eq!(
        rows(&mut db, "SELECT k FROM t ORDER BY k").await,
        vec![vec![v("1")], vec![v("4")]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volatile_defaults_give_each_row_its_own_value() {
    let (_st, mut db) = session().await;
    ok(&mut db, "CREATE TABLE t (k int PRIMARY KEY)").await;
    ok(&mut db, "INSERT INTO t VALUES (1), (2), (3), (4)").await;
    ok(
        &mut db,
        "ALTER TABLE t ADD COLUMN u uuid NOT NULL DEFAULT gen_random_uuid()",
    )
    .await;
    ok(
        &mut db,
        "ALTER TABLE t ADD COLUMN ts timestamptz DEFAULT now()",
    )
    .await;
    let r = rows(&mut db, "SELECT count(*) FROM t WHERE u IS NOT NULL").await;
    assert_eq!(r, vec![vec![v("4")]]);
    let mut uuids: Vec<String> = rows(&mut db, "SELECT u FROM t")
        .await
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    uuids.sort();
    uuids.dedup();
    assert_eq!(uuids.len(), 4, "every row got its own uuid");
    // now() is stable, not volatile: one value for every row, as in PostgreSQL.
    let ts: Vec<Option<String>> = rows(&mut db, "SELECT ts FROM t")
        .await
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect();
    assert!(ts[0].is_some());
    assert!(ts.iter().all(|t| *t == ts[0]), "{ts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_columns_take_their_indexes_with_them() {
    let (_st, mut db) = session().await;
    ok(
        &mut db,
        "CREATE TABLE t (k int PRIMARY KEY, a int, b text UNIQUE, c jsonb, d int)",
    )
    .await;
    ok(&mut db, "CREATE INDEX t_a ON t (a)").await;
    ok(&mut db, "CREATE INDEX t_ad ON t (a, d)").await;
    ok(&mut db, "CREATE INDEX t_site ON t ((c->>'site'))").await;
    ok(&mut db, "CREATE INDEX t_d ON t (d)").await;
    ok(&mut db, "INSERT INTO t VALUES (1, 10, 'one', '{\"site\": \"s1\"}', 100), (2, 20, 'two', '{\"site\": \"s2\"}', 200)").await;
    ok(&mut db, "ALTER TABLE t DROP COLUMN a").await;
    assert_eq!(columns(&mut db, "t").await, vec!["k", "b", "c", "d"]);
    // t_a and t_ad are gone, so their names are free; t_d still works.
    ok(&mut db, "CREATE INDEX t_a ON t (d)").await;
    ok(&mut db, "CREATE INDEX t_ad ON t (b)").await;
    assert_eq!(fail(&mut db, "DROP INDEX t_site2").await.code, "42704");
    ok(&mut db, "ALTER TABLE t DROP c").await;
    ok(&mut db, "CREATE INDEX t_site ON t (k)").await;
    assert_eq!(
        rows(&mut db, "SELECT * FROM t ORDER BY k").await,
        table(&[
            &[Some("1"), Some("one"), Some("100")],
            &[Some("2"), Some("two"), Some("200")]
        ])
    );
    // Rows written after the drop sit beside the old ones.
    ok(&mut db, "INSERT INTO t VALUES (3, 'three', 300)").await;
    ok(&mut db, "UPDATE t SET d = d + 1 WHERE k = 1").await;
    assert_eq!(
        rows(&mut db, "SELECT k FROM t WHERE d = 101").await,
        vec![vec![v("1")]]
    );
    assert_eq!(
        rows(&mut db, "SELECT b FROM t WHERE d = 300").await,
        vec![vec![v("three")]]
    );
    // The unique index on b survives and still enforces.
    assert_eq!(
        fail(&mut db, "INSERT INTO t VALUES (4, 'one', 1)")
            .await
            .code,
        "23505"
    );
    // A column added after a drop does not read the dropped values.
    ok(&mut db, "ALTER TABLE t ADD COLUMN e int DEFAULT 5").await;
    assert_eq!(
        rows(&mut db, "SELECT k, e FROM t ORDER BY k").await,
        vec![
            vec![v("1"), v("5")],
            vec![v("2"), v("5")],
            vec![v("3"), v("5")]
        ]
    );
    ok(
        &mut db,
        "ALTER TABLE t DROP COLUMN e, DROP COLUMN d, DROP COLUMN b",
    )
    .await;
    assert_eq!(columns(&mut db, "t").await, vec!["k"]);
    ok(&mut db, "ALTER TABLE t ADD COLUMN f text").await;
    assert_eq!(
        rows(&mut db, "SELECT * FROM t ORDER BY k").await,
        table(&[&[Some("1"), None], &[Some("2"), None], &[Some("3"), None]])
    );

    // Every column of a table without a primary key can go.
    ok(&mut db, "CREATE TABLE u (x int)").await;
    ok(&mut db, "INSERT INTO u VALUES (1), (2)").await;
    ok(&mut db, "ALTER TABLE u DROP COLUMN x").await;
    assert_eq!(
        rows(&mut db, "SELECT count(*) FROM u").await,
        vec![vec![v("2")]]
    );
    ok(&mut db, "ALTER TABLE u ADD COLUMN y int DEFAULT 9").await;
    assert_eq!(
        rows(&mut db, "SELECT y FROM u").await,
        vec![vec![v("9")], vec![v("9")]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renames_keep_expression_indexes_working() {
    let (_st, mut db) = session().await;
    ok(
        &mut db,
        "CREATE TABLE ev (id text PRIMARY KEY, payload jsonb, pos bigint)",
    )
    .await;
    ok(&mut db, "CREATE INDEX ev_site ON ev ((payload->>'site'))").await;
    ok(&mut db, "CREATE INDEX ev_pos ON ev ((pos * 2))").await;
    ok(
        &mut db,
        "INSERT INTO ev VALUES ('a', '{\"site\": \"s1\"}', 1), ('b', '{\"site\": \"s2\"}', 2)",
    )
    .await;
    ok(&mut db, "ALTER TABLE ev RENAME COLUMN payload TO body").await;
    ok(&mut db, "ALTER TABLE ev RENAME pos TO \"Position\"").await;
    ok(&mut db, "ALTER TABLE ev RENAME TO events").await;
    assert_eq!(
        columns(&mut db, "events").await,
        vec!["id", "body", "Position"]
    );
    assert_eq!(fail(&mut db, "SELECT * FROM ev").await.code, "42P01");
    // New rows go through the rewritten index expressions; old entries are found.
    ok(
        &mut db,
        "INSERT INTO events VALUES ('c', '{\"site\": \"s1\"}', 3)",
    )
    .await;
    ok(
        &mut db,
        "UPDATE events SET body = '{\"site\": \"s3\"}' WHERE id = 'a'",
    )
    .await;
    assert_eq!(
        rows(&mut db, "SELECT id FROM events WHERE body->>'site' = 's1'").await,
        vec![vec![v("c")]]
    );
    ok(&mut db, "DELETE FROM events WHERE \"Position\" = 2").await;
    assert_eq!(
        rows(
            &mut db,
            "SELECT id, body->>'site', \"Position\" FROM events ORDER BY id"
        )
        .await,
        table(&[
            &[Some("a"), Some("s3"), Some("1")],
            &[Some("c"), Some("s1"), Some("3")]
        ])
    );
    // Dropping the renamed column drops the expression index that uses it.
    ok(&mut db, "ALTER TABLE events DROP COLUMN body").await;
    ok(&mut db, "CREATE INDEX ev_site ON events (id)").await;
    assert_eq!(
        fail(&mut db, "CREATE INDEX ev_pos ON events (id)")
            .await
            .code,
        "42P07"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alter_is_transactional() {
    let (_st, mut db) = session().await;
    ok(&mut db, "CREATE TABLE t (k int PRIMARY KEY, a int, b int)").await;
    ok(&mut db, "CREATE INDEX t_b ON t (b)").await;
    ok(&mut db, "INSERT INTO t VALUES (1, 1, 1)").await;

    ok(&mut db, "BEGIN").await;
    ok(&mut db, "INSERT INTO t VALUES (2, 2, 2)").await;
    ok(
        &mut db,
        "ALTER TABLE t ADD COLUMN c int DEFAULT 3, DROP COLUMN a",
    )
    .await;
    // Later statements of the transaction see the new shape, buffered rows too.
    assert_eq!(
        rows(&mut db, "SELECT * FROM t ORDER BY k").await,
        table(&[
            &[Some("1"), Some("1"), Some("3")],
            &[Some("2"), Some("2"), Some("3")]
        ])
    );
    ok(&mut db, "INSERT INTO t VALUES (3, 3, 4)").await;
    ok(&mut db, "ALTER TABLE t RENAME TO u").await;
    assert_eq!(
        rows(&mut db, "SELECT count(*) FROM u").await,
        vec![vec![v("3")]]
    );
    ok(&mut db, "ROLLBACK").await;
    assert_eq!(columns(&mut db, "t").await, vec!["k", "a", "b"]);
    assert_eq!(
        rows(&mut db, "SELECT * FROM t").await,
        table(&[&[Some("1"), Some("1"), Some("1")]])
    );
    assert_eq!(fail(&mut db, "SELECT * FROM u").await.code, "42P01");

    // Committed, it lasts; the same changes in one block then COMMIT.
    ok(&mut db, "BEGIN").await;
    ok(
        &mut db,
        "ALTER TABLE t ADD COLUMN c int DEFAULT 3, DROP COLUMN a",
    )
    .await;
    ok(&mut db, "INSERT INTO t VALUES (2, 2, 4)").await;
    ok(&mut db, "COMMIT").await;
    assert_eq!(
        rows(&mut db, "SELECT * FROM t ORDER BY k").await,
        table(&[
            &[Some("1"), Some("1"), Some("3")],
            &[Some("2"), Some("2"), Some("4")]
        ])
    );
    assert_eq!(
        rows(&mut db, "SELECT k FROM t WHERE b = 2").await,
        vec![vec![v("2")]]
    );

    // A failing action leaves the earlier ones of the statement undone.
    let e = fail(&mut db, "ALTER TABLE t ADD COLUMN d int, DROP COLUMN nope").await;
    assert_eq!(e.code, "42703");
    assert_eq!(columns(&mut db, "t").await, vec!["k", "b", "c"]);
    // Inside a block the failure fails the block.
    ok(&mut db, "BEGIN").await;
    ok(&mut db, "ALTER TABLE t ADD COLUMN d int").await;
    assert_eq!(
        fail(&mut db, "ALTER TABLE t ADD COLUMN d int").await.code,
        "42701"
    );
    assert_eq!(fail(&mut db, "SELECT 1").await.code, "25P02");
    ok(&mut db, "ROLLBACK").await;
    assert_eq!(columns(&mut db, "t").await, vec!["k", "b", "c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_notices_as_in_postgres() {
    let (_st, mut db) = session().await;
    ok(&mut db, "CREATE TABLE t (k int PRIMARY KEY, b text)").await;
    ok(&mut db, "CREATE TABLE other (x int)").await;
    ok(&mut db, "INSERT INTO t VALUES (1, 'x')").await;
    let cases: &[(&str, &str, &str)] = &[
        (
            "ALTER TABLE t ADD COLUMN b int",
            "42701",
            "column \"b\" of relation \"t\" already exists",
        ),
        (
            "ALTER TABLE t DROP COLUMN zz",
            "42703",
            "column \"zz\" of relation \"t\" does not exist",
        ),
        (
            "ALTER TABLE t RENAME COLUMN zz TO yy",
            "42703",
            "column \"zz\" does not exist",
        ),
        (
            "ALTER TABLE t RENAME COLUMN b TO k",
            "42701",
            "column \"k\" of relation \"t\" already exists",
        ),
        (
            "ALTER TABLE t RENAME TO other",
            "42P07",
            "relation \"other\" already exists",
        ),
        (
            "ALTER TABLE t RENAME TO t",
            "42P07",
            "relation \"t\" already exists",
        ),
        ("ALTER TABLE t RENAME TO t_pkey_not_an_index", "", ""),
        (
            "ALTER TABLE nosuch ADD COLUMN x int",
            "42P01",
            "relation \"nosuch\" does not exist",
        ),
        (
            "ALTER TABLE t ADD COLUMN e int NOT NULL",
            "23502",
            "column \"e\" of relation \"t\" contains null values",
        ),
        (
            "ALTER TABLE t ADD COLUMN e int NOT NULL DEFAULT NULL",
            "23502",
            "column \"e\" of relation \"t\" contains null values",
        ),
        (
            "ALTER TABLE t ADD COLUMN f int DEFAULT 'abc'",
            "22P02",
            "invalid input syntax for type integer: \"abc\"",
        ),
        (
            "ALTER TABLE t ADD COLUMN w int DEFAULT 1/0",
            "22012",
            "division by zero",
        ),
        (
            "ALTER TABLE t ADD COLUMN d varchar(2) DEFAULT 'abc'",
            "22001",
            "value too long for type character varying(2)",
        ),
        (
            "ALTER TABLE t DROP COLUMN k",
            "0A000",
            "dropping a primary key column is not supported",
        ),
    ];
    for (sql, code, message) in cases {
        if code.is_empty() {
            ok(&mut db, sql).await;
            ok(&mut db, "ALTER TABLE t_pkey_not_an_index RENAME TO t").await;
            continue;
        }
        let e = fail(&mut db, sql).await;
        assert_eq!((e.code, e.message.as_str()), (*code, *message), "{sql}");
    }
    // NOT NULL without a default is fine on an empty table.
    ok(&mut db, "CREATE TABLE empty (x int)").await;
    ok(&mut db, "ALTER TABLE empty ADD COLUMN y int NOT NULL").await;
    assert_eq!(
        fail(&mut db, "INSERT INTO empty (x) VALUES (1)").await.code,
        "23502"
    );

    // IF [NOT] EXISTS turns errors into notices.
    ok(&mut db, "ALTER TABLE t ADD COLUMN IF NOT EXISTS b int").await;
    ok(&mut db, "ALTER TABLE t DROP COLUMN IF EXISTS zz").await;
    ok(&mut db, "ALTER TABLE IF EXISTS nosuch ADD COLUMN x int").await;
    let notices: Vec<(String, String)> = db
        .take_notices()
        .into_iter()
        .map(|n| (n.code.to_owned(), n.message))
        .collect();
    assert_eq!(
        notices,
        vec![
            (
                "42701".into(),
                "column \"b\" of relation \"t\" already exists, skipping".into()
            ),
            (
                "00000".into(),
                "column \"zz\" of relation \"t\" does not exist, skipping".into()
            ),
            (
                "00000".into(),
                "relation \"nosuch\" does not exist, skipping".into()
            ),
        ]
    );
    assert_eq!(columns(&mut db, "t").await, vec!["k", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_tables_read_the_same_after_a_restart() {
    let (st, mut db) = session().await;
    ok(
        &mut db,
        "CREATE TABLE t (k int PRIMARY KEY, a int, b text, c text)",
    )
    .await;
    ok(&mut db, "CREATE INDEX t_c ON t (lower(c))").await;
    ok(
        &mut db,
        "INSERT INTO t VALUES (1, 10, 'x', 'Q'), (2, 20, 'y', 'R')",
    )
    .await;
    ok(&mut db, "ALTER TABLE t DROP COLUMN a").await;
    ok(&mut db, "ALTER TABLE t ADD COLUMN d numeric DEFAULT 1.50").await;
    ok(&mut db, "ALTER TABLE t RENAME COLUMN c TO cc").await;
    ok(&mut db, "INSERT INTO t VALUES (3, 'z', 'S', 2)").await;
    let want = table(&[
        &[Some("1"), Some("x"), Some("Q"), Some("1.50")],
        &[Some("2"), Some("y"), Some("R"), Some("1.50")],
        &[Some("3"), Some("z"), Some("S"), Some("2")],
    ]);
    assert_eq!(rows(&mut db, "SELECT * FROM t ORDER BY k").await, want);
    drop(db);
    // A new writer recovers the volume and reads the catalog from its pages.
    let engine = st.engine().await;
    let mut db = Database::new(
        engine,
        DatabaseConfig {
            database: "sextant".into(),
            users: vec![("sextant".into(), "sextant".into())],
        },
    )
    .session("sextant", "sextant");
    assert_eq!(columns(&mut db, "t").await, vec!["k", "b", "cc", "d"]);
    assert_eq!(rows(&mut db, "SELECT * FROM t ORDER BY k").await, want);
    ok(&mut db, "UPDATE t SET cc = 'q' WHERE k = 1").await;
    assert_eq!(
        rows(&mut db, "SELECT k FROM t WHERE lower(cc) = 'q'").await,
        vec![vec![v("1")]]
    );
}

/// Scans decode only the columns a query reads; across stored layouts
/// (columns dropped, then added) every column read still has its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_reading_some_columns_of_altered_tables() {
    let (_st, mut db) = session().await;
    ok(
        &mut db,
        "CREATE TABLE w (k int PRIMARY KEY, a text, b jsonb, c int, d text)",
    )
    .await;
    ok(&mut db, "CREATE INDEX w_c ON w (c)").await;
    ok(
        &mut db,
        "INSERT INTO w VALUES (1, 'a1', '{\"x\": 1}', 10, 'd1'), (2, 'a2', '{\"x\": 2}', 20, 'd2')",
    )
    .await;
    ok(&mut db, "ALTER TABLE w DROP COLUMN b").await;
    ok(&mut db, "ALTER TABLE w ADD COLUMN e int DEFAULT 7").await;
    ok(
        &mut db,
        "INSERT INTO w (k, a, c, d, e) VALUES (3, 'a3', 30, 'd3', 8)",
    )
    .await;
    assert_eq!(
        rows(&mut db, "SELECT count(*) FROM w").await,
        vec![vec![v("3")]]
    );
    assert_eq!(
        rows(&mut db, "SELECT d, e FROM w WHERE c >= 20 ORDER BY k").await,
        table(&[&[Some("d2"), Some("7")], &[Some("d3"), Some("8")]])
    );
    assert_eq!(
        rows(&mut db, "SELECT a FROM w WHERE d = 'd1'").await,
        vec![vec![v("a1")]]
    );
    assert_eq!(
        rows(&mut db, "SELECT sum(e), max(a) FROM w WHERE k > 1").await,
        vec![vec![v("15"), v("a3")]]
    );
    // Through the index, and joined: each side reads what it needs.
    assert_eq!(
        rows(
            &mut db,
            "SELECT x.d, y.a FROM w x JOIN w y ON y.k = x.k + 1 WHERE x.c = 10"
        )
        .await,
        table(&[&[Some("d1"), Some("a2")]])
    );
}

//! Index-only scans: a query that reads only an index's key columns and the
//! primary key answers from the index entries alone. Each query here is
//! checked against the same query forced through the table (it also reads
//! `payload`, which no index holds), with NULLs, ties, both directions,
//! ORDER BY … LIMIT and the transaction's own uncommitted writes, and its
//! EXPLAIN against PostgreSQL's wording.

mod common;

use common::{both, plain, q, run};
use sextant_compute::sql::session::Session;

async fn explain(s: &mut Session, sql: &str) -> String {
    q(s, &format!("EXPLAIN {sql}")).await.join("\n")
}

/// `events` as the BI dashboards have it, with ties (every minute holds
/// several rows) and NULL times; `events_plain` holds the same rows and has
/// no index, so its answers come from the table alone.
async fn setup(s: &mut Session) {
    for sql in [
        "CREATE TABLE events (id bigint PRIMARY KEY, payload jsonb NOT NULL, ingested_at timestamptz)",
        "CREATE INDEX events_time ON events (ingested_at)",
        "CREATE TABLE events_plain (id bigint PRIMARY KEY, payload jsonb NOT NULL, ingested_at timestamptz)",
    ] {
        run(s, sql).await;
    }
    both(
        s,
        "INSERT INTO events SELECT g,
           jsonb_build_object('site', 's' || (g % 7), 'n', g),
           CASE WHEN g % 17 = 0 THEN NULL
                ELSE timestamptz '2024-01-01 22:00:00+00' + (g % 150) * interval '1 minute' + (g % 5) * interval '1 second' END
         FROM generate_series(1, 1200) g",
    )
    .await;
}

/// (index-only query, the same forced through the table, expected scan
/// line). `payload IS NOT NULL` holds for every row (the column is NOT
/// NULL), so it changes no answer, only the access.
const CASES: &[(&str, &str, &str)] = &[
    (
        "SELECT date_trunc('minute', ingested_at) AS minute, count(*) FROM events
           WHERE ingested_at >= timestamptz '2024-01-02 00:00:00+00' - interval '1 hour' GROUP BY 1 ORDER BY 1",
        "SELECT date_trunc('minute', ingested_at) AS minute, count(*) FROM events
           WHERE ingested_at >= timestamptz '2024-01-02 00:00:00+00' - interval '1 hour' AND payload IS NOT NULL GROUP BY 1 ORDER BY 1",
        "Index Only Scan using events_time on events",
    ),
    (
        "SELECT id, ingested_at FROM events
           WHERE ingested_at >= '2024-01-01 22:30:00+00' AND ingested_at < '2024-01-01 23:10:00+00'
           ORDER BY ingested_at, id",
        "SELECT id, ingested_at FROM events
           WHERE ingested_at >= '2024-01-01 22:30:00+00' AND ingested_at < '2024-01-01 23:10:00+00' AND payload IS NOT NULL
           ORDER BY ingested_at, id",
        "Index Only Scan using events_time on events",
    ),
    (
        "SELECT id, ingested_at FROM events
           WHERE ingested_at > '2024-01-01 22:30:00+00' AND ingested_at <= '2024-01-01 23:10:00+00'
           ORDER BY ingested_at DESC, id DESC",
        "SELECT id, ingested_at FROM events
           WHERE ingested_at > '2024-01-01 22:30:00+00' AND ingested_at <= '2024-01-01 23:10:00+00' AND payload IS NOT NULL
           ORDER BY ingested_at DESC, id DESC",
        "Index Only Scan using events_time on events",
    ),
    // Backward from the end: the NULL times come first.
    (
        "SELECT ingested_at, id FROM events ORDER BY ingested_at DESC, id DESC LIMIT 90",
        "SELECT ingested_at, id FROM events WHERE payload IS NOT NULL ORDER BY ingested_at DESC, id DESC LIMIT 90",
        "Index Only Scan Backward using events_time on events",
    ),
    (
        "SELECT id FROM events ORDER BY ingested_at, id LIMIT 25 OFFSET 3",
        "SELECT id FROM events WHERE payload IS NOT NULL ORDER BY ingested_at, id LIMIT 25 OFFSET 3",
        "Index Only Scan using events_time on events",
    ),
    // A range over the whole index stays index-only (no table pass).
    (
        "SELECT count(*), count(ingested_at), min(ingested_at), max(ingested_at), sum(id)
           FROM events WHERE ingested_at >= '2000-01-01'",
        "SELECT count(*), count(ingested_at), min(ingested_at), max(ingested_at), sum(id)
           FROM events WHERE ingested_at >= '2000-01-01' AND payload IS NOT NULL",
        "Index Only Scan using events_time on events",
    ),
    // Conditions on the key columns other than the range are checked on
    // the decoded rows.
    (
        "SELECT id, extract(second FROM ingested_at) FROM events
           WHERE ingested_at BETWEEN '2024-01-01 22:10:00+00' AND '2024-01-01 22:40:00+00' AND id % 3 = 1
           ORDER BY ingested_at, id",
        "SELECT id, extract(second FROM ingested_at) FROM events
           WHERE ingested_at BETWEEN '2024-01-01 22:10:00+00' AND '2024-01-01 22:40:00+00' AND id % 3 = 1 AND payload IS NOT NULL
           ORDER BY ingested_at, id",
        "Index Only Scan using events_time on events",
    ),
    // A subquery in FROM and one in WHERE.
    (
        "SELECT count(*) FROM (SELECT id FROM events WHERE ingested_at < '2024-01-01 22:20:00+00') t
           WHERE t.id > 100",
        "SELECT count(*) FROM (SELECT id, payload FROM events WHERE ingested_at < '2024-01-01 22:20:00+00') t
           WHERE t.id > 100 AND t.payload IS NOT NULL",
        "Index Only Scan using events_time on events",
    ),
    // A hash join whose one side reads only key columns.
    (
        "SELECT a.id, b.id FROM events a JOIN events b ON b.id = a.id + 1000
           WHERE a.ingested_at < '2024-01-01 22:05:00+00' ORDER BY 1",
        "SELECT a.id, b.id FROM events a JOIN events b ON b.id = a.id + 1000
           WHERE a.ingested_at < '2024-01-01 22:05:00+00' AND a.payload IS NOT NULL ORDER BY 1",
        "Index Only Scan using events_time on events a",
    ),
    // An index nested loop whose inner side reads only key columns.
    (
        "SELECT a.id, e.id, e.ingested_at FROM events a JOIN events e ON e.ingested_at = a.ingested_at
           WHERE a.id = 31 ORDER BY 2",
        "SELECT a.id, e.id, e.ingested_at FROM events a JOIN events e ON e.ingested_at = a.ingested_at
           WHERE a.id = 31 AND e.payload IS NOT NULL ORDER BY 2",
        "Index Only Scan using events_time on events e",
    ),
];

async fn check_cases(s: &mut Session, own_writes: bool) {
    for (only, table, scan) in CASES {
        let got = q(s, only).await;
        assert!(!got.is_empty(), "{only}: no rows");
        assert_eq!(got, q(s, table).await, "{only} (own writes: {own_writes})");
        assert_eq!(
            got,
            q(s, &plain(only)).await,
            "{only} on the plain table (own writes: {own_writes})"
        );
        let plan = explain(s, only).await;
        assert!(plan.contains(scan), "{only}:\n{plan}");
        let forced = explain(s, table).await;
        assert!(!forced.contains("Index Only"), "{table}:\n{forced}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_only_scans_answer_as_the_table_does() {
    let (_st, mut s) = common::sql_session().await;
    setup(&mut s).await;
    check_cases(&mut s, false).await;
    // The wide range is read from the index, not the table.
    let plan = q(
        &mut s,
        "EXPLAIN ANALYZE SELECT count(*), sum(id) FROM events WHERE ingested_at >= '2000-01-01'",
    )
    .await;
    assert!(
        !plan
            .iter()
            .any(|l| l.starts_with("Index ranges read as full scans")),
        "{plan:?}"
    );
    // Own writes: new rows in and out of the ranges (one with a NULL
    // time), rows moved into, out of and within them, rows deleted.
    run(&mut s, "BEGIN").await;
    both(
        &mut s,
        "INSERT INTO events VALUES
           (5000, '{}', '2024-01-01 23:45:30+00'),
           (5001, '{}', '2024-01-01 22:31:00+00'),
           (5002, '{}', NULL),
           (5003, '{}', '2024-01-01 22:01:00+00'),
           (1, '{}', '2024-01-01 23:10:00+00')
         ON CONFLICT (id) DO UPDATE SET ingested_at = excluded.ingested_at",
    )
    .await;
    both(
        &mut s,
        "UPDATE events SET ingested_at = ingested_at + interval '37 minutes' WHERE id % 50 = 3",
    )
    .await;
    both(
        &mut s,
        "UPDATE events SET ingested_at = NULL WHERE id % 90 = 7",
    )
    .await;
    both(
        &mut s,
        "UPDATE events SET ingested_at = '2024-01-01 22:31:00+00' WHERE id = 34",
    )
    .await;
    both(&mut s, "DELETE FROM events WHERE id % 40 = 11 OR id = 5003").await;
    check_cases(&mut s, true).await;
    run(&mut s, "ROLLBACK").await;
    check_cases(&mut s, false).await;
    // Committed changes read the same way from the new snapshot.
    both(&mut s, "DELETE FROM events WHERE id % 13 = 2").await;
    both(
        &mut s,
        "UPDATE events SET ingested_at = ingested_at - interval '1 hour' WHERE id % 11 = 4",
    )
    .await;
    check_cases(&mut s, false).await;
}

/// Only plain column indexes over types whose keys decode exactly answer
/// index-only, and only when nothing reads another column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_only_only_where_the_entries_suffice() {
    let (_st, mut s) = common::sql_session().await;
    for sql in [
        "CREATE TABLE m (a int, b text, f float8, n numeric, c int, u uuid, d date, ok bool,
           v varchar(8), p char(4), extra text, PRIMARY KEY (a, b))",
        "CREATE INDEX m_f ON m (f)",
        "CREATE INDEX m_n ON m (n)",
        "CREATE INDEX m_c ON m (c)",
        "CREATE INDEX m_ud ON m (u, d, ok)",
        "CREATE INDEX m_vp ON m (v, p)",
        "CREATE INDEX m_lower ON m (lower(extra))",
        "INSERT INTO m SELECT g % 10, 'k' || g || 'é', (g - 20)::float8 / 4, (g * 1.50)::numeric(10, 2),
           (g % 9 - 4)::int, ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid,
           date '2024-02-27' + g, g % 3 = 0, 'v' || (g % 4), 'p' || (g % 2), 'X' || g
         FROM generate_series(1, 60) g",
        "INSERT INTO m VALUES (99, 'zero', '-0'::float8, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    ] {
        run(&mut s, sql).await;
    }
    // Index-only: integer, uuid/date/bool and varchar/char keys with the
    // composite primary key; values come back with their declared types.
    let cases = [
        (
            "SELECT c, a, b, pg_typeof(c) FROM m WHERE c >= -2 AND c <= 1 ORDER BY c DESC, a DESC, b DESC",
            "m_c",
        ),
        (
            "SELECT u, d, ok, b FROM m WHERE u > '00000000-0000-0000-0000-000000000040' ORDER BY u",
            "m_ud",
        ),
        (
            "SELECT v, p, length(p), a, b FROM m WHERE v >= 'v2' ORDER BY v, p, a, b",
            "m_vp",
        ),
    ];
    for (only, ix) in cases {
        let got = q(&mut s, only).await;
        assert!(!got.is_empty(), "{only}");
        let forced = only.replace(" WHERE ", " WHERE (extra IS DISTINCT FROM '-') AND ");
        assert_eq!(got, q(&mut s, &forced).await, "{only}");
        let plan = explain(&mut s, only).await;
        assert!(
            plan.contains(&format!("Index Only Scan using {ix} on m"))
                || plan.contains(&format!("Index Only Scan Backward using {ix} on m")),
            "{only}:\n{plan}"
        );
    }
    // Float keys lose -0, numeric keys trailing zeros: those indexes read
    // the table.
    let plan = explain(&mut s, "SELECT f FROM m WHERE f < 1").await;
    assert!(plan.contains("Index Scan using m_f on m"), "{plan}");
    let zeros = q(&mut s, "SELECT f::text FROM m WHERE f > -0.1 AND f < 0.1").await;
    assert!(zeros.contains(&"-0".to_string()), "{zeros:?}");
    let plan = explain(&mut s, "SELECT n FROM m WHERE n > 80").await;
    assert!(plan.contains("Index Scan using m_n on m"), "{plan}");
    assert_eq!(
        q(&mut s, "SELECT n FROM m WHERE n > 88 ORDER BY n").await,
        ["88.50", "90.00"]
    );
    // An expression index, and a column the index lacks.
    let plan = explain(&mut s, "SELECT a FROM m WHERE lower(extra) = 'x5'").await;
    assert!(plan.contains("Index Scan using m_lower on m"), "{plan}");
    let plan = explain(&mut s, "SELECT c, extra FROM m WHERE c = 1").await;
    assert!(plan.contains("Index Scan using m_c on m"), "{plan}");
    let plan = explain(&mut s, "SELECT * FROM m WHERE c = 1").await;
    assert!(plan.contains("Index Scan using m_c on m"), "{plan}");
    // A correlated subquery sees the whole row.
    let sql = "SELECT c, (SELECT count(*) FROM m m2 WHERE m2.extra = m.extra) FROM m WHERE c = 1 ORDER BY a, b";
    let plan = explain(&mut s, sql).await;
    assert!(!plan.contains("Index Only Scan using m_c"), "{plan}");
    assert_eq!(q(&mut s, sql).await.len(), 7);
    // DML reads whole rows: its own scans are never index-only, and its
    // subqueries may be.
    run(
        &mut s,
        "UPDATE m SET extra = 'changed' WHERE b IN (SELECT b FROM m WHERE c = 2)",
    )
    .await;
    assert_eq!(
        q(&mut s, "SELECT count(*) FROM m WHERE extra = 'changed'").await,
        ["7"]
    );
    run(&mut s, "DELETE FROM m WHERE c = -4").await;
    assert_eq!(
        q(&mut s, "SELECT count(*) FROM m WHERE c = -4").await,
        ["0"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT count(*) FROM m WHERE c = -4 AND extra IS DISTINCT FROM '-'"
        )
        .await,
        ["0"]
    );
}

/// A scan's filter evaluates its constant parts once per scan; the answers
/// are those of evaluating them per row, and a constant part that fails
/// fails only where a row reaches it, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_parts_of_filters_are_evaluated_once() {
    let (_st, mut s) = common::sql_session().await;
    run(
        &mut s,
        "CREATE TABLE t (id int PRIMARY KEY, v int, ts timestamptz)",
    )
    .await;
    run(
        &mut s,
        "INSERT INTO t SELECT g, g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour' FROM generate_series(1, 10) g",
    )
    .await;
    assert_eq!(
        q(&mut s, "SELECT count(*) FROM t WHERE v > 2 + 3").await,
        ["5"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT min(id) FROM t WHERE ts >= timestamptz '2024-01-01 06:00:00+00' - interval '1 hour'"
        )
        .await,
        ["5"]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT count(*) FROM t WHERE v::text || 'x' = '7' || 'x'"
        )
        .await,
        ["1"]
    );
    // No row reaches the division: no error.
    assert_eq!(
        q(
            &mut s,
            "SELECT count(*) FROM t WHERE id > 100 AND v > 1 / 0"
        )
        .await,
        ["0"]
    );
    // A row does: division by zero.
    match s
        .simple_query("SELECT count(*) FROM t WHERE v > 1 / 0")
        .await
        .pop()
        .unwrap()
    {
        Err(e) => assert_eq!(e.code, "22012"),
        Ok(r) => panic!("expected division by zero, got {r:?}"),
    }
}

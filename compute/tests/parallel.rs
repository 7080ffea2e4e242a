//! Parallel hash aggregation: a table scan under an aggregation is split
//! among threads by key range (`max_parallel_workers_per_gather`), and the
//! answer must be exactly the serial one: the same groups in the same
//! order, order-sensitive aggregates (string_agg without ORDER BY, min/max
//! ties) included, the transaction's own uncommitted writes seen, and a
//! statement_timeout still stopping it. EXPLAIN ANALYZE says when it ran in
//! parallel.

mod common;

use common::{q, run};
use sextant_compute::sql::session::Session;

/// Rows in the test table: about 2MB, a few hundred leaves, so the scan
/// splits; seconds to load in a debug build.
const ROWS: usize = 20_000;

async fn setup(s: &mut Session) {
    for sql in [
        "CREATE TABLE ev (id int PRIMARY KEY, site int, tag text, v int, n numeric, \
         ok bool, doc jsonb, label text)"
            .to_string(),
        // Wide entries: an index of a few hundred leaves, whose ranges
        // under a fifth of it (read through the index, not the table) are
        // still worth cutting.
        "CREATE INDEX ev_label ON ev (label)".to_string(),
        format!(
            "INSERT INTO ev SELECT g, CASE WHEN g % 101 = 0 THEN NULL ELSE g % 37 END, \
             'tag-' || ((g * 7919) % 53), (g * 37) % 1000, (g % 997) * 1.25, g % 13 <> 0, \
             jsonb_build_object('status', (ARRAY['ok', 'warn', 'error'])[g % 3 + 1], \
             'dev', 'd' || (g % 211), 'pad', repeat('x', 40)), lpad(g::text, 80, '0') \
             FROM generate_series(1, {ROWS}) g"
        ),
        // No primary key, so no index to join through: a hash join.
        "CREATE TABLE dims (k int, region text)".to_string(),
        "INSERT INTO dims SELECT g % 40, (ARRAY['eu', 'us', 'ap'])[g % 3 + 1] \
         FROM generate_series(1, 60) g"
            .to_string(),
    ] {
        run(s, &sql).await;
    }
}

/// Threads a parallel aggregation uses here: the leader and two workers
/// (PostgreSQL's default), at most one per core.
fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(3)
}

/// The "Parallel aggregates" line of `sql`'s EXPLAIN ANALYZE, if any.
async fn parallel_line(s: &mut Session, sql: &str) -> Option<String> {
    q(s, &format!("EXPLAIN ANALYZE {sql}"))
        .await
        .into_iter()
        .find(|l| l.starts_with("Parallel aggregates:"))
}

/// `sql`'s rows with parallel aggregation off and on.
async fn serial_and_parallel(s: &mut Session, sql: &str) -> (Vec<String>, Vec<String>) {
    run(s, "SET max_parallel_workers_per_gather = 0").await;
    let serial = q(s, sql).await;
    run(s, "RESET max_parallel_workers_per_gather").await;
    let parallel = q(s, sql).await;
    (serial, parallel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_aggregates_answer_exactly_as_serial_ones() {
    let (_st, mut s) = common::sql_session().await;
    setup(&mut s).await;
    assert_eq!(
        q(&mut s, "SHOW max_parallel_workers_per_gather").await,
        ["2"]
    );
    // No ORDER BY on purpose in most: groups must come out in the order a
    // serial pass first meets them.
    for sql in [
        "SELECT count(*), sum(v), avg(v), min(tag), max(tag) FROM ev",
        "SELECT site, count(*), sum(n), avg(n), min(v), max(v) FROM ev GROUP BY site",
        "SELECT doc->>'status', count(*), count(DISTINCT doc->>'dev') FROM ev GROUP BY 1",
        "SELECT site, string_agg(tag, ',') FROM ev WHERE id % 7 = 0 GROUP BY site",
        "SELECT site, string_agg(tag, ',' ORDER BY v DESC, id) FROM ev GROUP BY site",
        "SELECT site % 3, array_agg(id), jsonb_agg(v) FROM ev WHERE v < 20 GROUP BY 1",
        "SELECT site, bool_and(ok), bool_or(NOT ok), count(*) FILTER (WHERE ok) FROM ev \
         GROUP BY site",
        "SELECT site, percentile_cont(0.5) WITHIN GROUP (ORDER BY v), \
         percentile_disc(0.9) WITHIN GROUP (ORDER BY v), mode() WITHIN GROUP (ORDER BY tag) \
         FROM ev GROUP BY site",
        "SELECT d.region, count(*), count(DISTINCT e.tag) FROM ev e JOIN dims d ON d.k = e.site \
         GROUP BY d.region",
        "SELECT d.region, count(*) FROM ev e LEFT JOIN dims d ON d.k = e.site GROUP BY 1",
        // Group keys over a column, and the group's sample row.
        "SELECT id / 1000, min(doc->>'dev'), max(id) FROM ev GROUP BY id / 1000",
        // Index ranges under a fifth of the index, cut by its keys: with
        // row lookups, and index-only.
        "SELECT site, count(*), max(tag) FROM ev \
         WHERE label BETWEEN lpad('2000', 80, '0') AND lpad('5000', 80, '0') GROUP BY site",
        "SELECT count(*), min(label), max(label) FROM ev WHERE label > lpad('17000', 80, '0')",
        // Every row filtered out, no GROUP BY: one row of empty aggregates.
        "SELECT count(*), sum(v), max(tag) FROM ev WHERE v > 5000",
    ] {
        let (serial, parallel) = serial_and_parallel(&mut s, sql).await;
        assert!(!serial.is_empty(), "{sql}");
        assert_eq!(parallel, serial, "{sql}");
        let line = parallel_line(&mut s, sql).await;
        if threads() > 1 {
            assert_eq!(
                line.as_deref(),
                Some(format!("Parallel aggregates: 1  threads={}", threads()).as_str()),
                "{sql}"
            );
        }
    }
    let e = s
        .simple_query("SET max_parallel_workers_per_gather = -1")
        .await
        .pop()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code, "22023");
    assert_eq!(
        e.message,
        "-1 is outside the valid range for parameter \"max_parallel_workers_per_gather\" (0 .. 1024)"
    );
    // Those two read the index, as planned.
    let plan = q(
        &mut s,
        "EXPLAIN SELECT site, count(*) FROM ev \
         WHERE label BETWEEN lpad('2000', 80, '0') AND lpad('5000', 80, '0') GROUP BY site",
    )
    .await;
    assert!(
        plan.iter().any(|l| l.contains("Index Scan using ev_label")),
        "{plan:?}"
    );
    let plan = q(
        &mut s,
        "EXPLAIN SELECT count(*) FROM ev WHERE label > lpad('17000', 80, '0')",
    )
    .await;
    assert!(
        plan.iter()
            .any(|l| l.contains("Index Only Scan using ev_label")),
        "{plan:?}"
    );
    // With parallelism off, none.
    run(&mut s, "SET max_parallel_workers_per_gather = 0").await;
    assert_eq!(parallel_line(&mut s, "SELECT count(*) FROM ev").await, None);
    run(&mut s, "RESET max_parallel_workers_per_gather").await;
}

/// What cannot be split runs serially, with the same answers: float sums
/// (the order of additions shows in the last digits), subqueries, and
/// small tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_split_runs_serially() {
    let (_st, mut s) = common::sql_session().await;
    setup(&mut s).await;
    for sql in [
        "SELECT site, sum(v::float8 / 7), avg(v::float8) FROM ev GROUP BY site",
        "SELECT site, count(*) FROM ev WHERE v > (SELECT min(k) FROM dims) GROUP BY site",
        "SELECT region, count(*) FROM dims GROUP BY region",
        // A primary-key range reads only its rows.
        "SELECT site, count(*) FROM ev WHERE id BETWEEN 100 AND 5000 GROUP BY site",
    ] {
        let (serial, parallel) = serial_and_parallel(&mut s, sql).await;
        assert_eq!(parallel, serial, "{sql}");
        assert_eq!(parallel_line(&mut s, sql).await, None, "{sql}");
    }
    // Too many groups for a part's share of work_mem: the parallel attempt
    // gives way to a serial aggregation, which spills.
    run(&mut s, "SET work_mem = '256kB'").await;
    let sql = "SELECT id % 9000, count(*), min(tag) FROM ev GROUP BY 1";
    let (serial, parallel) = serial_and_parallel(&mut s, sql).await;
    assert_eq!(serial.len(), 9000);
    assert_eq!(parallel, serial);
    let lines = q(&mut s, &format!("EXPLAIN ANALYZE {sql}")).await;
    assert!(
        !lines.iter().any(|l| l.starts_with("Parallel aggregates:")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("Spilled: ")),
        "{lines:?}"
    );
}

/// A transaction's own inserts, updates and deletes are seen by every
/// part, each in its key range.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_see_the_transactions_own_writes() {
    let (_st, mut s) = common::sql_session().await;
    setup(&mut s).await;
    let sql = "SELECT site, count(*), sum(v), string_agg(tag, ',') FROM ev GROUP BY site";
    let before = q(&mut s, sql).await;
    run(&mut s, "BEGIN").await;
    run(&mut s, "DELETE FROM ev WHERE id % 5 = 0").await;
    run(
        &mut s,
        "UPDATE ev SET v = v + 1, tag = 'changed' WHERE id % 11 = 0",
    )
    .await;
    run(
        &mut s,
        &format!(
            "INSERT INTO ev (id, site, tag, v, label) SELECT g, g % 37, 'new', 1, \
             lpad(g::text, 80, '0') FROM generate_series({}, {}) g",
            ROWS + 1,
            ROWS + 500
        ),
    )
    .await;
    let (serial, parallel) = serial_and_parallel(&mut s, sql).await;
    assert_eq!(parallel, serial);
    assert_ne!(parallel, before);
    if threads() > 1 {
        assert!(parallel_line(&mut s, sql).await.is_some());
    }
    // Through the index: own writes enter the part whose keys they have.
    let by_label = "SELECT site, count(*), string_agg(tag, ',') FROM ev \
                    WHERE label > lpad('17000', 80, '0') GROUP BY site";
    let (serial, parallel) = serial_and_parallel(&mut s, by_label).await;
    assert_eq!(parallel, serial);
    assert!(parallel.iter().any(|r| r.contains("new")), "{parallel:?}");
    let total = q(&mut s, "SELECT count(*) FROM ev").await;
    assert_eq!(total, [(ROWS - ROWS / 5 + 500).to_string()]);
    run(&mut s, "ROLLBACK").await;
    assert_eq!(q(&mut s, sql).await, before);
}

/// statement_timeout stops a parallel aggregation with 57014, and the
/// session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_stops_a_parallel_aggregation() {
    let (_st, mut s) = common::sql_session().await;
    setup(&mut s).await;
    // Each row costs an md5 of a long string: far longer than the timeout.
    let sql = "SELECT site, count(DISTINCT md5(repeat(tag, 200) || id)) FROM ev GROUP BY site";
    run(&mut s, "SET statement_timeout = '50ms'").await;
    let e = s.simple_query(sql).await.pop().unwrap().unwrap_err();
    assert_eq!(e.code, "57014");
    assert_eq!(e.message, "canceling statement due to statement timeout");
    run(&mut s, "SET statement_timeout = 0").await;
    assert_eq!(
        q(&mut s, "SELECT count(*) FROM ev").await,
        [ROWS.to_string()]
    );
}

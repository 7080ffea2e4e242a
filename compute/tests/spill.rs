//! Sorts, hash aggregations and hash joins past `work_mem`: at 64kB they
//! spill to temporary files (EXPLAIN ANALYZE says how much, and how much
//! they held), return exactly what they return with all the memory they
//! want, and stop promptly on statement_timeout and cancel. The answers
//! against PostgreSQL's for a smaller sample are in data/sql/spill.sql.

mod common;

use std::time::{Duration, Instant};

use common::{q, run};
use sextant_compute::sql::session::Session;

/// Rows in the test table: about 1.3MB of rows in memory, 20 times the
/// 64kB budget, yet seconds to load and sort in a debug build.
const ROWS: usize = 10_000;
/// What a node may hold past the budget: the row (or group) that crossed
/// it.
const SLACK_BYTES: u64 = 2048;

async fn session() -> (common::Storage, Session) {
    common::sql_session().await
}

async fn setup(s: &mut Session) {
    for sql in [
        "CREATE TABLE ev (id int PRIMARY KEY, site int, tag text, v int)".to_string(),
        format!(
            "INSERT INTO ev SELECT g, CASE WHEN g % 101 = 0 THEN NULL ELSE g % 1009 END, \
             'tag-' || ((g * 7919) % 6007), (g * 37) % 1000 FROM generate_series(1, {ROWS}) g"
        ),
        // No primary key, so no index to join through: a hash join.
        "CREATE TABLE dims (k int, name text)".to_string(),
        "INSERT INTO dims SELECT g % 1000, 'site-' || g FROM generate_series(1, 1500) g"
            .to_string(),
        "INSERT INTO dims VALUES (NULL, 'nobody'), (5000, 'far')".to_string(),
    ] {
        run(s, &sql).await;
    }
}

/// What EXPLAIN ANALYZE reports about work memory: (peak bytes rounded up
/// to kB, limit kB, spilled line if any).
async fn work_mem_report(s: &mut Session, sql: &str) -> (u64, u64, Option<String>) {
    let lines = q(s, &format!("EXPLAIN ANALYZE {sql}")).await;
    let mem = lines
        .iter()
        .find_map(|l| l.strip_prefix("Work Memory: peak="))
        .unwrap_or_else(|| panic!("no Work Memory line: {lines:?}"));
    let (peak, limit) = mem.split_once("kB  limit=").expect("peak and limit");
    let spilled = lines.iter().find(|l| l.starts_with("Spilled: ")).cloned();
    (
        peak.parse().expect("peak kB"),
        limit.trim_end_matches("kB").parse().expect("limit kB"),
        spilled,
    )
}

fn count_in(spilled: &str, what: &str) -> u64 {
    let rest = spilled
        .split_once(&format!("{what}="))
        .unwrap_or_else(|| panic!("no {what} in {spilled}"))
        .1;
    rest.split_whitespace()
        .next()
        .unwrap()
        .parse()
        .expect("a count")
}

/// Each query runs at 64kB and at 1GB: same rows, and at 64kB it spilled
/// what `spills` names while holding no more than the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spilling_queries_answer_as_in_memory_ones_within_the_budget() {
    let (_st, mut s) = session().await;
    setup(&mut s).await;
    let cases = [
        (
            "SELECT id, tag, v FROM ev ORDER BY tag, v DESC, id",
            "sort runs",
        ),
        (
            "SELECT id, site FROM ev WHERE v < 700 ORDER BY site NULLS FIRST, id DESC",
            "sort runs",
        ),
        (
            "SELECT tag, count(*), sum(v), min(id), max(site) FROM ev GROUP BY tag ORDER BY tag",
            "aggregate partitions",
        ),
        (
            "SELECT site, v % 10, count(*), avg(v) FROM ev GROUP BY site, v % 10 ORDER BY 1, 2",
            "aggregate partitions",
        ),
        (
            "SELECT e.id, d.name FROM ev e JOIN dims d ON d.k = e.site ORDER BY e.id, d.name",
            "join partitions",
        ),
        (
            "SELECT e.id, d.name FROM ev e FULL JOIN dims d ON d.k = e.site WHERE e.id IS NULL OR e.id % 7 = 0 ORDER BY e.id, d.name",
            "join partitions",
        ),
    ];
    for (sql, spills) in cases {
        run(&mut s, "SET work_mem = '1GB'").await;
        let (_, _, none) = work_mem_report(&mut s, sql).await;
        assert_eq!(none, None, "{sql} spilled at 1GB");
        let roomy = q(&mut s, sql).await;
        run(&mut s, "SET work_mem = '64kB'").await;
        let tight = q(&mut s, sql).await;
        assert!(roomy.len() > 1000, "{sql}: {} rows", roomy.len());
        assert!(roomy == tight, "{sql}: different answers at 64kB");
        let (peak_kb, limit_kb, spilled) = work_mem_report(&mut s, sql).await;
        assert_eq!(limit_kb, 64);
        let spilled = spilled.unwrap_or_else(|| panic!("{sql} did not spill at 64kB"));
        assert!(count_in(&spilled, spills) >= 2, "{sql}: {spilled}");
        assert!(
            peak_kb * 1024 <= 64 * 1024 + SLACK_BYTES + 1023,
            "{sql}: held {peak_kb}kB at 64kB ({spilled})"
        );
    }
}

/// With a sort that must spill dozens of runs, statement_timeout and a
/// cancel request stop it with 57014 long before it would finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_and_cancel_stop_a_spilling_sort() {
    let (_st, mut s) = session().await;
    setup(&mut s).await;
    // Sorting ROWS rows 4 times over, by a key that is costly to compare.
    let sql = "SELECT e.id, x FROM ev e, generate_series(1, 4) x \
               ORDER BY md5(e.tag || x), e.id";
    run(&mut s, "SET work_mem = '64kB'").await;
    let started = Instant::now();
    let (_, _, spilled) = work_mem_report(&mut s, sql).await;
    let full = started.elapsed();
    let spilled = spilled.expect("the sort spills");
    assert!(count_in(&spilled, "sort runs") > 10, "{spilled}");

    run(&mut s, "SET statement_timeout = '100ms'").await;
    let started = Instant::now();
    let e = s.simple_query(sql).await.pop().unwrap().unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.code, "57014");
    assert_eq!(e.message, "canceling statement due to statement timeout");
    assert!(
        took < full / 2,
        "stopped after {took:?}; the sort takes {full:?}"
    );
    run(&mut s, "SET statement_timeout = 0").await;

    let cancel = s.cancel_handle();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let started = Instant::now();
    let e = s.simple_query(sql).await.pop().unwrap().unwrap_err();
    let took = started.elapsed();
    canceller.await.unwrap();
    assert_eq!(e.code, "57014");
    assert_eq!(e.message, "canceling statement due to user request");
    assert!(
        took < full / 2,
        "stopped after {took:?}; the sort takes {full:?}"
    );
    // The session goes on.
    assert_eq!(
        q(&mut s, "SELECT count(*) FROM ev").await,
        [ROWS.to_string()]
    );
}

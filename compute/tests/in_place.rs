//! A LIMIT query runs in place on its session's worker for a short budget
//! and is run again off the worker when it runs past it: either way the
//! client gets the one right answer, and cancellation and
//! statement_timeout still stop it with PostgreSQL's errors.

mod common;

use common::{q, run, sql_session};
use sextant_compute::sql::session::Session;

/// Rows in the test table: a full scan takes well over the in-place
/// budget (a millisecond) in a debug build.
const ROWS: usize = 20_000;

async fn setup(s: &mut Session) {
    run(
        s,
        "CREATE TABLE ev (id int PRIMARY KEY, at int NOT NULL, doc jsonb NOT NULL)",
    )
    .await;
    run(s, "CREATE INDEX ev_at ON ev (at)").await;
    run(
        s,
        &format!(
            "INSERT INTO ev SELECT g, g * 10, jsonb_build_object('status', \
             CASE WHEN g % 97 = 0 THEN 'error' WHEN g = 7 THEN 'rare' ELSE 'ok' END, \
             'pad', repeat('x', 100)) FROM generate_series(1, {ROWS}) g"
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_queries_answer_the_same_whether_they_end_early_or_not() {
    let (_storage, mut s) = sql_session().await;
    setup(&mut s).await;
    // Ends after a few rows of the index, in place.
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM ev WHERE doc->>'status' = 'error' ORDER BY at DESC LIMIT 3"
        )
        .await,
        ["19982", "19885", "19788"]
    );
    // The one match is the last row the backward index scan reads: the
    // in-place run gives up and the query runs again off the worker.
    assert_eq!(
        q(
            &mut s,
            "SELECT id, doc->>'status' FROM ev WHERE doc->>'status' = 'rare' \
             ORDER BY at DESC LIMIT 1"
        )
        .await,
        ["7|rare"]
    );
    // No match at all: the whole table is read, and the answer is empty.
    assert!(q(
        &mut s,
        "SELECT id FROM ev WHERE doc->>'status' = 'none' ORDER BY at DESC LIMIT 1"
    )
    .await
    .is_empty());
    // Inside a transaction block, with its own uncommitted rows.
    run(&mut s, "BEGIN").await;
    run(
        &mut s,
        "INSERT INTO ev VALUES (0, 0, '{\"status\": \"mine\"}')",
    )
    .await;
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM ev WHERE doc->>'status' = 'mine' ORDER BY at DESC LIMIT 1"
        )
        .await,
        ["0"]
    );
    run(&mut s, "ROLLBACK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_stops_a_long_limit_query() {
    let (_storage, mut s) = sql_session().await;
    setup(&mut s).await;
    run(&mut s, "SET statement_timeout = '5ms'").await;
    // A nested loop over the table twice: far longer than 5 ms.
    let sql = "SELECT a.id FROM ev a, ev b WHERE a.doc->>'status' = b.doc->>'pad' LIMIT 1";
    let mut r = s.simple_query(sql).await;
    let e = r.pop().unwrap().expect_err("the timeout stops it");
    assert_eq!(e.code, "57014");
    assert_eq!(e.message, "canceling statement due to statement timeout");
}

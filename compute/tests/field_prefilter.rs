//! An index scan tests a filter's `payload->>'key' = 'text'` conditions on
//! each row's stored bytes and decodes only the rows they may keep. Every
//! query here is checked against the same query on a table without
//! indexes (read whole, no such test): members absent, JSON null, numbers,
//! strings, objects and arrays, a NULL document, the conditions AND-ed
//! with others and inside OR (not used there), a column added after the
//! rows were written, and the transaction's own uncommitted writes.

mod common;

use common::{both, plain, q, run};
use sextant_compute::sql::session::Session;

/// `events` (indexed on time) and `events_plain` (no index), same rows.
async fn setup(s: &mut Session) {
    for sql in [
        "CREATE TABLE events (id bigint PRIMARY KEY, payload jsonb, ingested_at timestamptz)",
        "CREATE INDEX events_time ON events (ingested_at)",
        "CREATE TABLE events_plain (id bigint PRIMARY KEY, payload jsonb, ingested_at timestamptz)",
    ] {
        run(s, sql).await;
    }
    both(
        s,
        "INSERT INTO events SELECT g,
           CASE g % 9
             WHEN 0 THEN NULL
             WHEN 1 THEN '{\"site\": \"s1\"}'::jsonb
             WHEN 2 THEN jsonb_build_object('status', NULL, 'site', 's2')
             WHEN 3 THEN jsonb_build_object('status', 5, 'site', 's3')
             WHEN 4 THEN jsonb_build_object('status', '5', 'site', 's1')
             WHEN 5 THEN jsonb_build_object('status', jsonb_build_object('code', 'error'))
             WHEN 6 THEN jsonb_build_object('status', jsonb_build_array('error'))
             WHEN 7 THEN jsonb_build_object('status', 'ok', 'site', 's2')
             ELSE jsonb_build_object('status', 'error', 'site', 's' || (g % 3))
           END,
           timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
         FROM generate_series(1, 900) g",
    )
    .await;
}

const RANGE: &str = "ingested_at >= timestamptz '2024-01-01 02:00:00+00'";

/// Conditions checked through the index and on the plain table.
fn cases() -> Vec<String> {
    [
        "payload->>'status' = 'error'",
        "payload->>'status' = '5'",
        "payload->>'status' = 'ok' AND payload->>'site' = 's2'",
        "payload->>'status' = 'error' AND id % 2 = 0",
        "payload->>'status' = 'error' OR payload->>'site' = 's3'",
        "payload->>'status' = '{\"code\": \"error\"}'",
        "payload->>'status' = '[\"error\"]'",
        "payload->>'nothing' = 'x'",
        "payload->>'status' = 'error' AND extra IS NULL",
        "payload->>'status' = 'error' AND extra = 'x'",
    ]
    .iter()
    .map(|c| format!("SELECT id, payload->>'site' FROM events WHERE {RANGE} AND ({c}) ORDER BY ingested_at DESC, id DESC LIMIT 40"))
    .collect()
}

async fn check(s: &mut Session, own_writes: bool) {
    for sql in cases() {
        let got = q(s, &sql).await;
        assert_eq!(
            got,
            q(s, &plain(&sql)).await,
            "{sql} (own writes: {own_writes})"
        );
        let plan = q(s, &format!("EXPLAIN {sql}")).await.join("\n");
        assert!(
            plan.contains("Index Scan Backward using events_time"),
            "{sql}:\n{plan}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_scans_testing_stored_rows_answer_as_the_table_does() {
    let (_st, mut s) = common::sql_session().await;
    setup(&mut s).await;
    // Rows written before the column existed have no slot for it.
    both(&mut s, "ALTER TABLE events ADD COLUMN extra text").await;
    both(&mut s, "UPDATE events SET extra = 'x' WHERE id % 4 = 0").await;
    let got = q(&mut s, &cases()[0]).await;
    assert_eq!(got.len(), 40, "the LIMIT is reached: {got:?}");
    check(&mut s, false).await;
    // Own writes: rows turned into and out of matches, new ones, deleted.
    run(&mut s, "BEGIN").await;
    both(
        &mut s,
        "UPDATE events SET payload = jsonb_build_object('status', 'error', 'site', 'mine')
           WHERE id % 9 = 7 AND id % 2 = 0",
    )
    .await;
    both(
        &mut s,
        "UPDATE events SET payload = '{\"status\": \"ok\"}' WHERE id % 9 = 8 AND id % 5 = 0",
    )
    .await;
    both(
        &mut s,
        "INSERT INTO events VALUES (5000, '{\"status\": \"error\", \"site\": \"new\"}', '2024-01-01 14:59:30+00')",
    )
    .await;
    both(&mut s, "DELETE FROM events WHERE id % 9 = 8 AND id % 7 = 0").await;
    check(&mut s, true).await;
    run(&mut s, "ROLLBACK").await;
    check(&mut s, false).await;
}

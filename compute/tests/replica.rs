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

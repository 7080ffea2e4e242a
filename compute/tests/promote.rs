//! Promotion of a reader to the writer, in process over six storage nodes:
//! the promoted reader serves writes on the same SQL port with every commit
//! the old writer acknowledged; the old writer, still running, is fenced by
//! the new epoch and fails every write with a clear error. Also the
//! standby's face of a reader: `pg_is_in_recovery()`,
//! `transaction_read_only`, and `BEGIN READ WRITE` refused.

mod common;

use std::time::Duration;

use common::replica::{self, engine_config};
use sextant_compute::replica::hub::HubConfig;
use sextant_compute::replica::promote;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

async fn bool_of(c: &Client, sql: &str) -> bool {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

async fn text_of(c: &Client, sql: &str) -> String {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_looks_like_a_hot_standby() {
    let storage = common::Storage::start().await;
    let w = replica::writer(&storage, HubConfig::default()).await;
    let r = replica::reader(&storage, w.redo_addr, "reader-1").await;
    let wc = w.pg.connect().await;
    let rc = r.pg.connect().await;

    assert!(!bool_of(&wc, "SELECT pg_is_in_recovery()").await);
    assert!(bool_of(&rc, "SELECT pg_is_in_recovery()").await);
    assert_eq!(text_of(&wc, "SHOW transaction_read_only").await, "off");
    assert_eq!(text_of(&rc, "SHOW transaction_read_only").await, "on");

    let e = rc.batch_execute("BEGIN READ WRITE").await.unwrap_err();
    let db = e.as_db_error().expect("a server error");
    assert_eq!(db.code(), &SqlState::READ_ONLY_SQL_TRANSACTION);
    assert_eq!(
        db.message(),
        "cannot set transaction read-write mode during recovery"
    );
    rc.batch_execute("BEGIN").await.unwrap();
    assert_eq!(text_of(&rc, "SHOW transaction_read_only").await, "on");
    let e = rc
        .batch_execute("SET TRANSACTION READ WRITE")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::READ_ONLY_SQL_TRANSACTION));
    rc.batch_execute("ROLLBACK").await.unwrap();
    // BEGIN READ ONLY is fine on a reader, and READ WRITE on the writer.
    rc.batch_execute("BEGIN READ ONLY; COMMIT").await.unwrap();
    wc.batch_execute("BEGIN READ WRITE; COMMIT").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_reader_writes_and_the_old_writer_is_fenced() {
    let storage = common::Storage::start().await;
    let w = replica::writer(&storage, HubConfig::default()).await;
    let wc = w.pg.connect().await;
    wc.batch_execute("CREATE TABLE kv (id int8 PRIMARY KEY, v int8 NOT NULL)")
        .await
        .unwrap();
    let r = replica::reader(&storage, w.redo_addr, "reader-1").await;
    for i in 0..40i64 {
        wc.execute("INSERT INTO kv VALUES ($1, $2)", &[&i, &i])
            .await
            .unwrap();
    }
    // A session on the reader with a transaction open across promotion.
    let rc_old = r.pg.connect().await;
    rc_old.batch_execute("BEGIN").await.unwrap();
    let before: i64 = rc_old
        .query_one("SELECT count(*) FROM kv", &[])
        .await
        .unwrap()
        .get(0);
    // The writer commits more that the reader may not have applied yet:
    // acknowledged, so promotion must keep them.
    for i in 40..60i64 {
        wc.execute("INSERT INTO kv VALUES ($1, $2)", &[&i, &i])
            .await
            .unwrap();
    }
    let acked_vdl = w.engine.vdl();

    let p = tokio::time::timeout(
        Duration::from_secs(30),
        promote::promote(
            r.follower,
            storage.cluster.clone(),
            engine_config(),
            "reader-1".into(),
        ),
    )
    .await
    .expect("promotion in time")
    .map_err(|(e, _)| e)
    .expect("promoted");
    assert!(
        p.engine.vdl() >= acked_vdl,
        "recovery kept every acknowledged commit"
    );
    assert!(p.engine.volume().epoch() > w.engine.volume().epoch());
    r.db.promote(p.engine.clone(), std::sync::Arc::new(p.hub.clone()));

    // The same SQL port now serves writes, with every acknowledged row.
    let rc = r.pg.connect().await;
    assert!(!bool_of(&rc, "SELECT pg_is_in_recovery()").await);
    assert_eq!(text_of(&rc, "SHOW transaction_read_only").await, "off");
    let n: i64 = rc
        .query_one("SELECT count(*) FROM kv", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 60);
    rc.execute("INSERT INTO kv VALUES (100, 100)", &[])
        .await
        .unwrap();
    rc.execute("UPDATE kv SET v = v + 1 WHERE id < 10", &[])
        .await
        .unwrap();

    // The session open across promotion keeps its snapshot, read-only.
    let still: i64 = rc_old
        .query_one("SELECT count(*) FROM kv", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(still, before);
    let e = rc_old
        .execute("INSERT INTO kv VALUES (200, 200)", &[])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::READ_ONLY_SQL_TRANSACTION));
    rc_old.batch_execute("ROLLBACK").await.unwrap();
    // Its next transaction runs on the writer.
    rc_old
        .execute("INSERT INTO kv VALUES (200, 200)", &[])
        .await
        .unwrap();

    // The old writer, still running, learns it was fenced (from its idle
    // heartbeats or its next write) and fails every write from then on.
    // Recovery raised the epoch on a write quorum of every PG, so no write
    // of the old epoch can become durable: the first one fails too, as
    // "outcome unknown" if it raced the fencing.
    let e = wc
        .execute("INSERT INTO kv VALUES (300, 300)", &[])
        .await
        .unwrap_err();
    let code = e.code().cloned();
    assert!(
        code == Some(SqlState::READ_ONLY_SQL_TRANSACTION)
            || code == Some(SqlState::from_code("40003")),
        "first write on the fenced writer: {e:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while w.engine.fenced_by().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old writer never learned it was fenced"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(w.engine.fenced_by(), Some(p.engine.volume().epoch()));
    for sql in [
        "INSERT INTO kv VALUES (301, 301)",
        "UPDATE kv SET v = 0",
        "CREATE TABLE t2 (id int8 PRIMARY KEY)",
    ] {
        let e = wc.batch_execute(sql).await.unwrap_err();
        let db = e.as_db_error().expect("a server error");
        assert_eq!(db.code(), &SqlState::READ_ONLY_SQL_TRANSACTION, "{sql}");
        assert!(
            db.message().contains("fenced by a newer writer"),
            "{sql}: {}",
            db.message()
        );
    }
    // Nothing the old writer tried after fencing is on the new writer.
    let rows: Vec<i64> = rc
        .query("SELECT id FROM kv WHERE id >= 100 ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, [100, 200]);
}

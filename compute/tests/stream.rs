//! Big transactions stream their MTR in chunks: over six in-process storage
//! nodes, with a chunk of 16 pages and a pool of 256, a transaction many
//! chunks large commits whole while the commit holds at most two chunks of
//! pages (one being written while the next is built); snapshots (on the writer and on a reader) see none of it before
//! its CPL and all of it after; one that fails after chunks went out leaves
//! no trace; and a crash mid-stream loses the partial transaction on
//! recovery.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use common::replica;
use sextant_compute::btree::Direction;
use sextant_compute::bufpool::POOL_BYTES_MIN;
use sextant_compute::catalog::{ColumnDef, IndexKey, ObjectId};
use sextant_compute::datum::Datum;
use sextant_compute::engine::{Engine, EngineConfig, EngineError, NewIndex, NewTable, Transaction};
use sextant_compute::replica::hub::HubConfig;

const CHUNK_PAGES: usize = 16;
/// Pages one row's insert may add to an MTR past the chunk check: a leaf
/// split up the tree in the table and each of its two indexes.
const ROW_PAGES_MAX: u64 = 16;
/// Rows of the big transactions: about 15 chunks of pages.
const BIG: i64 = 1500;

fn stream_config(mut cfg: EngineConfig) -> EngineConfig {
    cfg.mtr_chunk_pages = CHUNK_PAGES;
    cfg.pool_bytes = POOL_BYTES_MIN;
    // Buffered in memory (spilling is tested elsewhere): the commit streams
    // because the writes pass a quarter of a chunk.
    cfg.txn_memory_bytes = 8 << 20;
    cfg
}

fn col(name: &str) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        type_oid: if name == "id" { 20 } else { 25 },
        type_mod: -1,
        not_null: false,
        default: None,
        missing: None,
    }
}

struct Table {
    id: ObjectId,
    by_v: ObjectId,
    by_u: ObjectId,
}

/// `t (id int8 PRIMARY KEY, v text, u text)`, indexed on `v` (whose order
/// is not the key order, so index leaves are revisited across chunks) and
/// uniquely on `u`.
async fn create(engine: &Engine) -> Table {
    let mut t = engine.begin();
    let id = t
        .create_table(NewTable {
            name: "t".into(),
            columns: vec![col("id"), col("v"), col("u")],
            primary_key: vec![0],
        })
        .unwrap();
    let by_v = t
        .create_index(
            id,
            NewIndex {
                name: "t_v".into(),
                unique: false,
                keys: vec![IndexKey::Column(1)],
                constraint: false,
            },
        )
        .unwrap();
    let by_u = t
        .create_index(
            id,
            NewIndex {
                name: "t_u".into(),
                unique: true,
                keys: vec![IndexKey::Column(2)],
                constraint: false,
            },
        )
        .unwrap();
    t.commit().await.unwrap();
    Table { id, by_v, by_u }
}

fn v_of(id: i64, tag: &str) -> String {
    let scrambled = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    format!("{scrambled:06x}-{tag}-{}", "p".repeat(300))
}

fn row(id: i64, tag: &str, u: &str) -> Vec<Datum> {
    vec![
        Datum::Int8(id),
        Datum::Text(v_of(id, tag)),
        Datum::Text(u.into()),
    ]
}

fn text(d: &Datum) -> String {
    match d {
        Datum::Text(s) => s.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

/// Every row, as `id -> (v, u)`, checked against both indexes.
fn contents(t: &Transaction, table: &Table) -> BTreeMap<i64, (String, String)> {
    let all = |dir| {
        t.scan(table.id, Bound::Unbounded, Bound::Unbounded, dir)
            .unwrap()
    };
    let rows: BTreeMap<i64, (String, String)> = all(Direction::Forward)
        .into_iter()
        .map(|(_, r)| {
            let Datum::Int8(id) = r[0] else {
                panic!("id {:?}", r[0])
            };
            (id, (text(&r[1]), text(&r[2])))
        })
        .collect();
    for (ix, field) in [(table.by_v, 0), (table.by_u, 1)] {
        let via = t
            .index_scan(
                table.id,
                ix,
                Bound::Unbounded,
                Bound::Unbounded,
                Direction::Forward,
            )
            .unwrap();
        assert_eq!(via.len(), rows.len(), "index {ix} has every row once");
        let mut last: Option<String> = None;
        for (_, r) in via {
            let Datum::Int8(id) = r[0] else {
                panic!("id {:?}", r[0])
            };
            let got = text(&r[1 + field]);
            let want = &rows[&id];
            assert_eq!(&got, if field == 0 { &want.0 } else { &want.1 });
            assert!(last.as_ref().is_none_or(|l| *l <= got), "index order");
            last = Some(got);
        }
    }
    rows
}

fn expected(ids: impl IntoIterator<Item = i64>, tag: &str) -> BTreeMap<i64, (String, String)> {
    ids.into_iter()
        .map(|i| (i, (v_of(i, tag), format!("u{i}"))))
        .collect()
}

/// Commits rows `ids` tagged `tag` in one small transaction each 100.
async fn load(engine: &Engine, table: &Table, ids: std::ops::Range<i64>, tag: &str) {
    let ids: Vec<i64> = ids.collect();
    for part in ids.chunks(100) {
        let mut t = engine.begin();
        for &i in part {
            t.put(table.id, row(i, tag, &format!("u{i}"))).unwrap();
        }
        t.commit().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_of_many_chunks_commits_whole_holding_at_most_two() {
    let storage = common::Storage::start().await;
    let engine = storage
        .engine_with(stream_config(common::engine_config()))
        .await;
    let table = create(&engine).await;
    load(&engine, &table, 0..200, "old").await;
    let start = engine.commit_stats();

    let before = engine.begin();
    let mut big = engine.begin();
    for i in 0..BIG {
        // Rewrites the 200 committed rows, adds the rest.
        big.put(table.id, row(i, "new", &format!("u{i}"))).unwrap();
    }
    let commit = tokio::spawn(big.commit());
    // Snapshots taken while the chunks go out see none of it.
    let mut mid_stream = 0;
    while !commit.is_finished() {
        let chunks_before = engine.commit_stats().chunks;
        let s = engine.begin();
        let n = s
            .scan(
                table.id,
                Bound::Unbounded,
                Bound::Unbounded,
                Direction::Forward,
            )
            .unwrap()
            .len();
        assert!(n == 200 || n == BIG as usize, "a snapshot saw {n} rows");
        if n == 200 && chunks_before > start.chunks {
            mid_stream += 1;
        }
        drop(s);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let lsn = commit.await.unwrap().unwrap();
    assert!(mid_stream > 0, "no snapshot was taken mid-stream");

    let stats = engine.commit_stats();
    let chunks = stats.chunks - start.chunks;
    assert!(chunks >= 6, "{chunks} chunks streamed");
    assert!(
        stats.mtr_pages_max <= 2 * CHUNK_PAGES as u64 + ROW_PAGES_MAX,
        "an MTR held {} pages (chunks of {CHUNK_PAGES})",
        stats.mtr_pages_max
    );
    assert_eq!(stats.transactions - start.transactions, 1);
    assert!(
        engine.pool().stats().evictions > 0,
        "the pool was too small to keep every chunk: pages were read back"
    );

    assert_eq!(contents(&before, &table), expected(0..200, "old"));
    drop(before);
    let after = engine.begin();
    assert!(after.snapshot() >= lsn);
    assert_eq!(contents(&after, &table), expected(0..BIG, "new"));
    drop(after);

    // Durable as one: a restart recovers all of it.
    drop(engine);
    let engine = storage
        .engine_with(stream_config(common::engine_config()))
        .await;
    assert_eq!(contents(&engine.begin(), &table), expected(0..BIG, "new"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_transaction_failing_after_chunks_went_out_leaves_no_trace() {
    let storage = common::Storage::start().await;
    let engine = storage
        .engine_with(stream_config(common::engine_config()))
        .await;
    let table = create(&engine).await;
    load(&engine, &table, 0..200, "old").await;

    let mut big = engine.begin();
    // Committed after `big` began, with a unique value `big` also writes,
    // near the end of its key order: found after most chunks went out.
    let mut other = engine.begin();
    other
        .insert(table.id, row(1_000_000, "other", "taken"))
        .unwrap();
    other.commit().await.unwrap();
    for i in 1000..1000 + BIG {
        let u = if i == 1000 + BIG - 10 {
            "taken".to_string()
        } else {
            format!("u{i}")
        };
        big.insert(table.id, row(i, "big", &u)).unwrap();
    }
    // Updates of committed rows too, so existing pages are undone.
    for i in 0..200 {
        big.put(table.id, row(i, "big", &format!("u{i}"))).unwrap();
    }
    let start = engine.commit_stats();
    let err = big.commit().await.unwrap_err();
    assert!(
        matches!(err, EngineError::UniqueViolation { ref constraint, .. } if constraint == "t_u"),
        "{err}"
    );
    let stats = engine.commit_stats();
    assert!(
        stats.chunks > start.chunks,
        "chunks went out before the failure"
    );
    assert_eq!(stats.compensated - start.compensated, 1);

    let mut want = expected(0..200, "old");
    want.insert(1_000_000, (v_of(1_000_000, "other"), "taken".into()));
    assert_eq!(contents(&engine.begin(), &table), want);

    // The pages the failed chunks allocated are reused, from zeros.
    let mut again = engine.begin();
    for i in 1000..1000 + BIG {
        again
            .insert(table.id, row(i, "again", &format!("u{i}")))
            .unwrap();
    }
    again.commit().await.unwrap();
    want.extend(expected(1000..1000 + BIG, "again"));
    assert_eq!(contents(&engine.begin(), &table), want);

    drop(engine);
    let engine = storage
        .engine_with(stream_config(common::engine_config()))
        .await;
    assert_eq!(contents(&engine.begin(), &table), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_stream_leaves_none_of_the_transaction_after_recovery() {
    let storage = common::Storage::start().await;
    let engine = storage
        .engine_with(stream_config(common::engine_config()))
        .await;
    let table = create(&engine).await;
    load(&engine, &table, 0..200, "old").await;

    engine.fail_streams_after_chunks(3);
    let start = engine.commit_stats();
    let mut big = engine.begin();
    for i in 0..BIG {
        big.put(table.id, row(i, "lost", &format!("u{i}"))).unwrap();
    }
    let err = big.commit().await.unwrap_err();
    assert!(matches!(err, EngineError::Stopped(_)), "{err}");
    assert_eq!(engine.commit_stats().chunks - start.chunks, 3);
    // The engine is as good as dead: nothing more commits.
    let mut t = engine.begin();
    t.put(table.id, row(5, "late", "u5")).unwrap();
    assert!(matches!(
        t.commit().await.unwrap_err(),
        EngineError::Stopped(_)
    ));
    drop(engine);

    let engine = storage
        .engine_with(stream_config(common::engine_config()))
        .await;
    assert_eq!(contents(&engine.begin(), &table), expected(0..200, "old"));
    // And the volume goes on from there.
    let mut big = engine.begin();
    for i in 0..BIG {
        big.put(table.id, row(i, "kept", &format!("u{i}"))).unwrap();
    }
    big.commit().await.unwrap();
    assert_eq!(contents(&engine.begin(), &table), expected(0..BIG, "kept"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_a_streamed_transaction_whole_at_its_commit() {
    let storage = common::Storage::start().await;
    let w = replica::writer_with(
        &storage,
        HubConfig::default(),
        stream_config(replica::engine_config()),
    )
    .await;
    let table = create(&w.engine).await;
    load(&w.engine, &table, 0..200, "old").await;
    let r = replica::reader(&storage, w.redo_addr, "reader-1").await;
    r.catch_up_to(w.engine.vdl()).await;
    let reader = r.follower.engine().clone();
    // The reader caches the rows the big transaction rewrites.
    let before = reader.begin();
    assert_eq!(contents(&before, &table), expected(0..200, "old"));

    let mut big = w.engine.begin();
    for i in 0..BIG {
        big.put(table.id, row(i, "new", &format!("u{i}"))).unwrap();
    }
    let commit = tokio::spawn(big.commit());
    while !commit.is_finished() {
        let s = reader.begin();
        let n = s
            .scan(
                table.id,
                Bound::Unbounded,
                Bound::Unbounded,
                Direction::Forward,
            )
            .unwrap()
            .len();
        assert!(
            n == 200 || n == BIG as usize,
            "a reader snapshot saw {n} rows"
        );
        drop(s);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let lsn = commit.await.unwrap().unwrap();
    r.catch_up_to(lsn).await;

    let at = reader.begin();
    assert!(at.snapshot() >= lsn);
    assert_eq!(contents(&at, &table), expected(0..BIG, "new"));
    assert_eq!(contents(&before, &table), expected(0..200, "old"));
    assert_eq!(r.follower.catch_ups(), 0, "followed the stream, no jump");
    drop((at, before));
    r.stop().await;
    w.pg.stop().await;
}

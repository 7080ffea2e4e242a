//! The engine over six in-process storage nodes: rows and DDL survive a
//! restart, snapshots see exactly their LSN's state while commits land,
//! concurrent writers lose no update and conflicts fail with a serialization
//! failure, indexes (column, expression, unique) stay in step with rows,
//! and commits arriving together are grouped without changing any of that.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use sextant_compute::btree::Direction;
use sextant_compute::catalog::{ColumnDef, IndexKey};
use sextant_compute::datum::Datum;
use sextant_compute::engine::{Engine, EngineConfig, EngineError, NewIndex, NewTable};
use sextant_storage::types::Lsn;

fn col(name: &str, oid: u32) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        type_oid: oid,
        type_mod: -1,
        not_null: false,
        default: None,
        missing: None,
    }
}

async fn kv_table(engine: &Engine, name: &str) -> u64 {
    let mut t = engine.begin();
    let id = t
        .create_table(NewTable {
            name: name.into(),
            columns: vec![col("id", 20), col("v", 25)],
            primary_key: vec![0],
        })
        .unwrap();
    t.commit().await.unwrap();
    id
}

fn row(id: i64, v: &str) -> Vec<Datum> {
    vec![Datum::Int8(id), Datum::Text(v.to_string())]
}

fn value(r: &[Datum]) -> String {
    match &r[1] {
        Datum::Text(s) => s.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_and_ddl_survive_a_restart_in_key_order() {
    let storage = common::Storage::start().await;
    let engine = storage.engine().await;
    let table = kv_table(&engine, "kv").await;
    let payload = "x".repeat(300);
    for chunk in 0..10 {
        let mut t = engine.begin();
        for i in 0..200 {
            let id = chunk * 200 + i;
            t.insert(table, row(id, &format!("{id}-{payload}")))
                .unwrap();
        }
        t.commit().await.unwrap();
    }
    let mut t = engine.begin();
    t.delete(table, &t.encode_pk(table, &[Datum::Int8(7)]).unwrap())
        .unwrap();
    t.commit().await.unwrap();
    drop(engine);

    let engine = storage.engine().await;
    let t = engine.begin();
    let def = t
        .catalog()
        .table_by_name("kv")
        .expect("table survives")
        .clone();
    assert_eq!(def.id, table);
    let rows = t
        .scan(
            table,
            Bound::Unbounded,
            Bound::Unbounded,
            Direction::Forward,
        )
        .unwrap();
    assert_eq!(rows.len(), 1999);
    let ids: Vec<i64> = rows
        .iter()
        .map(|(_, r)| {
            if let Datum::Int8(i) = r[0] {
                i
            } else {
                panic!()
            }
        })
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert!(!ids.contains(&7));
    assert_eq!(
        value(&t.get(table, &[Datum::Int8(1234)]).unwrap().unwrap()),
        format!("1234-{payload}")
    );
    let back = t
        .scan(
            table,
            Bound::Included(&[Datum::Int8(10)]),
            Bound::Excluded(&[Datum::Int8(20)]),
            Direction::Backward,
        )
        .unwrap();
    let ids: Vec<i64> = back
        .iter()
        .map(|(_, r)| {
            if let Datum::Int8(i) = r[0] {
                i
            } else {
                panic!()
            }
        })
        .collect();
    assert_eq!(ids, (10..20).rev().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_sees_exactly_its_lsn_while_commits_land() {
    let storage = common::Storage::start().await;
    let engine = storage.engine().await;
    let table = kv_table(&engine, "kv").await;
    let mut model: BTreeMap<i64, String> = BTreeMap::new();
    let mut history: Vec<(Lsn, BTreeMap<i64, String>)> = Vec::new();
    let mut readers = Vec::new();
    for round in 0..30i64 {
        // Hold a reader open at the state before this round.
        readers.push((engine.begin(), model.clone()));
        let mut t = engine.begin();
        for k in 0..20 {
            let id = (round * 7 + k * 13) % 50;
            if (round + k) % 5 == 0 {
                t.delete(table, &t.encode_pk(table, &[Datum::Int8(id)]).unwrap())
                    .unwrap();
                model.remove(&id);
            } else {
                let v = format!("r{round}k{k}");
                t.put(table, row(id, &v)).unwrap();
                model.insert(id, v);
            }
        }
        let lsn = t.commit().await.unwrap();
        history.push((lsn, model.clone()));
    }
    let check = |t: &sextant_compute::engine::Transaction, want: &BTreeMap<i64, String>| {
        let rows = t
            .scan(
                table,
                Bound::Unbounded,
                Bound::Unbounded,
                Direction::Forward,
            )
            .unwrap();
        let got: BTreeMap<i64, String> = rows
            .iter()
            .map(|(_, r)| {
                (
                    if let Datum::Int8(i) = r[0] {
                        i
                    } else {
                        panic!()
                    },
                    value(r),
                )
            })
            .collect();
        assert_eq!(&got, want, "snapshot {}", t.snapshot());
    };
    for (t, want) in &readers {
        check(t, want);
    }
    for (lsn, want) in &history {
        check(&engine.begin_at(*lsn), want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_lose_no_update_and_conflicts_are_serialization_failures() {
    let storage = common::Storage::start().await;
    let engine = storage.engine().await;
    let table = kv_table(&engine, "counters").await;
    let mut t = engine.begin();
    for k in 0..4 {
        t.insert(table, row(k, "0")).unwrap();
    }
    t.commit().await.unwrap();

    let committed = Arc::new(std::sync::Mutex::new(Vec::<(Lsn, i64, i64)>::new()));
    let conflicts = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..8i64 {
        let engine = engine.clone();
        let committed = committed.clone();
        let conflicts = conflicts.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < 15 {
                let key = (w + done) % 4;
                let mut t = engine.begin();
                let cur: i64 = value(&t.get(table, &[Datum::Int8(key)]).unwrap().unwrap())
                    .parse()
                    .unwrap();
                t.put(table, row(key, &(cur + 1).to_string())).unwrap();
                match t.commit().await {
                    Ok(lsn) => {
                        // A returned commit is in every later snapshot.
                        assert!(
                            engine.vdl() >= lsn,
                            "VDL {} below commit {lsn}",
                            engine.vdl()
                        );
                        committed.lock().unwrap().push((lsn, key, cur + 1));
                        done += 1;
                    }
                    Err(EngineError::SerializationFailure(_)) => {
                        conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(e) => panic!("unexpected commit error: {e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let t = engine.begin();
    let mut per_key = BTreeMap::new();
    let mut log = committed.lock().unwrap().clone();
    log.sort();
    // Serial replay in commit order: each commit saw the previous value.
    for (lsn, key, v) in &log {
        let prev = per_key.insert(*key, *v).unwrap_or(0);
        assert_eq!(prev + 1, *v, "commit at {lsn} on key {key} lost an update");
    }
    for k in 0..4i64 {
        let got: i64 = value(&t.get(table, &[Datum::Int8(k)]).unwrap().unwrap())
            .parse()
            .unwrap();
        assert_eq!(got, per_key[&k]);
    }
    assert_eq!(log.len(), 8 * 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_follow_rows_and_unique_ones_refuse_duplicates() {
    let storage = common::Storage::start().await;
    let engine = storage.engine().await;
    // Expression "upper(v)": the SQL layer's job, a closure here.
    engine.set_index_key_fn(Arc::new(|_t, ix, row| match (&ix.keys[0], &row[1]) {
        (IndexKey::Expr(e), Datum::Text(s)) if e == "upper(v)" => {
            Ok(vec![Datum::Text(s.to_uppercase())])
        }
        (IndexKey::Expr(_), Datum::Null) => Ok(vec![Datum::Null]),
        (k, v) => Err(format!("cannot evaluate {k:?} on {v:?}").into()),
    }));
    let table = kv_table(&engine, "kv").await;
    let mut t = engine.begin();
    for i in 0..100 {
        t.insert(table, row(i, &format!("site{}", i % 10))).unwrap();
    }
    t.commit().await.unwrap();

    // Created on a table with rows: they are indexed at commit.
    let mut t = engine.begin();
    let by_v = t
        .create_index(
            table,
            NewIndex {
                name: "kv_v".into(),
                unique: false,
                keys: vec![IndexKey::Column(1)],
                constraint: false,
            },
        )
        .unwrap();
    let by_upper = t
        .create_index(
            table,
            NewIndex {
                name: "kv_upper".into(),
                unique: false,
                keys: vec![IndexKey::Expr("upper(v)".into())],
                constraint: false,
            },
        )
        .unwrap();
    t.commit().await.unwrap();

    let mut t = engine.begin();
    t.put(table, row(3, "moved")).unwrap();
    // Own writes show in index scans before commit.
    let own = t
        .index_scan(
            table,
            by_v,
            Bound::Included(&[Datum::Text("moved".into())]),
            Bound::Included(&[Datum::Text("moved".into())]),
            Direction::Forward,
        )
        .unwrap();
    assert_eq!(own.len(), 1);
    t.commit().await.unwrap();

    let t = engine.begin();
    let site3 = t
        .index_scan(
            table,
            by_v,
            Bound::Included(&[Datum::Text("site3".into())]),
            Bound::Included(&[Datum::Text("site3".into())]),
            Direction::Forward,
        )
        .unwrap();
    let ids: Vec<i64> = site3
        .iter()
        .map(|(_, r)| {
            if let Datum::Int8(i) = r[0] {
                i
            } else {
                panic!()
            }
        })
        .collect();
    assert_eq!(ids, vec![13, 23, 33, 43, 53, 63, 73, 83, 93]);
    let upper = t
        .index_scan(
            table,
            by_upper,
            Bound::Included(&[Datum::Text("SITE7".into())]),
            Bound::Included(&[Datum::Text("SITE7".into())]),
            Direction::Backward,
        )
        .unwrap();
    assert_eq!(upper.len(), 10);
    drop(t);

    // Unique: caught at statement time, and again at commit when two
    // transactions race.
    let mut t = engine.begin();
    let uniq = t.create_index(
        table,
        NewIndex {
            name: "kv_v_u".into(),
            unique: true,
            keys: vec![IndexKey::Column(1)],
            constraint: false,
        },
    );
    t.commit()
        .await
        .map(|_| ())
        .expect_err("existing duplicates make the unique index fail");
    let _ = uniq;
    let table2 = kv_table(&engine, "names").await;
    let mut t = engine.begin();
    let u = t
        .create_index(
            table2,
            NewIndex {
                name: "names_v".into(),
                unique: true,
                keys: vec![IndexKey::Column(1)],
                constraint: false,
            },
        )
        .unwrap();
    t.commit().await.unwrap();
    let mut a = engine.begin();
    let mut b = engine.begin();
    a.insert(table2, row(1, "alice")).unwrap();
    assert!(matches!(
        a.insert(table2, row(2, "alice")),
        Err(EngineError::UniqueViolation { .. })
    ));
    b.insert(table2, row(3, "alice")).unwrap();
    a.commit().await.unwrap();
    assert!(matches!(
        b.commit().await,
        Err(EngineError::UniqueViolation { .. })
    ));
    let t = engine.begin();
    let rows = t
        .index_scan(
            table2,
            u,
            Bound::Unbounded,
            Bound::Unbounded,
            Direction::Forward,
        )
        .unwrap();
    assert_eq!(rows.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_two_storage_nodes_mid_load_loses_no_acknowledged_transaction() {
    let mut storage = common::Storage::start().await;
    let engine = storage.engine().await;
    let table = kv_table(&engine, "kv").await;
    let mut acked = Vec::new();
    for i in 0..60i64 {
        if i == 20 {
            storage.stop(0).await;
            storage.stop(3).await;
        }
        let mut t = engine.begin();
        t.insert(table, row(i, &format!("v{i}"))).unwrap();
        t.insert(table, row(1000 + i, &format!("w{i}"))).unwrap();
        t.commit().await.unwrap();
        acked.push(i);
    }
    drop(engine);
    storage.restart(0).await;
    let engine = storage.engine().await;
    let t = engine.begin();
    for i in acked {
        assert_eq!(
            value(&t.get(table, &[Datum::Int8(i)]).unwrap().unwrap()),
            format!("v{i}")
        );
        assert_eq!(
            value(&t.get(table, &[Datum::Int8(1000 + i)]).unwrap().unwrap()),
            format!("w{i}")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_larger_than_its_memory_budget_spills_and_commits_whole() {
    let storage = common::Storage::start().await;
    let engine = storage.engine().await;
    let table = kv_table(&engine, "big").await;
    let mut t = engine.begin();
    let payload = "p".repeat(200);
    for i in 0..5000i64 {
        t.insert(table, row(i, &format!("{i}{payload}"))).unwrap();
    }
    // Own writes, spilled or not, are visible before commit.
    assert_eq!(
        value(&t.get(table, &[Datum::Int8(3)]).unwrap().unwrap()),
        format!("3{payload}")
    );
    assert!(matches!(
        t.insert(table, row(4, "again")),
        Err(EngineError::UniqueViolation { .. })
    ));
    t.delete(table, &t.encode_pk(table, &[Datum::Int8(10)]).unwrap())
        .unwrap();
    let n = t
        .scan(
            table,
            Bound::Unbounded,
            Bound::Unbounded,
            Direction::Forward,
        )
        .unwrap()
        .len();
    assert_eq!(n, 4999);
    t.commit().await.unwrap();

    let t = engine.begin();
    let rows = t
        .scan(
            table,
            Bound::Unbounded,
            Bound::Unbounded,
            Direction::Forward,
        )
        .unwrap();
    assert_eq!(rows.len(), 4999);
    assert!(t.get(table, &[Datum::Int8(10)]).unwrap().is_none());
    assert_eq!(
        value(&t.get(table, &[Datum::Int8(4999)]).unwrap().unwrap()),
        format!("4999{payload}")
    );
}

/// Many transactions committing at once share MTRs (group commit), yet each
/// is durable when acknowledged, a snapshot at its commit LSN sees exactly
/// the commits at or below that LSN (commit order, groups atomic), and a
/// transaction that loses a conflict inside a group fails alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_are_grouped_visible_in_order_and_fail_alone() {
    let storage = common::Storage::start().await;
    let engine = storage.engine().await;
    let table = kv_table(&engine, "g").await;
    let before = engine.commit_stats();
    const SOLO: i64 = 64;
    const PAIRS: i64 = 16;
    let start = Arc::new(tokio::sync::Barrier::new((SOLO + 2 * PAIRS) as usize));
    let mut tasks = Vec::new();
    // Distinct keys: every one must commit.
    for i in 0..SOLO {
        let (engine, start) = (engine.clone(), start.clone());
        let mut t = engine.begin();
        t.insert(table, row(i, "solo")).unwrap();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            (i, t.commit().await, engine)
        }));
    }
    // Pairs from one snapshot writing one key: exactly one may commit,
    // the other is a serialization failure (first committer wins).
    for p in 0..PAIRS {
        let key = 1000 + p;
        for side in ["left", "right"] {
            let (engine, start) = (engine.clone(), start.clone());
            let mut t = engine.begin();
            t.insert(table, row(key, side)).unwrap();
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                (key, t.commit().await, engine)
            }));
        }
    }
    // Hold the pipeline until every commit has queued, so they form groups
    // whatever the scheduling.
    let paused = engine.pause_commits().await;
    while engine.commit_stats().waiting < (SOLO + 2 * PAIRS) as u64 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    drop(paused);
    let mut committed: BTreeMap<i64, Lsn> = BTreeMap::new();
    let mut snapshots = Vec::new();
    let mut lost = 0;
    for task in tasks {
        let (key, outcome, engine) = task.await.unwrap();
        match outcome {
            Ok(lsn) => {
                assert!(engine.vdl() >= lsn, "acknowledged before durable");
                assert!(
                    committed.insert(key, lsn).is_none(),
                    "both sides of pair {key} committed"
                );
                snapshots.push((lsn, engine.begin_at(lsn)));
            }
            Err(EngineError::SerializationFailure(_)) => {
                assert!(key >= 1000, "a transaction with its own key failed");
                lost += 1;
            }
            Err(e) => panic!("unexpected commit error for {key}: {e}"),
        }
    }
    assert_eq!(lost, PAIRS, "one side of each pair loses");
    assert_eq!(committed.len() as i64, SOLO + PAIRS);
    let stats = engine.commit_stats();
    let (groups, txns) = (
        stats.groups - before.groups,
        stats.transactions - before.transactions,
    );
    assert_eq!(txns as i64, SOLO + PAIRS, "every commit counted once");
    // Everything queued while paused went as one group (one MTR), and the
    // conflicts inside it were resolved member by member.
    assert_eq!(groups, 1, "{txns} commits took {groups} groups");
    for (lsn, snap) in &snapshots {
        let seen: Vec<i64> = snap
            .scan(
                table,
                Bound::Unbounded,
                Bound::Unbounded,
                Direction::Forward,
            )
            .unwrap()
            .into_iter()
            .map(|(_, r)| match r[0] {
                Datum::Int8(k) => k,
                ref other => panic!("unexpected key {other:?}"),
            })
            .collect();
        let expected: Vec<i64> = committed
            .iter()
            .filter(|(_, l)| *l <= lsn)
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(seen, expected, "snapshot at {lsn}");
    }
    // The surviving side of each pair is the value stored.
    let t = engine.begin();
    for p in 0..PAIRS {
        let r = t.get(table, &[Datum::Int8(1000 + p)]).unwrap().unwrap();
        assert!(["left", "right"].contains(&value(&r).as_str()));
    }
}

/// Polls `done` every few milliseconds for up to 20 s.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// While the last group sent is not durable, the pipeline sends no other:
/// the commits that queue meanwhile wait, and then go together as one
/// group, each durable when acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_queued_behind_a_group_in_flight_go_as_one_group() {
    let mut storage = common::Storage::start().await;
    let cfg = EngineConfig {
        group_wait_max: std::time::Duration::from_secs(60),
        ..common::engine_config()
    };
    let engine = storage.engine_with(cfg).await;
    let table = kv_table(&engine, "held").await;
    // Three of six nodes down: no write quorum, so nothing becomes durable.
    for i in 0..3 {
        storage.stop(i).await;
    }
    let before = engine.commit_stats();
    let commit = |key: i64| {
        let engine = engine.clone();
        let mut t = engine.begin();
        t.insert(table, row(key, "v")).unwrap();
        tokio::spawn(async move { (t.commit().await, engine) })
    };
    let first = commit(1);
    wait_until("the first commit is sent", || {
        engine.commit_stats().groups == before.groups + 1
    })
    .await;
    let rest: Vec<_> = (2..=5).map(commit).collect();
    wait_until("four commits queue", || engine.commit_stats().waiting == 4).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let held = engine.commit_stats();
    assert_eq!(held.groups, before.groups + 1, "a second group went out");
    assert_eq!(held.waiting, 4, "the queued commits were taken");
    for i in 0..3 {
        storage.restart(i).await;
    }
    for task in std::iter::once(first).chain(rest) {
        let (outcome, engine) = task.await.unwrap();
        let lsn = outcome.expect("commit");
        assert!(engine.vdl() >= lsn, "acknowledged before durable");
    }
    let after = engine.commit_stats();
    assert_eq!(
        after.groups - before.groups,
        2,
        "the first group, then the other four"
    );
    assert_eq!(after.transactions - before.transactions, 5);
    let t = engine.begin();
    for key in 1..=5 {
        assert!(
            t.get(table, &[Datum::Int8(key)]).unwrap().is_some(),
            "row {key}"
        );
    }
}

/// A streamed scan sees what a collected scan sees: the snapshot's rows
/// with this transaction's inserts, updates and deletes merged in key
/// order, within bounds, and it stops when told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_scan_merges_own_writes_in_key_order() {
    let storage = common::Storage::start().await;
    let engine = storage.engine().await;
    let table = kv_table(&engine, "kv").await;
    let mut t = engine.begin();
    for id in (0..100).step_by(2) {
        t.insert(table, row(id, "old")).unwrap();
    }
    t.commit().await.unwrap();

    let mut t = engine.begin();
    // New rows between, before and after the stored ones; replaced and
    // deleted stored rows.
    for id in [-5, 1, 3, 51, 150] {
        t.insert(table, row(id, "new")).unwrap();
    }
    for id in [0, 10, 98] {
        let key = t.encode_pk(table, &[Datum::Int8(id)]).unwrap();
        t.update(table, &key, row(id, "changed")).unwrap();
    }
    for id in [2, 4, 50, 51] {
        let key = t.encode_pk(table, &[Datum::Int8(id)]).unwrap();
        t.delete(table, &key).unwrap();
    }
    for (lo, hi) in [
        (Bound::Unbounded, Bound::Unbounded),
        (
            Bound::Included([Datum::Int8(1)]),
            Bound::Excluded([Datum::Int8(52)]),
        ),
        (Bound::Excluded([Datum::Int8(98)]), Bound::Unbounded),
    ] {
        let lo = lo.as_ref().map(|v| v.as_slice());
        let hi = hi.as_ref().map(|v| v.as_slice());
        let collected = t.scan(table, lo, hi, Direction::Forward).unwrap();
        let mut streamed = Vec::new();
        t.scan_visit(table, lo, hi, |r| {
            streamed.push(r);
            Ok::<bool, EngineError>(true)
        })
        .unwrap();
        assert_eq!(streamed, collected, "{lo:?}..{hi:?}");
    }
    let mut first = Vec::new();
    t.scan_visit(table, Bound::Unbounded, Bound::Unbounded, |(_, r)| {
        first.push(value(&r));
        Ok::<bool, EngineError>(first.len() < 4)
    })
    .unwrap();
    assert_eq!(first, ["new", "changed", "new", "new"]);
}

//! SIGKILL of the engine's process mid-load, at several points, against real
//! storage processes: every acknowledged transaction survives, and no
//! transaction is half there (each row and its two index entries come and go
//! together).

mod support;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::process::{Command, Stdio};
use std::time::Duration;

use sextant_compute::btree::Direction;
use sextant_compute::datum::Datum;
use sextant_compute::engine::{Engine, EngineConfig};
use sextant_storage::volume::VolumeConfig;
use support::ProcCluster;

fn engine_config() -> EngineConfig {
    EngineConfig {
        pool_bytes: 16 << 20,
        volume: VolumeConfig {
            recovery_list_wait: Duration::from_millis(500),
            ..VolumeConfig::default()
        },
        ..EngineConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_engine_mid_load_keeps_every_acknowledged_transaction() {
    let mut c = ProcCluster::start("512KiB");
    let ack_log = c.dir.path().join("acks.log");
    // Kill points in milliseconds after the load starts: early (table just
    // created), mid-load, later, with the volume recovered in between; in
    // the last round two storage nodes die first, and stay dead through
    // recovery.
    for (round, kill_after_ms) in [700u64, 1900, 1300, 1500].into_iter().enumerate() {
        let lose_storage = round == 3;
        let mut child = Command::new(support::sextant_bin())
            .args(["bench", "engine", "--cluster"])
            .arg(&c.cluster_file)
            .args([
                "--duration",
                "60s",
                "--concurrency",
                "4",
                "--keys",
                "1000000000000",
                "--reads",
                "0",
            ])
            .args(["--seed", &round.to_string()])
            .arg("--ack-log")
            .arg(&ack_log)
            .env("SEXTANT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if lose_storage {
            tokio::time::sleep(Duration::from_millis(kill_after_ms / 2)).await;
            c.kill(1);
            c.kill(4);
            tokio::time::sleep(Duration::from_millis(kill_after_ms / 2)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();

        // Whole lines only (`key seq worker`): the kill may land between
        // an acknowledgement and its line. The next round appends after a
        // newline, so a cut line never runs into the next one.
        let log_text = std::fs::read_to_string(&ack_log).unwrap();
        if !log_text.is_empty() && !log_text.ends_with('\n') {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&ack_log)
                .unwrap();
            std::io::Write::write_all(&mut f, b"\n").unwrap();
        }
        let acked: BTreeMap<i64, u64> = log_text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .filter_map(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                let [key, seq, _worker] = fields[..] else {
                    return None;
                };
                Some((key.parse().ok()?, seq.parse().ok()?))
            })
            .collect();
        let engine = tokio::time::timeout(
            Duration::from_secs(30),
            Engine::open(c.cluster(), engine_config()),
        )
        .await
        .expect("engine recovered in time")
        .expect("engine recovered");
        let t = engine.begin();
        let Some(def) = t.catalog().table_by_name("bench_events").cloned() else {
            assert!(
                acked.is_empty(),
                "round {round}: table lost but {} commits were acknowledged",
                acked.len()
            );
            continue;
        };
        for (key, seq) in &acked {
            let row = t.get(def.id, &[Datum::Int8(*key)]).unwrap();
            let row = row.unwrap_or_else(|| panic!("round {round}: acknowledged key {key} lost"));
            match &row[1] {
                Datum::Json(s) => assert!(
                    s.contains(&format!("\"seq\": {seq},")),
                    "round {round}: key {key} holds {s}"
                ),
                other => panic!("unexpected payload {other:?}"),
            }
        }
        // Rows and index entries agree: nothing half-applied.
        let rows = t
            .scan(
                def.id,
                Bound::Unbounded,
                Bound::Unbounded,
                Direction::Forward,
            )
            .unwrap();
        for ix in &def.indexes {
            let entries = t
                .index_scan(
                    def.id,
                    ix.id,
                    Bound::Unbounded,
                    Bound::Unbounded,
                    Direction::Forward,
                )
                .unwrap();
            assert_eq!(
                entries.len(),
                rows.len(),
                "round {round}: index {} disagrees with the table",
                ix.name
            );
        }
        assert!(rows.len() >= acked.len());
        if round > 0 {
            assert!(
                !acked.is_empty(),
                "round {round}: the load acknowledged nothing before the kill"
            );
        }
        eprintln!(
            "round {round}: {} acknowledged, {} rows recovered",
            acked.len(),
            rows.len()
        );
        drop(t);
        drop(engine);
    }
}

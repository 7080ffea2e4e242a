//! Faults against real `sextant storage` processes on loopback: a whole AZ
//! lost, a third node lost and returned, all six killed with SIGKILL, and a
//! node that missed writes catching up by gossip. The volume client runs in
//! the test, so each check sees exactly which commits were acknowledged.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sextant_storage::net::Peer;
use sextant_storage::types::{Lsn, PageId, PgId, RecordBody};
use sextant_storage::volume::{Volume, VolumeConfig};
use sextant_storage::wire::Message;
use support::ProcCluster;

fn config() -> VolumeConfig {
    VolumeConfig {
        request_timeout: Duration::from_millis(500),
        page_read_timeout: Duration::from_millis(500),
        recovery_list_wait: Duration::from_millis(500),
        ..VolumeConfig::default()
    }
}

/// One MTR writing `counter` into the first 8 bytes of `page`.
fn stamp(page: u64, counter: u64) -> Vec<(PageId, RecordBody)> {
    vec![(
        PageId(page),
        RecordBody::Delta {
            offset: 0,
            bytes: Bytes::copy_from_slice(&counter.to_be_bytes()),
        },
    )]
}

fn counter_of(image: &[u8]) -> u64 {
    u64::from_be_bytes(image[..8].try_into().unwrap())
}

async fn open(c: &ProcCluster) -> Volume {
    tokio::time::timeout(Duration::from_secs(20), Volume::open(c.cluster(), config()))
        .await
        .expect("recovery finished in time")
        .expect("recovery succeeded")
}

/// Commits `n` stamps on each of `pages`, returning the last acknowledged
/// counter per page.
async fn commit_stamps(v: &Volume, pages: &[u64], n: u64) -> BTreeMap<u64, u64> {
    let mut acked = BTreeMap::new();
    for i in 1..=n {
        let mut waits = Vec::new();
        for &p in pages {
            waits.push((p, v.submit(stamp(p, i)).await.unwrap()));
        }
        for (p, lsn) in waits {
            v.wait_durable(lsn).await.unwrap();
            acked.insert(p, i);
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_whole_az_keeps_commits_going_and_a_third_loss_stalls_them() {
    let mut c = ProcCluster::start("512KiB");
    let v = open(&c).await;
    let pages = [1u64, 70, 140]; // three PGs
    commit_stamps(&v, &pages, 5).await;

    // AZ a (nodes 1 and 2) goes away: 4 of 6 remain, a write quorum.
    c.kill(0);
    c.kill(1);
    let acked = commit_stamps(&v, &pages, 20).await;
    assert_eq!(
        acked.values().copied().collect::<Vec<_>>(),
        vec![20, 20, 20]
    );

    // A third node: 3 of 6 cannot make a quorum. The commit must not be
    // acknowledged, however long we wait.
    c.kill(2);
    let lsn = v.submit(stamp(1, 21)).await.unwrap();
    let stalled = tokio::time::timeout(Duration::from_secs(3), v.wait_durable(lsn)).await;
    assert!(
        stalled.is_err(),
        "commit acknowledged with only 3 of 6 replicas up: {stalled:?}, VDL {} for LSN {lsn}",
        v.vdl()
    );
    assert!(v.vdl() < lsn);

    // A node returns: the stalled commit completes without being resent by us.
    c.restart(2);
    tokio::time::timeout(Duration::from_secs(15), v.wait_durable(lsn))
        .await
        .expect("commit completes once a quorum is back")
        .unwrap();
    let page = v.get_page(PageId(1), v.vdl()).await.unwrap();
    assert_eq!(counter_of(&page), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_all_six_loses_no_acknowledged_commit() {
    let mut c = ProcCluster::start("512KiB");
    let v = open(&c).await;
    let pages: Vec<u64> = (0..8).map(|i| i * 17).collect();
    let acked: Arc<Mutex<BTreeMap<u64, u64>>> = Arc::default();
    let submitted: Arc<Mutex<BTreeMap<u64, u64>>> = Arc::default();

    // Writers run flat out while every node is killed at once.
    let mut writers = Vec::new();
    for &p in &pages {
        let v = v.clone();
        let acked = acked.clone();
        let submitted = submitted.clone();
        writers.push(tokio::spawn(async move {
            for i in 1.. {
                submitted.lock().unwrap().insert(p, i);
                let Ok(lsn) = v.submit(stamp(p, i)).await else {
                    return;
                };
                if tokio::time::timeout(Duration::from_secs(2), v.wait_durable(lsn))
                    .await
                    .is_err()
                {
                    return;
                }
                acked.lock().unwrap().insert(p, i);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..6 {
        c.kill(i);
    }
    for w in writers {
        w.await.unwrap();
    }
    drop(v);
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.values().all(|n| *n > 0),
        "some page got no commit before the kill: {acked:?}"
    );

    for i in 0..6 {
        c.restart(i);
    }
    let v = open(&c).await;
    let vdl = v.vdl();
    for &p in &pages {
        let image = v.get_page(PageId(p), vdl).await.unwrap();
        let got = counter_of(&image);
        let want = acked[&p];
        assert!(
            got >= want,
            "page {p}: acknowledged counter {want} lost, recovered {got}"
        );
        assert!(
            got <= submitted.lock().unwrap()[&p],
            "page {p}: counter {got} was never written"
        );
    }
    // The recovered volume takes new commits.
    let lsn = v.commit(stamp(pages[0], 1_000_000)).await.unwrap();
    assert!(lsn > vdl);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_missed_writes_catches_up_by_gossip() {
    let mut c = ProcCluster::start("512KiB");
    let v = open(&c).await;
    commit_stamps(&v, &[3], 3).await;
    c.kill(5);
    let acked = commit_stamps(&v, &[3, 9], 30).await;
    assert_eq!(acked[&3], 30);
    // The writer keeps durable records for a replica it has not sent them
    // to only while that replica answers (within the request timeout); one
    // more commit after that lets them go.
    tokio::time::sleep(config().request_timeout * 2).await;
    let last = v.submit(stamp(3, 31)).await.unwrap();
    v.wait_durable(last).await.unwrap();
    let vdl = v.vdl();
    c.restart(5);

    // The writer only resends to a replica while records are not durable
    // or a live replica still lacks them; these are durable and node 6 was
    // down, so it can only get them from its peers.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let scl = c.scl(5, PgId(0)).await.unwrap_or(Lsn::ZERO);
        if scl >= vdl {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 6 stuck at SCL {scl}, VDL {vdl}:\n{}",
            c.log(5)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let peer = Peer::new(c.nodes[5].addr.clone());
    let reply = peer
        .request(
            Message::GetPage {
                pg: PgId(0),
                page: PageId(9),
                lsn: vdl,
                epoch: v.epoch(),
            },
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    match reply {
        Message::Page { image, .. } => assert_eq!(counter_of(&image), 30),
        other => panic!("node 6 did not serve the page: {other:?}"),
    }
}

#[test]
fn bench_volume_prints_one_json_line_and_ends_on_time_without_quorum() {
    let mut c = ProcCluster::start("512KiB");
    let cluster_file = c.cluster_file.clone();
    let run = |dur: &str| {
        let out = std::process::Command::new(support::sextant_bin())
            .args(["bench", "volume", "--cluster"])
            .arg(&cluster_file)
            .args([
                "--duration",
                dur,
                "--concurrency",
                "4",
                "--payload-bytes",
                "64",
            ])
            .env("SEXTANT_LOG", "error")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        serde_json::from_str::<serde_json::Value>(lines[0]).unwrap()
    };
    let ok = run("2s");
    assert!(ok["commits"].as_u64().unwrap() > 0, "{ok}");
    assert_eq!(ok["errors"].as_u64().unwrap(), 0, "{ok}");
    for key in ["commits_per_s", "p50_ms", "p99_ms", "vdl"] {
        assert!(ok[key].is_number(), "{key} missing in {ok}");
    }

    for i in 0..3 {
        c.kill(i);
    }
    let started = Instant::now();
    let stalled = run("2s");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bench overran its duration"
    );
    assert_eq!(stalled["commits"].as_u64().unwrap(), 0, "{stalled}");
    assert!(stalled["errors"].as_u64().unwrap() > 0, "{stalled}");
}

/// `--worker-threads` sets how many threads run a node's requests: nodes
/// with several commit and serve reads like the default single one, and a
/// count of zero is refused before the node starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_threads_flag_runs_nodes_and_refuses_zero() {
    let c = ProcCluster::start_with("512KiB", &["--worker-threads", "3"]);
    let v = open(&c).await;
    let acked = commit_stamps(&v, &[1, 70, 140], 50).await; // three PGs
    for (page, counter) in acked {
        let image = v.get_page(PageId(page), v.vdl()).await.unwrap();
        assert_eq!(counter_of(&image), counter, "page {page}");
    }

    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(support::sextant_bin())
        .args(["storage", "--listen", "127.0.0.1:1", "--az", "az-a"])
        .arg("--data")
        .arg(dir.path())
        .args(["--worker-threads", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a node started with no threads");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--worker-threads"), "{err}");
}

//! `sextant bench lag`: how far behind the writer its read replicas are.
//!
//! A writer engine with its redo hub and `--readers` followers run in this
//! process against a storage cluster; workers upsert the `bench engine`
//! events, at full speed or paced to `--rate` commits per second. For every
//! acknowledged commit and every reader, the lag is the time from the
//! commit's acknowledgement until that reader's read point covers the
//! commit's LSN: when a query on the reader would first see it. One JSON
//! line out with p50/p99/max per run (BENCHMARKS.md).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use sextant_compute::engine::{Engine, EngineConfig};
use sextant_compute::replica::follower::{Follower, FollowerConfig};
use sextant_compute::replica::hub::{HubConfig, RedoHub, READERS_MAX};
use sextant_storage::cluster::Cluster;

use super::bench::Latencies;
use super::bench_engine::{bench_table, event};

/// A commit not visible on a reader after this long counts as lost.
const VISIBLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags of `sextant bench lag`.
#[derive(Args, Debug)]
pub struct LagArgs {
    /// The cluster file listing the storage nodes.
    #[arg(long, env = "SEXTANT_CLUSTER")]
    pub cluster: PathBuf,
    /// Read replicas following the writer.
    #[arg(long, default_value_t = 1)]
    pub readers: usize,
    /// How long to upsert.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Upserting workers.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Commits per second across all workers; 0 is as fast as they go.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Distinct keys upserted.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
}

/// Runs the benchmark and prints its JSON line.
pub async fn run(args: LagArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=READERS_MAX).contains(&args.readers),
        "--readers must be between 1 and {READERS_MAX}"
    );
    anyhow::ensure!(
        (1..=1024).contains(&args.concurrency),
        "--concurrency must be between 1 and 1024"
    );
    anyhow::ensure!(args.keys > 0, "--keys must be positive");
    let cluster = Cluster::load(&args.cluster).context("load cluster file")?;
    let engine = Engine::open(cluster.clone(), EngineConfig::default())
        .await
        .context("open the writer's engine")?;
    let hub = RedoHub::attach(&engine, "writer".into(), HubConfig::default());
    let redo = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let redo_addr = redo.local_addr()?;
    tokio::spawn(hub.clone().serve(redo));
    let table = bench_table(&engine).await?;

    let mut readers = Vec::new();
    for i in 0..args.readers {
        let f = Follower::start(
            cluster.clone(),
            EngineConfig::default(),
            FollowerConfig::new(redo_addr.to_string(), format!("reader-{}", i + 1)),
        )
        .await
        .with_context(|| format!("start reader {}", i + 1))?;
        readers.push(Arc::new(f));
    }

    let lags = Arc::new(Mutex::new(Vec::new()));
    let lost = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + args.duration;
    let per_worker = (args.rate > 0)
        .then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate as f64));
    let mut workers = Vec::new();
    for w in 0..args.concurrency as u64 {
        let (engine, readers) = (engine.clone(), readers.clone());
        let (lags, lost, errors) = (lags.clone(), lost.clone(), errors.clone());
        let keys = args.keys;
        workers.push(tokio::spawn(async move {
            let mut pace = per_worker.map(|p| {
                let mut i = tokio::time::interval(p);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                i
            });
            let mut commits = 0u64;
            let mut waiters = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                if let Some(p) = pace.as_mut() {
                    p.tick().await;
                }
                i += 1;
                let key = (w * 7919 + i * 104_729) % keys;
                let mut t = engine.begin();
                let result = match t.put(table, event(key as i64, i, 500)) {
                    Ok(_) => t.commit().await,
                    Err(e) => Err(e),
                };
                let lsn = match result {
                    Ok(lsn) => lsn,
                    Err(e) => {
                        tracing::debug!("commit failed: {e}");
                        errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                };
                let acked = Instant::now();
                commits += 1;
                for r in &readers {
                    let (r, lags, lost) = (r.clone(), lags.clone(), lost.clone());
                    waiters.push(tokio::spawn(async move {
                        if r.wait_for(lsn, VISIBLE_TIMEOUT).await {
                            let us = acked.elapsed().as_micros() as u64;
                            lags.lock().expect("lags").push(us);
                        } else {
                            lost.fetch_add(1, Ordering::Relaxed);
                        }
                    }));
                }
            }
            for w in waiters {
                let _ = w.await;
            }
            commits
        }));
    }
    let mut commits = 0;
    for w in workers {
        commits += w.await.context("join worker")?;
    }
    let secs = started.elapsed().as_secs_f64();
    let lags = Latencies::new(std::mem::take(&mut *lags.lock().expect("lags")));
    let line = serde_json::json!({
        "readers": args.readers,
        "rate": args.rate,
        "concurrency": args.concurrency,
        "commits": commits,
        "commits_per_s": (commits as f64 / secs * 10.0).round() / 10.0,
        "lag_p50_ms": lags.pct_ms(0.5),
        "lag_p99_ms": lags.pct_ms(0.99),
        "lag_max_ms": lags.pct_ms(1.0),
        "not_visible_in_10s": lost.load(Ordering::Relaxed),
        "errors": errors.load(Ordering::Relaxed),
    });
    println!("{line}");
    Ok(())
}

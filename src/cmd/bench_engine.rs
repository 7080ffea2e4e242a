//! `sextant bench engine`: single-row upserts of ~500-byte JSON values into
//! a table with two secondary indexes, then point reads from a warm and a
//! cold buffer pool; one JSON line out, like `bench volume`, so the engine's
//! overhead over raw storage commits is visible side by side.
//!
//! With `--ack-log FILE` it also appends `key value` for every acknowledged
//! commit, which the crash tests compare with what survives a SIGKILL.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use sextant_compute::catalog::{ColumnDef, IndexKey};
use sextant_compute::datum::Datum;
use sextant_compute::engine::{Engine, EngineConfig, EngineError, NewIndex, NewTable};
use sextant_storage::cluster::Cluster;

use super::bench::Latencies;

/// Flags of `sextant bench engine`.
#[derive(Args, Debug)]
pub struct EngineArgs {
    /// The cluster file listing the storage nodes.
    #[arg(long, env = "SEXTANT_CLUSTER")]
    pub cluster: PathBuf,
    /// How long to upsert.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Transactions in flight at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Bytes of each JSON value.
    #[arg(long, default_value_t = 500)]
    pub value_bytes: usize,
    /// Distinct keys upserted.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Point reads measured after the upserts (warm, then cold); 0 skips.
    #[arg(long, default_value_t = 2000)]
    pub reads: u64,
    /// Append `key value` per acknowledged commit to this file.
    #[arg(long)]
    pub ack_log: Option<PathBuf>,
    /// Buffer pool size.
    #[arg(long, default_value_t = 256 << 20)]
    pub pool_bytes: u64,
    /// Shifts the keys written, so runs can write disjoint keys.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

const TABLE: &str = "bench_events";

fn config(args: &EngineArgs) -> EngineConfig {
    EngineConfig {
        pool_bytes: args.pool_bytes,
        ..EngineConfig::default()
    }
}

fn column(name: &str, oid: u32, not_null: bool) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        type_oid: oid,
        type_mod: -1,
        not_null,
        default: None,
        missing: None,
    }
}

/// Runs the benchmark and prints its JSON line.
pub async fn run(args: EngineArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=1024).contains(&args.concurrency),
        "--concurrency must be between 1 and 1024"
    );
    anyhow::ensure!(
        (40..=100_000).contains(&args.value_bytes),
        "--value-bytes must be between 40 and 100000"
    );
    anyhow::ensure!(args.keys > 0, "--keys must be positive");
    let cluster = Cluster::load(&args.cluster).context("load cluster file")?;
    let engine = Engine::open(cluster.clone(), config(&args))
        .await
        .context("open the engine")?;

    let table = bench_table(&engine).await?;

    let ack_log = match &args.ack_log {
        Some(p) => Some(Arc::new(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .context("open the ack log")?,
        ))),
        None => None,
    };
    let errors = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + args.duration;
    let mut workers = Vec::new();
    for w in 0..args.concurrency as u64 {
        let engine = engine.clone();
        let errors = errors.clone();
        let conflicts = conflicts.clone();
        let ack_log = ack_log.clone();
        let keys = args.keys;
        let value_bytes = args.value_bytes;
        let seed = args.seed;
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let key = (seed.wrapping_mul(1_000_003) + w * 7919 + i * 104_729) % keys;
                let row = event(key as i64, i, value_bytes);
                let t0 = Instant::now();
                let mut t = engine.begin();
                let result = match t.put(table, row) {
                    Ok(_) => t.commit().await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(_) => {
                        lat.push(t0.elapsed().as_micros() as u64);
                        if let Some(log) = &ack_log {
                            // One write per line: a kill can then drop
                            // a line but never leave half of one.
                            let line = format!("{key} {i} {w}\n");
                            let mut f = log.lock().expect("ack log");
                            let _ = f.write_all(line.as_bytes());
                        }
                    }
                    Err(EngineError::SerializationFailure(_)) => {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::warn!("commit failed: {e}");
                        errors.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await.context("join worker")?);
    }
    let upsert_secs = started.elapsed().as_secs_f64();
    let commits = lat.len() as u64;
    let upserts = Latencies::new(lat);

    let (warm, cold) = if args.reads > 0 {
        let warm = point_reads(&engine, table, args.keys, args.reads).await?;
        drop(engine);
        let fresh = Engine::open(cluster, config(&args))
            .await
            .context("reopen the engine")?;
        let cold = point_reads(&fresh, table, args.keys, args.reads).await?;
        (warm, cold)
    } else {
        (Latencies::new(Vec::new()), Latencies::new(Vec::new()))
    };
    let line = serde_json::json!({
        "commits": commits,
        "commits_per_s": (commits as f64 / upsert_secs * 100.0).round() / 100.0,
        "p50_ms": upserts.pct_ms(0.5),
        "p99_ms": upserts.pct_ms(0.99),
        "errors": errors.load(Ordering::Relaxed),
        "conflicts": conflicts.load(Ordering::Relaxed),
        "concurrency": args.concurrency,
        "value_bytes": args.value_bytes,
        "warm_read_p50_ms": warm.pct_ms(0.5),
        "warm_read_p99_ms": warm.pct_ms(0.99),
        "cold_read_p50_ms": cold.pct_ms(0.5),
        "cold_read_p99_ms": cold.pct_ms(0.99),
    });
    println!("{line}");
    Ok(())
}

/// The benchmark table (`bench_events`: id, JSON payload, site and temp
/// with an index each), created on first use; returns its id.
pub(super) async fn bench_table(engine: &Engine) -> anyhow::Result<u64> {
    let table = {
        let mut t = engine.begin();
        match t.catalog().table_by_name(TABLE) {
            Some(def) => def.id,
            None => {
                let id = t.create_table(NewTable {
                    name: TABLE.into(),
                    columns: vec![
                        column("id", 20, true),
                        column("payload", 114, true),
                        column("site", 25, false),
                        column("temp", 701, false),
                    ],
                    primary_key: vec![0],
                })?;
                t.create_index(
                    id,
                    NewIndex {
                        name: "bench_site".into(),
                        unique: false,
                        keys: vec![IndexKey::Column(2)],
                        constraint: false,
                    },
                )?;
                t.create_index(
                    id,
                    NewIndex {
                        name: "bench_temp".into(),
                        unique: false,
                        keys: vec![IndexKey::Column(3)],
                        constraint: false,
                    },
                )?;
                t.commit().await?;
                id
            }
        }
    };
    Ok(table)
}

pub(super) fn event(key: i64, seq: u64, value_bytes: usize) -> Vec<Datum> {
    let site = format!("site-{}", key % 100);
    let temp = (key % 400) as f64 / 10.0;
    let head = format!(
        "{{\"id\": {key}, \"seq\": {seq}, \"site\": \"{site}\", \"temp\": {temp}, \"pad\": \""
    );
    let pad = value_bytes.saturating_sub(head.len() + 2);
    let payload = format!("{head}{}\"}}", "x".repeat(pad));
    vec![
        Datum::Int8(key),
        Datum::Json(payload),
        Datum::Text(site),
        Datum::Float8(temp),
    ]
}

async fn point_reads(engine: &Engine, table: u64, keys: u64, n: u64) -> anyhow::Result<Latencies> {
    let mut lat = Vec::with_capacity(n as usize);
    for i in 0..n {
        let key = (i * 7_919) % keys;
        let t0 = Instant::now();
        let t = engine.begin();
        let _row = t.get(table, &[Datum::Int8(key as i64)])?;
        lat.push(t0.elapsed().as_micros() as u64);
    }
    Ok(Latencies::new(lat))
}

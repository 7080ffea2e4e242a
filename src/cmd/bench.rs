//! `sextant bench volume`: drives MTRs through the volume client and reports
//! one JSON line, so scripts can compare runs (see BENCHMARKS.md).
//!
//! The run ends on time whatever storage does: recovery and every commit are
//! bounded by the deadline, and a commit that cannot reach a quorum counts as
//! an error, never as a commit.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::{Args, Subcommand};
use sextant_storage::cluster::{Cluster, REPLICAS, WRITE_QUORUM};
use sextant_storage::types::{PageId, RecordBody, PAGE_SIZE};
use sextant_storage::volume::{Volume, VolumeConfig};

/// Benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Commit MTRs through the volume client against a storage cluster.
    Volume(VolumeArgs),
    /// Measure this machine's floors: one fsync, the write quorum's fsyncs
    /// on a shared disk, one loopback round trip.
    Floor(FloorArgs),
    /// Upserts and point reads through the engine (B+trees, buffer pool,
    /// commit pipeline) against a storage cluster.
    Engine(super::bench_engine::EngineArgs),
    /// Replica lag: from a commit's acknowledgement on the writer until
    /// each in-process read replica's read point covers it.
    Lag(super::bench_lag::LagArgs),
}

/// Flags of `sextant bench floor`.
#[derive(Args, Debug)]
pub struct FloorArgs {
    /// Directory on the disk to measure (the storage nodes' disk).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// How long to measure each floor.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
}

/// Measures the cost of one 4 KiB append + fdatasync, of a write quorum's
/// appends when all six replicas share the disk (see [`quorum_fsync_floor`]),
/// and of one loopback TCP round trip, the floors a single commit cannot
/// beat, and prints one JSON line.
pub async fn floor(args: FloorArgs) -> anyhow::Result<()> {
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let path = args
        .dir
        .join(format!(".sextant-fsync-probe-{}", std::process::id()));
    let dur = args.duration;
    let fsync_us = tokio::task::spawn_blocking({
        let path = path.clone();
        move || -> anyhow::Result<Vec<u64>> {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("open {}", path.display()))?;
            let block = vec![0x5au8; 4096];
            let mut lat = Vec::new();
            let start = Instant::now();
            while start.elapsed() < dur {
                let t = Instant::now();
                f.write_all(&block)?;
                f.sync_data()?;
                lat.push(t.elapsed().as_micros() as u64);
            }
            Ok(lat)
        }
    })
    .await??;
    let _ = std::fs::remove_file(&path);
    let quorum_us = tokio::task::spawn_blocking({
        let dir = args.dir.clone();
        move || quorum_fsync_floor(&dir, dur)
    })
    .await??;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let echo = tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            s.set_nodelay(true).ok();
            let mut b = [0u8; 64];
            while s.read_exact(&mut b).await.is_ok() {
                if s.write_all(&b).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut rtt_us = Vec::new();
    let start = Instant::now();
    let mut b = [0u8; 64];
    while start.elapsed() < dur {
        let t = Instant::now();
        s.write_all(&b).await?;
        s.read_exact(&mut b).await?;
        rtt_us.push(t.elapsed().as_micros() as u64);
    }
    drop(s);
    echo.abort();

    let fsync = Latencies::new(fsync_us);
    let quorum = Latencies::new(quorum_us);
    let rtt = Latencies::new(rtt_us);
    let line = serde_json::json!({
        "fsyncs_per_s": round2(fsync.count() as f64 / dur.as_secs_f64()),
        "fsync_p50_ms": fsync.pct_ms(0.5),
        "fsync_p99_ms": fsync.pct_ms(0.99),
        "quorum_fsync_p50_ms": quorum.pct_ms(0.5),
        "quorum_fsync_p99_ms": quorum.pct_ms(0.99),
        "loopback_rtt_p50_ms": rtt.pct_ms(0.5),
        "loopback_rtt_p99_ms": rtt.pct_ms(0.99),
    });
    println!("{line}");
    Ok(())
}

/// The write quorum's disk floor when the six replicas of a protection
/// group share one disk, as `sextant dev` and `benches/storage.sh` run them:
/// six 4 KiB writes + fdatasync started together, each on its own file, in
/// rounds for `dur`; each round's sample is the time until the fourth is
/// done. A disk that serves flushes one at a time makes this several single
/// fsyncs, not one. The files are written with zeros first and then
/// overwritten in a ring, as the nodes write their preallocated logs, so no
/// sync has metadata to write. Returns the samples in microseconds.
fn quorum_fsync_floor(dir: &std::path::Path, dur: Duration) -> anyhow::Result<Vec<u64>> {
    let paths: Vec<PathBuf> = (0..REPLICAS)
        .map(|i| dir.join(format!(".sextant-quorum-probe-{}-{i}", std::process::id())))
        .collect();
    let lat = quorum_rounds(&paths, dur);
    paths.iter().for_each(|p| drop(std::fs::remove_file(p)));
    lat
}

/// The rounds of [`quorum_fsync_floor`] on files at `paths`, one replica each.
fn quorum_rounds(paths: &[PathBuf], dur: Duration) -> anyhow::Result<Vec<u64>> {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use std::sync::atomic::AtomicBool;
    use std::sync::{mpsc, Barrier};

    const BLOCK: usize = 4096;
    const RING_BLOCKS: u64 = 1024;
    let files = paths
        .iter()
        .map(|p| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(p)
                .with_context(|| format!("open {}", p.display()))?;
            f.write_all(&vec![0u8; BLOCK * RING_BLOCKS as usize])?;
            f.sync_all()?;
            Ok(f)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Every round: all replicas and this thread meet at the gate, then
    // each replica writes its next block, syncs and reports when it was done.
    let gate = Arc::new(Barrier::new(files.len() + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<std::io::Result<Instant>>();
    let replicas: Vec<_> = files
        .into_iter()
        .map(|f| {
            let (gate, stop, tx) = (gate.clone(), stop.clone(), tx.clone());
            std::thread::spawn(move || {
                let block = vec![0x5au8; BLOCK];
                for round in 0u64.. {
                    gate.wait();
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let at = (round % RING_BLOCKS) * BLOCK as u64;
                    let done = f
                        .write_all_at(&block, at)
                        .and_then(|()| f.sync_data())
                        .map(|()| Instant::now());
                    if tx.send(done).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut failure = None;
    let start = Instant::now();
    while start.elapsed() < dur && failure.is_none() {
        let t = Instant::now();
        gate.wait();
        let mut done = Vec::with_capacity(replicas.len());
        for _ in 0..replicas.len() {
            match rx.recv().expect("every replica reports each round") {
                Ok(at) => done.push(at),
                Err(e) => failure = Some(e),
            }
        }
        if failure.is_none() {
            done.sort_unstable();
            lat.push((done[WRITE_QUORUM - 1] - t).as_micros() as u64);
        }
    }
    stop.store(true, Ordering::SeqCst);
    gate.wait();
    for r in replicas {
        r.join().expect("a probe thread does not panic");
    }
    match failure {
        Some(e) => Err(anyhow::Error::new(e).context("quorum fsync probe")),
        None => Ok(lat),
    }
}

/// Sorted latency samples in microseconds.
pub struct Latencies(Vec<u64>);

impl Latencies {
    pub fn new(mut us: Vec<u64>) -> Latencies {
        us.sort_unstable();
        Latencies(us)
    }
    fn count(&self) -> usize {
        self.0.len()
    }
    pub fn pct_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let idx = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        round2(self.0[idx] as f64 / 1000.0)
    }
}

/// Flags of `sextant bench volume`.
#[derive(Args, Debug)]
pub struct VolumeArgs {
    /// The cluster file listing the storage nodes.
    #[arg(long, env = "SEXTANT_CLUSTER")]
    pub cluster: PathBuf,
    /// How long to run.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Commits in flight at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Bytes each MTR changes (one delta).
    #[arg(long, default_value_t = 100)]
    pub payload_bytes: usize,
    /// Pages the MTRs spread over.
    #[arg(long, default_value_t = 1024)]
    pub pages: u64,
    /// A commit not durable after this long counts as an error.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub commit_timeout: Duration,
}

/// Largest concurrency accepted: each worker is a task with an MTR in flight.
const CONCURRENCY_MAX: usize = 4096;

/// Runs the benchmark and prints its JSON line.
pub async fn volume(args: VolumeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=CONCURRENCY_MAX).contains(&args.concurrency),
        "--concurrency must be between 1 and {CONCURRENCY_MAX}"
    );
    anyhow::ensure!(
        (1..=PAGE_SIZE).contains(&args.payload_bytes),
        "--payload-bytes must be between 1 and {PAGE_SIZE}"
    );
    anyhow::ensure!(args.pages > 0, "--pages must be positive");
    let cluster = Cluster::load(&args.cluster).context("load cluster file")?;
    let started = Instant::now();
    let deadline = started + args.duration;
    let errors = Arc::new(AtomicU64::new(0));

    let mut volume = None;
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, Volume::open(cluster.clone(), VolumeConfig::default()))
            .await
        {
            Ok(Ok(v)) => {
                volume = Some(v);
                break;
            }
            Ok(Err(e)) => {
                tracing::warn!("failed to open the volume: {e}");
                errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200).min(left)).await;
            }
            Err(_) => {
                tracing::warn!("recovery did not finish before the deadline (no quorum?)");
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    // The bench writes raw bytes over pages 0..pages: on a volume that holds
    // a database that would destroy it, so refuse.
    if let Some(v) = &volume {
        if v.pg_count() > 0 {
            if let Ok(page0) = v.get_page(PageId(0), v.vdl()).await {
                let magic = &page0[sextant_compute::page::PAGE_HEADER_BYTES..][..4];
                anyhow::ensure!(
                    magic != sextant_compute::superblock::SUPERBLOCK_MAGIC.to_le_bytes(),
                    "this volume holds a Sextant database; bench volume would overwrite it \
                     (run it against storage nodes of its own)"
                );
            }
        }
    }

    let mut latencies_us: Vec<u64> = Vec::new();
    let mut commits = 0u64;
    let mut vdl = 0u64;
    let mut measured = args.duration;
    if let Some(volume) = volume {
        let bench_start = Instant::now();
        let mut workers = Vec::new();
        for w in 0..args.concurrency {
            let volume = volume.clone();
            let errors = errors.clone();
            let payload = Bytes::from(vec![(w % 251) as u8; args.payload_bytes]);
            let pages = args.pages;
            let commit_timeout = args.commit_timeout;
            workers.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let page = PageId((w as u64 + i * args_stride(pages)) % pages);
                    let offset = ((i * 64) as usize % (PAGE_SIZE - payload.len() + 1)) as u16;
                    i += 1;
                    let t = Instant::now();
                    let left = deadline.saturating_duration_since(t);
                    let change = vec![(
                        page,
                        RecordBody::Delta {
                            offset,
                            bytes: payload.clone(),
                        },
                    )];
                    match tokio::time::timeout(left.min(commit_timeout), volume.commit(change))
                        .await
                    {
                        Ok(Ok(_)) => lat.push(t.elapsed().as_micros() as u64),
                        Ok(Err(e)) => {
                            tracing::debug!("commit failed: {e}");
                            errors.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        // Cut off by the end of the run: neither a commit nor an error.
                        Err(_) if t.elapsed() < commit_timeout => {}
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                lat
            }));
        }
        for w in workers {
            latencies_us.extend(w.await.context("join bench worker")?);
        }
        measured = bench_start.elapsed();
        commits = latencies_us.len() as u64;
        vdl = volume.vdl().0;
    }

    let lat = Latencies::new(latencies_us);
    let secs = measured.as_secs_f64().max(1e-9);
    let line = serde_json::json!({
        "commits": commits,
        "commits_per_s": round2(commits as f64 / secs),
        "p50_ms": lat.pct_ms(0.50),
        "p99_ms": lat.pct_ms(0.99),
        "errors": errors.load(Ordering::Relaxed),
        "vdl": vdl,
        "concurrency": args.concurrency,
        "payload_bytes": args.payload_bytes,
        "duration_s": round2(started.elapsed().as_secs_f64()),
    });
    println!("{line}");
    Ok(())
}

/// Spreads one worker's successive MTRs over the page space.
fn args_stride(pages: u64) -> u64 {
    if pages > 7 {
        7
    } else {
        1
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

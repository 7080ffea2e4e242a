//! Subcommands of the `sextant` binary, one module each.

pub mod bench;
pub mod bench_engine;
pub mod bench_lag;
pub mod compute;
pub mod dev;
pub mod dev_iam;
pub mod export;
pub mod ingest;
pub mod node;
pub mod proxy;
pub mod status;
pub mod storage;
pub mod token;

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Parses `--buffer-pool`: a size such as `256MiB` or `2GiB`, from the
/// pool's minimum up to 1 TiB.
pub fn buffer_pool_size(s: &str) -> Result<u64, String> {
    let bytes = sextant_storage::cluster::parse_size(s)?;
    let min = sextant_compute::bufpool::POOL_BYTES_MIN;
    if !(min..=1 << 40).contains(&bytes) {
        return Err(format!("{s} is outside {}KiB..=1024GiB", min >> 10));
    }
    Ok(bytes)
}

/// The engine's tunables with a buffer pool of `pool_bytes`.
pub fn engine_config(pool_bytes: u64) -> sextant_compute::engine::EngineConfig {
    sextant_compute::engine::EngineConfig {
        pool_bytes,
        ..Default::default()
    }
}

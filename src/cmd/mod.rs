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

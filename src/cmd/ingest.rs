//! `sextant ingest`: the change-event ingest service (DESIGN.md §5) as a
//! process. The service itself is `sextant_cdc_ingest::ingest`; this only
//! reads the command line and config, prints where it listens with a
//! ready-to-paste curl line, and drains on Ctrl-C or SIGTERM.

use std::path::PathBuf;

use anyhow::Context as _;
use sextant_cdc_ingest::ingest::{curl_example, Config, Service};

/// `sextant ingest --listen ADDR --database-url URL [--config FILE]`.
#[derive(clap::Args, Debug)]
pub struct IngestArgs {
    /// Address of the HTTP API (`POST /v1/tables/{table}/events`).
    #[arg(long, env = "SEXTANT_INGEST_LISTEN")]
    pub listen: String,
    /// Where events are written: the proxy's writer endpoint, as a
    /// `postgres://user:password@host:port/db` URL.
    #[arg(long, env = "SEXTANT_INGEST_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// TOML file with batching, limits, auth and per-table mappings.
    #[arg(long, env = "SEXTANT_INGEST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Bearer tokens, one per line; overrides `[auth] tokens_file`.
    #[arg(long, env = "SEXTANT_INGEST_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// The proxy's IAM file, to accept SigV4-signed requests (service
    /// `sextant-ingest`); overrides `[auth] iam_file`.
    #[arg(long, env = "SEXTANT_INGEST_IAM")]
    pub iam: Option<PathBuf>,
}

/// Runs the service until Ctrl-C or SIGTERM, then drains its queue.
pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::load(&args.database_url, path)?,
        None => Config::new(&args.database_url)?,
    };
    if let Some(tokens) = args.tokens_file {
        config.tokens_file = Some(tokens);
    }
    if let Some(iam) = args.iam {
        config.iam_file = Some(iam);
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let handle = Service::start(config, listener).await?;
    let addr = handle.local_addr();
    println!("Ingest: http://{addr}/v1/tables/{{table}}/events");
    println!("Try:    {}", curl_example(addr, "events", None));
    println!("        (add -H 'Authorization: Bearer TOKEN' when a tokens file is set)");
    super::shutdown_signal().await;
    tracing::info!("shutting down: draining the ingest queue");
    handle.shutdown().await.context("stop the ingest service")?;
    Ok(())
}

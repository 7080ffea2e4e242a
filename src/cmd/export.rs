//! `sextant export`: one file per closed time window of a table, read from
//! the reader endpoint (DESIGN.md §5, §6). The work is in
//! `sextant_cdc_ingest::export`; this module parses the flags, prints
//! progress lines on stderr, serves `/metrics` while it runs as a
//! scheduler, and turns errors into a non-zero exit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use sextant_cdc_ingest::export::metrics::ExportMetrics;
use sextant_cdc_ingest::export::sql::{parse_column, Format, TableName};
use sextant_cdc_ingest::export::window::{Period, UnixTime};
use sextant_cdc_ingest::export::{self, ExportConfig};

/// Flags of `sextant export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Where to read: normally the reader endpoint,
    /// postgres://USER:PASSWORD@HOST:PORT/DB (no TLS).
    #[arg(long, env = "SEXTANT_EXPORT_DATABASE_URL")]
    pub database_url: String,
    /// The table: `name` or `schema.name` (SQL identifiers: folded to
    /// lower case unless double-quoted).
    #[arg(long, env = "SEXTANT_EXPORT_TABLE")]
    pub table: String,
    /// The timestamptz or timestamp column that places a row in a window.
    #[arg(long, env = "SEXTANT_EXPORT_TIME_COLUMN")]
    pub time_column: String,
    /// Window length; windows are [start, end) aligned to UTC. Must divide
    /// 24h (e.g. 15m, 1h, 1d).
    #[arg(long, env = "SEXTANT_EXPORT_EVERY", default_value = "1h", value_parser = humantime::parse_duration)]
    pub every: Duration,
    /// File format.
    #[arg(long, env = "SEXTANT_EXPORT_FORMAT", value_enum, default_value_t = FormatArg::Csv)]
    pub format: FormatArg,
    /// Compress the files.
    #[arg(long, env = "SEXTANT_EXPORT_COMPRESS", value_enum)]
    pub compress: Option<CompressArg>,
    /// Directory for the window files and the checkpoint.
    #[arg(long, env = "SEXTANT_EXPORT_OUT")]
    pub out: PathBuf,
    /// First window to export when DIR has no checkpoint (RFC 3339, e.g.
    /// 2024-01-01T00:00:00Z; rounded down to a window start). Default: the
    /// window of the earliest row.
    #[arg(long, env = "SEXTANT_EXPORT_SINCE")]
    pub since: Option<String>,
    /// Stop after the window that ends at this time (a backfill).
    #[arg(long, env = "SEXTANT_EXPORT_UNTIL")]
    pub until: Option<String>,
    /// Export the windows that have closed, then exit (for cron). Without
    /// it, runs as a scheduler exporting each window as it closes.
    #[arg(long, env = "SEXTANT_EXPORT_ONCE")]
    pub once: bool,
    /// How long after a window ends it is exported, for late rows (rows
    /// committed after their window was exported are not exported).
    #[arg(long, env = "SEXTANT_EXPORT_GRACE", default_value = "1m", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// How often a window still being written prints a progress line.
    #[arg(long, env = "SEXTANT_EXPORT_PROGRESS_EVERY", default_value = "10s", value_parser = humantime::parse_duration)]
    pub progress_every: Duration,
    /// Serve Prometheus /metrics here while running as a scheduler.
    #[arg(long, env = "SEXTANT_EXPORT_METRICS")]
    pub metrics: Option<SocketAddr>,
}

/// `--format`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    /// CSV with a header, PostgreSQL's text formats.
    Csv,
    /// One JSON object per line; jsonb columns embedded as JSON.
    Ndjson,
}

/// `--compress`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CompressArg {
    /// gzip (`.gz` appended to file names).
    Gzip,
}

/// Longest grace delay accepted (a week): longer is surely a typo.
const GRACE_MAX: Duration = Duration::from_secs(7 * 86_400);

fn config(args: &ExportArgs) -> anyhow::Result<ExportConfig> {
    let every = Period::new(args.every)?;
    anyhow::ensure!(
        args.grace <= GRACE_MAX,
        "--grace {} is longer than a week",
        humantime::format_duration(args.grace)
    );
    let since = args.since.as_deref().map(UnixTime::parse).transpose()?;
    let until = args.until.as_deref().map(UnixTime::parse).transpose()?;
    if let Some(u) = until {
        anyhow::ensure!(
            every.is_boundary(u),
            "--until {u} is not a window boundary of --every {every}"
        );
        if let Some(s) = since {
            anyhow::ensure!(s < u, "--since {s} is not before --until {u}");
        }
    }
    Ok(ExportConfig {
        database_url: args.database_url.clone(),
        table: TableName::parse(&args.table)?,
        time_column: parse_column(&args.time_column)?,
        every,
        format: match args.format {
            FormatArg::Csv => Format::Csv,
            FormatArg::Ndjson => Format::Ndjson,
        },
        gzip: matches!(args.compress, Some(CompressArg::Gzip)),
        out: args.out.clone(),
        since,
        until,
        grace: args.grace,
        progress_every: args.progress_every,
    })
}

/// Runs `sextant export`.
pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let cfg = config(&args)?;
    let metrics = Arc::new(ExportMetrics::new());
    let progress: export::ProgressFn = Box::new(|p| eprintln!("{p}"));
    if args.once {
        anyhow::ensure!(
            args.metrics.is_none(),
            "--metrics is for the scheduler; it has no use with --once"
        );
        let n = export::run_once(cfg, metrics, progress)
            .await
            .context("export")?;
        tracing::info!(windows = n, "export finished");
        return Ok(());
    }
    if let Some(addr) = args.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen on --metrics {addr}"))?;
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
        let m = metrics.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let m = m.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.encode(UnixTime::now()),
                    )
                }
            }),
        );
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!("metrics listener failed: {e}");
            }
        });
    }
    export::run_scheduler(cfg, metrics, progress, super::shutdown_signal())
        .await
        .context("export")
}

//! `sextant export`: scheduled, atomic, resumable window exports
//! (DESIGN.md §5).
//!
//! The exporter reads one table through the Postgres protocol only
//! (tokio-postgres, `COPY (SELECT …) TO STDOUT`), normally from the reader
//! endpoint so exports never load the writer, and works against real
//! PostgreSQL the same way. Time is cut into windows `[start, end)` of
//! `--every` aligned to UTC ([`window`]); each window becomes one file
//! `TABLE_START_END.csv|ndjson[.gz]` ([`file`]), written under a temporary
//! name, fsynced and renamed, after which the checkpoint
//! `TABLE.checkpoint.json` ([`checkpoint`]) advances to it. A run resumes
//! from the checkpoint and exports every window missed since, in order, so
//! no row is skipped or written twice; rerunning a window gives the same
//! bytes, because the session's text formats are pinned and rows are
//! sorted by time then primary key ([`sql`]).
//!
//! # When a window is closed
//!
//! A window is exported once `end + grace ≤ now − source lag`. The grace
//! delay (`--grace`, default one minute) is for rows that arrive late: a
//! row committed after its window was exported is not exported (the
//! window is never revisited), so grace should cover the producers'
//! delay. The source lag is how far the server read from trails its
//! writer: on Sextant, `sextant_replica_status()`'s
//! `replica_lag_in_msec` for the answering node (the time since the first
//! commit it has not applied became durable; 0 on the writer); on
//! PostgreSQL, 0 on a primary or a standby that has replayed everything it
//! received, otherwise the age of the last replayed transaction. So every
//! commit made before `now − lag` is visible to the COPY that follows.
//! The clock is the exporter's own; grace also covers clock skew.
//!
//! # Limits
//!
//! One table per process; another exporter of the same table into the same
//! directory is refused (a lock file). Time columns are `timestamptz` or
//! `timestamp` (read as UTC). Windows divide a day.

pub mod checkpoint;
pub mod file;
pub mod metrics;
pub mod sql;
pub mod window;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use self::checkpoint::{Checkpoint, CheckpointError};
use self::file::{FileError, PartialFile};
use self::metrics::ExportMetrics;
use self::sql::{Column, Format, TableInfo, TableName};
use self::window::{Period, UnixTime, Window};

/// How long connecting may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the scheduler sleeps before looking again (it re-reads the
/// source's lag, which may have changed).
const SCHEDULER_POLL_MAX: Duration = Duration::from_secs(60);
/// Shortest sleep between scheduler rounds.
const SCHEDULER_POLL_MIN: Duration = Duration::from_millis(100);
/// Backoff after a retryable failure: doubles from the first to the max.
const RETRY_BACKOFF_FIRST: Duration = Duration::from_secs(1);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Everything one export run needs, validated.
#[derive(Clone, Debug)]
pub struct ExportConfig {
    /// `postgres://user:password@host:port/db` (TLS is not supported).
    pub database_url: String,
    /// The table to export.
    pub table: TableName,
    /// The column that places a row in a window.
    pub time_column: String,
    /// Window length.
    pub every: Period,
    /// File format.
    pub format: Format,
    /// gzip the files (`.gz` appended to their names).
    pub gzip: bool,
    /// Directory for the files and the checkpoint (created if missing).
    pub out: PathBuf,
    /// Where to start when `out` has no checkpoint (rounded down to a
    /// window start). Without it, the window of the earliest row.
    pub since: Option<UnixTime>,
    /// Stop after the window ending here (rounded down to a boundary).
    pub until: Option<UnixTime>,
    /// How long after a window's end it is exported.
    pub grace: Duration,
    /// How often a window still being written reports progress.
    pub progress_every: Duration,
}

/// How a window is getting on, for progress lines.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The table.
    pub table: String,
    /// The window being written.
    pub window: Window,
    /// Rows so far.
    pub rows: u64,
    /// Bytes so far (before compression).
    pub bytes: u64,
    /// Since the window started.
    pub elapsed: Duration,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-3);
        write!(
            f,
            "export {} {}: {} rows, {:.1} MiB, {:.0} rows/s",
            self.table,
            self.window,
            self.rows,
            self.bytes as f64 / (1024.0 * 1024.0),
            self.rows as f64 / secs
        )
    }
}

/// Called with progress while a window is written.
pub type ProgressFn = Box<dyn Fn(&Progress) + Send + Sync>;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The database URL does not parse.
    #[error("invalid --database-url: {0}")]
    Url(#[source] tokio_postgres::Error),
    /// The server could not be reached or refused the login.
    #[error("failed to connect to {endpoint}: {source}")]
    Connect {
        /// Host, port and database (no password).
        endpoint: String,
        /// Why.
        #[source]
        source: tokio_postgres::Error,
    },
    /// No such table (or schema).
    #[error("table {table} does not exist on {endpoint}")]
    UnknownTable {
        /// As given.
        table: String,
        /// Host, port and database.
        endpoint: String,
    },
    /// No such column.
    #[error("column {column:?} does not exist in table {table} (its columns: {columns})")]
    UnknownColumn {
        /// The table.
        table: String,
        /// As given.
        column: String,
        /// The table's columns, comma-separated.
        columns: String,
    },
    /// The time column is not a timestamp.
    #[error(
        "column {column:?} of table {table} is {ty}; the time column must be \
         timestamp with time zone or timestamp"
    )]
    TimeColumnType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Its type.
        ty: String,
    },
    /// A statement failed.
    #[error("failed to {action}: {source}")]
    Query {
        /// What was being done.
        action: &'static str,
        /// The server's or the connection's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server sent something the exporter cannot use.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// Writing a file failed (disk full, permissions …).
    #[error(transparent)]
    File(#[from] FileError),
    /// The checkpoint cannot be read or does not match this run.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// `--out` exists and is not a directory.
    #[error("--out {} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// Another exporter holds the table's lock in this directory.
    #[error(
        "another sextant export is writing table {table} into {} (lock file {})",
        dir.display(), lock.display()
    )]
    Locked {
        /// The table.
        table: String,
        /// The output directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The earliest time in the table is not a finite timestamp.
    #[error("the time column's earliest value {0:?} is not a timestamp in years 0001-9999; pass --since")]
    EarliestTime(String),
}

impl ExportError {
    /// Whether trying again later may succeed without anyone changing
    /// anything: the connection dropped, the server is starting, shutting
    /// down or overloaded, or a serialization conflict.
    pub fn is_retryable(&self) -> bool {
        let pg = match self {
            ExportError::Connect { source, .. } | ExportError::Query { source, .. } => source,
            _ => return false,
        };
        if pg.is_closed() {
            return true;
        }
        match pg.code() {
            None => true, // I/O or protocol trouble on the connection
            Some(code) => {
                let c = code.code();
                c.starts_with("08")
                    || c.starts_with("53")
                    || c.starts_with("57P")
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE
            }
        }
    }
}

/// What a round of [`Exporter::export_due`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Round {
    /// Windows exported.
    pub windows: u64,
    /// When the next window may be due; `None` when `--until` is reached.
    pub next_due: Option<UnixTime>,
}

/// An exporter for one table into one directory, holding the directory's
/// lock for the table while it lives.
pub struct Exporter {
    cfg: ExportConfig,
    endpoint: String,
    client: Client,
    info: TableInfo,
    settings: Checkpoint,
    checkpoint_path: PathBuf,
    /// The next window to export; `None` while the table is empty and no
    /// start was given.
    next: Option<Window>,
    /// Which lag query this server answers (Sextant's or PostgreSQL's).
    lag_query: Option<&'static str>,
    metrics: Arc<ExportMetrics>,
    progress: ProgressFn,
    _lock: File,
}

impl Exporter {
    /// Locks the table's files in `cfg.out`, removes temporary files a
    /// killed run left, reads the checkpoint, connects, and checks the
    /// table and time column.
    pub async fn open(
        cfg: ExportConfig,
        metrics: Arc<ExportMetrics>,
        progress: ProgressFn,
    ) -> Result<Exporter, ExportError> {
        let pg_config: tokio_postgres::Config =
            cfg.database_url.parse().map_err(ExportError::Url)?;
        let endpoint = describe_endpoint(&pg_config);
        let stem = cfg.table.file_stem();
        match std::fs::metadata(&cfg.out) {
            Ok(m) if !m.is_dir() => return Err(ExportError::NotADirectory(cfg.out.clone())),
            Ok(_) => {}
            Err(_) => std::fs::create_dir_all(&cfg.out).map_err(|source| FileError {
                action: "create directory",
                path: cfg.out.clone(),
                source,
            })?,
        }
        let lock = lock_table(&cfg.out, &stem, &cfg.table)?;
        let window_prefix = format!("{stem}_");
        let checkpoint_name = format!("{stem}.checkpoint.json");
        let removed = file::remove_stale_temps(&cfg.out, |name| {
            name == checkpoint_name
                || name
                    .strip_prefix(&window_prefix)
                    .is_some_and(is_window_file_tail)
        })?;
        if removed > 0 {
            tracing::info!(removed, "removed temporary files of an interrupted run");
        }
        let settings = Checkpoint::settings(
            cfg.table.to_string(),
            cfg.time_column.clone(),
            cfg.every,
            cfg.format.extension(),
            cfg.gzip.then_some("gzip"),
        );
        let checkpoint_path = cfg.out.join(&checkpoint_name);
        let done = Checkpoint::load(&checkpoint_path, &settings)?;
        let client = connect(&pg_config, &endpoint).await?;
        let info = introspect(&client, &cfg, &endpoint).await?;
        let mut exporter = Exporter {
            endpoint,
            client,
            info,
            settings,
            checkpoint_path,
            next: None,
            lag_query: None,
            metrics,
            progress,
            _lock: lock,
            cfg,
        };
        exporter.next = match (done, exporter.cfg.since) {
            (Some(w), since) => {
                if since.is_some() {
                    tracing::info!(checkpoint = %w, "resuming from the checkpoint; --since applies only to a first run");
                }
                exporter.metrics.resumed_at(w.end);
                Some(w.next())
            }
            (None, Some(since)) => Some(exporter.cfg.every.window_containing(since)),
            (None, None) => exporter.earliest_window().await?,
        };
        Ok(exporter)
    }

    /// Connects again (after a retryable failure).
    pub async fn reconnect(&mut self) -> Result<(), ExportError> {
        let pg_config: tokio_postgres::Config =
            self.cfg.database_url.parse().map_err(ExportError::Url)?;
        self.client = connect(&pg_config, &self.endpoint).await?;
        Ok(())
    }

    /// The next window to export, if known.
    pub fn next_window(&self) -> Option<Window> {
        self.next
    }

    /// The window of the earliest row, or `None` for an empty table.
    async fn earliest_window(&self) -> Result<Option<Window>, ExportError> {
        let row = self
            .client
            .query_one(sql::earliest_query(&self.info).as_str(), &[])
            .await
            .map_err(query_err("read the earliest time"))?;
        let text: Option<String> = row
            .try_get(0)
            .map_err(query_err("read the earliest time"))?;
        match text {
            None => Ok(None),
            Some(t) => {
                let at = UnixTime::parse(&t).map_err(|_| ExportError::EarliestTime(t))?;
                Ok(Some(self.cfg.every.window_containing(at)))
            }
        }
    }

    /// How far the server is behind its writer, in milliseconds.
    async fn source_lag_ms(&mut self) -> Result<u64, ExportError> {
        let queries = match self.lag_query {
            Some(q) => vec![q],
            None => vec![sql::SEXTANT_LAG_QUERY, sql::POSTGRES_LAG_QUERY],
        };
        let mut last = None;
        for q in queries {
            match self.client.query_one(q, &[]).await {
                Ok(row) => {
                    self.lag_query = Some(q);
                    let ms: Option<i64> = row.try_get(0).map_err(query_err("read the lag"))?;
                    let ms = u64::try_from(ms.unwrap_or(0)).unwrap_or(0);
                    self.metrics.source_lag(ms);
                    return Ok(ms);
                }
                Err(e) if e.code() == Some(&SqlState::UNDEFINED_FUNCTION) => last = Some(e),
                Err(e) => return Err(query_err("read the replication lag")(e)),
            }
        }
        Err(query_err("read the replication lag")(
            last.expect("a query was tried"),
        ))
    }

    /// Exports every window that has closed, in order, and says when to
    /// look again.
    pub async fn export_due(&mut self) -> Result<Round, ExportError> {
        let lag = Duration::from_millis(self.source_lag_ms().await?);
        let frontier = UnixTime::now().minus(self.cfg.grace).minus(lag);
        if self.next.is_none() {
            self.next = self.earliest_window().await?;
        }
        let mut windows = 0;
        loop {
            let Some(w) = self.next else {
                // Empty table: look again a period from now.
                let period = i64::from(self.cfg.every.seconds());
                return Ok(Round {
                    windows,
                    next_due: Some(UnixTime(UnixTime::now().0 + period)),
                });
            };
            if self.cfg.until.is_some_and(|u| w.end > u) {
                return Ok(Round {
                    windows,
                    next_due: None,
                });
            }
            if w.end > frontier {
                let due = UnixTime(w.end.0 + (UnixTime::now().0 - frontier.0));
                return Ok(Round {
                    windows,
                    next_due: Some(due),
                });
            }
            self.export_window(w).await?;
            windows += 1;
            self.next = Some(w.next());
        }
    }

    /// The file name of a window.
    pub fn file_name(&self, w: Window) -> String {
        window_file_name(&self.info.name, w, self.cfg.format, self.cfg.gzip)
    }

    /// Writes one window's file, then advances the checkpoint to it.
    async fn export_window(&mut self, w: Window) -> Result<(), ExportError> {
        let started = Instant::now();
        let name = self.file_name(w);
        let final_path = self.cfg.out.join(&name);
        let mut out = PartialFile::create(&self.cfg.out, &name, self.cfg.gzip)?;
        let query = self.info.copy_query(self.cfg.format, w.start, w.end);
        let stream = self
            .client
            .copy_out(query.as_str())
            .await
            .map_err(query_err("start COPY"))?;
        futures_util::pin_mut!(stream);
        let mut csv = file::CsvRecords::default();
        let mut unescape = file::TextUnescape::default();
        let mut ndjson_rows = 0u64;
        let mut buf = Vec::new();
        let mut reported = Instant::now();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(query_err("read the COPY stream"))?;
            match self.cfg.format {
                Format::Csv => {
                    csv.feed(&chunk);
                    out.write(&chunk)?;
                }
                Format::Ndjson => {
                    ndjson_rows += memchr_count(&chunk);
                    buf.clear();
                    unescape.feed(&chunk, &mut buf);
                    out.write(&buf)?;
                }
            }
            if reported.elapsed() >= self.cfg.progress_every {
                reported = Instant::now();
                (self.progress)(&Progress {
                    table: self.info.name.to_string(),
                    window: w,
                    rows: match self.cfg.format {
                        Format::Csv => csv.records.saturating_sub(1),
                        Format::Ndjson => ndjson_rows,
                    },
                    bytes: out.bytes_in(),
                    elapsed: started.elapsed(),
                });
            }
        }
        let rows = match self.cfg.format {
            Format::Csv if csv.records == 0 => {
                return Err(ExportError::Protocol("COPY sent no CSV header".into()))
            }
            Format::Csv => csv.records - 1,
            Format::Ndjson if !unescape.is_clean() => {
                return Err(ExportError::Protocol(
                    "the COPY stream ended inside an escape sequence".into(),
                ))
            }
            Format::Ndjson => ndjson_rows,
        };
        let size = out.commit(&final_path)?;
        Checkpoint::new(&self.settings, w).store(&self.checkpoint_path)?;
        self.metrics.window_exported(w.end, rows, size);
        tracing::info!(
            table = %self.info.name,
            window = %w,
            rows,
            bytes = size,
            ms = started.elapsed().as_millis() as u64,
            file = %final_path.display(),
            "exported window"
        );
        Ok(())
    }
}

/// `TABLE_20240101T000000Z_20240101T010000Z.csv[.gz]`.
pub fn window_file_name(table: &TableName, w: Window, format: Format, gzip: bool) -> String {
    format!(
        "{}_{}_{}.{}{}",
        table.file_stem(),
        w.start.compact(),
        w.end.compact(),
        format.extension(),
        if gzip { ".gz" } else { "" }
    )
}

/// Whether `tail` is what follows `TABLE_` in a window file's name.
fn is_window_file_tail(tail: &str) -> bool {
    let stamp = |s: &[u8]| {
        s.len() == 16
            && s.iter().enumerate().all(|(i, &b)| match i {
                8 => b == b'T',
                15 => b == b'Z',
                _ => b.is_ascii_digit(),
            })
    };
    let t = tail.as_bytes();
    t.len() > 34 && stamp(&t[..16]) && t[16] == b'_' && stamp(&t[17..33]) && t[33] == b'.'
}

fn memchr_count(chunk: &[u8]) -> u64 {
    chunk.iter().filter(|&&b| b == b'\n').count() as u64
}

fn query_err(action: &'static str) -> impl Fn(tokio_postgres::Error) -> ExportError {
    move |source| ExportError::Query { action, source }
}

/// `host:port/dbname` for messages (never the password).
fn describe_endpoint(c: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .zip(c.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, p)| match h {
            tokio_postgres::config::Host::Tcp(h) => format!("{h}:{p}"),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => format!("{}:{p}", path.display()),
        })
        .collect();
    format!("{}/{}", hosts.join(","), c.get_dbname().unwrap_or(""))
}

/// Takes `DIR/.TABLE.lock` (an advisory lock, released when the file is
/// closed, so also when the process dies).
fn lock_table(dir: &Path, stem: &str, table: &TableName) -> Result<File, ExportError> {
    let path = dir.join(format!(".{stem}.lock"));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| FileError {
            action: "open lock file",
            path: path.clone(),
            source,
        })?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(ExportError::Locked {
            table: table.to_string(),
            dir: dir.to_owned(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(FileError {
            action: "lock",
            path,
            source,
        }
        .into()),
    }
}

async fn connect(pg: &tokio_postgres::Config, endpoint: &str) -> Result<Client, ExportError> {
    let mut pg = pg.clone();
    if pg.get_connect_timeout().is_none() {
        pg.connect_timeout(CONNECT_TIMEOUT);
    }
    if pg.get_application_name().is_none() {
        pg.application_name("sextant export");
    }
    let (client, connection) = pg
        .connect(NoTls)
        .await
        .map_err(|source| ExportError::Connect {
            endpoint: endpoint.to_owned(),
            source,
        })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("export connection ended: {e}");
        }
    });
    for s in sql::SESSION_SETUP {
        client
            .batch_execute(s)
            .await
            .map_err(query_err("set up the session"))?;
    }
    Ok(client)
}

/// Learns the table's columns and key, and checks the time column.
async fn introspect(
    client: &Client,
    cfg: &ExportConfig,
    endpoint: &str,
) -> Result<TableInfo, ExportError> {
    let stmt = match client.prepare(&sql::describe_query(&cfg.table)).await {
        Ok(s) => s,
        Err(e)
            if e.code() == Some(&SqlState::UNDEFINED_TABLE)
                || e.code() == Some(&SqlState::INVALID_SCHEMA_NAME) =>
        {
            return Err(ExportError::UnknownTable {
                table: cfg.table.to_string(),
                endpoint: endpoint.to_owned(),
            })
        }
        Err(e) => return Err(query_err("describe the table")(e)),
    };
    let columns: Vec<Column> = stmt
        .columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            ty: c.type_().clone(),
        })
        .collect();
    let Some(time) = columns.iter().find(|c| c.name == cfg.time_column) else {
        return Err(ExportError::UnknownColumn {
            table: cfg.table.to_string(),
            column: cfg.time_column.clone(),
            columns: columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let time_type =
        TableInfo::time_type_of(&time.ty).ok_or_else(|| ExportError::TimeColumnType {
            table: cfg.table.to_string(),
            column: cfg.time_column.clone(),
            ty: time.ty.name().to_owned(),
        })?;
    let primary_key = client
        .query(sql::primary_key_query(&cfg.table).as_str(), &[])
        .await
        .map_err(query_err("read the primary key"))?
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(query_err("read the primary key"))?;
    for k in &primary_key {
        if !columns.iter().any(|c| &c.name == k) {
            return Err(ExportError::Protocol(format!(
                "primary key column {k:?} is not among the table's columns"
            )));
        }
    }
    Ok(TableInfo {
        name: cfg.table.clone(),
        columns,
        time_column: cfg.time_column.clone(),
        time_type,
        primary_key,
    })
}

/// Runs `--once`: exports every closed window and returns how many.
pub async fn run_once(
    cfg: ExportConfig,
    metrics: Arc<ExportMetrics>,
    progress: ProgressFn,
) -> Result<u64, ExportError> {
    let mut exporter = Exporter::open(cfg, metrics, progress).await?;
    let round = exporter.export_due().await?;
    match (round.windows, exporter.next_window()) {
        (0, Some(w)) => tracing::info!(next = %w, "no window has closed yet"),
        (0, None) => tracing::info!("the table is empty; nothing to export"),
        _ => {}
    }
    Ok(round.windows)
}

/// Runs as a scheduler until `shutdown` completes (or `--until` is
/// reached): exports each window as it closes. Failures that may pass
/// (connection lost, server restarting) are retried with backoff; others
/// end the run. An interrupted window leaves no file.
pub async fn run_scheduler(
    cfg: ExportConfig,
    metrics: Arc<ExportMetrics>,
    progress: ProgressFn,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ExportError> {
    tokio::pin!(shutdown);
    let mut exporter = tokio::select! {
        e = Exporter::open(cfg, metrics.clone(), progress) => e?,
        () = &mut shutdown => return Ok(()),
    };
    let mut backoff = RETRY_BACKOFF_FIRST;
    let mut broken = false;
    loop {
        let attempt = async {
            if broken {
                exporter.reconnect().await?;
            }
            exporter.export_due().await
        };
        let result = tokio::select! {
            r = attempt => r,
            () = &mut shutdown => return Ok(()),
        };
        let pause = match result {
            Ok(round) => {
                broken = false;
                backoff = RETRY_BACKOFF_FIRST;
                let Some(due) = round.next_due else {
                    tracing::info!("reached --until; done");
                    return Ok(());
                };
                let wait = u64::try_from(due.seconds_since(UnixTime::now())).unwrap_or(0);
                Duration::from_secs(wait).clamp(SCHEDULER_POLL_MIN, SCHEDULER_POLL_MAX)
            }
            Err(e) if e.is_retryable() => {
                metrics.error();
                tracing::warn!("export failed, retrying in {backoff:?}: {e}");
                broken = true;
                let pause = backoff;
                backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                pause
            }
            Err(e) => return Err(e),
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = &mut shutdown => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_file_names_sort_by_time_and_are_recognized() {
        let t = TableName::parse("events").unwrap();
        let w = Window {
            start: UnixTime(0),
            end: UnixTime(3600),
        };
        let n = window_file_name(&t, w, Format::Ndjson, true);
        assert_eq!(n, "events_19700101T000000Z_19700101T010000Z.ndjson.gz");
        assert!(is_window_file_tail(n.strip_prefix("events_").unwrap()));
        assert!(!is_window_file_tail("x_19700101T000000Z.csv"));
        assert!(!is_window_file_tail("19700101T000000Z_19700101T010000Z"));
    }
}

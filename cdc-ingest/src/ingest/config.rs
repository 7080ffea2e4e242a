//! The ingest service's configuration: limits, batching, auth files and the
//! per-table mapping from JSON events to rows.
//!
//! The optional TOML file (`--config`) is parsed into [`FileConfig`] and
//! resolved into a [`Config`] that is validated once, before any listener
//! starts (STYLE §8): every limit is range-checked and every name that ends
//! up in SQL is checked to be a plain lower-case identifier, so statements
//! can quote them without further escaping. Unknown keys are rejected: a
//! misspelt `alow_truncate` that silently kept truncation off would be found
//! only when a truncate event is refused in production.
//!
//! ```toml
//! [batch]
//! events_max = 5000      # events per transaction
//! bytes_max = 8388608    # decoded request bytes per transaction
//! wait = "0ms"           # how long a batch waits to fill (see below)
//! writers = 2            # connections writing batches at once
//!
//! [limits]
//! body_bytes_max = 8388608   # per request, before and after gzip
//! queue_events_max = 100000  # events accepted but not yet committed
//!
//! [auth]
//! tokens_file = "/etc/sextant/ingest-tokens"   # bearer tokens, one per line
//! iam_file = "/etc/sextant/iam.toml"   # the proxy's; SigV4-signed requests
//!
//! [defaults]             # tables not listed under [tables]
//! create = false         # 404 for a missing table
//!
//! [tables.orders]
//! format = "debezium"    # or "plain"; "auto" (default) looks at each event
//! key = "order_id"       # JSON path of the key (in the row image for Debezium)
//! position = ["source.lsn"]
//! create = true
//! allow_truncate = true
//! columns.amount = { path = "after.amount", type = "numeric" }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Largest request body accepted by default, compressed or decoded.
pub const BODY_BYTES_MAX_DEFAULT: u64 = 8 << 20;
/// Upper bound for `limits.body_bytes_max`: a request is parsed in memory.
pub const BODY_BYTES_MAX_LIMIT: u64 = 256 << 20;
/// Events accepted but not committed, by default; the queue's bound.
pub const QUEUE_EVENTS_MAX_DEFAULT: u32 = 100_000;
/// Upper bound for `limits.queue_events_max` (memory held by the queue).
pub const QUEUE_EVENTS_MAX_LIMIT: u32 = 10_000_000;
/// Events per transaction, by default.
pub const BATCH_EVENTS_MAX_DEFAULT: u32 = 5_000;
/// Decoded request bytes per transaction, by default.
pub const BATCH_BYTES_MAX_DEFAULT: u64 = 8 << 20;
/// How long the first request of a batch waits for others, by default:
/// not at all. One writer commits one batch at a time, so requests that
/// arrive during a commit form the next batch by themselves (group
/// commit); holding an idle writer for more only adds latency. Measured
/// with 4 producers of 1-event requests on Sextant: 1,493 events/s at 0 ms,
/// 458 at 5 ms (BENCHMARKS.md). A wait pays off only for many producers
/// whose requests trickle in and must share transactions.
pub const BATCH_WAIT_DEFAULT: Duration = Duration::ZERO;
/// Writers applying batches at once, by default: two, so one batch's
/// statements run while another's COMMIT waits for durability. Measured
/// with 4 producers of 1,000-event requests into a fresh `sextant dev` on
/// two cores (50,000 events, BENCHMARKS.md): one writer 25,200 and 26,600
/// events/s, two 30,800 and 28,100, three 28,800 and 28,500.
pub const BATCH_WRITERS_DEFAULT: u32 = 2;
/// Upper bound for `batch.writers` (each holds a database connection).
pub const BATCH_WRITERS_LIMIT: u32 = 16;
/// Upper bound for `batch.wait`: every request waits this long at worst.
pub const BATCH_WAIT_LIMIT: Duration = Duration::from_secs(10);
/// PostgreSQL's identifier length limit (NAMEDATALEN - 1).
pub const IDENTIFIER_BYTES_MAX: usize = 63;
/// Segments of a JSON path; deeper documents are not addressed by config.
pub const JSON_PATH_SEGMENTS_MAX: usize = 16;

/// A problem in the configuration, found at startup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("failed to parse {path}: {source}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// Why (names the key).
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or malformed.
    #[error("invalid config: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(message.into())
}

/// The file's shape; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[batch]`.
    #[serde(default)]
    pub batch: BatchFile,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsFile,
    /// `[auth]`.
    #[serde(default)]
    pub auth: AuthFile,
    /// `[defaults]`: the mapping of tables not listed under `[tables]`.
    #[serde(default)]
    pub defaults: TableFile,
    /// `[tables.NAME]`.
    #[serde(default)]
    pub tables: BTreeMap<String, TableFile>,
}

/// `[batch]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchFile {
    /// Events per transaction.
    pub events_max: Option<u32>,
    /// Decoded request bytes per transaction.
    pub bytes_max: Option<u64>,
    /// A humantime duration, e.g. `"5ms"`.
    pub wait: Option<String>,
    /// Writers (connections) applying batches at once.
    pub writers: Option<u32>,
}

/// `[limits]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Largest request body, compressed or decoded.
    pub body_bytes_max: Option<u64>,
    /// Events accepted but not yet committed.
    pub queue_events_max: Option<u32>,
}

/// `[auth]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// Bearer tokens, one per line.
    pub tokens_file: Option<PathBuf>,
    /// The proxy's IAM file, for SigV4-signed requests.
    pub iam_file: Option<PathBuf>,
}

/// One table's mapping in the file; unset fields come from `[defaults]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableFile {
    /// `auto`, `plain` or `debezium`.
    pub format: Option<Format>,
    /// JSON path of the key.
    pub key: Option<String>,
    /// JSON paths of the ordering position, first present wins.
    pub position: Option<Vec<String>>,
    /// Create the table with the default shape on first use.
    pub create: Option<bool>,
    /// Apply Debezium truncate events.
    pub allow_truncate: Option<bool>,
    /// Extra columns filled from JSON paths.
    pub columns: Option<BTreeMap<String, ColumnFile>>,
}

/// An extra column in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnFile {
    /// JSON path into the event (the unwrapped envelope for Debezium).
    pub path: String,
    /// SQL type; `jsonb` when absent.
    #[serde(rename = "type")]
    pub ty: Option<ColumnType>,
}

/// How events of a table are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A Debezium envelope when the event has an `op` of c/r/u/d/t and a
    /// `before`/`after` (or is a truncate), a plain event otherwise.
    Auto,
    /// The whole event is the row.
    Plain,
    /// Every event must be a Debezium envelope.
    Debezium,
}

/// SQL types an extra column may have; values are sent as text and cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// `text`: a JSON string as is, anything else as JSON text.
    Text,
    /// `jsonb`: the JSON value.
    Jsonb,
    /// `bigint`.
    Bigint,
    /// `integer`.
    Integer,
    /// `numeric`.
    Numeric,
    /// `double precision`.
    Double,
    /// `boolean`.
    Boolean,
    /// `timestamptz`: an ISO 8601 string, or a JSON number of milliseconds
    /// since the Unix epoch (Debezium's `ts_ms`).
    Timestamptz,
}

impl ColumnType {
    /// The type's name in SQL.
    pub fn sql(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Jsonb => "jsonb",
            ColumnType::Bigint => "bigint",
            ColumnType::Integer => "integer",
            ColumnType::Numeric => "numeric",
            ColumnType::Double => "double precision",
            ColumnType::Boolean => "boolean",
            ColumnType::Timestamptz => "timestamptz",
        }
    }
}

/// A dotted JSON path such as `source.lsn`: object keys from the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    segments: Vec<String>,
}

impl JsonPath {
    /// Parses `a.b.c`; segments are non-empty.
    pub fn parse(text: &str) -> Result<JsonPath, ConfigError> {
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(invalid(format!("JSON path {text:?} has an empty segment")));
        }
        if segments.len() > JSON_PATH_SEGMENTS_MAX {
            return Err(invalid(format!(
                "JSON path {text:?} is deeper than {JSON_PATH_SEGMENTS_MAX} segments"
            )));
        }
        Ok(JsonPath { segments })
    }

    /// The value at this path, if every segment is present.
    pub fn get<'a>(&self, root: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        let mut at = root;
        for segment in &self.segments {
            at = at.as_object()?.get(segment)?;
        }
        Some(at)
    }

    /// The path under `prefix` (for messages: `after.id`).
    pub fn under(&self, prefix: &str) -> String {
        format!("{prefix}.{self}")
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

/// An extra column, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMapping {
    /// Column name (a checked identifier).
    pub name: String,
    /// Where its value comes from.
    pub path: JsonPath,
    /// Its SQL type.
    pub ty: ColumnType,
}

/// One table's mapping, resolved against `[defaults]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    /// How events are read.
    pub format: Format,
    /// JSON path of the key.
    pub key: JsonPath,
    /// JSON paths of the ordering position; the first present wins.
    pub position: Vec<JsonPath>,
    /// Create the table on first use instead of answering 404.
    pub create: bool,
    /// Apply truncate events (400 otherwise).
    pub allow_truncate: bool,
    /// Extra columns, by name.
    pub columns: Vec<ColumnMapping>,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            format: Format::Auto,
            key: JsonPath::parse("id").expect("valid path"),
            position: vec![
                JsonPath::parse("source.lsn").expect("valid path"),
                JsonPath::parse("ts_ms").expect("valid path"),
            ],
            create: false,
            allow_truncate: false,
            columns: Vec::new(),
        }
    }
}

/// Columns every ingest table has; extra columns may not reuse them.
pub const RESERVED_COLUMNS: [&str; 4] = ["id", "payload", "position", "ingested_at"];

impl TableConfig {
    fn resolve(
        base: &TableConfig,
        file: &TableFile,
        what: &str,
    ) -> Result<TableConfig, ConfigError> {
        let mut out = base.clone();
        if let Some(format) = file.format {
            out.format = format;
        }
        if let Some(key) = &file.key {
            out.key = JsonPath::parse(key).map_err(|e| invalid(format!("{what}.key: {e}")))?;
        }
        if let Some(paths) = &file.position {
            if paths.is_empty() {
                return Err(invalid(format!("{what}.position: name at least one path")));
            }
            out.position = paths
                .iter()
                .map(|p| JsonPath::parse(p).map_err(|e| invalid(format!("{what}.position: {e}"))))
                .collect::<Result<_, _>>()?;
        }
        if let Some(create) = file.create {
            out.create = create;
        }
        if let Some(allow) = file.allow_truncate {
            out.allow_truncate = allow;
        }
        if let Some(columns) = &file.columns {
            out.columns = columns
                .iter()
                .map(|(name, c)| {
                    check_identifier(name).map_err(|e| invalid(format!("{what}.columns: {e}")))?;
                    if RESERVED_COLUMNS.contains(&name.as_str()) {
                        return Err(invalid(format!(
                            "{what}.columns: {name} is one of the columns every ingest table has"
                        )));
                    }
                    Ok(ColumnMapping {
                        name: name.clone(),
                        path: JsonPath::parse(&c.path)
                            .map_err(|e| invalid(format!("{what}.columns.{name}: {e}")))?,
                        ty: c.ty.unwrap_or(ColumnType::Jsonb),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(out)
    }
}

/// Checks that `name` is a lower-case SQL identifier (`[a-z_][a-z0-9_]*`, at
/// most 63 bytes), so it means the same quoted and unquoted.
pub fn check_identifier(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !first_ok || !rest_ok {
        return Err(format!(
            "{name:?} is not a lower-case identifier ([a-z_][a-z0-9_]*)"
        ));
    }
    if name.len() > IDENTIFIER_BYTES_MAX {
        return Err(format!(
            "{name:?} is longer than {IDENTIFIER_BYTES_MAX} bytes"
        ));
    }
    Ok(())
}

/// How requests are merged into transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    /// Events per transaction; a larger request is a batch of its own.
    pub events_max: u32,
    /// Decoded request bytes per transaction.
    pub bytes_max: u64,
    /// How long the first request of a batch waits for more.
    pub wait: Duration,
    /// Writers, each with its own connection, applying batches at once.
    pub writers: u32,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the writer connects (the proxy's writer endpoint).
    pub database_url: String,
    /// Batching.
    pub batch: BatchConfig,
    /// Largest request body, compressed or decoded.
    pub body_bytes_max: u64,
    /// Events accepted but not yet committed; also the most one request may
    /// carry.
    pub queue_events_max: u32,
    /// Bearer tokens file.
    pub tokens_file: Option<PathBuf>,
    /// IAM file for SigV4-signed requests; with neither file there is no
    /// auth at all.
    pub iam_file: Option<PathBuf>,
    /// Mapping of tables not listed.
    pub defaults: TableConfig,
    /// Mappings by table name.
    pub tables: BTreeMap<String, TableConfig>,
}

impl Config {
    /// A configuration with every default, writing to `database_url`.
    pub fn new(database_url: impl Into<String>) -> Result<Config, ConfigError> {
        Config::from_file(database_url, FileConfig::default())
    }

    /// Reads and validates a TOML file.
    pub fn load(
        database_url: impl Into<String>,
        path: &std::path::Path,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        Config::from_file(database_url, file)
    }

    /// Resolves and validates a parsed file.
    pub fn from_file(
        database_url: impl Into<String>,
        file: FileConfig,
    ) -> Result<Config, ConfigError> {
        let database_url = database_url.into();
        database_url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| invalid(format!("database URL: {e}")))?;
        let wait = match &file.batch.wait {
            Some(text) => humantime::parse_duration(text)
                .map_err(|e| invalid(format!("batch.wait {text:?}: {e}")))?,
            None => BATCH_WAIT_DEFAULT,
        };
        if wait > BATCH_WAIT_LIMIT {
            return Err(invalid(format!(
                "batch.wait must be at most {}",
                humantime::format_duration(BATCH_WAIT_LIMIT)
            )));
        }
        let batch = BatchConfig {
            events_max: file.batch.events_max.unwrap_or(BATCH_EVENTS_MAX_DEFAULT),
            bytes_max: file.batch.bytes_max.unwrap_or(BATCH_BYTES_MAX_DEFAULT),
            wait,
            writers: file.batch.writers.unwrap_or(BATCH_WRITERS_DEFAULT),
        };
        if batch.events_max == 0 || batch.bytes_max == 0 {
            return Err(invalid(
                "batch.events_max and batch.bytes_max must be above 0",
            ));
        }
        if batch.writers == 0 || batch.writers > BATCH_WRITERS_LIMIT {
            return Err(invalid(format!(
                "batch.writers must be in 1..={BATCH_WRITERS_LIMIT}"
            )));
        }
        let body_bytes_max = file.limits.body_bytes_max.unwrap_or(BODY_BYTES_MAX_DEFAULT);
        if body_bytes_max == 0 || body_bytes_max > BODY_BYTES_MAX_LIMIT {
            return Err(invalid(format!(
                "limits.body_bytes_max must be in 1..={BODY_BYTES_MAX_LIMIT}"
            )));
        }
        let queue_events_max = file
            .limits
            .queue_events_max
            .unwrap_or(QUEUE_EVENTS_MAX_DEFAULT);
        if queue_events_max == 0 || queue_events_max > QUEUE_EVENTS_MAX_LIMIT {
            return Err(invalid(format!(
                "limits.queue_events_max must be in 1..={QUEUE_EVENTS_MAX_LIMIT}"
            )));
        }
        let defaults = TableConfig::resolve(&TableConfig::default(), &file.defaults, "defaults")?;
        let mut tables = BTreeMap::new();
        for (name, table) in &file.tables {
            check_identifier(name).map_err(|e| invalid(format!("tables: {e}")))?;
            let what = format!("tables.{name}");
            tables.insert(name.clone(), TableConfig::resolve(&defaults, table, &what)?);
        }
        Ok(Config {
            database_url,
            batch,
            body_bytes_max,
            queue_events_max,
            tokens_file: file.auth.tokens_file,
            iam_file: file.auth.iam_file,
            defaults,
            tables,
        })
    }

    /// The mapping of `table`.
    pub fn table(&self, table: &str) -> &TableConfig {
        self.tables.get(table).unwrap_or(&self.defaults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_inherit_defaults_and_unknown_keys_are_rejected() {
        let file: FileConfig = toml::from_str(
            r#"
            [defaults]
            create = true
            [tables.orders]
            key = "order_id"
            columns.amount = { path = "after.amount", type = "numeric" }
            "#,
        )
        .unwrap();
        let config = Config::from_file("postgres://u@localhost/db", file).unwrap();
        let orders = config.table("orders");
        assert!(orders.create, "inherited from [defaults]");
        assert_eq!(orders.key.to_string(), "order_id");
        assert_eq!(orders.position, TableConfig::default().position);
        assert_eq!(orders.columns[0].ty, ColumnType::Numeric);
        assert_eq!(config.table("other").key.to_string(), "id");

        let typo = toml::from_str::<FileConfig>("[defaults]\nalow_truncate = true\n");
        assert!(typo.unwrap_err().to_string().contains("alow_truncate"));
    }

    #[test]
    fn names_and_limits_are_checked() {
        let bad_name: FileConfig = toml::from_str("[tables.\"Orders\"]\n").unwrap();
        assert!(Config::from_file("postgres://u@h/d", bad_name).is_err());
        let reserved: FileConfig =
            toml::from_str("[tables.t]\ncolumns.payload = { path = \"x\" }\n").unwrap();
        assert!(Config::from_file("postgres://u@h/d", reserved).is_err());
        let wait: FileConfig = toml::from_str("[batch]\nwait = \"1h\"\n").unwrap();
        assert!(Config::from_file("postgres://u@h/d", wait).is_err());
        for writers in [0, BATCH_WRITERS_LIMIT + 1] {
            let file: FileConfig =
                toml::from_str(&format!("[batch]\nwriters = {writers}\n")).unwrap();
            assert!(Config::from_file("postgres://u@h/d", file).is_err());
        }
        let file: FileConfig = toml::from_str("[batch]\nwriters = 3\n").unwrap();
        assert_eq!(
            Config::from_file("postgres://u@h/d", file)
                .unwrap()
                .batch
                .writers,
            3
        );
        let file: FileConfig = toml::from_str("").unwrap();
        assert_eq!(
            Config::from_file("postgres://u@h/d", file)
                .unwrap()
                .batch
                .writers,
            BATCH_WRITERS_DEFAULT
        );
        let body: FileConfig = toml::from_str("[limits]\nbody_bytes_max = 0\n").unwrap();
        assert!(Config::from_file("postgres://u@h/d", body).is_err());
        assert!(JsonPath::parse("a..b").is_err());
        assert!(check_identifier("t_1").is_ok());
        assert!(check_identifier("1t").is_err());
        assert!(check_identifier("t;drop").is_err());
        assert!(check_identifier(&"x".repeat(64)).is_err());
    }

    #[test]
    fn json_paths_walk_objects() {
        let v: serde_json::Value = serde_json::json!({"source": {"lsn": 7}, "id": "a"});
        assert_eq!(
            JsonPath::parse("source.lsn").unwrap().get(&v),
            Some(&serde_json::json!(7))
        );
        assert_eq!(JsonPath::parse("source.nope").unwrap().get(&v), None);
        assert_eq!(JsonPath::parse("id.deeper").unwrap().get(&v), None);
    }
}

//! Session settings (GUCs): the parameters `SET`, `SHOW` and `RESET` act on,
//! with PostgreSQL's names, defaults, validation and display forms, and the
//! ones reported to the client in ParameterStatus when they change.
//!
//! Only settings Sextant honours or clients routinely set are known; any
//! other name without a dot is 42704, as in PostgreSQL, and dotted names
//! (`myapp.tenant`) are free-form placeholders.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::pgtext::{DateOrder, DateOutput, DateStyle, IntervalStyle, TimeZone};
use crate::sql::error::{code, SqlError};

/// How a setting's values are checked and shown.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Any text.
    Text,
    /// on/off.
    Bool,
    /// An integer in a range.
    Int(i64, i64),
    /// Milliseconds, shown as PostgreSQL shows time settings (`5s`).
    Millis,
    /// Kilobytes in a range, shown as PostgreSQL shows memory settings
    /// (`4MB`).
    Kilobytes(i64, i64),
    /// One of a list (lower case).
    Enum(&'static [&'static str]),
    /// Cannot be changed.
    ReadOnly,
    /// A time zone.
    TimeZone,
    /// DateStyle.
    DateStyle,
    /// client_encoding.
    Encoding,
}

/// One known setting.
struct Guc {
    /// The name as PostgreSQL spells it in SHOW ALL and ParameterStatus.
    name: &'static str,
    /// Default value, in display form.
    default: &'static str,
    /// Sent to the client in ParameterStatus when it changes.
    reported: bool,
    kind: Kind,
    description: &'static str,
}

const GUCS: &[Guc] = &[
    Guc {
        name: "application_name",
        default: "",
        reported: true,
        kind: Kind::Text,
        description: "Sets the application name to be reported in statistics and logs.",
    },
    Guc {
        name: "client_encoding",
        default: "UTF8",
        reported: true,
        kind: Kind::Encoding,
        description: "Sets the client's character set encoding.",
    },
    Guc {
        name: "DateStyle",
        default: "ISO, MDY",
        reported: true,
        kind: Kind::DateStyle,
        description: "Sets the display format for date and time values.",
    },
    Guc {
        name: "default_transaction_isolation",
        default: "read committed",
        reported: false,
        // PostgreSQL's order, which its HINT lists.
        kind: Kind::Enum(&[
            "serializable",
            "repeatable read",
            "read committed",
            "read uncommitted",
        ]),
        description: "Sets the transaction isolation level of each new transaction.",
    },
    Guc {
        name: "default_transaction_read_only",
        default: "off",
        reported: true,
        kind: Kind::Bool,
        description: "Sets the default read-only status of new transactions.",
    },
    Guc {
        name: "extra_float_digits",
        default: "1",
        reported: false,
        kind: Kind::Int(-15, 3),
        description: "Sets the number of digits displayed for floating-point values.",
    },
    Guc {
        name: "idle_in_transaction_session_timeout",
        default: "0",
        reported: false,
        kind: Kind::Millis,
        description: "Sets the maximum allowed idle time between queries, when in a transaction.",
    },
    Guc {
        name: "in_hot_standby",
        default: "off",
        reported: true,
        kind: Kind::ReadOnly,
        description: "Shows whether hot standby is currently active.",
    },
    Guc {
        name: "integer_datetimes",
        default: "on",
        reported: true,
        kind: Kind::ReadOnly,
        description: "Shows whether datetimes are integer based.",
    },
    Guc {
        name: "IntervalStyle",
        default: "postgres",
        reported: true,
        kind: Kind::Enum(&["postgres", "postgres_verbose", "sql_standard", "iso_8601"]),
        description: "Sets the display format for interval values.",
    },
    Guc {
        name: "is_superuser",
        default: "on",
        reported: true,
        kind: Kind::ReadOnly,
        description: "Shows whether the current user is a superuser.",
    },
    Guc {
        name: "lc_collate",
        default: "C.UTF-8",
        reported: false,
        kind: Kind::ReadOnly,
        description: "Shows the collation order locale.",
    },
    Guc {
        name: "lc_ctype",
        default: "C.UTF-8",
        reported: false,
        kind: Kind::ReadOnly,
        description: "Shows the character classification and case conversion locale.",
    },
    Guc {
        name: "lc_messages",
        default: "C",
        reported: false,
        kind: Kind::Text,
        description: "Sets the language in which messages are displayed.",
    },
    Guc {
        name: "lc_monetary",
        default: "C",
        reported: false,
        kind: Kind::Text,
        description: "Sets the locale for formatting monetary amounts.",
    },
    Guc {
        name: "lc_numeric",
        default: "C",
        reported: false,
        kind: Kind::Text,
        description: "Sets the locale for formatting numbers.",
    },
    Guc {
        name: "lc_time",
        default: "C",
        reported: false,
        kind: Kind::Text,
        description: "Sets the locale for formatting date and time values.",
    },
    Guc {
        name: "default_table_access_method",
        default: "heap",
        reported: false,
        // The only table access method there is (`pg_am`).
        kind: Kind::Enum(&["heap"]),
        description: "Sets the default table access method for new tables.",
    },
    Guc {
        name: "lock_timeout",
        default: "0",
        reported: false,
        kind: Kind::Millis,
        description: "Sets the maximum allowed duration of any wait for a lock.",
    },
    Guc {
        name: "max_connections",
        default: "100",
        reported: false,
        kind: Kind::ReadOnly,
        description: "Sets the maximum number of concurrent connections.",
    },
    Guc {
        name: "block_size",
        default: "8192",
        reported: false,
        kind: Kind::ReadOnly,
        description: "Shows the size of a disk block.",
    },
    Guc {
        name: "max_index_keys",
        default: "32",
        reported: false,
        kind: Kind::ReadOnly,
        description: "Shows the maximum number of index keys.",
    },
    Guc {
        name: "max_identifier_length",
        default: "63",
        reported: false,
        kind: Kind::ReadOnly,
        description: "Shows the maximum identifier length.",
    },
    Guc {
        name: "search_path",
        default: "\"$user\", public",
        reported: false,
        kind: Kind::Text,
        description: "Sets the schema search order for names that are not schema-qualified.",
    },
    Guc {
        name: "max_parallel_workers_per_gather",
        default: "2",
        reported: false,
        // PostgreSQL's range (MAX_PARALLEL_WORKER_LIMIT).
        kind: Kind::Int(0, 1024),
        description: "Sets the maximum number of parallel processes per executor node.",
    },
    Guc {
        name: "server_encoding",
        default: "UTF8",
        reported: true,
        kind: Kind::ReadOnly,
        description: "Shows the server (database) character set encoding.",
    },
    Guc {
        name: "server_version",
        default: crate::sql::session::SERVER_VERSION,
        reported: true,
        kind: Kind::ReadOnly,
        description: "Shows the server version.",
    },
    Guc {
        name: "server_version_num",
        default: "150000",
        reported: false,
        kind: Kind::ReadOnly,
        description: "Shows the server version as an integer.",
    },
    Guc {
        name: "standard_conforming_strings",
        default: "on",
        reported: true,
        kind: Kind::Enum(&["on"]),
        description: "Causes '...' strings to treat backslashes literally.",
    },
    Guc {
        name: "statement_timeout",
        default: "0",
        reported: false,
        kind: Kind::Millis,
        description: "Sets the maximum allowed duration of any statement.",
    },
    Guc {
        name: "TimeZone",
        default: "UTC",
        reported: true,
        kind: Kind::TimeZone,
        description: "Sets the time zone for displaying and interpreting time stamps.",
    },
    Guc {
        name: "transaction_isolation",
        default: "read committed",
        reported: false,
        // PostgreSQL's order, which its HINT lists.
        kind: Kind::Enum(&[
            "serializable",
            "repeatable read",
            "read committed",
            "read uncommitted",
        ]),
        description: "Sets the current transaction's isolation level.",
    },
    Guc {
        name: "transaction_read_only",
        default: "off",
        reported: false,
        kind: Kind::Bool,
        description: "Sets the current transaction's read-only status.",
    },
    Guc {
        name: "work_mem",
        default: "4MB",
        reported: false,
        // PostgreSQL's range: 64kB up to MAX_KILOBYTES (INT_MAX on 64-bit).
        kind: Kind::Kilobytes(64, 2_147_483_647),
        description: "Sets the maximum memory to be used for query workspaces.",
    },
    Guc {
        name: "bytea_output",
        default: "hex",
        reported: false,
        kind: Kind::Enum(&["hex"]),
        description: "Sets the output format for bytea.",
    },
    Guc {
        name: "session_authorization",
        default: "",
        reported: true,
        kind: Kind::ReadOnly,
        description: "Sets the session user name.",
    },
];

fn find(name: &str) -> Option<&'static Guc> {
    // SHOW TRANSACTION ISOLATION LEVEL and friends.
    let name = match name {
        "transaction isolation level" => "transaction_isolation",
        "time zone" => "timezone",
        other => other,
    };
    GUCS.iter().find(|g| g.name.eq_ignore_ascii_case(name))
}

/// A session's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    values: BTreeMap<&'static str, String>,
    custom: BTreeMap<String, String>,
    /// Reported settings changed since the client was last told.
    changed: Vec<(String, String)>,
}

impl Settings {
    /// Defaults, with the session user filled in.
    pub fn new(user: &str) -> Settings {
        let mut values = BTreeMap::new();
        for g in GUCS {
            values.insert(g.name, g.default.to_string());
        }
        values.insert("session_authorization", user.to_string());
        Settings {
            values,
            custom: BTreeMap::new(),
            changed: Vec::new(),
        }
    }

    /// The value of `name` as SHOW prints it.
    pub fn get(&self, name: &str) -> Result<String, SqlError> {
        if let Some(g) = find(name) {
            return Ok(self.values[g.name].clone());
        }
        self.custom
            .get(&name.to_lowercase())
            .cloned()
            .ok_or_else(|| unrecognized(name))
    }

    /// The name PostgreSQL shows for `name` (SHOW's column title): the
    /// setting's own spelling (`SHOW timezone` is titled `TimeZone`).
    pub fn display_name(name: &str) -> String {
        find(name).map_or(name.to_lowercase(), |g| g.name.to_string())
    }

    /// Sets `name` to `value` (as written, quotes removed); `None` resets.
    pub fn set(&mut self, name: &str, value: Option<&str>) -> Result<(), SqlError> {
        let Some(g) = find(name) else {
            if !name.contains('.') {
                return Err(unrecognized(name));
            }
            match value {
                Some(v) => self.custom.insert(name.to_lowercase(), v.to_string()),
                None => self.custom.remove(&name.to_lowercase()),
            };
            return Ok(());
        };
        let v = match value {
            None => g.default.to_string(),
            Some(v) => normalize(g, v, &self.values[g.name])?,
        };
        if self.values[g.name] != v {
            if g.reported {
                self.changed.push((g.name.to_string(), v.clone()));
            }
            self.values.insert(g.name, v);
        }
        Ok(())
    }

    /// Checks what `SET name = value` would store (`None` resets) without
    /// changing anything, for `set_config()`; `current` is the setting's
    /// value now (a partial `DateStyle` keeps the rest of it). Returns the
    /// value `SHOW` would then print.
    pub fn check(name: &str, value: Option<&str>, current: &str) -> Result<String, SqlError> {
        let Some(g) = find(name) else {
            if !name.contains('.') {
                return Err(unrecognized(name));
            }
            return Ok(value.unwrap_or_default().to_owned());
        };
        match value {
            // RESET of a read-only setting fails as SET would.
            None if matches!(g.kind, Kind::ReadOnly) => normalize(g, "", current),
            None => Ok(g.default.to_string()),
            Some(v) => normalize(g, v, current),
        }
    }

    /// Puts back settings saved at BEGIN (ROLLBACK undoes SETs), reporting
    /// the ones that change back.
    pub fn restore(&mut self, saved: Settings) {
        for (name, value) in &saved.values {
            if self.values.get(name) != Some(value)
                && GUCS.iter().any(|g| g.name == *name && g.reported)
            {
                self.changed.push((name.to_string(), value.clone()));
            }
        }
        self.values = saved.values;
        self.custom = saved.custom;
    }

    /// Resets every setting.
    pub fn reset_all(&mut self) {
        for g in GUCS {
            if !matches!(g.kind, Kind::ReadOnly) {
                let _ = self.set(g.name, None);
            }
        }
        self.custom.clear();
    }

    /// Reported settings that changed since the last call.
    pub fn take_changed(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.changed)
    }

    /// Every setting: (name, value, description), as SHOW ALL lists them.
    pub fn all(&self) -> Vec<(String, String, String)> {
        let mut v: Vec<(String, String, String)> = GUCS
            .iter()
            .map(|g| {
                (
                    g.name.to_string(),
                    self.values[g.name].clone(),
                    g.description.to_string(),
                )
            })
            .collect();
        v.sort_by_key(|(n, _, _)| n.to_lowercase());
        v
    }

    /// Every setting by lower-case name (for pg_settings and
    /// current_setting).
    pub fn map(&self) -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = self
            .values
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect();
        m.extend(self.custom.clone());
        m
    }

    /// The session time zone.
    pub fn time_zone(&self) -> TimeZone {
        TimeZone::parse_setting(&self.values["TimeZone"]).unwrap_or(TimeZone::UTC)
    }

    /// The session `DateStyle`.
    pub fn date_style(&self) -> DateStyle {
        parse_date_style(&self.values["DateStyle"], DateStyle::default())
            .expect("DateStyle is validated when set")
    }

    /// The session `IntervalStyle`.
    pub fn interval_style(&self) -> IntervalStyle {
        match self.values["IntervalStyle"].as_str() {
            "postgres_verbose" => IntervalStyle::PostgresVerbose,
            "sql_standard" => IntervalStyle::SqlStandard,
            "iso_8601" => IntervalStyle::Iso8601,
            _ => IntervalStyle::Postgres,
        }
    }

    /// `statement_timeout` in milliseconds (0 = none).
    pub fn statement_timeout_ms(&self) -> u64 {
        parse_millis(&self.values["statement_timeout"]).unwrap_or(0)
    }

    /// `work_mem` in bytes: what a sort, hash aggregation or hash join
    /// holds before spilling.
    pub fn work_mem_bytes(&self) -> usize {
        let kb = parse_kilobytes(&self.values["work_mem"])
            .ok()
            .flatten()
            .expect("work_mem is validated when set");
        usize::try_from(kb).expect("work_mem is positive") * 1024
    }

    /// `max_parallel_workers_per_gather`: threads a scan may add to the
    /// one running the query (0: none).
    pub fn parallel_workers(&self) -> usize {
        self.values["max_parallel_workers_per_gather"]
            .parse()
            .expect("max_parallel_workers_per_gather is validated when set")
    }

    /// The startup parameters a client sends (`application_name`,
    /// `DateStyle`, `options=-c name=value`), applied as SETs; unknown
    /// ones are ignored as PostgreSQL ignores none… but reports as errors:
    /// here a bad value fails the connection attempt.
    pub fn apply_startup(&mut self, name: &str, value: &str) -> Result<(), SqlError> {
        match name {
            "user" | "database" | "replication" => Ok(()),
            "options" => {
                // `-c name=value` pairs, or `--name=value`.
                let mut words = value.split_whitespace();
                while let Some(w) = words.next() {
                    let kv = if w == "-c" {
                        words.next().unwrap_or("")
                    } else if let Some(rest) = w.strip_prefix("-c") {
                        rest
                    } else if let Some(rest) = w.strip_prefix("--") {
                        rest
                    } else {
                        continue;
                    };
                    if let Some((k, v)) = kv.split_once('=') {
                        self.set(&k.replace('-', "_"), Some(v))?;
                    }
                }
                self.changed.clear();
                Ok(())
            }
            other => {
                let r = self.set(other, Some(value));
                self.changed.clear();
                r
            }
        }
    }
}

/// Settings `set_config()` changed while a statement ran. The statement
/// reads them back at once (`current_setting`); the session applies them,
/// as `SET` or `SET LOCAL` would, when the statement succeeds, and drops
/// them when it fails, as PostgreSQL's transaction abort undoes them.
#[derive(Debug, Default)]
pub struct PendingSettings(Mutex<Vec<PendingSetting>>);

/// One `set_config(name, value, is_local)` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingSetting {
    /// The name as given.
    pub name: String,
    /// The value as given; `None` resets.
    pub value: Option<String>,
    /// The value as `SHOW` prints it after the change.
    pub shown: String,
    /// Only for the rest of the transaction (`SET LOCAL`).
    pub local: bool,
}

impl PendingSettings {
    /// Records a change.
    pub fn push(&self, change: PendingSetting) {
        self.0.lock().expect("pending settings lock").push(change);
    }

    /// The latest value set for `name` (any case), if any.
    pub fn get(&self, name: &str) -> Option<String> {
        let changes = self.0.lock().expect("pending settings lock");
        changes
            .iter()
            .rev()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .map(|c| c.shown.clone())
    }

    /// Takes every change, in the order made.
    pub fn take(&self) -> Vec<PendingSetting> {
        std::mem::take(&mut *self.0.lock().expect("pending settings lock"))
    }
}

fn unrecognized(name: &str) -> SqlError {
    SqlError::new(
        code::UNDEFINED_OBJECT,
        format!(
            "unrecognized configuration parameter \"{}\"",
            name.to_lowercase()
        ),
    )
}

fn invalid(g: &Guc, value: &str) -> SqlError {
    SqlError::new(
        code::INVALID_PARAMETER_VALUE,
        format!("invalid value for parameter \"{}\": \"{value}\"", g.name),
    )
}

/// Why a `DateStyle` value is refused.
#[derive(Debug, PartialEq)]
enum DateStyleError {
    /// A word that is neither a style nor an order (lower case).
    Unrecognized(String),
    /// Two different styles, or two different orders.
    Conflicting,
}

/// Reads a `DateStyle` value as PostgreSQL's `check_datestyle`: a list of
/// a style (`ISO`, `SQL`, `Postgres`, `German`) and an order (`MDY`/`US`/
/// `NonEuro…`, `DMY`/`Euro…`, `YMD`), any case, either or both; what is not
/// given stays as in `current` (German brings DMY along, unless an order is
/// given), and `DEFAULT` stands for `ISO, MDY`.
fn parse_date_style(value: &str, current: DateStyle) -> Result<DateStyle, DateStyleError> {
    let mut output: Option<DateOutput> = None;
    let mut order: Option<DateOrder> = None;
    let mut conflicting = false;
    let mut default = false;
    for word in value.split(',').map(|w| w.trim().to_lowercase()) {
        let (new_output, new_order) = match word.as_str() {
            "iso" => (Some(DateOutput::Iso), None),
            "sql" => (Some(DateOutput::Sql), None),
            "german" => (Some(DateOutput::German), None),
            w if w.starts_with("postgres") => (Some(DateOutput::Postgres), None),
            "ymd" => (None, Some(DateOrder::Ymd)),
            w if w == "dmy" || w.starts_with("euro") => (None, Some(DateOrder::Dmy)),
            w if w == "mdy" || w == "us" || w.starts_with("noneuro") => {
                (None, Some(DateOrder::Mdy))
            }
            "default" => {
                default = true;
                (None, None)
            }
            _ => return Err(DateStyleError::Unrecognized(word)),
        };
        if let Some(new) = new_output {
            conflicting |= output.is_some_and(|old| old != new);
            output = Some(new);
        }
        if let Some(new) = new_order {
            conflicting |= order.is_some_and(|old| old != new);
            order = Some(new);
        }
    }
    if conflicting {
        return Err(DateStyleError::Conflicting);
    }
    // DEFAULT is the boot value, ISO, MDY, for the half not given.
    let base = if default {
        DateStyle::default()
    } else {
        current
    };
    let output = output.unwrap_or(base.output);
    let order = order.unwrap_or(if output == DateOutput::German && !default {
        DateOrder::Dmy
    } else {
        base.order
    });
    Ok(DateStyle { output, order })
}

/// A `DateStyle` as SHOW prints it: `German, DMY`.
fn show_date_style(style: DateStyle) -> String {
    let output = match style.output {
        DateOutput::Iso => "ISO",
        DateOutput::Sql => "SQL",
        DateOutput::Postgres => "Postgres",
        DateOutput::German => "German",
    };
    let order = match style.order {
        DateOrder::Mdy => "MDY",
        DateOrder::Dmy => "DMY",
        DateOrder::Ymd => "YMD",
    };
    format!("{output}, {order}")
}

/// Checks `value` for `g` and returns its display form; `current` is the
/// setting's value now, which a partial `DateStyle` keeps the rest of.
fn normalize(g: &Guc, value: &str, current: &str) -> Result<String, SqlError> {
    let v = value.trim();
    Ok(match g.kind {
        Kind::Text => v.to_string(),
        Kind::ReadOnly => {
            return Err(SqlError::new(
                code::CANT_CHANGE_RUNTIME_PARAM,
                format!("parameter \"{}\" cannot be changed", g.name.to_lowercase()),
            ))
        }
        Kind::Bool => match v.to_lowercase().as_str() {
            "on" | "true" | "yes" | "1" | "t" | "y" => "on".into(),
            "off" | "false" | "no" | "0" | "f" | "n" => "off".into(),
            _ => {
                return Err(SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!(
                        "parameter \"{}\" requires a Boolean value",
                        g.name.to_lowercase()
                    ),
                ))
            }
        },
        Kind::Int(lo, hi) => {
            let n: i64 = v.parse().map_err(|_| {
                SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!(
                        "invalid value for parameter \"{}\": \"{v}\"",
                        g.name.to_lowercase()
                    ),
                )
            })?;
            if n < lo || n > hi {
                return Err(SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!(
                        "{n} is outside the valid range for parameter \"{}\" ({lo} .. {hi})",
                        g.name.to_lowercase()
                    ),
                ));
            }
            n.to_string()
        }
        Kind::Millis => {
            let bad = || {
                SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!(
                        "invalid value for parameter \"{}\": \"{v}\"",
                        g.name.to_lowercase()
                    ),
                )
            };
            if let Some(n) = v.strip_prefix('-') {
                // A negative number is out of range (whatever its unit).
                let digits = n.trim_start_matches(|c: char| c.is_ascii_digit());
                if digits.len() < n.len() && digits.trim().is_empty() {
                    return Err(SqlError::new(
                        code::INVALID_PARAMETER_VALUE,
                        format!(
                            "{v} ms is outside the valid range for parameter \"{}\" (0 .. 2147483647)",
                            g.name.to_lowercase()
                        ),
                    ));
                }
            }
            let ms = parse_millis(v).ok_or_else(|| {
                // PostgreSQL hints at the units only for a number with a
                // unit it does not know.
                if v.starts_with(|c: char| c.is_ascii_digit()) {
                    bad().with_hint("Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\".")
                } else {
                    bad()
                }
            })?;
            show_millis(ms)
        }
        Kind::Kilobytes(lo, hi) => {
            let kb = match parse_kilobytes(v) {
                Ok(Some(kb)) => kb,
                Ok(None) => return Err(invalid_lower(g, v)),
                Err(KilobytesError::Unit) => return Err(invalid_lower(g, v).with_hint(
                    "Valid units for this parameter are \"B\", \"kB\", \"MB\", \"GB\", and \"TB\".",
                )),
                Err(KilobytesError::Range) => {
                    return Err(invalid_lower(g, v).with_hint("Value exceeds integer range."))
                }
            };
            if kb < lo || kb > hi {
                return Err(SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!(
                        "{kb} kB is outside the valid range for parameter \"{}\" ({lo} .. {hi})",
                        g.name.to_lowercase()
                    ),
                ));
            }
            show_kilobytes(kb)
        }
        Kind::Enum(options) => {
            let l = v.to_lowercase();
            if !options.contains(&l.as_str()) {
                return Err(if options.len() == 1 {
                    SqlError::new(
                        code::FEATURE_NOT_SUPPORTED,
                        format!("{} \"{v}\" is not supported", g.name),
                    )
                } else {
                    // Enum errors name the parameter in lower case, as
                    // PostgreSQL's parse_and_validate_value does.
                    invalid_lower(g, v)
                        .with_hint(format!("Available values: {}.", options.join(", ")))
                });
            }
            l
        }
        Kind::TimeZone => {
            let tz = if v.eq_ignore_ascii_case("local") || v.eq_ignore_ascii_case("default") {
                "UTC".to_string()
            } else {
                v.to_string()
            };
            TimeZone::setting_name(&tz).map_err(|_| invalid(g, v))?
        }
        Kind::DateStyle => {
            let current = parse_date_style(current, DateStyle::default())
                .expect("DateStyle is validated when set");
            match parse_date_style(v, current) {
                Ok(style) => show_date_style(style),
                Err(DateStyleError::Unrecognized(word)) => {
                    return Err(
                        invalid(g, v).with_detail(format!("Unrecognized key word: \"{word}\"."))
                    )
                }
                Err(DateStyleError::Conflicting) => {
                    return Err(
                        invalid(g, v).with_detail("Conflicting \"datestyle\" specifications.")
                    )
                }
            }
        }
        Kind::Encoding => {
            let l = v.to_lowercase().replace(['-', '_'], "");
            if l == "utf8" || l == "unicode" {
                "UTF8".into()
            } else if !ENCODINGS.contains(&l.as_str()) {
                return Err(invalid(g, v));
            } else {
                return Err(SqlError::new(
                    code::FEATURE_NOT_SUPPORTED,
                    format!("conversion between {v} and UTF8 is not supported"),
                ));
            }
        }
    })
}

/// Client encodings PostgreSQL knows (normalized: lower case, no `-` or
/// `_`); only UTF8 is served.
const ENCODINGS: &[&str] = &[
    "big5",
    "euccn",
    "eucjp",
    "eucjis2004",
    "euckr",
    "euctw",
    "gb18030",
    "gbk",
    "iso88595",
    "iso88596",
    "iso88597",
    "iso88598",
    "johab",
    "koi8r",
    "koi8u",
    "latin1",
    "latin2",
    "latin3",
    "latin4",
    "latin5",
    "latin6",
    "latin7",
    "latin8",
    "latin9",
    "latin10",
    "mulecinternal",
    "sjis",
    "shiftjis2004",
    "sqlascii",
    "uhc",
    "win866",
    "win874",
    "win1250",
    "win1251",
    "win1252",
    "win1253",
    "win1254",
    "win1255",
    "win1256",
    "win1257",
    "win1258",
    "windows1252",
    "alt",
];

/// A time setting in milliseconds: `5000`, `5s`, `1min`, `250ms`.
pub fn parse_millis(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let ms = match unit.trim() {
        "" | "ms" => n,
        "s" => n * 1000.0,
        "min" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        "d" => n * 86_400_000.0,
        "us" => n / 1000.0,
        _ => return None,
    };
    (ms >= 0.0 && ms <= f64::from(i32::MAX)).then_some(ms.round() as u64)
}

/// Why a memory setting's value is not a number of kilobytes.
#[derive(Debug, PartialEq)]
enum KilobytesError {
    /// A number with a unit PostgreSQL does not know for memory.
    Unit,
    /// Outside the integer range.
    Range,
}

/// A memory setting in kilobytes, as PostgreSQL's `parse_int` reads it: an
/// integer (or, with a unit, a decimal) number, optionally followed by a
/// case-sensitive unit `B`, `kB`, `MB`, `GB` or `TB`; no unit means kB.
/// Rounded to the nearest kilobyte. `Ok(None)`: not a number at all.
fn parse_kilobytes(v: &str) -> Result<Option<i64>, KilobytesError> {
    let v = v.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let Ok(n) = num.parse::<f64>() else {
        return Ok(None);
    };
    let unit = unit.trim();
    // Without a unit the value must be an integer, as PostgreSQL's.
    if unit.is_empty() && num.parse::<i64>().is_err() {
        return if num.contains('.') {
            Ok(None)
        } else {
            Err(KilobytesError::Range)
        };
    }
    let scale = match unit {
        "" | "kB" => 1.0,
        "B" => 1.0 / 1024.0,
        "MB" => 1024.0,
        "GB" => 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(KilobytesError::Unit),
    };
    let kb = (n * scale).round();
    if kb < f64::from(i32::MIN) || kb > f64::from(i32::MAX) {
        return Err(KilobytesError::Range);
    }
    Ok(Some(kb as i64))
}

/// Kilobytes as PostgreSQL shows a memory setting: the largest exact unit.
fn show_kilobytes(kb: i64) -> String {
    if kb == 0 {
        return "0".into();
    }
    for (unit, size) in [("TB", 1 << 30), ("GB", 1 << 20), ("MB", 1 << 10)] {
        if kb % size == 0 {
            return format!("{}{unit}", kb / size);
        }
    }
    format!("{kb}kB")
}

/// 22023 `invalid value for parameter "name": "value"`, the name in lower
/// case as PostgreSQL prints it for numeric settings.
fn invalid_lower(g: &Guc, value: &str) -> SqlError {
    SqlError::new(
        code::INVALID_PARAMETER_VALUE,
        format!(
            "invalid value for parameter \"{}\": \"{value}\"",
            g.name.to_lowercase()
        ),
    )
}

/// Milliseconds as PostgreSQL shows a time setting: the largest exact unit.
fn show_millis(ms: u64) -> String {
    if ms == 0 {
        return "0".into();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_show_as_postgresql_shows_them() {
        let mut s = Settings::new("u");
        s.set("statement_timeout", Some("5000")).unwrap();
        assert_eq!(s.get("statement_timeout").unwrap(), "5s");
        s.set("statement_timeout", Some("90s")).unwrap();
        assert_eq!(s.get("statement_timeout").unwrap(), "90s");
        s.set("statement_timeout", Some("2min")).unwrap();
        assert_eq!(s.get("statement_timeout").unwrap(), "2min");
        assert_eq!(s.statement_timeout_ms(), 120_000);
        s.set("datestyle", Some("iso, dmy")).unwrap();
        assert_eq!(s.get("DateStyle").unwrap(), "ISO, DMY");
        assert_eq!(
            s.take_changed(),
            [("DateStyle".to_string(), "ISO, DMY".to_string())]
        );
        assert_eq!(s.get("nope").unwrap_err().code, "42704");
        assert_eq!(
            s.set("server_version", Some("1")).unwrap_err().code,
            "55P02"
        );
        assert_eq!(
            s.set("statement_timeout", Some("soon")).unwrap_err().code,
            "22023"
        );
        s.set("myapp.tenant", Some("7")).unwrap();
        assert_eq!(s.get("myapp.tenant").unwrap(), "7");
        s.set("TimeZone", Some("utc")).unwrap();
        assert_eq!(s.get("timezone").unwrap(), "UTC");
        assert_eq!(
            s.set("TimeZone", Some("Mars/Base")).unwrap_err().code,
            "22023"
        );
        s.reset_all();
        assert_eq!(s.get("statement_timeout").unwrap(), "0");
    }

    #[test]
    fn date_style_keeps_what_is_not_given() {
        let mut s = Settings::new("u");
        let mut set = |v: &str| {
            s.set("DateStyle", Some(v))?;
            Ok::<_, SqlError>((s.get("DateStyle")?, s.date_style()))
        };
        let style = |output, order| DateStyle { output, order };
        assert_eq!(
            set("sql").unwrap(),
            ("SQL, MDY".into(), style(DateOutput::Sql, DateOrder::Mdy))
        );
        assert_eq!(set("euro").unwrap().0, "SQL, DMY");
        assert_eq!(set("postgres").unwrap().0, "Postgres, DMY");
        assert_eq!(set("us, German").unwrap().0, "German, MDY");
        assert_eq!(set("iso, ymd").unwrap().0, "ISO, YMD");
        // German brings DMY unless an order is given.
        assert_eq!(
            set("German").unwrap(),
            (
                "German, DMY".into(),
                style(DateOutput::German, DateOrder::Dmy)
            )
        );
        assert_eq!(set("default").unwrap().0, "ISO, MDY");
        let e = set("ISO, SQL").unwrap_err();
        assert_eq!(e.code, "22023");
        assert_eq!(
            e.detail.as_deref(),
            Some("Conflicting \"datestyle\" specifications.")
        );
        assert!(set("DMY, YMD").is_err());
        let e = set("ISO, Klingon").unwrap_err();
        assert_eq!(
            e.detail.as_deref(),
            Some("Unrecognized key word: \"klingon\".")
        );
        assert_eq!(s.get("DateStyle").unwrap(), "ISO, MDY");
    }

    #[test]
    fn interval_style_and_numeric_time_zones() {
        let mut s = Settings::new("u");
        assert_eq!(s.interval_style(), IntervalStyle::Postgres);
        s.set("intervalstyle", Some("SQL_Standard")).unwrap();
        assert_eq!(s.get("IntervalStyle").unwrap(), "sql_standard");
        assert_eq!(s.interval_style(), IntervalStyle::SqlStandard);
        let e = s.set("IntervalStyle", Some("nosuch")).unwrap_err();
        assert_eq!(
            e.message,
            "invalid value for parameter \"intervalstyle\": \"nosuch\""
        );
        s.set("TimeZone", Some("-5.5")).unwrap();
        assert_eq!(s.get("TimeZone").unwrap(), "<-05:30>+05:30");
        assert_eq!(s.time_zone().utc_offset_secs_at(0), -19800);
        s.set("TimeZone", Some("europe/berlin")).unwrap();
        assert_eq!(s.get("TimeZone").unwrap(), "Europe/Berlin");
    }

    #[test]
    fn work_mem_reads_and_shows_memory_units() {
        let mut s = Settings::new("u");
        assert_eq!(s.get("work_mem").unwrap(), "4MB");
        assert_eq!(s.work_mem_bytes(), 4 << 20);
        for (set, shown, bytes) in [
            ("64kB", "64kB", 64 << 10),
            ("1000", "1000kB", 1000 << 10),
            ("2048", "2MB", 2 << 20),
            ("1.5MB", "1536kB", 1536 << 10),
            ("1GB", "1GB", 1 << 30),
            ("65536B", "64kB", 64 << 10),
        ] {
            s.set("work_mem", Some(set)).unwrap();
            assert_eq!(s.get("work_mem").unwrap(), shown, "{set}");
            assert_eq!(s.work_mem_bytes(), bytes, "{set}");
        }
        let e = s.set("work_mem", Some("63kB")).unwrap_err();
        assert_eq!(e.code, "22023");
        assert_eq!(
            e.message,
            "63 kB is outside the valid range for parameter \"work_mem\" (64 .. 2147483647)"
        );
        let e = s.set("work_mem", Some("4mb")).unwrap_err();
        assert_eq!(
            e.message,
            "invalid value for parameter \"work_mem\": \"4mb\""
        );
        assert!(e.hint.unwrap().contains("\"kB\", \"MB\""));
        assert_eq!(s.set("work_mem", Some("lots")).unwrap_err().code, "22023");
        assert_eq!(s.get("work_mem").unwrap(), "64kB");
    }
}

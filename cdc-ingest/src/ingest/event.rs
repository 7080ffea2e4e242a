//! From a request body to row changes: JSON or NDJSON, plain events or
//! Debezium envelopes, each reduced to an upsert, a delete or a truncate
//! with its key and ordering position.
//!
//! Everything a request carries is checked here, before anything is queued,
//! so that a bad event rejects its whole request with a message naming the
//! line (NDJSON, and JSON syntax errors), the event's number and the field,
//! and nothing of that request reaches the database. The one check left to
//! the database is the text of extra columns it casts (say a malformed
//! timestamp string); a request it rejects is also rolled back whole.
//!
//! Paths in the table's config are read from the event as received, after
//! unwrapping Debezium's `schema`/`payload` wrapper, with one exception: a
//! Debezium event's key path is read from the row image (`after` for
//! c/r/u, `before` for d, or the envelope's `key` object when `before` is
//! null).

use serde_json::Value;

use super::config::{ColumnType, Format, JsonPath, TableConfig};

/// Longest key, in bytes: keys are B-tree index entries.
pub const KEY_BYTES_MAX: usize = 1024;

/// An event's ordering position (source LSN, `ts_ms`, ...): a newer event
/// has a larger one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(pub i64);

/// What one event does to its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Insert or replace the row of `key` unless it holds a newer position.
    Upsert {
        /// The row's key, as text.
        key: String,
        /// The event's position.
        position: Position,
        /// The row's `payload`, as JSON text.
        payload: String,
        /// Extra columns' values as text (cast by the database), in the
        /// order of the table config's `columns`; `None` is SQL NULL.
        columns: Vec<Option<String>>,
    },
    /// Delete the row of `key` unless it holds a newer position, and
    /// remember the delete so an older upsert arriving later is stale.
    Delete {
        /// The row's key, as text.
        key: String,
        /// The event's position.
        position: Position,
    },
    /// Empty the table.
    Truncate,
}

/// The changes of one request, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The changes.
    pub changes: Vec<Change>,
    /// Tombstones (JSON `null`s) skipped.
    pub ignored: u64,
}

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One JSON object, or an array of them.
    Json,
    /// One JSON value per line.
    Ndjson,
}

/// Why a request's events were refused (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct InputError {
    /// 1-based line of the body, when known.
    pub line: Option<u64>,
    /// 1-based number of the event in the request, when known.
    pub event: Option<u64>,
    /// The JSON path of the offending field, when one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    fn describe(&self) -> String {
        let mut out = String::new();
        if let Some(line) = self.line {
            out += &format!("line {line}: ");
        } else if let Some(event) = self.event {
            out += &format!("event {event}: ");
        }
        if let Some(field) = &self.field {
            out += &format!("field {field}: ");
        }
        out + &self.message
    }
}

/// Where an event sits in the body, for messages.
#[derive(Debug, Clone, Copy)]
struct Site {
    line: Option<u64>,
    event: u64,
}

impl Site {
    fn error(self, field: Option<String>, message: impl Into<String>) -> InputError {
        InputError {
            line: self.line,
            event: Some(self.event),
            field,
            message: message.into(),
        }
    }
}

/// Parses a whole body into changes for a table with mapping `config`.
/// `table` only names the table in messages.
pub fn parse_body(
    body: &[u8],
    format: BodyFormat,
    table: &str,
    config: &TableConfig,
) -> Result<Parsed, InputError> {
    let mut parsed = Parsed::default();
    match format {
        BodyFormat::Json => {
            let value: Value = serde_json::from_slice(body).map_err(|e| InputError {
                line: Some(e.line() as u64),
                event: None,
                field: None,
                message: format!("malformed JSON: {e}"),
            })?;
            match value {
                Value::Array(events) => {
                    for (i, event) in events.into_iter().enumerate() {
                        let site = Site {
                            line: None,
                            event: i as u64 + 1,
                        };
                        push_event(&mut parsed, event, site, table, config)?;
                    }
                }
                event => {
                    let site = Site {
                        line: None,
                        event: 1,
                    };
                    push_event(&mut parsed, event, site, table, config)?;
                }
            }
        }
        BodyFormat::Ndjson => {
            let mut event = 0;
            for (i, line) in body.split(|&b| b == b'\n').enumerate() {
                let line_no = i as u64 + 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                event += 1;
                let value: Value = serde_json::from_slice(line).map_err(|e| InputError {
                    line: Some(line_no),
                    event: Some(event),
                    field: None,
                    message: format!("malformed JSON: {e}"),
                })?;
                let site = Site {
                    line: Some(line_no),
                    event,
                };
                push_event(&mut parsed, value, site, table, config)?;
            }
        }
    }
    Ok(parsed)
}

fn push_event(
    parsed: &mut Parsed,
    event: Value,
    site: Site,
    table: &str,
    config: &TableConfig,
) -> Result<(), InputError> {
    match event_change(event, site, table, config)? {
        Some(change) => parsed.changes.push(change),
        None => parsed.ignored += 1,
    }
    Ok(())
}

/// One event's change; `None` for a tombstone.
fn event_change(
    event: Value,
    site: Site,
    table: &str,
    config: &TableConfig,
) -> Result<Option<Change>, InputError> {
    if event.is_null() {
        return Ok(None);
    }
    let event = match config.format {
        Format::Plain => event,
        Format::Auto | Format::Debezium => unwrap_schema(event),
    };
    if event.is_null() {
        return Ok(None);
    }
    if !event.is_object() {
        return Err(site.error(None, "an event must be a JSON object"));
    }
    let debezium = match config.format {
        Format::Plain => false,
        Format::Debezium => true,
        Format::Auto => looks_like_debezium(&event),
    };
    if debezium {
        debezium_change(event, site, table, config).map(Some)
    } else {
        let key = key_at(&event, &config.key, None, site)?;
        let position = position_of(&event, config, site)?;
        let columns = columns_of(&event, config, site)?;
        Ok(Some(Change::Upsert {
            key,
            position,
            payload: event.to_string(),
            columns,
        }))
    }
}

/// Debezium's JSON converter with schemas on wraps each event as
/// `{"schema": ..., "payload": ...}`.
fn unwrap_schema(event: Value) -> Value {
    match event {
        Value::Object(mut map) if map.contains_key("schema") && map.contains_key("payload") => {
            map.remove("payload").expect("checked above")
        }
        other => other,
    }
}

fn looks_like_debezium(event: &Value) -> bool {
    let Some(op) = event.get("op").and_then(Value::as_str) else {
        return false;
    };
    match op {
        "t" => true,
        "c" | "r" | "u" | "d" => event.get("after").is_some() || event.get("before").is_some(),
        _ => false,
    }
}

fn debezium_change(
    event: Value,
    site: Site,
    table: &str,
    config: &TableConfig,
) -> Result<Change, InputError> {
    let op = event
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| site.error(Some("op".into()), "a Debezium event needs a string op"))?;
    match op {
        "c" | "r" | "u" => {
            let after = event
                .get("after")
                .filter(|a| a.is_object())
                .ok_or_else(|| {
                    site.error(
                        Some("after".into()),
                        format!("op {op:?} needs an object in after"),
                    )
                })?;
            let key = key_at(after, &config.key, Some("after"), site)?;
            let position = position_of(&event, config, site)?;
            let columns = columns_of(&event, config, site)?;
            Ok(Change::Upsert {
                key,
                position,
                payload: after.to_string(),
                columns,
            })
        }
        "d" => {
            let (image, prefix) = match event.get("before").filter(|b| b.is_object()) {
                Some(before) => (before, "before"),
                None => match event.get("key").filter(|k| k.is_object()) {
                    Some(key) => (key, "key"),
                    None => {
                        return Err(site.error(
                            Some("before".into()),
                            "a delete needs the old row in before (or the message key in key)",
                        ))
                    }
                },
            };
            let key = key_at(image, &config.key, Some(prefix), site)?;
            let position = position_of(&event, config, site)?;
            Ok(Change::Delete { key, position })
        }
        "t" => {
            if !config.allow_truncate {
                return Err(site.error(
                    Some("op".into()),
                    format!("truncate events are not allowed for table {table} (allow_truncate)"),
                ));
            }
            Ok(Change::Truncate)
        }
        other => Err(site.error(
            Some("op".into()),
            format!("unknown Debezium op {other:?} (expected c, r, u, d or t)"),
        )),
    }
}

fn key_at(
    image: &Value,
    path: &JsonPath,
    prefix: Option<&str>,
    site: Site,
) -> Result<String, InputError> {
    let field = || Some(prefix.map_or_else(|| path.to_string(), |p| path.under(p)));
    let key = match path.get(image) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(Value::Null) | None => return Err(site.error(field(), "the key is missing")),
        Some(_) => {
            return Err(site.error(field(), "the key must be a non-empty string or an integer"))
        }
    };
    if key.len() > KEY_BYTES_MAX {
        return Err(site.error(
            field(),
            format!("the key is longer than {KEY_BYTES_MAX} bytes"),
        ));
    }
    Ok(key)
}

fn position_of(event: &Value, config: &TableConfig, site: Site) -> Result<Position, InputError> {
    for path in &config.position {
        let field = || Some(path.to_string());
        match path.get(event) {
            None | Some(Value::Null) => continue,
            Some(Value::Number(n)) => {
                return n.as_i64().map(Position).ok_or_else(|| {
                    site.error(field(), "the position must be an integer within bigint")
                })
            }
            Some(Value::String(s)) => {
                return s.parse::<i64>().map(Position).map_err(|_| {
                    site.error(field(), "the position must be an integer within bigint")
                })
            }
            Some(_) => return Err(site.error(field(), "the position must be an integer")),
        }
    }
    let paths: Vec<String> = config.position.iter().map(ToString::to_string).collect();
    Err(site.error(
        Some(paths.join(", ")),
        "no ordering position: none of these fields is present",
    ))
}

fn columns_of(
    event: &Value,
    config: &TableConfig,
    site: Site,
) -> Result<Vec<Option<String>>, InputError> {
    config
        .columns
        .iter()
        .map(|column| {
            let value = match column.path.get(event) {
                None | Some(Value::Null) => return Ok(None),
                Some(value) => value,
            };
            column_text(value, column.ty)
                .map(Some)
                .map_err(|message| site.error(Some(column.path.to_string()), message))
        })
        .collect()
}

/// The text a column of type `ty` is cast from.
fn column_text(value: &Value, ty: ColumnType) -> Result<String, String> {
    let mismatch = || format!("cannot be stored in a {} column", ty.sql());
    match ty {
        ColumnType::Jsonb => Ok(value.to_string()),
        ColumnType::Text => Ok(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        ColumnType::Bigint | ColumnType::Integer => {
            let n = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(mismatch)?;
            if ty == ColumnType::Integer && i32::try_from(n).is_err() {
                return Err(mismatch());
            }
            Ok(n.to_string())
        }
        ColumnType::Numeric | ColumnType::Double => match value {
            Value::Number(n) => Ok(n.to_string()),
            Value::String(s) if s.trim().parse::<f64>().is_ok() => Ok(s.clone()),
            _ => Err(mismatch()),
        },
        ColumnType::Boolean => match value {
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(mismatch()),
        },
        ColumnType::Timestamptz => match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => n
                .as_i64()
                .and_then(epoch_ms_to_rfc3339)
                .ok_or_else(mismatch),
            _ => Err(mismatch()),
        },
    }
}

/// Milliseconds since 1970-01-01 UTC as `YYYY-MM-DDTHH:MM:SS.mmmZ`, for
/// years 0 to 9999.
pub(crate) fn epoch_ms_to_rfc3339(ms: i64) -> Option<String> {
    let days = ms.div_euclid(86_400_000);
    let ms_of_day = ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1_000 % 60,
        ms_of_day % 1_000,
    );
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::config::ColumnMapping;

    fn cfg() -> TableConfig {
        TableConfig::default()
    }

    #[test]
    fn plain_events_take_key_and_position_from_defaults() {
        let body = br#"{"id": "a", "ts_ms": 5, "x": 1}"#;
        let parsed = parse_body(body, BodyFormat::Json, "t", &cfg()).unwrap();
        assert_eq!(
            parsed.changes,
            vec![Change::Upsert {
                key: "a".into(),
                position: Position(5),
                payload: r#"{"id":"a","ts_ms":5,"x":1}"#.into(),
                columns: vec![],
            }]
        );
        // source.lsn wins over ts_ms when both are there.
        let body = br#"[{"id": 7, "ts_ms": 5, "source": {"lsn": "900"}}, null]"#;
        let parsed = parse_body(body, BodyFormat::Json, "t", &cfg()).unwrap();
        assert!(matches!(
            &parsed.changes[0],
            Change::Upsert { key, position: Position(900), .. } if key == "7"
        ));
        assert_eq!(parsed.ignored, 1);
    }

    #[test]
    fn debezium_envelopes_with_and_without_the_schema_wrapper() {
        let body = concat!(
            r#"{"schema": {}, "payload": {"op": "c", "before": null, "after": {"id": 1, "v": "x"}, "source": {"lsn": 10}, "ts_ms": 1}}"#,
            "\n",
            r#"{"op": "d", "before": {"id": 1}, "after": null, "source": {"lsn": 11}}"#,
            "\n\n",
            r#"{"schema": {}, "payload": null}"#,
            "\n",
            r#"{"op": "d", "before": null, "key": {"id": 2}, "source": {"lsn": 12}}"#,
            "\n",
        );
        let parsed = parse_body(body.as_bytes(), BodyFormat::Ndjson, "t", &cfg()).unwrap();
        assert_eq!(parsed.ignored, 1);
        assert_eq!(
            parsed.changes,
            vec![
                Change::Upsert {
                    key: "1".into(),
                    position: Position(10),
                    payload: r#"{"id":1,"v":"x"}"#.into(),
                    columns: vec![],
                },
                Change::Delete {
                    key: "1".into(),
                    position: Position(11)
                },
                Change::Delete {
                    key: "2".into(),
                    position: Position(12)
                },
            ]
        );
    }

    #[test]
    fn truncate_needs_the_table_to_allow_it() {
        let body = br#"{"op": "t", "source": {"lsn": 3}}"#;
        let err = parse_body(body, BodyFormat::Json, "orders", &cfg()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("op"));
        assert!(err.message.contains("allow_truncate"), "{err}");
        let allowing = TableConfig {
            allow_truncate: true,
            ..cfg()
        };
        let parsed = parse_body(body, BodyFormat::Json, "orders", &allowing).unwrap();
        assert_eq!(parsed.changes, vec![Change::Truncate]);
    }

    #[test]
    fn errors_name_line_event_and_field() {
        let body = b"{\"id\": \"a\", \"ts_ms\": 1}\n\n{\"id\": \"b\", \"ts_ms\": 2\n";
        let err = parse_body(body, BodyFormat::Ndjson, "t", &cfg()).unwrap_err();
        assert_eq!((err.line, err.event), (Some(3), Some(2)));
        assert!(
            err.to_string().starts_with("line 3: malformed JSON"),
            "{err}"
        );

        let body = br#"[{"id": "a", "ts_ms": 1}, {"ts_ms": 2}]"#;
        let err = parse_body(body, BodyFormat::Json, "t", &cfg()).unwrap_err();
        assert_eq!((err.event, err.field.as_deref()), (Some(2), Some("id")));

        let body = br#"{"op": "u", "after": {"id": "a"}, "ts_ms": 1.5}"#;
        let err = parse_body(body, BodyFormat::Json, "t", &cfg()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("ts_ms"));

        let body = br#"{"op": "u", "after": {"nope": "a"}, "ts_ms": 1}"#;
        let err = parse_body(body, BodyFormat::Json, "t", &cfg()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("after.id"));

        let body = br#"{"id": "a"}"#;
        let err = parse_body(body, BodyFormat::Json, "t", &cfg()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("source.lsn, ts_ms"));

        let body = b"[1]";
        assert!(parse_body(body, BodyFormat::Json, "t", &cfg()).is_err());
    }

    #[test]
    fn extra_columns_are_typed_text() {
        let config = TableConfig {
            columns: vec![
                ColumnMapping {
                    name: "amount".into(),
                    path: JsonPath::parse("amount").unwrap(),
                    ty: ColumnType::Numeric,
                },
                ColumnMapping {
                    name: "ts".into(),
                    path: JsonPath::parse("ts_ms").unwrap(),
                    ty: ColumnType::Timestamptz,
                },
                ColumnMapping {
                    name: "src".into(),
                    path: JsonPath::parse("source").unwrap(),
                    ty: ColumnType::Jsonb,
                },
            ],
            ..cfg()
        };
        let body = br#"{"id": "a", "ts_ms": 1700000000123, "amount": "12.50"}"#;
        let parsed = parse_body(body, BodyFormat::Json, "t", &config).unwrap();
        let Change::Upsert { columns, .. } = &parsed.changes[0] else {
            panic!("not an upsert");
        };
        assert_eq!(
            columns,
            &vec![
                Some("12.50".into()),
                Some("2023-11-14T22:13:20.123Z".into()),
                None
            ]
        );
        let body = br#"{"id": "a", "ts_ms": 1, "amount": "lots"}"#;
        let err = parse_body(body, BodyFormat::Json, "t", &config).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("amount"));
    }

    #[test]
    fn epoch_conversion_matches_known_dates() {
        assert_eq!(epoch_ms_to_rfc3339(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            epoch_ms_to_rfc3339(951_782_400_000).unwrap(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(epoch_ms_to_rfc3339(-1).unwrap(), "1969-12-31T23:59:59.999Z");
        assert_eq!(epoch_ms_to_rfc3339(i64::MAX), None);
    }
}

//! The SQL the exporter sends, and what it learns about the table first.
//!
//! Everything here is plain PostgreSQL that Sextant also speaks: a
//! `SELECT * … LIMIT 0` described to learn the columns and their types,
//! `information_schema` for the primary key, and one
//! `COPY (SELECT … WHERE t >= start AND t < end ORDER BY …) TO STDOUT`
//! per window. COPY takes no bind parameters, so window bounds are
//! literals this module writes itself (never user text), and identifiers
//! are always double-quoted.
//!
//! Rows are ordered by the time column, then the primary key, so the same
//! data always gives the same bytes. Without a primary key they are ordered
//! by every column of a type with a total order (json has none), which is
//! deterministic unless two rows differ only in such a column.
//!
//! NDJSON rows are `json_build_object('col', col, …)`: PostgreSQL's own
//! conversion, so jsonb columns are embedded as JSON, numbers stay
//! numbers, arrays become arrays and timestamps are ISO 8601. The function
//! takes at most 100 arguments, so wider tables are built from several
//! objects whose texts are spliced. `json` columns are cast to `jsonb`:
//! their text may hold newlines, which would split an NDJSON line.

use tokio_postgres::types::Type;

use super::window::UnixTime;

/// Column pairs per `json_build_object` call (PostgreSQL allows 100
/// arguments, i.e. 50 key/value pairs).
const JSON_PAIRS_PER_CALL_MAX: usize = 50;

/// A table as named on the command line: `name` or `schema.name`, each part
/// an SQL identifier (folded to lower case unless double-quoted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName {
    /// The schema, if given; otherwise the server's search path decides.
    pub schema: Option<String>,
    /// The table's name.
    pub name: String,
}

/// Why a table or column name given on the command line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// Empty, an unterminated quote, or too many dots.
    #[error("invalid {what} name {text:?}: expected an SQL identifier{extra}")]
    Invalid {
        /// "table" or "column".
        what: &'static str,
        /// What was given.
        text: String,
        /// What else is allowed.
        extra: &'static str,
    },
}

impl TableName {
    /// Parses `events`, `public.events`, `"Mixed Case"`, `app."Events"`.
    pub fn parse(text: &str) -> Result<TableName, NameError> {
        let bad = || NameError::Invalid {
            what: "table",
            text: text.to_owned(),
            extra: " or schema.identifier",
        };
        let parts = split_identifiers(text).ok_or_else(bad)?;
        match <[String; 2]>::try_from(parts) {
            Ok([schema, name]) => Ok(TableName {
                schema: Some(schema),
                name,
            }),
            Err(parts) => match <[String; 1]>::try_from(parts) {
                Ok([name]) => Ok(TableName { schema: None, name }),
                Err(_) => Err(bad()),
            },
        }
    }

    /// The name quoted for SQL: `"public"."events"`.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        }
    }

    /// The name as it appears in file names: `events` or `app.events`,
    /// with bytes other than ASCII letters, digits, `_` and `-`
    /// percent-encoded (so a name never makes a path).
    pub fn file_stem(&self) -> String {
        let mut out = String::new();
        let plain = |s: &str, out: &mut String| {
            for b in s.bytes() {
                if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                    out.push(char::from(b));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        };
        if let Some(s) = &self.schema {
            plain(s, &mut out);
            out.push('.');
        }
        plain(&self.name, &mut out);
        out
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// Parses one column name (an SQL identifier).
pub fn parse_column(text: &str) -> Result<String, NameError> {
    let bad = || NameError::Invalid {
        what: "column",
        text: text.to_owned(),
        extra: "",
    };
    let parts = split_identifiers(text).ok_or_else(bad)?;
    match <[String; 1]>::try_from(parts) {
        Ok([name]) => Ok(name),
        Err(_) => Err(bad()),
    }
}

/// Splits `a."B c".d` into identifiers: unquoted parts are folded to lower
/// case (ASCII, as PostgreSQL does), quoted ones kept with `""` as `"`.
fn split_identifiers(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' || c == '"' {
                    break;
                }
                part.push(c.to_ascii_lowercase());
                chars.next();
            }
        }
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => continue,
            Some(_) => return None,
        }
    }
}

/// `"name"`, with `"` doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with `'` doubled (standard_conforming_strings is on in every
/// server the exporter talks to; it is PostgreSQL's default since 9.1).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// How the time column stores instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeType {
    /// `timestamp with time zone`.
    TimestampTz,
    /// `timestamp without time zone`, read as UTC.
    Timestamp,
}

/// One column of the exported table.
#[derive(Clone, Debug)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type as the server described it.
    pub ty: Type,
}

/// What the exporter knows about the table.
#[derive(Clone, Debug)]
pub struct TableInfo {
    /// As given.
    pub name: TableName,
    /// In table order.
    pub columns: Vec<Column>,
    /// The time column's name.
    pub time_column: String,
    /// The time column's type.
    pub time_type: TimeType,
    /// Primary-key columns in key order (empty: none).
    pub primary_key: Vec<String>,
}

/// The two file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header line, PostgreSQL's `COPY … (FORMAT csv, HEADER)`.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }
}

/// Session settings that fix the text of every value, so reruns are
/// byte-identical whatever the server's or the role's defaults.
pub const SESSION_SETUP: &[&str] = &[
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, MDY'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
];

/// Describes the table's columns.
pub fn describe_query(table: &TableName) -> String {
    format!("SELECT * FROM {} LIMIT 0", table.quoted())
}

/// The primary key's columns in key order (as text rows).
pub fn primary_key_query(table: &TableName) -> String {
    let schema = table
        .schema
        .as_deref()
        .map_or_else(|| "current_schema()".to_owned(), quote_literal);
    format!(
        "SELECT kcu.column_name::text \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage kcu \
           ON kcu.constraint_name = tc.constraint_name \
          AND kcu.table_schema = tc.table_schema \
          AND kcu.table_name = tc.table_name \
         WHERE tc.constraint_type = 'PRIMARY KEY' \
           AND tc.table_schema = {schema} \
           AND tc.table_name = {} \
         ORDER BY kcu.ordinal_position",
        quote_literal(&table.name)
    )
}

/// The earliest time in the table, as text (NULL when empty).
pub fn earliest_query(info: &TableInfo) -> String {
    format!(
        "SELECT min({})::text FROM {}",
        quote_ident(&info.time_column),
        info.name.quoted()
    )
}

/// How far behind the writer the server's data is, in milliseconds:
/// Sextant's `sextant_replica_status()` row for the server answering (a
/// reader's own row; the writer's, always 0).
pub const SEXTANT_LAG_QUERY: &str = "SELECT max(replica_lag_in_msec)::int8 \
     FROM sextant_replica_status() \
     WHERE role = CASE WHEN pg_is_in_recovery() THEN 'reader' ELSE 'writer' END";

/// The same for PostgreSQL: 0 on a primary or a standby that has replayed
/// all it received, else the age of the last replayed transaction.
pub const POSTGRES_LAG_QUERY: &str = "SELECT CASE \
       WHEN NOT pg_is_in_recovery() THEN 0 \
       WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
       ELSE coalesce(floor(extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000), 0) \
     END::int8";

impl TableInfo {
    /// The time column's type from the described columns, or `None` if
    /// it is not a timestamp.
    pub fn time_type_of(ty: &Type) -> Option<TimeType> {
        match *ty {
            Type::TIMESTAMPTZ => Some(TimeType::TimestampTz),
            Type::TIMESTAMP => Some(TimeType::Timestamp),
            _ => None,
        }
    }

    /// A window bound as a literal of the time column's type.
    fn literal(&self, t: UnixTime) -> String {
        match self.time_type {
            TimeType::TimestampTz => format!("'{}'::timestamptz", t.sql_timestamptz()),
            TimeType::Timestamp => format!("'{}'::timestamp", t.sql_timestamp()),
        }
    }

    /// `ORDER BY` list: time, then the key (or every orderable column).
    fn order_by(&self) -> String {
        let mut cols = vec![self.time_column.clone()];
        if self.primary_key.is_empty() {
            cols.extend(
                self.columns
                    .iter()
                    .filter(|c| has_total_order(&c.ty))
                    .map(|c| c.name.clone()),
            );
        } else {
            cols.extend(self.primary_key.iter().cloned());
        }
        let mut seen = std::collections::HashSet::new();
        cols.retain(|c| seen.insert(c.clone()));
        cols.iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The COPY statement for one window.
    pub fn copy_query(&self, format: Format, start: UnixTime, end: UnixTime) -> String {
        assert!(start < end, "window {start}..{end} is empty");
        let select = match format {
            Format::Csv => "*".to_owned(),
            Format::Ndjson => self.json_row(),
        };
        let time = quote_ident(&self.time_column);
        let body = format!(
            "SELECT {select} FROM {} WHERE {time} >= {} AND {time} < {} ORDER BY {}",
            self.name.quoted(),
            self.literal(start),
            self.literal(end),
            self.order_by()
        );
        match format {
            Format::Csv => format!("COPY ({body}) TO STDOUT WITH (FORMAT csv, HEADER)"),
            Format::Ndjson => format!("COPY ({body}) TO STDOUT"),
        }
    }

    /// One JSON object per row, keys in column order.
    fn json_row(&self) -> String {
        assert!(!self.columns.is_empty(), "a table has columns");
        let calls: Vec<String> = self
            .columns
            .chunks(JSON_PAIRS_PER_CALL_MAX)
            .map(|chunk| {
                let args: Vec<String> = chunk
                    .iter()
                    .map(|c| {
                        let value = if c.ty == Type::JSON {
                            format!("{}::jsonb", quote_ident(&c.name))
                        } else {
                            quote_ident(&c.name)
                        };
                        format!("{}, {value}", quote_literal(&c.name))
                    })
                    .collect();
                format!("json_build_object({})", args.join(", "))
            })
            .collect();
        match calls.as_slice() {
            [one] => one.clone(),
            // `{"a" : 1}` and `{"b" : 2}` make `{"a" : 1, "b" : 2}`.
            many => {
                let inner: Vec<String> = many
                    .iter()
                    .map(|c| format!("substr(left({c}::text, -1), 2)"))
                    .collect();
                format!("'{{' || {} || '}}'", inner.join(" || ', ' || "))
            }
        }
    }
}

/// Types whose values PostgreSQL (and Sextant) can sort totally.
fn has_total_order(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::BOOL
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::NUMERIC
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::BYTEA
            | Type::DATE
            | Type::TIME
            | Type::TIMESTAMP
            | Type::TIMESTAMPTZ
            | Type::INTERVAL
            | Type::UUID
            | Type::JSONB
            | Type::OID
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_like_sql_identifiers() {
        let t = TableName::parse("Public.Events").unwrap();
        assert_eq!(t.schema.as_deref(), Some("public"));
        assert_eq!(t.name, "events");
        assert_eq!(t.quoted(), "\"public\".\"events\"");
        let t = TableName::parse("\"My \"\"Odd\"\" Table\"").unwrap();
        assert_eq!(t.name, "My \"Odd\" Table");
        assert_eq!(t.quoted(), "\"My \"\"Odd\"\" Table\"");
        assert_eq!(t.file_stem(), "My%20%22Odd%22%20Table");
        for bad in ["", "a.", ".a", "a.b.c", "\"open", "a\"b\""] {
            assert!(TableName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_column("\"Ts\"").unwrap(), "Ts");
        assert!(parse_column("a.b").is_err());
    }

    fn info(n_cols: usize, pk: &[&str]) -> TableInfo {
        let mut columns = vec![Column {
            name: "ts".into(),
            ty: Type::TIMESTAMPTZ,
        }];
        for i in 1..n_cols {
            columns.push(Column {
                name: format!("c{i}"),
                ty: if i == 1 { Type::JSON } else { Type::INT4 },
            });
        }
        TableInfo {
            name: TableName::parse("events").unwrap(),
            columns,
            time_column: "ts".into(),
            time_type: TimeType::TimestampTz,
            primary_key: pk.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn copy_queries_bound_the_window_half_open_and_order_deterministically() {
        let q = info(3, &["c2"]).copy_query(Format::Csv, UnixTime(0), UnixTime(3600));
        assert_eq!(
            q,
            "COPY (SELECT * FROM \"events\" WHERE \"ts\" >= '1970-01-01 00:00:00+00'::timestamptz \
             AND \"ts\" < '1970-01-01 01:00:00+00'::timestamptz ORDER BY \"ts\", \"c2\") \
             TO STDOUT WITH (FORMAT csv, HEADER)"
        );
        // No key: every orderable column (not json).
        let q = info(3, &[]).copy_query(Format::Ndjson, UnixTime(0), UnixTime(60));
        assert!(q.ends_with("ORDER BY \"ts\", \"c2\") TO STDOUT"), "{q}");
        assert!(q.contains("json_build_object('ts', \"ts\", 'c1', \"c1\"::jsonb, 'c2', \"c2\")"));
    }

    #[test]
    fn wide_tables_splice_several_objects() {
        let q = info(120, &["ts"]).json_row();
        assert_eq!(q.matches("json_build_object(").count(), 3, "{q}");
        assert!(q.starts_with("'{' || substr(left(json_build_object('ts', \"ts\""));
        assert!(
            q.ends_with("'c119', \"c119\")::text, -1), 2) || '}'"),
            "{q}"
        );
    }
}

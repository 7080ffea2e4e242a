//! The engine's values: PostgreSQL data types, the [`Datum`] that carries one
//! value of any of them, an arbitrary-precision [`Numeric`], and the row
//! encoding that stores a tuple of datums in a table's leaf pages.
//!
//! # Why this module exists
//!
//! Everything above the pages — binder, planner, executor, pgwire — is typed on
//! PostgreSQL's type system, so clients see PostgreSQL exactly (DESIGN §3). One
//! in-memory value type, with PostgreSQL's OIDs, names and orderings, keeps
//! those layers from each inventing its own. Values are stored in two
//! encodings, each for a different job:
//!
//! * the **row encoding** here: compact, self-describing and lossless (a
//!   `1.50` reads back as `1.50`, a `-0` float as `-0`), used for the tuples in
//!   a table B+tree's leaves;
//! * the **key encoding** in [`crate::keycode`]: order-preserving, so the
//!   B+tree compares keys with `memcmp`; it is lossy where SQL equality is
//!   (`1.5` and `1.50` are one key).
//!
//! # Ordering
//!
//! [`Datum::cmp_same_type`] is SQL ordering within a type, as a PostgreSQL
//! btree operator class orders: floats put NaN above everything and `-0 = 0`,
//! numerics compare by value (`1.5 = 1.50`, NaN largest), intervals compare by
//! their span with 30-day months, text compares bytewise (the "C" collation),
//! oids as unsigned integers, arrays element by element (`array_cmp`).
//! NULL sorts after every value, as in an ascending PostgreSQL index.
//! `"char"` values are text in their output form, so a byte with the high
//! bit set (`\303`) sorts as its backslash form, not as the byte.
//!
//! # Catalog types
//!
//! `oid`, `name`, `"char"`, the `reg*` types, `int2vector`, `oidvector` and
//! one-dimensional arrays ([`Array`]) exist so that `pg_catalog` can be
//! typed as PostgreSQL's is. The `reg*` types print as names, which only
//! the catalog knows: their text I/O lives in `sql::pg_catalog`.
//!
//! Rust's `PartialEq` on [`Datum`] is structural per variant (floats by IEEE
//! `==`, numerics by value); [`Datum::is_identical`] compares
//! representations exactly (float bits, numeric scale).
//!
//! # Row format, version 1
//!
//! ```text
//! row    := format:u8 (= ROW_FORMAT_V1)  count:varint  datum{count}
//! datum  := tag:u8  payload
//! varint := unsigned LEB128, minimal length; signed integers are zigzagged
//! ```
//!
//! | tag | datum | payload |
//! |----:|-------|---------|
//! | 0 | NULL | none |
//! | 1, 2 | bool false, true | none |
//! | 3, 4, 5 | int2, int4, int8 | zigzag varint |
//! | 6, 7 | float4, float8 | IEEE bits, little-endian (NaN payloads and `-0` kept) |
//! | 8 | numeric, finite | varint `ndigits << 1 \| negative`, varint scale, digits as BCD (two per byte, high nibble first, odd count padded with a 0 nibble) |
//! | 9, 10, 11 | numeric NaN, +Infinity, -Infinity | none |
//! | 12, 13, 19, 20 | text, bytea, json, jsonb | varint length, bytes |
//! | 14 | date | i32 little-endian |
//! | 15, 16 | timestamp, timestamptz | i64 little-endian |
//! | 17 | interval | months i32, days i32, micros i64, little-endian |
//! | 18 | uuid | 16 bytes |
//! | 21 | oid and the `reg*` types | varint |
//! | 22 | array, int2vector, oidvector | varint type OID, zigzag varint lower bound, varint count, datum{count} (NULL or the element type, never an array) |
//! | 23 | record | varint count, datum{count} (spilled rows only: tables have no record columns) |
//!
//! The column count lets a decoder detect truncation. A row shorter than the
//! table's current column list is valid: `ALTER TABLE ADD COLUMN` does not
//! rewrite old rows, and the caller pads a decoded row with the new columns'
//! defaults. A new encoding gets a new format byte; decoders reject versions
//! they do not know rather than guess.
//!
//! Decoding never panics: corrupt or truncated input returns a
//! [`DecodeError`]. Decoding also rejects non-canonical encodings (overlong
//! varints, leading zero digits), so a row has exactly one encoding and byte
//! equality of rows means identical values.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
pub mod numeric_ops;
pub mod record;

pub use record::{RecordField, RecordType};

/// A PostgreSQL object identifier, as in `pg_type.oid` and the wire
/// protocol's type fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(pub u32);

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Microseconds in a day: PostgreSQL's `USECS_PER_DAY`.
pub const USECS_PER_DAY: i64 = 86_400_000_000;

/// Days per month when PostgreSQL compares intervals (`DAYS_PER_MONTH` in
/// `src/include/datatype/timestamp.h`): `'1 month' = '30 days'`.
pub const INTERVAL_DAYS_PER_MONTH: i64 = 30;

/// Most decimal digits before a numeric's decimal point. PostgreSQL stores the
/// weight of base-10000 digits in an `int16`, so 4 × 32768 digits
/// (<https://www.postgresql.org/docs/current/datatype-numeric.html>).
pub const NUMERIC_MAX_INT_DIGITS: u32 = 131_072;

/// Most decimal digits after a numeric's decimal point: PostgreSQL's
/// `NUMERIC_DSCALE_MAX` (0x3FFF).
pub const NUMERIC_MAX_SCALE: u16 = 16_383;

/// Largest exponent magnitude the numeric parser accumulates before declaring
/// overflow, as PostgreSQL's `set_var_from_str` (`PG_INT32_MAX / 2`). Any
/// exponent this large overflows the limits above anyway; the bound only keeps
/// the arithmetic from wrapping.
const NUMERIC_EXPONENT_MAX: i64 = (i32::MAX / 2) as i64;

/// Most digits a finite numeric's coefficient can have.
const NUMERIC_MAX_DIGITS: usize = NUMERIC_MAX_INT_DIGITS as usize + NUMERIC_MAX_SCALE as usize;

/// Deepest nesting of records in an encoded row (a whole-row reference to
/// a derived table whose row holds a record, and so on). Rows with records
/// are only ever spilled, never stored, and queries nest them a few levels;
/// the bound keeps a corrupt file from recursing without end.
const RECORD_DEPTH_MAX: usize = 32;

/// The leading byte of a row in format version 1.
pub const ROW_FORMAT_V1: u8 = 1;

/// Most columns in a row: PostgreSQL's `MaxHeapAttributeNumber`
/// (`src/include/access/htup_details.h`). The binder rejects wider tables
/// with SQLSTATE 54011 before a row is ever encoded.
pub const MAX_COLUMNS: usize = 1600;

/// Largest text, bytea or json value in bytes: PostgreSQL's 1 GB varlena
/// limit (<https://www.postgresql.org/docs/current/datatype-character.html>).
/// Checked on encode, so decoding never allocates more than this per value.
pub const MAX_VALUE_BYTES: usize = (1 << 30) - 1;

/// `VARHDRSZ`: PostgreSQL adds it to a `varchar(n)` length to form the typmod.
const VARHDRSZ: i32 = 4;

/// A PostgreSQL data type the engine supports.
///
/// Not `#[non_exhaustive]` on purpose: every encoder and cast must decide what
/// a new type means, so an added variant should break their `match`es.
///
/// Several types share a [`Datum`] variant: `text`, `varchar`, `name` and
/// `"char"` values are [`Datum::Text`]; `oid` and the `reg*` types are
/// [`Datum::Oid`]; arrays, `int2vector` and `oidvector` are [`Datum::Array`].
/// [`DataType::value_type`] says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `boolean`.
    Bool,
    /// `smallint`.
    Int2,
    /// `integer`.
    Int4,
    /// `bigint`.
    Int8,
    /// `real`.
    Float4,
    /// `double precision`.
    Float8,
    /// `numeric` (without precision or scale).
    Numeric,
    /// `text`.
    Text,
    /// `character varying(n)`; `max_chars` is `n`, `None` for unbounded.
    /// Values are [`Datum::Text`].
    Varchar {
        /// The declared maximum length in characters.
        max_chars: Option<u32>,
    },
    /// `character(n)` (`bpchar`): blank-padded to `n` characters, whose
    /// trailing blanks do not count when compared or converted to text;
    /// `max_chars` is `n`, `None` for `bpchar` without a length, which
    /// keeps values as written. Values are [`Datum::Text`], padded.
    Bpchar {
        /// The declared length in characters.
        max_chars: Option<u32>,
    },
    /// `bytea`.
    Bytea,
    /// `date`.
    Date,
    /// `timestamp without time zone`.
    Timestamp,
    /// `timestamp with time zone`.
    TimestampTz,
    /// `interval`.
    Interval,
    /// `uuid`.
    Uuid,
    /// `json`: text, kept as written.
    Json,
    /// `jsonb`: a binary form owned by the SQL layer.
    Jsonb,
    /// `oid`: an unsigned 32-bit object identifier. Values are
    /// [`Datum::Oid`].
    Oid,
    /// `name`: an identifier of at most [`NAME_MAX_BYTES`] bytes. Values are
    /// [`Datum::Text`].
    Name,
    /// `"char"`: PostgreSQL's one-byte internal type (`pg_class.relkind`).
    /// Values are [`Datum::Text`] holding the type's output form: empty for
    /// the zero byte, the character for ASCII, `\ooo` for a byte with the
    /// high bit set.
    Char,
    /// `void`: what a function that returns nothing returns (`pg_sleep`).
    /// Its one value is [`Datum::Text`] of the empty string, which is how
    /// PostgreSQL prints it.
    Void,
    /// `regclass`: a relation's OID that prints as its name. Values are
    /// [`Datum::Oid`]; text I/O needs the catalog (`sql::pg_catalog`).
    RegClass,
    /// `regtype`: a type's OID that prints as its name.
    RegType,
    /// `regproc`: a function's OID that prints as its name.
    RegProc,
    /// `regprocedure`: a function's OID that prints as its signature.
    RegProcedure,
    /// `regnamespace`: a schema's OID that prints as its name.
    RegNamespace,
    /// `regrole`: a role's OID that prints as its name.
    RegRole,
    /// `int2vector`: a list of `smallint`s printed space-separated
    /// (`pg_index.indkey`). Values are [`Datum::Array`] with lower bound 0.
    Int2Vector,
    /// `oidvector`: a list of `oid`s printed space-separated
    /// (`pg_proc.proargtypes`). Values are [`Datum::Array`] with lower
    /// bound 0.
    OidVector,
    /// A one-dimensional array of the element type, such as `text[]`; see
    /// [`DataType::array_of`] for the element types that have one. A
    /// reference keeps `DataType` `Copy`: write `DataType::Array(&DataType::Text)`.
    Array(&'static DataType),
    /// `record`: an anonymous row of the given shape (`ROW(a, b)`, a
    /// whole-row reference, a set-returning function's row). Values are
    /// [`Datum::Record`]. See [`record`].
    Record(&'static RecordType),
}

/// Longest `name` in bytes: PostgreSQL's `NAMEDATALEN - 1`
/// (`src/include/pg_config_manual.h`). Longer input is truncated.
pub const NAME_MAX_BYTES: usize = 63;

impl DataType {
    /// Every type, with unbounded `varchar`; for tests and catalogs.
    pub const ALL: [DataType; 50] = [
        DataType::Bool,
        DataType::Int2,
        DataType::Int4,
        DataType::Int8,
        DataType::Float4,
        DataType::Float8,
        DataType::Numeric,
        DataType::Text,
        DataType::Varchar { max_chars: None },
        DataType::Bpchar { max_chars: None },
        DataType::Bytea,
        DataType::Date,
        DataType::Timestamp,
        DataType::TimestampTz,
        DataType::Interval,
        DataType::Uuid,
        DataType::Json,
        DataType::Jsonb,
        DataType::Oid,
        DataType::Name,
        DataType::Char,
        DataType::RegClass,
        DataType::RegType,
        DataType::RegProc,
        DataType::RegProcedure,
        DataType::RegNamespace,
        DataType::RegRole,
        DataType::Int2Vector,
        DataType::OidVector,
        DataType::Array(&DataType::Bool),
        DataType::Array(&DataType::Int2),
        DataType::Array(&DataType::Int4),
        DataType::Array(&DataType::Int8),
        DataType::Array(&DataType::Float4),
        DataType::Array(&DataType::Float8),
        DataType::Array(&DataType::Numeric),
        DataType::Array(&DataType::Text),
        DataType::Array(&DataType::Varchar { max_chars: None }),
        DataType::Array(&DataType::Bpchar { max_chars: None }),
        DataType::Array(&DataType::Bytea),
        DataType::Array(&DataType::Date),
        DataType::Array(&DataType::Timestamp),
        DataType::Array(&DataType::TimestampTz),
        DataType::Array(&DataType::Interval),
        DataType::Array(&DataType::Uuid),
        DataType::Array(&DataType::Json),
        DataType::Array(&DataType::Jsonb),
        DataType::Array(&DataType::Oid),
        DataType::Array(&DataType::Name),
        DataType::Array(&DataType::Char),
    ];

    /// Returns the type's OID in `pg_type` (`src/include/catalog/pg_type.dat`).
    pub const fn oid(self) -> Oid {
        Oid(match self {
            DataType::Bool => 16,
            DataType::Int2 => 21,
            DataType::Int4 => 23,
            DataType::Int8 => 20,
            DataType::Float4 => 700,
            DataType::Float8 => 701,
            DataType::Numeric => 1700,
            DataType::Text => 25,
            DataType::Varchar { .. } => 1043,
            DataType::Bpchar { .. } => 1042,
            DataType::Bytea => 17,
            DataType::Date => 1082,
            DataType::Timestamp => 1114,
            DataType::TimestampTz => 1184,
            DataType::Interval => 1186,
            DataType::Uuid => 2950,
            DataType::Json => 114,
            DataType::Jsonb => 3802,
            DataType::Oid => 26,
            DataType::Name => 19,
            DataType::Char => 18,
            DataType::RegClass => 2205,
            DataType::RegType => 2206,
            DataType::RegProc => 24,
            DataType::RegProcedure => 2202,
            DataType::RegNamespace => 4089,
            DataType::Void => 2278,
            DataType::RegRole => 4096,
            DataType::Int2Vector => 22,
            DataType::OidVector => 30,
            DataType::Record(_) => 2249,
            DataType::Array(elem) => match *elem {
                DataType::Bool => 1000,
                DataType::Int2 => 1005,
                DataType::Int4 => 1007,
                DataType::Int8 => 1016,
                DataType::Float4 => 1021,
                DataType::Float8 => 1022,
                DataType::Numeric => 1231,
                DataType::Text => 1009,
                DataType::Varchar { .. } => 1015,
                DataType::Bpchar { .. } => 1014,
                DataType::Bytea => 1001,
                DataType::Date => 1182,
                DataType::Timestamp => 1115,
                DataType::TimestampTz => 1185,
                DataType::Interval => 1187,
                DataType::Uuid => 2951,
                DataType::Json => 199,
                DataType::Jsonb => 3807,
                DataType::Oid => 1028,
                DataType::Name => 1003,
                DataType::Char => 1002,
                // `array_of` never builds these; they have no array type here.
                _ => 0,
            },
        })
    }

    /// Returns the type's name as in `pg_type.typname` (`int4`, `varchar`,
    /// `_text` for `text[]`).
    pub const fn name(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::Int2 => "int2",
            DataType::Int4 => "int4",
            DataType::Int8 => "int8",
            DataType::Float4 => "float4",
            DataType::Float8 => "float8",
            DataType::Numeric => "numeric",
            DataType::Text => "text",
            DataType::Varchar { .. } => "varchar",
            DataType::Bpchar { .. } => "bpchar",
            DataType::Bytea => "bytea",
            DataType::Date => "date",
            DataType::Timestamp => "timestamp",
            DataType::TimestampTz => "timestamptz",
            DataType::Interval => "interval",
            DataType::Uuid => "uuid",
            DataType::Json => "json",
            DataType::Jsonb => "jsonb",
            DataType::Oid => "oid",
            DataType::Name => "name",
            DataType::Char => "char",
            DataType::RegClass => "regclass",
            DataType::RegType => "regtype",
            DataType::RegProc => "regproc",
            DataType::RegProcedure => "regprocedure",
            DataType::RegNamespace => "regnamespace",
            DataType::Void => "void",
            DataType::RegRole => "regrole",
            DataType::Int2Vector => "int2vector",
            DataType::OidVector => "oidvector",
            DataType::Record(_) => "record",
            DataType::Array(elem) => match *elem {
                DataType::Bool => "_bool",
                DataType::Int2 => "_int2",
                DataType::Int4 => "_int4",
                DataType::Int8 => "_int8",
                DataType::Float4 => "_float4",
                DataType::Float8 => "_float8",
                DataType::Numeric => "_numeric",
                DataType::Text => "_text",
                DataType::Varchar { .. } => "_varchar",
                DataType::Bpchar { .. } => "_bpchar",
                DataType::Bytea => "_bytea",
                DataType::Date => "_date",
                DataType::Timestamp => "_timestamp",
                DataType::TimestampTz => "_timestamptz",
                DataType::Interval => "_interval",
                DataType::Uuid => "_uuid",
                DataType::Json => "_json",
                DataType::Jsonb => "_jsonb",
                DataType::Oid => "_oid",
                DataType::Name => "_name",
                DataType::Char => "_char",
                _ => "anyarray",
            },
        }
    }

    /// Returns the type named as PostgreSQL's `format_type` names it in
    /// error messages and `information_schema` (`integer`,
    /// `character varying(10)`, `"char"`, `text[]`).
    pub fn format_type(self) -> String {
        let name = match self {
            DataType::Bool => "boolean",
            DataType::Int2 => "smallint",
            DataType::Int4 => "integer",
            DataType::Int8 => "bigint",
            DataType::Float4 => "real",
            DataType::Float8 => "double precision",
            DataType::Varchar { max_chars: Some(n) } => return format!("character varying({n})"),
            DataType::Varchar { max_chars: None } => "character varying",
            DataType::Bpchar { max_chars: Some(n) } => return format!("character({n})"),
            DataType::Bpchar { max_chars: None } => "character",
            DataType::Timestamp => "timestamp without time zone",
            DataType::TimestampTz => "timestamp with time zone",
            DataType::Char => "\"char\"",
            DataType::Array(elem) => return format!("{}[]", elem.format_type()),
            other => other.name(),
        };
        name.to_owned()
    }

    /// Returns the type for an OID, with unbounded `varchar` for 1043 and
    /// `bpchar` for 1042.
    pub fn from_oid(oid: Oid) -> Option<DataType> {
        DataType::ALL.into_iter().find(|t| t.oid() == oid)
    }

    /// Returns the type of a catalog column (`pg_attribute.atttypid` and
    /// `atttypmod`): `varchar(n)` from a typmod of `n + 4`, and for other
    /// types what [`DataType::from_oid`] returns.
    pub fn from_oid_typmod(oid: Oid, typmod: i32) -> Option<DataType> {
        match DataType::from_oid(oid)? {
            DataType::Varchar { .. } => Some(DataType::Varchar {
                max_chars: u32::try_from(typmod.checked_sub(VARHDRSZ)?).ok(),
            }),
            DataType::Bpchar { .. } => Some(DataType::Bpchar {
                max_chars: u32::try_from(typmod.checked_sub(VARHDRSZ)?).ok(),
            }),
            other => Some(other),
        }
    }

    /// Returns the type a PostgreSQL type name denotes, as `regtype` input
    /// and casts read it: `pg_type.typname` (`int4`, `_text`), the SQL
    /// spellings (`integer`, `double precision`, `character varying(10)`,
    /// `timestamp with time zone`), `"char"` in quotes, a `[]` suffix for
    /// the array type, and an optional `pg_catalog.` qualifier. Case and
    /// spacing are free outside quotes. Unquoted `char` and `character`
    /// are SQL's `character(1)` without a length, `bpchar` has none.
    pub fn from_type_name(name: &str) -> Option<DataType> {
        DataType::parse_type_name(name).map(|(ty, _)| ty)
    }

    /// Like [`DataType::from_type_name`], also returning the type modifier
    /// the name gives (`pg_attribute.atttypmod`): `n + 4` for
    /// `varchar(n)` and `char(n)`, `(p << 16 | s) + 4` for `numeric(p, s)`, the precision
    /// of `timestamp(p)` and `interval(p)`, -1 without one. `float(p)` is
    /// `real` up to 24 bits of precision and `double precision` above.
    pub fn parse_type_name(name: &str) -> Option<(DataType, i32)> {
        let words: Vec<&str> = name.split(is_c_space).filter(|w| !w.is_empty()).collect();
        let mut text = words.join(" ");
        let is_array = match text.strip_suffix("[]") {
            Some(base) => {
                text = base.trim_end().to_owned();
                true
            }
            None => false,
        };
        // Modifiers in parentheses, wherever they are:
        // `timestamp(3) with time zone`, `numeric (10, 2)`.
        let mut args: Option<Vec<i32>> = None;
        if let Some(open) = text.find('(') {
            let close = open + text[open..].find(')')?;
            let list = text[open + 1..close]
                .split(',')
                .map(|a| a.trim().parse::<i32>().ok())
                .collect::<Option<Vec<_>>>()?;
            text = format!(
                "{} {}",
                text[..open].trim_end(),
                text[close + 1..].trim_start()
            )
            .trim()
            .to_owned();
            args = Some(list);
        }
        let quoted_char = text == "\"char\"" || text.eq_ignore_ascii_case("pg_catalog.\"char\"");
        let quoted = text.contains('"');
        let mut lower = text.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("pg_catalog.") {
            lower = rest.to_owned();
            text = text["pg_catalog.".len()..].to_owned();
        }
        // A quoted name is taken as written, without case folding.
        if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            if inner.contains('"') {
                return None;
            }
            lower = inner.to_owned();
        }
        let one_arg = |args: &Option<Vec<i32>>| match args.as_deref() {
            Some([n]) => Some(*n),
            _ => None,
        };
        let (base, typmod) = if quoted_char {
            (DataType::Char, -1)
        } else {
            match lower.as_str() {
                "bool" | "boolean" => (DataType::Bool, -1),
                "int2" | "smallint" => (DataType::Int2, -1),
                "int4" | "int" | "integer" => (DataType::Int4, -1),
                "int8" | "bigint" => (DataType::Int8, -1),
                "float4" | "real" => (DataType::Float4, -1),
                "float8" | "double precision" => (DataType::Float8, -1),
                "float" => match args.take() {
                    None => (DataType::Float8, -1),
                    Some(a) => match a[..] {
                        [p @ 1..=24] if p > 0 => (DataType::Float4, -1),
                        [25..=53] => (DataType::Float8, -1),
                        _ => return None,
                    },
                },
                "numeric" | "decimal" => {
                    let typmod = match args.take().as_deref() {
                        None => -1,
                        Some(&[p]) if (1..=1000).contains(&p) => (p << 16) + VARHDRSZ,
                        Some(&[p, s]) if (1..=1000).contains(&p) && (-1000..=1000).contains(&s) => {
                            ((p << 16) | (s & 0x7FF)) + VARHDRSZ
                        }
                        Some(_) => return None,
                    };
                    (DataType::Numeric, typmod)
                }
                "text" => (DataType::Text, -1),
                "varchar" | "character varying" => {
                    let max_chars = match args.take() {
                        None => None,
                        Some(a) => Some(u32::try_from(one_arg(&Some(a))?).ok().filter(|&n| n > 0)?),
                    };
                    let typmod = max_chars.map_or(-1, |n| n as i32 + VARHDRSZ);
                    (DataType::Varchar { max_chars }, typmod)
                }
                // SQL's spellings are keywords, never quoted; `bpchar` is
                // the type's name and has no default length.
                "bpchar" | "char" | "character" if !(quoted && lower != "bpchar") => {
                    let max_chars = match args.take() {
                        None if lower == "bpchar" => None,
                        None => Some(1),
                        Some(a) => Some(u32::try_from(one_arg(&Some(a))?).ok().filter(|&n| n > 0)?),
                    };
                    let typmod = max_chars.map_or(-1, |n| n as i32 + VARHDRSZ);
                    (DataType::Bpchar { max_chars }, typmod)
                }
                "bytea" => (DataType::Bytea, -1),
                "date" => (DataType::Date, -1),
                "timestamp"
                | "timestamp without time zone"
                | "timestamptz"
                | "timestamp with time zone" => {
                    let typmod = match args.take() {
                        None => -1,
                        // PostgreSQL caps the precision at 6, with a warning.
                        Some(a) => one_arg(&Some(a)).filter(|p| *p >= 0)?.min(6),
                    };
                    let ty = if lower.ends_with("with time zone") || lower == "timestamptz" {
                        DataType::TimestampTz
                    } else {
                        DataType::Timestamp
                    };
                    (ty, typmod)
                }
                "interval" => {
                    let typmod = match args.take() {
                        None => -1,
                        Some(a) => (0x7FFF << 16) | one_arg(&Some(a)).filter(|p| *p >= 0)?.min(6),
                    };
                    (DataType::Interval, typmod)
                }
                "uuid" => (DataType::Uuid, -1),
                "json" => (DataType::Json, -1),
                "jsonb" => (DataType::Jsonb, -1),
                "oid" => (DataType::Oid, -1),
                "name" => (DataType::Name, -1),
                "regclass" => (DataType::RegClass, -1),
                "regtype" => (DataType::RegType, -1),
                "regproc" => (DataType::RegProc, -1),
                "regprocedure" => (DataType::RegProcedure, -1),
                "regnamespace" => (DataType::RegNamespace, -1),
                "regrole" => (DataType::RegRole, -1),
                "int2vector" => (DataType::Int2Vector, -1),
                "oidvector" => (DataType::OidVector, -1),
                "record" => (DataType::Record(&record::RECORD_UNKNOWN), -1),
                typname if typname.starts_with('_') && !is_array && args.is_none() => {
                    let ty = DataType::ALL
                        .into_iter()
                        .find(|t| matches!(t, DataType::Array(_)) && t.name() == typname)?;
                    return Some((ty, -1));
                }
                _ => return None,
            }
        };
        if args.is_some() {
            // A modifier on a type that takes none.
            return None;
        }
        if is_array {
            Some((base.array_of()?, typmod))
        } else {
            Some((base, typmod))
        }
    }

    /// Returns the array type whose elements are this type (`text[]` for
    /// `text`), or `None` if the engine has none: arrays of arrays, of
    /// vectors and of the `reg*` types. An array of `varchar(n)` is
    /// `varchar[]`: arrays keep no element typmod.
    pub const fn array_of(self) -> Option<DataType> {
        Some(DataType::Array(match self {
            DataType::Bool => &DataType::Bool,
            DataType::Int2 => &DataType::Int2,
            DataType::Int4 => &DataType::Int4,
            DataType::Int8 => &DataType::Int8,
            DataType::Float4 => &DataType::Float4,
            DataType::Float8 => &DataType::Float8,
            DataType::Numeric => &DataType::Numeric,
            DataType::Text => &DataType::Text,
            DataType::Varchar { .. } => &DataType::Varchar { max_chars: None },
            DataType::Bpchar { .. } => &DataType::Bpchar { max_chars: None },
            DataType::Bytea => &DataType::Bytea,
            DataType::Date => &DataType::Date,
            DataType::Timestamp => &DataType::Timestamp,
            DataType::TimestampTz => &DataType::TimestampTz,
            DataType::Interval => &DataType::Interval,
            DataType::Uuid => &DataType::Uuid,
            DataType::Json => &DataType::Json,
            DataType::Jsonb => &DataType::Jsonb,
            DataType::Oid => &DataType::Oid,
            DataType::Name => &DataType::Name,
            DataType::Char => &DataType::Char,
            DataType::RegClass
            | DataType::RegType
            | DataType::RegProc
            | DataType::RegProcedure
            | DataType::RegNamespace
            | DataType::RegRole
            | DataType::Void
            | DataType::Int2Vector
            | DataType::OidVector
            | DataType::Record(_)
            | DataType::Array(_) => return None,
        }))
    }

    /// Returns the element type of an array, `int2vector` (`smallint`) or
    /// `oidvector` (`oid`); `None` for other types.
    pub const fn elem(self) -> Option<DataType> {
        match self {
            DataType::Array(elem) => Some(*elem),
            DataType::Int2Vector => Some(DataType::Int2),
            DataType::OidVector => Some(DataType::Oid),
            _ => None,
        }
    }

    /// Returns the type whose [`Datum`] variant holds this type's values:
    /// `text` for `varchar`, `bpchar`, `name` and `"char"`; `oid` for the `reg*`
    /// types; the type itself otherwise.
    pub const fn value_type(self) -> DataType {
        match self {
            DataType::Varchar { .. }
            | DataType::Bpchar { .. }
            | DataType::Name
            | DataType::Char
            | DataType::Void => DataType::Text,
            DataType::RegClass
            | DataType::RegType
            | DataType::RegProc
            | DataType::RegProcedure
            | DataType::RegNamespace
            | DataType::RegRole => DataType::Oid,
            other => other,
        }
    }

    /// Returns whether this is one of the `reg*` types, whose text form
    /// names a catalog object and so needs the catalog to read and print.
    pub const fn is_reg(self) -> bool {
        matches!(
            self,
            DataType::RegClass
                | DataType::RegType
                | DataType::RegProc
                | DataType::RegProcedure
                | DataType::RegNamespace
                | DataType::RegRole
        )
    }

    /// Returns the type modifier sent in a RowDescription: `n + 4` for
    /// `varchar(n)` and `char(n)`, -1 otherwise.
    pub fn typmod(self) -> i32 {
        match self {
            DataType::Varchar { max_chars: Some(n) } | DataType::Bpchar { max_chars: Some(n) } => {
                i32::try_from(n)
                    .unwrap_or(i32::MAX)
                    .saturating_add(VARHDRSZ)
            }
            _ => -1,
        }
    }

    /// Returns `pg_type.typlen`: the fixed size in bytes, or -1 for
    /// variable-length types.
    pub const fn typlen(self) -> i16 {
        match self {
            DataType::Bool | DataType::Char => 1,
            DataType::Int2 => 2,
            DataType::Int4
            | DataType::Float4
            | DataType::Date
            | DataType::Oid
            | DataType::RegClass
            | DataType::RegType
            | DataType::RegProc
            | DataType::RegProcedure
            | DataType::RegNamespace
            | DataType::RegRole
            | DataType::Void => 4,
            DataType::Int8 | DataType::Float8 | DataType::Timestamp | DataType::TimestampTz => 8,
            DataType::Interval | DataType::Uuid => 16,
            DataType::Name => 64,
            DataType::Numeric
            | DataType::Text
            | DataType::Varchar { .. }
            | DataType::Bpchar { .. }
            | DataType::Bytea
            | DataType::Json
            | DataType::Jsonb
            | DataType::Int2Vector
            | DataType::OidVector
            | DataType::Record(_)
            | DataType::Array(_) => -1,
        }
    }

    /// Returns whether values of the type can be index keys here. `json`
    /// has no btree ordering in PostgreSQL; `jsonb`'s is the SQL layer's
    /// business, and its bytes here are opaque. Arrays and vectors have
    /// one in PostgreSQL but no key encoding here yet.
    pub const fn is_key_encodable(self) -> bool {
        !matches!(
            self,
            DataType::Json
                | DataType::Jsonb
                | DataType::Int2Vector
                | DataType::OidVector
                | DataType::Array(_)
                | DataType::Record(_)
        )
    }

    /// Returns whether values of the type have an SQL ordering that
    /// [`Datum::cmp_same_type`] implements: every type but json and jsonb
    /// (whose ordering is the SQL layer's), and arrays of those.
    pub const fn is_orderable(self) -> bool {
        match self {
            DataType::Json | DataType::Jsonb => false,
            DataType::Array(elem) => elem.is_orderable(),
            _ => true,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One SQL value, or NULL.
///
/// Date and time values count from PostgreSQL's epoch, 2000-01-01, as
/// PostgreSQL stores them; its `-infinity` and `infinity` are the minimum and
/// maximum of the integer, and order correctly as they are.
#[derive(Clone, Debug, PartialEq)]
pub enum Datum {
    /// SQL NULL.
    Null,
    /// `boolean`.
    Bool(bool),
    /// `smallint`.
    Int2(i16),
    /// `integer`.
    Int4(i32),
    /// `bigint`.
    Int8(i64),
    /// `real`.
    Float4(f32),
    /// `double precision`.
    Float8(f64),
    /// `numeric`.
    Numeric(Numeric),
    /// `text` and `varchar`.
    Text(String),
    /// `bytea`.
    Bytea(Vec<u8>),
    /// `date`: days since 2000-01-01.
    Date(i32),
    /// `timestamp`: microseconds since 2000-01-01 00:00:00.
    Timestamp(i64),
    /// `timestamptz`: microseconds since 2000-01-01 00:00:00 UTC.
    TimestampTz(i64),
    /// `interval`, in PostgreSQL's three fields.
    Interval {
        /// Whole months.
        months: i32,
        /// Whole days.
        days: i32,
        /// Microseconds.
        micros: i64,
    },
    /// `uuid`, in network byte order.
    Uuid([u8; 16]),
    /// `json`: the text as written.
    Json(String),
    /// `jsonb`: an opaque binary blob the SQL layer defines.
    Jsonb(Vec<u8>),
    /// `oid` and the `reg*` types.
    Oid(u32),
    /// An array, `int2vector` or `oidvector`. Boxed, so that arrays do not
    /// make every datum larger.
    Array(Box<Array>),
    /// A `record`'s fields, in order; the field names are its type's
    /// ([`DataType::Record`]), which the expression producing it knows.
    Record(Box<[Datum]>),
}

impl Datum {
    /// Returns whether this is SQL NULL.
    pub const fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// Returns the value's type, or `None` for NULL. Text values report
    /// `text`; the column's declared type may be `varchar`.
    pub fn data_type(&self) -> Option<DataType> {
        Some(match self {
            Datum::Null => return None,
            Datum::Bool(_) => DataType::Bool,
            Datum::Int2(_) => DataType::Int2,
            Datum::Int4(_) => DataType::Int4,
            Datum::Int8(_) => DataType::Int8,
            Datum::Float4(_) => DataType::Float4,
            Datum::Float8(_) => DataType::Float8,
            Datum::Numeric(_) => DataType::Numeric,
            Datum::Text(_) => DataType::Text,
            Datum::Bytea(_) => DataType::Bytea,
            Datum::Date(_) => DataType::Date,
            Datum::Timestamp(_) => DataType::Timestamp,
            Datum::TimestampTz(_) => DataType::TimestampTz,
            Datum::Interval { .. } => DataType::Interval,
            Datum::Uuid(_) => DataType::Uuid,
            Datum::Json(_) => DataType::Json,
            Datum::Jsonb(_) => DataType::Jsonb,
            Datum::Oid(_) => DataType::Oid,
            Datum::Array(a) => a.data_type(),
            Datum::Record(_) => DataType::Record(&record::RECORD_UNKNOWN),
        })
    }

    /// Returns an array datum of type `array_type` (see [`Array::new`]).
    pub fn array(array_type: DataType, items: Vec<Datum>) -> Datum {
        Datum::Array(Box::new(Array::new(array_type, items)))
    }

    /// Compares two values in SQL order, as a PostgreSQL btree operator class
    /// does; NULL sorts after every value (ascending index order) and equals
    /// NULL.
    ///
    /// Integers of different widths compare with each other, and so do
    /// `real` and `double precision`, as PostgreSQL's cross-type operators do.
    /// Returns `None` for values of different types and for json and jsonb,
    /// which have no ordering here.
    pub fn cmp_same_type(&self, other: &Datum) -> Option<Ordering> {
        match (self, other) {
            (Datum::Null, Datum::Null) => return Some(Ordering::Equal),
            (Datum::Null, v) => return v.is_orderable().then_some(Ordering::Greater),
            (v, Datum::Null) => return v.is_orderable().then_some(Ordering::Less),
            _ => {}
        }
        if let (Some(a), Some(b)) = (self.as_i64(), other.as_i64()) {
            return Some(a.cmp(&b));
        }
        if let (Some(a), Some(b)) = (self.as_f64(), other.as_f64()) {
            return Some(cmp_f64(a, b));
        }
        Some(match (self, other) {
            (Datum::Bool(a), Datum::Bool(b)) => a.cmp(b),
            (Datum::Numeric(a), Datum::Numeric(b)) => a.cmp(b),
            (Datum::Text(a), Datum::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Datum::Bytea(a), Datum::Bytea(b)) => a.cmp(b),
            (Datum::Date(a), Datum::Date(b)) => a.cmp(b),
            (Datum::Timestamp(a), Datum::Timestamp(b)) => a.cmp(b),
            (Datum::TimestampTz(a), Datum::TimestampTz(b)) => a.cmp(b),
            (
                &Datum::Interval {
                    months,
                    days,
                    micros,
                },
                &Datum::Interval {
                    months: months_b,
                    days: days_b,
                    micros: micros_b,
                },
            ) => {
                interval_span(months, days, micros).cmp(&interval_span(months_b, days_b, micros_b))
            }
            (Datum::Uuid(a), Datum::Uuid(b)) => a.cmp(b),
            (Datum::Oid(a), Datum::Oid(b)) => a.cmp(b),
            (Datum::Array(a), Datum::Array(b)) => a.cmp_same_type(b)?,
            // `record_cmp`: field by field, NULL equal to NULL and above
            // every value; then the record with fewer fields first.
            (Datum::Record(a), Datum::Record(b)) => {
                for (x, y) in a.iter().zip(b.iter()) {
                    let order = x.cmp_same_type(y)?;
                    if order != Ordering::Equal {
                        return Some(order);
                    }
                }
                a.len().cmp(&b.len())
            }
            _ => return None,
        })
    }

    /// Returns whether two datums have exactly the same representation:
    /// floats bit for bit, numerics with the same display scale. This is what
    /// a lossless encoding must preserve.
    pub fn is_identical(&self, other: &Datum) -> bool {
        match (self, other) {
            (Datum::Float4(a), Datum::Float4(b)) => a.to_bits() == b.to_bits(),
            (Datum::Float8(a), Datum::Float8(b)) => a.to_bits() == b.to_bits(),
            (Datum::Numeric(a), Datum::Numeric(b)) => a.is_identical(b),
            (Datum::Array(a), Datum::Array(b)) => {
                a.ty == b.ty
                    && a.lower_bound == b.lower_bound
                    && a.items.len() == b.items.len()
                    && a.items.iter().zip(&b.items).all(|(x, y)| x.is_identical(y))
            }
            (Datum::Record(a), Datum::Record(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.is_identical(y))
            }
            _ => self == other,
        }
    }

    fn is_orderable(&self) -> bool {
        self.data_type().is_some_and(DataType::is_orderable)
    }

    fn as_i64(&self) -> Option<i64> {
        match *self {
            Datum::Int2(v) => Some(i64::from(v)),
            Datum::Int4(v) => Some(i64::from(v)),
            Datum::Int8(v) => Some(v),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match *self {
            Datum::Float4(v) => Some(f64::from(v)),
            Datum::Float8(v) => Some(v),
            _ => None,
        }
    }
}

/// Most elements an array may hold: PostgreSQL's `MaxArraySize`
/// (`MaxAllocSize / sizeof(Datum)`, `src/include/utils/array.h`).
pub const ARRAY_MAX_ITEMS: usize = 0x3FFF_FFFF / 8;

/// Every type as a `'static`, so an [`Array`] can point at its type.
static ALL_TYPES: [DataType; DataType::ALL.len()] = DataType::ALL;

/// A one-dimensional array value: an SQL array (`text[]`), an `int2vector`
/// or an `oidvector`.
///
/// PostgreSQL arrays carry their element type, dimensions and lower bounds;
/// one dimension is all this engine supports. SQL arrays start at subscript
/// 1 unless written otherwise (`'[0:1]={a,b}'`); the vectors start at 0, as
/// `pg_index.indkey[0]` does in PostgreSQL. Elements are NULL or values of
/// the element type's [`DataType::value_type`]; an empty array has no
/// dimensions, so its bounds are NULL in SQL.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The array's own type: [`DataType::Array`], `Int2Vector` or `OidVector`.
    ty: &'static DataType,
    /// Subscript of the first element.
    lower_bound: i32,
    items: Vec<Datum>,
}

impl Array {
    /// Returns an array of type `array_type` holding `items`, with the
    /// type's usual lower bound: 1 for SQL arrays, 0 for the vectors.
    ///
    /// Panics if `array_type` has no element type or `items` holds more
    /// than [`ARRAY_MAX_ITEMS`]; in debug builds also if an item is not of
    /// the element type. Callers building arrays from client input check
    /// these first.
    pub fn new(array_type: DataType, items: Vec<Datum>) -> Array {
        Array::with_lower_bound(array_type, Array::default_lower_bound(array_type), items)
    }

    /// Returns an array whose first element has subscript `lower_bound`.
    /// An empty array has no bounds in PostgreSQL, so it gets the default
    /// one. Panics as [`Array::new`] does, and if the bounds are out of
    /// range (see [`Array::upper_bound_of`]).
    pub fn with_lower_bound(array_type: DataType, lower_bound: i32, items: Vec<Datum>) -> Array {
        let lower_bound = if items.is_empty() {
            Array::default_lower_bound(array_type)
        } else {
            lower_bound
        };
        let ty = static_type(array_type)
            .filter(|t| t.elem().is_some())
            .unwrap_or_else(|| panic!("{array_type:?} is not an array type"));
        assert!(
            items.len() <= ARRAY_MAX_ITEMS,
            "array of {} items exceeds {ARRAY_MAX_ITEMS}",
            items.len()
        );
        assert!(
            Array::upper_bound_of(lower_bound, items.len()).is_some(),
            "array bounds overflow: lower bound {lower_bound}, {} items",
            items.len()
        );
        let elem = ty.elem().expect("checked above").value_type();
        debug_assert!(
            items
                .iter()
                .all(|d| d.is_null() || d.data_type() == Some(elem)),
            "{array_type:?} holds an item of another type: {items:?}"
        );
        Array {
            ty,
            lower_bound,
            items,
        }
    }

    /// Returns the upper bound an array with `lower_bound` and `len` items
    /// has (`lower_bound - 1` when empty), or `None` if the bounds are out
    /// of range: PostgreSQL requires `lower_bound + len` to fit an `i32`
    /// ("array lower bound is too large", `ArrayCheckBounds`).
    pub fn upper_bound_of(lower_bound: i32, len: usize) -> Option<i32> {
        let end = i64::from(lower_bound) + i64::try_from(len).ok()?;
        if end > i64::from(i32::MAX) {
            return None;
        }
        i32::try_from(end - 1).ok()
    }

    /// Returns the lower bound an array of `array_type` has unless written
    /// otherwise, and always when empty: 1, or 0 for the vectors.
    pub fn default_lower_bound(array_type: DataType) -> i32 {
        match array_type {
            DataType::Int2Vector | DataType::OidVector => 0,
            _ => 1,
        }
    }

    /// Returns the array's type.
    pub fn data_type(&self) -> DataType {
        *self.ty
    }

    /// Returns the element type.
    pub fn elem_type(&self) -> DataType {
        self.ty.elem().expect("an array's type has an element type")
    }

    /// Returns the subscript of the first element.
    pub fn lower_bound(&self) -> i32 {
        self.lower_bound
    }

    /// Returns the subscript of the last element, or `None` when empty.
    pub fn upper_bound(&self) -> Option<i32> {
        if self.items.is_empty() {
            return None;
        }
        Some(
            Array::upper_bound_of(self.lower_bound, self.items.len())
                .expect("bounds are checked on construction"),
        )
    }

    /// Returns the elements in order.
    pub fn items(&self) -> &[Datum] {
        &self.items
    }

    /// Returns the elements, consuming the array.
    pub fn into_items(self) -> Vec<Datum> {
        self.items
    }

    /// Returns the number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Returns whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Returns the element at `subscript`, or `None` outside the bounds
    /// (where PostgreSQL's `a[i]` is NULL).
    pub fn get(&self, subscript: i32) -> Option<&Datum> {
        let offset = i64::from(subscript) - i64::from(self.lower_bound);
        usize::try_from(offset).ok().and_then(|i| self.items.get(i))
    }

    /// Compares as PostgreSQL's `array_cmp`: element by element, NULL equal
    /// to NULL and above every value; then the shorter array first; then
    /// the lower bound. `None` for different element types or elements
    /// without an order.
    fn cmp_same_type(&self, other: &Array) -> Option<Ordering> {
        let elem = self.elem_type();
        if elem.value_type() != other.elem_type().value_type() || !elem.is_orderable() {
            return None;
        }
        for (a, b) in self.items.iter().zip(&other.items) {
            let order = a.cmp_same_type(b)?;
            if order != Ordering::Equal {
                return Some(order);
            }
        }
        let by_len = self.items.len().cmp(&other.items.len());
        if by_len != Ordering::Equal || self.items.is_empty() {
            return Some(by_len);
        }
        Some(self.lower_bound.cmp(&other.lower_bound))
    }
}

/// Returns `ty` as a `'static` reference, if it is one of
/// [`DataType::ALL`] (unbounded `varchar`).
fn static_type(ty: DataType) -> Option<&'static DataType> {
    ALL_TYPES.iter().find(|t| **t == ty)
}

/// Compares floats as PostgreSQL's `float8_cmp_internal`: NaN equals NaN and
/// sorts above everything else, and `-0 = 0`.
pub fn cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).expect("neither operand is NaN"),
    }
}

/// Returns an interval's span in microseconds, months counted as 30 days, as
/// PostgreSQL's `interval_cmp_value`. Orders and equates intervals:
/// `'1 month' = '30 days'`. Cannot overflow: the span's magnitude is below
/// 2^73.
pub fn interval_span(months: i32, days: i32, micros: i64) -> i128 {
    let days_total = i128::from(months) * i128::from(INTERVAL_DAYS_PER_MONTH) + i128::from(days);
    days_total * i128::from(USECS_PER_DAY) + i128::from(micros)
}

/// The error from parsing a numeric, with PostgreSQL's message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumericError {
    /// The text is not a numeric literal (SQLSTATE 22P02).
    #[error("invalid input syntax for type numeric: \"{input}\"")]
    InvalidSyntax {
        /// The text as given.
        input: String,
    },
    /// The value has more digits than numeric allows (SQLSTATE 22003).
    #[error("value overflows numeric format")]
    Overflow,
}

/// An arbitrary-precision decimal, as PostgreSQL's `numeric`: a sign, decimal
/// digits and a display scale, or NaN, `Infinity` or `-Infinity`.
///
/// The display scale is kept (`1.50` prints as `1.50`), but equality, order
/// and hash are by value, as in PostgreSQL: `1.5 = 1.50`, and
/// `-Infinity < finite < Infinity < NaN`, NaN equal to itself.
#[derive(Clone)]
pub struct Numeric {
    repr: NumericRepr,
}

#[derive(Clone, PartialEq, Eq)]
enum NumericRepr {
    NaN,
    PosInf,
    NegInf,
    /// The value `(-1)^negative × digits × 10^-scale`. `digits` are decimal
    /// digits 0..=9, most significant first, without leading zeros (empty for
    /// zero, which is never negative). Invariants: `scale <=
    /// NUMERIC_MAX_SCALE` and `digits.len() - scale <= NUMERIC_MAX_INT_DIGITS`.
    Finite {
        negative: bool,
        digits: Vec<u8>,
        scale: u16,
    },
}

/// A numeric seen as the key encoding needs it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NumericView<'a> {
    NaN,
    PosInf,
    NegInf,
    Zero,
    /// The value `(-1)^negative × 0.d₁d₂… × 10^weight`, where `significant`
    /// holds the digits d without leading or trailing zeros (never empty).
    Finite {
        negative: bool,
        significant: &'a [u8],
        weight: i64,
    },
}

impl Numeric {
    /// Returns NaN.
    pub const fn nan() -> Numeric {
        Numeric {
            repr: NumericRepr::NaN,
        }
    }

    /// Returns `Infinity`.
    pub const fn infinity() -> Numeric {
        Numeric {
            repr: NumericRepr::PosInf,
        }
    }

    /// Returns `-Infinity`.
    pub const fn neg_infinity() -> Numeric {
        Numeric {
            repr: NumericRepr::NegInf,
        }
    }

    /// Returns zero with display scale 0.
    pub const fn zero() -> Numeric {
        Numeric {
            repr: NumericRepr::Finite {
                negative: false,
                digits: Vec::new(),
                scale: 0,
            },
        }
    }

    /// Returns whether this is NaN.
    pub fn is_nan(&self) -> bool {
        matches!(self.repr, NumericRepr::NaN)
    }

    /// Returns whether this is neither NaN nor infinite.
    pub fn is_finite(&self) -> bool {
        matches!(self.repr, NumericRepr::Finite { .. })
    }

    /// Returns the display scale (digits after the decimal point) of a finite
    /// value.
    pub fn scale(&self) -> Option<u16> {
        match self.repr {
            NumericRepr::Finite { scale, .. } => Some(scale),
            _ => None,
        }
    }

    /// Returns the value with trailing fractional zeros removed, as
    /// PostgreSQL's `trim_scale()`: `1.50` becomes `1.5`, `0.00` becomes `0`.
    pub fn trim_scale(&self) -> Numeric {
        match &self.repr {
            NumericRepr::Finite {
                negative,
                digits,
                scale,
            } => {
                let zeros = digits.iter().rev().take_while(|&&d| d == 0).count();
                let cut = zeros.min(usize::from(*scale));
                let digits = digits[..digits.len() - cut].to_vec();
                let scale = if digits.is_empty() {
                    0
                } else {
                    *scale - u16::try_from(cut).expect("cut is at most the scale")
                };
                Numeric {
                    repr: NumericRepr::Finite {
                        negative: *negative,
                        digits,
                        scale,
                    },
                }
            }
            _ => self.clone(),
        }
    }

    /// Returns whether two numerics have the same value and display scale.
    pub fn is_identical(&self, other: &Numeric) -> bool {
        self.repr == other.repr
    }

    /// Returns the value as sign, significant digits and decimal exponent.
    pub(crate) fn view(&self) -> NumericView<'_> {
        match &self.repr {
            NumericRepr::NaN => NumericView::NaN,
            NumericRepr::PosInf => NumericView::PosInf,
            NumericRepr::NegInf => NumericView::NegInf,
            NumericRepr::Finite { digits, .. } if digits.is_empty() => NumericView::Zero,
            NumericRepr::Finite {
                negative,
                digits,
                scale,
            } => {
                let end = digits
                    .iter()
                    .rposition(|&d| d != 0)
                    .expect("a nonzero numeric has a nonzero digit")
                    + 1;
                NumericView::Finite {
                    negative: *negative,
                    significant: &digits[..end],
                    weight: digits.len() as i64 - i64::from(*scale),
                }
            }
        }
    }

    /// Builds the finite value `(-1)^negative × 0.d₁d₂… × 10^weight` with the
    /// smallest display scale, or `None` if the digits are not canonical (a
    /// leading or trailing zero, a digit above 9, none at all) or the value
    /// is outside numeric's limits.
    pub(crate) fn from_significant(
        negative: bool,
        mut significant: Vec<u8>,
        weight: i64,
    ) -> Option<Numeric> {
        let first = *significant.first()?;
        let last = *significant.last()?;
        if first == 0 || last == 0 || significant.iter().any(|&d| d > 9) {
            return None;
        }
        if weight > i64::from(NUMERIC_MAX_INT_DIGITS) {
            return None;
        }
        let n = significant.len() as i64;
        let scale = if weight >= n {
            significant.resize(usize::try_from(weight).ok()?, 0);
            0
        } else {
            u16::try_from(n - weight)
                .ok()
                .filter(|&s| s <= NUMERIC_MAX_SCALE)?
        };
        Some(Numeric {
            repr: NumericRepr::Finite {
                negative,
                digits: significant,
                scale,
            },
        })
    }

    /// Orders the classes of value: -Infinity, negative, zero, positive,
    /// Infinity, NaN.
    fn rank(&self) -> u8 {
        match &self.repr {
            NumericRepr::NegInf => 0,
            NumericRepr::Finite { digits, .. } if digits.is_empty() => 2,
            NumericRepr::Finite { negative: true, .. } => 1,
            NumericRepr::Finite { .. } => 3,
            NumericRepr::PosInf => 4,
            NumericRepr::NaN => 5,
        }
    }
}

impl Ord for Numeric {
    fn cmp(&self, other: &Numeric) -> Ordering {
        let rank = self.rank().cmp(&other.rank());
        if rank != Ordering::Equal {
            return rank;
        }
        match (self.view(), other.view()) {
            (
                NumericView::Finite {
                    negative,
                    significant: a,
                    weight: weight_a,
                },
                NumericView::Finite {
                    significant: b,
                    weight: weight_b,
                    ..
                },
            ) => {
                // Significant digits start at the same power of ten when the
                // weights match, so a lexicographic comparison is numeric; a
                // prefix is smaller because the longer one's extra digits are
                // not all zero.
                let magnitude = weight_a.cmp(&weight_b).then_with(|| a.cmp(b));
                if negative {
                    magnitude.reverse()
                } else {
                    magnitude
                }
            }
            _ => Ordering::Equal,
        }
    }
}

impl PartialOrd for Numeric {
    fn partial_cmp(&self, other: &Numeric) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Numeric {
    fn eq(&self, other: &Numeric) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Numeric {}

impl Hash for Numeric {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Hash what `cmp` compares, so values equal in SQL hash alike.
        self.rank().hash(state);
        if let NumericView::Finite {
            significant,
            weight,
            ..
        } = self.view()
        {
            weight.hash(state);
            significant.hash(state);
        }
    }
}

impl fmt::Display for Numeric {
    /// Prints as PostgreSQL's `numeric_out`: all `scale` fractional digits,
    /// no exponent, `NaN`, `Infinity`, `-Infinity`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (negative, digits, scale) = match &self.repr {
            NumericRepr::NaN => return f.write_str("NaN"),
            NumericRepr::PosInf => return f.write_str("Infinity"),
            NumericRepr::NegInf => return f.write_str("-Infinity"),
            NumericRepr::Finite {
                negative,
                digits,
                scale,
            } => (*negative, digits, usize::from(*scale)),
        };
        let mut text = String::with_capacity(digits.len() + scale + 3);
        if negative {
            text.push('-');
        }
        let digit_char = |d: &u8| char::from(b'0' + d);
        if digits.len() > scale {
            text.extend(digits[..digits.len() - scale].iter().map(digit_char));
        } else {
            text.push('0');
        }
        if scale > 0 {
            text.push('.');
            let fraction_start = digits.len().saturating_sub(scale);
            text.extend(std::iter::repeat_n(
                '0',
                scale - (digits.len() - fraction_start),
            ));
            text.extend(digits[fraction_start..].iter().map(digit_char));
        }
        f.write_str(&text)
    }
}

impl fmt::Debug for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Numeric({self})")
    }
}

impl From<i64> for Numeric {
    fn from(value: i64) -> Numeric {
        let digits: Vec<u8> = if value == 0 {
            Vec::new()
        } else {
            value
                .unsigned_abs()
                .to_string()
                .bytes()
                .map(|b| b - b'0')
                .collect()
        };
        Numeric {
            repr: NumericRepr::Finite {
                negative: value < 0,
                digits,
                scale: 0,
            },
        }
    }
}

impl From<i32> for Numeric {
    fn from(value: i32) -> Numeric {
        Numeric::from(i64::from(value))
    }
}

impl From<i16> for Numeric {
    fn from(value: i16) -> Numeric {
        Numeric::from(i64::from(value))
    }
}

/// C's `isspace` in the C locale, which PostgreSQL's input functions use.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

impl FromStr for Numeric {
    type Err = NumericError;

    /// Parses as PostgreSQL's `numeric_in`: surrounding whitespace, an
    /// optional sign, digits with an optional decimal point, `_` between
    /// digits, an optional exponent (`1.5e-3`), and `NaN`, `Infinity`, `inf`
    /// in any case (NaN without a sign). The display scale is the number of
    /// fractional digits minus the exponent, at least 0: `1e3` is `1000`,
    /// `1.50` stays `1.50`. PostgreSQL 16's non-decimal integers (`0x1F`) are
    /// not accepted.
    fn from_str(input: &str) -> Result<Numeric, NumericError> {
        let syntax = || NumericError::InvalidSyntax {
            input: input.to_owned(),
        };
        let trimmed = input.trim_matches(is_c_space);
        let bytes = trimmed.as_bytes();
        let (negative, rest) = match bytes.first() {
            Some(b'+') => (false, &bytes[1..]),
            Some(b'-') => (true, &bytes[1..]),
            _ => (false, bytes),
        };
        match rest.first() {
            Some(c) if c.is_ascii_digit() || *c == b'.' => {}
            _ => {
                return if trimmed.eq_ignore_ascii_case("nan") {
                    Ok(Numeric::nan())
                } else if rest.eq_ignore_ascii_case(b"infinity")
                    || rest.eq_ignore_ascii_case(b"inf")
                {
                    Ok(if negative {
                        Numeric::neg_infinity()
                    } else {
                        Numeric::infinity()
                    })
                } else {
                    Err(syntax())
                };
            }
        }

        let is_digit_at = |i: usize| rest.get(i).is_some_and(u8::is_ascii_digit);
        let mut digits = Vec::with_capacity(rest.len());
        let mut fraction_digits: i64 = 0;
        let mut have_point = rest[0] == b'.';
        let mut i = usize::from(have_point);
        if !is_digit_at(i) {
            return Err(syntax());
        }
        while let Some(&c) = rest.get(i) {
            match c {
                b'0'..=b'9' => {
                    digits.push(c - b'0');
                    fraction_digits += i64::from(have_point);
                    i += 1;
                }
                b'.' => {
                    if have_point || rest.get(i + 1) == Some(&b'_') {
                        return Err(syntax());
                    }
                    have_point = true;
                    i += 1;
                }
                // An underscore separates digits: one follows it, and one
                // precedes it because a digit or point came first and a point
                // cannot be followed by an underscore.
                b'_' => {
                    i += 1;
                    if !is_digit_at(i) {
                        return Err(syntax());
                    }
                }
                _ => break,
            }
        }

        let mut exponent: i64 = 0;
        if matches!(rest.get(i), Some(b'e' | b'E')) {
            i += 1;
            let exponent_negative = match rest.get(i) {
                Some(b'+') => {
                    i += 1;
                    false
                }
                Some(b'-') => {
                    i += 1;
                    true
                }
                _ => false,
            };
            if !is_digit_at(i) {
                return Err(syntax());
            }
            while let Some(&c) = rest.get(i) {
                match c {
                    b'0'..=b'9' => {
                        exponent = exponent * 10 + i64::from(c - b'0');
                        if exponent > NUMERIC_EXPONENT_MAX {
                            return Err(NumericError::Overflow);
                        }
                        i += 1;
                    }
                    b'_' => {
                        i += 1;
                        if !is_digit_at(i) {
                            return Err(syntax());
                        }
                    }
                    _ => break,
                }
            }
            if exponent_negative {
                exponent = -exponent;
            }
        }
        if i != rest.len() {
            return Err(syntax());
        }

        // The value is digits × 10^shift.
        let shift = exponent - fraction_digits;
        let scale = u16::try_from((-shift).max(0))
            .ok()
            .filter(|&s| s <= NUMERIC_MAX_SCALE)
            .ok_or(NumericError::Overflow)?;
        let Some(first) = digits.iter().position(|&d| d != 0) else {
            return Ok(Numeric {
                repr: NumericRepr::Finite {
                    negative: false,
                    digits: Vec::new(),
                    scale,
                },
            });
        };
        digits.drain(..first);
        let weight = digits.len() as i64 + shift.max(0) - i64::from(scale);
        if weight > i64::from(NUMERIC_MAX_INT_DIGITS) {
            return Err(NumericError::Overflow);
        }
        if shift > 0 {
            let len = usize::try_from(weight).expect("weight is positive and bounded");
            digits.resize(len, 0);
        }
        Ok(Numeric {
            repr: NumericRepr::Finite {
                negative,
                digits,
                scale,
            },
        })
    }
}

/// The error from encoding datums as a row or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The type has no ordering, so it cannot be part of a key (PostgreSQL
    /// says this, SQLSTATE 42704, on `CREATE INDEX` over a json column).
    #[error("data type {type_name} has no default operator class for access method \"btree\"")]
    NotKeyEncodable {
        /// `pg_type.typname` of the value.
        type_name: &'static str,
    },
    /// The type has an ordering in PostgreSQL but no key encoding here
    /// yet: arrays, `int2vector` and `oidvector`.
    #[error("index keys of type {type_name} are not supported")]
    KeyTypeUnsupported {
        /// The type as `format_type` prints it (`integer[]`).
        type_name: String,
    },
    /// The row has more than [`MAX_COLUMNS`] columns.
    #[error("row has {count} columns; the limit is {max}")]
    TooManyColumns {
        /// The row's column count.
        count: usize,
        /// [`MAX_COLUMNS`].
        max: usize,
    },
    /// A value is longer than [`MAX_VALUE_BYTES`].
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// The value's length in bytes.
        len: usize,
        /// [`MAX_VALUE_BYTES`].
        max: usize,
    },
}

/// The error from decoding a row or a key: the bytes are corrupt, truncated or
/// of an unknown format. Offsets count from the start of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ends inside a value.
    #[error("input ends at offset {offset} with {needed} more bytes needed")]
    Truncated {
        /// Where the missing bytes start.
        offset: usize,
        /// How many more bytes the value needs.
        needed: usize,
    },
    /// The row starts with a format byte this build does not know.
    #[error("unsupported row format version {version}")]
    UnsupportedVersion {
        /// The leading byte.
        version: u8,
    },
    /// A value starts with a tag no encoding uses.
    #[error("unknown tag {tag:#04x} at offset {offset}")]
    UnknownTag {
        /// Where the tag is.
        offset: usize,
        /// The tag byte.
        tag: u8,
    },
    /// A value's bytes are malformed or not in canonical form.
    #[error("corrupt {what} at offset {offset}")]
    Corrupt {
        /// Where the value starts.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// Bytes follow the last value.
    #[error("{len} trailing bytes at offset {offset}")]
    TrailingBytes {
        /// Where the extra bytes start.
        offset: usize,
        /// How many there are.
        len: usize,
    },
    /// A key column decoded to a value of another type than expected.
    #[error("key column {column} is {found}, expected {expected}")]
    TypeMismatch {
        /// The column's position in the key.
        column: usize,
        /// The expected type's name.
        expected: &'static str,
        /// What the bytes hold.
        found: &'static str,
    },
    /// A key has fewer columns than expected.
    #[error("key has {found} columns, expected {expected}")]
    ColumnCount {
        /// How many columns were expected.
        expected: usize,
        /// How many the key has.
        found: usize,
    },
}

/// Row tags; see the module documentation.
mod row_tag {
    pub const NULL: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const INT2: u8 = 3;
    pub const INT4: u8 = 4;
    pub const INT8: u8 = 5;
    pub const FLOAT4: u8 = 6;
    pub const FLOAT8: u8 = 7;
    pub const NUMERIC: u8 = 8;
    pub const NUMERIC_NAN: u8 = 9;
    pub const NUMERIC_POS_INF: u8 = 10;
    pub const NUMERIC_NEG_INF: u8 = 11;
    pub const TEXT: u8 = 12;
    pub const BYTEA: u8 = 13;
    pub const DATE: u8 = 14;
    pub const TIMESTAMP: u8 = 15;
    pub const TIMESTAMPTZ: u8 = 16;
    pub const INTERVAL: u8 = 17;
    pub const UUID: u8 = 18;
    pub const JSON: u8 = 19;
    pub const JSONB: u8 = 20;
    pub const OID: u8 = 21;
    pub const ARRAY: u8 = 22;
    pub const RECORD: u8 = 23;
}

/// Appends `row` to `out` in the row encoding (see the module documentation).
/// On error `out` is left as it was.
pub fn encode_row(row: &[Datum], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if row.len() > MAX_COLUMNS {
        return Err(EncodeError::TooManyColumns {
            count: row.len(),
            max: MAX_COLUMNS,
        });
    }
    let start = out.len();
    out.push(ROW_FORMAT_V1);
    put_varint(out, row.len() as u64);
    for datum in row {
        if let Err(e) = encode_row_datum(datum, out) {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

/// Decodes a row written by [`encode_row`]. A row written before columns were
/// added decodes to fewer datums; the caller pads it with defaults.
pub fn decode_row(bytes: &[u8]) -> Result<Vec<Datum>, DecodeError> {
    decode_row_masked(bytes, None)
}

/// What [`decode_row_masked`] reads of one stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotRead {
    /// Stepped over; reads as NULL.
    Skip,
    /// Decoded.
    Whole,
    /// A jsonb object keeps only the members with these keys (see
    /// [`crate::jsonb::members_document`]); any other value is decoded
    /// whole.
    Members(std::sync::Arc<[Box<str>]>),
}

/// [`decode_row`], reading each value as `reads` says: a scan that reads
/// two columns of a wide row neither copies nor allocates the others, and
/// one that reads a member or two of a large jsonb document copies just
/// those. Positions past `reads`' end are decoded whole.
pub fn decode_row_masked(
    bytes: &[u8],
    reads: Option<&[SlotRead]>,
) -> Result<Vec<Datum>, DecodeError> {
    let mut reader = RowReader {
        bytes,
        pos: 0,
        record_depth: 0,
    };
    let version = reader.byte()?;
    if version != ROW_FORMAT_V1 {
        return Err(DecodeError::UnsupportedVersion { version });
    }
    let count_offset = reader.pos;
    let count = reader.varint()?;
    if count > MAX_COLUMNS as u64 {
        return Err(DecodeError::Corrupt {
            offset: count_offset,
            what: "column count",
        });
    }
    let count = usize::try_from(count).expect("count is at most MAX_COLUMNS");
    let mut row = Vec::with_capacity(count);
    for i in 0..count {
        match reads.and_then(|r| r.get(i)) {
            Some(SlotRead::Skip) => {
                reader.skip_datum()?;
                row.push(Datum::Null);
            }
            Some(SlotRead::Members(keys)) if reader.peek() == Some(row_tag::JSONB) => {
                let offset = reader.pos;
                reader.pos += 1;
                let doc = reader.length_prefixed()?;
                let kept = crate::jsonb::members_document(doc, keys).map_err(|_| {
                    DecodeError::Corrupt {
                        offset,
                        what: "jsonb document",
                    }
                })?;
                row.push(Datum::Jsonb(kept.unwrap_or_else(|| doc.to_vec())));
            }
            Some(SlotRead::Whole | SlotRead::Members(_)) | None => row.push(reader.datum()?),
        }
    }
    if reader.pos != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            offset: reader.pos,
            len: bytes.len() - reader.pos,
        });
    }
    Ok(row)
}

/// What stored slot `slot` of an encoded row holds, read in place (the
/// slots before it skipped, not decoded), for tests that run on a row's
/// bytes before it is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredSlot<'a> {
    /// SQL NULL.
    Null,
    /// A jsonb document, borrowed from the row.
    Jsonb(&'a [u8]),
    /// Anything else: another type, a slot past the row's end (a column
    /// added since the row was written), or bytes that do not decode.
    Other,
}

/// Reads slot `slot` of the encoded row `bytes` in place.
pub fn stored_slot(bytes: &[u8], slot: usize) -> StoredSlot<'_> {
    let mut reader = RowReader {
        bytes,
        pos: 0,
        record_depth: 0,
    };
    read_slot(&mut reader, slot).unwrap_or(StoredSlot::Other)
}

fn read_slot<'a>(reader: &mut RowReader<'a>, slot: usize) -> Result<StoredSlot<'a>, DecodeError> {
    if reader.byte()? != ROW_FORMAT_V1 {
        return Ok(StoredSlot::Other);
    }
    let count = reader.varint()?;
    if slot as u64 >= count {
        return Ok(StoredSlot::Other);
    }
    for _ in 0..slot {
        reader.skip_datum()?;
    }
    Ok(match reader.byte()? {
        row_tag::NULL => StoredSlot::Null,
        row_tag::JSONB => StoredSlot::Jsonb(reader.length_prefixed()?),
        _ => StoredSlot::Other,
    })
}

fn encode_row_datum(datum: &Datum, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match datum {
        Datum::Null => out.push(row_tag::NULL),
        Datum::Bool(false) => out.push(row_tag::FALSE),
        Datum::Bool(true) => out.push(row_tag::TRUE),
        Datum::Int2(v) => {
            out.push(row_tag::INT2);
            put_varint(out, zigzag(i64::from(*v)));
        }
        Datum::Int4(v) => {
            out.push(row_tag::INT4);
            put_varint(out, zigzag(i64::from(*v)));
        }
        Datum::Int8(v) => {
            out.push(row_tag::INT8);
            put_varint(out, zigzag(*v));
        }
        Datum::Float4(v) => {
            out.push(row_tag::FLOAT4);
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        Datum::Float8(v) => {
            out.push(row_tag::FLOAT8);
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        Datum::Numeric(n) => match &n.repr {
            NumericRepr::NaN => out.push(row_tag::NUMERIC_NAN),
            NumericRepr::PosInf => out.push(row_tag::NUMERIC_POS_INF),
            NumericRepr::NegInf => out.push(row_tag::NUMERIC_NEG_INF),
            NumericRepr::Finite {
                negative,
                digits,
                scale,
            } => {
                out.push(row_tag::NUMERIC);
                put_varint(out, (digits.len() as u64) << 1 | u64::from(*negative));
                put_varint(out, u64::from(*scale));
                for pair in digits.chunks(2) {
                    out.push(pair[0] << 4 | pair.get(1).copied().unwrap_or(0));
                }
            }
        },
        Datum::Text(s) => put_bytes(out, row_tag::TEXT, s.as_bytes())?,
        Datum::Bytea(b) => put_bytes(out, row_tag::BYTEA, b)?,
        Datum::Json(s) => put_bytes(out, row_tag::JSON, s.as_bytes())?,
        Datum::Jsonb(b) => put_bytes(out, row_tag::JSONB, b)?,
        Datum::Date(v) => {
            out.push(row_tag::DATE);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Datum::Timestamp(v) => {
            out.push(row_tag::TIMESTAMP);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Datum::TimestampTz(v) => {
            out.push(row_tag::TIMESTAMPTZ);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Datum::Interval {
            months,
            days,
            micros,
        } => {
            out.push(row_tag::INTERVAL);
            out.extend_from_slice(&months.to_le_bytes());
            out.extend_from_slice(&days.to_le_bytes());
            out.extend_from_slice(&micros.to_le_bytes());
        }
        Datum::Uuid(u) => {
            out.push(row_tag::UUID);
            out.extend_from_slice(u);
        }
        Datum::Oid(v) => {
            out.push(row_tag::OID);
            put_varint(out, u64::from(*v));
        }
        Datum::Array(a) => {
            out.push(row_tag::ARRAY);
            put_varint(out, u64::from(a.data_type().oid().0));
            put_varint(out, zigzag(i64::from(a.lower_bound())));
            put_varint(out, a.len() as u64);
            for item in a.items() {
                encode_row_datum(item, out)?;
            }
        }
        Datum::Record(fields) => {
            out.push(row_tag::RECORD);
            put_varint(out, fields.len() as u64);
            for field in fields.iter() {
                encode_row_datum(field, out)?;
            }
        }
    }
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) -> Result<(), EncodeError> {
    if bytes.len() > MAX_VALUE_BYTES {
        return Err(EncodeError::ValueTooLarge {
            len: bytes.len(),
            max: MAX_VALUE_BYTES,
        });
    }
    out.push(tag);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    (value >> 1) as i64 ^ -((value & 1) as i64)
}

/// Reads a row from a byte slice, checking every length against what is left.
struct RowReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Records being read around the current position.
    record_depth: usize,
}

impl<'a> RowReader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let left = self.bytes.len() - self.pos;
        if len > left {
            return Err(DecodeError::Truncated {
                offset: self.bytes.len(),
                needed: len - left,
            });
        }
        let taken = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    /// Reads a minimal-length LEB128 varint of at most ten bytes.
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let offset = self.pos;
        let corrupt = DecodeError::Corrupt {
            offset,
            what: "varint",
        };
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            // The tenth byte holds bit 63 only.
            if i == 9 && b > 1 {
                return Err(corrupt);
            }
            value |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 {
                    return Err(corrupt);
                }
                return Ok(value);
            }
        }
        Err(corrupt)
    }

    fn int(&mut self, min: i64, max: i64) -> Result<i64, DecodeError> {
        let offset = self.pos;
        let v = unzigzag(self.varint()?);
        if v < min || v > max {
            return Err(DecodeError::Corrupt {
                offset,
                what: "integer out of range",
            });
        }
        Ok(v)
    }

    /// Reads a varint length and that many bytes.
    fn length_prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let offset = self.pos;
        let len = self.varint()?;
        if len > MAX_VALUE_BYTES as u64 {
            return Err(DecodeError::Corrupt {
                offset,
                what: "value length",
            });
        }
        self.take(usize::try_from(len).expect("len is at most MAX_VALUE_BYTES"))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let offset = self.pos;
        let bytes = self.length_prefixed()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Corrupt {
            offset,
            what: "UTF-8 text",
        })
    }

    /// The next value's tag, not consumed.
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Steps over one value without building it. Values of fixed or
    /// length-prefixed encodings are skipped by their lengths (not checked
    /// further: nobody reads them); others are decoded and dropped.
    fn skip_datum(&mut self) -> Result<(), DecodeError> {
        let Some(&tag) = self.bytes.get(self.pos) else {
            return self.datum().map(drop);
        };
        let fixed = match tag {
            row_tag::NULL
            | row_tag::FALSE
            | row_tag::TRUE
            | row_tag::NUMERIC_NAN
            | row_tag::NUMERIC_POS_INF
            | row_tag::NUMERIC_NEG_INF => Some(0),
            row_tag::FLOAT4 | row_tag::DATE => Some(4),
            row_tag::FLOAT8 | row_tag::TIMESTAMP | row_tag::TIMESTAMPTZ => Some(8),
            row_tag::INTERVAL | row_tag::UUID => Some(16),
            _ => None,
        };
        if let Some(n) = fixed {
            self.pos += 1;
            self.take(n)?;
            return Ok(());
        }
        match tag {
            row_tag::INT2 | row_tag::INT4 | row_tag::INT8 | row_tag::OID => {
                self.pos += 1;
                self.varint().map(drop)
            }
            row_tag::TEXT | row_tag::BYTEA | row_tag::JSON | row_tag::JSONB => {
                self.pos += 1;
                self.length_prefixed().map(drop)
            }
            _ => self.datum().map(drop),
        }
    }

    fn datum(&mut self) -> Result<Datum, DecodeError> {
        let offset = self.pos;
        let tag = self.byte()?;
        Ok(match tag {
            row_tag::NULL => Datum::Null,
            row_tag::FALSE => Datum::Bool(false),
            row_tag::TRUE => Datum::Bool(true),
            row_tag::INT2 => Datum::Int2(
                i16::try_from(self.int(i16::MIN.into(), i16::MAX.into())?).expect("range checked"),
            ),
            row_tag::INT4 => Datum::Int4(
                i32::try_from(self.int(i32::MIN.into(), i32::MAX.into())?).expect("range checked"),
            ),
            row_tag::INT8 => Datum::Int8(self.int(i64::MIN, i64::MAX)?),
            row_tag::FLOAT4 => Datum::Float4(f32::from_bits(u32::from_le_bytes(self.array()?))),
            row_tag::FLOAT8 => Datum::Float8(f64::from_bits(u64::from_le_bytes(self.array()?))),
            row_tag::NUMERIC => Datum::Numeric(self.numeric(offset)?),
            row_tag::NUMERIC_NAN => Datum::Numeric(Numeric::nan()),
            row_tag::NUMERIC_POS_INF => Datum::Numeric(Numeric::infinity()),
            row_tag::NUMERIC_NEG_INF => Datum::Numeric(Numeric::neg_infinity()),
            row_tag::TEXT => Datum::Text(self.string()?),
            row_tag::BYTEA => Datum::Bytea(self.length_prefixed()?.to_vec()),
            row_tag::JSON => Datum::Json(self.string()?),
            row_tag::JSONB => Datum::Jsonb(self.length_prefixed()?.to_vec()),
            row_tag::DATE => Datum::Date(i32::from_le_bytes(self.array()?)),
            row_tag::TIMESTAMP => Datum::Timestamp(i64::from_le_bytes(self.array()?)),
            row_tag::TIMESTAMPTZ => Datum::TimestampTz(i64::from_le_bytes(self.array()?)),
            row_tag::INTERVAL => Datum::Interval {
                months: i32::from_le_bytes(self.array()?),
                days: i32::from_le_bytes(self.array()?),
                micros: i64::from_le_bytes(self.array()?),
            },
            row_tag::UUID => Datum::Uuid(self.array()?),
            row_tag::OID => {
                Datum::Oid(
                    u32::try_from(self.varint()?).map_err(|_| DecodeError::Corrupt {
                        offset,
                        what: "oid out of range",
                    })?,
                )
            }
            row_tag::ARRAY => Datum::Array(Box::new(self.array_datum(offset)?)),
            row_tag::RECORD => self.record_datum(offset)?,
            _ => return Err(DecodeError::UnknownTag { offset, tag }),
        })
    }

    /// Reads an array's type, lower bound and elements. Elements are never
    /// arrays, so this recurses once at most.
    fn array_datum(&mut self, offset: usize) -> Result<Array, DecodeError> {
        let corrupt = |what| DecodeError::Corrupt { offset, what };
        let type_oid = u32::try_from(self.varint()?).map_err(|_| corrupt("array type"))?;
        let ty = DataType::from_oid(Oid(type_oid))
            .filter(|t| t.elem().is_some())
            .ok_or(corrupt("array type"))?;
        let elem = ty.elem().expect("filtered on elem").value_type();
        let lower_bound =
            i32::try_from(self.int(i32::MIN.into(), i32::MAX.into())?).expect("range checked");
        let count = self.varint()?;
        // Every element takes at least a byte, which bounds the allocation.
        let left = (self.bytes.len() - self.pos) as u64;
        if count > ARRAY_MAX_ITEMS as u64 || count > left {
            return Err(corrupt("array length"));
        }
        let count = usize::try_from(count).expect("count is at most ARRAY_MAX_ITEMS");
        if Array::upper_bound_of(lower_bound, count).is_none()
            || (count == 0 && lower_bound != Array::default_lower_bound(ty))
        {
            return Err(corrupt("array bounds"));
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            let item_offset = self.pos;
            if self.bytes.get(item_offset) == Some(&row_tag::ARRAY) {
                return Err(DecodeError::Corrupt {
                    offset: item_offset,
                    what: "nested array",
                });
            }
            let item = self.datum()?;
            if !item.is_null() && item.data_type() != Some(elem) {
                return Err(DecodeError::Corrupt {
                    offset: item_offset,
                    what: "array element of another type",
                });
            }
            items.push(item);
        }
        Ok(Array::with_lower_bound(ty, lower_bound, items))
    }

    /// Reads a record's fields. Records nest (a row of a whole-row
    /// reference), so the depth is bounded by [`RECORD_DEPTH_MAX`].
    fn record_datum(&mut self, offset: usize) -> Result<Datum, DecodeError> {
        let corrupt = |what| DecodeError::Corrupt { offset, what };
        if self.record_depth >= RECORD_DEPTH_MAX {
            return Err(corrupt("records nested too deeply"));
        }
        let count = self.varint()?;
        // Every field takes at least a byte, which bounds the allocation.
        let left = (self.bytes.len() - self.pos) as u64;
        if count > MAX_COLUMNS as u64 || count > left {
            return Err(corrupt("record length"));
        }
        self.record_depth += 1;
        let mut fields = Vec::with_capacity(usize::try_from(count).expect("at most MAX_COLUMNS"));
        for _ in 0..count {
            match self.datum() {
                Ok(d) => fields.push(d),
                Err(e) => {
                    self.record_depth -= 1;
                    return Err(e);
                }
            }
        }
        self.record_depth -= 1;
        Ok(Datum::Record(fields.into_boxed_slice()))
    }

    fn numeric(&mut self, offset: usize) -> Result<Numeric, DecodeError> {
        let corrupt = |what| DecodeError::Corrupt { offset, what };
        let header = self.varint()?;
        let negative = header & 1 == 1;
        let len = header >> 1;
        if len > NUMERIC_MAX_DIGITS as u64 {
            return Err(corrupt("numeric digit count"));
        }
        let len = usize::try_from(len).expect("len is at most NUMERIC_MAX_DIGITS");
        let scale = u16::try_from(self.varint()?)
            .ok()
            .filter(|&s| s <= NUMERIC_MAX_SCALE)
            .ok_or(corrupt("numeric scale"))?;
        if len as i64 - i64::from(scale) > i64::from(NUMERIC_MAX_INT_DIGITS) {
            return Err(corrupt("numeric weight"));
        }
        if negative && len == 0 {
            return Err(corrupt("negative numeric zero"));
        }
        let packed = self.take(len.div_ceil(2))?;
        let mut digits = Vec::with_capacity(len);
        for &b in packed {
            digits.push(b >> 4);
            digits.push(b & 0x0F);
        }
        if digits.len() > len && digits.pop() != Some(0) {
            return Err(corrupt("numeric padding"));
        }
        if digits.first() == Some(&0) {
            return Err(corrupt("numeric leading zero"));
        }
        if digits.iter().any(|&d| d > 9) {
            return Err(corrupt("numeric digit"));
        }
        Ok(Numeric {
            repr: NumericRepr::Finite {
                negative,
                digits,
                scale,
            },
        })
    }
}

/// Proptest strategies for datums of each type, shared with the key tests.
#[cfg(test)]
pub(crate) mod strategies {
    use super::*;
    use proptest::prelude::*;

    /// Every type that can be a key column, with a bounded varchar.
    pub(crate) fn key_types() -> Vec<DataType> {
        DataType::ALL
            .into_iter()
            .filter(|t| t.is_key_encodable())
            .chain([DataType::Varchar {
                max_chars: Some(10),
            }])
            .collect()
    }

    fn digits(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
        // Few distinct digits make equal and nearly equal values common.
        prop::collection::vec(
            prop_oneof![Just(0u8), Just(1), Just(5), Just(9), 0u8..10],
            len,
        )
    }

    fn digit_string(digits: &[u8]) -> String {
        digits.iter().map(|d| char::from(b'0' + d)).collect()
    }

    pub(crate) fn arb_numeric() -> BoxedStrategy<Numeric> {
        let plain = (any::<bool>(), digits(0..8), digits(0..8), 0usize..3).prop_map(
            |(negative, int, fraction, zeros)| {
                let mut text = String::from(if negative { "-" } else { "" });
                if int.is_empty() {
                    text.push('0');
                } else {
                    text.push_str(&digit_string(&int));
                }
                if !fraction.is_empty() || zeros > 0 {
                    text.push('.');
                    text.push_str(&digit_string(&fraction));
                    text.push_str(&"0".repeat(zeros));
                }
                text.parse().expect("generated literal parses")
            },
        );
        let scientific =
            (any::<bool>(), digits(1..6), -30i32..30).prop_map(|(negative, mantissa, exponent)| {
                let sign = if negative { "-" } else { "" };
                format!("{sign}{}e{exponent}", digit_string(&mantissa))
                    .parse()
                    .expect("generated literal parses")
            });
        prop_oneof![
            1 => Just(Numeric::nan()),
            1 => Just(Numeric::infinity()),
            1 => Just(Numeric::neg_infinity()),
            12 => plain,
            4 => scientific,
        ]
        .boxed()
    }

    fn arb_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => proptest::num::f64::ANY,
            2 => any::<u64>().prop_map(f64::from_bits),
            3 => prop::sample::select(vec![
                0.0,
                -0.0,
                1.5,
                -1.5,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                -f64::NAN,
                f64::MIN_POSITIVE,
                f64::MAX,
                f64::MIN,
            ]),
        ]
    }

    fn arb_f32() -> impl Strategy<Value = f32> {
        prop_oneof![
            3 => proptest::num::f32::ANY,
            2 => any::<u32>().prop_map(f32::from_bits),
            3 => prop::sample::select(vec![
                0.0,
                -0.0,
                1.5,
                -1.5,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
                -f32::NAN,
                f32::MIN_POSITIVE,
                f32::MAX,
                f32::MIN,
            ]),
        ]
    }

    fn arb_string() -> impl Strategy<Value = String> {
        let chars = prop_oneof![
            prop::sample::select(vec!['\0', 'a', 'b', '\u{7f}', '\u{80}', 'é', '\u{10FFFF}']),
            any::<char>(),
        ];
        prop::collection::vec(chars, 0..6).prop_map(String::from_iter)
    }

    fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
        let bytes = prop_oneof![
            prop::sample::select(vec![0u8, 1, 0x61, 0xFE, 0xFF]),
            any::<u8>()
        ];
        prop::collection::vec(bytes, 0..6)
    }

    fn small_or_any_i64() -> impl Strategy<Value = i64> {
        prop_oneof![-3i64..3, any::<i64>(), Just(i64::MIN), Just(i64::MAX)]
    }

    fn small_or_any_i32() -> impl Strategy<Value = i32> {
        prop_oneof![-3i32..3, any::<i32>(), Just(i32::MIN), Just(i32::MAX)]
    }

    /// A non-null value of `ty`.
    pub(crate) fn arb_value(ty: DataType) -> BoxedStrategy<Datum> {
        match ty {
            DataType::Bool => any::<bool>().prop_map(Datum::Bool).boxed(),
            DataType::Int2 => prop_oneof![-3i16..3, any::<i16>()]
                .prop_map(Datum::Int2)
                .boxed(),
            DataType::Int4 => small_or_any_i32().prop_map(Datum::Int4).boxed(),
            DataType::Int8 => small_or_any_i64().prop_map(Datum::Int8).boxed(),
            DataType::Float4 => arb_f32().prop_map(Datum::Float4).boxed(),
            DataType::Float8 => arb_f64().prop_map(Datum::Float8).boxed(),
            DataType::Numeric => arb_numeric().prop_map(Datum::Numeric).boxed(),
            DataType::Text | DataType::Varchar { .. } | DataType::Bpchar { .. } => {
                arb_string().prop_map(Datum::Text).boxed()
            }
            DataType::Bytea => arb_bytes().prop_map(Datum::Bytea).boxed(),
            DataType::Date => small_or_any_i32().prop_map(Datum::Date).boxed(),
            DataType::Timestamp => small_or_any_i64().prop_map(Datum::Timestamp).boxed(),
            DataType::TimestampTz => small_or_any_i64().prop_map(Datum::TimestampTz).boxed(),
            DataType::Interval => {
                let months = small_or_any_i32();
                let days = prop_oneof![
                    prop::sample::select(vec![-30, 0, 1, 30, 60]),
                    small_or_any_i32()
                ];
                let micros = prop_oneof![
                    prop::sample::select(vec![0, 1, USECS_PER_DAY, -USECS_PER_DAY]),
                    small_or_any_i64(),
                ];
                (months, days, micros)
                    .prop_map(|(months, days, micros)| Datum::Interval {
                        months,
                        days,
                        micros,
                    })
                    .boxed()
            }
            DataType::Uuid => prop_oneof![
                any::<[u8; 16]>(),
                (0u8..3).prop_map(|b| {
                    let mut u = [0u8; 16];
                    u[15] = b;
                    u
                }),
            ]
            .prop_map(Datum::Uuid)
            .boxed(),
            DataType::Json => arb_string().prop_map(Datum::Json).boxed(),
            DataType::Jsonb => arb_bytes().prop_map(Datum::Jsonb).boxed(),
            DataType::Name => arb_string().prop_map(Datum::Text).boxed(),
            DataType::Char => arb_char().prop_map(Datum::Text).boxed(),
            DataType::Void => Just(Datum::Text(String::new())).boxed(),
            DataType::Oid
            | DataType::RegClass
            | DataType::RegType
            | DataType::RegProc
            | DataType::RegProcedure
            | DataType::RegNamespace
            | DataType::RegRole => prop_oneof![0u32..3, any::<u32>(), Just(u32::MAX)]
                .prop_map(Datum::Oid)
                .boxed(),
            DataType::Int2Vector | DataType::OidVector => {
                let elem = ty.elem().expect("vectors have elements");
                prop::collection::vec(arb_value(elem), 0..4)
                    .prop_map(move |items| Datum::array(ty, items))
                    .boxed()
            }
            DataType::Record(rt) => {
                let fields: Vec<BoxedStrategy<Datum>> =
                    rt.fields.iter().map(|f| arb_nullable(f.ty)).collect();
                fields
                    .prop_map(|f| Datum::Record(f.into_boxed_slice()))
                    .boxed()
            }
            DataType::Array(elem) => {
                let bounds = prop_oneof![4 => Just(1), 1 => -3i32..3, 1 => Just(i32::MIN)];
                (prop::collection::vec(arb_nullable(*elem), 0..4), bounds)
                    .prop_map(move |(items, lower_bound)| {
                        Datum::Array(Box::new(Array::with_lower_bound(ty, lower_bound, items)))
                    })
                    .boxed()
            }
        }
    }

    /// A `"char"` value in its canonical text form.
    pub(crate) fn arb_char() -> impl Strategy<Value = String> {
        any::<u8>().prop_map(|b| match b {
            0 => String::new(),
            1..=0x7F => char::from(b).to_string(),
            _ => format!("\\{b:03o}"),
        })
    }

    /// A value of `ty` or NULL.
    pub(crate) fn arb_nullable(ty: DataType) -> BoxedStrategy<Datum> {
        prop_oneof![1 => Just(Datum::Null), 6 => arb_value(ty)].boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::strategies::*;
    use super::*;
    use proptest::prelude::*;

    fn num(text: &str) -> Numeric {
        text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn row_roundtrip(row: &[Datum]) -> Vec<Datum> {
        let mut bytes = Vec::new();
        encode_row(row, &mut bytes).expect("row encodes");
        decode_row(&bytes).expect("row decodes")
    }

    #[test]
    fn data_type_oids_and_names_match_postgres() {
        let expected = [
            (DataType::Bool, 16, "bool", "boolean"),
            (DataType::Int2, 21, "int2", "smallint"),
            (DataType::Int4, 23, "int4", "integer"),
            (DataType::Int8, 20, "int8", "bigint"),
            (DataType::Float4, 700, "float4", "real"),
            (DataType::Float8, 701, "float8", "double precision"),
            (DataType::Numeric, 1700, "numeric", "numeric"),
            (DataType::Text, 25, "text", "text"),
            (
                DataType::Varchar { max_chars: None },
                1043,
                "varchar",
                "character varying",
            ),
            (DataType::Bytea, 17, "bytea", "bytea"),
            (DataType::Date, 1082, "date", "date"),
            (
                DataType::Timestamp,
                1114,
                "timestamp",
                "timestamp without time zone",
            ),
            (
                DataType::TimestampTz,
                1184,
                "timestamptz",
                "timestamp with time zone",
            ),
            (DataType::Interval, 1186, "interval", "interval"),
            (DataType::Uuid, 2950, "uuid", "uuid"),
            (DataType::Json, 114, "json", "json"),
            (DataType::Jsonb, 3802, "jsonb", "jsonb"),
            (DataType::Oid, 26, "oid", "oid"),
            (DataType::Name, 19, "name", "name"),
            (DataType::Char, 18, "char", "\"char\""),
            (DataType::RegClass, 2205, "regclass", "regclass"),
            (DataType::RegType, 2206, "regtype", "regtype"),
            (DataType::RegProc, 24, "regproc", "regproc"),
            (DataType::RegProcedure, 2202, "regprocedure", "regprocedure"),
            (DataType::RegNamespace, 4089, "regnamespace", "regnamespace"),
            (DataType::RegRole, 4096, "regrole", "regrole"),
            (DataType::Int2Vector, 22, "int2vector", "int2vector"),
            (DataType::OidVector, 30, "oidvector", "oidvector"),
            (DataType::Array(&DataType::Bool), 1000, "_bool", "boolean[]"),
            (
                DataType::Array(&DataType::Int2),
                1005,
                "_int2",
                "smallint[]",
            ),
            (DataType::Array(&DataType::Int4), 1007, "_int4", "integer[]"),
            (DataType::Array(&DataType::Int8), 1016, "_int8", "bigint[]"),
            (
                DataType::Array(&DataType::Float4),
                1021,
                "_float4",
                "real[]",
            ),
            (
                DataType::Array(&DataType::Float8),
                1022,
                "_float8",
                "double precision[]",
            ),
            (
                DataType::Array(&DataType::Numeric),
                1231,
                "_numeric",
                "numeric[]",
            ),
            (DataType::Array(&DataType::Text), 1009, "_text", "text[]"),
            (
                DataType::Array(&DataType::Varchar { max_chars: None }),
                1015,
                "_varchar",
                "character varying[]",
            ),
            (DataType::Array(&DataType::Bytea), 1001, "_bytea", "bytea[]"),
            (DataType::Array(&DataType::Date), 1182, "_date", "date[]"),
            (
                DataType::Array(&DataType::Timestamp),
                1115,
                "_timestamp",
                "timestamp without time zone[]",
            ),
            (
                DataType::Array(&DataType::TimestampTz),
                1185,
                "_timestamptz",
                "timestamp with time zone[]",
            ),
            (
                DataType::Array(&DataType::Interval),
                1187,
                "_interval",
                "interval[]",
            ),
            (DataType::Array(&DataType::Uuid), 2951, "_uuid", "uuid[]"),
            (DataType::Array(&DataType::Json), 199, "_json", "json[]"),
            (DataType::Array(&DataType::Jsonb), 3807, "_jsonb", "jsonb[]"),
            (DataType::Array(&DataType::Oid), 1028, "_oid", "oid[]"),
            (DataType::Array(&DataType::Name), 1003, "_name", "name[]"),
            (
                DataType::Array(&DataType::Char),
                1002,
                "_char",
                "\"char\"[]",
            ),
            (
                DataType::Bpchar { max_chars: None },
                1042,
                "bpchar",
                "character",
            ),
            (
                DataType::Array(&DataType::Bpchar { max_chars: None }),
                1014,
                "_bpchar",
                "character[]",
            ),
        ];
        assert_eq!(expected.len(), DataType::ALL.len());
        for ty in DataType::ALL {
            if let Some(elem) = ty.elem() {
                if let DataType::Array(_) = ty {
                    assert_eq!(elem.array_of(), Some(ty), "{ty:?}");
                }
            } else if !ty.is_reg() {
                assert_eq!(ty.array_of().and_then(DataType::elem), Some(ty), "{ty:?}");
            }
        }
        for (ty, oid, name, formatted) in expected {
            assert_eq!(ty.oid(), Oid(oid), "{ty:?}");
            assert_eq!(ty.name(), name, "{ty:?}");
            assert_eq!(ty.format_type(), formatted, "{ty:?}");
            assert_eq!(DataType::from_oid(Oid(oid)), Some(ty));
        }
        let varchar10 = DataType::Varchar {
            max_chars: Some(10),
        };
        assert_eq!(varchar10.oid(), Oid(1043));
        assert_eq!(varchar10.typmod(), 14);
        assert_eq!(varchar10.format_type(), "character varying(10)");
        let char3 = DataType::Bpchar { max_chars: Some(3) };
        assert_eq!(char3.oid(), Oid(1042));
        assert_eq!(char3.typmod(), 7);
        assert_eq!(char3.format_type(), "character(3)");
        assert_eq!(DataType::from_oid_typmod(Oid(1042), 7), Some(char3));
        assert_eq!(DataType::Text.typmod(), -1);
        assert_eq!(DataType::from_oid(Oid(0)), None);
    }

    #[test]
    fn type_names_parse_as_regtype_reads_them() {
        let varchar = |n| DataType::Varchar { max_chars: n };
        let bpchar = |n| DataType::Bpchar { max_chars: n };
        let cases = [
            ("integer", Some(DataType::Int4)),
            ("INT", Some(DataType::Int4)),
            ("int4", Some(DataType::Int4)),
            ("pg_catalog.int8", Some(DataType::Int8)),
            ("double  precision", Some(DataType::Float8)),
            ("character varying(10)", Some(varchar(Some(10)))),
            ("varchar ( 3 )", Some(varchar(Some(3)))),
            ("varchar", Some(varchar(None))),
            ("timestamp with time zone", Some(DataType::TimestampTz)),
            ("\"char\"", Some(DataType::Char)),
            ("pg_catalog.\"char\"", Some(DataType::Char)),
            ("\"char\"[]", Some(DataType::Array(&DataType::Char))),
            ("char", Some(bpchar(Some(1)))),
            ("character(3)", Some(bpchar(Some(3)))),
            ("CHAR (5)", Some(bpchar(Some(5)))),
            ("bpchar", Some(bpchar(None))),
            ("bpchar(2)", Some(bpchar(Some(2)))),
            ("pg_catalog.bpchar", Some(bpchar(None))),
            ("\"bpchar\"", Some(bpchar(None))),
            ("\"character\"", None),
            ("char(0)", None),
            (
                "character[]",
                Some(DataType::Array(&DataType::Bpchar { max_chars: None })),
            ),
            ("\"int4\"", Some(DataType::Int4)),
            ("\"INT4\"", None),
            ("text[]", Some(DataType::Array(&DataType::Text))),
            ("_text", Some(DataType::Array(&DataType::Text))),
            ("_text[]", None),
            ("regclass", Some(DataType::RegClass)),
            ("regclass[]", None),
            ("int2vector", Some(DataType::Int2Vector)),
            ("integer(3)", None),
            ("varchar(0)", None),
            ("float", Some(DataType::Float8)),
            ("float(24)", Some(DataType::Float4)),
            ("float(25)", Some(DataType::Float8)),
            ("float(54)", None),
            ("numeric(10,2)", Some(DataType::Numeric)),
            ("timestamp(3) with time zone", Some(DataType::TimestampTz)),
            ("TIMESTAMP(3) WITH TIME ZONE", Some(DataType::TimestampTz)),
            ("timestamp(3)", Some(DataType::Timestamp)),
            ("nosuchtype", None),
        ];
        for (name, want) in cases {
            assert_eq!(DataType::from_type_name(name), want, "{name:?}");
        }
        for ty in DataType::ALL {
            // Unquoted, `char` is SQL's `character`; `"char"` needs quotes.
            if ty != DataType::Char {
                assert_eq!(DataType::from_type_name(ty.name()), Some(ty), "{ty:?}");
            }
            // `character` reads back as `character(1)`.
            let back = match ty {
                DataType::Bpchar { max_chars: None } => DataType::Bpchar { max_chars: Some(1) },
                ty => ty,
            };
            assert_eq!(
                DataType::from_type_name(&ty.format_type()),
                Some(back),
                "{ty:?}"
            );
        }
        assert_eq!(
            DataType::from_oid_typmod(Oid(1043), 14),
            Some(varchar(Some(10)))
        );
        assert_eq!(
            DataType::from_oid_typmod(Oid(1043), -1),
            Some(varchar(None))
        );
        assert_eq!(DataType::from_oid_typmod(Oid(23), -1), Some(DataType::Int4));
        let typmods = [
            ("numeric(10,2)", 655366),
            ("numeric(5)", 327684),
            ("varchar(10)[]", 14),
            ("timestamp(3) with time zone", 3),
            ("timestamp(9)", 6),
            ("interval(2)", 0x7FFF_0002),
            ("text", -1),
        ];
        for (name, typmod) in typmods {
            assert_eq!(
                DataType::parse_type_name(name).map(|t| t.1),
                Some(typmod),
                "{name}"
            );
        }
    }

    #[test]
    fn arrays_compare_as_array_cmp() {
        let ints = |items: &[Option<i32>]| {
            Datum::array(
                DataType::Array(&DataType::Int4),
                items
                    .iter()
                    .map(|v| v.map_or(Datum::Null, Datum::Int4))
                    .collect(),
            )
        };
        let ascending = [
            ints(&[]),
            ints(&[Some(1)]),
            ints(&[Some(1), Some(2)]),
            ints(&[Some(1), None]),
            ints(&[Some(2)]),
            ints(&[None]),
        ];
        for pair in ascending.windows(2) {
            assert_eq!(
                pair[0].cmp_same_type(&pair[1]),
                Some(Ordering::Less),
                "{:?} < {:?}",
                pair[0],
                pair[1]
            );
        }
        assert_eq!(
            ints(&[None]).cmp_same_type(&ints(&[None])),
            Some(Ordering::Equal)
        );
        let shifted = Datum::Array(Box::new(Array::with_lower_bound(
            DataType::Array(&DataType::Int4),
            0,
            vec![Datum::Int4(1)],
        )));
        assert_eq!(
            shifted.cmp_same_type(&ints(&[Some(1)])),
            Some(Ordering::Less)
        );
        let texts = Datum::array(DataType::Array(&DataType::Text), vec![]);
        assert_eq!(texts.cmp_same_type(&ints(&[])), None);
        let names = Datum::array(
            DataType::Array(&DataType::Name),
            vec![Datum::Text("a".into())],
        );
        let text = Datum::array(
            DataType::Array(&DataType::Text),
            vec![Datum::Text("a".into())],
        );
        assert_eq!(names.cmp_same_type(&text), Some(Ordering::Equal));
        let json = Datum::array(DataType::Array(&DataType::Json), vec![]);
        assert_eq!(json.cmp_same_type(&json), None);
        assert_eq!(
            Datum::Oid(u32::MAX).cmp_same_type(&Datum::Oid(1)),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn arrays_report_bounds_and_subscripts() {
        let a = Array::with_lower_bound(
            DataType::Array(&DataType::Text),
            -1,
            vec![Datum::Text("x".into()), Datum::Null],
        );
        assert_eq!((a.lower_bound(), a.upper_bound()), (-1, Some(0)));
        assert_eq!(a.get(-1), Some(&Datum::Text("x".into())));
        assert_eq!(a.get(0), Some(&Datum::Null));
        assert_eq!(a.get(1), None);
        assert_eq!(a.get(i32::MIN), None);
        let v = Array::new(DataType::Int2Vector, vec![Datum::Int2(3)]);
        assert_eq!((v.lower_bound(), v.elem_type()), (0, DataType::Int2));
        assert_eq!(Array::upper_bound_of(i32::MAX, 1), None);
        assert_eq!(Array::upper_bound_of(i32::MAX - 1, 1), Some(i32::MAX - 1));
        assert_eq!(Array::upper_bound_of(i32::MAX, 0), Some(i32::MAX - 1));
        assert_eq!(Array::upper_bound_of(i32::MIN, 1), Some(i32::MIN));
        assert_eq!(
            Array::new(DataType::Array(&DataType::Int4), vec![]).upper_bound(),
            None
        );
        let empty = Array::with_lower_bound(DataType::Array(&DataType::Int4), i32::MIN, vec![]);
        assert_eq!(empty.lower_bound(), 1, "empty arrays have no bounds");
    }

    #[test]
    fn corrupt_arrays_are_errors() {
        let mut good = Vec::new();
        encode_row(
            &[Datum::array(
                DataType::Array(&DataType::Int4),
                vec![Datum::Int4(1)],
            )],
            &mut good,
        )
        .expect("encodes");
        assert_eq!(decode_row(&good).map(|r| r.len()), Ok(1));
        let cases: &[(&[u8], &str)] = &[
            (
                &[1, 1, row_tag::ARRAY, 23, 2, 0],
                "element type is not an array type",
            ),
            (
                &[1, 1, row_tag::ARRAY, 0xEF, 0x07, 2, 5],
                "count beyond the input",
            ),
            (
                &[1, 1, row_tag::ARRAY, 0xEF, 0x07, 2, 1, row_tag::TEXT, 0],
                "element of another type",
            ),
            (
                &[
                    1,
                    1,
                    row_tag::ARRAY,
                    0xEF,
                    0x07,
                    2,
                    1,
                    row_tag::ARRAY,
                    0xEF,
                    0x07,
                    2,
                    0,
                ],
                "nested array",
            ),
            (
                &[
                    1,
                    1,
                    row_tag::ARRAY,
                    0xEF,
                    0x07,
                    0xFE,
                    0xFF,
                    0xFF,
                    0xFF,
                    0x0F,
                    2,
                    0,
                    0,
                ],
                "upper bound overflows",
            ),
            (
                &[1, 1, row_tag::OID, 0x80, 0x80, 0x80, 0x80, 0x10],
                "oid above u32",
            ),
        ];
        for (bytes, why) in cases {
            assert!(decode_row(bytes).is_err(), "{why}: {bytes:?} decoded");
        }
    }

    #[test]
    fn numeric_parses_and_prints_as_postgres() {
        // Input on the left, `SELECT 'input'::numeric` output on the right.
        let cases = [
            ("0.1", "0.1"),
            ("-0.0", "0.0"),
            ("0", "0"),
            ("-0", "0"),
            ("0.000", "0.000"),
            ("1e3", "1000"),
            ("1E+3", "1000"),
            ("1.50", "1.50"),
            ("1.5e1", "15"),
            ("1.50e1", "15.0"),
            ("-1.5e-3", "-0.0015"),
            ("0.0001e4", "1"),
            ("1.e5", "100000"),
            (".5", "0.5"),
            ("5.", "5"),
            ("+5", "5"),
            ("007.100", "7.100"),
            ("  -93853  ", "-93853"),
            ("\t12.5\n", "12.5"),
            ("1_000", "1000"),
            ("1_000.000_1", "1000.0001"),
            ("1e1_0", "10000000000"),
            ("0e-5", "0.00000"),
            (
                "12345678901234567890.12345678901234567890",
                "12345678901234567890.12345678901234567890",
            ),
            ("NaN", "NaN"),
            ("nan", "NaN"),
            (" NAN ", "NaN"),
            ("Infinity", "Infinity"),
            ("+infinity", "Infinity"),
            ("-Infinity", "-Infinity"),
            ("inf", "Infinity"),
            ("-INF", "-Infinity"),
        ];
        for (input, printed) in cases {
            assert_eq!(num(input).to_string(), printed, "{input:?}");
        }
    }

    #[test]
    fn numeric_rejects_what_postgres_rejects() {
        // From PostgreSQL's numeric regression tests (num_input_test) and
        // numeric_in's grammar.
        for input in [
            "",
            "    ",
            "   1234   %",
            "xyz",
            "- 1234",
            "5 . 0",
            "5. 0   ",
            " N aN ",
            "+NaN",
            "-NaN",
            "+ infinity",
            ".",
            "1e",
            "1e+",
            "e5",
            "1.2.3",
            "--1",
            "_123",
            "123_",
            "12__34",
            "1_234_.5",
            "1._5",
            "1.5_",
            "1.5e_1",
            "1e5_",
            "0x1F",
            "infinityx",
            "1 2",
        ] {
            assert_eq!(
                input.parse::<Numeric>(),
                Err(NumericError::InvalidSyntax {
                    input: input.to_owned()
                }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn numeric_limits_match_postgres() {
        let max_int = format!("1e{}", NUMERIC_MAX_INT_DIGITS - 1);
        assert_eq!(
            num(&max_int).to_string().len(),
            NUMERIC_MAX_INT_DIGITS as usize
        );
        let too_big = format!("1e{}", NUMERIC_MAX_INT_DIGITS);
        assert_eq!(too_big.parse::<Numeric>(), Err(NumericError::Overflow));
        let smallest = format!("1e-{NUMERIC_MAX_SCALE}");
        assert_eq!(num(&smallest).scale(), Some(NUMERIC_MAX_SCALE));
        let too_small = format!("1e-{}", NUMERIC_MAX_SCALE + 1);
        assert_eq!(too_small.parse::<Numeric>(), Err(NumericError::Overflow));
        assert_eq!("0e-20000".parse::<Numeric>(), Err(NumericError::Overflow));
        assert_eq!(num("0e1000000").to_string(), "0");
        assert_eq!(
            "1e9999999999".parse::<Numeric>(),
            Err(NumericError::Overflow)
        );
    }

    #[test]
    fn numeric_compares_as_postgres() {
        assert_eq!(num("1.5"), num("1.50"));
        assert!(!num("1.5").is_identical(&num("1.50")));
        assert_eq!(num("0"), num("-0.000"));
        assert_eq!(num("NaN"), num("nan"));
        let ascending = [
            "-Infinity",
            "-1e20",
            "-100",
            "-99.99",
            "-1.5",
            "-0.001",
            "0",
            "0.001",
            "0.01",
            "0.0101",
            "0.1",
            "1",
            "1.5",
            "1.51",
            "9.999",
            "10",
            "100",
            "1e20",
            "Infinity",
            "NaN",
        ];
        for pair in ascending.windows(2) {
            assert!(num(pair[0]) < num(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn numeric_trim_scale_and_from_int() {
        assert_eq!(num("1.500").trim_scale().to_string(), "1.5");
        assert_eq!(num("100").trim_scale().to_string(), "100");
        assert_eq!(num("0.00").trim_scale().to_string(), "0");
        assert_eq!(num("-2.000").trim_scale().to_string(), "-2");
        assert_eq!(Numeric::from(0i64).to_string(), "0");
        assert_eq!(Numeric::from(i64::MIN).to_string(), "-9223372036854775808");
        assert_eq!(Numeric::from(-7i16).to_string(), "-7");
    }

    #[test]
    fn floats_order_as_postgres() {
        let cmp = |a: f64, b: f64| Datum::Float8(a).cmp_same_type(&Datum::Float8(b));
        assert_eq!(cmp(-0.0, 0.0), Some(Ordering::Equal));
        assert_eq!(cmp(f64::NAN, f64::NAN), Some(Ordering::Equal));
        assert_eq!(cmp(f64::NAN, f64::INFINITY), Some(Ordering::Greater));
        assert_eq!(cmp(f64::NEG_INFINITY, -1.0), Some(Ordering::Less));
        assert_eq!(
            Datum::Float4(1.5).cmp_same_type(&Datum::Float8(1.5)),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn cmp_same_type_handles_nulls_widths_and_mismatches() {
        use Datum::*;
        assert_eq!(Null.cmp_same_type(&Null), Some(Ordering::Equal));
        assert_eq!(Null.cmp_same_type(&Int4(1)), Some(Ordering::Greater));
        assert_eq!(Int4(1).cmp_same_type(&Null), Some(Ordering::Less));
        assert_eq!(Int2(5).cmp_same_type(&Int8(5)), Some(Ordering::Equal));
        assert_eq!(Int4(-1).cmp_same_type(&Int8(5)), Some(Ordering::Less));
        assert_eq!(Int4(1).cmp_same_type(&Text("1".into())), None);
        assert_eq!(Json("{}".into()).cmp_same_type(&Json("{}".into())), None);
        assert_eq!(Null.cmp_same_type(&Jsonb(vec![])), None);
        assert_eq!(
            Text("B".into()).cmp_same_type(&Text("a".into())),
            Some(Ordering::Less)
        );
        let month = Interval {
            months: 1,
            days: 0,
            micros: 0,
        };
        let thirty_days = Interval {
            months: 0,
            days: 30,
            micros: 0,
        };
        assert_eq!(month.cmp_same_type(&thirty_days), Some(Ordering::Equal));
    }

    #[test]
    fn rows_keep_scale_and_float_bits() {
        let row = vec![
            Datum::Numeric(num("1.50")),
            Datum::Numeric(num("0.000")),
            Datum::Float8(-0.0),
            Datum::Float4(f32::from_bits(0x7FC0_1234)),
            Datum::Null,
        ];
        let back = row_roundtrip(&row);
        assert_eq!(back.len(), row.len());
        for (a, b) in row.iter().zip(&back) {
            assert!(a.is_identical(b), "{a:?} != {b:?}");
        }
    }

    #[test]
    fn shorter_rows_decode_for_added_columns() {
        let mut old = Vec::new();
        encode_row(&[Datum::Int4(1), Datum::Text("a".into())], &mut old).expect("encodes");
        let mut row = decode_row(&old).expect("decodes");
        // The caller pads with the defaults of columns added since.
        row.resize(3, Datum::Null);
        assert_eq!(
            row,
            vec![Datum::Int4(1), Datum::Text("a".into()), Datum::Null]
        );
    }

    #[test]
    fn row_encoding_is_compact() {
        let mut bytes = Vec::new();
        encode_row(
            &[Datum::Int8(1), Datum::Null, Datum::Bool(true)],
            &mut bytes,
        )
        .expect("encodes");
        assert_eq!(
            bytes,
            [
                ROW_FORMAT_V1,
                3,
                row_tag::INT8,
                2,
                row_tag::NULL,
                row_tag::TRUE
            ]
        );
    }

    #[test]
    fn row_limits_are_enforced() {
        let mut out = vec![0xAA];
        let wide = vec![Datum::Null; MAX_COLUMNS + 1];
        assert!(matches!(
            encode_row(&wide, &mut out),
            Err(EncodeError::TooManyColumns { .. })
        ));
        assert_eq!(out, [0xAA]);
        assert_eq!(
            row_roundtrip(&vec![Datum::Null; MAX_COLUMNS]).len(),
            MAX_COLUMNS
        );
    }

    #[test]
    fn corrupt_rows_are_errors() {
        let cases: &[(&[u8], &str)] = &[
            (&[], "empty"),
            (&[2, 0], "version"),
            (&[1], "no count"),
            (&[1, 1], "missing datum"),
            (&[1, 0, 0], "trailing"),
            (&[1, 1, 99], "unknown tag"),
            (&[1, 0x80, 0x00], "overlong count"),
            (&[1, 0xC1, 0x0C], "too many columns"),
            (
                &[1, 1, row_tag::INT2, 0x80, 0x80, 0x04],
                "int2 out of range",
            ),
            (
                &[
                    1,
                    1,
                    row_tag::INT8,
                    0xFF,
                    0xFF,
                    0xFF,
                    0xFF,
                    0xFF,
                    0xFF,
                    0xFF,
                    0xFF,
                    0xFF,
                    0x02,
                ],
                "varint overflow",
            ),
            (&[1, 1, row_tag::TEXT, 2, 0xC3, 0x28], "bad UTF-8"),
            (&[1, 1, row_tag::TEXT, 5, b'a'], "short text"),
            (
                &[1, 1, row_tag::BYTEA, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
                "huge length",
            ),
            (&[1, 1, row_tag::NUMERIC, 1, 0], "negative zero"),
            (&[1, 1, row_tag::NUMERIC, 2, 0, 0x00], "leading zero digit"),
            (&[1, 1, row_tag::NUMERIC, 2, 0, 0x1F], "nonzero padding"),
            (&[1, 1, row_tag::NUMERIC, 4, 0, 0x1A], "digit above 9"),
            (
                &[1, 1, row_tag::NUMERIC, 2, 0x80, 0x80, 0x01],
                "scale too large",
            ),
            (&[1, 1, row_tag::UUID, 1, 2, 3], "short uuid"),
        ];
        for (bytes, why) in cases {
            assert!(decode_row(bytes).is_err(), "{why}: {bytes:?} decoded");
        }
    }

    #[test]
    fn records_roundtrip_and_nest_boundedly() {
        let inner = Datum::Record(vec![Datum::Int2(1), Datum::Null].into_boxed_slice());
        let row = vec![
            Datum::Record(vec![inner, Datum::Text("a,b".into())].into_boxed_slice()),
            Datum::Record(Vec::new().into_boxed_slice()),
        ];
        let back = row_roundtrip(&row);
        assert!(row.iter().zip(&back).all(|(a, b)| a.is_identical(b)));
        // Records nested past the bound are refused, not recursed into.
        let mut bytes = vec![ROW_FORMAT_V1, 1];
        for _ in 0..=RECORD_DEPTH_MAX {
            bytes.extend_from_slice(&[row_tag::RECORD, 1]);
        }
        bytes.push(row_tag::NULL);
        assert!(decode_row(&bytes).is_err());
        // A count past the bytes left is corrupt.
        assert!(decode_row(&[ROW_FORMAT_V1, 1, row_tag::RECORD, 5, 0]).is_err());
    }

    #[test]
    fn records_order_as_record_cmp() {
        let r = |a: Datum, b: Datum| Datum::Record(vec![a, b].into_boxed_slice());
        // NULL fields equal each other and sort after values.
        assert_eq!(
            r(Datum::Int4(1), Datum::Null).cmp_same_type(&r(Datum::Int4(1), Datum::Null)),
            Some(Ordering::Equal)
        );
        assert_eq!(
            r(Datum::Int4(1), Datum::Int4(9)).cmp_same_type(&r(Datum::Int4(1), Datum::Null)),
            Some(Ordering::Less)
        );
        assert_eq!(
            r(Datum::Int4(2), Datum::Int4(0)).cmp_same_type(&r(Datum::Int8(1), Datum::Int4(9))),
            Some(Ordering::Greater)
        );
    }

    proptest! {
        #[test]
        fn a_slot_read_in_place_is_what_decoding_the_row_finds(
            row in prop::collection::vec(
                prop::sample::select(DataType::ALL.to_vec()).prop_flat_map(arb_nullable),
                0..8,
            ),
            slot in 0usize..9,
        ) {
            let mut bytes = Vec::new();
            encode_row(&row, &mut bytes).expect("row encodes");
            let decoded = decode_row(&bytes).expect("row decodes");
            let expected = match decoded.get(slot) {
                Some(Datum::Null) => StoredSlot::Null,
                Some(Datum::Jsonb(doc)) => StoredSlot::Jsonb(doc),
                _ => StoredSlot::Other,
            };
            prop_assert_eq!(stored_slot(&bytes, slot), expected);
            // Cut short, the row reads as unknown, never as another value.
            if let Some(cut) = bytes.len().checked_sub(1) {
                let got = stored_slot(&bytes[..cut], slot);
                prop_assert!(
                    got == expected || got == StoredSlot::Other,
                    "{:?} from a truncated row", got
                );
            }
        }

        #[test]
        fn rows_roundtrip(row in prop::collection::vec(
            prop::sample::select(DataType::ALL.to_vec()).prop_flat_map(arb_nullable),
            0..8,
        )) {
            let back = row_roundtrip(&row);
            prop_assert_eq!(back.len(), row.len());
            for (a, b) in row.iter().zip(&back) {
                prop_assert!(a.is_identical(b), "{:?} != {:?}", a, b);
            }
        }

        #[test]
        fn masked_rows_decode_the_kept_values(
            row in prop::collection::vec(
                prop::sample::select(DataType::ALL.to_vec()).prop_flat_map(arb_nullable),
                0..8,
            ),
            keep in prop::collection::vec(any::<bool>(), 0..10),
        ) {
            let mut bytes = Vec::new();
            encode_row(&row, &mut bytes).expect("row encodes");
            let reads: Vec<SlotRead> = keep
                .iter()
                .map(|&k| if k { SlotRead::Whole } else { SlotRead::Skip })
                .collect();
            let back = decode_row_masked(&bytes, Some(&reads)).expect("row decodes");
            prop_assert_eq!(back.len(), row.len());
            for (i, (a, b)) in row.iter().zip(&back).enumerate() {
                if keep.get(i) == Some(&false) {
                    prop_assert!(b.is_null(), "skipped value {} read as {:?}", i, b);
                } else {
                    prop_assert!(a.is_identical(b), "{:?} != {:?}", a, b);
                }
            }
            // Skipping never reads past the row: a cut row is still an error.
            for len in 0..bytes.len() {
                prop_assert!(decode_row_masked(&bytes[..len], Some(&reads)).is_err());
            }
        }

        #[test]
        fn truncated_rows_are_errors(row in prop::collection::vec(
            prop::sample::select(DataType::ALL.to_vec()).prop_flat_map(arb_nullable),
            0..6,
        )) {
            let mut bytes = Vec::new();
            encode_row(&row, &mut bytes).expect("row encodes");
            for len in 0..bytes.len() {
                prop_assert!(decode_row(&bytes[..len]).is_err(), "prefix of {} bytes decoded", len);
            }
        }

        #[test]
        fn random_bytes_never_panic(
            mut bytes in prop::collection::vec(any::<u8>(), 0..48),
            deep in any::<bool>(),
        ) {
            if deep {
                // Get past the header to exercise the datum decoders.
                bytes.splice(0..0, [ROW_FORMAT_V1, 3]);
            }
            let _ = decode_row(&bytes);
        }

        #[test]
        fn mutated_rows_never_panic(
            row in prop::collection::vec(
                prop::sample::select(DataType::ALL.to_vec()).prop_flat_map(arb_nullable),
                1..6,
            ),
            at in any::<prop::sample::Index>(),
            xor in 1u8..=255,
        ) {
            let mut bytes = Vec::new();
            encode_row(&row, &mut bytes).expect("row encodes");
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            if let Ok(decoded) = decode_row(&bytes) {
                // A lossless, canonical encoding: different bytes, different row.
                let same = decoded.len() == row.len()
                    && decoded.iter().zip(&row).all(|(a, b)| a.is_identical(b));
                prop_assert!(!same);
            }
        }

        #[test]
        fn numeric_display_parses_back(n in arb_numeric()) {
            let back = num(&n.to_string());
            prop_assert!(back.is_identical(&n), "{:?} != {:?}", back, n);
        }

        #[test]
        fn numeric_order_matches_rationals(
            a in -100_000i64..100_000, scale_a in 0u32..6,
            b in -100_000i64..100_000, scale_b in 0u32..6,
        ) {
            // a / 10^scale_a against b / 10^scale_b, cross-multiplied exactly.
            let to_numeric = |v: i64, scale: u32| {
                let sign = if v < 0 { "-" } else { "" };
                num(&format!("{sign}{}e-{scale}", v.unsigned_abs()))
            };
            let expected =
                (i128::from(a) * 10i128.pow(scale_b)).cmp(&(i128::from(b) * 10i128.pow(scale_a)));
            let (na, nb) = (to_numeric(a, scale_a), to_numeric(b, scale_b));
            prop_assert_eq!(na.cmp(&nb), expected, "{} vs {}", na, nb);
            prop_assert_eq!(na == nb, expected == Ordering::Equal);
            if na == nb {
                use std::hash::BuildHasher;
                let hasher = std::collections::hash_map::RandomState::new();
                prop_assert_eq!(hasher.hash_one(&na), hasher.hash_one(&nb));
            }
        }
    }
}

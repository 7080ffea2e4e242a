//! PostgreSQL's text forms of every [`DataType`]: [`parse`] is each type's
//! input function (`int4in`, `timestamptz_in`, …) and [`format()`] its output
//! function, both as PostgreSQL 15 behaves.
//!
//! # Why this module exists
//!
//! Clients see values only as text (or binary, elsewhere): query results,
//! `COPY`, string literals, bind parameters in text format. DESIGN §3 says
//! clients see PostgreSQL exactly, so every accepted spelling, every printed
//! digit and every error — SQLSTATE and message — follow PostgreSQL's own
//! input and output functions, ported rather than approximated. The cases in
//! `compute/tests/data/types/cases.tsv` were run through a real PostgreSQL by
//! `regen.sh`; `compute/tests/types_pg.rs` checks this module against the
//! recorded results.
//!
//! # Session settings assumed
//!
//! Dates, times and intervals print in the session's `DateStyle` and
//! `IntervalStyle` ([`TextContext::date_style`],
//! [`TextContext::interval_style`]), and ambiguous numeric dates read in
//! `DateStyle`'s order. Otherwise output is what PostgreSQL prints with its
//! defaults: `extra_float_digits` 1 (shortest round-trip floats),
//! `bytea_output` `hex`.
//!
//! # Time zones
//!
//! [`TextContext::time_zone`] is the session `TimeZone`: a fixed offset from
//! UTC or a zone of the IANA database, read from the system's
//! `/usr/share/zoneinfo` as PostgreSQL's Debian build reads it
//! ([`TimeZone::parse_setting`] reads a `SET TimeZone` value). Input accepts
//! numeric offsets (`Z`, `+02`, `-08:00`, `+0530`), the names of UTC (`UTC`,
//! `GMT`, `Etc/UTC`, …), zone names (`America/New_York`, any case), the
//! fixed-offset abbreviations of North America (`EST`, `PDT`, …) and POSIX
//! `TZ` strings without daylight-saving rules (`UTC+5`). A local time in a
//! zone with daylight-saving rules takes its offset as PostgreSQL's
//! `DetermineTimeZoneOffset` does ([`TimeZone::utc_offset_secs_for_local`]).
//! POSIX strings with rules that name no database file (`ABC5DEF`) are not
//! supported.
//!
//! # Arrays and catalog types
//!
//! Arrays follow `array_in` and `array_out` (`pgtext/array.rs`), one
//! dimension only. `"char"` reads and prints as PostgreSQL 15's `charin` and
//! `charout` (`\ooo` for bytes with the high bit set). A `reg*` type reads
//! here only as a number or `-`; names need the catalog
//! ([`TypeError::NeedsCatalog`]), and [`format()`] prints a `reg*` value's
//! number, since the datum does not say which `reg*` type it is: the SQL
//! layer prints those through `sql::pg_catalog::reg_out`.
//!
//! # The clock and jsonb
//!
//! This module reads no clock: `now`, `today`, `tomorrow` and `yesterday`
//! use [`TextContext::now`], the transaction's start, and are errors without
//! it. jsonb's binary form belongs to another module, which plugs its input
//! and output functions in through [`JsonbHooks`]; json is checked here with
//! a port of PostgreSQL's JSON lexer and kept as written.

mod array;
mod datetime;
mod json;

use std::fmt;

use crate::datum::{DataType, Datum, Numeric, NumericError, NAME_MAX_BYTES};

pub(crate) use array::{join as join_array, split as split_array, ArrayLiteral};

pub(crate) use json::kind as json_kind;

pub(crate) use datetime::{
    date2j, date_to_timestamp, date_to_timestamptz, j2date, timestamp_to_date,
    timestamp_to_timestamptz, timestamptz_to_date, timestamptz_to_timestamp,
};

/// The SQLSTATE codes this module and [`crate::cast`] raise, as PostgreSQL
/// spells them (`src/backend/utils/errcodes.txt`).
pub mod sqlstate {
    /// `invalid_text_representation`: text that is not a value of the type.
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    /// `numeric_value_out_of_range`.
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    /// `datetime_field_overflow`, which PostgreSQL also raises as
    /// `datetime_value_out_of_range`.
    pub const DATETIME_FIELD_OVERFLOW: &str = "22008";
    /// `invalid_datetime_format`: date/time text that does not parse.
    pub const INVALID_DATETIME_FORMAT: &str = "22007";
    /// `interval_field_overflow`.
    pub const INTERVAL_FIELD_OVERFLOW: &str = "22015";
    /// `invalid_time_zone_displacement_value`.
    pub const INVALID_TIME_ZONE_DISPLACEMENT_VALUE: &str = "22009";
    /// `string_data_right_truncation`: too long for `varchar(n)`.
    pub const STRING_DATA_RIGHT_TRUNCATION: &str = "22001";
    /// `invalid_parameter_value`.
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    /// `cannot_coerce`: no cast between the types.
    pub const CANNOT_COERCE: &str = "42846";
    /// `feature_not_supported`.
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    /// `array_subscript_error`.
    pub const ARRAY_SUBSCRIPT_ERROR: &str = "2202E";
    /// `program_limit_exceeded`.
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
}

/// An error from reading, printing or casting a value, with PostgreSQL's
/// message text. [`TypeError::sqlstate`] gives the code, [`TypeError::detail`]
/// and [`TypeError::hint`] the secondary fields PostgreSQL sends with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TypeError {
    /// Text that is not a value of the type (22P02).
    #[error("invalid input syntax for type {type_name}: \"{input}\"")]
    InvalidSyntax {
        /// The type as PostgreSQL names it in this message (`integer`).
        type_name: &'static str,
        /// The text as given.
        input: String,
    },
    /// Date/time text that does not parse (22007).
    #[error("invalid input syntax for type {type_name}: \"{input}\"")]
    InvalidDatetimeSyntax {
        /// `date`, `timestamp`, `timestamp with time zone` or `interval`.
        type_name: &'static str,
        /// The text as given.
        input: String,
    },
    /// A backslash in escape-format bytea not followed by `\` or three
    /// octal digits (22P02).
    #[error("invalid input syntax for type bytea")]
    InvalidByteaEscape,
    /// Text that is not JSON (22P02); the detail says why.
    #[error("invalid input syntax for type json")]
    InvalidJson {
        /// PostgreSQL's DETAIL, such as `Token "abc" is invalid.`
        detail: String,
    },
    /// A character that is not a hex digit in hex-format bytea (22023).
    #[error("invalid hexadecimal digit: \"{digit}\"")]
    InvalidHexDigit {
        /// The offending character.
        digit: char,
    },
    /// Hex-format bytea with an odd number of digits (22023).
    #[error("invalid hexadecimal data: odd number of digits")]
    OddHexDigits,
    /// Integer text whose value does not fit the type (22003).
    #[error("value \"{input}\" is out of range for type {type_name}")]
    IntegerInputOutOfRange {
        /// `smallint`, `integer` or `bigint`.
        type_name: &'static str,
        /// The text as given.
        input: String,
    },
    /// Float text whose value overflows, or underflows to zero (22003).
    #[error("\"{input}\" is out of range for type {type_name}")]
    FloatInputOutOfRange {
        /// `real` or `double precision`.
        type_name: &'static str,
        /// The text as given.
        input: String,
    },
    /// A numeric beyond numeric's limits (22003).
    #[error("value overflows numeric format")]
    NumericOverflow,
    /// A cast result that does not fit an integer type (22003).
    #[error("{type_name} out of range")]
    IntegerOutOfRange {
        /// `smallint`, `integer` or `bigint`.
        type_name: &'static str,
    },
    /// A `double precision` to `real` cast that overflows (22003).
    #[error("value out of range: overflow")]
    FloatOverflow,
    /// A `double precision` to `real` cast that underflows to zero (22003).
    #[error("value out of range: underflow")]
    FloatUnderflow,
    /// A numeric NaN or infinity cast to an integer type (0A000).
    #[error("cannot convert {what} to {type_name}")]
    NumericSpecialToInteger {
        /// `NaN` or `infinity`.
        what: &'static str,
        /// `smallint`, `integer` or `bigint`.
        type_name: &'static str,
    },
    /// A date/time field out of range, such as month 13 (22008).
    #[error("date/time field value out of range: \"{input}\"")]
    DatetimeFieldOverflow {
        /// The text as given.
        input: String,
        /// Whether PostgreSQL hints that the field order (`DateStyle`)
        /// may be wrong.
        datestyle_hint: bool,
    },
    /// An interval field out of range (22015).
    #[error("interval field value out of range: \"{input}\"")]
    IntervalFieldOverflow {
        /// The text as given.
        input: String,
    },
    /// A numeric time zone offset beyond ±15:59:59 (22009).
    #[error("time zone displacement out of range: \"{input}\"")]
    TimeZoneDisplacementOutOfRange {
        /// The text as given.
        input: String,
    },
    /// A time zone name neither the abbreviations nor the time zone database
    /// know (22023).
    #[error("time zone \"{name}\" not recognized")]
    TimeZoneNotRecognized {
        /// The name as PostgreSQL reports it: lowercased in date/time input,
        /// as written in `AT TIME ZONE`.
        name: String,
    },
    /// A `SET TimeZone` value that names no zone this module supports
    /// (22023).
    #[error("invalid value for parameter \"TimeZone\": \"{value}\"")]
    InvalidTimeZoneSetting {
        /// The value as given.
        value: String,
    },
    /// Date text outside PostgreSQL's date range (22008).
    #[error("date out of range: \"{input}\"")]
    DateInputOutOfRange {
        /// The text as given.
        input: String,
    },
    /// Timestamp text outside PostgreSQL's timestamp range (22008).
    #[error("timestamp out of range: \"{input}\"")]
    TimestampInputOutOfRange {
        /// The text as given.
        input: String,
    },
    /// A cast result outside the date range (22008).
    #[error("date out of range")]
    DateOutOfRange,
    /// A cast result outside the timestamp range (22008).
    #[error("timestamp out of range")]
    TimestampOutOfRange,
    /// A date too late to be a timestamp (22008).
    #[error("date out of range for timestamp")]
    DateOutOfRangeForTimestamp,
    /// An interval whose months overflow (22008).
    #[error("interval out of range")]
    IntervalOutOfRange,
    /// A string longer than `varchar(n)` allows (22001).
    #[error("value too long for type {type_name}")]
    StringTooLong {
        /// The type, as `character varying(3)`.
        type_name: String,
    },
    /// No cast exists between the types (42846).
    #[error("cannot cast type {from} to {to}")]
    CannotCast {
        /// The source type as PostgreSQL's `format_type` names it.
        from: String,
        /// The target type, likewise.
        to: String,
    },
    /// A jsonb value of the wrong kind cast to a scalar type (22023).
    #[error("cannot cast jsonb {kind} to type {type_name}")]
    JsonbScalarCast {
        /// `null`, `string`, `numeric`, `boolean`, `array` or `object`.
        kind: &'static str,
        /// The target type.
        type_name: String,
    },
    /// An error from jsonb's input or output, raised by the jsonb module
    /// through [`JsonbHooks`] with the fields PostgreSQL would send.
    #[error("{message}")]
    Jsonb {
        /// The SQLSTATE, such as `22P02`.
        sqlstate: &'static str,
        /// The primary message.
        message: String,
        /// The DETAIL, if any.
        detail: Option<String>,
        /// The HINT, if any.
        hint: Option<&'static str>,
        /// The CONTEXT, if any (`JSON data, line 1: ...`).
        context: Option<String>,
    },
    /// `now`, `today`, `tomorrow` or `yesterday` without
    /// [`TextContext::now`] (0A000): the caller has no transaction clock.
    #[error("\"{input}\" needs the current time, which this context does not provide")]
    NoCurrentTime {
        /// The text as given.
        input: String,
    },
    /// Input of an anonymous record (`'(1,2)'::record`), which PostgreSQL
    /// does not implement either (0A000).
    #[error("input of anonymous composite types is not implemented")]
    AnonymousRecordInput,
    /// Something this engine does not implement yet (0A000).
    #[error("{what} is not supported yet")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
    },
    /// An array literal that does not parse (22P02); the detail says why,
    /// as PostgreSQL's does.
    #[error("malformed array literal: \"{input}\"")]
    MalformedArray {
        /// The text as given.
        input: String,
        /// PostgreSQL's DETAIL, such as `Unexpected end of input.`
        detail: String,
    },
    /// An array literal nested deeper than PostgreSQL's `MAXDIM` (54000).
    #[error("number of array dimensions ({count}) exceeds the maximum allowed ({max})")]
    ArrayDimensionsExceeded {
        /// The dimensions found so far.
        count: usize,
        /// `MAXDIM`.
        max: usize,
    },
    /// `[ub:lb]` with the bounds reversed (2202E).
    #[error("upper bound cannot be less than lower bound")]
    ArrayBoundsReversed,
    /// An array whose lower bound plus length overflows an `i32` (54000).
    #[error("array lower bound is too large: {lower_bound}")]
    ArrayLowerBoundTooLarge {
        /// The lower bound.
        lower_bound: i32,
    },
    /// An array with more elements than PostgreSQL's `MaxArraySize`
    /// (54000).
    #[error("array size exceeds the maximum allowed ({max})")]
    ArrayTooLarge {
        /// [`crate::datum::ARRAY_MAX_ITEMS`].
        max: usize,
    },
    /// An `int2vector` or `oidvector` with more than `FUNC_MAX_ARGS`
    /// elements (22023).
    #[error("{type_name} has too many elements")]
    VectorTooLong {
        /// `int2vector` or `oidvector`.
        type_name: &'static str,
    },
    /// A `reg*` value given by name, which only the catalog can resolve
    /// (0A000): the SQL layer reads it with `sql::pg_catalog::reg_in`.
    /// Numeric OIDs and `-` need no catalog and are read here.
    #[error("{type_name} input \"{input}\" needs the catalog")]
    NeedsCatalog {
        /// `regclass`, `regtype`, …
        type_name: &'static str,
        /// The text as given.
        input: String,
    },
}

impl TypeError {
    /// Returns the PostgreSQL SQLSTATE for this error, such as `"22P02"`.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            TypeError::InvalidSyntax { .. }
            | TypeError::InvalidByteaEscape
            | TypeError::InvalidJson { .. } => sqlstate::INVALID_TEXT_REPRESENTATION,
            TypeError::InvalidDatetimeSyntax { .. } => sqlstate::INVALID_DATETIME_FORMAT,
            TypeError::InvalidHexDigit { .. }
            | TypeError::OddHexDigits
            | TypeError::TimeZoneNotRecognized { .. }
            | TypeError::InvalidTimeZoneSetting { .. }
            | TypeError::JsonbScalarCast { .. } => sqlstate::INVALID_PARAMETER_VALUE,
            TypeError::MalformedArray { .. } => sqlstate::INVALID_TEXT_REPRESENTATION,
            TypeError::VectorTooLong { .. } => sqlstate::INVALID_PARAMETER_VALUE,
            TypeError::ArrayDimensionsExceeded { .. }
            | TypeError::ArrayLowerBoundTooLarge { .. }
            | TypeError::ArrayTooLarge { .. } => sqlstate::PROGRAM_LIMIT_EXCEEDED,
            TypeError::ArrayBoundsReversed => sqlstate::ARRAY_SUBSCRIPT_ERROR,
            TypeError::NeedsCatalog { .. } => sqlstate::FEATURE_NOT_SUPPORTED,
            TypeError::IntegerInputOutOfRange { .. }
            | TypeError::FloatInputOutOfRange { .. }
            | TypeError::NumericOverflow
            | TypeError::IntegerOutOfRange { .. }
            | TypeError::FloatOverflow
            | TypeError::FloatUnderflow => sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            TypeError::NumericSpecialToInteger { .. }
            | TypeError::NoCurrentTime { .. }
            | TypeError::Unsupported { .. }
            | TypeError::AnonymousRecordInput => sqlstate::FEATURE_NOT_SUPPORTED,
            TypeError::DatetimeFieldOverflow { .. }
            | TypeError::DateInputOutOfRange { .. }
            | TypeError::TimestampInputOutOfRange { .. }
            | TypeError::DateOutOfRange
            | TypeError::TimestampOutOfRange
            | TypeError::DateOutOfRangeForTimestamp
            | TypeError::IntervalOutOfRange => sqlstate::DATETIME_FIELD_OVERFLOW,
            TypeError::IntervalFieldOverflow { .. } => sqlstate::INTERVAL_FIELD_OVERFLOW,
            TypeError::TimeZoneDisplacementOutOfRange { .. } => {
                sqlstate::INVALID_TIME_ZONE_DISPLACEMENT_VALUE
            }
            TypeError::StringTooLong { .. } => sqlstate::STRING_DATA_RIGHT_TRUNCATION,
            TypeError::CannotCast { .. } => sqlstate::CANNOT_COERCE,
            TypeError::Jsonb { sqlstate, .. } => sqlstate,
        }
    }

    /// Returns PostgreSQL's DETAIL for this error, if it sends one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            TypeError::InvalidJson { detail } | TypeError::MalformedArray { detail, .. } => {
                Some(detail)
            }
            TypeError::Jsonb { detail, .. } => detail.as_deref(),
            _ => None,
        }
    }

    /// Returns PostgreSQL's CONTEXT for this error, if it sends one.
    pub fn context(&self) -> Option<&str> {
        match self {
            TypeError::Jsonb { context, .. } => context.as_deref(),
            _ => None,
        }
    }

    /// Returns PostgreSQL's HINT for this error, if it sends one.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            TypeError::DatetimeFieldOverflow {
                datestyle_hint: true,
                ..
            } => Some("Perhaps you need a different \"datestyle\" setting."),
            TypeError::Jsonb { hint, .. } => *hint,
            _ => None,
        }
    }
}

/// A session time zone: a fixed offset from UTC, or a zone of the IANA
/// database (`Europe/Berlin`) whose offset follows its daylight-saving
/// rules.
///
/// The value is `Copy` so that [`TextContext`] stays cheap to pass around:
/// a named zone is loaded once per process and shared (see [`named_zone`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeZone(Zone);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Zone {
    /// A fixed offset and the abbreviation PostgreSQL gives it.
    Fixed {
        /// Seconds east of Greenwich (ISO 8601 sign: `+05:30` is 19800).
        utc_offset_secs: i32,
        abbrev: Abbrev,
    },
    /// A zone read from the time zone database.
    Named(&'static NamedZone),
}

/// The abbreviation of a fixed-offset zone, clipped to PostgreSQL's
/// `MAXTZLEN` (10 bytes) as its output clips it: `UTC`, `+05` for
/// `SET TIME ZONE 5`, the name part of a POSIX string (`<+03>-3` is `+03`),
/// or nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Abbrev {
    bytes: [u8; ABBREV_LEN_MAX],
    len: u8,
}

/// PostgreSQL's `MAXTZLEN`: output prints at most this much of a zone
/// abbreviation.
const ABBREV_LEN_MAX: usize = 10;

impl Abbrev {
    const UTC: Abbrev = Abbrev {
        bytes: *b"UTC\0\0\0\0\0\0\0",
        len: 3,
    };

    /// The first [`ABBREV_LEN_MAX`] bytes of `text`, cut back to a character
    /// boundary.
    fn new(text: &str) -> Abbrev {
        let mut len = text.len().min(ABBREV_LEN_MAX);
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0; ABBREV_LEN_MAX];
        bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
        Abbrev {
            bytes,
            len: u8::try_from(len).expect("at most ABBREV_LEN_MAX"),
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)])
            .expect("built from a str at a char boundary")
    }
}

impl Default for TimeZone {
    fn default() -> TimeZone {
        TimeZone::UTC
    }
}

/// A zone of the IANA database, by its canonical name.
#[derive(Debug)]
pub struct NamedZone {
    /// The name as the database spells it (`America/New_York`).
    name: String,
    tz: jiff::tz::TimeZone,
}

impl PartialEq for NamedZone {
    fn eq(&self, other: &NamedZone) -> bool {
        self.name == other.name
    }
}

impl Eq for NamedZone {}

impl std::hash::Hash for NamedZone {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// Looks up an IANA zone name, any case, in the system's time zone database
/// (`/usr/share/zoneinfo`, or `TZDIR`), as PostgreSQL's `pg_tzset` does.
///
/// Each zone is loaded once and kept for the life of the process, so that
/// [`TimeZone`] can be `Copy`: the table holds at most one entry per file of
/// the database (a few hundred), whatever names sessions set.
fn named_zone(name: &str) -> Option<&'static NamedZone> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static ZONES: OnceLock<Mutex<HashMap<String, &'static NamedZone>>> = OnceLock::new();
    // Names are paths in the database; refuse anything that could step out
    // of it before asking.
    if name.is_empty()
        || name.starts_with('/')
        || name
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return None;
    }
    let key = name.to_ascii_lowercase();
    let zones = ZONES.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(zone) = zones.lock().expect("zone table lock").get(&key) {
        return Some(*zone);
    }
    let tz = jiff::tz::db().get(name).ok()?;
    let canonical = tz.iana_name()?.to_owned();
    let mut zones = zones.lock().expect("zone table lock");
    let zone = *zones.entry(key).or_insert_with(|| {
        Box::leak(Box::new(NamedZone {
            name: canonical,
            tz,
        }))
    });
    Some(zone)
}

/// Largest fixed offset a session zone may have: PostgreSQL builds fixed
/// zones as POSIX `TZ` strings, whose hours go up to 167 (a week less one
/// hour).
const TIME_ZONE_OFFSET_SECS_MAX: i32 = 168 * 3600 - 1;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const UNIX_TO_POSTGRES_EPOCH_US: i64 = 946_684_800_000_000;

/// A PostgreSQL timestamp (microseconds since 2000-01-01) as a jiff
/// instant, clamped to jiff's range (years -9999 to 9999): beyond it the
/// zone's rules at the edge of that range apply.
fn jiff_timestamp(ts: i64) -> jiff::Timestamp {
    let unix_us = ts.saturating_add(UNIX_TO_POSTGRES_EPOCH_US);
    let min = jiff::Timestamp::MIN.as_microsecond();
    let max = jiff::Timestamp::MAX.as_microsecond();
    jiff::Timestamp::from_microsecond(unix_us.clamp(min, max)).expect("clamped to jiff's range")
}

impl TimeZone {
    /// UTC.
    pub const UTC: TimeZone = TimeZone(Zone::Fixed {
        utc_offset_secs: 0,
        abbrev: Abbrev::UTC,
    });

    /// Returns the zone `secs` seconds east of UTC, abbreviated as its
    /// offset (`+05:30`) as PostgreSQL's `pg_tzset_offset` names it, or
    /// `None` if the offset is 168 hours or more.
    pub fn from_utc_offset_secs(secs: i32) -> Option<TimeZone> {
        let mut name = String::new();
        datetime::push_utc_offset(&mut name, secs);
        TimeZone::fixed(secs, Abbrev::new(&name))
    }

    fn fixed(utc_offset_secs: i32, abbrev: Abbrev) -> Option<TimeZone> {
        (utc_offset_secs.unsigned_abs() <= TIME_ZONE_OFFSET_SECS_MAX.unsigned_abs()).then_some(
            TimeZone(Zone::Fixed {
                utc_offset_secs,
                abbrev,
            }),
        )
    }

    /// The zone a POSIX `TZ` string without daylight-saving rules names
    /// (`UTC+5`, `<+03>-3`), abbreviated by its name part.
    fn posix(text: &str) -> Option<TimeZone> {
        let (name, east) = datetime::posix_zone(text.as_bytes())?;
        TimeZone::fixed(east, Abbrev::new(name))
    }

    /// Returns the IANA zone named `name` (any case), if the time zone
    /// database has it.
    pub fn named(name: &str) -> Option<TimeZone> {
        named_zone(name).map(|z| TimeZone(Zone::Named(z)))
    }

    /// The database's spelling of a named zone's name; `None` for a fixed
    /// offset.
    pub fn name(self) -> Option<&'static str> {
        match self.0 {
            Zone::Fixed { .. } => None,
            Zone::Named(z) => Some(&z.name),
        }
    }

    /// Returns the offset in seconds east of UTC at the instant `ts`
    /// (microseconds since 2000-01-01 00:00:00 UTC).
    pub fn utc_offset_secs_at(self, ts: i64) -> i32 {
        match self.0 {
            Zone::Fixed {
                utc_offset_secs, ..
            } => utc_offset_secs,
            Zone::Named(z) => z.tz.to_offset(jiff_timestamp(ts)).seconds(),
        }
    }

    /// Returns the offset in seconds east of UTC that applies to the local
    /// time `local` (microseconds since 2000-01-01 00:00:00 local), as
    /// PostgreSQL's `DetermineTimeZoneOffset` picks it: a time skipped by
    /// a jump forward takes the offset in force before the jump, and a time
    /// repeated by a jump back takes the offset in force after it.
    pub fn utc_offset_secs_for_local(self, local: i64) -> i32 {
        match self.0 {
            Zone::Fixed {
                utc_offset_secs, ..
            } => utc_offset_secs,
            Zone::Named(z) => {
                let civil = jiff::tz::Offset::UTC.to_datetime(jiff_timestamp(local));
                match z.tz.to_ambiguous_timestamp(civil).offset() {
                    jiff::tz::AmbiguousOffset::Unambiguous { offset } => offset.seconds(),
                    jiff::tz::AmbiguousOffset::Gap { before, .. } => before.seconds(),
                    jiff::tz::AmbiguousOffset::Fold { after, .. } => after.seconds(),
                }
            }
        }
    }

    /// The zone's abbreviation at the instant `ts` (`CEST`, `EST`), as
    /// `DateStyle` SQL and Postgres and `to_char`'s `TZ` print it.
    pub fn abbreviation_at(self, ts: i64) -> String {
        match self.0 {
            Zone::Fixed { abbrev, .. } => abbrev.as_str().to_owned(),
            Zone::Named(z) => {
                z.tz.to_offset_info(jiff_timestamp(ts))
                    .abbreviation()
                    .to_owned()
            }
        }
    }

    /// Reads the zone of `AT TIME ZONE` and `timezone(zone, …)` as
    /// PostgreSQL 15's `timestamp_zone` does: a zone abbreviation (`EST`,
    /// `UTC`) first, then a full zone name or POSIX `TZ` string (whose sign
    /// is west positive: `'+05'` is five hours behind UTC).
    pub fn parse_zone_argument(name: &str) -> Result<TimeZone, TypeError> {
        datetime::zone_argument(name).ok_or_else(|| TypeError::TimeZoneNotRecognized {
            name: name.to_owned(),
        })
    }

    /// The value `SHOW TimeZone` prints after `SET TimeZone = setting`, as
    /// PostgreSQL names the zone: a database zone as the database spells
    /// it (`utc` is `UTC`), a number of hours as the POSIX string PostgreSQL
    /// builds for it (`5` is `<+05>-05`), anything else as written.
    pub fn setting_name(setting: &str) -> Result<String, TypeError> {
        let zone = TimeZone::parse_setting(setting)?;
        let trimmed = setting.trim_matches(is_c_space);
        if float::strtod_whole(trimmed).is_some() {
            let east = zone.utc_offset_secs_at(0);
            let mut offset = String::new();
            datetime::push_utc_offset(&mut offset, east);
            let digits = &offset[1..];
            let west_sign = if east >= 0 { '-' } else { '+' };
            return Ok(format!("<{offset}>{west_sign}{digits}"));
        }
        Ok(match TimeZone::named(setting).and_then(TimeZone::name) {
            Some(name) => name.to_owned(),
            None => setting.to_owned(),
        })
    }

    /// Reads a `SET TimeZone` value as PostgreSQL's `check_timezone` does:
    ///
    /// * a number of hours, ISO sign (east positive): `5.5`, `-8`;
    /// * `UTC`, `GMT` and their aliases (`Etc/UTC`, `Zulu`, …), any case;
    /// * a zone of the IANA database, any case (`europe/berlin`);
    /// * a POSIX `TZ` offset, whose sign is west positive:
    ///   `UTC+5` and `+05:30` are five (and a half) hours *behind* UTC.
    ///
    /// POSIX strings with daylight-saving rules that name no database file
    /// (`ABC5DEF`) are not supported and give
    /// [`TypeError::InvalidTimeZoneSetting`], as unknown names do.
    pub fn parse_setting(setting: &str) -> Result<TimeZone, TypeError> {
        let not_recognized = || TypeError::InvalidTimeZoneSetting {
            value: setting.to_owned(),
        };
        let trimmed = setting.trim_matches(is_c_space);
        // A plain number of hours: PostgreSQL uses strtod on the whole string.
        if let Some(hours) = float::strtod_whole(trimmed) {
            if !hours.is_finite() {
                return Err(not_recognized());
            }
            // C's (int) conversion truncates toward zero.
            let secs = (hours * 3600.0).trunc();
            if secs.abs() > f64::from(TIME_ZONE_OFFSET_SECS_MAX) {
                return Err(not_recognized());
            }
            return TimeZone::from_utc_offset_secs(secs as i32).ok_or_else(not_recognized);
        }
        if datetime::is_utc_zone_name(&trimmed.to_ascii_lowercase()) {
            return Ok(TimeZone::UTC);
        }
        // Names are file names: PostgreSQL does not trim them.
        if let Some(zone) = TimeZone::named(setting) {
            return Ok(zone);
        }
        TimeZone::posix(trimmed).ok_or_else(not_recognized)
    }
}

/// jsonb's input and output functions, supplied by the module that owns
/// jsonb's binary form. Its errors travel as [`TypeError::Jsonb`], or as
/// [`TypeError::InvalidJson`] for syntax errors.
#[derive(Clone, Copy)]
pub struct JsonbHooks {
    /// `jsonb_in`: reads JSON text into the binary form, with PostgreSQL's
    /// errors.
    pub parse: fn(&str) -> Result<Vec<u8>, TypeError>,
    /// `jsonb_out`: prints the binary form as PostgreSQL prints jsonb.
    pub format: fn(&[u8]) -> String,
}

impl fmt::Debug for JsonbHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsonbHooks")
    }
}

/// How dates and times print: the first half of the `DateStyle` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DateOutput {
    /// `2024-02-01 10:11:12+01`.
    #[default]
    Iso,
    /// `02/01/2024 10:11:12 CET` (`01/02/2024` with DMY order).
    Sql,
    /// `Thu Feb 01 10:11:12 2024 CET` (`Thu 01 Feb …` with DMY order).
    Postgres,
    /// `01.02.2024 10:11:12 CET`.
    German,
}

/// The order of day, month and year in dates that do not say: the second
/// half of the `DateStyle` setting. It decides how `01/02/03` reads, and
/// how `DateStyle` SQL and Postgres print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DateOrder {
    #[default]
    Mdy,
    Dmy,
    Ymd,
}

/// The `DateStyle` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DateStyle {
    pub output: DateOutput,
    pub order: DateOrder,
}

/// The `IntervalStyle` setting: how intervals print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IntervalStyle {
    /// `1 year 2 mons 3 days 04:05:06`.
    #[default]
    Postgres,
    /// `@ 1 year 2 mons 3 days 4 hours 5 mins 6 secs`.
    PostgresVerbose,
    /// `+1-2 +3 +4:05:06`.
    SqlStandard,
    /// `P1Y2M3DT4H5M6S`.
    Iso8601,
}

/// The session state that text input and output depend on.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextContext {
    /// The session `TimeZone`: timestamptz values print in it, and
    /// timestamps without an explicit zone are read in it.
    pub time_zone: TimeZone,
    /// The session `DateStyle`.
    pub date_style: DateStyle,
    /// The session `IntervalStyle`.
    pub interval_style: IntervalStyle,
    /// The transaction's start as a timestamptz (microseconds since
    /// 2000-01-01 00:00:00 UTC), for `now`, `today`, `tomorrow` and
    /// `yesterday`; `None` makes those inputs errors.
    pub now: Option<i64>,
    /// jsonb's input and output functions; without them jsonb input is
    /// an error and jsonb prints its raw bytes in hex.
    pub jsonb: Option<JsonbHooks>,
}

impl TextContext {
    /// Returns a context with the session zone `time_zone`, no clock and no
    /// jsonb hooks.
    pub fn with_time_zone(time_zone: TimeZone) -> TextContext {
        TextContext {
            time_zone,
            ..TextContext::default()
        }
    }
}

/// Reads `text` as a value of `ty`, as PostgreSQL's input function for the
/// type does (with the column's type modifier, so `varchar(n)` rejects longer
/// text as `INSERT` and `COPY` do).
pub fn parse(ty: &DataType, text: &str, ctx: &TextContext) -> Result<Datum, TypeError> {
    Ok(match *ty {
        DataType::Bool => Datum::Bool(parse_bool(text)?),
        DataType::Int2 => Datum::Int2(
            i16::try_from(parse_integer(
                text,
                i64::from(i16::MIN),
                i64::from(i16::MAX),
                "smallint",
            )?)
            .expect("range checked"),
        ),
        DataType::Int4 => Datum::Int4(
            i32::try_from(parse_integer(
                text,
                i64::from(i32::MIN),
                i64::from(i32::MAX),
                "integer",
            )?)
            .expect("range checked"),
        ),
        DataType::Int8 => Datum::Int8(parse_integer(text, i64::MIN, i64::MAX, "bigint")?),
        DataType::Float4 => Datum::Float4(float::parse_float4(text)?),
        DataType::Float8 => Datum::Float8(float::parse_float8(text)?),
        DataType::Numeric => Datum::Numeric(parse_numeric(text)?),
        DataType::Text => Datum::Text(text.to_owned()),
        DataType::Varchar { max_chars } => {
            Datum::Text(coerce_varchar(text, max_chars, false)?.to_owned())
        }
        DataType::Bpchar { max_chars } => Datum::Text(coerce_bpchar(text, max_chars, false)?),
        DataType::Bytea => Datum::Bytea(parse_bytea(text)?),
        DataType::Date => Datum::Date(datetime::parse_date(text, ctx)?),
        DataType::Timestamp => Datum::Timestamp(datetime::parse_timestamp(text, ctx)?),
        DataType::TimestampTz => Datum::TimestampTz(datetime::parse_timestamptz(text, ctx)?),
        DataType::Interval => {
            let (months, days, micros) = datetime::parse_interval(text, ctx.interval_style)?;
            Datum::Interval {
                months,
                days,
                micros,
            }
        }
        DataType::Uuid => Datum::Uuid(parse_uuid(text)?),
        DataType::Json => {
            json::validate(text)?;
            Datum::Json(text.to_owned())
        }
        DataType::Jsonb => {
            let hooks = ctx.jsonb.ok_or(TypeError::Unsupported {
                what: "jsonb input without the jsonb module's hooks",
            })?;
            Datum::Jsonb((hooks.parse)(text)?)
        }
        DataType::Oid => Datum::Oid(parse_oid(text)?),
        DataType::Name => Datum::Text(truncate_name(text).to_owned()),
        // `void_in` accepts anything; the one value prints empty.
        DataType::Void => Datum::Text(String::new()),
        DataType::Char => Datum::Text(char_from_text(text)),
        DataType::RegClass
        | DataType::RegType
        | DataType::RegProc
        | DataType::RegProcedure
        | DataType::RegNamespace
        | DataType::RegRole => {
            Datum::Oid(
                parse_reg_oid(*ty, text)?.ok_or_else(|| TypeError::NeedsCatalog {
                    type_name: ty.name(),
                    input: text.to_owned(),
                })?,
            )
        }
        DataType::Int2Vector | DataType::OidVector => {
            Datum::Array(Box::new(array::parse_vector(*ty, text)?))
        }
        DataType::Array(_) => Datum::Array(Box::new(array::parse_array(*ty, text, ctx)?)),
        // As PostgreSQL's `record_in` for an anonymous record type.
        DataType::Record(_) => return Err(TypeError::AnonymousRecordInput),
    })
}

/// Prints a value as PostgreSQL's output function for its type does (see the
/// module documentation for the settings assumed). NULL has no text form and
/// prints as the empty string; callers send NULL out of band.
///
/// Date and time values outside PostgreSQL's range, which [`parse`] and the
/// casts never produce, print on the extended proleptic Gregorian calendar
/// rather than fail.
pub fn format(d: &Datum, ctx: &TextContext) -> String {
    match d {
        Datum::Null => String::new(),
        Datum::Bool(b) => (if *b { "t" } else { "f" }).to_owned(),
        Datum::Int2(v) => v.to_string(),
        Datum::Int4(v) => v.to_string(),
        Datum::Int8(v) => v.to_string(),
        Datum::Float4(v) => float::format_float4(*v),
        Datum::Float8(v) => float::format_float8(*v),
        Datum::Numeric(n) => n.to_string(),
        Datum::Text(s) | Datum::Json(s) => s.clone(),
        Datum::Bytea(b) => format_bytea(b),
        Datum::Date(v) => datetime::format_date(*v, ctx.date_style),
        Datum::Timestamp(v) => datetime::format_timestamp(*v, ctx.date_style),
        Datum::TimestampTz(v) => datetime::format_timestamptz(*v, ctx.time_zone, ctx.date_style),
        Datum::Interval {
            months,
            days,
            micros,
        } => datetime::format_interval(*months, *days, *micros, ctx.interval_style),
        Datum::Uuid(u) => format_uuid(u),
        Datum::Jsonb(b) => match ctx.jsonb {
            Some(hooks) => (hooks.format)(b),
            None => format_bytea(b),
        },
        Datum::Oid(v) => v.to_string(),
        Datum::Array(a) => match a.data_type() {
            DataType::Int2Vector | DataType::OidVector => array::format_vector(a, ctx),
            _ => array::format_array(a, ctx),
        },
        Datum::Record(fields) => {
            let texts: Vec<Option<String>> = fields
                .iter()
                .map(|d| (!d.is_null()).then(|| format(d, ctx)))
                .collect();
            crate::datum::record::format_record(texts.iter().map(Option::as_deref))
        }
    }
}

/// Reads an `oid` as PostgreSQL 15's `oidin`: whitespace, an optional sign,
/// decimal digits, whitespace. Negative values down to -2³¹ wrap around,
/// as C's `strtoul` makes them: `-1` is 4294967295.
pub(crate) fn parse_oid(text: &str) -> Result<u32, TypeError> {
    oid_prefix(text, false).map(|(oid, _)| oid)
}

/// `oidin_subr`: reads an oid from the start of `text`. In a vector the
/// number may be followed by anything (the caller looks), and the number
/// of bytes read is returned; alone, only whitespace may follow.
pub(crate) fn oid_prefix(text: &str, in_vector: bool) -> Result<(u32, usize), TypeError> {
    let syntax = || TypeError::InvalidSyntax {
        type_name: "oid",
        input: text.to_owned(),
    };
    let out_of_range = || TypeError::IntegerInputOutOfRange {
        type_name: "oid",
        input: text.to_owned(),
    };
    let bytes = text.as_bytes();
    let mut i = bytes.iter().take_while(|&&b| is_c_space_byte(b)).count();
    let negative = match bytes.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(syntax());
    }
    let mut value: u64 = 0;
    for &b in &bytes[i..i + digits] {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(out_of_range)?;
    }
    i += digits;
    if negative {
        value = value.wrapping_neg();
    }
    if !in_vector {
        i += bytes[i..]
            .iter()
            .take_while(|&&b| is_c_space_byte(b))
            .count();
        if i != bytes.len() {
            return Err(syntax());
        }
    }
    // The value must be a u32, or an i32 that `strtoul` wrapped.
    let oid = value as u32;
    if value != u64::from(oid) && value != i64::from(oid as i32) as u64 {
        return Err(out_of_range());
    }
    Ok((oid, i))
}

/// Reads a `reg*` value without the catalog, as `regclassin` and its
/// siblings do before any lookup: `-` is 0 and a string of digits is an
/// OID. Returns `None` for a name, which needs the catalog.
pub(crate) fn parse_reg_oid(_ty: DataType, text: &str) -> Result<Option<u32>, TypeError> {
    if text == "-" {
        return Ok(Some(0));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return parse_oid(text).map(Some);
    }
    Ok(None)
}

/// Cuts `text` to at most [`NAME_MAX_BYTES`] bytes at a character boundary,
/// as `namein` and the text-to-name cast do.
pub(crate) fn truncate_name(text: &str) -> &str {
    if text.len() <= NAME_MAX_BYTES {
        return text;
    }
    let mut end = NAME_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Reads a `"char"` as PostgreSQL 15's `charin` and `text_char`: `\ooo`
/// (backslash and three octal digits) is that byte, anything else its first
/// byte, the empty string the zero byte. Returns the value's canonical text
/// (see [`char_text`]).
pub(crate) fn char_from_text(text: &str) -> String {
    char_text(char_byte(text))
}

/// The byte a `"char"` text form holds (see [`char_from_text`]).
pub(crate) fn char_byte(text: &str) -> u8 {
    match text.as_bytes() {
        [b'\\', a @ b'0'..=b'7', b @ b'0'..=b'7', c @ b'0'..=b'7'] => ((a - b'0') << 6)
            .wrapping_add((b - b'0') << 3)
            .wrapping_add(c - b'0'),
        [first, ..] => *first,
        [] => 0,
    }
}

/// Prints a `"char"` byte as `charout`: nothing for 0, the character for
/// ASCII, `\ooo` in octal for a byte with the high bit set.
pub(crate) fn char_text(byte: u8) -> String {
    match byte {
        0 => String::new(),
        1..=0x7F => char::from(byte).to_string(),
        _ => format!("\\{byte:03o}"),
    }
}

/// C's `isspace` in the C locale, which PostgreSQL's input functions use.
pub(crate) fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

fn is_c_space_byte(b: u8) -> bool {
    is_c_space(char::from(b))
}

/// Reads a boolean as `boolin`: surrounding whitespace, then any prefix of
/// `true`, `false`, `yes` or `no`, or `on`, `off` (at least two letters),
/// `1`, `0`, in any case.
fn parse_bool(text: &str) -> Result<bool, TypeError> {
    let word = text.trim_matches(is_c_space).to_ascii_lowercase();
    let prefix_of = |full: &str, min_len: usize| word.len() >= min_len && full.starts_with(&word);
    let value = match word.as_bytes().first() {
        Some(b't') if prefix_of("true", 1) => Some(true),
        Some(b'f') if prefix_of("false", 1) => Some(false),
        Some(b'y') if prefix_of("yes", 1) => Some(true),
        Some(b'n') if prefix_of("no", 1) => Some(false),
        Some(b'o') if prefix_of("on", 2) => Some(true),
        Some(b'o') if prefix_of("off", 2) => Some(false),
        Some(b'1') if word.len() == 1 => Some(true),
        Some(b'0') if word.len() == 1 => Some(false),
        _ => None,
    };
    value.ok_or_else(|| TypeError::InvalidSyntax {
        type_name: "boolean",
        input: text.to_owned(),
    })
}

/// Reads an integer as PostgreSQL 15's `pg_strtoint16/32/64`: whitespace, an
/// optional sign, decimal digits, whitespace. Overflow is reported as soon as
/// the digits exceed the range, before any trailing junk is looked at.
fn parse_integer(
    text: &str,
    min: i64,
    max: i64,
    type_name: &'static str,
) -> Result<i64, TypeError> {
    let syntax = || TypeError::InvalidSyntax {
        type_name,
        input: text.to_owned(),
    };
    let bytes = text.as_bytes();
    let mut i = bytes.iter().take_while(|&&b| is_c_space_byte(b)).count();
    let negative = match bytes.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    if !bytes.get(i).is_some_and(u8::is_ascii_digit) {
        return Err(syntax());
    }
    // Accumulate toward the sign's side so the most negative value fits.
    let mut value: i64 = 0;
    while let Some(&b) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
        let digit = i64::from(b - b'0');
        value = value
            .checked_mul(10)
            .and_then(|v| {
                if negative {
                    v.checked_sub(digit)
                } else {
                    v.checked_add(digit)
                }
            })
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| TypeError::IntegerInputOutOfRange {
                type_name,
                input: text.to_owned(),
            })?;
        i += 1;
    }
    i += bytes[i..]
        .iter()
        .take_while(|&&b| is_c_space_byte(b))
        .count();
    if i != bytes.len() {
        return Err(syntax());
    }
    Ok(value)
}

/// Reads a numeric as PostgreSQL 15's `numeric_in`. [`Numeric`]'s parser
/// follows PostgreSQL 16, so two differences are handled here: PostgreSQL 15
/// rejects `_` digit separators, and it reads the exponent with `strtol`,
/// which skips whitespace before it (`1e 5`, `1e -2`).
pub(crate) fn parse_numeric(text: &str) -> Result<Numeric, TypeError> {
    let syntax = || TypeError::InvalidSyntax {
        type_name: "numeric",
        input: text.to_owned(),
    };
    if text.contains('_') {
        return Err(syntax());
    }
    let normalized = strip_space_after_exponent(text);
    normalized
        .as_deref()
        .unwrap_or(text)
        .parse::<Numeric>()
        .map_err(|e| match e {
            NumericError::Overflow => TypeError::NumericOverflow,
            _ => syntax(),
        })
}

/// Returns `text` with the whitespace between a numeric's `e` and its
/// exponent removed, or `None` if there is none to remove.
fn strip_space_after_exponent(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    // Only an `e` right after the mantissa's digits or point starts an
    // exponent; anything else is left for the parser to reject.
    let e = bytes
        .iter()
        .position(|&b| b == b'e' || b == b'E')
        .filter(|&e| e > 0 && (bytes[e - 1].is_ascii_digit() || bytes[e - 1] == b'.'))?;
    let spaces = bytes[e + 1..]
        .iter()
        .take_while(|&&b| is_c_space_byte(b))
        .count();
    if spaces == 0 {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..=e]);
    out.push_str(&text[e + 1 + spaces..]);
    Some(out)
}

/// Applies `character(n)`'s length rule (`bpchar()`, `bpcharin`): like
/// `varchar(n)`'s ([`coerce_varchar`]), and shorter text is padded with
/// spaces to `max_chars` characters. Without a length the text is kept as
/// it is.
pub(crate) fn coerce_bpchar(
    text: &str,
    max_chars: Option<u32>,
    explicit: bool,
) -> Result<String, TypeError> {
    let Some(max) = max_chars else {
        return Ok(text.to_owned());
    };
    let cut = match text.char_indices().nth(max as usize) {
        Some((cut, _)) => {
            if !explicit && text[cut..].bytes().any(|b| b != b' ') {
                return Err(TypeError::StringTooLong {
                    type_name: DataType::Bpchar {
                        max_chars: Some(max),
                    }
                    .format_type(),
                });
            }
            &text[..cut]
        }
        None => text,
    };
    let pad = (max as usize).saturating_sub(cut.chars().count());
    let mut out = String::with_capacity(cut.len() + pad);
    out.push_str(cut);
    out.extend(std::iter::repeat_n(' ', pad));
    Ok(out)
}

/// The text of a `character(n)` value: without its trailing spaces, as
/// PostgreSQL's `bpchar` to `text` cast (`rtrim1`) and comparisons read it.
pub fn bpchar_text(padded: &str) -> &str {
    padded.trim_end_matches(' ')
}

/// Applies `varchar(n)`'s length rule: text longer than `max_chars`
/// characters is an error unless the excess is spaces, which are cut, or the
/// cast is explicit, which cuts anything (`varchar()` in PostgreSQL).
pub(crate) fn coerce_varchar(
    text: &str,
    max_chars: Option<u32>,
    explicit: bool,
) -> Result<&str, TypeError> {
    let Some(max) = max_chars else {
        return Ok(text);
    };
    let Some((cut, _)) = text.char_indices().nth(max as usize) else {
        return Ok(text);
    };
    if !explicit && text[cut..].bytes().any(|b| b != b' ') {
        return Err(TypeError::StringTooLong {
            type_name: DataType::Varchar {
                max_chars: Some(max),
            }
            .format_type(),
        });
    }
    Ok(&text[..cut])
}

/// Reads a bytea as `byteain`: `\x` then hex digit pairs (whitespace allowed
/// between pairs), or else the escape format, where `\\` is a backslash and
/// `\ooo` an octal byte.
fn parse_bytea(text: &str) -> Result<Vec<u8>, TypeError> {
    let bytes = text.as_bytes();
    if let Some(hex) = bytes.strip_prefix(b"\\x") {
        let mut out = Vec::with_capacity(hex.len() / 2);
        let mut i = 0;
        let invalid_at = |i: usize| TypeError::InvalidHexDigit {
            digit: text[2 + i..]
                .chars()
                .next()
                .expect("index is inside the text"),
        };
        while i < hex.len() {
            if matches!(hex[i], b' ' | b'\n' | b'\t' | b'\r') {
                i += 1;
                continue;
            }
            let high = hex_value(hex[i]).ok_or_else(|| invalid_at(i))?;
            let Some(&low) = hex.get(i + 1) else {
                return Err(TypeError::OddHexDigits);
            };
            let low = hex_value(low).ok_or_else(|| invalid_at(i + 1))?;
            out.push(high << 4 | low);
            i += 2;
        }
        return Ok(out);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else if let [b'\\', a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] = bytes[i..] {
            out.push((a - b'0') << 6 | (b - b'0') << 3 | (c - b'0'));
            i += 4;
        } else {
            return Err(TypeError::InvalidByteaEscape);
        }
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

/// Prints a bytea as `byteaout` with `bytea_output = hex`: `\x0102`.
fn format_bytea(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 + 2 * bytes.len());
    out.push_str("\\x");
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0F)]));
    }
    out
}

/// Reads a uuid as `uuid_in`: 32 hex digits in either case, a `-` allowed
/// after any group of four, optionally inside `{}`; no whitespace.
fn parse_uuid(text: &str) -> Result<[u8; 16], TypeError> {
    let syntax = || TypeError::InvalidSyntax {
        type_name: "uuid",
        input: text.to_owned(),
    };
    let mut rest = text.as_bytes();
    let braces = rest.first() == Some(&b'{');
    if braces {
        rest = &rest[1..];
    }
    let mut uuid = [0u8; 16];
    for (i, byte) in uuid.iter_mut().enumerate() {
        let [high, low, ..] = *rest else {
            return Err(syntax());
        };
        *byte = hex_value(high).ok_or_else(syntax)? << 4 | hex_value(low).ok_or_else(syntax)?;
        rest = &rest[2..];
        if i % 2 == 1 && i < 15 && rest.first() == Some(&b'-') {
            rest = &rest[1..];
        }
    }
    if braces {
        rest = rest.strip_prefix(b"}").ok_or_else(syntax)?;
    }
    if !rest.is_empty() {
        return Err(syntax());
    }
    Ok(uuid)
}

/// Prints a uuid as `uuid_out`: lowercase, hyphenated 8-4-4-4-12.
fn format_uuid(uuid: &[u8; 16]) -> String {
    let mut out = String::with_capacity(36);
    for (i, b) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Float input and output: `float4in`/`float8in` (C's `strtod`) and the
/// shortest round-trip output of `float4out`/`float8out`.
pub(crate) mod float {
    use super::{is_c_space_byte, TypeError};

    /// Prints as `float8out` with `extra_float_digits` 1: the shortest digits
    /// that read back exactly, fixed-point for decimal exponents -4 to 14 and
    /// `1e+100` style otherwise, `NaN`, `Infinity`, `-Infinity`, `-0`.
    pub(crate) fn format_float8(v: f64) -> String {
        if v.is_nan() {
            return "NaN".to_owned();
        }
        if v.is_infinite() {
            return (if v > 0.0 { "Infinity" } else { "-Infinity" }).to_owned();
        }
        let bits = v.to_bits();
        let exp_bits = ((bits >> 52) & 0x7FF) as i32;
        let fraction = bits & ((1 << 52) - 1);
        let binary = if exp_bits == 0 {
            Binary {
                mantissa: fraction,
                exponent: -1074,
                narrow_below: false,
            }
        } else {
            Binary {
                mantissa: fraction | 1 << 52,
                exponent: exp_bits - 1075,
                narrow_below: fraction == 0 && exp_bits > 1,
            }
        };
        let abs = v.abs();
        let (digits, exponent) = shortest(
            binary,
            &format!("{abs:e}"),
            17,
            |n| format!("{abs:.*e}", n - 1),
            |text| text.parse::<f64>().is_ok_and(|p| p == abs),
        );
        // DBL_DIG: PostgreSQL switches to exponents where printf's %g would.
        layout(v.is_sign_negative(), &digits, exponent, 15)
    }

    /// Prints as `float4out` with `extra_float_digits` 1; fixed-point for
    /// decimal exponents -4 to 5 (`FLT_DIG` is 6).
    pub(crate) fn format_float4(v: f32) -> String {
        if v.is_nan() {
            return "NaN".to_owned();
        }
        if v.is_infinite() {
            return (if v > 0.0 { "Infinity" } else { "-Infinity" }).to_owned();
        }
        let bits = v.to_bits();
        let exp_bits = ((bits >> 23) & 0xFF) as i32;
        let fraction = u64::from(bits & ((1 << 23) - 1));
        let binary = if exp_bits == 0 {
            Binary {
                mantissa: fraction,
                exponent: -149,
                narrow_below: false,
            }
        } else {
            Binary {
                mantissa: fraction | 1 << 23,
                exponent: exp_bits - 150,
                narrow_below: fraction == 0 && exp_bits > 1,
            }
        };
        let abs = v.abs();
        let (digits, exponent) = shortest(
            binary,
            &format!("{abs:e}"),
            9,
            |n| format!("{abs:.*e}", n - 1),
            |text| text.parse::<f32>().is_ok_and(|p| p == abs),
        );
        layout(v.is_sign_negative(), &digits, exponent, 6)
    }

    /// A finite float's magnitude as `mantissa × 2^exponent`, and whether
    /// the gap to the next smaller float is half the usual (a power of two).
    #[derive(Clone, Copy)]
    struct Binary {
        mantissa: u64,
        exponent: i32,
        narrow_below: bool,
    }

    /// Returns whether `digits × 10^exponent == odd × 2^power`, exactly.
    fn equals_dyadic(digits: u64, exponent: i32, odd: u128, power: i32) -> bool {
        if digits == 0 {
            return false;
        }
        let twos = digits.trailing_zeros() as i32;
        let digits_odd = u128::from(digits >> twos);
        let pow5 = |n: i32| 5u128.checked_pow(n.unsigned_abs());
        if exponent >= 0 {
            // digits_odd × 5^e × 2^(twos + e)
            twos + exponent == power
                && pow5(exponent)
                    .and_then(|p| p.checked_mul(digits_odd))
                    .is_some_and(|lhs| lhs == odd)
        } else {
            // digits_odd × 2^twos == odd × 5^-e × 2^(power - e)
            twos == power - exponent
                && pow5(exponent)
                    .and_then(|p| p.checked_mul(odd))
                    .is_some_and(|rhs| rhs == digits_odd)
        }
    }

    /// The shortest decimal digits (and decimal exponent of the first
    /// digit) that read back as the float, as PostgreSQL's Ryu-based
    /// `d2s`/`f2s` choose them: the candidate must lie strictly inside the
    /// float's rounding interval (PostgreSQL builds Ryu without
    /// `STRICTLY_SHORTEST`, so a decimal exactly halfway to the neighboring
    /// float is not accepted), and among the shortest the correctly rounded
    /// one wins, ties to even.
    ///
    /// Rust's own shortest output accepts those halfway points and breaks
    /// ties upward, so it is only the starting length here: `rounded(n)`
    /// (Rust's exact `{:.(n-1)e}`, ties to even) gives the n-digit
    /// candidate, and `reads_back` checks a decimal parses to the float.
    fn shortest(
        binary: Binary,
        rust_shortest: &str,
        digits_max: usize,
        rounded: impl Fn(usize) -> String,
        reads_back: impl Fn(&str) -> bool,
    ) -> (String, i32) {
        let Binary {
            mantissa,
            exponent,
            narrow_below,
        } = binary;
        if mantissa == 0 {
            return ("0".to_owned(), 0);
        }
        // The rounding interval's ends, as odd × 2^power.
        let m = u128::from(mantissa);
        let upper = (2 * m + 1, exponent - 1);
        let lower = if narrow_below {
            (4 * m - 1, exponent - 2)
        } else {
            (2 * m - 1, exponent - 1)
        };
        let valid = |digits: u64, exp10: i32| {
            reads_back(&format!("{digits}e{exp10}"))
                && !equals_dyadic(digits, exp10, upper.0, upper.1)
                && !equals_dyadic(digits, exp10, lower.0, lower.1)
        };
        let split = |scientific: &str| -> (u64, i32, usize) {
            let (mantissa, exp) = scientific
                .split_once('e')
                .expect("LowerExp output has an exponent");
            let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
            let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
            let n = digits.len();
            let value = digits.parse().expect("at most 17 digits fit u64");
            // The decimal exponent of the last digit.
            (value, exp - (n as i32 - 1), n)
        };
        let (_, _, start) = split(rust_shortest);
        for n in start..=digits_max {
            let (digits, exp10, _) = split(&rounded(n));
            let candidates = [Some(digits), digits.checked_sub(1), digits.checked_add(1)];
            if let Some(found) = candidates.into_iter().flatten().find(|&d| valid(d, exp10)) {
                let text = found.to_string();
                let trimmed = text.trim_end_matches('0');
                return (trimmed.to_owned(), exp10 + text.len() as i32 - 1);
            }
        }
        // Unreachable in practice: digits_max digits always lie strictly
        // inside; fall back to the correctly rounded longest form.
        let (digits, exp10, _) = split(&rounded(digits_max));
        let text = digits.to_string();
        (
            text.trim_end_matches('0').to_owned(),
            exp10 + text.len() as i32 - 1,
        )
    }

    /// Lays out significant `digits` whose first digit has decimal exponent
    /// `exponent`, as PostgreSQL's `d2s`/`f2s` do: fixed-point for exponents
    /// from -4 to `fixed_exponent_max - 1`, else `d.ddde+XX`.
    fn layout(negative: bool, digits: &str, exponent: i32, fixed_exponent_max: i32) -> String {
        let mut out = String::with_capacity(digits.len() + 8);
        if negative {
            out.push('-');
        }
        if (-4..fixed_exponent_max).contains(&exponent) {
            if exponent < 0 {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
                out.push_str(digits);
            } else {
                let int_len = exponent as usize + 1;
                if digits.len() <= int_len {
                    out.push_str(digits);
                    out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                } else {
                    out.push_str(&digits[..int_len]);
                    out.push('.');
                    out.push_str(&digits[int_len..]);
                }
            }
        } else {
            out.push_str(&digits[..1]);
            if digits.len() > 1 {
                out.push('.');
                out.push_str(&digits[1..]);
            }
            out.push('e');
            out.push(if exponent < 0 { '-' } else { '+' });
            out.push_str(&format!("{:02}", exponent.unsigned_abs()));
        }
        out
    }

    /// What `strtod` recognized at the start of a string.
    struct Scanned {
        /// Bytes consumed.
        len: usize,
        /// The value, or NaN/infinity.
        kind: ScannedKind,
    }

    enum ScannedKind {
        Nan,
        Infinity {
            negative: bool,
        },
        /// A decimal literal in Rust's float syntax, and whether any mantissa
        /// digit is nonzero (so that a zero result is an underflow).
        Decimal {
            literal: String,
            nonzero: bool,
        },
        /// A hex literal: `±mantissa × 2^exponent`.
        Hex {
            negative: bool,
            mantissa: u128,
            exponent: i64,
        },
    }

    /// Most hex digits kept from a hex float's mantissa; later digits only
    /// scale it. 32 digits fill the u128 and far exceed f64's 53 bits.
    const HEX_MANTISSA_DIGITS_MAX: usize = 32;

    /// Scans the longest prefix glibc's `strtod` accepts: an optional sign,
    /// then `nan` (with an optional `(chars)`), `inf`/`infinity`, a hex float
    /// `0x1.8p3`, or a decimal `1.5e-3`; any case.
    fn scan(bytes: &[u8]) -> Option<Scanned> {
        let mut i = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let rest = &bytes[i..];
        let starts_with =
            |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
        if starts_with(b"nan") {
            let mut len = i + 3;
            if bytes.get(len) == Some(&b'(') {
                let inner = bytes[len + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                if bytes.get(len + 1 + inner) == Some(&b')') {
                    len += inner + 2;
                }
            }
            return Some(Scanned {
                len,
                kind: ScannedKind::Nan,
            });
        }
        if starts_with(b"inf") {
            let len = i + if starts_with(b"infinity") { 8 } else { 3 };
            return Some(Scanned {
                len,
                kind: ScannedKind::Infinity { negative },
            });
        }
        if starts_with(b"0x") {
            if let Some(hex) = scan_hex(&rest[2..], negative) {
                return Some(Scanned {
                    len: i + 2 + hex.len,
                    kind: hex.kind,
                });
            }
        }
        let digits_at = |j: usize| bytes[j..].iter().take_while(|b| b.is_ascii_digit()).count();
        let int_digits = digits_at(i);
        let mut j = i + int_digits;
        let mut frac_digits = 0;
        if bytes.get(j) == Some(&b'.') {
            frac_digits = digits_at(j + 1);
            if int_digits + frac_digits > 0 {
                j += 1 + frac_digits;
            }
        }
        if int_digits + frac_digits == 0 {
            return None;
        }
        let nonzero = bytes[i..j].iter().any(|&b| (b'1'..=b'9').contains(&b));
        if matches!(bytes.get(j), Some(b'e' | b'E')) {
            let mut k = j + 1;
            if matches!(bytes.get(k), Some(b'+' | b'-')) {
                k += 1;
            }
            let exponent_digits = digits_at(k);
            if exponent_digits > 0 {
                j = k + exponent_digits;
            }
        }
        let literal = String::from_utf8(bytes[..j].to_vec()).expect("scanned bytes are ASCII");
        Some(Scanned {
            len: j,
            kind: ScannedKind::Decimal { literal, nonzero },
        })
    }

    /// Scans a hex float after its `0x`: hex digits with an optional point,
    /// at least one digit, then an optional binary exponent `p±d`.
    fn scan_hex(bytes: &[u8], negative: bool) -> Option<Scanned> {
        let mut mantissa: u128 = 0;
        let mut exponent: i64 = 0;
        let mut digits = 0usize;
        let mut kept = 0usize;
        let mut seen_point = false;
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b == b'.' && !seen_point {
                seen_point = true;
            } else if let Some(d) = super::hex_value(b) {
                digits += 1;
                if mantissa == 0 && d == 0 {
                    // Leading zeros only move the point.
                    if seen_point {
                        exponent -= 4;
                    }
                } else if kept < HEX_MANTISSA_DIGITS_MAX {
                    mantissa = mantissa << 4 | u128::from(d);
                    kept += 1;
                    if seen_point {
                        exponent -= 4;
                    }
                } else if !seen_point {
                    exponent += 4;
                }
            } else {
                break;
            }
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        if matches!(bytes.get(i), Some(b'p' | b'P')) {
            let mut k = i + 1;
            let exponent_negative = match bytes.get(k) {
                Some(b'-') => {
                    k += 1;
                    true
                }
                Some(b'+') => {
                    k += 1;
                    false
                }
                _ => false,
            };
            let start = k;
            let mut value: i64 = 0;
            while let Some(&b) = bytes.get(k).filter(|b| b.is_ascii_digit()) {
                value = value.saturating_mul(10).saturating_add(i64::from(b - b'0'));
                k += 1;
            }
            if k > start {
                exponent = exponent.saturating_add(if exponent_negative { -value } else { value });
                i = k;
            }
        }
        Some(Scanned {
            len: i,
            kind: ScannedKind::Hex {
                negative,
                mantissa,
                exponent,
            },
        })
    }

    /// Computes `mantissa × 2^exponent` in f64, correctly rounded except
    /// where the result is subnormal.
    fn hex_to_f64(mantissa: u128, exponent: i64) -> f64 {
        if mantissa == 0 {
            return 0.0;
        }
        let mut value = mantissa as f64;
        let mut e = exponent.clamp(-4000, 4000) as i32;
        while e != 0 {
            let step = e.clamp(-1000, 1000);
            value *= 2f64.powi(step);
            e -= step;
        }
        value
    }

    /// Parses the whole of `text` (already trimmed) as `strtod` would, for
    /// `SET TimeZone`; `None` unless it is all one number.
    pub(crate) fn strtod_whole(text: &str) -> Option<f64> {
        let scanned = scan(text.as_bytes())?;
        (scanned.len == text.len()).then(|| value_f64(&scanned.kind).0)
    }

    /// Reads the longest number at the start of `text` as `strtod`, for
    /// ISO 8601 intervals: the value and the length read, or `None` if there
    /// is no number or it is out of range (`strtod`'s `ERANGE`, which glibc
    /// also sets for subnormal results).
    pub(crate) fn strtod_prefix(text: &str) -> Option<(f64, usize)> {
        let scanned = scan(text.as_bytes())?;
        let (v, out_of_range) = value_f64(&scanned.kind);
        let subnormal = v != 0.0 && v.abs() < f64::MIN_POSITIVE;
        (!out_of_range && !subnormal).then_some((v, scanned.len))
    }

    /// Returns the value and whether it is out of range (overflow to
    /// infinity or underflow to zero).
    fn value_f64(kind: &ScannedKind) -> (f64, bool) {
        match kind {
            ScannedKind::Nan => (f64::NAN, false),
            ScannedKind::Infinity { negative } => (
                if *negative {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                },
                false,
            ),
            ScannedKind::Decimal { literal, nonzero } => {
                let v: f64 = literal
                    .parse()
                    .expect("scanned literal is valid Rust float syntax");
                (v, v.is_infinite() || (v == 0.0 && *nonzero))
            }
            ScannedKind::Hex {
                negative,
                mantissa,
                exponent,
            } => {
                let v = hex_to_f64(*mantissa, *exponent);
                let v = if *negative { -v } else { v };
                (v, v.is_infinite() || (v == 0.0 && *mantissa != 0))
            }
        }
    }

    fn value_f32(kind: &ScannedKind) -> (f32, bool) {
        match kind {
            ScannedKind::Decimal { literal, nonzero } => {
                // Rust parses f32 directly, correctly rounded, as strtof does.
                let v: f32 = literal
                    .parse()
                    .expect("scanned literal is valid Rust float syntax");
                (v, v.is_infinite() || (v == 0.0 && *nonzero))
            }
            other => {
                let (v, out_of_range) = value_f64(other);
                let narrowed = v as f32;
                let lost = !v.is_nan()
                    && ((narrowed.is_infinite() && v.is_finite()) || (narrowed == 0.0 && v != 0.0));
                (narrowed, out_of_range || lost)
            }
        }
    }

    /// Splits `text` as `float8in` does: skip leading whitespace, scan a
    /// number, allow trailing whitespace only.
    fn scan_whole(text: &str, type_name: &'static str) -> Result<ScannedKind, TypeError> {
        let syntax = || TypeError::InvalidSyntax {
            type_name,
            input: text.to_owned(),
        };
        let bytes = text.as_bytes();
        let start = bytes.iter().take_while(|&&b| is_c_space_byte(b)).count();
        let scanned = scan(&bytes[start..]).ok_or_else(syntax)?;
        let end = start + scanned.len;
        if !bytes[end..].iter().all(|&b| is_c_space_byte(b)) {
            return Err(syntax());
        }
        Ok(scanned.kind)
    }

    /// Reads a `double precision` as `float8in`.
    pub(crate) fn parse_float8(text: &str) -> Result<f64, TypeError> {
        let (value, out_of_range) = value_f64(&scan_whole(text, "double precision")?);
        if out_of_range {
            return Err(TypeError::FloatInputOutOfRange {
                type_name: "double precision",
                input: text.to_owned(),
            });
        }
        Ok(value)
    }

    /// Reads a `real` as `float4in`.
    pub(crate) fn parse_float4(text: &str) -> Result<f32, TypeError> {
        let (value, out_of_range) = value_f32(&scan_whole(text, "real")?);
        if out_of_range {
            return Err(TypeError::FloatInputOutOfRange {
                type_name: "real",
                input: text.to_owned(),
            });
        }
        Ok(value)
    }

    /// Prints as C's `%.{significant}g`: rounded to that many significant
    /// digits, trailing zeros dropped, exponent form below 1e-4 or at
    /// 10^significant and above. `float8_numeric` and `float4_numeric` print
    /// this way before reading the text as a numeric.
    pub(crate) fn format_g(v: f64, significant: usize) -> String {
        debug_assert!(v.is_finite());
        debug_assert!((1..=17).contains(&significant));
        // Rust's `{:.Ne}` rounds exactly, ties to even, as glibc's printf.
        let scientific = format!("{:.*e}", significant - 1, v.abs());
        let (mantissa, exponent) = scientific
            .split_once('e')
            .expect("LowerExp output has an exponent");
        let exponent: i32 = exponent.parse().expect("LowerExp exponent is an integer");
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_end_matches('0');
        if digits.is_empty() {
            return if v.is_sign_negative() { "-0" } else { "0" }.to_owned();
        }
        layout(v.is_sign_negative(), digits, exponent, significant as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datum::strategies::arb_value;
    use proptest::prelude::*;

    fn ctx() -> TextContext {
        TextContext::default()
    }

    fn roundtrip(ty: DataType, text: &str) -> String {
        format(&parse(&ty, text, &ctx()).expect("parses"), &ctx())
    }

    #[test]
    fn floats_print_like_postgres() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.5, "1.5"),
            (1e15, "1e+15"),
            (123456789012345.0, "123456789012345"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e100, "1e+100"),
            (1.5e-7, "1.5e-07"),
            (5e-324, "5e-324"),
            (-1.5e300, "-1.5e+300"),
            (123.456, "123.456"),
        ];
        for &(v, printed) in cases {
            assert_eq!(float::format_float8(v), printed, "{v:e}");
        }
        // A tie between two shortest candidates goes to the even one, and a
        // candidate exactly halfway to the next float is not accepted.
        let tie: f64 = "859561182368406.25".parse().expect("float literal");
        assert_eq!(float::format_float8(tie), "859561182368406.2");
        assert_eq!(float::format_float4(-2633136128.0), "-2.6331361e+09");
        assert_eq!(
            float::format_float8(f64::MIN_POSITIVE),
            "2.2250738585072014e-308"
        );
        assert_eq!(float::format_float8(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(float::format_float4(1e6), "1e+06");
        assert_eq!(float::format_float4(123456.0), "123456");
        assert_eq!(float::format_float4(0.1), "0.1");
    }

    #[test]
    fn format_g_matches_printf() {
        assert_eq!(float::format_g(0.1, 15), "0.1");
        assert_eq!(float::format_g(1e20, 15), "1e+20");
        assert_eq!(
            float::format_g(123_456_789.123_456_79, 15),
            "123456789.123457"
        );
        assert_eq!(float::format_g(-1.5e-7, 15), "-1.5e-07");
        assert_eq!(float::format_g(0.0, 15), "0");
        assert_eq!(float::format_g(100.0, 6), "100");
        assert_eq!(float::format_g(1e6, 6), "1e+06");
    }

    #[test]
    fn time_zone_settings_read_as_postgres() {
        let offset = |s: &str| TimeZone::parse_setting(s).map(|z| z.utc_offset_secs_at(0));
        assert_eq!(offset("UTC"), Ok(0));
        assert_eq!(offset("etc/gmt"), Ok(0));
        assert_eq!(offset("5.5"), Ok(19800));
        assert_eq!(offset("-8"), Ok(-28800));
        assert_eq!(offset("+05:30"), Ok(-19800));
        assert_eq!(offset("UTC+5"), Ok(-18000));
        assert_eq!(offset("<+03>-3"), Ok(10800));
        assert_eq!(offset("167"), Ok(167 * 3600));
        assert!(offset("168").is_err());
        assert_eq!(offset("UTC+167"), Ok(-167 * 3600));
        // EST5EDT is a file of the database, with its rules.
        assert_eq!(offset("EST5EDT"), Ok(-18000));
        for bad in [
            "Nowhere/Atlantis",
            "ABC5DEF",
            "../zoneinfo/UTC",
            "/etc/passwd",
            "",
        ] {
            let err = TimeZone::parse_setting(bad).expect_err(bad);
            assert_eq!(err.sqlstate(), "22023");
            assert_eq!(
                err.to_string(),
                format!("invalid value for parameter \"TimeZone\": \"{bad}\"")
            );
        }
    }

    /// Microseconds since 2000-01-01 of a UTC (or local) date and time.
    fn at(year: i32, month: i32, day: i32, hour: i64, minute: i64) -> i64 {
        let days = datetime::date2j(year, month, day) - datetime::date2j(2000, 1, 1);
        (days * 86_400 + hour * 3600 + minute * 60) * 1_000_000
    }

    #[test]
    fn named_zones_follow_daylight_saving_as_postgres() {
        let ny = TimeZone::parse_setting("america/new_york").expect("in the database");
        assert_eq!(ny.name(), Some("America/New_York"));
        assert_eq!(ny, TimeZone::named("AMERICA/NEW_YORK").expect("any case"));
        assert_eq!(ny.utc_offset_secs_at(at(2024, 6, 1, 12, 0)), -4 * 3600);
        assert_eq!(ny.utc_offset_secs_at(at(2024, 1, 15, 12, 0)), -5 * 3600);
        assert_eq!(ny.abbreviation_at(at(2024, 6, 1, 12, 0)), "EDT");
        assert_eq!(ny.abbreviation_at(at(2024, 1, 15, 12, 0)), "EST");
        // 02:30 on 2024-03-10 never happened: the offset before the jump
        // applies, so PostgreSQL reads it as 03:30 EDT.
        assert_eq!(
            ny.utc_offset_secs_for_local(at(2024, 3, 10, 2, 30)),
            -5 * 3600
        );
        // 01:30 on 2018-11-04 happened twice: the offset after the jump
        // back applies (01:30 EST).
        assert_eq!(
            ny.utc_offset_secs_for_local(at(2018, 11, 4, 1, 30)),
            -5 * 3600
        );
        assert_eq!(
            ny.utc_offset_secs_for_local(at(2018, 11, 4, 0, 30)),
            -4 * 3600
        );

        let ctx = TextContext::with_time_zone(ny);
        let tz = |text: &str| match parse(&DataType::TimestampTz, text, &ctx) {
            Ok(Datum::TimestampTz(ts)) => ts,
            other => panic!("{text}: {other:?}"),
        };
        let shown = |ts: i64| format(&Datum::TimestampTz(ts), &ctx);
        assert_eq!(shown(tz("2024-03-10 02:30")), "2024-03-10 03:30:00-04");
        assert_eq!(shown(tz("2018-11-04 01:30")), "2018-11-04 01:30:00-05");
        assert_eq!(shown(tz("2024-06-01 12:00+00")), "2024-06-01 08:00:00-04");
        // A zone named in the text, at that date's offset.
        assert_eq!(tz("2024-01-15 12:00 Europe/Berlin"), at(2024, 1, 15, 11, 0));
        assert_eq!(tz("2024-07-15 12:00 Europe/Berlin"), at(2024, 7, 15, 10, 0));
        assert_eq!(
            datetime::timestamptz_to_timestamp(at(2024, 7, 15, 10, 0), ny),
            Ok(at(2024, 7, 15, 6, 0))
        );
        assert_eq!(
            datetime::timestamp_to_timestamptz(at(2024, 7, 15, 6, 0), ny),
            Ok(at(2024, 7, 15, 10, 0))
        );
    }

    #[test]
    fn clock_words_use_the_context() {
        // 2024-01-02 03:04:05 UTC.
        let now = 757_479_845_000_000;
        let ctx = TextContext {
            now: Some(now),
            ..TextContext::default()
        };
        let ts = |text: &str| {
            format(
                &parse(&DataType::TimestampTz, text, &ctx).expect("parses"),
                &ctx,
            )
        };
        assert_eq!(ts("now"), "2024-01-02 03:04:05+00");
        assert_eq!(ts("today"), "2024-01-02 00:00:00+00");
        assert_eq!(ts("tomorrow"), "2024-01-03 00:00:00+00");
        assert_eq!(ts("yesterday 12:00"), "2024-01-01 12:00:00+00");
        let date = parse(&DataType::Date, "today", &ctx).expect("parses");
        assert_eq!(format(&date, &ctx), "2024-01-02");
        assert!(matches!(
            parse(&DataType::Date, "now", &TextContext::default()),
            Err(TypeError::NoCurrentTime { .. })
        ));
    }

    #[test]
    fn jsonb_goes_through_the_hooks() {
        fn parse_hook(text: &str) -> Result<Vec<u8>, TypeError> {
            Ok(text.trim().as_bytes().to_vec())
        }
        fn format_hook(bytes: &[u8]) -> String {
            format!("<{}>", String::from_utf8_lossy(bytes))
        }
        let ctx = TextContext {
            jsonb: Some(JsonbHooks {
                parse: parse_hook,
                format: format_hook,
            }),
            ..TextContext::default()
        };
        let d = parse(&DataType::Jsonb, " {} ", &ctx).expect("parses");
        assert_eq!(format(&d, &ctx), "<{}>");
        assert!(matches!(
            parse(&DataType::Jsonb, "{}", &TextContext::default()),
            Err(TypeError::Unsupported { .. })
        ));
        assert_eq!(format(&d, &TextContext::default()), "\\x7b7d");
    }

    #[test]
    fn errors_carry_sqlstates_and_messages() {
        let err = parse(&DataType::Int4, "abc", &ctx()).expect_err("invalid");
        assert_eq!(err.sqlstate(), "22P02");
        assert_eq!(
            err.to_string(),
            "invalid input syntax for type integer: \"abc\""
        );
        let err = parse(&DataType::Int4, "99999999999", &ctx()).expect_err("too big");
        assert_eq!(err.sqlstate(), "22003");
        assert_eq!(
            err.to_string(),
            "value \"99999999999\" is out of range for type integer"
        );
        let err =
            parse(&DataType::Varchar { max_chars: Some(3) }, "abcd", &ctx()).expect_err("long");
        assert_eq!(err.sqlstate(), "22001");
        assert_eq!(
            err.to_string(),
            "value too long for type character varying(3)"
        );
        let err = parse(&DataType::Date, "2024-13-01", &ctx()).expect_err("month 13");
        assert_eq!(err.sqlstate(), "22008");
        assert!(err.hint().is_some());
        let err = parse(&DataType::Json, "[1,", &ctx()).expect_err("short");
        assert_eq!(err.detail(), Some("The input string ended unexpectedly."));
    }

    #[test]
    fn varchar_coercion_cuts_spaces_or_on_explicit_casts() {
        assert_eq!(coerce_varchar("abc  ", Some(3), false), Ok("abc"));
        assert_eq!(coerce_varchar("ab", Some(3), false), Ok("ab"));
        assert_eq!(coerce_varchar("abcdef", Some(3), true), Ok("abc"));
        assert_eq!(coerce_varchar("ééééé", Some(4), true), Ok("éééé"));
        assert!(coerce_varchar("abcd", Some(3), false).is_err());
        assert_eq!(coerce_varchar("anything", None, false), Ok("anything"));
        assert_eq!(coerce_varchar("", Some(0), false), Ok(""));
    }

    #[test]
    fn simple_types_roundtrip() {
        assert_eq!(roundtrip(DataType::Bool, " YES "), "t");
        assert_eq!(
            roundtrip(DataType::Int8, "-9223372036854775808"),
            "-9223372036854775808"
        );
        assert_eq!(roundtrip(DataType::Bytea, "\\x0A0b"), "\\x0a0b");
        assert_eq!(roundtrip(DataType::Bytea, "a\\\\\\001"), "\\x615c01");
        assert_eq!(
            roundtrip(DataType::Uuid, "{A0EEBC999C0B4EF8BB6D6BB9BD380A11}"),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
        assert_eq!(roundtrip(DataType::Numeric, "1e -2"), "0.01");
    }

    /// Every type but jsonb (and its array), which needs hooks and is the
    /// jsonb module's to test, plus a bounded varchar.
    fn roundtrip_types() -> Vec<DataType> {
        DataType::ALL
            .into_iter()
            .filter(|t| *t != DataType::Jsonb && *t != DataType::Array(&DataType::Jsonb))
            .chain([DataType::Varchar {
                max_chars: Some(10),
            }])
            .collect()
    }

    /// JSON text: scalars, arrays and objects, with assorted whitespace.
    fn arb_json() -> BoxedStrategy<String> {
        let scalar = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            Just("-0".to_owned()),
            Just("1.5e-3".to_owned()),
            Just("\"a\\u00e9\\n\"".to_owned()),
            any::<i64>().prop_map(|v| v.to_string()),
            "[a-z é]{0,4}".prop_map(|s| format!("\"{s}\"")),
        ];
        scalar
            .prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4)
                        .prop_map(|items| format!("[{}]", items.join(", "))),
                    prop::collection::vec(("[a-z]{0,3}", inner), 0..4).prop_map(|fields| {
                        let fields: Vec<String> = fields
                            .into_iter()
                            .map(|(k, v)| format!("\"{k}\":{v}"))
                            .collect();
                        format!("{{ {} }}", fields.join(","))
                    }),
                ]
            })
            .prop_map(|json| format!(" {json}\n"))
            .boxed()
    }

    /// A value of `ty` that PostgreSQL can hold and read back: dates and
    /// timestamps inside its ranges, strings without NUL, valid JSON, and no
    /// interval of exactly -2^63 microseconds (PostgreSQL prints that as
    /// `-2562047788:00:54.775808`, which its own input rejects; see
    /// cases.tsv).
    fn arb_pg_value(ty: DataType) -> BoxedStrategy<Datum> {
        const DATE_MIN: i32 = -2_451_545; // 4714-11-24 BC
        const DATE_END: i32 = 2_147_483_494 - 2_451_545;
        const TIMESTAMP_MIN: i64 = -211_813_488_000_000_000;
        const TIMESTAMP_END: i64 = 9_223_371_331_200_000_000;
        match ty {
            DataType::Date => prop_oneof![
                Just(i32::MIN),
                Just(i32::MAX),
                DATE_MIN..DATE_END,
                -1000i32..1000,
            ]
            .prop_map(Datum::Date)
            .boxed(),
            DataType::Timestamp | DataType::TimestampTz => prop_oneof![
                Just(i64::MIN),
                Just(i64::MAX),
                TIMESTAMP_MIN..TIMESTAMP_END,
                -100_000_000_000i64..100_000_000_000,
            ]
            .prop_map(move |v| {
                if ty == DataType::Timestamp {
                    Datum::Timestamp(v)
                } else {
                    Datum::TimestampTz(v)
                }
            })
            .boxed(),
            DataType::Text | DataType::Varchar { .. } | DataType::Name => arb_value(ty)
                .prop_map(|d| match d {
                    Datum::Text(s) => Datum::Text(s.replace('\0', "").chars().take(10).collect()),
                    other => other,
                })
                .boxed(),
            DataType::Json => arb_json().prop_map(Datum::Json).boxed(),
            DataType::Interval => arb_value(ty)
                .prop_map(|d| match d {
                    Datum::Interval {
                        months,
                        days,
                        micros,
                    } => Datum::Interval {
                        months,
                        days,
                        micros: micros.max(i64::MIN + 1),
                    },
                    other => other,
                })
                .boxed(),
            DataType::Array(elem) => {
                let bounds = prop_oneof![4 => Just(1), 1 => -3i32..3];
                (
                    prop::collection::vec(
                        prop_oneof![1 => Just(Datum::Null), 4 => arb_pg_value(*elem)],
                        0..4,
                    ),
                    bounds,
                )
                    .prop_map(move |(items, lower_bound)| {
                        Datum::Array(Box::new(crate::datum::Array::with_lower_bound(
                            ty,
                            lower_bound,
                            items,
                        )))
                    })
                    .boxed()
            }
            _ => arb_value(ty),
        }
    }

    #[test]
    fn new_types_read_and_print_as_postgres() {
        assert_eq!(roundtrip(DataType::Oid, " 12 "), "12");
        assert_eq!(roundtrip(DataType::Oid, "-1"), "4294967295");
        assert_eq!(roundtrip(DataType::Oid, "-2147483648"), "2147483648");
        assert_eq!(roundtrip(DataType::Oid, "010"), "10");
        for bad in ["", "  ", "0x10", "1 2", "x"] {
            assert_eq!(
                parse(&DataType::Oid, bad, &ctx()),
                Err(TypeError::InvalidSyntax {
                    type_name: "oid",
                    input: bad.into()
                }),
                "{bad:?}"
            );
        }
        for big in ["4294967296", "-2147483649", "99999999999999999999"] {
            assert_eq!(
                parse(&DataType::Oid, big, &ctx()),
                Err(TypeError::IntegerInputOutOfRange {
                    type_name: "oid",
                    input: big.into()
                }),
                "{big:?}"
            );
        }
        assert_eq!(roundtrip(DataType::Char, "abc"), "a");
        assert_eq!(roundtrip(DataType::Char, ""), "");
        assert_eq!(roundtrip(DataType::Char, "é"), "\\303");
        assert_eq!(roundtrip(DataType::Char, "\\101"), "A");
        assert_eq!(roundtrip(DataType::Char, "\\3a"), "\\");
        assert_eq!(roundtrip(DataType::Name, &"x".repeat(70)), "x".repeat(63));
        assert_eq!(roundtrip(DataType::Name, &"é".repeat(40)), "é".repeat(31));
        assert_eq!(roundtrip(DataType::RegClass, "007"), "7");
        assert_eq!(roundtrip(DataType::RegType, "-"), "0");
        assert_eq!(
            parse(&DataType::RegClass, " 7 ", &ctx()),
            Err(TypeError::NeedsCatalog {
                type_name: "regclass",
                input: " 7 ".into()
            })
        );
        let int4s = DataType::Array(&DataType::Int4);
        assert_eq!(roundtrip(int4s, " { 1 , NULL }"), "{1,NULL}");
        assert_eq!(roundtrip(int4s, "[0:1]={1,2}"), "[0:1]={1,2}");
        assert_eq!(
            roundtrip(
                DataType::Array(&DataType::Text),
                "{\"a b\",\"c\\\"d\",\"\",NULL,\"NULL\"}"
            ),
            "{\"a b\",\"c\\\"d\",\"\",NULL,\"NULL\"}"
        );
        assert_eq!(
            parse(&int4s, "{x}", &ctx()),
            Err(TypeError::InvalidSyntax {
                type_name: "integer",
                input: "x".into()
            })
        );
        assert_eq!(roundtrip(DataType::Int2Vector, " 1  2 3 "), "1 2 3");
        assert_eq!(roundtrip(DataType::OidVector, ""), "");
    }

    proptest! {
        #[test]
        fn text_roundtrips(
            (ty, d) in prop::sample::select(roundtrip_types())
                .prop_flat_map(|ty| (Just(ty), arb_pg_value(ty))),
            offset_minutes in prop_oneof![Just(0i32), -900i32..900],
        ) {
            let ctx = TextContext::with_time_zone(
                TimeZone::from_utc_offset_secs(offset_minutes * 60).expect("in range"),
            );
            let printed = format(&d, &ctx);
            let back = parse(&ty, &printed, &ctx);
            prop_assert!(back.is_ok(), "{:?} printed as {:?}: {:?}", d, printed, back);
            let reprinted = format(&back.expect("checked"), &ctx);
            prop_assert_eq!(&reprinted, &printed, "{:?}", d);
        }

        #[test]
        fn floats_roundtrip_exactly(v in any::<f64>(), w in any::<f32>()) {
            let back = float::parse_float8(&float::format_float8(v)).expect("parses");
            prop_assert!(back.to_bits() == v.to_bits() || (v.is_nan() && back.is_nan()));
            let back = float::parse_float4(&float::format_float4(w)).expect("parses");
            prop_assert!(back.to_bits() == w.to_bits() || (w.is_nan() && back.is_nan()));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,24}", ty in prop::sample::select(roundtrip_types())) {
            let _ = parse(&ty, &text, &ctx());
        }

        #[test]
        fn date_time_like_text_never_panics(
            text in "[0-9:.+\\- TtZzABCDEFGHIJKLMNOPQRSUVWXYabcdeghilmnopsuwy@/]{0,30}",
        ) {
            for ty in [DataType::Date, DataType::Timestamp, DataType::TimestampTz, DataType::Interval] {
                let _ = parse(&ty, &text, &ctx());
            }
        }
    }
}

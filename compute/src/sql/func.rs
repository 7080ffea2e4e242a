//! PostgreSQL's built-in scalar functions and the operators the binder does
//! not handle itself: their resolution (which implementation a call with
//! given argument types picks, and what its arguments convert to) and their
//! evaluation, each as PostgreSQL 15 behaves.
//!
//! # Why this module exists
//!
//! Applications call `lower`, `date_trunc`, `jsonb_set`, `regexp_replace`
//! and friends constantly, and see their exact results: the digits
//! `round(2.5)` prints, the scale of `sqrt(2::numeric)`, the interval
//! `age()` returns, the SQLSTATE of `log(0)`. The binder hands us a name
//! and argument types; we answer with a [`Builtin`] and the argument and
//! result types, then evaluate it over [`Datum`]s.
//!
//! # Resolution
//!
//! [`resolve`] and [`resolve_operator`] follow PostgreSQL's function and
//! operator resolution (`func_get_detail`, `func_select_candidate` in
//! `parse_func.c`, the "unknown is the other side's type" rule of
//! `oper_select_candidate`) over a table of PostgreSQL's signatures for the
//! types Sextant has. Untyped literals ("unknown") may become any type and
//! prefer the string category; among several candidates the one with the
//! most exact matches, then preferred types (`float8`, `text`,
//! `timestamptz`, `interval`) wins.
//!
//! # Submodules
//!
//! * `text`: string functions, `format`, the quoting functions, `md5`;
//! * `pattern`: POSIX regular expressions (PostgreSQL's ARE syntax
//!   translated to the `regex` crate's) and `LIKE`;
//! * `math`: integer, float and exact numeric math (numeric through
//!   `num-bigint`, with PostgreSQL's result-scale rules);
//! * `time`: date/time arithmetic and fields; the session `TimeZone` is a
//!   fixed offset (see [`crate::pgtext`]), so "local" month and day
//!   arithmetic on `timestamptz` happens at that offset;
//! * `json`: the jsonb and json scalar functions.
//!
//! The locale is C, as everywhere in Sextant: `upper`, `initcap`, `ILIKE`
//! and case-insensitive regular expressions fold ASCII letters only, and
//! `\w`, `\d`, `\s` are ASCII classes, as in a PostgreSQL database created
//! with `--locale=C`.
//!
//! `compute/tests/func_pg.rs` checks resolution, results, result types and
//! errors against cases recorded from a real PostgreSQL 15
//! (`compute/tests/data/func/`).

pub(crate) mod json;
mod math;
mod pattern;
mod text;
mod time;
mod to_char;

use crate::datum::{DataType, Datum};
use crate::sql::error::{code, SqlError};
use crate::sql::expr::EvalCtx;

pub use math::{numeric_arith, NumericOp};
pub use pattern::like_match;
pub use time::negate_interval;

/// A resolved built-in function or operator: one variant per
/// implementation (PostgreSQL's `prosrc`), named after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    // Strings.
    /// `length(text)`, `char_length`, `character_length`.
    CharLength,
    /// `length(bytea)`, `octet_length(bytea)`.
    ByteaLength,
    /// `octet_length(text)`.
    OctetLength,
    /// `bit_length(text)`.
    BitLength,
    /// `bit_length(bytea)`.
    ByteaBitLength,
    /// `lower(text)`.
    Lower,
    /// `upper(text)`.
    Upper,
    /// `initcap(text)`.
    Initcap,
    /// `substr(text, int)`, `substring(text, int)`.
    Substr,
    /// `substr(text, int, int)`, `substring(text, int, int)`.
    SubstrLen,
    /// `substr(bytea, int)`.
    ByteaSubstr,
    /// `substr(bytea, int, int)`.
    ByteaSubstrLen,
    /// `position(text, text)`, `strpos(text, text)`: 1-based, 0 if absent.
    Strpos,
    /// `left(text, int)`.
    Left,
    /// `right(text, int)`.
    Right,
    /// `lpad(text, int [, text])`.
    Lpad,
    /// `rpad(text, int [, text])`.
    Rpad,
    /// `ltrim(text [, text])`.
    Ltrim,
    /// `rtrim(text [, text])`.
    Rtrim,
    /// `btrim(text [, text])`.
    Btrim,
    /// `replace(text, text, text)`.
    Replace,
    /// `split_part(text, text, int)`.
    SplitPart,
    /// `repeat(text, int)`.
    Repeat,
    /// `reverse(text)`.
    Reverse,
    /// `concat(VARIADIC "any")`; not strict: NULLs are skipped.
    Concat,
    /// `concat_ws(text, VARIADIC "any")`; not strict: a NULL separator
    /// gives NULL, NULL values are skipped.
    ConcatWs,
    /// `md5(text)`.
    Md5,
    /// `md5(bytea)`.
    ByteaMd5,
    /// `starts_with(text, text)`.
    StartsWith,
    /// `ascii(text)`.
    Ascii,
    /// `chr(int)`.
    Chr,
    /// `to_hex(int)`, `to_hex(bigint)`.
    ToHex,
    /// `quote_ident(text)`.
    QuoteIdent,
    /// `quote_literal(text)`, `quote_literal(anyelement)`.
    QuoteLiteral,
    /// `quote_nullable(text)`, `quote_nullable(anyelement)`; not strict.
    QuoteNullable,
    /// `format(text [, VARIADIC "any"])`; not strict.
    Format,
    /// `regexp_replace(text, text, text [, text])`.
    RegexpReplace,
    /// `regexp_replace(text, text, text, int [, int [, text]])`.
    RegexpReplaceN,
    /// `regexp_match(text, text [, text])`: the first match's groups (or
    /// the whole match) as `text[]`, NULL when there is none.
    RegexpMatch,
    /// `similar_to_escape(text [, text])`: a SIMILAR TO pattern as a POSIX
    /// regular expression (what `x SIMILAR TO p` matches `x` against).
    SimilarToEscape,
    /// `text || anynonarray`, `anynonarray || text`, `textcat`: both sides
    /// arrive as text.
    TextCat,
    /// `bytea || bytea`.
    ByteaCat,
    /// `text ~ text`.
    RegexMatch,
    /// `text ~* text`.
    RegexIMatch,
    /// `text !~ text`.
    RegexNotMatch,
    /// `text !~* text`.
    RegexINotMatch,

    // Math.
    /// `abs` of each numeric type (the result has the argument's type).
    Abs,
    /// `ceil(float8)`, `ceiling`.
    CeilF8,
    /// `ceil(numeric)`.
    CeilNum,
    /// `floor(float8)`.
    FloorF8,
    /// `floor(numeric)`.
    FloorNum,
    /// `round(float8)`: half to even, as C's `rint`.
    RoundF8,
    /// `round(numeric [, int])`: half away from zero.
    RoundNum,
    /// `trunc(float8)`.
    TruncF8,
    /// `trunc(numeric [, int])`.
    TruncNum,
    /// `sign(float8)`.
    SignF8,
    /// `sign(numeric)`.
    SignNum,
    /// `sqrt(float8)`, `|/`.
    SqrtF8,
    /// `sqrt(numeric)`.
    SqrtNum,
    /// `cbrt(float8)`, `||/`.
    CbrtF8,
    /// `power(float8, float8)`, `pow`, `^`.
    PowerF8,
    /// `power(numeric, numeric)`, `^`.
    PowerNum,
    /// `exp(float8)`.
    ExpF8,
    /// `exp(numeric)`.
    ExpNum,
    /// `ln(float8)`.
    LnF8,
    /// `ln(numeric)`.
    LnNum,
    /// `log(float8)`, `log10(float8)`.
    Log10F8,
    /// `log(numeric)`, `log10(numeric)`.
    Log10Num,
    /// `log(numeric, numeric)`: the logarithm of the second in the base of
    /// the first.
    LogNum,
    /// `mod` of each integer type and numeric.
    Mod,
    /// `div(numeric, numeric)`: truncated quotient.
    DivNum,
    /// `pi()`.
    Pi,
    /// `random()`; volatile.
    Random,
    /// `gcd` of int4, int8, numeric.
    Gcd,
    /// `&` on integers.
    BitAnd,
    /// `|` on integers.
    BitOr,
    /// `#` on integers.
    BitXor,
    /// `~` on an integer.
    BitNot,
    /// `<<` on an integer, by an int4.
    ShiftLeft,
    /// `>>` on an integer, by an int4.
    ShiftRight,
    /// `lcm` of int4, int8, numeric.
    Lcm,
    /// `width_bucket(float8, float8, float8, int)`.
    WidthBucketF8,
    /// `width_bucket(numeric, numeric, numeric, int)`.
    WidthBucketNum,
    /// `greatest(...)`: special syntax in PostgreSQL; not strict, NULLs
    /// are ignored.
    Greatest,
    /// `least(...)`; not strict, NULLs are ignored.
    Least,
    /// `scale(numeric)`.
    Scale,
    /// `min_scale(numeric)`.
    MinScale,
    /// `trim_scale(numeric)`.
    TrimScale,
    /// `factorial(bigint)`.
    Factorial,
    /// `numeric(numeric, int4)`: the value rounded and checked for the
    /// type modifier, as a cast to `numeric(p, s)` applies it.
    NumericTypmod,
    /// `degrees(float8)`.
    Degrees,
    /// `radians(float8)`.
    Radians,
    /// `sin(float8)`.
    Sin,
    /// `cos(float8)`.
    Cos,
    /// `tan(float8)`.
    Tan,
    /// `asin(float8)`.
    Asin,
    /// `acos(float8)`.
    Acos,
    /// `atan(float8)`.
    Atan,
    /// `atan2(float8, float8)`.
    Atan2,

    // Date and time.
    /// `date_trunc(text, timestamp)`.
    DateTruncTs,
    /// `date_trunc(text, timestamptz)`, in the session time zone.
    DateTruncTz,
    /// `date_trunc(text, interval)`.
    DateTruncInterval,
    /// `date_trunc(text, timestamptz, text)`, in the named zone.
    DateTruncTzZone,
    /// `timezone(text, timestamp)` (`ts AT TIME ZONE zone`): the local time
    /// read in the zone.
    TimezoneTs,
    /// `timezone(text, timestamptz)`: the local time in the zone.
    TimezoneTz,
    /// `timezone(interval, timestamp)`: an offset east of UTC as the zone.
    TimezoneIntervalTs,
    /// `timezone(interval, timestamptz)`.
    TimezoneIntervalTz,
    /// `date_part(text, timestamp)` (also `date_part(text, date)`, which
    /// PostgreSQL runs on the date cast to timestamp).
    DatePartTs,
    /// `date_part(text, timestamptz)`.
    DatePartTz,
    /// `date_part(text, interval)`.
    DatePartInterval,
    /// `extract(text, date)`: numeric.
    ExtractDate,
    /// `extract(text, timestamp)`.
    ExtractTs,
    /// `extract(text, timestamptz)`.
    ExtractTz,
    /// `extract(text, interval)`.
    ExtractInterval,
    /// `age(timestamp, timestamp)`.
    AgeTs,
    /// `age(timestamptz, timestamptz)`.
    AgeTz,
    /// `age(timestamp)`: from midnight of the current date; stable.
    AgeTsNow,
    /// `age(timestamptz)`; stable.
    AgeTzNow,
    /// `make_date(int, int, int)`.
    MakeDate,
    /// `make_timestamp(int, int, int, int, int, float8)`.
    MakeTimestamp,
    /// `make_timestamptz(int, int, int, int, int, float8)`, in the session
    /// time zone.
    MakeTimestampTz,
    /// `make_interval(years, months, weeks, days, hours, mins, secs)`, any
    /// prefix of them (the rest default to 0).
    MakeInterval,
    /// `to_timestamp(float8)`: Unix epoch seconds.
    ToTimestamp,
    /// `date_bin(interval, timestamp, timestamp)`.
    DateBinTs,
    /// `date_bin(interval, timestamptz, timestamptz)`.
    DateBinTz,
    /// `to_char(timestamp, text)`.
    ToCharTs,
    /// `to_char(timestamptz, text)`, in the session time zone.
    ToCharTz,
    /// `to_char(interval, text)`.
    ToCharInterval,
    /// `to_char(int|bigint|real|double precision|numeric, text)`.
    ToCharNumber,
    /// `now()`, `transaction_timestamp()`, `statement_timestamp()`,
    /// `current_timestamp`: the transaction's start.
    Now,
    /// `clock_timestamp()`: the wall clock; volatile.
    ClockTimestamp,
    /// `pg_sleep(float8)`: waits, stopping early when cancelled.
    PgSleep,
    /// `current_date`.
    CurrentDate,
    /// `justify_days(interval)`.
    JustifyDays,
    /// `justify_hours(interval)`.
    JustifyHours,
    /// `justify_interval(interval)`.
    JustifyInterval,
    /// `date + int`.
    DatePlusInt,
    /// `int + date`.
    IntPlusDate,
    /// `date - int`.
    DateMinusInt,
    /// `date - date`: days.
    DateMinusDate,
    /// `date + interval`: timestamp.
    DatePlusInterval,
    /// `interval + date`.
    IntervalPlusDate,
    /// `date - interval`.
    DateMinusInterval,
    /// `timestamp + interval`.
    TsPlusInterval,
    /// `interval + timestamp`.
    IntervalPlusTs,
    /// `timestamp - interval`.
    TsMinusInterval,
    /// `timestamptz + interval`, in the session time zone.
    TzPlusInterval,
    /// `interval + timestamptz`.
    IntervalPlusTz,
    /// `timestamptz - interval`.
    TzMinusInterval,
    /// `timestamp - timestamp`, `timestamptz - timestamptz`: days and time.
    TsMinusTs,
    /// `interval + interval`.
    IntervalPlus,
    /// `interval - interval`.
    IntervalMinus,
    /// `interval * float8`.
    IntervalMul,
    /// `float8 * interval`.
    MulInterval,
    /// `interval / float8`.
    IntervalDiv,
    /// `- interval`.
    IntervalNeg,

    // JSON.
    /// `jsonb_set(jsonb, text[], jsonb [, bool])`, the path as an array
    /// literal in text.
    JsonbSet,
    /// `jsonb_insert(jsonb, text[], jsonb [, bool])`.
    JsonbInsert,
    /// `jsonb_build_object(VARIADIC "any")`; not strict.
    JsonbBuildObject,
    /// `jsonb_build_array(VARIADIC "any")`; not strict.
    JsonbBuildArray,
    /// `json_build_object(VARIADIC "any")`; not strict.
    JsonBuildObject,
    /// `json_build_array(VARIADIC "any")`; not strict.
    JsonBuildArray,
    /// `jsonb_array_length(jsonb)`.
    JsonbArrayLength,
    /// `jsonb_typeof(jsonb)`.
    JsonbTypeof,
    /// `to_jsonb(anyelement)`.
    ToJsonb,
    /// `to_json(anyelement)`.
    ToJson,
    /// `jsonb_strip_nulls(jsonb)`.
    JsonbStripNulls,
    /// `jsonb_pretty(jsonb)`.
    JsonbPretty,
    /// `jsonb_extract_path(jsonb, VARIADIC text)`.
    JsonbExtractPath,
    /// `jsonb_extract_path_text(jsonb, VARIADIC text)`.
    JsonbExtractPathText,
    /// `jsonb - text`.
    JsonbDeleteKey,
    /// `jsonb - int`.
    JsonbDeleteIndex,
    /// `jsonb #- text[]`, the path as an array literal in text.
    JsonbDeletePath,
    /// `jsonb - text[]`: deletes each key.
    JsonbDeleteKeys,
}

/// A resolved call: what to run, and the types around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The implementation.
    pub func: Builtin,
    /// The type each argument must be converted to before the call (same
    /// length as the call's arguments). For PostgreSQL's `"any"` parameters
    /// (`concat`, `format`, `jsonb_build_object`, ...) this is the
    /// argument's own type, `text` for an unknown literal.
    pub arg_types: Vec<DataType>,
    /// The result type.
    pub ret: DataType,
}

/// A parameter type in a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Param {
    /// A concrete type.
    T(DataType),
    /// PostgreSQL's `"any"`: takes any argument as it is; an unknown
    /// literal stays text.
    Any,
    /// `anyelement` / `anynonarray`: any type, but an unknown literal
    /// cannot decide it.
    AnyElement,
}

/// One entry of the signature table, as in `pg_proc`.
struct Sig {
    name: &'static str,
    params: &'static [Param],
    /// The last parameter repeats (VARIADIC), at least once.
    variadic: bool,
    ret: DataType,
    func: Builtin,
}

const BOOL: Param = Param::T(DataType::Bool);
const I2: Param = Param::T(DataType::Int2);
const I4: Param = Param::T(DataType::Int4);
const I8: Param = Param::T(DataType::Int8);
const F4: Param = Param::T(DataType::Float4);
const F8: Param = Param::T(DataType::Float8);
const NUM: Param = Param::T(DataType::Numeric);
const TEXT: Param = Param::T(DataType::Text);
const BYTEA: Param = Param::T(DataType::Bytea);
const BPCHAR: Param = Param::T(DataType::Bpchar { max_chars: None });
const DATE: Param = Param::T(DataType::Date);
const TS: Param = Param::T(DataType::Timestamp);
const TZ: Param = Param::T(DataType::TimestampTz);
const IV: Param = Param::T(DataType::Interval);
const JSONB: Param = Param::T(DataType::Jsonb);
const TEXT_ARRAY: Param = Param::T(DataType::Array(&DataType::Text));
const ANY: Param = Param::Any;
const ANYEL: Param = Param::AnyElement;

const fn sig(name: &'static str, params: &'static [Param], ret: DataType, func: Builtin) -> Sig {
    Sig {
        name,
        params,
        variadic: false,
        ret,
        func,
    }
}

const fn var(name: &'static str, params: &'static [Param], ret: DataType, func: Builtin) -> Sig {
    Sig {
        name,
        params,
        variadic: true,
        ret,
        func,
    }
}

use Builtin as B;
use DataType as D;

/// The functions, by name, with PostgreSQL 15's signatures (`pg_proc`) for
/// the types Sextant has.
static FUNCTIONS: &[Sig] = &[
    sig("length", &[TEXT], D::Int4, B::CharLength),
    sig("length", &[BYTEA], D::Int4, B::ByteaLength),
    sig("char_length", &[TEXT], D::Int4, B::CharLength),
    sig("character_length", &[TEXT], D::Int4, B::CharLength),
    sig("octet_length", &[TEXT], D::Int4, B::OctetLength),
    // `bpcharoctetlen` counts the padding, which `length` (through text)
    // does not.
    sig("octet_length", &[BPCHAR], D::Int4, B::OctetLength),
    sig("octet_length", &[BYTEA], D::Int4, B::ByteaLength),
    sig("bit_length", &[TEXT], D::Int4, B::BitLength),
    sig("bit_length", &[BYTEA], D::Int4, B::ByteaBitLength),
    sig("lower", &[TEXT], D::Text, B::Lower),
    sig("upper", &[TEXT], D::Text, B::Upper),
    sig("initcap", &[TEXT], D::Text, B::Initcap),
    sig("substr", &[TEXT, I4], D::Text, B::Substr),
    sig("substr", &[TEXT, I4, I4], D::Text, B::SubstrLen),
    sig("substr", &[BYTEA, I4], D::Bytea, B::ByteaSubstr),
    sig("substr", &[BYTEA, I4, I4], D::Bytea, B::ByteaSubstrLen),
    sig("substring", &[TEXT, I4], D::Text, B::Substr),
    sig("substring", &[TEXT, I4, I4], D::Text, B::SubstrLen),
    sig("substring", &[BYTEA, I4], D::Bytea, B::ByteaSubstr),
    sig("substring", &[BYTEA, I4, I4], D::Bytea, B::ByteaSubstrLen),
    sig("position", &[TEXT, TEXT], D::Int4, B::Strpos),
    sig("strpos", &[TEXT, TEXT], D::Int4, B::Strpos),
    sig("left", &[TEXT, I4], D::Text, B::Left),
    sig("right", &[TEXT, I4], D::Text, B::Right),
    sig("lpad", &[TEXT, I4], D::Text, B::Lpad),
    sig("lpad", &[TEXT, I4, TEXT], D::Text, B::Lpad),
    sig("rpad", &[TEXT, I4], D::Text, B::Rpad),
    sig("rpad", &[TEXT, I4, TEXT], D::Text, B::Rpad),
    sig("ltrim", &[TEXT], D::Text, B::Ltrim),
    sig("ltrim", &[TEXT, TEXT], D::Text, B::Ltrim),
    sig("rtrim", &[TEXT], D::Text, B::Rtrim),
    sig("rtrim", &[TEXT, TEXT], D::Text, B::Rtrim),
    sig("btrim", &[TEXT], D::Text, B::Btrim),
    sig("btrim", &[TEXT, TEXT], D::Text, B::Btrim),
    sig("replace", &[TEXT, TEXT, TEXT], D::Text, B::Replace),
    sig("split_part", &[TEXT, TEXT, I4], D::Text, B::SplitPart),
    sig("repeat", &[TEXT, I4], D::Text, B::Repeat),
    sig("reverse", &[TEXT], D::Text, B::Reverse),
    var("concat", &[ANY], D::Text, B::Concat),
    var("concat_ws", &[TEXT, ANY], D::Text, B::ConcatWs),
    sig("md5", &[TEXT], D::Text, B::Md5),
    sig("md5", &[BYTEA], D::Text, B::ByteaMd5),
    sig("starts_with", &[TEXT, TEXT], D::Bool, B::StartsWith),
    sig("ascii", &[TEXT], D::Int4, B::Ascii),
    sig("chr", &[I4], D::Text, B::Chr),
    sig("to_hex", &[I4], D::Text, B::ToHex),
    sig("to_hex", &[I8], D::Text, B::ToHex),
    sig("quote_ident", &[TEXT], D::Text, B::QuoteIdent),
    sig("quote_literal", &[TEXT], D::Text, B::QuoteLiteral),
    sig("quote_literal", &[ANYEL], D::Text, B::QuoteLiteral),
    sig("quote_nullable", &[TEXT], D::Text, B::QuoteNullable),
    sig("quote_nullable", &[ANYEL], D::Text, B::QuoteNullable),
    sig("format", &[TEXT], D::Text, B::Format),
    var("format", &[TEXT, ANY], D::Text, B::Format),
    sig(
        "regexp_replace",
        &[TEXT, TEXT, TEXT],
        D::Text,
        B::RegexpReplace,
    ),
    sig(
        "regexp_replace",
        &[TEXT, TEXT, TEXT, TEXT],
        D::Text,
        B::RegexpReplace,
    ),
    sig(
        "regexp_replace",
        &[TEXT, TEXT, TEXT, I4],
        D::Text,
        B::RegexpReplaceN,
    ),
    sig(
        "regexp_replace",
        &[TEXT, TEXT, TEXT, I4, I4],
        D::Text,
        B::RegexpReplaceN,
    ),
    sig(
        "regexp_replace",
        &[TEXT, TEXT, TEXT, I4, I4, TEXT],
        D::Text,
        B::RegexpReplaceN,
    ),
    sig(
        "regexp_match",
        &[TEXT, TEXT],
        D::Array(&DataType::Text),
        B::RegexpMatch,
    ),
    sig(
        "regexp_match",
        &[TEXT, TEXT, TEXT],
        D::Array(&DataType::Text),
        B::RegexpMatch,
    ),
    sig("similar_to_escape", &[TEXT], D::Text, B::SimilarToEscape),
    sig(
        "similar_to_escape",
        &[TEXT, TEXT],
        D::Text,
        B::SimilarToEscape,
    ),
    sig("textcat", &[TEXT, TEXT], D::Text, B::TextCat),
    sig("textregexeq", &[TEXT, TEXT], D::Bool, B::RegexMatch),
    sig("texticregexeq", &[TEXT, TEXT], D::Bool, B::RegexIMatch),
    sig("textregexne", &[TEXT, TEXT], D::Bool, B::RegexNotMatch),
    sig("texticregexne", &[TEXT, TEXT], D::Bool, B::RegexINotMatch),
    // Math.
    sig("abs", &[I2], D::Int2, B::Abs),
    sig("abs", &[I4], D::Int4, B::Abs),
    sig("abs", &[I8], D::Int8, B::Abs),
    sig("abs", &[F4], D::Float4, B::Abs),
    sig("abs", &[F8], D::Float8, B::Abs),
    sig("abs", &[NUM], D::Numeric, B::Abs),
    sig("ceil", &[F8], D::Float8, B::CeilF8),
    sig("ceil", &[NUM], D::Numeric, B::CeilNum),
    sig("ceiling", &[F8], D::Float8, B::CeilF8),
    sig("ceiling", &[NUM], D::Numeric, B::CeilNum),
    sig("floor", &[F8], D::Float8, B::FloorF8),
    sig("floor", &[NUM], D::Numeric, B::FloorNum),
    sig("round", &[F8], D::Float8, B::RoundF8),
    sig("round", &[NUM], D::Numeric, B::RoundNum),
    sig("round", &[NUM, I4], D::Numeric, B::RoundNum),
    sig("trunc", &[F8], D::Float8, B::TruncF8),
    sig("trunc", &[NUM], D::Numeric, B::TruncNum),
    sig("trunc", &[NUM, I4], D::Numeric, B::TruncNum),
    sig("sign", &[F8], D::Float8, B::SignF8),
    sig("sign", &[NUM], D::Numeric, B::SignNum),
    sig("sqrt", &[F8], D::Float8, B::SqrtF8),
    sig("sqrt", &[NUM], D::Numeric, B::SqrtNum),
    sig("cbrt", &[F8], D::Float8, B::CbrtF8),
    sig("power", &[F8, F8], D::Float8, B::PowerF8),
    sig("power", &[NUM, NUM], D::Numeric, B::PowerNum),
    sig("pow", &[F8, F8], D::Float8, B::PowerF8),
    sig("pow", &[NUM, NUM], D::Numeric, B::PowerNum),
    sig("exp", &[F8], D::Float8, B::ExpF8),
    sig("exp", &[NUM], D::Numeric, B::ExpNum),
    sig("ln", &[F8], D::Float8, B::LnF8),
    sig("ln", &[NUM], D::Numeric, B::LnNum),
    sig("log", &[F8], D::Float8, B::Log10F8),
    sig("log", &[NUM], D::Numeric, B::Log10Num),
    sig("log", &[NUM, NUM], D::Numeric, B::LogNum),
    sig("log10", &[F8], D::Float8, B::Log10F8),
    sig("log10", &[NUM], D::Numeric, B::Log10Num),
    sig("mod", &[I2, I2], D::Int2, B::Mod),
    sig("mod", &[I4, I4], D::Int4, B::Mod),
    sig("mod", &[I8, I8], D::Int8, B::Mod),
    sig("mod", &[NUM, NUM], D::Numeric, B::Mod),
    sig("div", &[NUM, NUM], D::Numeric, B::DivNum),
    sig("pi", &[], D::Float8, B::Pi),
    sig("random", &[], D::Float8, B::Random),
    sig("gcd", &[I4, I4], D::Int4, B::Gcd),
    sig("gcd", &[I8, I8], D::Int8, B::Gcd),
    sig("gcd", &[NUM, NUM], D::Numeric, B::Gcd),
    sig("lcm", &[I4, I4], D::Int4, B::Lcm),
    sig("lcm", &[I8, I8], D::Int8, B::Lcm),
    sig("lcm", &[NUM, NUM], D::Numeric, B::Lcm),
    sig("width_bucket", &[F8, F8, F8, I4], D::Int4, B::WidthBucketF8),
    sig(
        "width_bucket",
        &[NUM, NUM, NUM, I4],
        D::Int4,
        B::WidthBucketNum,
    ),
    sig("scale", &[NUM], D::Int4, B::Scale),
    sig("min_scale", &[NUM], D::Int4, B::MinScale),
    sig("trim_scale", &[NUM], D::Numeric, B::TrimScale),
    sig("factorial", &[I8], D::Numeric, B::Factorial),
    sig("numeric", &[NUM, I4], D::Numeric, B::NumericTypmod),
    sig("degrees", &[F8], D::Float8, B::Degrees),
    sig("radians", &[F8], D::Float8, B::Radians),
    sig("sin", &[F8], D::Float8, B::Sin),
    sig("cos", &[F8], D::Float8, B::Cos),
    sig("tan", &[F8], D::Float8, B::Tan),
    sig("asin", &[F8], D::Float8, B::Asin),
    sig("acos", &[F8], D::Float8, B::Acos),
    sig("atan", &[F8], D::Float8, B::Atan),
    sig("atan2", &[F8, F8], D::Float8, B::Atan2),
    // Date and time.
    sig("to_char", &[TS, TEXT], D::Text, B::ToCharTs),
    sig("to_char", &[TZ, TEXT], D::Text, B::ToCharTz),
    sig("to_char", &[IV, TEXT], D::Text, B::ToCharInterval),
    sig("to_char", &[I4, TEXT], D::Text, B::ToCharNumber),
    sig("to_char", &[I8, TEXT], D::Text, B::ToCharNumber),
    sig("to_char", &[F4, TEXT], D::Text, B::ToCharNumber),
    sig("to_char", &[F8, TEXT], D::Text, B::ToCharNumber),
    sig("to_char", &[NUM, TEXT], D::Text, B::ToCharNumber),
    sig("date_trunc", &[TEXT, TS], D::Timestamp, B::DateTruncTs),
    sig("date_trunc", &[TEXT, TZ], D::TimestampTz, B::DateTruncTz),
    sig("date_trunc", &[TEXT, IV], D::Interval, B::DateTruncInterval),
    sig(
        "date_trunc",
        &[TEXT, TZ, TEXT],
        D::TimestampTz,
        B::DateTruncTzZone,
    ),
    sig("timezone", &[TEXT, TS], D::TimestampTz, B::TimezoneTs),
    sig("timezone", &[TEXT, TZ], D::Timestamp, B::TimezoneTz),
    sig("timezone", &[IV, TS], D::TimestampTz, B::TimezoneIntervalTs),
    sig("timezone", &[IV, TZ], D::Timestamp, B::TimezoneIntervalTz),
    sig("date_part", &[TEXT, DATE], D::Float8, B::DatePartTs),
    sig("date_part", &[TEXT, TS], D::Float8, B::DatePartTs),
    sig("date_part", &[TEXT, TZ], D::Float8, B::DatePartTz),
    sig("date_part", &[TEXT, IV], D::Float8, B::DatePartInterval),
    sig("extract", &[TEXT, DATE], D::Numeric, B::ExtractDate),
    sig("extract", &[TEXT, TS], D::Numeric, B::ExtractTs),
    sig("extract", &[TEXT, TZ], D::Numeric, B::ExtractTz),
    sig("extract", &[TEXT, IV], D::Numeric, B::ExtractInterval),
    sig("age", &[TS, TS], D::Interval, B::AgeTs),
    sig("age", &[TZ, TZ], D::Interval, B::AgeTz),
    sig("age", &[TS], D::Interval, B::AgeTsNow),
    sig("age", &[TZ], D::Interval, B::AgeTzNow),
    sig("make_date", &[I4, I4, I4], D::Date, B::MakeDate),
    sig(
        "make_timestamp",
        &[I4, I4, I4, I4, I4, F8],
        D::Timestamp,
        B::MakeTimestamp,
    ),
    sig(
        "make_timestamptz",
        &[I4, I4, I4, I4, I4, F8],
        D::TimestampTz,
        B::MakeTimestampTz,
    ),
    sig("make_interval", &[], D::Interval, B::MakeInterval),
    sig("make_interval", &[I4], D::Interval, B::MakeInterval),
    sig("make_interval", &[I4, I4], D::Interval, B::MakeInterval),
    sig("make_interval", &[I4, I4, I4], D::Interval, B::MakeInterval),
    sig(
        "make_interval",
        &[I4, I4, I4, I4],
        D::Interval,
        B::MakeInterval,
    ),
    sig(
        "make_interval",
        &[I4, I4, I4, I4, I4],
        D::Interval,
        B::MakeInterval,
    ),
    sig(
        "make_interval",
        &[I4, I4, I4, I4, I4, I4],
        D::Interval,
        B::MakeInterval,
    ),
    sig(
        "make_interval",
        &[I4, I4, I4, I4, I4, I4, F8],
        D::Interval,
        B::MakeInterval,
    ),
    sig("to_timestamp", &[F8], D::TimestampTz, B::ToTimestamp),
    sig("date_bin", &[IV, TS, TS], D::Timestamp, B::DateBinTs),
    sig("date_bin", &[IV, TZ, TZ], D::TimestampTz, B::DateBinTz),
    sig("now", &[], D::TimestampTz, B::Now),
    sig("transaction_timestamp", &[], D::TimestampTz, B::Now),
    sig("statement_timestamp", &[], D::TimestampTz, B::Now),
    sig("current_timestamp", &[], D::TimestampTz, B::Now),
    sig("clock_timestamp", &[], D::TimestampTz, B::ClockTimestamp),
    sig("pg_sleep", &[F8], D::Void, B::PgSleep),
    sig("current_date", &[], D::Date, B::CurrentDate),
    sig("justify_days", &[IV], D::Interval, B::JustifyDays),
    sig("justify_hours", &[IV], D::Interval, B::JustifyHours),
    sig("justify_interval", &[IV], D::Interval, B::JustifyInterval),
    // JSON. text[] paths arrive as array literals in text.
    sig("jsonb_set", &[JSONB, TEXT, JSONB], D::Jsonb, B::JsonbSet),
    sig(
        "jsonb_set",
        &[JSONB, TEXT, JSONB, BOOL],
        D::Jsonb,
        B::JsonbSet,
    ),
    sig(
        "jsonb_insert",
        &[JSONB, TEXT, JSONB],
        D::Jsonb,
        B::JsonbInsert,
    ),
    sig(
        "jsonb_insert",
        &[JSONB, TEXT, JSONB, BOOL],
        D::Jsonb,
        B::JsonbInsert,
    ),
    sig("jsonb_build_object", &[], D::Jsonb, B::JsonbBuildObject),
    var("jsonb_build_object", &[ANY], D::Jsonb, B::JsonbBuildObject),
    sig("jsonb_build_array", &[], D::Jsonb, B::JsonbBuildArray),
    var("jsonb_build_array", &[ANY], D::Jsonb, B::JsonbBuildArray),
    sig("json_build_object", &[], D::Json, B::JsonBuildObject),
    var("json_build_object", &[ANY], D::Json, B::JsonBuildObject),
    sig("json_build_array", &[], D::Json, B::JsonBuildArray),
    var("json_build_array", &[ANY], D::Json, B::JsonBuildArray),
    sig("jsonb_array_length", &[JSONB], D::Int4, B::JsonbArrayLength),
    sig("jsonb_typeof", &[JSONB], D::Text, B::JsonbTypeof),
    sig("to_jsonb", &[ANYEL], D::Jsonb, B::ToJsonb),
    sig("to_json", &[ANYEL], D::Json, B::ToJson),
    sig("jsonb_strip_nulls", &[JSONB], D::Jsonb, B::JsonbStripNulls),
    sig("jsonb_pretty", &[JSONB], D::Text, B::JsonbPretty),
    var(
        "jsonb_extract_path",
        &[JSONB, TEXT],
        D::Jsonb,
        B::JsonbExtractPath,
    ),
    var(
        "jsonb_extract_path_text",
        &[JSONB, TEXT],
        D::Text,
        B::JsonbExtractPathText,
    ),
];

/// The binary operators, with PostgreSQL 15's signatures (`pg_operator`).
static BINARY_OPERATORS: &[Sig] = &[
    sig("~", &[TEXT, TEXT], D::Bool, B::RegexMatch),
    sig("~*", &[TEXT, TEXT], D::Bool, B::RegexIMatch),
    sig("!~", &[TEXT, TEXT], D::Bool, B::RegexNotMatch),
    sig("!~*", &[TEXT, TEXT], D::Bool, B::RegexINotMatch),
    sig("^", &[F8, F8], D::Float8, B::PowerF8),
    sig("^", &[NUM, NUM], D::Numeric, B::PowerNum),
    sig("&", &[I2, I2], D::Int2, B::BitAnd),
    sig("&", &[I4, I4], D::Int4, B::BitAnd),
    sig("&", &[I8, I8], D::Int8, B::BitAnd),
    sig("|", &[I2, I2], D::Int2, B::BitOr),
    sig("|", &[I4, I4], D::Int4, B::BitOr),
    sig("|", &[I8, I8], D::Int8, B::BitOr),
    sig("#", &[I2, I2], D::Int2, B::BitXor),
    sig("#", &[I4, I4], D::Int4, B::BitXor),
    sig("#", &[I8, I8], D::Int8, B::BitXor),
    sig("<<", &[I2, I4], D::Int2, B::ShiftLeft),
    sig("<<", &[I4, I4], D::Int4, B::ShiftLeft),
    sig("<<", &[I8, I4], D::Int8, B::ShiftLeft),
    sig(">>", &[I2, I4], D::Int2, B::ShiftRight),
    sig(">>", &[I4, I4], D::Int4, B::ShiftRight),
    sig(">>", &[I8, I4], D::Int8, B::ShiftRight),
    sig("||", &[TEXT, TEXT], D::Text, B::TextCat),
    sig("||", &[BYTEA, BYTEA], D::Bytea, B::ByteaCat),
    sig("+", &[DATE, I4], D::Date, B::DatePlusInt),
    sig("+", &[I4, DATE], D::Date, B::IntPlusDate),
    sig("-", &[DATE, I4], D::Date, B::DateMinusInt),
    sig("-", &[DATE, DATE], D::Int4, B::DateMinusDate),
    sig("+", &[DATE, IV], D::Timestamp, B::DatePlusInterval),
    sig("+", &[IV, DATE], D::Timestamp, B::IntervalPlusDate),
    sig("-", &[DATE, IV], D::Timestamp, B::DateMinusInterval),
    sig("+", &[TS, IV], D::Timestamp, B::TsPlusInterval),
    sig("+", &[IV, TS], D::Timestamp, B::IntervalPlusTs),
    sig("-", &[TS, IV], D::Timestamp, B::TsMinusInterval),
    sig("+", &[TZ, IV], D::TimestampTz, B::TzPlusInterval),
    sig("+", &[IV, TZ], D::TimestampTz, B::IntervalPlusTz),
    sig("-", &[TZ, IV], D::TimestampTz, B::TzMinusInterval),
    sig("-", &[TS, TS], D::Interval, B::TsMinusTs),
    sig("-", &[TZ, TZ], D::Interval, B::TsMinusTs),
    sig("+", &[IV, IV], D::Interval, B::IntervalPlus),
    sig("-", &[IV, IV], D::Interval, B::IntervalMinus),
    sig("*", &[IV, F8], D::Interval, B::IntervalMul),
    sig("*", &[F8, IV], D::Interval, B::MulInterval),
    sig("/", &[IV, F8], D::Interval, B::IntervalDiv),
    sig("-", &[JSONB, TEXT], D::Jsonb, B::JsonbDeleteKey),
    sig("-", &[JSONB, I4], D::Jsonb, B::JsonbDeleteIndex),
    sig("#-", &[JSONB, TEXT], D::Jsonb, B::JsonbDeletePath),
    sig("-", &[JSONB, TEXT_ARRAY], D::Jsonb, B::JsonbDeleteKeys),
    sig("#-", &[JSONB, TEXT_ARRAY], D::Jsonb, B::JsonbDeletePath),
];

/// The prefix operators.
static PREFIX_OPERATORS: &[Sig] = &[
    sig("|/", &[F8], D::Float8, B::SqrtF8),
    sig("||/", &[F8], D::Float8, B::CbrtF8),
    sig("@", &[I2], D::Int2, B::Abs),
    sig("@", &[I4], D::Int4, B::Abs),
    sig("@", &[I8], D::Int8, B::Abs),
    sig("@", &[F4], D::Float4, B::Abs),
    sig("@", &[F8], D::Float8, B::Abs),
    sig("@", &[NUM], D::Numeric, B::Abs),
    sig("-", &[IV], D::Interval, B::IntervalNeg),
    sig("~", &[I2], D::Int2, B::BitNot),
    sig("~", &[I4], D::Int4, B::BitNot),
    sig("~", &[I8], D::Int8, B::BitNot),
];

/// PostgreSQL's type categories (`pg_type.typcategory`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    Bool,
    Numeric,
    String,
    DateTime,
    Timespan,
    User,
    Pseudo,
}

fn category(t: DataType) -> Category {
    match t {
        D::Bool => Category::Bool,
        D::Int2 | D::Int4 | D::Int8 | D::Float4 | D::Float8 | D::Numeric => Category::Numeric,
        D::Text | D::Varchar { .. } | D::Bpchar { .. } | D::Name | D::Char => Category::String,
        D::Date | D::Timestamp | D::TimestampTz => Category::DateTime,
        D::Interval => Category::Timespan,
        D::Oid | D::RegClass | D::RegType | D::RegProc | D::RegNamespace => Category::Numeric,
        _ => Category::User,
    }
}

/// `pg_type.typispreferred`.
fn is_preferred(t: DataType) -> bool {
    matches!(
        t,
        D::Bool | D::Float8 | D::Text | D::TimestampTz | D::Interval
    )
}

fn param_category(p: Param) -> Category {
    match p {
        Param::T(t) => category(t),
        Param::Any | Param::AnyElement => Category::Pseudo,
    }
}

fn param_is_preferred(p: Param) -> bool {
    matches!(p, Param::T(t) if is_preferred(t))
}

/// `can_coerce_type` for one argument in an implicit context.
fn can_coerce(arg: DataType, unknown: bool, to: Param) -> bool {
    match to {
        Param::Any => true,
        Param::AnyElement => !unknown,
        Param::T(t) => {
            unknown
                || arg == t
                || crate::cast::can_cast(&arg, &t) == crate::cast::CastKind::Implicit
        }
    }
}

/// A candidate signature expanded to the call's argument count.
struct Candidate<'a> {
    sig: &'a Sig,
    params: Vec<Param>,
}

fn expand<'a>(sig: &'a Sig, nargs: usize) -> Option<Candidate<'a>> {
    if sig.variadic {
        let fixed = sig.params.len() - 1;
        if nargs < sig.params.len() {
            return None;
        }
        let mut params = sig.params[..fixed].to_vec();
        params.resize(nargs, sig.params[fixed]);
        Some(Candidate { sig, params })
    } else if sig.params.len() == nargs {
        Some(Candidate {
            sig,
            params: sig.params.to_vec(),
        })
    } else {
        None
    }
}

/// PostgreSQL's `func_select_candidate` over the candidates that accept
/// the arguments with implicit coercions.
fn select_candidate<'a>(
    mut cands: Vec<Candidate<'a>>,
    args: &[DataType],
    unknown: &[bool],
) -> Option<Candidate<'a>> {
    if cands.len() <= 1 {
        return cands.pop();
    }
    let nargs = args.len();
    let is_unknown = |i: usize| unknown.get(i).copied().unwrap_or(false);
    // Most exact matches on the typed arguments.
    let exact = |c: &Candidate<'_>| {
        (0..nargs)
            .filter(|&i| !is_unknown(i) && c.params[i] == Param::T(args[i]))
            .count()
    };
    let best = cands.iter().map(exact).max().unwrap_or(0);
    cands.retain(|c| exact(c) == best);
    if cands.len() == 1 {
        return cands.pop();
    }
    // Most exact-or-preferred matches where coercion is needed.
    let preferred = |c: &Candidate<'_>| {
        (0..nargs)
            .filter(|&i| {
                !is_unknown(i)
                    && (c.params[i] == Param::T(args[i])
                        || (param_is_preferred(c.params[i])
                            && param_category(c.params[i]) == category(args[i])))
            })
            .count()
    };
    let best = cands.iter().map(preferred).max().unwrap_or(0);
    cands.retain(|c| preferred(c) == best);
    if cands.len() == 1 {
        return cands.pop();
    }
    let nunknown = (0..nargs).filter(|&i| is_unknown(i)).count();
    if nunknown == 0 {
        return None;
    }
    // Unknown arguments: pick a category per position (string wins), and
    // a preferred type within it if some candidate takes one.
    let mut resolved = true;
    let mut slots: Vec<Option<(Category, bool)>> = vec![None; nargs];
    for i in (0..nargs).filter(|&i| is_unknown(i)) {
        let mut conflict = false;
        for c in &cands {
            let (cat, pref) = (param_category(c.params[i]), param_is_preferred(c.params[i]));
            match &mut slots[i] {
                None => slots[i] = Some((cat, pref)),
                Some((slot_cat, slot_pref)) if *slot_cat == cat => *slot_pref |= pref,
                Some(slot) => {
                    if cat == Category::String {
                        *slot = (cat, pref);
                    } else {
                        conflict = true;
                    }
                }
            }
        }
        if conflict && slots[i].map(|s| s.0) != Some(Category::String) {
            resolved = false;
            break;
        }
    }
    if resolved {
        let keep = |c: &Candidate<'_>| {
            (0..nargs).filter(|&i| is_unknown(i)).all(|i| {
                let (cat, pref) = slots[i].expect("every unknown slot was filled");
                param_category(c.params[i]) == cat && (!pref || param_is_preferred(c.params[i]))
            })
        };
        let kept: Vec<usize> = (0..cands.len()).filter(|&k| keep(&cands[k])).collect();
        if kept.len() == 1 {
            return Some(cands.swap_remove(kept[0]));
        }
        if !kept.is_empty() {
            let mut k = 0;
            cands.retain(|_| {
                k += 1;
                kept.contains(&(k - 1))
            });
        }
    }
    // Last resort: if the typed arguments all have one type, read the
    // unknowns as that type too.
    if nunknown < nargs {
        let mut known = None;
        for i in (0..nargs).filter(|&i| !is_unknown(i)) {
            match known {
                None => known = Some(args[i]),
                Some(k) if k == args[i] => {}
                Some(_) => return None,
            }
        }
        let known = known.expect("some argument is typed");
        let fits: Vec<usize> = (0..cands.len())
            .filter(|&k| cands[k].params.iter().all(|&p| can_coerce(known, false, p)))
            .collect();
        if fits.len() == 1 {
            return Some(cands.swap_remove(fits[0]));
        }
    }
    None
}

/// Turns the chosen candidate into the call's conversions.
fn finish(c: &Candidate<'_>, args: &[DataType], unknown: &[bool]) -> Resolved {
    let arg_types = c
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| match p {
            Param::T(t) => *t,
            Param::Any | Param::AnyElement => {
                if unknown.get(i).copied().unwrap_or(false) {
                    D::Text
                } else {
                    args[i]
                }
            }
        })
        .collect();
    Resolved {
        func: c.sig.func,
        arg_types,
        ret: c.sig.ret,
    }
}

fn resolve_in(
    table: &[Sig],
    name: &str,
    args: &[DataType],
    unknown: &[bool],
    operator: bool,
) -> Option<Resolved> {
    let is_unknown = |i: usize| unknown.get(i).copied().unwrap_or(false);
    let all: Vec<Candidate<'_>> = table
        .iter()
        .filter(|s| s.name == name)
        .filter_map(|s| expand(s, args.len()))
        .collect();
    // An exact match wins outright; for a binary operator with one unknown
    // side, the unknown side counts as the other side's type.
    let mut probe: Vec<DataType> = args.to_vec();
    let mut probe_unknown: Vec<bool> = (0..args.len()).map(is_unknown).collect();
    if operator && args.len() == 2 && probe_unknown[0] != probe_unknown[1] {
        let known = if probe_unknown[0] { args[1] } else { args[0] };
        probe = vec![known, known];
        probe_unknown = vec![false, false];
    }
    if let Some(c) = all.iter().find(|c| {
        c.params
            .iter()
            .enumerate()
            .all(|(i, p)| !probe_unknown[i] && *p == Param::T(probe[i]))
    }) {
        return Some(finish(c, args, unknown));
    }
    let cands: Vec<Candidate<'_>> = all
        .into_iter()
        .filter(|c| {
            c.params
                .iter()
                .enumerate()
                .all(|(i, p)| can_coerce(args[i], is_unknown(i), *p))
        })
        .collect();
    let c = select_candidate(cands, args, unknown)?;
    Some(finish(&c, args, unknown))
}

/// Resolves `name(args)` the way PostgreSQL's function resolution would for
/// these types. `args` are the argument types; an untyped string
/// literal/parameter arrives as `DataType::Text` with `unknown[i] == true`
/// and may be converted to whatever the function needs. `name` is
/// lowercase, without schema. `None` when no function matches (42883) or
/// the choice is ambiguous (42725).
pub fn resolve(name: &str, args: &[DataType], unknown: &[bool]) -> Option<Resolved> {
    if name == "greatest" || name == "least" {
        let ty = common_type(args, unknown)?;
        return Some(Resolved {
            func: if name == "greatest" {
                B::Greatest
            } else {
                B::Least
            },
            arg_types: vec![ty; args.len()],
            ret: ty,
        });
    }
    // Signatures name types without a length: `character(3)` matches
    // `bpchar` exactly.
    let args: Vec<DataType> = args
        .iter()
        .map(|t| match t {
            D::Bpchar { .. } => D::Bpchar { max_chars: None },
            t => *t,
        })
        .collect();
    resolve_in(FUNCTIONS, name, &args, unknown, false)
}

/// PostgreSQL's `select_common_type` (for `greatest`, `least`): the first
/// typed argument's type, widened to a later one that it converts to
/// implicitly (and not back), within one category; all unknown is text.
fn common_type(args: &[DataType], unknown: &[bool]) -> Option<DataType> {
    if args.is_empty() {
        return None;
    }
    let mut ty: Option<DataType> = None;
    for (i, &t) in args.iter().enumerate() {
        if unknown.get(i).copied().unwrap_or(false) {
            continue;
        }
        let Some(p) = ty else {
            ty = Some(t);
            continue;
        };
        if p == t {
            continue;
        }
        if category(p) != category(t) {
            return None;
        }
        use crate::cast::{can_cast, CastKind::Implicit};
        if !is_preferred(p) && can_cast(&p, &t) == Implicit && can_cast(&t, &p) != Implicit {
            ty = Some(t);
        }
    }
    let ty = ty.unwrap_or(D::Text);
    // Every argument must convert to it implicitly.
    args.iter()
        .enumerate()
        .all(|(i, &t)| can_coerce(t, unknown.get(i).copied().unwrap_or(false), Param::T(ty)))
        .then_some(ty)
}

/// Resolves a binary operator (`op` as written: "+", "-", "*", "/", "~",
/// "~*", "!~", "!~*", "#-", "||", "^" ...) for operand types the core
/// binder does not handle itself (it handles integer/float/numeric
/// arithmetic, comparisons, AND/OR, text `||`, and the jsonb operators
/// `-> ->> #> #>> @> <@ ? ||`). `text || x` and `x || text` for a non-text
/// `x` resolve to [`Builtin::TextCat`] with `x` converted to text.
pub fn resolve_operator(
    op: &str,
    left: DataType,
    right: DataType,
    left_unknown: bool,
    right_unknown: bool,
) -> Option<Resolved> {
    let args = [left, right];
    let unknown = [left_unknown, right_unknown];
    if let Some(r) = resolve_in(BINARY_OPERATORS, op, &args, &unknown, true) {
        return Some(r);
    }
    if op == "||" {
        // textanycat and anytextcat: one side of the string category, the
        // other any typed non-string value.
        let is_text = |t: DataType, u: bool| u || category(t) == Category::String;
        let text_left = is_text(left, left_unknown);
        let text_right = is_text(right, right_unknown);
        if (text_left && !right_unknown) || (text_right && !left_unknown) {
            if left == D::Jsonb && right == D::Jsonb {
                return None;
            }
            return Some(Resolved {
                func: B::TextCat,
                arg_types: vec![D::Text, D::Text],
                ret: D::Text,
            });
        }
    }
    None
}

/// Resolves a prefix operator: `|/` (square root), `||/` (cube root), `@`
/// (absolute value) and `-` on an interval.
pub fn resolve_prefix_operator(op: &str, operand: DataType, unknown: bool) -> Option<Resolved> {
    resolve_in(PREFIX_OPERATORS, op, &[operand], &[unknown], false)
}

/// True when the function is strict (NULL in → NULL out, the caller may
/// skip the call). Not strict: `concat`, `concat_ws`, `format`,
/// `quote_nullable`, `greatest`, `least`, and the json builders.
pub fn is_strict(f: Builtin) -> bool {
    !matches!(
        f,
        B::Concat
            | B::ConcatWs
            | B::Format
            | B::QuoteNullable
            | B::Greatest
            | B::Least
            | B::JsonbBuildObject
            | B::JsonbBuildArray
            | B::JsonBuildObject
            | B::JsonBuildArray
    )
}

/// True when two calls with the same arguments may answer differently
/// within one statement (PostgreSQL's VOLATILE): `random()`,
/// `clock_timestamp()` and `pg_sleep()`. Every other builtin is immutable
/// or stable, so a call on constants may be evaluated once per scan.
pub fn is_volatile_in_statement(f: Builtin) -> bool {
    matches!(f, B::Random | B::ClockTimestamp | B::PgSleep)
}

/// True when the function is volatile or stable (`now()`, `random()`, and
/// everything that reads the session time zone or the clock): never
/// constant-folded, never used in index matching.
pub fn is_volatile(f: Builtin) -> bool {
    matches!(
        f,
        B::Random
            | B::ToCharTz
            | B::ClockTimestamp
            | B::PgSleep
            | B::Now
            | B::CurrentDate
            | B::AgeTsNow
            | B::AgeTzNow
            | B::AgeTz
            | B::DateTruncTz
            | B::DatePartTz
            | B::ExtractTz
            | B::MakeTimestampTz
            | B::TzPlusInterval
            | B::IntervalPlusTz
            | B::TzMinusInterval
            | B::DateBinTz
            | B::Concat
            | B::ConcatWs
            | B::Format
            | B::QuoteLiteral
            | B::QuoteNullable
            | B::TextCat
            | B::ToJsonb
            | B::ToJson
            | B::JsonbBuildObject
            | B::JsonbBuildArray
            | B::JsonBuildObject
            | B::JsonBuildArray
    )
}

/// `date_trunc(units, ts)` with the units given apart ([`Builtin::DateTruncTs`]
/// or [`Builtin::DateTruncTz`]); see [`call`].
pub fn date_trunc(
    f: Builtin,
    units: &str,
    ts: &Datum,
    ctx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    time::date_trunc(f, units, ts, ctx)
}

/// Calls `f`. Arguments arrive already converted to the resolved
/// `arg_types`. A strict function ([`is_strict`]) returns NULL on any NULL
/// argument here too, so calling it is always safe.
pub fn call(f: Builtin, args: &[Datum], ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    if is_strict(f) && args.iter().any(Datum::is_null) {
        return Ok(Datum::Null);
    }
    match f {
        B::CharLength
        | B::ByteaLength
        | B::OctetLength
        | B::BitLength
        | B::ByteaBitLength
        | B::Lower
        | B::Upper
        | B::Initcap
        | B::Substr
        | B::SubstrLen
        | B::ByteaSubstr
        | B::ByteaSubstrLen
        | B::Strpos
        | B::Left
        | B::Right
        | B::Lpad
        | B::Rpad
        | B::Ltrim
        | B::Rtrim
        | B::Btrim
        | B::Replace
        | B::SplitPart
        | B::Repeat
        | B::Reverse
        | B::Concat
        | B::ConcatWs
        | B::Md5
        | B::ByteaMd5
        | B::StartsWith
        | B::Ascii
        | B::Chr
        | B::ToHex
        | B::QuoteIdent
        | B::QuoteLiteral
        | B::QuoteNullable
        | B::Format
        | B::TextCat
        | B::ByteaCat => text::call(f, args, ctx),
        B::RegexpReplace
        | B::RegexpReplaceN
        | B::RegexpMatch
        | B::SimilarToEscape
        | B::RegexMatch
        | B::RegexIMatch
        | B::RegexNotMatch
        | B::RegexINotMatch => pattern::call(f, args),
        B::Abs
        | B::CeilF8
        | B::CeilNum
        | B::FloorF8
        | B::FloorNum
        | B::RoundF8
        | B::RoundNum
        | B::TruncF8
        | B::TruncNum
        | B::SignF8
        | B::SignNum
        | B::SqrtF8
        | B::SqrtNum
        | B::CbrtF8
        | B::PowerF8
        | B::PowerNum
        | B::ExpF8
        | B::ExpNum
        | B::LnF8
        | B::LnNum
        | B::Log10F8
        | B::Log10Num
        | B::LogNum
        | B::Mod
        | B::DivNum
        | B::Pi
        | B::Random
        | B::Gcd
        | B::Lcm
        | B::BitAnd
        | B::BitOr
        | B::BitXor
        | B::BitNot
        | B::ShiftLeft
        | B::ShiftRight
        | B::WidthBucketF8
        | B::WidthBucketNum
        | B::Greatest
        | B::Least
        | B::Scale
        | B::MinScale
        | B::TrimScale
        | B::Factorial
        | B::NumericTypmod
        | B::Degrees
        | B::Radians
        | B::Sin
        | B::Cos
        | B::Tan
        | B::Asin
        | B::Acos
        | B::Atan
        | B::Atan2 => math::call(f, args),
        B::DateTruncTs
        | B::DateTruncTz
        | B::DateTruncInterval
        | B::DateTruncTzZone
        | B::TimezoneTs
        | B::TimezoneTz
        | B::TimezoneIntervalTs
        | B::TimezoneIntervalTz
        | B::DatePartTs
        | B::DatePartTz
        | B::DatePartInterval
        | B::ExtractDate
        | B::ExtractTs
        | B::ExtractTz
        | B::ExtractInterval
        | B::AgeTs
        | B::AgeTz
        | B::AgeTsNow
        | B::AgeTzNow
        | B::MakeDate
        | B::MakeTimestamp
        | B::MakeTimestampTz
        | B::MakeInterval
        | B::ToTimestamp
        | B::DateBinTs
        | B::DateBinTz
        | B::Now
        | B::ClockTimestamp
        | B::PgSleep
        | B::CurrentDate
        | B::JustifyDays
        | B::JustifyHours
        | B::JustifyInterval
        | B::DatePlusInt
        | B::IntPlusDate
        | B::DateMinusInt
        | B::DateMinusDate
        | B::DatePlusInterval
        | B::IntervalPlusDate
        | B::DateMinusInterval
        | B::TsPlusInterval
        | B::IntervalPlusTs
        | B::TsMinusInterval
        | B::TzPlusInterval
        | B::IntervalPlusTz
        | B::TzMinusInterval
        | B::TsMinusTs
        | B::IntervalPlus
        | B::IntervalMinus
        | B::IntervalMul
        | B::MulInterval
        | B::IntervalDiv
        | B::IntervalNeg => time::call(f, args, ctx),
        B::ToCharTs | B::ToCharTz | B::ToCharInterval | B::ToCharNumber => {
            to_char::call(f, args, ctx)
        }
        B::JsonbSet
        | B::JsonbInsert
        | B::JsonbBuildObject
        | B::JsonbBuildArray
        | B::JsonBuildObject
        | B::JsonBuildArray
        | B::JsonbArrayLength
        | B::JsonbTypeof
        | B::ToJsonb
        | B::ToJson
        | B::JsonbStripNulls
        | B::JsonbPretty
        | B::JsonbExtractPath
        | B::JsonbExtractPathText
        | B::JsonbDeleteKey
        | B::JsonbDeleteIndex
        | B::JsonbDeletePath
        | B::JsonbDeleteKeys => json::call(f, args, ctx),
    }
}

/// SQLSTATEs raised here that the rest of the SQL layer does not use
/// (PostgreSQL's `errcodes.txt`).
mod sqlstate {
    /// invalid_regular_expression
    pub const INVALID_REGULAR_EXPRESSION: &str = "2201B";
    /// invalid_escape_sequence
    pub const INVALID_ESCAPE_SEQUENCE: &str = "22025";
    /// invalid_use_of_escape_character
    pub const INVALID_USE_OF_ESCAPE_CHARACTER: &str = "2200C";
    /// invalid_argument_for_power_function
    pub const INVALID_ARGUMENT_FOR_POWER_FUNCTION: &str = "2201F";
    /// invalid_argument_for_logarithm
    pub const INVALID_ARGUMENT_FOR_LOGARITHM: &str = "2201E";
    /// invalid_argument_for_width_bucket_function
    pub const INVALID_ARGUMENT_FOR_WIDTH_BUCKET_FUNCTION: &str = "2201G";
    /// substring_error
    pub const SUBSTRING_ERROR: &str = "22011";
    /// null_value_not_allowed
    pub const NULL_VALUE_NOT_ALLOWED: &str = "22004";
    /// datetime_field_overflow (also datetime_value_out_of_range)
    pub const DATETIME_FIELD_OVERFLOW: &str = "22008";
    /// program_limit_exceeded
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    /// feature_not_supported
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    /// invalid_text_representation
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    /// invalid_parameter_value
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    /// numeric_value_out_of_range
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
}

/// An argument of the wrong shape: the binder converted the arguments to
/// the resolved types, so this is a programming error in the caller,
/// reported rather than panicking.
fn bad_args(f: Builtin, args: &[Datum]) -> SqlError {
    SqlError::new(
        code::INTERNAL_ERROR,
        format!(
            "{f:?} called with arguments of types ({})",
            args.iter()
                .map(|a| a.data_type().map_or("NULL".to_owned(), |t| t.format_type()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// 22023 with a message.
fn invalid_parameter(message: impl Into<String>) -> SqlError {
    SqlError::new(code::INVALID_PARAMETER_VALUE, message)
}

/// 22003 `<type> out of range`.
fn out_of_range(type_name: &str) -> SqlError {
    SqlError::new(
        code::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("{type_name} out of range"),
    )
}

/// 22012 `division by zero`.
fn division_by_zero() -> SqlError {
    SqlError::new(code::DIVISION_BY_ZERO, "division by zero")
}

/// The SQL error for a `pgtext`/`cast` error.
fn type_err(e: crate::pgtext::TypeError) -> SqlError {
    let mut s = SqlError::new(e.sqlstate(), e.to_string());
    if let Some(d) = e.detail() {
        s = s.with_detail(d.to_string());
    }
    if let Some(h) = e.hint() {
        s = s.with_hint(h);
    }
    s
}

#[cfg(test)]
mod tests;

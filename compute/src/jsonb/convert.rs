//! SQL values to jsonb: `to_jsonb`, `jsonb_build_object`, `jsonb_build_array`
//! and the aggregates `jsonb_agg` and `jsonb_object_agg`, as PostgreSQL's
//! `datum_to_jsonb` (`src/backend/utils/adt/jsonb.c`) converts each type.
//!
//! Numbers stay numbers, keeping a numeric's scale, except NaN and the
//! infinities, which become strings. Floats go through their shortest text,
//! as PostgreSQL's `float8out` then `numeric_in` do. Dates and timestamps
//! use ISO 8601 with a `T` (`"2024-01-02T03:04:05+00:00"`), `timestamptz` in
//! UTC. Other types become their text output as a string. As object keys,
//! values become their text output, and json or jsonb keys are an error.

use std::borrow::Cow;

use super::format::{
    check_string, encode, encode_value, sorted_unique_pairs, tag, Node, OpenContainer,
};
use super::{Jsonb, JsonbError, JsonbRef, FORMAT_V1, MAX_CONTAINER_BYTES};
use crate::datum::{DataType, Datum, Numeric, RecordType, USECS_PER_DAY};

/// `to_jsonb`: converts one SQL value. SQL NULL becomes JSON `null`. (The
/// SQL function is strict, so the caller returns NULL for NULL instead.)
pub fn to_jsonb(value: &Datum) -> Result<Jsonb, JsonbError> {
    encode(&datum_node(value)?)
}

/// `to_jsonb` of a value of type `ty`: as [`to_jsonb`], with a record's
/// fields named as its type names them (`to_jsonb(t)` of a table row).
pub fn to_jsonb_typed(value: &Datum, ty: &DataType) -> Result<Jsonb, JsonbError> {
    encode(&typed_node(value, ty)?)
}

/// `jsonb_build_object(VARIADIC "any")`: alternating keys and values. Keys
/// must not be NULL, json or jsonb; later duplicates win.
pub fn build_object(args: &[Datum]) -> Result<Jsonb, JsonbError> {
    if !args.len().is_multiple_of(2) {
        return Err(JsonbError::InvalidParameter {
            message: "argument list must have even number of elements".to_owned(),
            hint: Some(
                "The arguments of jsonb_build_object() must consist of alternating keys and values.",
            ),
        });
    }
    let mut pairs = Vec::with_capacity(args.len() / 2);
    for (i, pair) in args.chunks_exact(2).enumerate() {
        if pair[0].is_null() {
            return Err(JsonbError::NullKey {
                position: 2 * i + 1,
            });
        }
        pairs.push((key_text(&pair[0])?, datum_node(&pair[1])?));
    }
    encode(&Node::Object(pairs))
}

/// `jsonb_build_array(VARIADIC "any")`.
pub fn build_array(args: &[Datum]) -> Result<Jsonb, JsonbError> {
    let items = args.iter().map(datum_node).collect::<Result<Vec<_>, _>>()?;
    encode(&Node::Array(items))
}

/// The state of `jsonb_agg`: the array being built, encoded as values
/// arrive.
#[derive(Debug)]
pub struct ArrayAgg {
    /// The document so far: version, array tag, the elements.
    out: Vec<u8>,
    /// Where each element ends, relative to the first element.
    ends: Vec<usize>,
}

/// Where the array tag sits in an [`ArrayAgg`]'s output.
const AGG_TAG_AT: usize = 1;

impl Default for ArrayAgg {
    fn default() -> ArrayAgg {
        ArrayAgg::new()
    }
}

impl ArrayAgg {
    /// Starts an empty aggregate.
    pub fn new() -> ArrayAgg {
        ArrayAgg {
            out: vec![FORMAT_V1, tag::ARRAY],
            ends: Vec::new(),
        }
    }

    /// Adds one row's value; SQL NULL becomes JSON `null`. On error the
    /// aggregate is unchanged.
    pub fn push(&mut self, value: &Datum) -> Result<(), JsonbError> {
        self.push_node(datum_node(value)?)
    }

    /// Adds one row's value of type `ty`: as [`ArrayAgg::push`], with a
    /// record's fields named as its type names them (`jsonb_agg(t)`).
    pub fn push_typed(&mut self, value: &Datum, ty: &DataType) -> Result<(), JsonbError> {
        self.push_node(typed_node(value, ty)?)
    }

    fn push_node(&mut self, node: Node<'_>) -> Result<(), JsonbError> {
        let mark = self.out.len();
        let result = encode_value(&node, &mut self.out, 1).and_then(|()| {
            let end = self.out.len() - (AGG_TAG_AT + 1);
            if end > MAX_CONTAINER_BYTES {
                return Err(JsonbError::TooLarge {
                    what: "array",
                    max: MAX_CONTAINER_BYTES,
                });
            }
            Ok(end)
        });
        match result {
            Ok(end) => {
                self.ends.push(end);
                Ok(())
            }
            Err(e) => {
                self.out.truncate(mark);
                Err(e)
            }
        }
    }

    /// Returns the array, or `None` (SQL NULL) if no rows were added, as
    /// `jsonb_agg` over no rows returns NULL.
    pub fn finish(self) -> Option<Jsonb> {
        if self.ends.is_empty() {
            return None;
        }
        let ArrayAgg { mut out, ends } = self;
        OpenContainer::resume(&out, AGG_TAG_AT, ends).finish(&mut out);
        Some(Jsonb::from_encoded(out))
    }
}

/// The state of `jsonb_object_agg`: keys and encoded values as they arrive;
/// the object is sorted and de-duplicated (last key wins) at the end.
#[derive(Debug, Default)]
pub struct ObjectAgg {
    keys: Vec<String>,
    /// The encoded values, back to back.
    values: Vec<u8>,
    value_ends: Vec<usize>,
}

impl ObjectAgg {
    /// Starts an empty aggregate.
    pub fn new() -> ObjectAgg {
        ObjectAgg::default()
    }

    /// Adds one row's pair. The key must not be NULL, json or jsonb; a NULL
    /// value becomes JSON `null`. On error the aggregate is unchanged.
    pub fn push(&mut self, key: &Datum, value: &Datum) -> Result<(), JsonbError> {
        if key.is_null() {
            return Err(JsonbError::NullFieldName);
        }
        let key = key_text(key)?;
        check_string(&key)?;
        let node = datum_node(value)?;
        let mark = self.values.len();
        if let Err(e) = encode_value(&node, &mut self.values, 1) {
            self.values.truncate(mark);
            return Err(e);
        }
        self.keys.push(key.into_owned());
        self.value_ends.push(self.values.len());
        Ok(())
    }

    /// Returns the object, or `None` (SQL NULL) if no rows were added.
    pub fn finish(self) -> Result<Option<Jsonb>, JsonbError> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let pairs: Vec<(Cow<'_, str>, usize)> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, key)| (Cow::Borrowed(key.as_str()), i))
            .collect();
        let kept = sorted_unique_pairs(&pairs);
        let mut out = vec![FORMAT_V1];
        let mut object = OpenContainer::start(&mut out, tag::OBJECT);
        for &i in &kept {
            out.extend_from_slice(self.keys[i].as_bytes());
            object.end_child(&out)?;
        }
        object.end_keys(&out);
        for &i in &kept {
            let start = if i == 0 { 0 } else { self.value_ends[i - 1] };
            out.extend_from_slice(&self.values[start..self.value_ends[i]]);
            object.end_child(&out)?;
        }
        object.finish(&mut out);
        Ok(Some(Jsonb::from_encoded(out)))
    }
}

/// Converts a datum to a node, as PostgreSQL's `datum_to_jsonb` with
/// `key_scalar = false`.
fn datum_node(value: &Datum) -> Result<Node<'_>, JsonbError> {
    let string = |text: String| Node::String(Cow::Owned(text));
    Ok(match value {
        Datum::Null => Node::Null,
        Datum::Bool(b) => Node::Bool(*b),
        Datum::Int2(v) => Node::Number(Cow::Owned(v.to_string())),
        Datum::Int4(v) => Node::Number(Cow::Owned(v.to_string())),
        Datum::Int8(v) => Node::Number(Cow::Owned(v.to_string())),
        Datum::Float4(v) => float_node(f64::from(*v), v.to_string()),
        Datum::Float8(v) => float_node(*v, v.to_string()),
        Datum::Numeric(n) if n.is_finite() => Node::number(n),
        Datum::Numeric(n) => string(n.to_string()),
        Datum::Text(text) => Node::String(Cow::Borrowed(text)),
        Datum::Json(text) => super::parse::parse(text)?,
        Datum::Jsonb(bytes) => Node::Raw(JsonbRef::from_document(bytes)?),
        Datum::Bytea(bytes) => string(bytea_text(bytes)),
        Datum::Date(days) => string(format_date(*days)),
        Datum::Timestamp(micros) => string(format_timestamp(*micros, false)),
        Datum::TimestampTz(micros) => string(format_timestamp(*micros, true)),
        &Datum::Interval {
            months,
            days,
            micros,
        } => string(format_interval(months, days, micros)),
        Datum::Uuid(uuid) => string(uuid_text(uuid)),
        // `oid` is in jsonb's numeric category; the `reg*` types, which
        // share the datum, would print names in PostgreSQL.
        Datum::Oid(v) => Node::Number(Cow::Owned(v.to_string())),
        Datum::Array(array) => Node::Array(
            array
                .items()
                .iter()
                .map(datum_node)
                .collect::<Result<_, _>>()?,
        ),
        Datum::Record(fields) => record_node(fields, None)?,
    })
}

/// Converts a datum of type `ty` to a node: as [`datum_node`], with a
/// record's fields named as its type names them.
fn typed_node<'a>(value: &'a Datum, ty: &DataType) -> Result<Node<'a>, JsonbError> {
    match (value, ty) {
        (Datum::Record(fields), DataType::Record(rt)) => record_node(fields, Some(rt)),
        _ => datum_node(value),
    }
}

/// A record as an object (`composite_to_jsonb`): its fields by name, or
/// `f1`, `f2`, ... (the names of `ROW(...)`) when the type is not known.
fn record_node<'a>(fields: &'a [Datum], ty: Option<&RecordType>) -> Result<Node<'a>, JsonbError> {
    let named = ty.filter(|t| t.fields.len() == fields.len());
    let mut pairs = Vec::with_capacity(fields.len());
    for (i, value) in fields.iter().enumerate() {
        pairs.push(match named {
            Some(t) => (
                Cow::Owned(t.fields[i].name.clone()),
                typed_node(value, &t.fields[i].ty)?,
            ),
            None => (Cow::Owned(format!("f{}", i + 1)), datum_node(value)?),
        });
    }
    Ok(Node::Object(pairs))
}

/// A float as `numeric_in(float8out(v))`: the shortest text that reads back
/// as the same float, kept as a number; NaN and the infinities as strings.
fn float_node(value: f64, shortest: String) -> Node<'static> {
    if !value.is_finite() {
        return Node::String(Cow::Owned(pg_float_special(value).to_owned()));
    }
    let number: Numeric = shortest
        .parse()
        .expect("Rust prints a finite float as plain decimal digits");
    Node::number(&number)
}

fn pg_float_special(value: f64) -> &'static str {
    if value.is_nan() {
        "NaN"
    } else if value > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// Converts a datum to an object key, as `datum_to_jsonb` with
/// `key_scalar = true`: its text output.
fn key_text(value: &Datum) -> Result<Cow<'_, str>, JsonbError> {
    Ok(Cow::Owned(match value {
        Datum::Null => return Err(JsonbError::NullFieldName),
        Datum::Json(_) | Datum::Jsonb(_) | Datum::Array(_) | Datum::Record(_) => {
            return Err(JsonbError::NonScalarKey)
        }
        Datum::Oid(v) => v.to_string(),
        Datum::Text(text) => return Ok(Cow::Borrowed(text)),
        Datum::Bool(b) => b.to_string(),
        Datum::Int2(v) => v.to_string(),
        Datum::Int4(v) => v.to_string(),
        Datum::Int8(v) => v.to_string(),
        Datum::Float4(v) => float_out(f64::from(*v), format!("{v:e}"), FLT_DIG),
        Datum::Float8(v) => float_out(*v, format!("{v:e}"), DBL_DIG),
        Datum::Numeric(n) => n.to_string(),
        Datum::Bytea(bytes) => bytea_text(bytes),
        Datum::Date(days) => format_date(*days),
        Datum::Timestamp(micros) => format_timestamp(*micros, false),
        Datum::TimestampTz(micros) => format_timestamp(*micros, true),
        &Datum::Interval {
            months,
            days,
            micros,
        } => format_interval(months, days, micros),
        Datum::Uuid(uuid) => uuid_text(uuid),
    }))
}

/// `byteaout` with `bytea_output = hex`: `\x01ff`.
fn bytea_text(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(2 + 2 * bytes.len());
    text.push_str("\\x");
    for b in bytes {
        text.push_str(&format!("{b:02x}"));
    }
    text
}

/// `uuid_out`: lowercase, hyphenated.
fn uuid_text(uuid: &[u8; 16]) -> String {
    let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// C's `DBL_DIG` and `FLT_DIG`: where `float8out` and `float4out` switch to
/// exponent notation.
const DBL_DIG: i32 = 15;
const FLT_DIG: i32 = 6;

/// Prints a float as PostgreSQL's `float8out` (`float4out` with `digits =
/// FLT_DIG`) does with `extra_float_digits = 1`: the shortest digits that
/// read back exactly, in `%g` style, `1e+20`, `1.5e-07`, `0.0001`.
/// `scientific` is Rust's `{:e}` of the value, which has the same shortest
/// digits.
fn float_out(value: f64, scientific: String, digits: i32) -> String {
    if !value.is_finite() {
        return pg_float_special(value).to_owned();
    }
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("Rust's {:e} has an exponent");
    let exponent: i32 = exponent
        .parse()
        .expect("Rust's {:e} exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits_text: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if value == 0.0 {
        return format!("{sign}0");
    }
    if exponent < -4 || exponent >= digits {
        let (first, rest) = digits_text.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{sign}{first}{point}{rest}e{exponent_sign}{:02}",
            exponent.unsigned_abs()
        );
    }
    let mut text = String::from(sign);
    if exponent < 0 {
        text.push_str("0.");
        text.extend(std::iter::repeat_n(
            '0',
            exponent.unsigned_abs() as usize - 1,
        ));
        text.push_str(&digits_text);
    } else {
        let int_len = usize::try_from(exponent).expect("exponent is not negative") + 1;
        if digits_text.len() <= int_len {
            text.push_str(&digits_text);
            text.extend(std::iter::repeat_n('0', int_len - digits_text.len()));
        } else {
            text.push_str(&digits_text[..int_len]);
            text.push('.');
            text.push_str(&digits_text[int_len..]);
        }
    }
    text
}

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const UNIX_TO_POSTGRES_EPOCH_DAYS: i64 = 10_957;

/// Returns the proleptic Gregorian (year, month, day) of a day count from
/// 1970-01-01; year 0 is 1 BC. Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("day of month is 1..=31");
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).expect("month is 1..=12");
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes `YYYY-MM-DD` with PostgreSQL's BC numbering; returns whether the
/// year is BC, so the caller can append ` BC` at the very end.
fn push_date(text: &mut String, days_since_2000: i64) -> bool {
    let (year, month, day) = civil_from_days(days_since_2000 + UNIX_TO_POSTGRES_EPOCH_DAYS);
    let bc = year <= 0;
    let shown = if bc { 1 - year } else { year };
    text.push_str(&format!("{shown:04}-{month:02}-{day:02}"));
    bc
}

/// Formats a `date` as `JsonEncodeDateTime`: `2024-01-02`, `0044-03-15 BC`,
/// `infinity`.
fn format_date(days: i32) -> String {
    match days {
        i32::MIN => "-infinity".to_owned(),
        i32::MAX => "infinity".to_owned(),
        _ => {
            let mut text = String::new();
            if push_date(&mut text, i64::from(days)) {
                text.push_str(" BC");
            }
            text
        }
    }
}

/// Formats a `timestamp` or (in UTC) `timestamptz` as `JsonEncodeDateTime`:
/// `2024-01-02T03:04:05.5+00:00`.
fn format_timestamp(micros: i64, with_zone: bool) -> String {
    match micros {
        i64::MIN => return "-infinity".to_owned(),
        i64::MAX => return "infinity".to_owned(),
        _ => {}
    }
    let days = micros.div_euclid(USECS_PER_DAY);
    let time = micros.rem_euclid(USECS_PER_DAY);
    let mut text = String::new();
    let bc = push_date(&mut text, days);
    let seconds = time / 1_000_000;
    text.push_str(&format!(
        "T{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    ));
    push_fraction(&mut text, time % 1_000_000);
    if with_zone {
        text.push_str("+00:00");
    }
    if bc {
        text.push_str(" BC");
    }
    text
}

/// Appends `.ffffff` without trailing zeros, nothing for zero, as
/// PostgreSQL's `AppendSeconds`.
fn push_fraction(text: &mut String, micros: i64) {
    if micros != 0 {
        let digits = format!(".{:06}", micros.unsigned_abs());
        text.push_str(digits.trim_end_matches('0'));
    }
}

/// Formats an interval as `interval_out` with `IntervalStyle = postgres`:
/// `1 year 2 mons -3 days +04:05:06.5`.
fn format_interval(months: i32, days: i32, micros: i64) -> String {
    let mut text = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    let mut add_part = |text: &mut String, value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        let space = if is_zero { "" } else { " " };
        let plus = if is_before && value > 0 { "+" } else { "" };
        let plural = if value != 1 { "s" } else { "" };
        text.push_str(&format!("{space}{plus}{value} {unit}{plural}"));
        is_before = value < 0;
        is_zero = false;
    };
    add_part(&mut text, i64::from(months / 12), "year");
    add_part(&mut text, i64::from(months % 12), "mon");
    add_part(&mut text, i64::from(days), "day");
    let hours = micros / 3_600_000_000;
    let minutes = micros / 60_000_000 % 60;
    let seconds = micros / 1_000_000 % 60;
    let fraction = micros % 1_000_000;
    if is_zero || micros != 0 {
        let negative = hours < 0 || minutes < 0 || seconds < 0 || fraction < 0;
        let space = if is_zero { "" } else { " " };
        let sign = if negative {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        };
        text.push_str(&format!(
            "{space}{sign}{:02}:{:02}:{:02}",
            hours.unsigned_abs(),
            minutes.unsigned_abs(),
            seconds.unsigned_abs()
        ));
        push_fraction(&mut text, fraction);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_float8out() {
        // `SELECT v::float8::text` in PostgreSQL 15.
        let cases = [
            (1e20, "1e+20"),
            (1.5e-7, "1.5e-07"),
            (123_456_789_012_345_678.0, "1.2345678901234568e+17"),
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (-0.0, "-0"),
            (0.0, "0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (value, expected) in cases {
            assert_eq!(
                float_out(value, format!("{value:e}"), DBL_DIG),
                expected,
                "{value}"
            );
        }
        for (value, expected) in [
            (1e6f32, "1e+06"),
            (1e5, "100000"),
            (1.5e-5, "1.5e-05"),
            (3.4e38, "3.4e+38"),
        ] {
            assert_eq!(
                float_out(f64::from(value), format!("{value:e}"), FLT_DIG),
                expected
            );
        }
    }

    #[test]
    fn dates_and_times_print_as_postgres() {
        assert_eq!(format_date(0), "2000-01-01");
        assert_eq!(format_date(8767), "2024-01-02");
        assert_eq!(format_date(-730_119), "0001-01-01");
        assert_eq!(format_date(-730_120), "0001-12-31 BC");
        assert_eq!(format_date(2_921_940), "10000-01-01");
        assert_eq!(format_date(i32::MIN), "-infinity");
        let t = 8767 * USECS_PER_DAY + ((3 * 60 + 4) * 60 + 5) * 1_000_000;
        assert_eq!(format_timestamp(t, true), "2024-01-02T03:04:05+00:00");
        assert_eq!(
            format_timestamp(t + 500_000, false),
            "2024-01-02T03:04:05.5"
        );
        assert_eq!(
            format_timestamp(t + 123_456, false),
            "2024-01-02T03:04:05.123456"
        );
        assert_eq!(format_timestamp(-1, false), "1999-12-31T23:59:59.999999");
        assert_eq!(format_timestamp(i64::MAX, true), "infinity");
    }

    #[test]
    fn intervals_print_as_postgres() {
        let hms = |h: i64, m: i64, s: i64| ((h * 60 + m) * 60 + s) * 1_000_000;
        let cases = [
            ((0, 0, 0), "00:00:00"),
            ((1, 0, 0), "1 mon"),
            ((14, 3, 0), "1 year 2 mons 3 days"),
            (
                (-14, 3, -(hms(4, 5, 6) + 700_000)),
                "-1 years -2 mons +3 days -04:05:06.7",
            ),
            ((0, -1, hms(2, 0, 0)), "-1 days +02:00:00"),
            ((0, 0, hms(25, 0, 0)), "25:00:00"),
            ((0, 1, 1), "1 day 00:00:00.000001"),
        ];
        for ((months, days, micros), expected) in cases {
            assert_eq!(format_interval(months, days, micros), expected);
        }
    }
}

//! Binary wire formats of the types the engine has, converted to and from
//! the text forms the SQL session speaks.
//!
//! The session takes parameters and returns values as PostgreSQL text (what
//! `psql` prints). Drivers such as tokio-postgres and asyncpg send parameters
//! and ask for results in the binary format instead, so the protocol layer
//! translates at the edge: a binary parameter becomes its text form before
//! `Session::execute`, and a text result becomes its binary form when the
//! Bind message asked for it. The binary layouts are PostgreSQL's `*send`
//! and `*recv` functions (`src/backend/utils/adt/`); the text forms are
//! PostgreSQL's output with `DateStyle = ISO`, `IntervalStyle = postgres`,
//! `bytea_output = hex` and `extra_float_digits = 1`.
//!
//! Which types have a binary form here is decided once, by [`has_binary`],
//! so Bind rejects an unsupported request before anything runs. The `reg*`
//! types have none: their text is a catalog object's name, which this layer
//! cannot turn into an OID.
//!
//! Arrays, `int2vector` and `oidvector` use `array_send`'s layout: the
//! number of dimensions, a has-NULLs flag, the element type's OID, then
//! each dimension's length and lower bound, then each element as a length
//! (-1 for NULL) and the element's binary form. Only one dimension exists
//! here.

use std::fmt::Write as _;

use bytes::{Buf, BufMut, BytesMut};

use crate::datum::{DataType, Oid};
use crate::pgtext;

/// Type OIDs (`src/include/catalog/pg_type.dat`).
pub mod oid {
    #![allow(missing_docs)]
    pub const UNSPECIFIED: u32 = 0;
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const CHAR: u32 = 18;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const UNKNOWN: u32 = 705;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
    pub const INT2VECTOR: u32 = 22;
    pub const OIDVECTOR: u32 = 30;
}

/// The element type of an array type, `int2vector` or `oidvector` the
/// engine has, by OID.
fn elem_oid(type_oid: u32) -> Option<u32> {
    DataType::from_oid(Oid(type_oid))
        .and_then(DataType::elem)
        .map(|elem| elem.oid().0)
}

/// Whether `type_oid` is `int2vector` or `oidvector`, whose text is
/// space-separated and whose lower bound is always 0.
fn is_vector(type_oid: u32) -> bool {
    matches!(type_oid, oid::INT2VECTOR | oid::OIDVECTOR)
}

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_UNIX_DAYS: i64 = 10_957;
const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_DAY: i64 = 86_400 * USECS_PER_SEC;
/// `jsonb`'s binary format version (`jsonb_send`).
const JSONB_VERSION: u8 = 1;
/// Numeric sign words (`src/backend/utils/adt/numeric.c`).
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
/// Most base-10000 digits a binary numeric may carry: PostgreSQL's
/// `NUMERIC_MAX_PRECISION`-independent limit from the int16 weight, plus the
/// maximum display scale, in groups of four.
const NUMERIC_DIGITS_MAX: usize = (131_072 + 16_383) / 4 + 2;
/// `NUMERIC_DSCALE_MAX`.
const NUMERIC_DSCALE_MAX: u16 = 0x3FFF;

/// Why a value could not be converted. The caller turns it into an
/// ErrorResponse: a bad client parameter is 22P03, a session value that does
/// not parse is an internal error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, FormatError> {
    Err(FormatError(msg.into()))
}

/// Whether values of this type can be sent and received in binary.
pub fn has_binary(type_oid: u32) -> bool {
    matches!(
        type_oid,
        oid::BOOL
            | oid::BYTEA
            | oid::CHAR
            | oid::NAME
            | oid::INT8
            | oid::INT2
            | oid::INT4
            | oid::TEXT
            | oid::OID
            | oid::JSON
            | oid::FLOAT4
            | oid::FLOAT8
            | oid::UNKNOWN
            | oid::BPCHAR
            | oid::VARCHAR
            | oid::DATE
            | oid::TIME
            | oid::TIMESTAMP
            | oid::TIMESTAMPTZ
            | oid::INTERVAL
            | oid::NUMERIC
            | oid::UUID
            | oid::JSONB
    ) || elem_oid(type_oid).is_some_and(has_binary)
}

/// The `pg_type.typname` of a type, for messages.
pub fn type_name(type_oid: u32) -> String {
    let name = match type_oid {
        oid::UNSPECIFIED => "unspecified",
        oid::BOOL => "boolean",
        oid::BYTEA => "bytea",
        oid::CHAR => "\"char\"",
        oid::NAME => "name",
        oid::INT8 => "bigint",
        oid::INT2 => "smallint",
        oid::INT4 => "integer",
        oid::TEXT => "text",
        oid::OID => "oid",
        oid::JSON => "json",
        oid::FLOAT4 => "real",
        oid::FLOAT8 => "double precision",
        oid::UNKNOWN => "unknown",
        oid::BPCHAR => "character",
        oid::VARCHAR => "character varying",
        oid::DATE => "date",
        oid::TIME => "time without time zone",
        oid::TIMESTAMP => "timestamp without time zone",
        oid::TIMESTAMPTZ => "timestamp with time zone",
        oid::INTERVAL => "interval",
        oid::NUMERIC => "numeric",
        oid::UUID => "uuid",
        oid::JSONB => "jsonb",
        other => {
            return match DataType::from_oid(Oid(other)) {
                Some(ty) => ty.format_type(),
                None => format!("type with OID {other}"),
            }
        }
    };
    name.to_owned()
}

// ---------------------------------------------------------------------------
// Binary → text (Bind parameters).

/// The text form of a binary parameter of type `type_oid`.
pub fn binary_to_text(type_oid: u32, b: &[u8]) -> Result<String, FormatError> {
    match type_oid {
        oid::BOOL => match b {
            [0] => Ok("f".into()),
            [1] => Ok("t".into()),
            _ => err("a boolean is one byte, 0 or 1"),
        },
        oid::INT2 => Ok(i16::from_be_bytes(fixed(b)?).to_string()),
        oid::INT4 => Ok(i32::from_be_bytes(fixed(b)?).to_string()),
        oid::INT8 => Ok(i64::from_be_bytes(fixed(b)?).to_string()),
        oid::OID => Ok(u32::from_be_bytes(fixed(b)?).to_string()),
        oid::FLOAT4 => Ok(float_text(f64::from(f32::from_be_bytes(fixed(b)?)), true)),
        oid::FLOAT8 => Ok(float_text(f64::from_be_bytes(fixed(b)?), false)),
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN | oid::JSON => utf8(b),
        // `charrecv`: one byte, printed as `charout` prints it.
        oid::CHAR => Ok(pgtext::char_text(u8::from_be_bytes(fixed(b)?))),
        oid::JSONB => match b.split_first() {
            Some((&JSONB_VERSION, rest)) => utf8(rest),
            Some((v, _)) => err(format!("unsupported jsonb version number {v}")),
            None => err("a jsonb value starts with its version byte"),
        },
        oid::BYTEA => {
            let mut s = String::with_capacity(2 + 2 * b.len());
            s.push_str("\\x");
            for byte in b {
                let _ = write!(s, "{byte:02x}");
            }
            Ok(s)
        }
        oid::UUID => {
            let u: [u8; 16] = fixed(b)?;
            let mut s = String::with_capacity(36);
            for (i, byte) in u.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    s.push('-');
                }
                let _ = write!(s, "{byte:02x}");
            }
            Ok(s)
        }
        oid::DATE => Ok(date_text(i32::from_be_bytes(fixed(b)?))),
        oid::TIME => {
            let us = i64::from_be_bytes(fixed(b)?);
            if !(0..=USECS_PER_DAY).contains(&us) {
                return err("time out of range");
            }
            let mut s = String::new();
            time_of_day_text(&mut s, us);
            Ok(s)
        }
        oid::TIMESTAMP => Ok(timestamp_text(i64::from_be_bytes(fixed(b)?), false)),
        oid::TIMESTAMPTZ => Ok(timestamp_text(i64::from_be_bytes(fixed(b)?), true)),
        oid::INTERVAL => {
            let raw: [u8; 16] = fixed(b)?;
            let micros = i64::from_be_bytes(raw[0..8].try_into().expect("8 bytes"));
            let days = i32::from_be_bytes(raw[8..12].try_into().expect("4 bytes"));
            let months = i32::from_be_bytes(raw[12..16].try_into().expect("4 bytes"));
            Ok(interval_text(months, days, micros))
        }
        oid::NUMERIC => numeric_binary_to_text(b),
        other => match elem_oid(other) {
            Some(elem) => array_binary_to_text(other, elem, b),
            None => err(format!("no binary input for {}", type_name(other))),
        },
    }
}

/// Most dimensions `array_recv` accepts (`MAXDIM`).
const ARRAY_DIMENSIONS_MAX: i32 = 6;

/// `array_recv` (and `int2vectorrecv`, `oidvectorrecv`), to the text
/// `array_out` would print.
fn array_binary_to_text(type_oid: u32, elem: u32, mut b: &[u8]) -> Result<String, FormatError> {
    let word = |b: &mut &[u8]| -> Result<i32, FormatError> {
        if b.len() < 4 {
            return err("insufficient data left in message");
        }
        Ok(b.get_i32())
    };
    let ndim = word(&mut b)?;
    let flags = word(&mut b)?;
    let elem_type = word(&mut b)? as u32;
    if !(0..=ARRAY_DIMENSIONS_MAX).contains(&ndim) {
        return err(format!("invalid number of dimensions: {ndim}"));
    }
    if flags != 0 && flags != 1 {
        return err("invalid array flags");
    }
    if elem_type != elem {
        return err(format!(
            "binary data has array element type {elem_type} ({}) instead of expected {elem} ({})",
            type_name(elem_type),
            type_name(elem)
        ));
    }
    if ndim > 1 {
        return err("multidimensional arrays are not supported yet");
    }
    let (len, lower_bound) = if ndim == 0 {
        (0, 1)
    } else {
        (word(&mut b)?, word(&mut b)?)
    };
    let len = usize::try_from(len).map_err(|_| FormatError("invalid array dimension".into()))?;
    if len > crate::datum::ARRAY_MAX_ITEMS || len > b.len() / 4 {
        return err("array size exceeds the data sent");
    }
    if crate::datum::Array::upper_bound_of(lower_bound, len).is_none() {
        return err(format!("array lower bound is too large: {lower_bound}"));
    }
    if is_vector(type_oid) && (ndim != 1 || flags != 0 || lower_bound != 0) {
        return err(format!("invalid {} data", type_name(type_oid)));
    }
    let mut items: Vec<Option<String>> = Vec::with_capacity(len);
    for i in 0..len {
        let item_len = word(&mut b)?;
        if item_len == -1 {
            if is_vector(type_oid) {
                return err(format!("invalid {} data", type_name(type_oid)));
            }
            items.push(None);
            continue;
        }
        let item_len = usize::try_from(item_len)
            .ok()
            .filter(|&n| n <= b.len())
            .ok_or_else(|| FormatError("insufficient data left in message".into()))?;
        let (bytes, rest) = b.split_at(item_len);
        b = rest;
        let text = binary_to_text(elem, bytes).map_err(|e| {
            FormatError(format!(
                "improper binary format in array element {}: {}",
                i + 1,
                e.0
            ))
        })?;
        items.push(Some(text));
    }
    if !b.is_empty() {
        return err("incorrect binary data format");
    }
    if is_vector(type_oid) {
        return Ok(items.into_iter().flatten().collect::<Vec<_>>().join(" "));
    }
    Ok(pgtext::join_array(
        lower_bound,
        items.iter().map(Option::as_deref),
    ))
}

fn fixed<const N: usize>(b: &[u8]) -> Result<[u8; N], FormatError> {
    b.try_into()
        .map_err(|_| FormatError(format!("expected {N} bytes, got {}", b.len())))
}

fn utf8(b: &[u8]) -> Result<String, FormatError> {
    match std::str::from_utf8(b) {
        Ok(s) if !s.contains('\0') => Ok(s.to_owned()),
        Ok(_) => err("invalid byte sequence for encoding \"UTF8\": 0x00"),
        Err(e) => err(format!(
            "invalid byte sequence for encoding \"UTF8\" at byte {}",
            e.valid_up_to()
        )),
    }
}

/// A float as text that reads back to the same value: the shortest
/// round-trip digits, laid out as PostgreSQL's `float8out` does (exponent
/// form below 1e-4 and from 1e15, 1e6 for `real`), with its spellings of the
/// special values.
fn float_text(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // Print a `real` as f32 so 0.1f32 reads "0.1", not its f64 widening.
    let sci = if single {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let digits_max = if single { 6 } else { 15 };
    if v != 0.0 && (exp < -4 || exp >= digits_max) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else if single {
        format!("{}", v as f32)
    } else {
        format!("{v}")
    }
}

/// (year, month, day) of a day count since 1970-01-01, proleptic Gregorian
/// (Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn push_ymd(s: &mut String, days_since_2000: i64) -> bool {
    let (y, m, d) = civil_from_days(days_since_2000 + PG_EPOCH_UNIX_DAYS);
    // Year 0 is 1 BC in PostgreSQL's output.
    let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    let _ = write!(s, "{year:04}-{m:02}-{d:02}");
    bc
}

fn date_text(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        _ => {
            let mut s = String::with_capacity(13);
            if push_ymd(&mut s, i64::from(days)) {
                s.push_str(" BC");
            }
            s
        }
    }
}

fn time_of_day_text(s: &mut String, us: i64) {
    let secs = us / USECS_PER_SEC;
    let frac = us % USECS_PER_SEC;
    let _ = write!(
        s,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    push_fraction(s, frac);
}

/// `.ffffff` with trailing zeros trimmed, nothing when zero.
fn push_fraction(s: &mut String, frac_us: i64) {
    if frac_us != 0 {
        let digits = format!("{:06}", frac_us.abs());
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
}

fn timestamp_text(us: i64, with_zone: bool) -> String {
    match us {
        i64::MAX => "infinity".into(),
        i64::MIN => "-infinity".into(),
        _ => {
            let days = us.div_euclid(USECS_PER_DAY);
            let tod = us.rem_euclid(USECS_PER_DAY);
            let mut s = String::with_capacity(32);
            let bc = push_ymd(&mut s, days);
            s.push(' ');
            time_of_day_text(&mut s, tod);
            if with_zone {
                // Binary timestamptz is UTC; the session parses the offset.
                s.push_str("+00");
            }
            if bc {
                s.push_str(" BC");
            }
            s
        }
    }
}

/// An interval as PostgreSQL prints it with `IntervalStyle = postgres`.
fn interval_text(months: i32, days: i32, micros: i64) -> String {
    let mut s = String::new();
    let mut prev_negative = false;
    let mut any = false;
    let years = months / 12;
    let mons = months % 12;
    for (v, unit) in [
        (i64::from(years), "year"),
        (i64::from(mons), "mon"),
        (i64::from(days), "day"),
    ] {
        if v == 0 {
            continue;
        }
        if any {
            s.push(' ');
        }
        let plus = if prev_negative && v > 0 { "+" } else { "" };
        let _ = write!(s, "{plus}{v} {unit}{}", if v == 1 { "" } else { "s" });
        prev_negative = v < 0;
        any = true;
    }
    if micros != 0 || !any {
        if any {
            s.push(' ');
        }
        let sign = if micros < 0 {
            "-"
        } else if prev_negative {
            "+"
        } else {
            ""
        };
        let abs = micros.unsigned_abs();
        let secs = abs / 1_000_000;
        let frac = (abs % 1_000_000) as i64;
        let _ = write!(
            s,
            "{sign}{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        push_fraction(&mut s, frac);
    }
    s
}

fn numeric_binary_to_text(b: &[u8]) -> Result<String, FormatError> {
    if b.len() < 8 {
        return err("a numeric has an 8-byte header");
    }
    let ndigits = i16::from_be_bytes([b[0], b[1]]);
    let weight = i16::from_be_bytes([b[2], b[3]]);
    let sign = u16::from_be_bytes([b[4], b[5]]);
    let dscale = u16::from_be_bytes([b[6], b[7]]);
    match sign {
        NUMERIC_NAN => return Ok("NaN".into()),
        NUMERIC_PINF => return Ok("Infinity".into()),
        NUMERIC_NINF => return Ok("-Infinity".into()),
        NUMERIC_POS | NUMERIC_NEG => {}
        _ => return err("invalid sign in external \"numeric\" value"),
    }
    if ndigits < 0 || (ndigits as usize) > NUMERIC_DIGITS_MAX {
        return err("invalid length in external \"numeric\" value");
    }
    if dscale > NUMERIC_DSCALE_MAX {
        return err("invalid scale in external \"numeric\" value");
    }
    let n = ndigits as usize;
    if b.len() != 8 + 2 * n {
        return err("invalid length in external \"numeric\" value");
    }
    let mut digits = Vec::with_capacity(n);
    for i in 0..n {
        let d = i16::from_be_bytes([b[8 + 2 * i], b[9 + 2 * i]]);
        if !(0..10_000).contains(&d) {
            return err("invalid digit in external \"numeric\" value");
        }
        digits.push(d);
    }
    let digit_at = |i: i64| -> i16 {
        if i >= 0 && (i as usize) < n {
            digits[i as usize]
        } else {
            0
        }
    };
    let weight = i64::from(weight);
    let mut s = String::new();
    if sign == NUMERIC_NEG && digits.iter().any(|&d| d != 0) {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for i in 0..=weight {
            let d = digit_at(i);
            if i == 0 {
                let _ = write!(s, "{d}");
            } else {
                let _ = write!(s, "{d:04}");
            }
        }
    }
    if dscale > 0 {
        s.push('.');
        let mut frac = String::new();
        let mut i = weight + 1;
        while frac.len() < usize::from(dscale) {
            let _ = write!(frac, "{:04}", digit_at(i));
            i += 1;
        }
        frac.truncate(usize::from(dscale));
        s.push_str(&frac);
    }
    Ok(s)
}

// ---------------------------------------------------------------------------
// Text → binary (results the client asked for in binary).

/// Appends the binary form of the text value `t` of type `type_oid`.
pub fn text_to_binary(type_oid: u32, t: &str, out: &mut BytesMut) -> Result<(), FormatError> {
    match type_oid {
        oid::BOOL => match t {
            "t" | "true" => out.put_u8(1),
            "f" | "false" => out.put_u8(0),
            _ => return err(format!("invalid boolean {t:?}")),
        },
        oid::INT2 => out.put_i16(parse_int(t)?),
        oid::INT4 => out.put_i32(parse_int(t)?),
        oid::INT8 => out.put_i64(parse_int(t)?),
        oid::OID => out.put_u32(parse_int(t)?),
        oid::FLOAT4 => out.put_f32(parse_float(t)? as f32),
        oid::FLOAT8 => out.put_f64(parse_float(t)?),
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN | oid::JSON => {
            out.put_slice(t.as_bytes())
        }
        oid::CHAR => out.put_u8(pgtext::char_byte(t)),
        oid::JSONB => {
            out.put_u8(JSONB_VERSION);
            out.put_slice(t.as_bytes());
        }
        oid::BYTEA => bytea_text_to_binary(t, out)?,
        oid::UUID => {
            let hex: Vec<u8> = t
                .bytes()
                .filter(|&c| c != b'-' && c != b'{' && c != b'}')
                .collect();
            if hex.len() != 32 {
                return err(format!("invalid uuid {t:?}"));
            }
            for pair in hex.chunks(2) {
                out.put_u8(hex_val(pair[0])? << 4 | hex_val(pair[1])?);
            }
        }
        oid::DATE => out.put_i32(parse_date(t)?),
        oid::TIME => out.put_i64(parse_time_of_day(t)?),
        oid::TIMESTAMP => out.put_i64(parse_timestamp(t, false)?),
        oid::TIMESTAMPTZ => out.put_i64(parse_timestamp(t, true)?),
        oid::INTERVAL => {
            let (months, days, micros) = parse_interval(t)?;
            out.put_i64(micros);
            out.put_i32(days);
            out.put_i32(months);
        }
        oid::NUMERIC => numeric_text_to_binary(t, out)?,
        other => match elem_oid(other) {
            Some(elem) => array_text_to_binary(other, elem, t, out)?,
            None => return err(format!("no binary output for {}", type_name(other))),
        },
    }
    Ok(())
}

/// `array_send` (and the vectors' send functions) of an array's text.
fn array_text_to_binary(
    type_oid: u32,
    elem: u32,
    t: &str,
    out: &mut BytesMut,
) -> Result<(), FormatError> {
    let literal = if is_vector(type_oid) {
        pgtext::ArrayLiteral {
            lower_bound: 0,
            items: t
                .split_ascii_whitespace()
                .map(|s| Some(s.to_owned()))
                .collect(),
        }
    } else {
        pgtext::split_array(t).map_err(|e| FormatError(e.to_string()))?
    };
    // A vector always has its one dimension, even when empty.
    let ndim = i32::from(is_vector(type_oid) || !literal.items.is_empty());
    out.put_i32(ndim);
    out.put_i32(i32::from(literal.items.iter().any(Option::is_none)));
    out.put_u32(elem);
    if ndim == 1 {
        out.put_i32(
            i32::try_from(literal.items.len())
                .map_err(|_| FormatError("array too large".into()))?,
        );
        out.put_i32(literal.lower_bound);
    }
    for item in &literal.items {
        match item {
            None => out.put_i32(-1),
            Some(text) => {
                let at = out.len();
                out.put_i32(0);
                text_to_binary(elem, text, out)?;
                let len = i32::try_from(out.len() - at - 4)
                    .map_err(|_| FormatError("array element too large".into()))?;
                out[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
    }
    Ok(())
}

fn parse_int<T: std::str::FromStr>(t: &str) -> Result<T, FormatError> {
    t.trim()
        .parse()
        .map_err(|_| FormatError(format!("invalid integer {t:?}")))
}

fn parse_float(t: &str) -> Result<f64, FormatError> {
    match t.trim() {
        "NaN" => Ok(f64::NAN),
        "Infinity" | "inf" => Ok(f64::INFINITY),
        "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
        s => s
            .parse()
            .map_err(|_| FormatError(format!("invalid float {t:?}"))),
    }
}

fn hex_val(c: u8) -> Result<u8, FormatError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => err(format!("invalid hexadecimal digit {:?}", c as char)),
    }
}

/// bytea text in the hex format (`\x0aff`) or the escape format.
fn bytea_text_to_binary(t: &str, out: &mut BytesMut) -> Result<(), FormatError> {
    let b = t.as_bytes();
    if let Some(hex) = t.strip_prefix("\\x") {
        let hex: Vec<u8> = hex.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        if !hex.len().is_multiple_of(2) {
            return err("invalid hexadecimal data: odd number of digits");
        }
        for pair in hex.chunks(2) {
            out.put_u8(hex_val(pair[0])? << 4 | hex_val(pair[1])?);
        }
        return Ok(());
    }
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.put_u8(b[i]);
            i += 1;
        } else if b.get(i + 1) == Some(&b'\\') {
            out.put_u8(b'\\');
            i += 2;
        } else if i + 4 <= b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            out.put_u8(
                u8::try_from(v)
                    .map_err(|_| FormatError("invalid input syntax for type bytea".into()))?,
            );
            i += 4;
        } else {
            return err("invalid input syntax for type bytea");
        }
    }
    Ok(())
}

/// Splits a trailing " BC".
fn strip_bc(t: &str) -> (&str, bool) {
    match t.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (t, false),
    }
}

/// `YYYY-MM-DD` (year of at least four digits) to days since 2000-01-01.
fn parse_ymd(t: &str, bc: bool) -> Result<i64, FormatError> {
    let bad = || FormatError(format!("invalid date {t:?}"));
    let mut parts = t.splitn(3, '-');
    let y: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let m: u32 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let d: u32 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 0 {
        return Err(bad());
    }
    let y = if bc { 1 - y } else { y };
    Ok(days_from_civil(y, m, d) - PG_EPOCH_UNIX_DAYS)
}

fn parse_date(t: &str) -> Result<i32, FormatError> {
    match t {
        "infinity" => return Ok(i32::MAX),
        "-infinity" => return Ok(i32::MIN),
        _ => {}
    }
    let (t, bc) = strip_bc(t);
    i32::try_from(parse_ymd(t, bc)?).map_err(|_| FormatError(format!("date out of range {t:?}")))
}

/// `HH:MM:SS[.ffffff]` to microseconds.
fn parse_time_of_day(t: &str) -> Result<i64, FormatError> {
    let bad = || FormatError(format!("invalid time {t:?}"));
    let (hms, frac) = match t.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (t, None),
    };
    let mut parts = hms.splitn(3, ':');
    let h: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let m: i64 = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let s: i64 = parts.next().unwrap_or("0").parse().map_err(|_| bad())?;
    if h < 0 || !(0..60).contains(&m) || !(0..=60).contains(&s) {
        return Err(bad());
    }
    let mut us = ((h * 60 + m) * 60 + s) * USECS_PER_SEC;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 6 || !f.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let padded = format!("{f:0<6}");
        us += padded.parse::<i64>().map_err(|_| bad())?;
    }
    Ok(us)
}

/// A UTC offset suffix `+HH[:MM[:SS]]` in seconds east of UTC.
fn parse_offset(t: &str) -> Result<i64, FormatError> {
    let bad = || FormatError(format!("invalid time zone offset {t:?}"));
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let mut secs = 0i64;
    let mut scale = 3600;
    for part in rest.split(':') {
        if scale == 0 || part.is_empty() {
            return Err(bad());
        }
        secs += part.parse::<i64>().map_err(|_| bad())? * scale;
        scale /= 60;
    }
    Ok(sign * secs)
}

fn parse_timestamp(t: &str, with_zone: bool) -> Result<i64, FormatError> {
    match t {
        "infinity" => return Ok(i64::MAX),
        "-infinity" => return Ok(i64::MIN),
        _ => {}
    }
    let bad = || FormatError(format!("invalid timestamp {t:?}"));
    let (t2, bc) = strip_bc(t);
    let (date, time) = t2.split_once(' ').ok_or_else(bad)?;
    let (time, offset) = if with_zone {
        let at = time.rfind(['+', '-']).ok_or_else(bad)?;
        (&time[..at], parse_offset(&time[at..])?)
    } else {
        (time, 0)
    };
    let days = parse_ymd(date, bc)?;
    let tod = parse_time_of_day(time)?;
    days.checked_mul(USECS_PER_DAY)
        .and_then(|d| d.checked_add(tod))
        .and_then(|v| v.checked_sub(offset * USECS_PER_SEC))
        .ok_or_else(bad)
}

/// An interval printed with `IntervalStyle = postgres`:
/// `[N year[s]] [N mon[s]] [N day[s]] [[+-]HH:MM:SS[.f]]`.
fn parse_interval(t: &str) -> Result<(i32, i32, i64), FormatError> {
    let bad = || FormatError(format!("invalid interval {t:?}"));
    let mut months = 0i64;
    let mut days = 0i64;
    let mut micros = 0i64;
    let mut tokens = t.split_whitespace().peekable();
    while let Some(tok) = tokens.next() {
        if tok.contains(':') {
            let (neg, body) = match tok.as_bytes()[0] {
                b'-' => (true, &tok[1..]),
                b'+' => (false, &tok[1..]),
                _ => (false, tok),
            };
            let us = parse_time_of_day(body)?;
            micros = if neg { -us } else { us };
            continue;
        }
        let n: i64 = tok.parse().map_err(|_| bad())?;
        let unit = tokens.next().ok_or_else(bad)?;
        match unit.trim_end_matches('s') {
            "year" => months += n * 12,
            "mon" => months += n,
            "day" => days += n,
            _ => return Err(bad()),
        }
    }
    let months = i32::try_from(months).map_err(|_| bad())?;
    let days = i32::try_from(days).map_err(|_| bad())?;
    Ok((months, days, micros))
}

fn numeric_text_to_binary(t: &str, out: &mut BytesMut) -> Result<(), FormatError> {
    let special = match t {
        "NaN" => Some(NUMERIC_NAN),
        "Infinity" => Some(NUMERIC_PINF),
        "-Infinity" => Some(NUMERIC_NINF),
        _ => None,
    };
    if let Some(sign) = special {
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(sign);
        out.put_u16(0);
        return Ok(());
    }
    let bad = || FormatError(format!("invalid numeric {t:?}"));
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|c| c.is_ascii_digit())
        || !frac_part.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let dscale = u16::try_from(frac_part.len())
        .ok()
        .filter(|&s| s <= NUMERIC_DSCALE_MAX)
        .ok_or_else(bad)?;
    // Base-10000 groups aligned on the decimal point.
    let int_digits = int_part.trim_start_matches('0');
    let lead_pad = (4 - int_digits.len() % 4) % 4;
    let mut groups: Vec<i16> = Vec::new();
    let int_str = format!("{}{}", "0".repeat(lead_pad), int_digits);
    for chunk in int_str.as_bytes().chunks(4) {
        groups.push(group_value(chunk));
    }
    let mut weight = groups.len() as i64 - 1;
    let trail_pad = (4 - frac_part.len() % 4) % 4;
    let frac_str = format!("{}{}", frac_part, "0".repeat(trail_pad));
    for chunk in frac_str.as_bytes().chunks(4) {
        groups.push(group_value(chunk));
    }
    // Strip leading zero groups (each moves the weight down) and trailing
    // zero groups, as PostgreSQL's `strip_var`.
    let lead_zeros = groups.iter().take_while(|&&g| g == 0).count();
    groups.drain(..lead_zeros);
    weight -= lead_zeros as i64;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    if groups.len() > NUMERIC_DIGITS_MAX {
        return Err(bad());
    }
    let weight = i16::try_from(weight).map_err(|_| bad())?;
    out.put_i16(groups.len() as i16);
    out.put_i16(weight);
    out.put_u16(if negative && !groups.is_empty() {
        NUMERIC_NEG
    } else {
        NUMERIC_POS
    });
    out.put_u16(dscale);
    for g in groups {
        out.put_i16(g);
    }
    Ok(())
}

fn group_value(chunk: &[u8]) -> i16 {
    chunk
        .iter()
        .fold(0i16, |acc, &c| acc * 10 + i16::from(c - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(type_oid: u32, text: &str) {
        let mut out = BytesMut::new();
        text_to_binary(type_oid, text, &mut out).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
        let back = binary_to_text(type_oid, &out).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
        assert_eq!(back, text, "type {type_oid}");
    }

    #[test]
    fn scalars_round_trip() {
        for t in ["t", "f"] {
            round_trip(oid::BOOL, t);
        }
        for t in ["0", "-32768", "32767"] {
            round_trip(oid::INT2, t);
        }
        for t in ["-2147483648", "42"] {
            round_trip(oid::INT4, t);
        }
        round_trip(oid::INT8, "-9223372036854775808");
        for t in [
            "1.5",
            "-0",
            "NaN",
            "Infinity",
            "-Infinity",
            "1e+300",
            "1.5e-07",
            "123456789012345",
            "1e+15",
            "0.1",
        ] {
            round_trip(oid::FLOAT8, t);
        }
        round_trip(oid::FLOAT4, "0.1");
        round_trip(oid::FLOAT4, "1e+06");
        round_trip(oid::TEXT, "héllo");
        round_trip(oid::JSONB, "{\"a\": 1}");
        round_trip(oid::BYTEA, "\\x00ff10");
        round_trip(oid::UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        round_trip(oid::OID, "4294967295");
        round_trip(oid::NAME, "pg_class");
        for t in ["", "r", "\\303"] {
            round_trip(oid::CHAR, t);
        }
    }

    #[test]
    fn arrays_round_trip() {
        round_trip(1007, "{1,NULL,-3}");
        round_trip(1007, "{}");
        round_trip(1007, "[0:1]={1,2}");
        round_trip(1009, "{\"a b\",\"\",NULL,\"NULL\",\"c\\\"d\",plain}");
        round_trip(1002, "{r,\"\",\"\\\\303\"}");
        round_trip(1182, "{2024-02-29,infinity}");
        round_trip(3807, "{\"{\\\"a\\\": 1}\",NULL}");
        round_trip(oid::INT2VECTOR, "1 2 3");
        round_trip(oid::INT2VECTOR, "");
        round_trip(oid::OIDVECTOR, "23 4294967295");
        assert!(has_binary(1009));
        assert!(has_binary(oid::INT2VECTOR));
        assert!(!has_binary(2205), "regclass text is a name");
    }

    #[test]
    fn array_binary_layout_is_array_send() {
        let mut out = BytesMut::new();
        text_to_binary(1007, "{7,NULL}", &mut out).expect("encodes");
        let mut want = Vec::new();
        for word in [1i32, 1, 23, 2, 1, 4, 7, -1] {
            want.extend_from_slice(&word.to_be_bytes());
        }
        assert_eq!(&out[..], &want[..]);
        let mut empty = BytesMut::new();
        text_to_binary(1009, "{}", &mut empty).expect("encodes");
        assert_eq!(&empty[..], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25]);
        let mut vector = BytesMut::new();
        text_to_binary(oid::INT2VECTOR, "", &mut vector).expect("encodes");
        let mut want = Vec::new();
        for word in [1i32, 0, 21, 0, 0] {
            want.extend_from_slice(&word.to_be_bytes());
        }
        assert_eq!(&vector[..], &want[..]);
        let wrong_elem = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 1];
        let e = binary_to_text(1007, &wrong_elem).expect_err("int8 elements");
        assert!(
            e.0.contains("binary data has array element type 20"),
            "{e:?}"
        );
        let truncated = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 5, 0, 0, 0, 1];
        assert!(binary_to_text(1007, &truncated).is_err());
        let null_in_vector = [
            0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 21, 0, 0, 0, 1, 0, 0, 0, 0, 255, 255, 255, 255,
        ];
        assert!(binary_to_text(oid::INT2VECTOR, &null_in_vector).is_err());
    }

    #[test]
    fn dates_and_times_round_trip() {
        for t in [
            "2000-01-01",
            "1999-12-31",
            "2024-02-29",
            "0044-03-15 BC",
            "infinity",
            "-infinity",
            "1970-01-01",
        ] {
            round_trip(oid::DATE, t);
        }
        for t in [
            "2000-01-01 00:00:00",
            "2024-05-06 07:08:09.123",
            "1900-01-01 23:59:59.999999",
            "0001-01-01 00:00:00 BC",
        ] {
            round_trip(oid::TIMESTAMP, t);
        }
        round_trip(oid::TIMESTAMPTZ, "2024-05-06 07:08:09.5+00");
        round_trip(oid::TIME, "13:14:15.16");
        for t in [
            "00:00:00",
            "1 year 2 mons 3 days 04:05:06.789",
            "-1 days +02:03:00",
            "1 day",
            "-00:00:01",
            "3 mons",
        ] {
            round_trip(oid::INTERVAL, t);
        }
    }

    #[test]
    fn timestamptz_offsets_are_applied() {
        let mut a = BytesMut::new();
        text_to_binary(oid::TIMESTAMPTZ, "2024-01-01 12:00:00+02", &mut a).unwrap();
        let mut b = BytesMut::new();
        text_to_binary(oid::TIMESTAMPTZ, "2024-01-01 10:00:00+00", &mut b).unwrap();
        assert_eq!(a, b);
        let mut c = BytesMut::new();
        text_to_binary(oid::TIMESTAMPTZ, "2024-01-01 04:30:00-05:30", &mut c).unwrap();
        assert_eq!(c, b);
    }

    #[test]
    fn date_epoch_is_2000() {
        let mut out = BytesMut::new();
        text_to_binary(oid::DATE, "2000-01-02", &mut out).unwrap();
        assert_eq!(&out[..], &1i32.to_be_bytes());
    }

    #[test]
    fn numerics_round_trip() {
        for t in [
            "0",
            "1",
            "-1",
            "10000",
            "12345.678",
            "0.0001",
            "0.00001",
            "-0.5",
            "100.00",
            "NaN",
            "Infinity",
            "-Infinity",
            "99999999999999999999.123456789",
        ] {
            round_trip(oid::NUMERIC, t);
        }
    }

    #[test]
    fn numeric_layout_matches_postgres() {
        // numeric_send(12345.678): ndigits 3, weight 1, sign 0, dscale 3, digits 1 2345 6780.
        let mut out = BytesMut::new();
        text_to_binary(oid::NUMERIC, "12345.678", &mut out).unwrap();
        let want: Vec<u8> = [3i16, 1, 0, 3, 1, 2345, 6780]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn bad_binary_parameters_are_errors_not_panics() {
        assert!(binary_to_text(oid::INT4, &[0, 1]).is_err());
        assert!(binary_to_text(oid::BOOL, &[2]).is_err());
        assert!(binary_to_text(oid::TEXT, &[0xff]).is_err());
        assert!(binary_to_text(oid::NUMERIC, &[0, 1, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(binary_to_text(oid::NUMERIC, &[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10]).is_err());
        assert!(binary_to_text(oid::JSONB, &[2, b'1']).is_err());
        assert!(binary_to_text(12345, &[]).is_err());
    }

    #[test]
    fn bytea_escape_format_is_read() {
        let mut out = BytesMut::new();
        text_to_binary(oid::BYTEA, "a\\\\b\\001", &mut out).unwrap();
        assert_eq!(&out[..], b"a\\b\x01");
    }
}

//! The jsonb and json scalar functions. jsonb work is done by
//! [`crate::jsonb`]; this module adapts arguments (text-array paths arrive
//! as array literals in text, since `Datum` has no arrays yet) and builds
//! `json` text as PostgreSQL's `json.c` prints it (`{"a" : 1}`).

use std::fmt::Write as _;

use super::{bad_args, sqlstate, Builtin as B};
use crate::datum::{DataType, Datum, RecordType};
use crate::jsonb::{build_array, build_object, to_jsonb, Jsonb, JsonbError, JsonbRef};
use crate::pgtext;
use crate::sql::error::SqlError;
use crate::sql::expr::EvalCtx;

/// The SQL error for a jsonb error, with its detail and hint.
pub(super) fn json_err(e: JsonbError) -> SqlError {
    let mut s = SqlError::new(e.sqlstate(), e.to_string());
    if let Some(d) = e.detail() {
        s = s.with_detail(d);
    }
    if let Some(h) = e.hint() {
        s = s.with_hint(h);
    }
    s
}

fn malformed(input: &str, detail: &str) -> SqlError {
    SqlError::new(
        sqlstate::INVALID_TEXT_REPRESENTATION,
        format!("malformed array literal: \"{input}\""),
    )
    .with_detail(detail)
}

/// Reads a one-dimensional `text[]` literal (`{a,"b c",NULL}`) as
/// `array_in` does: elements quoted or not, backslash escapes, unquoted
/// `NULL` (any case) for SQL NULL, whitespace around elements ignored.
/// The elements of a `text[]` argument: a real array, or the text of an
/// array literal.
pub(crate) fn text_list(d: &Datum) -> Result<Vec<Option<String>>, SqlError> {
    match d {
        Datum::Array(a) => a
            .items()
            .iter()
            .map(|x| match x {
                Datum::Null => Ok(None),
                Datum::Text(s) => Ok(Some(s.to_string())),
                other => Err(SqlError::new(
                    crate::sql::error::code::DATATYPE_MISMATCH,
                    format!("expected a text array element, got {other:?}"),
                )),
            })
            .collect(),
        Datum::Text(s) => parse_text_array(s),
        other => Err(SqlError::new(
            crate::sql::error::code::DATATYPE_MISMATCH,
            format!("expected text[], got {other:?}"),
        )),
    }
}

pub(super) fn parse_text_array(input: &str) -> Result<Vec<Option<String>>, SqlError> {
    let is_space = |c: char| pgtext::is_c_space(c);
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() && is_space(chars[i]) {
        i += 1;
    }
    if chars.get(i) != Some(&'{') {
        return Err(malformed(
            input,
            "Array value must start with \"{\" or dimension information.",
        ));
    }
    i += 1;
    let mut out = Vec::new();
    let skip_space = |i: &mut usize| {
        while *i < chars.len() && is_space(chars[*i]) {
            *i += 1;
        }
    };
    skip_space(&mut i);
    if chars.get(i) == Some(&'}') {
        i += 1;
    } else {
        loop {
            skip_space(&mut i);
            let Some(&c) = chars.get(i) else {
                return Err(malformed(input, "Unexpected end of input."));
            };
            match c {
                '{' => {
                    return Err(SqlError::new("2202E", "wrong number of array subscripts")
                        .with_detail("Only one-dimensional arrays are supported here."))
                }
                ',' | '}' => {
                    return Err(malformed(input, &format!("Unexpected \"{c}\" character.")))
                }
                _ => {}
            }
            let mut value = String::new();
            let mut quoted = false;
            // Unquoted trailing spaces are dropped unless escaped.
            let mut kept_len = 0;
            loop {
                let Some(&c) = chars.get(i) else {
                    return Err(malformed(input, "Unexpected end of input."));
                };
                match c {
                    '"' => {
                        if !value.trim_matches(is_space).is_empty() && !quoted {
                            return Err(malformed(input, "Unexpected \"\"\" character."));
                        }
                        quoted = true;
                        i += 1;
                        loop {
                            match chars.get(i) {
                                None => return Err(malformed(input, "Unexpected end of input.")),
                                Some('"') => {
                                    i += 1;
                                    break;
                                }
                                Some('\\') => {
                                    let Some(&e) = chars.get(i + 1) else {
                                        return Err(malformed(input, "Unexpected end of input."));
                                    };
                                    value.push(e);
                                    i += 2;
                                }
                                Some(&other) => {
                                    value.push(other);
                                    i += 1;
                                }
                            }
                        }
                        kept_len = value.len();
                    }
                    '\\' => {
                        let Some(&e) = chars.get(i + 1) else {
                            return Err(malformed(input, "Unexpected end of input."));
                        };
                        value.push(e);
                        kept_len = value.len();
                        i += 2;
                    }
                    ',' | '}' => break,
                    '{' => return Err(malformed(input, "Unexpected \"{\" character.")),
                    c if is_space(c) => {
                        if !value.is_empty() || quoted {
                            value.push(c);
                        }
                        i += 1;
                    }
                    c => {
                        if quoted {
                            return Err(malformed(input, "Unexpected array element."));
                        }
                        value.push(c);
                        kept_len = value.len();
                        i += 1;
                    }
                }
            }
            value.truncate(kept_len);
            if !quoted && value.eq_ignore_ascii_case("null") {
                out.push(None);
            } else {
                out.push(Some(value));
            }
            let c = chars[i];
            i += 1;
            if c == '}' {
                break;
            }
        }
    }
    skip_space(&mut i);
    if i != chars.len() {
        return Err(malformed(input, "Junk after closing right brace."));
    }
    Ok(out)
}

fn doc(d: &Datum) -> Result<JsonbRef<'_>, SqlError> {
    match d {
        Datum::Jsonb(b) => JsonbRef::from_document(b).map_err(json_err),
        _ => Err(SqlError::new(
            super::code::INTERNAL_ERROR,
            "expected a jsonb argument",
        )),
    }
}

fn jsonb(j: Jsonb) -> Datum {
    Datum::Jsonb(j.into_bytes())
}

pub(super) fn call(f: B, args: &[Datum], ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    let text = |i: usize| match args.get(i) {
        Some(Datum::Text(s)) => Ok(s.as_str()),
        _ => Err(bad_args(f, args)),
    };
    let flag = |i: usize, default: bool| match args.get(i) {
        None => Ok(default),
        Some(Datum::Bool(b)) => Ok(*b),
        _ => Err(bad_args(f, args)),
    };
    let arg = |i: usize| args.get(i).ok_or_else(|| bad_args(f, args));
    match f {
        B::JsonbSet | B::JsonbInsert => {
            let target = doc(arg(0)?)?;
            let path = parse_text_array(text(1)?)?;
            let path: Vec<Option<&str>> = path.iter().map(Option::as_deref).collect();
            let new = doc(arg(2)?)?;
            let r = if f == B::JsonbSet {
                target.set(&path, &new, flag(3, true)?)
            } else {
                target.insert(&path, &new, flag(3, false)?)
            };
            Ok(jsonb(r.map_err(json_err)?))
        }
        B::JsonbDeletePath => {
            let target = doc(arg(0)?)?;
            let path = text_list(arg(1)?)?;
            let path: Vec<Option<&str>> = path.iter().map(Option::as_deref).collect();
            Ok(jsonb(target.delete_path(&path).map_err(json_err)?))
        }
        B::JsonbDeleteKeys => {
            let keys = text_list(arg(1)?)?;
            let keys: Vec<Option<&str>> = keys.iter().map(Option::as_deref).collect();
            Ok(jsonb(doc(arg(0)?)?.delete_keys(&keys).map_err(json_err)?))
        }
        B::JsonbDeleteKey => Ok(jsonb(doc(arg(0)?)?.delete_key(text(1)?).map_err(json_err)?)),
        B::JsonbDeleteIndex => match arg(1)? {
            Datum::Int4(i) => Ok(jsonb(doc(arg(0)?)?.delete_index(*i).map_err(json_err)?)),
            _ => Err(bad_args(f, args)),
        },
        B::JsonbBuildObject => Ok(jsonb(build_object(args).map_err(json_err)?)),
        B::JsonbBuildArray => Ok(jsonb(build_array(args).map_err(json_err)?)),
        B::JsonBuildObject => json_build_object(args, ctx),
        B::JsonBuildArray => {
            let mut out = String::from("[");
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                datum_to_json(&mut out, a, ctx)?;
            }
            out.push(']');
            Ok(Datum::Json(out))
        }
        B::JsonbArrayLength => Ok(Datum::Int4(doc(arg(0)?)?.array_length().map_err(json_err)?)),
        B::JsonbTypeof => Ok(Datum::Text(doc(arg(0)?)?.type_name().to_owned())),
        B::ToJsonb => Ok(jsonb(to_jsonb(arg(0)?).map_err(json_err)?)),
        B::ToJson => {
            let mut out = String::new();
            datum_to_json(&mut out, arg(0)?, ctx)?;
            Ok(Datum::Json(out))
        }
        B::JsonbStripNulls => Ok(jsonb(doc(arg(0)?)?.strip_nulls().map_err(json_err)?)),
        B::JsonbPretty => Ok(Datum::Text(
            doc(arg(0)?)?.to_pretty_text().map_err(json_err)?,
        )),
        B::JsonbExtractPath | B::JsonbExtractPathText => {
            let target = doc(arg(0)?)?;
            let path = args[1..]
                .iter()
                .map(|a| match a {
                    Datum::Text(s) => Ok(Some(s.as_str())),
                    Datum::Null => Ok(None),
                    _ => Err(bad_args(f, args)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if f == B::JsonbExtractPath {
                match target.get_path(&path).map_err(json_err)? {
                    Some(v) => Ok(jsonb(v.to_jsonb().map_err(json_err)?)),
                    None => Ok(Datum::Null),
                }
            } else {
                Ok(target
                    .get_path_text(&path)
                    .map_err(json_err)?
                    .map_or(Datum::Null, Datum::Text))
            }
        }
        _ => Err(bad_args(f, args)),
    }
}

/// `json_build_object`: `{"k" : v, ...}`.
fn json_build_object(args: &[Datum], ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    if !args.len().is_multiple_of(2) {
        return Err(SqlError::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            "argument list must have even number of elements",
        )
        .with_hint(
            "The arguments of json_build_object() must consist of alternating keys and values.",
        ));
    }
    let mut out = String::from("{");
    for (i, pair) in args.chunks_exact(2).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match &pair[0] {
            Datum::Null => {
                return Err(SqlError::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    format!("argument {} cannot be null", 2 * i + 1),
                )
                .with_hint("Object keys should be text."))
            }
            Datum::Json(_) | Datum::Jsonb(_) => {
                return Err(SqlError::new(
                    sqlstate::INVALID_PARAMETER_VALUE,
                    "key value must be scalar, not array, composite, or json",
                ))
            }
            key => {
                let text = match key {
                    Datum::Text(s) => s.clone(),
                    other => pgtext::format(other, ctx.text),
                };
                escape_json(&mut out, &text);
            }
        }
        out.push_str(" : ");
        datum_to_json(&mut out, &pair[1], ctx)?;
    }
    out.push('}');
    Ok(Datum::Json(out))
}

/// `escape_json`.
fn escape_json(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `numeric_out`/`float8out` text is a JSON number.
fn is_json_number(text: &str) -> bool {
    let t = text.strip_prefix('-').unwrap_or(text);
    !t.is_empty()
        && t.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
}

/// `datum_to_json`: a value as json text, as `to_json` and the json
/// builders write it.
/// `to_json` of a value of type `ty` (`row_to_json(t)`): as `to_json`,
/// with a record's fields named as its type names them.
pub(crate) fn typed_to_json(
    d: &Datum,
    ty: &DataType,
    ctx: &EvalCtx<'_>,
) -> Result<String, SqlError> {
    let mut out = String::new();
    write_typed_json(&mut out, d, ty, ctx)?;
    Ok(out)
}

fn write_typed_json(
    out: &mut String,
    d: &Datum,
    ty: &DataType,
    ctx: &EvalCtx<'_>,
) -> Result<(), SqlError> {
    match (d, ty) {
        (Datum::Record(fields), DataType::Record(rt)) => record_to_json(out, fields, Some(rt), ctx),
        _ => datum_to_json(out, d, ctx),
    }
}

/// PostgreSQL's `composite_to_json` without line feeds: `{"a":1,"b":"x"}`,
/// fields named `f1`, `f2`, ... when the type is not at hand.
fn record_to_json(
    out: &mut String,
    fields: &[Datum],
    ty: Option<&RecordType>,
    ctx: &EvalCtx<'_>,
) -> Result<(), SqlError> {
    let named = ty.filter(|t| t.fields.len() == fields.len());
    out.push('{');
    for (i, value) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match named {
            Some(t) => {
                escape_json(out, &t.fields[i].name);
                out.push(':');
                write_typed_json(out, value, &t.fields[i].ty, ctx)?;
            }
            None => {
                escape_json(out, &format!("f{}", i + 1));
                out.push(':');
                datum_to_json(out, value, ctx)?;
            }
        }
    }
    out.push('}');
    Ok(())
}

fn datum_to_json(out: &mut String, d: &Datum, ctx: &EvalCtx<'_>) -> Result<(), SqlError> {
    match d {
        Datum::Record(fields) => record_to_json(out, fields, None, ctx)?,
        Datum::Null => out.push_str("null"),
        Datum::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Datum::Int2(_)
        | Datum::Int4(_)
        | Datum::Int8(_)
        | Datum::Float4(_)
        | Datum::Float8(_)
        | Datum::Numeric(_) => {
            let text = pgtext::format(d, ctx.text);
            if is_json_number(&text) {
                out.push_str(&text);
            } else {
                escape_json(out, &text);
            }
        }
        Datum::Json(text) => out.push_str(text),
        Datum::Jsonb(bytes) => out.push_str(
            &JsonbRef::from_document(bytes)
                .and_then(|j| j.to_text())
                .map_err(json_err)?,
        ),
        // PostgreSQL's `array_to_json_internal`: elements joined by a
        // bare comma, each converted like a value of its own.
        Datum::Array(a) => {
            out.push('[');
            for (i, item) in a.items().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                datum_to_json(out, item, ctx)?;
            }
            out.push(']');
        }
        Datum::Date(_) => escape_json(out, &pgtext::format(d, ctx.text)),
        Datum::Timestamp(ts) => escape_json(out, &xsd_timestamp(*ts, None, ctx)),
        Datum::TimestampTz(ts) => escape_json(
            out,
            &xsd_timestamp(*ts, Some(ctx.text.time_zone.utc_offset_secs_at(*ts)), ctx),
        ),
        other => escape_json(out, &pgtext::format(other, ctx.text)),
    }
    Ok(())
}

/// A timestamp in XML Schema form, as json prints it:
/// `2024-01-02T03:04:05.5` and, with a zone, `+05:30` after it.
fn xsd_timestamp(ts: i64, zone_secs: Option<i32>, ctx: &EvalCtx<'_>) -> String {
    if ts == i64::MIN || ts == i64::MAX {
        return pgtext::format(&Datum::Timestamp(ts), ctx.text);
    }
    let local = ts + i64::from(zone_secs.unwrap_or(0)) * 1_000_000;
    let mut text = pgtext::format(&Datum::Timestamp(local), ctx.text);
    if let Some(i) = text.find(' ') {
        text.replace_range(i..=i, "T");
    }
    if let Some(z) = zone_secs {
        let sign = if z < 0 { '-' } else { '+' };
        let a = z.unsigned_abs();
        let _ = write!(text, "{sign}{:02}:{:02}", a / 3600, a / 60 % 60);
        if a % 60 != 0 {
            let _ = write!(text, ":{:02}", a % 60);
        }
    }
    text
}

//! String functions, as `src/backend/utils/adt/varlena.c`, `oracle_compat.c`
//! and `quote.c` compute them, in the C locale (case mapping touches ASCII
//! letters only). Positions and lengths count characters, not bytes.

use super::{bad_args, invalid_parameter, sqlstate, Builtin as B};
use crate::datum::Datum;
use crate::pgtext;
use crate::sql::error::SqlError;
use crate::sql::expr::EvalCtx;

/// Most bytes a string result may have: PostgreSQL's `MaxAllocSize` less
/// the varlena header.
const RESULT_BYTES_MAX: usize = (1 << 30) - 1 - 4;

fn too_large() -> SqlError {
    SqlError::new(
        sqlstate::PROGRAM_LIMIT_EXCEEDED,
        "requested length too large",
    )
}

pub(super) fn call(f: B, args: &[Datum], ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    let bad = || bad_args(f, args);
    let text = |i: usize| match args.get(i) {
        Some(Datum::Text(s)) => Ok(s.as_str()),
        _ => Err(bad()),
    };
    let bytes = |i: usize| match args.get(i) {
        Some(Datum::Bytea(b)) => Ok(b.as_slice()),
        _ => Err(bad()),
    };
    let int = |i: usize| match args.get(i) {
        Some(Datum::Int4(v)) => Ok(i64::from(*v)),
        Some(Datum::Int8(v)) => Ok(*v),
        Some(Datum::Int2(v)) => Ok(i64::from(*v)),
        _ => Err(bad()),
    };
    let int4 = |i: usize| match args.get(i) {
        Some(Datum::Int4(v)) => Ok(*v),
        _ => Err(bad()),
    };
    let out = |s: String| Ok(Datum::Text(s));
    match f {
        B::CharLength => Ok(Datum::Int4(char_count(text(0)?) as i32)),
        B::OctetLength => Ok(Datum::Int4(text(0)?.len() as i32)),
        B::BitLength => Ok(Datum::Int4((text(0)?.len() as i32).wrapping_mul(8))),
        B::ByteaLength => Ok(Datum::Int4(bytes(0)?.len() as i32)),
        B::ByteaBitLength => Ok(Datum::Int4((bytes(0)?.len() as i32).wrapping_mul(8))),
        B::Lower => out(text(0)?.to_ascii_lowercase()),
        B::Upper => out(text(0)?.to_ascii_uppercase()),
        B::Initcap => out(initcap(text(0)?)),
        B::Substr => out(substr(text(0)?, int4(1)?, None)?.to_owned()),
        B::SubstrLen => out(substr(text(0)?, int4(1)?, Some(int4(2)?))?.to_owned()),
        B::ByteaSubstr => Ok(Datum::Bytea(
            bytea_substr(bytes(0)?, int4(1)?, None)?.to_vec(),
        )),
        B::ByteaSubstrLen => Ok(Datum::Bytea(
            bytea_substr(bytes(0)?, int4(1)?, Some(int4(2)?))?.to_vec(),
        )),
        B::Strpos => Ok(Datum::Int4(strpos(text(0)?, text(1)?))),
        B::Left => out(left(text(0)?, int4(1)?).to_owned()),
        B::Right => out(right(text(0)?, int4(1)?).to_owned()),
        B::Lpad | B::Rpad => {
            let fill = if args.len() > 2 { text(2)? } else { " " };
            out(pad(text(0)?, int4(1)?, fill, f == B::Lpad)?)
        }
        B::Ltrim | B::Rtrim | B::Btrim => {
            let set = if args.len() > 1 { text(1)? } else { " " };
            let s = text(0)?;
            let in_set = |c: char| set.contains(c);
            out(match f {
                B::Ltrim => s.trim_start_matches(in_set),
                B::Rtrim => s.trim_end_matches(in_set),
                _ => s.trim_matches(in_set),
            }
            .to_owned())
        }
        B::Replace => {
            let (s, from, to) = (text(0)?, text(1)?, text(2)?);
            if from.is_empty() {
                out(s.to_owned())
            } else {
                out(s.replace(from, to))
            }
        }
        B::SplitPart => out(split_part(text(0)?, text(1)?, int4(2)?)?.to_owned()),
        B::Repeat => {
            let (s, n) = (text(0)?, int4(1)?);
            let n = usize::try_from(n.max(0)).expect("non-negative");
            let total = s.len().checked_mul(n).ok_or_else(too_large)?;
            if total > RESULT_BYTES_MAX {
                return Err(too_large());
            }
            out(s.repeat(n))
        }
        B::Reverse => out(text(0)?.chars().rev().collect()),
        B::Concat => {
            let mut s = String::new();
            for a in args.iter().filter(|a| !a.is_null()) {
                push_output(&mut s, a, ctx);
            }
            out(s)
        }
        B::ConcatWs => {
            let sep = match args.first() {
                Some(Datum::Null) | None => return Ok(Datum::Null),
                Some(_) => text(0)?,
            };
            let mut s = String::new();
            let mut first = true;
            for a in args[1..].iter().filter(|a| !a.is_null()) {
                if !first {
                    s.push_str(sep);
                }
                first = false;
                push_output(&mut s, a, ctx);
            }
            out(s)
        }
        B::Md5 => out(format!("{:x}", md5::compute(text(0)?.as_bytes()))),
        B::ByteaMd5 => out(format!("{:x}", md5::compute(bytes(0)?))),
        B::StartsWith => Ok(Datum::Bool(text(0)?.starts_with(text(1)?))),
        B::Ascii => Ok(Datum::Int4(
            text(0)?.chars().next().map_or(0, |c| u32::from(c) as i32),
        )),
        B::Chr => out(chr(int4(0)?)?.to_string()),
        B::ToHex => out(match args.first() {
            Some(Datum::Int4(v)) => format!("{:x}", *v as u32),
            _ => format!("{:x}", int(0)? as u64),
        }),
        B::QuoteIdent => out(quote_ident(text(0)?)),
        B::QuoteLiteral => out(quote_literal(&cast_text(&args[0], ctx))),
        B::QuoteNullable => match args.first() {
            Some(Datum::Null) => out("NULL".to_owned()),
            Some(d) => out(quote_literal(&cast_text(d, ctx))),
            None => Err(bad()),
        },
        B::Format => match args.first() {
            Some(Datum::Null) => Ok(Datum::Null),
            Some(Datum::Text(fmt)) => out(format(fmt, &args[1..], ctx)?),
            _ => Err(bad()),
        },
        B::TextCat => {
            let (a, b) = (text(0)?, text(1)?);
            let mut s = String::with_capacity(a.len() + b.len());
            s.push_str(a);
            s.push_str(b);
            out(s)
        }
        B::ByteaCat => {
            let mut v = bytes(0)?.to_vec();
            v.extend_from_slice(bytes(1)?);
            Ok(Datum::Bytea(v))
        }
        _ => Err(bad()),
    }
}

/// A value's text output (text as it is).
fn output(d: &Datum, ctx: &EvalCtx<'_>) -> String {
    match d {
        Datum::Text(s) => s.clone(),
        other => pgtext::format(other, ctx.text),
    }
}

/// A value cast to text (`quote_literal(anyelement)` casts): the output
/// function's text, except that a boolean casts to `true`/`false`.
fn cast_text(d: &Datum, ctx: &EvalCtx<'_>) -> String {
    match d {
        Datum::Bool(b) => (if *b { "true" } else { "false" }).to_owned(),
        other => output(other, ctx),
    }
}

fn push_output(out: &mut String, d: &Datum, ctx: &EvalCtx<'_>) {
    match d {
        Datum::Text(s) => out.push_str(s),
        other => out.push_str(&pgtext::format(other, ctx.text)),
    }
}

/// Characters in `s`; a byte count for ASCII, which is most text.
fn char_count(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// The byte offset of the character at 0-based index `n`, or the end.
fn char_offset(s: &str, n: usize) -> usize {
    if s.is_ascii() {
        return n.min(s.len());
    }
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// `initcap` in the C locale: a letter or digit after a non-alphanumeric
/// byte starts a word; words are capitalized, the rest lowercased.
fn initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        if in_word {
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c.to_ascii_uppercase());
        }
        in_word = c.is_ascii_alphanumeric();
    }
    out
}

/// The character range `[start, start + len)` (1-based, `start` may be
/// below 1) that `substr` takes, as `text_substring` computes it; `None`
/// for an empty result.
fn substr_range(start: i32, len: Option<i32>) -> Result<(usize, Option<usize>), SqlError> {
    let first = usize::try_from(start.max(1) - 1).expect("non-negative");
    let Some(len) = len else {
        return Ok((first, None));
    };
    if len < 0 {
        return Err(SqlError::new(
            sqlstate::SUBSTRING_ERROR,
            "negative substring length not allowed",
        ));
    }
    // The end, exclusive and 1-based; an overflow means "to the end".
    let Some(end) = start.checked_add(len) else {
        return Ok((first, None));
    };
    if end < 1 {
        return Ok((0, Some(0)));
    }
    let end = usize::try_from(end - 1).expect("positive");
    Ok((first, Some(end.saturating_sub(first))))
}

pub(super) fn substr(s: &str, start: i32, len: Option<i32>) -> Result<&str, SqlError> {
    let (first, count) = substr_range(start, len)?;
    let from = char_offset(s, first);
    let rest = &s[from..];
    Ok(match count {
        None => rest,
        Some(n) => &rest[..char_offset(rest, n)],
    })
}

fn bytea_substr(b: &[u8], start: i32, len: Option<i32>) -> Result<&[u8], SqlError> {
    let (first, count) = substr_range(start, len)?;
    let rest = &b[first.min(b.len())..];
    Ok(match count {
        None => rest,
        Some(n) => &rest[..n.min(rest.len())],
    })
}

/// `strpos`: the 1-based character position of `needle`, 0 if absent.
fn strpos(s: &str, needle: &str) -> i32 {
    match s.find(needle) {
        Some(i) => char_count(&s[..i]) as i32 + 1,
        None => 0,
    }
}

fn left(s: &str, n: i32) -> &str {
    let keep = if n >= 0 {
        n as usize
    } else {
        char_count(s).saturating_sub(n.unsigned_abs() as usize)
    };
    &s[..char_offset(s, keep)]
}

fn right(s: &str, n: i32) -> &str {
    let skip = if n >= 0 {
        char_count(s).saturating_sub(n as usize)
    } else {
        n.unsigned_abs() as usize
    };
    &s[char_offset(s, skip)..]
}

/// `lpad`/`rpad`: pads with `fill` (repeated) or truncates to `len`
/// characters.
fn pad(s: &str, len: i32, fill: &str, on_left: bool) -> Result<String, SqlError> {
    let len = usize::try_from(len.max(0)).expect("non-negative");
    let s = &s[..char_offset(s, len)];
    let have = char_count(s);
    if fill.is_empty() || have >= len {
        return Ok(s.to_owned());
    }
    let need = len - have;
    if need.saturating_mul(4) > RESULT_BYTES_MAX {
        return Err(too_large());
    }
    let padding: String = fill.chars().cycle().take(need).collect();
    Ok(if on_left {
        padding + s
    } else {
        s.to_owned() + &padding
    })
}

/// `split_part`: the `n`th field (from the end when negative).
fn split_part<'a>(s: &'a str, sep: &str, n: i32) -> Result<&'a str, SqlError> {
    if n == 0 {
        return Err(invalid_parameter("field position must not be zero"));
    }
    if s.is_empty() {
        return Ok("");
    }
    if sep.is_empty() {
        return Ok(if n == 1 || n == -1 { s } else { "" });
    }
    if n > 0 {
        Ok(s.split(sep).nth(n as usize - 1).unwrap_or(""))
    } else {
        Ok(s.rsplit(sep)
            .nth(n.unsigned_abs() as usize - 1)
            .unwrap_or(""))
    }
}

/// `chr`: the character with that code point.
fn chr(code: i32) -> Result<char, SqlError> {
    if code < 0 {
        return Err(invalid_parameter("character number must be positive"));
    }
    if code == 0 {
        return Err(SqlError::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            "null character not permitted",
        ));
    }
    let cp = code as u32;
    if cp > 0x10_ffff {
        return Err(SqlError::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("requested character too large for encoding: {cp}"),
        ));
    }
    char::from_u32(cp).ok_or_else(|| {
        SqlError::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("requested character not valid for encoding: {cp}"),
        )
    })
}

/// PostgreSQL 15's keywords that are not unreserved: `quote_ident`
/// quotes them (the catalog's list, shared with `pg_catalog::quote_ident`).
pub(super) use crate::sql::pg_catalog::QUOTED_KEYWORDS as NON_UNRESERVED_KEYWORDS;

/// `quote_identifier`: the identifier as is when it needs no quotes
/// (lowercase letters, digits and underscores, not starting with a digit,
/// not a reserved word), else in double quotes with `"` doubled.
pub(super) fn quote_ident(s: &str) -> String {
    let safe = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && NON_UNRESERVED_KEYWORDS.binary_search(&s).is_err();
    if safe {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `quote_literal_cstr`: single quotes with `'` and `\` doubled, and an
/// `E` prefix when there is a backslash.
pub(super) fn quote_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 3);
    if s.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn unterminated() -> SqlError {
    invalid_parameter("unterminated format() type specifier")
        .with_hint("For a single \"%\" use \"%%\".")
}

fn too_few() -> SqlError {
    invalid_parameter("too few arguments for format()")
}

fn arg_zero() -> SqlError {
    invalid_parameter("format specifies argument 0, but arguments are numbered from 1")
}

/// Reads digits at `chars[*i..]` as `text_format_parse_digits` does.
fn parse_digits(chars: &[char], i: &mut usize) -> Result<Option<i32>, SqlError> {
    let mut found = false;
    let mut n: i32 = 0;
    while let Some(d) = chars.get(*i).and_then(|c| c.to_digit(10)) {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(d as i32))
            .ok_or_else(|| {
                SqlError::new(
                    sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                    "number is out of range",
                )
            })?;
        advance(chars, i)?;
        found = true;
    }
    Ok(found.then_some(n))
}

/// `ADVANCE_PARSE_POINTER`.
fn advance(chars: &[char], i: &mut usize) -> Result<(), SqlError> {
    *i += 1;
    if *i >= chars.len() {
        return Err(unterminated());
    }
    Ok(())
}

/// `format(fmt, args...)`, as `text_format`: `%s`, `%I`, `%L`, `%%`,
/// positions (`%2$s`), widths (`%10s`, `%-10s`, `%*s`, `%*2$s`).
fn format(fmt: &str, args: &[Datum], ctx: &EvalCtx<'_>) -> Result<String, SqlError> {
    let chars: Vec<char> = fmt.chars().collect();
    let mut out = String::with_capacity(fmt.len());
    // The next argument, 1-based as PostgreSQL counts (0 is the format).
    let mut arg: usize = 0;
    let nargs = args.len() + 1;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        advance(&chars, &mut i)?;
        if chars[i] == '%' {
            out.push('%');
            i += 1;
            continue;
        }
        // text_format_parse_format
        let mut argpos: Option<usize> = None;
        let mut widthpos: Option<usize> = None;
        let mut left_align = false;
        let mut width: i64 = 0;
        let mut direct = false;
        if let Some(n) = parse_digits(&chars, &mut i)? {
            if chars[i] != '$' {
                width = i64::from(n);
                direct = true;
            } else {
                if n == 0 {
                    return Err(arg_zero());
                }
                argpos = Some(n as usize);
                advance(&chars, &mut i)?;
            }
        }
        if !direct {
            while chars[i] == '-' {
                left_align = true;
                advance(&chars, &mut i)?;
            }
            if chars[i] == '*' {
                advance(&chars, &mut i)?;
                if let Some(n) = parse_digits(&chars, &mut i)? {
                    if chars[i] != '$' {
                        return Err(invalid_parameter(
                            "width argument position must be ended by \"$\"",
                        ));
                    }
                    if n == 0 {
                        return Err(arg_zero());
                    }
                    widthpos = Some(n as usize);
                    advance(&chars, &mut i)?;
                } else {
                    widthpos = Some(0);
                }
            } else if let Some(n) = parse_digits(&chars, &mut i)? {
                width = i64::from(n);
            }
        }
        let conversion = chars[i];
        if !matches!(conversion, 's' | 'I' | 'L') {
            return Err(invalid_parameter(format!(
                "unrecognized format() type specifier \"{conversion}\""
            ))
            .with_hint("For a single \"%\" use \"%%\"."));
        }
        if let Some(wp) = widthpos {
            arg = if wp > 0 { wp } else { arg + 1 };
            if arg >= nargs {
                return Err(too_few());
            }
            width = match &args[arg - 1] {
                Datum::Null => 0,
                Datum::Int4(v) => i64::from(*v),
                Datum::Int2(v) => i64::from(*v),
                Datum::Int8(v) => i32::try_from(*v)
                    .map(i64::from)
                    .map_err(|_| super::out_of_range("integer"))?,
                Datum::Text(t) => i64::from(t.trim().parse::<i32>().map_err(|_| {
                    SqlError::new(
                        sqlstate::INVALID_TEXT_REPRESENTATION,
                        format!("invalid input syntax for type integer: \"{t}\""),
                    )
                })?),
                other => {
                    return Err(SqlError::new(
                        super::code::UNDEFINED_FUNCTION,
                        format!(
                            "cannot use a value of type {} as a format() width",
                            other
                                .data_type()
                                .map_or("unknown".into(), |t| t.format_type())
                        ),
                    ))
                }
            };
            if width < 0 {
                left_align = true;
                if width == i64::from(i32::MIN) {
                    return Err(SqlError::new(
                        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                        "number is out of range",
                    ));
                }
                width = -width;
            }
        }
        arg = match argpos {
            Some(p) => p,
            None => arg + 1,
        };
        if arg >= nargs {
            return Err(too_few());
        }
        let value = &args[arg - 1];
        let piece = match (value, conversion) {
            (Datum::Null, 's') => String::new(),
            (Datum::Null, 'L') => "NULL".to_owned(),
            (Datum::Null, _) => {
                return Err(SqlError::new(
                    sqlstate::NULL_VALUE_NOT_ALLOWED,
                    "null values cannot be formatted as an SQL identifier",
                ))
            }
            (v, 'I') => quote_ident(&output(v, ctx)),
            (v, 'L') => quote_literal(&output(v, ctx)),
            (v, _) => output(v, ctx),
        };
        let width = usize::try_from(width).expect("non-negative");
        let have = char_count(&piece);
        if have >= width {
            out.push_str(&piece);
        } else if left_align {
            out.push_str(&piece);
            out.extend(std::iter::repeat_n(' ', width - have));
        } else {
            out.extend(std::iter::repeat_n(' ', width - have));
            out.push_str(&piece);
        }
        if out.len() > RESULT_BYTES_MAX {
            return Err(too_large());
        }
        i += 1;
    }
    Ok(out)
}

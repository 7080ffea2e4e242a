//! Checks `compute::jsonb` against PostgreSQL: every case in
//! `data/jsonb/cases.tsv` is evaluated here and compared with the result a
//! real PostgreSQL 15 gave, recorded in `data/jsonb/expected.tsv` by
//! `data/jsonb/regen.sh` (whose header explains both formats). PostgreSQL
//! is not needed to run this test.
//!
//! To add a case, append a line to `cases.tsv`, run `regen.sh`, check the
//! new line of `expected.tsv`, and commit both.

use std::cmp::Ordering;
use std::fmt::Write as _;

use sextant_compute::datum::{Datum, Numeric};
use sextant_compute::jsonb::{
    build_array, build_object, to_jsonb, ArrayAgg, Jsonb, JsonbError, JsonbRef, ObjectAgg,
};

const CASES: &str = include_str!("data/jsonb/cases.tsv");
const EXPECTED: &str = include_str!("data/jsonb/expected.tsv");

/// What a case produced, as `regen.sh` records it.
enum Outcome {
    Value(String),
    Null,
    Rows(Vec<Option<String>>),
}

#[test]
fn jsonb_matches_postgres() {
    let cases: Vec<&str> = CASES
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with("--"))
        .collect();
    let expected: Vec<&str> = EXPECTED
        .lines()
        .filter(|line| !line.starts_with("--"))
        .collect();
    assert_eq!(
        cases.len(),
        expected.len(),
        "expected.tsv is stale: run compute/tests/data/jsonb/regen.sh"
    );
    let mut failures = String::new();
    for (case, recorded) in cases.iter().zip(&expected) {
        let (recorded_case, want) = recorded
            .split_once("\t=>\t")
            .unwrap_or_else(|| panic!("malformed expected line {recorded:?}"));
        assert_eq!(
            recorded_case, *case,
            "expected.tsv is stale: run compute/tests/data/jsonb/regen.sh"
        );
        let fields: Vec<&str> = case.split('\t').collect();
        let got = render(evaluate(&fields));
        if got != want {
            writeln!(
                failures,
                "case:     {case}\nexpected: {want}\ngot:      {got}\n"
            )
            .expect("write to String");
        }
    }
    assert!(
        failures.is_empty(),
        "differences from PostgreSQL:\n\n{failures}"
    );
}

/// Formats an outcome as `regen.sh` does.
fn render(outcome: Result<Outcome, JsonbError>) -> String {
    match outcome {
        Ok(Outcome::Value(text)) => format!("value\t{}", escape(&text)),
        Ok(Outcome::Null) => "null".to_owned(),
        Ok(Outcome::Rows(rows)) => {
            let mut out = "rows".to_owned();
            for column in rows {
                out.push('\t');
                match column {
                    Some(text) => out.push_str(&escape(&text)),
                    None => out.push_str("\\N"),
                }
            }
            out
        }
        Err(e) => format!(
            "error\t{}\t{}\t{}\t{}",
            e.sqlstate(),
            escape(&e.to_string()),
            escape(&e.detail().unwrap_or_default()),
            escape(e.hint().unwrap_or_default())
        ),
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn value(text: impl Into<String>) -> Outcome {
    Outcome::Value(text.into())
}

fn json(value: Option<JsonbRef<'_>>) -> Result<Outcome, JsonbError> {
    Ok(match value {
        Some(v) => Outcome::Value(v.to_text()?),
        None => Outcome::Null,
    })
}

fn text(value: Option<String>) -> Outcome {
    value.map_or(Outcome::Null, Outcome::Value)
}

fn boolean(b: bool) -> Outcome {
    value(if b { "true" } else { "false" })
}

/// Evaluates one case: `fields[0]` is the operation, the rest its arguments.
fn evaluate(fields: &[&str]) -> Result<Outcome, JsonbError> {
    let (op, args) = fields.split_first().expect("a case has an operation");
    let arg = |i: usize| args.get(i).copied().unwrap_or("");
    let doc = |i: usize| Jsonb::parse(arg(i));
    let int = |i: usize| arg(i).parse::<i32>().expect("an int4 argument");
    let flag = |i: usize, default: bool| args.get(i).map_or(default, |s| *s == "true");
    let array = |i: usize| text_array(arg(i));
    let datums = || args.iter().map(|a| datum(a)).collect::<Result<Vec<_>, _>>();
    Ok(match *op {
        "jsonb" => value(doc(0)?.to_string()),
        "->" => json(doc(0)?.view().get(arg(1))?)?,
        "->>" => text(doc(0)?.view().get_text(arg(1))?),
        "->i" => json(doc(0)?.view().index(int(1))?)?,
        "->>i" => text(doc(0)?.view().index_text(int(1))?),
        "#>" => json(doc(0)?.view().get_path(&refs(&array(1)))?)?,
        "#>>" => text(doc(0)?.view().get_path_text(&refs(&array(1)))?),
        "@>" => boolean(doc(0)?.view().contains(&doc(1)?.view())?),
        "<@" => boolean(doc(0)?.view().contained_by(&doc(1)?.view())?),
        "?" => boolean(doc(0)?.view().exists(arg(1))?),
        "?|" => boolean(doc(0)?.view().exists_any(&refs(&array(1)))?),
        "?&" => boolean(doc(0)?.view().exists_all(&refs(&array(1)))?),
        "||" => value(doc(0)?.view().concat(&doc(1)?.view())?.to_string()),
        "-" => value(doc(0)?.view().delete_key(arg(1))?.to_string()),
        "-i" => value(doc(0)?.view().delete_index(int(1))?.to_string()),
        "-a" => value(doc(0)?.view().delete_keys(&refs(&array(1)))?.to_string()),
        "#-" => value(doc(0)?.view().delete_path(&refs(&array(1)))?.to_string()),
        "jsonb_set" => {
            let (target, new) = (doc(0)?, doc(2)?);
            let path = array(1);
            value(
                target
                    .view()
                    .set(&refs(&path), &new.view(), flag(3, true))?
                    .to_string(),
            )
        }
        "jsonb_insert" => {
            let (target, new) = (doc(0)?, doc(2)?);
            let path = array(1);
            value(
                target
                    .view()
                    .insert(&refs(&path), &new.view(), flag(3, false))?
                    .to_string(),
            )
        }
        "jsonb_typeof" => value(doc(0)?.view().type_name()),
        "jsonb_array_length" => value(doc(0)?.view().array_length()?.to_string()),
        "jsonb_object_keys" => {
            let d = doc(0)?;
            let keys = d.view().object_keys()?;
            Outcome::Rows(keys.into_iter().map(|k| Some(k.to_owned())).collect())
        }
        "jsonb_each" => {
            let d = doc(0)?;
            let mut rows = Vec::new();
            for (key, v) in d.view().each()? {
                rows.push(Some(key.to_owned()));
                rows.push(Some(v.to_text()?));
            }
            Outcome::Rows(rows)
        }
        "jsonb_each_text" => {
            let d = doc(0)?;
            let mut rows = Vec::new();
            for (key, v) in d.view().each_text()? {
                rows.push(Some(key.to_owned()));
                rows.push(v);
            }
            Outcome::Rows(rows)
        }
        "jsonb_array_elements" => {
            let d = doc(0)?;
            let elements = d.view().array_elements()?;
            Outcome::Rows(
                elements
                    .iter()
                    .map(|e| e.to_text().map(Some))
                    .collect::<Result<_, _>>()?,
            )
        }
        "jsonb_array_elements_text" => Outcome::Rows(doc(0)?.view().array_elements_text()?),
        "jsonb_build_object" => value(build_object(&datums()?)?.to_string()),
        "jsonb_build_array" => value(build_array(&datums()?)?.to_string()),
        "to_jsonb" => value(to_jsonb(&datum(arg(0))?)?.to_string()),
        "jsonb_agg" => {
            let mut agg = ArrayAgg::new();
            for d in datums()? {
                agg.push(&d)?;
            }
            json(agg.finish().as_ref().map(Jsonb::view))?
        }
        "jsonb_object_agg" => {
            let mut agg = ObjectAgg::new();
            for pair in datums()?.chunks(2) {
                agg.push(&pair[0], &pair[1])?;
            }
            json(agg.finish()?.as_ref().map(Jsonb::view))?
        }
        "cmp" => value(match doc(0)?.cmp(&doc(1)?) {
            Ordering::Less => "-1",
            Ordering::Equal => "0",
            Ordering::Greater => "1",
        }),
        other => panic!("unknown case operation {other:?}"),
    })
}

/// Parses a text[] literal: `{a,"b c",NULL}`. Enough of PostgreSQL's array
/// syntax for the cases: double quotes, backslash escapes, unquoted NULL.
fn text_array(literal: &str) -> Vec<Option<String>> {
    let inner = literal
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or_else(|| panic!("not an array literal: {literal:?}"));
    if inner.trim().is_empty() {
        return Vec::new();
    }
    let finish = |element: &str, was_quoted: bool| {
        let trimmed = element.trim();
        if was_quoted {
            Some(element.to_owned())
        } else {
            (!trimmed.eq_ignore_ascii_case("NULL")).then(|| trimmed.to_owned())
        }
    };
    let mut elements = Vec::new();
    let mut element = String::new();
    let (mut in_quotes, mut was_quoted) = (false, false);
    let mut chars = inner.chars();
    loop {
        match chars.next() {
            Some('"') => {
                in_quotes = !in_quotes;
                was_quoted = true;
            }
            Some('\\') => element.extend(chars.next()),
            Some(',') if !in_quotes => {
                elements.push(finish(&element, was_quoted));
                element.clear();
                was_quoted = false;
            }
            Some(c) => element.push(c),
            None => {
                elements.push(finish(&element, was_quoted));
                return elements;
            }
        }
    }
}

fn refs(path: &[Option<String>]) -> Vec<Option<&str>> {
    path.iter().map(Option::as_deref).collect()
}

/// Parses a typed literal, `type:value` or `null`, into a datum.
fn datum(literal: &str) -> Result<Datum, JsonbError> {
    if literal == "null" {
        return Ok(Datum::Null);
    }
    let (ty, v) = literal
        .split_once(':')
        .unwrap_or_else(|| panic!("not a typed literal: {literal:?}"));
    fn bad<T>(ty: &str, v: &str) -> T {
        panic!("bad {ty} literal {v:?}")
    }
    Ok(match ty {
        "bool" => Datum::Bool(v == "true"),
        "int2" => Datum::Int2(v.parse().unwrap_or_else(|_| bad(ty, v))),
        "int4" => Datum::Int4(v.parse().unwrap_or_else(|_| bad(ty, v))),
        "int8" => Datum::Int8(v.parse().unwrap_or_else(|_| bad(ty, v))),
        "float4" => Datum::Float4(v.parse().unwrap_or_else(|_| bad(ty, v))),
        "float8" => Datum::Float8(v.parse().unwrap_or_else(|_| bad(ty, v))),
        "numeric" => Datum::Numeric(v.parse::<Numeric>().unwrap_or_else(|_| bad(ty, v))),
        "text" => Datum::Text(v.to_owned()),
        "json" => Datum::Json(v.to_owned()),
        "jsonb" => Datum::Jsonb(Jsonb::parse(v)?.into_bytes()),
        "date" => Datum::Date(match v {
            "infinity" => i32::MAX,
            "-infinity" => i32::MIN,
            _ => i32::try_from(parse_date(v)).unwrap_or_else(|_| bad(ty, v)),
        }),
        "timestamp" => Datum::Timestamp(parse_timestamp(v, false)),
        "timestamptz" => Datum::TimestampTz(parse_timestamp(v, true)),
        "interval" => parse_interval(v),
        "bytea" => Datum::Bytea(hex(v.strip_prefix("\\x").unwrap_or_else(|| bad(ty, v)))),
        "uuid" => Datum::Uuid(
            hex(&v.replace('-', ""))
                .try_into()
                .unwrap_or_else(|_| bad(ty, v)),
        ),
        _ => panic!("unknown type in literal {literal:?}"),
    })
}

fn hex(digits: &str) -> Vec<u8> {
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digits"))
        .collect()
}

const USECS_PER_DAY: i64 = 86_400_000_000;

/// Days from 2000-01-01 to a `YYYY-MM-DD[ BC]` date (proleptic Gregorian),
/// by Howard Hinnant's `days_from_civil`.
fn parse_date(text: &str) -> i64 {
    let (text, bc) = match text.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let parts: Vec<i64> = text
        .split('-')
        .map(|p| p.parse().expect("a date part"))
        .collect();
    let (year, month, day) = (parts[0], parts[1], parts[2]);
    let year = if bc { 1 - year } else { year };
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 - 10_957
}

/// Microseconds from 2000-01-01 to `YYYY-MM-DD HH:MM:SS[.f][±HH[:MM]][ BC]`,
/// the zone (timestamptz only) converted to UTC.
fn parse_timestamp(text: &str, with_zone: bool) -> i64 {
    match text {
        "infinity" => return i64::MAX,
        "-infinity" => return i64::MIN,
        _ => {}
    }
    let (text, bc) = match text.strip_suffix(" BC") {
        Some(rest) => (rest, " BC"),
        None => (text, ""),
    };
    let (date, time) = text.split_once(' ').expect("date and time");
    let (time, offset_seconds) = if with_zone {
        let at = time.rfind(['+', '-']).expect("a zone offset");
        let (time, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let mut parts = zone[1..]
            .split(':')
            .map(|p| p.parse::<i64>().expect("zone"));
        let hours = parts.next().unwrap_or(0);
        let minutes = parts.next().unwrap_or(0);
        (time, sign * (hours * 3600 + minutes * 60))
    } else {
        (time, 0)
    };
    let mut parts = time.split(':');
    let hours: i64 = parts.next().and_then(|p| p.parse().ok()).expect("hours");
    let minutes: i64 = parts.next().and_then(|p| p.parse().ok()).expect("minutes");
    let seconds = parse_seconds(parts.next().expect("seconds"));
    parse_date(&format!("{date}{bc}")) * USECS_PER_DAY
        + (hours * 3600 + minutes * 60 - offset_seconds) * 1_000_000
        + seconds
}

/// Parses `S[.ffffff]` as microseconds.
fn parse_seconds(text: &str) -> i64 {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let micros: i64 = format!("{fraction:0<6}").parse().expect("fraction");
    whole.parse::<i64>().expect("seconds") * 1_000_000 + micros
}

/// Parses the subset of interval input the cases use: `N unit` pairs and
/// an optional signed `HH:MM:SS[.f]`.
fn parse_interval(text: &str) -> Datum {
    let (mut months, mut days, mut micros) = (0i32, 0i32, 0i64);
    let mut words = text.split_whitespace();
    while let Some(word) = words.next() {
        if word.contains(':') {
            let (sign, rest) = match word.strip_prefix('-') {
                Some(rest) => (-1, rest),
                None => (1, word.trim_start_matches('+')),
            };
            let parts: Vec<&str> = rest.split(':').collect();
            let hours: i64 = parts[0].parse().expect("hours");
            let minutes: i64 = parts[1].parse().expect("minutes");
            micros += sign * ((hours * 3600 + minutes * 60) * 1_000_000 + parse_seconds(parts[2]));
            continue;
        }
        let amount: i64 = word.trim_start_matches('+').parse().expect("an amount");
        let unit = words.next().expect("a unit");
        match unit.trim_end_matches('s') {
            "year" => months += i32::try_from(amount * 12).expect("months"),
            "mon" => months += i32::try_from(amount).expect("months"),
            "day" => days += i32::try_from(amount).expect("days"),
            "hour" => micros += amount * 3_600_000_000,
            "minute" | "min" => micros += amount * 60_000_000,
            "second" | "sec" => micros += amount * 1_000_000,
            other => panic!("unknown interval unit {other:?}"),
        }
    }
    Datum::Interval {
        months,
        days,
        micros,
    }
}

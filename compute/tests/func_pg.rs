//! Checks `sql::func` against PostgreSQL: every case in
//! `data/func/cases.tsv` is resolved and evaluated here and compared with
//! what a real PostgreSQL 15 returned, recorded in `data/func/expected.tsv`
//! by `data/func/regen.sh` (whose header explains both formats): the result
//! type, the result's text, or the error's SQLSTATE, message, detail and
//! hint. PostgreSQL is not needed to run this test.
//!
//! A case that PostgreSQL cannot resolve (no such function, ambiguous, an
//! undeterminable polymorphic type) must not resolve here either; the
//! binder words that error, so only the SQLSTATE class is compared.
//!
//! To add a case, append a line to `cases.tsv`, run `regen.sh`, check the
//! new line of `expected.tsv`, and commit both.

use std::fmt::Write as _;

use sextant_compute::cast;
use sextant_compute::datum::{DataType, Datum};
use sextant_compute::pgtext::{self, TextContext, TimeZone};
use sextant_compute::sql::error::SqlError;
use sextant_compute::sql::expr::{jsonb_hooks, EvalCtx};
use sextant_compute::sql::func::{self, Resolved};

const CASES: &str = include_str!("data/func/cases.tsv");
const EXPECTED: &str = include_str!("data/func/expected.tsv");

/// Cases where we knowingly differ from PostgreSQL, each with why. The test
/// fails if one of them starts to match, so the list stays current.
const KNOWN_GAPS: &[(&str, &str)] = &[
    (
        "cbrt\tfloat8:27",
        "Rust's cbrt is correctly rounded (3); glibc's, which PostgreSQL calls, is 1 ulp off",
    ),
    (
        "prefix:||/\tfloat8:27",
        "Rust's cbrt is correctly rounded (3); glibc's, which PostgreSQL calls, is 1 ulp off",
    ),
    (
        "age\ttimestamp:infinity\ttimestamp:2024-01-01",
        "PostgreSQL 15 breaks infinity down as a date in 294277 and returns nonsense; \
         we refuse, as PostgreSQL 17 does",
    ),
    (
        "jsonb_set\tjsonb:{\"a\": 1, \"b\": [1, 2]}\ttext:{b,0}\tjsonb:\"x\"",
        "text[] does not exist yet, so the path is text and a text argument is accepted",
    ),
    (
        "op:~\ttext:ab\ttext:a(?=b)",
        "lookaround constraints need backtracking; the regex crate is linear-time",
    ),
    (
        "op:~\ttext:abab\ttext:(ab)\\1",
        "back references need backtracking; the regex crate is linear-time",
    ),
];

/// What resolution failures PostgreSQL reports: undefined function,
/// ambiguous function, undeterminable polymorphic type.
const RESOLUTION_CODES: &[&str] = &["42883", "42725", "42804"];

/// A case's argument: its type, whether it is an untyped literal, and its
/// value (text for an untyped literal).
struct Arg {
    ty: DataType,
    unknown: bool,
    value: Result<Datum, SqlError>,
}

fn type_named(name: &str) -> DataType {
    match name {
        "bool" => DataType::Bool,
        "int2" => DataType::Int2,
        "int4" => DataType::Int4,
        "int8" => DataType::Int8,
        "float4" => DataType::Float4,
        "float8" => DataType::Float8,
        "numeric" => DataType::Numeric,
        "text" => DataType::Text,
        "varchar" => DataType::Varchar { max_chars: None },
        "bytea" => DataType::Bytea,
        "date" => DataType::Date,
        "timestamp" => DataType::Timestamp,
        "timestamptz" => DataType::TimestampTz,
        "interval" => DataType::Interval,
        "uuid" => DataType::Uuid,
        "json" => DataType::Json,
        "jsonb" => DataType::Jsonb,
        "int4[]" => DataType::Array(&DataType::Int4),
        "text[]" => DataType::Array(&DataType::Text),
        "timestamptz[]" => DataType::Array(&DataType::TimestampTz),
        other => panic!("unknown type {other:?} in cases.tsv"),
    }
}

fn sql_error(e: pgtext::TypeError) -> SqlError {
    let mut s = SqlError::new(e.sqlstate(), e.to_string());
    if let Some(d) = e.detail() {
        s = s.with_detail(d.to_owned());
    }
    if let Some(h) = e.hint() {
        s = s.with_hint(h);
    }
    s
}

fn parse_arg(field: &str, text: &TextContext) -> Arg {
    if field == "null" {
        return Arg {
            ty: DataType::Text,
            unknown: true,
            value: Ok(Datum::Null),
        };
    }
    let (ty, value) = field
        .split_once(':')
        .unwrap_or_else(|| panic!("argument {field:?} is not type:value"));
    match ty {
        "null" => Arg {
            ty: type_named(value),
            unknown: false,
            value: Ok(Datum::Null),
        },
        "unknown" => Arg {
            ty: DataType::Text,
            unknown: true,
            value: Ok(Datum::Text(value.to_owned())),
        },
        ty => {
            let ty = type_named(ty);
            Arg {
                ty,
                unknown: false,
                value: pgtext::parse(&ty, value, text).map_err(sql_error),
            }
        }
    }
}

/// What a case produced, as `regen.sh` records it.
fn render(outcome: Result<(Datum, DataType), SqlError>, text: &TextContext) -> String {
    match outcome {
        Ok((Datum::Null, ty)) => format!("null\t{}", ty.format_type()),
        Ok((d, ty)) => format!(
            "value\t{}\t{}",
            ty.format_type(),
            escape(&pgtext::format(&d, text))
        ),
        Err(e) => format!(
            "error\t{}\t{}\t{}\t{}",
            e.code,
            escape(&e.message),
            escape(e.detail.as_deref().unwrap_or("")),
            escape(e.hint.as_deref().unwrap_or(""))
        ),
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// `LIKE`/`ILIKE` cases: text operands and an optional escape string,
/// as the binder passes them to `like_match`.
fn like(case_insensitive: bool, args: Vec<Arg>) -> Result<(Datum, DataType), SqlError> {
    let mut texts = Vec::new();
    for a in args {
        match a.value? {
            Datum::Text(s) => texts.push(Some(s)),
            Datum::Null => texts.push(None),
            other => panic!("LIKE cases take text, not {other:?}"),
        }
    }
    let (Some(s), Some(p)) = (&texts[0], &texts[1]) else {
        return Ok((Datum::Null, DataType::Bool));
    };
    let escape = match texts.get(2) {
        None => Some('\\'),
        Some(None) => return Ok((Datum::Null, DataType::Bool)),
        Some(Some(e)) => {
            let mut chars = e.chars();
            match (chars.next(), chars.next()) {
                (None, _) => None,
                (Some(c), None) => Some(c),
                _ => {
                    return Err(SqlError::new("22025", "invalid escape string")
                        .with_hint("Escape string must be empty or one character."))
                }
            }
        }
    };
    let m = func::like_match(s, p, escape, case_insensitive)?;
    Ok((Datum::Bool(m), DataType::Bool))
}

/// Resolves one case; `None` when nothing matches.
fn resolve(op: &str, args: &[Arg]) -> Option<Resolved> {
    let types: Vec<DataType> = args.iter().map(|a| a.ty).collect();
    let unknown: Vec<bool> = args.iter().map(|a| a.unknown).collect();
    if let Some(o) = op.strip_prefix("op:") {
        assert_eq!(args.len(), 2, "a binary operator takes two arguments");
        func::resolve_operator(o, types[0], types[1], unknown[0], unknown[1])
    } else if let Some(o) = op.strip_prefix("prefix:") {
        assert_eq!(args.len(), 1, "a prefix operator takes one argument");
        func::resolve_prefix_operator(o, types[0], unknown[0])
    } else {
        func::resolve(op, &types, &unknown)
    }
}

/// Converts the arguments as the binder would, then calls.
fn evaluate(
    r: &Resolved,
    args: Vec<Arg>,
    ctx: &EvalCtx<'_>,
) -> Result<(Datum, DataType), SqlError> {
    let mut values = Vec::with_capacity(args.len());
    for (arg, ty) in args.into_iter().zip(&r.arg_types) {
        let v = arg.value?;
        let v = match v {
            Datum::Null => Datum::Null,
            Datum::Text(s) if arg.unknown => pgtext::parse(ty, &s, ctx.text).map_err(sql_error)?,
            v if arg.ty == *ty => v,
            v => cast::cast(v, ty, ctx.text).map_err(sql_error)?,
        };
        values.push(v);
    }
    let d = if func::is_strict(r.func) && values.iter().any(Datum::is_null) {
        Datum::Null
    } else {
        func::call(r.func, &values, ctx)?
    };
    Ok((d, r.ret))
}

#[test]
fn functions_match_postgres() {
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
        "expected.tsv is stale: run compute/tests/data/func/regen.sh"
    );
    let mut text = TextContext {
        jsonb: Some(jsonb_hooks()),
        ..TextContext::default()
    };
    let mut failures = String::new();
    let mut gaps_matched = Vec::new();
    let mut checked = 0;
    for (case, recorded) in cases.iter().zip(&expected) {
        let (recorded_case, want) = recorded
            .split_once("\t=>\t")
            .unwrap_or_else(|| panic!("malformed expected line {recorded:?}"));
        assert_eq!(
            recorded_case, *case,
            "expected.tsv is stale: run compute/tests/data/func/regen.sh"
        );
        let fields: Vec<&str> = case.split('\t').collect();
        if fields[0] == "@timezone" {
            text.time_zone = TimeZone::parse_setting(fields[1]).expect("a supported zone");
            continue;
        }
        let ctx = EvalCtx {
            params: &[],
            outer: &[],
            sub: None,
            catalog: None,
            text: &text,
            now: 0,
            database: "postgres",
            user: "postgres",
        };
        let args: Vec<Arg> = fields[1..].iter().map(|f| parse_arg(f, &text)).collect();
        let got = match fields[0] {
            "like" | "ilike" => render(like(fields[0] == "ilike", args), &text),
            _ => match resolve(fields[0], &args) {
                None => {
                    let code = want.strip_prefix("error\t").map(|r| &r[..5]);
                    if code.is_some_and(|c| RESOLUTION_CODES.contains(&c)) {
                        checked += 1;
                        continue;
                    }
                    "does not resolve".to_owned()
                }
                Some(r) => render(evaluate(&r, args, &ctx), &text),
            },
        };
        let gap = KNOWN_GAPS.iter().find(|(c, _)| c == case);
        if got == want {
            if let Some((c, _)) = gap {
                gaps_matched.push(*c);
            }
            checked += 1;
        } else if gap.is_none() {
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
    assert!(
        gaps_matched.is_empty(),
        "known gaps now match PostgreSQL, remove them: {gaps_matched:?}"
    );
    assert!(checked > 500, "only {checked} cases checked");
}

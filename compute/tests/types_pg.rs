//! Checks `pgtext` and `cast` against what a real PostgreSQL printed.
//!
//! `tests/data/types/cases.tsv` lists inputs, cast chains and session time
//! zones; `tests/data/types/regen.sh` ran each through PostgreSQL 15 and
//! recorded the output text, or the SQLSTATE, message, detail and hint of
//! the error, in `expected.tsv`. This test runs the same cases through our
//! input functions, casts and output functions and requires the same result,
//! so it needs no PostgreSQL at run time. Edit `cases.tsv`, then rerun
//! `regen.sh`: the test fails while the two files disagree on the cases.

use std::path::Path;

use sextant_compute::cast;
use sextant_compute::datum::{DataType, Datum};
use sextant_compute::pgtext::{self, JsonbHooks, TextContext, TimeZone, TypeError};

/// jsonb's input and output functions, from the module that owns jsonb's
/// binary form. Until it is plugged in here, the jsonb cases are skipped.
const JSONB_HOOKS: Option<JsonbHooks> = None;

/// Cases where we knowingly differ from PostgreSQL, each with why. The test
/// fails if one of them starts to match, so the list stays current.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[
    (
        "int4[]",
        "{{1,2},{3,4}}",
        "multidimensional arrays are not supported yet",
    ),
    (
        "text",
        "16385",
        "text to regclass looks the name up in the catalog, which sql::pg_catalog does",
    ),
];

/// Decodes a field in COPY text format: `\\`, `\t`, `\n`, `\r`, `\b`, `\f`,
/// `\v`, octal `\ooo` and hex `\xhh` escapes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = bytes[i];
        i += 1;
        match c {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match bytes.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' if bytes.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut v = 0u32;
                for _ in 0..2 {
                    match bytes.get(i).and_then(|&d| char::from(d).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).expect("cases are UTF-8")
}

/// The rows of a COPY-format file, comments and blank lines skipped.
fn rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split('\t').map(unescape).collect())
        .collect()
}

fn data_type(name: &str) -> DataType {
    DataType::from_type_name(name).unwrap_or_else(|| panic!("unknown type {name:?} in cases.tsv"))
}

/// What a case produced: the output text, or the error's fields.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok(String),
    Error {
        sqlstate: String,
        message: String,
        detail: String,
        hint: String,
    },
}

impl From<TypeError> for Outcome {
    fn from(e: TypeError) -> Outcome {
        Outcome::Error {
            sqlstate: e.sqlstate().to_owned(),
            message: e.to_string(),
            detail: e.detail().unwrap_or_default().to_owned(),
            hint: e.hint().unwrap_or_default().to_owned(),
        }
    }
}

fn run_case(ty: &str, input: &str, casts: &str, tz: &str) -> Outcome {
    let zone = TimeZone::parse_setting(if tz.is_empty() { "UTC" } else { tz })
        .unwrap_or_else(|e| panic!("time zone {tz:?}: {e}"));
    let ctx = TextContext {
        jsonb: JSONB_HOOKS,
        ..TextContext::with_time_zone(zone)
    };
    let run = || -> Result<String, TypeError> {
        let mut from = data_type(ty);
        let mut d = pgtext::parse(&from, input, &ctx)?;
        for step in casts.split("::").filter(|s| !s.is_empty()) {
            let to = data_type(step);
            d = cast::cast_from(d, &from, &to, &ctx)?;
            from = to;
        }
        // A reg* value prints through the catalog (`sql::pg_catalog::reg_out`);
        // without one only InvalidOid has a fixed spelling.
        if from.is_reg() && d == Datum::Oid(0) {
            return Ok("-".to_owned());
        }
        Ok(pgtext::format(&d, &ctx))
    };
    match run() {
        Ok(text) => Outcome::Ok(text),
        Err(e) => e.into(),
    }
}

#[test]
fn text_io_and_casts_match_postgres() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/types");
    let cases = rows(&dir.join("cases.tsv"));
    let expected = rows(&dir.join("expected.tsv"));
    let keys = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter().map(|r| r[..4].to_vec()).collect()
    };
    assert_eq!(
        keys(&cases),
        keys(&expected),
        "cases.tsv and expected.tsv list different cases: run tests/data/types/regen.sh"
    );

    let mut failures = Vec::new();
    let (mut checked, mut skipped) = (0, 0);
    for row in &expected {
        let [ty, input, casts, tz, kind, result, detail, hint] = &row[..] else {
            panic!("expected.tsv row has {} fields: {row:?}", row.len());
        };
        if JSONB_HOOKS.is_none() && (ty == "jsonb" || casts.contains("jsonb")) {
            skipped += 1;
            continue;
        }
        checked += 1;
        let want = match kind.as_str() {
            "ok" => Outcome::Ok(result.clone()),
            sqlstate => Outcome::Error {
                sqlstate: sqlstate.to_owned(),
                message: result.clone(),
                detail: detail.clone(),
                hint: hint.clone(),
            },
        };
        let got = run_case(ty, input, casts, tz);
        let known_gap = KNOWN_GAPS
            .iter()
            .find(|(gap_ty, gap_input, _)| gap_ty == ty && gap_input == input);
        match known_gap {
            Some((_, _, why)) => {
                if got == want {
                    failures.push(format!(
                        "{ty} {input:?} now matches PostgreSQL; remove it from KNOWN_GAPS ({why})"
                    ));
                }
            }
            None => {
                if got != want {
                    failures.push(format!(
                        "{ty} {input:?} casts {casts:?} tz {tz:?}\n    want {want:?}\n    got  {got:?}"
                    ));
                }
            }
        }
    }
    println!("types_pg: {checked} cases checked, {skipped} jsonb cases skipped");
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ from PostgreSQL:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

//! Checks numeric arithmetic against PostgreSQL 15: every case in
//! `data/numeric/cases.tsv` is evaluated with `datum::numeric_ops` and
//! compared with the result a real PostgreSQL 15 gave, recorded in
//! `data/numeric/expected.tsv` by `data/numeric/regen.sh` (whose header
//! explains both formats). PostgreSQL is not needed to run this test.
//!
//! To add a case, append a line to `cases.tsv`, run `regen.sh`, check the
//! new line of `expected.tsv`, and commit both.
//!
//! The property tests below check the operators against i128 arithmetic
//! and division's rounding bound on many more inputs than the file holds.

use std::fmt::Write as _;

use proptest::prelude::*;
use sextant_compute::datum::numeric_ops::{NumericAccum, NumericOpError};
use sextant_compute::datum::{Numeric, NumericError};

const CASES: &str = include_str!("data/numeric/cases.tsv");
const EXPECTED: &str = include_str!("data/numeric/expected.tsv");

/// A failed case: SQLSTATE and message, as `regen.sh` records errors.
struct Failure {
    sqlstate: &'static str,
    message: String,
}

impl From<NumericOpError> for Failure {
    fn from(e: NumericOpError) -> Failure {
        Failure {
            sqlstate: e.sqlstate(),
            message: e.to_string(),
        }
    }
}

/// An argument that PostgreSQL's `numeric_in` rejects fails the case with
/// its error, as the cast in the generated SQL does.
impl From<NumericError> for Failure {
    fn from(e: NumericError) -> Failure {
        let sqlstate = match e {
            NumericError::Overflow => "22003",
            _ => "22P02",
        };
        Failure {
            sqlstate,
            message: e.to_string(),
        }
    }
}

/// What a case produced, as `regen.sh` records it.
enum Outcome {
    Value(String),
    Null,
    /// A float8, compared by value: PostgreSQL prints the shortest text that
    /// reads back as the same double.
    Float(f64),
}

#[test]
fn numeric_matches_postgres() {
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
        "expected.tsv is stale: run compute/tests/data/numeric/regen.sh"
    );
    let mut failures = String::new();
    let mut failed = 0;
    for (case, recorded) in cases.iter().zip(&expected) {
        let (recorded_case, want) = recorded
            .split_once("\t=>\t")
            .unwrap_or_else(|| panic!("malformed expected line {recorded:?}"));
        assert_eq!(
            recorded_case, *case,
            "expected.tsv is stale: run compute/tests/data/numeric/regen.sh"
        );
        let fields: Vec<&str> = case.split('\t').collect();
        let outcome = evaluate(&fields);
        let agrees = if fields[0] == "to_float8" && want.starts_with("error\t22003\t") {
            saturates(&outcome)
        } else {
            matches(&outcome, want)
        };
        if !agrees {
            failed += 1;
            let got = render(&outcome);
            writeln!(
                failures,
                "case:     {}\nexpected: {}\ngot:      {}\n",
                clip(case),
                clip(want),
                clip(&got)
            )
            .expect("write to String");
        }
    }
    assert!(
        failures.is_empty(),
        "{failed} of {} cases differ from PostgreSQL:\n\n{failures}",
        cases.len()
    );
}

/// Shortens a long line for a failure report.
fn clip(text: &str) -> String {
    const MAX: usize = 300;
    if text.len() <= MAX {
        text.to_owned()
    } else {
        format!("{}… ({} bytes)", &text[..MAX], text.len())
    }
}

/// Whether an outcome is what PostgreSQL recorded.
fn matches(got: &Result<Outcome, Failure>, want: &str) -> bool {
    match (got, want.split_once('\t')) {
        (Ok(Outcome::Float(v)), Some(("value", text))) => {
            let recorded: f64 = text
                .parse()
                .unwrap_or_else(|_| panic!("PostgreSQL printed float8 {text:?}"));
            v.to_bits() == recorded.to_bits() || (v.is_nan() && recorded.is_nan())
        }
        _ => render(got) == want,
    }
}

/// Where the SQL cast to float8 fails because the value is beyond float8's
/// range, `Numeric::to_f64` saturates to ±Infinity or ±0 instead (as
/// PostgreSQL's internal `numeric_float8_no_overflow`); the cast's error is
/// `cast.rs`'s to raise.
fn saturates(got: &Result<Outcome, Failure>) -> bool {
    matches!(got, Ok(Outcome::Float(v)) if v.is_infinite() || *v == 0.0)
}

/// Formats an outcome as `regen.sh` does.
fn render(outcome: &Result<Outcome, Failure>) -> String {
    match outcome {
        Ok(Outcome::Value(text)) => format!("value\t{}", escape(text)),
        Ok(Outcome::Null) => "null".to_owned(),
        Ok(Outcome::Float(v)) => format!("value\t{v:?}"),
        Err(e) => format!("error\t{}\t{}", e.sqlstate, escape(&e.message)),
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn num(text: &str) -> Result<Numeric, Failure> {
    Ok(text.parse::<Numeric>()?)
}

/// `pg_temp.summary` in `regen.sh`: length, scale, head and tail of the text.
fn summary(n: &Numeric) -> String {
    let text = n.to_string();
    let scale = n.scale().map(|s| s.to_string()).unwrap_or_default();
    let head: String = text.chars().take(20).collect();
    let tail: String = text.chars().skip(text.len().saturating_sub(20)).collect();
    format!("{} {scale} {head}...{tail}", text.len())
}

/// PostgreSQL's float8 input for the literals the cases use.
fn float8(text: &str) -> f64 {
    text.parse()
        .unwrap_or_else(|_| panic!("float8 literal {text:?} in cases.tsv"))
}

/// PostgreSQL's int8 and int4 input for the literals the cases use.
fn int(text: &str, bits: u32) -> i64 {
    let v: i64 = text
        .parse()
        .unwrap_or_else(|_| panic!("integer literal {text:?} in cases.tsv"));
    assert!(
        bits == 64 || i64::from(i32::MIN) <= v && v <= i64::from(i32::MAX),
        "int4 literal {text:?} out of range"
    );
    v
}

/// Evaluates one case: `fields[0]` is the operation, the rest its arguments.
fn evaluate(fields: &[&str]) -> Result<Outcome, Failure> {
    let (op, args) = fields.split_first().expect("a case has an operation");
    if let Some(inner) = op.strip_prefix("summary:") {
        let numeric = numeric_result(inner, args)?;
        return Ok(Outcome::Value(summary(&numeric)));
    }
    match *op {
        "to_float8" => Ok(Outcome::Float(num(args[0])?.to_f64())),
        "to_int8" => Ok(Outcome::Value(num(args[0])?.to_i64()?.to_string())),
        "sum" | "avg" | "sum_int8" | "avg_int8" | "avg_int4" => {
            let mut acc = NumericAccum::new();
            for arg in args {
                match *op {
                    "sum" | "avg" => acc.add(&num(arg)?),
                    "avg_int4" => acc.add_i64(int(arg, 32)),
                    _ => acc.add_i64(int(arg, 64)),
                }
            }
            let result = if op.starts_with("sum") {
                acc.sum()?
            } else {
                acc.avg()?
            };
            Ok(result.map_or(Outcome::Null, |n| Outcome::Value(n.to_string())))
        }
        _ => Ok(Outcome::Value(numeric_result(op, args)?.to_string())),
    }
}

/// Evaluates an operation whose result is a numeric.
fn numeric_result(op: &str, args: &[&str]) -> Result<Numeric, Failure> {
    let arg = |i: usize| num(args[i]);
    let scale = || -> i32 { args[1].parse().expect("int4 scale in cases.tsv") };
    Ok(match op {
        "add" => arg(0)?.add(&arg(1)?)?,
        "sub" => arg(0)?.sub(&arg(1)?)?,
        "mul" => arg(0)?.mul(&arg(1)?)?,
        "div" => arg(0)?.div(&arg(1)?)?,
        "mod" => arg(0)?.rem(&arg(1)?)?,
        "div_trunc" => arg(0)?.div_trunc(&arg(1)?)?,
        "power" => arg(0)?.power(&arg(1)?)?,
        "log" => arg(0)?.log(&arg(1)?)?,
        "log10" => arg(0)?.log10()?,
        "neg" => arg(0)?.neg(),
        "abs" => arg(0)?.abs(),
        "sign" => arg(0)?.sign(),
        "ceil" => arg(0)?.ceil()?,
        "floor" => arg(0)?.floor()?,
        "sqrt" => arg(0)?.sqrt()?,
        "exp" => arg(0)?.exp()?,
        "ln" => arg(0)?.ln()?,
        "round" => arg(0)?.round(scale())?,
        "trunc" => arg(0)?.trunc(scale()),
        "from_float8" => Numeric::from_f64(float8(args[0])),
        other => panic!("unknown operation {other:?} in cases.tsv"),
    })
}

fn n(text: &str) -> Numeric {
    text.parse().expect("numeric literal")
}

/// `mantissa × 10^-scale` as a numeric with that display scale.
fn fixed(mantissa: i128, scale: u32) -> Numeric {
    let digits = mantissa.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int_part, frac) = padded.split_at(padded.len() - scale);
    let sign = if mantissa < 0 { "-" } else { "" };
    if scale == 0 {
        n(&format!("{sign}{int_part}"))
    } else {
        n(&format!("{sign}{int_part}.{frac}"))
    }
}

/// Rounds `numer / denom` to an integer, half away from zero.
fn div_round_half_away(numer: i128, denom: i128) -> i128 {
    let q = numer / denom;
    let r = numer % denom;
    if 2 * r.abs() >= denom.abs() {
        q + if (numer < 0) == (denom < 0) { 1 } else { -1 }
    } else {
        q
    }
}

proptest! {
    #[test]
    fn integer_add_sub_mul_agree_with_i128(a in any::<i64>(), b in any::<i64>()) {
        let (x, y) = (Numeric::from(a), Numeric::from(b));
        let (a, b) = (i128::from(a), i128::from(b));
        prop_assert_eq!(x.add(&y).unwrap().to_string(), (a + b).to_string());
        prop_assert_eq!(x.sub(&y).unwrap().to_string(), (a - b).to_string());
        prop_assert_eq!(x.mul(&y).unwrap().to_string(), (a * b).to_string());
        if b != 0 {
            prop_assert_eq!(x.rem(&y).unwrap().to_string(), (a % b).to_string());
            prop_assert_eq!(x.div_trunc(&y).unwrap().to_string(), (a / b).to_string());
        }
    }

    #[test]
    fn fixed_point_add_sub_mul_keep_exact_digits_and_scales(
        a in -10i128.pow(18)..10i128.pow(18),
        b in -10i128.pow(18)..10i128.pow(18),
        sa in 0u32..12,
        sb in 0u32..12,
    ) {
        let (x, y) = (fixed(a, sa), fixed(b, sb));
        let s = sa.max(sb);
        let (a_s, b_s) = (a * 10i128.pow(s - sa), b * 10i128.pow(s - sb));
        prop_assert!(x.add(&y).unwrap().is_identical(&fixed(a_s + b_s, s)));
        prop_assert!(x.sub(&y).unwrap().is_identical(&fixed(a_s - b_s, s)));
        prop_assert!(x.mul(&y).unwrap().is_identical(&fixed(a * b, sa + sb)));
    }

    #[test]
    fn division_rounds_the_exact_quotient(
        a in -10i128.pow(15)..10i128.pow(15),
        b in (-10i128.pow(15)..10i128.pow(15)).prop_filter("nonzero", |b| *b != 0),
    ) {
        let q = Numeric::from(a as i64).div(&Numeric::from(b as i64)).unwrap();
        let s = u32::from(q.scale().unwrap());
        // Integer operands: the scale is at most 16 + 15 places.
        prop_assert!(s <= 31, "scale {}", s);
        let want = div_round_half_away(a * 10i128.pow(s), b);
        prop_assert!(q.is_identical(&fixed(want, s)), "{} / {} = {}", a, b, q);
    }

    #[test]
    fn quotient_times_divisor_is_within_half_an_ulp_times_divisor(
        a in -10i128.pow(18)..10i128.pow(18),
        b in (-10i128.pow(18)..10i128.pow(18)).prop_filter("nonzero", |b| *b != 0),
        sa in 0u32..20,
        sb in 0u32..20,
    ) {
        let (x, y) = (fixed(a, sa), fixed(b, sb));
        let q = x.div(&y).unwrap();
        let s = u32::from(q.scale().unwrap());
        prop_assert!(s >= sa.max(sb));
        // q = x/y + e with |e| <= 10^-s / 2, and q × y is exact, so
        // |q × y - x| = |e × y| <= |y| × 10^-s / 2.
        let error = q.mul(&y).unwrap().sub(&x).unwrap().abs();
        let bound = y.abs().mul(&fixed(5, s + 1)).unwrap();
        prop_assert!(error <= bound, "({} / {}) = {}: error {} > {}", x, y, q, error, bound);
    }

    #[test]
    fn round_trunc_ceil_floor_bracket_the_value(
        a in -10i128.pow(18)..10i128.pow(18),
        sa in 0u32..10,
        s in -12i32..12,
    ) {
        let x = fixed(a, sa);
        let t = x.trunc(s);
        let r = x.round(s).unwrap();
        prop_assert!(t.abs() <= x.abs());
        let unit = if s >= 0 { fixed(1, s as u32) } else { n(&format!("1e{}", -s)) };
        prop_assert!(x.sub(&t).unwrap().abs() < unit);
        prop_assert!(x.sub(&r).unwrap().abs().mul(&n("2")).unwrap() <= unit);
        let (c, f) = (x.ceil().unwrap(), x.floor().unwrap());
        prop_assert!(f <= x && x <= c);
        prop_assert!(c.sub(&f).unwrap() <= n("1"));
        prop_assert_eq!(c.scale(), Some(0));
    }

    #[test]
    fn sqrt_is_correctly_rounded(a in 1i128..10i128.pow(30), sa in 0u32..20) {
        let x = fixed(a, sa);
        let r = x.sqrt().unwrap();
        let s = r.scale().unwrap();
        // (r - half ulp)² <= x < (r + half ulp)²
        let half_ulp = fixed(5, u32::from(s) + 1);
        let lo = r.sub(&half_ulp).unwrap();
        let hi = r.add(&half_ulp).unwrap();
        prop_assert!(lo.mul(&lo).unwrap() <= x, "sqrt({}) = {} too large", x, r);
        prop_assert!(hi.mul(&hi).unwrap() >= x, "sqrt({}) = {} too small", x, r);
    }

    #[test]
    fn to_i64_rounds_half_away_from_zero(a in any::<i64>(), frac in 0u32..1000) {
        let x = Numeric::from(a).add(&fixed(i128::from(frac), 3)).unwrap();
        // x is exactly (a × 1000 + frac) / 1000.
        let want = div_round_half_away(i128::from(a) * 1000 + i128::from(frac), 1000);
        match i64::try_from(want) {
            Ok(v) => prop_assert_eq!(x.to_i64(), Ok(v)),
            Err(_) => prop_assert!(x.to_i64().is_err()),
        }
    }
}

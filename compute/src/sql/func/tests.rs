//! Unit tests for what the PostgreSQL-recorded cases cannot pin: the
//! volatile functions, the regex cache, LIKE's worst cases, and the
//! invariants of the tables.

use super::*;
use crate::pgtext::TextContext;

fn ctx_with<'a>(text: &'a TextContext, now: i64) -> EvalCtx<'a> {
    EvalCtx {
        params: &[],
        outer: &[],
        sub: None,
        catalog: None,
        text,
        now,
        database: "db",
        user: "u",
    }
}

#[test]
fn keywords_are_sorted_for_binary_search() {
    let words = text::NON_UNRESERVED_KEYWORDS;
    assert!(
        words.windows(2).all(|w| w[0] < w[1]),
        "keyword list not sorted"
    );
}

#[test]
fn now_is_the_transaction_start_and_stable() {
    let text = TextContext::default();
    let ctx = ctx_with(&text, 1_234_567);
    for name in ["now", "transaction_timestamp", "statement_timestamp"] {
        let r = resolve(name, &[], &[]).expect("resolves");
        assert_eq!(r.ret, DataType::TimestampTz);
        assert!(is_volatile(r.func));
        assert_eq!(call(r.func, &[], &ctx), Ok(Datum::TimestampTz(1_234_567)));
    }
    let r = resolve("current_date", &[], &[]).expect("resolves");
    // 1.23 s after 2000-01-01 00:00 UTC is that day.
    assert_eq!(call(r.func, &[], &ctx), Ok(Datum::Date(0)));
}

#[test]
fn current_date_follows_the_session_zone() {
    let text = TextContext::with_time_zone(
        crate::pgtext::TimeZone::from_utc_offset_secs(-3600).expect("valid"),
    );
    let ctx = ctx_with(&text, 0);
    let r = resolve("current_date", &[], &[]).expect("resolves");
    assert_eq!(call(r.func, &[], &ctx), Ok(Datum::Date(-1)));
}

#[test]
fn clock_timestamp_moves_and_random_is_in_range() {
    let text = TextContext::default();
    let ctx = ctx_with(&text, 0);
    let clock = resolve("clock_timestamp", &[], &[]).expect("resolves");
    assert!(is_volatile(clock.func));
    let Ok(Datum::TimestampTz(a)) = call(clock.func, &[], &ctx) else {
        panic!("clock_timestamp returns a timestamptz");
    };
    // After 2020-01-01 (631152000 s after 2000-01-01).
    assert!(a > 631_152_000_000_000, "clock is {a}");
    let random = resolve("random", &[], &[]).expect("resolves");
    assert!(is_volatile(random.func));
    let mut distinct = std::collections::HashSet::new();
    for _ in 0..100 {
        let Ok(Datum::Float8(v)) = call(random.func, &[], &ctx) else {
            panic!("random returns a float8");
        };
        assert!((0.0..1.0).contains(&v), "random gave {v}");
        distinct.insert(v.to_bits());
    }
    assert!(distinct.len() > 90, "random repeats: {}", distinct.len());
}

#[test]
fn immutable_functions_are_not_volatile() {
    let r = resolve("lower", &[DataType::Text], &[false]).expect("resolves");
    assert!(!is_volatile(r.func));
    assert!(is_strict(r.func));
    let r = resolve("concat", &[DataType::Int4], &[false]).expect("resolves");
    assert!(!is_strict(r.func));
}

#[test]
fn strict_functions_return_null_on_null() {
    let text = TextContext::default();
    let ctx = ctx_with(&text, 0);
    assert_eq!(
        call(Builtin::CharLength, &[Datum::Null], &ctx),
        Ok(Datum::Null)
    );
}

#[test]
fn regex_cache_reuses_compiled_patterns() {
    let a = pattern::compile_cached("^a+b$").expect("compiles");
    let b = pattern::compile_cached("^a+b$").expect("compiles");
    assert!(
        std::sync::Arc::ptr_eq(&a, &b),
        "the second compile was not cached"
    );
}

#[test]
fn regex_match_is_linear_on_pathological_patterns() {
    // (a*)*b against a long run of a's is exponential for backtracking
    // engines.
    let s = "a".repeat(100_000);
    let start = std::time::Instant::now();
    assert_eq!(pattern::regex_match(&s, "(a*)*b", false), Ok(false));
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn like_has_no_exponential_backtracking() {
    let s = "a".repeat(5_000);
    let p = "%a".repeat(20) + "b";
    let start = std::time::Instant::now();
    assert_eq!(like_match(&s, &p, Some('\\'), false), Ok(false));
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn like_matches_a_model() {
    // A direct recursive definition, for short inputs.
    fn model(s: &[char], p: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('%') => (0..=s.len()).any(|i| model(&s[i..], &p[1..])),
            Some('_') => !s.is_empty() && model(&s[1..], &p[1..]),
            Some(c) => s.first() == Some(c) && model(&s[1..], &p[1..]),
        }
    }
    let alphabet = ['a', 'b', '%', '_'];
    let mut patterns = vec![String::new()];
    for _ in 0..4 {
        let next: Vec<String> = patterns
            .iter()
            .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
            .collect();
        patterns.extend(next);
    }
    let texts = ["", "a", "b", "ab", "ba", "aab", "abab", "bbbb", "abba"];
    for p in &patterns {
        let pc: Vec<char> = p.chars().collect();
        for t in texts {
            let tc: Vec<char> = t.chars().collect();
            assert_eq!(
                like_match(t, p, None, false),
                Ok(model(&tc, &pc)),
                "{t:?} LIKE {p:?}"
            );
        }
    }
}

#[test]
fn negate_interval_checks_overflow() {
    assert_eq!(
        negate_interval(1, -2, 3),
        Ok(Datum::Interval {
            months: -1,
            days: 2,
            micros: -3
        })
    );
    assert_eq!(
        negate_interval(i32::MIN, 0, 0).map_err(|e| e.code),
        Err("22008")
    );
}

#[test]
fn numeric_arith_follows_postgres_scales() {
    let n = |s: &str| s.parse::<crate::datum::Numeric>().expect("numeric");
    let div = numeric_arith(NumericOp::Div, &n("1"), &n("3")).expect("divides");
    assert_eq!(div.to_string(), "0.33333333333333333333");
    let div = numeric_arith(NumericOp::Div, &n("10"), &n("4")).expect("divides");
    assert_eq!(div.to_string(), "2.5000000000000000");
    let m = numeric_arith(NumericOp::Mul, &n("1.5"), &n("2.25")).expect("multiplies");
    assert_eq!(m.to_string(), "3.375");
    let r = numeric_arith(NumericOp::Mod, &n("-7.5"), &n("2")).expect("mod");
    assert_eq!(r.to_string(), "-1.5");
    assert_eq!(
        numeric_arith(NumericOp::Div, &n("1"), &n("0")).map_err(|e| e.code),
        Err("22012")
    );
}

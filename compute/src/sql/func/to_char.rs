//! `to_char`: PostgreSQL's template formatting of timestamps, dates,
//! intervals and numbers (`formatting.c`), in the C locale.
//!
//! Dashboards label axes with `to_char(ts, 'YYYY-MM-DD HH24:MI')` and
//! format amounts with `to_char(x, 'FM999,999.00')`, and show the text as
//! it comes. The date/time patterns are PostgreSQL's DCH keywords (case
//! decides the case of names: `Month`, `MONTH`, `month`), with the `FM`
//! (no padding), `FX`/`TM` (accepted, no effect in the C locale) prefixes
//! and the `TH`/`th` ordinal suffix; double-quoted text and backslash
//! escapes are literal. The number patterns are `9 0 . , D G S MI PL SG
//! PR L TH RN` and `FM`; `V` and `EEEE` are refused (0A000). In the C
//! locale `D` is `.`, `G` is `,` and `L` is a blank, as in PostgreSQL.
//! An empty result is NULL, as PostgreSQL returns.

use crate::datum::{Datum, Numeric};
use crate::sql::error::SqlError;
use crate::sql::expr::EvalCtx;

const USECS_PER_DAY: i64 = 86_400_000_000;
/// Julian day number of 2000-01-01, the epoch of dates and timestamps.
const JULIAN_2000: i64 = 2_451_545;

/// Broken-down time, as PostgreSQL's `pg_tm` for `to_char`.
#[derive(Default)]
struct Tm {
    year: i64,
    mon: i64,
    mday: i64,
    hour: i64,
    min: i64,
    sec: i64,
    usec: i64,
    /// Days since 2000-01-01 (timestamps only).
    days: Option<i64>,
    /// The zone, for timestamptz: abbreviation and seconds east of UTC.
    zone: Option<(String, i32)>,
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    // Howard Hinnant's algorithm, days since 1970-01-01.
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days from 1970-01-01 to 2000-01-01.
const DAYS_1970_2000: i64 = 10_957;

fn tm_from_local(us: i64) -> Tm {
    let days = us.div_euclid(USECS_PER_DAY);
    let rem = us.rem_euclid(USECS_PER_DAY);
    let (year, mon, mday) = civil_from_days(days + DAYS_1970_2000);
    Tm {
        year,
        mon,
        mday,
        hour: rem / 3_600_000_000,
        min: rem / 60_000_000 % 60,
        sec: rem / 1_000_000 % 60,
        usec: rem % 1_000_000,
        days: Some(days),
        zone: None,
    }
}

/// `to_char(timestamp, text)`; `None` for an infinite timestamp or an
/// empty result.
pub fn timestamp(us: i64, fmt: &str) -> Result<Option<String>, SqlError> {
    if us == i64::MAX || us == i64::MIN {
        return Ok(None);
    }
    Ok(nonempty(format_dt(&tm_from_local(us), fmt, false)))
}

/// `to_char(timestamptz, text)` in the session zone.
pub fn timestamptz(us: i64, fmt: &str, ctx: &EvalCtx<'_>) -> Result<Option<String>, SqlError> {
    if us == i64::MAX || us == i64::MIN {
        return Ok(None);
    }
    let zone = ctx.text.time_zone;
    let off = zone.utc_offset_secs_at(us);
    let mut tm = tm_from_local(us + i64::from(off) * 1_000_000);
    tm.zone = Some((zone.abbreviation_at(us), off));
    Ok(nonempty(format_dt(&tm, fmt, false)))
}

/// `to_char(interval, text)`.
pub fn interval(
    months: i32,
    days: i32,
    micros: i64,
    fmt: &str,
) -> Result<Option<String>, SqlError> {
    let tm = Tm {
        year: i64::from(months) / 12,
        mon: i64::from(months) % 12,
        mday: i64::from(days),
        hour: micros / 3_600_000_000,
        min: micros / 60_000_000 % 60,
        sec: micros / 1_000_000 % 60,
        usec: micros % 1_000_000,
        days: None,
        zone: None,
    };
    Ok(nonempty(format_dt(&tm, fmt, true)))
}

fn nonempty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const ROMAN_MONTHS: [&str; 12] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
];

/// The date/time keywords, longest first where one is a prefix of
/// another (PostgreSQL's `DCH_keywords` order).
const DCH: &[&str] = &[
    "A.D.", "A.M.", "AD", "AM", "B.C.", "BC", "CC", "DAY", "DDD", "DD", "DY", "Day", "Dy", "D",
    "FF1", "FF2", "FF3", "FF4", "FF5", "FF6", "HH24", "HH12", "HH", "IDDD", "ID", "IW", "IYYY",
    "IYY", "IY", "I", "J", "MI", "MM", "MONTH", "MON", "MS", "Month", "Mon", "OF", "P.M.", "PM",
    "Q", "RM", "SSSSS", "SSSS", "SS", "TZH", "TZM", "TZ", "US", "WW", "W", "Y,YYY", "YYYY", "YYY",
    "YY", "Y", "a.d.", "a.m.", "ad", "am", "b.c.", "bc", "cc", "day", "ddd", "dd", "dy", "d",
    "ff1", "ff2", "ff3", "ff4", "ff5", "ff6", "hh24", "hh12", "hh", "iddd", "id", "iw", "iyyy",
    "iyy", "iy", "i", "j", "mi", "mm", "month", "mon", "ms", "of", "p.m.", "pm", "q", "rm",
    "sssss", "ssss", "ss", "tzh", "tzm", "tz", "us", "ww", "w", "y,yyy", "yyyy", "yyy", "yy", "y",
];

/// `name` cased as the keyword `kw` asks: all capitals, capitalized or
/// lower case.
fn cased(name: &str, kw: &str) -> String {
    let mut chars = kw.chars().filter(char::is_ascii_alphabetic);
    let first_upper = chars.next().is_some_and(|c| c.is_ascii_uppercase());
    let second_upper = chars.next().is_some_and(|c| c.is_ascii_uppercase());
    match (first_upper, second_upper) {
        (true, true) => name.to_ascii_uppercase(),
        (true, false) => name.to_string(),
        _ => name.to_ascii_lowercase(),
    }
}

fn ordinal(n: i64, upper: bool) -> &'static str {
    let n = n.unsigned_abs();
    let s = if (11..=13).contains(&(n % 100)) {
        "th"
    } else {
        match n % 10 {
            1 => "st",
            2 => "nd",
            3 => "rd",
            _ => "th",
        }
    };
    if upper {
        match s {
            "st" => "ST",
            "nd" => "ND",
            "rd" => "RD",
            _ => "TH",
        }
    } else {
        s
    }
}

/// A number zero-padded to `width` (one more for a negative value, as
/// PostgreSQL pads interval fields), or unpadded in fill mode.
fn num(v: i64, width: usize, fm: bool) -> String {
    if fm {
        v.to_string()
    } else {
        let w = if v < 0 { width + 1 } else { width };
        format!("{v:0w$}")
    }
}

fn format_dt(tm: &Tm, fmt: &str, is_interval: bool) -> String {
    let mut out = String::new();
    let b = fmt.as_bytes();
    let mut i = 0;
    // Dates before year 1 are BC: year 0 is 1 BC.
    let bc = tm.year <= 0 && !is_interval;
    let year = if bc { 1 - tm.year } else { tm.year };
    let hour12 = {
        let h = tm.hour % 12;
        if h == 0 {
            12
        } else {
            h
        }
    };
    let (doy, dow, iso) = match tm.days {
        Some(days) => {
            let doy = days + DAYS_1970_2000 - days_from_civil(tm.year, 1, 1) + 1;
            let dow = (days + 6).rem_euclid(7);
            let isodow = if dow == 0 { 7 } else { dow };
            // The ISO year is the year of the week's Thursday.
            let thursday = days + 4 - isodow;
            let (iy, _, _) = civil_from_days(thursday + DAYS_1970_2000);
            let tdoy = thursday + DAYS_1970_2000 - days_from_civil(iy, 1, 1) + 1;
            let week = (tdoy - 1) / 7 + 1;
            (doy, dow, (iy, week, isodow))
        }
        None => (0, 0, (0, 0, 0)),
    };
    while i < b.len() {
        // Prefixes.
        let mut fm = false;
        loop {
            let rest = &fmt[i..];
            if rest.starts_with("FM") || rest.starts_with("fm") {
                fm = true;
                i += 2;
            } else if rest.starts_with("FX")
                || rest.starts_with("fx")
                || rest.starts_with("TM")
                || rest.starts_with("tm")
            {
                i += 2;
            } else {
                break;
            }
        }
        if i >= b.len() {
            break;
        }
        let rest = &fmt[i..];
        let Some(kw) = DCH.iter().find(|k| rest.starts_with(**k)) else {
            // Literal text.
            let c = rest.chars().next().expect("not at the end");
            if c == '"' {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    let ch = fmt[i..].chars().next().expect("in bounds");
                    out.push(ch);
                    i += ch.len_utf8();
                }
                i += 1;
            } else if c == '\\' && b.get(i + 1) == Some(&b'"') {
                out.push('"');
                i += 2;
            } else {
                out.push(c);
                i += c.len_utf8();
            }
            continue;
        };
        i += kw.len();
        let upper = kw.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        let lower_kw = kw.to_ascii_lowercase();
        let mut value: Option<i64> = None;
        let text: String = match lower_kw.as_str() {
            "a.d." | "b.c." => cased(if bc { "b.c." } else { "a.d." }, kw),
            "ad" | "bc" => cased(if bc { "bc" } else { "ad" }, kw),
            "a.m." | "p.m." => cased(if tm.hour % 24 >= 12 { "p.m." } else { "a.m." }, kw),
            "am" | "pm" => cased(if tm.hour % 24 >= 12 { "pm" } else { "am" }, kw),
            "cc" => {
                let cc = if year > 0 { (year + 99) / 100 } else { 0 };
                value = Some(cc);
                num(cc, 2, fm)
            }
            "day" | "dy" => {
                let name = DAYS[dow as usize];
                let name = if lower_kw == "dy" { &name[..3] } else { name };
                let s = cased(name, kw);
                if fm || lower_kw == "dy" {
                    s
                } else {
                    format!("{s:<9}")
                }
            }
            "month" | "mon" => {
                if tm.mon < 1 {
                    String::new()
                } else {
                    let name = MONTHS[(tm.mon - 1) as usize];
                    let name = if lower_kw == "mon" { &name[..3] } else { name };
                    let s = cased(name, kw);
                    if fm || lower_kw == "mon" {
                        s
                    } else {
                        format!("{s:<9}")
                    }
                }
            }
            "rm" => {
                if tm.mon < 1 {
                    String::new()
                } else {
                    let s = cased(
                        ROMAN_MONTHS[(tm.mon - 1) as usize],
                        if upper { "RM" } else { "rm" },
                    );
                    if fm {
                        s
                    } else {
                        format!("{s:<4}")
                    }
                }
            }
            "ddd" => {
                value = Some(doy);
                num(doy, 3, fm)
            }
            "dd" => {
                value = Some(tm.mday);
                num(tm.mday, 2, fm)
            }
            "d" => {
                value = Some(dow + 1);
                (dow + 1).to_string()
            }
            "id" => {
                value = Some(iso.2);
                iso.2.to_string()
            }
            "iddd" => {
                let v = (iso.1 - 1) * 7 + iso.2;
                value = Some(v);
                num(v, 3, fm)
            }
            "iw" => {
                value = Some(iso.1);
                num(iso.1, 2, fm)
            }
            "iyyy" | "iyy" | "iy" | "i" => {
                let n = lower_kw.len();
                let v = if n == 4 {
                    iso.0
                } else {
                    iso.0 % 10i64.pow(n as u32)
                };
                value = Some(v);
                num(v, n, fm)
            }
            "ff1" | "ff2" | "ff3" | "ff4" | "ff5" | "ff6" => {
                let n: u32 = lower_kw[2..].parse().expect("digit");
                let v = tm.usec / 10i64.pow(6 - n);
                value = Some(v);
                num(v, n as usize, fm)
            }
            "hh24" => {
                value = Some(tm.hour);
                num(tm.hour, 2, fm)
            }
            "hh12" | "hh" => {
                let h = if is_interval && tm.hour % 12 == 0 && tm.hour != 0 {
                    12
                } else if is_interval {
                    tm.hour % 12
                } else {
                    hour12
                };
                let h = if is_interval && h == 0 { 12 } else { h };
                value = Some(h);
                num(h, 2, fm)
            }
            "j" => {
                let j = tm.days.map_or(0, |d| d + JULIAN_2000);
                value = Some(j);
                j.to_string()
            }
            "mi" => {
                value = Some(tm.min);
                num(tm.min, 2, fm)
            }
            "mm" => {
                value = Some(tm.mon);
                num(tm.mon, 2, fm)
            }
            "ms" => {
                let v = tm.usec / 1000;
                value = Some(v);
                num(v, 3, fm)
            }
            "us" => {
                value = Some(tm.usec);
                num(tm.usec, 6, fm)
            }
            "of" | "tzh" | "tzm" => {
                let off = tm.zone.as_ref().map_or(0, |z| z.1);
                let sign = if off < 0 { '-' } else { '+' };
                let (h, m) = (off.unsigned_abs() / 3600, off.unsigned_abs() / 60 % 60);
                match lower_kw.as_str() {
                    "of" if m != 0 => format!("{sign}{h:02}:{m:02}"),
                    "of" => format!("{sign}{h:02}"),
                    "tzh" => format!("{sign}{h:02}"),
                    _ => format!("{m:02}"),
                }
            }
            "tz" => {
                let abbrev = tm.zone.as_ref().map(|z| z.0.clone()).unwrap_or_default();
                if upper {
                    abbrev
                } else {
                    abbrev.to_ascii_lowercase()
                }
            }
            "q" => {
                if tm.mon < 1 {
                    String::new()
                } else {
                    let q = (tm.mon - 1) / 3 + 1;
                    value = Some(q);
                    q.to_string()
                }
            }
            "sssss" | "ssss" => {
                let v = tm.hour * 3600 + tm.min * 60 + tm.sec;
                value = Some(v);
                v.to_string()
            }
            "ss" => {
                value = Some(tm.sec);
                num(tm.sec, 2, fm)
            }
            "ww" => {
                let v = (doy - 1) / 7 + 1;
                value = Some(v);
                num(v, 2, fm)
            }
            "w" => {
                let v = (tm.mday - 1) / 7 + 1;
                value = Some(v);
                v.to_string()
            }
            "y,yyy" => {
                value = Some(year);
                format!("{},{:03}", year / 1000, year % 1000)
            }
            "yyyy" => {
                value = Some(year);
                num(year, 4, fm)
            }
            "yyy" | "yy" | "y" => {
                let n = lower_kw.len();
                let v = year % 10i64.pow(n as u32);
                value = Some(v);
                num(v, n, fm)
            }
            other => unreachable!("keyword {other} has a case above"),
        };
        out.push_str(&text);
        // The ordinal suffix of a numeric field.
        let rest = &fmt[i..];
        if rest.starts_with("TH") || rest.starts_with("th") {
            if let Some(v) = value {
                out.push_str(ordinal(v, rest.starts_with("TH")));
            }
            i += 2;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumTok {
    Nine,
    Zero,
    Point,
    Group,
    S,
    Mi,
    Pl,
    Sg,
    Pr,
    L,
    Th(bool),
    Rn(bool),
    Lit(char),
}

/// The value to format: its sign, integer digits and `post` fraction
/// digits, already rounded.
pub struct NumParts {
    /// Below zero after rounding.
    pub negative: bool,
    /// Integer part, no leading zeros ("" for zero).
    pub int_digits: String,
    /// Fraction digits (as many as the template asks for).
    pub frac_digits: String,
    /// The value rounded to an integer, for `TH` and `RN`.
    pub integer: Option<i64>,
}

/// The number of fraction digits `fmt` asks for.
pub fn fraction_digits(fmt: &str) -> Result<usize, SqlError> {
    Ok(parse_num(fmt)?.2)
}

#[allow(clippy::type_complexity)]
fn parse_num(fmt: &str) -> Result<(Vec<NumTok>, bool, usize), SqlError> {
    let mut toks = Vec::new();
    let mut fm = false;
    let mut post = 0;
    let mut seen_point = false;
    let mut i = 0;
    let b = fmt.as_bytes();
    while i < b.len() {
        let rest = &fmt[i..];
        let up = rest.to_ascii_uppercase();
        let (tok, n) = if up.starts_with("FM") {
            fm = true;
            i += 2;
            continue;
        } else if up.starts_with("EEEE") || up.starts_with('V') {
            return Err(SqlError::unsupported(format!(
                "to_char template pattern {}",
                if up.starts_with('V') { "V" } else { "EEEE" }
            )));
        } else if up.starts_with("MI") {
            (NumTok::Mi, 2)
        } else if up.starts_with("PL") {
            (NumTok::Pl, 2)
        } else if up.starts_with("SG") {
            (NumTok::Sg, 2)
        } else if up.starts_with("PR") {
            (NumTok::Pr, 2)
        } else if rest.starts_with("TH") || rest.starts_with("th") {
            (NumTok::Th(rest.starts_with("TH")), 2)
        } else if up.starts_with("RN") {
            (NumTok::Rn(rest.starts_with("RN")), 2)
        } else {
            let c = rest.chars().next().expect("not at the end");
            let t = match c {
                '9' => NumTok::Nine,
                '0' => NumTok::Zero,
                '.' | 'D' | 'd' => NumTok::Point,
                ',' | 'G' | 'g' => NumTok::Group,
                'S' | 's' => NumTok::S,
                'L' | 'l' => NumTok::L,
                c => NumTok::Lit(c),
            };
            (t, c.len_utf8())
        };
        match tok {
            NumTok::Point if seen_point => {
                return Err(SqlError::new(
                    crate::sql::error::code::SYNTAX_ERROR,
                    "multiple decimal points",
                ))
            }
            NumTok::Point => seen_point = true,
            NumTok::Nine | NumTok::Zero if seen_point => post += 1,
            _ => {}
        }
        toks.push(tok);
        i += n;
    }
    Ok((toks, fm, post))
}

fn roman(mut n: i64) -> String {
    const R: [(i64, &str); 13] = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut s = String::new();
    for (v, r) in R {
        while n >= v {
            s.push_str(r);
            n -= v;
        }
    }
    s
}

/// Formats a number's parts with a number template.
pub fn number(parts: &NumParts, fmt: &str) -> Result<Option<String>, SqlError> {
    let (toks, fm, post) = parse_num(fmt)?;
    if let Some(&NumTok::Rn(upper)) = toks.iter().find(|t| matches!(t, NumTok::Rn(_))) {
        let s = match parts.integer {
            Some(n) if (1..=3999).contains(&n) => roman(n),
            _ => "#".repeat(15),
        };
        let s = if upper { s } else { s.to_ascii_lowercase() };
        return Ok(nonempty(if fm { s } else { format!("{s:>15}") }));
    }
    let point_at = toks.iter().position(|t| *t == NumTok::Point);
    let pre = toks
        .iter()
        .take(point_at.unwrap_or(toks.len()))
        .filter(|t| matches!(t, NumTok::Nine | NumTok::Zero))
        .count();
    let first_zero = toks
        .iter()
        .take(point_at.unwrap_or(toks.len()))
        .filter(|t| matches!(t, NumTok::Nine | NumTok::Zero))
        .position(|t| *t == NumTok::Zero);
    let neg = parts.negative;
    // A zero integer part prints only where a 0 asks for it, unless the
    // template has no fraction.
    let int_digits: &str = if parts.int_digits.is_empty() && post == 0 {
        "0"
    } else {
        &parts.int_digits
    };
    let overflow = int_digits.len() > pre;
    let explicit_sign = toks.iter().any(|t| {
        matches!(
            t,
            NumTok::S | NumTok::Mi | NumTok::Pl | NumTok::Sg | NumTok::Pr
        )
    });
    let first_digit = toks
        .iter()
        .position(|t| matches!(t, NumTok::Nine | NumTok::Zero | NumTok::Point));
    // What goes right before the number's first printed character.
    let mut pending: Option<String> = if toks.contains(&NumTok::Pr) {
        // PR wraps the number: `<` before it, `>` at PR's place.
        Some(
            if neg {
                "<"
            } else if fm {
                ""
            } else {
                " "
            }
            .to_string(),
        )
    } else if explicit_sign {
        None
    } else if fm {
        neg.then(|| "-".to_string())
    } else {
        Some(if neg { "-" } else { " " }.to_string())
    };
    let mut out = String::new();
    let mut started = false;
    let mut int_pos = 0;
    let mut frac_pos = 0;
    // FM drops the fraction's trailing zeros printed by 9s.
    let mut frac_keep: Option<usize> = None;
    let mut frac_end = 0;
    let flush = |out: &mut String, pending: &mut Option<String>| {
        if let Some(p) = pending.take() {
            out.push_str(&p);
        }
    };
    for (ti, t) in toks.iter().enumerate() {
        let before_digits = first_digit.is_none_or(|f| ti < f);
        match *t {
            NumTok::Nine | NumTok::Zero if point_at.is_none_or(|p| ti < p) => {
                let d = pre - 1 - int_pos;
                let forced = first_zero.is_some_and(|z| int_pos >= z);
                int_pos += 1;
                if overflow {
                    flush(&mut out, &mut pending);
                    out.push('#');
                    continue;
                }
                let ch = if d < int_digits.len() {
                    Some(int_digits.as_bytes()[int_digits.len() - 1 - d] as char)
                } else if forced {
                    Some('0')
                } else {
                    None
                };
                match ch {
                    Some(c) => {
                        flush(&mut out, &mut pending);
                        out.push(c);
                        started = true;
                    }
                    None if !fm => out.push(' '),
                    None => {}
                }
            }
            NumTok::Nine | NumTok::Zero => {
                flush(&mut out, &mut pending);
                if overflow {
                    out.push('#');
                } else {
                    let c = parts
                        .frac_digits
                        .as_bytes()
                        .get(frac_pos)
                        .map_or('0', |b| *b as char);
                    out.push(c);
                    if c != '0' || *t == NumTok::Zero {
                        frac_keep = Some(out.len());
                    }
                    frac_end = out.len();
                }
                frac_pos += 1;
            }
            NumTok::Point => {
                if fm && post == 0 {
                    continue;
                }
                flush(&mut out, &mut pending);
                out.push('.');
                frac_keep = Some(out.len());
                frac_end = out.len();
                started = true;
            }
            NumTok::Group => {
                if started || overflow {
                    out.push(',');
                } else if !fm {
                    out.push(' ');
                }
            }
            NumTok::S => {
                let s = if neg { "-" } else { "+" };
                if before_digits {
                    pending = Some(s.to_string());
                } else {
                    out.push_str(s);
                }
            }
            NumTok::Pr => {
                if neg {
                    out.push('>');
                } else if !fm {
                    out.push(' ');
                }
            }
            NumTok::Mi => out.push_str(if neg {
                "-"
            } else if fm {
                ""
            } else {
                " "
            }),
            NumTok::Pl => out.push_str(if neg { " " } else { "+" }),
            NumTok::Sg => out.push_str(if neg { "-" } else { "+" }),
            NumTok::L => out.push(' '),
            NumTok::Th(upper) => {
                if !overflow {
                    if let Some(n) = parts.integer {
                        out.push_str(ordinal(n, upper));
                    }
                }
            }
            NumTok::Rn(_) => unreachable!("handled above"),
            NumTok::Lit(c) => out.push(c),
        }
    }
    flush(&mut out, &mut pending);
    if fm {
        if let Some(k) = frac_keep {
            if k < frac_end {
                out.replace_range(k..frac_end, "");
            }
        }
    }
    Ok(nonempty(out))
}

/// The parts of a numeric rounded to `post` digits (half away from zero).
fn numeric_parts(n: &Numeric, post: usize, ctx: &EvalCtx<'_>) -> Result<NumParts, SqlError> {
    let post_i32 = i32::try_from(post).unwrap_or(i32::MAX);
    let rounded = super::call(
        super::Builtin::RoundNum,
        &[Datum::Numeric(n.clone()), Datum::Int4(post_i32)],
        ctx,
    )?;
    let Datum::Numeric(rounded) = rounded else {
        return Err(SqlError::new(
            crate::sql::error::code::INTERNAL_ERROR,
            "round(numeric) gave no numeric",
        ));
    };
    Ok(parts_of_decimal(&rounded.to_string(), post))
}

/// The parts of a float rounded to `post` digits (`printf`'s rounding).
pub fn float_parts(v: f64, post: usize) -> NumParts {
    if !v.is_finite() {
        // PostgreSQL prints NaN and infinity as all-# digits; model as
        // overflow.
        return NumParts {
            negative: v < 0.0,
            int_digits: "#".repeat(400),
            frac_digits: String::new(),
            integer: None,
        };
    }
    parts_of_decimal(&format!("{v:.post$}"), post)
}

/// The parts of an integer.
pub fn int_parts(v: i64, post: usize) -> NumParts {
    parts_of_decimal(&format!("{v}.{}", "0".repeat(post)), post)
}

fn parts_of_decimal(s: &str, post: usize) -> NumParts {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (ip, fp) = body.split_once('.').unwrap_or((body, ""));
    let ip = ip.trim_start_matches('0').to_string();
    let mut fp = fp.to_string();
    fp.truncate(post);
    while fp.len() < post {
        fp.push('0');
    }
    let zero = ip.is_empty() && fp.bytes().all(|b| b == b'0');
    let integer = {
        let whole: i64 = if ip.is_empty() {
            0
        } else {
            ip.parse().unwrap_or(i64::MAX)
        };
        // Round half away from zero on the first dropped digit.
        let up = fp.as_bytes().first().is_some_and(|d| *d >= b'5');
        Some(if up { whole.saturating_add(1) } else { whole })
    };
    NumParts {
        negative: neg && !zero,
        int_digits: ip,
        frac_digits: fp,
        integer,
    }
}

/// Evaluates the `to_char` builtins; arguments arrive non-NULL.
pub(super) fn call(
    f: super::Builtin,
    args: &[Datum],
    ctx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    use super::Builtin as B;
    let Datum::Text(fmt) = &args[1] else {
        return Err(SqlError::new(
            crate::sql::error::code::INTERNAL_ERROR,
            "to_char template is not text",
        ));
    };
    let out = match (f, &args[0]) {
        (B::ToCharTs, Datum::Timestamp(us)) => timestamp(*us, fmt)?,
        (B::ToCharTz, Datum::TimestampTz(us)) => timestamptz(*us, fmt, ctx)?,
        (
            B::ToCharInterval,
            Datum::Interval {
                months,
                days,
                micros,
            },
        ) => interval(*months, *days, *micros, fmt)?,
        (B::ToCharNumber, v) => number_datum(v, fmt, ctx)?,
        (f, v) => {
            return Err(SqlError::new(
                crate::sql::error::code::INTERNAL_ERROR,
                format!("{f:?} of {v:?}"),
            ))
        }
    };
    Ok(out.map_or(Datum::Null, Datum::Text))
}

/// Evaluates `to_char(value, fmt)` for the numeric argument types.
fn number_datum(v: &Datum, fmt: &str, ctx: &EvalCtx<'_>) -> Result<Option<String>, SqlError> {
    let post = fraction_digits(fmt)?;
    let parts = match v {
        Datum::Int2(i) => int_parts(i64::from(*i), post),
        Datum::Int4(i) => int_parts(i64::from(*i), post),
        Datum::Int8(i) => int_parts(*i, post),
        Datum::Float4(f) => float_parts(f64::from(*f), post),
        Datum::Float8(f) => float_parts(*f, post),
        Datum::Numeric(n) => numeric_parts(n, post, ctx)?,
        other => {
            return Err(SqlError::new(
                crate::sql::error::code::INTERNAL_ERROR,
                format!("to_char of {other:?}"),
            ))
        }
    };
    number(&parts, fmt)
}

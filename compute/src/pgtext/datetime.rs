//! Date, timestamp, timestamptz and interval text, ported from PostgreSQL
//! 15's `datetime.c`, `date.c` and `timestamp.c`.
//!
//! PostgreSQL reads date/time text in two passes, and so does this module:
//! [`tokenize`] (`ParseDateTime`) splits the text into fields (numbers,
//! dates, times, words, signed offsets), then [`decode_date_time`]
//! (`DecodeDateTime`) or [`decode_interval`] (`DecodeInterval`) interprets
//! the fields in context. The heuristics are PostgreSQL's, quirks included
//! (a day-of-week word before an ISO date is rejected, `10:00 1.5 days`
//! drops the half day), because clients depend on what PostgreSQL accepts.
//!
//! Calendar arithmetic is PostgreSQL's: Julian day numbers on the proleptic
//! Gregorian calendar, year 0 being 1 BC, values counted from 2000-01-01.
//! Output follows the session's `DateStyle` (ISO, SQL, Postgres, German)
//! and `IntervalStyle`; input reads ambiguous numeric dates in `DateStyle`'s
//! order. Time zones are described in the parent module.

use super::float;
use super::{DateOrder, DateOutput, DateStyle, IntervalStyle, TextContext, TimeZone, TypeError};
use crate::datum::USECS_PER_DAY;

/// Julian day of 2000-01-01, PostgreSQL's epoch.
const POSTGRES_EPOCH_JDATE: i64 = 2_451_545;
/// Julian day of 1970-01-01.
const UNIX_EPOCH_JDATE: i64 = 2_440_588;
/// First Julian day past the date range (5874898-01-01).
const DATE_END_JULIAN: i64 = 2_147_483_494;
/// First Julian day past the timestamp range (294277-01-01).
const TIMESTAMP_END_JULIAN: i64 = 109_203_528;
/// Earliest timestamp, 4714-11-24 00:00:00 BC (Julian day 0).
const MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;
/// First timestamp past the range, 294277-01-01 00:00:00.
const END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;
/// Earliest year and month `IS_VALID_JULIAN` accepts (4714 BC, November).
const JULIAN_MIN_YEAR: i32 = -4713;
const JULIAN_MIN_MONTH: i32 = 11;
/// First year and month past `IS_VALID_JULIAN`'s range.
const JULIAN_MAX_YEAR: i32 = 5_874_898;
const JULIAN_MAX_MONTH: i32 = 6;

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
const SECS_PER_HOUR: i32 = 3600;
const MONTHS_PER_YEAR: i32 = 12;
/// Days in a month for fractional-month interval input.
const DAYS_PER_MONTH: i32 = 30;
/// Largest hour in a numeric time zone offset (`MAX_TZDISP_HOUR`).
const TZDISP_HOUR_MAX: i32 = 15;

/// Most fields one date/time string may have (`MAXDATEFIELDS`).
const FIELDS_MAX: usize = 25;
/// `ParseDateTime`'s work buffer for dates and timestamps
/// (`MAXDATELEN + MAXDATEFIELDS`): longer input is a syntax error.
const DATETIME_BUF_LEN: usize = 128 + FIELDS_MAX;
/// `interval_in`'s work buffer.
const INTERVAL_BUF_LEN: usize = 256;
/// Keywords are compared on their first ten characters (`TOKMAXLEN`).
const TOKEN_LEN_MAX: usize = 10;

const DAYS_IN_MONTH: [[i32; 12]; 2] = [
    [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
    [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
];

/// Why date/time text was rejected (`DTERR_*`); turned into a [`TypeError`]
/// with the input and type name by [`DtErr::into_type_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum DtErr {
    BadFormat,
    FieldOverflow,
    /// A month or day out of range: the field order may be wrong.
    MdFieldOverflow,
    TzDispOverflow,
    BadTimezone(String),
    /// `now` and friends without a clock in the context.
    NoCurrentTime,
}

impl DtErr {
    fn into_type_error(self, type_name: &'static str, input: &str) -> TypeError {
        let input = input.to_owned();
        match self {
            DtErr::BadFormat => TypeError::InvalidDatetimeSyntax { type_name, input },
            DtErr::FieldOverflow => TypeError::DatetimeFieldOverflow {
                input,
                datestyle_hint: false,
            },
            DtErr::MdFieldOverflow => TypeError::DatetimeFieldOverflow {
                input,
                datestyle_hint: true,
            },
            DtErr::TzDispOverflow => TypeError::TimeZoneDisplacementOutOfRange { input },
            DtErr::BadTimezone(name) => TypeError::TimeZoneNotRecognized { name },
            DtErr::NoCurrentTime => TypeError::NoCurrentTime { input },
        }
    }
}

/// Field-kind bits, as `DTK_M()` in PostgreSQL: which parts of a value the
/// fields seen so far have set, so that none is set twice.
mod fm {
    pub const RESERV: u32 = 1 << 0;
    pub const MONTH: u32 = 1 << 1;
    pub const YEAR: u32 = 1 << 2;
    pub const DAY: u32 = 1 << 3;
    pub const TZ: u32 = 1 << 5;
    pub const DTZ: u32 = 1 << 6;
    pub const AMPM: u32 = 1 << 9;
    pub const HOUR: u32 = 1 << 10;
    pub const MINUTE: u32 = 1 << 11;
    pub const SECOND: u32 = 1 << 12;
    pub const MILLISECOND: u32 = 1 << 13;
    pub const MICROSECOND: u32 = 1 << 14;
    pub const DOY: u32 = 1 << 15;
    pub const DOW: u32 = 1 << 16;
    pub const ADBC: u32 = 1 << 18;
    pub const WEEK: u32 = 1 << 24;
    pub const DECADE: u32 = 1 << 25;
    pub const CENTURY: u32 = 1 << 26;
    pub const MILLENNIUM: u32 = 1 << 27;
    pub const DTZMOD: u32 = 1 << 28;
    pub const DATE: u32 = YEAR | MONTH | DAY;
    pub const ALL_SECS: u32 = SECOND | MILLISECOND | MICROSECOND;
    pub const TIME: u32 = HOUR | MINUTE | ALL_SECS;
}

// ---------------------------------------------------------------------------
// Calendar arithmetic.

/// Returns the Julian day of a proleptic Gregorian date (`date2j`), year 0
/// being 1 BC. Exact for any year in i32.
pub(crate) fn date2j(year: i32, month: i32, day: i32) -> i64 {
    let (mut y, mut m) = (i64::from(year), i64::from(month));
    if m > 2 {
        m += 1;
        y += 4800;
    } else {
        m += 13;
        y += 4799;
    }
    let century = y.div_euclid(100);
    let mut julian = y * 365 - 32167;
    julian += y.div_euclid(4) - century + century.div_euclid(4);
    julian += 7834 * m / 256 + i64::from(day);
    julian
}

/// Days in 400 Gregorian years.
const DAYS_PER_400_YEARS: i64 = 146_097;

/// Returns the (year, month, day) of a Julian day (`j2date`), extended to
/// any day by whole 400-year cycles.
pub(crate) fn j2date(jd: i64) -> (i64, i32, i32) {
    // PostgreSQL's algorithm is for non-negative days; shift others by
    // whole cycles, which preserve month and day.
    let cycles = if jd < 0 {
        (-jd).div_euclid(DAYS_PER_400_YEARS) + 1
    } else {
        0
    };
    let mut julian = jd + cycles * DAYS_PER_400_YEARS + 32044;
    let quad = julian / DAYS_PER_400_YEARS;
    let extra = (julian - quad * DAYS_PER_400_YEARS) * 4 + 3;
    julian += 60 + quad * 3 + extra / DAYS_PER_400_YEARS;
    let quad = julian / 1461;
    julian -= quad * 1461;
    let mut y = julian * 4 / 1461;
    julian = if y != 0 {
        (julian + 305) % 365
    } else {
        (julian + 306) % 366
    } + 123;
    y += quad * 4;
    let year = y - 4800 - cycles * 400;
    let quad = julian * 2141 / 65536;
    let day = julian - 7834 * quad / 256;
    let month = (quad + 10) % 12 + 1;
    (year, month as i32, day as i32)
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// `IS_VALID_JULIAN`: whether a date is inside the range the Julian-day
/// routines support (the day is not checked, as in PostgreSQL).
fn is_valid_julian(year: i32, month: i32) -> bool {
    (year > JULIAN_MIN_YEAR || (year == JULIAN_MIN_YEAR && month >= JULIAN_MIN_MONTH))
        && (year < JULIAN_MAX_YEAR || (year == JULIAN_MAX_YEAR && month < JULIAN_MAX_MONTH))
}

fn is_valid_date(date: i64) -> bool {
    (-POSTGRES_EPOCH_JDATE..DATE_END_JULIAN - POSTGRES_EPOCH_JDATE).contains(&date)
}

fn is_valid_timestamp(ts: i64) -> bool {
    (MIN_TIMESTAMP..END_TIMESTAMP).contains(&ts)
}

/// Broken-down time, as PostgreSQL's `struct pg_tm` (C `int` fields).
#[derive(Clone, Copy, Debug, Default)]
struct Tm {
    year: i32,
    mon: i32,
    mday: i32,
    hour: i32,
    min: i32,
    sec: i32,
    yday: i32,
}

/// `tm2timestamp`: the timestamp of a broken-down time, shifted by
/// `tz_west_secs` (seconds west of UTC) when given; `None` out of range.
fn tm2timestamp(tm: &Tm, fsec: i32, tz_west_secs: Option<i32>) -> Option<i64> {
    if !is_valid_julian(tm.year, tm.mon) {
        return None;
    }
    let date = date2j(tm.year, tm.mon, tm.mday) - POSTGRES_EPOCH_JDATE;
    let time = ((i64::from(tm.hour) * 60 + i64::from(tm.min)) * 60 + i64::from(tm.sec))
        * USECS_PER_SEC
        + i64::from(fsec);
    let mut result = date.checked_mul(USECS_PER_DAY)?.checked_add(time)?;
    if let Some(tz) = tz_west_secs {
        result = result.checked_add(i64::from(tz) * USECS_PER_SEC)?;
    }
    is_valid_timestamp(result).then_some(result)
}

/// A timestamp broken down on the extended calendar: year (astronomical),
/// month, day, and microseconds into the day.
struct Civil {
    year: i64,
    month: i32,
    day: i32,
    time_us: i64,
}

fn timestamp_to_civil(ts: i128) -> Civil {
    let day_us = i128::from(USECS_PER_DAY);
    let days = ts.div_euclid(day_us);
    let time_us = ts.rem_euclid(day_us) as i64;
    let jd = i64::try_from(days + i128::from(POSTGRES_EPOCH_JDATE))
        .expect("an i64 timestamp has fewer days than i64 holds");
    let (year, month, day) = j2date(jd);
    Civil {
        year,
        month,
        day,
        time_us,
    }
}

/// `timestamp2tm` for in-range values: the broken-down time, or `None` if
/// the day falls outside the Julian-day routines' range.
fn timestamp2tm(ts: i64) -> Option<(Tm, i32)> {
    let date = ts.div_euclid(USECS_PER_DAY) + POSTGRES_EPOCH_JDATE;
    if !(0..=i64::from(i32::MAX)).contains(&date) {
        return None;
    }
    let civil = timestamp_to_civil(i128::from(ts));
    let t = civil.time_us;
    Some((
        Tm {
            year: civil.year as i32,
            mon: civil.month,
            mday: civil.day,
            hour: (t / USECS_PER_HOUR) as i32,
            min: (t / USECS_PER_MINUTE % 60) as i32,
            sec: (t / USECS_PER_SEC % 60) as i32,
            yday: 0,
        },
        (t % USECS_PER_SEC) as i32,
    ))
}

// ---------------------------------------------------------------------------
// C library behavior the ports depend on.

/// C's `strtol` on base 10: skips leading whitespace, reads an optional sign
/// and digits. Returns the value (clamped on overflow), the index after the
/// digits (0 if there were none, as `endptr == nptr`) and whether it
/// overflowed.
fn strtol(s: &[u8]) -> (i64, usize, bool) {
    let mut i = s.iter().take_while(|&&b| super::is_c_space_byte(b)).count();
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut value: i64 = 0;
    let mut overflow = false;
    while let Some(&b) = s.get(i).filter(|b| b.is_ascii_digit()) {
        let digit = i64::from(b - b'0');
        let next = value.checked_mul(10).and_then(|v| {
            if negative {
                v.checked_sub(digit)
            } else {
                v.checked_add(digit)
            }
        });
        match next {
            Some(v) => value = v,
            None => {
                overflow = true;
                value = if negative { i64::MIN } else { i64::MAX };
            }
        }
        i += 1;
    }
    if i == start {
        return (0, 0, false);
    }
    (value, i, overflow)
}

/// PostgreSQL's `strtoint`: [`strtol`] with overflow past C `int`.
fn strtoint(s: &[u8]) -> (i32, usize, bool) {
    let (v, end, overflow) = strtol(s);
    match i32::try_from(v) {
        Ok(v) => (v, end, overflow),
        Err(_) => (v as i32, end, true),
    }
}

/// C's `atoi` on a digit string, as glibc computes it: `(int) strtol`.
fn atoi(s: &[u8]) -> i32 {
    strtol(s).0 as i32
}

/// `ParseFraction`: `s` starts with `.`; the rest must be digits (possibly
/// none). Returns the fraction as a double, as `strtod` reads it.
fn parse_fraction(s: &[u8]) -> Result<f64, DtErr> {
    debug_assert_eq!(s.first(), Some(&b'.'));
    if s.len() == 1 {
        return Ok(0.0);
    }
    if !s[1..].iter().all(u8::is_ascii_digit) {
        return Err(DtErr::BadFormat);
    }
    let text = std::str::from_utf8(s).expect("digits are ASCII");
    Ok(format!("0{text}")
        .parse()
        .expect("a point and digits parse as a float"))
}

/// `ParseFractionalSecond`: the fraction in whole microseconds, rounded half
/// to even as `rint`.
fn parse_fractional_second(s: &[u8]) -> Result<i32, DtErr> {
    let frac = parse_fraction(s)?;
    Ok((frac * 1_000_000.0).round_ties_even() as i32)
}

// ---------------------------------------------------------------------------
// Tokenizing.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldType {
    /// Digits, possibly with a point (`12`, `12.5`, `20240102`).
    Number,
    /// Digits with `-`, `/` or `.` separators, or a word with punctuation
    /// (`2024-01-02`, `jan-02-2024`, `america/new_york`).
    Date,
    /// Digits with colons (`03:04:05.5`).
    Time,
    /// A word, lowercased.
    Word,
    /// A signed word (`-infinity`).
    Special,
    /// A sign then digits, colons, points or dashes (`+05:30`, `-1`).
    Tz,
}

#[derive(Clone, Debug)]
struct Field {
    ty: FieldType,
    text: Vec<u8>,
}

/// C's `ispunct` in the C locale.
fn is_punct(b: u8) -> bool {
    b.is_ascii_punctuation()
}

/// `ParseDateTime`: splits date/time text into fields. `buf_len` is the
/// caller's work buffer size, which bounds the total field length.
fn tokenize(input: &[u8], buf_len: usize) -> Result<Vec<Field>, DtErr> {
    let mut fields = Vec::new();
    let mut used = 0usize;
    let mut i = 0usize;
    let at = |i: usize| input.get(i).copied().unwrap_or(0);
    while i < input.len() {
        let c = input[i];
        if super::is_c_space_byte(c) {
            i += 1;
            continue;
        }
        if fields.len() >= FIELDS_MAX {
            return Err(DtErr::BadFormat);
        }
        let mut text = Vec::new();
        let mut push = |text: &mut Vec<u8>, b: u8| -> Result<(), DtErr> {
            if used + 1 >= buf_len {
                return Err(DtErr::BadFormat);
            }
            used += 1;
            text.push(b);
            Ok(())
        };
        let ty;
        if c.is_ascii_digit() {
            while at(i).is_ascii_digit() {
                push(&mut text, at(i))?;
                i += 1;
            }
            if at(i) == b':' {
                ty = FieldType::Time;
                push(&mut text, b':')?;
                i += 1;
                while at(i).is_ascii_digit() || at(i) == b':' || at(i) == b'.' {
                    push(&mut text, at(i))?;
                    i += 1;
                }
            } else if matches!(at(i), b'-' | b'/' | b'.') {
                let delim = at(i);
                push(&mut text, delim)?;
                i += 1;
                if at(i).is_ascii_digit() {
                    let mut t = if delim == b'.' {
                        FieldType::Number
                    } else {
                        FieldType::Date
                    };
                    while at(i).is_ascii_digit() {
                        push(&mut text, at(i))?;
                        i += 1;
                    }
                    if at(i) == delim {
                        t = FieldType::Date;
                        push(&mut text, delim)?;
                        i += 1;
                        while at(i).is_ascii_digit() || at(i) == delim {
                            push(&mut text, at(i))?;
                            i += 1;
                        }
                    }
                    ty = t;
                } else {
                    ty = FieldType::Date;
                    while at(i).is_ascii_alphanumeric() || at(i) == delim {
                        push(&mut text, at(i).to_ascii_lowercase())?;
                        i += 1;
                    }
                }
            } else {
                ty = FieldType::Number;
            }
        } else if c == b'.' {
            push(&mut text, c)?;
            i += 1;
            while at(i).is_ascii_digit() {
                push(&mut text, at(i))?;
                i += 1;
            }
            ty = FieldType::Number;
        } else if c.is_ascii_alphabetic() {
            while at(i).is_ascii_alphabetic() {
                push(&mut text, at(i).to_ascii_lowercase())?;
                i += 1;
            }
            // A word followed by a separator, or by a digit or '+' when it
            // is not a keyword, is a date or a zone name (`jan-02`,
            // `america/new_york`, `utc+5`).
            let next = at(i);
            let is_date = matches!(next, b'-' | b'/' | b'.')
                || ((next == b'+' || next.is_ascii_digit()) && date_keyword(&text).is_none());
            if is_date {
                loop {
                    push(&mut text, at(i).to_ascii_lowercase())?;
                    i += 1;
                    let n = at(i);
                    if !(matches!(n, b'+' | b'-' | b'/' | b'_' | b'.' | b':')
                        || n.is_ascii_alphanumeric())
                    {
                        break;
                    }
                }
                ty = FieldType::Date;
            } else {
                ty = FieldType::Word;
            }
        } else if c == b'+' || c == b'-' {
            push(&mut text, c)?;
            i += 1;
            while super::is_c_space_byte(at(i)) && i < input.len() {
                i += 1;
            }
            if at(i).is_ascii_digit() {
                ty = FieldType::Tz;
                push(&mut text, at(i))?;
                i += 1;
                while at(i).is_ascii_digit() || matches!(at(i), b':' | b'.' | b'-') {
                    push(&mut text, at(i))?;
                    i += 1;
                }
            } else if at(i).is_ascii_alphabetic() {
                ty = FieldType::Special;
                while at(i).is_ascii_alphabetic() {
                    push(&mut text, at(i).to_ascii_lowercase())?;
                    i += 1;
                }
            } else {
                return Err(DtErr::BadFormat);
            }
        } else if is_punct(c) {
            i += 1;
            continue;
        } else {
            return Err(DtErr::BadFormat);
        }
        // The field's terminating NUL in PostgreSQL's buffer.
        used += 1;
        fields.push(Field { ty, text });
    }
    Ok(fields)
}

// ---------------------------------------------------------------------------
// Keywords.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reserved {
    Early,
    Late,
    Epoch,
    Now,
    Today,
    Tomorrow,
    Yesterday,
    Zulu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
    Decade,
    Century,
    Millennium,
    Julian,
    /// Units PostgreSQL knows but no input here uses (`dow`, `doy`,
    /// `isodow`, `isoyear`, `timezone`, …).
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meridian {
    Am,
    Pm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Reserved(Reserved),
    Month(i32),
    /// `ad` (false) or `bc` (true).
    AdBc(bool),
    AmPm(Meridian),
    Ignore,
    DayOfWeek,
    Units(Unit),
    IsoTime,
    /// `dst`: the preceding zone in daylight time, this many seconds ahead.
    DstModifier(i32),
    /// A fixed-offset zone abbreviation: seconds east of UTC, and whether it
    /// names daylight time.
    Zone {
        utc_offset_secs: i32,
        dst: bool,
    },
    Ago,
}

/// Looks up `datetktbl`, the keywords of date/time input.
fn date_keyword(word: &[u8]) -> Option<Token> {
    let word = &word[..word.len().min(TOKEN_LEN_MAX)];
    let word = std::str::from_utf8(word).ok()?;
    Some(match word {
        "-infinity" => Token::Reserved(Reserved::Early),
        "infinity" => Token::Reserved(Reserved::Late),
        "epoch" => Token::Reserved(Reserved::Epoch),
        "now" => Token::Reserved(Reserved::Now),
        "today" => Token::Reserved(Reserved::Today),
        "tomorrow" => Token::Reserved(Reserved::Tomorrow),
        "yesterday" => Token::Reserved(Reserved::Yesterday),
        "allballs" => Token::Reserved(Reserved::Zulu),
        "ad" => Token::AdBc(false),
        "bc" => Token::AdBc(true),
        "am" => Token::AmPm(Meridian::Am),
        "pm" => Token::AmPm(Meridian::Pm),
        "at" | "on" => Token::Ignore,
        "jan" | "january" => Token::Month(1),
        "feb" | "february" => Token::Month(2),
        "mar" | "march" => Token::Month(3),
        "apr" | "april" => Token::Month(4),
        "may" => Token::Month(5),
        "jun" | "june" => Token::Month(6),
        "jul" | "july" => Token::Month(7),
        "aug" | "august" => Token::Month(8),
        "sep" | "sept" | "september" => Token::Month(9),
        "oct" | "october" => Token::Month(10),
        "nov" | "november" => Token::Month(11),
        "dec" | "december" => Token::Month(12),
        "sun" | "sunday" | "mon" | "monday" | "tue" | "tues" | "tuesday" | "wed" | "weds"
        | "wednesday" | "thu" | "thur" | "thurs" | "thursday" | "fri" | "friday" | "sat"
        | "saturday" => Token::DayOfWeek,
        "d" => Token::Units(Unit::Day),
        "h" => Token::Units(Unit::Hour),
        "m" => Token::Units(Unit::Month),
        "mm" => Token::Units(Unit::Minute),
        "s" => Token::Units(Unit::Second),
        "y" => Token::Units(Unit::Year),
        "j" | "jd" | "julian" => Token::Units(Unit::Julian),
        "dow" | "doy" | "isodow" | "isoyear" => Token::Units(Unit::Other),
        "t" => Token::IsoTime,
        "dst" => Token::DstModifier(SECS_PER_HOUR),
        _ => return None,
    })
}

/// Looks up `deltatktbl`, the unit words of interval input.
fn interval_keyword(word: &[u8]) -> Option<Token> {
    let word = &word[..word.len().min(TOKEN_LEN_MAX)];
    let word = std::str::from_utf8(word).ok()?;
    Some(match word {
        "@" => Token::Ignore,
        "ago" => Token::Ago,
        "c" | "cent" | "centuries" | "century" => Token::Units(Unit::Century),
        "d" | "day" | "days" => Token::Units(Unit::Day),
        "dec" | "decade" | "decades" | "decs" => Token::Units(Unit::Decade),
        "h" | "hour" | "hours" | "hr" | "hrs" => Token::Units(Unit::Hour),
        "m" | "min" | "mins" | "minute" | "minutes" => Token::Units(Unit::Minute),
        "microsecon" | "us" | "usec" | "usecond" | "useconds" | "usecs" => {
            Token::Units(Unit::Microsecond)
        }
        "mil" | "millennia" | "millennium" | "mils" => Token::Units(Unit::Millennium),
        "millisecon" | "ms" | "msec" | "msecond" | "mseconds" | "msecs" => {
            Token::Units(Unit::Millisecond)
        }
        "mon" | "mons" | "month" | "months" => Token::Units(Unit::Month),
        "qtr" | "quarter" => Token::Units(Unit::Quarter),
        "s" | "sec" | "second" | "seconds" | "secs" => Token::Units(Unit::Second),
        "timezone" | "timezone_h" | "timezone_m" => Token::Units(Unit::Other),
        "w" | "week" | "weeks" => Token::Units(Unit::Week),
        "y" | "year" | "years" | "yr" | "yrs" => Token::Units(Unit::Year),
        _ => return None,
    })
}

/// Looks up the time zone abbreviations this module supports: UTC's names
/// and the North American zones, with their offsets from PostgreSQL's
/// `Default` abbreviation set. Others are not supported yet.
fn zone_abbreviation(word: &[u8]) -> Option<Token> {
    let (hours, dst) = match word {
        b"utc" | b"ut" | b"gmt" | b"z" | b"zulu" => (0, false),
        b"est" => (-5, false),
        b"edt" => (-4, true),
        b"cst" => (-6, false),
        b"cdt" => (-5, true),
        b"mst" => (-7, false),
        b"mdt" => (-6, true),
        b"pst" => (-8, false),
        b"pdt" => (-7, true),
        _ => return None,
    };
    Some(Token::Zone {
        utc_offset_secs: hours * SECS_PER_HOUR,
        dst,
    })
}

/// Whether a lowercased zone name is one of the IANA names for UTC.
pub(super) fn is_utc_zone_name(name: &str) -> bool {
    let name = name.strip_prefix("etc/").unwrap_or(name);
    matches!(
        name,
        "utc" | "uct" | "gmt" | "gmt0" | "gmt+0" | "gmt-0" | "zulu" | "universal" | "greenwich"
    )
}

/// Reads a POSIX `TZ` string without daylight-saving rules, as
/// PostgreSQL's `tzparse` does: a zone abbreviation (possibly empty, or
/// `<quoted>`), then an offset `[+-]hh[:mm[:ss]]` west of Greenwich, hours
/// up to 167. Returns the name part and the offset in seconds *east* of
/// UTC. A string with a daylight-saving part (`ABC5DEF`) gives `None`:
/// PostgreSQL would apply default rules, which are not supported.
pub(super) fn posix_zone(s: &[u8]) -> Option<(&str, i32)> {
    let (name, rest) = if let Some(quoted) = s.strip_prefix(b"<") {
        let close = quoted.iter().position(|&b| b == b'>')?;
        (&quoted[..close], &quoted[close + 1..])
    } else {
        let name_len = s
            .iter()
            .take_while(|&&b| !b.is_ascii_digit() && !matches!(b, b',' | b'-' | b'+'))
            .count();
        s.split_at(name_len)
    };
    let name = std::str::from_utf8(name).ok()?;
    let (sign, rest) = match rest.first() {
        Some(b'-') => (-1, &rest[1..]),
        Some(b'+') => (1, &rest[1..]),
        _ => (1, rest),
    };
    // getsecs: hours 0..=167, minutes 0..=59, seconds 0..=60.
    const LIMITS: [i32; 3] = [167, 59, 60];
    const SCALES: [i32; 3] = [3600, 60, 1];
    let mut secs = 0;
    let mut pos = 0;
    for (i, (limit, scale)) in LIMITS.into_iter().zip(SCALES).enumerate() {
        if i > 0 {
            if rest.get(pos) != Some(&b':') {
                break;
            }
            pos += 1;
        }
        let digits = rest[pos..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        let mut value = 0i32;
        for &b in &rest[pos..pos + digits] {
            value = value * 10 + i32::from(b - b'0');
            if value > limit {
                return None;
            }
        }
        secs += value * scale;
        pos += digits;
    }
    if pos != rest.len() {
        return None;
    }
    Some((name, -sign * secs))
}

/// The zone an `AT TIME ZONE` argument names: an abbreviation, then a full
/// zone name (see [`TimeZone::parse_zone_argument`]).
pub(super) fn zone_argument(name: &str) -> Option<TimeZone> {
    match zone_abbreviation(name.to_ascii_lowercase().as_bytes()) {
        Some(Token::Zone {
            utc_offset_secs, ..
        }) => TimeZone::from_utc_offset_secs(utc_offset_secs),
        _ => zone_name(name.as_bytes()),
    }
}

/// Looks up a full zone name (`pg_tzset`): the IANA names of UTC, a zone
/// of the time zone database (`america/new_york`), or a POSIX `TZ` string
/// without daylight-saving rules (`utc+5`).
fn zone_name(name: &[u8]) -> Option<TimeZone> {
    let text = std::str::from_utf8(name).ok()?;
    if is_utc_zone_name(&text.to_ascii_lowercase()) {
        return Some(TimeZone::UTC);
    }
    TimeZone::named(text).or_else(|| TimeZone::posix(text))
}

// ---------------------------------------------------------------------------
// Decoding dates and times.

/// What a date/time string denotes, besides a broken-down time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DType {
    Date,
    Epoch,
    Late,
    Early,
    /// A time without a date (`DecodeDateTime` returning 1), which no input
    /// function here accepts.
    TimeOnly,
}

struct Decoded {
    dtype: DType,
    tm: Tm,
    fsec: i32,
    /// Seconds west of UTC (PostgreSQL's sign): explicit or the session's.
    tz: i32,
}

/// What a field labeled by the preceding word holds: a unit of PostgreSQL
/// 15's labeled syntax (`y 2024 m 1 d 2`, `j 2451187`) or, after `T`, a
/// time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    Unit(Unit),
    Time,
}

/// `DecodeTimezone`: a numeric offset `±hh[:mm[:ss]]` or `±hhmm`, returned
/// in seconds west (PostgreSQL's internal sign).
fn decode_timezone(s: &[u8]) -> Result<i32, DtErr> {
    let negative = match s.first() {
        Some(b'+') => false,
        Some(b'-') => true,
        _ => return Err(DtErr::BadFormat),
    };
    // Positions follow C's strtol: with no digits, the end is the start.
    let (mut hr, end, overflow) = strtoint(&s[1..]);
    if overflow {
        return Err(DtErr::TzDispOverflow);
    }
    let mut pos = 1 + end;
    let mut min = 0;
    let mut sec = 0;
    if s.get(pos) == Some(&b':') {
        let (m, end, overflow) = strtoint(&s[pos + 1..]);
        if overflow {
            return Err(DtErr::TzDispOverflow);
        }
        min = m;
        pos += 1 + end;
        if s.get(pos) == Some(&b':') {
            let (sc, end, overflow) = strtoint(&s[pos + 1..]);
            if overflow {
                return Err(DtErr::TzDispOverflow);
            }
            sec = sc;
            pos += 1 + end;
        }
    } else if pos == s.len() && s.len() > 3 {
        min = hr % 100;
        hr /= 100;
    }
    if !(0..=TZDISP_HOUR_MAX).contains(&hr) || !(0..60).contains(&min) || !(0..60).contains(&sec) {
        return Err(DtErr::TzDispOverflow);
    }
    if pos != s.len() {
        return Err(DtErr::BadFormat);
    }
    let east = (hr * 60 + min) * 60 + sec;
    Ok(if negative { east } else { -east })
}

/// `DecodeTimeCommon`: `hh:mm[:ss[.frac]]` or `mm:ss.frac`. Returns hours
/// (which may exceed a day, for intervals), minutes, seconds and
/// microseconds.
fn decode_time_common(s: &[u8]) -> Result<(i64, i32, i32, i32), DtErr> {
    let (mut hour, end, overflow) = strtol(s);
    if overflow {
        return Err(DtErr::FieldOverflow);
    }
    let mut rest = &s[end..];
    if rest.first() != Some(&b':') {
        return Err(DtErr::BadFormat);
    }
    let (mut min, end, overflow) = strtoint(&rest[1..]);
    if overflow {
        return Err(DtErr::FieldOverflow);
    }
    rest = &rest[1 + end..];
    let mut sec = 0;
    let mut fsec = 0;
    match rest.first() {
        None => {}
        Some(b'.') => {
            // mm:ss.frac
            fsec = parse_fractional_second(rest)?;
            let Ok(minutes) = i32::try_from(hour) else {
                return Err(DtErr::FieldOverflow);
            };
            sec = min;
            min = minutes;
            hour = 0;
        }
        Some(b':') => {
            let (seconds, end, overflow) = strtoint(&rest[1..]);
            if overflow {
                return Err(DtErr::FieldOverflow);
            }
            sec = seconds;
            rest = &rest[1 + end..];
            match rest.first() {
                None => {}
                Some(b'.') => fsec = parse_fractional_second(rest)?,
                Some(_) => return Err(DtErr::BadFormat),
            }
        }
        Some(_) => return Err(DtErr::BadFormat),
    }
    if hour < 0
        || !(0..60).contains(&min)
        || !(0..=60).contains(&sec)
        || !(0..=USECS_PER_SEC as i32).contains(&fsec)
    {
        return Err(DtErr::FieldOverflow);
    }
    Ok((hour, min, sec, fsec))
}

/// `time_overflows`: allows 24:00:00 and a leap second 60, but no total past
/// a day.
fn time_overflows(hour: i32, min: i32, sec: i32, fsec: i32) -> bool {
    if !(0..=24).contains(&hour)
        || !(0..60).contains(&min)
        || !(0..=60).contains(&sec)
        || !(0..=USECS_PER_SEC as i32).contains(&fsec)
    {
        return true;
    }
    ((i64::from(hour) * 60 + i64::from(min)) * 60 + i64::from(sec)) * USECS_PER_SEC
        + i64::from(fsec)
        > USECS_PER_DAY
}

/// The broken-down value being decoded, which the helpers fill in.
struct DateState {
    tm: Tm,
    fsec: i32,
    is2digits: bool,
    /// `DateStyle`'s order, for numbers that could be any part of a date.
    order: DateOrder,
}

/// `DecodeNumberField`: a run of digits (and a point) as a date
/// (`yyyymmdd`) or a time (`hhmmss`, `hhmm`, with a fraction). Returns the
/// field mask set.
fn decode_number_field(s: &[u8], fmask: u32, st: &mut DateState) -> Result<u32, DtErr> {
    if !s.iter().all(|&b| b.is_ascii_digit() || b == b'.') {
        return Err(DtErr::BadFormat);
    }
    let mut s = s;
    if let Some(dot) = s.iter().position(|&b| b == b'.') {
        st.fsec = parse_fractional_second(&s[dot..])?;
        s = &s[..dot];
    } else if fmask & fm::DATE != fm::DATE && s.len() >= 6 {
        let len = s.len();
        st.tm.mday = atoi(&s[len - 2..]);
        st.tm.mon = atoi(&s[len - 4..len - 2]);
        st.tm.year = atoi(&s[..len - 4]);
        if len - 4 == 2 {
            st.is2digits = true;
        }
        return Ok(fm::DATE);
    }
    if fmask & fm::TIME != fm::TIME {
        match s.len() {
            6 => {
                st.tm.sec = atoi(&s[4..]);
                st.tm.min = atoi(&s[2..4]);
                st.tm.hour = atoi(&s[..2]);
                return Ok(fm::TIME);
            }
            4 => {
                st.tm.sec = 0;
                st.tm.min = atoi(&s[2..]);
                st.tm.hour = atoi(&s[..2]);
                return Ok(fm::TIME);
            }
            _ => {}
        }
    }
    Err(DtErr::BadFormat)
}

/// `DecodeNumber`: one number in context, as year, month, day, day of year,
/// or (once the date is complete) a run-together time. Numbers that could
/// be any part come in `DateStyle`'s order.
fn decode_number(
    s: &[u8],
    have_text_month: bool,
    fmask: u32,
    st: &mut DateState,
) -> Result<u32, DtErr> {
    let flen = s.len();
    let (val, end, overflow) = strtoint(s);
    if overflow {
        return Err(DtErr::FieldOverflow);
    }
    if end == 0 {
        return Err(DtErr::BadFormat);
    }
    match s.get(end) {
        Some(b'.') => {
            // More than two digits before the point: a date or a
            // run-together time (`2001.360`, `040506.789`).
            if end > 2 {
                return decode_number_field(s, fmask | fm::DATE, st);
            }
            st.fsec = parse_fractional_second(&s[end..])?;
        }
        Some(_) => return Err(DtErr::BadFormat),
        None => {}
    }
    if flen == 3 && fmask & fm::DATE == fm::YEAR && (1..=366).contains(&val) {
        st.tm.yday = val;
        return Ok(fm::DOY | fm::MONTH | fm::DAY);
    }
    let tmask = match fmask & fm::DATE {
        0 => {
            // A first number: a year if it has three or more digits, else
            // whatever DateStyle's order puts first.
            if flen >= 3 || st.order == DateOrder::Ymd {
                st.tm.year = val;
                fm::YEAR
            } else if st.order == DateOrder::Dmy {
                st.tm.mday = val;
                fm::DAY
            } else {
                st.tm.mon = val;
                fm::MONTH
            }
        }
        fm::YEAR => {
            st.tm.mon = val;
            fm::MONTH
        }
        fm::MONTH => {
            // After a month name: MON-DD-YYYY, DD-MON-YYYY or YYYY-MON-DD,
            // and YY-MON-DD in YMD order.
            if have_text_month && (flen >= 3 || st.order == DateOrder::Ymd) {
                st.tm.year = val;
                fm::YEAR
            } else {
                st.tm.mday = val;
                fm::DAY
            }
        }
        m if m == fm::YEAR | fm::MONTH => {
            if have_text_month && flen >= 3 && st.is2digits {
                // The first number was the day, not a two-digit year.
                st.tm.mday = st.tm.year;
                st.tm.year = val;
                st.is2digits = false;
            } else {
                st.tm.mday = val;
            }
            fm::DAY
        }
        fm::DAY => {
            st.tm.mon = val;
            fm::MONTH
        }
        m if m == fm::MONTH | fm::DAY => {
            st.tm.year = val;
            fm::YEAR
        }
        fm::DATE => return decode_number_field(s, fmask, st),
        _ => return Err(DtErr::BadFormat),
    };
    if tmask == fm::YEAR {
        st.is2digits = flen <= 2;
    }
    Ok(tmask)
}

/// `DecodeDate`: a date field with separators (`2024-01-02`, `jan-02-2024`,
/// `1/2/24`). Returns the field mask set.
fn decode_date(s: &[u8], mut fmask: u32, st: &mut DateState) -> Result<u32, DtErr> {
    let mut subfields: Vec<&[u8]> = Vec::new();
    let mut i = 0;
    while i < s.len() && subfields.len() < FIELDS_MAX {
        while i < s.len() && !s[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i == s.len() {
            return Err(DtErr::BadFormat);
        }
        let start = i;
        if s[i].is_ascii_digit() {
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            while i < s.len() && s[i].is_ascii_alphabetic() {
                i += 1;
            }
        }
        subfields.push(&s[start..i]);
        // PostgreSQL overwrites the character after each subfield with a
        // terminator, whatever it is.
        if i < s.len() {
            i += 1;
        }
    }
    let mut tmask = 0;
    let mut have_text_month = false;
    let mut done = vec![false; subfields.len()];
    // Words first: a month name is unambiguous.
    for (k, sub) in subfields.iter().enumerate() {
        if !sub[0].is_ascii_alphabetic() {
            continue;
        }
        let dmask = match date_keyword(sub) {
            Some(Token::Ignore) => continue,
            Some(Token::Month(m)) => {
                st.tm.mon = m;
                have_text_month = true;
                fm::MONTH
            }
            _ => return Err(DtErr::BadFormat),
        };
        if fmask & dmask != 0 {
            return Err(DtErr::BadFormat);
        }
        fmask |= dmask;
        tmask |= dmask;
        done[k] = true;
    }
    for (k, sub) in subfields.iter().enumerate() {
        if done[k] {
            continue;
        }
        let dmask = decode_number(sub, have_text_month, fmask, st)?;
        if fmask & dmask != 0 {
            return Err(DtErr::BadFormat);
        }
        fmask |= dmask;
        tmask |= dmask;
    }
    // Any other field seen before (a weekday, a time) fails here, as in
    // PostgreSQL.
    if fmask & !(fm::DOY | fm::TZ) != fm::DATE {
        return Err(DtErr::BadFormat);
    }
    Ok(tmask)
}

/// `ValidateDate`: applies BC and two-digit years, resolves a day of year,
/// and checks the month and day.
fn validate_date(
    fmask: u32,
    isjulian: bool,
    is2digits: bool,
    bc: bool,
    tm: &mut Tm,
) -> Result<(), DtErr> {
    if fmask & fm::YEAR != 0 {
        if isjulian {
            // A year from a Julian day is already astronomical.
        } else if bc {
            if tm.year <= 0 {
                return Err(DtErr::FieldOverflow);
            }
            tm.year = -(tm.year - 1);
        } else if is2digits {
            if tm.year < 0 {
                return Err(DtErr::FieldOverflow);
            }
            if tm.year < 70 {
                tm.year += 2000;
            } else if tm.year < 100 {
                tm.year += 1900;
            }
        } else if tm.year <= 0 {
            return Err(DtErr::FieldOverflow);
        }
    }
    if fmask & fm::DOY != 0 {
        let (y, m, d) = j2date(date2j(tm.year, 1, 1) + i64::from(tm.yday) - 1);
        tm.year = i32::try_from(y).map_err(|_| DtErr::FieldOverflow)?;
        tm.mon = m;
        tm.mday = d;
    }
    if fmask & fm::MONTH != 0 && !(1..=MONTHS_PER_YEAR).contains(&tm.mon) {
        return Err(DtErr::MdFieldOverflow);
    }
    if fmask & fm::DAY != 0 && !(1..=31).contains(&tm.mday) {
        return Err(DtErr::MdFieldOverflow);
    }
    if fmask & fm::DATE == fm::DATE
        && tm.mday > DAYS_IN_MONTH[usize::from(is_leap(tm.year))][(tm.mon - 1) as usize]
    {
        return Err(DtErr::FieldOverflow);
    }
    Ok(())
}

/// The current time broken down in the session zone, for `now` and the
/// words relative to today.
fn current_tm(ctx: &TextContext) -> Result<(Tm, i32), DtErr> {
    let now = ctx.now.ok_or(DtErr::NoCurrentTime)?;
    now.checked_add(i64::from(ctx.time_zone.utc_offset_secs_at(now)) * USECS_PER_SEC)
        .and_then(timestamp2tm)
        .ok_or(DtErr::FieldOverflow)
}

fn set_date(tm: &mut Tm, jd: i64) -> Result<(), DtErr> {
    let (y, m, d) = j2date(jd);
    tm.year = i32::try_from(y).map_err(|_| DtErr::FieldOverflow)?;
    tm.mon = m;
    tm.mday = d;
    Ok(())
}

/// `DecodeDateTime`: interprets the fields of a date or timestamp.
fn decode_date_time(fields: &[Field], ctx: &TextContext) -> Result<Decoded, DtErr> {
    let mut st = DateState {
        tm: Tm::default(),
        fsec: 0,
        is2digits: false,
        order: ctx.date_style.order,
    };
    let mut dtype = DType::Date;
    let mut fmask: u32 = 0;
    let mut ptype: Option<Label> = None;
    let mut tz: i32 = 0;
    let mut meridian: Option<Meridian> = None;
    let mut have_text_month = false;
    let mut isjulian = false;
    let mut bc = false;
    let mut named_zone: Option<TimeZone> = None;

    for (i, field) in fields.iter().enumerate() {
        let s = field.text.as_slice();
        let tmask: u32 = match field.ty {
            FieldType::Date => {
                if ptype == Some(Label::Unit(Unit::Julian)) {
                    // A Julian day with an attached zone: `J2451187-08`.
                    let (jday, end, overflow) = strtoint(s);
                    if overflow || jday < 0 {
                        return Err(DtErr::FieldOverflow);
                    }
                    set_date(&mut st.tm, i64::from(jday))?;
                    isjulian = true;
                    tz = decode_timezone(&s[end..])?;
                    ptype = None;
                    fm::DATE | fm::TIME | fm::TZ
                } else if ptype.is_some() || fmask & (fm::MONTH | fm::DAY) == fm::MONTH | fm::DAY {
                    // With a month and day already, this is a zone name or
                    // a run-together time with a zone (`hhmmss-zz`).
                    if s[0].is_ascii_digit() || ptype.is_some() {
                        if let Some(p) = ptype {
                            if p != Label::Time {
                                return Err(DtErr::BadFormat);
                            }
                            ptype = None;
                        }
                        if fmask & fm::TIME == fm::TIME {
                            return Err(DtErr::BadFormat);
                        }
                        let dash = s.iter().position(|&b| b == b'-').ok_or(DtErr::BadFormat)?;
                        tz = decode_timezone(&s[dash..])?;
                        decode_number_field(&s[..dash], fmask, &mut st)? | fm::TZ
                    } else {
                        let zone = zone_name(s).ok_or_else(|| {
                            DtErr::BadTimezone(String::from_utf8_lossy(s).into_owned())
                        })?;
                        named_zone = Some(zone);
                        fm::TZ
                    }
                } else {
                    decode_date(s, fmask, &mut st)?
                }
            }
            FieldType::Time => {
                if let Some(p) = ptype {
                    if p != Label::Time {
                        return Err(DtErr::BadFormat);
                    }
                    ptype = None;
                }
                let (hour, min, sec, fsec) = decode_time_common(s)?;
                let hour = i32::try_from(hour).map_err(|_| DtErr::FieldOverflow)?;
                st.tm.hour = hour;
                st.tm.min = min;
                st.tm.sec = sec;
                st.fsec = fsec;
                if time_overflows(hour, min, sec, fsec) {
                    return Err(DtErr::FieldOverflow);
                }
                fm::TIME
            }
            FieldType::Tz => {
                tz = decode_timezone(s)?;
                fm::TZ
            }
            FieldType::Number => {
                if let Some(label) = ptype {
                    let (value, end, overflow) = strtoint(s);
                    if overflow {
                        return Err(DtErr::FieldOverflow);
                    }
                    let rest = &s[end..];
                    let fraction_allowed = matches!(
                        label,
                        Label::Time | Label::Unit(Unit::Julian | Unit::Second)
                    );
                    if !rest.is_empty() && (rest[0] != b'.' || !fraction_allowed) {
                        return Err(DtErr::BadFormat);
                    }
                    let tmask = match label {
                        Label::Unit(Unit::Year) => {
                            st.tm.year = value;
                            fm::YEAR
                        }
                        Label::Unit(Unit::Month) => {
                            // `m` after a month and an hour means minutes.
                            if fmask & fm::MONTH != 0 && fmask & fm::HOUR != 0 {
                                st.tm.min = value;
                                fm::MINUTE
                            } else {
                                st.tm.mon = value;
                                fm::MONTH
                            }
                        }
                        Label::Unit(Unit::Day) => {
                            st.tm.mday = value;
                            fm::DAY
                        }
                        Label::Unit(Unit::Hour) => {
                            st.tm.hour = value;
                            fm::HOUR
                        }
                        Label::Unit(Unit::Minute) => {
                            st.tm.min = value;
                            fm::MINUTE
                        }
                        Label::Unit(Unit::Second) => {
                            st.tm.sec = value;
                            if rest.is_empty() {
                                fm::SECOND
                            } else {
                                st.fsec = parse_fractional_second(rest)?;
                                fm::ALL_SECS
                            }
                        }
                        Label::Unit(Unit::Julian) => {
                            if value < 0 {
                                return Err(DtErr::FieldOverflow);
                            }
                            set_date(&mut st.tm, i64::from(value))?;
                            isjulian = true;
                            if rest.is_empty() {
                                fm::DATE
                            } else {
                                // A fractional Julian day carries the time;
                                // PostgreSQL 15 reads it with strtod, which
                                // rejects a bare point.
                                if rest.len() == 1 {
                                    return Err(DtErr::BadFormat);
                                }
                                let frac = parse_fraction(rest)?;
                                let time = (frac * USECS_PER_DAY as f64) as i64;
                                st.tm.hour = (time / USECS_PER_HOUR) as i32;
                                st.tm.min = (time / USECS_PER_MINUTE % 60) as i32;
                                st.tm.sec = (time / USECS_PER_SEC % 60) as i32;
                                st.fsec = (time % USECS_PER_SEC) as i32;
                                fm::DATE | fm::TIME
                            }
                        }
                        Label::Time => {
                            let tmask = decode_number_field(s, fmask | fm::DATE, &mut st)?;
                            if tmask != fm::TIME {
                                return Err(DtErr::BadFormat);
                            }
                            tmask
                        }
                        Label::Unit(_) => return Err(DtErr::BadFormat),
                    };
                    ptype = None;
                    dtype = DType::Date;
                    tmask
                } else {
                    let dot = s.iter().position(|&b| b == b'.');
                    if dot.is_some() && fmask & fm::DATE == 0 {
                        decode_date(s, fmask, &mut st)?
                    } else if dot.is_some_and(|d| d > 2) {
                        decode_number_field(s, fmask, &mut st)?
                    } else if s.len() >= 6 && (fmask & fm::DATE == 0 || fmask & fm::TIME == 0) {
                        // Six or more digits: yymmdd or hhmmss.
                        decode_number_field(s, fmask, &mut st)?
                    } else {
                        decode_number(s, have_text_month, fmask, &mut st)?
                    }
                }
            }
            FieldType::Word | FieldType::Special => {
                // Zone abbreviations take precedence over keywords.
                match zone_abbreviation(s).or_else(|| date_keyword(s)) {
                    None => {
                        // An all-letters zone name.
                        named_zone = Some(zone_name(s).ok_or(DtErr::BadFormat)?);
                        fm::TZ
                    }
                    Some(Token::Ignore) => continue,
                    Some(Token::Reserved(r)) => match r {
                        Reserved::Now => {
                            let (tm, fsec) = current_tm(ctx)?;
                            st.tm = tm;
                            st.fsec = fsec;
                            let now = ctx.now.ok_or(DtErr::NoCurrentTime)?;
                            tz = -ctx.time_zone.utc_offset_secs_at(now);
                            dtype = DType::Date;
                            fm::DATE | fm::TIME | fm::TZ
                        }
                        Reserved::Today | Reserved::Tomorrow | Reserved::Yesterday => {
                            let (now, _) = current_tm(ctx)?;
                            let shift = match r {
                                Reserved::Tomorrow => 1,
                                Reserved::Yesterday => -1,
                                _ => 0,
                            };
                            set_date(&mut st.tm, date2j(now.year, now.mon, now.mday) + shift)?;
                            dtype = DType::Date;
                            fm::DATE
                        }
                        Reserved::Zulu => {
                            st.tm.hour = 0;
                            st.tm.min = 0;
                            st.tm.sec = 0;
                            tz = 0;
                            dtype = DType::Date;
                            fm::TIME | fm::TZ
                        }
                        Reserved::Epoch | Reserved::Late | Reserved::Early => {
                            // PostgreSQL 15 marks only that a reserved word
                            // was seen: other fields are still read, checked
                            // and then ignored (`infinity 22:31`).
                            dtype = match r {
                                Reserved::Epoch => DType::Epoch,
                                Reserved::Late => DType::Late,
                                _ => DType::Early,
                            };
                            fm::RESERV
                        }
                    },
                    Some(Token::Month(m)) => {
                        let mut tmask = fm::MONTH;
                        // A number read as the month was the day: `2 jan`.
                        if fmask & fm::MONTH != 0
                            && !have_text_month
                            && fmask & fm::DAY == 0
                            && (1..=31).contains(&st.tm.mon)
                        {
                            st.tm.mday = st.tm.mon;
                            tmask = fm::DAY;
                        }
                        have_text_month = true;
                        st.tm.mon = m;
                        tmask
                    }
                    Some(Token::DstModifier(secs)) => {
                        tz -= secs;
                        fm::DTZMOD | fm::DTZ
                    }
                    Some(Token::Zone {
                        utc_offset_secs,
                        dst,
                    }) => {
                        tz = -utc_offset_secs;
                        if dst {
                            fm::DTZ | fm::TZ
                        } else {
                            fm::TZ
                        }
                    }
                    Some(Token::AmPm(m)) => {
                        meridian = Some(m);
                        fm::AMPM
                    }
                    Some(Token::AdBc(is_bc)) => {
                        bc = is_bc;
                        fm::ADBC
                    }
                    Some(Token::DayOfWeek) => fm::DOW,
                    Some(Token::Units(unit)) => {
                        // A later label replaces an unused one, and one left
                        // unused at the end is ignored, as in PostgreSQL 15.
                        ptype = Some(Label::Unit(unit));
                        0
                    }
                    Some(Token::IsoTime) => {
                        // `T` before a time: there must be a whole date, and
                        // a time must follow.
                        if fmask & fm::DATE != fm::DATE {
                            return Err(DtErr::BadFormat);
                        }
                        let next_is_time = fields.get(i + 1).is_some_and(|f| {
                            matches!(f.ty, FieldType::Number | FieldType::Time | FieldType::Date)
                        });
                        if !next_is_time {
                            return Err(DtErr::BadFormat);
                        }
                        ptype = Some(Label::Time);
                        0
                    }
                    Some(Token::Ago) => return Err(DtErr::BadFormat),
                }
            }
        };
        if tmask & fmask != 0 {
            return Err(DtErr::BadFormat);
        }
        fmask |= tmask;
    }
    // PostgreSQL 15 checks the fields even after `infinity` or `epoch`.
    validate_date(fmask, isjulian, st.is2digits, bc, &mut st.tm)?;
    if meridian.is_some() && st.tm.hour > 12 {
        return Err(DtErr::FieldOverflow);
    }
    match meridian {
        Some(Meridian::Am) if st.tm.hour == 12 => st.tm.hour = 0,
        Some(Meridian::Pm) if st.tm.hour != 12 => st.tm.hour += 12,
        _ => {}
    }
    if dtype == DType::Date {
        if fmask & fm::DATE != fm::DATE {
            if fmask & fm::TIME == fm::TIME {
                dtype = DType::TimeOnly;
            } else {
                return Err(DtErr::BadFormat);
            }
        } else {
            if let Some(zone) = named_zone {
                if fmask & fm::DTZMOD != 0 {
                    return Err(DtErr::BadFormat);
                }
                tz = -local_offset(zone, &st.tm, st.fsec);
            }
            if fmask & fm::TZ == 0 {
                if fmask & fm::DTZMOD != 0 {
                    return Err(DtErr::BadFormat);
                }
                tz = -local_offset(ctx.time_zone, &st.tm, st.fsec);
            }
        }
    }
    Ok(Decoded {
        dtype,
        tm: st.tm,
        fsec: st.fsec,
        tz,
    })
}

/// The offset (seconds east) `zone` gives the broken-down local time `tm`
/// (`DetermineTimeZoneOffset`); a time outside the timestamp range takes
/// the offset of the range's edge, and fails later as out of range.
fn local_offset(zone: TimeZone, tm: &Tm, fsec: i32) -> i32 {
    let local = tm2timestamp(tm, fsec, None).unwrap_or(if tm.year > 0 {
        END_TIMESTAMP - 1
    } else {
        MIN_TIMESTAMP
    });
    zone.utc_offset_secs_for_local(local)
}

/// Tokenizes and decodes date/time text, as the first half of `date_in`,
/// `timestamp_in` and `timestamptz_in`; errors name `type_name`.
fn decode(text: &str, ctx: &TextContext, type_name: &'static str) -> Result<Decoded, TypeError> {
    let decoded = tokenize(text.as_bytes(), DATETIME_BUF_LEN)
        .and_then(|fields| decode_date_time(&fields, ctx))
        .map_err(|e| e.into_type_error(type_name, text))?;
    if decoded.dtype == DType::TimeOnly {
        return Err(DtErr::BadFormat.into_type_error(type_name, text));
    }
    Ok(decoded)
}

/// Reads a date as `date_in`; a time and zone may follow and are ignored.
pub(super) fn parse_date(text: &str, ctx: &TextContext) -> Result<i32, TypeError> {
    let mut d = decode(text, ctx, "date")?;
    match d.dtype {
        DType::Date | DType::TimeOnly => {}
        DType::Epoch => {
            d.tm.year = 1970;
            d.tm.mon = 1;
            d.tm.mday = 1;
        }
        DType::Late => return Ok(i32::MAX),
        DType::Early => return Ok(i32::MIN),
    }
    let out_of_range = || TypeError::DateInputOutOfRange {
        input: text.to_owned(),
    };
    if !is_valid_julian(d.tm.year, d.tm.mon) {
        return Err(out_of_range());
    }
    let date = date2j(d.tm.year, d.tm.mon, d.tm.mday) - POSTGRES_EPOCH_JDATE;
    if !is_valid_date(date) {
        return Err(out_of_range());
    }
    Ok(i32::try_from(date).expect("valid dates fit i32"))
}

/// The Unix epoch as a timestamp.
const EPOCH_TIMESTAMP: i64 = (UNIX_EPOCH_JDATE - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;

fn parse_timestamp_common(
    text: &str,
    ctx: &TextContext,
    with_zone: bool,
) -> Result<i64, TypeError> {
    let type_name = if with_zone {
        "timestamp with time zone"
    } else {
        "timestamp"
    };
    let d = decode(text, ctx, type_name)?;
    match d.dtype {
        DType::Date | DType::TimeOnly => tm2timestamp(&d.tm, d.fsec, with_zone.then_some(d.tz))
            .ok_or_else(|| TypeError::TimestampInputOutOfRange {
                input: text.to_owned(),
            }),
        DType::Epoch => Ok(EPOCH_TIMESTAMP),
        DType::Late => Ok(i64::MAX),
        DType::Early => Ok(i64::MIN),
    }
}

/// Reads a timestamp as `timestamp_in`; a zone in the text is ignored.
pub(super) fn parse_timestamp(text: &str, ctx: &TextContext) -> Result<i64, TypeError> {
    parse_timestamp_common(text, ctx, false)
}

/// Reads a timestamptz as `timestamptz_in`; without a zone in the text the
/// time is in the session zone.
pub(super) fn parse_timestamptz(text: &str, ctx: &TextContext) -> Result<i64, TypeError> {
    parse_timestamp_common(text, ctx, true)
}

// ---------------------------------------------------------------------------
// Output.

fn push_padded(out: &mut String, value: i64, width: usize) {
    out.push_str(&format!("{value:0width$}"));
}

/// Pushes a year as PostgreSQL prints one: at least four digits, BC years
/// as their positive number (the caller appends ` BC`).
fn push_year(out: &mut String, year: i64) {
    push_padded(out, if year > 0 { year } else { 1 - year }, 4);
}

/// Pushes `ss[.ffffff]`, fraction without trailing zeros (`AppendSeconds`).
fn push_seconds(out: &mut String, sec: i64, usec: i64) {
    push_padded(out, sec.abs(), 2);
    if usec != 0 {
        let fraction = format!("{:06}", usec.abs());
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
}

/// Pushes a UTC offset as `EncodeTimezone`: `+hh`, `+hh:mm` or `+hh:mm:ss`.
pub(super) fn push_utc_offset(out: &mut String, utc_offset_secs: i32) {
    let abs = i64::from(utc_offset_secs).abs();
    let (hour, min, sec) = (abs / 3600, abs / 60 % 60, abs % 60);
    out.push(if utc_offset_secs >= 0 { '+' } else { '-' });
    push_padded(out, hour, 2);
    if sec != 0 {
        out.push(':');
        push_padded(out, min, 2);
        out.push(':');
        push_padded(out, sec, 2);
    } else if min != 0 {
        out.push(':');
        push_padded(out, min, 2);
    }
}

/// Three-letter day names, Sunday first (`days[]`).
const DAY_ABBREVS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Three-letter month names (`months[]`).
const MONTH_ABBREVS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Pushes the date part as `EncodeDateOnly` does for `style`.
fn push_date(out: &mut String, year: i64, month: i32, day: i32, style: DateStyle) {
    let (month, day) = (i64::from(month), i64::from(day));
    let (sep, first, second) = match (style.output, style.order) {
        (DateOutput::Iso, _) => {
            push_year(out, year);
            out.push('-');
            push_padded(out, month, 2);
            out.push('-');
            push_padded(out, day, 2);
            return;
        }
        (DateOutput::German, _) => ('.', day, month),
        (DateOutput::Sql, DateOrder::Dmy) => ('/', day, month),
        (DateOutput::Sql, _) => ('/', month, day),
        (DateOutput::Postgres, DateOrder::Dmy) => ('-', day, month),
        (DateOutput::Postgres, _) => ('-', month, day),
    };
    push_padded(out, first, 2);
    out.push(sep);
    push_padded(out, second, 2);
    out.push(sep);
    push_year(out, year);
}

/// Prints a date as `date_out`.
pub(super) fn format_date(date: i32, style: DateStyle) -> String {
    match date {
        i32::MIN => return "-infinity".to_owned(),
        i32::MAX => return "infinity".to_owned(),
        _ => {}
    }
    let (year, month, day) = j2date(i64::from(date) + POSTGRES_EPOCH_JDATE);
    let mut out = String::with_capacity(13);
    push_date(&mut out, year, month, day, style);
    if year <= 0 {
        out.push_str(" BC");
    }
    out
}

/// The zone a timestamptz prints with: its offset (seconds east) and
/// abbreviation.
struct PrintZone {
    utc_offset_secs: i32,
    abbrev: String,
}

/// Prints a timestamp (local time `ts`) with an optional zone, as
/// `EncodeDateTime` does for `style`.
fn format_local(ts: i128, zone: Option<PrintZone>, style: DateStyle) -> String {
    let civil = timestamp_to_civil(ts);
    let t = civil.time_us;
    let push_time = |out: &mut String| {
        push_padded(out, t / USECS_PER_HOUR, 2);
        out.push(':');
        push_padded(out, t / USECS_PER_MINUTE % 60, 2);
        out.push(':');
        push_seconds(out, t / USECS_PER_SEC % 60, t % USECS_PER_SEC);
    };
    let mut out = String::with_capacity(32);
    if style.output == DateOutput::Postgres {
        // `Thu Feb 01 10:11:12 2024 CET`; `Thu 01 Feb …` in DMY order.
        let jd = date2j_i64(civil.year, civil.month, civil.day);
        let dow = usize::try_from((jd + 1).rem_euclid(7)).expect("0..7");
        let month = MONTH_ABBREVS[usize::try_from(civil.month - 1).expect("month 1..=12")];
        out.push_str(DAY_ABBREVS[dow]);
        out.push(' ');
        if style.order == DateOrder::Dmy {
            push_padded(&mut out, i64::from(civil.day), 2);
            out.push(' ');
            out.push_str(month);
        } else {
            out.push_str(month);
            out.push(' ');
            push_padded(&mut out, i64::from(civil.day), 2);
        }
        out.push(' ');
        push_time(&mut out);
        out.push(' ');
        push_year(&mut out, civil.year);
    } else {
        push_date(&mut out, civil.year, civil.month, civil.day, style);
        out.push(' ');
        push_time(&mut out);
    }
    if let Some(zone) = zone {
        if style.output == DateOutput::Iso {
            push_utc_offset(&mut out, zone.utc_offset_secs);
        } else {
            // The other styles print the abbreviation, and a zone without
            // one prints empty.
            out.push(' ');
            out.push_str(&zone.abbrev);
        }
    }
    if civil.year <= 0 {
        out.push_str(" BC");
    }
    out
}

/// `date2j` on the extended calendar's years, for the day of the week.
fn date2j_i64(year: i64, month: i32, day: i32) -> i64 {
    // The day of the week repeats every 400 years (146097 days, a multiple
    // of 7), so fold the year into date2j's range first.
    let folded = i32::try_from(year.rem_euclid(400) + 2000).expect("2000..2400");
    date2j(folded, month, day)
}

/// Prints a timestamp as `timestamp_out`.
pub(super) fn format_timestamp(ts: i64, style: DateStyle) -> String {
    match ts {
        i64::MIN => "-infinity".to_owned(),
        i64::MAX => "infinity".to_owned(),
        _ => format_local(i128::from(ts), None, style),
    }
}

/// Prints a timestamptz as `timestamptz_out`, in the session zone.
pub(super) fn format_timestamptz(ts: i64, zone: TimeZone, style: DateStyle) -> String {
    match ts {
        i64::MIN => "-infinity".to_owned(),
        i64::MAX => "infinity".to_owned(),
        _ => {
            let offset = zone.utc_offset_secs_at(ts);
            let local = i128::from(ts) + i128::from(offset) * i128::from(USECS_PER_SEC);
            let abbrev = if style.output == DateOutput::Iso {
                String::new()
            } else {
                zone.abbreviation_at(ts)
            };
            let print_zone = PrintZone {
                utc_offset_secs: offset,
                abbrev,
            };
            format_local(local, Some(print_zone), style)
        }
    }
}

/// Pushes seconds as `AppendSeconds`: the absolute value, two digits when
/// `fill_zeros`, and the fraction without trailing zeros.
fn push_interval_seconds(out: &mut String, sec: i64, usec: i64, fill_zeros: bool) {
    if fill_zeros {
        push_padded(out, sec.abs(), 2);
    } else {
        out.push_str(&sec.abs().to_string());
    }
    if usec != 0 {
        let fraction = format!("{:06}", usec.abs());
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
}

/// Prints an interval as `interval_out` (`EncodeInterval`) in `style`.
pub(super) fn format_interval(months: i32, days: i32, micros: i64, style: IntervalStyle) -> String {
    let year = i64::from(months / MONTHS_PER_YEAR);
    let mon = i64::from(months % MONTHS_PER_YEAR);
    let mday = i64::from(days);
    let hour = micros / USECS_PER_HOUR;
    let min = micros / USECS_PER_MINUTE % 60;
    let sec = micros / USECS_PER_SEC % 60;
    let usec = micros % USECS_PER_SEC;
    match style {
        IntervalStyle::Postgres => format_interval_postgres(year, mon, mday, micros),
        IntervalStyle::SqlStandard => {
            let fields = [year, mon, mday, hour, min, sec, usec];
            let has_negative = fields.iter().any(|&v| v < 0);
            let has_positive = fields.iter().any(|&v| v > 0);
            let has_year_month = year != 0 || mon != 0;
            let has_day_time = mday != 0 || micros != 0;
            let mixed = (has_negative && has_positive) || (has_year_month && has_day_time);
            let standard = !mixed;
            let mut out = String::new();
            // One sign in front of the whole value, when it can be.
            let (year, mon, mday, hour, min, sec, usec) = if has_negative && standard {
                out.push('-');
                (-year, -mon, -mday, -hour, -min, -sec, -usec)
            } else {
                (year, mon, mday, hour, min, sec, usec)
            };
            if !has_negative && !has_positive {
                out.push('0');
            } else if !standard {
                // Mixed signs: every part carries its own.
                let sign = |negative: bool| if negative { '-' } else { '+' };
                out.push(sign(year < 0 || mon < 0));
                out.push_str(&format!("{}-{} ", year.abs(), mon.abs()));
                out.push(sign(mday < 0));
                out.push_str(&format!("{} ", mday.abs()));
                out.push(sign(hour < 0 || min < 0 || sec < 0 || usec < 0));
                out.push_str(&format!("{}:{:02}:", hour.abs(), min.abs()));
                push_interval_seconds(&mut out, sec, usec, true);
            } else if has_year_month {
                out.push_str(&format!("{year}-{mon}"));
            } else if mday != 0 {
                out.push_str(&format!("{mday} {hour}:{min:02}:"));
                push_interval_seconds(&mut out, sec, usec, true);
            } else {
                out.push_str(&format!("{hour}:{min:02}:"));
                push_interval_seconds(&mut out, sec, usec, true);
            }
            out
        }
        IntervalStyle::Iso8601 => {
            if months == 0 && days == 0 && micros == 0 {
                return "PT0S".to_owned();
            }
            let mut out = String::from("P");
            let part = |value: i64, unit: char, out: &mut String| {
                if value != 0 {
                    out.push_str(&format!("{value}{unit}"));
                }
            };
            part(year, 'Y', &mut out);
            part(mon, 'M', &mut out);
            part(mday, 'D', &mut out);
            if micros != 0 {
                out.push('T');
            }
            part(hour, 'H', &mut out);
            part(min, 'M', &mut out);
            if sec != 0 || usec != 0 {
                if sec < 0 || usec < 0 {
                    out.push('-');
                }
                push_interval_seconds(&mut out, sec, usec, false);
                out.push('S');
            }
            out
        }
        IntervalStyle::PostgresVerbose => {
            let mut out = String::from("@");
            let mut is_zero = true;
            let mut is_before = false;
            for (value, unit) in [
                (year, "year"),
                (mon, "mon"),
                (mday, "day"),
                (hour, "hour"),
                (min, "min"),
            ] {
                if value == 0 {
                    continue;
                }
                // The first nonzero part decides "ago"; later parts print
                // relative to it.
                let shown = if is_zero {
                    is_before = value < 0;
                    value.abs()
                } else if is_before {
                    -value
                } else {
                    value
                };
                let plural = if shown == 1 { "" } else { "s" };
                out.push_str(&format!(" {shown} {unit}{plural}"));
                is_zero = false;
            }
            if sec != 0 || usec != 0 {
                out.push(' ');
                if sec < 0 || (sec == 0 && usec < 0) {
                    if is_zero {
                        is_before = true;
                    } else if !is_before {
                        out.push('-');
                    }
                } else if is_before {
                    out.push('-');
                }
                push_interval_seconds(&mut out, sec, usec, false);
                let plural = if sec.abs() != 1 || usec != 0 { "s" } else { "" };
                out.push_str(&format!(" sec{plural}"));
                is_zero = false;
            }
            if is_zero {
                out.push_str(" 0");
            }
            if is_before {
                out.push_str(" ago");
            }
            out
        }
    }
}

/// `EncodeInterval` with `IntervalStyle` postgres:
/// `1 year 2 mons -3 days +04:05:06.5`.
fn format_interval_postgres(year: i64, mon: i64, days: i64, micros: i64) -> String {
    let hour = micros / USECS_PER_HOUR;
    let min = micros / USECS_PER_MINUTE % 60;
    let sec = micros / USECS_PER_SEC % 60;
    let usec = micros % USECS_PER_SEC;
    let mut out = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    for (value, unit) in [(year, "year"), (mon, "mon"), (days, "day")] {
        if value == 0 {
            continue;
        }
        if !is_zero {
            out.push(' ');
        }
        if is_before && value > 0 {
            out.push('+');
        }
        out.push_str(&format!("{value} {unit}"));
        if value != 1 {
            out.push('s');
        }
        // Each nonzero field decides the sign shown on the next only.
        is_before = value < 0;
        is_zero = false;
    }
    if is_zero || micros != 0 {
        let minus = micros < 0;
        if !is_zero {
            out.push(' ');
        }
        if minus {
            out.push('-');
        } else if is_before {
            out.push('+');
        }
        push_padded(&mut out, hour.abs(), 2);
        out.push(':');
        push_padded(&mut out, min.abs(), 2);
        out.push(':');
        push_seconds(&mut out, sec, usec);
    }
    out
}

// ---------------------------------------------------------------------------
// Intervals.

/// An interval being read (`struct pg_itm_in`).
#[derive(Clone, Copy, Debug, Default)]
struct ItmIn {
    usec: i64,
    mday: i32,
    mon: i32,
    year: i32,
}

/// `AdjustFractMicroseconds`: adds `frac × scale` microseconds, rounding off
/// a fractional microsecond (half away from zero, strictly above 0.5).
fn adjust_fract_microseconds(frac: f64, scale: i64, itm: &mut ItmIn) -> bool {
    if frac == 0.0 {
        return true;
    }
    let scaled = frac * scale as f64;
    let mut usec = scaled as i64;
    let rest = scaled - usec as f64;
    if rest > 0.5 {
        usec += 1;
    } else if rest < -0.5 {
        usec -= 1;
    }
    itm.usec.checked_add(usec).map(|v| itm.usec = v).is_some()
}

/// `AdjustFractDays`: adds `frac × scale` days, the fraction of a day as
/// microseconds.
fn adjust_fract_days(frac: f64, scale: i32, itm: &mut ItmIn) -> bool {
    if frac == 0.0 {
        return true;
    }
    let scaled = frac * f64::from(scale);
    let extra_days = scaled as i32;
    let Some(mday) = itm.mday.checked_add(extra_days) else {
        return false;
    };
    itm.mday = mday;
    adjust_fract_microseconds(scaled - f64::from(extra_days), USECS_PER_DAY, itm)
}

/// `AdjustFractYears`: adds `frac × scale` years as whole months, rounded
/// half to even.
fn adjust_fract_years(frac: f64, scale: i32, itm: &mut ItmIn) -> bool {
    let extra_months =
        (frac * f64::from(scale) * f64::from(MONTHS_PER_YEAR)).round_ties_even() as i32;
    itm.mon
        .checked_add(extra_months)
        .map(|v| itm.mon = v)
        .is_some()
}

/// `AdjustMicroseconds`: adds `(val + fval) × scale` microseconds.
fn adjust_microseconds(val: i64, fval: f64, scale: i64, itm: &mut ItmIn) -> bool {
    let Some(usec) = val
        .checked_mul(scale)
        .and_then(|product| itm.usec.checked_add(product))
    else {
        return false;
    };
    itm.usec = usec;
    adjust_fract_microseconds(fval, scale, itm)
}

fn adjust_days(val: i64, scale: i32, itm: &mut ItmIn) -> bool {
    let Some(mday) = i32::try_from(val)
        .ok()
        .and_then(|v| v.checked_mul(scale))
        .and_then(|days| itm.mday.checked_add(days))
    else {
        return false;
    };
    itm.mday = mday;
    true
}

fn adjust_months(val: i64, itm: &mut ItmIn) -> bool {
    let Some(mon) = i32::try_from(val).ok().and_then(|v| itm.mon.checked_add(v)) else {
        return false;
    };
    itm.mon = mon;
    true
}

fn adjust_years(val: i64, scale: i32, itm: &mut ItmIn) -> bool {
    let Some(year) = i32::try_from(val)
        .ok()
        .and_then(|v| v.checked_mul(scale))
        .and_then(|years| itm.year.checked_add(years))
    else {
        return false;
    };
    itm.year = year;
    true
}

/// `DecodeTimeForInterval`: a time field as microseconds.
fn decode_time_for_interval(s: &[u8]) -> Result<i64, DtErr> {
    let (hour, min, sec, fsec) = decode_time_common(s)?;
    hour.checked_mul(USECS_PER_HOUR)
        .and_then(|v| v.checked_add(i64::from(min) * USECS_PER_MINUTE))
        .and_then(|v| v.checked_add(i64::from(sec) * USECS_PER_SEC + i64::from(fsec)))
        .ok_or(DtErr::FieldOverflow)
}

/// The unit the next number (to the left) is in, while reading an interval
/// backwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NextUnit {
    /// None given yet: a bare number is seconds.
    Default,
    Unit(Unit),
    /// After `ago`: a number here is an error, as in PostgreSQL.
    Invalid,
}

/// `DecodeInterval`: the postgres-style interval syntax, read right to left
/// so that units come before their numbers.
fn decode_interval(fields: &[Field], style: IntervalStyle) -> Result<ItmIn, DtErr> {
    let mut itm = ItmIn::default();
    let mut is_before = false;
    let mut parsing_unit_val = false;
    let mut fmask: u32 = 0;
    let mut next = NextUnit::Default;
    for field in fields.iter().rev() {
        let s = field.text.as_slice();
        let tmask;
        // A signed time (`-02:03`) is read like a time; other signed
        // numbers fall through to the number case.
        let signed_time = if field.ty == FieldType::Tz && s[1..].contains(&b':') {
            decode_time_for_interval(&s[1..]).ok()
        } else {
            None
        };
        if field.ty == FieldType::Time {
            itm.usec = decode_time_for_interval(s)?;
            tmask = fm::TIME;
            next = NextUnit::Unit(Unit::Day);
            parsing_unit_val = false;
        } else if let Some(usec) = signed_time {
            itm.usec = if s[0] == b'-' { -usec } else { usec };
            tmask = fm::TIME;
            next = NextUnit::Unit(Unit::Day);
            parsing_unit_val = false;
        } else if matches!(
            field.ty,
            FieldType::Tz | FieldType::Date | FieldType::Number
        ) {
            // `None` after `ago`, where only the years-months form, which
            // names its own unit, is accepted.
            let unit = match next {
                NextUnit::Default => Some(Unit::Second),
                NextUnit::Unit(u) => Some(u),
                NextUnit::Invalid => None,
            };
            let (mut val, end, overflow) = strtol(s);
            if overflow {
                return Err(DtErr::FieldOverflow);
            }
            let rest = &s[end..];
            let mut unit = unit;
            let fval;
            match rest.first() {
                Some(b'-') => {
                    // SQL's "years-months".
                    let (val2, end2, overflow2) = strtoint(&rest[1..]);
                    if overflow2 || !(0..MONTHS_PER_YEAR).contains(&val2) {
                        return Err(DtErr::FieldOverflow);
                    }
                    if 1 + end2 != rest.len() {
                        return Err(DtErr::BadFormat);
                    }
                    unit = Some(Unit::Month);
                    let val2 = if s[0] == b'-' { -val2 } else { val2 };
                    val = val
                        .checked_mul(i64::from(MONTHS_PER_YEAR))
                        .and_then(|v| v.checked_add(i64::from(val2)))
                        .ok_or(DtErr::FieldOverflow)?;
                    fval = 0.0;
                }
                Some(b'.') => {
                    let f = parse_fraction(rest)?;
                    fval = if s[0] == b'-' { -f } else { f };
                }
                None => fval = 0.0,
                Some(_) => return Err(DtErr::BadFormat),
            }
            let unit = unit.ok_or(DtErr::BadFormat)?;
            let ok;
            (ok, tmask) = match unit {
                Unit::Microsecond => (adjust_microseconds(val, fval, 1, &mut itm), fm::MICROSECOND),
                Unit::Millisecond => (
                    adjust_microseconds(val, fval, 1000, &mut itm),
                    fm::MILLISECOND,
                ),
                Unit::Second => (
                    adjust_microseconds(val, fval, USECS_PER_SEC, &mut itm),
                    if fval == 0.0 {
                        fm::SECOND
                    } else {
                        fm::ALL_SECS
                    },
                ),
                Unit::Minute => (
                    adjust_microseconds(val, fval, USECS_PER_MINUTE, &mut itm),
                    fm::MINUTE,
                ),
                Unit::Hour => {
                    next = NextUnit::Unit(Unit::Day);
                    (
                        adjust_microseconds(val, fval, USECS_PER_HOUR, &mut itm),
                        fm::HOUR,
                    )
                }
                Unit::Day => (
                    adjust_days(val, 1, &mut itm)
                        && adjust_fract_microseconds(fval, USECS_PER_DAY, &mut itm),
                    fm::DAY,
                ),
                Unit::Week => (
                    adjust_days(val, 7, &mut itm) && adjust_fract_days(fval, 7, &mut itm),
                    fm::WEEK,
                ),
                Unit::Month => (
                    adjust_months(val, &mut itm)
                        && adjust_fract_days(fval, DAYS_PER_MONTH, &mut itm),
                    fm::MONTH,
                ),
                Unit::Year => (
                    adjust_years(val, 1, &mut itm) && adjust_fract_years(fval, 1, &mut itm),
                    fm::YEAR,
                ),
                Unit::Decade => (
                    adjust_years(val, 10, &mut itm) && adjust_fract_years(fval, 10, &mut itm),
                    fm::DECADE,
                ),
                Unit::Century => (
                    adjust_years(val, 100, &mut itm) && adjust_fract_years(fval, 100, &mut itm),
                    fm::CENTURY,
                ),
                Unit::Millennium => (
                    adjust_years(val, 1000, &mut itm) && adjust_fract_years(fval, 1000, &mut itm),
                    fm::MILLENNIUM,
                ),
                Unit::Quarter | Unit::Julian | Unit::Other => return Err(DtErr::BadFormat),
            };
            if !ok {
                return Err(DtErr::FieldOverflow);
            }
            if unit == Unit::Month && rest.first() == Some(&b'-') {
                // The years-months form set the unit for this field only.
                next = NextUnit::Unit(Unit::Month);
            } else if unit != Unit::Hour {
                next = NextUnit::Unit(unit);
            }
            parsing_unit_val = false;
        } else {
            // A word: PostgreSQL 15 looks only at the interval units here.
            if parsing_unit_val {
                return Err(DtErr::BadFormat);
            }
            match interval_keyword(s) {
                Some(Token::Ignore) => continue,
                Some(Token::Units(unit)) => {
                    next = NextUnit::Unit(unit);
                    parsing_unit_val = true;
                }
                Some(Token::Ago) => {
                    is_before = true;
                    next = NextUnit::Invalid;
                }
                _ => return Err(DtErr::BadFormat),
            }
            tmask = 0;
        }
        if tmask & fmask != 0 {
            return Err(DtErr::BadFormat);
        }
        fmask |= tmask;
    }
    if fmask == 0 || parsing_unit_val {
        return Err(DtErr::BadFormat);
    }
    // In the SQL standard, `-1 1:00:00` is minus one day and one hour: with
    // IntervalStyle sql_standard a leading sign that is the only explicit
    // sign applies to every field.
    let signed = |f: &Field| matches!(f.text.first(), Some(b'-' | b'+'));
    if style == IntervalStyle::SqlStandard
        && fields
            .first()
            .is_some_and(|f| f.text.first() == Some(&b'-'))
        && !fields[1..].iter().any(signed)
    {
        // Negating only positive values cannot overflow.
        if itm.usec > 0 {
            itm.usec = -itm.usec;
        }
        if itm.mday > 0 {
            itm.mday = -itm.mday;
        }
        if itm.mon > 0 {
            itm.mon = -itm.mon;
        }
        if itm.year > 0 {
            itm.year = -itm.year;
        }
    }
    if is_before {
        if itm.usec == i64::MIN
            || itm.mday == i32::MIN
            || itm.mon == i32::MIN
            || itm.year == i32::MIN
        {
            return Err(DtErr::FieldOverflow);
        }
        itm.usec = -itm.usec;
        itm.mday = -itm.mday;
        itm.mon = -itm.mon;
        itm.year = -itm.year;
    }
    Ok(itm)
}

/// `ParseISO8601Number`: a `strtod` number within ±1e15, split into its
/// integer part (toward zero) and fraction. Returns them and the length
/// read.
fn parse_iso8601_number(s: &[u8]) -> Result<(i64, f64, usize), DtErr> {
    if !s
        .first()
        .is_some_and(|&b| b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err(DtErr::BadFormat);
    }
    let text = std::str::from_utf8(s).map_err(|_| DtErr::BadFormat)?;
    let (val, len) = float::strtod_prefix(text).ok_or(DtErr::BadFormat)?;
    if val.is_nan() || !(-1.0e15..=1.0e15).contains(&val) {
        return Err(DtErr::FieldOverflow);
    }
    let ipart = val.trunc() as i64;
    Ok((ipart, val - ipart as f64, len))
}

/// The number of integer digits of an ISO 8601 field, sign and fraction
/// aside.
fn iso8601_integer_width(s: &[u8]) -> usize {
    let s = s.strip_prefix(b"-").unwrap_or(s);
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// `DecodeISO8601Interval`: `P1Y2M3DT4H5M6S`, weeks, fractions in any
/// field, and the alternative format `P0001-02-03T04:05:06`.
fn decode_iso8601_interval(s: &[u8]) -> Result<ItmIn, DtErr> {
    let mut itm = ItmIn::default();
    if s.len() < 2 || s[0] != b'P' {
        return Err(DtErr::BadFormat);
    }
    let overflow = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(DtErr::FieldOverflow)
        }
    };
    let mut pos = 1;
    let mut datepart = true;
    let mut havefield = false;
    while pos < s.len() {
        if s[pos] == b'T' {
            datepart = false;
            havefield = false;
            pos += 1;
            continue;
        }
        let fieldstart = pos;
        let (val, fval, len) = parse_iso8601_number(&s[pos..])?;
        pos += len;
        let unit = s.get(pos).copied().unwrap_or(0);
        pos += 1;
        if datepart {
            match unit {
                b'Y' => overflow(
                    adjust_years(val, 1, &mut itm) && adjust_fract_years(fval, 1, &mut itm),
                )?,
                b'M' => overflow(
                    adjust_months(val, &mut itm)
                        && adjust_fract_days(fval, DAYS_PER_MONTH, &mut itm),
                )?,
                b'W' => {
                    overflow(adjust_days(val, 7, &mut itm) && adjust_fract_days(fval, 7, &mut itm))?
                }
                b'D' => overflow(
                    adjust_days(val, 1, &mut itm)
                        && adjust_fract_microseconds(fval, USECS_PER_DAY, &mut itm),
                )?,
                b'T' | 0 | b'-' => {
                    if unit != b'-' && iso8601_integer_width(&s[fieldstart..]) == 8 && !havefield {
                        // Basic alternative format: yyyymmdd.
                        overflow(
                            adjust_years(val / 10000, 1, &mut itm)
                                && adjust_months((val / 100) % 100, &mut itm)
                                && adjust_days(val % 100, 1, &mut itm)
                                && adjust_fract_microseconds(fval, USECS_PER_DAY, &mut itm),
                        )?;
                        if unit == 0 {
                            return Ok(itm);
                        }
                        datepart = false;
                        havefield = false;
                        continue;
                    }
                    // Extended alternative format: yyyy-mm-dd.
                    if havefield {
                        return Err(DtErr::BadFormat);
                    }
                    overflow(
                        adjust_years(val, 1, &mut itm) && adjust_fract_years(fval, 1, &mut itm),
                    )?;
                    if unit == 0 {
                        return Ok(itm);
                    }
                    if unit == b'T' {
                        datepart = false;
                        havefield = false;
                        continue;
                    }
                    let (val, fval, len) = parse_iso8601_number(&s[pos..])?;
                    pos += len;
                    overflow(
                        adjust_months(val, &mut itm)
                            && adjust_fract_days(fval, DAYS_PER_MONTH, &mut itm),
                    )?;
                    match s.get(pos) {
                        None => return Ok(itm),
                        Some(b'T') => {
                            datepart = false;
                            havefield = false;
                            continue;
                        }
                        Some(b'-') => pos += 1,
                        Some(_) => return Err(DtErr::BadFormat),
                    }
                    let (val, fval, len) = parse_iso8601_number(&s[pos..])?;
                    pos += len;
                    overflow(
                        adjust_days(val, 1, &mut itm)
                            && adjust_fract_microseconds(fval, USECS_PER_DAY, &mut itm),
                    )?;
                    match s.get(pos) {
                        None => return Ok(itm),
                        Some(b'T') => {
                            datepart = false;
                            havefield = false;
                            continue;
                        }
                        Some(_) => return Err(DtErr::BadFormat),
                    }
                }
                _ => return Err(DtErr::BadFormat),
            }
        } else {
            match unit {
                b'H' => overflow(adjust_microseconds(val, fval, USECS_PER_HOUR, &mut itm))?,
                b'M' => overflow(adjust_microseconds(val, fval, USECS_PER_MINUTE, &mut itm))?,
                b'S' => overflow(adjust_microseconds(val, fval, USECS_PER_SEC, &mut itm))?,
                0 | b':' => {
                    if unit == 0 && iso8601_integer_width(&s[fieldstart..]) == 6 && !havefield {
                        // Basic alternative format: hhmmss.
                        overflow(
                            adjust_microseconds(val / 10000, 0.0, USECS_PER_HOUR, &mut itm)
                                && adjust_microseconds(
                                    (val / 100) % 100,
                                    0.0,
                                    USECS_PER_MINUTE,
                                    &mut itm,
                                )
                                && adjust_microseconds(val % 100, 0.0, USECS_PER_SEC, &mut itm)
                                && adjust_fract_microseconds(fval, 1, &mut itm),
                        )?;
                        return Ok(itm);
                    }
                    // Extended alternative format: hh:mm:ss.
                    if havefield {
                        return Err(DtErr::BadFormat);
                    }
                    overflow(adjust_microseconds(val, fval, USECS_PER_HOUR, &mut itm))?;
                    if unit == 0 {
                        return Ok(itm);
                    }
                    let (val, fval, len) = parse_iso8601_number(&s[pos..])?;
                    pos += len;
                    overflow(adjust_microseconds(val, fval, USECS_PER_MINUTE, &mut itm))?;
                    match s.get(pos) {
                        None => return Ok(itm),
                        Some(b':') => pos += 1,
                        Some(_) => return Err(DtErr::BadFormat),
                    }
                    let (val, fval, len) = parse_iso8601_number(&s[pos..])?;
                    pos += len;
                    overflow(adjust_microseconds(val, fval, USECS_PER_SEC, &mut itm))?;
                    if pos == s.len() {
                        return Ok(itm);
                    }
                    return Err(DtErr::BadFormat);
                }
                _ => return Err(DtErr::BadFormat),
            }
        }
        havefield = true;
    }
    Ok(itm)
}

/// Reads an interval as `interval_in`: the postgres syntax, or else ISO
/// 8601. Returns (months, days, microseconds).
pub(super) fn parse_interval(
    text: &str,
    style: IntervalStyle,
) -> Result<(i32, i32, i64), TypeError> {
    let decoded =
        tokenize(text.as_bytes(), INTERVAL_BUF_LEN).and_then(|f| decode_interval(&f, style));
    let itm = match decoded {
        Err(DtErr::BadFormat) => decode_iso8601_interval(text.as_bytes()),
        other => other,
    }
    .map_err(|e| match e {
        DtErr::FieldOverflow => TypeError::IntervalFieldOverflow {
            input: text.to_owned(),
        },
        other => other.into_type_error("interval", text),
    })?;
    let months = i64::from(itm.year) * i64::from(MONTHS_PER_YEAR) + i64::from(itm.mon);
    let months = i32::try_from(months).map_err(|_| TypeError::IntervalOutOfRange)?;
    Ok((months, itm.mday, itm.usec))
}

// ---------------------------------------------------------------------------
// Casts between date, timestamp and timestamptz.

/// `date2timestamp`: midnight of the date; infinities stay infinite.
pub(crate) fn date_to_timestamp(date: i32) -> Result<i64, TypeError> {
    match date {
        i32::MIN => Ok(i64::MIN),
        i32::MAX => Ok(i64::MAX),
        _ if i64::from(date) >= TIMESTAMP_END_JULIAN - POSTGRES_EPOCH_JDATE => {
            Err(TypeError::DateOutOfRangeForTimestamp)
        }
        _ => Ok(i64::from(date) * USECS_PER_DAY),
    }
}

/// `date2timestamptz`: midnight of the date in the session zone.
pub(crate) fn date_to_timestamptz(date: i32, zone: TimeZone) -> Result<i64, TypeError> {
    match date {
        i32::MIN => Ok(i64::MIN),
        i32::MAX => Ok(i64::MAX),
        _ if i64::from(date) >= TIMESTAMP_END_JULIAN - POSTGRES_EPOCH_JDATE => {
            Err(TypeError::DateOutOfRangeForTimestamp)
        }
        _ => {
            let local = i64::from(date) * USECS_PER_DAY;
            let ts = local - i64::from(zone.utc_offset_secs_for_local(local)) * USECS_PER_SEC;
            if is_valid_timestamp(ts) {
                Ok(ts)
            } else {
                Err(TypeError::DateOutOfRangeForTimestamp)
            }
        }
    }
}

/// `timestamp2timestamptz`: the local time read in the session zone.
pub(crate) fn timestamp_to_timestamptz(ts: i64, zone: TimeZone) -> Result<i64, TypeError> {
    if ts == i64::MIN || ts == i64::MAX {
        return Ok(ts);
    }
    ts.checked_sub(i64::from(zone.utc_offset_secs_for_local(ts)) * USECS_PER_SEC)
        .filter(|&v| is_valid_timestamp(v))
        .ok_or(TypeError::TimestampOutOfRange)
}

/// `timestamptz2timestamp`: the local time in the session zone.
pub(crate) fn timestamptz_to_timestamp(ts: i64, zone: TimeZone) -> Result<i64, TypeError> {
    if ts == i64::MIN || ts == i64::MAX {
        return Ok(ts);
    }
    ts.checked_add(i64::from(zone.utc_offset_secs_at(ts)) * USECS_PER_SEC)
        .filter(|&v| is_valid_timestamp(v))
        .ok_or(TypeError::TimestampOutOfRange)
}

/// `timestamp_date`: the date part.
pub(crate) fn timestamp_to_date(ts: i64) -> Result<i32, TypeError> {
    match ts {
        i64::MIN => Ok(i32::MIN),
        i64::MAX => Ok(i32::MAX),
        _ => {
            let (tm, _) = timestamp2tm(ts).ok_or(TypeError::TimestampOutOfRange)?;
            let date = date2j(tm.year, tm.mon, tm.mday) - POSTGRES_EPOCH_JDATE;
            i32::try_from(date).map_err(|_| TypeError::DateOutOfRange)
        }
    }
}

/// `timestamptz_date`: the date in the session zone.
pub(crate) fn timestamptz_to_date(ts: i64, zone: TimeZone) -> Result<i32, TypeError> {
    match ts {
        i64::MIN => Ok(i32::MIN),
        i64::MAX => Ok(i32::MAX),
        _ => {
            let local = ts
                .checked_add(i64::from(zone.utc_offset_secs_at(ts)) * USECS_PER_SEC)
                .ok_or(TypeError::TimestampOutOfRange)?;
            timestamp_to_date(local)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn julian_days_match_postgres() {
        assert_eq!(date2j(2000, 1, 1), POSTGRES_EPOCH_JDATE);
        assert_eq!(date2j(1970, 1, 1), UNIX_EPOCH_JDATE);
        assert_eq!(date2j(-4713, 11, 24), 0);
        assert_eq!(j2date(0), (-4713, 11, 24));
        assert_eq!(j2date(POSTGRES_EPOCH_JDATE), (2000, 1, 1));
        for jd in [
            -1_000_000,
            -146_098,
            -1,
            1,
            2_451_545,
            2_147_483_493,
            5_000_000_000,
        ] {
            let (y, m, d) = j2date(jd);
            assert_eq!(date2j(y as i32, m, d), jd, "{jd}");
        }
    }

    #[test]
    fn tokenizer_splits_like_parse_date_time() {
        let kinds = |s: &str| -> Vec<(FieldType, String)> {
            tokenize(s.as_bytes(), DATETIME_BUF_LEN)
                .expect("tokenizes")
                .into_iter()
                .map(|f| (f.ty, String::from_utf8(f.text).expect("ASCII")))
                .collect()
        };
        use FieldType::*;
        assert_eq!(
            kinds("2024-01-02T03:04:05.5+02"),
            [
                (Date, "2024-01-02".into()),
                (Word, "t".into()),
                (Time, "03:04:05.5".into()),
                (Tz, "+02".into())
            ]
        );
        assert_eq!(
            kinds("Jan-02-2024 America/New_York"),
            [
                (Date, "jan-02-2024".into()),
                (Date, "america/new_york".into())
            ]
        );
        assert_eq!(kinds("- 1 day"), [(Tz, "-1".into()), (Word, "day".into())]);
        assert!(tokenize("x".repeat(200).as_bytes(), DATETIME_BUF_LEN).is_err());
    }

    #[test]
    fn date_styles_print_like_postgres() {
        let style = |output, order| DateStyle { output, order };
        // 2024-02-01 10:11:12.5, a Thursday.
        let ts = ((date2j(2024, 2, 1) - POSTGRES_EPOCH_JDATE) * 86_400 + 36_672) * USECS_PER_SEC
            + 500_000;
        let date = i32::try_from(ts.div_euclid(USECS_PER_DAY)).expect("fits");
        let cases = [
            (
                DateOutput::Iso,
                DateOrder::Dmy,
                "2024-02-01",
                "2024-02-01 10:11:12.5",
            ),
            (
                DateOutput::Sql,
                DateOrder::Mdy,
                "02/01/2024",
                "02/01/2024 10:11:12.5",
            ),
            (
                DateOutput::Sql,
                DateOrder::Dmy,
                "01/02/2024",
                "01/02/2024 10:11:12.5",
            ),
            (
                DateOutput::German,
                DateOrder::Mdy,
                "01.02.2024",
                "01.02.2024 10:11:12.5",
            ),
            (
                DateOutput::Postgres,
                DateOrder::Ymd,
                "02-01-2024",
                "Thu Feb 01 10:11:12.5 2024",
            ),
            (
                DateOutput::Postgres,
                DateOrder::Dmy,
                "01-02-2024",
                "Thu 01 Feb 10:11:12.5 2024",
            ),
        ];
        for (output, order, shown_date, shown_ts) in cases {
            assert_eq!(format_date(date, style(output, order)), shown_date);
            assert_eq!(format_timestamp(ts, style(output, order)), shown_ts);
        }
        let sql = style(DateOutput::Sql, DateOrder::Mdy);
        let five = TimeZone::from_utc_offset_secs(5 * 3600).expect("in range");
        assert_eq!(
            format_timestamptz(ts, five, sql),
            "02/01/2024 15:11:12.5 +05"
        );
        assert_eq!(
            format_timestamptz(
                ts,
                TimeZone::UTC,
                style(DateOutput::Postgres, DateOrder::Mdy)
            ),
            "Thu Feb 01 10:11:12.5 2024 UTC"
        );
        assert_eq!(format_date(i32::MAX, sql), "infinity");
        // 1 BC: the year prints as 0001 and BC follows everything.
        let bc = i32::try_from(date2j(0, 3, 15) - POSTGRES_EPOCH_JDATE).expect("fits");
        assert_eq!(format_date(bc, sql), "03/15/0001 BC");
    }

    #[test]
    fn interval_styles_print_like_postgres() {
        let all = |months, days, micros| {
            [
                IntervalStyle::SqlStandard,
                IntervalStyle::Iso8601,
                IntervalStyle::PostgresVerbose,
            ]
            .map(|style| format_interval(months, days, micros, style))
        };
        assert_eq!(all(0, 0, 0), ["0", "PT0S", "@ 0"]);
        assert_eq!(
            all(14, 3, 14_706_500_000),
            [
                "+1-2 +3 +4:05:06.5",
                "P1Y2M3DT4H5M6.5S",
                "@ 1 year 2 mons 3 days 4 hours 5 mins 6.5 secs"
            ]
        );
        assert_eq!(all(-14, 0, 0), ["-1-2", "P-1Y-2M", "@ 1 year 2 mons ago"]);
        assert_eq!(
            all(0, -1, -7_200_000_000),
            ["-1 2:00:00", "P-1DT-2H", "@ 1 day 2 hours ago"]
        );
        assert_eq!(
            all(0, 1, -1_000_000),
            ["+0-0 +1 -0:00:01", "P1DT-1S", "@ 1 day -1 sec"]
        );
        assert_eq!(
            all(0, 0, -500_000),
            ["-0:00:00.5", "PT-0.5S", "@ 0.5 secs ago"]
        );
    }

    #[test]
    fn intervals_print_like_postgres() {
        assert_eq!(
            format_interval(0, 0, 0, IntervalStyle::Postgres),
            "00:00:00"
        );
        assert_eq!(
            format_interval(14, 3, 14_706_500_000, IntervalStyle::Postgres),
            "1 year 2 mons 3 days 04:05:06.5"
        );
        assert_eq!(
            format_interval(-14, 3, -14_706_000_000, IntervalStyle::Postgres),
            "-1 years -2 mons +3 days -04:05:06"
        );
        assert_eq!(
            format_interval(0, -1, 7_200_000_000, IntervalStyle::Postgres),
            "-1 days +02:00:00"
        );
        assert_eq!(
            format_interval(0, 0, i64::MIN, IntervalStyle::Postgres),
            "-2562047788:00:54.775808"
        );
    }
}

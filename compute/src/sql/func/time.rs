//! Date and time functions and operators, as `date.c` and `timestamp.c`
//! compute them.
//!
//! Timestamps count microseconds from 2000-01-01; `i64::MIN`/`i64::MAX`
//! are `-infinity`/`infinity` (and `i32::MIN`/`i32::MAX` for dates).
//! Calendar fields of a `timestamptz` are read in the session time zone,
//! which is a fixed offset from UTC (see [`crate::pgtext`]): month and day
//! arithmetic, `date_trunc` and `extract` happen at that offset. Zones
//! with daylight-saving rules are not supported by the text layer yet;
//! when they are, these functions must find each local time's own offset
//! (`DetermineTimeZoneOffset`).

use std::borrow::Cow;

use super::{bad_args, division_by_zero, invalid_parameter, sqlstate, type_err, Builtin as B};
use crate::datum::{Datum, Numeric, USECS_PER_DAY};
use crate::pgtext::{self, date2j, j2date, TimeZone};
use crate::sql::error::SqlError;
use crate::sql::expr::EvalCtx;

const POSTGRES_EPOCH_JDATE: i64 = 2_451_545;
const UNIX_EPOCH_JDATE: i64 = 2_440_588;
const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
const SECS_PER_DAY: i64 = 86_400;
const DAYS_PER_MONTH: i32 = 30;
const MONTHS_PER_YEAR: i32 = 12;
/// `MIN_TIMESTAMP` and `END_TIMESTAMP`: 4714-11-24 BC to 294277-01-01.
const MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;
const END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;
/// `DATE_END_JULIAN`, `TIMESTAMP_END_JULIAN`.
const DATE_END_JULIAN: i64 = 2_147_483_494;
const TIMESTAMP_END_JULIAN: i64 = 109_203_528;
const DAYS_IN_MONTH: [[i32; 12]; 2] = [
    [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
    [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
];

fn dt_err(message: impl Into<String>) -> SqlError {
    SqlError::new(sqlstate::DATETIME_FIELD_OVERFLOW, message)
}

fn ts_range() -> SqlError {
    dt_err("timestamp out of range")
}

fn iv_range() -> SqlError {
    dt_err("interval out of range")
}

fn date_range() -> SqlError {
    dt_err("date out of range")
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i32, mon: i32) -> i32 {
    DAYS_IN_MONTH[usize::from(is_leap(year))][(mon - 1) as usize]
}

fn is_finite_ts(ts: i64) -> bool {
    ts != i64::MIN && ts != i64::MAX
}

fn is_valid_ts(ts: i64) -> bool {
    (MIN_TIMESTAMP..END_TIMESTAMP).contains(&ts)
}

fn is_valid_date(d: i64) -> bool {
    (-POSTGRES_EPOCH_JDATE..DATE_END_JULIAN - POSTGRES_EPOCH_JDATE).contains(&d)
}

/// `IS_VALID_JULIAN`.
fn is_valid_julian(year: i32, mon: i32) -> bool {
    (year > -4713 || (year == -4713 && mon >= 11))
        && (year < 5_874_898 || (year == 5_874_898 && mon < 6))
}

/// `pg_tm` plus fractional seconds: a broken-down local time.
#[derive(Clone, Copy, Debug, Default)]
struct Tm {
    year: i32,
    mon: i32,
    mday: i32,
    hour: i32,
    min: i32,
    sec: i32,
    fsec: i64,
}

/// `timestamp2tm` on a local (already zone-shifted) timestamp.
fn to_tm(ts: i64) -> Result<Tm, SqlError> {
    if !is_finite_ts(ts) {
        return Err(ts_range());
    }
    let days = ts.div_euclid(USECS_PER_DAY);
    let t = ts.rem_euclid(USECS_PER_DAY);
    let (year, mon, mday) = j2date(days + POSTGRES_EPOCH_JDATE);
    Ok(Tm {
        year: i32::try_from(year).map_err(|_| ts_range())?,
        mon,
        mday,
        hour: (t / USECS_PER_HOUR) as i32,
        min: (t / USECS_PER_MINUTE % 60) as i32,
        sec: (t / USECS_PER_SEC % 60) as i32,
        fsec: t % USECS_PER_SEC,
    })
}

/// `tm2timestamp` to a local timestamp.
fn from_tm(tm: &Tm) -> Result<i64, SqlError> {
    if !is_valid_julian(tm.year, tm.mon) {
        return Err(ts_range());
    }
    let date = date2j(tm.year, tm.mon, tm.mday) - POSTGRES_EPOCH_JDATE;
    let time = ((i64::from(tm.hour) * 60 + i64::from(tm.min)) * 60 + i64::from(tm.sec))
        * USECS_PER_SEC
        + tm.fsec;
    let r = date
        .checked_mul(USECS_PER_DAY)
        .and_then(|d| d.checked_add(time))
        .ok_or_else(ts_range)?;
    if !is_valid_ts(r) {
        return Err(ts_range());
    }
    Ok(r)
}

/// A timestamptz as local time in the session zone.
fn local(ts: i64, ctx: &EvalCtx<'_>) -> i64 {
    local_in(ts, ctx.text.time_zone)
}

/// A timestamptz as local time in `zone`; infinities stay infinite.
fn local_in(ts: i64, zone: TimeZone) -> i64 {
    if !is_finite_ts(ts) {
        return ts;
    }
    ts + i64::from(zone.utc_offset_secs_at(ts)) * USECS_PER_SEC
}

/// A local time in the session zone back to a timestamptz.
fn utc(local: i64, ctx: &EvalCtx<'_>) -> Result<i64, SqlError> {
    utc_in(local, ctx.text.time_zone)
}

/// A finite local time in `zone` back to a timestamptz, with PostgreSQL's
/// choice of offset where daylight saving skips or repeats the time.
fn utc_in(local: i64, zone: TimeZone) -> Result<i64, SqlError> {
    let zone_us = i64::from(zone.utc_offset_secs_for_local(local)) * USECS_PER_SEC;
    let r = local.checked_sub(zone_us).ok_or_else(ts_range)?;
    if !is_valid_ts(r) {
        return Err(ts_range());
    }
    Ok(r)
}

/// Longest wait between two checks for cancellation in `pg_sleep`.
const SLEEP_SLICE: std::time::Duration = std::time::Duration::from_millis(10);

/// `pg_sleep(secs)`: waits `secs` seconds (forever for infinity, not at
/// all for zero, negative or NaN), checking in slices of [`SLEEP_SLICE`]
/// whether the statement was cancelled or timed out. The wait moves off
/// the tokio worker's core, as long statements do, so the sessions queued
/// there keep running.
fn sleep(secs: f64, ctx: &EvalCtx<'_>) -> Result<(), SqlError> {
    use std::time::{Duration, Instant};
    let check = || ctx.sub.map_or(Ok(()), |s| s.check_interrupts());
    let wait = || {
        let end = Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|d| Instant::now().checked_add(d));
        loop {
            check()?;
            let left = match end {
                Some(end) => end.saturating_duration_since(Instant::now()),
                None => SLEEP_SLICE,
            };
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(SLEEP_SLICE));
        }
    };
    // Zero, negative and NaN do not wait.
    if secs.is_nan() || secs <= 0.0 {
        return check();
    }
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(wait)
    } else {
        wait()
    }
}

/// The zone of `AT TIME ZONE 'name'`.
fn zone_argument(name: &str) -> Result<TimeZone, SqlError> {
    TimeZone::parse_zone_argument(name).map_err(type_err)
}

/// The zone of `AT TIME ZONE interval '…'`: a fixed offset east of UTC,
/// which may not have months or days (22023), as `timestamp_izone`.
fn interval_zone(months: i32, days: i32, micros: i64) -> Result<TimeZone, SqlError> {
    if months != 0 || days != 0 {
        let shown = pgtext::format(
            &Datum::Interval {
                months,
                days,
                micros,
            },
            &pgtext::TextContext::default(),
        );
        return Err(SqlError::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("interval time zone \"{shown}\" must not include months or days"),
        ));
    }
    i32::try_from(micros / USECS_PER_SEC)
        .ok()
        .and_then(TimeZone::from_utc_offset_secs)
        .ok_or_else(|| {
            SqlError::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                "interval time zone is out of range",
            )
        })
}

/// `timestamp AT TIME ZONE zone`: the local time `ts` read in `zone`.
fn timestamp_at_zone(ts: i64, zone: TimeZone) -> Result<Datum, SqlError> {
    Ok(Datum::TimestampTz(if is_finite_ts(ts) {
        utc_in(ts, zone)?
    } else {
        ts
    }))
}

/// `timestamptz AT TIME ZONE zone`: the local time in `zone`.
fn timestamptz_at_zone(ts: i64, zone: TimeZone) -> Result<Datum, SqlError> {
    let r = local_in(ts, zone);
    if is_finite_ts(r) && !is_valid_ts(r) {
        return Err(ts_range());
    }
    Ok(Datum::Timestamp(r))
}

/// `j2day`: 0 = Sunday.
fn j2day(jd: i64) -> i32 {
    (jd + 1).rem_euclid(7) as i32
}

/// `isoweek2j`: the Julian day of Monday of ISO week `week` of `year`.
fn isoweek2j(year: i32, week: i32) -> i64 {
    let day4 = date2j(year, 1, 4);
    let day0 = i64::from(j2day(day4 - 1));
    i64::from(week - 1) * 7 + (day4 - day0)
}

/// `date2isoweek`.
fn date2isoweek(year: i32, mon: i32, mday: i32) -> i32 {
    let dayn = date2j(year, mon, mday);
    let mut day4 = date2j(year, 1, 4);
    let mut day0 = i64::from(j2day(day4 - 1));
    if dayn < day4 - day0 {
        day4 = date2j(year - 1, 1, 4);
        day0 = i64::from(j2day(day4 - 1));
    }
    let mut result = (dayn - (day4 - day0)) / 7 + 1;
    if result >= 52 {
        day4 = date2j(year + 1, 1, 4);
        day0 = i64::from(j2day(day4 - 1));
        if dayn >= day4 - day0 {
            result = (dayn - (day4 - day0)) / 7 + 1;
        }
    }
    result as i32
}

/// `date2isoyear`.
fn date2isoyear(mut year: i32, mon: i32, mday: i32) -> i32 {
    let dayn = date2j(year, mon, mday);
    let mut day4 = date2j(year, 1, 4);
    let mut day0 = i64::from(j2day(day4 - 1));
    if dayn < day4 - day0 {
        day4 = date2j(year - 1, 1, 4);
        day0 = i64::from(j2day(day4 - 1));
        year -= 1;
    }
    let result = (dayn - (day4 - day0)) / 7 + 1;
    if result >= 52 {
        day4 = date2j(year + 1, 1, 4);
        day0 = i64::from(j2day(day4 - 1));
        if dayn >= day4 - day0 {
            year += 1;
        }
    }
    year
}

/// The field a `date_trunc`/`extract` unit names (`DTK_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Microsec,
    Millisec,
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
    Tz,
    TzHour,
    TzMinute,
    Dow,
    Isodow,
    Doy,
    Isoyear,
    Julian,
    /// `epoch`, PostgreSQL's one RESERV word that is a field.
    Epoch,
    /// Another reserved word (`now`, `infinity`, ...): recognized, never
    /// supported.
    OtherReserved,
}

/// `DecodeUnits`, then (with `special`) `DecodeSpecial`: PostgreSQL
/// compares the first 10 characters (`TOKMAXLEN`) of the lowercased unit
/// with its tables. `date_trunc` consults only the first table.
fn decode_unit(low: &str, special: bool) -> Option<Unit> {
    // PostgreSQL compares the first 10 characters (TOKMAXLEN).
    let key = match low.char_indices().nth(10) {
        Some((end, _)) => &low[..end],
        None => low,
    };
    decode_units(key).or_else(|| if special { decode_special(key) } else { None })
}

/// PostgreSQL's `deltatktbl`.
fn decode_units(key: &str) -> Option<Unit> {
    use Unit::*;
    Some(match key {
        "c" | "cent" | "centuries" | "century" => Century,
        "d" | "day" | "days" => Day,
        "dec" | "decade" | "decades" | "decs" => Decade,
        "h" | "hour" | "hours" | "hr" | "hrs" => Hour,
        "m" | "min" | "mins" | "minute" | "minutes" => Minute,
        "microsecon" | "us" | "usec" | "usecs" | "useconds" => Microsec,
        "mil" | "millennia" | "millennium" | "mils" => Millennium,
        "millisecon" | "ms" | "msec" | "msecs" | "mseconds" => Millisec,
        "mon" | "mons" | "month" | "months" => Month,
        "qtr" | "quarter" => Quarter,
        "s" | "sec" | "second" | "seconds" | "secs" => Second,
        "timezone" => Tz,
        "timezone_h" => TzHour,
        "timezone_m" => TzMinute,
        "w" | "week" | "weeks" => Week,
        "y" | "year" | "years" | "yr" | "yrs" => Year,
        _ => return None,
    })
}

/// The UNITS and RESERV words of PostgreSQL's `datetktbl`.
fn decode_special(key: &str) -> Option<Unit> {
    use Unit::*;
    Some(match key {
        "mm" => Minute,
        "dow" => Dow,
        "doy" => Doy,
        "isodow" => Isodow,
        "isoyear" => Isoyear,
        "j" | "jd" | "julian" => Julian,
        "epoch" => Epoch,
        "now" | "today" | "tomorrow" | "yesterday" | "infinity" | "-infinity" | "allballs"
        | "invalid" | "z" | "zulu" => OtherReserved,
        _ => return None,
    })
}

/// `downcase_truncate_identifier` (ASCII lowercasing, 63 bytes).
fn lower_units(units: &str) -> Cow<'_, str> {
    // The usual unit is a short lower-case literal, read for every row.
    if units.len() <= 63 && !units.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(units);
    }
    let mut s = units.to_ascii_lowercase();
    if s.len() > 63 {
        let mut cut = 63;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    Cow::Owned(s)
}

fn not_supported(low: &str, type_name: &str) -> SqlError {
    SqlError::new(
        sqlstate::FEATURE_NOT_SUPPORTED,
        format!("unit \"{low}\" not supported for type {type_name}"),
    )
}

fn not_recognized(low: &str, type_name: &str) -> SqlError {
    invalid_parameter(format!(
        "unit \"{low}\" not recognized for type {type_name}"
    ))
}

const TS_NAME: &str = "timestamp without time zone";
const TZ_NAME: &str = "timestamp with time zone";

/// The unit, or PostgreSQL's error for `type_name`; `special` as in
/// [`decode_unit`].
fn unit<'a>(
    units: &'a str,
    type_name: &str,
    special: bool,
) -> Result<(Cow<'a, str>, Unit), SqlError> {
    let low = lower_units(units);
    match decode_unit(&low, special) {
        Some(u) => Ok((low, u)),
        None => Err(not_recognized(&low, type_name)),
    }
}

/// `timestamp_trunc` on local time.
fn trunc_ts(units: &str, ts: i64, type_name: &str) -> Result<i64, SqlError> {
    let (low, u) = unit(units, type_name, false)?;
    if !is_finite_ts(ts) {
        return Ok(ts);
    }
    use Unit::*;
    // A day and its parts are fixed lengths of a local timestamp, so these
    // units truncate by arithmetic, without the calendar (what the fields
    // below would give too); out-of-range answers take the calendar's path
    // for its error.
    let step = match u {
        Day => USECS_PER_DAY,
        Hour => USECS_PER_HOUR,
        Minute => USECS_PER_MINUTE,
        Second => USECS_PER_SEC,
        Millisec => 1000,
        Microsec => 1,
        _ => 0,
    };
    if step > 0 && is_valid_ts(ts) {
        let r = ts - ts.rem_euclid(step);
        if is_valid_ts(r) {
            return Ok(r);
        }
    }
    trunc_fields(&low, u, ts, type_name)
}

/// [`trunc_ts`] through the calendar fields, as PostgreSQL's
/// `timestamp_trunc` does.
fn trunc_fields(low: &str, u: Unit, ts: i64, type_name: &str) -> Result<i64, SqlError> {
    use Unit::*;
    let mut tm = to_tm(ts)?;
    if u == Week {
        let woy = date2isoweek(tm.year, tm.mon, tm.mday);
        if woy >= 52 && tm.mon == 1 {
            tm.year -= 1;
        }
        if woy <= 1 && tm.mon == MONTHS_PER_YEAR {
            tm.year += 1;
        }
        let (y, m, d) = j2date(isoweek2j(tm.year, woy));
        tm = Tm {
            year: y as i32,
            mon: m,
            mday: d,
            ..Tm::default()
        };
        return from_tm(&tm);
    }
    let rank = match u {
        Millennium => 0,
        Century => 1,
        Decade => 2,
        Year => 3,
        Quarter => 4,
        Month => 5,
        Day => 6,
        Hour => 7,
        Minute => 8,
        Second => 9,
        Millisec => 10,
        Microsec => 11,
        _ => return Err(not_supported(low, type_name)),
    };
    if u == Millennium {
        tm.year = if tm.year > 0 {
            ((tm.year + 999) / 1000) * 1000 - 999
        } else {
            -((999 - (tm.year - 1)) / 1000) * 1000 + 1
        };
    }
    if rank <= 1 {
        tm.year = if tm.year > 0 {
            ((tm.year + 99) / 100) * 100 - 99
        } else {
            -((99 - (tm.year - 1)) / 100) * 100 + 1
        };
    }
    if u == Decade {
        tm.year = if tm.year > 0 {
            (tm.year / 10) * 10
        } else {
            -((8 - (tm.year - 1)) / 10) * 10
        };
    }
    if rank <= 3 {
        tm.mon = 1;
    }
    if rank <= 4 {
        tm.mon = 3 * ((tm.mon - 1) / 3) + 1;
    }
    if rank <= 5 {
        tm.mday = 1;
    }
    if rank <= 6 {
        tm.hour = 0;
    }
    if rank <= 7 {
        tm.min = 0;
    }
    if rank <= 8 {
        tm.sec = 0;
    }
    if rank <= 9 {
        tm.fsec = 0;
    }
    if u == Millisec {
        tm.fsec = (tm.fsec / 1000) * 1000;
    }
    from_tm(&tm)
}

/// `interval2itm`: years, months, days, hours, minutes, seconds, µs.
fn itm(months: i32, days: i32, micros: i64) -> [i64; 7] {
    let hour = micros / USECS_PER_HOUR;
    let rest = micros - hour * USECS_PER_HOUR;
    let min = rest / USECS_PER_MINUTE;
    let rest = rest - min * USECS_PER_MINUTE;
    let sec = rest / USECS_PER_SEC;
    let usec = rest - sec * USECS_PER_SEC;
    [
        i64::from(months / MONTHS_PER_YEAR),
        i64::from(months % MONTHS_PER_YEAR),
        i64::from(days),
        hour,
        min,
        sec,
        usec,
    ]
}

fn interval(months: i32, days: i32, micros: i64) -> Datum {
    Datum::Interval {
        months,
        days,
        micros,
    }
}

/// `interval_trunc`.
fn trunc_interval(units: &str, v: (i32, i32, i64)) -> Result<Datum, SqlError> {
    let (low, u) = unit(units, "interval", false)?;
    let [mut y, mut mo, mut d, mut h, mut mi, mut s, mut us] = itm(v.0, v.1, v.2);
    use Unit::*;
    let rank = match u {
        Millennium => 0,
        Century => 1,
        Decade => 2,
        Year => 3,
        Quarter => 4,
        Month => 5,
        Day => 6,
        Hour => 7,
        Minute => 8,
        Second => 9,
        Millisec => 10,
        Microsec => 11,
        _ => {
            let e = not_supported(&low, "interval");
            return Err(if u == Week {
                e.with_detail("Months usually have fractional weeks.")
            } else {
                e
            });
        }
    };
    if rank == 0 {
        y = (y / 1000) * 1000;
    }
    if rank <= 1 {
        y = (y / 100) * 100;
    }
    if rank <= 2 {
        y = (y / 10) * 10;
    }
    if rank <= 3 {
        mo = 0;
    }
    if rank <= 4 {
        mo = 3 * (mo / 3);
    }
    if rank <= 5 {
        d = 0;
    }
    if rank <= 6 {
        h = 0;
    }
    if rank <= 7 {
        mi = 0;
    }
    if rank <= 8 {
        s = 0;
    }
    if rank <= 9 {
        us = 0;
    }
    if u == Millisec {
        us = (us / 1000) * 1000;
    }
    let months = y
        .checked_mul(12)
        .and_then(|m| m.checked_add(mo))
        .and_then(|m| i32::try_from(m).ok())
        .ok_or_else(iv_range)?;
    let micros = h
        .checked_mul(USECS_PER_HOUR)
        .and_then(|t| t.checked_add(mi * USECS_PER_MINUTE))
        .and_then(|t| t.checked_add(s * USECS_PER_SEC))
        .and_then(|t| t.checked_add(us))
        .ok_or_else(iv_range)?;
    Ok(interval(months, d as i32, micros))
}

/// A field's value: an integer, or a number with a fixed count of
/// decimals (`sec × 10^6 + µs` with 6), or a general numeric.
enum Part {
    Int(i64),
    Scaled(i64, u32),
    Num(Numeric),
    /// ±Infinity for an infinite timestamp's monotonic fields.
    Inf(bool),
    Null,
}

impl Part {
    fn numeric(self) -> Datum {
        match self {
            Part::Int(v) => Datum::Numeric(Numeric::from(v)),
            Part::Scaled(v, k) => Datum::Numeric(scaled(v, k)),
            Part::Num(n) => Datum::Numeric(n),
            Part::Inf(neg) => Datum::Numeric(if neg {
                Numeric::neg_infinity()
            } else {
                Numeric::infinity()
            }),
            Part::Null => Datum::Null,
        }
    }
}

/// `int64_div_fast_to_numeric(v, k)`: `v / 10^k` with display scale `k`.
fn scaled(v: i64, k: u32) -> Numeric {
    let digits = v.unsigned_abs().to_string();
    let k = k as usize;
    let padded = if digits.len() <= k {
        format!("{}{digits}", "0".repeat(k + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - k);
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{int}.{frac}")
        .parse()
        .expect("a formatted decimal parses")
}

/// The year fields of `timestamp_part` for an astronomical year.
fn year_field(u: Unit, year: i32) -> i64 {
    let y = i64::from(year);
    match u {
        Unit::Year => {
            if y > 0 {
                y
            } else {
                y - 1
            }
        }
        Unit::Decade => {
            if y >= 0 {
                y / 10
            } else {
                -((8 - (y - 1)) / 10)
            }
        }
        Unit::Century => {
            if y > 0 {
                (y + 99) / 100
            } else {
                -((99 - (y - 1)) / 100)
            }
        }
        _ => {
            if y > 0 {
                (y + 999) / 1000
            } else {
                -((999 - (y - 1)) / 1000)
            }
        }
    }
}

/// `timestamp_part_common` / `timestamptz_part_common`: `ts` is UTC for a
/// timestamptz (with the zone offset in `zone_secs`), local otherwise.
fn part_ts(
    units: &str,
    ts: i64,
    zone_secs: Option<i64>,
    type_name: &str,
) -> Result<Part, SqlError> {
    let (low, u) = unit(units, type_name, true)?;
    use Unit::*;
    if !is_finite_ts(ts) {
        return Ok(match u {
            Year | Decade | Century | Millennium | Julian | Isoyear | Epoch => {
                Part::Inf(ts == i64::MIN)
            }
            Microsec | Millisec | Second | Minute | Hour | Day | Month | Quarter | Week | Dow
            | Isodow | Doy => Part::Null,
            Tz | TzHour | TzMinute if zone_secs.is_some() => Part::Null,
            _ => return Err(not_supported(&low, type_name)),
        });
    }
    if u == Epoch {
        let epoch = (UNIX_EPOCH_JDATE - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
        return Ok(Part::Scaled(ts - epoch, 6));
    }
    let local = ts + zone_secs.unwrap_or(0) * USECS_PER_SEC;
    let tm = to_tm(local)?;
    let sec_us = i64::from(tm.sec) * USECS_PER_SEC + tm.fsec;
    let jd = date2j(tm.year, tm.mon, tm.mday);
    Ok(match u {
        Microsec => Part::Int(sec_us),
        Millisec => Part::Scaled(sec_us, 3),
        Second => Part::Scaled(sec_us, 6),
        Minute => Part::Int(i64::from(tm.min)),
        Hour => Part::Int(i64::from(tm.hour)),
        Day => Part::Int(i64::from(tm.mday)),
        Month => Part::Int(i64::from(tm.mon)),
        Quarter => Part::Int(i64::from((tm.mon - 1) / 3 + 1)),
        Week => Part::Int(i64::from(date2isoweek(tm.year, tm.mon, tm.mday))),
        Year | Decade | Century | Millennium => Part::Int(year_field(u, tm.year)),
        Julian => {
            let time_us = ((i64::from(tm.hour) * 60 + i64::from(tm.min)) * 60 + i64::from(tm.sec))
                * USECS_PER_SEC
                + tm.fsec;
            let frac = super::numeric_arith(
                super::NumericOp::Div,
                &Numeric::from(time_us),
                &Numeric::from(SECS_PER_DAY * USECS_PER_SEC),
            )?;
            Part::Num(super::numeric_arith(
                super::NumericOp::Add,
                &Numeric::from(jd),
                &frac,
            )?)
        }
        Isoyear => {
            let y = date2isoyear(tm.year, tm.mon, tm.mday);
            Part::Int(i64::from(if y <= 0 { y - 1 } else { y }))
        }
        Dow | Isodow => {
            let d = j2day(jd);
            Part::Int(i64::from(if u == Isodow && d == 0 { 7 } else { d }))
        }
        Doy => Part::Int(jd - date2j(tm.year, 1, 1) + 1),
        Tz if zone_secs.is_some() => Part::Int(zone_secs.unwrap_or(0)),
        TzMinute if zone_secs.is_some() => Part::Int((zone_secs.unwrap_or(0) / 60) % 60),
        TzHour if zone_secs.is_some() => Part::Int(zone_secs.unwrap_or(0) / 3600),
        _ => return Err(not_supported(&low, type_name)),
    })
}

/// `extract_date`.
fn part_date(units: &str, date: i32) -> Result<Part, SqlError> {
    let (low, u) = unit(units, "date", true)?;
    use Unit::*;
    if date == i32::MIN || date == i32::MAX {
        return Ok(match u {
            Day | Month | Quarter | Week | Dow | Isodow | Doy => Part::Null,
            Year | Decade | Century | Millennium | Julian | Isoyear | Epoch => {
                Part::Inf(date == i32::MIN)
            }
            _ => return Err(not_supported(&low, "date")),
        });
    }
    let jd = i64::from(date) + POSTGRES_EPOCH_JDATE;
    let (year, mon, mday) = j2date(jd);
    let year = year as i32;
    Ok(Part::Int(match u {
        Day => i64::from(mday),
        Month => i64::from(mon),
        Quarter => i64::from((mon - 1) / 3 + 1),
        Week => i64::from(date2isoweek(year, mon, mday)),
        Year | Decade | Century | Millennium => year_field(u, year),
        Julian => jd,
        Isoyear => {
            let y = date2isoyear(year, mon, mday);
            i64::from(if y <= 0 { y - 1 } else { y })
        }
        Dow | Isodow => {
            let d = j2day(jd);
            i64::from(if u == Isodow && d == 0 { 7 } else { d })
        }
        Doy => jd - date2j(year, 1, 1) + 1,
        Epoch => (jd - UNIX_EPOCH_JDATE) * SECS_PER_DAY,
        _ => return Err(not_supported(&low, "date")),
    }))
}

/// `interval_part_common`; `float` selects `date_part`'s float8 epoch.
fn part_interval(units: &str, v: (i32, i32, i64), float: bool) -> Result<Datum, SqlError> {
    let (low, u) = unit(units, "interval", true)?;
    let [y, mo, d, h, mi, s, us] = itm(v.0, v.1, v.2);
    use Unit::*;
    let part = match u {
        Microsec => Part::Int(s * USECS_PER_SEC + us),
        Millisec => Part::Scaled(s * USECS_PER_SEC + us, 3),
        Second => Part::Scaled(s * USECS_PER_SEC + us, 6),
        Minute => Part::Int(mi),
        Hour => Part::Int(h),
        Day => Part::Int(d),
        Month => Part::Int(mo),
        Quarter => Part::Int(mo / 3 + 1),
        Year => Part::Int(y),
        Decade => Part::Int(y / 10),
        Century => Part::Int(y / 100),
        Millennium => Part::Int(y / 1000),
        Epoch => {
            let (months, days, micros) = v;
            if float {
                let mut r = micros as f64 / 1_000_000.0;
                r += (365.25 * SECS_PER_DAY as f64) * f64::from(months / MONTHS_PER_YEAR);
                r += (f64::from(DAYS_PER_MONTH) * SECS_PER_DAY as f64)
                    * f64::from(months % MONTHS_PER_YEAR);
                r += SECS_PER_DAY as f64 * f64::from(days);
                return Ok(Datum::Float8(r));
            }
            let secs = (1461 * i64::from(months / MONTHS_PER_YEAR)
                + 120 * i64::from(months % MONTHS_PER_YEAR)
                + 4 * i64::from(days))
                * (SECS_PER_DAY / 4);
            match secs
                .checked_mul(USECS_PER_SEC)
                .and_then(|x| x.checked_add(micros))
            {
                Some(x) => Part::Scaled(x, 6),
                None => Part::Num(super::numeric_arith(
                    super::NumericOp::Add,
                    &scaled(micros, 6),
                    &Numeric::from(secs),
                )?),
            }
        }
        OtherReserved => return Err(not_supported(&low, "interval")),
        _ => return Err(not_supported(&low, "interval")),
    };
    Ok(if float {
        float_part(part)
    } else {
        part.numeric()
    })
}

/// `date_part`'s float8 from a field.
fn float_part(p: Part) -> Datum {
    match p {
        Part::Int(v) => Datum::Float8(v as f64),
        Part::Scaled(v, k) => {
            // tm_sec * 1000.0 + fsec / 1000.0 and friends, as PostgreSQL
            // computes them in floating point.
            let (sec, us) = (v.div_euclid(USECS_PER_SEC), v.rem_euclid(USECS_PER_SEC));
            Datum::Float8(if k == 3 {
                sec as f64 * 1000.0 + us as f64 / 1000.0
            } else {
                sec as f64 + us as f64 / 1_000_000.0
            })
        }
        Part::Num(n) => Datum::Float8(n.to_string().parse().unwrap_or(f64::NAN)),
        Part::Inf(neg) => Datum::Float8(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        Part::Null => Datum::Null,
    }
}

/// `timestamp_pl_interval` on local time.
fn add_interval(ts: i64, months: i32, days: i32, micros: i64) -> Result<i64, SqlError> {
    if !is_finite_ts(ts) {
        return Ok(ts);
    }
    let mut ts = ts;
    if months != 0 {
        let mut tm = to_tm(ts)?;
        let mut mon = i64::from(tm.mon) + i64::from(months);
        let mut year = i64::from(tm.year);
        if mon > 12 {
            year += (mon - 1) / 12;
            mon = (mon - 1) % 12 + 1;
        } else if mon < 1 {
            year += mon / 12 - 1;
            mon = mon % 12 + 12;
        }
        tm.year = i32::try_from(year).map_err(|_| ts_range())?;
        tm.mon = mon as i32;
        if !is_valid_julian(tm.year, tm.mon) {
            return Err(ts_range());
        }
        tm.mday = tm.mday.min(days_in_month(tm.year, tm.mon));
        ts = from_tm(&tm)?;
    }
    if days != 0 {
        let mut tm = to_tm(ts)?;
        let jd = date2j(tm.year, tm.mon, tm.mday) + i64::from(days);
        let (y, m, d) = j2date(jd);
        tm.year = i32::try_from(y).map_err(|_| ts_range())?;
        tm.mon = m;
        tm.mday = d;
        ts = from_tm(&tm)?;
    }
    let r = ts.checked_add(micros).ok_or_else(ts_range)?;
    if !is_valid_ts(r) {
        return Err(ts_range());
    }
    Ok(r)
}

/// `interval_um`: `-interval`, 22008 when a field is at its minimum.
pub fn negate_interval(months: i32, days: i32, micros: i64) -> Result<Datum, SqlError> {
    Ok(interval(
        months.checked_neg().ok_or_else(iv_range)?,
        days.checked_neg().ok_or_else(iv_range)?,
        micros.checked_neg().ok_or_else(iv_range)?,
    ))
}

fn justify_hours(months: i32, days: i32, micros: i64) -> Result<(i32, i32, i64), SqlError> {
    let whole = micros / USECS_PER_DAY;
    let mut time = micros - whole * USECS_PER_DAY;
    let mut day = i32::try_from(i64::from(days) + whole).map_err(|_| iv_range())?;
    if day > 0 && time < 0 {
        time += USECS_PER_DAY;
        day -= 1;
    } else if day < 0 && time > 0 {
        time -= USECS_PER_DAY;
        day += 1;
    }
    Ok((months, day, time))
}

fn justify_days(months: i32, days: i32, micros: i64) -> Result<(i32, i32, i64), SqlError> {
    let whole = days / DAYS_PER_MONTH;
    let mut day = days - whole * DAYS_PER_MONTH;
    let mut month = months.checked_add(whole).ok_or_else(iv_range)?;
    if month > 0 && day < 0 {
        day += DAYS_PER_MONTH;
        month -= 1;
    } else if month < 0 && day > 0 {
        day -= DAYS_PER_MONTH;
        month += 1;
    }
    Ok((month, day, micros))
}

fn justify_interval(months: i32, days: i32, micros: i64) -> Result<(i32, i32, i64), SqlError> {
    let (mut month, mut day, mut time) = (months, days, micros);
    if (day > 0 && time > 0) || (day < 0 && time < 0) {
        let whole = day / DAYS_PER_MONTH;
        day -= whole * DAYS_PER_MONTH;
        month = month.checked_add(whole).ok_or_else(iv_range)?;
    }
    let whole = time / USECS_PER_DAY;
    time -= whole * USECS_PER_DAY;
    day = i32::try_from(i64::from(day) + whole).map_err(|_| iv_range())?;
    let whole = day / DAYS_PER_MONTH;
    day -= whole * DAYS_PER_MONTH;
    month = month.checked_add(whole).ok_or_else(iv_range)?;
    if month > 0 && (day < 0 || (day == 0 && time < 0)) {
        day += DAYS_PER_MONTH;
        month -= 1;
    } else if month < 0 && (day > 0 || (day == 0 && time > 0)) {
        day -= DAYS_PER_MONTH;
        month += 1;
    }
    if day > 0 && time < 0 {
        time += USECS_PER_DAY;
        day -= 1;
    } else if day < 0 && time > 0 {
        time -= USECS_PER_DAY;
        day += 1;
    }
    Ok((month, day, time))
}

/// `TSROUND`: rounds to microsecond precision in seconds.
fn tsround(v: f64) -> f64 {
    (v * 1_000_000.0).round_ties_even() / 1_000_000.0
}

fn fits_i32(v: f64) -> bool {
    !v.is_nan() && v >= f64::from(i32::MIN) && v < -f64::from(i32::MIN)
}

fn fits_i64(v: f64) -> bool {
    !v.is_nan() && v >= i64::MIN as f64 && v < -(i64::MIN as f64)
}

/// `interval_mul`.
fn interval_mul(months: i32, days: i32, micros: i64, factor: f64) -> Result<Datum, SqlError> {
    let m = f64::from(months) * factor;
    if !fits_i32(m) {
        return Err(iv_range());
    }
    let r_month = m as i32;
    let d = f64::from(days) * factor;
    if !fits_i32(d) {
        return Err(iv_range());
    }
    let mut r_day = d as i32;
    let month_remainder_days =
        tsround((f64::from(months) * factor - f64::from(r_month)) * f64::from(DAYS_PER_MONTH));
    let mut sec_remainder = tsround(
        (f64::from(days) * factor - f64::from(r_day) + month_remainder_days
            - f64::from(month_remainder_days as i32))
            * SECS_PER_DAY as f64,
    );
    if sec_remainder.abs() >= SECS_PER_DAY as f64 {
        let whole = (sec_remainder / SECS_PER_DAY as f64) as i32;
        r_day = r_day.checked_add(whole).ok_or_else(iv_range)?;
        sec_remainder -= f64::from(whole) * SECS_PER_DAY as f64;
    }
    r_day = r_day
        .checked_add(month_remainder_days as i32)
        .ok_or_else(iv_range)?;
    let t = (micros as f64 * factor + sec_remainder * USECS_PER_SEC as f64).round_ties_even();
    if !fits_i64(t) {
        return Err(iv_range());
    }
    Ok(interval(r_month, r_day, t as i64))
}

/// `interval_div`.
fn interval_div(months: i32, days: i32, micros: i64, factor: f64) -> Result<Datum, SqlError> {
    if factor == 0.0 {
        return Err(division_by_zero());
    }
    let r_month = (f64::from(months) / factor) as i32;
    let mut r_day = (f64::from(days) / factor) as i32;
    let month_remainder_days =
        tsround((f64::from(months) / factor - f64::from(r_month)) * f64::from(DAYS_PER_MONTH));
    let mut sec_remainder = tsround(
        (f64::from(days) / factor - f64::from(r_day) + month_remainder_days
            - f64::from(month_remainder_days as i32))
            * SECS_PER_DAY as f64,
    );
    if sec_remainder.abs() >= SECS_PER_DAY as f64 {
        let whole = (sec_remainder / SECS_PER_DAY as f64) as i32;
        r_day = r_day.wrapping_add(whole);
        sec_remainder -= f64::from(whole) * SECS_PER_DAY as f64;
    }
    r_day = r_day.wrapping_add(month_remainder_days as i32);
    let t = (micros as f64 / factor + sec_remainder * USECS_PER_SEC as f64).round_ties_even();
    Ok(interval(r_month, r_day, t as i64))
}

/// `timestamp_age` on two local times.
fn age(dt1: i64, dt2: i64) -> Result<Datum, SqlError> {
    if !is_finite_ts(dt1) || !is_finite_ts(dt2) {
        return Err(dt_err("cannot subtract infinite timestamps"));
    }
    let (tm1, tm2) = (to_tm(dt1)?, to_tm(dt2)?);
    let mut fsec = tm1.fsec - tm2.fsec;
    let mut sec = tm1.sec - tm2.sec;
    let mut min = tm1.min - tm2.min;
    let mut hour = tm1.hour - tm2.hour;
    let mut mday = tm1.mday - tm2.mday;
    let mut mon = tm1.mon - tm2.mon;
    let mut year = tm1.year - tm2.year;
    let flip = dt1 < dt2;
    if flip {
        fsec = -fsec;
        sec = -sec;
        min = -min;
        hour = -hour;
        mday = -mday;
        mon = -mon;
        year = -year;
    }
    while fsec < 0 {
        fsec += USECS_PER_SEC;
        sec -= 1;
    }
    while sec < 0 {
        sec += 60;
        min -= 1;
    }
    while min < 0 {
        min += 60;
        hour -= 1;
    }
    while hour < 0 {
        hour += 24;
        mday -= 1;
    }
    while mday < 0 {
        let tm = if flip { tm1 } else { tm2 };
        mday += days_in_month(tm.year, tm.mon);
        mon -= 1;
    }
    while mon < 0 {
        mon += MONTHS_PER_YEAR;
        year -= 1;
    }
    if flip {
        fsec = -fsec;
        sec = -sec;
        min = -min;
        hour = -hour;
        mday = -mday;
        mon = -mon;
        year = -year;
    }
    let months = year
        .checked_mul(MONTHS_PER_YEAR)
        .and_then(|m| m.checked_add(mon))
        .ok_or_else(iv_range)?;
    let micros =
        ((i64::from(hour) * 60 + i64::from(min)) * 60 + i64::from(sec)) * USECS_PER_SEC + fsec;
    Ok(interval(months, mday, micros))
}

/// C's `%g` for the messages of `make_timestamp` and `to_timestamp`,
/// zero-padded to `width`.
fn format_g(v: f64, width: usize) -> String {
    let s = if v.is_nan() {
        "nan".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        pgtext::float::format_g(v, 6)
    };
    if s.len() >= width || !v.is_finite() {
        return s;
    }
    match s.strip_prefix('-') {
        Some(rest) => format!("-{}{rest}", "0".repeat(width - s.len())),
        None => format!("{}{s}", "0".repeat(width - s.len())),
    }
}

/// `make_timestamp_internal`: a local timestamp from fields.
fn make_timestamp(a: &[i32; 5], sec: f64) -> Result<i64, SqlError> {
    let [year, mon, mday, hour, min] = *a;
    let fields = || format!("{year}-{mon:02}-{mday:02}");
    if year <= 0
        || !(1..=12).contains(&mon)
        || !(1..=31).contains(&mday)
        || mday > days_in_month(year, mon)
    {
        return Err(dt_err(format!(
            "date field value out of range: {}",
            fields()
        )));
    }
    if !is_valid_julian(year, mon) {
        return Err(dt_err(format!("date out of range: {}", fields())));
    }
    let date = date2j(year, mon, mday) - POSTGRES_EPOCH_JDATE;
    let time_overflows = {
        let s = (sec * USECS_PER_SEC as f64).round_ties_even();
        !(0..=24).contains(&hour)
            || !(0..60).contains(&min)
            || sec.is_nan()
            || s < 0.0
            || s > (60 * USECS_PER_SEC) as f64
            || ((i64::from(hour) * 60 + i64::from(min)) * 60) * USECS_PER_SEC + s as i64
                > USECS_PER_DAY
    };
    if time_overflows {
        return Err(dt_err(format!(
            "time field value out of range: {hour}:{min:02}:{}",
            format_g(sec, 2)
        )));
    }
    let time = ((i64::from(hour) * 60 + i64::from(min)) * 60) * USECS_PER_SEC
        + (sec * USECS_PER_SEC as f64).round_ties_even() as i64;
    let result = date * USECS_PER_DAY + time;
    let out_of_range = || {
        dt_err(format!(
            "timestamp out of range: {}-{:02}-{:02} {}:{:02}:{}",
            year,
            mon,
            mday,
            hour,
            min,
            format_g(sec, 2)
        ))
    };
    if (result < 0 && date > 0) || (result > 0 && date < -1) || !is_valid_ts(result) {
        return Err(out_of_range());
    }
    Ok(result)
}

/// `make_date`.
fn make_date(year: i32, mon: i32, mday: i32) -> Result<Datum, SqlError> {
    let bc = year < 0;
    let mut y = if bc { -year } else { year };
    let mut ok = y > 0;
    if ok && bc {
        y = -(y - 1);
    }
    ok = ok && (1..=12).contains(&mon) && (1..=31).contains(&mday) && mday <= days_in_month(y, mon);
    let fields = format!("{y}-{mon:02}-{mday:02}");
    if !ok {
        return Err(dt_err(format!("date field value out of range: {fields}")));
    }
    if !is_valid_julian(y, mon) {
        return Err(dt_err(format!("date out of range: {fields}")));
    }
    let date = date2j(y, mon, mday) - POSTGRES_EPOCH_JDATE;
    if !is_valid_date(date) {
        return Err(dt_err(format!("date out of range: {fields}")));
    }
    Ok(Datum::Date(date as i32))
}

/// `float8_timestamptz` (`to_timestamp(double precision)`).
fn to_timestamp(seconds: f64) -> Result<Datum, SqlError> {
    if seconds.is_nan() {
        return Err(dt_err("timestamp cannot be NaN"));
    }
    if seconds.is_infinite() {
        return Ok(Datum::TimestampTz(if seconds < 0.0 {
            i64::MIN
        } else {
            i64::MAX
        }));
    }
    let lo = (SECS_PER_DAY * -UNIX_EPOCH_JDATE) as f64;
    let hi = (SECS_PER_DAY * (TIMESTAMP_END_JULIAN - UNIX_EPOCH_JDATE)) as f64;
    let err = || {
        dt_err(format!(
            "timestamp out of range: \"{}\"",
            format_g(seconds, 0)
        ))
    };
    if seconds < lo || seconds >= hi {
        return Err(err());
    }
    let s = seconds - ((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY) as f64;
    let us = (s * USECS_PER_SEC as f64).round_ties_even() as i64;
    if !is_valid_ts(us) {
        return Err(err());
    }
    Ok(Datum::TimestampTz(us))
}

/// `timestamp_bin`.
fn date_bin(stride: (i32, i32, i64), ts: i64, origin: i64) -> Result<i64, SqlError> {
    if !is_finite_ts(ts) {
        return Ok(ts);
    }
    if !is_finite_ts(origin) {
        return Err(dt_err("origin out of range"));
    }
    if stride.0 != 0 {
        return Err(SqlError::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "timestamps cannot be binned into intervals containing months or years",
        ));
    }
    let stride_us = i64::from(stride.1)
        .checked_mul(USECS_PER_DAY)
        .and_then(|d| d.checked_add(stride.2))
        .ok_or_else(iv_range)?;
    if stride_us <= 0 {
        return Err(dt_err("stride must be greater than zero"));
    }
    let diff = ts.checked_sub(origin).ok_or_else(iv_range)?;
    let mut delta = diff - diff % stride_us;
    if origin > ts && stride_us > 1 && diff % stride_us != 0 {
        delta -= stride_us;
    }
    let r = origin.checked_add(delta).ok_or_else(ts_range)?;
    if !is_valid_ts(r) {
        return Err(ts_range());
    }
    Ok(r)
}

/// The current date in the session zone.
fn current_date(ctx: &EvalCtx<'_>) -> Result<i32, SqlError> {
    pgtext::timestamptz_to_date(ctx.now, ctx.text.time_zone).map_err(type_err)
}

fn clock_now() -> i64 {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    since_unix - (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY
}

fn date_plus_days(date: i32, days: i64) -> Result<Datum, SqlError> {
    if date == i32::MIN || date == i32::MAX {
        return Ok(Datum::Date(date));
    }
    let r = i64::from(date) + days;
    if !is_valid_date(r) {
        return Err(date_range());
    }
    Ok(Datum::Date(r as i32))
}

/// `date_trunc(units, ts)` for a `timestamp` ([`B::DateTruncTs`]) or
/// `timestamptz` ([`B::DateTruncTz`], truncated in the session's zone);
/// NULL for a NULL `ts`. Its own entry point so that a query truncating
/// every row by a literal unit passes the unit by reference instead of
/// building an argument list per row.
pub(super) fn date_trunc(
    f: B,
    units: &str,
    ts: &Datum,
    ctx: &EvalCtx<'_>,
) -> Result<Datum, SqlError> {
    let t = match ts {
        Datum::Null => return Ok(Datum::Null),
        Datum::Timestamp(v) | Datum::TimestampTz(v) => *v,
        other => return Err(bad_args(f, std::slice::from_ref(other))),
    };
    match f {
        B::DateTruncTs => Ok(Datum::Timestamp(trunc_ts(units, t, TS_NAME)?)),
        B::DateTruncTz => {
            let r = trunc_ts(units, local(t, ctx), TZ_NAME)?;
            Ok(Datum::TimestampTz(if is_finite_ts(r) {
                utc(r, ctx)?
            } else {
                r
            }))
        }
        _ => Err(bad_args(f, std::slice::from_ref(ts))),
    }
}

pub(super) fn call(f: B, args: &[Datum], ctx: &EvalCtx<'_>) -> Result<Datum, SqlError> {
    let bad = || bad_args(f, args);
    let text = |i: usize| match args.get(i) {
        Some(Datum::Text(s)) => Ok(s.as_str()),
        _ => Err(bad()),
    };
    let ts = |i: usize| match args.get(i) {
        Some(Datum::Timestamp(v) | Datum::TimestampTz(v)) => Ok(*v),
        _ => Err(bad()),
    };
    let date = |i: usize| match args.get(i) {
        Some(Datum::Date(v)) => Ok(*v),
        _ => Err(bad()),
    };
    let iv = |i: usize| match args.get(i) {
        Some(Datum::Interval {
            months,
            days,
            micros,
        }) => Ok((*months, *days, *micros)),
        _ => Err(bad()),
    };
    let int = |i: usize| match args.get(i) {
        Some(Datum::Int4(v)) => Ok(*v),
        _ => Err(bad()),
    };
    let f8 = |i: usize| match args.get(i) {
        Some(Datum::Float8(v)) => Ok(*v),
        _ => Err(bad()),
    };
    let zone_secs = |ts: i64| i64::from(ctx.text.time_zone.utc_offset_secs_at(ts));
    let date_ts = |d: i32| pgtext::date_to_timestamp(d).map_err(type_err);
    match f {
        B::DateTruncTs | B::DateTruncTz => {
            date_trunc(f, text(0)?, args.get(1).ok_or_else(bad)?, ctx)
        }
        B::DateTruncInterval => trunc_interval(text(0)?, iv(1)?),
        B::DateTruncTzZone => {
            let zone = zone_argument(text(2)?)?;
            let r = trunc_ts(text(0)?, local_in(ts(1)?, zone), TZ_NAME)?;
            Ok(Datum::TimestampTz(if is_finite_ts(r) {
                utc_in(r, zone)?
            } else {
                r
            }))
        }
        B::TimezoneTs => timestamp_at_zone(ts(1)?, zone_argument(text(0)?)?),
        B::TimezoneTz => timestamptz_at_zone(ts(1)?, zone_argument(text(0)?)?),
        B::TimezoneIntervalTs => {
            let (m, d, t) = iv(0)?;
            timestamp_at_zone(ts(1)?, interval_zone(m, d, t)?)
        }
        B::TimezoneIntervalTz => {
            let (m, d, t) = iv(0)?;
            timestamptz_at_zone(ts(1)?, interval_zone(m, d, t)?)
        }
        B::DatePartTs => {
            let t = match args.get(1) {
                Some(Datum::Date(d)) => date_ts(*d)?,
                _ => ts(1)?,
            };
            Ok(float_part(part_ts(text(0)?, t, None, TS_NAME)?))
        }
        B::DatePartTz => Ok(float_part(part_ts(
            text(0)?,
            ts(1)?,
            Some(zone_secs(ts(1)?)),
            TZ_NAME,
        )?)),
        B::DatePartInterval => part_interval(text(0)?, iv(1)?, true),
        B::ExtractDate => Ok(part_date(text(0)?, date(1)?)?.numeric()),
        B::ExtractTs => Ok(part_ts(text(0)?, ts(1)?, None, TS_NAME)?.numeric()),
        B::ExtractTz => Ok(part_ts(text(0)?, ts(1)?, Some(zone_secs(ts(1)?)), TZ_NAME)?.numeric()),
        B::ExtractInterval => part_interval(text(0)?, iv(1)?, false),
        B::AgeTs => age(ts(0)?, ts(1)?),
        B::AgeTz => age(local(ts(0)?, ctx), local(ts(1)?, ctx)),
        B::AgeTsNow => age(date_ts(current_date(ctx)?)?, ts(0)?),
        B::AgeTzNow => age(date_ts(current_date(ctx)?)?, local(ts(0)?, ctx)),
        B::MakeDate => make_date(int(0)?, int(1)?, int(2)?),
        B::MakeTimestamp => Ok(Datum::Timestamp(make_timestamp(
            &[int(0)?, int(1)?, int(2)?, int(3)?, int(4)?],
            f8(5)?,
        )?)),
        B::MakeTimestampTz => {
            let local_ts = make_timestamp(&[int(0)?, int(1)?, int(2)?, int(3)?, int(4)?], f8(5)?)?;
            Ok(Datum::TimestampTz(utc(local_ts, ctx)?))
        }
        B::MakeInterval => {
            let n = args.len();
            let i = |k: usize| if k < n { int(k) } else { Ok(0) };
            let secs = if n > 6 { f8(6)? } else { 0.0 };
            if secs.is_nan() || secs.is_infinite() {
                return Err(iv_range());
            }
            let months = i(0)?.wrapping_mul(12).wrapping_add(i(1)?);
            let days = i(2)?.wrapping_mul(7).wrapping_add(i(3)?);
            let micros = i64::from(i(4)?)
                .wrapping_mul(USECS_PER_HOUR)
                .wrapping_add(i64::from(i(5)?).wrapping_mul(USECS_PER_MINUTE))
                .wrapping_add((secs * USECS_PER_SEC as f64).round_ties_even() as i64);
            Ok(interval(months, days, micros))
        }
        B::ToTimestamp => to_timestamp(f8(0)?),
        B::DateBinTs => Ok(Datum::Timestamp(date_bin(iv(0)?, ts(1)?, ts(2)?)?)),
        B::DateBinTz => Ok(Datum::TimestampTz(date_bin(iv(0)?, ts(1)?, ts(2)?)?)),
        B::Now => Ok(Datum::TimestampTz(ctx.now)),
        B::ClockTimestamp => Ok(Datum::TimestampTz(clock_now())),
        B::PgSleep => {
            sleep(f8(0)?, ctx)?;
            Ok(Datum::Text(String::new()))
        }
        B::CurrentDate => Ok(Datum::Date(current_date(ctx)?)),
        B::JustifyDays | B::JustifyHours | B::JustifyInterval => {
            let (m, d, t) = iv(0)?;
            let (m, d, t) = match f {
                B::JustifyDays => justify_days(m, d, t)?,
                B::JustifyHours => justify_hours(m, d, t)?,
                _ => justify_interval(m, d, t)?,
            };
            Ok(interval(m, d, t))
        }
        B::DatePlusInt => date_plus_days(date(0)?, i64::from(int(1)?)),
        B::IntPlusDate => date_plus_days(date(1)?, i64::from(int(0)?)),
        B::DateMinusInt => date_plus_days(date(0)?, -i64::from(int(1)?)),
        B::DateMinusDate => {
            let (a, b) = (date(0)?, date(1)?);
            if [a, b].iter().any(|d| *d == i32::MIN || *d == i32::MAX) {
                return Err(dt_err("cannot subtract infinite dates"));
            }
            Ok(Datum::Int4(a - b))
        }
        B::DatePlusInterval | B::IntervalPlusDate | B::DateMinusInterval => {
            let (d, (m, dd, t)) = if f == B::IntervalPlusDate {
                (date(1)?, iv(0)?)
            } else {
                (date(0)?, iv(1)?)
            };
            let t0 = date_ts(d)?;
            let r = if f == B::DateMinusInterval {
                let Datum::Interval {
                    months,
                    days,
                    micros,
                } = negate_interval(m, dd, t)?
                else {
                    unreachable!("negate_interval returns an interval")
                };
                add_interval(t0, months, days, micros)?
            } else {
                add_interval(t0, m, dd, t)?
            };
            Ok(Datum::Timestamp(r))
        }
        B::TsPlusInterval | B::IntervalPlusTs | B::TsMinusInterval => {
            let (t0, (m, d, t)) = if f == B::IntervalPlusTs {
                (ts(1)?, iv(0)?)
            } else {
                (ts(0)?, iv(1)?)
            };
            let (m, d, t) = if f == B::TsMinusInterval {
                (
                    m.checked_neg().ok_or_else(iv_range)?,
                    d.checked_neg().ok_or_else(iv_range)?,
                    t.checked_neg().ok_or_else(iv_range)?,
                )
            } else {
                (m, d, t)
            };
            Ok(Datum::Timestamp(add_interval(t0, m, d, t)?))
        }
        B::TzPlusInterval | B::IntervalPlusTz | B::TzMinusInterval => {
            let (t0, (m, d, t)) = if f == B::IntervalPlusTz {
                (ts(1)?, iv(0)?)
            } else {
                (ts(0)?, iv(1)?)
            };
            let (m, d, t) = if f == B::TzMinusInterval {
                (
                    m.checked_neg().ok_or_else(iv_range)?,
                    d.checked_neg().ok_or_else(iv_range)?,
                    t.checked_neg().ok_or_else(iv_range)?,
                )
            } else {
                (m, d, t)
            };
            if !is_finite_ts(t0) {
                return Ok(Datum::TimestampTz(t0));
            }
            // Months and days in local time; the time part is absolute.
            let shifted = add_interval(local(t0, ctx), m, d, 0)?;
            let r = utc(shifted, ctx)?.checked_add(t).ok_or_else(ts_range)?;
            if !is_valid_ts(r) {
                return Err(ts_range());
            }
            Ok(Datum::TimestampTz(r))
        }
        B::TsMinusTs => {
            let (a, b) = (ts(0)?, ts(1)?);
            if !is_finite_ts(a) || !is_finite_ts(b) {
                return Err(dt_err("cannot subtract infinite timestamps"));
            }
            let t = a.checked_sub(b).ok_or_else(iv_range)?;
            let (m, d, t) = justify_hours(0, 0, t)?;
            Ok(interval(m, d, t))
        }
        B::IntervalPlus | B::IntervalMinus => {
            let (a, b) = (iv(0)?, iv(1)?);
            let r = if f == B::IntervalPlus {
                (
                    a.0.checked_add(b.0),
                    a.1.checked_add(b.1),
                    a.2.checked_add(b.2),
                )
            } else {
                (
                    a.0.checked_sub(b.0),
                    a.1.checked_sub(b.1),
                    a.2.checked_sub(b.2),
                )
            };
            match r {
                (Some(m), Some(d), Some(t)) => Ok(interval(m, d, t)),
                _ => Err(iv_range()),
            }
        }
        B::IntervalMul => {
            let (m, d, t) = iv(0)?;
            interval_mul(m, d, t, f8(1)?)
        }
        B::MulInterval => {
            let (m, d, t) = iv(1)?;
            interval_mul(m, d, t, f8(0)?)
        }
        B::IntervalDiv => {
            let (m, d, t) = iv(0)?;
            interval_div(m, d, t, f8(1)?)
        }
        B::IntervalNeg => {
            let (m, d, t) = iv(0)?;
            negate_interval(m, d, t)
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Truncating to a day or a part of one by arithmetic answers what
        /// the calendar fields do, before 2000 and after, to the edges of
        /// the timestamp range.
        #[test]
        fn fixed_units_truncate_as_the_calendar_does(
            ts in MIN_TIMESTAMP..END_TIMESTAMP,
            u in proptest::sample::select(vec![
                "day", "hour", "minute", "second", "milliseconds", "microseconds",
            ]),
        ) {
            let (low, unit) = unit(u, TS_NAME, false).unwrap();
            proptest::prop_assert_eq!(
                trunc_ts(u, ts, TS_NAME).ok(),
                trunc_fields(&low, unit, ts, TS_NAME).ok()
            );
        }
    }
}

//! Time windows: UTC instants in whole seconds, the export period, and the
//! `[start, end)` windows aligned to it.
//!
//! Windows are aligned to multiples of the period counted from the Unix
//! epoch, so with a period that divides a day (the only periods accepted)
//! every window starts on a UTC boundary of its own size: hourly windows
//! start on the hour, 15-minute windows on :00, :15, :30 and :45, daily
//! windows at midnight UTC. The calendar arithmetic is Howard Hinnant's
//! `days_from_civil` and `civil_from_days` (proleptic Gregorian), so no
//! date library is needed and years before 1970 work too.

use std::fmt;
use std::time::{Duration, SystemTime};

/// Seconds in a day: the longest period, and what every period divides.
pub const SECONDS_PER_DAY: u32 = 86_400;

/// Earliest and latest instants accepted (0001-01-01 and 9999-12-31
/// 23:59:59 UTC): PostgreSQL's text format has four-digit years here.
const UNIX_TIME_MIN: i64 = -62_135_596_800;
const UNIX_TIME_MAX: i64 = 253_402_300_799;

/// An instant in UTC, in whole seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

/// Why a timestamp or period given on the command line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeError {
    /// The text is not a timestamp this parser reads.
    #[error(
        "invalid timestamp {0:?}: expected YYYY-MM-DD, optionally followed by \
         [T| ]HH:MM[:SS[.fraction]] and Z or a +HH[:MM] offset"
    )]
    Timestamp(String),
    /// Outside years 1 to 9999.
    #[error("timestamp {0:?} is outside years 0001 to 9999")]
    OutOfRange(String),
    /// Not a whole number of seconds, zero, or does not divide a day.
    #[error(
        "invalid period {0:?}: it must be a whole number of seconds that divides 24h \
         (1s to 24h, e.g. 15m, 1h, 6h, 24h) so windows align to UTC"
    )]
    Period(String),
}

impl UnixTime {
    /// The current time, truncated to the second.
    pub fn now() -> UnixTime {
        let since = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("the clock is after 1970");
        UnixTime(i64::try_from(since.as_secs()).expect("seconds since 1970 fit an i64"))
    }

    /// Parses `2024-01-01`, `2024-01-01T05:00:00Z`, `2024-01-01 05:00`,
    /// `2024-01-01T05:00:00.5+02:00` and the like. Without an offset the
    /// time is UTC. Fractions of a second are dropped (rounded down).
    pub fn parse(text: &str) -> Result<UnixTime, TimeError> {
        let bad = || TimeError::Timestamp(text.to_owned());
        let s = text.trim();
        if !s.is_ascii() {
            return Err(bad());
        }
        let (date, rest) = s.split_at(s.len().min(10));
        let d: Vec<&str> = date.split('-').collect();
        let [y, m, day] = d.as_slice() else {
            return Err(bad());
        };
        if y.len() != 4 || m.len() != 2 || day.len() != 2 {
            return Err(bad());
        }
        let (y, m, day) = (digits(y).ok_or_else(bad)?, digits(m).ok_or_else(bad)?, {
            digits(day).ok_or_else(bad)?
        });
        if !(1..=12).contains(&m) || day < 1 || day > days_in_month(y, m) {
            return Err(bad());
        }
        let mut secs = days_from_civil(y, m, day) * i64::from(SECONDS_PER_DAY);
        let mut rest = rest;
        if let Some(r) = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' ')) {
            // HH:MM[:SS[.frac]]
            let end = r
                .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
                .unwrap_or(r.len());
            let (time, tail) = r.split_at(end);
            let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
            if !frac.bytes().all(|b| b.is_ascii_digit()) || (time.contains('.') && frac.is_empty())
            {
                return Err(bad());
            }
            let parts: Vec<&str> = hms.split(':').collect();
            if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.len() != 2) {
                return Err(bad());
            }
            let h = digits(parts[0]).ok_or_else(bad)?;
            let mi = digits(parts[1]).ok_or_else(bad)?;
            let se = parts
                .get(2)
                .map_or(Some(0), |p| digits(p))
                .ok_or_else(bad)?;
            if h > 23 || mi > 59 || se > 59 || (parts.len() == 2 && !frac.is_empty()) {
                return Err(bad());
            }
            secs += h * 3600 + mi * 60 + se;
            rest = tail;
        }
        match rest {
            "" | "Z" | "z" => {}
            offset => {
                let (sign, o) = match offset.as_bytes().first() {
                    Some(b'+') => (1, &offset[1..]),
                    Some(b'-') => (-1, &offset[1..]),
                    _ => return Err(bad()),
                };
                let (oh, om) = match o.len() {
                    2 => (o, "00"),
                    4 => o.split_at(2),
                    5 if &o[2..3] == ":" => (&o[..2], &o[3..]),
                    _ => return Err(bad()),
                };
                let (oh, om) = (digits(oh).ok_or_else(bad)?, digits(om).ok_or_else(bad)?);
                if oh > 15 || om > 59 {
                    return Err(bad());
                }
                secs -= sign * (oh * 3600 + om * 60);
            }
        }
        if !(UNIX_TIME_MIN..=UNIX_TIME_MAX).contains(&secs) {
            return Err(TimeError::OutOfRange(text.to_owned()));
        }
        Ok(UnixTime(secs))
    }

    /// Year, month, day, hour, minute, second in UTC.
    fn civil(self) -> (i64, i64, i64, i64, i64, i64) {
        let days = self.0.div_euclid(i64::from(SECONDS_PER_DAY));
        let sod = self.0.rem_euclid(i64::from(SECONDS_PER_DAY));
        let (y, m, d) = civil_from_days(days);
        (y, m, d, sod / 3600, sod / 60 % 60, sod % 60)
    }

    /// `20240101T050000Z`: for file names (no colons, sorts by time).
    pub fn compact(self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    }

    /// `2024-01-01 05:00:00`: a `timestamp` literal's text, as UTC.
    pub fn sql_timestamp(self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    }

    /// `2024-01-01 05:00:00+00`: a `timestamptz` literal's text.
    pub fn sql_timestamptz(self) -> String {
        format!("{}+00", self.sql_timestamp())
    }

    /// Seconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn seconds_since(self, earlier: UnixTime) -> i64 {
        self.0 - earlier.0
    }

    /// `self` moved back by `d` (whole seconds; fractions round the result
    /// down, i.e. further back).
    pub fn minus(self, d: Duration) -> UnixTime {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let back = secs.saturating_add(i64::from(d.subsec_nanos() > 0));
        UnixTime(self.0.saturating_sub(back))
    }
}

/// RFC 3339 in UTC: `2024-01-01T05:00:00Z`.
impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = self.civil();
        write!(f, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

/// The length of a window: whole seconds that divide a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    secs: u32,
}

impl Period {
    /// Checks that `d` is whole seconds and divides 24 hours.
    pub fn new(d: Duration) -> Result<Period, TimeError> {
        let bad = || TimeError::Period(humantime::format_duration(d).to_string());
        if d.subsec_nanos() != 0 || d.as_secs() == 0 || d.as_secs() > u64::from(SECONDS_PER_DAY) {
            return Err(bad());
        }
        let secs = u32::try_from(d.as_secs()).expect("at most a day");
        if !SECONDS_PER_DAY.is_multiple_of(secs) {
            return Err(bad());
        }
        Ok(Period { secs })
    }

    /// The period in seconds.
    pub fn seconds(self) -> u32 {
        self.secs
    }

    /// The window holding `t`.
    pub fn window_containing(self, t: UnixTime) -> Window {
        let len = i64::from(self.secs);
        let start = UnixTime(t.0.div_euclid(len) * len);
        Window {
            start,
            end: UnixTime(start.0 + len),
        }
    }

    /// Whether `t` is a window boundary.
    pub fn is_boundary(self, t: UnixTime) -> bool {
        t.0.rem_euclid(i64::from(self.secs)) == 0
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            humantime::format_duration(Duration::from_secs(u64::from(self.secs)))
        )
    }
}

/// One export window, `[start, end)`: a row whose time equals `end`
/// belongs to the next window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    /// First instant inside the window.
    pub start: UnixTime,
    /// First instant after the window.
    pub end: UnixTime,
}

impl Window {
    /// The window right after this one, of the same length.
    pub fn next(self) -> Window {
        assert!(
            self.end > self.start,
            "empty window {}..{}",
            self.start,
            self.end
        );
        Window {
            start: self.end,
            end: UnixTime(self.end.0 + (self.end.0 - self.start.0)),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `z` days after 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_users_type() {
        let t = UnixTime(1_704_085_200); // 2024-01-01T05:00:00Z
        for s in [
            "2024-01-01T05:00:00Z",
            "2024-01-01 05:00:00",
            "2024-01-01T05:00",
            "2024-01-01T05:00:00.999Z",
            "2024-01-01T07:00:00+02:00",
            "2024-01-01T07:00:00+02",
            "2024-01-01T00:30:00-0430",
        ] {
            assert_eq!(UnixTime::parse(s), Ok(t), "{s}");
        }
        assert_eq!(UnixTime::parse("2024-01-01"), Ok(UnixTime(1_704_067_200)));
        assert_eq!(UnixTime::parse("1969-12-31T23:59:59Z"), Ok(UnixTime(-1)));
        for s in [
            "",
            "2024-1-01",
            "2024-02-30",
            "2024-01-01T25:00",
            "2024-01-01T05",
            "2024-01-01T05:00:00.",
            "2024-01-01T05:00:00 UTC",
            "yesterday",
        ] {
            assert!(UnixTime::parse(s).is_err(), "{s:?} parsed");
        }
    }

    #[test]
    fn formats_round_trip_across_leap_years_and_centuries() {
        for days in [-719_162_i64, -1, 0, 11_016, 19_782, 19_783, 2_932_896] {
            let t = UnixTime(days * 86_400 + 3_723);
            let back = UnixTime::parse(&t.to_string()).expect("own output parses");
            assert_eq!(back, t, "{t}");
        }
        let t = UnixTime::parse("2024-02-29T23:59:59Z").unwrap();
        assert_eq!(t.compact(), "20240229T235959Z");
        assert_eq!(t.sql_timestamptz(), "2024-02-29 23:59:59+00");
        assert_eq!(t.sql_timestamp(), "2024-02-29 23:59:59");
    }

    #[test]
    fn periods_divide_a_day_and_windows_align_to_utc() {
        let hour = Period::new(Duration::from_secs(3600)).unwrap();
        let w = hour.window_containing(UnixTime::parse("2024-01-01T05:59:59Z").unwrap());
        assert_eq!(w.start.to_string(), "2024-01-01T05:00:00Z");
        assert_eq!(w.end.to_string(), "2024-01-01T06:00:00Z");
        // A row at exactly `end` is in the next window.
        assert_eq!(hour.window_containing(w.end), w.next());
        let before = hour.window_containing(UnixTime(-1));
        assert_eq!(before.start, UnixTime(-3600));
        for ok in [1, 900, 3600, 7200, 86_400] {
            assert!(Period::new(Duration::from_secs(ok)).is_ok(), "{ok}");
        }
        for bad in [0, 7, 7 * 60, 5 * 3600, 2 * 86_400] {
            assert!(Period::new(Duration::from_secs(bad)).is_err(), "{bad}");
        }
        assert!(Period::new(Duration::from_millis(1500)).is_err());
    }
}

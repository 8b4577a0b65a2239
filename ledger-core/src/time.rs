//! The three time forms of the format (SPEC.md §2, §3), parsed strictly by hand:
//!
//! - [`Timestamp`]: an author's `at`, `YYYY-MM-DDTHH:MM:SS[.fraction]` then `Z` or `±HH:MM`.
//!   The original text is kept as written (it is part of a signed body); comparisons use the
//!   UTC instant from [`Timestamp::unix_nanos`].
//! - [`EntryTime`]: the node's append time, exactly `YYYY-MM-DDTHH:MM:SS.mmmZ`, one spelling per
//!   instant, years 1970 to 9999.
//! - [`Date`]: `YYYY-MM-DD` (deadlines).
//!
//! Calendar arithmetic is the proleptic Gregorian calendar (Howard Hinnant's days-from-civil
//! algorithm, rewritten here). There are no leap seconds: seconds run 00 to 59.

use crate::limits::TIME_FRACTION_DIGITS_MAX;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;

/// Smallest accepted year, in every form.
pub const YEAR_MIN: u32 = 1;
/// Largest accepted year, in every form.
pub const YEAR_MAX: u32 = 9999;
/// First year an [`EntryTime`] may fall in (it is a Unix millisecond count, never negative).
pub const ENTRY_YEAR_MIN: i32 = 1970;
/// Fraction digits of an [`EntryTime`] (milliseconds).
pub const ENTRY_FRACTION_DIGITS: usize = 3;
/// Largest offset hour of a [`Timestamp`] (`±23:59`).
pub const OFFSET_HOURS_MAX: u32 = 23;

const NANOS_PER_SECOND: i128 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
const MS_PER_DAY: i64 = SECONDS_PER_DAY * 1000;
/// Unix milliseconds of `9999-12-31T23:59:59.999Z`, the last representable entry time.
const ENTRY_MS_MAX: i64 = 253_402_300_799_999;

/// What is wrong with a time text. Positions are byte offsets into the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    #[error("expected {expected} at byte {position}")]
    Syntax { position: usize, expected: &'static str },
    #[error("unexpected text after the time, at byte {position}")]
    TrailingText { position: usize },
    #[error("{field} {value} is out of range ({min} to {max})")]
    FieldOutOfRange { field: &'static str, value: u32, min: u32, max: u32 },
    #[error("{year:04}-{month:02}-{day:02} is not a calendar date")]
    NoSuchDate { year: u32, month: u32, day: u32 },
    #[error("a fraction of a second needs 1 to {max} digits, found {digits}", max = TIME_FRACTION_DIGITS_MAX)]
    FractionDigits { digits: usize },
    #[error("an entry time needs exactly {n} fraction digits (milliseconds), found {digits}", n = ENTRY_FRACTION_DIGITS)]
    EntryFractionDigits { digits: usize },
    #[error("an entry time must fall in the years {ENTRY_YEAR_MIN} to {YEAR_MAX}")]
    EntryYearOutOfRange,
}

// ---------------------------------------------------------------------------------------------
// Calendar arithmetic.

/// Whether `year` is a leap year in the proleptic Gregorian calendar.
pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1–12) of `year`; 0 for a month out of range.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to the given civil date (negative before it). Meaningful for a date
/// that exists (`month` 1–12, `day` within the month); total (no overflow) for every input.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let year = i64::from(year);
    // Shift the year to start in March, so the leap day is the last day of the "year".
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0 … February = 11
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count from 1970-01-01 (inverse of
/// [`days_from_civil`]); `None` when the year does not fit an `i32`.
pub fn civil_from_days(days: i64) -> Option<(i32, u32, u32)> {
    let z = days.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    Some((i32::try_from(year).ok()?, u32::try_from(month).ok()?, u32::try_from(day).ok()?))
}

// ---------------------------------------------------------------------------------------------
// A small byte cursor shared by the three parsers.

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { bytes: text.as_bytes(), pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Reads exactly `n` ASCII digits as a number (`n` ≤ 4 here, so no overflow).
    fn number(&mut self, n: usize, expected: &'static str) -> Result<u32, TimeError> {
        let mut value = 0u32;
        for _ in 0..n {
            match self.peek() {
                Some(c @ b'0'..=b'9') => {
                    value = value * 10 + u32::from(c - b'0');
                    self.pos += 1;
                }
                _ => return Err(TimeError::Syntax { position: self.pos, expected }),
            }
        }
        Ok(value)
    }

    fn literal(&mut self, c: u8, expected: &'static str) -> Result<(), TimeError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(TimeError::Syntax { position: self.pos, expected })
        }
    }

    fn end(&self) -> Result<(), TimeError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(TimeError::TrailingText { position: self.pos })
        }
    }

    /// `YYYY-MM-DD`, a real calendar date in years 0001–9999.
    fn date(&mut self) -> Result<(i32, u32, u32), TimeError> {
        let raw_year = self.number(4, "a 4-digit year")?;
        in_range("year", raw_year, YEAR_MIN, YEAR_MAX)?;
        let year = i32::try_from(raw_year).map_err(|_| TimeError::FieldOutOfRange {
            field: "year",
            value: raw_year,
            min: YEAR_MIN,
            max: YEAR_MAX,
        })?;
        self.literal(b'-', "`-` after the year")?;
        let month = self.number(2, "a 2-digit month")?;
        in_range("month", month, 1, 12)?;
        self.literal(b'-', "`-` after the month")?;
        let day = self.number(2, "a 2-digit day")?;
        if day == 0 || day > days_in_month(i64::from(year), month) {
            return Err(TimeError::NoSuchDate { year: raw_year, month, day });
        }
        Ok((year, month, day))
    }

    /// `HH:MM:SS`, seconds 00–59.
    fn clock(&mut self) -> Result<(u32, u32, u32), TimeError> {
        let hour = self.number(2, "a 2-digit hour")?;
        in_range("hour", hour, 0, 23)?;
        self.literal(b':', "`:` after the hour")?;
        let minute = self.number(2, "2-digit minutes")?;
        in_range("minute", minute, 0, 59)?;
        self.literal(b':', "`:` after the minutes")?;
        let second = self.number(2, "2-digit seconds")?;
        in_range("second", second, 0, 59)?;
        Ok((hour, minute, second))
    }

    /// An optional `.digits`: returns (digit count, value scaled to nanoseconds). Counts every
    /// digit present so the error can say how many there were; reads at most 9 into the value.
    fn fraction(&mut self) -> Result<(usize, u32), TimeError> {
        if self.peek() != Some(b'.') {
            return Ok((0, 0));
        }
        self.pos += 1;
        let mut digits = 0usize;
        let mut value = 0u32;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if digits < TIME_FRACTION_DIGITS_MAX {
                value = value * 10 + u32::from(c - b'0');
            }
            digits += 1;
            self.pos += 1;
        }
        if digits == 0 || digits > TIME_FRACTION_DIGITS_MAX {
            return Err(TimeError::FractionDigits { digits });
        }
        for _ in digits..TIME_FRACTION_DIGITS_MAX {
            value *= 10;
        }
        Ok((digits, value))
    }
}

fn in_range(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), TimeError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(TimeError::FieldOutOfRange { field, value, min, max })
    }
}

fn seconds_of(date: (i32, u32, u32), clock: (u32, u32, u32)) -> i64 {
    let (y, mo, d) = date;
    let (h, mi, s) = clock;
    days_from_civil(y, mo, d) * SECONDS_PER_DAY + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)
}

/// Serde support: every type here is a JSON string, parsed strictly.
macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                <$t>::parse(&text).map_err(|e| serde::de::Error::custom(format!("time: {e}")))
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Timestamp.

/// An author's `at`: `YYYY-MM-DDTHH:MM:SS[.fraction]` then `Z` or `±HH:MM`. Keeps the text as
/// written; equality is equality of the text (two spellings of one instant are different
/// timestamps), so compare instants with [`Timestamp::unix_nanos`].
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Timestamp {
    text: String,
    nanos: i128,
}

impl Timestamp {
    pub fn parse(text: &str) -> Result<Timestamp, TimeError> {
        let mut c = Cursor::new(text);
        let date = c.date()?;
        c.literal(b'T', "upper-case `T` between date and time")?;
        let clock = c.clock()?;
        let (_, fraction) = c.fraction()?;
        let offset_seconds: i64 = match c.peek() {
            Some(b'Z') => {
                c.pos += 1;
                0
            }
            Some(sign @ (b'+' | b'-')) => {
                c.pos += 1;
                let hours = c.number(2, "2-digit offset hours")?;
                in_range("offset hour", hours, 0, OFFSET_HOURS_MAX)?;
                c.literal(b':', "`:` in the offset")?;
                let minutes = c.number(2, "2-digit offset minutes")?;
                in_range("offset minute", minutes, 0, 59)?;
                let magnitude = i64::from(hours) * 3600 + i64::from(minutes) * 60;
                if sign == b'-' {
                    -magnitude
                } else {
                    magnitude
                }
            }
            _ => {
                return Err(TimeError::Syntax {
                    position: c.pos,
                    expected: "upper-case `Z` or a `+HH:MM`/`-HH:MM` offset",
                })
            }
        };
        c.end()?;
        // Local time minus its offset is UTC.
        let utc_seconds = seconds_of(date, clock) - offset_seconds;
        let nanos = i128::from(utc_seconds) * NANOS_PER_SECOND + i128::from(fraction);
        Ok(Timestamp { text: text.to_owned(), nanos })
    }

    /// The UTC instant, in nanoseconds since 1970-01-01T00:00:00Z (negative before).
    pub fn unix_nanos(&self) -> i128 {
        self.nanos
    }

    /// The text exactly as the author wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

string_serde!(Timestamp);

// ---------------------------------------------------------------------------------------------
// EntryTime.

/// The node's append time: exactly `YYYY-MM-DDTHH:MM:SS.mmmZ`, years 1970–9999. One spelling per
/// instant, so text order, equality and instant order all agree.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct EntryTime {
    ms: i64,
    text: String,
}

impl EntryTime {
    pub fn parse(text: &str) -> Result<EntryTime, TimeError> {
        let mut c = Cursor::new(text);
        let date = c.date()?;
        if date.0 < ENTRY_YEAR_MIN {
            return Err(TimeError::EntryYearOutOfRange);
        }
        c.literal(b'T', "upper-case `T` between date and time")?;
        let clock = c.clock()?;
        if c.peek() != Some(b'.') {
            return Err(TimeError::EntryFractionDigits { digits: 0 });
        }
        let (digits, nanos) = c.fraction().map_err(|e| match e {
            TimeError::FractionDigits { digits } => TimeError::EntryFractionDigits { digits },
            other => other,
        })?;
        if digits != ENTRY_FRACTION_DIGITS {
            return Err(TimeError::EntryFractionDigits { digits });
        }
        c.literal(b'Z', "upper-case `Z` (entry times are UTC)")?;
        c.end()?;
        let ms = seconds_of(date, clock) * 1000 + i64::from(nanos / 1_000_000);
        Ok(EntryTime { ms, text: text.to_owned() })
    }

    /// The entry time of a Unix millisecond count; `None` outside the years 1970–9999.
    pub fn from_unix_ms(ms: i64) -> Option<EntryTime> {
        if !(0..=ENTRY_MS_MAX).contains(&ms) {
            return None;
        }
        let days = ms.div_euclid(MS_PER_DAY);
        let in_day = ms.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days)?;
        let text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            year,
            month,
            day,
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000
        );
        Some(EntryTime { ms, text })
    }

    /// Milliseconds since 1970-01-01T00:00:00Z (never negative).
    pub fn unix_ms(&self) -> i64 {
        self.ms
    }

    /// The same instant in nanoseconds, to compare with [`Timestamp::unix_nanos`].
    pub fn unix_nanos(&self) -> i128 {
        i128::from(self.ms) * 1_000_000
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Ord for EntryTime {
    fn cmp(&self, other: &Self) -> Ordering {
        self.ms.cmp(&other.ms)
    }
}

impl PartialOrd for EntryTime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

string_serde!(EntryTime);

// ---------------------------------------------------------------------------------------------
// Date.

/// A calendar date, `YYYY-MM-DD`, years 0001–9999. Ordered chronologically.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Date {
    days: i64,
    text: String,
}

impl Date {
    pub fn parse(text: &str) -> Result<Date, TimeError> {
        let mut c = Cursor::new(text);
        let (y, m, d) = c.date()?;
        c.end()?;
        Ok(Date { days: days_from_civil(y, m, d), text: text.to_owned() })
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days_since_epoch(&self) -> i64 {
        self.days
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Ord for Date {
    fn cmp(&self, other: &Self) -> Ordering {
        self.days.cmp(&other.days)
    }
}

impl PartialOrd for Date {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

string_serde!(Date);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_the_whole_range() {
        let first = days_from_civil(1, 1, 1);
        let last = days_from_civil(9999, 12, 31);
        let mut expect = (1i32, 1u32, 1u32);
        for days in first..=last {
            assert_eq!(civil_from_days(days), Some(expect), "day {days}");
            assert_eq!(days_from_civil(expect.0, expect.1, expect.2), days);
            let (y, m, d) = expect;
            expect = if d < days_in_month(i64::from(y), m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn known_day_numbers() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        // Total on nonsense input, no overflow.
        let _ = days_from_civil(i32::MIN, 0, 0);
        let _ = days_from_civil(i32::MAX, u32::MAX, u32::MAX);
        assert_eq!(civil_from_days(i64::MAX), None);
        assert_eq!(civil_from_days(i64::MIN), None);
        assert_eq!(civil_from_days(i64::from(i32::MAX) * 366), None);
        assert_eq!((days_from_civil(10000, 1, 1)) * MS_PER_DAY - 1, ENTRY_MS_MAX);
    }
}

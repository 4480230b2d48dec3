//! Dates: `date` for SEARCH (`d-Mon-yyyy`) and `date-time` for INTERNALDATE/APPEND
//! (`"dd-Mon-yyyy hh:mm:ss +zzzz"`), RFC 9051 §9.

use super::core::ValidationError;

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar date (`date-day "-" date-month "-" date-year`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// A date; `year` 0-9999, `month` 1-12, `day` 1 up to the month's length.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self, ValidationError> {
        let max = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if year.is_multiple_of(4)
                && (!year.is_multiple_of(100) || year.is_multiple_of(400)) =>
            {
                29
            }
            2 => 28,
            _ => return Err(ValidationError::new("date", "month must be 1-12")),
        };
        if year > 9999 || day == 0 || day > max {
            return Err(ValidationError::new("date", "no such day"));
        }
        Ok(Self { year, month, day })
    }

    /// The year.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The month, 1-12.
    pub fn month(&self) -> u8 {
        self.month
    }

    /// The day of the month.
    pub fn day(&self) -> u8 {
        self.day
    }
}

/// A date, time and zone (`date-time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    date: Date,
    hour: u8,
    minute: u8,
    second: u8,
    /// Offset from UTC in minutes.
    zone: i16,
}

impl DateTime {
    /// A time stamp; `zone_minutes` is the UTC offset, within ±99:59.
    pub fn new(
        date: Date,
        hour: u8,
        minute: u8,
        second: u8,
        zone_minutes: i16,
    ) -> Result<Self, ValidationError> {
        if hour > 23 || minute > 59 || second > 60 || zone_minutes.unsigned_abs() > 99 * 60 + 59 {
            return Err(ValidationError::new(
                "date-time",
                "time or zone out of range",
            ));
        }
        Ok(Self {
            date,
            hour,
            minute,
            second,
            zone: zone_minutes,
        })
    }

    /// The date.
    pub fn date(&self) -> Date {
        self.date
    }

    /// Hours, minutes, seconds.
    pub fn time(&self) -> (u8, u8, u8) {
        (self.hour, self.minute, self.second)
    }

    /// The UTC offset in minutes.
    pub fn zone_minutes(&self) -> i16 {
        self.zone
    }
}

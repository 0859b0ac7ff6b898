//! A contact's own clock: the hour an engagement happened at where they live, whether a moment
//! falls in their quiet hours, and when those end — with the IANA database, so that a DST change
//! moves the local hours and not the rule.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

/// A time zone that is not in the IANA database.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0:?} is not an IANA time zone name (like Europe/Madrid or America/Chicago)")]
pub struct UnknownZone(pub String);

/// Looks a zone up by its IANA name.
pub fn zone(name: &str) -> Result<TimeZone, UnknownZone> {
    TimeZone::get(name).map_err(|_| UnknownZone(name.to_string()))
}

/// `ms` since the epoch as a local date and time in `tz`; out-of-range times clamp to the epoch.
pub fn local(ms: i64, tz: &TimeZone) -> ZonedDateTime {
    Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone())
}

/// The local hour (0–23) of `ms` in `tz`.
pub fn local_hour(ms: i64, tz: &TimeZone) -> u8 {
    local(ms, tz).hour().clamp(0, 23) as u8
}

/// The local calendar date of `ms` in `tz`, as `2026-11-02`.
pub fn local_date(ms: i64, tz: &TimeZone) -> String {
    local(ms, tz).date().to_string()
}

/// Minutes after local midnight, `0..1440`.
pub type MinuteOfDay = u16;

/// A daily span of local time when intrusive channels stay silent; it may wrap past midnight
/// (21:00–08:00). Start is inside the span, end is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: MinuteOfDay,
    pub end: MinuteOfDay,
}

impl QuietHours {
    /// Parses `"21:00"`-style bounds.
    pub fn parse(start: &str, end: &str) -> Result<Self, String> {
        Ok(QuietHours {
            start: parse_minute(start)?,
            end: parse_minute(end)?,
        })
    }

    /// Whether a local minute of the day is quiet.
    pub fn contains(&self, minute: MinuteOfDay) -> bool {
        if self.start <= self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Whether `ms` is quiet in `tz`.
    pub fn is_quiet(&self, ms: i64, tz: &TimeZone) -> bool {
        self.contains(minute_of_day(&local(ms, tz)))
    }

    /// The first moment at or after `ms` when the quiet span that holds `ms` is over, in ms since
    /// the epoch. Local wall-clock arithmetic: on a DST change the span is an hour longer or
    /// shorter in absolute time, and an end that falls in a skipped hour moves past the gap.
    pub fn next_end(&self, ms: i64, tz: &TimeZone) -> i64 {
        let now = local(ms, tz);
        let end_time = time_of(self.end);
        let mut day = now.date();
        for _ in 0..3 {
            let candidate = at_local(day, end_time, tz);
            if candidate > ms {
                return candidate;
            }
            day = match day.tomorrow() {
                Ok(next) => next,
                Err(_) => break,
            };
        }
        ms
    }

    /// `21:00–08:00`.
    pub fn describe(&self) -> String {
        format!("{}–{}", format_minute(self.start), format_minute(self.end))
    }
}

fn minute_of_day(local: &ZonedDateTime) -> MinuteOfDay {
    (local.hour() as u16) * 60 + local.minute() as u16
}

/// A local date and time in `tz` as ms since the epoch; a time in a DST gap moves forward, an
/// ambiguous one takes the earlier instant (jiff's "compatible" rule).
fn at_local(day: Date, time: Time, tz: &TimeZone) -> i64 {
    DateTime::from_parts(day, time)
        .to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(i64::MAX)
}

fn time_of(minute: MinuteOfDay) -> Time {
    Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).unwrap_or(Time::midnight())
}

fn parse_minute(text: &str) -> Result<MinuteOfDay, String> {
    let bad = || format!("{text:?} is not a time of day like 21:00");
    let (hours, minutes) = text.split_once(':').ok_or_else(bad)?;
    let hours: u16 = hours.parse().map_err(|_| bad())?;
    let minutes: u16 = minutes.parse().map_err(|_| bad())?;
    if hours > 23 || minutes > 59 || text.len() != 5 {
        return Err(bad());
    }
    Ok(hours * 60 + minutes)
}

/// `08:00`.
pub fn format_minute(minute: MinuteOfDay) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// Ms since the epoch of a UTC date and time, for tests and fixtures (panics on a malformed one).
pub fn utc_ms(text: &str) -> i64 {
    text.parse::<Timestamp>()
        .expect("an RFC 3339 timestamp")
        .as_millisecond()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> QuietHours {
        QuietHours::parse("21:00", "08:00").unwrap()
    }

    #[test]
    fn spans_wrap_past_midnight() {
        let q = quiet();
        assert!(q.contains(21 * 60));
        assert!(q.contains(2 * 60));
        assert!(q.contains(7 * 60 + 59));
        assert!(!q.contains(8 * 60));
        assert!(!q.contains(20 * 60 + 59));
        let day = QuietHours::parse("12:00", "13:00").unwrap();
        assert!(day.contains(12 * 60 + 30));
        assert!(!day.contains(13 * 60));
    }

    #[test]
    fn bad_times_are_refused() {
        assert!(QuietHours::parse("25:00", "08:00").is_err());
        assert!(QuietHours::parse("9pm", "08:00").is_err());
        assert!(QuietHours::parse("21:0", "08:00").is_err());
    }

    #[test]
    fn the_same_instant_is_quiet_in_one_zone_and_not_another() {
        // 03:30 UTC is 22:30 the evening before in Chicago (CDT, UTC−5) and 12:30 in Tokyo.
        let at = utc_ms("2026-06-10T03:30:00Z");
        assert!(quiet().is_quiet(at, &zone("America/Chicago").unwrap()));
        assert!(!quiet().is_quiet(at, &zone("Asia/Tokyo").unwrap()));
        assert_eq!(local_hour(at, &zone("America/Chicago").unwrap()), 22);
        assert_eq!(local_hour(at, &zone("Asia/Tokyo").unwrap()), 12);
    }

    #[test]
    fn quiet_hours_end_at_local_eight_on_either_side_of_a_dst_change() {
        let chicago = zone("America/Chicago").unwrap();
        // Night of 2026-03-07/08: clocks go forward at 02:00 on the 8th. 08:00 CDT is 13:00 UTC.
        let before_spring = utc_ms("2026-03-08T04:00:00Z"); // 22:00 CST on the 7th
        assert_eq!(
            quiet().next_end(before_spring, &chicago),
            utc_ms("2026-03-08T13:00:00Z")
        );
        // Night of 2026-10-31/11-01: clocks go back at 02:00. 08:00 CST is 14:00 UTC.
        let before_autumn = utc_ms("2026-11-01T03:00:00Z"); // 22:00 CDT on the 31st
        assert_eq!(
            quiet().next_end(before_autumn, &chicago),
            utc_ms("2026-11-01T14:00:00Z")
        );
        // The same UTC hour is quiet in winter and not in summer: 13:30 UTC is 07:30 CST but
        // 08:30 CDT.
        assert!(quiet().is_quiet(utc_ms("2026-01-15T13:30:00Z"), &chicago));
        assert!(!quiet().is_quiet(utc_ms("2026-07-15T13:30:00Z"), &chicago));
    }

    #[test]
    fn an_end_inside_the_skipped_hour_moves_past_the_gap() {
        // Quiet until 02:30 on the night the clocks skip 02:00–03:00: it ends at 03:30 CDT.
        let q = QuietHours::parse("23:00", "02:30").unwrap();
        let chicago = zone("America/Chicago").unwrap();
        let end = q.next_end(utc_ms("2026-03-08T06:00:00Z"), &chicago); // 00:00 CST
        assert_eq!(end, utc_ms("2026-03-08T08:30:00Z"));
    }

    #[test]
    fn unknown_zones_are_named() {
        let error = zone("Mars/Olympus_Mons").unwrap_err();
        assert!(error.to_string().contains("Mars/Olympus_Mons"));
    }
}

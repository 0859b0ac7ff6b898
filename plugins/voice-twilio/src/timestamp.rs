//! RFC 2822 dates, as Twilio writes a callback's `Timestamp` (`Tue, 14 Nov 2023 22:13:20 +0000`).
//!
//! Small enough to write out rather than pull a date library into every call: the day of the week
//! is optional (and not checked), seconds are optional, the zone is `+hhmm`/`-hhmm`, `GMT`, `UT`
//! or `UTC`.

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The time in milliseconds since the Unix epoch, or `None` if `text` is not such a date.
pub fn parse_rfc2822(text: &str) -> Option<i64> {
    let text = text.trim();
    let rest = text.split_once(',').map_or(text, |(_, rest)| rest);
    let mut parts = rest.split_whitespace();
    let day: i64 = number(parts.next()?, 1..=31)?;
    let month = month_number(parts.next()?)?;
    let year: i64 = number(parts.next()?, 1900..=9999)?;
    let seconds_of_day = time_of_day(parts.next()?)?;
    let offset_secs = zone_offset_secs(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let utc = days * 86_400 + seconds_of_day - offset_secs;
    utc.checked_mul(1000)
}

/// `hh:mm` or `hh:mm:ss`, in seconds since midnight.
fn time_of_day(text: &str) -> Option<i64> {
    let mut fields = text.split(':');
    let hours: i64 = number(fields.next()?, 0..=23)?;
    let minutes: i64 = number(fields.next()?, 0..=59)?;
    // 60 is a leap second.
    let seconds: i64 = fields.next().map_or(Some(0), |s| number(s, 0..=60))?;
    if fields.next().is_some() {
        return None;
    }
    Some(hours * 3600 + minutes * 60 + seconds)
}

/// The zone's offset from UTC in seconds: `+0100` is one hour ahead.
fn zone_offset_secs(zone: &str) -> Option<i64> {
    if matches!(zone, "GMT" | "UT" | "UTC" | "Z") {
        return Some(0);
    }
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    // Checked whole before slicing: byte offsets are only safe in ASCII.
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i64 = number(&digits[..2], 0..=23)?;
    let minutes: i64 = number(&digits[2..], 0..=59)?;
    Some(sign * (hours * 3600 + minutes * 60))
}

fn month_number(name: &str) -> Option<i64> {
    let lower = name.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .and_then(|index| i64::try_from(index + 1).ok())
}

/// Plain ASCII digits within `range`.
fn number(text: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| range.contains(n))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_twilio_s_timestamps() {
        assert_eq!(
            parse_rfc2822("Tue, 14 Nov 2023 22:13:20 +0000"),
            Some(1_700_000_000_000)
        );
        // The example of Twilio's Call resource.
        assert_eq!(
            parse_rfc2822("Tue, 31 Aug 2010 20:36:44 +0000"),
            Some(1_283_287_004_000)
        );
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    }

    #[test]
    fn zones_shift_the_time_and_optional_parts_may_go() {
        let utc = parse_rfc2822("14 Nov 2023 22:13:20 +0000").unwrap();
        assert_eq!(utc, 1_700_000_000_000);
        assert_eq!(parse_rfc2822("Tue, 14 Nov 2023 23:13:20 +0100"), Some(utc));
        assert_eq!(parse_rfc2822("Tue, 14 Nov 2023 17:43:20 -0430"), Some(utc));
        assert_eq!(
            parse_rfc2822("Tue, 14 Nov 2023 22:13 UT"),
            Some(utc - 20_000)
        );
        assert_eq!(
            parse_rfc2822("Wed, 29 Feb 2024 00:00:00 +0000"),
            Some(1_709_164_800_000)
        );
    }

    #[test]
    fn refuses_what_is_not_such_a_date() {
        for text in [
            "",
            "yesterday",
            "2023-11-14T22:13:20Z",
            "Tue, 14 Nov 2023",
            "Tue, 14 Nov 2023 22:13:20",
            "Tue, 14 Foo 2023 22:13:20 +0000",
            "Tue, 32 Nov 2023 22:13:20 +0000",
            "Tue, 14 Nov 2023 24:00:00 +0000",
            "Tue, 14 Nov 2023 22:13:20 +000",
            "Tue, 14 Nov 2023 22:13:20 EST",
            "Tue, 14 Nov 2023 22:13:20 +0000 extra",
            "Tue, -1 Nov 2023 22:13:20 +0000",
            "Tue, 14 Nov 2023 22:13:20 +aé0",
        ] {
            assert_eq!(parse_rfc2822(text), None, "{text}");
        }
    }
}

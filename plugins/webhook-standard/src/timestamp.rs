//! RFC 3339 date-times, as an event's `timestamp` may be written
//! (`2023-11-14T22:13:20.123Z`, `2023-11-14T23:13:20+01:00`).
//!
//! Small enough to write out rather than pull a date library into every call: `T`, `t` or a space
//! between date and time, any number of fraction digits (kept to the millisecond), `Z` or a
//! `±hh:mm` offset.

/// The time in milliseconds since the Unix epoch, or `None` if `text` is not such a date-time.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    // Checked whole before slicing: byte offsets are only safe in ASCII.
    if !text.is_ascii() || text.len() < 20 {
        return None;
    }
    let (date, rest) = text.split_at(10);
    let days = date_days(date)?;
    if !matches!(rest.as_bytes().first(), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (time, rest) = rest[1..].split_at(8);
    let seconds = time_secs(time)?;
    let (millis, zone) = fraction_millis(rest)?;
    let offset = zone_offset_secs(zone)?;
    (days * 86_400 + seconds - offset)
        .checked_mul(1000)?
        .checked_add(millis)
}

/// `YYYY-MM-DD`, in days since 1970-01-01.
fn date_days(date: &str) -> Option<i64> {
    let mut fields = date.split('-');
    let year = number(fields.next()?, 4, 0..=9999)?;
    let month = number(fields.next()?, 2, 1..=12)?;
    let day = number(fields.next()?, 2, 1..=days_in_month(year, month))?;
    Some(days_from_civil(year, month, day))
}

/// `hh:mm:ss`, in seconds since midnight (60 is a leap second).
fn time_secs(time: &str) -> Option<i64> {
    let mut fields = time.split(':');
    let hours = number(fields.next()?, 2, 0..=23)?;
    let minutes = number(fields.next()?, 2, 0..=59)?;
    let seconds = number(fields.next()?, 2, 0..=60)?;
    Some(hours * 3600 + minutes * 60 + seconds)
}

/// An optional `.fff…` fraction, in milliseconds, and what follows it.
fn fraction_millis(rest: &str) -> Option<(i64, &str)> {
    let Some(fraction) = rest.strip_prefix('.') else {
        return Some((0, rest));
    };
    let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let millis = fraction[..digits.min(3)]
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |acc, b| acc * 10 + i64::from(b - b'0'));
    Some((millis, &fraction[digits..]))
}

/// `Z` or `±hh:mm`, as an offset from UTC in seconds.
fn zone_offset_secs(zone: &str) -> Option<i64> {
    if zone == "Z" || zone == "z" {
        return Some(0);
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = zone[1..].split_once(':')?;
    Some(sign * (number(hours, 2, 0..=23)? * 3600 + number(minutes, 2, 0..=59)? * 60))
}

/// Exactly `width` ASCII digits within `range`.
fn number(text: &str, width: usize, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
    if text.len() != width || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| range.contains(n))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
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

    const T: i64 = 1_700_000_000_000;

    #[test]
    fn parses_utc_offsets_and_fractions() {
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(T));
        assert_eq!(parse_rfc3339("2023-11-14t22:13:20z"), Some(T));
        assert_eq!(parse_rfc3339("2023-11-14 22:13:20Z"), Some(T));
        assert_eq!(parse_rfc3339("2023-11-14T23:13:20+01:00"), Some(T));
        assert_eq!(parse_rfc3339("2023-11-14T17:43:20-04:30"), Some(T));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.5Z"), Some(T + 500));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20.123456Z"), Some(T + 123));
        // The example of the Standard Webhooks specification.
        assert_eq!(
            parse_rfc3339("2022-11-03T20:26:10.344522Z"),
            Some(1_667_507_170_344)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
    }

    #[test]
    fn refuses_what_is_not_an_rfc_3339_date_time() {
        for text in [
            "",
            "yesterday",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13Z",
            "2023-11-14X22:13:20Z",
            "2023-13-14T22:13:20Z",
            "2023-02-29T22:13:20Z",
            "2023-11-14T24:13:20Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0100",
            "2023-11-14T22:13:20+01:00:00",
            "2023-11-14T22:13:20 UTC",
            "Tue, 14 Nov 2023 22:13:20 +0000",
            "2023-11-14T22:13:20é",
            "+2023-11-14T22:13:20Z",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text}");
        }
    }
}

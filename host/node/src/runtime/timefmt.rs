//! Times for people: Unix times as UTC calendar dates (the node only ever
//! prints UTC), through the `time` crate.

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

const UTC_TEXT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
const RFC3339_MS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `ms` as a date, or `None` past year 9999 (a timestamp no clock of ours
/// wrote, but a mirrored log may carry any number).
fn at_ms(ms: u64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .filter(|t| t.year() <= 9999)
}

/// `secs` since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC` (CLI tables,
/// the page).
pub fn utc(secs: u64) -> String {
    secs.checked_mul(1000)
        .and_then(at_ms)
        .and_then(|t| t.format(UTC_TEXT).ok())
        .unwrap_or_else(|| format!("{secs} s after the Unix epoch"))
}

/// `ms` since the Unix epoch as RFC 3339 UTC with milliseconds (the API,
/// the page's machine-readable `datetime` attributes).
pub fn rfc3339_ms(ms: u64) -> String {
    at_ms(ms)
        .and_then(|t| t.format(RFC3339_MS).ok())
        .unwrap_or_else(|| format!("{ms} ms after the Unix epoch"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_since_the_epoch_read_as_rfc3339_utc() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        // `date -u -d @1780000000` and a leap day.
        assert_eq!(rfc3339_ms(1_780_000_000_123), "2026-05-28T20:26:40.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn seconds_since_the_epoch_read_as_utc_text() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn times_past_year_9999_are_shown_as_numbers_not_a_panic() {
        assert_eq!(
            rfc3339_ms(u64::MAX),
            format!("{} ms after the Unix epoch", u64::MAX)
        );
        assert_eq!(
            utc(u64::MAX),
            format!("{} s after the Unix epoch", u64::MAX)
        );
    }
}

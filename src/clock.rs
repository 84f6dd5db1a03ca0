//! The one clock and the one way times are written: every time is stored as milliseconds since
//! the Unix epoch and shown as RFC 3339 UTC with milliseconds. The API, emails and logs all take
//! their times from here, so they agree to the millisecond.

/// Milliseconds since the Unix epoch: how every time is stored.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 3339 with milliseconds, UTC (`2022-12-31T19:43:02.136Z`).
pub fn format_millis(millis: i64) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_millis() {
        assert_eq!(super::format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::format_millis(1_672_515_782_136),
            "2022-12-31T19:43:02.136Z"
        );
    }
}

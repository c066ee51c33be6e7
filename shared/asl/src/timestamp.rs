//! ASL timestamps: RFC 3339 with an uppercase `T` separator and an uppercase `Z` when
//! there is no numeric offset (the spec's extra restrictions).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub(crate) fn parse(text: &str) -> Option<OffsetDateTime> {
    if text.as_bytes().get(10) != Some(&b'T') || text.ends_with('z') {
        return None;
    }
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// The current time in the `2024-01-02T03:04:05.678Z` form AWS uses in the context object.
pub(crate) fn now() -> String {
    let now = OffsetDateTime::now_utc();
    let millis = now.replace_nanosecond(u32::from(now.millisecond()) * 1_000_000);
    millis
        .unwrap_or(now)
        .format(&Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_timestamps() {
        assert!(parse("2016-03-14T01:59:00Z").is_some());
        assert!(parse("2016-03-14T01:59:00.123Z").is_some());
        assert!(parse("2016-03-14T01:59:00+02:00").is_some());
        assert_eq!(
            parse("2016-03-14T03:59:00+02:00"),
            parse("2016-03-14T01:59:00Z")
        );
    }

    #[test]
    fn rejects_lowercase_and_malformed() {
        assert!(parse("2016-03-14t01:59:00Z").is_none());
        assert!(parse("2016-03-14T01:59:00z").is_none());
        assert!(parse("2016-03-14 01:59:00Z").is_none());
        assert!(parse("yesterday").is_none());
        assert!(parse("").is_none());
    }

    #[test]
    fn now_round_trips() {
        assert!(parse(&now()).is_some());
    }
}

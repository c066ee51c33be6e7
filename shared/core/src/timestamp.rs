//! Times in JSON answers, written the way PostgreSQL's JSON writes a `timestamptz` or a
//! `date`: `2026-12-05T06:21:23.5+00:00` (a `T`, microseconds without trailing zeros and none
//! when the second is whole, the offset as `+HH:MM`, `+HH:MM:SS` for an offset with seconds)
//! and `2026-12-05`. A typed answer built from rows thus says what the database's own JSON said,
//! offset included: [`parse`] reads that text back keeping the offset.
//!
//! For `#[serde(with = "muara_core::timestamp")]` (and `timestamp::option`, `timestamp::date`).

use serde::{Deserialize, Deserializer, Serializer};
use time::{Date, OffsetDateTime};

/// A time as PostgreSQL's JSON writes it (to the microsecond, PostgreSQL's precision).
pub fn format(t: OffsetDateTime) -> String {
    let mut s = format!(
        "{}T{:02}:{:02}:{:02}",
        format_date(t.date()),
        t.hour(),
        t.minute(),
        t.second()
    );
    let micros = t.microsecond();
    if micros != 0 {
        let digits = format!("{micros:06}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    let offset = t.offset();
    let (h, m, sec) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    s.push_str(&format!(
        "{sign}{:02}:{:02}",
        h.unsigned_abs(),
        m.unsigned_abs()
    ));
    if sec != 0 {
        s.push_str(&format!(":{:02}", sec.unsigned_abs()));
    }
    s
}

/// A date as PostgreSQL's JSON writes it: `2026-12-05`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Reads a time as PostgreSQL's JSON writes it (`to_json(t) #>> '{}'`), keeping its offset.
pub fn parse(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(
        s,
        time::macros::format_description!(
            version = 2,
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory]:[offset_minute][optional [:[offset_second]]]"
        ),
    )
}

pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(|e| serde::de::Error::custom(format!("time {s:?}: {e}")))
}

/// An optional time: `null` when absent.
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| {
                super::parse(&s).map_err(|e| serde::de::Error::custom(format!("time {s:?}: {e}")))
            })
            .transpose()
    }
}

/// A date: `2026-12-05`.
pub mod date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_date(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse(
            &s,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|e| serde::de::Error::custom(format!("date {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_json_times_read_and_write_back_unchanged() {
        for text in [
            "2026-12-05T06:21:23+00:00",
            "2026-12-05T06:21:23.5+00:00",
            "2026-12-05T06:21:23.000003+05:30",
            "2001-02-03T04:05:06.789-03:00",
            "1890-01-01T00:00:00+07:07:12",
            "0999-12-31T23:59:59.123456+00:00",
        ] {
            let t = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(format(t), text);
        }
        for bad in [
            "2026-12-05 06:21:23+00",
            "2026-12-05T06:21:23Z",
            "infinity",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // PostgreSQL keeps microseconds: so do the answers.
        let t = time::macros::datetime!(2026-12-05 06:21:23.123456789 UTC);
        assert_eq!(format(t), "2026-12-05T06:21:23.123456+00:00");
        let stamped = Stamped {
            at: t,
            none: None,
            day: t.date(),
        };
        let json = serde_json::to_value(&stamped).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"at": "2026-12-05T06:21:23.123456+00:00", "none": null,
                               "day": "2026-12-05"})
        );
        let back: Stamped = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            back.at,
            time::macros::datetime!(2026-12-05 06:21:23.123456 UTC)
        );
        assert_eq!((back.none, back.day), (None, t.date()));
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Stamped {
        #[serde(with = "super")]
        at: OffsetDateTime,
        #[serde(with = "super::option")]
        none: Option<OffsetDateTime>,
        #[serde(with = "super::date")]
        day: time::Date,
    }
}

//! Text → PostgreSQL binary wire values, for binary `COPY` into bronze tables.
//!
//! Row validation and the load use the same parsing ([`Kind::parse_ok`] is what `cast`
//! checks), so a value validation accepts is a value the load can encode. A column whose type
//! is not listed here makes the load fall back to text (CSV) `COPY`, where PostgreSQL parses.

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::Type;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bool,
    Date,
    Timestamp,
    Timestamptz,
    Numeric,
    Json,
    Jsonb,
    Uuid,
}

impl Kind {
    /// The kind of a column's type, if binary encoding supports it.
    pub fn of(ty: &Type) -> Option<Kind> {
        Some(match *ty {
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Kind::Text,
            Type::INT2 => Kind::Int2,
            Type::INT4 => Kind::Int4,
            Type::INT8 => Kind::Int8,
            Type::FLOAT4 => Kind::Float4,
            Type::FLOAT8 => Kind::Float8,
            Type::BOOL => Kind::Bool,
            Type::DATE => Kind::Date,
            Type::TIMESTAMP => Kind::Timestamp,
            Type::TIMESTAMPTZ => Kind::Timestamptz,
            Type::NUMERIC => Kind::Numeric,
            Type::JSON => Kind::Json,
            Type::JSONB => Kind::Jsonb,
            Type::UUID => Kind::Uuid,
            _ => return None,
        })
    }

    /// The kind of a configured type name (`tools.column_mapping.target_data_type`).
    pub fn named(name: &str) -> Option<Kind> {
        let t = name.trim().to_ascii_lowercase();
        let base = t.split('(').next().unwrap_or("").trim();
        Some(match base {
            "text" | "varchar" | "character varying" | "char" | "character" | "bpchar" | "name" => {
                Kind::Text
            }
            "smallint" | "int2" => Kind::Int2,
            "integer" | "int" | "int4" => Kind::Int4,
            "bigint" | "int8" => Kind::Int8,
            "real" | "float4" => Kind::Float4,
            "double precision" | "float8" | "float" => Kind::Float8,
            "boolean" | "bool" => Kind::Bool,
            "date" => Kind::Date,
            "timestamp" | "timestamp without time zone" => Kind::Timestamp,
            "timestamptz" | "timestamp with time zone" => Kind::Timestamptz,
            "numeric" | "decimal" => Kind::Numeric,
            "json" => Kind::Json,
            "jsonb" => Kind::Jsonb,
            "uuid" => Kind::Uuid,
            _ => return None,
        })
    }

    /// Whether `value` is a valid value of this kind.
    pub fn parse_ok(self, value: &str) -> bool {
        let mut scratch = BytesMut::new();
        self.encode(value, &mut scratch).is_some()
    }

    /// Appends the binary representation of `value` (without the length prefix); `None` when
    /// it is not a valid value. Surrounding whitespace is ignored except for text.
    pub fn encode(self, value: &str, out: &mut BytesMut) -> Option<()> {
        let v = value.trim();
        match self {
            Kind::Text => out.put_slice(value.as_bytes()),
            Kind::Int2 => out.put_i16(v.parse().ok()?),
            Kind::Int4 => out.put_i32(v.parse().ok()?),
            Kind::Int8 => out.put_i64(v.parse().ok()?),
            Kind::Float4 => out.put_f32(v.parse().ok()?),
            Kind::Float8 => out.put_f64(v.parse().ok()?),
            Kind::Bool => out.put_u8(match v.to_ascii_lowercase().as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => 1,
                "f" | "false" | "n" | "no" | "off" | "0" => 0,
                _ => return None,
            }),
            Kind::Date => out.put_i32(days_since_2000(parse_date(v)?)),
            Kind::Timestamp => {
                let (dt, offset) = parse_timestamp(v)?;
                if offset.is_some() {
                    return None;
                }
                out.put_i64(micros_since_2000(dt.assume_utc()));
            }
            Kind::Timestamptz => {
                let (dt, offset) = parse_timestamp(v)?;
                // Without an offset, PostgreSQL reads the session time zone; loads run in UTC.
                let at = dt.assume_offset(offset.unwrap_or(time::UtcOffset::UTC));
                out.put_i64(micros_since_2000(at));
            }
            Kind::Numeric => encode_numeric(v, out)?,
            Kind::Json => {
                serde_json::from_str::<serde::de::IgnoredAny>(v).ok()?;
                out.put_slice(v.as_bytes());
            }
            Kind::Jsonb => {
                serde_json::from_str::<serde::de::IgnoredAny>(v).ok()?;
                out.put_u8(1);
                out.put_slice(v.as_bytes());
            }
            Kind::Uuid => out.put_slice(uuid::Uuid::parse_str(v).ok()?.as_bytes()),
        }
        Some(())
    }
}

/// PostgreSQL counts dates and timestamps from 2000-01-01.
const PG_EPOCH_JULIAN_DAY: i32 = 2_451_545;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

fn days_since_2000(d: time::Date) -> i32 {
    d.to_julian_day() - PG_EPOCH_JULIAN_DAY
}

fn micros_since_2000(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX) - PG_EPOCH_MICROS
}

/// `YYYY-MM-DD` with a real calendar day.
pub fn parse_date(v: &str) -> Option<time::Date> {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i32 = v[..4].parse().ok()?;
    let m: u8 = v[5..7].parse().ok()?;
    let d: u8 = v[8..].parse().ok()?;
    time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
}

/// `YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|±HH[:MM]]`.
pub fn parse_timestamp(v: &str) -> Option<(time::PrimitiveDateTime, Option<time::UtcOffset>)> {
    let date = parse_date(v.get(..10)?)?;
    let rest = &v[10..];
    if rest.is_empty() {
        return Some((date.midnight(), None));
    }
    let rest = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('T'))?;
    // Split off a zone: 'Z' or the last '+'/'-' after the time.
    let (clock, zone) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let mut parts = clock.trim().split(':');
    let h: u8 = parts.next()?.parse().ok()?;
    let mi: u8 = parts.next()?.parse().ok()?;
    let (s, micro) = match parts.next() {
        None => (0u8, 0u32),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            if frac.len() > 6 || !frac.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let micro = if frac.is_empty() {
                0
            } else {
                format!("{frac:0<6}").parse().ok()?
            };
            (whole.parse().ok()?, micro)
        }
    };
    if parts.next().is_some() {
        return None;
    }
    let t = time::Time::from_hms_micro(h, mi, s, micro).ok()?;
    let offset = match zone {
        None => None,
        Some(z) if z.eq_ignore_ascii_case("z") => Some(time::UtcOffset::UTC),
        Some(z) => {
            let sign: i8 = if z.starts_with('-') { -1 } else { 1 };
            let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
            // Only ASCII digits are sliced below (a multi-byte character would split).
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let (hh, mm) = match digits.len() {
                2 => (digits.parse::<i8>().ok()?, 0),
                4 => (
                    digits[..2].parse::<i8>().ok()?,
                    digits[2..].parse::<i8>().ok()?,
                ),
                _ => return None,
            };
            Some(time::UtcOffset::from_hms(sign * hh, sign * mm, 0).ok()?)
        }
    };
    Some((time::PrimitiveDateTime::new(date, t), offset))
}

/// PostgreSQL's binary `numeric`: ndigits, weight, sign, dscale, then base-10000 digits.
fn encode_numeric(v: &str, out: &mut BytesMut) -> Option<()> {
    let (negative, body) = match v.as_bytes().first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let dscale = u16::try_from(frac.len()).ok()?;
    let int = int.trim_start_matches('0');
    // Base-10000 groups: the integer part padded on the left, the fraction on the right.
    let int_pad = (4 - int.len() % 4) % 4;
    let frac_pad = (4 - frac.len() % 4) % 4;
    let int_digits = format!("{}{int}", "0".repeat(int_pad));
    let frac_digits = format!("{frac}{}", "0".repeat(frac_pad));
    let group = |s: &str| -> Vec<i16> {
        s.as_bytes()
            .chunks(4)
            .map(|c| {
                std::str::from_utf8(c)
                    .ok()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0)
            })
            .collect()
    };
    let mut digits = group(&int_digits);
    let mut weight = i16::try_from(digits.len()).ok()? - 1;
    digits.extend(group(&frac_digits));
    // Leading zero groups shift the weight; trailing ones carry nothing.
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let ndigits = i16::try_from(digits.len()).ok()?;
    if digits.is_empty() {
        weight = 0;
    }
    out.put_i16(ndigits);
    out.put_i16(weight);
    out.put_u16(if negative && !digits.is_empty() {
        0x4000
    } else {
        0
    });
    out.put_u16(dscale);
    for d in digits {
        out.put_i16(d);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Untrusted text never panics the parser or the encoder, whatever it holds: every column
    /// type, over strings built from date, time, zone and number pieces and multi-byte
    /// characters (`2024-01-01 10:00+1é1` once split a character in two and aborted the
    /// process).
    #[test]
    fn no_text_panics_any_type() {
        const PIECES: &[&str] = &[
            "2024-01-01",
            " ",
            "T",
            "10:00",
            ":30",
            ".5",
            "+",
            "-",
            "Z",
            "é",
            "1",
            "07",
            "€",
            "0",
            "e",
            "9999",
            "ñ:",
            "::",
            "\u{1F600}",
            "\u{0}",
            "nan",
            "{",
            "\"",
        ];
        const TYPES: &[&str] = &[
            "text",
            "smallint",
            "integer",
            "bigint",
            "real",
            "double precision",
            "boolean",
            "date",
            "timestamp",
            "timestamptz",
            "numeric",
            "numeric(20,4)",
            "json",
            "jsonb",
            "uuid",
        ];
        let kinds: Vec<Kind> = TYPES.iter().filter_map(|t| Kind::named(t)).collect();
        assert_eq!(kinds.len(), TYPES.len());
        let mut r = muara_core::lcg::Lcg(7);
        let mut tried = 0;
        for _ in 0..20_000 {
            let n = r.next(8) + 1;
            let text: String = (0..n)
                .map(|_| PIECES[usize::try_from(r.next(PIECES.len() as u64)).unwrap_or(0)])
                .collect();
            for kind in &kinds {
                let ok = kind.parse_ok(&text);
                let mut out = BytesMut::new();
                // What validation accepts, the load can encode.
                assert_eq!(
                    kind.encode(&text, &mut out).is_some(),
                    ok,
                    "{kind:?} {text:?}"
                );
                tried += 1;
            }
        }
        assert!(tried > 100_000);
        assert!(!Kind::named("timestamptz").is_some_and(|k| k.parse_ok("2024-01-01 10:00+1é1")));
    }

    fn numeric(v: &str) -> Vec<u8> {
        let mut b = BytesMut::new();
        encode_numeric(v, &mut b).unwrap();
        b.to_vec()
    }

    #[test]
    fn numerics_encode_as_postgres_does() {
        // 1500000.50 → digits [150, 0, 5000], weight 1, dscale 2
        assert_eq!(
            numeric("1500000.50"),
            [0, 3, 0, 1, 0, 0, 0, 2, 0, 150, 0, 0, 0x13, 0x88]
        );
        // 0.001 → digits [10], weight -1, dscale 3
        assert_eq!(numeric("0.001"), [0, 1, 0xff, 0xff, 0, 0, 0, 3, 0, 10]);
        // -12 → digits [12], weight 0, negative
        assert_eq!(numeric("-12"), [0, 1, 0, 0, 0x40, 0, 0, 0, 0, 12]);
        // 0 → no digits
        assert_eq!(numeric("0.00"), [0, 0, 0, 0, 0, 0, 0, 2]);
        let mut b = BytesMut::new();
        assert!(encode_numeric("1.500.000", &mut b).is_none());
        assert!(encode_numeric("", &mut b).is_none());
    }

    #[test]
    fn timestamps_accept_the_forms_postgres_does_here() {
        assert!(parse_timestamp("2025-02-28 10:00:00").is_some());
        assert!(parse_timestamp("2025-02-28T10:00").is_some());
        assert!(parse_timestamp("2025-02-28 10:00:00.123456").is_some());
        let (_, off) = parse_timestamp("2025-02-28T10:00:00+07:00").unwrap();
        assert_eq!(off, Some(time::UtcOffset::from_hms(7, 0, 0).unwrap()));
        assert_eq!(
            parse_timestamp("2025-02-28T10:00:00Z").unwrap().1,
            Some(time::UtcOffset::UTC)
        );
        assert!(parse_timestamp("2025-02-30 10:00").is_none());
        assert!(parse_timestamp("28/02/2025").is_none());
        assert!(Kind::Date.parse_ok("2024-02-29"));
        assert!(!Kind::Date.parse_ok("2025-02-29"));
    }

    #[test]
    fn dates_count_days_from_2000() {
        let mut b = BytesMut::new();
        Kind::Date.encode("2000-01-02", &mut b).unwrap();
        assert_eq!(b.to_vec(), 1i32.to_be_bytes());
    }
}

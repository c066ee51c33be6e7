//! Checking raw text against the type a column is mapped to (`tools.column_mapping
//! .target_data_type`). Bronze keeps text as it came; this decides what a load would reject.

/// Whether `value` can be cast to `ty` by PostgreSQL's input functions (the forms the
/// CSV `COPY` accepts). Unknown types and text types accept everything.
pub fn castable(value: &str, ty: &str) -> bool {
    let v = value.trim();
    let t = ty.trim().to_ascii_lowercase();
    let base = t.split('(').next().unwrap_or("").trim();
    match base {
        "smallint" | "int2" => v.parse::<i16>().is_ok(),
        "integer" | "int" | "int4" => v.parse::<i32>().is_ok(),
        "bigint" | "int8" => v.parse::<i64>().is_ok(),
        "numeric" | "decimal" => is_decimal(v),
        "real" | "float4" | "double precision" | "float8" => v.parse::<f64>().is_ok(),
        "boolean" | "bool" => matches!(
            v.to_ascii_lowercase().as_str(),
            "t" | "f" | "true" | "false" | "y" | "n" | "yes" | "no" | "1" | "0" | "on" | "off"
        ),
        "date" => is_date(v),
        "timestamp"
        | "timestamptz"
        | "timestamp with time zone"
        | "timestamp without time zone" => {
            v.len() >= 10
                && is_date(&v[..10])
                && (v.len() == 10 || matches!(v.as_bytes()[10], b' ' | b'T'))
        }
        _ => true,
    }
}

fn is_decimal(v: &str) -> bool {
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    let mut parts = v.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next().unwrap_or("");
    (!int.is_empty() || !frac.is_empty())
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
}

/// ISO dates (`YYYY-MM-DD`) with a real calendar day.
fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (
        v[..4].parse::<i32>(),
        v[5..7].parse::<u8>(),
        v[8..].parse::<u8>(),
    ) else {
        return false;
    };
    time::Month::try_from(m)
        .ok()
        .and_then(|m| time::Date::from_calendar_date(y, m, d).ok())
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_follow_postgres_input_rules() {
        assert!(castable(" 42 ", "integer"));
        assert!(!castable("4x2", "integer"));
        assert!(castable("-1500000.50", "numeric(18,2)"));
        assert!(!castable("1.500.000", "numeric"));
        assert!(castable("2025-02-28", "date"));
        assert!(!castable("2025-02-30", "date"));
        assert!(!castable("28/02/2025", "date"));
        assert!(castable("2025-02-28 10:00:00", "timestamp"));
        assert!(castable("yes", "boolean"));
        assert!(castable("anything at all", "text"));
        assert!(castable("x", "varchar(50)"));
    }
}

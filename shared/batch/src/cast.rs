//! Checking raw text against the type a column is mapped to (`tools.column_mapping
//! .target_data_type`). Bronze keeps text as it came; this decides what a load would reject.

use crate::pgvalue::Kind;

/// Whether `value` can be cast to `ty` — by the same parser the binary load encodes with
/// ([`Kind`]), so validation and load agree. Unknown types accept everything (PostgreSQL
/// decides at load time).
pub fn castable(value: &str, ty: &str) -> bool {
    match Kind::named(ty) {
        Some(kind) => kind.parse_ok(value),
        None => true,
    }
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

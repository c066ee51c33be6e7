//! SQL identifiers from configuration (schemas, tables, columns): validated, then quoted.
//! Never formatted into SQL raw.

use muara_core::{Error, Result};

/// Accepts `[A-Za-z_][A-Za-z0-9_$]{0,62}` (PostgreSQL's unquoted identifier shape, so the
/// names operators write in SQL keep working) and returns it double-quoted.
pub fn quote(name: &str) -> Result<String> {
    if !muara_core::names::is_sql_identifier(name) {
        return Err(Error::invalid(format!(
            "{name:?} is not an accepted SQL identifier (letters, digits, _ and $; starting with a letter or _; at most 63 characters)"
        )));
    }
    Ok(format!("\"{name}\""))
}

/// `"schema"."table"`.
pub fn qualified(schema: &str, table: &str) -> Result<String> {
    Ok(format!("{}.{}", quote(schema)?, quote(table)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_validated_and_quoted() {
        assert_eq!(quote("crm_cust_info").unwrap(), "\"crm_cust_info\"");
        assert_eq!(
            qualified("bronze_acme", "CustInfo").unwrap(),
            "\"bronze_acme\".\"CustInfo\""
        );
        for bad in [
            "",
            "1abc",
            "a b",
            "x\";drop table t;--",
            "a.b",
            &"x".repeat(64),
        ] {
            assert!(quote(bad).is_err(), "{bad:?} accepted");
        }
    }
}

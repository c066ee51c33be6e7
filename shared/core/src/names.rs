//! Names the platform accepts from outside, checked in one place: client names (they become
//! schema names and key prefixes) and SQL identifiers from configuration (quoted later, but
//! refused first).

use crate::{Error, Result};

/// A client's name: lowercase letters, digits and `_`, starting with a letter, at most 63.
pub fn check_client(c: &str) -> Result<()> {
    let mut chars = c.chars();
    let ok = matches!(chars.next(), Some(ch) if ch.is_ascii_lowercase())
        && chars.all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        && c.len() <= 63;
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "client {c:?} must be lowercase letters, digits and _, starting with a letter"
        )))
    }
}

/// A checked client name (see [`check_client`]): what the batch pipeline's messages carry, so
/// a name that reached a stage was checked once, where it came in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ClientName(String);

impl ClientName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ClientName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        check_client(s)?;
        Ok(Self(s.to_string()))
    }
}

impl TryFrom<String> for ClientName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        check_client(&s)?;
        Ok(Self(s))
    }
}

impl<'de> serde::Deserialize<'de> for ClientName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::try_from(s).map_err(serde::de::Error::custom)
    }
}

impl std::ops::Deref for ClientName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ClientName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// PostgreSQL's unquoted identifier shape, `[A-Za-z_][A-Za-z0-9_$]{0,62}`, so the names
/// operators write in SQL keep working.
pub fn is_sql_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && name.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_and_identifiers() {
        assert!(check_client("acme_2").is_ok());
        for bad in ["", "Acme", "1acme", "acme-x", "acme;drop", &"a".repeat(64)] {
            assert!(check_client(bad).is_err(), "{bad}");
        }
        assert!(is_sql_identifier("CustInfo$1") && is_sql_identifier("_x"));
        for bad in ["", "1a", "a b", "a\"b", "a.b", &"a".repeat(64)] {
            assert!(!is_sql_identifier(bad), "{bad}");
        }
    }
}

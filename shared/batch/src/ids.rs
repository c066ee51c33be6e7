//! Batch ids and batch-suffixed names.

use muara_core::{Error, Result};
use std::fmt;

/// `BATCH000001`: the original system's format, kept for its operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(pub u32);

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BATCH{:06}", self.0)
    }
}

impl serde::Serialize for BatchId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for BatchId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for BatchId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let digits = s
            .strip_prefix("BATCH")
            .filter(|d| d.len() >= 6 && d.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{s:?} is not a batch id (BATCH followed by six or more digits)"
                ))
            })?;
        digits
            .parse()
            .map(BatchId)
            .map_err(|_| Error::invalid(format!("batch id {s:?} is out of range")))
    }
}

/// Splits a file name into base and extension (`a.b.csv` → `("a.b", Some("csv"))`).
pub fn split_ext(name: &str) -> (&str, Option<&str>) {
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    }
}

/// `{base}_BATCH######.{ext}`.
pub fn with_batch(name: &str, batch: BatchId) -> String {
    match split_ext(name) {
        (base, Some(ext)) => format!("{base}_{batch}.{ext}"),
        (base, None) => format!("{base}_{batch}"),
    }
}

/// The batch a file name carries, and its name without the suffix.
pub fn batch_of(name: &str) -> Option<(BatchId, String)> {
    let (base, ext) = split_ext(name);
    let i = base.rfind("_BATCH")?;
    let id: BatchId = base[i + 1..].parse().ok()?;
    let plain = match ext {
        Some(e) => format!("{}.{e}", &base[..i]),
        None => base[..i].to_string(),
    };
    Some((id, plain))
}

/// The Parquet name of a batch-suffixed file: `{base}_BATCH######.parquet`.
pub fn parquet_name(physical_file_name: &str) -> String {
    format!("{}.parquet", split_ext(physical_file_name).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ids_format_and_parse_as_the_original_system() {
        assert_eq!(BatchId(14).to_string(), "BATCH000014");
        assert_eq!("BATCH000014".parse::<BatchId>().unwrap(), BatchId(14));
        assert_eq!(
            "BATCH1234567".parse::<BatchId>().unwrap(),
            BatchId(1_234_567)
        );
        assert!("BATCH12".parse::<BatchId>().is_err());
        assert!("batch000001".parse::<BatchId>().is_err());
    }

    #[test]
    fn file_names_carry_the_batch_suffix_before_the_extension() {
        assert_eq!(
            with_batch("cust_info.csv", BatchId(14)),
            "cust_info_BATCH000014.csv"
        );
        assert_eq!(
            with_batch("sales 2024.v2.xlsx", BatchId(1)),
            "sales 2024.v2_BATCH000001.xlsx"
        );
        assert_eq!(with_batch("README", BatchId(1)), "README_BATCH000001");
        assert_eq!(
            batch_of("cust_info_BATCH000014.csv"),
            Some((BatchId(14), "cust_info.csv".into()))
        );
        assert_eq!(batch_of("cust_info.csv"), None);
        assert_eq!(
            parquet_name("cust_info_BATCH000014.csv"),
            "cust_info_BATCH000014.parquet"
        );
    }
}

//! The object layout contract, kept from the original system:
//!
//! ```text
//! raw/{client}/{source}/{incoming,success,failed,archive}/{file}
//! data/{client}/{source}/{incoming,failed,archive}/{parquet}
//! batch_info/{client}/{incoming,success,failed,archive,refreshed}/batch_output_{client}_{BATCH}.json
//! ```

use crate::ids::BatchId;

/// A key under `raw/` or `data/`, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeKey {
    pub zone: String,
    pub client: String,
    pub source: String,
    pub area: String,
    pub file: String,
}

impl LakeKey {
    /// Parses `{zone}/{client}/{source}/{area}/{file}`; anything deeper or shallower is not a
    /// lake file (sub-folders of incoming are not part of the contract).
    pub fn parse(key: &str) -> Option<Self> {
        let parts: Vec<&str> = key.split('/').collect();
        let [zone, client, source, area, file] = parts[..] else {
            return None;
        };
        if !matches!(zone, "raw" | "data")
            || file.is_empty()
            || client.is_empty()
            || source.is_empty()
        {
            return None;
        }
        Some(Self {
            zone: zone.into(),
            client: client.into(),
            source: source.into(),
            area: area.into(),
            file: file.into(),
        })
    }

    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}",
            self.zone, self.client, self.source, self.area, self.file
        )
    }

    /// The same file in another area (`incoming` → `archive`).
    pub fn in_area(&self, area: &str) -> Self {
        Self {
            area: area.into(),
            ..self.clone()
        }
    }
}

pub fn raw_key(client: &str, source: &str, area: &str, file: &str) -> String {
    format!("raw/{client}/{source}/{area}/{file}")
}

pub fn data_key(client: &str, source: &str, area: &str, file: &str) -> String {
    format!("data/{client}/{source}/{area}/{file}")
}

pub fn manifest_key(client: &str, area: &str, batch: BatchId) -> String {
    format!("batch_info/{client}/{area}/batch_output_{client}_{batch}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_keys_parse_only_the_contract_layout() {
        let k = LakeKey::parse("raw/acme/crm/incoming/cust info.csv").unwrap();
        assert_eq!(
            (
                k.client.as_str(),
                k.source.as_str(),
                k.area.as_str(),
                k.file.as_str()
            ),
            ("acme", "crm", "incoming", "cust info.csv")
        );
        assert_eq!(
            k.in_area("archive").key(),
            "raw/acme/crm/archive/cust info.csv"
        );
        assert!(LakeKey::parse("raw/acme/crm/incoming/sub/x.csv").is_none());
        assert!(LakeKey::parse("raw/acme/incoming/x.csv").is_none());
        assert!(LakeKey::parse("other/acme/crm/incoming/x.csv").is_none());
        assert_eq!(
            manifest_key("acme", "incoming", BatchId(3)),
            "batch_info/acme/incoming/batch_output_acme_BATCH000003.json"
        );
    }
}

//! Validate mapping: the Parquet's columns against `tools.column_mapping`.

use super::util::{audit, blocking, convert_error, fetch, reject, staging};
use crate::model::{Deps, FileInput};
use crate::repo::{self, AuditColumn};
use muara_core::Result;

/// Missing (mapped, absent), extra (present, unmapped) and renamed (a missing and an extra
/// column equal once case, spaces and punctuation are ignored).
#[derive(Debug, Default, PartialEq)]
pub struct MappingDiff {
    pub missing: Vec<String>,
    pub extra: Vec<String>,
    pub renamed: Vec<(String, String)>,
}

fn normal(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

pub fn diff(file_columns: &[String], mapped: &[String]) -> MappingDiff {
    let mut missing: Vec<String> = mapped
        .iter()
        .filter(|m| !file_columns.contains(m))
        .cloned()
        .collect();
    let mut extra: Vec<String> = file_columns
        .iter()
        .filter(|c| !mapped.contains(c))
        .cloned()
        .collect();
    let mut renamed = Vec::new();
    missing.retain(
        |m| match extra.iter().position(|e| normal(e) == normal(m)) {
            Some(i) => {
                renamed.push((m.clone(), extra.remove(i)));
                false
            }
            None => true,
        },
    );
    MappingDiff {
        missing,
        extra,
        renamed,
    }
}

pub async fn validate_mapping(deps: &Deps, input: FileInput) -> Result<FileInput> {
    let (b, f) = (&input.batch, &input.file);
    repo::clear_validation(
        &deps.pool,
        b.client_id,
        &b.batch_id.to_string(),
        &f.physical_file_name,
        "mapping",
    )
    .await?;
    let mapping = repo::mapping_of(&deps.pool, &b.execution_name, f.config_id).await?;
    let dir = staging(deps)?;
    let parquet = fetch(deps, &f.parquet_key, &dir, "in.parquet").await?;
    let columns = blocking(move || {
        muara_convert::parquet_columns(&parquet)
            .map_err(|e| convert_error("reading the Parquet schema", e))
    })
    .await?;
    let mapped: Vec<String> = mapping.iter().map(|m| m.source_column.clone()).collect();
    let d = diff(&columns, &mapped);
    let problem = if mapping.is_empty() {
        Some(format!(
            "no column_mapping configured for {:?}",
            f.logical_source_file
        ))
    } else if d != MappingDiff::default() {
        let mut parts = Vec::new();
        if !d.missing.is_empty() {
            parts.push(format!("missing: {}", d.missing.join(", ")));
        }
        if !d.extra.is_empty() {
            parts.push(format!("not mapped: {}", d.extra.join(", ")));
        }
        if !d.renamed.is_empty() {
            let r: Vec<String> = d
                .renamed
                .iter()
                .map(|(m, e)| format!("{m:?} arrived as {e:?}"))
                .collect();
            parts.push(format!("renamed: {}", r.join(", ")));
        }
        Some(format!(
            "columns do not match the mapping ({})",
            parts.join("; ")
        ))
    } else {
        None
    };
    let mut missing = d.missing.clone();
    missing.extend(d.renamed.iter().map(|(m, _)| m.clone()));
    let mut extra = d.extra.clone();
    extra.extend(d.renamed.iter().map(|(_, e)| e.clone()));
    match problem {
        None => {
            repo::log_mapping(
                &deps.pool,
                b.client_id,
                &b.batch_id.to_string(),
                &f.physical_file_name,
                "PASSED",
                &[],
                &[],
                "columns match the mapping",
            )
            .await?;
            audit(deps, b, f, AuditColumn::MappingValidation, "SUCCESS", None).await?;
            Ok(input)
        }
        Some(reason) => {
            repo::log_mapping(
                &deps.pool,
                b.client_id,
                &b.batch_id.to_string(),
                &f.physical_file_name,
                "FAILED",
                &missing,
                &extra,
                &reason,
            )
            .await?;
            Err(reject(
                deps,
                b,
                f,
                AuditColumn::MappingValidation,
                "validate mapping",
                &reason,
            )
            .await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn reports_missing_extra_and_renamed_columns() {
        let d = diff(
            &v(&["cst_id", "Cst Key", "cst_firstname", "loyalty_tier"]),
            &v(&["cst_id", "cst_key", "cst_firstname", "cst_lastname"]),
        );
        assert_eq!(d.missing, v(&["cst_lastname"]));
        assert_eq!(d.extra, v(&["loyalty_tier"]));
        assert_eq!(
            d.renamed,
            vec![("cst_key".to_string(), "Cst Key".to_string())]
        );
        assert_eq!(
            diff(&v(&["a", "b"]), &v(&["b", "a"])),
            MappingDiff::default()
        );
    }
}

//! Validate rows: nulls in required columns, duplicate keys, values that would not cast to
//! their mapped type. Policy `fatal` stops the file; `warning` loads it and reports.

use super::util::{audit, blocking, convert_error, fetch, reject, staging};
use crate::cast::castable;
use crate::ledger::Buckets;
use crate::model::{Deps, FileInput};
use crate::repo::{self, AuditColumn, MappingRow, RequiredRow};
use muara_core::Result;
use serde_json::{Value, json};
use std::collections::HashSet;

const SAMPLE: usize = 5;

/// One rule's findings: how many rows broke it and the first few of them.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFinding {
    pub rule: &'static str,
    pub column: Option<String>,
    pub failed_rows: u64,
    pub sample: Vec<Value>,
}

/// Counts one broken row against `(rule, column)`, keeping the first few as a sample.
fn record(
    findings: &mut Vec<RuleFinding>,
    rule: &'static str,
    column: Option<&str>,
    sample: impl FnOnce() -> Value,
) {
    let i = match findings
        .iter()
        .position(|f| f.rule == rule && f.column.as_deref() == column)
    {
        Some(i) => i,
        None => {
            findings.push(RuleFinding {
                rule,
                column: column.map(str::to_string),
                failed_rows: 0,
                sample: vec![],
            });
            findings.len() - 1
        }
    };
    findings[i].failed_rows += 1;
    if findings[i].sample.len() < SAMPLE {
        findings[i].sample.push(sample());
    }
}

fn blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// What the rows were like, each row counted once: clean, with a value that does not cast
/// (and maybe more), or with only a missing required value or a repeated key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowKinds {
    pub clean: u64,
    pub uncastable: u64,
    pub other: u64,
}

impl RowKinds {
    /// The ledger's buckets under a policy: `fatal` refuses the whole file when any row broke
    /// a rule; `warning` loads every row (uncastable values as NULL).
    pub fn buckets(&self, fatal: bool) -> Buckets {
        let rows = self.clean + self.uncastable + self.other;
        if fatal && rows != self.clean {
            return Buckets {
                refused: rows,
                ..Buckets::default()
            };
        }
        Buckets {
            as_is: self.clean,
            nulled: self.uncastable,
            flagged: self.other,
            refused: 0,
        }
    }
}

/// Checks every row of the Parquet file; memory grows with distinct keys only.
pub fn check(
    path: &std::path::Path,
    required: &[RequiredRow],
    mapping: &[MappingRow],
) -> Result<(u64, Vec<RuleFinding>, RowKinds)> {
    let batches = muara_convert::read_string_batches(path, 8192)
        .map_err(|e| convert_error("reading the Parquet", e))?;
    let mut findings: Vec<RuleFinding> = Vec::new();
    let keys: Vec<&str> = required
        .iter()
        .filter(|r| r.is_key)
        .map(|r| r.column_name.as_str())
        .collect();
    let mut seen: HashSet<Vec<Option<String>>> = HashSet::new();
    let mut row_no = 0u64;
    let mut kinds = RowKinds::default();
    for batch in batches {
        let batch = batch.map_err(|e| convert_error("reading the Parquet", e))?;
        let col = |name: &str| batch.columns.iter().position(|c| c == name);
        for r in 0..batch.rows {
            row_no += 1;
            let (mut uncastable, mut other) = (false, false);
            for req in required {
                let value = col(&req.column_name).map(|i| &batch.values[i][r]);
                if value.is_none_or(blank) {
                    other = true;
                    record(
                        &mut findings,
                        "required_not_null",
                        Some(&req.column_name),
                        || json!({"row": row_no}),
                    );
                }
            }
            if !keys.is_empty() {
                let key: Vec<Option<String>> = keys
                    .iter()
                    .map(|k| {
                        col(k).and_then(|i| {
                            batch.values[i][r].as_deref().map(|s| s.trim().to_string())
                        })
                    })
                    .collect();
                if key.iter().all(Option::is_some) && !seen.insert(key.clone()) {
                    other = true;
                    record(
                        &mut findings,
                        "unique_key",
                        Some(&keys.join(",")),
                        || json!({"row": row_no, "key": key}),
                    );
                }
            }
            for m in mapping {
                let (Some(ty), Some(i)) = (m.target_data_type.as_deref(), col(&m.source_column))
                else {
                    continue;
                };
                if let Some(v) = batch.values[i][r].as_deref()
                    && !v.trim().is_empty()
                    && !castable(v, ty)
                {
                    uncastable = true;
                    record(
                        &mut findings,
                        "type_cast",
                        Some(&m.source_column),
                        || json!({"row": row_no, "value": v, "type": ty}),
                    );
                }
            }
            match (uncastable, other) {
                (true, _) => kinds.uncastable += 1,
                (false, true) => kinds.other += 1,
                (false, false) => kinds.clean += 1,
            }
        }
    }
    Ok((row_no, findings, kinds))
}

pub async fn validate_rows(deps: &Deps, input: FileInput) -> Result<FileInput> {
    let (b, f) = (&input.batch, &input.file);
    repo::clear_validation(
        &deps.pool,
        b.client_id,
        &b.batch_id.to_string(),
        &f.physical_file_name,
        "rows",
    )
    .await?;
    let (mapping, required) = repo::config_of(&deps.pool, &b.execution_name, f.config_id).await?;
    let dir = staging(deps)?;
    let parquet = fetch(deps, &f.parquet_key, &dir, "in.parquet").await?;
    let (rows, findings, kinds) = blocking(move || check(&parquet, &required, &mapping)).await?;
    let fatal = f.row_validation_policy == crate::model::RowPolicy::Fatal;
    crate::ledger::record_validation(
        &deps.pool,
        &crate::ledger::LedgerKey::of(b, &f.physical_file_name),
        rows,
        kinds.buckets(fatal),
    )
    .await?;
    let severity = if fatal { "fatal" } else { "warning" };
    for finding in &findings {
        repo::log_row_rule(
            &deps.pool,
            b.client_id,
            &b.batch_id.to_string(),
            &f.physical_file_name,
            finding.rule,
            finding.column.as_deref(),
            i64::try_from(finding.failed_rows).unwrap_or(i64::MAX),
            severity,
            &Value::Array(finding.sample.clone()),
        )
        .await?;
    }
    if findings.is_empty() {
        audit(deps, b, f, AuditColumn::RowValidation, "SUCCESS", None).await?;
        return Ok(input);
    }
    let summary: Vec<String> = findings
        .iter()
        .map(|x| {
            format!(
                "{} {} on {}",
                x.failed_rows,
                x.rule,
                x.column.as_deref().unwrap_or("-")
            )
        })
        .collect();
    let reason = format!(
        "{} of {rows} rows: {}",
        if fatal { "rejected" } else { "warnings" },
        summary.join("; ")
    );
    if fatal {
        return Err(reject(
            deps,
            b,
            f,
            AuditColumn::RowValidation,
            "validate rows",
            &reason,
        )
        .await?);
    }
    audit(
        deps,
        b,
        f,
        AuditColumn::RowValidation,
        "WARNING",
        Some(&reason),
    )
    .await?;
    tracing::warn!(file = %f.physical_file_name, %reason, "row validation warnings; loading anyway (policy warning)");
    Ok(input)
}

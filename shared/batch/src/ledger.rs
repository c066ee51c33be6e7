//! The per-file row ledger (`tools.file_ledger`): every row of a file is accounted for, each
//! figure counted on its own at its own stage, and the equation between them checked at
//! finalise. A file whose figures do not add up fails loudly instead of reporting SUCCESS.
//!
//! ```text
//! read (converter) = Parquet (footer) = checked (row validation)
//!                  = as is + nulled + flagged + refused
//! as is + nulled + flagged (loaded) = copied (COPY) = in bronze (after commit) = at finalise
//! ```
//!
//! Blank lines (and empty sheet rows) hold no data: the converter skips them and counts them
//! in their own bucket, `rows_blank`, outside the equation.

use deadpool_postgres::Pool;
use muara_core::Result;
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::{Deserialize, Serialize};

/// Which file and run a ledger row is about.
#[derive(Debug, Clone)]
pub struct LedgerKey<'a> {
    pub client_id: i32,
    pub batch_id: String,
    pub file: &'a str,
    pub execution: &'a str,
}

impl<'a> LedgerKey<'a> {
    /// The key of `file` in the run `b`.
    pub fn of(b: &'a crate::model::BatchRef, file: &'a str) -> Self {
        Self {
            client_id: b.client_id,
            batch_id: b.batch_id.to_string(),
            file,
            execution: &b.execution_name,
        }
    }
}

/// One file's figures for one run. `None`: the stage did not count (yet).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub raw_bytes: Option<i64>,
    pub raw_sha256: Option<String>,
    pub rows_read: Option<i64>,
    /// Blank lines / empty sheet rows the converter skipped (not in the equation).
    pub rows_blank: Option<i64>,
    pub rows_parquet: Option<i64>,
    pub rows_checked: Option<i64>,
    pub rows_as_is: Option<i64>,
    pub rows_nulled: Option<i64>,
    pub rows_flagged: Option<i64>,
    pub rows_refused: Option<i64>,
    pub rows_copied: Option<i64>,
    pub rows_in_bronze: Option<i64>,
    pub rows_at_finalise: Option<i64>,
}

/// Row validation's buckets: every row checked lands in exactly one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Buckets {
    pub as_is: u64,
    pub nulled: u64,
    pub flagged: u64,
    pub refused: u64,
}

impl Buckets {
    pub fn loaded(&self) -> u64 {
        self.as_is + self.nulled + self.flagged
    }
}

/// Why a loaded file's row ledger does not hold. Its text is the file's load error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerBreak {
    /// A figure a stage should have counted is missing.
    #[error("{0} was not counted")]
    NotCounted(&'static str),
    /// Two figures that must be equal are not.
    #[error("the row ledger does not balance: {left} {left_rows} ≠ {right} {right_rows}")]
    Unbalanced {
        left: &'static str,
        left_rows: i64,
        right: &'static str,
        right_rows: i64,
    },
}

impl Ledger {
    /// Rows the load was to write: the validated buckets that load.
    fn loaded(&self) -> Option<i64> {
        Some(self.rows_as_is? + self.rows_nulled? + self.rows_flagged?)
    }

    /// Checks the equation for a file whose load committed; the first figure that disagrees,
    /// in words, when it does not hold. A figure a stage should have counted and did not is a
    /// break too: nothing is assumed.
    pub fn check_loaded(&self) -> std::result::Result<(), LedgerBreak> {
        let need = |name: &'static str, v: Option<i64>| v.ok_or(LedgerBreak::NotCounted(name));
        let read = need("rows read by the converter", self.rows_read)?;
        let parquet = need("rows in the Parquet", self.rows_parquet)?;
        let checked = need("rows checked by validation", self.rows_checked)?;
        let buckets = need("the validation buckets", self.loaded())?;
        let refused = need("refused rows", self.rows_refused)?;
        let copied = need("rows copied", self.rows_copied)?;
        let in_bronze = need("rows in bronze after the load", self.rows_in_bronze)?;
        let at_finalise = need("rows in bronze at finalise", self.rows_at_finalise)?;
        let pairs = [
            ("rows read", read, "rows in the Parquet", parquet),
            ("rows in the Parquet", parquet, "rows checked", checked),
            (
                "rows checked",
                checked,
                "as is + nulled + flagged + refused",
                buckets + refused,
            ),
            ("rows to load", buckets, "rows copied", copied),
            (
                "rows copied",
                copied,
                "rows in bronze after commit",
                in_bronze,
            ),
            (
                "rows in bronze after commit",
                in_bronze,
                "rows in bronze at finalise",
                at_finalise,
            ),
        ];
        for (a, x, b, y) in pairs {
            if x != y {
                return Err(LedgerBreak::Unbalanced {
                    left: a,
                    left_rows: x,
                    right: b,
                    right_rows: y,
                });
            }
        }
        Ok(())
    }
}

async fn client(pool: &Pool) -> Result<deadpool_postgres::Object> {
    pool.get().await.map_err(pool_error)
}

fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Sets `columns` (constants of this module, never input) of `k`'s row to `values`, creating
/// the row if it is missing: one statement, one round trip.
async fn set(
    pool: &Pool,
    k: &LedgerKey<'_>,
    columns: &[&str],
    values: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<()> {
    let params: Vec<String> = (5..5 + columns.len()).map(|i| format!("${i}")).collect();
    let excluded: Vec<String> = columns.iter().map(|c| format!("excluded.{c}")).collect();
    let sql = format!(
        "INSERT INTO tools.file_ledger (client_id, batch_id, physical_file_name, execution_name, {})
         VALUES ($1, $2, $3, $4, {})
         ON CONFLICT (client_id, batch_id, physical_file_name, execution_name)
         DO UPDATE SET ({}, updated_at) = ({}, now())",
        columns.join(", "),
        params.join(", "),
        columns.join(", "),
        excluded.join(", ")
    );
    let mut all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        vec![&k.client_id, &k.batch_id, &k.file, &k.execution];
    all.extend_from_slice(values);
    client(pool)
        .await?
        .execute(&sql, &all)
        .await
        .map_err(|e| pg_error("writing tools.file_ledger", e))?;
    Ok(())
}

/// Convert's figures: the raw file's size and SHA-256, rows the converter wrote, rows the
/// Parquet's footer holds. (A new conversion clears an earlier verdict.)
pub async fn record_convert(
    pool: &Pool,
    k: &LedgerKey<'_>,
    raw_bytes: u64,
    raw_sha256: &str,
    rows_read: u64,
    rows_blank: u64,
    rows_parquet: u64,
) -> Result<()> {
    let (none_bool, none_text): (Option<bool>, Option<&str>) = (None, None);
    set(
        pool,
        k,
        &[
            "raw_bytes",
            "raw_sha256",
            "rows_read",
            "rows_blank",
            "rows_parquet",
            "balanced",
            "problem",
        ],
        &[
            &n(raw_bytes),
            &raw_sha256,
            &n(rows_read),
            &n(rows_blank),
            &n(rows_parquet),
            &none_bool,
            &none_text,
        ],
    )
    .await
}

/// A run that starts from the Parquet (reprocessing) carries the convert figures of the latest
/// earlier run of the same file that has them.
pub async fn carry_convert(pool: &Pool, k: &LedgerKey<'_>) -> Result<()> {
    client(pool)
        .await?
        .execute(
            "INSERT INTO tools.file_ledger (client_id, batch_id, physical_file_name, execution_name,
                                            raw_bytes, raw_sha256, rows_read, rows_blank, rows_parquet)
             SELECT $1, $2, $3, $4, raw_bytes, raw_sha256, rows_read, rows_blank, rows_parquet
             FROM tools.file_ledger
             WHERE client_id = $1 AND batch_id = $2 AND physical_file_name = $3
               AND execution_name <> $4 AND rows_read IS NOT NULL
             ORDER BY updated_at DESC LIMIT 1
             ON CONFLICT (client_id, batch_id, physical_file_name, execution_name)
             DO UPDATE SET (raw_bytes, raw_sha256, rows_read, rows_blank, rows_parquet, updated_at) =
                 (excluded.raw_bytes, excluded.raw_sha256, excluded.rows_read, excluded.rows_blank,
                  excluded.rows_parquet, now())",
            &[&k.client_id, &k.batch_id, &k.file, &k.execution],
        )
        .await
        .map_err(|e| pg_error("writing tools.file_ledger", e))?;
    Ok(())
}

/// Row validation's figures.
pub async fn record_validation(
    pool: &Pool,
    k: &LedgerKey<'_>,
    checked: u64,
    b: Buckets,
) -> Result<()> {
    set(
        pool,
        k,
        &[
            "rows_checked",
            "rows_as_is",
            "rows_nulled",
            "rows_flagged",
            "rows_refused",
        ],
        &[
            &n(checked),
            &n(b.as_is),
            &n(b.nulled),
            &n(b.flagged),
            &n(b.refused),
        ],
    )
    .await
}

/// The load's figures: COPY's own count, and the file's rows in bronze after the commit.
pub async fn record_load(
    pool: &Pool,
    k: &LedgerKey<'_>,
    copied: u64,
    in_bronze: i64,
) -> Result<()> {
    set(
        pool,
        k,
        &["rows_copied", "rows_in_bronze"],
        &[&n(copied), &in_bronze],
    )
    .await
}

/// A file that failed for good loaded nothing: every row it had is refused (with the file's
/// reason, on its audit row). The rows are counted as far as the file got (validation, the
/// Parquet, else the converter's count); a file that never converted has none counted.
pub async fn record_failed(pool: &Pool, k: &LedgerKey<'_>) -> Result<()> {
    client(pool)
        .await?
        .execute(
            "UPDATE tools.file_ledger SET rows_refused = coalesce(rows_checked, rows_parquet, rows_read),
                    rows_as_is = 0, rows_nulled = 0, rows_flagged = 0, updated_at = now()
             WHERE client_id = $1 AND batch_id = $2 AND physical_file_name = $3 AND execution_name = $4",
            &[&k.client_id, &k.batch_id, &k.file, &k.execution],
        )
        .await
        .map_err(|e| pg_error("writing tools.file_ledger", e))?;
    Ok(())
}

/// Finalise's recount and verdict.
pub async fn record_check(
    pool: &Pool,
    k: &LedgerKey<'_>,
    at_finalise: Option<i64>,
    problem: Option<&str>,
) -> Result<()> {
    set(
        pool,
        k,
        &["rows_at_finalise", "balanced", "problem"],
        &[&at_finalise, &problem.is_none(), &problem],
    )
    .await
}

/// The ledger row of `k`.
pub async fn read(pool: &Pool, k: &LedgerKey<'_>) -> Result<Ledger> {
    let c = client(pool).await?;
    let row = c
        .query_opt(
            "SELECT raw_bytes, raw_sha256, rows_read, rows_parquet, rows_checked, rows_as_is, rows_nulled,
                    rows_flagged, rows_refused, rows_copied, rows_in_bronze, rows_at_finalise, rows_blank
             FROM tools.file_ledger
             WHERE client_id = $1 AND batch_id = $2 AND physical_file_name = $3 AND execution_name = $4",
            &[&k.client_id, &k.batch_id, &k.file, &k.execution],
        )
        .await
        .map_err(|e| pg_error("reading tools.file_ledger", e))?;
    Ok(row
        .map(|r| Ledger {
            raw_bytes: r.get(0),
            raw_sha256: r.get(1),
            rows_read: r.get(2),
            rows_parquet: r.get(3),
            rows_checked: r.get(4),
            rows_as_is: r.get(5),
            rows_nulled: r.get(6),
            rows_flagged: r.get(7),
            rows_refused: r.get(8),
            rows_copied: r.get(9),
            rows_in_bronze: r.get(10),
            rows_at_finalise: r.get(11),
            rows_blank: r.get(12),
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balanced() -> Ledger {
        Ledger {
            raw_bytes: Some(100),
            raw_sha256: Some("ab".into()),
            rows_read: Some(10),
            rows_blank: Some(3),
            rows_parquet: Some(10),
            rows_checked: Some(10),
            rows_as_is: Some(7),
            rows_nulled: Some(2),
            rows_flagged: Some(1),
            rows_refused: Some(0),
            rows_copied: Some(10),
            rows_in_bronze: Some(10),
            rows_at_finalise: Some(10),
        }
    }

    #[test]
    fn a_balanced_ledger_holds_and_every_break_is_named() {
        assert_eq!(balanced().check_loaded(), Ok(()));
        type Break = fn(&mut Ledger);
        let cases: [(Break, &str); 7] = [
            (
                |l| l.rows_parquet = Some(9),
                "rows read 10 ≠ rows in the Parquet 9",
            ),
            (
                |l| l.rows_checked = Some(11),
                "rows in the Parquet 10 ≠ rows checked 11",
            ),
            (
                |l| l.rows_as_is = Some(6),
                "rows checked 10 ≠ as is + nulled + flagged + refused 9",
            ),
            (
                |l| l.rows_copied = Some(9),
                "rows to load 10 ≠ rows copied 9",
            ),
            (
                |l| l.rows_in_bronze = Some(11),
                "rows copied 10 ≠ rows in bronze after commit 11",
            ),
            (
                |l| l.rows_at_finalise = Some(4),
                "rows in bronze after commit 10 ≠ rows in bronze at finalise 4",
            ),
            (|l| l.rows_copied = None, "rows copied was not counted"),
        ];
        for (break_it, expected) in cases {
            let mut l = balanced();
            break_it(&mut l);
            let err = l.check_loaded().expect_err(expected).to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}

//! The keyword sheet: a Google Sheet published as CSV (File → Share → Publish to web → CSV)
//! with the columns `opening`, `booking`, `transaction`, one keyword per cell. A sync fetches
//! it, checks it, and replaces the keyword set in one transaction; a sheet that cannot be read
//! or checked leaves the old set in place, and every attempt is recorded in
//! `funnel.keyword_sync` with its reason.

use crate::classify::{Keyword, Kind};
use deadpool_postgres::Pool;
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use std::time::Duration;

/// Largest sheet read.
pub const MAX_SHEET_BYTES: usize = 5 << 20;

/// What is wrong with a keyword sheet. Its text is the reason a sync records.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    /// The first row cannot be read as CSV.
    #[error("the sheet has no readable header row: {0}")]
    NoHeader(#[source] csv::Error),
    /// One or more of the `opening`, `booking`, `transaction` columns is not in the header.
    #[error(
        "the sheet has no {} column (its header row is: {})",
        missing.join(", "),
        header.join(", ")
    )]
    MissingColumns {
        missing: Vec<&'static str>,
        header: Vec<String>,
    },
    /// A row that is not valid CSV (`row` counts from 1, the header).
    #[error("row {row}: {source}")]
    BadRow {
        row: usize,
        #[source]
        source: csv::Error,
    },
    /// A kind's column has no keyword at all.
    #[error("the {} column is empty", .0.as_str())]
    EmptyColumn(Kind),
}

/// The keywords in a sheet's CSV text. Header names are matched case-insensitively; other
/// columns are ignored; empty cells are skipped.
pub fn parse(csv_text: &str) -> std::result::Result<Vec<Keyword>, SheetError> {
    let text = csv_text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(SheetError::NoHeader)?.clone();
    let column = |kind: Kind| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(kind.as_str()))
    };
    let kinds = [Kind::Opening, Kind::Booking, Kind::Transaction];
    let missing: Vec<&'static str> = kinds
        .iter()
        .filter(|k| column(**k).is_none())
        .map(|k| k.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(SheetError::MissingColumns {
            missing,
            header: headers.iter().map(str::to_owned).collect(),
        });
    }
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|source| SheetError::BadRow { row: i + 2, source })?;
        for kind in kinds {
            let Some(cell) = column(kind).and_then(|c| record.get(c)) else {
                continue;
            };
            let keyword = cell.trim();
            if !keyword.is_empty() {
                out.push(Keyword {
                    kind,
                    keyword: keyword.to_string(),
                    channel: None,
                });
            }
        }
    }
    for kind in kinds {
        if !out.iter().any(|k| k.kind == kind) {
            return Err(SheetError::EmptyColumn(kind));
        }
    }
    Ok(out)
}

/// Records one sync attempt; a failed one with its error's whole chain.
pub async fn record(pool: &Pool, source: &str, outcome: &Result<usize>) -> Result<()> {
    let client = pool.get().await.map_err(pool_error)?;
    let (ok, n, err) = match outcome {
        Ok(n) => (true, Some(i32::try_from(*n).unwrap_or(i32::MAX)), None),
        Err(e) => (false, None, Some(e.chain())),
    };
    client
        .execute(
            "INSERT INTO funnel.keyword_sync (source, ok, keywords, error) VALUES ($1, $2, $3, $4)",
            &[&source, &ok, &n, &err],
        )
        .await
        .map_err(|e| pg_error("recording a keyword sync", e))?;
    Ok(())
}

/// Fetches and checks the sheet at `url` (http or https, redirects followed).
pub async fn fetch(url: &str) -> Result<Vec<Keyword>> {
    let body = crate::client::get(url, MAX_SHEET_BYTES, Duration::from_secs(30)).await?;
    let text =
        std::str::from_utf8(&body).map_err(|_| Error::invalid("the sheet is not UTF-8 text"))?;
    parse(text).map_err(|e| Error::invalid(e.to_string()))
}

/// Fetches the sheet at `url` and replaces the keyword set with it. `Ok(n)` keywords stored;
/// `Err` with the reason when the sheet was unreachable or invalid (the old set stays). Every
/// attempt is recorded.
pub async fn sync(pool: &Pool, url: &str) -> Result<usize> {
    let outcome: std::result::Result<usize, Error> = async {
        let keywords = fetch(url).await?;
        crate::service::replace_keywords(pool, &keywords, &format!("sheet {url}")).await
    }
    .await;
    record(pool, url, &outcome).await?;
    match &outcome {
        Ok(n) => tracing::info!(%url, keywords = n, "keyword sheet synced"),
        Err(e) => {
            tracing::error!(%url, error = %e.chain(), "keyword sheet not synced; the keyword set is unchanged")
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sheet_with_ragged_columns_and_empty_cells() {
        let csv = "\u{feff}Opening,Booking,Transaction,notes\nhalo,booking,transfer,x\ninfo,pesan,,\n\"mau tanya, kak\",,bayar\n,,\n";
        let k = parse(csv).expect("valid");
        let words: Vec<(&str, &str)> = k
            .iter()
            .map(|k| (k.kind.as_str(), k.keyword.as_str()))
            .collect();
        assert_eq!(
            words,
            [
                ("opening", "halo"),
                ("booking", "booking"),
                ("transaction", "transfer"),
                ("opening", "info"),
                ("booking", "pesan"),
                ("opening", "mau tanya, kak"),
                ("transaction", "bayar")
            ]
        );
    }

    #[test]
    fn what_is_wrong_with_a_sheet_is_said() {
        let e = parse("opening,booking\nhalo,booking\n")
            .expect_err("missing column")
            .to_string();
        assert_eq!(
            e,
            "the sheet has no transaction column (its header row is: opening, booking)"
        );
        let e = parse("opening,booking,transaction\nhalo,booking,\n")
            .expect_err("empty column")
            .to_string();
        assert_eq!(e, "the transaction column is empty");
        let e = parse("").expect_err("nothing").to_string();
        assert!(e.contains("no opening, booking, transaction column"), "{e}");
    }
}

//! The funnel as its routes (`crate::http`) serve it: the webhook's ingest, the report and
//! export, and the keyword lists.

use crate::classify::{Classifier, Keyword, default_precedence};
use crate::ingest::Ingest;
use crate::report::{self, Filter, FunnelReport};
use bytes::Bytes;
use deadpool_postgres::Pool;
use futures::stream::BoxStream;
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Service {
    pub ingest: Ingest,
    pub pool: Pool,
    /// The time zone days are counted in (`MUARA_FUNNEL_TIMEZONE`).
    pub timezone: String,
}

/// Replaces the whole keyword set in one transaction; refuses a set the classifier cannot use
/// (or an empty one), leaving the old set in place. Returns how many keywords are stored.
pub async fn replace_keywords(pool: &Pool, keywords: &[Keyword], source: &str) -> Result<usize> {
    Classifier::new(keywords, &default_precedence()).map_err(|e| Error::invalid(e.to_string()))?;
    if keywords.is_empty() {
        return Err(Error::invalid(
            "the keyword set is empty: every message would go unclassified",
        ));
    }
    let mut client = pool.get().await.map_err(pool_error)?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error("starting a keyword update", e))?;
    tx.execute("DELETE FROM funnel.keyword", &[])
        .await
        .map_err(|e| pg_error("replacing keywords", e))?;
    let mut stored = 0;
    for k in keywords {
        stored += tx
            .execute(
                "INSERT INTO funnel.keyword (kind, keyword, channel, source) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&k.kind.as_str(), &k.keyword.trim(), &k.channel.as_deref().map(str::trim), &source],
            )
            .await
            .map_err(|e| pg_error("replacing keywords", e))?;
    }
    tx.commit()
        .await
        .map_err(|e| pg_error("committing keywords", e))?;
    Ok(usize::try_from(stored).unwrap_or(0))
}

/// A keyword set as `PUT /keywords` takes it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct KeywordSet {
    pub keywords: Vec<Keyword>,
    /// Where the set came from (`muara funnel sync-keywords` names its sheet).
    #[serde(default)]
    pub source: Option<String>,
}

/// The stored keyword set as `GET /keywords` answers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeywordList {
    /// How many keywords the set holds.
    pub count: usize,
    /// By kind, keyword, then channel.
    pub keywords: Vec<Keyword>,
}

impl Service {
    /// The funnel report for the query parameters (`from`, `to`, `channel`).
    pub async fn report(&self, params: &BTreeMap<String, String>) -> Result<FunnelReport> {
        report::report(&self.pool, &Filter::from_params(params, &self.timezone)?).await
    }

    /// The funnel rows as CSV chunks, header first.
    pub async fn export(
        &self,
        params: &BTreeMap<String, String>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        report::export(&self.pool, &Filter::from_params(params, &self.timezone)?).await
    }

    /// The stored keyword set.
    pub async fn keywords(&self) -> Result<KeywordList> {
        let keywords = crate::worker::load_keywords(&self.pool).await?;
        Ok(KeywordList {
            count: keywords.len(),
            keywords,
        })
    }

    /// Replaces the whole keyword set and records where it came from; how many are stored.
    /// A set the classifier cannot use is an `Invalid` error and changes nothing.
    pub async fn put_keywords(&self, set: KeywordSet) -> Result<usize> {
        let source = set.source.unwrap_or_else(|| "api".into());
        let outcome = replace_keywords(&self.pool, &set.keywords, &source).await;
        if let Err(e) = crate::sheet::record(&self.pool, &source, &outcome).await {
            tracing::warn!(error = %e.chain(), "keyword update not recorded");
        }
        outcome
    }
}

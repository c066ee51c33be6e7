//! Every sidecar in the lake accounted for: the recordings ledger.
//!
//! A sidecar is written last, once its audio is verified, so each sidecar in the lake is a
//! recording the platform accepted. [`reconcile`] lists them and puts each in exactly one
//! bucket, every figure from its own witness (the listing, the index, the error table):
//!
//! `sidecars = indexed + refused + duplicates + young + unaccounted`
//!
//! - `indexed`: `recordings.recording` holds the row with this sidecar key;
//! - `refused`: `recordings.index_error` holds it, with the reason;
//! - `duplicates`: another sidecar key holds the same recording (same call id and audio);
//! - `young`: written within the settle time (its notification may still be on its way);
//! - `unaccounted`: none of these — a notification that never arrived or was dropped. With
//!   `repair`, each is indexed now (which indexes or refuses it, with its reason).
//!
//! The ledger balances when nothing is unaccounted; a repair does not make it balance (the
//! run that found them reports them), the next run does.

use crate::Deps;
use muara_core::Result;
use muara_db::lookup::present;
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;

/// The log line of a run that found something unaccounted (template.yaml's alarm counts it).
pub const UNACCOUNTED: &str = "recordings ledger: unaccounted sidecars";
/// How long after its upload a sidecar may still be on its way to the indexer.
pub const SETTLE: Duration = Duration::from_secs(15 * 60);

/// The ledger of the sidecars under one prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ledger {
    pub prefix: String,
    pub sidecars: u64,
    pub indexed: u64,
    pub refused: u64,
    pub duplicates: u64,
    pub young: u64,
    /// Sidecars no bucket held (before repair).
    pub unaccounted: Vec<String>,
    /// Of those, how many a repair indexed or refused.
    pub repaired: u64,
}

impl Ledger {
    /// Nothing unaccounted.
    pub fn balanced(&self) -> bool {
        self.unaccounted.is_empty()
    }
}

/// Reconciles the sidecars under `prefix` (e.g. `recordings/`) written since `since`.
#[tracing::instrument(name = "ledger", skip_all, fields(pipeline = "recordings", %prefix))]
pub async fn reconcile(
    deps: &Deps,
    prefix: &str,
    since: Option<OffsetDateTime>,
    settle: Duration,
    repair: bool,
) -> Result<Ledger> {
    let listed = muara_core::reconcile::list(
        deps.store.as_ref(),
        prefix,
        crate::key::is_sidecar,
        since,
        settle,
    )
    .await?;
    let (keys, young) = (listed.keys, listed.young);
    let mut ledger = Ledger {
        prefix: prefix.to_string(),
        sidecars: keys.len() as u64,
        ..Ledger::default()
    };
    let client = deps.pool.get().await.map_err(pool_error)?;
    let indexed = present(
        &client,
        "SELECT sidecar_key FROM recordings.recording WHERE sidecar_key = ANY($1)",
        &keys,
        "reading indexed sidecars",
    )
    .await?;
    let refused = present(
        &client,
        "SELECT DISTINCT sidecar_key FROM recordings.index_error WHERE sidecar_key = ANY($1)",
        &keys,
        "reading refused sidecars",
    )
    .await?;
    for key in keys {
        if indexed.contains(&key) {
            ledger.indexed += 1;
        } else if refused.contains(&key) {
            ledger.refused += 1;
        } else if young.contains(&key) {
            ledger.young += 1;
        } else if duplicate(deps, &client, &key).await? {
            ledger.duplicates += 1;
        } else {
            ledger.unaccounted.push(key);
        }
    }
    if repair {
        for key in &ledger.unaccounted {
            match crate::index::index_sidecar(deps.store.as_ref(), &deps.pool, key).await {
                Ok(outcome) => {
                    tracing::warn!(%key, ?outcome, "unaccounted sidecar indexed by the reconciliation");
                    ledger.repaired += 1;
                }
                Err(e) => {
                    tracing::error!(%key, error = %e.chain(), "unaccounted sidecar could not be indexed")
                }
            }
        }
    }
    if ledger.balanced() {
        tracing::info!(
            prefix,
            sidecars = ledger.sidecars,
            indexed = ledger.indexed,
            refused = ledger.refused,
            duplicates = ledger.duplicates,
            young = ledger.young,
            "recordings ledger balanced"
        );
    } else {
        // The alarm's metric filter matches this message (template.yaml).
        tracing::error!(
            prefix,
            sidecars = ledger.sidecars,
            unaccounted = ledger.unaccounted.len(),
            repaired = ledger.repaired,
            "{UNACCOUNTED}"
        );
    }
    Ok(ledger)
}

/// Whether the sidecar's recording is indexed under another sidecar key (the same call id
/// and audio uploaded twice).
async fn duplicate(deps: &Deps, client: &deadpool_postgres::Object, key: &str) -> Result<bool> {
    let raw = match deps.store.get(key).await {
        Ok(raw) => raw,
        Err(e) if e.kind() == muara_core::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let Ok(sidecar) = crate::sidecar::Sidecar::parse(&raw) else {
        return Ok(false);
    };
    let row = client
        .query_opt(
            "SELECT 1 FROM recordings.recording WHERE call_id = $1 AND audio_sha256 = $2",
            &[&sidecar.recording.call_id, &sidecar.audio.sha256],
        )
        .await
        .map_err(|e| pg_error("reading an indexed recording", e))?;
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_alarm_counts_the_unaccounted_log_line() {
        let template = include_str!("../../../template.yaml");
        assert!(template.contains(&format!(
            "FilterPattern: '{{ $.fields.message = \"{}\" }}'",
            super::UNACCOUNTED
        )));
    }
}

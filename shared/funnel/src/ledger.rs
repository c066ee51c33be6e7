//! Every accepted message accounted for: the funnel ledger.
//!
//! The webhook keeps a message's raw body at [`raw_key`](crate::ingest::raw_key) — one object
//! per message identity — before it queues the message and before it answers, so each such
//! object is a message the platform took in. [`reconcile`] lists them and puts each in exactly
//! one bucket, every figure from its own witness (the listing, `funnel.message`,
//! `funnel.rejected`):
//!
//! `messages = stored + refused + young + unaccounted`
//!
//! - `stored`: `funnel.message` holds it (its raw key);
//! - `refused`: `funnel.rejected` holds it with the reason (a phone or body the worker could
//!   not use);
//! - `young`: kept within the settle time (it may still be in the queue);
//! - `unaccounted`: none of these — a queue message lost, or a claim whose queueing failed and
//!   whose sender never came back. With `repair`, each is queued again (the worker stores it
//!   once: its identity is the key).
//!
//! Bodies kept for other reasons (`raw-messages/{rejected,unknown,unreadable,conflict}/…`) are
//! refusals the webhook answered as such, recorded in `funnel.rejected`; they are not listed.

use crate::ingest::raw_key;
use crate::webhook::{Body, parse};
use crate::worker::QueuedRef;
use deadpool_postgres::Pool;
use muara_core::ports::{ObjectStore, OutgoingMessage, Queue};
use muara_core::{Error, Result};
use muara_db::lookup::present;
use muara_db::pool::pool_error;
use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;

/// Where raw message bodies are kept.
pub const PREFIX: &str = "raw-messages/";
/// The log line of a run that found something unaccounted (template.yaml's alarm counts it).
pub const UNACCOUNTED: &str = "funnel ledger: unaccounted messages";
/// How long after it was kept a message may still be in the queue.
pub const SETTLE: Duration = Duration::from_secs(15 * 60);

/// The ledger of the messages kept under [`PREFIX`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ledger {
    pub messages: u64,
    pub stored: u64,
    pub refused: u64,
    pub young: u64,
    /// Messages no bucket held (before repair).
    pub unaccounted: Vec<String>,
    /// Of those, how many were queued again.
    pub requeued: u64,
}

impl Ledger {
    /// Nothing unaccounted.
    pub fn balanced(&self) -> bool {
        self.unaccounted.is_empty()
    }
}

/// `raw-messages/yyyy/mm/dd/{channel}/…`: a message's raw body (not a kept refusal).
fn message_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let mut parts = rest.split('/');
    let year = parts.next()?;
    (year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit())).then_some(())?;
    let (_month, _day) = (parts.next()?, parts.next()?);
    let channel = parts.next()?;
    key.ends_with(".json").then_some(channel)
}

/// Reconciles the message bodies kept since `since`; with `queue`, queues the unaccounted
/// ones again.
#[tracing::instrument(name = "ledger", skip_all, fields(pipeline = "funnel"))]
pub async fn reconcile(
    store: &dyn ObjectStore,
    pool: &Pool,
    queue: Option<&dyn Queue>,
    since: Option<OffsetDateTime>,
    settle: Duration,
) -> Result<Ledger> {
    let listed =
        muara_core::reconcile::list(store, PREFIX, |k| message_key(k).is_some(), since, settle)
            .await?;
    let (keys, young) = (listed.keys, listed.young);
    let mut ledger = Ledger {
        messages: keys.len() as u64,
        ..Ledger::default()
    };
    let client = pool.get().await.map_err(pool_error)?;
    let stored = present(
        &client,
        "SELECT raw_key FROM funnel.message WHERE raw_key = ANY($1)",
        &keys,
        "reading stored messages",
    )
    .await?;
    let refused = present(
        &client,
        "SELECT DISTINCT raw_key FROM funnel.rejected WHERE raw_key = ANY($1)",
        &keys,
        "reading refused messages",
    )
    .await?;
    for key in keys {
        if stored.contains(&key) {
            ledger.stored += 1;
        } else if refused.contains(&key) {
            ledger.refused += 1;
        } else if young.contains(&key) {
            ledger.young += 1;
        } else {
            ledger.unaccounted.push(key);
        }
    }
    if let Some(queue) = queue {
        for key in &ledger.unaccounted {
            match requeue(store, queue, key).await {
                Ok(()) => {
                    tracing::warn!(%key, "unaccounted message queued again by the reconciliation");
                    ledger.requeued += 1;
                }
                Err(e) => {
                    tracing::error!(%key, error = %e.chain(), "unaccounted message could not be queued again")
                }
            }
        }
    }
    if ledger.balanced() {
        tracing::info!(
            messages = ledger.messages,
            stored = ledger.stored,
            refused = ledger.refused,
            young = ledger.young,
            "funnel ledger balanced"
        );
    } else {
        // The alarm's metric filter matches this message (template.yaml).
        tracing::error!(
            messages = ledger.messages,
            unaccounted = ledger.unaccounted.len(),
            requeued = ledger.requeued,
            "{UNACCOUNTED}"
        );
    }
    Ok(ledger)
}

/// Queues the message kept at `key` again: its body is read and the message whose raw key it
/// is found in it.
async fn requeue(store: &dyn ObjectStore, queue: &dyn Queue, key: &str) -> Result<()> {
    let route = message_key(key).unwrap_or_default();
    let body = store.get(key).await?;
    let messages = match parse(&body, route) {
        Ok(Body::Messages { messages, .. }) => messages,
        Ok(Body::Unknown(why)) => {
            return Err(Error::invalid(format!(
                "{key}: the kept body no longer reads: {why}"
            )));
        }
        Err(e) => {
            return Err(Error::invalid(format!(
                "{key}: the kept body no longer reads: {e}"
            )));
        }
    };
    let m = messages.iter().find(|m| raw_key(m) == key).ok_or_else(|| {
        Error::invalid(format!("{key}: no message of the kept body has this key"))
    })?;
    let queued = QueuedRef {
        key: key.to_string(),
        message_id: m.message_id.clone(),
        channel: m.channel.clone(),
        source: m.source.clone(),
        route: Some(route.to_string()),
    };
    let out = OutgoingMessage::new(serde_json::to_string(&queued)?);
    queue.send_batch(std::slice::from_ref(&out)).await?;
    Ok(())
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

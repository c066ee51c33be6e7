//! The idempotent-send protocol shared by every ingest (events, funnel messages): a request
//! claims each new id ([`IdempotencyStore::begin_many`]), makes what it claimed durable (a queue
//! message, a raw object), then completes the claims — in the spirit of Powertools'
//! idempotency utility.
//!
//! - A send that fails frees the claims at once ([`IdempotencyStore::abandon`]), so the
//!   sender's retry takes them without waiting for them to expire; the failure is returned.
//! - A completion that fails after a durable send is logged, not failed: what was sent stays
//!   sent, the claims expire on their own, and a repeat is caught downstream by the storage
//!   key (which stays the final arbiter).

use crate::Result;
use crate::ports::IdempotencyStore;
use serde_json::Value;
use std::time::Duration;

/// Runs `send` for the claimed `keys`, then completes them with `done` (kept `retention`), or
/// abandons them when `send` fails. Returns what `send` returned.
pub async fn send_claimed<T, Fut>(
    store: &dyn IdempotencyStore,
    keys: &[String],
    done: &Value,
    retention: Duration,
    send: Fut,
) -> Result<T>
where
    Fut: std::future::Future<Output = Result<T>>,
{
    let sent = match send.await {
        Ok(t) => t,
        Err(e) => {
            for key in keys {
                if let Err(err) = store.abandon(key).await {
                    tracing::warn!(%key, error = %err.chain(), "could not abandon a claim; it expires on its own");
                }
            }
            return Err(e);
        }
    };
    if let Err(e) = store.complete_many(keys, done, retention).await {
        tracing::warn!(claims = keys.len(), error = %e.chain(), "sent, but the claims could not be completed; they expire on their own and the storage key catches a repeat");
    }
    Ok(sent)
}

use crate::Result;
use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;

/// Proof of holding a lock. `token` changes with every acquisition, so a holder whose lease
/// expired and was stolen cannot release or renew the new holder's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub key: String,
    pub owner: String,
    pub token: String,
}

/// Who holds a lock, as [`Locks::holder`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub owner: String,
    pub token: String,
    /// Time left before the lease expires on its own.
    pub expires_in: Duration,
}

/// Mutual exclusion with expiry: a crashed holder never blocks others for longer than its TTL,
/// and a holder known to be gone can be replaced at once ([`Locks::take_over`]).
#[async_trait]
pub trait Locks: Send + Sync {
    /// Takes `key` for `ttl` when free or expired; `Ok(None)` when someone else holds it.
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Option<Lease>>;
    /// Extends a lease still held and records `lease.owner` as its holder (so a requester can
    /// hand its lease to the execution it started); `false` when it was lost.
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool>;
    /// The live holder of `key`, if any (an expired lease is no holder).
    async fn holder(&self, key: &str) -> Result<Option<Holder>>;
    /// Takes `key` from the holder whose lease token is `token` — one the caller has found to be
    /// gone — whatever time that lease had left. `Ok(None)` when the lock changed hands (or was
    /// released) in between, so two callers can never both take over one holder.
    async fn take_over(
        &self,
        key: &str,
        token: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>>;
    /// Releases a lease still held; `false` when it had already been lost.
    async fn release(&self, lease: &Lease) -> Result<bool>;
}

/// What [`IdempotencyStore::begin`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// No record existed (or it had expired): the caller now owns the work.
    Started,
    /// Another caller is working on the same key and its claim has not expired.
    InProgress,
    /// The work was done before; here is its recorded result.
    Completed(Value),
    /// A record exists for this key with a different payload hash.
    Conflict { existing_hash: String },
}

/// Idempotency records: conditional writes with states (in progress / completed), a payload
/// hash to tell a retry from a different request reusing a key, and expiry.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for `claim_ttl`, unless a live record exists.
    async fn begin(&self, key: &str, payload_hash: &str, claim_ttl: Duration) -> Result<Begin>;
    /// Marks the claimed key completed with `result`, kept for `retention`.
    async fn complete(&self, key: &str, result: &Value, retention: Duration) -> Result<()>;
    /// Drops an in-progress claim so the work can be tried again at once.
    async fn abandon(&self, key: &str) -> Result<()>;

    /// [`begin`](Self::begin) for many distinct keys, answers in the same order. Adapters that
    /// can do it in one round trip override this; the default runs the claims concurrently.
    async fn begin_many(
        &self,
        items: &[(String, String)],
        claim_ttl: Duration,
    ) -> Result<Vec<Begin>> {
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(32) {
            let answers = futures::future::join_all(
                chunk
                    .iter()
                    .map(|(key, hash)| self.begin(key, hash, claim_ttl)),
            )
            .await;
            for a in answers {
                out.push(a?);
            }
        }
        Ok(out)
    }

    /// [`complete`](Self::complete) for many keys.
    async fn complete_many(
        &self,
        keys: &[String],
        result: &Value,
        retention: Duration,
    ) -> Result<()> {
        for chunk in keys.chunks(32) {
            for r in futures::future::join_all(
                chunk
                    .iter()
                    .map(|key| self.complete(key, result, retention)),
            )
            .await
            {
                r?;
            }
        }
        Ok(())
    }
}

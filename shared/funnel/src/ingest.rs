//! The webhook side: `POST /webhook/{channel}` and WhatsApp's verification `GET`.
//!
//! Per body: the signature (when a secret is configured) → parse → for each message, claim its
//! identity `(channel, source, message_id)` (an idempotency record: a message seen before is
//! acknowledged and not processed twice) → keep the raw body in the lake at
//! `raw-messages/{yyyy}/{mm}/{dd}/{channel}[/{source}]/{message_id}.json` → queue a reference →
//! complete the claims. The answer goes out once the references are queued: the worker does
//! the rest. A message another delivery is still handling is answered 503 (retry), never
//! acknowledged as a duplicate. Bodies that are not JSON or of no known shape are kept raw
//! under `raw-messages/rejected/` and `raw-messages/unknown/`, counted and reported.

use crate::store;
use crate::webhook::{self, Body, Incoming};
use crate::worker::QueuedRef;
use bytes::Bytes;
use deadpool_postgres::Pool;
use muara_core::Result;
use muara_core::checksum::sha256_hex;
use muara_core::ports::{Begin, IdempotencyStore, ObjectStore, OutgoingMessage, PutOptions, Queue};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

const CLAIM_TTL: Duration = Duration::from_secs(60);
const RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// What claiming a body's messages found.
#[derive(Debug, Default)]
struct Accepted {
    new: usize,
    duplicates: usize,
    /// Held by another delivery that has not finished.
    in_progress: usize,
    /// `(message_id, reason)` of messages that reuse an identity with other content.
    conflicts: Vec<(String, String)>,
}

/// What a webhook delivery came to. The routes (`crate::http`) answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The channel is not a valid channel name.
    UnknownChannel(String),
    /// The signature did not match the body.
    BadSignature(String),
    /// Storage was unavailable: nothing is acknowledged, the sender retries.
    Unavailable(String),
    /// The body is not JSON; it is kept under `kept`.
    NotJson { error: String, kept: String },
    /// JSON of a shape no parser knows; kept under `kept` for a later look.
    UnknownShape { reason: String, kept: String },
    /// Messages, each accepted, a duplicate, held by another delivery, or refused.
    Messages(Tally),
}

/// The messages of one delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub accepted: usize,
    pub duplicates: usize,
    /// Held by another delivery that has not finished: the sender must come back.
    pub in_progress: usize,
    /// Status updates (WhatsApp delivery receipts), counted, not stored.
    pub statuses: usize,
    pub refused: Vec<Refused>,
}

/// A message not stored, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refused {
    pub message_id: Option<String>,
    pub reason: String,
}

/// The answer to WhatsApp's verification request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// The token matched: the challenge goes back as is.
    Challenge(String),
    Refused(&'static str),
}

#[derive(Clone)]
pub struct Ingest {
    pub store: Arc<dyn ObjectStore>,
    pub queue: Arc<dyn Queue>,
    pub idem: Arc<dyn IdempotencyStore>,
    pub pool: Pool,
    /// The app secret `X-Hub-Signature-256` is made with; `None` accepts unsigned bodies.
    pub secret: Option<Vec<u8>>,
    /// What WhatsApp's verification `GET` must present as `hub.verify_token`.
    pub verify_token: Option<String>,
    pub observe: crate::observe::Observe,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("signed", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

/// A channel name: 1–32 of `a-z 0-9 _ -`.
pub fn valid_channel(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 32
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A message id as a key segment: unreserved characters kept, the rest `%XX` (WhatsApp ids
/// are base64 and may hold `/` or `+`).
pub fn key_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'=') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The idempotency key of a message's identity (each part a key segment, so it is injective).
pub fn claim_key(m: &Incoming) -> String {
    format!(
        "funnel:{}:{}:{}",
        m.channel,
        key_segment(&m.source),
        key_segment(&m.message_id)
    )
}

/// The hash a message's claim carries: a repeat with other content is a conflict.
pub fn claim_hash(m: &Incoming) -> String {
    sha256_hex(serde_json::to_string(m).unwrap_or_default().as_bytes())
}

/// Where a message's raw body is kept: one object per identity, so equal ids from different
/// channels or WhatsApp numbers never overwrite each other.
pub fn raw_key(m: &Incoming) -> String {
    let source = if m.source.is_empty() {
        String::new()
    } else {
        format!("{}/", key_segment(&m.source))
    };
    format!(
        "raw-messages/{}/{}/{source}{}.json",
        day_prefix(m.sent_at),
        m.channel,
        key_segment(&m.message_id)
    )
}

fn day_prefix(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}/{:02}/{:02}", t.year(), u8::from(t.month()), t.day())
}

impl Ingest {
    async fn count(&self, channel: &str, shard_key: &str, counts: &[(&str, i64)]) {
        self.observe.webhook(channel, counts);
        let key = shard_key;
        let result = async {
            let client = self.pool.get().await.map_err(muara_db::pool::pool_error)?;
            store::bump(&client, store::shard_of(key), counts).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e.chain(), "webhook counters not updated");
        }
    }

    async fn keep(&self, folder: &str, body: &[u8], reason: &str) -> Result<String> {
        let key = format!(
            "raw-messages/{folder}/{}/{}.json",
            day_prefix(OffsetDateTime::now_utc()),
            &sha256_hex(body)[..32]
        );
        self.store
            .put(&key, Bytes::copy_from_slice(body), &PutOptions::default())
            .await?;
        store::reject(&self.pool, Some(&key), None, folder, reason).await?;
        Ok(key)
    }

    /// `POST /webhook/{channel}`: HTTP status and JSON answer.
    #[tracing::instrument(name = "webhook", skip_all, fields(%channel, bytes = body.len()))]
    pub async fn receive(&self, channel: &str, signature: Option<&str>, body: &[u8]) -> Received {
        if !valid_channel(channel) {
            return Received::UnknownChannel(format!(
                "unknown channel {channel:?}: use 1-32 of a-z 0-9 _ -"
            ));
        }
        if let Some(secret) = &self.secret
            && let Err(e) = webhook::verify_signature(secret, body, signature)
        {
            self.count(channel, channel, &[("bad_signature", 1)]).await;
            tracing::warn!(%channel, error = %e, "webhook signature refused");
            return Received::BadSignature(e.to_string());
        }
        match self.receive_signed(channel, body).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::error!(%channel, error = %e.chain(), "webhook not accepted");
                Received::Unavailable(e.chain())
            }
        }
    }

    async fn receive_signed(&self, channel: &str, body: &[u8]) -> Result<Received> {
        let parsed = match webhook::parse(body, channel) {
            Ok(p) => p,
            Err(e) => {
                let reason = e.to_string();
                let key = self.keep("rejected", body, &reason).await?;
                self.count(channel, &key, &[("invalid_json", 1)]).await;
                return Ok(Received::NotJson {
                    error: reason,
                    kept: key,
                });
            }
        };
        let (messages, unreadable, statuses) = match parsed {
            Body::Unknown(reason) => {
                let key = self.keep("unknown", body, &reason).await?;
                self.count(channel, &key, &[("unknown_shape", 1)]).await;
                return Ok(Received::UnknownShape { reason, kept: key });
            }
            Body::Messages {
                messages,
                unreadable,
                statuses,
            } => (messages, unreadable, statuses),
        };
        let mut rejected = Vec::new();
        if !unreadable.is_empty() {
            let key = self
                .keep(
                    "unreadable",
                    body,
                    &format!("{} unreadable message(s)", unreadable.len()),
                )
                .await?;
            for u in &unreadable {
                store::reject(
                    &self.pool,
                    Some(&key),
                    u.message_id.as_deref(),
                    "message",
                    &u.reason,
                )
                .await?;
                rejected.push(Refused {
                    message_id: u.message_id.clone(),
                    reason: u.reason.clone(),
                });
            }
        }
        let accepted = self.accept(channel, &messages, body).await?;
        rejected.extend(accepted.conflicts.iter().map(|(id, reason)| Refused {
            message_id: Some(id.clone()),
            reason: reason.clone(),
        }));
        let key = messages.first().map_or(channel, |m| m.message_id.as_str());
        self.count(
            channel,
            key,
            &[
                ("ingress", (messages.len() + unreadable.len()) as i64),
                ("acked", accepted.new as i64),
                ("duplicates", accepted.duplicates as i64),
                ("in_progress", accepted.in_progress as i64),
                ("conflicts", accepted.conflicts.len() as i64),
                ("statuses", statuses as i64),
            ],
        )
        .await;
        Ok(Received::Messages(Tally {
            accepted: accepted.new,
            duplicates: accepted.duplicates,
            in_progress: accepted.in_progress,
            statuses,
            refused: rejected,
        }))
    }

    /// Claims, keeps and queues the new messages.
    async fn accept(&self, route: &str, messages: &[Incoming], body: &[u8]) -> Result<Accepted> {
        let mut out = Accepted::default();
        if messages.is_empty() {
            return Ok(out);
        }
        // One claim per identity: a message repeated within the body is a duplicate of its
        // first occurrence (or a conflict when its content differs).
        let mut claims: Vec<(String, String)> = Vec::with_capacity(messages.len());
        let mut firsts: Vec<&Incoming> = Vec::with_capacity(messages.len());
        let mut seen: std::collections::HashMap<String, String> = Default::default();
        let mut conflicting: Vec<&Incoming> = Vec::new();
        for m in messages {
            let key = claim_key(m);
            let hash = claim_hash(m);
            match seen.get(&key) {
                Some(h) if *h == hash => out.duplicates += 1,
                Some(_) => conflicting.push(m),
                None => {
                    seen.insert(key.clone(), hash.clone());
                    claims.push((key, hash));
                    firsts.push(m);
                }
            }
        }
        let answers = self.idem.begin_many(&claims, CLAIM_TTL).await?;
        let mut refs = Vec::new();
        let mut claimed = Vec::new();
        for ((m, (claim, _)), answer) in firsts.iter().zip(&claims).zip(answers) {
            match answer {
                Begin::Started => {
                    claimed.push(claim.clone());
                    refs.push((*m, raw_key(m)));
                }
                Begin::Completed(_) => out.duplicates += 1,
                // Another delivery holds it: not known to be stored yet.
                Begin::InProgress => out.in_progress += 1,
                Begin::Conflict { .. } => conflicting.push(m),
            }
        }
        let send = async {
            let raw = Bytes::copy_from_slice(body);
            let opts = PutOptions {
                content_type: Some("application/json".into()),
                ..PutOptions::default()
            };
            for (_, key) in &refs {
                self.store.put(key, raw.clone(), &opts).await?;
            }
            let out: Vec<OutgoingMessage> = refs
                .iter()
                .map(|(m, key)| {
                    serde_json::to_string(&QueuedRef {
                        key: key.clone(),
                        message_id: m.message_id.clone(),
                        channel: m.channel.clone(),
                        source: m.source.clone(),
                        route: Some(route.to_string()),
                    })
                    .map(OutgoingMessage::new)
                })
                .collect::<std::result::Result<_, _>>()?;
            self.queue.send_batch(&out).await
        };
        muara_core::idempotent::send_claimed(
            self.idem.as_ref(),
            &claimed,
            &json!({"queued": true}),
            RETENTION,
            send,
        )
        .await?;
        out.new = refs.len();
        if !conflicting.is_empty() {
            // Same identity, different content: the first one stays; this one is kept and
            // reported, never silently dropped.
            let reason = "a message with this id was received before with different content; the first is kept";
            let key = self
                .keep(
                    "conflict",
                    body,
                    &format!("{} message(s) reuse an id", conflicting.len()),
                )
                .await?;
            for m in conflicting {
                store::reject(
                    &self.pool,
                    Some(&key),
                    Some(&m.message_id),
                    "conflict",
                    reason,
                )
                .await?;
                out.conflicts
                    .push((m.message_id.clone(), reason.to_string()));
            }
        }
        Ok(out)
    }

    /// WhatsApp's verification `GET /webhook/{channel}?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`:
    /// the challenge back when the token matches, `403` otherwise.
    pub fn verify(
        &self,
        mode: Option<&str>,
        token: Option<&str>,
        challenge: Option<&str>,
    ) -> Verified {
        match (&self.verify_token, mode, token, challenge) {
            (Some(expected), Some("subscribe"), Some(t), Some(c)) if t == expected => {
                Verified::Challenge(c.to_string())
            }
            (None, ..) => Verified::Refused("no verify token is configured"),
            _ => Verified::Refused("verification refused"),
        }
    }
}

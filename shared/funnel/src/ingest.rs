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

use crate::store::IngestLedger;
use crate::webhook::{self, Body, Incoming};
use crate::worker::QueuedRef;
use bytes::Bytes;
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
    /// The webhook counters and the refusal rows.
    pub ledger: Arc<dyn IngestLedger>,
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
        if let Err(e) = self.ledger.bump(shard_key, counts).await {
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
        self.ledger.reject(Some(&key), None, folder, reason).await?;
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
                self.ledger
                    .reject(Some(&key), u.message_id.as_deref(), "message", &u.reason)
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
                self.ledger
                    .reject(Some(&key), Some(&m.message_id), "conflict", reason)
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

#[cfg(test)]
mod tests {
    //! The webhook on the memory twins: the lake in `MemStore`, references in `MemQueue`,
    //! claims in `MemLocks`, counters and refusal rows in `MemIngestLedger`; no database.

    use super::*;
    use crate::store::{MemIngestLedger, Rejection};
    use muara_core::memory::{MemLocks, MemQueue, MemStore};
    use muara_core::ports::{ObjectInfo, ReceivedMessage};
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};

    const SECRET: &[u8] = b"whatsapp-app-secret";
    /// 2026-11-22T04:00:00Z.
    const T0: i64 = 1_795_320_000;
    const CONFLICT: &str =
        "a message with this id was received before with different content; the first is kept";

    /// The lake, refusing every write while `down` is set.
    #[derive(Debug, Default)]
    struct FlakyStore {
        inner: MemStore,
        down: AtomicBool,
    }

    #[async_trait::async_trait]
    impl ObjectStore for FlakyStore {
        async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<ObjectInfo> {
            if self.down.load(Ordering::SeqCst) {
                return Err(muara_core::Error::retryable("the lake is down"));
            }
            self.inner.put(key, body, opts).await
        }
        async fn get(&self, key: &str) -> Result<Bytes> {
            self.inner.get(key).await
        }
        async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
            self.inner.head(key).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
            self.inner.list(prefix).await
        }
        async fn delete(&self, key: &str) -> Result<()> {
            self.inner.delete(key).await
        }
        async fn rename(&self, from: &str, to: &str) -> Result<()> {
            self.inner.rename(from, to).await
        }
    }

    struct Fx {
        ingest: Ingest,
        store: Arc<FlakyStore>,
        queue: Arc<MemQueue>,
        claims: Arc<MemLocks>,
        ledger: Arc<MemIngestLedger>,
    }

    fn fx() -> Fx {
        let store = Arc::new(FlakyStore::default());
        let queue = Arc::new(MemQueue::new("funnel", Duration::from_secs(300)));
        let claims = Arc::new(MemLocks::default());
        let ledger = Arc::new(MemIngestLedger::default());
        let ingest = Ingest {
            store: store.clone(),
            queue: queue.clone(),
            idem: claims.clone(),
            ledger: ledger.clone(),
            secret: Some(SECRET.to_vec()),
            verify_token: Some("verify-me".into()),
            observe: crate::observe::Observe::default(),
        };
        Fx {
            ingest,
            store,
            queue,
            claims,
            ledger,
        }
    }

    impl Fx {
        /// A delivery signed as the sender signs it.
        async fn post(&self, channel: &str, body: &str) -> Received {
            let signature = webhook::sign(SECRET, body.as_bytes());
            self.ingest
                .receive(channel, Some(&signature), body.as_bytes())
                .await
        }

        /// Every key in the lake.
        async fn keys(&self) -> Vec<String> {
            let list = self.store.list("").await.unwrap();
            list.into_iter().map(|o| o.key).collect()
        }

        async fn body(&self, key: &str) -> String {
            String::from_utf8(self.store.get(key).await.unwrap().to_vec()).unwrap()
        }

        /// The references queued since the last look (each is received once: it stays in
        /// flight, so `depth` still counts it).
        async fn queued(&self) -> Vec<QueuedRef> {
            let mut out = Vec::new();
            loop {
                let got: Vec<ReceivedMessage> =
                    self.queue.receive(10, Duration::ZERO).await.unwrap();
                if got.is_empty() {
                    return out;
                }
                out.extend(
                    got.iter()
                        .map(|m| serde_json::from_str::<QueuedRef>(&m.body).unwrap()),
                );
            }
        }

        async fn depth(&self) -> u64 {
            self.queue.depth().await.unwrap()
        }

        fn counters(&self) -> BTreeMap<String, i64> {
            self.ledger.counters()
        }

        /// What the idempotency store answers for the first message of `body` now (claiming
        /// it if it is free).
        async fn claim(&self, body: &str, channel: &str) -> Begin {
            let m = first_message(body, channel);
            self.claims
                .begin(&claim_key(&m), &claim_hash(&m), CLAIM_TTL)
                .await
                .unwrap()
        }
    }

    fn first_message(body: &str, channel: &str) -> Incoming {
        match webhook::parse(body.as_bytes(), channel) {
            Ok(Body::Messages { messages, .. }) => messages[0].clone(),
            other => panic!("{other:?}"),
        }
    }

    /// A WhatsApp Cloud API webhook for one text message to business number `number`.
    fn wa_to(number: &str, id: &str, from: &str, ts: i64, text: &str) -> String {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881", "phone_number_id": number},
            "contacts": [{"profile": {"name": "Budi"}, "wa_id": from}],
            "messages": [{"from": from, "id": id, "timestamp": ts.to_string(), "type": "text", "text": {"body": text}}]
        }}]}]})
        .to_string()
    }

    fn wa(id: &str, text: &str) -> String {
        wa_to("106540352242922", id, "6281234567890", T0, text)
    }

    fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn tally(accepted: usize, duplicates: usize, refused: Vec<Refused>) -> Received {
        Received::Messages(Tally {
            accepted,
            duplicates,
            in_progress: 0,
            statuses: 0,
            refused,
        })
    }

    /// A body kept whole under `folder`: `raw-messages/{folder}/{yyyy}/{mm}/{dd}/{sha256}.json`
    /// (the day the body came).
    fn assert_kept_under(key: &str, folder: &str, body: &str) {
        let prefix = format!("raw-messages/{folder}/");
        let suffix = format!("/{}.json", &sha256_hex(body.as_bytes())[..32]);
        let day = key
            .strip_prefix(&prefix)
            .and_then(|k| k.strip_suffix(&suffix))
            .unwrap_or_else(|| panic!("{key} is not {prefix}…{suffix}"));
        assert!(
            day.len() == 10 && day.split('/').count() == 3,
            "{key}: not a day"
        );
    }

    #[tokio::test]
    async fn a_signed_message_is_kept_claimed_and_queued_once() {
        let fx = fx();
        let body = wa("wamid.HBgL/ab+c=", "Halo kak, mau tanya info promo");
        assert_eq!(fx.post("whatsapp", &body).await, tally(1, 0, vec![]));
        // One object per identity, by the day it was sent, the id made a key segment.
        let key = "raw-messages/2026/11/22/whatsapp/106540352242922/wamid.HBgL%2Fab%2Bc=.json";
        assert_eq!(fx.keys().await, [key]);
        assert_eq!(fx.body(key).await, body);
        assert_eq!(
            fx.queued().await,
            [QueuedRef {
                key: key.into(),
                message_id: "wamid.HBgL/ab+c=".into(),
                channel: "whatsapp".into(),
                source: "106540352242922".into(),
                route: Some("whatsapp".into()),
            }]
        );
        assert_eq!(
            fx.claim(&body, "whatsapp").await,
            Begin::Completed(json!({"queued": true}))
        );
        assert_eq!(fx.counters(), counts(&[("acked", 1), ("ingress", 1)]));
        assert!(fx.ledger.rejections().is_empty());

        // A generic message on another path: no source, the path's channel.
        let generic =
            json!([{"message_id": "g-1", "phone": "0812 3456 7890", "text": "mau booking",
                              "timestamp": "2026-11-22T09:00:00+07:00", "campaign": "promo-nov"}])
            .to_string();
        assert_eq!(fx.post("website", &generic).await, tally(1, 0, vec![]));
        assert_eq!(
            fx.queued().await,
            [QueuedRef {
                key: "raw-messages/2026/11/22/website/g-1.json".into(),
                message_id: "g-1".into(),
                channel: "website".into(),
                source: String::new(),
                route: Some("website".into()),
            }]
        );
        assert_eq!(
            fx.body("raw-messages/2026/11/22/website/g-1.json").await,
            generic
        );
        assert_eq!(fx.depth().await, 2);
    }

    #[tokio::test]
    async fn a_redelivery_is_a_duplicate_and_queues_nothing() {
        let fx = fx();
        let body = wa("wamid.dup", "halo");
        assert_eq!(fx.post("whatsapp", &body).await, tally(1, 0, vec![]));
        assert_eq!(fx.queued().await.len(), 1);
        assert_eq!(fx.post("whatsapp", &body).await, tally(0, 1, vec![]));
        assert!(fx.queued().await.is_empty());
        // Within one body: a repeat of a message is a duplicate of its first occurrence.
        let twice = json!([
            {"message_id": "g-2", "phone": "0812", "text": "halo", "timestamp": T0},
            {"message_id": "g-2", "phone": "0812", "text": "halo", "timestamp": T0},
        ])
        .to_string();
        assert_eq!(fx.post("website", &twice).await, tally(1, 1, vec![]));
        assert_eq!(fx.queued().await.len(), 1);
        assert_eq!(fx.depth().await, 2);
        assert_eq!(fx.keys().await.len(), 2);
        assert_eq!(
            fx.counters(),
            counts(&[("acked", 2), ("duplicates", 2), ("ingress", 4)])
        );
        assert!(fx.ledger.rejections().is_empty());
    }

    #[tokio::test]
    async fn the_same_id_with_other_content_is_a_conflict_kept_with_a_refusal() {
        let fx = fx();
        let first = wa("wamid.same", "halo, info promo");
        let second = wa("wamid.same", "sudah transfer");
        assert_eq!(fx.post("whatsapp", &first).await, tally(1, 0, vec![]));
        assert_eq!(
            fx.post("whatsapp", &second).await,
            tally(
                0,
                0,
                vec![Refused {
                    message_id: Some("wamid.same".into()),
                    reason: CONFLICT.into(),
                }]
            )
        );
        // The first stays the message; the second is kept under conflict/, not queued.
        let raw = "raw-messages/2026/11/22/whatsapp/106540352242922/wamid.same.json";
        assert_eq!(fx.body(raw).await, first);
        assert_eq!(fx.queued().await.len(), 1);
        assert_eq!(fx.depth().await, 1);
        let kept: Vec<String> = fx.keys().await.into_iter().filter(|k| k != raw).collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_kept_under(&kept[0], "conflict", &second);
        assert_eq!(fx.body(&kept[0]).await, second);
        assert_eq!(
            fx.ledger.rejections(),
            [
                Rejection {
                    raw_key: Some(kept[0].clone()),
                    message_id: None,
                    stage: "conflict".into(),
                    reason: "1 message(s) reuse an id".into(),
                },
                Rejection {
                    raw_key: Some(kept[0].clone()),
                    message_id: Some("wamid.same".into()),
                    stage: "conflict".into(),
                    reason: CONFLICT.into(),
                },
            ]
        );
        assert_eq!(
            fx.counters(),
            counts(&[
                ("acked", 1),
                ("conflicts", 1),
                ("ingress", 2),
                ("rejected_conflict", 2)
            ])
        );
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_kept_under_rejected_with_its_reason() {
        let fx = fx();
        let body = "{not json";
        let Received::NotJson { error, kept } = fx.post("whatsapp", body).await else {
            panic!("not JSON")
        };
        assert_eq!(error, "not JSON: key must be a string at line 1 column 2");
        assert_kept_under(&kept, "rejected", body);
        assert_eq!(fx.keys().await, [kept.as_str()]);
        assert_eq!(fx.body(&kept).await, body);
        assert_eq!(
            fx.ledger.rejections(),
            [Rejection {
                raw_key: Some(kept),
                message_id: None,
                stage: "rejected".into(),
                reason: error,
            }]
        );
        assert_eq!(fx.depth().await, 0);
        assert_eq!(
            fx.counters(),
            counts(&[("invalid_json", 1), ("rejected_rejected", 1)])
        );

        // JSON of no known shape: kept under unknown/.
        let body = r#"{"hello": "world"}"#;
        let Received::UnknownShape { reason, kept } = fx.post("whatsapp", body).await else {
            panic!("unknown shape")
        };
        assert_eq!(
            reason,
            "neither a WhatsApp webhook nor generic messages (no message_id)"
        );
        assert_kept_under(&kept, "unknown", body);
        assert_eq!(
            fx.ledger.rejections().last(),
            Some(&Rejection {
                raw_key: Some(kept),
                message_id: None,
                stage: "unknown".into(),
                reason,
            })
        );
        assert_eq!(fx.depth().await, 0);
    }

    #[tokio::test]
    async fn unreadable_messages_are_kept_and_refused_while_the_readable_ones_are_queued() {
        let fx = fx();
        let body = json!([
            {"message_id": "g-ok", "phone": "0812", "text": "halo", "timestamp": T0},
            {"phone": "0812", "text": "no id", "timestamp": T0},
        ])
        .to_string();
        assert_eq!(
            fx.post("website", &body).await,
            tally(
                1,
                0,
                vec![Refused {
                    message_id: None,
                    reason: "message_id is missing".into(),
                }]
            )
        );
        let refs = fx.queued().await;
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].message_id, "g-ok");
        let rejections = fx.ledger.rejections();
        let kept = rejections[0].raw_key.clone().unwrap();
        assert_kept_under(&kept, "unreadable", &body);
        assert_eq!(
            rejections,
            [
                Rejection {
                    raw_key: Some(kept.clone()),
                    message_id: None,
                    stage: "unreadable".into(),
                    reason: "1 unreadable message(s)".into(),
                },
                Rejection {
                    raw_key: Some(kept),
                    message_id: None,
                    stage: "message".into(),
                    reason: "message_id is missing".into(),
                },
            ]
        );
        assert_eq!(
            fx.counters(),
            counts(&[
                ("acked", 1),
                ("ingress", 2),
                ("rejected_message", 1),
                ("rejected_unreadable", 1)
            ])
        );
    }

    #[tokio::test]
    async fn a_nul_in_an_id_or_a_channel_of_its_own_is_refused_and_recorded_not_a_failure() {
        // The ledger refuses NUL as PostgreSQL does: before the id was escaped, this body's
        // refusal itself failed and every resend was answered 503.
        let fx = fx();
        let body = wa("wamid.\u{0}x", "halo");
        let expected = "message_id is longer than 256 characters or has control characters";
        assert_eq!(
            fx.post("whatsapp", &body).await,
            tally(
                0,
                0,
                vec![Refused {
                    message_id: Some("wamid.\\0x".into()),
                    reason: expected.into(),
                }]
            )
        );
        assert_eq!(
            fx.ledger.rejections()[1].message_id.as_deref(),
            Some("wamid.\\0x")
        );
        // A generic message naming a channel that is not one never reaches a key.
        let body = json!([
            {"message_id": "g-1", "phone": "0812", "text": "a\u{0}b", "timestamp": T0, "channel": "../../etc"},
            {"message_id": "g-2", "phone": "0812", "text": "a\u{0}b", "timestamp": T0},
        ])
        .to_string();
        let Received::Messages(t) = fx.post("website", &body).await else {
            panic!("not answered as messages");
        };
        assert_eq!((t.accepted, t.refused.len()), (1, 1), "{t:?}");
        assert!(
            t.refused[0].reason.contains("\"../../etc\" is not"),
            "{t:?}"
        );
        assert!(
            fx.keys().await.iter().all(|k| !k.contains("..")),
            "{:?}",
            fx.keys().await
        );
        assert_eq!(fx.queued().await.len(), 1);
    }

    #[tokio::test]
    async fn a_bad_signature_is_refused_and_nothing_kept() {
        let fx = fx();
        let body = wa("wamid.sig", "halo");
        let bytes = body.as_bytes();
        let other = webhook::sign(SECRET, b"another body");
        let wrong_secret = webhook::sign(b"not the secret", bytes);
        for (signature, error) in [
            (None, "the X-Hub-Signature-256 header is missing"),
            (
                Some("md5=00"),
                "the X-Hub-Signature-256 header is not sha256=<hex>",
            ),
            (
                Some("sha256=zz"),
                "the X-Hub-Signature-256 header is not sha256=<hex>",
            ),
            (
                Some(other.as_str()),
                "the signature does not match the body",
            ),
            (
                Some(wrong_secret.as_str()),
                "the signature does not match the body",
            ),
        ] {
            assert_eq!(
                fx.ingest.receive("whatsapp", signature, bytes).await,
                Received::BadSignature(error.into())
            );
        }
        assert!(fx.keys().await.is_empty());
        assert_eq!(fx.depth().await, 0);
        assert!(fx.ledger.rejections().is_empty());
        assert_eq!(fx.counters(), counts(&[("bad_signature", 5)]));
        // Nothing was claimed: the signed delivery is new.
        assert_eq!(fx.claim(&body, "whatsapp").await, Begin::Started);
    }

    #[tokio::test]
    async fn an_unknown_channel_is_refused_before_anything() {
        let fx = fx();
        let body = wa("wamid.chan", "halo");
        for channel in ["Not-A-Channel", "", "wa/x", &"a".repeat(33)] {
            assert_eq!(
                fx.post(channel, &body).await,
                Received::UnknownChannel(format!(
                    "unknown channel {channel:?}: use 1-32 of a-z 0-9 _ -"
                ))
            );
        }
        // Even unsigned: the channel is looked at first.
        assert!(matches!(
            fx.ingest.receive("Nope", None, body.as_bytes()).await,
            Received::UnknownChannel(_)
        ));
        assert!(fx.keys().await.is_empty());
        assert_eq!(fx.depth().await, 0);
        assert!(fx.counters().is_empty());
        assert!(fx.ledger.rejections().is_empty());
    }

    #[tokio::test]
    async fn a_lake_failure_acknowledges_nothing_and_frees_the_claims() {
        let fx = fx();
        let body = wa("wamid.lake", "halo");
        fx.store.down.store(true, Ordering::SeqCst);
        let Received::Unavailable(e) = fx.post("whatsapp", &body).await else {
            panic!("unavailable")
        };
        assert_eq!(e, "Retryable: the lake is down");
        assert_eq!(fx.depth().await, 0);
        assert!(fx.counters().is_empty());
        // The claim was freed at once: the sender's retry stores it.
        fx.store.down.store(false, Ordering::SeqCst);
        assert_eq!(fx.post("whatsapp", &body).await, tally(1, 0, vec![]));
        assert_eq!(fx.queued().await.len(), 1);
        assert_eq!(fx.counters(), counts(&[("acked", 1), ("ingress", 1)]));
    }

    #[tokio::test]
    async fn a_message_another_delivery_holds_is_in_progress_not_a_duplicate() {
        let fx = fx();
        let body = wa("wamid.held", "halo");
        assert_eq!(fx.claim(&body, "whatsapp").await, Begin::Started);
        assert_eq!(
            fx.post("whatsapp", &body).await,
            Received::Messages(Tally {
                in_progress: 1,
                ..Tally::default()
            })
        );
        assert!(fx.keys().await.is_empty());
        assert_eq!(fx.depth().await, 0);
        assert_eq!(fx.counters(), counts(&[("in_progress", 1), ("ingress", 1)]));
    }
}

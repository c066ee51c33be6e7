//! Memory twins of the ports (feature `memory`): the same observable behaviour as the AWS and
//! local adapters — the contract suites in `tests/it/*_contract.rs` run against them too — held
//! in memory and timed by a [`Clock`], so domain tests need no database, emulator or sleep.
//!
//! - [`MemStore`]: [`ObjectStore`] and [`MultipartUploads`], SHA-256 as S3 reports it.
//! - [`MemQueue`]: [`Queue`] with visibility timeout, receive count and a dead-letter queue.
//! - [`MemLocks`]: [`Locks`] and [`IdempotencyStore`] with expiry decided at each call.
//! - [`MemMailer`]: [`Mailer`] that keeps what it sent.
//! - [`MemDeadLetters`]: [`DeadLetters`] over [`MemQueue`]s.
//! - [`MemAudit`]: [`AuditSink`] that keeps its entries.
//! - [`MemTokens`]: [`Authenticator`] over API tokens issued, expired and revoked in memory,
//!   as the console's PostgreSQL token store does.
//!
//! Not here: the memory orchestrator. Running a state machine takes the `muara-asl`
//! interpreter, which this crate does not depend on; it is `muara_asl::memory::MemOrchestrator`
//! (feature `memory` of `muara-asl`).

use crate::checksum::sha256_b64;
use crate::ports::{
    AuditEntry, AuditLog, AuditRow, AuditSink, AuthError, Authenticator, Begin, Clock, Credentials,
    DeadLetter, DeadLetterQueue, DeadLetters, Holder, IdempotencyStore, Lease, Locks, Mail, Mailer,
    MultipartUploads, ObjectInfo, ObjectStore, OutgoingMessage, Principal, PutOptions, Queue,
    ReceivedMessage, Role, SentMail, Swept, SystemClock, UploadedPart,
};
use crate::{Error, Result};
use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use time::OffsetDateTime;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere leaves consistent data behind (every update is one assignment).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

static SEQUENCE: AtomicU64 = AtomicU64::new(1);

/// A process-wide unique id with a prefix.
fn next_id(prefix: &str) -> String {
    format!("{prefix}-{:012}", SEQUENCE.fetch_add(1, Ordering::Relaxed))
}

fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

// ------------------------------------------------------------------------------ object store

#[derive(Debug, Clone)]
struct Object {
    body: Bytes,
    info: ObjectInfo,
}

#[derive(Debug)]
struct Upload {
    key: String,
    opts: PutOptions,
    parts: BTreeMap<u32, Bytes>,
}

/// An object store in memory.
#[derive(Debug)]
pub struct MemStore {
    objects: Mutex<BTreeMap<String, Object>>,
    uploads: Mutex<BTreeMap<String, Upload>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemStore {
    fn default() -> Self {
        Self::with_clock(system())
    }
}

impl MemStore {
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            objects: Mutex::default(),
            uploads: Mutex::default(),
            clock,
        }
    }

    fn store(&self, key: &str, body: Bytes, sha256: String, opts: &PutOptions) -> ObjectInfo {
        let info = ObjectInfo {
            key: key.to_string(),
            size: body.len() as u64,
            sha256: Some(sha256),
            last_modified: Some(self.clock.now()),
            metadata: opts.metadata.clone(),
        };
        lock(&self.objects).insert(
            key.to_string(),
            Object {
                body,
                info: info.clone(),
            },
        );
        info
    }
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.starts_with('/') || key.split('/').any(|s| s == "..") {
        return Err(Error::invalid(format!("{key:?} is not an object key")));
    }
    Ok(())
}

#[async_trait]
impl ObjectStore for MemStore {
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<ObjectInfo> {
        check_key(key)?;
        let sha = sha256_b64(&body);
        Ok(self.store(key, body, sha, opts))
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        lock(&self.objects)
            .get(key)
            .map(|o| o.body.clone())
            .ok_or_else(|| Error::not_found(format!("no object {key:?}")))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        Ok(lock(&self.objects).get(key).map(|o| o.info.clone()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        Ok(lock(&self.objects)
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, o)| o.info.clone())
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        lock(&self.objects).remove(key);
        Ok(())
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        check_key(to)?;
        let mut objects = lock(&self.objects);
        let mut o = objects
            .remove(from)
            .ok_or_else(|| Error::not_found(format!("no object {from:?}")))?;
        // As in S3 (a rename is a copy there), the object at its new key was made now.
        o.info.key = to.to_string();
        o.info.last_modified = Some(self.clock.now());
        objects.insert(to.to_string(), o);
        Ok(())
    }
}

#[async_trait]
impl MultipartUploads for MemStore {
    async fn start_upload(&self, key: &str, opts: &PutOptions) -> Result<String> {
        check_key(key)?;
        let id = next_id("upload");
        lock(&self.uploads).insert(
            id.clone(),
            Upload {
                key: key.to_string(),
                opts: opts.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
    ) -> Result<UploadedPart> {
        let mut uploads = lock(&self.uploads);
        let upload = uploads
            .get_mut(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| Error::not_found(format!("no upload {upload_id:?} of {key:?}")))?;
        let part = UploadedPart {
            number,
            etag: Some(format!("\"{}\"", crate::checksum::sha256_hex(&body))),
            sha256: sha256_b64(&body),
            size: body.len() as u64,
        };
        upload.parts.insert(number, body);
        Ok(part)
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> Result<ObjectInfo> {
        use base64::Engine as _;
        use sha2::Digest as _;
        if parts.is_empty() || parts.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(Error::invalid(
                "parts must be given in ascending number order",
            ));
        }
        let upload = {
            let mut uploads = lock(&self.uploads);
            match uploads.get(upload_id) {
                Some(u) if u.key == key => uploads.remove(upload_id),
                _ => None,
            }
        }
        .ok_or_else(|| Error::not_found(format!("no upload {upload_id:?} of {key:?}")))?;
        let mut whole = Vec::new();
        let mut outer = sha2::Sha256::new();
        for p in parts {
            let body = upload
                .parts
                .get(&p.number)
                .ok_or_else(|| Error::invalid(format!("part {} was never uploaded", p.number)))?;
            if sha256_b64(body) != p.sha256 {
                return Err(Error::invalid(format!(
                    "part {} does not match its checksum",
                    p.number
                )));
            }
            outer.update(sha2::Sha256::digest(body));
            whole.extend_from_slice(body);
        }
        let sha = format!(
            "{}-{}",
            base64::engine::general_purpose::STANDARD.encode(outer.finalize()),
            parts.len()
        );
        Ok(self.store(key, Bytes::from(whole), sha, &upload.opts))
    }

    async fn abort_upload(&self, _key: &str, upload_id: &str) -> Result<()> {
        lock(&self.uploads).remove(upload_id);
        Ok(())
    }
}

// ------------------------------------------------------------------------------------- queue

#[derive(Debug, Clone)]
struct Message {
    id: String,
    body: String,
    attributes: BTreeMap<String, String>,
    visible_at: OffsetDateTime,
    receive_count: u32,
    receipt: Option<String>,
}

/// A queue in memory, with SQS's delivery rules.
#[derive(Debug)]
pub struct MemQueue {
    name: String,
    messages: Mutex<Vec<Message>>,
    visibility: Duration,
    /// Where a message goes once it was received this many times and comes back again.
    redrive: Option<(Arc<MemQueue>, u32)>,
    clock: Arc<dyn Clock>,
}

impl MemQueue {
    pub fn new(name: impl Into<String>, visibility: Duration) -> Self {
        Self::with_clock(name, visibility, None, system())
    }

    pub fn with_clock(
        name: impl Into<String>,
        visibility: Duration,
        redrive: Option<(Arc<MemQueue>, u32)>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            name: name.into(),
            messages: Mutex::default(),
            visibility,
            redrive,
            clock,
        }
    }

    /// With a dead-letter queue after `max_receives`.
    pub fn with_dead_letters(mut self, dlq: Arc<MemQueue>, max_receives: u32) -> Self {
        self.redrive = Some((dlq, max_receives));
        self
    }

    fn take(&self, max: usize) -> Vec<ReceivedMessage> {
        let now = self.clock.now();
        let mut messages = lock(&self.messages);
        let mut dead = Vec::new();
        let mut out = Vec::new();
        let mut i = 0;
        while i < messages.len() && out.len() < max {
            if messages[i].visible_at > now {
                i += 1;
                continue;
            }
            if let Some((_, max_receives)) = &self.redrive
                && messages[i].receive_count >= *max_receives
            {
                dead.push(messages.remove(i));
                continue;
            }
            let m = &mut messages[i];
            m.receive_count += 1;
            m.visible_at = now + self.visibility;
            let receipt = next_id("receipt");
            m.receipt = Some(receipt.clone());
            out.push(ReceivedMessage {
                id: m.id.clone(),
                body: m.body.clone(),
                attributes: m.attributes.clone(),
                receipt,
                receive_count: m.receive_count,
            });
            i += 1;
        }
        drop(messages);
        if let Some((dlq, _)) = &self.redrive {
            for mut m in dead {
                m.receive_count = 0;
                m.receipt = None;
                m.visible_at = now;
                lock(&dlq.messages).push(m);
            }
        }
        out
    }

    fn push(&self, messages: impl IntoIterator<Item = Message>) {
        lock(&self.messages).extend(messages);
    }
}

#[async_trait]
impl Queue for MemQueue {
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<Vec<String>> {
        let now = self.clock.now();
        let made: Vec<Message> = messages
            .iter()
            .map(|m| Message {
                id: next_id("message"),
                body: m.body.clone(),
                attributes: m.attributes.clone(),
                visible_at: now + m.delay.unwrap_or_default(),
                receive_count: 0,
                receipt: None,
            })
            .collect();
        let ids = made.iter().map(|m| m.id.clone()).collect();
        self.push(made);
        Ok(ids)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<ReceivedMessage>> {
        // Long polling in real time: a manual clock does not move by itself.
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = self.take(max.clamp(1, 10));
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(got);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn delete_batch(&self, receipts: &[String]) -> Result<()> {
        lock(&self.messages).retain(|m| {
            m.receipt
                .as_ref()
                .is_none_or(|r| !receipts.iter().any(|x| x == r))
        });
        Ok(())
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<()> {
        let now = self.clock.now();
        let mut messages = lock(&self.messages);
        let m = messages
            .iter_mut()
            .find(|m| m.receipt.as_deref() == Some(receipt))
            .ok_or_else(|| Error::invalid(format!("not a receipt of this queue: {receipt:?}")))?;
        m.visible_at = now + timeout;
        Ok(())
    }

    async fn depth(&self) -> Result<u64> {
        Ok(lock(&self.messages).len() as u64)
    }
}

// ---------------------------------------------------------------------- locks and idempotency

#[derive(Debug, Clone)]
struct Held {
    owner: String,
    token: String,
    expires_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
enum Record {
    InProgress {
        hash: String,
        expires_at: OffsetDateTime,
    },
    Completed {
        hash: String,
        result: Value,
        expires_at: OffsetDateTime,
    },
}

/// Locks and idempotency records in memory; expiry is decided at each call, as in the
/// adapters' conditions.
#[derive(Debug)]
pub struct MemLocks {
    leases: Mutex<BTreeMap<String, Held>>,
    records: Mutex<BTreeMap<String, Record>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemLocks {
    fn default() -> Self {
        Self::with_clock(system())
    }
}

impl MemLocks {
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            leases: Mutex::default(),
            records: Mutex::default(),
            clock,
        }
    }

    fn grant(&self, key: &str, owner: &str, ttl: Duration) -> (Lease, Held) {
        let token = next_id("token");
        (
            Lease {
                key: key.to_string(),
                owner: owner.to_string(),
                token: token.clone(),
            },
            Held {
                owner: owner.to_string(),
                token,
                expires_at: self.clock.now() + ttl,
            },
        )
    }
}

#[async_trait]
impl Locks for MemLocks {
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Option<Lease>> {
        let now = self.clock.now();
        let mut leases = lock(&self.leases);
        if leases.get(key).is_some_and(|h| h.expires_at > now) {
            return Ok(None);
        }
        let (lease, held) = self.grant(key, owner, ttl);
        leases.insert(key.to_string(), held);
        Ok(Some(lease))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let now = self.clock.now();
        let mut leases = lock(&self.leases);
        match leases.get_mut(&lease.key) {
            Some(h) if h.token == lease.token && h.expires_at > now => {
                h.expires_at = now + ttl;
                h.owner = lease.owner.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn holder(&self, key: &str) -> Result<Option<Holder>> {
        let now = self.clock.now();
        Ok(lock(&self.leases)
            .get(key)
            .filter(|h| h.expires_at > now)
            .map(|h| Holder {
                owner: h.owner.clone(),
                token: h.token.clone(),
                expires_in: (h.expires_at - now).try_into().unwrap_or_default(),
            }))
    }

    async fn take_over(
        &self,
        key: &str,
        token: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let mut leases = lock(&self.leases);
        if leases.get(key).is_some_and(|h| h.token != token) {
            return Ok(None);
        }
        let (lease, held) = self.grant(key, owner, ttl);
        leases.insert(key.to_string(), held);
        Ok(Some(lease))
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        let mut leases = lock(&self.leases);
        if leases
            .get(&lease.key)
            .is_some_and(|h| h.token == lease.token)
        {
            leases.remove(&lease.key);
            return Ok(true);
        }
        Ok(false)
    }
}

#[async_trait]
impl IdempotencyStore for MemLocks {
    async fn begin(&self, key: &str, payload_hash: &str, claim_ttl: Duration) -> Result<Begin> {
        let now = self.clock.now();
        let mut records = lock(&self.records);
        let answer = match records.get(key) {
            Some(Record::InProgress { expires_at, .. }) if *expires_at > now => Begin::InProgress,
            Some(Record::Completed {
                hash,
                result,
                expires_at,
            }) if *expires_at > now => {
                if hash == payload_hash {
                    Begin::Completed(result.clone())
                } else {
                    Begin::Conflict {
                        existing_hash: hash.clone(),
                    }
                }
            }
            _ => Begin::Started,
        };
        if answer == Begin::Started {
            records.insert(
                key.to_string(),
                Record::InProgress {
                    hash: payload_hash.to_string(),
                    expires_at: now + claim_ttl,
                },
            );
        }
        Ok(answer)
    }

    async fn complete(&self, key: &str, result: &Value, retention: Duration) -> Result<()> {
        let now = self.clock.now();
        let mut records = lock(&self.records);
        let hash = match records.get(key) {
            Some(Record::InProgress { hash, .. }) | Some(Record::Completed { hash, .. }) => {
                hash.clone()
            }
            None => String::new(),
        };
        records.insert(
            key.to_string(),
            Record::Completed {
                hash,
                result: result.clone(),
                expires_at: now + retention,
            },
        );
        Ok(())
    }

    async fn abandon(&self, key: &str) -> Result<()> {
        let mut records = lock(&self.records);
        if matches!(records.get(key), Some(Record::InProgress { .. })) {
            records.remove(key);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------ mailer

/// A mailer that keeps what it sent.
#[derive(Debug, Default)]
pub struct MemMailer {
    sent: Mutex<Vec<(SentMail, Mail)>>,
}

impl MemMailer {
    /// One sent mail by its message id.
    pub fn read_back(&self, message_id: &str) -> Option<Mail> {
        lock(&self.sent)
            .iter()
            .find(|(s, _)| s.message_id == message_id)
            .map(|(_, m)| m.clone())
    }
}

#[async_trait]
impl Mailer for MemMailer {
    async fn send(&self, mail: &Mail) -> Result<SentMail> {
        if mail.to.is_empty() {
            return Err(Error::invalid("a mail needs at least one recipient"));
        }
        let sent = SentMail {
            message_id: next_id("mail"),
            location: None,
        };
        lock(&self.sent).push((sent.clone(), mail.clone()));
        Ok(sent)
    }
}

// ------------------------------------------------------------------------------ dead letters

/// Dead-letter queues over memory queues: `(name, source, dead-letter queue)`.
#[derive(Debug, Default)]
pub struct MemDeadLetters {
    queues: Vec<(String, Arc<MemQueue>, Arc<MemQueue>)>,
}

impl MemDeadLetters {
    pub fn new(queues: Vec<(String, Arc<MemQueue>, Arc<MemQueue>)>) -> Self {
        Self { queues }
    }

    fn find(&self, name: &str) -> Result<&(String, Arc<MemQueue>, Arc<MemQueue>)> {
        self.queues
            .iter()
            .find(|(n, _, _)| n == name)
            .ok_or_else(|| Error::not_found(format!("no dead-letter queue {name:?}")))
    }

    /// Takes the dead letters with these ids (all when `None`) out of `dlq`.
    fn take(dlq: &MemQueue, ids: Option<&[String]>) -> Vec<Message> {
        let mut messages = lock(&dlq.messages);
        let (taken, kept): (Vec<Message>, Vec<Message>) = messages
            .drain(..)
            .partition(|m| ids.is_none_or(|ids| ids.contains(&m.id)));
        *messages = kept;
        taken
    }
}

fn letter(m: &Message) -> DeadLetter {
    DeadLetter {
        id: m.id.clone(),
        body: m.body.clone(),
        receives: m.receive_count,
        sent_at: None,
    }
}

#[async_trait]
impl DeadLetters for MemDeadLetters {
    async fn queues(&self) -> Result<Vec<DeadLetterQueue>> {
        Ok(self
            .queues
            .iter()
            .map(|(name, source, dlq)| DeadLetterQueue {
                name: name.clone(),
                source: source.name.clone(),
                dead_letter_queue: dlq.name.clone(),
                count: lock(&dlq.messages).len() as u64,
            })
            .collect())
    }

    async fn peek(&self, queue: &str, limit: usize) -> Result<Vec<DeadLetter>> {
        let (_, _, dlq) = self.find(queue)?;
        Ok(lock(&dlq.messages).iter().take(limit).map(letter).collect())
    }

    async fn redrive(&self, queue: &str, ids: Option<&[String]>) -> Result<Swept> {
        let (_, source, dlq) = self.find(queue)?;
        let taken = Self::take(dlq, ids);
        let done = taken.iter().map(letter).collect();
        let now = source.clock.now();
        source.push(taken.into_iter().map(|mut m| {
            m.receive_count = 0;
            m.receipt = None;
            m.visible_at = now;
            m
        }));
        Ok(Swept {
            done,
            stopped: None,
        })
    }

    async fn discard(&self, queue: &str, ids: &[String]) -> Result<Swept> {
        let (_, _, dlq) = self.find(queue)?;
        let done = Self::take(dlq, Some(ids)).iter().map(letter).collect();
        Ok(Swept {
            done,
            stopped: None,
        })
    }
}

// ------------------------------------------------------------------------------------- audit

/// An audit log that keeps its entries.
#[derive(Debug, Default)]
pub struct MemAudit {
    entries: Mutex<Vec<(OffsetDateTime, AuditEntry)>>,
}

#[async_trait]
impl AuditSink for MemAudit {
    async fn record(&self, entry: AuditEntry) -> Result<()> {
        lock(&self.entries).push((OffsetDateTime::now_utc(), entry));
        Ok(())
    }

    async fn entries(&self, limit: i64) -> Result<AuditLog> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let entries = lock(&self.entries);
        let newest = entries
            .iter()
            .enumerate()
            .rev()
            .take(limit)
            .map(|(i, (at, e))| AuditRow {
                id: i64::try_from(i + 1).unwrap_or(i64::MAX),
                at: *at,
                actor: e.actor.subject.clone(),
                role: e.actor.role,
                via: e.actor.via.to_string(),
                action: e.action.clone(),
                target: e.target.clone(),
                before: e.before.clone(),
                after: e.after.clone(),
            })
            .collect();
        Ok(AuditLog { entries: newest })
    }
}

// ------------------------------------------------------------------------------------ tokens

/// The prefix of every API token, as the console's token store makes them.
const TOKEN_PREFIX: &str = "muara_";

/// A token just issued: its id (to revoke it) and the secret, shown once.
#[derive(Clone)]
pub struct IssuedToken {
    pub id: u64,
    pub token: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("id", &self.id)
            .field("token", &"<secret>")
            .finish()
    }
}

#[derive(Debug, Clone)]
struct TokenRow {
    id: u64,
    name: String,
    role: Role,
    sha256: String,
    expires_at: Option<OffsetDateTime>,
    revoked: bool,
}

/// API tokens in memory, with the token store's rules (`muara_console::TokenStore`): a token
/// is `muara_` and 64 lowercase hex digits and only its SHA-256 is kept; it authenticates as
/// its name and role while neither expired nor revoked; one live token per name (an expired
/// one gives its name up when the next is issued). Expiry is decided at each call by the
/// [`Clock`].
///
/// The secrets are unpredictable enough for tests (a process-random hash, then SHA-256), not
/// made by a cryptographic generator.
#[derive(Debug)]
pub struct MemTokens {
    rows: Mutex<Vec<TokenRow>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemTokens {
    fn default() -> Self {
        Self::with_clock(system())
    }
}

fn token_digest(token: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

fn well_formed_token(token: &str) -> bool {
    token.len() == TOKEN_PREFIX.len() + 64
        && token.starts_with(TOKEN_PREFIX)
        && token[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn valid_token_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
}

/// A new secret token.
fn new_token() -> String {
    use sha2::Digest as _;
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut seed = std::collections::hash_map::RandomState::new().build_hasher();
    seed.write_u64(SEQUENCE.fetch_add(1, Ordering::Relaxed));
    seed.write_i128(OffsetDateTime::now_utc().unix_timestamp_nanos());
    let mut h = sha2::Sha256::new();
    h.update(seed.finish().to_le_bytes());
    h.update(
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
            .to_le_bytes(),
    );
    format!("{TOKEN_PREFIX}{}", hex::encode(h.finalize()))
}

impl MemTokens {
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            rows: Mutex::default(),
            clock,
        }
    }

    /// Issues a token named `name` (1-64 letters, digits or `. _ @ -`, starting with a letter
    /// or digit) for `role`, expiring after `ttl_days` (1-3650) when given. A live token of
    /// that name is a conflict.
    pub fn create_token(
        &self,
        name: &str,
        role: Role,
        ttl_days: Option<u32>,
    ) -> Result<IssuedToken> {
        if !valid_token_name(name) {
            return Err(Error::invalid(format!(
                "token name {name:?} must be 1-64 letters, digits or . _ @ -, starting with a letter or digit"
            )));
        }
        if ttl_days.is_some_and(|d| d == 0 || d > 3650) {
            return Err(Error::invalid("ttl_days must be between 1 and 3650"));
        }
        let now = self.clock.now();
        let token = new_token();
        let mut rows = lock(&self.rows);
        for row in rows.iter_mut().filter(|r| r.name == name && !r.revoked) {
            if row.expires_at.is_some_and(|e| e <= now) {
                row.revoked = true;
            } else {
                return Err(Error::conflict(format!(
                    "a live token named {name:?} exists: revoke it first"
                )));
            }
        }
        let id = rows.len() as u64 + 1;
        rows.push(TokenRow {
            id,
            name: name.to_string(),
            role,
            sha256: token_digest(&token),
            expires_at: ttl_days.map(|d| now + Duration::from_secs(u64::from(d) * 86_400)),
            revoked: false,
        });
        Ok(IssuedToken { id, token })
    }

    /// Revokes the live token `id`.
    pub fn revoke_token(&self, id: u64) -> Result<()> {
        let mut rows = lock(&self.rows);
        let row = rows
            .iter_mut()
            .find(|r| r.id == id && !r.revoked)
            .ok_or_else(|| Error::not_found(format!("no live token with id {id}")))?;
        row.revoked = true;
        Ok(())
    }

    /// The principal a secret token stands for.
    pub fn principal(&self, token: &str) -> std::result::Result<Principal, AuthError> {
        if !well_formed_token(token) {
            return Err(AuthError::Invalid("unknown token".into()));
        }
        let digest = token_digest(token);
        let rows = lock(&self.rows);
        let row = rows
            .iter()
            .find(|r| r.sha256 == digest)
            .ok_or_else(|| AuthError::Invalid("unknown token".into()))?;
        if row.revoked {
            return Err(AuthError::Revoked);
        }
        if row.expires_at.is_some_and(|e| e <= self.clock.now()) {
            return Err(AuthError::Expired);
        }
        Ok(Principal {
            subject: row.name.clone(),
            role: row.role,
            via: "token",
        })
    }
}

#[async_trait]
impl Authenticator for MemTokens {
    async fn authenticate(
        &self,
        credentials: &Credentials<'_>,
    ) -> std::result::Result<Principal, AuthError> {
        self.principal(credentials.bearer()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ManualClock;

    #[tokio::test]
    async fn a_lease_expires_when_the_clock_says_so() {
        let clock = Arc::new(ManualClock::starting_now());
        let locks = MemLocks::with_clock(clock.clone());
        let ttl = Duration::from_secs(60);
        let held = locks.acquire("k", "a", ttl).await.unwrap().unwrap();
        assert!(locks.acquire("k", "b", ttl).await.unwrap().is_none());
        clock.advance(Duration::from_secs(61));
        let stolen = locks.acquire("k", "b", ttl).await.unwrap().unwrap();
        assert!(!locks.renew(&held, ttl).await.unwrap(), "fenced out");
        assert!(locks.renew(&stolen, ttl).await.unwrap());
    }

    #[tokio::test]
    async fn a_message_comes_back_after_its_visibility_timeout_then_dead_letters() {
        let clock = Arc::new(ManualClock::starting_now());
        let dlq = Arc::new(MemQueue::with_clock(
            "q-dlq",
            Duration::from_secs(30),
            None,
            clock.clone(),
        ));
        let q = MemQueue::with_clock(
            "q",
            Duration::from_secs(30),
            Some((dlq.clone(), 2)),
            clock.clone(),
        );
        q.send_batch(&[OutgoingMessage::new("x")]).await.unwrap();
        for n in 1..=2 {
            let got = q.receive(10, Duration::ZERO).await.unwrap();
            assert_eq!(got[0].receive_count, n);
            assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
            clock.advance(Duration::from_secs(31));
        }
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
        assert_eq!(q.depth().await.unwrap(), 0);
        assert_eq!(dlq.depth().await.unwrap(), 1);
        let dl = MemDeadLetters::new(vec![("q".into(), Arc::new(q), dlq)]);
        let swept = dl.redrive("q", None).await.unwrap();
        assert_eq!(swept.done.len(), 1);
        assert_eq!(dl.queues().await.unwrap()[0].count, 0);
    }

    #[test]
    fn a_token_expires_when_the_clock_says_so_and_gives_its_name_up() {
        let clock = Arc::new(ManualClock::starting_now());
        let tokens = MemTokens::with_clock(clock.clone());
        let made = tokens.create_token("ci", Role::Operator, Some(1)).unwrap();
        assert!(well_formed_token(&made.token), "{made:?}");
        assert_eq!(tokens.principal(&made.token).unwrap().role, Role::Operator);
        assert!(
            tokens.create_token("ci", Role::Viewer, None).is_err(),
            "live"
        );
        clock.advance(Duration::from_secs(86_401));
        assert_eq!(tokens.principal(&made.token), Err(AuthError::Expired));
        let next = tokens.create_token("ci", Role::Viewer, None).unwrap();
        assert_ne!(next.token, made.token);
        assert_eq!(tokens.principal(&made.token), Err(AuthError::Revoked));
        assert!(tokens.create_token("-x", Role::Viewer, None).is_err());
        assert!(tokens.create_token("y", Role::Viewer, Some(0)).is_err());
    }
}

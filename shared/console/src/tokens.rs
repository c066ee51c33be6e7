//! Local API tokens: `muara_` + 64 hex digits (244 random bits from two v4 UUIDs), shown once;
//! `auth.api_token` keeps the SHA-256 only. A token authenticates while it is neither expired
//! nor revoked; its name is the subject the audit log records.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use muara_core::ports::{AuditEntry, AuthError, Authenticator, Credentials, Principal, Role};
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const PREFIX: &str = "muara_";

/// A new secret token.
fn generate() -> String {
    format!(
        "{PREFIX}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a string could be a token at all (checked before any database work).
fn well_formed(token: &str) -> bool {
    token.len() == PREFIX.len() + 64
        && token.starts_with(PREFIX)
        && token[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
}

#[derive(Debug, Clone)]
pub struct TokenStore {
    pool: Pool,
    /// Tokens checked in the last [`CACHE_TTL`]: digest → (principal, when checked, expiry).
    /// Spares a database round trip per request; a revocation made here clears it, one made
    /// elsewhere takes effect within the TTL.
    cache: std::sync::Arc<std::sync::Mutex<HashMap<String, Cached>>>,
}

type Cached = (Principal, std::time::Instant, Option<time::OffsetDateTime>);

/// How long a checked token is trusted without asking the database again.
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(10);
const CACHE_MAX: usize = 10_000;

/// A token just made: the secret (shown once) and its row.
#[derive(Clone)]
pub struct Created {
    pub token: String,
    pub row: Value,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("token", &"<secret>")
            .field("row", &self.row)
            .finish()
    }
}

impl TokenStore {
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            cache: Default::default(),
        }
    }

    fn cached(&self, digest: &str) -> Option<Principal> {
        let cache = self.cache.lock().ok()?;
        let (p, at, expires) = cache.get(digest)?;
        let fresh =
            at.elapsed() < CACHE_TTL && expires.is_none_or(|e| e > time::OffsetDateTime::now_utc());
        fresh.then(|| p.clone())
    }

    fn remember(&self, digest: String, p: &Principal, expires: Option<time::OffsetDateTime>) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(digest, (p.clone(), std::time::Instant::now(), expires));
        }
    }

    fn forget_all(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }

    /// Makes a token; `actor` is who asked (the CLI passes the operating-system user).
    pub async fn create_token(
        &self,
        actor: &Principal,
        name: &str,
        role: Role,
        ttl_days: Option<u32>,
    ) -> Result<Created> {
        if !valid_name(name) {
            return Err(Error::invalid(format!(
                "token name {name:?} must be 1-64 letters, digits or . _ @ -, starting with a letter or digit"
            )));
        }
        if ttl_days == Some(0) || ttl_days.is_some_and(|d| d > 3650) {
            return Err(Error::invalid("ttl_days must be between 1 and 3650"));
        }
        let token = generate();
        let mut c = self.pool.get().await.map_err(pool_error)?;
        let tx = c
            .transaction()
            .await
            .map_err(|e| pg_error("creating a token", e))?;
        let ttl = ttl_days
            .map(i32::try_from)
            .transpose()
            .map_err(|_| Error::invalid("ttl_days too large"))?;
        // An expired token gives its name up: it is revoked as the new one is made.
        tx.execute(
            "UPDATE auth.api_token SET revoked_at = now()
             WHERE name = $1 AND revoked_at IS NULL AND expires_at <= now()",
            &[&name],
        )
        .await
        .map_err(|e| pg_error("creating a token", e))?;
        let row = tx
            .query_one(
                "INSERT INTO auth.api_token (name, role, token_sha256, created_by, expires_at)
                 VALUES ($1, $2, $3, $4, now() + make_interval(days => $5))
                 RETURNING json_build_object('id', token_id, 'name', name, 'role', role,
                     'created_by', created_by, 'created_at', created_at, 'expires_at', expires_at)",
                &[&name, &role.as_str(), &digest(&token), &actor.subject, &ttl],
            )
            .await
            .map_err(|e| {
                let e = pg_error("creating a token", e);
                if e.kind() == muara_core::ErrorKind::Conflict {
                    Error::conflict(format!(
                        "a live token named {name:?} exists: revoke it first"
                    ))
                } else {
                    e
                }
            })?;
        let row: Value = row.get(0);
        crate::audit::record_in(
            &*tx,
            &AuditEntry {
                actor: actor.clone(),
                action: "token.create".into(),
                target: format!("token {name}"),
                before: None,
                after: Some(row.clone()),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(|e| pg_error("creating a token", e))?;
        Ok(Created { token, row })
    }

    pub async fn revoke_token(&self, actor: &Principal, id: i64) -> Result<Value> {
        let mut c = self.pool.get().await.map_err(pool_error)?;
        let tx = c
            .transaction()
            .await
            .map_err(|e| pg_error("revoking a token", e))?;
        let row = tx
            .query_opt(
                "UPDATE auth.api_token SET revoked_at = now()
                 WHERE token_id = $1 AND revoked_at IS NULL
                 RETURNING json_build_object('id', token_id, 'name', name, 'role', role, 'revoked_at', revoked_at)",
                &[&id],
            )
            .await
            .map_err(|e| pg_error("revoking a token", e))?
            .ok_or_else(|| Error::not_found(format!("no live token with id {id}")))?;
        let row: Value = row.get(0);
        crate::audit::record_in(
            &*tx,
            &AuditEntry {
                actor: actor.clone(),
                action: "token.revoke".into(),
                target: format!("token {}", row["name"].as_str().unwrap_or("?")),
                before: None,
                after: Some(row.clone()),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(|e| pg_error("revoking a token", e))?;
        self.forget_all();
        Ok(row)
    }

    pub async fn list_tokens(&self) -> Result<Value> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let row = c
            .query_one(
                "SELECT coalesce(json_agg(t ORDER BY t.id), '[]') FROM (
                     SELECT token_id AS id, name, role, created_by, created_at, expires_at, revoked_at, last_used_at
                     FROM auth.api_token) t",
                &[],
            )
            .await
            .map_err(|e| pg_error("reading auth.api_token", e))?;
        Ok(json!({"tokens": row.get::<_, Value>(0)}))
    }

    /// Whether a token was ever made (the first `muara up` makes an admin token otherwise; a
    /// database whose tokens were all revoked stays locked).
    pub async fn any(&self) -> Result<bool> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let row = c
            .query_one("SELECT EXISTS (SELECT 1 FROM auth.api_token)", &[])
            .await
            .map_err(|e| pg_error("reading auth.api_token", e))?;
        Ok(row.get(0))
    }

    /// The principal a secret token stands for.
    pub async fn principal(&self, token: &str) -> std::result::Result<Principal, AuthError> {
        if !well_formed(token) {
            return Err(AuthError::Invalid("unknown token".into()));
        }
        let digest = digest(token);
        if let Some(p) = self.cached(&digest) {
            return Ok(p);
        }
        let c = self
            .pool
            .get()
            .await
            .map_err(|e| AuthError::Unavailable(pool_error(e).chain()))?;
        // last_used_at is written at most once a minute per token.
        let row = c
            .query_opt(
                "WITH t AS (SELECT token_id, name, role, expires_at, revoked_at,
                                   expires_at IS NOT NULL AND expires_at <= now() AS expired
                            FROM auth.api_token WHERE token_sha256 = $1),
                      touch AS (UPDATE auth.api_token a SET last_used_at = now() FROM t
                                WHERE a.token_id = t.token_id AND NOT t.expired AND t.revoked_at IS NULL
                                  AND (a.last_used_at IS NULL OR a.last_used_at < now() - interval '1 minute'))
                 SELECT name, role, expired, revoked_at IS NOT NULL, expires_at FROM t",
                &[&digest],
            )
            .await
            .map_err(|e| AuthError::Unavailable(pg_error("checking a token", e).chain()))?
            .ok_or_else(|| AuthError::Invalid("unknown token".into()))?;
        if row.get::<_, bool>(3) {
            return Err(AuthError::Revoked);
        }
        if row.get::<_, bool>(2) {
            return Err(AuthError::Expired);
        }
        let role: String = row.get(1);
        let principal = Principal {
            subject: row.get(0),
            role: role.parse().map_err(|e: muara_core::ports::UnknownRole| {
                AuthError::Unavailable(e.to_string())
            })?,
            via: "token",
        };
        self.remember(digest, &principal, row.get(4));
        Ok(principal)
    }
}

#[async_trait]
impl Authenticator for TokenStore {
    async fn authenticate(
        &self,
        credentials: &Credentials<'_>,
    ) -> std::result::Result<Principal, AuthError> {
        self.principal(credentials.bearer()?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_recognisable() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(well_formed(&a), "{a}");
        assert_eq!(digest(&a).len(), 64);
        assert!(!well_formed("muara_xyz"));
        assert!(!well_formed(&a.to_uppercase()));
        assert!(!well_formed(&format!(
            "{a}'; DROP TABLE auth.api_token; --"
        )));
    }

    #[test]
    fn names_are_plain() {
        assert!(valid_name("alice@example.com"));
        assert!(valid_name("ci-bot.2"));
        assert!(!valid_name(""));
        assert!(!valid_name("<script>"));
        assert!(!valid_name("-x"));
    }
}

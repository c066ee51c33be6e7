//! Local API tokens: `muara_` + 64 hex digits (244 random bits from two v4 UUIDs), shown once;
//! `auth.api_token` keeps the SHA-256 only. A token authenticates while it is neither expired
//! nor revoked; its name is the subject the audit log records.

use crate::column;
use async_trait::async_trait;
use deadpool_postgres::Pool;
use muara_core::ports::{AuditEntry, AuthError, Authenticator, Credentials, Principal, Role};
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use time::OffsetDateTime;

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

/// `GET /tokens`: every token ever made, live or not, by id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// A token as listed: never its secret nor its hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    /// Who acts with it, as the audit log names them.
    pub name: String,
    pub role: Role,
    pub created_by: String,
    #[serde(with = "muara_core::timestamp")]
    pub created_at: OffsetDateTime,
    /// `null`: it does not expire.
    #[serde(with = "muara_core::timestamp::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "muara_core::timestamp::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Written at most once a minute.
    #[serde(with = "muara_core::timestamp::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// A token just made, as stored (its secret is only in [`Created`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenIssued {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_by: String,
    #[serde(with = "muara_core::timestamp")]
    pub created_at: OffsetDateTime,
    #[serde(with = "muara_core::timestamp::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A token just revoked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRevoked {
    pub id: i64,
    pub name: String,
    pub role: Role,
    #[serde(with = "muara_core::timestamp")]
    pub revoked_at: OffsetDateTime,
}

/// A token just made: the secret (shown once) and its row.
#[derive(Clone)]
pub struct Created {
    pub token: String,
    pub row: TokenIssued,
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
                 RETURNING token_id, name, role, created_by,
                           to_json(created_at) #>> '{}' AS created_at,
                           to_json(expires_at) #>> '{}' AS expires_at",
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
        let row = TokenIssued {
            id: row.get("token_id"),
            name: row.get("name"),
            role: column::role(&row, "role")?,
            created_by: row.get("created_by"),
            created_at: column::time(&row, "created_at")?,
            expires_at: column::time_opt(&row, "expires_at")?,
        };
        crate::audit::record_in(
            &*tx,
            &AuditEntry {
                actor: actor.clone(),
                action: "token.create".into(),
                target: format!("token {name}"),
                before: None,
                after: Some(crate::audit::snapshot(&row)?),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(|e| pg_error("creating a token", e))?;
        Ok(Created { token, row })
    }

    pub async fn revoke_token(&self, actor: &Principal, id: i64) -> Result<TokenRevoked> {
        let mut c = self.pool.get().await.map_err(pool_error)?;
        let tx = c
            .transaction()
            .await
            .map_err(|e| pg_error("revoking a token", e))?;
        let row = tx
            .query_opt(
                "UPDATE auth.api_token SET revoked_at = now()
                 WHERE token_id = $1 AND revoked_at IS NULL
                 RETURNING token_id, name, role, to_json(revoked_at) #>> '{}' AS revoked_at",
                &[&id],
            )
            .await
            .map_err(|e| pg_error("revoking a token", e))?
            .ok_or_else(|| Error::not_found(format!("no live token with id {id}")))?;
        let row = TokenRevoked {
            id: row.get("token_id"),
            name: row.get("name"),
            role: column::role(&row, "role")?,
            revoked_at: column::time(&row, "revoked_at")?,
        };
        crate::audit::record_in(
            &*tx,
            &AuditEntry {
                actor: actor.clone(),
                action: "token.revoke".into(),
                target: format!("token {}", row.name),
                before: None,
                after: Some(crate::audit::snapshot(&row)?),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(|e| pg_error("revoking a token", e))?;
        self.forget_all();
        Ok(row)
    }

    pub async fn list_tokens(&self) -> Result<TokenList> {
        let c = self.pool.get().await.map_err(pool_error)?;
        let rows = c
            .query(
                "SELECT token_id, name, role, created_by,
                        to_json(created_at) #>> '{}' AS created_at,
                        to_json(expires_at) #>> '{}' AS expires_at,
                        to_json(revoked_at) #>> '{}' AS revoked_at,
                        to_json(last_used_at) #>> '{}' AS last_used_at
                 FROM auth.api_token ORDER BY token_id",
                &[],
            )
            .await
            .map_err(|e| pg_error("reading auth.api_token", e))?;
        let tokens = rows
            .iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.get("token_id"),
                    name: r.get("name"),
                    role: column::role(r, "role")?,
                    created_by: r.get("created_by"),
                    created_at: column::time(r, "created_at")?,
                    expires_at: column::time_opt(r, "expires_at")?,
                    revoked_at: column::time_opt(r, "revoked_at")?,
                    last_used_at: column::time_opt(r, "last_used_at")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(TokenList { tokens })
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

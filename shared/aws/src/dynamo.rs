//! [`Locks`] and [`IdempotencyStore`] on one DynamoDB table (`pk` string key, TTL on `ttl`).
//!
//! DynamoDB's TTL deletes expired items lazily (up to days later), so expiry is decided by
//! the conditions themselves, on `expires_at_ms`: an expired item is treated as absent and can
//! be taken over by a conditional write. `ttl` only lets DynamoDB clean up eventually.

use crate::error::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use muara_core::ports::{Begin, Holder, IdempotencyStore, Lease, Locks};
use muara_core::{Error, ErrorKind, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct DynamoLocks {
    client: Client,
    table: String,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}
fn dur_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `(expires_at_ms, ttl seconds)` for an item living `d` from now.
fn expiry(d: Duration) -> (i64, i64) {
    let at = now_ms().saturating_add(dur_ms(d));
    (at, at / 1000 + 1)
}

fn is_conditional_failure(e: &Error) -> bool {
    e.kind() == ErrorKind::Conflict
}

impl DynamoLocks {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table (for tests and local provisioning; in AWS the template creates it).
    pub async fn create_table(client: &Client, table: &str) -> Result<Self> {
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| Error::with_source(ErrorKind::Fatal, "attribute definition", e))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(|e| Error::with_source(ErrorKind::Fatal, "key schema", e))?,
            )
            .send()
            .await
            .map_err(|e| sdk_error(&format!("DynamoDB CreateTable {table}"), e))?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("ttl")
                    .enabled(true)
                    .build()
                    .map_err(|e| Error::with_source(ErrorKind::Fatal, "TTL specification", e))?,
            )
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB UpdateTimeToLive", e))?;
        Ok(Self::new(client.clone(), table))
    }

    async fn get(&self, pk: &str) -> Result<Option<HashMap<String, AttributeValue>>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB GetItem", e))?;
        Ok(out.item().cloned())
    }
}

fn lock_pk(key: &str) -> String {
    format!("lock#{key}")
}
fn idem_pk(key: &str) -> String {
    format!("idem#{key}")
}

#[async_trait]
impl Locks for DynamoLocks {
    async fn acquire(&self, key: &str, owner: &str, ttl: Duration) -> Result<Option<Lease>> {
        let token = uuid::Uuid::new_v4().to_string();
        let (at, ttl_s) = expiry(ttl);
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&lock_pk(key)))
            .item("owner", s(owner))
            .item("token", s(&token))
            .item("expires_at_ms", n(at))
            .item("ttl", n(ttl_s))
            .condition_expression("attribute_not_exists(pk) OR expires_at_ms <= :now")
            .expression_attribute_values(":now", n(now_ms()))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB PutItem (lock)", e));
        match res {
            Ok(_) => Ok(Some(Lease {
                key: key.to_string(),
                owner: owner.to_string(),
                token,
            })),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let (at, ttl_s) = expiry(ttl);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&lock_pk(&lease.key)))
            .update_expression("SET expires_at_ms = :at, #ttl = :ttl, #owner = :owner")
            .condition_expression("#token = :token AND expires_at_ms > :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":ttl", n(ttl_s))
            .expression_attribute_values(":token", s(&lease.token))
            .expression_attribute_values(":now", n(now_ms()))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB UpdateItem (renew lock)", e));
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn holder(&self, key: &str) -> Result<Option<Holder>> {
        let Some(item) = self.get(&lock_pk(key)).await? else {
            return Ok(None);
        };
        let text = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let expires = item
            .get("expires_at_ms")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let left = expires.saturating_sub(now_ms());
        if left <= 0 {
            return Ok(None);
        }
        Ok(Some(Holder {
            owner: text("owner"),
            token: text("token"),
            expires_in: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
        }))
    }

    async fn take_over(
        &self,
        key: &str,
        token: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let new = uuid::Uuid::new_v4().to_string();
        let (at, ttl_s) = expiry(ttl);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&lock_pk(key)))
            .update_expression(
                "SET expires_at_ms = :at, #ttl = :ttl, #owner = :owner, #token = :new",
            )
            .condition_expression("#token = :old")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":ttl", n(ttl_s))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":new", s(&new))
            .expression_attribute_values(":old", s(token))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB UpdateItem (take over lock)", e));
        match res {
            Ok(_) => Ok(Some(Lease {
                key: key.to_string(),
                owner: owner.to_string(),
                token: new,
            })),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&lock_pk(&lease.key)))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", s(&lease.token))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB DeleteItem (release lock)", e));
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl IdempotencyStore for DynamoLocks {
    async fn begin(&self, key: &str, payload_hash: &str, claim_ttl: Duration) -> Result<Begin> {
        let pk = idem_pk(key);
        let (at, ttl_s) = expiry(claim_ttl);
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&pk))
            .item("state", s("in_progress"))
            .item("payload_hash", s(payload_hash))
            .item("expires_at_ms", n(at))
            .item("ttl", n(ttl_s))
            .condition_expression("attribute_not_exists(pk) OR expires_at_ms <= :now")
            .expression_attribute_values(":now", n(now_ms()))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB PutItem (idempotency)", e));
        match res {
            Ok(_) => return Ok(Begin::Started),
            Err(e) if is_conditional_failure(&e) => {}
            Err(e) => return Err(e),
        }
        let Some(item) = self.get(&pk).await? else {
            // Deleted between the two calls (abandoned): claim again.
            return Box::pin(self.begin(key, payload_hash, claim_ttl)).await;
        };
        let text = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let hash = text("payload_hash");
        if hash != payload_hash {
            return Ok(Begin::Conflict {
                existing_hash: hash,
            });
        }
        if text("state") == "completed" {
            let result = item
                .get("result")
                .and_then(|v| v.as_s().ok())
                .map(|r| serde_json::from_str(r))
                .transpose()?
                .unwrap_or(Value::Null);
            return Ok(Begin::Completed(result));
        }
        Ok(Begin::InProgress)
    }

    async fn complete(&self, key: &str, result: &Value, retention: Duration) -> Result<()> {
        let (at, ttl_s) = expiry(retention);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&idem_pk(key)))
            .update_expression(
                "SET #state = :done, #result = :result, expires_at_ms = :at, #ttl = :ttl",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#result", "result")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":done", s("completed"))
            .expression_attribute_values(":result", s(&result.to_string()))
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":ttl", n(ttl_s))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB UpdateItem (complete)", e));
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(Error::not_found(format!(
                "no idempotency record {key:?} to complete"
            ))),
            Err(e) => Err(e),
        }
    }

    async fn abandon(&self, key: &str) -> Result<()> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&idem_pk(key)))
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB DeleteItem (abandon)", e));
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

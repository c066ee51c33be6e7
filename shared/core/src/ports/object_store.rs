use crate::Result;
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// What a listing or a head request tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Base64 SHA-256 (`<b64>-<parts>` for multipart objects) when the store recorded one.
    pub sha256: Option<String>,
    pub last_modified: Option<OffsetDateTime>,
    /// User metadata (`x-amz-meta-*` in S3).
    pub metadata: BTreeMap<String, String>,
}

/// Options for [`ObjectStore::put`].
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// A bucket-like store of immutable objects addressed by key.
///
/// Writes are atomic (a reader sees the whole old object or the whole new one) and verified
/// with SHA-256. Bodies above the adapter's multipart threshold are uploaded in parts.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Stores `body` under `key` and returns what the store recorded, checksum included.
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<ObjectInfo>;
    /// The whole object; `NotFound` when absent.
    async fn get(&self, key: &str) -> Result<Bytes>;
    /// Metadata only; `Ok(None)` when absent.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>>;
    /// Every object whose key starts with `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;
    /// Removes the object; deleting an absent key is not an error.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Copies then deletes (S3 has no rename); the source stays if the copy fails.
    async fn rename(&self, from: &str, to: &str) -> Result<()>;

    /// Writes the object to a local file, streaming (large objects never sit in memory).
    /// The default reads the object whole; adapters override it.
    async fn download(&self, key: &str, dest: &std::path::Path) -> Result<u64> {
        let body = self.get(key).await?;
        tokio::fs::write(dest, &body).await?;
        Ok(body.len() as u64)
    }

    /// Stores a local file as `key`, streaming. The default reads the file whole; adapters
    /// override it.
    async fn upload(
        &self,
        key: &str,
        src: &std::path::Path,
        opts: &PutOptions,
    ) -> Result<ObjectInfo> {
        let body = tokio::fs::read(src).await?;
        self.put(key, Bytes::from(body), opts).await
    }
}

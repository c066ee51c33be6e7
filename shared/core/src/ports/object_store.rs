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

/// One part of a multipart upload as the store acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadedPart {
    /// 1-based.
    pub number: u32,
    pub etag: Option<String>,
    /// Base64 SHA-256 of the part, which the store verified on receipt.
    pub sha256: String,
    pub size: u64,
}

/// Multipart uploads the caller drives part by part, so an upload interrupted by a crash can be
/// resumed: the caller records the upload id and each acknowledged part, and later uploads
/// only the missing parts and completes. Parts are at least 5 MiB except the last (S3's rule).
#[async_trait]
pub trait MultipartUploads: Send + Sync {
    /// Starts an upload of `key` whose parts carry SHA-256 checksums; returns its upload id.
    async fn start_upload(&self, key: &str, opts: &PutOptions) -> Result<String>;
    /// Uploads part `number` (1-based); the store verifies the part's SHA-256. Uploading the
    /// same number again replaces the part. `NotFound` when the upload no longer exists.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
    ) -> Result<UploadedPart>;
    /// Joins the parts (in number order) into the object and returns what the store recorded,
    /// its composite checksum `<b64>-<parts>` included. `NotFound` when the upload is gone.
    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> Result<ObjectInfo>;
    /// Discards the upload and its parts; an unknown upload id is not an error.
    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()>;
}

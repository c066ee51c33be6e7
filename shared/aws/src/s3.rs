//! [`ObjectStore`] on S3.
//!
//! Every upload carries a SHA-256 that S3 verifies on receipt. Bodies above
//! `multipart_threshold` go up in parts of `part_size` (uploaded a few at a time), each part
//! with its own checksum; S3 then reports the composite `<base64>-<parts>` checksum, which
//! [`muara_core::checksum::multipart_sha256_b64`] reproduces. A failed multipart upload is
//! aborted so no orphaned parts are billed.

use crate::error::sdk_error;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use muara_core::checksum::sha256_b64;
use muara_core::ports::{MultipartUploads, ObjectInfo, ObjectStore, PutOptions, UploadedPart};
use muara_core::{Error, ErrorKind, Result};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// S3's minimum part size (except for the last part).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    multipart_threshold: usize,
    part_size: usize,
    part_concurrency: usize,
}

fn to_time(t: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<OffsetDateTime> {
    t.and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok())
}

impl S3Store {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            part_concurrency: 4,
        }
    }

    /// Changes when multipart starts and how big parts are (at least 5 MiB, S3's minimum).
    pub fn with_multipart(mut self, threshold: usize, part_size: usize) -> Self {
        self.part_size = part_size.max(MIN_PART_SIZE);
        self.multipart_threshold = threshold.max(self.part_size);
        self
    }

    /// One multipart upload of `size` bytes whose part `i` (0-based) `read_part` produces:
    /// parts go up `part_concurrency` at a time, so memory stays at part_size × concurrency
    /// whatever the size; on any failure the upload is aborted.
    async fn multipart<F, Fut>(
        &self,
        key: &str,
        opts: &PutOptions,
        size: u64,
        read_part: F,
    ) -> Result<()>
    where
        F: Fn(u64, usize) -> Fut,
        Fut: std::future::Future<Output = Result<Bytes>>,
    {
        let upload_id = self.start_upload(key, opts).await?;
        let part_size = self.part_size as u64;
        let count = size.div_ceil(part_size);
        let uploaded: Result<Vec<UploadedPart>> = futures::stream::iter(0..count)
            .map(|i| {
                let (upload_id, read_part) = (&upload_id, &read_part);
                async move {
                    let len =
                        usize::try_from(part_size.min(size - i * part_size)).unwrap_or(usize::MAX);
                    let chunk = read_part(i * part_size, len).await?;
                    let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    self.upload_part(key, upload_id, n, chunk).await
                }
            })
            .buffer_unordered(self.part_concurrency)
            .try_collect()
            .await;
        let mut parts = match uploaded {
            Ok(p) => p,
            Err(e) => {
                self.abort(key, &upload_id).await;
                return Err(e);
            }
        };
        parts.sort_by_key(|p| p.number);
        if let Err(e) = self.complete(key, &upload_id, &parts).await {
            self.abort(key, &upload_id).await;
            return Err(e);
        }
        Ok(())
    }

    async fn complete(&self, key: &str, upload_id: &str, parts: &[UploadedPart]) -> Result<()> {
        let parts = parts
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(i32::try_from(p.number).unwrap_or(i32::MAX))
                    .set_e_tag(p.etag.clone())
                    .checksum_sha256(&p.sha256)
                    .build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error("S3 CompleteMultipartUpload", e))?;
        Ok(())
    }

    /// What S3 recorded for an object just written (its checksum is what later reads verify).
    async fn head_after_upload(&self, key: &str) -> Result<ObjectInfo> {
        self.head(key).await?.ok_or_else(|| {
            Error::retryable(format!("object {key:?} not visible right after upload"))
        })
    }

    /// Abandons a failed upload; a failure to do so is only logged (the bucket's lifecycle rule
    /// removes incomplete uploads).
    async fn abort(&self, key: &str, upload_id: &str) {
        if let Err(e) = self.abort_upload(key, upload_id).await {
            tracing::warn!(%key, error = %e.chain(), "could not abort a multipart upload; the bucket's lifecycle rule removes it");
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<ObjectInfo> {
        let size = body.len() as u64;
        let reported = if body.len() > self.multipart_threshold {
            let body = &body;
            self.multipart(key, opts, size, |offset, len| async move {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                Ok(body.slice(start..start + len))
            })
            .await?;
            None
        } else {
            let sum = sha256_b64(&body);
            let out = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(&sum)
                .set_content_type(opts.content_type.clone())
                .set_metadata(Some(opts.metadata.clone().into_iter().collect()))
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| sdk_error("S3 PutObject", e))?;
            // Only what the store says: a store that ignores checksums reports none, and a
            // caller that verifies (the recording agent) must see that, not our own digest.
            out.checksum_sha256().map(str::to_string)
        };
        // Read back what S3 recorded: the checksum it stores is the one later reads verify.
        let info = self.head_after_upload(key).await?;
        Ok(ObjectInfo {
            sha256: info.sha256.or(reported),
            size,
            ..info
        })
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("S3 GetObject {key:?}"), e))?;
        let data = out.body.collect().await.map_err(|e| {
            Error::with_source(ErrorKind::Retryable, "reading an S3 object body", e)
        })?;
        Ok(data.into_bytes())
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let res = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(ObjectInfo {
                key: key.to_string(),
                size: u64::try_from(out.content_length().unwrap_or(0)).unwrap_or(0),
                sha256: out.checksum_sha256().map(str::to_string),
                last_modified: to_time(out.last_modified()),
                metadata: out
                    .metadata()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            })),
            Err(e) => {
                let err = sdk_error(&format!("S3 HeadObject {key:?}"), e);
                if err.kind() == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("S3 ListObjectsV2", e))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                out.push(ObjectInfo {
                    key: key.to_string(),
                    size: u64::try_from(o.size().unwrap_or(0)).unwrap_or(0),
                    sha256: None,
                    last_modified: to_time(o.last_modified()),
                    metadata: BTreeMap::new(),
                });
            }
        }
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("S3 DeleteObject {key:?}"), e))?;
        Ok(())
    }

    async fn download(&self, key: &str, dest: &std::path::Path) -> Result<u64> {
        use tokio::io::AsyncWriteExt as _;
        let mut out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("S3 GetObject {key:?}"), e))?;
        let mut file = tokio::fs::File::create(dest).await?;
        let mut total = 0u64;
        while let Some(chunk) =
            out.body.try_next().await.map_err(|e| {
                Error::with_source(ErrorKind::Retryable, "reading an S3 object body", e)
            })?
        {
            total += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        // tokio reports a failed last write (a full /tmp) on flush, not on sync_all.
        file.flush().await?;
        file.sync_all().await?;
        Ok(total)
    }

    async fn upload(
        &self,
        key: &str,
        src: &std::path::Path,
        opts: &PutOptions,
    ) -> Result<ObjectInfo> {
        let size = tokio::fs::metadata(src).await?.len();
        if size <= self.multipart_threshold as u64 {
            let body = tokio::fs::read(src).await?;
            return self.put(key, Bytes::from(body), opts).await;
        }
        self.multipart(key, opts, size, |offset, len| async move {
            use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
            let mut f = tokio::fs::File::open(src).await?;
            f.seek(std::io::SeekFrom::Start(offset)).await?;
            let mut buf = vec![0u8; len];
            f.read_exact(&mut buf).await?;
            Ok(Bytes::from(buf))
        })
        .await?;
        self.head_after_upload(key).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let source = format!("{}/{}", self.bucket, percent_encode_key(from));
        let mut copy = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .checksum_algorithm(ChecksumAlgorithm::Sha256);
        if is_archive(to) {
            // The bucket's lifecycle rule expires archived copies by this tag (prefixes are
            // per client, and lifecycle filters match literal prefixes only).
            copy = copy
                .tagging(ARCHIVE_TAG)
                .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace);
        }
        copy.send()
            .await
            .map_err(|e| sdk_error(&format!("S3 CopyObject {from:?} -> {to:?}"), e))?;
        self.delete(from).await
    }
}

#[async_trait]
impl MultipartUploads for S3Store {
    async fn start_upload(&self, key: &str, opts: &PutOptions) -> Result<String> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .set_content_type(opts.content_type.clone())
            .set_metadata(Some(opts.metadata.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| sdk_error("S3 CreateMultipartUpload", e))?;
        Ok(created
            .upload_id()
            .ok_or_else(|| Error::fatal("S3 returned no upload id"))?
            .to_string())
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
    ) -> Result<UploadedPart> {
        let sum = sha256_b64(&body);
        let size = body.len() as u64;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(i32::try_from(number).unwrap_or(i32::MAX))
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(&sum)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("S3 UploadPart {number}"), e))?;
        Ok(UploadedPart {
            number,
            etag: out.e_tag().map(str::to_string),
            sha256: sum,
            size,
        })
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> Result<ObjectInfo> {
        self.complete(key, upload_id, parts).await?;
        self.head_after_upload(key).await
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = sdk_error("S3 AbortMultipartUpload", e);
                if err.kind() == ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

/// The tag `muara:archive=true` (URL-encoded query form) of objects moved into an `archive/` folder.
pub const ARCHIVE_TAG: &str = "muara%3Aarchive=true";

/// Keys with an `archive` folder in their path (`raw/{client}/{source}/archive/…`).
fn is_archive(key: &str) -> bool {
    key.split('/').rev().skip(1).any(|part| part == "archive")
}

/// `CopySource` must be URL-encoded, slashes kept.
fn percent_encode_key(key: &str) -> String {
    muara_core::s3event::encode_key(key).replace('+', "%20")
}

//! An object store on a local directory, with the key layout of the S3 bucket.
//!
//! Objects are plain files at `root/<key>`, so a user can drop files into the lake folder and
//! look at results with ordinary tools. What S3 keeps beside an object (content type, user
//! metadata, SHA-256) lives in `root/.muara/meta/<key>.json`. Writes go to a temporary file in
//! `root/.muara/tmp`, are synced, then renamed into place, so a reader never sees half an
//! object.

use async_trait::async_trait;
use bytes::Bytes;
use muara_core::checksum::sha256_b64;
use muara_core::ports::{MultipartUploads, ObjectInfo, ObjectStore, PutOptions, UploadedPart};
use muara_core::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

const INTERNAL: &str = ".muara";

#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    sha256: String,
    size: u64,
    content_type: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// Rejects keys that could escape the root or that S3 would not store the same way.
pub fn validate_key(key: &str) -> Result<()> {
    let bad = key.is_empty()
        || key.len() > 1024
        || key.starts_with('/')
        || key.contains('\0')
        || key.contains('\\')
        || key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        || key.split('/').next() == Some(INTERNAL);
    if bad {
        return Err(Error::invalid(format!("invalid object key {key:?}")));
    }
    Ok(())
}

impl DirStore {
    /// A store rooted at `root`, created if missing.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        tokio::fs::create_dir_all(root.join(INTERNAL).join("tmp")).await?;
        tokio::fs::create_dir_all(root.join(INTERNAL).join("meta")).await?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file holding `key`.
    pub fn path_of(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    fn meta_path(&self, key: &str) -> PathBuf {
        self.root
            .join(INTERNAL)
            .join("meta")
            .join(format!("{key}.json"))
    }

    /// A fresh temporary file name inside the store (same file system: renames are atomic).
    fn tmp_path(&self) -> PathBuf {
        self.root
            .join(INTERNAL)
            .join("tmp")
            .join(uuid::Uuid::new_v4().to_string())
    }

    async fn write_atomic(&self, dest: &Path, data: &[u8]) -> Result<()> {
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = self.tmp_path();
        let res = async {
            let mut f = tokio::fs::File::create(&tmp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut f, data).await?;
            // tokio reports a failed write (ENOSPC: the disk full) on the next write or flush,
            // not on sync_all: without this flush a full disk commits a truncated file.
            tokio::io::AsyncWriteExt::flush(&mut f).await?;
            f.sync_all().await?;
            drop(f);
            tokio::fs::rename(&tmp, dest).await
        }
        .await;
        if res.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        res.map_err(Error::from)
    }

    /// Writes the metadata of the object now at `dest` and says what the store recorded.
    async fn commit_meta(&self, key: &str, dest: &Path, meta: Meta) -> Result<ObjectInfo> {
        self.write_atomic(&self.meta_path(key), &serde_json::to_vec(&meta)?)
            .await?;
        let md = tokio::fs::metadata(dest).await?;
        Ok(ObjectInfo {
            key: key.to_string(),
            size: meta.size,
            sha256: Some(meta.sha256),
            last_modified: md.modified().ok().map(OffsetDateTime::from),
            metadata: meta.metadata,
        })
    }

    async fn read_meta(&self, key: &str) -> Option<Meta> {
        let raw = tokio::fs::read(self.meta_path(key)).await.ok()?;
        serde_json::from_slice(&raw).ok()
    }

    async fn info(&self, key: &str, md: &std::fs::Metadata, with_hash: bool) -> Result<ObjectInfo> {
        let meta = self.read_meta(key).await.filter(|m| m.size == md.len());
        let sha256 = match (&meta, with_hash) {
            (Some(m), _) => Some(m.sha256.clone()),
            // A file dropped in by hand has no sidecar: hash it when asked for one object.
            (None, true) => Some(sha256_b64(&tokio::fs::read(self.path_of(key)?).await?)),
            (None, false) => None,
        };
        Ok(ObjectInfo {
            key: key.to_string(),
            size: md.len(),
            sha256,
            last_modified: md.modified().ok().map(OffsetDateTime::from),
            metadata: meta.map(|m| m.metadata).unwrap_or_default(),
        })
    }

    /// Every object key under the root, in key order, skipping the internal folder and
    /// temporary files of editors and uploaders (dot files).
    fn walk(
        &self,
        dir: &Path,
        prefix: &str,
        out: &mut Vec<(String, std::fs::Metadata)>,
    ) -> Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tracing::warn!(path = %entry.path().display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let key = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            let md = entry.metadata()?;
            if md.is_dir() {
                self.walk(&entry.path(), &key, out)?;
            } else if md.is_file() {
                out.push((key, md));
            }
        }
        Ok(())
    }

    /// Keys with their size and modification time, without hashing (for the lake watcher).
    pub async fn scan(&self, prefix: &str) -> Result<Vec<(String, std::fs::Metadata)>> {
        let this = self.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            // Walk only the deepest folder the prefix names completely.
            let dir_part = match prefix.rfind('/') {
                Some(i) => &prefix[..i],
                None => "",
            };
            let mut out = Vec::new();
            this.walk(&this.root.join(dir_part), dir_part, &mut out)?;
            out.retain(|(k, _)| k.starts_with(&prefix));
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
        .await
        .map_err(|e| Error::with_source(ErrorKind::Fatal, "directory scan panicked", e))?
    }
}

#[async_trait]
impl ObjectStore for DirStore {
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<ObjectInfo> {
        let dest = self.path_of(key)?;
        let sha = sha256_b64(&body);
        let meta = Meta {
            sha256: sha.clone(),
            size: body.len() as u64,
            content_type: opts.content_type.clone(),
            metadata: opts.metadata.clone(),
        };
        // The sidecar of an older object must not describe the new one, even for a moment.
        let _ = tokio::fs::remove_file(self.meta_path(key)).await;
        self.write_atomic(&dest, &body).await?;
        self.commit_meta(key, &dest, meta).await
    }

    async fn get(&self, key: &str) -> Result<Bytes> {
        match tokio::fs::read(self.path_of(key)?).await {
            Ok(b) => Ok(Bytes::from(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::not_found(format!("no object {key:?}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(md) if md.is_file() => Ok(Some(self.info(key, &md, true).await?)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        for (key, md) in self.scan(prefix).await? {
            out.push(self.info(&key, &md, false).await?);
        }
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path_of(key)?;
        for p in [path, self.meta_path(key)] {
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn download(&self, key: &str, dest: &Path) -> Result<u64> {
        match tokio::fs::copy(self.path_of(key)?, dest).await {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::not_found(format!("no object {key:?}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn upload(&self, key: &str, src: &Path, opts: &PutOptions) -> Result<ObjectInfo> {
        let dest = self.path_of(key)?;
        let (sha, size) = sha256_file(src).await?;
        let tmp = self.tmp_path();
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let _ = tokio::fs::remove_file(self.meta_path(key)).await;
        let copied = async {
            tokio::fs::copy(src, &tmp).await?;
            tokio::fs::File::open(&tmp).await?.sync_all().await?;
            tokio::fs::rename(&tmp, &dest).await
        }
        .await;
        if let Err(e) = copied {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        let meta = Meta {
            sha256: sha,
            size,
            content_type: opts.content_type.clone(),
            metadata: opts.metadata.clone(),
        };
        self.commit_meta(key, &dest, meta).await
    }

    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        let src = self.path_of(from)?;
        let dst = self.path_of(to)?;
        if let Some(parent) = dst.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        match tokio::fs::rename(&src, &dst).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::not_found(format!("no object {from:?}")));
            }
            Err(e) => return Err(e.into()),
        }
        // As in S3 (a rename is a copy there), the object at its new key was made now: its age
        // counts from the move — an archived file copied in with preserved timestamps is not
        // as old as its source file says.
        let moved = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&dst)
            .await?
            .into_std()
            .await;
        moved.set_modified(std::time::SystemTime::now())?;
        let (msrc, mdst) = (self.meta_path(from), self.meta_path(to));
        if tokio::fs::metadata(&msrc).await.is_ok() {
            if let Some(parent) = mdst.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            tokio::fs::rename(&msrc, &mdst).await?;
        } else {
            let _ = tokio::fs::remove_file(&mdst).await;
        }
        Ok(())
    }
}

/// Multipart uploads in `root/.muara/uploads/<upload id>/`: one file per part, joined into the
/// object on completion, so an interrupted upload can be resumed as in S3.
#[async_trait]
impl MultipartUploads for DirStore {
    async fn start_upload(&self, key: &str, opts: &PutOptions) -> Result<String> {
        validate_key(key)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = self.upload_dir(&id)?;
        tokio::fs::create_dir_all(&dir).await?;
        let meta = Meta {
            sha256: String::new(),
            size: 0,
            content_type: opts.content_type.clone(),
            metadata: opts.metadata.clone(),
        };
        let pending = PendingUpload {
            key: key.to_string(),
            meta,
        };
        self.write_atomic(&dir.join("upload.json"), &serde_json::to_vec(&pending)?)
            .await?;
        Ok(id)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        body: Bytes,
    ) -> Result<UploadedPart> {
        let dir = self.open_upload(key, upload_id).await?.0;
        if number == 0 || number > 10_000 {
            return Err(Error::invalid(format!(
                "part number {number} is outside 1..=10000"
            )));
        }
        let sha256 = sha256_b64(&body);
        self.write_atomic(&dir.join(format!("{number:05}")), &body)
            .await?;
        Ok(UploadedPart {
            number,
            etag: Some(format!("\"{}\"", muara_core::checksum::sha256_hex(&body))),
            sha256,
            size: body.len() as u64,
        })
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> Result<ObjectInfo> {
        use sha2::Digest as _;
        use tokio::io::AsyncWriteExt as _;
        let (dir, pending) = self.open_upload(key, upload_id).await?;
        if parts.is_empty() || parts.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(Error::invalid(
                "parts must be given in ascending number order",
            ));
        }
        let dest = self.path_of(key)?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let tmp = self.tmp_path();
        let mut outer = sha2::Sha256::new();
        let mut size = 0u64;
        let joined = async {
            let mut out = tokio::fs::File::create(&tmp).await?;
            for p in parts {
                let body = match tokio::fs::read(dir.join(format!("{:05}", p.number))).await {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(Error::invalid(format!(
                            "part {} was never uploaded",
                            p.number
                        )));
                    }
                    Err(e) => return Err(e.into()),
                };
                if sha256_b64(&body) != p.sha256 {
                    return Err(Error::invalid(format!(
                        "part {} does not match its checksum",
                        p.number
                    )));
                }
                outer.update(sha2::Sha256::digest(&body));
                size += body.len() as u64;
                out.write_all(&body).await?;
            }
            out.flush().await?; // surfaces a failed last write (see write_atomic)
            out.sync_all().await?;
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = joined {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        use base64::Engine as _;
        let sha = format!(
            "{}-{}",
            base64::engine::general_purpose::STANDARD.encode(outer.finalize()),
            parts.len()
        );
        let _ = tokio::fs::remove_file(self.meta_path(key)).await;
        tokio::fs::rename(&tmp, &dest).await?;
        let meta = Meta {
            sha256: sha,
            size,
            ..pending.meta
        };
        let info = self.commit_meta(key, &dest, meta).await?;
        let _ = tokio::fs::remove_dir_all(&dir).await;
        Ok(info)
    }

    async fn abort_upload(&self, _key: &str, upload_id: &str) -> Result<()> {
        match tokio::fs::remove_dir_all(self.upload_dir(upload_id)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct PendingUpload {
    key: String,
    meta: Meta,
}

impl DirStore {
    fn upload_dir(&self, upload_id: &str) -> Result<PathBuf> {
        if upload_id.is_empty() || !upload_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::not_found(format!("no upload {upload_id:?}")));
        }
        Ok(self.root.join(INTERNAL).join("uploads").join(upload_id))
    }

    async fn open_upload(&self, key: &str, upload_id: &str) -> Result<(PathBuf, PendingUpload)> {
        let dir = self.upload_dir(upload_id)?;
        let pending: PendingUpload = match tokio::fs::read(dir.join("upload.json")).await {
            Ok(raw) => serde_json::from_slice(&raw)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::not_found(format!("no upload {upload_id:?}")));
            }
            Err(e) => return Err(e.into()),
        };
        if pending.key != key {
            return Err(Error::not_found(format!(
                "no upload {upload_id:?} for {key:?}"
            )));
        }
        Ok((dir, pending))
    }
}

/// SHA-256 of a file, read in chunks.
async fn sha256_file(path: &Path) -> Result<(String, u64)> {
    use sha2::Digest as _;
    use tokio::io::AsyncReadExt as _;
    let mut f = tokio::fs::File::open(path).await?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    use base64::Engine as _;
    Ok((
        base64::engine::general_purpose::STANDARD.encode(hasher.finalize()),
        total,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_the_root_are_rejected() {
        for bad in ["", "/abs", "a/../b", "a//b", "./a", ".muara/meta/x", "a\\b"] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_key("raw/acme/sales/incoming/file 1.csv").is_ok());
    }
}

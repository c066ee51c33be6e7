//! The agent's state journal: one record per recording (keyed by the `.wav` path) in an
//! embedded [`redb`] database, a copy-on-write B-tree whose commits are atomic and durable
//! (fsync on commit; a torn write is detected by checksums and the last good commit is used).
//! So a kill at any moment leaves every record as it was before or after one step, never half.
//!
//! What is recorded, and when, is chosen so a crash never loses or doubles work:
//! - `Uploading`, with the upload id and every part the store acknowledged (a resumed upload
//!   sends only the missing parts, to the same upload);
//! - `Published` once the audio is verified and the sidecar written (a crash before that is
//!   recovered from the lake itself: the audio is found there with the same checksum);
//! - `Archived` / `Deleted` after the after-upload policy ran;
//! - `Failed`, with the stage and reason, and whether the next run tries again.
//!
//! Each record also holds the size and modification time of the `.wav` and `.xml` it is about:
//! a recording whose files changed since is taken as new.

use muara_core::ports::UploadedPart;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {message}")]
    Db { path: PathBuf, message: String },
    #[error("journal record for {0} is unreadable: {1}")]
    Record(String, serde_json::Error),
}

/// Where a recording is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// A multipart upload is under way (see [`Entry::upload`]).
    Uploading,
    /// Audio verified in the lake and its sidecar written.
    Published,
    /// Published, and the local files moved to the archive folder.
    Archived,
    /// Published, and the local files deleted.
    Deleted,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Uploading => "uploading",
            State::Published => "published",
            State::Archived => "archived",
            State::Deleted => "deleted",
            State::Failed => "failed",
        }
    }
}

/// Size and modification time of a file, as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Sig {
    pub size: u64,
    pub mtime_ns: i64,
}

impl Sig {
    pub fn of(md: &std::fs::Metadata) -> Self {
        let mtime_ns = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_nanos()).ok())
            .unwrap_or(0);
        Self {
            size: md.len(),
            mtime_ns,
        }
    }
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub upload_id: String,
    pub part_size: u64,
    pub parts: Vec<UploadedPart>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureNote {
    pub stage: String,
    pub reason: String,
    pub will_retry: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub state: State,
    pub wav: Sig,
    pub xml: Sig,
    #[serde(default)]
    pub call_id: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    /// The store's checksum of the audio object once verified.
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub upload: Option<Upload>,
    #[serde(default)]
    pub failure: Option<FailureNote>,
    /// Unix seconds.
    pub updated_at: i64,
}

impl Entry {
    pub fn new(state: State, wav: Sig, xml: Sig) -> Self {
        Self {
            state,
            wav,
            xml,
            call_id: None,
            key: None,
            checksum: None,
            upload: None,
            failure: None,
            updated_at: now(),
        }
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The journal; cheap to clone, safe to share between upload tasks.
#[derive(Clone)]
pub struct Journal {
    db: Arc<Database>,
    path: PathBuf,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish()
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path`. Only one agent may hold it at a time: a second
    /// one gets a clear error instead of a corrupt journal.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| JournalError::Db {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        let err = |e: redb::Error| JournalError::Db {
            path: path.to_path_buf(),
            message: match e {
                redb::Error::DatabaseAlreadyOpen => {
                    "already in use by another agent on this host".into()
                }
                other => other.to_string(),
            },
        };
        let db = Database::create(path).map_err(|e| err(e.into()))?;
        let txn = db.begin_write().map_err(|e| err(e.into()))?;
        txn.open_table(FILES).map_err(|e| err(e.into()))?;
        txn.commit().map_err(|e| err(e.into()))?;
        Ok(Self {
            db: Arc::new(db),
            path: path.to_path_buf(),
        })
    }

    fn err(&self, e: impl Into<redb::Error>) -> JournalError {
        JournalError::Db {
            path: self.path.clone(),
            message: e.into().to_string(),
        }
    }

    pub fn get(&self, wav: &str) -> Result<Option<Entry>, JournalError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(FILES).map_err(|e| self.err(e))?;
        match table.get(wav).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(
                serde_json::from_slice(v.value())
                    .map_err(|e| JournalError::Record(wav.to_string(), e))?,
            )),
            None => Ok(None),
        }
    }

    /// Writes `entry` durably (the call returns after the commit reached the disk).
    pub fn put(&self, wav: &str, entry: &Entry) -> Result<(), JournalError> {
        let mut entry = entry.clone();
        entry.updated_at = now();
        let raw =
            serde_json::to_vec(&entry).map_err(|e| JournalError::Record(wav.to_string(), e))?;
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut table = txn.open_table(FILES).map_err(|e| self.err(e))?;
            table.insert(wav, raw.as_slice()).map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// Every record, in one read transaction (a rescan compares the folders with this).
    pub fn all(&self) -> Result<HashMap<String, Entry>, JournalError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = txn.open_table(FILES).map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for item in table.iter().map_err(|e| self.err(e))? {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let key = k.value().to_string();
            let entry = serde_json::from_slice(v.value())
                .map_err(|e| JournalError::Record(key.clone(), e))?;
            out.insert(key, entry);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_and_a_second_agent_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.redb");
        let j = Journal::open(&path).expect("open");
        let mut e = Entry::new(
            State::Uploading,
            Sig {
                size: 1,
                mtime_ns: 2,
            },
            Sig::default(),
        );
        e.upload = Some(Upload {
            upload_id: "u1".into(),
            part_size: 5 << 20,
            parts: vec![UploadedPart {
                number: 1,
                etag: Some("\"e\"".into()),
                sha256: "s".into(),
                size: 5 << 20,
            }],
        });
        j.put("/spool/a.wav", &e).expect("put");
        let second = Journal::open(&path).expect_err("held").to_string();
        assert!(second.contains("already in use"), "{second}");
        drop(j);
        let j = Journal::open(&path).expect("reopen");
        let got = j.get("/spool/a.wav").expect("get").expect("present");
        assert_eq!(got.upload, e.upload);
        assert_eq!(j.all().expect("all").len(), 1);
        assert!(j.get("/spool/b.wav").expect("get").is_none());
    }
}

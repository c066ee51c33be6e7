//! Folder scan: every `.wav` paired with the `.xml` of the same name in the same folder
//! (extensions in any case), files without their partner, and unreadable folders.
//!
//! A scan only reads directory entries and their metadata, never file contents, so a rescan of
//! an unchanged folder costs one `stat` per file and a journal lookup.

use crate::journal::Sig;
use globset::GlobSet;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A recording on disk: its audio and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub wav: PathBuf,
    pub xml: PathBuf,
    pub wav_sig: Sig,
    pub xml_sig: Sig,
}

impl Pair {
    /// The journal key.
    pub fn id(&self) -> String {
        self.wav.to_string_lossy().into_owned()
    }

    /// The newer of the two modification times, in ns since the epoch.
    pub fn newest_mtime_ns(&self) -> i64 {
        self.wav_sig.mtime_ns.max(self.xml_sig.mtime_ns)
    }
}

/// A `.wav` without its `.xml` or the reverse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub path: PathBuf,
    pub missing: &'static str,
    pub sig: Sig,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub pairs: Vec<Pair>,
    pub orphans: Vec<Orphan>,
    /// Folders or entries that could not be read, with the reason.
    pub errors: Vec<(PathBuf, String)>,
    /// Files looked at (after the include/exclude globs).
    pub files: u64,
}

#[derive(Default)]
struct Found {
    wav: Option<(PathBuf, Sig)>,
    xml: Option<(PathBuf, Sig)>,
}

/// Scans `folders` recursively. Dot files and dot folders (editors' and copiers' temporary
/// files) are skipped; `include`/`exclude` match the path below the scanned folder.
pub fn scan(folders: &[PathBuf], include: &GlobSet, exclude: &GlobSet) -> Scan {
    let mut out = Scan::default();
    for root in folders {
        let mut found: BTreeMap<(PathBuf, String), Found> = BTreeMap::new();
        walk(root, root, include, exclude, &mut found, &mut out);
        for ((dir, stem), f) in found {
            match (f.wav, f.xml) {
                (Some((wav, wav_sig)), Some((xml, xml_sig))) => out.pairs.push(Pair {
                    wav,
                    xml,
                    wav_sig,
                    xml_sig,
                }),
                (Some((path, sig)), None) => out.orphans.push(Orphan {
                    path,
                    missing: "xml",
                    sig,
                }),
                (None, Some((path, sig))) => out.orphans.push(Orphan {
                    path,
                    missing: "wav",
                    sig,
                }),
                (None, None) => {
                    let _ = (dir, stem);
                }
            }
        }
    }
    out
}

fn walk(
    root: &Path,
    dir: &Path,
    include: &GlobSet,
    exclude: &GlobSet,
    found: &mut BTreeMap<(PathBuf, String), Found>,
    out: &mut Scan,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            out.errors.push((dir.to_path_buf(), e.to_string()));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                out.errors.push((dir.to_path_buf(), e.to_string()));
                continue;
            }
        };
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            out.errors
                .push((entry.path(), "file name is not valid UTF-8".into()));
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(root, &path, include, exclude, found, out);
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path);
        if !include.is_match(rel) || exclude.is_match(rel) {
            continue;
        }
        let Some((stem, ext)) = name.rsplit_once('.') else {
            continue;
        };
        let is_wav = ext.eq_ignore_ascii_case("wav");
        if !is_wav && !ext.eq_ignore_ascii_case("xml") {
            continue;
        }
        let md = match entry.metadata() {
            Ok(md) => md,
            Err(e) => {
                out.errors.push((path, e.to_string()));
                continue;
            }
        };
        out.files += 1;
        let slot = found
            .entry((dir.to_path_buf(), stem.to_string()))
            .or_default();
        let value = Some((path, Sig::of(&md)));
        if is_wav {
            slot.wav = value;
        } else {
            slot.xml = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(globs: &[&str]) -> GlobSet {
        let mut b = globset::GlobSetBuilder::new();
        for g in globs {
            b.add(
                globset::GlobBuilder::new(g)
                    .literal_separator(true)
                    .build()
                    .expect("glob"),
            );
        }
        b.build().expect("set")
    }

    #[test]
    fn pairs_orphans_and_globs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("day1/tmp")).expect("mkdir");
        for f in [
            "day1/a.wav",
            "day1/a.xml",
            "day1/B.WAV",
            "day1/B.Xml",
            "day1/c.wav",
            "day1/d.xml",
            "day1/.e.wav",
            "day1/tmp/f.wav",
            "day1/tmp/f.xml",
            "day1/notes.txt",
        ] {
            std::fs::write(root.join(f), b"x").expect("write");
        }
        let s = scan(&[root.to_path_buf()], &set(&["**"]), &set(&["**/tmp/**"]));
        let pairs: Vec<_> = s
            .pairs
            .iter()
            .map(|p| p.wav.strip_prefix(root).expect("under root").to_path_buf())
            .collect();
        assert_eq!(
            pairs,
            vec![PathBuf::from("day1/B.WAV"), PathBuf::from("day1/a.wav")]
        );
        let orphans: Vec<_> = s
            .orphans
            .iter()
            .map(|o| (o.path.file_name().expect("name").to_owned(), o.missing))
            .collect();
        assert_eq!(
            orphans,
            vec![("c.wav".into(), "xml"), ("d.xml".into(), "wav")]
        );
        assert_eq!(s.files, 6);
        let missing = scan(&[root.join("nope")], &set(&["**"]), &set(&[]));
        assert_eq!(missing.errors.len(), 1);
    }
}

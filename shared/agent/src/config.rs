//! The agent's TOML configuration (`muara agent --config agent.toml`), checked whole when read:
//! every mistake is reported at start, not halfway through a night's upload.
//!
//! ```toml
//! host = "rec-01"                       # default: the machine's host name
//!
//! [source]
//! folders = ["/var/spool/recorder"]     # scanned recursively
//! include = ["**"]                      # globs on the path below the folder
//! exclude = ["**/tmp/**"]
//! stable_secs = 30                      # unmodified this long = completely written
//! orphan_after_secs = 3600              # a .wav without .xml (or the reverse) this old is reported
//!
//! [metadata]
//! profile = "default"                   # built-in: default, attributes; or one of [profiles.*]
//! duration_tolerance_secs = 2.0         # WAV duration vs the XML's
//!
//! [upload]
//! key_template = "recordings/{yyyy}/{mm}/{dd}/{call_id}.wav"
//! concurrency = 4
//! bandwidth_limit = "20MB"              # per second; absent = unlimited
//! multipart_threshold_mib = 16
//! part_size_mib = 8
//! after_upload = "keep"                 # keep | archive | delete (delete only after verification)
//! archive_dir = "/var/spool/recorder-archive"
//! retries = 4                           # per request, for transient faults (throttling, 5xx)
//!
//! [run]
//! interval_secs = 300                   # `muara agent run` scans this often
//! journal = "/var/lib/muara-agent/journal.redb"
//!
//! [target]
//! bucket = "muara-lake-123456789012"    # or local_dir = "/path/to/lake" for `muara up`
//! region = "ap-southeast-3"
//! profile = "recorder"                  # AWS profile (optional)
//! endpoint_url = "https://…"            # S3-compatible endpoint (optional)
//! ```

use muara_recordings::key::KeyTemplate;
use muara_recordings::xml::Profile;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub host: Option<String>,
    pub source: Source,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub upload: Upload,
    #[serde(default)]
    pub run: Run,
    pub target: Target,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub folders: Vec<PathBuf>,
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default = "default_stable")]
    pub stable_secs: u64,
    #[serde(default = "default_orphan")]
    pub orphan_after_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    #[serde(default = "default_profile")]
    pub profile: String,
    #[serde(default = "default_tolerance")]
    pub duration_tolerance_secs: f64,
}

impl Default for Metadata {
    fn default() -> Self {
        Self {
            profile: default_profile(),
            duration_tolerance_secs: default_tolerance(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AfterUpload {
    #[default]
    Keep,
    Archive,
    Delete,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    #[serde(default = "default_template")]
    pub key_template: String,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub bandwidth_limit: Option<String>,
    #[serde(default = "default_threshold")]
    pub multipart_threshold_mib: u64,
    #[serde(default = "default_part")]
    pub part_size_mib: u64,
    #[serde(default)]
    pub after_upload: AfterUpload,
    #[serde(default)]
    pub archive_dir: Option<PathBuf>,
    #[serde(default = "default_retries")]
    pub retries: u32,
}

impl Default for Upload {
    fn default() -> Self {
        Self {
            key_template: default_template(),
            concurrency: default_concurrency(),
            bandwidth_limit: None,
            multipart_threshold_mib: default_threshold(),
            part_size_mib: default_part(),
            after_upload: AfterUpload::Keep,
            archive_dir: None,
            retries: default_retries(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    #[serde(default)]
    pub journal: Option<PathBuf>,
}

impl Default for Run {
    fn default() -> Self {
        Self {
            interval_secs: default_interval(),
            journal: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default)]
    pub bucket: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub local_dir: Option<PathBuf>,
}

fn default_include() -> Vec<String> {
    vec!["**".into()]
}
fn default_stable() -> u64 {
    30
}
fn default_orphan() -> u64 {
    3600
}
fn default_profile() -> String {
    "default".into()
}
fn default_tolerance() -> f64 {
    2.0
}
fn default_template() -> String {
    "recordings/{yyyy}/{mm}/{dd}/{call_id}.wav".into()
}
fn default_concurrency() -> usize {
    4
}
fn default_threshold() -> u64 {
    16
}
fn default_part() -> u64 {
    8
}
fn default_retries() -> u32 {
    4
}
fn default_interval() -> u64 {
    300
}

/// A checked configuration, with everything derived from it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub folders: Vec<PathBuf>,
    pub include: globset::GlobSet,
    pub exclude: globset::GlobSet,
    pub stable: std::time::Duration,
    pub orphan_after: std::time::Duration,
    pub profile: Profile,
    pub profile_name: String,
    pub duration_tolerance_ms: u64,
    pub key_template: KeyTemplate,
    pub concurrency: usize,
    /// Bytes per second; `None` is unlimited.
    pub bandwidth: Option<u64>,
    pub multipart_threshold: u64,
    pub part_size: u64,
    pub after_upload: AfterUpload,
    pub archive_dir: Option<PathBuf>,
    pub retries: u32,
    pub interval: std::time::Duration,
    pub journal: PathBuf,
    pub target: Target,
}

impl Config {
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, base).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Reads and checks a configuration given as text; relative paths are taken from `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Settings, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("(configuration)"),
            message: e.to_string(),
        })?;
        cfg.check(base)
    }

    /// Checks everything; relative paths are taken from `base` (the config file's folder).
    pub fn check(self, base: &Path) -> Result<Settings, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(m);
        let host = match self.host {
            Some(h) => h,
            None => hostname(),
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || host.starts_with('.')
        {
            return Err(invalid(format!(
                "host {host:?} must be letters, digits, '-', '_' or '.' (it names the report folder)"
            )));
        }
        if self.source.folders.is_empty() {
            return Err(invalid("source.folders is empty".into()));
        }
        let globs = |list: &[String], what: &str| -> Result<globset::GlobSet, ConfigError> {
            let mut b = globset::GlobSetBuilder::new();
            for g in list {
                let glob = globset::GlobBuilder::new(g)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| invalid(format!("source.{what}: {e}")))?;
                b.add(glob);
            }
            b.build()
                .map_err(|e| invalid(format!("source.{what}: {e}")))
        };
        let include = globs(&self.source.include, "include")?;
        let exclude = globs(&self.source.exclude, "exclude")?;
        let profile = match self.profiles.get(&self.metadata.profile) {
            Some(p) => p.clone(),
            None => Profile::builtin(&self.metadata.profile).ok_or_else(|| {
                invalid(format!(
                    "metadata.profile {:?} is neither built in ({}) nor defined under [profiles]",
                    self.metadata.profile,
                    Profile::builtin_names().join(", ")
                ))
            })?,
        };
        if !(0.0..=3600.0).contains(&self.metadata.duration_tolerance_secs) {
            return Err(invalid(
                "metadata.duration_tolerance_secs must be 0..=3600".into(),
            ));
        }
        let key_template = KeyTemplate::parse(&self.upload.key_template)
            .map_err(|e| invalid(format!("upload.{e}")))?;
        if self.upload.concurrency == 0 || self.upload.concurrency > 64 {
            return Err(invalid("upload.concurrency must be 1..=64".into()));
        }
        if self.upload.part_size_mib < 5 || self.upload.part_size_mib > 5 * 1024 {
            return Err(invalid(
                "upload.part_size_mib must be 5..=5120 (S3's part size limits)".into(),
            ));
        }
        if self.upload.multipart_threshold_mib < self.upload.part_size_mib {
            return Err(invalid(
                "upload.multipart_threshold_mib must be at least part_size_mib".into(),
            ));
        }
        let bandwidth = match &self.upload.bandwidth_limit {
            None => None,
            Some(s) => {
                Some(parse_bytes(s).map_err(|e| invalid(format!("upload.bandwidth_limit: {e}")))?)
            }
        };
        let abs = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let archive_dir = self.upload.archive_dir.as_deref().map(abs);
        if self.upload.after_upload == AfterUpload::Archive && archive_dir.is_none() {
            return Err(invalid(
                "upload.after_upload = \"archive\" needs upload.archive_dir".into(),
            ));
        }
        let folders: Vec<PathBuf> = self.source.folders.iter().map(|p| abs(p)).collect();
        if let Some(a) = &archive_dir
            && folders.iter().any(|f| a.starts_with(f))
        {
            return Err(invalid(format!(
                "upload.archive_dir {} is inside a scanned folder",
                a.display()
            )));
        }
        match (&self.target.bucket, &self.target.local_dir) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(invalid(
                    "[target] needs exactly one of bucket (S3) or local_dir (a local lake)".into(),
                ));
            }
        }
        let mut target = self.target;
        target.local_dir = target.local_dir.as_deref().map(abs);
        let journal = abs(self
            .run
            .journal
            .as_deref()
            .unwrap_or(Path::new("muara-agent.journal")));
        let tolerance_ms = (self.metadata.duration_tolerance_secs * 1000.0).round();
        Ok(Settings {
            host,
            folders,
            include,
            exclude,
            stable: std::time::Duration::from_secs(self.source.stable_secs),
            orphan_after: std::time::Duration::from_secs(self.source.orphan_after_secs),
            profile,
            profile_name: self.metadata.profile,
            duration_tolerance_ms: tolerance_ms as u64,
            key_template,
            concurrency: self.upload.concurrency,
            bandwidth,
            multipart_threshold: self.upload.multipart_threshold_mib * 1024 * 1024,
            part_size: self.upload.part_size_mib * 1024 * 1024,
            after_upload: self.upload.after_upload,
            archive_dir,
            retries: self.upload.retries,
            interval: std::time::Duration::from_secs(self.run.interval_secs.max(1)),
            journal,
            target,
        })
    }
}

/// Why a size or bandwidth (`upload.bandwidth_limit`) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// No number in front of the unit.
    #[error("{input:?} is not a size like 20MB or 512KiB")]
    NotANumber {
        input: String,
        #[source]
        source: std::num::ParseFloatError,
    },
    /// A unit other than B, k/KB, KiB, M/MB, MiB, G/GB, GiB.
    #[error("unknown unit {unit:?} in {input:?}")]
    UnknownUnit { unit: String, input: String },
    /// Less than 1 KiB.
    #[error("{0:?} is below 1 KiB per second")]
    TooSmall(String),
}

/// `"20MB"`, `"512KiB"`, `"1.5 MB/s"`, `"800000"` → bytes.
pub fn parse_bytes(s: &str) -> Result<u64, SizeError> {
    let t = s.trim().trim_end_matches("/s").trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|source| SizeError::NotANumber {
        input: s.to_owned(),
        source,
    })?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(SizeError::UnknownUnit {
                unit: other.to_owned(),
                input: s.to_owned(),
            });
        }
    };
    let v = (n * mult).round();
    if v < 1024.0 {
        return Err(SizeError::TooSmall(s.to_owned()));
    }
    Ok(v as u64)
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "agent".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Result<Settings, ConfigError> {
        let text = format!(
            "host = \"rec-01\"\n[source]\nfolders = [\"spool\"]\n[target]\nlocal_dir = \"lake\"\n{extra}"
        );
        let c: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: "t".into(),
            message: e.to_string(),
        })?;
        c.check(Path::new("/etc/muara"))
    }

    #[test]
    fn defaults_and_relative_paths() {
        let s = cfg("").expect("valid");
        assert_eq!(s.folders, vec![PathBuf::from("/etc/muara/spool")]);
        assert_eq!(s.journal, PathBuf::from("/etc/muara/muara-agent.journal"));
        assert_eq!(s.part_size, 8 << 20);
        assert_eq!(s.after_upload, AfterUpload::Keep);
        assert_eq!(
            s.key_template.as_str(),
            "recordings/{yyyy}/{mm}/{dd}/{call_id}.wav"
        );
    }

    #[test]
    fn mistakes_are_named() {
        for (extra, why) in [
            ("[upload]\nafter_upload = \"archive\"", "archive_dir"),
            ("[upload]\npart_size_mib = 1", "part_size_mib"),
            (
                "[upload]\nkey_template = \"x/{call_id}.wav\"",
                "must start with",
            ),
            ("[upload]\nbandwidth_limit = \"fast\"", "bandwidth_limit"),
            ("[metadata]\nprofile = \"nope\"", "neither built in"),
            ("[upload]\nconcurrency = 0", "concurrency"),
            (
                "[upload]\nafter_upload = \"archive\"\narchive_dir = \"spool/done\"",
                "inside a scanned folder",
            ),
            ("[upload]\nunknown = 1", "unknown field"),
        ] {
            let e = cfg(extra).expect_err(extra).to_string();
            assert!(e.contains(why), "{extra}: {e}");
        }
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../../infra/agent/agent.example.toml");
        let s = Config::from_toml(text, Path::new("/etc/muara")).expect("valid example");
        assert_eq!(s.folders, vec![PathBuf::from("/var/spool/recorder")]);
        assert_eq!(
            s.journal,
            PathBuf::from("/var/lib/muara-agent/journal.redb")
        );
        let custom = text
            .lines()
            .skip_while(|l| !l.starts_with("# [profiles.acme]"))
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let with_profile = format!(
            "{}\n{custom}",
            text.replace("profile = \"default\"", "profile = \"acme\"")
        );
        let s = Config::from_toml(&with_profile, Path::new("/"))
            .expect("the commented profile is valid");
        assert_eq!(s.profile_name, "acme");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("20MB"), Ok(20_000_000));
        assert_eq!(parse_bytes("512KiB"), Ok(524_288));
        assert_eq!(parse_bytes("1.5 MB/s"), Ok(1_500_000));
        assert!(parse_bytes("12").is_err());
        let reason = |s: &str| parse_bytes(s).map_err(|e| e.to_string());
        assert_eq!(reason("12"), Err("\"12\" is below 1 KiB per second".into()));
        assert_eq!(
            reason("20 parsecs"),
            Err("unknown unit \"parsecs\" in \"20 parsecs\"".into())
        );
        assert_eq!(
            reason("fast"),
            Err("\"fast\" is not a size like 20MB or 512KiB".into())
        );
    }
}

//! The recording agent (`muara agent run|once|status`): runs on the contact centre's recorder
//! host and moves every complete recording to the lake exactly once.
//!
//! - [`config`]: the TOML configuration, checked whole when read.
//! - [`journal`]: the crash-safe state journal.
//! - [`scan`]: pairs `.wav` with `.xml`, finds orphans.
//! - [`upload`]: one recording to a verified object and sidecar, resumably.
//! - [`limiter`]: the bandwidth limit shared by all uploads.
//! - [`run`]: one pass with its run report, and the journal summary.

pub mod config;
pub mod journal;
pub mod limiter;
pub mod run;
pub mod scan;
pub mod upload;

pub use run::{Agent, Summary};

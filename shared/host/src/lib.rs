//! The one-machine host behind `muara up`: the same handlers the Lambdas run, wired onto the
//! local adapters (`muara-local`) in one process.
//!
//! - [`runtime`]: `muara up` — the cluster, the adapters, every pipeline's wiring, the merged
//!   HTTP routes, the workers and periodic jobs (each through [`every`]).
//! - [`pipelines`]: the pipelines as the local orchestrator sees them (Task resources →
//!   in-process handlers, lake triggers), and the demo's traffic.
//! - [`worker`]: file stages run in a child process (`muara stage-worker`), so a crash fails
//!   only its file.
//! - [`watcher`]: announces objects dropped into the lake folder as S3 event notifications.
//! - [`every`]: periodic work and worker rounds until shutdown, one span per run.

pub mod every;
pub mod pipelines;
pub mod ports;
pub mod runtime;
pub mod watcher;
pub mod worker;

//! Pipeline B, the manifest-driven batch lifecycle, as pure rules plus stage handlers over
//! ports. The same handlers run as Step Functions tasks (Lambda) and in `muara up`.
//!
//! - [`ids`]: batch ids (`BATCH000001`) and batch-suffixed file names.
//! - [`layout`]: the object layout contract (`raw/`, `data/`, `batch_info/`).
//! - [`ident`]: validating and quoting SQL identifiers that come from configuration.
//! - [`manifest`]: the batch manifest (`batch_output_{client}_{BATCH}.json`), original fields.
//! - [`model`]: what travels between states (keys and small summaries only).
//! - [`repo`]: the `tools` tables: clients, configuration, audit and validation logs.
//! - [`cast`]: checking raw text against a column's target type; [`pgvalue`]: encoding it
//!   for binary `COPY`.
//! - [`stages`]: start, convert, validate mapping, validate rows, load bronze, mark failed,
//!   finalise.
//! - [`runner`]: starting a run (trigger, HTTP, CLI): per-client lock, batch id, execution
//!   named `{client}-{batch}-{mode}`.
//! - [`demo`]: the demo client of `muara up --demo`.
//! - [`tasks`]: the Task resources of `batch-lifecycle.asl.json` and their dispatch.

pub mod cast;
pub mod demo;
pub mod ident;
pub mod ids;
pub mod layout;
pub mod manifest;
pub mod model;
pub mod pgvalue;
pub mod repo;
pub mod runner;
pub mod stages;
pub mod tasks;

pub use model::Deps;

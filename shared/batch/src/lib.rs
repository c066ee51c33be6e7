//! Pipeline B, the manifest-driven batch lifecycle, as pure rules plus stage handlers over
//! ports. The same handlers run as Step Functions tasks (Lambda) and in `muara up`.
//!
//! - [`ids`]: batch ids (`BATCH000001`) and batch-suffixed file names.
//! - [`layout`]: the object layout contract (`raw/`, `data/`, `batch_info/`).
//! - [`ident`]: validating and quoting SQL identifiers that come from configuration.
//! - [`manifest`]: the batch manifest (`batch_output_{client}_{BATCH}.json`), original fields.
//! - [`model`]: what travels between states (keys and small summaries only).
//! - [`repo`]: the `tools` tables: clients, configuration, audit and validation logs.
//! - [`ledger`]: the per-file row ledger (`tools.file_ledger`) and its equation, checked at
//!   finalise.
//! - [`cast`]: checking raw text against a column's target type; [`pgvalue`]: encoding it
//!   for binary `COPY`.
//! - [`stages`]: start, convert, validate mapping, validate rows, load bronze, mark failed,
//!   finalise.
//! - [`runner`]: starting a run (trigger, HTTP, CLI): per-client lock, batch id, execution
//!   named `{client}-{batch}-{mode}`.
//! - [`steps`]: the configured SQL steps (transform, integrate, refresh views): one calling
//!   contract, dependency order, concurrency, logs.
//! - [`notify`]: the failure mail, written before it is sent.
//! - [`report`]: what operators read (`muara batch status|logs`, `GET /clients/…/batches`).
//! - [`control`]: run requests and reads as the routes serve them.
//! - [`http`]: `POST`/`GET /clients/{client}/batches…`.
//! - [`wire`]: [`Deps`] from ports and settings, the same way by every host.
//! - [`housekeeping`]: retention (old log rows, local archives) and pending mail.
//! - [`tasks`]: the Task resources of `batch-lifecycle.asl.json` and their dispatch.

pub mod cast;
pub mod control;
pub mod housekeeping;
pub mod http;
pub mod ident;
pub mod ids;
pub mod layout;
pub mod lease;
pub mod ledger;
pub mod manifest;
pub mod model;
pub mod notify;
pub mod pgvalue;
pub mod repo;
pub mod report;
pub mod runner;
pub mod settle;
pub mod stages;
pub mod steps;
pub mod tasks;
pub mod wire;

pub use model::Deps;

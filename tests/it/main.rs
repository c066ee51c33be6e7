//! Workspace integration tests, one binary (one PostgreSQL cluster and one moto server for all).
//!
//! The `*_contract` modules hold one behavioural suite per port; the `contract!` macro runs
//! each suite against both adapters, as `<port>_contract::<adapter>::<case>` — e.g.
//! `queue_contract::aws_sqs::dead_letters_after_max_receives` and
//! `queue_contract::local_pg::dead_letters_after_max_receives`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod audit_contract;
mod auth_contract;
mod batch_lifecycle;
mod batch_on_sfn;
mod batch_routes;
mod batch_steps;
mod bronze_load;
mod complete_files;
mod console;
mod console_browser;
mod counters_contract;
mod db_tls;
mod dead_letters_contract;
mod events;
mod funnel;
mod idempotency_contract;
mod ingest_ledger_contract;
mod lake_full;
mod lease;
mod load_scope;
mod local_runtime;
mod locks_contract;
mod mailer_contract;
mod many_files;
mod migrations;
mod object_store_contract;
mod orchestrator_contract;
mod queue_contract;
mod recordings;
mod roles;
mod stage_logs;

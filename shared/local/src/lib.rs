//! Local adapters: what `muara up` (the host in `muara-host`) runs the ports on.
//!
//! Each adapter implements a port of `muara-core` with the same observable behaviour as its
//! AWS twin (the contract suites in `tests/` prove it):
//!
//! - [`dirstore`]: object store on a directory, same keys as S3, atomic writes, SHA-256.
//! - [`pgqueue`]: queue on PostgreSQL: visibility timeout, receive count, dead-letter queue,
//!   `FOR UPDATE SKIP LOCKED`.
//! - [`pglocks`]: locks and idempotency records on PostgreSQL with expiry.
//! - [`mailer`]: SMTP when configured, otherwise `.eml` files in an outbox folder.
//! - [`orchestrator`]: runs `statemachines/*.asl.json` with the `muara-asl` interpreter,
//!   executions recorded in PostgreSQL with unique names.
//! - [`deadletters`]: the PostgreSQL queue's dead-letter queues.
//! - [`postgres`]: a throwaway or persistent PostgreSQL cluster from the system's binaries.
//! - [`tasks`]: the orchestrator's invoker before any pipeline registers.

pub mod deadletters;
pub mod dirstore;
pub mod mailer;
pub mod orchestrator;
pub mod pglocks;
pub mod pgqueue;
pub mod postgres;
pub mod tasks;

use muara_db::{Migration, MigrationSet};

/// Tables of the local adapters (schema `muara_local`); applied by `muara up` and tests.
pub const LOCAL_MIGRATIONS: MigrationSet = MigrationSet {
    name: "local",
    migrations: &[
        Migration {
            version: 1,
            name: "local_runtime",
            sql: include_str!("../migrations/0001_local_runtime.sql"),
        },
        Migration {
            version: 2,
            name: "durable_executions",
            sql: include_str!("../migrations/0002_durable_executions.sql"),
        },
    ],
};

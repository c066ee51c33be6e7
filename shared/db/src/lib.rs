//! PostgreSQL for muara.
//!
//! - [`pool`]: the connection pool, built once from a `DATABASE_URL`, waiting with backoff
//!   for a database that is still starting; a [`Probe`](muara_core::health::Probe) for `/health`.
//! - [`migrate`]: versioned SQL migrations, applied in order under an advisory lock, each in
//!   its own transaction, with checksums so an edited applied migration is refused.
//! - [`tls`]: TLS with libpq's `sslmode` meanings (RDS), over rustls.
//! - [`error`]: PostgreSQL errors classified into [`muara_core::ErrorKind`] (connection loss,
//!   serialization failures, deadlocks and lock timeouts are retryable; bad data and bad SQL
//!   are not).

pub mod error;
pub mod lookup;
pub mod migrate;
pub mod pool;
pub mod tls;
pub mod tools;

pub use error::pg_error;
pub use migrate::{Migration, MigrationSet, PLATFORM};
pub use pool::{Pool, connect};

//! The console's PostgreSQL side, behind `muara-api`'s ports:
//!
//! - [`audit`]: [`PgAudit`], the `audit.change` log ([`muara_core::ports::AuditSink`]), and
//!   [`audit::record_in`] for changes that record themselves in their own transaction.
//! - [`tokens`]: [`TokenStore`], local API tokens hashed at rest ([`muara_api::Tokens`] and
//!   [`muara_core::ports::Authenticator`]).
//! - [`config`]: the batch pipeline's configuration tables as data: what each column holds and
//!   how it is checked; create/update/delete with the before and after in the audit log.
//! - [`service`]: [`PgConsole`] ([`muara_api::ConsoleApi`]): clients, configuration and KPIs.

pub mod audit;
pub mod config;
pub mod service;
pub mod tokens;

pub use audit::PgAudit;
pub use service::PgConsole;
pub use tokens::TokenStore;

//! The operator console: its routes and its PostgreSQL side.
//!
//! - [`audit`]: [`PgAudit`], the `audit.change` log ([`muara_core::ports::AuditSink`]), and
//!   [`audit::record_in`] for changes that record themselves in their own transaction.
//! - [`tokens`]: [`TokenStore`], local API tokens hashed at rest (an
//!   [`muara_core::ports::Authenticator`]).
//! - [`config`]: the batch pipeline's configuration tables as data: what each column holds and
//!   how it is checked; create/update/delete with the before and after in the audit log.
//! - [`service`]: [`PgConsole`]: clients, configuration and KPIs.
//! - [`http`]: the page, clients and configuration, KPIs, the audit log, tokens and the
//!   dead-letter queues, as route sets a host merges.

pub mod audit;
pub mod config;
pub mod http;
pub mod service;
pub mod tokens;

pub use audit::PgAudit;
pub use service::PgConsole;
pub use tokens::TokenStore;

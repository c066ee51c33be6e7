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
//!
//! Reads and changes answer typed values (`service::ClientList`, `tokens::TokenList`,
//! [`muara_core::ports::AuditLog`], …) that only the routes serialise; configuration rows stay
//! JSON objects ([`config::ConfigRow`]) since their columns are whatever the tables hold.

pub mod audit;
mod column;
pub mod config;
pub mod http;
pub mod service;
pub mod tokens;

pub use audit::PgAudit;
pub use service::PgConsole;
pub use tokens::TokenStore;

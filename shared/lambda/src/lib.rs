//! The Lambda host: what each function binary (`functions/*/src/main.rs`) calls, and nothing
//! a pipeline needs to know about.
//!
//! - [`lambda`]: [`boot`](lambda::boot) (JSON logs, the role from `MUARA_HANDLER`, the SDK
//!   configuration, the database URL), [`Boot`](lambda::Boot)'s AWS adapters for a pipeline's
//!   `wire()`, [`run`](lambda::run) for event handlers (SQS, schedules, Step Functions Tasks)
//!   and [`handler_roles!`] for a binary's role enum.
//! - [`http`]: a pipeline's routes behind API Gateway's HTTP API and its JWT authorizer.
//!
//! The local host, `muara-host`, is its counterpart under `muara up`.

#[doc(hidden)]
pub use muara_core as __core;
pub mod http;
pub mod lambda;

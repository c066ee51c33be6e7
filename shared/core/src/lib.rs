//! muara's core: the vocabulary every other crate shares.
//!
//! - [`error`]: one error type whose [`ErrorKind`] decides, in one place, whether a failure is
//!   retried (by a queue redelivery, a Step Functions `Retry`, a backoff loop) or not.
//! - [`ports`]: the narrow traits behind which every external service sits — object store,
//!   queue, locks and idempotency records, mailer, orchestrator. AWS adapters live in
//!   `muara-aws`, local ones in `muara-local`; handlers only ever see these traits.
//! - [`memory`] (feature `memory`): memory twins of the ports, timed by a [`ports::Clock`],
//!   passing the same contract suites as the adapters (the orchestrator's twin runs state
//!   machines, so it lives with the interpreter: `muara_asl::memory`).
//! - [`checksum`]: SHA-256 helpers in the encodings S3 and the local store share.
//! - [`s3event`]: S3 event notifications (as delivered directly or through SQS), with object
//!   keys decoded the way S3 encodes them.
//! - [`sqs`]: SQS events as Lambda receives them, and partial batch failure responses.
//! - [`health`], [`metrics`]: component probes for `/health` and a small Prometheus registry.
//! - [`timestamp`]: times and dates in JSON answers, written as PostgreSQL's JSON writes them.
//! - [`config`]: reading typed configuration from the environment with errors that name the
//!   missing variable.
//! - [`logging`]: the Lambdas' JSON log format; [`lcg`]: repeatable numbers for demo data and
//!   generated load.

pub mod checksum;
pub mod config;
pub mod error;
pub mod health;
pub mod idempotent;
pub mod lcg;
pub mod logging;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod metrics;
pub mod names;
pub mod ports;
pub mod reconcile;
pub mod s3event;
pub mod sqs;
pub mod timestamp;

pub use error::{Error, ErrorKind, Result};

//! AWS adapters for muara's ports.
//!
//! - [`config`]: one `SdkConfig` per process; `AWS_ENDPOINT_URL` (any emulator: moto,
//!   LocalStack) is honoured by every client, and S3 switches to path-style addressing for it.
//! - [`error`]: SDK errors classified into [`muara_core::ErrorKind`], source kept.
//! - [`s3`]: [`ObjectStore`](muara_core::ports::ObjectStore) on S3, SHA-256 checksums,
//!   multipart above a threshold.
//! - [`sqs`]: [`Queue`](muara_core::ports::Queue) on SQS, batched send/receive/delete.
//! - [`dynamo`]: [`Locks`](muara_core::ports::Locks) and
//!   [`IdempotencyStore`](muara_core::ports::IdempotencyStore) on DynamoDB conditional writes
//!   with TTL.
//! - [`ses`]: [`Mailer`](muara_core::ports::Mailer) on SES (v1 API).
//! - [`sfn`]: [`Orchestrator`](muara_core::ports::Orchestrator) on Step Functions.
//! - [`deadletters`]: [`DeadLetters`](muara_core::ports::DeadLetters) on SQS dead-letter queues.
//! - [`secrets`]: the database URL and secret settings from Secrets Manager.
//!
//! Adapters only: the Lambda host (boot, event and HTTP serving) is `muara-lambda`.

pub mod config;
pub mod deadletters;
pub mod dynamo;
pub mod error;
pub mod s3;
pub mod secrets;
pub mod ses;
pub mod sfn;
pub mod sqs;

/// The AWS SDK configuration every adapter is built from.
pub use aws_config::SdkConfig;
pub use config::{endpoint_override, load_sdk_config, s3_client};

//! The Lambda host kit. What every database-facing Lambda does first ([`boot`]): JSON logs,
//! its role (`MUARA_HANDLER`, parsed into the binary's own role enum before anything is
//! connected), the SDK configuration and the database URL (`DATABASE_URL` or the
//! `MUARA_DB_SECRET_ARN` secret). Then [`Boot`] makes the AWS adapters a pipeline's
//! `wire(ports, settings)` takes, each from the variable that names its resource, and [`run`]
//! serves an event handler (SQS, schedules, Step Functions Tasks) with errors classified the
//! way `Retry`/`Catch` match them. A function's `main.rs` is those calls and nothing else.

use muara_aws::deadletters::SqsDeadLetters;
use muara_aws::dynamo::DynamoLocks;
use muara_aws::s3::S3Store;
use muara_aws::ses::SesMailer;
use muara_aws::sfn::SfnOrchestrator;
use muara_aws::sqs::SqsQueue;
use muara_core::Result;
use muara_core::config::{optional, required};
use muara_core::ports::Notify;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Boot<R> {
    pub role: R,
    pub sdk: aws_config::SdkConfig,
    pub database_url: String,
}

pub async fn boot<R>() -> Result<Boot<R>>
where
    R: std::str::FromStr<Err = muara_core::Error>,
{
    muara_core::logging::init_lambda();
    let role = required("MUARA_HANDLER")?.parse()?;
    let sdk = muara_aws::load_sdk_config().await;
    let database_url = muara_aws::secrets::database_url_from_env(&sdk).await?;
    Ok(Boot {
        role,
        sdk,
        database_url,
    })
}

impl<R> Boot<R> {
    /// The database: a small pool (`size` connections), kept across invocations.
    pub async fn pool(&self, size: usize) -> Result<muara_db::Pool> {
        muara_db::connect(&self.database_url, size, Duration::from_secs(20)).await
    }

    /// The lake (`MUARA_LAKE_BUCKET`).
    pub fn store(&self) -> Result<Arc<S3Store>> {
        Ok(Arc::new(S3Store::new(
            muara_aws::s3_client(&self.sdk),
            required("MUARA_LAKE_BUCKET")?,
        )))
    }

    /// The queue whose URL the variable `url_variable` holds.
    pub fn queue(&self, url_variable: &str) -> Result<Arc<SqsQueue>> {
        Ok(Arc::new(SqsQueue::new(
            aws_sdk_sqs::Client::new(&self.sdk),
            required(url_variable)?,
        )))
    }

    /// Locks, leases and idempotency claims (`MUARA_LOCKS_TABLE`).
    pub fn locks(&self) -> Result<Arc<DynamoLocks>> {
        Ok(Arc::new(DynamoLocks::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            required("MUARA_LOCKS_TABLE")?,
        )))
    }

    /// Step Functions, starting the state machine `name` whose ARN the variable `arn_variable`
    /// holds.
    pub fn state_machine(&self, name: &str, arn_variable: &str) -> Result<Arc<SfnOrchestrator>> {
        let machines = [(name.to_string(), required(arn_variable)?)].into();
        Ok(Arc::new(SfnOrchestrator::new(
            aws_sdk_sfn::Client::new(&self.sdk),
            machines,
        )))
    }

    /// The dead-letter queues an operator inspects and redrives (see
    /// [`SqsDeadLetters::from_env`]).
    pub fn dead_letters(&self) -> Result<Arc<SqsDeadLetters>> {
        Ok(Arc::new(SqsDeadLetters::from_env(
            aws_sdk_sqs::Client::new(&self.sdk),
        )?))
    }

    /// Mail through SES.
    pub fn mailer(&self) -> Arc<SesMailer> {
        Arc::new(SesMailer::new(aws_sdk_ses::Client::new(&self.sdk)))
    }

    /// Operator mail: SES, from `MUARA_MAIL_FROM` to `MUARA_MAIL_TO` (none set: no mail).
    pub fn notify(&self) -> Notify {
        Notify {
            mailer: self.mailer(),
            from: optional("MUARA_MAIL_FROM").unwrap_or_default(),
            to: muara_core::config::list("MUARA_MAIL_TO"),
        }
    }

    /// A secret setting (see [`muara_aws::secrets::secret_from_env`]).
    pub async fn secret(&self, name: &str) -> Result<Option<String>> {
        muara_aws::secrets::secret_from_env(&self.sdk, name).await
    }
}

/// The error a handler reports: `errorType` is the class Step Functions' `Retry` matches
/// (`Retryable`) or `Catch` routes (everything), the message the error's whole chain.
pub fn diagnostic(e: &muara_core::Error) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: e.kind().error_type().into(),
        error_message: e.chain(),
    }
}

/// Serves an event handler: each event's payload in, its JSON result or classified error
/// ([`diagnostic`], also logged) out.
pub async fn run<F, Fut, T>(handler: F) -> std::result::Result<(), lambda_runtime::Error>
where
    F: Fn(serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
    T: serde::Serialize,
{
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |ev: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let out = handler(ev.payload).await.and_then(|v| {
                serde_json::to_value(v)
                    .map_err(|e| muara_core::Error::fatal(format!("unserialisable result: {e}")))
            });
            out.map_err(|e| {
                tracing::error!(error = %e.chain(), error_type = e.kind().error_type(), "handler failed");
                diagnostic(&e)
            })
        },
    ))
    .await
}

/// A function binary's roles: an enum whose variants are the `MUARA_HANDLER` values it serves,
/// parsed strictly (an unknown value is a configuration error naming the known ones).
///
/// ```text
/// muara_lambda::handler_roles! {
///     /// What this function does.
///     Role { Api = "api", Worker = "worker" }
/// }
/// ```
#[macro_export]
macro_rules! handler_roles {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl std::str::FromStr for $name {
            type Err = $crate::__core::Error;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err($crate::__core::Error::config(format!(
                        "MUARA_HANDLER={other:?} is not one of {}",
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_carry_the_class_step_functions_matches() {
        let d = super::diagnostic(&muara_core::Error::retryable("connection reset"));
        assert_eq!(d.error_type, "Retryable");
        let d = super::diagnostic(&muara_core::Error::invalid("ragged row at line 7"));
        assert_eq!(d.error_type, "InvalidInput");
        assert!(d.error_message.contains("line 7"));
    }

    handler_roles! {
        /// Test roles.
        Role { Api = "api", Worker = "worker" }
    }

    #[test]
    fn roles_parse_strictly_and_name_the_known_ones() {
        assert_eq!("api".parse::<Role>().unwrap(), Role::Api);
        assert_eq!("worker".parse::<Role>().unwrap(), Role::Worker);
        let e = "Worker".parse::<Role>().unwrap_err().to_string();
        assert!(e.contains("\"Worker\" is not one of api, worker"), "{e}");
    }
}

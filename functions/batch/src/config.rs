//! Configuration read once at start-up; a missing setting is one error naming it.

use muara_aws::dynamo::DynamoLocks;
use muara_aws::s3::S3Store;
use muara_aws::ses::SesMailer;
use muara_aws::sfn::SfnOrchestrator;
use muara_batch::Deps;
use muara_core::config::required;
use std::sync::Arc;
use std::time::Duration;

/// What the handlers need.
#[derive(Debug)]
pub struct Config {
    pub deps: Deps,
    /// How old log rows get before housekeeping removes them.
    pub retention: Duration,
    /// The SDK configuration the adapters were made with (the console also reaches SQS).
    pub sdk: aws_config::SdkConfig,
}

/// What this function does (`MUARA_HANDLER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The S3 trigger: SQS events of new objects → `start` runs.
    Trigger,
    /// Scheduled: old log rows, pending failure mail.
    Housekeeping,
    /// The console's HTTP API behind API Gateway.
    Console,
    /// One Task of the batch lifecycle.
    Stage(muara_batch::tasks::Stage),
}

impl std::str::FromStr for Role {
    type Err = muara_core::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "trigger" => Role::Trigger,
            "housekeeping" => Role::Housekeeping,
            "console" => Role::Console,
            stage => Role::Stage(stage.parse().map_err(|_| {
                muara_core::Error::config(format!(
                    "MUARA_HANDLER={s:?} is not trigger, housekeeping, console or a batch stage"
                ))
            })?),
        })
    }
}

/// What this function does, and its configuration.
pub async fn from_env() -> Result<(Role, Config), muara_core::Error> {
    let role: Role = required("MUARA_HANDLER")?.parse()?;
    let settings = muara_batch::model::Settings::from_env()?;
    let sdk = muara_aws::load_sdk_config().await;
    let database_url = muara_aws::secrets::database_url_from_env(&sdk).await?;
    // Lambda reuses the process: a small pool, kept across invocations — one connection per
    // concurrent SQL step plus two for their log rows.
    let pool = muara_db::connect(
        &database_url,
        settings.step_concurrency + 2,
        Duration::from_secs(20),
    )
    .await?;
    let machines = [(
        muara_batch::model::MACHINE.to_string(),
        required("MUARA_BATCH_STATE_MACHINE_ARN")?,
    )]
    .into();
    let ports = muara_batch::wire::Ports {
        store: Arc::new(S3Store::new(
            muara_aws::s3_client(&sdk),
            required("MUARA_LAKE_BUCKET")?,
        )),
        pool,
        locks: Arc::new(DynamoLocks::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            required("MUARA_LOCKS_TABLE")?,
        )),
        orchestrator: Arc::new(SfnOrchestrator::new(
            aws_sdk_sfn::Client::new(&sdk),
            machines,
        )),
        mailer: Arc::new(SesMailer::new(aws_sdk_ses::Client::new(&sdk))),
    };
    let deps = muara_batch::wire::deps(ports, &settings, std::env::temp_dir().join("muara"));
    Ok((
        role,
        Config {
            deps,
            retention: settings.retention,
            sdk,
        },
    ))
}

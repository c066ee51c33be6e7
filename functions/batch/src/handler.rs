//! Events in, results or classified errors out.

use crate::config::{Config, Role};
use lambda_runtime::Diagnostic;
use serde_json::Value;

/// The error a Task reports: `errorType` is the class Step Functions' `Retry` matches
/// (`Retryable`) or `Catch` routes (everything).
pub fn diagnostic(e: &muara_core::Error) -> Diagnostic {
    Diagnostic {
        error_type: e.kind().error_type().into(),
        error_message: e.chain(),
    }
}

pub async fn handle(cfg: &Config, role: Role, payload: Value) -> Result<Value, Diagnostic> {
    let deps = &cfg.deps;
    let stage = match role {
        Role::Stage(stage) => stage,
        Role::Trigger => {
            let response = muara_batch::runner::on_sqs_event(deps, payload).await;
            return Ok(serde_json::to_value(response).unwrap_or_default());
        }
        Role::Console => {
            return Err(diagnostic(&muara_core::Error::config(
                "the console is served over HTTP, not invoked with events",
            )));
        }
        Role::Housekeeping => return housekeeping(cfg).await,
    };
    muara_batch::tasks::run_stage(deps, stage, payload)
        .await
        .map_err(|e| {
            tracing::error!(%stage, error = %e.chain(), error_type = e.kind().error_type(), "stage failed");
            diagnostic(&e)
        })
}

async fn housekeeping(cfg: &Config) -> Result<Value, Diagnostic> {
    // The S3 lifecycle rule expires archived objects; this removes old log rows and sends
    // pending failure mail.
    let retention = muara_batch::housekeeping::Retention {
        max_age: cfg.retention,
        purge_archives: false,
    };
    match muara_batch::housekeeping::run(&cfg.deps, &retention).await {
        Ok(report) => Ok(serde_json::to_value(report).unwrap_or_default()),
        Err(e) => {
            tracing::error!(error = %e.chain(), "housekeeping failed");
            Err(diagnostic(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use muara_core::s3event::S3Event;
    use muara_core::sqs::SqsEvent;

    #[test]
    fn every_handler_name_is_a_role_and_nothing_else_is() {
        use muara_batch::tasks::Stage;
        assert_eq!("trigger".parse::<Role>().unwrap(), Role::Trigger);
        assert_eq!("console".parse::<Role>().unwrap(), Role::Console);
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Role>().unwrap(), Role::Stage(stage));
        }
        let e = "Convert".parse::<Role>().unwrap_err();
        assert!(e.to_string().contains("MUARA_HANDLER=\"Convert\""), "{e}");
    }

    #[test]
    fn errors_carry_the_class_step_functions_matches() {
        let d = diagnostic(&muara_core::Error::retryable("connection reset"));
        assert_eq!(d.error_type, "Retryable");
        let d = diagnostic(&muara_core::Error::invalid("ragged row at line 7"));
        assert_eq!(d.error_type, "InvalidInput");
        assert!(d.error_message.contains("line 7"));
    }

    #[test]
    fn an_sqs_event_with_an_s3_notification_parses() {
        let ev: SqsEvent =
            serde_json::from_str(include_str!("../tests/data/sqs-s3-notification.json")).unwrap();
        assert_eq!(ev.records.len(), 1);
        let s3 = S3Event::parse(&ev.records[0].body).unwrap();
        assert_eq!(
            s3.records[0].key().unwrap(),
            "raw/acme/crm/incoming/cust info.csv"
        );
    }
}

//! [`Orchestrator`] on Step Functions. Logical machine names map to state machine ARNs from
//! configuration; the execution name is the idempotency key.

use crate::error::sdk_error;
use async_trait::async_trait;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::ExecutionStatus as SfnStatus;
use muara_core::ports::{ExecutionInfo, ExecutionStatus, Orchestrator, Started};
use muara_core::{Error, ErrorKind, Result};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct SfnOrchestrator {
    client: Client,
    machines: BTreeMap<String, String>,
}

/// The ARN an execution named `name` of `machine_arn` gets.
pub fn execution_arn(machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

impl SfnOrchestrator {
    /// `machines`: logical name (`batch-lifecycle`) → state machine ARN.
    pub fn new(client: Client, machines: BTreeMap<String, String>) -> Self {
        Self { client, machines }
    }

    fn arn(&self, machine: &str) -> Result<&str> {
        self.machines
            .get(machine)
            .map(String::as_str)
            .ok_or_else(|| {
                Error::config(format!("no state machine ARN configured for {machine:?}"))
            })
    }
}

fn status(s: &SfnStatus) -> ExecutionStatus {
    match s {
        SfnStatus::Running | SfnStatus::PendingRedrive => ExecutionStatus::Running,
        SfnStatus::Succeeded => ExecutionStatus::Succeeded,
        SfnStatus::TimedOut => ExecutionStatus::TimedOut,
        SfnStatus::Aborted => ExecutionStatus::Aborted,
        _ => ExecutionStatus::Failed,
    }
}

#[async_trait]
impl Orchestrator for SfnOrchestrator {
    async fn start(&self, machine: &str, name: &str, input: &Value) -> Result<Started> {
        let arn = self.arn(machine)?;
        let exec = execution_arn(arn, name);
        // Step Functions answers a repeated start with the same name and input as a success
        // while the first runs; ask first so a duplicate is reported as one.
        match self.describe(&exec).await {
            Ok(_) => return Ok(Started::AlreadyExists { execution_id: exec }),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let res = self
            .client
            .start_execution()
            .state_machine_arn(arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("Step Functions StartExecution {name}"), e));
        match res {
            Ok(out) => Ok(Started::New {
                execution_id: out.execution_arn().to_string(),
            }),
            Err(e) if e.kind() == ErrorKind::Conflict => {
                Ok(Started::AlreadyExists { execution_id: exec })
            }
            Err(e) => Err(e),
        }
    }

    fn execution_id(&self, machine: &str, name: &str) -> Result<String> {
        Ok(execution_arn(self.arn(machine)?, name))
    }

    async fn describe(&self, execution_id: &str) -> Result<ExecutionInfo> {
        let out = self
            .client
            .describe_execution()
            .execution_arn(execution_id)
            .send()
            .await
            .map_err(|e| sdk_error("Step Functions DescribeExecution", e))?;
        let parse = |s: Option<&str>| -> Result<Option<Value>> {
            s.map(serde_json::from_str).transpose().map_err(Error::from)
        };
        Ok(ExecutionInfo {
            execution_id: execution_id.to_string(),
            name: out.name().unwrap_or_default().to_string(),
            status: status(out.status()),
            input: parse(out.input())?.unwrap_or(Value::Null),
            output: parse(out.output())?,
            error: out.error().map(str::to_string),
            cause: out.cause().map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns_follow_the_machine_arn() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:ap-southeast-3:123456789012:stateMachine:batch",
                "acme-BATCH000001-start"
            ),
            "arn:aws:states:ap-southeast-3:123456789012:execution:batch:acme-BATCH000001-start"
        );
    }
}

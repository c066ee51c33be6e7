//! Orchestrator contract: the local ASL interpreter (on PostgreSQL), Step Functions (moto) and
//! the memory twin (the same interpreter, executions in memory) agree on execution names,
//! outcomes and outputs.

use crate::support::{OrchFx, contract, local_orchestrator, mem_orchestrator, sfn_orchestrator};
use muara_core::ports::{ExecutionInfo, ExecutionStatus, Orchestrator as _, Started};
use muara_testkit::{eventually, unique};
use serde_json::json;
use std::time::Duration;

contract!(
    [
        an_execution_runs_to_success_with_its_output,
        a_failing_execution_reports_its_error_and_cause,
        a_name_starts_at_most_one_execution,
        concurrent_starts_of_one_name_start_one_execution,
    ],
    local_asl => local_orchestrator,
    aws_sfn => sfn_orchestrator,
    memory => mem_orchestrator,
);

async fn finished(fx: &OrchFx, id: &str) -> anyhow::Result<ExecutionInfo> {
    eventually(
        Duration::from_secs(30),
        "the execution to finish",
        || async {
            let info = fx.orch.describe(id).await?;
            Ok(info.status.is_terminal().then_some(info))
        },
    )
    .await
}

async fn an_execution_runs_to_success_with_its_output(fx: &OrchFx) -> anyhow::Result<()> {
    let name = unique("ok");
    let started = fx
        .orch
        .start(&fx.machine, &name, &json!({"who": "acme", "fail": false}))
        .await?;
    assert!(matches!(started, Started::New { .. }));
    let info = finished(fx, started.execution_id()).await?;
    assert_eq!(info.status, ExecutionStatus::Succeeded);
    assert_eq!(info.name, name);
    assert_eq!(info.output, Some(json!({"who": "acme", "greeted": true})));
    assert_eq!(info.input, json!({"who": "acme", "fail": false}));
    Ok(())
}

async fn a_failing_execution_reports_its_error_and_cause(fx: &OrchFx) -> anyhow::Result<()> {
    let started = fx
        .orch
        .start(
            &fx.machine,
            &unique("fail"),
            &json!({"who": "x", "fail": true}),
        )
        .await?;
    let info = finished(fx, started.execution_id()).await?;
    assert_eq!(info.status, ExecutionStatus::Failed);
    assert_eq!(info.error.as_deref(), Some("Demo.Failure"));
    assert_eq!(info.cause.as_deref(), Some("asked to fail"));
    Ok(())
}

async fn a_name_starts_at_most_one_execution(fx: &OrchFx) -> anyhow::Result<()> {
    let name = unique("acme-BATCH000001-start");
    let first = fx
        .orch
        .start(&fx.machine, &name, &json!({"who": "a"}))
        .await?;
    assert!(matches!(first, Started::New { .. }));
    let again = fx
        .orch
        .start(&fx.machine, &name, &json!({"who": "a"}))
        .await?;
    assert_eq!(
        again,
        Started::AlreadyExists {
            execution_id: first.execution_id().to_string()
        }
    );
    finished(fx, first.execution_id()).await?;
    let after = fx
        .orch
        .start(&fx.machine, &name, &json!({"who": "b"}))
        .await?;
    assert!(
        matches!(after, Started::AlreadyExists { .. }),
        "a finished name is still taken"
    );
    Ok(())
}

async fn concurrent_starts_of_one_name_start_one_execution(fx: &OrchFx) -> anyhow::Result<()> {
    let name = unique("race");
    let starts = (0..5).map(|i| {
        let orch = fx.orch.clone();
        let (machine, name) = (fx.machine.clone(), name.clone());
        tokio::spawn(async move { orch.start(&machine, &name, &json!({"who": i})).await })
    });
    let mut ids = Vec::new();
    for s in starts {
        match s.await?? {
            Started::New { execution_id } | Started::AlreadyExists { execution_id } => {
                ids.push(execution_id)
            }
        }
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every start names the same execution");
    let info = finished(fx, &ids[0]).await?;
    assert_eq!(info.status, ExecutionStatus::Succeeded);
    Ok(())
}

// Not a contract case: about the local orchestrator's PostgreSQL rows and hosts (Step
// Functions has no host to lose; the memory twin's stranded executions are covered by
// `muara_asl::memory`'s tests, `recover` after a panic or an interrupt).

/// A host whose execution ended while the database was away (its end unrecorded, the row
/// still RUNNING under this host) runs it again once the row goes stale: a live host never
/// heartbeats an execution whose task is gone.
#[tokio::test]
async fn an_execution_whose_end_its_host_could_not_record_is_run_again_by_that_host()
-> anyhow::Result<()> {
    let pool = crate::support::pg_pool().await?;
    let orch = std::sync::Arc::new(muara_local::orchestrator::LocalOrchestrator::new(
        pool.clone(),
        std::sync::Arc::new(muara_local::tasks::NoTasksYet),
    ));
    orch.register(
        "contract",
        crate::support::CONTRACT_MACHINE,
        &Default::default(),
    )?;
    let fx = OrchFx {
        orch: orch.clone(),
        machine: "contract".into(),
    };
    let name = unique("unrecorded");
    let Started::New { execution_id } = orch
        .start("contract", &name, &json!({"who": "again"}))
        .await?
    else {
        anyhow::bail!("not started");
    };
    let first = finished(&fx, &execution_id).await?;
    // As if recording its end had failed: RUNNING under this host, last heartbeat a minute ago.
    pool.get()
        .await?
        .execute(
            "UPDATE muara_local.executions SET status = 'RUNNING', output = NULL, stopped_at = NULL,
                 heartbeat_at = now() - interval '1 minute'
             WHERE execution_id = $1 AND host = $2",
            &[&execution_id, &orch.host()],
        )
        .await?;
    assert_eq!(orch.recover().await?, (1, 0), "its own host adopts it");
    let again = finished(&fx, &execution_id).await?;
    assert_eq!(again.status, ExecutionStatus::Succeeded, "{again:?}");
    assert_eq!(again.output, first.output, "to the same end");
    Ok(())
}

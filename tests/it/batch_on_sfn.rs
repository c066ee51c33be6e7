//! The batch lifecycle definition on the emulator's Step Functions (moto), with canned task
//! results: moto's Lambda (without Docker) answers each invocation with the next queued
//! result, or echoes its input when the queue is empty. That proves the definition is valid
//! for the Step Functions interpreter and that data flows between states as the handlers
//! expect. Task *failures* cannot be canned there (moto returns no FunctionError); Retry and
//! Catch paths are covered with real handlers by `batch_lifecycle`.

use muara_batch::model::{
    BatchRef, FileInput, FileItem, FileResult, FileStatus, Mode, RunInput, StartOutput,
};
use muara_batch::steps::{Family, StageSummary};
use muara_core::ports::ExecutionStatus;
use muara_testkit::{eventually, moto, request, unique, workspace_root};
use serde_json::{Value, json};
use std::time::Duration;

fn batch(mode: Mode) -> BatchRef {
    BatchRef {
        client: "acme".parse().expect("a valid name"),
        client_id: 1,
        batch_id: "BATCH000001".parse().expect("a valid name"),
        mode,
        execution_name: format!("acme-BATCH000001-{}", mode.as_str()),
        manifest_key: "batch_info/acme/incoming/batch_output_acme_BATCH000001.json".into(),
        lock: None,
    }
}

fn file() -> FileItem {
    FileItem {
        physical_file_name: "cust_info_BATCH000001.csv".into(),
        logical_source_file: "cust_info".into(),
        source_system: "crm".into(),
        source_type: muara_batch::model::SourceType::Csv,
        source_config: None,
        target_schema: "bronze_acme".into(),
        target_table: "crm_cust_info".into(),
        config_id: 1,
        row_validation_policy: muara_batch::model::RowPolicy::Fatal,
        raw_key: "raw/acme/crm/incoming/cust_info_BATCH000001.csv".into(),
        parquet_key: "data/acme/crm/incoming/cust_info_BATCH000001.parquet".into(),
    }
}

fn loaded() -> FileResult {
    FileResult {
        physical_file_name: "cust_info_BATCH000001.csv".into(),
        source_system: "crm".into(),
        status: FileStatus::Loaded,
        rows: Some(506),
        parquet_name: Some("cust_info_BATCH000001.parquet".into()),
        error: None,
    }
}

/// What a SQL stage returns.
fn summary(family: Family, skipped: bool) -> Value {
    serde_json::to_value(if skipped {
        StageSummary::skipped(family, "no file of the batch was loaded")
    } else {
        StageSummary {
            family,
            skipped: false,
            reason: None,
            steps: 2,
            already_done: 0,
            rows: 10,
            duration_ms: 5,
        }
    })
    .unwrap_or_default()
}

async fn queue_results(endpoint: &str, results: &[Value]) -> anyhow::Result<()> {
    let results: Vec<String> = results.iter().map(Value::to_string).collect();
    let (status, body) = request(
        endpoint,
        "POST",
        "/moto-api/static/lambda-simple/response",
        &json!({"results": results, "region": "us-east-1"}).to_string(),
    )
    .await?;
    anyhow::ensure!(
        (200..300).contains(&status),
        "queueing canned results: HTTP {status}: {body}"
    );
    Ok(())
}

async fn run(client: &aws_sdk_sfn::Client, machine_arn: &str, mode: Mode) -> anyhow::Result<Value> {
    let input = RunInput {
        client: "acme".parse().expect("a valid name"),
        batch_id: "BATCH000001".parse().expect("a valid name"),
        mode,
        execution_name: unique("acme-BATCH000001"),
        lock: None,
    };
    let started = client
        .start_execution()
        .state_machine_arn(machine_arn)
        .name(&input.execution_name)
        .input(serde_json::to_string(&input)?)
        .send()
        .await?;
    let arn = started.execution_arn().to_string();
    let out = eventually(Duration::from_secs(60), "the execution to finish", || {
        let (client, arn) = (client.clone(), arn.clone());
        async move {
            let d = client
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await?;
            let status =
                ExecutionStatus::parse(d.status().as_str()).unwrap_or(ExecutionStatus::Running);
            Ok(status.is_terminal().then(|| {
                (
                    status,
                    d.output().map(str::to_string),
                    d.error().map(str::to_string),
                    d.cause().map(str::to_string),
                )
            }))
        }
    })
    .await?;
    assert_eq!(
        out.0,
        ExecutionStatus::Succeeded,
        "error {:?}, cause {:?}",
        out.2,
        out.3
    );
    Ok(serde_json::from_str(&out.1.unwrap_or_default())?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_lifecycle_definition_runs_on_the_emulators_step_functions() -> anyhow::Result<()>
{
    let emulator = moto().await?;
    if !emulator.is_moto {
        eprintln!(
            "skipped: canned Lambda results need moto's lambda-simple API; AWS_ENDPOINT_URL is another emulator"
        );
        return Ok(());
    }
    let cfg = emulator.sdk_config().await;
    let endpoint = emulator.endpoint.as_str();
    // moto's Lambda without Docker answers an invocation of any function ARN (queued result,
    // or an echo), so the stages need no deployed functions — and creating some would break
    // moto's state dump that the SES contract reads.
    let run_id = unique("run");
    let vars: std::collections::BTreeMap<String, String> = muara_batch::tasks::STAGES
        .iter()
        .map(|(var, stage)| {
            (
                var.to_string(),
                format!("arn:aws:lambda:us-east-1:123456789012:function:{run_id}-batch-{stage}"),
            )
        })
        .collect();
    let definition = muara_asl::substitute(
        &std::fs::read_to_string(workspace_root().join("statemachines/batch-lifecycle.asl.json"))?,
        &vars,
    )?;
    let sfn = aws_sdk_sfn::Client::new(&cfg);
    let machine = sfn
        .create_state_machine()
        .name(unique("batch-lifecycle"))
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/muara-batch-lifecycle")
        .send()
        .await?;
    let machine_arn = machine.state_machine_arn().to_string();

    // start: StartBatch → per file ConvertFile → ValidateMapping → ValidateRows → LoadBronze → FinaliseBatch (echo).
    let start = StartOutput {
        batch: batch(Mode::Start),
        files: vec![file()],
        rejected: vec![],
    };
    let item = FileInput {
        batch: batch(Mode::Start),
        file: file(),
        error: None,
        rows: Some(506),
    };
    queue_results(
        endpoint,
        &[
            serde_json::to_value(&start)?,
            serde_json::to_value(&item)?,
            serde_json::to_value(&item)?,
            serde_json::to_value(&item)?,
            serde_json::to_value(loaded())?,
            summary(Family::Transform, false),
            summary(Family::Integrate, false),
            summary(Family::Refresh, false),
        ],
    )
    .await?;
    let out = run(&sfn, &machine_arn, Mode::Start).await?;
    // … then the SQL stages, each result kept beside the input.
    assert_eq!(out["transform"]["family"], "transform", "{out}");
    assert_eq!(out["integrate"]["family"], "integrate", "{out}");
    assert_eq!(out["refresh"]["family"], "refresh", "{out}");
    // FinaliseBatch echoed its input: the start output with the Map's results beside it.
    assert_eq!(out["batch"]["batch_id"], "BATCH000001", "{out}");
    assert_eq!(
        out["results"],
        json!([serde_json::to_value(loaded())?]),
        "{out}"
    );
    let finalise: muara_batch::model::FinaliseInput = serde_json::from_value(out)?;
    assert_eq!(finalise.results.len(), 1);

    // reprocessing: the Choice skips ConvertFile, so one canned result fewer is consumed.
    let start = StartOutput {
        batch: batch(Mode::Reprocessing),
        files: vec![file()],
        rejected: vec![],
    };
    let item = FileInput {
        batch: batch(Mode::Reprocessing),
        file: file(),
        error: None,
        rows: None,
    };
    queue_results(
        endpoint,
        &[
            serde_json::to_value(&start)?,
            serde_json::to_value(&item)?,
            serde_json::to_value(&item)?,
            serde_json::to_value(loaded())?,
            // Nothing loaded (as the transform stage reports it): integrate and refresh are
            // skipped, the next result goes to FinaliseBatch.
            summary(Family::Transform, true),
        ],
    )
    .await?;
    let out = run(&sfn, &machine_arn, Mode::Reprocessing).await?;
    assert_eq!(out["batch"]["mode"], "reprocessing", "{out}");
    assert_eq!(out["results"][0]["status"], "LOADED", "{out}");
    assert_eq!(out["transform"]["skipped"], true, "{out}");
    assert!(out.get("integrate").is_none(), "{out}");

    // refresh: StartBatch → straight to the SQL stages, no file touched.
    let start = StartOutput {
        batch: batch(Mode::Refresh),
        files: vec![],
        rejected: vec![],
    };
    queue_results(
        endpoint,
        &[
            serde_json::to_value(&start)?,
            summary(Family::Transform, false),
            summary(Family::Integrate, false),
            summary(Family::Refresh, false),
        ],
    )
    .await?;
    let out = run(&sfn, &machine_arn, Mode::Refresh).await?;
    assert_eq!(out["batch"]["mode"], "refresh", "{out}");
    assert!(out.get("results").is_none(), "the Map did not run: {out}");
    assert_eq!(out["refresh"]["family"], "refresh", "{out}");
    Ok(())
}

//! What an operator reads in CloudWatch: every line a batch stage logs carries the stage, the
//! client, the batch and the file it was working on, in the Lambda log format.

use crate::batch_lifecycle::{finished, fixture};
use muara_batch::model::Mode;
use muara_batch::runner::{RunOutcome, request};
use muara_core::logging::Captured;
use serde_json::Value;
use std::collections::BTreeSet;

/// The demo batch, run with the Lambda log format capturing every line (the test runs on one
/// thread, so the state machine's tasks log into the same subscriber).
#[tokio::test]
async fn a_stages_log_lines_carry_its_client_batch_and_file() -> anyhow::Result<()> {
    let fx = fixture().await?;
    assert!(muara_demo::batch::seed(&fx.deps).await?);
    let captured = Captured::default();
    // Other tests run batches on other threads, where no subscriber is set. While a single
    // dispatcher is registered, tracing decides a callsite's interest from the default of
    // whichever thread first reaches it, and caches it for every thread: a stage span first
    // reached elsewhere would be "never" here too. With a second dispatcher registered, the
    // interest is asked of the registered ones (this test's says yes), and each thread's own
    // dispatcher decides per call.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _logs =
        tracing::subscriber::set_default(muara_core::logging::lambda_format(captured.clone()));
    let RunOutcome::Started { execution_id, .. } =
        request(&fx.deps, "demo", Mode::Start, None).await?
    else {
        anyhow::bail!("the demo batch did not start");
    };
    finished(&fx, &execution_id).await?;
    drop(_logs);

    let text = captured.text();
    let lines: Vec<Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    // Every line logged inside a stage names the client and batch; a file stage's, its file.
    let mut files_by_stage: BTreeSet<(String, String)> = BTreeSet::new();
    let mut in_stage = 0;
    for line in &lines {
        let spans = line["spans"].as_array().cloned().unwrap_or_default();
        let Some(stage) = spans.iter().find(|s| s["name"] == "stage") else {
            continue;
        };
        in_stage += 1;
        assert_eq!(stage["client"], "demo", "{line}");
        assert_eq!(stage["batch"], "BATCH000001", "{line}");
        let name = stage["stage"].as_str().unwrap_or_default().to_string();
        let file = stage["file"].as_str().unwrap_or_default().to_string();
        if ["convert", "validate-rows", "load-bronze"].contains(&name.as_str()) {
            assert!(
                !file.is_empty(),
                "a file stage's line names no file: {line}"
            );
        }
        files_by_stage.insert((name, file));
    }
    assert!(in_stage > 0, "no line was logged inside a stage:\n{text}");
    // The six demo files each went through conversion, and the five good ones were loaded.
    let files = |stage: &str| {
        files_by_stage
            .iter()
            .filter(|(s, f)| s == stage && !f.is_empty())
            .count()
    };
    assert_eq!(files("convert"), 6, "{files_by_stage:?}");
    assert_eq!(files("load-bronze"), 5, "{files_by_stage:?}");
    Ok(())
}

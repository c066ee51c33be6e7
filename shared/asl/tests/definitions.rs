//! Loading definitions through the public API: substitution, validation errors, and an
//! end-to-end run of an ingestion-shaped state machine.

mod common;

use std::collections::BTreeMap;

use common::{Handlers, fast};
use muara_asl::{AslError, StateMachine, TaskFailure, run_with, substitute};
use serde_json::json;

const INGEST: &str = r#"{
  "Comment": "Validate a batch, load each file, and report.",
  "StartAt": "Validate",
  "States": {
    "Validate": {
      "Type": "Task",
      "Resource": "${ValidateFunctionArn}",
      "ResultPath": "$.validation",
      "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 2, "MaxAttempts": 5}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Notify failure"}],
      "Next": "Any files?"
    },
    "Any files?": {
      "Type": "Choice",
      "Choices": [{"Variable": "$.validation.count", "NumericGreaterThan": 0, "Next": "Load files"}],
      "Default": "Nothing to do"
    },
    "Nothing to do": {"Type": "Succeed"},
    "Load files": {
      "Type": "Map",
      "ItemsPath": "$.validation.files",
      "MaxConcurrency": ${LoadConcurrency},
      "ItemSelector": {"batch.$": "$.batch", "key.$": "$$.Map.Item.Value"},
      "ItemProcessor": {
        "ProcessorConfig": {"Mode": "INLINE"},
        "StartAt": "Load",
        "States": {"Load": {"Type": "Task", "Resource": "${LoadFunctionArn}", "End": true}}
      },
      "ResultSelector": {"rows.$": "$[*].rows"},
      "ResultPath": "$.loaded",
      "Next": "Report"
    },
    "Report": {
      "Type": "Task",
      "Resource": "${ReportFunctionArn}",
      "Parameters": {"batch.$": "$.batch", "rows.$": "$.loaded.rows"},
      "End": true
    },
    "Notify failure": {
      "Type": "Task",
      "Resource": "${ReportFunctionArn}",
      "Parameters": {"batch.$": "$.batch", "error.$": "$.error.Error"},
      "ResultPath": null,
      "Next": "Failed"
    },
    "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
  }
}"#;

fn ingest_vars() -> BTreeMap<String, String> {
    [
        ("ValidateFunctionArn", "muara:validate"),
        ("LoadFunctionArn", "muara:load"),
        ("ReportFunctionArn", "muara:report"),
        ("LoadConcurrency", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn ingest() -> StateMachine {
    let text = substitute(INGEST, &ingest_vars()).expect("all variables are provided");
    StateMachine::parse(&text).expect("the ingest definition is valid")
}

fn ingest_handlers(fail_validation: bool) -> Handlers {
    Handlers::new()
        .on("muara:validate", move |input| {
            if fail_validation {
                return Err(TaskFailure::new(
                    "Ingest.Invalid",
                    format!("batch {} is malformed", input["batch"]),
                ));
            }
            Ok(json!({"count": 2, "files": ["a.csv", "b.csv"]}))
        })
        .on("muara:load", |input| {
            let rows = if input["key"] == json!("a.csv") {
                10
            } else {
                5
            };
            Ok(json!({"key": input["key"], "rows": rows}))
        })
        .on("muara:report", |input| Ok(json!({"reported": input})))
}

#[tokio::test]
async fn substituted_ingest_definition_runs_end_to_end() {
    let machine = ingest();
    assert_eq!(
        machine.task_resources().into_iter().collect::<Vec<_>>(),
        ["muara:load", "muara:report", "muara:validate"]
    );
    let handlers = ingest_handlers(false);
    let out = run_with(&machine, json!({"batch": "b-1"}), &handlers, &fast())
        .await
        .unwrap();
    assert_eq!(out, json!({"reported": {"batch": "b-1", "rows": [10, 5]}}));
    let loads: Vec<_> = handlers
        .calls()
        .into_iter()
        .filter(|(r, _)| r == "muara:load")
        .map(|(_, input)| input)
        .collect();
    assert_eq!(
        loads,
        [
            json!({"batch": "b-1", "key": "a.csv"}),
            json!({"batch": "b-1", "key": "b.csv"})
        ]
    );
}

#[tokio::test]
async fn ingest_failure_is_reported_then_fails_the_execution() {
    let handlers = ingest_handlers(true);
    let err = run_with(&ingest(), json!({"batch": "b-2"}), &handlers, &fast())
        .await
        .unwrap_err();
    assert_eq!(err.error, "Ingest.Invalid");
    assert_eq!(err.cause, "batch \"b-2\" is malformed");
    assert_eq!(handlers.call_count("muara:report"), 1);
    assert_eq!(
        handlers.call_count("muara:validate"),
        1,
        "Ingest.Invalid is not retried"
    );
}

#[test]
fn substitute_names_every_missing_variable() {
    let mut vars = ingest_vars();
    vars.remove("LoadFunctionArn");
    vars.remove("LoadConcurrency");
    match substitute(INGEST, &vars) {
        Err(AslError::UnknownPlaceholders { names }) => {
            assert_eq!(names, ["LoadConcurrency", "LoadFunctionArn"]);
        }
        other => panic!("expected UnknownPlaceholders, got {other:?}"),
    }
}

#[test]
fn unsubstituted_definitions_do_not_parse() {
    // `${LoadConcurrency}` is not JSON until it is substituted.
    assert!(matches!(
        StateMachine::parse(INGEST),
        Err(AslError::Json(_))
    ));
}

#[test]
fn missing_start_at_is_rejected() {
    let err = StateMachine::parse(r#"{"States": {"A": {"Type": "Succeed"}}}"#).unwrap_err();
    assert!(err.to_string().contains("StartAt"), "{err}");

    let err = StateMachine::parse(r#"{"StartAt": "B", "States": {"A": {"Type": "Succeed"}}}"#)
        .unwrap_err();
    assert!(err.to_string().contains("\"B\""), "{err}");
}

#[test]
fn missing_next_target_is_rejected_naming_the_state() {
    let err = StateMachine::parse(
        r#"{"StartAt": "A", "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Task", "Resource": "r", "Next": "C"}
        }}"#,
    )
    .unwrap_err();
    match &err {
        AslError::Invalid { location, message } => {
            assert_eq!(location, "state \"B\"");
            assert!(message.contains("\"C\""), "{message}");
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn state_without_next_or_end_is_rejected() {
    let err = StateMachine::parse(
        r#"{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r"}}}"#,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("state \"A\"") && text.contains("Next"),
        "{text}"
    );
}

#[test]
fn unknown_state_type_is_rejected() {
    let err =
        StateMachine::parse(r#"{"StartAt": "A", "States": {"A": {"Type": "Sleep", "End": true}}}"#)
            .unwrap_err();
    assert!(err.to_string().contains("Sleep"), "{err}");
}

#[test]
fn run_options_debug_does_not_need_the_hook_to_be_debug() {
    let opts = muara_asl::RunOptions::default().with_on_transition(|_, _| {});
    let text = format!("{opts:?}");
    assert!(text.contains("on_transition"), "{text}");
}

//! Durable executions (a journal of task outcomes, replayed after a crash) and Step Functions'
//! payload limit.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{Handlers, machine};
use muara_asl::{Journal, RunOptions, TaskFailure, names, run_with};
use serde_json::{Value, json};

#[derive(Default)]
struct MemJournal(Mutex<HashMap<String, Result<Value, TaskFailure>>>);

#[async_trait::async_trait]
impl Journal for MemJournal {
    fn replay(&self, key: &str) -> Option<Result<Value, TaskFailure>> {
        self.0.lock().expect("journal").get(key).cloned()
    }
    async fn record(&self, key: &str, outcome: &Result<Value, TaskFailure>) {
        self.0
            .lock()
            .expect("journal")
            .insert(key.to_owned(), outcome.clone());
    }
}

fn pipeline() -> muara_asl::StateMachine {
    machine(json!({
        "StartAt": "List",
        "States": {
            "List": {"Type": "Task", "Resource": "list", "Next": "Each"},
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "Work",
                    "States": {
                        "Work": {
                            "Type": "Task", "Resource": "work",
                            "Retry": [{"ErrorEquals": ["Flaky"], "MaxAttempts": 2, "IntervalSeconds": 1}],
                            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                            "End": true
                        },
                        "Failed": {"Type": "Task", "Resource": "failed", "End": true}
                    }
                },
                "Next": "Sum"
            },
            "Sum": {"Type": "Task", "Resource": "sum", "End": true}
        }
    }))
}

fn handlers(crash_on: Option<i64>) -> Handlers {
    Handlers::new()
        .on("list", |_| {
            Ok(json!({"items": [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]}))
        })
        .on("work", move |n| match n["n"].as_i64() {
            Some(4) => Err(TaskFailure::new("Bad", "four is bad")),
            Some(x) if Some(x) == crash_on => Err(TaskFailure::new("Crash", "the host died")),
            Some(x) => Ok(json!(x * 10)),
            None => Err(TaskFailure::new("Bad", "not a number")),
        })
        .on("failed", |v| Ok(json!({"failed": v["error"]["Error"]})))
        .on("sum", Ok)
}

#[tokio::test]
async fn a_replayed_execution_invokes_only_what_had_not_completed() {
    let m = pipeline();
    let journal = Arc::new(MemJournal::default());
    let opts = RunOptions {
        journal: Some(journal.clone()),
        ..RunOptions::default()
    };
    // First run: item 3's task "crashes" (an uncaught error stands in for the host dying;
    // its outcome is then dropped from the journal, as a crash would never have recorded it).
    let first = Handlers::new()
        .on("list", |_| {
            Ok(json!({"items": [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]}))
        })
        .on("work", |n| match n["n"].as_i64() {
            Some(3) => Err(TaskFailure::new("States.Runtime", "host died")),
            Some(4) => Err(TaskFailure::new("Bad", "four is bad")),
            Some(x) => Ok(json!(x * 10)),
            None => Err(TaskFailure::new("Bad", "not a number")),
        })
        .on("failed", |v| Ok(json!({"failed": v["error"]["Error"]})))
        .on("sum", Ok);
    let _ = run_with(&m, json!({}), &first, &opts).await;
    journal
        .0
        .lock()
        .expect("journal")
        .retain(|_, v| !matches!(v, Err(f) if f.error == "States.Runtime"));
    let before = journal.0.lock().expect("journal").len();
    assert!(before >= 3, "list and the finished items were recorded");

    // The replay: only item 3 and what follows the Map are invoked.
    let second = handlers(None);
    let out = run_with(&m, json!({}), &second, &opts)
        .await
        .expect("the replayed execution finishes");
    assert_eq!(out, json!([10, 20, 30, {"failed": "Bad"}]));
    assert_eq!(second.call_count("list"), 0, "list was replayed");
    let worked: Vec<Value> = second
        .calls()
        .into_iter()
        .filter(|(r, _)| r == "work")
        .map(|(_, v)| v)
        .collect();
    assert!(
        worked.contains(&json!({"n": 3})),
        "item 3 ran again: {worked:?}"
    );
    assert!(
        !worked.contains(&json!({"n": 1})) && !worked.contains(&json!({"n": 2})),
        "finished items were replayed, not run: {worked:?}"
    );
    assert_eq!(second.call_count("sum"), 1);

    // A third run replays everything and invokes nothing.
    let third = handlers(Some(1));
    let again = run_with(&m, json!({}), &third, &opts)
        .await
        .expect("a fully recorded execution replays");
    assert_eq!(again, out);
    assert_eq!(third.calls().len(), 0);
}

#[tokio::test]
async fn payloads_over_256_kib_fail_with_an_uncatchable_data_limit_error() {
    let m = machine(json!({
        "StartAt": "Big",
        "States": {
            "Big": {
                "Type": "Task", "Resource": "big",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": true
            },
            "Caught": {"Type": "Pass", "End": true}
        }
    }));
    let h = Handlers::new().on("big", |_| Ok(json!("x".repeat(300 * 1024))));
    let failure = run_with(&m, json!({}), &h, &RunOptions::default())
        .await
        .expect_err("a 300 KiB result is over the limit");
    assert_eq!(failure.error, names::DATA_LIMIT_EXCEEDED);
    assert!(failure.cause.contains("Big"), "{}", failure.cause);

    let small = Handlers::new().on("big", |_| Ok(json!("x".repeat(200 * 1024))));
    assert!(
        run_with(&m, json!({}), &small, &RunOptions::default())
            .await
            .is_ok(),
        "200 KiB is within the limit"
    );
    let input = json!({"blob": "y".repeat(257 * 1024)});
    let failure = run_with(&m, input, &small, &RunOptions::default())
        .await
        .expect_err("an execution input over the limit");
    assert_eq!(failure.error, names::DATA_LIMIT_EXCEEDED);
}

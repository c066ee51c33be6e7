//! Retry, Catch, timeouts and the interpreter's own safety limits.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Handlers, fast, machine, tracing_options};
use muara_asl::{MAX_TRANSITIONS, RunOptions, TaskFailure, names, run, run_with};
use serde_json::{Value, json};

/// A handler that fails with the given error names in turn, then succeeds with the
/// retry count it was given.
fn scripted(errors: &[&str]) -> Handlers {
    let errors: Vec<String> = errors.iter().map(|e| (*e).to_owned()).collect();
    let calls = Arc::new(AtomicUsize::new(0));
    Handlers::new().on("flaky", move |input| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        match errors.get(n) {
            Some(error) => Err(TaskFailure::new(
                error.clone(),
                format!("attempt {}", n + 1),
            )),
            None => Ok(json!({"succeededOnAttempt": n + 1, "retryCount": input["retryCount"]})),
        }
    })
}

fn flaky_task(retry: Value, catch: Value) -> muara_asl::StateMachine {
    machine(json!({
        "StartAt": "Flaky",
        "States": {
            "Flaky": {
                "Type": "Task",
                "Resource": "flaky",
                "Parameters": {"retryCount.$": "$$.State.RetryCount"},
                "Retry": retry,
                "Catch": catch,
                "End": true
            },
            "Caught": {"Type": "Pass", "End": true}
        }
    }))
}

#[tokio::test]
async fn retry_reruns_a_failing_task_until_it_succeeds() {
    let m = flaky_task(
        json!([{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0}]),
        json!([{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]),
    );
    let handlers = scripted(&["Transient", "Transient"]);
    let out = run_with(&m, json!({}), &handlers, &fast()).await.unwrap();
    assert_eq!(out, json!({"succeededOnAttempt": 3, "retryCount": 2}));
    assert_eq!(handlers.call_count("flaky"), 3);
}

#[tokio::test]
async fn retry_waits_between_attempts_capped_by_max_wait() {
    let m = flaky_task(
        json!([{"ErrorEquals": ["Transient"], "IntervalSeconds": 30, "BackoffRate": 3.0}]),
        json!([{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]),
    );
    let handlers = scripted(&["Transient", "Transient", "Transient"]);
    let opts = RunOptions::default().with_max_wait(Duration::from_millis(10));
    let started = Instant::now();
    let out = run_with(&m, json!({}), &handlers, &opts).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(out["succeededOnAttempt"], json!(4));
    // Three backoffs of 30 s, 90 s and 270 s, each capped to 10 ms.
    assert!(elapsed >= Duration::from_millis(30), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test]
async fn exhausted_retries_fall_through_to_the_catcher() {
    let m = flaky_task(
        json!([{"ErrorEquals": ["Transient"], "MaxAttempts": 2}]),
        json!([{"ErrorEquals": ["Transient"], "ResultPath": "$.failure", "Next": "Caught"}]),
    );
    let handlers = scripted(&["Transient"; 10]);
    let out = run_with(&m, json!({"file": "a.csv"}), &handlers, &fast())
        .await
        .unwrap();
    assert_eq!(
        handlers.call_count("flaky"),
        3,
        "one attempt plus two retries"
    );
    assert_eq!(
        out,
        json!({"file": "a.csv", "failure": {"Error": "Transient", "Cause": "attempt 3"}})
    );
}

#[tokio::test]
async fn max_attempts_zero_never_retries() {
    let m = flaky_task(
        json!([
            {"ErrorEquals": ["Fatal"], "MaxAttempts": 0},
            {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}
        ]),
        json!([{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]),
    );
    let handlers = scripted(&["Fatal", "Fatal"]);
    let out = run_with(&m, json!({}), &handlers, &fast()).await.unwrap();
    assert_eq!(handlers.call_count("flaky"), 1);
    assert_eq!(out["Error"], json!("Fatal"));
}

#[tokio::test]
async fn each_retrier_keeps_its_own_attempt_count() {
    // The spec's "complex retry scenario": errors A, B, C, B. The first two use up the
    // first retrier, C uses the second, and the final B finds its retrier exhausted.
    let m = flaky_task(
        json!([
            {"ErrorEquals": ["ErrorA", "ErrorB"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 2},
            {"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5}
        ]),
        json!([{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]),
    );
    let handlers = scripted(&["ErrorA", "ErrorB", "ErrorC", "ErrorB"]);
    let out = run_with(&m, json!({}), &handlers, &fast()).await.unwrap();
    assert_eq!(handlers.call_count("flaky"), 4);
    assert_eq!(out, json!({"Error": "ErrorB", "Cause": "attempt 4"}));
}

#[tokio::test]
async fn full_jitter_retries_still_succeed() {
    let m = flaky_task(
        json!([{"ErrorEquals": ["States.ALL"], "JitterStrategy": "FULL", "MaxDelaySeconds": 2}]),
        json!([{"ErrorEquals": ["Never.Raised"], "Next": "Caught"}]),
    );
    let handlers = scripted(&["X", "Y"]);
    let out = run_with(&m, json!({}), &handlers, &fast()).await.unwrap();
    assert_eq!(out["succeededOnAttempt"], json!(3));
}

#[tokio::test]
async fn catchers_are_checked_in_order_and_the_first_match_wins() {
    let m = machine(json!({
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "flaky",
                "Catch": [
                    {"ErrorEquals": ["Other"], "Next": "Wrong"},
                    {"ErrorEquals": ["Specific", "Another"], "ResultPath": "$.err", "Next": "Right"},
                    {"ErrorEquals": ["States.ALL"], "Next": "Wrong"}
                ],
                "End": true
            },
            "Right": {"Type": "Pass", "Result": "right", "ResultPath": "$.route", "End": true},
            "Wrong": {"Type": "Pass", "Result": "wrong", "End": true}
        }
    }));
    let (opts, seen) = tracing_options();
    let out = run_with(&m, json!({"k": 1}), &scripted(&["Specific"]), &opts)
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"k": 1, "err": {"Error": "Specific", "Cause": "attempt 1"}, "route": "right"})
    );
    assert_eq!(*seen.lock().unwrap(), ["T", "Right"]);
}

#[tokio::test]
async fn task_failed_catches_task_errors_but_not_timeouts() {
    let m = machine(json!({
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "slow",
                "TimeoutSeconds": 1,
                "Catch": [
                    {"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"},
                    {"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}
                ],
                "End": true
            },
            "Failed": {"Type": "Pass", "Result": "failed", "End": true},
            "TimedOut": {"Type": "Pass", "Result": "timed out", "End": true}
        }
    }));
    let handlers = Handlers::new().on_async("slow", |input: Value| async move {
        if input["hang"] == json!(true) {
            futures::future::pending::<()>().await;
        }
        Err(TaskFailure::new("Lambda.ServiceException", "down"))
    });
    assert_eq!(
        run(&m, json!({"hang": false}), &handlers).await.unwrap(),
        json!("failed")
    );
    // Hangs forever: only TimeoutSeconds (1 s) gets it out.
    assert_eq!(
        run(&m, json!({"hang": true}), &handlers).await.unwrap(),
        json!("timed out")
    );
}

#[tokio::test]
async fn uncaught_timeout_fails_the_execution_with_states_timeout() {
    let m = machine(json!({
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "hang", "TimeoutSecondsPath": "$.limit", "End": true}}
    }));
    let handlers = Handlers::new().on_async("hang", |_| async {
        futures::future::pending::<()>().await;
        Ok(json!(null))
    });
    let err = run(&m, json!({"limit": 1}), &handlers).await.unwrap_err();
    assert_eq!(err.error, names::TIMEOUT);
    assert!(err.cause.contains("hang"), "{}", err.cause);
}

#[tokio::test]
async fn execution_timeout_seconds_bounds_the_whole_run() {
    let m = machine(json!({
        "TimeoutSeconds": 1,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}
    }));
    let started = Instant::now();
    let err = run(&m, json!({}), &Handlers::new()).await.unwrap_err();
    assert_eq!(err.error, names::TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn states_all_does_not_catch_runtime_errors() {
    let m = machine(json!({
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "flaky",
                "OutputPath": "$.not.there",
                "Retry": [{"ErrorEquals": ["States.ALL"]}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": true
            },
            "Caught": {"Type": "Succeed"}
        }
    }));
    let handlers = scripted(&[]);
    let err = run_with(&m, json!({}), &handlers, &fast())
        .await
        .unwrap_err();
    assert_eq!(err.error, names::RUNTIME);
    assert_eq!(
        handlers.call_count("flaky"),
        1,
        "runtime errors are not retried"
    );
}

#[tokio::test]
async fn endless_loops_hit_the_transition_limit() {
    let m = machine(json!({
        "StartAt": "Spin",
        "States": {"Spin": {"Type": "Pass", "Next": "Spin"}}
    }));
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let opts = RunOptions::default().with_on_transition(move |_, _| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    let err = run_with(&m, json!({}), &Handlers::new(), &opts)
        .await
        .unwrap_err();
    assert_eq!(err.error, names::RUNTIME);
    assert!(err.cause.contains("transitions"), "{}", err.cause);
    assert_eq!(count.load(Ordering::Relaxed), MAX_TRANSITIONS);
}

#[tokio::test]
async fn unknown_resource_errors_are_ordinary_task_failures() {
    let m = machine(json!({
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": "nobody", "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "C"}], "End": true},
            "C": {"Type": "Pass", "End": true}
        }
    }));
    let out = run(&m, json!({}), &Handlers::new()).await.unwrap();
    assert_eq!(out["Error"], json!("Local.UnknownResource"));
}

#[test]
fn run_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let m = machine(json!({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}));
    let handlers = Handlers::new();
    let opts = RunOptions::default();
    assert_send(&run(&m, json!({}), &handlers));
    assert_send(&run_with(&m, json!({}), &handlers, &opts));
}

#[tokio::test]
async fn machines_can_run_concurrently_on_spawned_tasks() {
    let m = Arc::new(machine(json!({
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "double", "End": true}}
    })));
    let handlers = Arc::new(Handlers::new().on("double", |v| Ok(json!(v.as_i64().unwrap() * 2))));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (m, h) = (Arc::clone(&m), Arc::clone(&handlers));
            tokio::spawn(async move { run(&m, json!(i), &*h).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().unwrap(), json!(i * 2));
    }
}

fn counting_map(mode: &str) -> muara_asl::StateMachine {
    // Each iteration counts to 5,000 through a Pass/Choice loop: about 10,000 transitions
    // per item, 30,000 for three items, which is over the limit for one history.
    machine(json!({
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": mode},
                "StartAt": "Inc",
                "States": {
                    "Inc": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Done?"},
                    "Done?": {"Type": "Choice", "Choices": [
                        {"Variable": "$.n", "NumericGreaterThanEquals": 5000, "Next": "Done"}
                    ], "Default": "Inc"},
                    "Done": {"Type": "Succeed"}
                }
            },
            "End": true
        }}
    }))
}

#[tokio::test]
async fn inline_map_iterations_share_the_execution_transition_limit() {
    let input = json!([{"n": 0}, {"n": 0}, {"n": 0}]);
    let err = run(&counting_map("INLINE"), input, &Handlers::new())
        .await
        .unwrap_err();
    assert_eq!(err.error, names::RUNTIME);
}

#[tokio::test]
async fn distributed_map_iterations_each_get_their_own_transition_limit() {
    let input = json!([{"n": 0}, {"n": 0}, {"n": 0}]);
    let out = run(&counting_map("DISTRIBUTED"), input, &Handlers::new())
        .await
        .unwrap();
    assert_eq!(out, json!([{"n": 5000}, {"n": 5000}, {"n": 5000}]));
}

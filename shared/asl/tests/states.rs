//! Behaviour of each state type.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Handlers, fast, machine, tracing_options};
use muara_asl::{ExecutionFailure, RunOptions, TaskFailure, names, run, run_with};
use serde_json::{Value, json};
use tokio::sync::Barrier;

/// Fails the test instead of hanging if the interpreter deadlocks.
async fn within_5s<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .expect("execution did not finish within 5 s")
}

#[tokio::test]
async fn pass_state_places_its_result_at_result_path() {
    // The spec's Pass example.
    let m = machine(json!({
        "StartAt": "No-op",
        "States": {
            "No-op": {
                "Type": "Pass",
                "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
                "ResultPath": "$.coords",
                "End": true
            }
        }
    }));
    let out = run(&m, json!({"georefOf": "Home"}), &Handlers::new())
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}})
    );
}

#[tokio::test]
async fn pass_state_without_result_passes_its_input_through() {
    let m = machine(json!({
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": true}}
    }));
    let input = json!({"keep": [1, 2, 3]});
    assert_eq!(
        run(&m, input.clone(), &Handlers::new()).await.unwrap(),
        input
    );
}

#[tokio::test]
async fn pass_state_parameters_reshape_the_input() {
    let m = machine(json!({
        "StartAt": "Shape",
        "States": {
            "Shape": {
                "Type": "Pass",
                "Parameters": {"id.$": "$.order.id", "kind": "order", "count.$": "States.ArrayLength($.order.lines)"},
                "ResultPath": "$.shaped",
                "End": true
            }
        }
    }));
    let out = run(
        &m,
        json!({"order": {"id": "o-1", "lines": [1, 2]}}),
        &Handlers::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        out["shaped"],
        json!({"id": "o-1", "kind": "order", "count": 2})
    );
    assert_eq!(out["order"]["id"], json!("o-1"));
}

#[tokio::test]
async fn task_state_invokes_its_resource_with_the_effective_input() {
    let m = machine(json!({
        "StartAt": "Health",
        "States": {
            "Health": {
                "Type": "Task",
                "Resource": "muara:health",
                "Parameters": {"check.$": "$.what", "verbose": true},
                "End": true
            }
        }
    }));
    let handlers = Handlers::new().on("muara:health", |input| {
        Ok(json!({"status": "ok", "checked": input["check"]}))
    });
    let out = run(&m, json!({"what": "db"}), &handlers).await.unwrap();
    assert_eq!(out, json!({"status": "ok", "checked": "db"}));
    assert_eq!(
        handlers.calls(),
        vec![(
            "muara:health".to_owned(),
            json!({"check": "db", "verbose": true})
        )]
    );
}

#[tokio::test]
async fn uncaught_task_failure_fails_the_execution_with_its_error_name() {
    let m = machine(json!({
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "r", "End": true}}
    }));
    let handlers = Handlers::new().on("r", |_| {
        Err(TaskFailure::new("Ingest.BadFile", "row 3 is broken"))
    });
    let err = run(&m, json!({}), &handlers).await.unwrap_err();
    assert_eq!(
        err,
        ExecutionFailure {
            error: "Ingest.BadFile".into(),
            cause: "row 3 is broken".into()
        }
    );
}

fn routing_machine(with_default: bool) -> muara_asl::StateMachine {
    let mut choice = json!({
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.kind", "StringEquals": "csv", "Next": "Csv"},
            {"And": [
                {"Variable": "$.size", "IsPresent": true},
                {"Variable": "$.size", "NumericGreaterThan": 1000}
            ], "Next": "Big"},
            {"Variable": "$.name", "StringMatches": "*.json", "Next": "Json"}
        ]
    });
    let mut states = json!({
        "Route": choice.clone(),
        "Csv": {"Type": "Pass", "Result": "csv", "End": true},
        "Big": {"Type": "Pass", "Result": "big", "End": true},
        "Json": {"Type": "Pass", "Result": "json", "End": true}
    });
    if with_default {
        choice["Default"] = json!("Other");
        states["Route"] = choice;
        states["Other"] = json!({"Type": "Pass", "Result": "other", "End": true});
    }
    machine(json!({"StartAt": "Route", "States": states}))
}

#[tokio::test]
async fn choice_state_takes_the_first_matching_rule_else_the_default() {
    let m = routing_machine(true);
    let h = Handlers::new();
    assert_eq!(
        run(&m, json!({"kind": "csv", "size": 5000}), &h)
            .await
            .unwrap(),
        json!("csv")
    );
    assert_eq!(
        run(&m, json!({"kind": "xml", "size": 5000}), &h)
            .await
            .unwrap(),
        json!("big")
    );
    assert_eq!(
        run(&m, json!({"kind": "x", "name": "a.json"}), &h)
            .await
            .unwrap(),
        json!("json")
    );
    assert_eq!(
        run(&m, json!({"kind": "x", "name": "a.txt"}), &h)
            .await
            .unwrap(),
        json!("other")
    );
}

#[tokio::test]
async fn choice_state_without_a_match_or_default_fails_with_no_choice_matched() {
    let m = routing_machine(false);
    let err = run(&m, json!({"kind": "x", "name": "a.txt"}), &Handlers::new())
        .await
        .unwrap_err();
    assert_eq!(err.error, names::NO_CHOICE_MATCHED);
    assert!(err.cause.contains("Route"), "{}", err.cause);
}

#[tokio::test]
async fn choice_state_applies_input_and_output_paths_to_what_it_passes_on() {
    let m = machine(json!({
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "InputPath": "$.payload",
                "OutputPath": "$.inner",
                "Choices": [{"Variable": "$.flag", "BooleanEquals": true, "Next": "Done"}]
            },
            "Done": {"Type": "Succeed"}
        }
    }));
    let out = run(
        &m,
        json!({"payload": {"flag": true, "inner": {"x": 1}}}),
        &Handlers::new(),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({"x": 1}));
}

#[tokio::test]
async fn wait_states_are_capped_by_max_wait() {
    let m = machine(json!({
        "StartAt": "Seconds",
        "States": {
            "Seconds": {"Type": "Wait", "Seconds": 3600, "Next": "SecondsPath"},
            "SecondsPath": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Timestamp"},
            "Timestamp": {"Type": "Wait", "Timestamp": "2999-01-01T00:00:00Z", "Next": "TimestampPath"},
            "TimestampPath": {"Type": "Wait", "TimestampPath": "$.until", "End": true}
        }
    }));
    let (opts, seen) = tracing_options();
    let opts = RunOptions {
        max_wait: Some(Duration::from_millis(5)),
        ..opts
    };
    let input = json!({"delay": 7200, "until": "2999-06-01T00:00:00+02:00"});
    let started = Instant::now();
    let out = within_5s(run_with(&m, input.clone(), &Handlers::new(), &opts))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(out, input, "Wait passes its input through");
    assert!(
        elapsed >= Duration::from_millis(20),
        "each wait should sleep the capped 5 ms: {elapsed:?}"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
    );
}

#[tokio::test]
async fn wait_until_a_past_timestamp_does_not_wait() {
    let m = machine(json!({
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Timestamp": "2001-01-01T00:00:00Z", "End": true}}
    }));
    // No max_wait: a past timestamp must not block.
    let out = within_5s(run(&m, json!({"a": 1}), &Handlers::new()))
        .await
        .unwrap();
    assert_eq!(out, json!({"a": 1}));
}

#[tokio::test]
async fn wait_with_a_bad_seconds_path_is_a_runtime_error() {
    let m = machine(json!({
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "SecondsPath": "$.delay", "End": true}}
    }));
    for input in [json!({"delay": "soon"}), json!({"delay": -1}), json!({})] {
        let err = run_with(&m, input.clone(), &Handlers::new(), &fast())
            .await
            .unwrap_err();
        assert_eq!(err.error, names::RUNTIME, "{input}");
    }
}

#[tokio::test]
async fn succeed_state_ends_the_execution_with_its_filtered_input() {
    let m = machine(json!({
        "StartAt": "Done",
        "States": {"Done": {"Type": "Succeed", "InputPath": "$.result", "OutputPath": "$.value"}}
    }));
    let out = run(
        &m,
        json!({"result": {"value": 42, "noise": true}}),
        &Handlers::new(),
    )
    .await
    .unwrap();
    assert_eq!(out, json!(42));
}

#[tokio::test]
async fn fail_state_fails_the_execution_with_its_error_and_cause() {
    let m = machine(json!({
        "StartAt": "Boom",
        "States": {"Boom": {"Type": "Fail", "Error": "Ingest.Rejected", "Cause": "file was empty"}}
    }));
    let err = run(&m, json!({}), &Handlers::new()).await.unwrap_err();
    assert_eq!(err.error, "Ingest.Rejected");
    assert_eq!(err.cause, "file was empty");
}

#[tokio::test]
async fn fail_state_reads_error_path_and_cause_path_from_its_input() {
    let m = machine(json!({
        "StartAt": "Boom",
        "States": {"Boom": {"Type": "Fail", "ErrorPath": "$.failure.code", "CausePath": "$.failure.detail"}}
    }));
    let err = run(
        &m,
        json!({"failure": {"code": "Upstream.Down", "detail": "503 from S3"}}),
        &Handlers::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        ExecutionFailure {
            error: "Upstream.Down".into(),
            cause: "503 from S3".into()
        }
    );
}

#[tokio::test]
async fn fail_state_cause_path_may_be_an_intrinsic_function() {
    let m = machine(json!({
        "StartAt": "Boom",
        "States": {"Boom": {
            "Type": "Fail",
            "Error": "Ingest.Invalid",
            "CausePath": "States.Format('{} rows rejected in {}', $.rejected, $$.Execution.Name)"
        }}
    }));
    let opts = RunOptions::default().with_execution_name("exec-7");
    let err = run_with(&m, json!({"rejected": 3}), &Handlers::new(), &opts)
        .await
        .unwrap_err();
    assert_eq!(err.cause, "3 rows rejected in exec-7");
}

#[tokio::test]
async fn fail_state_error_path_must_select_a_string() {
    let m = machine(json!({
        "StartAt": "Boom",
        "States": {"Boom": {"Type": "Fail", "ErrorPath": "$.code"}}
    }));
    let err = run(&m, json!({"code": 500}), &Handlers::new())
        .await
        .unwrap_err();
    assert_eq!(err.error, names::RUNTIME);
}

fn parallel_machine() -> muara_asl::StateMachine {
    machine(json!({
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Parameters": {"n.$": "$.n"},
                "ResultSelector": {"left.$": "$[0]", "right.$": "$[1].value"},
                "ResultPath": "$.results",
                "Branches": [
                    {"StartAt": "Left", "States": {"Left": {"Type": "Task", "Resource": "left", "End": true}}},
                    {"StartAt": "Right", "States": {
                        "Right": {"Type": "Task", "Resource": "right", "Next": "RightDone"},
                        "RightDone": {"Type": "Pass", "Parameters": {"value.$": "$.v"}, "End": true}
                    }}
                ],
                "End": true
            }
        }
    }))
}

#[tokio::test]
async fn parallel_state_runs_branches_concurrently_and_collects_outputs_in_branch_order() {
    // Each handler waits at a two-party barrier: the execution can only finish if both
    // branches are in flight at the same time.
    let barrier = Arc::new(Barrier::new(2));
    let (b1, b2) = (Arc::clone(&barrier), Arc::clone(&barrier));
    let handlers = Handlers::new()
        .on_async("left", move |input| {
            let b = Arc::clone(&b1);
            async move {
                b.wait().await;
                Ok(json!({"l": input["n"]}))
            }
        })
        .on_async("right", move |input| {
            let b = Arc::clone(&b2);
            async move {
                b.wait().await;
                Ok(json!({"v": input["n"].as_i64().unwrap() * 10}))
            }
        });
    let out = within_5s(run(&parallel_machine(), json!({"n": 4}), &handlers))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"n": 4, "results": {"left": {"l": 4}, "right": 40}})
    );
}

#[tokio::test]
async fn parallel_branch_failure_fails_the_state_and_can_be_caught() {
    let m = machine(json!({
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Ok", "States": {"Ok": {"Type": "Pass", "End": true}}},
                    {"StartAt": "Bad", "States": {"Bad": {"Type": "Fail", "Error": "Branch.Broke", "Cause": "no"}}}
                ],
                "Catch": [{"ErrorEquals": ["Branch.Broke"], "ResultPath": "$.error", "Next": "Recovered"}],
                "Next": "Unreachable"
            },
            "Unreachable": {"Type": "Fail", "Error": "ShouldNotGetHere"},
            "Recovered": {"Type": "Succeed"}
        }
    }));
    let out = run(&m, json!({"id": 1}), &Handlers::new()).await.unwrap();
    assert_eq!(
        out,
        json!({"id": 1, "error": {"Error": "Branch.Broke", "Cause": "no"}})
    );
}

#[tokio::test]
async fn parallel_state_is_retried_as_a_whole() {
    let m = machine(json!({
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Flaky", "States": {"Flaky": {"Type": "Task", "Resource": "flaky", "End": true}}},
                    {"StartAt": "Steady", "States": {"Steady": {"Type": "Task", "Resource": "steady", "End": true}}}
                ],
                "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 2}],
                "End": true
            }
        }
    }));
    let failures = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&failures);
    let handlers = Handlers::new()
        .on("flaky", move |_| {
            if f.fetch_add(1, Ordering::SeqCst) < 1 {
                Err(TaskFailure::new("Flaky.Error", "first time fails"))
            } else {
                Ok(json!("flaky ok"))
            }
        })
        .on("steady", |_| Ok(json!("steady ok")));
    let out = run_with(&m, json!({}), &handlers, &fast()).await.unwrap();
    assert_eq!(out, json!(["flaky ok", "steady ok"]));
    assert_eq!(handlers.call_count("flaky"), 2);
}

#[tokio::test]
async fn map_state_processes_items_in_order_with_item_selector_and_context() {
    let m = machine(json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.files",
                "ItemSelector": {
                    "index.$": "$$.Map.Item.Index",
                    "file.$": "$$.Map.Item.Value",
                    "bucket.$": "$.bucket"
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Load",
                    "States": {"Load": {"Type": "Task", "Resource": "load", "End": true}}
                },
                "ResultPath": "$.loaded",
                "End": true
            }
        }
    }));
    // Later items finish first, yet results must come back in item order.
    let handlers = Handlers::new().on_async("load", |input| async move {
        let index = input["index"].as_u64().unwrap();
        for _ in 0..(10 - index) {
            tokio::task::yield_now().await;
        }
        Ok(json!(format!(
            "{}/{}#{}",
            input["bucket"].as_str().unwrap(),
            input["file"]["key"].as_str().unwrap(),
            index
        )))
    });
    let input =
        json!({"bucket": "b", "files": [{"key": "a.csv"}, {"key": "b.csv"}, {"key": "c.csv"}]});
    let out = run(&m, input, &handlers).await.unwrap();
    assert_eq!(
        out["loaded"],
        json!(["b/a.csv#0", "b/b.csv#1", "b/c.csv#2"])
    );
}

#[tokio::test]
async fn map_state_honours_max_concurrency() {
    for (limit, items) in [(1usize, 6usize), (2, 7), (3, 10)] {
        let m = machine(json!({
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "MaxConcurrency": limit,
                    // The legacy spelling: Iterator + Parameters.
                    "Parameters": {"n.$": "$$.Map.Item.Value"},
                    "Iterator": {
                        "StartAt": "Work",
                        "States": {"Work": {"Type": "Task", "Resource": "work", "End": true}}
                    },
                    "End": true
                }
            }
        }));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (fl, pk) = (Arc::clone(&in_flight), Arc::clone(&peak));
        let handlers = Handlers::new().on_async("work", move |input| {
            let (fl, pk) = (Arc::clone(&fl), Arc::clone(&pk));
            async move {
                let now = fl.fetch_add(1, Ordering::SeqCst) + 1;
                pk.fetch_max(now, Ordering::SeqCst);
                // Yield so the interpreter gets every chance to start more iterations.
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                }
                fl.fetch_sub(1, Ordering::SeqCst);
                Ok(json!(input["n"].as_u64().unwrap() * 2))
            }
        });
        let input: Vec<usize> = (0..items).collect();
        let out = within_5s(run(&m, json!(input), &handlers)).await.unwrap();
        let expected: Vec<usize> = (0..items).map(|n| n * 2).collect();
        assert_eq!(out, json!(expected));
        assert_eq!(
            peak.load(Ordering::SeqCst),
            limit,
            "with MaxConcurrency {limit} the peak should reach, and never exceed, {limit}"
        );
    }
}

#[tokio::test]
async fn map_state_without_max_concurrency_runs_every_item_at_once() {
    let m = machine(json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "MaxConcurrencyPath": "$.limit",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": "work", "End": true}}
                },
                "End": true
            }
        }
    }));
    // Five-party barrier: only completes if all five iterations run together.
    let barrier = Arc::new(Barrier::new(5));
    let handlers = Handlers::new().on_async("work", move |input| {
        let b = Arc::clone(&barrier);
        async move {
            b.wait().await;
            Ok(input)
        }
    });
    let out = within_5s(run(
        &m,
        json!({"limit": 0, "items": [1, 2, 3, 4, 5]}),
        &handlers,
    ))
    .await
    .unwrap();
    assert_eq!(out, json!([1, 2, 3, 4, 5]));
}

#[tokio::test]
async fn map_state_over_an_empty_array_outputs_an_empty_array() {
    let m = machine(json!({
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": "w", "End": true}}},
            "End": true
        }}
    }));
    let handlers = Handlers::new();
    assert_eq!(run(&m, json!([]), &handlers).await.unwrap(), json!([]));
    assert!(handlers.calls().is_empty());
}

#[tokio::test]
async fn map_items_path_must_select_an_array() {
    let m = machine(json!({
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
            "End": true
        },
        "Caught": {"Type": "Succeed"}}
    }));
    let err = run(&m, json!({"items": {"not": "an array"}}), &Handlers::new())
        .await
        .unwrap_err();
    // States.Runtime is not caught even by States.ALL.
    assert_eq!(err.error, names::RUNTIME);
    assert!(err.cause.contains("$.items"), "{}", err.cause);
}

#[tokio::test]
async fn map_iteration_failure_fails_the_map_and_can_be_caught() {
    let m = machine(json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "Check", "States": {
                    "Check": {"Type": "Choice", "Choices": [
                        {"Variable": "$", "NumericGreaterThan": 2, "Next": "TooBig"}
                    ], "Default": "Fine"},
                    "TooBig": {"Type": "Fail", "Error": "Item.TooBig", "Cause": "over 2"},
                    "Fine": {"Type": "Pass", "End": true}
                }},
                "Catch": [{"ErrorEquals": ["Item.TooBig"], "Next": "Rejected"}],
                "End": true
            },
            "Rejected": {"Type": "Pass", "End": true}
        }
    }));
    let h = Handlers::new();
    assert_eq!(run(&m, json!([1, 2]), &h).await.unwrap(), json!([1, 2]));
    assert_eq!(
        run(&m, json!([1, 2, 3]), &h).await.unwrap(),
        json!({"Error": "Item.TooBig", "Cause": "over 2"})
    );
}

#[tokio::test]
async fn map_result_selector_and_output_path_apply_to_the_collected_array() {
    let m = machine(json!({
        "StartAt": "Each",
        "States": {"Each": {
            "Type": "Map",
            "ItemsPath": "$.xs",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "ResultSelector": {"count.$": "States.ArrayLength($)", "all.$": "$"},
            "ResultPath": "$.summary",
            "OutputPath": "$.summary",
            "End": true
        }}
    }));
    let out = run(&m, json!({"xs": ["a", "b"]}), &Handlers::new())
        .await
        .unwrap();
    assert_eq!(out, json!({"count": 2, "all": ["a", "b"]}));
}

#[tokio::test]
async fn on_transition_sees_every_state_entry_with_its_input() {
    let m = machine(json!({
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Result": {"step": 2}, "Next": "Second"},
            "Second": {"Type": "Succeed"}
        }
    }));
    let inputs = Arc::new(std::sync::Mutex::new(Vec::<(String, Value)>::new()));
    let sink = Arc::clone(&inputs);
    let opts = RunOptions::default().with_on_transition(move |name, input| {
        sink.lock().unwrap().push((name.to_owned(), input.clone()))
    });
    run_with(&m, json!({"step": 1}), &Handlers::new(), &opts)
        .await
        .unwrap();
    assert_eq!(
        *inputs.lock().unwrap(),
        vec![
            ("First".to_owned(), json!({"step": 1})),
            ("Second".to_owned(), json!({"step": 2}))
        ]
    );
}

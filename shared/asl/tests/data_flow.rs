//! Input and output processing (InputPath → Parameters → task → ResultSelector →
//! ResultPath → OutputPath), using the examples from the AWS Step Functions developer
//! guide, plus the context object.

mod common;

use common::{Handlers, fast, machine};
use muara_asl::{RunOptions, TaskFailure, names, run, run_with};
use serde_json::{Value, json};

fn hello_handlers() -> Handlers {
    Handlers::new().on("hello", |input| {
        Ok(json!(format!(
            "Hello, {}!",
            input["who"].as_str().unwrap_or("nobody")
        )))
    })
}

fn hello_task(extra: Value) -> muara_asl::StateMachine {
    let mut task = json!({"Type": "Task", "Resource": "hello", "End": true});
    for (k, v) in extra.as_object().expect("extra fields are an object") {
        task[k] = v.clone();
    }
    machine(json!({"StartAt": "Hello", "States": {"Hello": task}}))
}

#[tokio::test]
async fn input_path_result_path_and_output_path_combine_as_in_the_aws_guide() {
    // The guide's combined example: InputPath selects the task input, ResultPath adds
    // the result inside the original input, OutputPath selects what moves on.
    let m = hello_task(json!({
        "InputPath": "$.lambda",
        "ResultPath": "$.data.lambdaresult",
        "OutputPath": "$.data"
    }));
    let input = json!({
        "comment": "An input comment.",
        "data": {"val1": 23, "val2": 17},
        "extra": "foo",
        "lambda": {"who": "AWS Step Functions"}
    });
    let handlers = hello_handlers();
    let out = run(&m, input, &handlers).await.unwrap();
    assert_eq!(
        out,
        json!({"val1": 23, "val2": 17, "lambdaresult": "Hello, AWS Step Functions!"})
    );
    assert_eq!(handlers.calls()[0].1, json!({"who": "AWS Step Functions"}));
}

#[tokio::test]
async fn input_path_selects_part_of_the_input() {
    let m = machine(json!({
        "StartAt": "Pick",
        "States": {"Pick": {"Type": "Pass", "InputPath": "$.dataset2", "End": true}}
    }));
    let input = json!({
        "comment": "Example for InputPath.",
        "dataset1": {"val1": 1, "val2": 2, "val3": 3},
        "dataset2": {"val1": "a", "val2": "b", "val3": "c"}
    });
    assert_eq!(
        run(&m, input, &Handlers::new()).await.unwrap(),
        json!({"val1": "a", "val2": "b", "val3": "c"})
    );
}

#[tokio::test]
async fn parameters_select_fields_and_add_static_values_as_in_the_aws_guide() {
    let m = machine(json!({
        "StartAt": "Select",
        "States": {"Select": {
            "Type": "Pass",
            "Parameters": {
                "comment": "Selecting what I care about.",
                "MyDetails": {
                    "size.$": "$.product.details.size",
                    "exists.$": "$.product.availability",
                    "StaticValue": "foo"
                }
            },
            "End": true
        }}
    }));
    let input = json!({
        "comment": "Example for Parameters.",
        "product": {
            "details": {"color": "blue", "size": "small", "material": "cotton"},
            "availability": "in stock",
            "sku": "2317",
            "cost": "$23"
        }
    });
    assert_eq!(
        run(&m, input, &Handlers::new()).await.unwrap(),
        json!({
            "comment": "Selecting what I care about.",
            "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"}
        })
    );
}

#[tokio::test]
async fn result_selector_reshapes_the_task_result_before_result_path() {
    // The guide's EMR createCluster example.
    let m = machine(json!({
        "StartAt": "CreateCluster",
        "States": {"CreateCluster": {
            "Type": "Task",
            "Resource": "emr:createCluster",
            "ResultSelector": {
                "ClusterId.$": "$.output.ClusterId",
                "ResourceType.$": "$.resourceType"
            },
            "ResultPath": "$.EMROutput",
            "End": true
        }}
    }));
    let handlers = Handlers::new().on("emr:createCluster", |_| {
        Ok(json!({
            "resourceType": "elasticmapreduce",
            "resource": "createCluster.sync",
            "output": {
                "SdkHttpMetadata": {"HttpStatusCode": 200},
                "SdkResponseMetadata": {"RequestId": "r-1"},
                "ClusterId": "AKIAIOSFODNN7EXAMPLE"
            }
        }))
    });
    let out = run(&m, json!({"cluster": "c"}), &handlers).await.unwrap();
    assert_eq!(
        out,
        json!({
            "cluster": "c",
            "EMROutput": {"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce"}
        })
    );
}

#[tokio::test]
async fn result_path_variants_follow_the_aws_guide() {
    let input = json!({
        "comment": "This is a test of the input and output of a Task state.",
        "details": "Default example",
        "who": "AWS Step Functions"
    });
    let handlers = hello_handlers();

    // Default ("$"): the result replaces the input.
    let out = run(&hello_task(json!({})), input.clone(), &handlers)
        .await
        .unwrap();
    assert_eq!(out, json!("Hello, AWS Step Functions!"));

    // null: the result is discarded and the input passes through.
    let out = run(
        &hello_task(json!({"ResultPath": null})),
        input.clone(),
        &handlers,
    )
    .await
    .unwrap();
    assert_eq!(out, input);

    // A path: the result is added to the input.
    let out = run(
        &hello_task(json!({"ResultPath": "$.taskresult"})),
        input.clone(),
        &handlers,
    )
    .await
    .unwrap();
    let mut expected = input.clone();
    expected["taskresult"] = json!("Hello, AWS Step Functions!");
    assert_eq!(out, expected);

    // A deeper path creates the intermediate objects.
    let out = run(
        &hello_task(json!({"ResultPath": "$.strings.lambdaresult"})),
        input.clone(),
        &handlers,
    )
    .await
    .unwrap();
    assert_eq!(
        out["strings"],
        json!({"lambdaresult": "Hello, AWS Step Functions!"})
    );

    // An existing field is overwritten.
    let out = run(
        &hello_task(json!({"ResultPath": "$.who"})),
        input.clone(),
        &handlers,
    )
    .await
    .unwrap();
    assert_eq!(out["who"], json!("Hello, AWS Step Functions!"));
    assert_eq!(out["details"], json!("Default example"));
}

#[tokio::test]
async fn null_input_path_and_output_path_mean_an_empty_object() {
    let m = machine(json!({
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "echo", "InputPath": null, "Next": "Quiet"},
                   "Quiet": {"Type": "Pass", "OutputPath": null, "End": true}}
    }));
    let handlers = Handlers::new().on("echo", Ok);
    let out = run(&m, json!({"secret": 1}), &handlers).await.unwrap();
    assert_eq!(handlers.calls()[0].1, json!({}));
    assert_eq!(out, json!({}));
}

#[tokio::test]
async fn result_path_into_a_non_object_is_a_catchable_result_path_match_failure() {
    let m = machine(json!({
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "hello",
                "ResultPath": "$.result",
                "Catch": [{"ErrorEquals": ["States.ResultPathMatchFailure"], "Next": "Caught"}],
                "End": true
            },
            "Caught": {"Type": "Pass", "End": true}
        }
    }));
    let out = run(&m, json!("just a string"), &hello_handlers())
        .await
        .unwrap();
    assert_eq!(out["Error"], json!(names::RESULT_PATH_MATCH_FAILURE));
}

#[tokio::test]
async fn missing_parameter_path_is_a_parameter_path_failure() {
    let m = machine(json!({
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "hello", "Parameters": {"who.$": "$.name"}, "End": true}}
    }));
    let handlers = hello_handlers();
    let err = run(&m, json!({"nom": "x"}), &handlers).await.unwrap_err();
    assert_eq!(err.error, names::PARAMETER_PATH_FAILURE);
    assert!(err.cause.contains("$.name"), "{}", err.cause);
    assert!(handlers.calls().is_empty(), "the task must not run");
}

#[tokio::test]
async fn missing_input_or_output_path_is_an_uncatchable_runtime_error() {
    for field in ["InputPath", "OutputPath"] {
        let m = machine(json!({
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": "hello",
                    field: "$.missing",
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                    "End": true
                },
                "Caught": {"Type": "Succeed"}
            }
        }));
        let err = run(&m, json!({"who": "x"}), &hello_handlers())
            .await
            .unwrap_err();
        assert_eq!(err.error, names::RUNTIME, "{field}");
        assert!(err.cause.contains(field), "{field}: {}", err.cause);
    }
}

#[tokio::test]
async fn context_object_exposes_execution_state_and_input() {
    let m = machine(json!({
        "StartAt": "Ctx",
        "States": {"Ctx": {
            "Type": "Task",
            "Resource": "echo",
            "Parameters": {
                "name.$": "$$.Execution.Name",
                "id.$": "$$.Execution.Id",
                "original.$": "$$.Execution.Input.order",
                "state.$": "$$.State.Name",
                "retries.$": "$$.State.RetryCount",
                "entered.$": "$$.State.EnteredTime",
                "started.$": "$$.Execution.StartTime",
                "machine.$": "$$.StateMachine.Name"
            },
            "End": true
        }}
    }));
    let handlers = Handlers::new().on("echo", Ok);
    let opts = RunOptions::default()
        .with_execution_name("ingest-2024-01-01")
        .with_state_machine_name("ingest");
    let out = run_with(&m, json!({"order": 7}), &handlers, &opts)
        .await
        .unwrap();
    assert_eq!(out["name"], json!("ingest-2024-01-01"));
    assert_eq!(
        out["id"],
        json!("arn:aws:states:local:000000000000:execution:ingest:ingest-2024-01-01")
    );
    assert_eq!(out["original"], json!(7));
    assert_eq!(out["state"], json!("Ctx"));
    assert_eq!(out["retries"], json!(0));
    assert_eq!(out["machine"], json!("ingest"));
    for field in ["entered", "started"] {
        let text = out[field].as_str().unwrap();
        assert!(
            text.len() >= 20 && text.ends_with('Z') && text.contains('T'),
            "{field}: {text}"
        );
    }
}

#[tokio::test]
async fn execution_name_defaults_to_a_fresh_uuid() {
    let m = machine(json!({
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"n.$": "$$.Execution.Name"}, "End": true}}
    }));
    let a = run(&m, json!({}), &Handlers::new()).await.unwrap();
    let b = run(&m, json!({}), &Handlers::new()).await.unwrap();
    assert_eq!(a["n"].as_str().unwrap().len(), 36);
    assert_ne!(a, b);
}

#[tokio::test]
async fn intrinsics_build_task_payloads() {
    let m = machine(json!({
        "StartAt": "T",
        "States": {"T": {
            "Type": "Task",
            "Resource": "echo",
            "Parameters": {
                "key.$": "States.Format('raw/{}/{}.json', $.tenant, $.id)",
                "body.$": "States.JsonToString($.doc)",
                "parsed.$": "States.StringToJson($.text)",
                "ids.$": "States.Array($.id, 'x')",
                "merged.$": "States.JsonMerge($.defaults, $.overrides, false)",
                "next.$": "States.MathAdd($.id, 1)",
                "token.$": "States.UUID()"
            },
            "ResultSelector": {"key.$": "$.key", "body.$": "$.body", "parsed.$": "$.parsed",
                               "ids.$": "$.ids", "merged.$": "$.merged", "next.$": "$.next",
                               "token.$": "$.token"},
            "End": true
        }}
    }));
    let handlers = Handlers::new().on("echo", Ok);
    let out = run(
        &m,
        json!({
            "tenant": "acme",
            "id": 41,
            "doc": {"a": [1]},
            "text": "{\"b\":true}",
            "defaults": {"retries": 3, "mode": "fast"},
            "overrides": {"mode": "safe"}
        }),
        &handlers,
    )
    .await
    .unwrap();
    let token = out["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 36, "{token}");
    assert_eq!(
        out,
        json!({
            "token": token,
            "key": "raw/acme/41.json",
            "body": "{\"a\":[1]}",
            "parsed": {"b": true},
            "ids": [41, "x"],
            "merged": {"retries": 3, "mode": "safe"},
            "next": 42
        })
    );
}

#[tokio::test]
async fn failing_intrinsic_raises_intrinsic_failure() {
    let m = machine(json!({
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "States.StringToJson($.text)"}, "End": true}}
    }));
    let err = run_with(&m, json!({"text": "{oops"}), &Handlers::new(), &fast())
        .await
        .unwrap_err();
    assert_eq!(err.error, names::INTRINSIC_FAILURE);
}

#[tokio::test]
async fn task_errors_reach_the_catcher_as_error_output() {
    let m = machine(json!({
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "bad",
                "Catch": [{"ErrorEquals": ["java.lang.Exception"], "ResultPath": "$.error-info", "Next": "Recovery"}],
                "End": true
            },
            "Recovery": {"Type": "Pass", "End": true}
        }
    }));
    let handlers = Handlers::new().on("bad", |_| {
        Err(TaskFailure::new("java.lang.Exception", "boom"))
    });
    let out = run(&m, json!({"id": 1}), &handlers).await.unwrap();
    assert_eq!(
        out,
        json!({"id": 1, "error-info": {"Error": "java.lang.Exception", "Cause": "boom"}})
    );
}

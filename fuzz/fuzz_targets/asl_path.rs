//! ASL JSONPath and intrinsic functions. The path and intrinsic parsers are crate-private, so
//! they are reached through the public API: the fuzzed text is placed in a one-state
//! definition (first input byte picks where: a `Parameters` `.$` value — a path or an
//! intrinsic call —, `InputPath`, `ResultPath`, `OutputPath`, a Choice `Variable`, or
//! `ItemsPath` of an inline Map), which `StateMachine::from_value` parses and `muara_asl::run`
//! executes on a small input. Selector `5` instead parses the whole text as a definition.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use muara_asl::{RunOptions, StateMachine, TaskFailure, TaskInvoker, run_with};
use serde_json::{Value, json};

struct Echo;

#[async_trait::async_trait]
impl TaskInvoker for Echo {
    async fn invoke(&self, _resource: &str, input: Value) -> Result<Value, TaskFailure> {
        Ok(input)
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    })
}

fn definition(mode: u8, s: &str) -> Value {
    let one = |state: Value| json!({"StartAt": "S", "States": {"S": state}});
    match mode {
        0 => one(json!({"Type": "Pass", "Parameters": {"v.$": s, "w": 1}, "End": true})),
        1 => one(json!({"Type": "Pass", "InputPath": s, "End": true})),
        2 => one(json!({"Type": "Pass", "Result": {"x": [1, 2]}, "ResultPath": s, "End": true})),
        3 => one(json!({"Type": "Pass", "OutputPath": s, "End": true})),
        4 => json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice",
                  "Choices": [{"Variable": s, "StringEquals": "x", "Next": "D"},
                              {"Variable": s, "NumericGreaterThan": 1, "Next": "D"},
                              {"Variable": s, "IsPresent": true, "Next": "D"}],
                  "Default": "D"},
            "D": {"Type": "Succeed"}}}),
        _ => one(json!({"Type": "Map", "ItemsPath": s, "End": true,
            "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}}})),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let mode = sel % 7;
    if mode == 6 {
        // A whole definition: parsed only (running arbitrary machines would mostly fuzz
        // the scheduler, and Wait states sleep).
        let _ = StateMachine::parse(text);
        return;
    }
    let Ok(machine) = StateMachine::from_value(&definition(mode, text)) else {
        return;
    };
    let input = json!({
        "a": [1, 2, {"b": "x", "c": [3.5, -1]}],
        "s": "hello, {}",
        "n": 3,
        "o": {"k": "v", "e": {}},
        "arr": ["a", "b", "a"],
        "b64": "aGVsbG8=",
        "j": "{\"x\":[1,2]}"
    });
    let opts = RunOptions::default().with_max_wait(Duration::ZERO);
    let _ = runtime().block_on(run_with(&machine, input, &Echo, &opts));
});

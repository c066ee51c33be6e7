//! The `$$` context object: facts about the execution and the current state that paths
//! and payload templates may read (`$$.Execution.Name`, `$$.Map.Item.Index`, …).

use serde_json::{Map, Value, json};

use crate::path::ContextSource;

/// Per-execution facts, fixed when the execution starts.
#[derive(Debug, Clone)]
pub(crate) struct ExecutionInfo {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) input: Value,
    pub(crate) start_time: String,
    pub(crate) state_machine_id: String,
    pub(crate) state_machine_name: String,
}

/// What `$$` means while one state runs. Built from borrowed parts so that the JSON is
/// only assembled when a `$$` path is actually evaluated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StateContext<'a> {
    pub(crate) execution: &'a ExecutionInfo,
    pub(crate) state_name: &'a str,
    pub(crate) entered_time: &'a str,
    pub(crate) retry_count: u64,
    /// Only inside a Map state's `ItemSelector`.
    pub(crate) map_item: Option<(usize, &'a Value)>,
}

impl ContextSource for StateContext<'_> {
    fn context_value(&self) -> Value {
        let execution = self.execution;
        let mut context = Map::new();
        context.insert(
            "Execution".to_owned(),
            json!({
                "Id": execution.id,
                "Input": execution.input,
                "Name": execution.name,
                "StartTime": execution.start_time,
                "RedriveCount": 0,
            }),
        );
        context.insert(
            "State".to_owned(),
            json!({
                "EnteredTime": self.entered_time,
                "Name": self.state_name,
                "RetryCount": self.retry_count,
            }),
        );
        context.insert(
            "StateMachine".to_owned(),
            json!({
                "Id": execution.state_machine_id,
                "Name": execution.state_machine_name,
            }),
        );
        if let Some((index, value)) = self.map_item {
            context.insert(
                "Map".to_owned(),
                json!({"Item": {"Index": index, "Value": value}}),
            );
        }
        Value::Object(context)
    }
}

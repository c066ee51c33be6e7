//! Shared test scaffolding: an invoker built from per-resource closures that records
//! every call.

#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use muara_asl::{RunOptions, StateMachine, TaskFailure, TaskInvoker};
use serde_json::Value;

type Handler = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, TaskFailure>> + Send + Sync>;

#[derive(Default)]
pub struct Handlers {
    handlers: HashMap<String, Handler>,
    calls: Mutex<Vec<(String, Value)>>,
}

impl Handlers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an async handler.
    pub fn on_async<F, Fut>(mut self, resource: &str, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, TaskFailure>> + Send + 'static,
    {
        self.handlers.insert(
            resource.to_owned(),
            Arc::new(move |input| Box::pin(handler(input))),
        );
        self
    }

    /// Registers a synchronous handler.
    pub fn on<F>(self, resource: &str, handler: F) -> Self
    where
        F: Fn(Value) -> Result<Value, TaskFailure> + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        self.on_async(resource, move |input| {
            let handler = Arc::clone(&handler);
            async move { handler(input) }
        })
    }

    pub fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().expect("call log poisoned").clone()
    }

    pub fn call_count(&self, resource: &str) -> usize {
        self.calls().iter().filter(|(r, _)| r == resource).count()
    }
}

#[async_trait::async_trait]
impl TaskInvoker for Handlers {
    async fn invoke(&self, resource: &str, input: Value) -> Result<Value, TaskFailure> {
        self.calls
            .lock()
            .expect("call log poisoned")
            .push((resource.to_owned(), input.clone()));
        match self.handlers.get(resource) {
            Some(handler) => handler(input).await,
            None => Err(TaskFailure::new(
                "Local.UnknownResource",
                format!("no handler for {resource}"),
            )),
        }
    }
}

pub fn machine(definition: Value) -> StateMachine {
    StateMachine::from_value(&definition).expect("test definition should be valid")
}

/// Options for tests: no real waiting.
pub fn fast() -> RunOptions {
    RunOptions::default().with_max_wait(std::time::Duration::ZERO)
}

/// Records state names as the execution enters them.
pub fn tracing_options() -> (RunOptions, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let options = fast().with_on_transition(move |name, _input| {
        sink.lock().expect("trace poisoned").push(name.to_owned());
    });
    (options, seen)
}

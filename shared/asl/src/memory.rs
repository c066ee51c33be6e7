//! The orchestrator's memory twin (feature `memory`): [`MemOrchestrator`] implements
//! `muara_core::ports::Orchestrator` by running registered definitions with this interpreter
//! in-process, its executions and their journals held in memory. It passes the orchestrator
//! contract suite (`tests/it/orchestrator_contract.rs`) with the local orchestrator and Step
//! Functions, so domain tests can run a pipeline's real state machine without PostgreSQL.
//!
//! Why here: `muara-core` holds the ports and the other memory twins but not the interpreter
//! (the core stays the bottom layer, with no state-machine engine in it), and
//! `muara-local`'s `LocalOrchestrator` brings PostgreSQL with it. This crate has the
//! interpreter and its [`Journal`]; the feature adds only `muara-core`, so the twin comes
//! without a database client, and the interpreter itself stays free of muara's ports.
//!
//! The semantics are the local orchestrator's, in memory:
//! - an execution is `(machine, name)`, its id `memory:<machine>:<name>`; a name starts at
//!   most one execution, ever (a finished one keeps its name), and concurrent starts of one
//!   name start one;
//! - a run records every task outcome in the execution's [`MemJournal`]; an execution whose
//!   run ended without recording its end (its task panicked, or [`MemOrchestrator::interrupt`]
//!   stopped it as a crash would) stays `RUNNING` until [`MemOrchestrator::recover`] runs it
//!   again from its input, replaying the journal, so only unfinished tasks run again; one
//!   interrupted [`MAX_RUNS`] times is failed instead (`States.Runtime`);
//! - an execution's end is its output, or a failure's error and cause; the journal is dropped.

use crate::{ExecutionFailure, Journal, RunOptions, StateMachine, TaskFailure, TaskInvoker};
use async_trait::async_trait;
use muara_core::ports::{ExecutionInfo, ExecutionStatus, Orchestrator, Started};
use muara_core::{Error, ErrorKind, Result};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// How many times an execution is run (first start included) before an interruption fails it
/// (as on the local orchestrator).
pub const MAX_RUNS: u32 = 4;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update below leaves consistent data, even one a panic interrupted.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Task outcomes of one execution, kept in memory.
#[derive(Debug, Default)]
pub struct MemJournal(Mutex<HashMap<String, std::result::Result<Value, TaskFailure>>>);

impl MemJournal {
    /// How many task outcomes are recorded.
    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// Whether no task outcome is recorded.
    pub fn is_empty(&self) -> bool {
        lock(&self.0).is_empty()
    }
}

#[async_trait]
impl Journal for MemJournal {
    fn replay(&self, key: &str) -> Option<std::result::Result<Value, TaskFailure>> {
        lock(&self.0).get(key).cloned()
    }

    async fn record(&self, key: &str, outcome: &std::result::Result<Value, TaskFailure>) {
        lock(&self.0).insert(key.to_owned(), outcome.clone());
    }
}

#[derive(Debug)]
struct Execution {
    machine: String,
    name: String,
    input: Value,
    status: ExecutionStatus,
    output: Option<Value>,
    error: Option<String>,
    cause: Option<String>,
    /// Runs so far, the first included.
    runs: u32,
    journal: Arc<MemJournal>,
    /// The task of the current run.
    task: Option<tokio::task::AbortHandle>,
}

impl Execution {
    /// Records the end of a run, unless the execution already ended.
    fn finish(&mut self, outcome: std::result::Result<Value, ExecutionFailure>) {
        if self.status != ExecutionStatus::Running {
            return;
        }
        match outcome {
            Ok(v) => {
                self.status = ExecutionStatus::Succeeded;
                self.output = Some(v);
            }
            Err(f) => {
                self.status = ExecutionStatus::Failed;
                self.error = Some(f.error);
                self.cause = Some(f.cause);
            }
        }
        self.journal = Arc::default();
    }

    /// Whether it runs with no task left to end it.
    fn stranded(&self) -> bool {
        self.status == ExecutionStatus::Running
            && self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

type Executions = Arc<Mutex<BTreeMap<String, Execution>>>;

/// The orchestrator in memory. Machines and the task invoker can be set after construction,
/// as on the local orchestrator (task handlers may themselves need the orchestrator).
pub struct MemOrchestrator {
    machines: crate::Registry,
    invoker: RwLock<Arc<dyn TaskInvoker>>,
    executions: Executions,
}

impl std::fmt::Debug for MemOrchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemOrchestrator")
            .field("machines", &self.machines())
            .field("executions", &lock(&self.executions).len())
            .finish_non_exhaustive()
    }
}

fn registry_error(e: crate::RegistryError) -> Error {
    Error::with_source(ErrorKind::Config, "registering a state machine", e)
}

impl MemOrchestrator {
    pub fn new(invoker: Arc<dyn TaskInvoker>) -> Self {
        Self {
            machines: crate::Registry::default(),
            invoker: RwLock::new(invoker),
            executions: Arc::default(),
        }
    }

    /// Replaces the task invoker (for runs started from now on).
    pub fn set_invoker(&self, invoker: Arc<dyn TaskInvoker>) {
        if let Ok(mut i) = self.invoker.write() {
            *i = invoker;
        }
    }
    /// Registers (or replaces) `name` from its definition, `${Var}`s substituted from `vars`.
    pub fn register(
        &self,
        name: &str,
        definition: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.machines
            .register(name, definition, vars)
            .map_err(registry_error)
    }

    /// Registers every `<name>.asl.json` in `dir` as `<name>`.
    pub fn register_dir(&self, dir: &Path, vars: &BTreeMap<String, String>) -> Result<Vec<String>> {
        self.machines
            .register_dir(dir, vars)
            .map_err(registry_error)
    }

    pub fn machines(&self) -> Vec<String> {
        self.machines.names()
    }

    fn machine(&self, name: &str) -> Option<Arc<StateMachine>> {
        self.machines.get(name)
    }

    /// Stops an execution's run as a crash would: it stays `RUNNING` with what its journal
    /// holds, for [`recover`](Self::recover). Whether it was running.
    pub fn interrupt(&self, execution_id: &str) -> bool {
        let executions = lock(&self.executions);
        match executions.get(execution_id) {
            Some(e) if e.status == ExecutionStatus::Running => {
                if let Some(task) = &e.task {
                    task.abort();
                }
                true
            }
            _ => false,
        }
    }

    /// Runs again every execution whose run ended without recording its end (a panic, an
    /// [`interrupt`](Self::interrupt)), from its input and journal; one already run
    /// [`MAX_RUNS`] times, or whose machine is no longer registered, is failed instead.
    /// Returns how many were resumed and failed.
    pub fn recover(&self) -> Result<(usize, usize)> {
        let invoker = self.invoker()?;
        let mut executions = lock(&self.executions);
        let (mut resumed, mut failed) = (0, 0);
        let stranded: Vec<String> = executions
            .iter()
            .filter(|(_, e)| e.stranded())
            .map(|(id, _)| id.clone())
            .collect();
        for id in stranded {
            let Some(e) = executions.get_mut(&id) else {
                continue;
            };
            let definition = self.machine(&e.machine);
            let give_up = match (&definition, e.runs >= MAX_RUNS) {
                (None, _) => Some(format!(
                    "interrupted: its run stopped, and no state machine {:?} is registered here to resume it",
                    e.machine
                )),
                (Some(_), true) => Some(format!(
                    "interrupted {} times: its run stopped each time (a crash on this execution's input?); not resumed again",
                    e.runs
                )),
                _ => None,
            };
            match (definition, give_up) {
                (Some(definition), None) => {
                    e.runs += 1;
                    tracing::warn!(execution = %id, run = e.runs, replayed = e.journal.len(), "resuming an interrupted execution");
                    self.launch(&mut executions, definition, &id, invoker.clone());
                    resumed += 1;
                }
                (_, cause) => {
                    let cause = cause.unwrap_or_default();
                    tracing::error!(execution = %id, %cause, "interrupted execution failed");
                    e.finish(Err(ExecutionFailure {
                        error: crate::names::RUNTIME.into(),
                        cause,
                    }));
                    failed += 1;
                }
            }
        }
        Ok((resumed, failed))
    }

    fn invoker(&self) -> Result<Arc<dyn TaskInvoker>> {
        self.invoker
            .read()
            .map(|i| i.clone())
            .map_err(|_| Error::fatal("task invoker lock poisoned"))
    }

    /// Starts a run of the execution `id` (held in `executions`): a task that records its end.
    /// Spawned under the lock, so no one sees the execution without its task.
    fn launch(
        &self,
        executions: &mut BTreeMap<String, Execution>,
        definition: Arc<StateMachine>,
        id: &str,
        invoker: Arc<dyn TaskInvoker>,
    ) {
        let Some(e) = executions.get_mut(id) else {
            return;
        };
        let opts = RunOptions {
            execution_name: Some(e.name.clone()),
            state_machine_name: Some(e.machine.clone()),
            journal: Some(e.journal.clone()),
            ..RunOptions::default()
        };
        let input = e.input.clone();
        let all = self.executions.clone();
        let exec_id = id.to_string();
        let task = tokio::spawn(async move {
            let outcome = crate::run_with(&definition, input, invoker.as_ref(), &opts).await;
            match &outcome {
                Ok(_) => tracing::info!(execution = %exec_id, "execution succeeded"),
                Err(f) => {
                    tracing::warn!(execution = %exec_id, error = %f.error, cause = %f.cause, "execution failed")
                }
            }
            if let Some(e) = lock(&all).get_mut(&exec_id) {
                e.finish(outcome);
            }
        });
        e.task = Some(task.abort_handle());
    }
}

#[async_trait]
impl Orchestrator for MemOrchestrator {
    async fn start(&self, machine: &str, name: &str, input: &Value) -> Result<Started> {
        let definition = self
            .machine(machine)
            .ok_or_else(|| Error::not_found(format!("no state machine named {machine:?}")))?;
        if name.is_empty() || name.len() > 80 {
            return Err(Error::invalid(format!(
                "execution name {name:?} must be 1-80 characters"
            )));
        }
        let id = self.execution_id(machine, name)?;
        let invoker = self.invoker()?;
        let mut executions = lock(&self.executions);
        if executions.contains_key(&id) {
            return Ok(Started::AlreadyExists { execution_id: id });
        }
        executions.insert(
            id.clone(),
            Execution {
                machine: machine.to_string(),
                name: name.to_string(),
                input: input.clone(),
                status: ExecutionStatus::Running,
                output: None,
                error: None,
                cause: None,
                runs: 1,
                journal: Arc::default(),
                task: None,
            },
        );
        self.launch(&mut executions, definition, &id, invoker);
        Ok(Started::New { execution_id: id })
    }

    fn execution_id(&self, machine: &str, name: &str) -> Result<String> {
        Ok(format!("memory:{machine}:{name}"))
    }

    async fn describe(&self, execution_id: &str) -> Result<ExecutionInfo> {
        let executions = lock(&self.executions);
        let e = executions
            .get(execution_id)
            .ok_or_else(|| Error::not_found(format!("no execution {execution_id:?}")))?;
        Ok(ExecutionInfo {
            execution_id: execution_id.to_string(),
            name: e.name.clone(),
            status: e.status,
            input: e.input.clone(),
            output: e.output.clone(),
            error: e.error.clone(),
            cause: e.cause.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    const TWO_TASKS: &str = r#"{
      "StartAt": "First",
      "States": {
        "First": { "Type": "Task", "Resource": "first", "ResultPath": "$.first", "Next": "Second" },
        "Second": { "Type": "Task", "Resource": "second", "ResultPath": "$.second", "End": true }
      }
    }"#;

    /// `first` answers at once; `second` never answers while `hang` is set.
    #[derive(Default)]
    struct Tasks {
        first: AtomicUsize,
        second: AtomicUsize,
        hang: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl TaskInvoker for Tasks {
        async fn invoke(
            &self,
            resource: &str,
            _input: Value,
        ) -> std::result::Result<Value, TaskFailure> {
            match resource {
                "first" => Ok(json!(self.first.fetch_add(1, Ordering::SeqCst) + 1)),
                _ => {
                    self.second.fetch_add(1, Ordering::SeqCst);
                    if self.hang.load(Ordering::SeqCst) {
                        std::future::pending::<()>().await;
                    }
                    Ok(json!("done"))
                }
            }
        }
    }

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        for _ in 0..500 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn status(orch: &MemOrchestrator, id: &str) -> ExecutionStatus {
        orch.describe(id).await.unwrap().status
    }

    fn orchestrator(tasks: &Arc<Tasks>) -> MemOrchestrator {
        let orch = MemOrchestrator::new(tasks.clone());
        orch.register("two", TWO_TASKS, &BTreeMap::new()).unwrap();
        orch
    }

    #[tokio::test]
    async fn an_interrupted_execution_resumes_from_its_journal() {
        let tasks = Arc::new(Tasks::default());
        tasks.hang.store(true, Ordering::SeqCst);
        let orch = orchestrator(&tasks);
        let id = orch
            .start("two", "x", &json!({}))
            .await
            .unwrap()
            .execution_id()
            .to_string();
        until("the second task", || {
            tasks.second.load(Ordering::SeqCst) == 1
        })
        .await;
        assert_eq!(
            orch.recover().unwrap(),
            (0, 0),
            "a running execution is left alone"
        );
        assert!(orch.interrupt(&id));
        until("the run to stop", || lock(&orch.executions)[&id].stranded()).await;
        assert_eq!(status(&orch, &id).await, ExecutionStatus::Running);

        tasks.hang.store(false, Ordering::SeqCst);
        assert_eq!(orch.recover().unwrap(), (1, 0));
        let mut info = orch.describe(&id).await.unwrap();
        while !info.status.is_terminal() {
            tokio::time::sleep(Duration::from_millis(10)).await;
            info = orch.describe(&id).await.unwrap();
        }
        assert_eq!(info.status, ExecutionStatus::Succeeded);
        assert_eq!(info.output, Some(json!({"first": 1, "second": "done"})));
        assert_eq!(tasks.first.load(Ordering::SeqCst), 1, "replayed, not run");
        assert_eq!(tasks.second.load(Ordering::SeqCst), 2, "run again");
        assert!(!orch.interrupt(&id), "it ended");
    }

    #[tokio::test]
    async fn an_execution_interrupted_on_every_run_is_failed() {
        let tasks = Arc::new(Tasks::default());
        tasks.hang.store(true, Ordering::SeqCst);
        let orch = orchestrator(&tasks);
        let started = orch.start("two", "y", &json!({})).await.unwrap();
        let id = started.execution_id().to_string();
        for run in 1..=MAX_RUNS as usize {
            until("the second task", || {
                tasks.second.load(Ordering::SeqCst) == run
            })
            .await;
            orch.interrupt(&id);
            until("the run to stop", || lock(&orch.executions)[&id].stranded()).await;
            let expected = if run < MAX_RUNS as usize {
                (1, 0)
            } else {
                (0, 1)
            };
            assert_eq!(orch.recover().unwrap(), expected, "after run {run}");
        }
        let info = orch.describe(&id).await.unwrap();
        assert_eq!(info.status, ExecutionStatus::Failed);
        assert_eq!(info.error.as_deref(), Some(crate::names::RUNTIME));
        assert!(info.cause.unwrap().contains("interrupted 4 times"));
        assert_eq!(
            orch.start("two", "y", &json!({})).await.unwrap(),
            Started::AlreadyExists { execution_id: id },
            "its name stays taken"
        );
    }

    /// Panics on its first call, as a task that takes its host down would.
    struct PanicsOnce(std::sync::atomic::AtomicBool);

    #[async_trait]
    impl TaskInvoker for PanicsOnce {
        async fn invoke(
            &self,
            _resource: &str,
            input: Value,
        ) -> std::result::Result<Value, TaskFailure> {
            if !self.0.swap(true, Ordering::SeqCst) {
                panic!("the task took its host down");
            }
            Ok(input)
        }
    }

    #[tokio::test]
    async fn an_execution_whose_task_panicked_stays_running_until_recovered() {
        let orch = MemOrchestrator::new(Arc::new(PanicsOnce(Default::default())));
        let one =
            r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "t", "End": true}}}"#;
        orch.register("one", one, &BTreeMap::new()).unwrap();
        let started = orch.start("one", "p", &json!({"n": 1})).await.unwrap();
        let id = started.execution_id();
        until("the run to end", || lock(&orch.executions)[id].stranded()).await;
        assert_eq!(status(&orch, id).await, ExecutionStatus::Running);
        assert_eq!(orch.recover().unwrap(), (1, 0));
        until("the execution to succeed", || {
            lock(&orch.executions)[id].status == ExecutionStatus::Succeeded
        })
        .await;
        assert_eq!(
            orch.describe(id).await.unwrap().output,
            Some(json!({"n": 1}))
        );
    }

    #[tokio::test]
    async fn unknown_machines_and_bad_names_start_nothing() {
        let orch = orchestrator(&Arc::new(Tasks::default()));
        let err = orch.start("nope", "x", &json!({})).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        for name in [String::new(), "n".repeat(81)] {
            let err = orch.start("two", &name, &json!({})).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Invalid);
        }
        let err = orch.describe("memory:two:x").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(orch.register("bad", "{}", &BTreeMap::new()).is_err());
    }
}

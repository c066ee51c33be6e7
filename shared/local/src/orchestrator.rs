//! The local orchestrator: the same `statemachines/*.asl.json` that Step Functions runs,
//! executed by the `muara-asl` interpreter with in-process task handlers.
//!
//! Executions are rows in `muara_local.executions` with a unique `(machine, name)`, so, as on
//! Step Functions, a name can start at most one execution: the second start is reported as
//! `AlreadyExists` and starts nothing.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use muara_asl::{RunOptions, StateMachine, TaskInvoker};
use muara_core::ports::{ExecutionInfo, ExecutionStatus, Orchestrator, Started};
use muara_core::{Error, ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// Machines and the task invoker can be set after construction: the pipelines' task handlers
/// themselves need the orchestrator (a batch's finalise starts the next batch).
pub struct LocalOrchestrator {
    pool: Pool,
    machines: RwLock<BTreeMap<String, Arc<StateMachine>>>,
    invoker: RwLock<Arc<dyn TaskInvoker>>,
}

impl std::fmt::Debug for LocalOrchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalOrchestrator")
            .field("machines", &self.machines())
            .finish_non_exhaustive()
    }
}

fn asl_error(context: &str, e: muara_asl::AslError) -> Error {
    Error::with_source(ErrorKind::Config, context.to_string(), e)
}

impl LocalOrchestrator {
    pub fn new(pool: Pool, invoker: Arc<dyn TaskInvoker>) -> Self {
        Self {
            pool,
            machines: RwLock::new(BTreeMap::new()),
            invoker: RwLock::new(invoker),
        }
    }

    /// Replaces the task invoker (for executions started from now on).
    pub fn set_invoker(&self, invoker: Arc<dyn TaskInvoker>) {
        if let Ok(mut i) = self.invoker.write() {
            *i = invoker;
        }
    }

    /// Registers a definition under `name`, after `${…}` substitutions.
    pub fn register(
        &self,
        name: &str,
        definition: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<()> {
        let text = muara_asl::substitute(definition, vars)
            .map_err(|e| asl_error(&format!("state machine {name}: substitution"), e))?;
        let machine = StateMachine::parse(&text)
            .map_err(|e| asl_error(&format!("state machine {name} is invalid"), e))?;
        if let Ok(mut m) = self.machines.write() {
            m.insert(name.to_string(), Arc::new(machine));
        }
        Ok(())
    }

    /// Registers every `<name>.asl.json` in `dir` as `<name>`.
    pub fn register_dir(&self, dir: &Path, vars: &BTreeMap<String, String>) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            if let Some(name) = file.strip_suffix(".asl.json") {
                let text = std::fs::read_to_string(&path)?;
                self.register(name, &text, vars)?;
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    pub fn machines(&self) -> Vec<String> {
        self.machines
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Executions left `RUNNING` by a process that stopped are marked failed, with a cause
    /// that says so; every stage is idempotent, so the operator can simply start them again.
    pub async fn fail_interrupted(&self) -> Result<u64> {
        let client = self.pool.get().await.map_err(pool_error)?;
        client
            .execute(
                "UPDATE muara_local.executions SET status = 'FAILED', error = 'States.Runtime',
                   cause = 'interrupted: the local runtime stopped while this execution ran', stopped_at = now()
                 WHERE status = 'RUNNING'",
                &[],
            )
            .await
            .map_err(|e| pg_error("marking interrupted executions", e))
    }

    async fn finish(
        pool: &Pool,
        id: &str,
        outcome: std::result::Result<Value, muara_asl::ExecutionFailure>,
    ) -> Result<()> {
        let client = pool.get().await.map_err(pool_error)?;
        let (status, output, error, cause) = match outcome {
            Ok(v) => (ExecutionStatus::Succeeded, Some(v), None, None),
            Err(f) => (ExecutionStatus::Failed, None, Some(f.error), Some(f.cause)),
        };
        client
            .execute(
                "UPDATE muara_local.executions SET status = $2, output = $3, error = $4, cause = $5, stopped_at = now()
                 WHERE execution_id = $1",
                &[&id, &status.as_str(), &output, &error, &cause],
            )
            .await
            .map_err(|e| pg_error("recording an execution's end", e))?;
        Ok(())
    }
}

#[async_trait]
impl Orchestrator for LocalOrchestrator {
    async fn start(&self, machine: &str, name: &str, input: &Value) -> Result<Started> {
        let definition = self
            .machines
            .read()
            .ok()
            .and_then(|m| m.get(machine).cloned())
            .ok_or_else(|| Error::not_found(format!("no state machine named {machine:?}")))?;
        if name.is_empty() || name.len() > 80 {
            return Err(Error::invalid(format!(
                "execution name {name:?} must be 1-80 characters"
            )));
        }
        let id = format!("local:{machine}:{name}");
        let client = self.pool.get().await.map_err(pool_error)?;
        let inserted = client
            .query_opt(
                "INSERT INTO muara_local.executions (execution_id, machine, name, input, status)
                 VALUES ($1, $2, $3, $4, 'RUNNING')
                 ON CONFLICT (machine, name) DO NOTHING RETURNING 1",
                &[&id, &machine, &name, input],
            )
            .await
            .map_err(|e| pg_error("recording an execution", e))?;
        if inserted.is_none() {
            return Ok(Started::AlreadyExists { execution_id: id });
        }
        let pool = self.pool.clone();
        let invoker = self
            .invoker
            .read()
            .map(|i| i.clone())
            .map_err(|_| Error::fatal("task invoker lock poisoned"))?;
        let input = input.clone();
        let exec_id = id.clone();
        let exec_name = name.to_string();
        let machine_name = machine.to_string();
        tokio::spawn(async move {
            let opts = RunOptions {
                execution_name: Some(exec_name),
                ..RunOptions::default()
            };
            let outcome = muara_asl::run_with(&definition, input, invoker.as_ref(), &opts).await;
            match &outcome {
                Ok(_) => {
                    tracing::info!(machine = %machine_name, execution = %exec_id, "execution succeeded")
                }
                Err(f) => {
                    tracing::warn!(machine = %machine_name, execution = %exec_id, error = %f.error, cause = %f.cause, "execution failed")
                }
            }
            if let Err(e) = Self::finish(&pool, &exec_id, outcome).await {
                tracing::error!(execution = %exec_id, error = %e.chain(), "could not record the execution's end");
            }
        });
        Ok(Started::New { execution_id: id })
    }

    async fn describe(&self, execution_id: &str) -> Result<ExecutionInfo> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let row = client
            .query_opt(
                "SELECT name, status, input, output, error, cause FROM muara_local.executions WHERE execution_id = $1",
                &[&execution_id],
            )
            .await
            .map_err(|e| pg_error("describing an execution", e))?
            .ok_or_else(|| Error::not_found(format!("no execution {execution_id:?}")))?;
        let status: String = row.get(1);
        Ok(ExecutionInfo {
            execution_id: execution_id.to_string(),
            name: row.get(0),
            status: ExecutionStatus::parse(&status)
                .ok_or_else(|| Error::fatal(format!("unknown execution status {status:?}")))?,
            input: row.get(2),
            output: row.get(3),
            error: row.get(4),
            cause: row.get(5),
        })
    }
}

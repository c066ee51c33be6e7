//! The local orchestrator: the same `statemachines/*.asl.json` that Step Functions runs,
//! executed by the `muara-asl` interpreter with in-process task handlers.
//!
//! Executions are rows in `muara_local.executions` with a unique `(machine, name)`, so, as on
//! Step Functions, a name can start at most one execution: the second start is reported as
//! `AlreadyExists` and starts nothing.
//!
//! Executions are durable. The host running one heartbeats it every [`HEARTBEAT_EVERY`] and
//! records every task outcome in `muara_local.execution_journal`. When a host dies (a crash, an
//! abort, `kill -9`), its executions' heartbeats go stale; [`LocalOrchestrator::recover`] — run
//! by every living host — adopts each one (one host wins, by a conditional update) and runs it
//! again from its input, replaying the journal, so only the task that was interrupted runs
//! again (every stage is idempotent). An execution interrupted [`MAX_RUNS`] times (a file that
//! crashes the process each time) is failed instead, with a cause that says so.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use muara_asl::{RunOptions, StateMachine, TaskInvoker};
use muara_core::ports::{ExecutionInfo, ExecutionStatus, Orchestrator, Started};
use muara_core::{Error, ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

/// How often a host heartbeats the executions it runs.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// A running execution whose heartbeat is older than this has lost its host.
pub const STALE_AFTER: Duration = Duration::from_secs(10);
/// How long a host keeps trying to record an execution's end before leaving it to `recover`.
pub const FINISH_PATIENCE: Duration = Duration::from_secs(120);
/// How many times an execution is run (first start included) before an interruption fails it.
pub const MAX_RUNS: i32 = 4;

/// Machines and the task invoker can be set after construction: the pipelines' task handlers
/// themselves need the orchestrator (a batch's finalise starts the next batch).
pub struct LocalOrchestrator {
    pool: Pool,
    machines: muara_asl::Registry,
    invoker: RwLock<Arc<dyn TaskInvoker>>,
    live: Arc<Live>,
}

/// What this host runs: its id, and the tasks of its executions (to stop one another host has
/// adopted).
struct Live {
    pool: Pool,
    host: String,
    tasks: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    heartbeat: std::sync::Once,
}

/// The journal of one execution: what earlier runs recorded, and where new outcomes go.
struct PgJournal {
    pool: Pool,
    execution_id: String,
    recorded: HashMap<String, std::result::Result<Value, muara_asl::TaskFailure>>,
}

#[async_trait]
impl muara_asl::Journal for PgJournal {
    fn replay(&self, key: &str) -> Option<std::result::Result<Value, muara_asl::TaskFailure>> {
        self.recorded.get(key).cloned()
    }

    async fn record(
        &self,
        key: &str,
        outcome: &std::result::Result<Value, muara_asl::TaskFailure>,
    ) {
        let written = async {
            let client = self.pool.get().await.map_err(pool_error)?;
            client
                .execute(
                    "INSERT INTO muara_local.execution_journal (execution_id, key, outcome)
                     VALUES ($1, $2, $3) ON CONFLICT (execution_id, key) DO NOTHING",
                    &[
                        &self.execution_id,
                        &key,
                        &muara_asl::outcome_to_json(outcome),
                    ],
                )
                .await
                .map_err(|e| pg_error("recording a task outcome", e))
        }
        .await;
        if let Err(e) = written {
            // Not fatal: a replay runs this (idempotent) task again.
            tracing::warn!(execution = %self.execution_id, key, error = %e.chain(), "task outcome not journaled");
        }
    }
}

impl Live {
    /// The executions whose task still runs on this host.
    fn live_ids(&self) -> Vec<String> {
        self.tasks
            .lock()
            .map(|t| {
                t.iter()
                    .filter(|(_, task)| !task.is_finished())
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Heartbeats this host's executions; stops any another host has adopted meanwhile.
    async fn beat(&self) -> Result<()> {
        // Only executions whose task runs here: one whose task is gone must go stale, so
        // that `recover` runs it again.
        let live = self.live_ids();
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query(
                "UPDATE muara_local.executions SET heartbeat_at = now()
                 WHERE host = $1 AND status = 'RUNNING' AND execution_id = ANY($2)
                 RETURNING execution_id",
                &[&self.host, &live],
            )
            .await
            .map_err(|e| pg_error("heartbeating executions", e))?;
        let ours: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.retain(|id, task| {
                if task.is_finished() {
                    return false;
                }
                if ours.contains(id) {
                    return true;
                }
                tracing::warn!(execution = %id, "execution adopted by another host; stopping it here");
                task.abort();
                false
            });
        }
        Ok(())
    }
}

impl std::fmt::Debug for LocalOrchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalOrchestrator")
            .field("machines", &self.machines())
            .finish_non_exhaustive()
    }
}

fn registry_error(e: muara_asl::RegistryError) -> Error {
    Error::with_source(ErrorKind::Config, "registering a state machine", e)
}

impl LocalOrchestrator {
    pub fn new(pool: Pool, invoker: Arc<dyn TaskInvoker>) -> Self {
        Self {
            live: Arc::new(Live {
                pool: pool.clone(),
                host: uuid::Uuid::new_v4().to_string(),
                tasks: Mutex::new(HashMap::new()),
                heartbeat: std::sync::Once::new(),
            }),
            pool,
            machines: muara_asl::Registry::default(),
            invoker: RwLock::new(invoker),
        }
    }

    /// Starts heartbeating this host's executions (once; the task ends with the orchestrator).
    fn ensure_heartbeat(&self) {
        let weak: Weak<Live> = Arc::downgrade(&self.live);
        self.live.heartbeat.call_once(|| {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(HEARTBEAT_EVERY).await;
                    let Some(live) = weak.upgrade() else { break };
                    if let Err(e) = live.beat().await {
                        tracing::warn!(error = %e.chain(), "could not heartbeat executions");
                    }
                }
            });
        });
    }

    /// This host's id, as recorded in `muara_local.executions.host`.
    pub fn host(&self) -> &str {
        &self.live.host
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

    /// Adopts every execution whose host stopped heartbeating and runs it again from its
    /// journal; an execution already run [`MAX_RUNS`] times is failed instead. Returns how
    /// many were resumed and failed.
    pub async fn recover(&self) -> Result<(usize, usize)> {
        // Any stale execution whose task does not run here, this host's own included: after
        // the database was away longer than STALE_AFTER, an execution could not record its
        // end here either (its task then ended without it).
        let live = self.live.live_ids();
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query(
                "UPDATE muara_local.executions
                   SET host = $1, heartbeat_at = now(), runs = runs + 1
                 WHERE status = 'RUNNING' AND NOT (execution_id = ANY($3))
                   AND coalesce(heartbeat_at, started_at) < now() - ($2::float8 * interval '1 second')
                 RETURNING execution_id, machine, name, input, runs",
                &[&self.live.host, &STALE_AFTER.as_secs_f64(), &live],
            )
            .await
            .map_err(|e| pg_error("adopting interrupted executions", e))?;
        let (mut resumed, mut failed) = (0, 0);
        for row in rows {
            let (id, machine, name, input, runs): (String, String, String, Value, i32) =
                (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
            let definition = self.machines.get(&machine);
            let give_up = match (&definition, runs > MAX_RUNS) {
                (None, _) => Some(format!(
                    "interrupted: the host running it stopped, and no state machine {machine:?} is registered here to resume it"
                )),
                (Some(_), true) => Some(format!(
                    "interrupted {} times: the host running it stopped each time (a crash on this execution's input?); not resumed again",
                    runs - 1
                )),
                _ => None,
            };
            if let Some(cause) = give_up {
                tracing::error!(execution = %id, %cause, "interrupted execution failed");
                Self::finish(
                    &self.pool,
                    &id,
                    &Err(muara_asl::ExecutionFailure {
                        error: "States.Runtime".into(),
                        cause,
                    }),
                )
                .await?;
                failed += 1;
                continue;
            }
            let Some(definition) = definition else {
                continue;
            };
            let recorded = client
                .query(
                    "SELECT key, outcome FROM muara_local.execution_journal WHERE execution_id = $1",
                    &[&id],
                )
                .await
                .map_err(|e| pg_error("reading an execution's journal", e))?
                .into_iter()
                .filter_map(|r| {
                    // A record this version cannot read is not replayed: its task runs again.
                    muara_asl::outcome_from_json(r.get(1)).map(|o| (r.get::<_, String>(0), o))
                })
                .collect::<HashMap<_, _>>();
            tracing::warn!(execution = %id, run = runs, replayed = recorded.len(), "resuming an interrupted execution");
            self.launch(definition, id, machine, name, input, recorded)?;
            resumed += 1;
        }
        Ok((resumed, failed))
    }

    /// Runs an execution on this host: its task heartbeats it and records its end.
    fn launch(
        &self,
        definition: Arc<StateMachine>,
        id: String,
        machine: String,
        name: String,
        input: Value,
        recorded: HashMap<String, std::result::Result<Value, muara_asl::TaskFailure>>,
    ) -> Result<()> {
        self.ensure_heartbeat();
        let pool = self.pool.clone();
        let invoker = self
            .invoker
            .read()
            .map(|i| i.clone())
            .map_err(|_| Error::fatal("task invoker lock poisoned"))?;
        let journal = Arc::new(PgJournal {
            pool: pool.clone(),
            execution_id: id.clone(),
            recorded,
        });
        let exec_id = id.clone();
        let task = tokio::spawn(async move {
            let opts = RunOptions {
                execution_name: Some(name),
                state_machine_name: Some(machine.clone()),
                journal: Some(journal),
                ..RunOptions::default()
            };
            let outcome = muara_asl::run_with(&definition, input, invoker.as_ref(), &opts).await;
            match &outcome {
                Ok(_) => {
                    tracing::info!(machine = %machine, execution = %exec_id, "execution succeeded")
                }
                Err(f) => {
                    tracing::warn!(machine = %machine, execution = %exec_id, error = %f.error, cause = %f.cause, "execution failed")
                }
            }
            // The end is retried while the database is away (a stage may end during an
            // outage); given up after FINISH_PATIENCE, the execution goes stale and `recover`
            // replays it from its journal to the same end.
            let give_up = tokio::time::Instant::now() + FINISH_PATIENCE;
            while let Err(e) = Self::finish(&pool, &exec_id, &outcome).await {
                if tokio::time::Instant::now() > give_up {
                    tracing::error!(execution = %exec_id, error = %e.chain(), "could not record the execution's end; it will be recovered");
                    break;
                }
                tracing::warn!(execution = %exec_id, error = %e.chain(), "could not record the execution's end yet; retrying");
                tokio::time::sleep(HEARTBEAT_EVERY).await;
            }
        });
        if let Ok(mut tasks) = self.live.tasks.lock() {
            tasks.insert(id, task.abort_handle());
        }
        Ok(())
    }

    async fn finish(
        pool: &Pool,
        id: &str,
        outcome: &std::result::Result<Value, muara_asl::ExecutionFailure>,
    ) -> Result<()> {
        let client = pool.get().await.map_err(pool_error)?;
        let (status, output, error, cause) = match outcome {
            Ok(v) => (ExecutionStatus::Succeeded, Some(v), None, None),
            Err(f) => (
                ExecutionStatus::Failed,
                None,
                Some(&f.error),
                Some(&f.cause),
            ),
        };
        client
            .execute(
                "UPDATE muara_local.executions SET status = $2, output = $3, error = $4, cause = $5, stopped_at = now()
                 WHERE execution_id = $1 AND status = 'RUNNING'",
                &[&id, &status.as_str(), &output, &error, &cause],
            )
            .await
            .map_err(|e| pg_error("recording an execution's end", e))?;
        client
            .execute(
                "DELETE FROM muara_local.execution_journal WHERE execution_id = $1",
                &[&id],
            )
            .await
            .map_err(|e| pg_error("dropping a finished execution's journal", e))?;
        Ok(())
    }
}

#[async_trait]
impl Orchestrator for LocalOrchestrator {
    async fn start(&self, machine: &str, name: &str, input: &Value) -> Result<Started> {
        let definition = self
            .machines
            .get(machine)
            .ok_or_else(|| Error::not_found(format!("no state machine named {machine:?}")))?;
        if name.is_empty() || name.len() > 80 {
            return Err(Error::invalid(format!(
                "execution name {name:?} must be 1-80 characters"
            )));
        }
        let id = self.execution_id(machine, name)?;
        let client = self.pool.get().await.map_err(pool_error)?;
        let inserted = client
            .query_opt(
                "INSERT INTO muara_local.executions (execution_id, machine, name, input, status, host, heartbeat_at)
                 VALUES ($1, $2, $3, $4, 'RUNNING', $5, now())
                 ON CONFLICT (machine, name) DO NOTHING RETURNING 1",
                &[&id, &machine, &name, input, &self.live.host],
            )
            .await
            .map_err(|e| pg_error("recording an execution", e))?;
        if inserted.is_none() {
            return Ok(Started::AlreadyExists { execution_id: id });
        }
        self.launch(
            definition,
            id.clone(),
            machine.to_string(),
            name.to_string(),
            input.clone(),
            HashMap::new(),
        )?;
        Ok(Started::New { execution_id: id })
    }

    fn execution_id(&self, machine: &str, name: &str) -> Result<String> {
        Ok(format!("local:{machine}:{name}"))
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

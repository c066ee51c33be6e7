//! The configured SQL steps of a batch — transformations (bronze → silver), integrations
//! (silver → gold) and materialised view refreshes — with one calling contract for all:
//!
//! - a step is a **procedure** (`CALL name($batch_id)`), a **function**
//!   (`SELECT name($batch_id)`, whose integer result is the rows it wrote) or **SQL text** (a
//!   script that reads the batch id from `current_setting('muara.batch_id')`);
//! - each step runs in its own transaction with `statement_timeout` set from its
//!   configuration, and with `muara.batch_id` and `muara.client` set;
//! - a procedure reports rows with `set_config('muara.rows_affected', n::text, true)`;
//! - client SQL runs as the client's own role, through its runner ([`sandbox`]);
//! - each run is logged (start, end, duration, rows, error) with the execution's name, so a
//!   retried stage skips the steps this execution already finished (and marks the runs it
//!   supersedes `RETRIED` or `INTERRUPTED`);
//! - under a stage time budget (Lambda), no step starts without time to finish, statement
//!   timeouts are cut to the time left, and a stage out of time asks to be retried.
//!
//! Order: transformations and views run by their order number (equal numbers together);
//! integrations by the dependency graph, dimensions before facts. Independent steps run
//! concurrently up to a limit.

pub mod graph;
pub mod sandbox;

use crate::ident;
use crate::model::{BatchRef, Deps};
use deadpool_postgres::Pool;
use futures::stream::{FuturesUnordered, StreamExt};
use graph::{Graph, Schedule};
use muara_core::{Error, ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;

/// The three kinds of configured steps, each with its configuration and log table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Transform,
    Integrate,
    Refresh,
}

impl Family {
    pub fn label(self) -> &'static str {
        match self {
            Family::Transform => "transform",
            Family::Integrate => "integrate",
            Family::Refresh => "refresh",
        }
    }

    fn log_table(self) -> &'static str {
        match self {
            Family::Transform => "tools.transformation_log",
            Family::Integrate => "tools.integration_log",
            Family::Refresh => "tools.mv_refresh_log",
        }
    }

    fn name_column(self) -> &'static str {
        match self {
            Family::Refresh => "mv_name",
            _ => "procedure_name",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    Procedure,
    Function,
    Sql(String),
    View { concurrently: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// As configured (`schema.name`); quoted per part when called.
    pub name: String,
    pub kind: StepKind,
    pub timeout: Duration,
}

/// A family's active steps for one client, in a validated graph.
#[derive(Debug, Clone)]
pub struct Plan {
    pub family: Family,
    pub steps: Vec<Step>,
    pub graph: Graph,
}

/// `schema.name` or `name`, each part validated and quoted.
pub fn dotted(name: &str) -> Result<String> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 {
        return Err(Error::invalid(format!(
            "{name:?}: a step is named `schema.name` or `name`"
        )));
    }
    Ok(parts
        .iter()
        .map(|p| ident::quote(p))
        .collect::<Result<Vec<_>>>()?
        .join("."))
}

fn kind_of(kind: &str, sql: Option<String>) -> Result<StepKind> {
    match (kind, sql) {
        ("procedure", _) => Ok(StepKind::Procedure),
        ("function", _) => Ok(StepKind::Function),
        ("view", _) => Ok(StepKind::View {
            concurrently: false,
        }),
        ("view-concurrently", _) => Ok(StepKind::View { concurrently: true }),
        ("sql", Some(s)) => Ok(StepKind::Sql(s)),
        (k, _) => Err(Error::invalid(format!("unknown step kind {k:?}"))),
    }
}

fn timeout(secs: i32) -> Duration {
    Duration::from_secs(u64::try_from(secs).unwrap_or(900).max(1))
}

/// Steps run by an order number: rows of `(name, kind, sql, timeout, order)`.
async fn ordered(
    c: &deadpool_postgres::Object,
    sql: &str,
    client_id: i32,
) -> Result<(Vec<Step>, Graph)> {
    let rows = c
        .query(sql, &[&client_id])
        .await
        .map_err(|e| pg_error("reading the step configuration", e))?;
    let mut steps = Vec::new();
    let mut orders = Vec::new();
    for r in &rows {
        steps.push(Step {
            name: r.get(0),
            kind: kind_of(r.get(1), r.get(2))?,
            timeout: timeout(r.get(3)),
        });
        orders.push(r.get::<_, i32>(4));
    }
    let graph = Graph::by_order(steps.iter().map(|s| s.name.clone()).collect(), &orders);
    Ok((steps, graph))
}

/// Loads and validates a family's steps (a dependency cycle is an error naming the cycle).
pub async fn plan(pool: &Pool, client_id: i32, family: Family) -> Result<Plan> {
    let c = pool.get().await.map_err(pool_error)?;
    let context = "reading the step configuration";
    let (steps, graph) = match family {
        Family::Transform => {
            ordered(
                &c,
                "SELECT procedure_name, step_kind, sql_text, timeout_seconds, execution_order
                 FROM tools.transformation_config WHERE client_id = $1 AND is_active
                 ORDER BY execution_order, transformation_id",
                client_id,
            )
            .await?
        }
        Family::Refresh => {
            ordered(
                &c,
                "SELECT mv_name, CASE WHEN refresh_concurrently THEN 'view-concurrently' ELSE 'view' END,
                        NULL::text, timeout_seconds, refresh_order
                 FROM tools.mv_refresh_config WHERE client_id = $1 AND is_active
                 ORDER BY refresh_order, mv_id",
                client_id,
            )
            .await?
        }
        Family::Integrate => {
            let rows = c
                .query(
                    "SELECT integration_id, procedure_name, step_kind, sql_text, timeout_seconds, integration_type
                     FROM tools.integration_config WHERE client_id = $1 AND is_active
                     ORDER BY execution_order, integration_id",
                    &[&client_id],
                )
                .await
                .map_err(|e| pg_error(context, e))?;
            let edges = c
                .query(
                    "SELECT d.integration_id, d.depends_on_id, a.procedure_name, b.procedure_name, b.is_active
                     FROM tools.integration_dependencies d
                     JOIN tools.integration_config a ON a.integration_id = d.integration_id
                     JOIN tools.integration_config b ON b.integration_id = d.depends_on_id
                     WHERE a.client_id = $1 AND a.is_active",
                    &[&client_id],
                )
                .await
                .map_err(|e| pg_error(context, e))?;
            let ids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
            let mut steps = Vec::new();
            let mut types = Vec::new();
            for r in &rows {
                steps.push(Step {
                    name: r.get(1),
                    kind: kind_of(r.get(2), r.get(3))?,
                    timeout: timeout(r.get(4)),
                });
                types.push(r.get::<_, String>(5));
            }
            let mut g = Graph::new(steps.iter().map(|s| s.name.clone()).collect());
            // Dimensions before facts.
            for (i, t) in types.iter().enumerate() {
                if t == "fact" {
                    for (j, u) in types.iter().enumerate() {
                        if u == "dimension" {
                            g.edge(i, j);
                        }
                    }
                }
            }
            for e in &edges {
                let (step, dep): (i32, i32) = (e.get(0), e.get(1));
                let (Some(i), Some(j)) = (
                    ids.iter().position(|x| *x == step),
                    ids.iter().position(|x| *x == dep),
                ) else {
                    return Err(Error::invalid(
                        graph::GraphError::Unknown(e.get(2), e.get(3)).to_string(),
                    ));
                };
                g.edge(i, j);
            }
            (steps, g)
        }
    };
    for s in &steps {
        dotted(&s.name)?;
    }
    g_check(&graph, family)?;
    Ok(Plan {
        family,
        steps,
        graph,
    })
}

fn g_check(g: &Graph, family: Family) -> Result<()> {
    g.order()
        .map(|_| ())
        .map_err(|e| Error::invalid(format!("{} steps: {e}", family.label())))
}

/// What a stage reports (small: it travels through the state machine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    pub family: Family,
    /// True when the stage did not run (no file of the batch was loaded).
    #[serde(default)]
    pub skipped: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub steps: usize,
    /// Finished by an earlier attempt of this execution, not run again.
    #[serde(default)]
    pub already_done: usize,
    #[serde(default)]
    pub rows: i64,
    #[serde(default)]
    pub duration_ms: u64,
}

impl StageSummary {
    pub fn skipped(family: Family, reason: &str) -> Self {
        Self {
            family,
            skipped: true,
            reason: Some(reason.to_string()),
            steps: 0,
            already_done: 0,
            rows: 0,
            duration_ms: 0,
        }
    }
}

/// Runs a family's steps for the batch. A failed step stops new steps from starting (those
/// running finish); the error's class decides whether the state machine retries the stage.
pub async fn run(deps: &Deps, batch: &BatchRef, family: Family) -> Result<StageSummary> {
    let started = Instant::now();
    let plan = plan(&deps.pool, batch.client_id, family).await?;
    let done = prepare(&deps.pool, family, &batch.execution_name).await?;
    let done: Vec<usize> = (0..plan.steps.len())
        .filter(|i| done.contains(&plan.steps[*i].name))
        .collect();
    // Client SQL runs as the client's own role (materialised view refreshes run none).
    let client_sql = plan
        .steps
        .iter()
        .any(|s| !matches!(s.kind, StepKind::View { .. }));
    let runner = match client_sql {
        true => Some(sandbox::prepare(&deps.pool, batch.client_id, &batch.client).await?),
        false => None,
    };
    let runner = runner.as_deref();
    let mut schedule = Schedule::new(&plan.graph, &done);
    let limit = deps.step_concurrency.max(1);
    let mut running = FuturesUnordered::new();
    let mut rows = 0i64;
    let mut failures: Vec<(String, Error)> = Vec::new();
    // In Lambda the stage has a time budget (the function's timeout less a margin): no step
    // starts that could not finish within it, and statement timeouts are cut to fit.
    let deadline = deps.stage_budget.map(|b| started + b);
    let mut out_of_time = false;
    let mut succeeded = 0usize;
    loop {
        if failures.is_empty() && !out_of_time {
            let free = limit - running.len();
            let ready = if free > 0 {
                schedule.take(free)
            } else {
                vec![]
            };
            for i in ready {
                let mut step = plan.steps[i].clone();
                let mut cut = false;
                if let Some(d) = deadline {
                    let left = d.saturating_duration_since(Instant::now());
                    if left < MIN_STEP_TIME {
                        schedule.finish(i, false);
                        out_of_time = true;
                        continue;
                    }
                    if left < step.timeout {
                        step.timeout = left;
                        cut = true;
                    }
                }
                running.push(async move {
                    (i, run_logged(deps, batch, family, &step, cut, runner).await)
                });
            }
        }
        let Some((i, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(n) => {
                rows += n.unwrap_or(0);
                succeeded += 1;
                schedule.finish(i, true);
            }
            Err(e) => {
                schedule.finish(i, false);
                failures.push((plan.steps[i].name.clone(), e));
            }
        }
    }
    if failures.is_empty() && out_of_time {
        let left = plan.steps.len() - done.len() - succeeded;
        return Err(Error::retryable(format!(
            "{} steps: the stage's time budget is used up with {left} step(s) left; the retry runs them (finished steps are skipped)",
            family.label()
        )));
    }
    if failures.is_empty() {
        return Ok(StageSummary {
            family,
            skipped: false,
            reason: None,
            steps: plan.steps.len(),
            already_done: done.len(),
            rows,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    // Retry the stage only when every failure is transient; otherwise report the first
    // non-transient one (its class routes the execution to finalise-as-failed).
    let (step, e) = failures
        .iter()
        .find(|(_, e)| !e.is_retryable())
        .unwrap_or(&failures[0]);
    let reason = format!("not run: {} step {step} failed", family.label());
    for i in schedule.not_started() {
        if let Err(e) = log_skipped(&deps.pool, batch, family, &plan.steps[i].name, &reason).await {
            tracing::warn!(error = %e.chain(), "could not log a skipped step");
        }
    }
    Err(Error::new(
        e.kind(),
        format!("{} step {step} failed: {}", family.label(), e.chain()),
    ))
}

/// Marks this execution's interrupted runs and returns the steps it already finished.
async fn prepare(pool: &Pool, family: Family, execution: &str) -> Result<Vec<String>> {
    let c = pool.get().await.map_err(pool_error)?;
    let (table, col) = (family.log_table(), family.name_column());
    // This is a retry of the stage: earlier runs that did not succeed are superseded.
    c.execute(
        &format!(
            "UPDATE {table} SET status = CASE status WHEN 'RUNNING' THEN 'INTERRUPTED' ELSE 'RETRIED' END,
                    finished_at = COALESCE(finished_at, clock_timestamp()),
                    error_message = COALESCE(error_message, 'the stage was interrupted')
             WHERE execution_name = $1 AND status IN ('RUNNING', 'FAILED', 'SKIPPED')"
        ),
        &[&execution],
    )
    .await
    .map_err(|e| pg_error("updating a step log", e))?;
    let rows = c
        .query(
            &format!("SELECT DISTINCT {col} FROM {table} WHERE execution_name = $1 AND status = 'SUCCESS'"),
            &[&execution],
        )
        .await
        .map_err(|e| pg_error("reading a step log", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

async fn log_skipped(
    pool: &Pool,
    batch: &BatchRef,
    family: Family,
    name: &str,
    reason: &str,
) -> Result<()> {
    let c = pool.get().await.map_err(pool_error)?;
    c.execute(
        &format!(
            "INSERT INTO {} (client_id, batch_id, {}, status, error_message, execution_name, finished_at, duration_ms)
             VALUES ($1, $2, $3, 'SKIPPED', $4, $5, clock_timestamp(), 0)",
            family.log_table(),
            family.name_column()
        ),
        &[&batch.client_id, &batch.batch_id.to_string(), &name, &reason, &batch.execution_name],
    )
    .await
    .map_err(|e| pg_error("writing a step log", e))?;
    Ok(())
}

/// The least time worth starting a step with, under a stage budget.
const MIN_STEP_TIME: Duration = Duration::from_secs(10);

/// One step with its log row: RUNNING before, SUCCESS or FAILED after. `cut`: its timeout was
/// shortened to the stage's remaining budget.
async fn run_logged(
    deps: &Deps,
    batch: &BatchRef,
    family: Family,
    step: &Step,
    cut: bool,
    runner: Option<&str>,
) -> Result<Option<i64>> {
    let log_id: i64 = {
        let c = deps.pool.get().await.map_err(pool_error)?;
        c.query_one(
            &format!(
                "INSERT INTO {} (client_id, batch_id, {}, status, execution_name, started_at)
                 VALUES ($1, $2, $3, 'RUNNING', $4, clock_timestamp()) RETURNING log_id",
                family.log_table(),
                family.name_column()
            ),
            &[
                &batch.client_id,
                &batch.batch_id.to_string(),
                &step.name,
                &batch.execution_name,
            ],
        )
        .await
        .map_err(|e| pg_error("writing a step log", e))?
        .get(0)
    };
    let t = Instant::now();
    let result = execute(&deps.pool, batch, step, cut, runner).await;
    let ms = i64::try_from(t.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (status, rows, error) = match &result {
        Ok(rows) => ("SUCCESS", *rows, None),
        Err(e) => ("FAILED", None, Some(e.chain())),
    };
    match &result {
        Ok(_) => {
            tracing::info!(client = %batch.client, batch = %batch.batch_id, family = family.label(), step = %step.name, rows, duration_ms = ms, "step finished")
        }
        Err(e) => {
            tracing::error!(client = %batch.client, batch = %batch.batch_id, family = family.label(), step = %step.name, error = %e.chain(), error_type = e.kind().error_type(), duration_ms = ms, "step failed")
        }
    }
    let rows_sql = if family == Family::Refresh {
        ""
    } else {
        ", rows_affected = $5"
    };
    let sql = format!(
        "UPDATE {} SET status = $2, error_message = $3, duration_ms = $4, finished_at = clock_timestamp(){rows_sql}
         WHERE log_id = $1",
        family.log_table()
    );
    let logged = async {
        let c = deps.pool.get().await.map_err(pool_error)?;
        let r = if family == Family::Refresh {
            c.execute(&sql, &[&log_id, &status, &error, &ms]).await
        } else {
            c.execute(&sql, &[&log_id, &status, &error, &ms, &rows])
                .await
        };
        r.map_err(|e| pg_error("writing a step log", e))
    }
    .await;
    if let Err(e) = logged {
        // The step's own outcome decides; its log row stays RUNNING and the retry marks it
        // INTERRUPTED.
        tracing::warn!(step = %step.name, error = %e.chain(), "could not log the step's end");
        if result.is_ok() {
            return Err(e);
        }
    }
    result
}

/// A step's failure, classified for the state machine: connection loss, serialization
/// failures, deadlocks and lock timeouts are retried; a statement timeout, an error the
/// step raised, or a missing procedure are not.
fn step_error(step: &Step, cut: bool, e: tokio_postgres::Error) -> Error {
    if e.code() == Some(&SqlState::QUERY_CANCELED) && cut {
        return Error::with_source(
            ErrorKind::Retryable,
            format!(
                "{} did not finish in the stage's remaining time budget ({} s); retried with a fresh budget",
                step.name,
                step.timeout.as_secs()
            ),
            e,
        );
    }
    if e.code() == Some(&SqlState::QUERY_CANCELED) {
        return Error::with_source(
            ErrorKind::Fatal,
            format!(
                "{} timed out after {} s (its timeout_seconds); raise it or make the step faster",
                step.name,
                step.timeout.as_secs()
            ),
            e,
        );
    }
    if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        return Error::with_source(
            ErrorKind::Fatal,
            format!(
                "{} was refused: {} (SQL steps run as the client's own role, which reaches only the tables of bronze_<client>, silver_<client> and gold_<client>; see \"Least privilege\" in docs/pipeline-b.md)",
                step.name,
                e.as_db_error()
                    .map(|d| d.message())
                    .unwrap_or("permission denied")
            ),
            e,
        );
    }
    pg_error(&step.name, e)
}

/// `muara.rows_affected`, when the step set it.
async fn reported_rows(
    tx: &tokio_postgres::Transaction<'_>,
    step: &Step,
    cut: bool,
) -> Result<Option<i64>> {
    let r = tx
        .query_one("SELECT current_setting('muara.rows_affected', true)", &[])
        .await
        .map_err(|e| step_error(step, cut, e))?;
    Ok(r.get::<_, Option<String>>(0)
        .and_then(|s| s.trim().parse().ok()))
}

/// Runs one step in its own transaction. With a `runner` (see [`sandbox`]), the step's SQL
/// runs through it, as the client's role.
async fn execute(
    pool: &Pool,
    batch: &BatchRef,
    step: &Step,
    cut: bool,
    runner: Option<&str>,
) -> Result<Option<i64>> {
    let name = dotted(&step.name)?;
    let mut c = pool.get().await.map_err(pool_error)?;
    let tx = c
        .transaction()
        .await
        .map_err(|e| step_error(step, cut, e))?;
    let timeout = format!("{}ms", step.timeout.as_millis().max(1));
    tx.execute(
        "SELECT set_config('statement_timeout', $1, true), set_config('muara.batch_id', $2, true),
                set_config('muara.client', $3, true), set_config('muara.rows_affected', '', true)",
        &[
            &timeout,
            &batch.batch_id.to_string(),
            &batch.client.as_str(),
        ],
    )
    .await
    .map_err(|e| step_error(step, cut, e))?;
    crate::lease::check(&tx, &batch.client, batch.lock.as_ref()).await?;
    let error = |e| step_error(step, cut, e);
    let rows = match (&step.kind, runner) {
        (StepKind::Procedure, Some(runner)) => {
            tx.execute(
                &format!("SELECT {runner}(format('CALL %s(%L)', $1::text, $2::text))"),
                &[&name, &batch.batch_id.to_string()],
            )
            .await
            .map_err(error)?;
            reported_rows(&tx, step, cut).await?
        }
        (StepKind::Function, Some(runner)) => {
            // The function's result comes back through the setting a procedure reports in.
            tx.execute(
                &format!(
                    "SELECT {runner}(format('SELECT set_config(''muara.rows_affected'', coalesce((%s(%L))::text, ''''), true)', $1::text, $2::text))"
                ),
                &[&name, &batch.batch_id.to_string()],
            )
            .await
            .map_err(error)?;
            reported_rows(&tx, step, cut).await?
        }
        (StepKind::Sql(sql), Some(runner)) => {
            let last: Option<i64> = tx
                .query_one(&format!("SELECT {runner}($1::text)"), &[sql])
                .await
                .map_err(error)?
                .get(0);
            // What the script reports, else the rows its last statement touched.
            match reported_rows(&tx, step, cut).await? {
                Some(n) => Some(n),
                None => last,
            }
        }
        (StepKind::Procedure | StepKind::Function | StepKind::Sql(_), None) => {
            return Err(Error::fatal(format!(
                "{}: client SQL runs only through the client's step runner",
                step.name
            )));
        }
        (StepKind::View { concurrently }, _) => {
            // CONCURRENTLY needs a populated view (and a unique index); the first refresh of a
            // view created WITH NO DATA is a plain one.
            let populated: Option<bool> = tx
                .query_opt(
                    "SELECT relispopulated FROM pg_class WHERE oid = to_regclass($1)",
                    &[&name],
                )
                .await
                .map_err(|e| step_error(step, cut, e))?
                .map(|r| r.get(0));
            let how = if *concurrently && populated == Some(true) {
                "CONCURRENTLY "
            } else {
                ""
            };
            tx.batch_execute(&format!("REFRESH MATERIALIZED VIEW {how}{name}"))
                .await
                .map_err(|e| step_error(step, cut, e))?;
            None
        }
    };
    tx.commit().await.map_err(|e| step_error(step, cut, e))?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_are_quoted_per_part() {
        assert_eq!(
            dotted("silver_demo.load_crm").unwrap(),
            "\"silver_demo\".\"load_crm\""
        );
        assert_eq!(dotted("refresh_all").unwrap(), "\"refresh_all\"");
        for bad in ["a.b.c", "x; drop table t", "a.", ""] {
            assert!(dotted(bad).is_err(), "{bad:?}");
        }
    }
}

//! The interpreter: walks a [`StateMachine`] from `StartAt`, applying each state's
//! input/output processing, invoking tasks, and handling Retry/Catch.
//!
//! Parallel branches and Map iterations run concurrently on the calling task (not spawned):
//! their futures are polled together, so async task handlers overlap while the engine
//! needs no `'static` bounds on the machine or the invoker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::{BoxFuture, try_join_all};
use futures::stream::{self, StreamExt};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tracing::{Instrument, debug};

use crate::context::{ExecutionInfo, StateContext};
use crate::error::Fault;
use crate::model::{
    Concurrency, DataPath, FailText, MapState, Parallel, Recovery, ResultPath, Scope, Seconds,
    State, StateMachine, Task, Transition, WaitFor, as_uint,
};
use crate::path::{Path, type_name};
use crate::template::Template;
use crate::{RunOptions, TaskFailure, TaskInvoker, names, rand, timestamp};

/// Upper bound on state entries (retries included) per execution, mirroring AWS's
/// 25,000-event history limit; it turns an accidental infinite loop into an error.
pub const MAX_TRANSITIONS: usize = 25_000;

pub(crate) async fn execute(
    machine: &StateMachine,
    input: Value,
    invoker: &dyn TaskInvoker,
    opts: &RunOptions,
) -> Result<Value, Fault> {
    let name = opts.execution_name.clone().unwrap_or_else(rand::uuid_v4);
    let machine_name = opts
        .state_machine_name
        .clone()
        .unwrap_or_else(|| "local".to_owned());
    let engine = Engine {
        invoker,
        opts,
        execution: ExecutionInfo {
            id: format!("arn:aws:states:local:000000000000:execution:{machine_name}:{name}"),
            name,
            input: input.clone(),
            start_time: timestamp::now(),
            state_machine_id: format!(
                "arn:aws:states:local:000000000000:stateMachine:{machine_name}"
            ),
            state_machine_name: machine_name,
        },
    };
    let span = tracing::debug_span!("asl_execution", execution = %engine.execution.name);
    async {
        debug!("execution started");
        let budget = Budget::default();
        let run = engine.run_scope(&machine.root, input, &budget, String::new());
        let result = match machine.timeout {
            Some(limit) => tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
                Err(Fault::new(
                    names::TIMEOUT,
                    format!(
                        "the execution did not finish within its TimeoutSeconds ({} s)",
                        limit.as_secs()
                    ),
                ))
            }),
            None => run.await,
        };
        match &result {
            Ok(_) => debug!("execution succeeded"),
            Err(fault) => debug!(error = %fault.error, cause = %fault.cause, "execution failed"),
        }
        result
    }
    .instrument(span)
    .await
}

struct Engine<'r> {
    invoker: &'r dyn TaskInvoker,
    opts: &'r RunOptions,
    execution: ExecutionInfo,
}

/// Counts state entries (retries included) of one execution history against
/// [`MAX_TRANSITIONS`]. Parallel branches and inline Map iterations share their parent's
/// history; each Distributed Map iteration is a child execution on AWS and gets its own.
#[derive(Default)]
struct Budget(AtomicUsize);

impl Budget {
    fn spend(&self) -> Result<(), Fault> {
        let count = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        if count > MAX_TRANSITIONS {
            Err(Fault::runtime(format!(
                "the execution exceeded {MAX_TRANSITIONS} state transitions (is there an endless loop?)"
            )))
        } else {
            Ok(())
        }
    }
}

/// Where a state sends the execution next.
enum Step<'s> {
    Next(&'s str, Value),
    End(Value),
}

/// The state types that can be retried and caught.
#[derive(Clone, Copy)]
enum Attempt<'s> {
    Task(&'s Task),
    Parallel(&'s Parallel),
    Map(&'s MapState),
}

impl<'s> Attempt<'s> {
    fn recovery(self) -> &'s Recovery {
        match self {
            Attempt::Task(task) => &task.recovery,
            Attempt::Parallel(parallel) => &parallel.recovery,
            Attempt::Map(map) => &map.recovery,
        }
    }

    fn transition(self) -> &'s Transition {
        match self {
            Attempt::Task(task) => &task.transition,
            Attempt::Parallel(parallel) => &parallel.transition,
            Attempt::Map(map) => &map.transition,
        }
    }
}

fn step(transition: &Transition, output: Value) -> Step<'_> {
    match transition {
        Transition::Next(next) => Step::Next(next, output),
        Transition::End => Step::End(output),
    }
}

impl<'r> Engine<'r> {
    fn context<'a>(
        &'a self,
        state_name: &'a str,
        entered_time: &'a str,
        retry_count: u64,
    ) -> StateContext<'a> {
        StateContext {
            execution: &self.execution,
            state_name,
            entered_time,
            retry_count,
            map_item: None,
        }
    }

    /// Runs one scope (the top level, a branch or an iteration) to its end. Boxed because
    /// Parallel and Map recurse into it.
    ///
    /// `path` names the scope within the execution (`""` at the top, `Map#1.0[3]` for the
    /// fourth iteration of the first visit of `Map`), so every task invocation has a key that
    /// is the same when the execution is replayed from a [`Journal`](crate::Journal).
    fn run_scope<'s>(
        &'s self,
        scope: &'s Scope,
        input: Value,
        budget: &'s Budget,
        path: String,
    ) -> BoxFuture<'s, Result<Value, Fault>> {
        Box::pin(async move {
            let mut name = scope.start_at.as_str();
            let mut input = input;
            let mut visits: std::collections::HashMap<&str, u64> = Default::default();
            loop {
                let state = scope
                    .states
                    .get(name)
                    .ok_or_else(|| Fault::runtime(format!("state `{name}` does not exist")))?;
                budget.spend()?;
                check_size(name, "input", &input)?;
                debug!(state = name, r#type = state.type_name(), "entering state");
                if let Some(hook) = &self.opts.on_transition {
                    hook(name, &input);
                }
                let visit = visits.entry(name).or_insert(0);
                *visit += 1;
                let key = format!("{path}/{name}#{visit}");
                match self.run_state(name, state, input, budget, &key).await? {
                    Step::Next(next, output) => {
                        name = next;
                        input = output;
                    }
                    Step::End(output) => {
                        check_size(name, "output", &output)?;
                        return Ok(output);
                    }
                }
            }
        })
    }

    async fn sleep(&self, requested: Duration) {
        let capped = match self.opts.max_wait {
            Some(cap) => requested.min(cap),
            None => requested,
        };
        if !capped.is_zero() {
            tokio::time::sleep(capped).await;
        }
    }

    async fn run_state<'s>(
        &'s self,
        name: &'s str,
        state: &'s State,
        raw: Value,
        budget: &'s Budget,
        key: &str,
    ) -> Result<Step<'s>, Fault> {
        let entered = timestamp::now();
        let ctx = self.context(name, &entered, 0);
        match state {
            State::Pass(pass) => {
                let effective = select_input(&pass.input_path, &raw, &ctx)?;
                let result = match (&pass.result, &pass.parameters) {
                    (Some(result), _) => result.clone(),
                    (None, Some(parameters)) => parameters.eval(&effective, &ctx)?,
                    (None, None) => effective,
                };
                let combined = apply_result_path(&pass.result_path, &raw, result)?;
                Ok(step(
                    &pass.transition,
                    select_output(&pass.output_path, combined, &ctx)?,
                ))
            }
            State::Task(task) => {
                self.recover(name, Attempt::Task(task), raw, &entered, budget, key)
                    .await
            }
            State::Parallel(parallel) => {
                self.recover(
                    name,
                    Attempt::Parallel(parallel),
                    raw,
                    &entered,
                    budget,
                    key,
                )
                .await
            }
            State::Map(map) => {
                self.recover(name, Attempt::Map(map), raw, &entered, budget, key)
                    .await
            }
            State::Choice(choice) => {
                let effective = select_input(&choice.input_path, &raw, &ctx)?;
                let mut chosen = None;
                for rule in &choice.choices {
                    if rule.matches(&effective, &ctx)? {
                        chosen = Some(rule.next.as_str());
                        break;
                    }
                }
                let next = chosen.or(choice.default.as_deref()).ok_or_else(|| {
                    Fault::new(
                        names::NO_CHOICE_MATCHED,
                        format!("no choice rule of state `{name}` matched its input and it has no Default"),
                    )
                })?;
                Ok(Step::Next(
                    next,
                    select_output(&choice.output_path, effective, &ctx)?,
                ))
            }
            State::Wait(wait) => {
                let effective = select_input(&wait.input_path, &raw, &ctx)?;
                let delay = wait_duration(&wait.wait_for, &effective, &ctx)?;
                debug!(state = name, ?delay, "waiting");
                self.sleep(delay).await;
                Ok(step(
                    &wait.transition,
                    select_output(&wait.output_path, effective, &ctx)?,
                ))
            }
            State::Succeed(succeed) => {
                let effective = select_input(&succeed.input_path, &raw, &ctx)?;
                Ok(Step::End(select_output(
                    &succeed.output_path,
                    effective,
                    &ctx,
                )?))
            }
            State::Fail(fail) => {
                let error = fail_text(fail.error.as_ref(), &raw, &ctx, "ErrorPath")?;
                let cause = fail_text(fail.cause.as_ref(), &raw, &ctx, "CausePath")?;
                debug!(state = name, error = %error, "fail state reached");
                Err(Fault::new(error, cause))
            }
        }
    }

    /// Runs a retriable state: attempt, then on error consult the retriers (first match
    /// wins, each with its own attempt budget), then the catchers.
    async fn recover<'s>(
        &'s self,
        name: &'s str,
        attempt: Attempt<'s>,
        raw: Value,
        entered: &str,
        budget: &'s Budget,
        key: &str,
    ) -> Result<Step<'s>, Fault> {
        let recovery = attempt.recovery();
        let mut used = vec![0u64; recovery.retry.len()];
        let mut retry_count = 0u64;
        loop {
            let ctx = self.context(name, entered, retry_count);
            let outcome = match attempt {
                Attempt::Task(task) => {
                    self.task(task, &raw, &ctx, &format!("{key}.{retry_count}"))
                        .await
                }
                Attempt::Parallel(parallel) => {
                    self.parallel(
                        parallel,
                        &raw,
                        &ctx,
                        budget,
                        &format!("{key}.{retry_count}"),
                    )
                    .await
                }
                Attempt::Map(map) => {
                    self.map(map, &raw, &ctx, budget, &format!("{key}.{retry_count}"))
                        .await
                }
            };
            let fault = match outcome {
                Ok(output) => return Ok(step(attempt.transition(), output)),
                Err(fault) => fault,
            };

            // Only the first retrier naming the error applies; once its budget is spent
            // the error goes to the catchers even if a later retrier would match too.
            let retrier = recovery
                .retry
                .iter()
                .zip(used.iter_mut())
                .find(|(retrier, _)| retrier.matches(&fault.error))
                .filter(|(retrier, count)| **count < retrier.max_attempts);
            if let Some((retrier, count)) = retrier {
                let mut delay = retrier.base_delay(*count);
                if retrier.full_jitter {
                    delay =
                        Duration::try_from_secs_f64(delay.as_secs_f64() * rand::unit_fraction())
                            .unwrap_or(delay);
                }
                *count += 1;
                retry_count += 1;
                debug!(
                    state = name,
                    error = %fault.error,
                    retry = retry_count,
                    ?delay,
                    "retrying state"
                );
                budget.spend()?;
                self.sleep(delay).await;
                continue;
            }

            if let Some(catcher) = recovery.catch.iter().find(|c| c.matches(&fault.error)) {
                debug!(state = name, error = %fault.error, next = %catcher.next, "error caught");
                let error_output = json!({"Error": fault.error, "Cause": fault.cause});
                let output = apply_result_path(&catcher.result_path, &raw, error_output)?;
                return Ok(Step::Next(&catcher.next, output));
            }
            debug!(state = name, error = %fault.error, "state failed");
            return Err(fault);
        }
    }

    async fn task(
        &self,
        task: &Task,
        raw: &Value,
        ctx: &StateContext<'_>,
        key: &str,
    ) -> Result<Value, Fault> {
        let effective = select_input(&task.input_path, raw, ctx)?;
        let timeout = match &task.timeout {
            None => None,
            Some(Seconds::Fixed(seconds)) => Some(*seconds),
            Some(Seconds::Path(path)) => {
                let seconds = resolve_uint(path, &effective, ctx, "TimeoutSecondsPath")?;
                if seconds == 0 {
                    return Err(Fault::runtime(format!(
                        "TimeoutSecondsPath `{}` must select a positive integer",
                        path.text()
                    )));
                }
                Some(seconds)
            }
        };
        let payload = evaluate(task.parameters.as_ref(), effective, ctx)?;
        check_size(ctx.state_name, "task input", &payload)?;
        let recorded = self.opts.journal.as_ref().and_then(|j| j.replay(key));
        let result = match recorded {
            Some(outcome) => {
                debug!(resource = %task.resource, key, "task outcome replayed from the journal");
                outcome
            }
            None => {
                debug!(resource = %task.resource, "invoking task");
                let call = self.invoker.invoke(&task.resource, payload);
                let outcome = match timeout {
                    Some(seconds) => tokio::time::timeout(Duration::from_secs(seconds), call)
                        .await
                        .unwrap_or_else(|_| {
                            Err(TaskFailure::new(
                                names::TIMEOUT,
                                format!(
                                    "task `{}` did not finish within {seconds} s",
                                    task.resource
                                ),
                            ))
                        }),
                    None => call.await,
                };
                if let Some(journal) = &self.opts.journal {
                    journal.record(key, &outcome).await;
                }
                outcome
            }
        };
        let result = result.map_err(|failure| Fault::new(failure.error, failure.cause))?;
        check_size(ctx.state_name, "task result", &result)?;
        finish(
            task.result_selector.as_ref(),
            &task.result_path,
            &task.output_path,
            raw,
            result,
            ctx,
        )
    }

    async fn parallel(
        &self,
        parallel: &Parallel,
        raw: &Value,
        ctx: &StateContext<'_>,
        budget: &Budget,
        key: &str,
    ) -> Result<Value, Fault> {
        let effective = select_input(&parallel.input_path, raw, ctx)?;
        let branch_input = evaluate(parallel.parameters.as_ref(), effective, ctx)?;
        // try_join_all drops (cancels) the other branches as soon as one fails, as AWS
        // stops the remaining branches.
        let results = try_join_all(parallel.branches.iter().enumerate().map(|(i, branch)| {
            self.run_scope(branch, branch_input.clone(), budget, format!("{key}[{i}]"))
        }))
        .await?;
        finish(
            parallel.result_selector.as_ref(),
            &parallel.result_path,
            &parallel.output_path,
            raw,
            Value::Array(results),
            ctx,
        )
    }

    async fn map(
        &self,
        map: &MapState,
        raw: &Value,
        ctx: &StateContext<'_>,
        budget: &Budget,
        key: &str,
    ) -> Result<Value, Fault> {
        let effective = select_input(&map.input_path, raw, ctx)?;
        let items = match map.items_path.select(&effective, ctx) {
            Ok(Value::Array(items)) => items,
            Ok(other) => {
                return Err(Fault::runtime(format!(
                    "ItemsPath `{}` must select an array, found {}",
                    map.items_path.text(),
                    type_name(&other)
                )));
            }
            Err(e) => return Err(Fault::from(e).context("ItemsPath")),
        };
        let max_concurrency = match &map.max_concurrency {
            Concurrency::Fixed(n) => *n,
            Concurrency::Path(path) => resolve_uint(path, &effective, ctx, "MaxConcurrencyPath")?,
        };
        let inputs = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| match &map.item_selector {
                Some(selector) => {
                    let item_ctx = StateContext {
                        map_item: Some((index, &item)),
                        ..*ctx
                    };
                    selector.eval(&effective, &item_ctx)
                }
                None => Ok(item),
            })
            .collect::<Result<Vec<_>, _>>()?;

        let count = inputs.len();
        // MaxConcurrency 0 means "no limit".
        let limit = usize::try_from(max_concurrency)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(count)
            .max(1);
        debug!(items = count, limit, "running map iterations");
        let mut results = vec![Value::Null; count];
        // buffer_unordered only creates an iteration's future when a slot is free, so at
        // most `limit` iterations are in flight; results are put back in item order.
        let mut iterations = stream::iter(inputs.into_iter().enumerate().map(
            |(index, input)| async move {
                let path = format!("{key}[{index}]");
                let outcome = if map.distributed {
                    let own = Budget::default();
                    self.run_scope(&map.processor, input, &own, path).await
                } else {
                    self.run_scope(&map.processor, input, budget, path).await
                };
                (index, outcome)
            },
        ))
        .buffer_unordered(limit);
        while let Some((index, outcome)) = iterations.next().await {
            let output = outcome?;
            if let Some(slot) = results.get_mut(index) {
                *slot = output;
            }
        }
        finish(
            map.result_selector.as_ref(),
            &map.result_path,
            &map.output_path,
            raw,
            Value::Array(results),
            ctx,
        )
    }
}

/// Step Functions' limit on a state's input, output and a task's payload and result.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Fails with `States.DataLimitExceeded`, as AWS does, when `value` is larger than
/// [`MAX_PAYLOAD_BYTES`] as JSON text.
fn check_size(state: &str, what: &str, value: &Value) -> Result<(), Fault> {
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0);
    if size > MAX_PAYLOAD_BYTES {
        return Err(Fault::new(
            names::DATA_LIMIT_EXCEEDED,
            format!(
                "the {what} of state `{state}` is {size} bytes, over Step Functions' limit of {MAX_PAYLOAD_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}

fn select_input(path: &DataPath, raw: &Value, ctx: &StateContext<'_>) -> Result<Value, Fault> {
    match path {
        DataPath::Whole => Ok(raw.clone()),
        DataPath::Empty => Ok(Value::Object(Map::new())),
        DataPath::Select(path) => path
            .select(raw, ctx)
            .map_err(|e| Fault::from(e).context("InputPath")),
    }
}

fn select_output(path: &DataPath, combined: Value, ctx: &StateContext<'_>) -> Result<Value, Fault> {
    match path {
        DataPath::Whole => Ok(combined),
        DataPath::Empty => Ok(Value::Object(Map::new())),
        DataPath::Select(path) => path
            .select(&combined, ctx)
            .map_err(|e| Fault::from(e).context("OutputPath")),
    }
}

fn apply_result_path(path: &ResultPath, raw: &Value, result: Value) -> Result<Value, Fault> {
    match path {
        ResultPath::Replace => Ok(result),
        ResultPath::Discard => Ok(raw.clone()),
        ResultPath::Set(path) => {
            let mut combined = raw.clone();
            path.set(&mut combined, result).map_err(Fault::from)?;
            Ok(combined)
        }
    }
}

fn evaluate(
    template: Option<&Template>,
    input: Value,
    ctx: &StateContext<'_>,
) -> Result<Value, Fault> {
    match template {
        Some(template) => template.eval(&input, ctx),
        None => Ok(input),
    }
}

/// ResultSelector → ResultPath → OutputPath, shared by Task, Parallel and Map.
fn finish(
    selector: Option<&Template>,
    result_path: &ResultPath,
    output_path: &DataPath,
    raw: &Value,
    result: Value,
    ctx: &StateContext<'_>,
) -> Result<Value, Fault> {
    let selected = evaluate(selector, result, ctx)?;
    let combined = apply_result_path(result_path, raw, selected)?;
    select_output(output_path, combined, ctx)
}

fn resolve_uint(
    path: &Path,
    input: &Value,
    ctx: &StateContext<'_>,
    field: &str,
) -> Result<u64, Fault> {
    let value = path
        .select(input, ctx)
        .map_err(|e| Fault::from(e).context(field))?;
    as_uint(&value).ok_or_else(|| {
        Fault::runtime(format!(
            "{field} `{}` must select a non-negative integer, found {value}",
            path.text()
        ))
    })
}

fn wait_duration(
    wait_for: &WaitFor,
    input: &Value,
    ctx: &StateContext<'_>,
) -> Result<Duration, Fault> {
    let until = |at: OffsetDateTime| {
        Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO)
    };
    match wait_for {
        WaitFor::Seconds(Seconds::Fixed(seconds)) => Ok(Duration::from_secs(*seconds)),
        WaitFor::Seconds(Seconds::Path(path)) => {
            resolve_uint(path, input, ctx, "SecondsPath").map(Duration::from_secs)
        }
        WaitFor::Timestamp(text) => Ok(timestamp::parse(text).map_or(Duration::ZERO, until)),
        WaitFor::TimestampPath(path) => {
            let value = path
                .select(input, ctx)
                .map_err(|e| Fault::from(e).context("TimestampPath"))?;
            value
                .as_str()
                .and_then(timestamp::parse)
                .map(until)
                .ok_or_else(|| {
                    Fault::runtime(format!(
                        "TimestampPath `{}` must select an RFC 3339 timestamp, found {value}",
                        path.text()
                    ))
                })
        }
    }
}

fn fail_text(
    text: Option<&FailText>,
    raw: &Value,
    ctx: &StateContext<'_>,
    field: &str,
) -> Result<String, Fault> {
    let value = match text {
        None => return Ok(String::new()),
        Some(FailText::Literal(text)) => return Ok(text.clone()),
        Some(FailText::Path(path)) => path
            .select(raw, ctx)
            .map_err(|e| Fault::from(e).context(field))?,
        Some(FailText::Call(call)) => call
            .eval(raw, ctx)
            .map_err(|e| Fault::from(e).context(field))?,
    };
    match value {
        Value::String(text) => Ok(text),
        other => Err(Fault::runtime(format!(
            "{field} must produce a string, found {}",
            type_name(&other)
        ))),
    }
}

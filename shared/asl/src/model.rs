//! Parsing and validation: turns definition JSON into the typed model the interpreter
//! walks. Everything that AWS rejects when a state machine is created is rejected here
//! too (unknown fields, dangling transitions, unreachable states, malformed paths, …), so
//! a definition that parses locally should also deploy.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::choice::ChoiceRule;
use crate::error::AslError;
use crate::intrinsic::{self, Call};
use crate::names;
use crate::path::{Path, Root};
use crate::template::Template;
use crate::timestamp;

/// AWS limits state names to 80 characters.
const MAX_STATE_NAME_CHARS: usize = 80;

/// Fields AWS accepts but this interpreter cannot honour; rejecting them loudly beats
/// silently running something different from what AWS would run.
const UNSUPPORTED_FIELDS: [&str; 13] = [
    "Assign",
    "Arguments",
    "Output",
    "Items",
    "Credentials",
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "Condition",
];

/// A parsed and validated state machine definition.
///
/// Cheap to share: parse once, then [`run`](crate::run) it any number of times,
/// concurrently if you like.
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub(crate) root: Scope,
    pub(crate) timeout: Option<Duration>,
}

/// A `StartAt` + `States` pair: the top level, a Parallel branch or a Map processor.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) start_at: String,
    pub(crate) states: BTreeMap<String, State>,
}

#[derive(Debug, Clone)]
pub(crate) enum State {
    Pass(Pass),
    Task(Task),
    Choice(Choice),
    Wait(Wait),
    Succeed(Succeed),
    Fail(Fail),
    Parallel(Parallel),
    Map(MapState),
}

impl State {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            State::Pass(_) => "Pass",
            State::Task(_) => "Task",
            State::Choice(_) => "Choice",
            State::Wait(_) => "Wait",
            State::Succeed(_) => "Succeed",
            State::Fail(_) => "Fail",
            State::Parallel(_) => "Parallel",
            State::Map(_) => "Map",
        }
    }

    /// Every state this one can move to, with the field that names it.
    fn targets(&self) -> Vec<(&'static str, &str)> {
        let mut targets = Vec::new();
        let transition = match self {
            State::Pass(s) => Some(&s.transition),
            State::Task(s) => Some(&s.transition),
            State::Wait(s) => Some(&s.transition),
            State::Parallel(s) => Some(&s.transition),
            State::Map(s) => Some(&s.transition),
            State::Choice(_) | State::Succeed(_) | State::Fail(_) => None,
        };
        if let Some(Transition::Next(next)) = transition {
            targets.push(("Next", next.as_str()));
        }
        let recovery = match self {
            State::Task(s) => Some(&s.recovery),
            State::Parallel(s) => Some(&s.recovery),
            State::Map(s) => Some(&s.recovery),
            _ => None,
        };
        if let Some(recovery) = recovery {
            targets.extend(
                recovery
                    .catch
                    .iter()
                    .map(|c| ("Catch Next", c.next.as_str())),
            );
        }
        if let State::Choice(choice) = self {
            targets.extend(
                choice
                    .choices
                    .iter()
                    .map(|c| ("Choices Next", c.next.as_str())),
            );
            if let Some(default) = &choice.default {
                targets.push(("Default", default.as_str()));
            }
        }
        targets
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Transition {
    Next(String),
    End,
}

/// `InputPath` / `OutputPath`.
#[derive(Debug, Clone)]
pub(crate) enum DataPath {
    /// Absent or `"$"`.
    Whole,
    /// `null`: the state sees / emits `{}`.
    Empty,
    Select(Path),
}

#[derive(Debug, Clone)]
pub(crate) enum ResultPath {
    /// Absent or `"$"`: the result replaces the input.
    Replace,
    /// `null`: the result is discarded and the input passes through.
    Discard,
    Set(Path),
}

#[derive(Debug, Clone)]
pub(crate) struct Pass {
    pub(crate) input_path: DataPath,
    pub(crate) parameters: Option<Template>,
    pub(crate) result: Option<Value>,
    pub(crate) result_path: ResultPath,
    pub(crate) output_path: DataPath,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone)]
pub(crate) enum Seconds {
    Fixed(u64),
    Path(Path),
}

#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) resource: String,
    pub(crate) input_path: DataPath,
    pub(crate) parameters: Option<Template>,
    pub(crate) result_selector: Option<Template>,
    pub(crate) result_path: ResultPath,
    pub(crate) output_path: DataPath,
    pub(crate) timeout: Option<Seconds>,
    pub(crate) recovery: Recovery,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub(crate) input_path: DataPath,
    pub(crate) output_path: DataPath,
    pub(crate) choices: Vec<ChoiceRule>,
    pub(crate) default: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum WaitFor {
    Seconds(Seconds),
    Timestamp(String),
    TimestampPath(Path),
}

#[derive(Debug, Clone)]
pub(crate) struct Wait {
    pub(crate) input_path: DataPath,
    pub(crate) output_path: DataPath,
    pub(crate) wait_for: WaitFor,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone)]
pub(crate) struct Succeed {
    pub(crate) input_path: DataPath,
    pub(crate) output_path: DataPath,
}

/// A Fail state's `Error`/`Cause`: literal, or computed from its input.
#[derive(Debug, Clone)]
pub(crate) enum FailText {
    Literal(String),
    Path(Path),
    Call(Call),
}

#[derive(Debug, Clone)]
pub(crate) struct Fail {
    pub(crate) error: Option<FailText>,
    pub(crate) cause: Option<FailText>,
}

#[derive(Debug, Clone)]
pub(crate) struct Parallel {
    pub(crate) branches: Vec<Scope>,
    pub(crate) input_path: DataPath,
    pub(crate) parameters: Option<Template>,
    pub(crate) result_selector: Option<Template>,
    pub(crate) result_path: ResultPath,
    pub(crate) output_path: DataPath,
    pub(crate) recovery: Recovery,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone)]
pub(crate) enum Concurrency {
    Fixed(u64),
    Path(Path),
}

#[derive(Debug, Clone)]
pub(crate) struct MapState {
    pub(crate) processor: Scope,
    /// `ProcessorConfig.Mode: DISTRIBUTED`: iterations run exactly like inline ones, but
    /// each is a child execution with its own transition history, as on AWS.
    pub(crate) distributed: bool,
    pub(crate) items_path: Path,
    pub(crate) item_selector: Option<Template>,
    pub(crate) max_concurrency: Concurrency,
    pub(crate) input_path: DataPath,
    pub(crate) result_selector: Option<Template>,
    pub(crate) result_path: ResultPath,
    pub(crate) output_path: DataPath,
    pub(crate) recovery: Recovery,
    pub(crate) transition: Transition,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Recovery {
    pub(crate) retry: Vec<Retrier>,
    pub(crate) catch: Vec<Catcher>,
}

#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    pub(crate) errors: Vec<String>,
    pub(crate) interval_seconds: u64,
    pub(crate) max_attempts: u64,
    pub(crate) backoff_rate: f64,
    pub(crate) max_delay_seconds: Option<u64>,
    pub(crate) full_jitter: bool,
}

impl Retrier {
    pub(crate) fn matches(&self, error: &str) -> bool {
        self.errors.iter().any(|p| names::matches(p, error))
    }

    /// The delay before retry number `retry` (0-based), before jitter:
    /// `IntervalSeconds × BackoffRate^retry`, capped by `MaxDelaySeconds`.
    pub(crate) fn base_delay(&self, retry: u64) -> Duration {
        let exponent = i32::try_from(retry).unwrap_or(i32::MAX);
        let mut seconds = self.interval_seconds as f64 * self.backoff_rate.powi(exponent);
        if let Some(max) = self.max_delay_seconds {
            seconds = seconds.min(max as f64);
        }
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    pub(crate) errors: Vec<String>,
    pub(crate) next: String,
    pub(crate) result_path: ResultPath,
}

impl Catcher {
    pub(crate) fn matches(&self, error: &str) -> bool {
        self.errors.iter().any(|p| names::matches(p, error))
    }
}

impl StateMachine {
    /// Parses and validates a definition (after any [`substitute`](crate::substitute)).
    ///
    /// Errors name the offending state, e.g.
    /// `invalid state machine definition at state "Fetch": Next target "Parse" does not exist`.
    pub fn parse(json: &str) -> Result<StateMachine, AslError> {
        let value: Value = serde_json::from_str(json)?;
        Self::from_value(&value)
    }

    /// Like [`parse`](Self::parse), for a definition that is already a JSON value.
    pub fn from_value(definition: &Value) -> Result<StateMachine, AslError> {
        let location = "the state machine".to_owned();
        let map = definition
            .as_object()
            .ok_or_else(|| AslError::invalid(&location, "the definition must be a JSON object"))?;
        let fields = Fields::new(map, location);
        fields.allow(&[
            "Comment",
            "StartAt",
            "States",
            "TimeoutSeconds",
            "Version",
            "QueryLanguage",
        ])?;
        fields.query_language()?;
        if let Some(version) = fields.opt_str("Version")?.filter(|v| *v != "1.0") {
            return Err(fields.err(format!("unsupported Version `{version}` (only 1.0 exists)")));
        }
        let timeout = fields
            .opt_uint("TimeoutSeconds")?
            .map(|s| positive(&fields, "TimeoutSeconds", s))
            .transpose()?
            .map(Duration::from_secs);
        let mut parser = Parser {
            seen: HashSet::new(),
        };
        let root = parser.scope(&fields, "")?;
        Ok(StateMachine { root, timeout })
    }

    /// The name of the first state.
    pub fn start_at(&self) -> &str {
        &self.root.start_at
    }

    /// Every Task `Resource` in the definition, nested branches and Map processors
    /// included: handy to check that an invoker knows them all before running.
    pub fn task_resources(&self) -> BTreeSet<String> {
        fn collect(scope: &Scope, out: &mut BTreeSet<String>) {
            for state in scope.states.values() {
                match state {
                    State::Task(task) => {
                        out.insert(task.resource.clone());
                    }
                    State::Parallel(parallel) => {
                        parallel.branches.iter().for_each(|b| collect(b, out));
                    }
                    State::Map(map) => collect(&map.processor, out),
                    _ => {}
                }
            }
        }
        let mut out = BTreeSet::new();
        collect(&self.root, &mut out);
        out
    }
}

impl std::str::FromStr for StateMachine {
    type Err = AslError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn positive(fields: &Fields<'_>, key: &str, value: u64) -> Result<u64, AslError> {
    if value == 0 {
        Err(fields.err(format!("`{key}` must be a positive integer")))
    } else {
        Ok(value)
    }
}

/// Typed access to a JSON object's fields with errors that say where they are.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    location: String,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>, location: String) -> Self {
        Self { map, location }
    }

    fn err(&self, message: impl Into<String>) -> AslError {
        AslError::invalid(&self.location, message)
    }

    fn allow(&self, allowed: &[&str]) -> Result<(), AslError> {
        for key in self.map.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            return Err(if UNSUPPORTED_FIELDS.contains(&key.as_str()) {
                self.err(format!(
                    "field `{key}` is not supported by the local ASL interpreter"
                ))
            } else {
                self.err(format!("unknown field `{key}`"))
            });
        }
        Ok(())
    }

    fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    fn opt_str(&self, key: &str) -> Result<Option<&'a str>, AslError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(format!("`{key}` must be a string"))),
        }
    }

    fn req_str(&self, key: &str) -> Result<&'a str, AslError> {
        self.opt_str(key)?
            .ok_or_else(|| self.err(format!("missing required field `{key}`")))
    }

    fn opt_uint(&self, key: &str) -> Result<Option<u64>, AslError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => as_uint(v)
                .map(Some)
                .ok_or_else(|| self.err(format!("`{key}` must be a non-negative integer"))),
        }
    }

    fn opt_f64(&self, key: &str) -> Result<Option<f64>, AslError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.err(format!("`{key}` must be a number"))),
        }
    }

    fn opt_path(&self, key: &str) -> Result<Option<Path>, AslError> {
        self.opt_str(key)?
            .map(|text| Path::parse(text).map_err(|e| self.err(format!("`{key}`: {e}"))))
            .transpose()
    }

    fn opt_reference(&self, key: &str) -> Result<Option<Path>, AslError> {
        self.opt_str(key)?
            .map(|text| Path::parse_reference(text).map_err(|e| self.err(format!("`{key}`: {e}"))))
            .transpose()
    }

    fn data_path(&self, key: &str) -> Result<DataPath, AslError> {
        match self.map.get(key) {
            None => Ok(DataPath::Whole),
            Some(Value::Null) => Ok(DataPath::Empty),
            Some(_) => {
                let path = self
                    .opt_path(key)?
                    .ok_or_else(|| self.err(format!("`{key}` must be a path or null")))?;
                Ok(if path.is_whole_input() {
                    DataPath::Whole
                } else {
                    DataPath::Select(path)
                })
            }
        }
    }

    fn result_path(&self, key: &str) -> Result<ResultPath, AslError> {
        match self.map.get(key) {
            None => Ok(ResultPath::Replace),
            Some(Value::Null) => Ok(ResultPath::Discard),
            Some(_) => {
                let path = self
                    .opt_reference(key)?
                    .ok_or_else(|| self.err(format!("`{key}` must be a reference path or null")))?;
                if path.root() != Root::Input {
                    return Err(self.err(format!("`{key}` must start with `$`, not `$$`")));
                }
                Ok(if path.is_whole_input() {
                    ResultPath::Replace
                } else {
                    ResultPath::Set(path)
                })
            }
        }
    }

    fn template(&self, key: &str) -> Result<Option<Template>, AslError> {
        self.map
            .get(key)
            .map(|v| Template::compile(v).map_err(|e| self.err(format!("`{key}`: {e}"))))
            .transpose()
    }

    fn transition(&self) -> Result<Transition, AslError> {
        let end = match self.map.get("End") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(self.err("`End` must be a boolean")),
        };
        match (self.opt_str("Next")?, end) {
            (Some(_), true) => Err(self.err("a state cannot have both `Next` and `End: true`")),
            (Some(next), false) => Ok(Transition::Next(next.to_owned())),
            (None, true) => Ok(Transition::End),
            (None, false) => Err(self.err("a non-terminal state needs `Next` or `End: true`")),
        }
    }

    fn query_language(&self) -> Result<(), AslError> {
        match self.opt_str("QueryLanguage")? {
            None | Some("JSONPath") => Ok(()),
            Some("JSONata") => {
                Err(self.err("QueryLanguage JSONata is not supported by the local ASL interpreter"))
            }
            Some(other) => Err(self.err(format!("unknown QueryLanguage `{other}`"))),
        }
    }

    fn seconds(&self, fixed: &str, path: &str) -> Result<Option<Seconds>, AslError> {
        match (self.opt_uint(fixed)?, self.opt_reference(path)?) {
            (Some(_), Some(_)) => {
                Err(self.err(format!("`{fixed}` and `{path}` are mutually exclusive")))
            }
            (Some(s), None) => Ok(Some(Seconds::Fixed(s))),
            (None, Some(p)) => Ok(Some(Seconds::Path(p))),
            (None, None) => Ok(None),
        }
    }

    fn recovery(&self) -> Result<Recovery, AslError> {
        Ok(Recovery {
            retry: self.retriers()?,
            catch: self.catchers()?,
        })
    }

    fn retriers(&self) -> Result<Vec<Retrier>, AslError> {
        let Some(value) = self.get("Retry") else {
            return Ok(Vec::new());
        };
        let items = value
            .as_array()
            .ok_or_else(|| self.err("`Retry` must be an array"))?;
        let count = items.len();
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let map = item
                    .as_object()
                    .ok_or_else(|| self.err(format!("Retry[{i}] must be an object")))?;
                let f = Fields::new(map, format!("{} Retry[{i}]", self.location));
                f.allow(&[
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                ])?;
                let errors = f.error_equals(i + 1 == count)?;
                let interval_seconds = f
                    .opt_uint("IntervalSeconds")?
                    .map(|s| positive(&f, "IntervalSeconds", s))
                    .transpose()?
                    .unwrap_or(1);
                let max_attempts = f.opt_uint("MaxAttempts")?.unwrap_or(3);
                let backoff_rate = f.opt_f64("BackoffRate")?.unwrap_or(2.0);
                if !(backoff_rate >= 1.0 && backoff_rate.is_finite()) {
                    return Err(f.err("`BackoffRate` must be a number of at least 1.0"));
                }
                let max_delay_seconds = f
                    .opt_uint("MaxDelaySeconds")?
                    .map(|s| positive(&f, "MaxDelaySeconds", s))
                    .transpose()?;
                let full_jitter = match f.opt_str("JitterStrategy")? {
                    None | Some("NONE") => false,
                    Some("FULL") => true,
                    Some(other) => {
                        return Err(f.err(format!(
                            "`JitterStrategy` must be FULL or NONE, not `{other}`"
                        )));
                    }
                };
                Ok(Retrier {
                    errors,
                    interval_seconds,
                    max_attempts,
                    backoff_rate,
                    max_delay_seconds,
                    full_jitter,
                })
            })
            .collect()
    }

    fn catchers(&self) -> Result<Vec<Catcher>, AslError> {
        let Some(value) = self.get("Catch") else {
            return Ok(Vec::new());
        };
        let items = value
            .as_array()
            .ok_or_else(|| self.err("`Catch` must be an array"))?;
        let count = items.len();
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let map = item
                    .as_object()
                    .ok_or_else(|| self.err(format!("Catch[{i}] must be an object")))?;
                let f = Fields::new(map, format!("{} Catch[{i}]", self.location));
                f.allow(&["ErrorEquals", "Next", "ResultPath", "Comment"])?;
                Ok(Catcher {
                    errors: f.error_equals(i + 1 == count)?,
                    next: f.req_str("Next")?.to_owned(),
                    result_path: f.result_path("ResultPath")?,
                })
            })
            .collect()
    }

    fn error_equals(&self, is_last: bool) -> Result<Vec<String>, AslError> {
        let errors = self
            .get("ErrorEquals")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| self.err("`ErrorEquals` must be a non-empty array of error names"))?
            .iter()
            .map(|e| {
                e.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| self.err("`ErrorEquals` entries must be strings"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if errors.iter().any(|e| e == names::ALL) && (errors.len() > 1 || !is_last) {
            return Err(self.err(
                "`States.ALL` must appear alone in `ErrorEquals`, in the last retrier or catcher",
            ));
        }
        Ok(errors)
    }

    fn fail_text(&self, literal: &str, path: &str) -> Result<Option<FailText>, AslError> {
        match (self.opt_str(literal)?, self.opt_str(path)?) {
            (Some(_), Some(_)) => {
                Err(self.err(format!("`{literal}` and `{path}` are mutually exclusive")))
            }
            (Some(text), None) => Ok(Some(FailText::Literal(text.to_owned()))),
            (None, Some(text)) if intrinsic::looks_like_call(text) => Call::parse(text)
                .map(|c| Some(FailText::Call(c)))
                .map_err(|e| self.err(format!("`{path}`: {e}"))),
            (None, Some(_)) => self.opt_reference(path).map(|p| p.map(FailText::Path)),
            (None, None) => Ok(None),
        }
    }
}

pub(crate) fn as_uint(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    })
}

struct Parser {
    /// State names must be unique across the whole machine, branches included.
    seen: HashSet<String>,
}

impl Parser {
    fn scope(&mut self, fields: &Fields<'_>, prefix: &str) -> Result<Scope, AslError> {
        let start_at = fields.req_str("StartAt")?.to_owned();
        let states_map = fields
            .get("States")
            .ok_or_else(|| fields.err("missing required field `States`"))?
            .as_object()
            .ok_or_else(|| fields.err("`States` must be an object"))?;
        if states_map.is_empty() {
            return Err(fields.err("`States` must contain at least one state"));
        }

        let mut states = BTreeMap::new();
        for (name, definition) in states_map {
            let location = format!("{prefix}state \"{name}\"");
            if name.chars().count() > MAX_STATE_NAME_CHARS {
                return Err(AslError::invalid(
                    &location,
                    format!("state names may be at most {MAX_STATE_NAME_CHARS} characters"),
                ));
            }
            if !self.seen.insert(name.clone()) {
                return Err(AslError::invalid(
                    &location,
                    "state names must be unique within the whole state machine, branches included",
                ));
            }
            let map = definition
                .as_object()
                .ok_or_else(|| AslError::invalid(&location, "a state must be a JSON object"))?;
            let state = self.state(&Fields::new(map, location))?;
            states.insert(name.clone(), state);
        }

        if !states.contains_key(&start_at) {
            return Err(fields.err(format!(
                "StartAt \"{start_at}\" does not name a state in this scope"
            )));
        }
        for (name, state) in &states {
            for (field, target) in state.targets() {
                if !states.contains_key(target) {
                    return Err(AslError::invalid(
                        format!("{prefix}state \"{name}\""),
                        format!("{field} target \"{target}\" does not exist in this scope"),
                    ));
                }
            }
        }
        let mut reachable: HashSet<&str> = HashSet::from([start_at.as_str()]);
        let mut queue = VecDeque::from([start_at.as_str()]);
        while let Some(name) = queue.pop_front() {
            if let Some(state) = states.get(name) {
                for (_, target) in state.targets() {
                    if reachable.insert(target) {
                        queue.push_back(target);
                    }
                }
            }
        }
        let mut unreachable: Vec<&String> = states
            .keys()
            .filter(|n| !reachable.contains(n.as_str()))
            .collect();
        unreachable.sort();
        if let Some(name) = unreachable.first() {
            return Err(AslError::invalid(
                format!("{prefix}state \"{name}\""),
                format!("the state is not reachable from StartAt \"{start_at}\""),
            ));
        }
        Ok(Scope { start_at, states })
    }

    fn state(&mut self, f: &Fields<'_>) -> Result<State, AslError> {
        let kind = f.req_str("Type")?;
        f.query_language()?;
        const COMMON: [&str; 3] = ["Type", "Comment", "QueryLanguage"];
        let allow = |extra: &[&str]| -> Result<(), AslError> {
            let all: Vec<&str> = COMMON.iter().chain(extra).copied().collect();
            f.allow(&all)
        };
        if matches!(kind, "Choice" | "Succeed" | "Fail") && (f.has("Next") || f.has("End")) {
            return Err(f.err(match kind {
                "Choice" => {
                    "a Choice state takes neither `Next` nor `End`; use `Choices` and `Default`"
                }
                _ => "Succeed and Fail states are terminal and take neither `Next` nor `End`",
            }));
        }
        match kind {
            "Pass" => {
                allow(&["InputPath", "OutputPath", "Parameters", "Result", "ResultPath", "Next", "End"])?;
                Ok(State::Pass(Pass {
                    input_path: f.data_path("InputPath")?,
                    parameters: f.template("Parameters")?,
                    result: f.get("Result").cloned(),
                    result_path: f.result_path("ResultPath")?,
                    output_path: f.data_path("OutputPath")?,
                    transition: f.transition()?,
                }))
            }
            "Task" => {
                allow(&[
                    "Resource",
                    "InputPath",
                    "OutputPath",
                    "Parameters",
                    "ResultSelector",
                    "ResultPath",
                    "TimeoutSeconds",
                    "TimeoutSecondsPath",
                    "HeartbeatSeconds",
                    "HeartbeatSecondsPath",
                    "Retry",
                    "Catch",
                    "Next",
                    "End",
                ])?;
                let timeout = f.seconds("TimeoutSeconds", "TimeoutSecondsPath")?;
                if let Some(Seconds::Fixed(0)) = timeout {
                    return Err(f.err("`TimeoutSeconds` must be a positive integer"));
                }
                // Heartbeats need a callback channel that in-process handlers do not have;
                // the fields are validated and otherwise ignored.
                f.seconds("HeartbeatSeconds", "HeartbeatSecondsPath")?;
                Ok(State::Task(Task {
                    resource: f.req_str("Resource")?.to_owned(),
                    input_path: f.data_path("InputPath")?,
                    parameters: f.template("Parameters")?,
                    result_selector: f.template("ResultSelector")?,
                    result_path: f.result_path("ResultPath")?,
                    output_path: f.data_path("OutputPath")?,
                    timeout,
                    recovery: f.recovery()?,
                    transition: f.transition()?,
                }))
            }
            "Choice" => {
                allow(&["InputPath", "OutputPath", "Choices", "Default"])?;
                let choices = f
                    .get("Choices")
                    .and_then(Value::as_array)
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| f.err("`Choices` must be a non-empty array"))?
                    .iter()
                    .enumerate()
                    .map(|(i, c)| ChoiceRule::parse(c).map_err(|e| f.err(format!("Choices[{i}]: {e}"))))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(State::Choice(Choice {
                    input_path: f.data_path("InputPath")?,
                    output_path: f.data_path("OutputPath")?,
                    choices,
                    default: f.opt_str("Default")?.map(str::to_owned),
                }))
            }
            "Wait" => {
                allow(&["InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Next", "End"])?;
                let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
                    .into_iter()
                    .filter(|k| f.has(k))
                    .collect();
                if given.len() != 1 {
                    return Err(f.err(
                        "a Wait state needs exactly one of `Seconds`, `SecondsPath`, `Timestamp`, `TimestampPath`",
                    ));
                }
                let wait_for = if let Some(seconds) = f.seconds("Seconds", "SecondsPath")? {
                    WaitFor::Seconds(seconds)
                } else if let Some(text) = f.opt_str("Timestamp")? {
                    if timestamp::parse(text).is_none() {
                        return Err(f.err(format!(
                            "`Timestamp` must be an RFC 3339 timestamp such as 2016-03-14T01:59:00Z, got `{text}`"
                        )));
                    }
                    WaitFor::Timestamp(text.to_owned())
                } else {
                    let path = f
                        .opt_reference("TimestampPath")?
                        .ok_or_else(|| f.err("`TimestampPath` must be a reference path"))?;
                    WaitFor::TimestampPath(path)
                };
                Ok(State::Wait(Wait {
                    input_path: f.data_path("InputPath")?,
                    output_path: f.data_path("OutputPath")?,
                    wait_for,
                    transition: f.transition()?,
                }))
            }
            "Succeed" => {
                allow(&["InputPath", "OutputPath"])?;
                Ok(State::Succeed(Succeed {
                    input_path: f.data_path("InputPath")?,
                    output_path: f.data_path("OutputPath")?,
                }))
            }
            "Fail" => {
                allow(&["Error", "ErrorPath", "Cause", "CausePath"])?;
                Ok(State::Fail(Fail {
                    error: f.fail_text("Error", "ErrorPath")?,
                    cause: f.fail_text("Cause", "CausePath")?,
                }))
            }
            "Parallel" => {
                allow(&[
                    "Branches",
                    "InputPath",
                    "OutputPath",
                    "Parameters",
                    "ResultSelector",
                    "ResultPath",
                    "Retry",
                    "Catch",
                    "Next",
                    "End",
                ])?;
                let branches = f
                    .get("Branches")
                    .and_then(Value::as_array)
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| f.err("`Branches` must be a non-empty array"))?;
                let mut scopes = Vec::with_capacity(branches.len());
                for (i, branch) in branches.iter().enumerate() {
                    let location = format!("{} > branch {i}", f.location);
                    let map = branch
                        .as_object()
                        .ok_or_else(|| AslError::invalid(&location, "a branch must be an object"))?;
                    let bf = Fields::new(map, location.clone());
                    bf.allow(&["StartAt", "States", "Comment", "QueryLanguage"])?;
                    bf.query_language()?;
                    scopes.push(self.scope(&bf, &format!("{location} > "))?);
                }
                Ok(State::Parallel(Parallel {
                    branches: scopes,
                    input_path: f.data_path("InputPath")?,
                    parameters: f.template("Parameters")?,
                    result_selector: f.template("ResultSelector")?,
                    result_path: f.result_path("ResultPath")?,
                    output_path: f.data_path("OutputPath")?,
                    recovery: f.recovery()?,
                    transition: f.transition()?,
                }))
            }
            "Map" => {
                allow(&[
                    "Iterator",
                    "ItemProcessor",
                    "ItemsPath",
                    "ItemSelector",
                    "Parameters",
                    "MaxConcurrency",
                    "MaxConcurrencyPath",
                    "InputPath",
                    "OutputPath",
                    "ResultSelector",
                    "ResultPath",
                    "Retry",
                    "Catch",
                    "Label",
                    "Next",
                    "End",
                ])?;
                let (key, processor) = match (f.get("ItemProcessor"), f.get("Iterator")) {
                    (Some(p), None) => ("ItemProcessor", p),
                    (None, Some(p)) => ("Iterator", p),
                    (Some(_), Some(_)) => return Err(f.err("`ItemProcessor` and `Iterator` are mutually exclusive")),
                    (None, None) => return Err(f.err("a Map state needs an `ItemProcessor` (or the legacy `Iterator`)")),
                };
                let location = format!("{} > {key}", f.location);
                let map = processor
                    .as_object()
                    .ok_or_else(|| AslError::invalid(&location, "must be an object"))?;
                let pf = Fields::new(map, location.clone());
                pf.allow(&["StartAt", "States", "Comment", "ProcessorConfig", "QueryLanguage"])?;
                pf.query_language()?;
                let mut distributed = false;
                if let Some(config) = pf.get("ProcessorConfig") {
                    // DISTRIBUTED runs like INLINE locally: the iterations are the same,
                    // only AWS's scheduling differs.
                    let config = config
                        .as_object()
                        .ok_or_else(|| pf.err("`ProcessorConfig` must be an object"))?;
                    let cf = Fields::new(config, format!("{location} ProcessorConfig"));
                    cf.allow(&["Mode", "ExecutionType"])?;
                    match cf.opt_str("Mode")? {
                        None | Some("INLINE") => {}
                        Some("DISTRIBUTED") => distributed = true,
                        Some(other) => return Err(cf.err(format!("unknown Mode `{other}`"))),
                    }
                    match cf.opt_str("ExecutionType")? {
                        None | Some("STANDARD") | Some("EXPRESS") => {}
                        Some(other) => return Err(cf.err(format!("unknown ExecutionType `{other}`"))),
                    }
                }
                let processor = self.scope(&pf, &format!("{location} > "))?;
                let item_selector = match (f.template("ItemSelector")?, f.template("Parameters")?) {
                    (Some(_), Some(_)) => {
                        return Err(f.err("`ItemSelector` and the legacy `Parameters` are mutually exclusive"));
                    }
                    (a, b) => a.or(b),
                };
                let max_concurrency = match (f.opt_uint("MaxConcurrency")?, f.opt_reference("MaxConcurrencyPath")?) {
                    (Some(_), Some(_)) => {
                        return Err(f.err("`MaxConcurrency` and `MaxConcurrencyPath` are mutually exclusive"));
                    }
                    (Some(n), None) => Concurrency::Fixed(n),
                    (None, Some(p)) => Concurrency::Path(p),
                    (None, None) => Concurrency::Fixed(0),
                };
                let items_path = match f.opt_reference("ItemsPath")? {
                    Some(p) => p,
                    None => Path::whole_input(),
                };
                Ok(State::Map(MapState {
                    processor,
                    distributed,
                    items_path,
                    item_selector,
                    max_concurrency,
                    input_path: f.data_path("InputPath")?,
                    result_selector: f.template("ResultSelector")?,
                    result_path: f.result_path("ResultPath")?,
                    output_path: f.data_path("OutputPath")?,
                    recovery: f.recovery()?,
                    transition: f.transition()?,
                }))
            }
            other => Err(f.err(format!(
                "unknown state type `{other}` (expected Pass, Task, Choice, Wait, Succeed, Fail, Parallel or Map)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invalid(definition: Value) -> String {
        match StateMachine::from_value(&definition) {
            Ok(_) => panic!("definition should be rejected: {definition}"),
            Err(e) => e.to_string(),
        }
    }

    fn single(state: Value) -> Value {
        json!({"StartAt": "S", "States": {"S": state}})
    }

    #[test]
    fn retrier_backoff_follows_the_spec_example() {
        // The spec's example: waits of 3, 4.5, 6.75 and 10.125 seconds.
        let retrier = Retrier {
            errors: vec!["States.Timeout".into()],
            interval_seconds: 3,
            max_attempts: 4,
            backoff_rate: 1.5,
            max_delay_seconds: None,
            full_jitter: false,
        };
        let delays: Vec<f64> = (0..4)
            .map(|i| retrier.base_delay(i).as_secs_f64())
            .collect();
        assert_eq!(delays, vec![3.0, 4.5, 6.75, 10.125]);
        let capped = Retrier {
            max_delay_seconds: Some(5),
            ..retrier
        };
        assert_eq!(capped.base_delay(3), Duration::from_secs(5));
        assert_eq!(capped.base_delay(10_000), Duration::from_secs(5));
    }

    #[test]
    fn collects_task_resources_from_nested_scopes() {
        let machine = StateMachine::from_value(&json!({
            "StartAt": "P",
            "States": {
                "P": {"Type": "Parallel", "Next": "M", "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r:a", "End": true}}}
                ]},
                "M": {"Type": "Map", "End": true, "ItemProcessor": {
                    "StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "r:b", "End": true}}
                }}
            }
        }))
        .unwrap();
        assert_eq!(machine.start_at(), "P");
        assert_eq!(
            machine.task_resources().into_iter().collect::<Vec<_>>(),
            vec!["r:a".to_owned(), "r:b".to_owned()]
        );
    }

    #[test]
    fn rejects_structural_problems_naming_the_state() {
        let e = invalid(json!({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}));
        assert!(e.contains("StartAt \"Nope\""), "{e}");

        let e = invalid(json!({"States": {"A": {"Type": "Succeed"}}}));
        assert!(e.contains("StartAt"), "{e}");

        let e = invalid(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Gone"}}}));
        assert!(e.contains("state \"A\"") && e.contains("\"Gone\""), "{e}");

        let e = invalid(json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}));
        assert!(e.contains("state \"A\"") && e.contains("End"), "{e}");

        let e = invalid(
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Next": "A"}}}),
        );
        assert!(e.contains("both"), "{e}");

        let e =
            invalid(json!({"StartAt": "A", "States": {"A": {"Type": "Teleport", "End": true}}}));
        assert!(e.contains("Teleport") && e.contains("state \"A\""), "{e}");

        let e = invalid(json!({"StartAt": "A", "States": {
            "A": {"Type": "Succeed"},
            "Orphan": {"Type": "Succeed"}
        }}));
        assert!(
            e.contains("state \"Orphan\"") && e.contains("not reachable"),
            "{e}"
        );
    }

    #[test]
    fn rejects_bad_transitions_in_choices_and_catchers() {
        let e = invalid(json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "X"}], "Default": "D"},
            "D": {"Type": "Succeed"}
        }}));
        assert!(e.contains("state \"C\"") && e.contains("\"X\""), "{e}");

        let e = invalid(json!({"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "D"}], "Default": "Y"},
            "D": {"Type": "Succeed"}
        }}));
        assert!(e.contains("Default") && e.contains("\"Y\""), "{e}");

        let e = invalid(json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "r", "End": true, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Z"}]}
        }}));
        assert!(e.contains("Catch") && e.contains("\"Z\""), "{e}");
    }

    #[test]
    fn nested_errors_name_the_path_to_the_state() {
        let e = invalid(json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}}}
            ]}
        }}));
        assert!(e.contains("state \"P\" > branch 0 > state \"A\""), "{e}");

        // Transitions cannot cross scopes.
        let e = invalid(json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Next": "After", "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "After"}}}
            ]},
            "After": {"Type": "Succeed"}
        }}));
        assert!(e.contains("\"After\""), "{e}");
    }

    #[test]
    fn rejects_duplicate_names_across_branches() {
        let e = invalid(json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "P", "States": {"P": {"Type": "Succeed"}}}
            ]}
        }}));
        assert!(e.contains("unique"), "{e}");
    }

    #[test]
    fn rejects_field_level_problems() {
        let cases = [
            (single(json!({"Type": "Task", "End": true})), "Resource"),
            (
                single(json!({"Type": "Pass", "End": true, "Bogus": 1})),
                "Bogus",
            ),
            (
                single(json!({"Type": "Pass", "End": true, "Assign": {}})),
                "not supported",
            ),
            (
                single(json!({"Type": "Pass", "End": true, "QueryLanguage": "JSONata"})),
                "JSONata",
            ),
            (
                single(json!({"Type": "Pass", "End": true, "InputPath": "a.b"})),
                "InputPath",
            ),
            (
                single(json!({"Type": "Pass", "End": true, "ResultPath": "$.a[*]"})),
                "ResultPath",
            ),
            (
                single(json!({"Type": "Pass", "End": true, "ResultPath": "$$.a"})),
                "ResultPath",
            ),
            (
                single(json!({"Type": "Pass", "End": true, "Parameters": {"a.$": "nope"}})),
                "Parameters",
            ),
            (single(json!({"Type": "Wait", "End": true})), "exactly one"),
            (
                single(
                    json!({"Type": "Wait", "End": true, "Seconds": 1, "Timestamp": "2016-03-14T01:59:00Z"}),
                ),
                "exactly one",
            ),
            (
                single(json!({"Type": "Wait", "End": true, "Timestamp": "tomorrow"})),
                "Timestamp",
            ),
            (
                single(json!({"Type": "Wait", "End": true, "Seconds": -1})),
                "Seconds",
            ),
            (
                single(json!({"Type": "Task", "Resource": "r", "End": true, "TimeoutSeconds": 0})),
                "TimeoutSeconds",
            ),
            (
                single(
                    json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["States.ALL", "X"]}]}),
                ),
                "States.ALL",
            ),
            (
                single(
                    json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}),
                ),
                "States.ALL",
            ),
            (
                single(
                    json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": []}]}),
                ),
                "ErrorEquals",
            ),
            (
                single(
                    json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]}),
                ),
                "BackoffRate",
            ),
            (
                single(
                    json!({"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["X"], "JitterStrategy": "SOME"}]}),
                ),
                "JitterStrategy",
            ),
            (single(json!({"Type": "Choice", "Choices": []})), "Choices"),
            (
                single(
                    json!({"Type": "Choice", "End": true, "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "S"}]}),
                ),
                "Choice",
            ),
            (single(json!({"Type": "Succeed", "Next": "S"})), "Next"),
            (
                single(json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"})),
                "mutually exclusive",
            ),
            (
                single(json!({"Type": "Fail", "CausePath": "States.Nope()"})),
                "CausePath",
            ),
            (
                single(json!({"Type": "Parallel", "End": true, "Branches": []})),
                "Branches",
            ),
            (single(json!({"Type": "Map", "End": true})), "ItemProcessor"),
            (
                single(
                    json!({"Type": "Map", "End": true, "ItemReader": {}, "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}),
                ),
                "ItemReader",
            ),
            (
                single(
                    json!({"Type": "Map", "End": true, "ItemsPath": "$.a[*]", "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}),
                ),
                "ItemsPath",
            ),
            (json!({"StartAt": "S", "States": {}}), "at least one"),
            (
                json!({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}, "Version": "2.0"}),
                "Version",
            ),
            (json!([1]), "object"),
        ];
        for (definition, needle) in cases {
            let e = invalid(definition.clone());
            assert!(
                e.contains(needle),
                "{definition}: `{e}` should mention `{needle}`"
            );
        }
    }

    #[test]
    fn long_state_names_are_rejected() {
        let name = "x".repeat(81);
        let e = invalid(json!({"StartAt": name.clone(), "States": {name: {"Type": "Succeed"}}}));
        assert!(e.contains("80"), "{e}");
    }

    #[test]
    fn invalid_json_is_reported() {
        let e = StateMachine::parse("{ not json").unwrap_err();
        assert!(matches!(e, AslError::Json(_)), "{e}");
    }

    #[test]
    fn accepts_a_distributed_map_and_ignored_fields() {
        let machine: StateMachine = json!({
            "Comment": "c",
            "Version": "1.0",
            "TimeoutSeconds": 60,
            "QueryLanguage": "JSONPath",
            "StartAt": "M",
            "States": {
                "M": {
                    "Type": "Map",
                    "Label": "fanout",
                    "MaxConcurrency": 4,
                    "ItemsPath": "$.items",
                    "ItemSelector": {"v.$": "$$.Map.Item.Value"},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                        "StartAt": "T",
                        "States": {"T": {"Type": "Task", "Resource": "r", "HeartbeatSeconds": 10, "End": true}}
                    },
                    "End": true
                }
            }
        })
        .to_string()
        .parse()
        .unwrap();
        assert_eq!(machine.timeout, Some(Duration::from_secs(60)));
    }
}

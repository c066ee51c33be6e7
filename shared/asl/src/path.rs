//! JSONPath as ASL uses it.
//!
//! ASL distinguishes *Paths* (any JSONPath, may select several nodes) from *Reference
//! Paths* (dot/bracket names and indices only, always one node). Both start at `$` (the
//! state's data) or `$$` (the context object). Supported syntax:
//! `.name`, `['name']`, `["name"]`, `[0]`, `[-1]`, `[0,2]`, `['a','b']`, `[*]`, `.*`,
//! `[start:end:step]`, `..name` / `..*` / `..[...]` (recursive descent), and filters
//! `[?(@.price < 10 && @.tags)]` with `== != < <= > >=`, `&&`, `||`, `!` and parentheses.
//!
//! As in Jayway JsonPath (which AWS uses), a definite path that does not match is an
//! error, while an indefinite one yields an array of whatever matched (possibly empty).

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};
use thiserror::Error;

/// Why a path could not be parsed, matched nothing, or could not be written through.
///
/// Callers attach the ASL error name that fits where the path was used (see
/// [`Fault`](crate::error::Fault)'s `From<PathError>`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum PathError {
    /// The text does not start with `$` or `$$`.
    #[error("path `{text}` must start with `$` or `$$`")]
    MissingRoot { text: String },

    /// The text after the root is not valid JSONPath.
    #[error("invalid path `{text}`: {reason}")]
    Syntax {
        text: String,
        /// Character offset in `text` where parsing stopped.
        position: usize,
        #[source]
        reason: PathSyntaxError,
    },

    /// A Reference Path was required, but this path may select several nodes.
    #[error(
        "`{text}` must be a reference path (names and indices only, no `*`, `..`, `,`, `:` or filters)"
    )]
    NotReference { text: String },

    /// A definite path selected nothing.
    #[error("path `{text}` does not match anything in the {}", .root.describe())]
    NoMatch { text: String, root: Root },

    /// ResultPath: an index past either end of the array it points into.
    #[error(
        "cannot apply ResultPath `{text}`: index {index} is out of bounds for an array of {len}"
    )]
    IndexOutOfBounds {
        text: String,
        index: i64,
        len: usize,
    },

    /// ResultPath: a field or index would have to be set inside a value that is not an
    /// object (for a name) or an array (for an index).
    #[error(
        "cannot apply ResultPath `{text}`: `{field}` would have to be set inside {found}, which is not a container of that kind"
    )]
    NotAContainer {
        text: String,
        field: String,
        /// What is there instead, e.g. `a string` (see [`type_name`]).
        found: &'static str,
    },

    /// Writing through a path that is not a reference path, which the parser rules out
    /// wherever a ResultPath is accepted.
    #[error("`{text}` is not a reference path")]
    SetThroughNonReference { text: String },
}

/// What is wrong with a path's syntax, without the path itself (see [`PathError::Syntax`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum PathSyntaxError {
    #[error("expected `{expected}`, found `{found}`")]
    Expected { expected: &'static str, found: char },
    #[error("expected `{expected}`, found the end")]
    ExpectedAtEnd { expected: &'static str },
    #[error("empty field name")]
    EmptyName,
    #[error("expected an index, a quoted name, `*` or `?(`")]
    ExpectedSelector,
    #[error("expected an index after `,`")]
    ExpectedIndex,
    #[error("`{text}` is not a valid index")]
    InvalidIndex { text: String },
    #[error("slice step must be positive")]
    NonPositiveStep,
    #[error("expected a quoted name")]
    ExpectedQuotedName,
    #[error("unterminated quoted name")]
    UnterminatedQuote,
    #[error("`{text}` is not a number")]
    InvalidNumber { text: String },
    #[error("expected `@`, a literal or `(` in filter, found `{found}`")]
    ExpectedOperand { found: String },
    /// Text left over after a complete path.
    #[error("unexpected `{found}`")]
    Trailing { found: String },
}

/// Lazily provides the `$$` context object; building it is only worth it when a path
/// actually starts with `$$`.
pub(crate) trait ContextSource {
    fn context_value(&self) -> Value;
}

impl ContextSource for Value {
    fn context_value(&self) -> Value {
        self.clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    Input,
    Context,
}

impl Root {
    /// What the root stands for, as error messages name it.
    fn describe(self) -> &'static str {
        match self {
            Root::Input => "input",
            Root::Context => "context object",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Name(String),
    Index(i64),
    Names(Vec<String>),
    Indices(Vec<i64>),
    Wildcard,
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: i64,
    },
    Filter(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Child(Selector),
    Descendant(Selector),
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Or(Vec<Filter>),
    And(Vec<Filter>),
    Not(Box<Filter>),
    Truthy(Operand),
    Compare(Operand, CmpOp, Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Current(Vec<Segment>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed JSONPath.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    text: String,
    root: Root,
    segments: Vec<Segment>,
}

impl Path {
    pub(crate) fn parse(text: &str) -> Result<Path, PathError> {
        let (root, rest, root_len) = if let Some(rest) = text.strip_prefix("$$") {
            (Root::Context, rest, 2)
        } else if let Some(rest) = text.strip_prefix('$') {
            (Root::Input, rest, 1)
        } else {
            return Err(PathError::MissingRoot {
                text: text.to_owned(),
            });
        };
        let mut cursor = Cursor::new(rest);
        let syntax = |cursor: &Cursor, reason| PathError::Syntax {
            text: text.to_owned(),
            position: root_len + cursor.pos,
            reason,
        };
        let segments = match cursor.segments(false) {
            Ok(segments) => segments,
            Err(reason) => return Err(syntax(&cursor, reason)),
        };
        if !cursor.at_end() {
            let found = cursor.remaining();
            return Err(syntax(&cursor, PathSyntaxError::Trailing { found }));
        }
        Ok(Path {
            text: text.to_owned(),
            root,
            segments,
        })
    }

    /// Parses a Reference Path: one that can only ever identify a single node.
    pub(crate) fn parse_reference(text: &str) -> Result<Path, PathError> {
        let path = Path::parse(text)?;
        if !path.is_definite() {
            return Err(PathError::NotReference {
                text: text.to_owned(),
            });
        }
        Ok(path)
    }

    /// `$`, the whole input.
    pub(crate) fn whole_input() -> Path {
        Path {
            text: "$".to_owned(),
            root: Root::Input,
            segments: Vec::new(),
        }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn root(&self) -> Root {
        self.root
    }

    /// `$` itself.
    pub(crate) fn is_whole_input(&self) -> bool {
        self.root == Root::Input && self.segments.is_empty()
    }

    fn is_definite(&self) -> bool {
        self.segments.iter().all(|s| {
            matches!(
                s,
                Segment::Child(Selector::Name(_)) | Segment::Child(Selector::Index(_))
            )
        })
    }

    /// Selects from `input` (or the context object for `$$` paths). The only failure is
    /// [`PathError::NoMatch`]; callers attach the ASL error name that fits where the path
    /// was used.
    pub(crate) fn select(
        &self,
        input: &Value,
        ctx: &dyn ContextSource,
    ) -> Result<Value, PathError> {
        let owned_context;
        let root = match self.root {
            Root::Input => input,
            Root::Context => {
                owned_context = ctx.context_value();
                &owned_context
            }
        };
        let nodes = evaluate(&self.segments, vec![root]);
        if self.is_definite() {
            match nodes.first() {
                Some(node) => Ok((*node).clone()),
                None => Err(PathError::NoMatch {
                    text: self.text.clone(),
                    root: self.root,
                }),
            }
        } else {
            Ok(Value::Array(nodes.into_iter().cloned().collect()))
        }
    }

    /// Writes `value` at this reference path inside `target`, creating intermediate
    /// objects as needed (the ResultPath rule). Only valid for `$`-rooted reference paths,
    /// which the parser guarantees wherever a ResultPath is accepted.
    pub(crate) fn set(&self, target: &mut Value, value: Value) -> Result<(), PathError> {
        let Some((last, init)) = self.segments.split_last() else {
            *target = value;
            return Ok(());
        };
        let mut current = target;
        for segment in init {
            current = match segment {
                Segment::Child(Selector::Name(name)) => match current {
                    Value::Object(map) => map
                        .entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new())),
                    other => return Err(self.set_error(name, other)),
                },
                Segment::Child(Selector::Index(index)) => match current {
                    Value::Array(items) => {
                        let len = items.len();
                        match resolve_index(*index, len).and_then(|i| items.get_mut(i)) {
                            Some(item) => item,
                            None => return Err(self.out_of_bounds(*index, len)),
                        }
                    }
                    other => return Err(self.set_error(&index.to_string(), other)),
                },
                _ => return Err(self.not_reference()),
            };
        }
        match last {
            Segment::Child(Selector::Name(name)) => match current {
                Value::Object(map) => {
                    map.insert(name.clone(), value);
                    Ok(())
                }
                other => Err(self.set_error(name, other)),
            },
            Segment::Child(Selector::Index(index)) => match current {
                Value::Array(items) => {
                    let len = items.len();
                    match resolve_index(*index, len).and_then(|i| items.get_mut(i)) {
                        Some(slot) => {
                            *slot = value;
                            Ok(())
                        }
                        None => Err(self.out_of_bounds(*index, len)),
                    }
                }
                other => Err(self.set_error(&index.to_string(), other)),
            },
            _ => Err(self.not_reference()),
        }
    }

    fn set_error(&self, field: &str, found: &Value) -> PathError {
        PathError::NotAContainer {
            text: self.text.clone(),
            field: field.to_owned(),
            found: type_name(found),
        }
    }

    fn out_of_bounds(&self, index: i64, len: usize) -> PathError {
        PathError::IndexOutOfBounds {
            text: self.text.clone(),
            index,
            len,
        }
    }

    fn not_reference(&self) -> PathError {
        PathError::SetThroughNonReference {
            text: self.text.clone(),
        }
    }
}

pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Orders two JSON numbers exactly when both are integers and by `f64` otherwise, so that
/// large integer IDs compare correctly.
pub(crate) fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    fn as_int(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    match (as_int(a), as_int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn resolve_index(index: i64, len: usize) -> Option<usize> {
    if index >= 0 {
        usize::try_from(index).ok().filter(|i| *i < len)
    } else {
        let back = usize::try_from(index.unsigned_abs()).ok()?;
        len.checked_sub(back)
    }
}

fn evaluate<'v>(segments: &[Segment], start: Vec<&'v Value>) -> Vec<&'v Value> {
    let mut nodes = start;
    for segment in segments {
        let mut next = Vec::new();
        match segment {
            Segment::Child(selector) => {
                for node in nodes {
                    select_children(selector, node, &mut next);
                }
            }
            Segment::Descendant(selector) => {
                let mut all = Vec::new();
                for node in nodes {
                    descendants_or_self(node, &mut all);
                }
                for node in all {
                    select_children(selector, node, &mut next);
                }
            }
        }
        nodes = next;
        if nodes.is_empty() {
            break;
        }
    }
    nodes
}

fn descendants_or_self<'v>(node: &'v Value, out: &mut Vec<&'v Value>) {
    out.push(node);
    match node {
        Value::Array(items) => items.iter().for_each(|i| descendants_or_self(i, out)),
        Value::Object(map) => map.values().for_each(|v| descendants_or_self(v, out)),
        _ => {}
    }
}

fn children(node: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match node {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => Box::new(std::iter::empty()),
    }
}

fn select_children<'v>(selector: &Selector, node: &'v Value, out: &mut Vec<&'v Value>) {
    match selector {
        Selector::Name(name) => out.extend(node.as_object().and_then(|m| m.get(name))),
        Selector::Names(names) => {
            if let Some(map) = node.as_object() {
                out.extend(names.iter().filter_map(|n| map.get(n)));
            }
        }
        Selector::Index(index) => out.extend(array_item(node, *index)),
        Selector::Indices(indices) => {
            out.extend(indices.iter().filter_map(|i| array_item(node, *i)))
        }
        Selector::Wildcard => out.extend(children(node)),
        Selector::Slice { start, end, step } => {
            if let Value::Array(items) = node {
                out.extend(slice(items, *start, *end, *step));
            }
        }
        Selector::Filter(filter) => out.extend(children(node).filter(|c| filter.test(c))),
    }
}

fn array_item(node: &Value, index: i64) -> Option<&Value> {
    let items = node.as_array()?;
    items.get(resolve_index(index, items.len())?)
}

fn slice(items: &[Value], start: Option<i64>, end: Option<i64>, step: i64) -> Vec<&Value> {
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let clamp = |v: i64| -> i64 {
        let v = if v < 0 { v + len } else { v };
        v.clamp(0, len)
    };
    let from = start.map_or(0, clamp);
    let to = end.map_or(len, clamp);
    let step = usize::try_from(step).unwrap_or(1).max(1);
    let (Ok(from), Ok(to)) = (usize::try_from(from), usize::try_from(to)) else {
        return Vec::new();
    };
    if from >= to {
        return Vec::new();
    }
    items
        .get(from..to)
        .map(|s| s.iter().step_by(step).collect())
        .unwrap_or_default()
}

impl Filter {
    fn test(&self, node: &Value) -> bool {
        match self {
            Filter::Or(parts) => parts.iter().any(|p| p.test(node)),
            Filter::And(parts) => parts.iter().all(|p| p.test(node)),
            Filter::Not(inner) => !inner.test(node),
            Filter::Truthy(Operand::Current(segments)) => {
                !evaluate(segments, vec![node]).is_empty()
            }
            Filter::Truthy(Operand::Literal(value)) => value == &Value::Bool(true),
            Filter::Compare(left, op, right) => match (left.single(node), right.single(node)) {
                (Some(l), Some(r)) => compare_values(&l, *op, &r),
                _ => false,
            },
        }
    }
}

impl Operand {
    fn single(&self, node: &Value) -> Option<Value> {
        match self {
            Operand::Literal(value) => Some(value.clone()),
            Operand::Current(segments) => {
                let found = evaluate(segments, vec![node]);
                match found.as_slice() {
                    [one] => Some((*one).clone()),
                    _ => None,
                }
            }
        }
    }
}

fn compare_values(left: &Value, op: CmpOp, right: &Value) -> bool {
    let ordering = match (left, right) {
        (Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => {
            return match op {
                CmpOp::Eq => left == right,
                CmpOp::Ne => left != right,
                _ => false,
            };
        }
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        CmpOp::Eq => ordering == Ordering::Equal,
        CmpOp::Ne => ordering != Ordering::Equal,
        CmpOp::Lt => ordering == Ordering::Less,
        CmpOp::Le => ordering != Ordering::Greater,
        CmpOp::Gt => ordering == Ordering::Greater,
        CmpOp::Ge => ordering != Ordering::Less,
    }
}

/// Character cursor shared by the path and filter parsers.
struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn remaining(&self) -> String {
        self.chars
            .get(self.pos..)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_is(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.peek_is(s) {
            self.pos += s.chars().count();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, s: &'static str) -> Result<(), PathSyntaxError> {
        if self.eat(s) {
            Ok(())
        } else {
            Err(match self.peek() {
                Some(found) => PathSyntaxError::Expected { expected: s, found },
                None => PathSyntaxError::ExpectedAtEnd { expected: s },
            })
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn segments(&mut self, in_filter: bool) -> Result<Vec<Segment>, PathSyntaxError> {
        let mut segments = Vec::new();
        loop {
            if self.eat("..") {
                let selector = if self.eat("*") {
                    Selector::Wildcard
                } else if self.peek() == Some('[') {
                    self.bracket()?
                } else {
                    Selector::Name(self.name(in_filter)?)
                };
                segments.push(Segment::Descendant(selector));
            } else if self.eat(".") {
                let selector = if self.eat("*") {
                    Selector::Wildcard
                } else {
                    Selector::Name(self.name(in_filter)?)
                };
                segments.push(Segment::Child(selector));
            } else if self.peek() == Some('[') {
                segments.push(Segment::Child(self.bracket()?));
            } else {
                return Ok(segments);
            }
        }
    }

    fn name(&mut self, in_filter: bool) -> Result<String, PathSyntaxError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let stop = c == '.'
                || c == '['
                || (in_filter && (c.is_whitespace() || "()=!<>&|,".contains(c)));
            if stop {
                break;
            }
            self.pos += 1;
        }
        let name: String = self
            .chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect();
        if name.is_empty() {
            Err(PathSyntaxError::EmptyName)
        } else {
            Ok(name)
        }
    }

    fn bracket(&mut self) -> Result<Selector, PathSyntaxError> {
        self.expect("[")?;
        self.skip_ws();
        let selector = if self.eat("*") {
            Selector::Wildcard
        } else if self.eat("?") {
            self.skip_ws();
            self.expect("(")?;
            let filter = self.filter_or()?;
            self.skip_ws();
            self.expect(")")?;
            Selector::Filter(Box::new(filter))
        } else if matches!(self.peek(), Some('\'') | Some('"')) {
            let mut names = vec![self.quoted()?];
            loop {
                self.skip_ws();
                if !self.eat(",") {
                    break;
                }
                self.skip_ws();
                names.push(self.quoted()?);
            }
            if names.len() == 1 {
                Selector::Name(names.remove(0))
            } else {
                Selector::Names(names)
            }
        } else {
            self.index_or_slice()?
        };
        self.skip_ws();
        self.expect("]")?;
        Ok(selector)
    }

    fn index_or_slice(&mut self) -> Result<Selector, PathSyntaxError> {
        let first = self.opt_int()?;
        self.skip_ws();
        if self.eat(":") {
            self.skip_ws();
            let end = self.opt_int()?;
            self.skip_ws();
            let step = if self.eat(":") {
                self.skip_ws();
                self.opt_int()?.unwrap_or(1)
            } else {
                1
            };
            if step <= 0 {
                return Err(PathSyntaxError::NonPositiveStep);
            }
            return Ok(Selector::Slice {
                start: first,
                end,
                step,
            });
        }
        let first = first.ok_or(PathSyntaxError::ExpectedSelector)?;
        let mut indices = vec![first];
        loop {
            self.skip_ws();
            if !self.eat(",") {
                break;
            }
            self.skip_ws();
            indices.push(self.opt_int()?.ok_or(PathSyntaxError::ExpectedIndex)?);
        }
        Ok(if indices.len() == 1 {
            Selector::Index(first)
        } else {
            Selector::Indices(indices)
        })
    }

    fn opt_int(&mut self) -> Result<Option<i64>, PathSyntaxError> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self
            .chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect();
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse() {
            Ok(index) => Ok(Some(index)),
            Err(_) => Err(PathSyntaxError::InvalidIndex { text }),
        }
    }

    fn quoted(&mut self) -> Result<String, PathSyntaxError> {
        let quote = self.peek().ok_or(PathSyntaxError::ExpectedQuotedName)?;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(PathSyntaxError::UnterminatedQuote),
                Some('\\') => {
                    self.pos += 1;
                    let escaped = self.peek().ok_or(PathSyntaxError::UnterminatedQuote)?;
                    out.push(escaped);
                    self.pos += 1;
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn filter_or(&mut self) -> Result<Filter, PathSyntaxError> {
        let mut parts = vec![self.filter_and()?];
        loop {
            self.skip_ws();
            if !self.eat("||") {
                break;
            }
            parts.push(self.filter_and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }

    fn filter_and(&mut self) -> Result<Filter, PathSyntaxError> {
        let mut parts = vec![self.filter_unary()?];
        loop {
            self.skip_ws();
            if !self.eat("&&") {
                break;
            }
            parts.push(self.filter_unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn filter_unary(&mut self) -> Result<Filter, PathSyntaxError> {
        self.skip_ws();
        if self.peek_is("!") && !self.peek_is("!=") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.filter_unary()?)));
        }
        if self.eat("(") {
            let inner = self.filter_or()?;
            self.skip_ws();
            self.expect(")")?;
            return Ok(inner);
        }
        let left = self.operand()?;
        self.skip_ws();
        let op = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ]
        .into_iter()
        .find(|(token, _)| self.peek_is(token));
        match op {
            Some((token, op)) => {
                self.eat(token);
                self.skip_ws();
                let right = self.operand()?;
                Ok(Filter::Compare(left, op, right))
            }
            None => Ok(Filter::Truthy(left)),
        }
    }

    fn operand(&mut self) -> Result<Operand, PathSyntaxError> {
        self.skip_ws();
        match self.peek() {
            Some('@') => {
                self.pos += 1;
                Ok(Operand::Current(self.segments(true)?))
            }
            Some('\'') | Some('"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || ".eE+-".contains(c))
                {
                    self.pos += 1;
                }
                let text: String = self
                    .chars
                    .get(start..self.pos)
                    .unwrap_or_default()
                    .iter()
                    .collect();
                match serde_json::from_str::<Number>(&text) {
                    Ok(number) => Ok(Operand::Literal(Value::Number(number))),
                    Err(_) => Err(PathSyntaxError::InvalidNumber { text }),
                }
            }
            _ => {
                for (word, value) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.eat(word) {
                        return Ok(Operand::Literal(value));
                    }
                }
                Err(PathSyntaxError::ExpectedOperand {
                    found: self.remaining(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn select(path: &str, input: &Value) -> Result<Value, PathError> {
        Path::parse(path).unwrap().select(input, &Value::Null)
    }

    fn store() -> Value {
        json!({
            "store": {
                "book": [
                    {"category": "reference", "author": "Nigel Rees", "title": "Sayings", "price": 8.95},
                    {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword", "price": 12.99},
                    {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553", "price": 8.99},
                    {"category": "fiction", "author": "J. R. R. Tolkien", "title": "LOTR", "isbn": "0-395", "price": 22.99}
                ],
                "bicycle": {"color": "red", "price": 19.95}
            },
            "odd key": {"a.b": 1}
        })
    }

    #[test]
    fn definite_paths_select_single_nodes() {
        let input = store();
        assert_eq!(select("$", &input).unwrap(), input);
        assert_eq!(
            select("$.store.bicycle.color", &input).unwrap(),
            json!("red")
        );
        assert_eq!(
            select("$.store.book[0].price", &input).unwrap(),
            json!(8.95)
        );
        assert_eq!(
            select("$.store.book[-1].title", &input).unwrap(),
            json!("LOTR")
        );
        assert_eq!(select("$['odd key']['a.b']", &input).unwrap(), json!(1));
        assert_eq!(
            select("$[\"store\"].bicycle[\"price\"]", &input).unwrap(),
            json!(19.95)
        );
    }

    #[test]
    fn missing_definite_path_is_an_error() {
        let err = select("$.store.car", &store()).unwrap_err();
        assert_eq!(
            err,
            PathError::NoMatch {
                text: "$.store.car".to_owned(),
                root: Root::Input
            }
        );
        assert_eq!(
            err.to_string(),
            "path `$.store.car` does not match anything in the input"
        );
        let err = Path::parse("$$.nope")
            .unwrap()
            .select(&json!({}), &json!({}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "path `$$.nope` does not match anything in the context object"
        );
        assert!(select("$.store.book[9]", &store()).is_err());
        assert!(select("$.store.bicycle.color.shade", &store()).is_err());
    }

    #[test]
    fn indefinite_paths_return_arrays() {
        let input = store();
        assert_eq!(
            select("$.store.book[*].author", &input).unwrap(),
            json!([
                "Nigel Rees",
                "Evelyn Waugh",
                "Herman Melville",
                "J. R. R. Tolkien"
            ])
        );
        assert_eq!(
            select("$..isbn", &input).unwrap(),
            json!(["0-553", "0-395"])
        );
        assert_eq!(
            select("$.store.book[0,2].title", &input).unwrap(),
            json!(["Sayings", "Moby Dick"])
        );
        assert_eq!(
            select("$.store.book[1:3].title", &input).unwrap(),
            json!(["Sword", "Moby Dick"])
        );
        assert_eq!(
            select("$.store.book[::2].title", &input).unwrap(),
            json!(["Sayings", "Moby Dick"])
        );
        assert_eq!(
            select("$.store.book[-1:].title", &input).unwrap(),
            json!(["LOTR"])
        );
        assert_eq!(select("$.nothing[*]", &input).unwrap(), json!([]));
        assert_eq!(
            select("$..price", &input)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            5
        );
    }

    #[test]
    fn filters_select_matching_children() {
        let input = store();
        assert_eq!(
            select("$.store.book[?(@.price < 10)].title", &input).unwrap(),
            json!(["Sayings", "Moby Dick"])
        );
        assert_eq!(
            select("$.store.book[?(@.isbn)].title", &input).unwrap(),
            json!(["Moby Dick", "LOTR"])
        );
        assert_eq!(
            select(
                "$.store.book[?(@.category == 'fiction' && !(@.price > 20))].title",
                &input
            )
            .unwrap(),
            json!(["Sword", "Moby Dick"])
        );
        assert_eq!(
            select(
                "$.store.book[?(@.price >= 22.99 || @.author == \"Nigel Rees\")].title",
                &input
            )
            .unwrap(),
            json!(["Sayings", "LOTR"])
        );
    }

    #[test]
    fn context_paths_read_the_context_object() {
        let ctx = json!({"Execution": {"Name": "run-1"}});
        let path = Path::parse("$$.Execution.Name").unwrap();
        assert_eq!(path.root(), Root::Context);
        assert_eq!(path.select(&json!({}), &ctx).unwrap(), json!("run-1"));
    }

    #[test]
    fn malformed_paths_are_rejected() {
        for bad in [
            "foo",
            "$.",
            "$[",
            "$.a[1",
            "$.a[?(@.b ==)]",
            "$.a[0:5:0]",
            "$x",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad} should not parse");
        }
        assert_eq!(
            Path::parse_reference("$.a[*]").unwrap_err(),
            PathError::NotReference {
                text: "$.a[*]".to_owned()
            }
        );
        assert!(Path::parse_reference("$..a").is_err());
        assert!(Path::parse_reference("$.a[0].b").is_ok());
    }

    #[test]
    fn syntax_errors_say_what_and_where() {
        let err = Path::parse("$.a[1").unwrap_err();
        assert_eq!(
            err,
            PathError::Syntax {
                text: "$.a[1".to_owned(),
                position: 5,
                reason: PathSyntaxError::ExpectedAtEnd { expected: "]" },
            }
        );
        assert_eq!(
            err.to_string(),
            "invalid path `$.a[1`: expected `]`, found the end"
        );
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("expected `]`, found the end"));

        let err = Path::parse("$$.x[?y]").unwrap_err();
        assert!(
            matches!(
                err,
                PathError::Syntax {
                    position: 6,
                    reason: PathSyntaxError::Expected {
                        expected: "(",
                        found: 'y'
                    },
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            Path::parse("$x").unwrap_err().to_string(),
            "invalid path `$x`: unexpected `x`"
        );
        assert_eq!(
            Path::parse("foo").unwrap_err().to_string(),
            "path `foo` must start with `$` or `$$`"
        );
    }

    #[test]
    fn set_creates_intermediate_objects() {
        let mut target = json!({"keep": 1});
        Path::parse("$.a.b")
            .unwrap()
            .set(&mut target, json!(2))
            .unwrap();
        assert_eq!(target, json!({"keep": 1, "a": {"b": 2}}));

        let mut list = json!({"xs": [1, 2, 3]});
        Path::parse("$.xs[-1]")
            .unwrap()
            .set(&mut list, json!(9))
            .unwrap();
        assert_eq!(list, json!({"xs": [1, 2, 9]}));

        let mut whole = json!({"x": 1});
        Path::parse("$")
            .unwrap()
            .set(&mut whole, json!("replaced"))
            .unwrap();
        assert_eq!(whole, json!("replaced"));
    }

    #[test]
    fn set_into_a_scalar_fails() {
        let mut target = json!({"a": "text"});
        let err = Path::parse("$.a.b")
            .unwrap()
            .set(&mut target, json!(1))
            .unwrap_err();
        assert_eq!(
            err,
            PathError::NotAContainer {
                text: "$.a.b".to_owned(),
                field: "b".to_owned(),
                found: "a string"
            }
        );
        assert_eq!(
            err.to_string(),
            "cannot apply ResultPath `$.a.b`: `b` would have to be set inside a string, which is not a container of that kind"
        );
        let mut list = json!([1]);
        let err = Path::parse("$[-2]")
            .unwrap()
            .set(&mut list, json!(1))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot apply ResultPath `$[-2]`: index -2 is out of bounds for an array of 1"
        );
        let mut scalar = json!(5);
        assert!(
            Path::parse("$.a")
                .unwrap()
                .set(&mut scalar, json!(1))
                .is_err()
        );
    }

    #[test]
    fn numbers_compare_exactly_when_integral() {
        let big: Number = 9_007_199_254_740_993_u64.into();
        let bigger: Number = 9_007_199_254_740_994_u64.into();
        assert_eq!(compare_numbers(&big, &bigger), Some(Ordering::Less));
        let one: Number = 1.into();
        let one_f = Number::from_f64(1.0).unwrap();
        assert_eq!(compare_numbers(&one, &one_f), Some(Ordering::Equal));
    }
}

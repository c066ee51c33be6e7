//! Intrinsic functions (`States.Format('{}', $.x)` and friends): parsed once when the
//! definition is loaded, so that typos and wrong argument counts are definition errors
//! rather than surprises at run time.
//!
//! Supported: `States.Format`, `States.StringToJson`, `States.JsonToString`,
//! `States.Array`, `States.ArrayPartition`, `States.ArrayContains`, `States.ArrayRange`,
//! `States.ArrayGetItem`, `States.ArrayLength`, `States.ArrayUnique`,
//! `States.Base64Encode`, `States.Base64Decode`, `States.JsonMerge` (shallow, as on
//! AWS), `States.MathRandom`, `States.MathAdd`, `States.StringSplit`, `States.UUID`.
//! `States.Hash` is rejected at parse time: it needs digest implementations this crate
//! does not carry.

use serde_json::{Map, Number, Value};
use thiserror::Error;

use crate::path::{ContextSource, Path, PathError, compare_numbers, type_name};
use crate::rand;

/// AWS caps `States.ArrayRange` output at this many items.
const MAX_RANGE_ITEMS: usize = 1000;

/// Why an intrinsic function call could not be parsed (a definition error) or failed when
/// evaluated (a `States.IntrinsicFailure`).
#[derive(Debug, Error)]
pub(crate) enum IntrinsicError {
    /// [`Call::parse`] rejected the text.
    #[error("invalid intrinsic function `{text}`: {reason}")]
    Invalid {
        text: String,
        #[source]
        reason: IntrinsicSyntaxError,
    },

    /// [`Call::eval`] of `func` failed.
    #[error("{func}: {reason}")]
    Failed {
        /// The function's name, e.g. `States.Format`.
        func: &'static str,
        #[source]
        reason: IntrinsicEvalError,
    },
}

/// What is wrong with an intrinsic call's text, without the text itself (see
/// [`IntrinsicError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum IntrinsicSyntaxError {
    #[error("`{name}` is not supported by the local ASL interpreter")]
    Unsupported { name: &'static str },
    #[error("unknown intrinsic function `{name}`")]
    Unknown { name: String },
    #[error("expected `(` after `{func}`")]
    ExpectedOpenParen { func: &'static str },
    #[error("expected `,` or `)` in the arguments of `{func}`")]
    ExpectedCommaOrClose { func: &'static str },
    #[error("`{func}` takes {} argument(s), got {got}", arity_text(*.min, *.max))]
    Arity {
        func: &'static str,
        min: usize,
        max: Option<usize>,
        got: usize,
    },
    /// A literal `States.Format` template whose `{}` count differs from its values'.
    #[error(
        "the `States.Format` template has {slots} `{{}}` placeholder(s) but {values} value(s) follow it"
    )]
    FormatPlaceholders { slots: usize, values: usize },
    #[error("`{text}` is not a number")]
    InvalidNumber { text: String },
    #[error("unexpected argument starting at `{found}`")]
    UnexpectedArgument { found: String },
    #[error("unterminated string literal")]
    UnterminatedString,
    #[error("a backslash must escape one of ' {{ }} \\ in a string literal")]
    InvalidEscape,
    #[error("unexpected text after the closing `)`")]
    Trailing,
    /// A path argument does not parse.
    #[error("{0}")]
    Path(#[from] PathError),
}

/// Why evaluating one intrinsic function failed (see [`IntrinsicError::Failed`]).
#[derive(Debug, Error)]
pub(crate) enum IntrinsicEvalError {
    /// A path argument selected nothing.
    #[error("{0}")]
    Path(#[from] PathError),
    /// A nested call failed.
    #[error("{0}")]
    Nested(#[source] Box<IntrinsicError>),
    #[error("{what} must be a string, not {found}")]
    NotAString {
        what: &'static str,
        found: &'static str,
    },
    #[error("{what} must be an array, not {found}")]
    NotAnArray {
        what: &'static str,
        found: &'static str,
    },
    #[error("{what} must be a number, not {found}")]
    NotANumber {
        what: &'static str,
        found: &'static str,
    },
    #[error("{what} is not a representable number")]
    Unrepresentable { what: &'static str },
    #[error("{what} ({number}) is out of the 64-bit integer range")]
    OutOfRange { what: &'static str, number: Number },
    #[error("wrong number of arguments")]
    ArgumentCount,
    #[error("argument is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("{0}")]
    ToJson(#[source] serde_json::Error),
    #[error("chunk size must be a positive integer")]
    ChunkSize,
    #[error("index {index} is out of bounds for an array of {len}")]
    IndexOutOfBounds { index: i64, len: usize },
    #[error("step must not be zero")]
    ZeroStep,
    #[error("the range would exceed {max} items", max = MAX_RANGE_ITEMS)]
    RangeTooLong,
    #[error("too much `=` padding")]
    Base64Padding,
    #[error("`{found}` is not a base64 character")]
    Base64Char { found: char },
    #[error("truncated base64 input")]
    Base64Truncated,
    #[error("decoded data is not valid UTF-8")]
    NotUtf8,
    #[error("the first two arguments must be objects")]
    MergeNotObjects,
    #[error("only shallow merging is supported: the third argument must be false")]
    DeepMerge,
    #[error("the sum overflows a 64-bit integer")]
    Overflow,
    #[error("a template argument is required")]
    MissingTemplate,
    #[error("the template must be a string, not {found}")]
    TemplateNotAString { found: &'static str },
    #[error("the template has {slots} `{{}}` placeholder(s) but {values} value(s) were given")]
    FormatPlaceholders { slots: usize, values: usize },
    #[error("too few values for the template")]
    TooFewValues,
    #[error("values must be strings, numbers, booleans or null, not {found}")]
    Unformattable { found: &'static str },
}

/// `1`, `2 to 3` or `at least 1`: an argument count as [`IntrinsicSyntaxError::Arity`]
/// shows it.
fn arity_text(min: usize, max: Option<usize>) -> String {
    match max {
        Some(m) if m == min => format!("{min}"),
        Some(m) => format!("{min} to {m}"),
        None => format!("at least {min}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    const ALL: [(&'static str, Func); 17] = [
        ("States.Format", Func::Format),
        ("States.StringToJson", Func::StringToJson),
        ("States.JsonToString", Func::JsonToString),
        ("States.Array", Func::Array),
        ("States.ArrayPartition", Func::ArrayPartition),
        ("States.ArrayContains", Func::ArrayContains),
        ("States.ArrayRange", Func::ArrayRange),
        ("States.ArrayGetItem", Func::ArrayGetItem),
        ("States.ArrayLength", Func::ArrayLength),
        ("States.ArrayUnique", Func::ArrayUnique),
        ("States.Base64Encode", Func::Base64Encode),
        ("States.Base64Decode", Func::Base64Decode),
        ("States.JsonMerge", Func::JsonMerge),
        ("States.MathRandom", Func::MathRandom),
        ("States.MathAdd", Func::MathAdd),
        ("States.StringSplit", Func::StringSplit),
        ("States.UUID", Func::Uuid),
    ];

    fn lookup(name: &str) -> Result<Func, IntrinsicSyntaxError> {
        const HASH: &str = "States.Hash";
        if name == HASH {
            return Err(IntrinsicSyntaxError::Unsupported { name: HASH });
        }
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| IntrinsicSyntaxError::Unknown {
                name: name.to_owned(),
            })
    }

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("States.?", |(n, _)| n)
    }

    /// (minimum, maximum) argument count; `None` means unbounded.
    fn arity(self) -> (usize, Option<usize>) {
        match self {
            Func::Format => (1, None),
            Func::Array => (0, None),
            Func::Uuid => (0, Some(0)),
            Func::StringToJson
            | Func::JsonToString
            | Func::ArrayLength
            | Func::ArrayUnique
            | Func::Base64Encode
            | Func::Base64Decode => (1, Some(1)),
            Func::ArrayPartition
            | Func::ArrayContains
            | Func::ArrayGetItem
            | Func::MathAdd
            | Func::StringSplit => (2, Some(2)),
            Func::ArrayRange | Func::JsonMerge => (3, Some(3)),
            Func::MathRandom => (2, Some(3)),
        }
    }
}

#[derive(Debug, Clone)]
enum Arg {
    /// A quoted literal. `raw` keeps the escapes so `States.Format` can tell an escaped
    /// `\{` from a placeholder `{}`.
    Str {
        value: String,
        raw: String,
    },
    Literal(Value),
    Path(Path),
    Call(Box<Call>),
}

/// A parsed intrinsic function invocation.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    func: Func,
    args: Vec<Arg>,
}

/// Whether a `.$` value is an intrinsic call rather than a path.
pub(crate) fn looks_like_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

impl Call {
    pub(crate) fn parse(text: &str) -> Result<Call, IntrinsicError> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        let parsed = parser.call().and_then(|call| {
            parser.skip_ws();
            if parser.pos < parser.chars.len() {
                Err(IntrinsicSyntaxError::Trailing)
            } else {
                Ok(call)
            }
        });
        parsed.map_err(|reason| IntrinsicError::Invalid {
            text: text.to_owned(),
            reason,
        })
    }

    /// Evaluates the call; an `Err` is always [`IntrinsicError::Failed`], the cause of a
    /// `States.IntrinsicFailure`.
    pub(crate) fn eval(
        &self,
        input: &Value,
        ctx: &dyn ContextSource,
    ) -> Result<Value, IntrinsicError> {
        self.eval_inner(input, ctx)
            .map_err(|reason| IntrinsicError::Failed {
                func: self.func.name(),
                reason,
            })
    }

    fn eval_inner(
        &self,
        input: &Value,
        ctx: &dyn ContextSource,
    ) -> Result<Value, IntrinsicEvalError> {
        if self.func == Func::Format {
            return self.format(input, ctx);
        }
        let args = self
            .args
            .iter()
            .map(|a| a.eval(input, ctx))
            .collect::<Result<Vec<_>, _>>()?;
        match (self.func, args.as_slice()) {
            (Func::StringToJson, [text]) => {
                let text = string_arg(text, "argument")?;
                serde_json::from_str(text).map_err(IntrinsicEvalError::NotJson)
            }
            (Func::JsonToString, [value]) => serde_json::to_string(value)
                .map(Value::String)
                .map_err(IntrinsicEvalError::ToJson),
            (Func::Array, _) => Ok(Value::Array(args)),
            (Func::ArrayPartition, [array, size]) => {
                let array = array_arg(array, "first argument")?;
                let size = int_arg(size, "chunk size")?;
                let size = usize::try_from(size)
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or(IntrinsicEvalError::ChunkSize)?;
                Ok(Value::Array(
                    array
                        .chunks(size)
                        .map(|c| Value::Array(c.to_vec()))
                        .collect(),
                ))
            }
            (Func::ArrayContains, [array, needle]) => {
                let array = array_arg(array, "first argument")?;
                Ok(Value::Bool(array.iter().any(|v| json_equal(v, needle))))
            }
            (Func::ArrayRange, [start, end, step]) => array_range(
                int_arg(start, "start")?,
                int_arg(end, "end")?,
                int_arg(step, "step")?,
            ),
            (Func::ArrayGetItem, [array, index]) => {
                let array = array_arg(array, "first argument")?;
                let index = int_arg(index, "index")?;
                usize::try_from(index)
                    .ok()
                    .and_then(|i| array.get(i))
                    .cloned()
                    .ok_or(IntrinsicEvalError::IndexOutOfBounds {
                        index,
                        len: array.len(),
                    })
            }
            (Func::ArrayLength, [array]) => Ok(Value::from(array_arg(array, "argument")?.len())),
            (Func::ArrayUnique, [array]) => {
                let mut unique: Vec<Value> = Vec::new();
                for item in array_arg(array, "argument")? {
                    if !unique.iter().any(|u| json_equal(u, item)) {
                        unique.push(item.clone());
                    }
                }
                Ok(Value::Array(unique))
            }
            (Func::Base64Encode, [text]) => Ok(Value::String(base64_encode(
                string_arg(text, "argument")?.as_bytes(),
            ))),
            (Func::Base64Decode, [text]) => {
                let bytes = base64_decode(string_arg(text, "argument")?)?;
                String::from_utf8(bytes)
                    .map(Value::String)
                    .map_err(|_| IntrinsicEvalError::NotUtf8)
            }
            (Func::JsonMerge, [left, right, deep]) => {
                let (Value::Object(left), Value::Object(right)) = (left, right) else {
                    return Err(IntrinsicEvalError::MergeNotObjects);
                };
                if deep != &Value::Bool(false) {
                    return Err(IntrinsicEvalError::DeepMerge);
                }
                let mut merged: Map<String, Value> = left.clone();
                merged.extend(right.iter().map(|(k, v)| (k.clone(), v.clone())));
                Ok(Value::Object(merged))
            }
            (Func::MathRandom, [start, end, rest @ ..]) => {
                let start = int_arg(start, "start")?;
                let end = int_arg(end, "end")?;
                let random = match rest {
                    [seed] => {
                        rand::seeded_u64(u64::from_ne_bytes(int_arg(seed, "seed")?.to_ne_bytes()))
                    }
                    _ => rand::next_u64(),
                };
                Ok(Value::from(rand::in_range(start, end, random)))
            }
            (Func::MathAdd, [a, b]) => int_arg(a, "first argument")?
                .checked_add(int_arg(b, "second argument")?)
                .map(Value::from)
                .ok_or(IntrinsicEvalError::Overflow),
            (Func::StringSplit, [text, delimiters]) => {
                let text = string_arg(text, "first argument")?;
                let delimiters = string_arg(delimiters, "second argument")?;
                Ok(Value::Array(
                    text.split(|c| delimiters.contains(c))
                        .filter(|part| !part.is_empty())
                        .map(|part| Value::String(part.to_owned()))
                        .collect(),
                ))
            }
            (Func::Uuid, []) => Ok(Value::String(rand::uuid_v4())),
            _ => Err(IntrinsicEvalError::ArgumentCount),
        }
    }

    fn format(&self, input: &Value, ctx: &dyn ContextSource) -> Result<Value, IntrinsicEvalError> {
        let Some((template, rest)) = self.args.split_first() else {
            return Err(IntrinsicEvalError::MissingTemplate);
        };
        let pieces = match template {
            Arg::Str { raw, .. } => format_pieces(raw, true),
            other => match other.eval(input, ctx)? {
                Value::String(text) => format_pieces(&text, false),
                found => {
                    return Err(IntrinsicEvalError::TemplateNotAString {
                        found: type_name(&found),
                    });
                }
            },
        };
        let slots = pieces.iter().filter(|p| matches!(p, Piece::Slot)).count();
        if slots != rest.len() {
            return Err(IntrinsicEvalError::FormatPlaceholders {
                slots,
                values: rest.len(),
            });
        }
        let mut values = rest.iter();
        let mut out = String::new();
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.push_str(&text),
                Piece::Slot => {
                    let Some(arg) = values.next() else {
                        return Err(IntrinsicEvalError::TooFewValues);
                    };
                    match arg.eval(input, ctx)? {
                        Value::String(s) => out.push_str(&s),
                        v @ (Value::Number(_) | Value::Bool(_) | Value::Null) => {
                            out.push_str(&v.to_string());
                        }
                        v => {
                            return Err(IntrinsicEvalError::Unformattable {
                                found: type_name(&v),
                            });
                        }
                    }
                }
            }
        }
        Ok(Value::String(out))
    }
}

impl Arg {
    fn eval(&self, input: &Value, ctx: &dyn ContextSource) -> Result<Value, IntrinsicEvalError> {
        match self {
            Arg::Str { value, .. } => Ok(Value::String(value.clone())),
            Arg::Literal(value) => Ok(value.clone()),
            Arg::Path(path) => Ok(path.select(input, ctx)?),
            Arg::Call(call) => call
                .eval(input, ctx)
                .map_err(|e| IntrinsicEvalError::Nested(Box::new(e))),
        }
    }
}

enum Piece {
    Text(String),
    Slot,
}

/// Splits a `States.Format` template into literal text and `{}` slots. Backslash escapes
/// only apply to templates written as literals in the definition; a template read from
/// the input is used verbatim apart from its `{}` slots.
fn format_pieces(template: &str, escaped: bool) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if escaped => {
                if let Some(next) = chars.next() {
                    text.push(next);
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                pieces.push(Piece::Text(std::mem::take(&mut text)));
                pieces.push(Piece::Slot);
            }
            other => text.push(other),
        }
    }
    pieces.push(Piece::Text(text));
    pieces
}

fn string_arg<'v>(value: &'v Value, what: &'static str) -> Result<&'v str, IntrinsicEvalError> {
    value.as_str().ok_or(IntrinsicEvalError::NotAString {
        what,
        found: type_name(value),
    })
}

fn array_arg<'v>(
    value: &'v Value,
    what: &'static str,
) -> Result<&'v Vec<Value>, IntrinsicEvalError> {
    value.as_array().ok_or(IntrinsicEvalError::NotAnArray {
        what,
        found: type_name(value),
    })
}

/// Integers pass through; other numbers are rounded half-up as Step Functions (Java's
/// `Math.round`) does.
fn int_arg(value: &Value, what: &'static str) -> Result<i64, IntrinsicEvalError> {
    let Value::Number(n) = value else {
        return Err(IntrinsicEvalError::NotANumber {
            what,
            found: type_name(value),
        });
    };
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    let f = n
        .as_f64()
        .ok_or(IntrinsicEvalError::Unrepresentable { what })?;
    let rounded = (f + 0.5).floor();
    if rounded.is_finite() && rounded >= i64::MIN as f64 && rounded < i64::MAX as f64 {
        Ok(rounded as i64)
    } else {
        Err(IntrinsicEvalError::OutOfRange {
            what,
            number: n.clone(),
        })
    }
}

fn array_range(start: i64, end: i64, step: i64) -> Result<Value, IntrinsicEvalError> {
    if step == 0 {
        return Err(IntrinsicEvalError::ZeroStep);
    }
    let mut out = Vec::new();
    let mut current = start;
    while (step > 0 && current <= end) || (step < 0 && current >= end) {
        if out.len() == MAX_RANGE_ITEMS {
            return Err(IntrinsicEvalError::RangeTooLong);
        }
        out.push(Value::from(current));
        match current.checked_add(step) {
            Some(next) => current = next,
            None => break,
        }
    }
    Ok(Value::Array(out))
}

/// JSON equality where `1` and `1.0` are equal, as a JSON reader would expect.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            compare_numbers(x, y) == Some(std::cmp::Ordering::Equal)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(l, r)| json_equal(l, r))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|other| json_equal(v, other)))
        }
        _ => a == b,
    }
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, s) in sextets.iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(BASE64_ALPHABET[*s as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Result<Vec<u8>, IntrinsicEvalError> {
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 {
        return Err(IntrinsicEvalError::Base64Padding);
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for c in trimmed.bytes() {
        let value =
            BASE64_ALPHABET
                .iter()
                .position(|a| *a == c)
                .ok_or(IntrinsicEvalError::Base64Char {
                    found: char::from(c),
                })?;
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    if trimmed.len() % 4 == 1 {
        return Err(IntrinsicEvalError::Base64Truncated);
    }
    Ok(out)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn rest_starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn slice(&self, start: usize) -> String {
        self.chars
            .get(start..self.pos)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    fn call(&mut self) -> Result<Call, IntrinsicSyntaxError> {
        self.skip_ws();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            self.pos += 1;
        }
        let func = Func::lookup(&self.slice(start))?;
        self.skip_ws();
        if !self.eat('(') {
            return Err(IntrinsicSyntaxError::ExpectedOpenParen { func: func.name() });
        }
        let mut args = Vec::new();
        self.skip_ws();
        if !self.eat(')') {
            loop {
                args.push(self.arg()?);
                self.skip_ws();
                if self.eat(',') {
                    continue;
                }
                if self.eat(')') {
                    break;
                }
                return Err(IntrinsicSyntaxError::ExpectedCommaOrClose { func: func.name() });
            }
        }
        let (min, max) = func.arity();
        if args.len() < min || max.is_some_and(|m| args.len() > m) {
            return Err(IntrinsicSyntaxError::Arity {
                func: func.name(),
                min,
                max,
                got: args.len(),
            });
        }
        if let (Func::Format, Some(Arg::Str { raw, .. })) = (func, args.first()) {
            let slots = format_pieces(raw, true)
                .iter()
                .filter(|p| matches!(p, Piece::Slot))
                .count();
            if slots != args.len() - 1 {
                return Err(IntrinsicSyntaxError::FormatPlaceholders {
                    slots,
                    values: args.len() - 1,
                });
            }
        }
        Ok(Call { func, args })
    }

    fn arg(&mut self) -> Result<Arg, IntrinsicSyntaxError> {
        self.skip_ws();
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => self.path(),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || ".eE+-".contains(c))
                {
                    self.pos += 1;
                }
                let text = self.slice(start);
                match serde_json::from_str::<Number>(&text) {
                    Ok(n) => Ok(Arg::Literal(Value::Number(n))),
                    Err(_) => Err(IntrinsicSyntaxError::InvalidNumber { text }),
                }
            }
            _ if self.rest_starts_with("States.") => Ok(Arg::Call(Box::new(self.call()?))),
            _ => {
                for (word, value) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.rest_starts_with(word) {
                        self.pos += word.len();
                        return Ok(Arg::Literal(value));
                    }
                }
                Err(IntrinsicSyntaxError::UnexpectedArgument {
                    found: self
                        .chars
                        .get(self.pos..)
                        .unwrap_or_default()
                        .iter()
                        .collect(),
                })
            }
        }
    }

    fn string(&mut self) -> Result<Arg, IntrinsicSyntaxError> {
        self.pos += 1;
        let mut value = String::new();
        let mut raw = String::new();
        loop {
            match self.peek() {
                None => return Err(IntrinsicSyntaxError::UnterminatedString),
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('\'' | '{' | '}' | '\\')) => {
                            self.pos += 1;
                            raw.push('\\');
                            raw.push(c);
                            value.push(c);
                        }
                        _ => return Err(IntrinsicSyntaxError::InvalidEscape),
                    }
                }
                Some('\'') => {
                    self.pos += 1;
                    return Ok(Arg::Str { value, raw });
                }
                Some(c) => {
                    self.pos += 1;
                    raw.push(c);
                    value.push(c);
                }
            }
        }
    }

    /// A path argument runs to the next `,` or `)` outside brackets and quotes.
    fn path(&mut self) -> Result<Arg, IntrinsicSyntaxError> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            match (quote, c) {
                (Some(q), _) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') if depth > 0 => quote = Some(c),
                (None, '[') => depth += 1,
                (None, ']') => depth = depth.saturating_sub(1),
                (None, ',' | ')') if depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        let text = self.slice(start);
        Ok(Arg::Path(Path::parse(text.trim_end())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(text: &str, input: Value) -> Result<Value, IntrinsicError> {
        Call::parse(text)
            .unwrap()
            .eval(&input, &json!({"Execution": {"Name": "exec-1"}}))
    }

    #[test]
    fn format_interpolates_values() {
        let input = json!({"name": "Arnav", "n": 3, "template": "Hello {}!"});
        assert_eq!(
            eval(
                "States.Format('Hello, my name is {}.', $.name)",
                input.clone()
            )
            .unwrap(),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            eval("States.Format($.template, $.n)", input.clone()).unwrap(),
            json!("Hello 3!")
        );
        assert_eq!(
            eval(
                "States.Format('run {} of \\'{}\\' \\{x\\}', $.n, $$.Execution.Name)",
                input
            )
            .unwrap(),
            json!("run 3 of 'exec-1' {x}")
        );
    }

    #[test]
    fn format_checks_placeholder_count_at_parse_time() {
        let err = Call::parse("States.Format('{} and {}', $.a)").unwrap_err();
        assert!(
            matches!(
                err,
                IntrinsicError::Invalid {
                    reason: IntrinsicSyntaxError::FormatPlaceholders {
                        slots: 2,
                        values: 1
                    },
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("placeholder"), "{err}");
    }

    #[test]
    fn json_string_round_trip() {
        assert_eq!(
            eval(
                "States.StringToJson($.s)",
                json!({"s": "{\"foo\": \"bar\"}"})
            )
            .unwrap(),
            json!({"foo": "bar"})
        );
        assert_eq!(
            eval("States.JsonToString($.o)", json!({"o": {"foo": "bar"}})).unwrap(),
            json!("{\"foo\":\"bar\"}")
        );
        assert!(eval("States.StringToJson($.s)", json!({"s": "{nope"})).is_err());
    }

    #[test]
    fn array_functions() {
        let input = json!({"xs": [1, 2, 2, 3, 4], "id": 123456});
        assert_eq!(
            eval("States.Array($.id, 'a', 1.5, true, null)", input.clone()).unwrap(),
            json!([123456, "a", 1.5, true, null])
        );
        assert_eq!(eval("States.Array()", input.clone()).unwrap(), json!([]));
        assert_eq!(
            eval("States.ArrayLength($.xs)", input.clone()).unwrap(),
            json!(5)
        );
        assert_eq!(
            eval("States.ArrayGetItem($.xs, 3)", input.clone()).unwrap(),
            json!(3)
        );
        assert!(eval("States.ArrayGetItem($.xs, 9)", input.clone()).is_err());
        assert_eq!(
            eval("States.ArrayPartition($.xs, 2)", input.clone()).unwrap(),
            json!([[1, 2], [2, 3], [4]])
        );
        assert_eq!(
            eval("States.ArrayContains($.xs, 3)", input.clone()).unwrap(),
            json!(true)
        );
        assert_eq!(
            eval("States.ArrayContains($.xs, 9)", input.clone()).unwrap(),
            json!(false)
        );
        assert_eq!(
            eval("States.ArrayUnique($.xs)", input.clone()).unwrap(),
            json!([1, 2, 3, 4])
        );
        assert_eq!(
            eval("States.ArrayRange(1, 9, 2)", input.clone()).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            eval("States.ArrayRange(3, 1, -1)", input.clone()).unwrap(),
            json!([3, 2, 1])
        );
        assert!(eval("States.ArrayRange(1, 5000, 1)", input).is_err());
    }

    #[test]
    fn math_functions() {
        assert_eq!(
            eval("States.MathAdd($.a, -1)", json!({"a": 111})).unwrap(),
            json!(110)
        );
        assert_eq!(eval("States.MathAdd(1.5, 1)", json!({})).unwrap(), json!(3));
        let r = eval("States.MathRandom(1, 10)", json!({}))
            .unwrap()
            .as_i64()
            .unwrap();
        assert!((1..=10).contains(&r));
        assert_eq!(
            eval("States.MathRandom(1, 1000, 42)", json!({})).unwrap(),
            eval("States.MathRandom(1, 1000, 42)", json!({})).unwrap()
        );
    }

    #[test]
    fn string_and_encoding_functions() {
        assert_eq!(
            eval(
                "States.StringSplit($.s, '.+,=')",
                json!({"s": "This.is+a,test=string"})
            )
            .unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(
            eval("States.StringSplit('a,,b', ',')", json!({})).unwrap(),
            json!(["a", "b"])
        );
        assert_eq!(
            eval("States.Base64Encode('Data to encode')", json!({})).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            eval("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})).unwrap(),
            json!("Data to encode")
        );
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())).unwrap(),
                s.as_bytes()
            );
        }
        assert!(base64_decode("a$b=").is_err());
    }

    #[test]
    fn json_merge_is_shallow() {
        let input = json!({"a": {"x": 1, "n": {"k": 1}}, "b": {"y": 2, "n": {"j": 2}}});
        assert_eq!(
            eval("States.JsonMerge($.a, $.b, false)", input.clone()).unwrap(),
            json!({"x": 1, "y": 2, "n": {"j": 2}})
        );
        assert!(eval("States.JsonMerge($.a, $.b, true)", input).is_err());
    }

    #[test]
    fn uuid_and_nesting() {
        let id = eval("States.UUID()", json!({})).unwrap();
        assert_eq!(id.as_str().unwrap().len(), 36);
        let arn = "arn:aws:imagebuilder:us-east-1:123:image-recipe/my-recipe.v1/1.0.0";
        assert_eq!(
            eval(
                "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.Arn, '/'), 1), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.Arn, '/'), 1), '.'), 1))",
                json!({"Arn": arn})
            )
            .unwrap(),
            json!("my-recipe.v1")
        );
    }

    #[test]
    fn bad_calls_are_rejected_at_parse_time() {
        for bad in [
            "States.Nope()",
            "States.Hash($.a, 'SHA-256')",
            "States.ArrayLength()",
            "States.UUID(1)",
            "States.Format('x'",
            "States.Format('bad \\q escape')",
            "States.Array($.a) trailing",
            "States.Array($.a,)",
        ] {
            assert!(Call::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn paths_inside_arguments_may_contain_commas_in_brackets() {
        assert_eq!(
            eval(
                "States.Array($['a,b'], $.c[0])",
                json!({"a,b": 1, "c": [2]})
            )
            .unwrap(),
            json!([1, 2])
        );
    }
}

//! Choice rules: parsing (with the operator and operand type checks AWS performs when a
//! state machine is created) and evaluation against a state's effective input.
//!
//! Semantics worth knowing:
//! - A comparison whose `Variable` (or `…Path` operand) holds a value of the wrong type is
//!   simply false, as on AWS.
//! - A `Variable` that does not exist is a `States.Runtime` error, except for
//!   `IsPresent`, whose whole point is to test that.
//! - Timestamps are compared as instants (so `+02:00` offsets compare correctly), not as
//!   strings.

use std::cmp::Ordering;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::error::Fault;
use crate::path::{ContextSource, Path, PathError, compare_numbers};
use crate::timestamp;

/// Why a choice rule is invalid (a definition error).
#[derive(Debug, Clone, PartialEq, Error)]
pub(crate) enum ChoiceError {
    #[error("each entry of `Choices` must be an object")]
    NotAnObject,
    #[error("`Next` of a choice rule must be a string")]
    NextNotAString,
    #[error("a top-level choice rule needs a `Next`")]
    MissingNext,
    #[error("`Next` is only allowed on top-level choice rules, not inside And/Or/Not")]
    NestedNext,
    /// A JSONata or variables field (`Condition`, `Assign`).
    #[error("field `{key}` (JSONata / variables) is not supported by the local ASL interpreter")]
    Unsupported { key: String },
    #[error("unknown field `{key}` in a choice rule")]
    UnknownField { key: String },
    #[error("a choice rule needs exactly one comparison operator, And, Or or Not")]
    NoOperator,
    #[error(
        "a choice rule must have exactly one operator, found {}",
        .operators.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    )]
    SeveralOperators { operators: Vec<String> },
    /// `And`, `Or` or `Not` with a `Variable`.
    #[error("`{operator}` rules do not take a `Variable`")]
    VariableNotAllowed { operator: String },
    #[error("`{operator}` must be a non-empty array of rules")]
    EmptyCombination { operator: String },
    #[error("each entry of `{operator}` must be an object")]
    EntryNotAnObject { operator: String },
    #[error("`Not` must be a rule object")]
    NotNotAnObject,
    #[error("`Variable`: {0}")]
    Variable(#[source] PathError),
    #[error("`Variable` must be a string path")]
    VariableNotAString,
    #[error("`{operator}` needs a `Variable`")]
    MissingVariable { operator: String },
    #[error("`{operator}` must be true or false")]
    NotABoolean { operator: String },
    #[error("`StringMatches` needs a string pattern")]
    PatternNotAString,
    /// A `…Path` comparison whose operand is not a string.
    #[error("`{operator}` needs a string path")]
    OperandPathNotAString { operator: String },
    /// A `…Path` comparison whose operand does not parse.
    #[error("`{operator}`: {source}")]
    OperandPath {
        operator: String,
        #[source]
        source: PathError,
    },
    #[error("unknown choice operator `{name}`")]
    UnknownOperator { name: String },
    /// A literal comparison operand of the wrong type; `expected` says what it must be.
    #[error("`{operator}` must be {expected}, got {value}")]
    WrongOperandType {
        operator: String,
        expected: &'static str,
        value: Value,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeCheck {
    Null,
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone)]
enum Operand {
    Literal(Value),
    Path(Path),
}

#[derive(Debug, Clone)]
enum Test {
    Compare {
        kind: Kind,
        rel: Rel,
        operand: Operand,
    },
    Matches(Vec<PatternPart>),
    TypeIs {
        check: TypeCheck,
        expected: bool,
    },
    IsPresent(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternPart {
    Literal(String),
    Star,
}

#[derive(Debug, Clone)]
enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test { variable: Path, test: Test },
}

/// A top-level entry of `Choices`: a rule and where to go when it holds.
#[derive(Debug, Clone)]
pub(crate) struct ChoiceRule {
    rule: Rule,
    pub(crate) next: String,
}

const COMPARISONS: [(&str, Kind, Rel); 16] = [
    ("StringEquals", Kind::String, Rel::Eq),
    ("StringLessThan", Kind::String, Rel::Lt),
    ("StringGreaterThan", Kind::String, Rel::Gt),
    ("StringLessThanEquals", Kind::String, Rel::Le),
    ("StringGreaterThanEquals", Kind::String, Rel::Ge),
    ("NumericEquals", Kind::Numeric, Rel::Eq),
    ("NumericLessThan", Kind::Numeric, Rel::Lt),
    ("NumericGreaterThan", Kind::Numeric, Rel::Gt),
    ("NumericLessThanEquals", Kind::Numeric, Rel::Le),
    ("NumericGreaterThanEquals", Kind::Numeric, Rel::Ge),
    ("BooleanEquals", Kind::Boolean, Rel::Eq),
    ("TimestampEquals", Kind::Timestamp, Rel::Eq),
    ("TimestampLessThan", Kind::Timestamp, Rel::Lt),
    ("TimestampGreaterThan", Kind::Timestamp, Rel::Gt),
    ("TimestampLessThanEquals", Kind::Timestamp, Rel::Le),
    ("TimestampGreaterThanEquals", Kind::Timestamp, Rel::Ge),
];

const TYPE_CHECKS: [(&str, TypeCheck); 5] = [
    ("IsNull", TypeCheck::Null),
    ("IsString", TypeCheck::String),
    ("IsNumeric", TypeCheck::Numeric),
    ("IsBoolean", TypeCheck::Boolean),
    ("IsTimestamp", TypeCheck::Timestamp),
];

fn is_operator(key: &str) -> bool {
    matches!(key, "And" | "Or" | "Not" | "IsPresent" | "StringMatches")
        || TYPE_CHECKS.iter().any(|(n, _)| *n == key)
        || comparison(key.strip_suffix("Path").unwrap_or(key)).is_ok()
}

impl ChoiceRule {
    pub(crate) fn parse(value: &Value) -> Result<ChoiceRule, ChoiceError> {
        let map = value.as_object().ok_or(ChoiceError::NotAnObject)?;
        let next = match map.get("Next") {
            Some(Value::String(next)) => next.clone(),
            Some(_) => return Err(ChoiceError::NextNotAString),
            None => return Err(ChoiceError::MissingNext),
        };
        let rule = Rule::parse(map, true)?;
        Ok(ChoiceRule { rule, next })
    }

    /// Whether this rule holds for a Choice state's effective input.
    pub(crate) fn matches(&self, input: &Value, ctx: &dyn ContextSource) -> Result<bool, Fault> {
        self.rule.eval(input, ctx)
    }
}

impl Rule {
    fn parse(map: &Map<String, Value>, top_level: bool) -> Result<Rule, ChoiceError> {
        for key in map.keys() {
            let known = is_operator(key)
                || key == "Variable"
                || key == "Comment"
                || (top_level && key == "Next");
            if known {
                continue;
            }
            return Err(match key.as_str() {
                "Next" => ChoiceError::NestedNext,
                "Condition" | "Assign" => ChoiceError::Unsupported { key: key.clone() },
                _ => ChoiceError::UnknownField { key: key.clone() },
            });
        }
        let operators: Vec<&String> = map.keys().filter(|k| is_operator(k)).collect();
        let operator = match operators.as_slice() {
            [one] => one.as_str(),
            [] => return Err(ChoiceError::NoOperator),
            many => {
                return Err(ChoiceError::SeveralOperators {
                    operators: many.iter().map(|k| (*k).clone()).collect(),
                });
            }
        };
        let value = map.get(operator).unwrap_or(&Value::Null);

        match operator {
            "And" | "Or" => {
                if map.contains_key("Variable") {
                    return Err(ChoiceError::VariableNotAllowed {
                        operator: operator.to_owned(),
                    });
                }
                let items = value.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
                    ChoiceError::EmptyCombination {
                        operator: operator.to_owned(),
                    }
                })?;
                let rules = items
                    .iter()
                    .map(|item| {
                        item.as_object()
                            .ok_or_else(|| ChoiceError::EntryNotAnObject {
                                operator: operator.to_owned(),
                            })
                            .and_then(|m| Rule::parse(m, false))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(if operator == "And" {
                    Rule::And(rules)
                } else {
                    Rule::Or(rules)
                });
            }
            "Not" => {
                if map.contains_key("Variable") {
                    return Err(ChoiceError::VariableNotAllowed {
                        operator: operator.to_owned(),
                    });
                }
                let inner = value.as_object().ok_or(ChoiceError::NotNotAnObject)?;
                return Ok(Rule::Not(Box::new(Rule::parse(inner, false)?)));
            }
            _ => {}
        }

        let variable = match map.get("Variable") {
            Some(Value::String(text)) => Path::parse(text).map_err(ChoiceError::Variable)?,
            Some(_) => return Err(ChoiceError::VariableNotAString),
            None => {
                return Err(ChoiceError::MissingVariable {
                    operator: operator.to_owned(),
                });
            }
        };

        let test = if operator == "IsPresent" {
            Test::IsPresent(bool_operand(operator, value)?)
        } else if let Some((_, check)) = TYPE_CHECKS.iter().find(|(n, _)| *n == operator) {
            Test::TypeIs {
                check: *check,
                expected: bool_operand(operator, value)?,
            }
        } else if operator == "StringMatches" {
            let pattern = value.as_str().ok_or(ChoiceError::PatternNotAString)?;
            Test::Matches(compile_pattern(pattern))
        } else if let Some(base) = operator.strip_suffix("Path") {
            let (_, kind, rel) = comparison(base)?;
            let text = value
                .as_str()
                .ok_or_else(|| ChoiceError::OperandPathNotAString {
                    operator: operator.to_owned(),
                })?;
            let path = Path::parse(text).map_err(|source| ChoiceError::OperandPath {
                operator: operator.to_owned(),
                source,
            })?;
            Test::Compare {
                kind,
                rel,
                operand: Operand::Path(path),
            }
        } else {
            let (_, kind, rel) = comparison(operator)?;
            let ok = match kind {
                Kind::String => value.is_string(),
                Kind::Numeric => value.is_number(),
                Kind::Boolean => value.is_boolean(),
                Kind::Timestamp => value.as_str().and_then(timestamp::parse).is_some(),
            };
            if !ok {
                let expected = match kind {
                    Kind::String => "a string",
                    Kind::Numeric => "a number",
                    Kind::Boolean => "a boolean",
                    Kind::Timestamp => "an RFC 3339 timestamp string such as 2016-03-14T01:59:00Z",
                };
                return Err(ChoiceError::WrongOperandType {
                    operator: operator.to_owned(),
                    expected,
                    value: value.clone(),
                });
            }
            Test::Compare {
                kind,
                rel,
                operand: Operand::Literal(value.clone()),
            }
        };
        Ok(Rule::Test { variable, test })
    }

    fn eval(&self, input: &Value, ctx: &dyn ContextSource) -> Result<bool, Fault> {
        match self {
            Rule::And(rules) => {
                for rule in rules {
                    if !rule.eval(input, ctx)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for rule in rules {
                    if rule.eval(input, ctx)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(rule) => Ok(!rule.eval(input, ctx)?),
            Rule::Test { variable, test } => {
                let found = variable.select(input, ctx);
                if let Test::IsPresent(expected) = test {
                    return Ok(found.is_ok() == *expected);
                }
                let value = found.map_err(|e| {
                    Fault::runtime(format!(
                        "invalid path `{}`: the choice state's condition path references an invalid value ({e})",
                        variable.text()
                    ))
                })?;
                test.eval(&value, input, ctx)
            }
        }
    }
}

impl Test {
    fn eval(&self, value: &Value, input: &Value, ctx: &dyn ContextSource) -> Result<bool, Fault> {
        Ok(match self {
            Test::IsPresent(expected) => *expected,
            Test::TypeIs { check, expected } => {
                let is = match check {
                    TypeCheck::Null => value.is_null(),
                    TypeCheck::String => value.is_string(),
                    TypeCheck::Numeric => value.is_number(),
                    TypeCheck::Boolean => value.is_boolean(),
                    TypeCheck::Timestamp => value.as_str().and_then(timestamp::parse).is_some(),
                };
                is == *expected
            }
            Test::Matches(pattern) => value.as_str().is_some_and(|s| wildcard_match(pattern, s)),
            Test::Compare { kind, rel, operand } => {
                let other = match operand {
                    Operand::Literal(v) => v.clone(),
                    Operand::Path(path) => path.select(input, ctx).map_err(|e| {
                        Fault::runtime(format!(
                            "invalid path `{}` in a choice rule comparison: {e}",
                            path.text()
                        ))
                    })?,
                };
                let ordering = match (kind, value, &other) {
                    (Kind::String, Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                    (Kind::Numeric, Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
                    (Kind::Boolean, Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
                    (Kind::Timestamp, Value::String(a), Value::String(b)) => {
                        match (timestamp::parse(a), timestamp::parse(b)) {
                            (Some(a), Some(b)) => Some(a.cmp(&b)),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                ordering.is_some_and(|o| match rel {
                    Rel::Eq => o == Ordering::Equal,
                    Rel::Lt => o == Ordering::Less,
                    Rel::Gt => o == Ordering::Greater,
                    Rel::Le => o != Ordering::Greater,
                    Rel::Ge => o != Ordering::Less,
                })
            }
        })
    }
}

fn comparison(name: &str) -> Result<(&'static str, Kind, Rel), ChoiceError> {
    COMPARISONS
        .iter()
        .find(|(n, _, _)| *n == name)
        .copied()
        .ok_or_else(|| ChoiceError::UnknownOperator {
            name: name.to_owned(),
        })
}

fn bool_operand(operator: &str, value: &Value) -> Result<bool, ChoiceError> {
    value.as_bool().ok_or_else(|| ChoiceError::NotABoolean {
        operator: operator.to_owned(),
    })
}

/// `*` matches any run of characters; `\*` is a literal star and `\\` a literal backslash.
fn compile_pattern(pattern: &str) -> Vec<PatternPart> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => literal.push(chars.next().unwrap_or('\\')),
            '*' => {
                if !literal.is_empty() {
                    parts.push(PatternPart::Literal(std::mem::take(&mut literal)));
                }
                if parts.last() != Some(&PatternPart::Star) {
                    parts.push(PatternPart::Star);
                }
            }
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        parts.push(PatternPart::Literal(literal));
    }
    parts
}

/// Greedy wildcard matching with single-star backtracking: linear in practice and never
/// exponential, whatever the pattern.
fn wildcard_match(pattern: &[PatternPart], text: &str) -> bool {
    let mut rest = text;
    let mut parts = pattern.iter().peekable();
    let mut anchored = true;
    while let Some(part) = parts.next() {
        match part {
            PatternPart::Star => anchored = false,
            PatternPart::Literal(lit) => {
                let is_last = parts.peek().is_none();
                if anchored {
                    match rest.strip_prefix(lit.as_str()) {
                        Some(after) => rest = after,
                        None => return false,
                    }
                } else if is_last {
                    return rest.ends_with(lit.as_str());
                } else {
                    match rest.find(lit.as_str()) {
                        Some(at) => rest = &rest[at + lit.len()..],
                        None => return false,
                    }
                }
                anchored = true;
            }
        }
    }
    !anchored || rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> Rule {
        Rule::parse(v.as_object().unwrap(), false).unwrap()
    }

    fn holds(r: Value, input: Value) -> bool {
        rule(r).eval(&input, &Value::Null).unwrap()
    }

    #[test]
    fn string_comparisons() {
        let input = json!({"s": "banana"});
        assert!(holds(
            json!({"Variable": "$.s", "StringEquals": "banana"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.s", "StringLessThan": "cherry"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.s", "StringGreaterThan": "apple"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.s", "StringLessThanEquals": "banana"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.s", "StringGreaterThanEquals": "banana"}),
            input.clone()
        ));
        assert!(!holds(
            json!({"Variable": "$.s", "StringEquals": "Banana"}),
            input
        ));
    }

    #[test]
    fn numeric_boolean_and_path_comparisons() {
        let input = json!({"n": 5, "limit": 10, "f": 5.0, "flag": true, "other": "x"});
        assert!(holds(
            json!({"Variable": "$.n", "NumericEquals": 5}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.f", "NumericEquals": 5}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.n", "NumericLessThanPath": "$.limit"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.n", "NumericGreaterThanEquals": 5}),
            input.clone()
        ));
        assert!(!holds(
            json!({"Variable": "$.n", "NumericGreaterThan": 5}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.flag", "BooleanEquals": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.other", "StringEqualsPath": "$.other"}),
            input.clone()
        ));
        // Type mismatch is false, not an error.
        assert!(!holds(
            json!({"Variable": "$.other", "NumericEquals": 5}),
            input
        ));
    }

    #[test]
    fn timestamps_compare_as_instants() {
        let input = json!({"t": "2024-01-01T12:00:00+02:00", "bad": "soon"});
        assert!(holds(
            json!({"Variable": "$.t", "TimestampEquals": "2024-01-01T10:00:00Z"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.t", "TimestampLessThan": "2024-01-01T10:00:01Z"}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.t", "TimestampGreaterThan": "2023-12-31T23:59:59Z"}),
            input.clone()
        ));
        assert!(!holds(
            json!({"Variable": "$.bad", "TimestampGreaterThan": "2023-12-31T23:59:59Z"}),
            input
        ));
        assert!(
            Rule::parse(
                json!({"Variable": "$.t", "TimestampEquals": "tomorrow"})
                    .as_object()
                    .unwrap(),
                false
            )
            .is_err()
        );
    }

    #[test]
    fn type_tests_and_presence() {
        let input = json!({"n": null, "s": "x", "i": 1, "b": false, "t": "2016-03-14T01:59:00Z"});
        assert!(holds(
            json!({"Variable": "$.n", "IsNull": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.s", "IsString": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.i", "IsNumeric": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.b", "IsBoolean": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.t", "IsTimestamp": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.s", "IsTimestamp": false}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.s", "IsPresent": true}),
            input.clone()
        ));
        assert!(holds(
            json!({"Variable": "$.nope", "IsPresent": false}),
            input
        ));
    }

    #[test]
    fn missing_variable_is_a_runtime_error() {
        let err = rule(json!({"Variable": "$.nope", "StringEquals": "x"}))
            .eval(&json!({}), &Value::Null)
            .unwrap_err();
        assert_eq!(err.error, crate::names::RUNTIME);
        assert!(err.cause.contains("$.nope"));
    }

    #[test]
    fn boolean_combinators() {
        let input = json!({"a": 1, "b": "x"});
        assert!(holds(
            json!({"And": [
                {"Variable": "$.a", "NumericEquals": 1},
                {"Not": {"Variable": "$.b", "StringEquals": "y"}}
            ]}),
            input.clone()
        ));
        assert!(holds(
            json!({"Or": [
                {"Variable": "$.a", "NumericEquals": 2},
                {"Variable": "$.b", "StringEquals": "x"}
            ]}),
            input.clone()
        ));
        // Short-circuit: the second rule would fail on a missing variable.
        assert!(!holds(
            json!({"And": [
                {"Variable": "$.a", "NumericEquals": 2},
                {"Variable": "$.missing", "NumericEquals": 2}
            ]}),
            input
        ));
    }

    #[test]
    fn string_matches_wildcards() {
        let m = |p: &str, s: &str| wildcard_match(&compile_pattern(p), s);
        assert!(m("log-*.txt", "log-2024.txt"));
        assert!(m("*.log", "a.log"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("*ab", "abab"));
        assert!(!m("log-*.txt", "log-2024.txt.bak"));
        assert!(m("literal\\*star", "literal*star"));
        assert!(!m("literal\\*star", "literalXstar"));
        assert!(m("back\\\\slash", "back\\slash"));
        assert!(m("exact", "exact"));
        assert!(!m("exact", "exactly"));
        assert!(holds(
            json!({"Variable": "$.k", "StringMatches": "in/*.csv"}),
            json!({"k": "in/a.csv"})
        ));
    }

    #[test]
    fn malformed_rules_are_rejected() {
        let bad = [
            json!({"Variable": "$.a"}),
            json!({"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1}),
            json!({"Variable": "$.a", "NumericEquals": "1"}),
            json!({"Variable": "$.a", "BooleanEquals": "true"}),
            json!({"StringEquals": "x"}),
            json!({"And": []}),
            json!({"Not": [{"Variable": "$.a", "IsNull": true}]}),
            json!({"Variable": "$.a", "StringEqualz": "x"}),
            json!({"Variable": "$.a", "IsNull": "yes"}),
            json!({"Condition": "{% true %}"}),
        ];
        for b in bad {
            assert!(
                Rule::parse(b.as_object().unwrap(), false).is_err(),
                "{b} should be rejected"
            );
        }
        assert_eq!(
            ChoiceRule::parse(&json!({"Variable": "$.a", "IsNull": true})).unwrap_err(),
            ChoiceError::MissingNext
        );
    }

    #[test]
    fn rule_errors_keep_the_path_error_as_their_source() {
        let parse = |v: Value| Rule::parse(v.as_object().unwrap(), false).unwrap_err();
        let err = parse(json!({"Variable": "$.a", "NumericEqualsPath": "$["}));
        assert!(
            matches!(&err, ChoiceError::OperandPath { operator, source: PathError::Syntax { .. } } if operator == "NumericEqualsPath"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "`NumericEqualsPath`: invalid path `$[`: expected an index, a quoted name, `*` or `?(`"
        );
        let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<PathError>());
        assert!(
            matches!(source, Some(PathError::Syntax { .. })),
            "{source:?}"
        );

        assert_eq!(
            parse(json!({"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1})).to_string(),
            "a choice rule must have exactly one operator, found `NumericEquals`, `StringEquals`"
        );
        assert_eq!(
            parse(json!({"Variable": "$.a", "NumericEquals": "1"})).to_string(),
            "`NumericEquals` must be a number, got \"1\""
        );
    }
}

//! Payload templates (`Parameters`, `ItemSelector`, `ResultSelector`): JSON in which any
//! field named `something.$` is replaced by `something`, valued by a path or intrinsic
//! function evaluated at run time. Nested objects and arrays are processed recursively.

use serde_json::{Map, Value};
use thiserror::Error;

use crate::error::Fault;
use crate::intrinsic::{self, Call, IntrinsicError};
use crate::names;
use crate::path::{ContextSource, Path, PathError};

/// Why a payload template is invalid (a definition error).
#[derive(Debug, Error)]
pub(crate) enum TemplateError {
    /// Both `name` and `name.$` are present.
    #[error("fields `{name}` and `{name}.$` cannot both be present")]
    DuplicateField { name: String },
    #[error("field `{key}` must be a string holding a path or an intrinsic function")]
    NotAString { key: String },
    #[error(
        "field `{key}` must hold a path (starting with `$`) or an intrinsic function (`States.…`), not `{text}`"
    )]
    NotAPathOrCall { key: String, text: String },
    #[error("field `{key}`: {source}")]
    Path {
        key: String,
        #[source]
        source: PathError,
    },
    #[error("field `{key}`: {source}")]
    Intrinsic {
        key: String,
        #[source]
        source: IntrinsicError,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum Template {
    /// A subtree with no `.$` fields anywhere: copied as is.
    Const(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Path {
        field: String,
        path: Path,
    },
    Call {
        field: String,
        call: Call,
    },
}

impl Template {
    pub(crate) fn compile(value: &Value) -> Result<Template, TemplateError> {
        let template = match value {
            Value::Object(map) => {
                let mut fields: Vec<(String, Template)> = Vec::with_capacity(map.len());
                for (key, value) in map {
                    let (name, compiled) = match key.strip_suffix(".$") {
                        Some(name) => (name.to_owned(), Self::dynamic(key, value)?),
                        None => (key.clone(), Self::compile(value)?),
                    };
                    if fields.iter().any(|(existing, _)| *existing == name) {
                        return Err(TemplateError::DuplicateField { name });
                    }
                    fields.push((name, compiled));
                }
                Template::Object(fields)
            }
            Value::Array(items) => {
                Template::Array(items.iter().map(Self::compile).collect::<Result<_, _>>()?)
            }
            other => Template::Const(other.clone()),
        };
        Ok(template.simplify())
    }

    fn dynamic(key: &str, value: &Value) -> Result<Template, TemplateError> {
        let Value::String(text) = value else {
            return Err(TemplateError::NotAString {
                key: key.to_owned(),
            });
        };
        if intrinsic::looks_like_call(text) {
            let call = Call::parse(text).map_err(|source| TemplateError::Intrinsic {
                key: key.to_owned(),
                source,
            })?;
            Ok(Template::Call {
                field: key.to_owned(),
                call,
            })
        } else if text.starts_with('$') {
            let path = Path::parse(text).map_err(|source| TemplateError::Path {
                key: key.to_owned(),
                source,
            })?;
            Ok(Template::Path {
                field: key.to_owned(),
                path,
            })
        } else {
            Err(TemplateError::NotAPathOrCall {
                key: key.to_owned(),
                text: text.clone(),
            })
        }
    }

    /// Folds fully static subtrees back into constants so evaluation is a plain clone.
    fn simplify(self) -> Template {
        match self {
            Template::Object(fields)
                if fields.iter().all(|(_, t)| matches!(t, Template::Const(_))) =>
            {
                let map: Map<String, Value> = fields
                    .into_iter()
                    .filter_map(|(k, t)| match t {
                        Template::Const(v) => Some((k, v)),
                        _ => None,
                    })
                    .collect();
                Template::Const(Value::Object(map))
            }
            Template::Array(items) if items.iter().all(|t| matches!(t, Template::Const(_))) => {
                Template::Const(Value::Array(
                    items
                        .into_iter()
                        .filter_map(|t| match t {
                            Template::Const(v) => Some(v),
                            _ => None,
                        })
                        .collect(),
                ))
            }
            other => other,
        }
    }

    pub(crate) fn eval(&self, input: &Value, ctx: &dyn ContextSource) -> Result<Value, Fault> {
        match self {
            Template::Const(value) => Ok(value.clone()),
            Template::Object(fields) => {
                let mut map = Map::with_capacity(fields.len());
                for (name, template) in fields {
                    map.insert(name.clone(), template.eval(input, ctx)?);
                }
                Ok(Value::Object(map))
            }
            Template::Array(items) => items
                .iter()
                .map(|t| t.eval(input, ctx))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Template::Path { field, path } => path.select(input, ctx).map_err(|e| {
                Fault::new(
                    names::PARAMETER_PATH_FAILURE,
                    format!(
                        "the JSONPath `{}` specified for the field `{field}` could not be resolved: {e}",
                        path.text()
                    ),
                )
            }),
            Template::Call { field, call } => call.eval(input, ctx).map_err(|e| {
                Fault::from(e).context(format_args!(
                    "the intrinsic function for the field `{field}` failed"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: Value, input: Value) -> Result<Value, Fault> {
        Template::compile(&template)
            .unwrap()
            .eval(&input, &json!({"Execution": {"Name": "e-1"}}))
    }

    #[test]
    fn dollar_fields_are_resolved_and_renamed() {
        let out = render(
            json!({
                "flagged": true,
                "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
                "weight.$": "$.weight",
                "exec.$": "$$.Execution.Name",
                "list": [{"x.$": "$.weight"}, 1],
                "greeting.$": "States.Format('hi {}', $.weight)"
            }),
            json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50], "weight": 42}),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({
                "flagged": true,
                "parts": {"first": 0, "last3": [30, 40, 50]},
                "weight": 42,
                "exec": "e-1",
                "list": [{"x": 42}, 1],
                "greeting": "hi 42"
            })
        );
    }

    #[test]
    fn static_templates_become_constants() {
        let t = Template::compile(&json!({"a": [1, {"b": 2}]})).unwrap();
        assert!(matches!(t, Template::Const(_)));
    }

    #[test]
    fn missing_path_is_a_parameter_path_failure() {
        let err = render(json!({"x.$": "$.missing"}), json!({})).unwrap_err();
        assert_eq!(err.error, names::PARAMETER_PATH_FAILURE);
        assert!(err.cause.contains("x.$"), "{}", err.cause);
    }

    #[test]
    fn failing_intrinsic_is_an_intrinsic_failure() {
        let err = render(
            json!({"x.$": "States.ArrayLength($.s)"}),
            json!({"s": "text"}),
        )
        .unwrap_err();
        assert_eq!(err.error, names::INTRINSIC_FAILURE);
    }

    #[test]
    fn invalid_templates_are_rejected() {
        assert!(Template::compile(&json!({"x.$": 5})).is_err());
        assert!(Template::compile(&json!({"x.$": "not a path"})).is_err());
        assert!(Template::compile(&json!({"x.$": "$.a", "x": 1})).is_err());
        assert!(Template::compile(&json!({"x.$": "States.Bogus()"})).is_err());
    }
}

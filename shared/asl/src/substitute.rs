//! `${Name}` placeholder substitution, as SAM/CloudFormation `DefinitionSubstitutions`
//! performs it before a definition reaches Step Functions.

use std::collections::BTreeMap;

use crate::error::AslError;

/// Replaces every `${Name}` placeholder in `definition` with `vars["Name"]`.
///
/// Substitution is textual, exactly as CloudFormation does it: the value is inserted as
/// is, so a placeholder inside a JSON string yields a string and a bare placeholder can
/// yield a number. Placeholders without a value are reported together, so one run shows
/// every missing variable.
pub fn substitute(definition: &str, vars: &BTreeMap<String, String>) -> Result<String, AslError> {
    let mut out = String::with_capacity(definition.len());
    let mut unknown: Vec<String> = Vec::new();
    let mut rest = definition;
    let mut offset = 0;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(AslError::UnterminatedPlaceholder {
                offset: offset + start,
            });
        };
        let name = &after[..end];
        match vars.get(name) {
            Some(value) => out.push_str(value),
            None => {
                if !unknown.iter().any(|n| n == name) {
                    unknown.push(name.to_owned());
                }
            }
        }
        let consumed = start + 2 + end + 1;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(AslError::UnknownPlaceholders { names: unknown })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn replaces_every_occurrence() {
        let out = substitute(
            r#"{"Resource": "${Fn}", "Other": "${Fn}-x", "Max": ${Max}}"#,
            &vars(&[("Fn", "muara:health"), ("Max", "4")]),
        )
        .unwrap();
        assert_eq!(
            out,
            r#"{"Resource": "muara:health", "Other": "muara:health-x", "Max": 4}"#
        );
    }

    #[test]
    fn leaves_text_without_placeholders_alone() {
        let text = r#"{"a.$": "$.b", "c": "States.Format('{}', $.d)", "e": "$"}"#;
        assert_eq!(substitute(text, &vars(&[])).unwrap(), text);
    }

    #[test]
    fn unknown_placeholders_are_named() {
        let err = substitute("${A} ${B} ${A} ${Known}", &vars(&[("Known", "k")])).unwrap_err();
        match &err {
            AslError::UnknownPlaceholders { names } => assert_eq!(names, &["A", "B"]),
            other => panic!("unexpected error {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("${A}") && message.contains("${B}"),
            "{message}"
        );
    }

    #[test]
    fn unterminated_placeholder_is_an_error() {
        let err = substitute("ab${Open", &vars(&[])).unwrap_err();
        assert!(
            matches!(err, AslError::UnterminatedPlaceholder { offset: 2 }),
            "{err:?}"
        );
    }

    #[test]
    fn values_are_not_rescanned() {
        assert_eq!(substitute("${A}", &vars(&[("A", "${B}")])).unwrap(), "${B}");
    }
}

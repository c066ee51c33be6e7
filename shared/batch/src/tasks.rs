//! The Task resources of `statemachines/batch-lifecycle.asl.json` and their dispatch: one
//! entry point per stage, the same for a Lambda (chosen by `MUARA_HANDLER`) and for the local
//! interpreter (chosen by the substituted resource name).

use crate::model::Deps;
use crate::stages;
use muara_core::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;

/// `(substitution variable, stage)`: the template maps each variable to a function ARN; the
/// local runtime to `muara:batch:<stage>`.
pub const STAGES: &[(&str, &str)] = &[
    ("StartBatchFunctionArn", "start"),
    ("ConvertFileFunctionArn", "convert"),
    ("ValidateMappingFunctionArn", "validate-mapping"),
    ("ValidateRowsFunctionArn", "validate-rows"),
    ("LoadBronzeFunctionArn", "load-bronze"),
    ("MarkFileFailedFunctionArn", "mark-failed"),
    ("TransformFunctionArn", "transform"),
    ("IntegrateFunctionArn", "integrate"),
    ("RefreshViewsFunctionArn", "refresh-views"),
    ("FinaliseBatchFunctionArn", "finalise"),
];

/// Substitutions that make the definition's Task resources name in-process handlers.
pub fn local_substitutions() -> BTreeMap<String, String> {
    STAGES
        .iter()
        .map(|(var, stage)| (var.to_string(), format!("muara:batch:{stage}")))
        .collect()
}

fn parse<T: serde::de::DeserializeOwned>(stage: &str, input: Value) -> Result<T> {
    serde_json::from_value(input).map_err(|e| {
        Error::with_source(
            muara_core::ErrorKind::Invalid,
            format!("{stage}: unexpected task input"),
            e,
        )
    })
}

/// The batch and file a stage's input is about: `(client, batch, file)`, as far as it says.
fn ids_of(input: &Value) -> (String, String, String) {
    let holder = ["batch", "input"]
        .iter()
        .filter_map(|k| input.get(k))
        .find(|v| v.is_object())
        .unwrap_or(input);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    (
        text(holder.get("client")),
        text(holder.get("batch_id")),
        text(input.get("file").and_then(|f| f.get("physical_file_name"))),
    )
}

/// Runs one stage on its JSON input, in a span that carries the stage, client, batch and
/// file, so every line the stage logs says what it was working on.
pub async fn run_stage(deps: &Deps, stage: &str, input: Value) -> Result<Value> {
    use tracing::Instrument as _;
    let (client, batch, file) = ids_of(&input);
    let span = tracing::info_span!("stage", stage, %client, %batch, %file);
    run_stage_in(deps, stage, input).instrument(span).await
}

async fn run_stage_in(deps: &Deps, stage: &str, input: Value) -> Result<Value> {
    if let Some((client, lock)) = crate::lease::carried(&input) {
        crate::lease::keep(deps, &client, &lock).await?;
    }
    let out = match stage {
        "start" => serde_json::to_value(stages::start(deps, parse(stage, input)?).await?)?,
        "convert" => serde_json::to_value(stages::convert(deps, parse(stage, input)?).await?)?,
        "validate-mapping" => {
            serde_json::to_value(stages::validate_mapping(deps, parse(stage, input)?).await?)?
        }
        "validate-rows" => {
            serde_json::to_value(stages::validate_rows(deps, parse(stage, input)?).await?)?
        }
        "load-bronze" => {
            serde_json::to_value(stages::load_bronze(deps, parse(stage, input)?).await?)?
        }
        "mark-failed" => {
            serde_json::to_value(stages::mark_failed(deps, parse(stage, input)?).await?)?
        }
        "transform" => serde_json::to_value(stages::transform(deps, parse(stage, input)?).await?)?,
        "integrate" => serde_json::to_value(stages::integrate(deps, parse(stage, input)?).await?)?,
        "refresh-views" => {
            serde_json::to_value(stages::refresh_views(deps, parse(stage, input)?).await?)?
        }
        "finalise" => serde_json::to_value(stages::finalise(deps, parse(stage, input)?).await?)?,
        other => return Err(Error::config(format!("no batch stage named {other:?}"))),
    };
    Ok(out)
}

#[cfg(test)]
mod span_tests {
    use super::*;

    #[test]
    fn a_stage_input_names_its_client_batch_and_file() {
        let file_stage = serde_json::json!({
            "batch": {"client": "acme", "batch_id": "BATCH000007"},
            "file": {"physical_file_name": "cust_BATCH000007.csv"}
        });
        assert_eq!(
            ids_of(&file_stage),
            (
                "acme".into(),
                "BATCH000007".into(),
                "cust_BATCH000007.csv".into()
            )
        );
        let start = serde_json::json!({"client": "acme", "batch_id": "BATCH000007"});
        assert_eq!(
            ids_of(&start),
            ("acme".into(), "BATCH000007".into(), String::new())
        );
    }
}

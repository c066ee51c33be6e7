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

/// Runs one stage on its JSON input.
pub async fn run_stage(deps: &Deps, stage: &str, input: Value) -> Result<Value> {
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

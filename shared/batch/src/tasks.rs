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

/// The stages of the batch lifecycle: the names its state machine's task resources
/// (`muara:batch:<name>`) and its Lambdas' `MUARA_HANDLER` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Start,
    Convert,
    ValidateMapping,
    ValidateRows,
    LoadBronze,
    MarkFailed,
    Transform,
    Integrate,
    RefreshViews,
    Finalise,
}

impl Stage {
    pub const ALL: [Stage; 10] = [
        Stage::Start,
        Stage::Convert,
        Stage::ValidateMapping,
        Stage::ValidateRows,
        Stage::LoadBronze,
        Stage::MarkFailed,
        Stage::Transform,
        Stage::Integrate,
        Stage::RefreshViews,
        Stage::Finalise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Start => "start",
            Stage::Convert => "convert",
            Stage::ValidateMapping => "validate-mapping",
            Stage::ValidateRows => "validate-rows",
            Stage::LoadBronze => "load-bronze",
            Stage::MarkFailed => "mark-failed",
            Stage::Transform => "transform",
            Stage::Integrate => "integrate",
            Stage::RefreshViews => "refresh-views",
            Stage::Finalise => "finalise",
        }
    }

    /// The stages that read a user's file (run isolated under `muara up`).
    pub fn reads_a_file(self) -> bool {
        matches!(
            self,
            Stage::Convert | Stage::ValidateMapping | Stage::ValidateRows | Stage::LoadBronze
        )
    }

    /// What the stage is called in a failure reason ("the converter crashed on this file").
    pub fn title(self) -> &'static str {
        match self {
            Stage::Convert => "converter",
            Stage::ValidateMapping => "mapping validator",
            Stage::ValidateRows => "row validator",
            Stage::LoadBronze => "bronze loader",
            other => other.as_str(),
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Stage {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        Stage::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| Error::config(format!("no batch stage named {name:?}")))
    }
}

/// The batch and file a stage's input is about: `(client, batch, file)`, as far as it says.
fn ids_of(input: &Value) -> (String, String, String) {
    let holder = crate::lease::batch_of(input);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    (
        text(holder.get("client")),
        text(holder.get("batch_id")),
        text(input.get("file").and_then(|f| f.get("physical_file_name"))),
    )
}

/// Runs one stage on its JSON input, in a span that carries the stage, client, batch and
/// file, so every line the stage logs says what it was working on.
pub async fn run_stage(deps: &Deps, stage: Stage, input: Value) -> Result<Value> {
    use tracing::Instrument as _;
    let (client, batch, file) = ids_of(&input);
    let span = tracing::info_span!("stage", %stage, %client, %batch, %file);
    run_stage_in(deps, stage, input).instrument(span).await
}

async fn run_stage_in(deps: &Deps, stage: Stage, input: Value) -> Result<Value> {
    if let Some((client, lock)) = crate::lease::carried(&input) {
        crate::lease::keep(deps, &client, &lock).await?;
    }
    let name = stage.as_str();
    let out = match stage {
        Stage::Start => serde_json::to_value(stages::start(deps, parse(name, input)?).await?)?,
        Stage::Convert => serde_json::to_value(stages::convert(deps, parse(name, input)?).await?)?,
        Stage::ValidateMapping => {
            serde_json::to_value(stages::validate_mapping(deps, parse(name, input)?).await?)?
        }
        Stage::ValidateRows => {
            serde_json::to_value(stages::validate_rows(deps, parse(name, input)?).await?)?
        }
        Stage::LoadBronze => {
            serde_json::to_value(stages::load_bronze(deps, parse(name, input)?).await?)?
        }
        Stage::MarkFailed => {
            serde_json::to_value(stages::mark_failed(deps, parse(name, input)?).await?)?
        }
        Stage::Transform => {
            serde_json::to_value(stages::transform(deps, parse(name, input)?).await?)?
        }
        Stage::Integrate => {
            serde_json::to_value(stages::integrate(deps, parse(name, input)?).await?)?
        }
        Stage::RefreshViews => {
            serde_json::to_value(stages::refresh_views(deps, parse(name, input)?).await?)?
        }
        Stage::Finalise => {
            serde_json::to_value(stages::finalise(deps, parse(name, input)?).await?)?
        }
    };
    Ok(out)
}

#[cfg(test)]
mod span_tests {
    use super::*;

    #[test]
    fn stage_names_read_back_and_unknown_ones_are_refused() {
        for stage in Stage::ALL {
            assert_eq!(stage.as_str().parse::<Stage>().ok(), Some(stage));
        }
        assert!("Convert".parse::<Stage>().is_err());
        let file_stages: Vec<&str> = Stage::ALL
            .into_iter()
            .filter(|s| s.reads_a_file())
            .map(Stage::as_str)
            .collect();
        assert_eq!(
            file_stages,
            [
                "convert",
                "validate-mapping",
                "validate-rows",
                "load-bronze"
            ]
        );
    }

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

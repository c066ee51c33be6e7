//! The SQL stages after the per-file Map: transform (bronze → silver), integrate (silver →
//! gold), refresh the materialised views. A batch none of whose files was loaded skips them
//! (a refresh run has no files and always runs them).

use crate::model::{Deps, FileStatus, Mode, StepsInput};
use crate::steps::{self, Family, StageSummary};
use muara_core::Result;

async fn stage(deps: &Deps, input: StepsInput, family: Family) -> Result<StageSummary> {
    let loaded = input.results.iter().any(|r| r.status == FileStatus::Loaded);
    if input.batch.mode != Mode::Refresh && !loaded {
        tracing::info!(client = %input.batch.client, batch = %input.batch.batch_id, family = family.label(), "no file loaded: SQL steps skipped");
        return Ok(StageSummary::skipped(
            family,
            "no file of the batch was loaded",
        ));
    }
    steps::run(deps, &input.batch, family).await
}

pub async fn transform(deps: &Deps, input: StepsInput) -> Result<StageSummary> {
    stage(deps, input, Family::Transform).await
}

pub async fn integrate(deps: &Deps, input: StepsInput) -> Result<StageSummary> {
    stage(deps, input, Family::Integrate).await
}

pub async fn refresh_views(deps: &Deps, input: StepsInput) -> Result<StageSummary> {
    stage(deps, input, Family::Refresh).await
}

//! The lifecycle's stages. Each is idempotent: re-running it after a crash or a retry leaves
//! the same objects and rows as running it once.

mod convert;
mod failed;
mod finalise;
mod load;
mod mapping;
mod rows;
mod sql;
mod start;
mod util;

pub use convert::convert;
pub use failed::mark_failed;
pub use finalise::finalise;
pub use load::load_bronze;
pub use mapping::validate_mapping;
pub use rows::validate_rows;
pub use sql::{integrate, refresh_views, transform};
pub use start::{MAX_FILES_PER_BATCH, start};

/// Moves a file of the batch from `failed/` back to `incoming/` (restart, reprocessing).
pub(crate) async fn move_back(
    deps: &crate::Deps,
    k: &crate::layout::LakeKey,
) -> muara_core::Result<()> {
    let from = k.key();
    let to = k.in_area("incoming").key();
    if util::move_if_present(deps, &from, &to).await? {
        tracing::info!(%from, %to, "moved back for the run");
    }
    Ok(())
}

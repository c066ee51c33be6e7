//! Component health: each adapter that talks to something can report whether it is reachable.

use async_trait::async_trait;

/// One component whose reachability `/health` reports.
#[async_trait]
pub trait Probe: Send + Sync {
    /// Stable component name (`database`, `object_store`, `queue`…).
    fn name(&self) -> &str;
    /// `Ok(detail)` when healthy, `Err(reason)` when not. Must not take longer than a few
    /// seconds; the caller also applies a timeout.
    async fn check(&self) -> Result<String, String>;
}

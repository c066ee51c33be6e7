//! The CLI's calls to a running platform's API.

use anyhow::Context as _;
use std::time::Duration;

/// Sends one JSON request; returns the status and body.
pub async fn send(
    base: &str,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    muara_api::client::send(
        base,
        method,
        path,
        "application/json",
        "",
        body,
        Duration::from_secs(120),
    )
    .await
    .with_context(|| {
        format!(
            "calling the muara API at {base} (is `muara up` running? set --api or MUARA_API_URL)"
        )
    })
}

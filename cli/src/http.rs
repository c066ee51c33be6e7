//! The CLI's calls to a running platform's API, with the bearer token in `MUARA_TOKEN`.

use anyhow::Context as _;
use std::time::Duration;

/// Sends one JSON request; returns the status and body.
pub async fn send(
    base: &str,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let token = std::env::var("MUARA_TOKEN").ok();
    let (status, answer) = muara_api::client::send(
        base,
        method,
        path,
        "application/json",
        &muara_api::client::bearer(token.as_deref()),
        body,
        Duration::from_secs(120),
    )
    .await
    .with_context(|| {
        format!(
            "calling the muara API at {base} (is `muara up` running? set --api or MUARA_API_URL)"
        )
    })?;
    if status == 401 {
        anyhow::bail!(
            "{method} {path}: the API wants a valid token ({answer}); set MUARA_TOKEN to one made by `muara token create --role ROLE --name NAME`"
        );
    }
    Ok((status, answer))
}

use crate::{shell_quote, spawn_reaper, workspace_root};
use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The AWS API emulator of this test process.
#[derive(Debug)]
pub struct Moto {
    pub endpoint: String,
    /// True when the harness started it (moto's `/moto-api` is then available).
    pub is_moto: bool,
}

static MOTO: OnceCell<Moto> = OnceCell::const_new();

/// The emulator, started on first use unless `AWS_ENDPOINT_URL` names one.
pub async fn moto() -> anyhow::Result<&'static Moto> {
    MOTO.get_or_try_init(init).await
}

fn moto_binary() -> anyhow::Result<std::path::PathBuf> {
    let venv = muara_core::config::optional("MUARA_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"));
    let candidates = [venv.join("bin/moto_server")];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    if let Some(p) = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("moto_server"))
            .find(|p| p.is_file())
    }) {
        return Ok(p);
    }
    anyhow::bail!(
        "moto_server not found in {} or on PATH: run scripts/tools.sh (it installs the pinned moto into the project venv) or set AWS_ENDPOINT_URL to a running emulator",
        venv.display()
    )
}

async fn init() -> anyhow::Result<Moto> {
    if let Some(endpoint) = muara_core::config::optional("AWS_ENDPOINT_URL") {
        let is_moto = http(&endpoint, "GET", "/moto-api/data.json", "")
            .await
            .is_ok();
        return Ok(Moto { endpoint, is_moto });
    }
    let bin = moto_binary()?;
    let port = muara_local::postgres::free_port()?;
    let log = std::env::temp_dir().join(format!("{}.log", crate::unique("muara-moto")));
    let child = std::process::Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    spawn_reaper(&format!(
        "kill {} 2>/dev/null; rm -f {}",
        child.id(),
        shell_quote(&log.to_string_lossy())
    ))?;
    let endpoint = format!("http://127.0.0.1:{port}");
    crate::eventually(Duration::from_secs(60), "moto_server to answer", || {
        let endpoint = endpoint.clone();
        async move { Ok(http(&endpoint, "GET", "/moto-api/", "").await.ok()) }
    })
    .await
    .with_context(|| {
        format!(
            "moto_server log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    })?;
    http(
        &endpoint,
        "POST",
        "/moto-api/config",
        r#"{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}"#,
    )
    .await
    .context("configuring moto")?;
    Ok(Moto {
        endpoint,
        is_moto: true,
    })
}

impl Moto {
    /// An SDK config for the emulator: dummy static credentials, a fixed region.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_credentials())
            .load()
            .await
    }

    /// moto's internal state as JSON (e.g. the mails SES "sent").
    ///
    /// The dump fails (HTTP 500) while the parts of a just-completed multipart upload are
    /// still referenced inside moto, until Python's garbage collector frees them; a few tries
    /// over a few seconds get past that.
    pub async fn data(&self) -> anyhow::Result<serde_json::Value> {
        let mut tries = 0;
        loop {
            let (status, body) = request(&self.endpoint, "GET", "/moto-api/data.json", "").await?;
            if (200..300).contains(&status) {
                return Ok(serde_json::from_str(&body)?);
            }
            tries += 1;
            if tries >= 25 {
                anyhow::bail!(
                    "GET /moto-api/data.json: HTTP {status}: {}",
                    &body[..body.len().min(300)]
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn aws_sdk_credentials() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new("testing", "testing", None, None, "muara-testkit")
}

/// A minimal HTTP/1.1 exchange that fails on a non-2xx status.
async fn http(endpoint: &str, method: &str, path: &str, body: &str) -> anyhow::Result<String> {
    let (status, text) = request(endpoint, method, path, body).await?;
    if !(200..300).contains(&status) {
        anyhow::bail!("{method} {path}: HTTP {status}: {text}");
    }
    Ok(text)
}

/// A JSON request to an `http://` endpoint (the emulator, a running `muara up`): status and
/// body.
pub async fn request(
    endpoint: &str,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    request_as(endpoint, None, method, path, body).await
}

/// [`request`] with a bearer token.
pub async fn request_as(
    endpoint: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    Ok(muara_api::client::send(
        endpoint,
        method,
        path,
        "application/json",
        &muara_api::client::bearer(token),
        body,
        Duration::from_secs(30),
    )
    .await?)
}

use aws_config::{BehaviorVersion, SdkConfig};

/// The endpoint override from `AWS_ENDPOINT_URL`, if any (an emulator in tests and local runs).
pub fn endpoint_override() -> Option<String> {
    muara_core::config::optional("AWS_ENDPOINT_URL")
}

/// Loads region, credentials and endpoint the standard way (environment, profile, IMDS/ECS,
/// Lambda's role). Done once at start-up; clients built from it are cheap to clone.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An S3 client; path-style addressing when an endpoint override is set, since emulators
/// rarely resolve `<bucket>.<host>` names.
pub fn s3_client(cfg: &SdkConfig) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(cfg);
    if cfg.endpoint_url().is_some() || endpoint_override().is_some() {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

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

/// SDK configuration with explicit overrides (the recording agent's `[target]`): a named
/// profile, a region and an S3-compatible endpoint, each falling back to the standard chain.
pub async fn load_sdk_config_with(
    profile: Option<&str>,
    region: Option<&str>,
    endpoint_url: Option<&str>,
) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    if let Some(u) = endpoint_url {
        loader = loader.endpoint_url(u);
    }
    loader.load().await
}

//! What every database-facing Lambda does first: JSON logs, its role (`MUARA_HANDLER`), the
//! SDK configuration and the database URL (`DATABASE_URL` or the `MUARA_DB_SECRET_ARN` secret).

use muara_core::Result;

#[derive(Debug, Clone)]
pub struct Boot {
    pub role: String,
    pub sdk: aws_config::SdkConfig,
    pub database_url: String,
}

pub async fn boot() -> Result<Boot> {
    muara_core::logging::init_lambda();
    let role = muara_core::config::required("MUARA_HANDLER")?;
    let sdk = crate::load_sdk_config().await;
    let database_url = crate::secrets::database_url_from_env(&sdk).await?;
    Ok(Boot {
        role,
        sdk,
        database_url,
    })
}

//! Database credentials from Secrets Manager, in the JSON shape RDS writes
//! (`username`, `password`, `host`, `port`, `dbname`). Read once at start-up.

use crate::error::sdk_error;
use muara_core::{Error, ErrorKind, Result};

/// Builds a PostgreSQL URL from an RDS secret. The password never reaches a log line.
pub async fn database_url(
    client: &aws_sdk_secretsmanager::Client,
    secret_arn: &str,
) -> Result<String> {
    let out = client
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| sdk_error("Secrets Manager GetSecretValue", e))?;
    let text = out
        .secret_string()
        .ok_or_else(|| Error::config("the database secret has no SecretString"))?;
    let sslmode = muara_core::config::optional("PGSSLMODE").unwrap_or_else(|| "require".into());
    url_from_secret(text, &sslmode)
}

/// The URL, with `sslmode` (RDS offers TLS: `require` by default, `PGSSLMODE` to change;
/// `PGSSLROOTCERT` names the root file that turns verification on, see `muara_db::tls`).
/// The database of a Lambda: `DATABASE_URL` when set, else the URL built from the secret that
/// `MUARA_DB_SECRET_ARN` names.
pub async fn database_url_from_env(sdk: &aws_config::SdkConfig) -> Result<String> {
    if let Some(url) = muara_core::config::optional("DATABASE_URL") {
        return Ok(url);
    }
    let arn = muara_core::config::required("MUARA_DB_SECRET_ARN")?;
    database_url(&aws_sdk_secretsmanager::Client::new(sdk), &arn).await
}

/// A secret setting of a Lambda: the variable `NAME` when set (local runs, tests), else the
/// `SecretString` of the Secrets Manager secret that `NAME_ARN` names, else `None`. Read once
/// at start-up; never logged.
pub async fn secret_from_env(sdk: &aws_config::SdkConfig, name: &str) -> Result<Option<String>> {
    if let Some(v) = muara_core::config::optional(name) {
        return Ok(Some(v));
    }
    let Some(arn) = muara_core::config::optional(&format!("{name}_ARN")) else {
        return Ok(None);
    };
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("Secrets Manager GetSecretValue ({name}_ARN)"), e))?;
    let text = out
        .secret_string()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::config(format!("the secret {name}_ARN names has no SecretString")))?;
    Ok(Some(text))
}

pub fn url_from_secret(text: &str, sslmode: &str) -> Result<String> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::with_source(ErrorKind::Config, "the database secret is not JSON", e))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(|x| {
                x.as_str()
                    .map(str::to_string)
                    .or_else(|| x.as_u64().map(|n| n.to_string()))
            })
            .ok_or_else(|| Error::config(format!("the database secret has no {k:?}")))
    };
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let port = field("port").unwrap_or_else(|_| "5432".into());
    let db = field("dbname").unwrap_or_else(|_| "postgres".into());
    Ok(format!(
        "postgres://{}:{}@{}:{port}/{}?sslmode={}",
        enc(&field("username")?),
        enc(&field("password")?),
        field("host")?,
        enc(&db),
        enc(sslmode)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rds_secret_becomes_a_url_with_its_password_encoded() {
        let url = url_from_secret(r#"{"username":"muara","password":"p@ss/w:rd","host":"db.example","port":5432,"dbname":"lake"}"#, "require").unwrap();
        assert_eq!(
            url,
            "postgres://muara:p%40ss%2Fw%3Ard@db.example:5432/lake?sslmode=require"
        );
        assert_eq!(
            url_from_secret(r#"{"username":"u"}"#, "require")
                .unwrap_err()
                .kind(),
            ErrorKind::Config
        );
    }
}

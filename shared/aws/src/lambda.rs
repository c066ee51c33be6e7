//! What every database-facing Lambda does first: JSON logs, its role (`MUARA_HANDLER`, parsed
//! into the binary's own role enum before anything is connected), the SDK configuration and
//! the database URL (`DATABASE_URL` or the `MUARA_DB_SECRET_ARN` secret).

use muara_core::Result;

#[derive(Debug, Clone)]
pub struct Boot<R> {
    pub role: R,
    pub sdk: aws_config::SdkConfig,
    pub database_url: String,
}

pub async fn boot<R>() -> Result<Boot<R>>
where
    R: std::str::FromStr<Err = muara_core::Error>,
{
    muara_core::logging::init_lambda();
    let role = muara_core::config::required("MUARA_HANDLER")?.parse()?;
    let sdk = crate::load_sdk_config().await;
    let database_url = crate::secrets::database_url_from_env(&sdk).await?;
    Ok(Boot {
        role,
        sdk,
        database_url,
    })
}

/// A function binary's roles: an enum whose variants are the `MUARA_HANDLER` values it serves,
/// parsed strictly (an unknown value is a configuration error naming the known ones).
///
/// ```text
/// muara_aws::handler_roles! {
///     /// What this function does.
///     Role { Api = "api", Worker = "worker" }
/// }
/// ```
#[macro_export]
macro_rules! handler_roles {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl std::str::FromStr for $name {
            type Err = muara_core::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(muara_core::Error::config(format!(
                        "MUARA_HANDLER={other:?} is not one of {}",
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    handler_roles! {
        /// Test roles.
        Role { Api = "api", Worker = "worker" }
    }

    #[test]
    fn roles_parse_strictly_and_name_the_known_ones() {
        assert_eq!("api".parse::<Role>().unwrap(), Role::Api);
        assert_eq!("worker".parse::<Role>().unwrap(), Role::Worker);
        let e = "Worker".parse::<Role>().unwrap_err().to_string();
        assert!(e.contains("\"Worker\" is not one of api, worker"), "{e}");
    }
}

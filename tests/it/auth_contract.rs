//! The `Authenticator` contract: each role's credentials authenticate as that role; nothing
//! presented is `Missing`; forged credentials are `Invalid` — for hashed local tokens, API
//! Gateway's verified JWT claims and the role-named test tokens alike.

use crate::support::{contract, pg_pool};
use muara_core::ports::{AuthError, Authenticator, Credentials, Principal, Role};
use muara_testkit::unique;
use std::collections::HashMap;
use std::sync::Arc;

contract!(
    [
        each_roles_credentials_authenticate_as_that_role,
        nothing_presented_is_missing_and_forgeries_are_invalid,
    ],
    local_tokens => token_store,
    aws_jwt => gateway_jwt,
    memory => role_named,
);

/// What a caller presents: an `Authorization` header and/or verified claims.
#[derive(Clone, Default)]
struct Presented {
    authorization: Option<String>,
    claims: Option<HashMap<String, String>>,
}

impl Presented {
    fn bearer(token: &str) -> Self {
        Self {
            authorization: Some(format!("Bearer {token}")),
            claims: None,
        }
    }

    fn credentials(&self) -> Credentials<'_> {
        Credentials {
            authorization: self.authorization.as_deref().map(Ok),
            verified_claims: self.claims.as_ref(),
        }
    }
}

pub struct AuthFx {
    auth: Arc<dyn Authenticator>,
    as_role: HashMap<Role, Presented>,
    forged: Vec<Presented>,
}

async fn token_store() -> anyhow::Result<AuthFx> {
    let store = muara_console::TokenStore::new(pg_pool().await?);
    let mut as_role = HashMap::new();
    for role in Role::ALL {
        let made = store
            .create_token(
                &Principal::system("test", "test"),
                &unique(role.as_str()),
                role,
                None,
            )
            .await?;
        as_role.insert(role, Presented::bearer(&made.token));
    }
    Ok(AuthFx {
        auth: Arc::new(store),
        as_role,
        forged: vec![
            Presented::bearer("muara_forged"),
            Presented::bearer(&format!("muara_{}", "A".repeat(43))),
            Presented {
                authorization: Some("Basic YWRtaW46YWRtaW4=".into()),
                claims: None,
            },
        ],
    })
}

async fn gateway_jwt() -> anyhow::Result<AuthFx> {
    let claims = |groups: &str| {
        HashMap::from([
            (
                "cognito:username".to_string(),
                "ayu@example.com".to_string(),
            ),
            ("cognito:groups".to_string(), groups.to_string()),
        ])
    };
    let as_role = Role::ALL
        .into_iter()
        .map(|r| {
            (
                r,
                Presented {
                    authorization: Some("Bearer eyJ.verified.by-the-gateway".into()),
                    claims: Some(claims(&format!("[{r} staff]"))),
                },
            )
        })
        .collect();
    Ok(AuthFx {
        auth: Arc::new(muara_api::auth::GatewayJwt),
        as_role,
        // A bearer header without the authorizer's claims proves nothing.
        forged: vec![Presented::bearer(
            "eyJhbGciOiJub25lIn0.eyJjb2duaXRvOmdyb3VwcyI6WyJhZG1pbiJdfQ.",
        )],
    })
}

async fn role_named() -> anyhow::Result<AuthFx> {
    Ok(AuthFx {
        auth: Arc::new(muara_api::testing::RoleNamedTokens),
        as_role: Role::ALL
            .into_iter()
            .map(|r| (r, Presented::bearer(r.as_str())))
            .collect(),
        forged: vec![Presented::bearer("root")],
    })
}

async fn each_roles_credentials_authenticate_as_that_role(fx: &AuthFx) -> anyhow::Result<()> {
    for (role, presented) in &fx.as_role {
        let p = fx.auth.authenticate(&presented.credentials()).await?;
        assert_eq!(p.role, *role);
        assert!(!p.subject.is_empty());
    }
    Ok(())
}

async fn nothing_presented_is_missing_and_forgeries_are_invalid(fx: &AuthFx) -> anyhow::Result<()> {
    assert_eq!(
        fx.auth
            .authenticate(&Presented::default().credentials())
            .await,
        Err(AuthError::Missing)
    );
    for forged in &fx.forged {
        let r = fx.auth.authenticate(&forged.credentials()).await;
        assert!(
            matches!(r, Err(AuthError::Invalid(_))),
            "{:?} answered {r:?}",
            forged.authorization
        );
    }
    Ok(())
}

//! The `Authenticator` contract: each role's credentials authenticate as that role; nothing
//! presented is `Missing`; forged credentials are `Invalid` — for hashed local tokens, their
//! memory twin, API Gateway's verified JWT claims and the role-named test tokens alike.
//!
//! The authenticators that issue tokens (the PostgreSQL token store and its memory twin) also
//! agree on issuing and revoking them (`issuer_contract`).

use crate::support::{contract, pg_pool};
use muara_core::memory::MemTokens;
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
    memory => mem_tokens,
    role_named => role_named,
);

mod issuer_contract {
    use super::{local_issuer, mem_issuer};
    crate::support::contract!(
        [
            a_revoked_token_is_refused_and_its_name_free_again,
            a_live_name_is_issued_once,
        ],
        local_tokens => local_issuer,
        memory => mem_issuer,
    );
    use super::{a_live_name_is_issued_once, a_revoked_token_is_refused_and_its_name_free_again};
}

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
    issued(&local_issuer().await?).await
}

/// Each role's token and the forgeries, for an authenticator that issues tokens.
async fn issued(issuer: &Issuer) -> anyhow::Result<AuthFx> {
    let mut as_role = HashMap::new();
    for role in Role::ALL {
        let (_, token) = issuer.issue(&unique(role.as_str()), role).await?;
        as_role.insert(role, Presented::bearer(&token));
    }
    Ok(AuthFx {
        auth: issuer.authenticator(),
        as_role,
        forged: vec![
            Presented::bearer("muara_forged"),
            Presented::bearer(&format!("muara_{}", "A".repeat(43))),
            Presented::bearer(&format!("muara_{}", "0".repeat(64))),
            Presented {
                authorization: Some("Basic YWRtaW46YWRtaW4=".into()),
                claims: None,
            },
        ],
    })
}

/// The memory twin of the token store.
async fn mem_tokens() -> anyhow::Result<AuthFx> {
    issued(&mem_issuer().await?).await
}

/// An authenticator that issues and revokes tokens.
pub enum Issuer {
    Local(muara_console::TokenStore),
    Memory(Arc<MemTokens>),
}

impl Issuer {
    /// A token for `role` named `name`: its id and secret.
    async fn issue(&self, name: &str, role: Role) -> anyhow::Result<(i64, String)> {
        Ok(match self {
            Issuer::Local(store) => {
                let made = store
                    .create_token(&Principal::system("test", "test"), name, role, None)
                    .await?;
                (made.row.id, made.token)
            }
            Issuer::Memory(tokens) => {
                let made = tokens.create_token(name, role, None)?;
                (i64::try_from(made.id)?, made.token)
            }
        })
    }

    async fn revoke(&self, id: i64) -> anyhow::Result<()> {
        match self {
            Issuer::Local(store) => {
                store
                    .revoke_token(&Principal::system("test", "test"), id)
                    .await?;
            }
            Issuer::Memory(tokens) => tokens.revoke_token(u64::try_from(id)?)?,
        }
        Ok(())
    }

    fn authenticator(&self) -> Arc<dyn Authenticator> {
        match self {
            Issuer::Local(store) => Arc::new(store.clone()),
            Issuer::Memory(tokens) => tokens.clone(),
        }
    }

    async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        self.authenticator()
            .authenticate(&Presented::bearer(token).credentials())
            .await
    }
}

async fn local_issuer() -> anyhow::Result<Issuer> {
    Ok(Issuer::Local(muara_console::TokenStore::new(
        pg_pool().await?,
    )))
}

async fn mem_issuer() -> anyhow::Result<Issuer> {
    Ok(Issuer::Memory(Arc::new(MemTokens::default())))
}

async fn a_revoked_token_is_refused_and_its_name_free_again(issuer: &Issuer) -> anyhow::Result<()> {
    let name = unique("ci");
    let (id, token) = issuer.issue(&name, Role::Operator).await?;
    let p = issuer.authenticate(&token).await?;
    assert_eq!(
        (p.subject.as_str(), p.role, p.via),
        (name.as_str(), Role::Operator, "token")
    );
    issuer.revoke(id).await?;
    assert_eq!(issuer.authenticate(&token).await, Err(AuthError::Revoked));
    let err = issuer.revoke(id).await.expect_err("revoked once");
    assert_eq!(
        err.downcast_ref::<muara_core::Error>().map(|e| e.kind()),
        Some(muara_core::ErrorKind::NotFound)
    );
    let (_, next) = issuer.issue(&name, Role::Viewer).await?;
    assert_eq!(issuer.authenticate(&next).await?.role, Role::Viewer);
    assert_eq!(issuer.authenticate(&token).await, Err(AuthError::Revoked));
    Ok(())
}

async fn a_live_name_is_issued_once(issuer: &Issuer) -> anyhow::Result<()> {
    let name = unique("bot");
    let (_, token) = issuer.issue(&name, Role::Admin).await?;
    let err = issuer
        .issue(&name, Role::Viewer)
        .await
        .expect_err("a live token has this name");
    assert_eq!(
        err.downcast_ref::<muara_core::Error>().map(|e| e.kind()),
        Some(muara_core::ErrorKind::Conflict)
    );
    assert_eq!(issuer.authenticate(&token).await?.role, Role::Admin);
    for bad in ["", "-x", "<script>"] {
        let err = issuer.issue(bad, Role::Viewer).await.expect_err(bad);
        assert_eq!(
            err.downcast_ref::<muara_core::Error>().map(|e| e.kind()),
            Some(muara_core::ErrorKind::Invalid),
            "{bad:?}"
        );
    }
    Ok(())
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

//! The console's API over a real PostgreSQL (and the emulator's SQS): tokens hashed at rest,
//! configuration edits validated, scoped to their client and audited, dead-letter queues on
//! both queue adapters, and a running batch keeping the configuration it started with.

use axum::body::Body;
use axum::http::Request;
use muara_api::{Principal, Role};
use muara_console::{PgAudit, PgConsole, TokenStore};
use muara_testkit::postgres;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use tower::ServiceExt as _;

struct Fx {
    app: axum::Router,
    pool: muara_db::Pool,
    tokens: HashMap<Role, String>,
    store: TokenStore,
}

fn system() -> Principal {
    Principal::system("test", "test")
}

async fn fixture() -> anyhow::Result<Fx> {
    let pool = postgres().await?.fresh_pool().await?;
    let store = TokenStore::new(pool.clone());
    let mut tokens = HashMap::new();
    for role in Role::ALL {
        let made = store
            .create_token(&system(), &format!("ayu-{role}"), role, None)
            .await?;
        tokens.insert(role, made.token);
    }
    let mut state =
        muara_api::AppState::new("local", Arc::new(muara_core::metrics::Metrics::new()));
    state.auth = Some(Arc::new(store.clone()));
    let audit = Arc::new(PgAudit::new(pool.clone()));
    state.audit = Some(audit.clone());
    let console = Arc::new(PgConsole::new(pool.clone()));
    let mut routes = muara_console::http::pages(serde_json::json!({"auth": "token"}));
    routes.extend(muara_console::http::configuration(console));
    routes.extend(muara_console::http::audit_log(audit));
    routes.extend(muara_console::http::token_routes(Arc::new(store.clone())));
    Ok(Fx {
        app: muara_api::app(state, routes),
        pool,
        tokens,
        store,
    })
}

async fn call(fx: &Fx, as_role: Role, method: &str, path: &str, body: Value) -> (u16, Value) {
    call_with(fx, Some(&fx.tokens[&as_role]), method, path, body).await
}

async fn call_with(
    fx: &Fx,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = fx
        .app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).expect("request"))
        .await
        .expect("router answers");
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), 8 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn count(fx: &Fx, sql: &str) -> anyhow::Result<i64> {
    Ok(fx.pool.get().await?.query_one(sql, &[]).await?.get(0))
}

#[tokio::test]
async fn tokens_are_hashed_at_rest_and_stop_working_when_expired_or_revoked() -> anyhow::Result<()>
{
    let fx = fixture().await?;
    let viewer = fx.tokens[&Role::Viewer].clone();
    let (status, me) = call(&fx, Role::Viewer, "GET", "/me", json!(null)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me,
        json!({"subject": "ayu-viewer", "role": "viewer", "via": "token"})
    );

    // Only the digest is stored: no column holds the secret.
    let leaked = count(
        &fx,
        &format!("SELECT count(*) FROM auth.api_token t WHERE t::text LIKE '%{viewer}%'"),
    )
    .await?;
    assert_eq!(leaked, 0);

    // Forged: well-formed but unknown, malformed, another scheme.
    let forged = format!("muara_{}", "0".repeat(64));
    for t in [forged.as_str(), "muara_x", "' OR 1=1 --"] {
        let (status, body) = call_with(&fx, Some(t), "GET", "/me", json!(null)).await;
        assert_eq!(status, 401, "{t}: {body}");
    }
    let (status, _) = call_with(&fx, None, "GET", "/clients", json!(null)).await;
    assert_eq!(status, 401);

    // Expired.
    let short = fx
        .store
        .create_token(&system(), "short-lived", Role::Operator, Some(1))
        .await?;
    // (Not used before it expires: a token checked in the last 10 s is trusted from memory.)
    fx.pool
        .get()
        .await?
        .execute(
            "UPDATE auth.api_token SET expires_at = now() - interval '1 second' WHERE name = 'short-lived'",
            &[],
        )
        .await?;
    let (status, body) = call_with(&fx, Some(&short.token), "GET", "/me", json!(null)).await;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("the token has expired"))
    );

    // An expired token gives its name up (the first `muara up` after every token expired
    // makes "admin" again).
    let again = fx
        .store
        .create_token(&system(), "short-lived", Role::Viewer, None)
        .await?;
    let (status, _) = call_with(&fx, Some(&again.token), "GET", "/me", json!(null)).await;
    assert_eq!(status, 200);
    let live = fx
        .store
        .create_token(&system(), "short-lived", Role::Viewer, None)
        .await;
    assert!(live.is_err(), "a live token keeps its name");

    // An admin makes and revokes tokens through the API; each is audited.
    let (status, made) = call(
        &fx,
        Role::Admin,
        "POST",
        "/tokens",
        json!({"name": "ci-bot", "role": "operator", "ttl_days": 30}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["token"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    let (status, list) = call(&fx, Role::Admin, "GET", "/tokens", json!(null)).await;
    assert_eq!(status, 200);
    assert!(
        !list.to_string().contains(&secret),
        "listing never shows secrets"
    );
    let (status, _) = call(
        &fx,
        Role::Operator,
        "POST",
        "/tokens",
        json!({"name": "sneaky", "role": "admin"}),
    )
    .await;
    assert_eq!(status, 403, "an operator cannot make tokens");
    let (status, _) = call(
        &fx,
        Role::Admin,
        "POST",
        "/tokens",
        json!({"name": "<script>", "role": "viewer"}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = call_with(&fx, Some(&secret), "GET", "/me", json!(null)).await;
    assert_eq!(status, 200, "the new token works (and is now remembered)");
    let id = made["id"].as_i64().expect("id");
    let (status, _) = call(
        &fx,
        Role::Admin,
        "DELETE",
        &format!("/tokens/{id}"),
        json!(null),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call_with(&fx, Some(&secret), "GET", "/me", json!(null)).await;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("the token was revoked"))
    );
    let (_, audit) = call(&fx, Role::Admin, "GET", "/audit", json!(null)).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(&actions[..2], ["token.revoke", "token.create"], "{audit}");
    assert_eq!(audit["entries"][1]["actor"], "ayu-admin");
    Ok(())
}

#[tokio::test]
async fn configuration_edits_are_validated_scoped_to_their_client_and_audited() -> anyhow::Result<()>
{
    let fx = fixture().await?;
    for client in ["acme", "other"] {
        let (status, body) = call(
            &fx,
            Role::Admin,
            "POST",
            "/clients",
            json!({"client": client}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = call(
        &fx,
        Role::Admin,
        "POST",
        "/clients",
        json!({"client": "<img src=x onerror=alert(1)>"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let new_config = json!({"logical_source_file": "sales", "source_system": "pos",
        "source_type": "csv", "target_schema": "bronze_acme", "target_table": "sales"});
    let (status, body) = call(
        &fx,
        Role::Admin,
        "POST",
        "/clients/acme/config/client_config",
        new_config.clone(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let config_id = body["row"]["config_id"].as_i64().expect("config id");
    let (status, other) = call(
        &fx,
        Role::Admin,
        "POST",
        "/clients/other/config/client_config",
        new_config,
    )
    .await;
    assert_eq!(status, 201, "{other}");
    let other_config = other["row"]["config_id"].as_i64().expect("config id");

    let (status, body) = call(
        &fx,
        Role::Admin,
        "POST",
        "/clients/acme/config/column_mapping",
        json!({"config_id": config_id, "source_column": "Order Date'); DROP TABLE tools.client_config; --",
               "target_column": "order_date", "target_data_type": "date"}),
    )
    .await;
    assert_eq!(status, 201, "text is data, bound as a parameter: {body}");
    let mapping_id = body["row"]["mapping_id"].as_i64().expect("mapping id");
    assert_eq!(
        count(&fx, "SELECT count(*) FROM tools.client_config").await?,
        2,
        "nothing was dropped"
    );

    // Identifiers and types that would reach SQL are refused before any SQL.
    for bad in [
        json!({"target_column": "x; DROP TABLE tools.client_config"}),
        json!({"target_column": "a\"b"}),
        json!({"target_data_type": "int); DROP TABLE x; --"}),
        json!({"config_id": other_config}),
        json!({"client_id": 2}),
        json!({"ordinal": "1 OR 1=1"}),
    ] {
        let (status, body) = call(
            &fx,
            Role::Admin,
            "PUT",
            &format!("/clients/acme/config/column_mapping/{mapping_id}"),
            bad.clone(),
        )
        .await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    // Another client's row is not found through this client.
    let (status, _) = call(
        &fx,
        Role::Admin,
        "PUT",
        &format!("/clients/other/config/column_mapping/{mapping_id}"),
        json!({"target_column": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    // Roles: a viewer and an operator may read but not edit.
    for role in [Role::Viewer, Role::Operator] {
        let (status, _) = call(
            &fx,
            role,
            "PUT",
            &format!("/clients/acme/config/column_mapping/{mapping_id}"),
            json!({"source_column": "OrderDate"}),
        )
        .await;
        assert_eq!(status, 403, "{role}");
    }
    let (status, cfg) = call(
        &fx,
        Role::Viewer,
        "GET",
        "/clients/acme/config",
        json!(null),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        cfg["tables"]["column_mapping"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(cfg["schema"]["column_mapping"]["key"], "mapping_id");

    // A good edit, then a duplicate.
    let (status, body) = call(
        &fx,
        Role::Admin,
        "PUT",
        &format!("/clients/acme/config/column_mapping/{mapping_id}"),
        json!({"source_column": "OrderDate"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["row"]["source_column"], "OrderDate");
    let (status, body) = call(
        &fx,
        Role::Admin,
        "POST",
        "/clients/acme/config/column_mapping",
        json!({"config_id": config_id, "source_column": "OrderDate", "target_column": "other_col"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // Dependencies: compound keys, only this client's steps.
    let mut ids = vec![];
    for name in ["silver_acme.a", "silver_acme.b"] {
        let (status, body) = call(
            &fx,
            Role::Admin,
            "POST",
            "/clients/acme/config/integration_config",
            json!({"procedure_name": name}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["row"]["integration_id"].as_i64().expect("id"));
    }
    let (status, dep) = call(
        &fx,
        Role::Admin,
        "POST",
        "/clients/acme/config/integration_dependencies",
        json!({"integration_id": ids[1], "depends_on_id": ids[0]}),
    )
    .await;
    assert_eq!(status, 201, "{dep}");
    let dep_id = dep["row"]["dependency_id"]
        .as_str()
        .expect("key")
        .to_string();
    let (status, _) = call(
        &fx,
        Role::Admin,
        "DELETE",
        &format!("/clients/acme/config/integration_dependencies/{dep_id}"),
        json!(null),
    )
    .await;
    assert_eq!(status, 200);

    // Every change is in the audit log with who, before and after.
    let (_, audit) = call(&fx, Role::Admin, "GET", "/audit?limit=50", json!(null)).await;
    let update = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["action"] == "config.update")
        .expect("the mapping edit is audited");
    assert_eq!(update["actor"], "ayu-admin");
    assert_eq!(update["role"], "admin");
    assert_eq!(
        update["target"],
        format!("client acme / column_mapping {mapping_id}")
    );
    assert!(
        update["before"]["source_column"]
            .as_str()
            .is_some_and(|s| s.starts_with("Order Date')"))
    );
    assert_eq!(update["after"]["source_column"], "OrderDate");
    assert_eq!(
        count(&fx, "SELECT count(*) FROM audit.change WHERE action LIKE 'config.%' OR action = 'client.create'")
            .await?,
        10,
        "2 clients, 2 configs, 1 mapping, 1 update, 2 steps, 1 dependency, 1 delete; nothing refused"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_batch_keeps_the_mapping_it_started_with() -> anyhow::Result<()> {
    use muara_batch::model::{FileInput, Mode, RunInput};
    let fx = crate::batch_lifecycle::fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    let started = muara_batch::stages::start(
        &fx.deps,
        RunInput {
            client: "demo".parse().expect("a valid name"),
            batch_id: "BATCH000001".parse().expect("a valid name"),
            mode: Mode::Start,
            execution_name: "demo-BATCH000001-start".into(),
            lock: None,
        },
    )
    .await?;
    let loc = started
        .files
        .iter()
        .find(|f| f.physical_file_name.starts_with("LOC_A101"))
        .expect("the locations file")
        .clone();
    let (execution, config_id) = (started.batch.execution_name.clone(), loc.config_id);
    let kept = muara_batch::repo::mapping_of(&fx.deps.pool, &execution, config_id).await?;
    assert!(kept.iter().any(|m| m.source_column == "COUNTRY"));

    // WHEN an admin fixes the mapping while the batch runs
    let console = PgConsole::new(fx.deps.pool.clone());
    let row: i32 = fx
        .deps
        .pool
        .get()
        .await?
        .query_one(
            "SELECT mapping_id FROM tools.column_mapping WHERE source_column = 'COUNTRY'",
            &[],
        )
        .await?
        .get(0);
    console
        .update_row(
            &system(),
            "demo",
            "column_mapping",
            &row.to_string(),
            json!({"source_column": "CNTRY"}),
        )
        .await?;

    // THEN this run still validates against the mapping it started with …
    let input = FileInput {
        batch: started.batch.clone(),
        file: loc,
        error: None,
        rows: None,
    };
    let converted = muara_batch::stages::convert(&fx.deps, input).await?;
    let err = muara_batch::stages::validate_mapping(&fx.deps, converted)
        .await
        .expect_err("the old mapping does not fit the file");
    assert!(err.to_string().contains("missing: COUNTRY"), "{err}");
    // … a retried start keeps that copy, and the next run reads the fixed mapping.
    muara_batch::repo::snapshot_configs(&fx.deps.pool, &execution, &[config_id]).await?;
    let kept = muara_batch::repo::mapping_of(&fx.deps.pool, &execution, config_id).await?;
    assert!(kept.iter().any(|m| m.source_column == "COUNTRY"));
    let restart = "demo-BATCH000001-restart-1";
    muara_batch::repo::snapshot_configs(&fx.deps.pool, restart, &[config_id]).await?;
    let next = muara_batch::repo::mapping_of(&fx.deps.pool, restart, config_id).await?;
    assert!(next.iter().any(|m| m.source_column == "CNTRY"));
    Ok(())
}

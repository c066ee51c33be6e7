//! Every route's role, checked from outside over the routes a host merges (the kit's own and
//! every pipeline's): the table below must list exactly the routes served (a new route fails
//! here until its role is written down), and each route is called without a token, with a
//! forged one, and as each role. The pipelines' services run on the test database, so an
//! allowed call reaches a real handler.

use crate::support::{local_queue_and_claims, pg_pool};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use muara_api::{AppState, Route, route_table};
use muara_core::metrics::Metrics;
use muara_core::ports::Role;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const PUBLIC: Option<Role> = None;
const VIEWER: Option<Role> = Some(Role::Viewer);
const OPERATOR: Option<Role> = Some(Role::Operator);
const ADMIN: Option<Role> = Some(Role::Admin);

/// (method, path, least role; `None` = unauthenticated).
const EXPECTED: &[(&str, &str, Option<Role>)] = &[
    ("GET", "/health", PUBLIC),
    ("GET", "/metrics", VIEWER),
    ("GET", "/clients", VIEWER),
    ("POST", "/clients", ADMIN),
    ("GET", "/clients/{client}/batches", VIEWER),
    ("POST", "/clients/{client}/batches", OPERATOR),
    ("GET", "/clients/{client}/batches/{batch_id}", VIEWER),
    ("GET", "/clients/{client}/batches/{batch_id}/logs", VIEWER),
    (
        "GET",
        "/clients/{client}/batches/{batch_id}/objects",
        VIEWER,
    ),
    ("GET", "/clients/{client}/batches/{batch_id}/object", VIEWER),
    ("GET", "/clients/{client}/config", VIEWER),
    ("POST", "/clients/{client}/config/{table}", ADMIN),
    ("PUT", "/clients/{client}/config/{table}/{id}", ADMIN),
    ("DELETE", "/clients/{client}/config/{table}/{id}", ADMIN),
    ("GET", "/kpis", VIEWER),
    ("POST", "/publish", OPERATOR),
    ("GET", "/stats", VIEWER),
    ("GET", "/events", VIEWER),
    ("GET", "/recordings", VIEWER),
    ("GET", "/recordings/daily", VIEWER),
    ("POST", "/webhook/{channel}", PUBLIC),
    ("GET", "/webhook/{channel}", PUBLIC),
    ("GET", "/funnel-report", VIEWER),
    ("GET", "/funnel-report.csv", VIEWER),
    ("GET", "/keywords", VIEWER),
    ("PUT", "/keywords", ADMIN),
    ("GET", "/dead-letters", VIEWER),
    ("GET", "/dead-letters/{queue}", VIEWER),
    ("POST", "/dead-letters/{queue}/redrive", OPERATOR),
    ("POST", "/dead-letters/{queue}/discard", OPERATOR),
    ("GET", "/console", PUBLIC),
    ("GET", "/console/config.json", PUBLIC),
    ("GET", "/console/{asset}", PUBLIC),
    ("GET", "/me", VIEWER),
    ("GET", "/audit", ADMIN),
    ("GET", "/tokens", ADMIN),
    ("POST", "/tokens", ADMIN),
    ("DELETE", "/tokens/{id}", ADMIN),
];

/// Every pipeline's routes, on the test database and a lake in a temporary folder.
async fn pipeline_routes(lake: &std::path::Path) -> anyhow::Result<Vec<Route>> {
    let pool = pg_pool().await?;
    let (queue, claims) = local_queue_and_claims(&pool, "roles").await?;
    let store = Arc::new(muara_local::dirstore::DirStore::open(lake.join("lake")).await?);
    let metrics = Arc::new(Metrics::new());
    let observe = muara_funnel::observe::Observe::local(metrics);
    let mut routes = muara_events::wire::wire(muara_events::wire::Ports {
        idempotency: claims.clone(),
        queue: queue.clone(),
        pool: pool.clone(),
    })
    .routes();
    let orchestrator = Arc::new(muara_local::orchestrator::LocalOrchestrator::new(
        pool.clone(),
        Arc::new(muara_local::tasks::NoTasksYet),
    ));
    let deps =
        muara_host::pipelines::local_batch_deps(store.clone(), pool.clone(), orchestrator, lake)
            .await?;
    routes.extend(muara_batch::http::routes(Arc::new(
        muara_batch::control::BatchControl(deps),
    )));
    let tokens = Arc::new(muara_console::TokenStore::new(pool.clone()));
    let audit = Arc::new(muara_console::PgAudit::new(pool.clone()));
    routes.extend(muara_console::http::routes(
        muara_console::http::ConsoleRoutes {
            login: serde_json::json!({"auth": "token"}),
            console: Arc::new(muara_console::PgConsole::new(pool.clone())),
            audit,
            tokens: Some(tokens),
            dead_letters: Arc::new(muara_local::deadletters::PgDeadLetters::new(pool.clone())),
        },
    ));
    routes.extend(muara_recordings::http::routes(Arc::new(
        muara_recordings::search::Service { pool: pool.clone() },
    )));
    let settings = muara_funnel::wire::Settings {
        secret: None,
        verify_token: Some("roles".into()),
        timezone: "Asia/Jakarta".into(),
        keywords_ttl: Duration::from_secs(30),
        observe,
        sheet_url: None,
    };
    let ports = muara_funnel::wire::Ports {
        store,
        queue,
        idempotency: claims,
        pool,
    };
    routes.extend(muara_funnel::wire::wire(ports, &settings).routes());
    Ok(routes)
}

struct Host {
    app: Router,
    table: Vec<(String, String, Option<Role>)>,
    _lake: tempfile::TempDir,
}

async fn host() -> anyhow::Result<Host> {
    let lake = tempfile::tempdir()?;
    let mut state = AppState::new("local", Arc::new(Metrics::new()));
    state.auth = Some(Arc::new(muara_api::testing::RoleNamedTokens));
    let routes = muara_api::all_routes(&state, pipeline_routes(lake.path()).await?);
    let table = route_table(&routes)
        .into_iter()
        .map(|e| {
            let role = match e.access {
                muara_api::Access::Public => None,
                muara_api::Access::Role(r) => Some(r),
            };
            (e.method.to_string(), e.path.to_string(), role)
        })
        .collect();
    let app = muara_api::app(state, pipeline_routes(lake.path()).await?);
    Ok(Host {
        app,
        table,
        _lake: lake,
    })
}

/// A concrete path for a route pattern.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{client}", "acme")
        .replace("{batch_id}", "BATCH000001")
        .replace("{table}", "column_mapping")
        .replace("{id}", "1")
        .replace("{queue}", "funnel")
        .replace("{channel}", "whatsapp")
        .replace("{asset}", "app.js")
}

async fn status(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    origin: Option<&str>,
) -> StatusCode {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "console.test")
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let req = req.body(Body::from("{}")).expect("request");
    tokio::time::timeout(Duration::from_secs(30), app.clone().oneshot(req))
        .await
        .expect("the router answers within 30 s")
        .expect("router answers")
        .status()
}

#[tokio::test]
async fn every_route_has_a_role_written_down() -> anyhow::Result<()> {
    let served = host().await?.table;
    for s in &served {
        assert!(
            EXPECTED
                .iter()
                .any(|(m, p, r)| (*m, *p, *r) == (s.0.as_str(), s.1.as_str(), s.2)),
            "{} {} ({:?}) is served but has no row in EXPECTED: write down who may call it",
            s.0,
            s.1,
            s.2
        );
    }
    for (m, p, r) in EXPECTED {
        assert!(
            served
                .iter()
                .any(|s| (s.0.as_str(), s.1.as_str(), s.2) == (*m, *p, *r)),
            "{m} {p} ({r:?}) is in EXPECTED but not served that way"
        );
    }
    let public: Vec<_> = EXPECTED
        .iter()
        .filter(|e| e.2.is_none())
        .map(|e| e.1)
        .collect();
    assert!(
        public
            .iter()
            .all(|p| *p == "/health" || p.starts_with("/webhook/") || p.starts_with("/console")),
        "only health, webhooks and the console's static files may be public: {public:?}"
    );
    Ok(())
}

#[tokio::test]
async fn every_route_refuses_callers_without_the_role() -> anyhow::Result<()> {
    let h = host().await?;
    for (method, pattern, needed) in EXPECTED {
        let path = concrete(pattern);
        let Some(needed) = needed else {
            // WhatsApp's verification handshake is the one public route that reads a query.
            let path = format!("{path}?hub.mode=subscribe&hub.verify_token=roles&hub.challenge=ok");
            let s = status(&h.app, method, &path, None, None).await;
            assert!(
                s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
                "{method} {path} is public but answered {s}"
            );
            continue;
        };
        assert_eq!(
            status(&h.app, method, &path, None, None).await,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
        for forged in ["muara_forged", "expired", "root"] {
            assert_eq!(
                status(&h.app, method, &path, Some(forged), None).await,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with token {forged:?}"
            );
        }
        for role in Role::ALL {
            let s = status(&h.app, method, &path, Some(role.as_str()), None).await;
            if role < *needed {
                assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} as {role}");
            } else {
                assert!(
                    s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
                    "{method} {path} as {role} answered {s}"
                );
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn changes_from_a_foreign_origin_are_refused_and_reads_are_not() -> anyhow::Result<()> {
    let h = host().await?;
    let evil = Some("https://evil.example");
    for (method, pattern, needed) in EXPECTED {
        if needed.is_none() {
            continue;
        }
        let path = concrete(pattern);
        let s = status(&h.app, method, &path, Some("admin"), evil).await;
        if *method == "GET" {
            assert_ne!(s, StatusCode::FORBIDDEN, "{method} {path}");
        } else {
            assert_eq!(
                s,
                StatusCode::FORBIDDEN,
                "{method} {path} from a foreign origin"
            );
            let same = status(
                &h.app,
                method,
                &path,
                Some("admin"),
                Some("http://console.test"),
            )
            .await;
            assert_ne!(
                same,
                StatusCode::FORBIDDEN,
                "{method} {path} from its own origin"
            );
        }
    }
    Ok(())
}

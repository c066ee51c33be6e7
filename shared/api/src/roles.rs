//! Every route's role, checked from outside: the table below must list exactly the routes the
//! router serves (a new route fails here until its role is written down), and each route is
//! called without a token, with a forged one, and as each role.

use crate::auth::Role;
use crate::{app, route_table, testing};
use axum::body::Body;
use axum::http::{Request, StatusCode};
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

async fn status(method: &str, path: &str, token: Option<&str>, origin: Option<&str>) -> StatusCode {
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
    app(testing::state(), vec![])
        .oneshot(req)
        .await
        .expect("router answers")
        .status()
}

#[test]
fn every_route_has_a_role_written_down() {
    let served: Vec<(String, String, Option<Role>)> =
        route_table(&crate::all_routes(&testing::state(), vec![]))
            .into_iter()
            .map(|e| {
                let role = match e.access {
                    crate::Access::Public => None,
                    crate::Access::Role(r) => Some(r),
                };
                (e.method.to_string(), e.path.to_string(), role)
            })
            .collect();
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
}

#[tokio::test]
async fn every_route_refuses_callers_without_the_role() {
    for (method, pattern, needed) in EXPECTED {
        let path = concrete(pattern);
        let Some(needed) = needed else {
            let s = status(method, &path, None, None).await;
            assert!(
                s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
                "{method} {path} is public but answered {s}"
            );
            continue;
        };
        assert_eq!(
            status(method, &path, None, None).await,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
        for forged in ["muara_forged", "expired", "root"] {
            assert_eq!(
                status(method, &path, Some(forged), None).await,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with token {forged:?}"
            );
        }
        for role in Role::ALL {
            let s = status(method, &path, Some(role.as_str()), None).await;
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
}

#[tokio::test]
async fn changes_from_a_foreign_origin_are_refused_and_reads_are_not() {
    let evil = Some("https://evil.example");
    for (method, pattern, needed) in EXPECTED {
        if needed.is_none() {
            continue;
        }
        let path = concrete(pattern);
        let s = status(method, &path, Some("admin"), evil).await;
        if *method == "GET" {
            assert_ne!(s, StatusCode::FORBIDDEN, "{method} {path}");
        } else {
            assert_eq!(
                s,
                StatusCode::FORBIDDEN,
                "{method} {path} from a foreign origin"
            );
            let same = status(method, &path, Some("admin"), Some("http://console.test")).await;
            assert_ne!(
                same,
                StatusCode::FORBIDDEN,
                "{method} {path} from its own origin"
            );
        }
    }
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_content_security_policy() {
    for path in ["/console", "/console/app.js", "/console/app.css"] {
        let res = app(testing::state(), vec![])
            .oneshot(Request::get(path).body(Body::empty()).expect("request"))
            .await
            .expect("router answers");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        assert_eq!(res.headers()["x-frame-options"], "DENY");
    }
    let cognito = crate::console::content_security_policy(
        &serde_json::json!({"auth": "cognito", "region": "ap-southeast-3", "client_id": "x"}),
    );
    assert!(
        cognito.contains("connect-src 'self' https://cognito-idp.ap-southeast-3.amazonaws.com;")
    );
    let hostile =
        crate::console::content_security_policy(&serde_json::json!({"region": "x; script-src *"}));
    assert!(!hostile.contains("script-src *"), "{hostile}");
    assert_eq!(
        status("GET", "/console/../../etc/passwd", None, None).await,
        StatusCode::NOT_FOUND
    );
}

//! The console's static files are served with a strict content security policy. (The role
//! test over every route a host merges is in the integration tests, `tests/it/roles.rs`.)

use crate::{app, testing};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

async fn status(path: &str) -> StatusCode {
    app(testing::state(), vec![])
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("router answers")
        .status()
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
        status("/console/../../etc/passwd").await,
        StatusCode::NOT_FOUND
    );
}

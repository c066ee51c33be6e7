//! The Lambda path of authorization: API Gateway HTTP API events as the JWT authorizer
//! delivers them (claims in `requestContext.authorizer.jwt`), parsed by lambda_http and
//! answered by the router `muara_lambda::http` serves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use muara_api::AppState;
use muara_api::auth::GatewayJwt;
use muara_core::metrics::Metrics;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

fn event(method: &str, path: &str, claims: Option<Value>, headers: Value) -> String {
    let mut ctx = json!({
        "accountId": "123456789012", "apiId": "abc123",
        "domainName": "abc123.execute-api.ap-southeast-3.amazonaws.com",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                 "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
        "requestId": "r1", "routeKey": format!("{method} {path}"), "stage": "$default",
        "time": "22/Nov/2026:03:10:00 +0000", "timeEpoch": 1795489800000u64
    });
    if let Some(c) = claims {
        ctx["authorizer"] = json!({"jwt": {"claims": c, "scopes": null}});
    }
    json!({
        "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path,
        "rawQueryString": "", "headers": headers, "requestContext": ctx,
        "body": "{}", "isBase64Encoded": false
    })
    .to_string()
}

async fn status(event: String) -> u16 {
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
    let (parts, body) = request.into_parts();
    let request = axum::http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
    let mut state = AppState::new("lambda", Arc::new(Metrics::new()));
    state.auth = Some(Arc::new(GatewayJwt));
    // One admin-only route besides the kit's own (the health Lambda links no pipeline).
    let admin_only = muara_api::Route::new(
        axum::http::Method::PUT,
        "/admin-only",
        muara_api::ADMIN,
        (),
        || async { "done" },
    );
    muara_lambda::http::router(state, vec![admin_only])
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn claims(groups: &str) -> Value {
    json!({"sub": "1b2c", "cognito:username": "ayu@example.com", "cognito:groups": groups,
           "iss": "https://cognito-idp.ap-southeast-3.amazonaws.com/pool", "exp": "1795493400"})
}

#[tokio::test]
async fn the_authorizers_groups_claim_decides_the_role() {
    let h = json!({"host": "abc123.execute-api.ap-southeast-3.amazonaws.com",
                   "content-type": "application/json"});
    // GET /metrics needs viewer.
    assert_eq!(
        status(event(
            "GET",
            "/metrics",
            Some(claims("[viewer]")),
            h.clone()
        ))
        .await,
        200
    );
    assert_eq!(
        status(event("GET", "/metrics", Some(claims("[staff]")), h.clone())).await,
        403
    );
    assert_eq!(status(event("GET", "/metrics", None, h.clone())).await, 401);
    // PUT /admin-only needs admin: an operator is refused before the handler.
    assert_eq!(
        status(event(
            "PUT",
            "/admin-only",
            Some(claims("[operator viewer]")),
            h.clone()
        ))
        .await,
        403
    );
    assert_eq!(
        status(event(
            "PUT",
            "/admin-only",
            Some(claims("[admin]")),
            h.clone()
        ))
        .await,
        200
    );
    // Health stays public.
    assert_eq!(status(event("GET", "/health", None, h.clone())).await, 200);
}

#[tokio::test]
async fn a_bearer_header_without_the_authorizers_claims_is_not_trusted() {
    // A bearer token without the authorizer's claims in the event (a route without the
    // authorizer) proves nothing, whatever it claims to be. (Whoever may invoke the function
    // directly can write any event: that is an IAM boundary, see docs/console.md.)
    let forged = "Bearer eyJhbGciOiJub25lIn0.eyJjb2duaXRvOmdyb3VwcyI6WyJhZG1pbiJdfQ.";
    let h = json!({"host": "abc123.execute-api.ap-southeast-3.amazonaws.com",
                   "authorization": forged});
    assert_eq!(status(event("GET", "/metrics", None, h)).await, 401);
}

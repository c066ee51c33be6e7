//! Pipeline B's routes over the real pipeline: a run requested through the API starts (202)
//! and ends like the trigger's; malformed paths, bodies and modes are refused with 422 before
//! anything reaches the pipeline, and a refused request leaves no audit entry.

use crate::batch_lifecycle::{Fx, finished, fixture};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use muara_batch::control::BatchControl;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

async fn api(fx: &Fx) -> anyhow::Result<(Router, String)> {
    let mut state =
        muara_api::AppState::new("local", Arc::new(muara_core::metrics::Metrics::new()));
    let token = crate::support::with_admin(&mut state, &fx.deps.pool).await?;
    let routes = muara_batch::http::routes(Arc::new(BatchControl(fx.deps.clone())));
    Ok((muara_api::app(state, routes), token))
}

async fn call(
    app: &Router,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<(StatusCode, Value)> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))?;
    let res = app.clone().oneshot(req).await?;
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 8 << 20).await?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn audited(fx: &Fx) -> anyhow::Result<i64> {
    Ok(fx
        .deps
        .pool
        .get()
        .await?
        .query_one(
            "SELECT count(*) FROM audit.change WHERE action LIKE 'batch.%'",
            &[],
        )
        .await?
        .get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_requested_through_the_api_starts_ends_and_reads_back() -> anyhow::Result<()> {
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    let (app, token) = api(&fx).await?;

    let (status, started) = call(
        &app,
        &token,
        "POST",
        "/clients/demo/batches",
        Some(r#"{"mode":"start"}"#),
    )
    .await?;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["outcome"], "started", "{started}");
    let execution = started["execution_id"].as_str().unwrap_or_default();
    let info = finished(&fx, execution).await?;
    assert_eq!(
        info.status,
        muara_core::ports::ExecutionStatus::Succeeded,
        "{info:?}"
    );
    assert_eq!(audited(&fx).await?, 1, "the request is in the audit log");

    let batch = started["batch_id"].as_str().unwrap_or_default().to_string();
    let (status, list) = call(&app, &token, "GET", "/clients/demo/batches?limit=5", None).await?;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert!(list.to_string().contains(&batch), "{list}");
    for tail in ["", "/logs", "/objects"] {
        let path = format!("/clients/demo/batches/{batch}{tail}");
        let (status, v) = call(&app, &token, "GET", &path, None).await?;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
    }
    let (status, _) = call(
        &app,
        &token,
        "GET",
        "/clients/demo/batches/BATCH000404",
        None,
    )
    .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nothing new in the lake: a second start has nothing to do, and says so with 200.
    let (status, again) = call(
        &app,
        &token,
        "POST",
        "/clients/demo/batches",
        Some(r#"{"mode":"start"}"#),
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["outcome"], "nothing_to_do", "{again}");
    Ok(())
}

#[tokio::test]
async fn malformed_requests_are_refused_with_the_reason_before_reaching_the_pipeline()
-> anyhow::Result<()> {
    let fx = fixture().await?;
    let (app, token) = api(&fx).await?;
    for bad in [
        "/clients/demo/batches?limit=0",
        "/clients/demo/batches?limit=x",
        "/clients/demo/batches/batch1",
        "/clients/demo/batches/batch1/logs",
        "/clients/ACME/batches",
    ] {
        let (status, body) = call(&app, &token, "GET", bad, None).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["error"].is_string(), "{bad}: {body}");
    }
    for (path, body) in [
        ("/clients/Acme;drop/batches", r#"{"mode":"start"}"#),
        ("/clients/demo/batches", r#"{"mode":"start","extra":1}"#),
        ("/clients/demo/batches", r#"{"mode":"bogus"}"#),
        (
            "/clients/demo/batches",
            r#"{"mode":"restart","batch_id":"B1"}"#,
        ),
    ] {
        let (status, answer) = call(&app, &token, "POST", path, Some(body)).await?;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {answer}"
        );
    }
    let (_, bogus) = call(
        &app,
        &token,
        "POST",
        "/clients/demo/batches",
        Some(r#"{"mode":"bogus"}"#),
    )
    .await?;
    assert!(bogus["error"].to_string().contains("bogus"), "{bogus}");
    assert_eq!(audited(&fx).await?, 0, "a refused request changes nothing");
    Ok(())
}

//! The client's batch lease: a run whose execution is gone is taken over at once (no waiting
//! for a TTL, no hand-written SQL), a superseded holder can never write again, and an
//! operator's unlock is the manual way out.

use crate::batch_lifecycle::{count, fixture, run};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use muara_batch::control::BatchControl;
use muara_batch::lease::{LOCK_TTL, lock_key};
use muara_batch::model::Mode;
use muara_batch::runner::{RunOutcome, request};
use muara_batch::tasks::Stage;
use muara_core::ports::Lease;
use serde_json::json;
use std::sync::Arc;
use tower::ServiceExt;

/// Leaves the state a crashed run leaves: the client's lease held by an execution the
/// orchestrator knows with `status`, its fence, and its audit row still RUNNING.
async fn dead_holder(fx: &crate::batch_lifecycle::Fx, name: &str, status: &str) -> Lease {
    let db = fx.deps.pool.get().await.unwrap();
    db.execute(
        "INSERT INTO muara_local.executions (execution_id, machine, name, input, status, host, heartbeat_at)
         VALUES ($1, 'batch-lifecycle', $2, '{}', $3, 'another-host', now())",
        &[&format!("local:batch-lifecycle:{name}"), &name, &status],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO tools.job_execution_log (client_id, batch_id, mode, execution_name, status)
         SELECT client_id, 'BATCH000099', 'start', $1, 'RUNNING' FROM tools.client_reference
         WHERE client_schema = 'demo'",
        &[&name],
    )
    .await
    .unwrap();
    let lease = fx
        .deps
        .locks
        .acquire(&lock_key("demo"), &format!("execution:{name}"), LOCK_TTL)
        .await
        .unwrap()
        .expect("a free lease");
    db.execute(
        "INSERT INTO tools.batch_lease (client, token, owner, how) VALUES ('demo', $1, $2, 'acquired')
         ON CONFLICT (client) DO UPDATE SET token = excluded.token, owner = excluded.owner",
        &[&lease.token, &lease.owner],
    )
    .await
    .unwrap();
    lease
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_whose_execution_died_is_taken_over_at_once_and_can_never_write_again()
-> anyhow::Result<()> {
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    let old = dead_holder(&fx, "demo-BATCH000099-start", "FAILED").await;

    // The next request does not wait out the 2-hour TTL: the holder's execution has ended.
    run(&fx, Mode::Start, None).await?;
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM bronze_demo.crm_cust_info WHERE dwh_batch_id = 'BATCH000001'"
        )
        .await?,
        506
    );
    // The dead run no longer looks alive in the audit.
    assert_eq!(
        count(&fx, "SELECT count(*) FROM tools.job_execution_log WHERE execution_name = 'demo-BATCH000099-start'
                    AND status = 'FAILED' AND error_message LIKE 'the execution ended (FAILED) without finalising%'").await?,
        1
    );

    // The superseded holder wakes up and tries to write: every stage refuses it.
    let stale = json!({"batch": {
        "client": "demo", "client_id": 1, "batch_id": "BATCH000001", "mode": "start",
        "execution_name": "demo-BATCH000099-start", "manifest_key": "",
        "lock": {"key": old.key, "owner": old.owner, "token": old.token}
    }});
    let before = count(&fx, "SELECT count(*) FROM tools.transformation_log").await?;
    let refused = muara_batch::tasks::run_stage(&fx.deps, Stage::Transform, stale)
        .await
        .expect_err("a superseded lease writes nothing");
    assert!(refused.message().starts_with("superseded"), "{refused}");
    assert_eq!(
        count(&fx, "SELECT count(*) FROM tools.transformation_log").await?,
        before,
        "no step ran"
    );
    // The fence alone stops it too, inside the write transaction.
    let db = fx.deps.pool.get().await?;
    let lock = muara_batch::model::LeaseRef::from(old.clone());
    assert!(
        muara_batch::lease::check(&db, "demo", Some(&lock))
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_holder_is_named_when_busy_and_an_unlock_frees_and_fences_it() -> anyhow::Result<()>
{
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    let live = dead_holder(&fx, "demo-BATCH000099-start", "RUNNING").await;

    assert_eq!(
        request(&fx.deps, "demo", Mode::Start, None).await?,
        RunOutcome::Busy {
            holder: Some("execution:demo-BATCH000099-start".into())
        }
    );

    // Through the API, as an operator would, and audited.
    let mut state =
        muara_api::AppState::new("local", Arc::new(muara_core::metrics::Metrics::new()));
    let token = crate::support::with_admin(&mut state, &fx.deps.pool).await?;
    let app = muara_api::app(
        state,
        muara_batch::http::routes(Arc::new(BatchControl(fx.deps.clone()))),
    );
    let unlock = || async {
        let res = app
            .clone()
            .oneshot(
                Request::post("/clients/demo/batches")
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .body(Body::from(r#"{"mode":"unlock"}"#))?,
            )
            .await?;
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await?;
        anyhow::Ok((status, serde_json::from_slice::<serde_json::Value>(&bytes)?))
    };
    let (status, answer) = unlock().await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "unlocked", "{answer}");
    assert_eq!(
        answer["previous_holder"],
        "execution:demo-BATCH000099-start"
    );
    assert!(fx.deps.locks.holder(&lock_key("demo")).await?.is_none());
    let db = fx.deps.pool.get().await?;
    let lock = muara_batch::model::LeaseRef::from(live.clone());
    assert!(
        muara_batch::lease::check(&db, "demo", Some(&lock))
            .await
            .is_err(),
        "the unlocked holder is fenced out"
    );
    let (_, again) = unlock().await?;
    assert_eq!(again["outcome"], "not_locked");
    let audited: i64 = db
        .query_one(
            "SELECT count(*) FROM audit.change WHERE action = 'batch.unlock' AND target = 'client demo'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(audited, 2, "each unlock is in the audit log");

    // The client runs again.
    run(&fx, Mode::Start, None).await?;
    Ok(())
}

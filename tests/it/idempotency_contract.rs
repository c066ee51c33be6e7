//! Idempotency contract: PostgreSQL records and DynamoDB conditional writes (moto) agree.

use crate::support::{LocksFx, contract, dynamo_locks, mem_locks, pg_locks};
use muara_core::ports::Begin;
use muara_testkit::eventually;
use serde_json::json;
use std::time::Duration;

contract!(
    [
        the_first_caller_owns_the_work_and_later_ones_see_its_result,
        a_different_payload_under_the_same_key_is_a_conflict,
        an_expired_claim_can_be_taken_over,
        an_abandoned_claim_can_be_retried_at_once,
        concurrent_claims_start_the_work_once,
        many_keys_at_once_answer_as_one_by_one,
        a_failed_send_frees_its_claims_and_a_sent_one_completes_them,
    ],
    local_pg => pg_locks,
    aws_dynamodb => dynamo_locks,
    memory => mem_locks,
);

const CLAIM: Duration = Duration::from_secs(60);
const KEEP: Duration = Duration::from_secs(3600);

async fn the_first_caller_owns_the_work_and_later_ones_see_its_result(
    fx: &LocksFx,
) -> anyhow::Result<()> {
    assert_eq!(
        fx.idem.begin("orders/e-1", "h1", CLAIM).await?,
        Begin::Started
    );
    assert_eq!(
        fx.idem.begin("orders/e-1", "h1", CLAIM).await?,
        Begin::InProgress
    );
    fx.idem
        .complete("orders/e-1", &json!({"stored": true, "id": 42}), KEEP)
        .await?;
    assert_eq!(
        fx.idem.begin("orders/e-1", "h1", CLAIM).await?,
        Begin::Completed(json!({"stored": true, "id": 42}))
    );
    Ok(())
}

async fn a_different_payload_under_the_same_key_is_a_conflict(fx: &LocksFx) -> anyhow::Result<()> {
    assert_eq!(
        fx.idem.begin("orders/e-2", "h1", CLAIM).await?,
        Begin::Started
    );
    fx.idem.complete("orders/e-2", &json!("ok"), KEEP).await?;
    assert_eq!(
        fx.idem.begin("orders/e-2", "h2", CLAIM).await?,
        Begin::Conflict {
            existing_hash: "h1".into()
        }
    );
    Ok(())
}

async fn an_expired_claim_can_be_taken_over(fx: &LocksFx) -> anyhow::Result<()> {
    assert_eq!(
        fx.idem
            .begin("orders/e-3", "h", Duration::from_secs(1))
            .await?,
        Begin::Started
    );
    eventually(Duration::from_secs(15), "the claim to expire", || async {
        Ok(match fx.idem.begin("orders/e-3", "h", CLAIM).await? {
            Begin::Started => Some(()),
            Begin::InProgress => None,
            other => panic!("unexpected {other:?}"),
        })
    })
    .await
}

async fn an_abandoned_claim_can_be_retried_at_once(fx: &LocksFx) -> anyhow::Result<()> {
    assert_eq!(
        fx.idem.begin("orders/e-4", "h", CLAIM).await?,
        Begin::Started
    );
    fx.idem.abandon("orders/e-4").await?;
    assert_eq!(
        fx.idem.begin("orders/e-4", "h", CLAIM).await?,
        Begin::Started
    );
    // Abandoning completed work does nothing: the result stays.
    fx.idem.complete("orders/e-4", &json!(1), KEEP).await?;
    fx.idem.abandon("orders/e-4").await?;
    assert_eq!(
        fx.idem.begin("orders/e-4", "h", CLAIM).await?,
        Begin::Completed(json!(1))
    );
    Ok(())
}

async fn concurrent_claims_start_the_work_once(fx: &LocksFx) -> anyhow::Result<()> {
    let claims = (0..8).map(|_| {
        let idem = fx.idem.clone();
        tokio::spawn(async move { idem.begin("orders/race", "h", CLAIM).await })
    });
    let mut started = 0;
    for c in claims {
        match c.await?? {
            Begin::Started => started += 1,
            Begin::InProgress => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 1);
    Ok(())
}

async fn many_keys_at_once_answer_as_one_by_one(fx: &LocksFx) -> anyhow::Result<()> {
    let p = muara_testkit::unique("k");
    let key = |n: &str| format!("{p}/{n}");
    // Set the scene: one completed, one in progress, one completed with another payload.
    fx.idem.begin(&key("done"), "h", CLAIM).await?;
    fx.idem
        .complete(&key("done"), &json!({"ok": 1}), KEEP)
        .await?;
    fx.idem.begin(&key("busy"), "h", CLAIM).await?;
    fx.idem.begin(&key("other"), "h-old", CLAIM).await?;
    fx.idem.complete(&key("other"), &json!({}), KEEP).await?;
    let items: Vec<(String, String)> = ["new", "done", "busy", "other"]
        .iter()
        .map(|n| (key(n), "h".to_string()))
        .collect();
    let answers = fx.idem.begin_many(&items, CLAIM).await?;
    assert_eq!(
        answers,
        [
            Begin::Started,
            Begin::Completed(json!({"ok": 1})),
            Begin::InProgress,
            Begin::Conflict {
                existing_hash: "h-old".into()
            },
        ]
    );
    fx.idem
        .complete_many(&[key("new"), key("busy")], &json!({"ok": 2}), KEEP)
        .await?;
    assert_eq!(
        fx.idem.begin(&key("new"), "h", CLAIM).await?,
        Begin::Completed(json!({"ok": 2}))
    );
    assert_eq!(
        fx.idem.begin(&key("busy"), "h", CLAIM).await?,
        Begin::Completed(json!({"ok": 2}))
    );
    Ok(())
}

/// The send protocol over the store (`muara_core::idempotent::send_claimed`): a send that fails
/// frees what it claimed at once (a retry takes it without waiting for expiry); one that
/// succeeds completes its claims, so a repeat is a duplicate with the recorded result.
async fn a_failed_send_frees_its_claims_and_a_sent_one_completes_them(
    fx: &LocksFx,
) -> anyhow::Result<()> {
    let keys: Vec<String> = vec!["send/a".into(), "send/b".into()];
    let items: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), "h".into())).collect();
    let idem = fx.idem.as_ref();
    assert!(
        idem.begin_many(&items, CLAIM)
            .await?
            .iter()
            .all(|b| *b == Begin::Started)
    );
    let failed =
        muara_core::idempotent::send_claimed(idem, &keys, &json!({"queued": true}), KEEP, async {
            Err::<(), _>(muara_core::Error::retryable("the queue is away"))
        })
        .await;
    assert!(failed.is_err_and(|e| e.is_retryable()));
    // Freed: the retry owns them now.
    assert!(
        idem.begin_many(&items, CLAIM)
            .await?
            .iter()
            .all(|b| *b == Begin::Started)
    );
    let sent =
        muara_core::idempotent::send_claimed(idem, &keys, &json!({"queued": true}), KEEP, async {
            Ok::<_, muara_core::Error>(2)
        })
        .await?;
    assert_eq!(sent, 2);
    assert_eq!(
        idem.begin_many(&items, CLAIM).await?,
        vec![Begin::Completed(json!({"queued": true})); 2]
    );
    Ok(())
}

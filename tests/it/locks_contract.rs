//! Locks contract: PostgreSQL locks and DynamoDB conditional writes (moto) behave the same.

use crate::support::{LocksFx, contract, dynamo_locks, mem_locks, pg_locks};
use muara_testkit::eventually;
use std::time::Duration;

contract!(
    [
        a_held_lock_is_refused_to_others,
        an_expired_lock_is_stolen_and_its_old_holder_loses_it,
        renewing_keeps_the_lock_past_its_first_expiry,
        release_frees_the_lock_at_once,
        concurrent_acquirers_get_exactly_one_lease,
        a_gone_holder_is_taken_over_once_and_fenced_out,
        renewing_hands_the_lease_to_a_new_owner,
    ],
    local_pg => pg_locks,
    aws_dynamodb => dynamo_locks,
    memory => mem_locks,
);

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_secs(1);

async fn a_held_lock_is_refused_to_others(fx: &LocksFx) -> anyhow::Result<()> {
    let a = fx
        .locks
        .acquire("client:acme", "trigger-a", LONG)
        .await?
        .expect("free lock");
    assert!(
        fx.locks
            .acquire("client:acme", "trigger-b", LONG)
            .await?
            .is_none()
    );
    assert!(
        fx.locks
            .acquire("client:other", "trigger-b", LONG)
            .await?
            .is_some(),
        "keys are independent"
    );
    assert!(fx.locks.release(&a).await?);
    Ok(())
}

async fn an_expired_lock_is_stolen_and_its_old_holder_loses_it(fx: &LocksFx) -> anyhow::Result<()> {
    let old = fx
        .locks
        .acquire("client:acme", "crashed", SHORT)
        .await?
        .expect("free lock");
    let new = eventually(
        Duration::from_secs(15),
        "the expired lock to be taken over",
        || async { Ok(fx.locks.acquire("client:acme", "successor", LONG).await?) },
    )
    .await?;
    assert_ne!(new.token, old.token);
    assert!(
        !fx.locks.renew(&old, LONG).await?,
        "the old holder cannot renew a stolen lock"
    );
    assert!(
        !fx.locks.release(&old).await?,
        "the old holder cannot release a stolen lock"
    );
    assert!(
        fx.locks
            .acquire("client:acme", "third", LONG)
            .await?
            .is_none(),
        "still held by the successor"
    );
    assert!(fx.locks.release(&new).await?);
    Ok(())
}

async fn renewing_keeps_the_lock_past_its_first_expiry(fx: &LocksFx) -> anyhow::Result<()> {
    let start = tokio::time::Instant::now();
    let lease = fx
        .locks
        .acquire("client:acme", "worker", SHORT)
        .await?
        .expect("free lock");
    assert!(fx.locks.renew(&lease, LONG).await?);
    // Check repeatedly until well past the original expiry that nobody else gets it.
    eventually(
        Duration::from_secs(10),
        "time to pass the original expiry",
        || async {
            assert!(
                fx.locks
                    .acquire("client:acme", "intruder", LONG)
                    .await?
                    .is_none()
            );
            Ok((start.elapsed() > SHORT * 2).then_some(()))
        },
    )
    .await?;
    assert!(fx.locks.release(&lease).await?);
    Ok(())
}

async fn release_frees_the_lock_at_once(fx: &LocksFx) -> anyhow::Result<()> {
    let a = fx.locks.acquire("k", "a", LONG).await?.expect("free lock");
    assert!(fx.locks.release(&a).await?);
    assert!(
        !fx.locks.release(&a).await?,
        "a second release reports the lease as gone"
    );
    assert!(fx.locks.acquire("k", "b", LONG).await?.is_some());
    Ok(())
}

async fn concurrent_acquirers_get_exactly_one_lease(fx: &LocksFx) -> anyhow::Result<()> {
    let attempts = (0..8).map(|i| {
        let locks = fx.locks.clone();
        tokio::spawn(async move { locks.acquire("race", &format!("w{i}"), LONG).await })
    });
    let mut winners = 0;
    for a in attempts {
        if a.await??.is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    Ok(())
}

async fn a_gone_holder_is_taken_over_once_and_fenced_out(fx: &LocksFx) -> anyhow::Result<()> {
    assert!(fx.locks.holder("client:gone").await?.is_none());
    let old = fx
        .locks
        .acquire("client:gone", "execution:dead", LONG)
        .await?
        .expect("free lock");
    let h = fx.locks.holder("client:gone").await?.expect("held");
    assert_eq!(h.owner, "execution:dead");
    assert_eq!(h.token, old.token);
    assert!(h.expires_in > Duration::from_secs(30) && h.expires_in <= LONG);

    // Two callers found the holder gone: only the first take-over of that token wins, long
    // before the TTL. (Sequential: moto does not serialise concurrent conditional updates the
    // way DynamoDB does; the condition is what is under test.)
    let a = fx
        .locks
        .take_over("client:gone", &h.token, "successor-a", LONG)
        .await?;
    let b = fx
        .locks
        .take_over("client:gone", &h.token, "successor-b", LONG)
        .await?;
    assert!(b.is_none(), "the second take-over of the same holder loses");
    let winners: Vec<_> = a.into_iter().collect();
    assert_eq!(winners.len(), 1, "one take-over wins");
    let new = &winners[0];
    assert_ne!(new.token, old.token);
    assert!(!fx.locks.renew(&old, LONG).await?, "the old holder lost it");
    assert!(!fx.locks.release(&old).await?);
    assert_eq!(
        fx.locks.holder("client:gone").await?.map(|h| h.owner),
        Some(new.owner.clone())
    );
    assert!(
        fx.locks
            .take_over("client:gone", "not-the-token", "thief", LONG)
            .await?
            .is_none(),
        "a take-over names the holder it replaces"
    );
    assert!(fx.locks.release(new).await?);
    assert!(fx.locks.holder("client:gone").await?.is_none());
    Ok(())
}

async fn renewing_hands_the_lease_to_a_new_owner(fx: &LocksFx) -> anyhow::Result<()> {
    let mut lease = fx
        .locks
        .acquire("client:handover", "request:1", SHORT)
        .await?
        .expect("free lock");
    lease.owner = "execution:acme-1".into();
    assert!(fx.locks.renew(&lease, LONG).await?);
    let h = fx.locks.holder("client:handover").await?.expect("held");
    assert_eq!(h.owner, "execution:acme-1");
    assert_eq!(h.token, lease.token, "the token stays");
    assert!(h.expires_in > SHORT);
    assert!(fx.locks.release(&lease).await?);
    Ok(())
}

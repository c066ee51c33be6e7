//! Queue contract: the PostgreSQL queue and SQS (moto) deliver the same way.

use crate::support::{MAX_RECEIVES, QueueFx, contract, mem_queue, pg_queue, sqs_queue};
use muara_core::ports::{OutgoingMessage, ReceivedMessage};
use muara_testkit::eventually;
use std::time::Duration;

contract!(
    [
        sends_receives_and_deletes_in_batches,
        a_received_message_is_hidden_while_in_flight,
        redelivers_after_visibility_timeout_with_a_higher_receive_count,
        dead_letters_after_max_receives,
        change_visibility_to_zero_redelivers_at_once,
        attributes_round_trip,
    ],
    local_pg => pg_queue,
    aws_sqs => sqs_queue,
    memory => mem_queue,
);

const DEADLINE: Duration = Duration::from_secs(20);

async fn receive_one(
    q: &dyn muara_core::ports::Queue,
    what: &str,
) -> anyhow::Result<ReceivedMessage> {
    eventually(DEADLINE, what, || async {
        Ok(q.receive(1, Duration::from_secs(1))
            .await?
            .into_iter()
            .next())
    })
    .await
}

async fn sends_receives_and_deletes_in_batches(fx: &QueueFx) -> anyhow::Result<()> {
    let msgs: Vec<OutgoingMessage> = (0..25)
        .map(|i| OutgoingMessage::new(format!("m{i:02}")))
        .collect();
    let ids = fx.queue.send_batch(&msgs).await?;
    assert_eq!(ids.len(), 25);
    let mut got = Vec::new();
    let end = tokio::time::Instant::now() + DEADLINE;
    while got.len() < 25 {
        assert!(
            tokio::time::Instant::now() < end,
            "only {} of 25 messages arrived",
            got.len()
        );
        let batch = fx.queue.receive(10, Duration::from_secs(1)).await?;
        assert!(batch.len() <= 10);
        let receipts: Vec<String> = batch.iter().map(|m| m.receipt.clone()).collect();
        got.extend(batch);
        fx.queue.delete_batch(&receipts).await?;
    }
    let mut bodies: Vec<String> = got.iter().map(|m| m.body.clone()).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 25, "every message exactly once");
    assert!(got.iter().all(|m| m.receive_count == 1));
    eventually(DEADLINE, "an empty queue", || async {
        Ok((fx.queue.depth().await? == 0).then_some(()))
    })
    .await?;
    Ok(())
}

async fn a_received_message_is_hidden_while_in_flight(fx: &QueueFx) -> anyhow::Result<()> {
    fx.queue
        .send_batch(&[OutgoingMessage::new("hidden")])
        .await?;
    let first = receive_one(fx.queue.as_ref(), "the message").await?;
    assert_eq!(first.body, "hidden");
    // The fixture's 1 s timeout keeps the redelivery cases fast; here a loaded machine could
    // stall past it, so the delivery holds the message longer, as a slow consumer would.
    fx.queue
        .change_visibility(&first.receipt, Duration::from_secs(60))
        .await?;
    assert!(
        fx.queue.receive(10, Duration::ZERO).await?.is_empty(),
        "in flight: not visible"
    );
    assert_eq!(fx.queue.depth().await?, 1, "in flight still counts");
    fx.queue.delete_batch(&[first.receipt]).await?;
    Ok(())
}

async fn redelivers_after_visibility_timeout_with_a_higher_receive_count(
    fx: &QueueFx,
) -> anyhow::Result<()> {
    fx.queue
        .send_batch(&[OutgoingMessage::new("again")])
        .await?;
    let first = receive_one(fx.queue.as_ref(), "first delivery").await?;
    assert_eq!(first.receive_count, 1);
    let second = receive_one(fx.queue.as_ref(), "redelivery after the visibility timeout").await?;
    assert_eq!(second.id, first.id);
    assert_eq!(second.body, "again");
    assert_eq!(second.receive_count, 2);
    assert_ne!(second.receipt, first.receipt);
    fx.queue.delete_batch(&[second.receipt]).await?;
    eventually(DEADLINE, "an empty queue", || async {
        Ok((fx.queue.depth().await? == 0).then_some(()))
    })
    .await?;
    Ok(())
}

async fn dead_letters_after_max_receives(fx: &QueueFx) -> anyhow::Result<()> {
    fx.queue
        .send_batch(&[OutgoingMessage::new("poison")])
        .await?;
    for n in 1..=MAX_RECEIVES {
        let m = receive_one(fx.queue.as_ref(), &format!("delivery {n}")).await?;
        assert_eq!(m.receive_count, n);
    }
    // Never deleted: once its visibility timeout runs out, the next receive on the queue moves
    // it to the dead-letter queue instead of delivering it a third time.
    let dead = eventually(DEADLINE, "the message in the dead-letter queue", || async {
        let again = fx.queue.receive(10, Duration::ZERO).await?;
        assert!(
            again.is_empty(),
            "delivered more than {MAX_RECEIVES} times: {again:?}"
        );
        Ok(fx.dlq.receive(1, Duration::ZERO).await?.into_iter().next())
    })
    .await?;
    assert_eq!(dead.body, "poison");
    assert_eq!(fx.queue.depth().await?, 0);
    Ok(())
}

async fn change_visibility_to_zero_redelivers_at_once(fx: &QueueFx) -> anyhow::Result<()> {
    fx.queue
        .send_batch(&[OutgoingMessage::new("retry me")])
        .await?;
    let first = receive_one(fx.queue.as_ref(), "first delivery").await?;
    fx.queue
        .change_visibility(&first.receipt, Duration::ZERO)
        .await?;
    let again = fx.queue.receive(1, Duration::ZERO).await?;
    assert_eq!(
        again.len(),
        1,
        "visible again without waiting for the timeout"
    );
    assert_eq!(again[0].id, first.id);
    fx.queue.delete_batch(&[again[0].receipt.clone()]).await?;
    Ok(())
}

async fn attributes_round_trip(fx: &QueueFx) -> anyhow::Result<()> {
    let mut m = OutgoingMessage::new("{\"k\":1}");
    m.attributes.insert("client".into(), "acme".into());
    m.attributes.insert("kind".into(), "s3-event".into());
    fx.queue.send_batch(&[m.clone()]).await?;
    let got = receive_one(fx.queue.as_ref(), "the message").await?;
    assert_eq!(got.body, m.body);
    assert_eq!(got.attributes, m.attributes);
    fx.queue.delete_batch(&[got.receipt]).await?;
    Ok(())
}

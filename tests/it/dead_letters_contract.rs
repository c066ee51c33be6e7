//! The `DeadLetters` contract: counted, peeked without moving, discarded or redriven by id (or
//! all, when asked), on the PostgreSQL queue, SQS (the emulator) and the memory twin alike.

use crate::support::contract;
use muara_core::ports::{DeadLetters, OutgoingMessage, Queue};
use muara_testkit::unique;
use std::time::Duration;

contract!(
    [
        peeked_letters_stay_and_discarded_or_redriven_ones_go,
        redriving_all_moves_every_letter_back,
    ],
    local_pg => pg_dead_letters,
    aws_sqs => sqs_dead_letters,
    memory => mem_dead_letters,
);

pub struct DlFx {
    dl: Box<dyn DeadLetters>,
    queue: Box<dyn Queue>,
    name: String,
}

async fn pg_dead_letters() -> anyhow::Result<DlFx> {
    let pool = crate::support::pg_pool().await?;
    let name = unique("jobs");
    let dlq = format!("{name}-dlq");
    let spec = |name: String, redrive| muara_local::pgqueue::QueueSpec {
        name,
        visibility_timeout: Duration::from_secs(30),
        redrive,
    };
    muara_local::pgqueue::PgQueue::ensure(&pool, &spec(dlq.clone(), None)).await?;
    let queue =
        muara_local::pgqueue::PgQueue::ensure(&pool, &spec(name.clone(), Some((dlq, 1)))).await?;
    Ok(DlFx {
        dl: Box::new(muara_local::deadletters::PgDeadLetters::new(pool)),
        queue: Box::new(queue),
        name,
    })
}

async fn sqs_dead_letters() -> anyhow::Result<DlFx> {
    let client = aws_sdk_sqs::Client::new(&crate::support::aws().await?);
    let name = unique("jobs");
    let timeout = Duration::from_secs(30);
    let dlq =
        muara_aws::sqs::SqsQueue::create(&client, &format!("{name}-dlq"), timeout, None).await?;
    let queue =
        muara_aws::sqs::SqsQueue::create(&client, &name, timeout, Some((dlq.url(), 1))).await?;
    let dl = muara_aws::deadletters::SqsDeadLetters::new(
        client,
        vec![muara_aws::deadletters::DlqSpec {
            name: name.clone(),
            dlq_url: dlq.url().to_string(),
            source_url: queue.url().to_string(),
        }],
    );
    Ok(DlFx {
        dl: Box::new(dl),
        queue: Box::new(queue),
        name,
    })
}

async fn mem_dead_letters() -> anyhow::Result<DlFx> {
    use muara_core::memory::{MemDeadLetters, MemQueue};
    use std::sync::Arc;
    let name = unique("jobs");
    let timeout = Duration::from_secs(30);
    let dlq = Arc::new(MemQueue::new(format!("{name}-dlq"), timeout));
    let queue = Arc::new(MemQueue::new(name.clone(), timeout).with_dead_letters(dlq.clone(), 1));
    Ok(DlFx {
        dl: Box::new(MemDeadLetters::new(vec![(
            name.clone(),
            queue.clone(),
            dlq,
        )])),
        queue: Box::new(crate::support::ArcQueue(queue)),
        name,
    })
}

/// Puts two messages in `queue`'s dead-letter queue: with a redrive limit of one receive, each
/// is received once, released, and moved on its next receive.
async fn dead_letter_two(
    dl: &dyn DeadLetters,
    queue: &dyn Queue,
    name: &str,
) -> anyhow::Result<()> {
    queue
        .send_batch(&[
            OutgoingMessage::new(r#"{"n":1}"#),
            OutgoingMessage::new(r#"{"n":2}"#),
        ])
        .await?;
    muara_testkit::eventually(Duration::from_secs(60), "two dead letters", || async {
        for m in queue.receive(10, Duration::from_millis(200)).await? {
            queue.change_visibility(&m.receipt, Duration::ZERO).await?;
        }
        let q = dl.queues().await?;
        Ok(q.into_iter()
            .find(|q| q.name == name && q.count == 2)
            .map(|_| ()))
    })
    .await
}

async fn peeked_letters_stay_and_discarded_or_redriven_ones_go(fx: &DlFx) -> anyhow::Result<()> {
    let (dl, queue, name) = (fx.dl.as_ref(), fx.queue.as_ref(), fx.name.as_str());
    dead_letter_two(dl, queue, name).await?;
    let peeked = dl.peek(name, 10).await?;
    assert_eq!(peeked.len(), 2, "{peeked:?}");
    assert_eq!(
        dl.peek(name, 10).await?.len(),
        2,
        "peeking leaves them there"
    );
    let first = peeked
        .iter()
        .find(|m| m.body.contains("\"n\":1"))
        .expect("message 1")
        .id
        .clone();
    let second = peeked
        .iter()
        .find(|m| m.body.contains("\"n\":2"))
        .expect("message 2")
        .id
        .clone();
    // Discard one, redrive the other: it is delivered again on the source queue.
    let discarded = dl.discard(name, std::slice::from_ref(&first)).await?;
    assert_eq!(discarded.stopped, None);
    assert_eq!(discarded.done.len(), 1);
    assert!(
        discarded.done[0].body.contains("\"n\":1"),
        "the discarded body comes back for the audit log"
    );
    let moved = dl
        .redrive(name, Some(std::slice::from_ref(&second)))
        .await?;
    assert_eq!((moved.done.len(), moved.stopped), (1, None));
    assert!(dl.peek(name, 10).await?.is_empty());
    let back =
        muara_testkit::eventually(Duration::from_secs(30), "the redriven message", || async {
            let got = queue.receive(10, Duration::from_secs(1)).await?;
            Ok((!got.is_empty()).then_some(got))
        })
        .await?;
    assert_eq!(back.len(), 1);
    assert!(back[0].body.contains("\"n\":2"));
    assert!(dl.peek("no-such-queue", 1).await.is_err());
    Ok(())
}

async fn redriving_all_moves_every_letter_back(fx: &DlFx) -> anyhow::Result<()> {
    let (dl, queue, name) = (fx.dl.as_ref(), fx.queue.as_ref(), fx.name.as_str());
    dead_letter_two(dl, queue, name).await?;
    // An id that is none of the queue's letters moves nothing (an adapter may also refuse it
    // as malformed).
    match dl.redrive(name, Some(&["no-such-id".to_string()])).await {
        Ok(nobody) => assert!(nobody.done.is_empty(), "an unknown id moves nothing"),
        Err(e) => assert_eq!(e.kind(), muara_core::ErrorKind::Invalid, "{e}"),
    }
    assert_eq!(dl.peek(name, 10).await?.len(), 2);
    let moved = dl.redrive(name, None).await?;
    assert_eq!(moved.done.len(), 2, "{moved:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut back = Vec::new();
    while back.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of 2 letters came back",
            back.len()
        );
        back.extend(queue.receive(10, Duration::from_secs(1)).await?);
    }
    assert!(dl.peek(name, 10).await?.is_empty());
    Ok(())
}

//! The `IngestLedger` contract (pipeline D's webhook): bumped counters come back summed per
//! name, and each refusal comes back whole and counted as `rejected_{stage}` — from
//! `funnel.counter` and `funnel.rejected`, and from the memory twin alike.

use crate::support::{contract, pg_pool};
use muara_core::ErrorKind;
use muara_funnel::store::{self, IngestLedger, MemIngestLedger, PgIngestLedger, Rejection};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

contract!(
    [
        bumps_accumulate_per_counter_name,
        a_rejection_is_recorded_whole_and_counted_by_stage,
        rejecting_the_same_message_twice_records_and_counts_it_twice,
        a_refusal_holding_a_nul_character_is_itself_refused,
        concurrent_bumps_and_rejections_sum_exactly,
    ],
    local_pg => pg_ledger,
    memory => mem_ledger,
);

pub struct LedgerFx {
    ledger: Arc<dyn IngestLedger>,
    back: Back,
}

/// Where a fixture reads back what was written.
enum Back {
    Pg(muara_db::Pool),
    Memory(Arc<MemIngestLedger>),
}

impl LedgerFx {
    /// Every counter bumped, summed over its shards.
    async fn counters(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        Ok(match &self.back {
            Back::Pg(pool) => store::counters(pool).await?,
            Back::Memory(m) => m.counters(),
        })
    }

    /// Every refusal row, oldest first.
    async fn rejections(&self) -> anyhow::Result<Vec<Rejection>> {
        Ok(match &self.back {
            Back::Pg(pool) => pool
                .get()
                .await?
                .query(
                    "SELECT raw_key, message_id, stage, reason FROM funnel.rejected ORDER BY id",
                    &[],
                )
                .await?
                .iter()
                .map(|r| Rejection {
                    raw_key: r.get(0),
                    message_id: r.get(1),
                    stage: r.get(2),
                    reason: r.get(3),
                })
                .collect(),
            Back::Memory(m) => m.rejections(),
        })
    }
}

/// `PgIngestLedger` on a fresh, migrated database (its funnel tables start empty).
async fn pg_ledger() -> anyhow::Result<LedgerFx> {
    let pool = pg_pool().await?;
    Ok(LedgerFx {
        ledger: Arc::new(PgIngestLedger::new(pool.clone())),
        back: Back::Pg(pool),
    })
}

/// The memory twin.
async fn mem_ledger() -> anyhow::Result<LedgerFx> {
    let m = Arc::new(MemIngestLedger::default());
    Ok(LedgerFx {
        ledger: m.clone(),
        back: Back::Memory(m),
    })
}

fn counts(counts: &[(&str, i64)]) -> BTreeMap<String, i64> {
    counts.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
}

fn rejection(
    raw_key: Option<&str>,
    message_id: Option<&str>,
    stage: &str,
    reason: &str,
) -> Rejection {
    Rejection {
        raw_key: raw_key.map(str::to_string),
        message_id: message_id.map(str::to_string),
        stage: stage.to_string(),
        reason: reason.to_string(),
    }
}

async fn bumps_accumulate_per_counter_name(fx: &LedgerFx) -> anyhow::Result<()> {
    // A key picks the shard: these spread over several of them, which the read sums.
    let keys: Vec<String> = (0..32).map(|i| format!("wamid.{i}")).collect();
    assert!(
        keys.iter()
            .map(|k| store::shard_of(k))
            .collect::<BTreeSet<_>>()
            .len()
            > 1
    );
    for k in &keys {
        fx.ledger
            .bump(k, &[("ingress", 2), ("acked", 1), ("duplicates", 1)])
            .await?;
    }
    fx.ledger.bump("whatsapp", &[("bad_signature", 1)]).await?;
    assert_eq!(
        fx.counters().await?,
        counts(&[
            ("acked", 32),
            ("bad_signature", 1),
            ("duplicates", 32),
            ("ingress", 64),
        ])
    );
    // A name given twice in one bump counts twice; a zero count changes nothing, and a counter
    // only ever bumped by zero does not appear.
    fx.ledger
        .bump(
            "wamid.0",
            &[
                ("acked", 1),
                ("statuses", 0),
                ("acked", 2),
                ("conflicts", 0),
            ],
        )
        .await?;
    fx.ledger.bump("wamid.1", &[]).await?;
    assert_eq!(
        fx.counters().await?,
        counts(&[
            ("acked", 35),
            ("bad_signature", 1),
            ("duplicates", 32),
            ("ingress", 64),
        ])
    );
    assert!(fx.rejections().await?.is_empty(), "bumps refuse nothing");
    Ok(())
}

async fn a_rejection_is_recorded_whole_and_counted_by_stage(fx: &LedgerFx) -> anyhow::Result<()> {
    let body = "raw-messages/unreadable/2024/05/01/one.json";
    fx.ledger
        .reject(Some(body), None, "unreadable", "2 unreadable message(s)")
        .await?;
    fx.ledger
        .reject(Some(body), Some("wamid.A"), "message", "no sender")
        .await?;
    fx.ledger
        .reject(Some(body), None, "message", "no message id")
        .await?;
    // Neither a key nor an id: still recorded, still counted.
    fx.ledger.reject(None, None, "rejected", "not JSON").await?;
    assert_eq!(
        fx.rejections().await?,
        vec![
            rejection(Some(body), None, "unreadable", "2 unreadable message(s)"),
            rejection(Some(body), Some("wamid.A"), "message", "no sender"),
            rejection(Some(body), None, "message", "no message id"),
            rejection(None, None, "rejected", "not JSON"),
        ]
    );
    assert_eq!(
        fx.counters().await?,
        counts(&[
            ("rejected_message", 2),
            ("rejected_rejected", 1),
            ("rejected_unreadable", 1),
        ])
    );
    // A refusal's count is the same counter a bump adds to.
    fx.ledger
        .bump("wamid.B", &[("rejected_message", 3)])
        .await?;
    assert_eq!(fx.counters().await?.get("rejected_message"), Some(&5));
    Ok(())
}

async fn rejecting_the_same_message_twice_records_and_counts_it_twice(
    fx: &LedgerFx,
) -> anyhow::Result<()> {
    // `funnel.rejected` has no unique constraint: a resent refusal (the same body and message
    // refused again) is another row, and counted again.
    let key = "raw-messages/conflict/2024/05/01/two.json";
    let reason =
        "a message with this id was received before with different content; the first is kept";
    for _ in 0..2 {
        fx.ledger
            .reject(Some(key), Some("wamid.C"), "conflict", reason)
            .await?;
    }
    let once = rejection(Some(key), Some("wamid.C"), "conflict", reason);
    assert_eq!(fx.rejections().await?, vec![once.clone(), once]);
    assert_eq!(fx.counters().await?, counts(&[("rejected_conflict", 2)]));
    Ok(())
}

async fn a_refusal_holding_a_nul_character_is_itself_refused(fx: &LedgerFx) -> anyhow::Result<()> {
    // PostgreSQL's text cannot hold U+0000 and a message id or reason can come from a webhook
    // body: the refusal fails as invalid, and nothing is recorded or counted.
    let key = "raw-messages/unreadable/2024/05/01/three.json";
    for (id, reason) in [
        ("wamid.\0D", "no sender"),
        ("wamid.E", "timestamp \"1\0\" is not a time"),
    ] {
        let err = fx
            .ledger
            .reject(Some(key), Some(id), "message", reason)
            .await
            .expect_err("a NUL character cannot be stored");
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    }
    assert!(fx.rejections().await?.is_empty(), "nothing recorded");
    assert!(fx.counters().await?.is_empty(), "nothing counted");
    // The ledger still takes what it can store.
    fx.ledger
        .reject(Some(key), Some("wamid.F"), "message", "no sender")
        .await?;
    assert_eq!(
        fx.rejections().await?,
        vec![rejection(
            Some(key),
            Some("wamid.F"),
            "message",
            "no sender"
        )]
    );
    assert_eq!(fx.counters().await?, counts(&[("rejected_message", 1)]));
    Ok(())
}

async fn concurrent_bumps_and_rejections_sum_exactly(fx: &LedgerFx) -> anyhow::Result<()> {
    const TASKS: i64 = 50;
    const BUMPS: i64 = 20;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let ledger = fx.ledger.clone();
        tasks.spawn(async move {
            for i in 0..BUMPS {
                // Several counters per bump on a few shared keys: writers meet on the same
                // rows (locked in name order).
                ledger
                    .bump(
                        &format!("wamid.{}", i % 4),
                        &[("ingress", 1), ("acked", 1), ("duplicates", i % 2)],
                    )
                    .await?;
            }
            ledger
                .reject(
                    Some(&format!("raw-messages/conflict/{t}.json")),
                    Some(&format!("wamid.{t}")),
                    "conflict",
                    "reused id",
                )
                .await?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let n = TASKS * BUMPS;
    assert_eq!(
        fx.counters().await?,
        counts(&[
            ("acked", n),
            ("duplicates", n / 2),
            ("ingress", n),
            ("rejected_conflict", TASKS),
        ])
    );
    let mut ids: Vec<String> = fx
        .rejections()
        .await?
        .into_iter()
        .filter_map(|r| r.message_id)
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..TASKS).map(|t| format!("wamid.{t}")).collect();
    expected.sort();
    assert_eq!(ids, expected, "one row per refusal");
    Ok(())
}

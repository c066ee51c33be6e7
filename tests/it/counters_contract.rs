//! The `Counters` contract (pipeline C's publish path): what is added comes back in each
//! counter's total — from `events.counter`'s shards summed by `counters::totals`, and from the
//! memory twin's totals alike.

use crate::support::{contract, pg_pool};
use muara_events::counters::{
    self, CONFLICTS, Counters, DUPLICATES, Delta, MemCounters, PENDING, RECEIVED, REJECTED, UNIQUE,
};
use std::collections::BTreeMap;
use std::sync::Arc;

contract!(
    [
        deltas_accumulate_across_adds_and_shards,
        negative_deltas_subtract_and_a_counter_back_at_zero_stays_listed,
        empty_and_zero_deltas_leave_no_counter,
        concurrent_adds_sum_exactly,
    ],
    local_pg => pg_counters,
    memory => mem_counters,
);

pub struct CountersFx {
    counters: Arc<dyn Counters>,
    back: Back,
}

/// Where a fixture reads back what was added.
enum Back {
    Pg(muara_db::Pool),
    Memory(Arc<MemCounters>),
}

impl CountersFx {
    /// Every counter added to, and its total.
    async fn totals(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        Ok(match &self.back {
            Back::Pg(pool) => counters::totals(pool).await?,
            Back::Memory(m) => m.totals(),
        })
    }
}

/// `PgCounters` on a fresh, migrated database (its `events.counter` starts empty).
async fn pg_counters() -> anyhow::Result<CountersFx> {
    let pool = pg_pool().await?;
    Ok(CountersFx {
        counters: Arc::new(counters::PgCounters::new(pool.clone())),
        back: Back::Pg(pool),
    })
}

/// The memory twin.
async fn mem_counters() -> anyhow::Result<CountersFx> {
    let m = Arc::new(MemCounters::default());
    Ok(CountersFx {
        counters: m.clone(),
        back: Back::Memory(m),
    })
}

fn delta(counts: &[(&'static str, i64)]) -> Delta {
    let mut d = Delta::default();
    for &(name, n) in counts {
        d.add(name, n);
    }
    d
}

fn totals(counts: &[(&str, i64)]) -> BTreeMap<String, i64> {
    counts.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
}

async fn deltas_accumulate_across_adds_and_shards(fx: &CountersFx) -> anyhow::Result<()> {
    fx.counters.add(&Delta::from_api(1, 2, 0)).await?;
    fx.counters.add(&Delta::from_api(0, 1, 3)).await?;
    // One received item at a time: PgCounters picks a shard per statement, so 64 of them land
    // on several of the 16 rows, which the read sums.
    for _ in 0..64 {
        fx.counters
            .add(&delta(&[(RECEIVED, 1), (UNIQUE, 1)]))
            .await?;
    }
    assert_eq!(
        fx.totals().await?,
        totals(&[
            (CONFLICTS, 3),
            (DUPLICATES, 3),
            (RECEIVED, 7 + 64),
            (REJECTED, 1),
            (UNIQUE, 64),
        ])
    );
    Ok(())
}

async fn negative_deltas_subtract_and_a_counter_back_at_zero_stays_listed(
    fx: &CountersFx,
) -> anyhow::Result<()> {
    // The API counts accepted items as pending; the worker takes them off as it stores them.
    for _ in 0..10 {
        fx.counters
            .add(&delta(&[(RECEIVED, 3), (PENDING, 3)]))
            .await?;
    }
    for _ in 0..10 {
        fx.counters
            .add(&delta(&[(PENDING, -2), (UNIQUE, 2)]))
            .await?;
    }
    assert_eq!(
        fx.totals().await?,
        totals(&[(PENDING, 10), (RECEIVED, 30), (UNIQUE, 20)])
    );
    for _ in 0..10 {
        fx.counters
            .add(&delta(&[(PENDING, -1), (UNIQUE, 1)]))
            .await?;
    }
    assert_eq!(
        fx.totals().await?,
        totals(&[(PENDING, 0), (RECEIVED, 30), (UNIQUE, 30)]),
        "a counter that went back to zero is still listed, at 0"
    );
    // Below zero is not clamped.
    fx.counters.add(&delta(&[(PENDING, -4)])).await?;
    assert_eq!(fx.totals().await?.get(PENDING), Some(&-4));
    Ok(())
}

async fn empty_and_zero_deltas_leave_no_counter(fx: &CountersFx) -> anyhow::Result<()> {
    fx.counters.add(&Delta::default()).await?;
    // Zero increments are dropped from a delta: nothing is left to apply.
    let zeros = Delta::from_api(0, 0, 0);
    assert!(zeros.is_empty());
    fx.counters.add(&zeros).await?;
    assert_eq!(fx.totals().await?, BTreeMap::new());
    fx.counters
        .add(&delta(&[(RECEIVED, 2), (REJECTED, 0)]))
        .await?;
    assert_eq!(
        fx.totals().await?,
        totals(&[(RECEIVED, 2)]),
        "only the counters a delta changes appear"
    );
    Ok(())
}

async fn concurrent_adds_sum_exactly(fx: &CountersFx) -> anyhow::Result<()> {
    const TASKS: i64 = 50;
    const ADDS: i64 = 20;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let c = fx.counters.clone();
        tasks.spawn(async move {
            for i in 0..ADDS {
                // Several counters per delta, pending up and down: writers lock the same rows
                // (in name order) at the same time.
                let d = if i % 2 == 0 {
                    delta(&[(RECEIVED, 1), (PENDING, 1)])
                } else {
                    delta(&[(RECEIVED, 1), (PENDING, -1), (UNIQUE, 1), (DUPLICATES, 2)])
                };
                c.add(&d).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let n = TASKS * ADDS;
    assert_eq!(
        fx.totals().await?,
        totals(&[
            (DUPLICATES, n),
            (PENDING, 0),
            (RECEIVED, n),
            (UNIQUE, n / 2),
        ])
    );
    Ok(())
}

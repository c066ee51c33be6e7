//! Periodic work and worker rounds under `muara up`, until shutdown: one helper for each shape
//! instead of a copied `loop { work; select!{sleep, stop} }` per task. Each run is in a span
//! named for its task, so its log lines say which loop they came from.

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

/// After a failed round, how long a worker waits before the next (a database outage would
/// otherwise spin).
pub const BACKOFF: Duration = Duration::from_secs(1);

/// Runs `work` now, then every `period` after it ends, until `stop` changes. A run in progress
/// finishes first: periodic work (a scan, a ledger, housekeeping) is never cut in half.
pub fn spawn_every<F, Fut>(
    tasks: &mut JoinSet<()>,
    name: &'static str,
    period: Duration,
    mut stop: watch::Receiver<bool>,
    mut work: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tasks.spawn(async move {
        loop {
            work()
                .instrument(tracing::info_span!("every", task = name))
                .await;
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.changed() => break,
            }
        }
    });
}

/// Runs `round` back to back (each waits for work itself, as a queue's long poll does) until
/// `stop` changes; a round that fails is logged and followed by [`BACKOFF`]. A round in
/// progress is dropped at shutdown: what it received and did not delete comes back.
pub fn spawn_rounds<F, Fut, E>(
    tasks: &mut JoinSet<()>,
    name: &'static str,
    mut stop: watch::Receiver<bool>,
    mut round: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, E>> + Send,
    E: std::fmt::Display + Send,
{
    tasks.spawn(async move {
        loop {
            let span = tracing::info_span!("round", task = name);
            tokio::select! {
                r = round().instrument(span) => {
                    if let Err(e) = r {
                        tracing::error!(task = name, error = %e, "round failed");
                        tokio::time::sleep(BACKOFF).await;
                    }
                }
                _ = stop.changed() => break,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn periodic_work_runs_now_and_every_period_until_stopped() {
        let (tx, rx) = watch::channel(false);
        let runs = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        let counted = runs.clone();
        spawn_every(&mut tasks, "test", Duration::from_secs(10), rx, move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "at 0, 10 and 20 s");
        tx.send(true).unwrap();
        tasks.join_next().await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "nothing after the stop");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_round_backs_off_and_the_rounds_go_on() {
        let (tx, rx) = watch::channel(false);
        let rounds = Arc::new(AtomicUsize::new(0));
        let mut tasks = JoinSet::new();
        let counted = rounds.clone();
        spawn_rounds(&mut tasks, "test", rx, move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                Err::<usize, _>("down")
            }
        });
        tokio::time::sleep(Duration::from_millis(3_050)).await;
        // Each failed round takes 0.1 s and backs off 1 s: rounds at 0, 1.1, 2.2 s.
        assert_eq!(rounds.load(Ordering::SeqCst), 3);
        tx.send(true).unwrap();
        tasks.join_next().await.unwrap().unwrap();
    }
}

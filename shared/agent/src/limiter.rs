//! The bandwidth limit: every upload task asks for its bytes before sending them, and the
//! limiter spaces the grants so the sum over all tasks stays at the configured rate.

use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct Limiter {
    bytes_per_sec: Option<u64>,
    /// When the bandwidth already granted is used up.
    next: Mutex<Option<Instant>>,
}

impl Limiter {
    pub fn new(bytes_per_sec: Option<u64>) -> Self {
        Self {
            bytes_per_sec,
            next: Mutex::new(None),
        }
    }

    /// Waits until `bytes` may be sent.
    pub async fn take(&self, bytes: u64) {
        let Some(rate) = self.bytes_per_sec else {
            return;
        };
        let cost = Duration::from_secs_f64(bytes as f64 / rate as f64);
        let start = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            // Idle time is saved up for at most one second of burst.
            let floor = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
            let start = next.map_or(now, |t| t.max(floor));
            *next = Some(start + cost);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn grants_are_spaced_to_the_rate() {
        // 5 grants of 2 MB at 20 MB/s: the fifth may start no sooner than 0.4 s after the first.
        let l = Limiter::new(Some(20_000_000));
        let t0 = Instant::now();
        for _ in 0..5 {
            l.take(2_000_000).await;
        }
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(390), "{waited:?}");
        Limiter::new(None).take(u64::MAX).await;
    }
}

//! A rate limiter that spaces requests evenly: each caller gets the next free slot, one interval
//! after the previous one. No bursts, so no window of one second ever holds more than the rate.
//! The interval carries a 3% margin: requests sent exactly 1/rate apart arrive with network
//! jitter, and the partner counts arrivals.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next_slot: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub fn per_second(rate: f64) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 1.0 };
        Self { interval: Duration::from_secs_f64(1.03 / rate), next_slot: Mutex::new(None) }
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_one_interval_apart_however_many_ask_at_once() {
        let limiter = std::sync::Arc::new(RateLimiter::per_second(10.0));
        let start = Instant::now();
        let mut waiting = tokio::task::JoinSet::new();
        for _ in 0..25 {
            let limiter = limiter.clone();
            waiting.spawn(async move {
                limiter.acquire().await;
                Instant::now()
            });
        }
        let mut times: Vec<Duration> = Vec::new();
        while let Some(at) = waiting.join_next().await {
            times.push(at.unwrap() - start);
        }
        times.sort();
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(100), "{pair:?}");
        }
        assert!(times[24] >= Duration::from_millis(2400));
    }
}

//! How long to wait before trying again, one way everywhere: full jitter — a random wait up to a
//! cap that doubles with each attempt, never above `max` — so that callers that failed together do
//! not come back together.

use std::time::Duration;

use rand::Rng;

/// The wait before attempt `attempt + 1` (`attempt` counts from 1).
pub fn full_jitter(base: Duration, max: Duration, attempt: u32) -> Duration {
    let cap = base.saturating_mul(1 << attempt.min(16)).min(max);
    let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_stay_under_their_cap_and_spread_out() {
        let (base, max) = (Duration::from_millis(10), Duration::from_millis(500));
        for attempt in 1..40 {
            assert!(full_jitter(base, max, attempt) <= max);
        }
        assert!(full_jitter(base, max, 1) <= Duration::from_millis(20));
        let waits: std::collections::BTreeSet<Duration> = (0..50).map(|_| full_jitter(base, max, 8)).collect();
        assert!(waits.len() > 10, "the waits are spread: {waits:?}");
    }
}

//! How long to wait before trying again, one way everywhere: a cap that doubles with each
//! attempt up to `max`, and a wait between half the cap and the cap ("equal jitter"), so that
//! callers that failed together do not come back together, and none comes back at once.

use std::time::Duration;

use rand::RngExt;

/// The wait before attempt `attempt + 1` (`attempt` counts from 1).
pub fn jittered(base: Duration, max: Duration, attempt: u32) -> Duration {
    let cap = base.saturating_mul(1 << attempt.min(16)).min(max);
    let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(millis / 2 + rand::rng().random_range(0..=millis - millis / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_stay_between_half_the_cap_and_the_cap_and_spread_out() {
        let (base, max) = (Duration::from_millis(10), Duration::from_millis(500));
        for attempt in 1..40 {
            let wait = jittered(base, max, attempt);
            assert!(wait <= max && wait >= (base * 2).min(max) / 2, "{wait:?} at {attempt}");
        }
        let first = jittered(base, max, 1);
        assert!(first >= Duration::from_millis(10) && first <= Duration::from_millis(20), "{first:?}");
        let waits: std::collections::BTreeSet<Duration> = (0..50).map(|_| jittered(base, max, 8)).collect();
        assert!(waits.len() > 10, "the waits are spread: {waits:?}");
    }
}

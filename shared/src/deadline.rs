//! When a scheduled run must stop: its budget, and never closer than `margin` to the Lambda's
//! deadline (the time to save its place and report). One rule for the scan, the relay and the digest.

use std::time::{Duration, Instant, SystemTime};

pub fn run_deadline(budget: Duration, margin: Duration, lambda_deadline: Option<SystemTime>) -> Instant {
    let by_budget = Instant::now() + budget;
    lambda_deadline.map(|at| before(at, margin)).map_or(by_budget, |lambda| lambda.min(by_budget))
}

/// `margin` before the Lambda's deadline `at` (now, if that has passed).
pub fn before(at: SystemTime, margin: Duration) -> Instant {
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    Instant::now() + left.saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earlier_of_the_budget_and_the_lambdas_deadline_less_the_margin() {
        let minute = Duration::from_secs(60);
        let soon = run_deadline(10 * minute, minute, Some(SystemTime::now() + 2 * minute));
        assert!(soon <= Instant::now() + minute + Duration::from_secs(1));
        let budgeted = run_deadline(minute, minute, Some(SystemTime::now() + 30 * minute));
        assert!(budgeted <= Instant::now() + minute);
        assert!(run_deadline(minute, minute, None) > Instant::now() + Duration::from_secs(50));
    }
}

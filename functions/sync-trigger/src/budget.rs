//! One marketplace budget for the whole deployment: the partner's rate, shared by the scan and the
//! on-demand syncs of every instance.
//!
//! Time is cut into turns of 1.03/R seconds, counted from the epoch, so every instance sees the
//! same turns. A request is sent at the start of a turn it has claimed in the table (a conditional
//! put only one claimer wins), and only if it leaves within `LATE` of that start; a turn claimed
//! too late is given up. So however many instances run, at most one request leaves per turn:
//! two requests in one second are at least `(1.03 − 0.02) / R` apart less one turn, which keeps
//! every window of a second at R or fewer, with 10 ms left for the network's jitter.
//!
//! On-demand first: an on-demand claim takes the first free turn from now on; the scan claims
//! only turns starting within `SCAN_AHEAD` turns of now, so it never holds more than a few future
//! turns, a person's sync waits behind at most those, and the scan gets what on-demand leaves.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shared::ports::RateSlots;
use shared::ports::StoreError;
use tokio::sync::Mutex;

/// Requests sent exactly 1/rate apart arrive with network jitter, and the partner counts arrivals.
const MARGIN: f64 = 1.03;
/// A turn is claimed at least this far ahead of its start, so the claim is back before it.
const LEAD_MICROS: i64 = 30_000;
/// A request leaves no later than this after its turn starts, or the turn is given up.
const LATE_MICROS: i64 = 20_000;
/// How many turns ahead of now the scan may hold.
const SCAN_AHEAD: i64 = 2;
/// How many taken turns an on-demand claim passes before it answers "busy".
const ON_DEMAND_PROBES: u32 = 50;

/// Who asks: a person waiting on a sync, or the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    OnDemand,
    Scan,
}

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("every turn at the marketplace's rate is taken for the next while")]
    Full { retry_after: Duration },
    #[error("the turns at the marketplace's rate could not be read")]
    Unreachable(#[source] StoreError),
}

/// Where the turns are kept: the table in AWS (`Store`), a fake in unit tests.
pub trait TurnBook: Send + Sync + 'static {
    fn claim(&self, start_micros: i64) -> Pin<Box<dyn Future<Output = Result<bool, StoreError>> + Send + '_>>;
}

impl<T: RateSlots> TurnBook for T {
    fn claim(&self, start_micros: i64) -> Pin<Box<dyn Future<Output = Result<bool, StoreError>> + Send + '_>> {
        Box::pin(self.claim_rate_slot(start_micros))
    }
}

/// The turns: turn `k` starts `k` intervals after the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turns {
    interval_micros: i64,
}

impl Turns {
    pub fn per_second(rate: f64) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 1.0 };
        Self { interval_micros: ((MARGIN / rate) * 1e6).round().max(1.0) as i64 }
    }

    pub fn interval(&self) -> Duration {
        Duration::from_micros(self.interval_micros.unsigned_abs())
    }

    pub fn start(&self, turn: i64) -> i64 {
        turn * self.interval_micros
    }

    /// The first turn starting at or after `micros`.
    pub fn first_from(&self, micros: i64) -> i64 {
        micros.div_euclid(self.interval_micros) + i64::from(micros.rem_euclid(self.interval_micros) != 0)
    }
}

pub struct Budget {
    turns: Turns,
    book: Arc<dyn TurnBook>,
    /// The first turn this instance does not know to be taken: where its next claim starts.
    next: Mutex<i64>,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget").field("turns", &self.turns).finish_non_exhaustive()
    }
}

enum Claimed {
    Turn(i64),
    /// Every turn up to (not including) this one is taken.
    NoneBefore(i64),
}

impl Budget {
    pub fn per_second(rate: f64, book: Arc<dyn TurnBook>) -> Self {
        Self { turns: Turns::per_second(rate), book, next: Mutex::new(0) }
    }

    /// Waits for a turn and returns at its start: the caller sends one request now.
    pub async fn acquire(&self, lane: Lane) -> Result<(), BudgetError> {
        let mut probes = 0;
        loop {
            let claimed = {
                let mut next = self.next.lock().await;
                let now = now_micros();
                let earliest = self.turns.first_from(now + LEAD_MICROS);
                let mut turn = (*next).max(earliest);
                let last = match lane {
                    Lane::Scan => earliest + SCAN_AHEAD,
                    Lane::OnDemand => turn + i64::from(ON_DEMAND_PROBES.saturating_sub(probes)) - 1,
                };
                let mut claimed = Claimed::NoneBefore(turn);
                while turn <= last {
                    probes += 1;
                    let won = self.book.claim(self.turns.start(turn)).await.map_err(BudgetError::Unreachable)?;
                    *next = turn + 1;
                    if won {
                        claimed = Claimed::Turn(turn);
                        break;
                    }
                    turn += 1;
                    claimed = Claimed::NoneBefore(turn);
                }
                claimed
            };
            match claimed {
                Claimed::Turn(turn) => {
                    let start = self.turns.start(turn);
                    sleep_until_micros(start).await;
                    if now_micros() <= start + LATE_MICROS {
                        return Ok(());
                    }
                    // Too late to use it without crowding the next turn: it goes unused.
                }
                Claimed::NoneBefore(_) if lane == Lane::OnDemand && probes >= ON_DEMAND_PROBES => {
                    return Err(BudgetError::Full { retry_after: Duration::from_secs(1) });
                }
                Claimed::NoneBefore(_) if lane == Lane::OnDemand => {}
                Claimed::NoneBefore(turn) => {
                    // The scan waits until that turn is within its reach.
                    sleep_until_micros(self.turns.start(turn - SCAN_AHEAD) - LEAD_MICROS).await;
                }
            }
        }
    }
}

fn now_micros() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
}

async fn sleep_until_micros(at: i64) {
    let wait = at - now_micros();
    if wait > 0 {
        tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A book kept in memory: what the table's conditional put does, for one test.
    #[derive(Clone, Default)]
    struct Book {
        taken: Arc<std::sync::Mutex<HashSet<i64>>>,
        refuse: bool,
    }

    impl RateSlots for Book {
        async fn claim_rate_slot(&self, start_micros: i64) -> Result<bool, StoreError> {
            if self.refuse {
                return Err(StoreError::Cancelled(vec!["the table is away".into()]));
            }
            Ok(self.taken.lock().unwrap().insert(start_micros))
        }
    }

    fn busiest_second(mut sent: Vec<i64>) -> usize {
        sent.sort_unstable();
        (0..sent.len()).map(|i| sent[i..].iter().take_while(|t| **t < sent[i] + 1_000_000).count()).max().unwrap_or(0)
    }

    #[test]
    fn turns_are_counted_from_the_epoch() {
        let turns = Turns::per_second(10.0);
        assert_eq!(turns.interval(), Duration::from_micros(103_000));
        assert_eq!(turns.first_from(0), 0);
        assert_eq!(turns.first_from(1), 1);
        assert_eq!(turns.first_from(103_000), 1);
        assert_eq!(turns.first_from(103_001), 2);
        assert_eq!(turns.start(2), 206_000);
        assert_eq!(Turns::per_second(f64::NAN), Turns::per_second(1.0));
    }

    #[tokio::test]
    async fn two_instances_on_one_book_stay_within_the_rate_together() {
        const RATE: f64 = 40.0;
        let book: Arc<dyn TurnBook> = Arc::new(Book::default());
        let instances = [Arc::new(Budget::per_second(RATE, book.clone())), Arc::new(Budget::per_second(RATE, book))];
        let mut sending = tokio::task::JoinSet::new();
        for budget in instances {
            for _ in 0..4 {
                let budget = budget.clone();
                sending.spawn(async move {
                    let mut sent = Vec::new();
                    for _ in 0..15 {
                        budget.acquire(Lane::Scan).await.unwrap();
                        sent.push(now_micros());
                    }
                    sent
                });
            }
        }
        let sent: Vec<i64> = sending.join_all().await.into_iter().flatten().collect();
        assert_eq!(sent.len(), 120);
        assert!(busiest_second(sent.clone()) <= RATE as usize, "{} in one second", busiest_second(sent));
    }

    #[tokio::test]
    async fn a_person_waits_behind_at_most_the_few_turns_the_scan_holds() {
        const RATE: f64 = 20.0;
        let book: Arc<dyn TurnBook> = Arc::new(Book::default());
        let scan = Arc::new(Budget::per_second(RATE, book.clone()));
        let on_demand = Budget::per_second(RATE, book);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut scanning = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (scan, stop) = (scan.clone(), stop.clone());
            scanning.spawn(async move {
                let mut sent = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    scan.acquire(Lane::Scan).await.unwrap();
                    sent.push(now_micros());
                }
                sent
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let interval = Turns::per_second(RATE).interval();
        let mut asked = Vec::new();
        for _ in 0..10 {
            let started = tokio::time::Instant::now();
            on_demand.acquire(Lane::OnDemand).await.unwrap();
            asked.push(now_micros());
            let waited = started.elapsed();
            // Behind the scan's turns (SCAN_AHEAD + the one starting now), the lead, and some
            // scheduling slack.
            let bound = interval * (SCAN_AHEAD as u32 + 2) + Duration::from_micros(LEAD_MICROS as u64 + 40_000);
            assert!(waited <= bound, "a person waited {waited:?} (bound {bound:?})");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let scanned: Vec<i64> = scanning.join_all().await.into_iter().flatten().collect();
        assert!(scanned.len() > 10, "the scan went on meanwhile: {}", scanned.len());
        let all: Vec<i64> = scanned.into_iter().chain(asked).collect();
        assert!(busiest_second(all.clone()) <= RATE as usize, "{} in one second", busiest_second(all));
    }

    #[tokio::test]
    async fn a_person_is_told_to_come_back_when_every_near_turn_is_taken() {
        let book = Book::default();
        let turns = Turns::per_second(100.0);
        let from = turns.first_from(now_micros());
        for turn in from..from + 400 {
            book.taken.lock().unwrap().insert(turns.start(turn));
        }
        let budget = Budget::per_second(100.0, Arc::new(book.clone()));
        let answer = budget.acquire(Lane::OnDemand).await;
        assert!(matches!(answer, Err(BudgetError::Full { .. })), "{answer:?}");
        assert_eq!(book.taken.lock().unwrap().len(), 400, "it only looked");
    }

    #[tokio::test]
    async fn a_book_that_cannot_be_read_is_an_error_not_a_free_turn() {
        let budget = Budget::per_second(10.0, Arc::new(Book { refuse: true, ..Book::default() }));
        assert!(matches!(budget.acquire(Lane::Scan).await, Err(BudgetError::Unreachable(_))));
        assert!(matches!(budget.acquire(Lane::OnDemand).await, Err(BudgetError::Unreachable(_))));
    }
}

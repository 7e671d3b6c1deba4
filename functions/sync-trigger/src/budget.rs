//! One marketplace budget for the whole deployment: the partner's rate, shared by the scan and the
//! on-demand syncs of every instance.
//!
//! Time is cut into turns of 1.03/R seconds, counted from the epoch, so every instance sees the
//! same turns. A request is sent at the start of a turn it has claimed in the table (a conditional
//! update only one claimer wins), and only if it leaves within `LATE` of that start; a turn claimed
//! too late is given up. So however many instances run, at most one request leaves per turn:
//! two requests in one second are at least `(1.03 − 0.02) / R` apart less one turn, which keeps
//! every window of a second at R or fewer, with 10 ms left for the network's jitter.
//!
//! Turns are kept `BLOCK` to an item, so one write can claim several. On-demand first: an
//! on-demand claim takes the first free turn from now on, one turn a write; the scan claims the
//! free turns of a whole block at once (a write per block, not per request), and only a block
//! starting within `SCAN_AHEAD` turns of now, so it never holds more than two blocks of future
//! turns, a person's sync waits behind at most those, and the scan gets what on-demand leaves.

use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shared::ports::StoreError;
use shared::ports::{RateSlots, SlotClaim};
use tokio::sync::Mutex;

/// Requests sent exactly 1/rate apart arrive with network jitter, and the partner counts arrivals.
const MARGIN: f64 = 1.03;
/// A turn is claimed at least this far ahead of its start, so the claim is back before it.
const LEAD_MICROS: i64 = 30_000;
/// A request leaves no later than this after its turn starts, or the turn is given up.
const LATE_MICROS: i64 = 20_000;
/// Turns a block item holds: what one write of the scan claims.
pub const BLOCK: i64 = 8;
/// How many turns ahead of now a block the scan claims may start.
const SCAN_AHEAD: i64 = BLOCK;
/// How many taken turns an on-demand claim passes before it answers "busy".
const ON_DEMAND_PROBES: i64 = 50;

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
    fn claim<'a>(
        &'a self,
        block_start_micros: i64,
        offsets: &'a [u32],
    ) -> Pin<Box<dyn Future<Output = Result<SlotClaim, StoreError>> + Send + 'a>>;
}

impl<T: RateSlots> TurnBook for T {
    fn claim<'a>(
        &'a self,
        block_start_micros: i64,
        offsets: &'a [u32],
    ) -> Pin<Box<dyn Future<Output = Result<SlotClaim, StoreError>> + Send + 'a>> {
        Box::pin(self.claim_rate_slots(block_start_micros, offsets))
    }
}

/// The turns: turn `k` starts `k` intervals after the epoch, and is turn `k mod BLOCK` of block
/// `k div BLOCK`.
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

/// The first turn of `turn`'s block, and the last.
fn block_of(turn: i64) -> (i64, i64) {
    let first = turn.div_euclid(BLOCK) * BLOCK;
    (first, first + BLOCK - 1)
}

/// What this instance knows of the turns.
#[derive(Debug, Default)]
struct State {
    /// The first turn this instance does not know to be taken: where its next claim starts.
    next: i64,
    /// Turns the scan claimed and has not handed out yet, in order.
    held: VecDeque<i64>,
}

/// Writes sent to the book, and how many of them were refused (each is billed all the same).
#[derive(Debug, Default)]
pub struct ClaimCounts {
    pub sent: AtomicU64,
    pub refused: AtomicU64,
}

pub struct Budget {
    turns: Turns,
    book: Arc<dyn TurnBook>,
    state: Mutex<State>,
    claims: ClaimCounts,
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
        Self { turns: Turns::per_second(rate), book, state: Mutex::default(), claims: ClaimCounts::default() }
    }

    /// The writes this budget sent to the book, and those refused: what its turns cost.
    pub fn claims(&self) -> (u64, u64) {
        (self.claims.sent.load(Ordering::Relaxed), self.claims.refused.load(Ordering::Relaxed))
    }

    /// Waits for a turn and returns at its start: the caller sends one request now.
    pub async fn acquire(&self, lane: Lane) -> Result<(), BudgetError> {
        let mut passed = 0;
        loop {
            let claimed = {
                let mut state = self.state.lock().await;
                let now = now_micros();
                let earliest = self.turns.first_from(now + LEAD_MICROS);
                match lane {
                    Lane::Scan => self.claim_for_scan(&mut state, now, earliest).await?,
                    Lane::OnDemand => {
                        let from = state.next.max(earliest);
                        let claimed = self.claim_first_free(&mut state, from, from + ON_DEMAND_PROBES - passed).await?;
                        // Every turn looked at counts, the one won too: should it come too late
                        // (writes slower than the lead), a person still hears "busy" in the end.
                        passed += match claimed {
                            Claimed::Turn(turn) => turn - from + 1,
                            Claimed::NoneBefore(turn) => turn - from,
                        };
                        claimed
                    }
                }
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
                Claimed::NoneBefore(turn) if lane == Lane::Scan => {
                    // The scan waits until that block is within its reach.
                    sleep_until_micros(self.turns.start(turn - SCAN_AHEAD) - LEAD_MICROS).await;
                }
                Claimed::NoneBefore(_) => {}
            }
            if lane == Lane::OnDemand && passed >= ON_DEMAND_PROBES {
                return Err(BudgetError::Full { retry_after: Duration::from_secs(1) });
            }
        }
    }

    /// The scan's next turn: one it holds, or the free turns of the next block within reach,
    /// claimed in one write.
    async fn claim_for_scan(&self, state: &mut State, now: i64, earliest: i64) -> Result<Claimed, BudgetError> {
        // A held turn is claimed already: it serves until it is too late to leave in it.
        while state.held.front().is_some_and(|turn| self.turns.start(*turn) + LATE_MICROS < now) {
            state.held.pop_front();
        }
        if let Some(turn) = state.held.pop_front() {
            return Ok(Claimed::Turn(turn));
        }
        loop {
            let from = state.next.max(earliest);
            if from > earliest + SCAN_AHEAD {
                return Ok(Claimed::NoneBefore(from));
            }
            let (first, last) = block_of(from);
            let mut taken = BTreeSet::new();
            loop {
                let wanted: Vec<i64> = (from..=last).filter(|turn| !taken.contains(&(turn - first))).collect();
                let Some(&turn) = wanted.first() else { break };
                match self.claim(first, &wanted).await? {
                    SlotClaim::Won => {
                        state.next = last + 1;
                        state.held.extend(&wanted[1..]);
                        return Ok(Claimed::Turn(turn));
                    }
                    SlotClaim::Taken(now_taken) => {
                        let before = taken.len();
                        taken.extend(
                            now_taken.into_iter().map(i64::from).filter(|offset| wanted.contains(&(first + offset))),
                        );
                        // A refusal that names none of the turns asked for says nothing usable:
                        // they count as taken, so no claim is sent twice.
                        if taken.len() == before {
                            taken.extend(wanted.iter().map(|turn| turn - first));
                        }
                    }
                }
            }
            // Every turn of the block from `from` on is someone else's.
            state.next = last + 1;
        }
    }

    /// The first free turn from `from` on, one claim a turn, knowing after each refusal which
    /// turns of its block are taken; `NoneBefore` once `upto` is passed.
    async fn claim_first_free(&self, state: &mut State, from: i64, upto: i64) -> Result<Claimed, BudgetError> {
        let mut turn = from;
        let mut taken: BTreeSet<i64> = BTreeSet::new();
        while turn < upto {
            if taken.contains(&turn) {
                turn += 1;
                continue;
            }
            let (first, _) = block_of(turn);
            match self.claim(first, &[turn]).await? {
                SlotClaim::Won => {
                    state.next = state.next.max(turn + 1);
                    return Ok(Claimed::Turn(turn));
                }
                SlotClaim::Taken(now_taken) => {
                    taken.extend(now_taken.into_iter().map(|offset| first + i64::from(offset)));
                    taken.insert(turn);
                }
            }
        }
        state.next = state.next.max(turn);
        Ok(Claimed::NoneBefore(turn))
    }

    /// Claims `turns` (all of the block starting at turn `first`) in one write.
    async fn claim(&self, first: i64, turns: &[i64]) -> Result<SlotClaim, BudgetError> {
        let offsets: Vec<u32> = turns
            .iter()
            .map(|turn| u32::try_from(turn - first).expect("a turn of the block starting at `first`"))
            .collect();
        self.claims.sent.fetch_add(1, Ordering::Relaxed);
        let claimed = self.book.claim(self.turns.start(first), &offsets).await.map_err(BudgetError::Unreachable)?;
        if claimed != SlotClaim::Won {
            self.claims.refused.fetch_add(1, Ordering::Relaxed);
        }
        Ok(claimed)
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

    /// A book kept in memory: what the table's conditional update does, for one test. Turns
    /// taken by block start and offset.
    #[derive(Clone, Default)]
    struct Book {
        taken: Arc<std::sync::Mutex<HashSet<(i64, u32)>>>,
        refuse: bool,
        /// How long each claim takes to answer.
        slow: Duration,
    }

    impl RateSlots for Book {
        async fn claim_rate_slots(&self, block_start_micros: i64, offsets: &[u32]) -> Result<SlotClaim, StoreError> {
            if self.refuse {
                return Err(StoreError::Cancelled(vec!["the table is away".into()]));
            }
            tokio::time::sleep(self.slow).await;
            let mut taken = self.taken.lock().unwrap();
            let of_block: BTreeSet<u32> =
                taken.iter().filter(|(block, _)| *block == block_start_micros).map(|(_, offset)| *offset).collect();
            if offsets.iter().any(|offset| of_block.contains(offset)) {
                return Ok(SlotClaim::Taken(of_block));
            }
            taken.extend(offsets.iter().map(|offset| (block_start_micros, *offset)));
            Ok(SlotClaim::Won)
        }
    }

    impl Book {
        fn take(&self, turns: &Turns, turn: i64) {
            let (first, _) = block_of(turn);
            self.taken.lock().unwrap().insert((turns.start(first), u32::try_from(turn - first).unwrap()));
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
            // Behind the scan's turns (a block starting SCAN_AHEAD turns ahead, whole, and the
            // one starting now), the lead, and some scheduling slack.
            let bound = interval * (SCAN_AHEAD + BLOCK + 1) as u32 + Duration::from_micros(LEAD_MICROS as u64 + 40_000);
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
            book.take(&turns, turn);
        }
        let budget = Budget::per_second(100.0, Arc::new(book.clone()));
        let answer = budget.acquire(Lane::OnDemand).await;
        assert!(matches!(answer, Err(BudgetError::Full { .. })), "{answer:?}");
        assert_eq!(book.taken.lock().unwrap().len(), 400, "it only looked");
    }

    #[tokio::test]
    async fn the_scan_claims_a_block_of_turns_a_write() {
        const RATE: f64 = 50.0;
        let book = Book::default();
        let scan = Arc::new(Budget::per_second(RATE, Arc::new(book.clone())));
        let mut sending = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let scan = scan.clone();
            sending.spawn(async move {
                for _ in 0..16 {
                    scan.acquire(Lane::Scan).await.unwrap();
                }
            });
        }
        sending.join_all().await;
        let (sent, refused) = scan.claims();
        assert_eq!(refused, 0);
        // 64 turns: whole blocks and a part of the first, and a block more should a turn or two
        // have gone by unused on a loaded machine; a write a turn would be 64.
        assert!(sent <= 64 / BLOCK as u64 + 2, "{sent} writes for 64 turns");
        let claimed = book.taken.lock().unwrap().len() as i64;
        assert!((64..64 + 2 * BLOCK).contains(&claimed), "{claimed} turns claimed for 64 used");
    }

    #[tokio::test]
    async fn a_person_passes_the_turns_others_hold_a_block_a_refusal() {
        const RATE: f64 = 10.0;
        let (book, turns) = (Book::default(), Turns::per_second(RATE));
        // A block's worth of turns held from the person's first on: one block's or two.
        let from = turns.first_from(now_micros() + LEAD_MICROS);
        for turn in from..from + BLOCK {
            book.take(&turns, turn);
        }
        let blocks = if block_of(from).0 == from { 1 } else { 2 };
        let person = Budget::per_second(RATE, Arc::new(book.clone()));
        person.acquire(Lane::OnDemand).await.unwrap();
        assert_eq!(person.claims(), (blocks + 1, blocks), "a refusal a block held, then the turn");
        assert_eq!(book.taken.lock().unwrap().len() as i64, BLOCK + 1);
    }

    #[tokio::test]
    async fn a_person_hears_busy_when_every_turn_won_comes_too_late() {
        // Claims answered after the lead and the late margin: every turn won is past use.
        let book = Book { slow: Duration::from_millis(120), ..Book::default() };
        let person = Budget::per_second(100.0, Arc::new(book));
        let answer = tokio::time::timeout(Duration::from_secs(20), person.acquire(Lane::OnDemand)).await;
        assert!(matches!(answer, Ok(Err(BudgetError::Full { .. }))), "{answer:?}");
        assert!(person.claims().0 <= ON_DEMAND_PROBES as u64, "{:?} claims", person.claims());
    }

    #[tokio::test]
    async fn a_book_that_cannot_be_read_is_an_error_not_a_free_turn() {
        let budget = Budget::per_second(10.0, Arc::new(Book { refuse: true, ..Book::default() }));
        assert!(matches!(budget.acquire(Lane::Scan).await, Err(BudgetError::Unreachable(_))));
        assert!(matches!(budget.acquire(Lane::OnDemand).await, Err(BudgetError::Unreachable(_))));
    }
}

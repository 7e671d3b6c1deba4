//! The scheduled scan: keeps every application of each plan year served (the current one, and
//! during open enrollment the coming one: `scan_years`) synced with the marketplace within the
//! staleness window, within the deployment's marketplace budget and a time budget well inside the
//! Lambda limit.
//!
//! The due list (see `docs/table-design.md`) has lanes and is spread over shards; an application's
//! key in it changes only with its lane, so a sync rewrites its entry in place. Every run first
//! syncs the never-synced applications, and looks for new ones again every minute (the priority
//! lane: a new application waits a minute or so, not for a pass). Then it goes on with the pass
//! under way, or starts one if the last started `pass_every` ago: a pass fixes its cut-off when
//! it starts (kept in the checkpoint with where it is), walks the at-risk lane, then the rest,
//! each in key order and filtered by the last sync, then the applications the marketplace did not
//! know whose time to ask again has come — each lane shard by shard — and ends. A pass reads
//! each entry once, so it ends however large the data; a run that runs out of time leaves the
//! rest of the pass to the next run. A run ends at the end of a pass: applications that failed
//! are tried again in the next pass, not over and over within one (one at risk is tried once
//! more in the at-risk lane's second walk). An application the
//! marketplace does not know (404) is asked again after a delay that doubles each time
//! (`unknown_backoff`), instead of on every pass. How far behind the scan is (`lag`) is kept from
//! what the passes found, not read from the due list.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::domain::PlanYear;
use shared::metrics;
use shared::ports::DueLane;
use shared::ports::StoreError;
use shared::ports::{Applications, SyncDue, UnplacedRepair};
use shared::ports::{Due, Pass, ScanCheckpoint};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::marketplace::{MarketplaceClient, MarketplaceError};
use crate::sync::{self, SyncError, sync_application};

#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub year: PlanYear,
    pub stale_after: chrono::Duration,
    pub concurrency: usize,
    /// Applications read from the due list at a time.
    pub page_size: i32,
    /// How often a run looks for never-synced applications again (besides at its start).
    pub new_lane_every: Duration,
    /// How many writes left unplaced one run places at most (beside its syncs).
    pub repair_budget: u32,
    /// A pass starts at most this long after the last one started (zero: as soon as it ends):
    /// a pass reads the whole due list, so passes are paced, and each syncs what would pass the
    /// staleness window before the next one has reached it (`new_pass`).
    pub pass_every: chrono::Duration,
}

/// The default `pass_every`: a pass reads every application's due-list entry, about 250 bytes,
/// so eight a day cost a few dollars a month at the spec's scale; each syncs what is within six
/// hours of the window (a 168-hour window re-syncs at 162 hours, about 4% more syncs).
pub const PASS_EVERY: chrono::Duration = chrono::Duration::hours(3);

/// `PASS_EVERY`, or an eighth of a shorter staleness window: a pass syncs what is within two
/// paces of the window, a quarter of it at most.
pub fn pass_every(stale_after: chrono::Duration) -> chrono::Duration {
    PASS_EVERY.min(stale_after / 8)
}

/// The default `repair_budget`: far more than writers that die leave in a quarter of an hour, and
/// few enough that a backlog is worked off over runs, not in one.
pub const REPAIR_BUDGET: u32 = 500;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Applications whose writer died before placing them, placed by this run.
    pub placed: u32,
    /// Of those, the ones whose placement failed: set aside, tried again later.
    pub unplaced_failed: u32,
    /// Never-synced applications synced first.
    pub first_synced: u32,
    pub synced: u32,
    pub failed: u32,
    /// Of the failures, applications the marketplace did not know, set to be asked again later.
    pub unknown: u32,
    /// Whether this run ended the pass under way.
    pub pass_completed: bool,
    /// Whether the run stopped for time first.
    pub out_of_time: bool,
    /// The syncs that ended, by outcome (`crate::sync::outcome`).
    pub outcomes: std::collections::BTreeMap<&'static str, u32>,
    /// When the run ended, how far past the staleness window the stalest application may be
    /// (`lag`; `None` when the checkpoint could not be read).
    pub lag: Option<chrono::Duration>,
    /// The oldest last sync of the applications the pass failed to sync (not those unknown to
    /// the marketplace, which wait in their own lane): kept with the pass, for `lag`.
    pub oldest_failed: Option<DateTime<Utc>>,
}

/// The run's metric lines: its lag, the marketplace's refusals and the placements that met a newer
/// state while it ran, the writes it placed for writers that died, and its syncs by outcome.
fn emit_metrics(report: &ScanReport, store: &impl Applications, marketplace: &MarketplaceClient) {
    let mut line = metrics::Line::new();
    if let Some(lag) = report.lag {
        line = line.duration(metrics::SCAN_LAG, lag);
    }
    let line = line
        .count(metrics::UNPLACED_MARKS_PLACED, u64::from(report.placed))
        .count(metrics::UNPLACED_MARKS_FAILED, u64::from(report.unplaced_failed))
        .count(metrics::PLACEMENT_CONFLICTS, store.take_placement_conflicts());
    marketplace.with_refusals(line).emit();
    sync::emit_outcomes(&report.outcomes);
}

/// How long a write may stay unplaced before the scan places it: its own writer places it within
/// a second or two unless it died.
pub const UNPLACED_GRACE: chrono::Duration = chrono::Duration::minutes(1);

/// The lanes a pass walks, in order (the never-synced lane is taken at the start of every run),
/// and whether it is the lane's second walk: the at-risk lane is walked again after the rest, for
/// what a write (a swap, not a sync) moved into it from a shard of the stale lane already walked.
/// (What a write moves out of it is in the stale lane, walked after.)
const PASS_LANES: [(DueLane, bool); 4] =
    [(DueLane::AtRisk, false), (DueLane::Stale, false), (DueLane::AtRisk, true), (DueLane::Unknown, false)];

/// How long to wait before asking the marketplace again about an application it did not know
/// `times` times in a row: an hour, doubling, at most 30 days.
pub fn unknown_backoff(times: u32) -> chrono::Duration {
    let hours = 1_i64 << times.saturating_sub(1).min(10);
    chrono::Duration::hours(hours).min(chrono::Duration::days(30))
}

/// Places what writers that died left unplaced (an API sync is never redelivered, so the scan is
/// what finishes it) beside the syncs: the never-synced applications first, then the pass under
/// way (or a new one) until it ends or `deadline`, whichever comes first. Syncs already under way at the
/// deadline may finish for `FINISH_GRACE` more; none is started after it.
pub async fn scan<S: Applications + SyncDue + UnplacedRepair>(
    store: &S,
    marketplace: &MarketplaceClient,
    settings: &ScanSettings,
    now: DateTime<Utc>,
    deadline: Instant,
) -> Result<ScanReport, StoreError> {
    let mut report = ScanReport::default();
    // The writes left unplaced are placed beside the syncs, within their own budget: a backlog,
    // or one that keeps failing, never holds a sync back.
    let (repair, ran) = tokio::join!(
        store.place_unplaced(now - UNPLACED_GRACE, settings.repair_budget, Some(deadline.into_std())),
        run(store, marketplace, settings, now, deadline, &mut report),
    );
    match repair {
        Ok(repair) => (report.placed, report.unplaced_failed) = (repair.placed, repair.failed),
        Err(err) => tracing::error!(error = %err, "could not read the writes left unplaced"),
    }
    // Best effort: a failed look at what is left does not fail a run that did its work.
    report.lag = match store.scan_checkpoint(settings.year).await {
        Ok(checkpoint) => Some(lag(&checkpoint, settings.stale_after, Utc::now())),
        Err(err) => {
            tracing::warn!(error = %err, "could not read how far behind the scan is");
            None
        }
    };
    // Printed however the run ended: what it did counts, and its counts start again.
    emit_metrics(&report, store, marketplace);
    ran.map(|()| report)
}

/// The scan of each plan year served (`Settings::scans`: the coming one first), each keeping its
/// own pass and checkpoint. Each year first gets an equal share of the time left (a year done
/// early leaves the rest to the next); then the years that ran out of time get, in turn, what is
/// still left: no year's unused share is lost to another. One year's failure does not keep the
/// others from their turn; the run reports the first. The reports, added up.
pub async fn scan_years<S: Applications + SyncDue + UnplacedRepair>(
    store: &S,
    marketplace: &MarketplaceClient,
    years: &[ScanSettings],
    now: DateTime<Utc>,
    deadline: Instant,
) -> Result<ScanReport, StoreError> {
    let mut total = ScanReport::default();
    let mut failed = None;
    let mut behind = Vec::new();
    for (done, settings) in years.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let share = left.div_f64((years.len() - done) as f64);
        match scan(store, marketplace, settings, now, Instant::now() + share).await {
            Ok(report) => {
                if report.out_of_time {
                    behind.push(settings);
                }
                total.add(&report);
            }
            Err(err) => {
                tracing::error!(plan_year = %settings.year, error = %err, "the scan of a plan year failed");
                failed.get_or_insert(err);
            }
        }
    }
    for settings in behind {
        if Instant::now() >= deadline {
            break;
        }
        let more = ScanSettings { repair_budget: 0, ..settings.clone() };
        match scan(store, marketplace, &more, now, deadline).await {
            Ok(report) => total.add(&report),
            Err(err) => {
                tracing::error!(plan_year = %settings.year, error = %err, "the scan of a plan year failed");
                failed.get_or_insert(err);
            }
        }
    }
    match failed {
        Some(err) => Err(err),
        None => Ok(total),
    }
}

impl ScanReport {
    /// Another year's run, added to this one's.
    fn add(&mut self, other: &ScanReport) {
        self.placed += other.placed;
        self.unplaced_failed += other.unplaced_failed;
        self.first_synced += other.first_synced;
        self.synced += other.synced;
        self.failed += other.failed;
        self.unknown += other.unknown;
        self.pass_completed |= other.pass_completed;
        self.out_of_time |= other.out_of_time;
        for (outcome, n) in &other.outcomes {
            *self.outcomes.entry(outcome).or_default() += n;
        }
        self.lag = match (self.lag, other.lag) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.oldest_failed = earliest(self.oldest_failed, other.oldest_failed);
    }
}

async fn run<S: Applications + SyncDue>(
    store: &S,
    marketplace: &MarketplaceClient,
    settings: &ScanSettings,
    now: DateTime<Utc>,
    deadline: Instant,
    report: &mut ScanReport,
) -> Result<(), StoreError> {
    let mut syncs = Syncs {
        store,
        now,
        deadline,
        marketplace: marketplace.for_scan(),
        permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
        running: JoinSet::new(),
        counted: HashMap::new(),
    };

    // The priority lane first, and again every minute while the run lasts.
    let mut new_lane = NewLane::new(store, settings);
    if !new_lane.first(&mut syncs, deadline, report).await? {
        report.out_of_time = true;
        syncs.finish(report).await;
        return Ok(());
    }

    // The pass under way, or a new one if it is time.
    let mut at = match store.scan_checkpoint(settings.year).await {
        Ok(at) => at,
        Err(err) => {
            new_lane.stop();
            syncs.finish(report).await;
            return Err(err);
        }
    };
    if at.pass.is_none() {
        match new_pass(at.last_pass.as_ref(), settings, now) {
            Some(pass) => {
                at = ScanCheckpoint {
                    pass: Some(pass),
                    last_pass: at.last_pass,
                    passes_completed: at.passes_completed,
                    ..ScanCheckpoint::default()
                }
            }
            None => {
                new_lane.stop();
                syncs.finish(report).await;
                return Ok(());
            }
        }
    }
    let walked = walk(store, settings, &mut at, &mut syncs, &mut new_lane, deadline, report).await;
    // However the walk ended, the syncs it started are waited for and their failures kept with
    // the pass: the checkpoint is already past them.
    new_lane.stop();
    syncs.finish(report).await;
    note_failures(&mut at, report.oldest_failed);
    let saved = store.save_scan_checkpoint(settings.year, &at).await;
    walked.and(saved)
}

/// The pass under way in `at`, page by page, until it ends or `deadline`.
async fn walk<S: Applications + SyncDue>(
    store: &S,
    settings: &ScanSettings,
    at: &mut ScanCheckpoint,
    syncs: &mut Syncs<'_, S>,
    new_lane: &mut NewLane<S>,
    deadline: Instant,
    report: &mut ScanReport,
) -> Result<(), StoreError> {
    let pass = at.pass.clone().expect("a pass under way");
    loop {
        if Instant::now() >= deadline {
            report.out_of_time = true;
            return Ok(());
        }
        new_lane.tend(syncs, deadline, report).await?;
        // An unknown application is due once its time to ask again has come; the rest by the cut-off.
        let upto = if at.lane == DueLane::Unknown { pass.started_at } else { pass.cutoff };
        let page = store
            .due_for_sync(settings.year, at.shard, at.lane, upto, at.position.as_deref(), settings.page_size)
            .await?;
        let mut stopped = false;
        for due in page.due {
            if Instant::now() >= deadline {
                stopped = true;
                break;
            }
            new_lane.tend(syncs, deadline, report).await?;
            // The position is the last application taken up; one whose sync fails or is cut
            // short stays due, and the next pass takes it up again.
            let position = due.position.clone();
            if !syncs.start(due, false, report).await {
                stopped = true;
                break;
            }
            at.position = Some(position);
        }
        if !stopped {
            match page.next {
                // The page read up to here, whether or not what it read there was due.
                Some(next) => at.position = Some(next),
                None => match next_place(at.lane, at.again, at.shard, store.due_parts()) {
                    Some((lane, again, shard)) => {
                        *at = ScanCheckpoint { lane, again, shard, position: None, ..at.clone() }
                    }
                    None => {
                        *at = ScanCheckpoint {
                            last_pass: at.pass.take(),
                            passes_completed: at.passes_completed + 1,
                            ..ScanCheckpoint::default()
                        };
                        report.pass_completed = true;
                        return Ok(());
                    }
                },
            }
        }
        note_failures(at, report.oldest_failed);
        store.save_scan_checkpoint(settings.year, at).await?;
    }
}

/// A new pass at `now`, unless the last one started less than `pass_every` ago. Its cut-off: what
/// would pass the staleness window before the next pass has had time to reach it (two paces on)
/// is due now — never later than `now`.
fn new_pass(last: Option<&Pass>, settings: &ScanSettings, now: DateTime<Utc>) -> Option<Pass> {
    if last.is_some_and(|last| now < last.started_at + settings.pass_every) {
        return None;
    }
    let cutoff = (now - settings.stale_after + settings.pass_every * 2).min(now);
    Some(Pass { started_at: now, cutoff, oldest_failed: None })
}

/// Keeps the run's failures with the pass they belong to: the one under way, or the one this run
/// ended (whose last syncs finish after it ended).
fn note_failures(at: &mut ScanCheckpoint, oldest_failed: Option<DateTime<Utc>>) {
    if let Some(pass) = at.pass.as_mut().or(at.last_pass.as_mut()) {
        pass.oldest_failed = earliest(pass.oldest_failed, oldest_failed);
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How far past the staleness window the stalest application is at `now` (zero while none is),
/// from the checkpoint alone — the due list is not ordered by last sync, and reading it whole for
/// a figure would cost a pass. When the last pass ended, every application it did not fail had
/// been synced after its cut-off; what failed since kept its older sync. (Until a deployment's
/// first pass has ended, only failures count.)
pub fn lag(at: &ScanCheckpoint, stale_after: chrono::Duration, now: DateTime<Utc>) -> chrono::Duration {
    let last = at.last_pass.as_ref();
    let failed = earliest(last.and_then(|p| p.oldest_failed), at.pass.as_ref().and_then(|p| p.oldest_failed));
    let oldest = earliest(last.map(|p| p.cutoff), failed);
    let overdue = oldest.map_or(chrono::Duration::zero(), |synced| now - (synced + stale_after));
    overdue.max(chrono::Duration::zero())
}

/// How long syncs under way at the deadline may take to finish: the scan's deadline is 60 s
/// before the Lambda's, and this leaves half of that.
const FINISH_GRACE: Duration = Duration::from_secs(30);

/// How often a run looks for applications never synced (besides at its start): the default.
pub const NEW_LANE_EVERY: Duration = Duration::from_secs(60);

/// What a look for never-synced applications found, and whether it read every shard.
type Found = (Vec<Due>, bool);

/// The never-synced applications, shard by shard, and whether the look went through every shard
/// before `deadline`.
async fn find_new<S: SyncDue>(
    store: S,
    year: PlanYear,
    page_size: i32,
    deadline: Instant,
) -> Result<Found, StoreError> {
    let mut pages = NewPages::new(store, year, page_size);
    let mut found = Vec::new();
    loop {
        if Instant::now() >= deadline {
            return Ok((found, false));
        }
        match pages.next().await? {
            Some(page) => found.extend(page),
            None => return Ok((found, true)),
        }
    }
}

/// The never-synced lane read page by page over every shard: one walk for the run's first look
/// (which starts each page's syncs as it reads them) and the looks beside the pass.
struct NewPages<S> {
    store: S,
    year: PlanYear,
    page_size: i32,
    shard: u32,
    after: Option<String>,
}

impl<S: SyncDue> NewPages<S> {
    fn new(store: S, year: PlanYear, page_size: i32) -> Self {
        Self { store, year, page_size, shard: 0, after: None }
    }

    /// The next page, or `None` once every shard has been read.
    async fn next(&mut self) -> Result<Option<Vec<Due>>, StoreError> {
        while self.shard < self.store.due_parts() {
            let page = self
                .store
                .due_for_sync(self.year, self.shard, DueLane::New, Utc::now(), self.after.as_deref(), self.page_size)
                .await?;
            match page.next {
                Some(next) => self.after = Some(next),
                None => {
                    self.shard += 1;
                    self.after = None;
                }
            }
            if !page.due.is_empty() {
                return Ok(Some(page.due));
            }
        }
        Ok(None)
    }
}

/// The looks for never-synced applications during a run, after the first: each runs beside the
/// pass (the pass's syncs go on while it reads every shard), and what it found is started ahead
/// of the pass's next application.
struct NewLane<S> {
    store: S,
    year: PlanYear,
    page_size: i32,
    every: Duration,
    next: Instant,
    looking: Option<tokio::task::JoinHandle<Result<Found, StoreError>>>,
    /// Applications this run has started a first sync of: one whose sync failed stays
    /// never-synced, and the next run, not this one, tries it again.
    tried: std::collections::HashSet<String>,
}

impl<S: Applications + SyncDue> NewLane<S> {
    fn new(store: &S, settings: &ScanSettings) -> Self {
        Self {
            store: store.clone(),
            year: settings.year,
            page_size: settings.page_size,
            every: settings.new_lane_every,
            next: Instant::now(),
            looking: None,
            tried: std::collections::HashSet::new(),
        }
    }

    /// The run's first look, waited for: the never-synced go before the pass. `false` when the
    /// deadline came first.
    async fn first(
        &mut self,
        syncs: &mut Syncs<'_, S>,
        deadline: Instant,
        report: &mut ScanReport,
    ) -> Result<bool, StoreError> {
        // Each page's syncs start as it is read, well ahead of the pass's first.
        let mut pages = NewPages::new(self.store.clone(), self.year, self.page_size);
        loop {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            let Some(page) = pages.next().await? else { break };
            if !self.start(page, syncs, report).await {
                return Ok(false);
            }
        }
        self.next = Instant::now() + self.every;
        Ok(true)
    }

    /// Starts a look when one is due, and the syncs of what a finished look found.
    async fn tend(
        &mut self,
        syncs: &mut Syncs<'_, S>,
        deadline: Instant,
        report: &mut ScanReport,
    ) -> Result<(), StoreError> {
        if self.looking.as_ref().is_some_and(tokio::task::JoinHandle::is_finished) {
            let look = self.looking.take().expect("a look is under way");
            let (found, _) = look.await.expect("a look for new applications never panics")?;
            self.next = Instant::now() + self.every;
            self.start(found, syncs, report).await;
        }
        if self.looking.is_none() && Instant::now() >= self.next {
            let look = find_new(self.store.clone(), self.year, self.page_size, deadline);
            self.looking = Some(tokio::spawn(look));
        }
        Ok(())
    }

    /// `false` when the deadline came before every one was started.
    async fn start(&mut self, found: Vec<Due>, syncs: &mut Syncs<'_, S>, report: &mut ScanReport) -> bool {
        for due in found {
            if self.tried.insert(due.position.clone()) && !syncs.start(due, true, report).await {
                return false;
            }
        }
        true
    }

    /// The run is over: a look under way is dropped (what it would find, the next run finds).
    fn stop(self) {
        if let Some(look) = self.looking {
            look.abort();
        }
    }
}

/// After the shard `shard` of `lane` (of `shards`; `again`: its second walk): the next shard, or
/// the next lane's first; `None` at the end of the pass.
fn next_place(lane: DueLane, again: bool, shard: u32, shards: u32) -> Option<(DueLane, bool, u32)> {
    if shard + 1 < shards {
        return Some((lane, again, shard + 1));
    }
    let next = PASS_LANES.iter().position(|step| *step == (lane, again))? + 1;
    PASS_LANES.get(next).map(|(lane, again)| (*lane, *again, 0))
}

/// The syncs in flight across pages: the next page is read while the last one's syncs run, so
/// the budget, not the page boundaries, sets the pace.
struct Syncs<'a, S> {
    store: &'a S,
    /// The run's time: an unknown application's delay counts from it.
    now: DateTime<Utc>,
    /// No sync starts after it, and those still running `FINISH_GRACE` after it are cut short.
    deadline: Instant,
    marketplace: MarketplaceClient,
    permits: Arc<Semaphore>,
    running: JoinSet<(Due, bool, Result<(), SyncError>, bool)>,
    /// The last sync of each sync under way that the lag counts if it does not succeed (a pass's,
    /// in the at-risk and stale lanes): one cut short or dying leaves no result to say so.
    counted: HashMap<tokio::task::Id, DateTime<Utc>>,
}

impl<S: Applications + SyncDue> Syncs<'_, S> {
    /// Starts a sync of `due`, unless the deadline has come while it waited for a slot; says
    /// whether it started.
    async fn start(&mut self, due: Due, first: bool, report: &mut ScanReport) -> bool {
        let permit = self.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        if Instant::now() >= self.deadline {
            return false;
        }
        let (store, marketplace, run_at) = (self.store.clone(), self.marketplace.clone(), self.now);
        let counted = matches!(due.lane, DueLane::AtRisk | DueLane::Stale).then_some(due.last_synced_at).flatten();
        // A sync gives up by itself when the grace after the deadline is over (the cut in `finish`
        // is the backstop).
        let until = self.deadline + FINISH_GRACE;
        let task = self.running.spawn(async move {
            let result = sync_application(&store, &marketplace, &due.application, Utc::now(), until).await.map(drop);
            // Unknown to the marketplace: not again on every pass, but after a growing delay, in
            // its own lane (until that is recorded, it stays where it was, and counts as failed).
            let not_found = matches!(result, Err(SyncError::Marketplace(MarketplaceError::NotFound)));
            let ask_again_at = run_at + unknown_backoff(due.unknown_count + 1);
            let unknown = not_found
                && match store.record_unknown(&due, ask_again_at).await {
                    Ok(recorded) => recorded,
                    Err(err) => {
                        tracing::warn!(error = %err, "could not record an application the marketplace did not know");
                        false
                    }
                };
            drop(permit);
            (due, first, result, unknown)
        });
        if let Some(synced) = counted {
            self.counted.insert(task.id(), synced);
        }
        while let Some(done) = self.running.try_join_next_with_id() {
            self.record(done, report);
        }
        true
    }

    /// Waits for the syncs under way, until `FINISH_GRACE` after the deadline: a sync waiting out
    /// a long `Retry-After` then is cut short (it changed nothing; it stays due), so the run ends
    /// inside the Lambda's time limit.
    async fn finish(&mut self, report: &mut ScanReport) {
        let until = self.deadline.max(Instant::now()) + FINISH_GRACE;
        while let Ok(Some(done)) = tokio::time::timeout_at(until, self.running.join_next_with_id()).await {
            self.record(done, report);
        }
        let cut_short = u32::try_from(self.running.len()).unwrap_or(u32::MAX);
        report.failed += cut_short;
        if cut_short > 0 {
            *report.outcomes.entry(sync::CUT_SHORT).or_default() += cut_short;
        }
        for (_, synced) in self.counted.drain() {
            report.oldest_failed = earliest(report.oldest_failed, Some(synced));
        }
        self.running.shutdown().await;
    }

    fn record(&mut self, done: Finished, report: &mut ScanReport) {
        let counted = match &done {
            Ok((id, _)) => self.counted.remove(id),
            Err(join_error) => self.counted.remove(&join_error.id()),
        };
        let outcome = match &done {
            Ok((_, (_, _, result, _))) => sync::outcome(result),
            Err(_) => sync::PANICKED,
        };
        *report.outcomes.entry(outcome).or_default() += 1;
        match done {
            Ok((_, (_, first, Ok(()), _))) => {
                report.synced += 1;
                report.first_synced += u32::from(first);
            }
            Ok((_, (due, _, Err(err), unknown))) => {
                report.failed += 1;
                report.unknown += u32::from(unknown);
                // One now in the unknown lane is not in the lag; the rest keep their older sync.
                if !unknown {
                    report.oldest_failed = earliest(report.oldest_failed, counted);
                }
                tracing::warn!(federal_exchange_id = %due.application.id, error = %err, "scheduled sync failed");
            }
            Err(join_error) => {
                report.failed += 1;
                report.oldest_failed = earliest(report.oldest_failed, counted);
                tracing::error!(error = %join_error, "a sync task died");
            }
        }
    }
}

type Finished = Result<(tokio::task::Id, (Due, bool, Result<(), SyncError>, bool)), tokio::task::JoinError>;

/// The scan's deadline: its budget, but never closer than a safety margin to the Lambda's own.
pub fn deadline(budget: Duration, lambda_deadline: Option<std::time::SystemTime>) -> Instant {
    Instant::from_std(shared::deadline::run_deadline(budget, Duration::from_secs(60), lambda_deadline))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(hour)
    }

    fn settings(stale_after_hours: i64) -> ScanSettings {
        let stale_after = chrono::Duration::hours(stale_after_hours);
        ScanSettings {
            year: PlanYear::parse(2026).unwrap(),
            stale_after,
            concurrency: 1,
            page_size: 10,
            new_lane_every: NEW_LANE_EVERY,
            repair_budget: 0,
            pass_every: pass_every(stale_after),
        }
    }

    #[test]
    fn a_pass_starts_a_pace_after_the_last_and_syncs_what_would_pass_the_window_before_the_next_reaches_it() {
        let week = settings(168);
        assert_eq!(week.pass_every, chrono::Duration::hours(3));
        let first = new_pass(None, &week, at(200)).expect("no pass yet: one starts");
        assert_eq!(first.cutoff, at(200 - 168 + 6));
        assert_eq!(new_pass(Some(&first), &week, at(202)), None, "too soon");
        assert_eq!(new_pass(Some(&first), &week, at(203)).map(|p| p.started_at), Some(at(203)));
        // A short window: an eighth of it, and a cut-off never in the future.
        let short = ScanSettings { pass_every: chrono::Duration::hours(10), ..settings(8) };
        assert_eq!(settings(8).pass_every, chrono::Duration::hours(1));
        assert_eq!(new_pass(None, &short, at(50)).unwrap().cutoff, at(50));
        // Back to back when unpaced.
        let unpaced = ScanSettings { pass_every: chrono::Duration::zero(), ..settings(24) };
        let pass = new_pass(None, &unpaced, at(30)).unwrap();
        assert_eq!(pass.cutoff, at(6));
        assert!(new_pass(Some(&pass), &unpaced, at(30)).is_some());
    }

    #[test]
    fn the_lag_is_how_far_past_the_window_the_last_passs_cut_off_or_a_failed_sync_since_is() {
        let window = chrono::Duration::hours(24);
        let none = ScanCheckpoint::default();
        assert_eq!(lag(&none, window, at(100)), chrono::Duration::zero(), "nothing known yet");

        let ended = Pass { started_at: at(50), cutoff: at(30), oldest_failed: None };
        let mut checkpoint = ScanCheckpoint { last_pass: Some(ended.clone()), ..ScanCheckpoint::default() };
        assert_eq!(lag(&checkpoint, window, at(54)), chrono::Duration::zero(), "within the window");
        assert_eq!(lag(&checkpoint, window, at(56)), chrono::Duration::hours(2), "no pass since: behind");

        // A failure in the pass under way counts, and one in the last pass counts until the
        // next pass ends.
        checkpoint.pass = Some(Pass { started_at: at(56), cutoff: at(36), oldest_failed: Some(at(20)) });
        assert_eq!(lag(&checkpoint, window, at(56)), chrono::Duration::hours(12));
        checkpoint.pass = None;
        checkpoint.last_pass = Some(Pass { oldest_failed: Some(at(25)), ..ended });
        assert_eq!(lag(&checkpoint, window, at(50)), chrono::Duration::hours(1));
    }

    #[test]
    fn a_pass_walks_the_at_risk_lane_then_the_rest_then_the_at_risk_lane_again_then_the_unknown() {
        let mut place = (DueLane::AtRisk, false, 0);
        let mut walked = vec![place];
        while let Some(next) = next_place(place.0, place.1, place.2, 2) {
            walked.push(next);
            place = next;
        }
        use DueLane::{AtRisk, Stale, Unknown};
        assert_eq!(
            walked,
            vec![
                (AtRisk, false, 0),
                (AtRisk, false, 1),
                (Stale, false, 0),
                (Stale, false, 1),
                (AtRisk, true, 0),
                (AtRisk, true, 1),
                (Unknown, false, 0),
                (Unknown, false, 1)
            ]
        );
    }

    #[test]
    fn failures_go_with_the_pass_under_way_or_the_one_the_run_ended() {
        let pass = Pass { started_at: at(50), cutoff: at(30), oldest_failed: Some(at(10)) };
        let mut under_way = ScanCheckpoint { pass: Some(pass.clone()), ..ScanCheckpoint::default() };
        note_failures(&mut under_way, Some(at(5)));
        note_failures(&mut under_way, Some(at(8)));
        note_failures(&mut under_way, None);
        assert_eq!(under_way.pass.unwrap().oldest_failed, Some(at(5)));
        let mut ended = ScanCheckpoint { last_pass: Some(pass), ..ScanCheckpoint::default() };
        note_failures(&mut ended, Some(at(7)));
        assert_eq!(ended.last_pass.unwrap().oldest_failed, Some(at(7)));
    }
}

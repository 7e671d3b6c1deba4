//! What the functions need from storage: one trait per capability, in the domain's words (no key
//! or item crosses a port). The DynamoDB store implements each in the file that owns its items;
//! each function's dependencies name the ones it uses — what its IAM policy allows — so its
//! handlers can be tested with fakes of those built from domain values.
//!
//! Futures are `Send` so that handlers stay usable behind axum and the Lambda runtime.

use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};

use domain::{Agency, AgencyId, AgencyUpsert, Agent, AgentId, AgentUpsert, ApplicationKey, EntryOwner, Evidence};
use domain::{ArchivedFilter, Conduct, DigestSettings, ListCounts, ListPage, Scope, SettingsChange, SwapPatterns};
use domain::{ExportId, ExportJob, PlanYear, Succeeded};
mod error;
mod outcomes;

pub use error::StoreError;
pub use outcomes::{
    ApplyOutcome, Claim, CountedTake, DayClaim, DigestOutcome, DigestRun, Due, DueLane, DuePage, Flagged, Notice,
    OutboxItem, Pass, Repair, ScanCheckpoint, StoredApplication, SyncSlot, TakerSpike, TimelineWindow, UpsertOutcome,
};

type StoreResult<T> = Result<T, StoreError>;

/// Who is who: agents, agencies and the tree (reads).
pub trait Directory: Clone + Send + Sync + 'static {
    fn agent(&self, agent: &AgentId) -> impl Future<Output = StoreResult<Option<Agent>>> + Send;
    fn agency(&self, agency: &AgencyId) -> impl Future<Output = StoreResult<Option<Agency>>> + Send;
    /// The agency's path by its parent links, top first, ending with it.
    fn agency_path(&self, agency: &AgencyId) -> impl Future<Output = StoreResult<Vec<AgencyId>>> + Send;
    fn child_agencies(&self, agency: &AgencyId) -> impl Future<Output = StoreResult<Vec<AgencyId>>> + Send;
}

/// Whether the requester of `job` may still have it, by the directory as it is now: an admin
/// demoted or moved since, or an agency that turned agent exports off since, no longer may.
pub async fn export_still_allowed(store: &impl Directory, job: &ExportJob) -> StoreResult<bool> {
    let Some(requester) = store.agent(&job.requester_agent_id).await? else { return Ok(false) };
    let switch_on = store.agency(&requester.agency_id).await?.is_none_or(|agency| agency.agent_exports_enabled);
    let path = match &job.scope {
        domain::ExportScope::Agency { agency_id } | domain::ExportScope::Disputes { agency_id } => {
            store.agency_path(agency_id).await?
        }
        domain::ExportScope::Agent { .. } => Vec::new(),
    };
    Ok(domain::may_export(&job.scope, requester.role, &requester.agency_id, switch_on, &path))
}

/// An agent's agency path as the directory has it now, top first (empty while not known).
pub async fn agent_path(store: &impl Directory, agent: &AgentId) -> StoreResult<Vec<AgencyId>> {
    match store.agent(agent).await? {
        Some(agent) => store.agency_path(&agent.agency_id).await,
        None => Ok(Vec::new()),
    }
}

/// The dispute cases of `agency`'s tree, newest first: those filed under its top whose owner is
/// in the tree by the directory now.
pub async fn tree_cases(
    store: &(impl Directory + DisputeCases),
    agency: &AgencyId,
) -> StoreResult<Vec<domain::Dispute>> {
    let path = store.agency_path(agency).await?;
    let Some(top) = path.first() else { return Ok(Vec::new()) };
    let mut inside: std::collections::HashMap<AgentId, bool> = std::collections::HashMap::new();
    let mut cases = Vec::new();
    for case in store.tree_disputes(top).await? {
        let within = match inside.get(&case.agent_id) {
            Some(within) => *within,
            None => {
                let within = agent_path(store, &case.agent_id).await?.contains(agency);
                *inside.entry(case.agent_id.clone()).or_insert(within)
            }
        };
        if within {
            cases.push(case);
        }
    }
    Ok(cases)
}

/// Changing the directory as the platform says, and an agency's own setting.
pub trait DirectoryChanges: Clone + Send + Sync + 'static {
    /// Records the agency and re-places its subtree, pausing once `until` has passed.
    fn upsert_agency_until(
        &self,
        upsert: &AgencyUpsert,
        as_of: &domain::EventOrder,
        until: Option<std::time::Instant>,
    ) -> impl Future<Output = StoreResult<UpsertOutcome>> + Send;
    /// Records the agent and re-places their entries, pausing once `until` has passed.
    fn upsert_agent_until(
        &self,
        upsert: &AgentUpsert,
        as_of: &domain::EventOrder,
        until: Option<std::time::Instant>,
    ) -> impl Future<Output = StoreResult<UpsertOutcome>> + Send;
}

/// An agency's switch for its agents' own exports.
pub trait AgencySettings: Clone + Send + Sync + 'static {
    fn set_agent_exports(
        &self,
        agency: &AgencyId,
        enabled: bool,
        at: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// A person's own settings (the daily digest).
pub trait PersonSettings: Clone + Send + Sync + 'static {
    fn person_settings(&self, agent: &AgentId) -> impl Future<Output = StoreResult<DigestSettings>> + Send;
    fn change_person_settings(
        &self,
        agent: &AgentId,
        change: SettingsChange,
        now: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<DigestSettings>> + Send;
}

/// How many on-demand syncs one person has in flight, across every instance.
pub trait SyncSlots: Clone + Send + Sync + 'static {
    /// Takes one of `slots` slots of `who` until `until`; `None` when all are held.
    fn take_sync_slot(
        &self,
        who: &str,
        slots: u32,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<Option<SyncSlot>>> + Send;
    fn release_sync_slot(&self, slot: &SyncSlot) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Turns at the marketplace's rate, shared by every instance of the deployment, kept a block
/// of consecutive turns to an item so that one write can take several.
pub trait RateSlots: Clone + Send + Sync + 'static {
    /// Takes every one of the turns `offsets` of the block that starts at `block_start_micros`
    /// (since the epoch), or none of them when any is taken already.
    fn claim_rate_slots(
        &self,
        block_start_micros: i64,
        offsets: &[u32],
    ) -> impl Future<Output = StoreResult<SlotClaim>> + Send;
}

/// What a claim of turns got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotClaim {
    Won,
    /// Nothing: these turns of the block (offsets) were taken already.
    Taken(std::collections::BTreeSet<u32>),
}

/// Applications and the evidence about them, as they stand, and their history.
pub trait ApplicationReads: Clone + Send + Sync + 'static {
    fn application(&self, app: &ApplicationKey) -> impl Future<Output = StoreResult<StoredApplication>> + Send;
    /// The application without the evidence kept as items: its entries, version, last sync
    /// and current sync record (the log holds that record alone). What a route reads to know
    /// whose it is.
    fn head(&self, app: &ApplicationKey) -> impl Future<Output = StoreResult<StoredApplication>> + Send;
    /// Every change of at-risk state of every entry of the application, oldest first.
    fn history(&self, app: &ApplicationKey) -> impl Future<Output = StoreResult<Vec<domain::HistoryRecord>>> + Send;
    /// The evidence items and history items at or before `until` (from the newest when
    /// `None`), newest first, at most `items` of each; the sync records `records` (by last
    /// time and id) whatever their time; and every evidence item kept at or after `since`.
    fn timeline_window(
        &self,
        app: &ApplicationKey,
        until: Option<DateTime<Utc>>,
        records: &[(DateTime<Utc>, domain::EvidenceId)],
        since: Option<DateTime<Utc>>,
        items: usize,
    ) -> impl Future<Output = StoreResult<TimelineWindow>> + Send;
    /// Each agent as the directory knows them now, with their agency's path.
    fn owners(
        &self,
        agents: std::collections::BTreeSet<AgentId>,
    ) -> impl Future<Output = StoreResult<std::collections::HashMap<AgentId, EntryOwner>>> + Send;
}

/// Applications: reading them, and applying evidence.
pub trait Applications: ApplicationReads {
    /// Applies one piece of evidence, exactly once however often called, and places its entries.
    fn apply_evidence(
        &self,
        app: &ApplicationKey,
        evidence: &Evidence,
        now: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<ApplyOutcome>> + Send;
    /// Placements cancelled by a newer state (then retried) since last asked: for the metrics.
    fn take_placement_conflicts(&self) -> u64 {
        0
    }
}

/// The at-risk lists, the counters and the visits.
pub trait RiskLists: Clone + Send + Sync + 'static {
    fn risk_page(
        &self,
        scope: &Scope,
        year: PlanYear,
        filter: ArchivedFilter,
        limit: u16,
        after: Option<&str>,
    ) -> impl Future<Output = StoreResult<ListPage>> + Send;
    /// The counters of an agent's own list or of an agency's tree.
    fn counts(&self, scope: &Scope, year: PlanYear) -> impl Future<Output = StoreResult<ListCounts>> + Send;
    /// The direct sub-agencies of `agency` with the most at risk in a plan year (their trees'
    /// totals), at most `n`, the most first and then by name; those with none left out. A few
    /// reads whatever the number of children.
    fn top_children(
        &self,
        agency: &AgencyId,
        year: PlanYear,
        n: usize,
    ) -> impl Future<Output = StoreResult<Vec<(Agency, i64)>>> + Send;
    fn record_visit(
        &self,
        scope: &Scope,
        year: PlanYear,
        at: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<DateTime<Utc>>> + Send;
}

/// Who took entries from an agency's tree, as counted by the outbox relay.
pub trait SwapCounts: Clone + Send + Sync + 'static {
    fn swap_patterns(
        &self,
        agency: &AgencyId,
        year: PlanYear,
    ) -> impl Future<Output = StoreResult<SwapPatterns>> + Send;
}

/// What an agency's own agents took, as counted by the outbox relay, and their spikes.
pub trait ConductCounts: Clone + Send + Sync + 'static {
    fn conduct(&self, agency: &AgencyId, year: PlanYear) -> impl Future<Output = StoreResult<Conduct>> + Send;
    /// The spikes of the agency's tree recorded after `since` and up to `through`, oldest first.
    fn spikes_recorded(
        &self,
        agency: &AgencyId,
        year: PlanYear,
        since: DateTime<Utc>,
        through: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<Vec<TakerSpike>>> + Send;
}

/// Spikes found by the outbox relay: recorded once, then published (at least once).
pub trait SpikeRecords: Clone + Send + Sync + 'static {
    /// An agent's takes per ISO week, wherever in the tree they were, read consistently.
    fn weekly_takes(
        &self,
        year: PlanYear,
        agent: &AgentId,
    ) -> impl Future<Output = StoreResult<std::collections::BTreeMap<String, i64>>> + Send;
    /// Records a spike in every agency on its path, once per agent and week (`false`: recorded
    /// before), with its `notice` to publish.
    fn record_spike(&self, spike: &TakerSpike, notice: &Notice) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// The events to publish that no history item holds (see `Notice`).
pub trait Notices: Clone + Send + Sync + 'static {
    /// Every notice not yet published, oldest first.
    fn unpublished_notices(&self) -> impl Future<Output = StoreResult<Vec<Notice>>> + Send;
    fn notice_published(&self, notice: &Notice) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Dispute cases (`domain::disputes`). Every case is filed under its owner, and under the top of
/// their agency's tree as the directory had it at the case's last write (readers check reach
/// against the directory as it is now); an open case also holds its entry's one open place.
pub trait DisputeCases: Clone + Send + Sync + 'static {
    /// Records a new case and its notice while the application is still at `version` (as read
    /// when the entry was found at risk); `Some(open)`: the entry has an open case already, and
    /// nothing was written; `Conflict`: the application changed meanwhile.
    fn open_dispute(
        &self,
        case: &domain::Dispute,
        version: u64,
        agency_path: &[AgencyId],
        notice: &Notice,
    ) -> impl Future<Output = StoreResult<Option<domain::Dispute>>> + Send;
    fn dispute(&self, dispute_id: &str) -> impl Future<Output = StoreResult<Option<domain::Dispute>>> + Send;
    /// The open case of an entry, if any.
    fn open_dispute_of(
        &self,
        app: &ApplicationKey,
        agent: &AgentId,
    ) -> impl Future<Output = StoreResult<Option<domain::Dispute>>> + Send;
    /// Writes `case` over the version before it (`Conflict` when someone wrote first), with its
    /// notice; a case closed lets go of its entry's open place.
    fn save_dispute(
        &self,
        case: &domain::Dispute,
        agency_path: &[AgencyId],
        notice: Option<&Notice>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// An agent's cases (of their own book), newest first.
    fn agent_disputes(&self, agent: &AgentId) -> impl Future<Output = StoreResult<Vec<domain::Dispute>>> + Send;
    /// The cases filed under a top agency's tree, newest first.
    fn tree_disputes(&self, top: &AgencyId) -> impl Future<Output = StoreResult<Vec<domain::Dispute>>> + Send;
    /// The cases of a plan year still open.
    fn open_disputes_of_year(&self, year: PlanYear) -> impl Future<Output = StoreResult<Vec<domain::Dispute>>> + Send;
}

/// Export jobs as their requester sees them.
pub trait ExportRequests: Clone + Send + Sync + 'static {
    /// Records a new export, once per idempotency key; returns the one the key made.
    fn create_export(
        &self,
        job: &ExportJob,
        idempotency_key: Option<&str>,
    ) -> impl Future<Output = StoreResult<ExportJob>> + Send;
    fn export(&self, id: &ExportId) -> impl Future<Output = StoreResult<Option<ExportJob>>> + Send;
    fn exports_of(&self, requester: &str, limit: i32) -> impl Future<Output = StoreResult<Vec<ExportJob>>> + Send;
}

/// Export jobs as a builder moves them along: claimed, uploading, done or failed, emailed once.
pub trait ExportBuilds: Clone + Send + Sync + 'static {
    fn export(&self, id: &ExportId) -> impl Future<Output = StoreResult<Option<ExportJob>>> + Send;
    fn claim_export(
        &self,
        id: &ExportId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<Claim>> + Send;
    fn record_upload(
        &self,
        id: &ExportId,
        attempt: u32,
        upload_id: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn forget_upload(&self, id: &ExportId, attempt: u32) -> impl Future<Output = StoreResult<()>> + Send;
    fn record_progress(&self, id: &ExportId, attempt: u32, rows: u64) -> impl Future<Output = StoreResult<()>> + Send;
    fn mark_succeeded(
        &self,
        id: &ExportId,
        attempt: u32,
        done: &Succeeded,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn mark_failed(
        &self,
        id: &ExportId,
        attempt: u32,
        reason: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Takes the right to send the email; false when it was taken before.
    fn claim_email(&self, id: &ExportId, now: DateTime<Utc>) -> impl Future<Output = StoreResult<bool>> + Send;
    fn release_email(&self, id: &ExportId) -> impl Future<Output = StoreResult<()>> + Send;
    /// The requester was told: the export is no longer open.
    fn email_sent(&self, id: &ExportId) -> impl Future<Output = StoreResult<()>> + Send;
    /// The requester could not be told in time: marked so, and no longer open.
    fn give_up_email(&self, id: &ExportId, at: DateTime<Utc>) -> impl Future<Output = StoreResult<()>> + Send;
    /// Up to `limit` exports not finished or not told, asked for before `created_before`, oldest first.
    fn open_exports(
        &self,
        created_before: DateTime<Utc>,
        limit: i32,
    ) -> impl Future<Output = StoreResult<Vec<ExportJob>>> + Send;
}

/// What the scheduled scan walks: applications due for a re-sync, and where it stopped.
pub trait SyncDue: Clone + Send + Sync + 'static {
    /// How many parts (shards) each lane of the due list is in.
    fn due_parts(&self) -> u32;
    /// A page of one lane of one shard, after `after`: of the next `limit` applications in the
    /// lane, those due by `upto` (last synced before it; for the unknown lane, to be asked again
    /// by it; for the never-synced lane, all).
    fn due_for_sync(
        &self,
        year: PlanYear,
        shard: u32,
        lane: DueLane,
        upto: DateTime<Utc>,
        after: Option<&str>,
        limit: i32,
    ) -> impl Future<Output = StoreResult<DuePage>> + Send;
    /// Records that the marketplace did not know the application: ask again at `ask_again_at`.
    fn record_unknown(&self, due: &Due, ask_again_at: DateTime<Utc>) -> impl Future<Output = StoreResult<bool>> + Send;
    fn scan_checkpoint(&self, year: PlanYear) -> impl Future<Output = StoreResult<ScanCheckpoint>> + Send;
    fn save_scan_checkpoint(
        &self,
        year: PlanYear,
        checkpoint: &ScanCheckpoint,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Placing what writers that died or failed left unplaced (see `store::unplaced`).
pub trait UnplacedRepair: Clone + Send + Sync + 'static {
    /// Places what writers that died left unplaced before `written_before`, at most `budget`.
    fn place_unplaced(
        &self,
        written_before: DateTime<Utc>,
        budget: u32,
        until: Option<std::time::Instant>,
    ) -> impl Future<Output = StoreResult<Repair>> + Send;
}

/// The daily digest's bookkeeping: who asked for it, each person's day claimed once, what was
/// flagged in a list, and where a day's run got to (see `daily-digest`).
pub trait Digests: Clone + Send + Sync + 'static {
    /// A page of the people who asked for the digest, by agent id after `after`; and whether more
    /// follow.
    fn digest_subscribers(
        &self,
        after: Option<&str>,
        limit: i32,
    ) -> impl Future<Output = StoreResult<(Vec<AgentId>, bool)>> + Send;
    /// Claims a person's digest of `day` for `lease`: a new claim, or one whose holder's lease
    /// has lapsed (or was released) without finishing.
    fn claim_digest_day(
        &self,
        agent: &AgentId,
        day: NaiveDate,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> impl Future<Output = StoreResult<DayClaim>> + Send;
    /// Extends this run's claim just before it sends. `Conflict`: the claim was lost.
    fn renew_digest_day(
        &self,
        agent: &AgentId,
        day: NaiveDate,
        lease_until: i64,
        renewed_until: i64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Gives a claimed day back after a failure; returns whether it was given up.
    fn release_digest_day(
        &self,
        agent: &AgentId,
        day: NaiveDate,
        lease_until: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Ends a claimed day and moves the person's watermark to `through`. `Conflict`: the claim was
    /// lost.
    fn finish_digest_day(
        &self,
        agent: &AgentId,
        day: NaiveDate,
        lease_until: i64,
        outcome: DigestOutcome,
        through: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Notes that a person's digest of `day` is still to be tried once the day's walk is done.
    fn note_digest_retry(&self, day: NaiveDate, agent: &AgentId) -> impl Future<Output = StoreResult<()>> + Send;
    fn digest_retries(&self, day: NaiveDate) -> impl Future<Output = StoreResult<Vec<AgentId>>> + Send;
    fn clear_digest_retry(&self, day: NaiveDate, agent: &AgentId) -> impl Future<Output = StoreResult<()>> + Send;
    /// What was flagged in `scope`'s list of `year` after `after` and up to `through` (archived
    /// entries aside): how many, and the newest `keep`.
    fn flagged_between(
        &self,
        scope: &Scope,
        year: PlanYear,
        after: DateTime<Utc>,
        through: DateTime<Utc>,
        keep: usize,
    ) -> impl Future<Output = StoreResult<Flagged>> + Send;
    fn digest_run(&self, day: NaiveDate) -> impl Future<Output = StoreResult<DigestRun>> + Send;
    /// Saves how far a day's run got; a position only moves forward.
    fn save_digest_run(&self, day: NaiveDate, run: &DigestRun) -> impl Future<Output = StoreResult<()>> + Send;
}

/// The outbox: history items whose changes are still to go out and whose takes are still to be
/// counted into swap patterns (see `outbox-relay`).
pub trait Outbox: Clone + Send + Sync + 'static {
    /// How many parts the outbox is in: a relay worker each, all at once.
    fn outbox_parts(&self) -> u32;
    /// A page of one part, oldest first, and where the next starts.
    fn outbox_page(
        &self,
        part: u32,
        limit: i32,
        after: Option<String>,
    ) -> impl Future<Output = StoreResult<(Vec<OutboxItem>, Option<String>)>> + Send;
    /// Counts the take of record `index` of `item` into each of `counts`' agencies' swap
    /// patterns, once however often it is called (`false`: it was counted before, or the item has
    /// left the outbox).
    fn count_take(
        &self,
        item: &OutboxItem,
        index: usize,
        take: &domain::Take,
        counts: &[CountedTake],
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Takes an item out of the outbox: every change in it is published and counted.
    fn relayed(&self, item: &OutboxItem) -> impl Future<Output = StoreResult<()>> + Send;
    /// Sets an item aside until `entry` is in the directory, whose upsert puts it back. `false`:
    /// it arrived meanwhile, or another relay moved the item.
    fn wait_for(
        &self,
        item: &OutboxItem,
        entry: &domain::DirectoryEntry,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

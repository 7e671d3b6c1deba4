//! What the functions need from storage: one trait per capability. The DynamoDB adapter
//! (`store::Store`) implements them all (`store/ports.rs`); each function's dependencies name the
//! ones it uses — what its IAM policy allows — so its handlers can be tested with fakes of those.
//!
//! Futures are `Send` so that handlers stay usable behind axum and the Lambda runtime.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::domain::{AgencyId, AgencyUpsert, AgentId, AgentUpsert, ApplicationKey, Evidence, ExportId, PlanYear};
use crate::domain::{ExportJob, Succeeded};
use crate::store::StoreError;
use crate::store::applications::{ApplyOutcome, StoredApplication};
use crate::store::digests::{PersonSettingsItem, SettingsChange};
use crate::store::directory::UpsertOutcome;
use crate::store::exports::Claim;
use crate::store::items::{AgencyItem, AgentItem, Owner, StatsItem};
use crate::store::keys::Scope;
use crate::store::outbox::SwapPatterns;
use crate::store::risk_lists::{ArchivedFilter, RiskPage};
use crate::store::sync_due::{Due, ScanCheckpoint};

type Answer<T> = Result<T, StoreError>;

/// Who is who: agents, agencies and the tree (reads).
pub trait Directory: Clone + Send + Sync + 'static {
    fn agent(&self, agent: &AgentId) -> impl Future<Output = Answer<Option<AgentItem>>> + Send;
    fn agency(&self, agency: &AgencyId) -> impl Future<Output = Answer<Option<AgencyItem>>> + Send;
    /// The agency's path by its parent links, top first, ending with it.
    fn agency_path(&self, agency: &AgencyId) -> impl Future<Output = Answer<Vec<AgencyId>>> + Send;
    fn child_agencies(&self, agency: &AgencyId) -> impl Future<Output = Answer<Vec<AgencyId>>> + Send;
}

/// Whether the requester of `job` may still have it, by the directory as it is now: an admin
/// demoted or moved since, or an agency that turned agent exports off since, no longer may.
pub async fn export_still_allowed(store: &impl Directory, job: &ExportJob) -> Answer<bool> {
    let Some(requester) = store.agent(&job.requester_agent_id).await? else { return Ok(false) };
    let switch_on = store.agency(&requester.agency_id).await?.is_none_or(|agency| agency.agent_exports_enabled);
    let path = match &job.scope {
        crate::domain::ExportScope::Agency { agency_id } => store.agency_path(agency_id).await?,
        crate::domain::ExportScope::Agent { .. } => Vec::new(),
    };
    Ok(crate::domain::may_export(&job.scope, requester.role, &requester.agency_id, switch_on, &path))
}

/// Changing the directory as the platform says, and an agency's own setting.
pub trait DirectoryChanges: Clone + Send + Sync + 'static {
    /// Records the agency and re-places its subtree, pausing once `until` has passed.
    fn upsert_agency_until(
        &self,
        upsert: &AgencyUpsert,
        as_of: &crate::domain::EventOrder,
        until: Option<std::time::Instant>,
    ) -> impl Future<Output = Answer<UpsertOutcome>> + Send;
    /// Records the agent and re-places their entries, pausing once `until` has passed.
    fn upsert_agent_until(
        &self,
        upsert: &AgentUpsert,
        as_of: &crate::domain::EventOrder,
        until: Option<std::time::Instant>,
    ) -> impl Future<Output = Answer<UpsertOutcome>> + Send;
}

/// An agency's switch for its agents' own exports.
pub trait AgencySettings: Clone + Send + Sync + 'static {
    fn set_agent_exports(
        &self,
        agency: &AgencyId,
        enabled: bool,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Answer<()>> + Send;
}

/// A person's own settings (the daily digest).
pub trait PersonSettings: Clone + Send + Sync + 'static {
    fn person_settings(&self, agent: &AgentId) -> impl Future<Output = Answer<PersonSettingsItem>> + Send;
    fn change_person_settings(
        &self,
        agent: &AgentId,
        change: SettingsChange,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Answer<PersonSettingsItem>> + Send;
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
    ) -> impl Future<Output = Answer<Option<crate::store::sync_slots::SyncSlot>>> + Send;
    fn release_sync_slot(&self, slot: &crate::store::sync_slots::SyncSlot) -> impl Future<Output = Answer<()>> + Send;
}

/// Turns at the marketplace's rate, shared by every instance of the deployment.
pub trait RateSlots: Clone + Send + Sync + 'static {
    /// Takes the turn starting at `start_micros` (since the epoch); `false` when someone has it.
    fn claim_rate_slot(&self, start_micros: i64) -> impl Future<Output = Answer<bool>> + Send;
}

/// Applications and the evidence about them, as they stand, and their history.
pub trait ApplicationReads: Clone + Send + Sync + 'static {
    fn application(&self, app: &ApplicationKey) -> impl Future<Output = Answer<StoredApplication>> + Send;
    /// Every change of at-risk state of every entry of the application, oldest first.
    fn history(&self, app: &ApplicationKey) -> impl Future<Output = Answer<Vec<crate::domain::HistoryRecord>>> + Send;
    /// Each agent's directory entries: their agent item, agency and path.
    fn owners(
        &self,
        agents: std::collections::BTreeSet<AgentId>,
    ) -> impl Future<Output = Answer<std::collections::HashMap<AgentId, Owner>>> + Send;
}

/// Applications: reading them, and applying evidence.
pub trait Applications: ApplicationReads {
    /// Applies one piece of evidence, exactly once however often called, and places its entries.
    fn apply_evidence(
        &self,
        app: &ApplicationKey,
        evidence: &Evidence,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Answer<ApplyOutcome>> + Send;
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
    ) -> impl Future<Output = Answer<RiskPage>> + Send;
    /// The counters of an agent's own list or of an agency's tree.
    fn stats(&self, scope: &Scope, year: PlanYear) -> impl Future<Output = Answer<StatsItem>> + Send;
    fn record_visit(
        &self,
        scope: &Scope,
        year: PlanYear,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Answer<DateTime<Utc>>> + Send;
    /// Who took entries from an agency's tree, as counted by the outbox relay.
    fn swap_patterns(&self, agency: &AgencyId, year: PlanYear) -> impl Future<Output = Answer<SwapPatterns>> + Send;
}

/// Export jobs as their requester sees them.
pub trait ExportRequests: Clone + Send + Sync + 'static {
    /// Records a new export, once per idempotency key; returns the one the key made.
    fn create_export(
        &self,
        job: &ExportJob,
        idempotency_key: Option<&str>,
    ) -> impl Future<Output = Answer<ExportJob>> + Send;
    fn export(&self, id: &ExportId) -> impl Future<Output = Answer<Option<ExportJob>>> + Send;
    fn exports_of(&self, requester: &str, limit: i32) -> impl Future<Output = Answer<Vec<ExportJob>>> + Send;
}

/// Export jobs as a builder moves them along: claimed, uploading, done or failed, emailed once.
pub trait ExportBuilds: Clone + Send + Sync + 'static {
    fn export(&self, id: &ExportId) -> impl Future<Output = Answer<Option<ExportJob>>> + Send;
    fn claim_export(
        &self,
        id: &ExportId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Answer<Claim>> + Send;
    fn record_upload(&self, id: &ExportId, attempt: u32, upload_id: &str) -> impl Future<Output = Answer<()>> + Send;
    fn forget_upload(&self, id: &ExportId, attempt: u32) -> impl Future<Output = Answer<()>> + Send;
    fn record_progress(&self, id: &ExportId, attempt: u32, rows: u64) -> impl Future<Output = Answer<()>> + Send;
    fn mark_succeeded(&self, id: &ExportId, attempt: u32, done: &Succeeded) -> impl Future<Output = Answer<()>> + Send;
    fn mark_failed(
        &self,
        id: &ExportId,
        attempt: u32,
        reason: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Answer<()>> + Send;
    /// Takes the right to send the email; false when it was taken before.
    fn claim_email(&self, id: &ExportId, now: DateTime<Utc>) -> impl Future<Output = Answer<bool>> + Send;
    fn release_email(&self, id: &ExportId) -> impl Future<Output = Answer<()>> + Send;
    /// The requester was told: the export is no longer open.
    fn email_sent(&self, id: &ExportId) -> impl Future<Output = Answer<()>> + Send;
    /// The requester could not be told in time: marked so, and no longer open.
    fn give_up_email(&self, id: &ExportId, at: DateTime<Utc>) -> impl Future<Output = Answer<()>> + Send;
    /// Up to `limit` exports not finished or not told, asked for before `created_before`, oldest first.
    fn open_exports(
        &self,
        created_before: DateTime<Utc>,
        limit: i32,
    ) -> impl Future<Output = Answer<Vec<ExportJob>>> + Send;
}

/// What the scheduled scan walks: applications due for a re-sync, and where it stopped.
pub trait SyncDue: Clone + Send + Sync + 'static {
    fn due_for_sync(
        &self,
        year: PlanYear,
        shard: u32,
        lane: crate::store::keys::DueLane,
        upto: DateTime<Utc>,
        after: Option<&str>,
        limit: i32,
    ) -> impl Future<Output = Answer<Vec<Due>>> + Send;
    /// Records that the marketplace did not know the application: ask again at `ask_again_at`.
    fn record_unknown(&self, due: &Due, ask_again_at: DateTime<Utc>) -> impl Future<Output = Answer<bool>> + Send;
    fn scan_checkpoint(&self, year: PlanYear) -> impl Future<Output = Answer<ScanCheckpoint>> + Send;
    fn save_scan_checkpoint(
        &self,
        year: PlanYear,
        checkpoint: &ScanCheckpoint,
    ) -> impl Future<Output = Answer<()>> + Send;
    /// Places what writers that died left unplaced before `written_before`, at most `budget`.
    fn place_unplaced(
        &self,
        written_before: DateTime<Utc>,
        budget: u32,
        until: Option<std::time::Instant>,
    ) -> impl Future<Output = Answer<crate::store::placement::Repair>> + Send;
}

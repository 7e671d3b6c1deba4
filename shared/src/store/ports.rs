//! The DynamoDB adapter behind every port (`crate::ports`): each method is the store's own.
//! (Inherent methods win over trait methods of the same name, so each line calls the store.)

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::applications::{ApplyOutcome, StoredApplication};
use super::directory::UpsertOutcome;
use super::exports::Claim;
use super::items::{AgencyItem, AgentItem, Owner, StatsItem};
use super::keys::Scope;
use super::risk_lists::{ArchivedFilter, RiskPage};
use super::sync_due::{Due, ScanCheckpoint};
use super::{Store, StoreError};
use crate::domain::{AgencyId, AgencyUpsert, AgentId, AgentUpsert, ApplicationKey, Evidence, ExportId, PlanYear};
use crate::domain::{ExportJob, Succeeded};
use crate::ports;

type Answer<T> = Result<T, StoreError>;

impl ports::Directory for Store {
    async fn agent(&self, agent: &AgentId) -> Answer<Option<AgentItem>> {
        Store::agent(self, agent).await
    }
    async fn agency(&self, agency: &AgencyId) -> Answer<Option<AgencyItem>> {
        Store::agency(self, agency).await
    }
    async fn agency_path(&self, agency: &AgencyId) -> Answer<Vec<AgencyId>> {
        Store::agency_path(self, agency).await
    }
    async fn child_agencies(&self, agency: &AgencyId) -> Answer<Vec<AgencyId>> {
        Store::child_agencies(self, agency).await
    }
}

impl ports::DirectoryChanges for Store {
    async fn upsert_agency_until(
        &self,
        upsert: &AgencyUpsert,
        as_of: &crate::domain::EventOrder,
        until: Option<std::time::Instant>,
    ) -> Answer<UpsertOutcome> {
        Store::upsert_agency_until(self, upsert, as_of, until).await
    }
    async fn upsert_agent_until(
        &self,
        upsert: &AgentUpsert,
        as_of: &crate::domain::EventOrder,
        until: Option<std::time::Instant>,
    ) -> Answer<UpsertOutcome> {
        Store::upsert_agent_until(self, upsert, as_of, until).await
    }
}

impl ports::AgencySettings for Store {
    async fn set_agent_exports(&self, agency: &AgencyId, enabled: bool, at: DateTime<Utc>) -> Answer<()> {
        Store::set_agent_exports(self, agency, enabled, at).await
    }
}

impl ports::PersonSettings for Store {
    async fn person_settings(&self, agent: &AgentId) -> Answer<super::digests::PersonSettingsItem> {
        Store::person_settings(self, agent).await
    }
    async fn change_person_settings(
        &self,
        agent: &AgentId,
        change: super::digests::SettingsChange,
        now: DateTime<Utc>,
    ) -> Answer<super::digests::PersonSettingsItem> {
        Store::change_person_settings(self, agent, change, now).await
    }
}

impl ports::RateSlots for Store {
    async fn claim_rate_slot(&self, start_micros: i64) -> Answer<bool> {
        Store::claim_rate_slot(self, start_micros).await
    }
}

impl ports::SyncSlots for Store {
    async fn take_sync_slot(
        &self,
        who: &str,
        slots: u32,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Answer<Option<super::sync_slots::SyncSlot>> {
        Store::take_sync_slot(self, who, slots, now, until).await
    }
    async fn release_sync_slot(&self, slot: &super::sync_slots::SyncSlot) -> Answer<()> {
        Store::release_sync_slot(self, slot).await
    }
}

impl ports::ApplicationReads for Store {
    async fn application(&self, app: &ApplicationKey) -> Answer<StoredApplication> {
        Store::application(self, app).await
    }
    async fn history(&self, app: &ApplicationKey) -> Answer<Vec<crate::domain::HistoryRecord>> {
        Store::history(self, app).await
    }
    async fn owners(&self, agents: BTreeSet<AgentId>) -> Answer<HashMap<AgentId, Owner>> {
        Store::owners(self, agents).await
    }
}

impl ports::Applications for Store {
    async fn apply_evidence(
        &self,
        app: &ApplicationKey,
        evidence: &Evidence,
        now: DateTime<Utc>,
    ) -> Answer<ApplyOutcome> {
        Store::apply_evidence(self, app, evidence, now).await
    }
    fn take_placement_conflicts(&self) -> u64 {
        Store::take_placement_conflicts(self)
    }
}

impl ports::RiskLists for Store {
    async fn risk_page(
        &self,
        scope: &Scope,
        year: PlanYear,
        filter: ArchivedFilter,
        limit: u16,
        after: Option<&str>,
    ) -> Answer<RiskPage> {
        Store::risk_page(self, scope, year, filter, limit, after).await
    }
    async fn stats(&self, scope: &Scope, year: PlanYear) -> Answer<StatsItem> {
        Store::stats(self, scope, year).await
    }
    async fn record_visit(&self, scope: &Scope, year: PlanYear, at: DateTime<Utc>) -> Answer<DateTime<Utc>> {
        Store::record_visit(self, scope, year, at).await
    }
    async fn swap_patterns(&self, agency: &AgencyId, year: PlanYear) -> Answer<super::outbox::SwapPatterns> {
        Store::swap_patterns(self, agency, year).await
    }
}

impl ports::ExportRequests for Store {
    async fn create_export(&self, job: &ExportJob, idempotency_key: Option<&str>) -> Answer<ExportJob> {
        Store::create_export(self, job, idempotency_key).await
    }
    async fn export(&self, id: &ExportId) -> Answer<Option<ExportJob>> {
        Store::export(self, id).await
    }
    async fn exports_of(&self, requester: &str, limit: i32) -> Answer<Vec<ExportJob>> {
        Store::exports_of(self, requester, limit).await
    }
}

impl ports::ExportBuilds for Store {
    async fn export(&self, id: &ExportId) -> Answer<Option<ExportJob>> {
        Store::export(self, id).await
    }
    async fn claim_export(&self, id: &ExportId, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> Answer<Claim> {
        Store::claim_export(self, id, now, lease_until).await
    }
    async fn record_upload(&self, id: &ExportId, attempt: u32, upload_id: &str) -> Answer<()> {
        Store::record_upload(self, id, attempt, upload_id).await
    }
    async fn forget_upload(&self, id: &ExportId, attempt: u32) -> Answer<()> {
        Store::forget_upload(self, id, attempt).await
    }
    async fn record_progress(&self, id: &ExportId, attempt: u32, rows: u64) -> Answer<()> {
        Store::record_progress(self, id, attempt, rows).await
    }
    async fn mark_succeeded(&self, id: &ExportId, attempt: u32, done: &Succeeded) -> Answer<()> {
        Store::mark_succeeded(self, id, attempt, done).await
    }
    async fn mark_failed(&self, id: &ExportId, attempt: u32, reason: &str, at: DateTime<Utc>) -> Answer<()> {
        Store::mark_failed(self, id, attempt, reason, at).await
    }
    async fn claim_email(&self, id: &ExportId, now: DateTime<Utc>) -> Answer<bool> {
        Store::claim_email(self, id, now).await
    }
    async fn release_email(&self, id: &ExportId) -> Answer<()> {
        Store::release_email(self, id).await
    }
    async fn email_sent(&self, id: &ExportId) -> Answer<()> {
        Store::email_sent(self, id).await
    }
    async fn give_up_email(&self, id: &ExportId, at: DateTime<Utc>) -> Answer<()> {
        Store::give_up_email(self, id, at).await
    }
    async fn open_exports(&self, created_before: DateTime<Utc>, limit: i32) -> Answer<Vec<ExportJob>> {
        Store::open_exports(self, created_before, limit).await
    }
}

impl ports::SyncDue for Store {
    async fn due_for_sync(
        &self,
        year: PlanYear,
        shard: u32,
        lane: super::keys::DueLane,
        upto: DateTime<Utc>,
        after: Option<&str>,
        limit: i32,
    ) -> Answer<Vec<Due>> {
        Store::due_for_sync(self, year, shard, lane, upto, after, limit).await
    }
    async fn record_unknown(&self, due: &Due, ask_again_at: DateTime<Utc>) -> Answer<bool> {
        Store::record_unknown(self, due, ask_again_at).await
    }
    async fn scan_checkpoint(&self, year: PlanYear) -> Answer<ScanCheckpoint> {
        Store::scan_checkpoint(self, year).await
    }
    async fn save_scan_checkpoint(&self, year: PlanYear, checkpoint: &ScanCheckpoint) -> Answer<()> {
        Store::save_scan_checkpoint(self, year, checkpoint).await
    }
    async fn place_unplaced(
        &self,
        written_before: DateTime<Utc>,
        budget: u32,
        until: Option<std::time::Instant>,
    ) -> Answer<super::placement::Repair> {
        Store::place_unplaced(self, written_before, budget, until).await
    }
}

//! Derived state: where each book entry's at-risk rows are, and what it adds to its agent's
//! at-risk total. Everything people read is placed here from the authoritative state (the entries
//! and the directory), never written beside the evidence.
//!
//! Each entry has a placement record (`PLACED#{agent}` in its application's partition) that says
//! which rows it has and what it counts. Placing an entry is one transaction that writes the new
//! rows, deletes the ones no longer wanted, adjusts the total and bumps the record — and holds only
//! while the application (its meta item), its owner's agent item and every agency on the owner's
//! path still have the versions read. A placer that read a state since replaced (a later evidence, a move, a rename)
//! is cancelled and reads again, so a stale writer never overwrites a newer placement, and placing
//! the same state twice writes nothing the second time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::applications::{MAX_ATTEMPTS, backoff, s};
use super::items::{EntryItem, Job, MetaItem, Owner, RiskRow, RowFacts, from_item, to_item};
use super::keys::{self, Scope};
use super::{Store, StoreError, if_version};
use crate::domain::ApplicationKey;
use crate::domain::{AgentId, BookEntry, PlanYear};

/// Owners read during one page of a job, by agent.
type OwnerCache = HashMap<AgentId, Owner>;

/// Where an entry's rows are and what it counts, as last placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementItem {
    pub pk: String,
    pub sk: String,
    pub agent_id: AgentId,
    pub plan_year: PlanYear,
    /// Bumped by every placement: the condition that serialises placers of one entry.
    pub version: u64,
    pub rows: Vec<RowKey>,
    /// A fingerprint of the rows' content, so that an unchanged placement is recognised unread.
    pub digest: String,
    /// Whether the entry counts in its agent's at-risk total.
    pub counted: bool,
    /// Whether it counted as new since the visit `counted_visit` (the agent's last visit when
    /// placed): a later visit starts the count again, and this no longer counts.
    #[serde(default)]
    pub counted_new: bool,
    #[serde(default)]
    pub counted_visit: Option<DateTime<Utc>>,
}

impl PlacementItem {
    /// Whether this placement counts as new under the agent's visit `visit` now.
    fn new_under(&self, visit: Option<DateTime<Utc>>) -> bool {
        self.counted_new && self.counted_visit == visit
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RowKey {
    pub pk: String,
    pub sk: String,
}

/// What an entry should have: its rows in every list it belongs to, whether it counts in its
/// agent's at-risk total, and whether as new since their last visit (flagged after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub rows: Vec<RiskRow>,
    pub counted: bool,
    pub new: bool,
    /// The visit `new` was decided against.
    pub visit: Option<DateTime<Utc>>,
}

impl Placement {
    /// The placement an entry calls for with its owner as the directory knows them now, in an
    /// application last synced at `last_synced_at`. An entry not at risk (or gone) has no rows.
    pub fn of(
        app: &ApplicationKey,
        entry: Option<&BookEntry>,
        last_synced_at: Option<DateTime<Utc>>,
        owner: &Owner,
        visit: Option<DateTime<Utc>>,
    ) -> Self {
        let rows = entry
            .and_then(|entry| RowFacts::of_entry(&app.id, app.year, entry, last_synced_at))
            .map(|facts| facts.rows(owner))
            .unwrap_or_default();
        let (counted, new) = crate::domain::alert_counts(entry, visit);
        Self { rows, counted, new, visit }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && !self.counted
    }

    /// FNV-1a over the rows as JSON: stable across processes and releases.
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(&self.rows).unwrap_or_default();
        let hash =
            json.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
        format!("{hash:016x}")
    }

    /// The record of this placement, replacing `previous`.
    pub fn record(&self, app: &ApplicationKey, agent_id: &AgentId, previous: Option<&PlacementItem>) -> PlacementItem {
        PlacementItem {
            pk: keys::application_pk(app.year, &app.id),
            sk: keys::placed_sk(agent_id),
            agent_id: agent_id.clone(),
            plan_year: app.year,
            version: previous.map_or(1, |p| p.version + 1),
            rows: self.rows.iter().map(|row| RowKey { pk: row.pk.clone(), sk: row.sk.clone() }).collect(),
            digest: self.digest(),
            counted: self.counted,
            counted_new: self.new,
            counted_visit: self.visit,
        }
    }

    /// Whether `placed` already is this placement.
    pub fn matches(&self, placed: Option<&PlacementItem>) -> bool {
        match placed {
            None => self.is_empty(),
            Some(placed) => {
                placed.digest == self.digest()
                    && placed.counted == self.counted
                    && placed.new_under(self.visit) == self.new
            }
        }
    }
}

impl Store {
    /// Places every entry of an application as the authoritative state says now; returns how many
    /// placements were written. Safe to run any number of times, concurrently too.
    pub async fn place_application(&self, app: &ApplicationKey) -> Result<u32, StoreError> {
        self.place_with(app, &mut OwnerCache::new()).await
    }

    /// The same, with owners already read kept in `cache` for the next applications (a job
    /// places many applications of the same agents). A placement that meets a newer directory is
    /// cancelled by its conditions, and the cache is dropped before the retry.
    async fn place_with(&self, app: &ApplicationKey, cache: &mut OwnerCache) -> Result<u32, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            match self.try_place_application(app, cache).await {
                Err(StoreError::Conflict) => {
                    tracing::debug!(attempt, "the entry or its owner changed while being placed; retrying");
                    cache.clear();
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => return other,
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }

    async fn try_place_application(&self, app: &ApplicationKey, cache: &mut OwnerCache) -> Result<u32, StoreError> {
        let pk = keys::application_pk(app.year, &app.id);
        let Some(meta) = self.get_item(pk.clone(), keys::META_SK).await?.map(from_item::<MetaItem>).transpose()? else {
            return Ok(0);
        };
        let entries: BTreeMap<AgentId, EntryItem> = self
            .query_prefix(pk.clone(), keys::ENTRY_PREFIX)
            .await?
            .into_iter()
            .map(|item| from_item::<EntryItem>(item).map(|e| (e.entry.agent_id.clone(), e)))
            .collect::<Result<_, _>>()?;
        let placed: BTreeMap<AgentId, PlacementItem> = self
            .query_prefix(pk, keys::PLACED_PREFIX)
            .await?
            .into_iter()
            .map(|item| from_item::<PlacementItem>(item).map(|p| (p.agent_id.clone(), p)))
            .collect::<Result<_, _>>()?;
        let agents: BTreeSet<AgentId> = entries.keys().chain(placed.keys()).cloned().collect();
        let unread: BTreeSet<AgentId> = agents.iter().filter(|a| !cache.contains_key(*a)).cloned().collect();
        if !unread.is_empty() {
            cache.extend(self.owners(unread).await?);
        }
        let owners = &*cache;
        let mut written = 0;
        for agent_id in agents {
            let entry = entries.get(&agent_id);
            let owner = owners.get(&agent_id).cloned().unwrap_or_else(|| Owner::unknown(agent_id.clone()));
            let visit = self.agent_stats(&agent_id, app.year).await?.last_visited_at;
            let wanted = Placement::of(app, entry.map(|e| &e.entry), meta.last_synced_at, &owner, visit);
            let previous = placed.get(&agent_id);
            if wanted.matches(previous) {
                continue;
            }
            self.place(app, meta.version, previous, &owner, &wanted).await?;
            written += 1;
        }
        if meta.gsi1pk.is_some() {
            self.mark_placed(&meta).await?;
        }
        Ok(written)
    }

    /// Takes the unplaced mark off the application, unless a newer write (with its own mark and
    /// its own placement to come) has replaced the version placed.
    async fn mark_placed(&self, meta: &MetaItem) -> Result<(), StoreError> {
        let cleared = self
            .update_if(
                &meta.pk,
                &meta.sk,
                "version = :version",
                "REMOVE #gsi1pk, #gsi1sk",
                &[("#gsi1pk", keys::GSI1_PK), ("#gsi1sk", keys::GSI1_SK)],
                vec![(":version", AttributeValue::N(meta.version.to_string()))],
            )
            .await;
        match cleared {
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
    }

    /// Places every application whose write was marked unplaced before `written_before` and is
    /// still marked: what writers that died between writing and placing left. Returns how many
    /// applications it placed; stops after the page in which `until` passes. Safe to run beside
    /// live writers: placing is idempotent and version-conditioned.
    pub async fn place_unplaced(
        &self,
        written_before: DateTime<Utc>,
        until: Option<std::time::Instant>,
    ) -> Result<u32, StoreError> {
        let mut placed = 0;
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(keys::GSI1)
                .key_condition_expression("#pk = :pk AND #sk < :before")
                .expression_attribute_names("#pk", keys::GSI1_PK)
                .expression_attribute_names("#sk", keys::GSI1_SK)
                .expression_attribute_values(":pk", s(keys::UNPLACED_GSI1PK))
                .expression_attribute_values(":before", s(keys::time(written_before)))
                .limit(100)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            let mut owners = OwnerCache::new();
            for item in out.items.unwrap_or_default() {
                let meta: MetaItem = from_item(item)?;
                tracing::warn!(federal_exchange_id = %meta.federal_exchange_id, "placing a write its writer left unplaced");
                let app = ApplicationKey { id: meta.federal_exchange_id, year: meta.plan_year };
                self.place_with(&app, &mut owners).await?;
                placed += 1;
            }
            start = out.last_evaluated_key;
            if start.is_none() || until.is_some_and(|until| std::time::Instant::now() >= until) {
                return Ok(placed);
            }
        }
    }

    /// One placement transaction (see the module's docs).
    async fn place(
        &self,
        app: &ApplicationKey,
        app_version: u64,
        previous: Option<&PlacementItem>,
        owner: &Owner,
        wanted: &Placement,
    ) -> Result<(), StoreError> {
        let pk = keys::application_pk(app.year, &app.id);
        let record = wanted.record(app, &owner.agent_id, previous);
        let put = Put::builder().table_name(self.table()).set_item(Some(to_item(&record)?));
        let mut writes = vec![
            TransactWriteItem::builder().put(if_version(put, previous.map(|p| p.version)).build()?).build(),
            self.unchanged(pk, keys::META_SK, Some(app_version))?,
            self.unchanged(keys::agent_pk(&owner.agent_id), keys::AGENT_SK, owner.agent.as_ref().map(|a| a.version))?,
        ];
        for (agency, version) in owner.path.iter().zip(&owner.path_versions) {
            writes.push(self.unchanged(keys::agency_pk(agency), keys::AGENCY_SK, *version)?);
        }
        let keep: BTreeSet<&RowKey> = record.rows.iter().collect();
        for old in previous.map(|p| p.rows.as_slice()).unwrap_or_default().iter().filter(|key| !keep.contains(key)) {
            let delete = Delete::builder()
                .table_name(self.table())
                .key(keys::PK, s(&old.pk))
                .key(keys::SK, s(&old.sk))
                .build()?;
            writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        for row in &wanted.rows {
            let put = Put::builder().table_name(self.table()).set_item(Some(to_item(row)?)).build()?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        let total = i64::from(wanted.counted) - i64::from(previous.is_some_and(|p| p.counted));
        let new = i64::from(wanted.new) - i64::from(previous.is_some_and(|p| p.new_under(wanted.visit)));
        if total != 0 || new != 0 {
            // Only while the visit read stands: a visit in between starts the count again.
            let update = Update::builder()
                .table_name(self.table())
                .key(keys::PK, s(keys::agent_pk(&owner.agent_id)))
                .key(keys::SK, s(keys::agent_stats_sk(app.year)))
                .update_expression("ADD at_risk_total :total, new_since_visit :new")
                .expression_attribute_values(":total", AttributeValue::N(total.to_string()))
                .expression_attribute_values(":new", AttributeValue::N(new.to_string()));
            let update = match wanted.visit {
                None => update.condition_expression("attribute_not_exists(last_visited_at)"),
                Some(visit) => update
                    .condition_expression("last_visited_at = :visit")
                    .expression_attribute_values(":visit", s(keys::time(visit))),
            };
            writes.push(TransactWriteItem::builder().update(update.build()?).build());
        }
        self.transact(writes).await
    }

    /// Re-places every entry that has a row in `scope`'s list (all plan years), a page at a time:
    /// the job after a directory change. Entries already placed right are read, not written. It
    /// starts where `job` says it got to, saves its position after every page, and pauses once
    /// `until` has passed (after one page at least, so every run makes progress).
    pub async fn replace_scope(
        &self,
        scope: &Scope,
        (job_pk, job_sk): (&str, &str),
        job: &Job,
        until: Option<std::time::Instant>,
    ) -> Result<JobOutcome, StoreError> {
        let list = keys::risk_pk(scope);
        let mut start = job
            .position
            .as_ref()
            .map(|sk| super::items::Item::from([(keys::PK.to_owned(), s(&list)), (keys::SK.to_owned(), s(sk))]));
        loop {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_values(":pk", s(keys::risk_pk(scope)))
                .limit(100)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            let mut applications = BTreeSet::new();
            for item in out.items.unwrap_or_default() {
                let row: RiskRow = from_item(item)?;
                applications.insert(ApplicationKey { id: row.federal_exchange_id, year: row.plan_year });
            }
            let mut owners = OwnerCache::new();
            for app in &applications {
                self.place_with(app, &mut owners).await?;
            }
            start = out.last_evaluated_key;
            let Some(position) = start.as_ref().and_then(|key| key.get(keys::SK)).and_then(|sk| sk.as_s().ok()) else {
                return Ok(JobOutcome::Done);
            };
            let saved = self
                .update_if(
                    job_pk,
                    job_sk,
                    "#job.#jv = :jv",
                    "SET #job.#position = :position",
                    &[("#job", "job"), ("#jv", "version"), ("#position", "position")],
                    vec![(":jv", AttributeValue::N(job.version.to_string())), (":position", s(position))],
                )
                .await;
            match saved {
                // A newer change of the same agency or agent took the job over.
                Err(StoreError::Conflict) => return Ok(JobOutcome::Superseded),
                other => other?,
            }
            if until.is_some_and(|until| std::time::Instant::now() >= until) {
                return Ok(JobOutcome::Paused);
            }
        }
    }
}

/// How a run of a directory job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Out of time: its position is saved; running it again goes on from there.
    Paused,
    /// A newer change of the same agency or agent has its own job, which does this one's work.
    Superseded,
}

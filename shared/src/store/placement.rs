//! Derived state: where each book entry's at-risk rows are, and what it adds to the counters of
//! the lists it is in (its agent's and every agency's on the owner's path). Everything people
//! read is placed here from the authoritative state (the entries and the directory), never
//! written beside the evidence.
//!
//! Each entry has a placement record (`PLACED#{agent}` in its application's partition) that says
//! which rows it has and what it counts. Placing an entry is one transaction that writes the new
//! rows, deletes the ones no longer wanted, adjusts the counters and bumps the record — and holds only
//! while the application (its meta item) and its owner's agent item still have the versions read.
//! A placer that read a state since replaced (a later evidence, an agent's move) is cancelled and
//! reads again, so a stale writer never overwrites a newer placement, and placing the same state
//! twice writes nothing the second time.
//!
//! The agencies on the owner's path are shared by every placement in their tree, so they are not
//! held in the transaction (DynamoDB cancels a transaction that meets another in flight on any of
//! its items, a condition check too): their versions are read again, consistently, after it
//! commits, and a placement that finds one changed places again. Either the placer sees the change
//! (a move, a parent arriving) and places anew, or the change was accepted after that read, so
//! after the placement's rows were written, and the change's job, which reads the list of the agency
//! that changed consistently, finds the rows and re-places them. For the same reason the counters
//! of an agency are spread over shards (`keys::stats_sk`): placements of applications in different
//! shards never meet on an item.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::applications::{MAX_ATTEMPTS, backoff, s};
use super::items::{EntryItem, Job, MetaItem, Owner, RiskRow, RowFacts, from_item, to_item};
use super::keys::{self, Scope};
use super::{MAX_TRANSACTION_ITEMS, Store, StoreError, if_version};
use crate::domain::ApplicationKey;
use crate::domain::{AgentId, BookEntry, PlanYear};

/// What one placement run has read and may reuse for the next applications (a job places many
/// applications of the same agents): owners by agent, and the last visit of each list's counters
/// by the counters' partition and plan year. Dropped when a placement meets a newer state.
#[derive(Default)]
struct Known {
    owners: HashMap<AgentId, Owner>,
    visits: Visits,
}

/// The last visit of each list's counters, by the counters' partition (`AGENT#…`, `AGENCY#…`)
/// and plan year.
type Visits = HashMap<(String, PlanYear), Option<DateTime<Utc>>>;

/// What one repair of writes left unplaced did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Repair {
    /// Applications placed.
    pub placed: u32,
    /// Applications whose placement failed: each is set aside and tried again later.
    pub failed: u32,
}

/// How long a write whose placement failed `failures` times in a row waits before the next try:
/// a quarter of an hour (the scan's period), doubling, at most a day. A passing cause (a hot
/// application) is over by the next run; a lasting one costs a read a day until a person fixes it.
pub fn retry_after(failures: u32) -> chrono::Duration {
    let minutes = 15i64.saturating_mul(1 << failures.saturating_sub(1).min(7));
    chrono::Duration::minutes(minutes.min(24 * 60))
}

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
    /// Whether the entry counts in the at-risk total of every list it has a row in.
    pub counted: bool,
    /// The lists' counters (by partition: `AGENT#…`, `AGENCY#…`) it counted in as new, each with
    /// the visit that was decided against: a later visit starts that count again, and this no
    /// longer counts there.
    #[serde(default)]
    pub new_in: BTreeMap<String, Option<DateTime<Utc>>>,
}

impl PlacementItem {
    /// The counters this placement counts in: its rows' lists' owners.
    fn tallies(&self) -> BTreeSet<&str> {
        self.rows.iter().map(|row| keys::tally_pk(&row.pk)).collect()
    }

    /// Where this placement still counts as new, with the visits standing now.
    fn new_under(&self, year: PlanYear, visits: &Visits) -> BTreeMap<String, Option<DateTime<Utc>>> {
        self.new_in
            .iter()
            .filter(|(tally, visit)| visits.get(&((*tally).clone(), year)) == Some(visit))
            .map(|(tally, visit)| (tally.clone(), *visit))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RowKey {
    pub pk: String,
    pub sk: String,
}

/// What an entry should have: its rows in every list it belongs to, whether it counts in those
/// lists' at-risk totals, and in which as new since their last visit (flagged after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub rows: Vec<RiskRow>,
    pub counted: bool,
    /// The lists' counters it counts in as new, each with the visit that was decided against.
    pub new_in: BTreeMap<String, Option<DateTime<Utc>>>,
}

impl Placement {
    /// The placement an entry calls for with its owner as the directory knows them now, in an
    /// application last synced at `last_synced_at`, under each list's last visit (`visit_of` a
    /// counters' partition). An entry not at risk (or gone) has no rows.
    pub fn of(
        app: &ApplicationKey,
        entry: Option<&BookEntry>,
        last_synced_at: Option<DateTime<Utc>>,
        owner: &Owner,
        visit_of: impl Fn(&str) -> Option<DateTime<Utc>>,
    ) -> Self {
        let rows: Vec<RiskRow> = entry
            .and_then(|entry| RowFacts::of_entry(&app.id, app.year, entry, last_synced_at))
            .map(|facts| facts.rows(owner))
            .unwrap_or_default();
        let (counted, _) = crate::domain::alert_counts(entry, None);
        let new_in = rows
            .iter()
            .map(|row| keys::tally_pk(&row.pk))
            .filter_map(|tally| {
                let visit = visit_of(tally);
                crate::domain::alert_counts(entry, visit).1.then(|| (tally.to_owned(), visit))
            })
            .collect();
        Self { rows, counted, new_in }
    }

    /// The counters this placement counts in: its rows' lists' owners.
    pub fn tallies(&self) -> BTreeSet<&str> {
        self.rows.iter().map(|row| keys::tally_pk(&row.pk)).collect()
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
            new_in: self.new_in.clone(),
        }
    }

    /// Whether `placed` already is this placement, under the visits standing now.
    fn matches(&self, placed: Option<&PlacementItem>, year: PlanYear, visits: &Visits) -> bool {
        match placed {
            None => self.is_empty(),
            Some(placed) => {
                placed.digest == self.digest()
                    && placed.counted == self.counted
                    && placed.new_under(year, visits) == self.new_in
            }
        }
    }
}

impl Store {
    /// Places every entry of an application as the authoritative state says now; returns how many
    /// placements were written. Safe to run any number of times, concurrently too.
    pub async fn place_application(&self, app: &ApplicationKey) -> Result<u32, StoreError> {
        self.place_with(app, &mut Known::default()).await
    }

    /// The same, right after a write that read its entries' `owners`: they are not read again
    /// (the placement holds to their versions; a newer directory makes it read them anew).
    pub async fn place_application_knowing(
        &self,
        app: &ApplicationKey,
        owners: HashMap<AgentId, Owner>,
    ) -> Result<u32, StoreError> {
        self.place_with(app, &mut Known { owners, visits: Visits::default() }).await
    }

    /// The same, with what was read kept in `known` for the next applications. A placement that
    /// meets a newer directory or visit is cancelled by its conditions, and what was known is
    /// dropped before the retry. One that ends in an error may have committed a batch it could
    /// not confirm (its owner's path changed, or the check could not be read), and another placer
    /// may have taken the application's unplaced mark off meanwhile: it puts the mark back, so
    /// the scan's repair places the application again.
    async fn place_with(&self, app: &ApplicationKey, known: &mut Known) -> Result<u32, StoreError> {
        let placed = self.place_retrying(app, known).await;
        if placed.is_err()
            && let Err(err) = self.mark_unplaced(app).await
        {
            tracing::warn!(federal_exchange_id = %app.id, error = %err, "could not mark a failed placement unplaced");
        }
        placed
    }

    async fn place_retrying(&self, app: &ApplicationKey, known: &mut Known) -> Result<u32, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            match self.try_place_application(app, known).await {
                Err(StoreError::Conflict) => {
                    self.placement_conflicts.add(1);
                    tracing::debug!(attempt, "the entry, its owner or a visit changed while being placed; retrying");
                    *known = Known::default();
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => return other,
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }

    async fn try_place_application(&self, app: &ApplicationKey, known: &mut Known) -> Result<u32, StoreError> {
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
        let unread: BTreeSet<AgentId> = agents.iter().filter(|a| !known.owners.contains_key(*a)).cloned().collect();
        if !unread.is_empty() {
            known.owners.extend(self.owners(unread).await?);
        }
        let mut written = 0;
        let mut batch = PlacementBatch::default();
        for agent_id in agents {
            let entry = entries.get(&agent_id);
            let owner = known.owners.get(&agent_id).cloned().unwrap_or_else(|| Owner::unknown(agent_id.clone()));
            let previous = placed.get(&agent_id);
            // The visits of every list the entry is or was in (its rows now and as placed): none
            // for the nine in ten entries that are not at risk and never were.
            let at_risk = entry.is_some_and(|e| e.entry.is_at_risk());
            let lists = if at_risk { owner.scopes().iter().map(keys::scope_pk).collect() } else { Vec::new() };
            let was_in = previous.map(|p| p.tallies().into_iter().map(str::to_owned).collect()).unwrap_or_default();
            self.read_visits(lists.into_iter().chain::<Vec<String>>(was_in), app.year, &mut known.visits).await?;
            let visits = &known.visits;
            let visit_of = |tally: &str| visits.get(&(tally.to_owned(), app.year)).copied().flatten();
            let wanted = Placement::of(app, entry.map(|e| &e.entry), meta.last_synced_at, &owner, visit_of);
            if wanted.matches(previous, app.year, visits) {
                continue;
            }
            let part = self.placement_part(app, previous, &owner, &wanted, visits)?;
            if batch.size_with(&part) > MAX_TRANSACTION_ITEMS || batch.read_otherwise(&part) {
                written += std::mem::take(&mut batch).commit(self, app, meta.version, visits).await?;
            }
            batch.add(part);
        }
        written += batch.commit(self, app, meta.version, &known.visits).await?;
        if meta.gsi1pk.is_some() {
            self.mark_placed(&meta).await?;
        }
        Ok(written)
    }

    /// Marks the application unplaced (since now, or since its mark's time if it has one): always
    /// safe, as placing an application placed right writes nothing.
    async fn mark_unplaced(&self, app: &ApplicationKey) -> Result<(), StoreError> {
        let marked = self
            .update_if(
                &keys::application_pk(app.year, &app.id),
                keys::META_SK,
                "attribute_exists(#pk)",
                "SET #gsi1pk = :unplaced, #gsi1sk = if_not_exists(#gsi1sk, :now)",
                &[("#pk", keys::PK), ("#gsi1pk", keys::GSI1_PK), ("#gsi1sk", keys::GSI1_SK)],
                vec![(":unplaced", s(keys::UNPLACED_GSI1PK)), (":now", s(keys::time(Utc::now())))],
            )
            .await;
        match marked {
            // No application: nothing to place.
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
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

    /// Places applications whose write was marked unplaced before `written_before` and is still
    /// marked: what writers that died between writing and placing left. At most `budget` of them,
    /// stopping after the one during which `until` passes. Safe to run beside live writers:
    /// placing is idempotent and version-conditioned. One that fails is counted and set aside
    /// (see `set_aside`); the rest go on.
    pub async fn place_unplaced(
        &self,
        written_before: DateTime<Utc>,
        budget: u32,
        until: Option<std::time::Instant>,
    ) -> Result<Repair, StoreError> {
        let mut repair = Repair::default();
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
            let mut known = Known::default();
            for item in out.items.unwrap_or_default() {
                let out_of_time = until.is_some_and(|until| std::time::Instant::now() >= until);
                if repair.placed + repair.failed >= budget || out_of_time {
                    return Ok(repair);
                }
                let meta: MetaItem = match from_item(item) {
                    Ok(meta) => meta,
                    Err(err) => {
                        tracing::error!(error = %err, "an unplaced mark on an item that is not an application's meta");
                        repair.failed += 1;
                        continue;
                    }
                };
                let app = ApplicationKey { id: meta.federal_exchange_id.clone(), year: meta.plan_year };
                tracing::warn!(federal_exchange_id = %app.id, "placing a write its writer left unplaced");
                match self.place_with(&app, &mut known).await {
                    Ok(_) => repair.placed += 1,
                    Err(err) => {
                        repair.failed += 1;
                        known = Known::default();
                        let failures = meta.unplaced_failures + 1;
                        tracing::error!(federal_exchange_id = %app.id, failures, error = %err, "could not place a write left unplaced; set aside");
                        if let Err(err) = self.set_aside(&meta, written_before + retry_after(failures)).await {
                            tracing::warn!(federal_exchange_id = %app.id, error = %err, "could not set a failed placement aside");
                        }
                    }
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(repair);
            }
        }
    }

    /// Moves an unplaced mark whose placement failed to `retry_at` in the index, with one more
    /// failure counted, so that runs before then pass it by. Only while the version is the one
    /// that failed: a newer write marks the application afresh and is tried at once.
    async fn set_aside(&self, meta: &MetaItem, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
        let set = self
            .update_if(
                &meta.pk,
                &meta.sk,
                "version = :version AND attribute_exists(#gsi1pk)",
                "SET #gsi1sk = :retry_at, unplaced_failures = :failures",
                &[("#gsi1pk", keys::GSI1_PK), ("#gsi1sk", keys::GSI1_SK)],
                vec![
                    (":version", AttributeValue::N(meta.version.to_string())),
                    (":retry_at", s(keys::time(retry_at))),
                    (":failures", AttributeValue::N((meta.unplaced_failures + 1).to_string())),
                ],
            )
            .await;
        match set {
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
    }

    /// Reads the last visit of each of `tallies`' counters not read yet into `visits`.
    async fn read_visits(
        &self,
        tallies: impl IntoIterator<Item = String>,
        year: PlanYear,
        visits: &mut Visits,
    ) -> Result<(), StoreError> {
        for tally in tallies {
            if let std::collections::hash_map::Entry::Vacant(slot) = visits.entry((tally, year)) {
                let visit = self.stats_of(&slot.key().0, year).await?.last_visited_at;
                slot.insert(visit);
            }
        }
        Ok(())
    }

    /// What placing one entry adds to its application's placement transaction (see the module's
    /// docs): its record and rows, the versions it was decided against, and its counters' moves.
    fn placement_part(
        &self,
        app: &ApplicationKey,
        previous: Option<&PlacementItem>,
        owner: &Owner,
        wanted: &Placement,
        visits: &Visits,
    ) -> Result<PlacementPart, StoreError> {
        let record = wanted.record(app, &owner.agent_id, previous);
        let put = Put::builder().table_name(self.table()).set_item(Some(to_item(&record)?));
        let mut part = PlacementPart {
            writes: vec![
                TransactWriteItem::builder().put(if_version(put, previous.map(|p| p.version)).build()?).build(),
            ],
            ..PlacementPart::default()
        };
        part.checks.push((
            (keys::agent_pk(&owner.agent_id), keys::AGENT_SK.to_owned()),
            owner.agent.as_ref().map(|a| a.version),
        ));
        for (agency, version) in owner.path.iter().zip(&owner.path_versions) {
            part.confirms.push(((keys::agency_pk(agency), keys::AGENCY_SK.to_owned()), *version));
        }
        let keep: BTreeSet<&RowKey> = record.rows.iter().collect();
        for old in previous.map(|p| p.rows.as_slice()).unwrap_or_default().iter().filter(|key| !keep.contains(key)) {
            let delete = Delete::builder()
                .table_name(self.table())
                .key(keys::PK, s(&old.pk))
                .key(keys::SK, s(&old.sk))
                .build()?;
            part.writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        for row in &wanted.rows {
            let put = Put::builder().table_name(self.table()).set_item(Some(to_item(row)?)).build()?;
            part.writes.push(TransactWriteItem::builder().put(put).build());
        }
        // The counters of every list the entry is or was in, where what it counts changes.
        let (was_in, was_new) = match previous {
            Some(p) => (p.tallies(), p.new_under(app.year, visits)),
            None => (BTreeSet::new(), BTreeMap::new()),
        };
        let now_in = wanted.tallies();
        for tally in was_in.union(&now_in) {
            let total = i64::from(wanted.counted && now_in.contains(tally))
                - i64::from(previous.is_some_and(|p| p.counted) && was_in.contains(tally));
            let new = i64::from(wanted.new_in.contains_key(*tally)) - i64::from(was_new.contains_key(*tally));
            if total != 0 || new != 0 {
                part.counters.push(((*tally).to_owned(), total, new));
            }
        }
        Ok(part)
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
                // Consistent: a placement that wrote its rows before this job's change was
                // accepted relies on the job to find them (see the module's docs).
                .consistent_read(true)
                .limit(self.job_page)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            let mut applications = BTreeSet::new();
            for item in out.items.unwrap_or_default() {
                let row: RiskRow = from_item(item)?;
                applications.insert(ApplicationKey { id: row.federal_exchange_id, year: row.plan_year });
            }
            let mut known = Known::default();
            for app in &applications {
                self.place_with(app, &mut known).await?;
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

/// What placing one entry writes and holds to (`Store::placement_part`).
#[derive(Default)]
struct PlacementPart {
    /// Its record, its rows written and its rows deleted.
    writes: Vec<TransactWriteItem>,
    /// The items (key, version; `None`: absent) its placement was decided from and holds to in
    /// its transaction: its owner's agent.
    checks: Vec<((String, String), Option<u64>)>,
    /// The same, confirmed after the transaction commits (see the module's docs): every agency on
    /// the owner's path.
    confirms: Vec<((String, String), Option<u64>)>,
    /// Its moves of the counters (partition, at-risk total, new since visit).
    counters: Vec<(String, i64, i64)>,
}

/// One transaction placing entries of one application (as many as fit): the versions they were
/// decided from checked once however many entries share them, the counters they move summed in
/// one update each. An application whose entries all change at once (one submitted through many
/// books: every entry's taker changes) is placed in a few transactions, not one per entry, and
/// its placements hold together: all of a batch or none.
#[derive(Default)]
struct PlacementBatch {
    writes: Vec<TransactWriteItem>,
    checks: BTreeMap<(String, String), Option<u64>>,
    confirms: BTreeMap<(String, String), Option<u64>>,
    /// Per counter: the moves of its entries summed (at-risk total, new since visit).
    counters: BTreeMap<String, (i64, i64)>,
    entries: u32,
}

impl PlacementBatch {
    /// The transaction's items with `part` added: its writes, the checks (the application's meta
    /// among them) and the counters.
    fn size_with(&self, part: &PlacementPart) -> usize {
        let checks = part.checks.iter().filter(|(key, _)| !self.checks.contains_key(key)).count();
        let counters = part.counters.iter().filter(|(tally, ..)| !self.counters.contains_key(tally)).count();
        self.writes.len() + part.writes.len() + 1 + self.checks.len() + checks + self.counters.len() + counters
    }

    /// Whether `part` was decided from another version of an item the batch already checks (its
    /// owner read at another time): it goes in a transaction of its own, held to what it read.
    fn read_otherwise(&self, part: &PlacementPart) -> bool {
        let differs = |held: &BTreeMap<(String, String), Option<u64>>,
                       (key, version): &((String, String), Option<u64>)| {
            held.get(key).is_some_and(|read| read != version)
        };
        part.checks.iter().any(|check| differs(&self.checks, check))
            || part.confirms.iter().any(|confirm| differs(&self.confirms, confirm))
    }

    fn add(&mut self, part: PlacementPart) {
        self.writes.extend(part.writes);
        self.checks.extend(part.checks);
        self.confirms.extend(part.confirms);
        for (tally, total, new) in part.counters {
            let sum = self.counters.entry(tally).or_default();
            *sum = (sum.0 + total, sum.1 + new);
        }
        self.entries += 1;
    }

    /// Writes the batch; returns how many entries it placed. Only while the application still
    /// has `app_version`, each owner the version read, and each counter's list the visit read (a
    /// visit in between starts that count again); then confirms the agencies' versions (see the
    /// module's docs): `Conflict` when one changed, and the application is to be placed again.
    async fn commit(
        self,
        store: &Store,
        app: &ApplicationKey,
        app_version: u64,
        visits: &Visits,
    ) -> Result<u32, StoreError> {
        if self.entries == 0 {
            return Ok(0);
        }
        let mut writes = self.writes;
        writes.push(store.unchanged(keys::application_pk(app.year, &app.id), keys::META_SK, Some(app_version))?);
        for ((pk, sk), version) in self.checks {
            writes.push(store.unchanged(pk, &sk, version)?);
        }
        for (tally, (total, new)) in self.counters {
            let visit = visits.get(&(tally.clone(), app.year)).copied().flatten();
            let (condition, visit_value) = match visit {
                None => ("attribute_not_exists(last_visited_at)", None),
                Some(visit) => ("last_visited_at = :visit", Some(s(keys::time(visit)))),
            };
            // Moves that cancel out (one entry in, another out) still bump the version and hold to
            // the visit: a visit racing them reads the counters again.
            let update = Update::builder()
                .table_name(store.table())
                .key(keys::PK, s(&tally))
                .key(keys::SK, s(keys::stats_sk(&tally, app.year, &app.id)))
                .update_expression("ADD at_risk_total :total, new_since_visit :new, version :one")
                .expression_attribute_values(":total", AttributeValue::N(total.to_string()))
                .expression_attribute_values(":new", AttributeValue::N(new.to_string()))
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .condition_expression(condition);
            let update = match visit_value {
                Some(v) => update.expression_attribute_values(":visit", v),
                None => update,
            };
            let item = TransactWriteItem::builder().update(update.build()?).build();
            writes.push(item);
        }
        store.transact(writes).await?;
        let read = store.get_all(self.confirms.keys().cloned().collect()).await?;
        for ((pk, _), version) in &self.confirms {
            let now = read.get(pk).map(|item| from_item::<VersionOnly>(item.clone())).transpose()?.map(|v| v.version);
            if now != *version {
                tracing::debug!("an agency on an owner's path changed while being placed; placing again");
                return Err(StoreError::Conflict);
            }
        }
        Ok(self.entries)
    }
}

/// An item's version, whatever else it holds.
#[derive(Deserialize)]
struct VersionOnly {
    version: u64,
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

#[cfg(test)]
mod tests {
    use super::retry_after;

    #[test]
    fn a_failed_placement_waits_a_quarter_of_an_hour_doubling_to_a_day() {
        let minutes: Vec<i64> = [1, 2, 3, 6, 7, 30].map(|n| retry_after(n).num_minutes()).to_vec();
        assert_eq!(minutes, vec![15, 30, 60, 480, 960, 1440]);
    }
}

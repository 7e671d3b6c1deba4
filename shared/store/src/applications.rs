//! Applying evidence to an application: read its log and entries, run the rules, and write the
//! authoritative outcome — the evidence, the changed entries and one history item — in one
//! transaction that fails if anyone else wrote to the application in between; then read and try
//! again. Its size depends on the number of entries changed only, never on the agency tree: the
//! lists and totals people read are placed from it afterwards (`placement`).

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::dynamo::unbuilt;
use super::dynamo::{Condition, Conditional, Index, MAX_TRANSACTION_ITEMS, SortKeys, retry_on_conflict, text};
use super::items::{AgentItem, EntryItem, EvidenceItem, Item, MetaItem, Owner, TrailItem, from_item, to_item};
use super::{Store, StoreError, keys};
use domain::{
    AgencyOf, AgentId, ApplicationKey, Applied, BookEntry, Evidence, Fact, HistoryRecord, apply, apply_newest,
    is_newest, needs_agencies, record_evidence,
};
use ports::{self, ApplicationReads, ApplyOutcome, DueLane, StoredApplication, TimelineWindow};

/// The most entries one piece of evidence may change: the transaction also holds the meta item,
/// the evidence and the history item. Far above real cases (an application in dozens of books).
pub const MAX_ENTRIES_CHANGED: usize = MAX_TRANSACTION_ITEMS - 3;

impl Store {
    /// The directory's view of each agent: their agent item and agency, where known. One batch
    /// of reads for the agents, then one per level of the tree above their agencies: a few
    /// requests whatever the number of agents (an application submitted through many books).
    pub async fn owner_items(&self, agents: BTreeSet<AgentId>) -> Result<HashMap<AgentId, Owner>, StoreError> {
        let items = self.agent_items(agents).await?;
        self.owners_of(items).await
    }

    /// Each agent's directory item, where known: one batch of reads. Enough to know whose agency
    /// each is in; `owners_of` reads the tree above them.
    async fn agent_items(&self, agents: BTreeSet<AgentId>) -> Result<HashMap<AgentId, Option<AgentItem>>, StoreError> {
        let found =
            self.get_all(agents.iter().map(|a| (keys::agent_pk(a), keys::AGENT_SK.to_owned())).collect()).await?;
        let mut items = HashMap::new();
        for agent_id in agents {
            let item = found.get(&keys::agent_pk(&agent_id)).cloned().map(from_item::<AgentItem>).transpose()?;
            items.insert(agent_id, item);
        }
        Ok(items)
    }

    /// The agents of `items` with their paths: one read per level of the tree above their agencies.
    async fn owners_of(
        &self,
        items: HashMap<AgentId, Option<AgentItem>>,
    ) -> Result<HashMap<AgentId, Owner>, StoreError> {
        let chains = self.agency_chains(items.values().flatten().map(|a| a.agency_id.clone()).collect()).await?;
        let mut owners = HashMap::new();
        for (agent_id, item) in items {
            let Some(agent) = item else {
                owners.insert(agent_id.clone(), Owner::unknown(agent_id));
                continue;
            };
            let chain = chains.get(&agent.agency_id).cloned().unwrap_or_default();
            let path = chain.iter().map(|(id, _)| id.clone()).collect();
            let path_versions = chain.iter().map(|(_, item)| item.as_ref().map(|a| a.version)).collect();
            let jobs =
                std::iter::once(agent.job.as_ref()).chain(chain.iter().map(|(_, item)| item.as_ref()?.job.as_ref()));
            let mut moving_from: Vec<domain::AgencyId> = Vec::new();
            for agency in jobs.flatten().flat_map(|job| &job.from) {
                if !moving_from.contains(agency) {
                    moving_from.push(agency.clone());
                }
            }
            owners.insert(agent_id.clone(), Owner { agent_id, agent: Some(agent), path, path_versions, moving_from });
        }
        Ok(owners)
    }

    /// The authoritative outcome: the meta item (conditional on the version read) with the
    /// current sync record, the evidence kept as items of their own (`record_evidence`), one
    /// history item when the at-risk state of an entry changed, and each changed entry. A sync
    /// that changes no entry and gives the record's answer writes the meta item alone: its sync
    /// time, its place in the due list and the record, in one item. The meta item is marked
    /// unplaced (since `unplaced_since`) until placed.
    fn writes_for(
        &self,
        app: &ApplicationKey,
        stored: &StoredApplication,
        evidence: &Evidence,
        applied: &Applied,
        unplaced_since: Option<DateTime<Utc>>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let pk = keys::application_pk(app.year, &app.id);
        let version = stored.version + 1;
        let last_synced_at = last_synced_after(stored, evidence);
        let at_risk = applied.entries.values().any(|e| e.is_at_risk() && !e.archived);
        let (sync_record, items) = record_evidence(stored.sync_record.as_ref(), evidence);
        let mut meta = meta_item(app, version, last_synced_at, at_risk, unplaced_since);
        meta.sync_record = sync_record;
        meta.log_last_at = stored.log_last_at.max(Some(evidence.last_at()));
        let meta = Put::builder().table_name(self.table()).set_item(Some(to_item(&meta)?));
        let mut writes = vec![
            TransactWriteItem::builder()
                .put(
                    meta.when(Condition::version_is((stored.version > 0).then_some(stored.version)))
                        .build()
                        .map_err(unbuilt)?,
                )
                .build(),
        ];
        for kept in &items {
            writes.push(self.put(to_item(&evidence_item(app, kept))?)?);
        }
        if !applied.history.is_empty() {
            writes.push(self.put(to_item(&trail_item(app, evidence, &applied.history))?)?);
        }
        for record in &applied.changes {
            match &record.after {
                Some(entry) => writes.push(self.put(to_item(&entry_item(app, entry))?)?),
                None => writes.push(self.delete(&pk, &keys::entry_sk(&record.agent_id))?),
            }
        }
        Ok(writes)
    }

    fn put(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder().table_name(self.table()).set_item(Some(item)).build().map_err(unbuilt)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete(&self, pk: &str, sk: &str) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(self.table())
            .key(keys::PK, text(pk))
            .key(keys::SK, text(sk))
            .build()
            .map_err(unbuilt)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

impl Store {
    /// `head` with its log: its evidence items (one query, which never reads the history) and
    /// its current sync record.
    async fn with_log(
        &self,
        app: &ApplicationKey,
        mut stored: StoredApplication,
    ) -> Result<StoredApplication, StoreError> {
        if stored.version == 0 {
            // Nothing written yet: no evidence either (it is written with the item).
            return Ok(stored);
        }
        let items = self.query(
            Index::Table,
            keys::application_pk(app.year, &app.id),
            SortKeys::Prefix(keys::EVIDENCE_PREFIX.to_owned()),
        );
        let mut log = Vec::new();
        for item in self.query_all(items.consistent_read(true)).await? {
            log.push(from_item::<EvidenceItem>(item)?.evidence);
        }
        log.extend(stored.sync_record.clone());
        stored.log_last_at = log.iter().map(Evidence::last_at).max();
        stored.log = log;
        Ok(stored)
    }

    /// Keeps the evidence item `sk` of partition `pk` under its last time, as `evidence_item`
    /// does since 2026-12-07 (a sync record was kept under its first): moved in one transaction,
    /// so it is never lost nor twice. Returns whether it moved; moving it again finds it in place.
    pub async fn rekey_evidence(&self, pk: &str, sk: &str) -> Result<bool, StoreError> {
        let Some(item) = self.get_item(pk.to_owned(), sk).await? else { return Ok(false) };
        let kept: EvidenceItem = from_item(item)?;
        let rekeyed = EvidenceItem { sk: keys::evidence_sk(kept.evidence.last_at(), &kept.evidence.id), ..kept };
        if rekeyed.sk == sk {
            return Ok(false);
        }
        let delete = Delete::builder()
            .table_name(self.table())
            .key(keys::PK, text(pk))
            .key(keys::SK, text(sk))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(unbuilt)?;
        match self
            .transact(vec![self.put(to_item(&rekeyed)?)?, TransactWriteItem::builder().delete(delete).build()])
            .await
        {
            Ok(()) => Ok(true),
            // Moved meanwhile by another run.
            Err(StoreError::Conflict) => Ok(false),
            Err(err) => Err(err),
        }
    }
}

/// The application's last sync once `evidence` is applied.
fn last_synced_after(stored: &StoredApplication, evidence: &Evidence) -> Option<DateTime<Utc>> {
    match &evidence.fact {
        Fact::Synced { .. } => Some(stored.last_synced_at.map_or(evidence.at, |at| at.max(evidence.at))),
        _ => stored.last_synced_at,
    }
}

/// Whether applying `evidence` leaves a placement owed: it changes an entry that is or was at
/// risk (what rows show and counters count), or an earlier write's placement is still owed — a
/// write must never take off a mark it has not placed. An entry never at risk has no rows and no
/// placement, so a first submission, and a sync that changes no entry, owe none (rows do not
/// carry the last sync: a list reads it from the application's item).
fn owes_placement(stored: &StoredApplication, applied: &Applied) -> bool {
    let placed = |entry: &Option<BookEntry>| entry.as_ref().is_some_and(BookEntry::is_at_risk);
    stored.unplaced || applied.changes.iter().any(|change| placed(&change.before) || placed(&change.after))
}

/// The application's meta item; `at_risk`: whether an entry of it is at risk (and not archived),
/// which puts it in the due list's at-risk lane.
pub(crate) fn meta_item(
    app: &ApplicationKey,
    version: u64,
    last_synced_at: Option<DateTime<Utc>>,
    at_risk: bool,
    unplaced_since: Option<DateTime<Utc>>,
) -> MetaItem {
    let lane = if at_risk { DueLane::AtRisk } else { DueLane::Stale };
    MetaItem {
        pk: keys::application_pk(app.year, &app.id),
        sk: keys::META_SK.to_owned(),
        federal_exchange_id: app.id.clone(),
        plan_year: app.year,
        version,
        last_synced_at,
        last_synced_micros: last_synced_at.map(|at| at.timestamp_micros()),
        unknown_count: 0,
        unplaced_failures: 0,
        gsi3pk: keys::sync_due_pk(app.year, keys::application_shard(&app.id)),
        gsi3sk: keys::sync_due_sk(lane, last_synced_at, &app.id),
        gsi1pk: unplaced_since.map(|_| keys::UNPLACED_GSI1PK.to_owned()),
        gsi1sk: unplaced_since.map(keys::time),
        sync_record: None,
        log_last_at: None,
    }
}

/// Kept under its last time (a sync record's newest sync): nothing it holds is later, so a
/// story read newest first knows what an item not read yet cannot hold (`timeline_window`).
pub(crate) fn evidence_item(app: &ApplicationKey, evidence: &Evidence) -> EvidenceItem {
    EvidenceItem {
        pk: keys::application_pk(app.year, &app.id),
        sk: keys::evidence_sk(evidence.last_at(), &evidence.id),
        evidence: evidence.clone(),
    }
}

pub(crate) fn entry_item(app: &ApplicationKey, entry: &BookEntry) -> EntryItem {
    EntryItem {
        pk: keys::application_pk(app.year, &app.id),
        sk: keys::entry_sk(&entry.agent_id),
        gsi1pk: keys::book_gsi1pk(&entry.agent_id),
        gsi1sk: keys::book_gsi1sk(app.year, &app.id),
        federal_exchange_id: app.id.clone(),
        plan_year: app.year,
        entry: entry.clone(),
    }
}

pub(crate) fn trail_item(app: &ApplicationKey, evidence: &Evidence, records: &[HistoryRecord]) -> TrailItem {
    let recorded_at = records.first().map_or(evidence.at, |record| record.recorded_at);
    let pk = keys::application_pk(app.year, &app.id);
    let sk = keys::trail_sk(recorded_at, &evidence.id);
    // Written with the change, so an event goes out for every change made and for no other.
    let outbox = records.iter().any(|record| domain::at_risk_change(record).is_some());
    TrailItem {
        gsi1pk: outbox.then(|| keys::outbox_gsi1pk(keys::application_shard(&app.id))),
        gsi1sk: outbox.then(|| keys::outbox_gsi1sk(&pk, &sk)),
        pk,
        sk,
        records: records.to_vec(),
        counted: Default::default(),
    }
}

/// Every agent the rules may need to know about: owners of entries and submitters.
fn agents_named(stored: &StoredApplication, evidence: &Evidence) -> BTreeSet<AgentId> {
    let mut agents: BTreeSet<AgentId> = stored.entries.keys().cloned().collect();
    for known in stored.log.iter().chain(std::iter::once(evidence)) {
        if let Fact::Submitted { agent_id, .. } = &known.fact {
            agents.insert(agent_id.clone());
        }
    }
    agents
}

impl ports::ApplicationReads for Store {
    /// The log, entries and version of an application: its head, then its log (`with_log`).
    async fn application(&self, app: &ApplicationKey) -> Result<StoredApplication, StoreError> {
        let head = self.head(app).await?;
        self.with_log(app, head).await
    }

    /// Its item (one read), then its entries (one query): as many items as it has books. In that
    /// order, so that entries newer than the version read fail the write that holds to it. Both
    /// consistent: the unplaced mark changes no version, so an older copy of the item could
    /// rewrite it without the mark; and a person reads their own sync's outcome next.
    async fn head(&self, app: &ApplicationKey) -> Result<StoredApplication, StoreError> {
        let pk = keys::application_pk(app.year, &app.id);
        let meta = self.get_item(pk.clone(), keys::META_SK).await?.map(from_item::<MetaItem>).transpose()?;
        let mut stored = StoredApplication::default();
        let Some(meta) = meta else { return Ok(stored) };
        stored.version = meta.version;
        stored.last_synced_at = meta.last_synced_at;
        stored.unplaced = meta.is_unplaced();
        stored.log_last_at = meta.log_last_at;
        stored.log.extend(meta.sync_record.clone());
        stored.sync_record = meta.sync_record;
        let entries = self.query(Index::Table, pk, SortKeys::Prefix(keys::ENTRY_PREFIX.to_owned()));
        for item in self.query_all(entries.consistent_read(true)).await? {
            let entry: EntryItem = from_item(item)?;
            stored.entries.insert(entry.entry.agent_id.clone(), entry.entry);
        }
        Ok(stored)
    }

    /// Every change of at-risk state of every entry of an application, oldest first (by when
    /// it was recorded): the history items of its partition.
    async fn history(&self, app: &ApplicationKey) -> Result<Vec<HistoryRecord>, StoreError> {
        let items = self.query_prefix(keys::application_pk(app.year, &app.id), keys::TRAIL_PREFIX).await?;
        let mut records = Vec::new();
        for item in items {
            let trail: TrailItem = from_item(item)?;
            records.extend(trail.records);
        }
        Ok(records)
    }

    /// Two queries newest first, one over the evidence items and one over the history items,
    /// each ending at `until` and reading `items` at most, and one batch for `records`. Every
    /// item is kept under its last time (`evidence_item`, `trail_item`), so what a query did not
    /// reach holds nothing later than the last item it read.
    async fn timeline_window(
        &self,
        app: &ApplicationKey,
        until: Option<DateTime<Utc>>,
        records: &[(DateTime<Utc>, domain::EvidenceId)],
        since: Option<DateTime<Utc>>,
        items: usize,
    ) -> Result<TimelineWindow, StoreError> {
        let pk = keys::application_pk(app.year, &app.id);
        let window = |prefix: &str| {
            let sort = match until {
                None => SortKeys::Prefix(prefix.to_owned()),
                // Everything at `until` itself, whatever its id (ids sort below '~').
                Some(until) => SortKeys::Between(prefix.to_owned(), format!("{prefix}{}#~", keys::time(until))),
            };
            self.query(Index::Table, pk.clone(), sort)
                .scan_index_forward(false)
                .limit(i32::try_from(items).unwrap_or(i32::MAX))
                .consistent_read(true)
                .send()
        };
        // (A page begins inside one record at most: records follow each other in time.)
        let asked = async {
            let mut asked = Vec::new();
            for (last, id) in records {
                asked.extend(self.get_item(pk.clone(), &keys::evidence_sk(*last, id)).await?);
            }
            if let Some(since) = since {
                let later = SortKeys::Between(
                    format!("{}{}", keys::EVIDENCE_PREFIX, keys::time(since)),
                    format!("{}~", keys::EVIDENCE_PREFIX),
                );
                let later = self.query(Index::Table, pk.clone(), later).consistent_read(true);
                asked.extend(self.query_all(later).await?);
            }
            Ok::<_, StoreError>(asked)
        };
        let (evidence, trail, asked) = tokio::try_join!(
            async { window(keys::EVIDENCE_PREFIX).await.map_err(super::dynamo::failed) },
            async { window(keys::TRAIL_PREFIX).await.map_err(super::dynamo::failed) },
            asked,
        )?;
        let mut found = TimelineWindow::default();
        let mut frontier = |more: bool, last: Option<DateTime<Utc>>| {
            if more && let Some(last) = last {
                found.complete_after = found.complete_after.max(Some(last));
            }
        };
        let evidence_more = evidence.last_evaluated_key.is_some();
        let mut log = Vec::new();
        for item in evidence.items.unwrap_or_default() {
            log.push(from_item::<EvidenceItem>(item)?.evidence);
        }
        frontier(evidence_more, log.last().map(Evidence::last_at));
        let trail_more = trail.last_evaluated_key.is_some();
        let mut history = Vec::new();
        let mut last_trail = None;
        for item in trail.items.unwrap_or_default() {
            let trail: TrailItem = from_item(item)?;
            last_trail = trail.records.first().map(|r| r.recorded_at).or(last_trail);
            history.extend(trail.records);
        }
        frontier(trail_more, last_trail);
        for item in asked {
            let kept = from_item::<EvidenceItem>(item)?.evidence;
            if !log.iter().any(|known| known.id == kept.id) {
                log.push(kept);
            }
        }
        found.log = log;
        found.history = history;
        Ok(found)
    }

    async fn owners(&self, agents: BTreeSet<AgentId>) -> Result<HashMap<AgentId, domain::EntryOwner>, StoreError> {
        let owners = self.owner_items(agents).await?;
        Ok(owners.into_iter().map(|(agent_id, owner)| (agent_id, owner.entry_owner())).collect())
    }
}

impl ports::Applications for Store {
    /// Applies one piece of evidence to an application, exactly once however often it is called,
    /// then places its entries in the lists when a write owes a placement (the meta item's
    /// unplaced mark). A call that finds the evidence applied still places a marked application,
    /// so a redelivery finishes what a crash between the two left undone. A write that changes
    /// nothing people read — most syncs — keeps an earlier mark and skips the placement's reads
    /// when there is none: about half of a quiet sync's requests.
    async fn apply_evidence(
        &self,
        app: &ApplicationKey,
        evidence: &Evidence,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        retry_on_conflict(|_| async move {
            // Evidence later than all applied (most syncs, every new submission) needs the
            // entries alone: what is read does not grow with the application's history.
            let head = self.head(app).await?;
            let newest = is_newest(evidence, head.log_last_at);
            let stored = if newest { head } else { self.with_log(app, head).await? };
            // A sync that shows every owner as the AOR judges no one: the directory is not read.
            // Otherwise the rules need each agent's agency, and only a placement their paths.
            let agents = if newest && !needs_agencies(&stored.entries, evidence) {
                HashMap::new()
            } else {
                self.agent_items(agents_named(&stored, evidence)).await?
            };
            let agencies: AgencyOf = agents
                .iter()
                .filter_map(|(agent_id, item)| Some((agent_id.clone(), item.as_ref()?.agency_id.clone())))
                .collect();
            let applied = if newest {
                Some(apply_newest(&stored.entries, evidence, &agencies, now))
            } else {
                apply(&stored.log, &stored.entries, evidence, &agencies, now)
            };
            let Some(applied) = applied else {
                if stored.unplaced {
                    self.place_application(app).await?;
                }
                return Ok(ApplyOutcome::AlreadyApplied);
            };
            if applied.changes.len() > MAX_ENTRIES_CHANGED {
                return Err(StoreError::TooLarge(applied.changes.len() + 3));
            }
            let unplaced = owes_placement(&stored, &applied);
            let writes = self.writes_for(app, &stored, evidence, &applied, unplaced.then_some(now))?;
            // The application's item alone (a sync that joins its record): no transaction needed.
            if let [only] = writes.as_slice()
                && let Some(put) = only.put()
            {
                self.put_alone(put).await?;
            } else {
                self.transact(writes).await?;
            }
            if unplaced {
                let owners = self.owners_of(agents).await?;
                self.place_application_knowing(app, owners).await?;
            }
            Ok(ApplyOutcome::Applied(applied.history))
        })
        .await
    }

    fn take_placement_conflicts(&self) -> u64 {
        Store::take_placement_conflicts(self)
    }
}

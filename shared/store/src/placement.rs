//! Derived state: where each book entry's at-risk rows are, and what they add to the counters of
//! the lists they are in (its agent's and every agency's on the owner's path). Everything people
//! read is placed here from the authoritative state (the entries and the directory), never
//! written beside the evidence.
//!
//! The rows are the truth of what is placed: each says what it adds to its list's counters
//! (`row_changes`). Placing an entry reads its rows wherever they may be, and is one transaction
//! that writes the rows wanted and deletes the others — each only while it is as read (its
//! version, or absent) — moves the counters by what the rows written count less what the rows
//! replaced counted, and holds only while the application (its meta item) and its owner's agent
//! item still have the versions read. A placer that read a state since replaced (a later
//! evidence, an agent's move, another placer's or a job's rows) is cancelled and reads again, so a
//! stale writer never overwrites a newer placement, and placing the same state twice writes
//! nothing the second time.
//!
//! Where an entry's rows may be: its placement record (`PLACED#{agent}` in its application's
//! partition) names the rows a placement wrote at keys it did not name yet; a directory job may
//! since have moved them, without a word to the record, into the lists of the owner's path as it
//! is now, and while under way not yet out of the lists it moves them from (its `from`). A
//! placement reads all of those lists, at the record's sort keys and at the one wanted
//! (`where_rows_may_be`).
//!
//! The agencies on the owner's path are shared by every placement in their tree, so they are not
//! held in the transaction (DynamoDB cancels a transaction that meets another in flight on any of
//! its items, a condition check too): their versions are read again, consistently, after it
//! commits, and a placement that finds one changed places again. Either the placer sees the change
//! (a move, a parent arriving) and places anew, or the change was accepted after that read, so
//! after the placement's rows were written, and the change's job, which reads the list of the agency
//! that changed consistently, finds the rows and moves them. For the same reason the counters
//! of an agency are spread over shards (`keys::stats_sk`): placements of applications in different
//! shards never meet on an item.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::child_counters;
use super::dynamo::unbuilt;
use super::dynamo::{Condition, Conditional, number, retry_on_conflict_with, text};
use super::items::{EntryItem, MetaItem, Owner, RiskRow, RowFacts, from_item, to_item};
use super::keys;
use super::row_changes::{self, RowChanges, RowWrite};
use super::{MAX_TRANSACTION_ITEMS, Store, StoreError};
use domain::ApplicationKey;
use domain::{AgencyId, AgentId, PlanYear, Scope};

/// What one placement run has read and may reuse for the next applications (a job places many
/// applications of the same agents): owners by agent, and the last visit of each list's counters
/// by the counters' partition and plan year. Dropped when a placement meets a newer state.
#[derive(Default)]
pub(super) struct AlreadyRead {
    pub(super) owners: HashMap<AgentId, Owner>,
    pub(super) visits: Visits,
}

/// The last visit of each list's counters, by the counters' partition (`AGENT#…`, `AGENCY#…`)
/// and plan year.
pub(super) type Visits = HashMap<(String, PlanYear), Option<DateTime<Utc>>>;

/// Where a placement wrote an entry's rows (see the module's docs: a job may have moved them since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementItem {
    pub pk: String,
    pub sk: String,
    pub agent_id: AgentId,
    pub plan_year: PlanYear,
    /// Bumped by every write of the record: two placers never both rename where rows are.
    pub version: u64,
    pub rows: Vec<RowKey>,
    /// From releases before 2026-12-09, whose rows (version 0) did not say what they count: the
    /// lists' counters (by partition) the entry counted in as new, each with the visit decided
    /// against. Read for those rows only; a placement rewrites them to say it themselves.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub new_in: BTreeMap<String, Option<DateTime<Utc>>>,
}

impl PlacementItem {
    /// The record of rows at `rows`, replacing `previous`.
    pub fn naming(app: &ApplicationKey, agent_id: &AgentId, rows: Vec<RowKey>, previous: Option<&Self>) -> Self {
        Self {
            pk: keys::application_pk(app.year, &app.id),
            sk: keys::placed_sk(agent_id),
            agent_id: agent_id.clone(),
            plan_year: app.year,
            version: previous.map_or(1, |p| p.version + 1),
            rows,
            new_in: BTreeMap::new(),
        }
    }

    /// Whether a row of an earlier release in `counters_pk`'s list counts there as new, with the
    /// visit `visit` standing: when its record counted it against that visit.
    fn counted_new(&self, counters_pk: &str, visit: Option<DateTime<Utc>>) -> bool {
        self.new_in.get(counters_pk) == Some(&visit)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RowKey {
    pub pk: String,
    pub sk: String,
}

/// Every key an entry's rows may be at (see the module's docs): the lists its record names, its
/// owner's lists now and those a job under way may not have moved them out of yet, each at the
/// record's sort keys and at `wanted_sk` (where its rows are to be).
pub fn where_rows_may_be(record: Option<&PlacementItem>, owner: &Owner, wanted_sk: Option<&str>) -> BTreeSet<RowKey> {
    let recorded = record.map(|r| r.rows.as_slice()).unwrap_or_default();
    let mut lists: BTreeSet<String> = recorded.iter().map(|row| row.pk.clone()).collect();
    lists.extend(owner.scopes().iter().map(keys::risk_pk));
    lists.extend(owner.moving_from.iter().map(|agency| keys::risk_pk(&Scope::Agency(agency.clone()))));
    let sks: BTreeSet<&str> = recorded.iter().map(|row| row.sk.as_str()).chain(wanted_sk).collect();
    lists.iter().flat_map(|pk| sks.iter().map(|sk| RowKey { pk: pk.clone(), sk: (*sk).to_owned() })).collect()
}

/// Keys where rows of an application's entries were found besides where they may be, by agent.
pub(super) type RowsElsewhere = BTreeMap<AgentId, BTreeSet<RowKey>>;

/// The record to write with `changes`, and its version read: when they put a row where there was
/// none, one naming `rows` (every row the entry has once they are written). So a record names every
/// row there is (`where_rows_may_be` reads them all): a row is made only with its record, and a
/// record replaced only by a writer that found every row it named, or meets the maker on the
/// record's version. (A delete leaves its key named: a record names rows that were, too.)
pub(super) fn renamed(
    app: &ApplicationKey,
    agent_id: &AgentId,
    record: Option<&PlacementItem>,
    rows: &[RiskRow],
    changes: &RowChanges,
) -> Option<(PlacementItem, Option<u64>)> {
    changes.creates_a_row().then(|| {
        let record_now = PlacementItem::naming(app, agent_id, rows.iter().map(RiskRow::key).collect(), record);
        (record_now, record.map(|r| r.version))
    })
}

impl Store {
    /// Places every entry of an application as the authoritative state says now; returns how many
    /// placements were written. Safe to run any number of times, concurrently too.
    pub async fn place_application(&self, app: &ApplicationKey) -> Result<u32, StoreError> {
        self.place_with(app, &mut AlreadyRead::default()).await
    }

    /// The same, right after a write that read its entries' `owners`: they are not read again
    /// (the placement holds to their versions; a newer directory makes it read them anew).
    pub async fn place_application_knowing(
        &self,
        app: &ApplicationKey,
        owners: HashMap<AgentId, Owner>,
    ) -> Result<u32, StoreError> {
        self.place_with(app, &mut AlreadyRead { owners, visits: Visits::default() }).await
    }

    /// The same, with what was read kept in `known` for the next applications. A placement that
    /// meets a newer directory or visit is cancelled by its conditions, and what was known is
    /// dropped before the retry. One that ends in an error may have committed a batch it could
    /// not confirm (its owner's path changed, or the check could not be read), and another placer
    /// may have taken the application's unplaced mark off meanwhile: it puts the mark back, so
    /// the scan's repair places the application again.
    pub(super) async fn place_with(&self, app: &ApplicationKey, known: &mut AlreadyRead) -> Result<u32, StoreError> {
        self.place_finding(app, known, &RowsElsewhere::new()).await
    }

    /// The same, looking for each entry's rows at the keys `elsewhere` adds too (rows a job found
    /// in its list that the entry's record and owner do not account for).
    pub(super) async fn place_finding(
        &self,
        app: &ApplicationKey,
        known: &mut AlreadyRead,
        elsewhere: &RowsElsewhere,
    ) -> Result<u32, StoreError> {
        let placed = self.place_retrying(app, known, elsewhere).await;
        if placed.is_err()
            && let Err(err) = self.mark_unplaced(app).await
        {
            tracing::warn!(federal_exchange_id = %app.id, error = %err, "could not mark a failed placement unplaced");
        }
        placed
    }

    async fn place_retrying(
        &self,
        app: &ApplicationKey,
        known: &mut AlreadyRead,
        elsewhere: &RowsElsewhere,
    ) -> Result<u32, StoreError> {
        let (cache, placed) = retry_on_conflict_with(std::mem::take(known), |mut known, _| async move {
            // Boxed: a placement's future is large, and callers nest it deep.
            let placed = Box::pin(self.try_place_application(app, &mut known, elsewhere)).await;
            if let Err(StoreError::Conflict) = placed {
                // The entry, its rows, its owner or a visit changed while being placed: read them all again.
                self.placement_conflicts.add(1);
                known = AlreadyRead::default();
            }
            (known, placed)
        })
        .await;
        *known = cache;
        placed
    }

    async fn try_place_application(
        &self,
        app: &ApplicationKey,
        known: &mut AlreadyRead,
        elsewhere: &RowsElsewhere,
    ) -> Result<u32, StoreError> {
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
        let agents: BTreeSet<AgentId> = entries.keys().chain(placed.keys()).chain(elsewhere.keys()).cloned().collect();
        let unread: BTreeSet<AgentId> = agents.iter().filter(|a| !known.owners.contains_key(*a)).cloned().collect();
        if !unread.is_empty() {
            known.owners.extend(self.owner_items(unread).await?);
        }
        let owner_of =
            |agent: &AgentId| known.owners.get(agent).cloned().unwrap_or_else(|| Owner::unknown(agent.clone()));
        // Every entry's rows, wherever they may be: one batch of reads for the application.
        let mut wanted: BTreeMap<AgentId, (Owner, Option<RowFacts>, BTreeSet<RowKey>)> = BTreeMap::new();
        for agent_id in agents {
            let owner = owner_of(&agent_id);
            let facts = entries.get(&agent_id).and_then(|e| RowFacts::of_entry(&app.id, app.year, &e.entry));
            let sk =
                facts.as_ref().map(|f| keys::risk_sk(f.plan_year, f.flagged_at, &f.agent_id, &f.federal_exchange_id));
            let mut keys = where_rows_may_be(placed.get(&agent_id), &owner, sk.as_deref());
            keys.extend(elsewhere.get(&agent_id).into_iter().flatten().cloned());
            wanted.insert(agent_id, (owner, facts, keys));
        }
        let found = self.rows_at(wanted.values().flat_map(|(_, _, keys)| keys.iter().cloned()).collect()).await?;
        let mut written = 0;
        let mut batch = PlacementBatch::default();
        for (agent_id, (owner, facts, keys)) in wanted {
            let found: Vec<RiskRow> = keys.iter().filter_map(|key| found.get(key).cloned()).collect();
            let record = placed.get(&agent_id);
            let (rows, changes) =
                self.entry_changes(app, facts.as_ref(), &owner, &found, record, &mut known.visits).await?;
            if changes.is_empty() {
                continue;
            }
            let renamed = renamed(app, &agent_id, record, &rows, &changes);
            let part = self.placement_part(app, renamed, &owner, changes, Held::Application(meta.version))?;
            if batch.is_full_for(&part) {
                written += std::mem::take(&mut batch).commit(self, &known.visits).await?;
            }
            batch.add(app, part);
        }
        written += batch.commit(self, &known.visits).await?;
        if meta.is_unplaced() {
            self.mark_placed(&meta).await?;
        }
        Ok(written)
    }

    /// The rows an entry with `facts` (`None`: not at risk) should have for `owner`, and what
    /// placing them changes from the rows `found` (its `record`'s for rows of an earlier release),
    /// under each list's last visit (read into `visits` where not read yet).
    pub(super) async fn entry_changes(
        &self,
        app: &ApplicationKey,
        facts: Option<&RowFacts>,
        owner: &Owner,
        found: &[RiskRow],
        record: Option<&PlacementItem>,
        visits: &mut Visits,
    ) -> Result<(Vec<RiskRow>, RowChanges), StoreError> {
        // The visits of every list the entry is or is to be in: none for the nine in ten entries
        // that are not at risk and never were.
        let mut lists: Vec<String> = found.iter().map(|row| keys::counters_pk_of_list(&row.pk).to_owned()).collect();
        if facts.is_some() {
            lists.extend(owner.scopes().iter().map(keys::counters_pk));
        }
        self.read_visits(lists, app.year, visits).await?;
        let visit_of = |counters_pk: &str| visits.get(&(counters_pk.to_owned(), app.year)).copied().flatten();
        let rows: Vec<RiskRow> = match facts {
            None => Vec::new(),
            Some(facts) => owner
                .scopes()
                .into_iter()
                .map(|scope| {
                    let visit = visit_of(&keys::counters_pk(&scope));
                    row_changes::counted_row(facts, scope, visit)
                })
                .collect(),
        };
        let legacy_new = |counters_pk: &str| record.is_some_and(|r| r.counted_new(counters_pk, visit_of(counters_pk)));
        let changes = row_changes::between(found, &rows, visit_of, legacy_new);
        Ok((rows, changes))
    }

    /// The rows at `keys` that exist, read consistently in batches.
    pub(super) async fn rows_at(&self, keys: BTreeSet<RowKey>) -> Result<BTreeMap<RowKey, RiskRow>, StoreError> {
        let found = self.get_each(keys.into_iter().map(|key| (key.pk, key.sk)).collect()).await?;
        found.into_iter().map(|((pk, sk), item)| Ok((RowKey { pk, sk }, from_item::<RiskRow>(item)?))).collect()
    }

    /// Reads the last visit of each of `counter_pks`' counters not read yet into `visits`.
    pub(super) async fn read_visits(
        &self,
        counter_pks: impl IntoIterator<Item = String>,
        year: PlanYear,
        visits: &mut Visits,
    ) -> Result<(), StoreError> {
        for counters_pk in counter_pks {
            if let std::collections::hash_map::Entry::Vacant(slot) = visits.entry((counters_pk, year)) {
                let visit = self.stats_of(&slot.key().0, year).await?.last_visited_at;
                slot.insert(visit);
            }
        }
        Ok(())
    }

    /// What placing one entry adds to a placement transaction (see the module's docs): its rows'
    /// writes, its record where it names new keys (with the record's version read), what it
    /// holds to and confirms, and its counters' moves.
    pub(super) fn placement_part(
        &self,
        app: &ApplicationKey,
        renamed: Option<(PlacementItem, Option<u64>)>,
        owner: &Owner,
        changes: RowChanges,
        held: Held,
    ) -> Result<PlacementPart, StoreError> {
        let mut part = PlacementPart { writes: self.row_writes(changes.writes)?, ..PlacementPart::default() };
        if let Some((record, read)) = renamed {
            let put = Put::builder().table_name(self.table()).set_item(Some(to_item(&record)?));
            let put = put.when(Condition::version_is(read)).build().map_err(unbuilt)?;
            part.writes.push(TransactWriteItem::builder().put(put).build());
        }
        let agent =
            ((keys::agent_pk(&owner.agent_id), keys::AGENT_SK.to_owned()), owner.agent.as_ref().map(|a| a.version));
        match held {
            Held::Application(version) => {
                part.checks.push(((keys::application_pk(app.year, &app.id), keys::META_SK.to_owned()), Some(version)));
                part.checks.push(agent);
            }
            Held::Rows => part.confirms.push(agent),
        }
        for (agency, version) in owner.path.iter().zip(&owner.path_versions) {
            part.confirms.push(((keys::agency_pk(agency), keys::AGENCY_SK.to_owned()), *version));
        }
        part.counters =
            changes.counters.into_iter().map(|(counters_pk, counts)| ((counters_pk, app.year), counts)).collect();
        part.filings = owner.filings();
        Ok(part)
    }

    /// The transaction items of row writes, each only while its row is as read.
    pub(super) fn row_writes(&self, writes: Vec<RowWrite>) -> Result<Vec<TransactWriteItem>, StoreError> {
        writes
            .into_iter()
            .map(|write| match write {
                RowWrite::Put { row, over } => {
                    let put = Put::builder().table_name(self.table()).set_item(Some(to_item(&row)?));
                    Ok(TransactWriteItem::builder().put(put.when(row_is(over)).build().map_err(unbuilt)?).build())
                }
                RowWrite::Delete { key, version } => {
                    let delete = Delete::builder()
                        .table_name(self.table())
                        .key(keys::PK, text(&key.pk))
                        .key(keys::SK, text(&key.sk))
                        .when(row_is(Some(version)))
                        .build()
                        .map_err(unbuilt)?;
                    Ok(TransactWriteItem::builder().delete(delete).build())
                }
            })
            .collect()
    }
}

/// The condition that a row is as read: at `version` (0: of an earlier release, without one), or
/// absent (`None`).
fn row_is(version: Option<u64>) -> Condition {
    match version {
        None => Condition::new("attribute_not_exists(pk)"),
        Some(0) => Condition::new("attribute_exists(pk) AND attribute_not_exists(version)"),
        Some(version) => Condition::version_is(Some(version)),
    }
}

/// What a placement holds to in its transaction (the rest it confirms after, see the module's docs).
#[derive(Debug, Clone, Copy)]
pub(super) enum Held {
    /// The application's item at this version, and the owner's agent item: a placement from the
    /// entries read.
    Application(u64),
    /// Nothing: a job's move of rows as they are, which any placement racing it meets on the rows
    /// themselves; the owners' items are confirmed after, as the agencies are.
    Rows,
}

/// What placing one entry writes and holds to (`Store::placement_part`).
#[derive(Default)]
pub(super) struct PlacementPart {
    /// Its rows written and deleted, and its record where it names new keys.
    writes: Vec<TransactWriteItem>,
    /// The items (key, version; `None`: absent) its placement was decided from and holds to in
    /// its transaction (`Held`).
    checks: Vec<((String, String), Option<u64>)>,
    /// The same, confirmed after the transaction commits (see the module's docs): every agency on
    /// the owner's path.
    confirms: Vec<((String, String), Option<u64>)>,
    /// Its moves of the counters, by their partition and plan year.
    counters: BTreeMap<(String, PlanYear), row_changes::Counts>,
    /// Where the counter items of the agencies on its owner's path are filed (`child_counters`).
    filings: Vec<(String, AgencyId, Option<AgencyId>)>,
}

impl PlacementPart {
    /// Holds the part to `row` being as read, and makes it newer than read: a writer that read it
    /// before meets this part whichever commits first (a condition check alone would let one that
    /// commits after pass). What the row says stays.
    pub(super) fn hold_row(&mut self, store: &Store, row: &RiskRow) -> Result<(), StoreError> {
        let bump = Update::builder()
            .table_name(store.table())
            .key(keys::PK, text(&row.pk))
            .key(keys::SK, text(&row.sk))
            .update_expression("ADD version :one")
            .expression_attribute_values(":one", number(1))
            .when(row_is(Some(row.version)))
            .build()
            .map_err(unbuilt)?;
        self.writes.push(TransactWriteItem::builder().update(bump).build());
        Ok(())
    }
}

/// One transaction placing entries (as many as fit): the versions they were decided from checked
/// once however many entries share them, the counters they move summed in one update each. An
/// application whose entries all change at once (one submitted through many books: every entry's
/// taker changes) is placed in a few transactions, not one per entry, and its placements hold
/// together: all of a batch or none. A job's page of moves is a few such transactions.
#[derive(Default)]
pub(super) struct PlacementBatch {
    writes: Vec<TransactWriteItem>,
    checks: BTreeMap<(String, String), Option<u64>>,
    confirms: BTreeMap<(String, String), Option<u64>>,
    /// Per list's counters and plan year: the moves of its entries summed (at-risk total, new
    /// since visit).
    counters: BTreeMap<(String, PlanYear), row_changes::Counts>,
    /// Per agency's counters: the agency and its parent on the paths read (one version of each).
    filings: BTreeMap<String, (AgencyId, Option<AgencyId>)>,
    /// The application whose shard of an agency's counters the batch moves (the first placed):
    /// a list's counters are the sum of its shards, so any shard may carry a batch's moves.
    shard_of: Option<domain::FederalExchangeId>,
    entries: u32,
}

impl PlacementBatch {
    /// The transaction's items with `part` added: its writes, the checks and the counters.
    fn size_with(&self, part: &PlacementPart) -> usize {
        let checks = part.checks.iter().filter(|(key, _)| !self.checks.contains_key(key)).count();
        let counters = part.counters.keys().filter(|key| !self.counters.contains_key(*key)).count();
        self.writes.len() + part.writes.len() + self.checks.len() + checks + self.counters.len() + counters
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

    /// Whether `part` goes in a transaction after this one.
    pub(super) fn is_full_for(&self, part: &PlacementPart) -> bool {
        self.size_with(part) > MAX_TRANSACTION_ITEMS || self.read_otherwise(part)
    }

    pub(super) fn add(&mut self, app: &ApplicationKey, part: PlacementPart) {
        self.shard_of.get_or_insert_with(|| app.id.clone());
        self.writes.extend(part.writes);
        self.checks.extend(part.checks);
        self.confirms.extend(part.confirms);
        self.filings.extend(part.filings.into_iter().map(|(pk, agency, parent)| (pk, (agency, parent))));
        for (key, (total, new)) in part.counters {
            let sum = self.counters.entry(key).or_default();
            *sum = (sum.0 + total, sum.1 + new);
        }
        self.entries += 1;
    }

    /// Writes the batch; returns how many entries it placed. Only while each item checked has the
    /// version read (`Held`) and each counter's list the visit read (a visit in between starts
    /// that count again); then confirms the rest (see the module's docs): `Conflict` when one
    /// changed, and what the batch placed is to be placed again.
    pub(super) async fn commit(mut self, store: &Store, visits: &Visits) -> Result<u32, StoreError> {
        let Some(shard_of) = self.shard_of.clone().filter(|_| self.entries > 0) else {
            return Ok(0);
        };
        let shard_of = &shard_of;
        // The counters of agencies no path read names (a list the rows left): filed under their
        // parent as the directory has it now, confirmed with the rest.
        let unfiled: BTreeSet<(String, String)> = self
            .counters
            .keys()
            .filter(|(pk, _)| keys::agency_of_pk(pk).is_some() && !self.filings.contains_key(pk))
            .map(|(pk, _)| (pk.clone(), keys::AGENCY_SK.to_owned()))
            .collect();
        if !unfiled.is_empty() {
            let read = store.get_all(unfiled.iter().cloned().collect()).await?;
            for (pk, sk) in unfiled {
                let Some(agency) = keys::agency_of_pk(&pk) else { continue };
                let item = read.get(&pk).map(|item| from_item::<Confirmed>(item.clone())).transpose()?;
                self.filings.insert(pk.clone(), (agency, item.as_ref().and_then(|i| i.parent_agency_id.clone())));
                self.confirms.insert((pk, sk), item.map(|i| i.version));
            }
        }
        let mut writes = self.writes;
        for ((pk, sk), version) in self.checks {
            writes.push(store.check(pk, &sk, Condition::version_is(version))?);
        }
        for ((counters_pk, year), (total, new)) in self.counters.clone() {
            let visit = visits.get(&(counters_pk.clone(), year)).copied().flatten();
            let (condition, visit_value) = match visit {
                None => ("attribute_not_exists(last_visited_at)", None),
                Some(visit) => ("last_visited_at = :visit", Some(text(keys::time(visit)))),
            };
            // Moves that cancel out (one entry in, another out) still bump the version and hold to
            // the visit: a visit racing them reads the counters again.
            // An agency's counters are filed under its parent on the path read (`child_counters`).
            let (filing, filed) = match self.filings.get(&counters_pk) {
                Some((agency, parent)) => child_counters::filing(agency, parent.as_ref(), year),
                None => ("", Vec::new()),
            };
            let update = Update::builder()
                .table_name(store.table())
                .key(keys::PK, text(&counters_pk))
                .key(keys::SK, text(keys::stats_sk(&counters_pk, year, shard_of)))
                .update_expression(format!("ADD at_risk_total :total, new_since_visit :new, version :one {filing}"))
                .set_expression_attribute_values(Some(filed.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
                .expression_attribute_values(":total", number(total))
                .expression_attribute_values(":new", number(new))
                .expression_attribute_values(":one", number(1))
                .condition_expression(condition);
            let update = match visit_value {
                Some(v) => update.expression_attribute_values(":visit", v),
                None => update,
            };
            let item = TransactWriteItem::builder().update(update.build().map_err(unbuilt)?).build();
            writes.push(item);
        }
        store.transact(writes).await?;
        let read = store.get_all(self.confirms.keys().cloned().collect()).await?;
        let mut parents_now: BTreeMap<&str, Option<AgencyId>> = BTreeMap::new();
        let mut changed = false;
        for ((pk, _), version) in &self.confirms {
            let now = read.get(pk).map(|item| from_item::<Confirmed>(item.clone())).transpose()?;
            changed |= now.as_ref().map(|c| c.version) != *version;
            parents_now.insert(pk, now.and_then(|c| c.parent_agency_id));
        }
        if !changed {
            return Ok(self.entries);
        }
        tracing::debug!("an owner or an agency on their path changed while being placed; placing again");
        // The agencies' counters this batch moved and filed under a parent they no longer have,
        // or moved without filing (a list the rows left): filed again by the directory as it is
        // now (`child_counters`). A rename, which changes no parent, files nothing again.
        for (pk, _) in self.counters.keys() {
            let Some(agency) = keys::agency_of_pk(pk) else { continue };
            let stale = match self.filings.get(pk) {
                Some((_, filed_under)) => parents_now.get(pk.as_str()).is_none_or(|now| now != filed_under),
                None => true,
            };
            if stale {
                store.refile_counters(&agency).await?;
            }
        }
        Err(StoreError::Conflict)
    }
}

/// An agency's version and parent as a placement confirms them, whatever else it holds.
#[derive(Deserialize)]
struct Confirmed {
    version: u64,
    #[serde(default)]
    parent_agency_id: Option<AgencyId>,
}

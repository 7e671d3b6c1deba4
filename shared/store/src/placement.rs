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

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::child_counters;
use super::counter_delta::{CounterDelta, Counting};
use super::dynamo::unbuilt;
use super::dynamo::{Condition, Conditional, number, retry_on_conflict_with, text};
use super::items::{EntryItem, MetaItem, Owner, RiskRow, RowFacts, from_item, to_item};
use super::keys;
use super::{MAX_TRANSACTION_ITEMS, Store, StoreError};
use domain::ApplicationKey;
use domain::{AgencyId, AgentId, BookEntry, PlanYear};

/// What one placement run has read and may reuse for the next applications (a job places many
/// applications of the same agents): owners by agent, and the last visit of each list's counters
/// by the counters' partition and plan year. Dropped when a placement meets a newer state.
#[derive(Default)]
pub(super) struct AlreadyRead {
    owners: HashMap<AgentId, Owner>,
    visits: Visits,
}

/// The last visit of each list's counters, by the counters' partition (`AGENT#…`, `AGENCY#…`)
/// and plan year.
type Visits = HashMap<(String, PlanYear), Option<DateTime<Utc>>>;

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
    /// A fingerprint of what its rows say (`Placement::digest`), so that an unchanged placement
    /// is recognised unread and a row in place is not written again.
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
    fn counter_pks(&self) -> BTreeSet<&str> {
        self.rows.iter().map(|row| keys::counters_pk_of_list(&row.pk)).collect()
    }

    /// Where this placement still counts as new, with the visits standing now.
    fn new_under(&self, year: PlanYear, visits: &Visits) -> BTreeMap<String, Option<DateTime<Utc>>> {
        self.new_in
            .iter()
            .filter(|(counters_pk, visit)| visits.get(&((*counters_pk).clone(), year)) == Some(visit))
            .map(|(counters_pk, visit)| (counters_pk.clone(), *visit))
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
    /// A fingerprint of what the rows say, the same in every list (`fingerprint`): while it
    /// stands, a row already in its list needs no rewrite, and a move writes only the rows of the
    /// lists it leaves and enters.
    pub digest: String,
    pub counted: bool,
    /// The lists' counters it counts in as new, each with the visit that was decided against.
    pub new_in: BTreeMap<String, Option<DateTime<Utc>>>,
}

impl Placement {
    /// The placement an entry calls for with its owner as the directory knows them now, under
    /// each list's last visit (`visit_of` a counters' partition). An entry not at risk (or gone)
    /// has no rows.
    pub fn of(
        app: &ApplicationKey,
        entry: Option<&BookEntry>,
        owner: &Owner,
        visit_of: impl Fn(&str) -> Option<DateTime<Utc>>,
    ) -> Self {
        let facts = entry.and_then(|entry| RowFacts::of_entry(&app.id, app.year, entry));
        let rows: Vec<RiskRow> = facts.as_ref().map(|facts| facts.rows(owner)).unwrap_or_default();
        let digest = facts.as_ref().map(fingerprint).unwrap_or_default();
        let counted = domain::alert_counts(entry, None).at_risk;
        let new_in = rows
            .iter()
            .map(|row| keys::counters_pk_of_list(&row.pk))
            .filter_map(|counters_pk| {
                let visit = visit_of(counters_pk);
                domain::alert_counts(entry, visit).new_since_visit.then(|| (counters_pk.to_owned(), visit))
            })
            .collect();
        Self { rows, digest, counted, new_in }
    }

    /// The counters this placement counts in: its rows' lists' owners.
    pub fn counter_pks(&self) -> BTreeSet<&str> {
        self.rows.iter().map(|row| keys::counters_pk_of_list(&row.pk)).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && !self.counted
    }

    fn row_keys(&self) -> Vec<RowKey> {
        self.rows.iter().map(|row| RowKey { pk: row.pk.clone(), sk: row.sk.clone() }).collect()
    }

    /// The record of this placement, replacing `previous`.
    pub fn record(&self, app: &ApplicationKey, agent_id: &AgentId, previous: Option<&PlacementItem>) -> PlacementItem {
        PlacementItem {
            pk: keys::application_pk(app.year, &app.id),
            sk: keys::placed_sk(agent_id),
            agent_id: agent_id.clone(),
            plan_year: app.year,
            version: previous.map_or(1, |p| p.version + 1),
            rows: self.row_keys(),
            digest: self.digest.clone(),
            counted: self.counted,
            new_in: self.new_in.clone(),
        }
    }

    /// Whether `placed` already is this placement, under the visits standing now.
    fn matches(&self, placed: Option<&PlacementItem>, year: PlanYear, visits: &Visits) -> bool {
        match placed {
            None => self.is_empty(),
            Some(placed) => {
                placed.digest == self.digest
                    && placed.rows == self.row_keys()
                    && placed.counted == self.counted
                    && placed.new_under(year, visits) == self.new_in
            }
        }
    }
}

/// What the rows a fingerprint stands for are made of: a change to `RowFacts::row` (a new key, a
/// new field) changes this, so that every record made before it no longer matches and its rows
/// are written again.
const ROW_FORMAT: &str = "rows-by-listed-at";

/// FNV-1a over the rows' format and what they say, as JSON: stable across processes and releases.
fn fingerprint(facts: &RowFacts) -> String {
    let json = serde_json::to_vec(&(ROW_FORMAT, facts)).unwrap_or_default();
    let hash = json.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
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
        let placed = self.place_retrying(app, known).await;
        if placed.is_err()
            && let Err(err) = self.mark_unplaced(app).await
        {
            tracing::warn!(federal_exchange_id = %app.id, error = %err, "could not mark a failed placement unplaced");
        }
        placed
    }

    async fn place_retrying(&self, app: &ApplicationKey, known: &mut AlreadyRead) -> Result<u32, StoreError> {
        let (cache, placed) = retry_on_conflict_with(std::mem::take(known), |mut known, _| async move {
            let placed = self.try_place_application(app, &mut known).await;
            if let Err(StoreError::Conflict) = placed {
                // The entry, its owner or a visit changed while being placed: read them all again.
                self.placement_conflicts.add(1);
                known = AlreadyRead::default();
            }
            (known, placed)
        })
        .await;
        *known = cache;
        placed
    }

    async fn try_place_application(&self, app: &ApplicationKey, known: &mut AlreadyRead) -> Result<u32, StoreError> {
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
            known.owners.extend(self.owner_items(unread).await?);
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
            let lists = if at_risk { owner.scopes().iter().map(keys::counters_pk).collect() } else { Vec::new() };
            let was_in = previous.map(|p| p.counter_pks().into_iter().map(str::to_owned).collect()).unwrap_or_default();
            self.read_visits(lists.into_iter().chain::<Vec<String>>(was_in), app.year, &mut known.visits).await?;
            let visits = &known.visits;
            let visit_of = |counters_pk: &str| visits.get(&(counters_pk.to_owned(), app.year)).copied().flatten();
            let wanted = Placement::of(app, entry.map(|e| &e.entry), &owner, visit_of);
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
        if meta.is_unplaced() {
            self.mark_placed(&meta).await?;
        }
        Ok(written)
    }

    /// Reads the last visit of each of `counter_pks`' counters not read yet into `visits`.
    async fn read_visits(
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
                TransactWriteItem::builder()
                    .put(put.when(Condition::version_is(previous.map(|p| p.version))).build().map_err(unbuilt)?)
                    .build(),
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
                .key(keys::PK, text(&old.pk))
                .key(keys::SK, text(&old.sk))
                .build()
                .map_err(unbuilt)?;
            part.writes.push(TransactWriteItem::builder().delete(delete).build());
        }
        // Rows already in their list say what they should while the fingerprint stands.
        let in_place: BTreeSet<&RowKey> =
            previous.filter(|p| p.digest == record.digest).map(|p| p.rows.iter().collect()).unwrap_or_default();
        for row in
            wanted.rows.iter().filter(|row| !in_place.contains(&RowKey { pk: row.pk.clone(), sk: row.sk.clone() }))
        {
            let put = Put::builder().table_name(self.table()).set_item(Some(to_item(row)?)).build().map_err(unbuilt)?;
            part.writes.push(TransactWriteItem::builder().put(put).build());
        }
        // The counters of every list the entry is or was in, where what it counts changes.
        let was_new = previous.map(|p| p.new_under(app.year, visits)).unwrap_or_default();
        let before = previous.map_or_else(Counting::default, |p| Counting {
            lists: p.counter_pks(),
            at_risk: p.counted,
            new_in: was_new.keys().map(String::as_str).collect(),
        });
        let after = Counting {
            lists: wanted.counter_pks(),
            at_risk: wanted.counted,
            new_in: wanted.new_in.keys().map(String::as_str).collect(),
        };
        part.counters = CounterDelta::between(&before, &after);
        part.filings = owner.filings();
        Ok(part)
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
    /// Its moves of the counters.
    counters: Vec<CounterDelta>,
    /// Where the counter items of the agencies on its owner's path are filed (`child_counters`).
    filings: Vec<(String, AgencyId, Option<AgencyId>)>,
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
    /// Per agency's counters: the agency and its parent on the paths read (one version of each).
    filings: BTreeMap<String, (AgencyId, Option<AgencyId>)>,
    entries: u32,
}

impl PlacementBatch {
    /// The transaction's items with `part` added: its writes, the checks (the application's meta
    /// among them) and the counters.
    fn size_with(&self, part: &PlacementPart) -> usize {
        let checks = part.checks.iter().filter(|(key, _)| !self.checks.contains_key(key)).count();
        let counters = part.counters.iter().filter(|delta| !self.counters.contains_key(&delta.counters_pk)).count();
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
        self.filings.extend(part.filings.into_iter().map(|(pk, agency, parent)| (pk, (agency, parent))));
        for delta in part.counters {
            let sum = self.counters.entry(delta.counters_pk).or_default();
            *sum = (sum.0 + delta.at_risk, sum.1 + delta.new_since_visit);
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
        writes.push(store.check(
            keys::application_pk(app.year, &app.id),
            keys::META_SK,
            Condition::version_is(Some(app_version)),
        )?);
        for ((pk, sk), version) in self.checks {
            writes.push(store.check(pk, &sk, Condition::version_is(version))?);
        }
        for (counters_pk, (total, new)) in self.counters.clone() {
            let visit = visits.get(&(counters_pk.clone(), app.year)).copied().flatten();
            let (condition, visit_value) = match visit {
                None => ("attribute_not_exists(last_visited_at)", None),
                Some(visit) => ("last_visited_at = :visit", Some(text(keys::time(visit)))),
            };
            // Moves that cancel out (one entry in, another out) still bump the version and hold to
            // the visit: a visit racing them reads the counters again.
            // An agency's counters are filed under its parent on the path read (`child_counters`).
            let (filing, filed) = match self.filings.get(&counters_pk) {
                Some((agency, parent)) => child_counters::filing(agency, parent.as_ref(), app.year),
                None => ("", Vec::new()),
            };
            let update = Update::builder()
                .table_name(store.table())
                .key(keys::PK, text(&counters_pk))
                .key(keys::SK, text(keys::stats_sk(&counters_pk, app.year, &app.id)))
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
        tracing::debug!("an agency on an owner's path changed while being placed; placing again");
        // The agencies' counters this batch moved and filed under a parent they no longer have,
        // or moved without filing (a list the rows left): filed again by the directory as it is
        // now (`child_counters`). A rename, which changes no parent, files nothing again.
        for pk in self.counters.keys() {
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

//! Reading the at-risk lists: pages newest first, the alert count and the visit watermark.
//! Every read here is a `Query` or `GetItem` on a key and reads at most one item more than it
//! returns — but for an agency's list, which also reads the directory its rows' owners are in
//! (`Reach`), and, while a move's job is under way, reads the rows it leaves out (at most twice
//! what a page holds, then the page ends short).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::{DateTime, SubsecRound, Utc};

use super::dynamo::{Condition, Conditional, Index, SortKeys, condition_failed, number, retry_on_conflict, text};
use super::dynamo::{failed, unbuilt};
use super::items::{AgencyItem, AgentItem, Item, RiskRow, StatsItem, from_item};
use super::keys;
use super::{Store, StoreError};
use domain::Scope;
use domain::{AgencyId, AgentId, ArchivedFilter, ListCounts, ListPage, PlanYear, directory};
use ports::{self};

/// The directory's agent and agency items one request has read, each read at most once
/// (consistently): what decides an agency list's reach, and the names a list shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct DirectoryRead {
    /// `None`: not known to the directory.
    agents: HashMap<AgentId, Option<AgentItem>>,
    agencies: HashMap<AgencyId, Option<AgencyItem>>,
    /// Items read.
    pub(crate) read: i32,
}

impl DirectoryRead {
    /// Reads those of `agents` not read yet: one batch.
    async fn read_agents(&mut self, store: &Store, agents: BTreeSet<AgentId>) -> Result<(), StoreError> {
        self.read += read_unread(store, &mut self.agents, agents, keys::agent_pk, keys::AGENT_SK).await?;
        Ok(())
    }

    /// Reads those of `agencies` not read yet: one batch.
    async fn read_agencies(&mut self, store: &Store, agencies: BTreeSet<AgencyId>) -> Result<(), StoreError> {
        self.read += read_unread(store, &mut self.agencies, agencies, keys::agency_pk, keys::AGENCY_SK).await?;
        Ok(())
    }

    /// The agent's item, as read.
    fn agent(&self, agent: &AgentId) -> Option<&AgentItem> {
        self.agents.get(agent).and_then(Option::as_ref)
    }

    /// The agent's agency's item, as read.
    fn agency_of(&self, agent: &AgentId) -> Option<&AgencyItem> {
        self.agencies.get(&self.agent(agent)?.agency_id).and_then(Option::as_ref)
    }
}

/// Reads into `known` each of `wanted` not in it yet (`None`: no such item), in one batch of
/// consistent reads of the items at `pk(id)` / `sk`; returns how many items were found.
async fn read_unread<Id: Clone + Eq + std::hash::Hash, T: serde::de::DeserializeOwned>(
    store: &Store,
    known: &mut HashMap<Id, Option<T>>,
    wanted: BTreeSet<Id>,
    pk: impl Fn(&Id) -> String,
    sk: &str,
) -> Result<i32, StoreError> {
    let unread: Vec<Id> = wanted.into_iter().filter(|id| !known.contains_key(id)).collect();
    if unread.is_empty() {
        return Ok(0);
    }
    let mut found = store.get_all(unread.iter().map(|id| (pk(id), sk.to_owned())).collect()).await?;
    let read = i32::try_from(found.len()).unwrap_or(i32::MAX);
    for id in unread {
        let item = found.remove(&pk(&id)).map(from_item::<T>).transpose()?;
        known.insert(id, item);
    }
    Ok(read)
}

/// Whether rows of an agency's list are still within its reach, by the directory as it is now:
/// a row stays while its owner is an agent of an agency whose path by the parent links holds the
/// list's agency. Read consistently, so a move or an agent's change counts from the moment it is
/// accepted, though its job re-places the rows later. What it reads is kept for the request: at
/// most one read of each agent and each agency between the rows' owners and the list's agency —
/// bounded by the rows read and the tree's depth, whatever else the deployment is doing.
pub(crate) struct Reach {
    agency: AgencyId,
    /// Whether each agency is the list's agency or below it now.
    below: HashMap<AgencyId, bool>,
    pub(crate) directory: DirectoryRead,
}

impl Reach {
    pub(crate) fn of(agency: &AgencyId) -> Self {
        Self { agency: agency.clone(), below: HashMap::new(), directory: DirectoryRead::default() }
    }

    /// Which of `rows` the list still reaches (in order).
    pub(crate) async fn keeps(&mut self, store: &Store, rows: &[RiskRow]) -> Result<Vec<bool>, StoreError> {
        self.directory.read_agents(store, rows.iter().map(|row| row.agent_id.clone()).collect()).await?;
        let owners: BTreeSet<AgencyId> =
            rows.iter().filter_map(|row| Some(self.directory.agent(&row.agent_id)?.agency_id.clone())).collect();
        self.walk_up(store, owners).await?;
        Ok(rows
            .iter()
            .map(|row| match self.directory.agent(&row.agent_id) {
                Some(agent) => self.below[&agent.agency_id],
                // An agent the directory does not know has rows in their own list only.
                None => false,
            })
            .collect())
    }

    /// Decides `below` for each of `agencies`, walking the parent links up a level at a time (one
    /// batch of reads per level) until each walk meets the list's agency, a top, or a decided one.
    async fn walk_up(&mut self, store: &Store, agencies: BTreeSet<AgencyId>) -> Result<(), StoreError> {
        // Each undecided agency, with the agencies whose walk has reached it.
        let mut walks: HashMap<AgencyId, Vec<AgencyId>> =
            agencies.into_iter().filter(|a| !self.below.contains_key(a)).map(|a| (a.clone(), vec![a])).collect();
        for _ in 0..=directory::MAX_AGENCY_DEPTH {
            let mut waiting = HashMap::new();
            for (at, walkers) in walks {
                let decided = if at == self.agency { Some(true) } else { self.below.get(&at).copied() };
                match decided {
                    Some(below) => self.below.extend(walkers.into_iter().map(|w| (w, below))),
                    None => {
                        waiting.insert(at, walkers);
                    }
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            self.directory.read_agencies(store, waiting.keys().cloned().collect()).await?;
            walks = HashMap::new();
            for (at, mut walkers) in waiting {
                let parent = self.directory.agencies[&at].as_ref().and_then(|a| a.parent_agency_id.clone());
                // The agency passed is decided with the walks that passed it.
                walkers.push(at);
                match parent {
                    Some(parent) => walks.entry(parent).or_default().extend(walkers),
                    // A top (or an agency not known yet) without the list's agency above it.
                    None => self.below.extend(walkers.into_iter().map(|w| (w, false))),
                }
            }
        }
        Err(StoreError::TooDeep(self.agency.clone()))
    }
}

/// One page of a list. `next` is the position after the last row, `None` on the last page.
#[derive(Debug, Clone)]
pub struct RiskPage {
    pub rows: Vec<RiskRow>,
    pub next: Option<String>,
    /// Items DynamoDB read for this page, to prove the reads stay bounded.
    pub items_read: i32,
    /// The directory items read to decide the page's reach (an agency's list), for its names.
    pub(crate) directory: DirectoryRead,
}

impl Store {
    /// Up to `limit` rows of a list, newest at-risk first, after the position `after` (a `next`
    /// from the page before). An agency's list leaves out the rows whose owner a directory job
    /// under way has taken out of the agency's reach: reach is the directory's as it is now.
    pub async fn risk_rows(
        &self,
        scope: &Scope,
        year: PlanYear,
        filter: ArchivedFilter,
        limit: u16,
        after: Option<&str>,
    ) -> Result<RiskPage, StoreError> {
        let prefix = keys::risk_year_prefix(year);
        if after.is_some_and(|position| !position.starts_with(&prefix)) {
            return Err(StoreError::BadCursor);
        }
        let mut reach = match scope {
            Scope::Agency(agency) => Some(Reach::of(agency)),
            Scope::Agent(_) => None,
        };
        let mut items_read = 0;
        let mut rows = Vec::new();
        let mut start = after.map(|position| self.list_position(scope, filter, position));
        // One more than asked, so that `next` is only given when another row exists.
        let wanted = usize::from(limit) + 1;
        // Rows a move took out of reach are read and left out until its job re-places them: a
        // page reads at most twice what it returns, and then ends short, with `next` where it
        // stopped reading.
        let budget = 2 * i32::try_from(wanted).unwrap_or(i32::MAX);
        let mut short_at = None;
        loop {
            // Never past the budget: what is read beyond what is kept is bounded too.
            let want = i32::try_from(wanted - rows.len()).unwrap_or(i32::MAX).min(budget - items_read).max(1);
            let out = self
                .list_query(scope, &prefix, filter, want)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(failed)?;
            items_read += out.scanned_count;
            let read: Vec<RiskRow> =
                out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
            let last_read = read.last().map(|row| row.sk.clone());
            match &mut reach {
                None => rows.extend(read),
                Some(reach) => {
                    let keeps = reach.keeps(self, &read).await?;
                    rows.extend(read.into_iter().zip(keeps).filter_map(|(row, keep)| keep.then_some(row)));
                }
            }
            start = out.last_evaluated_key;
            if rows.len() >= wanted || start.is_none() {
                break;
            }
            if items_read >= budget {
                short_at = last_read;
                break;
            }
        }
        let next = if rows.len() > usize::from(limit) {
            rows.truncate(usize::from(limit));
            rows.last().map(|row| row.sk.clone())
        } else {
            short_at
        };
        let directory = reach.map(|reach| reach.directory).unwrap_or_default();
        Ok(RiskPage { rows, next, items_read, directory })
    }

    /// The rows as their list shows them: each with its owner's agent and agency as the directory
    /// has them now (read once each, or already read in `directory`), and its application's last
    /// sync, read from the applications' own items (that attribute only, eventually consistent:
    /// one batch read per 100 rows). Rows carry neither: a rename or a sync would rewrite them.
    pub(crate) async fn shown(
        &self,
        rows: Vec<RiskRow>,
        directory: &mut DirectoryRead,
    ) -> Result<Vec<domain::RiskEntry>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Synced {
            last_synced_at: Option<DateTime<Utc>>,
        }
        let pk_of = |row: &RiskRow| keys::application_pk(row.plan_year, &row.federal_exchange_id);
        let wanted: BTreeSet<String> = rows.iter().map(pk_of).collect();
        let keys = wanted.into_iter().map(|pk| (pk, keys::META_SK.to_owned())).collect();
        let found = self.get_all_eventually(keys, "pk, last_synced_at").await?;
        let mut synced = HashMap::new();
        for (pk, item) in found {
            synced.insert(pk, from_item::<Synced>(item)?.last_synced_at);
        }
        directory.read_agents(self, rows.iter().map(|row| row.agent_id.clone()).collect()).await?;
        let agencies = rows.iter().filter_map(|row| Some(directory.agent(&row.agent_id)?.agency_id.clone())).collect();
        directory.read_agencies(self, agencies).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let at = synced.get(&pk_of(&row)).copied().flatten();
                let (agent, agency) = (directory.agent(&row.agent_id), directory.agency_of(&row.agent_id));
                row.entry(at, agent, agency)
            })
            .collect())
    }

    /// The query of one list (with the archived filter's index), newest first.
    fn list_query(
        &self,
        scope: &Scope,
        prefix: &str,
        filter: ArchivedFilter,
        limit: i32,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let (index, pk) = match filter {
            ArchivedFilter::Include => (Index::Table, keys::risk_pk(scope)),
            ArchivedFilter::Exclude | ArchivedFilter::Only => {
                (Index::Gsi1, keys::risk_by_archived_gsi1pk(scope, filter == ArchivedFilter::Only))
            }
        };
        self.query(index, pk, SortKeys::Prefix(prefix.to_owned())).scan_index_forward(false).limit(limit)
    }

    /// Where to start reading a list after the row at `position`.
    fn list_position(&self, scope: &Scope, filter: ArchivedFilter, position: &str) -> Item {
        let pk = keys::risk_pk(scope);
        match filter {
            ArchivedFilter::Include => Item::from([(keys::PK.into(), text(&pk)), (keys::SK.into(), text(position))]),
            ArchivedFilter::Exclude | ArchivedFilter::Only => Item::from([
                (keys::GSI1_PK.into(), text(keys::risk_by_archived_gsi1pk(scope, filter == ArchivedFilter::Only))),
                (keys::GSI1_SK.into(), text(position)),
                (keys::PK.into(), text(&pk)),
                (keys::SK.into(), text(position)),
            ]),
        }
    }

    /// The counters kept in the item partition `counters_pk` (`AGENT#…` or `AGENCY#…`): its counter
    /// items summed (see `keys::stats_prefix`), with the visit they all carry.
    pub(crate) async fn stats_of(&self, counters_pk: &str, year: PlanYear) -> Result<StatsItem, StoreError> {
        Ok(StatsItem::sum(self.stats_items(counters_pk, year).await?.values()))
    }

    /// Each counter item of `counters_pk` for a plan year that exists, by sort key. Consistent: a
    /// placement decides "new since the visit" by the visit it reads here.
    async fn stats_items(&self, counters_pk: &str, year: PlanYear) -> Result<BTreeMap<String, StatsItem>, StoreError> {
        let mut items = BTreeMap::new();
        for item in self.query_prefix(counters_pk.to_owned(), &keys::stats_prefix(year)).await? {
            let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            items.insert(sk, from_item::<StatsItem>(item)?);
        }
        Ok(items)
    }

    /// Writes all of `updates` or none: one alone as a plain `UpdateItem` (an agent's list has one
    /// counter item, and a transaction costs twice), more in a transaction. A failed condition
    /// is `Conflict`.
    async fn write_all(&self, mut updates: Vec<Update>) -> Result<(), StoreError> {
        if updates.len() != 1 {
            return self
                .transact(updates.into_iter().map(|u| TransactWriteItem::builder().update(u).build()).collect())
                .await;
        }
        let update = updates.remove(0);
        let sent = self
            .client()
            .update_item()
            .table_name(update.table_name)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Err(StoreError::Conflict),
            Err(err) => Err(failed(err)),
        }
    }
}

impl ports::RiskLists for Store {
    /// Records that the list of `scope` was opened at `at` (kept to the microsecond like every
    /// time in a key) and starts its new-since-visit count again; returns the time recorded.
    /// Placements count an entry as new only while the visit they read stands; and the visit lands
    /// only on the counters it read (every counter item of the list, in one transaction), with a
    /// time after the last visit's, so a placement that counted an entry flagged after `at` makes
    /// the visit read again and take a later time.
    async fn record_visit(
        &self,
        scope: &Scope,
        year: PlanYear,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let pk = keys::counters_pk(scope);
        let asked = at.trunc_subsecs(6);
        let pk = &pk;
        retry_on_conflict(|attempt| async move {
            // After the first try, no earlier than now; always after the last visit.
            let mut at = if attempt > 1 { Utc::now().trunc_subsecs(6).max(asked) } else { asked };
            let read = self.stats_items(pk, year).await?;
            if let Some(last) = StatsItem::sum(read.values()).last_visited_at {
                at = at.max(last + chrono::Duration::microseconds(1));
            }
            let mut writes: Vec<Update> = Vec::new();
            for sk in keys::stats_sks(pk, year) {
                let update = Update::builder()
                    .table_name(self.table())
                    .key(keys::PK, text(pk))
                    .key(keys::SK, text(&sk))
                    .update_expression("SET last_visited_at = :at, new_since_visit = :zero ADD version :one")
                    .expression_attribute_values(":zero", number(0))
                    .expression_attribute_values(":one", number(1))
                    .expression_attribute_values(":at", text(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)));
                writes.push(
                    update
                        .when(Condition::version_is(read.get(&sk).map(|stats| stats.version)))
                        .build()
                        .map_err(unbuilt)?,
                );
            }
            self.write_all(writes).await?;
            Ok(at)
        })
        .await
    }

    async fn risk_page(
        &self,
        scope: &Scope,
        year: PlanYear,
        filter: ArchivedFilter,
        limit: u16,
        after: Option<&str>,
    ) -> Result<ListPage, StoreError> {
        let mut page = self.risk_rows(scope, year, filter, limit, after).await?;
        let entries = self.shown(page.rows, &mut page.directory).await?;
        // The list's query and the directory read for it (reach and names); not the last syncs.
        let items_read = page.items_read + page.directory.read;
        Ok(ListPage { entries, next: page.next, items_read })
    }

    async fn counts(&self, scope: &Scope, year: PlanYear) -> Result<ListCounts, StoreError> {
        Ok(self.stats_of(&keys::counters_pk(scope), year).await?.counts())
    }

    async fn top_children(
        &self,
        agency: &AgencyId,
        year: PlanYear,
        n: usize,
    ) -> Result<Vec<(domain::Agency, i64)>, StoreError> {
        self.top_children_of(agency, year, n).await
    }
}

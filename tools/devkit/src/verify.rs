//! The consistency checker (`devkit verify`, `make verify`): recomputes every at-risk list and
//! every agent's at-risk total from the authoritative state — the book entries and the directory
//! as its parent links are now — and every agency's swap patterns and conduct from the takes the
//! history records as counted, and reports each difference from what is stored and read.
//!
//! It reads the whole table (a scan: this is a tool, never a request path). A difference names
//! the list and the row by their keys and the fields by name, never a value: no personal data.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use shared::domain::ApplicationKey;
use shared::domain::MAX_AGENCY_DEPTH;
use shared::domain::{AgencyId, AgentId, BookEntry, Evidence, PlanYear};
use shared::domain::{Conduct, SwapPatterns};
use shared::ports::DueLane;
use store::Store;
use store::items::{
    AgencyItem, AgentItem, EntryItem, EvidenceItem, Item, MetaItem, Owner, RiskRow, RowFacts, StatsItem, TrailItem,
    WaiterItem, from_item,
};
use store::keys::{self, ItemKind};

use crate::DevkitError;

/// One way the stored state disagrees with what the authoritative state says it should be.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Difference {
    /// An at-risk entry has no row in a list it belongs to.
    MissingRow { list: String, row: String },
    /// A row in a list that its reader can no longer reach: its owner is no longer below it.
    OutsideReach { list: String, row: String },
    /// A row that no at-risk entry accounts for (cleared, or from an earlier at-risk spell).
    UnexpectedRow { list: String, row: String },
    /// A row whose fields are not those of its entry and owner now.
    StaleFields { list: String, row: String, fields: Vec<String> },
    /// A list's stored at-risk total (an agent's own, or an agency's tree: `list` is `AGENT#…` or
    /// `AGENCY#…`) is not the number of its visible at-risk entries.
    WrongTotal { list: String, plan_year: u16, stored: i64, expected: i64 },
    /// A list's stored new-since-visit count is not the number of those flagged after its visit.
    WrongAlertCount { list: String, plan_year: u16, stored: i64, expected: i64 },
    /// An agency's counter items are not filed under its parent as the directory has it (an
    /// admin's home would miss it, or show it in another tree).
    MisfiledCounters { list: String, plan_year: u16 },
    /// A list's counter items do not all carry its last visit (a visit sets every one, and each
    /// placement counts "new" by the visit on the item it moves).
    SplitVisit { list: String, plan_year: u16 },
    /// An agency's cached ancestors are not its path by the parent links.
    StaleAncestors { agency: String },
    /// A directory change whose rows are not all re-placed yet.
    PendingJob { item: String },
    /// The parent links of an agency do not lead to a top agency.
    Cycle { agency: String },
    /// An application's latest write is still marked unplaced (its writer died before placing it).
    Unplaced { application: String },
    /// An agency's swap patterns are not the sum of the takes recorded as counted in them.
    WrongSwapCounts { agency: String, plan_year: u16 },
    /// An agency's conduct (its own agents' takes) is not the sum of the takes recorded as
    /// counted in it.
    WrongConductCounts { agency: String, plan_year: u16 },
    /// An agent's own takes per week (what spikes are judged on) are not the sum of their takes
    /// counted into conduct.
    WrongTakerWeeks { agent: String, plan_year: u16 },
    /// A take the outbox relay let go of without counting it.
    UncountedTake { trail: String },
    /// A history item still waiting for an agent or agency the directory knows by now.
    StuckWaiting { trail: String, waits_for: String },
    /// Evidence kept under another time than its last (a sync record of an earlier release,
    /// before `devkit migrate`): a story read newest first would show it out of place.
    MisplacedEvidence { item: String },
    /// An application's item says its newest evidence is older than evidence it holds: evidence
    /// between the two would be applied as the newest (`domain::is_newest`) when it is not.
    StaleLogTime { application: String },
    /// An application's item is not in the due list as this release files it (an item of an
    /// earlier release, before `devkit migrate`): the scan would never re-sync it.
    Unfiled { application: String },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingRow { list, row } => write!(f, "missing row      {list} / {row}"),
            Self::OutsideReach { list, row } => write!(f, "outside reach    {list} / {row}"),
            Self::UnexpectedRow { list, row } => write!(f, "unexpected row   {list} / {row}"),
            Self::StaleFields { list, row, fields } => {
                write!(f, "stale fields     {list} / {row}: {}", fields.join(", "))
            }
            Self::WrongTotal { list, plan_year, stored, expected } => {
                let whose = whose(list);
                write!(f, "wrong total      {whose}, plan year {plan_year}: stored {stored}, expected {expected}")
            }
            Self::WrongAlertCount { list, plan_year, stored, expected } => {
                let whose = whose(list);
                write!(f, "wrong alert      {whose}, plan year {plan_year}: stored {stored}, expected {expected}")
            }
            Self::MisfiledCounters { list, plan_year } => {
                write!(f, "misfiled counts  {}, plan year {plan_year}", whose(list))
            }
            Self::SplitVisit { list, plan_year } => {
                write!(f, "split visit      {}, plan year {plan_year}", whose(list))
            }
            Self::StaleAncestors { agency } => write!(f, "stale ancestors  agency {agency}"),
            Self::PendingJob { item } => write!(f, "pending job      {item}"),
            Self::Cycle { agency } => write!(f, "cycle            agency {agency}"),
            Self::Unplaced { application } => write!(f, "unplaced write   {application}"),
            Self::MisplacedEvidence { item } => write!(f, "misplaced evidence {item}"),
            Self::StaleLogTime { application } => write!(f, "stale log time   {application}"),
            Self::Unfiled { application } => write!(f, "not in due list  {application}"),
            Self::WrongConductCounts { agency, plan_year } => {
                write!(f, "wrong conduct    agency {agency}, plan year {plan_year}")
            }
            Self::WrongTakerWeeks { agent, plan_year } => {
                write!(f, "wrong takes      agent {agent}, plan year {plan_year}")
            }
            Self::WrongSwapCounts { agency, plan_year } => {
                write!(f, "wrong swaps      agency {agency}, plan year {plan_year}")
            }
            Self::UncountedTake { trail } => write!(f, "uncounted take   {trail}"),
            Self::StuckWaiting { trail, waits_for } => write!(f, "stuck waiting    {trail} for {waits_for}"),
        }
    }
}

/// Everything the checker reads, sorted by kind.
/// `AGENT#bob` → `agent bob`, `AGENCY#north` → `agency north`.
fn whose(list: &str) -> String {
    match list.split_once('#') {
        Some((kind, id)) => format!("{} {id}", kind.to_lowercase()),
        None => list.to_owned(),
    }
}

#[derive(Default)]
struct Snapshot {
    agencies: HashMap<AgencyId, AgencyItem>,
    agents: HashMap<AgentId, AgentItem>,
    /// The counter items, by whose (`AGENT#…`, `AGENCY#…`) and plan year.
    totals: BTreeMap<(String, u16), Vec<StatsItem>>,
    entries: Vec<(ApplicationKey, BookEntry)>,
    /// Applications whose meta item is marked unplaced, by partition key.
    unplaced: Vec<String>,
    /// Evidence items not kept under their last time, by key.
    misplaced_evidence: Vec<String>,
    /// Applications not filed in the due list as this release files them, by partition key.
    unfiled: Vec<String>,
    /// By application partition: what its item says and what it holds (`LogTimes`).
    log_times: HashMap<String, LogTimes>,
    rows: BTreeMap<(String, String), RiskRow>,
    /// Every history item, by partition.
    trails: Vec<(String, TrailItem)>,
    /// Every history item waiting for a directory item: (that item's partition, the waiter).
    waiters: Vec<WaiterItem>,
    /// The swap-pattern counter items, by agency and plan year: its totals item and its takers'.
    swaps: BTreeMap<(AgencyId, u16), (Vec<Item>, Vec<Item>)>,
    /// The conduct counter items, by agency and plan year.
    conduct: BTreeMap<(AgencyId, u16), Vec<Item>>,
    /// An agent's own weeks of takes, by agent and plan year.
    taker_weeks: BTreeMap<(AgentId, u16), Vec<Item>>,
}

/// Whether an application's item is in the due list where the scan looks for it: its shard, a
/// key of its lane (never-synced while it has no sync, at risk or not once it has, or unknown to
/// the marketplace), and its last sync beside the keys for the pass's filter.
fn filed_in_due_list(meta: &MetaItem) -> bool {
    let id = &meta.federal_exchange_id;
    let shard = keys::sync_due_pk(meta.plan_year, keys::application_shard(id));
    let lanes = [DueLane::AtRisk, DueLane::Stale].map(|lane| keys::sync_due_sk(lane, meta.last_synced_at, id));
    let keyed =
        lanes.contains(&meta.gsi3sk) || (meta.gsi3sk.starts_with("3#") && meta.gsi3sk.ends_with(&format!("#{id}")));
    meta.gsi3pk == shard && keyed && meta.last_synced_micros == meta.last_synced_at.map(|at| at.timestamp_micros())
}

/// Every difference between the stored lists and totals and what the authoritative state says.
///
/// A scan of a live system is no single instant: a sync landing while it reads shows its meta
/// item ahead of its rows, which are placed milliseconds later. So a difference counts only when
/// it is still there in three scans, a second apart; one that is real stays.
pub async fn verify(store: &Store) -> Result<Vec<Difference>, DevkitError> {
    let mut standing: BTreeSet<Difference> = compare(&snapshot(store).await?).into_iter().collect();
    for _ in 1..SCANS {
        if standing.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let again: BTreeSet<Difference> = compare(&snapshot(store).await?).into_iter().collect();
        standing = standing.intersection(&again).cloned().collect();
    }
    Ok(standing.into_iter().collect())
}

/// How many scans a difference must be seen in.
const SCANS: usize = 3;

/// The newest time an application's item says was applied (where it says), and the newest time
/// of the evidence it holds (its items and its current sync record).
type LogTimes = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

async fn snapshot(store: &Store) -> Result<Snapshot, DevkitError> {
    let mut snapshot = Snapshot::default();
    crate::table::scan_each(store, |item| sort_item(&mut snapshot, item)).await?;
    Ok(snapshot)
}

fn sort_item(snapshot: &mut Snapshot, item: Item) -> Result<(), DevkitError> {
    let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let (pk, sk) = (key(keys::PK), key(keys::SK));
    match keys::item_kind(&pk, &sk) {
        ItemKind::RiskRow => {
            snapshot.rows.insert((pk, sk), from_item(item)?);
        }
        ItemKind::ApplicationEntry => {
            let entry: EntryItem = from_item(item)?;
            let app = ApplicationKey { id: entry.federal_exchange_id, year: entry.plan_year };
            snapshot.entries.push((app, entry.entry));
        }
        ItemKind::ApplicationMeta => {
            let meta: MetaItem = from_item(item)?;
            if meta.is_unplaced() {
                snapshot.unplaced.push(meta.pk.clone());
            }
            if !filed_in_due_list(&meta) {
                snapshot.unfiled.push(meta.pk.clone());
            }
            let times = snapshot.log_times.entry(meta.pk.clone()).or_default();
            times.0 = meta.log_last_at;
            times.1 = times.1.max(meta.sync_record.as_ref().map(Evidence::last_at));
        }
        ItemKind::Agency => {
            let agency: AgencyItem = from_item(item)?;
            snapshot.agencies.insert(agency.agency_id.clone(), agency);
        }
        ItemKind::Agent => {
            let agent: AgentItem = from_item(item)?;
            snapshot.agents.insert(agent.agent_id.clone(), agent);
        }
        ItemKind::Evidence => {
            let kept: EvidenceItem = from_item(item)?;
            if sk != keys::evidence_sk(kept.evidence.last_at(), &kept.evidence.id) {
                snapshot.misplaced_evidence.push(format!("{pk} / {sk}"));
            }
            let times = snapshot.log_times.entry(pk).or_default();
            times.1 = times.1.max(Some(kept.evidence.last_at()));
        }
        ItemKind::Waiter => snapshot.waiters.push(from_item(item)?),
        ItemKind::Trail => snapshot.trails.push((pk, from_item(item)?)),
        ItemKind::SwapTotals { agency, year } => snapshot.swaps.entry((agency, year)).or_default().0.push(item),
        ItemKind::SwapsByNpn { agency, year } => snapshot.swaps.entry((agency, year)).or_default().1.push(item),
        ItemKind::Conduct { agency, year } => snapshot.conduct.entry((agency, year)).or_default().push(item),
        ItemKind::AgentTakes { agent, year } => snapshot.taker_weeks.entry((agent, year)).or_default().push(item),
        ItemKind::Stats { year } => snapshot.totals.entry((pk, year)).or_default().push(from_item(item)?),
        ItemKind::Other => {}
    }
    Ok(())
}

/// An agency's path by its parent links, top first; an agency not known ends it. `None` when
/// the links loop.
fn path_of(agencies: &HashMap<AgencyId, AgencyItem>, agency: &AgencyId) -> Option<Vec<AgencyId>> {
    let mut path = vec![agency.clone()];
    let mut next = agencies.get(agency).and_then(|a| a.parent_agency_id.clone());
    while let Some(id) = next {
        if path.contains(&id) || path.len() > MAX_AGENCY_DEPTH {
            return None;
        }
        next = agencies.get(&id).and_then(|a| a.parent_agency_id.clone());
        path.push(id);
    }
    path.reverse();
    Some(path)
}

fn compare(snapshot: &Snapshot) -> Vec<Difference> {
    let mut differences = BTreeSet::new();

    // The directory: a tree, with its caches and jobs done.
    let mut paths = HashMap::new();
    for (id, agency) in &snapshot.agencies {
        match path_of(&snapshot.agencies, id) {
            None => {
                differences.insert(Difference::Cycle { agency: id.to_string() });
            }
            Some(path) => {
                if agency.ancestors != path[..path.len() - 1] {
                    differences.insert(Difference::StaleAncestors { agency: id.to_string() });
                }
                paths.insert(id.clone(), path);
            }
        }
        if agency.job.is_some() {
            differences.insert(Difference::PendingJob { item: keys::agency_pk(id) });
        }
    }
    for (id, agent) in &snapshot.agents {
        if agent.job.is_some() {
            differences.insert(Difference::PendingJob { item: keys::agent_pk(id) });
        }
    }
    for (application, (said, held)) in &snapshot.log_times {
        if said.is_some() && held > said {
            differences.insert(Difference::StaleLogTime { application: application.clone() });
        }
    }
    for application in &snapshot.unfiled {
        differences.insert(Difference::Unfiled { application: application.clone() });
    }
    for item in &snapshot.misplaced_evidence {
        differences.insert(Difference::MisplacedEvidence { item: item.clone() });
    }
    for application in &snapshot.unplaced {
        differences.insert(Difference::Unplaced { application: application.clone() });
    }

    // The lists and totals each entry calls for.
    let owner = |agent_id: &AgentId| match snapshot.agents.get(agent_id) {
        None => Owner::unknown(agent_id.clone()),
        Some(agent) => Owner {
            agent_id: agent_id.clone(),
            agent: Some(agent.clone()),
            path: paths.get(&agent.agency_id).cloned().unwrap_or_else(|| vec![agent.agency_id.clone()]),
            // Versions say nothing of what a row shows.
            path_versions: Vec::new(),
            moving_from: Vec::new(),
        },
    };
    let mut expected: BTreeMap<(String, String), RiskRow> = BTreeMap::new();
    // Every list's counters: the entries with a row in it that count (at risk, not archived),
    // and of those the ones flagged after the list's last visit.
    let mut expected_totals: BTreeMap<(String, u16), (i64, i64)> = BTreeMap::new();
    for (app, entry) in &snapshot.entries {
        let Some(facts) = RowFacts::of_entry(&app.id, app.year, entry) else { continue };
        for row in facts.rows(&owner(&entry.agent_id)) {
            let key = (keys::counters_pk_of_list(&row.pk).to_owned(), app.year.get());
            let visit = snapshot.totals.get(&key).and_then(|items| StatsItem::sum(items).last_visited_at);
            let shared::domain::AlertCounts { at_risk: counted, new_since_visit: new } =
                shared::domain::alert_counts(Some(entry), visit);
            let counts = expected_totals.entry(key).or_default();
            counts.0 += i64::from(counted);
            counts.1 += i64::from(new);
            expected.insert((row.pk.clone(), row.sk.clone()), row);
        }
    }

    for (key, want) in &expected {
        match snapshot.rows.get(key) {
            None => differences.insert(Difference::MissingRow { list: key.0.clone(), row: key.1.clone() }),
            Some(have) if have.shown() != *want => differences.insert(Difference::StaleFields {
                list: key.0.clone(),
                row: key.1.clone(),
                fields: differing_fields(&have.shown(), want),
            }),
            Some(_) => false,
        };
    }
    // A row no entry accounts for: outside its reader's reach when the same entry is at risk but
    // belongs to other lists now.
    let at_risk: BTreeSet<(String, String)> =
        expected.values().map(|row| (row.sk.clone(), row.agent_id.to_string())).collect();
    for (key, have) in &snapshot.rows {
        if expected.contains_key(key) {
            continue;
        }
        let (list, row) = (key.0.clone(), key.1.clone());
        let moved_away = list.starts_with(keys::RISK_AGENCY_PREFIX)
            && at_risk.contains(&(have.sk.clone(), have.agent_id.to_string()));
        differences.insert(if moved_away {
            Difference::OutsideReach { list, row }
        } else {
            Difference::UnexpectedRow { list, row }
        });
    }

    let lists: BTreeSet<&(String, u16)> = expected_totals.keys().chain(snapshot.totals.keys()).collect();
    for key in lists {
        let items = snapshot.totals.get(key).map(Vec::as_slice).unwrap_or_default();
        let stats = StatsItem::sum(items);
        let stored = (stats.at_risk_total, stats.new_since_visit);
        let visits: BTreeSet<_> = items.iter().map(|item| item.last_visited_at).collect();
        let every_item = PlanYear::parse(key.1).is_ok_and(|year| items.len() == keys::stats_sks(&key.0, year).len());
        if stats.last_visited_at.is_some() && (visits.len() > 1 || !every_item) {
            differences.insert(Difference::SplitVisit { list: key.0.clone(), plan_year: key.1 });
        }
        if let (Some(agency), Ok(year)) = (keys::agency_of_pk(&key.0), PlanYear::parse(key.1)) {
            // Filed under its parent as the directory has it; a top, or an agency not known yet,
            // not at all. An item never counted in (made by a visit alone) need not be filed.
            let parent = snapshot.agencies.get(&agency).and_then(|a| a.parent_agency_id.as_ref());
            let filed = parent.map(|p| (keys::child_stats_gsi1pk(p), keys::child_stats_gsi1sk(year, &agency)));
            let misfiled = items.iter().any(|item| {
                let counted_in = item.gsi1pk.is_some() || item.at_risk_total != 0;
                counted_in && item.gsi1pk.clone().zip(item.gsi1sk.clone()) != filed
            });
            if misfiled {
                differences.insert(Difference::MisfiledCounters { list: key.0.clone(), plan_year: key.1 });
            }
        }
        let want = expected_totals.get(key).copied().unwrap_or((0, 0));
        let (list, plan_year) = (key.0.clone(), key.1);
        if stored.0 != want.0 {
            differences.insert(Difference::WrongTotal {
                list: list.clone(),
                plan_year,
                stored: stored.0,
                expected: want.0,
            });
        }
        if stored.1 != want.1 {
            differences.insert(Difference::WrongAlertCount { list, plan_year, stored: stored.1, expected: want.1 });
        }
    }
    differences.extend(swap_differences(snapshot));
    // A waiter is written only while its item is not there, and the item's upsert releases it.
    let known = |pk: &str| {
        let (agent, agency) = (keys::agent_of_pk(pk), keys::agency_of_pk(pk));
        agent.is_some_and(|a| snapshot.agents.contains_key(&a))
            || agency.is_some_and(|a| snapshot.agencies.contains_key(&a))
    };
    for waiter in snapshot.waiters.iter().filter(|w| known(&w.pk)) {
        let trail = format!("{} / {}", waiter.trail_pk, waiter.trail_sk);
        differences.insert(Difference::StuckWaiting { trail, waits_for: waiter.pk.clone() });
    }
    // And a history item waiting though every owner it names is known to the top.
    let whole = |agent_id: &AgentId| {
        snapshot.agents.get(agent_id).is_some_and(|agent| {
            let path = paths.get(&agent.agency_id).cloned().unwrap_or_else(|| vec![agent.agency_id.clone()]);
            path.iter().all(|agency| snapshot.agencies.contains_key(agency))
        })
    };
    for (pk, trail) in &snapshot.trails {
        let waiting = trail.gsi1pk.as_deref() == Some(keys::WAITING_GSI1PK);
        if waiting && trail.records.iter().all(|r| whole(&r.agent_id)) {
            let waits_for = "nothing: its owners are known".to_owned();
            differences.insert(Difference::StuckWaiting { trail: format!("{pk} / {}", trail.sk), waits_for });
        }
    }
    differences.into_iter().collect()
}

/// Every take is counted exactly once in each agency its record names (or still waits in the
/// outbox), and every agency's swap patterns are the sum of what was counted in them.
fn swap_differences(snapshot: &Snapshot) -> Vec<Difference> {
    let mut differences = Vec::new();
    let mut expected: BTreeMap<(AgencyId, u16), SwapPatterns> = BTreeMap::new();
    let mut expected_conduct: BTreeMap<(AgencyId, u16), Conduct> = BTreeMap::new();
    let mut expected_weeks: BTreeMap<(AgentId, u16), BTreeMap<String, i64>> = BTreeMap::new();
    for (pk, trail) in &snapshot.trails {
        let Some(app) = keys::application_of(pk) else { continue };
        for (index, record) in trail.records.iter().enumerate() {
            let Some(taken) = shared::domain::take(record) else { continue };
            match trail.counted.get(&index.to_string()) {
                Some(counts) => {
                    if let (Some(taker), true) = (&taken.other_agent_id, counts.iter().any(|c| c.by_taker)) {
                        let weeks = expected_weeks.entry((taker.clone(), app.year.get())).or_default();
                        *weeks.entry(shared::domain::iso_week(taken.at)).or_default() += 1;
                    }
                    for count in counts {
                        let key = (count.agency_id.clone(), app.year.get());
                        match (&taken.other_agent_id, count.by_taker) {
                            (Some(taker), true) => {
                                expected_conduct.entry(key).or_default().add(&taken, taker, count.in_agency);
                            }
                            (None, true) => differences.push(Difference::WrongConductCounts {
                                agency: count.agency_id.to_string(),
                                plan_year: app.year.get(),
                            }),
                            (_, false) => expected.entry(key).or_default().add(&taken, count.in_agency),
                        }
                    }
                }
                None if trail.gsi1pk.is_none() => {
                    differences.push(Difference::UncountedTake { trail: format!("{pk} / {}", trail.sk) })
                }
                None => {}
            }
        }
    }
    // Who is behind an NPN is shown as last known: not a count.
    let counts_only = |mut patterns: SwapPatterns| {
        patterns.takers.iter_mut().for_each(|taker| taker.agent_id = None);
        patterns
    };
    let agencies: BTreeSet<&(AgencyId, u16)> = expected.keys().chain(snapshot.swaps.keys()).collect();
    for key in agencies {
        let stored = snapshot
            .swaps
            .get(key)
            .map(|(totals, takers)| store::outbox::swap_patterns_of(totals, takers))
            .unwrap_or_default();
        let want = expected.get(key).cloned().unwrap_or_default();
        if counts_only(stored) != counts_only(want) {
            differences.push(Difference::WrongSwapCounts { agency: key.0.to_string(), plan_year: key.1 });
        }
    }
    // Which NPN an agent took with is shown as last counted: not a count.
    let same_counts = |a: &Conduct, b: &Conduct| {
        (a.from_inside, a.from_outside, &a.weeks) == (b.from_inside, b.from_outside, &b.weeks)
            && a.agents.len() == b.agents.len()
            && a.agents.iter().zip(&b.agents).all(|(x, y)| {
                (&x.agent_id, x.from_inside, x.from_outside, &x.weeks)
                    == (&y.agent_id, y.from_inside, y.from_outside, &y.weeks)
            })
    };
    let agents: BTreeSet<&(AgentId, u16)> = expected_weeks.keys().chain(snapshot.taker_weeks.keys()).collect();
    for key in agents {
        let stored = snapshot.taker_weeks.get(key).map(|items| store::conduct::weeks_of(items)).unwrap_or_default();
        if stored != expected_weeks.get(key).cloned().unwrap_or_default() {
            differences.push(Difference::WrongTakerWeeks { agent: key.0.to_string(), plan_year: key.1 });
        }
    }
    let agencies: BTreeSet<&(AgencyId, u16)> = expected_conduct.keys().chain(snapshot.conduct.keys()).collect();
    for key in agencies {
        let stored = snapshot.conduct.get(key).map(|items| store::conduct::conduct_of(items)).unwrap_or_default();
        let want = expected_conduct.get(key).cloned().unwrap_or_default();
        if !same_counts(&stored, &want) {
            differences.push(Difference::WrongConductCounts { agency: key.0.to_string(), plan_year: key.1 });
        }
    }
    differences
}

/// The names of the fields in which two rows differ.
fn differing_fields(have: &RiskRow, want: &RiskRow) -> Vec<String> {
    let (Ok(serde_json::Value::Object(have)), Ok(serde_json::Value::Object(want))) =
        (serde_json::to_value(have), serde_json::to_value(want))
    else {
        return vec!["(unreadable)".into()];
    };
    let names: BTreeSet<&String> = have.keys().chain(want.keys()).collect();
    names.into_iter().filter(|name| have.get(*name) != want.get(*name)).cloned().collect()
}

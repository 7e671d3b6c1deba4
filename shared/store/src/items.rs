//! The items of the single table as Rust types, converted with `serde_dynamo`. Each item carries
//! its own keys, built by `keys`, so an item cannot be written under the wrong key.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::StoreError;
use super::keys;
use domain::Scope;
use domain::{
    AgencyId, AgentId, BookEntry, Email, Evidence, FederalExchangeId, HistoryRecord, Name, Npn, PlanYear, Reason, Role,
};

pub type Item = HashMap<String, AttributeValue>;

pub fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|source| StoreError::Encode(Box::new(source)))
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|source| StoreError::Decode(Box::new(source)))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyItem {
    pub pk: String,
    pub sk: String,
    pub agency_id: AgencyId,
    pub name: Name,
    pub parent_agency_id: Option<AgencyId>,
    /// Every agency above this one, the top first, as of the last move here or above (a cache of
    /// the parent links, brought up to date by the moves' jobs).
    pub ancestors: Vec<AgencyId>,
    pub agent_exports_enabled: bool,
    pub version: u64,
    /// Time of the event this item is from, and its id (`EventOrder`): an event before it,
    /// arriving late, changes nothing.
    pub as_of: DateTime<Utc>,
    #[serde(default)]
    pub as_of_event_id: String,
    /// Bumped by every event recorded without a new version (one that changed nothing): a full
    /// write holds only over the one it read, so an older event can never land after a newer one.
    #[serde(default)]
    pub seen: u64,
    /// The directory job under way for it, if any (its `from`: the ancestors before the move).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// While a job stands, the item is in the sparse index of jobs under way
    /// (`keys::MOVING_GSI1PK`): what the checker and an operator see of the jobs not done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    /// When an admin last set the agent exports switch through the API: a platform event older
    /// than that does not overturn it.
    #[serde(default)]
    pub exports_setting_as_of: Option<DateTime<Utc>>,
    /// Bumped by every change of the switch (`version` is not: no row shows it, so a switch
    /// cancels no placement); a platform upsert writes only over the one it read.
    #[serde(default)]
    pub settings_version: u64,
}

impl AgencyItem {
    /// Where the event this item is from stands among the directory's events.
    pub fn order(&self) -> domain::EventOrder {
        domain::EventOrder { time: self.as_of, event_id: self.as_of_event_id.clone() }
    }

    /// This agency and every agency above it.
    pub fn path(&self) -> Vec<AgencyId> {
        let mut path = self.ancestors.clone();
        path.push(self.agency_id.clone());
        path
    }
}

impl AgencyItem {
    /// The agency as the directory knows it, without its keys.
    pub fn agency(&self) -> domain::Agency {
        domain::Agency {
            agency_id: self.agency_id.clone(),
            name: self.name.clone(),
            parent_agency_id: self.parent_agency_id.clone(),
            agent_exports_enabled: self.agent_exports_enabled,
        }
    }
}

/// Links an agency to a child, so the downline can be walked without a scan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgencyChildItem {
    pub pk: String,
    pub sk: String,
    pub agency_id: AgencyId,
}

/// Lists an agent under their agency.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgencyMemberItem {
    pub pk: String,
    pub sk: String,
    pub agent_id: AgentId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentItem {
    pub pk: String,
    pub sk: String,
    pub agent_id: AgentId,
    pub agency_id: AgencyId,
    pub name: Name,
    pub email: Email,
    pub npn: Npn,
    pub role: Role,
    pub version: u64,
    /// Time of the event this item is from, and its id (`EventOrder`): an event before it,
    /// arriving late, changes nothing.
    pub as_of: DateTime<Utc>,
    #[serde(default)]
    pub as_of_event_id: String,
    /// Bumped by every event recorded without a new version (one that changed nothing): a full
    /// write holds only over the one it read, so an older event can never land after a newer one.
    #[serde(default)]
    pub seen: u64,
    /// The directory job under way for them, if any (its `from`: their agency path before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    /// In the index of jobs under way while a job stands (see `AgencyItem`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
}

impl AgentItem {
    /// Where the event this item is from stands among the directory's events.
    pub fn order(&self) -> domain::EventOrder {
        domain::EventOrder { time: self.as_of, event_id: self.as_of_event_id.clone() }
    }
}

impl AgentItem {
    /// The agent as the directory knows them, without their keys.
    pub fn agent(&self) -> domain::Agent {
        domain::Agent {
            agent_id: self.agent_id.clone(),
            agency_id: self.agency_id.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            npn: self.npn.clone(),
            role: self.role,
        }
    }
}

/// The mark of a directory job on the agency or agent item it is for: the rows below it are to be
/// placed again. Written with the change itself, cleared when the job is done, so a job that died
/// is finished by the event's redelivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Every agency whose list may still hold rows the job is to move: the agency path before
    /// the change, and before each earlier change whose job this one carries on (a job moves
    /// rows without rewriting their placement records, so those lists are where placements look
    /// for them until it is done). Empty for an arrival: its rows are in their own lists only.
    pub from: Vec<AgencyId>,
    /// The version of the upsert that set or carried on the mark: only its job clears it. (Other
    /// writes — a move above it, the exports switch — bump the item's version, not this.)
    pub version: u64,
    /// How far it has got: the last row of the list it placed again (it goes on from there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

impl Job {
    /// The `from` of a change made while the item stood with `path` and the job `carried` (if
    /// any) was still under way: both paths' agencies.
    pub fn from_before(carried: Option<&Job>, path: &[AgencyId]) -> Vec<AgencyId> {
        let mut from = carried.map(|job| job.from.clone()).unwrap_or_default();
        for agency in path {
            if !from.contains(agency) {
                from.push(agency.clone());
            }
        }
        from
    }

    /// The index attributes of an item bearing `job`: in the index of jobs under way, or not.
    pub fn index(job: Option<&Job>, item_pk: &str) -> (Option<String>, Option<String>) {
        match job {
            Some(_) => (Some(keys::MOVING_GSI1PK.to_owned()), Some(keys::moving_gsi1sk(item_pk))),
            None => (None, None),
        }
    }
}

/// Per agent and plan year: the at-risk count (not archived), how many of those the system
/// flagged after the last visit of the list, and that visit. Counters kept by the placements, so
/// the summary is one read whatever the size of the book.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatsItem {
    #[serde(default)]
    pub at_risk_total: i64,
    #[serde(default)]
    pub new_since_visit: i64,
    #[serde(default)]
    pub last_visited_at: Option<DateTime<Utc>>,
    /// Bumped by every change of the counters and by every visit: a visit lands only on the
    /// counters it read, so its time is never older than a count it resets.
    #[serde(default)]
    pub version: u64,
    /// Where an agency's counter item is filed: under its parent (`child_counters`), or not at
    /// all (a top, an agent's).
    #[serde(default)]
    pub gsi1pk: Option<String>,
    #[serde(default)]
    pub gsi1sk: Option<String>,
}

impl StatsItem {
    /// The counts themselves, without the version.
    pub fn counts(&self) -> domain::ListCounts {
        domain::ListCounts {
            at_risk_total: self.at_risk_total,
            new_since_visit: self.new_since_visit,
            last_visited_at: self.last_visited_at,
        }
    }

    /// A list's counters from its counter items (`keys::stats_prefix`): the counts summed, the
    /// visit they all carry (a visit sets every one), the versions summed.
    pub fn sum<'a>(items: impl IntoIterator<Item = &'a StatsItem>) -> Self {
        items.into_iter().fold(Self::default(), |sum, item| Self {
            at_risk_total: sum.at_risk_total + item.at_risk_total,
            new_since_visit: sum.new_since_visit + item.new_since_visit,
            last_visited_at: sum.last_visited_at.max(item.last_visited_at),
            version: sum.version + item.version,
            ..Self::default()
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaItem {
    pub pk: String,
    pub sk: String,
    pub federal_exchange_id: FederalExchangeId,
    pub plan_year: PlanYear,
    /// Bumped by every write to the application: the condition that serialises racing writers.
    pub version: u64,
    pub last_synced_at: Option<DateTime<Utc>>,
    /// How many times in a row the marketplace did not know the application (404): the scan asks
    /// again after a delay growing with it. Any write of new evidence starts it again.
    #[serde(default)]
    pub unknown_count: u32,
    /// How many times in a row the scan failed to place this version's write (it is set aside for
    /// longer after each, see `unplaced::retry_after`). A new write starts it again.
    #[serde(default)]
    pub unplaced_failures: u32,
    /// The last sync as a number (`keys::LAST_SYNCED_MICROS`): the due list's filter compares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_micros: Option<i64>,
    /// Its place in the due list (`keys::sync_due_pk`, `keys::sync_due_sk`); empty in an item of
    /// a release before 2026-12-08 until `devkit migrate` files it there.
    #[serde(default)]
    pub gsi3pk: String,
    #[serde(default)]
    pub gsi3sk: String,
    /// Set (`UNPLACED`) by a write whose outcome is still to be placed; the placement of this
    /// version removes it. Its sort key is the write's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    /// The current sync record (`domain::record_evidence`): the syncs that gave the same answer
    /// in a row, kept here so that a quiet sync writes this one item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_record: Option<Evidence>,
    /// The newest time of any evidence applied (`None` in items of releases before
    /// 2026-12-07): evidence later than it is applied to the entries alone, unread the log
    /// (`domain::is_newest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_last_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvidenceItem {
    pub pk: String,
    pub sk: String,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EntryItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub federal_exchange_id: FederalExchangeId,
    pub plan_year: PlanYear,
    pub entry: BookEntry,
}

/// What one piece of evidence changed: one record per entry, in one item, so that the write of
/// an evidence holds one history item however many books it touches.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrailItem {
    pub pk: String,
    pub sk: String,
    pub records: Vec<HistoryRecord>,
    /// In its part of the outbox (`keys::outbox_gsi1pk`) while a change of at-risk state among the records
    /// is still to be published and counted (`store::outbox`); the relay takes the mark off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    /// The swap-pattern counts each record's take went into, by the record's index: written with
    /// the counts, so a take is counted once and the checker can add them up.
    #[serde(default)]
    pub counted: std::collections::BTreeMap<String, Vec<ports::CountedTake>>,
}

/// A history item waiting, out of the outbox, for the directory item whose partition this is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiterItem {
    pub pk: String,
    pub sk: String,
    pub trail_pk: String,
    pub trail_sk: String,
}

/// One at-risk entry as it appears in one list (an agent's or an agency's): what the entry says,
/// and nothing of its owner but their id. A list joins the owner's name, email and agency from
/// the directory as it is when read (`risk_lists`), and the application's last sync from its item:
/// a rename, a move that keeps a list, or a sync would otherwise rewrite every row they touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskRow {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub scope: Scope,
    pub federal_exchange_id: FederalExchangeId,
    pub plan_year: PlanYear,
    pub client_name: Name,
    pub at_risk_since: DateTime<Utc>,
    pub flagged_at: DateTime<Utc>,
    pub reason: Reason,
    pub other_npn: Option<Npn>,
    pub archived: bool,
    pub agent_id: AgentId,
    /// Bumped by every write of the row, from 1 (0: a row written before rows carried their
    /// counts, `NewAgainst`): a placement writes or deletes a row only while it is as read.
    #[serde(default)]
    pub version: u64,
    /// Present while the row counts in its list's count of entries new since the last visit:
    /// the visit that was decided against. A later visit set that count to zero, so the row
    /// counts there no more. (Whether it counts in the at-risk total, the row says: not archived.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_against: Option<NewAgainst>,
}

/// The visit of its list a row was counted new against (`None`: the list had none yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAgainst {
    pub visit: Option<DateTime<Utc>>,
}

impl RiskRow {
    /// Its key in the table.
    pub fn key(&self) -> crate::placement::RowKey {
        crate::placement::RowKey { pk: self.pk.clone(), sk: self.sk.clone() }
    }

    /// The row without what only its placement reads (its version and what it counts): what
    /// the entry says in its list, to compare with what it should say.
    pub fn shown(&self) -> Self {
        Self { version: 0, new_against: None, ..self.clone() }
    }

    /// The entry as its list shows it, without keys: with its application's last sync and its
    /// owner's agent and agency items as read now (`None`: not known, or not asked for).
    pub fn entry(
        self,
        last_synced_at: Option<DateTime<Utc>>,
        agent: Option<&AgentItem>,
        agency: Option<&AgencyItem>,
    ) -> domain::RiskEntry {
        domain::RiskEntry {
            scope: self.scope,
            federal_exchange_id: self.federal_exchange_id,
            plan_year: self.plan_year,
            client_name: self.client_name,
            last_synced_at,
            at_risk_since: self.at_risk_since,
            listed_at: self.flagged_at,
            reason: self.reason,
            other_npn: self.other_npn,
            archived: self.archived,
            agent_id: self.agent_id,
            agent_name: agent.map(|a| a.name.clone()),
            agent_email: agent.map(|a| a.email.clone()),
            agency_id: agent.map(|a| a.agency_id.clone()),
            agency_name: agency.map(|a| a.name.clone()),
        }
    }
}

/// Who owns an entry, as far as the directory knows: the lists their rows belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub agent_id: AgentId,
    pub agent: Option<AgentItem>,
    /// The agent's agency and every agency above it, top first, as the parent links are now
    /// (`Store::agency_path`); empty while the agent is not known.
    pub path: Vec<AgencyId>,
    /// The version of each agency on `path` as read (`None`: not known yet): a placement holds
    /// only while they stand.
    pub path_versions: Vec<Option<u64>>,
    /// The agencies whose lists may still hold rows of the agent's entries while a directory
    /// job on the agent or on an agency of the path is under way: the jobs' `from`.
    pub moving_from: Vec<AgencyId>,
}

impl Owner {
    /// An agent the directory does not know (yet): their rows are in their own list only.
    pub fn unknown(agent_id: AgentId) -> Self {
        Self { agent_id, agent: None, path: Vec::new(), path_versions: Vec::new(), moving_from: Vec::new() }
    }

    /// The directory item (its key) still to arrive before the agent's agency path is whole: the
    /// agent's, or the first agency on the path the directory does not know yet. `None` once the
    /// path is known to its top.
    pub fn missing(&self) -> Option<domain::DirectoryEntry> {
        if self.agent.is_none() {
            return Some(domain::DirectoryEntry::Agent(self.agent_id.clone()));
        }
        let unknown = self.path.iter().zip(&self.path_versions).find(|(_, version)| version.is_none());
        unknown.map(|(agency, _)| domain::DirectoryEntry::Agency(agency.clone()))
    }

    /// The owner as the directory knows them, without keys or versions.
    pub fn entry_owner(self) -> domain::EntryOwner {
        let waiting_for = self.missing();
        domain::EntryOwner {
            agent_id: self.agent_id,
            agent: self.agent.map(|a| a.agent()),
            path: self.path,
            waiting_for,
        }
    }

    /// Each agency on the path, by its counters' partition, with its parent on the path (`None`:
    /// the top as known): where its counter items are filed (`child_counters`).
    pub fn filings(&self) -> Vec<(String, AgencyId, Option<AgencyId>)> {
        let parents = std::iter::once(None).chain(self.path.iter().map(Some));
        self.path
            .iter()
            .zip(parents)
            .map(|(agency, parent)| (keys::agency_pk(agency), agency.clone(), parent.cloned()))
            .collect()
    }

    /// The agent's own list, their agency's, and every upline agency's.
    pub fn scopes(&self) -> Vec<Scope> {
        let mut scopes = vec![Scope::Agent(self.agent_id.clone())];
        scopes.extend(self.path.iter().cloned().map(Scope::Agency));
        scopes
    }
}

/// What a row says about its entry, whichever list it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowFacts {
    pub federal_exchange_id: FederalExchangeId,
    pub plan_year: PlanYear,
    pub agent_id: AgentId,
    pub client_name: Name,
    pub at_risk_since: DateTime<Utc>,
    pub flagged_at: DateTime<Utc>,
    pub reason: Reason,
    pub other_npn: Option<Npn>,
    pub archived: bool,
}

impl RowFacts {
    /// `None` when the entry is not at risk: it then has no rows.
    pub fn of_entry(id: &FederalExchangeId, year: PlanYear, entry: &BookEntry) -> Option<Self> {
        let risk = entry.risk.as_ref()?;
        Some(Self {
            federal_exchange_id: id.clone(),
            plan_year: year,
            agent_id: entry.agent_id.clone(),
            client_name: entry.client_name.clone(),
            at_risk_since: risk.since,
            flagged_at: risk.flagged_at,
            reason: risk.reason,
            other_npn: risk.other_npn.clone(),
            archived: entry.archived,
        })
    }

    /// What `row` says of its entry: the same in every list it is in.
    pub fn of_row(row: &RiskRow) -> Self {
        Self {
            federal_exchange_id: row.federal_exchange_id.clone(),
            plan_year: row.plan_year,
            agent_id: row.agent_id.clone(),
            client_name: row.client_name.clone(),
            at_risk_since: row.at_risk_since,
            flagged_at: row.flagged_at,
            reason: row.reason,
            other_npn: row.other_npn.clone(),
            archived: row.archived,
        }
    }

    /// The row of this entry in one list.
    pub fn row(&self, scope: Scope) -> RiskRow {
        let pk = keys::risk_pk(&scope);
        let sk = keys::risk_sk(self.plan_year, self.flagged_at, &self.agent_id, &self.federal_exchange_id);
        RiskRow {
            gsi1pk: keys::risk_by_archived_gsi1pk(&scope, self.archived),
            gsi1sk: sk.clone(),
            pk,
            sk,
            scope,
            federal_exchange_id: self.federal_exchange_id.clone(),
            plan_year: self.plan_year,
            client_name: self.client_name.clone(),
            at_risk_since: self.at_risk_since,
            flagged_at: self.flagged_at,
            reason: self.reason,
            other_npn: self.other_npn.clone(),
            archived: self.archived,
            agent_id: self.agent_id.clone(),
            version: 0,
            new_against: None,
        }
    }

    /// The rows of this entry in every list its owner's rows belong to.
    pub fn rows(&self, owner: &Owner) -> Vec<RiskRow> {
        owner.scopes().into_iter().map(|scope| self.row(scope)).collect()
    }
}

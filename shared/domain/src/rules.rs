//! The at-risk rules of SPEC §3 as pure functions.
//!
//! The book entries of an application are a *projection* of its evidence: `project` replays the
//! evidence in time order (ties broken by evidence id), so the same set of evidence gives the same
//! entries whatever order it arrived in and however often. `apply` adds one piece of evidence to
//! what is stored and says which entries changed; the history keeps every change of at-risk state.
//!
//! An entry holds only what its evidence decides: not when the application was last synced
//! (`last_synced_at` of the log), so that a sync that changes nothing changes no entry.
//!
//! Replaying, rather than patching the stored state with each event, is what makes late evidence
//! right: a submission that arrives after a newer sync is placed before that sync, so the sync,
//! being newer, still decides.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::evidence::{Evidence, Fact, Policy};
use super::values::{AgencyId, AgentId, EvidenceId, Name, Npn};

/// One application in one agent's book, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookEntry {
    pub agent_id: AgentId,
    /// The NPN with which the owner last submitted the application.
    pub expected_npn: Npn,
    pub client_name: Name,
    pub risk: Option<Risk>,
    pub archived: bool,
}

impl BookEntry {
    pub fn is_at_risk(&self) -> bool {
        self.risk.is_some()
    }
}

/// What an entry adds to its agent's alert counters: whether it counts in the at-risk total (at
/// risk and not archived), and whether as new since the agent's last visit `visit` — flagged by
/// this system after it (by when it was flagged, not by the evidence's time, so evidence that
/// arrives late with an old time still shows as new).
pub fn alert_counts(entry: Option<&BookEntry>, visit: Option<DateTime<Utc>>) -> AlertCounts {
    let at_risk = entry.is_some_and(|e| e.is_at_risk() && !e.archived);
    let flagged_at = entry.and_then(|e| e.risk.as_ref()).map(|risk| risk.flagged_at);
    let new_since_visit = at_risk && flagged_at.is_some_and(|at| flagged_since(at, visit));
    AlertCounts { at_risk, new_since_visit }
}

/// Whether an entry flagged at `flagged_at` is new since the visit `visit` (`None`: no visit yet).
pub fn flagged_since(flagged_at: DateTime<Utc>, visit: Option<DateTime<Utc>>) -> bool {
    visit.is_none_or(|visit| flagged_at > visit)
}

/// Where an entry counts in a list's alert counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertCounts {
    /// In the at-risk total.
    pub at_risk: bool,
    /// In the count of entries new since the last visit.
    pub new_since_visit: bool,
}

/// Why and since when an entry is at risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    /// Time of the evidence that started the current at-risk spell.
    pub since: DateTime<Utc>,
    /// When the system flagged it: this, not `since`, counts for the alert indicator, so that
    /// evidence arriving late with an old time still shows as new.
    pub flagged_at: DateTime<Utc>,
    pub reason: Reason,
    /// The NPN that holds, or claimed, the AOR; `None` when the marketplace shows no AOR.
    pub other_npn: Option<Npn>,
    /// The agent behind `other_npn`, where known.
    pub other_agent_id: Option<AgentId>,
    /// Whether that agent is in the owner's agency, where both are known.
    pub other_agent_same_agency: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    PlatformSubmission,
    MarketplaceAorMismatch,
    EdePermissionRevoked,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformSubmission => "platform_submission",
            Self::MarketplaceAorMismatch => "marketplace_aor_mismatch",
            Self::EdePermissionRevoked => "ede_permission_revoked",
        }
    }
}

/// The agency of each agent the rules may meet, to tell a swap inside the agency from one across
/// agencies. Agents missing from it are simply "not known".
pub type AgencyOf = HashMap<AgentId, AgencyId>;

/// What one piece of evidence did to one entry, kept so that nothing changes without a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub agent_id: AgentId,
    pub recorded_at: DateTime<Utc>,
    pub evidence_id: EvidenceId,
    pub before: Option<BookEntry>,
    pub after: Option<BookEntry>,
}

/// The result of applying evidence to an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Every entry of the application after the evidence, by agent.
    pub entries: BTreeMap<AgentId, BookEntry>,
    /// One record per entry that changed (created, updated or removed).
    pub changes: Vec<HistoryRecord>,
    /// The changes of at-risk state among them (and entries made or removed): what is kept.
    pub history: Vec<HistoryRecord>,
}

impl HistoryRecord {
    /// Whether the entry came, went, or its at-risk state (whether, since when, why, by whom)
    /// changed: what the history keeps. An archive flag or a new client name is not.
    pub fn changes_risk(&self) -> bool {
        match (&self.before, &self.after) {
            (Some(before), Some(after)) => before.risk != after.risk,
            _ => true,
        }
    }
}

/// When the application was last synced: the newest sync in its log.
pub fn last_synced_at(log: &[Evidence]) -> Option<DateTime<Utc>> {
    log.iter().filter(|e| matches!(e.fact, Fact::Synced { .. })).map(Evidence::last_at).max()
}

/// Applies `evidence` to an application whose evidence so far is `log` and whose entries as stored
/// are `stored`. Returns `None` when the evidence is already in the log: the same event twice
/// changes nothing the second time.
pub fn apply(
    log: &[Evidence],
    stored: &BTreeMap<AgentId, BookEntry>,
    evidence: &Evidence,
    agencies: &AgencyOf,
    now: DateTime<Utc>,
) -> Option<Applied> {
    if log.iter().any(|known| known.holds(evidence)) {
        return None;
    }
    let mut full_log = log.to_vec();
    full_log.push(evidence.clone());
    Some(changed(stored, project(&full_log, agencies, now), evidence, now))
}

/// Whether `evidence` can be applied to the entries alone (`apply_newest`): a single sync later
/// than every time of the log applied so far, whose newest time is `log_last_at`. Replaying the
/// log would end with it, from the entries as they stand. Only a sync: its id is minted for it,
/// so it cannot be in the log already (`apply` knows a platform event sent again by its id,
/// whatever its time, and needs the log for that).
pub fn is_newest(evidence: &Evidence, log_last_at: Option<DateTime<Utc>>) -> bool {
    let single_sync = matches!(&evidence.fact, Fact::Synced { again, .. } if again.is_empty());
    single_sync && log_last_at.is_some_and(|last| evidence.at > last)
}

/// Whether `apply_newest` of `evidence` looks at whose agency the owners are in. Only a verdict
/// against an entry does (was the other agent of the same agency?): a sync that shows every
/// entry's own NPN as the AOR gives the same outcome with no agencies known, so the apply need
/// not read the directory for it. Nearly every sync is that one.
pub fn needs_agencies(stored: &BTreeMap<AgentId, BookEntry>, evidence: &Evidence) -> bool {
    match &evidence.fact {
        Fact::Synced { policies, .. } => {
            stored.values().any(|entry| foreign_aor(policies, &entry.expected_npn).is_some())
        }
        _ => true,
    }
}

/// What `apply` gives for evidence that `is_newest`, from the entries `stored` (what the log
/// made) without the log: the last step of the replay. A sync judges every entry afresh, so
/// nothing earlier evidence decided beyond the entries plays a part.
pub fn apply_newest(
    stored: &BTreeMap<AgentId, BookEntry>,
    evidence: &Evidence,
    agencies: &AgencyOf,
    now: DateTime<Utc>,
) -> Applied {
    let mut entries = stored.clone();
    step(&mut entries, evidence.at, &evidence.fact, agencies, now);
    changed(stored, entries, evidence, now)
}

/// The outcome of `evidence` that made `entries` of the `stored` ones: what changed, and the
/// changes of at-risk state the history keeps.
fn changed(
    stored: &BTreeMap<AgentId, BookEntry>,
    mut entries: BTreeMap<AgentId, BookEntry>,
    evidence: &Evidence,
    now: DateTime<Utc>,
) -> Applied {
    keep_flag_times(&mut entries, stored);
    let mut changes = Vec::new();
    let agents = stored.keys().chain(entries.keys()).collect::<std::collections::BTreeSet<_>>();
    for agent_id in agents {
        let before = stored.get(agent_id);
        let after = entries.get(agent_id);
        if before != after {
            changes.push(HistoryRecord {
                agent_id: agent_id.clone(),
                recorded_at: now,
                evidence_id: evidence.id.clone(),
                before: before.cloned(),
                after: after.cloned(),
            });
        }
    }
    let history = changes.iter().filter(|change| change.changes_risk()).cloned().collect();
    Applied { entries, changes, history }
}

/// A risk that was already flagged keeps its flag time; only a new spell is flagged `now` — and
/// late evidence that only moves the start of a spell to the same NPN is not a new one (it would
/// otherwise count as new again and be named in a second digest).
fn keep_flag_times(entries: &mut BTreeMap<AgentId, BookEntry>, stored: &BTreeMap<AgentId, BookEntry>) {
    for (agent_id, entry) in entries.iter_mut() {
        let stored_risk = stored.get(agent_id).and_then(|e| e.risk.as_ref());
        if let (Some(risk), Some(stored_risk)) = (entry.risk.as_mut(), stored_risk)
            && (risk.since == stored_risk.since || risk.other_npn == stored_risk.other_npn)
        {
            risk.flagged_at = stored_risk.flagged_at;
        }
    }
}

/// Replays the evidence of one application in time order and returns its book entries. Every new
/// at-risk spell is flagged at `now`.
/// A sync record is replayed once for each of its times, as the syncs it records were.
pub fn project(log: &[Evidence], agencies: &AgencyOf, now: DateTime<Utc>) -> BTreeMap<AgentId, BookEntry> {
    let mut ordered: Vec<(DateTime<Utc>, (u8, String), &Fact)> =
        log.iter().flat_map(|e| e.times().map(move |at| (at, e.tiebreak(), &e.fact))).collect();
    ordered.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    ordered.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);

    let mut entries: BTreeMap<AgentId, BookEntry> = BTreeMap::new();
    for (at, _, fact) in ordered {
        step(&mut entries, at, fact, agencies, now);
    }
    entries
}

/// One step of the replay: `fact`, at `at`, applied to the entries it finds.
fn step(
    entries: &mut BTreeMap<AgentId, BookEntry>,
    at: DateTime<Utc>,
    fact: &Fact,
    agencies: &AgencyOf,
    now: DateTime<Utc>,
) {
    match fact {
        Fact::Submitted { agent_id, npn, client_name } => {
            submitted(entries, agent_id, npn, client_name);
            for entry in entries.values_mut() {
                entry.client_name = client_name.clone();
            }
            // Whatever NPN the application was submitted under now holds the AOR.
            let holder = |expected: &Npn| (expected != npn).then(|| Some(npn.clone()));
            let verdicts = verdicts(entries, holder, Reason::PlatformSubmission, Some(agent_id), agencies);
            settle(entries, verdicts, at, now);
        }
        Fact::Synced { policies, .. } => {
            let holder = |expected: &Npn| foreign_aor(policies, expected);
            let verdicts = verdicts(entries, holder, Reason::MarketplaceAorMismatch, None, agencies);
            settle(entries, verdicts, at, now);
        }
        Fact::ArchiveSet { agent_id, archived } => {
            if let Some(entry) = entries.get_mut(agent_id) {
                entry.archived = *archived;
            }
        }
        Fact::PermissionRevoked { agent_id } => {
            // That agent's entry only (SPEC §3, rule 3): at risk until a later submission under
            // its NPN or a sync showing it as the AOR.
            let revoked = Verdict {
                reason: Reason::EdePermissionRevoked,
                other_npn: None,
                other_agent_id: None,
                other_agent_same_agency: None,
            };
            settle(entries, vec![(agent_id.clone(), Some(revoked))], at, now);
        }
    }
}

/// Who gets (or keeps) a book entry from a submission (SPEC §3, last paragraph).
fn submitted(entries: &mut BTreeMap<AgentId, BookEntry>, agent_id: &AgentId, npn: &Npn, client_name: &Name) {
    if let Some(own) = entries.get_mut(agent_id) {
        own.expected_npn = npn.clone();
        return;
    }
    let servicing_someone_else = entries.values().any(|entry| &entry.expected_npn == npn);
    if !servicing_someone_else {
        entries.insert(
            agent_id.clone(),
            BookEntry {
                agent_id: agent_id.clone(),
                expected_npn: npn.clone(),
                client_name: client_name.clone(),
                risk: None,
                archived: false,
            },
        );
    }
}

/// A potential swap found for one entry, before `settle` decides its `since`.
struct Verdict {
    reason: Reason,
    other_npn: Option<Npn>,
    other_agent_id: Option<AgentId>,
    other_agent_same_agency: Option<bool>,
}

/// For every entry: `Some` verdict when the evidence shows an AOR other than its expected NPN.
/// `holder` says which NPN the evidence shows to an entry expecting a given NPN: `Some(Some(npn))`
/// another NPN, `Some(None)` no AOR at all, `None` no conflict. `actor` is the agent who acted,
/// when the evidence names one.
fn verdicts(
    entries: &BTreeMap<AgentId, BookEntry>,
    holder: impl Fn(&Npn) -> Option<Option<Npn>>,
    reason: Reason,
    actor: Option<&AgentId>,
    agencies: &AgencyOf,
) -> Vec<(AgentId, Option<Verdict>)> {
    entries
        .values()
        .map(|entry| {
            let verdict = holder(&entry.expected_npn).map(|other_npn| {
                // Without an actor, an NPN that is another entry's expected NPN names its agent.
                let other_agent_id = actor.cloned().or_else(|| {
                    let npn = other_npn.as_ref()?;
                    entries
                        .values()
                        .find(|other| &other.expected_npn == npn && other.agent_id != entry.agent_id)
                        .map(|other| other.agent_id.clone())
                });
                let other_agent_same_agency =
                    other_agent_id.as_ref().and_then(|other| same_agency(agencies, &entry.agent_id, other));
                Verdict { reason, other_npn, other_agent_id, other_agent_same_agency }
            });
            (entry.agent_id.clone(), verdict)
        })
        .collect()
}

/// A sync conflicts with an expected NPN when any active policy shows another NPN or none.
fn foreign_aor(policies: &[Policy], expected: &Npn) -> Option<Option<Npn>> {
    policies
        .iter()
        .filter(|policy| policy.status.is_active())
        .find(|policy| policy.aor_npn.as_ref() != Some(expected))
        .map(|policy| policy.aor_npn.clone())
}

fn same_agency(agencies: &AgencyOf, owner: &AgentId, other: &AgentId) -> Option<bool> {
    Some(agencies.get(owner)? == agencies.get(other)?)
}

/// Newest evidence wins: each entry takes the verdict of the evidence at `at`. An entry already at
/// risk stays at risk since the start of its spell; the details follow the newest evidence.
fn settle(
    entries: &mut BTreeMap<AgentId, BookEntry>,
    verdicts: Vec<(AgentId, Option<Verdict>)>,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    for (agent_id, verdict) in verdicts {
        let Some(entry) = entries.get_mut(&agent_id) else { continue };
        entry.risk = verdict.map(|verdict| {
            let since = entry.risk.as_ref().map_or(at, |risk| risk.since);
            Risk {
                since,
                flagged_at: now,
                reason: verdict.reason,
                other_npn: verdict.other_npn,
                other_agent_id: verdict.other_agent_id,
                other_agent_same_agency: verdict.other_agent_same_agency,
            }
        });
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;

//! Evidence about who holds the AOR of one application (SPEC §3): platform submissions,
//! marketplace syncs, and the archive flags agents set on their own book entries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{AgentId, EvidenceId, Name, Npn};

/// One piece of evidence about one application, at the time it happened. Its id makes a
/// redelivery recognisable; its time orders it among the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub id: EvidenceId,
    pub at: DateTime<Utc>,
    pub fact: Fact,
}

impl Evidence {
    /// Evidence is applied in this order whatever order it arrived in: by time; at the same time
    /// the platform's evidence before a marketplace answer, ties among them broken by id, among
    /// answers by the answer — never by a sync's id, which a sync record does not keep for each
    /// of its times — so that the order is total and the same however syncs were recorded.
    pub fn order_key(&self) -> (DateTime<Utc>, u8, String) {
        let (class, tiebreak) = self.tiebreak();
        (self.at, class, tiebreak)
    }

    /// The order among evidence of the same time (see `order_key`).
    pub fn tiebreak(&self) -> (u8, String) {
        match &self.fact {
            Fact::Synced { policies, .. } => (1, answer_key(policies)),
            _ => (0, self.id.as_str().to_owned()),
        }
    }

    /// Every time this evidence was seen: its own, and for a sync record the times the same
    /// answer came again.
    pub fn times(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let again = match &self.fact {
            Fact::Synced { again, .. } => again.as_slice(),
            _ => &[],
        };
        std::iter::once(self.at).chain(again.iter().copied())
    }

    /// The last time this evidence was seen.
    pub fn last_at(&self) -> DateTime<Utc> {
        self.times().max().unwrap_or(self.at)
    }

    /// Whether this evidence already holds `other`: the same evidence, or a sync with the same
    /// answer at the same time (one of a sync record's times) — a redelivery either way.
    pub fn holds(&self, other: &Evidence) -> bool {
        if self.id == other.id {
            return true;
        }
        match (&self.fact, &other.fact) {
            (Fact::Synced { policies, .. }, Fact::Synced { policies: asked, .. }) => {
                policies == asked && self.times().any(|t| t == other.at)
            }
            _ => false,
        }
    }

    /// This sync record with `sync` added, when `sync` gave the same answer and the record has
    /// room: the record of a run of identical syncs, one item however long the run (its times
    /// kept, so the rules replay each). `None` when `sync` is not one more of the same.
    pub fn with_sync(&self, sync: &Evidence) -> Option<Evidence> {
        let (Fact::Synced { policies, again }, Fact::Synced { policies: answer, again: more }) =
            (&self.fact, &sync.fact)
        else {
            return None;
        };
        if policies != answer || again.len() + 1 + more.len() > MAX_SYNCS_IN_RECORD - 1 || self.holds(sync) {
            return None;
        }
        let mut times: Vec<DateTime<Utc>> = self.times().chain(sync.times()).collect();
        times.sort();
        times.dedup();
        let (first, again) = times.split_first()?;
        // The record keeps its first id: it is named by its first sync.
        let id = if *first == sync.at && sync.at < self.at { sync.id.clone() } else { self.id.clone() };
        Some(Evidence { id, at: *first, fact: Fact::Synced { policies: policies.clone(), again: again.to_vec() } })
    }
}

/// A marketplace answer as one text, every field in full: what orders (and tells apart) answers of
/// the same time.
fn answer_key(policies: &[Policy]) -> String {
    let policy = |p: &Policy| {
        let status = match p.status {
            PolicyStatus::Pending => "pending",
            PolicyStatus::Effectuated => "effectuated",
            PolicyStatus::Cancelled => "cancelled",
            PolicyStatus::Terminated => "terminated",
        };
        format!("{}\u{1f}{status}\u{1f}{}", p.policy_id, p.aor_npn.as_ref().map_or("", Npn::as_str))
    };
    policies.iter().map(policy).collect::<Vec<_>>().join("\u{1e}")
}

/// The most syncs one sync record holds (its times must stay within one small item): a record
/// full, the next identical sync starts another.
pub const MAX_SYNCS_IN_RECORD: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fact {
    /// An agent submitted the application on the platform under `npn`.
    Submitted { agent_id: AgentId, npn: Npn, client_name: Name },
    /// The marketplace answered a sync with these policies. A failed sync is not evidence. `again`:
    /// the later times it gave the same answer (a sync record, see `Evidence::with_sync`), kept
    /// as nanoseconds so that a record of many stays small.
    Synced {
        policies: Vec<Policy>,
        #[serde(default, skip_serializing_if = "Vec::is_empty", with = "nanos")]
        again: Vec<DateTime<Utc>>,
    },
    /// An agent archived (or unarchived) the application in their own book.
    ArchiveSet { agent_id: AgentId, archived: bool },
    /// The platform reports that the agent's enhanced direct enrollment (EDE) permission on the
    /// application was revoked: it usually means another agent worked the enrollment.
    PermissionRevoked { agent_id: AgentId },
}

/// One policy of the application as the marketplace reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub policy_id: String,
    pub status: PolicyStatus,
    /// `None` when the marketplace shows no AOR at all, which puts the entry at risk too.
    pub aor_npn: Option<Npn>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyStatus {
    Pending,
    Effectuated,
    Cancelled,
    Terminated,
}

impl PolicyStatus {
    /// Cancelled and terminated policies pay no commission, so their AOR does not matter.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Pending | Self::Effectuated)
    }
}

/// How an application keeps `evidence`, given its current sync record: the record it keeps next
/// (in the application's own item, rewritten with every write) and the evidence to keep as items
/// of their own. A sync with the record's answer joins it — a quiet sync adds no item; a newer
/// sync with another answer starts the next record and the current one becomes an item; a late
/// sync with another answer, and any other evidence, is an item. Replay does not depend on how
/// syncs were grouped (`Evidence::times`, `Evidence::order_key`).
pub fn record_evidence(record: Option<&Evidence>, evidence: &Evidence) -> (Option<Evidence>, Vec<Evidence>) {
    if !matches!(evidence.fact, Fact::Synced { .. }) {
        return (record.cloned(), vec![evidence.clone()]);
    }
    match record {
        None => (Some(evidence.clone()), Vec::new()),
        Some(record) => match record.with_sync(evidence) {
            Some(joined) => (Some(joined), Vec::new()),
            None if evidence.at >= record.last_at() => (Some(evidence.clone()), vec![record.clone()]),
            None => (Some(record.clone()), vec![evidence.clone()]),
        },
    }
}

/// Why the marketplace could not be asked. Carries no evidence: a failed sync changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFailed;

/// Turns the outcome of a marketplace call into evidence: a failed sync gives none.
pub fn sync_evidence(id: EvidenceId, at: DateTime<Utc>, outcome: Result<Vec<Policy>, SyncFailed>) -> Option<Evidence> {
    let policies = outcome.ok()?;
    Some(Evidence { id, at, fact: Fact::Synced { policies, again: Vec::new() } })
}

/// Times as nanoseconds since the epoch: a number of 19 digits where a text takes 30 bytes.
mod nanos {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer, ser::Error};

    pub fn serialize<S: Serializer>(times: &[DateTime<Utc>], serializer: S) -> Result<S::Ok, S::Error> {
        let nanos: Vec<i64> = times
            .iter()
            .map(|t| t.timestamp_nanos_opt().ok_or_else(|| S::Error::custom("a time beyond 2262")))
            .collect::<Result<_, _>>()?;
        serializer.collect_seq(nanos)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<DateTime<Utc>>, D::Error> {
        Ok(Vec::<i64>::deserialize(deserializer)?.into_iter().map(DateTime::from_timestamp_nanos).collect())
    }
}

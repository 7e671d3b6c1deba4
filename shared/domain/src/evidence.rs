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
    /// Evidence is applied in this order whatever order it arrived in: by time, ties broken by id
    /// so that the order is total.
    pub fn order_key(&self) -> (DateTime<Utc>, &EvidenceId) {
        (self.at, &self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fact {
    /// An agent submitted the application on the platform under `npn`.
    Submitted { agent_id: AgentId, npn: Npn, client_name: Name },
    /// The marketplace answered a sync with these policies. A failed sync is not evidence.
    Synced { policies: Vec<Policy> },
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

/// Why the marketplace could not be asked. Carries no evidence: a failed sync changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFailed;

/// Turns the outcome of a marketplace call into evidence: a failed sync gives none.
pub fn sync_evidence(id: EvidenceId, at: DateTime<Utc>, outcome: Result<Vec<Policy>, SyncFailed>) -> Option<Evidence> {
    let policies = outcome.ok()?;
    Some(Evidence { id, at, fact: Fact::Synced { policies } })
}

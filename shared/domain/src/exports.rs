//! Export jobs: what was asked for, by whom, and how far the build got.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::values::{AgencyId, AgentId, Email, ExportId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// Whose at-risk entries an export holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportScope {
    Agent {
        agent_id: AgentId,
    },
    Agency {
        agency_id: AgencyId,
    },
    /// The dispute cases of an agency's tree.
    Disputes {
        agency_id: AgencyId,
    },
}

/// Absent attributes are left out rather than written as NULL, so that conditions such as
/// `attribute_not_exists(emailed_at)` mean what they say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportJob {
    pub export_id: ExportId,
    /// The token's `sub`: only this person may see or download the export.
    pub requester: String,
    pub requester_agent_id: AgentId,
    /// Where the link goes. Personal data: never logged.
    pub email: Email,
    pub scope: ExportScope,
    pub plan_year: u16,
    pub status: ExportStatus,
    pub rows_written: u64,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many builders have claimed it.
    #[serde(default)]
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    /// The multipart upload under way, so that a builder that died is cleaned up after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_key: Option<String>,
    /// When the file is deleted by the bucket's lifecycle rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emailed_at: Option<DateTime<Utc>>,
    /// When the sweep gave up telling the requester (their email kept failing for a day): an
    /// operator's alarm, not the requester's, says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_notified_at: Option<DateTime<Utc>>,
}

impl ExportJob {
    pub fn new(
        export_id: ExportId,
        requester: String,
        requester_agent_id: AgentId,
        email: Email,
        scope: ExportScope,
        plan_year: u16,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            export_id,
            requester,
            requester_agent_id,
            email,
            scope,
            plan_year,
            status: ExportStatus::Queued,
            rows_written: 0,
            created_at: now,
            started_at: None,
            completed_at: None,
            error: None,
            attempt: 0,
            lease_until: None,
            upload_id: None,
            object_key: None,
            file_expires_at: None,
            emailed_at: None,
            not_notified_at: None,
        }
    }
}

/// A finished file: how many rows, where it is, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Succeeded {
    pub rows: u64,
    pub completed_at: DateTime<Utc>,
    pub object_key: String,
    pub file_expires_at: DateTime<Utc>,
}

/// Whether a requester may have an export of `scope` now: their own book unless their agency
/// turned agent exports off (admins always may); an agency's (its list or its dispute cases) only
/// as an admin who reaches it
/// (`scope_agency_path`: that agency's path by the parent links as they are now).
pub fn may_export(
    scope: &ExportScope,
    requester_role: super::Role,
    requester_agency: &AgencyId,
    agent_exports_enabled: bool,
    scope_agency_path: &[AgencyId],
) -> bool {
    match scope {
        ExportScope::Agent { .. } => requester_role == super::Role::AgencyAdmin || agent_exports_enabled,
        ExportScope::Agency { .. } | ExportScope::Disputes { .. } => {
            super::admin_reaches(requester_role, requester_agency, scope_agency_path)
        }
    }
}

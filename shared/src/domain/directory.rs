//! The directory as the platform describes it: agencies in a tree, agents in agencies.

use super::values::{AgencyId, AgentId, Email, Name, Npn, Role};

/// An agency as the platform describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyUpsert {
    pub agency_id: AgencyId,
    pub name: Name,
    pub parent_agency_id: Option<AgencyId>,
    pub agent_exports_enabled: bool,
}

/// An agent as the platform describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentUpsert {
    pub agent_id: AgentId,
    pub agency_id: AgencyId,
    pub name: Name,
    pub email: Email,
    pub npn: Npn,
    pub role: Role,
}

/// The deepest agency tree the directory takes: far above real ones (a handful of levels), and a
/// bound on every walk up the tree and on the transactions that check a path (an agency's new
/// parent chain; an entry's placement, `3 × depth + 6` items within DynamoDB's 100).
pub const MAX_AGENCY_DEPTH: usize = 24;

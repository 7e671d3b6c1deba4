//! The directory as the platform describes it: agencies in a tree, agents in agencies.

use chrono::{DateTime, Utc};

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

/// An agency as the directory knows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agency {
    pub agency_id: AgencyId,
    pub name: Name,
    pub parent_agency_id: Option<AgencyId>,
    pub agent_exports_enabled: bool,
}

/// An agent as the directory knows them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub agent_id: AgentId,
    pub agency_id: AgencyId,
    pub name: Name,
    pub email: Email,
    pub npn: Npn,
    pub role: Role,
}

/// Who owns an entry, as the directory knows them now: the agent, if known, and their agency's
/// path by the parent links (top first, ending with their agency; empty while the agent is not
/// known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryOwner {
    pub agent_id: AgentId,
    pub agent: Option<Agent>,
    pub path: Vec<AgencyId>,
    /// The directory entry still to arrive before the owner's lists are all known: the agent, or
    /// the first agency on the path not known yet. `None` once the path is known to its top.
    pub waiting_for: Option<DirectoryEntry>,
}

/// One entry of the directory, by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryEntry {
    Agent(AgentId),
    Agency(AgencyId),
}

/// Where a directory event stands among the others: its envelope's time, then its id. EventBridge
/// dates events to the second, so a move and its correction can share a time; the id breaks the
/// tie the same way whatever order they arrive in, and the same event delivered again is equal
/// to itself (see `docs/table-design.md`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventOrder {
    pub time: DateTime<Utc>,
    pub event_id: String,
}

impl From<DateTime<Utc>> for EventOrder {
    /// An order by time alone (seeding, tools): the empty id sorts before any event's.
    fn from(time: DateTime<Utc>) -> Self {
        Self { time, event_id: String::new() }
    }
}

/// The deepest agency tree the directory takes: far above real ones (a handful of levels), and a
/// bound on every walk up the tree and on the transactions that check a path (an agency's new
/// parent chain; an entry's placement, at most `4 × depth + 7` items within DynamoDB's 100 —
/// see `docs/table-design.md`).
pub const MAX_AGENCY_DEPTH: usize = 18;

/// Who may see what: an agent sees their own book; an agency admin also every agency at or below
/// their own — never upward or sideways. `path` is an agency's path by the parent links as they
/// are now, top first: the admin reaches it when their agency is on it.
pub fn admin_reaches(role: Role, own_agency: &AgencyId, path: &[AgencyId]) -> bool {
    role == Role::AgencyAdmin && path.contains(own_agency)
}

/// Why the tree cannot take a link: it would loop, or grow deeper than `MAX_AGENCY_DEPTH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeRefusal {
    /// The agency would be below itself.
    Cycle(AgencyId),
    /// The walk up from this agency is longer than the tree may be deep.
    TooDeep(AgencyId),
}

/// One step of a walk up the tree from `start`, having passed `walked` (nearest first): the walk
/// may go on to `next` only if it has not been there and is not deeper than the tree may be.
pub fn step_up<'a>(
    start: &AgencyId,
    walked: impl IntoIterator<Item = &'a AgencyId>,
    next: &AgencyId,
) -> Result<(), TreeRefusal> {
    let mut depth = 0;
    for seen in walked {
        if seen == next {
            return Err(TreeRefusal::Cycle(next.clone()));
        }
        depth += 1;
    }
    if depth >= MAX_AGENCY_DEPTH {
        return Err(TreeRefusal::TooDeep(start.clone()));
    }
    Ok(())
}

/// Whether `agency`, with `levels_below` levels of agencies hanging below it (0 for none), may go
/// below a parent whose walk up to the top is `parent_chain`: not below its own downline, and the
/// deepest path it makes (the chain, itself, and its deepest descendant) no longer than
/// `MAX_AGENCY_DEPTH`, the longest path a walk up reads. Its descendants move with it, so they
/// count: a move that fits the agency but not its downline is refused whole.
pub fn may_go_below(agency: &AgencyId, parent_chain: &[AgencyId], levels_below: usize) -> Result<(), TreeRefusal> {
    if parent_chain.contains(agency) {
        return Err(TreeRefusal::Cycle(agency.clone()));
    }
    if parent_chain.len() + 1 + levels_below > MAX_AGENCY_DEPTH {
        return Err(TreeRefusal::TooDeep(agency.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<AgencyId> {
        names.iter().map(|n| AgencyId::parse(*n).unwrap()).collect()
    }

    #[test]
    fn a_walk_up_stops_at_a_loop_and_at_the_depth_bound() {
        let start = AgencyId::parse("a").unwrap();
        let walked = ids(&["a", "b", "c"]);
        assert_eq!(step_up(&start, &walked, &ids(&["d"])[0]), Ok(()));
        assert_eq!(step_up(&start, &walked, &ids(&["b"])[0]), Err(TreeRefusal::Cycle(ids(&["b"])[0].clone())));
        let deep: Vec<AgencyId> = (0..MAX_AGENCY_DEPTH).map(|i| AgencyId::parse(format!("x{i}")).unwrap()).collect();
        assert_eq!(step_up(&start, &deep, &ids(&["y"])[0]), Err(TreeRefusal::TooDeep(start.clone())));
    }

    #[test]
    fn an_agency_never_goes_below_its_own_downline() {
        let chain = ids(&["east", "top"]);
        assert!(may_go_below(&ids(&["west"])[0], &chain, 0).is_ok());
        assert_eq!(may_go_below(&ids(&["top"])[0], &chain, 0), Err(TreeRefusal::Cycle(ids(&["top"])[0].clone())));
    }

    #[test]
    fn an_agency_goes_below_a_chain_only_while_its_path_stays_within_the_depth_bound() {
        let new = AgencyId::parse("new").unwrap();
        let chain = |n: usize| (0..n).map(|i| AgencyId::parse(format!("x{i}")).unwrap()).collect::<Vec<_>>();
        assert!(may_go_below(&new, &chain(MAX_AGENCY_DEPTH - 1), 0).is_ok(), "a path of exactly the bound");
        assert_eq!(may_go_below(&new, &chain(MAX_AGENCY_DEPTH), 0), Err(TreeRefusal::TooDeep(new.clone())));
    }

    #[test]
    fn an_agency_with_a_downline_goes_below_a_chain_only_while_its_deepest_descendant_stays_within_the_bound() {
        let mover = AgencyId::parse("mover").unwrap();
        let chain = |n: usize| (0..n).map(|i| AgencyId::parse(format!("x{i}")).unwrap()).collect::<Vec<_>>();
        assert!(may_go_below(&mover, &chain(MAX_AGENCY_DEPTH - 3), 2).is_ok(), "its grandchildren at the bound");
        assert_eq!(
            may_go_below(&mover, &chain(MAX_AGENCY_DEPTH - 2), 2),
            Err(TreeRefusal::TooDeep(mover.clone())),
            "itself within the bound, its grandchildren one below it"
        );
    }
}

//! Who may reach what: an agency within an admin's reach, a client's entry the caller may act on.
//! Anything beyond one's reach is "not found", exactly like what does not exist, so ids cannot be
//! probed.

use super::caller::Caller;
use super::problem::Problem;
use domain::Agency;
use domain::{AgencyId, AgentId};
use ports::StoredApplication;
use ports::{ApplicationReads, Directory};

/// The agency, if the caller is an admin of it or of an agency above it. An agent asking about
/// their own agency is refused (403: they know it exists); anyone asking about an agency beyond
/// their reach is told it does not exist (404), as for every resource outside one's reach.
pub async fn reachable_agency(store: &impl Directory, caller: &Caller, raw_id: &str) -> Result<Agency, Problem> {
    let not_found = || Problem::not_found("No such agency.");
    let id = AgencyId::parse(raw_id).map_err(|_| not_found())?;
    let agency = store.agency(&id).await?.ok_or_else(not_found)?;
    // Reach goes by the parent links as they are now, so a move counts the moment it is accepted.
    if caller.reaches_path(&store.agency_path(&id).await?) {
        return Ok(agency);
    }
    if !caller.is_admin() && agency.agency_id == caller.agency_id {
        return Err(Problem::forbidden("Only agency admins may do this."));
    }
    Err(not_found())
}

/// The entry of an application (as `stored`) the caller may act on: their own, or for an admin
/// one whose owner is within reach, an entry at risk first. Someone else's application is "not
/// found", exactly like one that does not exist, so ids cannot be probed.
pub async fn visible_entry(
    store: &impl ApplicationReads,
    caller: &Caller,
    stored: &StoredApplication,
) -> Result<AgentId, Problem> {
    if stored.entries.contains_key(&caller.agent_id) {
        return Ok(caller.agent_id.clone());
    }
    if caller.is_admin() {
        let owners = store.owners(stored.entries.keys().cloned().collect()).await?;
        // Prefer an entry at risk: that is the one an admin opens a client to look at.
        let mut reachable: Vec<&domain::BookEntry> = stored
            .entries
            .values()
            .filter(|e| owners.get(&e.agent_id).is_some_and(|o| caller.reaches_owner(o)))
            .collect();
        reachable.sort_by_key(|e| !e.is_at_risk());
        if let Some(entry) = reachable.first() {
            return Ok(entry.agent_id.clone());
        }
    }
    Err(Problem::not_found("No such client in your book."))
}

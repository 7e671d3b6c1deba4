//! `GET /v1/agencies/{agency_id}/swap-patterns?plan_year=`: who takes entries from an agency's
//! tree — every other NPN, the most first, with the agent behind it where known and how many of
//! its takes came from inside the tree; week by week; and the split inside vs outside. Read from
//! the counters the outbox relay keeps: one item and one query, as large as the answer.

use axum::Json;
use axum::extract::{Path, State};
use http_edge::caller::Caller;
use http_edge::{Problem, RawQuery, reachable_agency};
use serde::Serialize;
use shared::domain::{AgencyId, Agent, AgentId};
use shared::ports::StoreError;
use std::collections::HashMap;

use crate::state::{ApiState, Ports};

#[derive(Debug, Serialize)]
pub struct SwapPatterns {
    pub agency_id: String,
    pub plan_year: u16,
    /// Entries taken by an agent inside the tree, and by anyone outside it.
    pub in_agency: i64,
    pub outside: i64,
    /// Oldest week first.
    pub weeks: Vec<Week>,
    /// The most takes first.
    pub takers: Vec<Taker>,
}

#[derive(Debug, Serialize)]
pub struct Week {
    /// ISO week, `2026-W47`.
    pub week: String,
    pub in_agency: i64,
    pub outside: i64,
}

#[derive(Debug, Serialize)]
pub struct Taker {
    pub npn: String,
    /// The agent behind the NPN, where the directory knew them.
    pub agent_id: Option<String>,
    pub takes: i64,
    pub in_agency: i64,
    pub outside: i64,
    pub weeks: Vec<TakerWeek>,
}

#[derive(Debug, Serialize)]
pub struct TakerWeek {
    pub week: String,
    pub takes: i64,
}

pub async fn swap_patterns<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(agency_id): Path<String>,
    query: RawQuery,
) -> Result<Json<SwapPatterns>, Problem> {
    crate::state::only_params(&query, &["plan_year"])?;
    let year = state.year_param(&query)?;
    let agency = reachable_agency(&state.store, &caller, &agency_id).await?;
    let mut counted = state.store.swap_patterns(&agency.agency_id, year).await?;
    // A taker is named only while inside the agency's tree (by the directory now): another
    // agency's agents are NPNs to it, as in a client's story.
    let ids = counted.takers.iter().filter_map(|taker| taker.agent_id.clone()).collect();
    let inside = agents_inside(&state.store, &agency.agency_id, ids).await?;
    for taker in &mut counted.takers {
        if taker.agent_id.as_ref().is_some_and(|agent| !inside.contains_key(agent)) {
            taker.agent_id = None;
        }
    }
    Ok(Json(SwapPatterns {
        agency_id: agency.agency_id.to_string(),
        plan_year: year.get(),
        in_agency: counted.in_agency,
        outside: counted.outside,
        weeks: counted
            .weeks
            .into_iter()
            .map(|(week, (in_agency, outside))| Week { week, in_agency, outside })
            .collect(),
        takers: counted
            .takers
            .into_iter()
            .map(|taker| Taker {
                npn: taker.npn.to_string(),
                agent_id: taker.agent_id.map(|a| a.to_string()),
                outside: taker.takes - taker.in_agency,
                takes: taker.takes,
                in_agency: taker.in_agency,
                weeks: taker.weeks.into_iter().map(|(week, takes)| TakerWeek { week, takes }).collect(),
            })
            .collect(),
    }))
}

/// The agents of `ids` inside `agency`'s tree by the directory now, as it knows them: only these
/// may be named to the tree's admins.
pub(crate) async fn agents_inside<S: Ports>(
    store: &S,
    agency: &AgencyId,
    ids: Vec<AgentId>,
) -> Result<HashMap<AgentId, Agent>, StoreError> {
    let mut paths: HashMap<AgencyId, bool> = HashMap::new();
    let mut inside = HashMap::new();
    for id in ids {
        let Some(agent) = store.agent(&id).await? else { continue };
        let within = match paths.get(&agent.agency_id) {
            Some(within) => *within,
            None => {
                let within = store.agency_path(&agent.agency_id).await?.contains(agency);
                *paths.entry(agent.agency_id.clone()).or_insert(within)
            }
        };
        if within {
            inside.insert(id, agent);
        }
    }
    Ok(inside)
}

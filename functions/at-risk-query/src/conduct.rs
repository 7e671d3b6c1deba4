//! `GET /v1/agencies/{agency_id}/conduct?plan_year=`: what the tree's own agents took from other
//! books — per agent, the most first, and per ISO week, from inside the tree and from outside —
//! and the weeks that spiked. Read from the counters the outbox relay keeps beside the swap
//! patterns: one item and one query, as large as the answer.

use axum::Json;
use axum::extract::{Path, State};
use http_edge::caller::Caller;
use http_edge::{Problem, RawQuery, reachable_agency};
use serde::Serialize;
use shared::domain::{AgentConduct, SpikeRule};

use crate::patterns::agents_inside;
use crate::state::{ApiState, Ports};

#[derive(Debug, Serialize)]
pub struct Conduct {
    pub agency_id: String,
    pub plan_year: u16,
    /// Entries the tree's agents took from an owner inside the tree, and from one outside it.
    pub from_inside: i64,
    pub from_outside: i64,
    /// Oldest week first.
    pub weeks: Vec<Week>,
    /// The most takes first.
    pub agents: Vec<Agent>,
    /// Every agent's week that is a spike, the newest week first.
    pub spikes: Vec<Spike>,
    pub spike_rule: Rule,
}

#[derive(Debug, Serialize)]
pub struct Week {
    /// ISO week, `2026-W47`.
    pub week: String,
    pub from_inside: i64,
    pub from_outside: i64,
}

#[derive(Debug, Serialize)]
pub struct Agent {
    /// The agent, and their name, while they are in the tree (by the directory now); one who
    /// has left it is their NPN.
    pub agent_id: Option<String>,
    pub name: Option<String>,
    pub npn: String,
    pub takes: i64,
    pub from_inside: i64,
    pub from_outside: i64,
    pub weeks: Vec<Week>,
}

#[derive(Debug, Serialize)]
pub struct Spike {
    pub agent_id: Option<String>,
    pub name: Option<String>,
    pub npn: String,
    pub week: String,
    pub takes: i64,
    pub median_before: f64,
}

#[derive(Debug, Serialize)]
pub struct Rule {
    pub min_takes: u32,
    pub factor: f64,
}

pub async fn conduct<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(agency_id): Path<String>,
    query: RawQuery,
) -> Result<Json<Conduct>, Problem> {
    crate::state::only_params(&query, &["plan_year"])?;
    let year = state.year_param(&query)?;
    let agency = reachable_agency(&state.store, &caller, &agency_id).await?;
    let counted = state.store.conduct(&agency.agency_id, year).await?;
    let ids = counted.agents.iter().map(|agent| agent.agent_id.clone()).collect();
    let inside = agents_inside(&state.store, &agency.agency_id, ids).await?;
    let who = |agent: &AgentConduct| match inside.get(&agent.agent_id) {
        Some(known) => (Some(agent.agent_id.to_string()), Some(known.name.to_string())),
        None => (None, None),
    };
    let mut spikes = Vec::new();
    for agent in &counted.agents {
        for spike in state.spike_rule.spikes(&agent.weekly_takes()) {
            let (agent_id, name) = who(agent);
            spikes.push(Spike {
                agent_id,
                name,
                npn: agent.npn.to_string(),
                week: spike.week,
                takes: spike.takes,
                median_before: spike.median_before,
            });
        }
    }
    spikes.sort_by(|a, b| b.week.cmp(&a.week).then_with(|| b.takes.cmp(&a.takes)));
    let weeks = |weeks: &std::collections::BTreeMap<String, (i64, i64)>| {
        weeks
            .iter()
            .map(|(week, (inside, outside))| Week { week: week.clone(), from_inside: *inside, from_outside: *outside })
            .collect()
    };
    let SpikeRule { min_takes, factor } = state.spike_rule;
    Ok(Json(Conduct {
        agency_id: agency.agency_id.to_string(),
        plan_year: year.get(),
        from_inside: counted.from_inside,
        from_outside: counted.from_outside,
        weeks: weeks(&counted.weeks),
        agents: counted
            .agents
            .iter()
            .map(|agent| {
                let (agent_id, name) = who(agent);
                Agent {
                    agent_id,
                    name,
                    npn: agent.npn.to_string(),
                    takes: agent.takes(),
                    from_inside: agent.from_inside,
                    from_outside: agent.from_outside,
                    weeks: weeks(&agent.weeks),
                }
            })
            .collect(),
        spikes,
        spike_rule: Rule { min_takes, factor },
    }))
}

//! `GET /v1/clients/{federal_exchange_id}?plan_year=&limit=&cursor=`: a client's story as the
//! caller may see it — their entry, the policies and AORs as of the last sync, and the timeline,
//! newest first, a page at a time; for an entry at risk, the report for the CMS help desk. What
//! is known, without asking the marketplace (opening the page syncs through its own route); and
//! the entry's dispute cases.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use http_edge::caller::Caller;
use http_edge::{Problem, RawQuery, application_key, visible_entry};
use serde::Serialize;
use shared::domain::{Fact, HelpDeskReport, Moment, Npn, Policy, help_desk_report, timeline};

use crate::cursor::Cursor;
use crate::state::{ApiState, Ports, limit_param};

#[derive(Debug, Serialize)]
pub struct Story {
    pub federal_exchange_id: String,
    pub plan_year: u16,
    pub entry: EntryView,
    pub last_synced_at: Option<DateTime<Utc>>,
    /// As the last sync saw them (empty when never synced).
    pub policies: Vec<Policy>,
    pub timeline: Vec<Moment>,
    pub next_cursor: Option<String>,
    /// The email for the CMS help desk, while the entry is at risk.
    pub report: Option<HelpDeskReport>,
    /// The entry's dispute cases, newest first (the open one, if any, first).
    pub disputes: Vec<crate::disputes::DisputeView>,
}

/// The caller's entry (or, for an admin, the entry within reach they would act on).
#[derive(Debug, Serialize)]
pub struct EntryView {
    pub agent_id: String,
    /// The book's agent as the directory names them now (`None` while not known).
    pub agent_name: Option<String>,
    pub client_name: String,
    pub expected_npn: Npn,
    pub at_risk: bool,
    pub reason: Option<&'static str>,
    pub at_risk_since: Option<DateTime<Utc>>,
    pub other_npn: Option<Npn>,
    pub archived: bool,
}

pub async fn client_story<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(raw_id): Path<String>,
    query: RawQuery,
) -> Result<Json<Story>, Problem> {
    crate::state::only_params(&query, &["plan_year", "limit", "cursor"])?;
    let application = application_key(raw_id, &query, state.years().current)?;
    let stored = state.store.application(&application).await?;
    let owner = visible_entry(&state.store, &caller, &stored).await?;
    let entry = stored.entries.get(&owner).ok_or_else(|| Problem::not_found("No such client in your book."))?;
    let list = format!("story:{}:{}:{}", caller.agent_id, application.id, application.year);
    let limit = usize::from(limit_param(&query)?);
    let after = match query.get("cursor") {
        None => None,
        Some(raw) => Some(Cursor::position_in(raw, &list).map_err(|e| Problem::bad_request(format!("The {e}.")))?),
    };

    // Who submitted is named only within what the caller reaches (by the directory now): an
    // admin, their agency's tree; an agent, their own agency. Anyone else is an NPN.
    // (And the book's own agent, for their name.)
    let submitters = stored
        .log
        .iter()
        .filter_map(|e| match &e.fact {
            Fact::Submitted { agent_id, .. } => Some(agent_id.clone()),
            _ => None,
        })
        .chain(std::iter::once(owner.clone()))
        .collect();
    let owners = state.store.owners(submitters).await?;
    let in_callers_agency = |agent: &shared::domain::AgentId| {
        let reached = |o: &shared::domain::EntryOwner| match caller.role {
            shared::domain::Role::AgencyAdmin => o.path.contains(&caller.agency_id),
            shared::domain::Role::Agent => o.path.last() == Some(&caller.agency_id),
        };
        agent == &caller.agent_id || owners.get(agent).is_some_and(reached)
    };
    let history = state.store.history(&application).await?;
    let moments = timeline(&owner, &stored.log, &history, in_callers_agency);
    let report =
        entry.is_at_risk().then(|| help_desk_report(application.id.clone(), application.year, entry, &moments));
    let policies = stored
        .log
        .iter()
        .filter(|e| matches!(e.fact, Fact::Synced { .. }))
        .max_by_key(|e| e.last_at())
        .map(|e| match &e.fact {
            Fact::Synced { policies, .. } => policies.clone(),
            _ => Vec::new(),
        })
        .unwrap_or_default();

    let mut page: Vec<Moment> = moments
        .into_iter()
        .filter(|m| after.as_ref().is_none_or(|after| m.position < *after))
        .take(limit + 1)
        .collect();
    let next_cursor = (page.len() > limit).then(|| {
        page.truncate(limit);
        Cursor { list: list.clone(), position: page[limit - 1].position.clone() }.encode()
    });
    let now = Utc::now();
    let cases: Vec<shared::domain::Dispute> = state
        .store
        .agent_disputes(&owner)
        .await?
        .into_iter()
        .filter(|case| case.federal_exchange_id == application.id && case.plan_year == application.year)
        .collect();
    let named = crate::disputes::Named::among(&state.store, &caller, &cases).await?;
    let disputes = cases.iter().map(|case| crate::disputes::DisputeView::of(case, now, &named)).collect();
    let risk = entry.risk.as_ref();
    Ok(Json(Story {
        federal_exchange_id: application.id.to_string(),
        plan_year: application.year.get(),
        entry: EntryView {
            agent_id: entry.agent_id.to_string(),
            agent_name: owners.get(&owner).and_then(|o| o.agent.as_ref()).map(|a| a.name.to_string()),
            client_name: entry.client_name.to_string(),
            expected_npn: entry.expected_npn.clone(),
            at_risk: entry.is_at_risk(),
            reason: risk.map(|r| r.reason.as_str()),
            at_risk_since: risk.map(|r| r.since),
            other_npn: risk.and_then(|r| r.other_npn.clone()),
            archived: entry.archived,
        },
        last_synced_at: stored.last_synced_at,
        policies,
        timeline: page,
        next_cursor,
        report,
        disputes,
    }))
}

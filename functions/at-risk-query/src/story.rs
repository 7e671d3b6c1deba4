//! `GET /v1/clients/{federal_exchange_id}?plan_year=&limit=&cursor=`: a client's story as the
//! caller may see it — their entry, the policies and AORs as of the last sync, and the timeline,
//! newest first, a page at a time, each page read by queries as long as it; and the entry's
//! dispute cases. What is known, without asking the marketplace (opening the page syncs through
//! its own route). `GET /v1/clients/{federal_exchange_id}/report`: for an entry at risk, the
//! report for the CMS help desk, which needs the whole timeline.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use http_edge::caller::Caller;
use http_edge::{Problem, RawQuery, application_key, visible_entry};
use serde::Serialize;
use shared::domain::{
    AgentId, EntryOwner, Fact, HelpDeskReport, Moment, Npn, Policy, Role, help_desk_report, timeline,
};
use shared::story_pages::{StoryStart, story_page};

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
    let head = state.store.head(&application).await?;
    let owner = visible_entry(&state.store, &caller, &head).await?;
    let entry = head.entries.get(&owner).ok_or_else(|| Problem::not_found("No such client in your book."))?;
    let list = format!("story:{}:{}:{}", caller.agent_id, application.id, application.year);
    let limit = usize::from(limit_param(&query)?);
    let start = match query.get("cursor") {
        None => StoryStart::default(),
        Some(raw) => Cursor::position_in(raw, &list)
            .ok()
            .and_then(|position| StoryStart::parse(&position))
            .ok_or_else(|| Problem::bad_request("The cursor is not one this API gave out."))?,
    };
    // Who submitted is named only within what the caller reaches (by the directory now): an
    // admin, their agency's tree; an agent, their own agency. Anyone else is an NPN.
    let named = |agent: &AgentId, known: Option<&EntryOwner>| {
        agent == &caller.agent_id
            || known.is_some_and(|o| match caller.role {
                Role::AgencyAdmin => o.path.contains(&caller.agency_id),
                Role::Agent => o.path.last() == Some(&caller.agency_id),
            })
    };
    let page = story_page(&state.store, &application, &head, &owner, &start, limit, named).await?;
    let next_cursor = page.next.map(|start| Cursor { list: list.clone(), position: start.to_text() }.encode());
    let owners = page.owners;
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
        last_synced_at: head.last_synced_at,
        // The newest sync is the current sync record, kept in the application's item.
        policies: head
            .sync_record
            .as_ref()
            .map(|record| match &record.fact {
                Fact::Synced { policies, .. } => policies.clone(),
                _ => Vec::new(),
            })
            .unwrap_or_default(),
        timeline: page.moments,
        next_cursor,
        disputes,
    }))
}

/// `GET /v1/clients/{federal_exchange_id}/report?plan_year=`: the email for the CMS help desk
/// about an entry at risk, from its whole timeline (404 while the entry is not at risk).
pub async fn help_desk<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(raw_id): Path<String>,
    query: RawQuery,
) -> Result<Json<HelpDeskReport>, Problem> {
    crate::state::only_params(&query, &["plan_year"])?;
    let application = application_key(raw_id, &query, state.years().current)?;
    let stored = state.store.application(&application).await?;
    let owner = visible_entry(&state.store, &caller, &stored).await?;
    let entry = stored.entries.get(&owner).filter(|entry| entry.is_at_risk()).ok_or_else(|| {
        Problem::not_found("This client is not at risk: there is nothing to report to the help desk.")
    })?;
    let history = state.store.history(&application).await?;
    // The report names NPNs, never agents: whose agency they are in does not matter here.
    let moments = timeline(&owner, &stored.log, &history, |_| false);
    Ok(Json(help_desk_report(application.id.clone(), application.year, entry, &moments)))
}

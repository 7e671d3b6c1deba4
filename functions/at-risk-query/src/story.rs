//! `GET /v1/clients/{federal_exchange_id}?plan_year=&limit=&cursor=`: a client's story as the
//! caller may see it — their entry, the policies and AORs as of the last sync, and the timeline,
//! newest first, a page at a time, each page read by queries as long as it; and the entry's
//! dispute cases. What is known, without asking the marketplace (opening the page syncs through
//! its own route). `GET /v1/clients/{federal_exchange_id}/report`: for an entry at risk, the
//! report for the CMS help desk, which needs the whole timeline.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use http_edge::caller::Caller;
use http_edge::{Problem, RawQuery, application_key, visible_entry};
use serde::{Deserialize, Serialize};
use shared::domain::{
    AgentId, ApplicationKey, EntryOwner, Evidence, EvidenceId, Fact, HelpDeskReport, Moment, Npn, Policy, Role,
    TimelinePage, help_desk_report, moments, page_of, timeline,
};
use shared::ports::StoredApplication;

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
        None => StoryPosition::default(),
        Some(raw) => Cursor::position_in(raw, &list)
            .ok()
            .and_then(|position| serde_json::from_str(&position).ok())
            .ok_or_else(|| Problem::bad_request("The cursor is not one this API gave out."))?,
    };
    let (timeline, next, owners) =
        timeline_page(&state.store, &caller, &application, &head, &owner, &start, limit).await?;
    let next_cursor = next.map(|position| Cursor { list: list.clone(), position }.encode());
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
        timeline,
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

/// Where a page of a story starts: below `below` (a moment's position), with the sync records
/// the page begins inside (their newer syncs shown already), which a read of what is older
/// than `below` would not reach.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoryPosition {
    below: Option<String>,
    records: Vec<(DateTime<Utc>, EvidenceId)>,
}

/// How many items a page reads at most before it is made of what is known whole (a run of
/// syncs longer than that then goes on on the next page), per moment asked for.
const WIDE: usize = 4;

/// The page of `owner`'s timeline from `start`, read a window at a time: two queries of about a
/// page's items each, newest first, and wider ones only while the window holds too few moments
/// known whole. Returns the page, the next page's position and the submitters and the owner as
/// the directory has them.
async fn timeline_page<S: Ports>(
    store: &S,
    caller: &Caller,
    app: &ApplicationKey,
    head: &StoredApplication,
    owner: &AgentId,
    start: &StoryPosition,
    limit: usize,
) -> Result<(Vec<Moment>, Option<String>, HashMap<AgentId, EntryOwner>), Problem> {
    let until = start.below.as_deref().map(time_of).transpose()?;
    let mut items = limit + 1;
    loop {
        let window = store.timeline_window(app, until, &start.records, items).await?;
        let log: Vec<Evidence> = window.log.iter().chain(&head.sync_record).cloned().collect();
        // Who submitted is named only within what the caller reaches (by the directory now): an
        // admin, their agency's tree; an agent, their own agency. Anyone else is an NPN.
        // (And the book's own agent, for their name.)
        let submitters = log
            .iter()
            .filter_map(|e| match &e.fact {
                Fact::Submitted { agent_id, .. } => Some(agent_id.clone()),
                _ => None,
            })
            .chain(std::iter::once(owner.clone()))
            .collect();
        let owners = store.owners(submitters).await?;
        let in_callers_agency = |agent: &AgentId| {
            let reached = |o: &EntryOwner| match caller.role {
                Role::AgencyAdmin => o.path.contains(&caller.agency_id),
                Role::Agent => o.path.last() == Some(&caller.agency_id),
            };
            agent == &caller.agent_id || owners.get(agent).is_some_and(reached)
        };
        let found = moments(owner, &log, &window.history, in_callers_agency);
        let wide = items >= WIDE * (limit + 1);
        match page_of(found, start.below.as_deref(), window.complete_after, limit, wide) {
            TimelinePage::ReadMore => items *= WIDE,
            TimelinePage::Page { moments, next } => {
                let next = next
                    .map(|below| {
                        let at = time_of(&below)?;
                        // Records kept under a time after the next page's start that hold syncs
                        // below it (the current record is read with the application).
                        let records = window
                            .log
                            .iter()
                            .filter(|e| e.last_at() > at && e.at <= at)
                            .map(|e| (e.last_at(), e.id.clone()))
                            .collect();
                        serde_json::to_string(&StoryPosition { below: Some(below), records })
                            .map_err(|_| Problem::internal())
                    })
                    .transpose()?;
                return Ok((moments, next, owners));
            }
        }
    }
}

/// The time a moment's position begins with (`domain::story::position`).
fn time_of(position: &str) -> Result<DateTime<Utc>, Problem> {
    position
        .split('#')
        .next()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| Problem::bad_request("The cursor is not one this API gave out."))
}

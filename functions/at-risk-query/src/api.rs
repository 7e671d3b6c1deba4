//! The routes of the at-risk query function (SPEC §6):
//!
//! | route | who |
//! | --- | --- |
//! | `GET /v1/at-risk` | anyone, for their own book |
//! | `GET /v1/at-risk/summary` | anyone, for their own book |
//! | `POST /v1/at-risk/visits` | anyone, for their own book |
//! | `GET /v1/agencies/{agency_id}/at-risk` | an admin of that agency or of one above it |
//! | `GET`, `PATCH /v1/agencies/{agency_id}/settings` | an admin of that agency or of one above it |
//! | `GET /v1/agencies/{agency_id}/downline` | an admin of that agency or of one above it |
//! | `GET /v1/me` | anyone: who they are, and whether they may export |

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::domain::PlanYear;
use shared::http::{Caller, Problem, RawQuery, reachable_agency};
use shared::store::Store;
use shared::store::items::RiskRow;
use shared::store::keys::Scope;
use shared::store::risk_lists::ArchivedFilter;

use crate::cursor::Cursor;

#[derive(Clone, Debug)]
pub struct ApiState {
    pub store: Store,
    pub year: PlanYear,
    /// Where the client details page lives: list items link to
    /// `{client_details_base_url}/clients/{id}?plan_year={year}`.
    pub client_details_base_url: String,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/at-risk", get(own_list))
        .route("/v1/at-risk/summary", get(summary))
        .route("/v1/at-risk/visits", post(visit))
        .route("/v1/agencies/{agency_id}/at-risk", get(agency_list))
        .route("/v1/agencies/{agency_id}/settings", get(settings).patch(change_settings))
        .route("/v1/agencies/{agency_id}/downline", get(downline))
        .route("/v1/me", get(me))
        .with_state(state)
}

pub const DEFAULT_LIMIT: u16 = 50;
pub const MAX_LIMIT: u16 = 200;

#[derive(Debug, Serialize)]
pub struct Page {
    pub items: Vec<Item>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Item {
    pub federal_exchange_id: String,
    pub plan_year: u16,
    pub client_name: String,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub at_risk_since: DateTime<Utc>,
    pub reason: &'static str,
    pub archived: bool,
    pub client_details_url: String,
    #[serde(flatten)]
    pub owner: Option<Owner>,
}

/// What the agency view adds to each item.
#[derive(Debug, Serialize)]
pub struct Owner {
    pub agency_id: Option<String>,
    pub agency_name: Option<String>,
    pub agent_id: String,
    pub agent_name: Option<String>,
    pub agent_email: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub new_since_last_visit: i64,
    pub total: i64,
    pub last_visited_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Settings {
    pub agent_exports_enabled: bool,
}

/// The caller as this system knows them: what a page needs to decide what to show.
#[derive(Debug, Serialize)]
pub struct Me {
    pub agent_id: String,
    pub agency_id: String,
    pub role: &'static str,
    pub name: Option<String>,
    pub agency_name: Option<String>,
    /// Whether the caller may export their own book (false when their agency turned agent
    /// exports off and they are not an admin).
    pub can_export: bool,
}

#[derive(Debug, Serialize)]
pub struct DownlineAgency {
    pub agency_id: String,
    pub name: String,
    pub parent_agency_id: Option<String>,
    /// 0 for the agency asked about, 1 for its children, and so on.
    pub depth: u32,
}

#[derive(Debug, Serialize)]
pub struct Downline {
    pub items: Vec<DownlineAgency>,
}

async fn me(State(state): State<ApiState>, caller: Caller) -> Result<Json<Me>, Problem> {
    let agent = state.store.agent(&caller.agent_id).await?;
    let agency = state.store.agency(&caller.agency_id).await?;
    let exports_on = agency.as_ref().is_none_or(|a| a.agent_exports_enabled);
    Ok(Json(Me {
        agent_id: caller.agent_id.to_string(),
        agency_id: caller.agency_id.to_string(),
        role: caller.role.as_str(),
        name: agent.map(|a| a.name.to_string()),
        agency_name: agency.map(|a| a.name.to_string()),
        can_export: exports_on || caller.is_admin(),
    }))
}

/// The agency and every agency below it, walked through the child links (one read per agency:
/// this is for choosing an agency, not a list path).
async fn downline(
    State(state): State<ApiState>,
    caller: Caller,
    Path(agency_id): Path<String>,
) -> Result<Json<Downline>, Problem> {
    let top = reachable_agency(&state.store, &caller, &agency_id).await?;
    let mut items = vec![DownlineAgency {
        agency_id: top.agency_id.to_string(),
        name: top.name.to_string(),
        parent_agency_id: top.parent_agency_id.as_ref().map(ToString::to_string),
        depth: 0,
    }];
    let mut next = 0;
    while next < items.len() {
        let (id, depth) = (items[next].agency_id.clone(), items[next].depth);
        let parent = shared::domain::AgencyId::parse(id.as_str()).map_err(|_| Problem::internal())?;
        for child in state.store.child_agencies(&parent).await? {
            if let Some(agency) = state.store.agency(&child).await? {
                items.push(DownlineAgency {
                    agency_id: agency.agency_id.to_string(),
                    name: agency.name.to_string(),
                    parent_agency_id: Some(id.clone()),
                    depth: depth + 1,
                });
            }
        }
        next += 1;
    }
    Ok(Json(Downline { items }))
}

async fn own_list(State(state): State<ApiState>, caller: Caller, query: RawQuery) -> Result<Json<Page>, Problem> {
    page(&state, Scope::Agent(caller.agent_id.clone()), &query, false).await.map(Json)
}

async fn agency_list(
    State(state): State<ApiState>,
    caller: Caller,
    Path(agency_id): Path<String>,
    query: RawQuery,
) -> Result<Json<Page>, Problem> {
    let agency = reachable_agency(&state.store, &caller, &agency_id).await?;
    page(&state, Scope::Agency(agency.agency_id), &query, true).await.map(Json)
}

async fn summary(State(state): State<ApiState>, caller: Caller) -> Result<Json<Summary>, Problem> {
    // One read: the counters the placements keep.
    let stats = state.store.agent_stats(&caller.agent_id, state.year).await?;
    Ok(Json(Summary {
        new_since_last_visit: stats.new_since_visit.max(0),
        total: stats.at_risk_total.max(0),
        last_visited_at: stats.last_visited_at,
    }))
}

async fn visit(State(state): State<ApiState>, caller: Caller) -> Result<StatusCode, Problem> {
    state.store.record_visit(&caller.agent_id, state.year, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn settings(
    State(state): State<ApiState>,
    caller: Caller,
    Path(agency_id): Path<String>,
) -> Result<Json<Settings>, Problem> {
    let agency = reachable_agency(&state.store, &caller, &agency_id).await?;
    Ok(Json(Settings { agent_exports_enabled: agency.agent_exports_enabled }))
}

async fn change_settings(
    State(state): State<ApiState>,
    caller: Caller,
    Path(agency_id): Path<String>,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Settings>, Problem> {
    let agency = reachable_agency(&state.store, &caller, &agency_id).await?;
    let Json(body) =
        body.map_err(|_| Problem::bad_request("The body must be JSON: {\"agent_exports_enabled\": true|false}."))?;
    let enabled = body
        .get("agent_exports_enabled")
        .and_then(serde_json::Value::as_bool)
        .ok_or_else(|| Problem::bad_request("agent_exports_enabled must be true or false."))?;
    state.store.set_agent_exports(&agency.agency_id, enabled, Utc::now()).await?;
    tracing::info!(agency_id = %agency.agency_id, by = %caller.agent_id, enabled, "agent exports switch changed");
    Ok(Json(Settings { agent_exports_enabled: enabled }))
}

async fn page(state: &ApiState, scope: Scope, query: &RawQuery, with_owner: bool) -> Result<Page, Problem> {
    if let Some(unknown) = query.keys().find(|k| !matches!(k.as_str(), "limit" | "cursor" | "archived")) {
        return Err(Problem::bad_request(format!("Unknown parameter {unknown}; use limit, cursor and archived.")));
    }
    let filter = match query.get("archived").map(String::as_str) {
        None | Some("exclude") => ArchivedFilter::Exclude,
        Some("include") => ArchivedFilter::Include,
        Some("only") => ArchivedFilter::Only,
        Some(_) => return Err(Problem::bad_request("archived must be exclude, include or only.")),
    };
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u16>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| Problem::bad_request(format!("limit must be a whole number from 1 to {MAX_LIMIT}.")))?,
    };
    let list = format!("{}/{}/{:?}", scope_name(&scope), state.year, filter);
    let after = match query.get("cursor") {
        None => None,
        Some(raw) => Some(Cursor::position_in(raw, &list).map_err(|e| Problem::bad_request(format!("The {e}.")))?),
    };
    let page = state.store.risk_page(&scope, state.year, filter, limit, after.as_deref()).await?;
    Ok(Page {
        items: page.rows.into_iter().map(|row| item(state, row, with_owner)).collect(),
        next_cursor: page.next.map(|position| Cursor { list, position }.encode()),
    })
}

fn scope_name(scope: &Scope) -> String {
    match scope {
        Scope::Agent(id) => format!("agent:{id}"),
        Scope::Agency(id) => format!("agency:{id}"),
    }
}

fn item(state: &ApiState, row: RiskRow, with_owner: bool) -> Item {
    Item {
        client_details_url: shared::links::client_details_url(
            &state.client_details_base_url,
            row.federal_exchange_id.as_str(),
            row.plan_year.get(),
        ),
        federal_exchange_id: row.federal_exchange_id.to_string(),
        plan_year: row.plan_year.get(),
        client_name: row.client_name.to_string(),
        last_synced_at: row.last_synced_at,
        at_risk_since: row.at_risk_since,
        reason: row.reason.as_str(),
        archived: row.archived,
        owner: with_owner.then(|| Owner {
            agency_id: row.agency_id.map(|a| a.to_string()),
            agency_name: row.agency_name.map(|n| n.to_string()),
            agent_id: row.agent_id.to_string(),
            agent_name: row.agent_name.map(|n| n.to_string()),
            agent_email: row.agent_email.map(|e| e.to_string()),
        }),
    }
}

//! The routes of the at-risk query function (SPEC §6):
//!
//! | route | who |
//! | --- | --- |
//! | `GET /v1/at-risk` | anyone, for their own book |
//! | `GET /v1/at-risk/summary` | anyone, for their own book |
//! | `POST /v1/at-risk/visits` | anyone, for their own book |
//! | `GET /v1/agencies/{agency_id}/at-risk` | an admin of that agency or of one above it |
//! | `GET /v1/agencies/{agency_id}/at-risk/summary` | an admin of that agency or of one above it |
//! | `POST /v1/agencies/{agency_id}/at-risk/visits` | an admin of that agency |
//! | `GET`, `PATCH /v1/agencies/{agency_id}/settings` | an admin of that agency or of one above it |
//! | `GET /v1/agencies/{agency_id}/downline` | an admin of that agency or of one above it |
//! | `GET /v1/agencies/{agency_id}/swap-patterns` | an admin of that agency or of one above it |
//! | `GET /v1/me` | anyone: who they are, and whether they may export |
//! | `GET`, `PATCH /v1/me/settings` | anyone, their own: the daily digest |
//! | `GET /v1/clients/{federal_exchange_id}` | the owner, or an admin over the owner's agency: the client's story |
//! | `GET /v1/clients/{federal_exchange_id}/report` | the same: the help-desk report of an entry at risk |

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use http_edge::caller::Caller;
use http_edge::{Problem, RawQuery, reachable_agency};
use serde::{Deserialize, Serialize};
use shared::domain::ArchivedFilter;
use shared::domain::RiskEntry;
use shared::domain::Scope;

use crate::cursor::Cursor;
use crate::state::{ApiState, Ports, limit_param, only_params};

pub fn router<S: Ports>(state: ApiState<S>) -> Router {
    Router::new()
        .route("/v1/at-risk", get(own_list::<S>))
        .route("/v1/at-risk/summary", get(summary::<S>))
        .route("/v1/at-risk/visits", post(visit::<S>))
        .route("/v1/agencies/{agency_id}/at-risk", get(agency_list::<S>))
        .route("/v1/agencies/{agency_id}/at-risk/summary", get(agency_summary::<S>))
        .route("/v1/agencies/{agency_id}/at-risk/visits", post(agency_visit::<S>))
        .route("/v1/agencies/{agency_id}/settings", get(settings::<S>).patch(change_settings::<S>))
        .route("/v1/agencies/{agency_id}/downline", get(downline::<S>))
        .route("/v1/agencies/{agency_id}/swap-patterns", get(crate::patterns::swap_patterns::<S>))
        .route("/v1/agencies/{agency_id}/conduct", get(crate::conduct::conduct::<S>))
        .route("/v1/agencies/{agency_id}/disputes", get(crate::disputes::agency_disputes::<S>))
        .route("/v1/disputes", get(crate::disputes::my_disputes::<S>))
        .route("/v1/disputes/{dispute_id}", axum::routing::patch(crate::disputes::change_dispute::<S>))
        .route("/v1/clients/{federal_exchange_id}/disputes", post(crate::disputes::open_dispute::<S>))
        .route("/v1/me", get(me::<S>))
        .route(
            "/v1/me/settings",
            get(crate::my_settings::settings::<S>).patch(crate::my_settings::change_settings::<S>),
        )
        .route("/v1/clients/{federal_exchange_id}", get(crate::story::client_story::<S>))
        .route("/v1/clients/{federal_exchange_id}/report", get(crate::story::help_desk::<S>))
        .with_state(state)
}

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
    /// When the entry entered the list (this system flagged it): the list's order.
    pub listed_at: DateTime<Utc>,
    /// The time of the evidence that put it at risk.
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

/// An agency's tree at a glance: the admin's home.
#[derive(Debug, Serialize)]
pub struct AgencySummary {
    pub new_since_last_visit: i64,
    pub total: i64,
    /// The last visit of this agency's view by one of its own admins (they share it).
    pub last_visited_at: Option<DateTime<Utc>>,
    /// Its direct sub-agencies with entries at risk in their trees, most first (at most
    /// `TOP_AGENCIES`).
    pub top_agencies: Vec<TopAgency>,
}

#[derive(Debug, Serialize)]
pub struct TopAgency {
    pub agency_id: String,
    pub name: String,
    pub total: i64,
}

/// How many sub-agencies an agency's summary names.
pub const TOP_AGENCIES: usize = 5;

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
    /// The plan years served today: what a page offers beside the current one.
    pub plan_years: PlanYearsView,
}

#[derive(Debug, Serialize)]
pub struct PlanYearsView {
    pub current: u16,
    /// The next coverage year, while its open enrollment is open before it starts.
    pub coming: Option<u16>,
    /// The open-enrollment window of the year being enrolled for now or next (the coming year,
    /// else the one after the current), both days included.
    pub open_enrollment: EnrollmentWindow,
}

#[derive(Debug, Serialize)]
pub struct EnrollmentWindow {
    pub plan_year: u16,
    pub opens: chrono::NaiveDate,
    pub closes: chrono::NaiveDate,
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

async fn me<S: Ports>(State(state): State<ApiState<S>>, caller: Caller) -> Result<Json<Me>, Problem> {
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
        plan_years: plan_years_view(&state.calendar, Utc::now().date_naive()),
    }))
}

fn plan_years_view(calendar: &shared::domain::EnrollmentCalendar, today: chrono::NaiveDate) -> PlanYearsView {
    let years = calendar.years_on(today);
    // The coming year's window; in January, the current year's until it closes; else the next.
    let enrolling = match years.coming {
        Some(coming) => coming,
        None if today <= calendar.window(years.current).1 => years.current,
        None => shared::domain::PlanYear::parse(years.current.get() + 1).unwrap_or(years.current),
    };
    let (opens, closes) = calendar.window(enrolling);
    PlanYearsView {
        current: years.current.get(),
        coming: years.coming.map(|y| y.get()),
        open_enrollment: EnrollmentWindow { plan_year: enrolling.get(), opens, closes },
    }
}

/// The agency and every agency below it, walked through the child links (one read per agency:
/// this is for choosing an agency, not a list path).
async fn downline<S: Ports>(
    State(state): State<ApiState<S>>,
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

async fn own_list<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Page>, Problem> {
    page(&state, Scope::Agent(caller.agent_id.clone()), &query, false).await.map(Json)
}

async fn agency_list<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(agency_id): Path<String>,
    query: RawQuery,
) -> Result<Json<Page>, Problem> {
    let agency = reachable_agency(&state.store, &caller, &agency_id).await?;
    page(&state, Scope::Agency(agency.agency_id), &query, true).await.map(Json)
}

async fn summary<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<Summary>, Problem> {
    only_params(&query, &["plan_year"])?;
    // One read: the counters the placements keep.
    let stats = state.store.counts(&Scope::Agent(caller.agent_id.clone()), state.year_param(&query)?).await?;
    Ok(Json(Summary {
        new_since_last_visit: stats.new_since_visit.max(0),
        total: stats.at_risk_total.max(0),
        last_visited_at: stats.last_visited_at,
    }))
}

/// Each plan year's list has its own watermark.
async fn visit<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    query: RawQuery,
) -> Result<StatusCode, Problem> {
    only_params(&query, &["plan_year"])?;
    let year = state.year_param(&query)?;
    state.store.record_visit(&Scope::Agent(caller.agent_id.clone()), year, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tree's counters (one read) and its sub-agencies with the most at risk: their counters
/// filed under it (one query, whatever the number of children) and the leaders' names — never a
/// count over the tree's entries.
async fn agency_summary<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(agency_id): Path<String>,
    query: RawQuery,
) -> Result<Json<AgencySummary>, Problem> {
    only_params(&query, &["plan_year"])?;
    let year = state.year_param(&query)?;
    let agency = reachable_agency(&state.store, &caller, &agency_id).await?;
    let stats = state.store.counts(&Scope::Agency(agency.agency_id.clone()), year).await?;
    let top_agencies = state
        .store
        .top_children(&agency.agency_id, year, TOP_AGENCIES)
        .await?
        .into_iter()
        .map(|(child, total)| TopAgency { agency_id: child.agency_id.to_string(), name: child.name.to_string(), total })
        .collect();
    Ok(Json(AgencySummary {
        new_since_last_visit: stats.new_since_visit.max(0),
        total: stats.at_risk_total.max(0),
        last_visited_at: stats.last_visited_at,
        top_agencies,
    }))
}

/// An agency's admins share one watermark for its view: what one of them has seen is no longer
/// new to the others. An admin above it looking in does not move it.
async fn agency_visit<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(agency_id): Path<String>,
    query: RawQuery,
) -> Result<StatusCode, Problem> {
    only_params(&query, &["plan_year"])?;
    let year = state.year_param(&query)?;
    let agency = reachable_agency(&state.store, &caller, &agency_id).await?;
    if agency.agency_id != caller.agency_id {
        return Err(Problem::forbidden("Only the agency's own admins record visits to its view."));
    }
    state.store.record_visit(&Scope::Agency(agency.agency_id), year, Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn settings<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(agency_id): Path<String>,
) -> Result<Json<Settings>, Problem> {
    let agency = reachable_agency(&state.store, &caller, &agency_id).await?;
    Ok(Json(Settings { agent_exports_enabled: agency.agent_exports_enabled }))
}

async fn change_settings<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(agency_id): Path<String>,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Settings>, Problem> {
    let agency = reachable_agency(&state.store, &caller, &agency_id).await?;
    const SHAPE: &str = "The body must be JSON: {\"agent_exports_enabled\": true|false}.";
    let Json(body) = body.map_err(|rejection| Problem::unreadable_body(&rejection, SHAPE))?;
    let enabled = body
        .get("agent_exports_enabled")
        .and_then(serde_json::Value::as_bool)
        .ok_or_else(|| Problem::bad_request("agent_exports_enabled must be true or false."))?;
    state.store.set_agent_exports(&agency.agency_id, enabled, Utc::now()).await?;
    tracing::info!(agency_id = %agency.agency_id, by = %caller.agent_id, enabled, "agent exports switch changed");
    Ok(Json(Settings { agent_exports_enabled: enabled }))
}

async fn page<S: Ports>(
    state: &ApiState<S>,
    scope: Scope,
    query: &RawQuery,
    with_owner: bool,
) -> Result<Page, Problem> {
    let year = state.year_param(query)?;
    let list = |filter| format!("{}/{}/{:?}", scope_name(&scope), year, filter);
    let (filter, limit, after) = list_params(query, list)?;
    let page = state.store.risk_page(&scope, year, filter, limit, after.as_deref()).await?;
    Ok(Page {
        items: page.entries.into_iter().map(|row| item(state, row, with_owner)).collect(),
        next_cursor: page.next.map(|position| Cursor { list: list(filter), position }.encode()),
    })
}

fn scope_name(scope: &Scope) -> String {
    match scope {
        Scope::Agent(id) => format!("agent:{id}"),
        Scope::Agency(id) => format!("agency:{id}"),
    }
}

/// A list's query parameters: the archived filter, the page size and the position a cursor names
/// in the list `list(filter)` names.
fn list_params(
    query: &std::collections::HashMap<String, String>,
    list: impl Fn(ArchivedFilter) -> String,
) -> Result<(ArchivedFilter, u16, Option<String>), Problem> {
    only_params(query, &["plan_year", "limit", "cursor", "archived"])?;
    let filter = match query.get("archived").map(String::as_str) {
        None | Some("exclude") => ArchivedFilter::Exclude,
        Some("include") => ArchivedFilter::Include,
        Some("only") => ArchivedFilter::Only,
        Some(_) => return Err(Problem::bad_request("archived must be exclude, include or only.")),
    };
    let limit = limit_param(query)?;
    let after = match query.get("cursor") {
        None => None,
        Some(raw) => {
            Some(Cursor::position_in(raw, &list(filter)).map_err(|e| Problem::bad_request(format!("The {e}.")))?)
        }
    };
    Ok((filter, limit, after))
}

fn item<S>(state: &ApiState<S>, row: RiskEntry, with_owner: bool) -> Item {
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
        listed_at: row.listed_at,
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

/// Property tests of a parser of outside input, a list's query: `PROPTEST_CASES` each.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::state::MAX_LIMIT;

    proptest::proptest! {
        /// Any query: the list's parameters or a 400, never a panic.
        #[test]
        fn any_query_is_parameters_or_a_400(
            query in proptest::collection::hash_map(
                proptest::sample::select(vec!["limit".to_owned(), "cursor".to_owned(), "archived".to_owned(), "other".to_owned()]),
                "\\PC{0,40}",
                0..4,
            ),
        ) {
            match list_params(&query, |filter| format!("agent:ana/2026/{filter:?}")) {
                Ok((_, limit, _)) => proptest::prop_assert!((1..=MAX_LIMIT).contains(&limit)),
                Err(problem) => proptest::prop_assert_eq!(problem.status.as_u16(), 400),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Handlers against a fake of the capabilities they use: no emulator.

    use std::sync::{Arc, Mutex};

    use shared::domain::{
        Agency, Agent, ApplicationKey, DigestSettings, EntryOwner, HistoryRecord, ListCounts, ListPage, SettingsChange,
        SwapPatterns,
    };
    use shared::domain::{AgencyId, AgentId, Name, PlanYear, Role};
    use shared::ports::StoreError;
    use shared::ports::StoredApplication;
    use shared::ports::{AgencySettings, ApplicationReads, Directory, PersonSettings, RiskLists, SwapCounts};

    use super::*;

    /// A tree `top` > `north`, the counters of one agent, and a log of every read.
    #[derive(Clone, Default)]
    struct Fake {
        reads: Arc<Mutex<Vec<&'static str>>>,
    }

    impl Fake {
        fn read(&self, what: &'static str) {
            self.reads.lock().unwrap().push(what);
        }
        fn reads(&self) -> Vec<&'static str> {
            self.reads.lock().unwrap().clone()
        }
    }

    /// The fakes are built from domain values: no key or item in sight.
    fn agency(id: &str, parent: Option<&str>) -> Agency {
        Agency {
            agency_id: AgencyId::parse(id).unwrap(),
            name: Name::parse(format!("Agency {id}")).unwrap(),
            parent_agency_id: parent.map(|p| AgencyId::parse(p).unwrap()),
            agent_exports_enabled: true,
        }
    }

    impl Directory for Fake {
        async fn agent(&self, _agent: &AgentId) -> Result<Option<Agent>, StoreError> {
            self.read("agent");
            Ok(None)
        }
        async fn agency(&self, id: &AgencyId) -> Result<Option<Agency>, StoreError> {
            self.read("agency");
            Ok(match id.as_str() {
                "top" => Some(agency("top", None)),
                "north" => Some(agency("north", Some("top"))),
                _ => None,
            })
        }
        async fn agency_path(&self, id: &AgencyId) -> Result<Vec<AgencyId>, StoreError> {
            self.read("agency path");
            let path: &[&str] = if id.as_str() == "north" { &["top", "north"] } else { &["top"] };
            Ok(path.iter().map(|a| AgencyId::parse(*a).unwrap()).collect())
        }
        async fn child_agencies(&self, agency: &AgencyId) -> Result<Vec<AgencyId>, StoreError> {
            self.read("children");
            Ok(if agency.as_str() == "top" { vec![AgencyId::parse("north").unwrap()] } else { Vec::new() })
        }
    }

    impl RiskLists for Fake {
        async fn risk_page(
            &self,
            _scope: &Scope,
            _year: PlanYear,
            _filter: ArchivedFilter,
            _limit: u16,
            _after: Option<&str>,
        ) -> Result<ListPage, StoreError> {
            self.read("risk page");
            Ok(ListPage::default())
        }
        async fn counts(&self, _scope: &Scope, _year: PlanYear) -> Result<ListCounts, StoreError> {
            self.read("stats");
            Ok(ListCounts { at_risk_total: 7, new_since_visit: 2, last_visited_at: None })
        }
        async fn top_children(
            &self,
            parent: &AgencyId,
            _year: PlanYear,
            _n: usize,
        ) -> Result<Vec<(Agency, i64)>, StoreError> {
            self.read("children's counters");
            Ok(if parent.as_str() == "top" { vec![(agency("north", Some("top")), 7)] } else { Vec::new() })
        }
        async fn record_visit(
            &self,
            _scope: &Scope,
            _year: PlanYear,
            at: DateTime<Utc>,
        ) -> Result<DateTime<Utc>, StoreError> {
            self.read("visit");
            Ok(at)
        }
    }

    impl SwapCounts for Fake {
        async fn swap_patterns(&self, _agency: &AgencyId, _year: PlanYear) -> Result<SwapPatterns, StoreError> {
            self.read("swap patterns");
            Ok(SwapPatterns::default())
        }
    }

    impl shared::ports::ConductCounts for Fake {
        async fn conduct(&self, _agency: &AgencyId, _year: PlanYear) -> Result<shared::domain::Conduct, StoreError> {
            self.read("conduct");
            Ok(shared::domain::Conduct::default())
        }
        async fn spikes_recorded(
            &self,
            _agency: &AgencyId,
            _year: PlanYear,
            _since: DateTime<Utc>,
            _through: DateTime<Utc>,
        ) -> Result<Vec<shared::ports::TakerSpike>, StoreError> {
            self.read("spikes");
            Ok(Vec::new())
        }
    }

    impl shared::ports::DisputeCases for Fake {
        async fn open_dispute(
            &self,
            _case: &shared::domain::Dispute,
            _version: u64,
            _path: &[AgencyId],
            _notice: &shared::ports::Notice,
        ) -> Result<Option<shared::domain::Dispute>, StoreError> {
            self.read("open dispute");
            Ok(None)
        }
        async fn dispute(&self, _id: &str) -> Result<Option<shared::domain::Dispute>, StoreError> {
            self.read("dispute");
            Ok(None)
        }
        async fn open_dispute_of(
            &self,
            _app: &ApplicationKey,
            _agent: &AgentId,
        ) -> Result<Option<shared::domain::Dispute>, StoreError> {
            self.read("open dispute of");
            Ok(None)
        }
        async fn save_dispute(
            &self,
            _case: &shared::domain::Dispute,
            _path: &[AgencyId],
            _notice: Option<&shared::ports::Notice>,
        ) -> Result<(), StoreError> {
            self.read("save dispute");
            Ok(())
        }
        async fn agent_disputes(&self, _agent: &AgentId) -> Result<Vec<shared::domain::Dispute>, StoreError> {
            self.read("agent disputes");
            Ok(Vec::new())
        }
        async fn tree_disputes(&self, _top: &AgencyId) -> Result<Vec<shared::domain::Dispute>, StoreError> {
            self.read("tree disputes");
            Ok(Vec::new())
        }
        async fn open_disputes_of_year(&self, _year: PlanYear) -> Result<Vec<shared::domain::Dispute>, StoreError> {
            self.read("open disputes of year");
            Ok(Vec::new())
        }
    }

    impl ApplicationReads for Fake {
        async fn application(&self, _app: &ApplicationKey) -> Result<StoredApplication, StoreError> {
            self.read("application");
            Ok(StoredApplication::default())
        }
        async fn head(&self, _app: &ApplicationKey) -> Result<StoredApplication, StoreError> {
            self.read("head");
            Ok(StoredApplication::default())
        }
        async fn history(&self, _app: &ApplicationKey) -> Result<Vec<HistoryRecord>, StoreError> {
            self.read("history");
            Ok(Vec::new())
        }
        async fn timeline_window(
            &self,
            _app: &ApplicationKey,
            _until: Option<DateTime<Utc>>,
            _records: &[(DateTime<Utc>, shared::domain::EvidenceId)],
            _since: Option<DateTime<Utc>>,
            _items: usize,
        ) -> Result<shared::ports::TimelineWindow, StoreError> {
            self.read("timeline window");
            Ok(shared::ports::TimelineWindow::default())
        }
        async fn owners(
            &self,
            _agents: std::collections::BTreeSet<AgentId>,
        ) -> Result<std::collections::HashMap<AgentId, EntryOwner>, StoreError> {
            self.read("owners");
            Ok(std::collections::HashMap::new())
        }
    }

    impl PersonSettings for Fake {
        async fn person_settings(&self, _agent: &AgentId) -> Result<DigestSettings, StoreError> {
            self.read("person settings");
            Ok(DigestSettings::default())
        }
        async fn change_person_settings(
            &self,
            _agent: &AgentId,
            change: SettingsChange,
            now: DateTime<Utc>,
        ) -> Result<DigestSettings, StoreError> {
            self.read("change person settings");
            Ok(DigestSettings::default().changed(change, now))
        }
    }

    impl AgencySettings for Fake {
        async fn set_agent_exports(
            &self,
            _agency: &AgencyId,
            _enabled: bool,
            _at: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            self.read("set exports");
            Ok(())
        }
    }

    fn state(fake: &Fake) -> State<ApiState<Fake>> {
        State(ApiState {
            store: fake.clone(),
            calendar: shared::domain::EnrollmentCalendar::default(),
            spike_rule: shared::domain::SpikeRule::default(),
            client_details_base_url: "https://app.example.com".into(),
        })
    }

    fn no_query() -> RawQuery {
        axum::extract::Query(std::collections::HashMap::new())
    }

    #[test]
    fn me_names_the_plan_years_served_and_the_window_being_enrolled_for() {
        let calendar = shared::domain::EnrollmentCalendar::default();
        let day = |raw: &str| chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap();
        let during = plan_years_view(&calendar, day("2026-12-07"));
        assert_eq!((during.current, during.coming), (2026, Some(2027)));
        assert_eq!(
            (during.open_enrollment.plan_year, during.open_enrollment.opens, during.open_enrollment.closes),
            (2027, day("2026-11-01"), day("2027-01-15"))
        );
        let january = plan_years_view(&calendar, day("2027-01-10"));
        assert_eq!((january.current, january.coming), (2027, None), "2027 is current");
        assert_eq!(january.open_enrollment.plan_year, 2027, "its enrollment closes on the 15th");
        let summer = plan_years_view(&calendar, day("2027-07-01"));
        assert_eq!((summer.open_enrollment.plan_year, summer.open_enrollment.opens), (2028, day("2027-11-01")));
    }

    fn caller(agency: &str, role: Role) -> Caller {
        Caller {
            sub: "s".into(),
            agent_id: AgentId::parse("ana").unwrap(),
            agency_id: AgencyId::parse(agency).unwrap(),
            role,
        }
    }

    #[tokio::test]
    async fn the_summary_is_one_read_of_the_counters() {
        let fake = Fake::default();
        let Json(summary) = summary(state(&fake), caller("north", Role::Agent), no_query()).await.unwrap();
        assert_eq!((summary.new_since_last_visit, summary.total), (2, 7));
        assert_eq!(fake.reads(), vec!["stats"]);
    }

    #[tokio::test]
    async fn an_admins_home_reads_the_trees_counters_and_its_childrens_in_one_go_never_the_entries() {
        let fake = Fake::default();
        let Json(home) = agency_summary(state(&fake), caller("top", Role::AgencyAdmin), Path("top".into()), no_query())
            .await
            .unwrap();
        assert_eq!((home.new_since_last_visit, home.total), (2, 7));
        assert_eq!(home.top_agencies.len(), 1);
        assert_eq!((home.top_agencies[0].agency_id.as_str(), home.top_agencies[0].total), ("north", 7));
        assert_eq!(fake.reads(), vec!["agency", "agency path", "stats", "children's counters"]);
    }

    #[tokio::test]
    async fn an_agency_is_reached_from_above_refused_to_its_agents_and_unknown_to_everyone_else() {
        let fake = Fake::default();
        let ask = |who: Caller, agency: &str| settings(state(&fake), who, Path(agency.to_owned()));
        assert!(ask(caller("top", Role::AgencyAdmin), "north").await.is_ok(), "an admin above it");
        assert!(ask(caller("north", Role::AgencyAdmin), "north").await.is_ok(), "an admin of it");
        let status = |result: Result<Json<Settings>, Problem>| result.err().map(|p| p.status.as_u16());
        assert_eq!(status(ask(caller("north", Role::Agent), "north").await), Some(403), "its own agent");
        assert_eq!(status(ask(caller("north", Role::AgencyAdmin), "top").await), Some(404), "upward");
        assert_eq!(status(ask(caller("top", Role::AgencyAdmin), "nowhere").await), Some(404), "unknown");
    }
}

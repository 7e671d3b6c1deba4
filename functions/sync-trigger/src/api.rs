//! `POST /v1/clients/{federal_exchange_id}/sync`: sync one application now, for its owner or an
//! admin of the owner's agency or any agency above it.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use chrono::{DateTime, Utc};
use http_edge::caller::Caller;
use http_edge::{Problem, RawQuery};
use serde::Serialize;
use shared::domain::ApplicationKey;
use shared::domain::{BookEntry, EnrollmentCalendar, PolicyStatus};
use shared::metrics;
use shared::ports::{Applications, SyncSlots};

use crate::marketplace::{Aor, MarketplaceClient, MarketplaceError};
use crate::sync::{SyncError, sync_application};

#[derive(Clone, Debug)]
pub struct ApiState<S> {
    pub store: S,
    pub marketplace: MarketplaceClient,
    /// Which plan years are served on a day (a sync's default is the current one).
    pub calendar: EnrollmentCalendar,
    /// How many on-demand syncs one person may have in flight at once, across every instance.
    pub syncs_in_flight: u32,
}

/// How long a sync slot is held at most: past every retry of one marketplace call.
const SLOT_HOLD: chrono::Duration = chrono::Duration::seconds(60);

/// API Gateway gives an integration 30 s at most, whatever the function's time-out.
const API_GATEWAY_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What an answer needs after the marketplace is given up on: the evidence written, the slot
/// given back, the response sent.
const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(3);

pub fn router<S: Applications + SyncSlots>(state: ApiState<S>) -> Router {
    Router::new().route("/v1/clients/{federal_exchange_id}/sync", post(sync_client::<S>)).with_state(state)
}

#[derive(Debug, Serialize)]
pub struct SyncResponse {
    pub federal_exchange_id: String,
    pub plan_year: u16,
    /// Whose book entry the answer is measured against: the caller's, or for an admin the entry
    /// of an agent they oversee.
    pub agent_id: String,
    pub expected_npn: String,
    pub at_risk: bool,
    pub reason: Option<&'static str>,
    pub at_risk_since: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub policies: Vec<PolicyView>,
}

#[derive(Debug, Serialize)]
pub struct PolicyView {
    pub policy_id: String,
    pub issuer_name: String,
    pub status: PolicyStatus,
    pub aor: Option<Aor>,
    pub matches_expected_npn: bool,
}

async fn sync_client<S: Applications + SyncSlots>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    lambda: Option<axum::Extension<lambda_http::Context>>,
    Path(raw_id): Path<String>,
    query: RawQuery,
) -> Result<Json<SyncResponse>, Problem> {
    // The marketplace is asked only while an answer can still reach the person: before the
    // Lambda's deadline and API Gateway's limit, less what the answer itself needs.
    let until = tokio::time::Instant::from_std(shared::deadline::run_deadline(
        API_GATEWAY_LIMIT - ANSWER_MARGIN,
        ANSWER_MARGIN,
        lambda.map(|context| context.deadline()),
    ));
    let current = state.calendar.years_on(Utc::now().date_naive()).current;
    let application = http_edge::application_key(raw_id, &query, current)?;

    let agent = http_edge::visible_entry(&state.store, &caller, &state.store.head(&application).await?).await?;
    // One person firing syncs in parallel must not starve everyone else's of the partner's rate.
    let now = Utc::now();
    let Some(slot) = state.store.take_sync_slot(&caller.sub, state.syncs_in_flight, now, now + SLOT_HOLD).await? else {
        let mut busy = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-syncs",
            "Too many syncs at once",
            format!("You have {} syncs under way; try again when one has finished.", state.syncs_in_flight),
        );
        busy.retry_after = Some(5);
        return Err(busy);
    };
    let synced = sync_application(&state.store, &state.marketplace, &application, now, until).await;
    crate::sync::emit_outcomes(&[(crate::sync::outcome(&synced), 1)].into());
    let line = metrics::Line::new().count(metrics::PLACEMENT_CONFLICTS, state.store.take_placement_conflicts());
    state.marketplace.with_refusals(line).emit();
    if let Err(err) = state.store.release_sync_slot(&slot).await {
        // It frees itself when its time runs out.
        tracing::warn!(error = %err, "could not give a sync slot back");
    }
    let answer = synced.map_err(problem)?;
    let stored = state.store.application(&application).await?;
    let entry = stored.entries.get(&agent).ok_or_else(|| Problem::not_found("No such client in your book."))?;
    Ok(Json(response(&application, entry, stored.last_synced_at, answer)))
}

fn response(
    application: &ApplicationKey,
    entry: &BookEntry,
    last_synced_at: Option<DateTime<Utc>>,
    answer: crate::marketplace::MarketplaceApplication,
) -> SyncResponse {
    let expected = entry.expected_npn.as_str();
    SyncResponse {
        federal_exchange_id: application.id.to_string(),
        plan_year: application.year.get(),
        agent_id: entry.agent_id.to_string(),
        expected_npn: expected.to_owned(),
        at_risk: entry.is_at_risk(),
        reason: entry.risk.as_ref().map(|r| r.reason.as_str()),
        at_risk_since: entry.risk.as_ref().map(|r| r.since),
        last_synced_at,
        policies: answer
            .policies
            .into_iter()
            .map(|p| PolicyView {
                matches_expected_npn: p.aor.as_ref().is_some_and(|aor| aor.npn == expected),
                policy_id: p.policy_id,
                issuer_name: p.issuer_name,
                status: p.status,
                aor: p.aor,
            })
            .collect(),
    }
}

/// A failed sync changed nothing, and says so.
fn problem(err: SyncError) -> Problem {
    const NOTHING_CHANGED: &str = "Nothing was changed.";
    match err {
        SyncError::Marketplace(MarketplaceError::NotFound) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "marketplace-unknown-application",
            "The marketplace does not know this application",
            format!("The marketplace has no such application for this plan year. {NOTHING_CHANGED}"),
        ),
        SyncError::Marketplace(MarketplaceError::RateLimited { retry_after }) => Problem {
            retry_after: Some(retry_after.as_secs().max(1)),
            ..Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "marketplace-busy",
                "The marketplace is busy",
                format!("The marketplace asked us to slow down. {NOTHING_CHANGED} Try again shortly."),
            )
        },
        SyncError::Marketplace(MarketplaceError::NoTurn { retry_after }) => Problem {
            retry_after: Some(retry_after.as_secs().max(1)),
            ..Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "marketplace-busy",
                "The marketplace is busy",
                format!("Syncs are using all of the marketplace's rate just now. {NOTHING_CHANGED} Try again shortly."),
            )
        },
        SyncError::Marketplace(MarketplaceError::Unavailable { attempts, .. }) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "marketplace-unavailable",
            "The marketplace did not answer",
            format!(
                "The marketplace did not answer after {attempts} attempts. {NOTHING_CHANGED} Try again in a few minutes."
            ),
        ),
        SyncError::Marketplace(MarketplaceError::BadAnswer(reason)) => {
            tracing::error!(reason = %reason, "the marketplace answered something unexpected");
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "marketplace-bad-answer",
                "The marketplace answered something unexpected",
                NOTHING_CHANGED,
            )
        }
        SyncError::Store(err) => err.into(),
    }
}

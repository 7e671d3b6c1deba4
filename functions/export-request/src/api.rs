//! | route | who |
//! | --- | --- |
//! | `POST /v1/exports` | anyone for their own book (unless their agency turned agent exports off); admins for an agency they reach |
//! | `GET /v1/exports` | the requester's own exports |
//! | `GET /v1/exports/{export_id}` | the requester |
//! | `GET /v1/exports/{export_id}/download` | the requester: 302 to a link valid for minutes |

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use http_edge::caller::Caller;
use http_edge::{Problem, reachable_agency};
use serde::Serialize;
use shared::domain::{EnrollmentCalendar, ExportId, PlanYear};
use shared::domain::{ExportJob, ExportScope, ExportStatus};
use shared::ports::{Directory, ExportRequests};

/// The store's capabilities this function uses: who is who, and export jobs.
pub trait Ports: Directory + ExportRequests {}
impl<S: Directory + ExportRequests> Ports for S {}

#[derive(Clone, Debug)]
pub struct ApiState<S> {
    pub store: S,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub exports_queue_url: String,
    pub bucket: String,
    /// Which plan years are served on a day (an export's default is the current one).
    pub calendar: EnrollmentCalendar,
    /// How long a download link works.
    pub link_lifetime: Duration,
}

pub fn router<S: Ports>(state: ApiState<S>) -> Router {
    Router::new()
        .route("/v1/exports", post(request_export::<S>).get(list_exports::<S>))
        .route("/v1/exports/{export_id}", get(show_export::<S>))
        .route("/v1/exports/{export_id}/download", get(download::<S>))
        .with_state(state)
}

/// An export as its requester sees it.
#[derive(Debug, Serialize)]
pub struct ExportView {
    pub export_id: String,
    pub scope: &'static str,
    pub agency_id: Option<String>,
    pub plan_year: u16,
    pub status: &'static str,
    pub rows_written: u64,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

impl From<&ExportJob> for ExportView {
    fn from(job: &ExportJob) -> Self {
        let (scope, agency_id) = match &job.scope {
            ExportScope::Agent { .. } => ("agent", None),
            ExportScope::Agency { agency_id } => ("agency", Some(agency_id.to_string())),
            ExportScope::Disputes { agency_id } => ("disputes", Some(agency_id.to_string())),
        };
        Self {
            export_id: job.export_id.to_string(),
            scope,
            agency_id,
            plan_year: job.plan_year,
            status: job.status.as_str(),
            rows_written: job.rows_written,
            created_at: job.created_at,
            completed_at: job.completed_at,
            error: job.error.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
struct Accepted {
    export_id: String,
    status: &'static str,
}

#[derive(Debug, Serialize)]
struct ExportList {
    items: Vec<ExportView>,
}

async fn request_export<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Problem> {
    const SHAPE: &str = "The body must be {\"scope\": \"agent\"}, or {\"scope\": \"agency\" or \"disputes\", \"agency_id\": \"…\"}, with an optional \"plan_year\".";
    let Json(body) = body.map_err(|rejection| Problem::unreadable_body(&rejection, SHAPE))?;
    let idempotency_key = headers.get("idempotency-key").map(idempotency_key).transpose()?;
    // Only what the document names: a property it does not (a misspelt `agency_id`) is refused,
    // never quietly ignored.
    let known = |name: &String| matches!(name.as_str(), "scope" | "agency_id" | "plan_year");
    if !body.as_object().is_some_and(|fields| fields.keys().all(known)) {
        return Err(Problem::bad_request(SHAPE));
    }
    let year = match body.get("plan_year") {
        None => state.calendar.years_on(Utc::now().date_naive()).current,
        // (JSON has one kind of number: 2027.0 is the year 2027.)
        Some(year) => year
            .as_u64()
            .or_else(|| year.as_f64().filter(|y| y.fract() == 0.0 && *y >= 0.0).map(|y| y as u64))
            .and_then(|y| u16::try_from(y).ok())
            .and_then(|y| PlanYear::parse(y).ok())
            .ok_or_else(|| Problem::bad_request("plan_year must be a year between 2014 and 2100."))?,
    };
    let scope = match (body.get("scope").and_then(|s| s.as_str()), body.get("agency_id")) {
        (Some("agent"), None) => {
            let agency = state.store.agency(&caller.agency_id).await?;
            let disabled = agency.is_some_and(|a| !a.agent_exports_enabled);
            if disabled && !caller.is_admin() {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "exports-disabled",
                    "Exports are turned off",
                    "Your agency admin has turned off exports for agents. Ask them to turn it back on.",
                ));
            }
            ExportScope::Agent { agent_id: caller.agent_id.clone() }
        }
        (Some(kind @ ("agency" | "disputes")), Some(agency_id)) => {
            let agency_id = agency_id.as_str().ok_or_else(|| Problem::bad_request(SHAPE))?;
            let agency = reachable_agency(&state.store, &caller, agency_id).await?.agency_id;
            match kind {
                "agency" => ExportScope::Agency { agency_id: agency },
                _ => ExportScope::Disputes { agency_id: agency },
            }
        }
        _ => return Err(Problem::bad_request(SHAPE)),
    };
    let me = state.store.agent(&caller.agent_id).await?.ok_or_else(|| {
        Problem::new(
            StatusCode::CONFLICT,
            "requester-unknown",
            "We do not know where to send it",
            "Your profile has not reached this system yet, so there is no email to send the export to. Try again later.",
        )
    })?;
    let job = ExportJob::new(
        ExportId::parse(format!("exp-{}", uuid::Uuid::new_v4().simple())).map_err(|_| Problem::internal())?,
        caller.sub.clone(),
        caller.agent_id.clone(),
        me.email,
        scope,
        year.get(),
        Utc::now(),
    );
    let asked = (job.scope.clone(), job.plan_year);
    let job = state.store.create_export(&job, idempotency_key).await?;
    if (job.scope.clone(), job.plan_year) != asked {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key already used",
            "This Idempotency-Key was used within the last day for a different export; use a new key.",
        ));
    }
    // Queued again when an earlier request with the same key stopped short of it: the builder
    // takes each export once, however many messages name it.
    if job.status == ExportStatus::Queued {
        let message = serde_json::json!({ "export_id": job.export_id }).to_string();
        if let Err(err) =
            state.sqs.send_message().queue_url(&state.exports_queue_url).message_body(message).send().await
        {
            tracing::error!(export_id = %job.export_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "could not queue the export");
            return Err(Problem::internal());
        }
    }
    tracing::info!(export_id = %job.export_id, by = %caller.agent_id, "export requested");
    Ok((StatusCode::ACCEPTED, Json(Accepted { export_id: job.export_id.to_string(), status: job.status.as_str() }))
        .into_response())
}

async fn list_exports<S: Ports>(State(state): State<ApiState<S>>, caller: Caller) -> Result<Json<ExportList>, Problem> {
    let jobs = state.store.exports_of(&caller.sub, 20).await?;
    Ok(Json(ExportList { items: jobs.iter().map(ExportView::from).collect() }))
}

async fn show_export<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(export_id): Path<String>,
) -> Result<Json<ExportView>, Problem> {
    let job = own_export(&state.store, &caller, &export_id).await?;
    Ok(Json(ExportView::from(&job)))
}

/// Where the file is, for a page that asks with `Accept: application/json` (a script cannot
/// read a redirect's target).
#[derive(Debug, Serialize)]
struct DownloadLink {
    url: String,
    expires_in_seconds: u64,
}

async fn download<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(export_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let job = own_export(&state.store, &caller, &export_id).await?;
    // An agency's file only while its requester still reaches the agency.
    if matches!(job.scope, ExportScope::Agency { .. } | ExportScope::Disputes { .. })
        && !shared::ports::export_still_allowed(&state.store, &job).await?
    {
        return Err(Problem::not_found("No such export."));
    }
    let (Some(key), ExportStatus::Succeeded) = (job.object_key.as_deref(), job.status) else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "export-not-ready",
            "Not ready",
            format!("The export is {}; the link works once it has succeeded.", job.status.as_str()),
        ));
    };
    if job.file_expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(Problem::new(
            StatusCode::GONE,
            "export-expired",
            "Expired",
            "The file has expired. Ask for a new export.",
        ));
    }
    let presigning = aws_sdk_s3::presigning::PresigningConfig::expires_in(state.link_lifetime).map_err(|e| {
        tracing::error!(error = %e, "bad presigning configuration");
        Problem::internal()
    })?;
    let presigned = state.s3.get_object().bucket(&state.bucket).key(key).presigned(presigning).await.map_err(|e| {
        tracing::error!(export_id = %export_id, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "could not presign");
        Problem::internal()
    })?;
    tracing::info!(export_id = %export_id, "download link handed out");
    let wants_json =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let link = DownloadLink { url: presigned.uri().to_owned(), expires_in_seconds: state.link_lifetime.as_secs() };
        return Ok(Json(link).into_response());
    }
    Ok((StatusCode::FOUND, [(header::LOCATION, presigned.uri().to_owned())]).into_response())
}

/// The `Idempotency-Key` header's key: 1 to 128 visible ASCII characters, without `#` (keys
/// become part of a table key) and without spaces (`docs/openapi.yaml` says so).
fn idempotency_key(value: &axum::http::HeaderValue) -> Result<&str, Problem> {
    value
        .to_str()
        .ok()
        .filter(|k| (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic() && b != b'#'))
        .ok_or_else(|| {
            Problem::bad_request("Idempotency-Key must be 1 to 128 visible characters, without '#' or spaces.")
        })
}

/// The export, if the caller asked for it; anyone else is told it does not exist.
async fn own_export(store: &impl ExportRequests, caller: &Caller, export_id: &str) -> Result<ExportJob, Problem> {
    let not_found = || Problem::not_found("No such export.");
    let Ok(export_id) = ExportId::parse(export_id) else { return Err(not_found()) };
    store.export(&export_id).await?.filter(|job| job.requester == caller.sub).ok_or_else(not_found)
}

/// Property tests of a parser of outside input, the `Idempotency-Key` header: `PROPTEST_CASES` each.
#[cfg(test)]
mod fuzz {
    use super::*;

    proptest::proptest! {
        /// Any header bytes: a key fit for a table key, or a 400, never a panic.
        #[test]
        fn any_header_is_a_key_or_a_400(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let Ok(value) = axum::http::HeaderValue::from_bytes(&bytes) else { return Ok(()) };
            match idempotency_key(&value) {
                // As the document's pattern says: visible ASCII, no '#', no space.
                Ok(key) => proptest::prop_assert!(
                    !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
                ),
                Err(problem) => proptest::prop_assert_eq!(problem.status.as_u16(), 400),
            }
        }
    }
}

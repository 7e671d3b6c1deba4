//! The HTTP edge every API function shares: how errors look (`application/problem+json`, RFC 9457),
//! what a request may be, and who may reach what (who is calling is `crate::caller`).
//!
//! In AWS, API Gateway's JWT authorizer verifies the token and `lambda_http` puts the request
//! context in the request's extensions. Locally the dev server verifies the token itself and puts
//! exactly the same context there, so handlers cannot tell the two apart.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use serde::Serialize;

use crate::caller::Caller;
use crate::domain::{AgencyId, AgentId};
use crate::ports::{ApplicationReads, Directory};
use crate::store::StoreError;
use crate::store::applications::StoredApplication;
use crate::store::items::AgencyItem;

/// An error as the client sees it. Never carries internals: unexpected failures are logged where
/// they happen and become a bare 500.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    #[serde(serialize_with = "status_code")]
    pub status: StatusCode,
    pub detail: String,
    /// Seconds after which trying again may work (sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

fn status_code<S: serde::Serializer>(status: &StatusCode, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u16(status.as_u16())
}

impl Problem {
    /// `slug` names the problem type, documented under `/problems/{slug}` in the API description.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Not signed in", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }

    /// Also what someone gets for a resource that exists but is not theirs to see, so that ids
    /// cannot be probed.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-request", "Invalid request", detail)
    }

    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Request too large",
            format!("A request body may hold at most {MAX_BODY_BYTES} bytes."),
        )
    }

    /// A JSON body that could not be read: too large, or not the shape `detail` describes.
    pub fn unreadable_body(rejection: &axum::extract::rejection::JsonRejection, detail: &str) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::too_large(),
            _ => Self::bad_request(detail),
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong",
            "The request could not be completed. It is safe to try again.",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The agency, if the caller is an admin of it or of an agency above it. An agent asking about
/// their own agency is refused (403: they know it exists); anyone asking about an agency beyond
/// their reach is told it does not exist (404), as for every resource outside one's reach.
pub async fn reachable_agency(store: &impl Directory, caller: &Caller, raw_id: &str) -> Result<AgencyItem, Problem> {
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

/// The application a client route names: the Federal Exchange ID in its path and the plan year
/// in its query (`current` when absent).
pub fn application_key(
    raw_id: String,
    query: &std::collections::HashMap<String, String>,
    current: crate::domain::PlanYear,
) -> Result<crate::domain::ApplicationKey, Problem> {
    let id = crate::domain::FederalExchangeId::parse(raw_id).map_err(|e| Problem::bad_request(format!("The {e}.")))?;
    Ok(crate::domain::ApplicationKey { id, year: plan_year_param(query, current)? })
}

/// The `plan_year` of a query (`current` when absent).
pub fn plan_year_param(
    query: &std::collections::HashMap<String, String>,
    current: crate::domain::PlanYear,
) -> Result<crate::domain::PlanYear, Problem> {
    match query.get("plan_year") {
        None => Ok(current),
        Some(raw) => raw
            .parse::<u16>()
            .ok()
            .and_then(|y| crate::domain::PlanYear::parse(y).ok())
            .ok_or_else(|| Problem::bad_request("plan_year must be a year between 2014 and 2100.")),
    }
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
        let mut reachable: Vec<&crate::domain::BookEntry> = stored
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

/// What the API answers for a path it does not have: problem+json like every error.
pub async fn no_such_route() -> Problem {
    Problem::not_found("There is no such resource.")
}

/// The most a request body may hold: an export request is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// An HTTP function's router as it faces the world, in Lambda and locally alike. Every answer
/// that is not a success is problem+json: an unknown route (404), a wrong method (405, with
/// `Allow`), a body over `MAX_BODY_BYTES` (413), whatever axum itself refuses (an undecodable
/// path, query or body: 400, or its own status), and a panic — caught, logged with the request
/// id, answered 500.
pub fn edge(router: Router) -> Router {
    router
        .fallback(no_such_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(as_problem))
        .layer(axum::middleware::from_fn(catch_panic))
}

/// An error answer that is not problem+json yet (axum's own rejections are plain text or empty)
/// becomes one of its status; `Allow` is kept.
async fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|kind| kind.as_bytes().starts_with(b"application/problem+json"));
    if is_problem || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let problem = match status {
        StatusCode::NOT_FOUND => Problem::not_found("There is no such resource."),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "method-not-allowed",
            "Method not allowed",
            "This resource does not answer this method; the Allow header lists those it does.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => Problem::too_large(),
        StatusCode::UNAUTHORIZED => Problem::unauthorized("a bearer token is required"),
        client if client.is_client_error() => Problem::new(
            client,
            "invalid-request",
            "Invalid request",
            "The request could not be read: its path, query, headers or body are not valid.",
        ),
        _ => Problem::internal(),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut answer = problem.into_response();
    if let Some(allow) = allow {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// A handler that panics answers 500 like any failure, logged with the request id; the process
/// goes on serving (release builds unwind for this).
async fn catch_panic(request: Request, next: Next) -> Response {
    let request_id = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    };
    match CatchUnwind(Box::pin(next.run(request))).await {
        Ok(response) => response,
        Err(()) => {
            tracing::error!(request_id, "a handler panicked; answered 500");
            Problem::internal().into_response()
        }
    }
}

/// A future whose panic becomes `Err(())` instead of unwinding further.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

/// Query parameters as given, so that each handler can refuse a bad one with its own message
/// (axum's own rejection would be plain text).
pub type RawQuery = axum::extract::Query<std::collections::HashMap<String, String>>;

/// A store failure on a request path: logged with its cause, answered with a bare 500.
impl From<StoreError> for Problem {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::BadCursor => Problem::bad_request("The cursor does not belong to this list."),
            other => {
                tracing::error!(error = %other, "store failure on a request path");
                Problem::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_problem_json() {
        let response = Problem::not_found("No such export.").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
    }
}

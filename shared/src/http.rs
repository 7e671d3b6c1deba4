//! The HTTP edge every API function shares: who is calling (from the JWT claims API Gateway has
//! verified) and how errors look (`application/problem+json`, RFC 9457).
//!
//! In AWS, API Gateway's JWT authorizer verifies the token and `lambda_http` puts the request
//! context in the request's extensions. Locally the dev server verifies the token itself and puts
//! exactly the same context there, so handlers cannot tell the two apart.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use serde::Serialize;

use crate::domain::Role;
use crate::domain::{AgencyId, AgentId};
use crate::ports::Directory;
use crate::store::StoreError;
use crate::store::items::{AgencyItem, Owner};

/// The caller, from the claims `sub`, `agent_id`, `agency_id` and `role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub sub: String,
    pub agent_id: AgentId,
    pub agency_id: AgencyId,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::AgencyAdmin
    }

    /// Whether the caller reaches an agency whose path (`Directory::agency_path`) is `path`: the
    /// domain's rule (`domain::admin_reaches`).
    pub fn reaches_path(&self, path: &[AgencyId]) -> bool {
        crate::domain::admin_reaches(self.role, &self.agency_id, path)
    }

    /// Whose book entries the caller may see: their own, and as an admin, those of every agent in
    /// an agency they reach.
    pub fn reaches_owner(&self, owner: &Owner) -> bool {
        owner.agent_id == self.agent_id || (owner.agent.is_some() && self.reaches_path(&owner.path))
    }

    /// Reads the caller from API Gateway v2 JWT claims.
    pub fn from_claims(claims: &std::collections::HashMap<String, String>) -> Result<Self, Problem> {
        let claim = |name: &str| {
            claims
                .get(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Problem::unauthorized(format!("the token has no {name} claim")))
        };
        let role = Role::parse(claim("role")?)
            .map_err(|_| Problem::unauthorized("the token's role claim is neither agent nor agency_admin"))?;
        Ok(Self {
            sub: claim("sub")?.clone(),
            agent_id: AgentId::parse(claim("agent_id")?.as_str())
                .map_err(|e| Problem::unauthorized(format!("the token's {e}")))?,
            agency_id: AgencyId::parse(claim("agency_id")?.as_str())
                .map_err(|e| Problem::unauthorized(format!("the token's {e}")))?,
            role,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let claims = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => {
                context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| &jwt.claims)
            }
            _ => None,
        };
        let claims = claims.ok_or_else(|| Problem::unauthorized("a bearer token is required"))?;
        Caller::from_claims(claims)
    }
}

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

/// What the API answers for a path or method it does not have: problem+json like every error.
pub async fn no_such_route() -> Problem {
    Problem::not_found("There is no such resource.")
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

    fn claims(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_caller_comes_from_the_four_claims() {
        let caller = Caller::from_claims(&claims(&[
            ("sub", "u1"),
            ("agent_id", "a1"),
            ("agency_id", "g1"),
            ("role", "agency_admin"),
        ]))
        .unwrap();
        assert!(caller.is_admin());
        assert_eq!(caller.agent_id.as_str(), "a1");
    }

    #[test]
    fn missing_or_bad_claims_are_unauthorized() {
        for bad in [
            claims(&[("sub", "u1"), ("agency_id", "g1"), ("role", "agent")]),
            claims(&[("sub", "u1"), ("agent_id", "a1"), ("agency_id", "g1"), ("role", "root")]),
            claims(&[("sub", "u1"), ("agent_id", "a#1"), ("agency_id", "g1"), ("role", "agent")]),
        ] {
            assert_eq!(Caller::from_claims(&bad).unwrap_err().status, StatusCode::UNAUTHORIZED);
        }
    }

    #[test]
    fn a_problem_is_problem_json() {
        let response = Problem::not_found("No such export.").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
    }
}

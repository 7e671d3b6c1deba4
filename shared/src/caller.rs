//! Who is calling. The token identifies the person — API Gateway's JWT authorizer has verified it
//! (locally, the dev server's stand-in) — and the directory decides what they may do: their agency
//! and role are read from it on every request, so an admin demoted or moved loses access at once,
//! whatever their token still says (SPEC §6).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;

use crate::config::Vars;
use crate::domain::{AgencyId, AgentId, Role};
use crate::http::Problem;
use crate::ports::Directory;
use crate::store::items::Owner;

/// The names of the token's claims that name the person's agent, agency and role, as the issuer
/// calls them: a Cognito user pool's custom attributes are `custom:agent_id` and so on, another
/// issuer may use plain names (`JWT_AGENT_ID_CLAIM`, `JWT_AGENCY_ID_CLAIM`, `JWT_ROLE_CLAIM`; the
/// template sets them from its parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub agent_id: String,
    pub agency_id: String,
    pub role: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self { agent_id: "agent_id".into(), agency_id: "agency_id".into(), role: "role".into() }
    }
}

impl ClaimNames {
    /// The names a user pool the template creates gives the three: its custom attributes.
    pub fn cognito() -> Self {
        Self { agent_id: "custom:agent_id".into(), agency_id: "custom:agency_id".into(), role: "custom:role".into() }
    }

    pub fn from_vars(vars: &Vars) -> Self {
        let default = Self::default();
        let name = |var: &str, default: String| vars.optional(var).unwrap_or(default);
        Self {
            agent_id: name("JWT_AGENT_ID_CLAIM", default.agent_id),
            agency_id: name("JWT_AGENCY_ID_CLAIM", default.agency_id),
            role: name("JWT_ROLE_CLAIM", default.role),
        }
    }

    /// The claims a token must carry to be one of this system's: the person, and the three.
    pub fn required(&self) -> [&str; 4] {
        ["sub", &self.agent_id, &self.agency_id, &self.role]
    }
}

/// Who the token says is calling: the person (`sub`) and the agent they are in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub sub: String,
    pub agent_id: AgentId,
}

impl Identity {
    /// Reads the person from a verified token's claims (API Gateway passes each as a string). A
    /// token without every required claim is not one of ours: 401.
    pub fn from_claims(claims: &HashMap<String, String>, names: &ClaimNames) -> Result<Self, Problem> {
        for name in names.required() {
            if claims.get(name).is_none_or(|v| v.is_empty()) {
                return Err(Problem::unauthorized(format!("the token has no {name} claim")));
            }
        }
        let agent_id = AgentId::parse(claims[&names.agent_id].as_str())
            .map_err(|e| Problem::unauthorized(format!("the token's {e}")))?;
        Ok(Self { sub: claims["sub"].clone(), agent_id })
    }
}

/// The caller as the directory knows them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub sub: String,
    pub agent_id: AgentId,
    pub agency_id: AgencyId,
    pub role: Role,
}

impl Caller {
    /// The person `identity` names, with their agency and role as the directory has them. Someone
    /// the directory does not know may do nothing (403: signed in, but not one of ours yet).
    pub async fn of(identity: Identity, directory: &impl Directory) -> Result<Self, Problem> {
        let agent = directory.agent(&identity.agent_id).await?.ok_or_else(|| {
            Problem::new(
                axum::http::StatusCode::FORBIDDEN,
                "not-in-directory",
                "Not in the directory",
                "You are signed in, but the agency directory does not know you yet: ask your agency admin.",
            )
        })?;
        Ok(Self { sub: identity.sub, agent_id: agent.agent_id, agency_id: agent.agency_id, role: agent.role })
    }

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
}

/// A handler's caller: the one `identify` found for this request, or a 401.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| Problem::unauthorized("a bearer token is required"))
    }
}

/// An HTTP function's routes with their callers identified: for a request carrying verified
/// claims (in `requestContext.authorizer.jwt.claims`), the person is read from the claims named
/// `names` and looked up in `directory`; a request without claims reaches the handler with no
/// caller, which answers 401.
pub fn identify<D: Directory + Clone + Send + Sync + 'static>(
    router: Router,
    directory: D,
    names: ClaimNames,
) -> Router {
    let names = Arc::new(names);
    router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let (directory, names) = (directory.clone(), names.clone());
        async move { with_caller(&directory, &names, request, next).await }
    }))
}

async fn with_caller(directory: &impl Directory, names: &ClaimNames, mut request: Request, next: Next) -> Response {
    let claims = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| jwt.claims.clone())
        }
        _ => None,
    };
    if let Some(claims) = claims {
        let caller = match Identity::from_claims(&claims, names) {
            Ok(identity) => Caller::of(identity, directory).await,
            Err(problem) => Err(problem),
        };
        match caller {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
            }
            Err(problem) => return problem.into_response(),
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_person_comes_from_the_claims_the_issuer_names() {
        let token = claims(&[
            ("sub", "u1"),
            ("custom:agent_id", "a1"),
            ("custom:agency_id", "g1"),
            ("custom:role", "agency_admin"),
        ]);
        let identity = Identity::from_claims(&token, &ClaimNames::cognito()).unwrap();
        assert_eq!(identity, Identity { sub: "u1".into(), agent_id: AgentId::parse("a1").unwrap() });
        // The same token read with plain names lacks them.
        assert_eq!(Identity::from_claims(&token, &ClaimNames::default()).unwrap_err().status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_token_without_a_required_claim_or_with_a_bad_agent_id_is_unauthorized() {
        let whole = [("sub", "u1"), ("agent_id", "a1"), ("agency_id", "g1"), ("role", "agent")];
        for missing in 0..whole.len() {
            let mut partial = whole.to_vec();
            partial.remove(missing);
            let problem = Identity::from_claims(&claims(&partial), &ClaimNames::default()).unwrap_err();
            assert_eq!(problem.status, StatusCode::UNAUTHORIZED);
            assert!(problem.detail.contains(whole[missing].0), "{}", problem.detail);
        }
        let bad = claims(&[("sub", "u1"), ("agent_id", "a#1"), ("agency_id", "g1"), ("role", "agent")]);
        assert_eq!(Identity::from_claims(&bad, &ClaimNames::default()).unwrap_err().status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn claim_names_come_from_the_settings() {
        let vars = Vars::from_pairs([("JWT_AGENT_ID_CLAIM", "custom:agent_id"), ("JWT_ROLE_CLAIM", "custom:role")]);
        let names = ClaimNames::from_vars(&vars);
        assert_eq!(names.required(), ["sub", "custom:agent_id", "agency_id", "custom:role"]);
    }
}

/// Property tests of a parser of outside input, the token's claims: `PROPTEST_CASES` each.
#[cfg(test)]
mod fuzz {
    use super::*;
    use axum::http::StatusCode;

    proptest::proptest! {
        /// Any claims: a person or a 401, never a panic; a person only with every required claim.
        #[test]
        fn any_claims_are_a_person_or_a_401(
            claims in proptest::collection::hash_map("\\PC{0,12}", "\\PC{0,40}", 0..8),
            agent_id in "\\PC{0,16}",
        ) {
            let names = ClaimNames::default();
            let mut with_known_keys = claims.clone();
            for key in ["sub", "agency_id", "role"] {
                with_known_keys.entry(key.to_owned()).or_insert_with(|| "x".to_owned());
            }
            with_known_keys.insert("agent_id".to_owned(), agent_id);
            for claims in [claims, with_known_keys] {
                match Identity::from_claims(&claims, &names) {
                    Ok(identity) => {
                        proptest::prop_assert!(names.required().iter().all(|n| claims.get(*n).is_some_and(|v| !v.is_empty())));
                        proptest::prop_assert_eq!(identity.agent_id.as_str(), claims["agent_id"].as_str());
                    }
                    Err(problem) => proptest::prop_assert_eq!(problem.status, StatusCode::UNAUTHORIZED),
                }
            }
        }
    }
}

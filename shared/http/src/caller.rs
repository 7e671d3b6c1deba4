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

use crate::Problem;
use domain::EntryOwner;
use domain::{AgencyId, AgentId, Role};
use ports::Directory;
use shared::config::Vars;

/// The token claim naming the person's agent id in the directory, as the issuer calls it: a
/// Cognito user pool's custom attribute is `custom:agent_id`, another issuer may say `agent_id`
/// (`JWT_AGENT_ID_CLAIM`; the template sets it). It is the only claim read besides `sub`: the
/// person's agency and role are the directory's, whatever else the token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdClaim(pub String);

impl Default for AgentIdClaim {
    fn default() -> Self {
        Self("agent_id".into())
    }
}

impl AgentIdClaim {
    /// The name a user pool the template creates gives it: its custom attribute.
    pub fn cognito() -> Self {
        Self("custom:agent_id".into())
    }

    pub fn from_vars(vars: &Vars) -> Self {
        vars.optional("JWT_AGENT_ID_CLAIM").map(Self).unwrap_or_default()
    }

    /// The claims a token must carry to be one of this system's: the person, and their agent id.
    pub fn required(&self) -> [&str; 2] {
        ["sub", &self.0]
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
    pub fn from_claims(claims: &HashMap<String, String>, agent_id_claim: &AgentIdClaim) -> Result<Self, Problem> {
        for name in agent_id_claim.required() {
            if claims.get(name).is_none_or(|v| v.is_empty()) {
                return Err(Problem::unauthorized(format!("the token has no {name} claim")));
            }
        }
        let agent_id = AgentId::parse(claims[&agent_id_claim.0].as_str())
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
        domain::admin_reaches(self.role, &self.agency_id, path)
    }

    /// Whose book entries the caller may see: their own, and as an admin, those of every agent in
    /// an agency they reach.
    pub fn reaches_owner(&self, owner: &EntryOwner) -> bool {
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
/// claims (in `requestContext.authorizer.jwt.claims`), the person is read from them (`sub` and
/// `agent_id_claim`) and looked up in `directory`; a request without claims reaches the handler
/// with no caller, which answers 401.
pub fn identify<D: Directory + Clone + Send + Sync + 'static>(
    router: Router,
    directory: D,
    agent_id_claim: AgentIdClaim,
) -> Router {
    let names = Arc::new(agent_id_claim);
    router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let (directory, names) = (directory.clone(), names.clone());
        async move { with_caller(&directory, &names, request, next).await }
    }))
}

async fn with_caller(
    directory: &impl Directory,
    agent_id_claim: &AgentIdClaim,
    mut request: Request,
    next: Next,
) -> Response {
    let claims = match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| jwt.claims.clone())
        }
        _ => None,
    };
    if let Some(claims) = claims {
        let caller = match Identity::from_claims(&claims, agent_id_claim) {
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
    fn the_person_comes_from_the_claim_the_issuer_names_and_nothing_else_is_needed() {
        let token = claims(&[("sub", "u1"), ("custom:agent_id", "a1")]);
        let identity = Identity::from_claims(&token, &AgentIdClaim::cognito()).unwrap();
        assert_eq!(identity, Identity { sub: "u1".into(), agent_id: AgentId::parse("a1").unwrap() });
        // The same token read with the plain name lacks it.
        assert_eq!(
            Identity::from_claims(&token, &AgentIdClaim::default()).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn a_token_without_the_person_or_with_a_bad_agent_id_is_unauthorized() {
        let whole = [("sub", "u1"), ("agent_id", "a1"), ("agency_id", "g1"), ("role", "agent")];
        for missing in ["sub", "agent_id"] {
            let partial: Vec<_> = whole.iter().copied().filter(|(k, _)| *k != missing).collect();
            let problem = Identity::from_claims(&claims(&partial), &AgentIdClaim::default()).unwrap_err();
            assert_eq!(problem.status, StatusCode::UNAUTHORIZED);
            assert!(problem.detail.contains(missing), "{}", problem.detail);
        }
        let bad = claims(&[("sub", "u1"), ("agent_id", "a#1")]);
        assert_eq!(Identity::from_claims(&bad, &AgentIdClaim::default()).unwrap_err().status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn the_claim_s_name_comes_from_the_settings() {
        let vars = Vars::from_pairs([("JWT_AGENT_ID_CLAIM", "custom:agent_id")]);
        assert_eq!(AgentIdClaim::from_vars(&vars), AgentIdClaim::cognito());
        assert_eq!(AgentIdClaim::from_vars(&Vars::from_pairs(Vec::<(String, String)>::new())), AgentIdClaim::default());
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
            let names = AgentIdClaim::default();
            let mut with_known_keys = claims.clone();
            with_known_keys.entry("sub".to_owned()).or_insert_with(|| "x".to_owned());
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

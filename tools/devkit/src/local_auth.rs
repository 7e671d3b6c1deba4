//! Local sign-in, as it is in AWS. A real OpenID provider (`tools/oidc`, started by `make dev` and
//! the tests) signs RS256 ID tokens with a key it publishes; `Authorizer` stands in for API
//! Gateway's JWT authorizer: it checks a bearer token against the issuer's JWKS, its `iss`, `aud`
//! (or `client_id`), `exp` and `nbf`, and then puts exactly the request context API Gateway would
//! (`requestContext.authorizer.jwt.claims`, every claim as a string) into the request. A token it
//! refuses is a 401 problem. Which person the claims name is the functions' own business
//! (`shared::caller`), in AWS and here alike.
//!
//! Scripts and tests get a token without a browser: `mint` signs one with the issuer's own key
//! (its file, written by the provider), so the authorizer cannot tell it from one the provider
//! issued.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_edge::Problem;
use http_edge::caller::AgentIdClaim;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::request::RequestContext;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::DevkitError;

/// How far a token's `exp` and `nbf` may be off the clock, as small as API Gateway allows.
pub const LEEWAY_SECONDS: u64 = 30;

/// The local issuer, as the devkit knows it: where it is, the page's client id (the audience of
/// its ID tokens), and the file holding its signing key.
#[derive(Debug, Clone)]
pub struct LocalIssuer {
    pub issuer: String,
    pub client_id: String,
    pub key_file: std::path::PathBuf,
}

impl LocalIssuer {
    /// `LOCAL_OIDC_ISSUER`, `LOCAL_OIDC_CLIENT_ID` and `LOCAL_OIDC_KEY_FILE`, as `tools/lib.sh`
    /// sets them for the provider it starts.
    pub fn from_env() -> Result<Self, DevkitError> {
        let vars = shared::config::Vars::from_env();
        Ok(Self {
            issuer: vars.required("LOCAL_OIDC_ISSUER")?,
            client_id: vars.optional("LOCAL_OIDC_CLIENT_ID").unwrap_or_else(|| "aor-local".to_owned()),
            key_file: vars.required("LOCAL_OIDC_KEY_FILE")?.into(),
        })
    }

    pub fn signing_key(&self) -> Result<SigningKey, DevkitError> {
        SigningKey::load(&self.key_file)
    }
}

/// The key the local issuer signs with and publishes (`tools/oidc/provider.mjs` writes it).
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    key: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn load(path: &Path) -> Result<Self, DevkitError> {
        #[derive(Deserialize)]
        struct KeyFile {
            kid: String,
            pem: String,
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            DevkitError::Usage(format!(
                "no signing key at {} ({e}): is the local OpenID provider running?",
                path.display()
            ))
        })?;
        let file: KeyFile =
            serde_json::from_str(&text).map_err(|e| DevkitError::Usage(format!("{}: {e}", path.display())))?;
        Self::from_pem(&file.kid, file.pem.as_bytes())
    }

    pub fn from_pem(kid: &str, pem: &[u8]) -> Result<Self, DevkitError> {
        let key = EncodingKey::from_rsa_pem(pem).map_err(|e| DevkitError::Usage(format!("not an RSA key: {e}")))?;
        Ok(Self { kid: kid.to_owned(), key })
    }
}

/// What a token says of a person: the claims the local issuer puts in an ID token (its agent id
/// under the name `agent_id_claim`), as the user pool's tokens carry them — agency and role
/// included, which the API does not read (the directory decides).
pub fn person_claims(agent_id_claim: &AgentIdClaim, agent_id: &str, agency_id: &str, role: &str) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), agent_id.into());
    claims.insert(agent_id_claim.0.clone(), agent_id.into());
    claims.insert("custom:agency_id".into(), agency_id.into());
    claims.insert("custom:role".into(), role.into());
    claims
}

/// An ID token as the issuer would sign it: `claims` for `audience`, valid from now for `lifetime`
/// (negative: already expired).
pub fn mint(
    key: &SigningKey,
    issuer: &str,
    audience: &str,
    claims: &Map<String, Value>,
    lifetime: chrono::Duration,
) -> String {
    let now = chrono::Utc::now();
    let mut all = claims.clone();
    all.insert("iss".into(), issuer.into());
    all.insert("aud".into(), audience.into());
    all.insert("iat".into(), now.timestamp().min((now + lifetime).timestamp()).into());
    all.insert("exp".into(), (now + lifetime).timestamp().into());
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, &all, &key.key).expect("signing with an RSA key that loaded cannot fail")
}

/// API Gateway's JWT authorizer, locally: verifies bearer tokens against one issuer's keys.
#[derive(Debug)]
pub struct Authorizer {
    issuer: String,
    audience: String,
    http: reqwest::Client,
    /// The issuer's published keys, read on first use and again when a token names a key not
    /// among them (the issuer may have started after us, or rotated).
    keys: tokio::sync::RwLock<JwkSet>,
}

impl Authorizer {
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            http: reqwest::Client::new(),
            keys: tokio::sync::RwLock::new(JwkSet { keys: Vec::new() }),
        }
    }

    /// The claims of a token API Gateway would let through, each as a string as it passes them
    /// on; or why it would not.
    pub async fn verify(&self, token: &str) -> Result<HashMap<String, String>, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "the token is not a JWT".to_owned())?;
        if header.alg != Algorithm::RS256 {
            return Err(format!("the token is signed with {:?}, not RS256", header.alg));
        }
        let kid = header.kid.ok_or("the token names no signing key (kid)")?;
        // (Bound first: a read guard held through the match would block the refresh's write.)
        let known = self.keys.read().await.find(&kid).cloned();
        let jwk = match known {
            Some(jwk) => jwk,
            None => {
                self.refresh_keys().await?.find(&kid).cloned().ok_or("the token is not signed by the issuer's keys")?
            }
        };
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| "the issuer's key cannot be used".to_owned())?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        // The audience is `aud` in an ID token and `client_id` in a Cognito access token: API
        // Gateway takes either, so it is checked below.
        validation.validate_aud = false;
        let data =
            jsonwebtoken::decode::<HashMap<String, Value>>(token, &key, &validation).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => "the token is not valid yet".to_owned(),
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => "the token is from another issuer".to_owned(),
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "the token's signature does not verify".to_owned(),
                _ => format!("the token is not valid ({e})"),
            })?;
        let claims = data.claims;
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(self.audience.as_str())),
            _ => claims.get("client_id").and_then(Value::as_str) == Some(self.audience.as_str()),
        };
        if !audience_ok {
            return Err("the token is for another audience".into());
        }
        Ok(claims
            .into_iter()
            .map(|(k, v)| {
                // As API Gateway passes them on: text as it is, a list as `[a b]`.
                let text = match v {
                    Value::String(s) => s,
                    Value::Array(items) => format!(
                        "[{}]",
                        items
                            .iter()
                            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect())
    }

    async fn refresh_keys(&self) -> Result<JwkSet, String> {
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let discovery: Discovery =
            self.get_json(&format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'))).await?;
        let keys: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        *self.keys.write().await = keys.clone();
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let answer = self.http.get(url).send().await.and_then(reqwest::Response::error_for_status);
        let read = match answer {
            Ok(response) => response.json().await,
            Err(e) => Err(e),
        };
        read.map_err(|e| format!("the issuer's keys cannot be read ({e})"))
    }
}

/// Middleware in front of the API's routes: a request with a token the authorizer accepts gets
/// the API Gateway context; any other is answered 401, as API Gateway would (there with a body of
/// its own; here problem+json, like every error of this API).
pub async fn api_gateway_context(
    State(authorizer): State<Arc<Authorizer>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // API Gateway takes the header's value with or without the `Bearer ` scheme.
        .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_owned())
        .filter(|v| !v.is_empty());
    let Some(token) = token else {
        return Problem::unauthorized("a bearer token is required").into_response();
    };
    match authorizer.verify(&token).await {
        Ok(claims) => {
            let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
            jwt.claims = claims;
            let mut authorizer = ApiGatewayRequestAuthorizer::default();
            authorizer.jwt = Some(jwt);
            let mut context = ApiGatewayV2httpRequestContext::default();
            context.authorizer = Some(authorizer);
            request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
            next.run(request).await
        }
        Err(why) => Problem::unauthorized(why).into_response(),
    }
}

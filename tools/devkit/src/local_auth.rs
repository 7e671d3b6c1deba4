//! Local sign-in: HS256 tokens signed with `LOCAL_JWT_SECRET`, verified by the dev server, which
//! then puts exactly the request context API Gateway's JWT authorizer would
//! (`requestContext.authorizer.jwt.claims`, every claim as a string) into the request. The
//! handlers read the caller from there, in AWS and here alike.

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::request::RequestContext;
use serde_json::Value;

pub const DEFAULT_SECRET: &str = "local-dev-secret";

/// `LOCAL_JWT_SECRET`, or its documented default.
pub fn secret() -> String {
    std::env::var("LOCAL_JWT_SECRET").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_SECRET.to_owned())
}

/// A token for one person, valid for `hours`.
pub fn sign(secret: &str, sub: &str, agent_id: &str, agency_id: &str, role: &str, hours: i64) -> String {
    let exp = (chrono::Utc::now() + chrono::Duration::hours(hours)).timestamp();
    let claims =
        serde_json::json!({ "sub": sub, "agent_id": agent_id, "agency_id": agency_id, "role": role, "exp": exp });
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("HS256 signing with a byte key cannot fail")
}

/// The claims of a valid token, as API Gateway passes them on: every value a string.
pub fn verify(secret: &str, token: &str) -> Option<HashMap<String, String>> {
    let data = jsonwebtoken::decode::<HashMap<String, Value>>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &Validation::new(Algorithm::HS256),
    )
    .ok()?;
    Some(
        data.claims
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect(),
    )
}

/// Middleware: a request with a valid bearer token gets the API Gateway context; one without
/// gets none, and the handler answers 401 as it would in AWS (where API Gateway would have
/// refused it first).
pub async fn api_gateway_context(State(secret): State<String>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if let Some(claims) = token.and_then(|t| verify(&secret, &t)) {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = claims;
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.authorizer = Some(authorizer);
        request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_with_string_claims() {
        let token = sign("s3cret", "u1", "a1", "g1", "agent", 1);
        let claims = verify("s3cret", &token).unwrap();
        assert_eq!(claims["agent_id"], "a1");
        assert!(claims["exp"].parse::<i64>().is_ok());
    }

    #[test]
    fn a_token_signed_with_another_secret_does_not_verify() {
        let token = sign("s3cret", "u1", "a1", "g1", "agent", 1);
        assert!(verify("other", &token).is_none());
        let expired = sign("s3cret", "u1", "a1", "g1", "agent", -2);
        assert!(verify("s3cret", &expired).is_none());
    }
}

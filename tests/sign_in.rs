//! Signing in, as in AWS: the local authorizer trusts only the local OpenID provider (its keys,
//! its issuer, the page's audience, the token's lifetime), as API Gateway's JWT authorizer trusts
//! only the deployment's issuer; the functions then want every claim that names the person, and
//! the directory — not the token — decides what that person may do.

use chrono::Duration;
use serde_json::Value;

use crate::helpers::*;

/// A key no issuer publishes (made for this test; it signs nothing anyone trusts).
const STRANGER_KEY: &[u8] = include_bytes!("keys/stranger-rsa.pem");

async fn get_me(system: &System, bearer: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = system.http.get(format!("{}/v1/me", system.api));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    (status, content_type, response.json().await.unwrap_or(Value::Null))
}

fn claims_of(who: (&str, &str, &str)) -> serde_json::Map<String, Value> {
    devkit::local_auth::person_claims(&http_edge::caller::AgentIdClaim::cognito(), who.0, who.1, who.2)
}

#[tokio::test]
async fn only_a_token_of_the_issuer_for_the_page_within_its_lifetime_naming_the_person_gets_in() {
    // GIVEN ana of north, known to the directory
    let system = system(100.0).await;
    agency(system.store(), "north", None).await;
    agent(system.store(), "ana", "north", "111").await;
    let ana = ("ana", "north", "agent");
    let issuer = issuer();
    let key = issuer.signing_key().unwrap();

    // A token the provider's key signed, for the page, now: in.
    let (status, _, me) = get_me(&system, Some(&token(ana))).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["agent_id"], "ana");

    let stranger = devkit::local_auth::SigningKey::from_pem("stranger", STRANGER_KEY).unwrap();
    let mut without_agent_id = claims_of(ana);
    without_agent_id.remove("custom:agent_id");
    let hs256 = {
        let claims = serde_json::json!({"sub": "ana", "iss": issuer.issuer, "aud": issuer.client_id, "exp": chrono::Utc::now().timestamp() + 600});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"local-dev-secret"),
        )
        .unwrap()
    };
    let refused = [
        ("no token", None, "a bearer token is required"),
        (
            "signed with another key",
            Some(devkit::local_auth::mint(
                &stranger,
                &issuer.issuer,
                &issuer.client_id,
                &claims_of(ana),
                Duration::hours(1),
            )),
            "not signed by the issuer",
        ),
        ("signed with a shared secret", Some(hs256), "not RS256"),
        ("expired", Some(token_for(ana, Duration::minutes(-2))), "expired"),
        (
            "from another issuer",
            Some(devkit::local_auth::mint(
                &key,
                "http://127.0.0.1:1/elsewhere",
                &issuer.client_id,
                &claims_of(ana),
                Duration::hours(1),
            )),
            "another issuer",
        ),
        (
            "for another audience",
            Some(devkit::local_auth::mint(&key, &issuer.issuer, "another-client", &claims_of(ana), Duration::hours(1))),
            "another audience",
        ),
        (
            "without the agent id claim",
            Some(devkit::local_auth::mint(
                &key,
                &issuer.issuer,
                &issuer.client_id,
                &without_agent_id,
                Duration::hours(1),
            )),
            "custom:agent_id",
        ),
        ("not a JWT", Some("not-a-token".to_owned()), "not a JWT"),
    ];
    for (what, bearer, why) in refused {
        let (status, content_type, problem) = get_me(&system, bearer.as_deref()).await;
        assert_eq!(status, 401, "{what}: {problem}");
        assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{what}");
        assert_eq!(problem["type"], "/problems/unauthorized", "{what}");
        assert!(problem["detail"].as_str().unwrap().contains(why), "{what}: {problem}");
    }
}

#[tokio::test]
async fn the_directory_not_the_token_decides_what_a_person_may_do() {
    // GIVEN north with its admin ada and an agent, and bo whom the directory does not know
    let system = system(100.0).await;
    agency(system.store(), "north", None).await;
    agency(system.store(), "south", None).await;
    admin(system.store(), "ada", "north").await;
    agent(system.store(), "ana", "north", "111").await;

    // An admin by the directory sees north's list.
    let ada = Some(("ada", "north", "agency_admin"));
    let (status, body) = system.call(ada, "GET", "/v1/agencies/north/at-risk", None).await;
    assert_eq!(status, 200, "{body}");

    // A token claiming admin for an agent of north changes nothing: the directory says agent.
    let (status, body) =
        system.call(Some(("ana", "north", "agency_admin")), "GET", "/v1/agencies/north/at-risk", None).await;
    assert_eq!(status, 403, "{body}");
    // Nor does one naming another agency: ana is of north, south is out of her reach.
    let (status, me) = system.call(Some(("ana", "south", "agent")), "GET", "/v1/me", None).await;
    assert_eq!((status, me["agency_id"].as_str()), (200, Some("north")), "{me}");

    // WHEN ada is demoted, her unexpired admin token no longer opens anything of the agency's.
    let admins_routes = [
        ("GET", "/v1/agencies/north/at-risk", None),
        ("GET", "/v1/agencies/north/at-risk/summary", None),
        ("POST", "/v1/agencies/north/at-risk/visits", None),
        ("GET", "/v1/agencies/north/settings", None),
        ("PATCH", "/v1/agencies/north/settings", Some(serde_json::json!({"agent_exports_enabled": false}))),
        ("GET", "/v1/agencies/north/downline", None),
        ("GET", "/v1/agencies/north/swap-patterns", None),
        ("GET", "/v1/agencies/north/conduct", None),
        ("POST", "/v1/exports", Some(serde_json::json!({"scope": "agency", "agency_id": "north"}))),
    ];
    for (method, path, body) in &admins_routes {
        let (status, answer) = system.call(ada, method, path, body.clone()).await;
        assert!((200..300).contains(&status), "{method} {path} as an admin: {status} {answer}");
    }
    agent(system.store(), "ada", "north", "999").await;
    for (method, path, body) in &admins_routes {
        let (status, answer) = system.call(ada, method, path, body.clone()).await;
        assert!(matches!(status, 403 | 404), "{method} {path} once demoted: {status} {answer}");
    }
    // AND an admin moved to another agency keeps none of the one she left.
    admin(system.store(), "ada", "south").await;
    for (method, path, body) in &admins_routes {
        let (status, answer) = system.call(ada, method, path, body.clone()).await;
        assert!(matches!(status, 403 | 404), "{method} {path} once moved: {status} {answer}");
    }

    // Someone signed in whom the directory does not know may do nothing, and is told why.
    let (status, problem) = system.call(Some(("bo", "north", "agent")), "GET", "/v1/at-risk", None).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["type"], "/problems/not-in-directory");
}

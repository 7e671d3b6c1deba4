//! Every answer the HTTP API gives that is not a success is problem+json with a stable type,
//! whatever bytes come in: the local system puts the same edge (`http_edge::edge`) in front of
//! the handlers as Lambda does.

use crate::helpers::*;

const ANA: Who<'static> = Some(("ana", "north", "agent"));

/// The system, with ana of north in its directory (the directory decides who may call).
async fn system_with_ana() -> System {
    let system = system(100.0).await;
    agency(system.store(), "north", None).await;
    agent(system.store(), "ana", "north", "111").await;
    system
}

/// Sends a raw request and answers its status, headers and body as JSON (asserting problem+json
/// for every error).
async fn raw(
    system: &System,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = system.http.request(method, format!("{}{path}", system.api));
    request = request.bearer_auth(token(ANA.unwrap()));
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    if status >= 400 {
        assert_eq!(
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{method_path}: {text}",
            method_path = path
        );
    }
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn cursors_paths_methods_and_bodies_of_any_bytes_get_a_problem_never_a_dropped_connection() {
    let system = system_with_ana().await;
    // A cursor with multi-byte characters used to panic the handler (sliced by bytes).
    for path in ["/v1/at-risk?cursor=a%C3%A91", "/v1/agencies/nowhere/at-risk?cursor=%C3%A9%C3%A9a"] {
        let (status, _, body) = raw(&system, "GET", path, None).await;
        assert!(status == 400 || status == 404, "{path}: {status} {body}");
    }
    let (status, _, body) = raw(&system, "GET", "/v1/at-risk?cursor=a%C3%A91", None).await;
    assert_eq!((status, body["type"].as_str()), (400, Some("/problems/invalid-request")), "{body}");

    // A path that is not UTF-8, a query that is not, an unknown route.
    let (status, _, body) = raw(&system, "GET", "/v1/exports/%FF", None).await;
    assert_eq!((status, body["type"].as_str()), (400, Some("/problems/invalid-request")), "{body}");
    let (status, _, body) = raw(&system, "GET", "/v1/at-risk?limit=%FF", None).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = raw(&system, "GET", "/v1/nothing-here", None).await;
    assert_eq!((status, body["type"].as_str()), (404, Some("/problems/not-found")), "{body}");

    // A wrong method: 405 with Allow.
    let (status, headers, body) = raw(&system, "DELETE", "/v1/at-risk", None).await;
    assert_eq!((status, body["type"].as_str()), (405, Some("/problems/method-not-allowed")), "{body}");
    let allow = headers.get("allow").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(allow.contains("GET"), "Allow: {allow:?}");

    // A body over the limit, and one that is not JSON.
    let big = vec![b' '; http_edge::MAX_BODY_BYTES + 1];
    let (status, _, body) = raw(&system, "POST", "/v1/exports", Some(big)).await;
    assert_eq!((status, body["type"].as_str()), (413, Some("/problems/too-large")), "{body}");
    let (status, _, body) = raw(&system, "POST", "/v1/exports", Some(vec![0xff, 0xfe, b'{'])).await;
    assert_eq!(status, 400, "{body}");

    // The API still answers after all that.
    let (status, _) = system.call(ANA, "GET", "/v1/at-risk/summary", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_handler_that_panics_answers_a_500_problem_and_the_process_serves_on() {
    let router = http_edge::edge(
        axum::Router::new()
            .route("/boom", axum::routing::get(boom))
            .route("/fine", axum::routing::get(|| async { "fine" })),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let http = reqwest::Client::new();

    let response = http.get(format!("{url}/boom")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], "/problems/internal");
    assert!(!body.to_string().contains("a bug"), "no internals: {body}");

    let response = http.get(format!("{url}/fine")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "fine");
}

async fn boom() -> &'static str {
    panic!("a bug")
}

//! The page, served locally as CloudFront serves it in AWS: from the web bucket, where
//! `tools/publish_web.py` put it (the same script `make deploy` uploads it with, `/config.json`
//! included), each page address answered with `index.html` by the rule the template's viewer-request
//! function applies (`is_page_address`), a missing file a 404, and every answer with the template's
//! security headers. Besides it, what only the local system has: the inbox of the emails sent.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_norway::Value as Yaml;

use crate::DevkitError;
use crate::template::Template;

#[derive(Clone, Debug)]
pub struct WebState {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    /// The response headers policy of the template, as CloudFront adds them.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub emulator_endpoint: String,
}

pub fn router(state: WebState) -> Router {
    Router::new().route("/dev/inbox", get(inbox)).fallback(get(page_file)).with_state(state)
}

/// The addresses the page itself answers (its views): the template's CloudFront function sends
/// each to `index.html`, and `tests/hosting.rs` checks the two rules agree.
pub fn is_page_address(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match segments.as_slice() {
        [""] | ["callback"] => true,
        ["clients", fx] => digits(fx),
        ["clients", fx, "evidence"] => digits(fx),
        ["exports", export] => id(export),
        _ => false,
    }
}

/// The object a request for `path` reads, as CloudFront would ask S3 for it.
pub fn object_key(path: &str) -> String {
    if is_page_address(path) { "index.html".to_owned() } else { path.trim_start_matches('/').to_owned() }
}

async fn page_file(State(state): State<WebState>, uri: Uri) -> Response {
    // A path of the API's that no route takes (API Gateway's 404; here problem+json, as the API's).
    if uri.path().starts_with("/v1/") {
        return http_edge::no_such_route().await.into_response();
    }
    let key = object_key(uri.path());
    let object = state.s3.get_object().bucket(&state.bucket).key(&key).send().await;
    let mut response = match object {
        Ok(object) => {
            let content_type = object.content_type().unwrap_or("application/octet-stream").to_owned();
            let cache_control = object.cache_control().unwrap_or("no-cache").to_owned();
            match object.body.collect().await {
                Ok(bytes) => {
                    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache_control)], bytes.into_bytes())
                        .into_response()
                }
                Err(_) => StatusCode::BAD_GATEWAY.into_response(),
            }
        }
        Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => StatusCode::NOT_FOUND.into_response(),
        Err(err) => {
            tracing::error!(error = %aws_sdk_s3::error::DisplayErrorContext(&err), key, "reading the page from its bucket failed");
            StatusCode::BAD_GATEWAY.into_response()
        }
    };
    for (name, value) in &state.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

/// The security headers of the template's response headers policy, as CloudFront sends them with
/// every answer; the sign-in origins its Content-Security-Policy allows are the local issuer's.
pub fn security_headers(template: &Template, issuer: &str) -> Result<Vec<(HeaderName, HeaderValue)>, DevkitError> {
    let missing = |what: &str| DevkitError::Template(format!("the page's response headers policy has no {what}"));
    let (_, policy) = template
        .of_kind("AWS::CloudFront::ResponseHeadersPolicy")
        .into_iter()
        .next()
        .ok_or_else(|| missing("resource"))?;
    let security = policy
        .properties
        .get("ResponseHeadersPolicyConfig")
        .and_then(|c| c.get("SecurityHeadersConfig"))
        .ok_or_else(|| missing("SecurityHeadersConfig"))?;
    // `!Sub [text, {SignIn: …}]`: the text, with the issuer where the sign-in origins go.
    let csp = security
        .get("ContentSecurityPolicy")
        .and_then(|c| c.get("ContentSecurityPolicy"))
        .and_then(|v| match v {
            Yaml::Tagged(tagged) => tagged.value.as_sequence().and_then(|s| s.first()).and_then(Yaml::as_str),
            other => other.as_str(),
        })
        .ok_or_else(|| missing("ContentSecurityPolicy"))?;
    let origin = issuer_origin(issuer);
    let hsts = security.get("StrictTransportSecurity").ok_or_else(|| missing("StrictTransportSecurity"))?;
    let max_age = hsts.get("AccessControlMaxAgeSec").and_then(Yaml::as_u64).ok_or_else(|| missing("HSTS max age"))?;
    let subdomains =
        if hsts.get("IncludeSubdomains").and_then(Yaml::as_bool) == Some(true) { "; includeSubDomains" } else { "" };
    let text = |path: [&str; 2]| security.get(path[0]).and_then(|c| c.get(path[1])).and_then(Yaml::as_str);
    let pairs = [
        (header::CONTENT_SECURITY_POLICY, csp.replace("${SignIn}", &origin)),
        (header::STRICT_TRANSPORT_SECURITY, format!("max-age={max_age}{subdomains}")),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (
            header::REFERRER_POLICY,
            text(["ReferrerPolicy", "ReferrerPolicy"]).ok_or_else(|| missing("ReferrerPolicy"))?.to_owned(),
        ),
        (
            header::X_FRAME_OPTIONS,
            text(["FrameOptions", "FrameOption"]).ok_or_else(|| missing("FrameOptions"))?.to_owned(),
        ),
    ];
    pairs
        .into_iter()
        .map(|(name, value)| {
            HeaderValue::from_str(&value)
                .map(|v| (name, v))
                .map_err(|_| DevkitError::Template(format!("bad header value {value}")))
        })
        .collect()
}

/// `scheme://host[:port]` of a URL.
fn issuer_origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    format!("{scheme}://{}", rest.split('/').next().unwrap_or_default())
}

async fn inbox(State(state): State<WebState>) -> Response {
    match crate::inbox::sent(&reqwest::Client::new(), &state.emulator_endpoint).await {
        Ok(sent) => axum::Json(sent).into_response(),
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_addresses_are_the_views_and_nothing_else() {
        for page in ["/", "/callback", "/clients/0042", "/clients/0042/evidence", "/exports/3f2a-b_c"] {
            assert!(is_page_address(page), "{page}");
            assert_eq!(object_key(page), "index.html");
        }
        for file in [
            "/app.js",
            "/config.json",
            "/vendor/oidc-client-ts.min.js",
            "/clients/x1",
            "/clients/",
            "/exports/a/b",
            "/missing.css",
        ] {
            assert!(!is_page_address(file), "{file}");
        }
        assert_eq!(object_key("/vendor/oidc-client-ts.min.js"), "vendor/oidc-client-ts.min.js");
    }

    #[test]
    fn the_template_s_headers_are_read_with_the_local_issuer_as_the_sign_in_origin() {
        let headers = security_headers(&Template::load().unwrap(), "http://127.0.0.1:3001").unwrap();
        let get = |name: HeaderName| {
            headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_str().unwrap().to_owned()).unwrap()
        };
        let csp = get(header::CONTENT_SECURITY_POLICY);
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:3001;"), "{csp}");
        assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(get(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(get(header::STRICT_TRANSPORT_SECURITY).starts_with("max-age="));
    }
}

//! Checks real responses against `docs/openapi.yaml`: every response the API tests get back goes
//! through `conforms`, which finds the documented schema for its route, method, status and
//! content type, and validates the body against it.

use std::sync::OnceLock;

use serde_json::Value;

fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("docs/openapi.yaml is readable");
        serde_norway::from_str(&text).expect("docs/openapi.yaml is YAML")
    })
}

/// The documented route a concrete path matches, e.g. `/v1/agencies/north/at-risk` →
/// `/v1/agencies/{agency_id}/at-risk`.
fn route_of(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let paths = document()["paths"].as_object().expect("paths");
    paths
        .keys()
        .find(|template| {
            let (a, b): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
            a.len() == b.len() && a.iter().zip(&b).all(|(t, p)| t.starts_with('{') || t == p)
        })
        .unwrap_or_else(|| panic!("{path} is not documented in docs/openapi.yaml"))
        .clone()
}

/// A JSON pointer segment, as it may stand in a URI fragment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1").replace('{', "%7B").replace('}', "%7D")
}

/// Panics unless `body` is what the document says `method path` answers with `status`.
pub fn conforms(method: &str, path: &str, status: u16, content_type: Option<&str>, body: &Value) {
    let route = route_of(path);
    let method = method.to_lowercase();
    let operation = &document()["paths"][&route][&method];
    assert!(operation.is_object(), "{method} {route} is not documented");
    let mut response = &operation["responses"][status.to_string()];
    assert!(response.is_object(), "{method} {route} does not document status {status}");
    if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        response = &document()["components"]["responses"][name];
    }
    let Some(content) = response.get("content") else {
        assert!(body.is_null(), "{method} {route} {status} documents no body but got {body}");
        return;
    };
    let content_type = content_type.unwrap_or_default().split(';').next().unwrap_or_default().trim().to_owned();
    assert!(content.get(&content_type).is_some(), "{method} {route} {status} does not document {content_type}");
    // The whole document is the schema's root, so that `#/components/...` references resolve.
    let mut root = document().clone();
    let pointer = match response_pointer(&route, &method, status, operation) {
        Some(base) => format!("{base}/content/{}/schema", escape(&content_type)),
        None => {
            let name = operation["responses"][status.to_string()]["$ref"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            format!("#/components/responses/{name}/content/{}/schema", escape(&content_type))
        }
    };
    root.as_object_mut().expect("an object").insert("$ref".into(), Value::String(pointer.clone()));
    let validator = jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{pointer}: {e}"));
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not match {pointer}:\n{}\nbody: {body}",
        errors.join("\n")
    );
}

fn response_pointer(route: &str, method: &str, status: u16, operation: &Value) -> Option<String> {
    let response = &operation["responses"][status.to_string()];
    response.get("$ref").is_none().then(|| format!("#/paths/{}/{method}/responses/{status}", escape(route)))
}

#[test]
fn the_document_describes_every_route_the_local_api_serves() {
    for (method, path) in [
        ("get", "/v1/at-risk"),
        ("get", "/v1/at-risk/summary"),
        ("post", "/v1/at-risk/visits"),
        ("get", "/v1/agencies/x/at-risk"),
        ("get", "/v1/agencies/x/settings"),
        ("patch", "/v1/agencies/x/settings"),
        ("post", "/v1/clients/1/sync"),
    ] {
        let route = route_of(path);
        assert!(document()["paths"][&route][method].is_object(), "{method} {path}");
    }
}

#[test]
fn a_body_that_breaks_the_schema_is_caught() {
    let wrong = serde_json::json!({"new_since_last_visit": -1, "total": 3});
    let caught =
        std::panic::catch_unwind(|| conforms("GET", "/v1/at-risk/summary", 200, Some("application/json"), &wrong));
    assert!(caught.is_err(), "the checker must be able to fail");
}

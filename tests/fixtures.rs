//! The sample events under `events/` are what AWS sends: each parses as the event type of its
//! trigger, so handlers and local runs can rely on them.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;

fn fixtures(folder: &str) -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events").join(folder);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {folder}");
    files.into_iter().map(|path| (path.display().to_string(), std::fs::read_to_string(&path).unwrap())).collect()
}

#[test]
fn http_fixtures_are_api_gateway_v2_requests_with_jwt_claims() {
    for (path, text) in fixtures("http") {
        let request: ApiGatewayV2httpRequest = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let jwt = request.request_context.authorizer.and_then(|a| a.jwt).unwrap_or_else(|| panic!("{path}: no JWT"));
        for claim in ["sub", "agent_id", "agency_id", "role"] {
            assert!(jwt.claims.contains_key(claim), "{path}: no {claim} claim");
        }
    }
}

#[test]
fn platform_fixtures_are_eventbridge_envelopes_from_the_platform() {
    for (path, text) in fixtures("platform") {
        let event: EventBridgeEvent<serde_json::Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(event.source, "enrollment-platform", "{path}");
        assert!(event.detail.is_object(), "{path}");
    }
}

#[test]
fn sqs_fixtures_are_batches() {
    for (path, text) in fixtures("sqs") {
        let batch: SqsEvent = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(!batch.records.is_empty(), "{path}");
        assert!(batch.records.iter().all(|r| r.message_id.is_some() && r.body.is_some()), "{path}");
    }
}

#[test]
fn schedule_fixtures_are_scheduled_events() {
    for (path, text) in fixtures("schedule") {
        let event: CloudWatchEvent<serde_json::Value> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(event.detail_type.as_deref(), Some("Scheduled Event"), "{path}");
    }
}

//! Nothing personal in the logs: the API, the ingest, syncs (one of whose marketplace answers fails
//! to parse) and an export run with names and emails seeded for this test, while every log line
//! the functions write (all levels) is captured; none of those names or emails may appear.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

use crate::helpers::*;

/// Every line written, kept.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_name_or_email_reaches_a_log_line_of_any_flow() {
    // The functions' own targets, every level. (The test runtime has one thread, so a
    // thread-local subscriber sees every task of this test, and no other test's.)
    let capture = Capture::default();
    let functions = ["shared", "at_risk_query", "export_request", "export_builder", "sync_trigger", "event_ingest"];
    let filter =
        functions.iter().fold(Targets::new(), |targets, target| targets.with_target(*target, tracing::Level::TRACE));
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(capture.clone()).with_ansi(false))
        .with(filter);
    let _guard = tracing::subscriber::set_default(subscriber);

    let system = system(100.0).await;
    let tag = system.world.tag.clone();
    let client = format!("Zoë Privatklient {tag}");
    let agent_name = format!("Agnes Privatagent {tag}");
    let email = format!("agnes.privat.{tag}@example.com");
    let publish = |kind: &'static str, detail: serde_json::Value| {
        let system = &system;
        async move { system.publish(kind, detail).await }
    };
    publish(
        "Agency Upserted",
        json!({"agency_id": "north", "name": format!("Privatagentur {tag}"),
                                      "parent_agency_id": null, "agent_exports_enabled": true}),
    )
    .await;
    publish(
        "Agent Upserted",
        json!({"agent_id": "ana", "agency_id": "north", "name": agent_name, "email": email,
                                     "npn": "111", "role": "agent"}),
    )
    .await;
    publish(
        "Application Submitted",
        json!({"submission_id": "s1", "federal_exchange_id": "0880", "plan_year": YEAR,
        "client_name": client, "agent_id": "ana", "npn": "111", "submitted_at": t(0).to_rfc3339()}),
    )
    .await;
    // A refused event carrying personal data: its reason names fields only.
    publish(
        "Agent Upserted",
        json!({"agent_id": "eve", "agency_id": "north", "name": client,
                                     "email": format!("not-an-email {email}"), "npn": "112", "role": "agent"}),
    )
    .await;
    system.drain_ingest().await;

    // A marketplace answer that fails to parse, with the client's name where a status should be.
    let url = format!("{}/v1/applications/0880?plan_year={YEAR}", system.simulator_url);
    let malformed = json!({"federal_exchange_id": "0880", "plan_year": YEAR, "policies": [
        {"policy_id": "P1", "issuer_name": client, "status": client, "aor": {"npn": "777", "name": agent_name}}]});
    assert_eq!(system.http.put(&url).json(&malformed).send().await.unwrap().status(), 204);
    let ana: Who = Some(("ana", "north", "agent"));
    let (status, _) = system.sync(ana, "0880").await;
    assert_eq!(status, 502);
    // Then a good one that flags the entry, an export of it, built and emailed.
    let good = json!({"federal_exchange_id": "0880", "plan_year": YEAR, "policies": [
        {"policy_id": "P1", "issuer_name": "Blue", "status": "effectuated", "aor": {"npn": "777", "name": agent_name}}]});
    assert_eq!(system.http.put(&url).json(&good).send().await.unwrap().status(), 204);
    let (status, body) = system.sync(ana, "0880").await;
    assert_eq!((status, body["at_risk"].as_bool()), (200, Some(true)), "{body}");
    let (status, _) = system.call(ana, "GET", "/v1/at-risk", None).await;
    assert_eq!(status, 200);
    let (status, _) = system.call(ana, "POST", "/v1/exports", Some(json!({"scope": "agent"}))).await;
    assert_eq!(status, 202);
    system.drain_exports().await;
    assert_eq!(system.inbox(&email).await.len(), 1, "the export was built and emailed");

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("evidence applied") && logs.contains("export built"), "the capture works:\n{logs}");
    for personal in
        [client.as_str(), agent_name.as_str(), email.as_str(), "Privatklient", "Privatagent", "Privatagentur"]
    {
        assert!(!logs.contains(personal), "{personal:?} is in the logs:\n{logs}");
    }
}

//! What an operator's metrics are made of: the lines a scan run, an ingest batch and an export
//! print are Embedded Metric Format that CloudWatch takes in, with the names and units the
//! template's alarms and dashboard expect.

use std::collections::BTreeMap;

use chrono::Utc;
use serde_json::{Value, json};
use shared::domain::PolicyStatus;
use shared::metrics::{self, Capture, Unit};
use sync_trigger::scan::scan;

use crate::detection::answer;
use crate::helpers::*;

/// Each line checked as CloudWatch reads EMF: the metrics it declares, by name, with the unit
/// `shared::metrics` gives them, each value a number beside it, each dimension a string beside it.
fn metrics_of(lines: &[Value]) -> Vec<(String, BTreeMap<String, String>, String, f64)> {
    let known: BTreeMap<&str, Unit> = metrics::ALL.iter().map(|m| (m.name, m.unit)).collect();
    let mut found = Vec::new();
    for line in lines {
        let directive = &line["_aws"];
        assert!(directive["Timestamp"].as_i64().is_some_and(|ms| ms > 1_700_000_000_000), "{line}");
        let [declared] = directive["CloudWatchMetrics"].as_array().expect("one directive").as_slice() else {
            panic!("one directive per line: {line}");
        };
        assert_eq!(declared["Namespace"], metrics::DEFAULT_NAMESPACE, "{line}");
        let [dimension_set] = declared["Dimensions"].as_array().expect("dimensions").as_slice() else {
            panic!("one dimension set: {line}");
        };
        let dimensions: BTreeMap<String, String> = dimension_set
            .as_array()
            .unwrap()
            .iter()
            .map(|name| {
                let name = name.as_str().unwrap();
                let value = line[name].as_str().unwrap_or_else(|| panic!("dimension {name} has a value: {line}"));
                (name.to_owned(), value.to_owned())
            })
            .collect();
        for metric in declared["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            let unit = metric["Unit"].as_str().unwrap();
            let expected = known.get(name).unwrap_or_else(|| panic!("{name} is one of shared::metrics::ALL"));
            assert_eq!(unit, expected.as_str(), "{name}'s unit");
            let value = line[name].as_f64().unwrap_or_else(|| panic!("{name} has a number: {line}"));
            assert!(value >= 0.0, "{line}");
            found.push((name.to_owned(), dimensions.clone(), unit.to_owned(), value));
        }
    }
    found
}

fn value_of(
    found: &[(String, BTreeMap<String, String>, String, f64)],
    name: &str,
    dimension: Option<(&str, &str)>,
) -> f64 {
    let wanted: BTreeMap<String, String> = dimension.map(|(k, v)| (k.to_owned(), v.to_owned())).into_iter().collect();
    found.iter().filter(|(n, dims, _, _)| n == name && *dims == wanted).map(|(_, _, _, value)| *value).sum()
}

fn names(found: &[(String, BTreeMap<String, String>, String, f64)]) -> std::collections::BTreeSet<&str> {
    found.iter().map(|(name, ..)| name.as_str()).collect()
}

#[tokio::test]
async fn a_scan_run_an_ingest_batch_and_an_export_print_the_metrics_the_alarms_read() {
    // The test's runtime has one thread: the capture sees this test's lines only, the API's included.
    let capture = Capture::start();
    let system = system(50.0).await;
    let ana: Who = Some(("ana", "north", "agent"));

    // An ingest batch: three events applied, one refused as malformed.
    system
        .publish(
            "Agency Upserted",
            json!({"agency_id": "north", "name": "North", "parent_agency_id": null, "agent_exports_enabled": true}),
        )
        .await;
    system
        .publish(
            "Agent Upserted",
            json!({"agent_id": "ana", "agency_id": "north", "name": "Ana", "email": "ana@example.com",
                   "npn": "111", "role": "agent"}),
        )
        .await;
    system
        .publish(
            "Application Submitted",
            json!({"submission_id": "s1", "federal_exchange_id": "0700", "plan_year": YEAR,
                   "client_name": "C", "agent_id": "ana", "npn": "111", "submitted_at": t(0).to_rfc3339()}),
        )
        .await;
    system.publish("Agent Upserted", json!({"agent_id": "eve", "agency_id": "north"})).await;
    system.drain_ingest().await;
    let ingest = metrics_of(&capture.lines());
    assert_eq!(value_of(&ingest, "EventsApplied", None), 3.0, "{ingest:?}");
    assert_eq!(value_of(&ingest, "EventsRefused", Some(("Reason", "malformed"))), 1.0, "{ingest:?}");
    for name in ["EventsRetried", "PlacementConflicts"] {
        assert!(names(&ingest).contains(name), "{name} in {ingest:?}");
    }

    // An application last synced 25 hours ago, with a 24-hour window: an hour overdue.
    system.put_marketplace(&answer("0700", &[(PolicyStatus::Effectuated, Some("777"))])).await;
    let long_ago = Utc::now() - chrono::Duration::hours(25);
    sync_trigger::sync::sync_application(&system.sync_store, &system.marketplace, &app("0700"), long_ago, far_off())
        .await
        .unwrap();
    let settings = daily_scan();
    // A pass in which the marketplace fails it reports the lag it left...
    system.set_faults(devkit::marketplace_sim::Faults { error_rate: 1.0, ..Default::default() }).await;
    let before = capture.lines().len();
    let failing = scan(&system.scan_store, &system.marketplace, &settings, Utc::now(), far_off()).await.unwrap();
    // At risk (the marketplace named another AOR): tried in the at-risk lane's two walks.
    assert_eq!((failing.failed, failing.pass_completed), (2, true), "{failing:?}");
    let behind = metrics_of(&capture.lines()[before..]);
    let lag = value_of(&behind, "ScanLag", None);
    assert!((3500.0..3700.0).contains(&lag), "an hour past the window: {lag}");
    // ...and so does a run out of time at once, which syncs nothing...
    let before = capture.lines().len();
    scan(&system.scan_store, &system.marketplace, &settings, Utc::now(), tokio::time::Instant::now()).await.unwrap();
    let still = value_of(&metrics_of(&capture.lines()[before..]), "ScanLag", None);
    assert!((3500.0..3700.0).contains(&still), "still an hour past: {still}");
    // ...and a pass that syncs it is behind no more.
    system.set_faults(devkit::marketplace_sim::Faults::default()).await;
    let before = capture.lines().len();
    let report = scan(&system.scan_store, &system.marketplace, &settings, Utc::now(), far_off()).await.unwrap();
    assert_eq!(report.synced, 1);
    let run = metrics_of(&capture.lines()[before..]);
    // At most how long the pass took: what it found synced within the window may since have
    // passed it by that much (a pass every so often, as deployed, leaves room for that).
    let lag = value_of(&run, "ScanLag", None);
    assert!((0.0..60.0).contains(&lag), "behind no more: {run:?}");
    assert_eq!(value_of(&run, "Syncs", Some(("Outcome", "ok"))), 1.0, "{run:?}");
    for name in [
        "MarketplaceThrottles",
        "MarketplaceErrors",
        "PlacementConflicts",
        "UnplacedMarksPlaced",
        "UnplacedMarksFailed",
    ] {
        assert!(names(&run).contains(name), "{name} in {run:?}");
    }

    // An on-demand sync the marketplace refuses (HTTP 500 each time), then an export of the entry.
    system.set_faults(devkit::marketplace_sim::Faults { error_rate: 1.0, ..Default::default() }).await;
    let before = capture.lines().len();
    let (status, _) = system.sync(ana, "0700").await;
    assert_eq!(status, 502);
    let refused = metrics_of(&capture.lines()[before..]);
    assert_eq!(value_of(&refused, "Syncs", Some(("Outcome", "unavailable"))), 1.0, "{refused:?}");
    assert_eq!(value_of(&refused, "MarketplaceErrors", None), 3.0, "every attempt counts: {refused:?}");

    let before = capture.lines().len();
    let (status, _) = system.call(ana, "POST", "/v1/exports", Some(json!({"scope": "agent"}))).await;
    assert_eq!(status, 202);
    system.drain_exports().await;
    let export = metrics_of(&capture.lines()[before..]);
    assert_eq!(value_of(&export, "ExportRows", None), 1.0, "{export:?}");
    let took = value_of(&export, "ExportDuration", None);
    assert!(took > 0.0 && took < 60.0, "{took}");
}

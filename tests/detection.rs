//! Detection end to end: platform events through the bus, the rule, the ingest queue and the
//! ingest function; marketplace syncs through the HTTP API and the scheduled scan, against the
//! simulator.

use shared::ports::{ApplicationReads, Applications, Directory, SyncDue};
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Timelike, Utc};
use devkit::marketplace_sim::Faults;
use serde_json::json;
use shared::domain::ApplicationKey;
use shared::domain::ArchivedFilter;
use shared::domain::Scope;
use shared::domain::{AgentId, BookEntry, MAX_AGENCY_DEPTH, PolicyStatus};
use sync_trigger::marketplace::{Aor, MarketplaceApplication, MarketplaceError, MarketplacePolicy};
use sync_trigger::scan::{NEW_LANE_EVERY, ScanSettings, scan};

use crate::helpers::*;

// ---- the platform's events ---------------------------------------------------------------

pub(crate) fn agency_event(id: &str, parent: Option<&str>) -> (&'static str, serde_json::Value) {
    (
        "Agency Upserted",
        json!({"agency_id": id, "name": format!("Agency {id}"), "parent_agency_id": parent, "agent_exports_enabled": true}),
    )
}

pub(crate) fn agent_event(id: &str, agency: &str, npn: &str, role: &str) -> (&'static str, serde_json::Value) {
    (
        "Agent Upserted",
        json!({"agent_id": id, "agency_id": agency, "name": format!("Agent {id}"), "email": format!("{id}@example.com"), "npn": npn, "role": role}),
    )
}

pub(crate) fn submitted(
    submission: &str,
    id: &str,
    by: &str,
    npn: &str,
    minute: i64,
) -> (&'static str, serde_json::Value) {
    (
        "Application Submitted",
        json!({"submission_id": submission, "federal_exchange_id": id, "plan_year": YEAR, "client_name": "Zoë O'Brien",
               "agent_id": by, "npn": npn, "submitted_at": t(minute).to_rfc3339()}),
    )
}

pub(crate) fn archived(id: &str, by: &str, on: bool, minute: i64) -> (&'static str, serde_json::Value) {
    let kind = if on { "Application Archived" } else { "Application Unarchived" };
    (kind, json!({"federal_exchange_id": id, "plan_year": YEAR, "agent_id": by, "occurred_at": t(minute).to_rfc3339()}))
}

pub(crate) fn permission_revoked(id: &str, whose: &str, minute: i64) -> (&'static str, serde_json::Value) {
    (
        "Application Permission Revoked",
        json!({"federal_exchange_id": id, "plan_year": YEAR, "agent_id": whose, "occurred_at": t(minute).to_rfc3339()}),
    )
}

/// Two agencies under one top agency, with an agent and an admin in each.
pub(crate) fn directory() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        agency_event("top", None),
        agency_event("north", Some("top")),
        agency_event("south", Some("top")),
        agency_event("north-east", Some("north")),
        agent_event("ana", "north", "111", "agent"),
        agent_event("bob", "south", "222", "agent"),
        agent_event("carl", "north", "333", "agent"),
        agent_event("admin-top", "top", "900", "agency_admin"),
        agent_event("admin-north", "north", "901", "agency_admin"),
        agent_event("admin-south", "south", "902", "agency_admin"),
        agent_event("admin-north-east", "north-east", "903", "agency_admin"),
    ]
}

pub(crate) async fn publish_all(system: &System, events: &[(&'static str, serde_json::Value)]) {
    for (kind, detail) in events {
        system.publish(kind, detail.clone()).await;
    }
    system.drain_ingest().await;
}

pub(crate) async fn entries(system: &System, id: &str) -> BTreeMap<AgentId, BookEntry> {
    system.store().application(&app(id)).await.unwrap().entries
}

#[tokio::test]
async fn the_spec_cases_hold_end_to_end_through_the_ingest_queue() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;

    // The first submission makes ana's entry.
    publish_all(&system, &[submitted("s1", "0042", "ana", "111", 0)]).await;
    let book = entries(&system, "0042").await;
    assert_eq!(book.len(), 1);
    assert!(!book[&agent_id("ana")].is_at_risk());

    // carl services ana's client under ana's NPN: no risk, no entry of his own.
    publish_all(&system, &[submitted("s2", "0042", "carl", "111", 5)]).await;
    let book = entries(&system, "0042").await;
    assert_eq!(book.len(), 1);
    assert!(!book[&agent_id("ana")].is_at_risk());

    // bob submits under his own NPN: ana's entry is at risk, bob gets one.
    publish_all(&system, &[submitted("s3", "0042", "bob", "222", 10)]).await;
    let book = entries(&system, "0042").await;
    let risk = book[&agent_id("ana")].risk.clone().expect("ana is at risk");
    assert_eq!(risk.reason.as_str(), "platform_submission");
    assert_eq!(risk.other_agent_id, Some(agent_id("bob")));
    assert_eq!(risk.other_agent_same_agency, Some(false));
    assert!(!book[&agent_id("bob")].is_at_risk());

    // Archiving and unarchiving, by events.
    publish_all(&system, &[archived("0042", "ana", true, 11)]).await;
    assert!(entries(&system, "0042").await[&agent_id("ana")].archived);
    publish_all(&system, &[archived("0042", "ana", false, 12)]).await;
    assert!(!entries(&system, "0042").await[&agent_id("ana")].archived);

    // ana submits again under her NPN: the AOR is hers again.
    publish_all(&system, &[submitted("s4", "0042", "ana", "111", 20)]).await;
    let book = entries(&system, "0042").await;
    assert!(!book[&agent_id("ana")].is_at_risk());
    assert!(book[&agent_id("bob")].is_at_risk());
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn duplicated_and_shuffled_deliveries_give_the_same_final_state() {
    let events = vec![
        submitted("s1", "0100", "ana", "111", 0),
        submitted("s2", "0100", "bob", "222", 5),
        archived("0100", "ana", true, 6),
        submitted("s3", "0100", "carl", "111", 7),
        submitted("s4", "0101", "bob", "222", 0),
        submitted("s5", "0101", "ana", "111", 3),
        submitted("s6", "0101", "bob", "222", 9),
        submitted("s7", "0102", "carl", "333", 1),
    ];
    let in_order = system(100.0).await;
    publish_all(&in_order, &directory()).await;
    publish_all(&in_order, &events).await;

    let shuffled = system(100.0).await;
    publish_all(&shuffled, &directory()).await;
    let mut mixed: Vec<_> = events.iter().rev().cloned().collect();
    mixed.insert(2, events[1].clone());
    mixed.insert(5, events[4].clone());
    mixed.push(events[0].clone());
    publish_all(&shuffled, &mixed).await;

    for id in ["0100", "0101", "0102"] {
        let normalise = |mut book: BTreeMap<AgentId, BookEntry>| {
            for entry in book.values_mut() {
                if let Some(risk) = entry.risk.as_mut() {
                    risk.flagged_at = t(0);
                }
            }
            book
        };
        let a = normalise(entries(&in_order, id).await);
        let b = normalise(entries(&shuffled, id).await);
        assert!(!a.is_empty());
        assert_eq!(a, b, "application {id}");
    }
}

#[tokio::test]
async fn a_poison_message_lands_in_the_dead_letter_queue_and_its_neighbours_still_apply() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    let envelope = |kind: &str, detail: serde_json::Value| {
        json!({"version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": kind, "source": "enrollment-platform",
               "account": "123456789012", "time": Utc::now().to_rfc3339(), "region": "us-east-1", "resources": [], "detail": detail})
        .to_string()
    };
    let (kind, good) = submitted("s1", "0200", "ana", "111", 0);
    let (_, mut bad) = submitted("s2", "0201", "bob", "222", 0);
    bad["npn"] = json!("not-an-npn");
    let (_, later) = submitted("s3", "0202", "bob", "222", 0);
    let entries_to_send = [envelope(kind, good), envelope(kind, bad), "{ not json".to_owned(), envelope(kind, later)];
    let batch: Vec<_> = entries_to_send
        .iter()
        .enumerate()
        .map(|(i, body)| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(body)
                .build()
                .unwrap()
        })
        .collect();
    system
        .sqs
        .send_message_batch()
        .queue_url(&system.world.resources.ingest_queue_url)
        .set_entries(Some(batch))
        .send()
        .await
        .unwrap();
    system.drain_ingest().await;

    assert_eq!(entries(&system, "0200").await.len(), 1, "the good neighbour before applied");
    assert_eq!(entries(&system, "0202").await.len(), 1, "the good neighbour after applied");
    assert!(entries(&system, "0201").await.is_empty(), "nothing of the bad one was applied");

    let dead = system.waiting(&system.world.resources.ingest_dead_letter_queue_url).await;
    let mut reasons: Vec<String> = dead
        .iter()
        .map(|m| m.message_attributes.as_ref().unwrap()["refused_because"].string_value.clone().unwrap())
        .collect();
    reasons.sort();
    assert_eq!(reasons, vec!["npn must contain digits only", "the body is not JSON (Syntax error)"]);
    let left = system.waiting(&system.world.resources.ingest_queue_url).await;
    assert!(left.is_empty(), "nothing is left behind on the ingest queue");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn an_agency_cycle_sent_by_the_platform_is_refused_into_the_dead_letter_queue() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    publish_all(&system, &[agency_event("top", Some("north-east"))]).await;
    let top = system.store().agency(&agency_id("top")).await.unwrap().unwrap();
    assert_eq!(top.parent_agency_id, None);
    let dead = system.waiting(&system.world.resources.ingest_dead_letter_queue_url).await;
    assert_eq!(dead.len(), 1);
    assert_no_differences(&system.world).await;
}

/// A chain of `n` agencies, `c0` at the top, `c{n-1}` `n` levels deep.
fn chain_of(n: usize) -> Vec<(&'static str, serde_json::Value)> {
    (0..n).map(|i| agency_event(&format!("c{i}"), (i > 0).then(|| format!("c{}", i - 1)).as_deref())).collect()
}

/// The reasons on the ingest dead-letter queue since last asked, sorted (the messages are taken).
async fn refusals(system: &System) -> Vec<String> {
    let queue = &system.world.resources.ingest_dead_letter_queue_url;
    let dead = system.waiting(queue).await;
    let mut reasons = Vec::new();
    for message in dead {
        reasons.push(message.message_attributes.as_ref().unwrap()["refused_because"].string_value.clone().unwrap());
        let receipt = message.receipt_handle.unwrap();
        system.sqs.delete_message().queue_url(queue).receipt_handle(receipt).send().await.unwrap();
    }
    reasons.sort();
    reasons
}

#[tokio::test]
async fn a_move_that_would_put_an_agencys_downline_past_the_depth_cap_is_refused_and_its_tree_keeps_working() {
    let system = system(100.0).await;
    let deepest = MAX_AGENCY_DEPTH - 1;
    publish_all(&system, &chain_of(deepest)).await;
    // GIVEN an agency with a sub-agency, whose agent's client another agent took
    let admin_mover = Some(("admin-mover", "mover", "agency_admin"));
    publish_all(
        &system,
        &[
            agency_event("mover", None),
            agency_event("kid", Some("mover")),
            agent_event("ana", "kid", "111", "agent"),
            agent_event("bob", "c0", "222", "agent"),
            agent_event("admin-mover", "mover", "900", "agency_admin"),
            submitted("s1", "0900", "ana", "111", 0),
            submitted("s2", "0900", "bob", "222", 1),
        ],
    )
    .await;

    // WHEN it is moved under the deepest agency: itself within the cap, its sub-agency one below it
    publish_all(&system, &[agency_event("mover", Some(&format!("c{}", deepest - 1)))]).await;

    // THEN the move is refused with its reason, and the tree is as it was
    assert_eq!(
        refusals(&system).await,
        vec![format!("agency mover would be more than {MAX_AGENCY_DEPTH} levels deep")]
    );
    assert_eq!(
        system.store().agency_path(&agency_id("kid")).await.unwrap(),
        vec![agency_id("mover"), agency_id("kid")]
    );
    let (status, body) = system.call(admin_mover, "GET", "/v1/agencies/mover/at-risk", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["federal_exchange_id"], "0900");
    // AND its agents' events still apply, into every list above them
    publish_all(&system, &[submitted("s3", "0901", "ana", "111", 2), submitted("s4", "0901", "bob", "222", 3)]).await;
    let (_, body) = system.call(admin_mover, "GET", "/v1/agencies/mover/at-risk", None).await;
    let ids: Vec<&str> =
        body["items"].as_array().unwrap().iter().map(|i| i["federal_exchange_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["0901", "0900"]);

    // WHEN it moves one level higher, its sub-agency exactly at the cap
    publish_all(&system, &[agency_event("mover", Some(&format!("c{}", deepest - 2)))]).await;
    // THEN the move is taken, and the top of the chain sees the entries
    assert_eq!(system.store().agency_path(&agency_id("kid")).await.unwrap().len(), MAX_AGENCY_DEPTH);
    publish_all(&system, &[agent_event("admin-c0", "c0", "901", "agency_admin")]).await;
    let (status, top) =
        system.call(Some(("admin-c0", "c0", "agency_admin")), "GET", "/v1/agencies/c0/at-risk", None).await;
    assert_eq!(status, 200, "{top}");
    assert_eq!(top["items"].as_array().unwrap().len(), 2, "{top}");
    assert!(refusals(&system).await.is_empty(), "nothing else refused");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn a_parent_arriving_late_under_a_deep_chain_is_refused_when_its_waiting_downline_would_pass_the_cap() {
    let system = system(100.0).await;
    let deepest = MAX_AGENCY_DEPTH - 1;
    publish_all(&system, &chain_of(deepest)).await;
    // GIVEN two levels of agencies waiting for a parent not known yet, an agent's entry at risk below them
    publish_all(
        &system,
        &[
            agency_event("kid", Some("late")),
            agency_event("grandkid", Some("kid")),
            agent_event("ana", "grandkid", "111", "agent"),
            agent_event("bob", "c0", "222", "agent"),
            submitted("s1", "0910", "ana", "111", 0),
            submitted("s2", "0910", "bob", "222", 1),
        ],
    )
    .await;

    // WHEN the parent arrives where its grandchild would be one level past the cap
    publish_all(&system, &[agency_event("late", Some(&format!("c{}", deepest - 2)))]).await;
    // THEN it is refused, and nothing of it is written
    assert_eq!(refusals(&system).await, vec![format!("agency late would be more than {MAX_AGENCY_DEPTH} levels deep")]);
    assert!(system.store().agency(&agency_id("late")).await.unwrap().is_none());

    // WHEN it arrives one level higher, THEN it is taken and the entry reaches the top of the chain
    publish_all(&system, &[agency_event("late", Some(&format!("c{}", deepest - 3)))]).await;
    assert_eq!(system.store().agency_path(&agency_id("grandkid")).await.unwrap().len(), MAX_AGENCY_DEPTH);
    let top = whole_list(system.store(), &Scope::Agency(agency_id("c0")), ArchivedFilter::Exclude, 10).await.0;
    assert_eq!(top, vec!["0910"]);
    assert_no_differences(&system.world).await;
}

/// Sends platform envelopes of our own making (their ids and times as given) to the ingest queue,
/// one after another, and lets the consumer take each before the next is sent.
async fn deliver_in_turn(system: &System, envelopes: &[serde_json::Value]) {
    for envelope in envelopes {
        let queue = &system.world.resources.ingest_queue_url;
        system.sqs.send_message().queue_url(queue).message_body(envelope.to_string()).send().await.unwrap();
        system.drain_ingest().await;
    }
}

fn envelope(id: &str, time: chrono::DateTime<Utc>, (kind, detail): (&str, serde_json::Value)) -> serde_json::Value {
    json!({"version": "0", "id": id, "detail-type": kind, "source": "enrollment-platform", "account": "123456789012",
           "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "region": "us-east-1", "resources": [],
           "detail": detail})
}

#[tokio::test]
async fn directory_events_of_the_same_second_end_in_the_same_directory_whatever_order_they_arrive_in() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    publish_all(&system, &[agency_event("x", Some("top")), agency_event("y", Some("top"))]).await;
    publish_all(&system, &[agent_event("xena", "x", "501", "agent"), agent_event("yuri", "y", "502", "agent")]).await;
    publish_all(&system, &[submitted("s1", "0930", "xena", "501", 0), submitted("s2", "0930", "yuri", "502", 1)]).await;
    // GIVEN a move and its correction dated the same second: by their ids, the correction is last
    // (A minute on: after the second the test's own publishing dated the agencies' creation with.)
    let second = Utc::now().with_nanosecond(0).unwrap() + chrono::Duration::minutes(1);
    let moves = |agency: &str| {
        [
            envelope("0b1e2c3d-move", second, agency_event(agency, Some("north"))),
            envelope("9f8e7d6c-correction", second, agency_event(agency, Some("south"))),
        ]
    };
    // WHEN x's arrive in order and y's reversed
    let [mv, correction] = moves("x");
    deliver_in_turn(&system, &[mv, correction]).await;
    let [mv, correction] = moves("y");
    deliver_in_turn(&system, &[correction, mv]).await;
    // THEN both end as the correction says, and the lists follow
    for agency in ["x", "y"] {
        let path = system.store().agency_path(&agency_id(agency)).await.unwrap();
        assert_eq!(path, vec![agency_id("top"), agency_id("south"), agency_id(agency)], "{agency}");
    }
    let south = whole_list(system.store(), &Scope::Agency(agency_id("south")), ArchivedFilter::Exclude, 10).await.0;
    assert_eq!(south, vec!["0930"], "xena's entry, at risk since yuri took it, is in south's list");
    // AND the same event delivered again is taken as itself: nothing changes, nothing is refused
    let [_, correction] = moves("x");
    deliver_in_turn(&system, &[correction]).await;
    assert_eq!(
        system.store().agency(&agency_id("x")).await.unwrap().unwrap().parent_agency_id,
        Some(agency_id("south"))
    );
    assert!(refusals(&system).await.is_empty());
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn a_change_that_moves_nothing_leaves_the_versions_placements_check_so_it_cancels_none() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    let version = || async { system.store().agency_item(&agency_id("north")).await.unwrap().unwrap().version };
    let before = version().await;
    // WHEN the platform sends north again as it is, and an admin turns its exports switch off
    publish_all(&system, &[agency_event("north", Some("top"))]).await;
    let admin_north = Some(("admin-north", "north", "agency_admin"));
    let off = Some(json!({"agent_exports_enabled": false}));
    let (status, _) = system.call(admin_north, "PATCH", "/v1/agencies/north/settings", off).await;
    assert_eq!(status, 200);
    // THEN north's version, which every placement below it holds to, is where it was
    assert_eq!(version().await, before);
    let north = system.store().agency(&agency_id("north")).await.unwrap().unwrap();
    assert!(!north.agent_exports_enabled);
    // AND a platform event older than the switch, arriving now, leaves the switch as the admin set it
    let older = Utc::now() - chrono::Duration::minutes(5);
    system.publish_dated("Agency Upserted", agency_event("north", Some("top")).1, Some(older)).await;
    system.drain_ingest().await;
    assert!(!system.store().agency(&agency_id("north")).await.unwrap().unwrap().agent_exports_enabled);
    // AND a rename moves it, and is placed
    let (kind, mut renamed) = agency_event("north", Some("top"));
    renamed["name"] = json!("North Star");
    publish_all(&system, &[(kind, renamed)]).await;
    assert!(version().await > before);
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn a_revoked_ede_permission_puts_the_entry_at_risk_in_every_list_and_a_sync_showing_the_agent_clears_it() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    publish_all(&system, &[submitted("s1", "0460", "ana", "111", 0)]).await;

    // Delivered twice, as SQS may: one change.
    let revoked = permission_revoked("0460", "ana", 10);
    publish_all(&system, &[revoked.clone(), revoked]).await;
    let ana = &entries(&system, "0460").await[&agent_id("ana")];
    let risk = ana.risk.as_ref().expect("at risk");
    assert_eq!(risk.reason.as_str(), "ede_permission_revoked");
    let (status, list) = system.call(ANA, "GET", "/v1/at-risk", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["reason"], "ede_permission_revoked");
    let (_, agency) =
        system.call(Some(("admin-top", "top", "agency_admin")), "GET", "/v1/agencies/top/at-risk", None).await;
    assert_eq!(agency["items"][0]["reason"], "ede_permission_revoked", "in the agency's list too");
    let history = system.store().history(&app("0460")).await.unwrap();
    assert_eq!(history.iter().filter(|h| h.agent_id == agent_id("ana")).count(), 2, "made, then at risk: once");

    // The marketplace shows ana as the AOR: cleared.
    system.put_marketplace(&answer("0460", &[(PolicyStatus::Effectuated, Some("111"))])).await;
    let (status, body) = system.sync(ANA, "0460").await;
    assert_eq!((status, &body["at_risk"]), (200, &json!(false)));
    assert_no_differences(&system.world).await;
}

// ---- marketplace syncs --------------------------------------------------------------------

pub fn answer(id: &str, aors: &[(PolicyStatus, Option<&str>)]) -> MarketplaceApplication {
    MarketplaceApplication {
        federal_exchange_id: id.to_owned(),
        plan_year: YEAR,
        policies: aors
            .iter()
            .enumerate()
            .map(|(i, (status, npn))| MarketplacePolicy {
                policy_id: format!("P{i}"),
                issuer_name: "Blue Ridge Health".into(),
                status: *status,
                aor: npn.map(|n| Aor { npn: n.into(), name: format!("Broker {n}") }),
            })
            .collect(),
    }
}

const ANA: Option<(&str, &str, &str)> = Some(("ana", "north", "agent"));

/// At most `rate` requests in any window of a second of the simulator's log (less 50 ms for the
/// jitter between the clients' clock and the simulator's).
fn assert_never_faster_than(served: &[devkit::marketplace_sim::Served], rate: f64) {
    let times: Vec<u64> = served.iter().map(|s| s.at_ms).collect();
    for (i, start) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|at| **at < start + 950).count();
        assert!(in_window as f64 <= rate, "{in_window} requests within a second from {start} ms");
    }
}

#[tokio::test]
async fn a_sync_showing_a_foreign_aor_puts_the_entry_at_risk_and_a_newer_matching_one_clears_it() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    publish_all(&system, &[submitted("s1", "0300", "ana", "111", 0)]).await;

    system
        .put_marketplace(&answer(
            "0300",
            &[(PolicyStatus::Effectuated, Some("777")), (PolicyStatus::Cancelled, Some("111"))],
        ))
        .await;
    let (status, body) = system.sync(ANA, "0300").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["at_risk"], true);
    assert_eq!(body["reason"], "marketplace_aor_mismatch");
    assert_eq!(body["expected_npn"], "111");
    assert_eq!(body["policies"][0]["aor"]["npn"], "777");
    assert_eq!(body["policies"][0]["matches_expected_npn"], false);
    assert_eq!(body["policies"][1]["matches_expected_npn"], true);
    assert!(body["last_synced_at"].is_string());

    system
        .put_marketplace(&answer("0300", &[(PolicyStatus::Effectuated, Some("111")), (PolicyStatus::Terminated, None)]))
        .await;
    let (status, body) = system.sync(ANA, "0300").await;
    assert_eq!(status, 200);
    assert_eq!(body["at_risk"], false, "a terminated policy without an AOR does not count");

    system.put_marketplace(&answer("0300", &[(PolicyStatus::Pending, None)])).await;
    let (_, body) = system.sync(ANA, "0300").await;
    assert_eq!(body["at_risk"], true, "an active policy with no AOR at all is at risk");
    assert_eq!(body["policies"][0]["aor"], serde_json::Value::Null);

    let history = system.store().history(&app("0300")).await.unwrap();
    let at_risk: Vec<bool> = history
        .iter()
        .filter(|h| h.agent_id == agent_id("ana"))
        .map(|h| h.after.as_ref().is_some_and(BookEntry::is_at_risk))
        .collect();
    assert_eq!(at_risk, vec![false, true, false, true], "created, flagged, cleared, flagged again");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn while_the_marketplace_fails_nothing_changes_calls_are_retried_and_after_it_recovers_the_sync_succeeds() {
    let system = system(1000.0).await;
    publish_all(&system, &directory()).await;
    publish_all(&system, &[submitted("s1", "0400", "ana", "111", 0)]).await;
    system.put_marketplace(&answer("0400", &[(PolicyStatus::Effectuated, Some("777"))])).await;
    let before = entries(&system, "0400").await;

    let failures = [
        (Faults { error_rate: 1.0, ..Faults::default() }, 502, "/problems/marketplace-unavailable"),
        (Faults { timeout_rate: 1.0, hang_ms: 2_000, ..Faults::default() }, 502, "/problems/marketplace-unavailable"),
        (
            Faults { rate_limit_rate: 1.0, retry_after_seconds: 0, ..Faults::default() },
            503,
            "/problems/marketplace-busy",
        ),
    ];
    for (faults, expected_status, expected_type) in failures {
        let served_before = system.served().await.len();
        system.set_faults(faults.clone()).await;
        let (status, body) = system.sync(ANA, "0400").await;
        assert_eq!(status, expected_status, "{faults:?}: {body}");
        assert_eq!(body["type"], expected_type);
        assert_eq!(system.served().await.len() - served_before, 3, "{faults:?}: every attempt reached the marketplace");
        assert_eq!(entries(&system, "0400").await, before, "{faults:?}: a failed sync changes nothing");
    }

    system.set_faults(Faults::default()).await;
    let (status, body) = system.sync(ANA, "0400").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["at_risk"], true);
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn only_the_owner_and_admins_above_the_owner_may_sync() {
    let system = system(1000.0).await;
    publish_all(&system, &directory()).await;
    publish_all(&system, &[submitted("s1", "0500", "ana", "111", 0)]).await;
    system.put_marketplace(&answer("0500", &[(PolicyStatus::Effectuated, Some("111"))])).await;

    let refused = [
        (Some(("bob", "south", "agent")), 404, "another agent"),
        (Some(("carl", "north", "agent")), 404, "an agent of the same agency"),
        (Some(("admin-south", "south", "agency_admin")), 404, "an admin of a sibling agency"),
        (Some(("admin-north-east", "north-east", "agency_admin")), 404, "an admin of a downline agency"),
        (None, 401, "no token"),
    ];
    for (who, expected, case) in refused {
        let (status, _) = system.sync(who, "0500").await;
        assert_eq!(status, expected, "{case}");
    }
    let allowed = [
        (ANA, "the owner"),
        (Some(("admin-north", "north", "agency_admin")), "an admin of the owner's agency"),
        (Some(("admin-top", "top", "agency_admin")), "an admin of an upline agency"),
    ];
    for (who, case) in allowed {
        let (status, body) = system.sync(who, "0500").await;
        assert_eq!(status, 200, "{case}: {body}");
        assert_eq!(body["agent_id"], "ana", "{case}");
    }
    let (status, _) = system.sync(ANA, "12ab").await;
    assert_eq!(status, 400, "a malformed id");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn the_scan_keeps_to_its_rate_and_resumes_from_its_checkpoint() {
    const RATE: f64 = 20.0;
    let system = system(RATE).await;
    agency(system.store(), "top", None).await;
    agent(system.store(), "ana", "top", "111").await;
    // 60 applications never synced; the marketplace knows all but 6 of them.
    let ids: Vec<String> = (0..60).map(|i| format!("{:05}", 7000 + i)).collect();
    let applications: Vec<(ApplicationKey, Vec<shared::domain::Evidence>)> =
        ids.iter().map(|id| (app(id), vec![submission(&format!("s-{id}"), 0, "ana", "111")])).collect();
    let owners = system.store().owner_items([agent_id("ana")].into()).await.unwrap();
    system.store().import(&applications, &owners, Utc::now()).await.unwrap();
    let unknown: Vec<&String> = ids.iter().step_by(10).collect();
    for id in ids.iter().filter(|id| !unknown.contains(id)) {
        system.put_marketplace(&answer(id, &[(PolicyStatus::Effectuated, Some("111"))])).await;
    }
    let settings = ScanSettings {
        year: year(),
        stale_after: chrono::Duration::hours(24),
        concurrency: 8,
        page_size: 7,
        new_lane_every: NEW_LANE_EVERY,
        repair_budget: sync_trigger::scan::REPAIR_BUDGET,
        pass_every: chrono::Duration::zero(),
    };

    // A run cut short by its deadline...
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1200);
    let first = scan(&system.scan_store, &system.marketplace, &settings, Utc::now(), deadline).await.unwrap();
    assert!(first.out_of_time);
    let served_first = system.served().await.len();
    assert!(served_first > 5 && served_first < 60, "the first run did part of the work: {served_first}");

    // ...and the next one picks up where it stopped: every application asked for exactly once.
    let far = tokio::time::Instant::now() + Duration::from_secs(60);
    let second = scan(&system.scan_store, &system.marketplace, &settings, Utc::now(), far).await.unwrap();
    assert!(!second.out_of_time);
    let served = system.served().await;
    let mut asked: Vec<&str> = served.iter().map(|s| s.federal_exchange_id.as_str()).collect();
    asked.sort();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(asked, expected, "each application once across the two runs");
    assert_eq!(first.synced + second.synced, 54);
    assert_eq!(first.failed + second.failed, 6);

    assert_never_faster_than(&served, RATE);

    assert_eq!(first.unknown + second.unknown, 6);

    // Synced applications are no longer due, and the unknown ones are not asked again on every
    // pass: only once their time has come (an hour, then two, ...).
    let third = scan(&system.scan_store, &system.marketplace, &settings, Utc::now(), far).await.unwrap();
    assert_eq!((third.synced, third.failed), (0, 0));
    let later = Utc::now() + chrono::Duration::minutes(61);
    let fourth = scan(&system.scan_store, &system.marketplace, &settings, later, far).await.unwrap();
    assert_eq!((fourth.synced, fourth.failed, fourth.unknown), (0, 6, 6), "asked again after an hour");
    let fifth = scan(&system.scan_store, &system.marketplace, &settings, later + chrono::Duration::minutes(61), far)
        .await
        .unwrap();
    assert_eq!(fifth.failed, 0, "the second time, two hours");
    let stored = system.store().application(&app(&ids[1])).await.unwrap();
    assert!(stored.last_synced_at.is_some());
    assert_no_differences(&system.world).await;
}

/// A pass fixes its cut-off when it starts: with more due than a run can sync, and a staleness
/// window shorter than the pass, the runs still walk every shard once and the pass ends —
/// instead of re-syncing what the first run synced. And applications never synced go first.
/// An application ana submitted, last synced long ago (the marketplace then named her).
fn synced_long_ago(id: &str) -> (ApplicationKey, Vec<shared::domain::Evidence>) {
    let sync = shared::domain::Evidence {
        id: shared::domain::EvidenceId::parse(format!("sync-{id}")).unwrap(),
        at: t(10),
        fact: shared::domain::Fact::Synced {
            policies: vec![shared::domain::Policy {
                policy_id: "P0".into(),
                status: PolicyStatus::Effectuated,
                aor_npn: Some(shared::domain::Npn::parse("111").unwrap()),
            }],
            again: Vec::new(),
        },
    };
    (app(id), vec![submission(&format!("s-{id}"), 0, "ana", "111"), sync])
}

#[tokio::test]
async fn a_pass_ends_and_covers_every_shard_when_the_data_exceeds_a_run_and_new_applications_go_first() {
    const RATE: f64 = 40.0;
    let system = system(RATE).await;
    agency(system.store(), "top", None).await;
    agent(system.store(), "ana", "top", "111").await;
    let owners = system.store().owner_items([agent_id("ana")].into()).await.unwrap();
    let old: Vec<String> = (0..90).map(|i| format!("{:05}", 9000 + i)).collect();
    let shards: std::collections::BTreeSet<u32> =
        old.iter().map(|id| store::keys::application_shard(&app(id).id)).collect();
    assert_eq!(shards.len(), 16, "the data is in every shard");
    system
        .store()
        .import(&old.iter().map(|id| synced_long_ago(id)).collect::<Vec<_>>(), &owners, Utc::now())
        .await
        .unwrap();
    for id in &old {
        system.put_marketplace(&answer(id, &[(PolicyStatus::Effectuated, Some("111"))])).await;
    }
    // A window of two seconds: by the third run, what the first synced is stale again.
    let settings = ScanSettings {
        year: year(),
        stale_after: chrono::Duration::seconds(2),
        concurrency: 8,
        page_size: 7,
        new_lane_every: NEW_LANE_EVERY,
        repair_budget: sync_trigger::scan::REPAIR_BUDGET,
        pass_every: chrono::Duration::zero(),
    };
    let run_for = |time: Duration| {
        let (system, settings) = (&system, &settings);
        async move {
            let deadline = tokio::time::Instant::now() + time;
            scan(&system.scan_store, &system.marketplace, settings, Utc::now(), deadline).await.unwrap()
        }
    };
    let run = || run_for(Duration::from_millis(900));
    let first = run().await;
    assert!(first.out_of_time && !first.pass_completed, "{first:?}");

    // New applications arrive mid-pass: the next run syncs them before anything else.
    let new: Vec<String> = (0..5).map(|i| format!("{:05}", 9500 + i)).collect();
    let fresh: Vec<_> = new.iter().map(|id| (app(id), vec![submission(&format!("s-{id}"), 0, "ana", "111")])).collect();
    system.store().import(&fresh, &owners, Utc::now()).await.unwrap();
    for id in &new {
        system.put_marketplace(&answer(id, &[(PolicyStatus::Effectuated, Some("111"))])).await;
    }
    let before_second = system.served().await.len();
    // Long enough for the five whatever the machine's load (CI once cut a 900 ms run at four); the
    // order is what is asserted, and the pass may well end in this run.
    let second = run_for(Duration::from_secs(3)).await;
    assert_eq!(second.first_synced, 5, "{second:?}");
    // All five are started before the pass's first; of the 8 slots, the pass can take the other 3
    // at once, and on a loaded machine those may reach the marketplace first.
    // (On a machine loaded by the other tests the run's time may end before the pass starts one.)
    let served = system.served().await;
    let first_eight = &served[before_second..served.len().min(before_second + 8)];
    let asked_first: Vec<&str> = first_eight.iter().map(|s| s.federal_exchange_id.as_str()).collect();
    for id in &new {
        assert!(asked_first.contains(&id.as_str()), "the new ones first: {asked_first:?}");
    }

    let mut runs = 2;
    let mut last = second;
    // Runs of 900 ms: on a machine loaded by the other tests a run may spend most of it on the
    // never-synced lane's look over every shard, so the bound is generous; a pass that never
    // ends still fails it.
    while !last.pass_completed {
        runs += 1;
        assert!(runs <= 40, "the pass never ended: {last:?}");
        last = run().await;
    }
    // Every old application asked exactly once in the pass, from every shard.
    let served = system.served().await;
    let mut asked: Vec<&str> =
        served.iter().map(|s| s.federal_exchange_id.as_str()).filter(|id| old.iter().any(|o| o == id)).collect();
    asked.sort();
    assert_eq!(asked, old.iter().map(String::as_str).collect::<Vec<_>>(), "each once, in {runs} runs");
    assert_no_differences(&system.world).await;
}

/// A pass starts at most every `pass_every` (each reads the whole due list): a run before then
/// starts none, and one after starts the next.
#[tokio::test]
async fn passes_are_paced_and_a_run_between_two_starts_none() {
    let system = system(100.0).await;
    agency(system.store(), "top", None).await;
    agent(system.store(), "ana", "top", "111").await;
    let owners = system.store().owner_items([agent_id("ana")].into()).await.unwrap();
    system.store().import(&[synced_long_ago("09800")], &owners, Utc::now()).await.unwrap();
    system.put_marketplace(&answer("09800", &[(PolicyStatus::Effectuated, Some("111"))])).await;
    let settings = ScanSettings { pass_every: chrono::Duration::hours(1), ..daily_scan() };
    let far = || tokio::time::Instant::now() + Duration::from_secs(60);
    let now = Utc::now();
    let first = scan(&system.scan_store, &system.marketplace, &settings, now, far()).await.unwrap();
    assert_eq!((first.synced, first.pass_completed), (1, true), "{first:?}");
    let checkpoint = || async { system.store().scan_checkpoint(year()).await.unwrap() };
    assert_eq!(checkpoint().await.passes_completed, 1);

    let between = now + chrono::Duration::minutes(30);
    let run = scan(&system.scan_store, &system.marketplace, &settings, between, far()).await.unwrap();
    assert!(!run.pass_completed, "{run:?}");
    let at = checkpoint().await;
    assert_eq!((at.pass.is_none(), at.passes_completed), (true, 1), "no pass started: {at:?}");

    let after = now + chrono::Duration::minutes(61);
    let run = scan(&system.scan_store, &system.marketplace, &settings, after, far()).await.unwrap();
    assert!(run.pass_completed, "{run:?}");
    assert_eq!(checkpoint().await.passes_completed, 2);
    assert_eq!(system.served().await.len(), 1, "synced once: the second pass found it fresh");
}

#[tokio::test]
async fn applications_arriving_during_a_run_are_found_and_synced_first_while_the_pass_goes_on() {
    const RATE: f64 = 20.0;
    let system = system(RATE).await;
    agency(system.store(), "top", None).await;
    agent(system.store(), "ana", "top", "111").await;
    let owners = system.store().owner_items([agent_id("ana")].into()).await.unwrap();
    let old: Vec<String> = (0..120).map(|i| format!("{:05}", 9600 + i)).collect();
    let loaded: Vec<_> = old.iter().map(|id| synced_long_ago(id)).collect();
    system.store().import(&loaded, &owners, Utc::now()).await.unwrap();
    for id in &old {
        system.put_marketplace(&answer(id, &[(PolicyStatus::Effectuated, Some("111"))])).await;
    }
    let settings = ScanSettings {
        year: year(),
        stale_after: chrono::Duration::hours(24),
        concurrency: 8,
        page_size: 7,
        new_lane_every: Duration::from_millis(300),
        repair_budget: sync_trigger::scan::REPAIR_BUDGET,
        pass_every: chrono::Duration::zero(),
    };

    // WHEN new applications arrive while a run is going through the pass
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    let running = {
        let (store, marketplace, settings) = (system.store().clone(), system.marketplace.clone(), settings.clone());
        tokio::spawn(async move { scan(&store, &marketplace, &settings, Utc::now(), deadline).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let new: Vec<String> = (0..3).map(|i| format!("{:05}", 9900 + i)).collect();
    for id in &new {
        system.put_marketplace(&answer(id, &[(PolicyStatus::Effectuated, Some("111"))])).await;
    }
    let arrived = system.served().await.len();
    let fresh: Vec<_> = new.iter().map(|id| (app(id), vec![submission(&format!("s-{id}"), 0, "ana", "111")])).collect();
    system.store().import(&fresh, &owners, Utc::now()).await.unwrap();
    let report = running.await.unwrap();

    // THEN the same run synced them (the pass never reads the never-synced lane: only a look
    // during the run can have found them), ahead of pass applications still waiting at its end
    assert_eq!(report.first_synced, 3, "{report:?}");
    assert!(!report.pass_completed, "{report:?}");
    let served = system.served().await;
    let asked: Vec<&str> = served[arrived..].iter().map(|s| s.federal_exchange_id.as_str()).collect();
    let old_asked = served.iter().filter(|s| old.contains(&s.federal_exchange_id)).count();
    assert!(old_asked < old.len(), "old applications still waited: {old_asked} of {} synced", old.len());
    // AND the pass went on while the run looked: old applications were synced before and after
    let first_new = asked.iter().position(|id| new.iter().any(|n| n == id)).expect("a new one was asked");
    let last_new = asked.iter().rposition(|id| new.iter().any(|n| n == id)).expect("a new one was asked");
    assert!(asked[..first_new].iter().any(|id| old.iter().any(|o| o == id)), "{asked:?}");
    assert!(asked[last_new..].iter().any(|id| old.iter().any(|o| o == id)), "{asked:?}");
    // (At least two rounds of its eight slots besides the new ones: 4 s at 20/s is 80 on an idle
    // machine; CI, loaded, once did 33.)
    assert!(report.synced >= 3 + 16, "{report:?}");
    assert_no_differences(&system.world).await;
}

/// Two processes share the partner's rate: another process runs the scheduled scan flat out while
/// this one serves people's on-demand syncs. Together they never ask faster than the rate, a
/// person's sync goes ahead of the scan's queue, and the scan takes the rest.
#[tokio::test]
async fn the_scan_and_on_demand_syncs_in_two_processes_share_one_budget() {
    const RATE: f64 = 10.0;
    const SCAN_SECONDS: u64 = 5;
    let system = system(RATE).await;
    agency(system.store(), "north", None).await;
    agent(system.store(), "ana", "north", "111").await;
    let ids: Vec<String> = (0..150).map(|i| format!("{:05}", 8000 + i)).collect();
    let applications: Vec<(ApplicationKey, Vec<shared::domain::Evidence>)> =
        ids.iter().map(|id| (app(id), vec![submission(&format!("s-{id}"), 0, "ana", "111")])).collect();
    let owners = system.store().owner_items([agent_id("ana")].into()).await.unwrap();
    system.store().import(&applications, &owners, Utc::now()).await.unwrap();
    for id in &ids {
        system.put_marketplace(&answer(id, &[(PolicyStatus::Effectuated, Some("111"))])).await;
    }

    // The other process: this test binary again, running only the scan, with the same variables.
    let scanner = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "detection::the_scan_as_a_second_process", "--ignored", "--nocapture"])
        .envs(system.vars.pairs())
        .env("SECOND_PROCESS_SCAN_SECONDS", SCAN_SECONDS.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = tokio::time::Instant::now();
    while system.served().await.len() < 10 {
        assert!(waiting.elapsed() < Duration::from_secs(30), "the scan process never started asking");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // While it runs: a person's syncs, one after another, each timed.
    let mut waits = Vec::new();
    for id in ids.iter().rev().take(6) {
        let started = tokio::time::Instant::now();
        let (status, body) = system.sync(ANA, id).await;
        assert_eq!(status, 200, "{body}");
        waits.push(started.elapsed());
    }
    let scanner = scanner.wait_with_output().await.unwrap();
    assert!(
        scanner.status.success(),
        "the scan process failed: {}{}",
        String::from_utf8_lossy(&scanner.stdout),
        String::from_utf8_lossy(&scanner.stderr)
    );

    // Never faster than the rate, both processes together.
    let served = system.served().await;
    assert_never_faster_than(&served, RATE);
    let times: Vec<u64> = served.iter().map(|s| s.at_ms).collect();
    // A person's sync waited for the few turns the scan holds ahead (3 at 10/s: 0.3 s), not behind
    // the scan's whole queue (150 at 10/s: 15 s); the margin is for a machine loaded by other tests.
    let slowest = waits.iter().max().unwrap();
    assert!(*slowest < Duration::from_secs(3), "a person's sync took {slowest:?}: {waits:?}");
    // And the scan took what was left: the two kept the rate busy.
    let busy_ms = times.last().unwrap() - times.first().unwrap();
    let used = times.len() as f64 / (busy_ms as f64 / 1000.0) / RATE;
    assert!(used > 0.6, "{} requests in {busy_ms} ms: {used:.2} of the rate", times.len());
}

/// Lambda gives sync-trigger the template's time-out, API Gateway 30 s at most: against a
/// marketplace that throttles for a minute (`Retry-After: 60`), a person's sync does not wait it
/// out past its deadline — it answers 503 problem+json with `Retry-After` inside the template's
/// time-out, and gives its slot back: four in a row, one more than a person may hold at once, are
/// each answered so (a slot kept would make the fourth a 429).
#[tokio::test]
async fn a_sync_against_a_marketplace_throttling_for_a_minute_answers_503_in_time_and_frees_its_slot() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    publish_all(&system, &[submitted("s1", "0345", "ana", "111", 0)]).await;
    system.set_faults(Faults { rate_limit_rate: 1.0, retry_after_seconds: 60, ..Faults::default() }).await;
    let timeout = devkit::template::Template::load()
        .unwrap()
        .function_timeout(devkit::principals::SYNC_TRIGGER)
        .expect("the template gives sync-trigger a time-out");
    let token = token(("ana", "north", "agent"));
    for attempt in 1..=4 {
        let started = std::time::Instant::now();
        let response =
            system.http.post(format!("{}/v1/clients/0345/sync", system.api)).bearer_auth(&token).send().await.unwrap();
        let took = started.elapsed();
        let status = response.status().as_u16();
        let retry_after: Option<u64> =
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, 503, "sync {attempt}: {problem}");
        assert_eq!(problem["type"], "/problems/marketplace-busy", "sync {attempt}");
        assert!(retry_after.is_some_and(|s| s >= 1), "sync {attempt}: Retry-After {retry_after:?}");
        assert!(took < timeout, "sync {attempt} took {took:?}, past the function's time-out of {timeout:?}");
    }
    assert!(!system.served().await.is_empty(), "the marketplace was asked");
    let stored = system.store().application(&app("0345")).await.unwrap();
    assert!(stored.last_synced_at.is_none(), "a sync that failed changed nothing");
}

/// The second process of the test above; it fails when run on its own.
#[tokio::test]
#[ignore = "the second process of the_scan_and_on_demand_syncs_in_two_processes_share_one_budget"]
async fn the_scan_as_a_second_process() {
    let seconds: u64 = std::env::var("SECOND_PROCESS_SCAN_SECONDS")
        .expect("run by the_scan_and_on_demand_syncs_in_two_processes_share_one_budget")
        .parse()
        .unwrap();
    let sdk = shared::aws::sdk_config();
    let settings = sync_trigger::app::Settings::from_env().unwrap();
    let marketplace = sync_trigger::app::marketplace(&sdk, &settings).unwrap();
    let store = sync_trigger::app::store(&sdk, &settings);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let report = scan(&store, &marketplace, &settings.scan(), Utc::now(), deadline).await.unwrap();
    assert!(report.out_of_time, "the scan had more than it could do in {seconds} s: {report:?}");
    assert!(report.synced > 0, "{report:?}");
}

/// In AWS the API key is an SSM parameter. It is read on the first marketplace call and kept, not
/// during start-up: a cold start makes no network call, and a key missing at first is read once
/// it is there.
#[tokio::test]
async fn the_api_key_is_read_from_its_parameter_on_first_use_not_at_start() {
    let system = system(100.0).await;
    agency(system.store(), "north", None).await;
    agent(system.store(), "ana", "north", "111").await;
    submit(system.store(), "0330", "s-0330", 0, "ana", "111").await;
    system.put_marketplace(&answer("0330", &[(PolicyStatus::Effectuated, Some("111"))])).await;
    let parameter = format!("/{}/marketplace-api-key", system.world.tag);
    let vars = system.vars.clone().with("MARKETPLACE_API_KEY", "").with("MARKETPLACE_API_KEY_PARAMETER", &parameter);
    let settings = sync_trigger::app::Settings::from_vars(&vars).unwrap();
    let sdk = system.function_sdk(devkit::principals::SYNC_TRIGGER);

    // Built while the parameter does not even exist: nothing was read.
    let marketplace = sync_trigger::app::marketplace(&sdk, &settings).unwrap();
    let first =
        sync_trigger::sync::sync_application(&system.sync_store, &marketplace, &app("0330"), Utc::now(), far_off())
            .await;
    assert!(
        matches!(&first, Err(sync_trigger::sync::SyncError::Marketplace(MarketplaceError::Unavailable { last, .. })) if last.contains("API key")),
        "{first:?}"
    );
    assert!(system.served().await.is_empty(), "nothing was sent without a key");

    // The operator stores the key (as the harness: the function may only read it).
    let ssm = aws_sdk_ssm::Client::new(&shared::aws::sdk_config());
    ssm.put_parameter()
        .name(&parameter)
        .value("the-partners-key")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    sync_trigger::sync::sync_application(&system.sync_store, &marketplace, &app("0330"), Utc::now(), far_off())
        .await
        .unwrap();
    // Kept: the parameter could go away now and the instance would still have its key.
    ssm.delete_parameter().name(&parameter).send().await.unwrap();
    sync_trigger::sync::sync_application(&system.sync_store, &marketplace, &app("0330"), Utc::now(), far_off())
        .await
        .unwrap();
    assert_eq!(system.served().await.len(), 2);
}

// ---- a bad clock ---------------------------------------------------------------------------

#[tokio::test]
async fn an_event_dated_far_ahead_is_refused_with_its_reason_and_later_evidence_still_decides() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    publish_all(&system, &[submitted("s1", "0700", "ana", "111", 0)]).await;

    // GIVEN a submission from a platform whose clock says 9999
    let (kind, mut from_the_future) = submitted("s2", "0700", "bob", "222", 0);
    from_the_future["submitted_at"] = json!("9999-01-01T00:00:00Z");
    // and an agent move dated an hour ahead of this system's clock
    let (agent_kind, move_ana) = agent_event("ana", "south", "111", "agent");
    system.publish(kind, from_the_future).await;
    system.publish_dated(agent_kind, move_ana, Some(Utc::now() + chrono::Duration::hours(1))).await;
    system.drain_ingest().await;

    // THEN both are refused to the dead-letter queue with the reason, and nothing of them applied
    let dead = system.waiting(&system.world.resources.ingest_dead_letter_queue_url).await;
    let mut reasons: Vec<String> = dead
        .iter()
        .map(|m| m.message_attributes.as_ref().unwrap()["refused_because"].string_value.clone().unwrap())
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with("submitted_at is ")
            && reasons[0].ends_with("ahead of this system's clock, more than the 300 s allowed"),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("time is ") && reasons[1].contains("ahead of this system's clock"), "{reasons:?}");
    let now = entries(&system, "0700").await;
    assert_eq!(now.len(), 1, "bob got no entry");
    assert!(!now[&agent_id("ana")].is_at_risk());
    assert_eq!(system.store().agent(&agent_id("ana")).await.unwrap().unwrap().agency_id, agency_id("north"));

    // WHEN later, honest evidence arrives: a submission under another NPN, then a sync showing ana
    publish_all(&system, &[submitted("s3", "0700", "bob", "222", 10)]).await;
    assert!(entries(&system, "0700").await[&agent_id("ana")].is_at_risk(), "the later submission decides");
    system.put_marketplace(&answer("0700", &[(PolicyStatus::Effectuated, Some("111"))])).await;
    let (status, body) = system.sync(ANA, "0700").await;
    // THEN the newest evidence wins: the sync clears it
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["at_risk"], false);
    assert_no_differences(&system.world).await;
}

// ---- directory events out of order ---------------------------------------------------------

#[tokio::test]
async fn an_agency_arriving_after_its_agents_and_their_submissions_places_their_entries_in_its_upline_lists() {
    let system = system(100.0).await;
    let admin_top = Some(("admin-top", "top", "agency_admin"));
    publish_all(&system, &[agency_event("top", None), agent_event("admin-top", "top", "900", "agency_admin")]).await;
    // GIVEN an agent of an agency not known yet, whose client another agent then swapped
    publish_all(
        &system,
        &[
            agent_event("ana", "late", "111", "agent"),
            agent_event("bob", "top", "222", "agent"),
            submitted("s1", "0800", "ana", "111", 0),
            submitted("s2", "0800", "bob", "222", 1),
        ],
    )
    .await;
    let (_, before) = system.call(admin_top, "GET", "/v1/agencies/top/at-risk", None).await;
    assert_eq!(before["items"].as_array().unwrap().len(), 0, "not below top until the agency says so");

    // WHEN the agency arrives last, under top
    publish_all(&system, &[agency_event("late", Some("top"))]).await;

    // THEN top's admin sees the entry, named with its agency and agent
    let (status, body) = system.call(admin_top, "GET", "/v1/agencies/top/at-risk", None).await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(items[0]["federal_exchange_id"], "0800");
    assert_eq!(items[0]["agent_id"], "ana");
    assert_eq!(items[0]["agency_name"], "Agency late");
    assert_no_differences(&system.world).await;
}

// ---- one client swapped through many books -------------------------------------------------

#[tokio::test]
async fn a_client_swapped_through_fourteen_agencies_leaves_every_earlier_owner_at_risk() {
    let system = system(100.0).await;
    // GIVEN a top agency, two regions, and fourteen offices two levels below the top, an agent in each
    let mut directory =
        vec![agency_event("top", None), agency_event("east", Some("top")), agency_event("west", Some("top"))];
    directory.push(agent_event("admin-top", "top", "900", "agency_admin"));
    for k in 1..=14 {
        let office = format!("office-{k}");
        directory.push(agency_event(&office, Some(if k % 2 == 0 { "east" } else { "west" })));
        directory.push(agent_event(&format!("agent-{k}"), &office, &format!("{}", 1000 + k), "agent"));
    }
    publish_all(&system, &directory).await;

    // WHEN the same application is submitted by each agent in turn, under their own NPN
    for k in 1..=14 {
        publish_all(
            &system,
            &[submitted(&format!("s{k}"), "0500", &format!("agent-{k}"), &format!("{}", 1000 + k), i64::from(k))],
        )
        .await;
    }

    // THEN nothing was refused, every earlier owner's entry is at risk and the last one's is not
    let dead = system.waiting(&system.world.resources.ingest_dead_letter_queue_url).await;
    assert!(dead.is_empty(), "refused: {:?}", dead.iter().map(|m| m.message_attributes.clone()).collect::<Vec<_>>());
    let now = entries(&system, "0500").await;
    assert_eq!(now.len(), 14);
    for k in 1..=13 {
        assert!(now[&agent_id(&format!("agent-{k}"))].is_at_risk(), "agent-{k}");
    }
    assert!(!now[&agent_id("agent-14")].is_at_risk());
    // and the top admin sees all thirteen in the agency view
    let (status, body) =
        system.call(Some(("admin-top", "top", "agency_admin")), "GET", "/v1/agencies/top/at-risk?limit=50", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 13, "{body}");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn a_directory_job_out_of_time_goes_back_on_the_ingest_queue_and_finishes_there() {
    let mut system = system(100.0).await;
    publish_all(&system, &directory()).await;
    let events: Vec<_> = (0..120)
        .flat_map(|i| {
            let id = format!("4{i:03}");
            [
                submitted(&format!("own-{id}"), &id, "ana", "111", i),
                submitted(&format!("swap-{id}"), &id, "bob", "222", 500 + i),
            ]
        })
        .collect();
    publish_all(&system, &events).await;
    // GIVEN a consumer with no time for directory jobs beyond one page each
    system.set_job_budget(std::time::Duration::ZERO);
    // WHEN ana moves from north to south
    publish_all(&system, &[agent_event("ana", "south", "111", "agent")]).await;
    // THEN the job went on in later deliveries until done: south's admin sees all 120, north's none
    let south = Some(("admin-south", "south", "agency_admin"));
    let north = Some(("admin-north", "north", "agency_admin"));
    let (_, body) = system.call(south, "GET", "/v1/agencies/south/at-risk?limit=200", None).await;
    assert_eq!(body["items"].as_array().unwrap().iter().filter(|i| i["agent_id"] == "ana").count(), 120);
    let (_, body) = system.call(north, "GET", "/v1/agencies/north/at-risk?limit=200", None).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 0, "{body}");
    assert!(system.waiting(&system.world.resources.ingest_dead_letter_queue_url).await.is_empty());
    assert_no_differences(&system.world).await;
}

/// An on-demand sync of `id` whose process dies right after its evidence transaction.
async fn sync_dying_after_its_write(system: &System, id: &str) {
    let dying = system.store_dying_after_a_transaction(devkit::principals::SYNC_TRIGGER);
    let died = sync_trigger::sync::sync_application(&dying, &system.marketplace, &app(id), Utc::now(), far_off()).await;
    assert!(died.is_err(), "the process died before placing");
}

#[tokio::test]
async fn a_write_whose_placement_keeps_failing_is_set_aside_while_the_scan_places_and_syncs_the_rest() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    let submissions: Vec<_> =
        ["0950", "0951", "0952"].iter().map(|id| submitted(&format!("s-{id}"), id, "ana", "111", 0)).collect();
    publish_all(&system, &submissions).await;
    // GIVEN two writes left unplaced by processes that died, the older one's placement failing
    // every time (an item in its partition that no placement can read)
    for id in ["0950", "0951"] {
        system.put_marketplace(&answer(id, &[(PolicyStatus::Effectuated, Some("777"))])).await;
        sync_dying_after_its_write(&system, id).await;
    }
    let unreadable = [("pk", "APP#2026#0950"), ("sk", "PLACED#ghost"), ("rows", "not a list")];
    let unreadable = unreadable.map(|(k, v)| (k.to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned())));
    let raw = system.store().raw_client();
    raw.put_item().table_name(system.store().table()).set_item(Some(unreadable.into())).send().await.unwrap();
    // AND a new application, never synced
    system.put_marketplace(&answer("0952", &[(PolicyStatus::Effectuated, Some("111"))])).await;

    // WHEN the scan runs
    let settings = daily_scan();
    let later = Utc::now() + chrono::Duration::minutes(2);
    let report = scan(&system.scan_store, &system.marketplace, &settings, later, far_off()).await.unwrap();
    // THEN the failing one is counted and set aside, the other placed, the new one synced
    assert_eq!((report.placed, report.unplaced_failed), (1, 1), "{report:?}");
    assert_eq!(report.first_synced, 1, "{report:?}");
    let ana_list = whole_list(system.store(), &Scope::Agent(agent_id("ana")), ArchivedFilter::Exclude, 10).await.0;
    assert_eq!(ana_list, vec!["0951"]);
    // AND the checker names it (and its rows and counts, missing), and no other application
    let differences = devkit::verify::verify(system.store()).await.unwrap();
    let unplaced = devkit::verify::Difference::Unplaced { application: "APP#2026#0950".into() };
    assert!(differences.contains(&unplaced), "{differences:?}");
    for difference in differences.iter().map(ToString::to_string) {
        assert!(!difference.contains("0951") && !difference.contains("0952"), "{differences:?}");
    }

    // WHEN the next runs come before its wait is over, THEN they pass it by
    let report = scan(&system.scan_store, &system.marketplace, &settings, later, far_off()).await.unwrap();
    assert_eq!((report.placed, report.unplaced_failed), (0, 0), "{report:?}");
    // WHEN the cause is gone and its wait is over, THEN it is placed
    let key = [("pk", "APP#2026#0950"), ("sk", "PLACED#ghost")];
    let key = key.map(|(k, v)| (k.to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned())));
    raw.delete_item().table_name(system.store().table()).set_key(Some(key.into())).send().await.unwrap();
    let after_the_wait = later + store::unplaced::retry_after(1) + chrono::Duration::minutes(1);
    let report = scan(&system.scan_store, &system.marketplace, &settings, after_the_wait, far_off()).await.unwrap();
    assert_eq!((report.placed, report.unplaced_failed), (1, 0), "{report:?}");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn an_api_sync_that_dies_between_its_write_and_its_placement_is_placed_by_the_next_scan() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    publish_all(&system, &[submitted("s1", "0310", "ana", "111", 0)]).await;
    system.put_marketplace(&answer("0310", &[(PolicyStatus::Effectuated, Some("777"))])).await;
    let ana_list =
        || async { whole_list(system.store(), &Scope::Agent(agent_id("ana")), ArchivedFilter::Exclude, 10).await.0 };

    // WHEN a sync's process dies right after the evidence is written (an API call: nobody redelivers it)
    sync_dying_after_its_write(&system, "0310").await;
    // THEN the entry is at risk but not yet in ana's list, and the checker says why
    assert!(entries(&system, "0310").await[&agent_id("ana")].is_at_risk());
    assert_eq!(ana_list().await, Vec::<String>::new());
    let differences = devkit::verify::verify(system.store()).await.unwrap();
    assert!(differences.iter().any(|d| matches!(d, devkit::verify::Difference::Unplaced { .. })), "{differences:?}");

    // WHEN the scan runs before the write is a minute old, THEN it leaves it to its writer
    let settings = daily_scan();
    let far = tokio::time::Instant::now() + Duration::from_secs(60);
    let early = scan(&system.scan_store, &system.marketplace, &settings, Utc::now(), far).await.unwrap();
    assert_eq!(early.placed, 0);
    // WHEN the next scheduled scan runs, THEN it places the entry, and nothing is left over
    let later = Utc::now() + chrono::Duration::minutes(2);
    let report = scan(&system.scan_store, &system.marketplace, &settings, later, far).await.unwrap();
    assert_eq!(report.placed, 1);
    assert_eq!(ana_list().await, vec!["0310"]);
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn a_quiet_sync_after_a_write_left_unplaced_keeps_the_mark_until_the_placement_is_done() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    publish_all(&system, &[submitted("s1", "0315", "ana", "111", 0)]).await;
    system.put_marketplace(&answer("0315", &[(PolicyStatus::Effectuated, Some("777"))])).await;
    let (status, _) = system.sync(ANA, "0315").await;
    assert_eq!(status, 200);
    let ana_list =
        || async { whole_list(system.store(), &Scope::Agent(agent_id("ana")), ArchivedFilter::Exclude, 10).await.0 };
    assert_eq!(ana_list().await, vec!["0315"]);
    let dying = || system.store_dying_after_a_transaction(devkit::principals::SYNC_TRIGGER);

    // WHEN the marketplace gives the application back to ana, and the sync that clears the risk
    // dies before placing
    system.put_marketplace(&answer("0315", &[(PolicyStatus::Effectuated, Some("111"))])).await;
    let died =
        sync_trigger::sync::sync_application(&dying(), &system.marketplace, &app("0315"), Utc::now(), far_off()).await;
    assert!(died.is_err(), "the process died before placing");
    // AND a sync that changes nothing people read follows, and dies the same way
    let quiet =
        sync_trigger::sync::sync_application(&dying(), &system.marketplace, &app("0315"), Utc::now(), far_off()).await;
    // THEN that quiet sync tried the placement it inherited (it did not take the mark off unplaced)
    assert!(quiet.is_err(), "a write that finds a placement owed places it");
    assert!(!entries(&system, "0315").await[&agent_id("ana")].is_at_risk());
    assert_eq!(ana_list().await, vec!["0315"], "not placed yet");
    // AND the next scan places it: the list no longer shows a risk that was cleared
    let settings = daily_scan();
    let far = tokio::time::Instant::now() + Duration::from_secs(60);
    let report =
        scan(&system.scan_store, &system.marketplace, &settings, Utc::now() + chrono::Duration::minutes(2), far)
            .await
            .unwrap();
    assert_eq!(report.placed, 1);
    assert_eq!(ana_list().await, Vec::<String>::new());
    // AND a quiet sync with nothing owed does not place at all: it survives a death after its write
    let untouched =
        sync_trigger::sync::sync_application(&dying(), &system.marketplace, &app("0315"), Utc::now(), far_off()).await;
    assert!(untouched.is_ok(), "nothing was read after the write: {untouched:?}");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn a_first_submission_never_at_risk_owes_no_placement_and_a_swap_does() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    let dying = || system.store_dying_after_a_transaction(devkit::principals::EVENT_INGEST);
    let placement_owed = || async { system.store().application(&app("0330")).await.unwrap().unplaced };
    // WHEN a first submission is applied by a process that dies right after its write
    let first = dying().apply_evidence(&app("0330"), &submission("s1", 0, "ana", "111"), Utc::now()).await;
    // THEN the write was all it had to do: an entry never at risk has no rows, so nothing is owed
    assert!(matches!(first, Ok(shared::ports::ApplyOutcome::Applied(_))), "{first:?}");
    assert!(!placement_owed().await, "a first submission marked a placement owed");
    // AND a swap of it, dying the same way, leaves its placement owed for the repair to finish
    let swap = dying().apply_evidence(&app("0330"), &submission("s2", 5, "bob", "222"), Utc::now()).await;
    assert!(swap.is_err(), "the process died before placing");
    assert!(placement_owed().await);
    system.store().place_application(&app("0330")).await.unwrap();
    assert!(!placement_owed().await);
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn one_person_firing_syncs_in_parallel_gets_a_429_past_their_share_and_the_slots_come_back() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    publish_all(&system, &[submitted("s1", "0320", "ana", "111", 0)]).await;
    system.put_marketplace(&answer("0320", &[(PolicyStatus::Effectuated, Some("111"))])).await;
    system.set_faults(Faults { latency_ms: 300, ..Faults::default() }).await;

    // WHEN ana fires five syncs at once
    let token = token(("ana", "north", "agent"));
    let mut fired = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let request = system.http.post(format!("{}/v1/clients/0320/sync", system.api)).bearer_auth(&token);
        fired.spawn(async move {
            let response = request.send().await.unwrap();
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), retry_after, response.json::<serde_json::Value>().await.unwrap())
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = fired.join_next().await {
        answers.push(answer.unwrap());
    }
    // THEN three run, and two are told to come back later
    let ok = answers.iter().filter(|(status, _, _)| *status == 200).count();
    let busy: Vec<_> = answers.iter().filter(|(status, _, _)| *status == 429).collect();
    assert_eq!((ok, busy.len()), (3, 2), "{answers:?}");
    for (_, retry_after, body) in busy {
        assert_eq!(body["type"], "/problems/too-many-syncs");
        assert!(retry_after.is_some(), "a 429 says when to come back");
    }
    // AND once they are done, the slots are free again
    let (status, _) = system.sync(ANA, "0320").await;
    assert_eq!(status, 200);
    assert_no_differences(&system.world).await;
}

/// During open enrollment the scheduled scan covers the coming plan year too: each year's
/// never-synced applications are synced, each year with its own pass.
#[tokio::test]
async fn the_scan_covers_every_plan_year_served_the_coming_one_in_open_enrollment() {
    let system = system(100.0).await;
    agency(system.store(), "top", None).await;
    agent(system.store(), "ana", "top", "111").await;
    let coming = ApplicationKey { id: shared::domain::FederalExchangeId::parse("07500").unwrap(), year: next_year() };
    submit(system.store(), "07400", "s-07400", 0, "ana", "111").await;
    system.store().apply_evidence(&coming, &submission("s-07500", 0, "ana", "111"), Utc::now()).await.unwrap();
    system.put_marketplace(&answer("07400", &[(PolicyStatus::Effectuated, Some("111"))])).await;
    let mut next = answer("07500", &[(PolicyStatus::Pending, Some("222"))]);
    next.plan_year = YEAR + 1;
    system.put_marketplace(&next).await;
    let of_year = |year| ScanSettings {
        year,
        stale_after: chrono::Duration::hours(24),
        concurrency: 4,
        page_size: 10,
        new_lane_every: NEW_LANE_EVERY,
        repair_budget: 0,
        pass_every: chrono::Duration::zero(),
    };

    let far = tokio::time::Instant::now() + Duration::from_secs(60);
    let report = sync_trigger::scan::scan_years(
        &system.scan_store,
        &system.marketplace,
        &[of_year(year()), of_year(next_year())],
        Utc::now(),
        far,
    )
    .await
    .unwrap();
    assert_eq!(report.first_synced, 2, "{report:?}");
    assert!(system.store().application(&app("07400")).await.unwrap().last_synced_at.is_some());
    let stored = system.store().application(&coming).await.unwrap();
    assert!(stored.last_synced_at.is_some(), "the coming year's application was synced");
    assert!(stored.entries[&agent_id("ana")].is_at_risk(), "and the marketplace's other AOR flagged it");
    assert_no_differences(&system.world).await;
}

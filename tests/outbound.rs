//! What leaves the system: every change of an entry's at-risk state as an event on the AOR bus,
//! each take counted into the agencies' swap patterns, and the daily digest.

use shared::ports::{ApplicationReads, Digests, Outbox, SwapCounts};
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use shared::domain::{ChangeKind, at_risk_change, change_id};

use crate::detection::{directory, publish_all, submitted};
use crate::helpers::*;

/// The JSON Schema of the `detail` of an event of `detail_type`, as `docs/events.md` documents it
/// (the schema whose title names it).
pub(crate) fn detail_schema(detail_type: &str) -> jsonschema::Validator {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/events.md")).unwrap();
    let schema: Value = doc
        .split("```json")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .filter(|block| block.contains("$schema"))
        .map(|block| serde_json::from_str::<Value>(block).unwrap())
        .find(|schema| schema["title"].as_str().is_some_and(|title| title.split(", ").any(|t| t == detail_type)))
        .unwrap_or_else(|| panic!("docs/events.md holds the schema of {detail_type}"));
    jsonschema::validator_for(&schema).unwrap()
}

/// The changes the history holds for `ids`, by change id: what must go out, each once.
async fn changes_in_history(system: &System, ids: &[&str]) -> BTreeMap<String, ChangeKind> {
    let mut changes = BTreeMap::new();
    for id in ids {
        for record in system.store().history(&app(id)).await.unwrap() {
            if let Some(kind) = at_risk_change(&record) {
                changes.insert(change_id(year(), &app(id).id, &record), kind);
            }
        }
    }
    changes
}

#[tokio::test]
async fn every_change_of_at_risk_state_goes_out_once_by_its_id_and_each_take_is_counted_once() {
    let system = system(100.0).await;
    let crm = system.subscribe_to_aor_events().await;
    publish_all(&system, &directory()).await;
    // ana's client, taken by bob (another agency under the same top), then by carl (ana's own
    // agency), then won back by ana; each event delivered twice, as SQS may.
    let events = [
        submitted("s1", "0500", "ana", "111", 0),
        submitted("s2", "0500", "bob", "222", 10),
        submitted("s3", "0500", "carl", "333", 20),
        submitted("s4", "0500", "ana", "111", 30),
        submitted("s5", "0501", "carl", "333", 0),
    ];
    let doubled: Vec<_> = events.iter().chain(events.iter()).cloned().collect();
    publish_all(&system, &doubled).await;

    // Two relays at once (a retry overlapping the schedule), then another.
    let (first, second) = tokio::join!(system.relay(), system.relay());
    let third = system.relay().await;
    assert_eq!(third.published, 0, "nothing is left in the outbox");
    assert!(first.published + second.published > 0);
    for shard in 0..store::keys::APPLICATION_SHARDS {
        let (left, _) = system.store().outbox_page(shard, 10, None).await.unwrap();
        assert!(left.is_empty(), "every item is taken out of the outbox");
    }

    let expected = changes_in_history(&system, &["0500", "0501"]).await;
    assert!(expected.len() >= 4, "the story makes changes: {expected:?}");
    let received = system.take_all(&crm).await;
    let mut by_id: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for event in &received {
        assert_eq!(event["source"], "aor-at-risk");
        let text = event.to_string();
        assert!(!text.contains("Zoë") && !text.contains("example.com"), "no personal data: {text}");
        by_id.entry(event["detail"]["change_id"].as_str().unwrap().to_owned()).or_default().push(event);
    }
    for event in &received {
        let schema = detail_schema(event["detail-type"].as_str().unwrap());
        let errors: Vec<String> = schema.iter_errors(&event["detail"]).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "the detail is as docs/events.md says: {errors:?}");
    }
    let ids: BTreeSet<&String> = by_id.keys().collect();
    assert_eq!(ids, expected.keys().collect(), "one change id per change made, and no other");
    for (id, copies) in &by_id {
        let kind = expected[id];
        for copy in copies {
            assert_eq!(copy["detail-type"], kind.detail_type(), "{id}");
            assert_eq!(copy["detail"], copies[0]["detail"], "a repeat of {id} is the same event");
        }
    }
    let ana_flagged = by_id["2026/0500/ana/s2"][0];
    assert_eq!(ana_flagged["detail-type"], "AOR Entry Flagged");
    assert_eq!(
        ana_flagged["detail"],
        json!({
            "change_id": "2026/0500/ana/s2", "federal_exchange_id": "0500", "plan_year": 2026,
            "agent_id": "ana", "agent_npn": "111", "agency_path": ["top", "north"],
            "reason": "platform_submission", "other_npn": "222", "other_agent_id": null,
            "other_agent_same_agency": false, "at_risk_since": t(10).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "flagged_at": ana_flagged["detail"]["flagged_at"], "recorded_at": ana_flagged["detail"]["recorded_at"],
            "evidence_id": "s2"
        })
    );
    assert_eq!(by_id["2026/0500/ana/s4"][0]["detail-type"], "AOR Entry Cleared", "ana won it back");

    // The swap patterns: bob (south) took from north, and from top's tree while inside it.
    let patterns = |agency: &str| {
        let store = system.store().clone();
        let agency = agency_id(agency);
        async move { store.swap_patterns(&agency, year()).await.unwrap() }
    };
    let north = patterns("north").await;
    let bob = north.takers.iter().find(|t| t.npn.as_str() == "222").expect("bob's NPN took from north");
    assert_eq!((bob.takes, bob.in_agency), (1, 0));
    let top = patterns("top").await;
    let bob = top.takers.iter().find(|t| t.npn.as_str() == "222").unwrap();
    assert_eq!((bob.takes, bob.in_agency), (1, 1), "inside top's tree");
    assert_eq!(
        top.in_agency + top.outside,
        north.in_agency + north.outside + patterns("south").await.outside + patterns("south").await.in_agency,
        "every take in north or south is one in top"
    );
    assert_eq!(top.weeks.values().map(|(i, o)| i + o).sum::<i64>(), top.in_agency + top.outside);

    // Running again counts nothing again, and the checker adds every count up.
    system.relay().await;
    assert_eq!(patterns("top").await, top);
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn a_swap_flagged_before_its_owners_agent_and_agency_are_known_waits_and_goes_out_whole_when_they_arrive() {
    let system = system(100.0).await;
    let crm = system.subscribe_to_aor_events().await;
    publish_all(&system, &directory()).await;
    // GIVEN dana's client taken by bob before the platform described dana, and before it described
    // her agency (west, under top): an order the platform may send
    publish_all(&system, &[submitted("s1", "0520", "dana", "444", 0), submitted("s2", "0520", "bob", "222", 10)]).await;
    // WHEN the relay runs, THEN nothing goes out half-known: the change waits
    let report = system.relay().await;
    assert_eq!((report.published, report.counted, report.waiting), (0, 0, 1), "{report:?}");
    assert!(system.take_all(&crm).await.is_empty());
    assert_no_differences(&system.world).await;

    // WHEN dana arrives, in an agency not known yet, THEN it waits on for her agency
    publish_all(&system, &[crate::detection::agent_event("dana", "west", "444", "agent")]).await;
    let report = system.relay().await;
    assert_eq!((report.published, report.waiting), (0, 1), "{report:?}");

    // WHEN her agency arrives, THEN the change goes out with her whole path, and the take counts
    // in every agency on it
    publish_all(&system, &[crate::detection::agency_event("west", Some("top"))]).await;
    let report = system.relay().await;
    assert_eq!((report.published, report.counted, report.waiting), (1, 1, 0), "{report:?}");
    let received = system.take_all(&crm).await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["detail"]["agency_path"], json!(["top", "west"]));
    for agency in ["top", "west"] {
        let patterns = system.store().swap_patterns(&agency_id(agency), year()).await.unwrap();
        assert_eq!(patterns.in_agency + patterns.outside, 1, "{agency}: {patterns:?}");
    }
    assert_eq!(system.relay().await.published, 0, "nothing is left");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn an_admin_reads_who_takes_their_trees_clients_and_others_may_not() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    publish_all(
        &system,
        &[
            submitted("s1", "0510", "ana", "111", 0),
            submitted("s2", "0510", "bob", "222", 10),
            submitted("s3", "0511", "ana", "111", 0),
            submitted("s4", "0511", "bob", "222", 10),
            submitted("s5", "0512", "ana", "111", 0),
            submitted("s6", "0512", "carl", "333", 10),
        ],
    )
    .await;
    system.relay().await;

    let admin_north = Some(("admin-north", "north", "agency_admin"));
    let (status, body) = system.call(admin_north, "GET", "/v1/agencies/north/swap-patterns?plan_year=2026", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["in_agency"].as_i64(), body["outside"].as_i64()), (Some(1), Some(2)));
    assert_eq!(body["takers"][0]["npn"], "222", "the most takes first");
    assert_eq!(
        (body["takers"][0]["takes"].as_i64(), &body["takers"][0]["agent_id"]),
        (Some(2), &Value::Null),
        "bob is of another agency: an NPN to north"
    );
    assert_eq!((body["takers"][1]["npn"].as_str(), body["takers"][1]["in_agency"].as_i64()), (Some("333"), Some(1)));
    assert_eq!(body["takers"][1]["agent_id"], "carl", "carl is north's own");
    let (_, top) =
        system.call(Some(("admin-top", "top", "agency_admin")), "GET", "/v1/agencies/top/swap-patterns", None).await;
    assert_eq!(top["takers"][0]["agent_id"], "bob", "to top, bob is its own");
    let week = shared::domain::iso_week(t(10));
    assert_eq!(body["weeks"], json!([{"week": week, "in_agency": 1, "outside": 2}]));

    let (status, _) =
        system.call(Some(("admin-top", "top", "agency_admin")), "GET", "/v1/agencies/north/swap-patterns", None).await;
    assert_eq!(status, 200, "an admin above reads it too");
    let (status, _) =
        system.call(Some(("ana", "north", "agent")), "GET", "/v1/agencies/north/swap-patterns", None).await;
    assert_eq!(status, 403, "an agent does not");
    let admin_south = Some(("admin-south", "south", "agency_admin"));
    let (status, _) = system.call(admin_south, "GET", "/v1/agencies/north/swap-patterns", None).await;
    assert_eq!(status, 404, "nor an admin of another tree: to them it does not exist");
    let (status, _) = system.call(admin_north, "GET", "/v1/agencies/north/swap-patterns?plan_year=1999", None).await;
    assert_eq!(status, 400);
}

// ---- conduct: what the tree's own agents take ---------------------------------------------------

#[tokio::test]
async fn an_agent_suddenly_taking_clients_is_a_spike_shown_to_their_admins_digested_and_published_once() {
    let system = system(100.0).await;
    let crm = system.subscribe_to_aor_events().await;
    publish_all(&system, &directory()).await;
    // An admin of north of this test's own (the inbox is shared), who gets the agency's digest.
    let admin = format!("{}-admin", system.world.tag);
    publish_all(&system, &[crate::detection::agent_event(&admin, "north", "904", "agency_admin")]).await;
    let admin_north = Some((admin.as_str(), "north", "agency_admin"));
    let (status, _) = system
        .call(admin_north, "PATCH", "/v1/me/settings", Some(json!({"daily_digest": true, "digest_scope": "agency"})))
        .await;
    assert_eq!(status, 200);

    // GIVEN, in one week, carl (north) takes five entries: three of ana's (north: inside) and two
    // of bob's (south: outside north, inside top); and bob takes four of ana's (below the floor)
    let mut events = Vec::new();
    for n in 0..9 {
        let (owner, npn, taker, taker_npn) = match n {
            0..3 => ("ana", "111", "carl", "333"),
            3..5 => ("bob", "222", "carl", "333"),
            _ => ("ana", "111", "bob", "222"),
        };
        let fx = format!("07{n:02}");
        events.push(submitted(&format!("own-{n}"), &fx, owner, npn, 0));
        events.push(submitted(&format!("take-{n}"), &fx, taker, taker_npn, 10 + n));
    }
    publish_all(&system, &events).await;

    // WHEN two relays run at once, then another
    tokio::join!(system.relay(), system.relay());
    system.relay().await;

    // THEN one spike goes out (two runs at once may both publish it: with the same id), carl's,
    // with ids and NPNs only; and no run publishes it again
    let received = system.take_all(&crm).await;
    let spikes: Vec<&Value> = received.iter().filter(|e| e["detail-type"] == "AOR Taker Spike").collect();
    assert!(!spikes.is_empty());
    assert!(spikes.iter().all(|copy| copy["detail"] == spikes[0]["detail"]), "one spike: {spikes:?}");
    system.relay().await;
    assert!(system.take_all(&crm).await.is_empty(), "published, it stays published");
    let week = shared::domain::iso_week(t(10));
    let detail = &spikes[0]["detail"];
    assert_eq!(
        detail,
        &json!({"spike_id": format!("2026/{week}/carl"), "plan_year": 2026, "agent_id": "carl", "npn": "333",
                "agency_path": ["top", "north"], "week": week, "takes": 5, "median_before": 0.0,
                "recorded_at": detail["recorded_at"]})
    );
    let errors: Vec<String> = detail_schema("AOR Taker Spike").iter_errors(detail).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "the detail is as docs/events.md says: {errors:?}");

    // AND north's admins see it in their conduct: carl's takes, split, with the spike
    let (status, north) = system.call(admin_north, "GET", "/v1/agencies/north/conduct?plan_year=2026", None).await;
    assert_eq!(status, 200, "{north}");
    assert_eq!((north["from_inside"].as_i64(), north["from_outside"].as_i64()), (Some(3), Some(2)));
    assert_eq!(north["agents"].as_array().map(Vec::len), Some(1), "bob is not north's: {north}");
    let carl = &north["agents"][0];
    assert_eq!(
        (carl["agent_id"].as_str(), carl["name"].as_str(), carl["takes"].as_i64()),
        (Some("carl"), Some("Agent carl"), Some(5))
    );
    assert_eq!(carl["weeks"], json!([{"week": week, "from_inside": 3, "from_outside": 2}]));
    assert_eq!(
        north["spikes"],
        json!([{"agent_id": "carl", "name": "Agent carl", "npn": "333", "week": week, "takes": 5, "median_before": 0.0}])
    );
    // bob's four are below the floor: no spike in south's, nor in top's
    let (_, south) =
        system.call(Some(("admin-south", "south", "agency_admin")), "GET", "/v1/agencies/south/conduct", None).await;
    assert_eq!(
        (south["agents"][0]["agent_id"].as_str(), south["agents"][0]["from_outside"].as_i64()),
        (Some("bob"), Some(4))
    );
    assert_eq!(south["spikes"], json!([]), "four takes are no spike");
    let (_, top) =
        system.call(Some(("admin-top", "top", "agency_admin")), "GET", "/v1/agencies/top/conduct", None).await;
    assert_eq!(
        (top["from_inside"].as_i64(), top["from_outside"].as_i64()),
        (Some(9), Some(0)),
        "all inside top: {top}"
    );
    let spiking: Vec<&str> = top["spikes"].as_array().unwrap().iter().filter_map(|s| s["agent_id"].as_str()).collect();
    assert_eq!(spiking, ["carl"]);

    // AND an agent may not read it, nor an admin of another tree
    let (status, _) = system.call(Some(("ana", "north", "agent")), "GET", "/v1/agencies/north/conduct", None).await;
    assert_eq!(status, 403, "an agent does not");
    let (status, _) =
        system.call(Some(("admin-south", "south", "agency_admin")), "GET", "/v1/agencies/north/conduct", None).await;
    assert_eq!(status, 404);

    // AND the admin's daily digest names it
    digest_run(&system, chrono::Utc::now()).await;
    let mail = digests_to(&system, &format!("{admin}@example.com")).await;
    assert_eq!(mail.len(), 1);
    assert!(mail[0].subject.ends_with(", 1 spike of takes"), "{}", mail[0].subject);
    assert!(
        mail[0].body.contains(&format!("Agent carl (NPN 333) took 5 entries in week {week} of plan year 2026")),
        "{}",
        mail[0].body
    );
    assert_no_differences(&system.world).await;

    // AND the checker adds the conduct counters up: one counted wrong is found
    let store = system.store();
    store
        .raw_client()
        .update_item()
        .table_name(store.table())
        .key(store::keys::PK, aws_sdk_dynamodb::types::AttributeValue::S(store::keys::agency_pk(&agency_id("north"))))
        .key(
            store::keys::SK,
            aws_sdk_dynamodb::types::AttributeValue::S(store::keys::conduct_sk(
                year(),
                &agent_id("carl"),
                &app("0700").id,
            )),
        )
        .update_expression("ADD from_outside :one")
        .expression_attribute_values(":one", aws_sdk_dynamodb::types::AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let differences = devkit::verify::verify(&store.clone()).await.unwrap();
    assert_eq!(
        differences,
        [devkit::verify::Difference::WrongConductCounts { agency: "north".into(), plan_year: 2026 }],
        "{differences:?}"
    );
}

// ---- the daily digest ------------------------------------------------------------------------

/// The digests `address` got.
async fn digests_to(system: &System, address: &str) -> Vec<devkit::inbox::SentEmail> {
    system.inbox(address).await.into_iter().filter(|m| m.subject.starts_with("AOR at-risk digest")).collect()
}

async fn digest_run(system: &System, now: chrono::DateTime<chrono::Utc>) -> daily_digest::run::DigestReport {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    daily_digest::run::run(&system.digest, now, until).await.expect("the digest runs")
}

#[tokio::test]
async fn the_daily_digest_goes_once_a_day_to_those_who_asked_naming_what_is_new_and_to_nobody_else() {
    let system = system(100.0).await;
    // People of this test's own, so that no other test's email lands in their inboxes.
    let id = |name: &str| format!("{}-{name}", system.world.tag);
    let (ana, bob, carl, admin) = (id("ana"), id("bob"), id("carl"), id("admin"));
    let (north, south) = (id("north"), id("south"));
    use crate::detection::{agency_event, agent_event};
    publish_all(
        &system,
        &[
            agency_event(&north, None),
            agency_event(&south, None),
            agent_event(&ana, &north, "111", "agent"),
            agent_event(&carl, &north, "333", "agent"),
            agent_event(&bob, &south, "222", "agent"),
            agent_event(&admin, &north, "900", "agency_admin"),
        ],
    )
    .await;
    let who = |agent: &str, agency: &str, role: &'static str| (agent.to_owned(), agency.to_owned(), role);
    let call = |(agent, agency, role): (String, String, &'static str), method: &'static str, body: Option<Value>| {
        let system = &system;
        async move { system.call(Some((&agent, &agency, role)), method, "/v1/me/settings", body).await }
    };
    let (ana_who, carl_who, bob_who, admin_who) = (
        who(&ana, &north, "agent"),
        who(&carl, &north, "agent"),
        who(&bob, &south, "agent"),
        who(&admin, &north, "agency_admin"),
    );

    let (status, off) = call(ana_who.clone(), "GET", None).await;
    assert_eq!(
        (status, &off["daily_digest"], &off["digest_scope"]),
        (200, &json!(false), &json!("book")),
        "off at first"
    );
    let (status, on) = call(ana_who.clone(), "PATCH", Some(json!({"daily_digest": true}))).await;
    assert_eq!((status, &on["daily_digest"]), (200, &json!(true)));
    assert!(on["digest_since"].is_string(), "it starts from now");
    let (status, _) = call(ana_who.clone(), "PATCH", Some(json!({"digest_scope": "agency"}))).await;
    assert_eq!(status, 403, "an agent's digest covers their book only");
    let (status, _) = call(ana_who.clone(), "PATCH", Some(json!({"daily_digest": "yes"}))).await;
    assert_eq!(status, 400);
    let (status, tree) =
        call(admin_who.clone(), "PATCH", Some(json!({"daily_digest": true, "digest_scope": "agency"}))).await;
    assert_eq!((status, &tree["digest_scope"]), (200, &json!("agency")));
    call(bob_who.clone(), "PATCH", Some(json!({"daily_digest": true}))).await;
    call(carl_who.clone(), "PATCH", Some(json!({"daily_digest": true}))).await;
    let (_, carl_off) = call(carl_who.clone(), "PATCH", Some(json!({"daily_digest": false}))).await;
    assert_eq!(carl_off["daily_digest"], false);
    let (_, kept) = call(ana_who.clone(), "GET", None).await;
    assert_eq!(kept["daily_digest"], true, "kept");

    // Twelve of ana's clients and one of carl's taken by bob; every event delivered twice.
    let mut events = Vec::new();
    for n in 0..12 {
        let fx = format!("06{n:02}");
        events.push(submitted(&format!("{}-own-{n}", system.world.tag), &fx, &ana, "111", 0));
        events.push(submitted(&format!("{}-swap-{n}", system.world.tag), &fx, &bob, "222", 10 + n));
    }
    events.push(submitted(&id("carl-own"), "0650", &carl, "333", 0));
    events.push(submitted(&id("carl-swap"), "0650", &bob, "222", 5));
    let doubled: Vec<_> = events.iter().chain(events.iter()).cloned().collect();
    publish_all(&system, &doubled).await;

    // Two runs at once (the schedule overlapping a retry), then another: one digest each.
    let today = chrono::Utc::now();
    let (first, second) = tokio::join!(digest_run(&system, today), digest_run(&system, today));
    let third = digest_run(&system, today).await;
    assert!(third.done, "{first:?} {second:?} {third:?}");
    assert_eq!(first.sent + second.sent + third.sent, 2, "ana's and the admin's: {first:?} {second:?} {third:?}");
    let ana_mail = digests_to(&system, &format!("{ana}@example.com")).await;
    assert_eq!(ana_mail.len(), 1, "one digest a day");
    assert_eq!(ana_mail[0].subject, "AOR at-risk digest: 12 entries newly at risk");
    let named = (0..12).filter(|n| ana_mail[0].body.contains(&format!("Federal Exchange ID 06{n:02} "))).count();
    assert_eq!(named, 10, "the newest ten named: {}", ana_mail[0].body);
    assert!(ana_mail[0].body.contains("…and 2 more."));
    assert!(ana_mail[0].body.contains("Zoë O'Brien") && ana_mail[0].body.contains("submitted by another NPN"));
    assert!(ana_mail[0].body.contains(&format!("Open the list: {}/#at-risk\r\n", system.api)));
    let admin_mail = digests_to(&system, &format!("{admin}@example.com")).await;
    assert_eq!(admin_mail.len(), 1);
    assert_eq!(admin_mail[0].subject, "AOR at-risk digest: 13 entries newly at risk", "the tree: ana's and carl's");
    assert!(admin_mail[0].body.contains(&format!("/#at-risk:{north}")));
    assert!(digests_to(&system, &format!("{carl}@example.com")).await.is_empty(), "carl turned it off");
    assert!(digests_to(&system, &format!("{bob}@example.com")).await.is_empty(), "nothing new in bob's book");

    // The next day: only what was flagged since. Ana won one back, and lost another.
    publish_all(
        &system,
        &[submitted(&id("late-swap"), "0660", &ana, "111", 0), submitted(&id("late-swap-2"), "0660", &bob, "222", 30)],
    )
    .await;
    let tomorrow = today + chrono::Duration::days(1);
    digest_run(&system, tomorrow).await;
    digest_run(&system, tomorrow).await;
    let ana_mail = digests_to(&system, &format!("{ana}@example.com")).await;
    assert_eq!(ana_mail.len(), 2, "one more, the next day");
    assert_eq!(ana_mail[1].subject, "AOR at-risk digest: 1 entry newly at risk");
    assert!(ana_mail[1].body.contains("Federal Exchange ID 0660 ") && !ana_mail[1].body.contains("0600"));
}

#[tokio::test]
async fn a_digest_run_out_of_time_goes_on_from_its_checkpoint_and_each_person_still_gets_one() {
    let mut system = system(100.0).await;
    system.digest.settings.page_size = 2;
    let id = |name: &str| format!("{}-{name}", system.world.tag);
    use crate::detection::{agency_event, agent_event};
    let agency = id("agency");
    let people: Vec<String> = (0..5).map(|n| id(&format!("p{n}"))).collect();
    let mut directory = vec![agency_event(&agency, None), agent_event(&id("taker"), &agency, "999", "agent")];
    directory.extend(people.iter().enumerate().map(|(n, p)| agent_event(p, &agency, &format!("10{n}"), "agent")));
    publish_all(&system, &directory).await;
    for person in &people {
        let (status, _) = system
            .call(Some((person, &agency, "agent")), "PATCH", "/v1/me/settings", Some(json!({"daily_digest": true})))
            .await;
        assert_eq!(status, 200);
    }
    let mut events = Vec::new();
    for (n, person) in people.iter().enumerate() {
        let fx = format!("07{n:02}");
        events.push(submitted(&id(&format!("own{n}")), &fx, person, &format!("10{n}"), 0));
        events.push(submitted(&id(&format!("swap{n}")), &fx, &id("taker"), "999", 10));
    }
    publish_all(&system, &events).await;

    // Each run has no time at all: it does one page (two people) and saves its place.
    let now = chrono::Utc::now();
    let mut runs = 0;
    loop {
        runs += 1;
        let report = daily_digest::run::run(&system.digest, now, std::time::Instant::now()).await.unwrap();
        assert!(report.people <= 2, "a page at a time");
        if report.done {
            break;
        }
        assert!(runs < 10, "the run ends");
    }
    assert!(runs >= 3, "five people, two a page: {runs} runs");
    for person in &people {
        assert_eq!(digests_to(&system, &format!("{person}@example.com")).await.len(), 1, "{person}");
    }
    // A run after the day is done does nothing.
    let after = daily_digest::run::run(&system.digest, now, std::time::Instant::now()).await.unwrap();
    assert_eq!((after.people, after.done), (0, true));
}

#[tokio::test]
async fn a_person_another_run_holds_is_tried_again_after_the_walk_and_gets_one_digest() {
    let system = system(100.0).await;
    let id = |name: &str| format!("{}-{name}", system.world.tag);
    use crate::detection::{agency_event, agent_event};
    let (agency, held, other) = (id("agency"), id("held"), id("other"));
    publish_all(
        &system,
        &[
            agency_event(&agency, None),
            agent_event(&held, &agency, "101", "agent"),
            agent_event(&other, &agency, "102", "agent"),
            agent_event(&id("taker"), &agency, "999", "agent"),
        ],
    )
    .await;
    let mut events = Vec::new();
    for (n, person) in [&held, &other].into_iter().enumerate() {
        let (status, _) = system
            .call(Some((person, &agency, "agent")), "PATCH", "/v1/me/settings", Some(json!({"daily_digest": true})))
            .await;
        assert_eq!(status, 200);
        let fx = format!("08{n:02}");
        events.push(submitted(&id(&format!("own{n}")), &fx, person, &format!("10{}", n + 1), 0));
        events.push(submitted(&id(&format!("swap{n}")), &fx, &id("taker"), "999", 10));
    }
    publish_all(&system, &events).await;

    // Another run (its lease live) is in the middle of `held`'s digest.
    let now = chrono::Utc::now();
    let day = shared::domain::digest_day(now);
    let held_id = agent_id(&held);
    let claim = system.store().claim_digest_day(&held_id, day, now, chrono::Duration::minutes(5)).await.unwrap();
    let shared::ports::DayClaim::Mine(lease) = claim else { panic!("claimed: {claim:?}") };
    let report = digest_run(&system, now).await;
    assert_eq!((report.sent, report.to_retry, report.done), (1, 1, false), "the other is done; held is left to try");
    assert!(digests_to(&system, &format!("{held}@example.com")).await.is_empty());

    // That run dies and its claim is given back: the next run's retry sends it, once.
    assert!(!system.store().release_digest_day(&held_id, day, lease).await.unwrap(), "one failure is not the last");
    let report = digest_run(&system, now).await;
    assert_eq!((report.sent, report.to_retry, report.done), (1, 0, true));
    digest_run(&system, now).await;
    assert_eq!(digests_to(&system, &format!("{held}@example.com")).await.len(), 1);
    assert_eq!(digests_to(&system, &format!("{other}@example.com")).await.len(), 1);
}

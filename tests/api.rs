//! The at-risk query API over HTTP: lists, paging, filters, alert counts, the agency view, the
//! settings switch, who may see what, and every response checked against `docs/openapi.yaml`.

use shared::ports::Applications;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::domain::ApplicationKey;
use shared::domain::{Evidence, EvidenceId, Fact, Policy, PolicyStatus};

use crate::helpers::*;

/// top ─┬─ north ── north-east
///      └─ south
/// with an agent and an admin where the tests need them.
async fn tree(system: &System) {
    let store = system.store();
    agency(store, "top", None).await;
    agency(store, "north", Some("top")).await;
    agency(store, "south", Some("top")).await;
    agency(store, "north-east", Some("north")).await;
    agent(store, "ana", "north", "111").await;
    agent(store, "carl", "north", "333").await;
    agent(store, "bob", "south", "222").await;
    agent(store, "erin", "north-east", "444").await;
    for (admin_id, agency_id) in
        [("admin-top", "top"), ("admin-north", "north"), ("admin-south", "south"), ("admin-north-east", "north-east")]
    {
        admin(store, admin_id, agency_id).await;
    }
}

/// `count` entries of `owner` (whose NPN is `npn`) swapped away by bob, at-risk times spread out.
async fn swapped(system: &System, owner: &str, npn: &str, prefix: u32, count: u32) -> Vec<String> {
    let applications: Vec<(ApplicationKey, Vec<Evidence>)> = (0..count)
        .map(|i| {
            let id = format!("{prefix}{i:05}");
            let evidence = vec![
                submission(&format!("own-{id}"), 0, owner, npn),
                submission(&format!("swap-{id}"), 100 + i64::from(i), "bob", "222"),
            ];
            (app(&id), evidence)
        })
        .collect();
    let owners = system.store().owner_items([agent_id(owner), agent_id("bob")].into()).await.unwrap();
    system.store().import(&applications, &owners, Utc::now()).await.unwrap();
    applications.into_iter().map(|(key, _)| key.id.to_string()).collect()
}

const ANA: Who = Some(("ana", "north", "agent"));

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|i| i["federal_exchange_id"].as_str().unwrap().to_owned()).collect()
}

async fn whole(system: &System, who: Who<'_>, path: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let (status, page) = system.call(who, "GET", &url, None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn paging_through_hundreds_of_entries_while_new_ones_arrive_has_no_duplicates_or_gaps() {
    let system = system(100.0).await;
    tree(&system).await;
    let mut expected = swapped(&system, "ana", "111", 1, 320).await;
    expected.reverse(); // newest at-risk first

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/at-risk?limit=37&cursor={c}"),
            None => "/v1/at-risk?limit=37".to_owned(),
        };
        let (status, page) = system.call(ANA, "GET", &path, None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        pages += 1;
        // Another swap lands while the agent pages: it is newer, so it belongs before page one.
        let id = format!("9{pages:05}");
        submit(system.store(), &id, &format!("own-{id}"), 0, "ana", "111").await;
        submit(system.store(), &id, &format!("swap-{id}"), 100_000, "bob", "222").await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 9);
    assert_eq!(seen, expected, "every entry once, newest first, none lost to the new arrivals");
    let first = system.call(ANA, "GET", "/v1/at-risk?limit=3", None).await.1;
    assert!(ids(&first).iter().all(|id| id.starts_with('9')), "the new arrivals lead a fresh first page");
    let item = &first["items"][0];
    assert_eq!(item["reason"], "platform_submission");
    assert_eq!(
        item["client_details_url"],
        format!("{CLIENT_DETAILS}/clients/{}?plan_year={YEAR}", item["federal_exchange_id"].as_str().unwrap())
    );
    assert!(item.get("agent_email").is_none(), "the agent's own list does not repeat who they are");
    // Each item says when it entered the list (the order) beside the evidence's time.
    let time = |item: &serde_json::Value, field: &str| item[field].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    assert!(time(item, "listed_at") > time(&first["items"][1], "listed_at"), "{first}");
    assert_eq!(time(item, "at_risk_since"), t(100_000));
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn the_archived_filter_and_the_alert_count_behave_as_a_user_expects() {
    let system = system(100.0).await;
    tree(&system).await;
    let all = swapped(&system, "ana", "111", 2, 6).await;
    for id in &all[..2] {
        let archive = Evidence {
            id: EvidenceId::parse(format!("archive-{id}")).unwrap(),
            at: t(500),
            fact: Fact::ArchiveSet { agent_id: agent_id("ana"), archived: true },
        };
        system.store().apply_evidence(&app(id), &archive, Utc::now()).await.unwrap();
    }
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    assert_eq!(set(whole(&system, ANA, "/v1/at-risk").await), set(all[2..].to_vec()), "archived hidden by default");
    assert_eq!(set(whole(&system, ANA, "/v1/at-risk?archived=only").await), set(all[..2].to_vec()));
    assert_eq!(set(whole(&system, ANA, "/v1/at-risk?archived=include").await), set(all.clone()));
    let (_, archived_page) = system.call(ANA, "GET", "/v1/at-risk?archived=only", None).await;
    assert!(archived_page["items"].as_array().unwrap().iter().all(|i| i["archived"] == true));

    // Never visited: everything visible is new.
    let (_, summary) = system.call(ANA, "GET", "/v1/at-risk/summary", None).await;
    assert_eq!(summary, json!({"new_since_last_visit": 4, "total": 4, "last_visited_at": null}));

    let (status, _) = system.call(ANA, "POST", "/v1/at-risk/visits", None).await;
    assert_eq!(status, 204);
    let (_, summary) = system.call(ANA, "GET", "/v1/at-risk/summary", None).await;
    assert_eq!(summary["new_since_last_visit"], 0);
    assert_eq!(summary["total"], 4);
    assert!(summary["last_visited_at"].is_string());

    // A swap from long ago, learnt of only now, counts as new.
    submit(system.store(), "2999", "own-2999", -9_000, "ana", "111").await;
    submit(system.store(), "2999", "swap-2999", -8_000, "bob", "222").await;
    let (_, summary) = system.call(ANA, "GET", "/v1/at-risk/summary", None).await;
    assert_eq!((summary["new_since_last_visit"].as_i64(), summary["total"].as_i64()), (Some(1), Some(5)));
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn an_admins_home_shows_the_trees_figures_its_own_watermark_and_where_to_look() {
    let system = system(100.0).await;
    tree(&system).await;
    swapped(&system, "ana", "111", 5, 3).await; // north
    swapped(&system, "erin", "444", 6, 4).await; // north-east, below north
    const ADMIN_TOP: Who = Some(("admin-top", "top", "agency_admin"));
    const ADMIN_NORTH: Who = Some(("admin-north", "north", "agency_admin"));

    // The admin's own book is empty; the tree's figures are not.
    let (_, own) = system.call(ADMIN_TOP, "GET", "/v1/at-risk/summary", None).await;
    assert_eq!(own["total"], 0);
    let (status, home) = system.call(ADMIN_TOP, "GET", "/v1/agencies/top/at-risk/summary", None).await;
    assert_eq!(status, 200, "{home}");
    assert_eq!((home["new_since_last_visit"].as_i64(), home["total"].as_i64()), (Some(7), Some(7)));
    assert_eq!(home["last_visited_at"], Value::Null);
    // Where to look: the sub-agencies with entries at risk below them, most first (south has none).
    assert_eq!(home["top_agencies"], json!([{"agency_id": "north", "name": "Agency north", "total": 7}]));
    let (_, north) = system.call(ADMIN_NORTH, "GET", "/v1/agencies/north/at-risk/summary", None).await;
    assert_eq!(north["top_agencies"], json!([{"agency_id": "north-east", "name": "Agency north-east", "total": 4}]));

    // Top's admin visits top's view: top's count starts again, north's does not.
    let (status, _) = system.call(ADMIN_TOP, "POST", "/v1/agencies/top/at-risk/visits", None).await;
    assert_eq!(status, 204);
    let (_, home) = system.call(ADMIN_TOP, "GET", "/v1/agencies/top/at-risk/summary", None).await;
    assert_eq!((home["new_since_last_visit"].as_i64(), home["total"].as_i64()), (Some(0), Some(7)));
    assert!(home["last_visited_at"].is_string());
    let (_, north) = system.call(ADMIN_NORTH, "GET", "/v1/agencies/north/at-risk/summary", None).await;
    assert_eq!(north["new_since_last_visit"], 7);
    // Looking in from above does not move north's watermark.
    let (status, problem) = system.call(ADMIN_TOP, "POST", "/v1/agencies/north/at-risk/visits", None).await;
    assert_eq!((status, problem["type"].as_str()), (403, Some("/problems/forbidden")));

    // A new swap below is new at both levels.
    swapped(&system, "erin", "444", 7, 1).await;
    let (_, home) = system.call(ADMIN_TOP, "GET", "/v1/agencies/top/at-risk/summary", None).await;
    assert_eq!((home["new_since_last_visit"].as_i64(), home["total"].as_i64()), (Some(1), Some(8)));

    // A sub-agency moved up follows its new parent: top's home finds it among its children (one
    // query over the counters filed under top), north's no longer does.
    agency(system.store(), "north-east", Some("top")).await;
    let (_, home) = system.call(ADMIN_TOP, "GET", "/v1/agencies/top/at-risk/summary", None).await;
    let north_east = json!({"agency_id": "north-east", "name": "Agency north-east", "total": 5});
    let north = json!({"agency_id": "north", "name": "Agency north", "total": 3});
    assert_eq!(home["top_agencies"], json!([north_east, north]));
    let (_, north) = system.call(ADMIN_NORTH, "GET", "/v1/agencies/north/at-risk/summary", None).await;
    assert_eq!(north["top_agencies"], json!([]));

    // Nobody sees upward or sideways, and an agent has no agency home.
    let (status, _) = system.call(ADMIN_NORTH, "GET", "/v1/agencies/top/at-risk/summary", None).await;
    assert_eq!(status, 404);
    let (status, _) = system.call(ANA, "GET", "/v1/agencies/north/at-risk/summary", None).await;
    assert_eq!(status, 403);
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn a_clients_story_is_the_timeline_newest_first_paged_with_a_help_desk_report_free_of_personal_data() {
    let system = system(100.0).await;
    tree(&system).await;
    // Ana submits; carl (her agency) services it under her NPN; bob (another agency) swaps it.
    submit(system.store(), "7100", "own-7100", 0, "ana", "111").await;
    submit(system.store(), "7100", "service-7100", 10, "carl", "111").await;
    submit(system.store(), "7100", "swap-7100", 20, "bob", "222").await;
    let answer = sync_trigger::marketplace::MarketplaceApplication {
        federal_exchange_id: "7100".into(),
        plan_year: YEAR,
        policies: vec![sync_trigger::marketplace::MarketplacePolicy {
            policy_id: "P1".into(),
            issuer_name: "Blue Ridge Health".into(),
            status: shared::domain::PolicyStatus::Effectuated,
            aor: Some(sync_trigger::marketplace::Aor { npn: "222".into(), name: "Bob Broker".into() }),
        }],
    };
    system.put_marketplace(&answer).await;
    let (status, _) = system.sync(ANA, "7100").await;
    assert_eq!(status, 200);

    let (status, story) = system.call(ANA, "GET", &format!("/v1/clients/7100?plan_year={YEAR}"), None).await;
    assert_eq!(status, 200, "{story}");
    assert_eq!(story["entry"]["at_risk"], true);
    assert_eq!(story["entry"]["other_npn"], "222");
    assert_eq!(story["policies"], json!([{"policy_id": "P1", "status": "effectuated", "aor_npn": "222"}]));
    let kinds: Vec<&str> = story["timeline"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
    // Newest first; the sync changed why the entry is at risk (the marketplace now shows bob): a
    // reason changed, not a second flag.
    assert_eq!(kinds, ["reason_changed", "sync", "at_risk", "submission", "submission", "submission"]);
    assert_eq!(story["timeline"][0]["reason"], "marketplace_aor_mismatch");
    assert_eq!(story["timeline"][0]["previous_reason"], "platform_submission");
    assert_eq!(story["entry"]["agent_name"], "Agent ana", "the page names the book's agent");
    assert_eq!(story["timeline"][2]["reason"], "platform_submission");
    let submissions: Vec<&Value> =
        story["timeline"].as_array().unwrap().iter().filter(|m| m["kind"] == "submission").collect();
    assert_eq!(submissions[0]["npn"], "222");
    assert_eq!(
        (submissions[0]["in_your_agency"].as_bool(), &submissions[0]["agent_id"]),
        (Some(false), &Value::Null),
        "bob is an NPN only"
    );
    assert_eq!(
        (submissions[1]["in_your_agency"].as_bool(), submissions[1]["agent_id"].as_str()),
        (Some(true), Some("carl"))
    );

    // Paged: two at a time gives the same timeline, each moment once.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (moments, next) = story_page(&system, "7100", 2, cursor.as_deref()).await;
        paged.extend(moments);
        let Some(next) = next else { break };
        cursor = Some(next);
    }
    assert_eq!(Value::Array(paged), story["timeline"]);

    // The help-desk report: the application, the year, the NPNs and the dates; nothing personal.
    let (status, report) = system.call(ANA, "GET", &format!("/v1/clients/7100/report?plan_year={YEAR}"), None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["to"], "FFMProducer-AssisterHelpDesk@cms.hhs.gov");
    let text = format!("{}\n{}", report["subject"].as_str().unwrap(), report["body"].as_str().unwrap());
    for needed in ["7100", &YEAR.to_string(), "111", "222"] {
        assert!(text.contains(needed), "{needed} in {text}");
    }
    for personal in ["Zoë", "O'Brien", "Bob Broker", "@example.com", "Agent ana", "Agent bob", "carl"] {
        assert!(!text.contains(personal), "{personal} in the help-desk text: {text}");
    }

    // An admin above sees it; another agency's admin and a stranger's cursor do not get in.
    let (status, _) = system.call(Some(("admin-top", "top", "agency_admin")), "GET", "/v1/clients/7100", None).await;
    assert_eq!(status, 200);
    let (status, _) =
        system.call(Some(("admin-south", "south", "agency_admin")), "GET", "/v1/clients/7100", None).await;
    assert_eq!(status, 200, "bob's own entry is in south: his admin sees his side of the story");
    let (status, _) = system.call(Some(("erin", "north-east", "agent")), "GET", "/v1/clients/7100", None).await;
    assert_eq!(status, 404);
    let (status, problem) = system
        .call(
            Some(("bob", "south", "agent")),
            "GET",
            &format!("/v1/clients/7100?cursor={}", cursor.unwrap_or_default()),
            None,
        )
        .await;
    assert_eq!((status, problem["type"].as_str()), (400, Some("/problems/invalid-request")), "{problem}");

    // A client not at risk has nothing to report; nor has someone else's.
    submit(system.store(), "7102", "own-7102", 0, "ana", "111").await;
    let (status, _) = system.call(ANA, "GET", "/v1/clients/7102/report", None).await;
    assert_eq!(status, 404);
    let (status, _) = system.call(Some(("erin", "north-east", "agent")), "GET", "/v1/clients/7100/report", None).await;
    assert_eq!(status, 404);

    // An agent of a sub-agency swaps another of ana's clients: to ana (an agent) erin is an NPN,
    // to north's admin (whose tree erin is in) she is named.
    submit(system.store(), "7101", "own-7101", 0, "ana", "111").await;
    submit(system.store(), "7101", "swap-7101", 10, "erin", "444").await;
    let named = |story: &Value| {
        let moments = story["timeline"].as_array().unwrap().clone();
        let erins = moments.into_iter().find(|m| m["kind"] == "submission" && m["npn"] == "444").unwrap();
        (erins["in_your_agency"].as_bool(), erins["agent_id"].as_str().map(str::to_owned))
    };
    let (_, story) = system.call(ANA, "GET", "/v1/clients/7101", None).await;
    assert_eq!(named(&story), (Some(false), None), "{story}");
    let admin_north = Some(("admin-north", "north", "agency_admin"));
    let (_, story) = system.call(admin_north, "GET", "/v1/clients/7101", None).await;
    assert_eq!(named(&story), (Some(true), Some("erin".to_owned())), "{story}");
}

/// A long story: runs of syncs with the same answer (one record each), answers changing (the
/// entry flagged and cleared), and submissions arriving late, inside runs already recorded.
async fn long_story(system: &System, id: &str) {
    let store = system.store();
    submit(store, id, &format!("own-{id}"), 0, "ana", "111").await;
    let mut minute = 10;
    for round in 0..14_i64 {
        let npn = if round % 3 == 2 { "222" } else { "111" };
        for _ in 0..=(round % 4) {
            let policies =
                vec![Policy { policy_id: "P1".into(), status: PolicyStatus::Effectuated, aor_npn: Some(npn_of(npn)) }];
            let sync = Evidence {
                id: EvidenceId::parse(format!("sync-{id}-{minute}")).unwrap(),
                at: t(minute),
                fact: Fact::Synced { policies, again: Vec::new() },
            };
            store.apply_evidence(&app(id), &sync, Utc::now()).await.unwrap();
            minute += 5;
        }
        if round % 4 == 3 {
            // Late: between the syncs of the run just recorded.
            submit(store, id, &format!("late-{id}-{round}"), minute - 7, "carl", "333").await;
        }
    }
}

fn npn_of(npn: &str) -> shared::domain::Npn {
    shared::domain::Npn::parse(npn).unwrap()
}

/// One page of a client's story as ana reads it: its moments and the next page's cursor.
async fn story_page(system: &System, id: &str, limit: usize, cursor: Option<&str>) -> (Vec<Value>, Option<String>) {
    let path = match cursor {
        None => format!("/v1/clients/{id}?limit={limit}"),
        Some(c) => format!("/v1/clients/{id}?limit={limit}&cursor={c}"),
    };
    let (status, page) = system.call(ANA, "GET", &path, None).await;
    assert_eq!(status, 200, "{page}");
    (page["timeline"].as_array().unwrap().clone(), page["next_cursor"].as_str().map(str::to_owned))
}

/// Pages put one after another, with a run of syncs a page boundary split joined again.
fn joined(pages: Vec<Vec<Value>>) -> Vec<Value> {
    let mut whole: Vec<Value> = Vec::new();
    for (n, page) in pages.into_iter().enumerate() {
        for (k, moment) in page.into_iter().enumerate() {
            if k == 0
                && n > 0
                && let Some(newer) = whole.last_mut()
                && newer["kind"] == "sync"
                && moment["kind"] == "sync"
                && newer["policies"] == moment["policies"]
            {
                newer["syncs"] = json!(newer["syncs"].as_u64().unwrap() + moment["syncs"].as_u64().unwrap());
                newer["first_at"] = moment["first_at"].clone();
                continue;
            }
            whole.push(moment);
        }
    }
    whole
}

#[tokio::test]
async fn a_long_story_is_read_a_page_at_a_time_and_its_pages_are_the_whole_timeline() {
    let system = system(100.0).await;
    tree(&system).await;
    long_story(&system, "7300").await;
    let (status, whole) = system.call(ANA, "GET", "/v1/clients/7300?limit=200", None).await;
    assert_eq!(status, 200, "{whole}");
    assert_eq!(whole["next_cursor"], Value::Null);
    let whole = whole["timeline"].as_array().unwrap().clone();
    let kinds: BTreeSet<&str> = whole.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    for kind in ["at_risk", "cleared", "submission", "sync"] {
        assert!(kinds.contains(kind), "{kind} in {whole:?}");
    }
    assert!(whole.iter().any(|m| m["syncs"].as_u64() > Some(1)), "runs of syncs are one moment each");

    for limit in [1, 2, 3, 5] {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (moments, next) = story_page(&system, "7300", limit, cursor.as_deref()).await;
            assert!(moments.len() <= limit && !moments.is_empty(), "limit {limit}: {moments:?}");
            pages.push(moments);
            let Some(next) = next else { break };
            cursor = Some(next);
            assert!(pages.len() < 200, "the pages never end");
        }
        let paged = joined(pages);
        let at = |m: &Value| m["at"].as_str().unwrap().to_owned();
        assert!(paged.windows(2).all(|w| at(&w[0]) >= at(&w[1])), "newest first across pages (limit {limit})");
        assert_eq!(paged, whole, "limit {limit}: the pages are the whole timeline, each moment once");
    }
}

#[tokio::test]
async fn a_page_that_begins_inside_the_current_run_of_syncs_finds_it_after_it_closes() {
    let system = system(100.0).await;
    tree(&system).await;
    let store = system.store();
    let sync = |id: &str, minute: i64, npn: &str| Evidence {
        id: EvidenceId::parse(id).unwrap(),
        at: t(minute),
        fact: Fact::Synced {
            policies: vec![Policy {
                policy_id: "P1".into(),
                status: PolicyStatus::Effectuated,
                aor_npn: Some(npn_of(npn)),
            }],
            again: Vec::new(),
        },
    };
    submit(store, "7400", "own-7400", 0, "ana", "111").await;
    for (id, minute) in [("y10", 10), ("y20", 20), ("y30", 30), ("y40", 40)] {
        store.apply_evidence(&app("7400"), &sync(id, minute, "111"), Utc::now()).await.unwrap();
    }
    // Late, inside the run of syncs the application's item keeps.
    submit(store, "7400", "late-7400", 25, "carl", "333").await;
    let (_, whole) = system.call(ANA, "GET", "/v1/clients/7400?limit=200", None).await;
    let whole = whole["timeline"].as_array().unwrap().clone();
    let late = serde_json::to_value(t(25)).unwrap();

    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    let mut closed = false;
    loop {
        let (moments, next) = story_page(&system, "7400", 1, cursor.as_deref()).await;
        let at_late = moments.iter().any(|m| m["at"] == late);
        pages.push(moments);
        let Some(next) = next else { break };
        cursor = Some(next);
        if at_late && !closed {
            // The next page begins inside the run; another answer closes it into an item first.
            store.apply_evidence(&app("7400"), &sync("y50", 50, "222"), Utc::now()).await.unwrap();
            closed = true;
        }
        assert!(pages.len() < 50, "the pages never end");
    }
    assert!(closed, "a page ended on the late submission");
    assert_eq!(joined(pages), whole, "the syncs before the late submission are on the next page");
}

#[tokio::test]
async fn the_agency_view_covers_three_levels_and_names_agency_agent_and_email() {
    let system = system(100.0).await;
    tree(&system).await;
    let north = swapped(&system, "ana", "111", 3, 2).await;
    let north_east = swapped(&system, "erin", "444", 4, 2).await;
    // A swap inside the agency: carl takes one of ana's clients under his own NPN.
    submit(system.store(), "35000", "own-35000", 0, "ana", "111").await;
    submit(system.store(), "35000", "swap-35000", 50, "carl", "333").await;

    let top = whole(&system, Some(("admin-top", "top", "agency_admin")), "/v1/agencies/top/at-risk").await;
    let expected: BTreeSet<String> = north.iter().chain(&north_east).cloned().chain(["35000".to_owned()]).collect();
    assert_eq!(top.iter().cloned().collect::<BTreeSet<_>>(), expected, "all three levels in one list");
    assert_eq!(top.len(), expected.len());
    let mid = whole(&system, Some(("admin-north", "north", "agency_admin")), "/v1/agencies/north/at-risk").await;
    assert_eq!(mid.len(), 5, "north and its downline");
    let leaf =
        whole(&system, Some(("admin-north-east", "north-east", "agency_admin")), "/v1/agencies/north-east/at-risk")
            .await;
    assert_eq!(leaf.iter().cloned().collect::<BTreeSet<_>>(), north_east.iter().cloned().collect());

    let (_, page) = system
        .call(Some(("admin-top", "top", "agency_admin")), "GET", "/v1/agencies/top/at-risk?limit=200", None)
        .await;
    let erin = page["items"].as_array().unwrap().iter().find(|i| i["agent_id"] == "erin").unwrap();
    assert_eq!(erin["agency_id"], "north-east");
    assert_eq!(erin["agency_name"], "Agency north-east");
    assert_eq!(erin["agent_name"], "Agent erin");
    assert_eq!(erin["agent_email"], "erin@example.com");
    let in_agency = page["items"].as_array().unwrap().iter().find(|i| i["federal_exchange_id"] == "35000").unwrap();
    assert_eq!(in_agency["agent_id"], "ana", "a swap inside the agency is listed under the agent who lost it");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn every_forbidden_cell_of_the_authorisation_matrix_is_refused() {
    let system = system(100.0).await;
    tree(&system).await;
    swapped(&system, "ana", "111", 5, 1).await;
    let agent = |id, agency| Some((id, agency, "agent"));
    let admin = |id, agency| Some((id, agency, "agency_admin"));
    // (caller, agency asked about, expected status) for the agency list and the settings.
    let matrix = [
        (agent("ana", "north"), "north", 403), // an agent, own agency: role not allowed
        (agent("ana", "north"), "top", 404),   // an agent, upline
        (agent("ana", "north"), "south", 404), // an agent, sibling
        (agent("carl", "north"), "north-east", 404), // an agent, downline
        (admin("admin-north", "north"), "north", 200), // admin, own agency
        (admin("admin-north", "north"), "north-east", 200), // admin, downline
        (admin("admin-north", "north"), "top", 404), // admin, upline
        (admin("admin-north", "north"), "south", 404), // admin, sibling
        (admin("admin-north-east", "north-east"), "north", 404), // admin of a downline, upline
        (admin("admin-top", "top"), "north-east", 200), // admin, two levels down
        (admin("admin-top", "top"), "nowhere", 404), // no such agency
        (None, "north", 401),                  // no token
    ];
    for (who, agency_id, expected) in matrix {
        for path in [format!("/v1/agencies/{agency_id}/at-risk"), format!("/v1/agencies/{agency_id}/settings")] {
            let (status, body) = system.call(who, "GET", &path, None).await;
            assert_eq!(status, expected, "{who:?} GET {path}: {body}");
        }
        let (status, _) = system
            .call(
                who,
                "PATCH",
                &format!("/v1/agencies/{agency_id}/settings"),
                Some(json!({"agent_exports_enabled": false})),
            )
            .await;
        assert_eq!(status, if expected == 200 { 200 } else { expected }, "{who:?} PATCH {agency_id}");
    }
    // Another agent's own list is out of reach by construction: /v1/at-risk is always the caller's.
    let (_, bobs) = system.call(agent("bob", "south"), "GET", "/v1/at-risk", None).await;
    assert!(ids(&bobs).is_empty());
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn the_agent_exports_switch_is_set_by_admins_and_outlives_older_platform_events() {
    let system = system(100.0).await;
    tree(&system).await;
    let north_admin = Some(("admin-north", "north", "agency_admin"));
    let (_, settings) = system.call(north_admin, "GET", "/v1/agencies/north/settings", None).await;
    assert_eq!(settings, json!({"agent_exports_enabled": true}));
    let (status, settings) = system
        .call(north_admin, "PATCH", "/v1/agencies/north/settings", Some(json!({"agent_exports_enabled": false})))
        .await;
    assert_eq!((status, settings), (200, json!({"agent_exports_enabled": false})));
    // A platform event from before the admin's change does not switch it back.
    let upsert = shared::domain::AgencyUpsert {
        agency_id: agency_id("north"),
        name: shared::domain::Name::parse("Agency north").unwrap(),
        parent_agency_id: Some(agency_id("top")),
        agent_exports_enabled: true,
    };
    system.store().upsert_agency(&upsert, Utc::now() - chrono::Duration::minutes(5)).await.unwrap();
    let (_, settings) = system.call(north_admin, "GET", "/v1/agencies/north/settings", None).await;
    assert_eq!(settings, json!({"agent_exports_enabled": false}));
    let (status, _) = system
        .call(north_admin, "PATCH", "/v1/agencies/north/settings", Some(json!({"agent_exports_enabled": "no"})))
        .await;
    assert_eq!(status, 400);
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn bad_parameters_get_a_400_that_says_what_is_wrong() {
    let system = system(100.0).await;
    tree(&system).await;
    swapped(&system, "ana", "111", 6, 5).await;
    swapped(&system, "carl", "333", 7, 5).await;
    let (_, carls) = system.call(Some(("carl", "north", "agent")), "GET", "/v1/at-risk?limit=2", None).await;
    let carls_cursor = carls["next_cursor"].as_str().unwrap().to_owned();
    let (_, anas) = system.call(ANA, "GET", "/v1/at-risk?limit=2", None).await;
    let anas_cursor = anas["next_cursor"].as_str().unwrap().to_owned();

    for (path, says) in [
        ("/v1/at-risk?archived=maybe".to_owned(), "archived"),
        ("/v1/at-risk?limit=0".to_owned(), "limit"),
        ("/v1/at-risk?limit=10000".to_owned(), "limit"),
        ("/v1/at-risk?limit=ten".to_owned(), "limit"),
        ("/v1/at-risk?cursor=not-a-cursor".to_owned(), "cursor"),
        (format!("/v1/at-risk?cursor={carls_cursor}"), "another list"),
        (format!("/v1/at-risk?archived=include&cursor={anas_cursor}"), "another list"),
        ("/v1/at-risk?colour=red".to_owned(), "colour"),
    ] {
        let (status, body) = system.call(ANA, "GET", &path, None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["detail"].as_str().unwrap().contains(says), "{path}: {body}");
    }
    // An undocumented path is a problem+json 404 too (reached directly: the document has no such route).
    let response = system.http.get(format!("{}/v1/no-such-thing", system.api)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert_no_differences(&system.world).await;
}

/// Open enrollment: agents submit for the coming year while the current one runs. Each year's
/// list is a list of its own — its entries, its counts, its watermark, its exports — and every
/// route takes `plan_year` (the current year when absent).
#[tokio::test]
async fn the_coming_years_list_is_a_list_of_its_own_on_every_route() {
    let system = system(100.0).await;
    tree(&system).await;
    let current = swapped(&system, "ana", "111", 3, 2).await;
    let coming_app =
        ApplicationKey { id: shared::domain::FederalExchangeId::parse("800001").unwrap(), year: next_year() };
    for evidence in [submission("own-800001", 0, "ana", "111"), submission("swap-800001", 10, "bob", "222")] {
        system.store().apply_evidence(&coming_app, &evidence, Utc::now()).await.unwrap();
    }
    let next = YEAR + 1;

    let (_, mine) = system.call(ANA, "GET", "/v1/at-risk", None).await;
    let mut expected = current.clone();
    expected.sort();
    let mut listed = ids(&mine);
    listed.sort();
    assert_eq!(listed, expected, "the current year by default");
    let (status, coming) = system.call(ANA, "GET", &format!("/v1/at-risk?plan_year={next}"), None).await;
    assert_eq!(status, 200, "{coming}");
    assert_eq!(ids(&coming), vec!["800001"]);
    assert_eq!(coming["items"][0]["plan_year"], next);
    assert!(coming["items"][0]["client_details_url"].as_str().unwrap().ends_with(&format!("plan_year={next}")));

    // Its own counts and watermark: visiting one year's list leaves the other's badge.
    let summary = |year: u16| {
        let system = &system;
        async move { system.call(ANA, "GET", &format!("/v1/at-risk/summary?plan_year={year}"), None).await.1 }
    };
    assert_eq!(
        (summary(next).await["total"].as_i64(), summary(next).await["new_since_last_visit"].as_i64()),
        (Some(1), Some(1))
    );
    let (status, _) = system.call(ANA, "POST", &format!("/v1/at-risk/visits?plan_year={next}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(summary(next).await["new_since_last_visit"], 0);
    assert_eq!(summary(YEAR).await["new_since_last_visit"], 2, "the current year's badge is its own");
    let (_, tree_next) = system
        .call(
            Some(("admin-north", "north", "agency_admin")),
            "GET",
            &format!("/v1/agencies/north/at-risk/summary?plan_year={next}"),
            None,
        )
        .await;
    assert_eq!(tree_next["total"], 1);

    // The agency view and the story of that year; a cursor of one year's list is refused for the other's.
    let admin_north = Some(("admin-north", "north", "agency_admin"));
    let (_, view) =
        system.call(admin_north, "GET", &format!("/v1/agencies/north/at-risk?plan_year={next}"), None).await;
    assert_eq!(ids(&view), vec!["800001"]);
    let (status, story) = system.call(ANA, "GET", &format!("/v1/clients/800001?plan_year={next}"), None).await;
    assert_eq!((status, &story["plan_year"]), (200, &json!(next)), "{story}");
    let (status, _) = system.call(ANA, "GET", "/v1/clients/800001", None).await;
    assert_eq!(status, 404, "not of the current year");
    let (_, first) = system.call(ANA, "GET", "/v1/at-risk?limit=1", None).await;
    let cursor = first["next_cursor"].as_str().expect("two entries this year");
    let (status, problem) =
        system.call(ANA, "GET", &format!("/v1/at-risk?limit=1&plan_year={next}&cursor={cursor}"), None).await;
    assert_eq!(status, 400, "a cursor of one year's list is not another's: {problem}");

    // A year that is none is refused, and so is a parameter the route does not take.
    let (status, problem) = system.call(ANA, "GET", "/v1/at-risk/summary?plan_year=1999", None).await;
    assert_eq!(status, 400, "{problem}");
    let (status, _) = system.call(ANA, "POST", "/v1/at-risk/visits?year=2027", None).await;
    assert_eq!(status, 400);

    // An export of the coming year; `/v1/me` says which years are served today.
    let (status, accepted) =
        system.call(ANA, "POST", "/v1/exports", Some(json!({"scope": "agent", "plan_year": next}))).await;
    assert_eq!(status, 202, "{accepted}");
    let (_, job) =
        system.call(ANA, "GET", &format!("/v1/exports/{}", accepted["export_id"].as_str().unwrap()), None).await;
    assert_eq!(job["plan_year"], next, "{job}");
    let (_, me) = system.call(ANA, "GET", "/v1/me", None).await;
    assert_eq!(me["plan_years"]["current"], YEAR, "{me}");
    assert_no_differences(&system.world).await;
}

//! Dispute cases: opened for an entry at risk by its owner or an admin over it, changed, listed
//! for a book and a tree, closed by themselves (`restored` when a sync shows the owner's NPN again,
//! `lapsed` when the plan year ends), reminded in the digest, and their events out.

use serde_json::{Value, json};
use shared::domain::PolicyStatus;

use crate::detection::{answer, directory, publish_all, submitted};
use crate::helpers::*;

const ANA: Who = Some(("ana", "north", "agent"));
const CARL: Who = Some(("carl", "north", "agent"));
const ADMIN_NORTH: Who = Some(("admin-north", "north", "agency_admin"));
const ADMIN_SOUTH: Who = Some(("admin-south", "south", "agency_admin"));

/// ana's client `id`, taken by bob (south).
async fn taken(system: &System, id: &str) {
    publish_all(
        system,
        &[submitted(&format!("own-{id}"), id, "ana", "111", 0), submitted(&format!("take-{id}"), id, "bob", "222", 10)],
    )
    .await;
}

fn events_of<'a>(received: &'a [Value], detail_type: &str) -> Vec<&'a Value> {
    received.iter().filter(|e| e["detail-type"] == detail_type).collect()
}

#[tokio::test]
async fn a_case_is_opened_for_an_entry_at_risk_followed_and_closed_as_restored_when_a_sync_shows_the_owner_again() {
    let system = system(100.0).await;
    let crm = system.subscribe_to_aor_events().await;
    publish_all(&system, &directory()).await;
    taken(&system, "0800").await;
    publish_all(&system, &[submitted("own-0801", "0801", "ana", "111", 0)]).await;

    // GIVEN ana's entry at risk, WHEN she opens a case through the help desk and the carrier
    let body =
        json!({"channels": ["cms_help_desk", "carrier"], "reference": "HD-2026-0042", "note": "Emailed the help desk"});
    let (status, case) = system.call(ANA, "POST", "/v1/clients/0800/disputes?plan_year=2026", Some(body.clone())).await;
    assert_eq!(status, 201, "{case}");
    assert_eq!(
        (case["status"].as_str(), case["agent_id"].as_str(), case["opened_by"].as_str()),
        (Some("open"), Some("ana"), Some("ana"))
    );
    assert_eq!(case["channels"], json!(["cms_help_desk", "carrier"]));
    assert_eq!(
        (case["reason"].as_str(), case["other_npn"].as_str(), case["age_days"].as_i64()),
        (Some("platform_submission"), Some("222"), Some(0))
    );
    let id = case["dispute_id"].as_str().unwrap().to_owned();

    // THEN one case per entry; none for an entry not at risk, nor for someone else's client
    let (status, problem) = system.call(ANA, "POST", "/v1/clients/0800/disputes", Some(body.clone())).await;
    assert_eq!(status, 409, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains(&id), "{problem}");
    let (status, _) = system.call(ANA, "POST", "/v1/clients/0801/disputes", Some(body.clone())).await;
    assert_eq!(status, 409, "0801 is not at risk");
    let (status, _) = system.call(CARL, "POST", "/v1/clients/0800/disputes", Some(body.clone())).await;
    assert_eq!(status, 404, "not carl's client");
    let (status, _) = system.call(ANA, "POST", "/v1/clients/0800/disputes", Some(json!({"channels": []}))).await;
    assert_eq!(status, 400);
    let (status, _) = system.call(ANA, "POST", "/v1/clients/0800/disputes", Some(json!({"channels": ["fax"]}))).await;
    assert_eq!(status, 400);

    // AND the client's page shows it, her list and her admin's tree list it, nobody else's
    let (_, story) = system.call(ANA, "GET", "/v1/clients/0800", None).await;
    assert_eq!(story["disputes"][0]["dispute_id"].as_str(), Some(id.as_str()), "{story}");
    let (_, mine) = system.call(ANA, "GET", "/v1/disputes?status=open", None).await;
    assert_eq!(mine["disputes"].as_array().map(Vec::len), Some(1), "{mine}");
    let (_, none) = system.call(ANA, "GET", "/v1/disputes?status=restored", None).await;
    assert_eq!(none["disputes"], json!([]));
    let (status, _) = system.call(ANA, "GET", "/v1/disputes?status=won", None).await;
    assert_eq!(status, 400);
    let (status, tree) = system.call(ADMIN_NORTH, "GET", "/v1/agencies/north/disputes?status=open", None).await;
    assert_eq!((status, tree["disputes"][0]["dispute_id"].as_str()), (200, Some(id.as_str())), "{tree}");
    let (_, top) =
        system.call(Some(("admin-top", "top", "agency_admin")), "GET", "/v1/agencies/top/disputes", None).await;
    assert_eq!(top["disputes"].as_array().map(Vec::len), Some(1), "an admin above sees it: {top}");
    let (status, _) = system.call(ADMIN_SOUTH, "GET", "/v1/agencies/north/disputes", None).await;
    assert_eq!(status, 404);
    let (_, south) = system.call(ADMIN_SOUTH, "GET", "/v1/agencies/south/disputes", None).await;
    assert_eq!(south["disputes"], json!([]), "nor is it in another tree");
    let (status, _) = system.call(ANA, "GET", "/v1/agencies/north/disputes", None).await;
    assert_eq!(status, 403, "an agent does not read the tree's");

    // AND her admin adds the state's department and a note; someone outside may not
    let path = format!("/v1/disputes/{id}");
    let (status, changed) = system
        .call(ADMIN_NORTH, "PATCH", &path, Some(json!({"channels": ["state_doi"], "note": "Filed with the state"})))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["channels"], json!(["cms_help_desk", "carrier", "state_doi"]));
    assert_eq!(changed["notes"].as_array().map(Vec::len), Some(2));
    let (status, _) = system.call(ADMIN_SOUTH, "PATCH", &path, Some(json!({"note": "x"}))).await;
    assert_eq!(status, 404);
    let (status, _) = system.call(ANA, "PATCH", &path, Some(json!({"channels": ["carrier"]}))).await;
    assert_eq!(status, 400, "nothing new");
    // An admin above writes too; ana sees her own agency's admin named, not the one above it.
    let admin_top = Some(("admin-top", "top", "agency_admin"));
    let (status, _) = system.call(admin_top, "PATCH", &path, Some(json!({"note": "Escalated"}))).await;
    assert_eq!(status, 200);
    let (_, seen) = system.call(ANA, "GET", "/v1/disputes", None).await;
    let authors: Vec<&Value> = seen["disputes"][0]["notes"].as_array().unwrap().iter().map(|n| &n["by"]).collect();
    assert_eq!(authors, [&json!("ana"), &json!("admin-north"), &Value::Null], "{seen}");
    let (_, above) = system.call(admin_top, "GET", "/v1/agencies/top/disputes", None).await;
    assert_eq!(above["disputes"][0]["notes"][2]["by"], "admin-top");
    let (status, _) = system.call(ANA, "POST", "/v1/clients/0800/disputes?plan_year=2025", Some(body.clone())).await;
    assert_eq!(status, 409, "a plan year that has ended");

    // WHEN a sync shows ana's NPN on the policy again, THEN the relay closes it as restored
    system.put_marketplace(&answer("0800", &[(PolicyStatus::Effectuated, Some("111"))])).await;
    let (status, synced) = system.sync(ANA, "0800").await;
    assert_eq!((status, &synced["at_risk"]), (200, &json!(false)), "{synced}");
    system.relay().await;
    let (_, closed) = system.call(ANA, "GET", "/v1/disputes?status=restored", None).await;
    assert_eq!(closed["disputes"][0]["dispute_id"].as_str(), Some(id.as_str()), "{closed}");
    assert!(closed["disputes"][0]["closed_at"].is_string());
    let (status, _) = system.call(ANA, "PATCH", &path, Some(json!({"note": "late"}))).await;
    assert_eq!(status, 409, "a closed case stays closed");

    // AND its opening and closing went out (the closing on the relay's next run), with ids, NPNs
    // and channels only
    system.relay().await;
    let received = system.take_all(&crm).await;
    let opened = events_of(&received, "AOR Dispute Opened");
    let closed = events_of(&received, "AOR Dispute Closed");
    assert_eq!((opened.len(), closed.len()), (1, 1), "{received:?}");
    assert_eq!(opened[0]["detail"]["dispute_id"].as_str(), Some(id.as_str()));
    assert_eq!(closed[0]["detail"]["status"], "restored");
    assert_eq!(closed[0]["detail"]["agency_path"], json!(["top", "north"]));
    for event in opened.iter().chain(&closed) {
        let text = event.to_string();
        assert!(
            !text.contains("Zoë") && !text.contains("Emailed") && !text.contains("HD-2026"),
            "no name, note or reference: {text}"
        );
        let errors: Vec<String> = crate::outbound::detail_schema(event["detail-type"].as_str().unwrap())
            .iter_errors(&event["detail"])
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "the detail is as docs/events.md says: {errors:?}");
    }
    // And it can be opened again, should the entry be taken again.
    // (A minute on: after the sync, within what the system takes as not in the future.)
    let now = (chrono::Utc::now() - t(0)).num_minutes() + 1;
    publish_all(&system, &[submitted("take-again-0800", "0800", "bob", "222", now)]).await;
    let (status, again) = system.call(ANA, "POST", "/v1/clients/0800/disputes", Some(body)).await;
    assert_eq!(status, 201, "{again}");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn an_admin_withdraws_a_case_a_case_of_an_ended_plan_year_lapses_and_a_quiet_one_is_reminded() {
    let system = system(100.0).await;
    let id = |name: &str| format!("{}-{name}", system.world.tag);
    // People of this test's own (the inbox is shared).
    let (agent, agency) = (id("ana"), id("north"));
    use crate::detection::{agency_event, agent_event};
    publish_all(
        &system,
        &[
            agency_event(&agency, None),
            agent_event(&agent, &agency, "111", "agent"),
            agent_event("bob", &agency, "222", "agent"),
        ],
    )
    .await;
    let who: Who = Some((&agent, &agency, "agent"));
    system.call(who, "PATCH", "/v1/me/settings", Some(json!({"daily_digest": true}))).await;
    let mut ids = Vec::new();
    for fx in ["0810", "0811"] {
        publish_all(
            &system,
            &[
                submitted(&id(&format!("own-{fx}")), fx, &agent, "111", 0),
                submitted(&id(&format!("take-{fx}")), fx, "bob", "222", 10),
            ],
        )
        .await;
        let (status, case) = system
            .call(who, "POST", &format!("/v1/clients/{fx}/disputes"), Some(json!({"channels": ["carrier"]})))
            .await;
        assert_eq!(status, 201, "{case}");
        ids.push(case["dispute_id"].as_str().unwrap().to_owned());
    }
    let (status, withdrawn) =
        system.call(who, "PATCH", &format!("/v1/disputes/{}", ids[1]), Some(json!({"withdraw": true}))).await;
    assert_eq!((status, withdrawn["status"].as_str()), (200, Some("withdrawn")), "{withdrawn}");

    // WHEN the digest runs fifteen days on, THEN it reminds of the quiet case, not the withdrawn one
    let later = chrono::Utc::now() + chrono::Duration::days(15);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    daily_digest::run::run(&system.digest, later, until).await.unwrap();
    let mail: Vec<_> = system.inbox(&format!("{agent}@example.com")).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].subject.ends_with("1 dispute case to chase"), "{}", mail[0].subject);
    assert!(mail[0].body.contains("Federal Exchange ID 0810, plan year 2026: disputed since"), "{}", mail[0].body);
    assert!(mail[0].body.contains("through the carrier") && !mail[0].body.contains("0811,"), "{}", mail[0].body);

    // WHEN the plan year has ended (the calendar's current year is the next), THEN the open case lapses
    let mut next_year = system.digest.clone();
    let standard = shared::domain::EnrollmentCalendar::default();
    let pinned = Some(shared::domain::PlanYear::parse(2027).unwrap());
    next_year.settings.calendar =
        shared::domain::EnrollmentCalendar::new(standard.opens(), standard.closes(), pinned).unwrap();
    daily_digest::run::run(&next_year, later, until).await.unwrap();
    let (_, lapsed) = system.call(who, "GET", "/v1/disputes?status=lapsed", None).await;
    assert_eq!(lapsed["disputes"][0]["dispute_id"].as_str(), Some(ids[0].as_str()), "{lapsed}");
    let (_, open) = system.call(who, "GET", "/v1/disputes?status=open", None).await;
    assert_eq!(open["disputes"], json!([]));
}

/// The header a CSV of `scope` has, as docs/openapi.yaml documents it.
fn documented_header(scope: &str) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml")).unwrap();
    let marker = format!("- `{scope}`: `");
    let at = doc.find(&marker).unwrap_or_else(|| panic!("docs/openapi.yaml documents the {scope} header"));
    doc[at + marker.len()..].split('`').next().unwrap().to_owned()
}

#[tokio::test]
async fn an_admin_exports_the_trees_dispute_cases_as_a_csv_with_the_documented_header() {
    let system = system(100.0).await;
    publish_all(&system, &directory()).await;
    taken(&system, "0820").await;
    taken(&system, "0821").await;
    let (status, case) = system
        .call(
            ANA,
            "POST",
            "/v1/clients/0820/disputes",
            Some(json!({"channels": ["carrier", "cms_help_desk"], "reference": "HD-1", "note": "Not exported"})),
        )
        .await;
    assert_eq!(status, 201, "{case}");

    // An agent may not export the tree's cases; its admin may
    let (status, _) =
        system.call(ANA, "POST", "/v1/exports", Some(json!({"scope": "disputes", "agency_id": "north"}))).await;
    assert_eq!(status, 403);
    let export =
        crate::exports::request(&system, ADMIN_NORTH, json!({"scope": "disputes", "agency_id": "north"})).await;
    system.drain_exports().await;
    let (_, view) = system.call(ADMIN_NORTH, "GET", &format!("/v1/exports/{export}"), None).await;
    assert_eq!(
        (view["scope"].as_str(), view["agency_id"].as_str(), view["rows_written"].as_u64()),
        (Some("disputes"), Some("north"), Some(1)),
        "{view}"
    );
    let file = String::from_utf8(crate::exports::download(&system, ADMIN_NORTH, &export).await).unwrap();
    let lines: Vec<&str> = file.split("\r\n").collect();
    assert_eq!(lines[0], documented_header("disputes"));
    let opened = case["opened_at"].as_str().unwrap();
    let opened = chrono::DateTime::parse_from_rfc3339(opened)
        .unwrap()
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let id = case["dispute_id"].as_str().unwrap();
    assert_eq!(
        lines[1],
        format!(
            "{id},0820,{CLIENT_DETAILS}/clients/0820?plan_year=2026,2026,ana,Agent ana,open,{opened},,0,cms_help_desk carrier,HD-1,222"
        )
    );
    assert_eq!(lines[2..], [""], "one case, and no note: {file}");
    assert_eq!(
        documented_header("agency"),
        "Federal Exchange ID,Client Details Page URL,Archived Status,Agency Name,Agent Name,Agent Email Address"
    );
}

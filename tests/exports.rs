//! Exports end to end: request over HTTP, the queue, the builder, S3, SES, and the download.

use shared::ports::{Applications, ExportBuilds, ExportRequests};
use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use shared::domain::Role;
use shared::domain::{AgencyUpsert, AgentUpsert};
use shared::domain::{Email, Evidence, EvidenceId, Fact, Name, Npn};

use crate::helpers::*;

async fn named_agency(system: &System, id: &str, name: &str, parent: Option<&str>) {
    let upsert = AgencyUpsert {
        agency_id: agency_id(id),
        name: Name::parse(name).unwrap(),
        parent_agency_id: parent.map(agency_id),
        agent_exports_enabled: true,
    };
    system.store().upsert_agency(&upsert, Utc::now()).await.unwrap();
}

/// An agent whose email is unique to this test, so the shared emulator's inbox can be read per test.
async fn person(system: &System, id: &str, name: &str, agency: &str, npn: &str, role: Role) -> String {
    let email = format!("{id}.{}@example.com", system.world.tag);
    let upsert = AgentUpsert {
        agent_id: agent_id(id),
        agency_id: agency_id(agency),
        name: Name::parse(name).unwrap(),
        email: Email::parse(email.clone()).unwrap(),
        npn: Npn::parse(npn).unwrap(),
        role,
    };
    system.store().upsert_agent(&upsert, Utc::now()).await.unwrap();
    email
}

/// top ── north (`Smith, "Best" Health`) ── north-east (`Zoë's Agency — Nordost`); south.
/// ana (north) loses 10001 to bob (south), 10002 to carl (north: a transfer inside the agency),
/// 10004 to bob and archives it; erin (north-east, whose name starts with `=`) loses 10003 to bob;
/// 10005 stays ana's.
async fn book(system: &System) {
    named_agency(system, "top", "Top Agency", None).await;
    named_agency(system, "north", "Smith, \"Best\" Health", Some("top")).await;
    named_agency(system, "north-east", "Zoë's Agency — Nordost", Some("north")).await;
    named_agency(system, "south", "South", Some("top")).await;
    person(system, "ana", "Ana Díaz", "north", "111", Role::Agent).await;
    person(system, "carl", "Carl", "north", "333", Role::Agent).await;
    person(system, "erin", "=Erin Ó Briain", "north-east", "444", Role::Agent).await;
    person(system, "bob", "Bob", "south", "222", Role::Agent).await;
    person(system, "admin-north", "Nadia Admin", "north", "900", Role::AgencyAdmin).await;
    person(system, "admin-top", "Tom Admin", "top", "901", Role::AgencyAdmin).await;
    let store = system.store();
    submit(store, "10001", "own-1", 0, "ana", "111").await;
    submit(store, "10001", "swap-1", 10, "bob", "222").await;
    submit(store, "10002", "own-2", 1, "ana", "111").await;
    submit(store, "10002", "swap-2", 20, "carl", "333").await;
    submit(store, "10003", "own-3", 2, "erin", "444").await;
    submit(store, "10003", "swap-3", 30, "bob", "222").await;
    submit(store, "10004", "own-4", 3, "ana", "111").await;
    submit(store, "10004", "swap-4", 40, "bob", "222").await;
    let archive = Evidence {
        id: EvidenceId::parse("archive-4").unwrap(),
        at: t(41),
        fact: Fact::ArchiveSet { agent_id: agent_id("ana"), archived: true },
    };
    store.apply_evidence(&app("10004"), &archive, Utc::now()).await.unwrap();
    submit(store, "10005", "own-5", 4, "ana", "111").await;
}

const ANA: Who = Some(("ana", "north", "agent"));
const ADMIN: Who = Some(("admin-north", "north", "agency_admin"));
const TOP_ADMIN: Who = Some(("admin-top", "top", "agency_admin"));

pub(crate) async fn request(system: &System, who: Who<'_>, body: serde_json::Value) -> String {
    let (status, accepted) = system.call(who, "POST", "/v1/exports", Some(body)).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["status"], "queued");
    accepted["export_id"].as_str().unwrap().to_owned()
}

/// Follows the download link as `who` and returns the file.
pub(crate) async fn download(system: &System, who: Who<'_>, export_id: &str) -> Vec<u8> {
    let token = token(who.unwrap());
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = no_redirects
        .get(format!("{}/v1/exports/{export_id}/download", system.api))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let link = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(link.contains("X-Amz-Expires=300"), "a link valid for minutes: {link}");
    system.http.get(link).send().await.unwrap().bytes().await.unwrap().to_vec()
}

fn expected(name: &str, tag: &str) -> Vec<u8> {
    let path = format!("{}/expected/{name}", env!("CARGO_MANIFEST_DIR"));
    String::from_utf8(std::fs::read(path).unwrap()).unwrap().replace("{tag}", tag).into_bytes()
}

#[tokio::test]
async fn the_agent_and_agency_exports_are_byte_for_byte_what_the_spec_says() {
    let system = system(100.0).await;
    book(&system).await;

    let mine = request(&system, ANA, json!({"scope": "agent"})).await;
    // From the top of the three levels: the whole downline, the transfer inside north included.
    let agency = request(&system, TOP_ADMIN, json!({"scope": "agency", "agency_id": "top"})).await;
    system.drain_exports().await;

    let (_, status) = system.call(ANA, "GET", &format!("/v1/exports/{mine}"), None).await;
    assert_eq!((status["status"].as_str(), status["rows_written"].as_u64()), (Some("succeeded"), Some(3)));
    assert_eq!(download(&system, ANA, &mine).await, expected("agent-export.csv", &system.world.tag));
    let (_, status) = system.call(TOP_ADMIN, "GET", &format!("/v1/exports/{agency}"), None).await;
    assert_eq!(status["rows_written"], 4);
    assert_eq!(download(&system, TOP_ADMIN, &agency).await, expected("agency-export.csv", &system.world.tag));

    let inbox = system.inbox(&format!("ana.{}@example.com", system.world.tag)).await;
    assert_eq!(inbox.len(), 1);
    let email = &inbox[0];
    assert_eq!(email.subject, "Your AOR at-risk export is ready");
    assert!(email.body.contains("Rows: 3"), "{}", email.body);
    assert!(
        email.body.contains(&format!("{}/exports/{mine}\r\n", system.api)),
        "the web page's link, neither the API's nor a raw S3 link: {}",
        email.body
    );
    assert!(!email.body.contains("/v1/"), "no API address in an email");
    assert!(!email.body.contains("X-Amz"), "never a storage link");
    assert!(email.body.contains("FFMProducer-AssisterHelpDesk@cms.hhs.gov"));
    assert!(email.body.contains("Kept until: "));
    assert!(email.body.contains("in your book, plan year"), "which list and year: {}", email.body);
    let html = email.html.as_deref().expect("an HTML part too");
    assert!(html.contains(&format!("<a href=\"{}/exports/{mine}\">Download the export</a>", system.api)), "{html}");
    assert!(html.contains("<dt>Rows</dt><dd>3</dd>"), "{html}");
    // The agency export's email names the agency.
    let admin_inbox = system.inbox(&format!("admin-top.{}@example.com", system.world.tag)).await;
    assert!(
        admin_inbox[0].body.contains("in Top Agency and the agencies below it, plan year"),
        "{}",
        admin_inbox[0].body
    );

    let (_, list) = system.call(ANA, "GET", "/v1/exports", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "only the caller's own exports");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn an_empty_export_is_the_header_alone() {
    let system = system(100.0).await;
    book(&system).await;
    let export = request(&system, Some(("carl", "north", "agent")), json!({"scope": "agent"})).await;
    system.drain_exports().await;
    let file = download(&system, Some(("carl", "north", "agent")), &export).await;
    assert_eq!(file, b"Federal Exchange ID,Client Details Page URL,Archived Status\r\n");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn with_the_switch_off_an_agent_is_refused_and_an_admin_is_not() {
    let system = system(100.0).await;
    book(&system).await;
    let (status, _) =
        system.call(ADMIN, "PATCH", "/v1/agencies/north/settings", Some(json!({"agent_exports_enabled": false}))).await;
    assert_eq!(status, 200);
    let (status, refused) = system.call(ANA, "POST", "/v1/exports", Some(json!({"scope": "agent"}))).await;
    assert_eq!(status, 403);
    assert_eq!(refused["type"], "/problems/exports-disabled");
    assert!(refused["detail"].as_str().unwrap().contains("agency admin"), "{refused}");
    request(&system, ADMIN, json!({"scope": "agent"})).await;
    request(&system, ADMIN, json!({"scope": "agency", "agency_id": "north"})).await;
    // The switch is the agency's own: an agent of the downline may still export.
    request(&system, Some(("erin", "north-east", "agent")), json!({"scope": "agent"})).await;
    // Agents cannot export an agency; admins cannot export one they do not reach.
    let (status, _) =
        system.call(ANA, "POST", "/v1/exports", Some(json!({"scope": "agency", "agency_id": "north"}))).await;
    assert_eq!(status, 403);
    let (status, _) =
        system.call(ADMIN, "POST", "/v1/exports", Some(json!({"scope": "agency", "agency_id": "south"}))).await;
    assert_eq!(status, 404);
    let (status, _) = system.call(ANA, "POST", "/v1/exports", Some(json!({"scope": "everything"}))).await;
    assert_eq!(status, 400);
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_export_even_to_racing_requests_and_refuses_another_body() {
    let system = system(100.0).await;
    book(&system).await;
    let (admin, _, _) = ADMIN.unwrap();
    let token = token((admin, "north", "agency_admin"));
    let post = |key: &'static str, body: serde_json::Value| {
        let request = system
            .http
            .post(format!("{}/v1/exports", system.api))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (_, first) = post("k-123", json!({"scope": "agent"})).await;
    let (_, second) = post("k-123", json!({"scope": "agent"})).await;
    assert_eq!(first["export_id"], second["export_id"]);

    // Six requests with one new key at once: one export, the same answer to all.
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let request = system
            .http
            .post(format!("{}/v1/exports", system.api))
            .bearer_auth(&token)
            .header("Idempotency-Key", "k-race")
            .json(&json!({"scope": "agent"}));
        racing.spawn(async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
        });
    }
    let mut ids = BTreeSet::new();
    while let Some(answer) = racing.join_next().await {
        let (status, body) = answer.unwrap();
        assert_eq!(status, 202, "{body}");
        ids.insert(body["export_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");

    // A property the document does not name, a key with a space: refused, and nothing made.
    let (status, body) = post("k-extra", json!({"scope": "agent", "agnecy_id": "north"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post("k 1", json!({"scope": "agent"})).await;
    assert_eq!(status, 400, "{body}");

    // The key again, for another export: refused, and nothing made.
    let (status, body) = post("k-123", json!({"scope": "agency", "agency_id": "north"})).await;
    assert_eq!((status, body["type"].as_str()), (422, Some("/problems/idempotency-key-reused")), "{body}");
    let (_, list) = system.call(ADMIN, "GET", "/v1/exports", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "k-123's and k-race's");

    // A day on, the key has expired, though the table's TTL (which lags) has not removed it: the
    // same key makes a new export.
    let key = [("pk", format!("IDEMPOTENCY#{admin}#k-123")), ("sk", "IDEMPOTENCY".to_owned())]
        .map(|(k, v)| (k.to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(v)));
    let expired = (Utc::now() - chrono::Duration::seconds(1)).timestamp().to_string();
    system
        .store()
        .raw_client()
        .update_item()
        .table_name(system.store().table())
        .set_key(Some(key.into()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", aws_sdk_dynamodb::types::AttributeValue::N(expired))
        .send()
        .await
        .unwrap();
    let (status, third) = post("k-123", json!({"scope": "agency", "agency_id": "north"})).await;
    assert_eq!(status, 202, "{third}");
    assert_ne!(third["export_id"], first["export_id"]);
    let (_, again) = post("k-123", json!({"scope": "agency", "agency_id": "north"})).await;
    assert_eq!(again["export_id"], third["export_id"], "and the key holds again, for the new one");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn an_export_whose_email_fails_on_every_delivery_is_emailed_by_the_sweep_or_marked_not_notified_a_day_on() {
    let system = system(100.0).await;
    book(&system).await;
    let inbox = format!("ana.{}@example.com", system.world.tag);
    // A builder whose email service cannot be reached.
    let mut unreachable = system.builder.clone();
    let sdk = system.function_sdk(devkit::principals::EXPORT_BUILDER);
    let ses = aws_sdk_sesv2::config::Builder::from(&sdk).endpoint_url("http://127.0.0.1:9").build();
    unreachable.ses = aws_sdk_sesv2::Client::from_conf(ses);
    let build_without_email = |export: String| {
        let unreachable = unreachable.clone();
        async move {
            // Every delivery the queue makes fails to email (SQS then moves the message aside).
            for _ in 0..3 {
                let built = export_builder::build::build(&unreachable, &id(&export)).await;
                assert!(matches!(built, Err(export_builder::build::BuildError::Email(_))), "{built:?}");
            }
        }
    };
    let sweep_at =
        |minutes| export_builder::sweep::sweep(&system.builder, Utc::now() + chrono::Duration::minutes(minutes));

    // WHEN an export is built but its email fails on every delivery
    let export = request(&system, ANA, json!({"scope": "agent"})).await;
    system.waiting(&system.world.resources.exports_queue_url).await;
    build_without_email(export.clone()).await;
    let (_, shown) = system.call(ANA, "GET", &format!("/v1/exports/{export}"), None).await;
    assert_eq!(shown["status"], "succeeded", "{shown}");
    assert!(system.inbox(&inbox).await.is_empty());
    // THEN the sweep queues it again, and the requester is told, once
    let report = sweep_at(20).await.unwrap();
    assert_eq!(report.emails_again, 1, "{report:?}");
    system.drain_exports().await;
    assert_eq!(system.inbox(&inbox).await.len(), 1);
    assert_eq!(sweep_at(40).await.unwrap(), export_builder::sweep::SweepReport::default(), "nothing left open");

    // WHEN another's email fails for a whole day, THEN it is marked not notified, and counted
    let export = request(&system, ANA, json!({"scope": "agent"})).await;
    system.waiting(&system.world.resources.exports_queue_url).await;
    build_without_email(export.clone()).await;
    let capture = shared::metrics::Capture::start();
    let report = sweep_at(24 * 60 + 20).await.unwrap();
    assert_eq!((report.emails_again, report.not_notified), (0, 1), "{report:?}");
    let counted = capture.lines().iter().filter_map(|line| line["ExportsNotNotified"].as_f64()).sum::<f64>();
    assert_eq!(counted, 1.0, "{:?}", capture.lines());
    let job = system.store().export_job(&id(&export)).await.unwrap().unwrap();
    assert!(job.not_notified_at.is_some());
    assert_eq!(sweep_at(24 * 60 + 40).await.unwrap(), export_builder::sweep::SweepReport::default());
    assert_eq!(system.inbox(&inbox).await.len(), 1, "the first export's email only");
}

#[tokio::test]
async fn a_duplicated_message_and_two_builders_at_once_give_one_file_and_one_email() {
    let system = system(100.0).await;
    book(&system).await;
    let export = request(&system, ANA, json!({"scope": "agent"})).await;
    // The same export queued twice more: SQS may deliver a message twice, and the API re-queues.
    for _ in 0..2 {
        system
            .sqs
            .send_message()
            .queue_url(&system.world.resources.exports_queue_url)
            .message_body(json!({"export_id": export}).to_string())
            .send()
            .await
            .unwrap();
    }
    // Two builders on it at once.
    let export_id = id(&export);
    let (a, b) = tokio::join!(
        export_builder::build::build(&system.builder, &export_id),
        export_builder::build::build(&system.builder, &export_id)
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert!(
        outcomes.iter().any(|o| matches!(o, export_builder::build::Outcome::Built { rows: 3, .. })),
        "{outcomes:?}"
    );
    system.drain_exports().await;

    let objects = system.s3.list_objects_v2().bucket(&system.world.resources.exports_bucket).send().await.unwrap();
    assert_eq!(objects.contents().len(), 1, "one file");
    assert_eq!(system.inbox(&format!("ana.{}@example.com", system.world.tag)).await.len(), 1, "one email");
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn a_builder_that_dies_mid_upload_is_retried_to_success_with_no_upload_left_behind() {
    let system = system(100.0).await;
    book(&system).await;
    let export = request(&system, ADMIN, json!({"scope": "agency", "agency_id": "north"})).await;

    // The builder is killed once its upload exists, as a crashed Lambda would be.
    let builder = system.builder.clone();
    let export_id = id(&export);
    let running = tokio::spawn(async move { export_builder::build::build(&builder, &export_id).await });
    loop {
        let job = system.store().export_job(&id(&export)).await.unwrap().unwrap();
        if job.upload_id.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.abort();
    let _ = running.await;
    let bucket = &system.world.resources.exports_bucket;
    let open = system.s3.list_multipart_uploads().bucket(bucket).send().await.unwrap();
    assert_eq!(open.uploads().len(), 1, "the dead builder left its upload open");

    // Its lease lapses, and the redelivered message finishes the job.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    system.drain_exports().await;
    let job = system.store().export_job(&id(&export)).await.unwrap().unwrap();
    assert_eq!(job.status.as_str(), "succeeded");
    assert_eq!(job.attempt, 2);
    let open = system.s3.list_multipart_uploads().bucket(bucket).send().await.unwrap();
    assert!(open.uploads().is_empty(), "no orphaned upload is left");
    assert_eq!(download(&system, ADMIN, &export).await, expected("agency-export.csv", &system.world.tag));
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn a_poison_message_ends_failed_emailed_and_in_the_dead_letter_queue() {
    let system = system(100.0).await;
    book(&system).await;
    let export = request(&system, ADMIN, json!({"scope": "agency", "agency_id": "north"})).await;
    // The agency vanishes from under the export: no retry can build it.
    system
        .store()
        .raw_client()
        .delete_item()
        .table_name(system.store().table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("AGENCY#north".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("AGENCY".into()))
        .send()
        .await
        .unwrap();
    system.drain_exports().await;

    let (_, status) = system.call(ADMIN, "GET", &format!("/v1/exports/{export}"), None).await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["error"], "the agency of this export no longer exists");
    let inbox = system.inbox(&format!("admin-north.{}@example.com", system.world.tag)).await;
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].body.contains("the agency of this export no longer exists"));
    let dead = system.waiting(&system.world.resources.exports_dead_letter_queue_url).await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body.as_deref().unwrap().contains(&export));
    // (No consistency check here: the test removed an agency from under its rows on purpose.)
}

#[tokio::test]
async fn only_the_requester_may_see_or_download_and_only_while_the_file_lives() {
    let system = system(100.0).await;
    book(&system).await;
    let export = request(&system, ANA, json!({"scope": "agent"})).await;

    let (status, body) = system.call(ANA, "GET", &format!("/v1/exports/{export}/download"), None).await;
    assert_eq!(status, 409, "not built yet: {body}");

    system.drain_exports().await;
    for who in [Some(("carl", "north", "agent")), ADMIN, Some(("bob", "south", "agent"))] {
        for path in [format!("/v1/exports/{export}"), format!("/v1/exports/{export}/download")] {
            let (status, _) = system.call(who, "GET", &path, None).await;
            assert_eq!(status, 404, "{who:?} {path}");
        }
    }
    let (status, _) = system.call(None, "GET", &format!("/v1/exports/{export}/download"), None).await;
    assert_eq!(status, 401);
    assert!(!download(&system, ANA, &export).await.is_empty());

    // Once the bucket has deleted the file, the link is gone for good.
    let yesterday = store::keys::time(Utc::now() - chrono::Duration::days(1));
    system
        .store()
        .raw_client()
        .update_item()
        .table_name(system.store().table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(store::keys::export_pk(&export)))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(store::keys::EXPORT_SK.to_owned()))
        .update_expression("SET file_expires_at = :yesterday")
        .expression_attribute_values(":yesterday", aws_sdk_dynamodb::types::AttributeValue::S(yesterday))
        .send()
        .await
        .unwrap();
    let (status, body) = system.call(ANA, "GET", &format!("/v1/exports/{export}/download"), None).await;
    assert_eq!(status, 410, "{body}");
    assert_no_differences(&system.world).await;
}

fn id(export: &str) -> shared::domain::ExportId {
    shared::domain::ExportId::parse(export).unwrap()
}

#[tokio::test]
async fn an_admin_demoted_before_the_build_gets_a_failed_export_and_one_moved_after_it_no_file() {
    let system = system(100.0).await;
    book(&system).await;

    // WHEN the admin asks for north's export and is demoted before it is built
    let export = request(&system, ADMIN, json!({"scope": "agency", "agency_id": "north"})).await;
    person(&system, "admin-north", "Nadia Admin", "north", "900", Role::Agent).await;
    system.drain_exports().await;
    // THEN it ends failed, saying why, and the requester is told once
    let (_, shown) = system.call(ADMIN, "GET", &format!("/v1/exports/{export}"), None).await;
    assert_eq!(shown["status"], "failed", "{shown}");
    assert!(shown["error"].as_str().unwrap().contains("no longer allowed"), "{shown}");
    let inbox = system.inbox(&format!("admin-north.{}@example.com", system.world.tag)).await;
    assert_eq!(inbox.len(), 1);

    // WHEN an admin of top gets north's export built, then is moved to south
    let top_admin: Who = Some(("admin-top", "top", "agency_admin"));
    let export = request(&system, top_admin, json!({"scope": "agency", "agency_id": "north"})).await;
    system.drain_exports().await;
    assert!(!download(&system, top_admin, &export).await.is_empty(), "while top reaches north");
    person(&system, "admin-top", "Tom Admin", "south", "901", Role::AgencyAdmin).await;
    // THEN the file is no longer theirs to fetch (their token still says top)
    let (status, _) = system.call(top_admin, "GET", &format!("/v1/exports/{export}/download"), None).await;
    assert_eq!(status, 404);
    assert_no_differences(&system.world).await;
}

#[tokio::test]
async fn an_export_whose_every_build_was_killed_ends_failed_once_and_one_never_queued_is_built() {
    let system = system(100.0).await;
    book(&system).await;
    let sweep_at =
        |minutes| export_builder::sweep::sweep(&system.builder, Utc::now() + chrono::Duration::minutes(minutes));

    // WHEN each of an export's three deliveries is killed mid-build (claimed, then nothing)
    let killed = request(&system, ANA, json!({"scope": "agent"})).await;
    for _ in 0..3 {
        let lapsed = Utc::now() - chrono::Duration::seconds(1);
        system.store().claim_export(&id(&killed), Utc::now(), lapsed).await.unwrap();
    }
    // THEN the sweep ends it failed, saying why, and tells its requester once
    let report = sweep_at(60).await.unwrap();
    assert_eq!(report, export_builder::sweep::SweepReport { failed: 1, ..Default::default() });
    let (_, shown) = system.call(ANA, "GET", &format!("/v1/exports/{killed}"), None).await;
    assert_eq!(shown["status"], "failed", "{shown}");
    assert!(shown["error"].as_str().unwrap().contains("several tries"), "{shown}");
    let inbox = format!("ana.{}@example.com", system.world.tag);
    assert_eq!(system.inbox(&inbox).await.len(), 1);
    // (its message, delivered late, changes nothing and sends nothing)
    system.drain_exports().await;
    assert_eq!(system.inbox(&inbox).await.len(), 1);

    // WHEN an export is recorded but its message never sent (the request died in between)
    let job = shared::domain::ExportJob::new(
        id("exp-never-queued"),
        "ana".into(),
        agent_id("ana"),
        shared::domain::Email::parse(inbox.clone()).unwrap(),
        shared::domain::ExportScope::Agent { agent_id: agent_id("ana") },
        YEAR,
        Utc::now(),
    );
    system.store().create_export(&job, None).await.unwrap();
    assert_eq!(sweep_at(5).await.unwrap().queued_again, 0, "not before it has waited a while");
    // THEN the sweep queues it again, and it is built and emailed
    assert_eq!(sweep_at(20).await.unwrap().queued_again, 1);
    system.drain_exports().await;
    let (_, shown) = system.call(ANA, "GET", "/v1/exports/exp-never-queued", None).await;
    assert_eq!(shown["status"], "succeeded", "{shown}");
    assert_eq!(system.inbox(&inbox).await.len(), 2);
    assert_eq!(sweep_at(60).await.unwrap(), export_builder::sweep::SweepReport::default(), "nothing left open");
    assert_no_differences(&system.world).await;
}

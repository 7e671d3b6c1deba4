//! The single-table store on the emulator: lists, pages, counts, races and moves.

use shared::ports::{ApplicationReads, Applications, Directory, DirectoryChanges, RiskLists, UnplacedRepair};
use std::collections::BTreeSet;

use chrono::Utc;
use shared::domain::ApplicationKey;
use shared::domain::ArchivedFilter;
use shared::domain::Role;
use shared::domain::Scope;
use shared::domain::{AgencyUpsert, AgentUpsert};
use shared::domain::{Evidence, EvidenceId, Fact};
use shared::ports::ApplyOutcome;
use shared::ports::StoreError;
use shared::ports::UpsertOutcome;

use crate::helpers::*;

/// GIVEN ana (NPN 111) in `north` and bob (NPN 222) in `south`, WHEN bob submits each of
/// `swapped` after ana, THEN those entries of ana's are at risk.
async fn ana_and_bob(store: &store::Store, swapped: &[&str], safe: &[&str]) {
    agency(store, "top", None).await;
    agency(store, "north", Some("top")).await;
    agency(store, "south", Some("top")).await;
    agent(store, "ana", "north", "111").await;
    agent(store, "bob", "south", "222").await;
    for (i, id) in swapped.iter().enumerate() {
        submit(store, id, &format!("own-{id}"), i as i64, "ana", "111").await;
        submit(store, id, &format!("swap-{id}"), 1000 + i as i64, "bob", "222").await;
    }
    for (i, id) in safe.iter().enumerate() {
        submit(store, id, &format!("own-{id}"), i as i64, "ana", "111").await;
    }
}

#[tokio::test]
async fn the_at_risk_list_holds_only_at_risk_entries_newest_first() {
    let world = world().await;
    ana_and_bob(&world.store, &["101", "102", "103"], &["201", "202", "203", "204"]).await;

    let page =
        world.store.risk_rows(&Scope::Agent(agent_id("ana")), year(), ArchivedFilter::Include, 50, None).await.unwrap();
    let ids: Vec<_> = page.rows.iter().map(|r| r.federal_exchange_id.to_string()).collect();
    assert_eq!(ids, vec!["103", "102", "101"], "only the swapped ones, newest at-risk first");
    assert!(page.items_read <= 3 + 1, "read {} items for 3 rows", page.items_read);
    assert!(page.next.is_none());
    let row = &page.rows[0];
    assert_eq!(row.reason.as_str(), "platform_submission");
    assert_eq!(row.client_name.as_str(), "Zoë O'Brien, Jr.");
    // The list names the owner and their agency from the directory (rows carry only ids).
    let shown = world.store.risk_page(&Scope::Agent(agent_id("ana")), year(), ArchivedFilter::Include, 1, None).await;
    let shown = shown.unwrap().entries.remove(0);
    assert_eq!(shown.agency_name.as_ref().map(|n| n.as_str()), Some("Agency north"));
    assert_eq!(shown.agent_email.as_ref().map(|e| e.as_str()), Some("ana@example.com"));

    // Bob's own entries exist but are not at risk; the safe ones are in ana's book but not listed.
    let bob =
        world.store.risk_rows(&Scope::Agent(agent_id("bob")), year(), ArchivedFilter::Include, 50, None).await.unwrap();
    assert!(bob.rows.is_empty());
    let stored = world.store.application(&app("201")).await.unwrap();
    assert!(!stored.entries[&agent_id("ana")].is_at_risk());
    assert_eq!(world.store.counts(&Scope::Agent(agent_id("ana")), year()).await.unwrap().at_risk_total, 3);
    // The placements filed north's counters under top: top's admins find the sub-agency to look at.
    let children = world.store.top_children(&agency_id("top"), year(), 5).await.unwrap();
    let children: Vec<_> = children.into_iter().map(|(agency, total)| (agency.agency_id.to_string(), total)).collect();
    assert_eq!(children, vec![("north".to_owned(), 3)]);
    assert_no_differences(&world).await;
}

/// The seed article: the list is "sorted with the most recent entry first", and counts "new records
/// since the agent last visited": an event that arrives late with an old swap is flagged now, so
/// it is listed now — on top, and counted new.
#[tokio::test]
async fn a_late_event_flagging_an_old_swap_is_listed_on_top_and_counted_new() {
    let world = world().await;
    ana_and_bob(&world.store, &["101", "102"], &[]).await;
    let ana = Scope::Agent(agent_id("ana"));
    world.store.record_visit(&ana, year(), Utc::now()).await.unwrap();
    // The swap of 103 happened before the others' (minute 10, theirs 1,000) but arrives last.
    submit(&world.store, "103", "own-103", 0, "ana", "111").await;
    submit(&world.store, "103", "swap-103", 10, "bob", "222").await;

    let page = world.store.risk_page(&ana, year(), ArchivedFilter::Exclude, 50, None).await.unwrap();
    let ids: Vec<_> = page.entries.iter().map(|e| e.federal_exchange_id.to_string()).collect();
    assert_eq!(ids, vec!["103", "102", "101"], "the newest listed first, whatever the evidence's time");
    let (late, earlier) = (&page.entries[0], &page.entries[1]);
    assert!(late.at_risk_since < earlier.at_risk_since, "its evidence is the oldest");
    assert!(late.listed_at > earlier.listed_at, "its listing is the newest");
    assert_eq!(world.store.counts(&ana, year()).await.unwrap().new_since_visit, 1, "and it is what the badge counts");
    // The agency's view and the export read the same order.
    let top = world.store.risk_page(&Scope::Agency(agency_id("top")), year(), ArchivedFilter::Include, 1, None).await;
    assert_eq!(top.unwrap().entries[0].federal_exchange_id.as_str(), "103");
    assert_no_differences(&world).await;
}

/// A table written before rows were keyed by when they were listed: each row as that release
/// keyed it (by the evidence's time), without what it counts (rows said so from 2026-12-09), and
/// placement records that name those keys and the lists each entry counted in as new.
async fn key_rows_as_before(store: &store::Store) {
    use store::items::{from_item, to_item};
    use store::placement::PlacementItem;
    let mut items = Vec::new();
    devkit::table::scan_each(store, |item| {
        items.push(item);
        Ok::<_, devkit::DevkitError>(())
    })
    .await
    .unwrap();
    let text = |s: &str| aws_sdk_dynamodb::types::AttributeValue::S(s.to_owned());
    let before = |row: &store::items::RiskRow| {
        let time = store::keys::time(row.at_risk_since);
        format!("{}#{time}#{}#{}", row.plan_year, row.agent_id, row.federal_exchange_id)
    };
    let mut moved = std::collections::BTreeMap::new();
    let mut new_in: std::collections::BTreeMap<(String, String), std::collections::BTreeMap<String, _>> =
        Default::default();
    for item in &items {
        let pk = item["pk"].as_s().unwrap();
        if !pk.starts_with("RISK#") {
            continue;
        }
        let row: store::items::RiskRow = from_item(item.clone()).unwrap();
        let (old_sk, sk) = (before(&row), row.sk.clone());
        let mut aged = item.clone();
        aged.insert("sk".into(), text(&old_sk));
        aged.insert("gsi1sk".into(), text(&old_sk));
        aged.remove("version");
        aged.remove("new_against");
        if let Some(counted) = row.new_against {
            let record =
                (store::keys::application_pk(row.plan_year, &row.federal_exchange_id), row.agent_id.to_string());
            new_in.entry(record).or_default().insert(store::keys::counters_pk_of_list(pk).to_owned(), counted.visit);
        }
        let client = store.raw_client();
        client.put_item().table_name(store.table()).set_item(Some(aged)).send().await.unwrap();
        client.delete_item().table_name(store.table()).key("pk", text(pk)).key("sk", text(&sk)).send().await.unwrap();
        moved.insert((pk.clone(), sk), old_sk);
    }
    for item in items {
        if !item["sk"].as_s().unwrap().starts_with(store::keys::PLACED_PREFIX) {
            continue;
        }
        let mut placed: PlacementItem = from_item(item).unwrap();
        // (A record names where rows were written: a row deleted since is not moved.)
        for row in &mut placed.rows {
            if let Some(old_sk) = moved.get(&(row.pk.clone(), row.sk.clone())) {
                row.sk = old_sk.clone();
            }
        }
        placed.new_in = new_in.remove(&(placed.pk.clone(), placed.agent_id.to_string())).unwrap_or_default();
        store
            .raw_client()
            .put_item()
            .table_name(store.table())
            .set_item(Some(to_item(&placed).unwrap()))
            .send()
            .await
            .unwrap();
    }
}

/// Keeps `app`'s closed sync records under their first sync, as releases before 2026-12-07 did.
async fn key_records_as_before(store: &store::Store, app: &ApplicationKey) -> usize {
    let text = |s: &str| aws_sdk_dynamodb::types::AttributeValue::S(s.to_owned());
    let pk = store::keys::application_pk(app.year, &app.id);
    let items = store
        .raw_client()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk AND begins_with(sk, :evidence)")
        .expression_attribute_values(":pk", text(&pk))
        .expression_attribute_values(":evidence", text(store::keys::EVIDENCE_PREFIX))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let mut moved = 0;
    for item in items {
        let kept: store::items::EvidenceItem = store::items::from_item(item.clone()).unwrap();
        let first = store::keys::evidence_sk(kept.evidence.at, &kept.evidence.id);
        if first == kept.sk {
            continue;
        }
        let mut aged = item;
        aged.insert("sk".into(), text(&first));
        let client = store.raw_client();
        client.put_item().table_name(store.table()).set_item(Some(aged)).send().await.unwrap();
        client
            .delete_item()
            .table_name(store.table())
            .key("pk", text(&pk))
            .key("sk", text(&kept.sk))
            .send()
            .await
            .unwrap();
        moved += 1;
    }
    moved
}

fn sync_of(id: &str, minute: i64, npn: &str) -> Evidence {
    let aor_npn = Some(shared::domain::Npn::parse(npn).unwrap());
    let policy =
        shared::domain::Policy { policy_id: "P1".into(), status: shared::domain::PolicyStatus::Effectuated, aor_npn };
    Evidence {
        id: EvidenceId::parse(id).unwrap(),
        at: t(minute),
        fact: Fact::Synced { policies: vec![policy], again: Vec::new() },
    }
}

#[tokio::test]
async fn the_application_item_knows_the_newest_evidence_applied_and_the_checker_holds_it_to_that() {
    let world = world().await;
    ana_and_bob(&world.store, &["101"], &[]).await;
    let head = world.store.head(&app("101")).await.unwrap();
    assert_eq!(head.log_last_at, Some(t(1000)), "bob's swap, the newest");
    assert!(head.log.is_empty(), "the head reads no evidence");
    let whole = world.store.application(&app("101")).await.unwrap();
    assert_eq!((whole.log.len(), whole.log_last_at), (2, Some(t(1000))));
    assert_eq!(head.entries, whole.entries);

    // A platform event sent again with its id is known whatever its time.
    let again = submission("own-101", 5000, "ana", "111");
    assert_eq!(
        world.store.apply_evidence(&app("101"), &again, Utc::now()).await.unwrap(),
        ApplyOutcome::AlreadyApplied
    );

    // A late sync (before the swap) is replayed from the log; a newer one applies to the entries.
    for (id, minute) in [("late-sync", 500), ("new-sync", 2000)] {
        world.store.apply_evidence(&app("101"), &sync_of(id, minute, "222"), Utc::now()).await.unwrap();
    }
    let head = world.store.head(&app("101")).await.unwrap();
    assert_eq!(head.log_last_at, Some(t(2000)));
    let ana = &head.entries[&agent_id("ana")];
    assert_eq!(ana.risk.as_ref().map(|r| r.since), Some(t(500)), "at risk since the late sync showed bob");
    assert_no_differences(&world).await;

    // An item that says an older time than the evidence it holds is named.
    let text = |s: &str| aws_sdk_dynamodb::types::AttributeValue::S(s.to_owned());
    let pk = store::keys::application_pk(app("101").year, &app("101").id);
    world
        .store
        .raw_client()
        .update_item()
        .table_name(world.store.table())
        .key("pk", text(&pk))
        .key("sk", text(store::keys::META_SK))
        .update_expression("SET log_last_at = :then")
        .expression_attribute_values(":then", text(&store::keys::time(t(0))))
        .send()
        .await
        .unwrap();
    let named = devkit::verify::verify(&world.store).await.unwrap().iter().map(ToString::to_string).collect::<Vec<_>>();
    assert!(named.iter().any(|d| d.starts_with("stale log time")), "{named:?}");
}

/// Files `app`'s item in the due list as releases before 2026-12-08 did: in GSI2, keyed by lane
/// and last sync, with nothing in GSI3.
async fn file_as_before(store: &store::Store, app: &ApplicationKey) {
    let text = |s: &str| aws_sdk_dynamodb::types::AttributeValue::S(s.to_owned());
    let stored = store.application(app).await.unwrap();
    let synced = stored.last_synced_at.expect("a synced application");
    let lane = if stored.entries.values().any(shared::domain::BookEntry::is_at_risk) { 1 } else { 2 };
    store
        .raw_client()
        .update_item()
        .table_name(store.table())
        .key("pk", text(&store::keys::application_pk(app.year, &app.id)))
        .key("sk", text(store::keys::META_SK))
        .update_expression("SET gsi2pk = :pk, gsi2sk = :sk REMOVE gsi3pk, gsi3sk, last_synced_micros")
        .expression_attribute_values(
            ":pk",
            text(&store::keys::sync_due_pk(app.year, store::keys::application_shard(&app.id))),
        )
        .expression_attribute_values(":sk", text(&format!("{lane}#{}#{}", store::keys::time(synced), app.id)))
        .send()
        .await
        .unwrap();
}

/// Whether the scan finds `app` due in its lane of the due list, by `upto`.
async fn found_due(store: &store::Store, app: &ApplicationKey, upto: chrono::DateTime<Utc>) -> bool {
    use shared::ports::{DueLane, SyncDue};
    let shard = store::keys::application_shard(&app.id);
    for lane in [DueLane::AtRisk, DueLane::Stale] {
        let mut after = None;
        loop {
            let page = store.due_for_sync(app.year, shard, lane, upto, after.as_deref(), 3).await.unwrap();
            if page.due.iter().any(|due| due.application == *app) {
                return true;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    false
}

/// GIVEN nine applications of one shard synced at minute 10, and the first six of them (in key
/// order) synced again at minute 100, WHEN the stale lane is read three at a time for those due
/// by minute 50, THEN the pages of the six hold none due yet say where to go on, and the last
/// page holds the three; and a sync leaves an application's entry where it was.
#[tokio::test]
async fn the_due_list_is_read_in_pages_that_may_hold_none_due_and_a_sync_leaves_an_entry_in_place() {
    use shared::ports::{DueLane, SyncDue};
    let world = world().await;
    ana_and_bob(&world.store, &[], &[]).await;
    let shard = store::keys::application_shard(&app("1000").id);
    let ids: Vec<String> = (1000..2000)
        .map(|n| n.to_string())
        .filter(|id| store::keys::application_shard(&app(id).id) == shard)
        .take(9)
        .collect();
    for id in &ids {
        submit(&world.store, id, &format!("own-{id}"), 0, "ana", "111").await;
        world.store.apply_evidence(&app(id), &sync_of(&format!("old-{id}"), 10, "111"), Utc::now()).await.unwrap();
    }
    let position = |page: &shared::ports::DuePage, id: &str| {
        page.due.iter().find(|due| due.application == app(id)).map(|due| due.position.clone())
    };
    let before = world.store.due_for_sync(app(&ids[0]).year, shard, DueLane::Stale, t(50), None, 9).await.unwrap();
    assert_eq!(before.due.len(), 9, "all due by minute 50");
    for id in &ids[..6] {
        world.store.apply_evidence(&app(id), &sync_of(&format!("new-{id}"), 100, "111"), Utc::now()).await.unwrap();
    }
    let everything = world.store.due_for_sync(app(&ids[0]).year, shard, DueLane::Stale, t(200), None, 9).await.unwrap();
    assert_eq!(position(&everything, &ids[0]), position(&before, &ids[0]), "the sync left its key as it was");

    let (mut pages, mut after, mut due) = (Vec::new(), None, Vec::new());
    loop {
        let page = world
            .store
            .due_for_sync(app(&ids[0]).year, shard, DueLane::Stale, t(50), after.as_deref(), 3)
            .await
            .unwrap();
        due.extend(page.due.iter().map(|d| d.application.id.to_string()));
        pages.push(page.due.len());
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut expected: Vec<String> = ids.clone();
    expected.sort();
    assert_eq!(due, expected[6..].to_vec(), "only the three not synced again");
    assert_eq!(&pages[..2], &[0, 0], "pages with none due go on: {pages:?}");

    // A position an earlier release saved (its keys held the last sync) starts the shard again:
    // read as a key of this release's, it would pass every id below "2026".
    let earlier = format!("2#{}#{}", store::keys::time(t(10)), expected[8]);
    let again =
        world.store.due_for_sync(app(&ids[0]).year, shard, DueLane::Stale, t(50), Some(&earlier), 9).await.unwrap();
    assert_eq!(again.due.len(), 3, "the shard read from its start: {again:?}");
}

#[tokio::test]
async fn migrate_keys_the_rows_of_an_earlier_release_by_when_they_were_listed_and_can_run_twice() {
    let world = world().await;
    ana_and_bob(&world.store, &["101", "102"], &["201"]).await;
    submit(&world.store, "103", "own-103", 0, "ana", "111").await;
    submit(&world.store, "103", "swap-103", 10, "bob", "222").await;
    // Two syncs with one answer, then another answer: the first two are a record of their own.
    for (id, minute, npn) in [("sync-1", 20, "222"), ("sync-2", 30, "222"), ("sync-3", 40, "111")] {
        world.store.apply_evidence(&app("201"), &sync_of(id, minute, npn), Utc::now()).await.unwrap();
    }
    assert_eq!(key_records_as_before(&world.store, &app("201")).await, 1);
    key_rows_as_before(&world.store).await;
    let later = Utc::now() + chrono::Duration::days(30);
    assert!(found_due(&world.store, &app("201"), later).await, "due a month on");
    file_as_before(&world.store, &app("201")).await;
    assert!(!found_due(&world.store, &app("201"), later).await, "an earlier release's item is not in the due list");
    let ana = Scope::Agent(agent_id("ana"));
    let listed = || async { whole_list(&world.store, &ana, ArchivedFilter::Include, 50).await.0 };
    assert_eq!(listed().await, vec!["102", "101", "103"], "the earlier release's order");
    assert!(!devkit::verify::verify(&world.store).await.unwrap().is_empty(), "the checker names the rows left over");

    let named = devkit::verify::verify(&world.store).await.unwrap().iter().map(ToString::to_string).collect::<Vec<_>>();
    assert!(named.iter().any(|d| d.starts_with("misplaced evidence")), "{named:?}");
    assert!(named.iter().any(|d| d.starts_with("not in due list")), "{named:?}");

    let migrated = devkit::migrate::run(&world.store).await.unwrap();
    assert_eq!(migrated.applications_refiled, 1);
    assert!(found_due(&world.store, &app("201"), later).await, "filed again");
    // Due by its last sync (the third sync's), not before.
    assert!(!found_due(&world.store, &app("201"), t(40)).await, "not due by its last sync");
    assert!(found_due(&world.store, &app("201"), t(41)).await, "due after it");
    assert_eq!(migrated.applications_placed, 3, "the three applications with rows");
    assert_eq!(migrated.agencies_refiled, 3);
    assert_eq!(migrated.records_rekeyed, 1, "the sync record, under its last sync");
    assert_eq!(listed().await, vec!["103", "102", "101"]);
    assert_no_differences(&world).await;
    let again = devkit::migrate::run(&world.store).await.unwrap();
    assert_eq!(again.applications_placed, 3);
    assert_eq!(again.records_rekeyed, 0);
    assert_eq!(again.applications_refiled, 0);
    assert_eq!(listed().await, vec!["103", "102", "101"]);
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn paging_through_hundreds_of_entries_gives_each_exactly_once_and_reads_one_more_at_most() {
    let world = world().await;
    agency(&world.store, "top", None).await;
    agent(&world.store, "ana", "top", "111").await;
    agent(&world.store, "bob", "top", "222").await;
    // Equal at-risk times on purpose: the order must still be total.
    let applications: Vec<(ApplicationKey, Vec<Evidence>)> = (0..260)
        .map(|i| {
            let id = format!("{:06}", i);
            let swapped_at = 1000 + (i % 20) as i64;
            (
                app(&id),
                vec![
                    submission(&format!("own-{id}"), 0, "ana", "111"),
                    submission(&format!("swap-{id}"), swapped_at, "bob", "222"),
                ],
            )
        })
        .collect();
    let owners = world.store.owner_items(BTreeSet::from([agent_id("ana"), agent_id("bob")])).await.unwrap();
    world.store.import(&applications, &owners, Utc::now()).await.unwrap();

    for scope in [Scope::Agent(agent_id("ana")), Scope::Agency(agency_id("top"))] {
        let (ids, pages) = whole_list(&world.store, &scope, ArchivedFilter::Exclude, 7).await;
        let unique: BTreeSet<_> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), 260, "{scope:?}: every entry once");
        assert_eq!(unique.len(), 260, "{scope:?}: no duplicates");
        assert_eq!(pages.len(), 38, "{scope:?}: 37 full pages and one of 1");
        // A page also reads its rows' owners and their agencies in the directory, for their names
        // and an agency's reach (here ana and her agency): two items, whatever else is moving in
        // the deployment.
        let directory_reads = 2;
        for (returned, read) in pages {
            assert!(read as usize <= returned + 1 + directory_reads, "{scope:?}: read {read} for {returned}");
        }
    }
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn an_agency_page_reads_what_its_rows_need_whatever_directory_jobs_are_under_way_elsewhere() {
    let world = world().await;
    agency(&world.store, "top", None).await;
    agency(&world.store, "north", Some("top")).await;
    agency(&world.store, "south", Some("top")).await;
    agent(&world.store, "ana", "north", "111").await;
    agent(&world.store, "bob", "south", "222").await;
    let applications: Vec<(ApplicationKey, Vec<Evidence>)> = (0..12)
        .map(|i| {
            let id = format!("{:06}", 700 + i);
            (
                app(&id),
                vec![
                    submission(&format!("own-{id}"), 0, "ana", "111"),
                    submission(&format!("swap-{id}"), 5, "bob", "222"),
                ],
            )
        })
        .collect();
    let owners = world.store.owner_items(BTreeSet::from([agent_id("ana"), agent_id("bob")])).await.unwrap();
    world.store.import(&applications, &owners, Utc::now()).await.unwrap();
    // GIVEN sixty agencies onboarded under south whose jobs have not run yet (their marks stand)
    for i in 0..60 {
        let upsert = shared::domain::AgencyUpsert {
            agency_id: agency_id(&format!("new-{i}")),
            name: shared::domain::Name::parse(format!("Agency new-{i}")).unwrap(),
            parent_agency_id: Some(agency_id("south")),
            agent_exports_enabled: true,
        };
        world.store.record_agency(&upsert, &Utc::now().into()).await.unwrap().expect("written");
    }
    // THEN a page of north's list and of top's reads its rows and their owners, not the jobs:
    // ana and north (for her agency's name; top's walk passes it) once per page.
    for list in ["north", "top"] {
        let (ids, pages) = whole_list(&world.store, &Scope::Agency(agency_id(list)), ArchivedFilter::Exclude, 5).await;
        assert_eq!(ids.len(), 12, "{list}");
        for (returned, read) in pages {
            let bound = returned + 1 + 2;
            assert!(read as usize <= bound, "{list}: read {read} for {returned}");
        }
    }
}

#[tokio::test]
async fn new_entries_arriving_while_paging_neither_duplicate_nor_hide_older_ones() {
    let world = world().await;
    let swapped: Vec<String> = (0..30).map(|i| format!("{}", 500 + i)).collect();
    let refs: Vec<&str> = swapped.iter().map(String::as_str).collect();
    ana_and_bob(&world.store, &refs, &[]).await;
    let scope = Scope::Agent(agent_id("ana"));

    let first = world.store.risk_rows(&scope, year(), ArchivedFilter::Exclude, 10, None).await.unwrap();
    // A newer swap lands between pages: it belongs before the first page, not in the rest.
    submit(&world.store, "999", "own-999", 0, "ana", "111").await;
    submit(&world.store, "999", "swap-999", 5000, "bob", "222").await;
    let mut seen: Vec<String> = first.rows.iter().map(|r| r.federal_exchange_id.to_string()).collect();
    let mut after = first.next;
    while let Some(position) = after {
        let page = world.store.risk_rows(&scope, year(), ArchivedFilter::Exclude, 10, Some(&position)).await.unwrap();
        seen.extend(page.rows.iter().map(|r| r.federal_exchange_id.to_string()));
        after = page.next;
    }
    let mut expected = swapped.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn the_archived_filter_shows_what_it_says() {
    let world = world().await;
    ana_and_bob(&world.store, &["301", "302", "303", "304", "305"], &[]).await;
    for (i, id) in ["302", "304"].iter().enumerate() {
        let archive = Evidence {
            id: EvidenceId::parse(format!("archive-{id}")).unwrap(),
            at: t(2000 + i as i64),
            fact: Fact::ArchiveSet { agent_id: agent_id("ana"), archived: true },
        };
        world.store.apply_evidence(&app(id), &archive, Utc::now()).await.unwrap();
    }
    let scope = Scope::Agent(agent_id("ana"));
    let list = |filter| {
        let store = world.store.clone();
        let scope = scope.clone();
        async move { whole_list(&store, &scope, filter, 50).await.0 }
    };
    assert_eq!(list(ArchivedFilter::Exclude).await, vec!["305", "303", "301"]);
    assert_eq!(list(ArchivedFilter::Only).await, vec!["304", "302"]);
    assert_eq!(list(ArchivedFilter::Include).await, vec!["305", "304", "303", "302", "301"]);
    let agency_only = whole_list(&world.store, &Scope::Agency(agency_id("top")), ArchivedFilter::Only, 50).await.0;
    assert_eq!(agency_only, vec!["304", "302"], "the agency lists split the same way");
    assert_eq!(
        world.store.counts(&Scope::Agent(agent_id("ana")), year()).await.unwrap().at_risk_total,
        3,
        "archived entries do not count"
    );
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn the_alert_count_counts_what_was_flagged_after_the_last_visit() {
    let world = world().await;
    ana_and_bob(&world.store, &["401", "402"], &["403"]).await;
    let ana = agent_id("ana");
    assert_eq!(
        world.store.counts(&Scope::Agent(ana.clone()), year()).await.unwrap().new_since_visit,
        2,
        "never visited: everything is new"
    );

    let visit = world.store.record_visit(&Scope::Agent(ana.clone()), year(), Utc::now()).await.unwrap();
    assert_eq!(world.store.counts(&Scope::Agent(ana.clone()), year()).await.unwrap().last_visited_at, Some(visit));
    assert_eq!(world.store.counts(&Scope::Agent(ana.clone()), year()).await.unwrap().new_since_visit, 0);

    // Evidence from long ago, learnt of now, is new.
    submit(&world.store, "403", "swap-403", -50_000, "bob", "222").await;
    let stored = world.store.application(&app("403")).await.unwrap();
    assert!(!stored.entries[&ana].is_at_risk(), "older than ana's own submission: no risk");
    submit(&world.store, "403", "late-swap-403", 9_000, "bob", "222").await;
    assert_eq!(world.store.counts(&Scope::Agent(ana.clone()), year()).await.unwrap().new_since_visit, 1);
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn each_agency_keeps_its_trees_counters_and_its_own_watermark_through_visits_clears_and_moves() {
    let world = world().await;
    ana_and_bob(&world.store, &["411", "412"], &["413"]).await;
    let counts = |scope: Scope| {
        let store = world.store.clone();
        async move {
            let stats = store.counts(&scope, year()).await.unwrap();
            (stats.at_risk_total, stats.new_since_visit)
        }
    };
    let (top, north, south) =
        (Scope::Agency(agency_id("top")), Scope::Agency(agency_id("north")), Scope::Agency(agency_id("south")));
    assert_eq!(counts(north.clone()).await, (2, 2), "ana's two swapped entries, never visited");
    assert_eq!(counts(top.clone()).await, (2, 2), "the upline counts its whole tree");
    assert_eq!(counts(south.clone()).await, (0, 0));

    // A visit to north's view starts north's count again, and no one else's.
    world.store.record_visit(&north, year(), Utc::now()).await.unwrap();
    assert_eq!(counts(north.clone()).await, (2, 0));
    assert_eq!(counts(top.clone()).await, (2, 2), "top's admins have their own watermark");
    assert_eq!(counts(Scope::Agent(agent_id("ana"))).await, (2, 2), "and so has ana's own book");

    // A new swap is new for north again. Ana taking 411 back clears her entry there and puts
    // bob's at risk: one off north's counts, one onto south's, top's the same.
    submit(&world.store, "413", "swap-413", 1000, "bob", "222").await;
    assert_eq!(counts(north.clone()).await, (3, 1));
    assert_eq!(counts(top.clone()).await, (3, 3));
    submit(&world.store, "411", "back-411", 2000, "ana", "111").await;
    assert_eq!(counts(north.clone()).await, (2, 1));
    assert_eq!(counts(south.clone()).await, (1, 1));
    assert_eq!(counts(top.clone()).await, (3, 3));
    assert_no_differences(&world).await;

    // Ana moves to south: her entries leave north's counts and join south's; top's stay.
    agent(&world.store, "ana", "south", "111").await;
    assert_eq!(counts(north.clone()).await, (0, 0));
    assert_eq!(counts(south.clone()).await, (3, 3), "never visited: new there");
    assert_eq!(counts(top.clone()).await, (3, 3));
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn racing_writers_on_one_application_all_land_through_the_version_condition() {
    let world = world().await;
    agency(&world.store, "top", None).await;
    let agents: Vec<String> = (0..6).map(|i| format!("racer-{i}")).collect();
    for (i, id) in agents.iter().enumerate() {
        agent(&world.store, id, "top", &format!("{}", 500 + i)).await;
    }
    let mut racing = tokio::task::JoinSet::new();
    for (i, id) in agents.iter().enumerate() {
        let store = world.store.clone();
        let evidence = submission(&format!("race-{i}"), i as i64, id, &format!("{}", 500 + i));
        racing.spawn(async move { store.apply_evidence(&app("777"), &evidence, Utc::now()).await });
    }
    while let Some(result) = racing.join_next().await {
        assert!(matches!(result.unwrap(), Ok(ApplyOutcome::Applied(_))));
    }
    let stored = world.store.application(&app("777")).await.unwrap();
    assert_eq!(stored.log.len(), 6, "no write was lost");
    assert_eq!(stored.version, 6, "each write bumped the version once");
    // Whoever raced, the result is that of the evidence in time order: the last submitter holds it.
    let at_risk: Vec<_> = stored.entries.values().filter(|e| e.is_at_risk()).map(|e| e.agent_id.to_string()).collect();
    assert_eq!(at_risk, vec!["racer-0", "racer-1", "racer-2", "racer-3", "racer-4"]);
    assert_no_differences(&world).await;
}

/// GIVEN ana's entry at risk in `north` (under `top`), and a placer that read her path then
/// WHEN `north` moves under `other` (its job done) and only then the placer commits what it read
/// THEN the placer finds, after its commit, that an agency on the path changed, and places again:
/// `top` lists nothing of ana's, `other` lists her entry.
#[tokio::test]
async fn a_placer_that_read_the_path_before_a_move_commits_and_then_places_again() {
    let world = world().await;
    ana_and_bob(&world.store, &["801"], &[]).await;
    agency(&world.store, "other", None).await;
    let read_before = world.store.owner_items(BTreeSet::from([agent_id("ana")])).await.unwrap();
    agency(&world.store, "north", Some("other")).await;
    world.store.take_placement_conflicts();

    world.store.place_application_knowing(&app("801"), read_before).await.unwrap();

    let listed = |scope: Scope| {
        let store = world.store.clone();
        async move {
            let page = store.risk_rows(&scope, year(), ArchivedFilter::Include, 50, None).await.unwrap();
            page.rows
                .iter()
                .filter(|r| r.agent_id == agent_id("ana"))
                .map(|r| r.federal_exchange_id.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(Scope::Agency(agency_id("top"))).await, Vec::<String>::new(), "the old upline lists it");
    assert_eq!(listed(Scope::Agency(agency_id("other"))).await, vec!["801"]);
    assert_eq!(world.store.take_placement_conflicts(), 1, "the stale placement was found out once");
    assert_no_differences(&world).await;
}

/// GIVEN ana's and bob's entries at risk in one tree (`north` under `top`), in applications of
/// different shards, and the emulator holding every committed transaction's items for 5 s, as
/// DynamoDB holds them while it commits one
/// WHEN both are placed anew one after the other, each moving top's counters (placers with stale
/// owners stand in for any placement that does)
/// THEN the second meets nothing the first holds: no agency item is in both transactions.
#[tokio::test]
async fn placements_in_one_tree_of_applications_in_different_shards_share_no_item() {
    let world = world().await;
    let shard = |id: &str| store::keys::application_shard(&app(id).id);
    let other = (900..999).map(|n| format!("0{n}")).find(|id| shard(id) != shard("0901")).unwrap();
    agency(&world.store, "top", None).await;
    agency(&world.store, "north", Some("top")).await;
    agent(&world.store, "ana", "north", "111").await;
    agent(&world.store, "bob", "north", "222").await;
    agent(&world.store, "rival", "top", "333").await;
    for (id, owner, npn) in [("0901", "ana", "111"), (other.as_str(), "bob", "222")] {
        submit(&world.store, id, &format!("own-{id}"), 0, owner, npn).await;
        submit(&world.store, id, &format!("swap-{id}"), 10, "rival", "333").await;
    }
    // Owners read as if `top` were not above `north` yet: placing with them takes the entries out
    // of top's list and moves top's counters.
    let mut stale = world.store.owner_items(BTreeSet::from([agent_id("ana"), agent_id("bob")])).await.unwrap();
    for owner in stale.values_mut() {
        owner.path.remove(0);
        owner.path_versions.remove(0);
    }
    let stale = |agent: &str| std::collections::HashMap::from([(agent_id(agent), stale[&agent_id(agent)].clone())]);
    hold_transactions(&world, 5_000).await;
    world.store.take_placement_conflicts();

    world.store.place_application_knowing(&app("0901"), stale("ana")).await.unwrap();
    world.store.place_application_knowing(&app(&other), stale("bob")).await.unwrap();

    assert_eq!(world.store.take_placement_conflicts(), 0, "the second placement met an item the first holds");
    hold_transactions(&world, 0).await;
    // Placed as the directory says again, the lists are right.
    world.store.place_application(&app("0901")).await.unwrap();
    world.store.place_application(&app(&other)).await.unwrap();
    assert_no_differences(&world).await;
}

/// GIVEN ana's entry at risk in `north` under `top`, placed (no unplaced mark), and top's
/// counters held by a visit's transaction for 30 s (the emulator holding them as DynamoDB does
/// while it commits)
/// WHEN `north` moves out of top's tree and the application is placed, every attempt meeting the
/// held counters
/// THEN the placement fails, and the application is marked unplaced again, so the scan's repair
/// places it once the counters are free: the lists end right.
#[tokio::test]
async fn a_placement_that_fails_leaves_its_application_marked_for_the_repair() {
    let world = world().await;
    ana_and_bob(&world.store, &["802"], &[]).await;
    assert!(!world.store.application(&app("802")).await.unwrap().unplaced);
    agency(&world.store, "other", None).await;
    hold_transactions(&world, 30_000).await;
    world.store.record_visit(&Scope::Agency(agency_id("top")), year(), Utc::now()).await.unwrap();
    let moved = AgencyUpsert {
        agency_id: agency_id("north"),
        name: shared::domain::Name::parse("Agency north").unwrap(),
        parent_agency_id: Some(agency_id("other")),
        agent_exports_enabled: true,
    };
    let north = world.store.record_agency(&moved, &Utc::now().into()).await.unwrap().unwrap();

    let failed = world.store.place_application(&app("802")).await;

    assert!(matches!(failed, Err(StoreError::Contention(_))), "{failed:?}");
    assert!(world.store.application(&app("802")).await.unwrap().unplaced, "the repair will place it");
    hold_transactions(&world, 0).await;
    let repair = world.store.place_unplaced(Utc::now() + chrono::Duration::seconds(1), 10, None).await.unwrap();
    assert_eq!(repair.placed, 1);
    assert!(!world.store.application(&app("802")).await.unwrap().unplaced);
    world.store.finish_agency_job(&north, None).await.unwrap();
    assert_no_differences(&world).await;
}

/// Makes the emulator hold the items of every transaction committed on this test's table for
/// `ms` (`tools/moto/serve.py`): a transaction meeting one is cancelled as on AWS.
async fn hold_transactions(world: &World, ms: u32) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let url = format!("{endpoint}/_local/dynamodb/transaction-hold?ms={ms}&table={}", world.store.table());
    let status = reqwest::Client::new().post(url).send().await.unwrap().status();
    assert!(status.is_success(), "the emulator took the hold: {status}");
}

#[tokio::test]
async fn the_same_evidence_twice_is_written_once() {
    let world = world().await;
    ana_and_bob(&world.store, &["601"], &[]).await;
    let again = submit(&world.store, "601", "swap-601", 1000, "bob", "222").await;
    assert_eq!(again, ApplyOutcome::AlreadyApplied);
    let stored = world.store.application(&app("601")).await.unwrap();
    assert_eq!(stored.log.len(), 2);
    assert_eq!(
        world.store.history(&app("601")).await.unwrap().iter().filter(|r| r.agent_id == agent_id("ana")).count(),
        2,
        "created, then at risk"
    );
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn clearing_a_risk_removes_it_from_every_list() {
    let world = world().await;
    ana_and_bob(&world.store, &["701"], &[]).await;
    submit(&world.store, "701", "own-again-701", 3000, "ana", "111").await;
    for scope in [Scope::Agent(agent_id("ana")), Scope::Agency(agency_id("north")), Scope::Agency(agency_id("top"))] {
        let page = world.store.risk_rows(&scope, year(), ArchivedFilter::Include, 50, None).await.unwrap();
        let anas: Vec<_> = page.rows.iter().filter(|r| r.agent_id == agent_id("ana")).collect();
        assert!(anas.is_empty(), "{scope:?} still lists ana's {anas:?}");
    }
    assert_eq!(world.store.counts(&Scope::Agent(agent_id("ana")), year()).await.unwrap().at_risk_total, 0);
    // The AOR went back to ana, so now bob's entry (made by his swap) is the one at risk.
    let top = world
        .store
        .risk_rows(&Scope::Agency(agency_id("top")), year(), ArchivedFilter::Include, 50, None)
        .await
        .unwrap();
    let owners: Vec<_> = top.rows.iter().map(|r| r.agent_id.to_string()).collect();
    assert_eq!(owners, vec!["bob"]);
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn an_agent_moving_agency_takes_their_book_along() {
    let world = world().await;
    ana_and_bob(&world.store, &["801", "802"], &[]).await;
    let list = |scope: Scope| {
        let store = world.store.clone();
        async move { whole_list(&store, &scope, ArchivedFilter::Include, 50).await.0.len() }
    };
    assert_eq!(list(Scope::Agency(agency_id("north"))).await, 2);
    assert_eq!(list(Scope::Agency(agency_id("south"))).await, 0);
    mark_rows(&world.store, Scope::Agent(agent_id("ana"))).await;
    mark_rows(&world.store, Scope::Agency(agency_id("top"))).await;

    agent(&world.store, "ana", "south", "111").await;

    assert_eq!(list(Scope::Agency(agency_id("north"))).await, 0, "the old agency no longer sees them");
    assert_eq!(list(Scope::Agency(agency_id("south"))).await, 2, "the new agency does");
    assert_eq!(list(Scope::Agency(agency_id("top"))).await, 2, "the common upline sees each once");
    let own =
        world.store.risk_rows(&Scope::Agent(agent_id("ana")), year(), ArchivedFilter::Include, 50, None).await.unwrap();
    assert_eq!(own.rows.len(), 2);
    // Only the lists the move leaves and enters are written: the rows in her own list and in the
    // common upline's stay as they were.
    assert!(all_marked(&world.store, Scope::Agent(agent_id("ana"))).await, "her own rows were rewritten");
    assert!(all_marked(&world.store, Scope::Agency(agency_id("top"))).await, "the upline's rows were rewritten");
    let shown = world.store.risk_page(&Scope::Agent(agent_id("ana")), year(), ArchivedFilter::Include, 50, None).await;
    assert!(shown.unwrap().entries.iter().all(|r| r.agency_id == Some(agency_id("south"))));
    assert!(world.store.agency_members(&agency_id("south")).await.unwrap().contains(&agent_id("ana")));
    assert!(!world.store.agency_members(&agency_id("north")).await.unwrap().contains(&agent_id("ana")));
    assert_eq!(world.store.agent_item(&agent_id("ana")).await.unwrap().unwrap().job, None, "the move finished");

    // New evidence after the move lands in the new agency's lists only.
    submit(&world.store, "803", "own-803", 0, "ana", "111").await;
    submit(&world.store, "803", "swap-803", 1000, "bob", "222").await;
    assert_eq!(list(Scope::Agency(agency_id("south"))).await, 3);
    assert_eq!(list(Scope::Agency(agency_id("north"))).await, 0);
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn an_agency_moving_under_another_parent_moves_its_downline_lists() {
    let world = world().await;
    agency(&world.store, "east", None).await;
    agency(&world.store, "west", None).await;
    agency(&world.store, "mid", Some("east")).await;
    agency(&world.store, "leaf", Some("mid")).await;
    agent(&world.store, "ana", "leaf", "111").await;
    agent(&world.store, "bob", "west", "222").await;
    submit(&world.store, "901", "own-901", 0, "ana", "111").await;
    submit(&world.store, "901", "swap-901", 10, "bob", "222").await;
    let count = |agency: &str| {
        let store = world.store.clone();
        let scope = Scope::Agency(agency_id(agency));
        async move { whole_list(&store, &scope, ArchivedFilter::Include, 50).await.0.len() }
    };
    assert_eq!((count("east").await, count("west").await), (1, 0));

    agency(&world.store, "mid", Some("west")).await;

    assert_eq!((count("east").await, count("west").await, count("mid").await, count("leaf").await), (0, 1, 1, 1));
    let leaf = world.store.agency_item(&agency_id("leaf")).await.unwrap().unwrap();
    assert_eq!(leaf.ancestors, vec![agency_id("west"), agency_id("mid")]);
    assert_eq!(world.store.child_agencies(&agency_id("west")).await.unwrap(), vec![agency_id("mid")]);
    assert!(world.store.child_agencies(&agency_id("east")).await.unwrap().is_empty());
    assert_no_differences(&world).await;
}

/// How many rows of ana's entries `agency`'s list holds.
async fn anas_rows_in(store: &store::Store, agency: &str) -> usize {
    let scope = Scope::Agency(agency_id(agency));
    let rows = store.risk_rows(&scope, year(), ArchivedFilter::Include, 50, None).await.unwrap().rows;
    rows.iter().filter(|row| row.agent_id == agent_id("ana")).count()
}

/// A job moves rows in bulk and names the keys it put them at in their placement records (only
/// those: a move out of a list alone leaves the record as it was), and the placements after it
/// find the rows where the job put them.
#[tokio::test]
async fn a_move_names_where_it_put_rows_and_later_placements_find_the_rows_it_moved() {
    let world = world().await;
    agency(&world.store, "east", None).await;
    agency(&world.store, "west", None).await;
    agency(&world.store, "mid", Some("east")).await;
    agent(&world.store, "ana", "mid", "111").await;
    agent(&world.store, "bob", "west", "222").await;
    submit(&world.store, "902", "own-902", 0, "ana", "111").await;
    submit(&world.store, "902", "swap-902", 10, "bob", "222").await;
    let record = || async {
        let pk = store::keys::application_pk(year(), &app("902").id);
        let item = world
            .store
            .raw_client()
            .get_item()
            .table_name(world.store.table())
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(store::keys::placed_sk(&agent_id("ana"))))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("ana's entry has a placement record");
        store::items::from_item::<store::placement::PlacementItem>(item).unwrap()
    };
    let before = record().await;
    assert!(before.rows.iter().any(|row| row.pk == "RISK#AGENCY#east"), "{before:?}");
    let listed = |agency: &'static str| anas_rows_in(&world.store, agency);

    agency(&world.store, "mid", Some("west")).await;

    assert_eq!((listed("east").await, listed("west").await), (0, 1), "the row left east and entered west");
    let after = record().await;
    assert!(after.rows.iter().any(|row| row.pk == "RISK#AGENCY#west"), "{after:?}");
    assert!(!after.rows.iter().any(|row| row.pk == "RISK#AGENCY#east"), "{after:?}");
    // West under east, then mid out of west into east: out of a list alone, so nothing is put
    // and the record stays as it is.
    agency(&world.store, "west", Some("east")).await;
    assert_eq!((listed("east").await, listed("west").await), (1, 1), "east above west now");
    let before = record().await;
    agency(&world.store, "mid", Some("east")).await;
    assert_eq!((listed("east").await, listed("west").await), (1, 0));
    assert_eq!(record().await, before, "a move out of a list alone writes no record");
    assert_no_differences(&world).await;
    // A sync giving the AOR back to ana clears her entry: its rows go, wherever the job put them.
    world.store.apply_evidence(&app("902"), &sync_of("sync-902", 20, "111"), Utc::now()).await.unwrap();
    assert_eq!((listed("east").await, listed("west").await), (0, 0));
    let ana = Scope::Agent(agent_id("ana"));
    assert_eq!(world.store.counts(&ana, year()).await.unwrap().at_risk_total, 0);
    assert_no_differences(&world).await;
}

/// Rows a job moved are found by the moves after it however they nest: an agency moved twice,
/// its second job paused with an entry still to move, while an agent below it moves away.
#[tokio::test]
async fn rows_a_job_moved_are_found_by_the_moves_after_it_however_they_nest() {
    let world = world().await;
    for top in ["p1", "p2", "p3", "y"] {
        agency(&world.store, top, None).await;
    }
    agency(&world.store, "x", Some("p1")).await;
    agent(&world.store, "carl", "x", "333").await;
    agent(&world.store, "ana", "x", "111").await;
    agent(&world.store, "bob", "y", "222").await;
    // Carl's entry is listed first, so the paused job moves it and not ana's.
    submit(&world.store, "904", "own-904", 0, "carl", "333").await;
    submit(&world.store, "904", "swap-904", 10, "bob", "222").await;
    submit(&world.store, "903", "own-903", 0, "ana", "111").await;
    submit(&world.store, "903", "swap-903", 10, "bob", "222").await;
    agency(&world.store, "x", Some("p2")).await;
    let moved = AgencyUpsert {
        agency_id: agency_id("x"),
        name: shared::domain::Name::parse("Agency x").unwrap(),
        parent_agency_id: Some(agency_id("p3")),
        agent_exports_enabled: true,
    };
    let one_page = world.store.clone().with_job_page(1);
    let paused = one_page.upsert_agency_until(&moved, &Utc::now().into(), Some(std::time::Instant::now())).await;
    assert_eq!(paused.unwrap(), shared::ports::UpsertOutcome::Paused);

    agent(&world.store, "ana", "y", "111").await;
    world.store.upsert_agency_until(&moved, &Utc::now().into(), None).await.unwrap();

    let listed = |agency: &'static str| anas_rows_in(&world.store, agency);
    assert_eq!([listed("p1").await, listed("p2").await, listed("p3").await, listed("y").await], [0, 0, 0, 1]);
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn an_agency_cannot_be_placed_under_its_own_downline() {
    let world = world().await;
    agency(&world.store, "a", None).await;
    agency(&world.store, "b", Some("a")).await;
    agency(&world.store, "c", Some("b")).await;
    let upsert = |id: &str, parent: &str| AgencyUpsert {
        agency_id: agency_id(id),
        name: shared::domain::Name::parse("Loop").unwrap(),
        parent_agency_id: Some(agency_id(parent)),
        agent_exports_enabled: true,
    };
    for (id, parent) in [("a", "c"), ("a", "a"), ("b", "c")] {
        let refused = world.store.upsert_agency(&upsert(id, parent), Utc::now()).await;
        assert!(matches!(refused, Err(StoreError::Cycle(_))), "{id} under {parent}: {refused:?}");
    }
    assert_eq!(
        world.store.agency(&agency_id("a")).await.unwrap().unwrap().parent_agency_id,
        None,
        "nothing was half-applied"
    );
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn an_older_directory_event_arriving_late_changes_nothing() {
    let world = world().await;
    agency(&world.store, "top", None).await;
    let newer = AgencyUpsert {
        agency_id: agency_id("top"),
        name: shared::domain::Name::parse("Newer name").unwrap(),
        parent_agency_id: None,
        agent_exports_enabled: false,
    };
    world.store.upsert_agency(&newer, Utc::now()).await.unwrap();
    let older = AgencyUpsert { name: shared::domain::Name::parse("Older name").unwrap(), ..newer.clone() };
    let outcome = world.store.upsert_agency(&older, t(0)).await.unwrap();
    assert_eq!(outcome, shared::ports::UpsertOutcome::Stale);
    assert_eq!(world.store.agency(&agency_id("top")).await.unwrap().unwrap().name.as_str(), "Newer name");
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn two_agencies_moved_under_each_other_at_once_exactly_one_move_wins() {
    let world = world().await;
    let upsert = |id: &str, parent: &str| AgencyUpsert {
        agency_id: agency_id(id),
        name: shared::domain::Name::parse(format!("Agency {id}")).unwrap(),
        parent_agency_id: Some(agency_id(parent)),
        agent_exports_enabled: true,
    };
    agency(&world.store, "top", None).await;
    for round in 0..6 {
        // GIVEN two sibling agencies, each with a child
        let (a, b) = (format!("a{round}"), format!("b{round}"));
        let (a_child, b_child) = (format!("a{round}-kid"), format!("b{round}-kid"));
        for (id, parent) in [(&a, "top"), (&b, "top"), (&a_child, a.as_str()), (&b_child, b.as_str())] {
            world.store.upsert_agency(&upsert(id, parent), Utc::now()).await.unwrap();
        }
        // WHEN each is moved below the other's child at the same moment
        let (a_under_b, b_under_a) = (upsert(&a, &b_child), upsert(&b, &a_child));
        let (one, other) = tokio::join!(
            world.store.upsert_agency(&a_under_b, Utc::now()),
            world.store.upsert_agency(&b_under_a, Utc::now()),
        );
        // THEN exactly one move wins and the other is refused as a cycle
        let refused = [&one, &other].iter().filter(|r| matches!(r, Err(StoreError::Cycle(_)))).count();
        let won = [&one, &other].iter().filter(|r| matches!(r, Ok(UpsertOutcome::Written))).count();
        assert_eq!((won, refused), (1, 1), "round {round}: {one:?} / {other:?}");
        // and every agency still reaches the top by its parent links
        for id in [&a, &b, &a_child, &b_child] {
            let path = world.store.agency_path(&agency_id(id)).await.expect("no cycle");
            assert_eq!(path.first(), Some(&agency_id("top")), "{id}: {path:?}");
        }
    }
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn an_agency_under_a_parent_not_known_yet_is_completed_when_the_parent_arrives() {
    let world = world().await;
    // GIVEN an agent and their at-risk entry, then their agency, whose parent is not known yet
    agent(&world.store, "ana", "leaf", "111").await;
    agent(&world.store, "bob", "elsewhere", "222").await;
    submit(&world.store, "0900", "s1", 0, "ana", "111").await;
    submit(&world.store, "0900", "s2", 1, "bob", "222").await;
    agency(&world.store, "leaf", Some("mid")).await;
    let (in_leaf, _) = whole_list(&world.store, &Scope::Agency(agency_id("leaf")), ArchivedFilter::Exclude, 50).await;
    assert_eq!(in_leaf, vec!["0900"]);
    // WHEN the parent arrives, and then its own parent
    agency(&world.store, "mid", Some("top")).await;
    agency(&world.store, "top", None).await;
    // THEN the entry is in every list up the tree, named with its agency
    for scope in ["leaf", "mid", "top"] {
        let page = world
            .store
            .risk_page(&Scope::Agency(agency_id(scope)), year(), ArchivedFilter::Exclude, 50, None)
            .await
            .unwrap();
        let found: Vec<_> = page
            .entries
            .iter()
            .map(|r| (r.federal_exchange_id.to_string(), r.agency_name.as_ref().map(|n| n.to_string())))
            .collect();
        assert_eq!(found, vec![("0900".to_owned(), Some("Agency leaf".to_owned()))], "{scope}");
    }
    assert_eq!(
        world.store.agency_item(&agency_id("leaf")).await.unwrap().unwrap().ancestors,
        vec![agency_id("top"), agency_id("mid")]
    );
    assert_no_differences(&world).await;
}

/// Puts a mark on every row of `scope`'s list that only a rewrite of the row would drop.
async fn mark_rows(store: &store::Store, scope: Scope) {
    for row in store.risk_rows(&scope, year(), ArchivedFilter::Include, 50, None).await.unwrap().rows {
        store
            .raw_client()
            .update_item()
            .table_name(store.table())
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(row.pk))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(row.sk))
            .update_expression("SET probe = :one")
            .expression_attribute_values(":one", aws_sdk_dynamodb::types::AttributeValue::N("1".into()))
            .send()
            .await
            .unwrap();
    }
}

/// Whether every row of `scope`'s list (at least one) still has the mark `mark_rows` put.
async fn all_marked(store: &store::Store, scope: Scope) -> bool {
    let rows = store.risk_rows(&scope, year(), ArchivedFilter::Include, 50, None).await.unwrap().rows;
    let mut all = !rows.is_empty();
    for row in rows {
        let out = store
            .raw_client()
            .get_item()
            .table_name(store.table())
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(row.pk))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(row.sk))
            .send()
            .await
            .unwrap();
        all &= out.item.is_some_and(|item| item.contains_key("probe"));
    }
    all
}

#[tokio::test]
async fn an_agent_upsert_that_does_not_move_them_rewrites_no_row_and_lists_show_it() {
    let world = world().await;
    agency(&world.store, "top", None).await;
    agent(&world.store, "ana", "top", "111").await;
    agent(&world.store, "bob", "top", "222").await;
    submit(&world.store, "0910", "s1", 0, "ana", "111").await;
    submit(&world.store, "0910", "s2", 1, "bob", "222").await;
    // GIVEN a mark on each of ana's rows that only a rewrite would drop
    mark_rows(&world.store, Scope::Agent(agent_id("ana"))).await;
    mark_rows(&world.store, Scope::Agency(agency_id("top"))).await;
    let marked = |scope: Scope| all_marked(&world.store, scope);
    // WHEN the same agent is upserted again, and then with only a new role
    let same = AgentUpsert {
        agent_id: agent_id("ana"),
        agency_id: agency_id("top"),
        name: shared::domain::Name::parse("Agent ana").unwrap(),
        email: shared::domain::Email::parse("ana@example.com").unwrap(),
        npn: shared::domain::Npn::parse("111").unwrap(),
        role: Role::Agent,
    };
    assert_eq!(world.store.upsert_agent(&same, Utc::now()).await.unwrap(), UpsertOutcome::Unchanged);
    let promoted = AgentUpsert { role: Role::AgencyAdmin, ..same.clone() };
    assert_eq!(world.store.upsert_agent(&promoted, Utc::now()).await.unwrap(), UpsertOutcome::Written);
    // THEN no row was rewritten
    assert!(marked(Scope::Agent(agent_id("ana"))).await && marked(Scope::Agency(agency_id("top"))).await);
    // and an older event arriving now is still recognised as older
    let older = AgentUpsert { name: shared::domain::Name::parse("Old name").unwrap(), ..same.clone() };
    assert_eq!(world.store.upsert_agent(&older, t(0)).await.unwrap(), UpsertOutcome::Stale);
    // WHEN the name and email change, THEN no row is rewritten, and the lists show them at once
    let renamed = AgentUpsert {
        name: shared::domain::Name::parse("Ana Renamed").unwrap(),
        email: shared::domain::Email::parse("ana.new@example.com").unwrap(),
        ..promoted
    };
    assert_eq!(world.store.upsert_agent(&renamed, Utc::now()).await.unwrap(), UpsertOutcome::Written);
    assert!(marked(Scope::Agent(agent_id("ana"))).await && marked(Scope::Agency(agency_id("top"))).await);
    let page = world.store.risk_page(&Scope::Agency(agency_id("top")), year(), ArchivedFilter::Include, 50, None).await;
    let shown = page.unwrap().entries.into_iter().find(|r| r.agent_id == agent_id("ana")).unwrap();
    assert_eq!(shown.agent_email.unwrap().as_str(), "ana.new@example.com");
    assert_eq!(shown.agent_name.unwrap().as_str(), "Ana Renamed");
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn the_checker_names_each_kind_of_difference_and_nothing_else() {
    let world = world().await;
    ana_and_bob(&world.store, &["0920", "0921", "0922"], &[]).await;
    assert_no_differences(&world).await;
    let rows = world
        .store
        .risk_rows(&Scope::Agent(agent_id("ana")), year(), ArchivedFilter::Include, 50, None)
        .await
        .unwrap()
        .rows;
    let key = |row: &store::items::RiskRow| {
        [("pk", row.pk.clone()), ("sk", row.sk.clone())]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(v)))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let client = world.store.raw_client();
    let table = world.store.table();
    // GIVEN one row deleted, one row's reason changed, a stray row, a wrong total, a wrong agency
    // alert count, and a top agency's counters filed under another agency
    client.delete_item().table_name(table).set_key(Some(key(&rows[0]))).send().await.unwrap();
    client
        .update_item()
        .table_name(table)
        .set_key(Some(key(&rows[1])))
        .update_expression("SET reason = :r")
        .expression_attribute_values(
            ":r",
            aws_sdk_dynamodb::types::AttributeValue::S("marketplace_aor_mismatch".into()),
        )
        .send()
        .await
        .unwrap();
    let mut stray = store::items::to_item(&rows[2]).unwrap();
    stray.insert("pk".into(), aws_sdk_dynamodb::types::AttributeValue::S("RISK#AGENCY#south".into()));
    client.put_item().table_name(table).set_item(Some(stray)).send().await.unwrap();
    client
        .update_item()
        .table_name(table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("AGENT#bob".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("STATS#{YEAR}")))
        .update_expression("SET at_risk_total = :n")
        .expression_attribute_values(":n", aws_sdk_dynamodb::types::AttributeValue::N("7".into()))
        .send()
        .await
        .unwrap();
    client
        .update_item()
        .table_name(table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("AGENCY#north".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("STATS#{YEAR}#03")))
        .update_expression("ADD new_since_visit :n")
        .expression_attribute_values(":n", aws_sdk_dynamodb::types::AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    client
        .update_item()
        .table_name(table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("AGENCY#top".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("STATS#{YEAR}#00")))
        .update_expression("SET gsi1pk = :under, gsi1sk = :as")
        .expression_attribute_values(":under", aws_sdk_dynamodb::types::AttributeValue::S("CHILDSTATS#north".into()))
        .expression_attribute_values(":as", aws_sdk_dynamodb::types::AttributeValue::S(format!("{YEAR}#top")))
        .send()
        .await
        .unwrap();
    // THEN the checker reports exactly those
    let report: Vec<String> =
        devkit::verify::verify(&world.store).await.unwrap().iter().map(ToString::to_string).collect();
    let expected = vec![
        format!("missing row      RISK#AGENT#ana / {}", rows[0].sk),
        format!("outside reach    RISK#AGENCY#south / {}", rows[2].sk),
        format!("stale fields     RISK#AGENT#ana / {}: reason", rows[1].sk),
        format!("wrong total      agent bob, plan year {YEAR}: stored 7, expected 0"),
        format!("wrong alert      agency north, plan year {YEAR}: stored 4, expected 3"),
        format!("misfiled counts  agency top, plan year {YEAR}"),
    ];
    let mut sorted = expected.clone();
    sorted.sort();
    let mut got = report.clone();
    got.sort();
    assert_eq!(got, sorted, "{report:#?}");
}

#[tokio::test]
async fn fifty_books_on_one_application_with_owners_six_levels_deep_all_change_in_one_write() {
    let world = world().await;
    // GIVEN a tree six levels deep on two branches, and fifty agents at the bottom
    agency(&world.store, "top", None).await;
    for branch in ["a", "b"] {
        let mut parent = "top".to_owned();
        for level in 1..=6 {
            let id = format!("{branch}{level}");
            agency(&world.store, &id, Some(&parent)).await;
            parent = id;
        }
    }
    for k in 0..50 {
        let leaf = if k % 2 == 0 { "a6" } else { "b6" };
        agent(&world.store, &format!("agent-{k}"), leaf, &format!("{}", 5000 + k)).await;
        submit(&world.store, "0950", &format!("s{k}"), k, &format!("agent-{k}"), &format!("{}", 5000 + k)).await;
    }
    let stored = world.store.application(&app("0950")).await.unwrap();
    assert_eq!(stored.entries.len(), 50);
    assert_eq!(stored.entries.values().filter(|e| e.is_at_risk()).count(), 49);

    // WHEN one sync shows a policy with no AOR at all: every one of the fifty entries changes
    let sync = Evidence {
        id: EvidenceId::parse("sync-1").unwrap(),
        at: t(100),
        fact: Fact::Synced {
            policies: vec![shared::domain::Policy {
                policy_id: "P1".into(),
                status: shared::domain::PolicyStatus::Effectuated,
                aor_npn: None,
            }],
            again: Vec::new(),
        },
    };
    let outcome = world.store.apply_evidence(&app("0950"), &sync, Utc::now()).await.unwrap();

    // THEN it is written whole, and every list agrees with it
    let ApplyOutcome::Applied(history) = outcome else { panic!("applied") };
    assert_eq!(history.len(), 50);
    let stored = world.store.application(&app("0950")).await.unwrap();
    assert!(stored.entries.values().all(|e| e.is_at_risk()));
    let (top, _) = whole_list(&world.store, &Scope::Agency(agency_id("top")), ArchivedFilter::Exclude, 100).await;
    assert_eq!(top.len(), 50);
    assert_no_differences(&world).await;
}

/// Every item of the table, by key, as text: to see exactly what a write changed.
async fn table_items(world: &World) -> std::collections::BTreeMap<(String, String), String> {
    let mut items = std::collections::BTreeMap::new();
    let keep = |item: store::items::Item| {
        let key = (item["pk"].as_s().unwrap().clone(), item["sk"].as_s().unwrap().clone());
        let value: serde_json::Value = store::items::from_item(item).unwrap();
        items.insert(key, value.to_string());
        Ok::<_, devkit::DevkitError>(())
    };
    devkit::table::scan_each(&world.store, keep).await.unwrap();
    items
}

fn written(
    before: &std::collections::BTreeMap<(String, String), String>,
    after: &std::collections::BTreeMap<(String, String), String>,
) -> Vec<String> {
    let keys: BTreeSet<_> = before.keys().chain(after.keys()).collect();
    keys.into_iter().filter(|k| before.get(*k) != after.get(*k)).map(|(pk, sk)| format!("{pk} / {sk}")).collect()
}

fn sync_showing(id: &str, minute: i64, npn: &str) -> Evidence {
    Evidence {
        id: EvidenceId::parse(id).unwrap(),
        at: t(minute),
        fact: Fact::Synced {
            policies: vec![shared::domain::Policy {
                policy_id: "P1".into(),
                status: shared::domain::PolicyStatus::Effectuated,
                aor_npn: Some(shared::domain::Npn::parse(npn).unwrap()),
            }],
            again: Vec::new(),
        },
    }
}

#[tokio::test]
async fn a_sync_that_changes_no_entry_writes_the_application_item_only() {
    let world = world().await;
    ana_and_bob(&world.store, &["0960"], &["0961"]).await;
    world.store.apply_evidence(&app("0961"), &sync_showing("y1", 100, "111"), Utc::now()).await.unwrap();

    // WHEN a sync finds the same as the last one, for an application not at risk
    let before = table_items(&world).await;
    world.store.apply_evidence(&app("0961"), &sync_showing("y2", 200, "111"), Utc::now()).await.unwrap();
    // THEN one item is written: the application's own (its sync time and its sync record, which
    // now holds both syncs), and a redelivery of either sync writes nothing
    let changed = written(&before, &table_items(&world).await);
    assert_eq!(changed, vec!["APP#2026#0961 / META"]);
    let stored = world.store.application(&app("0961")).await.unwrap();
    let record = stored.sync_record.expect("a sync record");
    assert_eq!(record.times().collect::<Vec<_>>(), vec![t(100), t(200)]);
    for again in [sync_showing("y1", 100, "111"), sync_showing("y2", 200, "111")] {
        let outcome = world.store.apply_evidence(&app("0961"), &again, Utc::now()).await.unwrap();
        assert_eq!(outcome, ApplyOutcome::AlreadyApplied);
    }
    // AND a sync with another answer closes the record into an item of its own
    let before = table_items(&world).await;
    world.store.apply_evidence(&app("0961"), &sync_showing("y3", 250, "333"), Utc::now()).await.unwrap();
    let changed = written(&before, &table_items(&world).await);
    let closed = |k: &String| k.starts_with("APP#2026#0961 / EVIDENCE#") && k.ends_with("#y1");
    assert_eq!(changed.iter().filter(|k| closed(k)).count(), 1, "{changed:#?}");

    // WHEN a sync finds an at-risk entry still at risk, THEN only the application's item is
    // written: no entry, no history, no row — the lists read "last synced" from that item
    world.store.apply_evidence(&app("0960"), &sync_showing("y3", 300, "222"), Utc::now()).await.unwrap();
    let before = table_items(&world).await;
    world.store.apply_evidence(&app("0960"), &sync_showing("y4", 400, "222"), Utc::now()).await.unwrap();
    let changed = written(&before, &table_items(&world).await);
    assert_eq!(changed, vec!["APP#2026#0960 / META"]);
    let page = world.store.risk_page(&Scope::Agent(agent_id("ana")), year(), ArchivedFilter::Exclude, 10, None).await;
    let shown: Vec<_> =
        page.unwrap().entries.into_iter().map(|e| (e.federal_exchange_id.to_string(), e.last_synced_at)).collect();
    assert!(shown.contains(&("0960".to_owned(), Some(t(400)))), "the list shows the newest sync: {shown:?}");
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn the_old_upline_stops_seeing_a_moved_subtree_the_moment_the_move_is_accepted() {
    let world = world().await;
    agency(&world.store, "top", None).await;
    agency(&world.store, "east", Some("top")).await;
    agency(&world.store, "west", Some("top")).await;
    agency(&world.store, "east-1", Some("east")).await;
    agent(&world.store, "ana", "east-1", "111").await;
    agent(&world.store, "bob", "west", "222").await;
    submit(&world.store, "0970", "s1", 0, "ana", "111").await;
    submit(&world.store, "0970", "s2", 1, "bob", "222").await;
    let list = |scope: &str| {
        let store = world.store.clone();
        let scope = Scope::Agency(agency_id(scope));
        async move { whole_list(&store, &scope, ArchivedFilter::Exclude, 10).await.0 }
    };
    assert_eq!(list("east").await, vec!["0970"]);

    // WHEN east-1 moves under west, and its job has not run yet (as when the ingest died)
    let moved = AgencyUpsert {
        agency_id: agency_id("east-1"),
        name: shared::domain::Name::parse("Agency east-1").unwrap(),
        parent_agency_id: Some(agency_id("west")),
        agent_exports_enabled: true,
    };
    let item = world.store.record_agency(&moved, &Utc::now().into()).await.unwrap().expect("newer");
    // THEN east's list, and its export, no longer show the entry, though its row is still there
    assert_eq!(list("east").await, Vec::<String>::new());
    assert_eq!(list("top").await, vec!["0970"], "top is still above it");
    let differences = devkit::verify::verify(&world.store).await.unwrap();
    assert!(differences.iter().any(|d| matches!(d, devkit::verify::Difference::PendingJob { .. })), "{differences:?}");
    assert!(
        differences.iter().any(|d| matches!(d, devkit::verify::Difference::OutsideReach { .. })),
        "{differences:?}"
    );

    // WHEN the job runs (the event's redelivery), THEN west's list has it and nothing is left over
    world.store.finish_agency_job(&item, None).await.unwrap();
    assert_eq!(list("west").await, vec!["0970"]);
    assert_eq!(list("east").await, Vec::<String>::new());
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn a_move_with_hundreds_of_entries_below_runs_in_chunks_and_each_run_goes_on_where_the_last_stopped() {
    let world = world().await;
    agency(&world.store, "top", None).await;
    agency(&world.store, "a", Some("top")).await;
    agency(&world.store, "b", Some("top")).await;
    agency(&world.store, "a1", Some("a")).await;
    agent(&world.store, "ana", "a1", "111").await;
    agent(&world.store, "bob", "b", "222").await;
    // (Loaded in batches, as the seed does: applying 460 submissions one by one takes a minute.)
    let applications: Vec<(ApplicationKey, Vec<Evidence>)> = (0..230)
        .map(|i| {
            let id = format!("3{i:03}");
            let log = vec![
                submission(&format!("own-{id}"), i, "ana", "111"),
                submission(&format!("swap-{id}"), 1000 + i, "bob", "222"),
            ];
            (app(&id), log)
        })
        .collect();
    let owners = world.store.owner_items(BTreeSet::from([agent_id("ana"), agent_id("bob")])).await.unwrap();
    world.store.import(&applications, &owners, Utc::now()).await.unwrap();
    assert_no_differences(&world).await;
    let moved = AgencyUpsert {
        agency_id: agency_id("a1"),
        name: shared::domain::Name::parse("Agency a1").unwrap(),
        parent_agency_id: Some(agency_id("b")),
        agent_exports_enabled: true,
    };
    // WHEN a1 moves under b, each run of its job given no time beyond one page (of 100 rows)
    let as_of = Utc::now();
    let mut runs = Vec::new();
    loop {
        let outcome =
            world.store.upsert_agency_until(&moved, &as_of.into(), Some(std::time::Instant::now())).await.unwrap();
        let position =
            world.store.agency_item(&agency_id("a1")).await.unwrap().unwrap().job.and_then(|job| job.position);
        runs.push((outcome, position));
        if outcome != UpsertOutcome::Paused {
            break;
        }
        assert!(runs.len() < 10, "{runs:?}");
    }
    // THEN it took three runs, each going on from the position the last one saved
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs[0].1.is_some() && runs[0].1 < runs[1].1, "{runs:?}");
    assert_eq!(runs[2], (UpsertOutcome::Written, None));
    let (in_b, _) = whole_list(&world.store, &Scope::Agency(agency_id("b")), ArchivedFilter::Exclude, 200).await;
    assert_eq!(in_b.len(), 230);
    let (in_a, _) = whole_list(&world.store, &Scope::Agency(agency_id("a")), ArchivedFilter::Exclude, 200).await;
    assert!(in_a.is_empty());
    assert_no_differences(&world).await;
}

#[tokio::test]
async fn turns_of_the_budget_are_taken_a_block_at_a_time_and_each_by_one_claimer() {
    use shared::ports::{RateSlots, SlotClaim};
    let world = world().await;
    let block = 1_700_000_000_000_000;
    assert_eq!(world.store.claim_rate_slots(block, &[2, 3, 4, 5, 6, 7]).await.unwrap(), SlotClaim::Won);
    // A claim that meets one taken turn takes none, and learns which of the block's are taken.
    assert_eq!(
        world.store.claim_rate_slots(block, &[0, 1, 2]).await.unwrap(),
        SlotClaim::Taken(BTreeSet::from([2, 3, 4, 5, 6, 7]))
    );
    assert_eq!(world.store.claim_rate_slots(block, &[0, 1]).await.unwrap(), SlotClaim::Won, "0 and 1 were not taken");
    assert_eq!(
        world.store.claim_rate_slots(block, &[1]).await.unwrap(),
        SlotClaim::Taken((0..8).collect()),
        "each turn by one claimer"
    );
    assert_eq!(world.store.claim_rate_slots(block + 1, &[1]).await.unwrap(), SlotClaim::Won, "another block");
}

//! The single-table store on the emulator: lists, pages, counts, races and moves.

use std::collections::BTreeSet;

use chrono::Utc;
use shared::domain::{Evidence, EvidenceId, Fact};
use shared::store::StoreError;
use shared::store::applications::{ApplicationKey, ApplyOutcome};
use shared::store::directory::AgencyUpsert;
use shared::store::keys::Scope;
use shared::store::risk_lists::ArchivedFilter;

use crate::helpers::*;

/// GIVEN ana (NPN 111) in `north` and bob (NPN 222) in `south`, WHEN bob submits each of
/// `swapped` after ana, THEN those entries of ana's are at risk.
async fn ana_and_bob(store: &shared::store::Store, swapped: &[&str], safe: &[&str]) {
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
        world.store.risk_page(&Scope::Agent(agent_id("ana")), year(), ArchivedFilter::Include, 50, None).await.unwrap();
    let ids: Vec<_> = page.rows.iter().map(|r| r.federal_exchange_id.to_string()).collect();
    assert_eq!(ids, vec!["103", "102", "101"], "only the swapped ones, newest at-risk first");
    assert!(page.items_read <= 3 + 1, "read {} items for 3 rows", page.items_read);
    assert!(page.next.is_none());
    let row = &page.rows[0];
    assert_eq!(row.reason.as_str(), "platform_submission");
    assert_eq!(row.agency_name.as_ref().map(|n| n.as_str()), Some("Agency north"));
    assert_eq!(row.client_name.as_str(), "Zoë O'Brien, Jr.");

    // Bob's own entries exist but are not at risk; the safe ones are in ana's book but not listed.
    let bob =
        world.store.risk_page(&Scope::Agent(agent_id("bob")), year(), ArchivedFilter::Include, 50, None).await.unwrap();
    assert!(bob.rows.is_empty());
    let stored = world.store.application(&app("201")).await.unwrap();
    assert!(!stored.entries[&agent_id("ana")].is_at_risk());
    assert_eq!(world.store.agent_stats(&agent_id("ana"), year()).await.unwrap().at_risk_total, 3);
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
    let owners = world.store.owners(BTreeSet::from([agent_id("ana"), agent_id("bob")])).await.unwrap();
    world.store.import(&applications, &owners, Utc::now()).await.unwrap();

    for scope in [Scope::Agent(agent_id("ana")), Scope::Agency(agency_id("top"))] {
        let (ids, pages) = whole_list(&world.store, &scope, ArchivedFilter::Exclude, 7).await;
        let unique: BTreeSet<_> = ids.iter().cloned().collect();
        assert_eq!(ids.len(), 260, "{scope:?}: every entry once");
        assert_eq!(unique.len(), 260, "{scope:?}: no duplicates");
        assert_eq!(pages.len(), 38, "{scope:?}: 37 full pages and one of 1");
        for (returned, read) in pages {
            assert!(read as usize <= returned + 1, "{scope:?}: read {read} for {returned}");
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

    let first = world.store.risk_page(&scope, year(), ArchivedFilter::Exclude, 10, None).await.unwrap();
    // A newer swap lands between pages: it belongs before the first page, not in the rest.
    submit(&world.store, "999", "own-999", 0, "ana", "111").await;
    submit(&world.store, "999", "swap-999", 5000, "bob", "222").await;
    let mut seen: Vec<String> = first.rows.iter().map(|r| r.federal_exchange_id.to_string()).collect();
    let mut after = first.next;
    while let Some(position) = after {
        let page = world.store.risk_page(&scope, year(), ArchivedFilter::Exclude, 10, Some(&position)).await.unwrap();
        seen.extend(page.rows.iter().map(|r| r.federal_exchange_id.to_string()));
        after = page.next;
    }
    let mut expected = swapped.clone();
    expected.reverse();
    assert_eq!(seen, expected);
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
        world.store.agent_stats(&agent_id("ana"), year()).await.unwrap().at_risk_total,
        3,
        "archived entries do not count"
    );
}

#[tokio::test]
async fn the_alert_count_counts_what_was_flagged_after_the_last_visit() {
    let world = world().await;
    ana_and_bob(&world.store, &["401", "402"], &["403"]).await;
    let ana = agent_id("ana");
    assert_eq!(
        world.store.count_flagged_after(&ana, year(), None).await.unwrap(),
        2,
        "never visited: everything is new"
    );

    let visit = world.store.record_visit(&ana, year(), Utc::now()).await.unwrap();
    assert_eq!(world.store.agent_stats(&ana, year()).await.unwrap().last_visited_at, Some(visit));
    assert_eq!(world.store.count_flagged_after(&ana, year(), Some(visit)).await.unwrap(), 0);

    // Evidence from long ago, learnt of now, is new.
    submit(&world.store, "403", "swap-403", -50_000, "bob", "222").await;
    let stored = world.store.application(&app("403")).await.unwrap();
    assert!(!stored.entries[&ana].is_at_risk(), "older than ana's own submission: no risk");
    submit(&world.store, "403", "late-swap-403", 9_000, "bob", "222").await;
    assert_eq!(world.store.count_flagged_after(&ana, year(), Some(visit)).await.unwrap(), 1);
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
}

#[tokio::test]
async fn the_same_evidence_twice_is_written_once() {
    let world = world().await;
    ana_and_bob(&world.store, &["601"], &[]).await;
    let again = submit(&world.store, "601", "swap-601", 1000, "bob", "222").await;
    assert_eq!(again, ApplyOutcome::AlreadyApplied);
    let stored = world.store.application(&app("601")).await.unwrap();
    assert_eq!(stored.log.len(), 2);
    assert_eq!(world.store.history(&app("601"), &agent_id("ana")).await.unwrap().len(), 2, "created, then at risk");
}

#[tokio::test]
async fn clearing_a_risk_removes_it_from_every_list() {
    let world = world().await;
    ana_and_bob(&world.store, &["701"], &[]).await;
    submit(&world.store, "701", "own-again-701", 3000, "ana", "111").await;
    for scope in [Scope::Agent(agent_id("ana")), Scope::Agency(agency_id("north")), Scope::Agency(agency_id("top"))] {
        let page = world.store.risk_page(&scope, year(), ArchivedFilter::Include, 50, None).await.unwrap();
        let anas: Vec<_> = page.rows.iter().filter(|r| r.agent_id == agent_id("ana")).collect();
        assert!(anas.is_empty(), "{scope:?} still lists ana's {anas:?}");
    }
    assert_eq!(world.store.agent_stats(&agent_id("ana"), year()).await.unwrap().at_risk_total, 0);
    // The AOR went back to ana, so now bob's entry (made by his swap) is the one at risk.
    let top = world
        .store
        .risk_page(&Scope::Agency(agency_id("top")), year(), ArchivedFilter::Include, 50, None)
        .await
        .unwrap();
    let owners: Vec<_> = top.rows.iter().map(|r| r.agent_id.to_string()).collect();
    assert_eq!(owners, vec!["bob"]);
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

    agent(&world.store, "ana", "south", "111").await;

    assert_eq!(list(Scope::Agency(agency_id("north"))).await, 0, "the old agency no longer sees them");
    assert_eq!(list(Scope::Agency(agency_id("south"))).await, 2, "the new agency does");
    assert_eq!(list(Scope::Agency(agency_id("top"))).await, 2, "the common upline sees each once");
    let own =
        world.store.risk_page(&Scope::Agent(agent_id("ana")), year(), ArchivedFilter::Include, 50, None).await.unwrap();
    assert!(own.rows.iter().all(|r| r.agency_id == Some(agency_id("south"))));
    assert!(world.store.agency_members(&agency_id("south")).await.unwrap().contains(&agent_id("ana")));
    assert!(!world.store.agency_members(&agency_id("north")).await.unwrap().contains(&agent_id("ana")));
    assert_eq!(world.store.agent(&agent_id("ana")).await.unwrap().unwrap().moved_from_path, None, "the move finished");

    // New evidence after the move lands in the new agency's lists only.
    submit(&world.store, "803", "own-803", 0, "ana", "111").await;
    submit(&world.store, "803", "swap-803", 1000, "bob", "222").await;
    assert_eq!(list(Scope::Agency(agency_id("south"))).await, 3);
    assert_eq!(list(Scope::Agency(agency_id("north"))).await, 0);
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
    let leaf = world.store.agency(&agency_id("leaf")).await.unwrap().unwrap();
    assert_eq!(leaf.ancestors, vec![agency_id("west"), agency_id("mid")]);
    assert_eq!(world.store.child_agencies(&agency_id("west")).await.unwrap(), vec![agency_id("mid")]);
    assert!(world.store.child_agencies(&agency_id("east")).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_agency_cannot_be_placed_under_its_own_downline_or_an_unknown_parent() {
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
    let orphan = world.store.upsert_agency(&upsert("d", "nowhere"), Utc::now()).await;
    assert!(matches!(orphan, Err(StoreError::UnknownParent(_))));
    assert_eq!(
        world.store.agency(&agency_id("a")).await.unwrap().unwrap().parent_agency_id,
        None,
        "nothing was half-applied"
    );
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
    assert_eq!(outcome, shared::store::directory::UpsertOutcome::Stale);
    assert_eq!(world.store.agency(&agency_id("top")).await.unwrap().unwrap().name.as_str(), "Newer name");
}

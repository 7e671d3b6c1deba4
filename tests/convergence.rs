//! Convergence: whatever order, duplication and concurrency the events come in, the lists end
//! the same. Each seed makes a small world — an agency tree 3 to 5 levels deep, agents, clients —
//! and a stream of events: submissions, syncs, archive flags, agents moved and renamed, agencies
//! moved and renamed, agencies arriving after their agents; directory events two by two dated
//! the same second (ordered by their ids, as EventBridge's are). The stream is applied once in time
//! order, one event at a time, and once shuffled, with duplicates, by eight concurrent workers;
//! the checker must find no difference in either, and every list, total and entry must be the
//! same in both (but for the time each entry was flagged, which is when the system saw it). The
//! concurrent run also has people opening their lists, which restarts their new-since-visit
//! counts while entries are being placed.
//!
//! `CONVERGENCE_SEEDS` (default 20) and `CONVERGENCE_STEPS` (default 40) size the run; `make soak`
//! runs a longer one.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::Utc;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use shared::domain::ApplicationKey;
use shared::domain::Role;
use shared::domain::{AgencyUpsert, AgentUpsert, EventOrder};
use shared::domain::{Email, Evidence, EvidenceId, Fact, Name, Npn, Policy, PolicyStatus};
use shared::store::keys::Scope;
use shared::store::risk_lists::ArchivedFilter;
use shared::store::{Store, StoreError};

use crate::helpers::*;

const WORKERS: usize = 8;

#[derive(Debug, Clone)]
enum Event {
    Agency(AgencyUpsert, EventOrder),
    Agent(AgentUpsert, EventOrder),
    Evidence(ApplicationKey, Evidence),
    /// An agent opens their list, or an admin their agency's view: that list's new-since-visit
    /// count starts again.
    Visit(Scope),
}

async fn apply(store: &Store, event: &Event) -> Result<(), StoreError> {
    match event {
        Event::Agency(upsert, at) => store.upsert_agency_until(upsert, at, None).await.map(drop),
        Event::Agent(upsert, at) => store.upsert_agent_until(upsert, at, None).await.map(drop),
        Event::Evidence(app, evidence) => store.apply_evidence(app, evidence, Utc::now()).await.map(drop),
        Event::Visit(scope) => store.record_visit(scope, year(), Utc::now()).await.map(drop),
    }
}

/// The world and its events, in time order. Every agency has a rank and a parent of lower rank,
/// before and after every move, so no order of the moves can make a cycle: the final tree is the
/// one the newest events describe, whatever order they came in.
fn scenario(seed: u64, steps: usize) -> (Vec<String>, Vec<String>, Vec<Event>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let depth = 3 + (seed % 3) as usize;
    // Agencies by rank: the top, then a chain down to `depth`, then a few more anywhere.
    let mut agencies: Vec<(String, Option<usize>)> = vec![("top".into(), None)];
    for level in 1..=depth {
        agencies.push((format!("l{level}"), Some(level - 1)));
    }
    for extra in 0..3 {
        let parent = rng.random_range(0..agencies.len());
        agencies.push((format!("x{extra}"), Some(parent)));
    }
    let agency_ids: Vec<String> = agencies.iter().map(|(id, _)| id.clone()).collect();
    let agents: Vec<String> = (0..6).map(|i| format!("agent-{i}")).collect();
    let npn = |agent: usize| format!("{}", 7000 + agent);
    let apps: Vec<String> = (0..4).map(|i| format!("0{}", 800 + i)).collect();

    let mut parent_of: Vec<Option<usize>> = agencies.iter().map(|(_, p)| *p).collect();
    let mut agency_name: Vec<u32> = vec![0; agencies.len()];
    let mut agent_state: Vec<(usize, u32)> =
        (0..agents.len()).map(|_| (rng.random_range(0..agencies.len()), 0)).collect();
    let mut to_create: Vec<usize> = (0..agencies.len()).collect();
    to_create.shuffle(&mut rng);

    let agency_event = |i: usize, parent: Option<usize>, name: u32, at| {
        Event::Agency(
            AgencyUpsert {
                agency_id: agency_id(&agency_ids[i]),
                name: Name::parse(format!("Agency {} v{name}", agency_ids[i])).unwrap(),
                parent_agency_id: parent.map(|p| agency_id(&agency_ids[p])),
                agent_exports_enabled: true,
            },
            at,
        )
    };
    let agent_event = |a: usize, agency: usize, name: u32, at| {
        Event::Agent(
            AgentUpsert {
                agent_id: agent_id(&agents[a]),
                agency_id: agency_id(&agency_ids[agency]),
                name: Name::parse(format!("Agent {a} v{name}")).unwrap(),
                email: Email::parse(format!("agent-{a}.v{name}@example.com")).unwrap(),
                npn: Npn::parse(npn(a)).unwrap(),
                role: Role::Agent,
            },
            at,
        )
    };

    // A directory event's place: two steps share a second, and its id (in step order) decides.
    let dated = |step: usize, second: usize| EventOrder {
        time: t(0) + chrono::Duration::seconds(second as i64),
        event_id: format!("event-{step:05}"),
    };
    let mut events = Vec::new();
    for step in 0..steps {
        let at = t(step as i64);
        let directory_at = dated(step, step / 2);
        let app = ApplicationKey {
            id: shared::domain::FederalExchangeId::parse(apps.choose(&mut rng).unwrap()).unwrap(),
            year: year(),
        };
        let id = EvidenceId::parse(format!("e{step}")).unwrap();
        let roll = rng.random_range(0..100);
        let event = if let (true, Some(i)) = (roll < 25, to_create.last().copied()) {
            to_create.pop();
            agency_event(i, parent_of[i], agency_name[i], directory_at)
        } else if roll < 35 {
            let a = rng.random_range(0..agents.len());
            let (agency, name) = &mut agent_state[a];
            match rng.random_range(0..3) {
                0 => *agency = rng.random_range(0..agencies.len()),
                1 => *name += 1,
                _ => {}
            }
            agent_event(a, *agency, *name, directory_at)
        } else if roll < 42 {
            // Move or rename an agency (not the top), keeping parents of lower rank.
            let i = rng.random_range(1..agencies.len());
            if rng.random_bool(0.5) {
                parent_of[i] = Some(rng.random_range(0..i));
            } else {
                agency_name[i] += 1;
            }
            agency_event(i, parent_of[i], agency_name[i], directory_at)
        } else if roll < 75 {
            let by = rng.random_range(0..agents.len());
            // Now and then under another agent's NPN: servicing someone else's client.
            let under = if rng.random_bool(0.2) { rng.random_range(0..agents.len()) } else { by };
            let fact = Fact::Submitted {
                agent_id: agent_id(&agents[by]),
                npn: Npn::parse(npn(under)).unwrap(),
                client_name: Name::parse(format!("Client {step}")).unwrap(),
            };
            Event::Evidence(app, Evidence { id, at, fact })
        } else if roll < 90 {
            let aor = rng.random_bool(0.85).then(|| Npn::parse(npn(rng.random_range(0..agents.len()))).unwrap());
            let policies = vec![Policy { policy_id: "P1".into(), status: PolicyStatus::Effectuated, aor_npn: aor }];
            Event::Evidence(app, Evidence { id, at, fact: Fact::Synced { policies } })
        } else {
            let fact = Fact::ArchiveSet {
                agent_id: agent_id(&agents[rng.random_range(0..agents.len())]),
                archived: rng.random_bool(0.6),
            };
            Event::Evidence(app, Evidence { id, at, fact })
        };
        events.push(event);
    }
    // Agencies that never came up in the stream arrive at its end: the latest of all.
    for (k, i) in to_create.into_iter().rev().enumerate() {
        events.push(agency_event(i, parent_of[i], agency_name[i], dated(steps + k, steps + k)));
    }
    (agency_ids, agents, events)
}

/// One event after another, in time order.
async fn in_order(store: &Store, events: &[Event]) {
    for event in events {
        apply(store, event).await.unwrap_or_else(|e| panic!("{event:?}: {e}"));
    }
}

/// Shuffled, a third of the events twice, by concurrent workers; an event that fails for a
/// passing reason goes back on the queue, as SQS would deliver it again.
async fn shuffled_and_concurrent(store: &Store, events: &[Event], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut stream: Vec<Event> = events.to_vec();
    stream.extend(events.iter().filter(|_| rng.random_bool(0.33)).cloned());
    // People open their lists and admins their agencies' views while all this happens: the
    // checker holds every count to account.
    stream.extend((0..6).map(|i| Event::Visit(Scope::Agent(agent_id(&format!("agent-{i}"))))));
    stream.extend(["top", "l1", "l2", "x0"].map(|a| Event::Visit(Scope::Agency(agency_id(a)))));
    stream.shuffle(&mut rng);
    let queue = Arc::new(std::sync::Mutex::new(stream.into_iter().map(|e| (e, 0u32)).collect::<VecDeque<_>>()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (store, queue) = (store.clone(), queue.clone());
            tokio::spawn(async move {
                loop {
                    let Some((event, tries)) = queue.lock().unwrap().pop_front() else { return };
                    if let Err(err) = apply(&store, &event).await {
                        assert!(tries < 20, "{event:?} kept failing: {err}");
                        queue.lock().unwrap().push_back((event, tries + 1));
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a worker panicked");
    }
}

/// What people read, without the one thing that differs by when the system saw it (the time an
/// entry was flagged): every list, every total, every entry.
async fn what_people_read(
    world: &World,
    agencies: &[String],
    agents: &[String],
) -> BTreeMap<String, serde_json::Value> {
    let mut read = BTreeMap::new();
    let scopes =
        agents.iter().map(|a| Scope::Agent(agent_id(a))).chain(agencies.iter().map(|a| Scope::Agency(agency_id(a))));
    for scope in scopes {
        let mut rows = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page =
                world.store.risk_page(&scope, year(), ArchivedFilter::Include, 50, after.as_deref()).await.unwrap();
            for row in page.rows {
                let mut row = serde_json::to_value(row).unwrap();
                for unstable in ["flagged_at", "gsi2sk"] {
                    row.as_object_mut().unwrap().remove(unstable);
                }
                rows.push(row);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        read.insert(format!("list {scope:?}"), serde_json::Value::Array(rows));
    }
    let counters =
        agents.iter().map(|a| Scope::Agent(agent_id(a))).chain(agencies.iter().map(|a| Scope::Agency(agency_id(a))));
    for scope in counters {
        let stats = world.store.stats(&scope, year()).await.unwrap();
        // (The new-since-visit count depends on when people visited: the checker checks it.)
        read.insert(format!("total {scope:?}"), serde_json::json!(stats.at_risk_total));
    }
    for app in ["0800", "0801", "0802", "0803"] {
        let stored = world.store.application(&crate::helpers::app(app)).await.unwrap();
        let mut entries = serde_json::to_value(&stored.entries).unwrap();
        for entry in entries.as_object_mut().unwrap().values_mut() {
            if let Some(risk) = entry["risk"].as_object_mut() {
                // When it was flagged, and whether the other agent was then in the same agency,
                // depend on when the system saw it.
                risk.remove("flagged_at");
                risk.remove("other_agent_same_agency");
            }
        }
        read.insert(format!("entries {app}"), entries);
        read.insert(format!("last synced {app}"), serde_json::json!(stored.last_synced_at));
    }
    read
}

#[tokio::test]
async fn any_order_duplication_and_concurrency_of_the_same_events_gives_the_same_lists() {
    let number = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (seeds, steps) = (number("CONVERGENCE_SEEDS", 20), number("CONVERGENCE_STEPS", 40) as usize);
    for seed in 0..seeds {
        let (agencies, agents, events) = scenario(seed, steps);
        let (ordered, concurrent) = tokio::join!(world(), world());
        in_order(&ordered.store, &events).await;
        shuffled_and_concurrent(&concurrent.store, &events, seed).await;

        for (name, world) in [("in order", &ordered), ("concurrent", &concurrent)] {
            let differences = devkit::verify::verify(&world.store).await.unwrap();
            let report: Vec<String> = differences.iter().map(ToString::to_string).collect();
            assert!(report.is_empty(), "seed {seed}, {name}: the checker found\n{}", report.join("\n"));
        }
        let (want, got) = tokio::join!(
            what_people_read(&ordered, &agencies, &agents),
            what_people_read(&concurrent, &agencies, &agents)
        );
        for (key, value) in &want {
            assert_eq!(Some(value), got.get(key), "seed {seed}: {key} differs");
        }
        assert!(
            want.values().any(|v| v.as_array().is_some_and(|rows| !rows.is_empty())),
            "seed {seed}: something is at risk"
        );
    }
}

//! Convergence: whatever order, duplication and concurrency the events come in, the lists end
//! the same. Each seed makes a small world — an agency tree 3 to 5 levels deep, agents, clients in
//! two plan years — and a stream of events: submissions, syncs, archive flags, revoked EDE
//! permissions, evidence of one application dated the same second, agents moved, renamed and made
//! admins or agents again, agencies moved and renamed, agencies arriving after their agents,
//! directory events two by two dated the same second (ordered by their ids, as EventBridge's
//! are), a tree exactly as deep as the cap with a book at its bottom, and two events that can never
//! succeed (an agency under itself, a move that would put a child past the depth cap), which must
//! be refused without holding up the rest. The stream is applied once in time order, one event at a time,
//! and once shuffled, with duplicates, by eight concurrent workers; the checker must find no
//! difference in either, and every list, total and entry must be the same in both (but for the
//! time each entry was flagged, which is when the system saw it). The concurrent run also has
//! people opening their lists, which restarts their new-since-visit counts while entries are being
//! placed, directory jobs paused every two rows and resumed from the queue while other writers
//! race them, one evidence delivery in five dying between its write and its placement (and
//! delivered again), and the outbox relay and the daily digest running among the events, as their
//! schedules run them; both runs end with the relay run to the end, so the checker holds the swap patterns
//! to the takes too.
//!
//! `CONVERGENCE_SEEDS` (default 20) and `CONVERGENCE_STEPS` (default 40) size the run; `make soak`
//! runs a longer one.

use shared::ports::{ApplicationReads, Applications, DirectoryChanges, PersonSettings, RiskLists};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::Utc;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use shared::domain::ApplicationKey;
use shared::domain::ArchivedFilter;
use shared::domain::Role;
use shared::domain::Scope;
use shared::domain::{AgencyUpsert, AgentUpsert, EventOrder};
use shared::domain::{Email, Evidence, EvidenceId, Fact, MAX_AGENCY_DEPTH, Name, Npn, Policy, PolicyStatus};
use shared::ports::StoreError;

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
    /// The outbox relay's schedule fires.
    Relay,
    /// The daily digest's schedule fires.
    Digest,
}

/// How an event ended: applied, or refused for good (as event-ingest sends it to the dead-letter
/// queue: retrying cannot change the answer).
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Applied,
    Refused,
    /// A directory job out of time: the event goes back on the queue to go on from where it got
    /// to (as event-ingest puts it back).
    Paused,
}

/// How directory jobs run: to the end, or a page of `rows` rows at a time, pausing after each
/// (every job is then paused and resumed while other writers race it).
#[derive(Clone, Copy)]
enum Jobs {
    ToTheEnd,
    Paused { rows: i32 },
}

/// Whether the process applying an event dies right after its first transaction (the evidence's
/// write, or a placement when that write was done before): SQS delivers the event again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dies {
    No,
    AfterAWrite,
}

async fn apply(system: &System, event: &Event, jobs: Jobs, dies: Dies) -> Result<Outcome, String> {
    let store = match dies {
        Dies::No => system.store().clone(),
        Dies::AfterAWrite => system.store_dying_after_a_transaction(devkit::principals::EVENT_INGEST),
    };
    let (store, until) = match jobs {
        Jobs::ToTheEnd => (store, None),
        Jobs::Paused { rows } => (store.with_job_page(rows), Some(std::time::Instant::now())),
    };
    let upserted = |outcome| match outcome {
        shared::ports::UpsertOutcome::Paused => Outcome::Paused,
        _ => Outcome::Applied,
    };
    let done = match event {
        Event::Agency(upsert, at) => store.upsert_agency_until(upsert, at, until).await.map(upserted),
        Event::Agent(upsert, at) => store.upsert_agent_until(upsert, at, until).await.map(upserted),
        Event::Evidence(app, evidence) => {
            store.apply_evidence(app, evidence, Utc::now()).await.map(|_| Outcome::Applied)
        }
        Event::Visit(scope) => store.record_visit(scope, year(), Utc::now()).await.map(|_| Outcome::Applied),
        Event::Relay => {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
            return outbox_relay::relay::relay(&system.relay, until)
                .await
                .map(|_| Outcome::Applied)
                .map_err(|err| err.to_string());
        }
        Event::Digest => {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
            return daily_digest::run::run(&system.digest, Utc::now(), until)
                .await
                .map(|_| Outcome::Applied)
                .map_err(|err| err.to_string());
        }
    };
    match done {
        Ok(outcome) => Ok(outcome),
        Err(StoreError::Cycle(_) | StoreError::TooDeep(_)) => Ok(Outcome::Refused),
        Err(err) => Err(err.to_string()),
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
    let years = [year(), next_year()];

    let mut parent_of: Vec<Option<usize>> = agencies.iter().map(|(_, p)| *p).collect();
    let mut agency_name: Vec<u32> = vec![0; agencies.len()];
    let mut agent_state: Vec<(usize, u32, Role)> =
        (0..agents.len()).map(|_| (rng.random_range(0..agencies.len()), 0, Role::Agent)).collect();
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
    let agent_event = |a: usize, agency: usize, name: u32, role: Role, at| {
        Event::Agent(
            AgentUpsert {
                agent_id: agent_id(&agents[a]),
                agency_id: agency_id(&agency_ids[agency]),
                name: Name::parse(format!("Agent {a} v{name}")).unwrap(),
                email: Email::parse(format!("agent-{a}.v{name}@example.com")).unwrap(),
                npn: Npn::parse(npn(a)).unwrap(),
                role,
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
    let mut last_evidence_at = t(0);
    for step in 0..steps {
        // Now and then evidence dated the same second as the evidence before it: its id decides.
        let at = if rng.random_bool(0.2) { last_evidence_at } else { t(step as i64) };
        let directory_at = dated(step, step / 2);
        let app = ApplicationKey {
            id: shared::domain::FederalExchangeId::parse(apps.choose(&mut rng).unwrap()).unwrap(),
            year: *years.choose(&mut rng).unwrap(),
        };
        let id = EvidenceId::parse(format!("e{step}")).unwrap();
        let roll = rng.random_range(0..100);
        let event = if let (true, Some(i)) = (roll < 25, to_create.last().copied()) {
            to_create.pop();
            agency_event(i, parent_of[i], agency_name[i], directory_at)
        } else if roll < 35 {
            let a = rng.random_range(0..agents.len());
            let (agency, name, role) = &mut agent_state[a];
            match rng.random_range(0..4) {
                0 => *agency = rng.random_range(0..agencies.len()),
                1 => *name += 1,
                2 => *role = if *role == Role::Agent { Role::AgencyAdmin } else { Role::Agent },
                _ => {}
            }
            agent_event(a, *agency, *name, *role, directory_at)
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
            last_evidence_at = at;
            let by = rng.random_range(0..agents.len());
            // Now and then under another agent's NPN: servicing someone else's client.
            let under = if rng.random_bool(0.2) { rng.random_range(0..agents.len()) } else { by };
            let fact = Fact::Submitted {
                agent_id: agent_id(&agents[by]),
                npn: Npn::parse(npn(under)).unwrap(),
                client_name: Name::parse(format!("Client {step}")).unwrap(),
            };
            Event::Evidence(app, Evidence { id, at, fact })
        } else if roll < 88 {
            last_evidence_at = at;
            let aor = rng.random_bool(0.85).then(|| Npn::parse(npn(rng.random_range(0..agents.len()))).unwrap());
            let policies = vec![Policy { policy_id: "P1".into(), status: PolicyStatus::Effectuated, aor_npn: aor }];
            Event::Evidence(app, Evidence { id, at, fact: Fact::Synced { policies, again: Vec::new() } })
        } else if roll < 94 {
            last_evidence_at = at;
            let fact = Fact::PermissionRevoked { agent_id: agent_id(&agents[rng.random_range(0..agents.len())]) };
            Event::Evidence(app, Evidence { id, at, fact })
        } else {
            last_evidence_at = at;
            let fact = Fact::ArchiveSet {
                agent_id: agent_id(&agents[rng.random_range(0..agents.len())]),
                archived: rng.random_bool(0.6),
            };
            Event::Evidence(app, Evidence { id, at, fact })
        };
        events.push(event);
    }
    // One event that can never succeed, somewhere in the stream: an agency under itself.
    let poison = Event::Agency(
        AgencyUpsert {
            agency_id: agency_id("poison"),
            name: Name::parse("Agency poison").unwrap(),
            parent_agency_id: Some(agency_id("poison")),
            agent_exports_enabled: true,
        },
        dated(steps, steps / 2),
    );
    let at = rng.random_range(0..=events.len());
    events.insert(at, poison);
    // A tree at the depth cap (`deep_tree`, there before the stream): its agent's book takes part,
    // and a move that would put `m`'s child past the cap is refused, whenever it comes.
    let past_the_cap = Event::Agency(
        AgencyUpsert {
            agency_id: agency_id("m"),
            name: Name::parse("Agency m").unwrap(),
            parent_agency_id: Some(agency_id(&format!("deep{}", MAX_AGENCY_DEPTH - 1))),
            agent_exports_enabled: true,
        },
        dated(steps + 1, steps / 3),
    );
    let at = rng.random_range(0..=events.len());
    events.insert(at, past_the_cap);
    for k in 0..3 {
        let app = ApplicationKey {
            id: shared::domain::FederalExchangeId::parse(apps.choose(&mut rng).unwrap()).unwrap(),
            year: *years.choose(&mut rng).unwrap(),
        };
        let fact = Fact::Submitted {
            agent_id: agent_id(DEEP_AGENT),
            npn: Npn::parse(DEEP_NPN).unwrap(),
            client_name: Name::parse(format!("Client deep {k}")).unwrap(),
        };
        let at_step = rng.random_range(0..steps);
        let evidence = Evidence { id: EvidenceId::parse(format!("deep-e{k}")).unwrap(), at: t(at_step as i64), fact };
        let at = rng.random_range(0..=events.len());
        events.insert(at, Event::Evidence(app, evidence));
    }
    // Agencies that never came up in the stream arrive at its end: the latest of all.
    for (k, i) in to_create.into_iter().rev().enumerate() {
        events.push(agency_event(i, parent_of[i], agency_name[i], dated(steps + 1 + k, steps + 1 + k)));
    }
    (agency_ids, agents, events)
}

/// The agent at the bottom of the tree at the depth cap, and their NPN.
const DEEP_AGENT: &str = "agent-deep";
const DEEP_NPN: &str = "7099";

/// What every run starts from, applied in order before the stream: a chain of agencies exactly as
/// deep as the tree may be (`deep1` at the top, `deep18` at the cap), an agent in the deepest, and
/// `m` with a child `m1`, which may go below `deep16` but never below `deep17` (its child would be
/// past the cap). Dated a day before the stream, so no event of the stream is older.
fn deep_tree() -> Vec<Event> {
    let before = |k: usize| EventOrder {
        time: t(0) - chrono::Duration::days(1) + chrono::Duration::seconds(k as i64),
        event_id: format!("setup-{k:03}"),
    };
    let agency = |id: String, parent: Option<String>, k| {
        Event::Agency(
            AgencyUpsert {
                agency_id: agency_id(&id),
                name: Name::parse(format!("Agency {id}")).unwrap(),
                parent_agency_id: parent.map(|p| agency_id(&p)),
                agent_exports_enabled: true,
            },
            before(k),
        )
    };
    let mut setup: Vec<Event> = (1..=MAX_AGENCY_DEPTH)
        .map(|level| agency(format!("deep{level}"), (level > 1).then(|| format!("deep{}", level - 1)), level))
        .collect();
    setup.push(agency("m".into(), None, 100));
    setup.push(agency("m1".into(), Some("m".into()), 101));
    setup.push(Event::Agent(
        AgentUpsert {
            agent_id: agent_id(DEEP_AGENT),
            agency_id: agency_id(&format!("deep{MAX_AGENCY_DEPTH}")),
            name: Name::parse("Agent deep").unwrap(),
            email: Email::parse("agent-deep@example.com").unwrap(),
            npn: Npn::parse(DEEP_NPN).unwrap(),
            role: Role::Agent,
        },
        before(102),
    ));
    setup
}

/// One event after another, in time order, then the relay to the end. Returns the events
/// refused.
async fn in_order(system: &System, events: &[Event]) -> usize {
    let mut refused = 0;
    for event in events.iter().chain([&Event::Relay]) {
        if apply(system, event, Jobs::ToTheEnd, Dies::No).await.unwrap_or_else(|e| panic!("{event:?}: {e}"))
            == Outcome::Refused
        {
            refused += 1;
        }
    }
    refused
}

/// Shuffled, a third of the events twice, by concurrent workers, with the relay and the digest
/// among them; an event that fails for a passing reason goes back on the queue, as SQS would
/// deliver it again, and one refused for good is not retried. Directory jobs pause every two rows
/// and their events go back on the queue, so jobs resume while writers race them. Ends with the relay to the end.
/// Returns the distinct events refused.
async fn shuffled_and_concurrent(system: &Arc<System>, events: &[Event], seed: u64) -> usize {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut stream: Vec<Event> = events.to_vec();
    stream.extend(events.iter().filter(|_| rng.random_bool(0.33)).cloned());
    // People open their lists and admins their agencies' views while all this happens: the
    // checker holds every count to account.
    stream.extend((0..6).map(|i| Event::Visit(Scope::Agent(agent_id(&format!("agent-{i}"))))));
    stream.extend(["top", "l1", "l2", "x0"].map(|a| Event::Visit(Scope::Agency(agency_id(a)))));
    stream.extend((0..4).map(|_| Event::Relay));
    stream.extend((0..2).map(|_| Event::Digest));
    stream.shuffle(&mut rng);
    let refused = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    // Everyone asked for the daily digest, so that its runs read the lists while they change.
    for i in 0..6 {
        let on = shared::domain::SettingsChange { daily_digest: Some(true), digest_scope: None };
        system.store().change_person_settings(&agent_id(&format!("agent-{i}")), on, Utc::now()).await.unwrap();
    }
    let queue = Arc::new(std::sync::Mutex::new(stream.into_iter().map(|e| (e, 0u32)).collect::<VecDeque<_>>()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (system, queue, refused) = (system.clone(), queue.clone(), refused.clone());
            tokio::spawn(async move {
                loop {
                    let Some((event, tries)) = queue.lock().unwrap().pop_front() else { return };
                    // One evidence delivery in five, the first time, dies after its write.
                    let dies = match &event {
                        Event::Evidence(_, evidence)
                            if tries == 0 && evidence.id.as_str().bytes().map(u32::from).sum::<u32>() % 5 == 0 =>
                        {
                            Dies::AfterAWrite
                        }
                        _ => Dies::No,
                    };
                    match apply(&system, &event, Jobs::Paused { rows: 2 }, dies).await {
                        Ok(Outcome::Applied) => {}
                        Ok(Outcome::Paused) => queue.lock().unwrap().push_back((event, tries)),
                        Ok(Outcome::Refused) => {
                            refused.lock().unwrap().insert(format!("{event:?}"));
                        }
                        Err(err) => {
                            assert!(tries < 20, "{event:?} kept failing: {err}");
                            queue.lock().unwrap().push_back((event, tries + 1));
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a worker panicked");
    }
    assert_eq!(apply(system, &Event::Relay, Jobs::ToTheEnd, Dies::No).await, Ok(Outcome::Applied));
    refused.lock().unwrap().len()
}

/// What people read, without the one thing that differs by when the system saw it (the time an
/// entry was flagged): every list, every total, every entry.
async fn what_people_read(
    world: &World,
    agencies: &[String],
    agents: &[String],
) -> BTreeMap<String, serde_json::Value> {
    let mut read = BTreeMap::new();
    let scopes: Vec<Scope> = agents
        .iter()
        .map(|a| Scope::Agent(agent_id(a)))
        .chain(agencies.iter().map(|a| Scope::Agency(agency_id(a))))
        .collect();
    for (scope, year) in scopes.iter().flat_map(|scope| [(scope, year()), (scope, next_year())]) {
        let mut rows = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = world.store.risk_rows(scope, year, ArchivedFilter::Include, 50, after.as_deref()).await.unwrap();
            for row in page.rows {
                // What the row shows: what it counts depends on when people visited (the
                // checker checks the counts), its version on how often it was written.
                let mut row = serde_json::to_value(row.shown()).unwrap();
                // When an entry was listed is when this system flagged it, which depends on the
                // order the events came in; so do the row's keys and its place in the list.
                for unstable in ["flagged_at", "sk", "gsi1sk"] {
                    row.as_object_mut().unwrap().remove(unstable);
                }
                rows.push(row);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        rows.sort_by_key(|row| row.to_string());
        read.insert(format!("list {scope:?} {year}"), serde_json::Value::Array(rows));
        let stats = world.store.counts(scope, year).await.unwrap();
        // (The new-since-visit count depends on when people visited: the checker checks it.)
        read.insert(format!("total {scope:?} {year}"), serde_json::json!(stats.at_risk_total));
    }
    let apps = ["0800", "0801", "0802", "0803"];
    for (app, year) in apps.iter().flat_map(|app| [(app, year()), (app, next_year())]) {
        let key = ApplicationKey { id: shared::domain::FederalExchangeId::parse(*app).unwrap(), year };
        let app = format!("{app} {year}");
        let stored = world.store.application(&key).await.unwrap();
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

/// One row as the model and the lists are compared: application, plan year, agent, reason, other
/// NPN, archived, at risk since.
type ModelRow = (String, String, String, String, Option<String>, bool, String);

/// The lists an independent reading of the rules gives (SPEC §3, written from the spec rather
/// than from `shared::domain`): each application's evidence replayed newest last (time, then id),
/// each at-risk entry listed in its agent's list and in every agency's on the agent's path in the
/// directory the newest events describe. Keyed as `what_people_read` keys its lists.
fn model_lists(events: &[Event]) -> BTreeMap<String, BTreeSet<ModelRow>> {
    // The directory: the newest event about each agency and agent (an agency under itself never
    // lands).
    let mut agencies: BTreeMap<String, (EventOrder, Option<String>)> = BTreeMap::new();
    let mut agents: BTreeMap<String, (EventOrder, String)> = BTreeMap::new();
    // Agency events in their order (time, then id), each landing only if the tree it makes has
    // no loop and no path longer than the cap.
    let mut agency_events: Vec<(&EventOrder, &AgencyUpsert)> = events
        .iter()
        .filter_map(|event| match event {
            Event::Agency(upsert, at) => Some((at, upsert)),
            _ => None,
        })
        .collect();
    agency_events.sort_by(|a, b| a.0.cmp(b.0));
    for (at, upsert) in agency_events {
        let id = upsert.agency_id.as_str().to_owned();
        let parent = upsert.parent_agency_id.as_ref().map(|p| p.as_str().to_owned());
        if agencies.get(&id).is_some_and(|(seen, _)| seen > at) {
            continue;
        }
        let before = agencies.insert(id.clone(), (at.clone(), parent));
        let depth_of = |start: &String| {
            let mut depth = 1;
            let mut next = agencies.get(start).and_then(|(_, p)| p.clone());
            while let Some(up) = next {
                depth += 1;
                if depth > MAX_AGENCY_DEPTH {
                    return depth;
                }
                next = agencies.get(&up).and_then(|(_, p)| p.clone());
            }
            depth
        };
        if agencies.keys().any(|agency| depth_of(agency) > MAX_AGENCY_DEPTH) {
            match before {
                Some(before) => agencies.insert(id, before),
                None => agencies.remove(&id),
            };
        }
    }
    // Each application's evidence (by id and plan year), in the order it is applied: time, then
    // the platform's evidence by id before the marketplace's answers (`Evidence::order_key`).
    type Log = BTreeMap<(chrono::DateTime<Utc>, u8, String), Fact>;
    let mut evidence: BTreeMap<(String, String), Log> = BTreeMap::new();
    for event in events {
        match event {
            Event::Agent(upsert, at) => {
                let agency = upsert.agency_id.as_str().to_owned();
                let slot = agents.entry(upsert.agent_id.as_str().to_owned()).or_insert((at.clone(), agency.clone()));
                if *at >= slot.0 {
                    *slot = (at.clone(), agency);
                }
            }
            Event::Evidence(app, e) => {
                let key = (app.id.as_str().to_owned(), app.year.to_string());
                evidence.entry(key).or_default().insert(e.order_key(), e.fact.clone());
            }
            _ => {}
        }
    }
    // Per entry: expected NPN, archived, and (reason, other NPN, since) while at risk.
    struct Entry {
        npn: String,
        archived: bool,
        risk: Option<(&'static str, Option<String>, chrono::DateTime<Utc>)>,
    }
    let mut lists: BTreeMap<String, BTreeSet<ModelRow>> = BTreeMap::new();
    for ((app, year), log) in evidence {
        let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
        for ((at, _, _), fact) in log {
            // Each entry's verdict from this evidence: `Some(Some(..))` at risk, `Some(None)`
            // the AOR is its own, `None` this evidence says nothing about it.
            type Verdict = Option<Option<(&'static str, Option<String>)>>;
            type Judge = Box<dyn Fn(&str, &Entry) -> Verdict>;
            let verdict: Judge = match &fact {
                Fact::Submitted { agent_id, npn, .. } => {
                    let (by, npn) = (agent_id.as_str().to_owned(), npn.as_str().to_owned());
                    let servicing = entries.values().any(|e| e.npn == npn);
                    match entries.get_mut(&by) {
                        Some(own) => own.npn = npn.clone(),
                        // Under an NPN an entry expects, the agent is servicing that client.
                        None if servicing => {}
                        None => {
                            entries.insert(by, Entry { npn: npn.clone(), archived: false, risk: None });
                        }
                    }
                    Box::new(move |_, e: &Entry| {
                        Some((e.npn != npn).then(|| ("platform_submission", Some(npn.clone()))))
                    })
                }
                Fact::Synced { policies, .. } => {
                    let active: Vec<Option<String>> = policies
                        .iter()
                        .filter(|p| !matches!(p.status, PolicyStatus::Cancelled | PolicyStatus::Terminated))
                        .map(|p| p.aor_npn.as_ref().map(|n| n.as_str().to_owned()))
                        .collect();
                    Box::new(move |_, e: &Entry| {
                        let foreign = active.iter().find(|aor| aor.as_deref() != Some(e.npn.as_str()));
                        Some(foreign.map(|aor| ("marketplace_aor_mismatch", aor.clone())))
                    })
                }
                Fact::ArchiveSet { agent_id, archived } => {
                    if let Some(entry) = entries.get_mut(agent_id.as_str()) {
                        entry.archived = *archived;
                    }
                    Box::new(|_, _: &Entry| None)
                }
                Fact::PermissionRevoked { agent_id } => {
                    // That agent's entry only: at risk until its NPN shows again.
                    let whose = agent_id.as_str().to_owned();
                    Box::new(move |agent, _: &Entry| (agent == whose).then_some(Some(("ede_permission_revoked", None))))
                }
            };
            for (agent, entry) in entries.iter_mut() {
                match verdict(agent, entry) {
                    None => {}
                    Some(None) => entry.risk = None,
                    Some(Some((reason, other))) => {
                        let since = entry.risk.as_ref().map_or(at, |r| r.2);
                        entry.risk = Some((reason, other, since));
                    }
                }
            }
        }
        for (agent, entry) in entries {
            let Some((reason, other, since)) = entry.risk else { continue };
            let row = (
                app.clone(),
                year.clone(),
                agent.clone(),
                reason.to_owned(),
                other,
                entry.archived,
                serde_json::json!(since).as_str().unwrap().to_owned(),
            );
            let mut scopes = vec![Scope::Agent(agent_id(&agent))];
            if let Some((_, agency)) = agents.get(&agent) {
                // The agent's agency and every one above it, by the parent links.
                let mut at = Some(agency.clone());
                while let Some(id) = at {
                    at = agencies.get(&id).and_then(|(_, parent)| parent.clone());
                    scopes.push(Scope::Agency(agency_id(&id)));
                }
            }
            for scope in scopes {
                lists.entry(format!("list {scope:?} {year}")).or_default().insert(row.clone());
            }
        }
    }
    lists
}

/// The rows of the lists read, as the model gives them.
fn as_model_rows(read: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, BTreeSet<ModelRow>> {
    read.iter()
        .filter(|(key, _)| key.starts_with("list "))
        .map(|(key, rows)| {
            let rows: BTreeSet<ModelRow> = rows
                .as_array()
                .unwrap()
                .iter()
                .map(|row| {
                    let text = |field: &str| row[field].as_str().unwrap().to_owned();
                    (
                        text("federal_exchange_id"),
                        row["plan_year"].to_string(),
                        text("agent_id"),
                        text("reason"),
                        row["other_npn"].as_str().map(str::to_owned),
                        row["archived"].as_bool().unwrap(),
                        text("at_risk_since"),
                    )
                })
                .collect();
            (key.clone(), rows)
        })
        .filter(|(_, rows)| !rows.is_empty())
        .collect()
}

#[tokio::test]
async fn any_order_duplication_and_concurrency_of_the_same_events_gives_the_same_lists() {
    let number = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (seeds, steps) = (number("CONVERGENCE_SEEDS", 20), number("CONVERGENCE_STEPS", 40) as usize);
    for seed in 0..seeds {
        let (mut agencies, mut agents, events) = scenario(seed, steps);
        let setup = deep_tree();
        agencies.extend((1..=MAX_AGENCY_DEPTH).map(|level| format!("deep{level}")).chain(["m".into(), "m1".into()]));
        agents.push(DEEP_AGENT.into());
        let (ordered, concurrent) = tokio::join!(system(1000.0), system(1000.0));
        for system in [&ordered, &concurrent] {
            for event in &setup {
                let applied = apply(system, event, Jobs::ToTheEnd, Dies::No).await;
                assert_eq!(applied, Ok(Outcome::Applied), "{event:?}");
            }
        }
        let concurrent = Arc::new(concurrent);
        let refused_in_order = in_order(&ordered, &events).await;
        let refused_concurrently = shuffled_and_concurrent(&concurrent, &events, seed).await;
        assert_eq!(
            (refused_in_order, refused_concurrently),
            (2, 2),
            "seed {seed}: only the agency under itself and the move past the depth cap are refused"
        );
        let (ordered, concurrent) = (&ordered.world, &concurrent.world);

        for (name, world) in [("in order", ordered), ("concurrent", concurrent)] {
            let differences = devkit::verify::verify(&world.store).await.unwrap();
            let report: Vec<String> = differences.iter().map(ToString::to_string).collect();
            assert!(report.is_empty(), "seed {seed}, {name}: the checker found\n{}", report.join("\n"));
        }
        let (want, got) = tokio::join!(
            what_people_read(ordered, &agencies, &agents),
            what_people_read(concurrent, &agencies, &agents)
        );
        for (key, value) in &want {
            assert_eq!(Some(value), got.get(key), "seed {seed}: {key} differs");
        }
        // And both are what the rules say, read independently of the code.
        let model = model_lists(&[setup, events].concat());
        let listed = as_model_rows(&want);
        for key in model.keys().chain(listed.keys()) {
            assert_eq!(model.get(key), listed.get(key), "seed {seed}: {key} is not what the rules say");
        }
        assert!(
            want.values().any(|v| v.as_array().is_some_and(|rows| !rows.is_empty())),
            "seed {seed}: something is at risk"
        );
    }
}

//! Freshness: how long from a platform event on the bus to its entry in every list it belongs in,
//! through the whole path AWS runs (EventBridge, its rule, the ingest queue, event-ingest as
//! Lambda polls it). The write of an event's evidence marks its application unplaced, and the
//! mark comes off only once every entry of the application is placed as that write left it (or
//! a newer write has its own mark). So an event is fresh once its evidence is stored and the
//! application has no mark left — what this polls for. An event not fresh within a minute counts
//! as a minute.
//!
//! Two loads: swaps of distinct applications at a sustained rate (`BENCH_FRESH_EVENTS`, default
//! 300, at `BENCH_FRESH_RATE` a second, default 5), and one application submitted by 24 agents
//! in turn, each taking it from every book before (the hot application).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use devkit::resources::LocalResources;
use serde_json::json;
use shared::domain::{AgentId, ApplicationKey, Evidence};
use store::Store;
use store::keys;

use crate::fixtures::{YEAR, agency, key, minute, person, submission};
use crate::{Failure, Report};

pub(crate) async fn freshness(
    sdk: &shared::aws::SdkConfig,
    resources: &LocalResources,
    report: &mut Report,
) -> Result<(), Failure> {
    let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), resources.table.clone());
    let mut vars = shared::config::Vars::from_env();
    for (name, value) in resources.env() {
        vars = vars.with(name, value);
    }
    devkit::serve::spawn_ingest(sdk, resources, &vars).await?;
    let bus = Bus { events: aws_sdk_eventbridge::Client::new(sdk), name: resources.event_bus.clone() };

    // A tree three levels deep (top, 2 regions, 8 offices), 24 owners in the offices and a rival
    // outside it.
    let now = Utc::now();
    store.upsert_agency(&agency("f-top".into(), None), now).await?;
    let mut offices = Vec::new();
    for region in 0..2 {
        store.upsert_agency(&agency(format!("f-r{region}"), Some("f-top".into())), now).await?;
        for office in 0..4 {
            let id = format!("f-r{region}-o{office}");
            store.upsert_agency(&agency(id.clone(), Some(format!("f-r{region}"))), now).await?;
            offices.push(id);
        }
    }
    let owners: Vec<String> = (0..24).map(|i| format!("f-owner-{i}")).collect();
    for (i, owner) in owners.iter().enumerate() {
        store.upsert_agent(&person(owner, &offices[i % offices.len()], &format!("5{i:03}")), now).await?;
    }
    store.upsert_agency(&agency("f-rivals".into(), None), now).await?;
    store.upsert_agent(&person("f-rival", "f-rivals", "999"), now).await?;

    // Sustained: each event a swap of an application its owner submitted before.
    let vars = shared::config::Vars::from_env();
    let events = vars.whole("BENCH_FRESH_EVENTS", 300u32)? as usize;
    let rate = vars.positive("BENCH_FRESH_RATE", 5.0)?;
    let books: Vec<(ApplicationKey, Vec<Evidence>)> = (0..events)
        .map(|i| {
            (key(&format!("6{i:07}")), vec![submission(format!("f-own-{i}"), 0, &owners[i % owners.len()], "5000")])
        })
        .collect();
    let ids: BTreeSet<AgentId> = owners.iter().map(AgentId::parse).collect::<Result<_, _>>()?;
    store.import(&books, &store.owner_items(ids).await?, Utc::now()).await?;
    let swaps: Vec<Swap> = (0..events)
        .map(|i| Swap {
            app: books[i].0.clone(),
            submission: format!("f-swap-{i}"),
            by: "f-rival".into(),
            npn: "999".into(),
            minute: 1_000 + i as i64,
        })
        .collect();
    let mut took = publish_and_watch(&bus, &store, swaps, rate).await?;
    let (p50, p99) = percentiles(&mut took);
    report.add(
        format!("freshness: platform event to every list it belongs in, {events} swaps at {rate}/s: p50, p99"),
        format!("{:.2} s, {:.2} s", p50.as_secs_f64(), p99.as_secs_f64()),
        "p99 ≤ 5 s",
        p99 <= Duration::from_secs(5),
    );

    // The hot application: submitted by the 24 owners in turn at the same rate, each submission
    // taking it from all the books before.
    let hot = key("69999999");
    let turns: Vec<Swap> = owners
        .iter()
        .enumerate()
        .map(|(i, owner)| Swap {
            app: hot.clone(),
            submission: format!("f-hot-{i}"),
            by: owner.clone(),
            npn: format!("5{i:03}"),
            minute: 2_000 + i as i64,
        })
        .collect();
    let mut took = publish_and_watch(&bus, &store, turns, rate).await?;
    let (p50, p99) = percentiles(&mut took);
    report.add(
        format!(
            "freshness: one application submitted by 24 agents in turn at {rate}/s, each event to every list: p50, p99"
        ),
        format!("{:.2} s, {:.2} s", p50.as_secs_f64(), p99.as_secs_f64()),
        "p99 ≤ 30 s",
        p99 <= Duration::from_secs(30),
    );
    Ok(())
}

struct Bus {
    events: aws_sdk_eventbridge::Client,
    name: String,
}

/// A submission of `app` by `by`, dated `minute` minutes into the plan year.
struct Swap {
    app: ApplicationKey,
    submission: String,
    by: String,
    npn: String,
    minute: i64,
}

/// Publishes each swap at `rate` a second, and returns how long each took to be in every list.
async fn publish_and_watch(bus: &Bus, store: &Store, swaps: Vec<Swap>, rate: f64) -> Result<Vec<Duration>, Failure> {
    let gap = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut watchers = Vec::new();
    for (i, swap) in swaps.into_iter().enumerate() {
        tokio::time::sleep_until((start + gap.mul_f64(i as f64)).into()).await;
        let detail = json!({"submission_id": swap.submission, "federal_exchange_id": swap.app.id.as_str(), "plan_year": YEAR,
            "client_name": "Client", "agent_id": swap.by, "npn": swap.npn, "submitted_at": minute(swap.minute).to_rfc3339()});
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .source("enrollment-platform")
            .detail_type("Application Submitted")
            .detail(detail.to_string())
            .event_bus_name(&bus.name)
            .build();
        let published = Instant::now();
        let out = bus.events.put_events().entries(entry).send().await?;
        if out.failed_entry_count != 0 {
            return Err("the bus refused an event".into());
        }
        let evidence = keys::evidence_sk(minute(swap.minute), &shared::domain::EvidenceId::parse(swap.submission)?);
        let (store, app) = (store.clone(), swap.app);
        watchers.push(tokio::spawn(async move {
            let within = fresh(&store, &app, &evidence).await?;
            Ok::<_, String>(if within { published.elapsed() } else { LONGEST })
        }));
    }
    let mut took = Vec::new();
    for watcher in watchers {
        took.push(watcher.await??);
    }
    Ok(took)
}

/// How long a watcher waits for an event to be fresh.
const LONGEST: Duration = Duration::from_secs(60);

/// Waits (`LONGEST` at most) until the evidence `evidence_sk` of `app` is stored and placed;
/// `false` when it was not.
async fn fresh(store: &Store, app: &ApplicationKey, evidence_sk: &str) -> Result<bool, String> {
    let pk = keys::application_pk(app.year, &app.id);
    let dynamo = store.raw_client();
    let get = |sk: String| {
        dynamo
            .get_item()
            .table_name(store.table())
            .key(keys::PK, AttributeValue::S(pk.clone()))
            .key(keys::SK, AttributeValue::S(sk))
            .consistent_read(true)
            .send()
    };
    let deadline = Instant::now() + LONGEST;
    while Instant::now() < deadline {
        let stored = get(evidence_sk.to_owned()).await.map_err(|err| err.to_string())?.item.is_some();
        if stored {
            let meta = get(keys::META_SK.to_owned()).await.map_err(|err| err.to_string())?.item.unwrap_or_default();
            if !meta.contains_key(keys::GSI1_PK) {
                return Ok(true);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(false)
}

/// The median and the 99th percentile (none taken: zero).
fn percentiles(took: &mut [Duration]) -> (Duration, Duration) {
    if took.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    took.sort();
    let at = |q: f64| took[((took.len() as f64 * q).ceil() as usize).clamp(1, took.len()) - 1];
    (at(0.50), at(0.99))
}

//! The outbox relay draining a backlog: changes flagged in one tree (each a take the relay counts
//! into the three agencies above its owner, and an event it publishes), drained once by one
//! worker going through the shards in turn and once by the relay as it runs (a worker per shard,
//! all at once). The emulator makes every AWS call take `BENCH_LATENCY_MS` (default 25: a
//! transaction of seven items or a `PutEvents` takes tens of milliseconds on AWS) and holds
//! committed transactions as DynamoDB does (`BENCH_HOLD_MS`, default 20), so that what parallel
//! workers gain, and what they cost each other in conflicts, shows here as on AWS. The emulator
//! serves table requests one at a time, which caps any drain rate here: a third drain, all
//! workers with no latency, measures that ceiling.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use devkit::resources::LocalResources;
use outbox_relay::relay::{self, RelayReport};
use shared::domain::{AgentId, ApplicationKey, Evidence};
use store::Store;
use store::keys::APPLICATION_SHARDS;

use crate::fixtures::{key, submission};
use crate::{Failure, Report};

pub(crate) async fn drain(
    sdk: &shared::aws::SdkConfig,
    resources: &LocalResources,
    report: &mut Report,
) -> Result<(), Failure> {
    let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), resources.table.clone());
    let deps = outbox_relay::app::Deps {
        store: store.clone(),
        events: aws_sdk_eventbridge::Client::new(sdk),
        bus: resources.aor_events_bus.clone(),
        spike_rule: shared::domain::SpikeRule::default(),
    };
    let owners = crate::contention::tree_of_writers(&store, "d", '6', "997").await?;

    let vars = shared::config::Vars::from_env();
    let backlog = vars.whole("BENCH_RELAY_BACKLOG", 320u32)? as usize;
    let latency = vars.whole("BENCH_LATENCY_MS", 25u32)?;
    let hold = vars.whole("BENCH_HOLD_MS", 20u32)?;
    let until = Instant::now() + Duration::from_secs(3_600);

    crate::emulator::set_latency(latency).await?;
    crate::emulator::set_transaction_hold(hold).await?;
    flag(&store, &owners, '7', backlog).await?;
    let started = Instant::now();
    let mut one = RelayReport::default();
    for shard in 0..APPLICATION_SHARDS {
        one += relay::relay_shard(&deps, shard, until).await?.report;
    }
    let one_rate = f64::from(one.items) / started.elapsed().as_secs_f64();

    flag(&store, &owners, '8', backlog).await?;
    let started = Instant::now();
    let all = relay::relay(&deps, until).await?;
    let all_rate = f64::from(all.items) / started.elapsed().as_secs_f64();

    crate::emulator::set_latency(0).await?;
    flag(&store, &owners, '9', backlog).await?;
    let started = Instant::now();
    let ceiling = relay::relay(&deps, until).await?;
    let ceiling_rate = f64::from(ceiling.items) / started.elapsed().as_secs_f64();
    crate::emulator::set_transaction_hold(0).await?;

    let whole = |run: &RelayReport| run.items as usize == backlog && run.counted as usize == backlog && run.failed == 0;
    report.add(
        format!("relay drain rate, a backlog of {backlog} changes in one tree (each a take counted into 3 agencies), AWS calls taking {latency} ms, transactions held {hold} ms"),
        format!(
            "{all_rate:.0} changes/s, a worker per shard; {one_rate:.0}/s one worker (the emulator's ceiling, no latency: {ceiling_rate:.0}/s)"
        ),
        "≥ 4× one worker",
        all_rate >= 4.0 * one_rate && [all, one, ceiling].iter().all(whole),
    );
    Ok(())
}

/// Puts `backlog` changes in the outbox: applications (ids starting with `series`) each submitted
/// by one of `owners`, then taken by the rival.
async fn flag(store: &Store, owners: &[String], series: char, backlog: usize) -> Result<(), Failure> {
    let books: Vec<(ApplicationKey, Vec<Evidence>)> = (0..backlog)
        .map(|i| {
            let owner = &owners[i % owners.len()];
            let logs = vec![
                submission(format!("d-own-{series}{i}"), 0, owner, &format!("6{:03}", i % owners.len())),
                submission(format!("d-swap-{series}{i}"), 1_000, "d-rival", "997"),
            ];
            (key(&format!("{series}{i:07}")), logs)
        })
        .collect();
    let ids: BTreeSet<AgentId> = owners.iter().map(AgentId::parse).collect::<Result<_, _>>()?;
    store.import(&books, &store.owner_items(ids).await?, Utc::now()).await?;
    Ok(())
}

//! Writers racing in one tree: 16 at once, each flagging entries of its own agent's book, all
//! under the same top agency, with the emulator holding each transaction's items for as long as
//! DynamoDB takes to commit one (`BENCH_HOLD_MS`, default 20), so that racing transactions conflict
//! as they do on AWS. Placement retries per placement: how much the items every placement in a
//! tree shares (its agencies' counters and versions) cost when writers are many.

use shared::ports::Applications;
use std::collections::BTreeSet;

use chrono::Utc;
use shared::domain::{AgentId, ApplicationKey, Evidence};
use store::Store;

use crate::fixtures::{agency, key, person, submission};
use crate::{Failure, Report};

const WRITERS: usize = 16;
const SWAPS_EACH: usize = 10;

pub(crate) async fn contention(store: &Store, report: &mut Report) -> Result<(), Failure> {
    let owners = tree_of_writers(store, "c", '4', "998").await?;
    let books: Vec<(ApplicationKey, Vec<Evidence>)> = (0..WRITERS * SWAPS_EACH)
        .map(|i| (key(&format!("3{i:07}")), vec![submission(format!("c-own-{i}"), 0, &owners[i % WRITERS], "4000")]))
        .collect();
    let ids: BTreeSet<AgentId> = owners.iter().map(AgentId::parse).collect::<Result<_, _>>()?;
    store.import(&books, &store.owner_items(ids).await?, Utc::now()).await?;

    let hold_ms = shared::config::Vars::from_env().whole("BENCH_HOLD_MS", 20u32)?;
    crate::emulator::set_transaction_hold(hold_ms).await?;
    store.take_placement_conflicts();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (store, apps) = (
                store.clone(),
                books.iter().skip(writer).step_by(WRITERS).map(|(app, _)| app.clone()).collect::<Vec<_>>(),
            );
            tokio::spawn(async move {
                let mut failed = 0u32;
                for (n, app) in apps.iter().enumerate() {
                    let swap = submission(format!("c-swap-{writer}-{n}"), 1_000, "c-rival", "998");
                    if store.apply_evidence(app, &swap, Utc::now()).await.is_err() {
                        failed += 1;
                    }
                }
                failed
            })
        })
        .collect();
    let mut failed = 0;
    for writer in writers {
        failed += writer.await?;
    }
    crate::emulator::set_transaction_hold(0).await?;
    let retries = store.take_placement_conflicts();
    let placements = (WRITERS * SWAPS_EACH) as f64;
    let per = retries as f64 / placements;
    report.add(
        format!("placement retries per placement, {WRITERS} writers flagging entries in one tree at once (transactions held {hold_ms} ms)"),
        format!("{per:.3} ({retries} retries, {placements} placements, {failed} gave up)"),
        "≤ 0.05",
        per <= 0.05 && failed == 0,
    );
    Ok(())
}

/// One tree (`{tag}-top`, `{tag}-mid`, four offices below it) with 16 owners in the offices
/// (`{tag}-owner-{i}`, NPN `{npn_digit}{i:03}`), and a rival outside it (`{tag}-rival`, NPN
/// `rival_npn`). Returns the owners.
pub(crate) async fn tree_of_writers(
    store: &Store,
    tag: &str,
    npn_digit: char,
    rival_npn: &str,
) -> Result<Vec<String>, Failure> {
    let now = Utc::now();
    store.upsert_agency(&agency(format!("{tag}-top"), None), now).await?;
    store.upsert_agency(&agency(format!("{tag}-mid"), Some(format!("{tag}-top"))), now).await?;
    for office in 0..4 {
        store.upsert_agency(&agency(format!("{tag}-o{office}"), Some(format!("{tag}-mid"))), now).await?;
    }
    let owners: Vec<String> = (0..WRITERS).map(|i| format!("{tag}-owner-{i}")).collect();
    for (i, owner) in owners.iter().enumerate() {
        store.upsert_agent(&person(owner, &format!("{tag}-o{}", i % 4), &format!("{npn_digit}{i:03}")), now).await?;
    }
    store.upsert_agency(&agency(format!("{tag}-rivals"), None), now).await?;
    store.upsert_agent(&person(&format!("{tag}-rival"), &format!("{tag}-rivals"), rival_npn), now).await?;
    Ok(owners)
}

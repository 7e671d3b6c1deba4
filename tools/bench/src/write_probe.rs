//! DynamoDB's work per operation: each operation run once through the real store against the
//! emulator, metered by `meter` (units by DynamoDB's sizing rules). Ids have the lengths of real
//! ones (agents, agencies and events by UUID, FFM ids of 10 digits), because units follow bytes.
//! Depends on `fixtures`, `meter` and the store's public API only, so that
//! `tools/bench-replaced.sh` runs this same probe against an earlier design.

use shared::ports::Applications;

use chrono::Utc;
use shared::domain::ApplicationKey;
use shared::domain::{AgentId, Evidence};
use store::Store;

use crate::fixtures::{agency, archive, key, person, submission, sync, uid};
use crate::meter::{Meter, Units};

type Failure = Box<dyn std::error::Error>;

/// One operation's figures (per at-risk entry, for the directory moves): items written, write
/// units, read units, DynamoDB requests, writes refused.
#[derive(Debug, Clone)]
pub struct Figure {
    pub operation: &'static str,
    pub items: f64,
    pub write_units: f64,
    pub read_units: f64,
    pub requests: f64,
    pub refused: f64,
}

impl Figure {
    pub(crate) fn of(operation: &'static str, units: Units, per: u32) -> Self {
        let per = f64::from(per);
        Self {
            operation,
            items: units.items as f64 / per,
            write_units: units.write_units as f64 / per,
            read_units: units.read_units / per,
            requests: units.requests as f64 / per,
            refused: units.refused as f64 / per,
        }
    }
}

/// What the probe measured: each operation's figures, and the mean size of the items written.
pub struct Probe {
    pub figures: Vec<Figure>,
    pub mean_item_bytes: f64,
}

/// How many at-risk entries the per-entry figures of the moves average over.
pub const MOVED_ENTRIES: u32 = 100;

/// Runs each operation once on a fresh tree in `table` and meters it. Owners are two levels below
/// the top, so each at-risk entry is in 4 lists (own, leaf, mid, top).
pub async fn probe(sdk: &shared::aws::SdkConfig, table: &str) -> Result<Probe, Failure> {
    let meter = Meter::on(sdk, table).await?;
    let store = meter.store(sdk, table);
    let as_of = Utc::now();
    store.upsert_agency(&agency(uid("w-top"), None), as_of).await?;
    store.upsert_agency(&agency(uid("w-mid"), Some(uid("w-top"))), as_of).await?;
    for leaf in ["w-a", "w-b", "w-c"] {
        store.upsert_agency(&agency(uid(leaf), Some(uid("w-mid"))), as_of).await?;
    }
    for (who, leaf, npn) in [
        ("w-ana", "w-a", "1111111111"),
        ("w-bob", "w-b", "2222222222"),
        ("w-carl", "w-a", "1111111111"),
        ("w-dan", "w-c", "1111111111"),
    ] {
        store.upsert_agent(&person(&uid(who), &uid(leaf), npn), as_of).await?;
    }
    let now = Utc::now();
    let mut figures = Vec::new();
    let (ana, bob) = (uid("w-ana"), uid("w-bob"));

    meter.reset().await?;
    store.apply_evidence(&key("8000000001"), &submission(uid("w-s1"), 0, &ana, "1111111111"), now).await?;
    figures.push(Figure::of("a first submission (a new application, not at risk)", meter.take().await?, 1));
    store.apply_evidence(&key("8000000001"), &submission(uid("w-s2"), 1, &bob, "2222222222"), now).await?;
    figures.push(Figure::of("a submission that makes a swap (owner 2 levels down)", meter.take().await?, 1));

    store.apply_evidence(&key("8000000002"), &submission(uid("w-s3"), 0, &ana, "1111111111"), now).await?;
    store.apply_evidence(&key("8000000002"), &sync(&uid("w-y1"), 5, "1111111111"), now).await?;
    meter.reset().await?;
    store.apply_evidence(&key("8000000002"), &sync(&uid("w-y2"), 6, "1111111111"), now).await?;
    figures.push(Figure::of("a sync that changes nothing (not at risk)", meter.take().await?, 1));

    store.apply_evidence(&key("8000000003"), &submission(uid("w-s4"), 0, &ana, "1111111111"), now).await?;
    store.apply_evidence(&key("8000000003"), &submission(uid("w-s5"), 1, &bob, "2222222222"), now).await?;
    // The first sync after the swap confirms it from the marketplace (the reason changes); the
    // next ones, every week while it lasts, confirm it again and change nothing.
    store.apply_evidence(&key("8000000003"), &sync(&uid("w-y3"), 5, "2222222222"), now).await?;
    meter.reset().await?;
    store.apply_evidence(&key("8000000003"), &sync(&uid("w-y3b"), 6, "2222222222"), now).await?;
    figures.push(Figure::of("a sync that confirms an entry at risk", meter.take().await?, 1));
    // The marketplace now shows ana's NPN: ana's entry clears and bob's is flagged.
    store.apply_evidence(&key("8000000003"), &sync(&uid("w-y4"), 7, "1111111111"), now).await?;
    figures.push(Figure::of("a sync that clears one entry and flags another", meter.take().await?, 1));

    store.apply_evidence(&key("8000000001"), &archive(&uid("w-a1"), 5, &ana), now).await?;
    figures.push(Figure::of("an archive of an entry at risk", meter.take().await?, 1));

    swapped_book(&store, "81", MOVED_ENTRIES, &uid("w-carl"), &bob).await?;
    meter.reset().await?;
    store.upsert_agent(&person(&uid("w-carl"), &uid("w-b"), "1111111111"), Utc::now()).await?;
    figures.push(Figure::of("an agent move, per at-risk entry", meter.take().await?, MOVED_ENTRIES));

    swapped_book(&store, "82", MOVED_ENTRIES, &uid("w-dan"), &bob).await?;
    meter.reset().await?;
    store.upsert_agency(&agency(uid("w-c"), Some(uid("w-top"))), Utc::now()).await?;
    figures.push(Figure::of("an agency move, per at-risk entry", meter.take().await?, MOVED_ENTRIES));
    Ok(Probe { figures, mean_item_bytes: meter.mean_item_bytes()? })
}

/// Loads `count` applications that `owner` submitted and `rival` then swapped, in batches.
pub async fn swapped_book(store: &Store, prefix: &str, count: u32, owner: &str, rival: &str) -> Result<(), Failure> {
    let owners = store.owner_items([owner, rival].into_iter().map(AgentId::parse).collect::<Result<_, _>>()?).await?;
    let applications: Vec<(ApplicationKey, Vec<Evidence>)> = (0..count)
        .map(|i| {
            let id = format!("{prefix}{i:08}");
            let log = vec![
                submission(uid(&format!("own-{id}")), 0, owner, "1111111111"),
                submission(uid(&format!("swap-{id}")), 10, rival, "2222222222"),
            ];
            (key(&id), log)
        })
        .collect();
    for chunk in applications.chunks(2_000) {
        store.import(chunk, &owners, Utc::now()).await?;
    }
    Ok(())
}

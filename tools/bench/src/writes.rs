//! DynamoDB's work per operation (`write_probe`, metered by `meter`), beside the same probe's
//! figures for the write path before issue 29, measured by `tools/bench-before.sh`
//! (`make bench-before`) and kept in `tools/bench/before-writes.tsv`; and the spec's largest agency
//! move, timed.

use shared::ports::DirectoryChanges;
use std::time::Instant;

use chrono::Utc;
use devkit::resources::LocalResources;

use crate::fixtures::{agency, person, uid};
use crate::meter::Meter;
use crate::write_probe::{Figure, Probe, probe, swapped_book};
use crate::{Failure, Report};

/// Each operation's floor in write units: what it must write whatever the design, with the
/// items and indexes the lists need (`docs/capacity.md` derives each). Items here are under 1 KB.
pub(crate) const FLOORS: [(&str, f64); 8] = [
    // The application's item, its evidence and the entry, in one transaction (2 × 3), and the
    // entry and the application entering their indexes (2).
    ("a first submission (a new application, not at risk)", 8.0),
    // The application, the evidence, the history, the owner's entry changed and the new one (2 × 5)
    // and their index entries (the due list's lane moves: 2, the outbox 1, the book index 2); the
    // entry's rows in its four lists with their archived-filter index entry each (4 + 4) and the
    // four lists' counters, rows and counters together in one transaction (2 × 8 + 4).
    ("a submission that makes a swap (owner 2 levels down)", 35.0),
    // The application's item (its sync record inside) and its due-list entry, rewritten in place
    // with the last sync the scan filters on (1).
    ("a sync that changes nothing (not at risk)", 2.0),
    // The same: nothing people read changes but "last synced", read from that item.
    ("a sync that confirms an entry at risk", 2.0),
    // The application, the closed sync record, the history and two entries (2 × 5) and their index
    // entries (outbox 1, book index 2); one entry's four rows leave (with 4 index entries), the
    // other's four enter (with 4), six lists' counters change, in one transaction (2 × 14 + 8).
    ("a sync that clears one entry and flags another", 49.0),
    // The application, the archive flag's evidence and the entry (2 × 3), the entry's book index
    // and the application's due-list lane (1 + 2); four rows move in the archived-filter index
    // (each updated, its filter entry moved: 4 × 2 beside the transaction's 2 × 4 for rows and
    // 2 × 4 for counters).
    ("an archive of an entry at risk", 33.0),
    // Per entry: its row leaves one agency's list and enters another's, in a transaction with
    // the lists' counters (2 × 2), and their archived-filter index entries (2); no other row
    // changes, and counters move once per list for the whole job, not per entry.
    ("an agent move, per at-risk entry", 6.0),
    // Per entry: its row leaves the one list the agency left, in a transaction (2), with its
    // index entry (1).
    ("an agency move, per at-risk entry", 3.0),
];

/// The earlier design's figures, by operation (see the module's docs).
const BEFORE: &str = include_str!("../before-writes.tsv");

/// The earlier design's figures for `operation`, if measured.
pub(crate) fn before(operation: &'static str) -> Option<Figure> {
    let line = BEFORE.lines().filter(|l| !l.starts_with('#')).find(|l| l.split('\t').next() == Some(operation))?;
    let numbers: Vec<f64> = line.split('\t').skip(1).map(str::parse).collect::<Result<_, _>>().ok()?;
    let [items, write_units, read_units, requests] = numbers[..] else { return None };
    Some(Figure { operation, items, write_units, read_units, requests, refused: 0.0 })
}

pub async fn write_costs(
    sdk: &shared::aws::SdkConfig,
    resources: &LocalResources,
    report: &mut Report,
) -> Result<Probe, Failure> {
    let mut measured = probe(sdk, &resources.table).await?;
    measured.figures.push(pass_reads(sdk, resources).await?);
    let figures = &measured.figures;
    // What DynamoDB charges for each (docs/capacity.md prices it), against its floor.
    for figure in figures {
        let then = before(figure.operation).map_or_else(
            || "not measured".to_owned(),
            |b| format!("{:.2}, {:.2}, {:.2}", b.write_units, b.read_units, b.requests),
        );
        if let Some((_, floor)) = FLOORS.iter().find(|(operation, _)| *operation == figure.operation) {
            let ratio = figure.write_units / floor;
            let units_before =
                before(figure.operation).map_or_else(|| "not measured".to_owned(), |b| format!("{:.2}", b.write_units));
            report.add(
                format!("write units: {}", figure.operation),
                format!("{:.2} (floor {floor}, ratio {ratio:.2}; before issue 29: {units_before})", figure.write_units),
                "≤ 1.5 × its floor",
                ratio <= 1.5,
            );
        }
        report.baseline(
            format!(
                "DynamoDB work: {}: write units, read units, requests (writes refused; items written)",
                figure.operation
            ),
            format!(
                "{:.2}, {:.2}, {:.2} ({:.2}; {:.2}); before issue 29: {then}",
                figure.write_units, figure.read_units, figure.requests, figure.refused, figure.items
            ),
        );
    }

    // Agency moves to completion at three sizes: a move's work per entry must not grow with the
    // number of entries below it. (Placing one entry costs about 45 ms of emulator time, so the
    // spec's 50,000 take over half an hour here: `BENCH_MOVE_ENTRIES=50000 make bench` runs it.)
    let largest: u32 = std::env::var("BENCH_MOVE_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let meter = Meter::on(sdk, &resources.table).await?;
    let store = meter.store(sdk, &resources.table);
    let mut per_entry = Vec::new();
    for entries in [largest / 20, largest / 5, largest] {
        let moved = move_to_completion(&meter, &store, entries).await?;
        report.add(
            format!("an agency move with {entries} at-risk entries below it, to completion: wall time on the emulator, runs, write units and items per entry"),
            format!(
                "{:.0} s in {} runs of at most 80 s each; {:.2} write units, {:.2} items per entry",
                moved.seconds, moved.runs, moved.write_units, moved.items
            ),
            "completes, in runs within Lambda's limits",
            moved.completed,
        );
        per_entry.push((entries, moved.write_units));
    }
    let (least, most) = per_entry.iter().fold((f64::MAX, 0.0f64), |(lo, hi), (_, u)| (lo.min(*u), hi.max(*u)));
    report.add(
        "an agency move's write units per entry, at the three sizes above",
        per_entry.iter().map(|(n, u)| format!("{u:.2} at {n}")).collect::<Vec<_>>().join(", "),
        "bounded per entry: the largest within 25 % of the smallest",
        most <= 1.25 * least,
    );
    Ok(measured)
}

/// What the scan's pass reads for each application (operation `PASS_READ`): it walks every entry
/// of the due list's at-risk and stale lanes in pages of 100 (as deployed), and the filter on the
/// last sync drops most, though DynamoDB bills what it read. Walked here over 3,200 synced
/// applications up to a cut-off none is past, so that every entry read is returned and metered
/// at its size.
pub(crate) const PASS_READ: &str = "a pass's read of one application in the due list";
/// The scan's page (`sync_trigger::app`'s `page_size`).
const PAGE: i32 = 100;

async fn pass_reads(sdk: &shared::aws::SdkConfig, resources: &LocalResources) -> Result<Figure, Failure> {
    use crate::fixtures::{key, submission, sync};
    use shared::domain::AgentId;
    use shared::ports::{DueLane, SyncDue};
    let meter = Meter::on(sdk, &resources.table).await?;
    let store = meter.store(sdk, &resources.table);
    let ana = uid("w-ana");
    let owners = store.owner_items([AgentId::parse(&ana)?].into()).await?;
    let synced: Vec<_> = (0..3_200)
        .map(|i| {
            let id = format!("83{i:08}");
            let log = vec![
                submission(uid(&format!("own-{id}")), 0, &ana, "1111111111"),
                sync(&uid(&format!("sync-{id}")), 5, "1111111111"),
            ];
            (key(&id), log)
        })
        .collect();
    for chunk in synced.chunks(2_000) {
        store.import(chunk, &owners, Utc::now()).await?;
    }
    let year = key("0").year;
    let upto = Utc::now() + chrono::Duration::days(365);
    meter.reset().await?;
    let mut read = 0;
    for shard in 0..store.due_parts() {
        for lane in [DueLane::AtRisk, DueLane::Stale] {
            let mut after = None;
            loop {
                let page = store.due_for_sync(year, shard, lane, upto, after.as_deref(), PAGE).await?;
                read += page.due.len();
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
    }
    let read = u32::try_from(read)?;
    Ok(Figure::of(PASS_READ, meter.take().await?, read.max(1)))
}

/// What moving an agency with `entries` at-risk entries below it took, to completion.
struct Moved {
    seconds: f64,
    runs: u32,
    completed: bool,
    write_units: f64,
    items: f64,
}

/// Loads an agency below w-mid with `entries` at-risk entries in a leaf under it, then moves it
/// below w-top in runs of at most 80 s (a Lambda's limit less its margin), as many as it takes up
/// to 100, and meters the move.
async fn move_to_completion(meter: &Meter, store: &store::Store, entries: u32) -> Result<Moved, Failure> {
    let as_of = Utc::now();
    let big = uid(&format!("w-big-{entries}"));
    let leaf = uid(&format!("w-big-{entries}-leaf"));
    store.upsert_agency(&agency(big.clone(), Some(uid("w-mid"))), as_of).await?;
    store.upsert_agency(&agency(leaf.clone(), Some(big.clone())), as_of).await?;
    let agents = entries.div_ceil(10_000);
    let loading = Instant::now();
    for n in 0..agents {
        let who = uid(&format!("w-big-{entries}-{n}"));
        store.upsert_agent(&person(&who, &leaf, "1111111111"), as_of).await?;
        swapped_book(store, &format!("9{entries:06}{n}"), entries / agents, &who, &uid("w-bob")).await?;
    }
    println!("  (loaded {entries} at-risk entries below one agency in {:.0} s)", loading.elapsed().as_secs_f64());
    meter.reset().await?;
    let moving = Instant::now();
    let (mut runs, mut completed) = (0, false);
    while runs < 100 && !completed {
        runs += 1;
        let until = Some(Instant::now() + std::time::Duration::from_secs(80));
        let outcome = store.upsert_agency_until(&agency(big.clone(), Some(uid("w-top"))), &as_of.into(), until).await?;
        completed = outcome != shared::ports::UpsertOutcome::Paused;
    }
    let seconds = moving.elapsed().as_secs_f64();
    let units = meter.take().await?;
    let per = f64::from(entries);
    Ok(Moved { seconds, runs, completed, write_units: units.write_units as f64 / per, items: units.items as f64 / per })
}

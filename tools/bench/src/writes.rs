//! Items written per operation (`write_probe`), beside the same probe's figures for the design
//! this one replaced, measured by `tools/bench-replaced.sh` (`make bench-replaced`) and kept in
//! `tools/bench/replaced-design-writes.tsv`; and the spec's largest agency move, timed.

use shared::ports::DirectoryChanges;
use std::time::Instant;

use chrono::Utc;
use devkit::resources::LocalResources;

use crate::fixtures::{agency, person};
use crate::write_probe::{Figure, WriteCounter, probe, swapped_book};
use crate::{Failure, Report};

/// The replaced design's figures, by operation (see the module's docs).
const REPLACED: &str = include_str!("../replaced-design-writes.tsv");

pub(crate) fn replaced(operation: &str) -> String {
    REPLACED
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .find(|(name, _)| *name == operation)
        .map_or_else(|| "not measured".to_owned(), |(_, items)| items.to_owned())
}

pub async fn write_costs(
    sdk: &shared::aws::SdkConfig,
    resources: &LocalResources,
    report: &mut Report,
) -> Result<Vec<Figure>, Failure> {
    let figures = probe(sdk, &resources.table).await?;
    for figure in &figures {
        let value = format!("{} (the design this replaces: {})", figure.items, replaced(figure.operation));
        if figure.operation.contains("per at-risk entry") {
            report.add(
                format!("items written: {}", figure.operation),
                value,
                "a bounded number per entry",
                figure.items < 10.0,
            );
        } else {
            // For the record: the target that matters (the evidence's own transaction independent
            // of the tree) is held by the tests.
            report.baseline(format!("items written: {}", figure.operation), value);
        }
    }

    // What DynamoDB charges for each (docs/capacity.md prices it).
    for figure in &figures {
        report.baseline(
            format!("DynamoDB work: {}: write request units, items read, requests", figure.operation),
            format!("{:.2}, {:.2}, {:.2}", figure.write_units, figure.reads, figure.requests),
        );
    }

    let counter = WriteCounter::default();
    let store = counter.store(sdk, &resources.table);
    let as_of = Utc::now();
    // The spec's largest move: an agency with `entries` at-risk entries below it.
    // (Placing one entry costs about 45 ms of emulator time, so the spec's 50,000 take over half an
    // hour here: `BENCH_MOVE_ENTRIES=50000 make bench` runs it.)
    let entries: u32 = std::env::var("BENCH_MOVE_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    // In the probe's tree: moved from below w-mid to below w-top, its entries swapped by w-bob.
    store.upsert_agency(&agency("w-big".into(), Some("w-mid".into())), as_of).await?;
    store.upsert_agency(&agency("w-big-leaf".into(), Some("w-big".into())), as_of).await?;
    let agents = entries.div_ceil(10_000);
    let loading = Instant::now();
    for n in 0..agents {
        let who = format!("w-big-{n}");
        store.upsert_agent(&person(&who, "w-big-leaf", "111"), as_of).await?;
        swapped_book(&store, &format!("9{n}"), entries / agents, &who, "w-bob").await?;
    }
    println!("  (loaded {entries} at-risk entries below one agency in {:.0} s)", loading.elapsed().as_secs_f64());
    counter.take();
    let moving = Instant::now();
    let mut runs = 0;
    loop {
        runs += 1;
        let until = Some(Instant::now() + std::time::Duration::from_secs(80));
        let outcome =
            store.upsert_agency_until(&agency("w-big".into(), Some("w-top".into())), &as_of.into(), until).await?;
        if outcome != shared::ports::UpsertOutcome::Paused {
            break;
        }
    }
    let took = moving.elapsed().as_secs_f64();
    let written = counter.take() as f64 / f64::from(entries);
    report.add(
        format!(
            "an agency move with {entries} at-risk entries below it: wall time on the emulator, items written per entry"
        ),
        format!("{took:.0} s in {runs} runs of at most 80 s each; {written:.2} items per entry"),
        "completes, in runs within Lambda's limits",
        true,
    );
    Ok(figures)
}

//! The CSV row writer in process (`make bench` runs it): rows per second on one core, for the
//! narrow agent layout and the wide agency layout with quoting and neutralising to do.

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use export_builder::csv_rows::{Layout, RowWriter};
use shared::domain::Scope;
use shared::domain::{AgentId, Email, FederalExchangeId, Name, PlanYear, Reason};
use store::items::{Owner, RowFacts};

fn rows() -> Vec<shared::domain::RiskEntry> {
    let owner = Owner::unknown(AgentId::parse("bench").unwrap());
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..1_000u32)
        .map(|i| {
            let facts = RowFacts {
                federal_exchange_id: FederalExchangeId::parse(format!("{i:010}")).unwrap(),
                plan_year: PlanYear::parse(2026).unwrap(),
                agent_id: owner.agent_id.clone(),
                client_name: Name::parse("Client").unwrap(),
                at_risk_since: at,
                flagged_at: at,
                reason: Reason::PlatformSubmission,
                other_npn: None,
                archived: i % 3 == 0,
            };
            let mut entry = facts.row(Scope::Agent(owner.agent_id.clone())).entry(None, None, None);
            entry.agency_name = Some(Name::parse("Smith, \"Best\" Health").unwrap());
            entry.agent_name = Some(Name::parse("=Erin Ó Briain").unwrap());
            entry.agent_email = Some(Email::parse("erin@example.com").unwrap());
            entry
        })
        .collect()
}

fn row_writer(c: &mut Criterion) {
    let rows = rows();
    let mut group = c.benchmark_group("csv_rows");
    group.throughput(Throughput::Elements(rows.len() as u64));
    for (name, layout) in [("agent", Layout::Agent), ("agency", Layout::Agency)] {
        group.bench_function(name, |b| {
            let mut writer = RowWriter::new(layout, "https://app.example.com");
            b.iter(|| {
                for row in &rows {
                    writer.write(row);
                }
                std::hint::black_box(writer.take());
            });
        });
    }
    group.finish();
}

criterion_group!(benches, row_writer);
criterion_main!(benches);

//! The scheduled scan at scale: `BENCH_SCAN_APPS` applications (default 100,000), all due, synced
//! at `BENCH_SCAN_RATE` requests a second against the simulator answering in 50 to 500 ms, with 1%
//! 5xx answers and a one-second burst of 429s with `Retry-After` every minute, in runs of
//! `BENCH_SCAN_RUN_SECONDS` as the schedule would start them — until the pass ends — while a new
//! application arrives every two seconds. One application in ten is at risk (another agent of the
//! tree, `rival`, submitted it since), and the answers change what the lists show for one in fifty:
//! one in a hundred gives an at-risk application back to its agent (clearing that entry and
//! flagging the rival's), one in a hundred takes a quiet one away. The lists' totals after the
//! pass are checked against what the answers say.

use std::time::{Duration, Instant};

use chrono::Utc;
use devkit::marketplace_sim::{Faults, Simulator};
use shared::domain::{AgencyId, AgentId, ApplicationKey, Evidence, EvidenceId, Fact, FederalExchangeId, Npn, PlanYear};
use shared::domain::{Policy, PolicyStatus};
use shared::ports::RiskLists;
use store::Store;
use sync_trigger::marketplace::{Aor, MarketplaceApplication, MarketplacePolicy};

use crate::fixtures::{agency, person, submission};

/// The most the scan's turns may cost: a write a block of `budget::BLOCK` turns, with each run's
/// first block only partly its own and its last one partly unused.
const BUDGET_WRITES_PER_REQUEST: f64 = 0.25;
use crate::{Failure, Report};

const YEAR: u16 = 2031;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn id(i: usize) -> FederalExchangeId {
    FederalExchangeId::parse(format!("8{i:09}")).expect("an id")
}

/// Whether application `i` is at risk before the pass: `rival` (NPN 556) submitted it after
/// `scanner` (NPN 555), and the last sync showed the rival.
fn at_risk(i: usize) -> bool {
    i.is_multiple_of(10)
}

/// The AOR the marketplace shows for application `i` in the pass.
fn aor_now(i: usize) -> &'static str {
    match i % 100 {
        // Back to the scanner: the scanner's entry clears, the rival's is flagged.
        0 => "555",
        // Taken by someone outside the tree: the scanner's entry is flagged.
        1 => "777",
        _ if at_risk(i) => "556",
        _ => "555",
    }
}

/// The scanner's and the rival's at-risk totals once every one of `apps` is synced.
fn totals_after(apps: usize) -> (i64, i64) {
    let scanner = (0..apps).filter(|i| (at_risk(*i) && aor_now(*i) == "556") || aor_now(*i) == "777").count();
    let rival = (0..apps).filter(|i| at_risk(*i) && aor_now(*i) == "555").count();
    (scanner as i64, rival as i64)
}

fn answer(id: &FederalExchangeId, aor: &str) -> MarketplaceApplication {
    MarketplaceApplication {
        federal_exchange_id: id.to_string(),
        plan_year: YEAR,
        policies: vec![MarketplacePolicy {
            policy_id: "P1".into(),
            issuer_name: "Issuer".into(),
            status: PolicyStatus::Effectuated,
            aor: Some(Aor { npn: aor.into(), name: "Agent".into() }),
        }],
    }
}

/// An application submitted and synced a year ago: due. At risk (`at_risk`) when the rival
/// submitted it after the scanner and that sync showed the rival.
fn synced_long_ago(i: usize, year: PlanYear) -> (ApplicationKey, Vec<Evidence>) {
    let key = ApplicationKey { id: id(i), year };
    let shown = if at_risk(i) { "556" } else { "555" };
    let sync = Evidence {
        id: EvidenceId::parse(format!("scale-sync-{i}")).expect("id"),
        at: Utc::now() - chrono::Duration::days(365),
        fact: Fact::Synced {
            policies: vec![Policy {
                policy_id: "P1".into(),
                status: PolicyStatus::Effectuated,
                aor_npn: Some(Npn::parse(shown).expect("npn")),
            }],
            again: Vec::new(),
        },
    };
    let mut evidence = vec![submission(format!("scale-{i}"), 0, "scanner", "555"), sync];
    if at_risk(i) {
        evidence.push(submission(format!("scale-rival-{i}"), 1, "rival", "556"));
    }
    (key, evidence)
}

pub async fn scan_at_scale(store: &Store, report: &mut Report) -> Result<(), Failure> {
    let apps: usize = setting("BENCH_SCAN_APPS", 100_000);
    // 25/s, not the template's 40: one moto process holding 600,000 items serves DynamoDB one
    // request at a time, some 270 a second (~5 a quiet sync), so at 40/s the share would measure
    // the emulator.
    let rate: f64 = setting("BENCH_SCAN_RATE", 25.0);
    // Runs as long as the template's (`SCAN_BUDGET_SECONDS`): each run's start and end cost some
    // seconds of idle budget (the last syncs finishing, the never-synced lane's look over every
    // shard), so shorter runs would measure those, not the scan.
    let run_seconds: u64 = setting("BENCH_SCAN_RUN_SECONDS", 840);
    let year = PlanYear::parse(YEAR)?;
    store.upsert_agency(&agency("scale".into(), None), Utc::now()).await?;
    store.upsert_agent(&person("scanner", "scale", "555"), Utc::now()).await?;
    store.upsert_agent(&person("rival", "scale", "556"), Utc::now()).await?;
    let owners = store.owner_items([AgentId::parse("scanner")?, AgentId::parse("rival")?].into()).await?;
    let loading = Instant::now();
    for chunk in (0..apps).collect::<Vec<_>>().chunks(2_000) {
        let batch: Vec<_> = chunk.iter().map(|i| synced_long_ago(*i, year)).collect();
        store.import(&batch, &owners, Utc::now()).await?;
    }
    println!("  (loaded {apps} applications in {:.0} s)", loading.elapsed().as_secs_f64());

    let simulator = Simulator::new((0..apps).map(|i| answer(&id(i), aor_now(i))));
    simulator.put_faults(Faults {
        latency_ms: 50,
        latency_max_ms: 500,
        error_rate: 0.01,
        retry_after_seconds: 1,
        burst_every_seconds: 60,
        burst_seconds: 1,
        hang_ms: 10_000,
        ..Faults::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    simulator.spawn(listener);
    let vars = shared::config::Vars::from_pairs([
        ("TABLE_NAME", store.table().to_owned()),
        ("CURRENT_PLAN_YEAR", YEAR.to_string()),
        ("MARKETPLACE_BASE_URL", url),
        ("MARKETPLACE_API_KEY", "bench".to_owned()),
        ("SYNC_RATE_PER_SECOND", rate.to_string()),
        ("SYNC_STALE_AFTER_HOURS", "24".to_owned()),
    ]);
    let settings = sync_trigger::app::Settings::from_vars(&vars)?;
    let every = settings.scan().new_lane_every;
    let marketplace = sync_trigger::app::marketplace(&shared::aws::sdk_config(), &settings)?;

    // New applications arrive while the pass runs: when each arrived, on the simulator's clock.
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, u64)>::new()));
    let adding = {
        let (store, simulator, arrivals, owners) = (store.clone(), simulator.clone(), arrivals.clone(), owners.clone());
        tokio::spawn(async move {
            for n in 0.. {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let i = apps + n;
                let key = ApplicationKey { id: id(i), year };
                simulator.put(&answer(&key.id, "555"));
                let arrived = simulator.clock_ms();
                if store
                    .import(&[(key, vec![submission(format!("scale-{i}"), 0, "scanner", "555")])], &owners, Utc::now())
                    .await
                    .is_ok()
                {
                    arrivals.lock().expect("arrivals").push((id(i).to_string(), arrived));
                }
            }
        })
    };

    let pass_started = simulator.clock_ms();
    let (mut synced, mut runs, mut scanning) = (0u64, 0u32, Duration::ZERO);
    loop {
        runs += 1;
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(run_seconds);
        let run = sync_trigger::scan::scan(store, &marketplace, &settings.scan(), Utc::now(), deadline).await?;
        scanning += started.elapsed();
        synced += u64::from(run.synced);
        if run.pass_completed || runs > 10_000 {
            break;
        }
    }
    adding.abort();
    let pass_ended = simulator.clock_ms();
    // The next run starts with what arrived during the last one, as the schedule's next would.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(run_seconds);
    sync_trigger::scan::scan(store, &marketplace, &settings.scan(), Utc::now(), deadline).await?;

    let served = simulator.served();
    let times: Vec<u64> = served.iter().map(|s| s.at_ms).collect();
    let busiest =
        (0..times.len()).map(|i| times[i..].iter().take_while(|t| **t < times[i] + 1000).count()).max().unwrap_or(0);
    let share = synced as f64 / scanning.as_secs_f64() / rate;
    // The longest any of the due applications waited: from the pass's start to its sync.
    let last_sync = served
        .iter()
        .filter(|s| s.status == 200 && s.at_ms <= pass_ended)
        .map(|s| s.at_ms)
        .max()
        .unwrap_or(pass_started);
    let longest = (last_sync.saturating_sub(pass_started)) as f64 / 1000.0;
    let arrivals = arrivals.lock().expect("arrivals").clone();
    let mut first_waits: Vec<f64> = arrivals
        .iter()
        .filter_map(|(id, arrived)| {
            let first =
                served.iter().find(|s| &s.federal_exchange_id == id && s.at_ms >= *arrived && s.status == 200)?;
            Some((first.at_ms - arrived) as f64 / 1000.0)
        })
        .collect();
    first_waits.sort_by(f64::total_cmp);
    let never = arrivals.len() - first_waits.len();
    let median = first_waits.get(first_waits.len() / 2).copied().unwrap_or(f64::NAN);
    let worst = first_waits.last().copied().unwrap_or(f64::NAN);

    let what =
        format!("scheduled scan over {apps} applications at {rate}/s (answers in 50–500 ms, 1% 5xx, 429 bursts)");
    report.add(
        format!("{what}: syncs/s as a share of the rate, while scanning"),
        format!("{share:.2} ({synced} syncs in {:.0} s of scanning, {runs} runs)", scanning.as_secs_f64()),
        "≥ 0.9",
        share >= 0.9,
    );
    report.add(
        format!("{what}: most requests in any one second"),
        busiest.to_string(),
        format!("≤ {rate}"),
        busiest as f64 <= rate,
    );
    let completed = u32::from(runs <= 10_000);
    report.add(
        format!("{what}: passes completed; the longest an application waited (pass start to its sync)"),
        format!("{completed} pass in {:.0} s; {longest:.0} s", (pass_ended - pass_started) as f64 / 1000.0),
        "the pass ends",
        completed == 1,
    );
    report.add(
        format!("{what}: a new application's wait for its first sync (one every 2 s), median and longest"),
        format!("{median:.0} s, {worst:.0} s ({} arrived, {never} not yet synced at the end)", arrivals.len()),
        format!("≤ {} s (the run looks for them every {} s)", 2 * every.as_secs(), every.as_secs()),
        never <= 1 && worst <= (2 * every.as_secs()) as f64,
    );
    // What the shared budget cost: one write a block of the scan's turns, refused ones billed too.
    let (claims, refused) = marketplace.budget_claims();
    report.add(
        format!("{what}: writes claiming turns of the shared budget per marketplace request (refused ones in it)"),
        format!(
            "{:.3} ({claims} writes, {refused} refused, {} requests)",
            claims as f64 / served.len().max(1) as f64,
            served.len()
        ),
        format!("≤ {BUDGET_WRITES_PER_REQUEST:.2} (a write a block of {} turns)", sync_trigger::budget::BLOCK),
        claims as f64 / served.len().max(1) as f64 <= BUDGET_WRITES_PER_REQUEST,
    );
    let total = |agent: &str| {
        let scope = shared::domain::Scope::Agent(AgentId::parse(agent).expect("id"));
        async move { store.counts(&scope, year).await.map(|c| c.at_risk_total) }
    };
    let (scanner, rival) = (total("scanner").await?, total("rival").await?);
    let scale = store.counts(&shared::domain::Scope::Agency(AgencyId::parse("scale")?), year).await?.at_risk_total;
    let want = totals_after(apps);
    report.add(
        format!("{what}: at-risk totals after the pass — the scanner's, the rival's, their agency's (10 % at risk before; 1 % given back, 1 % taken)"),
        format!("{scanner}, {rival}, {scale} (the answers say {}, {}, {})", want.0, want.1, want.0 + want.1),
        "as the answers say",
        (scanner, rival, scale) == (want.0, want.1, want.0 + want.1),
    );
    Ok(())
}

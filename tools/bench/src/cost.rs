//! What a deployment at the spec's scale costs a month, in and out of open enrollment: the
//! DynamoDB figures this bench measures (write request units and items read per operation, items
//! read per list item and per export row) times the volumes below, priced at `PRICES`. The
//! assumptions that are not measured (volumes, Lambda durations per request, item sizes) are named
//! here and in `docs/capacity.md`, which explains the model.

use crate::Report;
use crate::write_probe::Figure;

/// us-east-1 list prices, from third-party copies of AWS's published prices (AWS's own pages fill
/// their price cells in the browser, and the price-list API is not reachable from here): see
/// `docs/capacity.md` for each source.
pub const PRICES_AS_OF: &str = "2026-11 (DynamoDB on demand after the cut of 1 November 2024)";
struct Prices {
    per_million_write_units: f64,
    per_million_read_units: f64,
    storage_gb_month: f64,
    pitr_gb_month: f64,
    lambda_gb_second: f64,
    per_million_lambda_requests: f64,
    per_million_sqs_requests: f64,
    per_million_events: f64,
    per_million_http_api_requests: f64,
    per_thousand_s3_puts: f64,
    per_thousand_s3_gets: f64,
    per_thousand_emails: f64,
}
const PRICES: Prices = Prices {
    per_million_write_units: 0.625,
    per_million_read_units: 0.125,
    storage_gb_month: 0.25,
    pitr_gb_month: 0.20,
    lambda_gb_second: 0.000_013_333_4,
    per_million_lambda_requests: 0.20,
    per_million_sqs_requests: 0.40,
    per_million_events: 1.00,
    per_million_http_api_requests: 1.00,
    per_thousand_s3_puts: 0.005,
    per_thousand_s3_gets: 0.0004,
    per_thousand_emails: 0.10,
};

/// What a month may cost at the spec's scale (issue 29).
const OPEN_ENROLLMENT_TARGET: f64 = 400.0;
const OTHER_MONTH_TARGET: f64 = 250.0;

/// The spec's deployment (SPEC §7 and issue 17), per 30-day month.
const APPLICATIONS: f64 = 10_000_000.0;
const RESYNC_DAYS: f64 = 7.0;
const AT_RISK_SHARE: f64 = 0.10;
const AGENTS: f64 = 30_000.0;
const LIST_OPENS_PER_AGENT_DAY: f64 = 5.0;
const EXPORTS_PER_DAY: f64 = 2_000.0;
/// Assumed: an export of 500 rows on average (an agent's book; admins' are larger, fewer).
const ROWS_PER_EXPORT: f64 = 500.0;
/// Submissions a month: a new application each, or a swap of one (10 % of them, as many as are
/// at risk). Open enrollment: the plan year's every application (SPEC §7: 10 M) is new in that one
/// month (an upper bound: open enrollment runs over two and a half), with days of a million
/// (issue 17); otherwise 1 % of the applications a month (special enrollment, changes).
#[derive(Debug, Clone, Copy)]
struct Load {
    new_applications: f64,
    swaps: f64,
}
const OPEN_ENROLLMENT: Load = Load { new_applications: APPLICATIONS, swaps: AT_RISK_SHARE * APPLICATIONS };
const OTHER_MONTH: Load =
    Load { new_applications: 0.01 * APPLICATIONS * (1.0 - AT_RISK_SHARE), swaps: 0.01 * APPLICATIONS * AT_RISK_SHARE };
/// The busiest day: a million submissions (issue 17), for the partner rate it needs.
const PEAK_DAY_SUBMISSIONS: f64 = 1_000_000.0;
/// Before this bound the model took every day of open enrollment as a peak day: 30 M
/// submissions, 27 M of them new applications, nearly three times every application a plan
/// year holds. The bill before issue 29 is priced both ways, for comparison with the figures
/// published then.
const OPEN_ENROLLMENT_UNBOUNDED: Load =
    Load { new_applications: 30.0 * 1_000_000.0 * (1.0 - AT_RISK_SHARE), swaps: 30.0 * 1_000_000.0 * AT_RISK_SHARE };
/// Assumed: one client page opened (one on-demand sync) per list opened.
const ON_DEMAND_PER_LIST_OPEN: f64 = 1.0;
/// Assumed: a DynamoDB request takes 10 ms inside the region; a marketplace answer 275 ms on
/// average (the bench's simulator: evenly 50 to 500 ms); functions have 256 MB.
const MS_PER_REQUEST: f64 = 10.0;
const MARKETPLACE_MS: f64 = 275.0;
const LAMBDA_GB: f64 = 0.25;
/// Stored per application: its meta item (holding the current sync record), entry, placement,
/// history and submission, and one more item for each sync record full or closed by another
/// answer (a record holds 40 syncs: half a year of weekly syncs fills none, so an average of one
/// is generous); each item at the mean size of the items the probe wrote (measured) plus
/// DynamoDB's 100 bytes of overhead an item; the meta item and the entry again in their indexes
/// (projected whole), and each at-risk entry's four rows twice (the table and the archived
/// filter's index).
const ITEMS_PER_APPLICATION: f64 = 5.0 + 1.0;
/// Before issue 29 every sync added an item: half a year of weekly syncs, 26 on average.
const ITEMS_PER_APPLICATION_BEFORE: f64 = 5.0 + 26.0;
const INDEXED_PER_APPLICATION: f64 = 2.0;
const ROWS_PER_AT_RISK_ENTRY: f64 = 2.0 * 4.0;
const ITEM_OVERHEAD_BYTES: f64 = 100.0;
/// Assumed: each piece of work a function is invoked for or logs a line of (an event ingested, an
/// API call, an export, a change relayed) logs about 1 KB (Lambda's start and report lines, its
/// own line and metrics), at $0.50 a GB ingested. The scan logs a line per run and outcome, and
/// a warning per sync that failed: its syncs log nothing each (`sync::emit_outcomes`).
const LOG_BYTES_PER_WORK: f64 = 1_000.0;
const LOGS_GB: f64 = 0.50;
/// Issue 18's features (in both designs' bills), counted from the code paths, not measured by the
/// probe: each swap is one change
/// out when flagged and, in time, one when cleared; the relay reads the outbox item and the two
/// agents' paths, publishes, counts the take (a transaction of the history item, 2 per agency on
/// the owner's path of `PATH` for the swap patterns, 1 per agency on the taker's for their
/// conduct, and the taker's own weeks: 2 units an item; issue 31 counts every taker as known),
/// reads the taker's weeks for a spike (1) and takes the item out (an update and its index: 2
/// units). Spikes and dispute cases are too few to bill.
const PATH: f64 = 3.0;
const RELAY_UNITS_PER_TAKE: f64 = 2.0 * (1.0 + 2.0 * PATH + PATH + 1.0) + 2.0;
const RELAY_READS_PER_TAKE: f64 = 1.0 + 2.0 * (1.0 + PATH) + 1.0;
/// Assumed: three in ten agents ask for the digest, half of them have something new on a day. A
/// digest reads the settings, the agent, the claim and the flagged rows (about 5), writes the
/// claim, its renewal and the mark with the watermark (2 + 1 + 4 units).
const DIGEST_SUBSCRIBERS: f64 = 0.3 * AGENTS;
const DIGESTS_WITH_NEWS: f64 = 0.5;
const DIGEST_READS: f64 = 8.0;
const DIGEST_UNITS: f64 = 7.0;
/// Writes of the shared budget per marketplace request of the scan: `bench scan`'s figure
/// (20,000 applications at 20/s in runs of 840 s, 2026-12-07: 2,668 writes for 21,097 requests); a person's sync: its own claim,
/// and the refusal its turn costs the scan's next claim of that block (counted from the code).
const SCAN_BUDGET_WRITES_PER_REQUEST: f64 = 0.126;
const ON_DEMAND_BUDGET_WRITES: f64 = 2.0;
/// The scan's duty cycle (840 s of every 900) and its share of the rate, for the rate the
/// re-sync promise needs.
const DUTY: f64 = 840.0 / 900.0;
const SCAN_SHARE: f64 = 0.95;

fn figure<'a>(figures: &'a [Figure], operation: &str) -> &'a Figure {
    figures.iter().find(|f| f.operation == operation).unwrap_or_else(|| panic!("the probe measures {operation}"))
}

struct Month {
    lines: Vec<(&'static str, f64)>,
}

impl Month {
    fn total(&self) -> f64 {
        self.lines.iter().map(|(_, dollars)| dollars).sum()
    }

    fn line(&self, what: &str) -> f64 {
        self.lines.iter().find(|(name, _)| *name == what).map_or(0.0, |(_, dollars)| *dollars)
    }
}

/// One month's bill from `figures`, the units each operation costs.
/// What differs between the design priced and the one before issue 29 besides the operations'
/// figures: the items an application keeps, and the budget's writes per request (the scan's,
/// a person's).
/// And how the scan finds what is due: since 2026-12-08 a pass every `PASS_EVERY` reads the whole
/// due list (each entry at `PASS_READ`'s measured units) and syncs what is within two paces of
/// the window, so an application is re-synced a little more often than every `RESYNC_DAYS`;
/// before, the due list was ordered by last sync and read only as far as what was due.
#[derive(Debug, Clone, Copy)]
struct Design {
    items_per_application: f64,
    budget_writes: (f64, f64),
    passes_per_month: f64,
    resync_days: f64,
}
const NOW: Design = Design {
    items_per_application: ITEMS_PER_APPLICATION,
    budget_writes: (SCAN_BUDGET_WRITES_PER_REQUEST, ON_DEMAND_BUDGET_WRITES),
    passes_per_month: 30.0 * 24.0 / PASS_EVERY_HOURS,
    resync_days: RESYNC_DAYS - 2.0 * PASS_EVERY_HOURS / 24.0,
};
/// Before issue 29 every request claimed its turn with a put of its own.
const BEFORE: Design = Design {
    items_per_application: ITEMS_PER_APPLICATION_BEFORE,
    budget_writes: (1.0, 1.0),
    passes_per_month: 0.0,
    resync_days: RESYNC_DAYS,
};
/// The scan's pace (`sync_trigger::scan::PASS_EVERY`, a week's window's).
const PASS_EVERY_HOURS: f64 = 3.0;

fn month(figures: &[Figure], measured: &Measured, load: Load, design: Design) -> Month {
    let Design {
        items_per_application,
        budget_writes: (scan_turn_writes, on_demand_turn_writes),
        passes_per_month,
        resync_days,
    } = design;
    let Measured { list_item_reads, export_row_reads, mean_item_bytes } = *measured;
    let units = |operation: &str| figure(figures, operation).write_units;
    let reads = |operation: &str| figure(figures, operation).read_units;
    let requests = |operation: &str| figure(figures, operation).requests;
    const FIRST: &str = "a first submission (a new application, not at risk)";
    const SWAP: &str = "a submission that makes a swap (owner 2 levels down)";
    const QUIET_SYNC: &str = "a sync that changes nothing (not at risk)";
    const RISKY_SYNC: &str = "a sync that confirms an entry at risk";

    let scheduled = APPLICATIONS * 30.0 / resync_days;
    // A pass reads every entry of the at-risk and stale lanes, and the at-risk lane twice.
    let pass_reads = if passes_per_month > 0.0 {
        passes_per_month * APPLICATIONS * (1.0 + AT_RISK_SHARE) * reads(crate::writes::PASS_READ)
    } else {
        0.0
    };
    let list_opens = AGENTS * LIST_OPENS_PER_AGENT_DAY * 30.0;
    let on_demand = list_opens * ON_DEMAND_PER_LIST_OPEN;
    let exports = EXPORTS_PER_DAY * 30.0;
    let Load { new_applications: first, swaps } = load;
    let submissions = first + swaps;
    // Every new application is synced once soon after it arrives (the scan's priority lane).
    let syncs_quiet = scheduled * (1.0 - AT_RISK_SHARE) + first;
    let syncs_risky = scheduled * AT_RISK_SHARE + on_demand;
    // Each marketplace request takes a turn of the shared budget: the scan's a block of turns a
    // write (measured), a person's a write each, and the refusal it then costs the scan's claim
    // of the block that turn is in.
    let turns = (scheduled + first) * scan_turn_writes + on_demand * on_demand_turn_writes;
    // A list opened: `/v1/me` (2 reads), the summary (1), the visit (a read and a write), each of
    // at most one unit, and a page of 50 at the units per item measured.
    let list_reads = 2.0 + 1.0 + 1.0 + 50.0 * list_item_reads;
    // An export: recorded, its key, claimed, progress every 200 rows, finished.
    let export_units = 5.0 + ROWS_PER_EXPORT / 200.0;

    // Events out and swap patterns (the relay), the daily digest: issue 18.
    let (changes, takes) = (2.0 * swaps, swaps);
    let digests = DIGEST_SUBSCRIBERS * 30.0;
    let emails = digests * DIGESTS_WITH_NEWS;
    let write_units = first * units(FIRST)
        + swaps * units(SWAP)
        + takes * RELAY_UNITS_PER_TAKE
        + changes * 2.0
        + digests * DIGEST_UNITS
        + syncs_quiet * units(QUIET_SYNC)
        + syncs_risky * units(RISKY_SYNC)
        + turns
        + list_opens
        + exports * export_units;
    let read_units = first * reads(FIRST)
        + swaps * reads(SWAP)
        + syncs_quiet * reads(QUIET_SYNC)
        + syncs_risky * reads(RISKY_SYNC)
        + list_opens * list_reads
        + exports * ROWS_PER_EXPORT * export_row_reads
        + takes * RELAY_READS_PER_TAKE
        + changes
        + digests * DIGEST_READS
        + pass_reads;
    let item_bytes = mean_item_bytes + ITEM_OVERHEAD_BYTES;
    let stored_items = items_per_application + INDEXED_PER_APPLICATION + AT_RISK_SHARE * ROWS_PER_AT_RISK_ENTRY;
    let stored_gb = APPLICATIONS * stored_items * item_bytes / 1e9;
    let work = submissions + api_calls_of(list_opens, on_demand, exports) + exports + changes;
    let logs_gb = work * LOG_BYTES_PER_WORK / 1e9;

    // Lambda: the ingest per event, each API call, each on-demand sync, the scan running its duty
    // cycle, the exports.
    let seconds = |requests: f64| requests * MS_PER_REQUEST / 1000.0;
    let ingest_s = first * seconds(requests(FIRST)) + swaps * seconds(requests(SWAP));
    let api_calls = api_calls_of(list_opens, on_demand, exports);
    let api_s = list_opens * seconds(4.0 + 5.0)
        + on_demand * (MARKETPLACE_MS / 1000.0 + seconds(requests(RISKY_SYNC)))
        + exports * 7.0 * seconds(2.0);
    let scan_s = DUTY * 30.0 * 86_400.0;
    let export_s = exports * seconds(ROWS_PER_EXPORT / 200.0 + 8.0);
    let gb_seconds = LAMBDA_GB * (ingest_s + api_s + scan_s + export_s);
    // The relay every minute, the digest every 15 minutes.
    let outbound_s = seconds(changes * 3.0 + takes * 4.0 + digests * 7.0);
    let gb_seconds = gb_seconds + LAMBDA_GB * outbound_s;
    let invocations = submissions / 10.0 + api_calls + exports + 2_880.0 + 8_640.0 + 43_200.0 + 2_880.0;

    let p = &PRICES;
    Month {
        lines: vec![
            ("DynamoDB writes", write_units / 1e6 * p.per_million_write_units),
            ("DynamoDB reads", read_units / 1e6 * p.per_million_read_units),
            ("DynamoDB storage and point-in-time recovery", stored_gb * (p.storage_gb_month + p.pitr_gb_month)),
            ("Lambda", gb_seconds * p.lambda_gb_second + invocations / 1e6 * p.per_million_lambda_requests),
            ("SQS", (submissions * 1.2 + exports * 3.0) / 1e6 * p.per_million_sqs_requests),
            ("EventBridge", (submissions + changes) / 1e6 * p.per_million_events),
            ("API Gateway (HTTP API)", api_calls / 1e6 * p.per_million_http_api_requests),
            ("S3", exports * (3.0 * p.per_thousand_s3_puts + p.per_thousand_s3_gets) / 1e3),
            ("SES", (exports + emails) / 1e3 * p.per_thousand_emails),
            ("CloudWatch Logs", logs_gb * LOGS_GB),
        ],
    }
}

/// The HTTP API's calls: a list opened makes 4, a client opened 2, an export 7 (polls included).
fn api_calls_of(list_opens: f64, on_demand: f64, exports: f64) -> f64 {
    list_opens * 4.0 + on_demand * 2.0 + exports * 7.0
}

/// What the bench measured besides the operations: read units per list item returned and per
/// export row, and the mean size of the items the probe wrote.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub list_item_reads: f64,
    pub export_row_reads: f64,
    pub mean_item_bytes: f64,
}

/// The partner requests a second the 7-day re-sync promise needs while `new_per_second` new
/// applications arrive and people sync on demand.
fn rate_needed(new_per_second: f64) -> f64 {
    let resync = APPLICATIONS / (NOW.resync_days * 86_400.0);
    let on_demand = AGENTS * LIST_OPENS_PER_AGENT_DAY * ON_DEMAND_PER_LIST_OPEN / 86_400.0;
    // From T(N) = N / (d (s R − r_od) − r_new) ≤ the window (README, "Keeping up").
    (resync + new_per_second) / (SCAN_SHARE * DUTY) + on_demand / SCAN_SHARE
}

pub fn monthly(figures: &[Figure], measured: &Measured, report: &mut Report) {
    let bill = |figures: &[Figure], load| month(figures, measured, load, NOW);
    let (open, quiet) = (bill(figures, OPEN_ENROLLMENT), bill(figures, OTHER_MONTH));
    // The write path before issue 29, where measured, priced the same way.
    let then: Vec<Figure> =
        figures.iter().map(|f| crate::writes::before(f.operation).unwrap_or_else(|| f.clone())).collect();
    let bill_then = |load| month(&then, measured, load, BEFORE);
    let (open_then, quiet_then) = (bill_then(OPEN_ENROLLMENT), bill_then(OTHER_MONTH));
    println!("  the monthly bill at the spec's scale, prices of {PRICES_AS_OF} (docs/capacity.md):");
    println!("    {:<46} {:>14} {:>14}", "", "open enrollment", "other months");
    for ((what, in_open), (_, otherwise)) in open.lines.iter().zip(&quiet.lines) {
        println!("    {what:<46} {:>14} {:>14}", format!("${in_open:.0}"), format!("${otherwise:.0}"));
    }
    report.add(
        format!("a month at the spec's scale (10 M applications, 7-day re-sync, 30,000 agents, 2,000 exports a day; docs/capacity.md), prices of {PRICES_AS_OF}: open enrollment / other months"),
        format!(
            "${:.0} / ${:.0} (before issue 29: ${:.0} / ${:.0})",
            open.total(),
            quiet.total(),
            open_then.total(),
            quiet_then.total()
        ),
        format!("≤ ${OPEN_ENROLLMENT_TARGET:.0} / ≤ ${OTHER_MONTH_TARGET:.0}"),
        open.total() <= OPEN_ENROLLMENT_TARGET && quiet.total() <= OTHER_MONTH_TARGET,
    );
    // The least the same month can cost with these reads and services: every operation at its
    // floor (docs/capacity.md), which says whether a target is within the design's reach at all.
    let floored: Vec<Figure> = figures
        .iter()
        .map(|f| match crate::writes::FLOORS.iter().find(|(operation, _)| *operation == f.operation) {
            Some((_, floor)) => Figure { write_units: *floor, ..f.clone() },
            None => f.clone(),
        })
        .collect();
    let (open_floor, quiet_floor) = (bill(&floored, OPEN_ENROLLMENT), bill(&floored, OTHER_MONTH));
    report.baseline(
        "the same month with every operation's write units at its floor: open enrollment / other months (DynamoDB writes in it)",
        format!(
            "${:.0} / ${:.0} (${:.0} / ${:.0})",
            open_floor.total(),
            quiet_floor.total(),
            open_floor.line("DynamoDB writes"),
            quiet_floor.line("DynamoDB writes")
        ),
    );
    report.baseline(
        "partner requests a second the 7-day re-sync needs (scan share 0.95, duty 840 of 900 s, on-demand 1 per list opened): open enrollment / other months",
        format!(
            "{:.1} / {:.1}",
            rate_needed(PEAK_DAY_SUBMISSIONS / 86_400.0),
            rate_needed((OTHER_MONTH.new_applications + OTHER_MONTH.swaps) / (30.0 * 86_400.0))
        ),
    );
    // The load as this model took it before it was bounded by the plan year's applications.
    report.baseline(
        "an open-enrollment month as the model took it until 2026-12-07, every day a peak day (30 M submissions, 27 M new applications): now / before issue 29",
        format!(
            "${:.0} / ${:.0}",
            bill(figures, OPEN_ENROLLMENT_UNBOUNDED).total(),
            bill_then(OPEN_ENROLLMENT_UNBOUNDED).total()
        ),
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bill_paces_passes_as_the_scan_does() {
        assert_eq!(super::PASS_EVERY_HOURS, sync_trigger::scan::PASS_EVERY.num_minutes() as f64 / 60.0);
        let week = chrono::Duration::hours(168);
        assert_eq!(sync_trigger::scan::pass_every(week), sync_trigger::scan::PASS_EVERY, "a week's window's pace");
    }
}

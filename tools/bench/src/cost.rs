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

/// The spec's deployment (SPEC §7 and issue 17), per 30-day month.
const APPLICATIONS: f64 = 10_000_000.0;
const RESYNC_DAYS: f64 = 7.0;
const AT_RISK_SHARE: f64 = 0.10;
const AGENTS: f64 = 30_000.0;
const LIST_OPENS_PER_AGENT_DAY: f64 = 5.0;
const EXPORTS_PER_DAY: f64 = 2_000.0;
/// Assumed: an export of 500 rows on average (an agent's book; admins' are larger, fewer).
const ROWS_PER_EXPORT: f64 = 500.0;
/// Open enrollment: every day a peak day of a million submissions (an upper bound); otherwise 1%
/// of the applications a month (special enrollment, changes).
const SUBMISSIONS_OPEN_ENROLLMENT: f64 = 30.0 * 1_000_000.0;
const SUBMISSIONS_OTHERWISE: f64 = 0.01 * APPLICATIONS;
/// Assumed: one client page opened (one on-demand sync) per list opened.
const ON_DEMAND_PER_LIST_OPEN: f64 = 1.0;
/// Assumed: a DynamoDB request takes 10 ms inside the region; a marketplace answer 275 ms on
/// average (the bench's simulator: evenly 50 to 500 ms); functions have 256 MB.
const MS_PER_REQUEST: f64 = 10.0;
const MARKETPLACE_MS: f64 = 275.0;
const LAMBDA_GB: f64 = 0.25;
/// Assumed: 350 bytes an item on average (an evidence item with its keys); the stored evidence of
/// an application grows by one item a sync: half a year's syncs on average.
const ITEM_BYTES: f64 = 350.0;
/// Issue 18's features (in both designs' bills), counted from the code paths, not measured by the
/// probe: each swap is one change
/// out when flagged and, in time, one when cleared; the relay reads the outbox item and the two
/// agents' paths, publishes, counts the take (a transaction of 1 + 2 per agency on a path of
/// `PATH`: 2 units an item) and takes the item out (an update and its index: 2 units).
const PATH: f64 = 3.0;
const RELAY_UNITS_PER_TAKE: f64 = 2.0 * (1.0 + 2.0 * PATH) + 2.0;
const RELAY_READS_PER_TAKE: f64 = 1.0 + 2.0 * (1.0 + PATH);
/// Assumed: three in ten agents ask for the digest, half of them have something new on a day. A
/// digest reads the settings, the agent, the claim and the flagged rows (about 5), writes the
/// claim, its renewal and the mark with the watermark (2 + 1 + 4 units).
const DIGEST_SUBSCRIBERS: f64 = 0.3 * AGENTS;
const DIGESTS_WITH_NEWS: f64 = 0.5;
const DIGEST_READS: f64 = 8.0;
const DIGEST_UNITS: f64 = 7.0;
/// The scan's duty cycle (840 s of every 900) and its share of the rate, for the rate the
/// re-sync promise needs.
const DUTY: f64 = 840.0 / 900.0;
const SCAN_SHARE: f64 = 0.95;

fn figure<'a>(figures: &'a [Figure], operation: &str) -> &'a Figure {
    figures.iter().find(|f| f.operation == operation).unwrap_or_else(|| panic!("the probe measures {operation}"))
}

/// The replaced design's write request units for `operation`: the current ones, less two for
/// each item its transaction did not write then (its figures count items, as `writes.rs` shows).
fn replaced_units(figures: &[Figure], operation: &str) -> f64 {
    let now = figure(figures, operation);
    let then = crate::writes::replaced(operation).parse::<f64>().unwrap_or(now.items);
    now.write_units - 2.0 * (now.items - then)
}

struct Month {
    lines: Vec<(&'static str, f64)>,
}

impl Month {
    fn total(&self) -> f64 {
        self.lines.iter().map(|(_, dollars)| dollars).sum()
    }
}

/// One month's bill; `replaced`: with the replaced design's write figures and without the shared
/// marketplace budget's turn writes.
fn month(figures: &[Figure], list_item_reads: f64, export_row_reads: f64, submissions: f64, replaced: bool) -> Month {
    let units = |operation: &str| {
        if replaced { replaced_units(figures, operation) } else { figure(figures, operation).write_units }
    };
    let reads = |operation: &str| figure(figures, operation).reads;
    let requests = |operation: &str| figure(figures, operation).requests;
    const FIRST: &str = "a first submission (a new application, not at risk)";
    const SWAP: &str = "a submission that makes a swap (owner 2 levels down)";
    const QUIET_SYNC: &str = "a sync that changes nothing (not at risk)";
    const RISKY_SYNC: &str = "a sync that confirms an entry at risk";

    let scheduled = APPLICATIONS * 30.0 / RESYNC_DAYS;
    let list_opens = AGENTS * LIST_OPENS_PER_AGENT_DAY * 30.0;
    let on_demand = list_opens * ON_DEMAND_PER_LIST_OPEN;
    let exports = EXPORTS_PER_DAY * 30.0;
    let (first, swaps) = (submissions * (1.0 - AT_RISK_SHARE), submissions * AT_RISK_SHARE);
    // Every new application is synced once soon after it arrives (the scan's priority lane).
    let syncs_quiet = scheduled * (1.0 - AT_RISK_SHARE) + submissions * (1.0 - AT_RISK_SHARE);
    let syncs_risky = scheduled * AT_RISK_SHARE + on_demand;
    // Each marketplace request is one turn of the shared budget: one conditional put.
    let turns = if replaced { 0.0 } else { scheduled + submissions * (1.0 - AT_RISK_SHARE) + on_demand };
    // A list opened: `/v1/me` (2 reads), the summary (1), the visit (a read and a write), a page.
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
        + digests * DIGEST_READS;
    // Meta, entry, placement, history and the submission, and half a year of weekly syncs.
    let stored_gb = APPLICATIONS * (5.0 + 26.0) * ITEM_BYTES / 1e9;

    // Lambda: the ingest per event, each API call, each on-demand sync, the scan running its duty
    // cycle, the exports.
    let seconds = |requests: f64| requests * MS_PER_REQUEST / 1000.0;
    let ingest_s = first * seconds(requests(FIRST)) + swaps * seconds(requests(SWAP));
    let api_calls = list_opens * 4.0 + on_demand * 2.0 + exports * 7.0;
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
        ],
    }
}

/// The partner requests a second the 7-day re-sync promise needs while `new_per_second` new
/// applications arrive and people sync on demand.
fn rate_needed(new_per_second: f64) -> f64 {
    let resync = APPLICATIONS / (RESYNC_DAYS * 86_400.0);
    let on_demand = AGENTS * LIST_OPENS_PER_AGENT_DAY * ON_DEMAND_PER_LIST_OPEN / 86_400.0;
    // From T(N) = N / (d (s R − r_od) − r_new) ≤ the window (README, "Keeping up").
    (resync + new_per_second) / (SCAN_SHARE * DUTY) + on_demand / SCAN_SHARE
}

pub fn monthly(figures: &[Figure], list_item_reads: f64, export_row_reads: f64, report: &mut Report) {
    let bill = |submissions, replaced| month(figures, list_item_reads, export_row_reads, submissions, replaced);
    let (open, quiet) = (bill(SUBMISSIONS_OPEN_ENROLLMENT, false), bill(SUBMISSIONS_OTHERWISE, false));
    let (open_then, quiet_then) = (bill(SUBMISSIONS_OPEN_ENROLLMENT, true), bill(SUBMISSIONS_OTHERWISE, true));
    println!("  the monthly bill at the spec's scale, prices of {PRICES_AS_OF} (docs/capacity.md):");
    println!("    {:<46} {:>14} {:>14}", "", "open enrollment", "other months");
    for ((what, in_open), (_, otherwise)) in open.lines.iter().zip(&quiet.lines) {
        println!("    {what:<46} {:>14} {:>14}", format!("${in_open:.0}"), format!("${otherwise:.0}"));
    }
    report.baseline(
        format!("a month at the spec's scale (10 M applications, 7-day re-sync, 30,000 agents, 2,000 exports a day; docs/capacity.md), prices of {PRICES_AS_OF}: open enrollment / other months"),
        format!(
            "${:.0} / ${:.0} (the design this replaces: ${:.0} / ${:.0})",
            open.total(),
            quiet.total(),
            open_then.total(),
            quiet_then.total()
        ),
    );
    report.baseline(
        "partner requests a second the 7-day re-sync needs (scan share 0.95, duty 840 of 900 s, on-demand 1 per list opened): open enrollment / other months",
        format!(
            "{:.1} / {:.1}",
            rate_needed(SUBMISSIONS_OPEN_ENROLLMENT / (30.0 * 86_400.0)),
            rate_needed(SUBMISSIONS_OTHERWISE / (30.0 * 86_400.0))
        ),
    );
}

//! What an operator watches: metrics as CloudWatch Embedded Metric Format (EMF) lines. Each is one
//! JSON object printed on its own line; CloudWatch Logs turns it into metrics as it takes in the
//! function's log, so a metric costs no API call and no time on the request's path.
//!
//! Every metric this system emits is a constant here (the README's table, the template's alarms
//! and dashboard and the tests name the same ones).

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Seconds => "Seconds",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
}

const fn count(name: &'static str) -> Metric {
    Metric { name, unit: Unit::Count }
}

const fn seconds(name: &'static str) -> Metric {
    Metric { name, unit: Unit::Seconds }
}

/// How far past the staleness window the stalest application is (0 while none is): the scan's
/// promise is a re-sync within the window plus one run.
pub const SCAN_LAG: Metric = seconds("ScanLag");
/// Syncs ended, by `Outcome` (`OUTCOME`): on-demand and scheduled.
pub const SYNCS: Metric = count("Syncs");
/// Marketplace answers that asked to slow down (429), every attempt counted.
pub const MARKETPLACE_THROTTLES: Metric = count("MarketplaceThrottles");
/// Marketplace attempts that failed: 5xx, time-outs, connections, answers that are not the contract.
pub const MARKETPLACE_ERRORS: Metric = count("MarketplaceErrors");
/// Placements cancelled because the entry, its owner or a visit changed meanwhile (then retried).
pub const PLACEMENT_CONFLICTS: Metric = count("PlacementConflicts");
/// Writes whose writer died before placing them, placed by the scan.
pub const UNPLACED_MARKS_PLACED: Metric = count("UnplacedMarksPlaced");
/// Of those, the ones whose placement failed (set aside and tried again later; the checker lists
/// them while they stay unplaced).
pub const UNPLACED_MARKS_FAILED: Metric = count("UnplacedMarksFailed");
/// Age of the oldest change still waiting in the outbox when the relay ran.
pub const OUTBOX_AGE: Metric = seconds("OutboxAge");
pub const EVENTS_PUBLISHED: Metric = count("EventsPublished");
/// Platform events applied, handed back for a retry, and refused to the dead-letter queue (by `Reason`).
pub const EVENTS_APPLIED: Metric = count("EventsApplied");
pub const EVENTS_RETRIED: Metric = count("EventsRetried");
pub const EVENTS_REFUSED: Metric = count("EventsRefused");
/// One export, from its request to its file ready.
pub const EXPORT_DURATION: Metric = seconds("ExportDuration");
pub const EXPORT_ROWS: Metric = count("ExportRows");
pub const EXPORTS_FAILED: Metric = count("ExportsFailed");
/// Exports whose requester could not be emailed within a day (the sweep gave up).
pub const EXPORTS_NOT_NOTIFIED: Metric = count("ExportsNotNotified");
pub const DIGESTS_SENT: Metric = count("DigestsSent");

/// Every metric, for the tests that hold the template and the README to them.
pub const ALL: [Metric; 17] = [
    SCAN_LAG,
    SYNCS,
    MARKETPLACE_THROTTLES,
    MARKETPLACE_ERRORS,
    PLACEMENT_CONFLICTS,
    UNPLACED_MARKS_PLACED,
    UNPLACED_MARKS_FAILED,
    OUTBOX_AGE,
    EVENTS_PUBLISHED,
    EVENTS_APPLIED,
    EVENTS_RETRIED,
    EVENTS_REFUSED,
    EXPORT_DURATION,
    EXPORT_ROWS,
    EXPORTS_FAILED,
    EXPORTS_NOT_NOTIFIED,
    DIGESTS_SENT,
];

/// The dimension of `SYNCS`.
pub const OUTCOME: &str = "Outcome";
/// The dimension of `EVENTS_REFUSED`.
pub const REASON: &str = "Reason";

/// The namespace when `METRICS_NAMESPACE` is unset (the template sets the stack's name, so that two
/// stacks in one account keep their figures apart).
pub const DEFAULT_NAMESPACE: &str = "AorAtRisk";

/// One EMF line: values sharing one set of dimensions (none, or one such as `Outcome`).
#[derive(Debug, Clone, Default)]
pub struct Line {
    dimensions: Vec<(&'static str, String)>,
    values: Vec<(Metric, f64)>,
}

impl Line {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }

    pub fn put(mut self, metric: Metric, value: f64) -> Self {
        self.values.push((metric, value));
        self
    }

    /// A count.
    pub fn count(self, metric: Metric, n: u64) -> Self {
        self.put(metric, n as f64)
    }

    /// A duration, in seconds (never negative).
    pub fn duration(self, metric: Metric, took: chrono::Duration) -> Self {
        self.put(metric, (took.num_milliseconds().max(0) as f64) / 1000.0)
    }

    /// The line as EMF, timestamped `at`.
    pub fn to_json(&self, namespace: &str, at: DateTime<Utc>) -> serde_json::Value {
        let metrics: Vec<serde_json::Value> = self
            .values
            .iter()
            .map(|(metric, _)| serde_json::json!({"Name": metric.name, "Unit": metric.unit.as_str()}))
            .collect();
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(name, _)| *name).collect();
        let mut line = serde_json::json!({
            "_aws": {
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [dimension_names],
                    "Metrics": metrics,
                }],
            },
        });
        for (name, value) in &self.dimensions {
            line[*name] = serde_json::Value::from(value.as_str());
        }
        for (metric, value) in &self.values {
            line[metric.name] = serde_json::Value::from(*value);
        }
        line
    }

    /// Prints the line (nothing when it holds no value).
    pub fn emit(self) {
        if self.values.is_empty() {
            return;
        }
        let namespace = std::env::var("METRICS_NAMESPACE").unwrap_or_else(|_| DEFAULT_NAMESPACE.to_owned());
        let text = self.to_json(&namespace, Utc::now()).to_string();
        let captured = CAPTURE.with(|capture| capture.borrow().clone());
        match (captured, LOCAL_LOG.get()) {
            (Some(lines), _) => lines.lock().expect("the capture is never poisoned").push(text),
            (None, Some(Some(file))) => {
                let _ = writeln!(file.lock().expect("the metrics log is never poisoned"), "{text}");
            }
            (None, Some(None)) => {}
            (None, None) => println!("{text}"),
        }
    }
}

/// A count kept by a long-lived part (the store, the marketplace client) and taken into the
/// invocation's line when it ends: a Lambda instance serves one invocation at a time, so what a
/// line takes is what that invocation did.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count so far, which starts again from zero.
    pub fn take(&self) -> u64 {
        self.0.swap(0, Ordering::Relaxed)
    }
}

/// Where a local tool's metric lines go: the file `METRICS_LOG` names, or nowhere (`None`).
static LOCAL_LOG: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();

/// For local tools: metric lines are appended to the file `METRICS_LOG` names (`make dev`:
/// `.dev/metrics.log`), or dropped — never on stdout, which is for what a tool prints.
pub fn local() {
    let file = std::env::var_os("METRICS_LOG")
        .and_then(|path| std::fs::OpenOptions::new().create(true).append(true).open(path).ok());
    let _ = LOCAL_LOG.set(file.map(Mutex::new));
}

thread_local! {
    static CAPTURE: RefCell<Option<Arc<Mutex<Vec<String>>>>> = const { RefCell::new(None) };
}

/// The lines emitted on this thread while the guard lives, kept instead of printed (for tests:
/// a test's runtime has one thread, so it sees its own lines and no other test's).
pub struct Capture {
    lines: Arc<Mutex<Vec<String>>>,
}

impl Capture {
    pub fn start() -> Self {
        let lines = Arc::new(Mutex::new(Vec::new()));
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(lines.clone()));
        Self { lines }
    }

    /// The lines so far, parsed.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        let lines = self.lines.lock().expect("the capture is never poisoned");
        lines.iter().map(|line| serde_json::from_str(line).expect("an EMF line is JSON")).collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURE.with(|capture| *capture.borrow_mut() = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_emf_with_its_dimensions_and_values() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z").unwrap().with_timezone(&Utc);
        let line =
            Line::new().dimension(OUTCOME, "ok").count(SYNCS, 3).duration(SCAN_LAG, chrono::Duration::seconds(90));
        let json = line.to_json("Stack", at);
        let directive = &json["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(json["_aws"]["Timestamp"], 1_796_126_400_000_i64);
        assert_eq!(directive["Namespace"], "Stack");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Outcome"]]));
        assert_eq!(
            directive["Metrics"],
            serde_json::json!([{"Name": "Syncs", "Unit": "Count"}, {"Name": "ScanLag", "Unit": "Seconds"}])
        );
        assert_eq!(
            (json["Outcome"].as_str(), json["Syncs"].as_f64(), json["ScanLag"].as_f64()),
            (Some("ok"), Some(3.0), Some(90.0))
        );
    }

    #[test]
    fn a_line_without_dimensions_has_one_empty_set() {
        let json = Line::new().count(DIGESTS_SENT, 1).to_json("Stack", Utc::now());
        assert_eq!(json["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([[]]));
    }

    #[test]
    fn a_counter_starts_again_when_taken() {
        let counter = Counter::default();
        counter.add(2);
        counter.add(3);
        assert_eq!((counter.take(), counter.take()), (5, 0));
    }

    #[test]
    fn metric_names_are_unique() {
        let names: std::collections::BTreeSet<&str> = ALL.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), ALL.len());
    }
}

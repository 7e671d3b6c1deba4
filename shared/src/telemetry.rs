//! Logging: JSON lines in Lambda (CloudWatch reads them as structured fields), readable text on a
//! laptop. Never log personal data (client names, emails): the domain types that hold it print
//! `<redacted>` in `Debug`, and log lines carry ids only.

use tracing_subscriber::filter::LevelFilter;

/// For Lambda functions: JSON, no ANSI colours.
pub fn init_lambda() {
    let _ = tracing_subscriber::fmt().json().with_max_level(level()).with_current_span(false).without_time().try_init();
}

/// For local tools: text on stderr (stdout is for what a tool prints).
pub fn init_local() {
    let _ = tracing_subscriber::fmt().with_max_level(level()).with_writer(std::io::stderr).try_init();
}

/// One level for everything, from `RUST_LOG` (`error`, `warn`, `info`, `debug`, `trace`, `off`);
/// `info` when unset or not a level. (A per-module filter would link a regex engine into every
/// function for a feature nobody here uses.)
fn level() -> LevelFilter {
    std::env::var("RUST_LOG").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(LevelFilter::INFO)
}

/// An error and its sources, outermost first, joined by ": " — for a log line that keeps the
/// cause. Only for errors of this system's own calls (the table, storage, queues): never for one
/// that may quote a person's data.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

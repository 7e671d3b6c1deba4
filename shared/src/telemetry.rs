//! Logging: in Lambda, the runtime's own setup, so that the function's logging configuration
//! applies (the template asks for JSON at INFO: `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`),
//! each line carrying the request id; readable text on a laptop. Never log personal data (client
//! names, emails): the domain types that hold it print `<redacted>` in `Debug`, and log lines carry
//! ids only. Metrics are lines of their own (`crate::metrics`).

use tracing_subscriber::filter::LevelFilter;

/// For Lambda functions.
pub fn init_lambda() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// For local tools: text on stderr (stdout is for what a tool prints); metric lines where
/// `crate::metrics::local` says.
pub fn init_local() {
    let _ = tracing_subscriber::fmt().with_max_level(level()).with_writer(std::io::stderr).try_init();
    crate::metrics::local();
}

/// One level for everything, from `RUST_LOG` (`error`, `warn`, `info`, `debug`, `trace`, `off`);
/// `info` when unset or not a level.
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

//! Logging: JSON lines in Lambda (CloudWatch reads them as structured fields), readable text on a
//! laptop. Never log personal data (client names, emails): the domain types that hold it print
//! `<redacted>` in `Debug`, and log lines carry ids only.

/// For Lambda functions: JSON, level from `RUST_LOG` (default `info`), no ANSI colours.
pub fn init_lambda() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).with_current_span(false).without_time().try_init();
}

/// For local tools: text on stderr (stdout is for what a tool prints), level from `RUST_LOG`
/// (default `info`).
pub fn init_local() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

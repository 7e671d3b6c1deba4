//! Settings, read once at start from the environment; a missing one stops the function at once
//! with its name.

use std::time::Duration;

use shared::aws::{MissingSetting, required_env};
use shared::domain::PlanYear;

#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub marketplace_base_url: String,
    pub marketplace_api_key: String,
    pub year: PlanYear,
    /// Requests per second the partner allows this deployment, retries included.
    pub rate_per_second: f64,
    /// Marketplace calls in flight at once during a scan.
    pub concurrency: usize,
    /// Applications last synced longer ago than this are due for a re-sync.
    pub stale_after: chrono::Duration,
    /// How long one scan may run, well inside the Lambda time limit.
    pub scan_budget: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Missing(#[from] MissingSetting),
    #[error(transparent)]
    Setting(#[from] shared::config::InvalidSetting),
    #[error("{0} is not valid: {1}")]
    Invalid(&'static str, String),
}

impl Config {
    /// The API key comes from `MARKETPLACE_API_KEY`, or (in AWS) from the SSM SecureString
    /// parameter named by `MARKETPLACE_API_KEY_PARAMETER`, read once at start.
    pub async fn from_env(sdk: &shared::aws::SdkConfig) -> Result<Self, ConfigError> {
        let marketplace_api_key = match std::env::var("MARKETPLACE_API_KEY") {
            Ok(key) if !key.is_empty() => key,
            _ => {
                let name = required_env("MARKETPLACE_API_KEY_PARAMETER")?;
                let answer = aws_sdk_ssm::Client::new(sdk)
                    .get_parameter()
                    .name(&name)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|e| {
                        ConfigError::Invalid(
                            "MARKETPLACE_API_KEY_PARAMETER",
                            aws_sdk_ssm::error::DisplayErrorContext(e).to_string(),
                        )
                    })?;
                answer
                    .parameter
                    .and_then(|p| p.value)
                    .ok_or(ConfigError::Invalid("MARKETPLACE_API_KEY_PARAMETER", "the parameter has no value".into()))?
            }
        };
        Ok(Self {
            table: required_env("TABLE_NAME")?,
            marketplace_base_url: required_env("MARKETPLACE_BASE_URL")?,
            marketplace_api_key,
            year: shared::config::current_plan_year()?,
            rate_per_second: number("SYNC_RATE_PER_SECOND", 10.0)?,
            concurrency: number("SYNC_CONCURRENCY", 8.0)? as usize,
            stale_after: chrono::Duration::seconds((number("SYNC_STALE_AFTER_HOURS", 24.0)? * 3600.0) as i64),
            scan_budget: Duration::from_secs_f64(number("SCAN_BUDGET_SECONDS", 600.0)?),
        })
    }
}

fn number(name: &'static str, default: f64) -> Result<f64, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(raw) => match raw.parse::<f64>() {
            Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
            _ => Err(ConfigError::Invalid(name, raw)),
        },
    }
}

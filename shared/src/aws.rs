//! AWS configuration, read once from the standard environment (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, credentials). Pointing `AWS_ENDPOINT_URL` at an emulator is the only thing
//! that differs locally: no code path knows whether it talks to AWS or not.

use aws_config::{BehaviorVersion, SdkConfig};

pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// A required setting from the environment, with an error that names it.
pub fn required_env(name: &str) -> Result<String, MissingSetting> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or_else(|| MissingSetting(name.to_owned()))
}

#[derive(Debug, thiserror::Error)]
#[error("the environment variable {0} must be set")]
pub struct MissingSetting(pub String);

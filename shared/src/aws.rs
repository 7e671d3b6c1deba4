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

/// The S3 client. `S3_FORCE_PATH_STYLE=true` addresses buckets by path rather than by host name,
/// which endpoints without wildcard DNS (a local emulator) need; AWS accepts both.
#[cfg(feature = "s3")]
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var("S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true" || v == "1");
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build())
}

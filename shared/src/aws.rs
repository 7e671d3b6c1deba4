//! AWS configuration from the standard environment variables: `AWS_REGION`, the credentials
//! Lambda puts there (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and,
//! only locally, `AWS_ENDPOINT_URL` pointing at the emulator: no code path knows whether it talks
//! to AWS or not. Not aws-config: its chain of credential providers (profiles, SSO, web identity,
//! assumed roles) links the STS client into every function, and Lambda needs none of them.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_types::region::Region;

pub use aws_types::SdkConfig;

pub fn sdk_config() -> SdkConfig {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = SdkConfig::builder().behavior_version(BehaviorVersion::latest());
    if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        config = config.region(Region::new(region));
    }
    if let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        let credentials = Credentials::new(key, secret, env("AWS_SESSION_TOKEN"), None, "environment");
        config = config.credentials_provider(SharedCredentialsProvider::new(credentials));
    }
    if let Some(url) = env("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    config.build()
}

/// The S3 client. `S3_FORCE_PATH_STYLE=true` addresses buckets by path rather than by host name,
/// which endpoints without wildcard DNS (a local emulator) need; AWS accepts both.
#[cfg(feature = "s3")]
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var("S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true" || v == "1");
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build())
}

//! `export-builder` Lambda function: the exports queue's consumer.

use std::time::Duration;

use export_builder::build::{Deps, MIN_PART_SIZE, Settings};
use export_builder::handler;
use lambda_runtime::{LambdaEvent, service_fn};
use shared::aws::required_env;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_lambda();
    let sdk = shared::aws::sdk_config();
    let number = |name: &str, default: i64| -> Result<i64, lambda_runtime::Error> {
        match std::env::var(name) {
            Err(_) => Ok(default),
            Ok(raw) => raw.parse().map_err(|_| format!("{name} must be a whole number").into()),
        }
    };
    let client_details_base_url = required_env("CLIENT_DETAILS_BASE_URL")?;
    // The page is served where the client details links point, unless said otherwise.
    let web_base_url = required_env("WEB_BASE_URL").unwrap_or_else(|_| client_details_base_url.clone());
    let deps = Deps {
        store: Store::from_env(&sdk)?,
        s3: shared::aws::s3_client(&sdk),
        ses: aws_sdk_sesv2::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        settings: Settings {
            bucket: required_env("EXPORTS_BUCKET")?,
            dead_letter_queue_url: required_env("EXPORTS_DLQ_URL")?,
            sender: required_env("SENDER_EMAIL")?,
            web_base_url,
            client_details_base_url,
            retention_days: number("EXPORT_RETENTION_DAYS", 7)?,
            lease: Duration::from_secs(u64::try_from(number("EXPORT_LEASE_SECONDS", 900)?).unwrap_or(900)),
            part_size: MIN_PART_SIZE,
            page_size: 200,
            max_receives: u32::try_from(number("EXPORTS_MAX_RECEIVES", 3)?).unwrap_or(3),
        },
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        let deps = &deps;
        async move { Ok::<_, lambda_runtime::Error>(handler::handle(deps, event.payload).await) }
    }))
    .await
}

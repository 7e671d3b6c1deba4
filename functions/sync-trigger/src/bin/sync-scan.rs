//! `sync-scan` Lambda function: the scheduled scan, triggered by an EventBridge schedule.

use std::sync::Arc;

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use shared::store::Store;
use sync_trigger::config::Config;
use sync_trigger::marketplace::{MarketplaceClient, RetryPolicy};
use sync_trigger::rate_limit::RateLimiter;
use sync_trigger::scan::{self, ScanSettings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_lambda();
    let sdk = shared::aws::sdk_config();
    let config = Config::from_env(&sdk).await?;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table);
    let limiter = Arc::new(RateLimiter::per_second(config.rate_per_second));
    let marketplace = MarketplaceClient::new(
        &config.marketplace_base_url,
        &config.marketplace_api_key,
        limiter,
        RetryPolicy::default(),
    );
    let settings = ScanSettings {
        year: config.year,
        stale_after: config.stale_after,
        concurrency: config.concurrency,
        page_size: 100,
    };
    let (store, marketplace, settings, budget) = (&store, &marketplace, &settings, config.scan_budget);
    lambda_runtime::run(service_fn(|event: LambdaEvent<CloudWatchEvent>| async move {
        let deadline = scan::deadline(budget, Some(event.context.deadline()));
        let report = scan::scan(store, marketplace, settings, chrono::Utc::now(), deadline).await?;
        tracing::info!(
            placed = report.placed,
            synced = report.synced,
            failed = report.failed,
            out_of_time = report.out_of_time,
            "scan finished"
        );
        Ok::<_, lambda_runtime::Error>(())
    }))
    .await
}

//! `sync-trigger` Lambda function: `POST /v1/clients/{federal_exchange_id}/sync` behind API Gateway.

use std::sync::Arc;

use shared::store::Store;
use sync_trigger::api::{self, ApiState};
use sync_trigger::config::Config;
use sync_trigger::marketplace::{MarketplaceClient, RetryPolicy};
use sync_trigger::rate_limit::RateLimiter;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_lambda();
    let sdk = shared::aws::sdk_config();
    let config = Config::from_env(&sdk).await?;
    let state = ApiState {
        store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table),
        marketplace: marketplace(&config),
        year: config.year,
    };
    lambda_http::run(api::router(state).fallback(shared::http::no_such_route)).await
}

/// The on-demand path is one request at a time per instance: the limiter keeps one instance
/// within the rate, and the function's reserved concurrency bounds the instances.
fn marketplace(config: &Config) -> MarketplaceClient {
    let limiter = Arc::new(RateLimiter::per_second(config.rate_per_second));
    MarketplaceClient::new(&config.marketplace_base_url, &config.marketplace_api_key, limiter, RetryPolicy::default())
}

//! `sync-trigger` Lambda function: `POST /v1/clients/{federal_exchange_id}/sync` behind API Gateway.

use sync_trigger::app::{self, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_lambda();
    let (sdk, settings) = (shared::aws::sdk_config(), Settings::from_env()?);
    let router = app::router(&sdk, &settings, app::marketplace(&sdk, &settings)?);
    lambda_http::run(http_edge::edge(router)).await
}

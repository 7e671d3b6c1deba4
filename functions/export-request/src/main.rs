//! `export-request` Lambda function.

use export_request::app::{self, Settings};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_lambda();
    let router = app::router(&shared::aws::sdk_config(), Settings::from_env()?);
    lambda_http::run(http_edge::edge(router)).await
}

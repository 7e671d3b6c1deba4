//! `export-request` Lambda function.

use std::time::Duration;

use export_request::api::{self, ApiState};
use shared::aws::required_env;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_lambda();
    let sdk = shared::aws::sdk_config();
    let state = ApiState {
        store: Store::from_env(&sdk)?,
        sqs: aws_sdk_sqs::Client::new(&sdk),
        s3: shared::aws::s3_client(&sdk),
        exports_queue_url: required_env("EXPORTS_QUEUE_URL")?,
        bucket: required_env("EXPORTS_BUCKET")?,
        year: shared::config::current_plan_year()?,
        link_lifetime: Duration::from_secs(300),
    };
    lambda_http::run(api::router(state).fallback(shared::http::no_such_route)).await
}

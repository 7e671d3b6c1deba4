//! `at-risk-query` Lambda function.

use at_risk_query::api::{self, ApiState};
use shared::aws::required_env;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_lambda();
    let sdk = shared::aws::sdk_config();
    let state = ApiState {
        store: Store::from_env(&sdk)?,
        year: shared::config::current_plan_year()?,
        client_details_base_url: required_env("CLIENT_DETAILS_BASE_URL")?,
    };
    lambda_http::run(api::router(state).fallback(shared::http::no_such_route)).await
}

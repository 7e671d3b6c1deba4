//! `event-ingest` Lambda function: the ingest queue's consumer.

use event_ingest::handler::{self, Deps};
use lambda_runtime::{LambdaEvent, service_fn};
use shared::aws::required_env;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_lambda();
    let sdk = shared::aws::sdk_config();
    let deps = Deps {
        store: Store::from_env(&sdk)?,
        sqs: aws_sdk_sqs::Client::new(&sdk),
        dead_letter_queue_url: required_env("INGEST_DLQ_URL")?,
        future_allowance: shared::config::future_allowance()?,
        queue_url: required_env("INGEST_QUEUE_URL")?,
        // The function's time-out is 120 s: a batch leaves its jobs well before it.
        job_budget: std::time::Duration::from_secs(80),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        let deps = &deps;
        async move { Ok::<_, lambda_runtime::Error>(handler::handle(deps, event.payload).await) }
    }))
    .await
}

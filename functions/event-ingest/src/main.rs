//! `event-ingest` Lambda function: the ingest queue's consumer.

use event_ingest::app::{self, Settings};
use event_ingest::handler;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_lambda();
    let deps = app::deps(&shared::aws::sdk_config(), Settings::from_env()?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        let deps = &deps;
        let deadline = Some(event.context.deadline());
        async move { Ok::<_, lambda_runtime::Error>(handler::handle(deps, event.payload, deadline).await) }
    }))
    .await
}

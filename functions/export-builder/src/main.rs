//! `export-builder` Lambda function: the exports queue's consumer.

use export_builder::app::{self, Settings};
use export_builder::handler;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_lambda();
    let deps = app::deps(&shared::aws::sdk_config(), Settings::from_env()?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        let deps = &deps;
        async move { Ok::<_, lambda_runtime::Error>(handler::handle(deps, event.payload).await) }
    }))
    .await
}

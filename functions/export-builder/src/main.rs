//! `export-builder` Lambda function: the exports queue's consumer, and on a schedule the sweep
//! that ends every export left behind.

use export_builder::app::{self, Settings};
use export_builder::handler::{self, Invocation};
use export_builder::sweep;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_lambda();
    let deps = app::deps(&shared::aws::sdk_config(), Settings::from_env()?);
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let deps = &deps;
        async move {
            match handler::invocation(event.payload)? {
                Invocation::Batch(batch) => Ok(serde_json::to_value(handler::handle(deps, batch).await)?),
                Invocation::Sweep => {
                    let report = sweep::sweep(deps, chrono::Utc::now()).await?;
                    tracing::info!(queued_again = report.queued_again, failed = report.failed, "exports swept");
                    Ok::<_, lambda_runtime::Error>(serde_json::Value::Null)
                }
            }
        }
    }))
    .await
}

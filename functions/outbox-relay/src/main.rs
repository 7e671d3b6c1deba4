//! `outbox-relay` Lambda function, triggered every minute by an EventBridge schedule.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use outbox_relay::app::{self, Settings};
use outbox_relay::relay;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_lambda();
    let deps = app::deps(&shared::aws::sdk_config(), Settings::from_env()?);
    let deps = &deps;
    lambda_runtime::run(service_fn(|event: LambdaEvent<CloudWatchEvent>| async move {
        let report = relay::relay(deps, relay::deadline(Some(event.context.deadline()))).await?;
        tracing::info!(
            items = report.items,
            published = report.published,
            counted = report.counted,
            waiting = report.waiting,
            "outbox relayed"
        );
        // Failed items wait in the outbox; a failed invocation is what the errors alarm counts.
        if report.failed > 0 {
            return Err(format!("{} outbox items failed", report.failed).into());
        }
        Ok::<_, lambda_runtime::Error>(())
    }))
    .await
}

//! `sync-scan` Lambda function: the scheduled scan, triggered by an EventBridge schedule.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use sync_trigger::app::{self, Settings};
use sync_trigger::scan;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_lambda();
    let sdk = shared::aws::sdk_config();
    let settings = Settings::from_env()?;
    let (store, marketplace) = (app::store(&sdk, &settings), app::marketplace(&sdk, &settings)?);
    let (store, marketplace, settings) = (&store, &marketplace, &settings);
    lambda_runtime::run(service_fn(|event: LambdaEvent<CloudWatchEvent>| async move {
        let deadline = scan::deadline(settings.scan_budget, Some(event.context.deadline()));
        // Every plan year served today: during open enrollment, the coming one too.
        let now = chrono::Utc::now();
        let report = scan::scan_years(store, marketplace, &settings.scans(now.date_naive()), now, deadline).await?;
        tracing::info!(
            placed = report.placed,
            first_synced = report.first_synced,
            synced = report.synced,
            failed = report.failed,
            unknown = report.unknown,
            pass_completed = report.pass_completed,
            out_of_time = report.out_of_time,
            "scan finished"
        );
        Ok::<_, lambda_runtime::Error>(())
    }))
    .await
}

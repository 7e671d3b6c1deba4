//! `daily-digest` Lambda function, triggered every 15 minutes by an EventBridge schedule: from the
//! digest hour on, each run goes on with the day's digests where the last one stopped, until done.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use daily_digest::app::{self, Settings};
use daily_digest::run;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init_lambda();
    let deps = app::deps(&shared::aws::sdk_config(), Settings::from_env()?);
    let deps = &deps;
    lambda_runtime::run(service_fn(|event: LambdaEvent<CloudWatchEvent>| async move {
        let until = run::deadline(deps.settings.budget, Some(event.context.deadline()));
        let report = run::run(deps, chrono::Utc::now(), until).await?;
        tracing::info!(
            people = report.people,
            sent = report.sent,
            nothing_new = report.nothing_new,
            done = report.done,
            "digest run finished"
        );
        Ok::<_, lambda_runtime::Error>(())
    }))
    .await
}

//! The composition of `event-ingest`: its settings and the handler's dependencies built from
//! them. Lambda's `main`, the local system and the tests all compose it here.

use shared::config::{SettingError, Vars};
use shared::queue::Queue;
use store::Store;

use crate::handler::Deps;

#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub dead_letter_queue_url: String,
    pub queue_url: String,
    pub future_allowance: chrono::Duration,
    /// How long one batch may spend on directory jobs (`JOB_BUDGET_SECONDS`, default 80: the
    /// function's time-out is 120 s).
    pub job_budget: std::time::Duration,
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, SettingError> {
        Ok(Self {
            table: vars.required("TABLE_NAME")?,
            dead_letter_queue_url: vars.required("INGEST_DLQ_URL")?,
            queue_url: vars.required("INGEST_QUEUE_URL")?,
            future_allowance: vars.future_allowance()?,
            job_budget: vars.seconds("JOB_BUDGET_SECONDS", 80)?,
        })
    }
}

pub fn deps(sdk: &shared::aws::SdkConfig, settings: Settings) -> Deps<Store> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    Deps {
        store: Store::new(aws_sdk_dynamodb::Client::new(sdk), settings.table),
        dead_letters: Queue { sqs: sqs.clone(), url: settings.dead_letter_queue_url },
        ingest_queue: Queue { sqs, url: settings.queue_url },
        future_allowance: settings.future_allowance,
        job_budget: settings.job_budget,
    }
}

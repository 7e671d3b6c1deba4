//! The composition of `export-request`: its settings and the router built from them. Lambda's
//! `main`, the local system, the tests and the bench all compose it here.

use std::time::Duration;

use axum::Router;
use http_edge::caller::AgentIdClaim;
use shared::config::{SettingError, Vars};
use shared::domain::EnrollmentCalendar;
use store::Store;

use crate::api::{self, ApiState};

#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub exports_queue_url: String,
    pub bucket: String,
    /// Which plan years are served on a day (`Vars::enrollment_calendar`).
    pub calendar: EnrollmentCalendar,
    /// How long a download link works (`DOWNLOAD_LINK_SECONDS`, default 300).
    pub link_lifetime: Duration,
    /// The token's claim naming the caller (`JWT_AGENT_ID_CLAIM`).
    pub agent_id_claim: AgentIdClaim,
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, SettingError> {
        Ok(Self {
            table: vars.required("TABLE_NAME")?,
            exports_queue_url: vars.required("EXPORTS_QUEUE_URL")?,
            bucket: vars.required("EXPORTS_BUCKET")?,
            calendar: vars.enrollment_calendar()?,
            link_lifetime: vars.seconds("DOWNLOAD_LINK_SECONDS", 300)?,
            agent_id_claim: AgentIdClaim::from_vars(vars),
        })
    }
}

pub fn router(sdk: &shared::aws::SdkConfig, settings: Settings) -> Router {
    let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), settings.table);
    let routes = api::router(ApiState {
        store: store.clone(),
        sqs: aws_sdk_sqs::Client::new(sdk),
        s3: shared::aws::s3_client(sdk),
        exports_queue_url: settings.exports_queue_url,
        bucket: settings.bucket,
        calendar: settings.calendar,
        link_lifetime: settings.link_lifetime,
    });
    http_edge::caller::identify(routes, store, settings.agent_id_claim)
}

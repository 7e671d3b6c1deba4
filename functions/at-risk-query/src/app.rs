//! The composition of `at-risk-query`: its settings and the router built from them. Lambda's
//! `main`, the local system, the tests and the bench all compose it here.

use axum::Router;
use http_edge::caller::AgentIdClaim;
use shared::config::{SettingError, Vars};
use shared::domain::{EnrollmentCalendar, SpikeRule};
use store::Store;

use crate::api;
use crate::state::ApiState;

#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    /// Which plan years are served on a day (`Vars::enrollment_calendar`).
    pub calendar: EnrollmentCalendar,
    /// When an agent's week of takes is a spike (`Vars::spike_rule`).
    pub spike_rule: SpikeRule,
    /// Where the client details page lives (`CLIENT_DETAILS_BASE_URL`).
    pub client_details_base_url: String,
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
            calendar: vars.enrollment_calendar()?,
            spike_rule: vars.spike_rule()?,
            client_details_base_url: vars.required("CLIENT_DETAILS_BASE_URL")?,
            agent_id_claim: AgentIdClaim::from_vars(vars),
        })
    }
}

pub fn router(sdk: &shared::aws::SdkConfig, settings: Settings) -> Router {
    let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), settings.table);
    let routes = api::router(ApiState {
        store: store.clone(),
        calendar: settings.calendar,
        spike_rule: settings.spike_rule,
        client_details_base_url: settings.client_details_base_url,
    });
    http_edge::caller::identify(routes, store, settings.agent_id_claim)
}

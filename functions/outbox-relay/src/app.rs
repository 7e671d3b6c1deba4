//! The composition of `outbox-relay`: its settings and dependencies. Lambda's `main`, the local
//! system and the tests compose it here.

use shared::config::{SettingError, Vars};
use shared::ports::{ApplicationReads, Outbox};
use store::Store;

#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    /// The bus the changes are published on (`AOR_EVENTS_BUS`: the template's `AorEventsBus`).
    pub bus: String,
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, SettingError> {
        Ok(Self { table: vars.required("TABLE_NAME")?, bus: vars.required("AOR_EVENTS_BUS")? })
    }
}

/// The store's capabilities a relay run uses: the outbox, and who owns what.
pub trait Ports: Outbox + ApplicationReads {}
impl<S: Outbox + ApplicationReads> Ports for S {}

#[derive(Clone, Debug)]
pub struct Deps<S = Store> {
    pub store: S,
    pub events: aws_sdk_eventbridge::Client,
    pub bus: String,
}

pub fn deps(sdk: &shared::aws::SdkConfig, settings: Settings) -> Deps {
    Deps {
        store: Store::new(aws_sdk_dynamodb::Client::new(sdk), settings.table),
        events: aws_sdk_eventbridge::Client::new(sdk),
        bus: settings.bus,
    }
}

//! The composition of `outbox-relay`: its settings and dependencies. Lambda's `main`, the local
//! system and the tests compose it here.

use shared::config::{SettingError, Vars};
use shared::domain::SpikeRule;
use shared::ports::{ApplicationReads, DisputeCases, Notices, Outbox, SpikeRecords};
use store::Store;

#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    /// The bus the changes are published on (`AOR_EVENTS_BUS`: the template's `AorEventsBus`).
    pub bus: String,
    /// When an agent's week of takes is a spike (`SPIKE_MIN_TAKES`, `SPIKE_FACTOR`).
    pub spike_rule: SpikeRule,
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, SettingError> {
        Ok(Self {
            table: vars.required("TABLE_NAME")?,
            bus: vars.required("AOR_EVENTS_BUS")?,
            spike_rule: vars.spike_rule()?,
        })
    }
}

/// The store's capabilities a relay run uses: the outbox, who owns what, the spikes, the notices
/// and the dispute cases a cleared entry closes.
pub trait Ports: Outbox + ApplicationReads + SpikeRecords + Notices + DisputeCases {}
impl<S: Outbox + ApplicationReads + SpikeRecords + Notices + DisputeCases> Ports for S {}

#[derive(Clone, Debug)]
pub struct Deps<S = Store> {
    pub store: S,
    pub events: aws_sdk_eventbridge::Client,
    pub bus: String,
    pub spike_rule: SpikeRule,
}

pub fn deps(sdk: &shared::aws::SdkConfig, settings: Settings) -> Deps {
    Deps {
        store: Store::new(aws_sdk_dynamodb::Client::new(sdk), settings.table),
        events: aws_sdk_eventbridge::Client::new(sdk),
        bus: settings.bus,
        spike_rule: settings.spike_rule,
    }
}

//! The composition of `daily-digest`: its settings and dependencies. Lambda's `main`, the local
//! system and the tests compose it here.

use std::time::Duration;

use shared::config::{SettingError, Vars};
use shared::domain::EnrollmentCalendar;
use shared::ports::{ConductCounts, Digests, Directory, DisputeCases, PersonSettings};
use store::Store;

#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub sender: String,
    /// Where the web page is served: the digest links to the person's list there.
    pub web_base_url: String,
    /// Which plan years are served on a day: a digest names what was flagged in each.
    pub calendar: EnrollmentCalendar,
    /// The hour (UTC) from which a day's digests go out (`DIGEST_HOUR_UTC`, default 13: 8 am in
    /// New York, 5 am in Los Angeles).
    pub hour_utc: u32,
    /// A digest names what was flagged up to this long before its run (`DIGEST_SETTLE_MINUTES`,
    /// default 30): long enough for every placement in flight (and the sweep of one whose writer
    /// died) to have landed, so nothing flagged falls between two digests.
    pub settle: chrono::Duration,
    /// How long one run may go on before it saves its place and stops (`DIGEST_BUDGET_SECONDS`).
    pub budget: Duration,
    /// People digested at once.
    pub concurrency: usize,
    /// Subscribers read at a time, and checkpointed after (`DIGEST_PAGE_SIZE`, default 100).
    pub page_size: i32,
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, SettingError> {
        let client_details_base_url = vars.required("CLIENT_DETAILS_BASE_URL")?;
        Ok(Self {
            table: vars.required("TABLE_NAME")?,
            sender: vars.required("SENDER_EMAIL")?,
            web_base_url: vars.optional("WEB_BASE_URL").unwrap_or(client_details_base_url),
            calendar: vars.enrollment_calendar()?,
            hour_utc: vars.whole("DIGEST_HOUR_UTC", 13)?,
            settle: chrono::Duration::minutes(vars.whole("DIGEST_SETTLE_MINUTES", 30)?),
            budget: vars.seconds("DIGEST_BUDGET_SECONDS", 840)?,
            concurrency: vars.count("DIGEST_CONCURRENCY", 16)?,
            page_size: vars.whole("DIGEST_PAGE_SIZE", 100)?,
        })
    }
}

/// The store's capabilities a digest run uses: the digest's bookkeeping, the person's settings,
/// and who they are.
pub trait Ports: Digests + PersonSettings + Directory + ConductCounts + DisputeCases {}
impl<S: Digests + PersonSettings + Directory + ConductCounts + DisputeCases> Ports for S {}

#[derive(Clone, Debug)]
pub struct Deps<S = Store> {
    pub store: S,
    pub ses: aws_sdk_sesv2::Client,
    pub settings: Settings,
}

pub fn deps(sdk: &shared::aws::SdkConfig, settings: Settings) -> Deps {
    Deps {
        store: Store::new(aws_sdk_dynamodb::Client::new(sdk), settings.table.clone()),
        ses: aws_sdk_sesv2::Client::new(sdk),
        settings,
    }
}

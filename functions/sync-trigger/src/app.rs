//! The composition of `sync-trigger` and `sync-scan`: their settings, the marketplace client, the
//! on-demand router and the scan's dependencies. Lambda's `main`s, the local system, the tests and
//! the bench all compose them here.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use http_edge::caller::AgentIdClaim;
use shared::config::{SettingError, Vars};
use shared::domain::{EnrollmentCalendar, PlanYear};
use store::Store;

use crate::api::{self, ApiState};
use crate::budget::Budget;
use crate::marketplace::{self, MarketplaceClient, RetryPolicy};
use crate::scan::ScanSettings;

#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub marketplace_base_url: String,
    pub marketplace_key: ApiKey,
    /// Which plan years are served on a day (`Vars::enrollment_calendar`).
    pub calendar: EnrollmentCalendar,
    /// Requests per second the partner allows this deployment, retries included: one budget that
    /// the scan and the on-demand syncs of every instance share.
    pub rate_per_second: f64,
    /// How hard to try each marketplace request (`MARKETPLACE_ATTEMPTS`, `MARKETPLACE_TIMEOUT_MS`,
    /// `MARKETPLACE_RETRY_BASE_MS`, `MARKETPLACE_RETRY_MAX_MS`).
    pub retry: RetryPolicy,
    /// Marketplace calls in flight at once during a scan.
    pub concurrency: usize,
    /// On-demand syncs one person may have in flight at once (`SYNCS_IN_FLIGHT_PER_PERSON`).
    pub syncs_in_flight: u32,
    /// Applications last synced longer ago than this are due for a re-sync.
    pub stale_after: chrono::Duration,
    /// How long one scan may run, well inside the Lambda time limit.
    pub scan_budget: Duration,
    /// The token's claim naming the caller of an on-demand sync (`JWT_AGENT_ID_CLAIM`).
    pub agent_id_claim: AgentIdClaim,
}

/// Where the marketplace API key comes from.
#[derive(Clone)]
pub enum ApiKey {
    /// `MARKETPLACE_API_KEY` (locally).
    Given(String),
    /// The SSM SecureString parameter named by `MARKETPLACE_API_KEY_PARAMETER` (in AWS).
    Parameter(String),
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Given(_) => f.write_str("Given(<redacted>)"),
            Self::Parameter(name) => f.debug_tuple("Parameter").field(name).finish(),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, SettingError> {
        let marketplace_key = match vars.optional("MARKETPLACE_API_KEY") {
            Some(key) => ApiKey::Given(key),
            None => ApiKey::Parameter(vars.required("MARKETPLACE_API_KEY_PARAMETER")?),
        };
        let default = RetryPolicy::default();
        let millis = |name, default: Duration| -> Result<Duration, SettingError> {
            let ms: u64 = vars.whole(name, u64::try_from(default.as_millis()).unwrap_or(u64::MAX))?;
            Ok(Duration::from_millis(ms))
        };
        let hours = vars.positive("SYNC_STALE_AFTER_HOURS", 168.0)?;
        Ok(Self {
            table: vars.required("TABLE_NAME")?,
            marketplace_base_url: vars.required("MARKETPLACE_BASE_URL")?,
            marketplace_key,
            calendar: vars.enrollment_calendar()?,
            rate_per_second: vars.positive("SYNC_RATE_PER_SECOND", 40.0)?,
            retry: RetryPolicy {
                attempts: vars.whole("MARKETPLACE_ATTEMPTS", default.attempts)?,
                base_delay: millis("MARKETPLACE_RETRY_BASE_MS", default.base_delay)?,
                max_delay: millis("MARKETPLACE_RETRY_MAX_MS", default.max_delay)?,
                timeout: millis("MARKETPLACE_TIMEOUT_MS", default.timeout)?,
            },
            concurrency: vars.count("SYNC_CONCURRENCY", 48)?,
            syncs_in_flight: u32::try_from(vars.count("SYNCS_IN_FLIGHT_PER_PERSON", 3)?).unwrap_or(u32::MAX),
            stale_after: chrono::Duration::seconds((hours * 3600.0) as i64),
            scan_budget: Duration::from_secs_f64(vars.positive("SCAN_BUDGET_SECONDS", 840.0)?),
            agent_id_claim: AgentIdClaim::from_vars(vars),
        })
    }

    /// The scan of the current plan year.
    pub fn scan(&self) -> ScanSettings {
        self.scan_of(self.calendar.years_on(chrono::Utc::now().date_naive()).current)
    }

    /// The scans of every plan year served on `today`, the coming one first (during open
    /// enrollment its applications are mostly new: their first sync goes first). The writes left
    /// unplaced, which are no year's, are placed by the first.
    pub fn scans(&self, today: chrono::NaiveDate) -> Vec<ScanSettings> {
        let mut years = self.calendar.years_on(today).served();
        years.reverse();
        years
            .into_iter()
            .enumerate()
            .map(|(i, year)| ScanSettings {
                repair_budget: if i == 0 { crate::scan::REPAIR_BUDGET } else { 0 },
                ..self.scan_of(year)
            })
            .collect()
    }

    fn scan_of(&self, year: PlanYear) -> ScanSettings {
        ScanSettings {
            year,
            stale_after: self.stale_after,
            concurrency: self.concurrency,
            page_size: 100,
            new_lane_every: crate::scan::NEW_LANE_EVERY,
            repair_budget: crate::scan::REPAIR_BUDGET,
            pass_every: crate::scan::pass_every(self.stale_after),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("the marketplace client could not be built")]
    Client(#[source] reqwest::Error),
}

/// The marketplace client, within the deployment's one budget: its turns are kept in the table,
/// so every instance of `sync-trigger` and `sync-scan` shares the partner's rate. The API key is
/// read from its parameter on first use, not here: a cold start makes no network call.
pub fn marketplace(sdk: &shared::aws::SdkConfig, settings: &Settings) -> Result<MarketplaceClient, StartError> {
    let key = match &settings.marketplace_key {
        ApiKey::Given(key) => marketplace::ApiKey::Given(key.clone()),
        ApiKey::Parameter(name) => marketplace::ApiKey::Parameter {
            name: name.clone(),
            ssm: aws_sdk_ssm::Client::new(sdk),
            read: tokio::sync::OnceCell::new(),
        },
    };
    let budget = Arc::new(Budget::per_second(settings.rate_per_second, Arc::new(store(sdk, settings))));
    MarketplaceClient::new(&settings.marketplace_base_url, key, budget, settings.retry.clone())
        .map_err(StartError::Client)
}

pub fn store(sdk: &shared::aws::SdkConfig, settings: &Settings) -> Store {
    Store::new(aws_sdk_dynamodb::Client::new(sdk), settings.table.clone())
}

/// `POST /v1/clients/{federal_exchange_id}/sync`, calling the marketplace through `marketplace`.
pub fn router(sdk: &shared::aws::SdkConfig, settings: &Settings, marketplace: MarketplaceClient) -> Router {
    let store = store(sdk, settings);
    let routes = api::router(ApiState {
        store: store.clone(),
        marketplace,
        calendar: settings.calendar,
        syncs_in_flight: settings.syncs_in_flight,
    });
    http_edge::caller::identify(routes, store, settings.agent_id_claim.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_covers_the_coming_year_from_the_day_enrollment_opens_and_repairs_once() {
        let vars = Vars::from_pairs([
            ("TABLE_NAME", "t"),
            ("MARKETPLACE_BASE_URL", "http://127.0.0.1:1"),
            ("MARKETPLACE_API_KEY", "k"),
            ("CURRENT_PLAN_YEAR", "2026"),
        ]);
        let settings = Settings::from_vars(&vars).unwrap();
        let day = |raw: &str| chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap();
        let years =
            |raw: &str| settings.scans(day(raw)).iter().map(|s| (s.year.get(), s.repair_budget)).collect::<Vec<_>>();
        assert_eq!(years("2026-06-01"), vec![(2026, crate::scan::REPAIR_BUDGET)]);
        assert_eq!(years("2026-11-01"), vec![(2027, crate::scan::REPAIR_BUDGET), (2026, 0)]);
    }
}

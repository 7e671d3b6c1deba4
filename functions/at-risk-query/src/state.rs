//! What every handler of this function shares: the store's capabilities it uses and the state
//! the router hands each handler, and how a page's size is asked for.

use http_edge::Problem;
use shared::domain::{EnrollmentCalendar, PlanYear, PlanYears, SpikeRule};
use shared::ports::{
    AgencySettings, ApplicationReads, ConductCounts, Directory, DisputeCases, PersonSettings, RiskLists, SwapCounts,
};

/// The store's capabilities this function uses: who is who, the lists, an agency's setting, and
/// the applications as they stand (for a client's story), a person's settings, the swap and
/// conduct counts, and the dispute cases.
pub trait Ports:
    Directory + RiskLists + SwapCounts + ConductCounts + AgencySettings + PersonSettings + ApplicationReads + DisputeCases
{
}
impl<S> Ports for S where
    S: Directory
        + RiskLists
        + SwapCounts
        + ConductCounts
        + AgencySettings
        + PersonSettings
        + ApplicationReads
        + DisputeCases
{
}

#[derive(Clone, Debug)]
pub struct ApiState<S> {
    pub store: S,
    /// Which plan years are served on a day (the current one by default).
    pub calendar: EnrollmentCalendar,
    /// When an agent's week of takes is a spike.
    pub spike_rule: SpikeRule,
    /// Where the client details page lives: list items link to
    /// `{client_details_base_url}/clients/{id}?plan_year={year}`.
    pub client_details_base_url: String,
}

impl<S> ApiState<S> {
    /// The plan years served today (UTC): asked for each request, so an instance that lives
    /// across the new year or the opening of enrollment serves what the calendar says then.
    pub fn years(&self) -> PlanYears {
        self.calendar.years_on(chrono::Utc::now().date_naive())
    }

    /// A query's `plan_year`, the current one when absent.
    pub fn year_param(&self, query: &std::collections::HashMap<String, String>) -> Result<PlanYear, Problem> {
        http_edge::plan_year_param(query, self.years().current)
    }
}

/// Refuses a query naming anything but `known` (for its message: "use a, b and c").
pub fn only_params(query: &std::collections::HashMap<String, String>, known: &[&str]) -> Result<(), Problem> {
    match query.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => {
            let (last, rest) = known.split_last().unwrap_or((&"", &[]));
            let names = if rest.is_empty() { (*last).to_owned() } else { format!("{} and {last}", rest.join(", ")) };
            Err(Problem::bad_request(format!("Unknown parameter {unknown}; use {names}.")))
        }
    }
}

pub const DEFAULT_LIMIT: u16 = 50;
pub const MAX_LIMIT: u16 = 200;

/// A page's size: `limit`, 1 to `MAX_LIMIT`, `DEFAULT_LIMIT` when absent.
pub fn limit_param(query: &std::collections::HashMap<String, String>) -> Result<u16, Problem> {
    match query.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse::<u16>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| Problem::bad_request(format!("limit must be a whole number from 1 to {MAX_LIMIT}."))),
    }
}

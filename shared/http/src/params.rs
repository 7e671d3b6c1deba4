//! What a request may ask for: the query parameters and path ids every API function reads alike.

use super::problem::Problem;

/// The application a client route names: the Federal Exchange ID in its path and the plan year
/// in its query (`current` when absent).
pub fn application_key(
    raw_id: String,
    query: &std::collections::HashMap<String, String>,
    current: domain::PlanYear,
) -> Result<domain::ApplicationKey, Problem> {
    let id = domain::FederalExchangeId::parse(raw_id).map_err(|e| Problem::bad_request(format!("The {e}.")))?;
    Ok(domain::ApplicationKey { id, year: plan_year_param(query, current)? })
}

/// The `plan_year` of a query (`current` when absent).
pub fn plan_year_param(
    query: &std::collections::HashMap<String, String>,
    current: domain::PlanYear,
) -> Result<domain::PlanYear, Problem> {
    match query.get("plan_year") {
        None => Ok(current),
        Some(raw) => raw
            .parse::<u16>()
            .ok()
            .and_then(|y| domain::PlanYear::parse(y).ok())
            .ok_or_else(|| Problem::bad_request("plan_year must be a year between 2014 and 2100.")),
    }
}

/// Query parameters as given, so that each handler can refuse a bad one with its own message
/// (axum's own rejection would be plain text).
pub type RawQuery = axum::extract::Query<std::collections::HashMap<String, String>>;

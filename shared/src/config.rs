//! Deployment settings every function shares.

use chrono::Datelike;

use crate::domain::PlanYear;

#[derive(Debug, thiserror::Error)]
#[error("{name} is not valid: {problem}")]
pub struct InvalidSetting {
    pub name: &'static str,
    pub problem: String,
}

/// The plan year reports cover: `CURRENT_PLAN_YEAR`, or this calendar year.
pub fn current_plan_year() -> Result<PlanYear, InvalidSetting> {
    let invalid = |problem: String| InvalidSetting { name: "CURRENT_PLAN_YEAR", problem };
    let year = match std::env::var("CURRENT_PLAN_YEAR") {
        Ok(raw) => raw.parse::<u16>().map_err(|_| invalid(format!("{raw:?} is not a year")))?,
        Err(_) => u16::try_from(chrono::Utc::now().year()).map_err(|_| invalid("the clock is off".into()))?,
    };
    PlanYear::parse(year).map_err(|e| invalid(e.to_string()))
}

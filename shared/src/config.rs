//! Deployment settings every function shares.

use chrono::Datelike;

use crate::domain::PlanYear;

#[derive(Debug, thiserror::Error)]
#[error("{name} is not valid: {problem}")]
pub struct InvalidSetting {
    pub name: &'static str,
    pub problem: String,
}

/// The plan year reports cover: `CURRENT_PLAN_YEAR`, or (unset or empty, as the template's
/// default leaves it) this calendar year.
pub fn current_plan_year() -> Result<PlanYear, InvalidSetting> {
    plan_year_from(std::env::var("CURRENT_PLAN_YEAR").ok().as_deref(), chrono::Utc::now().year())
}

fn plan_year_from(setting: Option<&str>, this_year: i32) -> Result<PlanYear, InvalidSetting> {
    let invalid = |problem: String| InvalidSetting { name: "CURRENT_PLAN_YEAR", problem };
    let year = match setting.map(str::trim).filter(|raw| !raw.is_empty()) {
        Some(raw) => raw.parse::<u16>().map_err(|_| invalid(format!("{raw:?} is not a year")))?,
        None => u16::try_from(this_year).map_err(|_| invalid("the clock is off".into()))?,
    };
    PlanYear::parse(year).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_missing_setting_means_this_calendar_year() {
        assert_eq!(plan_year_from(None, 2027).unwrap().get(), 2027);
        assert_eq!(plan_year_from(Some(""), 2027).unwrap().get(), 2027);
        assert_eq!(plan_year_from(Some("2025"), 2027).unwrap().get(), 2025);
        assert!(plan_year_from(Some("next"), 2027).is_err());
    }
}

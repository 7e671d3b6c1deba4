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

/// How far ahead of this system's clock an event may be dated: `FUTURE_ALLOWANCE_SECONDS`,
/// default 300. Newest evidence wins, so one event dated years ahead would otherwise outrank
/// every later one for good.
pub fn future_allowance() -> Result<chrono::Duration, InvalidSetting> {
    allowance_from(std::env::var("FUTURE_ALLOWANCE_SECONDS").ok().as_deref())
}

pub const DEFAULT_FUTURE_ALLOWANCE_SECONDS: i64 = 300;

fn allowance_from(setting: Option<&str>) -> Result<chrono::Duration, InvalidSetting> {
    match setting.map(str::trim).filter(|raw| !raw.is_empty()) {
        None => Ok(chrono::Duration::seconds(DEFAULT_FUTURE_ALLOWANCE_SECONDS)),
        Some(raw) => raw.parse::<u32>().map(|s| chrono::Duration::seconds(i64::from(s))).map_err(|_| InvalidSetting {
            name: "FUTURE_ALLOWANCE_SECONDS",
            problem: format!("{raw:?} is not a whole number of seconds"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_future_allowance_defaults_to_five_minutes_and_refuses_nonsense() {
        assert_eq!(allowance_from(None).unwrap(), chrono::Duration::minutes(5));
        assert_eq!(allowance_from(Some("60")).unwrap(), chrono::Duration::minutes(1));
        assert!(allowance_from(Some("-5")).is_err());
        assert!(allowance_from(Some("soon")).is_err());
    }

    #[test]
    fn an_empty_or_missing_setting_means_this_calendar_year() {
        assert_eq!(plan_year_from(None, 2027).unwrap().get(), 2027);
        assert_eq!(plan_year_from(Some(""), 2027).unwrap().get(), 2027);
        assert_eq!(plan_year_from(Some("2025"), 2027).unwrap().get(), 2025);
        assert!(plan_year_from(Some("next"), 2027).is_err());
    }
}

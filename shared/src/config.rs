//! Settings: the one parser of the variables a function is configured by. In Lambda they are the
//! process environment the template sets; the local system, the tests and the bench hand the same
//! variables to the same parser (`Vars::from_pairs`). Every setting is read once at start, and a
//! missing or invalid one stops the function then, naming the variable (never echoing its value,
//! which may be a secret).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use crate::domain::{EnrollmentCalendar, MonthDay, PlanYear, SpikeRule};

/// A setting that is missing or does not parse.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error("the setting {0} must be set")]
    Missing(&'static str),
    #[error("the setting {name} is not valid: {problem}")]
    Invalid { name: &'static str, problem: String },
}

/// Where settings come from: variables by name. An empty variable counts as unset, as the
/// template's empty parameter defaults leave them.
#[derive(Debug, Clone, Default)]
pub struct Vars(HashMap<String, String>);

impl Vars {
    /// The process environment (a variable that is not UTF-8 is left out: no setting is one).
    pub fn from_env() -> Self {
        Self(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// The same variables with `name` set to `value`.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    /// Every variable: what to hand a process that should see the same settings.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    pub fn required(&self, name: &'static str) -> Result<String, SettingError> {
        self.optional(name).ok_or(SettingError::Missing(name))
    }

    /// A whole number, `default` when unset.
    pub fn whole<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, SettingError> {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| invalid(name, "not a whole number of the expected range")),
        }
    }

    /// A count of at least one (how many at once), `default` when unset.
    pub fn count(&self, name: &'static str, default: usize) -> Result<usize, SettingError> {
        match self.whole(name, default)? {
            0 => Err(invalid(name, "must be at least 1")),
            n => Ok(n),
        }
    }

    /// A whole number of seconds, `default` when unset.
    pub fn seconds(&self, name: &'static str, default: u64) -> Result<Duration, SettingError> {
        self.whole(name, default).map(Duration::from_secs)
    }

    /// A number above zero (a rate), `default` when unset.
    pub fn positive(&self, name: &'static str, default: f64) -> Result<f64, SettingError> {
        let Some(raw) = self.optional(name) else { return Ok(default) };
        match raw.parse::<f64>() {
            Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
            _ => Err(invalid(name, "not a number above zero")),
        }
    }

    /// Which plan years are served on a day, in one place: open enrollment from
    /// `OPEN_ENROLLMENT_OPENS` (`MM-DD`, default `11-01`) to `OPEN_ENROLLMENT_CLOSES` (default
    /// `01-15`), and `CURRENT_PLAN_YEAR` to pin the current coverage year (unset, as the
    /// template's default leaves it: the calendar year).
    pub fn enrollment_calendar(&self) -> Result<EnrollmentCalendar, SettingError> {
        let month_day = |name: &'static str, default: MonthDay| match self.optional(name) {
            None => Ok(default),
            Some(raw) => MonthDay::parse(&raw).map_err(|e| invalid(name, &e.to_string())),
        };
        let standard = EnrollmentCalendar::default();
        let opens = month_day("OPEN_ENROLLMENT_OPENS", standard.opens())?;
        let closes = month_day("OPEN_ENROLLMENT_CLOSES", standard.closes())?;
        const PINNED: &str = "CURRENT_PLAN_YEAR";
        let pinned = match self.optional(PINNED) {
            None => None,
            Some(raw) => {
                let year = raw.parse::<u16>().map_err(|_| invalid(PINNED, "not a year"))?;
                Some(PlanYear::parse(year).map_err(|e| invalid(PINNED, &e.to_string()))?)
            }
        };
        EnrollmentCalendar::new(opens, closes, pinned)
            .map_err(|e| invalid("OPEN_ENROLLMENT_OPENS / OPEN_ENROLLMENT_CLOSES", &e.to_string()))
    }

    /// When an agent's week of takes is a spike: `SPIKE_MIN_TAKES` (default 5) and
    /// `SPIKE_FACTOR` times the median of the weeks before (default 3).
    pub fn spike_rule(&self) -> Result<SpikeRule, SettingError> {
        let standard = SpikeRule::default();
        let min_takes = self.whole("SPIKE_MIN_TAKES", standard.min_takes)?;
        if min_takes == 0 {
            return Err(invalid("SPIKE_MIN_TAKES", "must be at least 1"));
        }
        Ok(SpikeRule { min_takes, factor: self.positive("SPIKE_FACTOR", standard.factor)? })
    }

    /// How far ahead of this system's clock an event may be dated: `FUTURE_ALLOWANCE_SECONDS`,
    /// default 300. Newest evidence wins, so one event dated years ahead would otherwise outrank
    /// every later one for good.
    pub fn future_allowance(&self) -> Result<chrono::Duration, SettingError> {
        let seconds: u32 = self.whole("FUTURE_ALLOWANCE_SECONDS", DEFAULT_FUTURE_ALLOWANCE_SECONDS)?;
        Ok(chrono::Duration::seconds(i64::from(seconds)))
    }
}

pub const DEFAULT_FUTURE_ALLOWANCE_SECONDS: u32 = 300;

fn invalid(name: &'static str, problem: &str) -> SettingError {
    SettingError::Invalid { name, problem: problem.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_future_allowance_defaults_to_five_minutes_and_refuses_nonsense() {
        let allowance = |raw: &str| Vars::default().with("FUTURE_ALLOWANCE_SECONDS", raw).future_allowance();
        assert_eq!(Vars::default().future_allowance().unwrap(), chrono::Duration::minutes(5));
        assert_eq!(allowance("60").unwrap(), chrono::Duration::minutes(1));
        assert!(allowance("-5").is_err());
        assert!(allowance("soon").is_err());
    }

    #[test]
    fn an_empty_or_missing_plan_year_means_this_calendar_year() {
        use chrono::Datelike;
        let today = chrono::Utc::now().date_naive();
        let this_year = u16::try_from(today.year()).unwrap();
        let current = |vars: Vars| vars.enrollment_calendar().map(|c| c.years_on(today).current.get());
        assert_eq!(current(Vars::default()).unwrap(), this_year);
        assert_eq!(current(Vars::default().with("CURRENT_PLAN_YEAR", "")).unwrap(), this_year);
        assert_eq!(current(Vars::default().with("CURRENT_PLAN_YEAR", "2025")).unwrap(), 2025);
        assert!(current(Vars::default().with("CURRENT_PLAN_YEAR", "next")).is_err());
    }

    #[test]
    fn the_open_enrollment_window_is_set_in_one_place_and_nonsense_is_refused() {
        let window = |opens: &str, closes: &str| {
            Vars::default()
                .with("OPEN_ENROLLMENT_OPENS", opens)
                .with("OPEN_ENROLLMENT_CLOSES", closes)
                .enrollment_calendar()
        };
        let standard = Vars::default().enrollment_calendar().unwrap();
        assert_eq!((standard.opens().to_string(), standard.closes().to_string()), ("11-01".into(), "01-15".into()));
        let custom = window("10-15", "02-01").unwrap();
        assert_eq!((custom.opens().to_string(), custom.closes().to_string()), ("10-15".into(), "02-01".into()));
        assert!(window("11-31", "01-15").is_err(), "no such day");
        assert!(window("01-15", "11-01").is_err(), "it must span the new year");
    }

    #[test]
    fn a_missing_or_invalid_setting_is_named_and_its_value_is_not_repeated() {
        let vars = Vars::from_pairs([("RATE", "fast"), ("EMPTY", " ")]);
        assert_eq!(vars.required("EMPTY").unwrap_err().to_string(), "the setting EMPTY must be set");
        let err = vars.positive("RATE", 1.0).unwrap_err().to_string();
        assert!(err.contains("RATE") && !err.contains("fast"), "{err}");
        assert!(Vars::default().with("RATE", "0").positive("RATE", 1.0).is_err());
        assert!(Vars::default().with("N", "2.5").whole::<u32>("N", 1).is_err());
        assert_eq!(Vars::default().with("N", "7").whole::<u32>("N", 1).unwrap(), 7);
        assert!(Vars::default().with("N", "0").count("N", 1).is_err());
        assert_eq!(Vars::default().count("N", 8).unwrap(), 8);
    }
}

//! Which plan years people work in on a given day. Coverage runs by calendar year. Open enrollment
//! for a coverage year opens in the autumn before it and closes in its first weeks (by default
//! November 1 to January 15): from the day it opens to the end of that calendar year, agents
//! submit for the coming year while the current one runs — the months swaps happen most — so both
//! years are served. From January 1 the coming year is the current one.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::values::{InvalidValue, PlanYear};

/// A day of the year: month and day (`11-01`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MonthDay {
    pub month: u32,
    pub day: u32,
}

impl MonthDay {
    /// `MM-DD`, a day that exists in some year (February 29 included).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        const PROBLEM: InvalidValue = InvalidValue { field: "month_day", problem: "must be MM-DD, a day of the year" };
        let (month, day) = raw.split_once('-').ok_or(PROBLEM)?;
        let two_digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(month) || !two_digits(day) {
            return Err(PROBLEM);
        }
        let (month, day) = (month.parse().map_err(|_| PROBLEM)?, day.parse().map_err(|_| PROBLEM)?);
        // 2024 is a leap year: every day of the year exists in it.
        NaiveDate::from_ymd_opt(2024, month, day).ok_or(PROBLEM)?;
        Ok(Self { month, day })
    }

    /// This day in `year` (February 29 of a year without one is the 28th).
    pub fn in_year(self, year: i32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, self.month, self.day)
            .or_else(|| NaiveDate::from_ymd_opt(year, self.month, self.day - 1))
            .unwrap_or(NaiveDate::MIN)
    }
}

impl std::fmt::Display for MonthDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}-{:02}", self.month, self.day)
    }
}

/// When open enrollment opens and closes each year, and the coverage year a deployment may pin
/// as current whatever the day (`CURRENT_PLAN_YEAR`: a replay, a test).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrollmentCalendar {
    opens: MonthDay,
    closes: MonthDay,
    pinned: Option<PlanYear>,
}

impl Default for EnrollmentCalendar {
    /// The federal marketplace's window: November 1 to January 15.
    fn default() -> Self {
        Self { opens: MonthDay { month: 11, day: 1 }, closes: MonthDay { month: 1, day: 15 }, pinned: None }
    }
}

/// The plan years served on a day: the current coverage year and, while open enrollment for the
/// next one is open before it starts, that year too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanYears {
    pub current: PlanYear,
    pub coming: Option<PlanYear>,
}

impl PlanYears {
    /// The current year, then the coming one while there is one.
    pub fn served(&self) -> Vec<PlanYear> {
        std::iter::once(self.current).chain(self.coming).collect()
    }
}

impl EnrollmentCalendar {
    /// The window spans the new year: it closes earlier in the year than it opens.
    pub fn new(opens: MonthDay, closes: MonthDay, pinned: Option<PlanYear>) -> Result<Self, InvalidValue> {
        if closes >= opens {
            return Err(InvalidValue {
                field: "open_enrollment",
                problem: "must open in the autumn and close in the next year, so it closes on an earlier day of the year than it opens",
            });
        }
        Ok(Self { opens, closes, pinned })
    }

    pub fn opens(&self) -> MonthDay {
        self.opens
    }

    pub fn closes(&self) -> MonthDay {
        self.closes
    }

    /// The plan years served on `today` (UTC).
    pub fn years_on(&self, today: NaiveDate) -> PlanYears {
        let this_year = PlanYear::parse(u16::try_from(today.year()).unwrap_or(0));
        let current = self.pinned.or(this_year.ok()).unwrap_or_else(|| PlanYear::parse(2014).expect("a plan year"));
        let next = PlanYear::parse(current.get() + 1).ok();
        PlanYears { current, coming: next.filter(|_| today >= self.opens.in_year(today.year())) }
    }

    /// The open-enrollment window for coverage year `year`: the day it opens (the year before) and
    /// the day it closes, both included.
    pub fn window(&self, year: PlanYear) -> (NaiveDate, NaiveDate) {
        let year = i32::from(year.get());
        (self.opens.in_year(year - 1), self.closes.in_year(year))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }
    fn year(y: u16) -> PlanYear {
        PlanYear::parse(y).unwrap()
    }

    #[test]
    fn the_coming_year_is_served_from_the_day_enrollment_opens_until_it_becomes_current() {
        let calendar = EnrollmentCalendar::default();
        let served = |d: &str| calendar.years_on(day(d)).served();
        assert_eq!(served("2026-10-31"), vec![year(2026)]);
        assert_eq!(served("2026-11-01"), vec![year(2026), year(2027)]);
        assert_eq!(served("2026-12-31"), vec![year(2026), year(2027)]);
        assert_eq!(served("2027-01-01"), vec![year(2027)], "the coming year is now the current one");
        assert_eq!(served("2027-01-16"), vec![year(2027)]);
        assert_eq!(calendar.window(year(2027)), (day("2026-11-01"), day("2027-01-15")));
    }

    #[test]
    fn a_pinned_year_is_current_whatever_the_day_and_the_window_comes_from_configuration() {
        let calendar = EnrollmentCalendar::new(
            MonthDay::parse("10-15").unwrap(),
            MonthDay::parse("02-29").unwrap(),
            Some(year(2025)),
        )
        .unwrap();
        assert_eq!(calendar.years_on(day("2026-10-14")), PlanYears { current: year(2025), coming: None });
        assert_eq!(calendar.years_on(day("2026-10-15")), PlanYears { current: year(2025), coming: Some(year(2026)) });
        assert_eq!(calendar.window(year(2027)), (day("2026-10-15"), day("2027-02-28")), "no February 29 in 2027");
    }

    #[test]
    fn a_window_that_does_not_span_the_new_year_or_a_day_that_is_none_is_refused() {
        let md = |raw| MonthDay::parse(raw).unwrap();
        assert!(EnrollmentCalendar::new(md("01-15"), md("11-01"), None).is_err());
        assert!(EnrollmentCalendar::new(md("11-01"), md("11-01"), None).is_err());
        for bad in ["13-01", "11-31", "1101", "11-", "-01", "aa-bb", "", "+1-01", "11-1", "011-01"] {
            assert!(MonthDay::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(md("02-29").to_string(), "02-29");
    }
}

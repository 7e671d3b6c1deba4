//! An agency's own agents' conduct: the entries its tree's agents took from other books, per
//! agent and ISO week, from inside the tree and from outside; and the rule that calls a week a
//! spike. Counted by the outbox relay with the swap patterns (the same takes, seen from the
//! taker's side); pure functions here.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use super::changes::{Take, iso_week};
use super::values::{AgentId, Npn};

/// The takes of a tree's agents for a plan year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conduct {
    /// Entries taken from an owner inside the tree, and from one outside it.
    pub from_inside: i64,
    pub from_outside: i64,
    /// By ISO week (`2026-W47`), oldest first: (from inside, from outside).
    pub weeks: BTreeMap<String, (i64, i64)>,
    /// Every agent of the tree who took entries, the most first (then by agent id).
    pub agents: Vec<AgentConduct>,
}

/// One agent's takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConduct {
    pub agent_id: AgentId,
    /// The NPN they took with (the latest take's).
    pub npn: Npn,
    pub from_inside: i64,
    pub from_outside: i64,
    /// By ISO week, oldest first: (from inside, from outside).
    pub weeks: BTreeMap<String, (i64, i64)>,
}

impl AgentConduct {
    pub fn takes(&self) -> i64 {
        self.from_inside + self.from_outside
    }

    /// Takes per week, both sides together: what the spike rule reads.
    pub fn weekly_takes(&self) -> BTreeMap<String, i64> {
        self.weeks.iter().map(|(week, (inside, outside))| (week.clone(), inside + outside)).collect()
    }
}

impl Conduct {
    /// Counts one take by `taker`, as the relay does in the table: what the checker adds up.
    /// `from_inside`: the entry's owner was in the tree.
    pub fn add(&mut self, take: &Take, taker: &AgentId, from_inside: bool) {
        let week = iso_week(take.at);
        let side = |slot: &mut (i64, i64)| if from_inside { slot.0 += 1 } else { slot.1 += 1 };
        if from_inside {
            self.from_inside += 1;
        } else {
            self.from_outside += 1;
        }
        side(self.weeks.entry(week.clone()).or_default());
        let at = match self.agents.iter().position(|a| &a.agent_id == taker) {
            Some(at) => at,
            None => {
                self.agents.push(AgentConduct {
                    agent_id: taker.clone(),
                    npn: take.other_npn.clone(),
                    from_inside: 0,
                    from_outside: 0,
                    weeks: BTreeMap::new(),
                });
                self.agents.len() - 1
            }
        };
        let agent = &mut self.agents[at];
        if from_inside {
            agent.from_inside += 1;
        } else {
            agent.from_outside += 1;
        }
        agent.npn = take.other_npn.clone();
        side(agent.weeks.entry(week).or_default());
        self.rank();
    }

    /// The most takes first, then by agent id.
    pub fn rank(&mut self) {
        self.agents.sort_by(|a, b| b.takes().cmp(&a.takes()).then_with(|| a.agent_id.cmp(&b.agent_id)));
    }
}

/// When an agent's week is a spike: at least `min_takes` takes, and at least `factor` times the
/// median of their takes in the `WEEKS_BEFORE` weeks before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpikeRule {
    pub min_takes: u32,
    pub factor: f64,
}

impl Default for SpikeRule {
    fn default() -> Self {
        Self { min_takes: 5, factor: 3.0 }
    }
}

/// How many weeks before a week its median is taken over.
pub const WEEKS_BEFORE: i64 = 8;

/// A week whose takes are a spike by the rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Spike {
    pub week: String,
    pub takes: i64,
    /// The median of the weeks before (a week without takes counts as 0).
    pub median_before: f64,
}

impl SpikeRule {
    /// Whether `week` of `weekly` (takes per ISO week) is a spike.
    pub fn spike_in(&self, weekly: &BTreeMap<String, i64>, week: &str) -> Option<Spike> {
        let takes = weekly.get(week).copied().unwrap_or(0);
        if takes < i64::from(self.min_takes) {
            return None;
        }
        let monday = week_monday(week)?;
        let mut before: Vec<i64> = (1..=WEEKS_BEFORE)
            .map(|back| weekly.get(&iso_week_of(monday - Duration::weeks(back))).copied().unwrap_or(0))
            .collect();
        before.sort_unstable();
        let middle = before.len() / 2;
        #[allow(clippy::cast_precision_loss)] // a week's takes are far below 2^52
        let median_before = (before[middle - 1] + before[middle]) as f64 / 2.0;
        #[allow(clippy::cast_precision_loss)]
        let high = takes as f64 >= self.factor * median_before;
        high.then(|| Spike { week: week.to_owned(), takes, median_before })
    }

    /// Every week of `weekly` that is a spike, oldest first.
    pub fn spikes(&self, weekly: &BTreeMap<String, i64>) -> Vec<Spike> {
        weekly.keys().filter_map(|week| self.spike_in(weekly, week)).collect()
    }
}

/// The Monday of an ISO week written `2026-W07`.
pub fn week_monday(week: &str) -> Option<NaiveDate> {
    let (year, number) = week.split_once("-W")?;
    NaiveDate::from_isoywd_opt(year.parse().ok()?, number.parse().ok()?, Weekday::Mon)
}

fn iso_week_of(day: NaiveDate) -> String {
    let week = day.iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn weekly(weeks: &[(&str, i64)]) -> BTreeMap<String, i64> {
        weeks.iter().map(|(w, n)| ((*w).to_owned(), *n)).collect()
    }

    #[test]
    fn a_spike_is_at_least_five_takes_and_three_times_the_median_of_the_eight_weeks_before() {
        let rule = SpikeRule::default();
        // Nothing before: five is a spike, four is not.
        assert_eq!(rule.spike_in(&weekly(&[("2026-W10", 5)]), "2026-W10").map(|s| s.median_before), Some(0.0));
        assert!(rule.spike_in(&weekly(&[("2026-W10", 4)]), "2026-W10").is_none(), "below the floor");
        // A steady taker: 2 a week for eight weeks, median 2; 6 is a spike, 5 is not.
        let steady: Vec<(String, i64)> = (2..=9).map(|w| (format!("2026-W{w:02}"), 2)).collect();
        let mut weeks: BTreeMap<String, i64> = steady.into_iter().collect();
        weeks.insert("2026-W10".into(), 5);
        assert!(rule.spike_in(&weeks, "2026-W10").is_none(), "5 < 3 × 2");
        weeks.insert("2026-W10".into(), 6);
        assert_eq!(rule.spike_in(&weeks, "2026-W10").map(|s| (s.takes, s.median_before)), Some((6, 2.0)));
        // Only the eight weeks before count: a busy week nine weeks back does not.
        let far = weekly(&[("2026-W01", 50), ("2026-W10", 5)]);
        assert!(rule.spike_in(&far, "2026-W10").is_some());
        // The median of eight is the mean of the middle two: four weeks of 4 and four of 0 is 2.
        let half = weekly(&[("2026-W06", 4), ("2026-W07", 4), ("2026-W08", 4), ("2026-W09", 4), ("2026-W10", 6)]);
        assert_eq!(rule.spike_in(&half, "2026-W10").map(|s| s.median_before), Some(2.0));
        // Configurable.
        let strict = SpikeRule { min_takes: 10, factor: 5.0 };
        assert!(strict.spike_in(&weeks, "2026-W10").is_none());
    }

    #[test]
    fn the_weeks_before_cross_the_year() {
        assert_eq!(week_monday("2026-W01"), NaiveDate::from_ymd_opt(2025, 12, 29));
        assert_eq!(week_monday("2026-W54"), None);
        let rule = SpikeRule::default();
        // 2025 has 52 ISO weeks: 2025-W52 is one week before 2026-W01.
        let weeks = weekly(&[("2025-W50", 3), ("2025-W51", 3), ("2025-W52", 3), ("2026-W01", 5)]);
        assert_eq!(rule.spike_in(&weeks, "2026-W01").map(|s| s.median_before), Some(0.0));
        let busy: BTreeMap<String, i64> =
            ["2025-W46", "2025-W47", "2025-W48", "2025-W49", "2025-W50", "2025-W51", "2025-W52"]
                .iter()
                .map(|w| ((*w).to_owned(), 2))
                .chain([("2026-W01".to_owned(), 5)])
                .collect();
        assert!(rule.spike_in(&busy, "2026-W01").is_none(), "median 2 across the new year");
    }

    #[test]
    fn a_trees_conduct_counts_each_take_by_agent_week_and_side_and_ranks_the_most_first() {
        let at = |day| Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap();
        let take = |npn: &str, day| Take { other_npn: Npn::parse(npn).unwrap(), other_agent_id: None, at: at(day) };
        let (bo, cy) = (AgentId::parse("bo").unwrap(), AgentId::parse("cy").unwrap());
        let mut conduct = Conduct::default();
        conduct.add(&take("222", 2), &bo, false);
        conduct.add(&take("333", 2), &cy, true);
        conduct.add(&take("333", 3), &cy, false);
        assert_eq!((conduct.from_inside, conduct.from_outside), (1, 2));
        assert_eq!(conduct.agents[0].agent_id, cy, "the most takes first");
        assert_eq!((conduct.agents[0].from_inside, conduct.agents[0].from_outside), (1, 1));
        assert_eq!(conduct.weeks, BTreeMap::from([("2026-W10".into(), (1, 2))]));
        assert_eq!(conduct.agents[1].weekly_takes(), weekly(&[("2026-W10", 1)]));
    }
}

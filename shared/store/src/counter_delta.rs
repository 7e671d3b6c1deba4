//! What a placement changes in the lists' counters, from where the entry counted before and where
//! it counts after. Pure: the placement turns each change into an `ADD` on the counter item.

use std::collections::BTreeSet;

/// Where an entry counts: the lists it has rows in (by their counters' partition, `AGENT#…` or
/// `AGENCY#…`), whether it counts in their at-risk totals, and in which as new since their last
/// visit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counting<'a> {
    pub lists: BTreeSet<&'a str>,
    pub at_risk: bool,
    pub new_in: BTreeSet<&'a str>,
}

/// How one list's counters move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterDelta {
    pub counters_pk: String,
    pub at_risk: i64,
    pub new_since_visit: i64,
}

impl CounterDelta {
    /// The moves of every list the entry is or was in whose counts change, by list.
    pub fn between(before: &Counting, after: &Counting) -> Vec<CounterDelta> {
        let in_total = |counting: &Counting, list: &str| i64::from(counting.at_risk && counting.lists.contains(list));
        let in_new = |counting: &Counting, list: &str| i64::from(counting.new_in.contains(list));
        before
            .lists
            .union(&after.lists)
            .map(|list| CounterDelta {
                counters_pk: (*list).to_owned(),
                at_risk: in_total(after, list) - in_total(before, list),
                new_since_visit: in_new(after, list) - in_new(before, list),
            })
            .filter(|delta| delta.at_risk != 0 || delta.new_since_visit != 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counting<'a>(lists: &[&'a str], at_risk: bool, new_in: &[&'a str]) -> Counting<'a> {
        Counting { lists: lists.iter().copied().collect(), at_risk, new_in: new_in.iter().copied().collect() }
    }

    fn moves(deltas: Vec<CounterDelta>) -> Vec<(String, i64, i64)> {
        deltas.into_iter().map(|d| (d.counters_pk, d.at_risk, d.new_since_visit)).collect()
    }

    #[test]
    fn each_list_moves_by_what_the_entry_counts_there_after_less_before() {
        let (agent, north, top) = ("AGENT#ana", "AGENCY#north", "AGENCY#top");
        let none = Counting::default();
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Counting, Counting, Vec<(&str, i64, i64)>)> = vec![
            ("never at risk", none.clone(), none.clone(), vec![]),
            (
                "flagged: new in every list",
                none.clone(),
                counting(&[agent, north, top], true, &[agent, north, top]),
                vec![(agent, 1, 1), (north, 1, 1), (top, 1, 1)],
            ),
            (
                "cleared while new",
                counting(&[agent, north], true, &[agent, north]),
                none.clone(),
                vec![(agent, -1, -1), (north, -1, -1)],
            ),
            (
                "cleared after a visit to the agent's list only",
                counting(&[agent, north], true, &[north]),
                none.clone(),
                vec![(agent, -1, 0), (north, -1, -1)],
            ),
            (
                "the owner moved from north to top: the agent's list stays",
                counting(&[agent, north], true, &[]),
                counting(&[agent, top], true, &[]),
                vec![(north, -1, 0), (top, 1, 0)],
            ),
            (
                "archived: the rows stay, the counts go",
                counting(&[agent, north], true, &[agent]),
                counting(&[agent, north], false, &[]),
                vec![(agent, -1, -1), (north, -1, 0)],
            ),
            (
                "re-placed unchanged (a new reason)",
                counting(&[agent, north], true, &[north]),
                counting(&[agent, north], true, &[north]),
                vec![],
            ),
        ];
        for (case, before, after, want) in cases {
            let mut want: Vec<(String, i64, i64)> = want.into_iter().map(|(l, t, n)| (l.to_owned(), t, n)).collect();
            want.sort(); // by list, as the moves come
            assert_eq!(moves(CounterDelta::between(&before, &after)), want, "{case}");
        }
    }
}

//! What placing an entry writes, from its rows as read to its rows as wanted: which rows are
//! written or deleted (each only while it is as read) and how each list's counters move. Pure.
//!
//! Every row says what it adds to its list's counters — to the at-risk total unless archived, and
//! to the count of new since the last visit while `new_against` is the visit standing — so the
//! counters move by what the rows wanted count less what the rows read counted, list by list,
//! whoever wrote the rows (a placement, or a directory job that moved them).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::items::{NewAgainst, RiskRow, RowFacts};
use super::keys;
use super::placement::RowKey;

/// A row's moves of its list's counters: (at-risk total, new since the visit).
pub type Counts = (i64, i64);

/// One write of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowWrite {
    /// `row` written where the row read had version `over` (`None`: no row there).
    Put { row: Box<RiskRow>, over: Option<u64> },
    /// The row at `key` deleted, read at `version`.
    Delete { key: RowKey, version: u64 },
}

/// Everything placing one entry changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowChanges {
    pub writes: Vec<RowWrite>,
    /// How each list's counters move, by their partition (`AGENT#…`, `AGENCY#…`); no list whose
    /// counts stay.
    pub counters: BTreeMap<String, Counts>,
}

impl RowChanges {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.counters.is_empty()
    }

    /// Whether it writes over a row it read (a delete, or a put where a row was): what a
    /// placement racing it would meet it on.
    pub fn writes_over_found(&self) -> bool {
        self.writes.iter().any(|write| matches!(write, RowWrite::Delete { .. } | RowWrite::Put { over: Some(_), .. }))
    }

    /// Whether it puts a row where there was none.
    pub fn creates_a_row(&self) -> bool {
        self.writes.iter().any(|write| matches!(write, RowWrite::Put { over: None, .. }))
    }

    /// The keys of the rows it puts.
    pub fn puts(&self) -> impl Iterator<Item = RowKey> + '_ {
        self.writes.iter().filter_map(|write| match write {
            RowWrite::Put { row, .. } => Some(row.key()),
            RowWrite::Delete { .. } => None,
        })
    }
}

/// The row of `facts` in `scope`'s list, saying what it counts there with the list's visit
/// `visit` standing.
pub fn counted_row(facts: &RowFacts, scope: domain::Scope, visit: Option<DateTime<Utc>>) -> RiskRow {
    let mut row = facts.row(scope);
    let new = !row.archived && domain::flagged_since(row.flagged_at, visit);
    row.new_against = new.then_some(NewAgainst { visit });
    row
}

/// What `row` adds to its list's counters with the list's visit `visit` standing. A row of a
/// release before rows said so (version 0) counts as new where its placement record says
/// (`legacy_new`).
pub fn counts(row: &RiskRow, visit: Option<DateTime<Utc>>, legacy_new: bool) -> Counts {
    if row.version == 0 { (i64::from(!row.archived), i64::from(legacy_new)) } else { counts_said(row, visit) }
}

/// What `row` says it adds to its list's counters (a row to be written, or written since rows say so).
fn counts_said(row: &RiskRow, visit: Option<DateTime<Utc>>) -> Counts {
    (i64::from(!row.archived), i64::from(row.new_against == Some(NewAgainst { visit })))
}

/// The changes from `found` (the entry's rows as read, wherever they are) to `wanted` (its rows as
/// they should be, from `counted_row`), with each list's visit standing now (`visit_of` its
/// counters' partition) and, for a row of an earlier release, whether it counted as new
/// (`legacy_new` of the same). A row already as wanted and counting as wanted is not written; a row
/// of an earlier release always is, so that it says what it counts from then on.
pub fn between(
    found: &[RiskRow],
    wanted: &[RiskRow],
    visit_of: impl Fn(&str) -> Option<DateTime<Utc>>,
    legacy_new: impl Fn(&str) -> bool,
) -> RowChanges {
    let mut changes = RowChanges::default();
    let mut moves = |list: &str, (total, new): Counts| {
        let sum = changes.counters.entry(list.to_owned()).or_default();
        *sum = (sum.0 + total, sum.1 + new);
    };
    let was = |row: &RiskRow| {
        let list = keys::counters_pk_of_list(&row.pk);
        counts(row, visit_of(list), legacy_new(list))
    };
    let mut writes = Vec::new();
    let found_keys: BTreeSet<RowKey> = found.iter().map(RiskRow::key).collect();
    for row in found {
        let list = keys::counters_pk_of_list(&row.pk);
        let before = was(row);
        match wanted.iter().find(|want| want.pk == row.pk && want.sk == row.sk) {
            None => {
                moves(list, (-before.0, -before.1));
                writes.push(RowWrite::Delete { key: row.key(), version: row.version });
            }
            Some(want) => {
                let after = counts_said(want, visit_of(list));
                if row.version != 0 && row.shown() == want.shown() && before == after {
                    continue;
                }
                moves(list, (after.0 - before.0, after.1 - before.1));
                let row_now = RiskRow { version: row.version + 1, ..want.clone() };
                writes.push(RowWrite::Put { row: Box::new(row_now), over: Some(row.version) });
            }
        }
    }
    for want in wanted.iter().filter(|want| !found_keys.contains(&want.key())) {
        let list = keys::counters_pk_of_list(&want.pk);
        moves(list, counts_said(want, visit_of(list)));
        writes.push(RowWrite::Put { row: Box::new(RiskRow { version: 1, ..want.clone() }), over: None });
    }
    changes.writes = writes;
    changes.counters.retain(|_, counts| *counts != (0, 0));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use domain::{AgencyId, AgentId, FederalExchangeId, Name, PlanYear, Reason, Scope};

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, hour, 0, 0).unwrap()
    }

    fn facts(flagged: u32, archived: bool) -> RowFacts {
        RowFacts {
            federal_exchange_id: FederalExchangeId::parse("0012345").unwrap(),
            plan_year: PlanYear::parse(2026).unwrap(),
            agent_id: AgentId::parse("ana").unwrap(),
            client_name: Name::parse("Client").unwrap(),
            at_risk_since: at(1),
            flagged_at: at(flagged),
            reason: Reason::MarketplaceAorMismatch,
            other_npn: None,
            archived,
        }
    }

    fn agency(id: &str) -> Scope {
        Scope::Agency(AgencyId::parse(id).unwrap())
    }

    fn agent() -> Scope {
        Scope::Agent(AgentId::parse("ana").unwrap())
    }

    /// `row` as a placement wrote it: at `version`.
    fn stored(row: RiskRow, version: u64) -> RiskRow {
        RiskRow { version, ..row }
    }

    /// The moves, by list, as (list, total, new).
    fn moves(changes: &RowChanges) -> Vec<(String, i64, i64)> {
        changes.counters.iter().map(|(list, (total, new))| (list.clone(), *total, *new)).collect()
    }

    const NO_VISIT: fn(&str) -> Option<DateTime<Utc>> = |_| None;
    const NOT_LEGACY: fn(&str) -> bool = |_| false;

    #[test]
    fn a_flag_puts_every_row_where_there_was_none_and_counts_it_new() {
        let wanted =
            vec![counted_row(&facts(5, false), agent(), None), counted_row(&facts(5, false), agency("north"), None)];
        let changes = between(&[], &wanted, NO_VISIT, NOT_LEGACY);
        assert_eq!(moves(&changes), vec![("AGENCY#north".into(), 1, 1), ("AGENT#ana".into(), 1, 1)]);
        assert!(changes.writes.iter().all(|w| matches!(w, RowWrite::Put { row, over: None } if row.version == 1)));
    }

    #[test]
    fn rows_as_wanted_are_not_written_again() {
        let wanted = vec![counted_row(&facts(5, false), agent(), None)];
        let found = vec![stored(wanted[0].clone(), 3)];
        assert!(between(&found, &wanted, NO_VISIT, NOT_LEGACY).is_empty());
    }

    #[test]
    fn a_visit_since_the_row_was_counted_new_leaves_it_counting_nothing_new_and_unwritten() {
        // Counted new before the visit at 6; flagged at 5, so not new after it either.
        let found = vec![stored(counted_row(&facts(5, false), agent(), None), 1)];
        let wanted = vec![counted_row(&facts(5, false), agent(), Some(at(6)))];
        let visit = |_: &str| Some(at(6));
        assert!(between(&found, &wanted, visit, NOT_LEGACY).is_empty());
        // Cleared now: the total goes, the new count (reset by the visit) does not.
        let changes = between(&found, &[], visit, NOT_LEGACY);
        assert_eq!(moves(&changes), vec![("AGENT#ana".into(), -1, 0)]);
        assert_eq!(changes.writes, vec![RowWrite::Delete { key: found[0].key(), version: 1 }]);
    }

    #[test]
    fn an_archive_rewrites_each_row_over_its_version_and_takes_its_counts_off() {
        let found = vec![stored(counted_row(&facts(5, false), agency("north"), None), 2)];
        let wanted = vec![counted_row(&facts(5, true), agency("north"), None)];
        let changes = between(&found, &wanted, NO_VISIT, NOT_LEGACY);
        assert_eq!(moves(&changes), vec![("AGENCY#north".into(), -1, -1)]);
        let [RowWrite::Put { row, over: Some(2) }] = changes.writes.as_slice() else { panic!("{changes:?}") };
        assert_eq!((row.version, row.archived, row.new_against), (3, true, None));
    }

    #[test]
    fn a_move_deletes_the_row_in_the_list_left_and_puts_one_in_the_list_entered() {
        let found = vec![
            stored(counted_row(&facts(5, false), agent(), Some(at(2))), 1),
            stored(counted_row(&facts(5, false), agency("north"), Some(at(7))), 4),
        ];
        let south_visit = |list: &str| match list {
            "AGENCY#south" => Some(at(3)),
            "AGENCY#north" => Some(at(7)),
            _ => Some(at(2)),
        };
        let wanted = vec![
            counted_row(&facts(5, false), agent(), Some(at(2))),
            counted_row(&facts(5, false), agency("south"), Some(at(3))),
        ];
        let changes = between(&found, &wanted, south_visit, NOT_LEGACY);
        // Not new in north (visited at 7, after the flag at 5); new in south (visited at 3).
        assert_eq!(moves(&changes), vec![("AGENCY#north".into(), -1, 0), ("AGENCY#south".into(), 1, 1)]);
        assert_eq!(changes.writes.len(), 2, "the agent's row stays as it is: {changes:?}");
    }

    #[test]
    fn an_arrival_only_adds_rows_so_it_writes_over_none_it_read() {
        // The agent's row, placed before their agency was known; the agency's row is added.
        let found = vec![stored(counted_row(&facts(5, false), agent(), None), 1)];
        let wanted =
            vec![counted_row(&facts(5, false), agent(), None), counted_row(&facts(5, false), agency("north"), None)];
        let arrival = between(&found, &wanted, NO_VISIT, NOT_LEGACY);
        assert_eq!(arrival.writes.len(), 1);
        assert!(!arrival.writes_over_found(), "a job holds such a move to a row it leaves: {arrival:?}");
        assert!(arrival.creates_a_row(), "and names the row it makes in the record");
        let leaving = between(&found, &[], NO_VISIT, NOT_LEGACY);
        assert!(leaving.writes_over_found());
        assert!(!leaving.creates_a_row());
    }

    #[test]
    fn a_row_of_an_earlier_release_counts_as_its_record_says_and_is_written_again() {
        let wanted = vec![counted_row(&facts(5, false), agent(), None)];
        let found = vec![stored(wanted[0].clone(), 0)];
        let counted_new = |_: &str| true;
        let changes = between(&found, &wanted, NO_VISIT, counted_new);
        assert!(changes.counters.is_empty(), "it counted as it counts: {changes:?}");
        assert!(matches!(changes.writes.as_slice(), [RowWrite::Put { row, over: Some(0) }] if row.version == 1));
        // Its record says it did not count as new (a visit since): now it does, flagged after.
        let changes = between(&found, &wanted, NO_VISIT, NOT_LEGACY);
        assert_eq!(moves(&changes), vec![("AGENT#ana".into(), 0, 1)]);
    }
}

//! What leaves the system when an entry's at-risk state changes: the change itself (published as
//! an `AOR Entry Flagged` or `AOR Entry Cleared` event) and, when another NPN took the entry, the
//! take (counted into the swap patterns of every agency on the owner's path). Pure functions of a
//! history record, so the relay that sends them decides nothing itself.

use chrono::{DateTime, Datelike, Utc};

use super::rules::{HistoryRecord, Risk};
use super::values::{AgentId, Npn};

/// How an entry's at-risk state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// It became at risk, or its risk is now a different one (another reason or other NPN).
    Flagged,
    /// It was at risk and is not any more (or the entry is gone).
    Cleared,
}

impl ChangeKind {
    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::Flagged => "AOR Entry Flagged",
            Self::Cleared => "AOR Entry Cleared",
        }
    }
}

/// The change of at-risk state a history record holds, if any. An archive flag, a new client
/// name or a later flag time of the same risk is not one; a new spell or a new reason or NPN is.
pub fn at_risk_change(record: &HistoryRecord) -> Option<ChangeKind> {
    let before = record.before.as_ref().and_then(|e| e.risk.as_ref());
    let after = record.after.as_ref().and_then(|e| e.risk.as_ref());
    match (before, after) {
        (None, Some(_)) => Some(ChangeKind::Flagged),
        (Some(_), None) => Some(ChangeKind::Cleared),
        (Some(before), Some(after)) if !same_risk(before, after) => Some(ChangeKind::Flagged),
        _ => None,
    }
}

fn same_risk(a: &Risk, b: &Risk) -> bool {
    a.since == b.since && a.reason == b.reason && a.other_npn == b.other_npn
}

/// Another NPN taking an entry: what the swap patterns count, once per taker and spell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Take {
    pub other_npn: Npn,
    /// The agent behind the NPN, where the directory knew them when the entry was flagged.
    pub other_agent_id: Option<AgentId>,
    /// When it happened (the evidence's time): what week it counts in.
    pub at: DateTime<Utc>,
}

/// The take a history record holds: the entry is now at risk to an NPN it was not at risk to
/// before. Late evidence that only moves the spell's start (the same NPN, an earlier time) is the
/// same take and is not counted again.
pub fn take(record: &HistoryRecord) -> Option<Take> {
    let after = record.after.as_ref()?.risk.as_ref()?;
    let other_npn = after.other_npn.clone()?;
    let before = record.before.as_ref().and_then(|e| e.risk.as_ref());
    if before.is_some_and(|before| before.other_npn.as_ref() == Some(&other_npn)) {
        return None;
    }
    Some(Take { other_npn, other_agent_id: after.other_agent_id.clone(), at: after.since })
}

/// The ISO week a time falls in, as `2026-W07`: the swap patterns' week.
pub fn iso_week(at: DateTime<Utc>) -> String {
    let week = at.iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}

/// The id of one change, the same however often it is published: a consumer drops an event whose
/// id it has seen. One piece of evidence changes one entry at most once.
pub fn change_id(
    plan_year: super::values::PlanYear,
    id: &super::values::FederalExchangeId,
    record: &HistoryRecord,
) -> String {
    format!("{plan_year}/{id}/{}/{}", record.agent_id, record.evidence_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BookEntry, EvidenceId, Name, Reason};
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap()
    }

    fn risk(since: DateTime<Utc>, reason: Reason, npn: Option<&str>) -> Risk {
        Risk {
            since,
            flagged_at: since,
            reason,
            other_npn: npn.map(|n| Npn::parse(n).unwrap()),
            other_agent_id: None,
            other_agent_same_agency: None,
        }
    }

    fn entry(risk: Option<Risk>) -> BookEntry {
        BookEntry {
            agent_id: AgentId::parse("ana").unwrap(),
            expected_npn: Npn::parse("111").unwrap(),
            client_name: Name::parse("Client").unwrap(),
            risk,
            archived: false,
        }
    }

    fn record(before: Option<BookEntry>, after: Option<BookEntry>) -> HistoryRecord {
        HistoryRecord {
            agent_id: AgentId::parse("ana").unwrap(),
            recorded_at: at(20),
            evidence_id: EvidenceId::parse("ev-1").unwrap(),
            before,
            after,
        }
    }

    #[test]
    fn a_new_risk_is_flagged_and_a_lost_one_cleared() {
        let flagged = entry(Some(risk(at(2), Reason::PlatformSubmission, Some("222"))));
        assert_eq!(at_risk_change(&record(Some(entry(None)), Some(flagged.clone()))), Some(ChangeKind::Flagged));
        assert_eq!(at_risk_change(&record(None, Some(flagged.clone()))), Some(ChangeKind::Flagged));
        assert_eq!(at_risk_change(&record(Some(flagged.clone()), Some(entry(None)))), Some(ChangeKind::Cleared));
        assert_eq!(at_risk_change(&record(Some(flagged.clone()), None)), Some(ChangeKind::Cleared));
        assert_eq!(at_risk_change(&record(None, Some(entry(None)))), None, "a new entry not at risk");
        assert_eq!(at_risk_change(&record(Some(entry(None)), None)), None, "an entry not at risk leaves");
    }

    #[test]
    fn the_same_risk_archived_or_flagged_later_is_no_change_but_a_new_reason_is() {
        let base = risk(at(2), Reason::PlatformSubmission, Some("222"));
        let mut archived = entry(Some(base.clone()));
        archived.archived = true;
        assert_eq!(at_risk_change(&record(Some(entry(Some(base.clone()))), Some(archived))), None);
        let mut later_flag = base.clone();
        later_flag.flagged_at = at(9);
        assert_eq!(at_risk_change(&record(Some(entry(Some(base.clone()))), Some(entry(Some(later_flag))))), None);
        let mismatch = risk(at(2), Reason::MarketplaceAorMismatch, Some("222"));
        assert_eq!(
            at_risk_change(&record(Some(entry(Some(base))), Some(entry(Some(mismatch))))),
            Some(ChangeKind::Flagged)
        );
    }

    #[test]
    fn a_take_is_counted_once_per_npn_and_spell() {
        let by_222 = entry(Some(risk(at(9), Reason::MarketplaceAorMismatch, Some("222"))));
        let taken = take(&record(Some(entry(None)), Some(by_222.clone()))).expect("a take");
        assert_eq!((taken.other_npn.as_str(), taken.at), ("222", at(9)));
        let earlier = entry(Some(risk(at(2), Reason::PlatformSubmission, Some("222"))));
        assert_eq!(take(&record(Some(by_222.clone()), Some(earlier))), None, "the same take, found earlier");
        let by_333 = entry(Some(risk(at(10), Reason::PlatformSubmission, Some("333"))));
        assert!(take(&record(Some(by_222), Some(by_333))).is_some(), "taken on by another NPN");
        let no_aor = entry(Some(risk(at(9), Reason::MarketplaceAorMismatch, None)));
        assert_eq!(take(&record(Some(entry(None)), Some(no_aor))), None, "no AOR: nobody took it");
        let revoked = entry(Some(risk(at(9), Reason::EdePermissionRevoked, None)));
        assert_eq!(take(&record(Some(entry(None)), Some(revoked))), None);
    }

    #[test]
    fn weeks_are_iso_weeks() {
        assert_eq!(iso_week(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()), "2026-W01");
        assert_eq!(iso_week(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()), "2026-W53");
        assert_eq!(iso_week(at(27)), "2026-W48");
    }
}

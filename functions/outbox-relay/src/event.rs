//! The events of the history's changes (`docs/events.md` is their contract): `AOR Entry Flagged`
//! and `AOR Entry Cleared`, source `aor-at-risk`. Ids, reasons, NPNs and times; never a client's
//! name or anyone's email. (The others are notices: `shared::notices`.)

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::domain::{AgencyId, ApplicationKey, ChangeKind, HistoryRecord, at_risk_change, change_id};

pub use shared::notices::SOURCE;

/// The `detail` of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryChange {
    /// The same however often this change is published: drop an event whose id was seen.
    pub change_id: String,
    pub federal_exchange_id: String,
    pub plan_year: u16,
    /// The entry's owner (the agent of record expected) and the NPN they submitted with.
    pub agent_id: String,
    pub agent_npn: String,
    /// The owner's agency and every agency above it, top first, as the directory says when the
    /// change is published: an agency's rule matches its own id in it.
    pub agency_path: Vec<String>,
    /// Why it is at risk (flagged) or was (cleared).
    pub reason: &'static str,
    /// The NPN that holds or claimed the AOR, and whether the agent behind it is in the owner's
    /// agency, where known; that agent's id only when they are (every subscriber on the path
    /// reaches the owner's agency; an agent of another agency is an NPN to them).
    pub other_npn: Option<String>,
    pub other_agent_id: Option<String>,
    pub other_agent_same_agency: Option<bool>,
    /// When the at-risk spell started (the evidence's time) and when this system flagged it.
    pub at_risk_since: DateTime<Utc>,
    pub flagged_at: DateTime<Utc>,
    /// When the change was recorded: for a cleared entry, when it was cleared.
    pub recorded_at: DateTime<Utc>,
    /// The evidence that made the change (a platform event's id, or a sync's).
    pub evidence_id: String,
}

/// The event a history record calls for, with its `detail-type`: none when the record is no
/// change of at-risk state.
pub fn of_record(
    app: &ApplicationKey,
    record: &HistoryRecord,
    agency_path: &[AgencyId],
) -> Option<(ChangeKind, EntryChange)> {
    let kind = at_risk_change(record)?;
    let entry = match kind {
        ChangeKind::Flagged => record.after.as_ref()?,
        ChangeKind::Cleared => record.before.as_ref()?,
    };
    let risk = entry.risk.as_ref()?;
    Some((
        kind,
        EntryChange {
            change_id: change_id(app.year, &app.id, record),
            federal_exchange_id: app.id.to_string(),
            plan_year: app.year.get(),
            agent_id: record.agent_id.to_string(),
            agent_npn: entry.expected_npn.to_string(),
            agency_path: agency_path.iter().map(ToString::to_string).collect(),
            reason: risk.reason.as_str(),
            other_npn: risk.other_npn.as_ref().map(ToString::to_string),
            other_agent_id: (risk.other_agent_same_agency == Some(true))
                .then(|| risk.other_agent_id.as_ref().map(ToString::to_string))
                .flatten(),
            other_agent_same_agency: risk.other_agent_same_agency,
            at_risk_since: risk.since,
            flagged_at: risk.flagged_at,
            recorded_at: record.recorded_at,
            evidence_id: record.evidence_id.to_string(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use shared::domain::{AgentId, BookEntry, EvidenceId, FederalExchangeId, Name, Npn, PlanYear, Reason, Risk};

    fn entry(risk: Option<Risk>) -> BookEntry {
        BookEntry {
            agent_id: AgentId::parse("ana").unwrap(),
            expected_npn: Npn::parse("111").unwrap(),
            client_name: Name::parse("Maria Example").unwrap(),
            risk,
            archived: false,
        }
    }

    /// At risk to bo (NPN 222), in the owner's agency or not (or not known).
    fn taken_by_bo(at: chrono::DateTime<Utc>, same_agency: Option<bool>) -> Risk {
        Risk {
            since: at,
            flagged_at: at,
            reason: Reason::PlatformSubmission,
            other_npn: Some(Npn::parse("222").unwrap()),
            other_agent_id: Some(AgentId::parse("bo").unwrap()),
            other_agent_same_agency: same_agency,
        }
    }

    #[test]
    fn a_flag_and_its_clear_carry_ids_npns_and_times_but_no_name() {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
        let risk = taken_by_bo(at, Some(false));
        let app = ApplicationKey { id: FederalExchangeId::parse("42").unwrap(), year: PlanYear::parse(2026).unwrap() };
        let record = |before, after| HistoryRecord {
            agent_id: AgentId::parse("ana").unwrap(),
            recorded_at: at,
            evidence_id: EvidenceId::parse("ev-1").unwrap(),
            before,
            after,
        };
        let path = [AgencyId::parse("summit").unwrap(), AgencyId::parse("north").unwrap()];
        let (kind, flagged) =
            of_record(&app, &record(Some(entry(None)), Some(entry(Some(risk.clone())))), &path).expect("a change");
        assert_eq!(kind.detail_type(), "AOR Entry Flagged");
        assert_eq!(flagged.change_id, "2026/42/ana/ev-1");
        assert_eq!((flagged.agent_npn.as_str(), flagged.other_npn.as_deref()), ("111", Some("222")));
        assert_eq!(flagged.agency_path, ["summit", "north"]);
        let json = serde_json::to_string(&flagged).unwrap();
        assert!(!json.contains("Maria"), "no client name in {json}");
        let (kind, cleared) = of_record(&app, &record(Some(entry(Some(risk))), None), &path).expect("a change");
        assert_eq!((kind, cleared.reason), (ChangeKind::Cleared, "platform_submission"));
        assert!(of_record(&app, &record(None, Some(entry(None))), &path).is_none(), "no change, no event");
    }

    #[test]
    fn the_agent_who_took_an_entry_is_named_only_when_in_the_owners_agency() {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
        let app = ApplicationKey { id: FederalExchangeId::parse("42").unwrap(), year: PlanYear::parse(2026).unwrap() };
        let taken_by = |same_agency: Option<bool>| {
            let risk = taken_by_bo(at, same_agency);
            let record = HistoryRecord {
                agent_id: AgentId::parse("ana").unwrap(),
                recorded_at: at,
                evidence_id: EvidenceId::parse("ev-1").unwrap(),
                before: Some(entry(None)),
                after: Some(entry(Some(risk))),
            };
            of_record(&app, &record, &[]).expect("a change").1.other_agent_id
        };
        assert_eq!(taken_by(Some(true)).as_deref(), Some("bo"));
        assert_eq!(taken_by(Some(false)), None, "another agency's agent is an NPN");
        assert_eq!(taken_by(None), None);
    }
}

//! Dispute cases: an entry at risk whose owner (or an admin over it) has asked the CMS help desk,
//! the carrier or the state's department of insurance to restore the AOR — and that follows
//! itself to the end: `restored` when the entry clears (a sync or event shows the owner's NPN
//! again), `lapsed` when its plan year ends, or `withdrawn`. Pure rules over plain data.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::rules::{BookEntry, Reason};
use super::values::{AgentId, FederalExchangeId, InvalidValue, Npn, PlanYear};

/// Where a dispute was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    CmsHelpDesk,
    Carrier,
    StateDoi,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CmsHelpDesk => "cms_help_desk",
            Self::Carrier => "carrier",
            Self::StateDoi => "state_doi",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::CmsHelpDesk, Self::Carrier, Self::StateDoi].into_iter().find(|c| c.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    Open,
    /// The entry cleared: the AOR came back (or the owner's NPN was seen again).
    Restored,
    /// Its plan year ended while it was open.
    Lapsed,
    /// Its owner or an admin over it closed it.
    Withdrawn,
}

impl DisputeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Restored => "restored",
            Self::Lapsed => "lapsed",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Open, Self::Restored, Self::Lapsed, Self::Withdrawn].into_iter().find(|s| s.as_str() == raw)
    }
}

/// A note on a case: what was done, a date promised. Free text the page asks not to hold a
/// client's personal data; never logged, never in an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub at: DateTime<Utc>,
    pub by: AgentId,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    pub dispute_id: String,
    pub plan_year: PlanYear,
    pub federal_exchange_id: FederalExchangeId,
    /// The entry's owner: the agent who expects to be the AOR.
    pub agent_id: AgentId,
    pub agent_npn: Npn,
    pub opened_by: AgentId,
    pub opened_at: DateTime<Utc>,
    /// What was disputed: why the entry was at risk, and to whom, when the case was opened.
    pub reason: Reason,
    pub other_npn: Option<Npn>,
    pub channels: BTreeSet<Channel>,
    /// The help desk's or carrier's ticket number.
    pub reference: Option<String>,
    pub notes: Vec<Note>,
    pub status: DisputeStatus,
    /// The last change made to it by a person (opened, a channel or note added).
    pub changed_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Every write is conditional on the version read.
    pub version: u64,
}

/// What opening a case asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub channels: BTreeSet<Channel>,
    pub reference: Option<String>,
    pub note: Option<String>,
}

/// What a person changes on an open case; `None` leaves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisputeChange {
    /// Added to those already used.
    pub channels: BTreeSet<Channel>,
    pub reference: Option<String>,
    pub note: Option<String>,
    pub withdraw: bool,
}

/// Why a case could not be opened or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisputeRefusal {
    #[error("the entry is not at risk: there is nothing to dispute")]
    NotAtRisk,
    #[error("the case is {0}: it can no longer be changed")]
    Closed(&'static str),
    #[error("name at least one channel the dispute was raised through")]
    NoChannel,
    #[error("nothing to change")]
    NothingToChange,
}

/// A case's reference number: at most 64 letters, digits, spaces and `-_#./`, not all spaces
/// (kept without the spaces around it). Lengths count what was sent, as the schema does.
pub fn parse_reference(raw: &str) -> Result<String, InvalidValue> {
    let trimmed = raw.trim();
    let ok = !trimmed.is_empty()
        && raw.len() <= 64
        && trimmed.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'-' | b'_' | b'#' | b'.' | b'/'));
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(InvalidValue { field: "reference", problem: "must be 1 to 64 letters, digits, spaces and -_#./" })
    }
}

/// A note's text: at most 1,000 characters, not all blank, no control characters but line
/// breaks (kept without the blanks around it).
pub fn parse_note(raw: &str) -> Result<String, InvalidValue> {
    let trimmed = raw.trim();
    let ok =
        !trimmed.is_empty() && raw.chars().count() <= 1_000 && trimmed.chars().all(|c| !c.is_control() || c == '\n');
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(InvalidValue { field: "note", problem: "must be 1 to 1,000 characters, without control characters" })
    }
}

/// A new case for `entry` (owned by `entry.agent_id`), opened by `by` at `now`.
pub fn open(
    dispute_id: String,
    (plan_year, federal_exchange_id): (PlanYear, FederalExchangeId),
    entry: &BookEntry,
    opening: Opening,
    by: &AgentId,
    now: DateTime<Utc>,
) -> Result<Dispute, DisputeRefusal> {
    let risk = entry.risk.as_ref().ok_or(DisputeRefusal::NotAtRisk)?;
    if opening.channels.is_empty() {
        return Err(DisputeRefusal::NoChannel);
    }
    Ok(Dispute {
        dispute_id,
        plan_year,
        federal_exchange_id,
        agent_id: entry.agent_id.clone(),
        agent_npn: entry.expected_npn.clone(),
        opened_by: by.clone(),
        opened_at: now,
        reason: risk.reason,
        other_npn: risk.other_npn.clone(),
        channels: opening.channels,
        reference: opening.reference,
        notes: opening.note.map(|text| Note { at: now, by: by.clone(), text }).into_iter().collect(),
        status: DisputeStatus::Open,
        changed_at: now,
        closed_at: None,
        version: 1,
    })
}

impl Dispute {
    pub fn is_open(&self) -> bool {
        self.status == DisputeStatus::Open
    }

    /// The case with a person's `change` made at `now`.
    pub fn changed(&self, change: DisputeChange, by: &AgentId, now: DateTime<Utc>) -> Result<Self, DisputeRefusal> {
        if !self.is_open() {
            return Err(DisputeRefusal::Closed(self.status.as_str()));
        }
        let new_channels: BTreeSet<Channel> = change.channels.difference(&self.channels).copied().collect();
        let new_reference = change.reference.filter(|r| self.reference.as_ref() != Some(r));
        if new_channels.is_empty() && new_reference.is_none() && change.note.is_none() && !change.withdraw {
            return Err(DisputeRefusal::NothingToChange);
        }
        let mut next = self.clone();
        next.channels.extend(new_channels);
        if new_reference.is_some() {
            next.reference = new_reference;
        }
        if let Some(text) = change.note {
            next.notes.push(Note { at: now, by: by.clone(), text });
        }
        if change.withdraw {
            next.status = DisputeStatus::Withdrawn;
            next.closed_at = Some(now);
        }
        next.changed_at = now;
        next.version += 1;
        Ok(next)
    }

    /// The case closed by the system as `status` (restored, lapsed) at `now`; `None` when it is
    /// closed already.
    pub fn closed(&self, status: DisputeStatus, now: DateTime<Utc>) -> Option<Self> {
        if !self.is_open() || status == DisputeStatus::Open {
            return None;
        }
        let mut next = self.clone();
        next.status = status;
        next.closed_at = Some(now);
        next.version += 1;
        Some(next)
    }

    /// Whole days since it was opened, until it closed.
    pub fn age_days(&self, now: DateTime<Utc>) -> i64 {
        (self.closed_at.unwrap_or(now) - self.opened_at).num_days().max(0)
    }

    /// Whether a digest covering `(since, through]` reminds about it: open, and unchanged for a
    /// multiple of `REMINDER_DAYS` days at some moment of the window (so each reminder once).
    pub fn reminder_due(&self, since: DateTime<Utc>, through: DateTime<Utc>) -> bool {
        if !self.is_open() || through <= since {
            return false;
        }
        let period = Duration::days(REMINDER_DAYS);
        // The first multiple of the period after `since`.
        let quiet = since - self.changed_at;
        let periods = if quiet < period { 1 } else { quiet.num_seconds() / period.num_seconds() + 1 };
        let due = self.changed_at + period * i32::try_from(periods).unwrap_or(i32::MAX);
        since < due && due <= through
    }
}

/// A case unchanged this many days is named in its people's digest (and again every as many).
pub const REMINDER_DAYS: i64 = 14;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Risk;
    use crate::values::Name;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap()
    }

    fn entry(at_risk: bool) -> BookEntry {
        BookEntry {
            agent_id: AgentId::parse("ana").unwrap(),
            expected_npn: Npn::parse("111").unwrap(),
            client_name: Name::parse("Zoë O'Brien").unwrap(),
            risk: at_risk.then(|| Risk {
                since: at(1),
                flagged_at: at(1),
                reason: Reason::PlatformSubmission,
                other_npn: Some(Npn::parse("222").unwrap()),
                other_agent_id: None,
                other_agent_same_agency: None,
            }),
            archived: false,
        }
    }

    fn opened(day: u32) -> Dispute {
        let app = (PlanYear::parse(2026).unwrap(), FederalExchangeId::parse("42").unwrap());
        let opening =
            Opening { channels: BTreeSet::from([Channel::CmsHelpDesk]), reference: Some("HD-1".into()), note: None };
        open("d-1".into(), app, &entry(true), opening, &AgentId::parse("ana").unwrap(), at(day)).unwrap()
    }

    #[test]
    fn a_case_is_opened_only_for_an_entry_at_risk_and_through_at_least_one_channel() {
        let case = opened(2);
        assert_eq!(
            (case.status, case.reason, case.other_npn.as_ref().map(Npn::as_str)),
            (DisputeStatus::Open, Reason::PlatformSubmission, Some("222"))
        );
        let app = (PlanYear::parse(2026).unwrap(), FederalExchangeId::parse("42").unwrap());
        let ana = AgentId::parse("ana").unwrap();
        let some = Opening { channels: BTreeSet::from([Channel::Carrier]), reference: None, note: None };
        assert_eq!(open("d".into(), app.clone(), &entry(false), some, &ana, at(2)), Err(DisputeRefusal::NotAtRisk));
        let none = Opening { channels: BTreeSet::new(), reference: None, note: None };
        assert_eq!(open("d".into(), app, &entry(true), none, &ana, at(2)), Err(DisputeRefusal::NoChannel));
    }

    #[test]
    fn a_person_adds_channels_and_notes_or_withdraws_and_a_closed_case_stays_closed() {
        let ana = AgentId::parse("ana").unwrap();
        let case = opened(2);
        let change = DisputeChange {
            channels: BTreeSet::from([Channel::StateDoi, Channel::CmsHelpDesk]),
            note: Some("Called the carrier".into()),
            ..Default::default()
        };
        let next = case.changed(change, &ana, at(5)).unwrap();
        assert_eq!(next.channels, BTreeSet::from([Channel::CmsHelpDesk, Channel::StateDoi]));
        assert_eq!((next.notes.len(), next.changed_at, next.version), (1, at(5), 2));
        let same = DisputeChange { channels: BTreeSet::from([Channel::CmsHelpDesk]), ..Default::default() };
        assert_eq!(next.changed(same, &ana, at(6)), Err(DisputeRefusal::NothingToChange));
        let withdrawn = next.changed(DisputeChange { withdraw: true, ..Default::default() }, &ana, at(7)).unwrap();
        assert_eq!((withdrawn.status, withdrawn.closed_at), (DisputeStatus::Withdrawn, Some(at(7))));
        assert_eq!(withdrawn.age_days(at(30)), 5, "its age stops when it closes");
        let note = DisputeChange { note: Some("again".into()), ..Default::default() };
        assert_eq!(withdrawn.changed(note, &ana, at(8)), Err(DisputeRefusal::Closed("withdrawn")));
        assert_eq!(withdrawn.closed(DisputeStatus::Restored, at(9)), None, "closed once");
        let restored = next.closed(DisputeStatus::Restored, at(9)).unwrap();
        assert_eq!((restored.status, restored.version), (DisputeStatus::Restored, 3));
    }

    #[test]
    fn a_case_unchanged_for_fourteen_days_is_reminded_once_in_the_window_it_turns_fourteen_then_every_fourteen() {
        let case = opened(2); // 2026-03-02 09:00
        let day = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap();
        assert!(!case.reminder_due(day(15, 13), day(16, 8)), "not yet fourteen days");
        assert!(case.reminder_due(day(15, 13), day(16, 13)), "fourteen days on the 16th at 09:00");
        assert!(!case.reminder_due(day(16, 13), day(17, 13)), "once");
        assert!(case.reminder_due(day(29, 13), day(30, 13)), "and again at 28 days");
        let changed = case
            .changed(
                DisputeChange { note: Some("chased".into()), ..Default::default() },
                &AgentId::parse("ana").unwrap(),
                day(10, 9),
            )
            .unwrap();
        assert!(!changed.reminder_due(day(15, 13), day(16, 13)), "a change starts the count again");
        assert!(changed.reminder_due(day(23, 13), day(24, 13)));
        let closed = case.closed(DisputeStatus::Lapsed, day(10, 0)).unwrap();
        assert!(!closed.reminder_due(day(15, 13), day(16, 13)));
    }

    #[test]
    fn references_and_notes_are_checked() {
        assert_eq!(parse_reference(" HD-2026/0042 ").unwrap(), "HD-2026/0042");
        assert!(
            parse_reference("").is_err()
                && parse_reference("a<b>").is_err()
                && parse_reference(&"9".repeat(65)).is_err()
        );
        assert!(parse_reference(&format!(" {}", "9".repeat(64))).is_err(), "65 with the space, as the schema counts");
        assert!(parse_note(&format!("{} ", "x".repeat(1_000))).is_err());
        assert_eq!(parse_note("Left a voicemail\nwith the carrier").unwrap(), "Left a voicemail\nwith the carrier");
        assert!(parse_note(" ").is_err() && parse_note("a\u{7}b").is_err() && parse_note(&"x".repeat(1_001)).is_err());
        assert_eq!(Channel::parse("state_doi"), Some(Channel::StateDoi));
        assert_eq!(DisputeStatus::parse("restored"), Some(DisputeStatus::Restored));
    }
}

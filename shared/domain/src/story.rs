//! A client's story as one entry's owner (or an admin above them) may see it: what was submitted
//! under which NPN and when, what the marketplace said at each sync, the archive flags, and every
//! change of the entry's at-risk state — newest first. And the report for the CMS help desk, which
//! names only the application, the plan year, the NPNs and the dates.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::evidence::{Evidence, Fact, Policy};
use super::rules::{BookEntry, HistoryRecord, Reason};
use super::values::{AgentId, FederalExchangeId, Npn, PlanYear};

/// The CMS Agent/Broker (FFM Producer and Assister) help desk, where suspected fraud is reported.
pub const FRAUD_HELP_DESK: &str = "FFMProducer-AssisterHelpDesk@cms.hhs.gov";

/// One thing that happened, as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Happening {
    /// A submission on the platform. The submitting agent is named (by id) only when they are in
    /// the caller's agency tree: another agency's agents are known by their NPN alone.
    Submission { npn: Npn, in_your_agency: bool, agent_id: Option<AgentId> },
    /// A sync, or `syncs` in a row that gave the same answer from `first_at` to the moment's
    /// time with nothing else happening between: the AOR NPN of each active policy (`None`: the
    /// marketplace shows none).
    Sync { policies: Vec<Policy>, syncs: u32, first_at: DateTime<Utc> },
    /// The entry's owner archived or unarchived it.
    Archived { archived: bool },
    /// The platform reported the owner's EDE permission on the application revoked.
    PermissionRevoked,
    /// The entry became at risk.
    AtRisk { reason: Reason, other_npn: Option<Npn> },
    /// The entry stayed at risk for another reason, or another NPN: no new flag.
    ReasonChanged { reason: Reason, other_npn: Option<Npn>, previous_reason: Reason },
    /// The entry is no longer at risk.
    Cleared,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moment {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub happening: Happening,
    /// Orders the timeline and names a position in it.
    #[serde(skip)]
    pub position: String,
    /// The position of the oldest sync a collapsed moment stands for (its own otherwise): where
    /// the next page starts.
    #[serde(skip)]
    pub oldest: String,
}

/// The timeline of `owner`'s entry, newest first: the application's evidence `log` (every
/// submission and sync; the archive flags of this entry) and the entry's at-risk changes from
/// the `history`. `in_callers_agency` says whether an agent is in the caller's agency tree.
pub fn timeline(
    owner: &AgentId,
    log: &[Evidence],
    history: &[HistoryRecord],
    in_callers_agency: impl Fn(&AgentId) -> bool,
) -> Vec<Moment> {
    collapse_repeated_syncs(moments(owner, log, history, in_callers_agency))
}

/// Every moment of `log` and `history` (as `timeline` says), newest first, each sync its own.
pub fn moments(
    owner: &AgentId,
    log: &[Evidence],
    history: &[HistoryRecord],
    in_callers_agency: impl Fn(&AgentId) -> bool,
) -> Vec<Moment> {
    let mut moments: Vec<Moment> = Vec::new();
    let moment = |at, happening, position: String| Moment { at, happening, oldest: position.clone(), position };
    for evidence in log {
        if let Fact::Synced { policies, .. } = &evidence.fact {
            let policies: Vec<Policy> = policies.iter().filter(|p| p.status.is_active()).cloned().collect();
            for at in evidence.times() {
                let happening = Happening::Sync { policies: policies.clone(), syncs: 1, first_at: at };
                // ("f": after other evidence of the same time, as the rules order them, and
                // before the changes it made.)
                moments.push(moment(at, happening, position(at, "f", &answer_of(evidence))));
            }
            continue;
        }
        let happening = match &evidence.fact {
            Fact::Submitted { agent_id, npn, .. } => {
                let in_your_agency = in_callers_agency(agent_id);
                Happening::Submission {
                    npn: npn.clone(),
                    in_your_agency,
                    agent_id: in_your_agency.then(|| agent_id.clone()),
                }
            }
            Fact::Synced { .. } => continue,
            Fact::ArchiveSet { agent_id, archived } if agent_id == owner => Happening::Archived { archived: *archived },
            Fact::ArchiveSet { .. } => continue,
            Fact::PermissionRevoked { agent_id } if agent_id == owner => Happening::PermissionRevoked,
            Fact::PermissionRevoked { .. } => continue,
        };
        moments.push(moment(evidence.at, happening, position(evidence.at, "e", evidence.id.as_str())));
    }
    for record in history.iter().filter(|r| &r.agent_id == owner) {
        let before = record.before.as_ref().and_then(|e| e.risk.as_ref());
        let after = record.after.as_ref().and_then(|e| e.risk.as_ref());
        let happening = match (before, after) {
            (None, Some(risk)) => Happening::AtRisk { reason: risk.reason, other_npn: risk.other_npn.clone() },
            (Some(was), Some(risk)) if (was.reason, &was.other_npn) != (risk.reason, &risk.other_npn) => {
                Happening::ReasonChanged {
                    reason: risk.reason,
                    other_npn: risk.other_npn.clone(),
                    previous_reason: was.reason,
                }
            }
            (Some(_), None) => Happening::Cleared,
            // The same risk with newer evidence: the evidence's own moment says it.
            _ => continue,
        };
        let at = record.recorded_at;
        moments.push(moment(at, happening, position(at, "h", record.evidence_id.as_str())));
    }
    moments.sort_by(|a, b| b.position.cmp(&a.position));
    moments.dedup_by(|a, b| a.position == b.position);
    moments
}

/// One page of a timeline read a window at a time (`page_of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelinePage {
    /// At most `limit` moments, newest first, and the position the next page starts below.
    Page { moments: Vec<Moment>, next: Option<String> },
    /// The window read holds too few moments known whole: read a wider one.
    ReadMore,
}

/// The page of the timeline below position `below` (from the start when `None`), out of the
/// `moments` of a window read newest first (`moments`, uncollapsed), of which those after
/// `complete_after` are known whole: an item not read yet holds nothing later (`None`: the
/// window read everything). Syncs in a row are collapsed within the page; a run longer than
/// the page can hold goes on on the next. `wide`: the window is as wide as a page may read, so a
/// page is made of what is known whole even if a run of syncs goes on past it — or of nothing,
/// when the window holds nothing of this entry's, and the next page starts below it.
pub fn page_of(
    moments: Vec<Moment>,
    below: Option<&str>,
    complete_after: Option<DateTime<Utc>>,
    limit: usize,
    wide: bool,
) -> TimelinePage {
    let known: Vec<Moment> = moments
        .into_iter()
        .filter(|m| below.is_none_or(|below| m.position.as_str() < below))
        .filter(|m| complete_after.is_none_or(|after| m.at > after))
        .collect();
    let mut collapsed = collapse_repeated_syncs(known);
    let next = |page: &[Moment]| page.last().map(|m| m.oldest.clone());
    // A run of syncs known up to the last moment read may go on in what is not read yet.
    let last_may_go_on = complete_after.is_some() && collapsed.last().is_some_and(Moment::is_sync);
    if collapsed.len() > limit || (collapsed.len() == limit && complete_after.is_some() && !last_may_go_on) {
        collapsed.truncate(limit);
        let next = next(&collapsed);
        return TimelinePage::Page { moments: collapsed, next };
    }
    match complete_after {
        None => TimelinePage::Page { moments: collapsed, next: None },
        Some(_) if !wide => TimelinePage::ReadMore,
        // As wide as a page reads and nothing of this entry's in it (another book's changes):
        // the next page starts below what was read whole — never above where this one started.
        Some(after) if collapsed.is_empty() => {
            let next = match below {
                Some(below) => position_below_all_of(after).min(below.to_owned()),
                None => position_below_all_of(after),
            };
            TimelinePage::Page { moments: collapsed, next: Some(next) }
        }
        Some(_) => {
            let next = next(&collapsed);
            TimelinePage::Page { moments: collapsed, next }
        }
    }
}

impl Moment {
    fn is_sync(&self) -> bool {
        matches!(self.happening, Happening::Sync { .. })
    }
}

/// Syncs in a row (newest first, nothing between them) that gave the same answer become one
/// moment: the newest, counting them and naming when the first was.
fn collapse_repeated_syncs(moments: Vec<Moment>) -> Vec<Moment> {
    let mut collapsed: Vec<Moment> = Vec::with_capacity(moments.len());
    for moment in moments {
        if let (Some(newer), Happening::Sync { policies, first_at, .. }) = (collapsed.last_mut(), &moment.happening)
            && let Happening::Sync { policies: same, syncs, first_at: since } = &mut newer.happening
            && same == policies
        {
            *syncs += 1;
            *since = *first_at;
            newer.oldest = moment.oldest;
            continue;
        }
        collapsed.push(moment);
    }
    collapsed
}

/// Time first (fixed width, so string order is time order), then what kind and whose id, so that
/// two moments never share a position.
fn position(at: DateTime<Utc>, kind: &str, id: &str) -> String {
    format!("{}#{kind}#{id}", at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// The position below every moment of time `at` (`position`'s kinds and ids sort below `~`).
pub fn position_below_all_of(at: DateTime<Utc>) -> String {
    position(at, "~", "")
}

/// A sync is named by its time and its answer, as the rules tell syncs apart
/// (`Evidence::tiebreak`), never by the id of the record holding it: a record takes the id of an
/// earlier sync that joins it late, and a position must not move under a cursor. FNV-1a of the
/// answer: stable, and short in a cursor.
fn answer_of(sync: &Evidence) -> String {
    let hash = sync
        .tiebreak()
        .1
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

/// The email to the CMS help desk about a suspected swap of `entry`: the FFM application ID, the
/// plan year, the agent's NPN, the other NPNs the timeline shows, and the dates of the changes —
/// and nothing about the consumer (the help desk asks for no consumer personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelpDeskReport {
    pub to: &'static str,
    pub subject: String,
    pub body: String,
}

pub fn help_desk_report(
    application: FederalExchangeId,
    year: PlanYear,
    entry: &BookEntry,
    moments: &[Moment],
) -> HelpDeskReport {
    let own = &entry.expected_npn;
    let mut others: Vec<&Npn> = Vec::new();
    let mut changes: Vec<String> = Vec::new();
    // A change of reason or other NPN within a spell is no new flag: the evidence lines say it.
    let mut flagged = false;
    for moment in moments.iter().rev() {
        let date = moment.at.format("%Y-%m-%d");
        match &moment.happening {
            Happening::Submission { npn, .. } if npn != own => {
                others.push(npn);
                changes.push(format!("{date}: a submission under NPN {npn}"));
            }
            Happening::Sync { policies, .. } => {
                let foreign: Vec<String> = policies
                    .iter()
                    .filter(|p| p.aor_npn.as_ref() != Some(own))
                    .map(|p| p.aor_npn.as_ref().map_or_else(|| "no AOR".to_owned(), |npn| format!("NPN {npn}")))
                    .collect();
                others.extend(policies.iter().filter_map(|p| p.aor_npn.as_ref()).filter(|npn| *npn != own));
                if !foreign.is_empty() {
                    changes.push(format!("{date}: the marketplace showed {} as the AOR", foreign.join(", ")));
                }
            }
            Happening::AtRisk { .. } if !flagged => {
                flagged = true;
                changes.push(format!("{date}: our system flagged the AOR as at risk"));
            }
            Happening::Cleared => {
                flagged = false;
                changes.push(format!("{date}: the risk was cleared (the AOR was shown as mine again)"));
            }
            Happening::PermissionRevoked => {
                changes.push(format!("{date}: my EDE permission on the application was revoked"));
            }
            _ => {}
        }
    }
    others.sort();
    others.dedup();
    let others = if others.is_empty() {
        "none shown (the marketplace showed no AOR)".to_owned()
    } else {
        others.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    };
    let subject = format!("Suspected unauthorized AOR change: FFM application {application}, plan year {year}");
    let body = format!(
        "Hello,\n\nI am reporting a suspected unauthorized change of the agent of record.\n\n\
         FFM application ID: {application}\nPlan year: {year}\nMy NPN (agent of record): {own}\n\
         Other NPN(s): {others}\n\nWhat happened:\n{}\n\n\
         I hold the consumer's consent records and can provide them on request.\n\nThank you.",
        changes.iter().map(|c| format!("- {c}")).collect::<Vec<_>>().join("\n"),
    );
    HelpDeskReport { to: FRAUD_HELP_DESK, subject, body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EvidenceId, Name, PolicyStatus, Risk};
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap()
    }
    fn id(s: &str) -> AgentId {
        AgentId::parse(s).unwrap()
    }
    fn npn(s: &str) -> Npn {
        Npn::parse(s).unwrap()
    }
    const CLIENT: &str = "Zoë O'Brien";

    fn entry(risk: Option<Risk>) -> BookEntry {
        BookEntry {
            agent_id: id("ana"),
            expected_npn: npn("111"),
            client_name: Name::parse(CLIENT).unwrap(),
            risk,
            archived: false,
        }
    }
    fn risk() -> Risk {
        Risk {
            since: at(3),
            flagged_at: at(3),
            reason: Reason::PlatformSubmission,
            other_npn: Some(npn("222")),
            other_agent_id: Some(id("bob")),
            other_agent_same_agency: Some(false),
        }
    }
    /// A change of ana's entry made by the evidence `e` on `day`.
    fn record(e: &str, day: u32, before: Option<BookEntry>, after: Option<BookEntry>) -> HistoryRecord {
        HistoryRecord {
            agent_id: id("ana"),
            recorded_at: at(day),
            evidence_id: EvidenceId::parse(e).unwrap(),
            before,
            after,
        }
    }
    fn story() -> (Vec<Evidence>, Vec<HistoryRecord>) {
        let submitted = |e: &str, day, by: &str, n: &str| Evidence {
            id: EvidenceId::parse(e).unwrap(),
            at: at(day),
            fact: Fact::Submitted { agent_id: id(by), npn: npn(n), client_name: Name::parse(CLIENT).unwrap() },
        };
        let log = vec![
            submitted("s1", 1, "ana", "111"),
            submitted("s2", 3, "bob", "222"),
            Evidence {
                id: EvidenceId::parse("sync-1").unwrap(),
                at: at(5),
                fact: Fact::Synced {
                    policies: vec![
                        Policy { policy_id: "P1".into(), status: PolicyStatus::Effectuated, aor_npn: Some(npn("222")) },
                        Policy { policy_id: "P0".into(), status: PolicyStatus::Cancelled, aor_npn: Some(npn("111")) },
                    ],
                    again: Vec::new(),
                },
            },
            Evidence {
                id: EvidenceId::parse("a1").unwrap(),
                at: at(6),
                fact: Fact::ArchiveSet { agent_id: id("bob"), archived: true },
            },
        ];
        let confirmed = Risk { reason: Reason::MarketplaceAorMismatch, ..risk() };
        let history = vec![
            record("s1", 1, None, Some(entry(None))),
            record("s2", 3, Some(entry(None)), Some(entry(Some(risk())))),
            record("sync-1", 5, Some(entry(Some(risk()))), Some(entry(Some(confirmed)))),
        ];
        (log, history)
    }

    /// A submission, runs of syncs (a late submission inside one), answers changing.
    fn runs() -> Vec<Evidence> {
        let p1 =
            |aor: &str| Policy { policy_id: "P1".into(), status: PolicyStatus::Effectuated, aor_npn: Some(npn(aor)) };
        let record = |id: &str, days: &[u32], aor: &str| Evidence {
            id: EvidenceId::parse(id).unwrap(),
            at: at(days[0]),
            fact: Fact::Synced { policies: vec![p1(aor)], again: days[1..].iter().map(|d| at(*d)).collect() },
        };
        let log = vec![
            Evidence {
                id: EvidenceId::parse("s1").unwrap(),
                at: at(1),
                fact: Fact::Submitted {
                    agent_id: id("ana"),
                    npn: npn("111"),
                    client_name: Name::parse(CLIENT).unwrap(),
                },
            },
            // One record of five syncs; a late submission on day 7 falls between its times.
            record("y1", &[2, 3, 5, 8, 9], "111"),
            Evidence {
                id: EvidenceId::parse("s2").unwrap(),
                at: at(7),
                fact: Fact::Submitted {
                    agent_id: id("ana"),
                    npn: npn("111"),
                    client_name: Name::parse(CLIENT).unwrap(),
                },
            },
            // Another answer, then the first again, recorded apart.
            record("y2", &[10], "222"),
            record("y3", &[11, 12], "111"),
        ];
        log
    }

    /// Each moment's day, and for a run of syncs how many and the day of the first.
    fn shown(moments: &[Moment]) -> Vec<(u32, Option<(u32, u32)>)> {
        let day = |at: &DateTime<Utc>| at.format("%d").to_string().parse().unwrap();
        moments
            .iter()
            .map(|m| {
                let syncs = match &m.happening {
                    Happening::Sync { syncs, first_at, .. } => Some((*syncs, day(first_at))),
                    _ => None,
                };
                (day(&m.at), syncs)
            })
            .collect()
    }

    #[test]
    fn syncs_in_a_row_with_the_same_answer_are_one_moment_and_anything_between_splits_them() {
        let moments = timeline(&id("ana"), &runs(), &[], |_| true);
        assert_eq!(
            shown(&moments),
            [(12, Some((2, 11))), (10, Some((1, 10))), (9, Some((2, 8))), (7, None), (5, Some((3, 2))), (1, None)],
            "newest first: each run of the same answer is one moment, from its first sync to its last"
        );
    }

    #[test]
    fn a_page_holds_what_is_known_whole_below_its_start_and_names_where_the_next_begins() {
        let all = moments(&id("ana"), &runs(), &[], |_| true);
        let TimelinePage::Page { moments: first, next: Some(next) } = page_of(all.clone(), None, None, 2, false) else {
            panic!("a first page and more")
        };
        assert_eq!(shown(&first), [(12, Some((2, 11))), (10, Some((1, 10)))]);
        let TimelinePage::Page { moments: second, next: Some(next) } =
            page_of(all.clone(), Some(&next), None, 2, false)
        else {
            panic!("a second page and more")
        };
        assert_eq!(shown(&second), [(9, Some((2, 8))), (7, None)], "a run is one moment, and starts the next page");
        let TimelinePage::Page { moments: last, next: None } = page_of(all.clone(), Some(&next), None, 2, false) else {
            panic!("a last page")
        };
        assert_eq!(shown(&last), [(5, Some((3, 2))), (1, None)]);

        // What was read holds nothing unread later than day 11: the run of days 11 and 12 may go
        // on, so a narrow window reads more; the widest a page reads makes it of day 12 alone,
        // and the next page starts below it.
        assert_eq!(page_of(all.clone(), None, Some(at(11)), 2, false), TimelinePage::ReadMore);
        let TimelinePage::Page { moments: wide, next: Some(next) } = page_of(all.clone(), None, Some(at(11)), 2, true)
        else {
            panic!("a page of what is known whole")
        };
        assert_eq!(shown(&wide), [(12, Some((1, 12)))]);
        let TimelinePage::Page { moments: rest, .. } = page_of(all.clone(), Some(&next), None, 2, false) else {
            panic!("the rest")
        };
        assert_eq!(shown(&rest), [(11, Some((1, 11))), (10, Some((1, 10)))]);

        // A page as long as asked for is whole when its last moment is no run of syncs.
        let TimelinePage::Page { moments: whole, .. } = page_of(all.clone(), None, Some(at(6)), 4, false) else {
            panic!("four moments known whole, the last a submission")
        };
        assert_eq!(shown(&whole), [(12, Some((2, 11))), (10, Some((1, 10))), (9, Some((2, 8))), (7, None)]);
        assert_eq!(
            page_of(all.clone(), None, Some(at(7)), 3, false),
            TimelinePage::ReadMore,
            "the run of days 8 and 9 may go on"
        );

        // A window as wide as a page reads, with nothing of the entry's known whole: an empty
        // page, and the next starts below what was read.
        let older: Vec<Moment> = all.into_iter().filter(|m| m.at <= at(9)).collect();
        let next = position_below_all_of(at(9));
        assert_eq!(
            page_of(older.clone(), None, Some(at(9)), 2, true),
            TimelinePage::Page { moments: Vec::new(), next: Some(next.clone()) }
        );
        let TimelinePage::Page { moments: below, .. } = page_of(older, Some(&next), None, 2, false) else {
            panic!("what was below")
        };
        assert_eq!(shown(&below)[0], (9, Some((2, 8))), "the moments at that time are not skipped");
    }

    #[test]
    fn the_timeline_is_newest_first_and_names_only_the_callers_own_agents() {
        let (log, history) = story();
        let moments = timeline(&id("ana"), &log, &history, |agent| agent.as_str() == "ana");
        let kinds: Vec<&str> = moments
            .iter()
            .map(|m| match m.happening {
                Happening::Submission { .. } => "submission",
                Happening::Sync { .. } => "sync",
                Happening::Archived { .. } => "archived",
                Happening::PermissionRevoked => "permission_revoked",
                Happening::AtRisk { .. } => "at_risk",
                Happening::ReasonChanged { .. } => "reason_changed",
                Happening::Cleared => "cleared",
            })
            .collect();
        // Bob's archive flag is his entry's, not ana's: not in her story. A change of at-risk state
        // comes after the evidence that made it; a sync that only gives the risk another reason
        // is no second flag.
        assert_eq!(kinds, ["reason_changed", "sync", "at_risk", "submission", "submission"]);
        assert_eq!(
            moments[0].happening,
            Happening::ReasonChanged {
                reason: Reason::MarketplaceAorMismatch,
                other_npn: Some(npn("222")),
                previous_reason: Reason::PlatformSubmission,
            }
        );
        assert_eq!(
            moments[3].happening,
            Happening::Submission { npn: npn("222"), in_your_agency: false, agent_id: None },
            "another agency's agent is an NPN only"
        );
        assert_eq!(
            moments[4].happening,
            Happening::Submission { npn: npn("111"), in_your_agency: true, agent_id: Some(id("ana")) }
        );
        assert_eq!(
            moments[1].happening,
            Happening::Sync {
                policies: vec![Policy {
                    policy_id: "P1".into(),
                    status: PolicyStatus::Effectuated,
                    aor_npn: Some(npn("222"))
                }],
                syncs: 1,
                first_at: at(5),
            },
            "active policies only"
        );
    }

    /// The report ana would send on application 4455 while at risk, from her story.
    fn report_of(log: &[Evidence], history: &[HistoryRecord]) -> HelpDeskReport {
        let moments = timeline(&id("ana"), log, history, |_| true);
        help_desk_report(
            FederalExchangeId::parse("4455").unwrap(),
            PlanYear::parse(2026).unwrap(),
            &entry(Some(risk())),
            &moments,
        )
    }

    #[test]
    fn the_help_desk_report_names_the_application_the_npns_and_the_dates_and_no_person() {
        let (log, history) = story();
        let report = report_of(&log, &history);
        assert_eq!(report.to, FRAUD_HELP_DESK);
        assert!(report.subject.contains("4455") && report.subject.contains("2026"));
        for needed in [
            "FFM application ID: 4455",
            "Plan year: 2026",
            "My NPN (agent of record): 111",
            "Other NPN(s): 222",
            "2026-03-03",
            "2026-03-05",
        ] {
            assert!(report.body.contains(needed), "{needed} in {}", report.body);
        }
        // The sync changed the reason, not the state: one flag for the one spell.
        assert_eq!(report.body.matches("flagged the AOR as at risk").count(), 1, "{}", report.body);
        let text = format!("{}\n{}", report.subject, report.body);
        for personal in [CLIENT, "O'Brien", "Zoë", "bob", "ana", "@example"] {
            assert!(!text.contains(personal), "{personal} in the report");
        }
    }

    #[test]
    fn the_help_desk_report_names_each_spell_once_and_each_clearing() {
        let (log, mut history) = story();
        history.push(record("s3", 7, Some(entry(Some(risk()))), Some(entry(None))));
        history.push(record("s4", 9, Some(entry(None)), Some(entry(Some(risk())))));
        let report = report_of(&log, &history);
        let lines: Vec<&str> =
            report.body.lines().filter(|l| l.contains("our system") || l.contains("cleared")).collect();
        assert_eq!(
            lines,
            [
                "- 2026-03-03: our system flagged the AOR as at risk",
                "- 2026-03-07: the risk was cleared (the AOR was shown as mine again)",
                "- 2026-03-09: our system flagged the AOR as at risk",
            ],
            "{}",
            report.body
        );
    }
}

//! Every case of SPEC §3, by name, and a property test that arrival order does not matter.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::evidence::{PolicyStatus, SyncFailed, record_evidence, sync_evidence};

// ---- a small language for the cases -------------------------------------------------------

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + Duration::minutes(minute)
}

fn agent(id: &str) -> AgentId {
    AgentId::parse(id).unwrap()
}

fn npn(raw: &str) -> Npn {
    Npn::parse(raw).unwrap()
}

fn submitted(id: &str, minute: i64, by: &str, under: &str) -> Evidence {
    Evidence {
        id: EvidenceId::parse(id).unwrap(),
        at: t(minute),
        fact: Fact::Submitted { agent_id: agent(by), npn: npn(under), client_name: Name::parse("Ana Díaz").unwrap() },
    }
}

fn policy(status: PolicyStatus, aor: Option<&str>) -> Policy {
    Policy { policy_id: format!("P-{status:?}-{aor:?}"), status, aor_npn: aor.map(npn) }
}

fn synced(id: &str, minute: i64, policies: Vec<Policy>) -> Evidence {
    sync_evidence(EvidenceId::parse(id).unwrap(), t(minute), Ok(policies)).unwrap()
}

fn archived(id: &str, minute: i64, by: &str, archived: bool) -> Evidence {
    Evidence {
        id: EvidenceId::parse(id).unwrap(),
        at: t(minute),
        fact: Fact::ArchiveSet { agent_id: agent(by), archived },
    }
}

fn revoked(id: &str, minute: i64, whose: &str) -> Evidence {
    Evidence {
        id: EvidenceId::parse(id).unwrap(),
        at: t(minute),
        fact: Fact::PermissionRevoked { agent_id: agent(whose) },
    }
}

/// What is stored for an application: its log and its entries, evolved one delivery at a time
/// exactly as the store does it.
#[derive(Default, Clone)]
struct Stored {
    log: Vec<Evidence>,
    entries: BTreeMap<AgentId, BookEntry>,
    history: Vec<HistoryRecord>,
    /// The current sync record (`record_evidence`), which the store keeps in the application's item.
    record: Option<Evidence>,
}

impl Stored {
    fn deliver(&mut self, evidence: &Evidence, agencies: &AgencyOf, now: DateTime<Utc>) -> bool {
        match apply(&self.everything(), &self.entries, evidence, agencies, now) {
            None => false,
            Some(applied) => {
                // As the store keeps it: the current sync record apart, the rest as items.
                let (record, items) = record_evidence(self.record.as_ref(), evidence);
                self.log.extend(items);
                self.record = record;
                self.entries = applied.entries;
                self.history.extend(applied.history);
                true
            }
        }
    }

    /// The log as the rules see it: the items and the current sync record.
    fn everything(&self) -> Vec<Evidence> {
        self.log.iter().chain(&self.record).cloned().collect()
    }

    fn entry(&self, id: &str) -> &BookEntry {
        self.entries.get(&agent(id)).unwrap_or_else(|| panic!("no entry for {id}"))
    }
}

fn deliver_all(events: &[Evidence]) -> Stored {
    let mut stored = Stored::default();
    for (i, event) in events.iter().enumerate() {
        stored.deliver(event, &AgencyOf::new(), t(10_000 + i as i64));
    }
    stored
}

// ---- SPEC §3 case by case ----------------------------------------------------------------------

#[test]
fn the_first_submission_makes_an_entry_for_the_submitting_agent() {
    let stored = deliver_all(&[submitted("s1", 0, "ana", "111")]);
    assert_eq!(stored.entries.len(), 1);
    let entry = stored.entry("ana");
    assert_eq!(entry.expected_npn, npn("111"));
    assert!(!entry.is_at_risk());
    assert_eq!(last_synced_at(&stored.everything()), None);
    assert_eq!(stored.history.len(), 1, "the creation is in the history");
}

#[test]
fn another_agent_under_another_npn_puts_the_entry_at_risk() {
    let stored = deliver_all(&[submitted("s1", 0, "ana", "111"), submitted("s2", 5, "bob", "222")]);
    let risk = stored.entry("ana").risk.clone().expect("ana's entry is at risk");
    assert_eq!(risk.since, t(5));
    assert_eq!(risk.reason, Reason::PlatformSubmission);
    assert_eq!(risk.other_npn, Some(npn("222")));
    assert_eq!(risk.other_agent_id, Some(agent("bob")));
}

#[test]
fn another_agent_under_another_npn_gets_an_entry_of_their_own_that_is_not_at_risk() {
    let stored = deliver_all(&[submitted("s1", 0, "ana", "111"), submitted("s2", 5, "bob", "222")]);
    let bob = stored.entry("bob");
    assert_eq!(bob.expected_npn, npn("222"));
    assert!(!bob.is_at_risk());
}

#[test]
fn another_agent_keeping_the_owners_npn_does_not_put_it_at_risk() {
    let stored = deliver_all(&[submitted("s1", 0, "ana", "111"), submitted("s2", 5, "bob", "111")]);
    assert!(!stored.entry("ana").is_at_risk());
    assert!(!stored.entries.contains_key(&agent("bob")), "servicing agents get no entry of their own");
}

#[test]
fn the_owners_new_submission_clears_a_platform_submission_risk() {
    let stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        submitted("s2", 5, "bob", "222"),
        submitted("s3", 9, "ana", "111"),
    ]);
    assert!(!stored.entry("ana").is_at_risk());
    assert!(stored.entry("bob").is_at_risk(), "bob has now lost it to ana's NPN");
}

#[test]
fn a_revoked_ede_permission_puts_that_agents_entry_at_risk_and_no_one_elses() {
    let stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        submitted("s2", 5, "bob", "222"),
        submitted("s3", 6, "ana", "111"),
        revoked("r1", 9, "ana"),
    ]);
    let risk = stored.entry("ana").risk.clone().expect("ana's entry is at risk");
    assert_eq!((risk.reason, risk.since, risk.other_npn), (Reason::EdePermissionRevoked, t(9), None));
    assert!(stored.entry("bob").is_at_risk(), "bob's own risk is untouched");
    let stored = deliver_all(&[submitted("s1", 0, "ana", "111"), revoked("r1", 9, "nobody")]);
    assert!(!stored.entry("ana").is_at_risk(), "an agent without an entry changes nothing");
}

#[test]
fn a_revoked_ede_permission_is_cleared_by_a_later_submission_or_a_sync_showing_the_agent_and_not_by_an_older_one() {
    let base = [submitted("s1", 0, "ana", "111"), revoked("r1", 9, "ana")];
    let resubmitted = deliver_all(&[&base[..], &[submitted("s2", 12, "ana", "111")]].concat());
    assert!(!resubmitted.entry("ana").is_at_risk());
    let synced_back =
        deliver_all(&[&base[..], &[synced("y1", 12, vec![policy(PolicyStatus::Effectuated, Some("111"))])]].concat());
    assert!(!synced_back.entry("ana").is_at_risk());
    // A sync from before the revocation, arriving after it: the newest evidence still wins.
    let late_old_sync =
        deliver_all(&[&base[..], &[synced("y0", 5, vec![policy(PolicyStatus::Effectuated, Some("111"))])]].concat());
    assert_eq!(late_old_sync.entry("ana").risk.as_ref().map(|r| r.reason), Some(Reason::EdePermissionRevoked));
}

#[test]
fn the_owners_submission_under_a_new_npn_makes_that_npn_the_expected_one() {
    let stored = deliver_all(&[submitted("s1", 0, "ana", "111"), submitted("s2", 5, "ana", "999")]);
    assert_eq!(stored.entry("ana").expected_npn, npn("999"));
    assert!(!stored.entry("ana").is_at_risk());
}

#[test]
fn a_sync_with_a_foreign_aor_on_an_active_policy_puts_it_at_risk() {
    let stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        synced(
            "y1",
            5,
            vec![policy(PolicyStatus::Effectuated, Some("111")), policy(PolicyStatus::Pending, Some("333"))],
        ),
    ]);
    let entry = stored.entry("ana");
    let risk = entry.risk.clone().expect("at risk");
    assert_eq!(risk.reason, Reason::MarketplaceAorMismatch);
    assert_eq!(risk.other_npn, Some(npn("333")));
    assert_eq!(risk.since, t(5));
    assert_eq!(last_synced_at(&stored.everything()), Some(t(5)));
}

#[test]
fn a_sync_with_no_aor_on_an_active_policy_puts_it_at_risk() {
    let stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        synced("y1", 5, vec![policy(PolicyStatus::Effectuated, None)]),
    ]);
    let risk = stored.entry("ana").risk.clone().expect("at risk");
    assert_eq!(risk.reason, Reason::MarketplaceAorMismatch);
    assert_eq!(risk.other_npn, None);
}

#[test]
fn a_sync_naming_another_entrys_npn_names_that_agent() {
    let stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        submitted("s2", 1, "bob", "222"),
        submitted("s3", 2, "ana", "111"),
        synced("y1", 5, vec![policy(PolicyStatus::Effectuated, Some("222"))]),
    ]);
    let risk = stored.entry("ana").risk.clone().expect("at risk");
    assert_eq!(risk.other_agent_id, Some(agent("bob")));
    assert!(!stored.entry("bob").is_at_risk());
}

#[test]
fn a_newer_sync_that_matches_clears_it() {
    let stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        synced("y1", 5, vec![policy(PolicyStatus::Effectuated, Some("333"))]),
        synced("y2", 9, vec![policy(PolicyStatus::Effectuated, Some("111"))]),
    ]);
    assert!(!stored.entry("ana").is_at_risk());
    assert_eq!(last_synced_at(&stored.everything()), Some(t(9)));
}

#[test]
fn a_sync_record_replays_each_of_its_syncs_so_late_evidence_between_them_counts_as_between_syncs() {
    let showing_333 = || vec![policy(PolicyStatus::Effectuated, Some("333"))];
    let events = [
        submitted("s1", 0, "ana", "111"),
        synced("y1", 10, showing_333()),
        synced("y2", 20, showing_333()),
        synced("y3", 30, showing_333()),
        // Ana submits again at 15 (it arrives last): her NPN holds the AOR from 15 to the next
        // sync, which puts her entry at risk again — since 20, not since the record's last sync.
        submitted("s2", 15, "ana", "111"),
    ];
    let stored = deliver_all(&events);
    let everything = stored.everything();
    assert_eq!(everything.len(), 3, "the three syncs are one record: {everything:?}");
    let Fact::Synced { again, .. } = &everything[2].fact else { panic!("a sync record") };
    assert_eq!(again, &[t(20), t(30)]);
    assert_eq!(stored.entry("ana").risk.as_ref().map(|r| r.since), Some(t(20)));
    assert_eq!(last_synced_at(&stored.everything()), Some(t(30)));
    // Each sync of the record is known: a redelivery of any changes nothing.
    let mut again = stored.clone();
    assert!(!again.deliver(&events[2], &AgencyOf::new(), t(50_000)), "a redelivered sync is applied once");
}

#[test]
fn a_sync_record_holds_a_bounded_number_of_syncs() {
    let showing = || vec![policy(PolicyStatus::Effectuated, Some("111"))];
    let syncs: Vec<Evidence> = (0..100).map(|m| synced(&format!("y{m}"), m, showing())).collect();
    let mut events = vec![submitted("s1", 0, "ana", "111")];
    events.extend(syncs);
    let stored = deliver_all(&events);
    let everything = stored.everything();
    let records = everything.iter().filter(|e| matches!(e.fact, Fact::Synced { .. })).count();
    assert_eq!(records, 100usize.div_ceil(crate::evidence::MAX_SYNCS_IN_RECORD));
    assert_eq!(everything.iter().map(|e| e.times().count()).sum::<usize>(), 101, "every sync kept");
}

#[test]
fn evidence_older_than_what_the_entry_already_holds_changes_nothing() {
    let mut stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        synced("y1", 9, vec![policy(PolicyStatus::Effectuated, Some("333"))]),
    ]);
    let before = stored.entries.clone();
    // A sync from before the mismatch, delivered late, says the AOR was ana's: older news.
    let changed = stored.deliver(
        &synced("y0", 5, vec![policy(PolicyStatus::Effectuated, Some("111"))]),
        &AgencyOf::new(),
        t(20_000),
    );
    assert!(changed, "the evidence is new, so it is recorded");
    assert_eq!(stored.entries, before, "but it changes no entry");
}

#[test]
fn cancelled_and_terminated_policies_are_ignored() {
    let stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        synced(
            "y1",
            5,
            vec![
                policy(PolicyStatus::Effectuated, Some("111")),
                policy(PolicyStatus::Cancelled, Some("333")),
                policy(PolicyStatus::Terminated, None),
            ],
        ),
    ]);
    assert!(!stored.entry("ana").is_at_risk());
}

#[test]
fn a_failed_sync_changes_nothing() {
    let mut stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        synced("y1", 5, vec![policy(PolicyStatus::Effectuated, Some("333"))]),
    ]);
    let before = stored.entries.clone();
    let evidence = sync_evidence(EvidenceId::parse("y2").unwrap(), t(9), Err(SyncFailed));
    assert_eq!(evidence, None, "a failed sync is no evidence");
    if let Some(evidence) = evidence {
        stored.deliver(&evidence, &AgencyOf::new(), t(20_000));
    }
    assert_eq!(stored.entries, before);
    assert_eq!(last_synced_at(&stored.everything()), Some(t(5)), "last synced is the last sync that succeeded");
}

#[test]
fn a_sync_that_finds_what_the_entries_already_say_changes_no_entry_and_no_history() {
    let mut stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        submitted("s2", 1, "bob", "222"),
        synced("y1", 5, vec![policy(PolicyStatus::Effectuated, Some("222"))]),
    ]);
    let before = (stored.entries.clone(), stored.history.len());
    let again = synced("y2", 9, vec![policy(PolicyStatus::Effectuated, Some("222"))]);
    let applied =
        apply(&stored.everything(), &stored.entries, &again, &AgencyOf::new(), t(30_000)).expect("new evidence");
    assert!(applied.changes.is_empty(), "{:?}", applied.changes);
    stored.deliver(&again, &AgencyOf::new(), t(30_000));
    assert_eq!((stored.entries.clone(), stored.history.len()), before);
    assert_eq!(last_synced_at(&stored.everything()), Some(t(9)));
}

#[test]
fn an_archive_flag_changes_the_entry_but_is_no_change_of_risk() {
    let stored = deliver_all(&[submitted("s1", 0, "ana", "111"), submitted("s2", 1, "bob", "222")]);
    let archive = Evidence {
        id: EvidenceId::parse("a1").unwrap(),
        at: t(3),
        fact: Fact::ArchiveSet { agent_id: agent("ana"), archived: true },
    };
    let applied = apply(&stored.everything(), &stored.entries, &archive, &AgencyOf::new(), t(40_000)).unwrap();
    assert_eq!(applied.changes.len(), 1);
    assert!(applied.history.is_empty());
}

#[test]
fn the_same_event_twice_changes_nothing_the_second_time() {
    let mut stored = deliver_all(&[submitted("s1", 0, "ana", "111"), submitted("s2", 5, "bob", "222")]);
    let before = (stored.entries.clone(), stored.history.len());
    let applied = stored.deliver(&submitted("s2", 5, "bob", "222"), &AgencyOf::new(), t(30_000));
    assert!(!applied);
    assert_eq!((stored.entries.clone(), stored.history.len()), before);
}

#[test]
fn an_entry_stays_at_risk_since_the_start_of_its_spell() {
    let stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        synced("y1", 5, vec![policy(PolicyStatus::Effectuated, Some("333"))]),
        synced("y2", 9, vec![policy(PolicyStatus::Effectuated, Some("444"))]),
    ]);
    let risk = stored.entry("ana").risk.clone().expect("at risk");
    assert_eq!(risk.since, t(5), "the spell started with the first mismatch");
    assert_eq!(risk.other_npn, Some(npn("444")), "the details follow the newest evidence");
}

#[test]
fn a_risk_is_flagged_when_the_system_learns_of_it_not_when_it_happened() {
    let mut stored = deliver_all(&[submitted("s1", 0, "ana", "111")]);
    // Evidence from minute 5 arrives at minute 50_000.
    stored.deliver(&submitted("s2", 5, "bob", "222"), &AgencyOf::new(), t(50_000));
    let risk = stored.entry("ana").risk.clone().unwrap();
    assert_eq!(risk.since, t(5));
    assert_eq!(risk.flagged_at, t(50_000));
    // Later evidence that keeps the spell going does not flag it again.
    stored.deliver(&synced("y1", 9, vec![policy(PolicyStatus::Effectuated, Some("222"))]), &AgencyOf::new(), t(60_000));
    assert_eq!(stored.entry("ana").risk.clone().unwrap().flagged_at, t(50_000));
}

#[test]
fn late_evidence_moving_a_spells_start_to_the_same_npn_does_not_flag_it_again() {
    let mut stored = deliver_all(&[submitted("s1", 0, "ana", "111")]);
    stored.deliver(&synced("y1", 20, vec![policy(PolicyStatus::Effectuated, Some("222"))]), &AgencyOf::new(), t(1_000));
    // bob's submission from minute 10 arrives later: the same take, found earlier.
    stored.deliver(&submitted("s2", 10, "bob", "222"), &AgencyOf::new(), t(2_000));
    let risk = stored.entry("ana").risk.clone().unwrap();
    assert_eq!((risk.since, risk.flagged_at), (t(10), t(1_000)));
    // A new spell after it ended is flagged anew.
    stored.deliver(&submitted("s3", 40, "ana", "111"), &AgencyOf::new(), t(3_000));
    assert!(stored.entry("ana").risk.is_none());
    stored.deliver(&submitted("s4", 50, "carl", "444"), &AgencyOf::new(), t(4_000));
    assert_eq!(stored.entry("ana").risk.clone().unwrap().flagged_at, t(4_000));
}

#[test]
fn archiving_sets_the_flag_and_keeps_the_entry() {
    let stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        submitted("s2", 5, "bob", "222"),
        archived("a1", 7, "ana", true),
    ]);
    let entry = stored.entry("ana");
    assert!(entry.archived);
    assert!(entry.is_at_risk(), "archiving hides, it does not clear");
    let unarchived = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        archived("a1", 7, "ana", true),
        archived("a2", 8, "ana", false),
    ]);
    assert!(!unarchived.entry("ana").archived);
}

#[test]
fn a_swap_inside_the_agency_says_so() {
    let agencies: AgencyOf =
        [(agent("ana"), AgencyId::parse("north").unwrap()), (agent("bob"), AgencyId::parse("north").unwrap())].into();
    let mut stored = Stored::default();
    stored.deliver(&submitted("s1", 0, "ana", "111"), &agencies, t(100));
    stored.deliver(&submitted("s2", 5, "bob", "222"), &agencies, t(101));
    assert_eq!(stored.entry("ana").risk.clone().unwrap().other_agent_same_agency, Some(true));
}

#[test]
fn a_servicing_submission_that_arrives_first_does_not_keep_a_book_entry() {
    // bob services ana's client under ana's NPN, but his event is delivered before ana's.
    let stored = deliver_all(&[submitted("s2", 5, "bob", "111"), submitted("s1", 0, "ana", "111")]);
    assert!(stored.entries.contains_key(&agent("ana")));
    assert!(!stored.entries.contains_key(&agent("bob")));
    assert!(
        stored.history.iter().any(|h| h.agent_id == agent("bob") && h.after.is_none()),
        "the removal is in the history"
    );
}

#[test]
fn every_change_of_risk_is_in_the_history() {
    let stored = deliver_all(&[
        submitted("s1", 0, "ana", "111"),
        submitted("s2", 5, "bob", "222"),
        submitted("s3", 9, "ana", "111"),
    ]);
    let ana: Vec<_> = stored.history.iter().filter(|h| h.agent_id == agent("ana")).collect();
    let at_risk: Vec<bool> = ana.iter().map(|h| h.after.as_ref().is_some_and(BookEntry::is_at_risk)).collect();
    assert_eq!(at_risk, vec![false, true, false]);
    assert_eq!(ana[1].evidence_id, EvidenceId::parse("s2").unwrap());
}

// ---- order independence -------------------------------------------------------------------

fn arb_evidence() -> impl Strategy<Value = Evidence> {
    let agents = prop::sample::select(vec!["ana", "bob", "cy"]);
    let npns = prop::sample::select(vec!["111", "222", "333"]);
    prop_oneof![
        4 => (0..40i64, agents.clone(), npns).prop_map(|(m, a, n)| submitted(&format!("s-{m}-{a}-{n}"), m, a, n)),
        3 => arb_sync(),
        1 => (0..40i64, agents, any::<bool>()).prop_map(|(m, a, on)| archived(&format!("a-{m}-{a}-{on}"), m, a, on)),
    ]
}

/// A sync in the first 40 minutes, its id made of its time and its answer.
fn arb_sync() -> impl Strategy<Value = Evidence> {
    let npns = prop::sample::select(vec!["111", "222", "333"]);
    let status = prop::sample::select(vec![
        PolicyStatus::Pending,
        PolicyStatus::Effectuated,
        PolicyStatus::Cancelled,
        PolicyStatus::Terminated,
    ]);
    let aor = prop::option::weighted(0.85, npns);
    let policies = prop::collection::vec((status, aor), 0..3);
    (0..40i64, policies).prop_map(|(m, ps)| {
        let shape: Vec<String> = ps.iter().map(|(s, a)| format!("{}{}", *s as u8, a.unwrap_or("x"))).collect();
        let id = format!("y-{m}-{}", shape.join("_"));
        synced(&id, m, ps.into_iter().map(|(s, a)| policy(s, a)).collect())
    })
}

/// Flag times are the system's clock, which differs between orders by design; all else must not.
fn without_flag_times(mut entries: BTreeMap<AgentId, BookEntry>) -> BTreeMap<AgentId, BookEntry> {
    for entry in entries.values_mut() {
        if let Some(risk) = entry.risk.as_mut() {
            risk.flagged_at = t(0);
        }
    }
    entries
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_order_of_the_same_events_gives_the_same_final_state(
        events in prop::collection::vec(arb_evidence(), 1..12),
        shuffle_seed in any::<u64>(),
        duplicates in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let in_order = {
            let mut sorted = events.clone();
            sorted.sort_by_key(Evidence::order_key);
            deliver_all(&sorted)
        };
        let mut shuffled = events.clone();
        for index in &duplicates {
            shuffled.push(index.get(&events).clone());
        }
        // A deterministic Fisher–Yates from the seed, so a failure is reproducible.
        let mut state = shuffle_seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let any_order = deliver_all(&shuffled);
        prop_assert_eq!(without_flag_times(any_order.entries), without_flag_times(in_order.entries));
    }

    #[test]
    fn evidence_newer_than_the_log_gives_from_the_entries_alone_what_the_whole_log_gives(
        events in prop::collection::vec(arb_evidence(), 1..12),
        newest in arb_sync(),
        same_agency in any::<bool>(),
    ) {
        let stored = deliver_all(&events);
        // Later than every time of the log (arb_evidence's are below 40), with an id of its own.
        let newest = Evidence { at: newest.at + Duration::minutes(100), id: EvidenceId::parse("newest").unwrap(), ..newest };
        let last = stored.everything().iter().map(Evidence::last_at).max();
        prop_assert!(is_newest(&newest, last));
        let agencies: AgencyOf = ["ana", "bob", "cy"]
            .iter()
            .map(|a| (agent(a), AgencyId::parse(if same_agency || *a == "ana" { "north" } else { "south" }).unwrap()))
            .collect();
        let now = t(20_000);
        let whole = apply(&stored.everything(), &stored.entries, &newest, &agencies, now);
        let alone = apply_newest(&stored.entries, &newest, &agencies, now);
        prop_assert_eq!(whole, Some(alone.clone()));
        // The directory is read only when the outcome depends on it.
        if !needs_agencies(&stored.entries, &newest) {
            prop_assert_eq!(apply_newest(&stored.entries, &newest, &AgencyOf::new(), now), alone);
        }
    }
}

#[test]
fn only_a_single_sync_later_than_the_log_is_applied_to_the_entries_alone() {
    let last = Some(t(10));
    assert!(is_newest(&synced("y", 11, vec![]), last));
    assert!(!is_newest(&synced("y", 10, vec![]), last), "not later");
    assert!(!is_newest(&synced("y", 11, vec![]), None), "the log's last time not known");
    assert!(!is_newest(&submitted("s", 11, "ana", "111"), last), "a platform event may come again with its id");
    assert!(!is_newest(&archived("a", 11, "ana", true), last));
    assert!(!is_newest(&revoked("r", 11, "ana"), last));
}

#[test]
fn only_a_sync_that_contradicts_an_entry_needs_to_know_agencies() {
    let stored = deliver_all(&[submitted("s1", 1, "ana", "111"), submitted("s2", 2, "bob", "222")]).entries;
    let showing = |aor: Option<&str>| synced("y", 11, vec![policy(PolicyStatus::Effectuated, aor)]);
    let ana_holds = deliver_all(&[submitted("s1", 1, "ana", "111")]).entries;
    assert!(!needs_agencies(&ana_holds, &showing(Some("111"))), "every entry's own NPN: no verdict to judge");
    assert!(needs_agencies(&ana_holds, &showing(Some("222"))), "another NPN: was its agent of the same agency?");
    assert!(needs_agencies(&ana_holds, &showing(None)), "no AOR at all");
    assert!(needs_agencies(&stored, &showing(Some("222"))), "bob's NPN contradicts ana's entry");
    assert!(!needs_agencies(&ana_holds, &synced("y", 11, vec![])), "no policy: nothing contradicts");
    assert!(needs_agencies(&ana_holds, &submitted("s3", 12, "bob", "222")));
    assert!(needs_agencies(&ana_holds, &archived("a", 12, "ana", true)));
}

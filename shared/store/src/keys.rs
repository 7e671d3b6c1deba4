//! Every key of the single table, built in one place. `docs/table-design.md` explains each.
//!
//! Times inside sort keys use one fixed-width UTC format, so that string order is time order.

use chrono::{DateTime, SecondsFormat, Utc};

use domain::{AgencyId, AgentId, EvidenceId, FederalExchangeId, Npn, PlanYear, Scope};
use ports::DueLane;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const GSI2: &str = "gsi2";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";
/// The due list: keys that change only with an application's lane, and the few attributes the
/// scan reads (`SYNC_DUE_ATTRIBUTES`), so a sync rewrites a small entry in place.
pub const GSI3: &str = "gsi3";
pub const GSI3_PK: &str = "gsi3pk";
pub const GSI3_SK: &str = "gsi3sk";
/// What the due list's index holds beside its keys (the template's `NonKeyAttributes`).
/// (The application is read from the table's key, which every index holds.)
pub const SYNC_DUE_ATTRIBUTES: [&str; 3] = ["version", "unknown_count", LAST_SYNCED_MICROS];
/// The last sync as a number, which the due list's filter compares.
pub const LAST_SYNCED_MICROS: &str = "last_synced_micros";

/// A time as it appears inside keys: RFC 3339, UTC, microseconds, always the same width.
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

// ---- agencies and agents ------------------------------------------------------------------

pub fn agency_pk(agency: &AgencyId) -> String {
    format!("AGENCY#{agency}")
}
pub const AGENCY_SK: &str = "AGENCY";
pub fn agency_child_sk(child: &AgencyId) -> String {
    format!("CHILD#{child}")
}
pub const AGENCY_CHILD_PREFIX: &str = "CHILD#";
pub fn agency_member_sk(agent: &AgentId) -> String {
    format!("AGENT#{agent}")
}
pub const AGENCY_MEMBER_PREFIX: &str = "AGENT#";

/// The tree's shape: one version every change of a parent link moves (a new agency, a move), so
/// two such changes racing cannot both be checked against a tree the other changed.
pub const TREE_PK: &str = "DIRECTORY";
pub const TREE_SK: &str = "TREE";

pub fn agent_pk(agent: &AgentId) -> String {
    format!("AGENT#{agent}")
}
pub const AGENT_SK: &str = "AGENT";
/// An agent's (`AGENT#…`) or an agency's (`AGENCY#…`) alert counters for a plan year, summed
/// over the items whose sort key begins with this. An agent's are one item; an agency's are one
/// per application shard (`STATS#2026#07`), each placement moving the one its application falls
/// in: every placement in a tree moves its agencies' counters, and on one item they would take
/// turns (DynamoDB cancels a transaction that meets another one in flight on any of its items).
pub fn stats_prefix(year: PlanYear) -> String {
    format!("STATS#{year}")
}
/// An agency's counter items filed under its parent (GSI1): an admin's home finds every direct
/// sub-agency's counters in one query. `gsi1sk` begins with the plan year, then the child.
pub fn child_stats_gsi1pk(parent: &AgencyId) -> String {
    format!("CHILDSTATS#{parent}")
}
pub fn child_stats_gsi1sk(year: PlanYear, child: &AgencyId) -> String {
    format!("{}{child}", child_stats_year_prefix(year))
}
pub fn child_stats_year_prefix(year: PlanYear) -> String {
    format!("{year}#")
}
/// The plan year of a counter item, from its sort key (`STATS#2026…`).
pub fn stats_year(sk: &str) -> Option<PlanYear> {
    sk.strip_prefix("STATS#")?.get(..4)?.parse::<u16>().ok().and_then(|year| PlanYear::parse(year).ok())
}
/// The counter items of list owner `counters_pk` for a plan year: all of them (a visit sets them all).
pub fn stats_sks(counters_pk: &str, year: PlanYear) -> Vec<String> {
    if counters_pk.starts_with("AGENCY#") {
        (0..APPLICATION_SHARDS).map(|shard| format!("STATS#{year}#{shard:02}")).collect()
    } else {
        vec![stats_prefix(year)]
    }
}
/// The counter item of list owner `counters_pk` that application `app`'s placements move.
pub fn stats_sk(counters_pk: &str, year: PlanYear, app: &FederalExchangeId) -> String {
    if counters_pk.starts_with("AGENCY#") {
        format!("STATS#{year}#{:02}", application_shard(app))
    } else {
        stats_prefix(year)
    }
}

// ---- applications: meta, evidence log, book entries, history ---------------------------------

pub fn application_pk(year: PlanYear, id: &FederalExchangeId) -> String {
    format!("APP#{year}#{id}")
}
/// The application a partition key of `application_pk` names.
pub fn application_of(pk: &str) -> Option<domain::ApplicationKey> {
    let (year, id) = pk.strip_prefix("APP#")?.split_once('#')?;
    let year = PlanYear::parse(year.parse().ok()?).ok()?;
    Some(domain::ApplicationKey { id: FederalExchangeId::parse(id).ok()?, year })
}
/// `ENTRY#…` < `EVIDENCE#…` < `META` < `PLACED#…` < `TRAIL#…`: one range reads entries,
/// evidence and meta, and never the placements or the history, which only grows.
pub const META_SK: &str = "META";
pub const ENTRY_PREFIX: &str = "ENTRY#";
pub fn entry_sk(agent: &AgentId) -> String {
    format!("ENTRY#{agent}")
}
pub const EVIDENCE_PREFIX: &str = "EVIDENCE#";
pub fn evidence_sk(at: DateTime<Utc>, id: &EvidenceId) -> String {
    format!("EVIDENCE#{}#{id}", time(at))
}
/// Where an entry's rows are (`store::placement`).
pub const PLACED_PREFIX: &str = "PLACED#";
pub fn placed_sk(agent: &AgentId) -> String {
    format!("PLACED#{agent}")
}
/// The history records of one piece of evidence: every entry it changed, in one item.
pub fn trail_sk(at: DateTime<Utc>, evidence: &EvidenceId) -> String {
    format!("TRAIL#{}#{evidence}", time(at))
}
pub const TRAIL_PREFIX: &str = "TRAIL#";
/// History items holding a change of at-risk state not yet published and counted (GSI1,
/// sparse), oldest first: the outbox the relay empties, in one part per application shard, each
/// emptied by a worker of its own (one application's changes stay in one part, in order).
pub fn outbox_gsi1pk(shard: u32) -> String {
    format!("OUTBOX#{shard:02}")
}
/// The part of the outbox the history items of the application in partition `trail_pk` go in.
pub fn outbox_of(trail_pk: &str) -> Option<String> {
    application_of(trail_pk).map(|app| outbox_gsi1pk(application_shard(&app.id)))
}
/// Where a history item waits, out of the outbox, while its owner's agent or an agency on their
/// path is not known yet; its waiter (below) brings it back.
pub const WAITING_GSI1PK: &str = "WAITING";
/// A history item waiting for this directory item (`AGENT#…` or `AGENCY#…` partition).
pub fn waiter_sk(trail_pk: &str, trail_sk: &str) -> String {
    format!("{WAITER_PREFIX}{trail_pk}#{trail_sk}")
}
pub const WAITER_PREFIX: &str = "WAITER#";
pub fn outbox_gsi1sk(trail_pk: &str, trail_sk: &str) -> String {
    // The trail's sort key starts with its time: oldest first.
    format!("{trail_sk}#{trail_pk}")
}
/// An agency's swap patterns of a plan year: how many entries were taken from its tree, inside
/// it or from outside, week by week; and the same per NPN that took them. Each is spread over
/// the application shards (the relay's workers count takes of different shards at once), summed
/// on read.
pub fn swaps_sk(year: PlanYear, app: &FederalExchangeId) -> String {
    format!("{}#{:02}", swaps_prefix(year), application_shard(app))
}
pub fn swaps_prefix(year: PlanYear) -> String {
    format!("SWAPS#{year}")
}
pub fn swap_npn_sk(year: PlanYear, npn: &Npn, app: &FederalExchangeId) -> String {
    format!("SWAPNPN#{year}#{npn}#{:02}", application_shard(app))
}
pub fn swap_npn_prefix(year: PlanYear) -> String {
    format!("SWAPNPN#{year}#")
}

/// An agency's own agents' takes of a plan year (their conduct): per agent, how many entries
/// they took from inside the tree and from outside, week by week; spread over the application
/// shards as the swap patterns are, summed on read.
pub fn conduct_sk(year: PlanYear, agent: &AgentId, app: &FederalExchangeId) -> String {
    format!("{}{:02}", conduct_agent_prefix(year, agent), application_shard(app))
}
pub fn conduct_prefix(year: PlanYear) -> String {
    format!("CONDUCT#{year}#")
}
/// One agent's shards (an agent id holds no `#`).
pub fn conduct_agent_prefix(year: PlanYear, agent: &AgentId) -> String {
    format!("{}{agent}#", conduct_prefix(year))
}
/// An agent's own takes of a plan year, per week, wherever they were in the tree: what a spike is
/// judged on (their history follows them across moves). One item per application shard.
pub fn agent_takes_sk(year: PlanYear, app: &FederalExchangeId) -> String {
    format!("{}{:02}", agent_takes_prefix(year), application_shard(app))
}
pub fn agent_takes_prefix(year: PlanYear) -> String {
    format!("TAKES#{year}#")
}
/// A spike of an agent's takes, in every agency on their path: once per agent and week.
pub fn spike_sk(year: PlanYear, week: &str, agent: &AgentId) -> String {
    format!("{}{week}#{agent}", spike_prefix(year))
}
pub fn spike_prefix(year: PlanYear) -> String {
    format!("SPIKE#{year}#")
}

/// An event to publish that no history item holds (`ports::Notice`), until the relay has.
pub fn notice_pk(notice_id: &str) -> String {
    format!("NOTICE#{notice_id}")
}
pub const NOTICE_SK: &str = "NOTICE";
/// Every notice not yet published (GSI1), oldest first.
pub const NOTICES_GSI1PK: &str = "NOTICES";

/// A dispute case.
pub fn dispute_pk(dispute_id: &str) -> String {
    format!("DISPUTE#{dispute_id}")
}
pub const DISPUTE_SK: &str = "DISPUTE";
/// An owner's cases (GSI1), and those of a top agency's tree (GSI2), by when they were opened.
pub fn agent_disputes_gsi1pk(agent: &AgentId) -> String {
    format!("DISPUTES#AGENT#{agent}")
}
pub fn tree_disputes_gsi2pk(top: &AgencyId) -> String {
    format!("DISPUTES#TOP#{top}")
}
pub fn disputes_gsi_sk(opened_at: DateTime<Utc>, dispute_id: &str) -> String {
    format!("{}#{dispute_id}", time(opened_at))
}
/// An entry's one open case, in its plan year's partition: the guard against a second, and what
/// the end of the year lapses.
pub fn open_dispute_pk(year: PlanYear) -> String {
    format!("DISPUTES-OPEN#{year}")
}
pub fn open_dispute_sk(app: &FederalExchangeId, agent: &AgentId) -> String {
    format!("{app}#{agent}")
}

/// An agent's whole book, all plan years (GSI1).
pub fn book_gsi1pk(agent: &AgentId) -> String {
    format!("BOOK#{agent}")
}
pub fn book_gsi1sk(year: PlanYear, id: &FederalExchangeId) -> String {
    format!("{year}#{id}")
}

/// Applications due for a marketplace re-sync (GSI3), lane by lane. Spread over shards so that
/// millions of applications do not share one hot partition.
pub fn sync_due_pk(year: PlanYear, shard: u32) -> String {
    format!("SYNCDUE#{year}#{shard:02}")
}
/// A lane's digit, first in its keys: the order the scan takes the lanes.
fn lane_digit(lane: DueLane) -> char {
    match lane {
        DueLane::New => '0',
        DueLane::AtRisk => '1',
        DueLane::Stale => '2',
        DueLane::Unknown => '3',
    }
}

/// `{lane}#{id}`: `at` is the last sync (or, in the unknown lane, when to ask again); without
/// one an application is never-synced, `0#{id}`. One at risk is `1#{id}`, the rest `2#{id}` — a
/// key no sync changes, so a sync rewrites its entry in place instead of moving it. One the
/// marketplace did not know is `3#{time}#{id}`, by when to ask it again.
pub fn sync_due_sk(lane: DueLane, at: Option<DateTime<Utc>>, id: &FederalExchangeId) -> String {
    match (lane, at) {
        (DueLane::New, _) | (_, None) => format!("{}#{id}", lane_digit(DueLane::New)),
        (DueLane::Unknown, Some(at)) => format!("{}#{}#{id}", lane_digit(lane), time(at)),
        (lane, Some(_)) => format!("{}#{id}", lane_digit(lane)),
    }
}
/// The sort-key bounds (inclusive) of a lane: all of it, or for the unknown lane the
/// applications to be asked again by `upto`.
pub fn sync_due_range(lane: DueLane, upto: DateTime<Utc>) -> (String, String) {
    let digit = lane_digit(lane);
    match lane {
        // `$` follows `#`: every `1#…` key is below `1$`.
        DueLane::Unknown => (format!("{digit}#"), format!("{digit}#{}", time(upto))),
        _ => (format!("{digit}#"), format!("{digit}$")),
    }
}
/// Whether `position` is a key of `lane` as this release writes them (`sync_due_sk`): those of
/// the at-risk and stale lanes of releases before 2026-12-08 held the last sync.
pub fn sync_due_position_is_current(lane: DueLane, position: &str) -> bool {
    !sync_due_by_last_sync(lane) || position.matches('#').count() == 1
}
/// Whether a lane is filtered by the last sync (the pass's cut-off): the others are due as keyed.
pub fn sync_due_by_last_sync(lane: DueLane) -> bool {
    matches!(lane, DueLane::AtRisk | DueLane::Stale)
}
/// Applications are spread over this many shards wherever many of them would otherwise meet on
/// one item: the sync-due index, an agency's counters and swap patterns, the relay's workers.
pub const APPLICATION_SHARDS: u32 = 16;
/// The shard of an application: the same wherever shards are used, so one application's writes
/// stay in one shard and in order.
pub fn application_shard(id: &FederalExchangeId) -> u32 {
    // FNV-1a: stable across processes and releases, unlike std's hasher.
    let hash = id.as_str().bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    hash % APPLICATION_SHARDS
}

// ---- exports ---------------------------------------------------------------------------------

pub fn export_pk(export_id: &str) -> String {
    format!("EXPORT#{export_id}")
}
pub const EXPORT_SK: &str = "EXPORT";
/// Exports not finished yet, oldest first (GSI2, sparse): what the exports sweep walks.
pub const OPEN_EXPORTS_GSI2PK: &str = "EXPORTS-OPEN";
/// Finished exports whose requester is not told yet (same sort key).
pub const UNTOLD_EXPORTS_GSI2PK: &str = "EXPORTS-UNTOLD";
pub fn open_export_gsi2sk(created_at: DateTime<Utc>, export_id: &str) -> String {
    format!("{}#{export_id}", time(created_at))
}
/// A requester's exports, newest first (GSI1).
pub fn requester_gsi1pk(sub: &str) -> String {
    format!("REQUESTER#{sub}")
}
pub fn requester_gsi1sk(created_at: DateTime<Utc>, export_id: &str) -> String {
    format!("{}#{export_id}", time(created_at))
}
pub fn idempotency_pk(sub: &str, key: &str) -> String {
    format!("IDEMPOTENCY#{sub}#{key}")
}
pub const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";

/// Agencies and agents whose move (or arrival) is not all re-placed yet (GSI1, sparse).
pub const MOVING_GSI1PK: &str = "MOVING";
pub fn moving_gsi1sk(item_pk: &str) -> String {
    item_pk.to_owned()
}

/// Applications whose latest write is not placed yet (GSI1, sparse), by when it was written: what
/// a writer that died between its write and its placement left for the sweep.
pub const UNPLACED_GSI1PK: &str = "UNPLACED";

/// A person's on-demand sync slots (`sub` is the token's subject).
pub fn sync_slots_pk(who: &str) -> String {
    format!("SYNCSLOTS#{who}")
}
pub fn sync_slot_sk(number: u32) -> String {
    format!("SLOT#{number}")
}

/// A block of turns at the marketplace's rate, by when its first starts (microseconds since the
/// epoch): a partition of its own, so the blocks spread over the table instead of heating one item.
pub fn rate_slot_pk(start_micros: i64) -> String {
    // Not `RATE#`, the per-turn items of releases before 2026-12-07: a block's key must not
    // alias a turn's, which it would not see.
    format!("RATES#{start_micros}")
}
pub const RATE_SLOT_SK: &str = "RATE";

/// Where the scheduled scan of a plan year stopped.
pub fn scan_checkpoint_pk(year: PlanYear) -> String {
    format!("SCAN#{year}")
}
pub const SCAN_CHECKPOINT_SK: &str = "CHECKPOINT";

// ---- at-risk rows: the lists people read ---------------------------------------------------

pub const RISK_AGENCY_PREFIX: &str = "RISK#AGENCY#";
/// Whose counters a list's rows count in: the list's owner, whose item's partition key is the
/// list's without `RISK#` (`RISK#AGENT#ana` → `AGENT#ana`, `RISK#AGENCY#north` → `AGENCY#north`).
pub fn counters_pk_of_list(list_pk: &str) -> &str {
    list_pk.strip_prefix("RISK#").unwrap_or(list_pk)
}
/// The partition of a scope's own item, where its counters are kept.
pub fn counters_pk(scope: &Scope) -> String {
    match scope {
        Scope::Agent(agent) => agent_pk(agent),
        Scope::Agency(agency) => agency_pk(agency),
    }
}
pub fn risk_pk(scope: &Scope) -> String {
    format!("RISK#{}", counters_pk(scope))
}
/// Plan year first, so one scope's list of one year is a `begins_with`; then when the entry entered
/// the list (`listed_at`: when this system flagged it), so that reading backwards gives the newest
/// first — what the alert counts as new is on top, and a late event flagging an old swap too.
pub fn risk_sk(year: PlanYear, listed_at: DateTime<Utc>, agent: &AgentId, id: &FederalExchangeId) -> String {
    format!("{year}#{}#{agent}#{id}", time(listed_at))
}
pub fn risk_year_prefix(year: PlanYear) -> String {
    format!("{year}#")
}
/// The same rows split by archived state (GSI1, the same sort key), so both filters read only
/// what they return, and a digest finds what was listed in a window among the active rows.
pub fn risk_by_archived_gsi1pk(scope: &Scope, archived: bool) -> String {
    format!("{}#{}", risk_pk(scope), if archived { "ARCHIVED" } else { "ACTIVE" })
}

// ---- a person's settings and daily digest ---------------------------------------------------

/// A person's own settings, in their agent partition.
pub const PERSON_SETTINGS_SK: &str = "SETTINGS";
/// Everyone who asked for the daily digest (GSI1, sparse), by agent id: what a digest run walks.
pub const DIGEST_GSI1PK: &str = "DIGEST";
/// One person's digest of one day (`2026-11-27`): the claim that makes it one.
pub fn digest_day_sk(day: chrono::NaiveDate) -> String {
    format!("DIGEST#{day}")
}
/// How far the digest run of a day has got.
pub fn digest_run_pk(day: chrono::NaiveDate) -> String {
    format!("DIGESTRUN#{day}")
}
pub const DIGEST_RUN_SK: &str = "RUN";
/// A person whose digest of the day is to be tried again once the day's walk is done.
pub fn digest_retry_sk(agent: &AgentId) -> String {
    format!("RETRY#{agent}")
}
pub const DIGEST_RETRY_PREFIX: &str = "RETRY#";

// ---- reading keys back --------------------------------------------------------------------

/// What an item is, by its key alone: for tools that read the table whole (the checker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKind {
    /// A row of an at-risk list.
    RiskRow,
    ApplicationEntry,
    ApplicationMeta,
    /// Evidence kept as an item of its own.
    Evidence,
    /// A history item (the outbox's unit).
    Trail,
    Agency,
    Agent,
    /// A history item waiting for the directory item of this partition.
    Waiter,
    /// One shard of an agency's swap totals of a plan year.
    SwapTotals {
        agency: AgencyId,
        year: u16,
    },
    /// One shard of an agency's swap counts by taking NPN of a plan year.
    SwapsByNpn {
        agency: AgencyId,
        year: u16,
    },
    /// One shard of one agent's takes in an agency's conduct of a plan year.
    Conduct {
        agency: AgencyId,
        year: u16,
    },
    /// One shard of an agent's own takes per week of a plan year.
    AgentTakes {
        agent: AgentId,
        year: u16,
    },
    /// One of a list's counter items of a plan year.
    Stats {
        year: u16,
    },
    Other,
}

pub fn item_kind(pk: &str, sk: &str) -> ItemKind {
    let year_after = |rest: &str| -> Option<u16> { rest.split('#').next().and_then(|year| year.parse().ok()) };
    if pk.starts_with("RISK#") {
        ItemKind::RiskRow
    } else if pk.starts_with("APP#") && sk.starts_with(ENTRY_PREFIX) {
        ItemKind::ApplicationEntry
    } else if pk.starts_with("APP#") && sk == META_SK {
        ItemKind::ApplicationMeta
    } else if pk.starts_with("APP#") && sk.starts_with(EVIDENCE_PREFIX) {
        ItemKind::Evidence
    } else if pk.starts_with("APP#") && sk.starts_with(TRAIL_PREFIX) {
        ItemKind::Trail
    } else if sk.starts_with(WAITER_PREFIX) {
        ItemKind::Waiter
    } else if let Some(agency) = agency_of_pk(pk) {
        if sk == AGENCY_SK {
            return ItemKind::Agency;
        }
        let swaps = |prefix: &str| sk.strip_prefix(prefix).and_then(year_after);
        if let Some(year) = swaps("CONDUCT#") {
            return ItemKind::Conduct { agency, year };
        }
        match (swaps("SWAPS#"), swaps("SWAPNPN#"), sk.strip_prefix("STATS#").and_then(year_after)) {
            (Some(year), _, _) => ItemKind::SwapTotals { agency, year },
            (_, Some(year), _) => ItemKind::SwapsByNpn { agency, year },
            (_, _, Some(year)) => ItemKind::Stats { year },
            _ => ItemKind::Other,
        }
    } else if let Some(agent) = agent_of_pk(pk) {
        if let Some(year) = sk.strip_prefix("TAKES#").and_then(year_after) {
            return ItemKind::AgentTakes { agent, year };
        }
        match sk.strip_prefix("STATS#").and_then(year_after) {
            _ if sk == AGENT_SK => ItemKind::Agent,
            Some(year) => ItemKind::Stats { year },
            None => ItemKind::Other,
        }
    } else {
        ItemKind::Other
    }
}

/// The agency whose partition `pk` is.
pub fn agency_of_pk(pk: &str) -> Option<AgencyId> {
    pk.strip_prefix("AGENCY#").and_then(|id| AgencyId::parse(id).ok())
}

/// The agent whose partition `pk` is.
pub fn agent_of_pk(pk: &str) -> Option<AgentId> {
    pk.strip_prefix("AGENT#").and_then(|id| AgentId::parse(id).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_sync_leaves_a_due_key_as_it_was_and_only_the_lane_or_a_time_to_ask_again_moves_it() {
        let synced = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let later = synced + chrono::Duration::days(7);
        let id = FederalExchangeId::parse("0042").unwrap();
        for lane in [DueLane::AtRisk, DueLane::Stale] {
            assert_eq!(sync_due_sk(lane, Some(synced), &id), sync_due_sk(lane, Some(later), &id));
        }
        assert_ne!(sync_due_sk(DueLane::AtRisk, Some(synced), &id), sync_due_sk(DueLane::Stale, Some(synced), &id));
        assert_ne!(sync_due_sk(DueLane::Unknown, Some(synced), &id), sync_due_sk(DueLane::Unknown, Some(later), &id));
        assert!(sync_due_by_last_sync(DueLane::AtRisk) && sync_due_by_last_sync(DueLane::Stale));
        assert!(sync_due_position_is_current(DueLane::Stale, &sync_due_sk(DueLane::Stale, Some(synced), &id)));
        assert!(!sync_due_position_is_current(DueLane::Stale, &format!("2#{}#{id}", time(synced))), "an earlier key");
        let unknown = sync_due_sk(DueLane::Unknown, Some(synced), &id);
        assert!(sync_due_position_is_current(DueLane::Unknown, &unknown));
        assert!(!sync_due_by_last_sync(DueLane::New) && !sync_due_by_last_sync(DueLane::Unknown));
    }

    #[test]
    fn key_times_sort_as_times() {
        let earlier = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let later = earlier + chrono::Duration::microseconds(1);
        assert!(time(earlier) < time(later));
        assert_eq!(time(earlier).len(), time(later).len());
        assert_eq!(time(earlier), "2026-01-02T03:04:05.000000Z");
    }

    #[test]
    fn the_application_range_reads_entries_evidence_and_meta_but_not_the_trail() {
        assert!(ENTRY_PREFIX < EVIDENCE_PREFIX);
        assert!(EVIDENCE_PREFIX < META_SK);
        assert!(META_SK < PLACED_PREFIX);
        assert!(PLACED_PREFIX < TRAIL_PREFIX);
    }

    #[test]
    fn each_lanes_range_holds_its_due_keys_and_nothing_of_another_lane() {
        let id = FederalExchangeId::parse("42").unwrap();
        let synced = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let later = synced + chrono::Duration::days(1);
        let within = |key: &str, (low, high): (String, String)| low.as_str() <= key && key <= high.as_str();
        let new = sync_due_sk(DueLane::New, None, &id);
        assert!(within(&new, sync_due_range(DueLane::New, synced)));
        for lane in [DueLane::AtRisk, DueLane::Stale, DueLane::Unknown] {
            let key = sync_due_sk(lane, Some(synced), &id);
            assert!(within(&key, sync_due_range(lane, later)), "{lane:?} due after its time");
            // The unknown lane is read up to the time to ask again; the others whole (the
            // last sync is filtered, not keyed).
            let before = within(&key, sync_due_range(lane, synced - chrono::Duration::seconds(1)));
            assert_eq!(before, lane != DueLane::Unknown, "{lane:?} before its time");
            for other in
                [DueLane::New, DueLane::AtRisk, DueLane::Stale, DueLane::Unknown].into_iter().filter(|o| *o != lane)
            {
                assert!(!within(&key, sync_due_range(other, later)), "{lane:?} is not in {other:?}");
            }
        }
        assert_eq!(sync_due_sk(DueLane::Stale, None, &id), new, "never synced is new, whatever else");
    }

    #[test]
    fn an_application_key_is_read_back_from_its_partition_key() {
        let app = domain::ApplicationKey {
            id: FederalExchangeId::parse("0012345").unwrap(),
            year: PlanYear::parse(2026).unwrap(),
        };
        assert_eq!(application_of(&application_pk(app.year, &app.id)), Some(app));
        assert_eq!(application_of("AGENT#ana"), None);
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        let id = FederalExchangeId::parse("0012345").unwrap();
        assert_eq!(application_shard(&id), application_shard(&id.clone()));
        assert!(application_shard(&id) < APPLICATION_SHARDS);
    }
}

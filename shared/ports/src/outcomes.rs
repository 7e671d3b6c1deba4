//! What the ports answer besides domain values: how a write went, and the records of the scan and
//! the slots. Plain data: no key or item.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use domain::{AgencyId, AgentId, ApplicationKey, BookEntry, Evidence, ExportJob, HistoryRecord};

/// An application as stored.
#[derive(Debug, Clone, Default)]
pub struct StoredApplication {
    pub version: u64,
    /// When the application was last synced with the marketplace (`None`: never).
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Every piece of evidence, the current sync record included.
    pub log: Vec<Evidence>,
    /// The current sync record (see `domain::record_evidence`), kept in the application's item.
    pub sync_record: Option<Evidence>,
    pub entries: BTreeMap<AgentId, BookEntry>,
    /// Whether a write's outcome is still to be placed in the lists (its writer died or failed
    /// before placing it): the meta item's unplaced mark.
    pub unplaced: bool,
    /// The newest time of any evidence applied, where known (`domain::is_newest`).
    pub log_last_at: Option<DateTime<Utc>>,
}

/// A window of an application's timeline, newest first (`ApplicationReads::timeline_window`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineWindow {
    /// The evidence kept as items of their own, in the window, and the records asked for.
    pub log: Vec<Evidence>,
    /// The history items in the window.
    pub history: Vec<HistoryRecord>,
    /// What was not read holds nothing later than this (`None`: the window holds everything
    /// up to its end).
    pub complete_after: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// This evidence was applied before: nothing was written.
    AlreadyApplied,
    /// Applied; one history record per entry that changed.
    Applied(Vec<HistoryRecord>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Written,
    /// Nothing the item holds changed: only the time of the newest event was recorded.
    Unchanged,
    /// Written, but its job ran out of time: its position is saved, and applying the same event
    /// again goes on from there.
    Paused,
    /// The stored item is from a newer event: this one changes nothing.
    Stale,
}

/// What a builder's claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This builder has it, as attempt `attempt`; the job's `upload_id`, if any, is an upload a
    /// builder before it left behind.
    Claimed {
        job: Box<ExportJob>,
        attempt: u32,
    },
    /// Another builder holds a live lease on it.
    Busy,
    /// Already finished (succeeded or failed).
    Finished(Box<ExportJob>),
    Missing,
}

/// A slot taken: give it back with `release_sync_slot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSlot {
    pub who: String,
    pub number: u32,
    /// Whose hold it is: a later holder of the same slot is not released by this one.
    pub token: String,
}

/// One application due for a sync, with its place in the due list and what the scan needs to
/// record that the marketplace did not know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub application: ApplicationKey,
    /// The lane it was found in.
    pub lane: DueLane,
    pub position: String,
    /// The application's version as the index showed it.
    pub version: u64,
    pub unknown_count: u32,
    /// When it was last synced, as the due list has it (`None`: never).
    pub last_synced_at: Option<DateTime<Utc>>,
}

/// One page of a lane of the due list: the applications due in it, and where the next page
/// starts (`None`: the lane's shard is read to its end). A page may hold none that are due and
/// still not be the end: the due list is walked in a fixed order and filtered by the last sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DuePage {
    pub due: Vec<Due>,
    pub next: Option<String>,
}

/// Where the scan is: the pass under way (if any), the lane and shard it is in, and the sync-due
/// key of the last application it took up there; the last pass that ended, and how many have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCheckpoint {
    #[serde(default)]
    pub pass: Option<Pass>,
    /// The last pass that ended: every application it did not fail was then synced after its
    /// cut-off, which bounds the oldest sync (`sync_trigger::scan::lag`); and when the next starts.
    #[serde(default)]
    pub last_pass: Option<Pass>,
    #[serde(default = "first_lane")]
    pub lane: DueLane,
    /// Whether this is the lane's second walk in the pass (`sync_trigger::scan`'s lanes).
    #[serde(default)]
    pub again: bool,
    pub shard: u32,
    /// Where the walk of the shard is: the key of the last application taken up, or of the last
    /// entry a page read, due or not.
    pub position: Option<String>,
    #[serde(default)]
    pub passes_completed: u64,
}

/// One pass over the due list: its cut-off is fixed when it starts, so the pass ends — what was
/// synced during it moves past the cut-off, and nothing new can keep it going.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    pub started_at: DateTime<Utc>,
    /// Applications last synced before this are due in this pass.
    pub cutoff: DateTime<Utc>,
    /// The oldest last sync of the applications whose sync failed in this pass (they stay due).
    #[serde(default)]
    pub oldest_failed: Option<DateTime<Utc>>,
}

/// The lane a pass starts in: the never-synced lane is taken at the start of every run instead.
fn first_lane() -> DueLane {
    DueLane::AtRisk
}

impl Default for ScanCheckpoint {
    fn default() -> Self {
        Self {
            pass: None,
            last_pass: None,
            lane: first_lane(),
            again: false,
            shard: 0,
            position: None,
            passes_completed: 0,
        }
    }
}

/// The lanes of the due list, in the order the scan takes them: never-synced applications (as
/// soon as possible), those with an entry at risk, the rest by their last sync, and those the
/// marketplace did not know, by when to ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueLane {
    New,
    AtRisk,
    Stale,
    Unknown,
}

/// What one repair of writes left unplaced did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Repair {
    /// Applications placed.
    pub placed: u32,
    /// Applications whose placement failed: each is set aside and tried again later.
    pub failed: u32,
}

/// How a person's day was claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayClaim {
    /// This run holds it (the lease's end, as written); it must finish or release it.
    Mine(i64),
    /// Done: sent, nothing was new, or given up.
    Done,
    /// Another run holds it now: try again once its lease has lapsed.
    Held,
}

/// How a digest ended, for `finish_digest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestOutcome {
    Sent,
    NothingNew,
}

/// What was flagged in a list after a time: how many, and the newest few as the list shows them
/// (with their owner and agency as the directory names them now).
#[derive(Debug, Clone, Default)]
pub struct Flagged {
    pub count: usize,
    pub newest: Vec<domain::RiskEntry>,
}

/// Where a day's digest run got to (`DIGESTRUN#{day}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRun {
    /// The last subscriber (agent id) done.
    pub position: Option<String>,
    pub done: bool,
}

/// One agency's counts a take went into: its swap patterns (the owner is in its tree; `in_agency`:
/// so is the taker), or with `by_taker` its conduct (the taker is in its tree; `in_agency`: so is
/// the owner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountedTake {
    pub agency_id: AgencyId,
    pub in_agency: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_taker: bool,
}

/// A week in which an agent's takes spiked, as the relay found it: ids and NPNs only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TakerSpike {
    pub plan_year: domain::PlanYear,
    pub agent_id: AgentId,
    pub npn: domain::Npn,
    /// The agent's agency and every agency above it, top first, when it was found.
    pub agency_path: Vec<AgencyId>,
    /// ISO week, `2026-W07`.
    pub week: String,
    pub takes: i64,
    pub median_before: f64,
    pub recorded_at: DateTime<Utc>,
}

/// An event this system publishes that no history item holds (a spike, a dispute opened or
/// closed): written in the same transaction as what it tells of, published by the relay at least
/// once, then taken away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub notice_id: String,
    pub detail_type: String,
    /// The event's `detail`, as JSON.
    pub detail: String,
    pub at: DateTime<Utc>,
}

impl TakerSpike {
    /// The same for one agent's week however often it is found or published.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.plan_year, self.week, self.agent_id)
    }
}

/// One history item in the outbox: the changes of at-risk state one write made to an application,
/// still to publish and count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Where the store keeps it: opaque, handed back as it is.
    pub id: String,
    pub application: ApplicationKey,
    pub records: Vec<HistoryRecord>,
    /// The records whose take is counted already, by index.
    pub counted: std::collections::BTreeSet<usize>,
}

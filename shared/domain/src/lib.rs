//! The domain: values, evidence and the at-risk rules. Pure: no I/O, no clock, no AWS.

pub mod changes;
pub mod conduct;
pub mod digest;
pub mod directory;
pub mod disputes;
pub mod evidence;
pub mod exports;
pub mod lists;
pub mod plan_years;
pub mod rules;
pub mod story;
pub mod values;

pub use changes::{ChangeKind, Take, at_risk_change, change_id, iso_week, take};
pub use conduct::{AgentConduct, Conduct, Spike, SpikeRule};
pub use digest::{DIGEST_ENTRIES, DigestScope, DigestSettings, SettingsChange, digest_day};
pub use directory::{
    Agency, AgencyUpsert, Agent, AgentUpsert, DirectoryEntry, EntryOwner, EventOrder, MAX_AGENCY_DEPTH, TreeRefusal,
    admin_reaches,
};
pub use disputes::{Channel, Dispute, DisputeChange, DisputeRefusal, DisputeStatus, Opening};
pub use evidence::{Evidence, Fact, Policy, PolicyStatus, SyncFailed, record_evidence, sync_evidence};
pub use exports::{ExportJob, ExportScope, ExportStatus, Succeeded, may_export};
pub use lists::{ArchivedFilter, ListCounts, ListPage, RiskEntry, Scope, SwapPatterns, Taker};
pub use plan_years::{EnrollmentCalendar, MonthDay, PlanYears};
pub use rules::{
    AgencyOf, AlertCounts, Applied, BookEntry, HistoryRecord, Reason, Risk, alert_counts, apply, apply_newest,
    flagged_since, is_newest, last_synced_at, needs_agencies, project,
};
pub use story::{
    FRAUD_HELP_DESK, Happening, HelpDeskReport, Moment, TimelinePage, help_desk_report, moments, page_of, timeline,
};
pub use values::{
    AgencyId, AgentId, ApplicationKey, Email, EvidenceId, ExportId, FederalExchangeId, InvalidValue, Name, Npn,
    PlanYear, Role,
};

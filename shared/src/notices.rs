//! The events this system publishes that no history item holds (`docs/events.md` is their
//! contract): `AOR Taker Spike`, `AOR Dispute Opened` and `AOR Dispute Closed`, source
//! `aor-at-risk`, each as the `ports::Notice` written with what it tells of. Ids, NPNs, channels
//! and times; never a client's name, a case's notes or anyone's email.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{AgencyId, Dispute};
use crate::ports::{Notice, TakerSpike};

/// Every event's `source`.
pub const SOURCE: &str = "aor-at-risk";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpikeDetail {
    /// The same however often it is published.
    pub spike_id: String,
    pub plan_year: u16,
    pub agent_id: String,
    pub npn: String,
    /// The agent's agency and every agency above it, top first, when the spike was found.
    pub agency_path: Vec<String>,
    pub week: String,
    pub takes: i64,
    pub median_before: f64,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisputeDetail {
    pub dispute_id: String,
    pub plan_year: u16,
    pub federal_exchange_id: String,
    /// The entry's owner and the NPN they submitted with.
    pub agent_id: String,
    pub agent_npn: String,
    /// The owner's agency and every agency above it, top first, when the case was written.
    pub agency_path: Vec<String>,
    /// What was disputed: why the entry was at risk, and the NPN it was at risk to.
    pub reason: &'static str,
    pub other_npn: Option<String>,
    pub channels: Vec<&'static str>,
    pub status: &'static str,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

pub fn taker_spike(spike: &TakerSpike) -> Notice {
    let detail = SpikeDetail {
        spike_id: spike.id(),
        plan_year: spike.plan_year.get(),
        agent_id: spike.agent_id.to_string(),
        npn: spike.npn.to_string(),
        agency_path: spike.agency_path.iter().map(ToString::to_string).collect(),
        week: spike.week.clone(),
        takes: spike.takes,
        median_before: spike.median_before,
        recorded_at: spike.recorded_at,
    };
    notice(format!("spike/{}", spike.id()), "AOR Taker Spike", &detail, spike.recorded_at)
}

/// `AOR Dispute Opened` while the case is open, `AOR Dispute Closed` once it is not.
pub fn dispute(case: &Dispute, agency_path: &[AgencyId]) -> Notice {
    let detail = DisputeDetail {
        dispute_id: case.dispute_id.clone(),
        plan_year: case.plan_year.get(),
        federal_exchange_id: case.federal_exchange_id.to_string(),
        agent_id: case.agent_id.to_string(),
        agent_npn: case.agent_npn.to_string(),
        agency_path: agency_path.iter().map(ToString::to_string).collect(),
        reason: case.reason.as_str(),
        other_npn: case.other_npn.as_ref().map(ToString::to_string),
        channels: case.channels.iter().map(|c| c.as_str()).collect(),
        status: case.status.as_str(),
        opened_at: case.opened_at,
        closed_at: case.closed_at,
    };
    let (what, detail_type, at) = match case.closed_at {
        None => ("opened", "AOR Dispute Opened", case.opened_at),
        Some(closed) => ("closed", "AOR Dispute Closed", closed),
    };
    notice(format!("dispute/{}/{what}", case.dispute_id), detail_type, &detail, at)
}

fn notice(notice_id: String, detail_type: &str, detail: &impl Serialize, at: DateTime<Utc>) -> Notice {
    Notice {
        notice_id,
        detail_type: detail_type.to_owned(),
        // Plain data of strings and numbers: it always serializes.
        detail: serde_json::to_string(detail).unwrap_or_default(),
        at,
    }
}

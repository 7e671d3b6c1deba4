//! The at-risk lists as people read them: whose list, which entries, their counters, and who took
//! entries from a tree.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rules::Reason;
use super::values::{AgencyId, AgentId, Email, FederalExchangeId, Name, Npn, PlanYear};

/// Whose list: an agent's own book, or an agency's tree. Every at-risk entry is in its agent's
/// list and in the list of its agency and of every agency above it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Scope {
    Agent(AgentId),
    Agency(AgencyId),
}

/// Which entries of a list to read: the archived ones left out (the default), in too, or only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchivedFilter {
    #[default]
    Exclude,
    Include,
    Only,
}

/// One at-risk entry as a list shows it: the client, why and since when, and whose book it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskEntry {
    pub scope: Scope,
    pub federal_exchange_id: FederalExchangeId,
    pub plan_year: PlanYear,
    pub client_name: Name,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub at_risk_since: DateTime<Utc>,
    /// When the entry entered the list: when this system flagged it at risk, whatever the time of
    /// the evidence. Lists are in this order, newest first, and the alert counts by it.
    pub listed_at: DateTime<Utc>,
    pub reason: Reason,
    pub other_npn: Option<Npn>,
    pub archived: bool,
    pub agent_id: AgentId,
    pub agent_name: Option<Name>,
    pub agent_email: Option<Email>,
    pub agency_id: Option<AgencyId>,
    pub agency_name: Option<Name>,
}

/// One page of a list, the newest listed first. `next` is where the next page starts, `None` on the
/// last page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub entries: Vec<RiskEntry>,
    pub next: Option<String>,
    /// Items the store read for this page, to prove the reads stay bounded.
    pub items_read: i32,
}

/// A list's alert counters for a plan year: entries at risk (not archived), how many of those were
/// flagged after the list's last visit, and that visit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListCounts {
    pub at_risk_total: i64,
    pub new_since_visit: i64,
    pub last_visited_at: Option<DateTime<Utc>>,
}

/// An agency's swap patterns for a plan year: who took entries from its tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwapPatterns {
    /// Entries of the tree taken by an agent inside the tree, and by anyone outside it.
    pub in_agency: i64,
    pub outside: i64,
    /// By ISO week (`2026-W47`), oldest first: (inside, outside).
    pub weeks: BTreeMap<String, (i64, i64)>,
    /// Every NPN that took entries from the tree, the most first (then by NPN).
    pub takers: Vec<Taker>,
}

impl SwapPatterns {
    /// Counts one take, as `count_take` does in the table: what the checker adds up.
    pub fn add(&mut self, take: &super::changes::Take, in_agency: bool) {
        let week = super::changes::iso_week(take.at);
        let slot = self.weeks.entry(week.clone()).or_default();
        if in_agency {
            self.in_agency += 1;
            slot.0 += 1;
        } else {
            self.outside += 1;
            slot.1 += 1;
        }
        match self.takers.iter_mut().find(|t| t.npn == take.other_npn) {
            Some(taker) => {
                taker.takes += 1;
                taker.in_agency += i64::from(in_agency);
                *taker.weeks.entry(week).or_default() += 1;
                if take.other_agent_id.is_some() {
                    taker.agent_id.clone_from(&take.other_agent_id);
                }
            }
            None => self.takers.push(Taker {
                npn: take.other_npn.clone(),
                agent_id: take.other_agent_id.clone(),
                takes: 1,
                in_agency: i64::from(in_agency),
                weeks: BTreeMap::from([(week, 1)]),
            }),
        }
        self.sort_takers();
    }

    /// The most takes first, then by NPN.
    pub fn sort_takers(&mut self) {
        self.takers.sort_by(|a, b| b.takes.cmp(&a.takes).then_with(|| a.npn.cmp(&b.npn)));
    }
}

/// One NPN that took entries from a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taker {
    pub npn: Npn,
    /// The agent behind the NPN, where the directory knew them.
    pub agent_id: Option<AgentId>,
    pub takes: i64,
    /// How many of those while the agent was inside the tree.
    pub in_agency: i64,
    /// By ISO week, oldest first.
    pub weeks: BTreeMap<String, i64>,
}

//! A client's story read a page at a time (`GET /v1/clients/{id}`): the application's evidence
//! and history read newest first, a page's worth of each, and wider only while what was read holds
//! too few moments known whole (`domain::page_of`). What a page reads follows its length, not the
//! application's history.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use domain::{AgentId, ApplicationKey, EntryOwner, Evidence, EvidenceId, Fact, Moment, TimelinePage, moments, page_of};
use ports::{ApplicationReads, StoreError, StoredApplication};

/// Where a page of a story starts: below `below` (a moment's position), with the sync records
/// the page begins inside (their newer syncs shown already), which a read of what is older than
/// `below` would not reach.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoryStart {
    below: Option<String>,
    records: Vec<(DateTime<Utc>, EvidenceId)>,
    /// When the page begins inside the current sync record (kept in the application's item):
    /// its newest sync then. Should it close before the next page is read, it is an evidence
    /// item kept at or after that time — among what arrived since, a few items.
    #[serde(default)]
    current: Option<DateTime<Utc>>,
}

impl StoryStart {
    /// A start as `StoryPage::next` gave it out, as text (a cursor's position); `None` if it is not.
    pub fn parse(text: &str) -> Option<Self> {
        let start: Self = serde_json::from_str(text).ok()?;
        match &start.below {
            Some(below) => time_of(below).map(|_| start),
            None => Some(start),
        }
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One page of a story.
#[derive(Debug, Clone)]
pub struct StoryPage {
    pub moments: Vec<Moment>,
    pub next: Option<StoryStart>,
    /// The page's submitters and the entry's owner, as the directory has them now.
    pub owners: HashMap<AgentId, EntryOwner>,
}

/// How many items a page reads at most, per moment asked for, before it is made of what is known
/// whole (a run of syncs longer than that then goes on on the next page).
const WIDE: usize = 4;

/// How many windows as wide as that one request reads while they hold nothing of the entry's
/// (other books' changes) before it answers an empty page and where to go on.
const EMPTY_WINDOWS: usize = 4;

/// The page of `owner`'s timeline from `start`: at most `limit` moments. `head`: the
/// application as `ApplicationReads::head` read it (its current sync record is the newest
/// syncs). `named`: whether a submitter is named to the reader, from the directory's view of them.
pub async fn story_page(
    store: &impl ApplicationReads,
    app: &ApplicationKey,
    head: &StoredApplication,
    owner: &AgentId,
    start: &StoryStart,
    limit: usize,
    named: impl Fn(&AgentId, Option<&EntryOwner>) -> bool,
) -> Result<StoryPage, StoreError> {
    let mut start = start.clone();
    let mut items = limit + 1;
    let mut empty_windows = 0;
    loop {
        let until = start.below.as_deref().and_then(time_of);
        let window = store.timeline_window(app, until, &start.records, start.current, items).await?;
        let log: Vec<Evidence> = window.log.iter().chain(&head.sync_record).cloned().collect();
        let submitters = log
            .iter()
            .filter_map(|e| match &e.fact {
                Fact::Submitted { agent_id, .. } => Some(agent_id.clone()),
                _ => None,
            })
            .chain(std::iter::once(owner.clone()))
            .collect();
        let owners = store.owners(submitters).await?;
        let found = moments(owner, &log, &window.history, |agent| named(agent, owners.get(agent)));
        let wide = items >= WIDE * (limit + 1);
        match page_of(found, start.below.as_deref(), window.complete_after, limit, wide) {
            TimelinePage::ReadMore => items *= WIDE,
            TimelinePage::Page { moments, next } => {
                let next = next.and_then(|below| {
                    let at = time_of(&below)?;
                    // Records kept under a time after the next page's start that hold syncs below
                    // it, and the current record if it does (positions are to the microsecond).
                    let within = at + chrono::Duration::microseconds(1);
                    let straddles = |e: &Evidence| e.last_at() > at && e.at < within;
                    let records =
                        window.log.iter().filter(|e| straddles(e)).map(|e| (e.last_at(), e.id.clone())).collect();
                    let current = head.sync_record.as_ref().filter(|r| straddles(r)).map(Evidence::last_at);
                    Some(StoryStart { below: Some(below), records, current })
                });
                match next {
                    // Nothing of the entry's yet: on from there, as wide; or, where a window this
                    // wide ended where it began (items of one instant), wider.
                    Some(next) if moments.is_empty() && empty_windows + 1 < EMPTY_WINDOWS => {
                        empty_windows += 1;
                        if next.below == start.below {
                            items *= WIDE;
                        }
                        start = next;
                    }
                    next => return Ok(StoryPage { moments, next, owners }),
                }
            }
        }
    }
}

/// The time a moment's position begins with (`domain::story`'s positions).
fn time_of(position: &str) -> Option<DateTime<Utc>> {
    let at = position.split('#').next()?;
    Some(DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc))
}

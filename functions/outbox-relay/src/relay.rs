//! One run of the relay: one worker per part of the outbox (an application shard), all at once,
//! each emptying its part oldest first, a page at a time, until it is empty or the run's time is
//! up. For each history item: publish its changes (all accepted, or the item stays for the next
//! run), count its takes (once each), then take it out of the outbox. An item that fails stays
//! for the next run and holds back no other. One application's changes are in one part, so they
//! go out in order; the workers count into different shards of the swap patterns, so they do not
//! meet on an item. Two runs at once, or a run killed half-way, publish some changes twice under
//! the same id and count nothing twice.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use shared::domain::EntryOwner;
use shared::domain::{AgentId, ChangeKind, DisputeStatus, Npn, PlanYear, at_risk_change, iso_week, take};
use shared::metrics;
use shared::notices;
use shared::ports::StoreError;
use shared::ports::{CountedTake, Notice, OutboxItem, TakerSpike};

use crate::app::{Deps, Ports};
use crate::event::{self, SOURCE};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("EventBridge did not take the events: {0}")]
    Publish(String),
    #[error("a relay worker stopped: {0}")]
    Worker(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// History items taken out of the outbox.
    pub items: u32,
    pub published: u32,
    /// Takes counted into swap patterns by this run.
    pub counted: u32,
    /// Items that failed: left in the outbox for the next run.
    pub failed: u32,
    /// Items set aside until their owner's agent or agency is known.
    pub waiting: u32,
}

/// How long one run may go on: 45 s (it runs every minute), and never closer than 10 s to the
/// Lambda's deadline.
pub fn deadline(lambda_deadline: Option<SystemTime>) -> Instant {
    shared::deadline::run_deadline(Duration::from_secs(45), Duration::from_secs(10), lambda_deadline)
}

/// EventBridge takes at most 10 entries per `PutEvents`.
const PUT_EVENTS_MAX: usize = 10;

impl std::ops::AddAssign for RelayReport {
    fn add_assign(&mut self, other: Self) {
        self.items += other.items;
        self.published += other.published;
        self.counted += other.counted;
        self.failed += other.failed;
        self.waiting += other.waiting;
    }
}

pub async fn relay<S: Ports>(deps: &Deps<S>, until: Instant) -> Result<RelayReport, RelayError> {
    let mut workers = tokio::task::JoinSet::new();
    for shard in 0..deps.store.outbox_parts() {
        let deps = deps.clone();
        workers.spawn(async move { relay_shard(&deps, shard, until).await });
    }
    let mut report = RelayReport::default();
    let mut oldest: Option<chrono::DateTime<chrono::Utc>> = None;
    // A worker that stops (its part of the outbox unreadable) stops no other: its error is the
    // run's once all are done.
    let mut stopped: Option<RelayError> = None;
    // Beside the workers, the notices found waiting (spikes and restored disputes of runs before,
    // disputes opened and withdrawn through the API): a backlog in the outbox holds none back.
    let worked = async {
        while let Some(done) = workers.join_next().await {
            match done.map_err(|err| RelayError::Worker(err.to_string())).and_then(|worked| worked) {
                Ok(worked) => {
                    report += worked.report;
                    oldest = [oldest, worked.oldest].into_iter().flatten().min();
                }
                Err(err) => {
                    stopped.get_or_insert(err);
                }
            }
        }
    };
    let (notices, ()) = tokio::join!(publish_notices(deps, until), worked);
    match notices {
        Ok(published) => report.published += published,
        Err(err) => stopped = stopped.or(Some(err)),
    }
    // How long the oldest change had waited to go out when this run found it.
    let waited = oldest.map_or(chrono::Duration::zero(), |at| chrono::Utc::now() - at);
    metrics::Line::new()
        .duration(metrics::OUTBOX_AGE, waited)
        .count(metrics::EVENTS_PUBLISHED, u64::from(report.published))
        .emit();
    match stopped {
        Some(err) => Err(err),
        None => Ok(report),
    }
}

/// What one worker did, and the oldest change it found.
pub struct ShardRun {
    pub report: RelayReport,
    pub oldest: Option<chrono::DateTime<chrono::Utc>>,
}

/// Empties one shard's part of the outbox until it is empty or `until` has passed.
pub async fn relay_shard<S: Ports>(deps: &Deps<S>, shard: u32, until: Instant) -> Result<ShardRun, RelayError> {
    let mut report = RelayReport::default();
    let mut owners: HashMap<AgentId, EntryOwner> = HashMap::new();
    let mut start = None;
    let mut oldest: Option<chrono::DateTime<chrono::Utc>> = None;
    loop {
        let (items, next) = deps.store.outbox_page(shard, 50, start).await?;
        // One item failing (EventBridge refusing an entry, a store error) holds back no other.
        for item in items {
            if let Some(recorded) = item.records.iter().map(|record| record.recorded_at).min() {
                oldest = Some(oldest.map_or(recorded, |o| o.min(recorded)));
            }
            if let Err(err) = relay_item(deps, &item, &mut owners, &mut report).await {
                tracing::error!(item = %item.id, error = %err, "an outbox item failed; left for the next run");
                report.failed += 1;
            }
        }
        start = next;
        if start.is_none() || Instant::now() >= until {
            return Ok(ShardRun { report, oldest });
        }
    }
}

async fn relay_item<S: Ports>(
    deps: &Deps<S>,
    trail: &OutboxItem,
    owners: &mut HashMap<AgentId, EntryOwner>,
    report: &mut RelayReport,
) -> Result<(), RelayError> {
    // Everyone the changes name: the owners (their agency path) and the takers (inside or not).
    let named: BTreeSet<AgentId> = trail
        .records
        .iter()
        .flat_map(|record| std::iter::once(record.agent_id.clone()).chain(take(record).and_then(|t| t.other_agent_id)))
        .filter(|agent| !owners.contains_key(agent))
        .collect();
    if !named.is_empty() {
        owners.extend(deps.store.owners(named).await?);
    }
    // An owner's path not known to its top yet (their agent or agency upsert still to come, an
    // order the platform may send): the item waits out of the outbox, and that upsert puts it
    // back. Counted or published now, the take would miss the agencies above.
    // (A taker's path not known to its top holds nothing back: the owner's change must not wait
    // on another tree's directory. Their conduct counts the take in the part of it known.)
    let missing = trail.records.iter().find_map(|record| owners.get(&record.agent_id)?.waiting_for.clone());
    if let Some(entry) = missing {
        if deps.store.wait_for(trail, &entry).await? {
            report.waiting += 1;
        } else {
            // Known since this run read it: the item stays in the outbox for the next run.
            owners.clear();
        }
        return Ok(());
    }
    let path_of = |agent: &AgentId| owners.get(agent).map(|o| o.path.clone()).unwrap_or_default();

    let mut entries = Vec::new();
    for record in &trail.records {
        if let Some((kind, change)) = event::of_record(&trail.application, record, &path_of(&record.agent_id)) {
            let detail = serde_json::to_string(&change).map_err(|err| RelayError::Publish(err.to_string()))?;
            entries.push(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&deps.bus)
                    .source(SOURCE)
                    .detail_type(kind.detail_type())
                    .detail(detail)
                    .time(aws_sdk_eventbridge::primitives::DateTime::from_millis(record.recorded_at.timestamp_millis()))
                    .build(),
            );
        }
    }
    for chunk in entries.chunks(PUT_EVENTS_MAX) {
        let out =
            deps.events.put_events().set_entries(Some(chunk.to_vec())).send().await.map_err(|err| {
                RelayError::Publish(aws_sdk_eventbridge::error::DisplayErrorContext(&err).to_string())
            })?;
        if out.failed_entry_count > 0 {
            // The item stays in the outbox: the next run publishes it all again (same ids).
            return Err(RelayError::Publish(format!("{} of {} entries failed", out.failed_entry_count, chunk.len())));
        }
        report.published += u32::try_from(chunk.len()).unwrap_or(u32::MAX);
    }

    for (index, record) in trail.records.iter().enumerate() {
        let Some(taken) = take(record) else { continue };
        if trail.counted.contains(&index) {
            continue;
        }
        let taker_path = taken.other_agent_id.as_ref().map(&path_of).unwrap_or_default();
        let owner_path = path_of(&record.agent_id);
        let swaps = owner_path.iter().map(|agency_id| CountedTake {
            in_agency: taker_path.contains(agency_id),
            agency_id: agency_id.clone(),
            by_taker: false,
        });
        let conduct = taker_path.iter().map(|agency_id| CountedTake {
            in_agency: owner_path.contains(agency_id),
            agency_id: agency_id.clone(),
            by_taker: true,
        });
        let counts: Vec<CountedTake> = swaps.chain(conduct).collect();
        if deps.store.count_take(trail, index, &taken, &counts).await? {
            report.counted += 1;
        }
    }
    // Whether the takes made a week a spike: looked at again when the item comes back (counted
    // before a run died), recorded once.
    let mut looked_at = BTreeSet::new();
    for record in &trail.records {
        let Some(taken) = take(record) else { continue };
        let Some(taker) = taken.other_agent_id.clone() else { continue };
        let week = iso_week(taken.at);
        if looked_at.insert((taker.clone(), week.clone())) {
            let path = path_of(&taker);
            look_for_spike(deps, trail.application.year, &taker, &taken.other_npn, path, &week).await?;
        }
    }
    restore_disputes(deps, trail, path_of).await?;
    deps.store.relayed(trail).await?;
    report.items += 1;
    Ok(())
}

/// Records a spike of `taker`'s takes in `week`, if their counts (in their own agency) make it
/// one: once per agent and week, however often it is looked at.
async fn look_for_spike<S: Ports>(
    deps: &Deps<S>,
    year: PlanYear,
    taker: &AgentId,
    npn: &Npn,
    agency_path: Vec<shared::domain::AgencyId>,
    week: &str,
) -> Result<(), RelayError> {
    if agency_path.is_empty() {
        return Ok(());
    }
    let weekly = deps.store.weekly_takes(year, taker).await?;
    let Some(spike) = deps.spike_rule.spike_in(&weekly, week) else { return Ok(()) };
    let found = TakerSpike {
        plan_year: year,
        agent_id: taker.clone(),
        npn: npn.clone(),
        agency_path,
        week: spike.week,
        takes: spike.takes,
        median_before: spike.median_before,
        recorded_at: chrono::Utc::now(),
    };
    if deps.store.record_spike(&found, &notices::taker_spike(&found)).await? {
        tracing::info!(agent_id = %taker, week, takes = found.takes, "a spike of takes");
    }
    Ok(())
}

/// Publishes every notice not yet published (spikes, disputes opened and closed), then takes it
/// away: at least once, with the same id in its detail. One that fails holds back no other: it
/// stays for the next run, and is this run's error.
async fn publish_notices<S: Ports>(deps: &Deps<S>, until: Instant) -> Result<u32, RelayError> {
    let mut published = 0;
    let mut failed = None;
    for notice in deps.store.unpublished_notices().await? {
        if Instant::now() >= until {
            break;
        }
        match publish_notice(deps, &notice).await {
            Ok(()) => published += 1,
            Err(err) => {
                tracing::error!(notice = %notice.notice_id, error = %err, "a notice failed; left for the next run");
                failed = failed.or(Some(err));
            }
        }
    }
    match failed {
        Some(err) => Err(err),
        None => Ok(published),
    }
}

async fn publish_notice<S: Ports>(deps: &Deps<S>, notice: &Notice) -> Result<(), RelayError> {
    let entry = PutEventsRequestEntry::builder()
        .event_bus_name(&deps.bus)
        .source(SOURCE)
        .detail_type(&notice.detail_type)
        .detail(&notice.detail)
        .time(aws_sdk_eventbridge::primitives::DateTime::from_millis(notice.at.timestamp_millis()))
        .build();
    let out = deps
        .events
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|err| RelayError::Publish(aws_sdk_eventbridge::error::DisplayErrorContext(&err).to_string()))?;
    if out.failed_entry_count > 0 {
        return Err(RelayError::Publish(format!("the notice {} was refused", notice.notice_id)));
    }
    deps.store.notice_published(notice).await?;
    Ok(())
}

/// Closes the open dispute case of every entry `trail` cleared: the AOR came back.
async fn restore_disputes<S: Ports>(
    deps: &Deps<S>,
    trail: &OutboxItem,
    path_of: impl Fn(&AgentId) -> Vec<shared::domain::AgencyId>,
) -> Result<(), RelayError> {
    for record in &trail.records {
        if at_risk_change(record) != Some(ChangeKind::Cleared) {
            continue;
        }
        // Read again on a race: another relay (or a person withdrawing it) wrote first; still
        // racing after that, the item stays for the next run.
        let mut attempts = 0;
        loop {
            let Some(open) = deps.store.open_dispute_of(&trail.application, &record.agent_id).await? else { break };
            // A case opened after this clear disputes a later take: not this one's to close.
            if open.opened_at >= record.recorded_at {
                break;
            }
            let Some(restored) = open.closed(DisputeStatus::Restored, record.recorded_at) else { break };
            let path = path_of(&record.agent_id);
            match deps.store.save_dispute(&restored, &path, Some(&notices::dispute(&restored, &path))).await {
                Err(StoreError::Conflict) if attempts < 3 => attempts += 1,
                other => {
                    other?;
                    break;
                }
            }
        }
    }
    Ok(())
}

//! The scheduled scan: re-syncs current plan year applications whose last sync is older than a
//! window, oldest first, within the marketplace's rate limit and a time budget well inside the
//! Lambda limit.
//!
//! The due list is spread over shards (see `docs/table-design.md`). The scan makes passes over
//! them, shard by shard, each oldest sync first; it saves where it is after every page, and a run
//! that runs out of time leaves the rest of the pass to the next run, so a deployment with millions
//! of applications is covered over successive runs. A run ends at the end of a pass: applications
//! that failed stay due and are tried again in the next pass, not over and over within one.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::domain::PlanYear;
use shared::ports::{Applications, SyncDue};
use shared::store::StoreError;
use shared::store::keys::SYNC_DUE_SHARDS;
use shared::store::sync_due::ScanCheckpoint;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::marketplace::MarketplaceClient;
use crate::sync::{SyncError, sync_application};

#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub year: PlanYear,
    pub stale_after: chrono::Duration,
    pub concurrency: usize,
    /// Applications read from the due list at a time.
    pub page_size: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Applications whose writer died before placing them, placed by this run.
    pub placed: u32,
    pub synced: u32,
    pub failed: u32,
    /// Whether the run stopped for time before walking every shard.
    pub out_of_time: bool,
}

/// How long a write may stay unplaced before the scan places it: its own writer places it within
/// a second or two unless it died.
pub const UNPLACED_GRACE: chrono::Duration = chrono::Duration::minutes(1);

/// First places what writers that died left unplaced (an API sync is never redelivered, so the
/// scan is what finishes it); then runs the scan until the end of the current pass or `deadline`,
/// whichever comes first. Syncs already under way at the deadline are finished; none is started
/// after it.
pub async fn scan<S: Applications + SyncDue>(
    store: &S,
    marketplace: &MarketplaceClient,
    settings: &ScanSettings,
    now: DateTime<Utc>,
    deadline: Instant,
) -> Result<ScanReport, StoreError> {
    let mut report = ScanReport {
        placed: store.place_unplaced(now - UNPLACED_GRACE, Some(deadline.into_std())).await?,
        ..ScanReport::default()
    };
    let marketplace = &marketplace.for_scan();
    let cutoff = now - settings.stale_after;
    let mut at = store.scan_checkpoint(settings.year).await?;
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    // Syncs in flight across pages: the next page is read while the last one's syncs run, so the
    // budget, not the page boundaries, sets the pace.
    let mut running = tokio::task::JoinSet::new();

    loop {
        if Instant::now() >= deadline {
            report.out_of_time = true;
            break;
        }
        let page =
            store.due_for_sync(settings.year, at.shard, cutoff, at.position.as_deref(), settings.page_size).await?;
        if page.is_empty() {
            let next = at.shard + 1;
            at = ScanCheckpoint { shard: next % SYNC_DUE_SHARDS, position: None };
            if next == SYNC_DUE_SHARDS {
                break;
            }
            continue;
        }
        for due in page {
            if Instant::now() >= deadline {
                break;
            }
            let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
            let (store, marketplace) = (store.clone(), marketplace.clone());
            // The position is the last application taken up; one whose sync fails or is cut
            // short stays due, and the next pass takes it up again.
            at.position = Some(due.position.clone());
            running.spawn(async move {
                let result = sync_application(&store, &marketplace, &due.application, Utc::now()).await;
                drop(permit);
                (due, result)
            });
            while let Some(done) = running.try_join_next() {
                record(done, &mut report);
            }
        }
        store.save_scan_checkpoint(settings.year, &at).await?;
    }
    while let Some(done) = running.join_next().await {
        record(done, &mut report);
    }
    store.save_scan_checkpoint(settings.year, &at).await?;
    Ok(report)
}

type Finished = Result<
    (shared::store::sync_due::Due, Result<crate::marketplace::MarketplaceApplication, SyncError>),
    tokio::task::JoinError,
>;

fn record(done: Finished, report: &mut ScanReport) {
    match done {
        Ok((_, Ok(_))) => report.synced += 1,
        Ok((due, Err(err))) => {
            report.failed += 1;
            log_failure(&due.application.id.to_string(), &err);
        }
        Err(join_error) => {
            report.failed += 1;
            tracing::error!(error = %join_error, "a sync task died");
        }
    }
}

fn log_failure(id: &str, err: &SyncError) {
    tracing::warn!(federal_exchange_id = %id, error = %err, "scheduled sync failed; the application stays due");
}

/// The scan's deadline: its budget, but never closer than a safety margin to the Lambda's own.
pub fn deadline(budget: Duration, lambda_deadline: Option<std::time::SystemTime>) -> Instant {
    const MARGIN: Duration = Duration::from_secs(60);
    let by_budget = Instant::now() + budget;
    let by_lambda = lambda_deadline
        .and_then(|at| at.duration_since(std::time::SystemTime::now()).ok())
        .map(|left| Instant::now() + left.saturating_sub(MARGIN));
    by_lambda.map_or(by_budget, |lambda| lambda.min(by_budget))
}

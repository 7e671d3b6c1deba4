//! One sync: ask the marketplace, then apply its answer as evidence. A sync that fails changes
//! nothing: no evidence is recorded for it.

use chrono::{DateTime, Utc};
use shared::domain::ApplicationKey;
use shared::domain::{EvidenceId, SyncFailed, sync_evidence};
use shared::ports::Applications;
use shared::ports::StoreError;

use crate::marketplace::{MarketplaceApplication, MarketplaceClient, MarketplaceError};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Marketplace(#[from] MarketplaceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Syncs one application at `now`, asking the marketplace no longer than `until`; returns the
/// marketplace's answer.
pub async fn sync_application(
    store: &impl Applications,
    marketplace: &MarketplaceClient,
    application: &ApplicationKey,
    now: DateTime<Utc>,
    until: tokio::time::Instant,
) -> Result<MarketplaceApplication, SyncError> {
    let answer = marketplace.application(&application.id, application.year, until).await;
    let outcome = match &answer {
        Ok(found) => Ok(found.policies().inspect_err(|_| marketplace.note_bad_answer())?),
        Err(_) => Err(SyncFailed),
    };
    let id = EvidenceId::parse(format!("sync-{}", uuid::Uuid::new_v4())).expect("a UUID makes a valid evidence id");
    if let Some(evidence) = sync_evidence(id, now, outcome) {
        store.apply_evidence(application, &evidence, now).await?;
    }
    Ok(answer?)
}

/// A sync that was still waiting on the marketplace when its run's time was up.
pub const CUT_SHORT: &str = "cut_short";

/// A sync whose task panicked.
pub const PANICKED: &str = "panicked";

/// Every outcome `outcome` gives, `CUT_SHORT` and `PANICKED`: the values of the `Syncs` metric's
/// `Outcome`.
pub const OUTCOMES: [&str; 8] =
    ["ok", "not_found", "throttled", "unavailable", "bad_answer", "store_error", CUT_SHORT, PANICKED];

/// A sync's outcome, as the `Outcome` of the `Syncs` metric: `ok`, `not_found` (the marketplace
/// does not know it), `throttled` (the marketplace or our budget had no turn), `unavailable`,
/// `bad_answer`, `store_error`.
pub fn outcome<T>(result: &Result<T, SyncError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(SyncError::Marketplace(MarketplaceError::NotFound)) => "not_found",
        Err(SyncError::Marketplace(MarketplaceError::RateLimited { .. } | MarketplaceError::NoTurn { .. })) => {
            "throttled"
        }
        Err(SyncError::Marketplace(MarketplaceError::Unavailable { .. })) => "unavailable",
        Err(SyncError::Marketplace(MarketplaceError::BadAnswer(_))) => "bad_answer",
        Err(SyncError::Store(_)) => "store_error",
    }
}

/// One `Syncs` line per outcome.
pub fn emit_outcomes(outcomes: &std::collections::BTreeMap<&'static str, u32>) {
    for (outcome, n) in outcomes {
        shared::metrics::Line::new()
            .dimension(shared::metrics::OUTCOME, *outcome)
            .count(shared::metrics::SYNCS, u64::from(*n))
            .emit();
    }
}

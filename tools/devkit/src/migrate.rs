//! Brings a table written by an earlier release up to what this one reads: run once after a
//! deploy over existing data (README, "Deploying to AWS"). Every step rewrites derived items from
//! the authoritative state, so it is safe to run again, and beside live traffic.

use std::collections::BTreeSet;

use shared::domain::{ApplicationKey, FederalExchangeId, PlanYear};
use store::Store;
use store::keys::{self, ItemKind};

use crate::DevkitError;

/// What a migration did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Agencies whose counters were filed again under their parent (since 2026-12-07).
    pub agencies_refiled: usize,
    /// Applications with rows in the lists, placed again: their rows keyed by when they were
    /// listed (since 2026-12-08), the rows of an earlier key deleted.
    pub applications_placed: usize,
    /// Sync records moved under their last time (since 2026-12-07), where a story page read
    /// newest first finds them.
    pub records_rekeyed: usize,
    /// Applications filed in the due list's index by lane and id (since 2026-12-08), out of the
    /// one ordered by last sync.
    pub applications_refiled: usize,
}

pub async fn run(store: &Store) -> Result<Migrated, DevkitError> {
    let mut agencies = BTreeSet::new();
    let mut listed = BTreeSet::new();
    let mut evidence = Vec::new();
    let mut unfiled = Vec::new();
    crate::table::scan_each(store, |item| {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        match keys::item_kind(&text(keys::PK), &text(keys::SK)) {
            ItemKind::Agency => agencies.extend(keys::agency_of_pk(&text(keys::PK))),
            ItemKind::RiskRow => {
                let year = item.get("plan_year").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u16>().ok());
                let year = PlanYear::parse(year.unwrap_or_default())?;
                listed.insert((year, FederalExchangeId::parse(text("federal_exchange_id"))?));
            }
            ItemKind::Evidence => evidence.push((text(keys::PK), text(keys::SK))),
            ItemKind::ApplicationMeta if !item.contains_key(keys::GSI3_PK) => unfiled.push(text(keys::PK)),
            _ => {}
        }
        Ok::<_, DevkitError>(())
    })
    .await?;
    for agency in &agencies {
        store.refile_counters(agency).await?;
    }
    for (year, id) in &listed {
        store.place_application(&ApplicationKey { id: id.clone(), year: *year }).await?;
    }
    let mut records_rekeyed = 0;
    for (pk, sk) in &evidence {
        records_rekeyed += usize::from(store.rekey_evidence(pk, sk).await?);
    }
    let mut applications_refiled = 0;
    for pk in &unfiled {
        applications_refiled += usize::from(store.file_in_due_list(pk).await?);
    }
    Ok(Migrated {
        agencies_refiled: agencies.len(),
        applications_placed: listed.len(),
        records_rekeyed,
        applications_refiled,
    })
}

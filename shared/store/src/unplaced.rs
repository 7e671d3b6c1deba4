//! The unplaced mark: a write whose outcome is not in the lists yet says so on its application's
//! meta item (`UNPLACED` in the first index, since the write's time). The invariant it keeps: an
//! application whose lists may be behind its entries is always marked, and only the placement of
//! the version that was written takes the mark off — a newer write marks it afresh. A writer that
//! dies or fails before placing leaves the mark, and the scheduled scan places what stays marked
//! (`place_unplaced`), setting a failure aside for longer each time.

use chrono::{DateTime, Utc};

use super::dynamo::failed;
use super::dynamo::{Condition, Index, SortKeys, number, text};
use super::items::{MetaItem, from_item};
use super::placement::AlreadyRead;
use super::{Store, StoreError, keys};
use domain::ApplicationKey;
use ports::{self, Repair};

impl MetaItem {
    /// Whether this version's outcome is still to be placed in the lists (see `placement`).
    pub fn is_unplaced(&self) -> bool {
        self.gsi1pk.is_some()
    }
}

/// How long a write whose placement failed `failures` times in a row waits before the next try:
/// a quarter of an hour (the scan's period), doubling, at most a day. A passing cause (a hot
/// application) is over by the next run; a lasting one costs a read a day until a person fixes it.
pub fn retry_after(failures: u32) -> chrono::Duration {
    let minutes = 15i64.saturating_mul(1 << failures.saturating_sub(1).min(7));
    chrono::Duration::minutes(minutes.min(24 * 60))
}

impl Store {
    /// Marks the application unplaced (since now, or since its mark's time if it has one): always
    /// safe, as placing an application placed right writes nothing.
    pub(super) async fn mark_unplaced(&self, app: &ApplicationKey) -> Result<(), StoreError> {
        let marked = self
            .update_if(
                &keys::application_pk(app.year, &app.id),
                keys::META_SK,
                "SET #gsi1pk = :unplaced, #gsi1sk = if_not_exists(#gsi1sk, :now)",
                Condition::new("attribute_exists(#pk)")
                    .name("#pk", keys::PK)
                    .name("#gsi1pk", keys::GSI1_PK)
                    .name("#gsi1sk", keys::GSI1_SK),
                vec![(":unplaced", text(keys::UNPLACED_GSI1PK)), (":now", text(keys::time(Utc::now())))],
            )
            .await;
        match marked {
            // No application: nothing to place.
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
    }

    /// Takes the unplaced mark off the application, unless a newer write (with its own mark and
    /// its own placement to come) has replaced the version placed.
    pub(super) async fn mark_placed(&self, meta: &MetaItem) -> Result<(), StoreError> {
        let cleared = self
            .update_if(
                &meta.pk,
                &meta.sk,
                "REMOVE #gsi1pk, #gsi1sk",
                Condition::version_is(Some(meta.version)).name("#gsi1pk", keys::GSI1_PK).name("#gsi1sk", keys::GSI1_SK),
                vec![],
            )
            .await;
        match cleared {
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
    }

    /// Moves an unplaced mark whose placement failed to `retry_at` in the index, with one more
    /// failure counted, so that runs before then pass it by. Only while the version is the one
    /// that failed: a newer write marks the application afresh and is tried at once.
    async fn set_aside(&self, meta: &MetaItem, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
        let set = self
            .update_if(
                &meta.pk,
                &meta.sk,
                "SET #gsi1sk = :retry_at, unplaced_failures = :failures",
                Condition::version_is(Some(meta.version))
                    .and("attribute_exists(#gsi1pk)")
                    .name("#gsi1pk", keys::GSI1_PK)
                    .name("#gsi1sk", keys::GSI1_SK),
                vec![(":retry_at", text(keys::time(retry_at))), (":failures", number(meta.unplaced_failures + 1))],
            )
            .await;
        match set {
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
    }
}

impl ports::UnplacedRepair for Store {
    /// Places applications whose write was marked unplaced before `written_before` and is still
    /// marked: what writers that died between writing and placing left. At most `budget` of them,
    /// stopping after the one during which `until` passes. Safe to run beside live writers:
    /// placing is idempotent and version-conditioned. One that fails is counted and set aside
    /// (see `set_aside`); the rest go on.
    async fn place_unplaced(
        &self,
        written_before: DateTime<Utc>,
        budget: u32,
        until: Option<std::time::Instant>,
    ) -> Result<Repair, StoreError> {
        let mut repair = Repair::default();
        let mut start = None;
        loop {
            let out = self
                .query(Index::Gsi1, keys::UNPLACED_GSI1PK, SortKeys::Below(keys::time(written_before)))
                .limit(100)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(failed)?;
            let mut known = AlreadyRead::default();
            for item in out.items.unwrap_or_default() {
                let out_of_time = until.is_some_and(|until| std::time::Instant::now() >= until);
                if repair.placed + repair.failed >= budget || out_of_time {
                    return Ok(repair);
                }
                let meta: MetaItem = match from_item(item) {
                    Ok(meta) => meta,
                    Err(err) => {
                        tracing::error!(error = %err, "an unplaced mark on an item that is not an application's meta");
                        repair.failed += 1;
                        continue;
                    }
                };
                let app = ApplicationKey { id: meta.federal_exchange_id.clone(), year: meta.plan_year };
                tracing::warn!(federal_exchange_id = %app.id, "placing a write its writer left unplaced");
                match self.place_with(&app, &mut known).await {
                    Ok(_) => repair.placed += 1,
                    Err(err) => {
                        repair.failed += 1;
                        known = AlreadyRead::default();
                        let failures = meta.unplaced_failures + 1;
                        tracing::error!(federal_exchange_id = %app.id, failures, error = %err, "could not place a write left unplaced; set aside");
                        if let Err(err) = self.set_aside(&meta, written_before + retry_after(failures)).await {
                            tracing::warn!(federal_exchange_id = %app.id, error = %err, "could not set a failed placement aside");
                        }
                    }
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(repair);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::retry_after;

    #[test]
    fn a_failed_placement_waits_a_quarter_of_an_hour_doubling_to_a_day() {
        let minutes: Vec<i64> = [1, 2, 3, 6, 7, 30].map(|n| retry_after(n).num_minutes()).to_vec();
        assert_eq!(minutes, vec![15, 30, 60, 480, 960, 1440]);
    }
}

//! Which applications are due for a marketplace re-sync, lane by lane (see `DueLane`), and
//! where the scheduled scan is in its pass.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dynamo::failed;
use super::dynamo::{Index, SortKeys, condition_failed, number, text};
use super::items::{MetaItem, from_item, to_item};
use super::{Store, StoreError, keys};
use domain::ApplicationKey;
use domain::PlanYear;
use ports::{self, Due, DueLane, ScanCheckpoint};

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointItem {
    pk: String,
    sk: String,
    checkpoint: ScanCheckpoint,
}

impl Store {}

impl ports::SyncDue for Store {
    fn due_parts(&self) -> u32 {
        keys::APPLICATION_SHARDS
    }

    /// Up to `limit` applications of one lane of one shard due by `upto` (for the never-synced
    /// lane: all of them), in key order, after `after`.
    async fn due_for_sync(
        &self,
        year: PlanYear,
        shard: u32,
        lane: DueLane,
        upto: DateTime<Utc>,
        after: Option<&str>,
        limit: i32,
    ) -> Result<Vec<Due>, StoreError> {
        let (low, cutoff) = keys::sync_due_range(lane, upto);
        // BETWEEN is inclusive: the smallest string above `after` is `after` + U+0001.
        let from = after.map_or(low, |position| format!("{position}\u{1}"));
        let out = self
            .query(Index::Gsi2, keys::sync_due_gsi2pk(year, shard), SortKeys::Between(from, cutoff))
            .limit(limit)
            .send()
            .await
            .map_err(failed)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let meta: MetaItem = from_item(item)?;
                Ok(Due {
                    application: ApplicationKey { id: meta.federal_exchange_id, year: meta.plan_year },
                    last_synced_at: keys::sync_due_time(&meta.gsi2sk),
                    position: meta.gsi2sk,
                    version: meta.version,
                    unknown_count: meta.unknown_count,
                })
            })
            .collect()
    }

    /// Records that the marketplace did not know `due`'s application: it moves to the unknown
    /// lane until `ask_again_at`. Only while the application is as the index showed it: new
    /// evidence in between has put it where it belongs. Returns whether it was recorded.
    async fn record_unknown(&self, due: &Due, ask_again_at: DateTime<Utc>) -> Result<bool, StoreError> {
        let app = &due.application;
        let updated = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::application_pk(app.year, &app.id)))
            .key(keys::SK, text(keys::META_SK))
            .update_expression("SET unknown_count = :count, #gsi2sk = :position")
            .condition_expression("version = :version")
            .expression_attribute_names("#gsi2sk", keys::GSI2_SK)
            .expression_attribute_values(":count", number(due.unknown_count + 1))
            .expression_attribute_values(
                ":position",
                text(keys::sync_due_gsi2sk(DueLane::Unknown, Some(ask_again_at), &app.id)),
            )
            .expression_attribute_values(":version", number(due.version))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(failed(err)),
        }
    }

    async fn scan_checkpoint(&self, year: PlanYear) -> Result<ScanCheckpoint, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::scan_checkpoint_pk(year)))
            .key(keys::SK, text(keys::SCAN_CHECKPOINT_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed)?;
        Ok(out.item.map(from_item::<CheckpointItem>).transpose()?.map(|item| item.checkpoint).unwrap_or_default())
    }

    async fn save_scan_checkpoint(&self, year: PlanYear, checkpoint: &ScanCheckpoint) -> Result<(), StoreError> {
        let item = CheckpointItem {
            pk: keys::scan_checkpoint_pk(year),
            sk: keys::SCAN_CHECKPOINT_SK.to_owned(),
            checkpoint: checkpoint.clone(),
        };
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(to_item(&item)?))
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }
}

//! Which applications are due for a marketplace re-sync, oldest sync first, and where the
//! scheduled scan stopped last time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::applications::s;
use super::items::{MetaItem, from_item, to_item};
use super::{Store, StoreError, keys};
use crate::domain::ApplicationKey;
use crate::domain::PlanYear;

/// Where the scan is in its pass over the shards: the shard it is in, and the sync-due key of the
/// last application it took up there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCheckpoint {
    pub shard: u32,
    pub position: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointItem {
    pk: String,
    sk: String,
    checkpoint: ScanCheckpoint,
}

/// One application due for a sync, with its place in the due list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub application: ApplicationKey,
    pub position: String,
}

impl Store {
    /// Up to `limit` applications of one shard last synced before `cutoff` (never synced first),
    /// after `after`.
    pub async fn due_for_sync(
        &self,
        year: PlanYear,
        shard: u32,
        cutoff: DateTime<Utc>,
        after: Option<&str>,
        limit: i32,
    ) -> Result<Vec<Due>, StoreError> {
        // BETWEEN is inclusive: the smallest string above `after` is `after` + U+0001.
        let from = after.map_or_else(|| "0".to_owned(), |position| format!("{position}\u{1}"));
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(keys::GSI2)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :cutoff")
            .expression_attribute_names("#pk", keys::GSI2_PK)
            .expression_attribute_names("#sk", keys::GSI2_SK)
            .expression_attribute_values(":pk", s(keys::sync_due_gsi2pk(year, shard)))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":cutoff", s(keys::time(cutoff)))
            .limit(limit)
            .send()
            .await?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let meta: MetaItem = from_item(item)?;
                Ok(Due {
                    application: ApplicationKey { id: meta.federal_exchange_id, year: meta.plan_year },
                    position: meta.gsi2sk,
                })
            })
            .collect()
    }

    pub async fn scan_checkpoint(&self, year: PlanYear) -> Result<ScanCheckpoint, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(keys::PK, s(keys::scan_checkpoint_pk(year)))
            .key(keys::SK, s(keys::SCAN_CHECKPOINT_SK))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item.map(from_item::<CheckpointItem>).transpose()?.map(|item| item.checkpoint).unwrap_or_default())
    }

    pub async fn save_scan_checkpoint(&self, year: PlanYear, checkpoint: &ScanCheckpoint) -> Result<(), StoreError> {
        let item = CheckpointItem {
            pk: keys::scan_checkpoint_pk(year),
            sk: keys::SCAN_CHECKPOINT_SK.to_owned(),
            checkpoint: checkpoint.clone(),
        };
        self.client().put_item().table_name(self.table()).set_item(Some(to_item(&item)?)).send().await?;
        Ok(())
    }
}

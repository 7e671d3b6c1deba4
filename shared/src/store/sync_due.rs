//! Which applications are due for a marketplace re-sync, lane by lane (see `keys::DueLane`), and
//! where the scheduled scan is in its pass.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use aws_sdk_dynamodb::types::AttributeValue;

use super::applications::s;
use super::items::{MetaItem, from_item, to_item};
use super::keys::DueLane;
use super::{Store, StoreError, condition_failed, keys};
use crate::domain::ApplicationKey;
use crate::domain::PlanYear;

/// Where the scan is: the pass under way (if any), the lane and shard it is in, and the sync-due
/// key of the last application it took up there; and how many passes have ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCheckpoint {
    #[serde(default)]
    pub pass: Option<Pass>,
    #[serde(default = "first_lane")]
    pub lane: DueLane,
    pub shard: u32,
    pub position: Option<String>,
    #[serde(default)]
    pub passes_completed: u64,
}

/// One pass over the due list: its cut-off is fixed when it starts, so the pass ends — what was
/// synced during it moves past the cut-off, and nothing new can keep it going.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass {
    pub started_at: DateTime<Utc>,
    /// Applications last synced before this are due in this pass.
    pub cutoff: DateTime<Utc>,
}

/// The lane a pass starts in: the never-synced lane is taken at the start of every run instead.
fn first_lane() -> DueLane {
    DueLane::AtRisk
}

impl Default for ScanCheckpoint {
    fn default() -> Self {
        Self { pass: None, lane: first_lane(), shard: 0, position: None, passes_completed: 0 }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointItem {
    pk: String,
    sk: String,
    checkpoint: ScanCheckpoint,
}

/// One application due for a sync, with its place in the due list and what the scan needs to
/// record that the marketplace did not know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub application: ApplicationKey,
    pub position: String,
    /// The application's version as the index showed it.
    pub version: u64,
    pub unknown_count: u32,
}

impl Store {
    /// Up to `limit` applications of one lane of one shard due by `upto` (for the never-synced
    /// lane: all of them), in key order, after `after`.
    pub async fn due_for_sync(
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
            .client()
            .query()
            .table_name(self.table())
            .index_name(keys::GSI2)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :cutoff")
            .expression_attribute_names("#pk", keys::GSI2_PK)
            .expression_attribute_names("#sk", keys::GSI2_SK)
            .expression_attribute_values(":pk", s(keys::sync_due_gsi2pk(year, shard)))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":cutoff", s(cutoff))
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
                    version: meta.version,
                    unknown_count: meta.unknown_count,
                })
            })
            .collect()
    }

    /// Records that the marketplace did not know `due`'s application: it moves to the unknown
    /// lane until `ask_again_at`. Only while the application is as the index showed it: new
    /// evidence in between has put it where it belongs. Returns whether it was recorded.
    pub async fn record_unknown(&self, due: &Due, ask_again_at: DateTime<Utc>) -> Result<bool, StoreError> {
        let app = &due.application;
        let updated = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, s(keys::application_pk(app.year, &app.id)))
            .key(keys::SK, s(keys::META_SK))
            .update_expression("SET unknown_count = :count, #gsi2sk = :position")
            .condition_expression("version = :version")
            .expression_attribute_names("#gsi2sk", keys::GSI2_SK)
            .expression_attribute_values(":count", AttributeValue::N((due.unknown_count + 1).to_string()))
            .expression_attribute_values(
                ":position",
                s(keys::sync_due_gsi2sk(DueLane::Unknown, Some(ask_again_at), &app.id)),
            )
            .expression_attribute_values(":version", AttributeValue::N(due.version.to_string()))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
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

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
use ports::{self, Due, DueLane, DuePage, ScanCheckpoint};

/// An application's entry in the due list's index: its keys and what the index holds beside them
/// (`keys::SYNC_DUE_ATTRIBUTES`).
#[derive(Debug, Deserialize)]
struct DueEntry {
    pk: String,
    version: u64,
    #[serde(default)]
    unknown_count: u32,
    #[serde(default)]
    last_synced_micros: Option<i64>,
    gsi3sk: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointItem {
    pk: String,
    sk: String,
    checkpoint: ScanCheckpoint,
}

impl Store {
    /// Files the application item `pk` in the due list's index as this release keys it (since
    /// 2026-12-08: GSI3, by lane and id, the last sync beside the keys), out of the index ordered
    /// by last sync that releases before kept it in (GSI2). Only while the item is as read: a
    /// write in between has filed it itself. Returns whether it was filed; filing it again finds
    /// it filed.
    pub async fn file_in_due_list(&self, pk: &str) -> Result<bool, StoreError> {
        let Some(item) = self.get_item(pk.to_owned(), keys::META_SK).await? else { return Ok(false) };
        let old_key = item.get(keys::GSI2_SK).and_then(|v| v.as_s().ok()).cloned();
        let meta: MetaItem = from_item(item)?;
        let Some(old_key) = old_key.filter(|_| meta.gsi3pk.is_empty()) else { return Ok(false) };
        let app = ApplicationKey { id: meta.federal_exchange_id, year: meta.plan_year };
        // The lane is the old key's first digit; an unknown application's key was already
        // `3#{time to ask again}#{id}`, and a never-synced one's `0#{id}`.
        let position = match old_key.split('#').next() {
            Some("1") => keys::sync_due_sk(DueLane::AtRisk, meta.last_synced_at, &app.id),
            Some("2") => keys::sync_due_sk(DueLane::Stale, meta.last_synced_at, &app.id),
            _ => old_key,
        };
        // The last sync as the due list's filter compares it (a never-synced one has none).
        let synced = meta.last_synced_at.map(|at| at.timestamp_micros());
        let set_synced = if synced.is_some() { ", #synced = :synced" } else { "" };
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, text(pk))
            .key(keys::SK, text(keys::META_SK))
            .update_expression(format!("SET #gsi3pk = :shard, #gsi3sk = :position{set_synced} REMOVE #gsi2pk, #gsi2sk"))
            .condition_expression("version = :version")
            .expression_attribute_names("#gsi3pk", keys::GSI3_PK)
            .expression_attribute_names("#gsi3sk", keys::GSI3_SK)
            .expression_attribute_names("#gsi2pk", keys::GSI2_PK)
            .expression_attribute_names("#gsi2sk", keys::GSI2_SK)
            .expression_attribute_values(":shard", text(keys::sync_due_pk(app.year, keys::application_shard(&app.id))))
            .expression_attribute_values(":position", text(position))
            .expression_attribute_values(":version", number(meta.version));
        if let Some(micros) = synced {
            update = update
                .expression_attribute_names("#synced", keys::LAST_SYNCED_MICROS)
                .expression_attribute_values(":synced", number(micros));
        }
        match update.send().await {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(failed(err)),
        }
    }
}

impl ports::SyncDue for Store {
    fn due_parts(&self) -> u32 {
        keys::APPLICATION_SHARDS
    }

    /// Of the next `limit` applications of one lane of one shard after `after`, in key order,
    /// those due by `upto`: the at-risk and stale lanes filtered by the last sync (the index
    /// holds it), the unknown lane keyed by when to ask again, the never-synced lane all.
    async fn due_for_sync(
        &self,
        year: PlanYear,
        shard: u32,
        lane: DueLane,
        upto: DateTime<Utc>,
        after: Option<&str>,
        limit: i32,
    ) -> Result<DuePage, StoreError> {
        let (low, high) = keys::sync_due_range(lane, upto);
        // A position an earlier release saved (its keys held the last sync) is no place in this
        // lane: the shard is read again from its start.
        let after = after.filter(|position| keys::sync_due_position_is_current(lane, position));
        // BETWEEN is inclusive: the smallest string above `after` is `after` + U+0001.
        let from = after.map_or(low, |position| format!("{position}\u{1}"));
        let mut query =
            self.query(Index::Gsi3, keys::sync_due_pk(year, shard), SortKeys::Between(from, high)).limit(limit);
        if keys::sync_due_by_last_sync(lane) {
            query = query
                .filter_expression("#synced < :upto")
                .expression_attribute_names("#synced", keys::LAST_SYNCED_MICROS)
                .expression_attribute_values(":upto", number(upto.timestamp_micros()));
        }
        let out = query.send().await.map_err(failed)?;
        // Where the read stopped, whether or not what it read there was due.
        let next = match out.last_evaluated_key.as_ref() {
            None => None,
            Some(key) => Some(
                key.get(keys::GSI3_SK)
                    .and_then(|sk| sk.as_s().ok())
                    .cloned()
                    .ok_or_else(|| StoreError::Decode("a due-list page's last key has no sort key".into()))?,
            ),
        };
        let due = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let entry: DueEntry = from_item(item)?;
                let application = keys::application_of(&entry.pk)
                    .ok_or_else(|| StoreError::Decode(format!("a due-list entry keyed {}", entry.pk).into()))?;
                Ok(Due {
                    application,
                    lane,
                    last_synced_at: entry.last_synced_micros.and_then(DateTime::from_timestamp_micros),
                    position: entry.gsi3sk,
                    version: entry.version,
                    unknown_count: entry.unknown_count,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(DuePage { due, next })
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
            .update_expression("SET unknown_count = :count, #position = :position")
            .condition_expression("version = :version")
            .expression_attribute_names("#position", keys::GSI3_SK)
            .expression_attribute_values(":count", number(due.unknown_count + 1))
            .expression_attribute_values(
                ":position",
                text(keys::sync_due_sk(DueLane::Unknown, Some(ask_again_at), &app.id)),
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

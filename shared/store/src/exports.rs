//! Export jobs: created once per idempotency key, claimed by one builder at a time with a lease,
//! progress written as the file grows, and the email sent once.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dynamo::{Index, SortKeys, condition_failed, number, retry_on_conflict, text};
use super::dynamo::{failed, unbuilt};
use super::items::{from_item, to_item};
use super::{Store, StoreError, keys};
use domain::{ExportId, ExportJob, ExportStatus, Succeeded};
use ports::{self, Claim};

/// An export job as stored: the job and its keys (the export's own, and its requester's list).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExportItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    /// Set while the export is not finished or its requester not told yet (the open exports'
    /// index); the email sent (or given up on) removes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    #[serde(flatten)]
    job: ExportJob,
}

impl ExportItem {
    fn of(job: &ExportJob) -> Self {
        let open = matches!(job.status, ExportStatus::Queued | ExportStatus::Running);
        Self {
            pk: keys::export_pk(job.export_id.as_str()),
            sk: keys::EXPORT_SK.to_owned(),
            gsi1pk: keys::requester_gsi1pk(&job.requester),
            gsi1sk: keys::requester_gsi1sk(job.created_at, job.export_id.as_str()),
            gsi2pk: open.then(|| keys::OPEN_EXPORTS_GSI2PK.to_owned()),
            gsi2sk: open.then(|| keys::open_export_gsi2sk(job.created_at, job.export_id.as_str())),
            job: job.clone(),
        }
    }
}

fn job_of(item: super::items::Item) -> Result<ExportJob, StoreError> {
    from_item::<ExportItem>(item).map(|stored| stored.job)
}

#[derive(Debug, Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    sk: String,
    export_id: ExportId,
    /// Epoch seconds: the key means nothing from then on (the table's TTL removes it some time
    /// after, up to days later: reads and writes go by this time, not by the item being there).
    expires_at: i64,
}

impl Store {
    /// The export an idempotency key made, while the key lives at `now`.
    async fn export_of_key(
        &self,
        requester: &str,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ExportJob>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::idempotency_pk(requester, key)))
            .key(keys::SK, text(keys::IDEMPOTENCY_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed)?;
        let item = out.item.map(from_item::<IdempotencyItem>).transpose()?;
        let Some(earlier) = item.filter(|key| key.expires_at > now.timestamp()) else { return Ok(None) };
        self.export_job(&earlier.export_id).await
    }

    /// An export job as it stands, read consistently.
    pub async fn export_job(&self, export_id: &ExportId) -> Result<Option<ExportJob>, StoreError> {
        self.get_item(keys::export_pk(export_id.as_str()), keys::EXPORT_SK).await?.map(job_of).transpose()
    }

    /// Sets attributes of an export, only while attempt `attempt` still holds it.
    async fn set_export(
        &self,
        id: &ExportId,
        attempt: u32,
        assignments: &[(&str, AttributeValue)],
        removals: &[&str],
    ) -> Result<(), StoreError> {
        let mut expression = String::new();
        let mut request = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::export_pk(id.as_str())))
            .key(keys::SK, text(keys::EXPORT_SK))
            .condition_expression("attempt = :attempt")
            .expression_attribute_values(":attempt", number(attempt));
        if !assignments.is_empty() {
            let sets: Vec<String> = (0..assignments.len()).map(|i| format!("#a{i} = :v{i}")).collect();
            expression.push_str(&format!("SET {}", sets.join(", ")));
            for (i, (name, value)) in assignments.iter().enumerate() {
                request = request
                    .expression_attribute_names(format!("#a{i}"), *name)
                    .expression_attribute_values(format!(":v{i}"), value.clone());
            }
        }
        if !removals.is_empty() {
            let names: Vec<String> = (0..removals.len()).map(|i| format!("#r{i}")).collect();
            expression.push_str(&format!(" REMOVE {}", names.join(", ")));
            for (i, name) in removals.iter().enumerate() {
                request = request.expression_attribute_names(format!("#r{i}"), *name);
            }
        }
        match request.update_expression(expression).send().await {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Err(StoreError::Conflict),
            Err(err) => Err(failed(err)),
        }
    }

    async fn close_export(&self, id: &ExportId, expression: &str, at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::export_pk(id.as_str())))
            .key(keys::SK, text(keys::EXPORT_SK))
            .update_expression(expression)
            .set_expression_attribute_values(at.map(|at| [(":at".to_owned(), text(keys::time(at)))].into()))
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }
}

impl ports::ExportRequests for Store {
    /// Records a new export, under an idempotency key if one is given. When the key was used
    /// within the day before (`expires_at`), nothing is written and the export it made is
    /// returned instead — also to requests racing with the same key. An expired key is written
    /// over, whether or not the TTL has removed it yet.
    async fn create_export(&self, job: &ExportJob, idempotency_key: Option<&str>) -> Result<ExportJob, StoreError> {
        let mut writes = vec![
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(self.table())
                        .set_item(Some(to_item(&ExportItem::of(job))?))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .map_err(unbuilt)?,
                )
                .build(),
        ];
        if let Some(key) = idempotency_key {
            let item = IdempotencyItem {
                pk: keys::idempotency_pk(&job.requester, key),
                sk: keys::IDEMPOTENCY_SK.to_owned(),
                export_id: job.export_id.clone(),
                expires_at: (job.created_at + chrono::Duration::days(1)).timestamp(),
            };
            writes.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(self.table())
                            .set_item(Some(to_item(&item)?))
                            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                            .expression_attribute_values(":now", number(job.created_at.timestamp()))
                            .build()
                            .map_err(unbuilt)?,
                    )
                    .build(),
            );
        }
        let Some(key) = idempotency_key else { return self.transact(writes).await.map(|()| job.clone()) };
        // Two requests with one key at once: one transaction lands, the other is cancelled — at
        // once, or while the first is still under way (then the key is not readable yet: try again).
        let writes = &writes;
        retry_on_conflict(|_| async move {
            match self.transact(writes.clone()).await {
                Err(StoreError::Conflict) => {
                    self.export_of_key(&job.requester, key, job.created_at).await?.ok_or(StoreError::Conflict)
                }
                other => other.map(|()| job.clone()),
            }
        })
        .await
    }

    /// A requester's most recent exports, newest first.
    async fn exports_of(&self, requester: &str, limit: i32) -> Result<Vec<ExportJob>, StoreError> {
        let out = self
            .query(Index::Gsi1, keys::requester_gsi1pk(requester), SortKeys::All)
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(failed)?;
        out.items.unwrap_or_default().into_iter().map(job_of).collect()
    }

    async fn export(&self, id: &ExportId) -> Result<Option<ExportJob>, StoreError> {
        self.export_job(id).await
    }
}

impl ports::ExportBuilds for Store {
    /// Takes an export for building until `lease_until`, if nobody else holds a live lease on it.
    async fn claim_export(
        &self,
        export_id: &ExportId,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::export_pk(export_id.as_str())))
            .key(keys::SK, text(keys::EXPORT_SK))
            .update_expression(
                "SET #status = :running, lease_until = :lease, started_at = if_not_exists(started_at, :now) ADD attempt :one",
            )
            .condition_expression(
                "attribute_exists(pk) AND (#status = :queued OR (#status = :running AND lease_until < :now))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", text(ExportStatus::Running.as_str()))
            .expression_attribute_values(":queued", text(ExportStatus::Queued.as_str()))
            .expression_attribute_values(":lease", text(keys::time(lease_until)))
            .expression_attribute_values(":now", text(keys::time(now)))
            .expression_attribute_values(":one", number(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let job = job_of(out.attributes.unwrap_or_default())?;
                let attempt = job.attempt;
                Ok(Claim::Claimed { job: Box::new(job), attempt })
            }
            Err(err) if condition_failed(&err) => Ok(match self.export_job(export_id).await? {
                None => Claim::Missing,
                Some(job) if matches!(job.status, ExportStatus::Succeeded | ExportStatus::Failed) => {
                    Claim::Finished(Box::new(job))
                }
                Some(_) => Claim::Busy,
            }),
            Err(err) => Err(failed(err)),
        }
    }

    /// Records the multipart upload a build writes into, so that one that dies is cleaned up after.
    async fn record_upload(&self, id: &ExportId, attempt: u32, upload_id: &str) -> Result<(), StoreError> {
        self.set_export(id, attempt, &[("upload_id", text(upload_id))], &[]).await
    }

    /// Forgets the upload, once aborted.
    async fn forget_upload(&self, id: &ExportId, attempt: u32) -> Result<(), StoreError> {
        self.set_export(id, attempt, &[], &["upload_id"]).await
    }

    /// Records how many rows the file holds so far, for the page's progress.
    async fn record_progress(&self, id: &ExportId, attempt: u32, rows: u64) -> Result<(), StoreError> {
        self.set_export(id, attempt, &[("rows_written", number(rows))], &[]).await
    }

    /// The file is complete: `succeeded`, where it is and until when.
    async fn mark_succeeded(&self, id: &ExportId, attempt: u32, done: &Succeeded) -> Result<(), StoreError> {
        let assignments = [
            ("status", text(ExportStatus::Succeeded.as_str())),
            ("rows_written", number(done.rows)),
            ("completed_at", text(keys::time(done.completed_at))),
            ("object_key", text(&done.object_key)),
            ("file_expires_at", text(keys::time(done.file_expires_at))),
            // Open until its requester is told (`email_sent`), among the finished.
            (keys::GSI2_PK, text(keys::UNTOLD_EXPORTS_GSI2PK)),
        ];
        self.set_export(id, attempt, &assignments, &["upload_id", "lease_until"]).await
    }

    /// The export cannot be built: `failed`, with a reason its requester can read.
    async fn mark_failed(
        &self,
        id: &ExportId,
        attempt: u32,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let assignments = [
            ("status", text(ExportStatus::Failed.as_str())),
            ("error", text(reason)),
            ("completed_at", text(keys::time(at))),
            (keys::GSI2_PK, text(keys::UNTOLD_EXPORTS_GSI2PK)),
        ];
        self.set_export(id, attempt, &assignments, &["lease_until"]).await
    }

    /// Takes the right to send an export's email; false when it was sent (or is being sent).
    async fn claim_email(&self, export_id: &ExportId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::export_pk(export_id.as_str())))
            .key(keys::SK, text(keys::EXPORT_SK))
            .update_expression("SET emailed_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(emailed_at)")
            .expression_attribute_values(":now", text(keys::time(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(failed(err)),
        }
    }

    /// Gives the right to send the email back, when sending failed.
    async fn release_email(&self, export_id: &ExportId) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::export_pk(export_id.as_str())))
            .key(keys::SK, text(keys::EXPORT_SK))
            .update_expression("REMOVE emailed_at")
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }

    /// The requester was told: the export leaves the open exports.
    async fn email_sent(&self, export_id: &ExportId) -> Result<(), StoreError> {
        self.close_export(export_id, "REMOVE gsi2pk, gsi2sk", None).await
    }

    /// The requester could not be told for a day: marked, and out of the open exports.
    async fn give_up_email(&self, export_id: &ExportId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.close_export(export_id, "SET not_notified_at = :at REMOVE gsi2pk, gsi2sk", Some(at)).await
    }

    /// Up to `limit` exports not finished yet that were asked for before `created_before`,
    /// oldest first: what the sweep looks at.
    /// Up to `limit` exports not finished, and up to `limit` finished whose requester is not told
    /// yet (each in its own part of the index, so a backlog of one never hides the other).
    async fn open_exports(&self, created_before: DateTime<Utc>, limit: i32) -> Result<Vec<ExportJob>, StoreError> {
        let mut jobs = Vec::new();
        for part in [keys::OPEN_EXPORTS_GSI2PK, keys::UNTOLD_EXPORTS_GSI2PK] {
            let out = self
                .query(Index::Gsi2, part, SortKeys::Below(keys::time(created_before)))
                .limit(limit)
                .send()
                .await
                .map_err(failed)?;
            for item in out.items.unwrap_or_default() {
                jobs.push(job_of(item)?);
            }
        }
        Ok(jobs)
    }

    async fn export(&self, id: &ExportId) -> Result<Option<ExportJob>, StoreError> {
        self.export_job(id).await
    }
}

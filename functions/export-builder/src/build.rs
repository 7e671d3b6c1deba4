//! Building one export: claim it, stream its rows into an S3 multipart upload part by part (the
//! file is never whole in memory), record progress as it goes, then mark it done and email the
//! requester once.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use chrono::Utc;
use shared::domain::ArchivedFilter;
use shared::domain::ExportId;
use shared::domain::PlanYear;
use shared::domain::Scope;
use shared::domain::{ExportJob, ExportScope, ExportStatus, Succeeded};
use shared::metrics;
use shared::ports::Claim;
use shared::ports::StoreError;
use shared::ports::{Directory, DisputeCases, ExportBuilds, RiskLists};

/// The store's capabilities a build uses: the export job, the rows (or the dispute cases), and
/// whether its agency exists.
pub trait Ports: ExportBuilds + RiskLists + Directory + DisputeCases {}
impl<S: ExportBuilds + RiskLists + Directory + DisputeCases> Ports for S {}

use crate::csv_rows::{Layout, RowWriter};
use crate::email;
use crate::settings::Settings;

/// The upload's part size: S3's smallest (but the last), so memory holds one part at most.
pub const PART_SIZE: usize = 5 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct Deps<S> {
    pub store: S,
    pub s3: aws_sdk_s3::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub dead_letters: shared::queue::Queue,
    /// The exports queue itself: the sweep queues again an export whose message was lost.
    pub exports_queue: shared::queue::Queue,
    pub settings: Settings,
}

/// How one delivery ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Built, with the number of rows and of items read from the table to get them.
    Built { rows: u64, items_read: u64 },
    /// Finished before (a duplicate delivery): nothing to do.
    AlreadyDone,
    /// Another builder holds it: try again later.
    Busy,
}

/// Why a build stopped. All but `Permanent` are passing: another delivery tries again.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Retrying cannot help; the reason is for the requester to read.
    #[error("{0}")]
    Permanent(String),
    #[error("the table")]
    Table(#[from] StoreError),
    #[error("storage: {context}")]
    Storage {
        context: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("the email could not be sent")]
    Email(#[source] aws_sdk_sesv2::Error),
    #[error("the export could not be queued")]
    Queue(#[source] aws_sdk_sqs::Error),
}

impl BuildError {
    /// What to log: the whole chain of causes, except an email's, whose service may quote the
    /// address it was sent to.
    pub fn log_text(&self) -> String {
        match self {
            Self::Email(_) => self.to_string(),
            other => shared::telemetry::chain(other),
        }
    }
}

fn s3_error(err: impl std::error::Error + Send + Sync + 'static) -> BuildError {
    let context = aws_sdk_s3::error::DisplayErrorContext(&err).to_string();
    BuildError::Storage { context, source: Some(Box::new(err)) }
}

/// Builds the export, or finds it built, or finds someone else building it.
pub async fn build<S: Ports>(deps: &Deps<S>, export_id: &ExportId) -> Result<Outcome, BuildError> {
    let now = Utc::now();
    let lease_until = now + chrono::Duration::from_std(deps.settings.lease).unwrap_or(chrono::Duration::minutes(15));
    let (job, attempt) = match deps.store.claim_export(export_id, now, lease_until).await? {
        Claim::Missing => return Err(BuildError::Permanent("there is no such export".into())),
        Claim::Busy => return Ok(Outcome::Busy),
        Claim::Finished(job) => {
            // Finished, but perhaps the email did not go out: send it now, still only once.
            send_email_once(deps, &job).await?;
            return Ok(Outcome::AlreadyDone);
        }
        Claim::Claimed { job, attempt } => (*job, attempt),
    };
    tracing::info!(%export_id, attempt, "building export");

    // A builder before this one died mid-upload: clean up after it.
    if let Some(stale) = &job.upload_id {
        abort_upload(deps, &object_key(export_id), stale).await;
    }
    let (scope, layout) = scope_of(deps, &job).await?;
    let key = object_key(export_id);
    let upload = deps
        .s3
        .create_multipart_upload()
        .bucket(&deps.settings.bucket)
        .key(&key)
        .content_type("text/csv; charset=utf-8")
        .content_disposition(format!("attachment; filename=\"aor-at-risk-{export_id}.csv\""))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .map_err(s3_error)?;
    let upload_id = upload
        .upload_id
        .ok_or_else(|| BuildError::Storage { context: "storage gave no upload id".into(), source: None })?;
    deps.store.record_upload(export_id, attempt, &upload_id).await?;

    match write_rows(deps, &job, attempt, &scope, layout, &key, &upload_id).await {
        Ok((rows, items_read)) => {
            let completed_at = Utc::now();
            let expires = completed_at + chrono::Duration::days(deps.settings.retention_days);
            let done = Succeeded { rows, completed_at, object_key: key, file_expires_at: expires };
            deps.store.mark_succeeded(export_id, attempt, &done).await?;
            // What the requester waited, from the request to the file ready (printed before the
            // email, which a retry sends without building again).
            metrics::Line::new()
                .duration(metrics::EXPORT_DURATION, completed_at - job.created_at)
                .count(metrics::EXPORT_ROWS, rows)
                .emit();
            let done = deps.store.export(export_id).await?.ok_or(StoreError::Conflict)?;
            send_email_once(deps, &done).await?;
            tracing::info!(%export_id, rows, items_read, "export built");
            Ok(Outcome::Built { rows, items_read })
        }
        Err(err) => {
            if abort_upload(deps, &key, &upload_id).await
                && let Err(forget) = deps.store.forget_upload(export_id, attempt).await
            {
                // The next builder aborts it again (harmless) before starting its own.
                tracing::warn!(%export_id, error = %forget, "could not forget the aborted upload");
            }
            Err(err)
        }
    }
}

async fn scope_of<S: Ports>(deps: &Deps<S>, job: &ExportJob) -> Result<(Scope, Layout), BuildError> {
    // Asked for in the past: the requester may since have been demoted or moved, or their agency
    // may have turned agent exports off.
    if !shared::ports::export_still_allowed(&deps.store, job).await? {
        return Err(BuildError::Permanent(
            "you are no longer allowed this export (your role, agency or its settings changed)".into(),
        ));
    }
    Ok(match &job.scope {
        ExportScope::Agent { agent_id } => (Scope::Agent(agent_id.clone()), Layout::Agent),
        ExportScope::Agency { agency_id } | ExportScope::Disputes { agency_id } => {
            if deps.store.agency(agency_id).await?.is_none() {
                return Err(BuildError::Permanent("the agency of this export no longer exists".into()));
            }
            let layout =
                if matches!(job.scope, ExportScope::Agency { .. }) { Layout::Agency } else { Layout::Disputes };
            (Scope::Agency(agency_id.clone()), layout)
        }
    })
}

/// Streams every at-risk row of the scope, newest first, into the upload; returns the row count
/// and the items read for them.
async fn write_rows<S: Ports>(
    deps: &Deps<S>,
    job: &ExportJob,
    attempt: u32,
    scope: &Scope,
    layout: Layout,
    key: &str,
    upload_id: &str,
) -> Result<(u64, u64), BuildError> {
    let year = PlanYear::parse(job.plan_year).map_err(|e| BuildError::Permanent(e.to_string()))?;
    let mut writer = RowWriter::new(layout, &deps.settings.client_details_base_url);
    let mut parts = Vec::new();
    let mut rows = 0u64;
    let mut items_read = 0u64;
    if layout == Layout::Disputes {
        // A tree's cases are few (people open them one by one): read at once, written in one go.
        let Scope::Agency(agency) = scope else {
            return Err(BuildError::Permanent("a dispute export is an agency's".into()));
        };
        let cases = shared::ports::tree_cases(&deps.store, agency).await?;
        let now = Utc::now();
        let mut names = std::collections::HashMap::new();
        for case in cases.iter().filter(|case| case.plan_year == year) {
            if !names.contains_key(&case.agent_id) {
                let name = deps.store.agent(&case.agent_id).await?.map(|a| a.name.to_string());
                names.insert(case.agent_id.clone(), name);
            }
            let name = names.get(&case.agent_id).cloned().flatten();
            writer.write_dispute(case, name.as_deref(), now);
            rows += 1;
        }
        items_read = u64::try_from(cases.len()).unwrap_or(u64::MAX);
    } else {
        let mut progress_at = 0u64;
        let mut after: Option<String> = None;
        loop {
            let page = deps
                .store
                .risk_page(scope, year, ArchivedFilter::Include, deps.settings.page_size, after.as_deref())
                .await?;
            for entry in &page.entries {
                writer.write(entry);
            }
            rows += page.entries.len() as u64;
            items_read += u64::try_from(page.items_read).unwrap_or(0);
            if writer.buffered() >= PART_SIZE {
                upload_part(deps, key, upload_id, &mut parts, writer.take()).await?;
            }
            if rows - progress_at >= 1000 {
                deps.store.record_progress(&job.export_id, attempt, rows).await?;
                progress_at = rows;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    // The last part may be small; a header-only file is one small part.
    upload_part(deps, key, upload_id, &mut parts, writer.take()).await?;
    deps.s3
        .complete_multipart_upload()
        .bucket(&deps.settings.bucket)
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .map_err(s3_error)?;
    Ok((rows, items_read))
}

async fn upload_part<S: Ports>(
    deps: &Deps<S>,
    key: &str,
    upload_id: &str,
    parts: &mut Vec<CompletedPart>,
    bytes: Vec<u8>,
) -> Result<(), BuildError> {
    let number = i32::try_from(parts.len() + 1).map_err(|_| BuildError::Permanent("too many parts".into()))?;
    let out = deps
        .s3
        .upload_part()
        .bucket(&deps.settings.bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(s3_error)?;
    parts.push(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag).build());
    Ok(())
}

/// Marks an export failed, with a reason a person can read, and tells the requester.
pub async fn fail<S: Ports>(deps: &Deps<S>, export_id: &ExportId, reason: &str) -> Result<(), BuildError> {
    let Some(job) = deps.store.export(export_id).await? else { return Ok(()) };
    if matches!(job.status, ExportStatus::Succeeded | ExportStatus::Failed) {
        return Ok(());
    }
    deps.store.mark_failed(export_id, job.attempt, reason, Utc::now()).await?;
    metrics::Line::new().count(metrics::EXPORTS_FAILED, 1).emit();
    let failed = deps.store.export(export_id).await?.ok_or(StoreError::Conflict)?;
    send_email_once(deps, &failed).await
}

async fn send_email_once<S: Ports>(deps: &Deps<S>, job: &ExportJob) -> Result<(), BuildError> {
    // An agency export's email names the agency as the directory does now (read before the
    // claim: a failed read leaves no claim for the sweep to wait out).
    let agency_name = match &job.scope {
        ExportScope::Agency { agency_id } | ExportScope::Disputes { agency_id } => {
            deps.store.agency(agency_id).await?.map(|a| a.name.to_string())
        }
        ExportScope::Agent { .. } => None,
    };
    if !deps.store.claim_email(&job.export_id, Utc::now()).await? {
        return Ok(());
    }
    let message = email::compose(job, agency_name.as_deref(), &deps.settings.web_base_url);
    if let Err(err) = email::send(&deps.ses, &deps.settings.sender, &job.email, &message).await {
        deps.store.release_email(&job.export_id).await?;
        return Err(BuildError::Email(err));
    }
    tracing::info!(export_id = %job.export_id, status = job.status.as_str(), "export email sent");
    // Until this lands the export stays open, and the sweep tells its requester again.
    deps.store.email_sent(&job.export_id).await?;
    Ok(())
}

pub fn object_key(export_id: &ExportId) -> String {
    format!("exports/{export_id}.csv")
}

/// Aborts a multipart upload; true once aborted. One that cannot be aborted is logged and left
/// to the bucket's lifecycle rule, which removes incomplete uploads after a day.
async fn abort_upload<S: Ports>(deps: &Deps<S>, key: &str, upload_id: &str) -> bool {
    let aborted =
        deps.s3.abort_multipart_upload().bucket(&deps.settings.bucket).key(key).upload_id(upload_id).send().await;
    match aborted {
        Ok(_) => true,
        Err(err) => {
            let error = aws_sdk_s3::error::DisplayErrorContext(&err).to_string();
            tracing::warn!(key, error, "could not abort an upload; the bucket's lifecycle rule will remove it");
            false
        }
    }
}

/// Whether this delivery is the last one SQS makes before the dead-letter queue.
pub fn last_delivery(receive_count: u32, max_receives: u32) -> bool {
    receive_count >= max_receives
}

//! The exports sweep, on a schedule: every export ends, whatever killed its build. An export
//! recorded but never queued (the request's queue send failed) or whose message was lost is
//! queued again, and failed once it has waited a day; one whose builds were all killed (its
//! deliveries spent, its lease lapsed: it would stay `running` for ever) is marked failed and its
//! requester told, once. A finished export whose requester was never told (the email service
//! failed through every delivery) is queued again, which sends the email, until a day has passed;
//! then it is marked not notified, and the `ExportsNotNotified` alarm tells an operator.

use chrono::{DateTime, Utc};
use shared::domain::{ExportJob, ExportStatus};
use shared::metrics;

use crate::build::{self, BuildError, Deps, Ports};

/// How long an export may wait `queued` before the sweep queues it again: the queue's own
/// redeliveries and a busy builder take less.
pub const QUEUED_GRACE: chrono::Duration = chrono::Duration::minutes(15);
/// How long an export may wait to be started at all before it is failed, and a finished one's
/// email be tried before it is given up.
pub const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::hours(24);
/// How long an email's sender may hold its claim before the sweep takes it back (it died, or
/// died after sending: then the requester may get the email twice, never none).
pub const EMAIL_CLAIM_GRACE: chrono::Duration = chrono::Duration::minutes(15);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub queued_again: u32,
    pub failed: u32,
    /// Finished exports queued again to tell their requester.
    pub emails_again: u32,
    /// Finished exports whose requester could not be told within a day.
    pub not_notified: u32,
}

/// What the sweep does with one open export at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Nothing,
    QueueAgain,
    Fail(&'static str),
    /// Finished, its requester not told: take back a lapsed claim and queue it again (its build
    /// finds it done and sends the email).
    EmailAgain,
    GiveUpEmail,
}

/// The rule, on its own: plain data in, a decision out.
pub fn action(job: &ExportJob, now: DateTime<Utc>, max_receives: u32) -> Action {
    match job.status {
        ExportStatus::Queued if job.created_at < now - GIVE_UP_AFTER => {
            Action::Fail("the export could not be started; ask for a new one")
        }
        ExportStatus::Queued if job.created_at < now - QUEUED_GRACE => Action::QueueAgain,
        ExportStatus::Running if job.attempt >= max_receives && job.lease_until.is_none_or(|lease| lease < now) => {
            Action::Fail("the export could not be built after several tries")
        }
        ExportStatus::Queued | ExportStatus::Running => Action::Nothing,
        ExportStatus::Succeeded | ExportStatus::Failed => match job.emailed_at {
            Some(claimed) if claimed > now - EMAIL_CLAIM_GRACE => Action::Nothing,
            _ if job.created_at < now - GIVE_UP_AFTER => Action::GiveUpEmail,
            _ => Action::EmailAgain,
        },
    }
}

/// One sweep over the oldest open exports (up to 100 a run; the schedule comes back).
pub async fn sweep<S: Ports>(deps: &Deps<S>, now: DateTime<Utc>) -> Result<SweepReport, BuildError> {
    let mut report = SweepReport::default();
    for job in deps.store.open_exports(now - QUEUED_GRACE, 100).await? {
        match action(&job, now, deps.settings.max_receives) {
            Action::Nothing => {}
            Action::QueueAgain => {
                queue_again(deps, &job).await?;
                tracing::warn!(export_id = %job.export_id, "export waiting too long; queued again");
                report.queued_again += 1;
            }
            Action::EmailAgain => {
                if job.emailed_at.is_some() {
                    deps.store.release_email(&job.export_id).await?;
                }
                queue_again(deps, &job).await?;
                tracing::warn!(export_id = %job.export_id, "export finished but its requester not told; queued again");
                report.emails_again += 1;
            }
            Action::GiveUpEmail => {
                tracing::error!(export_id = %job.export_id, "export's requester could not be told for a day; given up");
                deps.store.give_up_email(&job.export_id, now).await?;
                report.not_notified += 1;
            }
            Action::Fail(reason) => {
                tracing::warn!(export_id = %job.export_id, reason, "export never finished; marked failed");
                build::fail(deps, &job.export_id, reason).await?;
                report.failed += 1;
            }
        }
    }
    if report.not_notified > 0 {
        metrics::Line::new().count(metrics::EXPORTS_NOT_NOTIFIED, u64::from(report.not_notified)).emit();
    }
    Ok(report)
}

async fn queue_again<S: Ports>(deps: &Deps<S>, job: &ExportJob) -> Result<(), BuildError> {
    let message = serde_json::json!({ "export_id": job.export_id }).to_string();
    deps.exports_queue.send(message).await.map_err(BuildError::Queue)
}

#[cfg(test)]
mod tests {
    use shared::domain::{AgentId, Email, ExportId, ExportScope};

    use super::*;

    fn job(status: ExportStatus, age_minutes: i64, attempt: u32, lease_in_minutes: Option<i64>) -> ExportJob {
        let now = Utc::now();
        let mut job = ExportJob::new(
            ExportId::parse("exp-1").unwrap(),
            "sub".into(),
            AgentId::parse("ana").unwrap(),
            Email::parse("ana@example.com").unwrap(),
            ExportScope::Agent { agent_id: AgentId::parse("ana").unwrap() },
            2026,
            now - chrono::Duration::minutes(age_minutes),
        );
        job.status = status;
        job.attempt = attempt;
        job.lease_until = lease_in_minutes.map(|m| now + chrono::Duration::minutes(m));
        job
    }

    #[test]
    fn every_export_left_behind_ends() {
        let now = Utc::now();
        let decide = |job: &ExportJob| action(job, now, 3);
        assert_eq!(decide(&job(ExportStatus::Queued, 5, 0, None)), Action::Nothing, "still on its way");
        assert_eq!(decide(&job(ExportStatus::Queued, 20, 0, None)), Action::QueueAgain, "never queued");
        assert!(matches!(decide(&job(ExportStatus::Queued, 60 * 25, 0, None)), Action::Fail(_)), "a day");
        assert_eq!(decide(&job(ExportStatus::Running, 30, 1, Some(-1))), Action::Nothing, "SQS delivers again");
        assert_eq!(decide(&job(ExportStatus::Running, 30, 3, Some(5))), Action::Nothing, "its last build runs");
        assert!(matches!(decide(&job(ExportStatus::Running, 30, 3, Some(-1))), Action::Fail(_)), "all killed");
        let emailed = |status, age, claimed_minutes_ago: i64| {
            let mut job = job(status, age, 1, None);
            job.emailed_at = Some(now - chrono::Duration::minutes(claimed_minutes_ago));
            job
        };
        assert_eq!(decide(&emailed(ExportStatus::Succeeded, 30, 1)), Action::Nothing, "its email is being sent");
        assert_eq!(decide(&job(ExportStatus::Succeeded, 30, 1, None)), Action::EmailAgain, "its email failed");
        assert_eq!(decide(&emailed(ExportStatus::Failed, 30, 20)), Action::EmailAgain, "its sender died");
        assert_eq!(decide(&job(ExportStatus::Succeeded, 60 * 25, 1, None)), Action::GiveUpEmail, "a day");
    }
}

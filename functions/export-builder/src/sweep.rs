//! The exports sweep, on a schedule: every export ends, whatever killed its build. An export
//! recorded but never queued (the request's queue send failed) or whose message was lost is
//! queued again, and failed once it has waited a day; one whose builds were all killed (its
//! deliveries spent, its lease lapsed: it would stay `running` for ever) is marked failed and its
//! requester told, once.

use chrono::{DateTime, Utc};
use shared::domain::{ExportJob, ExportStatus};

use crate::build::{self, BuildError, Deps, Ports};

/// How long an export may wait `queued` before the sweep queues it again: the queue's own
/// redeliveries and a busy builder take less.
pub const QUEUED_GRACE: chrono::Duration = chrono::Duration::minutes(15);
/// How long an export may wait to be started at all before it is failed.
pub const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::hours(24);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub queued_again: u32,
    pub failed: u32,
}

/// What the sweep does with one open export at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Nothing,
    QueueAgain,
    Fail(&'static str),
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
        _ => Action::Nothing,
    }
}

/// One sweep over the oldest open exports (up to 100 a run; the schedule comes back).
pub async fn sweep<S: Ports>(deps: &Deps<S>, now: DateTime<Utc>) -> Result<SweepReport, BuildError> {
    let mut report = SweepReport::default();
    for job in deps.store.open_exports(now - QUEUED_GRACE, 100).await? {
        match action(&job, now, deps.settings.max_receives) {
            Action::Nothing => {}
            Action::QueueAgain => {
                let message = serde_json::json!({ "export_id": job.export_id }).to_string();
                deps.exports_queue.send(message).await.map_err(BuildError::Queue)?;
                tracing::warn!(export_id = %job.export_id, "export waiting too long; queued again");
                report.queued_again += 1;
            }
            Action::Fail(reason) => {
                tracing::warn!(export_id = %job.export_id, reason, "export never finished; marked failed");
                build::fail(deps, &job.export_id, reason).await?;
                report.failed += 1;
            }
        }
    }
    Ok(report)
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
        assert_eq!(decide(&job(ExportStatus::Succeeded, 30, 3, None)), Action::Nothing);
    }
}

//! One run of the digest: from the day's digest hour on, the subscribers a page at a time from
//! where the day's last run stopped (its checkpoint), each person's digest claimed, read, sent and
//! marked (`store::digests`), until all are done or the run's time is up. Safe to run twice at
//! once or again after a crash: each person's day is claimed once.

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Timelike, Utc};
use shared::domain::{AgentId, DIGEST_ENTRIES, DigestScope, digest_day};
use shared::store::StoreError;
use shared::store::digests::{DayClaim, DigestOutcome, DigestRun, PersonSettingsItem};
use shared::store::keys::Scope;

use crate::app::Deps;
use crate::email::{self, Whose};

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the digest email could not be sent: {0}")]
    Send(String),
    #[error("a digest task failed: {0}")]
    Task(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestReport {
    /// Subscribers this run went through.
    pub people: u32,
    pub sent: u32,
    /// Claimed, but nothing was flagged for them since their last digest: no email.
    pub nothing_new: u32,
    /// Whether the day's digests are all done.
    pub done: bool,
}

/// How a person's digest went in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    NothingNew,
    /// Done already today, held by another run, turned off, or not in the directory.
    Skipped,
}

/// How long a run holds a person's day: far longer than one digest takes.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// How long a run may go on: its budget, and never closer than 60 s to the Lambda's deadline.
pub fn deadline(budget: Duration, lambda_deadline: Option<SystemTime>) -> Instant {
    let by_budget = Instant::now() + budget;
    let by_lambda = lambda_deadline
        .and_then(|at| at.duration_since(SystemTime::now()).ok())
        .map(|left| Instant::now() + left.saturating_sub(Duration::from_secs(60)));
    by_lambda.map_or(by_budget, |lambda| lambda.min(by_budget))
}

pub async fn run(deps: &Deps, now: DateTime<Utc>, until: Instant) -> Result<DigestReport, DigestError> {
    let mut report = DigestReport::default();
    if now.hour() < deps.settings.hour_utc {
        return Ok(report);
    }
    let day = digest_day(now);
    let mut progress = deps.store.digest_run(day).await?;
    // What the digests of this run name: flagged up to a settled moment, the next day's start.
    let through = now - deps.settings.settle;
    while !progress.done {
        let (people, more) =
            deps.store.digest_subscribers(progress.position.as_deref(), deps.settings.page_size).await?;
        for group in people.chunks(deps.settings.concurrency) {
            let mut tasks = tokio::task::JoinSet::new();
            for person in group {
                let (deps, agent) = (deps.clone(), person.agent_id.clone());
                tasks.spawn(async move { digest(&deps, &agent, day, now, through).await });
            }
            // Every task ends before a failure is reported: none is cut off between sending an
            // email and marking it sent. The page is then done again by the next run (its
            // checkpoint is not saved); those already done are skipped.
            let mut failure = None;
            while let Some(done) = tasks.join_next().await {
                match done.map_err(|e| DigestError::Task(e.to_string())).and_then(|outcome| outcome) {
                    Ok(Outcome::Sent) => report.sent += 1,
                    Ok(Outcome::NothingNew) => report.nothing_new += 1,
                    Ok(Outcome::Skipped) => {}
                    Err(err) => failure = failure.or(Some(err)),
                }
                report.people += 1;
            }
            if let Some(err) = failure {
                return Err(err);
            }
        }
        progress =
            DigestRun { position: people.last().map(|p| p.agent_id.to_string()).or(progress.position), done: !more };
        deps.store.save_digest_run(day, &progress).await?;
        if Instant::now() >= until {
            break;
        }
    }
    report.done = progress.done;
    Ok(report)
}

/// One person's digest of `day`, naming what was flagged in their list after their watermark
/// and up to `through`.
async fn digest(
    deps: &Deps,
    agent_id: &AgentId,
    day: chrono::NaiveDate,
    now: DateTime<Utc>,
    through: DateTime<Utc>,
) -> Result<Outcome, DigestError> {
    // The index is read eventually; the settings themselves, as they stand.
    let settings: PersonSettingsItem = deps.store.person_settings(agent_id).await?;
    if !settings.daily_digest {
        return Ok(Outcome::Skipped);
    }
    let Some(agent) = deps.store.agent(agent_id).await? else { return Ok(Outcome::Skipped) };
    let DayClaim::Mine(lease) = deps.store.claim_digest_day(agent_id, day, now, LEASE).await? else {
        return Ok(Outcome::Skipped);
    };
    let since = settings.digest_through.unwrap_or(through);
    let (scope, whose_agency) = match settings.digest_scope.for_role(agent.role) {
        DigestScope::Book => (Scope::Agent(agent_id.clone()), None),
        DigestScope::Agency => (Scope::Agency(agent.agency_id.clone()), Some(agent.agency_id.clone())),
    };
    let flagged = if since < through {
        deps.store.flagged_between(&scope, deps.settings.year, since, through, DIGEST_ENTRIES).await?
    } else {
        Default::default()
    };
    let outcome = if flagged.count == 0 {
        DigestOutcome::NothingNew
    } else {
        let agency_name = match &whose_agency {
            Some(id) => Some(deps.store.agency(id).await?.map_or_else(|| id.to_string(), |a| a.name.to_string())),
            None => None,
        };
        let whose = agency_name.as_deref().map_or(Whose::Book, Whose::Agency);
        let link = shared::links::list_page_url(&deps.settings.web_base_url, whose_agency.as_ref().map(|a| a.as_str()));
        let message = email::compose(&whose, &flagged, since, &link);
        shared::email::send(&deps.ses, &deps.settings.sender, &agent.email, &message)
            .await
            .map_err(|err| DigestError::Send(aws_sdk_sesv2::error::DisplayErrorContext(&err).to_string()))?;
        tracing::info!(agent_id = %agent_id, entries = flagged.count, "digest sent");
        DigestOutcome::Sent
    };
    // The watermark moves to `through` even when nothing was new: the next digest starts there.
    deps.store.finish_digest_day(agent_id, day, lease, settings.version, outcome, through.max(since)).await?;
    Ok(match outcome {
        DigestOutcome::Sent => Outcome::Sent,
        DigestOutcome::NothingNew => Outcome::NothingNew,
    })
}

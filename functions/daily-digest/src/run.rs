//! One run of the digest: from the day's digest hour on, the subscribers a page at a time from
//! where the day's last run stopped (its checkpoint), each person's digest claimed, read, sent and
//! marked (`store::digests`), until all are done or the run's time is up; whoever another run
//! held or whose digest failed is tried again once the walk is through (a failing one is given up
//! after three tries). Safe to run twice at once or again after a crash: each person's day is
//! claimed once.

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Timelike, Utc};
use shared::domain::Scope;
use shared::domain::{
    Agent, AgentId, DIGEST_ENTRIES, DigestScope, DigestSettings, DisputeStatus, PlanYear, digest_day,
};
use shared::ports::{DayClaim, DigestOutcome, Flagged};
use shared::ports::{StoreError, agent_path, tree_cases};

use crate::app::{Deps, Ports};
use crate::email::{self, Links, NamedSpike, News, Whose};

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// SES's error code only: its message may name the address.
    #[error("the digest email could not be sent ({0})")]
    Send(String),
    #[error("a digest task failed: {0}")]
    Task(String),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestReport {
    /// Subscribers this run went through (retries included).
    pub people: u32,
    pub sent: u32,
    /// Claimed, but nothing was flagged for them since their last digest: no email.
    pub nothing_new: u32,
    /// Left to try again (another run held them, or their digest failed).
    pub to_retry: u32,
    /// Whether the day's digests are all done.
    pub done: bool,
}

/// How a person's digest went in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    NothingNew,
    /// Done already today (or given up after failing), turned off, or not in the directory.
    Done,
    /// Another run holds it, or it failed: to be tried again.
    Again,
}

/// How long a run holds a person's day: far longer than one digest takes.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// How long a run may go on: its budget, and never closer than 60 s to the Lambda's deadline.
pub fn deadline(budget: Duration, lambda_deadline: Option<SystemTime>) -> Instant {
    shared::deadline::run_deadline(budget, Duration::from_secs(60), lambda_deadline)
}

/// One run: the subscribers from the day's checkpoint, a page at a time; whoever could not be
/// done (held by another run, or failed) is noted and tried again once the walk is through; the
/// day is done when the walk is through and nobody is left to try.
pub async fn run<S: Ports>(deps: &Deps<S>, now: DateTime<Utc>, until: Instant) -> Result<DigestReport, DigestError> {
    let mut report = DigestReport::default();
    // Cases of a plan year that has ended close first (a failure stops no digest: it is the
    // run's error once they are done, and the next run tries again).
    let lapsed = lapse_disputes(deps, now).await;
    let walked = walk(deps, now, until, &mut report).await;
    // The digests sent count even when the run stopped on an error part-way.
    shared::metrics::Line::new().count(shared::metrics::DIGESTS_SENT, u64::from(report.sent)).emit();
    walked.and(lapsed).map(|()| report)
}

/// Closes as `lapsed` every case still open of a plan year before the current one.
async fn lapse_disputes<S: Ports>(deps: &Deps<S>, now: DateTime<Utc>) -> Result<(), DigestError> {
    let current = deps.settings.calendar.years_on(now.date_naive()).current;
    // The two years before: a case's year ends once, and this runs every quarter of an hour.
    for back in 1..=2 {
        let Ok(year) = PlanYear::parse(current.get() - back) else { continue };
        for case in deps.store.open_disputes_of_year(year).await? {
            let Some(lapsed) = case.closed(DisputeStatus::Lapsed, now) else { continue };
            let path = agent_path(&deps.store, &lapsed.agent_id).await?;
            match deps.store.save_dispute(&lapsed, &path, Some(&shared::notices::dispute(&lapsed, &path))).await {
                // Closed meanwhile (the entry cleared, a person withdrew it): so be it.
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(())
}

async fn walk<S: Ports>(
    deps: &Deps<S>,
    now: DateTime<Utc>,
    until: Instant,
    report: &mut DigestReport,
) -> Result<(), DigestError> {
    if now.hour() < deps.settings.hour_utc {
        return Ok(());
    }
    let day = digest_day(now);
    let mut progress = deps.store.digest_run(day).await?;
    // What the digests of this run name: flagged up to a settled moment, the next day's start.
    let through = now - deps.settings.settle;
    while !progress.done {
        let (agents, more) =
            deps.store.digest_subscribers(progress.position.as_deref(), deps.settings.page_size).await?;
        for (agent, outcome) in digest_all(deps, &agents, day, now, through, report).await {
            if outcome == Outcome::Again {
                deps.store.note_digest_retry(day, &agent).await?;
            }
        }
        progress.position = agents.last().map(ToString::to_string).or(progress.position);
        if !more {
            // The walk is through: those left to try, once more each run until none is left.
            let retries = deps.store.digest_retries(day).await?;
            let mut left = 0;
            for (agent, outcome) in digest_all(deps, &retries, day, now, through, report).await {
                if outcome == Outcome::Again {
                    left += 1;
                } else {
                    deps.store.clear_digest_retry(day, &agent).await?;
                }
            }
            report.to_retry = left;
            progress.done = left == 0;
            deps.store.save_digest_run(day, &progress).await?;
            break;
        }
        deps.store.save_digest_run(day, &progress).await?;
        if Instant::now() >= until {
            break;
        }
    }
    report.done = progress.done;
    Ok(())
}

/// Digests `agents`, `concurrency` at a time; every task ends before the next group starts (none
/// is cut off between sending an email and marking it sent).
async fn digest_all<S: Ports>(
    deps: &Deps<S>,
    agents: &[AgentId],
    day: chrono::NaiveDate,
    now: DateTime<Utc>,
    through: DateTime<Utc>,
    report: &mut DigestReport,
) -> Vec<(AgentId, Outcome)> {
    let mut outcomes = Vec::new();
    for group in agents.chunks(deps.settings.concurrency) {
        let mut tasks = tokio::task::JoinSet::new();
        for agent in group {
            let (deps, agent) = (deps.clone(), agent.clone());
            tasks.spawn(async move {
                let outcome = digest(&deps, &agent, day, now, through).await.unwrap_or_else(|err| {
                    tracing::error!(agent_id = %agent, error = %err, "a digest failed; it is tried again");
                    Outcome::Again
                });
                (agent, outcome)
            });
        }
        while let Some(done) = tasks.join_next().await {
            let Ok((agent, outcome)) = done else {
                tracing::error!("a digest task panicked");
                continue;
            };
            match outcome {
                Outcome::Sent => report.sent += 1,
                Outcome::NothingNew => report.nothing_new += 1,
                Outcome::Done | Outcome::Again => {}
            }
            report.people += 1;
            outcomes.push((agent, outcome));
        }
    }
    outcomes
}

/// One person's digest of `day`, naming what was flagged in their list after their watermark
/// and up to `through`. A failure after the claim gives the day back (`release_digest_day`).
async fn digest<S: Ports>(
    deps: &Deps<S>,
    agent_id: &AgentId,
    day: chrono::NaiveDate,
    now: DateTime<Utc>,
    through: DateTime<Utc>,
) -> Result<Outcome, DigestError> {
    // The index is read eventually; the settings themselves, as they stand.
    let settings: DigestSettings = deps.store.person_settings(agent_id).await?;
    if !settings.daily_digest {
        return Ok(Outcome::Done);
    }
    let Some(agent) = deps.store.agent(agent_id).await? else { return Ok(Outcome::Done) };
    let lease = match deps.store.claim_digest_day(agent_id, day, now, LEASE).await? {
        DayClaim::Mine(lease) => lease,
        DayClaim::Done => return Ok(Outcome::Done),
        DayClaim::Held => return Ok(Outcome::Again),
    };
    match claimed(deps, &settings, &agent, day, lease, through).await {
        Ok(outcome) => Ok(outcome),
        Err(err) => {
            let given_up = deps.store.release_digest_day(agent_id, day, lease).await?;
            if given_up {
                tracing::error!(agent_id = %agent_id, error = %err, "a digest failed its last try; given up for the day");
                return Ok(Outcome::Done);
            }
            Err(err)
        }
    }
}

/// The digest of a day this run holds: read, send, mark.
async fn claimed<S: Ports>(
    deps: &Deps<S>,
    settings: &DigestSettings,
    agent: &Agent,
    day: chrono::NaiveDate,
    lease: i64,
    through: DateTime<Utc>,
) -> Result<Outcome, DigestError> {
    let agent_id = &agent.agent_id;
    let since = settings.digest_through.unwrap_or(through);
    let (scope, whose_agency) = match settings.digest_scope.for_role(agent.role) {
        DigestScope::Book => (Scope::Agent(agent_id.clone()), None),
        DigestScope::Agency => (Scope::Agency(agent.agency_id.clone()), Some(agent.agency_id.clone())),
    };
    // Each plan year served at any time since the last digest (during open enrollment the coming
    // one too; on January 1 still the year just ended), newest first together.
    let calendar = &deps.settings.calendar;
    let mut years = calendar.years_on(since.date_naive()).served();
    years.extend(calendar.years_on(through.date_naive()).served());
    years.sort();
    years.dedup();
    let mut flagged = Flagged::default();
    if since < through {
        for year in &years {
            let of_year = deps.store.flagged_between(&scope, *year, since, through, DIGEST_ENTRIES).await?;
            flagged.count += of_year.count;
            flagged.newest.extend(of_year.newest);
        }
        flagged.newest.sort_by_key(|entry| std::cmp::Reverse(entry.listed_at));
        flagged.newest.truncate(DIGEST_ENTRIES);
    }
    // An admin's digest also names the spikes of their tree's agents' takes found since.
    let mut spikes = Vec::new();
    if let (Some(agency), true) = (&whose_agency, since < through) {
        for year in &years {
            for spike in deps.store.spikes_recorded(agency, *year, since, through).await? {
                // Named while still in the tree; one who left it since is of another agency now.
                let agent = match deps.store.agent(&spike.agent_id).await? {
                    Some(agent) if deps.store.agency_path(&agent.agency_id).await?.contains(agency) => {
                        agent.name.to_string()
                    }
                    _ => "An agent who has left the agency".to_owned(),
                };
                spikes.push(NamedSpike { agent, spike });
            }
        }
    }
    // And the cases in the list open 14 days (28, …) without a change since the last digest.
    let cases = match (&whose_agency, since < through) {
        (_, false) => Vec::new(),
        (Some(agency), true) => tree_cases(&deps.store, agency).await?,
        (None, true) => deps.store.agent_disputes(agent_id).await?,
    };
    let quiet: Vec<_> = cases.into_iter().filter(|case| case.reminder_due(since, through)).collect();
    // The watermark moves to `through` even when nothing was new: the next digest starts there.
    let through = through.max(since);
    if flagged.count == 0 && spikes.is_empty() && quiet.is_empty() {
        deps.store.finish_digest_day(agent_id, day, lease, DigestOutcome::NothingNew, through).await?;
        return Ok(Outcome::NothingNew);
    }
    let agency_name = match &whose_agency {
        Some(id) => Some(deps.store.agency(id).await?.map_or_else(|| id.to_string(), |a| a.name.to_string())),
        None => None,
    };
    let whose = agency_name.as_deref().map_or(Whose::Book, Whose::Agency);
    let link = shared::links::list_page_url(&deps.settings.web_base_url, whose_agency.as_ref().map(|a| a.as_str()));
    let home = shared::links::home_page_url(&deps.settings.web_base_url);
    let news = News { flagged: &flagged, spikes: &spikes, quiet_cases: &quiet };
    let links = Links { list: &link, home: &home, clients: &deps.settings.web_base_url };
    let message = email::compose(&whose, &news, since, &years, &links);
    // The day stays ours while the email is on its way.
    let renewed = (Utc::now() + LEASE).timestamp_millis();
    deps.store.renew_digest_day(agent_id, day, lease, renewed).await?;
    shared::email::send(&deps.ses, &deps.settings.sender, &agent.email, &message).await.map_err(|err| {
        use aws_sdk_sesv2::error::ProvideErrorMetadata;
        DigestError::Send(err.code().unwrap_or("unknown").to_owned())
    })?;
    tracing::info!(agent_id = %agent_id, entries = flagged.count, spikes = spikes.len(), "digest sent");
    deps.store.finish_digest_day(agent_id, day, renewed, DigestOutcome::Sent, through).await?;
    Ok(Outcome::Sent)
}

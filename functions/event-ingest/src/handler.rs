//! One SQS batch: each message applied whole or not at all, and only the failed ones reported
//! back (`ReportBatchItemFailures`), so one bad message never holds back its neighbours.
//!
//! A message that can never succeed (malformed, or refused like an agency cycle) is moved to the
//! dead-letter queue at once with the reason attached, instead of being retried until SQS gives
//! up; a message that failed for a passing reason (the table busy, a write that lost a race)
//! is reported as failed, retried by SQS, and redriven to the dead-letter queue if it keeps failing.
//! An event dated further ahead of this system's clock than the allowance is refused the same way.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use shared::queue::{DeadLetters, Disposition};
use shared::store::directory::UpsertOutcome;
use shared::store::{Store, StoreError};

use crate::platform::{self, Malformed, PlatformEvent};

/// What the handler needs, built once per process.
#[derive(Clone, Debug)]
pub struct Deps {
    pub store: Store,
    pub sqs: aws_sdk_sqs::Client,
    pub dead_letters: DeadLetters,
    /// How far ahead of this system's clock an event may be dated.
    pub future_allowance: chrono::Duration,
    /// The ingest queue: a directory job that runs out of time sends its event here again, to go
    /// on from where it stopped.
    pub queue_url: String,
    /// How long one batch may spend on directory jobs before pausing them (within the function's
    /// time-out).
    pub job_budget: std::time::Duration,
}

/// Why one message failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The event is not one this system can read.
    #[error("malformed: {0}")]
    Malformed(#[from] Malformed),
    /// A well-formed event that must never be applied (a cycle, a tree too deep, a date too far
    /// ahead): the reason names fields, never values.
    #[error("refused: {0}")]
    Refused(String),
    #[error("will retry")]
    Retryable(#[source] StoreError),
    #[error("could not queue the rest of a directory job; will retry")]
    Requeue(#[source] aws_sdk_sqs::Error),
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Cycle(_) | StoreError::TooDeep(_) | StoreError::TooLarge(_) => {
                Failure::Refused(err.to_string())
            }
            StoreError::Encode(reason) | StoreError::Decode(reason) => Failure::Malformed(Malformed(reason)),
            other => Failure::Retryable(other),
        }
    }
}

pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let until = std::time::Instant::now() + deps.job_budget;
    let mut processed = Vec::new();
    for message in event.records {
        let disposition = match apply(deps, &message, until).await {
            Ok(()) => Disposition::Done,
            Err(Failure::Malformed(reason)) => Disposition::Refuse(reason.0),
            Err(Failure::Refused(reason)) => Disposition::Refuse(reason),
            Err(err @ (Failure::Retryable(_) | Failure::Requeue(_))) => {
                let message_id = message.message_id.as_deref().unwrap_or_default();
                let error = shared::telemetry::chain(&err);
                tracing::error!(message_id, error, "platform event not applied; it will be retried");
                Disposition::Retry
            }
        };
        processed.push((message, disposition));
    }
    shared::queue::settle(processed, &deps.dead_letters).await
}

/// Applies one message's event; a directory job still running at `until` pauses, and the event
/// goes back on the queue to finish it.
pub async fn apply(deps: &Deps, message: &SqsMessage, until: std::time::Instant) -> Result<(), Failure> {
    let body = message.body.as_deref().ok_or_else(|| Malformed("the message has no body".into()))?;
    let event = platform::parse(body)?;
    event.check_date(Utc::now(), deps.future_allowance).map_err(Failure::Refused)?;
    match event {
        PlatformEvent::AgencyUpserted { agency, as_of } => {
            let outcome = deps.store.upsert_agency_until(&agency, as_of, Some(until)).await?;
            tracing::info!(agency_id = %agency.agency_id, ?outcome, "agency upserted");
            if outcome == UpsertOutcome::Paused {
                go_on_later(deps, message).await?;
            }
        }
        PlatformEvent::AgentUpserted { agent, as_of } => {
            let outcome = deps.store.upsert_agent_until(&agent, as_of, Some(until)).await?;
            tracing::info!(agent_id = %agent.agent_id, ?outcome, "agent upserted");
            if outcome == UpsertOutcome::Paused {
                go_on_later(deps, message).await?;
            }
        }
        PlatformEvent::Evidence { application, evidence } => {
            let outcome = deps.store.apply_evidence(&application, &evidence, Utc::now()).await?;
            let changed = match &outcome {
                shared::store::applications::ApplyOutcome::AlreadyApplied => None,
                shared::store::applications::ApplyOutcome::Applied(history) => Some(history.len()),
            };
            tracing::info!(
                federal_exchange_id = %application.id,
                plan_year = %application.year,
                evidence_id = %evidence.id,
                entries_changed = ?changed,
                "evidence applied"
            );
        }
    }
    Ok(())
}

/// Sends the event again, so that its paused job goes on in another invocation. Applying it
/// again is safe: the change is recorded already, and the job resumes from its saved position.
async fn go_on_later(deps: &Deps, message: &SqsMessage) -> Result<(), Failure> {
    let sent = deps
        .sqs
        .send_message()
        .queue_url(&deps.queue_url)
        .message_body(message.body.clone().unwrap_or_default())
        .send()
        .await;
    sent.map(drop).map_err(|e| Failure::Requeue(e.into()))
}

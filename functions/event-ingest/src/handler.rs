//! One SQS batch: each message applied whole or not at all, and only the failed ones reported
//! back (`ReportBatchItemFailures`), so one bad message never holds back its neighbours.
//!
//! A message that can never succeed (malformed, or refused like an agency cycle) is moved to the
//! dead-letter queue with the reason attached once its batch is through, instead of being retried until SQS gives
//! up; a message that failed for a passing reason (the table busy, a write that lost a race)
//! is reported as failed, retried by SQS, and redriven to the dead-letter queue if it keeps failing.
//! An event dated further ahead of this system's clock than the allowance is refused the same way.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use shared::metrics;
use shared::ports::StoreError;
use shared::ports::UpsertOutcome;
use shared::ports::{Applications, DirectoryChanges};
use shared::queue::{Disposition, Queue};

use crate::platform::{self, Malformed, PlatformEvent};

/// What the handler needs, built once per process: the store's capabilities it uses (the
/// DynamoDB store in Lambda, a fake in unit tests), the queues, and its settings.
#[derive(Clone, Debug)]
pub struct Deps<S> {
    pub store: S,
    pub dead_letters: Queue,
    /// How far ahead of this system's clock an event may be dated.
    pub future_allowance: chrono::Duration,
    /// The ingest queue: a directory job that runs out of time sends its event here again, to go
    /// on from where it stopped.
    pub ingest_queue: Queue,
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
    #[error("refused: {reason}")]
    Refused {
        /// The kind of refusal, as the `Reason` of the `EventsRefused` metric.
        kind: &'static str,
        reason: String,
    },
    #[error("will retry")]
    Retryable(#[source] StoreError),
    #[error("could not queue the rest of a directory job; will retry")]
    Requeue(#[source] aws_sdk_sqs::Error),
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            // Never applicable however often tried: a tree it would break, a change too big, or an
            // item that cannot be written or read as it is.
            StoreError::Cycle(_) => Failure::Refused { kind: "cycle", reason: err.to_string() },
            StoreError::TooDeep(_) => Failure::Refused { kind: "too_deep", reason: err.to_string() },
            StoreError::TooLarge(n) => Failure::Refused {
                kind: "too_large",
                reason: format!("the change needs {n} writes in one transaction"),
            },
            StoreError::Encode(cause) => Failure::Refused { kind: "unreadable", reason: cause.to_string() },
            StoreError::Decode(cause) => Failure::Refused { kind: "unreadable", reason: cause.to_string() },
            other => Failure::Retryable(other),
        }
    }
}

/// How close to the Lambda's deadline a directory job pauses (its place saved, its event sent
/// again), and how close no message is started any more: what is left goes back to the queue.
const JOB_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);
const HAND_BACK_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// One batch, inside the Lambda's deadline (`None`: none is known): the messages not started by
/// `HAND_BACK_MARGIN` before it are handed back untouched, to come again.
pub async fn handle<S: Applications + DirectoryChanges>(
    deps: &Deps<S>,
    event: SqsEvent,
    deadline: Option<std::time::SystemTime>,
) -> SqsBatchResponse {
    let until = shared::deadline::run_deadline(deps.job_budget, JOB_MARGIN, deadline);
    let hand_back_at = deadline.map(|at| shared::deadline::before(at, HAND_BACK_MARGIN));
    let mut processed = Vec::new();
    let mut tally = Tally::default();
    for message in event.records {
        if hand_back_at.is_some_and(|at| std::time::Instant::now() >= at) {
            tally.retried += 1;
            processed.push((message, Disposition::Retry));
            continue;
        }
        let disposition = match apply(deps, &message, until).await {
            Ok(()) => {
                tally.applied += 1;
                Disposition::Done
            }
            Err(Failure::Malformed(reason)) => {
                tally.refusing.push((message.message_id.clone().unwrap_or_default(), "malformed"));
                Disposition::Refuse(reason.0)
            }
            Err(Failure::Refused { kind, reason }) => {
                tally.refusing.push((message.message_id.clone().unwrap_or_default(), kind));
                Disposition::Refuse(reason)
            }
            Err(err @ (Failure::Retryable(_) | Failure::Requeue(_))) => {
                let message_id = message.message_id.as_deref().unwrap_or_default();
                let error = shared::telemetry::chain(&err);
                tracing::error!(message_id, error, "platform event not applied; it will be retried");
                tally.retried += 1;
                Disposition::Retry
            }
        };
        processed.push((message, disposition));
    }
    let response = shared::queue::settle(processed, &deps.dead_letters).await;
    tally.emit(&response, deps.store.take_placement_conflicts());
    response
}

/// Every kind of refusal: the values of the `EventsRefused` metric's `Reason`.
pub const REFUSALS: [&str; 6] = ["malformed", "future_date", "cycle", "too_deep", "too_large", "unreadable"];

/// What one batch did with its events, for its metric lines.
#[derive(Default)]
struct Tally {
    applied: u64,
    retried: u64,
    /// The messages to be refused, each with its kind of refusal (`REFUSALS`).
    refusing: Vec<(String, &'static str)>,
}

impl Tally {
    /// The batch's lines, once it is settled: a refused message that could not be moved to the
    /// dead-letter queue comes again, so it counts as retried, not refused.
    fn emit(&self, settled: &SqsBatchResponse, placement_conflicts: u64) {
        let again: std::collections::HashSet<&str> =
            settled.batch_item_failures.iter().map(|failure| failure.item_identifier.as_str()).collect();
        let mut retried = self.retried;
        let mut refused: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
        for (message_id, kind) in &self.refusing {
            if again.contains(message_id.as_str()) {
                retried += 1;
            } else {
                *refused.entry(kind).or_default() += 1;
            }
        }
        metrics::Line::new()
            .count(metrics::EVENTS_APPLIED, self.applied)
            .count(metrics::EVENTS_RETRIED, retried)
            .count(metrics::PLACEMENT_CONFLICTS, placement_conflicts)
            .emit();
        for (kind, n) in refused {
            metrics::Line::new().dimension(metrics::REASON, kind).count(metrics::EVENTS_REFUSED, n).emit();
        }
    }
}

/// Applies one message's event; a directory job still running at `until` pauses, and the event
/// goes back on the queue to finish it.
pub async fn apply<S: Applications + DirectoryChanges>(
    deps: &Deps<S>,
    message: &SqsMessage,
    until: std::time::Instant,
) -> Result<(), Failure> {
    let body = message.body.as_deref().ok_or_else(|| Malformed("the message has no body".into()))?;
    let event = platform::parse(body)?;
    event
        .check_date(Utc::now(), deps.future_allowance)
        .map_err(|refused| Failure::Refused { kind: "future_date", reason: refused.to_string() })?;
    match event {
        PlatformEvent::AgencyUpserted { agency, as_of } => {
            let outcome = Box::pin(deps.store.upsert_agency_until(&agency, &as_of, Some(until))).await?;
            tracing::info!(agency_id = %agency.agency_id, ?outcome, "agency upserted");
            if outcome == UpsertOutcome::Paused {
                go_on_later(deps, message).await?;
            }
        }
        PlatformEvent::AgentUpserted { agent, as_of } => {
            let outcome = Box::pin(deps.store.upsert_agent_until(&agent, &as_of, Some(until))).await?;
            tracing::info!(agent_id = %agent.agent_id, ?outcome, "agent upserted");
            if outcome == UpsertOutcome::Paused {
                go_on_later(deps, message).await?;
            }
        }
        PlatformEvent::Evidence { application, evidence } => {
            let outcome = deps.store.apply_evidence(&application, &evidence, Utc::now()).await?;
            let changed = match &outcome {
                shared::ports::ApplyOutcome::AlreadyApplied => None,
                shared::ports::ApplyOutcome::Applied(history) => Some(history.len()),
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
async fn go_on_later<S>(deps: &Deps<S>, message: &SqsMessage) -> Result<(), Failure> {
    deps.ingest_queue.send(message.body.clone().unwrap_or_default()).await.map_err(Failure::Requeue)
}

#[cfg(test)]
mod tests {
    //! The handler against a fake of the two capabilities it uses: no emulator.

    use std::collections::{BTreeSet, HashMap};
    use std::sync::{Arc, Mutex};

    use chrono::DateTime;
    use shared::domain::{AgencyUpsert, AgentId, AgentUpsert, ApplicationKey, Evidence};
    use shared::ports::{ApplyOutcome, StoredApplication};

    use super::*;

    /// Records what it was asked to do; refuses evidence with `refusal` when set.
    #[derive(Clone, Default)]
    struct FakeStore {
        calls: Arc<Mutex<Vec<String>>>,
        refusal: Option<fn() -> StoreError>,
    }

    impl FakeStore {
        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Applications for FakeStore {
        async fn apply_evidence(
            &self,
            app: &ApplicationKey,
            evidence: &Evidence,
            _now: DateTime<Utc>,
        ) -> Result<ApplyOutcome, StoreError> {
            self.calls.lock().unwrap().push(format!("apply {} {} {}", app.id, app.year, evidence.id));
            match self.refusal {
                Some(refusal) => Err(refusal()),
                None => Ok(ApplyOutcome::AlreadyApplied),
            }
        }
    }

    impl shared::ports::ApplicationReads for FakeStore {
        async fn application(&self, _app: &ApplicationKey) -> Result<StoredApplication, StoreError> {
            Ok(StoredApplication::default())
        }
        async fn head(&self, _app: &ApplicationKey) -> Result<StoredApplication, StoreError> {
            Ok(StoredApplication::default())
        }
        async fn history(&self, _app: &ApplicationKey) -> Result<Vec<shared::domain::HistoryRecord>, StoreError> {
            Ok(Vec::new())
        }
        async fn timeline_window(
            &self,
            _app: &ApplicationKey,
            _until: Option<chrono::DateTime<chrono::Utc>>,
            _records: &[(chrono::DateTime<chrono::Utc>, shared::domain::EvidenceId)],
            _since: Option<chrono::DateTime<chrono::Utc>>,
            _items: usize,
        ) -> Result<shared::ports::TimelineWindow, StoreError> {
            Ok(shared::ports::TimelineWindow::default())
        }
        async fn owners(
            &self,
            _agents: BTreeSet<AgentId>,
        ) -> Result<HashMap<AgentId, shared::domain::EntryOwner>, StoreError> {
            Ok(HashMap::new())
        }
    }

    impl DirectoryChanges for FakeStore {
        async fn upsert_agency_until(
            &self,
            upsert: &AgencyUpsert,
            _as_of: &shared::domain::EventOrder,
            _until: Option<std::time::Instant>,
        ) -> Result<UpsertOutcome, StoreError> {
            let parent = upsert.parent_agency_id.as_ref().map_or("-".to_owned(), ToString::to_string);
            self.calls.lock().unwrap().push(format!("agency {} under {parent}", upsert.agency_id));
            Ok(UpsertOutcome::Written)
        }
        async fn upsert_agent_until(
            &self,
            upsert: &AgentUpsert,
            _as_of: &shared::domain::EventOrder,
            _until: Option<std::time::Instant>,
        ) -> Result<UpsertOutcome, StoreError> {
            self.calls.lock().unwrap().push(format!("agent {} in {}", upsert.agent_id, upsert.agency_id));
            Ok(UpsertOutcome::Written)
        }
    }

    fn deps(store: FakeStore) -> Deps<FakeStore> {
        // Built, never called: the cases here touch no queue.
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .build();
        let sqs = aws_sdk_sqs::Client::from_conf(config);
        Deps {
            store,
            dead_letters: Queue { sqs: sqs.clone(), url: "unused".into() },
            ingest_queue: Queue { sqs, url: "unused".into() },
            future_allowance: chrono::Duration::minutes(5),
            job_budget: std::time::Duration::from_secs(60),
        }
    }

    fn message(detail_type: &str, time: DateTime<Utc>, detail: serde_json::Value) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.body = Some(
            serde_json::json!({
                "id": "e-1", "source": "enrollment-platform", "detail-type": detail_type,
                "time": time.to_rfc3339(), "detail": detail,
            })
            .to_string(),
        );
        message
    }

    fn submission(at: DateTime<Utc>) -> SqsMessage {
        let detail = serde_json::json!({
            "submission_id": "s-1", "federal_exchange_id": "0042", "plan_year": 2026, "client_name": "Client",
            "agent_id": "ana", "npn": "111", "submitted_at": at.to_rfc3339(),
        });
        message("Application Submitted", at, detail)
    }

    fn later() -> std::time::Instant {
        std::time::Instant::now() + std::time::Duration::from_secs(60)
    }

    #[tokio::test]
    async fn each_event_reaches_the_capability_it_names() {
        let store = FakeStore::default();
        let deps = deps(store.clone());
        let agency = serde_json::json!({"agency_id": "north", "name": "North", "parent_agency_id": "top",
                                        "agent_exports_enabled": true});
        let agent = serde_json::json!({"agent_id": "ana", "agency_id": "north", "name": "Ana",
                                       "email": "ana@example.com", "npn": "111", "role": "agent"});
        let now = Utc::now();
        apply(&deps, &message("Agency Upserted", now, agency), later()).await.unwrap();
        apply(&deps, &message("Agent Upserted", now, agent), later()).await.unwrap();
        apply(&deps, &submission(now), later()).await.unwrap();
        assert_eq!(store.calls(), vec!["agency north under top", "agent ana in north", "apply 0042 2026 s-1"]);
    }

    #[tokio::test]
    async fn messages_not_started_near_the_lambdas_deadline_are_handed_back_untouched() {
        let batch = |ids: &[&str]| {
            let mut event = SqsEvent::default();
            event.records = ids
                .iter()
                .map(|id| {
                    let mut m = submission(Utc::now());
                    m.message_id = Some((*id).to_owned());
                    m
                })
                .collect();
            event
        };
        // Inside the margin: nothing is started, everything comes again.
        let store = FakeStore::default();
        let soon = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        let response = handle(&deps(store.clone()), batch(&["m1", "m2"]), Some(soon)).await;
        let handed_back: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        assert_eq!(handed_back, vec!["m1", "m2"]);
        assert!(store.calls().is_empty());
        // With time to spare (or no deadline known), each is applied.
        let store = FakeStore::default();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(120);
        let response = handle(&deps(store.clone()), batch(&["m3"]), Some(later)).await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(store.calls().len(), 1);
    }

    #[tokio::test]
    async fn an_event_from_a_bad_clock_is_refused_before_the_store_sees_it() {
        let store = FakeStore::default();
        let failure = apply(&deps(store.clone()), &submission(Utc::now() + chrono::Duration::days(1)), later()).await;
        assert!(
            matches!(failure, Err(Failure::Refused { kind: "future_date", ref reason }) if reason.contains("ahead")),
            "{failure:?}"
        );
        assert!(store.calls().is_empty());
    }

    #[tokio::test]
    async fn a_change_too_big_for_one_transaction_is_refused_and_a_passing_failure_retried() {
        let too_large = FakeStore { refusal: Some(|| StoreError::TooLarge(106)), ..FakeStore::default() };
        let failure = apply(&deps(too_large), &submission(Utc::now()), later()).await;
        assert!(matches!(failure, Err(Failure::Refused { .. })), "{failure:?}");

        let busy = FakeStore { refusal: Some(|| StoreError::Contention(8)), ..FakeStore::default() };
        let failure = apply(&deps(busy), &submission(Utc::now()), later()).await;
        assert!(matches!(failure, Err(Failure::Retryable(StoreError::Contention(8)))), "{failure:?}");
    }
}

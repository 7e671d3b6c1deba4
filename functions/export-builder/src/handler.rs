//! One SQS batch of export requests (`shared::queue`). Each message names one export. A message
//! that can never succeed ends the export `failed`, tells the requester, and goes to the
//! dead-letter queue; one that failed for a passing reason is retried by SQS, and on its last
//! delivery the export is marked `failed` and the requester told before SQS moves it to the DLQ.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use shared::domain::ExportId;
use shared::queue::Disposition;

use crate::build::{self, BuildError, Deps, Outcome, Ports, last_delivery};

/// What invoked the function: a batch from the exports queue, or the sweep's schedule.
#[derive(Debug)]
pub enum Invocation {
    Batch(SqsEvent),
    Sweep,
}

/// Why an invocation was refused: the function is wired to something it does not serve.
#[derive(Debug, thiserror::Error)]
pub enum UnknownInvocation {
    #[error("not an SQS batch: {0}")]
    NotABatch(#[source] serde_json::Error),
    #[error("neither an SQS batch nor the sweep's schedule")]
    Neither,
}

/// Tells the two apart; anything else is refused.
pub fn invocation(payload: serde_json::Value) -> Result<Invocation, UnknownInvocation> {
    if payload.get("Records").is_some() {
        return serde_json::from_value(payload).map(Invocation::Batch).map_err(UnknownInvocation::NotABatch);
    }
    match payload.get("detail-type").and_then(serde_json::Value::as_str) {
        Some("Scheduled Event") => Ok(Invocation::Sweep),
        _ => Err(UnknownInvocation::Neither),
    }
}

pub async fn handle<S: Ports>(deps: &Deps<S>, event: SqsEvent) -> SqsBatchResponse {
    let mut processed = Vec::new();
    for message in event.records {
        // Boxed: the build's future is deep, and the runtime's would exceed the compiler's layout limit.
        let disposition = Box::pin(process(deps, &message)).await;
        processed.push((message, disposition));
    }
    shared::queue::settle(processed, &deps.dead_letters).await
}

async fn process<S: Ports>(deps: &Deps<S>, message: &SqsMessage) -> Disposition {
    let Some(export_id) = export_id(message) else {
        return Disposition::Refuse("the message names no export".into());
    };
    let receives = shared::queue::receives(message);
    match build::build(deps, &export_id).await {
        Ok(Outcome::Built { .. } | Outcome::AlreadyDone) => Disposition::Done,
        Ok(Outcome::Busy) => {
            tracing::info!(%export_id, "another builder holds this export; trying again later");
            Disposition::Retry
        }
        Err(BuildError::Permanent(reason)) => {
            tracing::warn!(%export_id, reason, "export cannot be built");
            if let Err(err) = build::fail(deps, &export_id, &reason).await {
                let error = err.log_text();
                tracing::error!(%export_id, error, "could not record the failure; SQS will redeliver");
                return Disposition::Retry;
            }
            Disposition::Refuse(reason)
        }
        Err(err) => {
            tracing::error!(%export_id, receives, error = err.log_text(), "export build failed");
            if last_delivery(receives, deps.settings.max_receives) {
                let readable = "the export could not be built after several tries";
                if let Err(err) = build::fail(deps, &export_id, readable).await {
                    tracing::error!(%export_id, error = err.log_text(), "could not record the failure");
                }
            }
            // Retried by SQS, and after the last delivery redriven to the DLQ.
            Disposition::Retry
        }
    }
}

fn export_id(message: &SqsMessage) -> Option<ExportId> {
    let body: serde_json::Value = serde_json::from_str(message.body.as_deref()?).ok()?;
    ExportId::parse(body.get("export_id")?.as_str()?).ok()
}

/// Property tests of a parser of outside input, the exports queue's messages: `PROPTEST_CASES` each.
#[cfg(test)]
mod fuzz {
    use super::*;

    proptest::proptest! {
        /// Any body names an export or none, never a panic; a named one is a valid export id.
        #[test]
        fn any_body_names_an_export_or_none(body in "\\PC{0,80}", id in "\\PC{0,80}") {
            for body in [body, serde_json::json!({ "export_id": id }).to_string()] {
                let mut message = SqsMessage::default();
                message.body = Some(body);
                if let Some(found) = export_id(&message) {
                    proptest::prop_assert!(ExportId::parse(found.as_str()).is_ok());
                }
            }
        }
    }
}

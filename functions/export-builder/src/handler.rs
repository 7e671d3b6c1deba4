//! One SQS batch of export requests. Each message names one export; only failed ones are reported
//! back. A message that can never succeed ends the export `failed`, tells the requester, and goes
//! to the dead-letter queue; one that failed for a passing reason is retried by SQS, and on its last
//! delivery the export is marked `failed` and the requester told before SQS moves it to the DLQ.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::build::{self, BuildError, Deps, Outcome, last_delivery};

pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if !process(deps, &message).await {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// True when the message is done with (and may be deleted).
async fn process(deps: &Deps, message: &SqsMessage) -> bool {
    let message_id = message.message_id.clone().unwrap_or_default();
    let Some(export_id) = export_id(message) else {
        tracing::warn!(message_id, "export message without an export_id; moving it to the dead-letter queue");
        return dead_letter(deps, message, "the message names no export").await;
    };
    let receives: u32 = message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
    match build::build(deps, &export_id).await {
        Ok(Outcome::Built { .. } | Outcome::AlreadyDone) => true,
        Ok(Outcome::Busy) => {
            tracing::info!(export_id, "another builder holds this export; trying again later");
            false
        }
        Err(BuildError::Permanent(reason)) => {
            tracing::warn!(export_id, reason = %reason, "export cannot be built");
            if let Err(err) = build::fail(deps, &export_id, &reason).await {
                tracing::error!(export_id, error = %err, "could not record the failure; SQS will redeliver");
                return false;
            }
            dead_letter(deps, message, &reason).await
        }
        Err(BuildError::Transient(reason)) => {
            tracing::error!(export_id, receives, reason = %reason, "export build failed");
            if last_delivery(receives, deps.settings.max_receives) {
                let readable = "the export could not be built after several tries";
                if let Err(err) = build::fail(deps, &export_id, readable).await {
                    tracing::error!(export_id, error = %err, "could not record the failure");
                }
            }
            // Reported as failed: SQS retries it, and after the last delivery redrives it to the DLQ.
            false
        }
    }
}

fn export_id(message: &SqsMessage) -> Option<String> {
    let body: serde_json::Value = serde_json::from_str(message.body.as_deref()?).ok()?;
    let id = body.get("export_id")?.as_str()?;
    (!id.is_empty() && id.len() <= 64 && !id.contains('#')).then(|| id.to_owned())
}

/// Moves a message to the dead-letter queue with the reason; true once it is there.
async fn dead_letter(deps: &Deps, message: &SqsMessage, reason: &str) -> bool {
    let attribute = MessageAttributeValue::builder().data_type("String").string_value(reason).build();
    let Ok(attribute) = attribute else { return false };
    let sent = deps
        .sqs
        .send_message()
        .queue_url(&deps.settings.dead_letter_queue_url)
        .message_body(message.body.clone().unwrap_or_default())
        .message_attributes("refused_because", attribute)
        .send()
        .await;
    match sent {
        Ok(_) => true,
        Err(err) => {
            tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "could not move a message to the dead-letter queue");
            false
        }
    }
}

//! Consuming one SQS batch, the same way in every queue consumer: each message is processed on
//! its own (by the consumer), then the batch is settled here. Only the ones to try again are
//! reported back (`ReportBatchItemFailures`), so one bad message never holds back its neighbours;
//! one that can never succeed is moved to the dead-letter queue with its reason (the
//! `refused_because` attribute) instead of being retried until SQS gives up. One that cannot be
//! moved is reported back, and SQS redrives it there in the end.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use aws_sdk_sqs::types::MessageAttributeValue;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done with: SQS may delete it.
    Done,
    /// Failed for a passing reason: SQS delivers it again later.
    Retry,
    /// Can never succeed: to the dead-letter queue, with the reason (no personal data in it).
    Refuse(String),
}

/// A queue a function sends to: its dead-letter queue, or its own queue to go on later.
#[derive(Debug, Clone)]
pub struct Queue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

impl Queue {
    /// Sends `body`.
    pub async fn send(&self, body: impl Into<String>) -> Result<(), aws_sdk_sqs::Error> {
        self.sqs.send_message().queue_url(&self.url).message_body(body).send().await?;
        Ok(())
    }

    /// Sends a refused message's body with the reason (the `refused_because` attribute).
    pub async fn refuse(&self, message: &SqsMessage, reason: &str) -> Result<(), aws_sdk_sqs::Error> {
        let reason = MessageAttributeValue::builder().data_type("String").string_value(reason).build()?;
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(message.body.clone().unwrap_or_default())
            .message_attributes("refused_because", reason)
            .send()
            .await?;
        Ok(())
    }
}

/// Settles a processed batch: moves each refused message to the dead-letter queue, and answers
/// which to deliver again.
pub async fn settle(processed: Vec<(SqsMessage, Disposition)>, dead_letters: &Queue) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (message, disposition) in processed {
        let message_id = message.message_id.clone().unwrap_or_default();
        let again = match disposition {
            Disposition::Done => false,
            Disposition::Retry => true,
            Disposition::Refuse(reason) => {
                tracing::warn!(message_id, reason, "message refused; moving it to the dead-letter queue");
                match dead_letters.refuse(&message, &reason).await {
                    Ok(()) => false,
                    Err(err) => {
                        tracing::error!(message_id, error = %err, "could not move the message; SQS will redrive it");
                        true
                    }
                }
            }
        };
        if again {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// How many times SQS has delivered this message, this time included.
pub fn receives(message: &SqsMessage) -> u32 {
    message.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1)
}

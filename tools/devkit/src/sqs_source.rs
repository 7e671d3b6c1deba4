//! Lambda's SQS event source, locally: receive a batch (up to 10), hand it to the function's
//! handler as an `SqsEvent`, delete what succeeded, and leave each reported failure to come back
//! after its visibility timeout, so SQS redrives it to the dead-letter queue in the end.

use std::collections::HashMap;
use std::future::Future;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};

use crate::DevkitError;

#[derive(Clone, Debug)]
pub struct SqsSource {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
    region: String,
}

impl SqsSource {
    pub async fn new(sqs: aws_sdk_sqs::Client, queue_url: &str, region: &str) -> Result<Self, DevkitError> {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| DevkitError::Aws(e.to_string()))?;
        let queue_arn =
            attributes.attributes.and_then(|mut a| a.remove(&QueueAttributeName::QueueArn)).unwrap_or_default();
        Ok(Self { sqs, queue_url: queue_url.to_owned(), queue_arn, region: region.to_owned() })
    }

    /// One receive and one invocation. Returns how many messages the batch held (0: the queue
    /// had nothing within `wait_seconds`).
    pub async fn poll_once<F, Fut>(&self, wait_seconds: i32, handler: F) -> Result<usize, DevkitError>
    where
        F: FnOnce(SqsEvent) -> Fut,
        Fut: Future<Output = SqsBatchResponse>,
    {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| DevkitError::Aws(e.to_string()))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let mut event = SqsEvent::default();
        let mut receipts = HashMap::new();
        for message in &messages {
            let mut record = SqsMessage::default();
            record.message_id = message.message_id.clone();
            record.receipt_handle = message.receipt_handle.clone();
            record.body = message.body.clone();
            record.md5_of_body = message.md5_of_body.clone();
            record.attributes = message
                .attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(name, value)| (name.as_str().to_owned(), value))
                .collect();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(self.queue_arn.clone());
            record.aws_region = Some(self.region.clone());
            receipts.insert(
                message.message_id.clone().unwrap_or_default(),
                message.receipt_handle.clone().unwrap_or_default(),
            );
            event.records.push(record);
        }
        let response = handler(event).await;
        let failed: std::collections::HashSet<String> =
            response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
        let done: Vec<DeleteMessageBatchRequestEntry> = receipts
            .iter()
            .filter(|(id, _)| !failed.contains(*id))
            .enumerate()
            .map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(receipt)
                    .build()
                    .map_err(|e| DevkitError::Aws(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        if !done.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .map_err(|e| DevkitError::Aws(e.to_string()))?;
        }
        Ok(messages.len())
    }
}

//! The DynamoDB store: one table for everything (see `docs/table-design.md`). Items are converted
//! with `serde_dynamo`; keys are built only in `keys`.

pub mod applications;
pub mod digests;
pub mod directory;
pub mod exports;
#[cfg(feature = "tools")]
mod import;
pub mod items;
pub mod keys;
pub mod outbox;
pub mod placement;
mod ports;
pub mod rate_slots;
pub mod risk_lists;
pub mod sync_due;
pub mod sync_slots;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::domain::AgencyId;

/// The most items DynamoDB takes in one transaction.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB call failed: {context}")]
    Dynamo {
        /// The call's error with its whole chain, for the log.
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the transaction was cancelled: {0:?}")]
    Cancelled(Vec<String>),
    #[error("could not encode an item: {0}")]
    Encode(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("could not decode an item: {0}")]
    Decode(#[source] serde_dynamo::Error),
    /// A condition on the write failed: someone else wrote first. Read again and retry.
    #[error("the item changed since it was read")]
    Conflict,
    #[error("the application kept changing while being written; gave up after {0} attempts")]
    Contention(u32),
    #[error("the change needs {0} writes, more than one transaction holds")]
    TooLarge(usize),
    #[error("agency {0} cannot be placed under its own downline")]
    Cycle(AgencyId),
    #[error("agency {0} would be more than {max} levels deep", max = crate::domain::MAX_AGENCY_DEPTH)]
    TooDeep(AgencyId),
    #[error("the cursor does not belong to this list")]
    BadCursor,
}

impl<E, R> From<SdkError<E, R>> for StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn from(err: SdkError<E, R>) -> Self {
        StoreError::Dynamo { context: DisplayErrorContext(&err).to_string(), source: Box::new(err) }
    }
}

impl From<crate::domain::TreeRefusal> for StoreError {
    fn from(refusal: crate::domain::TreeRefusal) -> Self {
        match refusal {
            crate::domain::TreeRefusal::Cycle(agency) => StoreError::Cycle(agency),
            crate::domain::TreeRefusal::TooDeep(agency) => StoreError::TooDeep(agency),
        }
    }
}

impl From<aws_sdk_dynamodb::error::BuildError> for StoreError {
    fn from(err: aws_sdk_dynamodb::error::BuildError) -> Self {
        StoreError::Encode(Box::new(err))
    }
}

/// Whether a write was refused only because its condition did not hold (someone wrote first, or
/// the item is not in the state the write expects).
pub(crate) fn condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

/// A transactional put that holds only over the version read (or where no item exists yet).
pub(crate) fn if_version(
    put: aws_sdk_dynamodb::types::builders::PutBuilder,
    read_version: Option<u64>,
) -> aws_sdk_dynamodb::types::builders::PutBuilder {
    match read_version {
        None => put.condition_expression("attribute_not_exists(pk)"),
        Some(version) => put
            .condition_expression("version = :version")
            .expression_attribute_values(":version", aws_sdk_dynamodb::types::AttributeValue::N(version.to_string())),
    }
}

/// The table and the client to reach it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Placements cancelled by a newer state, since last taken (for the `PlacementConflicts` metric).
    placement_conflicts: std::sync::Arc<crate::metrics::Counter>,
    /// Rows a directory job re-places between saving its position and looking at the time.
    job_page: i32,
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), placement_conflicts: Default::default(), job_page: 100 }
    }

    /// The same store with directory jobs that look at the time every `rows` rows: for tests that
    /// need jobs to pause and resume on small lists.
    #[cfg(feature = "tools")]
    pub fn with_job_page(mut self, rows: i32) -> Self {
        self.job_page = rows;
        self
    }

    /// The placements this store (and its clones) saw cancelled by a newer state since last asked.
    pub fn take_placement_conflicts(&self) -> u64 {
        self.placement_conflicts.take()
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// The SDK client itself, for tools that read the table whole (the checker, the tests).
    #[cfg(feature = "tools")]
    pub fn raw_client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// Writes all of `items` or none of them. A failed condition is `Conflict`.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        if items.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::TooLarge(items.len()));
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let codes: Vec<&str> =
                        cancelled.cancellation_reasons().iter().filter_map(|reason| reason.code()).collect();
                    let lost_a_race =
                        codes.iter().any(|code| matches!(*code, "ConditionalCheckFailed" | "TransactionConflict"));
                    if lost_a_race {
                        Err(StoreError::Conflict)
                    } else {
                        Err(StoreError::Cancelled(codes.into_iter().map(str::to_owned).collect()))
                    }
                }
                _ => Err(err.into()),
            },
        }
    }

    /// Every item a query finds, page after page. For item collections known to be small (an
    /// application's entries, an agency's children): lists people page through use `risk_page`.
    pub(crate) async fn query_all(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<items::Item>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start).send().await?;
            found.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// One item, read consistently.
    pub(crate) async fn get_item(&self, pk: String, sk: &str) -> Result<Option<items::Item>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(keys::PK, applications::s(pk))
            .key(keys::SK, applications::s(sk))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item)
    }

    /// The items of `keys` (partition and sort key) that exist, by partition key, read
    /// consistently, up to 100 a request (what DynamoDB leaves unprocessed is asked again).
    pub(crate) async fn get_all(
        &self,
        keys: Vec<(String, String)>,
    ) -> Result<std::collections::HashMap<String, items::Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = std::collections::HashMap::new();
        for chunk in keys.chunks(100) {
            let wanted: Vec<items::Item> = chunk
                .iter()
                .map(|(pk, sk)| {
                    items::Item::from([
                        (keys::PK.to_owned(), applications::s(pk)),
                        (keys::SK.to_owned(), applications::s(sk)),
                    ])
                })
                .collect();
            let mut pending = Some(KeysAndAttributes::builder().set_keys(Some(wanted)).consistent_read(true).build()?);
            let mut attempt = 0u32;
            while let Some(ask) = pending.take() {
                let out = self.client.batch_get_item().request_items(self.table.clone(), ask).send().await?;
                for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    let pk = item.get(keys::PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                    found.insert(pk, item);
                }
                pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    attempt += 1;
                    tokio::time::sleep(applications::backoff(attempt)).await;
                }
            }
        }
        Ok(found)
    }

    /// Every item of one partition whose sort key begins with `prefix`.
    pub(crate) async fn query_prefix(&self, pk: String, prefix: &str) -> Result<Vec<items::Item>, StoreError> {
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", applications::s(pk))
            .expression_attribute_values(":prefix", applications::s(prefix))
            .consistent_read(true);
        self.query_all(query).await
    }

    /// Writes items in batches of 25 (puts and deletes that need no condition), retrying what
    /// DynamoDB leaves unprocessed.
    pub(crate) async fn write_batch(
        &self,
        requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let out = self.client.batch_write_item().request_items(self.table.clone(), pending).send().await?;
                pending = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                attempt += 1;
                if !pending.is_empty() {
                    tokio::time::sleep(applications::backoff(attempt)).await;
                }
            }
        }
        Ok(())
    }
}

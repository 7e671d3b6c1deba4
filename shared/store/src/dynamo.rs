//! The DynamoDB plumbing every store file shares, each written once: attribute values, the
//! condition that an item is still as it was read, retrying a write that lost a race, queries by
//! partition and sort key, and the table calls every store file makes (one item, many items, a
//! transaction, a batch).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, KeysAndAttributes, Put, TransactWriteItem, WriteRequest,
};

use super::items::Item;
use super::{Store, StoreError, keys};

/// The most items DynamoDB takes in one transaction.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// How often a write that lost a race reads again and retries before giving up.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

// ---- attribute values ---------------------------------------------------------------------

/// A string attribute.
pub(crate) fn text(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub(crate) fn number(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The key of one item.
pub(crate) fn key_of(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    Item::from([(keys::PK.to_owned(), text(pk)), (keys::SK.to_owned(), text(sk))])
}

// ---- conditions ---------------------------------------------------------------------------

/// A condition expression with the values of its placeholders, put on any write by
/// `Conditional::when`. The one way the store says "only if the item is as I read it".
#[derive(Debug, Clone, Default)]
pub(crate) struct Condition {
    expression: String,
    names: Vec<(String, String)>,
    values: Vec<(String, AttributeValue)>,
}

impl Condition {
    /// Any condition, with its placeholders given by `name` and `value`.
    pub fn new(expression: impl Into<String>) -> Self {
        Self { expression: expression.into(), ..Self::default() }
    }

    /// The item is still at the version read — or, read as absent, still has none (an item
    /// created by counters alone has no version yet either).
    pub fn version_is(read: Option<u64>) -> Self {
        match read {
            None => Self::new("attribute_not_exists(version)"),
            Some(version) => Self::new("version = :version").value(":version", number(version)),
        }
    }

    /// And `attribute`, a counter that is absent before its first bump, is still `read`.
    pub fn counter_is(self, attribute: &str, read: u64) -> Self {
        let placeholder = format!(":{attribute}");
        let clause = format!("(attribute_not_exists({attribute}) OR {attribute} = {placeholder})");
        self.and(clause).value(&placeholder, number(read))
    }

    /// And `clause` holds too.
    pub fn and(mut self, clause: impl AsRef<str>) -> Self {
        self.expression = format!("{} AND {}", self.expression, clause.as_ref());
        self
    }

    pub fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names.push((placeholder.to_owned(), attribute.to_owned()));
        self
    }

    pub fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.push((placeholder.to_owned(), value));
        self
    }
}

/// A write that can carry a condition.
pub(crate) trait Conditional: Sized {
    /// The write, done only while `condition` holds.
    fn when(self, condition: Condition) -> Self;
}

macro_rules! conditional {
    ($($builder:ty),*) => {$(
        impl Conditional for $builder {
            fn when(self, condition: Condition) -> Self {
                let mut write = self.condition_expression(condition.expression);
                for (placeholder, name) in condition.names {
                    write = write.expression_attribute_names(placeholder, name);
                }
                for (placeholder, value) in condition.values {
                    write = write.expression_attribute_values(placeholder, value);
                }
                write
            }
        }
    )*};
}

conditional!(
    aws_sdk_dynamodb::types::builders::PutBuilder,
    aws_sdk_dynamodb::types::builders::UpdateBuilder,
    aws_sdk_dynamodb::types::builders::ConditionCheckBuilder,
    aws_sdk_dynamodb::types::builders::DeleteBuilder,
    aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
    aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder
);

/// Whether a write was refused only because its condition did not hold (someone wrote first, or
/// the item is not in the state the write expects).
pub(crate) fn condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

// ---- failures ---------------------------------------------------------------------------

/// A DynamoDB call that failed, with its whole chain for the log.
pub(crate) fn failed<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Dynamo { context: DisplayErrorContext(&err).to_string(), source: Box::new(err) }
}

/// A request that could not be built (a required field missing).
pub(crate) fn unbuilt(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Encode(Box::new(err))
}

// ---- retrying -----------------------------------------------------------------------------

/// The wait after a write lost a race (or was throttled), before reading again and retrying.
pub(crate) fn backoff(attempt: u32) -> Duration {
    shared::backoff::jittered(Duration::from_millis(10), Duration::from_millis(1280), attempt)
}

/// Runs `attempt` (given its number, from 1) until it does not lose a race: a `Conflict` waits
/// and tries again, up to `MAX_ATTEMPTS` times; then `Contention`. An attempt that can tell a lost
/// race from a finished job (someone else did it) returns what it found instead of `Conflict`.
pub(crate) async fn retry_on_conflict<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let ((), outcome) = retry_on_conflict_with((), |(), number| {
        let tried = attempt(number);
        async move { ((), tried.await) }
    })
    .await;
    outcome
}

/// `retry_on_conflict` for an attempt that keeps state from one try to the next (a cache it
/// fills, or empties after a lost race): the attempt takes it and hands it back.
pub(crate) async fn retry_on_conflict_with<S, T, F, Fut>(mut state: S, mut attempt: F) -> (S, Result<T, StoreError>)
where
    F: FnMut(S, u32) -> Fut,
    Fut: Future<Output = (S, Result<T, StoreError>)>,
{
    for number in 1..=MAX_ATTEMPTS {
        let (kept, outcome) = attempt(state, number).await;
        state = kept;
        match outcome {
            Err(StoreError::Conflict) => {
                tracing::debug!(attempt = number, "lost a race to a newer write; reading again");
                tokio::time::sleep(backoff(number)).await;
            }
            other => return (state, other),
        }
    }
    (state, Err(StoreError::Contention(MAX_ATTEMPTS)))
}

// ---- queries ------------------------------------------------------------------------------

/// Where a query looks: the table or one of its indexes, each with its own key attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Index {
    Table,
    Gsi1,
    Gsi2,
    Gsi3,
}

impl Index {
    fn name(self) -> Option<&'static str> {
        match self {
            Index::Table => None,
            Index::Gsi1 => Some(keys::GSI1),
            Index::Gsi2 => Some(keys::GSI2),
            Index::Gsi3 => Some(keys::GSI3),
        }
    }

    /// Its partition and sort key attributes.
    pub fn key_attributes(self) -> (&'static str, &'static str) {
        match self {
            Index::Table => (keys::PK, keys::SK),
            Index::Gsi1 => (keys::GSI1_PK, keys::GSI1_SK),
            Index::Gsi2 => (keys::GSI2_PK, keys::GSI2_SK),
            Index::Gsi3 => (keys::GSI3_PK, keys::GSI3_SK),
        }
    }
}

/// Which sort keys of a partition a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SortKeys {
    All,
    Prefix(String),
    /// From the first to the second, both included.
    Between(String, String),
    Below(String),
    Above(String),
}

impl Store {
    /// A query of one partition of `index`, narrowed to `sort`: the key condition written once.
    /// The caller adds what else it needs (a limit, the order, consistency, a start, a filter).
    pub(crate) fn query(&self, index: Index, pk: impl Into<String>, sort: SortKeys) -> QueryFluentBuilder {
        let (pk_attribute, sk_attribute) = index.key_attributes();
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .set_index_name(index.name().map(str::to_owned))
            .expression_attribute_names("#pk", pk_attribute)
            .expression_attribute_values(":pk", text(pk));
        let sorted = |query: QueryFluentBuilder, condition: &str| {
            query
                .key_condition_expression(format!("#pk = :pk AND {condition}"))
                .expression_attribute_names("#sk", sk_attribute)
        };
        match sort {
            SortKeys::All => query.key_condition_expression("#pk = :pk"),
            SortKeys::Prefix(prefix) => {
                sorted(query, "begins_with(#sk, :sk)").expression_attribute_values(":sk", text(prefix))
            }
            SortKeys::Between(from, to) => sorted(query, "#sk BETWEEN :sk AND :to")
                .expression_attribute_values(":sk", text(from))
                .expression_attribute_values(":to", text(to)),
            SortKeys::Below(below) => sorted(query, "#sk < :sk").expression_attribute_values(":sk", text(below)),
            SortKeys::Above(above) => sorted(query, "#sk > :sk").expression_attribute_values(":sk", text(above)),
        }
    }

    /// Every item a query finds, page after page. For item collections known to be small (an
    /// application's entries, an agency's children): lists people page through use `risk_page`.
    pub(crate) async fn query_all(&self, query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start).send().await.map_err(failed)?;
            found.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// Every item of one partition whose sort key begins with `prefix`, read consistently.
    pub(crate) async fn query_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.query_all(self.query(Index::Table, pk, SortKeys::Prefix(prefix.to_owned())).consistent_read(true)).await
    }

    // ---- reading and writing items ---------------------------------------------------------

    /// One item, read consistently.
    pub(crate) async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key_of(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed)?;
        Ok(out.item)
    }

    /// The items of `keys` (partition and sort key) that exist, by partition key, read
    /// consistently, up to 100 a request (what DynamoDB leaves unprocessed is asked again).
    pub(crate) async fn get_all(&self, keys: Vec<(String, String)>) -> Result<HashMap<String, Item>, StoreError> {
        Ok(by_partition(self.batch_get(keys, true, None).await?))
    }

    /// The same, by partition and sort key: for items that share a partition.
    pub(crate) async fn get_each(
        &self,
        keys: Vec<(String, String)>,
    ) -> Result<HashMap<(String, String), Item>, StoreError> {
        self.batch_get(keys, true, None).await
    }

    /// Like `get_all`, but eventually consistent (half the read units) and only the attributes
    /// `projection` names (the partition key among them): for what people read, where a write a
    /// moment old may show a moment late.
    pub(crate) async fn get_all_eventually(
        &self,
        keys: Vec<(String, String)>,
        projection: &str,
    ) -> Result<HashMap<String, Item>, StoreError> {
        Ok(by_partition(self.batch_get(keys, false, Some(projection)).await?))
    }

    async fn batch_get(
        &self,
        keys: Vec<(String, String)>,
        consistent: bool,
        projection: Option<&str>,
    ) -> Result<HashMap<(String, String), Item>, StoreError> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(100) {
            let wanted: Vec<Item> = chunk.iter().map(|(pk, sk)| key_of(pk, sk)).collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(wanted))
                    .consistent_read(consistent)
                    .set_projection_expression(projection.map(str::to_owned))
                    .build()
                    .map_err(unbuilt)?,
            );
            let mut attempt = 0u32;
            while let Some(ask) = pending.take() {
                let out =
                    self.client().batch_get_item().request_items(self.table(), ask).send().await.map_err(failed)?;
                for item in out.responses.and_then(|mut r| r.remove(self.table())).unwrap_or_default() {
                    let key = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                    found.insert((key(keys::PK), key(keys::SK)), item);
                }
                pending = out.unprocessed_keys.and_then(|mut u| u.remove(self.table())).filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        Ok(found)
    }

    /// One update of an item that holds only while `condition` does; `Conflict` otherwise.
    pub(crate) async fn update_if(
        &self,
        pk: &str,
        sk: &str,
        expression: &str,
        condition: Condition,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_of(pk, sk)))
            .update_expression(expression)
            .when(condition);
        for (placeholder, value) in values {
            update = update.expression_attribute_values(placeholder, value);
        }
        match update.send().await {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Err(StoreError::Conflict),
            Err(err) => Err(failed(err)),
        }
    }

    /// A transaction's check that an item is as `condition` says, writing nothing.
    pub(crate) fn check(&self, pk: String, sk: &str, condition: Condition) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder().table_name(self.table()).set_key(Some(key_of(pk, sk)));
        Ok(TransactWriteItem::builder().condition_check(check.when(condition).build().map_err(unbuilt)?).build())
    }

    /// Writes all of `items` or none of them. A failed condition is `Conflict`.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        if items.len() > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::TooLarge(items.len()));
        }
        match self.client().transact_write_items().set_transact_items(Some(items)).send().await {
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
                _ => Err(failed(err)),
            },
        }
    }

    /// One conditional put, written alone: as atomic as a transaction of one and half its cost
    /// (a transaction bills each item twice). A failed condition, or a transaction holding the
    /// item, is `Conflict`. Unlike a transaction it carries no client token, so a retry of a put
    /// whose answer was lost meets its own write as a conflict: only for writes whose caller
    /// re-reads on a conflict and recognises what it wrote (the application's item, whose
    /// evidence is then found applied).
    pub(crate) async fn put_alone(&self, put: &Put) -> Result<(), StoreError> {
        let written = self
            .client()
            .put_item()
            .table_name(put.table_name())
            .set_item(Some(put.item().clone()))
            .set_condition_expression(put.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(put.expression_attribute_names().cloned())
            .set_expression_attribute_values(put.expression_attribute_values().cloned())
            .send()
            .await;
        match written {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) || err.code() == Some("TransactionConflictException") => {
                Err(StoreError::Conflict)
            }
            Err(err) => Err(failed(err)),
        }
    }

    /// Writes items in batches of 25 (puts and deletes that need no condition), retrying what
    /// DynamoDB leaves unprocessed.
    pub(crate) async fn write_batch(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let out = self
                    .client()
                    .batch_write_item()
                    .request_items(self.table(), pending)
                    .send()
                    .await
                    .map_err(failed)?;
                pending = out.unprocessed_items.and_then(|mut u| u.remove(self.table())).unwrap_or_default();
                attempt += 1;
                if !pending.is_empty() {
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        Ok(())
    }
}

/// Items by their partition key alone: for reads of one item per partition.
fn by_partition(items: HashMap<(String, String), Item>) -> HashMap<String, Item> {
    items.into_iter().map(|((pk, _), item)| (pk, item)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_condition_reads_absent_as_no_version_yet_and_adds_counters() {
        let absent = Condition::version_is(None);
        assert_eq!(absent.expression, "attribute_not_exists(version)");
        assert!(absent.values.is_empty());

        let read =
            Condition::version_is(Some(4)).counter_is("seen", 2).and("attribute_exists(#g)").name("#g", "gsi1pk");
        assert_eq!(
            read.expression,
            "version = :version AND (attribute_not_exists(seen) OR seen = :seen) AND attribute_exists(#g)"
        );
        assert_eq!(read.values, vec![(":version".to_owned(), number(4)), (":seen".to_owned(), number(2))]);
        assert_eq!(read.names, vec![("#g".to_owned(), "gsi1pk".to_owned())]);
    }

    #[tokio::test]
    async fn a_retry_tries_again_after_each_lost_race_and_gives_up_after_the_last() {
        let (tries, won) = retry_on_conflict_with(0, |tries, number| async move {
            (tries + 1, if number < 3 { Err(StoreError::Conflict) } else { Ok(number) })
        })
        .await;
        assert_eq!((won.unwrap(), tries), (3, 3));

        let (tries, lost) =
            retry_on_conflict_with(0, |tries, _| async move { (tries + 1, Err::<(), _>(StoreError::Conflict)) }).await;
        assert!(matches!(lost, Err(StoreError::Contention(MAX_ATTEMPTS))));
        assert_eq!(tries, MAX_ATTEMPTS);

        let refused: Result<(), _> = retry_on_conflict(|_| async { Err(StoreError::BadCursor) }).await;
        assert!(matches!(refused, Err(StoreError::BadCursor)), "only a lost race is tried again");
    }
}

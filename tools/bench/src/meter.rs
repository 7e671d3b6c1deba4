//! What DynamoDB would charge for the requests the store sends, metered on the emulator: an
//! interceptor on the store's client keeps every request and its answer, and the table's stream
//! (old and new image of every item written) says how large each item was before and after each
//! write. `devkit::capacity` turns those into units with DynamoDB's sizing rules: write units per
//! started KB of the larger image (twice in a transaction, condition checks included), the index
//! writes each change makes by what each index projects, read units per started 4 KB (a query's
//! items together, a batch's one by one, halved when eventually consistent), and the units a
//! refused conditional write still costs.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::{ProjectionType, StreamSpecification, StreamViewType};
use devkit::capacity::{IndexShape, Projection, item_size, read_units, write_units};
use serde_json::{Value, json};
use store::Store;

type Failure = Box<dyn std::error::Error>;

/// What was metered between two calls of `take`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    /// Items put, updated or deleted.
    pub items: u64,
    pub write_units: u64,
    pub read_units: f64,
    pub requests: u64,
    /// Writes DynamoDB refused (a condition not met, a transaction cancelled): billed all the same.
    pub refused: u64,
}

/// One request the store sent, and DynamoDB's answer.
#[derive(Debug, Clone)]
struct Sent {
    operation: String,
    body: Value,
    answer: Option<Value>,
    succeeded: bool,
}

/// Meters a store's DynamoDB work on one table (see the module's docs).
#[derive(Clone)]
pub struct Meter {
    sent: Arc<Mutex<Vec<Sent>>>,
    /// `None` for a meter of reads only (`Meter::reads_only`): no stream, so writes are not priced.
    stream: Option<Arc<tokio::sync::Mutex<Stream>>>,
    table_keys: Vec<String>,
    indexes: Vec<IndexShape>,
    /// The latest known size of each item, by key: for condition checks and refused writes,
    /// which the stream does not show.
    sizes: Arc<Mutex<HashMap<String, usize>>>,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meter").finish_non_exhaustive()
    }
}

impl Meter {
    /// A meter of reads only: the stream of a table that takes many writes would hold them all
    /// in the emulator's memory.
    pub async fn reads_only(sdk: &shared::aws::SdkConfig, table: &str) -> Result<Self, Failure> {
        let (table_keys, indexes, _) = Self::shape(sdk, table).await?;
        Ok(Self { sent: Arc::default(), stream: None, table_keys, indexes, sizes: Arc::default() })
    }

    /// Turns on `table`'s stream (new and old images) and reads its indexes' shapes.
    pub async fn on(sdk: &shared::aws::SdkConfig, table: &str) -> Result<Self, Failure> {
        let (table_keys, indexes, arn) = Self::shape(sdk, table).await?;
        let client = aws_sdk_dynamodb::Client::new(sdk);
        let arn = match arn {
            Some(arn) => arn,
            None => {
                let spec = StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()?;
                let updated = client.update_table().table_name(table).stream_specification(spec).send().await?;
                updated.table_description.and_then(|t| t.latest_stream_arn).ok_or("the stream did not start")?
            }
        };
        let region = sdk.region().map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
        let stream = Stream::open(arn, region).await?;
        Ok(Self {
            sent: Arc::default(),
            stream: Some(Arc::new(tokio::sync::Mutex::new(stream))),
            table_keys,
            indexes,
            sizes: Arc::default(),
        })
    }

    /// The table's keys, its indexes' shapes and its stream, if on.
    async fn shape(
        sdk: &shared::aws::SdkConfig,
        table: &str,
    ) -> Result<(Vec<String>, Vec<IndexShape>, Option<String>), Failure> {
        let client = aws_sdk_dynamodb::Client::new(sdk);
        let described = client.describe_table().table_name(table).send().await?;
        let description = described.table.ok_or("no table description")?;
        let table_keys: Vec<String> = description.key_schema().iter().map(|k| k.attribute_name().to_owned()).collect();
        let indexes = description
            .global_secondary_indexes()
            .iter()
            .map(|index| {
                let projection = index.projection();
                IndexShape {
                    keys: index.key_schema().iter().map(|k| k.attribute_name().to_owned()).collect(),
                    table_keys: table_keys.clone(),
                    projection: match projection.and_then(|p| p.projection_type()) {
                        Some(ProjectionType::KeysOnly) => Projection::KeysOnly,
                        Some(ProjectionType::Include) => {
                            Projection::Include(projection.map(|p| p.non_key_attributes().to_vec()).unwrap_or_default())
                        }
                        _ => Projection::All,
                    },
                }
            })
            .collect();
        Ok((table_keys, indexes, description.latest_stream_arn))
    }

    /// A store on `table` whose requests this meter meters.
    pub fn store(&self, sdk: &shared::aws::SdkConfig, table: &str) -> Store {
        let config = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(self.clone()).build();
        Store::new(aws_sdk_dynamodb::Client::from_conf(config), table.to_owned())
    }

    /// Forgets everything metered so far.
    pub async fn reset(&self) -> Result<(), Failure> {
        self.take().await.map(|_| ())
    }

    /// What the requests since the last call cost.
    pub async fn take(&self) -> Result<Units, Failure> {
        let sent = std::mem::take(&mut *self.sent.lock().map_err(|_| "poisoned")?);
        let mut changes: HashMap<String, VecDeque<Change>> = HashMap::new();
        let records = match &self.stream {
            Some(stream) => stream.lock().await.records().await?,
            None => Vec::new(),
        };
        for record in records {
            let change = &record["dynamodb"];
            let key = self.key_of(&change["Keys"]);
            let (before, after) = (image(&change["OldImage"]), image(&change["NewImage"]));
            let queue = changes.entry(key).or_default();
            // The emulator makes an item an update creates in two steps, each with a record of
            // its own: its keys alone, then the item. One write: the second record says it.
            let keys_alone = |item: &Value| {
                item.as_object().is_some_and(|attributes| attributes.keys().all(|name| self.table_keys.contains(name)))
            };
            if before.is_none()
                && queue.back().is_some_and(|(old, new)| old.is_none() && new.as_ref().is_some_and(keys_alone))
            {
                queue.pop_back();
            }
            queue.push_back((before, after));
        }
        let mut sizes = self.sizes.lock().map_err(|_| "poisoned")?;
        let mut units = Units { requests: sent.len() as u64, ..Units::default() };
        for request in &sent {
            units.read_units += self.read_units_of(request, &mut sizes);
            for action in actions(request) {
                let key = self.key_of(&action.key);
                let known = sizes.get(&key).copied().unwrap_or(0);
                let times = if action.transactional { 2 } else { 1 };
                if !request.succeeded {
                    // Refused: DynamoDB still reads the item to judge the condition (a
                    // transaction's prepare phase) and bills a write of its size.
                    units.refused += 1;
                    units.write_units += write_units(known.max(action.size));
                    continue;
                }
                if action.check_only {
                    units.write_units += times * write_units(known);
                    continue;
                }
                units.items += 1;
                match changes.get_mut(&key).and_then(VecDeque::pop_front) {
                    Some((before, after)) => {
                        let size = |image: &Option<Value>| image.as_ref().map_or(0, item_size);
                        units.write_units += times * write_units(size(&before).max(size(&after)));
                        units.write_units += self
                            .indexes
                            .iter()
                            .map(|index| index.write_units(before.as_ref(), after.as_ref()))
                            .sum::<u64>();
                        match &after {
                            Some(item) => sizes.insert(key, item_size(item)),
                            None => sizes.remove(&key),
                        };
                    }
                    // A write that changed nothing: billed, and no index sees it.
                    None => units.write_units += times * write_units(known.max(action.size)),
                }
            }
        }
        Ok(units)
    }

    /// The mean size of the items this meter has seen written or read.
    pub fn mean_item_bytes(&self) -> Result<f64, Failure> {
        let sizes = self.sizes.lock().map_err(|_| "poisoned")?;
        Ok(sizes.values().sum::<usize>() as f64 / sizes.len().max(1) as f64)
    }

    /// The read units of one request, remembering the sizes of the items it read.
    fn read_units_of(&self, request: &Sent, sizes: &mut HashMap<String, usize>) -> f64 {
        let Some(answer) = request.answer.as_ref().filter(|_| request.succeeded) else { return 0.0 };
        let consistent = |body: &Value| body["ConsistentRead"].as_bool().unwrap_or(false);
        let mut remember = |item: &Value| {
            let size = item_size(item);
            sizes.insert(self.key_of(item), size);
            size
        };
        match request.operation.as_str() {
            "GetItem" => read_units(answer.get("Item").map_or(0, &mut remember), consistent(&request.body)),
            // Each key on its own, found or not.
            "BatchGetItem" => request.body["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(table, asked)| {
                    let found: HashMap<String, usize> = answer["Responses"][table]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|item| (self.key_of(item), remember(item)))
                        .collect();
                    asked["Keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|key| read_units(found.get(&self.key_of(key)).copied().unwrap_or(0), consistent(asked)))
                        .sum::<f64>()
                })
                .sum(),
            // The items evaluated together; those a filter dropped are not in the answer, so
            // they count at the average size of those returned.
            "Query" | "Scan" => {
                let items = answer["Items"].as_array().cloned().unwrap_or_default();
                let returned: usize = items.iter().map(&mut remember).sum();
                let scanned = answer["ScannedCount"].as_u64().unwrap_or(items.len() as u64) as usize;
                let average = if items.is_empty() { 0 } else { returned / items.len() };
                read_units(returned + scanned.saturating_sub(items.len()) * average, consistent(&request.body))
            }
            _ => 0.0,
        }
    }

    /// An item's primary key as one text.
    fn key_of(&self, item: &Value) -> String {
        self.table_keys.iter().map(|k| item[k].to_string()).collect::<Vec<_>>().join("|")
    }
}

/// An item's image before and after one write, from the stream.
type Change = (Option<Value>, Option<Value>);

/// One item a write request puts, updates, deletes or checks.
struct Action {
    key: Value,
    transactional: bool,
    check_only: bool,
    /// The size of the item it puts (0 when it names only a key).
    size: usize,
}

fn actions(request: &Sent) -> Vec<Action> {
    let body = &request.body;
    let single = |key: &Value, size| Action { key: key.clone(), transactional: false, check_only: false, size };
    match request.operation.as_str() {
        "PutItem" => vec![single(&body["Item"], item_size(&body["Item"]))],
        "UpdateItem" | "DeleteItem" => vec![single(&body["Key"], 0)],
        "BatchWriteItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, writes)| writes.as_array().cloned().unwrap_or_default())
            .map(|write| match write.get("PutRequest") {
                Some(put) => single(&put["Item"], item_size(&put["Item"])),
                None => single(&write["DeleteRequest"]["Key"], 0),
            })
            .collect(),
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let (kind, action) = entry.as_object()?.iter().next()?;
                let (key, size) = match kind.as_str() {
                    "Put" => (&action["Item"], item_size(&action["Item"])),
                    _ => (&action["Key"], 0),
                };
                Some(Action { key: key.clone(), transactional: true, check_only: kind == "ConditionCheck", size })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A stream image, `None` when the record has none (an insert's old, a removal's new).
fn image(value: &Value) -> Option<Value> {
    value.as_object().map(|_| value.clone())
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "Meter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        let body = request.body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
        let mut sent = self.sent.lock().map_err(|_| "poisoned")?;
        // The answer does not say what it answers: remember which request it is.
        cfg.interceptor_state().store_put(Position(sent.len()));
        sent.push(Sent { operation, body, answer: None, succeeded: false });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        let answer = response.body().bytes().and_then(|b| serde_json::from_slice(b).ok());
        let succeeded = response.status().is_success();
        if let Some(Position(at)) = cfg.load::<Position>()
            && let Some(sent) = self.sent.lock().map_err(|_| "poisoned")?.get_mut(*at)
        {
            sent.answer = answer;
            sent.succeeded = succeeded;
        }
        Ok(())
    }
}

/// Which request (by position) a response answers.
#[derive(Debug, Clone)]
struct Position(usize);

impl aws_smithy_types::config_bag::Storable for Position {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// The table's stream, read through the emulator's DynamoDB Streams API (the wire protocol; no
/// SDK crate is built for it here).
struct Stream {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    iterator: String,
}

impl Stream {
    async fn open(arn: String, region: String) -> Result<Self, Failure> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .map_err(|_| "the meter reads the emulator's stream: set AWS_ENDPOINT_URL")?;
        let mut stream = Self { http: reqwest::Client::new(), endpoint, region, iterator: String::new() };
        let described = stream.call("DescribeStream", json!({ "StreamArn": arn })).await?;
        let shard = described["StreamDescription"]["Shards"][0]["ShardId"].as_str().ok_or("the stream has no shard")?;
        let iterator = stream
            .call(
                "GetShardIterator",
                json!({ "StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON" }),
            )
            .await?;
        stream.iterator = iterator["ShardIterator"].as_str().ok_or("no shard iterator")?.to_owned();
        // Whatever was written before the meter was on is not metered.
        stream.records().await?;
        Ok(stream)
    }

    /// The records written since the last call, oldest first.
    async fn records(&mut self) -> Result<Vec<Value>, Failure> {
        let mut records = Vec::new();
        loop {
            let page = self.call("GetRecords", json!({ "ShardIterator": self.iterator, "Limit": 1000 })).await?;
            if let Some(next) = page["NextShardIterator"].as_str() {
                self.iterator = next.to_owned();
            }
            let batch = page["Records"].as_array().cloned().unwrap_or_default();
            if batch.is_empty() {
                return Ok(records);
            }
            records.extend(batch);
        }
    }

    async fn call(&self, action: &str, body: Value) -> Result<Value, Failure> {
        // The emulator routes by the credential scope's service and the target; it checks no
        // signature.
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=bench/20260101/{}/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            self.region
        );
        let answer = self
            .http
            .post(&self.endpoint)
            .header("X-Amz-Target", format!("DynamoDBStreams_20120810.{action}"))
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("Authorization", authorization)
            .body(body.to_string())
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(serde_json::from_str(&answer)?)
    }
}

//! Items written per operation, counted from what the store sends: an interceptor on the DynamoDB
//! client counts every Put, Update and Delete in each request (a transaction's condition checks
//! are not writes). It also counts what DynamoDB charges for: write request units (an item in a
//! transaction, condition checks included, is two; any other write one — the items here are all
//! under 1 KB — plus the index writes, `index_writes`) and items read (a GetItem one, a Query its
//! `ScannedCount`). Depends on `fixtures`
//! and the store's public API only, so that `tools/bench-replaced.sh` runs this same probe
//! against the design the current one replaced.

use shared::ports::Applications;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use chrono::Utc;
use shared::domain::ApplicationKey;
use shared::domain::{AgentId, Evidence};
use store::Store;

use crate::fixtures::{agency, archive, key, person, submission, sync};

type Failure = Box<dyn std::error::Error>;

/// Counts the items each request writes, the write request units, the items read and the requests.
#[derive(Debug, Clone, Default)]
pub struct WriteCounter {
    written: Arc<AtomicU64>,
    write_units: Arc<AtomicU64>,
    read: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
}

/// What was counted between two calls of `take_units`.
pub struct Units {
    pub write_units: u64,
    pub reads: u64,
    pub requests: u64,
}

impl WriteCounter {
    /// The items written since the last call.
    pub fn take(&self) -> u64 {
        self.written.swap(0, Ordering::SeqCst)
    }

    /// The write request units, items read and requests since the last call.
    pub fn take_units(&self) -> Units {
        Units {
            write_units: self.write_units.swap(0, Ordering::SeqCst),
            reads: self.read.swap(0, Ordering::SeqCst),
            requests: self.requests.swap(0, Ordering::SeqCst),
        }
    }

    /// Forgets everything counted so far.
    pub fn reset(&self) {
        self.take();
        self.take_units();
    }

    /// A store on `table` whose writes this counter counts.
    pub fn store(&self, sdk: &shared::aws::SdkConfig, table: &str) -> Store {
        let config = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(self.clone()).build();
        Store::new(aws_sdk_dynamodb::Client::from_conf(config), table.to_owned())
    }
}

impl Intercept for WriteCounter {
    fn name(&self) -> &'static str {
        "WriteCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default();
        let body: serde_json::Value =
            request.body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
        let written = match operation {
            "PutItem" | "UpdateItem" | "DeleteItem" => 1,
            "BatchWriteItem" => body["RequestItems"]
                .as_object()
                .map_or(0, |tables| tables.values().filter_map(|v| v.as_array()).map(Vec::len).sum::<usize>()),
            "TransactWriteItems" => body["TransactItems"].as_array().map_or(0, |items| {
                items.iter().filter(|i| i.get("Put").or(i.get("Update")).or(i.get("Delete")).is_some()).count()
            }),
            _ => 0,
        };
        self.written.fetch_add(written as u64, Ordering::SeqCst);
        self.requests.fetch_add(1, Ordering::SeqCst);
        let table_units = match operation {
            "TransactWriteItems" => 2 * body["TransactItems"].as_array().map_or(0, Vec::len),
            _ => written,
        };
        let units = table_units + index_writes(operation, &body);
        self.write_units.fetch_add(units as u64, Ordering::SeqCst);
        // The response does not say what it answers: remember it for the read count.
        cfg.interceptor_state().store_put(Operation(operation.to_owned()));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body: serde_json::Value =
            context.response().body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
        let read = match cfg.load::<Operation>().map(|o| o.0.as_str()) {
            Some("Query" | "Scan") => body["ScannedCount"].as_u64().unwrap_or(0),
            // Of an item or of none: charged the same.
            Some("GetItem") => 1,
            _ => 0,
        };
        self.read.fetch_add(read, Ordering::SeqCst);
        Ok(())
    }
}

/// The writes a request makes in the table's indexes, which DynamoDB charges as one write unit
/// each: an item put with an index's key is one index write, two for an application's meta item
/// (its due-list key moves with every sync: the old entry deleted, the new one put); an update
/// that sets an index key is two. (A delete's index entries are not seen here: it names only the
/// key. So this counts a little short.)
fn index_writes(operation: &str, body: &serde_json::Value) -> usize {
    let put = |item: &serde_json::Value| {
        let keys = ["gsi1pk", "gsi2pk"].iter().filter(|k| item.get(**k).is_some()).count();
        let meta = item["sk"]["S"].as_str() == Some("META") && item.get("gsi2pk").is_some();
        keys + usize::from(meta)
    };
    let update = |request: &serde_json::Value| {
        let names = request["ExpressionAttributeNames"].as_object().map(|n| n.values().cloned().collect::<Vec<_>>());
        let sets_index = names.unwrap_or_default().iter().any(|n| n.as_str().is_some_and(|n| n.starts_with("gsi")))
            && request["UpdateExpression"].as_str().is_some_and(|e| e.contains("SET"));
        2 * usize::from(sets_index)
    };
    match operation {
        "PutItem" => put(&body["Item"]),
        "UpdateItem" => update(body),
        "BatchWriteItem" => body["RequestItems"].as_object().map_or(0, |tables| {
            tables.values().filter_map(|v| v.as_array()).flatten().map(|r| put(&r["PutRequest"]["Item"])).sum()
        }),
        "TransactWriteItems" => body["TransactItems"].as_array().map_or(0, |items| {
            items
                .iter()
                .map(|i| {
                    if i.get("Put").is_some() {
                        put(&i["Put"]["Item"])
                    } else if i.get("Update").is_some() {
                        update(&i["Update"])
                    } else {
                        0
                    }
                })
                .sum()
        }),
        _ => 0,
    }
}

/// The operation a request was, kept for its response.
#[derive(Debug, Clone)]
struct Operation(String);

impl aws_smithy_types::config_bag::Storable for Operation {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// One operation's figures (per at-risk entry, for the directory moves): items written, write
/// request units, items read, DynamoDB requests.
pub struct Figure {
    pub operation: &'static str,
    pub items: f64,
    pub write_units: f64,
    pub reads: f64,
    pub requests: f64,
}

/// How many at-risk entries the per-entry figures of the moves average over.
pub const MOVED_ENTRIES: u32 = 100;

/// Runs each operation once on a fresh tree in `table` and counts what it writes. Owners are two
/// levels below the top, so each at-risk entry is in 4 lists (own, leaf, mid, top).
pub async fn probe(sdk: &shared::aws::SdkConfig, table: &str) -> Result<Vec<Figure>, Failure> {
    let counter = WriteCounter::default();
    let store = counter.store(sdk, table);
    let as_of = Utc::now();
    store.upsert_agency(&agency("w-top".into(), None), as_of).await?;
    store.upsert_agency(&agency("w-mid".into(), Some("w-top".into())), as_of).await?;
    for leaf in ["w-a", "w-b", "w-c"] {
        store.upsert_agency(&agency(leaf.into(), Some("w-mid".into())), as_of).await?;
    }
    for (who, leaf, npn) in
        [("w-ana", "w-a", "111"), ("w-bob", "w-b", "222"), ("w-carl", "w-a", "111"), ("w-dan", "w-c", "111")]
    {
        store.upsert_agent(&person(who, leaf, npn), as_of).await?;
    }
    let now = Utc::now();
    let mut figures = Vec::new();
    let mut count = |operation: &'static str, written: u64, per: u32| {
        let units = counter.take_units();
        let per = f64::from(per);
        figures.push(Figure {
            operation,
            items: written as f64 / per,
            write_units: units.write_units as f64 / per,
            reads: units.reads as f64 / per,
            requests: units.requests as f64 / per,
        });
    };

    counter.reset();
    store.apply_evidence(&key("8000001"), &submission("w-s1".into(), 0, "w-ana", "111"), now).await?;
    count("a first submission (a new application, not at risk)", counter.take(), 1);
    store.apply_evidence(&key("8000001"), &submission("w-s2".into(), 1, "w-bob", "222"), now).await?;
    count("a submission that makes a swap (owner 2 levels down)", counter.take(), 1);

    store.apply_evidence(&key("8000002"), &submission("w-s3".into(), 0, "w-ana", "111"), now).await?;
    store.apply_evidence(&key("8000002"), &sync("w-y1", 5, "111"), now).await?;
    counter.reset();
    store.apply_evidence(&key("8000002"), &sync("w-y2", 6, "111"), now).await?;
    count("a sync that changes nothing (not at risk)", counter.take(), 1);

    store.apply_evidence(&key("8000003"), &submission("w-s4".into(), 0, "w-ana", "111"), now).await?;
    store.apply_evidence(&key("8000003"), &submission("w-s5".into(), 1, "w-bob", "222"), now).await?;
    counter.reset();
    store.apply_evidence(&key("8000003"), &sync("w-y3", 5, "222"), now).await?;
    count("a sync that confirms an entry at risk", counter.take(), 1);
    // The marketplace now shows ana's NPN: ana's entry clears and bob's is flagged.
    store.apply_evidence(&key("8000003"), &sync("w-y4", 6, "111"), now).await?;
    count("a sync that clears one entry and flags another", counter.take(), 1);

    store.apply_evidence(&key("8000001"), &archive("w-a1", 5, "w-ana"), now).await?;
    count("an archive of an entry at risk", counter.take(), 1);

    swapped_book(&store, "81", MOVED_ENTRIES, "w-carl", "w-bob").await?;
    counter.reset();
    store.upsert_agent(&person("w-carl", "w-b", "111"), Utc::now()).await?;
    count("an agent move, per at-risk entry", counter.take(), MOVED_ENTRIES);

    swapped_book(&store, "82", MOVED_ENTRIES, "w-dan", "w-bob").await?;
    counter.reset();
    store.upsert_agency(&agency("w-c".into(), Some("w-top".into())), Utc::now()).await?;
    count("an agency move, per at-risk entry", counter.take(), MOVED_ENTRIES);
    Ok(figures)
}

/// Loads `count` applications that `owner` submitted and `rival` then swapped, in batches.
pub async fn swapped_book(store: &Store, prefix: &str, count: u32, owner: &str, rival: &str) -> Result<(), Failure> {
    let owners = store.owner_items([owner, rival].into_iter().map(AgentId::parse).collect::<Result<_, _>>()?).await?;
    let applications: Vec<(ApplicationKey, Vec<Evidence>)> = (0..count)
        .map(|i| {
            let id = format!("{prefix}{i:07}");
            let log = vec![
                submission(format!("own-{id}"), 0, owner, "111"),
                submission(format!("swap-{id}"), 10, rival, "222"),
            ];
            (key(&id), log)
        })
        .collect();
    for chunk in applications.chunks(2_000) {
        store.import(chunk, &owners, Utc::now()).await?;
    }
    Ok(())
}

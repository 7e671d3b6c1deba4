//! The local resources are the template's: `make dev` and `make test` create them from
//! `infra/template.yaml` itself, and this test reads back what the emulator holds and compares
//! it with what the template declares — table keys and indexes, queues and their dead-letter
//! queues, the bucket's rules, the bus's rule — so a change on one side only fails here.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_sqs::types::QueueAttributeName;
use devkit::template::local_name;
use devkit::template::{Resolved, Template};
use serde_json::{Value, json};

use crate::helpers::world;

fn declared(template: &Template, kind: &str) -> BTreeMap<String, Value> {
    let resolved = Resolved { parameters: template.parameters.clone(), ..Default::default() };
    template
        .of_kind(kind)
        .into_iter()
        .map(|(id, resource)| {
            // Only the parts that need no other resource: references are compared separately.
            let props = resolved.resolve(&strip_references(&resource.properties, template)).expect("resolvable");
            (id.clone(), props)
        })
        .collect()
}

/// Drops the values that name other resources (`!GetAtt X`, `!Ref X` of a resource), which only
/// exist once created; references to parameters stay.
fn strip_references(value: &serde_norway::Value, template: &Template) -> serde_norway::Value {
    match value {
        serde_norway::Value::Tagged(tagged) if tagged.tag == "!GetAtt" => serde_norway::Value::Null,
        serde_norway::Value::Tagged(tagged)
            if tagged.tag == "!Ref" && !template.parameters.contains_key(tagged.value.as_str().unwrap_or_default()) =>
        {
            serde_norway::Value::Null
        }
        serde_norway::Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), strip_references(v, template)))
            .collect::<serde_norway::Mapping>()
            .into(),
        serde_norway::Value::Sequence(items) => items.iter().map(|v| strip_references(v, template)).collect(),
        other => other.clone(),
    }
}

#[tokio::test]
async fn the_local_resources_match_the_template() {
    let world = world().await;
    let sdk = shared::aws::sdk_config();
    let template = Template::load().unwrap();
    let prefix = format!("{}-", world.tag);

    // The table: keys, attributes and every index, as declared.
    let tables = declared(&template, "AWS::DynamoDB::Table");
    let table_props = &tables["Table"];
    let table = aws_sdk_dynamodb::Client::new(&sdk)
        .describe_table()
        .table_name(&world.resources.table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Value {
        schema.iter().map(|k| json!({"AttributeName": k.attribute_name(), "KeyType": k.key_type().as_str()})).collect()
    };
    assert_eq!(keys(table.key_schema()), table_props["KeySchema"]);
    let mut attributes: Vec<Value> = table
        .attribute_definitions()
        .iter()
        .map(|a| json!({"AttributeName": a.attribute_name(), "AttributeType": a.attribute_type().as_str()}))
        .collect();
    let mut expected_attributes = table_props["AttributeDefinitions"].as_array().unwrap().clone();
    attributes.sort_by_key(|a| a.to_string());
    expected_attributes.sort_by_key(|a| a.to_string());
    assert_eq!(attributes, expected_attributes);
    let mut indexes: Vec<Value> = table
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let mut projection =
                json!({"ProjectionType": i.projection().and_then(|p| p.projection_type()).map(|t| t.as_str())});
            if let Some(included) = i.projection().map(|p| p.non_key_attributes()).filter(|names| !names.is_empty()) {
                projection["NonKeyAttributes"] = json!(included);
            }
            json!({"IndexName": i.index_name(), "KeySchema": keys(i.key_schema()), "Projection": projection})
        })
        .collect();
    let mut expected_indexes = table_props["GlobalSecondaryIndexes"].as_array().unwrap().clone();
    indexes.sort_by_key(|i| i["IndexName"].to_string());
    expected_indexes.sort_by_key(|i| i["IndexName"].to_string());
    assert_eq!(indexes, expected_indexes, "the table's indexes");
    // The due list's index holds what the store reads from it.
    let due_list = expected_indexes.iter().find(|i| i["IndexName"] == store::keys::GSI3).expect("the due list's index");
    assert_eq!(due_list["Projection"]["NonKeyAttributes"], json!(store::keys::SYNC_DUE_ATTRIBUTES));

    // Every queue, with its timeouts and its dead-letter queue.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let raw_queues = template.of_kind("AWS::SQS::Queue");
    for (id, props) in declared(&template, "AWS::SQS::Queue") {
        let url = sqs.get_queue_url().queue_name(local_name(&prefix, &id)).send().await.unwrap().queue_url.unwrap();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        for (key, name) in [
            ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
            ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
        ] {
            if let Some(value) = props.get(key) {
                assert_eq!(attributes.get(&name).map(String::as_str), Some(value.to_string().as_str()), "{id}.{key}");
            }
        }
        let redrive = raw_queues.iter().find(|(q, _)| **q == id).unwrap().1.properties.get("RedrivePolicy");
        match redrive {
            None => {
                assert!(!attributes.contains_key(&QueueAttributeName::RedrivePolicy), "{id} has no dead-letter queue")
            }
            Some(redrive) => {
                let local: Value = serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).unwrap();
                let target = redrive["deadLetterTargetArn"].as_tagged_str();
                let dead_letter = local_name(&prefix, target.trim_end_matches(".Arn"));
                assert!(
                    local["deadLetterTargetArn"].as_str().unwrap().ends_with(&format!(":{dead_letter}")),
                    "{id} redrives to {target}"
                );
                assert_eq!(
                    local["maxReceiveCount"].to_string().trim_matches('"'),
                    props["RedrivePolicy"]["maxReceiveCount"].to_string(),
                    "{id}.maxReceiveCount"
                );
            }
        }
    }

    // The bucket's rules: expiry of exports, clean-up of incomplete uploads, encryption, no public access.
    let s3 = shared::aws::s3_client(&sdk);
    let bucket_props = &declared(&template, "AWS::S3::Bucket")["ExportsBucket"];
    let rules = s3.get_bucket_lifecycle_configuration().bucket(&world.resources.exports_bucket).send().await.unwrap();
    let mut local_rules: Vec<Value> = rules
        .rules()
        .iter()
        .map(|r| {
            json!({
                "Id": r.id(),
                "ExpirationInDays": r.expiration().and_then(|e| e.days()),
                "AbortDays": r.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()),
            })
        })
        .collect();
    let mut expected_rules: Vec<Value> = bucket_props["LifecycleConfiguration"]["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            json!({
                "Id": r["Id"],
                "ExpirationInDays": r.get("ExpirationInDays").map(|d| d.to_string().trim_matches('"').parse::<i64>().unwrap()),
                "AbortDays": r.get("AbortIncompleteMultipartUpload").map(|a| a["DaysAfterInitiation"].clone()),
            })
        })
        .collect();
    local_rules.sort_by_key(|r| r["Id"].to_string());
    expected_rules.sort_by_key(|r| r["Id"].to_string());
    assert_eq!(local_rules, expected_rules, "the bucket's lifecycle rules");
    let block = s3.get_public_access_block().bucket(&world.resources.exports_bucket).send().await.unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        [
            block.block_public_acls(),
            block.block_public_policy(),
            block.ignore_public_acls(),
            block.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
    let encryption = s3.get_bucket_encryption().bucket(&world.resources.exports_bucket).send().await.unwrap();
    let rule = &encryption.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(rule.apply_server_side_encryption_by_default().unwrap().sse_algorithm().as_str(), "AES256");

    // The bus's rule delivers platform events to the ingest queue.
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let rule_props = &declared(&template, "AWS::Events::Rule")["PlatformEventsToIngestRule"];
    let rule_name = local_name(&prefix, "PlatformEventsToIngestRule");
    let local_rule =
        events.describe_rule().name(&rule_name).event_bus_name(&world.resources.event_bus).send().await.unwrap();
    let pattern: Value = serde_json::from_str(local_rule.event_pattern().unwrap()).unwrap();
    assert_eq!(pattern, rule_props["EventPattern"]);
    let targets =
        events.list_targets_by_rule().rule(&rule_name).event_bus_name(&world.resources.event_bus).send().await.unwrap();
    assert!(targets.targets()[0].arn().ends_with(&local_name(&prefix, "IngestQueue")));
}

trait TaggedText {
    fn as_tagged_str(&self) -> String;
}

impl TaggedText for serde_norway::Value {
    /// The argument of a tagged value such as `!GetAtt IngestDeadLetterQueue.Arn`.
    fn as_tagged_str(&self) -> String {
        match self {
            serde_norway::Value::Tagged(tagged) => tagged.value.as_str().unwrap_or_default().to_owned(),
            other => other.as_str().unwrap_or_default().to_owned(),
        }
    }
}

#[test]
fn a_redelivered_export_never_meets_a_live_lease() {
    // The builder's time-out < its lease < the exports queue's visibility timeout: a build killed
    // by its time-out leaves a lease that lapses before SQS delivers the message again.
    let template = Template::load().unwrap();
    let number = |value: &serde_norway::Value| match value {
        serde_norway::Value::Number(n) => n.as_u64().unwrap(),
        serde_norway::Value::String(s) => s.parse().unwrap(),
        other => panic!("not a number: {other:?}"),
    };
    let builder = &template.resources["ExportBuilderFunction"].properties;
    let timeout = number(&builder["Timeout"]);
    let lease = number(&builder["Environment"]["Variables"]["EXPORT_LEASE_SECONDS"]);
    let visibility = number(&template.resources["ExportsQueue"].properties["VisibilityTimeout"]);
    assert!(timeout < lease && lease < visibility, "{timeout} < {lease} < {visibility}");
}

/// API Gateway serves only the routes the template names: every operation of the API
/// description (each of which a test calls through the local router) must be one of them, and
/// every route an operation.
#[test]
fn every_operation_of_the_api_is_a_route_of_the_template_and_every_route_an_operation() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let template = Template::load().unwrap();
    let routed: BTreeSet<(String, String)> = template
        .of_kind("AWS::ApiGatewayV2::Route")
        .into_iter()
        .map(|(_, route)| {
            let key = route.properties["RouteKey"].as_str().unwrap();
            let (method, path) = key.split_once(' ').unwrap();
            (method.to_lowercase(), path.to_owned())
        })
        .collect();
    let api: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(format!("{root}/docs/openapi.yaml")).unwrap()).unwrap();
    let mut operations = BTreeSet::new();
    for (path, methods) in api["paths"].as_mapping().unwrap() {
        for (method, _) in methods.as_mapping().unwrap() {
            operations.insert((method.as_str().unwrap().to_owned(), path.as_str().unwrap().to_owned()));
        }
    }
    let missing: Vec<_> = operations.difference(&routed).collect();
    let extra: Vec<_> = routed.difference(&operations).collect();
    assert!(routed.len() >= 15, "the template's routes are read: {routed:?}");
    assert!(missing.is_empty(), "operations with no route in infra/template.yaml: {missing:?}");
    assert!(extra.is_empty(), "routes no operation of docs/openapi.yaml describes: {extra:?}");
}

/// IAM is enforced as in AWS (`make test` runs the emulator with `--iam`): each function's
/// principal holds exactly its template policy, so what the template does not allow it is refused
/// — here, a function that only reads deleting, and one without the queue sending to it.
#[tokio::test]
async fn each_function_may_do_what_its_template_policy_allows_and_nothing_else() {
    let world = world().await;
    let base = shared::aws::sdk_config();
    let table = &world.resources.table;
    let key = |id: &str| {
        std::collections::HashMap::from([
            ("pk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(id.to_owned())),
            ("sk".to_owned(), aws_sdk_dynamodb::types::AttributeValue::S("x".to_owned())),
        ])
    };
    let denied = |message: String| assert!(message.contains("AccessDenied"), "{message}");

    let export_request =
        aws_sdk_dynamodb::Client::new(&world.resources.sdk_for(&base, devkit::principals::EXPORT_REQUEST));
    export_request.get_item().table_name(table).set_key(Some(key("a"))).send().await.expect("a read is allowed");
    let delete = export_request.delete_item().table_name(table).set_key(Some(key("a"))).send().await;
    denied(aws_sdk_dynamodb::error::DisplayErrorContext(delete.unwrap_err()).to_string());

    let relay = aws_sdk_sqs::Client::new(&world.resources.sdk_for(&base, devkit::principals::OUTBOX_RELAY));
    let sent = relay.send_message().queue_url(&world.resources.ingest_queue_url).message_body("{}").send().await;
    denied(aws_sdk_sqs::error::DisplayErrorContext(sent.unwrap_err()).to_string());

    // The daily digest takes a retry mark off with a delete: the template allows it that.
    let digest = aws_sdk_dynamodb::Client::new(&world.resources.sdk_for(&base, devkit::principals::DAILY_DIGEST));
    digest.delete_item().table_name(table).set_key(Some(key("a"))).send().await.expect("the digest may delete");
}

/// The operator's view: every metric the code emits is on the dashboard (each sync outcome and
/// refusal reason too), every metric an alarm or the dashboard reads from the stack's namespace
/// is one the code emits, the alarms the README promises exist, and every function is traced and
/// logs JSON.
#[test]
fn the_alarms_and_the_dashboard_read_the_metrics_the_code_emits() {
    let template = Template::load().unwrap();
    let emitted: BTreeSet<&str> = shared::metrics::ALL.iter().map(|m| m.name).collect();
    let is_stack_namespace = |namespace: Option<&serde_norway::Value>| matches!(namespace, Some(serde_norway::Value::Tagged(t)) if t.tag == "!Ref" && t.value.as_str() == Some("AWS::StackName"));

    // The dashboard's body, with every `${…}` put as a plain word.
    let dashboard = &template.resources["Dashboard"].properties["DashboardBody"];
    let serde_norway::Value::Tagged(sub) = dashboard else { panic!("the body is a !Sub") };
    let mut body = sub.value.as_str().unwrap().to_owned();
    while let Some(start) = body.find("${") {
        let end = start + body[start..].find('}').unwrap();
        let word = body[start + 2..end].replace("AWS::StackName", "STACK").replace(['.', ':'], "_");
        body.replace_range(start..=end, &word);
    }
    let body: Value = serde_json::from_str(&body).expect("the dashboard's body is JSON");
    let mut shown = BTreeSet::new();
    let mut dimension_values: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for widget in body["widgets"].as_array().unwrap() {
        for metric in widget["properties"]["metrics"].as_array().into_iter().flatten() {
            let parts: Vec<&str> = metric.as_array().unwrap().iter().filter_map(Value::as_str).collect();
            if parts[0] != "STACK" {
                continue;
            }
            assert!(emitted.contains(parts[1]), "the dashboard shows {}, which no code emits", parts[1]);
            shown.insert(parts[1].to_owned());
            if let [_, name, dimension, value] = parts[..] {
                dimension_values.entry((name.into(), dimension.into())).or_default().insert(value.into());
            }
        }
    }
    let shown: BTreeSet<&str> = shown.iter().map(String::as_str).collect();
    assert_eq!(shown, emitted, "every metric is on the dashboard");
    let outcomes: BTreeSet<String> = sync_trigger::sync::OUTCOMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(dimension_values[&("Syncs".into(), "Outcome".into())], outcomes);
    let reasons: BTreeSet<String> = event_ingest::handler::REFUSALS.iter().map(|s| s.to_string()).collect();
    assert_eq!(dimension_values[&("EventsRefused".into(), "Reason".into())], reasons);

    // The alarms: the stack's own metrics are ones the code emits; each promised alarm is there.
    let mut watched = BTreeSet::new();
    for (id, alarm) in template.of_kind("AWS::CloudWatch::Alarm") {
        let props = &alarm.properties;
        if is_stack_namespace(props.get("Namespace")) {
            let name = props["MetricName"].as_str().unwrap();
            assert!(emitted.contains(name), "{id} watches {name}, which no code emits");
        }
        let metric = props.get("MetricName").and_then(serde_norway::Value::as_str);
        let expression_of =
            |m: &serde_norway::Value| m["MetricStat"]["Metric"]["MetricName"].as_str().map(str::to_owned);
        let in_expression = props
            .get("Metrics")
            .and_then(serde_norway::Value::as_sequence)
            .and_then(|ms| ms.iter().find_map(expression_of));
        watched.insert(metric.map(str::to_owned).or(in_expression).unwrap_or_default());
        assert!(props.get("AlarmActions").is_some(), "{id} tells someone");
    }
    for promised in
        ["Throttles", "MarketplaceThrottles", "5xx", "ApproximateAgeOfOldestMessage", "ScanLag", "OutboxAge"]
    {
        assert!(watched.contains(promised), "an alarm on {promised}: {watched:?}");
    }

    let globals = &template.function_globals;
    assert_eq!(globals["Tracing"].as_str(), Some("Active"), "every function is traced");
    assert_eq!(globals["LoggingConfig"]["LogFormat"].as_str(), Some("JSON"));
}

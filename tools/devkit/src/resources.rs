//! Creates the template's data resources on the emulator (or any AWS endpoint) under local names:
//! the table with its indexes, the exports bucket with its rules, the queues with their
//! dead-letter queues, the platform bus with its rule to the ingest queue, and the SES sender.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use shared::aws::SdkConfig;

use crate::DevkitError;
use crate::principals::AccessKey;
use crate::template::{Resolved, Template, json_text, local_name};

/// Where everything is, once created: what the functions' environment variables point at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalResources {
    pub table: String,
    pub exports_bucket: String,
    /// Where the page's files are (`tools/publish_web.py` puts them there).
    pub web_bucket: String,
    pub ingest_queue_url: String,
    pub ingest_dead_letter_queue_url: String,
    pub exports_queue_url: String,
    pub exports_dead_letter_queue_url: String,
    pub event_bus: String,
    /// The bus the at-risk changes go out on.
    pub aor_events_bus: String,
    pub sender_email: String,
    /// Each function's own principal (by its logical id), holding its template policy.
    pub principals: BTreeMap<String, AccessKey>,
}

impl LocalResources {
    /// `base`, signing as `function`'s principal (a logical id: `principals::AT_RISK_QUERY`…).
    pub fn sdk_for(&self, base: &SdkConfig, function: &str) -> SdkConfig {
        match self.principals.get(function) {
            Some(key) => crate::principals::sdk_config(base, key),
            None => panic!("the local resources have no principal for {function}"),
        }
    }

    /// The environment variables the functions read, with these values.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TABLE_NAME", self.table.clone()),
            ("EXPORTS_BUCKET", self.exports_bucket.clone()),
            ("INGEST_QUEUE_URL", self.ingest_queue_url.clone()),
            ("INGEST_DLQ_URL", self.ingest_dead_letter_queue_url.clone()),
            ("EXPORTS_QUEUE_URL", self.exports_queue_url.clone()),
            ("EXPORTS_DLQ_URL", self.exports_dead_letter_queue_url.clone()),
            ("PLATFORM_EVENT_BUS", self.event_bus.clone()),
            ("AOR_EVENTS_BUS", self.aor_events_bus.clone()),
            ("SENDER_EMAIL", self.sender_email.clone()),
        ]
    }
}

/// Creates every data resource of `template`, names prefixed with `prefix`; `parameters` override
/// the template's defaults (tests give the bus a fresh name this way).
pub async fn create(
    sdk: &SdkConfig,
    template: &Template,
    prefix: &str,
    parameters: &[(&str, &str)],
) -> Result<LocalResources, DevkitError> {
    let mut resolved = Resolved { parameters: template.parameters.clone(), ..Default::default() };
    for (name, value) in parameters {
        resolved.parameters.insert((*name).to_owned(), Json::String((*value).to_owned()));
    }

    for (id, resource) in template.of_kind("AWS::SES::EmailIdentity") {
        let props = resolved.resolve(&resource.properties)?;
        let identity = text(&props, "EmailIdentity")?;
        let ses = aws_sdk_sesv2::Client::new(sdk);
        ses.create_email_identity().email_identity(&identity).send().await.map_err(aws)?;
        resolved.refs.insert(id.clone(), identity);
    }

    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    for (id, resource) in template.of_kind("AWS::DynamoDB::Table") {
        let name = local_name(prefix, id);
        let arn = create_table(&dynamodb, &name, &resolved.resolve(&resource.properties)?).await?;
        // arn:aws:dynamodb:REGION:ACCOUNT:table/NAME: where everything else is, too.
        let parts: Vec<&str> = arn.split(':').collect();
        if let [_, partition, _, region, account, ..] = parts.as_slice() {
            for (name, value) in [("AWS::Partition", partition), ("AWS::Region", region), ("AWS::AccountId", account)] {
                resolved.pseudo.insert(name.to_owned(), (*value).to_owned());
            }
        }
        resolved.refs.insert(id.clone(), name);
        resolved.arns.insert(id.clone(), arn);
    }

    let s3 = shared::aws::s3_client(sdk);
    for (id, resource) in template.of_kind("AWS::S3::Bucket") {
        let name = local_name(prefix, id);
        create_bucket(&s3, &name, &resolved.resolve(&resource.properties)?).await?;
        resolved.arns.insert(id.clone(), format!("arn:aws:s3:::{name}"));
        resolved.refs.insert(id.clone(), name);
    }

    // Dead-letter queues first: the queues that redrive to them need their ARNs.
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut queues = template.of_kind("AWS::SQS::Queue");
    queues.sort_by_key(|(_, r)| r.properties.get("RedrivePolicy").is_some());
    for (id, resource) in queues {
        let name = local_name(prefix, id);
        let (url, arn) = create_queue(&sqs, &name, &resolved.resolve(&resource.properties)?).await?;
        resolved.refs.insert(id.clone(), url);
        resolved.arns.insert(id.clone(), arn);
    }

    let events = aws_sdk_eventbridge::Client::new(sdk);
    for (id, resource) in template.of_kind("AWS::Events::EventBus") {
        let props = resolved.resolve(&resource.properties)?;
        let name = text(&props, "Name")?;
        let out = events.create_event_bus().name(&name).send().await.map_err(aws)?;
        resolved.refs.insert(id.clone(), name);
        resolved.arns.insert(id.clone(), out.event_bus_arn.unwrap_or_default());
    }
    for (id, resource) in template.of_kind("AWS::Events::Rule") {
        let props = resolved.resolve(&resource.properties)?;
        let name = local_name(prefix, id);
        let bus = text(&props, "EventBusName")?;
        let pattern = props.get("EventPattern").cloned().unwrap_or(Json::Null).to_string();
        let out =
            events.put_rule().name(&name).event_bus_name(&bus).event_pattern(pattern).send().await.map_err(aws)?;
        for target in props.get("Targets").and_then(Json::as_array).into_iter().flatten() {
            let target = aws_sdk_eventbridge::types::Target::builder()
                .id(text(target, "Id")?)
                .arn(text(target, "Arn")?)
                .build()
                .map_err(aws)?;
            events.put_targets().rule(&name).event_bus_name(&bus).targets(target).send().await.map_err(aws)?;
        }
        resolved.refs.insert(id.clone(), name);
        resolved.arns.insert(id.clone(), out.rule_arn.unwrap_or_default());
    }

    let principals = crate::principals::create(&aws_sdk_iam::Client::new(sdk), template, &resolved, prefix).await?;

    let get = |id: &str| {
        resolved.refs.get(id).cloned().ok_or_else(|| DevkitError::Template(format!("the template has no {id}")))
    };
    Ok(LocalResources {
        table: get("Table")?,
        exports_bucket: get("ExportsBucket")?,
        web_bucket: get("WebBucket")?,
        ingest_queue_url: get("IngestQueue")?,
        ingest_dead_letter_queue_url: get("IngestDeadLetterQueue")?,
        exports_queue_url: get("ExportsQueue")?,
        exports_dead_letter_queue_url: get("ExportsDeadLetterQueue")?,
        event_bus: get("PlatformEventBus")?,
        aor_events_bus: get("AorEventsBus")?,
        sender_email: get("SenderIdentity")?,
        principals,
    })
}

/// Creates the table; answers its ARN.
async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, props: &Json) -> Result<String, DevkitError> {
    let attributes = list(props, "AttributeDefinitions")
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(text(a, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(text(a, "AttributeType")?.as_str()))
                .build()
                .map_err(aws)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = list(props, "GlobalSecondaryIndexes")
        .iter()
        .map(|index| {
            let projection = index.get("Projection").map(|p| text(p, "ProjectionType")).transpose()?;
            let included = index
                .get("Projection")
                .and_then(|p| p.get("NonKeyAttributes"))
                .and_then(Json::as_array)
                .map(|names| names.iter().filter_map(Json::as_str).map(str::to_owned).collect());
            GlobalSecondaryIndex::builder()
                .index_name(text(index, "IndexName")?)
                .set_key_schema(Some(key_schema(index)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(projection.as_deref().unwrap_or("ALL")))
                        .set_non_key_attributes(included)
                        .build(),
                )
                .build()
                .map_err(aws)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let created = client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(props)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .billing_mode(BillingMode::from(props.get("BillingMode").and_then(Json::as_str).unwrap_or("PAY_PER_REQUEST")))
        .send()
        .await
        .map_err(aws)?;
    let arn =
        created.table_description.and_then(|t| t.table_arn).ok_or_else(|| DevkitError::Aws("no table ARN".into()))?;
    if let Some(ttl) = props.get("TimeToLiveSpecification") {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(text(ttl, "AttributeName")?)
                    .enabled(ttl.get("Enabled").and_then(Json::as_bool).unwrap_or(true))
                    .build()
                    .map_err(aws)?,
            )
            .send()
            .await
            .map_err(aws)?;
    }
    Ok(arn)
}

fn key_schema(props: &Json) -> Result<Vec<KeySchemaElement>, DevkitError> {
    list(props, "KeySchema")
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName")?)
                .key_type(KeyType::from(text(k, "KeyType")?.as_str()))
                .build()
                .map_err(aws)
        })
        .collect()
}

async fn create_bucket(client: &aws_sdk_s3::Client, name: &str, props: &Json) -> Result<(), DevkitError> {
    client.create_bucket().bucket(name).send().await.map_err(aws)?;
    if props.get("BucketEncryption").is_some() {
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::Aes256)
                    .build()
                    .map_err(aws)?,
            )
            .build();
        client
            .put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder().rules(rule).build().map_err(aws)?,
            )
            .send()
            .await
            .map_err(aws)?;
    }
    if let Some(block) = props.get("PublicAccessBlockConfiguration") {
        let flag = |key: &str| block.get(key).and_then(Json::as_bool).unwrap_or(false);
        client
            .put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(flag("BlockPublicAcls"))
                    .block_public_policy(flag("BlockPublicPolicy"))
                    .ignore_public_acls(flag("IgnorePublicAcls"))
                    .restrict_public_buckets(flag("RestrictPublicBuckets"))
                    .build(),
            )
            .send()
            .await
            .map_err(aws)?;
    }
    let rules = props.get("LifecycleConfiguration").map(|l| list(l, "Rules")).unwrap_or_default();
    if !rules.is_empty() {
        let rules = rules
            .iter()
            .map(|rule| {
                let mut builder = LifecycleRule::builder()
                    .id(text(rule, "Id")?)
                    .status(ExpirationStatus::from(text(rule, "Status")?.as_str()))
                    .filter(
                        LifecycleRuleFilter::builder()
                            .prefix(rule.get("Prefix").and_then(Json::as_str).unwrap_or(""))
                            .build(),
                    );
                if let Some(days) = rule.get("ExpirationInDays") {
                    builder = builder.expiration(LifecycleExpiration::builder().days(number(days)?).build());
                }
                if let Some(abort) = rule.get("AbortIncompleteMultipartUpload") {
                    let days = abort.get("DaysAfterInitiation").map(number).transpose()?.unwrap_or(1);
                    builder = builder.abort_incomplete_multipart_upload(
                        AbortIncompleteMultipartUpload::builder().days_after_initiation(days).build(),
                    );
                }
                builder.build().map_err(aws)
            })
            .collect::<Result<Vec<_>, _>>()?;
        client
            .put_bucket_lifecycle_configuration()
            .bucket(name)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().map_err(aws)?,
            )
            .send()
            .await
            .map_err(aws)?;
    }
    Ok(())
}

async fn create_queue(client: &aws_sdk_sqs::Client, name: &str, props: &Json) -> Result<(String, String), DevkitError> {
    let mut request = client.create_queue().queue_name(name);
    for (key, attribute) in [
        ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
        ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
    ] {
        if let Some(value) = props.get(key) {
            request = request.attributes(attribute, json_text(value));
        }
    }
    if let Some(redrive) = props.get("RedrivePolicy") {
        request = request.attributes(QueueAttributeName::RedrivePolicy, redrive.to_string());
    }
    let url = request.send().await.map_err(aws)?.queue_url.unwrap_or_default();
    let attributes = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws)?;
    let arn = attributes.attributes.and_then(|mut a| a.remove(&QueueAttributeName::QueueArn)).unwrap_or_default();
    Ok((url, arn))
}

fn text(value: &Json, key: &str) -> Result<String, DevkitError> {
    value.get(key).map(json_text).ok_or_else(|| DevkitError::Template(format!("missing {key}")))
}

fn number(value: &Json) -> Result<i32, DevkitError> {
    json_text(value).parse().map_err(|_| DevkitError::Template(format!("not a number: {value}")))
}

fn list(value: &Json, key: &str) -> Vec<Json> {
    value.get(key).and_then(Json::as_array).cloned().unwrap_or_default()
}

fn aws(err: impl std::error::Error + 'static) -> DevkitError {
    DevkitError::Aws(aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string())
}

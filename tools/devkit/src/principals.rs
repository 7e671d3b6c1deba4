//! Each function's principal on the emulator: an IAM user holding exactly that function's
//! `Policies` from `infra/template.yaml`, resolved against the local resources — read from the
//! template, never copied. With the emulator's IAM enforcement on (`tools/moto/serve.py --iam`,
//! which authorizes as AWS does: by resource, and a transaction item by item), a call the template
//! does not allow a function fails locally as it would on its first day in AWS.
//!
//! What runs *around* a function keeps the harness's keys: Lambda's SQS event source (its own
//! service permissions), the schedules, the tests' own looks into the table.

use std::collections::BTreeMap;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use shared::aws::SdkConfig;

use crate::DevkitError;
use crate::template::{Resolved, Template, local_name};

/// The template's functions, as their logical ids name them.
pub const AT_RISK_QUERY: &str = "AtRiskQueryFunction";
pub const EXPORT_REQUEST: &str = "ExportRequestFunction";
pub const EXPORT_BUILDER: &str = "ExportBuilderFunction";
pub const EVENT_INGEST: &str = "EventIngestFunction";
pub const SYNC_TRIGGER: &str = "SyncTriggerFunction";
pub const SYNC_SCAN: &str = "SyncScanFunction";
pub const OUTBOX_RELAY: &str = "OutboxRelayFunction";
pub const DAILY_DIGEST: &str = "DailyDigestFunction";

#[derive(Clone, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// `base`, signing as `key`'s principal.
pub fn sdk_config(base: &SdkConfig, key: &AccessKey) -> SdkConfig {
    let credentials = Credentials::new(&key.id, &key.secret, None, None, "function principal");
    base.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build()
}

/// Each function's policy document, as its role in AWS would hold it: the statements of its
/// `Policies`, resolved.
pub fn policies(template: &Template, resolved: &Resolved) -> Result<BTreeMap<String, Json>, DevkitError> {
    let mut documents = BTreeMap::new();
    for (id, function) in template.of_kind("AWS::Serverless::Function") {
        let mut statements = Vec::new();
        for policy in
            function.properties.get("Policies").and_then(serde_norway::Value::as_sequence).into_iter().flatten()
        {
            let Some(listed) = policy.get("Statement") else {
                return Err(DevkitError::Template(format!("{id}: only inline Statement policies are read")));
            };
            match resolved.resolve(listed)? {
                Json::Array(items) => statements.extend(items),
                one => statements.push(one),
            }
        }
        documents.insert(id.clone(), serde_json::json!({ "Version": "2012-10-17", "Statement": statements }));
    }
    Ok(documents)
}

/// Makes every function's principal (names prefixed with `prefix`) and returns its keys.
pub async fn create(
    iam: &aws_sdk_iam::Client,
    template: &Template,
    resolved: &Resolved,
    prefix: &str,
) -> Result<BTreeMap<String, AccessKey>, DevkitError> {
    let aws = |e: aws_sdk_iam::Error| DevkitError::Aws(aws_sdk_iam::error::DisplayErrorContext(&e).to_string());
    let mut keys = BTreeMap::new();
    for (id, document) in policies(template, resolved)? {
        let user = local_name(prefix, &id);
        iam.create_user().user_name(&user).send().await.map_err(|e| aws(e.into()))?;
        iam.put_user_policy()
            .user_name(&user)
            .policy_name("template")
            .policy_document(document.to_string())
            .send()
            .await
            .map_err(|e| aws(e.into()))?;
        let key = iam.create_access_key().user_name(&user).send().await.map_err(|e| aws(e.into()))?.access_key;
        let key = key.ok_or_else(|| DevkitError::Aws(format!("no access key for {user}")))?;
        keys.insert(id, AccessKey { id: key.access_key_id, secret: key.secret_access_key });
    }
    Ok(keys)
}

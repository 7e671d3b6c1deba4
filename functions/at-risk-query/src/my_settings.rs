//! `GET`, `PATCH /v1/me/settings`: a person's own settings — whether they get the daily digest,
//! and (admins) whether it covers their own book or their agency's tree.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use chrono::{DateTime, Utc};
use http_edge::Problem;
use http_edge::caller::Caller;
use serde::Serialize;
use shared::domain::DigestScope;
use shared::domain::{DigestSettings, SettingsChange};

use crate::state::{ApiState, Ports};

#[derive(Debug, Serialize)]
pub struct MySettings {
    pub daily_digest: bool,
    pub digest_scope: &'static str,
    /// While the digest is on: the next one names entries flagged after this.
    pub digest_since: Option<DateTime<Utc>>,
}

impl From<DigestSettings> for MySettings {
    fn from(item: DigestSettings) -> Self {
        Self {
            daily_digest: item.daily_digest,
            digest_scope: item.digest_scope.as_str(),
            digest_since: item.digest_through.filter(|_| item.daily_digest),
        }
    }
}

pub async fn settings<S: Ports>(State(state): State<ApiState<S>>, caller: Caller) -> Result<Json<MySettings>, Problem> {
    Ok(Json(state.store.person_settings(&caller.agent_id).await?.into()))
}

const SHAPE: &str =
    "The body must be a JSON object with daily_digest (true or false) and/or digest_scope (\"book\" or \"agency\").";

pub async fn change_settings<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<MySettings>, Problem> {
    let Json(body) = body.map_err(|rejection| Problem::unreadable_body(&rejection, SHAPE))?;
    let change = parse_change(&body)?;
    if change.digest_scope == Some(DigestScope::Agency) && !caller.is_admin() {
        return Err(Problem::forbidden("Only agency admins may have the digest cover their agency's tree."));
    }
    Ok(Json(state.store.change_person_settings(&caller.agent_id, change, Utc::now()).await?.into()))
}

fn parse_change(body: &serde_json::Value) -> Result<SettingsChange, Problem> {
    let fields = body.as_object().ok_or_else(|| Problem::bad_request(SHAPE))?;
    let mut change = SettingsChange::default();
    for (name, value) in fields {
        match name.as_str() {
            "daily_digest" => {
                change.daily_digest = Some(value.as_bool().ok_or_else(|| Problem::bad_request(SHAPE))?);
            }
            "digest_scope" => {
                let scope = value.as_str().and_then(DigestScope::parse).ok_or_else(|| Problem::bad_request(SHAPE))?;
                change.digest_scope = Some(scope);
            }
            other => return Err(Problem::bad_request(format!("Unknown field {other}. {SHAPE}"))),
        }
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_names_only_known_fields_of_the_right_kind() {
        let change = parse_change(&json!({"daily_digest": true, "digest_scope": "agency"})).unwrap();
        assert_eq!(change, SettingsChange { daily_digest: Some(true), digest_scope: Some(DigestScope::Agency) });
        assert_eq!(parse_change(&json!({})).unwrap(), SettingsChange::default());
        for bad in [json!({"daily_digest": "yes"}), json!({"digest_scope": "tree"}), json!({"weekly": true}), json!([])]
        {
            assert!(parse_change(&bad).is_err(), "{bad}");
        }
    }
}

//! Dispute cases: `POST /v1/clients/{federal_exchange_id}/disputes` opens one for an entry at risk
//! (its owner, or an admin over it), `PATCH /v1/disputes/{dispute_id}` adds channels, a reference
//! or a note, or withdraws it; `GET /v1/disputes?status=` lists the caller's book's cases and
//! `GET /v1/agencies/{agency_id}/disputes?status=` a tree's. A case closes itself (the relay, when
//! the entry clears; the digest, when its plan year ends).

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use http_edge::caller::Caller;
use http_edge::{Problem, RawQuery, application_key, reachable_agency, visible_entry};
use serde::Serialize;
use shared::domain::disputes::{parse_note, parse_reference};
use shared::domain::{AgentId, Channel, Dispute, DisputeChange, DisputeRefusal, DisputeStatus, Opening};
use shared::ports::{StoreError, agent_path};

use crate::state::{ApiState, Ports, only_params};

#[derive(Debug, Serialize)]
pub struct DisputeView {
    pub dispute_id: String,
    pub plan_year: u16,
    pub federal_exchange_id: String,
    /// The entry's owner.
    pub agent_id: String,
    /// Who opened it, while within the caller's reach (as in a client's story); else `None`.
    pub opened_by: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub reason: &'static str,
    pub other_npn: Option<String>,
    pub channels: Vec<&'static str>,
    pub reference: Option<String>,
    pub notes: Vec<NoteView>,
    pub status: &'static str,
    pub changed_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Whole days since it was opened, until it closed.
    pub age_days: i64,
}

#[derive(Debug, Serialize)]
pub struct NoteView {
    pub at: DateTime<Utc>,
    /// Who wrote it, while within the caller's reach; else `None`.
    pub by: Option<String>,
    pub text: String,
}

/// The people the caller may see named (as in a client's story): themselves, and for an admin
/// everyone in their agency's tree, for an agent everyone in their own agency, by the directory
/// now. Anyone else on a case is left unnamed.
pub struct Named(HashSet<AgentId>);

impl Named {
    pub async fn among<S: Ports>(store: &S, caller: &Caller, cases: &[Dispute]) -> Result<Self, StoreError> {
        let people: HashSet<&AgentId> =
            cases.iter().flat_map(|c| std::iter::once(&c.opened_by).chain(c.notes.iter().map(|n| &n.by))).collect();
        let mut named = HashSet::new();
        for person in people {
            let reached = if *person == caller.agent_id {
                true
            } else {
                match store.agent(person).await? {
                    None => false,
                    Some(agent) if caller.is_admin() => {
                        store.agency_path(&agent.agency_id).await?.contains(&caller.agency_id)
                    }
                    Some(agent) => agent.agency_id == caller.agency_id,
                }
            };
            if reached {
                named.insert(person.clone());
            }
        }
        Ok(Self(named))
    }

    fn show(&self, who: &AgentId) -> Option<String> {
        self.0.contains(who).then(|| who.to_string())
    }
}

impl DisputeView {
    pub fn of(case: &Dispute, now: DateTime<Utc>, named: &Named) -> Self {
        Self {
            dispute_id: case.dispute_id.clone(),
            plan_year: case.plan_year.get(),
            federal_exchange_id: case.federal_exchange_id.to_string(),
            agent_id: case.agent_id.to_string(),
            opened_by: named.show(&case.opened_by),
            opened_at: case.opened_at,
            reason: case.reason.as_str(),
            other_npn: case.other_npn.as_ref().map(ToString::to_string),
            channels: case.channels.iter().map(|c| c.as_str()).collect(),
            reference: case.reference.clone(),
            notes: case
                .notes
                .iter()
                .map(|note| NoteView { at: note.at, by: named.show(&note.by), text: note.text.clone() })
                .collect(),
            status: case.status.as_str(),
            changed_at: case.changed_at,
            closed_at: case.closed_at,
            age_days: case.age_days(now),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DisputeList {
    pub disputes: Vec<DisputeView>,
}

const SHAPE: &str = "The body must be a JSON object with channels (a list of \"cms_help_desk\", \"carrier\" and \"state_doi\"), and optionally reference (a ticket number) and note (text, no client's personal data); to change a case, also withdraw (true).";

fn refused(refusal: DisputeRefusal) -> Problem {
    match refusal {
        DisputeRefusal::NotAtRisk | DisputeRefusal::Closed(_) => {
            Problem::new(StatusCode::CONFLICT, "dispute-conflict", "Not possible now", refusal.to_string())
        }
        DisputeRefusal::NoChannel | DisputeRefusal::NothingToChange => Problem::bad_request(refusal.to_string()),
    }
}

/// The fields of an opening or a change, checked: unknown fields and wrong kinds are refused.
fn parse(body: &serde_json::Value, may_withdraw: bool) -> Result<DisputeChange, Problem> {
    let fields = body.as_object().ok_or_else(|| Problem::bad_request(SHAPE))?;
    let mut change = DisputeChange::default();
    for (name, value) in fields {
        match (name.as_str(), value) {
            ("channels", serde_json::Value::Array(items)) => {
                for item in items {
                    let channel = item.as_str().and_then(Channel::parse).ok_or_else(|| Problem::bad_request(SHAPE))?;
                    change.channels.insert(channel);
                }
            }
            ("reference", serde_json::Value::String(raw)) => {
                change.reference = Some(parse_reference(raw).map_err(|e| Problem::bad_request(e.to_string()))?);
            }
            ("note", serde_json::Value::String(raw)) => {
                change.note = Some(parse_note(raw).map_err(|e| Problem::bad_request(e.to_string()))?);
            }
            ("withdraw", serde_json::Value::Bool(withdraw)) if may_withdraw => change.withdraw = *withdraw,
            _ => return Err(Problem::bad_request(SHAPE)),
        }
    }
    Ok(change)
}

pub async fn open_dispute<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(raw_id): Path<String>,
    query: RawQuery,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(StatusCode, Json<DisputeView>), Problem> {
    only_params(&query, &["plan_year"])?;
    let Json(body) = body.map_err(|rejection| Problem::unreadable_body(&rejection, SHAPE))?;
    let asked = parse(&body, false)?;
    let years = state.years();
    let application = application_key(raw_id, &query, years.current)?;
    // A year no longer served has ended: its cases lapse, so none is opened.
    if !years.served().contains(&application.year) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "dispute-conflict",
            "Not possible now",
            format!("Plan year {} has ended: its entries can no longer be disputed here.", application.year),
        ));
    }
    let stored = state.store.head(&application).await?;
    let owner = visible_entry(&state.store, &caller, &stored).await?;
    let entry = stored.entries.get(&owner).ok_or_else(|| Problem::not_found("No such client in your book."))?;
    let now = Utc::now();
    let opening = Opening { channels: asked.channels, reference: asked.reference, note: asked.note };
    let case = shared::domain::disputes::open(
        uuid::Uuid::new_v4().to_string(),
        (application.year, application.id.clone()),
        entry,
        opening,
        &caller.agent_id,
        now,
    )
    .map_err(refused)?;
    let path = agent_path(&state.store, &case.agent_id).await?;
    match state.store.open_dispute(&case, stored.version, &path, &shared::notices::dispute(&case, &path)).await {
        Ok(None) => {
            let named = Named::among(&state.store, &caller, std::slice::from_ref(&case)).await?;
            Ok((StatusCode::CREATED, Json(DisputeView::of(&case, now, &named))))
        }
        Ok(Some(open)) => Err(Problem::new(
            StatusCode::CONFLICT,
            "dispute-conflict",
            "Not possible now",
            format!("This entry has an open case already: {}.", open.dispute_id),
        )),
        Err(StoreError::Conflict) => Err(Problem::new(
            StatusCode::CONFLICT,
            "dispute-conflict",
            "Not possible now",
            "The entry's case changed meanwhile: look again and try again.",
        )),
        Err(err) => Err(err.into()),
    }
}

pub async fn change_dispute<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(dispute_id): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<DisputeView>, Problem> {
    let Json(body) = body.map_err(|rejection| Problem::unreadable_body(&rejection, SHAPE))?;
    let change = parse(&body, true)?;
    let case = reachable_case(&state.store, &caller, &dispute_id).await?;
    let now = Utc::now();
    let next = case.changed(change, &caller.agent_id, now).map_err(refused)?;
    let path = agent_path(&state.store, &next.agent_id).await?;
    let notice = (!next.is_open()).then(|| shared::notices::dispute(&next, &path));
    match state.store.save_dispute(&next, &path, notice.as_ref()).await {
        Ok(()) => {
            let named = Named::among(&state.store, &caller, std::slice::from_ref(&next)).await?;
            Ok(Json(DisputeView::of(&next, now, &named)))
        }
        Err(StoreError::Conflict) => Err(Problem::new(
            StatusCode::CONFLICT,
            "dispute-conflict",
            "Not possible now",
            "The case changed meanwhile (it may have closed): look again and try again.",
        )),
        Err(err) => Err(err.into()),
    }
}

pub async fn my_disputes<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    query: RawQuery,
) -> Result<Json<DisputeList>, Problem> {
    only_params(&query, &["status"])?;
    let status = status_param(&query)?;
    let now = Utc::now();
    let cases: Vec<Dispute> = state
        .store
        .agent_disputes(&caller.agent_id)
        .await?
        .into_iter()
        .filter(|c| status.is_none_or(|s| c.status == s))
        .collect();
    let named = Named::among(&state.store, &caller, &cases).await?;
    Ok(Json(DisputeList { disputes: cases.iter().map(|c| DisputeView::of(c, now, &named)).collect() }))
}

pub async fn agency_disputes<S: Ports>(
    State(state): State<ApiState<S>>,
    caller: Caller,
    Path(agency_id): Path<String>,
    query: RawQuery,
) -> Result<Json<DisputeList>, Problem> {
    only_params(&query, &["status"])?;
    let status = status_param(&query)?;
    let agency = reachable_agency(&state.store, &caller, &agency_id).await?;
    let cases: Vec<Dispute> = shared::ports::tree_cases(&state.store, &agency.agency_id)
        .await?
        .into_iter()
        .filter(|c| status.is_none_or(|s| c.status == s))
        .collect();
    let named = Named::among(&state.store, &caller, &cases).await?;
    let now = Utc::now();
    Ok(Json(DisputeList { disputes: cases.iter().map(|c| DisputeView::of(c, now, &named)).collect() }))
}

/// A case the caller may act on: of their own book, or an admin's over its owner (by the
/// directory now). Anyone else's is "not found", as one that does not exist.
async fn reachable_case<S: Ports>(store: &S, caller: &Caller, dispute_id: &str) -> Result<Dispute, Problem> {
    let not_found = || Problem::not_found("No such dispute case.");
    let case = store.dispute(dispute_id).await?.ok_or_else(not_found)?;
    if case.agent_id == caller.agent_id {
        return Ok(case);
    }
    if caller.is_admin() && caller.reaches_path(&agent_path(store, &case.agent_id).await?) {
        return Ok(case);
    }
    Err(not_found())
}

fn status_param(query: &HashMap<String, String>) -> Result<Option<DisputeStatus>, Problem> {
    query
        .get("status")
        .map(|raw| {
            DisputeStatus::parse(raw)
                .ok_or_else(|| Problem::bad_request("status must be one of open, restored, lapsed and withdrawn."))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn an_opening_or_a_change_names_only_known_fields_of_the_right_kind() {
        let ok = parse(
            &serde_json::json!({"channels": ["carrier", "state_doi"], "reference": "T-1", "note": "Called"}),
            false,
        )
        .unwrap();
        assert_eq!(ok.channels, BTreeSet::from([Channel::Carrier, Channel::StateDoi]));
        assert_eq!((ok.reference.as_deref(), ok.note.as_deref()), (Some("T-1"), Some("Called")));
        for bad in [
            serde_json::json!({"channels": ["fax"]}),
            serde_json::json!({"channels": "carrier"}),
            serde_json::json!({"withdraw": true}),
            serde_json::json!({"client_name": "x"}),
            serde_json::json!({"reference": "<script>"}),
            serde_json::json!([]),
        ] {
            assert!(parse(&bad, false).is_err(), "{bad}");
        }
        assert!(parse(&serde_json::json!({"withdraw": true}), true).unwrap().withdraw);
    }
}

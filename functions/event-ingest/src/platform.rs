//! The enrollment platform's events (SPEC §6), from the EventBridge envelope SQS delivers.
//!
//! Fields are read one by one rather than through serde derive, so that a refusal names the
//! field and what is wrong with it but never echoes a value: values here are client names and
//! emails, and refusals are logged.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use shared::domain::ApplicationKey;
use shared::domain::{
    AgencyId, AgentId, Email, Evidence, EvidenceId, Fact, FederalExchangeId, InvalidValue, Name, Npn, PlanYear, Role,
};
use shared::domain::{AgencyUpsert, AgentUpsert, EventOrder};

pub const SOURCE: &str = "enrollment-platform";

/// A platform event, validated whole: nothing of it is applied unless all of it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformEvent {
    AgencyUpserted {
        agency: AgencyUpsert,
        as_of: EventOrder,
    },
    AgentUpserted {
        agent: AgentUpsert,
        as_of: EventOrder,
    },
    /// A submission, an archive flag or a revoked permission: evidence about one application.
    Evidence {
        application: ApplicationKey,
        evidence: Evidence,
    },
}

impl PlatformEvent {
    /// The field that dates the event, and its time: what orders it against other events.
    pub fn dated(&self) -> (&'static str, DateTime<Utc>) {
        match self {
            Self::AgencyUpserted { as_of, .. } | Self::AgentUpserted { as_of, .. } => ("time", as_of.time),
            Self::Evidence { evidence, .. } => match evidence.fact {
                Fact::Submitted { .. } => ("submitted_at", evidence.at),
                Fact::ArchiveSet { .. } | Fact::PermissionRevoked { .. } | Fact::Synced { .. } => {
                    ("occurred_at", evidence.at)
                }
            },
        }
    }

    /// Refuses an event dated further ahead of `now` than `allowance`: the newest event wins, so
    /// one from a bad clock would otherwise outrank every later event for good.
    pub fn check_date(&self, now: DateTime<Utc>, allowance: chrono::Duration) -> Result<(), FutureDated> {
        let (field, at) = self.dated();
        if at > now + allowance {
            return Err(FutureDated {
                field,
                ahead_seconds: (at - now).num_seconds(),
                allowed_seconds: allowance.num_seconds(),
            });
        }
        Ok(())
    }
}

/// An event dated too far ahead of this system's clock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} is {ahead_seconds} s ahead of this system's clock, more than the {allowed_seconds} s allowed")]
pub struct FutureDated {
    pub field: &'static str,
    pub ahead_seconds: i64,
    pub allowed_seconds: i64,
}

/// Why an event was refused. Names fields, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

impl From<InvalidValue> for Malformed {
    fn from(err: InvalidValue) -> Self {
        Malformed(err.to_string())
    }
}

/// Parses an SQS message body holding an EventBridge envelope.
pub fn parse(body: &str) -> Result<PlatformEvent, Malformed> {
    let envelope: Value = serde_json::from_str(body)
        .map_err(|e| Malformed(format!("the body is not JSON ({:?} error)", e.classify())))?;
    let envelope = envelope.as_object().ok_or_else(|| Malformed("the body is not a JSON object".into()))?;
    let source = text(envelope, "source")?;
    if source != SOURCE {
        return Err(Malformed(format!("source must be {SOURCE}")));
    }
    let event_id = text(envelope, "id")?;
    let time = timestamp(envelope, "time")?;
    let kind = text(envelope, "detail-type")?;
    let detail = envelope
        .get("detail")
        .and_then(Value::as_object)
        .ok_or_else(|| Malformed("detail must be an object".into()))?;

    match kind {
        "Agency Upserted" => Ok(PlatformEvent::AgencyUpserted {
            agency: AgencyUpsert {
                agency_id: AgencyId::parse(text(detail, "agency_id")?)?,
                name: Name::parse(text(detail, "name")?)?,
                parent_agency_id: optional_text(detail, "parent_agency_id")?.map(AgencyId::parse).transpose()?,
                agent_exports_enabled: flag(detail, "agent_exports_enabled")?,
            },
            as_of: EventOrder { time, event_id: event_id.to_owned() },
        }),
        "Agent Upserted" => Ok(PlatformEvent::AgentUpserted {
            agent: AgentUpsert {
                agent_id: AgentId::parse(text(detail, "agent_id")?)?,
                agency_id: AgencyId::parse(text(detail, "agency_id")?)?,
                name: Name::parse(text(detail, "name")?)?,
                email: Email::parse(text(detail, "email")?)?,
                npn: Npn::parse(text(detail, "npn")?)?,
                role: Role::parse(text(detail, "role")?)?,
            },
            as_of: EventOrder { time, event_id: event_id.to_owned() },
        }),
        "Application Submitted" => Ok(PlatformEvent::Evidence {
            application: application(detail)?,
            evidence: Evidence {
                id: EvidenceId::parse(text(detail, "submission_id")?)?,
                at: timestamp(detail, "submitted_at")?,
                fact: Fact::Submitted {
                    agent_id: AgentId::parse(text(detail, "agent_id")?)?,
                    npn: Npn::parse(text(detail, "npn")?)?,
                    client_name: Name::parse(text(detail, "client_name")?)?,
                },
            },
        }),
        "Application Archived" | "Application Unarchived" => Ok(PlatformEvent::Evidence {
            application: application(detail)?,
            evidence: Evidence {
                // The platform gives archive events no id of their own: the envelope's id is
                // what a redelivery repeats.
                id: EvidenceId::parse(format!("event-{event_id}"))?,
                at: timestamp(detail, "occurred_at")?,
                fact: Fact::ArchiveSet {
                    agent_id: AgentId::parse(text(detail, "agent_id")?)?,
                    archived: kind == "Application Archived",
                },
            },
        }),
        "Application Permission Revoked" => Ok(PlatformEvent::Evidence {
            application: application(detail)?,
            evidence: Evidence {
                // No id of its own either: the envelope's id is what a redelivery repeats.
                id: EvidenceId::parse(format!("event-{event_id}"))?,
                at: timestamp(detail, "occurred_at")?,
                fact: Fact::PermissionRevoked { agent_id: AgentId::parse(text(detail, "agent_id")?)? },
            },
        }),
        _ => Err(Malformed("detail-type is not one this system knows".into())),
    }
}

fn application(detail: &Map<String, Value>) -> Result<ApplicationKey, Malformed> {
    let year = detail
        .get("plan_year")
        .and_then(Value::as_u64)
        .and_then(|y| u16::try_from(y).ok())
        .ok_or_else(|| Malformed("plan_year must be a whole number".into()))?;
    Ok(ApplicationKey {
        id: FederalExchangeId::parse(text(detail, "federal_exchange_id")?)?,
        year: PlanYear::parse(year)?,
    })
}

fn text<'a>(object: &'a Map<String, Value>, field: &str) -> Result<&'a str, Malformed> {
    match object.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Malformed(format!("{field} must be a string"))),
        None => Err(Malformed(format!("{field} is missing"))),
    }
}

fn optional_text<'a>(object: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, Malformed> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Malformed(format!("{field} must be a string or null"))),
    }
}

fn flag(object: &Map<String, Value>, field: &str) -> Result<bool, Malformed> {
    object.get(field).and_then(Value::as_bool).ok_or_else(|| Malformed(format!("{field} must be true or false")))
}

fn timestamp(object: &Map<String, Value>, field: &str) -> Result<DateTime<Utc>, Malformed> {
    DateTime::parse_from_rfc3339(text(object, field)?)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Malformed(format!("{field} must be an RFC 3339 time")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/../../events/platform/{name}.json", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn every_platform_fixture_parses() {
        for name in [
            "agency-upserted",
            "agent-upserted",
            "application-submitted",
            "application-archived",
            "application-unarchived",
            "application-permission-revoked",
        ] {
            parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_submission_becomes_evidence_with_the_submission_id() {
        let PlatformEvent::Evidence { application, evidence } = parse(&fixture("application-submitted")).unwrap()
        else {
            panic!("not evidence");
        };
        assert_eq!(application.id.as_str(), "0012345678", "leading zeros kept");
        assert_eq!(evidence.id.as_str(), "sub-20260302-0001");
        assert!(matches!(evidence.fact, Fact::Submitted { .. }));
    }

    #[test]
    fn unarchived_clears_the_flag() {
        let PlatformEvent::Evidence { evidence, .. } = parse(&fixture("application-unarchived")).unwrap() else {
            panic!("not evidence");
        };
        assert!(matches!(evidence.fact, Fact::ArchiveSet { archived: false, .. }));
    }

    #[test]
    fn a_revoked_permission_is_evidence_about_that_agent_keyed_by_the_envelope() {
        let PlatformEvent::Evidence { application, evidence } =
            parse(&fixture("application-permission-revoked")).unwrap()
        else {
            panic!("not evidence");
        };
        assert_eq!(application.id.as_str(), "0012345678");
        assert_eq!(evidence.id.as_str(), "event-6f1c1e2a-0000-4000-8000-000000000006", "a redelivery repeats it");
        assert!(
            matches!(&evidence.fact, Fact::PermissionRevoked { agent_id } if agent_id.as_str() == "agent-summit-east-1")
        );
    }

    #[test]
    fn refusals_name_the_field_and_never_echo_the_value() {
        let body = fixture("agent-upserted").replace("ana.diaz@summit-east.example.com", "ana.diaz-at-nowhere");
        let refused = parse(&body).unwrap_err();
        assert_eq!(refused.0, "email must contain '@'");
        let body = fixture("application-submitted").replace("\"Zoë O'Brien\"", "42");
        assert_eq!(parse(&body).unwrap_err().0, "client_name must be a string");
        assert!(parse("{not json").unwrap_err().0.contains("not JSON"));
    }

    #[test]
    fn an_event_dated_beyond_the_allowance_is_refused_and_one_within_it_is_not() {
        let event = parse(&fixture("application-submitted")).unwrap();
        let (field, at) = event.dated();
        assert_eq!(field, "submitted_at");
        let allowance = chrono::Duration::minutes(5);
        assert!(event.check_date(at - chrono::Duration::minutes(4), allowance).is_ok());
        let refused = event.check_date(at - chrono::Duration::minutes(6), allowance).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "submitted_at is 360 s ahead of this system's clock, more than the 300 s allowed"
        );
        let agency = parse(&fixture("agency-upserted")).unwrap();
        assert_eq!(agency.dated().0, "time");
    }

    #[test]
    fn events_from_elsewhere_are_refused() {
        let body =
            fixture("agency-upserted").replace("\"source\": \"enrollment-platform\"", "\"source\": \"someone-else\"");
        assert_eq!(parse(&body).unwrap_err().0, "source must be enrollment-platform");
    }
}

/// Property tests of the parser of outside input, the platform's events: `PROPTEST_CASES` each.
#[cfg(test)]
mod fuzz {
    use super::*;

    fn envelope(kind: &str, detail: serde_json::Value) -> String {
        serde_json::json!({"id": "e-1", "source": SOURCE, "detail-type": kind, "time": "2026-03-02T14:30:00Z",
                           "detail": detail})
        .to_string()
    }

    proptest::proptest! {
        /// Any text as an SQS body: an event or a refusal, never a panic.
        #[test]
        fn any_body_is_an_event_or_a_refusal(body in "\\PC{0,200}") {
            let _ = parse(&body);
        }

        /// Every kind of event with details of any values: an event or a refusal that names
        /// fields, never the values it met.
        #[test]
        fn any_detail_is_an_event_or_a_refusal_that_quotes_nothing(
            kind in proptest::sample::select(vec!["Agency Upserted", "Agent Upserted", "Application Submitted",
                                                   "Application Archived", "Application Unarchived",
                                                   "Application Permission Revoked", "Other"]),
            value in "[a-zA-Z0-9@.é ]{0,24}",
            year in proptest::num::i64::ANY,
        ) {
            let detail = serde_json::json!({
                "agency_id": value, "agent_id": value, "name": value, "email": value, "npn": value,
                "role": value, "parent_agency_id": value, "agent_exports_enabled": value,
                "submission_id": value, "federal_exchange_id": value, "plan_year": year,
                "client_name": value, "submitted_at": value, "occurred_at": value, "event_id": value,
            });
            if let Err(Malformed(reason)) = parse(&envelope(kind, detail)) {
                proptest::prop_assert!(value.trim().len() < 8 || !reason.contains(value.trim()), "{reason}");
            }
        }
    }
}

//! The directory entries and evidence the measures are made of. Depends on the shared crate's
//! domain and store types only, so the probe of the replaced design (`tools/bench-replaced.sh`)
//! compiles it against that design's tree too.

use chrono::{TimeZone, Utc};
use shared::domain::ApplicationKey;
use shared::domain::Role;
use shared::domain::{AgencyId, AgentId, Email, Evidence, EvidenceId, Fact, FederalExchangeId, Name, Npn, PlanYear};
use shared::domain::{AgencyUpsert, AgentUpsert};
use shared::domain::{Policy, PolicyStatus};

pub const YEAR: u16 = 2026;

pub fn year() -> PlanYear {
    PlanYear::parse(YEAR).expect("a plan year")
}

/// An id as long as a real one (a UUID's 36 characters), readable: `name` padded with zeroes.
pub fn uid(name: &str) -> String {
    format!("{name:0<36}")
}

pub fn key(id: &str) -> ApplicationKey {
    ApplicationKey { id: FederalExchangeId::parse(id).expect("an id"), year: year() }
}

/// An agency named after its id.
pub fn agency(id: String, parent: Option<String>) -> AgencyUpsert {
    AgencyUpsert {
        agency_id: AgencyId::parse(id.clone()).expect("id"),
        name: Name::parse(format!("Agency {id}")).expect("name"),
        parent_agency_id: parent.map(|p| AgencyId::parse(p).expect("id")),
        agent_exports_enabled: true,
    }
}

/// An agent named after their id.
pub fn person(id: &str, agency: &str, npn: &str) -> AgentUpsert {
    AgentUpsert {
        agent_id: AgentId::parse(id).expect("id"),
        agency_id: AgencyId::parse(agency).expect("id"),
        name: Name::parse(format!("Agent {id}")).expect("name"),
        email: Email::parse(format!("{id}@example.com")).expect("email"),
        npn: Npn::parse(npn).expect("npn"),
        role: Role::Agent,
    }
}

/// A time in the plan year, `minute` minutes into it.
pub fn minute(minute: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("time") + chrono::Duration::minutes(minute)
}

pub fn submission(id: String, at: i64, by: &str, npn: &str) -> Evidence {
    Evidence {
        id: EvidenceId::parse(id).expect("id"),
        at: minute(at),
        fact: Fact::Submitted {
            agent_id: AgentId::parse(by).expect("id"),
            npn: Npn::parse(npn).expect("npn"),
            // As long as a real client name: units follow bytes.
            client_name: Name::parse("Maria Gonzalez-Hernandez").expect("name"),
        },
    }
}

/// A sync that finds one effectuated policy with `npn` as its AOR.
pub fn sync(id: &str, at: i64, npn: &str) -> Evidence {
    let policies = vec![Policy {
        policy_id: "H12345-0001-2026-000017".into(),
        status: PolicyStatus::Effectuated,
        aor_npn: Some(Npn::parse(npn).expect("an NPN")),
    }];
    Evidence {
        id: EvidenceId::parse(id).expect("an id"),
        at: minute(at),
        fact: Fact::Synced { policies, again: Vec::new() },
    }
}

pub fn archive(id: &str, at: i64, agent: &str) -> Evidence {
    Evidence {
        id: EvidenceId::parse(id).expect("an id"),
        at: minute(at),
        fact: Fact::ArchiveSet { agent_id: AgentId::parse(agent).expect("an id"), archived: true },
    }
}

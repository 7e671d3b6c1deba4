//! Demo data from a seeded generator: an agency tree three levels deep plus a second, separate
//! agency; several agents in each; a few thousand current plan year applications, some swapped
//! within and across agencies, some found mismatched by an earlier marketplace sync, some
//! archived; and a few of last plan year. Everything goes through the same store code the
//! functions use, so the demo exercises the real rules.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use shared::domain::ApplicationKey;
use shared::domain::Role;
use shared::domain::SettingsChange;
use shared::domain::{
    AgencyId, AgentId, Email, Evidence, EvidenceId, Fact, FederalExchangeId, Name, Npn, PlanYear, Policy, PolicyStatus,
};
use shared::domain::{AgencyUpsert, AgentUpsert, DigestScope};
use shared::ports::PersonSettings;
use store::Store;

use sync_trigger::marketplace::{Aor, MarketplaceApplication, MarketplacePolicy};

use crate::DevkitError;

/// How much to make.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub applications: usize,
    pub last_year_applications: usize,
    pub year: PlanYear,
    /// During open enrollment, the coming plan year and how many of its applications to seed.
    pub coming: Option<(PlanYear, usize)>,
    pub random_seed: u64,
}

/// One demo agent or admin: what the person signs in as.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DemoUser {
    pub agent_id: String,
    pub agency_id: String,
    pub name: String,
    pub email: String,
    pub npn: String,
    pub role: String,
}

/// What was made, and the marketplace's view of it (for the marketplace simulator).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Seeded {
    pub users: Vec<DemoUser>,
    pub applications: usize,
    /// The marketplace's view of every application, for the marketplace simulator.
    pub marketplace: Vec<MarketplaceApplication>,
}

/// (id, name, parent)
const AGENCIES: &[(&str, &str, Option<&str>)] = &[
    ("summit", "Summit Health Partners", None),
    ("summit-east", "Summit East", Some("summit")),
    ("summit-west", "Summit West", Some("summit")),
    ("summit-east-metro", "Summit East — Metro", Some("summit-east")),
    ("summit-east-coast", "Summit East — Coast", Some("summit-east")),
    ("summit-west-valley", "Summit West — Valley", Some("summit-west")),
    ("harbor", "Harbor Benefits Group", None),
    ("harbor-north", "Harbor North", Some("harbor")),
];

const FIRST: &[&str] = &[
    "Ana", "José", "Zoë", "Liam", "Mei", "Olivia", "Noah", "Amara", "Lukas", "Sofía", "Ethan", "Priya", "Mateo",
    "Chloé", "Hiroshi", "Fatima", "Grace", "Ömer", "Isla", "Diego",
];
const LAST: &[&str] = &[
    "Díaz",
    "Nguyen",
    "Smith",
    "O'Brien",
    "Müller",
    "García",
    "Johnson",
    "Kowalski",
    "Haddad",
    "Chen",
    "Rossi",
    "Okafor",
    "Brown",
    "Novák",
    "Silva",
    "Smith, Jr.",
    "Lefèvre",
    "Park",
    "Andersen",
    "Quinn \"Q\"",
];
const ISSUERS: &[&str] = &["Blue Ridge Health", "Sunrise Mutual", "Cascade Care", "Lone Star Health Plan"];

pub async fn run(store: &Store, plan: &SeedPlan) -> Result<Seeded, DevkitError> {
    let mut rng = StdRng::seed_from_u64(plan.random_seed);
    let as_of = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).single().unwrap_or_else(Utc::now);
    let mut seeded = Seeded::default();

    for (id, name, parent) in AGENCIES {
        let upsert = AgencyUpsert {
            agency_id: AgencyId::parse(*id)?,
            name: Name::parse(*name)?,
            parent_agency_id: parent.map(AgencyId::parse).transpose()?,
            agent_exports_enabled: *id != "harbor-north",
        };
        store.upsert_agency(&upsert, as_of).await?;
    }

    let mut npn_counter = 17_000_000u64;
    for (agency, _, _) in AGENCIES {
        for n in 0..4 {
            let role = if n == 0 { Role::AgencyAdmin } else { Role::Agent };
            let first = FIRST[rng.random_range(0..FIRST.len())];
            let last = LAST[rng.random_range(0..8)];
            let prefix = if role == Role::AgencyAdmin { "admin" } else { "agent" };
            let agent_id = format!("{prefix}-{agency}-{n}");
            npn_counter += 1 + rng.random_range(0..50);
            let user = DemoUser {
                agent_id: agent_id.clone(),
                agency_id: (*agency).to_owned(),
                name: format!("{first} {last}"),
                email: format!("{agent_id}@{agency}.example.com"),
                npn: npn_counter.to_string(),
                role: role.as_str().to_owned(),
            };
            let upsert = AgentUpsert {
                agent_id: AgentId::parse(&user.agent_id)?,
                agency_id: AgencyId::parse(&user.agency_id)?,
                name: Name::parse(&user.name)?,
                email: Email::parse(&user.email)?,
                npn: Npn::parse(&user.npn)?,
                role,
            };
            store.upsert_agent(&upsert, as_of).await?;
            seeded.users.push(user);
        }
    }

    // Two people asked for the daily digest before the book arrived: the first digests of
    // `make dev` name what the seed flags (summit's admin for the agency's tree).
    let asked = Utc::now() - Duration::minutes(1);
    for (agent, scope) in [("admin-summit-0", DigestScope::Agency), ("agent-summit-1", DigestScope::Book)] {
        let change = SettingsChange { daily_digest: Some(true), digest_scope: Some(scope) };
        store.change_person_settings(&AgentId::parse(agent)?, change, asked).await?;
    }

    let agents: Vec<DemoUser> = seeded.users.iter().filter(|u| u.role == Role::Agent.as_str()).cloned().collect();
    let mut work: Vec<(ApplicationKey, Vec<Evidence>)> = Vec::new();
    let last_year = PlanYear::parse(plan.year.get() - 1)?;
    let (coming_year, coming) = plan.coming.unwrap_or((plan.year, 0));
    for i in 0..plan.applications + plan.last_year_applications + coming {
        let year = match i {
            i if i < plan.applications => plan.year,
            i if i < plan.applications + plan.last_year_applications => last_year,
            _ => coming_year,
        };
        // The first agent gets a good share of the book, so the demo agent has a list to look at.
        let owner = if rng.random_bool(0.15) { &agents[0] } else { &agents[rng.random_range(0..agents.len())] };
        let (app, evidence, marketplace) = application(&mut rng, i, year, owner, &agents)?;
        work.push((app, evidence));
        seeded.marketplace.push(marketplace);
    }
    seeded.applications = work.len();

    // Imported in bulk: applying thousands of applications one transaction at a time would take
    // minutes on the emulator. The store computes the same entries either way.
    let owners =
        store.owner_items(seeded.users.iter().map(|u| AgentId::parse(&u.agent_id)).collect::<Result<_, _>>()?).await?;
    store.import(&work, &owners, Utc::now()).await?;
    Ok(seeded)
}

/// One application's story: its owner's submission and, for some, a swap, a servicing agent, a
/// marketplace sync, an archive.
fn application(
    rng: &mut StdRng,
    index: usize,
    year: PlanYear,
    owner: &DemoUser,
    agents: &[DemoUser],
) -> Result<(ApplicationKey, Vec<Evidence>, MarketplaceApplication), DevkitError> {
    // Ten digits, some with leading zeros, as FFM ids can have.
    let id = FederalExchangeId::parse(format!("{:010}", rng.random_range(0..3_000_000_000u64) + index as u64))?;
    let app = ApplicationKey { id: id.clone(), year };
    let now = Utc::now();
    // (Never in the future: a coming year's enrollment may have opened only days ago.)
    let year_start = Utc.with_ymd_and_hms(i32::from(year.get()) - 1, 11, 1, 0, 0, 0).single().unwrap_or(now);
    let year_start = year_start.min(now - Duration::days(30));
    let span = (now - year_start).num_minutes().max(60 * 24 * 30);
    let submitted_at = year_start + Duration::minutes(rng.random_range(0..span / 2));
    let client = format!("{} {}", FIRST[rng.random_range(0..FIRST.len())], LAST[rng.random_range(0..LAST.len())]);
    let client = if rng.random_bool(0.01) { format!("={client}") } else { client };

    let mut evidence = vec![submission(&format!("seed-{index}-own"), submitted_at, owner, &client)?];
    let mut aor = owner.clone();
    let later = |rng: &mut StdRng| submitted_at + Duration::minutes(rng.random_range(60..span / 2));
    let roll: f64 = rng.random();
    if roll < 0.12 {
        // A swap: another agent, half the time from the same agency, submits under their NPN.
        let same_agency: Vec<&DemoUser> =
            agents.iter().filter(|a| a.agency_id == owner.agency_id && a.agent_id != owner.agent_id).collect();
        let other = if rng.random_bool(0.5) && !same_agency.is_empty() {
            same_agency[rng.random_range(0..same_agency.len())].clone()
        } else {
            agents[rng.random_range(0..agents.len())].clone()
        };
        if other.agent_id != owner.agent_id {
            evidence.push(submission(&format!("seed-{index}-swap"), later(rng), &other, &client)?);
            aor = other;
        }
    } else if roll < 0.15 {
        // A servicing agent keeps the owner's NPN: no risk, no entry of their own.
        let other = &agents[rng.random_range(0..agents.len())];
        if other.agent_id != owner.agent_id {
            let mut servicing = other.clone();
            servicing.npn = owner.npn.clone();
            evidence.push(submission(&format!("seed-{index}-service"), later(rng), &servicing, &client)?);
        }
    }

    let mismatch = (0.15..0.21).contains(&roll);
    let policies = marketplace_policies(rng, index, &aor, mismatch);
    if mismatch || roll > 0.9 {
        let policies_seen = policies
            .iter()
            .map(|p| {
                Ok(Policy {
                    policy_id: p.policy_id.clone(),
                    status: p.status,
                    aor_npn: p.aor.as_ref().map(|a| Npn::parse(&a.npn)).transpose()?,
                })
            })
            .collect::<Result<Vec<_>, DevkitError>>()?;
        evidence.push(Evidence {
            id: EvidenceId::parse(format!("seed-{index}-sync"))?,
            at: later(rng),
            fact: Fact::Synced { policies: policies_seen, again: Vec::new() },
        });
    }
    if rng.random_bool(0.06) {
        evidence.push(Evidence {
            id: EvidenceId::parse(format!("seed-{index}-archive"))?,
            at: now - Duration::minutes(rng.random_range(1..600)),
            fact: Fact::ArchiveSet { agent_id: AgentId::parse(&owner.agent_id)?, archived: true },
        });
    }
    let marketplace = MarketplaceApplication { federal_exchange_id: id.to_string(), plan_year: year.get(), policies };
    Ok((app, evidence, marketplace))
}

fn marketplace_policies(rng: &mut StdRng, index: usize, aor: &DemoUser, mismatch: bool) -> Vec<MarketplacePolicy> {
    let mut policies = vec![MarketplacePolicy {
        policy_id: format!("POL-{index}-1"),
        issuer_name: ISSUERS[rng.random_range(0..ISSUERS.len())].to_owned(),
        status: PolicyStatus::Effectuated,
        aor: Some(Aor { npn: aor.npn.clone(), name: aor.name.clone() }),
    }];
    if rng.random_bool(0.3) {
        policies.push(MarketplacePolicy {
            policy_id: format!("POL-{index}-2"),
            issuer_name: ISSUERS[rng.random_range(0..ISSUERS.len())].to_owned(),
            status: if rng.random_bool(0.5) { PolicyStatus::Cancelled } else { PolicyStatus::Pending },
            aor: Some(Aor { npn: aor.npn.clone(), name: aor.name.clone() }),
        });
    }
    if mismatch {
        // Someone outside the platform took the AOR, or the marketplace lost it.
        policies[0].aor = if rng.random_bool(0.8) {
            Some(Aor { npn: format!("{}", 19_000_000 + rng.random_range(0..900_000)), name: "Unknown Broker".into() })
        } else {
            None
        };
    }
    policies
}

fn submission(id: &str, at: DateTime<Utc>, by: &DemoUser, client: &str) -> Result<Evidence, DevkitError> {
    Ok(Evidence {
        id: EvidenceId::parse(id)?,
        at,
        fact: Fact::Submitted {
            agent_id: AgentId::parse(&by.agent_id)?,
            npn: Npn::parse(&by.npn)?,
            client_name: Name::parse(client)?,
        },
    })
}

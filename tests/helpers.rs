//! What a test needs: its own resources on the emulator, and a short way to say who submitted
//! what when.

use chrono::{DateTime, Duration, TimeZone, Utc};
use devkit::resources::{self, LocalResources};
use devkit::template::Template;
use shared::domain::{AgencyId, AgentId, Email, Evidence, EvidenceId, Fact, FederalExchangeId, Name, Npn, PlanYear};
use shared::store::Store;
use shared::store::applications::{ApplicationKey, ApplyOutcome};
use shared::store::directory::{AgencyUpsert, AgentUpsert};
use shared::store::items::Role;
use shared::store::keys::Scope;
use shared::store::risk_lists::ArchivedFilter;

pub struct World {
    pub resources: LocalResources,
    pub store: Store,
}

/// Fresh resources from `infra/template.yaml` on the local emulator.
pub async fn world() -> World {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("integration tests run against the local emulator: use `make test` (it sets AWS_ENDPOINT_URL)");
    // Tests create and fill resources freely: never let them near a real account.
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "AWS_ENDPOINT_URL must point at the local emulator, not {endpoint}"
    );
    let sdk = shared::aws::sdk_config().await;
    let prefix = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let bus = format!("{prefix}enrollment-platform");
    let template = Template::load().expect("the template parses");
    let resources = resources::create(&sdk, &template, &prefix, &[("PlatformEventBusName", &bus)])
        .await
        .expect("resources are created on the emulator");
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), resources.table.clone());
    World { resources, store }
}

pub const YEAR: u16 = 2026;

pub fn year() -> PlanYear {
    PlanYear::parse(YEAR).unwrap()
}

pub fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 12, 0, 0).unwrap() + Duration::minutes(minute)
}

pub fn agent_id(id: &str) -> AgentId {
    AgentId::parse(id).unwrap()
}

pub fn agency_id(id: &str) -> AgencyId {
    AgencyId::parse(id).unwrap()
}

pub fn app(id: &str) -> ApplicationKey {
    ApplicationKey { id: FederalExchangeId::parse(id).unwrap(), year: year() }
}

pub async fn agency(store: &Store, id: &str, parent: Option<&str>) {
    let upsert = AgencyUpsert {
        agency_id: agency_id(id),
        name: Name::parse(format!("Agency {id}")).unwrap(),
        parent_agency_id: parent.map(agency_id),
        agent_exports_enabled: true,
    };
    store.upsert_agency(&upsert, Utc::now()).await.expect("agency upserted");
}

/// An agent whose NPN is given; their name and email derive from the id.
pub async fn agent(store: &Store, id: &str, agency: &str, npn: &str) {
    let upsert = AgentUpsert {
        agent_id: agent_id(id),
        agency_id: agency_id(agency),
        name: Name::parse(format!("Agent {id}")).unwrap(),
        email: Email::parse(format!("{id}@example.com")).unwrap(),
        npn: Npn::parse(npn).unwrap(),
        role: Role::Agent,
    };
    store.upsert_agent(&upsert, Utc::now()).await.expect("agent upserted");
}

pub fn submission(id: &str, minute: i64, by: &str, npn: &str) -> Evidence {
    Evidence {
        id: EvidenceId::parse(id).unwrap(),
        at: t(minute),
        fact: Fact::Submitted {
            agent_id: agent_id(by),
            npn: Npn::parse(npn).unwrap(),
            client_name: Name::parse("Zoë O'Brien, Jr.").unwrap(),
        },
    }
}

pub async fn submit(
    store: &Store,
    application: &str,
    evidence_id: &str,
    minute: i64,
    by: &str,
    npn: &str,
) -> ApplyOutcome {
    store
        .apply_evidence(&app(application), &submission(evidence_id, minute, by, npn), Utc::now())
        .await
        .expect("evidence applied")
}

/// Every row of a list, page by page, with the items read per page.
pub async fn whole_list(
    store: &Store,
    scope: &Scope,
    filter: ArchivedFilter,
    limit: u16,
) -> (Vec<String>, Vec<(usize, i32)>) {
    let mut ids = Vec::new();
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.risk_page(scope, year(), filter, limit, after.as_deref()).await.expect("page read");
        pages.push((page.rows.len(), page.items_read));
        ids.extend(page.rows.iter().map(|row| row.federal_exchange_id.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => return (ids, pages),
        }
    }
}

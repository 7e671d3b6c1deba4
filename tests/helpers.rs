//! What a test needs: its own resources on the emulator, and a short way to say who submitted
//! what when.

use chrono::{DateTime, Duration, TimeZone, Utc};
use devkit::resources::{self, LocalResources};
use devkit::template::Template;
use shared::domain::ApplicationKey;
use shared::domain::ArchivedFilter;
use shared::domain::Role;
use shared::domain::Scope;
use shared::domain::{AgencyId, AgentId, Email, Evidence, EvidenceId, Fact, FederalExchangeId, Name, Npn, PlanYear};
use shared::domain::{AgencyUpsert, AgentUpsert};
use shared::ports::ApplyOutcome;
use shared::ports::{Applications, RiskLists};
use store::Store;

pub struct World {
    pub resources: LocalResources,
    pub store: Store,
    /// This test's own prefix, for anything that must not collide with other tests'.
    pub tag: String,
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
    if std::env::var_os("RUST_LOG").is_some() {
        shared::telemetry::init_local();
    }
    let sdk = shared::aws::sdk_config();
    let prefix = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let bus = format!("{prefix}enrollment-platform");
    let out_bus = format!("{prefix}aor-at-risk");
    let template = Template::load().expect("the template parses");
    // The parameter the API key is read from, per test (its principal may read that one only).
    let key_parameter = format!("/{}/marketplace-api-key", prefix.trim_end_matches('-'));
    let parameters = [
        ("PlatformEventBusName", bus.as_str()),
        ("AorEventsBusName", out_bus.as_str()),
        ("MarketplaceApiKeyParameter", key_parameter.as_str()),
    ];
    let resources =
        resources::create(&sdk, &template, &prefix, &parameters).await.expect("resources are created on the emulator");
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), resources.table.clone());
    World { resources, store, tag: prefix.trim_end_matches('-').to_owned() }
}

pub const YEAR: u16 = 2026;

pub fn year() -> PlanYear {
    PlanYear::parse(YEAR).unwrap()
}

/// The plan year after `year()`: what agents submit for in open enrollment.
pub fn next_year() -> PlanYear {
    PlanYear::parse(YEAR + 1).unwrap()
}

/// A deadline no test reaches: for calls whose own deadline is not what the test is about.
pub fn far_off() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(300)
}

/// A scan of the plan year with a day's window, two syncs at a time, pages of ten.
pub fn daily_scan() -> sync_trigger::scan::ScanSettings {
    sync_trigger::scan::ScanSettings {
        year: year(),
        stale_after: Duration::hours(24),
        concurrency: 2,
        page_size: 10,
        new_lane_every: sync_trigger::scan::NEW_LANE_EVERY,
        repair_budget: sync_trigger::scan::REPAIR_BUDGET,
        pass_every: chrono::Duration::zero(),
    }
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

/// An admin of `agency` (NPN 900…), by the directory.
pub async fn admin(store: &Store, id: &str, agency: &str) {
    let upsert = AgentUpsert {
        agent_id: agent_id(id),
        agency_id: agency_id(agency),
        name: Name::parse(format!("Admin {id}")).unwrap(),
        email: Email::parse(format!("{id}@example.com")).unwrap(),
        npn: Npn::parse("900").unwrap(),
        role: Role::AgencyAdmin,
    };
    store.upsert_agent(&upsert, Utc::now()).await.expect("admin upserted");
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

/// The consistency checker finds every list and total as the authoritative state says.
pub async fn assert_no_differences(world: &World) {
    let differences = devkit::verify::verify(&world.store).await.expect("the checker reads the table");
    let report: Vec<String> = differences.iter().map(ToString::to_string).collect();
    assert!(report.is_empty(), "the lists disagree with the authoritative state:\n{}", report.join("\n"));
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
        pages.push((page.entries.len(), page.items_read));
        ids.extend(page.entries.iter().map(|row| row.federal_exchange_id.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => return (ids, pages),
        }
    }
}

/// The running system around one test's resources: the marketplace simulator and the HTTP API
/// on free ports, the ingest queue's consumer, and a way to publish platform events.
pub struct System {
    pub world: World,
    pub marketplace: sync_trigger::marketplace::MarketplaceClient,
    pub api: String,
    pub simulator_url: String,
    pub http: reqwest::Client,
    ingest: event_ingest::handler::Deps<Store>,
    source: devkit::sqs_source::SqsSource,
    pub builder: export_builder::build::Deps<Store>,
    exports_source: devkit::sqs_source::SqsSource,
    pub relay: outbox_relay::app::Deps,
    pub digest: daily_digest::app::Deps,
    pub s3: aws_sdk_s3::Client,
    events: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// The store as the scheduled scan's principal sees it (run the scan with this).
    pub scan_store: Store,
    /// The store as the on-demand sync's principal sees it.
    pub sync_store: Store,
    /// The functions' variables, as this system composed them.
    pub vars: shared::config::Vars,
    /// The last second `publish` dated an event with.
    last_published: std::sync::atomic::AtomicI64,
}

/// The local OpenID provider `make test` runs: tokens are signed with its key, the local
/// authorizer reads its published keys.
pub fn issuer() -> devkit::local_auth::LocalIssuer {
    devkit::local_auth::LocalIssuer::from_env()
        .expect("integration tests sign in through the local OpenID provider: use `make test` (it starts it)")
}

/// A token for `who` (agent id, agency id, role) from the local issuer, valid for `lifetime`,
/// its claims named as the system is configured (the user pool's custom attributes).
pub fn token_for(who: (&str, &str, &str), lifetime: chrono::Duration) -> String {
    let (agent, agency, role) = who;
    let issuer = issuer();
    let claims = devkit::local_auth::person_claims(&http_edge::caller::AgentIdClaim::cognito(), agent, agency, role);
    devkit::local_auth::mint(
        &issuer.signing_key().expect("the issuer's key"),
        &issuer.issuer,
        &issuer.client_id,
        &claims,
        lifetime,
    )
}

/// A token for `who`, valid for an hour.
pub fn token(who: (&str, &str, &str)) -> String {
    token_for(who, Duration::hours(1))
}

/// Who calls: (agent id, agency id, role), or `None` for no token at all.
pub type Who<'a> = Option<(&'a str, &'a str, &'a str)>;
pub const CLIENT_DETAILS: &str = "https://app.example.com";

pub async fn system(rate_per_second: f64) -> System {
    let world = world().await;
    let sdk = shared::aws::sdk_config();
    let simulator = devkit::marketplace_sim::Simulator::new(Vec::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let simulator_url = format!("http://{}", listener.local_addr().unwrap());
    simulator.spawn(listener);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());

    // The functions' variables, as the template sets them, pointed at this test's resources; quick
    // retries, short time-outs and small pages, so that failure and paging tests take seconds.
    let mut vars = shared::config::Vars::from_pairs(world.resources.env());
    for (name, value) in [
        ("CURRENT_PLAN_YEAR", YEAR.to_string()),
        ("CLIENT_DETAILS_BASE_URL", CLIENT_DETAILS.to_owned()),
        ("WEB_BASE_URL", api.clone()),
        ("MARKETPLACE_BASE_URL", simulator_url.clone()),
        ("MARKETPLACE_API_KEY", "test-key".to_owned()),
        ("SYNC_RATE_PER_SECOND", rate_per_second.to_string()),
        ("MARKETPLACE_ATTEMPTS", "3".to_owned()),
        ("MARKETPLACE_RETRY_BASE_MS", "20".to_owned()),
        ("MARKETPLACE_RETRY_MAX_MS", "100".to_owned()),
        ("MARKETPLACE_TIMEOUT_MS", "400".to_owned()),
        ("JOB_BUDGET_SECONDS", "60".to_owned()),
        ("EXPORT_LEASE_SECONDS", "2".to_owned()),
        ("EXPORT_PAGE_SIZE", "2".to_owned()),
        ("DIGEST_HOUR_UTC", "0".to_owned()),
        ("DIGEST_SETTLE_MINUTES", "0".to_owned()),
    ] {
        vars = vars.with(name, value);
    }
    // The claim naming the caller, as the template sets it for its user pool.
    vars = vars.with("JWT_AGENT_ID_CLAIM", http_edge::caller::AgentIdClaim::cognito().0);
    // Each function as its own principal (its template policy); the queue pollers, which are
    // Lambda's, and the test's own looks as the harness.
    let as_function = |function| world.resources.sdk_for(&sdk, function);
    let sync_settings = sync_trigger::app::Settings::from_vars(&vars).unwrap();
    let marketplace =
        sync_trigger::app::marketplace(&as_function(devkit::principals::SYNC_TRIGGER), &sync_settings).unwrap();
    let issuer = issuer();
    let authorizer = std::sync::Arc::new(devkit::local_auth::Authorizer::new(&issuer.issuer, &issuer.client_id));
    let router = devkit::serve::api_router(&sdk, &world.resources, &vars, authorizer, marketplace.clone()).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let ingest = event_ingest::app::deps(
        &as_function(devkit::principals::EVENT_INGEST),
        event_ingest::app::Settings::from_vars(&vars).unwrap(),
    );
    let source =
        devkit::sqs_source::SqsSource::new(sqs.clone(), &world.resources.ingest_queue_url, "us-east-1").await.unwrap();
    let exports_source =
        devkit::sqs_source::SqsSource::new(sqs.clone(), &world.resources.exports_queue_url, "us-east-1").await.unwrap();
    let builder = export_builder::app::deps(
        &as_function(devkit::principals::EXPORT_BUILDER),
        export_builder::app::Settings::from_vars(&vars).unwrap(),
    );
    let scan_store = sync_trigger::app::store(&as_function(devkit::principals::SYNC_SCAN), &sync_settings);
    let sync_store = sync_trigger::app::store(&as_function(devkit::principals::SYNC_TRIGGER), &sync_settings);
    let relay = outbox_relay::app::deps(
        &as_function(devkit::principals::OUTBOX_RELAY),
        outbox_relay::app::Settings::from_vars(&vars).unwrap(),
    );
    let digest = daily_digest::app::deps(
        &as_function(devkit::principals::DAILY_DIGEST),
        daily_digest::app::Settings::from_vars(&vars).unwrap(),
    );
    System {
        world,
        marketplace,
        api,
        simulator_url,
        http: reqwest::Client::new(),
        ingest,
        source,
        builder,
        exports_source,
        relay,
        digest,
        s3: shared::aws::s3_client(&sdk),
        events: aws_sdk_eventbridge::Client::new(&sdk),
        sqs,
        scan_store,
        sync_store,
        vars,
        last_published: Default::default(),
    }
}

impl System {
    pub fn store(&self) -> &Store {
        &self.world.store
    }

    /// A store as `function` has it, in a process that dies right after its first authoritative
    /// write (every request after it fails): a crash between a write and what follows it.
    pub fn store_dying_after_a_transaction(&self, function: &str) -> Store {
        let sdk = self.function_sdk(function);
        let dying = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(DiesAfterTransaction::default()).build();
        Store::new(aws_sdk_dynamodb::Client::from_conf(dying), self.store().table())
    }

    /// The SDK configuration `function` (`devkit::principals::…`) runs with: its own principal.
    pub fn function_sdk(&self, function: &str) -> shared::aws::SdkConfig {
        self.world.resources.sdk_for(&shared::aws::sdk_config(), function)
    }

    /// Publishes a platform event to this test's bus, as the platform would.
    /// Publishes a platform event. A directory event is dated a second after the directory event
    /// published before it (now, when that is later): EventBridge dates events to the second, and
    /// events of one second are ordered by their ids, which it makes at random, so a test's
    /// directory events, published one after the other, are applied in the order it published
    /// them. (Evidence is dated by its own fields; its envelope keeps the bus's time.)
    pub async fn publish(&self, detail_type: &str, detail: serde_json::Value) {
        use std::sync::atomic::Ordering;
        if !matches!(detail_type, "Agency Upserted" | "Agent Upserted") {
            return self.publish_dated(detail_type, detail, None).await;
        }
        let now = Utc::now().timestamp();
        let next = |last: i64| now.max(last + 1);
        let last = self.last_published.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(next(last)));
        let second = next(last.expect("always updated"));
        let time = DateTime::from_timestamp(second, 0).expect("a time");
        self.publish_dated(detail_type, detail, Some(time)).await;
    }

    /// Publishes a platform event whose envelope carries the time `time` (the bus's clock when `None`).
    pub async fn publish_dated(&self, detail_type: &str, detail: serde_json::Value, time: Option<DateTime<Utc>>) {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .set_time(time.map(|t| aws_sdk_eventbridge::primitives::DateTime::from_secs(t.timestamp())))
            .source("enrollment-platform")
            .detail_type(detail_type)
            .detail(detail.to_string())
            .event_bus_name(&self.world.resources.event_bus)
            .build();
        let out = self.events.put_events().entries(entry).send().await.expect("PutEvents");
        assert_eq!(out.failed_entry_count, 0);
    }

    /// Runs the outbox relay once, to the end of the outbox.
    pub async fn relay(&self) -> outbox_relay::relay::RelayReport {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        outbox_relay::relay::relay(&self.relay, until).await.expect("the relay runs")
    }

    /// A queue that receives every event this system publishes (an agency's rule, as it would
    /// write it, to a queue of its own).
    pub async fn subscribe_to_aor_events(&self) -> String {
        let name = format!("{}-subscriber", self.world.tag);
        let created = self.sqs.create_queue().queue_name(&name).send().await.unwrap();
        let url = created.queue_url.unwrap();
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        let bus = &self.world.resources.aor_events_bus;
        let rule = format!("{}-crm", self.world.tag);
        let pattern = serde_json::json!({"source": ["aor-at-risk"]}).to_string();
        self.events.put_rule().name(&rule).event_bus_name(bus).event_pattern(pattern).send().await.unwrap();
        let target = aws_sdk_eventbridge::types::Target::builder().id("crm").arn(arn).build().unwrap();
        self.events.put_targets().rule(&rule).event_bus_name(bus).targets(target).send().await.unwrap();
        url
    }

    /// Every message on a queue, received and deleted, until it stays empty.
    pub async fn take_all(&self, queue_url: &str) -> Vec<serde_json::Value> {
        let mut all = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for message in messages {
                all.push(serde_json::from_str(message.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// The deadline Lambda would give an ingest batch starting now: the template's time-out.
    fn ingest_deadline(&self) -> std::time::SystemTime {
        let timeout = devkit::template::Template::load().unwrap().function_timeout(devkit::principals::EVENT_INGEST);
        std::time::SystemTime::now() + timeout.unwrap()
    }

    /// How long a batch of the ingest consumer may spend on directory jobs before pausing them.
    pub fn set_job_budget(&mut self, budget: std::time::Duration) {
        self.ingest.job_budget = budget;
    }

    /// Lets the ingest consumer take everything waiting on the queue.
    pub async fn drain_ingest(&self) {
        while self
            .source
            .poll_once(0, |event| event_ingest::handler::handle(&self.ingest, event, Some(self.ingest_deadline())))
            .await
            .expect("poll")
            > 0
        {}
    }

    /// The messages waiting on a queue (up to 10), with their attributes; received, not deleted.
    pub async fn waiting(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        out.messages.unwrap_or_default()
    }

    /// Lets the export builder take everything waiting on the exports queue.
    pub async fn drain_exports(&self) {
        while self
            .exports_source
            .poll_once(0, |event| export_builder::handler::handle(&self.builder, event))
            .await
            .expect("poll")
            > 0
        {}
    }

    /// The emails sent to `address`.
    pub async fn inbox(&self, address: &str) -> Vec<devkit::inbox::SentEmail> {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
        let all = devkit::inbox::sent(&self.http, &endpoint).await.unwrap();
        all.into_iter().filter(|m| m.to.iter().any(|to| to == address)).collect()
    }

    /// Tells the simulator what the marketplace says about an application.
    pub async fn put_marketplace(&self, answer: &sync_trigger::marketplace::MarketplaceApplication) {
        let url = format!(
            "{}/v1/applications/{}?plan_year={}",
            self.simulator_url, answer.federal_exchange_id, answer.plan_year
        );
        let status = self.http.put(url).json(answer).send().await.unwrap().status();
        assert_eq!(status, 204);
    }

    pub async fn set_faults(&self, faults: devkit::marketplace_sim::Faults) {
        let status =
            self.http.put(format!("{}/control", self.simulator_url)).json(&faults).send().await.unwrap().status();
        assert_eq!(status, 200);
    }

    /// Every contract request the simulator served, in order.
    pub async fn served(&self) -> Vec<devkit::marketplace_sim::Served> {
        self.http.get(format!("{}/control/requests", self.simulator_url)).send().await.unwrap().json().await.unwrap()
    }

    /// `POST /v1/clients/{id}/sync` as `who` (agent id, agency id, role); `None` sends no token.
    pub async fn sync(&self, who: Who<'_>, id: &str) -> (u16, serde_json::Value) {
        self.call(who, "POST", &format!("/v1/clients/{id}/sync"), None).await
    }

    /// Calls the local API as `who` and checks the answer against `docs/openapi.yaml`.
    pub async fn call(
        &self,
        who: Who<'_>,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.api));
        if let Some(who) = who {
            request = request.bearer_auth(token(who));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body: serde_json::Value =
            if text.is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text).unwrap() };
        if status >= 400 {
            assert_eq!(content_type.as_deref(), Some("application/problem+json"), "errors are problem+json: {body}");
        }
        crate::openapi::conforms(method.as_str(), path, status, content_type.as_deref(), &body);
        (status, body)
    }
}

/// A DynamoDB client whose process "dies" right after its first authoritative write is sent — a
/// transaction, or an application's item put alone (a sync that adds only to its sync record):
/// every request after it fails, as if the Lambda instance had been killed between two calls.
#[derive(Debug, Default)]
pub struct DiesAfterTransaction(std::sync::atomic::AtomicBool);

impl aws_sdk_dynamodb::config::Intercept for DiesAfterTransaction {
    fn name(&self) -> &'static str {
        "DiesAfterTransaction"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if self.0.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("the process died".into());
        }
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let body: serde_json::Value =
            request.body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
        let application_put = target.ends_with("PutItem") && body["Item"]["sk"]["S"] == "META";
        if target.ends_with("TransactWriteItems") || application_put {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }
}

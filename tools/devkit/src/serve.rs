//! The local system: the HTTP API through the very handlers Lambda runs (behind the local
//! token check that stands in for API Gateway's JWT authorizer), the ingest queue's consumer
//! polling like Lambda's SQS event source, the scheduled scan on an interval, and the marketplace
//! simulator.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use shared::domain::PlanYear;
use shared::store::Store;
use sync_trigger::marketplace::{MarketplaceApplication, MarketplaceClient, RetryPolicy};
use sync_trigger::rate_limit::RateLimiter;
use sync_trigger::scan::{self, ScanSettings};

use crate::DevkitError;
use crate::local_auth;
use crate::marketplace_sim::Simulator;
use crate::resources::LocalResources;
use crate::sqs_source::SqsSource;

/// Where things listen and how fast they go; every value has an environment variable.
#[derive(Debug, Clone)]
pub struct DevSettings {
    pub api: SocketAddr,
    pub marketplace: SocketAddr,
    pub jwt_secret: String,
    pub marketplace_api_key: String,
    pub year: PlanYear,
    pub rate_per_second: f64,
    pub scan_interval: Duration,
    pub stale_after: chrono::Duration,
    pub client_details_base_url: String,
    /// Where the page is served, for the links in emails: `WEB_BASE_URL`, else the client details base.
    pub web_base_url: String,
}

impl DevSettings {
    pub fn from_env() -> Result<Self, DevkitError> {
        let host = env_or("API_HOST", "127.0.0.1");
        let addr = |port_var: &str, default: &str| -> Result<SocketAddr, DevkitError> {
            format!("{host}:{}", env_or(port_var, default))
                .parse()
                .map_err(|_| DevkitError::Usage(format!("{port_var} must be a port number")))
        };
        let number = |name: &str, default: &str| -> Result<f64, DevkitError> {
            env_or(name, default).parse().map_err(|_| DevkitError::Usage(format!("{name} must be a number")))
        };
        let client_details_base_url =
            env_or("CLIENT_DETAILS_BASE_URL", &format!("http://{host}:{}", env_or("API_PORT", "3000")));
        Ok(Self {
            web_base_url: env_or("WEB_BASE_URL", &client_details_base_url),
            client_details_base_url,
            api: addr("API_PORT", "3000")?,
            marketplace: addr("MARKETPLACE_PORT", "4010")?,
            jwt_secret: local_auth::secret(),
            marketplace_api_key: env_or("MARKETPLACE_API_KEY", "local-dev-key"),
            year: shared::config::current_plan_year().map_err(|e| DevkitError::Usage(e.to_string()))?,
            rate_per_second: number("SYNC_RATE_PER_SECOND", "10")?,
            scan_interval: Duration::from_secs_f64(number("SCAN_INTERVAL_SECONDS", "60")?),
            stale_after: chrono::Duration::seconds((number("SYNC_STALE_AFTER_HOURS", "24")? * 3600.0) as i64),
        })
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

/// What the local HTTP API needs.
#[derive(Clone, Debug)]
pub struct ApiDeps {
    pub store: Store,
    pub marketplace: MarketplaceClient,
    pub year: PlanYear,
    pub jwt_secret: String,
    pub client_details_base_url: String,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub exports_queue_url: String,
    pub exports_bucket: String,
}

/// The HTTP API as API Gateway would route it to the functions, with the local token check in
/// front.
pub fn api_router(deps: ApiDeps) -> Router {
    let at_risk = at_risk_query::api::router(at_risk_query::api::ApiState {
        store: deps.store.clone(),
        year: deps.year,
        client_details_base_url: deps.client_details_base_url,
    });
    let sync = sync_trigger::api::router(sync_trigger::api::ApiState {
        store: deps.store.clone(),
        marketplace: deps.marketplace,
        year: deps.year,
    });
    let exports = export_request::api::router(export_request::api::ApiState {
        store: deps.store,
        sqs: deps.sqs,
        s3: deps.s3,
        exports_queue_url: deps.exports_queue_url,
        bucket: deps.exports_bucket,
        year: deps.year,
        link_lifetime: Duration::from_secs(300),
    });
    at_risk
        .merge(sync)
        .merge(exports)
        .fallback(shared::http::no_such_route)
        .layer(axum::middleware::from_fn_with_state(deps.jwt_secret, local_auth::api_gateway_context))
}

/// Runs everything until Ctrl-C.
pub async fn run(
    sdk: &shared::aws::SdkConfig,
    resources: &LocalResources,
    marketplace_data: Vec<MarketplaceApplication>,
    users: Vec<crate::seed::DemoUser>,
    settings: DevSettings,
) -> Result<(), DevkitError> {
    let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), resources.table.clone());
    let sqs = aws_sdk_sqs::Client::new(sdk);

    let simulator = Simulator::new(marketplace_data);
    simulator.spawn(bind(settings.marketplace, "MARKETPLACE_PORT").await?);
    let limiter = Arc::new(RateLimiter::per_second(settings.rate_per_second));
    let marketplace = MarketplaceClient::new(
        &format!("http://{}", settings.marketplace),
        &settings.marketplace_api_key,
        limiter,
        RetryPolicy::default(),
    );

    let ingest = event_ingest::handler::Deps {
        store: store.clone(),
        sqs: sqs.clone(),
        dead_letter_queue_url: resources.ingest_dead_letter_queue_url.clone(),
        future_allowance: shared::config::future_allowance().map_err(|e| DevkitError::Usage(e.to_string()))?,
        queue_url: resources.ingest_queue_url.clone(),
        job_budget: Duration::from_secs(80),
    };
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    let source = SqsSource::new(sqs.clone(), &resources.ingest_queue_url, &region).await?;
    tokio::spawn(async move {
        loop {
            let polled = source.poll_once(5, |event| event_ingest::handler::handle(&ingest, event)).await;
            if let Err(err) = polled {
                tracing::error!(error = %err, "polling the ingest queue failed");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    });

    let builder = builder_deps(sdk, resources, &store, &settings);
    let exports_source = SqsSource::new(sqs.clone(), &resources.exports_queue_url, &region).await?;
    tokio::spawn(async move {
        loop {
            let polled = exports_source.poll_once(5, |event| export_builder::handler::handle(&builder, event)).await;
            if let Err(err) = polled {
                tracing::error!(error = %err, "polling the exports queue failed");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    });

    let scan_settings =
        ScanSettings { year: settings.year, stale_after: settings.stale_after, concurrency: 8, page_size: 100 };
    let (scan_store, scan_marketplace, interval) = (store.clone(), marketplace.clone(), settings.scan_interval);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let deadline = tokio::time::Instant::now() + interval.mul_f64(0.8);
            match scan::scan(&scan_store, &scan_marketplace, &scan_settings, chrono::Utc::now(), deadline).await {
                Ok(report) => tracing::info!(
                    placed = report.placed,
                    synced = report.synced,
                    failed = report.failed,
                    "scheduled scan finished"
                ),
                Err(err) => tracing::error!(error = %err, "scheduled scan failed"),
            }
        }
    });

    let api = api_router(ApiDeps {
        store,
        marketplace,
        year: settings.year,
        jwt_secret: settings.jwt_secret.clone(),
        client_details_base_url: settings.client_details_base_url.clone(),
        sqs,
        s3: shared::aws::s3_client(sdk),
        exports_queue_url: resources.exports_queue_url.clone(),
        exports_bucket: resources.exports_bucket.clone(),
    });
    let web = crate::web::router(crate::web::WebState {
        users,
        jwt_secret: settings.jwt_secret.clone(),
        emulator_endpoint: std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into()),
    });
    let api = web.merge(api);
    let listener = bind(settings.api, "API_PORT").await?;
    axum::serve(listener, api).with_graceful_shutdown(stop_signal()).await?;
    Ok(())
}

/// Ctrl-C, or a plain `kill` from the script that started us.
async fn stop_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match terminate.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// The export builder as Lambda would run it, pointed at the local resources.
pub fn builder_deps(
    sdk: &shared::aws::SdkConfig,
    resources: &LocalResources,
    store: &Store,
    settings: &DevSettings,
) -> export_builder::build::Deps {
    export_builder::build::Deps {
        store: store.clone(),
        s3: shared::aws::s3_client(sdk),
        ses: aws_sdk_sesv2::Client::new(sdk),
        sqs: aws_sdk_sqs::Client::new(sdk),
        settings: export_builder::build::Settings {
            bucket: resources.exports_bucket.clone(),
            dead_letter_queue_url: resources.exports_dead_letter_queue_url.clone(),
            sender: resources.sender_email.clone(),
            web_base_url: settings.web_base_url.clone(),
            client_details_base_url: settings.client_details_base_url.clone(),
            retention_days: 7,
            lease: Duration::from_secs(900),
            part_size: export_builder::build::MIN_PART_SIZE,
            page_size: 200,
            max_receives: 3,
        },
    }
}

async fn bind(addr: SocketAddr, variable: &str) -> Result<tokio::net::TcpListener, DevkitError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| DevkitError::Usage(format!("cannot listen on {addr} ({e}); set {variable} to use another port")))
}

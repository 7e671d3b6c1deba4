//! The local system: the HTTP API through the very handlers Lambda runs (behind the local
//! authorizer that stands in for API Gateway's, trusting the local OpenID provider), the page, the
//! queue consumers polling like
//! Lambda's SQS event source, the scheduled scan, the outbox relay, the daily digest and the exports sweep on an interval, and the
//! marketplace simulator.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use http_edge::caller::AgentIdClaim;
use shared::config::Vars;
use sync_trigger::marketplace::MarketplaceApplication;
use sync_trigger::scan;

use crate::DevkitError;
use crate::local_auth::{self, Authorizer, LocalIssuer};
use crate::marketplace_sim::Simulator;
use crate::principals;
use crate::resources::LocalResources;
use crate::sqs_source::SqsSource;

/// Where things listen and how often the scan runs; every value has an environment variable.
#[derive(Debug, Clone)]
pub struct DevSettings {
    pub api: SocketAddr,
    pub marketplace: SocketAddr,
    /// The local OpenID provider the page signs in through and the API trusts.
    pub issuer: LocalIssuer,
    pub scan_interval: Duration,
    /// How often the outbox relay runs (`RELAY_INTERVAL_SECONDS`; every minute in AWS).
    pub relay_interval: Duration,
    /// How often the digest runs (`DIGEST_INTERVAL_SECONDS`; every 15 minutes in AWS).
    pub digest_interval: Duration,
}

impl DevSettings {
    pub fn from_env() -> Result<Self, DevkitError> {
        let vars = Vars::from_env();
        let host = vars.optional("API_HOST").unwrap_or_else(|| "127.0.0.1".into());
        let addr = |port_var: &'static str, default: u16| -> Result<SocketAddr, DevkitError> {
            Ok(SocketAddr::new(
                host.parse().map_err(|_| DevkitError::Usage("API_HOST must be an IP address".into()))?,
                vars.whole(port_var, default)?,
            ))
        };
        Ok(Self {
            api: addr("API_PORT", 3000)?,
            marketplace: addr("MARKETPLACE_PORT", 4010)?,
            issuer: LocalIssuer::from_env()?,
            scan_interval: Duration::from_secs_f64(vars.positive("SCAN_INTERVAL_SECONDS", 60.0)?),
            relay_interval: Duration::from_secs_f64(vars.positive("RELAY_INTERVAL_SECONDS", 3.0)?),
            digest_interval: Duration::from_secs_f64(vars.positive("DIGEST_INTERVAL_SECONDS", 10.0)?),
        })
    }

    /// The variables the functions are configured by, as the template would set them, pointed at
    /// the local resources, the simulator and this API; any set in the environment stay.
    pub fn function_vars(&self, resources: &LocalResources) -> Vars {
        let mut vars = Vars::from_env();
        for (name, value) in resources.env() {
            vars = vars.with(name, value);
        }
        // The claim naming the caller, as the template sets it when it creates the user pool (the
        // local provider acts as that pool).
        let AgentIdClaim(agent_id_claim) = AgentIdClaim::cognito();
        let defaults = [
            ("CLIENT_DETAILS_BASE_URL", format!("http://{}", self.api)),
            ("MARKETPLACE_BASE_URL", format!("http://{}", self.marketplace)),
            ("MARKETPLACE_API_KEY", "local-dev-key".to_owned()),
            // Locally the day's digests go out as soon as the system is up, naming what was
            // flagged up to the run (in AWS: from 13:00 UTC, settled for 30 minutes).
            ("DIGEST_HOUR_UTC", "0".to_owned()),
            ("DIGEST_SETTLE_MINUTES", "0".to_owned()),
            ("JWT_AGENT_ID_CLAIM", agent_id_claim),
        ];
        for (name, value) in defaults {
            if vars.optional(name).is_none() {
                vars = vars.with(name, value);
            }
        }
        vars
    }
}

/// The HTTP API as API Gateway would route it to the functions, each composed as in Lambda from
/// `vars`, with the local authorizer in front. On-demand syncs call the marketplace through
/// `marketplace`, the client the local scan uses too: one process, one share of the rate.
pub fn api_router(
    sdk: &shared::aws::SdkConfig,
    resources: &LocalResources,
    vars: &Vars,
    authorizer: Arc<Authorizer>,
    marketplace: sync_trigger::marketplace::MarketplaceClient,
) -> Result<Router, DevkitError> {
    let as_function = |function| resources.sdk_for(sdk, function);
    // Each function behind Lambda's stand-in: its invocation's context, deadline and all.
    let template = crate::template::Template::load()?;
    let in_lambda = |router: Router, function: &str| -> Result<Router, DevkitError> {
        Ok(router.layer(axum::middleware::from_fn_with_state(template.function_timeout(function)?, lambda_context)))
    };
    let at_risk = in_lambda(
        at_risk_query::app::router(
            &as_function(principals::AT_RISK_QUERY),
            at_risk_query::app::Settings::from_vars(vars)?,
        ),
        principals::AT_RISK_QUERY,
    )?;
    let sync = in_lambda(
        sync_trigger::app::router(
            &as_function(principals::SYNC_TRIGGER),
            &sync_trigger::app::Settings::from_vars(vars)?,
            marketplace,
        ),
        principals::SYNC_TRIGGER,
    )?;
    let exports = in_lambda(
        export_request::app::router(
            &as_function(principals::EXPORT_REQUEST),
            export_request::app::Settings::from_vars(vars)?,
        ),
        principals::EXPORT_REQUEST,
    )?;
    // As API Gateway: a route that does not exist is a 404 whatever the token; one that does is
    // behind the authorizer.
    let routes = at_risk
        .merge(sync)
        .merge(exports)
        .route_layer(axum::middleware::from_fn_with_state(authorizer, local_auth::api_gateway_context));
    Ok(http_edge::edge(routes))
}

/// Lambda's part of an invocation, locally: the context `lambda_http` puts in each request, with
/// the deadline Lambda gives (now and the function's time-out from the template), so a handler
/// that keeps its deadline keeps it here too.
async fn lambda_context(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    request.extensions_mut().insert(lambda_context_until(timeout));
    next.run(request).await
}

/// A Lambda context whose deadline is `timeout` from now.
pub fn lambda_context_until(timeout: Duration) -> lambda_http::Context {
    let mut context = lambda_http::Context::default();
    let deadline = std::time::SystemTime::now() + timeout;
    context.deadline = deadline.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    context
}

/// The ingest queue's consumer as Lambda runs it: each batch handed to event-ingest (as its own
/// principal, configured by `vars`) with the function's time-out from the template. It runs until
/// the process ends.
pub async fn spawn_ingest(
    sdk: &shared::aws::SdkConfig,
    resources: &LocalResources,
    vars: &Vars,
) -> Result<(), DevkitError> {
    let ingest = event_ingest::app::deps(
        &resources.sdk_for(sdk, principals::EVENT_INGEST),
        event_ingest::app::Settings::from_vars(vars)?,
    );
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    let source = SqsSource::new(aws_sdk_sqs::Client::new(sdk), &resources.ingest_queue_url, &region).await?;
    let ingest_timeout = crate::template::Template::load()?.function_timeout(principals::EVENT_INGEST)?;
    tokio::spawn(async move {
        loop {
            let deadline = std::time::SystemTime::now() + ingest_timeout;
            let polled =
                source.poll_once(5, |event| event_ingest::handler::handle(&ingest, event, Some(deadline))).await;
            if let Err(err) = polled {
                tracing::error!(error = %err, "polling the ingest queue failed");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    });
    Ok(())
}

/// Runs everything until Ctrl-C.
pub async fn run(
    sdk: &shared::aws::SdkConfig,
    resources: &LocalResources,
    marketplace_data: Vec<MarketplaceApplication>,
    settings: DevSettings,
) -> Result<(), DevkitError> {
    let vars = settings.function_vars(resources);
    let simulator = Simulator::new(marketplace_data);
    simulator.spawn(bind(settings.marketplace, "MARKETPLACE_PORT").await?);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());

    // Each function as its own principal; the queue pollers and the schedules, which are Lambda's
    // and EventBridge's, as the harness.
    let as_function = |function| resources.sdk_for(sdk, function);
    spawn_ingest(sdk, resources, &vars).await?;

    let builder = export_builder::app::deps(
        &as_function(principals::EXPORT_BUILDER),
        export_builder::app::Settings::from_vars(&vars)?,
    );
    let sweeper = builder.clone();
    let sweep_interval = settings.scan_interval;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(sweep_interval).await;
            match export_builder::sweep::sweep(&sweeper, chrono::Utc::now()).await {
                Ok(report) => {
                    tracing::info!(queued_again = report.queued_again, failed = report.failed, "exports swept")
                }
                Err(err) => tracing::error!(error = err.log_text(), "the exports sweep failed"),
            }
        }
    });
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

    let sync_settings = sync_trigger::app::Settings::from_vars(&vars)?;
    let scan_store = sync_trigger::app::store(&as_function(principals::SYNC_SCAN), &sync_settings);
    // One client, one share of the rate, for the on-demand syncs and the scan (their policies are one).
    let marketplace = sync_trigger::app::marketplace(&as_function(principals::SYNC_TRIGGER), &sync_settings)?;
    let scan_marketplace = marketplace.clone();
    let interval = settings.scan_interval;
    let scan_settings = sync_settings.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let deadline = tokio::time::Instant::now() + interval.mul_f64(0.8);
            let now = chrono::Utc::now();
            let years = scan_settings.scans(now.date_naive());
            match scan::scan_years(&scan_store, &scan_marketplace, &years, now, deadline).await {
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

    // The daily digest, as its schedule would run it (one digest per person per day whatever
    // the interval).
    let digest =
        daily_digest::app::deps(&as_function(principals::DAILY_DIGEST), daily_digest::app::Settings::from_vars(&vars)?);
    let digest_interval = settings.digest_interval;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(digest_interval).await;
            let until = std::time::Instant::now() + digest_interval;
            match daily_digest::run::run(&digest, chrono::Utc::now(), until).await {
                Ok(report) if report.sent > 0 => tracing::info!(sent = report.sent, "daily digests sent"),
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "the digest run failed"),
            }
        }
    });

    // The outbox relay, as its one-minute schedule would run it, but every few seconds.
    let relay =
        outbox_relay::app::deps(&as_function(principals::OUTBOX_RELAY), outbox_relay::app::Settings::from_vars(&vars)?);
    let relay_interval = settings.relay_interval;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(relay_interval).await;
            let until = std::time::Instant::now() + relay_interval;
            match outbox_relay::relay::relay(&relay, until).await {
                Ok(report) if report.items > 0 => {
                    tracing::info!(published = report.published, counted = report.counted, "outbox relayed")
                }
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "the outbox relay failed"),
            }
        }
    });

    let authorizer = Arc::new(Authorizer::new(&settings.issuer.issuer, &settings.issuer.client_id));
    let api = api_router(sdk, resources, &vars, authorizer, marketplace)?;
    // As the distribution routes them: `/v1/*` to the API, everything else to the page's bucket.
    let web = crate::web::router(crate::web::WebState {
        s3: shared::aws::s3_client(sdk),
        bucket: resources.web_bucket.clone(),
        headers: crate::web::security_headers(&crate::template::Template::load()?, &settings.issuer.issuer)?,
        emulator_endpoint: std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into()),
    });
    // (The page is the API's fallback, not the API a wildcard route of the page's: a route's
    // path parameters would reach the API's handlers beside their own.)
    let app = api.fallback_service(web);
    let listener = bind(settings.api, "API_PORT").await?;
    axum::serve(listener, app).with_graceful_shutdown(stop_signal()).await?;
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

async fn bind(addr: SocketAddr, variable: &str) -> Result<tokio::net::TcpListener, DevkitError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| DevkitError::Usage(format!("cannot listen on {addr} ({e}); set {variable} to use another port")))
}

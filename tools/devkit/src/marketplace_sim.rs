//! The marketplace simulator: a development tool, never deployed. It serves the partner contract
//! (SPEC §6) from data it is given, with latency and faults set through a control endpoint, and
//! counts what it serves.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /v1/applications/{id}?plan_year=` | the contract; needs an `x-api-key` header |
//! | `PUT /v1/applications/{id}?plan_year=` | store an application: the JSON the GET answers, kept as sent (so a test can make the marketplace answer something malformed) |
//! | `GET /control` | the faults in force and `requests_served` |
//! | `PUT /control` | set faults: `{"latency_ms", "latency_max_ms", "error_rate", "rate_limit_rate", "retry_after_seconds", "burst_every_seconds", "burst_seconds", "timeout_rate", "hang_ms"}` (rates are 0 to 1) |
//! | `GET /control/requests` | every contract request served: `[{"at_ms", "federal_exchange_id", "status"}]` |
//! | `POST /control/reset` | forget the counts and the request log |

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sync_trigger::marketplace::MarketplaceApplication;
use tokio::time::Instant;

/// Faults and latency, all off by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Each answer takes this long; with `latency_max_ms` above it, a time drawn evenly between.
    pub latency_ms: u64,
    pub latency_max_ms: u64,
    /// Share of requests answered 503.
    pub error_rate: f64,
    /// Share of requests answered 429 with `Retry-After: retry_after_seconds`.
    pub rate_limit_rate: f64,
    pub retry_after_seconds: u64,
    /// 429 bursts: every `burst_every_seconds` (from the simulator's start), `burst_seconds` in
    /// which every request is answered 429 with `Retry-After: retry_after_seconds`.
    pub burst_every_seconds: u64,
    pub burst_seconds: u64,
    /// Share of requests that hang for `hang_ms` before answering (a client time-out).
    pub timeout_rate: f64,
    pub hang_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Served {
    pub at_ms: u64,
    pub federal_exchange_id: String,
    pub status: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlView {
    pub faults: Faults,
    pub requests_served: u64,
}

#[derive(Debug)]
struct SimState {
    /// Answers as JSON, kept as given: not necessarily of the contract's shape.
    applications: HashMap<(String, u16), serde_json::Value>,
    faults: Faults,
    served: Vec<Served>,
    started: Instant,
}

#[derive(Clone, Debug)]
pub struct Simulator(Arc<Mutex<SimState>>);

impl Simulator {
    pub fn new(applications: impl IntoIterator<Item = MarketplaceApplication>) -> Self {
        let applications = applications
            .into_iter()
            .map(|a| ((a.federal_exchange_id.clone(), a.plan_year), serde_json::to_value(&a).unwrap_or_default()))
            .collect();
        Self(Arc::new(Mutex::new(SimState {
            applications,
            faults: Faults { hang_ms: 10_000, retry_after_seconds: 1, ..Faults::default() },
            served: Vec::new(),
            started: Instant::now(),
        })))
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/applications/{id}", get(fetch).put(store))
            .route("/control", get(control).put(set_faults))
            .route("/control/requests", get(requests))
            .route("/control/reset", post(reset))
            .with_state(self.clone())
    }

    /// Serves on `listener` until the process ends.
    pub fn spawn(&self, listener: tokio::net::TcpListener) {
        let router = self.router();
        tokio::spawn(async move { axum::serve(listener, router).await });
    }

    /// Milliseconds since the simulator started: the clock of its request log.
    pub fn clock_ms(&self) -> u64 {
        u64::try_from(self.lock().started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Sets the faults in force (as `PUT /control` does).
    pub fn put_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// What the marketplace says about an application from now on.
    pub fn put(&self, application: &MarketplaceApplication) {
        let key = (application.federal_exchange_id.clone(), application.plan_year);
        self.lock().applications.insert(key, serde_json::to_value(application).unwrap_or_default());
    }

    /// Every contract request served so far.
    pub fn served(&self) -> Vec<Served> {
        self.lock().served.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Deserialize)]
struct YearQuery {
    plan_year: u16,
}

enum Outcome {
    Hang(u64),
    Status(StatusCode, Option<u64>),
    Found(serde_json::Value),
}

async fn fetch(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    query: axum::extract::Query<YearQuery>,
    headers: HeaderMap,
) -> Response {
    if !headers.contains_key("x-api-key") {
        return (StatusCode::UNAUTHORIZED, "an x-api-key header is required").into_response();
    }
    let (latency, outcome) = {
        let state = sim.lock();
        let faults = state.faults.clone();
        let mut rng = rand::rng();
        let since_start = state.started.elapsed().as_secs();
        let in_burst =
            faults.burst_every_seconds > 0 && since_start % faults.burst_every_seconds < faults.burst_seconds;
        let outcome = if rng.random_bool(faults.timeout_rate.clamp(0.0, 1.0)) {
            Outcome::Hang(faults.hang_ms)
        } else if in_burst || rng.random_bool(faults.rate_limit_rate.clamp(0.0, 1.0)) {
            Outcome::Status(StatusCode::TOO_MANY_REQUESTS, Some(faults.retry_after_seconds))
        } else if rng.random_bool(faults.error_rate.clamp(0.0, 1.0)) {
            Outcome::Status(StatusCode::SERVICE_UNAVAILABLE, None)
        } else {
            match state.applications.get(&(id.clone(), query.plan_year)) {
                Some(found) => Outcome::Found(found.clone()),
                None => Outcome::Status(StatusCode::NOT_FOUND, None),
            }
        };
        let latency = if faults.latency_max_ms > faults.latency_ms {
            rng.random_range(faults.latency_ms..=faults.latency_max_ms)
        } else {
            faults.latency_ms
        };
        (latency, outcome)
    };
    let status = match &outcome {
        Outcome::Hang(_) => 504,
        Outcome::Status(status, _) => status.as_u16(),
        Outcome::Found(_) => 200,
    };
    {
        let mut state = sim.lock();
        let at_ms = u64::try_from(state.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        state.served.push(Served { at_ms, federal_exchange_id: id, status });
    }
    tokio::time::sleep(Duration::from_millis(latency)).await;
    match outcome {
        Outcome::Hang(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Outcome::Status(status, retry_after) => {
            let mut response = status.into_response();
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
            }
            response
        }
        Outcome::Found(application) => Json(application).into_response(),
    }
}

async fn store(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    query: axum::extract::Query<YearQuery>,
    Json(application): Json<serde_json::Value>,
) -> Response {
    if application["federal_exchange_id"] != id.as_str() || application["plan_year"] != query.plan_year {
        return (StatusCode::BAD_REQUEST, "the body is about another application").into_response();
    }
    sim.lock().applications.insert((id, query.plan_year), application);
    StatusCode::NO_CONTENT.into_response()
}

async fn control(State(sim): State<Simulator>) -> Json<ControlView> {
    let state = sim.lock();
    Json(ControlView { faults: state.faults.clone(), requests_served: state.served.len() as u64 })
}

async fn set_faults(State(sim): State<Simulator>, Json(faults): Json<Faults>) -> Json<ControlView> {
    let mut state = sim.lock();
    state.faults = faults;
    Json(ControlView { faults: state.faults.clone(), requests_served: state.served.len() as u64 })
}

async fn requests(State(sim): State<Simulator>) -> Json<Vec<Served>> {
    Json(sim.lock().served.clone())
}

async fn reset(State(sim): State<Simulator>) -> StatusCode {
    sim.lock().served.clear();
    StatusCode::NO_CONTENT
}

//! The marketplace partner API (SPEC §6): `GET /v1/applications/{id}?plan_year=` with an API key.
//! Every attempt, retries included, waits for a turn of the deployment's one budget, so all
//! instances together never ask faster than the partner allows. 5xx answers and time-outs are retried with jittered
//! exponential backoff; a 429 waits as long as its `Retry-After` says.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use serde::{Deserialize, Serialize};
use shared::domain::{FederalExchangeId, Npn, PlanYear, Policy, PolicyStatus};
use shared::metrics;

use crate::budget::{Budget, BudgetError, Lane};

/// An application as the marketplace describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketplaceApplication {
    pub federal_exchange_id: String,
    pub plan_year: u16,
    pub policies: Vec<MarketplacePolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketplacePolicy {
    pub policy_id: String,
    pub issuer_name: String,
    pub status: PolicyStatus,
    pub aor: Option<Aor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aor {
    pub npn: String,
    pub name: String,
}

impl MarketplaceApplication {
    /// The policies as evidence; an NPN the marketplace sends that is not an NPN is a bad answer.
    pub fn policies(&self) -> Result<Vec<Policy>, MarketplaceError> {
        self.policies
            .iter()
            .map(|p| {
                let aor_npn = p
                    .aor
                    .as_ref()
                    .map(|aor| Npn::parse(aor.npn.as_str()))
                    .transpose()
                    .map_err(|e| MarketplaceError::BadAnswer(format!("policy {}: {e}", p.policy_id)))?;
                Ok(Policy { policy_id: p.policy_id.clone(), status: p.status, aor_npn })
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketplaceError {
    #[error("the marketplace does not know this application")]
    NotFound,
    #[error("the marketplace kept asking us to slow down")]
    RateLimited { retry_after: Duration },
    #[error("the marketplace did not answer after {attempts} attempts: {last}")]
    Unavailable { attempts: u32, last: String },
    #[error("the marketplace answered something unexpected: {0}")]
    BadAnswer(String),
    /// No turn at the partner's rate was free (or the turns could not be read): nothing was sent.
    #[error("no turn at the marketplace's rate was free")]
    NoTurn { retry_after: Duration },
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Per attempt, from sending to the whole answer.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
        }
    }
}

/// The partner's API key: given (locally), or read from an SSM parameter on first use and kept
/// for the life of the instance — so that a cold start makes no network call.
pub enum ApiKey {
    Given(String),
    Parameter { name: String, ssm: aws_sdk_ssm::Client, read: tokio::sync::OnceCell<String> },
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Given(_) => f.write_str("Given(<redacted>)"),
            Self::Parameter { name, .. } => f.debug_struct("Parameter").field("name", name).finish_non_exhaustive(),
        }
    }
}

impl ApiKey {
    async fn value(&self) -> Result<&str, MarketplaceError> {
        match self {
            Self::Given(key) => Ok(key),
            Self::Parameter { name, ssm, read } => read
                .get_or_try_init(|| async {
                    let answer = ssm.get_parameter().name(name).with_decryption(true).send().await.map_err(|err| {
                        let err = aws_sdk_ssm::error::DisplayErrorContext(&err);
                        tracing::error!(parameter = %name, error = %err, "the marketplace API key could not be read");
                        MarketplaceError::Unavailable { attempts: 0, last: "the API key could not be read".into() }
                    })?;
                    answer.parameter.and_then(|p| p.value).ok_or_else(|| {
                        tracing::error!(parameter = %name, "the marketplace API key parameter has no value");
                        MarketplaceError::Unavailable { attempts: 0, last: "the API key parameter has no value".into() }
                    })
                })
                .await
                .map(String::as_str),
        }
    }
}

#[derive(Clone, Debug)]
pub struct MarketplaceClient {
    http: reqwest::Client,
    base_url: String,
    api_key: Arc<ApiKey>,
    budget: Arc<Budget>,
    lane: Lane,
    retry: RetryPolicy,
    /// Shared by the client's clones: what the marketplace refused since last taken.
    refusals: Arc<Refusals>,
}

/// Attempts the marketplace refused, for the metrics.
#[derive(Debug, Default)]
struct Refusals {
    /// 429s.
    throttles: metrics::Counter,
    /// 5xx answers, time-outs, failed connections, answers outside the contract.
    errors: metrics::Counter,
}

impl MarketplaceClient {
    /// Fails only when the HTTP client cannot be built (no TLS roots): never silently without the
    /// per-attempt time-out.
    pub fn new(
        base_url: &str,
        api_key: ApiKey,
        budget: Arc<Budget>,
        retry: RetryPolicy,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(retry.timeout).build()?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: Arc::new(api_key),
            budget,
            lane: Lane::OnDemand,
            retry,
            refusals: Arc::default(),
        })
    }

    /// The same client for the scan: it takes the turns on-demand syncs leave.
    pub fn for_scan(&self) -> Self {
        Self { lane: Lane::Scan, ..self.clone() }
    }

    /// The writes its budget (shared by its clones) sent to claim turns, and those refused.
    pub fn budget_claims(&self) -> (u64, u64) {
        self.budget.claims()
    }

    /// Counts an answer its caller found outside the contract (an NPN that is not one).
    pub fn note_bad_answer(&self) {
        self.refusals.errors.add(1);
    }

    /// `line` with the marketplace's refusals since last taken (by this client or its clones).
    pub fn with_refusals(&self, line: metrics::Line) -> metrics::Line {
        line.count(metrics::MARKETPLACE_THROTTLES, self.refusals.throttles.take())
            .count(metrics::MARKETPLACE_ERRORS, self.refusals.errors.take())
    }

    /// The application as the marketplace has it, trying (and waiting between tries) only until
    /// `until`: an attempt's time-out is cut to what is left, and a wait that would end after it
    /// is not waited — the caller gets the last refusal at once (with its `Retry-After` when the
    /// marketplace asked to slow down), in time to answer inside its own deadline.
    pub async fn application(
        &self,
        id: &FederalExchangeId,
        year: PlanYear,
        until: Instant,
    ) -> Result<MarketplaceApplication, MarketplaceError> {
        let url = format!("{}/v1/applications/{id}?plan_year={year}", self.base_url);
        let api_key = self.api_key.value().await?;
        let mut last = String::from("no time was left to ask");
        for attempt in 1..=self.retry.attempts {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(MarketplaceError::Unavailable { attempts: attempt - 1, last });
            }
            self.budget.acquire(self.lane).await.map_err(|err| match err {
                BudgetError::Full { retry_after } => MarketplaceError::NoTurn { retry_after },
                BudgetError::Unreachable(cause) => {
                    tracing::error!(error = %cause, "the marketplace budget could not be read");
                    MarketplaceError::NoTurn { retry_after: Duration::from_secs(5) }
                }
            })?;
            let request = self.http.get(&url).header("x-api-key", api_key).timeout(self.retry.timeout.min(left));
            let wait = match request.send().await {
                Ok(response) => match response.status().as_u16() {
                    200 => {
                        let body = response.bytes().await.map_err(|e| {
                            self.refusals.errors.add(1);
                            MarketplaceError::Unavailable {
                                attempts: attempt,
                                last: format!("reading the answer: {e}"),
                            }
                        })?;
                        let answer = parse_answer(&body).inspect_err(|_| self.refusals.errors.add(1))?;
                        if answer.federal_exchange_id != id.as_str() || answer.plan_year != year.get() {
                            self.refusals.errors.add(1);
                            return Err(MarketplaceError::BadAnswer("the answer is about another application".into()));
                        }
                        return Ok(answer);
                    }
                    404 => return Err(MarketplaceError::NotFound),
                    429 => {
                        self.refusals.throttles.add(1);
                        let retry_after = retry_after(response.headers()).unwrap_or(self.retry.base_delay);
                        if attempt == self.retry.attempts || Instant::now() + retry_after >= until {
                            return Err(MarketplaceError::RateLimited { retry_after });
                        }
                        last = "429 Too Many Requests".into();
                        retry_after
                    }
                    status if status >= 500 => {
                        self.refusals.errors.add(1);
                        last = format!("HTTP {status}");
                        self.backoff(attempt)
                    }
                    status => {
                        self.refusals.errors.add(1);
                        return Err(MarketplaceError::BadAnswer(format!("HTTP {status}")));
                    }
                },
                Err(err) if err.is_timeout() => {
                    self.refusals.errors.add(1);
                    last = "timed out".into();
                    self.backoff(attempt)
                }
                Err(err) => {
                    self.refusals.errors.add(1);
                    last = if err.is_connect() { "could not connect".into() } else { "transport error".into() };
                    self.backoff(attempt)
                }
            };
            if Instant::now() + wait >= until {
                return Err(MarketplaceError::Unavailable { attempts: attempt, last });
            }
            tracing::debug!(federal_exchange_id = %id, attempt, reason = %last, "marketplace call failed; retrying");
            if attempt < self.retry.attempts {
                tokio::time::sleep(wait).await;
            }
        }
        Err(MarketplaceError::Unavailable { attempts: self.retry.attempts, last })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        shared::backoff::jittered(self.retry.base_delay, self.retry.max_delay, attempt)
    }
}

/// The marketplace's answer from its bytes. A parse error names where and what kind, never the
/// text it met: that may be a person's name.
pub fn parse_answer(body: &[u8]) -> Result<MarketplaceApplication, MarketplaceError> {
    serde_json::from_slice(body).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "not the expected shape",
            serde_json::error::Category::Eof => "cut short",
        };
        MarketplaceError::BadAnswer(format!("the answer is {kind} (line {}, column {})", e.line(), e.column()))
    })
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the partner).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(60.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(reqwest::header::RETRY_AFTER, "3600".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(60)));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn an_npn_that_is_not_one_is_a_bad_answer() {
        let answer = MarketplaceApplication {
            federal_exchange_id: "1".into(),
            plan_year: 2026,
            policies: vec![MarketplacePolicy {
                policy_id: "P1".into(),
                issuer_name: "X".into(),
                status: PolicyStatus::Effectuated,
                aor: Some(Aor { npn: "12-34".into(), name: "Someone".into() }),
            }],
        };
        assert!(matches!(answer.policies(), Err(MarketplaceError::BadAnswer(_))));
    }
}

/// Property tests of a parser of outside input, the marketplace's answers: `PROPTEST_CASES` each.
#[cfg(test)]
mod fuzz {
    use super::*;

    proptest::proptest! {
        /// Any bytes: an answer or a refusal, never a panic.
        #[test]
        fn any_bytes_are_an_answer_or_a_refusal(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse_answer(&body);
        }

        /// An answer of the right shape but wrong values is refused without quoting them: a name
        /// in a wrong place never reaches a log line.
        #[test]
        fn a_refusal_never_quotes_the_answer(name in "Zoë [A-Za-zé' ]{2,20}", status in "st-[a-z]{1,12}") {
            let body = serde_json::json!({
                "federal_exchange_id": "0042", "plan_year": 2026,
                "policies": [{"policy_id": "P1", "issuer_name": name, "status": status,
                              "aor": {"npn": name, "name": name}}],
            });
            if let Err(err) = parse_answer(body.to_string().as_bytes()) {
                let text = err.to_string();
                proptest::prop_assert!(!text.contains("Zoë") && !text.contains(&status), "{text}");
            }
            if let Ok(answer) = parse_answer(body.to_string().as_bytes())
                && let Err(err) = answer.policies()
            {
                proptest::prop_assert!(!err.to_string().contains("Zoë"), "{err}");
            }
        }
    }
}

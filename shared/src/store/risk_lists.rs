//! Reading the at-risk lists: pages newest first, the alert count and the visit watermark.
//! Every read here is a `Query` or `GetItem` on a key and reads at most one item more than it
//! returns — but for an agency's list while a directory job under way takes rows out of its reach
//! (those rows are read and left out).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SubsecRound, Utc};

use super::applications::{MAX_ATTEMPTS, s};
use super::items::{AgencyItem, AgentItem, Item, RiskRow, StatsItem, from_item};
use super::keys::{self, Scope};
use super::{Store, StoreError};
use crate::domain::{AgencyId, AgentId, PlanYear};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchivedFilter {
    #[default]
    Exclude,
    Include,
    Only,
}

/// Whose rows a directory job under way is taking out of some lists.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    /// An agency moved: the rows of its whole subtree.
    Agency(AgencyId),
    /// An agent moved: their rows.
    Agent(AgentId),
}

/// A directory change accepted whose rows are not all re-placed yet: the lists they are leaving.
#[derive(Debug, Clone)]
pub(crate) struct Departure {
    subject: Subject,
    leaving: Vec<AgencyId>,
}

impl Departure {
    /// The agencies on the path `before` the change that are not on it `now`.
    fn of(subject: Subject, before: &[AgencyId], now: &[AgencyId]) -> Self {
        Self { subject, leaving: before.iter().filter(|a| !now.contains(a)).cloned().collect() }
    }

    /// Whether `row` is one of those leaving.
    pub(crate) fn takes(&self, row: &RiskRow) -> bool {
        match &self.subject {
            Subject::Agency(agency) => row.path.contains(agency),
            Subject::Agent(agent) => &row.agent_id == agent,
        }
    }
}

/// One page of a list. `next` is the position after the last row, `None` on the last page.
#[derive(Debug, Clone)]
pub struct RiskPage {
    pub rows: Vec<RiskRow>,
    pub next: Option<String>,
    /// Items DynamoDB read for this page, to prove the reads stay bounded.
    pub items_read: i32,
}

impl Store {
    /// Up to `limit` rows of a list, newest at-risk first, after the position `after` (a `next`
    /// from the page before). An agency's list leaves out the rows whose owner a directory job
    /// under way has taken out of the agency's reach: reach is the directory's as it is now.
    pub async fn risk_page(
        &self,
        scope: &Scope,
        year: PlanYear,
        filter: ArchivedFilter,
        limit: u16,
        after: Option<&str>,
    ) -> Result<RiskPage, StoreError> {
        let prefix = keys::risk_year_prefix(year);
        if after.is_some_and(|position| !position.starts_with(&prefix)) {
            return Err(StoreError::BadCursor);
        }
        let (departures, mut items_read) = match scope {
            Scope::Agency(agency) => self.departures_from(agency).await?,
            Scope::Agent(_) => (Vec::new(), 0),
        };
        let mut rows = Vec::new();
        let mut start = after.map(|position| self.list_position(scope, filter, position));
        // One more than asked, so that `next` is only given when another row exists.
        let wanted = usize::from(limit) + 1;
        loop {
            let want = i32::try_from(wanted - rows.len()).unwrap_or(i32::MAX);
            let out = self.list_query(scope, &prefix, filter, want).set_exclusive_start_key(start).send().await?;
            items_read += out.scanned_count;
            for item in out.items.unwrap_or_default() {
                let row: RiskRow = from_item(item)?;
                if !departures.iter().any(|departure| departure.takes(&row)) {
                    rows.push(row);
                }
            }
            start = out.last_evaluated_key;
            if rows.len() >= wanted || start.is_none() {
                break;
            }
        }
        let next = if rows.len() > usize::from(limit) {
            rows.truncate(usize::from(limit));
            rows.last().map(|row| row.sk.clone())
        } else {
            None
        };
        Ok(RiskPage { rows, next, items_read })
    }

    /// The query of one list (with the archived filter's index), newest first.
    fn list_query(
        &self,
        scope: &Scope,
        prefix: &str,
        filter: ArchivedFilter,
        limit: i32,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let query = self.client().query().table_name(self.table()).scan_index_forward(false).limit(limit);
        let query = match filter {
            ArchivedFilter::Include => query
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :year)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":pk", s(keys::risk_pk(scope))),
            ArchivedFilter::Exclude | ArchivedFilter::Only => query
                .index_name(keys::GSI1)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :year)")
                .expression_attribute_names("#pk", keys::GSI1_PK)
                .expression_attribute_names("#sk", keys::GSI1_SK)
                .expression_attribute_values(
                    ":pk",
                    s(keys::risk_by_archived_gsi1pk(scope, filter == ArchivedFilter::Only)),
                ),
        };
        query.expression_attribute_values(":year", s(prefix))
    }

    /// Where to start reading a list after the row at `position`.
    fn list_position(&self, scope: &Scope, filter: ArchivedFilter, position: &str) -> Item {
        let pk = keys::risk_pk(scope);
        match filter {
            ArchivedFilter::Include => Item::from([(keys::PK.into(), s(&pk)), (keys::SK.into(), s(position))]),
            ArchivedFilter::Exclude | ArchivedFilter::Only => Item::from([
                (keys::GSI1_PK.into(), s(keys::risk_by_archived_gsi1pk(scope, filter == ArchivedFilter::Only))),
                (keys::GSI1_SK.into(), s(position)),
                (keys::PK.into(), s(&pk)),
                (keys::SK.into(), s(position)),
            ]),
        }
    }

    /// The directory jobs under way that take rows out of `agency`'s reach (the sparse index of
    /// marks: usually empty), with the items read to find them.
    pub(crate) async fn departures_from(&self, agency: &AgencyId) -> Result<(Vec<Departure>, i32), StoreError> {
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(keys::GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::GSI1_PK)
            .expression_attribute_values(":pk", s(keys::MOVING_GSI1PK));
        let items = self.query_all(query).await?;
        let read = i32::try_from(items.len()).unwrap_or(i32::MAX);
        let mut departures = Vec::new();
        for item in items {
            let pk = item.get(keys::PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let departure = if pk.starts_with("AGENCY#") {
                let moved: AgencyItem = from_item(item)?;
                let before = moved.job.map(|job| job.from).unwrap_or_default();
                Departure::of(Subject::Agency(moved.agency_id), &before, &moved.ancestors)
            } else {
                let moved: AgentItem = from_item(item)?;
                let before = moved.job.map(|job| job.from).unwrap_or_default();
                let now = self.agency_path(&moved.agency_id).await?;
                Departure::of(Subject::Agent(moved.agent_id), &before, &now)
            };
            if departure.leaving.contains(agency) {
                departures.push(departure);
            }
        }
        Ok((departures, read))
    }

    /// A list's at-risk total, new-since-visit count and last visit for a plan year — an agent's
    /// own book or an agency's tree: one `GetItem`.
    pub async fn stats(&self, scope: &Scope, year: PlanYear) -> Result<StatsItem, StoreError> {
        self.stats_of(&keys::scope_pk(scope), year).await
    }

    /// The counters kept in the item partition `tally_pk` (`AGENT#…` or `AGENCY#…`).
    pub(crate) async fn stats_of(&self, tally_pk: &str, year: PlanYear) -> Result<StatsItem, StoreError> {
        // Consistent: a placement decides "new since the visit" by the visit it reads here.
        let item = self.get_item(tally_pk.to_owned(), &keys::stats_sk(year)).await?;
        item.map(from_item).transpose().map(Option::unwrap_or_default)
    }

    /// Records that the list of `scope` was opened at `at` (kept to the microsecond like every
    /// time in a key) and starts its new-since-visit count again; returns the time recorded.
    /// Placements count an entry as new only while the visit they read stands; and the visit lands
    /// only on the counters it read, with a time after the last visit's, so a placement that
    /// counted an entry flagged after `at` makes the visit read again and take a later time.
    pub async fn record_visit(
        &self,
        scope: &Scope,
        year: PlanYear,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let pk = keys::scope_pk(scope);
        let mut at = at.trunc_subsecs(6);
        for attempt in 1..=MAX_ATTEMPTS {
            let read = self.stats_of(&pk, year).await?;
            if let Some(last) = read.last_visited_at {
                at = at.max(last + chrono::Duration::microseconds(1));
            }
            let update = self
                .client()
                .update_item()
                .table_name(self.table())
                .key(keys::PK, s(&pk))
                .key(keys::SK, s(keys::stats_sk(year)))
                .update_expression("SET last_visited_at = :at, new_since_visit = :zero ADD version :one")
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":at", s(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)));
            let update = match read.version {
                0 => update.condition_expression("attribute_not_exists(version)"),
                version => update
                    .condition_expression("version = :version")
                    .expression_attribute_values(":version", AttributeValue::N(version.to_string())),
            };
            match update.send().await {
                Ok(_) => return Ok(at),
                Err(err) if super::condition_failed(&err) => {
                    tokio::time::sleep(super::applications::backoff(attempt)).await;
                    at = Utc::now().trunc_subsecs(6).max(at);
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }
}

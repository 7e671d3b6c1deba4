//! Reading the at-risk lists: pages newest first, the alert count and the visit watermark.
//! Every read here is a `Query` or `GetItem` on a key and reads at most one item more than it
//! returns.

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use chrono::{DateTime, SubsecRound, Utc};

use super::applications::s;
use super::items::{AgentStatsItem, Item, RiskRow, from_item};
use super::keys::{self, Scope};
use super::{Store, StoreError};
use crate::domain::{AgentId, PlanYear};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchivedFilter {
    #[default]
    Exclude,
    Include,
    Only,
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
    /// from the page before).
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
        let pk = keys::risk_pk(scope);
        let query = self.client().query().table_name(self.table()).scan_index_forward(false);
        // One more than asked, so that `next` is only given when another row exists.
        let query = query.limit(i32::from(limit) + 1);
        let (query, start) = match filter {
            ArchivedFilter::Include => {
                let start =
                    after.map(|position| Item::from([(keys::PK.into(), s(&pk)), (keys::SK.into(), s(position))]));
                let query = query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :year)")
                    .expression_attribute_names("#pk", keys::PK)
                    .expression_attribute_names("#sk", keys::SK)
                    .expression_attribute_values(":pk", s(&pk));
                (query, start)
            }
            ArchivedFilter::Exclude | ArchivedFilter::Only => {
                let gsi_pk = keys::risk_by_archived_gsi1pk(scope, filter == ArchivedFilter::Only);
                let start = after.map(|position| {
                    Item::from([
                        (keys::GSI1_PK.into(), s(&gsi_pk)),
                        (keys::GSI1_SK.into(), s(position)),
                        (keys::PK.into(), s(&pk)),
                        (keys::SK.into(), s(position)),
                    ])
                });
                let query = query
                    .index_name(keys::GSI1)
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :year)")
                    .expression_attribute_names("#pk", keys::GSI1_PK)
                    .expression_attribute_names("#sk", keys::GSI1_SK)
                    .expression_attribute_values(":pk", s(gsi_pk));
                (query, start)
            }
        };
        let out = query.expression_attribute_values(":year", s(prefix)).set_exclusive_start_key(start).send().await?;
        let items_read = out.scanned_count;
        let mut rows =
            out.items.unwrap_or_default().into_iter().map(from_item::<RiskRow>).collect::<Result<Vec<_>, _>>()?;
        let next = if rows.len() > usize::from(limit) {
            rows.truncate(usize::from(limit));
            rows.last().map(|row| row.sk.clone())
        } else {
            None
        };
        Ok(RiskPage { rows, next, items_read })
    }

    /// How many of an agent's visible at-risk entries were flagged after `after` (all of them
    /// when `None`). Reads only those entries, never the whole list.
    pub async fn count_flagged_after(
        &self,
        agent: &AgentId,
        year: PlanYear,
        after: Option<DateTime<Utc>>,
    ) -> Result<i64, StoreError> {
        let from = match after {
            Some(at) => keys::risk_new_from(year, at),
            None => keys::risk_year_prefix(year),
        };
        let mut count = 0i64;
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(keys::GSI2)
                .select(Select::Count)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_names("#pk", keys::GSI2_PK)
                .expression_attribute_names("#sk", keys::GSI2_SK)
                .expression_attribute_values(":pk", s(keys::risk_new_gsi2pk(agent)))
                .expression_attribute_values(":from", s(from.clone()))
                .expression_attribute_values(":to", s(keys::risk_new_until(year)))
                .set_exclusive_start_key(start)
                .send()
                .await?;
            count += i64::from(out.count);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }

    /// An agent's at-risk total and last visit for a plan year: one `GetItem`.
    pub async fn agent_stats(&self, agent: &AgentId, year: PlanYear) -> Result<AgentStatsItem, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(keys::PK, s(keys::agent_pk(agent)))
            .key(keys::SK, s(keys::agent_stats_sk(year)))
            .send()
            .await?;
        out.item.map(from_item).transpose().map(Option::unwrap_or_default)
    }

    /// Records that the agent opened the list at `at`, kept to the microsecond like every time in
    /// a key; returns the time recorded.
    pub async fn record_visit(
        &self,
        agent: &AgentId,
        year: PlanYear,
        at: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StoreError> {
        let at = at.trunc_subsecs(6);
        self.client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, s(keys::agent_pk(agent)))
            .key(keys::SK, s(keys::agent_stats_sk(year)))
            .update_expression("SET last_visited_at = :at")
            .expression_attribute_values(
                ":at",
                AttributeValue::S(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            )
            .send()
            .await?;
        Ok(at)
    }
}

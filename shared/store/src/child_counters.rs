//! An admin's home: the direct sub-agencies with the most at risk, found in one query whatever
//! the number of children. Each agency's counter items are filed (GSI1) under its parent as the
//! directory has it:
//!
//! - every counter update a placement makes files the item under the parent on the owner's path
//!   it read (or out of the index, for the path's top);
//! - a move's or an arrival's job files them again under the parent the directory has now (its
//!   placements may leave an agency's own counters untouched: its rows stay in its list), and at
//!   its end files those of the lists its rows left (moved by placements that no longer had
//!   those agencies on their path);
//! - a placement that read a path since changed finds it when it confirms the path's versions,
//!   and files again every agency whose counters it moved under a parent it no longer has (or
//!   moved unfiled), so a filing from a stale path does not stand.
//!
//! The home keeps only children whose parent is the agency now, so a filing that is still being
//! corrected shows no other tree's agency.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{Index, SortKeys, failed, text};
use super::items::{AgencyItem, from_item};
use super::keys;
use super::{Store, StoreError};
use domain::{Agency, AgencyId, PlanYear};

/// What a counter update adds to file agency `child`'s counter item of `year` under `parent`
/// (`None`: a top, out of the index): the clause and its values.
pub(crate) fn filing(
    child: &AgencyId,
    parent: Option<&AgencyId>,
    year: PlanYear,
) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
    match parent {
        Some(parent) => (
            "SET gsi1pk = :filed_under, gsi1sk = :filed_as",
            vec![
                (":filed_under", text(keys::child_stats_gsi1pk(parent))),
                (":filed_as", text(keys::child_stats_gsi1sk(year, child))),
            ],
        ),
        None => ("REMOVE gsi1pk, gsi1sk", Vec::new()),
    }
}

impl Store {
    /// Files every counter item of `agency` (every plan year) under its parent as the directory
    /// has it now.
    pub async fn refile_counters(&self, agency: &AgencyId) -> Result<(), StoreError> {
        let parent = self.agency_item(agency).await?.and_then(|a| a.parent_agency_id);
        for item in self.query_prefix(keys::agency_pk(agency), "STATS#").await? {
            let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let Some(year) = keys::stats_year(&sk) else { continue };
            let (clause, values) = filing(agency, parent.as_ref(), year);
            let update = self
                .client()
                .update_item()
                .table_name(self.table())
                .key(keys::PK, text(keys::agency_pk(agency)))
                .key(keys::SK, text(&sk))
                .update_expression(clause);
            let update = values.into_iter().fold(update, |u, (name, value)| u.expression_attribute_values(name, value));
            update.send().await.map_err(failed)?;
        }
        Ok(())
    }

    /// Each direct sub-agency's at-risk total for a plan year, by the counters filed under
    /// `parent` (one query, paged by DynamoDB's 1 MB): those with none left out.
    async fn child_totals(&self, parent: &AgencyId, year: PlanYear) -> Result<Vec<(AgencyId, i64)>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Filed {
            gsi1sk: String,
            #[serde(default)]
            at_risk_total: i64,
        }
        let prefix = keys::child_stats_year_prefix(year);
        let query = self.query(Index::Gsi1, keys::child_stats_gsi1pk(parent), SortKeys::Prefix(prefix.clone()));
        let mut totals: BTreeMap<AgencyId, i64> = BTreeMap::new();
        for item in self.query_all(query).await? {
            let filed: Filed = from_item(item)?;
            let Some(child) = filed.gsi1sk.strip_prefix(&prefix).and_then(|id| AgencyId::parse(id).ok()) else {
                continue;
            };
            *totals.entry(child).or_default() += filed.at_risk_total;
        }
        Ok(totals.into_iter().filter(|(_, total)| *total > 0).collect())
    }
}

impl Store {
    /// `ports::RiskLists::top_children`: the children by their filed totals, the most first;
    /// their agency items read a few at a time, only until `n` are found (and those tied with
    /// the last), each kept only while its parent is `agency` now.
    pub(crate) async fn top_children_of(
        &self,
        agency: &AgencyId,
        year: PlanYear,
        n: usize,
    ) -> Result<Vec<(Agency, i64)>, StoreError> {
        let mut candidates = self.child_totals(agency, year).await?;
        candidates.sort_by_key(|(_, total)| std::cmp::Reverse(*total));
        let mut top: Vec<(Agency, i64)> = Vec::new();
        for chunk in candidates.chunks(n.max(1)) {
            // Enough, and the rest have fewer: no tie with the last one kept is left unread.
            if top.len() >= n && top.last().is_some_and(|(_, last)| chunk[0].1 < *last) {
                break;
            }
            let keys = chunk.iter().map(|(child, _)| (keys::agency_pk(child), keys::AGENCY_SK.to_owned())).collect();
            let mut found = self.get_all(keys).await?;
            for (child, total) in chunk {
                let Some(item) = found.remove(&keys::agency_pk(child)) else { continue };
                let item: AgencyItem = from_item(item)?;
                if item.parent_agency_id.as_ref() == Some(agency) {
                    top.push((item.agency(), *total));
                }
            }
        }
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.name.as_str().cmp(b.0.name.as_str())));
        top.truncate(n);
        Ok(top)
    }
}

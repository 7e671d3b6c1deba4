//! Loading whole applications at once, for seeding and the bench (feature `tools`: never in a
//! Lambda function).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::applications::{entry_item, evidence_item, meta_item, trail_item};
use super::dynamo::{failed, unbuilt};
use super::dynamo::{number, text};
use super::items::{Owner, RiskRow, RowFacts, to_item};
use super::placement::PlacementItem;
use super::row_changes::{counted_row, counts};
use super::{Store, StoreError, keys};
use domain::{AgencyId, AgencyOf, AgentId, ApplicationKey, BookEntry, Evidence, PlanYear, apply};

impl Store {
    /// Loads new applications with their whole evidence logs, with batch writes instead of one
    /// transaction per piece of evidence: for seeding and benchmarks only, where nothing else
    /// writes to these applications. The result is what applying the evidence one by one and
    /// placing the entries gives.
    pub async fn import(
        &self,
        applications: &[(ApplicationKey, Vec<Evidence>)],
        owners: &HashMap<AgentId, Owner>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let agencies: AgencyOf = owners
            .values()
            .filter_map(|owner| Some((owner.agent_id.clone(), owner.agent.as_ref()?.agency_id.clone())))
            .collect();
        let mut items = Vec::new();
        // Counters by their partition (`AGENT#…`, `AGENCY#…`) and plan year.
        let mut totals: BTreeMap<(String, PlanYear), (i64, i64)> = BTreeMap::new();
        // Whether an imported entry counts as new in a list depends on that list's last visit.
        let mut visits = super::placement::Visits::default();
        for (app, log) in applications {
            let mut applied_log: Vec<Evidence> = Vec::new();
            let mut entries = BTreeMap::new();
            for evidence in log {
                let Some(applied) = apply(&applied_log, &entries, evidence, &agencies, now) else { continue };
                if !applied.history.is_empty() {
                    items.push(to_item(&trail_item(app, evidence, &applied.history))?);
                }
                items.push(to_item(&evidence_item(app, evidence))?);
                applied_log.push(evidence.clone());
                entries = applied.entries;
            }
            let last_synced_at = domain::last_synced_at(&applied_log);
            let at_risk = entries.values().any(|e: &BookEntry| e.is_at_risk() && !e.archived);
            let mut meta = meta_item(app, applied_log.len() as u64, last_synced_at, at_risk, None);
            meta.log_last_at = applied_log.iter().map(Evidence::last_at).max();
            items.push(to_item(&meta)?);
            for entry in entries.values() {
                items.push(to_item(&entry_item(app, entry))?);
            }
            let lists = entries.keys().flat_map(|agent| {
                let owner = owners.get(agent).cloned().unwrap_or_else(|| Owner::unknown(agent.clone()));
                owner.scopes().iter().map(keys::counters_pk).collect::<Vec<_>>()
            });
            self.read_visits(lists.collect::<Vec<_>>(), app.year, &mut visits).await?;
            let visit_of = |counters_pk: &str| visits.get(&(counters_pk.to_owned(), app.year)).copied().flatten();
            for entry in entries.values() {
                let Some(facts) = RowFacts::of_entry(&app.id, app.year, entry) else { continue };
                let owner =
                    owners.get(&entry.agent_id).cloned().unwrap_or_else(|| Owner::unknown(entry.agent_id.clone()));
                let mut named = Vec::new();
                for scope in owner.scopes() {
                    let counters_pk = keys::counters_pk(&scope);
                    let row = RiskRow { version: 1, ..counted_row(&facts, scope, visit_of(&counters_pk)) };
                    let (total, new) = counts(&row, visit_of(&counters_pk), false);
                    let sums = totals.entry((counters_pk, app.year)).or_insert((0, 0));
                    *sums = (sums.0 + total, sums.1 + new);
                    named.push(row.key());
                    items.push(to_item(&row)?);
                }
                items.push(to_item(&PlacementItem::naming(app, &entry.agent_id, named, None))?);
            }
        }
        let requests = items
            .into_iter()
            .map(|item| {
                let put =
                    aws_sdk_dynamodb::types::PutRequest::builder().set_item(Some(item)).build().map_err(unbuilt)?;
                Ok(aws_sdk_dynamodb::types::WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write_batch(requests).await?;
        let filings: HashMap<String, (AgencyId, Option<AgencyId>)> =
            owners.values().flat_map(Owner::filings).map(|(pk, agency, parent)| (pk, (agency, parent))).collect();
        for ((counters_pk, year), (total, new)) in totals.iter().filter(|(_, counts)| **counts != (0, 0)) {
            let (filing, filed) = match filings.get(counters_pk) {
                Some((agency, parent)) => super::child_counters::filing(agency, parent.as_ref(), *year),
                None => ("", Vec::new()),
            };
            self.client()
                .update_item()
                .table_name(self.table())
                .key(keys::PK, text(counters_pk))
                // Any of the list's counter items holds a share of its counts: the first.
                .key(keys::SK, text(&keys::stats_sks(counters_pk, *year)[0]))
                .update_expression(format!("ADD at_risk_total :total, new_since_visit :new, version :one {filing}"))
                .set_expression_attribute_values(Some(filed.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
                .expression_attribute_values(":one", number(1))
                .expression_attribute_values(":total", number(total))
                .expression_attribute_values(":new", number(new))
                .send()
                .await
                .map_err(failed)?;
        }
        Ok(())
    }
}

//! Applying evidence to an application: read its log and entries, run the rules, and write the
//! outcome — evidence, entries, history, list rows and counts — in one transaction that fails if
//! anyone else wrote to the application (or moved its owners) in between; then read and try again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::items::{
    AgencyItem, EntryItem, EvidenceItem, Item, MetaItem, Owner, RowFacts, TrailItem, counts_as_at_risk, from_item,
    to_item,
};
use super::{Store, StoreError, keys};
use crate::domain::{
    AgencyOf, AgentId, Applied, BookEntry, Evidence, Fact, FederalExchangeId, HistoryRecord, PlanYear, apply,
};

/// How often a write that lost a race reads again and retries before giving up.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// Which application: the same Federal Exchange ID in another plan year is another application.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApplicationKey {
    pub id: FederalExchangeId,
    pub year: PlanYear,
}

/// An application as stored.
#[derive(Debug, Clone, Default)]
pub struct StoredApplication {
    pub version: u64,
    pub log: Vec<Evidence>,
    pub entries: BTreeMap<AgentId, BookEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// This evidence was applied before: nothing was written.
    AlreadyApplied,
    /// Applied; one history record per entry that changed.
    Applied(Vec<HistoryRecord>),
}

impl Store {
    /// Applies one piece of evidence to an application, exactly once however often it is called.
    pub async fn apply_evidence(
        &self,
        app: &ApplicationKey,
        evidence: &Evidence,
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let stored = self.application(app).await?;
            let owners = self.owners(agents_named(&stored, evidence)).await?;
            let agencies: AgencyOf = owners
                .values()
                .filter_map(|owner| Some((owner.agent_id.clone(), owner.agent.as_ref()?.agency_id.clone())))
                .collect();
            let Some(applied) = apply(&stored.log, &stored.entries, evidence, &agencies, now) else {
                return Ok(ApplyOutcome::AlreadyApplied);
            };
            let writes = self.writes_for(app, &stored, evidence, &applied, &owners)?;
            match self.transact(writes).await {
                Ok(()) => return Ok(ApplyOutcome::Applied(applied.history)),
                Err(StoreError::Conflict) => {
                    tracing::debug!(attempt, "application changed while applying evidence; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }

    /// Loads new applications with their whole evidence logs, with batch writes instead of one
    /// transaction per piece of evidence: for seeding and benchmarks only, where nothing else
    /// writes to these applications. The result is what applying the evidence one by one gives.
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
        let mut totals: BTreeMap<(AgentId, PlanYear), i64> = BTreeMap::new();
        for (app, log) in applications {
            let mut applied_log: Vec<Evidence> = Vec::new();
            let mut entries = BTreeMap::new();
            for evidence in log {
                let Some(applied) = apply(&applied_log, &entries, evidence, &agencies, now) else { continue };
                for record in &applied.history {
                    items.push(to_item(&trail_item(app, record))?);
                }
                items.push(to_item(&evidence_item(app, evidence))?);
                applied_log.push(evidence.clone());
                entries = applied.entries;
            }
            items.push(to_item(&meta_item(app, applied_log.len() as u64, &entries))?);
            for entry in entries.values() {
                items.push(to_item(&entry_item(app, entry))?);
                let owner =
                    owners.get(&entry.agent_id).cloned().unwrap_or_else(|| Owner::unknown(entry.agent_id.clone()));
                for row in rows_of(app, Some(entry), &owner) {
                    items.push(to_item(&row)?);
                }
                *totals.entry((entry.agent_id.clone(), app.year)).or_insert(0) +=
                    i64::from(counts_as_at_risk(Some(entry)));
            }
        }
        let requests = items
            .into_iter()
            .map(|item| {
                let put = aws_sdk_dynamodb::types::PutRequest::builder().set_item(Some(item)).build()?;
                Ok(aws_sdk_dynamodb::types::WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write_batch(requests).await?;
        for ((agent, year), delta) in totals.iter().filter(|(_, delta)| **delta != 0) {
            self.client()
                .update_item()
                .table_name(self.table())
                .key(keys::PK, s(keys::agent_pk(agent)))
                .key(keys::SK, s(keys::agent_stats_sk(*year)))
                .update_expression("ADD at_risk_total :delta")
                .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()))
                .send()
                .await?;
        }
        Ok(())
    }

    /// The log, entries and version of an application: one query over one item collection,
    /// which never reads the history.
    pub async fn application(&self, app: &ApplicationKey) -> Result<StoredApplication, StoreError> {
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(keys::application_pk(app.year, &app.id)))
            .expression_attribute_values(":from", s(keys::ENTRY_PREFIX))
            .expression_attribute_values(":to", s(keys::META_SK))
            .consistent_read(true);
        let mut stored = StoredApplication::default();
        for item in self.query_all(query).await? {
            let sk = item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if sk.starts_with(keys::ENTRY_PREFIX) {
                let entry: EntryItem = from_item(item)?;
                stored.entries.insert(entry.entry.agent_id.clone(), entry.entry);
            } else if sk.starts_with(keys::EVIDENCE_PREFIX) {
                stored.log.push(from_item::<EvidenceItem>(item)?.evidence);
            } else if sk == keys::META_SK {
                stored.version = from_item::<MetaItem>(item)?.version;
            }
        }
        Ok(stored)
    }

    /// What happened to one agent's entry of an application, oldest first.
    pub async fn history(&self, app: &ApplicationKey, agent: &AgentId) -> Result<Vec<HistoryRecord>, StoreError> {
        let prefix = format!("{}{agent}#", keys::TRAIL_PREFIX);
        let items = self.query_prefix(keys::application_pk(app.year, &app.id), &prefix).await?;
        items.into_iter().map(|item| from_item::<TrailItem>(item).map(|trail| trail.record)).collect()
    }

    /// The directory's view of each agent: their agent item and agency, where known.
    pub async fn owners(&self, agents: BTreeSet<AgentId>) -> Result<HashMap<AgentId, Owner>, StoreError> {
        let mut owners = HashMap::new();
        let mut agencies: HashMap<_, (Option<AgencyItem>, Vec<crate::domain::AgencyId>)> = HashMap::new();
        for agent_id in agents {
            let Some(agent) = self.agent(&agent_id).await? else {
                owners.insert(agent_id.clone(), Owner::unknown(agent_id));
                continue;
            };
            if !agencies.contains_key(&agent.agency_id) {
                let agency = self.agency(&agent.agency_id).await?;
                let path = self.agency_path(&agent.agency_id).await?;
                agencies.insert(agent.agency_id.clone(), (agency, path));
            }
            let (agency, path) = agencies[&agent.agency_id].clone();
            owners.insert(agent_id.clone(), Owner { agent_id, agent: Some(agent), agency, path });
        }
        Ok(owners)
    }

    fn writes_for(
        &self,
        app: &ApplicationKey,
        stored: &StoredApplication,
        evidence: &Evidence,
        applied: &Applied,
        owners: &HashMap<AgentId, Owner>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let pk = keys::application_pk(app.year, &app.id);
        let mut writes = Vec::new();

        // The application's version is the lock: this transaction only lands on what it read.
        let meta = meta_item(app, stored.version + 1, &applied.entries);
        let meta_put = Put::builder().table_name(self.table()).set_item(Some(to_item(&meta)?));
        let meta_put = super::if_version(meta_put, (stored.version > 0).then_some(stored.version));
        writes.push(TransactWriteItem::builder().put(meta_put.build()?).build());

        writes.push(self.put(to_item(&evidence_item(app, evidence))?)?);

        let mut checked_agencies = BTreeSet::new();
        for record in &applied.history {
            let owner =
                owners.get(&record.agent_id).cloned().unwrap_or_else(|| Owner::unknown(record.agent_id.clone()));

            match &record.after {
                Some(entry) => writes.push(self.put(to_item(&entry_item(app, entry))?)?),
                None => writes.push(self.delete(&pk, &keys::entry_sk(&record.agent_id))?),
            }

            writes.push(self.put(to_item(&trail_item(app, record))?)?);

            // The entry's rows in every list: delete those that no longer exist, write the rest.
            let rows_before = rows_of(app, record.before.as_ref(), &owner);
            let rows_after = rows_of(app, record.after.as_ref(), &owner);
            let keys_after: BTreeSet<_> = rows_after.iter().map(|r| (r.pk.clone(), r.sk.clone())).collect();
            for row in rows_before.iter().filter(|r| !keys_after.contains(&(r.pk.clone(), r.sk.clone()))) {
                writes.push(self.delete(&row.pk, &row.sk)?);
            }
            for row in &rows_after {
                writes.push(self.put(to_item(row)?)?);
            }

            let delta = i64::from(counts_as_at_risk(record.after.as_ref()))
                - i64::from(counts_as_at_risk(record.before.as_ref()));
            if delta != 0 {
                let update = Update::builder()
                    .table_name(self.table())
                    .key(keys::PK, s(keys::agent_pk(&record.agent_id)))
                    .key(keys::SK, s(keys::agent_stats_sk(app.year)))
                    .update_expression("ADD at_risk_total :delta")
                    .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()))
                    .build()?;
                writes.push(TransactWriteItem::builder().update(update).build());
            }

            // The rows were placed with this agent's and agency's current place in the tree:
            // if either moves before this lands, read again.
            writes.push(self.unchanged(
                keys::agent_pk(&record.agent_id),
                keys::AGENT_SK,
                owner.agent.as_ref().map(|a| a.version),
            )?);
            if let Some(agency) = &owner.agency
                && checked_agencies.insert(agency.agency_id.clone())
            {
                writes.push(self.unchanged(
                    keys::agency_pk(&agency.agency_id),
                    keys::AGENCY_SK,
                    Some(agency.version),
                )?);
            }
        }
        Ok(writes)
    }

    fn put(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder().table_name(self.table()).set_item(Some(item)).build()?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete(&self, pk: &str, sk: &str) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder().table_name(self.table()).key(keys::PK, s(pk)).key(keys::SK, s(sk)).build()?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A condition that an item still has the version read (or still does not exist).
    pub(crate) fn unchanged(
        &self,
        pk: String,
        sk: &str,
        version: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder().table_name(self.table()).key(keys::PK, s(pk)).key(keys::SK, s(sk));
        let check = match version {
            None => check.condition_expression("attribute_not_exists(pk)"),
            Some(version) => check
                .condition_expression("version = :version")
                .expression_attribute_values(":version", AttributeValue::N(version.to_string())),
        };
        Ok(TransactWriteItem::builder().condition_check(check.build()?).build())
    }
}

fn meta_item(app: &ApplicationKey, version: u64, entries: &BTreeMap<AgentId, BookEntry>) -> MetaItem {
    let last_synced_at = entries.values().filter_map(|e| e.last_synced_at).max();
    MetaItem {
        pk: keys::application_pk(app.year, &app.id),
        sk: keys::META_SK.to_owned(),
        federal_exchange_id: app.id.clone(),
        plan_year: app.year,
        version,
        last_synced_at,
        gsi2pk: keys::sync_due_gsi2pk(app.year, keys::sync_due_shard(&app.id)),
        gsi2sk: keys::sync_due_gsi2sk(last_synced_at, &app.id),
    }
}

fn evidence_item(app: &ApplicationKey, evidence: &Evidence) -> EvidenceItem {
    EvidenceItem {
        pk: keys::application_pk(app.year, &app.id),
        sk: keys::evidence_sk(evidence.at, &evidence.id),
        evidence: evidence.clone(),
    }
}

fn entry_item(app: &ApplicationKey, entry: &BookEntry) -> EntryItem {
    EntryItem {
        pk: keys::application_pk(app.year, &app.id),
        sk: keys::entry_sk(&entry.agent_id),
        gsi1pk: keys::book_gsi1pk(&entry.agent_id),
        gsi1sk: keys::book_gsi1sk(app.year, &app.id),
        federal_exchange_id: app.id.clone(),
        plan_year: app.year,
        entry: entry.clone(),
    }
}

fn trail_item(app: &ApplicationKey, record: &HistoryRecord) -> TrailItem {
    TrailItem {
        pk: keys::application_pk(app.year, &app.id),
        sk: keys::trail_sk(&record.agent_id, record.recorded_at, &record.evidence_id),
        record: record.clone(),
    }
}

fn rows_of(app: &ApplicationKey, entry: Option<&BookEntry>, owner: &Owner) -> Vec<super::items::RiskRow> {
    entry
        .and_then(|entry| RowFacts::of_entry(&app.id, app.year, entry))
        .map(|facts| facts.rows(owner))
        .unwrap_or_default()
}

/// Every agent the rules may need to know about: owners of entries and submitters.
fn agents_named(stored: &StoredApplication, evidence: &Evidence) -> BTreeSet<AgentId> {
    let mut agents: BTreeSet<AgentId> = stored.entries.keys().cloned().collect();
    for known in stored.log.iter().chain(std::iter::once(evidence)) {
        if let Fact::Submitted { agent_id, .. } = &known.fact {
            agents.insert(agent_id.clone());
        }
    }
    agents
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// Jittered exponential backoff for write conflicts, so racing writers spread out.
pub(crate) fn backoff(attempt: u32) -> std::time::Duration {
    let base = 10u64 << attempt.min(6);
    let jitter = u64::from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos(),
    ) % base;
    std::time::Duration::from_millis(base / 2 + jitter)
}

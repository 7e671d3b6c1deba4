//! Agencies and agents: the tree, the membership, and what a move rewrites.
//!
//! Every at-risk row names its agent and agency and sits in the lists of every agency above it,
//! so renaming or moving an agent or an agency rewrites that subtree's rows. A move is recorded
//! on the moved item first (`moved_from_…`), then the rows are rewritten, then the mark is
//! cleared: a crash in between leaves the mark, and the redelivered event finishes the job.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use chrono::{DateTime, Utc};

use super::applications::s;
use super::items::{
    AgencyChildItem, AgencyItem, AgencyMemberItem, AgentItem, Item, Owner, RiskRow, Role, RowFacts, from_item, to_item,
};
use super::keys::{self, Scope};
use super::{Store, StoreError, condition_failed};
use crate::domain::{AgencyId, AgentId, Email, Name, Npn};

/// An agency as the platform describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyUpsert {
    pub agency_id: AgencyId,
    pub name: Name,
    pub parent_agency_id: Option<AgencyId>,
    pub agent_exports_enabled: bool,
}

/// An agent as the platform describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentUpsert {
    pub agent_id: AgentId,
    pub agency_id: AgencyId,
    pub name: Name,
    pub email: Email,
    pub npn: Npn,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Written,
    /// The stored item is from a newer event: this one changes nothing.
    Stale,
}

impl Store {
    pub async fn agent(&self, agent: &AgentId) -> Result<Option<AgentItem>, StoreError> {
        self.get(keys::agent_pk(agent), keys::AGENT_SK).await?.map(from_item).transpose()
    }

    pub async fn agency(&self, agency: &AgencyId) -> Result<Option<AgencyItem>, StoreError> {
        self.get(keys::agency_pk(agency), keys::AGENCY_SK).await?.map(from_item).transpose()
    }

    pub async fn child_agencies(&self, agency: &AgencyId) -> Result<Vec<AgencyId>, StoreError> {
        let items = self.query_prefix(keys::agency_pk(agency), keys::AGENCY_CHILD_PREFIX).await?;
        items.into_iter().map(|item| from_item::<AgencyChildItem>(item).map(|c| c.agency_id)).collect()
    }

    pub async fn agency_members(&self, agency: &AgencyId) -> Result<Vec<AgentId>, StoreError> {
        let items = self.query_prefix(keys::agency_pk(agency), keys::AGENCY_MEMBER_PREFIX).await?;
        items.into_iter().map(|item| from_item::<AgencyMemberItem>(item).map(|m| m.agent_id)).collect()
    }

    /// Creates or updates an agency. Refuses a parent that would make a cycle, and a parent not
    /// known yet (a retry later finds it). A move or rename rewrites the downline's rows.
    pub async fn upsert_agency(
        &self,
        upsert: &AgencyUpsert,
        as_of: DateTime<Utc>,
    ) -> Result<UpsertOutcome, StoreError> {
        let existing = self.agency(&upsert.agency_id).await?;
        if let Some(existing) = &existing
            && existing.as_of > as_of
        {
            return Ok(UpsertOutcome::Stale);
        }
        let ancestors = match &upsert.parent_agency_id {
            None => Vec::new(),
            Some(parent) => {
                let parent_item =
                    self.agency(parent).await?.ok_or_else(|| StoreError::UnknownParent(parent.clone()))?;
                let path = parent_item.path();
                if path.contains(&upsert.agency_id) {
                    return Err(StoreError::Cycle(upsert.agency_id.clone()));
                }
                path
            }
        };
        let moved = existing.as_ref().is_some_and(|e| e.ancestors != ancestors);
        let renamed = existing.as_ref().is_some_and(|e| e.name != upsert.name);
        let item = AgencyItem {
            pk: keys::agency_pk(&upsert.agency_id),
            sk: keys::AGENCY_SK.to_owned(),
            agency_id: upsert.agency_id.clone(),
            name: upsert.name.clone(),
            parent_agency_id: upsert.parent_agency_id.clone(),
            ancestors,
            // The switch an admin set through the API stands against older platform events.
            agent_exports_enabled: match &existing {
                Some(e) if e.exports_setting_as_of.is_some_and(|set| set > as_of) => e.agent_exports_enabled,
                _ => upsert.agent_exports_enabled,
            },
            exports_setting_as_of: existing.as_ref().and_then(|e| e.exports_setting_as_of),
            version: existing.as_ref().map_or(1, |e| e.version + 1),
            as_of,
            moved_from_ancestors: match &existing {
                Some(e) if moved => Some(e.moved_from_ancestors.clone().unwrap_or_else(|| e.ancestors.clone())),
                Some(e) => e.moved_from_ancestors.clone(),
                None => None,
            },
        };
        self.put_versioned(to_item(&item)?, existing.as_ref().map(|e| e.version)).await?;

        let old_parent = existing.as_ref().and_then(|e| e.parent_agency_id.clone());
        if old_parent != upsert.parent_agency_id {
            let mut requests = Vec::new();
            if let Some(old) = &old_parent {
                requests.push(delete_request(keys::agency_pk(old), keys::agency_child_sk(&upsert.agency_id))?);
            }
            if let Some(new) = &upsert.parent_agency_id {
                let link = AgencyChildItem {
                    pk: keys::agency_pk(new),
                    sk: keys::agency_child_sk(&upsert.agency_id),
                    agency_id: upsert.agency_id.clone(),
                };
                requests.push(put_request(to_item(&link)?)?);
            }
            self.write_batch(requests).await?;
        }

        if moved || item.moved_from_ancestors.is_some() {
            self.reparent_downline(&item).await?;
        }
        if moved || renamed || item.moved_from_ancestors.is_some() {
            let stale: Vec<Scope> =
                item.moved_from_ancestors.clone().unwrap_or_default().into_iter().map(Scope::Agency).collect();
            self.refan_scope(&Scope::Agency(upsert.agency_id.clone()), &stale).await?;
            self.clear_mark(keys::agency_pk(&upsert.agency_id), keys::AGENCY_SK, "moved_from_ancestors", item.version)
                .await?;
        }
        Ok(UpsertOutcome::Written)
    }

    /// Sets an agency's agent exports switch, as an admin did at `at`.
    pub async fn set_agent_exports(
        &self,
        agency: &AgencyId,
        enabled: bool,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, s(keys::agency_pk(agency)))
            .key(keys::SK, s(keys::AGENCY_SK))
            .update_expression("SET agent_exports_enabled = :enabled, exports_setting_as_of = :at ADD version :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":enabled", AttributeValue::Bool(enabled))
            .expression_attribute_values(":at", s(keys::time(at)))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Err(StoreError::Conflict),
            Err(err) => Err(err.into()),
        }
    }

    /// Creates or updates an agent. Moving an agent to another agency moves their book: their rows
    /// leave the old agency's lists and join the new one's.
    pub async fn upsert_agent(&self, upsert: &AgentUpsert, as_of: DateTime<Utc>) -> Result<UpsertOutcome, StoreError> {
        let existing = self.agent(&upsert.agent_id).await?;
        if let Some(existing) = &existing
            && existing.as_of > as_of
        {
            return Ok(UpsertOutcome::Stale);
        }
        let moved = existing.as_ref().is_some_and(|e| e.agency_id != upsert.agency_id);
        let old_path = match &existing {
            Some(e) if moved => match &e.moved_from_path {
                Some(path) => Some(path.clone()),
                None => Some(self.agency(&e.agency_id).await?.map(|a| a.path()).unwrap_or_default()),
            },
            Some(e) => e.moved_from_path.clone(),
            None => None,
        };
        let item = AgentItem {
            pk: keys::agent_pk(&upsert.agent_id),
            sk: keys::AGENT_SK.to_owned(),
            agent_id: upsert.agent_id.clone(),
            agency_id: upsert.agency_id.clone(),
            name: upsert.name.clone(),
            email: upsert.email.clone(),
            npn: upsert.npn.clone(),
            role: upsert.role,
            version: existing.as_ref().map_or(1, |e| e.version + 1),
            as_of,
            moved_from_path: old_path.clone(),
        };
        self.put_versioned(to_item(&item)?, existing.as_ref().map(|e| e.version)).await?;

        let mut requests = Vec::new();
        if let Some(old) = existing.as_ref().filter(|_| moved) {
            requests.push(delete_request(keys::agency_pk(&old.agency_id), keys::agency_member_sk(&upsert.agent_id))?);
        }
        let member = AgencyMemberItem {
            pk: keys::agency_pk(&upsert.agency_id),
            sk: keys::agency_member_sk(&upsert.agent_id),
            agent_id: upsert.agent_id.clone(),
        };
        requests.push(put_request(to_item(&member)?)?);
        self.write_batch(requests).await?;

        // Always: names and email are in every row, and a first upsert gives rows made before
        // the agent was known their agency.
        let stale: Vec<Scope> = old_path.unwrap_or_default().into_iter().map(Scope::Agency).collect();
        self.refan_scope(&Scope::Agent(upsert.agent_id.clone()), &stale).await?;
        if item.moved_from_path.is_some() {
            self.clear_mark(keys::agent_pk(&upsert.agent_id), keys::AGENT_SK, "moved_from_path", item.version).await?;
        }
        Ok(UpsertOutcome::Written)
    }

    /// Gives every agency below `moved` its new ancestors.
    async fn reparent_downline(&self, moved: &AgencyItem) -> Result<(), StoreError> {
        let mut queue = vec![(moved.agency_id.clone(), moved.path())];
        while let Some((agency_id, path)) = queue.pop() {
            for child in self.child_agencies(&agency_id).await? {
                let Some(mut item) = self.agency(&child).await? else { continue };
                if item.ancestors != path {
                    let read_version = item.version;
                    item.ancestors = path.clone();
                    item.version += 1;
                    self.put_versioned(to_item(&item)?, Some(read_version)).await?;
                }
                queue.push((child.clone(), item.path()));
            }
        }
        Ok(())
    }

    /// Rewrites every row in `scope`'s list so that it sits in its owner's current lists with its
    /// owner's current names, and removes its copies from `stale` lists.
    async fn refan_scope(&self, scope: &Scope, stale: &[Scope]) -> Result<(), StoreError> {
        let mut owners: HashMap<AgentId, Owner> = HashMap::new();
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_values(":pk", s(keys::risk_pk(scope)))
                .set_exclusive_start_key(start)
                .send()
                .await?;
            let mut requests = Vec::new();
            for item in out.items.unwrap_or_default() {
                let row: RiskRow = from_item(item)?;
                if !owners.contains_key(&row.agent_id) {
                    let found = self.owners(BTreeSet::from([row.agent_id.clone()])).await?;
                    owners.extend(found);
                }
                let owner = &owners[&row.agent_id];
                let facts = RowFacts::of_row(&row);
                let current = owner.scopes();
                for old in stale.iter().filter(|old| !current.contains(old)) {
                    requests.push(delete_request(keys::risk_pk(old), row.sk.clone())?);
                }
                for fresh in facts.rows(owner) {
                    requests.push(put_request(to_item(&fresh)?)?);
                }
            }
            self.write_batch(requests).await?;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .consistent_read(true)
            .send()
            .await?;
        Ok(out.item)
    }

    /// Writes an item only over the version that was read (or where none exists).
    async fn put_versioned(&self, item: Item, read_version: Option<u64>) -> Result<(), StoreError> {
        let put = self.client().put_item().table_name(self.table()).set_item(Some(item));
        let put = match read_version {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(version) => put
                .condition_expression("version = :version")
                .expression_attribute_values(":version", AttributeValue::N(version.to_string())),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Err(StoreError::Conflict),
            Err(err) => Err(err.into()),
        }
    }

    /// Clears a move mark once the rows are rewritten, unless a newer write has come since.
    async fn clear_mark(&self, pk: String, sk: &str, attribute: &str, version: u64) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression("REMOVE #mark")
            .condition_expression("version = :version")
            .expression_attribute_names("#mark", attribute)
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A newer write carries the mark on and its own rewrite will clear it.
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}

fn put_request(item: Item) -> Result<WriteRequest, StoreError> {
    Ok(WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build()?).build())
}

fn delete_request(pk: String, sk: String) -> Result<WriteRequest, StoreError> {
    let delete = DeleteRequest::builder().key(keys::PK, s(pk)).key(keys::SK, s(sk)).build()?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

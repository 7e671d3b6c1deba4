//! Agencies and agents: the tree, the membership, and what a move rewrites.
//!
//! Every at-risk row sits in the lists of its agent's agency and every agency above it, so moving
//! an agent or an agency places that subtree's entries again (a rename does not: rows carry ids,
//! and lists read names from here). A new agency places again the rows of agents that arrived
//! before it. The change is
//! recorded with the mark of its job (`items::Job`), then the job places the entries again in
//! chunks, then it clears the mark: a crash in between leaves the mark, and the redelivered event
//! finishes the job from where it got to.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, Utc};

use super::dynamo::{Condition, Conditional, condition_failed, number, retry_on_conflict, text};
use super::dynamo::{failed, unbuilt};
use super::items::{AgencyChildItem, AgencyItem, AgencyMemberItem, AgentItem, Item, Job, from_item, to_item};
use super::jobs::JobOutcome;
use super::keys;
use super::{Store, StoreError};
use domain::{AgencyId, AgencyUpsert, AgentId, AgentUpsert, EventOrder, directory};
use ports::{self, Directory, DirectoryChanges, UpsertOutcome};

impl Store {
    pub async fn agent_item(&self, agent: &AgentId) -> Result<Option<AgentItem>, StoreError> {
        self.get_item(keys::agent_pk(agent), keys::AGENT_SK).await?.map(from_item).transpose()
    }

    pub async fn agency_item(&self, agency: &AgencyId) -> Result<Option<AgencyItem>, StoreError> {
        self.get_item(keys::agency_pk(agency), keys::AGENCY_SK).await?.map(from_item).transpose()
    }

    #[cfg(feature = "tools")]
    pub async fn agency_members(&self, agency: &AgencyId) -> Result<Vec<AgentId>, StoreError> {
        let items = self.query_prefix(keys::agency_pk(agency), keys::AGENCY_MEMBER_PREFIX).await?;
        items.into_iter().map(|item| from_item::<AgencyMemberItem>(item).map(|m| m.agent_id)).collect()
    }

    /// The agencies from the top down to `agency`, each with its item (`None` when not known yet).
    pub(crate) async fn agency_chain(
        &self,
        agency: &AgencyId,
    ) -> Result<Vec<(AgencyId, Option<AgencyItem>)>, StoreError> {
        let mut chains = self.agency_chains(BTreeSet::from([agency.clone()])).await?;
        Ok(chains.remove(agency).unwrap_or_default())
    }

    /// The chain (top first) of each of `agencies`: one batch of consistent reads per level of the
    /// tree, each agency read once however many chains pass it. A walk that meets a cycle or goes
    /// past the depth cap is refused.
    pub(crate) async fn agency_chains(
        &self,
        agencies: BTreeSet<AgencyId>,
    ) -> Result<HashMap<AgencyId, Vec<(AgencyId, Option<AgencyItem>)>>, StoreError> {
        let mut known: HashMap<AgencyId, Option<AgencyItem>> = HashMap::new();
        let mut level = agencies.clone();
        // One level more than the cap: a chain past it is read far enough to be refused.
        for _ in 0..=directory::MAX_AGENCY_DEPTH + 1 {
            level.retain(|agency| !known.contains_key(agency));
            if level.is_empty() {
                break;
            }
            let found =
                self.get_all(level.iter().map(|a| (keys::agency_pk(a), keys::AGENCY_SK.to_owned())).collect()).await?;
            let mut above = BTreeSet::new();
            for agency in std::mem::take(&mut level) {
                let item = found.get(&keys::agency_pk(&agency)).cloned().map(from_item::<AgencyItem>).transpose()?;
                above.extend(item.as_ref().and_then(|item| item.parent_agency_id.clone()));
                known.insert(agency, item);
            }
            level = above;
        }
        let mut chains = HashMap::new();
        for agency in agencies {
            let mut chain: Vec<(AgencyId, Option<AgencyItem>)> = Vec::new();
            let mut next = Some(agency.clone());
            while let Some(id) = next {
                directory::step_up(&agency, chain.iter().map(|(seen, _)| seen), &id)?;
                let item = known.get(&id).cloned().flatten();
                next = item.as_ref().and_then(|item| item.parent_agency_id.clone());
                chain.push((id, item));
            }
            chain.reverse();
            chains.insert(agency, chain);
        }
        Ok(chains)
    }

    /// The same, with no time limit on its job: for seeding, the bench and the tests.
    #[cfg(feature = "tools")]
    pub async fn upsert_agency(
        &self,
        upsert: &AgencyUpsert,
        as_of: DateTime<Utc>,
    ) -> Result<UpsertOutcome, StoreError> {
        self.upsert_agency_until(upsert, &as_of.into(), None).await
    }

    /// The first half of an upsert: the agency written, with the mark of its job when rows are to
    /// be re-placed. From here on reach follows the new tree, and the agency lists hide what the
    /// job has not moved out yet. `None` when a newer event is already stored.
    pub async fn record_agency(
        &self,
        upsert: &AgencyUpsert,
        as_of: &EventOrder,
    ) -> Result<Option<AgencyItem>, StoreError> {
        // Boxed: nested deep enough, an unboxed future overflows the compiler's layout depth.
        retry_on_conflict(|_| Box::pin(self.write_agency(upsert, as_of))).await
    }

    /// One attempt at writing an agency item and its parent link; `None` when a newer event is
    /// already stored.
    async fn write_agency(&self, upsert: &AgencyUpsert, as_of: &EventOrder) -> Result<Option<AgencyItem>, StoreError> {
        let existing = self.agency_item(&upsert.agency_id).await?;
        if let Some(existing) = &existing
            && existing.order() > *as_of
        {
            return Ok(None);
        }
        // A new link in the tree is checked against the tree's shape as read here, and written only
        // while that shape is unchanged: its cycle and depth checks hold against racing moves.
        let relinks = existing.as_ref().is_none_or(|e| e.parent_agency_id != upsert.parent_agency_id);
        let shape = if relinks { Some(self.tree_version().await?) } else { None };
        let ancestors: Vec<AgencyId> = match &upsert.parent_agency_id {
            None => Vec::new(),
            Some(parent) => self.agency_path(parent).await?,
        };
        let levels_below = if relinks { self.levels_below(&upsert.agency_id).await? } else { 0 };
        directory::may_go_below(&upsert.agency_id, &ancestors, levels_below)?;
        let moved = existing.as_ref().is_some_and(|e| e.ancestors != ancestors);
        let renamed = existing.as_ref().is_some_and(|e| e.name != upsert.name);
        let version = existing.as_ref().map_or(1, |e| e.version + 1);
        let mut item = AgencyItem {
            pk: keys::agency_pk(&upsert.agency_id),
            sk: keys::AGENCY_SK.to_owned(),
            agency_id: upsert.agency_id.clone(),
            name: upsert.name.clone(),
            parent_agency_id: upsert.parent_agency_id.clone(),
            ancestors,
            // The switch an admin set through the API stands against older platform events.
            agent_exports_enabled: match &existing {
                Some(e) if e.exports_setting_as_of.is_some_and(|set| set > as_of.time) => e.agent_exports_enabled,
                _ => upsert.agent_exports_enabled,
            },
            exports_setting_as_of: existing.as_ref().and_then(|e| e.exports_setting_as_of),
            settings_version: existing.as_ref().map_or(0, |e| e.settings_version),
            version,
            as_of: as_of.time,
            as_of_event_id: as_of.event_id.clone(),
            seen: existing.as_ref().map_or(0, |e| e.seen),
            job: match &existing {
                // Agents (and agencies) that arrived before it already have rows in its list, or
                // in their own lists only: place them again now that it is known.
                None => Some(Job { from: Vec::new(), version, position: None }),
                Some(e) if moved => {
                    let from = Job::from_before(e.job.as_ref(), &e.ancestors);
                    Some(Job { from, version, position: None })
                }
                // A rename needs none: lists read names from the directory, rows do not carry them.
                // A job under way is carried on by this upsert, from where it got to.
                Some(e) => e.job.as_ref().map(|job| Job { version, ..job.clone() }),
            },
            gsi1pk: None,
            gsi1sk: None,
        };
        (item.gsi1pk, item.gsi1sk) = Job::index(item.job.as_ref(), &item.pk);
        // Nothing placements or people read changes (a redelivery, a repeat): the event's place
        // is recorded and the version stays, so no placement below is cancelled for it.
        // A job under way goes on as it is (a redelivered event that paused is how it goes on).
        let same =
            |e: &&AgencyItem| !relinks && !moved && !renamed && e.agent_exports_enabled == item.agent_exports_enabled;
        if let Some(e) = existing.as_ref().filter(same) {
            self.record_as_of(keys::agency_pk(&e.agency_id), keys::AGENCY_SK, (e.version, e.seen), as_of).await?;
            return Ok(Some(AgencyItem {
                as_of: as_of.time,
                as_of_event_id: as_of.event_id.clone(),
                seen: e.seen + 1,
                ..e.clone()
            }));
        }
        let put = Put::builder().table_name(self.table()).set_item(Some(to_item(&item)?));
        // Over the version read, the exports switch and the events seen as read.
        let put = put.when(match &existing {
            None => Condition::version_is(None),
            Some(e) => Condition::version_is(Some(e.version))
                .counter_is("settings_version", e.settings_version)
                .counter_is("seen", e.seen),
        });
        let mut writes = vec![TransactWriteItem::builder().put(put.build().map_err(unbuilt)?).build()];
        if let Some(read) = shape {
            writes.push(self.next_tree_version(read)?);
        }
        let old_parent = existing.as_ref().and_then(|e| e.parent_agency_id.clone());
        if old_parent != upsert.parent_agency_id {
            if let Some(old) = &old_parent {
                let delete = Delete::builder()
                    .table_name(self.table())
                    .key(keys::PK, text(keys::agency_pk(old)))
                    .key(keys::SK, text(keys::agency_child_sk(&upsert.agency_id)))
                    .build()
                    .map_err(unbuilt)?;
                writes.push(TransactWriteItem::builder().delete(delete).build());
            }
            if let Some(new) = &upsert.parent_agency_id {
                let link = AgencyChildItem {
                    pk: keys::agency_pk(new),
                    sk: keys::agency_child_sk(&upsert.agency_id),
                    agency_id: upsert.agency_id.clone(),
                };
                let put =
                    Put::builder().table_name(self.table()).set_item(Some(to_item(&link)?)).build().map_err(unbuilt)?;
                writes.push(TransactWriteItem::builder().put(put).build());
            }
        }
        self.transact(writes).await?;
        Ok(Some(item))
    }

    /// The version of the tree's shape (0 before any agency).
    async fn tree_version(&self) -> Result<u64, StoreError> {
        #[derive(serde::Deserialize)]
        struct TreeShape {
            version: u64,
        }
        let item = self.get_item(keys::TREE_PK.to_owned(), keys::TREE_SK).await?;
        Ok(item.map(from_item::<TreeShape>).transpose()?.map_or(0, |tree| tree.version))
    }

    /// Moves the tree's shape to its next version, only while it is still at `read`.
    fn next_tree_version(&self, read: u64) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(self.table())
            .key(keys::PK, text(keys::TREE_PK))
            .key(keys::SK, text(keys::TREE_SK))
            .update_expression("SET version = :next")
            .expression_attribute_values(":next", number(read + 1))
            .when(Condition::new("attribute_not_exists(pk) OR version = :read").value(":read", number(read)))
            .build()
            .map_err(unbuilt)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// How many levels of agencies hang below `agency` by the child links as they are now (0 for
    /// none; a parent not known yet may already have some), counted no deeper than the tree may
    /// be. One read per agency below it: a link changes rarely, and its job walks them all anyway.
    async fn levels_below(&self, agency: &AgencyId) -> Result<usize, StoreError> {
        let mut seen = BTreeSet::from([agency.clone()]);
        let mut level = vec![agency.clone()];
        let mut levels = 0;
        while levels < directory::MAX_AGENCY_DEPTH {
            let mut next = Vec::new();
            for id in &level {
                next.extend(self.child_agencies(id).await?.into_iter().filter(|child| seen.insert(child.clone())));
            }
            if next.is_empty() {
                break;
            }
            levels += 1;
            level = next;
        }
        Ok(levels)
    }

    /// The same, with no time limit on its job: for seeding, the bench and the tests.
    #[cfg(feature = "tools")]
    pub async fn upsert_agent(&self, upsert: &AgentUpsert, as_of: DateTime<Utc>) -> Result<UpsertOutcome, StoreError> {
        self.upsert_agent_until(upsert, &as_of.into(), None).await
    }

    async fn write_agent(
        &self,
        upsert: &AgentUpsert,
        as_of: &EventOrder,
        until: Option<std::time::Instant>,
    ) -> Result<UpsertOutcome, StoreError> {
        let existing = self.agent_item(&upsert.agent_id).await?;
        if let Some(existing) = &existing
            && existing.order() > *as_of
        {
            return Ok(UpsertOutcome::Stale);
        }
        let moved = existing.as_ref().is_some_and(|e| e.agency_id != upsert.agency_id);
        let item_changes = match &existing {
            None => true,
            Some(e) => {
                moved
                    || e.name != upsert.name
                    || e.email != upsert.email
                    || e.npn != upsert.npn
                    || e.role != upsert.role
            }
        };
        if let Some(existing) = existing.as_ref().filter(|e| !item_changes && e.job.is_none()) {
            let read = (existing.version, existing.seen);
            self.record_as_of(keys::agent_pk(&upsert.agent_id), keys::AGENT_SK, read, as_of).await?;
            return Ok(UpsertOutcome::Unchanged);
        }
        let version = existing.as_ref().map_or(1, |e| e.version + 1);
        let job = match &existing {
            // Rows made before the agent was known are in their own list only.
            None => Some(Job { from: Vec::new(), version, position: None }),
            Some(e) if moved => {
                let from = Job::from_before(e.job.as_ref(), &self.agency_path(&e.agency_id).await?);
                Some(Job { from, version, position: None })
            }
            // A new name or email needs none: rows carry neither (lists read them from here).
            Some(e) => e.job.as_ref().map(|job| Job { version, ..job.clone() }),
        };
        let pk = keys::agent_pk(&upsert.agent_id);
        let (gsi1pk, gsi1sk) = Job::index(job.as_ref(), &pk);
        let item = AgentItem {
            pk,
            sk: keys::AGENT_SK.to_owned(),
            agent_id: upsert.agent_id.clone(),
            agency_id: upsert.agency_id.clone(),
            name: upsert.name.clone(),
            email: upsert.email.clone(),
            npn: upsert.npn.clone(),
            role: upsert.role,
            version,
            as_of: as_of.time,
            as_of_event_id: as_of.event_id.clone(),
            seen: existing.as_ref().map_or(0, |e| e.seen),
            job,
            gsi1pk,
            gsi1sk,
        };
        // Only over the version and the events seen that were read (or where none exists).
        let condition = match &existing {
            None => Condition::version_is(None),
            Some(e) => Condition::version_is(Some(e.version)).counter_is("seen", e.seen),
        };
        let put = self.client().put_item().table_name(self.table()).set_item(Some(to_item(&item)?)).when(condition);
        match put.send().await {
            Err(err) if condition_failed(&err) => return Err(StoreError::Conflict),
            other => other.map_err(failed)?,
        };

        if existing.as_ref().is_none_or(|e| moved || e.job.is_some()) {
            let mut requests = Vec::new();
            if let Some(old) = existing.as_ref().filter(|_| moved) {
                requests
                    .push(delete_request(keys::agency_pk(&old.agency_id), keys::agency_member_sk(&upsert.agent_id))?);
            }
            let member = AgencyMemberItem {
                pk: keys::agency_pk(&upsert.agency_id),
                sk: keys::agency_member_sk(&upsert.agent_id),
                agent_id: upsert.agent_id.clone(),
            };
            requests.push(put_request(to_item(&member)?)?);
            self.write_batch(requests).await?;
        }

        Ok(written(Box::pin(self.finish_agent_job(&item, until)).await?))
    }

    /// Records the time of a newer event that changed nothing, so that an older one arriving later
    /// is still recognised as older. The version stays: nothing placed from this item is stale.
    async fn record_as_of(
        &self,
        pk: String,
        sk: &str,
        (version, seen): (u64, u64),
        as_of: &EventOrder,
    ) -> Result<(), StoreError> {
        let values =
            vec![(":one", number(1)), (":as_of", text(keys::time(as_of.time))), (":event_id", text(&as_of.event_id))];
        let condition = Condition::version_is(Some(version)).counter_is("seen", seen);
        self.update_if(&pk, sk, "SET as_of = :as_of, as_of_event_id = :event_id ADD seen :one", condition, values).await
    }

    /// Gives every agency below `top` its ancestors as they are now. Each write holds only while
    /// the parent it was computed from is unchanged, so a move racing another cannot leave a stale
    /// path behind: the loser fails, and its redelivery walks again.
    pub(super) async fn reparent_downline(&self, top: &AgencyId) -> Result<(), StoreError> {
        let mut queue = vec![top.clone()];
        let mut seen = BTreeSet::new();
        while let Some(agency_id) = queue.pop() {
            if !seen.insert(agency_id.clone()) {
                continue;
            }
            let Some(parent) = self.agency_item(&agency_id).await? else { continue };
            for child in self.child_agencies(&agency_id).await? {
                let Some(item) = self.agency_item(&child).await? else { continue };
                if item.parent_agency_id.as_ref() != Some(&agency_id) {
                    continue;
                }
                let path = parent.path();
                if item.ancestors != path {
                    // Only the cached path (and the version, as placements depend on the path).
                    let update = Update::builder()
                        .table_name(self.table())
                        .key(keys::PK, text(&item.pk))
                        .key(keys::SK, text(&item.sk))
                        .update_expression("SET ancestors = :path ADD version :one")
                        .expression_attribute_values(
                            ":path",
                            AttributeValue::L(path.iter().map(|id| text(id.to_string())).collect()),
                        )
                        .expression_attribute_values(":one", number(1))
                        .when(Condition::version_is(Some(item.version)))
                        .build()
                        .map_err(unbuilt)?;
                    self.transact(vec![
                        self.check(
                            keys::agency_pk(&agency_id),
                            keys::AGENCY_SK,
                            Condition::version_is(Some(parent.version)),
                        )?,
                        TransactWriteItem::builder().update(update).build(),
                    ])
                    .await?;
                }
                queue.push(child);
            }
        }
        Ok(())
    }
}

fn put_request(item: Item) -> Result<WriteRequest, StoreError> {
    Ok(WriteRequest::builder()
        .put_request(PutRequest::builder().set_item(Some(item)).build().map_err(unbuilt)?)
        .build())
}

fn delete_request(pk: String, sk: String) -> Result<WriteRequest, StoreError> {
    let delete = DeleteRequest::builder().key(keys::PK, text(pk)).key(keys::SK, text(sk)).build().map_err(unbuilt)?;
    Ok(WriteRequest::builder().delete_request(delete).build())
}

/// What an upsert that wrote reports, by how its job ended.
fn written(job: JobOutcome) -> UpsertOutcome {
    match job {
        JobOutcome::Paused => UpsertOutcome::Paused,
        JobOutcome::Done | JobOutcome::Superseded => UpsertOutcome::Written,
    }
}

impl ports::Directory for Store {
    /// Every agency from the top down to `agency` (included), following the parent links as they
    /// are now: what reach and placement go by, so that a move counts the moment it is accepted.
    /// An agency not known yet ends the walk; its id is then the top of what is known.
    async fn agency_path(&self, agency: &AgencyId) -> Result<Vec<AgencyId>, StoreError> {
        Ok(self.agency_chain(agency).await?.into_iter().map(|(id, _)| id).collect())
    }

    async fn child_agencies(&self, agency: &AgencyId) -> Result<Vec<AgencyId>, StoreError> {
        let items = self.query_prefix(keys::agency_pk(agency), keys::AGENCY_CHILD_PREFIX).await?;
        items.into_iter().map(|item| from_item::<AgencyChildItem>(item).map(|c| c.agency_id)).collect()
    }

    async fn agent(&self, agent: &AgentId) -> Result<Option<domain::Agent>, StoreError> {
        Ok(self.agent_item(agent).await?.map(|item| item.agent()))
    }

    async fn agency(&self, agency: &AgencyId) -> Result<Option<domain::Agency>, StoreError> {
        Ok(self.agency_item(agency).await?.map(|item| item.agency()))
    }
}

impl ports::DirectoryChanges for Store {
    /// Creates or updates an agency. Refuses a parent that would make a cycle or put its downline
    /// past the depth cap, also when two moves race: the write holds only while the tree's shape
    /// is the version read before the chain and the downline were.
    /// A parent not known yet is accepted; the agency is completed when the parent arrives. A new
    /// agency or a move then re-places the rows of its subtree, in a job that pauses once
    /// `until` has passed (its position saved; applying the same change again goes on from there).
    async fn upsert_agency_until(
        &self,
        upsert: &AgencyUpsert,
        as_of: &EventOrder,
        until: Option<std::time::Instant>,
    ) -> Result<UpsertOutcome, StoreError> {
        let outcome = match self.record_agency(upsert, as_of).await? {
            None => UpsertOutcome::Stale,
            Some(item) => written(Box::pin(self.finish_agency_job(&item, until)).await?),
        };
        // Known now (whatever this event changed): what waited for it goes out.
        self.release_waiting(&keys::agency_pk(&upsert.agency_id)).await?;
        Ok(outcome)
    }

    /// Creates or updates an agent. Moving an agent to another agency moves their book: their rows
    /// leave the old agency's lists and join the new one's. An upsert that changes nothing a row
    /// shows (agency, name, email) rewrites no row; one that changes nothing at all only records
    /// the time of the event. Its job pauses once `until` has passed.
    async fn upsert_agent_until(
        &self,
        upsert: &AgentUpsert,
        as_of: &EventOrder,
        until: Option<std::time::Instant>,
    ) -> Result<UpsertOutcome, StoreError> {
        let outcome = Box::pin(self.write_agent(upsert, as_of, until)).await?;
        // Known now (whatever this event changed): what waited for them goes out.
        self.release_waiting(&keys::agent_pk(&upsert.agent_id)).await?;
        Ok(outcome)
    }
}

impl ports::AgencySettings for Store {
    /// Sets an agency's agent exports switch, as an admin did at `at`.
    async fn set_agent_exports(&self, agency: &AgencyId, enabled: bool, at: DateTime<Utc>) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::agency_pk(agency)))
            .key(keys::SK, text(keys::AGENCY_SK))
            .update_expression(
                "SET agent_exports_enabled = :enabled, exports_setting_as_of = :at ADD settings_version :one",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":enabled", AttributeValue::Bool(enabled))
            .expression_attribute_values(":at", text(keys::time(at)))
            .expression_attribute_values(":one", number(1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Err(StoreError::Conflict),
            Err(err) => Err(failed(err)),
        }
    }
}

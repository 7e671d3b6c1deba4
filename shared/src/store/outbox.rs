//! The outbox of at-risk changes. A history item that holds a change of at-risk state is written
//! into the outbox (a sparse index) by the very transaction that makes the change, so what leaves
//! the system is exactly what happened: the relay (`functions/outbox-relay`) publishes each change
//! (at least once: a consumer drops repeats by the change's id), counts each take into the swap
//! patterns of the agencies on the owner's path (exactly once: the count and its record on the
//! history item are one transaction), and then takes the item out of the outbox.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use super::applications::{MAX_ATTEMPTS, backoff, s};
use super::items::{CountedTake, Item, TrailItem, WaiterItem, from_item, to_item};
use super::{Store, StoreError, keys};
use crate::domain::{AgencyId, AgentId, ApplicationKey, Npn, PlanYear, Take, iso_week};

/// An agency's swap patterns for a plan year, as counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwapPatterns {
    /// Entries of the tree taken by an agent inside the tree, and by anyone outside it.
    pub in_agency: i64,
    pub outside: i64,
    /// By ISO week (`2026-W47`), oldest first: (inside, outside).
    pub weeks: BTreeMap<String, (i64, i64)>,
    /// Every NPN that took entries from the tree, the most first (then by NPN).
    pub takers: Vec<Taker>,
}

/// One NPN that took entries from a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taker {
    pub npn: Npn,
    /// The agent behind the NPN, where the directory knew them.
    pub agent_id: Option<AgentId>,
    pub takes: i64,
    /// How many of those while the agent was inside the tree.
    pub in_agency: i64,
    /// By ISO week, oldest first.
    pub weeks: BTreeMap<String, i64>,
}

impl Store {
    /// A page of one shard's part of the outbox, oldest first, and where the next starts.
    pub async fn outbox_page(
        &self,
        shard: u32,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<TrailItem>, Option<Item>), StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(keys::GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::GSI1_PK)
            .expression_attribute_values(":pk", s(keys::outbox_gsi1pk(shard)))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        let trails = out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((trails, out.last_evaluated_key))
    }

    /// Counts the take of record `index` of `trail` into each of `counts`' agencies' swap patterns,
    /// and records that on the trail item, in one transaction: once however often it is called
    /// (`false`: it was counted before, or the item has left the outbox).
    pub async fn count_take(
        &self,
        trail: &TrailItem,
        index: usize,
        app: &ApplicationKey,
        take: &Take,
        counts: &[CountedTake],
    ) -> Result<bool, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            match self.transact(self.take_writes(trail, index, app, take, counts)?).await {
                Ok(()) => return Ok(true),
                Err(StoreError::Conflict) => {
                    // Counted by another relay, or only a race on a counter: read and see.
                    let now: Option<TrailItem> =
                        self.get_item(trail.pk.clone(), &trail.sk).await?.map(from_item).transpose()?;
                    if now.is_none_or(|now| now.gsi1pk.is_none() || now.counted.contains_key(&index.to_string())) {
                        return Ok(false);
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }

    fn take_writes(
        &self,
        trail: &TrailItem,
        index: usize,
        app: &ApplicationKey,
        take: &Take,
        counts: &[CountedTake],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let record = Update::builder()
            .table_name(self.table())
            .key(keys::PK, s(&trail.pk))
            .key(keys::SK, s(&trail.sk))
            .update_expression("SET #counted.#index = :counts")
            .condition_expression("attribute_exists(#outbox) AND attribute_not_exists(#counted.#index)")
            .expression_attribute_names("#counted", "counted")
            .expression_attribute_names("#index", index.to_string())
            .expression_attribute_names("#outbox", keys::GSI1_PK)
            .expression_attribute_values(":counts", AttributeValue::L(counted_values(counts)?));
        let mut writes = vec![TransactWriteItem::builder().update(record.build()?).build()];
        let week = iso_week(take.at);
        let one = AttributeValue::N("1".into());
        for count in counts {
            let side = if count.in_agency { "in" } else { "out" };
            let totals = Update::builder()
                .table_name(self.table())
                .key(keys::PK, s(keys::agency_pk(&count.agency_id)))
                .key(keys::SK, s(keys::swaps_sk(app.year, &app.id)))
                .update_expression("ADD #side :one, #week :one")
                .expression_attribute_names("#side", side_attribute(count.in_agency))
                .expression_attribute_names("#week", format!("{WEEK_PREFIX}{week}:{side}"))
                .expression_attribute_values(":one", one.clone());
            let mut by_npn = Update::builder()
                .table_name(self.table())
                .key(keys::PK, s(keys::agency_pk(&count.agency_id)))
                .key(keys::SK, s(keys::swap_npn_sk(app.year, &take.other_npn, &app.id)))
                .expression_attribute_names("#side", side_attribute(count.in_agency))
                .expression_attribute_names("#week", format!("{WEEK_PREFIX}{week}"))
                .expression_attribute_values(":one", one.clone())
                .expression_attribute_values(":npn", s(take.other_npn.as_str()));
            by_npn = match &take.other_agent_id {
                // The agent behind the NPN as of this take: of the shards, the latest take's says.
                Some(agent) => by_npn
                    .update_expression(
                        "ADD takes :one, #side :one, #week :one SET npn = :npn, other_agent_id = :agent, agent_as_of = :at",
                    )
                    .expression_attribute_values(":agent", s(agent.as_str()))
                    .expression_attribute_values(":at", s(keys::time(take.at))),
                None => by_npn.update_expression("ADD takes :one, #side :one, #week :one SET npn = :npn"),
            };
            writes.push(TransactWriteItem::builder().update(totals.build()?).build());
            writes.push(TransactWriteItem::builder().update(by_npn.build()?).build());
        }
        Ok(writes)
    }

    /// Takes a trail item out of the outbox: every change in it is published and counted.
    pub async fn relayed(&self, trail: &TrailItem) -> Result<(), StoreError> {
        let Some(outbox) = keys::outbox_of(&trail.pk) else { return Ok(()) };
        let taken = self
            .update_if(
                &trail.pk,
                &trail.sk,
                "#gsi1pk = :outbox",
                "REMOVE #gsi1pk, #gsi1sk",
                &[("#gsi1pk", keys::GSI1_PK), ("#gsi1sk", keys::GSI1_SK)],
                vec![(":outbox", s(outbox))],
            )
            .await;
        match taken {
            // Another relay got there first.
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
    }

    /// Takes a history item out of the outbox until the directory item `missing` (its key) is
    /// known, and leaves a waiter in that item's partition; all only while `missing` is still not
    /// there. `false`: it arrived meanwhile, or another relay moved the item (it stays as it is).
    pub async fn wait_for(&self, trail: &TrailItem, missing: (&str, &str)) -> Result<bool, StoreError> {
        let (pk, sk) = missing;
        let Some(outbox) = keys::outbox_of(&trail.pk) else { return Ok(false) };
        let out = self.move_trail((&trail.pk, &trail.sk), &outbox, keys::WAITING_GSI1PK)?;
        let waiter = WaiterItem {
            pk: pk.to_owned(),
            sk: keys::waiter_sk(&trail.pk, &trail.sk),
            trail_pk: trail.pk.clone(),
            trail_sk: trail.sk.clone(),
        };
        let waiter = Put::builder().table_name(self.table()).set_item(Some(to_item(&waiter)?)).build()?;
        let writes = vec![
            TransactWriteItem::builder().update(out).build(),
            TransactWriteItem::builder().put(waiter).build(),
            self.unchanged(pk.to_owned(), sk, None)?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Moves a history item (`pk`, `sk`) from one part of its index to another (the outbox,
    /// waiting), only while it is in `from`.
    fn move_trail(&self, (pk, sk): (&str, &str), from: &str, to: &str) -> Result<Update, StoreError> {
        Ok(Update::builder()
            .table_name(self.table())
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression("SET #gsi1pk = :to")
            .condition_expression("#gsi1pk = :from")
            .expression_attribute_names("#gsi1pk", keys::GSI1_PK)
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to))
            .build()?)
    }

    /// Puts back into the outbox every history item waiting for the directory item in partition
    /// `pk`, now that it is known. Read consistently from the partition (a waiter is written only
    /// while the item is not there), so none is missed; called on every upsert, so an upsert that
    /// died half-way is finished by its redelivery.
    pub async fn release_waiting(&self, pk: &str) -> Result<u32, StoreError> {
        let mut released = 0;
        for item in self.query_prefix(pk.to_owned(), keys::WAITER_PREFIX).await? {
            let waiter: WaiterItem = from_item(item)?;
            let trail = (waiter.trail_pk.as_str(), waiter.trail_sk.as_str());
            let Some(outbox) = keys::outbox_of(&waiter.trail_pk) else { continue };
            let back = self.move_trail(trail, keys::WAITING_GSI1PK, &outbox)?;
            let done = Delete::builder()
                .table_name(self.table())
                .key(keys::PK, s(&waiter.pk))
                .key(keys::SK, s(&waiter.sk))
                .build()?;
            let writes = vec![
                TransactWriteItem::builder().update(back).build(),
                TransactWriteItem::builder().delete(done).build(),
            ];
            match self.transact(writes).await {
                Ok(()) => released += 1,
                Err(StoreError::Conflict) => {
                    // Not waiting any more (put back by an earlier try): only the waiter is left.
                    // Still waiting (another release racing this one): leave it to be tried again.
                    let trail: Option<TrailItem> =
                        self.get_item(waiter.trail_pk.clone(), &waiter.trail_sk).await?.map(from_item).transpose()?;
                    if trail.is_some_and(|t| t.gsi1pk.as_deref() == Some(keys::WAITING_GSI1PK)) {
                        return Err(StoreError::Conflict);
                    }
                    self.client()
                        .delete_item()
                        .table_name(self.table())
                        .key(keys::PK, s(&waiter.pk))
                        .key(keys::SK, s(&waiter.sk))
                        .send()
                        .await?;
                }
                Err(err) => return Err(err),
            }
        }
        Ok(released)
    }

    /// An agency's swap patterns: one query of its totals and one of its takers (at most one item
    /// per application shard for the totals and for each NPN in the answer, whatever the size of
    /// the tree).
    pub async fn swap_patterns(&self, agency: &AgencyId, year: PlanYear) -> Result<SwapPatterns, StoreError> {
        let pk = keys::agency_pk(agency);
        let totals = self.query_prefix(pk.clone(), &keys::swaps_prefix(year)).await?;
        let takers = self.query_prefix(pk, &keys::swap_npn_prefix(year)).await?;
        Ok(SwapPatterns::of_items(&totals, &takers))
    }
}

impl SwapPatterns {
    /// The patterns its counter items hold, summed over their shards: an agency's totals items
    /// (`SWAPS#…`) and its takers' (`SWAPNPN#…`).
    pub fn of_items(totals: &[Item], takers: &[Item]) -> Self {
        let mut patterns = SwapPatterns::default();
        for totals in totals {
            patterns.in_agency += number(totals, side_attribute(true));
            patterns.outside += number(totals, side_attribute(false));
            for name in totals.keys() {
                let Some(rest) = name.strip_prefix(WEEK_PREFIX) else { continue };
                let Some((week, side)) = rest.rsplit_once(':') else { continue };
                let slot = patterns.weeks.entry(week.to_owned()).or_default();
                match side {
                    "in" => slot.0 += number(totals, name),
                    _ => slot.1 += number(totals, name),
                }
            }
        }
        let mut by_npn: BTreeMap<Npn, Taker> = BTreeMap::new();
        // When each NPN's agent was last seen, over its shards.
        let mut agent_as_of: BTreeMap<Npn, String> = BTreeMap::new();
        for item in takers {
            let Some(npn) = item.get("npn").and_then(|v| v.as_s().ok()).and_then(|n| Npn::parse(n).ok()) else {
                continue;
            };
            let taker = by_npn.entry(npn.clone()).or_insert_with(|| Taker {
                npn,
                agent_id: None,
                takes: 0,
                in_agency: 0,
                weeks: BTreeMap::new(),
            });
            let agent_id = item.get("other_agent_id").and_then(|v| v.as_s().ok()).and_then(|a| AgentId::parse(a).ok());
            let as_of = item.get("agent_as_of").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if agent_id.is_some() && agent_as_of.get(&taker.npn).is_none_or(|seen| *seen <= as_of) {
                agent_as_of.insert(taker.npn.clone(), as_of);
                taker.agent_id = agent_id;
            }
            taker.takes += number(item, "takes");
            taker.in_agency += number(item, side_attribute(true));
            for name in item.keys() {
                if let Some(week) = name.strip_prefix(WEEK_PREFIX) {
                    *taker.weeks.entry(week.to_owned()).or_default() += number(item, name);
                }
            }
        }
        patterns.takers = by_npn.into_values().collect();
        patterns.sort();
        patterns
    }

    /// Counts one take, as `count_take` does in the table: what the checker adds up.
    pub fn add(&mut self, take: &Take, in_agency: bool) {
        let week = iso_week(take.at);
        let slot = self.weeks.entry(week.clone()).or_default();
        if in_agency {
            self.in_agency += 1;
            slot.0 += 1;
        } else {
            self.outside += 1;
            slot.1 += 1;
        }
        match self.takers.iter_mut().find(|t| t.npn == take.other_npn) {
            Some(taker) => {
                taker.takes += 1;
                taker.in_agency += i64::from(in_agency);
                *taker.weeks.entry(week).or_default() += 1;
                if take.other_agent_id.is_some() {
                    taker.agent_id.clone_from(&take.other_agent_id);
                }
            }
            None => self.takers.push(Taker {
                npn: take.other_npn.clone(),
                agent_id: take.other_agent_id.clone(),
                takes: 1,
                in_agency: i64::from(in_agency),
                weeks: BTreeMap::from([(week, 1)]),
            }),
        }
        self.sort();
    }

    /// The most takes first, then by NPN.
    fn sort(&mut self) {
        self.takers.sort_by(|a, b| b.takes.cmp(&a.takes).then_with(|| a.npn.cmp(&b.npn)));
    }
}

/// Week counters are attributes of their own (`w:2026-W47`, `w:2026-W47:in`): `ADD` makes them
/// from nothing, which it cannot do inside a map that does not exist yet.
const WEEK_PREFIX: &str = "w:";

fn side_attribute(in_agency: bool) -> &'static str {
    if in_agency { "in_agency" } else { "outside" }
}

fn number(item: &Item, name: &str) -> i64 {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn counted_values(counts: &[CountedTake]) -> Result<Vec<AttributeValue>, StoreError> {
    counts.iter().map(|count| Ok(AttributeValue::M(to_item(count)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(attributes: &[(&str, &str)]) -> Item {
        attributes
            .iter()
            .map(|(name, value)| {
                // Counters are numbers; the NPN, the agent and the time are strings.
                let counter = *name != "npn" && value.parse::<i64>().is_ok();
                let value = if counter { AttributeValue::N((*value).into()) } else { s(*value) };
                ((*name).to_owned(), value)
            })
            .collect()
    }

    #[test]
    fn the_shards_of_an_agencys_swap_patterns_add_up_and_the_latest_take_names_the_agent() {
        let totals = [
            item(&[("in_agency", "1"), ("outside", "2"), ("w:2026-W03:out", "2"), ("w:2026-W03:in", "1")]),
            item(&[("outside", "3"), ("w:2026-W03:out", "1"), ("w:2026-W04:out", "2")]),
        ];
        let takers = [
            item(&[("npn", "222"), ("takes", "2"), ("in_agency", "1"), ("w:2026-W03", "2")]),
            item(&[("npn", "333"), ("takes", "1"), ("w:2026-W04", "1")]),
            item(&[
                ("npn", "222"),
                ("takes", "3"),
                ("w:2026-W03", "1"),
                ("w:2026-W04", "2"),
                ("other_agent_id", "bob-later"),
                ("agent_as_of", "2026-01-20T00:00:00.000000Z"),
            ]),
            item(&[
                ("npn", "222"),
                ("takes", "1"),
                ("w:2026-W04", "1"),
                ("other_agent_id", "bob-earlier"),
                ("agent_as_of", "2026-01-10T00:00:00.000000Z"),
            ]),
        ];
        let patterns = SwapPatterns::of_items(&totals, &takers);
        assert_eq!((patterns.in_agency, patterns.outside), (1, 5));
        assert_eq!(patterns.weeks, BTreeMap::from([("2026-W03".into(), (1, 3)), ("2026-W04".into(), (0, 2))]));
        let first = &patterns.takers[0];
        assert_eq!((first.npn.as_str(), first.takes, first.in_agency), ("222", 6, 1));
        assert_eq!(first.weeks, BTreeMap::from([("2026-W03".into(), 3), ("2026-W04".into(), 3)]));
        assert_eq!(first.agent_id.as_ref().map(AgentId::as_str), Some("bob-later"));
        assert_eq!(patterns.takers[1].npn.as_str(), "333");
    }
}

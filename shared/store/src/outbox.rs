//! The outbox of at-risk changes. A history item that holds a change of at-risk state is written
//! into the outbox (a sparse index) by the very transaction that makes the change, so what leaves
//! the system is exactly what happened: the relay (`functions/outbox-relay`) publishes each change
//! (at least once: a consumer drops repeats by the change's id), counts each take into the swap
//! patterns of the agencies on the owner's path (exactly once: the count and its record on the
//! history item are one transaction), and then takes the item out of the outbox.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use super::dynamo::{Condition, Index, SortKeys, number, retry_on_conflict, text};
use super::dynamo::{failed, unbuilt};
use super::items::{Item, TrailItem, WaiterItem, from_item, to_item};
use super::{Store, StoreError, keys};
use domain::{AgencyId, AgentId, ApplicationKey, DirectoryEntry, Npn, PlanYear, SwapPatterns, Take, Taker, iso_week};
use ports::{self, CountedTake, OutboxItem};

impl Store {
    /// A page of one shard's part of the outbox, oldest first, and where the next starts.
    async fn outbox_trails(
        &self,
        shard: u32,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<TrailItem>, Option<Item>), StoreError> {
        let out = self
            .query(Index::Gsi1, keys::outbox_gsi1pk(shard), SortKeys::All)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(failed)?;
        let trails = out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((trails, out.last_evaluated_key))
    }

    /// Counts the take of record `index` of `trail` into each of `counts`' agencies' swap patterns,
    /// and records that on the trail item, in one transaction: once however often it is called
    /// (`false`: it was counted before, or the item has left the outbox).
    async fn count_take_at(
        &self,
        trail: &TrailKey,
        index: usize,
        app: &ApplicationKey,
        take: &Take,
        counts: &[CountedTake],
    ) -> Result<bool, StoreError> {
        retry_on_conflict(|_| async move {
            match self.transact(self.take_writes(trail, index, app, take, counts)?).await {
                Err(StoreError::Conflict) => {
                    // Counted by another relay, or only a race on a counter: read and see.
                    let now: Option<TrailItem> =
                        self.get_item(trail.pk.clone(), &trail.sk).await?.map(from_item).transpose()?;
                    if now.is_none_or(|now| now.gsi1pk.is_none() || now.counted.contains_key(&index.to_string())) {
                        Ok(false)
                    } else {
                        Err(StoreError::Conflict)
                    }
                }
                other => other.map(|()| true),
            }
        })
        .await
    }

    fn take_writes(
        &self,
        trail: &TrailKey,
        index: usize,
        app: &ApplicationKey,
        take: &Take,
        counts: &[CountedTake],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let record = Update::builder()
            .table_name(self.table())
            .key(keys::PK, text(&trail.pk))
            .key(keys::SK, text(&trail.sk))
            .update_expression("SET #counted.#index = :counts")
            .condition_expression("attribute_exists(#outbox) AND attribute_not_exists(#counted.#index)")
            .expression_attribute_names("#counted", "counted")
            .expression_attribute_names("#index", index.to_string())
            .expression_attribute_names("#outbox", keys::GSI1_PK)
            .expression_attribute_values(":counts", AttributeValue::L(counted_values(counts)?));
        let mut writes = vec![TransactWriteItem::builder().update(record.build().map_err(unbuilt)?).build()];
        let week = iso_week(take.at);
        let one = number(1);
        // Counted into a taker's tree's conduct: into the taker's own weeks too.
        if let (Some(taker), true) = (&take.other_agent_id, counts.iter().any(|count| count.by_taker)) {
            let weeks = Update::builder()
                .table_name(self.table())
                .key(keys::PK, text(keys::agent_pk(taker)))
                .key(keys::SK, text(keys::agent_takes_sk(app.year, &app.id)))
                .update_expression("ADD #week :one")
                .expression_attribute_names("#week", format!("{WEEK_PREFIX}{week}"))
                .expression_attribute_values(":one", one.clone());
            writes.push(TransactWriteItem::builder().update(weeks.build().map_err(unbuilt)?).build());
        }
        for count in counts {
            let side = if count.in_agency { "in" } else { "out" };
            if count.by_taker {
                writes.push(self.conduct_write(count, app, take, &week)?);
                continue;
            }
            let totals = Update::builder()
                .table_name(self.table())
                .key(keys::PK, text(keys::agency_pk(&count.agency_id)))
                .key(keys::SK, text(keys::swaps_sk(app.year, &app.id)))
                .update_expression("ADD #side :one, #week :one")
                .expression_attribute_names("#side", side_attribute(count.in_agency))
                .expression_attribute_names("#week", format!("{WEEK_PREFIX}{week}:{side}"))
                .expression_attribute_values(":one", one.clone());
            let mut by_npn = Update::builder()
                .table_name(self.table())
                .key(keys::PK, text(keys::agency_pk(&count.agency_id)))
                .key(keys::SK, text(keys::swap_npn_sk(app.year, &take.other_npn, &app.id)))
                .expression_attribute_names("#side", side_attribute(count.in_agency))
                .expression_attribute_names("#week", format!("{WEEK_PREFIX}{week}"))
                .expression_attribute_values(":one", one.clone())
                .expression_attribute_values(":npn", text(take.other_npn.as_str()));
            by_npn = match &take.other_agent_id {
                // The agent behind the NPN as of this take: of the shards, the latest take's says.
                Some(agent) => by_npn
                    .update_expression(
                        "ADD takes :one, #side :one, #week :one SET npn = :npn, other_agent_id = :agent, agent_as_of = :at",
                    )
                    .expression_attribute_values(":agent", text(agent.as_str()))
                    .expression_attribute_values(":at", text(keys::time(take.at))),
                None => by_npn.update_expression("ADD takes :one, #side :one, #week :one SET npn = :npn"),
            };
            writes.push(TransactWriteItem::builder().update(totals.build().map_err(unbuilt)?).build());
            writes.push(TransactWriteItem::builder().update(by_npn.build().map_err(unbuilt)?).build());
        }
        Ok(writes)
    }

    /// One take by an agent of `count`'s agency's tree, into its conduct: by agent, week and side.
    fn conduct_write(
        &self,
        count: &CountedTake,
        app: &ApplicationKey,
        take: &Take,
        week: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let taker = take
            .other_agent_id
            .as_ref()
            .ok_or_else(|| StoreError::Encode("a take counted into conduct names no agent behind its NPN".into()))?;
        let side = if count.in_agency { "in" } else { "out" };
        let update = Update::builder()
            .table_name(self.table())
            .key(keys::PK, text(keys::agency_pk(&count.agency_id)))
            .key(keys::SK, text(keys::conduct_sk(app.year, taker, &app.id)))
            .update_expression("ADD #side :one, #week :one SET agent_id = :agent, npn = :npn")
            .expression_attribute_names("#side", crate::conduct::side_attribute(count.in_agency))
            .expression_attribute_names("#week", format!("{WEEK_PREFIX}{week}:{side}"))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":agent", text(taker.as_str()))
            .expression_attribute_values(":npn", text(take.other_npn.as_str()))
            .build()
            .map_err(unbuilt)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Takes a trail item out of the outbox: every change in it is published and counted.
    async fn relayed_at(&self, trail: &TrailKey) -> Result<(), StoreError> {
        let Some(outbox) = keys::outbox_of(&trail.pk) else { return Ok(()) };
        let taken = self
            .update_if(
                &trail.pk,
                &trail.sk,
                "REMOVE #gsi1pk, #gsi1sk",
                Condition::new("#gsi1pk = :outbox").name("#gsi1pk", keys::GSI1_PK).name("#gsi1sk", keys::GSI1_SK),
                vec![(":outbox", text(outbox))],
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
    async fn wait_at(&self, trail: &TrailKey, missing: (&str, &str)) -> Result<bool, StoreError> {
        let (pk, sk) = missing;
        let Some(outbox) = keys::outbox_of(&trail.pk) else { return Ok(false) };
        let out = self.move_trail((&trail.pk, &trail.sk), &outbox, keys::WAITING_GSI1PK)?;
        let waiter = WaiterItem {
            pk: pk.to_owned(),
            sk: keys::waiter_sk(&trail.pk, &trail.sk),
            trail_pk: trail.pk.clone(),
            trail_sk: trail.sk.clone(),
        };
        let waiter =
            Put::builder().table_name(self.table()).set_item(Some(to_item(&waiter)?)).build().map_err(unbuilt)?;
        let writes = vec![
            TransactWriteItem::builder().update(out).build(),
            TransactWriteItem::builder().put(waiter).build(),
            self.check(pk.to_owned(), sk, Condition::new("attribute_not_exists(pk)"))?,
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
        Update::builder()
            .table_name(self.table())
            .key(keys::PK, text(pk))
            .key(keys::SK, text(sk))
            .update_expression("SET #gsi1pk = :to")
            .condition_expression("#gsi1pk = :from")
            .expression_attribute_names("#gsi1pk", keys::GSI1_PK)
            .expression_attribute_values(":from", text(from))
            .expression_attribute_values(":to", text(to))
            .build()
            .map_err(unbuilt)
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
                .key(keys::PK, text(&waiter.pk))
                .key(keys::SK, text(&waiter.sk))
                .build()
                .map_err(unbuilt)?;
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
                        .key(keys::PK, text(&waiter.pk))
                        .key(keys::SK, text(&waiter.sk))
                        .send()
                        .await
                        .map_err(failed)?;
                }
                Err(err) => return Err(err),
            }
        }
        Ok(released)
    }
}

/// The patterns its counter items hold, summed over their shards: an agency's totals items
/// (`SWAPS#…`) and its takers' (`SWAPNPN#…`).
pub fn swap_patterns_of(totals: &[Item], takers: &[Item]) -> SwapPatterns {
    let mut patterns = SwapPatterns::default();
    for totals in totals {
        patterns.in_agency += number_in(totals, side_attribute(true));
        patterns.outside += number_in(totals, side_attribute(false));
        for name in totals.keys() {
            let Some(rest) = name.strip_prefix(WEEK_PREFIX) else { continue };
            let Some((week, side)) = rest.rsplit_once(':') else { continue };
            let slot = patterns.weeks.entry(week.to_owned()).or_default();
            match side {
                "in" => slot.0 += number_in(totals, name),
                _ => slot.1 += number_in(totals, name),
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
        taker.takes += number_in(item, "takes");
        taker.in_agency += number_in(item, side_attribute(true));
        for name in item.keys() {
            if let Some(week) = name.strip_prefix(WEEK_PREFIX) {
                *taker.weeks.entry(week.to_owned()).or_default() += number_in(item, name);
            }
        }
    }
    patterns.takers = by_npn.into_values().collect();
    patterns.sort_takers();
    patterns
}

/// A history item's key: what an `OutboxItem`'s id holds.
struct TrailKey {
    pk: String,
    sk: String,
}

/// Separates the parts of the strings an outbox item's id and a page's cursor are made of: no key
/// holds it.
const SEPARATOR: char = '\u{1f}';

impl TrailKey {
    fn of(id: &str) -> Self {
        let (pk, sk) = id.split_once(SEPARATOR).unwrap_or((id, ""));
        Self { pk: pk.to_owned(), sk: sk.to_owned() }
    }

    fn id(pk: &str, sk: &str) -> String {
        format!("{pk}{SEPARATOR}{sk}")
    }
}

/// A page's end (its four key attributes in the index) as a cursor string, and back.
fn outbox_cursor(key: &Item) -> String {
    let part = |name: &str| key.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    [keys::PK, keys::SK, keys::GSI1_PK, keys::GSI1_SK].map(part).join(&SEPARATOR.to_string())
}

fn outbox_start(cursor: &str) -> Item {
    [keys::PK, keys::SK, keys::GSI1_PK, keys::GSI1_SK]
        .into_iter()
        .zip(cursor.split(SEPARATOR))
        .map(|(name, value)| (name.to_owned(), text(value)))
        .collect()
}

impl ports::Outbox for Store {
    fn outbox_parts(&self) -> u32 {
        keys::APPLICATION_SHARDS
    }

    async fn outbox_page(
        &self,
        part: u32,
        limit: i32,
        after: Option<String>,
    ) -> Result<(Vec<OutboxItem>, Option<String>), StoreError> {
        let (trails, next) = self.outbox_trails(part, limit, after.as_deref().map(outbox_start)).await?;
        let mut items = Vec::new();
        for trail in trails {
            let Some(application) = keys::application_of(&trail.pk) else {
                tracing::error!(item = %trail.sk, "an outbox item outside an application's partition; left as it is");
                continue;
            };
            let counted = trail.counted.keys().filter_map(|index| index.parse().ok()).collect();
            items.push(OutboxItem {
                id: TrailKey::id(&trail.pk, &trail.sk),
                application,
                records: trail.records,
                counted,
            });
        }
        Ok((items, next.as_ref().map(outbox_cursor)))
    }

    async fn count_take(
        &self,
        item: &OutboxItem,
        index: usize,
        take: &Take,
        counts: &[CountedTake],
    ) -> Result<bool, StoreError> {
        self.count_take_at(&TrailKey::of(&item.id), index, &item.application, take, counts).await
    }

    async fn relayed(&self, item: &OutboxItem) -> Result<(), StoreError> {
        self.relayed_at(&TrailKey::of(&item.id)).await
    }

    async fn wait_for(&self, item: &OutboxItem, entry: &DirectoryEntry) -> Result<bool, StoreError> {
        let (pk, sk) = match entry {
            DirectoryEntry::Agent(agent) => (keys::agent_pk(agent), keys::AGENT_SK),
            DirectoryEntry::Agency(agency) => (keys::agency_pk(agency), keys::AGENCY_SK),
        };
        self.wait_at(&TrailKey::of(&item.id), (&pk, sk)).await
    }
}

/// Week counters are attributes of their own (`w:2026-W47`, `w:2026-W47:in`): `ADD` makes them
/// from nothing, which it cannot do inside a map that does not exist yet.
pub(crate) const WEEK_PREFIX: &str = "w:";

fn side_attribute(in_agency: bool) -> &'static str {
    if in_agency { "in_agency" } else { "outside" }
}

pub(crate) fn number_in(item: &Item, name: &str) -> i64 {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn counted_values(counts: &[CountedTake]) -> Result<Vec<AttributeValue>, StoreError> {
    counts.iter().map(|count| Ok(AttributeValue::M(to_item(count)?))).collect()
}

impl ports::SwapCounts for Store {
    /// An agency's swap patterns: one query of its totals and one of its takers (at most one item
    /// per application shard for the totals and for each NPN in the answer, whatever the size of
    /// the tree).
    async fn swap_patterns(&self, agency: &AgencyId, year: PlanYear) -> Result<SwapPatterns, StoreError> {
        let pk = keys::agency_pk(agency);
        let totals = self.query_prefix(pk.clone(), &keys::swaps_prefix(year)).await?;
        let takers = self.query_prefix(pk, &keys::swap_npn_prefix(year)).await?;
        Ok(swap_patterns_of(&totals, &takers))
    }
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
                let value = if counter { AttributeValue::N((*value).into()) } else { text(*value) };
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
        let patterns = swap_patterns_of(&totals, &takers);
        assert_eq!((patterns.in_agency, patterns.outside), (1, 5));
        assert_eq!(patterns.weeks, BTreeMap::from([("2026-W03".into(), (1, 3)), ("2026-W04".into(), (0, 2))]));
        let first = &patterns.takers[0];
        assert_eq!((first.npn.as_str(), first.takes, first.in_agency), ("222", 6, 1));
        assert_eq!(first.weeks, BTreeMap::from([("2026-W03".into(), 3), ("2026-W04".into(), 3)]));
        assert_eq!(first.agent_id.as_ref().map(AgentId::as_str), Some("bob-later"));
        assert_eq!(patterns.takers[1].npn.as_str(), "333");
    }
}

//! An agency's own agents' conduct (`CONDUCT#…`, counted by the outbox relay with the swap
//! patterns, see `store::outbox`) and the spikes the relay finds in it (`SPIKE#…`): a copy in
//! every agency on the agent's path, written with the notice that publishes it.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::dynamo::unbuilt;
use super::items::{Item, from_item, to_item};
use super::outbox::{WEEK_PREFIX, number_in};
use super::{Store, StoreError, keys};
use domain::{AgencyId, AgentConduct, AgentId, Conduct, Npn, PlanYear};
use ports::{Notice, TakerSpike};

pub(crate) fn side_attribute(from_inside: bool) -> &'static str {
    if from_inside { "from_inside" } else { "from_outside" }
}

/// The conduct its counter items hold, summed over their shards.
pub fn conduct_of(items: &[Item]) -> Conduct {
    let mut agents: BTreeMap<AgentId, AgentConduct> = BTreeMap::new();
    for item in items {
        let text_of = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
        let (Some(agent_id), Some(npn)) =
            (text_of("agent_id").and_then(|a| AgentId::parse(a).ok()), text_of("npn").and_then(|n| Npn::parse(n).ok()))
        else {
            continue;
        };
        let agent = agents.entry(agent_id.clone()).or_insert_with(|| AgentConduct {
            agent_id,
            npn,
            from_inside: 0,
            from_outside: 0,
            weeks: BTreeMap::new(),
        });
        agent.from_inside += number_in(item, side_attribute(true));
        agent.from_outside += number_in(item, side_attribute(false));
        for name in item.keys() {
            let Some((week, side)) = name.strip_prefix(WEEK_PREFIX).and_then(|rest| rest.rsplit_once(':')) else {
                continue;
            };
            let slot = agent.weeks.entry(week.to_owned()).or_default();
            match side {
                "in" => slot.0 += number_in(item, name),
                _ => slot.1 += number_in(item, name),
            }
        }
    }
    let mut conduct = Conduct::default();
    for agent in agents.values() {
        conduct.from_inside += agent.from_inside;
        conduct.from_outside += agent.from_outside;
        for (week, (inside, outside)) in &agent.weeks {
            let slot = conduct.weeks.entry(week.clone()).or_default();
            slot.0 += inside;
            slot.1 += outside;
        }
    }
    conduct.agents = agents.into_values().collect();
    conduct.rank();
    conduct
}

/// An agent's takes per week, summed over the shards of their `TAKES#` items.
pub fn weeks_of(items: &[Item]) -> BTreeMap<String, i64> {
    let mut weekly = BTreeMap::new();
    for item in items {
        for name in item.keys() {
            if let Some(week) = name.strip_prefix(WEEK_PREFIX) {
                *weekly.entry(week.to_owned()).or_default() += number_in(item, name);
            }
        }
    }
    weekly
}

/// A spike's copy in one agency's partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SpikeItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    spike: TakerSpike,
}

fn spikes_of(items: Vec<Item>) -> Result<Vec<TakerSpike>, StoreError> {
    items.into_iter().map(|item| from_item::<SpikeItem>(item).map(|i| i.spike)).collect()
}

impl ports::ConductCounts for Store {
    /// One query of the agency's conduct items: at most one per application shard for each agent
    /// in the answer, whatever the size of the tree.
    async fn conduct(&self, agency: &AgencyId, year: PlanYear) -> Result<Conduct, StoreError> {
        let items = self.query_prefix(keys::agency_pk(agency), &keys::conduct_prefix(year)).await?;
        Ok(conduct_of(&items))
    }

    async fn spikes_recorded(
        &self,
        agency: &AgencyId,
        year: PlanYear,
        since: DateTime<Utc>,
        through: DateTime<Utc>,
    ) -> Result<Vec<TakerSpike>, StoreError> {
        // A tree's spikes of a year are few (one per agent and week at most).
        let items = self.query_prefix(keys::agency_pk(agency), &keys::spike_prefix(year)).await?;
        let mut spikes: Vec<TakerSpike> = spikes_of(items)?
            .into_iter()
            .filter(|spike| since < spike.recorded_at && spike.recorded_at <= through)
            .collect();
        spikes.sort_by_key(|spike| spike.recorded_at);
        Ok(spikes)
    }
}

impl ports::SpikeRecords for Store {
    async fn weekly_takes(&self, year: PlanYear, agent: &AgentId) -> Result<BTreeMap<String, i64>, StoreError> {
        Ok(weeks_of(&self.query_prefix(keys::agent_pk(agent), &keys::agent_takes_prefix(year)).await?))
    }

    async fn record_spike(&self, spike: &TakerSpike, notice: &Notice) -> Result<bool, StoreError> {
        let sk = keys::spike_sk(spike.plan_year, &spike.week, &spike.agent_id);
        let mut writes = vec![self.notice_put(notice)?];
        for agency in &spike.agency_path {
            let item = SpikeItem { pk: keys::agency_pk(agency), sk: sk.clone(), spike: spike.clone() };
            let put = Put::builder()
                .table_name(self.table())
                .set_item(Some(to_item(&item)?))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(unbuilt)?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact(writes).await {
            Ok(()) => Ok(true),
            // Recorded before: found by another take of the week, or another run.
            Err(StoreError::Conflict) => Ok(false),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::text;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn item(attributes: &[(&str, &str)]) -> Item {
        attributes
            .iter()
            .map(|(name, value)| {
                let counter = !matches!(*name, "npn" | "agent_id");
                let value = if counter { AttributeValue::N((*value).into()) } else { text(*value) };
                ((*name).to_owned(), value)
            })
            .collect()
    }

    #[test]
    fn the_shards_of_an_agencys_conduct_add_up_per_agent_and_week() {
        let items = [
            item(&[("agent_id", "bo"), ("npn", "222"), ("from_inside", "1"), ("w:2026-W03:in", "1")]),
            item(&[
                ("agent_id", "bo"),
                ("npn", "222"),
                ("from_outside", "2"),
                ("w:2026-W03:out", "1"),
                ("w:2026-W04:out", "1"),
            ]),
            item(&[("agent_id", "cy"), ("npn", "333"), ("from_outside", "1"), ("w:2026-W04:out", "1")]),
        ];
        let conduct = conduct_of(&items);
        assert_eq!((conduct.from_inside, conduct.from_outside), (1, 3));
        assert_eq!(conduct.weeks, BTreeMap::from([("2026-W03".into(), (1, 1)), ("2026-W04".into(), (0, 2))]));
        let bo = &conduct.agents[0];
        assert_eq!((bo.agent_id.as_str(), bo.takes()), ("bo", 3), "the most takes first");
        assert_eq!(bo.weekly_takes(), BTreeMap::from([("2026-W03".into(), 2), ("2026-W04".into(), 1)]));
    }
}

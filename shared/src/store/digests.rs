//! A person's settings and their daily digest. The digest names what was flagged in their list
//! since their last digest, read from the lists' rows by when they were flagged (GSI2) — entries
//! cleared meanwhile have no row, so a digest never names one that is no longer at risk.
//!
//! One digest per person per day: a run claims the person's day with a conditional write (a lease,
//! taken over only once it lapses) before reading and sending, and marks it sent afterwards
//! together with the person's new watermark. A run killed between sending and marking leaves a
//! lease that lapses, and the next run sends again: the only way to get two, and a window of
//! milliseconds.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::applications::{MAX_ATTEMPTS, backoff, s};
use super::items::{Item, RiskRow, from_item, to_item};
use super::keys::{self, Scope};
use super::{Store, StoreError, condition_failed, if_version};
use crate::domain::{AgentId, DigestScope, PlanYear};

/// A person's own settings (`AGENT#{id}` / `SETTINGS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonSettingsItem {
    pub pk: String,
    pub sk: String,
    pub agent_id: AgentId,
    pub daily_digest: bool,
    pub digest_scope: DigestScope,
    /// The digest covers entries flagged after this: when it was turned on, then the end of the
    /// last digest.
    pub digest_through: Option<DateTime<Utc>>,
    pub version: u64,
    /// In the index of digest subscribers while `daily_digest` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
}

/// What a person asks to change; `None` leaves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub daily_digest: Option<bool>,
    pub digest_scope: Option<DigestScope>,
}

impl PersonSettingsItem {
    /// Nothing asked for yet: no digest, their own book.
    pub fn default_for(agent: &AgentId) -> Self {
        Self {
            pk: keys::agent_pk(agent),
            sk: keys::PERSON_SETTINGS_SK.to_owned(),
            agent_id: agent.clone(),
            daily_digest: false,
            digest_scope: DigestScope::Book,
            digest_through: None,
            version: 0,
            gsi1pk: None,
            gsi1sk: None,
        }
    }

    /// These settings with `change` made at `now`. Turning the digest on starts it from now: the
    /// first digest names what is flagged after that, not a year's backlog.
    pub fn changed(&self, change: SettingsChange, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        if let Some(on) = change.daily_digest {
            if on && !self.daily_digest {
                next.digest_through = Some(now);
            }
            next.daily_digest = on;
        }
        if let Some(scope) = change.digest_scope {
            next.digest_scope = scope;
        }
        next.gsi1pk = next.daily_digest.then(|| keys::DIGEST_GSI1PK.to_owned());
        next.gsi1sk = next.daily_digest.then(|| self.agent_id.to_string());
        next.version = self.version + 1;
        next
    }
}

/// One person's digest of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DigestDayItem {
    pk: String,
    sk: String,
    state: DayState,
    /// While `Sending`: until when (ms since the epoch) the run that claimed it holds it. A
    /// number, so that DynamoDB compares it as one.
    lease_until: i64,
    /// DynamoDB deletes it after a week.
    expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DayState {
    Sending,
    Sent,
    NothingNew,
}

/// How a person's day was claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayClaim {
    /// This run holds it (the lease's end, as written); it must finish it.
    Mine(i64),
    /// Done already, or another run holds it.
    Taken,
}

/// How a digest ended, for `finish_digest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestOutcome {
    Sent,
    NothingNew,
}

/// What was flagged in a list after a time: how many, and the newest few.
#[derive(Debug, Clone, Default)]
pub struct Flagged {
    pub count: usize,
    pub newest: Vec<RiskRow>,
}

/// Where a day's digest run got to (`DIGESTRUN#{day}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRun {
    /// The last subscriber (agent id) done.
    pub position: Option<String>,
    pub done: bool,
}

impl Store {
    pub async fn person_settings(&self, agent: &AgentId) -> Result<PersonSettingsItem, StoreError> {
        Ok(self
            .get_item(keys::agent_pk(agent), keys::PERSON_SETTINGS_SK)
            .await?
            .map(from_item)
            .transpose()?
            .unwrap_or_else(|| PersonSettingsItem::default_for(agent)))
    }

    /// Makes `change` to a person's settings, over the version read (read again on a race).
    pub async fn change_person_settings(
        &self,
        agent: &AgentId,
        change: SettingsChange,
        now: DateTime<Utc>,
    ) -> Result<PersonSettingsItem, StoreError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let current = self.person_settings(agent).await?;
            let next = current.changed(change, now);
            let put = Put::builder().table_name(self.table()).set_item(Some(to_item(&next)?));
            let put = if_version(put, (current.version > 0).then_some(current.version));
            match self.transact(vec![TransactWriteItem::builder().put(put.build()?).build()]).await {
                Ok(()) => return Ok(next),
                Err(StoreError::Conflict) => tokio::time::sleep(backoff(attempt)).await,
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Contention(MAX_ATTEMPTS))
    }

    /// A page of the people who asked for the digest, by agent id after `after`.
    pub async fn digest_subscribers(
        &self,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<PersonSettingsItem>, bool), StoreError> {
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(keys::GSI1)
            .expression_attribute_names("#pk", keys::GSI1_PK)
            .expression_attribute_values(":pk", s(keys::DIGEST_GSI1PK))
            .limit(limit);
        let query = match after {
            None => query.key_condition_expression("#pk = :pk"),
            Some(after) => query
                .key_condition_expression("#pk = :pk AND #sk > :after")
                .expression_attribute_names("#sk", keys::GSI1_SK)
                .expression_attribute_values(":after", s(after)),
        };
        let out = query.send().await?;
        let people = out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((people, out.last_evaluated_key.is_some()))
    }

    /// Claims a person's digest of `day` for `lease`: a new claim, or one whose holder's lease
    /// has lapsed without finishing.
    pub async fn claim_digest_day(
        &self,
        agent: &AgentId,
        day: NaiveDate,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<DayClaim, StoreError> {
        let item = DigestDayItem {
            pk: keys::agent_pk(agent),
            sk: keys::digest_day_sk(day),
            state: DayState::Sending,
            lease_until: (now + lease).timestamp_millis(),
            expires_at: (now + chrono::Duration::days(7)).timestamp(),
        };
        let claimed = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(pk) OR (#state = :sending AND lease_until < :now)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp_millis().to_string()))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(DayClaim::Mine(item.lease_until)),
            Err(err) if condition_failed(&err) => Ok(DayClaim::Taken),
            Err(err) => Err(err.into()),
        }
    }

    /// Ends a claimed day: marks it, and moves the person's watermark to `through`, in one
    /// transaction that holds only while this run's claim stands and the settings are still the
    /// version `settings_version` the run read (turned off, or on again, they start afresh).
    pub async fn finish_digest_day(
        &self,
        agent: &AgentId,
        day: NaiveDate,
        lease_until: i64,
        settings_version: u64,
        outcome: DigestOutcome,
        through: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let state = match outcome {
            DigestOutcome::Sent => "sent",
            DigestOutcome::NothingNew => "nothing_new",
        };
        let mark = Update::builder()
            .table_name(self.table())
            .key(keys::PK, s(keys::agent_pk(agent)))
            .key(keys::SK, s(keys::digest_day_sk(day)))
            .update_expression("SET #state = :state")
            .condition_expression("lease_until = :lease")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", s(state))
            .expression_attribute_values(":lease", AttributeValue::N(lease_until.to_string()));
        let watermark = Update::builder()
            .table_name(self.table())
            .key(keys::PK, s(keys::agent_pk(agent)))
            .key(keys::SK, s(keys::PERSON_SETTINGS_SK))
            .update_expression("SET digest_through = :through, version = :next")
            .condition_expression("version = :read")
            .expression_attribute_values(":through", s(keys::time(through)))
            .expression_attribute_values(":read", AttributeValue::N(settings_version.to_string()))
            .expression_attribute_values(":next", AttributeValue::N((settings_version + 1).to_string()));
        let finished = self
            .transact(vec![
                TransactWriteItem::builder().update(mark.build()?).build(),
                TransactWriteItem::builder().update(watermark.build()?).build(),
            ])
            .await;
        match finished {
            // The settings changed meanwhile (turned off, or on again from later): mark the day
            // alone, the watermark is theirs.
            Err(StoreError::Conflict) => {
                let marked = self
                    .update_if(
                        &keys::agent_pk(agent),
                        &keys::digest_day_sk(day),
                        "lease_until = :lease",
                        "SET #state = :state",
                        &[("#state", "state")],
                        vec![(":state", s(state)), (":lease", AttributeValue::N(lease_until.to_string()))],
                    )
                    .await;
                match marked {
                    Err(StoreError::Conflict) => Err(StoreError::Conflict),
                    other => other,
                }
            }
            other => other,
        }
    }

    /// What was flagged in `scope`'s list of `year` after `after` and up to `through` (archived
    /// entries aside): how many, and the newest `keep`.
    pub async fn flagged_between(
        &self,
        scope: &Scope,
        year: PlanYear,
        after: DateTime<Utc>,
        through: DateTime<Utc>,
        keep: usize,
    ) -> Result<Flagged, StoreError> {
        // `$` follows `#`: every key of a time up to `through` is below `{through}$`.
        let from = keys::time(after + chrono::Duration::microseconds(1));
        let to = format!("{}$", keys::time(through));
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(keys::GSI2)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .filter_expression("archived = :false")
            .expression_attribute_names("#pk", keys::GSI2_PK)
            .expression_attribute_names("#sk", keys::GSI2_SK)
            .expression_attribute_values(":pk", s(keys::flagged_gsi2pk(scope, year)))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s(to))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .scan_index_forward(false);
        let mut flagged = Flagged::default();
        let mut start = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start).send().await?;
            for item in out.items.unwrap_or_default() {
                flagged.count += 1;
                if flagged.newest.len() < keep {
                    flagged.newest.push(from_item(item)?);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(flagged);
            }
        }
    }

    pub async fn digest_run(&self, day: NaiveDate) -> Result<DigestRun, StoreError> {
        let item: Option<Item> = self.get_item(keys::digest_run_pk(day), keys::DIGEST_RUN_SK).await?;
        Ok(item
            .map(|item| DigestRun {
                position: item.get("position").and_then(|v| v.as_s().ok()).cloned(),
                done: item.get("done").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
            })
            .unwrap_or_default())
    }

    /// Saves how far a day's run got. Runs at once may save in any order: a position only moves
    /// forward (and a done run stays done).
    pub async fn save_digest_run(&self, day: NaiveDate, run: &DigestRun) -> Result<(), StoreError> {
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, s(keys::digest_run_pk(day)))
            .key(keys::SK, s(keys::DIGEST_RUN_SK))
            .expression_attribute_values(":done", AttributeValue::Bool(run.done))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N((Utc::now() + chrono::Duration::days(7)).timestamp().to_string()),
            );
        update = match &run.position {
            Some(position) => update
                .update_expression("SET #position = :position, done = :done, expires_at = :expires")
                .condition_expression("attribute_not_exists(#position) OR #position < :position OR done = :false")
                .expression_attribute_names("#position", "position")
                .expression_attribute_values(":position", s(position))
                .expression_attribute_values(":false", AttributeValue::Bool(false)),
            None => update.update_expression("SET done = :done, expires_at = :expires"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // Another run is further on: its position stands.
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}

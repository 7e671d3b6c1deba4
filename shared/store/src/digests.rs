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

use super::dynamo::{Condition, Conditional, Index, SortKeys, condition_failed, number, retry_on_conflict, text};
use super::dynamo::{failed, unbuilt};
use super::items::{Item, RiskRow, from_item, to_item};
use super::keys;
use super::{Store, StoreError};
use domain::Scope;
use domain::{AgentId, DigestScope, DigestSettings, PlanYear, SettingsChange};
use ports::{self, DayClaim, DigestOutcome, DigestRun, Flagged};

/// A person's own settings (`AGENT#{id}` / `SETTINGS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonSettingsItem {
    pub pk: String,
    pub sk: String,
    pub agent_id: AgentId,
    pub daily_digest: bool,
    pub digest_scope: DigestScope,
    /// See `DigestSettings`.
    pub digest_through: Option<DateTime<Utc>>,
    pub version: u64,
    /// In the index of digest subscribers while `daily_digest` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
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

    /// The settings themselves, without their keys.
    pub fn settings(&self) -> DigestSettings {
        DigestSettings {
            daily_digest: self.daily_digest,
            digest_scope: self.digest_scope,
            digest_through: self.digest_through,
        }
    }

    /// The item with `change` made at `now` (`DigestSettings::changed`), in the index of digest
    /// subscribers while the digest is on.
    pub fn changed(&self, change: SettingsChange, now: DateTime<Utc>) -> Self {
        let settings = self.settings().changed(change, now);
        let mut next = self.clone();
        (next.daily_digest, next.digest_scope, next.digest_through) =
            (settings.daily_digest, settings.digest_scope, settings.digest_through);
        next.gsi1pk = next.daily_digest.then(|| keys::DIGEST_GSI1PK.to_owned());
        next.gsi1sk = next.daily_digest.then(|| self.agent_id.to_string());
        next.version = self.version + 1;
        next
    }
}

/// One person's digest of one day (`AGENT#{id}` / `DIGEST#{day}`), as last written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DigestDayItem {
    state: DayState,
    /// While `Sending`: until when (ms since the epoch) the run that claimed it holds it. A
    /// number, so that DynamoDB compares it as one.
    lease_until: i64,
    /// Tries that failed (an email SES refused, a store error): after `MAX_DIGEST_ATTEMPTS` the
    /// day is given up.
    #[serde(default)]
    attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DayState {
    Sending,
    Sent,
    NothingNew,
    GivenUp,
}

/// How many times a person's digest of a day is tried before it is given up.
pub const MAX_DIGEST_ATTEMPTS: u32 = 3;

impl Store {
    pub async fn person_settings_item(&self, agent: &AgentId) -> Result<PersonSettingsItem, StoreError> {
        Ok(self
            .get_item(keys::agent_pk(agent), keys::PERSON_SETTINGS_SK)
            .await?
            .map(from_item)
            .transpose()?
            .unwrap_or_else(|| PersonSettingsItem::default_for(agent)))
    }

    /// Makes `change` to a person's settings, over the version read (read again on a race).
    pub async fn change_person_settings_item(
        &self,
        agent: &AgentId,
        change: SettingsChange,
        now: DateTime<Utc>,
    ) -> Result<PersonSettingsItem, StoreError> {
        retry_on_conflict(|_| async move {
            let current = self.person_settings_item(agent).await?;
            let next = current.changed(change, now);
            let put = Put::builder().table_name(self.table()).set_item(Some(to_item(&next)?));
            let put = put.when(Condition::version_is((current.version > 0).then_some(current.version)));
            self.transact(vec![TransactWriteItem::builder().put(put.build().map_err(unbuilt)?).build()]).await?;
            Ok(next)
        })
        .await
    }

    async fn digest_day_item(&self, agent: &AgentId, day: NaiveDate) -> Result<Option<DigestDayItem>, StoreError> {
        self.get_item(keys::agent_pk(agent), &keys::digest_day_sk(day)).await?.map(from_item).transpose()
    }
}

impl ports::PersonSettings for Store {
    async fn person_settings(&self, agent: &AgentId) -> Result<DigestSettings, StoreError> {
        Ok(self.person_settings_item(agent).await?.settings())
    }

    async fn change_person_settings(
        &self,
        agent: &AgentId,
        change: SettingsChange,
        now: DateTime<Utc>,
    ) -> Result<DigestSettings, StoreError> {
        Ok(self.change_person_settings_item(agent, change, now).await?.settings())
    }
}

impl ports::Digests for Store {
    /// A page of the people who asked for the digest, by agent id after `after`.
    async fn digest_subscribers(&self, after: Option<&str>, limit: i32) -> Result<(Vec<AgentId>, bool), StoreError> {
        let after = after.map_or(SortKeys::All, |after| SortKeys::Above(after.to_owned()));
        let out = self.query(Index::Gsi1, keys::DIGEST_GSI1PK, after).limit(limit).send().await.map_err(failed)?;
        let people: Vec<PersonSettingsItem> =
            out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok((people.into_iter().map(|person| person.agent_id).collect(), out.last_evaluated_key.is_some()))
    }

    /// Claims a person's digest of `day` for `lease`: a new claim, or one whose holder's lease
    /// has lapsed (or was released) without finishing.
    async fn claim_digest_day(
        &self,
        agent: &AgentId,
        day: NaiveDate,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<DayClaim, StoreError> {
        let lease_until = (now + lease).timestamp_millis();
        let claimed = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::agent_pk(agent)))
            .key(keys::SK, text(keys::digest_day_sk(day)))
            .update_expression("SET #state = :sending, lease_until = :lease, expires_at = :expires")
            .condition_expression("attribute_not_exists(pk) OR (#state = :sending AND lease_until < :now)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", text("sending"))
            .expression_attribute_values(":lease", number(lease_until))
            .expression_attribute_values(":now", number(now.timestamp_millis()))
            .expression_attribute_values(":expires", number((now + chrono::Duration::days(7)).timestamp()))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(DayClaim::Mine(lease_until)),
            Err(err) if condition_failed(&err) => Ok(match self.digest_day_item(agent, day).await? {
                Some(DigestDayItem { state: DayState::Sending, .. }) | None => DayClaim::Held,
                Some(_) => DayClaim::Done,
            }),
            Err(err) => Err(failed(err)),
        }
    }

    /// Extends this run's claim just before it sends, so that no other run can take the day
    /// over while the email is on its way. `Conflict`: the claim was lost.
    async fn renew_digest_day(
        &self,
        agent: &AgentId,
        day: NaiveDate,
        lease_until: i64,
        renewed_until: i64,
    ) -> Result<(), StoreError> {
        self.update_if(
            &keys::agent_pk(agent),
            &keys::digest_day_sk(day),
            "SET lease_until = :renewed",
            Condition::new("lease_until = :lease"),
            vec![(":lease", number(lease_until)), (":renewed", number(renewed_until))],
        )
        .await
    }

    /// Gives a claimed day back after a failure, to be tried again at once by the next run —
    /// or, after `MAX_DIGEST_ATTEMPTS`, given up. Returns whether it was given up.
    async fn release_digest_day(&self, agent: &AgentId, day: NaiveDate, lease_until: i64) -> Result<bool, StoreError> {
        let attempts = self.digest_day_item(agent, day).await?.map_or(0, |item| item.attempts) + 1;
        let give_up = attempts >= MAX_DIGEST_ATTEMPTS;
        let released = self
            .update_if(
                &keys::agent_pk(agent),
                &keys::digest_day_sk(day),
                "SET #state = :state, lease_until = :lapsed, attempts = :attempts",
                Condition::new("lease_until = :lease").name("#state", "state"),
                vec![
                    (":lease", number(lease_until)),
                    (":state", text(if give_up { "given_up" } else { "sending" })),
                    (":lapsed", number(0)),
                    (":attempts", number(i64::from(attempts))),
                ],
            )
            .await;
        match released {
            // Taken over already: the other run has it.
            Err(StoreError::Conflict) => Ok(false),
            other => other.map(|()| give_up),
        }
    }

    /// Ends a claimed day: marks it and, while the person's digest is on and its watermark is
    /// behind `through`, moves the watermark there — in one transaction that holds only while this
    /// run's claim stands and the settings are as read (read again after a race). `Conflict`: the
    /// claim was lost.
    async fn finish_digest_day(
        &self,
        agent: &AgentId,
        day: NaiveDate,
        lease_until: i64,
        outcome: DigestOutcome,
        through: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let state = match outcome {
            DigestOutcome::Sent => "sent",
            DigestOutcome::NothingNew => "nothing_new",
        };
        // The inner result: the claim was lost (`Conflict`), which no retry wins back.
        retry_on_conflict(|_| async move {
            let mark = Update::builder()
                .table_name(self.table())
                .key(keys::PK, text(keys::agent_pk(agent)))
                .key(keys::SK, text(keys::digest_day_sk(day)))
                .update_expression("SET #state = :state")
                .condition_expression("lease_until = :lease")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":state", text(state))
                .expression_attribute_values(":lease", number(lease_until));
            let mut writes = vec![TransactWriteItem::builder().update(mark.build().map_err(unbuilt)?).build()];
            // Turned off, or on again since (its watermark then starts later): theirs to keep.
            let settings = self.person_settings_item(agent).await?;
            if settings.daily_digest && settings.digest_through.is_none_or(|at| at < through) {
                let watermark = Update::builder()
                    .table_name(self.table())
                    .key(keys::PK, text(keys::agent_pk(agent)))
                    .key(keys::SK, text(keys::PERSON_SETTINGS_SK))
                    .update_expression("SET digest_through = :through, version = :next")
                    .expression_attribute_values(":through", text(keys::time(through)))
                    .expression_attribute_values(":next", number(settings.version + 1))
                    .when(Condition::version_is(Some(settings.version)));
                writes.push(TransactWriteItem::builder().update(watermark.build().map_err(unbuilt)?).build());
            }
            match self.transact(writes).await {
                Err(StoreError::Conflict) => {
                    let ours =
                        self.digest_day_item(agent, day).await?.is_some_and(|item| item.lease_until == lease_until);
                    if ours { Err(StoreError::Conflict) } else { Ok(Err(StoreError::Conflict)) }
                }
                other => other.map(Ok),
            }
        })
        .await?
    }

    /// Notes that a person's digest of `day` is still to be tried once the day's walk is done
    /// (another run held it, or it failed): an item of its own, so runs at once lose none.
    async fn note_digest_retry(&self, day: NaiveDate, agent: &AgentId) -> Result<(), StoreError> {
        let item = super::items::Item::from([
            (keys::PK.to_owned(), text(keys::digest_run_pk(day))),
            (keys::SK.to_owned(), text(keys::digest_retry_sk(agent))),
            ("agent_id".to_owned(), text(agent.as_str())),
            ("expires_at".to_owned(), number((Utc::now() + chrono::Duration::days(7)).timestamp())),
        ]);
        self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(failed)?;
        Ok(())
    }

    async fn digest_retries(&self, day: NaiveDate) -> Result<Vec<AgentId>, StoreError> {
        let items = self.query_prefix(keys::digest_run_pk(day), keys::DIGEST_RETRY_PREFIX).await?;
        Ok(items
            .iter()
            .filter_map(|item| item.get("agent_id")?.as_s().ok().and_then(|a| AgentId::parse(a).ok()))
            .collect())
    }

    async fn clear_digest_retry(&self, day: NaiveDate, agent: &AgentId) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::digest_run_pk(day)))
            .key(keys::SK, text(keys::digest_retry_sk(agent)))
            .send()
            .await
            .map_err(failed)?;
        Ok(())
    }

    /// What was flagged in `scope`'s list of `year` after `after` and up to `through` (archived
    /// entries aside): how many, and the newest `keep`.
    async fn flagged_between(
        &self,
        scope: &Scope,
        year: PlanYear,
        after: DateTime<Utc>,
        through: DateTime<Utc>,
        keep: usize,
    ) -> Result<Flagged, StoreError> {
        // The list's active rows, by when each was listed (flagged). `$` follows `#`: every key of
        // a time up to `through` is below `{year}#{through}$`.
        let year_prefix = keys::risk_year_prefix(year);
        let from = format!("{year_prefix}{}", keys::time(after + chrono::Duration::microseconds(1)));
        let to = format!("{year_prefix}{}$", keys::time(through));
        let query = self
            .query(Index::Gsi1, keys::risk_by_archived_gsi1pk(scope, false), SortKeys::Between(from, to))
            .scan_index_forward(false);
        // An agency's digest, like its list, leaves out the rows a move under way takes out of its
        // reach: never a client its admins may no longer see.
        let mut reach = match scope {
            Scope::Agency(agency) => Some(super::risk_lists::Reach::of(agency)),
            Scope::Agent(_) => None,
        };
        let mut flagged = Flagged::default();
        let mut newest = Vec::new();
        let mut start = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start).send().await.map_err(failed)?;
            let rows: Vec<RiskRow> =
                out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<_, _>>()?;
            let keeps = match &mut reach {
                Some(reach) => reach.keeps(self, &rows).await?,
                None => vec![true; rows.len()],
            };
            for (row, reached) in rows.into_iter().zip(keeps) {
                if !reached {
                    continue;
                }
                flagged.count += 1;
                if newest.len() < keep {
                    newest.push(row);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                // The newest as the list shows them: whose book, and which agency, by the
                // directory now (what the reach already read is not read again).
                let mut directory = reach.map(|reach| reach.directory).unwrap_or_default();
                flagged.newest = self.shown(newest, &mut directory).await?;
                return Ok(flagged);
            }
        }
    }

    async fn digest_run(&self, day: NaiveDate) -> Result<DigestRun, StoreError> {
        let item: Option<Item> = self.get_item(keys::digest_run_pk(day), keys::DIGEST_RUN_SK).await?;
        Ok(item
            .map(|item| DigestRun {
                position: item.get("position").and_then(|v| v.as_s().ok()).cloned(),
                done: item.get("done").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
            })
            .unwrap_or_default())
    }

    /// Saves how far a day's run got. Runs at once may save in any order: a position only moves
    /// forward.
    async fn save_digest_run(&self, day: NaiveDate, run: &DigestRun) -> Result<(), StoreError> {
        let mut update = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(keys::PK, text(keys::digest_run_pk(day)))
            .key(keys::SK, text(keys::DIGEST_RUN_SK))
            .expression_attribute_values(":done", AttributeValue::Bool(run.done))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N((Utc::now() + chrono::Duration::days(7)).timestamp().to_string()),
            );
        update = match &run.position {
            Some(position) => update
                .update_expression("SET #position = :position, done = :done, expires_at = :expires")
                .condition_expression("attribute_not_exists(#position) OR #position <= :position")
                .expression_attribute_names("#position", "position")
                .expression_attribute_values(":position", text(position)),
            None => update.update_expression("SET done = :done, expires_at = :expires"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // Another run is further on: its position stands.
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(failed(err)),
        }
    }
}

//! Directory jobs: after an agency or an agent changes which lists its rows are in (a move, a new
//! parent, its arrival), every entry with a row in its list is placed again. The invariant they
//! keep: while a change's rows are not all re-placed, its item carries the job's mark (`items::Job`,
//! with the position reached), so a crash, a time-out or a redelivery finishes the job from where
//! it got to, and the mark comes off only once every row is placed by the directory as it is now.
//! The agency lists hide what a job has not moved out yet (`risk_lists::Reach`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::dynamo::failed;
use super::dynamo::{Condition, Index, SortKeys, number, text};
use super::items::{AgencyItem, AgentItem, Job, Owner, RiskRow, RowFacts, from_item};
use super::keys;
use super::placement::{
    AlreadyRead, Held, PlacementBatch, PlacementItem, RowKey, RowsElsewhere, renamed, where_rows_may_be,
};
use super::{Store, StoreError};
use domain::Scope;
use domain::{AgentId, ApplicationKey};

/// How a run of a directory job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Out of time: its position is saved; running it again goes on from there.
    Paused,
    /// A newer change of the same agency or agent has its own job, which does this one's work.
    Superseded,
}

impl Store {
    /// The second half: re-places the rows below the agency and clears the mark. The mark stays
    /// until then: a crash in between leaves it, and the redelivered event finishes the job.
    pub async fn finish_agency_job(
        &self,
        item: &AgencyItem,
        until: Option<std::time::Instant>,
    ) -> Result<JobOutcome, StoreError> {
        let Some(job) = &item.job else { return Ok(JobOutcome::Done) };
        Box::pin(self.reparent_downline(&item.agency_id)).await?;
        // Its counters, filed under its parent (`child_counters`): its rows may all stay in its
        // list, so no placement of the job need touch them.
        self.refile_counters(&item.agency_id).await?;
        self.run_job(&item.pk, &item.sk, job, &Scope::Agency(item.agency_id.clone()), until).await
    }

    /// An agent's job: re-places their at-risk entries and clears the mark (see `finish_agency_job`).
    pub async fn finish_agent_job(
        &self,
        item: &AgentItem,
        until: Option<std::time::Instant>,
    ) -> Result<JobOutcome, StoreError> {
        let Some(job) = &item.job else { return Ok(JobOutcome::Done) };
        self.run_job(&item.pk, &item.sk, job, &Scope::Agent(item.agent_id.clone()), until).await
    }

    /// Places again every entry in `scope`'s list, and clears the job's mark once done.
    async fn run_job(
        &self,
        pk: &str,
        sk: &str,
        job: &Job,
        scope: &Scope,
        until: Option<std::time::Instant>,
    ) -> Result<JobOutcome, StoreError> {
        let outcome = Box::pin(self.re_place_list(scope, (pk, sk), job, until)).await?;
        if outcome == JobOutcome::Done {
            // The lists the rows left had their counters moved by placements that no longer
            // knew those agencies' parents, and a moved agency's own counters may have been filed
            // by a placement that read its path before the move: all filed again here, after the
            // last placement of the job (`child_counters`).
            let moved = match scope {
                Scope::Agency(agency) => Some(agency),
                Scope::Agent(_) => None,
            };
            for agency in job.from.iter().chain(moved) {
                self.refile_counters(agency).await?;
            }
            // A new version, so that a writer holding a copy read before (a move above it
            // rewriting its ancestors) cannot put the mark back. A newer upsert carries the mark
            // on under its own version, and its own job clears it.
            let cleared = self
                .update_if(
                    pk,
                    sk,
                    "REMOVE #job, gsi1pk, gsi1sk ADD #version :one",
                    Condition::new("#job.#jv = :jv")
                        .name("#job", "job")
                        .name("#jv", "version")
                        .name("#version", "version")
                        .value(":jv", number(job.version)),
                    vec![(":one", number(1))],
                )
                .await;
            match cleared {
                Err(StoreError::Conflict) => {}
                other => other?,
            }
        }
        Ok(outcome)
    }

    /// Re-places every entry that has a row in `scope`'s list (all plan years), a page at a time:
    /// the job after a directory change. Entries already placed right are read, not written. It
    /// starts where `job` says it got to, saves its position after every page, and pauses once
    /// `until` has passed (after one page at least, so every run makes progress).
    pub async fn re_place_list(
        &self,
        scope: &Scope,
        (job_pk, job_sk): (&str, &str),
        job: &Job,
        until: Option<std::time::Instant>,
    ) -> Result<JobOutcome, StoreError> {
        let list = keys::risk_pk(scope);
        let mut start = job
            .position
            .as_ref()
            .map(|sk| super::items::Item::from([(keys::PK.to_owned(), text(&list)), (keys::SK.to_owned(), text(sk))]));
        loop {
            let out = self
                .query(Index::Table, keys::risk_pk(scope), SortKeys::All)
                // Consistent: a placement that wrote its rows before this job's change was
                // accepted relies on the job to find them (see the module's docs).
                .consistent_read(true)
                .limit(self.job_page)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(failed)?;
            let rows = out.items.unwrap_or_default().into_iter().map(from_item::<RiskRow>).collect::<Result<_, _>>()?;
            // Boxed, as the placements below: a test's runtime polls the whole call on its stack.
            Box::pin(self.move_rows(rows)).await?;
            start = out.last_evaluated_key;
            let Some(position) = start.as_ref().and_then(|key| key.get(keys::SK)).and_then(|sk| sk.as_s().ok()) else {
                return Ok(JobOutcome::Done);
            };
            let saved = self
                .update_if(
                    job_pk,
                    job_sk,
                    "SET #job.#position = :position",
                    Condition::new("#job.#jv = :jv")
                        .name("#job", "job")
                        .name("#jv", "version")
                        .name("#position", "position"),
                    vec![(":jv", number(job.version)), (":position", text(position))],
                )
                .await;
            match saved {
                // A newer change of the same agency or agent took the job over.
                Err(StoreError::Conflict) => return Ok(JobOutcome::Superseded),
                other => other?,
            }
            if until.is_some_and(|until| std::time::Instant::now() >= until) {
                return Ok(JobOutcome::Paused);
            }
        }
    }

    /// Moves the entries of `rows` (a page of a list) into the lists their owners' paths call for
    /// now, from their rows as they are: a job changes where rows are, not what they say. A few
    /// transactions for the whole page, each row written only while it is as read, each list's
    /// counters moved once a transaction, no application's item checked: a placement racing the
    /// job meets it on the rows (a move that would only add rows holds one it leaves as it is).
    /// An entry whose rows do not all say the same, or a transaction that meets another writer or
    /// a newer directory, is placed from its application's entries instead, with every row found.
    async fn move_rows(&self, rows: Vec<RiskRow>) -> Result<(), StoreError> {
        let mut known = AlreadyRead::default();
        let mut entries: BTreeMap<(ApplicationKey, AgentId), Vec<RowKey>> = BTreeMap::new();
        for row in rows {
            let app = ApplicationKey { id: row.federal_exchange_id.clone(), year: row.plan_year };
            entries.entry((app, row.agent_id.clone())).or_default().push(row.key());
        }
        let agents: BTreeSet<AgentId> = entries.keys().map(|(_, agent)| agent.clone()).collect();
        known.owners = self.owner_items(agents).await?;
        let record_key = |(app, agent): &(ApplicationKey, AgentId)| {
            (keys::application_pk(app.year, &app.id), keys::placed_sk(agent))
        };
        let records: HashMap<(String, String), PlacementItem> = self
            .get_each(entries.keys().map(record_key).collect())
            .await?
            .into_iter()
            .map(|(key, item)| Ok((key, from_item::<PlacementItem>(item)?)))
            .collect::<Result<_, StoreError>>()?;
        let owner_of =
            |agent: &AgentId| known.owners.get(agent).cloned().unwrap_or_else(|| Owner::unknown(agent.clone()));
        let mut looked: BTreeMap<&(ApplicationKey, AgentId), BTreeSet<RowKey>> = BTreeMap::new();
        for (entry, page_keys) in &entries {
            let record = records.get(&record_key(entry));
            let mut keys = BTreeSet::new();
            for page_key in page_keys {
                keys.extend(where_rows_may_be(record, &owner_of(&entry.1), Some(&page_key.sk)));
            }
            // The rows read, wherever they are: one left behind is moved out too.
            keys.extend(page_keys.iter().cloned());
            looked.insert(entry, keys);
        }
        let found = self.rows_at(looked.values().flatten().cloned().collect()).await?;

        let mut unsettled: BTreeMap<ApplicationKey, RowsElsewhere> = BTreeMap::new();
        let mut batches: Vec<(PlacementBatch, BTreeMap<ApplicationKey, RowsElsewhere>)> = vec![Default::default()];
        for (entry, keys) in looked {
            let (app, agent) = entry;
            let owner = owner_of(agent);
            let found: Vec<RiskRow> = keys.iter().filter_map(|key| found.get(key).cloned()).collect();
            // What the rows say now (none left: placed since by someone else).
            let Some(facts) = found.first().map(RowFacts::of_row) else { continue };
            if found.iter().any(|other| RowFacts::of_row(other) != facts) {
                // Rows that disagree: a placement of another state under way, or cut short.
                let elsewhere = unsettled.entry(app.clone()).or_default();
                elsewhere.entry(agent.clone()).or_default().extend(found.iter().map(RiskRow::key));
                continue;
            }
            let record = records.get(&record_key(entry));
            let (rows, changes) =
                self.entry_changes(app, Some(&facts), &owner, &found, record, &mut known.visits).await?;
            if changes.is_empty() {
                continue;
            }
            let renamed = renamed(app, agent, record, &rows, &changes);
            let holds_a_row = changes.writes_over_found();
            // Where a placement after a conflict is to look besides: every row found or put.
            let mut seen: BTreeSet<RowKey> = found.iter().map(RiskRow::key).collect();
            seen.extend(changes.puts());
            let mut part = self.placement_part(app, renamed, &owner, changes, Held::Rows)?;
            if !holds_a_row {
                // Only rows added (an arrival): held to the owner's own row, left as it is, which
                // any placement changing what the entry says finds and rewrites or deletes.
                let own = keys::risk_pk(&Scope::Agent(agent.clone()));
                part.hold_row(self, found.iter().find(|row| row.pk == own).unwrap_or(&found[0]))?;
            }
            if batches.last().is_some_and(|(batch, _)| batch.is_full_for(&part)) {
                batches.push(Default::default());
            }
            if let Some((batch, moved)) = batches.last_mut() {
                batch.add(app, part);
                moved.entry(app.clone()).or_default().entry(agent.clone()).or_default().extend(seen);
            }
        }
        for (batch, moved) in batches {
            match batch.commit(self, &known.visits).await {
                Err(StoreError::Conflict) => {
                    for (app, elsewhere) in moved {
                        let placing = unsettled.entry(app).or_default();
                        for (agent, keys) in elsewhere {
                            placing.entry(agent).or_default().extend(keys);
                        }
                    }
                }
                other => {
                    other?;
                }
            }
        }
        for (app, elsewhere) in &unsettled {
            Box::pin(self.place_finding(app, &mut AlreadyRead::default(), elsewhere)).await?;
        }
        Ok(())
    }
}

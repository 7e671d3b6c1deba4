//! Directory jobs: after an agency or an agent changes which lists its rows are in (a move, a new
//! parent, its arrival), every entry with a row in its list is placed again. The invariant they
//! keep: while a change's rows are not all re-placed, its item carries the job's mark (`items::Job`,
//! with the position reached), so a crash, a time-out or a redelivery finishes the job from where
//! it got to, and the mark comes off only once every row is placed by the directory as it is now.
//! The agency lists hide what a job has not moved out yet (`risk_lists::Reach`).

use std::collections::BTreeSet;

use super::dynamo::failed;
use super::dynamo::{Condition, Index, SortKeys, number, text};
use super::items::{AgencyItem, AgentItem, Job, RiskRow, from_item};
use super::keys;
use super::placement::AlreadyRead;
use super::{Store, StoreError};
use domain::ApplicationKey;
use domain::Scope;

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
            let mut applications = BTreeSet::new();
            for item in out.items.unwrap_or_default() {
                let row: RiskRow = from_item(item)?;
                applications.insert(ApplicationKey { id: row.federal_exchange_id, year: row.plan_year });
            }
            let mut known = AlreadyRead::default();
            for app in &applications {
                self.place_with(app, &mut known).await?;
            }
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
}

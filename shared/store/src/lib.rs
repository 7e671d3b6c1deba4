//! The DynamoDB store: one table for everything (see `docs/table-design.md`). Items are converted
//! with `serde_dynamo`; keys are built only in `keys`.

pub mod applications;
mod child_counters;
pub mod conduct;
pub mod digests;
pub mod directory;
pub mod disputes;
mod dynamo;
pub mod exports;
#[cfg(feature = "tools")]
mod import;
pub mod items;
pub mod jobs;
pub mod keys;
pub mod notices;
pub mod outbox;
pub mod placement;
pub mod rate_slots;
pub mod risk_lists;
pub mod row_changes;
pub mod sync_due;
pub mod sync_slots;
pub mod unplaced;

pub use dynamo::MAX_TRANSACTION_ITEMS;
pub(crate) use ports::StoreError;

/// The table and the client to reach it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Placements cancelled by a newer state, since last taken (for the `PlacementConflicts` metric).
    placement_conflicts: std::sync::Arc<shared::metrics::Counter>,
    /// Rows a directory job re-places between saving its position and looking at the time.
    job_page: i32,
}

impl Store {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), placement_conflicts: Default::default(), job_page: 100 }
    }

    /// The same store with directory jobs that look at the time every `rows` rows: for tests that
    /// need jobs to pause and resume on small lists.
    #[cfg(feature = "tools")]
    pub fn with_job_page(mut self, rows: i32) -> Self {
        self.job_page = rows;
        self
    }

    /// The placements this store (and its clones) saw cancelled by a newer state since last asked.
    pub fn take_placement_conflicts(&self) -> u64 {
        self.placement_conflicts.take()
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// The SDK client itself, for tools that read the table whole (the checker, the tests).
    #[cfg(feature = "tools")]
    pub fn raw_client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }
}

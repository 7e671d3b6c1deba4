//! How a port fails: the one error every storage capability answers with.

use domain::AgencyId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB call failed: {context}")]
    Dynamo {
        /// The call's error with its whole chain, for the log.
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the transaction was cancelled: {0:?}")]
    Cancelled(Vec<String>),
    #[error("could not encode an item: {0}")]
    Encode(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("could not decode an item: {0}")]
    Decode(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A condition on the write failed: someone else wrote first. Read again and retry.
    #[error("the item changed since it was read")]
    Conflict,
    #[error("the application kept changing while being written; gave up after {0} attempts")]
    Contention(u32),
    #[error("the change needs {0} writes, more than one transaction holds")]
    TooLarge(usize),
    #[error("agency {0} cannot be placed under its own downline")]
    Cycle(AgencyId),
    #[error("agency {0} would be more than {max} levels deep", max = domain::MAX_AGENCY_DEPTH)]
    TooDeep(AgencyId),
    #[error("the cursor does not belong to this list")]
    BadCursor,
}

impl From<domain::TreeRefusal> for StoreError {
    fn from(refusal: domain::TreeRefusal) -> Self {
        match refusal {
            domain::TreeRefusal::Cycle(agency) => StoreError::Cycle(agency),
            domain::TreeRefusal::TooDeep(agency) => StoreError::TooDeep(agency),
        }
    }
}

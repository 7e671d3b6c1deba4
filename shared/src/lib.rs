//! What every function shares: the domain (values and the at-risk rules, pure), and the
//! DynamoDB store that keeps book entries, agencies and agents in one table.

pub mod aws;
pub mod backoff;
pub mod config;
pub mod deadline;
pub use domain;
#[cfg(feature = "email")]
pub mod email;
#[cfg(feature = "http")]
pub mod http;
pub mod links;
pub mod metrics;
pub mod ports;
#[cfg(feature = "queue")]
pub mod queue;
pub mod store;
pub mod telemetry;

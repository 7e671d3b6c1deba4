//! What every function shares besides the domain, the ports, the store and the HTTP edge (crates
//! of their own, see `docs/architecture.md`): settings, the AWS clients, logs and metrics, queues,
//! email, links, deadlines and the one backoff. The domain and the ports are re-exported, as every
//! function speaks them.

pub mod aws;
pub mod backoff;
pub mod config;
pub mod deadline;
pub use domain;
#[cfg(feature = "email")]
pub mod email;
pub mod links;
pub mod metrics;
pub mod notices;
pub use ports;
#[cfg(feature = "queue")]
pub mod queue;
pub mod story_pages;
pub mod telemetry;

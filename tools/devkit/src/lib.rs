//! Local development kit: creates the template's resources on the local AWS emulator and seeds
//! demo data. Used by `make dev` and by the integration tests, so both run on the same resources.

pub mod capacity;
pub mod inbox;
pub mod local_auth;
pub mod marketplace_sim;
pub mod migrate;
pub mod principals;
pub mod resources;
pub mod seed;
pub mod serve;
pub mod sqs_source;
pub mod table;
pub mod template;
pub mod verify;
pub mod web;

#[derive(Debug, thiserror::Error)]
pub enum DevkitError {
    #[error("template: {0}")]
    Template(String),
    #[error("AWS: {0}")]
    Aws(String),
    #[error(transparent)]
    Store(#[from] shared::ports::StoreError),
    #[error(transparent)]
    Invalid(#[from] shared::domain::InvalidValue),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Setting(#[from] shared::config::SettingError),
    #[error(transparent)]
    Start(#[from] sync_trigger::app::StartError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

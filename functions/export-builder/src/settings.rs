//! What `export-builder` is configured with, read from its environment.

use std::time::Duration;

use shared::config::{SettingError, Vars};

#[derive(Clone, Debug)]
pub struct Settings {
    pub table: String,
    pub bucket: String,
    pub dead_letter_queue_url: String,
    /// The exports queue itself: the sweep queues again an export whose message was lost.
    pub exports_queue_url: String,
    pub sender: String,
    /// Where the web page is served: the email's link opens `{it}/exports/{id}` there
    /// (`WEB_BASE_URL`; unset: the client details base URL, where the page is served).
    pub web_base_url: String,
    pub client_details_base_url: String,
    /// Days until the bucket's lifecycle rule deletes a file (the template's `ExportRetentionDays`).
    pub retention_days: i64,
    /// A builder's hold on an export; another may take over once it lapses. Longer than the
    /// function's time-out (a killed build's lease lapses soon after), shorter than the queue's
    /// visibility timeout (so a redelivery never meets a live lease): 840 < 870 < 900 s.
    pub lease: Duration,
    /// Rows read from the table at a time (`EXPORT_PAGE_SIZE`, default 200).
    pub page_size: u16,
    /// The queue's `maxReceiveCount`: the last delivery that can still fail before the DLQ.
    pub max_receives: u32,
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, SettingError> {
        let client_details_base_url = vars.required("CLIENT_DETAILS_BASE_URL")?;
        Ok(Self {
            table: vars.required("TABLE_NAME")?,
            bucket: vars.required("EXPORTS_BUCKET")?,
            dead_letter_queue_url: vars.required("EXPORTS_DLQ_URL")?,
            exports_queue_url: vars.required("EXPORTS_QUEUE_URL")?,
            sender: vars.required("SENDER_EMAIL")?,
            web_base_url: vars.optional("WEB_BASE_URL").unwrap_or_else(|| client_details_base_url.clone()),
            client_details_base_url,
            retention_days: vars.whole("EXPORT_RETENTION_DAYS", 7)?,
            lease: vars.seconds("EXPORT_LEASE_SECONDS", 870)?,
            page_size: vars.whole("EXPORT_PAGE_SIZE", 200)?,
            max_receives: vars.whole("EXPORTS_MAX_RECEIVES", 3)?,
        })
    }
}

//! The local inbox: the emails the system sent, as the emulator's SES kept them (served by
//! `tools/moto/serve.py` at `/_local/ses/messages`).

use serde::{Deserialize, Serialize};

use crate::DevkitError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    pub id: String,
    pub source: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The plain text part.
    pub body: String,
    /// The HTML part, when the email had one.
    #[serde(default)]
    pub html: Option<String>,
}

/// Every email sent through the emulator at `endpoint`, oldest first.
pub async fn sent(http: &reqwest::Client, endpoint: &str) -> Result<Vec<SentEmail>, DevkitError> {
    let url = format!("{}/_local/ses/messages", endpoint.trim_end_matches('/'));
    let fetched = http.get(url).send().await.map_err(|e| DevkitError::Aws(e.to_string()))?;
    fetched.json().await.map_err(|e| DevkitError::Aws(e.to_string()))
}

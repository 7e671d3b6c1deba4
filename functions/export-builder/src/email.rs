//! The email that tells the requester their export is ready (or why it is not). Plain text, so
//! that every mail client shows the same thing.

use shared::domain::{ExportJob, ExportStatus, FRAUD_HELP_DESK};
pub use shared::email::{Composed, send};
use shared::links::export_page_url;

/// The email for a finished export; its link opens the web page at `web_base_url`.
pub fn compose(job: &ExportJob, web_base_url: &str) -> Composed {
    let fraud = format!(
        "Suspect an AOR swap was fraud? Open the client's page and choose \"Prepare a report\" for the CMS Agent/Broker help desk ({FRAUD_HELP_DESK})."
    );
    match job.status {
        ExportStatus::Succeeded => Composed {
            subject: "Your AOR at-risk export is ready".into(),
            text: format!(
                "Your export of at-risk AOR entries is ready.\r\n\r\n\
                 Rows: {rows}\r\n\
                 Download: {link}\r\n\r\n\
                 The link opens the AOR at-risk page: sign in as yourself and the download starts. It opens nothing for anyone else, and the file is kept until {expiry}.\r\n\r\n\
                 {fraud}\r\n",
                rows = job.rows_written,
                link = export_page_url(web_base_url, job.export_id.as_str()),
                expiry = expiry_text(job.file_expires_at),
            ),
        },
        _ => Composed {
            subject: "Your AOR at-risk export could not be built".into(),
            text: format!(
                "We could not build your export of at-risk AOR entries ({id}).\r\n\r\n\
                 What went wrong: {reason}\r\n\r\n\
                 Please ask for a new export. If it fails again, contact support and quote {id}.\r\n\r\n\
                 {fraud}\r\n",
                id = job.export_id,
                reason = job.error.as_deref().unwrap_or("an unexpected error"),
            ),
        },
    }
}

/// When the file goes, as the email says it.
fn expiry_text(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map(|t| t.format("%B %-d, %Y").to_string()).unwrap_or_else(|| "a few days from now".into())
}

//! The email that tells the requester their export is ready (or why it is not): which list and
//! plan year, the rows, the link, and the CMS help desk — as plain text and as HTML.

use shared::domain::{ExportJob, ExportScope, ExportStatus, FRAUD_HELP_DESK};
pub use shared::email::{Composed, send};
use shared::email::{Letter, Part};
use shared::links::export_page_url;

/// The email for a finished export; its link opens the web page at `web_base_url`.
/// `agency_name` names an agency export's agency (its id when the directory has no name).
pub fn compose(job: &ExportJob, agency_name: Option<&str>, web_base_url: &str) -> Composed {
    let list = match &job.scope {
        ExportScope::Agent { .. } => "your book".to_owned(),
        ExportScope::Agency { agency_id } => {
            format!("{} and the agencies below it", agency_name.unwrap_or(agency_id.as_str()))
        }
        ExportScope::Disputes { agency_id } => {
            format!("the dispute cases of {} and the agencies below it", agency_name.unwrap_or(agency_id.as_str()))
        }
    };
    let year = job.plan_year;
    let fraud = Part::Text(format!(
        "Suspect an AOR swap was fraud? Open the client's page and choose \"Prepare a report\" for the CMS Agent/Broker help desk ({FRAUD_HELP_DESK})."
    ));
    let letter = match job.status {
        ExportStatus::Succeeded => Letter {
            subject: "Your AOR at-risk export is ready".into(),
            parts: vec![
                Part::Text(format!("Your export of the at-risk AOR entries in {list}, plan year {year}, is ready.")),
                Part::Facts(vec![
                    ("List".into(), list.clone()),
                    ("Plan year".into(), year.to_string()),
                    ("Rows".into(), job.rows_written.to_string()),
                    ("Kept until".into(), expiry_text(job.file_expires_at)),
                ]),
                Part::Link {
                    words: "Download the export".into(),
                    href: export_page_url(web_base_url, job.export_id.as_str()),
                },
                Part::Text(
                    "The link opens the AOR at-risk page: sign in as yourself and the download starts. It opens nothing for anyone else."
                        .into(),
                ),
                fraud,
            ],
        },
        _ => Letter {
            subject: "Your AOR at-risk export could not be built".into(),
            parts: vec![
                Part::Text(format!(
                    "We could not build your export of the at-risk AOR entries in {list}, plan year {year}."
                )),
                Part::Facts(vec![
                    ("Export".into(), job.export_id.to_string()),
                    ("What went wrong".into(), job.error.as_deref().unwrap_or("an unexpected error").to_owned()),
                ]),
                Part::Text(format!(
                    "Please ask for a new export. If it fails again, contact support and quote {}.",
                    job.export_id
                )),
                fraud,
            ],
        },
    };
    letter.compose()
}

/// When the file goes, as the email says it.
fn expiry_text(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map(|t| t.format("%B %-d, %Y").to_string()).unwrap_or_else(|| "a few days from now".into())
}

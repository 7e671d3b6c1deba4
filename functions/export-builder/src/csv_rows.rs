//! The export files' rows (SPEC §4): exact headers, `Archived` / `Not archived`, RFC 4180
//! quoting with CRLF line ends, UTF-8, and free-text cells neutralised against spreadsheet
//! formula injection.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use shared::domain::{Dispute, RiskEntry};
use shared::links::client_details_url;

pub const AGENT_HEADER: [&str; 3] = ["Federal Exchange ID", "Client Details Page URL", "Archived Status"];
pub const AGENCY_HEADER: [&str; 6] = [
    "Federal Exchange ID",
    "Client Details Page URL",
    "Archived Status",
    "Agency Name",
    "Agent Name",
    "Agent Email Address",
];

/// A tree's dispute cases (no note: free text, never exported).
pub const DISPUTES_HEADER: [&str; 13] = [
    "Dispute ID",
    "Federal Exchange ID",
    "Client Details Page URL",
    "Plan Year",
    "Agent ID",
    "Agent Name",
    "Status",
    "Opened At",
    "Closed At",
    "Age in Days",
    "Channels",
    "Reference",
    "Other NPN",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Agent,
    Agency,
    Disputes,
}

/// Writes rows into a growing byte buffer, which the caller drains into upload parts.
pub struct RowWriter {
    layout: Layout,
    client_details_base_url: String,
    csv: csv::Writer<Sink>,
    sink: Sink,
}

/// The bytes written so far, shared between the CSV writer and whoever drains them (a mutex, not
/// a `RefCell`, so that a build can move between threads at its await points).
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn bytes(&self) -> MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.bytes().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl RowWriter {
    /// A writer that has written the header row.
    pub fn new(layout: Layout, client_details_base_url: &str) -> Self {
        let sink = Sink::default();
        let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(sink.clone());
        let header: &[&str] = match layout {
            Layout::Agent => &AGENT_HEADER,
            Layout::Agency => &AGENCY_HEADER,
            Layout::Disputes => &DISPUTES_HEADER,
        };
        csv.write_record(header).expect("writing to memory cannot fail");
        Self { layout, client_details_base_url: client_details_base_url.to_owned(), csv, sink }
    }

    pub fn write(&mut self, row: &RiskEntry) {
        let url =
            client_details_url(&self.client_details_base_url, row.federal_exchange_id.as_str(), row.plan_year.get());
        let archived = if row.archived { "Archived" } else { "Not archived" };
        let id = row.federal_exchange_id.as_str();
        let result = match self.layout {
            Layout::Agent | Layout::Disputes => self.csv.write_record([id, url.as_str(), archived]),
            Layout::Agency => self.csv.write_record([
                id,
                url.as_str(),
                archived,
                &neutralise(row.agency_name.as_ref().map_or("", |n| n.as_str())),
                &neutralise(row.agent_name.as_ref().map_or("", |n| n.as_str())),
                &neutralise(row.agent_email.as_ref().map_or("", |e| e.as_str())),
            ]),
        };
        result.expect("writing to memory cannot fail");
    }

    /// One dispute case (`Layout::Disputes`), its owner named `agent_name` where known.
    pub fn write_dispute(&mut self, case: &Dispute, agent_name: Option<&str>, now: DateTime<Utc>) {
        let url =
            client_details_url(&self.client_details_base_url, case.federal_exchange_id.as_str(), case.plan_year.get());
        let time = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let channels: Vec<&str> = case.channels.iter().map(|c| c.as_str()).collect();
        let result = self.csv.write_record([
            case.dispute_id.as_str(),
            case.federal_exchange_id.as_str(),
            url.as_str(),
            &case.plan_year.to_string(),
            case.agent_id.as_str(),
            &neutralise(agent_name.unwrap_or("")),
            case.status.as_str(),
            &time(case.opened_at),
            &case.closed_at.map(time).unwrap_or_default(),
            &case.age_days(now).to_string(),
            &channels.join(" "),
            &neutralise(case.reference.as_deref().unwrap_or("")),
            case.other_npn.as_ref().map_or("", |n| n.as_str()),
        ]);
        result.expect("writing to memory cannot fail");
    }

    /// Takes what has been written so far, leaving the buffer empty.
    pub fn take(&mut self) -> Vec<u8> {
        self.csv.flush().expect("flushing to memory cannot fail");
        std::mem::take(&mut *self.sink.bytes())
    }

    /// Bytes ready to take (the CSV writer may hold a few more kilobytes until the next flush).
    pub fn buffered(&self) -> usize {
        self.sink.bytes().len()
    }
}

/// A cell a spreadsheet would read as a formula gets a leading apostrophe, which spreadsheets
/// show as text and do not evaluate: one that starts with a tab or a carriage return, or whose
/// first character after any leading whitespace is `= + - @` or one of their full-width forms
/// (some spreadsheets skip the spaces, and fold full-width forms to the ASCII ones).
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    let starts_a_formula = |c: char| matches!(c, '=' | '+' | '-' | '@' | '＝' | '＋' | '－' | '＠');
    let risky = cell.starts_with(['\t', '\r']) || cell.trim_start().chars().next().is_some_and(starts_a_formula);
    if risky { format!("'{cell}").into() } else { cell.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised_and_nothing_else_is() {
        let risky = [
            "=1+1",
            "+1",
            "-1",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "  =1+1",
            " \t+1",
            "\u{a0}-1",
            "\n@x",
            "＝1+1",
            "＋1",
            "－1",
            "＠SUM(A1)",
            "  ＝1",
        ];
        for cell in risky {
            assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
        }
        for safe in ["Ana", "O'Brien", "", "1=1", "  Ana", "Ana =1", "'=1"] {
            assert_eq!(neutralise(safe), safe, "{safe:?}");
        }
    }

    #[test]
    fn names_that_would_start_a_formula_are_written_as_text_byte_for_byte() {
        use shared::domain::{AgencyId, AgentId, Email, FederalExchangeId, Name, PlanYear, Reason};
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T14:30:00Z").unwrap().to_utc();
        let row = |agent_name: &str, agency_name: &str| RiskEntry {
            scope: shared::domain::Scope::Agent(AgentId::parse("ana").unwrap()),
            federal_exchange_id: FederalExchangeId::parse("0042").unwrap(),
            plan_year: PlanYear::parse(2026).unwrap(),
            client_name: Name::parse("Client").unwrap(),
            last_synced_at: None,
            at_risk_since: at,
            listed_at: at,
            reason: Reason::MarketplaceAorMismatch,
            other_npn: None,
            archived: false,
            agent_id: AgentId::parse("ana").unwrap(),
            agent_name: Some(Name::parse(agent_name).unwrap()),
            agent_email: Some(Email::parse("ana@example.com").unwrap()),
            agency_id: Some(AgencyId::parse("north").unwrap()),
            agency_name: Some(Name::parse(agency_name).unwrap()),
        };
        let mut writer = RowWriter::new(Layout::Agency, "https://app.example.com");
        writer.take();
        writer.write(&row("  =HYPERLINK(\"x\")", "＋North"));
        writer.write(&row("－1", " @SUM(A1)"));
        assert_eq!(
            String::from_utf8(writer.take()).unwrap(),
            "0042,https://app.example.com/clients/0042?plan_year=2026,Not archived,'＋North,\"'  =HYPERLINK(\"\"x\"\")\",ana@example.com\r\n\
             0042,https://app.example.com/clients/0042?plan_year=2026,Not archived,' @SUM(A1),'－1,ana@example.com\r\n"
        );
    }

    #[test]
    fn a_file_with_no_rows_is_the_header_alone() {
        let mut agent = RowWriter::new(Layout::Agent, "https://app.example.com");
        assert_eq!(agent.take(), b"Federal Exchange ID,Client Details Page URL,Archived Status\r\n");
        let mut agency = RowWriter::new(Layout::Agency, "https://app.example.com");
        assert_eq!(
            String::from_utf8(agency.take()).unwrap(),
            "Federal Exchange ID,Client Details Page URL,Archived Status,Agency Name,Agent Name,Agent Email Address\r\n"
        );
    }
}

/// Property tests of a parser of outside input, here the cells: `PROPTEST_CASES` cases each.
#[cfg(test)]
mod fuzz {
    use super::*;

    proptest::proptest! {
        /// Whatever a name holds, the cell is the name, or the name behind one apostrophe when a
        /// spreadsheet would otherwise start a formula; never anything a formula could start.
        #[test]
        fn no_cell_can_start_a_formula(cell in "\\PC{0,12}") {
            let out = neutralise(&cell);
            let quoted = format!("'{}", cell);
            proptest::prop_assert!(out == cell || out == quoted);
            let visible = out.trim_start();
            let first = visible.chars().next();
            proptest::prop_assert!(
                out.starts_with('\'') || !matches!(first, Some('=' | '+' | '-' | '@' | '＝' | '＋' | '－' | '＠')),
                "{out:?}"
            );
            proptest::prop_assert!(out.starts_with('\'') || !out.starts_with(['\t', '\r']));
        }
    }
}

//! What a digest says: how many entries became at risk in the person's list, the newest ten (the
//! client, the Federal Exchange ID, why, when), and a link to the list.

use chrono::{DateTime, Utc};
use shared::domain::{FRAUD_HELP_DESK, Reason};
use shared::email::Composed;
use shared::ports::Flagged;

/// Whose list a digest is about, as its email names it.
pub enum Whose<'a> {
    Book,
    Agency(&'a str),
}

pub fn compose(whose: &Whose<'_>, flagged: &Flagged, since: DateTime<Utc>, link: &str) -> Composed {
    let n = flagged.count;
    let entries = if n == 1 { "1 entry".to_owned() } else { format!("{n} entries") };
    let place = match whose {
        Whose::Book => "your book".to_owned(),
        Whose::Agency(name) => format!("{name} and the agencies below it"),
    };
    let mut text = format!(
        "{entries} became at risk in {place} since {since} (UTC): another agent may have taken the client.\r\n\r\n",
        since = since.format("%B %-d, %Y %H:%M"),
    );
    for row in &flagged.newest {
        text.push_str(&format!(
            "- {client} · Federal Exchange ID {id} · {why} · {when}\r\n",
            client = row.client_name,
            id = row.federal_exchange_id,
            why = reason_text(row.reason),
            when = row.flagged_at.format("%b %-d, %H:%M UTC"),
        ));
    }
    if n > flagged.newest.len() {
        text.push_str(&format!("…and {} more.\r\n", n - flagged.newest.len()));
    }
    text.push_str(&format!(
        "\r\nOpen the list: {link}\r\n\r\n\
         Suspect an AOR swap was fraud? Open the client's page and choose \"Prepare a report\" for the CMS Agent/Broker help desk ({FRAUD_HELP_DESK}).\r\n\r\n\
         You get this email because you turned on the daily digest; turn it off under \"My settings\" on the page.\r\n"
    ));
    Composed { subject: format!("AOR at-risk digest: {entries} newly at risk"), text }
}

fn reason_text(reason: Reason) -> &'static str {
    match reason {
        Reason::PlatformSubmission => "submitted by another NPN",
        Reason::MarketplaceAorMismatch => "the marketplace shows another AOR",
        Reason::EdePermissionRevoked => "EDE permission revoked",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_counts_all_names_the_newest_and_links_to_the_list() {
        let flagged = Flagged { count: 12, newest: Vec::new() };
        let since = DateTime::parse_from_rfc3339("2026-11-26T13:00:00Z").unwrap().to_utc();
        let mail = compose(&Whose::Agency("Summit"), &flagged, since, "https://app.example.com/#at-risk:summit");
        assert_eq!(mail.subject, "AOR at-risk digest: 12 entries newly at risk");
        assert!(mail.text.starts_with(
            "12 entries became at risk in Summit and the agencies below it since November 26, 2026 13:00"
        ));
        assert!(mail.text.contains("…and 12 more."));
        assert!(mail.text.contains("Open the list: https://app.example.com/#at-risk:summit"));
    }
}

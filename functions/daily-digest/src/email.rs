//! What a digest says: how many entries became at risk in the person's list, the newest ten (the
//! client, the Federal Exchange ID, why, when, and in an agency's digest whose book and which
//! agency), the plan year, a link to the list and the CMS help desk; in an admin's, the spikes of
//! their own agents' takes found since the last — as plain text and as HTML.

use chrono::{DateTime, Utc};
use shared::domain::Dispute;
use shared::domain::disputes::REMINDER_DAYS;
use shared::domain::{FRAUD_HELP_DESK, PlanYear, Reason, RiskEntry};
use shared::email::{Composed, Letter, Part};
use shared::ports::{Flagged, TakerSpike};

/// Whose list a digest is about, as its email names it.
pub enum Whose<'a> {
    Book,
    Agency(&'a str),
}

/// A spike of an agent's takes, with how the digest names the agent (their name, or their id).
pub struct NamedSpike {
    pub agent: String,
    pub spike: TakerSpike,
}

/// What a digest names since the last: the entries flagged in the list, and (an admin's) the
/// spikes of the tree's agents' takes recorded.
pub struct News<'a> {
    pub flagged: &'a Flagged,
    pub spikes: &'a [NamedSpike],
    /// Dispute cases open 14 days (28, …) without a change.
    pub quiet_cases: &'a [Dispute],
}

/// Where a digest's links go: the list, and the home with the agents' conduct.
pub struct Links<'a> {
    pub list: &'a str,
    pub home: &'a str,
    /// The page's base: a client's page is `{it}/clients/{id}?plan_year=`.
    pub clients: &'a str,
}

/// `years`: the plan years served (the current one, and during open enrollment the coming one).
pub fn compose(
    whose: &Whose<'_>,
    news: &News<'_>,
    since: DateTime<Utc>,
    years: &[PlanYear],
    links: &Links<'_>,
) -> Composed {
    let flagged = news.flagged;
    let n = flagged.count;
    let entries = if n == 1 { "1 entry".to_owned() } else { format!("{n} entries") };
    let place = match whose {
        Whose::Book => "your book".to_owned(),
        Whose::Agency(name) => format!("{name} and the agencies below it"),
    };
    let several = years.len() > 1;
    let mut items: Vec<String> = flagged.newest.iter().map(|row| line(whose, row, several)).collect();
    let years = match years {
        [one] => format!("plan year {one}"),
        _ => format!("plan years {}", years.iter().map(ToString::to_string).collect::<Vec<_>>().join(" and ")),
    };
    if n > flagged.newest.len() {
        items.push(format!("…and {} more.", n - flagged.newest.len()));
    }
    let since = since.format("%B %-d, %Y %H:%M");
    let spikes = match news.spikes.len() {
        1 => "1 spike of takes".to_owned(),
        k => format!("{k} spikes of takes"),
    };
    let mut parts = Vec::new();
    if n > 0 {
        parts.extend([
            Part::Text(format!(
                "{entries} became at risk in {place}, {years}, since {since} (UTC): another agent may have taken the client."
            )),
            Part::Items(items),
            Part::Link { words: "Open the list".into(), href: links.list.to_owned() },
            Part::Text(format!(
                "Suspect an AOR swap was fraud? Open the client's page and choose \"Prepare a report\" for the CMS Agent/Broker help desk ({FRAUD_HELP_DESK})."
            )),
        ]);
    }
    if !news.spikes.is_empty() {
        parts.extend([
            Part::Text(format!(
                "{spikes} by agents of {place} since {since} (UTC): a week in which an agent took far more entries from other books than before."
            )),
            Part::Items(news.spikes.iter().map(spike_line).collect()),
            Part::Link { words: "See your agents' conduct".into(), href: links.home.to_owned() },
        ]);
    }
    if !news.quiet_cases.is_empty() {
        parts.push(Part::Text(format!(
            "{} in {place} open {REMINDER_DAYS} days or more without a change: is the AOR back, or is it time to chase?",
            match news.quiet_cases.len() {
                1 => "1 dispute case".to_owned(),
                k => format!("{k} dispute cases"),
            }
        )));
        for case in news.quiet_cases {
            let href = shared::links::client_details_url(
                links.clients,
                case.federal_exchange_id.as_str(),
                case.plan_year.get(),
            );
            parts.push(Part::Link { words: case_line(case), href });
        }
    }
    parts.push(Part::Text(
        "You get this email because you turned on the daily digest; turn it off under \"My settings\" on the page."
            .into(),
    ));
    let mut news_in_subject = Vec::new();
    if n > 0 {
        news_in_subject.push(format!("{entries} newly at risk"));
    }
    if !news.spikes.is_empty() {
        news_in_subject.push(if n == 0 { format!("{spikes} by your agents") } else { spikes });
    }
    if !news.quiet_cases.is_empty() {
        news_in_subject.push(match news.quiet_cases.len() {
            1 => "1 dispute case to chase".to_owned(),
            k => format!("{k} dispute cases to chase"),
        });
    }
    let subject = format!("AOR at-risk digest: {}", news_in_subject.join(", "));
    Letter { subject, parts }.compose()
}

/// One quiet case: which entry, since when, through where.
fn case_line(case: &Dispute) -> String {
    let channels: Vec<&str> = case.channels.iter().map(|c| channel_text(*c)).collect();
    let mut line = format!(
        "Federal Exchange ID {id}, plan year {year}: disputed since {opened} through {channels}",
        id = case.federal_exchange_id,
        year = case.plan_year,
        opened = case.opened_at.format("%b %-d"),
        channels = channels.join(", "),
    );
    if let Some(reference) = &case.reference {
        line.push_str(&format!(" (reference {reference})"));
    }
    line
}

fn channel_text(channel: shared::domain::Channel) -> &'static str {
    match channel {
        shared::domain::Channel::CmsHelpDesk => "the CMS help desk",
        shared::domain::Channel::Carrier => "the carrier",
        shared::domain::Channel::StateDoi => "the state department of insurance",
    }
}

/// One spike: the agent, their NPN, the week and how far above their usual.
fn spike_line(named: &NamedSpike) -> String {
    let spike = &named.spike;
    format!(
        "{agent} (NPN {npn}) took {takes} entries in week {week} of plan year {year}; the median of the eight weeks before was {median}",
        agent = named.agent,
        npn = spike.npn,
        takes = spike.takes,
        week = spike.week,
        year = spike.plan_year,
        median = spike.median_before,
    )
}

/// One entry: the client, why, when, in an agency's digest whose book it is in and where, and the
/// plan year when the digest covers several.
fn line(whose: &Whose<'_>, row: &RiskEntry, several_years: bool) -> String {
    let mut line = format!(
        "{client} · Federal Exchange ID {id} · {why}",
        client = row.client_name,
        id = row.federal_exchange_id,
        why = reason_text(row.reason),
    );
    if let Whose::Agency(_) = whose {
        let agent = row.agent_name.as_ref().map_or_else(|| row.agent_id.to_string(), ToString::to_string);
        let agency = row
            .agency_name
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| row.agency_id.as_ref().map(ToString::to_string));
        match agency {
            Some(agency) => line.push_str(&format!(" · {agency}, book of {agent}")),
            None => line.push_str(&format!(" · book of {agent}")),
        }
    }
    if several_years {
        line.push_str(&format!(" · plan year {}", row.plan_year));
    }
    line.push_str(&format!(" · {}", row.listed_at.format("%b %-d, %H:%M UTC")));
    line
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

    fn entries_only(
        whose: &Whose<'_>,
        flagged: &Flagged,
        since: DateTime<Utc>,
        years: &[PlanYear],
        list: &str,
    ) -> Composed {
        let links = Links { list, home: "https://app.example.com/#home", clients: "https://app.example.com" };
        compose(whose, &News { flagged, spikes: &[], quiet_cases: &[] }, since, years, &links)
    }

    #[test]
    fn an_admins_digest_names_the_spikes_of_their_agents_takes_with_or_without_new_entries() {
        use shared::domain::{AgencyId, AgentId, Npn};
        let at = DateTime::parse_from_rfc3339("2026-11-27T09:30:00Z").unwrap().to_utc();
        let year = PlanYear::parse(2026).unwrap();
        let spike = TakerSpike {
            plan_year: year,
            agent_id: AgentId::parse("carl").unwrap(),
            npn: Npn::parse("333").unwrap(),
            agency_path: vec![AgencyId::parse("summit").unwrap()],
            week: "2026-W48".into(),
            takes: 7,
            median_before: 1.5,
            recorded_at: at,
        };
        let spikes = [NamedSpike { agent: "Carl Ito".into(), spike }];
        let links = Links {
            list: "https://app.example.com/#at-risk:summit",
            home: "https://app.example.com/#home",
            clients: "https://app.example.com",
        };
        let nothing = Flagged::default();
        let mail = compose(
            &Whose::Agency("Summit"),
            &News { flagged: &nothing, spikes: &spikes, quiet_cases: &[] },
            at,
            &[year],
            &links,
        );
        assert_eq!(mail.subject, "AOR at-risk digest: 1 spike of takes by your agents");
        assert!(
            mail.text.contains("Carl Ito (NPN 333) took 7 entries in week 2026-W48 of plan year 2026; the median of the eight weeks before was 1.5"),
            "{}",
            mail.text
        );
        assert!(!mail.text.contains("Open the list"), "no entries, no list: {}", mail.text);
        assert!(
            mail.html.contains("<a href=\"https://app.example.com/#home\">See your agents&#39; conduct</a>"),
            "{}",
            mail.html
        );
        let some = Flagged { count: 2, newest: Vec::new() };
        let both = compose(
            &Whose::Agency("Summit"),
            &News { flagged: &some, spikes: &spikes, quiet_cases: &[] },
            at,
            &[year],
            &links,
        );
        assert_eq!(both.subject, "AOR at-risk digest: 2 entries newly at risk, 1 spike of takes");
    }

    #[test]
    fn a_digest_counts_all_names_the_newest_and_links_to_the_list() {
        let flagged = Flagged { count: 12, newest: Vec::new() };
        let since = DateTime::parse_from_rfc3339("2026-11-26T13:00:00Z").unwrap().to_utc();
        let year = PlanYear::parse(2026).unwrap();
        let mail =
            entries_only(&Whose::Agency("Summit"), &flagged, since, &[year], "https://app.example.com/#at-risk:summit");
        assert_eq!(mail.subject, "AOR at-risk digest: 12 entries newly at risk");
        assert!(mail.text.starts_with(
            "12 entries became at risk in Summit and the agencies below it, plan year 2026, since November 26, 2026 13:00"
        ));
        assert!(mail.text.contains("…and 12 more."));
        assert!(mail.text.contains("Open the list: https://app.example.com/#at-risk:summit"));
        assert!(mail.html.contains("<a href=\"https://app.example.com/#at-risk:summit\">Open the list</a>"));
    }

    #[test]
    fn an_agency_digest_names_each_entrys_agency_and_agent_and_a_book_digest_does_not() {
        use shared::domain::{AgencyId, AgentId, FederalExchangeId, Name, Scope};
        let at = DateTime::parse_from_rfc3339("2026-11-27T09:30:00Z").unwrap().to_utc();
        let year = PlanYear::parse(2026).unwrap();
        let row = RiskEntry {
            scope: Scope::Agency(AgencyId::parse("summit").unwrap()),
            federal_exchange_id: FederalExchangeId::parse("0042").unwrap(),
            plan_year: year,
            client_name: Name::parse("Zoë O'Brien").unwrap(),
            last_synced_at: None,
            at_risk_since: at,
            listed_at: at,
            reason: Reason::PlatformSubmission,
            other_npn: None,
            archived: false,
            agent_id: AgentId::parse("ana").unwrap(),
            agent_name: Some(Name::parse("Ana Díaz").unwrap()),
            agent_email: None,
            agency_id: Some(AgencyId::parse("summit-east").unwrap()),
            agency_name: Some(Name::parse("Summit East").unwrap()),
        };
        let flagged = Flagged { count: 1, newest: vec![row] };
        let agency = entries_only(&Whose::Agency("Summit"), &flagged, at, &[year], "https://app.example.com/");
        assert!(
            agency.text.contains(
                "- Zoë O'Brien · Federal Exchange ID 0042 · submitted by another NPN · Summit East, book of Ana Díaz · Nov 27, 09:30 UTC\r\n"
            ),
            "{}",
            agency.text
        );
        assert!(agency.html.contains("<li>Zoë O&#39;Brien · Federal Exchange ID 0042"), "{}", agency.html);
        let book = entries_only(&Whose::Book, &flagged, at, &[year], "https://app.example.com/");
        assert!(!book.text.contains("Summit East") && !book.text.contains("book of"), "{}", book.text);
        // In open enrollment a digest covers both years, and says which each entry is of.
        let coming = PlanYear::parse(2027).unwrap();
        let both = entries_only(&Whose::Book, &flagged, at, &[year, coming], "https://app.example.com/");
        assert!(both.text.contains("in your book, plan years 2026 and 2027, since"), "{}", both.text);
        assert!(both.text.contains("submitted by another NPN · plan year 2026 · Nov 27"), "{}", both.text);
    }
}

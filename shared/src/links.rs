//! The links the system gives out. One place, so the list, the exports and the emails agree.

/// The client details page of an application: where list items and export rows point.
pub fn client_details_url(base: &str, federal_exchange_id: &str, plan_year: u16) -> String {
    format!("{}/clients/{federal_exchange_id}?plan_year={plan_year}", base.trim_end_matches('/'))
}

/// Where an export's email sends its requester: the web page, not the API. A browser following
/// a link from a mail client carries no bearer token; the page signs the person in first, then asks
/// the API (which checks that the caller is the requester) for a short-lived link to the file.
pub fn export_page_url(web_base: &str, export_id: &str) -> String {
    format!("{}/exports/{export_id}", web_base.trim_end_matches('/'))
}

/// A list on the web page: a person's own book, or an agency's tree.
pub fn list_page_url(web_base: &str, agency: Option<&str>) -> String {
    match agency {
        None => format!("{}/#at-risk", web_base.trim_end_matches('/')),
        Some(agency) => format!("{}/#at-risk:{agency}", web_base.trim_end_matches('/')),
    }
}

/// The web page's home: an admin's shows their agency's figures, swap patterns and conduct.
pub fn home_page_url(web_base: &str) -> String {
    format!("{}/#home", web_base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_do_not_double_their_slashes() {
        assert_eq!(
            client_details_url("https://app.example.com/", "007", 2026),
            "https://app.example.com/clients/007?plan_year=2026"
        );
        assert_eq!(export_page_url("https://app.example.com/", "exp-1"), "https://app.example.com/exports/exp-1");
        assert_eq!(list_page_url("https://app.example.com/", Some("north")), "https://app.example.com/#at-risk:north");
    }
}

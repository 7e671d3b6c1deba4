//! The daily digest's rules: whose list a person's digest covers, and which day a run is for.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::values::Role;

/// Whose entries a person's digest covers: their own book, or (admins only) their agency's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestScope {
    #[default]
    Book,
    Agency,
}

impl DigestScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Book => "book",
            Self::Agency => "agency",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "book" => Some(Self::Book),
            "agency" => Some(Self::Agency),
            _ => None,
        }
    }

    /// What the digest covers for someone in `role` now: an agency tree only while they are an
    /// admin (someone who stopped being one gets their own book).
    pub fn for_role(self, role: Role) -> Self {
        match (self, role) {
            (Self::Agency, Role::AgencyAdmin) => Self::Agency,
            _ => Self::Book,
        }
    }
}

/// A person's digest settings: whether they get the daily digest, of which list, and from when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestSettings {
    pub daily_digest: bool,
    pub digest_scope: DigestScope,
    /// The digest covers entries flagged after this: when it was turned on, then the end of the
    /// last digest.
    pub digest_through: Option<DateTime<Utc>>,
}

/// What a person asks to change; `None` leaves it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub daily_digest: Option<bool>,
    pub digest_scope: Option<DigestScope>,
}

impl DigestSettings {
    /// These settings with `change` made at `now`. Turning the digest on starts it from now: the
    /// first digest names what is flagged after that, not a year's backlog.
    pub fn changed(self, change: SettingsChange, now: DateTime<Utc>) -> Self {
        let mut next = self;
        if let Some(on) = change.daily_digest {
            if on && !self.daily_digest {
                next.digest_through = Some(now);
            }
            next.daily_digest = on;
        }
        if let Some(scope) = change.digest_scope {
            next.digest_scope = scope;
        }
        next
    }
}

/// The day a digest run at `now` is for: the UTC date. One digest per person per such day.
pub fn digest_day(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}

/// How many entries a digest names; the rest it counts.
pub const DIGEST_ENTRIES: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_admin_gets_the_agency_tree() {
        assert_eq!(DigestScope::Agency.for_role(Role::AgencyAdmin), DigestScope::Agency);
        assert_eq!(DigestScope::Agency.for_role(Role::Agent), DigestScope::Book);
        assert_eq!(DigestScope::Book.for_role(Role::AgencyAdmin), DigestScope::Book);
        for scope in [DigestScope::Book, DigestScope::Agency] {
            assert_eq!(DigestScope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(DigestScope::parse("tree"), None);
    }
}

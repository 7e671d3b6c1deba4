//! Validated values: each can only be built through `parse`, so an invalid one cannot exist past
//! the edge of the system. Values that are personal data print as `<redacted>` in `Debug`, so a
//! stray `{:?}` in a log line cannot leak them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a raw value was refused: which field, and what is wrong with it. Never echoes the value,
/// which may be personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub problem: &'static str,
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, field = $field:literal, check = $check:path, debug = $debug:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: impl Into<String>) -> Result<Self, InvalidValue> {
                let raw = raw.into();
                $check(&raw).map_err(|problem| InvalidValue { field: $field, problem })?;
                Ok(Self(raw))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        text_value!(@debug $name, $debug);
    };
    (@debug $name:ident, shown) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
    (@debug $name:ident, redacted) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(<redacted>)", stringify!($name))
            }
        }
    };
}

text_value!(
    /// The FFM application id: ASCII digits only, any length up to 32, leading zeros kept.
    FederalExchangeId, field = "federal_exchange_id", check = check_digits::<32>, debug = shown
);
text_value!(
    /// National Producer Number: 1 to 10 ASCII digits.
    Npn, field = "npn", check = check_digits::<10>, debug = shown
);
text_value!(
    /// The platform's id of an agent.
    AgentId, field = "agent_id", check = check_key_part, debug = shown
);
text_value!(
    /// The platform's id of an agency.
    AgencyId, field = "agency_id", check = check_key_part, debug = shown
);
text_value!(
    /// Identifies one piece of evidence (a submission id, an event id, a sync id), so that the
    /// same evidence delivered twice is recognised.
    EvidenceId, field = "evidence_id", check = check_key_part, debug = shown
);
text_value!(
    /// Identifies one export (this system makes them: UUIDs).
    ExportId, field = "export_id", check = check_key_part, debug = shown
);
text_value!(
    /// An email address, loosely validated (one `@`, a dotted domain, no spaces). Personal data.
    Email, field = "email", check = check_email, debug = redacted
);
text_value!(
    /// A person's name (a client, an agent) or an agency's name. Personal data.
    Name, field = "name", check = check_name, debug = redacted
);

fn check_digits<const MAX: usize>(raw: &str) -> Result<(), &'static str> {
    if raw.is_empty() {
        return Err("must not be empty");
    }
    if raw.len() > MAX {
        return Err("is too long");
    }
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must contain digits only");
    }
    Ok(())
}

/// Ids become parts of DynamoDB keys joined by `#`, so they are limited to a safe alphabet.
fn check_key_part(raw: &str) -> Result<(), &'static str> {
    if raw.is_empty() {
        return Err("must not be empty");
    }
    if raw.len() > 128 {
        return Err("is too long");
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')) {
        return Err("may contain only letters, digits, '-', '_', '.' and ':'");
    }
    Ok(())
}

fn check_email(raw: &str) -> Result<(), &'static str> {
    if raw.len() > 254 {
        return Err("is too long");
    }
    let Some((local, domain)) = raw.split_once('@') else {
        return Err("must contain '@'");
    };
    let well_formed = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if well_formed { Ok(()) } else { Err("is not a valid email address") }
}

fn check_name(raw: &str) -> Result<(), &'static str> {
    if raw.trim().is_empty() {
        return Err("must not be blank");
    }
    if raw.chars().count() > 200 {
        return Err("is too long");
    }
    if raw.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters");
    }
    Ok(())
}

/// The benefit year an application covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct PlanYear(u16);

impl PlanYear {
    /// The marketplace opened in 2014; anything outside 2014..=2100 is a typo, not a plan year.
    pub fn parse(raw: u16) -> Result<Self, InvalidValue> {
        if (2014..=2100).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(InvalidValue { field: "plan_year", problem: "must be between 2014 and 2100" })
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for PlanYear {
    type Error = InvalidValue;
    fn try_from(raw: u16) -> Result<Self, Self::Error> {
        Self::parse(raw)
    }
}

impl From<PlanYear> for u16 {
    fn from(value: PlanYear) -> u16 {
        value.0
    }
}

impl fmt::Display for PlanYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which application: the same Federal Exchange ID in another plan year is another application.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApplicationKey {
    pub id: FederalExchangeId,
    pub year: PlanYear,
}

/// What a person may do: an agent sees their own book; an agency admin also their agency's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    AgencyAdmin,
}

impl Role {
    /// The one reading of a role, wherever it comes from (a token, a platform event).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        match raw {
            "agent" => Ok(Self::Agent),
            "agency_admin" => Ok(Self::AgencyAdmin),
            _ => Err(InvalidValue { field: "role", problem: "must be agent or agency_admin" }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::AgencyAdmin => "agency_admin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_federal_exchange_id_keeps_its_leading_zeros() {
        let id = FederalExchangeId::parse("0001234").unwrap();
        assert_eq!(id.as_str(), "0001234");
    }

    #[test]
    fn a_federal_exchange_id_with_anything_but_digits_is_refused() {
        for raw in ["", "12a4", " 123", "12-3", "１２３"] {
            assert!(FederalExchangeId::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn an_npn_is_one_to_ten_digits() {
        assert!(Npn::parse("1").is_ok());
        assert!(Npn::parse("1234567890").is_ok());
        assert!(Npn::parse("12345678901").is_err());
        assert!(Npn::parse("12 34").is_err());
    }

    #[test]
    fn ids_cannot_contain_the_key_separator() {
        assert!(AgentId::parse("agent-1").is_ok());
        assert!(AgentId::parse("agent#1").is_err());
        assert!(AgencyId::parse("").is_err());
    }

    #[test]
    fn emails_need_an_at_and_a_dotted_domain() {
        assert!(Email::parse("ana@example.com").is_ok());
        for raw in ["ana", "ana@", "@example.com", "ana@example", "a na@example.com", "a@b@c.com"] {
            assert!(Email::parse(raw).is_err(), "{raw:?} was accepted");
        }
    }

    #[test]
    fn personal_values_are_redacted_in_debug_output() {
        let email = Email::parse("ana@example.com").unwrap();
        let name = Name::parse("Ana Díaz").unwrap();
        assert!(!format!("{email:?}").contains("ana"));
        assert!(!format!("{name:?}").contains("Ana"));
    }

    #[test]
    fn plan_years_outside_the_marketplace_era_are_refused() {
        assert!(PlanYear::parse(2026).is_ok());
        assert!(PlanYear::parse(2013).is_err());
        assert!(PlanYear::parse(2101).is_err());
    }

    #[test]
    fn values_deserialize_through_their_validation() {
        assert!(serde_json::from_str::<FederalExchangeId>("\"12x\"").is_err());
        let id: FederalExchangeId = serde_json::from_str("\"007\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"007\"");
    }

    proptest! {
        #[test]
        fn any_string_of_digits_is_a_federal_exchange_id(raw in "[0-9]{1,32}") {
            let id = FederalExchangeId::parse(raw.clone()).unwrap();
            prop_assert_eq!(id.as_str(), raw.as_str());
        }

        #[test]
        fn no_string_with_a_non_digit_is_a_federal_exchange_id(raw in "[0-9]{0,5}[^0-9][0-9]{0,5}") {
            prop_assert!(FederalExchangeId::parse(raw).is_err());
        }
    }
}

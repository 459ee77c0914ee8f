//! Value types for the people and organizations Rapport knows, each with one validating
//! constructor.

use super::validation::FieldError;

/// A trimmed, lower-cased e-mail address (the login name of a person).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Accepts `local@domain` with a dot in the domain, no spaces or control characters, at
    /// most 254 bytes (RFC 5321). Deliverability is not our business; typos mostly are.
    pub fn parse(raw: &str, pointer: &str) -> Result<Self, FieldError> {
        let address = raw.trim().to_lowercase();
        let valid = address.len() <= 254
            && !address.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(address.split_once('@'), Some((local, domain))
                if !local.is_empty() && local.len() <= 64 && !domain.contains('@')
                    && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'));
        if valid {
            Ok(Self(address))
        } else {
            Err(FieldError::new(pointer, "must be an e-mail address such as name@example.org"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organization's display name: 1–200 characters after trimming, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationName(String);

impl OrganizationName {
    pub fn parse(raw: &str, pointer: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(FieldError::new(pointer, "must be 1 to 200 characters without control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password a person chose: long enough to resist guessing, short enough to hash cheaply.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

impl NewPassword {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(raw: &str, pointer: &str) -> Result<Self, FieldError> {
        let chars = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(FieldError::new(
                pointer,
                format!("must be {} to {} characters long", Self::MIN_CHARS, Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_trimmed_and_lower_cased() {
        assert_eq!(EmailAddress::parse("  Ana@Clinic.Example ", "/email").unwrap().as_str(), "ana@clinic.example");
    }

    #[test]
    fn malformed_email_addresses_are_refused_with_their_pointer() {
        for bad in ["", "ana", "ana@", "@clinic.org", "ana@clinic", "a b@clinic.org", "a@b@c.org", "ana@.org"] {
            let error = EmailAddress::parse(bad, "/email").unwrap_err();
            assert_eq!(error.pointer, "/email", "{bad}");
        }
    }

    #[test]
    fn organization_names_must_be_short_and_printable() {
        assert!(OrganizationName::parse("Northside Counselling", "/name").is_ok());
        assert!(OrganizationName::parse("   ", "/name").is_err());
        assert!(OrganizationName::parse(&"x".repeat(201), "/name").is_err());
        assert!(OrganizationName::parse("a\u{0}b", "/name").is_err());
    }

    #[test]
    fn passwords_need_twelve_characters_and_never_print() {
        assert!(NewPassword::parse("short", "/password").is_err());
        let password = NewPassword::parse("correct horse battery", "/password").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}

//! SMART on FHIR system scopes (docs/integration.md, "SMART Backend Services"): what a backend
//! service's token may do on the FHIR API. A scope names a resource type (or `*`) and
//! interactions: v2 letters `c` create, `r` read, `u` update, `d` delete, `s` search, in that
//! order (`system/Observation.rs`), or the v1 words `read` (= `rs`), `write` (= `cud`) and `*`.

use std::collections::BTreeMap;
use std::fmt;

/// One FHIR interaction a scope can grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interaction {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Interaction {
    const ALL: [Interaction; 5] =
        [Interaction::Create, Interaction::Read, Interaction::Update, Interaction::Delete, Interaction::Search];

    fn letter(self) -> char {
        match self {
            Interaction::Create => 'c',
            Interaction::Read => 'r',
            Interaction::Update => 'u',
            Interaction::Delete => 'd',
            Interaction::Search => 's',
        }
    }
}

/// A set of interactions, kept as the SMART v2 letters in canonical order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interactions(u8);

impl Interactions {
    fn bit(interaction: Interaction) -> u8 {
        1 << (interaction as u8)
    }

    pub fn of(interactions: &[Interaction]) -> Self {
        Self(interactions.iter().fold(0, |bits, i| bits | Self::bit(*i)))
    }

    pub fn contains(self, interaction: Interaction) -> bool {
        self.0 & Self::bit(interaction) != 0
    }

    fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `cruds` letters, in order; `None` when they are out of order, repeated or unknown.
    fn parse_letters(text: &str) -> Option<Self> {
        let mut bits = 0u8;
        let mut last: Option<Interaction> = None;
        for letter in text.chars() {
            let interaction = Interaction::ALL.into_iter().find(|i| i.letter() == letter)?;
            if last.is_some_and(|previous| previous >= interaction) {
                return None;
            }
            bits |= Self::bit(interaction);
            last = Some(interaction);
        }
        (bits != 0).then_some(Self(bits))
    }

    fn parse(text: &str) -> Option<Self> {
        use Interaction::*;
        match text {
            "read" => Some(Self::of(&[Read, Search])),
            "write" => Some(Self::of(&[Create, Update, Delete])),
            "*" => Some(Self::of(&Interaction::ALL)),
            letters => Self::parse_letters(letters),
        }
    }
}

impl fmt::Display for Interactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Interaction::ALL.into_iter().filter(|i| self.contains(*i)).try_for_each(|i| write!(f, "{}", i.letter()))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    #[error("`{0}` is not a SMART system scope (system/<Resource>.<cruds>)")]
    Malformed(String),
    #[error("no requested scope can be granted to this account")]
    NothingGrantable,
}

/// Granted system scopes: per resource type, the interactions allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(BTreeMap<String, Interactions>);

impl Scopes {
    /// Parses a space-separated `scope` parameter or claim. Only `system/` scopes mean anything
    /// to a backend service; any other kind, or a malformed one, is refused.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let mut granted: BTreeMap<String, Interactions> = BTreeMap::new();
        for scope in text.split_ascii_whitespace() {
            let malformed = || ScopeError::Malformed(scope.chars().take(100).collect());
            let rest = scope.strip_prefix("system/").ok_or_else(malformed)?;
            // v2 scopes may carry a query (`?category=…`); Rapport grants none narrower than a type.
            let (resource, interactions) = rest.split_once('.').ok_or_else(malformed)?;
            let valid_resource = resource == "*"
                || (resource.starts_with(|c: char| c.is_ascii_uppercase())
                    && resource.len() <= 64
                    && resource.chars().all(|c| c.is_ascii_alphanumeric()));
            let interactions = Interactions::parse(interactions).filter(|_| valid_resource).ok_or_else(malformed)?;
            let entry = granted.entry(resource.to_owned()).or_default();
            *entry = entry.union(interactions);
        }
        Ok(Self(granted))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The interactions allowed on `resource`, through its own scope or `*`.
    fn on(&self, resource: &str) -> Interactions {
        let named = self.0.get(resource).copied().unwrap_or_default();
        named.union(self.0.get("*").copied().unwrap_or_default())
    }

    pub fn allows(&self, resource: &str, interaction: Interaction) -> bool {
        self.on(resource).contains(interaction)
    }

    /// What may be granted of `self` (requested) given what the server `supports` per
    /// resource type: a wildcard becomes the supported types it covers. Refused when nothing is left.
    pub fn grant(&self, supports: &[(&str, Interactions)]) -> Result<Scopes, ScopeError> {
        let mut granted = BTreeMap::new();
        for (resource, supported) in supports {
            let allowed = self.on(resource).intersection(*supported);
            if !allowed.is_empty() {
                granted.insert((*resource).to_owned(), allowed);
            }
        }
        if granted.is_empty() { Err(ScopeError::NothingGrantable) } else { Ok(Scopes(granted)) }
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (resource, interactions) in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "system/{resource}.{interactions}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Interaction::*;
    use super::*;

    fn supports() -> Vec<(&'static str, Interactions)> {
        vec![
            ("Observation", Interactions::of(&[Read, Search])),
            ("Questionnaire", Interactions::of(&[Read, Search])),
            ("QuestionnaireResponse", Interactions::of(&[Create, Read, Search])),
        ]
    }

    #[test]
    fn v2_scopes_are_granted_as_far_as_they_are_supported() {
        let requested =
            Scopes::parse("system/QuestionnaireResponse.cruds system/Observation.rs system/Questionnaire.rs").unwrap();
        let granted = requested.grant(&supports()).unwrap();
        assert_eq!(
            granted.to_string(),
            "system/Observation.rs system/Questionnaire.rs system/QuestionnaireResponse.crs"
        );
        assert!(granted.allows("QuestionnaireResponse", Create));
        assert!(!granted.allows("QuestionnaireResponse", Update));
        assert!(!granted.allows("Observation", Create));
    }

    #[test]
    fn v1_words_and_wildcards_expand() {
        let granted = Scopes::parse("system/*.read").unwrap().grant(&supports()).unwrap();
        assert_eq!(
            granted.to_string(),
            "system/Observation.rs system/Questionnaire.rs system/QuestionnaireResponse.rs"
        );
        let written = Scopes::parse("system/QuestionnaireResponse.write").unwrap().grant(&supports()).unwrap();
        assert_eq!(written.to_string(), "system/QuestionnaireResponse.c");
    }

    #[test]
    fn a_granted_scope_string_parses_back_to_the_same_grant() {
        let granted = Scopes::parse("system/*.*").unwrap().grant(&supports()).unwrap();
        assert_eq!(Scopes::parse(&granted.to_string()).unwrap(), granted);
    }

    #[test]
    fn malformed_and_non_system_scopes_are_refused() {
        for bad in [
            "patient/Observation.rs",
            "system/Observation",
            "system/Observation.sr",
            "system/Observation.rr",
            "system/observation.rs",
            "system/Observation.x",
            "openid",
            "system/.rs",
        ] {
            assert!(matches!(Scopes::parse(bad), Err(ScopeError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn a_request_for_nothing_supported_is_refused() {
        let requested = Scopes::parse("system/Patient.rs system/Observation.c").unwrap();
        assert_eq!(requested.grant(&supports()), Err(ScopeError::NothingGrantable));
        assert_eq!(Scopes::parse("").unwrap().grant(&supports()), Err(ScopeError::NothingGrantable));
    }
}

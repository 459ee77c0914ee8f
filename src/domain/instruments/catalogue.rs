//! An organization's instruments by key, at their current version: what analytics ask when
//! they meet a stored response (whose row names its instrument by key), so the meaning of a
//! form is always read from its definition.

use super::definition::{InstrumentDefinition, Rater};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    /// In a stable order: the built-ins' order, then custom instruments by key.
    definitions: Vec<InstrumentDefinition>,
    index: BTreeMap<String, usize>,
}

impl Catalogue {
    pub fn new(definitions: impl IntoIterator<Item = InstrumentDefinition>) -> Self {
        let definitions: Vec<InstrumentDefinition> = definitions.into_iter().collect();
        let index = definitions.iter().enumerate().map(|(i, d)| (d.key.clone(), i)).collect();
        Self { definitions, index }
    }

    /// The built-in instruments alone.
    pub fn builtin() -> Self {
        Self::new(super::builtin::all())
    }

    pub fn get(&self, key: &str) -> Option<&InstrumentDefinition> {
        self.index.get(key).map(|&i| &self.definitions[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &InstrumentDefinition> {
        self.definitions.iter()
    }

    fn keys_where(&self, test: impl Fn(&InstrumentDefinition) -> bool) -> Vec<&str> {
        self.definitions.iter().filter(|d| test(d)).map(|d| d.key.as_str()).collect()
    }

    /// SRS and CSRS: the session-by-session alliance ratings.
    pub fn session_alliance_keys(&self) -> Vec<&str> {
        self.keys_where(InstrumentDefinition::is_session_alliance)
    }

    /// ORS and CORS: outcome measures given every session.
    pub fn session_outcome_keys(&self) -> Vec<&str> {
        self.keys_where(InstrumentDefinition::is_session_outcome)
    }

    /// Every measure with an outcome rule (ORS, CORS, PHQ-9, GAD-7, and custom ones).
    pub fn outcome_keys(&self) -> Vec<&str> {
        self.keys_where(|d| d.outcome().is_some())
    }

    /// Whether `key` is a session alliance rating given by the client (what the alliance
    /// series, its rollups and rupture rules read).
    pub fn is_client_session_alliance(&self, key: &str, rater: Rater) -> bool {
        rater == Rater::Client && self.get(key).is_some_and(InstrumentDefinition::is_session_alliance)
    }

    /// The client and therapist forms of each working-alliance pair, as `(client, therapist)`.
    pub fn working_alliance_pairs(&self) -> Vec<(&str, &str)> {
        self.definitions
            .iter()
            .filter(|d| d.raters == [Rater::Client])
            .filter_map(|d| {
                let other = self.get(d.counterpart()?)?;
                other.raters.contains(&Rater::Therapist).then_some((d.key.as_str(), other.key.as_str()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalogue_answers_by_role_not_by_name() {
        let catalogue = Catalogue::builtin();
        assert_eq!(catalogue.session_alliance_keys(), ["srs", "csrs"]);
        assert_eq!(catalogue.session_outcome_keys(), ["ors", "cors"]);
        assert_eq!(catalogue.outcome_keys(), ["ors", "cors", "phq-9", "gad-7"]);
        assert_eq!(catalogue.working_alliance_pairs(), [("wai-sr", "wai-sr-t")]);
        assert!(catalogue.is_client_session_alliance("csrs", Rater::Client));
        assert!(!catalogue.is_client_session_alliance("srs", Rater::Therapist));
        assert!(!catalogue.is_client_session_alliance("ors", Rater::Client));
        assert!(catalogue.get("nope").is_none());
    }
}

//! A client (a person in care) as Rapport knows them: an identifier from the EHR, the age group
//! that chooses the ORS cutoff, and optional details. Every field has one validating parser.

use super::validation::{Errors, FieldError, external_id, plain_text, pointer_token};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgeGroup {
    /// 18 and over.
    Adult,
    /// 13–17.
    Adolescent,
    /// 6–12.
    Child,
}

impl AgeGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            AgeGroup::Adult => "adult",
            AgeGroup::Adolescent => "adolescent",
            AgeGroup::Child => "child",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [AgeGroup::Adult, AgeGroup::Adolescent, AgeGroup::Child].into_iter().find(|g| g.as_str() == raw)
    }
}

pub const MAX_ATTRIBUTES: usize = 50;

/// A new client, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientDetails {
    pub external_id: String,
    pub age_group: AgeGroup,
    pub display_name: Option<String>,
    pub birth_year: Option<i32>,
    pub attributes: Map<String, Value>,
}

/// The raw fields of a client as they arrive.
pub struct RawClient<'a> {
    pub external_id: &'a str,
    pub age_group: AgeGroup,
    pub display_name: Option<&'a str>,
    pub birth_year: Option<i32>,
    pub attributes: Option<&'a Map<String, Value>>,
}

impl ClientDetails {
    pub fn parse(raw: RawClient<'_>, current_year: i32) -> Result<Self, Vec<FieldError>> {
        let mut errors = Errors::default();
        let external_id = errors.take(external_id(raw.external_id, "/external_id"));
        let display_name = raw.display_name.map(|name| errors.take(display_name(name))).unwrap_or(None);
        let birth_year = raw.birth_year.and_then(|year| errors.take(birth_year(year, current_year)));
        let attributes = match raw.attributes {
            Some(map) => attributes(map).map_err(|mut e| errors.0.append(&mut e)).unwrap_or_default(),
            None => Map::new(),
        };
        errors.finish(|| Self {
            external_id: external_id.unwrap_or_default(),
            age_group: raw.age_group,
            display_name,
            birth_year,
            attributes,
        })
    }
}

pub fn display_name(raw: &str) -> Result<String, FieldError> {
    plain_text(raw, 200, "/display_name")
}

/// A birth year from 1900 to this year.
pub fn birth_year(year: i32, current_year: i32) -> Result<i32, FieldError> {
    if (1900..=current_year).contains(&year) {
        Ok(year)
    } else {
        Err(FieldError::new("/birth_year", format!("must be a year from 1900 to {current_year}")))
    }
}

/// Organization-declared attributes: at most 50, keys `[a-z0-9_]{1,64}`, values short strings,
/// numbers or booleans (they are grouping labels, not free text).
pub fn attributes(map: &Map<String, Value>) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if map.len() > MAX_ATTRIBUTES {
        errors.push(FieldError::new("/attributes", format!("must have at most {MAX_ATTRIBUTES} entries")));
    }
    let mut clean = Map::new();
    for (key, value) in map {
        let pointer = format!("/attributes/{}", pointer_token(key));
        let key_ok = (1..=64).contains(&key.len())
            && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            errors.push(FieldError::new(&pointer, "attribute names are 1–64 of a-z, 0-9 and _"));
            continue;
        }
        match value {
            Value::String(text) => match plain_text(text, 200, &pointer) {
                Ok(text) => {
                    clean.insert(key.clone(), Value::String(text));
                }
                Err(error) => errors.push(error),
            },
            Value::Number(_) | Value::Bool(_) => {
                clean.insert(key.clone(), value.clone());
            }
            _ => errors.push(FieldError::new(&pointer, "must be a string, a number or a boolean")),
        }
    }
    if errors.is_empty() { Ok(clean) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw<'a>(external_id: &'a str, attributes: Option<&'a Map<String, Value>>) -> RawClient<'a> {
        RawClient { external_id, age_group: AgeGroup::Adult, display_name: None, birth_year: None, attributes }
    }

    #[test]
    fn a_valid_client_parses() {
        let attributes = json!({"cultural_group": "Métis", "veteran": true}).as_object().unwrap().clone();
        let client = ClientDetails::parse(raw(" MRN-1 ", Some(&attributes)), 2026).unwrap();
        assert_eq!(client.external_id, "MRN-1");
        assert_eq!(client.attributes["veteran"], json!(true));
    }

    #[test]
    fn every_bad_field_is_reported_with_its_pointer() {
        let attributes = json!({"Bad Key": 1, "nested": {"a": 1}}).as_object().unwrap().clone();
        let input = RawClient {
            external_id: "",
            age_group: AgeGroup::Child,
            display_name: Some("\u{0}"),
            birth_year: Some(1850),
            attributes: Some(&attributes),
        };
        let errors = ClientDetails::parse(input, 2026).unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            ["/external_id", "/display_name", "/birth_year", "/attributes/Bad Key", "/attributes/nested"]
        );
    }

    #[test]
    fn the_birth_year_may_be_this_year_but_not_next_year() {
        assert!(birth_year(2026, 2026).is_ok());
        assert!(birth_year(2027, 2026).is_err());
    }
}

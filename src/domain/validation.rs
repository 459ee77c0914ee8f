//! What a failed parse reports: one entry per bad field, located by a JSON pointer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a [`FieldError`]'s pointer points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// The JSON request body (the default, left out of the answer).
    #[default]
    Body,
    /// The query string, read as an object of parameter name → value (`/from`).
    Query,
    /// The path parameters, read as an object of parameter name → value (`/id`).
    Path,
    /// A line of a text body that is not JSON (a WebVTT transcript): the pointer is `/<line>`,
    /// counted from 1.
    Line,
}

impl Location {
    fn is_body(&self) -> bool {
        *self == Location::Body
    }
}

/// One bad field of a request, located by a JSON pointer (RFC 6901).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON pointer to the bad value, e.g. `/answers/relationship`; with `in`, into the query
    /// or path parameters (`/from`).
    pub pointer: String,
    pub detail: String,
    /// `query`, `path` or `line` when the pointer is not into the JSON body.
    #[serde(rename = "in", skip_serializing_if = "Location::is_body")]
    pub location: Location,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), detail: detail.into(), location: Location::Body }
    }

    /// A bad query parameter.
    pub fn query(name: &str, detail: impl Into<String>) -> Self {
        Self { pointer: format!("/{}", pointer_token(name)), detail: detail.into(), location: Location::Query }
    }

    /// A bad line of a text body.
    pub fn line(line: usize, detail: impl Into<String>) -> Self {
        Self { pointer: format!("/{line}"), detail: detail.into(), location: Location::Line }
    }

    /// A bad path parameter.
    pub fn path(name: &str, detail: impl Into<String>) -> Self {
        Self { pointer: format!("/{}", pointer_token(name)), detail: detail.into(), location: Location::Path }
    }
}

/// Escapes one reference token of a JSON pointer (RFC 6901 §3).
pub fn pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A short piece of plain text: trimmed, 1 to `max_chars` characters, no control characters
/// (NUL bytes included: PostgreSQL refuses them in text).
pub fn plain_text(raw: &str, max_chars: usize, pointer: &str) -> Result<String, FieldError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(FieldError::new(pointer, "must not be empty"));
    }
    if text.chars().count() > max_chars {
        return Err(FieldError::new(pointer, format!("must be at most {max_chars} characters")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FieldError::new(pointer, "must not contain control characters"));
    }
    Ok(text.to_owned())
}

/// An identifier from another system (an EHR's record number, a staff id): 1–128 visible
/// characters, no spaces at either end, no control characters.
pub fn external_id(raw: &str, pointer: &str) -> Result<String, FieldError> {
    let id = plain_text(raw, 128, pointer)?;
    if id.contains(['\n', '\t']) {
        return Err(FieldError::new(pointer, "must be a single line"));
    }
    Ok(id)
}

/// A lowercase machine word, as the service writes them: a letter `a`–`z`, then up to
/// `max_len - 1` of `a`–`z`, `0`–`9` and `extra`. The OpenAPI patterns of the filters that
/// take one say the same (`^[a-z][a-z0-9<extra>]{0,max_len-1}$`).
pub fn is_machine_word(text: &str, extra: &[char], max_len: usize) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && text.len() <= max_len
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(&c))
}

/// An instrument key such as `srs` or `phq9` (`^[a-z][a-z0-9_-]{0,63}$`).
pub fn is_instrument_key(text: &str) -> bool {
    is_machine_word(text, &['_', '-'], 64)
}

/// Collects the errors of several field parses: all of them are reported at once.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|error| self.0.push(error)).ok()
    }

    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() { Ok(value()) } else { Err(self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_words_are_lowercase_ascii_from_a_letter() {
        assert!(is_instrument_key("srs") && is_instrument_key("wai-sr_t2"));
        for bad in ["", "SRS", "1srs", "srs\u{0}", "sr s", "é", &"a".repeat(65)] {
            assert!(!is_instrument_key(bad), "{bad:?}");
        }
        assert!(is_machine_word("analytics.alliance.read", &['_', '.'], 100));
        assert!(!is_machine_word("client-read", &['_', '.'], 100));
    }

    #[test]
    fn plain_text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(plain_text("  Ana  ", 10, "/n").unwrap(), "Ana");
        assert!(plain_text("", 10, "/n").is_err());
        assert!(plain_text("abcdefghijk", 10, "/n").is_err());
        assert_eq!(plain_text("a\u{0}b", 10, "/n").unwrap_err().pointer, "/n");
        assert!(external_id("MRN\n1", "/e").is_err());
    }

    #[test]
    fn pointer_tokens_escape_tilde_before_slash() {
        assert_eq!(pointer_token("a/b~c"), "a~1b~0c");
    }
}

/// Whole numbers as JSON Schema reads them: `4` and `4.0` are both the integer 4 (a number
/// with a zero fractional part is an integer), `4.5` is not. serde alone refuses `4.0` for an
/// integer field, which would refuse requests the contract allows.
/// Use with `#[serde(deserialize_with = "whole_number")]`.
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    struct Visitor<T>(std::marker::PhantomData<T>);
    impl<T: TryFrom<i64>> serde::de::Visitor<'_> for Visitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<T, E> {
            T::try_from(value).map_err(|_| E::custom(format!("{value} is out of range")))
        }
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<T, E> {
            i64::try_from(value)
                .map_err(|_| E::custom(format!("{value} is out of range")))
                .and_then(|v| self.visit_i64(v))
        }
        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<T, E> {
            if value.fract() != 0.0 || !value.is_finite() || value.abs() > 9.0e15 {
                return Err(E::custom(format!("{value} is not a whole number")));
            }
            // Exact: a whole f64 below 2^53 converts to i64 without loss.
            self.visit_i64(value as i64)
        }
    }
    deserializer.deserialize_any(Visitor(std::marker::PhantomData))
}

/// [`whole_number`] for optional fields: `null` or absent is `None`.
/// Use with `#[serde(default, deserialize_with = "optional_whole_number")]`.
pub fn optional_whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    #[derive(serde::Deserialize)]
    struct Whole<T: TryFrom<i64>>(#[serde(deserialize_with = "whole_number")] T);
    Ok(Option::<Whole<T>>::deserialize(deserializer)?.map(|Whole(value)| value))
}

/// [`whole_number`] for PATCH fields that tell absent (`None`) from `null` (`Some(None)`).
/// Use with `#[serde(default, deserialize_with = "nullable_whole_number")]`.
pub fn nullable_whole_number<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    optional_whole_number(deserializer).map(Some)
}

#[cfg(test)]
mod whole_number_tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Form {
        #[serde(deserialize_with = "whole_number")]
        n: i32,
        #[serde(default, deserialize_with = "optional_whole_number")]
        m: Option<i32>,
    }

    #[test]
    fn an_integral_float_is_a_whole_number_and_a_fraction_is_not() {
        let form: Form = serde_json::from_str(r#"{"n": 4.0, "m": null}"#).unwrap();
        assert_eq!((form.n, form.m), (4, None));
        let form: Form = serde_json::from_str(r#"{"n": -3, "m": 7.0}"#).unwrap();
        assert_eq!((form.n, form.m), (-3, Some(7)));
        assert!(serde_json::from_str::<Form>(r#"{"n": 4.5}"#).is_err());
        assert!(serde_json::from_str::<Form>(r#"{"n": 2147483648}"#).is_err());
        assert!(serde_json::from_str::<Form>(r#"{"n": "4"}"#).is_err());
    }
}

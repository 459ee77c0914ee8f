//! What a failed parse reports: one entry per bad field, located by a JSON pointer.

use serde::Serialize;
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
    /// `query` or `path` when the pointer is not into the body.
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

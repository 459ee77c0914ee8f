//! A query-string extractor whose every failure names the parameter: 400 `invalid_query` with
//! `errors: [{"pointer": "/from", "in": "query", "detail": "…"}]`. Unknown parameters are
//! refused (`deny_unknown_fields` on every query type), so a typo never silently widens a search.

use super::located::locate;
use crate::error::{ApiError, FieldError};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::{Ready, ready};
use serde::de::DeserializeOwned;

/// A parsed query string of type `T`.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(parse_query(request.query_string()).map(Query))
    }
}

/// Parses a raw (percent-encoded) query string as `T`.
pub fn parse_query<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(raw.as_bytes());
    let deserializer = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let (pointer, detail) = locate(&path_pointer(&path), &message);
        let name = pointer.trim_start_matches('/').to_owned();
        ApiError::InvalidParameters { code: "invalid_query", errors: vec![FieldError::query(&name, detail)] }
    })
}

/// serde_path_to_error writes a top-level field as `name` (and `.` for the root).
fn path_pointer(path: &str) -> String {
    match path {
        "." | "" => String::new(),
        name => format!("/{}", name.split('.').next().unwrap_or(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        limit: Option<i64>,
        from: Option<crate::domain::time::Timestamp>,
        group_by: String,
    }

    fn error_of(raw: &str) -> FieldError {
        match parse_query::<Filter>(raw).unwrap_err() {
            ApiError::InvalidParameters { errors, .. } => errors[0].clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_value_is_named_by_its_parameter() {
        let error = error_of("group_by=x&limit=abc");
        assert_eq!((error.pointer.as_str(), error.location), ("/limit", crate::domain::validation::Location::Query));
    }

    #[test]
    fn an_out_of_range_date_names_its_parameter() {
        let error = error_of("group_by=x&from=-262143-01-01T00:00:00Z");
        assert_eq!(error.pointer, "/from");
        assert!(error.detail.contains("1900"), "{}", error.detail);
    }

    #[test]
    fn unknown_and_missing_parameters_are_named() {
        assert_eq!(error_of("group_by=x&limt=3").pointer, "/limt");
        assert_eq!(error_of("limit=3").pointer, "/group_by");
    }

    #[test]
    fn a_good_query_parses() {
        let filter: Filter = parse_query("group_by=month&limit=5&from=2026-01-01T00:00:00Z").unwrap();
        assert_eq!((filter.limit, filter.group_by.as_str()), (Some(5), "month"));
    }
}

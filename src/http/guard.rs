//! Refuses, once and for every route (matched or not), what no path or query parameter of this
//! API can mean: a NUL character (`%00`), which PostgreSQL cannot store in text, or bytes that
//! are not UTF-8 once percent-decoded; and, for every operation, a query parameter it does not
//! declare. Bodies are checked by the JSON extractor
//! ([`super::extract`]) and the token endpoint's form reader.

use super::fallback::RouteTable;
use crate::domain::validation::Location;
use crate::error::{ApiError, FieldError};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};

pub async fn refuse_unstorable_parameters(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let routes = request.app_data::<web::Data<RouteTable>>().cloned();
    let declared = routes.as_ref().and_then(|routes| routes.declared_query(request.method().as_str(), request.path()));
    let problem =
        check(request.path(), request.query_string()).or_else(|| undeclared(declared, request.query_string()));
    if let Some(problem) = problem {
        let response = problem.error_response();
        return Ok(request.into_response(response));
    }
    next.call(request).await.map(ServiceResponse::map_into_boxed_body)
}

/// Query parameters the operation does not declare: a typo must not silently widen a search or
/// be ignored. `declared` is `None` when no operation matches (the router answers 404/405).
fn undeclared(declared: Option<&[String]>, query: &str) -> Option<ApiError> {
    let declared = declared?;
    let errors: Vec<FieldError> = form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| !declared.iter().any(|known| known == name))
        .map(|(name, _)| FieldError::query(&name, "is not a parameter of this operation"))
        .collect();
    (!errors.is_empty()).then_some(ApiError::InvalidParameters { code: "invalid_query", errors })
}

fn check(path: &str, query: &str) -> Option<ApiError> {
    let decoded_path = percent_encoding::percent_decode_str(path).decode_utf8();
    if path.contains("%00") || decoded_path.is_err() {
        return Some(ApiError::InvalidParameters {
            code: "invalid_path",
            errors: vec![FieldError {
                pointer: String::new(),
                detail: "the path must be UTF-8 and must not contain NUL (%00)".into(),
                location: Location::Path,
            }],
        });
    }
    let errors: Vec<FieldError> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |raw: &str| {
                percent_encoding::percent_decode_str(&raw.replace('+', " ")).decode_utf8().map(|t| t.into_owned())
            };
            let name_text = decode(name).unwrap_or_else(|_| String::from_utf8_lossy(name.as_bytes()).into_owned());
            let readable = decode(value).is_ok() && decode(name).is_ok();
            if !readable {
                Some(FieldError::query(&name_text.replace('\0', ""), "must be UTF-8 once percent-decoded"))
            } else if pair.contains("%00") {
                Some(FieldError::query(&name_text.replace('\0', ""), "must not contain NUL (%00)"))
            } else {
                None
            }
        })
        .collect();
    (!errors.is_empty()).then_some(ApiError::InvalidParameters { code: "invalid_query", errors })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(path: &str, query: &str) -> Option<(String, Vec<String>)> {
        match check(path, query)? {
            ApiError::InvalidParameters { code, errors } => {
                Some((code.to_owned(), errors.into_iter().map(|e| e.pointer).collect()))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nul_in_the_path_or_a_query_value_is_refused_with_the_parameter() {
        assert_eq!(errors("/v1/instruments/srs%00", ""), Some(("invalid_path".into(), vec![String::new()])));
        assert_eq!(
            errors("/v1/clients", "limit=5&external_id=%00"),
            Some(("invalid_query".into(), vec!["/external_id".into()]))
        );
        assert_eq!(errors("/v1/clients", "a%00b=1").map(|e| e.1), Some(vec!["/ab".into()]));
        assert_eq!(errors("/v1/clients", "external_id=%FF").map(|e| e.1), Some(vec!["/external_id".into()]));
    }

    #[test]
    fn a_query_parameter_the_operation_does_not_declare_is_named() {
        let routes = RouteTable::from_openapi(&crate::openapi::build());
        let declared = routes.declared_query("GET", "/v1/clients/0190f0f0-0000-7000-8000-000000000000");
        assert_eq!(declared, Some(&[][..]));
        match undeclared(declared, "expand=all") {
            Some(ApiError::InvalidParameters { errors, .. }) => assert_eq!(errors[0].pointer, "/expand"),
            other => panic!("{other:?}"),
        }
        let listing = routes.declared_query("GET", "/v1/clients");
        assert!(undeclared(listing, "external_id=MRN-1&limit=5").is_none());
        assert!(undeclared(routes.declared_query("GET", "/nowhere"), "x=1").is_none());
    }

    #[test]
    fn ordinary_paths_and_queries_pass_including_an_encoded_percent() {
        assert_eq!(errors("/v1/clients/by-external-id/MRN%2F1", "external_id=50%2500&x=a+b"), None);
    }
}

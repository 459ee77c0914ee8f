//! `ApiError`: the one place where failures become HTTP answers, as RFC 9457
//! `application/problem+json` with a stable `type` URI and `code`.
//!
//! Server faults (5xx) say nothing internal in the body; their cause goes to the log (never
//! request data, which may be protected health information).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbError;

pub const PROBLEM_JSON: &str = "application/problem+json";
const PROBLEM_BASE: &str = "https://rapport.dev/problems/";

pub use crate::domain::validation::FieldError;

/// The problem details body (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Stable URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "https://rapport.dev/problems/validation")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable snake_case code that clients can branch on.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// A query or path parameter is malformed, unknown or out of range (400, one entry per
    /// parameter; `code` is `invalid_query` or `invalid_path`).
    #[error("invalid parameters")]
    InvalidParameters { code: &'static str, errors: Vec<FieldError> },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("your role may not do this")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: Vec<String> },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// Well-formed, but not something this service can process (e.g. a transcript in a language
    /// the rules do not cover): 422 with its own code.
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body must be {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("this resource is offered as {offered} only")]
    NotAcceptable { offered: &'static str },
    #[error("{detail}")]
    Unavailable { code: &'static str, detail: String, retry_after_secs: u32 },
    #[error("too many requests; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// The token endpoint's own error format (RFC 6749 §5.2).
    #[error("{description}")]
    OAuth { status: u16, error: &'static str, description: String, retry_after_secs: Option<u64> },
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(error))
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation",
            Self::BadRequest { code, .. }
            | Self::InvalidParameters { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Unavailable { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::OAuth { error, .. } => error,
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::NotAcceptable { .. } => "not_acceptable",
            Self::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Validation(_) => "The request has invalid fields",
            Self::BadRequest { .. } => "The request is malformed",
            Self::InvalidParameters { .. } => "The request has invalid parameters",
            Self::Unauthorized(_) => "Authentication required",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::TooManyRequests { .. } => "Too many requests",
            Self::OAuth { .. } => "Token request refused",
            Self::Conflict { .. } => "Conflict",
            Self::Unprocessable { .. } => "The request cannot be processed",
            Self::PayloadTooLarge { .. } => "Request body too large",
            Self::UnsupportedMediaType { .. } => "Unsupported media type",
            Self::NotAcceptable { .. } => "Not acceptable",
            Self::Unavailable { .. } => "Service unavailable",
            Self::Internal(_) => "Internal server error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Validation(errors) => format!("{} field(s) are invalid; see `errors`", errors.len()),
            Self::InvalidParameters { errors, .. } => {
                format!("{} parameter(s) are invalid; see `errors`", errors.len())
            }
            Self::NotFound => "No resource exists at this address.".into(),
            Self::MethodNotAllowed { allow } => format!("This resource allows {}.", allow.join(", ")),
            Self::Internal(_) => "The server failed to handle this request; it has been logged.".into(),
            other => other.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        let code = self.code();
        Problem {
            problem_type: format!("{PROBLEM_BASE}{}", code.replace('_', "-")),
            title: self.title().into(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            code: code.into(),
            errors: match self {
                Self::Validation(errors) | Self::InvalidParameters { errors, .. } => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } | Self::InvalidParameters { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::OAuth { status, .. } => StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            tracing::error!(error = %error_chain(cause.as_ref()), "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::OAuth { error, description, retry_after_secs, .. } = self {
            response.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"));
            if *error == "invalid_client" {
                response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"rapport\""));
            }
            if let Some(seconds) = retry_after_secs {
                response.insert_header((header::RETRY_AFTER, seconds.to_string()));
            }
            return response.json(serde_json::json!({ "error": error, "error_description": description }));
        }
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            Self::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"rapport\", error=\"invalid_token\""));
            }
            Self::TooManyRequests { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.join(", ")));
            }
            Self::Unavailable { retry_after_secs, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&self.problem()).expect("a problem always serializes"))
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => Self::NotFound,
            DbError::Conflict { constraint } => Self::Conflict {
                code: "conflict",
                detail: format!("the request conflicts with existing data ({constraint})"),
            },
            DbError::Unavailable(cause) | DbError::Lost(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::Unavailable {
                    code: "database_unavailable",
                    detail: "The database is busy or unreachable; retry shortly.".into(),
                    retry_after_secs: 1,
                }
            }
            other => Self::internal(other),
        }
    }
}

/// Problem answers shared by protected operations, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum AuthProblems {
    /// No bearer token, or an invalid, expired or revoked one.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The caller's role may not do this.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
}

/// Problem answers of operations that take a request body.
#[derive(utoipa::IntoResponses)]
pub enum BodyProblems {
    /// Malformed JSON or query string.
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(Problem),
    /// The body exceeds the size limit.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// Fields are missing, unknown, of the wrong type or out of range; `errors` lists each by JSON pointer.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
}

/// Problem answers of operations that take a query string.
#[derive(utoipa::IntoResponses)]
pub enum QueryProblems {
    /// A query parameter is malformed, unknown or out of range.
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(Problem),
}

/// A path parameter is malformed (an `{id}` that is not a UUID).
#[derive(utoipa::IntoResponses)]
pub enum PathProblems {
    /// A path parameter is malformed; `errors` names it (`in: path`).
    #[response(status = 400, content_type = "application/problem+json")]
    Malformed(Problem),
}

/// The record does not exist in the caller's organization (or the caller may not see it).
#[derive(utoipa::IntoResponses)]
pub enum NotFoundProblem {
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}

impl ApiError {
    /// One bad query parameter.
    pub fn query(name: &str, detail: impl Into<String>) -> Self {
        Self::InvalidParameters { code: "invalid_query", errors: vec![FieldError::query(name, detail)] }
    }
}

/// Maps actix's own path extractor failures to problem+json, naming the parameter when every
/// parameter of the route has the same type (a single `{id}`, the common case).
pub fn path_error(error: actix_web::error::PathError, request: &actix_web::HttpRequest) -> actix_web::Error {
    // `GET /v1/responses/batch` reaches `GET /v1/responses/{id}` with the id `batch`: the path
    // means the batch resource, which does not allow GET.
    let routes = request.app_data::<actix_web::web::Data<crate::http::fallback::RouteTable>>();
    if let Some(allow) = routes.and_then(|routes| routes.allowed_methods(request.path())) {
        if !allow.iter().any(|method| method == request.method().as_str()) {
            return ApiError::MethodNotAllowed { allow }.into();
        }
    }
    let detail = match &error {
        actix_web::error::PathError::Deserialize(inner) => inner.to_string(),
        other => other.to_string(),
    };
    let names: Vec<&str> = request.match_info().iter().map(|(name, _)| name).collect();
    let errors = match names.as_slice() {
        [name] => vec![FieldError::path(name, detail)],
        _ => names.iter().map(|name| FieldError::path(name, detail.clone())).collect(),
    };
    ApiError::InvalidParameters { code: "invalid_path", errors }.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn internal_errors_hide_their_cause_from_the_client() {
        let error = ApiError::internal(std::io::Error::other("secret table name"));
        let body = error.error_response().into_body().try_into_bytes().unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("https://rapport.dev/problems/internal"));
    }

    #[test]
    fn validation_problems_list_each_pointer() {
        let error = ApiError::Validation(vec![FieldError::new("/answers/overall", "must be at most 10")]);
        let problem = error.problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].pointer, "/answers/overall");
        assert_eq!(problem.problem_type, "https://rapport.dev/problems/validation");
    }
}

//! Every error of the FHIR API is an `OperationOutcome`, made here and nowhere else: this
//! middleware rewrites any error answer under `/fhir/` (from a handler, an extractor, the
//! guard, the drain or the router) from problem+json into an OperationOutcome with the same
//! status and headers.
//!
//! Each located problem becomes one issue whose `expression` is a FHIRPath: FHIR handlers
//! locate problems by FHIRPath already (`QuestionnaireResponse.item[2].answer[0]`); a JSON
//! pointer from the generic body reader (`/item/2/answer/0/valueInteger`) is translated, with
//! the resource type the path names as its root.

use super::FHIR_JSON;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use serde_json::{Value, json};

/// The issue type (FHIR `IssueType`) that fits an answer's status and problem code.
fn issue_code(status: StatusCode, code: &str) -> &'static str {
    match (status.as_u16(), code) {
        (400, "malformed_json" | "unreadable_body") => "structure",
        (400 | 422, _) => "invalid",
        (401, _) => "login",
        (403, _) => "forbidden",
        (404, _) => "not-found",
        (405 | 406 | 415, _) => "not-supported",
        (409, "idempotency_in_flight") => "transient",
        (409, _) => "conflict",
        (412, _) => "multiple-matches",
        (413, _) => "too-long",
        (429, _) => "throttled",
        (503, _) => "transient",
        _ => "exception",
    }
}

/// `/item/2/answer/0/valueInteger` under `root` → `root.item[2].answer[0].value`.
pub fn fhirpath(root: &str, pointer: &str) -> String {
    let mut path = root.to_owned();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{token}]"));
        } else if token.len() > 5 && token.starts_with("value") && token[5..].starts_with(|c: char| c.is_uppercase()) {
            path.push_str(".value");
        } else {
            path.push('.');
            path.push_str(&token);
        }
    }
    path
}

/// The resource type a FHIR request path is about (`Bundle` for the base: transactions).
fn root_of(path: &str) -> &str {
    path.strip_prefix(super::BASE_PATH)
        .and_then(|rest| rest.trim_start_matches('/').split('/').next())
        .filter(|first| first.starts_with(|c: char| c.is_ascii_uppercase()))
        .unwrap_or("Bundle")
}

/// One issue of an OperationOutcome.
pub fn issue(code: &str, diagnostics: &str, expression: Option<&str>) -> Value {
    let mut issue = json!({ "severity": "error", "code": code, "diagnostics": diagnostics });
    if let Some(expression) = expression {
        issue["expression"] = json!([expression]);
    }
    issue
}

pub fn operation_outcome(issues: Vec<Value>) -> Value {
    json!({ "resourceType": "OperationOutcome", "issue": issues })
}

/// The OperationOutcome for a problem+json body (or for an answer with no usable body).
pub fn from_problem(status: StatusCode, problem: Option<&Value>, root: &str) -> Value {
    let code = problem.and_then(|p| p["code"].as_str()).unwrap_or("");
    let kind = issue_code(status, code);
    let detail = problem
        .and_then(|p| p["detail"].as_str().or_else(|| p["title"].as_str()))
        .map(str::to_owned)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let located: Vec<Value> = problem
        .and_then(|p| p["errors"].as_array())
        .map(|errors| {
            errors
                .iter()
                .map(|error| {
                    let where_ = error["pointer"].as_str().unwrap_or("");
                    let detail = error["detail"].as_str().unwrap_or("");
                    match error["in"].as_str() {
                        Some("query") => {
                            let name = where_.trim_start_matches('/');
                            issue(kind, &format!("search parameter `{name}`: {detail}"), None)
                        }
                        Some("path") => issue(kind, detail, None),
                        _ if where_.starts_with('/') => issue(kind, detail, Some(&fhirpath(root, where_))),
                        _ if where_.is_empty() => issue(kind, detail, Some(root)),
                        _ => issue(kind, detail, Some(where_)),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if located.is_empty() { operation_outcome(vec![issue(kind, &detail, None)]) } else { operation_outcome(located) }
}

/// Rewrites error answers under `/fhir/` as OperationOutcomes.
pub async fn as_operation_outcome(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let fhir = request.path() == super::BASE_PATH || request.path().starts_with("/fhir/");
    let root = root_of(request.path()).to_owned();
    let response = next.call(request).await?.map_into_boxed_body();
    let status = response.status();
    let already = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/fhir+json"));
    if !fhir || status.as_u16() < 400 || already {
        return Ok(response);
    }
    let (request, response) = response.into_parts();
    let (mut head, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes_limited(body, 1_048_576).await.ok().and_then(Result::ok);
    let problem: Option<Value> = bytes.and_then(|b| serde_json::from_slice(&b).ok());
    let outcome = from_problem(status, problem.as_ref(), &root);
    head.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(FHIR_JSON));
    head.headers_mut().remove(header::CONTENT_LENGTH);
    let response = head.set_body(BoxBody::new(outcome.to_string()));
    Ok(ServiceResponse::new(request, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pointers_become_fhirpaths() {
        assert_eq!(
            fhirpath("QuestionnaireResponse", "/item/2/answer/0/valueInteger"),
            "QuestionnaireResponse.item[2].answer[0].value"
        );
        assert_eq!(fhirpath("Bundle", "/entry/1/resource/status"), "Bundle.entry[1].resource.status");
        assert_eq!(fhirpath("QuestionnaireResponse", ""), "QuestionnaireResponse");
    }

    #[test]
    fn the_root_is_the_resource_type_of_the_path() {
        assert_eq!(root_of("/fhir/r4/QuestionnaireResponse"), "QuestionnaireResponse");
        assert_eq!(root_of("/fhir/r4/Observation/abc"), "Observation");
        assert_eq!(root_of("/fhir/r4"), "Bundle");
        assert_eq!(root_of("/fhir/r4/metadata"), "Bundle");
    }

    #[test]
    fn a_validation_problem_keeps_one_issue_per_field() {
        let problem = json!({"code": "validation", "detail": "2 fields", "errors": [
            {"pointer": "QuestionnaireResponse.status", "detail": "must be completed or amended"},
            {"pointer": "/item/0/linkId", "detail": "unknown"},
            {"pointer": "/_count", "detail": "too big", "in": "query"}]});
        let outcome = from_problem(StatusCode::UNPROCESSABLE_ENTITY, Some(&problem), "QuestionnaireResponse");
        let expressions: Vec<Value> =
            outcome["issue"].as_array().unwrap().iter().map(|i| i["expression"].clone()).collect();
        assert_eq!(
            expressions,
            vec![json!(["QuestionnaireResponse.status"]), json!(["QuestionnaireResponse.item[0].linkId"]), Value::Null]
        );
        assert_eq!(outcome["issue"][0]["code"], "invalid");
    }
}

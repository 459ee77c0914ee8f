//! The OpenAPI document: general information here, paths and schemas collected from the
//! handlers registered in [`crate::http::api_routes`]. `openapi/openapi.json` is this
//! document, committed; a test fails when they differ (`BLESS=1` rewrites the file).

use crate::error::{FieldError, Problem};
use crate::http::audit_events::OutcomeFilter;
use actix_web::App;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rapport",
        description = "Measures the therapeutic alliance: scores session feedback forms (SRS, ORS, \
                       WAI-SR, PHQ-9, GAD-7 …), stores them, and finds alliance ruptures and \
                       off-track cases early.\n\nErrors are RFC 9457 `application/problem+json` \
                       bodies with a stable `type` URI and `code`; validation errors list the JSON \
                       pointer of each bad field. Every response carries `X-Request-Id`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "operations", description = "Liveness, readiness and metrics"),
        (name = "authentication", description = "OAuth 2.0 token endpoint and public keys"),
        (name = "users", description = "People of the organization"),
        (name = "service-accounts", description = "EHR integrations and pipelines"),
        (name = "clients", description = "People in care"),
        (name = "episodes", description = "Episodes of care and their sessions"),
        (name = "instruments", description = "Feedback forms: definitions, versions, licensed texts"),
        (name = "responses", description = "Completed forms: scoring and signals"),
        (name = "signals", description = "Alliance and outcome alerts"),
        (name = "form-requests", description = "Forms for clients' apps"),
        (name = "settings", description = "Organization thresholds"),
        (name = "analytics", description = "Ruptures and repairs, outcomes and expected response, insights"),
        (name = "audit", description = "The audit log"),
        (name = "webhooks", description = "Signed event deliveries (Standard Webhooks)"),
        (name = "export", description = "Streams for pipelines: NDJSON, CSV, Parquet"),
        (name = "transcripts", description = "Session transcripts read for rupture markers and therapist moves"),
        (name = "charts", description = "SVG charts and the supervision report; chart links an EHR can embed"),
    ),
    // Types that only query parameters name (utoipa does not collect those by itself).
    components(schemas(Problem, FieldError, OutcomeFilter, crate::domain::signals::SignalStatus,
                       crate::domain::signals::SignalKind, crate::http::export::encoder::ExportFormat,
                       crate::http::export::IdsParam)),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

/// The `bearer` security scheme that protected operations name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /v1/auth/token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "chart_link",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "A chart link's token from POST /v1/episodes/{id}/chart-links: ten minutes, one episode's charts",
            ))),
        );
    }
}

/// Builds the complete document.
pub fn build() -> utoipa::openapi::OpenApi {
    let (_, mut api) =
        App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(crate::http::api_routes).split_for_parts();
    declare_edge_answers(&mut api);
    open_parts_of_composites(api)
}

/// A component that forbids other properties (`deny_unknown_fields`) cannot be a part of an
/// `allOf` by reference: every part sees every property, so the tag beside it (`kind` of an
/// internally tagged enum such as `Measure`) would make every value invalid. Such a part is
/// inlined without `additionalProperties: false` (the type still refuses unknown fields when it
/// parses them).
fn open_parts_of_composites(api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use serde_json::Value;
    let mut document = serde_json::to_value(&api).expect("the OpenAPI document serializes");
    let closed: std::collections::BTreeMap<String, Value> = document["components"]["schemas"]
        .as_object()
        .map(|schemas| {
            schemas
                .iter()
                .filter(|(_, schema)| schema.get("additionalProperties") == Some(&Value::Bool(false)))
                .map(|(name, schema)| {
                    let mut open = schema.clone();
                    open.as_object_mut().map(|o| o.remove("additionalProperties"));
                    (format!("#/components/schemas/{name}"), open)
                })
                .collect()
        })
        .unwrap_or_default();
    fn walk(value: &mut Value, closed: &std::collections::BTreeMap<String, Value>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::Array(parts)) = object.get_mut("allOf") {
                    for part in parts.iter_mut() {
                        let reference = part.get("$ref").and_then(Value::as_str).map(str::to_owned);
                        if let Some(open) = reference.and_then(|r| closed.get(&r)) {
                            *part = open.clone();
                        }
                    }
                }
                object.values_mut().for_each(|v| walk(v, closed));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, closed)),
            _ => {}
        }
    }
    walk(&mut document, &closed);
    serde_json::from_value(document).expect("the adjusted document is still an OpenAPI document")
}

fn problem_response(description: &str, retry_after: bool) -> RefOr<Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
    let mut response = ResponseBuilder::new().description(description).content("application/problem+json", content);
    if retry_after {
        let header = HeaderBuilder::new()
            .schema(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::Integer))
            .description(Some("Seconds to wait before retrying"))
            .build();
        response = response.header("Retry-After", header);
    }
    RefOr::T(response.build())
}

/// The answers the edge can give to any operation, declared on every operation so that a
/// client validating against the contract never meets an undeclared status: 400 (a path or
/// query parameter that is malformed, unknown, out of range, or holds NUL), 503 (database
/// unreachable or busy, or the service shutting down; with `Retry-After`), and for protected
/// operations 401 and 403. Operations that say more keep their own description.
fn declare_edge_answers(api: &mut utoipa::openapi::OpenApi) {
    for (path, item) in api.paths.paths.iter_mut() {
        let operations: [&mut Option<Operation>; 5] =
            [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            let protected = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let responses = &mut operation.responses.responses;
            let mut declare = |status: &str, response: RefOr<Response>| {
                responses.entry(status.to_owned()).or_insert(response);
            };
            let malformed = if path.contains('{') {
                "A path parameter (such as an `{id}` that is not a UUID) or a query parameter is malformed, \
                 unknown or out of range; `errors` names it (`in`: `path` or `query`)"
            } else {
                "A query parameter is malformed, unknown or out of range, or holds NUL; `errors` names it"
            };
            declare("400", problem_response(malformed, false));
            declare(
                "503",
                problem_response("The database is unreachable or busy, or the service is shutting down; retry", true),
            );
            if protected {
                declare("401", problem_response("No bearer token, or an invalid, expired or revoked one", false));
                declare("403", problem_response("The caller's role may not do this", false));
            }
        }
    }
}

/// The document as the committed file holds it (pretty JSON, trailing newline).
pub fn to_pretty_json() -> String {
    build().to_pretty_json().expect("the OpenAPI document serializes")
}

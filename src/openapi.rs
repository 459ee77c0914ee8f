//! The OpenAPI document: general information here, paths and schemas collected from the
//! handlers registered in [`crate::http::api_routes`]. `openapi/openapi.json` is this
//! document, committed; a test fails when they differ (`BLESS=1` rewrites the file).

use crate::error::{FieldError, Problem};
use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
    ),
    components(schemas(Problem, FieldError)),
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
    }
}

/// Builds the complete document.
pub fn build() -> utoipa::openapi::OpenApi {
    let (_, api) =
        App::new().into_utoipa_app().openapi(ApiDoc::openapi()).configure(crate::http::api_routes).split_for_parts();
    api
}

/// The document as the committed file holds it (pretty JSON, trailing newline).
pub fn to_pretty_json() -> String {
    build().to_pretty_json().expect("the OpenAPI document serializes")
}

//! The OpenAPI document: general information here, paths and schemas collected from the
//! handlers registered in [`crate::http::api_routes`]. `openapi/openapi.json` is this
//! document, committed; a test fails when they differ (`BLESS=1` rewrites the file).

use crate::error::{FieldError, Problem};
use actix_web::App;
use utoipa::OpenApi;
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
    tags((name = "operations", description = "Liveness, readiness and metrics")),
    components(schemas(Problem, FieldError))
)]
struct ApiDoc;

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

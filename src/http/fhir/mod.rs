//! FHIR R4 (4.0.1) for EHRs, under `/fhir/r4` (docs/integration.md, "FHIR R4"):
//! the CapabilityStatement, SMART configuration, Questionnaires (one per instrument version),
//! QuestionnaireResponses (create, conditional create, read, search, transaction Bundles) and
//! the scores as Observations.
//!
//! FHIR is another door to the same service, not a second one: a QuestionnaireResponse is
//! parsed into the same submission `POST /v1/responses` makes and stored through
//! `Database::submit_responses` (scoring, signals, idempotency, audit, one transaction); reads
//! go through the same tenancy and caseload rules. Every error leaves as an `OperationOutcome`
//! (see [`outcome`]). These routes are described by the CapabilityStatement, not the OpenAPI
//! document.

pub mod bulk;
pub mod capability;
pub mod incoming;
pub mod observation;
pub mod outcome;
pub mod questionnaire;
pub mod questionnaire_response;
pub mod search;
pub mod transaction;

use crate::domain::Role;
use crate::domain::scopes::{Interaction, Interactions};
use crate::error::ApiError;
use crate::http::auth_user::AuthUser;
use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

/// The media type of every FHIR answer.
pub const FHIR_JSON: &str = "application/fhir+json; fhirVersion=4.0";
pub const FHIR_VERSION: &str = "4.0.1";
/// Where the FHIR API lives, below the public base URL.
pub const BASE_PATH: &str = "/fhir/r4";
pub const LOINC: &str = "http://loinc.org";
/// Rapport's code system for scores LOINC has no code for (docs/integration.md).
pub const SCORE_SYSTEM: &str = "https://rapport.dev/fhir/CodeSystem/score";

/// Roles that may read through FHIR (as through REST).
pub const READERS: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Clinician, Role::Integration];
/// Roles that may submit forms through FHIR.
pub const WRITERS: [Role; 3] = [Role::Admin, Role::Clinician, Role::Integration];

/// What the FHIR API implements, per resource type: what SMART scopes can grant and what the
/// CapabilityStatement declares.
pub fn supported_interactions() -> Vec<(&'static str, Interactions)> {
    use Interaction::*;
    vec![
        ("Observation", Interactions::of(&[Read, Search])),
        ("Questionnaire", Interactions::of(&[Read, Search])),
        ("QuestionnaireResponse", Interactions::of(&[Create, Read, Search])),
    ]
}

pub fn routes(config: &mut web::ServiceConfig) {
    config.service(
        web::scope(BASE_PATH)
            .wrap(from_fn(negotiate))
            .service(web::resource("").route(web::post().to(transaction::transaction)))
            .service(web::resource("/metadata").route(web::get().to(capability::metadata)))
            .service(
                web::resource("/.well-known/smart-configuration").route(web::get().to(capability::smart_configuration)),
            )
            .service(web::resource("/Questionnaire").route(web::get().to(questionnaire::search)))
            .service(web::resource("/Questionnaire/{id}").route(web::get().to(questionnaire::read)))
            .service(
                web::resource("/QuestionnaireResponse")
                    .route(web::get().to(questionnaire_response::search))
                    .route(web::post().to(questionnaire_response::create)),
            )
            .service(web::resource("/QuestionnaireResponse/{id}").route(web::get().to(questionnaire_response::read)))
            .service(web::resource("/Observation").route(web::get().to(observation::search)))
            .service(web::resource("/Observation/{id}").route(web::get().to(observation::read)))
            .service(web::resource("/$export").route(web::get().to(bulk::kick_off_system)))
            .service(web::resource("/Patient/$export").route(web::get().to(bulk::kick_off_patient)))
            .service(
                web::resource("/bulk/{id}").route(web::get().to(bulk::status)).route(web::delete().to(bulk::cancel)),
            )
            .service(web::resource("/bulk/{id}/files/{file_id}").route(web::get().to(bulk::file))),
    );
}

/// Checks that the caller may do `interaction` on `resource` (its role, and its SMART scopes
/// if it has any) and parses the query against the `parameters` the interaction takes.
pub fn begin(
    user: &AuthUser,
    request: &HttpRequest,
    resource: &str,
    interaction: Interaction,
    parameters: &[search::SearchParameter],
) -> Result<search::Search, ApiError> {
    let roles: &[Role] = if interaction == Interaction::Create { &WRITERS } else { &READERS };
    user.require_fhir(roles, resource, interaction)?;
    search::Search::parse(request.query_string(), parameters)
}

/// A FHIR JSON answer.
pub fn fhir_json(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status).insert_header((header::CONTENT_TYPE, FHIR_JSON)).body(body.to_string())
}

/// `{base}/fhir/r4`, as the caller reaches it.
pub fn fhir_base(request: &HttpRequest) -> String {
    format!("{}{BASE_PATH}", super::public_url::PublicUrl::base(request))
}

/// Refuses (406) a request that asks only for a format other than FHIR JSON, through
/// `_format` or `Accept`. XML is not offered.
async fn negotiate(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let json = |media: &str| {
        let essence = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        matches!(
            essence.as_str(),
            "json" | "application/json" | "application/fhir+json" | "application/json+fhir" | "*/*" | "application/*"
        )
    };
    let format = form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "_format")
        .map(|(_, value)| value.into_owned());
    // Bulk Data output files are NDJSON, and clients ask for them as such.
    let ndjson = |media: &str| {
        let essence = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        matches!(essence.as_str(), "application/fhir+ndjson" | "application/ndjson")
    };
    let is_file = request.path().contains("/bulk/") && request.path().contains("/files/");
    let json = |media: &str| json(media) || (is_file && ndjson(media));
    let accept = request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let refused = match (format, accept) {
        (Some(format), _) => !json(&format),
        (None, Some(accept)) => !accept.split(',').any(json),
        (None, None) => false,
    };
    if refused {
        // An answer, not an error: the OperationOutcome middleware outside sees answers only.
        let refusal = ApiError::NotAcceptable { offered: "application/fhir+json or application/json" };
        return Ok(request.into_response(refusal.error_response()));
    }
    next.call(request).await.map(ServiceResponse::map_into_boxed_body)
}

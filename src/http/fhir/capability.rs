//! `GET /fhir/r4/metadata` (the CapabilityStatement: exactly what is implemented) and
//! `GET /fhir/r4/.well-known/smart-configuration` (SMART App Launch discovery, for backend
//! services). Both are public, as FHIR and SMART require.

use super::search::SearchParameter;
use super::{FHIR_VERSION, fhir_base, fhir_json, observation, questionnaire, questionnaire_response};
use crate::auth::client_assertion::ASSERTION_TYPE;
use crate::domain::scopes::Interaction;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

/// When this CapabilityStatement last changed.
const REVISED: &str = "2026-12-02";

fn interaction_code(interaction: Interaction) -> &'static str {
    match interaction {
        Interaction::Create => "create",
        Interaction::Read => "read",
        Interaction::Update => "update",
        Interaction::Delete => "delete",
        Interaction::Search => "search-type",
    }
}

fn search_params(parameters: &[SearchParameter]) -> Vec<Value> {
    parameters.iter().map(|p| json!({ "name": p.name, "type": p.kind, "documentation": p.documentation })).collect()
}

fn resource(kind: &str, profile_note: &str, parameters: &[SearchParameter], extra: Value) -> Value {
    let supported = super::supported_interactions();
    let interactions = supported
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, interactions)| {
            [Interaction::Read, Interaction::Search, Interaction::Create]
                .into_iter()
                .filter(|i| interactions.contains(*i))
                .map(|i| json!({ "code": interaction_code(i) }))
                .collect::<Vec<Value>>()
        })
        .unwrap_or_default();
    let mut resource = json!({
        "type": kind,
        "documentation": profile_note,
        "interaction": interactions,
        "versioning": "no-version",
        "readHistory": false,
        "updateCreate": false,
        "searchParam": search_params(parameters),
    });
    if let (Some(target), Some(extra)) = (resource.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
    }
    resource
}

/// The CapabilityStatement of this server.
pub fn capability_statement(base: &str) -> Value {
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": REVISED,
        "publisher": "Rapport",
        "kind": "instance",
        "software": { "name": "Rapport", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "Rapport therapeutic-alliance service", "url": base },
        "fhirVersion": FHIR_VERSION,
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Forms as Questionnaires, completed forms as QuestionnaireResponses, and \
                              their scores as Observations. Another organization's resources do not exist here.",
            "security": {
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{ "url": "token", "valueUri": token_endpoint(base) }]
                }],
                "service": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR"
                    }]
                }],
                "description": "SMART Backend Services (client_credentials with a JWT client assertion signed \
                                RS384 or ES384; system scopes), or a Rapport bearer token bounded by its role."
            },
            "resource": [
                resource(
                    "Questionnaire",
                    "One per instrument version; item wording only where the instrument may ship it or the \
                     organization uploaded it for the requested language.",
                    questionnaire::PARAMETERS,
                    json!({}),
                ),
                resource(
                    "QuestionnaireResponse",
                    "Completed forms, scored on arrival. status must be completed or amended; items are matched by \
                     linkId (item id, or LOINC code); answers as valueInteger, valueDecimal or valueCoding.",
                    questionnaire_response::PARAMETERS,
                    json!({ "conditionalCreate": true }),
                ),
                resource(
                    "Observation",
                    "One per scored total and subscale of each QuestionnaireResponse.",
                    observation::PARAMETERS,
                    json!({}),
                ),
                json!({
                    "type": "Patient",
                    "documentation": "Clients, through Bulk Data export only.",
                    "operation": [{
                        "name": "export",
                        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
                    }]
                }),
            ],
            "interaction": [{ "code": "transaction", "documentation": "QuestionnaireResponse creates, all or nothing" }],
            "operation": [{
                "name": "export",
                "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                "documentation": "FHIR Bulk Data: Patient, QuestionnaireResponse and Observation as NDJSON \
                                  (Prefer: respond-async; _type, _since). Admins and integrations."
            }]
        }]
    })
}

fn token_endpoint(fhir_base: &str) -> String {
    let base = fhir_base.strip_suffix(super::BASE_PATH).unwrap_or(fhir_base);
    format!("{base}/v1/auth/token")
}

pub async fn metadata(request: HttpRequest) -> HttpResponse {
    fhir_json(StatusCode::OK, &capability_statement(&fhir_base(&request)))
}

pub async fn smart_configuration(request: HttpRequest) -> HttpResponse {
    let scopes: Vec<String> = super::supported_interactions()
        .into_iter()
        .map(|(resource, interactions)| format!("system/{resource}.{interactions}"))
        .collect();
    let body = json!({
        "token_endpoint": token_endpoint(&fhir_base(&request)),
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "client_secret_post"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": scopes,
        "capabilities": ["client-confidential-asymmetric", "permission-v2", "permission-v1"],
        "client_assertion_types_supported": [ASSERTION_TYPE],
    });
    HttpResponse::Ok().content_type("application/json").body(body.to_string())
}

//! `POST /fhir/r4` with a `transaction` Bundle of QuestionnaireResponse creates (each entry
//! `request.method` POST, `request.url` `QuestionnaireResponse`, optionally `ifNoneExist`):
//! all stored or none, in one `Database::submit_responses` call, like
//! `POST /v1/responses/batch`. The answer is a `transaction-response` Bundle, entry by entry
//! (`201 Created`, or `200 OK` where an identifier matched a stored response).

use super::incoming::{IncomingResponse, understand};
use super::outcome::fhirpath;
use super::questionnaire_response::{
    Canonicals, adopt_identifier, identifier_criterion, prepare, render, submit_error,
};
use super::{begin, fhir_json, questionnaire};
use crate::db::Database;
use crate::domain::scopes::Interaction;
use crate::error::{ApiError, FieldError};
use crate::http::auth_user::AuthUser;
use crate::http::extract::{JsonWithRaw, parse_json};
use crate::http::responses::{MAX_BATCH, mark_replayed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EntryRequest {
    pub id: Option<String>,
    pub extension: Option<Vec<Value>>,
    pub modifier_extension: Option<Vec<Value>>,
    pub method: String,
    pub url: String,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub if_match: Option<String>,
    pub if_none_exist: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Entry {
    pub id: Option<String>,
    pub extension: Option<Vec<Value>>,
    pub modifier_extension: Option<Vec<Value>>,
    pub link: Option<Vec<Value>>,
    pub full_url: Option<String>,
    pub resource: Option<Box<RawValue>>,
    pub search: Option<Value>,
    pub request: Option<EntryRequest>,
    pub response: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IncomingBundle {
    pub resource_type: String,
    pub id: Option<String>,
    pub meta: Option<Value>,
    pub implicit_rules: Option<String>,
    pub language: Option<String>,
    pub identifier: Option<Value>,
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: Option<String>,
    pub total: Option<Value>,
    pub link: Option<Vec<Value>>,
    pub entry: Option<Vec<Entry>>,
    pub signature: Option<Value>,
}

/// (system, value) of a business identifier.
type Identifier = (String, String);

/// The QuestionnaireResponse of one entry (with its `ifNoneExist` identifier), or what is wrong
/// with the entry.
fn entry_resource(index: usize, entry: &Entry) -> Result<(IncomingResponse, Option<Identifier>), Vec<FieldError>> {
    let at = format!("Bundle.entry[{index}]");
    let request = entry
        .request
        .as_ref()
        .ok_or_else(|| vec![FieldError::new(format!("{at}.request"), "is required in a transaction")])?;
    let url = request.url.split('?').next().unwrap_or("");
    if request.method != "POST" || url != "QuestionnaireResponse" {
        return Err(vec![FieldError::new(
            format!("{at}.request"),
            "only `POST QuestionnaireResponse` is supported in a transaction",
        )]);
    }
    let conditional = request
        .if_none_exist
        .as_deref()
        .map(identifier_criterion)
        .transpose()
        .map_err(|why| vec![FieldError::new(format!("{at}.request.ifNoneExist"), why)])?;
    let raw = entry.resource.as_ref().ok_or_else(|| vec![FieldError::new(format!("{at}.resource"), "is required")])?;
    let resource = parse_json::<IncomingResponse>(raw.get().as_bytes()).map_err(|error| match error {
        ApiError::Validation(errors) => errors
            .into_iter()
            .map(|e| FieldError::new(fhirpath(&format!("{at}.resource"), &e.pointer), e.detail))
            .collect(),
        other => vec![FieldError::new(format!("{at}.resource"), other.to_string())],
    })?;
    Ok((resource, conditional))
}

pub async fn transaction(
    user: AuthUser,
    request: HttpRequest,
    body: JsonWithRaw<IncomingBundle>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    begin(&user, &request, "QuestionnaireResponse", Interaction::Create, &[])?;
    let JsonWithRaw(bundle, raw) = body;
    let mut errors = Vec::new();
    if bundle.resource_type != "Bundle" {
        errors.push(FieldError::new("Bundle.resourceType", "must be Bundle"));
    }
    if bundle.kind != "transaction" {
        errors.push(FieldError::new("Bundle.type", "must be transaction (batch is not supported)"));
    }
    let entries = bundle.entry.unwrap_or_default();
    if entries.is_empty() || entries.len() > MAX_BATCH {
        errors.push(FieldError::new("Bundle.entry", format!("must hold 1 to {MAX_BATCH} entries")));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let versions = database.all_instrument_versions(user.organization_id).await?;
    let organization_id = user.organization_id;
    let mut prepared = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let (resource, conditional) = match entry_resource(index, entry) {
            Ok(found) => found,
            Err(mut bad) => {
                errors.append(&mut bad);
                continue;
            }
        };
        let root = format!("Bundle.entry[{index}].resource");
        let find = |reference: &str| questionnaire::find(&versions, organization_id, reference).cloned();
        let mut understood = match understand(&resource, &root, find) {
            Ok(understood) => understood,
            Err(mut bad) => {
                errors.append(&mut bad);
                continue;
            }
        };
        if let Err(error) = adopt_identifier(&mut understood, conditional) {
            errors.push(error);
            continue;
        }
        match prepare(understood, &user, &database, format!("/entry/{index}")).await? {
            Ok(one) => prepared.push(one),
            Err(mut bad) => errors.append(&mut bad),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (submissions, places): (Vec<_>, Vec<_>) = prepared.into_iter().map(|p| (p.submission, p.places)).unzip();
    let entry_index: Vec<usize> =
        submissions.iter().filter_map(|s| s.pointer.strip_prefix("/entry/").and_then(|i| i.parse().ok())).collect();
    let idempotency = crate::http::responses::idempotency(&request, &raw)?;
    let canonicals = Canonicals::new(&versions, organization_id);
    let render = move |stored: Vec<crate::db::responses::Submission>| {
        let entries: Vec<Value> = stored
            .iter()
            .map(|one| {
                let resource = render(&one.response, &canonicals);
                let id = one.response.row.id;
                json!({
                    "fullUrl": format!("urn:uuid:{id}"),
                    "resource": resource,
                    "response": {
                        "status": if one.existed { "200 OK" } else { "201 Created" },
                        "location": format!("QuestionnaireResponse/{id}"),
                        "lastModified": one.response.row.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    },
                })
            })
            .collect();
        json!({ "resourceType": "Bundle", "type": "transaction-response", "entry": entries })
    };
    let prefix = |i: usize| format!("/entry/{}", entry_index.get(i).copied().unwrap_or(i));
    let submitted = database
        .submit_responses(user.actor(), None, submissions, idempotency, render)
        .await
        .map_err(|e| submit_error(e, &places, prefix))?;
    let (body, replayed) = submitted.into_parts();
    let mut response = fhir_json(StatusCode::OK, &body);
    mark_replayed(&mut response, replayed);
    Ok(response)
}

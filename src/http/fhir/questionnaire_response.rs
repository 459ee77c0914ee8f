//! `QuestionnaireResponse`: create (`POST`, conditional with `If-None-Exist: identifier=…`),
//! read, and search. A created response goes through `Database::submit_responses`, exactly as
//! `POST /v1/responses`: the same parsing of answers, scoring, signals, idempotency
//! (`Idempotency-Key`), audit and transaction.

use super::incoming::{IncomingResponse, Named, Places, Understood, understand};
use super::search::{Search, SearchParameter, decode_cursor, encode_cursor, reference_id, searchset, token};
use super::{begin, fhir_base, fhir_json, questionnaire};
use crate::db::Database;
use crate::db::instruments::InstrumentVersion;
use crate::db::page::PageRequest;
use crate::db::responses::{ParsedSubmission, ResponseFilter, StoredResponse, SubmitError};
use crate::domain::instruments::Answers;
use crate::domain::instruments::definition::{AnswerType, Rater};
use crate::domain::scopes::Interaction;
use crate::domain::time::Timestamp;
use crate::error::{ApiError, FieldError};
use crate::http::auth_user::AuthUser;
use crate::http::extract::JsonWithRaw;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

pub const PARAMETERS: &[SearchParameter] = &[
    super::search::SUBJECT,
    super::search::PATIENT_IDENTIFIER,
    SearchParameter { name: "encounter", kind: "reference", documentation: "Encounter/<id> (a session)" },
    SearchParameter {
        name: "questionnaire",
        kind: "reference",
        documentation: "The Questionnaire canonical (`|version` allowed)",
    },
    SearchParameter {
        name: "authored",
        kind: "date",
        documentation: "When the form was filled in (eq, ge, gt, le, lt)",
    },
    SearchParameter { name: "_lastUpdated", kind: "date", documentation: "When it was stored or voided" },
    SearchParameter { name: "identifier", kind: "token", documentation: "Its business identifier (system|value)" },
];

/// `instrument version id` → `canonical|version`, for every version of the organization.
pub struct Canonicals(BTreeMap<Uuid, String>);

impl Canonicals {
    pub fn new(versions: &[InstrumentVersion], organization_id: Uuid) -> Self {
        Self(
            versions
                .iter()
                .map(|v| (v.version_id, format!("{}|{}", questionnaire::canonical(v, organization_id), v.version)))
                .collect(),
        )
    }

    fn of(&self, version_id: Uuid) -> String {
        self.0.get(&version_id).cloned().unwrap_or_default()
    }
}

fn instant(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub fn patient_reference(client_id: Uuid) -> Value {
    json!({ "reference": format!("Patient/{client_id}"), "type": "Patient" })
}

pub fn encounter_reference(session_id: Uuid) -> Value {
    json!({ "reference": format!("Encounter/{session_id}"), "type": "Encounter" })
}

/// The stored response as a QuestionnaireResponse: its answers by item id, in the
/// instrument's order (coded where the instrument's answers have LOINC codes).
pub fn render(stored: &StoredResponse, canonicals: &Canonicals) -> Value {
    let row = &stored.row;
    let definition = &stored.definition;
    let items: Vec<Value> = definition
        .items
        .iter()
        .filter_map(|item| {
            let units = row.answers.get(&item.id)?.as_i64()?;
            let answer = match &item.answer {
                AnswerType::Vas => json!({ "valueDecimal": units as f64 / 10.0 }),
                AnswerType::Likert { min, codes, labels, .. } => {
                    let index = usize::try_from(units.saturating_sub(i64::from(*min))).ok();
                    match index.and_then(|i| codes.get(i).map(|code| (code, labels.get(i)))) {
                        Some((code, label)) => {
                            let mut coding = json!({ "system": super::LOINC, "code": code });
                            if let Some(label) = label {
                                coding["display"] = json!(label);
                            }
                            json!({ "valueCoding": coding })
                        }
                        None => json!({ "valueInteger": units }),
                    }
                }
            };
            Some(json!({ "linkId": item.id, "answer": [answer] }))
        })
        .collect();
    let source = match stored.rater {
        Rater::Client => patient_reference(row.client_id),
        Rater::Collateral => json!({ "type": "RelatedPerson", "display": "collateral" }),
        Rater::Therapist => json!({ "type": "Practitioner", "display": "therapist" }),
    };
    let mut resource = json!({
        "resourceType": "QuestionnaireResponse",
        "id": row.id.to_string(),
        "meta": { "lastUpdated": instant(row.voided_at.unwrap_or(row.created_at)) },
        "questionnaire": canonicals.of(row.instrument_version_id),
        "status": if row.voided_at.is_some() { "entered-in-error" } else { "completed" },
        "subject": patient_reference(row.client_id),
        "authored": instant(row.administered_at),
        "source": source,
        "item": items,
    });
    if let Some(session) = row.session_id {
        resource["encounter"] = encounter_reference(session);
    }
    if let (Some(system), Some(value)) = (&row.identifier_system, &row.identifier_value) {
        resource["identifier"] =
            if system.is_empty() { json!({ "value": value }) } else { json!({ "system": system, "value": value }) };
    }
    resource
}

/// One response read and looked up, ready to submit; `places` locate later problems.
pub struct Prepared {
    pub submission: ParsedSubmission,
    pub places: Places,
}

/// Looks up the patient and session an understood response names, and parses its answers.
pub async fn prepare(
    understood: Understood,
    user: &AuthUser,
    database: &Database,
    pointer: String,
) -> Result<Result<Prepared, Vec<FieldError>>, ApiError> {
    let Understood { instrument, answers, rater, administered_at, patient, session, identifier, places } = understood;
    let external = |named: &Option<Named>| match named {
        Some(Named::ExternalId(id)) => Some(id.clone()),
        _ => None,
    };
    let patient = Some(patient);
    let (client_external, session_external) = (external(&patient), external(&session));
    let (client_by_identifier, session_by_identifier) = if client_external.is_none() && session_external.is_none() {
        (None, None)
    } else {
        database.ids_by_external_id(user.organization_id, client_external, session_external).await?
    };
    let mut errors = Vec::new();
    let nobody = format!("{}.subject", places.root);
    let client_id = match patient {
        Some(Named::Id(id)) => Some(id),
        _ => client_by_identifier.or_else(|| {
            errors.push(FieldError::new(&nobody, "no client with an active episode of care that you may see"));
            None
        }),
    };
    let session_id = match &session {
        Some(Named::Id(id)) => Some(*id),
        Some(Named::ExternalId(_)) => session_by_identifier.or_else(|| {
            errors.push(FieldError::new(format!("{}.encounter", places.root), "no such encounter (session)"));
            None
        }),
        None => None,
    };
    let parsed = Answers::parse(&instrument.definition, &answers, "/answers").map_err(|bad| {
        bad.into_iter().map(|e| FieldError::new(places.locate(&e.pointer), e.detail)).collect::<Vec<_>>()
    });
    let latest = Timestamp::now().checked_add(chrono::Duration::hours(24));
    if administered_at.is_some_and(|at| latest.is_some_and(|latest| at > latest)) {
        errors.push(FieldError::new(format!("{}.authored", places.root), "must not be more than a day in the future"));
    }
    let answers = match parsed {
        Ok(answers) => Some(answers),
        Err(mut bad) => {
            errors.append(&mut bad);
            None
        }
    };
    Ok(match (answers, errors.is_empty()) {
        (Some(answers), true) => {
            let received = Timestamp::now();
            Ok(Prepared {
                submission: ParsedSubmission {
                    pointer,
                    instrument,
                    answers,
                    session_id,
                    episode_id: None,
                    rater,
                    administered_at: administered_at.unwrap_or(received),
                    administered_at_defaulted: administered_at.is_none(),
                    comment: None,
                    client_id,
                    identifier,
                },
                places,
            })
        }
        _ => Err(errors),
    })
}

/// The identifier an `If-None-Exist` criterion asks about (`identifier=[system|]value`).
pub fn identifier_criterion(text: &str) -> Result<(String, String), &'static str> {
    let query = text.rsplit_once('?').map_or(text, |(_, query)| query);
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
    match pairs.as_slice() {
        [(name, value)] if name == "identifier" => {
            let (system, value) = token(value);
            if value.is_empty() || value.chars().count() > 1024 {
                return Err("If-None-Exist: the identifier needs a value of 1 to 1024 characters");
            }
            Ok((system.unwrap_or("").to_owned(), value.to_owned()))
        }
        _ => Err("If-None-Exist supports one criterion: identifier=[system|]value"),
    }
}

fn if_none_exist(request: &HttpRequest) -> Result<Option<(String, String)>, ApiError> {
    let Some(header) = request.headers().get("if-none-exist") else { return Ok(None) };
    let refused = |detail: &str| ApiError::BadRequest { code: "invalid_if_none_exist", detail: detail.into() };
    let text = header.to_str().map_err(|_| refused("If-None-Exist must be visible ASCII"))?;
    identifier_criterion(text).map(Some).map_err(refused)
}

/// Adopts a conditional create's identifier: the response's own must agree with it.
pub fn adopt_identifier(understood: &mut Understood, asked: Option<(String, String)>) -> Result<(), FieldError> {
    match (asked, &understood.identifier) {
        (Some(asked), Some(given)) if asked != *given => Err(FieldError::new(
            format!("{}.identifier", understood.places.root),
            "differs from the identifier If-None-Exist names",
        )),
        (Some(asked), None) => {
            understood.identifier = Some(asked);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Maps a submission's errors, located by pointer, to FHIRPaths through each one's places
/// (`prefix(i)` is the pointer prefix of submission `i`).
pub fn locate_errors(errors: Vec<FieldError>, places: &[Places], prefix: impl Fn(usize) -> String) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|error| {
            let path = places
                .iter()
                .enumerate()
                .find_map(|(i, p)| {
                    let prefix = prefix(i);
                    let rest = error.pointer.strip_prefix(prefix.as_str())?;
                    (rest.is_empty() || rest.starts_with('/')).then(|| p.locate(rest))
                })
                .unwrap_or_else(|| places.first().map_or_else(String::new, |p| p.root.clone()));
            FieldError::new(path, error.detail)
        })
        .collect()
}

pub fn submit_error(error: SubmitError, places: &[Places], prefix: impl Fn(usize) -> String) -> ApiError {
    match error {
        SubmitError::Invalid(errors) => ApiError::Validation(locate_errors(errors, places, prefix)),
        other => other.into(),
    }
}

pub async fn create(
    user: AuthUser,
    request: HttpRequest,
    body: JsonWithRaw<IncomingResponse>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    begin(&user, &request, "QuestionnaireResponse", Interaction::Create, &[])?;
    let JsonWithRaw(incoming, raw) = body;
    let conditional = if_none_exist(&request)?;
    let versions = database.all_instrument_versions(user.organization_id).await?;
    let organization_id = user.organization_id;
    let find = |reference: &str| questionnaire::find(&versions, organization_id, reference).cloned();
    let mut understood = understand(&incoming, "QuestionnaireResponse", find).map_err(ApiError::Validation)?;
    adopt_identifier(&mut understood, conditional).map_err(|e| ApiError::Validation(vec![e]))?;
    let prepared = prepare(understood, &user, &database, String::new()).await?.map_err(ApiError::Validation)?;
    let places = vec![prepared.places];
    let idempotency = crate::http::responses::idempotency(&request, &raw)?;
    let canonicals = Canonicals::new(&versions, organization_id);
    let base = fhir_base(&request);
    let render_base = base.clone();
    let render = move |stored: Vec<crate::db::responses::Submission>| {
        let first = stored.into_iter().next();
        let status = if first.as_ref().is_some_and(|s| s.existed) { 200 } else { 201 };
        let resource = first.map(|s| render(&s.response, &canonicals)).unwrap_or(Value::Null);
        let location = format!("{render_base}/QuestionnaireResponse/{}", resource["id"].as_str().unwrap_or_default());
        json!({ "status": status, "location": location, "resource": resource })
    };
    let submitted = database
        .submit_responses(user.actor(), None, vec![prepared.submission], idempotency, render)
        .await
        .map_err(|e| submit_error(e, &places, |_| String::new()))?;
    let (body, replayed) = submitted.into_parts();
    let status = StatusCode::from_u16(body["status"].as_u64().and_then(|s| u16::try_from(s).ok()).unwrap_or(201))
        .unwrap_or(StatusCode::CREATED);
    let mut response = fhir_json(status, &body["resource"]);
    if let Some(location) = body["location"].as_str().and_then(|l| header::HeaderValue::from_str(l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    crate::http::responses::mark_replayed(&mut response, replayed);
    Ok(response)
}

pub async fn read(
    user: AuthUser,
    request: HttpRequest,
    id: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    begin(&user, &request, "QuestionnaireResponse", Interaction::Read, &[])?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let stored = database.find_response(user.actor(), id).await?;
    let versions = database.all_instrument_versions(user.organization_id).await?;
    Ok(fhir_json(StatusCode::OK, &render(&stored, &Canonicals::new(&versions, user.organization_id))))
}

/// The REST filter a FHIR search over responses means; `None` when it can match nothing
/// (a questionnaire this organization does not have).
pub fn response_filter(
    search: &Search,
    versions: &[InstrumentVersion],
    organization_id: Uuid,
) -> Result<Option<ResponseFilter>, ApiError> {
    let mut filter = ResponseFilter::default();
    if let Some(subject) = search.one("subject")? {
        filter.client_id = Some(reference_id("subject", subject, "Patient")?);
    }
    if let Some(identifier) = search.one("patient.identifier")? {
        filter.client_external_id = Some(token(identifier).1.to_owned());
    }
    if let Some(encounter) = search.one("encounter")? {
        filter.session_id = Some(reference_id("encounter", encounter, "Encounter")?);
    }
    if let Some(identifier) = search.one("identifier")? {
        let (system, value) = token(identifier);
        filter.identifier = Some((system.map(str::to_owned), value.to_owned()));
    }
    (filter.from, filter.to) = search.date_range("authored")?;
    (filter.changed_from, filter.changed_to) = search.date_range("_lastUpdated")?;
    if let Some(canonical) = search.one("questionnaire")? {
        let (url, version) = canonical.split_once('|').map_or((canonical, None), |(u, v)| (u, Some(v)));
        let Some(found) = questionnaire::find(versions, organization_id, url) else { return Ok(None) };
        match version {
            Some(version) => {
                let Some(exact) = questionnaire::find(versions, organization_id, &format!("{url}|{version}")) else {
                    return Ok(None);
                };
                filter.instrument_version_id = Some(exact.version_id);
            }
            None => filter.instrument = Some(found.definition.key.clone()),
        }
    }
    Ok(Some(filter))
}

pub async fn search(
    user: AuthUser,
    request: HttpRequest,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let search = begin(&user, &request, "QuestionnaireResponse", Interaction::Search, PARAMETERS)?;
    let versions = database.all_instrument_versions(user.organization_id).await?;
    let after = search.cursor.as_deref().map(decode_cursor).transpose()?.map(|(id, _)| id);
    let base = fhir_base(&request);
    let canonicals = Canonicals::new(&versions, user.organization_id);
    let (entries, next) = match response_filter(&search, &versions, user.organization_id)? {
        None => (Vec::new(), None),
        Some(filter) => {
            let page =
                database.list_responses(user.actor(), filter, PageRequest { limit: search.count, after }).await?;
            let entries = page
                .items
                .iter()
                .map(|stored| (format!("{base}/QuestionnaireResponse/{}", stored.row.id), render(stored, &canonicals)))
                .collect();
            (entries, page.next.map(|id| encode_cursor(id, 0)))
        }
    };
    let bundle = searchset(&format!("{base}/QuestionnaireResponse"), request.query_string(), entries, next);
    Ok(fhir_json(StatusCode::OK, &bundle))
}

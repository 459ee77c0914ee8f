//! Completed forms: `POST /v1/responses` (+ `/batch`), `GET /v1/responses[/{id}]`,
//! `POST /v1/responses/{id}/void`.

use super::auth_user::AuthUser;
use super::extract::{Json, JsonWithRaw, RawAnswers};
use super::pagination::{Paged, page_request};
use super::query::Query;
use super::views::ResponseView;
use crate::db::Database;
use crate::db::instruments::InstrumentVersion;
use crate::db::responses::{Idempotency, ParsedSubmission, ResponseFilter, SubmitError};
use crate::domain::Role;
use crate::domain::instruments::Answers;
use crate::domain::instruments::definition::Rater;
use crate::domain::time::Timestamp;
use crate::domain::validation::{FieldError, plain_text};
use crate::error::{ApiError, AuthProblems, BodyProblems, NotFoundProblem, Problem, QueryProblems};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const SUBMITTERS: [Role; 4] = [Role::Admin, Role::Clinician, Role::Integration, Role::Client];
const READERS: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Clinician, Role::Integration];
pub const MAX_BATCH: usize = 500;

/// One completed form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitResponse {
    /// Instrument key, e.g. `srs`, `ors`, `wai-sr`, `phq-9`, `gad-7`, or a custom key.
    #[schema(example = "srs")]
    pub instrument: String,
    /// The session it belongs to (or give `episode_id` when no session applies).
    pub session_id: Option<Uuid>,
    pub episode_id: Option<Uuid>,
    pub rater: Rater,
    /// When the form was filled in; default: when it is received (the answer then says
    /// `administered_at_defaulted: true`). At most a day in the future (clock skew).
    pub administered_at: Option<Timestamp>,
    /// Item id → answer. VAS: 0.0–10.0, at most one decimal; Likert: a whole number in range.
    #[schema(value_type = Object, example = json!({"relationship": 9.1, "goals_topics": 8.4, "approach_method": 9.0, "overall": 8.8}))]
    pub answers: RawAnswers,
    /// Free text, at most 4000 characters.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBatch {
    /// 1 to 500 responses, stored all or nothing.
    pub responses: Vec<SubmitResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    pub items: Vec<ResponseView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    /// Why the response is void (kept for audit).
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResponseQuery {
    pub client_id: Option<Uuid>,
    pub episode_id: Option<Uuid>,
    /// An instrument key, e.g. `srs`.
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,63}$")]
    pub instrument: Option<String>,
    /// Inclusive lower bound on `administered_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `administered_at`.
    pub to: Option<Timestamp>,
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

/// Parses each submission against its instrument's current version; errors by pointer.
fn parse_all(
    items: Vec<SubmitResponse>,
    prefix: impl Fn(usize) -> String,
    instruments: &BTreeMap<String, InstrumentVersion>,
) -> Result<Vec<ParsedSubmission>, ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut parsed = Vec::new();
    let received = Timestamp::now();
    let latest = received.checked_add(chrono::Duration::hours(24));
    for (index, item) in items.into_iter().enumerate() {
        let pointer = prefix(index);
        if item.administered_at.is_some_and(|at| latest.is_some_and(|latest| at > latest)) {
            errors.push(FieldError::new(
                format!("{pointer}/administered_at"),
                "must not be more than a day in the future",
            ));
        }
        let Some(instrument) = instruments.get(&item.instrument) else {
            errors.push(FieldError::new(
                format!("{pointer}/instrument"),
                format!("no instrument `{}` in this organization", item.instrument),
            ));
            continue;
        };
        let comment = match item.comment.as_deref().map(|c| plain_text(c, 4000, &format!("{pointer}/comment"))) {
            Some(Err(error)) => {
                errors.push(error);
                None
            }
            Some(Ok(comment)) => Some(comment),
            None => None,
        };
        match Answers::parse(&instrument.definition, &item.answers.0, &format!("{pointer}/answers")) {
            Ok(answers) => parsed.push(ParsedSubmission {
                pointer,
                instrument: instrument.clone(),
                answers,
                session_id: item.session_id,
                episode_id: item.episode_id,
                rater: item.rater,
                administered_at: item.administered_at.unwrap_or(received),
                administered_at_defaulted: item.administered_at.is_none(),
                comment,
                client_id: None,
                identifier: None,
            }),
            Err(mut bad) => errors.append(&mut bad),
        }
    }
    if errors.is_empty() { Ok(parsed) } else { Err(ApiError::Validation(errors)) }
}

/// `Idempotency-Key` with the SHA-256 of the route and the canonical body.
pub(crate) fn idempotency(request: &HttpRequest, raw: &[u8]) -> Result<Option<Idempotency>, ApiError> {
    let Some(key) = request.headers().get("idempotency-key") else { return Ok(None) };
    let key =
        key.to_str().ok().map(str::trim).filter(|k| (1..=255).contains(&k.len())).ok_or(ApiError::BadRequest {
            code: "invalid_idempotency_key",
            detail: "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
        })?;
    let canonical: serde_json::Value = serde_json::from_slice(raw).unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(request.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.to_string().as_bytes());
    Ok(Some(Idempotency { key: key.to_owned(), request_hash: hex::encode(hasher.finalize()) }))
}

/// Says `Idempotent-Replayed: true` on the stored answer of an earlier request.
pub(crate) fn mark_replayed(response: &mut HttpResponse, replayed: bool) {
    if replayed {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
            actix_web::http::header::HeaderValue::from_static("true"),
        );
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::Invalid(errors) => ApiError::Validation(errors),
            SubmitError::IdempotencyMismatch => ApiError::Validation(vec![FieldError::new(
                "",
                "this Idempotency-Key was used with a different request in the last 24 hours",
            )]),
            SubmitError::InFlight => ApiError::Conflict {
                code: "idempotency_in_flight",
                detail: "a request with this Idempotency-Key is still being processed; retry shortly".into(),
            },
            SubmitError::NotRequested => ApiError::Conflict {
                code: "form_already_submitted",
                detail: "this form request does not ask for this instrument, or it was already submitted".into(),
            },
            SubmitError::IdentifierInUse => ApiError::Conflict {
                code: "identifier_in_use",
                detail: "a response you may not see already has this identifier".into(),
            },
            SubmitError::Db(error) => error.into(),
        }
    }
}

async fn submit(
    user: &AuthUser,
    request: &HttpRequest,
    raw: &[u8],
    items: Vec<SubmitResponse>,
    prefix: impl Fn(usize) -> String,
    database: &Database,
    single: bool,
) -> Result<HttpResponse, ApiError> {
    let keys: Vec<String> = items.iter().map(|item| item.instrument.clone()).collect();
    if let Some(form_request) = user.form_request() {
        let scope = database.own_form_request(user.organization_id, form_request).await?;
        if let Some(key) = keys.iter().find(|k| !scope.items.iter().any(|(requested, _)| requested == *k)) {
            return Err(ApiError::Validation(vec![FieldError::new(
                format!("{}/instrument", prefix(0)),
                format!("`{key}` was not requested"),
            )]));
        }
    }
    let instruments = database.instruments_by_key(user.organization_id, keys).await?;
    let parsed = parse_all(items, &prefix, &instruments)?;
    let idempotency = idempotency(request, raw)?;
    let render = move |stored: Vec<crate::db::responses::Submission>| {
        let views: Vec<ResponseView> = stored.into_iter().map(|s| ResponseView::from(s.response)).collect();
        if single {
            serde_json::to_value(views.into_iter().next()).expect("views serialize")
        } else {
            serde_json::to_value(BatchView { items: views }).expect("views serialize")
        }
    };
    let submitted = database.submit_responses(user.actor(), user.form_request(), parsed, idempotency, render).await?;
    let (body, replayed) = submitted.into_parts();
    let mut response = HttpResponse::Created().json(body);
    mark_replayed(&mut response, replayed);
    Ok(response)
}

/// Submit one completed form: parse, score, store, raise signals.
///
/// The answers are checked against the instrument's current version: a missing, unknown,
/// wrongly typed or out-of-range item, or a VAS value with more than one decimal, refuses the
/// whole response (422, one JSON pointer per bad item). The stored response records the
/// instrument version, the settings version, and the exact answers. Signals raised here from
/// the series so far: `safety_item` (PHQ-9 item 9 > 0), `alliance_below_cutoff` (SRS/CSRS total
/// below the cutoff, default < 36), `alliance_item_low` (an SRS item < 8.0), `alliance_drop`
/// (SRS fell ≥ 1.0 since the previous SRS of the episode), `alliance_discrepancy` (client WAI-SR
/// and therapist WAI-SR-T of one session differ by ≥ 1.0 on a subscale item mean),
/// `outcome_deterioration` (reliable worsening from intake: ORS/CORS −5, PHQ-9 +6, GAD-7 +4; once
/// per episode while open) and `no_change` (by session 6 no reliable improvement; once per
/// episode). With `Idempotency-Key` (scoped to the caller): the same key and body within 24 h
/// returns the stored answer with `Idempotent-Replayed: true`, after the access checks a fresh
/// request passes, and the replay is audited; a different body 422; while the first is in
/// flight 409. Without `administered_at` the time of receipt is used and the answer says
/// `administered_at_defaulted: true`.
#[utoipa::path(
    tag = "responses",
    request_body = SubmitResponse,
    params(("Idempotency-Key" = Option<String>, Header, description = "At most 255 characters; yours alone (another caller's key of the same text is another key)")),
    responses((status = 201, description = "Stored and scored (or, with `Idempotent-Replayed: true`, the stored first answer)", body = ResponseView,
               headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same key"))),
              AuthProblems, BodyProblems,
              (status = 409, description = "Idempotency key in flight, or form already submitted", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/v1/responses")]
pub async fn create_response(
    user: AuthUser,
    request: HttpRequest,
    body: JsonWithRaw<SubmitResponse>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&SUBMITTERS)?;
    let JsonWithRaw(item, raw) = body;
    submit(&user, &request, &raw, vec![item], |_| String::new(), &database, true).await
}

/// Submit up to 500 completed forms, all or nothing.
///
/// Each is handled as `POST /v1/responses` in one transaction; any error refuses all, with
/// pointers such as `/responses/3/answers/overall`.
#[utoipa::path(
    tag = "responses",
    request_body = SubmitBatch,
    params(("Idempotency-Key" = Option<String>, Header, description = "At most 255 characters; yours alone")),
    responses((status = 201, description = "All stored (or the stored first answer)", body = BatchView,
               headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same key"))),
              AuthProblems, BodyProblems,
              (status = 409, description = "Idempotency key in flight", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/v1/responses/batch")]
pub async fn create_responses(
    user: AuthUser,
    request: HttpRequest,
    body: JsonWithRaw<SubmitBatch>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Clinician, Role::Integration])?;
    let JsonWithRaw(batch, raw) = body;
    if batch.responses.is_empty() || batch.responses.len() > MAX_BATCH {
        return Err(ApiError::Validation(vec![FieldError::new(
            "/responses",
            format!("must hold 1 to {MAX_BATCH} responses"),
        )]));
    }
    submit(&user, &request, &raw, batch.responses, |i| format!("/responses/{i}"), &database, false).await
}

/// List responses, oldest first.
///
/// A clinician sees its caseload's. Voided responses are listed (with `voided_at`).
#[utoipa::path(
    tag = "responses",
    params(ResponseQuery),
    responses((status = 200, description = "One page", body = Paged<ResponseView>), AuthProblems, QueryProblems),
    security(("bearer" = []))
)]
#[get("/v1/responses")]
pub async fn list_responses(
    user: AuthUser,
    query: Query<ResponseQuery>,
    database: web::Data<Database>,
) -> Result<web::Json<Paged<ResponseView>>, ApiError> {
    user.require(&READERS)?;
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor.as_deref())?;
    if query.instrument.as_deref().is_some_and(|key| !crate::domain::validation::is_instrument_key(key)) {
        return Err(ApiError::query("instrument", "must be an instrument key such as `srs`"));
    }
    let filter = ResponseFilter {
        client_id: query.client_id,
        episode_id: query.episode_id,
        instrument: query.instrument,
        from: query.from,
        to: query.to,
        ..ResponseFilter::default()
    };
    let rows = database.list_responses(user.actor(), filter, page).await?;
    Ok(web::Json(Paged::from_page(rows, ResponseView::from)))
}

/// Read one response with its scores and signals.
#[utoipa::path(
    tag = "responses",
    params(("id" = Uuid, Path, description = "The response's id")),
    responses((status = 200, description = "The response", body = ResponseView), AuthProblems, NotFoundProblem),
    security(("bearer" = []))
)]
#[get("/v1/responses/{id}")]
pub async fn get_response(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<web::Json<ResponseView>, ApiError> {
    user.require(&READERS)?;
    Ok(web::Json(database.find_response(user.actor(), id.into_inner()).await?.into()))
}

/// Void a response: kept for audit, excluded from analytics. Responses are never edited.
#[utoipa::path(
    tag = "responses",
    params(("id" = Uuid, Path, description = "The response's id")),
    request_body = VoidRequest,
    responses((status = 200, description = "Voided", body = ResponseView), AuthProblems, NotFoundProblem, BodyProblems,
              (status = 409, description = "Already void", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/v1/responses/{id}/void")]
pub async fn void_response(
    user: AuthUser,
    id: web::Path<Uuid>,
    body: Json<VoidRequest>,
    database: web::Data<Database>,
) -> Result<web::Json<ResponseView>, ApiError> {
    user.require(&[Role::Admin, Role::Clinician, Role::Integration])?;
    let reason = plain_text(&body.0.reason, 1000, "/reason").map_err(|e| ApiError::Validation(vec![e]))?;
    match database.void_response(user.actor(), id.into_inner(), reason).await? {
        Some(stored) => Ok(web::Json(stored.into())),
        None => Err(ApiError::Conflict { code: "already_void", detail: "the response is already void".into() }),
    }
}

//! Instruments: `GET /v1/instruments[/{key}]`, `POST /v1/instruments` (custom),
//! `PUT /v1/instruments/{key}/texts/{locale}` (licensed wording).

use super::auth_user::AuthUser;
use super::extract::Json;
use super::query::Query;
use super::views::InstrumentView;
use crate::db::Database;
use crate::domain::Role;
use crate::domain::instruments::InstrumentDefinition;
use crate::domain::instruments::builtin;
use crate::domain::validation::{FieldError, plain_text, pointer_token};
use crate::error::{ApiError, AuthProblems, BodyProblems, NotFoundProblem, Problem, QueryProblems};
use actix_web::{HttpResponse, get, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

const STAFF: [Role; 5] = [Role::Admin, Role::Supervisor, Role::Clinician, Role::Integration, Role::Analyst];

#[derive(Debug, Serialize, ToSchema)]
pub struct InstrumentList {
    pub items: Vec<InstrumentView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LocaleQuery {
    /// Adds the organization's item texts for this locale (BCP 47, e.g. `en`, `fr-CA`).
    #[param(pattern = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
    pub locale: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemTexts {
    /// Item id → wording, for the items you are licensed to show.
    #[schema(value_type = Object)]
    pub items: Map<String, Value>,
}

fn valid_locale(locale: &str) -> bool {
    let mut parts = locale.split('-');
    let first = parts.next().unwrap_or("");
    (2..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn bad_locale() -> ApiError {
    ApiError::BadRequest { code: "invalid_locale", detail: "the locale must look like `en` or `fr-CA`".into() }
}

/// List the organization's instruments (current versions; built-in and custom).
#[utoipa::path(
    tag = "instruments",
    responses((status = 200, description = "Every instrument", body = InstrumentList), AuthProblems),
    security(("bearer" = []))
)]
#[get("/v1/instruments")]
pub async fn list_instruments(
    user: AuthUser,
    database: web::Data<Database>,
) -> Result<web::Json<InstrumentList>, ApiError> {
    user.require(&STAFF)?;
    let versions = database.current_instruments(user.organization_id).await?;
    Ok(web::Json(InstrumentList { items: versions.into_iter().map(|v| InstrumentView::new(v, None)).collect() }))
}

/// Read one instrument's definition: items, answer types and ranges, subscales, direction,
/// bands, `licence` and `ships_text`; with `?locale=` the organization's item texts.
#[utoipa::path(
    tag = "instruments",
    params(("key" = String, Path, description = "e.g. `srs`", pattern = r"^[a-z][a-z0-9_-]{0,63}$"), LocaleQuery),
    responses((status = 200, description = "The current version", body = InstrumentView), AuthProblems, NotFoundProblem, QueryProblems),
    security(("bearer" = []))
)]
#[get("/v1/instruments/{key}")]
pub async fn get_instrument(
    user: AuthUser,
    key: web::Path<String>,
    query: Query<LocaleQuery>,
    database: web::Data<Database>,
) -> Result<web::Json<InstrumentView>, ApiError> {
    user.require(&STAFF)?;
    let key = key.into_inner();
    let version = database
        .instruments_by_key(user.organization_id, vec![key.clone()])
        .await?
        .remove(&key)
        .ok_or(ApiError::NotFound)?;
    let locale = match query.into_inner().locale {
        None => None,
        Some(locale) if !valid_locale(&locale) => return Err(bad_locale()),
        Some(locale) => {
            let texts = database.instrument_texts(user.organization_id, version.instrument_id, locale.clone()).await?;
            Some((locale, texts.unwrap_or_default()))
        }
    };
    Ok(web::Json(InstrumentView::new(version, locale)))
}

/// Upload the organization's licensed item wording for a locale (replaces earlier texts).
///
/// Admin only. Keys must be item ids of the instrument; texts 1–1000 characters.
#[utoipa::path(
    tag = "instruments",
    params(("key" = String, Path, description = "e.g. `srs`", pattern = r"^[a-z][a-z0-9_-]{0,63}$"),
           ("locale" = String, Path, description = "e.g. `en`, `fr-CA`", pattern = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")),
    request_body = ItemTexts,
    responses((status = 200, description = "The instrument with these texts", body = InstrumentView), AuthProblems, NotFoundProblem, BodyProblems),
    security(("bearer" = []))
)]
#[put("/v1/instruments/{key}/texts/{locale}")]
pub async fn put_instrument_texts(
    user: AuthUser,
    path: web::Path<(String, String)>,
    body: Json<ItemTexts>,
    database: web::Data<Database>,
) -> Result<web::Json<InstrumentView>, ApiError> {
    user.require(&[Role::Admin])?;
    let (key, locale) = path.into_inner();
    let version = database
        .instruments_by_key(user.organization_id, vec![key.clone()])
        .await?
        .remove(&key)
        .ok_or(ApiError::NotFound)?;
    if !valid_locale(&locale) {
        return Err(bad_locale());
    }
    let mut errors = Vec::new();
    let mut texts = Map::new();
    for (item, text) in body.0.items {
        let pointer = format!("/items/{}", pointer_token(&item));
        if version.definition.item(&item).is_none() {
            errors.push(FieldError::new(pointer, format!("is not an item of {key}")));
            continue;
        }
        match text.as_str().map(|t| plain_text(t, 1000, &pointer)) {
            Some(Ok(text)) => {
                texts.insert(item, Value::String(text));
            }
            Some(Err(error)) => errors.push(error),
            None => errors.push(FieldError::new(pointer, "must be a string")),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    database.put_instrument_texts(user.actor(), version.instrument_id, locale.clone(), texts.clone()).await?;
    Ok(web::Json(InstrumentView::new(version, Some((locale, texts)))))
}

/// Define a custom instrument, or a new version of one.
///
/// Admin only. The definition is validated (unique item ids, sane ranges, one answer scale for
/// scored items, subscales naming real items, bands within the total range). A new version
/// never rescores earlier responses: each keeps the version it was scored with. Built-in keys
/// cannot be redefined (409).
#[utoipa::path(
    tag = "instruments",
    request_body = InstrumentDefinition,
    responses((status = 201, description = "Defined", body = InstrumentView), AuthProblems, BodyProblems,
              (status = 409, description = "A built-in key", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/v1/instruments")]
pub async fn define_instrument(
    user: AuthUser,
    body: Json<InstrumentDefinition>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let definition = body.0;
    definition.validate_custom("").map_err(ApiError::Validation)?;
    if builtin::is_builtin(&definition.key) {
        return Err(ApiError::Conflict {
            code: "builtin_instrument",
            detail: format!("`{}` is a built-in instrument", definition.key),
        });
    }
    let version = database.define_instrument(user.actor(), definition).await?;
    Ok(HttpResponse::Created().json(InstrumentView::new(version, None)))
}

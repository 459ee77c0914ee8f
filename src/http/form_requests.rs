//! Form requests for clients' apps: `POST /v1/form-requests` (staff) returns a client-role
//! token limited to one session and its instruments, each submittable once;
//! `GET /v1/me/form-requests` is what that token can read.

use super::auth_user::AuthUser;
use super::extract::Json;
use super::views::InstrumentView;
use crate::auth::tokens::TokenKeys;
use crate::db::Database;
use crate::db::form_requests::FormRequestRecord;
use crate::domain::Role;
use crate::domain::instruments::definition::Rater;
use crate::domain::validation::FieldError;
use crate::error::{ApiError, AuthProblems, BodyProblems};
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFormRequest {
    pub session_id: Uuid,
    /// 1–10 instrument keys that a client fills in, e.g. `["srs", "ors"]`.
    #[schema(min_items = 1, max_items = 10)]
    pub instruments: Vec<String>,
    /// Minutes until the token expires: 5 to 10080 (a week); default 1440 (a day).
    #[schema(minimum = 5, maximum = 10080)]
    #[serde(default, deserialize_with = "crate::domain::validation::optional_whole_number")]
    pub expires_in_minutes: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FormRequestItem {
    pub instrument: String,
    /// The response that fulfilled it, once submitted.
    pub response_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FormRequestView {
    pub id: Uuid,
    pub session_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub items: Vec<FormRequestItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedFormRequest {
    #[serde(flatten)]
    pub request: FormRequestView,
    /// A client-role bearer token for the app: it can read this request and submit its forms, once each.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyFormRequest {
    #[serde(flatten)]
    pub request: FormRequestView,
    /// Definitions of the requested instruments, to render the forms.
    pub instruments: Vec<InstrumentView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MyFormRequests {
    pub items: Vec<MyFormRequest>,
}

fn view(record: FormRequestRecord) -> FormRequestView {
    FormRequestView {
        id: record.id,
        session_id: record.session_id,
        expires_at: record.expires_at,
        items: record
            .items
            .into_iter()
            .map(|(instrument, response_id)| FormRequestItem { instrument, response_id })
            .collect(),
    }
}

/// Ask a client to fill in forms for a session, through an app or a link.
#[utoipa::path(
    tag = "form-requests",
    request_body = CreateFormRequest,
    responses((status = 201, description = "Created, with the client's token", body = CreatedFormRequest), AuthProblems, BodyProblems),
    security(("bearer" = []))
)]
#[post("/v1/form-requests")]
pub async fn create_form_request(
    user: AuthUser,
    body: Json<CreateFormRequest>,
    database: web::Data<Database>,
    keys: web::Data<TokenKeys>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin, Role::Clinician, Role::Integration])?;
    let body = body.0;
    let mut errors = Vec::new();
    let minutes = body.expires_in_minutes.unwrap_or(1440);
    if !(5..=10_080).contains(&minutes) {
        errors.push(FieldError::new("/expires_in_minutes", "must be from 5 to 10080"));
    }
    let mut keys_wanted = body.instruments.clone();
    keys_wanted.sort();
    keys_wanted.dedup();
    if keys_wanted.is_empty() || keys_wanted.len() > 10 || keys_wanted.len() != body.instruments.len() {
        errors.push(FieldError::new("/instruments", "name 1 to 10 different instruments"));
    }
    let found = database.instruments_by_key(user.organization_id, keys_wanted.clone()).await?;
    for (index, key) in body.instruments.iter().enumerate() {
        match found.get(key) {
            None => errors.push(FieldError::new(format!("/instruments/{index}"), format!("no instrument `{key}`"))),
            Some(version) if !version.definition.raters.contains(&Rater::Client) => errors
                .push(FieldError::new(format!("/instruments/{index}"), format!("`{key}` is not filled in by clients"))),
            Some(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // `minutes` was checked to be 5 to 10080 above.
    let now = Utc::now();
    let expires_at = now.checked_add_signed(chrono::Duration::minutes(minutes)).unwrap_or(now);
    let record = database.create_form_request(user.actor(), body.session_id, keys_wanted, expires_at).await.map_err(
        |e| match e {
            crate::db::DbError::NotFound => {
                ApiError::Validation(vec![FieldError::new("/session_id", "no such session")])
            }
            other => other.into(),
        },
    )?;
    let token =
        keys.issue_until(record.id, user.organization_id, Role::Client, now.timestamp(), expires_at.timestamp()).token;
    Ok(HttpResponse::Created().json(CreatedFormRequest { request: view(record), token }))
}

/// The form request a client token stands for, with the instruments to render.
#[utoipa::path(
    tag = "form-requests",
    responses((status = 200, description = "The client's form request", body = MyFormRequests), AuthProblems),
    security(("bearer" = []))
)]
#[get("/v1/me/form-requests")]
pub async fn my_form_requests(
    user: AuthUser,
    database: web::Data<Database>,
) -> Result<web::Json<MyFormRequests>, ApiError> {
    user.require(&[Role::Client])?;
    let record = database.own_form_request(user.organization_id, user.id).await?;
    let keys: Vec<String> = record.items.iter().map(|(key, _)| key.clone()).collect();
    let instruments = database.instruments_by_key(user.organization_id, keys).await?;
    let instruments = instruments.into_values().map(|v| InstrumentView::new(v, None)).collect();
    Ok(web::Json(MyFormRequests { items: vec![MyFormRequest { request: view(record), instruments }] }))
}

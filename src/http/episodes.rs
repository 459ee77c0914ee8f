//! Episodes of care and sessions: `POST/GET /v1/episodes`, `GET/PATCH /v1/episodes/{id}`,
//! `POST /v1/sessions`, `GET /v1/episodes/{id}/sessions`.

use super::auth_user::AuthUser;
use super::extract::{Json, nullable};
use super::pagination::{Paged, page_request};
use super::query::Query;
use crate::db::Database;
use crate::db::episodes::{EpisodeChanges, EpisodeRow, NewEpisode, Refused, SessionRow};
use crate::domain::Role;
use crate::domain::episodes::EpisodeStatus;
use crate::domain::time::{Day, Timestamp};
use crate::domain::validation::whole_number;
use crate::domain::validation::{FieldError, plain_text};
use crate::error::{ApiError, AuthProblems, BodyProblems, NotFoundProblem, Problem, QueryProblems};
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const READERS: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Clinician, Role::Integration];
const WRITERS: [Role; 3] = [Role::Admin, Role::Clinician, Role::Integration];

#[derive(Debug, Serialize, ToSchema)]
pub struct EpisodeView {
    pub id: Uuid,
    pub client_id: Uuid,
    pub clinician_id: Uuid,
    pub started_on: NaiveDate,
    pub ended_on: Option<NaiveDate>,
    /// A tag used to group episodes in analytics.
    pub program: Option<String>,
    pub status: EpisodeStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<EpisodeRow> for EpisodeView {
    fn from(row: EpisodeRow) -> Self {
        Self {
            id: row.id,
            client_id: row.client_id,
            clinician_id: row.clinician_id,
            started_on: row.started_on,
            ended_on: row.ended_on,
            program: row.program,
            status: row.status,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub episode_id: Uuid,
    pub number: i32,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The EHR's identifier of the encounter, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl From<SessionRow> for SessionView {
    fn from(row: SessionRow) -> Self {
        Self {
            id: row.id,
            episode_id: row.episode_id,
            number: row.number,
            occurred_at: row.occurred_at,
            created_at: row.created_at,
            external_id: row.external_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// By session number.
    pub items: Vec<SessionView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEpisode {
    pub client_id: Uuid,
    /// The primary clinician (a clinician may only name itself).
    pub clinician_id: Uuid,
    pub started_on: Day,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub program: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEpisode {
    pub clinician_id: Option<Uuid>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Day>)]
    pub ended_on: Option<Option<Day>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub program: Option<Option<String>>,
    pub status: Option<EpisodeStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    pub episode_id: Uuid,
    /// 1, 2, …; unique within the episode.
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "whole_number")]
    pub number: i32,
    pub occurred_at: Timestamp,
    /// The EHR's identifier of the encounter (unique in the organization): a FHIR
    /// QuestionnaireResponse may name the session by it.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub external_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EpisodeQuery {
    pub client_id: Option<Uuid>,
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

fn refused(error: Refused) -> ApiError {
    match error {
        Refused::Db(error) => error.into(),
        Refused::Unknown(pointer) => {
            ApiError::Validation(vec![FieldError::new(pointer, "no such record in your organization")])
        }
        Refused::NotYours => ApiError::Forbidden,
    }
}

fn program(raw: Option<String>) -> Result<Option<String>, ApiError> {
    raw.map(|p| plain_text(&p, 100, "/program")).transpose().map_err(|e| ApiError::Validation(vec![e]))
}

/// Open an episode of care.
///
/// Admins and integrations for any client; a clinician for itself, for a client with no
/// episode yet (intake) or already in its caseload (403 otherwise).
#[utoipa::path(
    tag = "episodes",
    request_body = CreateEpisode,
    responses((status = 201, description = "Opened", body = EpisodeView), AuthProblems, BodyProblems),
    security(("bearer" = []))
)]
#[post("/v1/episodes")]
pub async fn create_episode(
    user: AuthUser,
    body: Json<CreateEpisode>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&WRITERS)?;
    let body = body.0;
    let new = NewEpisode {
        client_id: body.client_id,
        clinician_id: body.clinician_id,
        started_on: body.started_on,
        program: program(body.program)?,
    };
    let row = database.insert_episode(user.actor(), new).await.map_err(refused)?;
    Ok(HttpResponse::Created().json(EpisodeView::from(row)))
}

/// List episodes, oldest first (a clinician: its own).
#[utoipa::path(
    tag = "episodes",
    params(EpisodeQuery),
    responses((status = 200, description = "One page", body = Paged<EpisodeView>), AuthProblems, QueryProblems),
    security(("bearer" = []))
)]
#[get("/v1/episodes")]
pub async fn list_episodes(
    user: AuthUser,
    query: Query<EpisodeQuery>,
    database: web::Data<Database>,
) -> Result<web::Json<Paged<EpisodeView>>, ApiError> {
    user.require(&READERS)?;
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let rows = database.list_episodes(user.actor(), query.client_id, page).await?;
    Ok(web::Json(Paged::from_page(rows, EpisodeView::from)))
}

/// Read one episode.
#[utoipa::path(
    tag = "episodes",
    params(("id" = Uuid, Path, description = "The episode's id")),
    responses((status = 200, description = "The episode", body = EpisodeView), AuthProblems, NotFoundProblem),
    security(("bearer" = []))
)]
#[get("/v1/episodes/{id}")]
pub async fn get_episode(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<web::Json<EpisodeView>, ApiError> {
    user.require(&READERS)?;
    Ok(web::Json(database.find_episode(user.actor(), id.into_inner()).await?.into()))
}

/// Change an episode: clinician, end date, program, status.
#[utoipa::path(
    tag = "episodes",
    params(("id" = Uuid, Path, description = "The episode's id")),
    request_body = UpdateEpisode,
    responses((status = 200, description = "Changed", body = EpisodeView), AuthProblems, NotFoundProblem, BodyProblems),
    security(("bearer" = []))
)]
#[patch("/v1/episodes/{id}")]
pub async fn update_episode(
    user: AuthUser,
    id: web::Path<Uuid>,
    body: Json<UpdateEpisode>,
    database: web::Data<Database>,
) -> Result<web::Json<EpisodeView>, ApiError> {
    user.require(&WRITERS)?;
    let body = body.0;
    let program = match body.program {
        Some(Some(p)) => Some(program(Some(p))?),
        Some(None) => Some(None),
        None => None,
    };
    let changes =
        EpisodeChanges { clinician_id: body.clinician_id, ended_on: body.ended_on, program, status: body.status };
    let row = database.update_episode(user.actor(), id.into_inner(), changes).await.map_err(|e| match e {
        Refused::Db(crate::db::DbError::Query(diesel_error)) if diesel_error.to_string().contains("check") => {
            ApiError::Validation(vec![FieldError::new("/ended_on", "must not be before started_on")])
        }
        other => refused(other),
    })?;
    Ok(web::Json(row.into()))
}

/// Record a session of an episode.
#[utoipa::path(
    tag = "episodes",
    request_body = CreateSession,
    responses((status = 201, description = "Recorded", body = SessionView), AuthProblems, BodyProblems,
              (status = 409, description = "The episode has a session with this number, or another session has this external_id", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/v1/sessions")]
pub async fn create_session(
    user: AuthUser,
    body: Json<CreateSession>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&WRITERS)?;
    let body = body.0;
    let mut errors = Vec::new();
    if !(1..=10_000).contains(&body.number) {
        errors.push(FieldError::new("/number", "must be from 1 to 10000"));
    }
    let external_id = match body.external_id.as_deref().map(|id| plain_text(id, 255, "/external_id")) {
        Some(Err(error)) => {
            errors.push(error);
            None
        }
        other => other.and_then(Result::ok),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let inserted = database.insert_session(user.actor(), body.episode_id, body.number, body.occurred_at, external_id);
    let row = inserted.await.map_err(|e| match e {
        Refused::Db(crate::db::DbError::Conflict { constraint }) if constraint.contains("external_id") => {
            ApiError::Conflict {
                code: "session_external_id_taken",
                detail: "another session of the organization has this external_id".into(),
            }
        }
        Refused::Db(crate::db::DbError::Conflict { .. }) => ApiError::Conflict {
            code: "session_number_taken",
            detail: "the episode already has a session with this number".into(),
        },
        other => refused(other),
    })?;
    Ok(HttpResponse::Created().json(SessionView::from(row)))
}

/// List an episode's sessions by number.
#[utoipa::path(
    tag = "episodes",
    params(("id" = Uuid, Path, description = "The episode's id")),
    responses((status = 200, description = "Its sessions", body = SessionList), AuthProblems, NotFoundProblem),
    security(("bearer" = []))
)]
#[get("/v1/episodes/{id}/sessions")]
pub async fn list_sessions(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<web::Json<SessionList>, ApiError> {
    user.require(&READERS)?;
    let rows = database.list_sessions(user.actor(), id.into_inner()).await?;
    Ok(web::Json(SessionList { items: rows.into_iter().map(SessionView::from).collect() }))
}

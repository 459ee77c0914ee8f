//! `GET /v1/signals`, `POST /v1/signals/{id}/acknowledge`, `POST /v1/signals/{id}/resolve`.

use super::auth_user::AuthUser;
use super::extract::Json;
use super::pagination::{Paged, page_request};
use super::query::Query;
use super::views::SignalView;
use crate::db::Database;
use crate::db::signals::{SignalFilter, Transition};
use crate::domain::Role;
use crate::domain::signals::{SignalKind, SignalStatus};
use crate::domain::validation::plain_text;
use crate::error::{ApiError, AuthProblems, BodyProblems, NotFoundProblem, Problem, QueryProblems};
use actix_web::{get, post, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SignalQuery {
    pub status: Option<SignalStatus>,
    pub kind: Option<SignalKind>,
    pub clinician_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub episode_id: Option<Uuid>,
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// What was done (at most 2000 characters).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub note: Option<String>,
}

/// List signals, newest first.
///
/// Kinds and triggers are those of `POST /v1/responses`. A clinician sees its caseload's.
#[utoipa::path(
    tag = "signals",
    params(SignalQuery),
    responses((status = 200, description = "One page", body = Paged<SignalView>), AuthProblems, QueryProblems),
    security(("bearer" = []))
)]
#[get("/v1/signals")]
pub async fn list_signals(
    user: AuthUser,
    query: Query<SignalQuery>,
    database: web::Data<Database>,
) -> Result<web::Json<Paged<SignalView>>, ApiError> {
    user.require(&[Role::Admin, Role::Supervisor, Role::Clinician, Role::Integration])?;
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let filter = SignalFilter {
        status: query.status,
        kind: query.kind,
        clinician_id: query.clinician_id,
        client_id: query.client_id,
        episode_id: query.episode_id,
    };
    let rows = database.list_signals(user.actor(), filter, page).await?;
    Ok(web::Json(Paged::from_page(rows, SignalView::from)))
}

fn done(transition: Transition) -> Result<web::Json<SignalView>, ApiError> {
    match transition {
        Transition::Done(row) => Ok(web::Json((*row).into())),
        Transition::NotAllowed(detail) => Err(ApiError::Conflict { code: "signal_state", detail }),
    }
}

/// Acknowledge an open signal (who and when are recorded).
#[utoipa::path(
    tag = "signals",
    params(("id" = Uuid, Path, description = "The signal's id")),
    responses((status = 200, description = "Acknowledged", body = SignalView), AuthProblems, NotFoundProblem,
              (status = 409, description = "Not open", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/v1/signals/{id}/acknowledge")]
pub async fn acknowledge_signal(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<web::Json<SignalView>, ApiError> {
    user.require(&[Role::Admin, Role::Supervisor, Role::Clinician])?;
    done(database.transition_signal(user.actor(), id.into_inner(), None).await?)
}

/// Resolve an open or acknowledged signal, with an optional note.
#[utoipa::path(
    tag = "signals",
    params(("id" = Uuid, Path, description = "The signal's id")),
    request_body = ResolveRequest,
    responses((status = 200, description = "Resolved", body = SignalView), AuthProblems, NotFoundProblem, BodyProblems,
              (status = 409, description = "Already resolved", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/v1/signals/{id}/resolve")]
pub async fn resolve_signal(
    user: AuthUser,
    id: web::Path<Uuid>,
    body: Json<ResolveRequest>,
    database: web::Data<Database>,
) -> Result<web::Json<SignalView>, ApiError> {
    user.require(&[Role::Admin, Role::Supervisor, Role::Clinician])?;
    let note = match body.0.note {
        Some(note) => Some(plain_text(&note, 2000, "/note").map_err(|e| ApiError::Validation(vec![e]))?),
        None => None,
    };
    done(database.transition_signal(user.actor(), id.into_inner(), Some(note)).await?)
}

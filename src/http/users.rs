//! People of the organization: `POST/GET /v1/users`, `GET/PATCH /v1/users/{id}`.

use super::auth_user::AuthUser;
use super::extract::{Json, nullable};
use super::pagination::{Paged, page_request};
use super::query::Query;
use crate::auth::hashing_pool::HashingPool;
use crate::auth::password;
use crate::db::Database;
use crate::db::users::{NewUser, UserChanges, UserFilter, UserRow};
use crate::domain::Role;
use crate::domain::people::{EmailAddress, NewPassword};
use crate::domain::role::PersonRole;
use crate::domain::validation::{Errors, FieldError, external_id, plain_text};
use crate::error::{ApiError, AuthProblems, BodyProblems, NotFoundProblem, QueryProblems};
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Roles a person can hold (`integration` belongs to service accounts, `client` to form-request tokens).

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub display_name: Option<String>,
    /// The person's id in the EHR (clinicians).
    pub external_id: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            role: row.role,
            display_name: row.display_name,
            external_id: row.external_id,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUserView {
    #[serde(flatten)]
    pub user: UserView,
    /// Present once, when the password was generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// An e-mail address; the login name (unique across organizations).
    #[schema(
        example = "ana@northside.example",
        max_length = 254,
        pattern = r"^[!-?A-~]{1,64}@[!-\-/-?A-~][!-?A-~]*\.[!-?A-~]*[!-\-/-?A-~]$"
    )]
    pub email: String,
    pub role: PersonRole,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub display_name: Option<String>,
    /// The person's id in the EHR.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub external_id: Option<String>,
    /// At least 12 characters; generated (and returned once) when absent.
    #[schema(min_length = 12, max_length = 1024, pattern = r"^[^\u0000]*$")]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub role: Option<PersonRole>,
    /// `false` deactivates: tokens stop working at once and refresh tokens are revoked.
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$")]
    pub external_id: Option<Option<String>>,
    #[schema(min_length = 12, max_length = 1024, pattern = r"^[^\u0000]*$")]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    pub role: Option<Role>,
    pub active: Option<bool>,
    /// 1–500, default 50.
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

fn optional_text(
    value: Option<Option<String>>,
    errors: &mut Errors,
    parse: impl Fn(&str) -> Result<String, FieldError>,
) -> Option<Option<String>> {
    value.map(|inner| inner.and_then(|text| errors.take(parse(&text))))
}

/// Hashes off the async workers: Argon2 takes tens of milliseconds by design.
async fn hash_password(hashing: &HashingPool, secret: String) -> Result<String, ApiError> {
    hashing.hash(secret).await.map_err(ApiError::internal)
}

/// Create a person.
///
/// Admin only. The e-mail address is the login name and is unique across Rapport (409 if
/// taken). Without `password` one is generated and returned once as `initial_password`.
#[utoipa::path(
    tag = "users",
    request_body = CreateUser,
    responses((status = 201, description = "Created", body = CreatedUserView), AuthProblems, BodyProblems,
              (status = 409, description = "The e-mail address is taken", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/v1/users")]
pub async fn create_user(
    user: AuthUser,
    body: Json<CreateUser>,
    database: web::Data<Database>,
    hashing: web::Data<HashingPool>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let body = body.0;
    let mut errors = Errors::default();
    let email = errors.take(EmailAddress::parse(&body.email, "/email"));
    let role = Some(Role::from(body.role));
    let display_name = body.display_name.and_then(|n| errors.take(plain_text(&n, 200, "/display_name")));
    let external = body.external_id.and_then(|e| errors.take(external_id(&e, "/external_id")));
    let generated = body.password.is_none();
    let password = errors.take(NewPassword::parse(&body.password.unwrap_or_else(password::generate), "/password"));
    let (Some(email), Some(role), Some(password)) = (email, role, password) else {
        return Err(ApiError::Validation(errors.0));
    };
    errors.finish(|| ()).map_err(ApiError::Validation)?;
    let password_hash = hash_password(&hashing, password.expose().to_owned()).await?;
    let new = NewUser { email, role, display_name, external_id: external, password_hash };
    let row = database
        .insert_user(user.actor(), new)
        .await
        .map_err(conflict_as("email_taken", "that e-mail address or external id is already in use"))?;
    let initial_password = generated.then(|| password.expose().to_owned());
    Ok(HttpResponse::Created().json(CreatedUserView { user: row.into(), initial_password }))
}

/// Maps a uniqueness conflict to a specific problem code.
pub fn conflict_as(code: &'static str, detail: &'static str) -> impl Fn(crate::db::DbError) -> ApiError {
    move |error| match error {
        crate::db::DbError::Conflict { .. } => ApiError::Conflict { code, detail: detail.into() },
        other => other.into(),
    }
}

/// List the organization's people.
///
/// Admins and supervisors. Ordered by creation (id), oldest first.
#[utoipa::path(
    tag = "users",
    params(UserQuery),
    responses((status = 200, description = "One page", body = Paged<UserView>), AuthProblems, QueryProblems),
    security(("bearer" = []))
)]
#[get("/v1/users")]
pub async fn list_users(
    user: AuthUser,
    query: Query<UserQuery>,
    database: web::Data<Database>,
) -> Result<web::Json<Paged<UserView>>, ApiError> {
    user.require(&[Role::Admin, Role::Supervisor])?;
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let rows = database.list_users(user.actor(), UserFilter { role: query.role, active: query.active }, page).await?;
    Ok(web::Json(Paged::from_page(rows, UserView::from)))
}

/// Read one person.
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path, description = "The person's id")),
    responses((status = 200, description = "The person", body = UserView), AuthProblems, NotFoundProblem),
    security(("bearer" = []))
)]
#[get("/v1/users/{id}")]
pub async fn get_user(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<web::Json<UserView>, ApiError> {
    user.require(&[Role::Admin, Role::Supervisor])?;
    Ok(web::Json(database.find_user(user.actor(), id.into_inner()).await?.into()))
}

/// Change a person: role, active (deactivate), display name, external id, password.
///
/// Admin only. An admin cannot demote or deactivate themselves (409), so an organization is
/// never left without one by accident.
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path, description = "The person's id")),
    request_body = UpdateUser,
    responses((status = 200, description = "The person", body = UserView), AuthProblems, NotFoundProblem, BodyProblems,
              (status = 409, description = "Conflict", body = crate::error::Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[patch("/v1/users/{id}")]
pub async fn update_user(
    user: AuthUser,
    id: web::Path<Uuid>,
    body: Json<UpdateUser>,
    database: web::Data<Database>,
    hashing: web::Data<HashingPool>,
) -> Result<web::Json<UserView>, ApiError> {
    user.require(&[Role::Admin])?;
    let (id, body) = (id.into_inner(), body.0);
    let mut errors = Errors::default();
    let role = body.role.map(Role::from);
    let display_name = optional_text(body.display_name, &mut errors, |n| plain_text(n, 200, "/display_name"));
    let external = optional_text(body.external_id, &mut errors, |e| external_id(e, "/external_id"));
    let password = body.password.and_then(|p| errors.take(NewPassword::parse(&p, "/password")));
    errors.finish(|| ()).map_err(ApiError::Validation)?;
    if id == user.id && (body.active == Some(false) || role.is_some_and(|r| r != Role::Admin)) {
        return Err(ApiError::Conflict {
            code: "own_admin_rights",
            detail: "an admin cannot demote or deactivate themselves".into(),
        });
    }
    let password_hash = match password {
        Some(password) => Some(hash_password(&hashing, password.expose().to_owned()).await?),
        None => None,
    };
    let changes = UserChanges { role, active: body.active, display_name, external_id: external, password_hash };
    let row = database
        .update_user(user.actor(), id, changes)
        .await
        .map_err(conflict_as("external_id_taken", "that external id is already in use"))?;
    Ok(web::Json(row.into()))
}

//! Clients (people in care): `POST/GET /v1/clients`, `GET/PATCH/DELETE /v1/clients/{id}`.
//!
//! Admins, supervisors and integrations see the organization's clients; a clinician sees its
//! caseload (clients of its episodes); analysts see no identifiers. Every read and write is
//! audited.

use super::auth_user::AuthUser;
use super::extract::{Json, nullable};
use super::pagination::{Paged, page_request};
use super::query::Query;
use super::users::conflict_as;
use crate::db::Database;
use crate::db::clients::{ClientChanges, ClientFilter, ClientRow};
use crate::domain::Role;
use crate::domain::clients::{self as rules, AgeGroup, ClientDetails, RawClient};
use crate::domain::validation::{Errors, external_id};
use crate::domain::validation::{nullable_whole_number, optional_whole_number};
use crate::error::{ApiError, AuthProblems, BodyProblems, NotFoundProblem, Problem, QueryProblems};
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const READERS: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Clinician, Role::Integration];
const WRITERS: [Role; 3] = [Role::Admin, Role::Clinician, Role::Integration];

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub id: Uuid,
    /// The client's id in the EHR; unique in the organization.
    pub external_id: String,
    pub age_group: AgeGroup,
    pub display_name: Option<String>,
    pub birth_year: Option<i32>,
    /// Organization-declared attributes (grouping labels).
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ClientRow> for ClientView {
    fn from(row: ClientRow) -> Self {
        Self {
            id: row.id,
            external_id: row.external_id,
            age_group: row.age_group,
            display_name: row.display_name,
            birth_year: row.birth_year,
            attributes: row.attributes,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    #[schema(
        example = "MRN-004211",
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub external_id: String,
    /// Chooses the ORS clinical cutoff.
    pub age_group: AgeGroup,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub display_name: Option<String>,
    /// From 1900 to the current year.
    #[schema(minimum = 1900, maximum = 2200)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub birth_year: Option<i32>,
    /// At most 50 entries; names `[a-z0-9_]{1,64}`; values strings (≤ 200 characters), numbers or booleans.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClient {
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub external_id: Option<String>,
    pub age_group: Option<AgeGroup>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub display_name: Option<Option<String>>,
    /// From 1900 to the current year.
    #[serde(default, deserialize_with = "nullable_whole_number")]
    #[schema(value_type = Option<i32>, minimum = 1900, maximum = 2200)]
    pub birth_year: Option<Option<i32>>,
    /// Replaces all attributes.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

/// A client's details for the upsert; the external id is in the path.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertClient {
    pub age_group: AgeGroup,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub display_name: Option<String>,
    /// From 1900 to the current year.
    #[schema(minimum = 1900, maximum = 2200)]
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub birth_year: Option<i32>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClientQuery {
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub external_id: Option<String>,
    pub age_group: Option<AgeGroup>,
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

fn this_year() -> i32 {
    Utc::now().year()
}

const TAKEN: &str = "another client of this organization has that external id";

/// Create a client.
///
/// Admins, clinicians and integrations. `external_id` is unique in the organization (409).
#[utoipa::path(
    tag = "clients",
    request_body = CreateClient,
    responses((status = 201, description = "Created", body = ClientView), AuthProblems, BodyProblems,
              (status = 409, description = "external_id taken", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/v1/clients")]
pub async fn create_client(
    user: AuthUser,
    body: Json<CreateClient>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&WRITERS)?;
    let body = body.0;
    let raw = RawClient {
        external_id: &body.external_id,
        age_group: body.age_group,
        display_name: body.display_name.as_deref(),
        birth_year: body.birth_year,
        attributes: body.attributes.as_ref(),
    };
    let details = ClientDetails::parse(raw, this_year()).map_err(ApiError::Validation)?;
    let row = database.insert_client(user.actor(), details).await.map_err(conflict_as("external_id_taken", TAKEN))?;
    Ok(HttpResponse::Created().json(ClientView::from(row)))
}

/// List clients, oldest first.
///
/// Admins, supervisors and integrations see the organization's clients; a clinician its caseload.
#[utoipa::path(
    tag = "clients",
    params(ClientQuery),
    responses((status = 200, description = "One page", body = Paged<ClientView>), AuthProblems, QueryProblems),
    security(("bearer" = []))
)]
#[get("/v1/clients")]
pub async fn list_clients(
    user: AuthUser,
    query: Query<ClientQuery>,
    database: web::Data<Database>,
) -> Result<web::Json<Paged<ClientView>>, ApiError> {
    user.require(&READERS)?;
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let external =
        query.external_id.map(|raw| crate::domain::validation::external_id(&raw, "/external_id")).transpose().map_err(
            |error| ApiError::InvalidParameters {
                code: "invalid_query",
                errors: vec![crate::error::FieldError::query("external_id", error.detail)],
            },
        )?;
    let filter = ClientFilter { external_id: external, age_group: query.age_group, ..ClientFilter::default() };
    let rows = database.list_clients(user.actor(), filter, page).await?;
    Ok(web::Json(Paged::from_page(rows, ClientView::from)))
}

/// Read one client.
#[utoipa::path(
    tag = "clients",
    params(("id" = Uuid, Path, description = "The client's id")),
    responses((status = 200, description = "The client", body = ClientView), AuthProblems, NotFoundProblem),
    security(("bearer" = []))
)]
#[get("/v1/clients/{id}")]
pub async fn get_client(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<web::Json<ClientView>, ApiError> {
    user.require(&READERS)?;
    Ok(web::Json(database.find_client(user.actor(), id.into_inner()).await?.into()))
}

/// Change a client. `null` clears `display_name` or `birth_year`; `attributes` replaces all.
#[utoipa::path(
    tag = "clients",
    params(("id" = Uuid, Path, description = "The client's id")),
    request_body = UpdateClient,
    responses((status = 200, description = "The client", body = ClientView), AuthProblems, NotFoundProblem, BodyProblems,
              (status = 409, description = "external_id taken", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[patch("/v1/clients/{id}")]
pub async fn update_client(
    user: AuthUser,
    id: web::Path<Uuid>,
    body: Json<UpdateClient>,
    database: web::Data<Database>,
) -> Result<web::Json<ClientView>, ApiError> {
    user.require(&WRITERS)?;
    let body = body.0;
    let mut errors = Errors::default();
    let changes = ClientChanges {
        external_id: body.external_id.and_then(|e| errors.take(external_id(&e, "/external_id"))),
        age_group: body.age_group,
        display_name: body.display_name.map(|name| name.and_then(|n| errors.take(rules::display_name(&n)))),
        birth_year: body.birth_year.map(|year| year.and_then(|y| errors.take(rules::birth_year(y, this_year())))),
        attributes: body
            .attributes
            .and_then(|map| rules::attributes(&map).map_err(|mut e| errors.0.append(&mut e)).ok()),
    };
    errors.finish(|| ()).map_err(ApiError::Validation)?;
    let row = database
        .update_client(user.actor(), id.into_inner(), changes)
        .await
        .map_err(conflict_as("external_id_taken", TAKEN))?;
    Ok(web::Json(row.into()))
}

/// Erase a client and everything recorded about them (episodes, sessions, responses).
///
/// Admin only. Irreversible; the audit record of the erasure remains.
#[utoipa::path(
    tag = "clients",
    params(("id" = Uuid, Path, description = "The client's id")),
    responses((status = 204, description = "Erased"), AuthProblems, NotFoundProblem),
    security(("bearer" = []))
)]
#[delete("/v1/clients/{id}")]
pub async fn erase_client(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    database.erase_client(user.actor(), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Create or update a client by its EHR id (for integrations).
///
/// 201 when created, 200 when an existing client's details were replaced. Safe to repeat and
/// to race: the organization's unique external id decides.
#[utoipa::path(
    tag = "clients",
    params(("external_id" = String, Path, description = "The client's id in the EHR", min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$")),
    request_body = UpsertClient,
    responses((status = 200, description = "Updated", body = ClientView), (status = 201, description = "Created", body = ClientView),
              AuthProblems, NotFoundProblem, BodyProblems),
    security(("bearer" = []))
)]
#[put("/v1/clients/by-external-id/{external_id}")]
pub async fn upsert_client(
    user: AuthUser,
    external: web::Path<String>,
    body: Json<UpsertClient>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&WRITERS)?;
    let (external, body) = (external.into_inner(), body.0);
    let raw = RawClient {
        external_id: &external,
        age_group: body.age_group,
        display_name: body.display_name.as_deref(),
        birth_year: body.birth_year,
        attributes: body.attributes.as_ref(),
    };
    let details = ClientDetails::parse(raw, this_year()).map_err(ApiError::Validation)?;
    let (row, created) = database.upsert_client(user.actor(), details).await?;
    let mut response = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.json(ClientView::from(row)))
}

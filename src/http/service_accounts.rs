//! Service accounts for EHR integrations and analytics pipelines: `POST/GET /v1/service-accounts`.

use super::auth_user::AuthUser;
use super::extract::Json;
use super::pagination::{Paged, page_request};
use super::query::Query;
use crate::auth::hashing_pool::HashingPool;
use crate::db::Database;
use crate::db::service_accounts::{NewServiceAccount, ServiceAccountRow};
use crate::domain::Role;
use crate::domain::role::AccountRole;
use crate::domain::validation::plain_text;
use crate::error::{ApiError, AuthProblems, BodyProblems};
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    #[schema(
        example = "Epic integration",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*[^\s\u0000-\u0008\u000b-\u001f\u007f-\u009f][^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// `integration` (an EHR) or `analyst` (an analytics pipeline).
    pub role: AccountRole,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountView {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// Use with `grant_type=client_credentials`.
    pub client_id: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedServiceAccountView {
    #[serde(flatten)]
    pub account: ServiceAccountView,
    /// Shown once; only its Argon2id hash is stored.
    pub client_secret: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceAccountQuery {
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

fn view(row: ServiceAccountRow, client_id: String) -> ServiceAccountView {
    ServiceAccountView {
        id: row.id,
        name: row.name,
        role: row.role,
        client_id,
        active: row.active,
        created_at: row.created_at,
    }
}

/// Create a service account; its secret is returned once.
///
/// Admin only.
#[utoipa::path(
    tag = "service-accounts",
    request_body = CreateServiceAccount,
    responses((status = 201, description = "Created; the secret is shown this once", body = CreatedServiceAccountView), AuthProblems, BodyProblems),
    security(("bearer" = []))
)]
#[post("/v1/service-accounts")]
pub async fn create_service_account(
    user: AuthUser,
    body: Json<CreateServiceAccount>,
    database: web::Data<Database>,
    hashing: web::Data<HashingPool>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let mut errors = Vec::new();
    let name = plain_text(&body.0.name, 200, "/name").map_err(|e| errors.push(e)).ok();
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let client_id = format!("svc_{}", crate::embedded_pg::random_hex(12));
    let client_secret = format!("{}{}", crate::embedded_pg::random_hex(16), crate::embedded_pg::random_hex(16));
    let secret = client_secret.clone();
    let secret_hash = hashing.hash(secret).await.map_err(ApiError::internal)?;
    let new = NewServiceAccount { name, role: body.0.role.into(), client_id: client_id.clone(), secret_hash };
    let row = database.insert_service_account(user.actor(), new).await?;
    Ok(HttpResponse::Created().json(CreatedServiceAccountView { account: view(row, client_id), client_secret }))
}

/// List the organization's service accounts (never their secrets).
///
/// Admin only.
#[utoipa::path(
    tag = "service-accounts",
    params(ServiceAccountQuery),
    responses((status = 200, description = "One page", body = Paged<ServiceAccountView>), AuthProblems),
    security(("bearer" = []))
)]
#[get("/v1/service-accounts")]
pub async fn list_service_accounts(
    user: AuthUser,
    query: Query<ServiceAccountQuery>,
    database: web::Data<Database>,
) -> Result<web::Json<Paged<ServiceAccountView>>, ApiError> {
    user.require(&[Role::Admin])?;
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let rows = database.list_service_accounts(user.actor(), page).await?;
    Ok(web::Json(Paged::from_page(rows, |(row, client_id)| view(row, client_id))))
}

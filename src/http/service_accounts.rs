//! Service accounts for EHR integrations and analytics pipelines: `POST/GET /v1/service-accounts`.
//! An account authenticates with a client secret, or (SMART Backend Services) with JWTs
//! signed by a key of the key set it registers inline or by URL.

use super::auth_user::AuthUser;
use super::extract::Json;
use super::pagination::{Paged, page_request};
use super::query::Query;
use crate::auth::client_assertion::check_key_set;
use crate::auth::hashing_pool::HashingPool;
use crate::db::Database;
use crate::db::service_accounts::{KeySource, NewServiceAccount, ServiceAccountRow};
use crate::domain::Role;
use crate::domain::role::AccountRole;
use crate::domain::validation::{FieldError, plain_text};
use crate::error::{ApiError, AuthProblems, BodyProblems};
use crate::outbound::TargetPolicy;
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
    /// For SMART Backend Services: the account's public keys (1 to 10 RSA keys for RS384 or
    /// EC P-384 keys for ES384, each with a `kid`). The account then has no secret.
    #[schema(value_type = Option<Object>, example = json!({"keys": [{"kty": "EC", "crv": "P-384", "kid": "ehr-2026", "x": "…", "y": "…"}]}))]
    pub jwks: Option<serde_json::Value>,
    /// For SMART Backend Services: where the account publishes its key set: `https`, on a
    /// host whose addresses are all public (checked now and at every fetch). The account then
    /// has no secret. Not with `jwks`.
    #[schema(max_length = 2048, example = "https://ehr.example/.well-known/jwks.json")]
    pub jwks_url: Option<String>,
}

/// How a service account proves who it is at the token endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthentication {
    /// `client_id` and `client_secret` (body or HTTP Basic).
    ClientSecret,
    /// A JWT client assertion signed by a registered key (RFC 7523, SMART Backend Services).
    PrivateKeyJwt,
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
    pub authentication: ClientAuthentication,
    /// The registered key set (public keys), for `private_key_jwt` accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedServiceAccountView {
    #[serde(flatten)]
    pub account: ServiceAccountView,
    /// Shown once (only its Argon2id hash is stored); absent for an account with keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
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
    let keyed = row.jwks.is_some() || row.jwks_url.is_some();
    ServiceAccountView {
        id: row.id,
        name: row.name,
        role: row.role,
        client_id,
        active: row.active,
        created_at: row.created_at,
        authentication: if keyed { ClientAuthentication::PrivateKeyJwt } else { ClientAuthentication::ClientSecret },
        jwks: row.jwks,
        jwks_url: row.jwks_url,
    }
}

/// The key source of a new account, or every problem with it by pointer.
async fn key_source(
    body: &CreateServiceAccount,
    policy: TargetPolicy,
    errors: &mut Vec<FieldError>,
) -> Option<KeySource> {
    match (&body.jwks, &body.jwks_url) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new("/jwks_url", "give `jwks` or `jwks_url`, not both"));
            None
        }
        (Some(jwks), None) => match check_key_set(jwks) {
            Ok(_) => Some(KeySource::Inline(jwks.clone())),
            Err(problems) => {
                errors.extend(problems.into_iter().map(|(at, why)| FieldError::new(format!("/jwks{at}"), why)));
                None
            }
        },
        (None, Some(url)) if url.len() > 2048 || url.contains('\0') => {
            errors.push(FieldError::new("/jwks_url", "at most 2048 characters"));
            None
        }
        (None, Some(url)) => match policy.check_target(url).await {
            Ok(_) => Some(KeySource::Url(url.clone())),
            Err(why) => {
                errors.push(FieldError::new("/jwks_url", why));
                None
            }
        },
        (None, None) => None,
    }
}

/// Create a service account; its secret is returned once.
///
/// With `jwks` or `jwks_url` the account authenticates with signed JWT assertions (SMART
/// Backend Services) and has no secret. Admin only.
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
    policy: Option<web::Data<TargetPolicy>>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let mut errors = Vec::new();
    let name = plain_text(&body.0.name, 200, "/name").map_err(|e| errors.push(e)).ok();
    let policy = policy.map(|p| **p).unwrap_or_default();
    let keys = key_source(&body.0, policy, &mut errors).await;
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let client_id = format!("svc_{}", crate::embedded_pg::random_hex(12));
    let (client_secret, secret_hash) = if keys.is_some() {
        (None, None)
    } else {
        let secret = format!("{}{}", crate::embedded_pg::random_hex(16), crate::embedded_pg::random_hex(16));
        let hash = hashing.hash(secret.clone()).await.map_err(ApiError::internal)?;
        (Some(secret), Some(hash))
    };
    let new = NewServiceAccount { name, role: body.0.role.into(), client_id: client_id.clone(), secret_hash, keys };
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

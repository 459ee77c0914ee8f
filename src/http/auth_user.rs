//! `AuthUser`: the authenticated caller. A handler is protected exactly when it takes one.
//!
//! The bearer token must verify (see `auth::tokens`), and its subject must still exist, be
//! active, and hold the role the token names; a deactivated person's or demoted admin's token
//! stops working at once, not when it expires.
//!
//! A token that carries SMART scopes (a backend service's, see `domain::scopes`) is good for
//! the FHIR API alone, and there only for what its scopes grant, within its role.

use super::observe::RequestId;
use crate::auth::tokens::TokenKeys;
use crate::db::Database;
use crate::db::audit::Actor;
use crate::domain::Role;
use crate::domain::scopes::{Interaction, Scopes};
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct AuthUser {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub role: Role,
    pub request_id: String,
    /// The SMART scopes of a backend service's token; `None` when the role alone bounds it.
    pub scopes: Option<Scopes>,
}

impl AuthUser {
    /// For a `client` token: the form request it stands for.
    pub fn form_request(&self) -> Option<Uuid> {
        (self.role == Role::Client).then_some(self.id)
    }
}

impl AuthUser {
    /// Refuses (403) unless the caller holds one of `roles`. A scoped (FHIR) token is refused
    /// here: the REST API is outside every SMART scope.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) && self.scopes.is_none() { Ok(()) } else { Err(ApiError::Forbidden) }
    }

    /// For the FHIR API: refuses (403) unless the caller holds one of `roles` and, with a
    /// scoped token, a scope granting `interaction` on `resource`.
    pub fn require_fhir(&self, roles: &[Role], resource: &str, interaction: Interaction) -> Result<(), ApiError> {
        let scoped = self.scopes.as_ref().is_none_or(|scopes| scopes.allows(resource, interaction));
        if roles.contains(&self.role) && scoped { Ok(()) } else { Err(ApiError::Forbidden) }
    }

    /// The caller as the database layer sees it: for scoping and audit events.
    pub fn actor(&self) -> Actor {
        Actor {
            organization_id: self.organization_id,
            id: self.id,
            role: self.role,
            request_id: self.request_id.clone(),
        }
    }
}

/// The request id of a request (set by the observing middleware).
pub fn request_id(request: &HttpRequest) -> String {
    request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default()
}

fn bearer_token(request: &HttpRequest) -> Result<String, ApiError> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("a bearer token is required"))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is malformed"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(token.trim().to_owned())
        }
        _ => Err(ApiError::Unauthorized("the Authorization header must be `Bearer <token>`")),
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(request);
        let keys = request.app_data::<web::Data<TokenKeys>>().cloned();
        let database = request.app_data::<web::Data<Database>>().cloned();
        let request_id = request_id(request);
        Box::pin(async move {
            let token = token?;
            let (Some(keys), Some(database)) = (keys, database) else {
                return Err(ApiError::internal(std::io::Error::other("token keys or database not configured")));
            };
            let claims = keys.verify(&token).map_err(|rejected| {
                tracing::info!(reason = %rejected, "bearer token refused");
                ApiError::Unauthorized("the bearer token is invalid or expired")
            })?;
            let scopes = match claims.scope.as_deref().map(Scopes::parse) {
                None => None,
                Some(Ok(scopes)) => Some(scopes),
                Some(Err(_)) => return Err(ApiError::Unauthorized("the bearer token is invalid or expired")),
            };
            match database.principal_status(claims.org, claims.sub, claims.role).await? {
                Some((role, true)) if role == claims.role => {
                    Ok(AuthUser { id: claims.sub, organization_id: claims.org, role, request_id, scopes })
                }
                _ => {
                    tracing::info!("bearer token refused: subject unknown, inactive or its role changed");
                    Err(ApiError::Unauthorized("the bearer token is no longer valid"))
                }
            }
        })
    }
}

//! `ChartViewer`: who is looking at an episode's chart. Either a bearer token (the roles that
//! may read the episode's analytics) or, with no `Authorization` header, a chart link's
//! `?token=` (see `auth::chart_links`): valid only for the episode in the path, only on the
//! chart endpoints, only while its maker's account is active with the same role.

use super::super::auth_user::{AuthUser, request_id};
use super::super::episode_analytics::READERS;
use crate::auth::chart_links;
use crate::auth::tokens::TokenKeys;
use crate::db::Database;
use crate::db::audit::Actor;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

pub struct ChartViewer {
    pub actor: Actor,
    /// The link's id when the chart is seen through a link.
    pub link: Option<Uuid>,
}

impl ChartViewer {
    /// What the view's audit event says about how it was seen.
    pub fn audit_detail(&self) -> serde_json::Value {
        match self.link {
            Some(link) => serde_json::json!({ "via": "chart_link", "link_id": link }),
            None => serde_json::json!({ "via": "bearer" }),
        }
    }
}

const REFUSED: ApiError = ApiError::Unauthorized("the chart link is invalid, expired, or not for this chart");

/// The `token` parameter of a query string, if any.
fn link_token(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "token").map(|(_, value)| value.into_owned())
}

impl FromRequest for ChartViewer {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if request.headers().contains_key(header::AUTHORIZATION) {
            let user = AuthUser::from_request(request, payload);
            return Box::pin(async move {
                let user = user.await?;
                user.require(&READERS)?;
                Ok(ChartViewer { actor: user.actor(), link: None })
            });
        }
        let token = link_token(request.query_string());
        let episode: Option<Uuid> = request.match_info().get("id").and_then(|id| id.parse().ok());
        let keys = request.app_data::<web::Data<TokenKeys>>().cloned();
        let database = request.app_data::<web::Data<Database>>().cloned();
        let request_id = request_id(request);
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized("a bearer token or a chart link's token is required"))?;
            let (Some(keys), Some(database)) = (keys, database) else {
                return Err(ApiError::internal(std::io::Error::other("token keys or database not configured")));
            };
            let claims = chart_links::verify(&keys, &token).map_err(|rejected| {
                tracing::info!(reason = %rejected, "chart link refused");
                REFUSED
            })?;
            if Some(claims.episode) != episode {
                tracing::info!("chart link refused: made for another episode");
                return Err(REFUSED);
            }
            match database.principal_status(claims.org, claims.sub, claims.role).await? {
                Some((role, true)) if role == claims.role => Ok(ChartViewer {
                    actor: Actor { organization_id: claims.org, id: claims.sub, role, request_id },
                    link: Some(claims.jti),
                }),
                _ => {
                    tracing::info!("chart link refused: its maker is unknown, inactive or their role changed");
                    Err(REFUSED)
                }
            }
        })
    }
}

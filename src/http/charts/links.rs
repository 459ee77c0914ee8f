//! `POST /v1/episodes/{id}/chart-links`: a URL an EHR can embed, carrying a short-lived,
//! read-only token for that one episode's charts (see `auth::chart_links`).

use super::super::auth_user::AuthUser;
use super::super::episode_analytics::READERS;
use super::super::extract::OptionalJson;
use super::super::public_url::PublicUrl;
use crate::auth::chart_links::{self, MAX_LIFETIME_SECS, MIN_LIFETIME_SECS};
use crate::auth::tokens::TokenKeys;
use crate::db::Database;
use crate::error::{ApiError, AuthProblems, BodyProblems, FieldError, NotFoundProblem, PathProblems};
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChartLink {
    /// Seconds the link works for: 30 to 600 (the default).
    #[schema(minimum = 30, maximum = 600)]
    pub expires_in: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChartLinkView {
    /// The link's id: the audit events of its creation and of each view carry it.
    pub id: Uuid,
    pub episode_id: Uuid,
    /// `<img src>` or `<iframe src>` for the alliance chart.
    pub alliance_url: String,
    /// The outcomes chart of the client's first outcome measure; add `&instrument=phq-9` (etc.)
    /// for another.
    pub outcomes_url: String,
    pub expires_at: DateTime<Utc>,
    pub expires_in: i64,
}

/// A link to an episode's charts that an EHR can embed without a bearer token.
///
/// Returns chart URLs carrying a token that works for `expires_in` seconds (at most 600), only
/// on this episode's `alliance.svg` and `outcomes.svg`, only for reading, and only while its
/// maker's account stays active with the same role. The token is refused by every other
/// endpoint. Each view is audited as the maker's, with the link's id. The body may be empty.
#[utoipa::path(
    tag = "charts",
    params(("id" = Uuid, Path, description = "The episode's id")),
    request_body(content = Option<CreateChartLink>, description = "Optional; `{}` or no body for ten minutes"),
    responses((status = 201, description = "The link", body = ChartLinkView), AuthProblems, BodyProblems, NotFoundProblem, PathProblems),
    security(("bearer" = []))
)]
#[post("/v1/episodes/{id}/chart-links")]
pub async fn create_chart_link(
    user: AuthUser,
    id: web::Path<Uuid>,
    request: HttpRequest,
    body: OptionalJson<CreateChartLink>,
    database: web::Data<Database>,
    keys: web::Data<TokenKeys>,
) -> Result<HttpResponse, ApiError> {
    user.require(&READERS)?;
    let wanted = body.0.unwrap_or_default();
    let lifetime = wanted.expires_in.unwrap_or(MAX_LIFETIME_SECS);
    if !(MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS).contains(&lifetime) {
        return Err(ApiError::Validation(vec![FieldError::new("/expires_in", "must be from 30 to 600 seconds")]));
    }
    let episode = id.into_inner();
    let now = Utc::now();
    let link = chart_links::issue(&keys, user.id, user.organization_id, user.role, episode, now.timestamp(), lifetime);
    let expires_at = DateTime::<Utc>::from_timestamp(link.expires_at, 0).unwrap_or(now);
    database.record_chart_link(user.actor(), episode, link.jti, expires_at).await?;
    let base = format!("{}/v1/episodes/{episode}/charts", PublicUrl::base(&request));
    Ok(HttpResponse::Created().json(ChartLinkView {
        id: link.jti,
        episode_id: episode,
        alliance_url: format!("{base}/alliance.svg?token={}", link.token),
        outcomes_url: format!("{base}/outcomes.svg?token={}", link.token),
        expires_at,
        expires_in: lifetime,
    }))
}

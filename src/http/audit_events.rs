//! `GET /v1/audit-events`: the organization's audit log, for admins.

use super::auth_user::AuthUser;
use super::pagination::{Paged, page_request};
use super::query::Query;
use crate::db::Database;
use crate::db::audit::{AuditEventRow, AuditFilter, Outcome};
use crate::domain::Role;
use crate::domain::time::Timestamp;
use crate::error::{ApiError, AuthProblems, QueryProblems};
use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<String>,
    /// e.g. `client.read`, `auth.login`, `user.update`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<Uuid>,
    pub request_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Ids and counts only: never health information or secrets.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditEventRow> for AuditEventView {
    fn from(row: AuditEventRow) -> Self {
        Self {
            id: row.id,
            occurred_at: row.occurred_at,
            actor_id: row.actor_id,
            actor_role: row.actor_role,
            action: row.action,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            request_id: row.request_id,
            outcome: row.outcome,
            detail: row.detail,
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeFilter {
    Success,
    Failure,
    Denied,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub actor_id: Option<Uuid>,
    /// e.g. `client.read`, `webhook.disable`.
    #[param(pattern = r"^[a-z][a-z0-9_.]{0,99}$")]
    pub action: Option<String>,
    /// e.g. `client`, `response`, `webhook`.
    #[param(pattern = r"^[a-z][a-z0-9_]{0,63}$")]
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    pub outcome: Option<OutcomeFilter>,
    /// Inclusive lower bound on `occurred_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `occurred_at`.
    pub to: Option<Timestamp>,
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

/// List audit events, newest first.
///
/// Admin only. Every read or write of client data and every authentication attempt leaves
/// one; the table refuses UPDATE and DELETE.
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "One page", body = Paged<AuditEventView>), AuthProblems, QueryProblems),
    security(("bearer" = []))
)]
#[get("/v1/audit-events")]
pub async fn list_audit_events(
    user: AuthUser,
    query: Query<AuditQuery>,
    database: web::Data<Database>,
) -> Result<web::Json<Paged<AuditEventView>>, ApiError> {
    user.require(&[Role::Admin])?;
    let query = query.into_inner();
    let page = page_request(query.limit, query.cursor.as_deref())?;
    use crate::domain::validation::is_machine_word;
    if query.action.as_deref().is_some_and(|action| !is_machine_word(action, &['_', '.'], 100)) {
        return Err(ApiError::query("action", "must be an action such as `client.read`"));
    }
    if query.resource_type.as_deref().is_some_and(|kind| !is_machine_word(kind, &['_'], 64)) {
        return Err(ApiError::query("resource_type", "must be a resource type such as `client`"));
    }
    let filter = AuditFilter {
        actor_id: query.actor_id,
        action: query.action,
        resource_type: query.resource_type,
        resource_id: query.resource_id,
        outcome: query.outcome.map(|o| match o {
            OutcomeFilter::Success => Outcome::Success,
            OutcomeFilter::Failure => Outcome::Failure,
            OutcomeFilter::Denied => Outcome::Denied,
        }),
        from: query.from,
        to: query.to,
    };
    let rows = database.list_audit_events(user.actor(), filter, page).await?;
    Ok(web::Json(Paged::from_page(rows, AuditEventView::from)))
}

//! Webhook subscriptions (admin): `POST/GET /v1/webhooks`, `GET/PATCH/DELETE /v1/webhooks/{id}`,
//! the deliveries of one, a retry and a ping. Deliveries are signed as Standard Webhooks
//! (docs/integration.md, "Webhooks"); the dispatcher is `jobs::webhooks`.

use super::auth_user::AuthUser;
use super::extract::{Json, nullable};
use super::pagination::{Paged, page_request};
use super::query::Query;
use super::users::conflict_as;
use crate::db::Database;
use crate::db::webhooks::{Attempt, Delivery, DeliveryStatus, NewWebhook, Webhook, WebhookChanges};
use crate::domain::Role;
use crate::domain::validation::{FieldError, plain_text};
use crate::domain::webhooks::{EventType, secret_from};
use crate::error::{ApiError, AuthProblems, BodyProblems, NotFoundProblem, Problem};
use crate::outbound::TargetPolicy;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// How long a rotated-out secret keeps signing alongside the new one.
const ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);

/// The events a subscription may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SubscribableEvent {
    #[serde(rename = "response.created")]
    ResponseCreated,
    #[serde(rename = "response.voided")]
    ResponseVoided,
    #[serde(rename = "signal.created")]
    SignalCreated,
    #[serde(rename = "signal.updated")]
    SignalUpdated,
}

impl From<SubscribableEvent> for EventType {
    fn from(event: SubscribableEvent) -> Self {
        match event {
            SubscribableEvent::ResponseCreated => EventType::ResponseCreated,
            SubscribableEvent::ResponseVoided => EventType::ResponseVoided,
            SubscribableEvent::SignalCreated => EventType::SignalCreated,
            SubscribableEvent::SignalUpdated => EventType::SignalUpdated,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where deliveries are POSTed: `https`, on a host whose addresses are all public.
    #[schema(max_length = 2048, example = "https://ehr.example/rapport/events")]
    pub url: String,
    /// 1 to 4 different event types.
    #[schema(min_items = 1, max_items = 4)]
    pub event_types: Vec<SubscribableEvent>,
    #[schema(min_length = 1, max_length = 200)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    #[schema(min_items = 1, max_items = 4)]
    pub event_types: Option<Vec<SubscribableEvent>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub description: Option<Option<String>>,
    /// `true` resumes a subscription (also one disabled after failing deliveries).
    pub active: Option<bool>,
    /// `true` issues a new secret, shown in this answer only; the old one keeps signing too
    /// for 24 hours.
    pub rotate_secret: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<EventType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub active: bool,
    /// Why the service disabled it, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Until then the previous secret also signs (after a rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The signing secret (`whsec_…`): in the answer that creates or rotates it, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView {
    fn of(hook: Webhook, secret: Option<String>) -> Self {
        Self {
            id: hook.id,
            url: hook.url,
            event_types: hook.event_types,
            description: hook.description,
            active: hook.active,
            disabled_reason: hook.disabled_reason,
            previous_secret_until: hook.previous_secret_until,
            created_at: hook.created_at,
            updated_at: hook.updated_at,
            secret,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    /// The receiver's status; absent when there was no answer (timeout, refused connection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            attempt: a.attempt,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            status_code: a.status_code,
            error: a.error,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl From<DeliveryStatus> for DeliveryState {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => Self::Pending,
            DeliveryStatus::Delivered => Self::Delivered,
            DeliveryStatus::Failed => Self::Failed,
        }
    }
}

impl From<DeliveryState> for DeliveryStatus {
    fn from(state: DeliveryState) -> Self {
        match state {
            DeliveryState::Pending => Self::Pending,
            DeliveryState::Delivered => Self::Delivered,
            DeliveryState::Failed => Self::Failed,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    /// The event's id: the `webhook-id` header of every attempt.
    pub event_id: Uuid,
    pub event_type: EventType,
    pub status: DeliveryState,
    /// When the next attempt is due (pending only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Oldest first.
    pub attempts: Vec<AttemptView>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status.into(),
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            finished_at: d.finished_at,
            attempts: d.attempts.into_iter().map(AttemptView::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedEvent {
    /// The queued event's id (its `webhook-id`).
    pub event_id: Uuid,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WebhookQuery {
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    pub status: Option<DeliveryState>,
    /// 1 to 500; default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    pub cursor: Option<String>,
}

fn policy_of(policy: Option<web::Data<TargetPolicy>>) -> TargetPolicy {
    policy.map(|p| **p).unwrap_or_default()
}

async fn checked_url(url: &str, policy: TargetPolicy, errors: &mut Vec<FieldError>) -> Option<String> {
    if url.chars().count() > 2048 {
        errors.push(FieldError::new("/url", "at most 2048 characters"));
        return None;
    }
    match policy.check_target(url).await {
        Ok(_) => Some(url.to_owned()),
        Err(why) => {
            errors.push(FieldError::new("/url", why));
            None
        }
    }
}

fn checked_types(types: &[SubscribableEvent], errors: &mut Vec<FieldError>) -> Vec<EventType> {
    let mut unique: Vec<EventType> = Vec::new();
    for (index, event) in types.iter().enumerate() {
        let event = EventType::from(*event);
        if unique.contains(&event) {
            errors.push(FieldError::new(format!("/event_types/{index}"), "named twice"));
        } else {
            unique.push(event);
        }
    }
    if unique.is_empty() {
        errors.push(FieldError::new("/event_types", "name at least one event type"));
    }
    unique
}

fn new_secret() -> String {
    secret_from(rand::random())
}

/// Subscribe a URL to events; the signing secret is returned this once.
///
/// Admin only. The URL is checked against the outbound rules now and at every delivery.
#[utoipa::path(
    tag = "webhooks",
    request_body = CreateWebhook,
    responses((status = 201, description = "Subscribed; `secret` is shown this once", body = WebhookView), AuthProblems, BodyProblems),
    security(("bearer" = []))
)]
#[post("/v1/webhooks")]
pub async fn create_webhook(
    user: AuthUser,
    body: Json<CreateWebhook>,
    database: web::Data<Database>,
    policy: Option<web::Data<TargetPolicy>>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let body = body.0;
    let mut errors = Vec::new();
    let url = checked_url(&body.url, policy_of(policy), &mut errors).await;
    let event_types = checked_types(&body.event_types, &mut errors);
    let description =
        body.description.as_deref().and_then(|d| plain_text(d, 200, "/description").map_err(|e| errors.push(e)).ok());
    let Some(url) = url.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let secret = new_secret();
    let new = NewWebhook { url, event_types, description, secret: secret.clone() };
    let hook = database.insert_webhook(user.actor(), new).await?;
    Ok(HttpResponse::Created().json(WebhookView::of(hook, Some(secret))))
}

/// List the organization's webhook subscriptions (never their secrets).
///
/// Admin only.
#[utoipa::path(
    tag = "webhooks",
    params(WebhookQuery),
    responses((status = 200, description = "One page", body = Paged<WebhookView>), AuthProblems),
    security(("bearer" = []))
)]
#[get("/v1/webhooks")]
pub async fn list_webhooks(
    user: AuthUser,
    query: Query<WebhookQuery>,
    database: web::Data<Database>,
) -> Result<web::Json<Paged<WebhookView>>, ApiError> {
    user.require(&[Role::Admin])?;
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let hooks = database.list_webhooks(user.actor(), page).await?;
    Ok(web::Json(Paged::from_page(hooks, |hook| WebhookView::of(hook, None))))
}

/// One webhook subscription. Admin only.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id")),
    responses((status = 200, description = "The subscription", body = WebhookView), AuthProblems, NotFoundProblem),
    security(("bearer" = []))
)]
#[get("/v1/webhooks/{id}")]
pub async fn get_webhook(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<web::Json<WebhookView>, ApiError> {
    user.require(&[Role::Admin])?;
    Ok(web::Json(WebhookView::of(database.find_webhook(user.actor(), id.into_inner()).await?, None)))
}

/// Change a subscription: its URL, event types, description, whether it is active; or rotate
/// its secret.
///
/// Admin only. With `rotate_secret` the answer holds the new secret (this once); deliveries
/// carry both signatures for 24 hours.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id")),
    request_body = UpdateWebhook,
    responses((status = 200, description = "The subscription", body = WebhookView), AuthProblems, NotFoundProblem, BodyProblems),
    security(("bearer" = []))
)]
#[patch("/v1/webhooks/{id}")]
pub async fn update_webhook(
    user: AuthUser,
    id: web::Path<Uuid>,
    body: Json<UpdateWebhook>,
    database: web::Data<Database>,
    policy: Option<web::Data<TargetPolicy>>,
) -> Result<web::Json<WebhookView>, ApiError> {
    user.require(&[Role::Admin])?;
    let body = body.0;
    let mut errors = Vec::new();
    let url = match &body.url {
        Some(url) => checked_url(url, policy_of(policy), &mut errors).await,
        None => None,
    };
    let event_types = body.event_types.as_deref().map(|types| checked_types(types, &mut errors));
    let description = body
        .description
        .map(|d| d.and_then(|text| plain_text(&text, 200, "/description").map_err(|e| errors.push(e)).ok()));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let secret = (body.rotate_secret == Some(true)).then(new_secret);
    let changes = WebhookChanges {
        url,
        event_types,
        description,
        active: body.active,
        rotation: secret.clone().map(|s| (s, ROTATION_GRACE)),
    };
    let hook = database.update_webhook(user.actor(), id.into_inner(), changes).await?;
    Ok(web::Json(WebhookView::of(hook, secret)))
}

/// Delete a subscription and its delivery history. Admin only.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id")),
    responses((status = 204, description = "Deleted"), AuthProblems, NotFoundProblem),
    security(("bearer" = []))
)]
#[delete("/v1/webhooks/{id}")]
pub async fn delete_webhook(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    database.delete_webhook(user.actor(), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A subscription's deliveries, newest first, with every attempt (status code, timing, error)
/// and the next retry. Admin only.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id"), DeliveryQuery),
    responses((status = 200, description = "One page", body = Paged<DeliveryView>), AuthProblems, NotFoundProblem),
    security(("bearer" = []))
)]
#[get("/v1/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    user: AuthUser,
    id: web::Path<Uuid>,
    query: Query<DeliveryQuery>,
    database: web::Data<Database>,
) -> Result<web::Json<Paged<DeliveryView>>, ApiError> {
    user.require(&[Role::Admin])?;
    let page = page_request(query.limit, query.cursor.as_deref())?;
    let status = query.status.map(DeliveryStatus::from);
    let deliveries = database.list_deliveries(user.actor(), id.into_inner(), status, page).await?;
    Ok(web::Json(Paged::from_page(deliveries, DeliveryView::from)))
}

/// Send a delivery again now (a failed one, or a pending one sooner). It keeps its place in the
/// subscription's order. Admin only.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id"),
           ("delivery_id" = Uuid, Path, description = "The delivery's id")),
    responses((status = 202, description = "Due now"), AuthProblems, NotFoundProblem,
              (status = 409, description = "Already delivered", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/v1/webhooks/{id}/deliveries/{delivery_id}/retry")]
pub async fn retry_delivery(
    user: AuthUser,
    path: web::Path<(Uuid, Uuid)>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    let (webhook_id, delivery_id) = path.into_inner();
    database
        .retry_delivery(user.actor(), webhook_id, delivery_id)
        .await
        .map_err(conflict_as("already_delivered", "This delivery was already delivered."))?;
    Ok(HttpResponse::Accepted().finish())
}

/// Queue a `webhook.ping` event for this subscription alone, to test the receiver.
///
/// Admin only. 409 for an inactive subscription (nothing would be sent).
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The subscription's id")),
    responses((status = 202, description = "Queued", body = QueuedEvent), AuthProblems, NotFoundProblem,
              (status = 409, description = "The subscription is not active", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
#[post("/v1/webhooks/{id}/ping")]
pub async fn ping_webhook(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    user.require(&[Role::Admin])?;
    match database.ping_webhook(user.actor(), id.into_inner()).await? {
        Some(event_id) => Ok(HttpResponse::Accepted().json(QueuedEvent { event_id })),
        None => Err(ApiError::Conflict {
            code: "webhook_inactive",
            detail: "The subscription is not active: activate it first.".into(),
        }),
    }
}

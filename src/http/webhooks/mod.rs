//! Webhook subscriptions (admin): `POST/GET /v1/webhooks`, `GET/PATCH/DELETE /v1/webhooks/{id}`,
//! the deliveries of one, a retry and a ping. Deliveries are signed as Standard Webhooks
//! (docs/integration.md, "Webhooks"); the dispatcher is `jobs::webhooks`.

mod views;

pub use views::*;

use super::auth_user::AuthUser;
use super::extract::Json;
use super::pagination::{Paged, page_request};
use super::query::Query;
use super::users::conflict_as;
use crate::db::Database;
use crate::db::webhooks::{DeliveryStatus, NewWebhook, WebhookChanges};
use crate::domain::Role;
use crate::domain::validation::{FieldError, plain_text};
use crate::domain::webhooks::{EventType, secret_from};
use crate::error::{ApiError, AuthProblems, BodyProblems, NotFoundProblem, Problem};
use crate::outbound::TargetPolicy;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use std::time::Duration;
use uuid::Uuid;

/// How long a rotated-out secret keeps signing alongside the new one.
const ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);

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

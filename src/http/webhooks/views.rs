//! What the webhook operations take and answer.

use super::super::extract::nullable;
use crate::db::webhooks::{Attempt, Delivery, DeliveryStatus, Webhook};
use crate::domain::webhooks::EventType;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

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
    pub(super) fn of(hook: Webhook, secret: Option<String>) -> Self {
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

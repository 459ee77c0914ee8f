//! Webhook subscriptions, the outbox and its deliveries (docs/integration.md, "Webhooks").
//!
//! `outbox::emit` writes an event, and one delivery per active subscription that wants its type,
//! inside the transaction of the change that causes it: the event exists if and only if the
//! change committed. The dispatcher (`jobs::webhooks`) claims due deliveries with
//! `FOR UPDATE SKIP LOCKED` and a lease, one at a time per subscription and in the order the
//! events were written: a delivery waits until every transaction that began before its own has
//! ended (`xact` below the snapshot's xmin), so an event never overtakes an earlier one that was
//! still being written. Payloads carry ids and scores, never names or free text.
//!
//! Here: subscriptions. `outbox` writes events, `deliveries` lists and retries them,
//! `dispatch` is what the dispatcher claims and records.

mod deliveries;
mod dispatch;
mod outbox;

pub use deliveries::{Attempt, Delivery, DeliveryStatus};
pub use dispatch::{AttemptResult, Claimed};
use outbox::emit;
pub(in crate::db) use outbox::{emit_response_created, emit_response_voided, emit_signal, forget_client_events};

use crate::db::audit::Actor;
use crate::db::page::{Page, PageRequest};
use crate::db::schema::webhooks;
use crate::db::stored::stored;
use crate::db::{Database, DbError};
use crate::domain::webhooks::EventType;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Double, Text, Uuid as SqlUuid};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks, check_for_backend(diesel::pg::Pg))]
struct WebhookRow {
    id: Uuid,
    url: String,
    event_types: Vec<String>,
    description: Option<String>,
    active: bool,
    disabled_reason: Option<String>,
    previous_secret_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A subscription as the API shows it (never its secret).
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<EventType>,
    pub description: Option<String>,
    pub active: bool,
    pub disabled_reason: Option<String>,
    /// Until then the secret replaced by the latest rotation still signs too.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = DbError;

    fn try_from(row: WebhookRow) -> Result<Self, DbError> {
        let event_types = row
            .event_types
            .iter()
            .map(|raw| stored(raw, EventType::parse, "webhooks.event_types"))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            id: row.id,
            url: row.url,
            event_types,
            description: row.description,
            active: row.active,
            disabled_reason: row.disabled_reason,
            previous_secret_until: row.previous_secret_until,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub struct NewWebhook {
    pub url: String,
    pub event_types: Vec<EventType>,
    pub description: Option<String>,
    pub secret: String,
}

/// A change to a subscription; `None` leaves a field as it is.
#[derive(Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    pub description: Option<Option<String>>,
    pub active: Option<bool>,
    /// A new secret; the current one keeps signing too for `grace`.
    pub rotation: Option<(String, Duration)>,
}

pub(super) fn find(conn: &mut PgConnection, organization_id: Uuid, id: Uuid) -> Result<Webhook, DbError> {
    webhooks::table.find((organization_id, id)).select(WebhookRow::as_select()).first::<WebhookRow>(conn)?.try_into()
}

fn type_names(types: &[EventType]) -> Vec<&'static str> {
    types.iter().map(|t| t.as_str()).collect()
}

impl Database {
    pub async fn insert_webhook(&self, actor: Actor, new: NewWebhook) -> Result<Webhook, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let id = Uuid::now_v7();
                diesel::insert_into(webhooks::table)
                    .values((
                        webhooks::organization_id.eq(actor.organization_id),
                        webhooks::id.eq(id),
                        webhooks::url.eq(&new.url),
                        webhooks::event_types.eq(type_names(&new.event_types)),
                        webhooks::description.eq(&new.description),
                        webhooks::secret.eq(&new.secret),
                        webhooks::created_by.eq(actor.id),
                    ))
                    .execute(conn)?;
                actor.record(conn, "webhook.create", "webhook", Some(id), json!({}))?;
                find(conn, actor.organization_id, id)
            })
        })
        .await
    }

    pub async fn list_webhooks(&self, actor: Actor, page: PageRequest) -> Result<Page<Webhook>, DbError> {
        self.run(move |conn| {
            let mut query = webhooks::table
                .filter(webhooks::organization_id.eq(actor.organization_id))
                .select(WebhookRow::as_select())
                .order(webhooks::id.asc())
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(after) = page.after {
                query = query.filter(webhooks::id.gt(after));
            }
            let rows = query.load::<WebhookRow>(conn)?;
            let hooks = rows.into_iter().map(Webhook::try_from).collect::<Result<Vec<_>, _>>()?;
            Ok(Page::from_rows(hooks, page.limit, |hook| hook.id))
        })
        .await
    }

    pub async fn find_webhook(&self, actor: Actor, id: Uuid) -> Result<Webhook, DbError> {
        self.run(move |conn| find(conn, actor.organization_id, id)).await
    }

    pub async fn update_webhook(&self, actor: Actor, id: Uuid, changes: WebhookChanges) -> Result<Webhook, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let key = (actor.organization_id, id);
                find(conn, actor.organization_id, id)?;
                let target = webhooks::table.find(key);
                if let Some(url) = &changes.url {
                    diesel::update(target).set(webhooks::url.eq(url)).execute(conn)?;
                }
                if let Some(types) = &changes.event_types {
                    diesel::update(target).set(webhooks::event_types.eq(type_names(types))).execute(conn)?;
                }
                if let Some(description) = &changes.description {
                    diesel::update(target).set(webhooks::description.eq(description)).execute(conn)?;
                }
                if let Some(active) = changes.active {
                    let reason: Option<&str> = None;
                    diesel::update(target)
                        .set((webhooks::active.eq(active), webhooks::disabled_reason.eq(reason)))
                        .execute(conn)?;
                }
                if let Some((secret, grace)) = &changes.rotation {
                    diesel::sql_query(
                        "UPDATE webhooks SET previous_secret = secret, secret = $3, \
                         previous_secret_until = now() + make_interval(secs => $4) \
                         WHERE organization_id = $1 AND id = $2",
                    )
                    .bind::<SqlUuid, _>(actor.organization_id)
                    .bind::<SqlUuid, _>(id)
                    .bind::<Text, _>(secret)
                    .bind::<Double, _>(grace.as_secs_f64())
                    .execute(conn)?;
                }
                diesel::update(target).set(webhooks::updated_at.eq(diesel::dsl::now)).execute(conn)?;
                let detail = json!({ "rotated_secret": changes.rotation.is_some(), "active": changes.active });
                actor.record(conn, "webhook.update", "webhook", Some(id), detail)?;
                find(conn, actor.organization_id, id)
            })
        })
        .await
    }

    pub async fn delete_webhook(&self, actor: Actor, id: Uuid) -> Result<(), DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let deleted = diesel::delete(webhooks::table.find((actor.organization_id, id))).execute(conn)?;
                if deleted == 0 {
                    return Err(DbError::NotFound);
                }
                actor.record(conn, "webhook.delete", "webhook", Some(id), json!({}))?;
                Ok(())
            })
        })
        .await
    }

    /// Queues a `webhook.ping` for one active subscription; the event's id.
    pub async fn ping_webhook(&self, actor: Actor, webhook_id: Uuid) -> Result<Option<Uuid>, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                find(conn, actor.organization_id, webhook_id)?;
                let payload = json!({ "webhook_id": webhook_id });
                let event = emit(conn, actor.organization_id, EventType::Ping, None, payload, Some(webhook_id))?;
                actor.record(conn, "webhook.ping", "webhook", Some(webhook_id), json!({}))?;
                Ok(event)
            })
        })
        .await
    }
}

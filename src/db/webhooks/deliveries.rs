//! A subscription's deliveries and their attempts: listing and retrying.

use super::find;
use crate::db::audit::Actor;
use crate::db::page::{Page, PageRequest};
use crate::db::schema::{webhook_attempts, webhook_deliveries, webhook_events};
use crate::db::stored::stored;
use crate::db::{Database, DbError};
use crate::domain::webhooks::EventType;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts, check_for_backend(diesel::pg::Pg))]
pub struct Attempt {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
struct DeliveryRow {
    id: Uuid,
    event_id: Uuid,
    status: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

/// One event's delivery to one subscription, with its attempts (oldest first).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempts: Vec<Attempt>,
}

impl Database {
    /// A subscription's deliveries, newest first, with their attempts.
    pub async fn list_deliveries(
        &self,
        actor: Actor,
        webhook_id: Uuid,
        status: Option<DeliveryStatus>,
        page: PageRequest,
    ) -> Result<Page<Delivery>, DbError> {
        self.run(move |conn| {
            let org = actor.organization_id;
            find(conn, org, webhook_id)?;
            let mut query = webhook_deliveries::table
                .inner_join(
                    webhook_events::table.on(webhook_events::organization_id
                        .eq(webhook_deliveries::organization_id)
                        .and(webhook_events::id.eq(webhook_deliveries::event_id))),
                )
                .filter(webhook_deliveries::organization_id.eq(org))
                .filter(webhook_deliveries::webhook_id.eq(webhook_id))
                .select((DeliveryRow::as_select(), webhook_events::event_type))
                .order(webhook_deliveries::id.desc())
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(status) = status {
                query = query.filter(webhook_deliveries::status.eq(status.as_str()));
            }
            if let Some(before) = page.after {
                query = query.filter(webhook_deliveries::id.lt(before));
            }
            let rows: Vec<(DeliveryRow, String)> = query.load(conn)?;
            let ids: Vec<Uuid> = rows.iter().map(|(row, _)| row.id).collect();
            let attempts: Vec<(Uuid, Attempt)> = webhook_attempts::table
                .filter(webhook_attempts::organization_id.eq(org))
                .filter(webhook_attempts::delivery_id.eq_any(&ids))
                .order((webhook_attempts::delivery_id, webhook_attempts::attempt))
                .select((webhook_attempts::delivery_id, Attempt::as_select()))
                .load(conn)?;
            let deliveries = rows
                .into_iter()
                .map(|(row, event_type)| {
                    let status = stored(&row.status, DeliveryStatus::parse, "webhook_deliveries.status")?;
                    Ok(Delivery {
                        id: row.id,
                        event_id: row.event_id,
                        event_type: stored(&event_type, EventType::parse, "webhook_events.event_type")?,
                        status,
                        next_attempt_at: (status == DeliveryStatus::Pending).then_some(row.next_attempt_at),
                        created_at: row.created_at,
                        finished_at: row.finished_at,
                        attempts: attempts
                            .iter()
                            .filter(|(delivery, _)| *delivery == row.id)
                            .map(|(_, attempt)| attempt.clone())
                            .take(usize::try_from(row.attempts).unwrap_or(0))
                            .collect(),
                    })
                })
                .collect::<Result<Vec<_>, DbError>>()?;
            Ok(Page::from_rows(deliveries, page.limit, |delivery| delivery.id))
        })
        .await
    }

    /// Sends a failed delivery again, now, in its place in the order (a pending one is made
    /// due now). `NotFound` for a delivery of another subscription.
    pub async fn retry_delivery(&self, actor: Actor, webhook_id: Uuid, delivery_id: Uuid) -> Result<(), DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let org = actor.organization_id;
                find(conn, org, webhook_id)?;
                let updated = diesel::update(
                    webhook_deliveries::table
                        .filter(webhook_deliveries::organization_id.eq(org))
                        .filter(webhook_deliveries::id.eq(delivery_id))
                        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
                        .filter(webhook_deliveries::status.ne(DeliveryStatus::Delivered.as_str())),
                )
                .set((
                    webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()),
                    webhook_deliveries::next_attempt_at.eq(diesel::dsl::now),
                    webhook_deliveries::finished_at.eq(None::<DateTime<Utc>>),
                ))
                .execute(conn)?;
                if updated == 0 {
                    let exists = webhook_deliveries::table
                        .filter(webhook_deliveries::organization_id.eq(org))
                        .filter(webhook_deliveries::id.eq(delivery_id))
                        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
                        .count()
                        .get_result::<i64>(conn)?;
                    return Err(if exists == 0 {
                        DbError::NotFound
                    } else {
                        DbError::Conflict { constraint: "delivered".into() }
                    });
                }
                actor.record(
                    conn,
                    "webhook.retry",
                    "webhook",
                    Some(webhook_id),
                    json!({ "delivery_id": delivery_id }),
                )?;
                Ok(())
            })
        })
        .await
    }
}

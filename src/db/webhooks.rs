//! Webhook subscriptions, the outbox and its deliveries (docs/integration.md, "Webhooks").
//!
//! [`emit`] writes an event, and one delivery per active subscription that wants its type,
//! inside the transaction of the change that causes it: the event exists if and only if the
//! change committed. The dispatcher (`jobs::webhooks`) claims due deliveries with
//! `FOR UPDATE SKIP LOCKED` and a lease, one at a time per subscription and in the order the
//! events were written: a delivery waits until every transaction that began before its own has
//! ended (`xact` below the snapshot's xmin), so an event never overtakes an earlier one that was
//! still being written. Payloads carry ids and scores, never names or free text.

use super::audit::{Actor, NewAuditEvent, Outcome, append};
use super::page::{Page, PageRequest};
use super::responses::StoredResponse;
use super::schema::{webhook_attempts, webhook_deliveries, webhook_events, webhooks};
use super::signals::Signal;
use super::stored::stored;
use super::{Database, DbError};
use crate::domain::webhooks::EventType;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Double, Int8, Jsonb, Nullable, Text, Uuid as SqlUuid};
use serde_json::{Value, json};
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

/// A delivery a dispatcher holds: what to send, where, signed with which secrets.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub organization_id: Uuid,
    pub delivery_id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub event_created_at: DateTime<Utc>,
    pub payload: Value,
    pub url: String,
    /// The current secret first, then the previous one while its grace period lasts.
    pub secrets: Vec<String>,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub status_code: Option<u16>,
    /// Why it failed, when it did (without the URL or any secret).
    pub error: Option<String>,
}

impl AttemptResult {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|code| (200..300).contains(&code))
    }
}

fn find(conn: &mut PgConnection, organization_id: Uuid, id: Uuid) -> Result<Webhook, DbError> {
    webhooks::table.find((organization_id, id)).select(WebhookRow::as_select()).first::<WebhookRow>(conn)?.try_into()
}

fn type_names(types: &[EventType]) -> Vec<&'static str> {
    types.iter().map(|t| t.as_str()).collect()
}

/// Writes `event_type` with `payload` to the outbox for every active subscription of the
/// organization that wants it (or for `only` that one, for a ping), in the caller's
/// transaction. Writes nothing when no subscription wants it; the event's id otherwise.
pub(super) fn emit(
    conn: &mut PgConnection,
    organization_id: Uuid,
    event_type: EventType,
    client_id: Option<Uuid>,
    payload: Value,
    only: Option<Uuid>,
) -> Result<Option<Uuid>, DbError> {
    let mut targets = webhooks::table
        .filter(webhooks::organization_id.eq(organization_id))
        .filter(webhooks::active.eq(true))
        .select(webhooks::id)
        .into_boxed();
    targets = match only {
        Some(id) => targets.filter(webhooks::id.eq(id)),
        None => targets.filter(webhooks::event_types.contains(vec![event_type.as_str()])),
    };
    let targets: Vec<Uuid> = targets.load(conn)?;
    if targets.is_empty() {
        return Ok(None);
    }
    let event_id = Uuid::now_v7();
    let body = json!({ "type": event_type.as_str(), "timestamp": Utc::now(), "data": payload });
    diesel::sql_query(
        "INSERT INTO webhook_events (organization_id, id, event_type, client_id, payload, xact) \
         VALUES ($1, $2, $3, $4, $5, pg_current_xact_id())",
    )
    .bind::<SqlUuid, _>(organization_id)
    .bind::<SqlUuid, _>(event_id)
    .bind::<Text, _>(event_type.as_str())
    .bind::<Nullable<SqlUuid>, _>(client_id)
    .bind::<Jsonb, _>(body)
    .execute(conn)?;
    let delivery_ids: Vec<Uuid> = targets.iter().map(|_| Uuid::now_v7()).collect();
    diesel::sql_query(
        "INSERT INTO webhook_deliveries (organization_id, id, webhook_id, event_id, xact) \
         SELECT $1, d.id, d.webhook_id, $2, pg_current_xact_id() FROM unnest($3, $4) AS d (id, webhook_id)",
    )
    .bind::<SqlUuid, _>(organization_id)
    .bind::<SqlUuid, _>(event_id)
    .bind::<Array<SqlUuid>, _>(&delivery_ids)
    .bind::<Array<SqlUuid>, _>(&targets)
    .execute(conn)?;
    Ok(Some(event_id))
}

/// `response.created` for a stored response, and `signal.created` for each signal it raised.
pub(super) fn emit_response_created(
    conn: &mut PgConnection,
    organization_id: Uuid,
    response: &StoredResponse,
) -> Result<(), DbError> {
    let row = &response.row;
    let scores = &response.scores;
    let payload = json!({
        "id": row.id,
        "instrument": row.instrument_key,
        "version": response.version,
        "rater": response.rater.as_str(),
        "client_id": row.client_id,
        "episode_id": row.episode_id,
        "session_id": row.session_id,
        "session_number": response.session_number,
        "administered_at": row.administered_at,
        "total": scores.total,
        "subscales": scores.subscales,
        "band": scores.band,
        "flags": scores.flags,
        "signal_ids": response.signals.iter().map(|s| s.id).collect::<Vec<_>>(),
    });
    emit(conn, organization_id, EventType::ResponseCreated, Some(row.client_id), payload, None)?;
    for signal in &response.signals {
        emit_signal(conn, organization_id, EventType::SignalCreated, signal)?;
    }
    Ok(())
}

/// `response.voided`, without the reason (free text).
pub(super) fn emit_response_voided(
    conn: &mut PgConnection,
    organization_id: Uuid,
    response: &StoredResponse,
) -> Result<(), DbError> {
    let row = &response.row;
    let payload = json!({
        "id": row.id,
        "instrument": row.instrument_key,
        "client_id": row.client_id,
        "episode_id": row.episode_id,
        "session_id": row.session_id,
        "voided_at": row.voided_at,
    });
    emit(conn, organization_id, EventType::ResponseVoided, Some(row.client_id), payload, None).map(|_| ())
}

/// `signal.created` or `signal.updated`, without the resolution note (free text).
pub(super) fn emit_signal(
    conn: &mut PgConnection,
    organization_id: Uuid,
    event_type: EventType,
    signal: &Signal,
) -> Result<(), DbError> {
    let payload = json!({
        "id": signal.id,
        "kind": signal.kind.as_str(),
        "severity": signal.severity.as_str(),
        "status": signal.status.as_str(),
        "client_id": signal.client_id,
        "episode_id": signal.episode_id,
        "session_id": signal.session_id,
        "clinician_id": signal.clinician_id,
        "response_id": signal.response_id,
        "instrument": signal.instrument_key,
        "created_at": signal.created_at,
        "updated_at": signal.updated_at,
    });
    emit(conn, organization_id, event_type, Some(signal.client_id), payload, None).map(|_| ())
}

/// Forgets the events about a client (erasure); their deliveries and attempts go with them.
pub(super) fn forget_client_events(
    conn: &mut PgConnection,
    organization_id: Uuid,
    client_id: Uuid,
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        webhook_events::table
            .filter(webhook_events::organization_id.eq(organization_id))
            .filter(webhook_events::client_id.eq(client_id)),
    )
    .execute(conn)?)
}

#[derive(QueryableByName)]
struct HeadRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct OrganizationRow {
    #[diesel(sql_type = SqlUuid)]
    organization_id: Uuid,
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

    /// The organizations with a delivery that may be due (the dispatcher's round).
    pub async fn organizations_with_due_deliveries(&self) -> Result<Vec<Uuid>, DbError> {
        self.run(|conn| {
            // The head of each active subscription's queue decides: one index probe each.
            let rows: Vec<OrganizationRow> = diesel::sql_query(
                "SELECT DISTINCT w.organization_id FROM webhooks w \
                 CROSS JOIN LATERAL ( \
                   SELECT d.next_attempt_at FROM webhook_deliveries d \
                   WHERE d.organization_id = w.organization_id AND d.webhook_id = w.id AND d.status = 'pending' \
                   ORDER BY d.xact, d.event_id LIMIT 1 \
                 ) h \
                 WHERE w.active AND h.next_attempt_at <= now()",
            )
            .load(conn)?;
            Ok(rows.into_iter().map(|row| row.organization_id).collect())
        })
        .await
    }

    /// Claims up to `limit` due deliveries of the organization (of `only` that subscription),
    /// at most one per subscription (the head of its queue), holding each for `lease`, and
    /// counts the attempt.
    pub async fn claim_deliveries(
        &self,
        organization_id: Uuid,
        only: Option<Uuid>,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<Claimed>, DbError> {
        self.run(move |conn| conn.transaction(|conn| claim(conn, organization_id, only, limit, lease))).await
    }

    /// Records an attempt: delivered; or due again after `retry_after`; or, once the delivery
    /// is older than `budget`, failed, and its subscription disabled (audited).
    ///
    /// With `next_lease`, a delivered attempt also claims its subscription's next due delivery
    /// in the same transaction (returned), so a busy subscription costs one commit per event.
    pub async fn finish_attempt(
        &self,
        claimed: Claimed,
        result: AttemptResult,
        retry_after: Duration,
        budget: Duration,
        next_lease: Option<Duration>,
    ) -> Result<(DeliveryStatus, Option<Claimed>), DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let org = claimed.organization_id;
                let error = result.error.as_ref().map(|e| e.chars().take(300).collect::<String>());
                diesel::insert_into(webhook_attempts::table)
                    .values((
                        webhook_attempts::organization_id.eq(org),
                        webhook_attempts::delivery_id.eq(claimed.delivery_id),
                        webhook_attempts::attempt.eq(claimed.attempt),
                        webhook_attempts::started_at.eq(result.started_at),
                        webhook_attempts::duration_ms.eq(i32::try_from(result.duration.as_millis()).unwrap_or(i32::MAX)),
                        webhook_attempts::status_code.eq(result.status_code.map(i32::from)),
                        webhook_attempts::error.eq(error),
                    ))
                    .on_conflict_do_nothing()
                    .execute(conn)?;
                if result.succeeded() {
                    diesel::sql_query(
                        "UPDATE webhook_deliveries SET status = 'delivered', finished_at = now(), claimed_until = NULL \
                         WHERE organization_id = $1 AND id = $2",
                    )
                    .bind::<SqlUuid, _>(org)
                    .bind::<SqlUuid, _>(claimed.delivery_id)
                    .execute(conn)?;
                    let next = match next_lease {
                        Some(lease) => claim(conn, org, Some(claimed.webhook_id), 1, lease)?.pop(),
                        None => None,
                    };
                    return Ok((DeliveryStatus::Delivered, next));
                }
                #[derive(QueryableByName)]
                struct Settled {
                    #[diesel(sql_type = Text)]
                    status: String,
                }
                let outcome: Settled = diesel::sql_query(
                    "UPDATE webhook_deliveries SET claimed_until = NULL, \
                       status = CASE WHEN created_at + make_interval(secs => $4) <= now() THEN 'failed' ELSE 'pending' END, \
                       finished_at = CASE WHEN created_at + make_interval(secs => $4) <= now() THEN now() END, \
                       next_attempt_at = now() + make_interval(secs => $3) \
                     WHERE organization_id = $1 AND id = $2 RETURNING status",
                )
                .bind::<SqlUuid, _>(org)
                .bind::<SqlUuid, _>(claimed.delivery_id)
                .bind::<Double, _>(retry_after.as_secs_f64())
                .bind::<Double, _>(budget.as_secs_f64())
                .get_result(conn)?;
                let status = stored(&outcome.status, DeliveryStatus::parse, "webhook_deliveries.status")?;
                if status == DeliveryStatus::Failed {
                    let reason = "deliveries kept failing for the whole retry budget";
                    let disabled = diesel::update(webhooks::table.find((org, claimed.webhook_id)))
                        .filter(webhooks::active.eq(true))
                        .set((
                            webhooks::active.eq(false),
                            webhooks::disabled_reason.eq(reason),
                            webhooks::updated_at.eq(diesel::dsl::now),
                        ))
                        .execute(conn)?;
                    if disabled > 0 {
                        append(
                            conn,
                            NewAuditEvent {
                                organization_id: org,
                                actor_id: None,
                                actor_role: None,
                                action: "webhook.disable",
                                resource_type: "webhook",
                                resource_id: Some(claimed.webhook_id),
                                request_id: None,
                                outcome: Outcome::Success,
                                detail: json!({ "delivery_id": claimed.delivery_id, "attempts": claimed.attempt }),
                            },
                        )?;
                    }
                }
                Ok((status, None))
            })
        })
        .await
    }
}

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = SqlUuid)]
    delivery_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    webhook_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    event_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempts: i32,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    event_created_at: DateTime<Utc>,
    #[diesel(sql_type = Jsonb)]
    payload: Value,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    secret: String,
    /// The previous secret while its grace period lasts.
    #[diesel(sql_type = Nullable<Text>)]
    previous_secret: Option<String>,
}

/// The claim itself (see [`Database::claim_deliveries`]), in the caller's transaction: the
/// heads of the queues that are due and whose earlier transactions have all ended, then those
/// of them no one else holds (`FOR UPDATE SKIP LOCKED`), leased and returned with what to send.
fn claim(
    conn: &mut PgConnection,
    organization_id: Uuid,
    only: Option<Uuid>,
    limit: i64,
    lease: Duration,
) -> Result<Vec<Claimed>, DbError> {
    // One index probe per active subscription (webhook_deliveries_pending), however long the
    // backlog.
    let heads: Vec<HeadRow> = diesel::sql_query(
        "SELECT h.id FROM webhooks w \
         CROSS JOIN LATERAL ( \
           SELECT d.id, d.xact, d.next_attempt_at, d.claimed_until FROM webhook_deliveries d \
           WHERE d.organization_id = w.organization_id AND d.webhook_id = w.id AND d.status = 'pending' \
           ORDER BY d.xact, d.event_id LIMIT 1 \
         ) h \
         WHERE w.organization_id = $1 AND w.active AND ($3::uuid IS NULL OR w.id = $3) \
           AND h.xact < pg_snapshot_xmin(pg_current_snapshot()) \
           AND h.next_attempt_at <= now() \
           AND (h.claimed_until IS NULL OR h.claimed_until < now()) \
         LIMIT $2",
    )
    .bind::<SqlUuid, _>(organization_id)
    .bind::<Int8, _>(limit)
    .bind::<Nullable<SqlUuid>, _>(only)
    .load(conn)?;
    if heads.is_empty() {
        return Ok(Vec::new());
    }
    let head_ids: Vec<Uuid> = heads.into_iter().map(|h| h.id).collect();
    let rows: Vec<ClaimRow> = diesel::sql_query(
        "UPDATE webhook_deliveries d SET claimed_until = now() + make_interval(secs => $3), \
           attempts = d.attempts + 1 \
         FROM webhook_events e, webhooks w \
         WHERE d.organization_id = $1 AND d.id IN ( \
             SELECT id FROM webhook_deliveries \
             WHERE organization_id = $1 AND id = ANY($2) AND status = 'pending' \
               AND (claimed_until IS NULL OR claimed_until < now()) \
             FOR UPDATE SKIP LOCKED) \
           AND e.organization_id = d.organization_id AND e.id = d.event_id \
           AND w.organization_id = d.organization_id AND w.id = d.webhook_id \
         RETURNING d.id AS delivery_id, d.webhook_id, d.event_id, d.attempts, e.event_type, \
           e.created_at AS event_created_at, e.payload, w.url, w.secret, \
           CASE WHEN w.previous_secret_until > now() THEN w.previous_secret END AS previous_secret",
    )
    .bind::<SqlUuid, _>(organization_id)
    .bind::<Array<SqlUuid>, _>(&head_ids)
    .bind::<Double, _>(lease.as_secs_f64())
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| Claimed {
            organization_id,
            delivery_id: row.delivery_id,
            webhook_id: row.webhook_id,
            event_id: row.event_id,
            event_type: row.event_type,
            event_created_at: row.event_created_at,
            payload: row.payload,
            url: row.url,
            secrets: std::iter::once(row.secret).chain(row.previous_secret).collect(),
            attempt: row.attempts,
        })
        .collect())
}

//! What the dispatcher does in the database: find organizations with due deliveries, claim
//! queue heads, record attempts.

use super::DeliveryStatus;
use crate::db::audit::{NewAuditEvent, Outcome, append};
use crate::db::schema::{webhook_attempts, webhooks};
use crate::db::stored::stored;
use crate::db::{Database, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Double, Int8, Jsonb, Nullable, Text, Uuid as SqlUuid};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

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

#[derive(QueryableByName)]
struct HeadRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

#[derive(QueryableByName)]
struct Horizon {
    #[diesel(sql_type = Text)]
    xmin: String,
}

#[derive(QueryableByName)]
struct OrganizationRow {
    #[diesel(sql_type = SqlUuid)]
    organization_id: Uuid,
}

impl Database {
    /// The organizations with a delivery that may be due (the dispatcher's round). One query per
    /// organization, so that on Citus each stays on that organization's shard.
    pub async fn organizations_with_due_deliveries(&self) -> Result<Vec<Uuid>, DbError> {
        self.run(|conn| {
            let organizations: Vec<Uuid> =
                crate::db::schema::organizations::table.select(crate::db::schema::organizations::id).load(conn)?;
            let mut due = Vec::new();
            for organization_id in organizations {
                // The head of each active subscription's queue decides: one index probe each.
                let rows: Vec<OrganizationRow> = diesel::sql_query(
                    "SELECT w.organization_id FROM webhooks w \
                     CROSS JOIN LATERAL ( \
                       SELECT d.next_attempt_at FROM webhook_deliveries d \
                       WHERE d.organization_id = $1 AND d.webhook_id = w.id AND d.status = 'pending' \
                       ORDER BY d.xact, d.event_id LIMIT 1 \
                     ) h \
                     WHERE w.organization_id = $1 AND w.active AND h.next_attempt_at <= now() LIMIT 1",
                )
                .bind::<SqlUuid, _>(organization_id)
                .load(conn)?;
                due.extend(rows.into_iter().map(|row| row.organization_id));
            }
            Ok(due)
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
                        webhook_attempts::duration_ms
                            .eq(i32::try_from(result.duration.as_millis()).unwrap_or(i32::MAX)),
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
                let now = Utc::now();
                let span = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
                let due_again = now.checked_add_signed(span(retry_after)).unwrap_or(DateTime::<Utc>::MAX_UTC);
                let oldest_kept_trying = now.checked_sub_signed(span(budget)).unwrap_or(DateTime::<Utc>::MIN_UTC);
                let outcome: Settled = diesel::sql_query(
                    // The times are computed here: Citus refuses anything but IMMUTABLE inside CASE
                    // in an UPDATE, and both now() and timestamptz arithmetic are STABLE.
                    "UPDATE webhook_deliveries SET claimed_until = NULL, \
                       status = CASE WHEN created_at <= $4 THEN 'failed' ELSE 'pending' END, \
                       finished_at = CASE WHEN created_at <= $4 THEN $5 END, \
                       next_attempt_at = $3 \
                     WHERE organization_id = $1 AND id = $2 RETURNING status",
                )
                .bind::<SqlUuid, _>(org)
                .bind::<SqlUuid, _>(claimed.delivery_id)
                .bind::<diesel::sql_types::Timestamptz, _>(due_again)
                .bind::<diesel::sql_types::Timestamptz, _>(oldest_kept_trying)
                .bind::<diesel::sql_types::Timestamptz, _>(now)
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
    // The horizon in a statement of its own: `xact` holds the id the coordinator gave the
    // writing transaction, so on Citus the comparison must not be shipped to a worker, whose
    // transaction ids are its own (docs/scaling.md).
    let horizon: Horizon =
        diesel::sql_query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin").get_result(conn)?;
    // One index probe per active subscription (webhook_deliveries_pending), however long the
    // backlog.
    let heads: Vec<HeadRow> = diesel::sql_query(
        "SELECT h.id FROM webhooks w \
         CROSS JOIN LATERAL ( \
           SELECT d.id, d.xact, d.next_attempt_at, d.claimed_until FROM webhook_deliveries d \
           WHERE d.organization_id = $1 AND d.webhook_id = w.id AND d.status = 'pending' \
           ORDER BY d.xact, d.event_id LIMIT 1 \
         ) h \
         WHERE w.organization_id = $1 AND w.active AND ($3::uuid IS NULL OR w.id = $3) \
           AND h.xact < $4::xid8 \
           AND h.next_attempt_at <= now() \
           AND (h.claimed_until IS NULL OR h.claimed_until < now()) \
         LIMIT $2",
    )
    .bind::<SqlUuid, _>(organization_id)
    .bind::<Int8, _>(limit)
    .bind::<Nullable<SqlUuid>, _>(only)
    .bind::<Text, _>(horizon.xmin)
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
           CASE WHEN w.previous_secret_until > $4 THEN w.previous_secret END AS previous_secret",
    )
    .bind::<SqlUuid, _>(organization_id)
    .bind::<Array<SqlUuid>, _>(&head_ids)
    .bind::<Double, _>(lease.as_secs_f64())
    // Bound rather than now(): Citus refuses a function that is not IMMUTABLE in RETURNING.
    .bind::<diesel::sql_types::Timestamptz, _>(Utc::now())
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

//! The outbox: events written in the transaction of the change that causes them.

use crate::db::DbError;
use crate::db::responses::StoredResponse;
use crate::db::schema::{webhook_events, webhooks};
use crate::db::signals::Signal;
use crate::domain::webhooks::EventType;
use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Array, Jsonb, Nullable, Text, Uuid as SqlUuid};
use serde_json::{Value, json};
use uuid::Uuid;

/// Writes `event_type` with `payload` to the outbox for every active subscription of the
/// organization that wants it (or for `only` that one, for a ping), in the caller's
/// transaction. Writes nothing when no subscription wants it; the event's id otherwise.
pub(in crate::db) fn emit(
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
pub(in crate::db) fn emit_response_created(
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
pub(in crate::db) fn emit_response_voided(
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
pub(in crate::db) fn emit_signal(
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
pub(in crate::db) fn forget_client_events(
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

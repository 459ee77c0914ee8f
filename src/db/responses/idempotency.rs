//! `Idempotency-Key`: a key belongs to the caller who sent it (person, service account or
//! form-request token) within its organization. The caller's unique key decides which request
//! is first; the first stores its answer and the responses it created in the same transaction,
//! and a replay within 24 h returns that answer, after the same access checks a fresh request
//! passes (made by the caller, `submit`). A concurrent duplicate waits on the key's row lock
//! (up to 5 s) and then replays.

use super::SubmitError;
use crate::db::DbError;
use crate::db::audit::Actor;
use crate::db::schema::idempotency_keys;
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

/// How long a stored answer replays.
const REPLAY_WINDOW_HOURS: i64 = 24;

pub struct Idempotency {
    pub key: String,
    /// SHA-256 of the canonical request.
    pub request_hash: String,
}

/// A stored first answer and the responses it created.
pub(super) struct StoredAnswer {
    pub body: Value,
    pub response_ids: Vec<Uuid>,
}

/// Claims the caller's idempotency key, waiting (up to 5 s) for a concurrent holder to finish.
/// Returns the stored answer when this is a replay.
pub(super) fn claim_key(
    conn: &mut PgConnection,
    actor: &Actor,
    idempotency: &Idempotency,
) -> Result<Option<StoredAnswer>, SubmitError> {
    conn.batch_execute("SET LOCAL lock_timeout = '5s'")?;
    let key = (actor.organization_id, actor.id, &idempotency.key);
    let claimed = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::organization_id.eq(actor.organization_id),
            idempotency_keys::principal_id.eq(actor.id),
            idempotency_keys::key.eq(&idempotency.key),
            idempotency_keys::request_hash.eq(&idempotency.request_hash),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if claimed == 1 {
        return Ok(None);
    }
    let (hash, body, response_ids, created_at) = idempotency_keys::table
        .find(key)
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::response_body,
            idempotency_keys::response_ids,
            idempotency_keys::created_at,
        ))
        .for_update()
        .first::<(String, Option<Value>, Vec<Option<Uuid>>, DateTime<Utc>)>(conn)?;
    let expired = Utc::now().signed_duration_since(created_at) > chrono::Duration::hours(REPLAY_WINDOW_HOURS);
    if expired {
        diesel::update(idempotency_keys::table.find(key))
            .set((
                idempotency_keys::request_hash.eq(&idempotency.request_hash),
                idempotency_keys::status_code.eq(None::<i32>),
                idempotency_keys::response_body.eq(None::<Value>),
                idempotency_keys::response_ids.eq(Vec::<Uuid>::new()),
                idempotency_keys::created_at.eq(Utc::now()),
            ))
            .execute(conn)?;
        return Ok(None);
    }
    if hash != idempotency.request_hash {
        return Err(SubmitError::IdempotencyMismatch);
    }
    let body = body.ok_or(SubmitError::InFlight)?;
    Ok(Some(StoredAnswer { body, response_ids: response_ids.into_iter().flatten().collect() }))
}

/// Stores the first answer for replays.
pub(super) fn store_answer(
    conn: &mut PgConnection,
    actor: &Actor,
    idempotency: &Idempotency,
    body: &Value,
    response_ids: &[Uuid],
) -> Result<(), DbError> {
    diesel::update(idempotency_keys::table.find((actor.organization_id, actor.id, &idempotency.key)))
        .set((
            idempotency_keys::status_code.eq(201),
            idempotency_keys::response_body.eq(body),
            idempotency_keys::response_ids.eq(response_ids),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes, organization by organization, the stored answers older than the replay window.
pub(crate) fn purge_expired(conn: &mut PgConnection) -> Result<usize, DbError> {
    let cutoff = Utc::now().checked_sub_signed(chrono::Duration::hours(REPLAY_WINDOW_HOURS)).unwrap_or_else(Utc::now);
    crate::db::sum_over_organizations(conn, |conn, organization_id| {
        diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::organization_id.eq(organization_id))
                .filter(idempotency_keys::created_at.lt(cutoff)),
        )
        .execute(conn)
    })
}

/// Forgets every stored answer that holds one of `response_ids` (erasure of a client).
pub(crate) fn forget_answers(
    conn: &mut PgConnection,
    organization_id: Uuid,
    response_ids: &[Uuid],
) -> Result<usize, DbError> {
    use diesel::PgArrayExpressionMethods;
    Ok(diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::organization_id.eq(organization_id))
            .filter(idempotency_keys::response_ids.overlaps_with(response_ids)),
    )
    .execute(conn)?)
}

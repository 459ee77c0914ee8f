//! `Idempotency-Key`: the organization's unique key decides which request is first; the
//! first stores its answer in the same transaction, and a replay within 24 h returns it. A
//! concurrent duplicate waits on the key's row lock (up to 5 s) and then replays.

use super::SubmitError;
use crate::db::schema::idempotency_keys;
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

pub struct Idempotency {
    pub key: String,
    /// SHA-256 of the canonical request.
    pub request_hash: String,
}

/// Claims the idempotency key, waiting (up to 5 s) for a concurrent holder to finish. Returns
/// the stored answer when this is a replay.
pub(super) fn claim_key(
    conn: &mut PgConnection,
    organization_id: Uuid,
    idempotency: &Idempotency,
) -> Result<Option<Value>, SubmitError> {
    conn.batch_execute("SET LOCAL lock_timeout = '5s'")?;
    let claimed = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::organization_id.eq(organization_id),
            idempotency_keys::key.eq(&idempotency.key),
            idempotency_keys::request_hash.eq(&idempotency.request_hash),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if claimed == 1 {
        return Ok(None);
    }
    let (hash, body, created_at) = idempotency_keys::table
        .find((organization_id, &idempotency.key))
        .select((idempotency_keys::request_hash, idempotency_keys::response_body, idempotency_keys::created_at))
        .for_update()
        .first::<(String, Option<Value>, DateTime<Utc>)>(conn)?;
    if created_at < Utc::now() - chrono::Duration::hours(24) {
        diesel::update(idempotency_keys::table.find((organization_id, &idempotency.key)))
            .set((
                idempotency_keys::request_hash.eq(&idempotency.request_hash),
                idempotency_keys::status_code.eq(None::<i32>),
                idempotency_keys::response_body.eq(None::<Value>),
                idempotency_keys::created_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
        return Ok(None);
    }
    if hash != idempotency.request_hash {
        return Err(SubmitError::IdempotencyMismatch);
    }
    body.map(Some).ok_or(SubmitError::InFlight)
}

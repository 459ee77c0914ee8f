//! Form requests: a session and the instruments a client is asked to fill in, behind a
//! client-role token. Each instrument is submittable once.

use super::audit::Actor;
use super::episodes::find_visible_episode;
use super::schema::{form_request_items, form_requests, sessions};
use super::{Database, DbError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct FormRequestRecord {
    pub id: Uuid,
    pub session_id: Uuid,
    pub episode_id: Uuid,
    pub client_id: Uuid,
    pub expires_at: DateTime<Utc>,
    /// Instrument key → the response that fulfilled it.
    pub items: Vec<(String, Option<Uuid>)>,
}

/// A live form request's scope, for checking a client token's submission.
#[derive(Debug, Clone)]
pub struct FormRequestScope {
    pub session_id: Uuid,
    pub pending: Vec<String>,
}

fn load(conn: &mut PgConnection, organization_id: Uuid, id: Uuid) -> Result<FormRequestRecord, DbError> {
    let (session_id, episode_id, client_id, expires_at) = form_requests::table
        .find((organization_id, id))
        .select((
            form_requests::session_id,
            form_requests::episode_id,
            form_requests::client_id,
            form_requests::expires_at,
        ))
        .first::<(Uuid, Uuid, Uuid, DateTime<Utc>)>(conn)?;
    let items = form_request_items::table
        .filter(form_request_items::organization_id.eq(organization_id))
        .filter(form_request_items::form_request_id.eq(id))
        .order(form_request_items::instrument_key.asc())
        .select((form_request_items::instrument_key, form_request_items::response_id))
        .load(conn)?;
    Ok(FormRequestRecord { id, session_id, episode_id, client_id, expires_at, items })
}

/// Whether a client token's form request is live (exists, not expired, not revoked).
pub(super) fn is_live(conn: &mut PgConnection, organization_id: Uuid, id: Uuid) -> Result<bool, DbError> {
    Ok(form_requests::table
        .find((organization_id, id))
        .filter(form_requests::expires_at.gt(diesel::dsl::now))
        .filter(form_requests::revoked_at.is_null())
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Marks `instrument` of a form request as submitted by `response_id`; false when it was not
/// requested or was already submitted.
pub(super) fn fulfil(
    conn: &mut PgConnection,
    organization_id: Uuid,
    id: Uuid,
    instrument: &str,
    response_id: Uuid,
) -> Result<bool, DbError> {
    Ok(diesel::update(
        form_request_items::table
            .find((organization_id, id, instrument))
            .filter(form_request_items::response_id.is_null()),
    )
    .set(form_request_items::response_id.eq(response_id))
    .execute(conn)?
        == 1)
}

pub(super) fn scope(conn: &mut PgConnection, organization_id: Uuid, id: Uuid) -> Result<FormRequestScope, DbError> {
    let record = load(conn, organization_id, id)?;
    let pending = record.items.into_iter().filter(|(_, done)| done.is_none()).map(|(key, _)| key).collect();
    Ok(FormRequestScope { session_id: record.session_id, pending })
}

impl Database {
    /// Creates a form request for `session_id` (visible to the actor) and `instruments`.
    pub async fn create_form_request(
        &self,
        actor: Actor,
        session_id: Uuid,
        instruments: Vec<String>,
        expires_at: DateTime<Utc>,
    ) -> Result<FormRequestRecord, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let org = actor.organization_id;
                let episode_id: Uuid =
                    sessions::table.find((org, session_id)).select(sessions::episode_id).first(conn)?;
                let episode = find_visible_episode(conn, &actor, episode_id)?;
                let id = Uuid::now_v7();
                diesel::insert_into(form_requests::table)
                    .values((
                        form_requests::organization_id.eq(org),
                        form_requests::id.eq(id),
                        form_requests::session_id.eq(session_id),
                        form_requests::episode_id.eq(episode_id),
                        form_requests::client_id.eq(episode.client_id),
                        form_requests::created_by.eq(actor.id),
                        form_requests::expires_at.eq(expires_at),
                    ))
                    .execute(conn)?;
                for key in &instruments {
                    diesel::insert_into(form_request_items::table)
                        .values((
                            form_request_items::organization_id.eq(org),
                            form_request_items::form_request_id.eq(id),
                            form_request_items::instrument_key.eq(key),
                        ))
                        .execute(conn)?;
                }
                actor.record(
                    conn,
                    "form_request.create",
                    "form_request",
                    Some(id),
                    serde_json::json!({ "session_id": session_id }),
                )?;
                load(conn, org, id)
            })
        })
        .await
    }

    /// The form request a client token stands for.
    pub async fn own_form_request(&self, organization_id: Uuid, id: Uuid) -> Result<FormRequestRecord, DbError> {
        self.run(move |conn| load(conn, organization_id, id)).await
    }
}

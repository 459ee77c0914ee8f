//! Episodes of care and their sessions. A clinician sees the episodes it is the clinician of.
//! A clinician may open an episode (for itself) only for a client with no episode yet (intake)
//! or already in its caseload, so opening an episode can never be a way into another
//! clinician's client.

use super::audit::Actor;
use super::page::{Page, PageRequest};
use super::schema::{clients, episodes, sessions};
use super::{Database, DbError};
use crate::domain::Role;
use crate::domain::episodes::EpisodeStatus;
use crate::domain::time::{Day, Timestamp};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = episodes, check_for_backend(diesel::pg::Pg))]
pub struct EpisodeRow {
    pub id: Uuid,
    pub client_id: Uuid,
    pub clinician_id: Uuid,
    pub started_on: NaiveDate,
    pub ended_on: Option<NaiveDate>,
    pub program: Option<String>,
    pub status: EpisodeStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions, check_for_backend(diesel::pg::Pg))]
pub struct SessionRow {
    pub id: Uuid,
    pub episode_id: Uuid,
    pub number: i32,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub external_id: Option<String>,
}

pub struct NewEpisode {
    pub client_id: Uuid,
    pub clinician_id: Uuid,
    pub started_on: Day,
    pub program: Option<String>,
}

#[derive(Default)]
pub struct EpisodeChanges {
    pub clinician_id: Option<Uuid>,
    pub ended_on: Option<Option<Day>>,
    pub program: Option<Option<String>>,
    pub status: Option<EpisodeStatus>,
}

/// Why an episode or session could not be made: which referenced record is missing.
#[derive(Debug)]
pub enum Refused {
    Db(DbError),
    /// A field names a record the caller cannot see (JSON pointer of the field).
    Unknown(&'static str),
    /// The clinician may not open an episode for this client or someone else.
    NotYours,
}

impl From<DbError> for Refused {
    fn from(error: DbError) -> Self {
        Refused::Db(error)
    }
}

impl From<diesel::result::Error> for Refused {
    fn from(error: diesel::result::Error) -> Self {
        Refused::Db(error.into())
    }
}

pub(super) fn visible_episodes(actor: &Actor) -> episodes::BoxedQuery<'static, Pg> {
    let query = episodes::table.filter(episodes::organization_id.eq(actor.organization_id)).into_boxed();
    if actor.role == Role::Clinician { query.filter(episodes::clinician_id.eq(actor.id)) } else { query }
}

pub(super) fn find_visible_episode(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<EpisodeRow, DbError> {
    Ok(visible_episodes(actor).filter(episodes::id.eq(id)).select(EpisodeRow::as_select()).first(conn)?)
}

fn is_active_clinician(conn: &mut PgConnection, organization_id: Uuid, id: Uuid) -> Result<bool, DbError> {
    use super::schema::users;
    Ok(users::table
        .find((organization_id, id))
        .filter(users::active.eq(true))
        .filter(users::role.eq_any(["clinician", "supervisor", "admin"]))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

impl Database {
    pub async fn insert_episode(&self, actor: Actor, new: NewEpisode) -> Result<EpisodeRow, Refused> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let org = actor.organization_id;
                let client_exists = clients::table.find((org, new.client_id)).count().get_result::<i64>(conn)? > 0;
                if !client_exists {
                    return Ok(Err(Refused::Unknown("/client_id")));
                }
                if !is_active_clinician(conn, org, new.clinician_id)? {
                    return Ok(Err(Refused::Unknown("/clinician_id")));
                }
                if actor.role == Role::Clinician {
                    let others: i64 = episodes::table
                        .filter(episodes::organization_id.eq(org))
                        .filter(episodes::client_id.eq(new.client_id))
                        .filter(episodes::clinician_id.ne(actor.id))
                        .count()
                        .get_result(conn)?;
                    // Another clinician's client is answered as an unknown one: a clinician cannot
                    // learn from us that a client it does not treat exists.
                    if others > 0 {
                        return Ok(Err(Refused::Unknown("/client_id")));
                    }
                    if new.clinician_id != actor.id {
                        return Ok(Err(Refused::NotYours));
                    }
                }
                let id = Uuid::now_v7();
                let row = diesel::insert_into(episodes::table)
                    .values((
                        episodes::organization_id.eq(org),
                        episodes::id.eq(id),
                        episodes::client_id.eq(new.client_id),
                        episodes::clinician_id.eq(new.clinician_id),
                        episodes::started_on.eq(new.started_on.get()),
                        episodes::program.eq(&new.program),
                    ))
                    .returning(EpisodeRow::as_returning())
                    .get_result(conn)?;
                actor.record(
                    conn,
                    "episode.create",
                    "episode",
                    Some(id),
                    serde_json::json!({ "client_id": new.client_id }),
                )?;
                Ok(Ok(row))
            })
        })
        .await
        .map_err(Refused::Db)?
    }

    pub async fn find_episode(&self, actor: Actor, id: Uuid) -> Result<EpisodeRow, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let row = find_visible_episode(conn, &actor, id)?;
                actor.record(conn, "episode.read", "episode", Some(id), serde_json::json!({}))?;
                Ok(row)
            })
        })
        .await
    }

    pub async fn list_episodes(
        &self,
        actor: Actor,
        client_id: Option<Uuid>,
        page: PageRequest,
    ) -> Result<Page<EpisodeRow>, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let mut query = visible_episodes(&actor)
                    .select(EpisodeRow::as_select())
                    .order(episodes::id.asc())
                    .limit(page.limit + 1);
                if let Some(after) = page.after {
                    query = query.filter(episodes::id.gt(after));
                }
                if let Some(client_id) = client_id {
                    query = query.filter(episodes::client_id.eq(client_id));
                }
                let page = Page::from_rows(query.load(conn)?, page.limit, |row: &EpisodeRow| row.id);
                let ids: Vec<Uuid> = page.items.iter().map(|row| row.id).collect();
                actor.record(conn, "episode.list", "episode", None, serde_json::json!({ "episode_ids": ids }))?;
                Ok(page)
            })
        })
        .await
    }

    pub async fn update_episode(&self, actor: Actor, id: Uuid, changes: EpisodeChanges) -> Result<EpisodeRow, Refused> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let current = find_visible_episode(conn, &actor, id)?;
                if let Some(clinician) = changes.clinician_id {
                    if !is_active_clinician(conn, actor.organization_id, clinician)? {
                        return Ok(Err(Refused::Unknown("/clinician_id")));
                    }
                    if actor.role == Role::Clinician && clinician != actor.id {
                        return Ok(Err(Refused::NotYours));
                    }
                }
                let row = diesel::update(episodes::table.find((actor.organization_id, id)))
                    .set((
                        episodes::clinician_id.eq(changes.clinician_id.unwrap_or(current.clinician_id)),
                        episodes::ended_on.eq(changes.ended_on.map_or(current.ended_on, |day| day.map(Day::get))),
                        episodes::program.eq(changes.program.unwrap_or(current.program)),
                        episodes::status.eq(changes.status.unwrap_or(current.status).as_str()),
                        episodes::updated_at.eq(diesel::dsl::now),
                    ))
                    .returning(EpisodeRow::as_returning())
                    .get_result(conn)?;
                actor.record(conn, "episode.update", "episode", Some(id), serde_json::json!({}))?;
                Ok(Ok(row))
            })
        })
        .await
        .map_err(Refused::Db)?
    }

    pub async fn insert_session(
        &self,
        actor: Actor,
        episode_id: Uuid,
        number: i32,
        occurred_at: Timestamp,
        external_id: Option<String>,
    ) -> Result<SessionRow, Refused> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                match find_visible_episode(conn, &actor, episode_id) {
                    Err(DbError::NotFound) => return Ok(Err(Refused::Unknown("/episode_id"))),
                    other => other?,
                };
                let id = Uuid::now_v7();
                let row = diesel::insert_into(sessions::table)
                    .values((
                        sessions::organization_id.eq(actor.organization_id),
                        sessions::id.eq(id),
                        sessions::episode_id.eq(episode_id),
                        sessions::number.eq(number),
                        sessions::occurred_at.eq(occurred_at.get()),
                        sessions::external_id.eq(&external_id),
                    ))
                    .returning(SessionRow::as_returning())
                    .get_result(conn)?;
                actor.record(
                    conn,
                    "session.create",
                    "session",
                    Some(id),
                    serde_json::json!({ "episode_id": episode_id }),
                )?;
                Ok(Ok(row))
            })
        })
        .await
        .map_err(Refused::Db)?
    }

    pub async fn list_sessions(&self, actor: Actor, episode_id: Uuid) -> Result<Vec<SessionRow>, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                find_visible_episode(conn, &actor, episode_id)?;
                let rows = sessions::table
                    .filter(sessions::organization_id.eq(actor.organization_id))
                    .filter(sessions::episode_id.eq(episode_id))
                    .order((sessions::number.asc(), sessions::id.asc()))
                    .select(SessionRow::as_select())
                    .load(conn)?;
                actor.record(conn, "session.list", "episode", Some(episode_id), serde_json::json!({}))?;
                Ok(rows)
            })
        })
        .await
    }
}

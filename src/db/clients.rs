//! Clients (people in care). Every read and write is audited in the same transaction, and a
//! clinician only ever sees its caseload: the clients of episodes it is the clinician of, and
//! the clients it created that nobody has opened an episode for yet (docs/integration.md §4).

use super::audit::Actor;
use super::page::{Page, PageRequest};
use super::schema::{clients, episodes, responses};
use super::{Database, DbError};
use crate::domain::Role;
use crate::domain::clients::{AgeGroup, ClientDetails};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = clients, check_for_backend(diesel::pg::Pg))]
pub struct ClientRow {
    pub id: Uuid,
    pub external_id: String,
    pub age_group: AgeGroup,
    pub display_name: Option<String>,
    pub birth_year: Option<i32>,
    pub attributes: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A change to a client; `None` leaves a field as it is.
#[derive(Default, Debug)]
pub struct ClientChanges {
    pub external_id: Option<String>,
    pub age_group: Option<AgeGroup>,
    pub display_name: Option<Option<String>>,
    pub birth_year: Option<Option<i32>>,
    pub attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    pub external_id: Option<String>,
    pub age_group: Option<AgeGroup>,
    /// Bounds on when the client last changed, `[from, to)` (Bulk Data `_since`).
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
}

type BoxedClients<'a> = clients::BoxedQuery<'a, Pg>;

/// The clients `actor` may see: the organization's, narrowed for a clinician to its caseload and
/// to the clients it created that have no episode yet (so an intake can be read back).
fn visible_to(actor: &Actor) -> BoxedClients<'static> {
    let org = actor.organization_id;
    let query = clients::table.filter(clients::organization_id.eq(org)).into_boxed();
    if actor.role == Role::Clinician {
        let caseload = episodes::table
            .filter(episodes::organization_id.eq(org))
            .filter(episodes::clinician_id.eq(actor.id))
            .select(episodes::client_id);
        // `episodes.client_id` is NOT NULL, so NOT IN is exact here.
        let in_care = episodes::table.filter(episodes::organization_id.eq(org)).select(episodes::client_id);
        let own_intake = clients::created_by.eq(actor.id).and(diesel::dsl::not(clients::id.eq_any(in_care)));
        query.filter(clients::id.eq_any(caseload).or(own_intake))
    } else {
        query
    }
}

pub(super) fn find_visible(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<ClientRow, DbError> {
    Ok(visible_to(actor).filter(clients::id.eq(id)).select(ClientRow::as_select()).first(conn)?)
}

impl Database {
    pub async fn insert_client(&self, actor: Actor, details: ClientDetails) -> Result<ClientRow, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let id = Uuid::now_v7();
                let row = diesel::insert_into(clients::table)
                    .values((
                        clients::organization_id.eq(actor.organization_id),
                        clients::id.eq(id),
                        clients::created_by.eq(actor.id),
                        clients::external_id.eq(&details.external_id),
                        clients::age_group.eq(details.age_group.as_str()),
                        clients::display_name.eq(&details.display_name),
                        clients::birth_year.eq(details.birth_year),
                        clients::attributes.eq(Value::Object(details.attributes.clone())),
                    ))
                    .returning(ClientRow::as_returning())
                    .get_result(conn)?;
                actor.record(conn, "client.create", "client", Some(id), serde_json::json!({}))?;
                Ok(row)
            })
        })
        .await
    }

    /// Creates the client with `details.external_id`, or replaces its details; true when created.
    /// A clinician may only update clients of its caseload (others answer `NotFound`).
    pub async fn upsert_client(&self, actor: Actor, details: ClientDetails) -> Result<(ClientRow, bool), DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let org = actor.organization_id;
                let existing = clients::table
                    .filter(clients::organization_id.eq(org))
                    .filter(clients::external_id.eq(&details.external_id))
                    .select(clients::id)
                    .first::<Uuid>(conn)
                    .optional()?;
                if let Some(id) = existing {
                    find_visible(conn, &actor, id)?;
                }
                let values = (
                    clients::age_group.eq(details.age_group.as_str()),
                    clients::display_name.eq(&details.display_name),
                    clients::birth_year.eq(details.birth_year),
                    clients::attributes.eq(Value::Object(details.attributes.clone())),
                );
                let (row, created): (ClientRow, bool) = diesel::insert_into(clients::table)
                    .values((
                        clients::organization_id.eq(org),
                        clients::id.eq(Uuid::now_v7()),
                        clients::created_by.eq(actor.id),
                        clients::external_id.eq(&details.external_id),
                        values.clone(),
                    ))
                    .on_conflict((clients::organization_id, clients::external_id))
                    .do_update()
                    // A bound time, not now(): Citus refuses non-immutable functions in DO UPDATE SET.
                    .set((values, clients::updated_at.eq(chrono::Utc::now())))
                    .returning((ClientRow::as_returning(), diesel::dsl::sql::<diesel::sql_types::Bool>("xmax = 0")))
                    .get_result(conn)?;
                let action = if created { "client.create" } else { "client.update" };
                actor.record(conn, action, "client", Some(row.id), serde_json::json!({ "upsert": true }))?;
                Ok((row, created))
            })
        })
        .await
    }

    pub async fn list_clients(
        &self,
        actor: Actor,
        filter: ClientFilter,
        page: PageRequest,
    ) -> Result<Page<ClientRow>, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let mut query =
                    visible_to(&actor).select(ClientRow::as_select()).order(clients::id.asc()).limit(page.limit + 1);
                if let Some(after) = page.after {
                    query = query.filter(clients::id.gt(after));
                }
                if let Some(external_id) = filter.external_id {
                    query = query.filter(clients::external_id.eq(external_id));
                }
                if let Some(age_group) = filter.age_group {
                    query = query.filter(clients::age_group.eq(age_group.as_str()));
                }
                if let Some(from) = filter.updated_from {
                    query = query.filter(clients::updated_at.ge(from));
                }
                if let Some(to) = filter.updated_to {
                    query = query.filter(clients::updated_at.lt(to));
                }
                let page = Page::from_rows(query.load(conn)?, page.limit, |row: &ClientRow| row.id);
                let ids: Vec<Uuid> = page.items.iter().map(|row| row.id).collect();
                actor.record(conn, "client.list", "client", None, serde_json::json!({ "client_ids": ids }))?;
                Ok(page)
            })
        })
        .await
    }

    pub async fn find_client(&self, actor: Actor, id: Uuid) -> Result<ClientRow, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let row = find_visible(conn, &actor, id)?;
                actor.record(conn, "client.read", "client", Some(id), serde_json::json!({}))?;
                Ok(row)
            })
        })
        .await
    }

    pub async fn update_client(&self, actor: Actor, id: Uuid, changes: ClientChanges) -> Result<ClientRow, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let current = find_visible(conn, &actor, id)?;
                let fields: Vec<&str> = [
                    ("external_id", changes.external_id.is_some()),
                    ("age_group", changes.age_group.is_some()),
                    ("display_name", changes.display_name.is_some()),
                    ("birth_year", changes.birth_year.is_some()),
                    ("attributes", changes.attributes.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, changed)| changed.then_some(name))
                .collect();
                let row = diesel::update(clients::table.find((actor.organization_id, id)))
                    .set((
                        clients::external_id.eq(changes.external_id.unwrap_or(current.external_id)),
                        clients::age_group.eq(changes.age_group.unwrap_or(current.age_group).as_str()),
                        clients::display_name.eq(changes.display_name.unwrap_or(current.display_name)),
                        clients::birth_year.eq(changes.birth_year.unwrap_or(current.birth_year)),
                        clients::attributes.eq(changes.attributes.map_or(current.attributes, Value::Object)),
                        clients::updated_at.eq(diesel::dsl::now),
                    ))
                    .returning(ClientRow::as_returning())
                    .get_result(conn)?;
                actor.record(conn, "client.update", "client", Some(id), serde_json::json!({ "fields": fields }))?;
                Ok(row)
            })
        })
        .await
    }

    /// Erases a client and everything recorded about them; only the audit record remains.
    pub async fn erase_client(&self, actor: Actor, id: Uuid) -> Result<(), DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                find_visible(conn, &actor, id)?;
                let response_ids: Vec<Uuid> = responses::table
                    .filter(responses::organization_id.eq(actor.organization_id))
                    .filter(responses::client_id.eq(id))
                    .select(responses::id)
                    .load(conn)?;
                // Stored idempotent answers repeat the client's answers and comments.
                let forgotten = super::responses::forget_answers(conn, actor.organization_id, &response_ids)?;
                // Events not yet delivered (or kept as delivery history) repeat its ids and scores.
                super::webhooks::forget_client_events(conn, actor.organization_id, id)?;
                // Bulk Data files may hold the client; none is kept past an erasure.
                super::bulk_exports::forget_outputs(conn, actor.organization_id)?;
                // Transcript analyses and any kept (sealed) text go explicitly, not only by cascade.
                let transcripts = super::transcripts::forget_client(conn, actor.organization_id, id)?;
                diesel::delete(clients::table.find((actor.organization_id, id))).execute(conn)?;
                actor.record(
                    conn,
                    "client.erase",
                    "client",
                    Some(id),
                    serde_json::json!({
                        "erased_responses": response_ids.len(),
                        "forgotten_replays": forgotten,
                        "erased_transcripts": transcripts,
                    }),
                )?;
                Ok(())
            })
        })
        .await
    }
}

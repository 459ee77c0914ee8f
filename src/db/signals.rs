//! Stored signals: listing with filters, acknowledging and resolving. Creating them is part of
//! a response's submission (`db::responses`).

use super::audit::Actor;
use super::page::{Page, PageRequest};
use super::schema::{episodes, signals};
use super::{Database, DbError};
use crate::domain::Role;
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = signals, check_for_backend(diesel::pg::Pg))]
pub struct SignalRow {
    pub id: Uuid,
    pub kind: String,
    pub severity: String,
    pub client_id: Uuid,
    pub episode_id: Uuid,
    pub session_id: Option<Uuid>,
    pub clinician_id: Uuid,
    pub response_id: Uuid,
    pub instrument_key: String,
    pub response_ids: Vec<Option<Uuid>>,
    pub evidence: serde_json::Value,
    pub status: String,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct SignalFilter {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub clinician_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub episode_id: Option<Uuid>,
}

/// What acknowledging or resolving a signal led to.
#[derive(Debug)]
pub enum Transition {
    Done(Box<SignalRow>),
    /// The signal is not in a state that allows this (e.g. already resolved).
    NotAllowed(String),
}

fn visible(actor: &Actor) -> signals::BoxedQuery<'static, Pg> {
    let query = signals::table.filter(signals::organization_id.eq(actor.organization_id)).into_boxed();
    if actor.role == Role::Clinician {
        let caseload = episodes::table
            .filter(episodes::organization_id.eq(actor.organization_id))
            .filter(episodes::clinician_id.eq(actor.id))
            .select(episodes::id);
        query.filter(signals::episode_id.eq_any(caseload))
    } else {
        query
    }
}

impl Database {
    pub async fn list_signals(
        &self,
        actor: Actor,
        filter: SignalFilter,
        page: PageRequest,
    ) -> Result<Page<SignalRow>, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let mut query =
                    visible(&actor).select(SignalRow::as_select()).order(signals::id.desc()).limit(page.limit + 1);
                if let Some(after) = page.after {
                    query = query.filter(signals::id.lt(after));
                }
                if let Some(status) = filter.status {
                    query = query.filter(signals::status.eq(status));
                }
                if let Some(kind) = filter.kind {
                    query = query.filter(signals::kind.eq(kind));
                }
                if let Some(clinician) = filter.clinician_id {
                    query = query.filter(signals::clinician_id.eq(clinician));
                }
                if let Some(client) = filter.client_id {
                    query = query.filter(signals::client_id.eq(client));
                }
                if let Some(episode) = filter.episode_id {
                    query = query.filter(signals::episode_id.eq(episode));
                }
                let page = Page::from_rows(query.load(conn)?, page.limit, |row: &SignalRow| row.id);
                let ids: Vec<Uuid> = page.items.iter().map(|row| row.id).collect();
                actor.record(conn, "signal.list", "signal", None, serde_json::json!({ "signal_ids": ids }))?;
                Ok(page)
            })
        })
        .await
    }

    /// `open → acknowledged`, or `open | acknowledged → resolved` (with a note).
    pub async fn transition_signal(
        &self,
        actor: Actor,
        id: Uuid,
        resolve: Option<Option<String>>,
    ) -> Result<Transition, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let key = (actor.organization_id, id);
                visible(&actor).filter(signals::id.eq(id)).select(signals::id).first::<Uuid>(conn)?;
                let current: SignalRow =
                    signals::table.find(key).select(SignalRow::as_select()).for_update().first(conn)?;
                let row = match (&resolve, current.status.as_str()) {
                    (None, "open") => diesel::update(signals::table.find(key))
                        .set((
                            signals::status.eq("acknowledged"),
                            signals::acknowledged_by.eq(actor.id),
                            signals::acknowledged_at.eq(diesel::dsl::now),
                            signals::updated_at.eq(diesel::dsl::now),
                        ))
                        .returning(SignalRow::as_returning())
                        .get_result(conn)?,
                    (Some(note), "open" | "acknowledged") => diesel::update(signals::table.find(key))
                        .set((
                            signals::status.eq("resolved"),
                            signals::resolved_by.eq(actor.id),
                            signals::resolved_at.eq(diesel::dsl::now),
                            signals::resolution_note.eq(note),
                            signals::updated_at.eq(diesel::dsl::now),
                        ))
                        .returning(SignalRow::as_returning())
                        .get_result(conn)?,
                    (_, status) => return Ok(Transition::NotAllowed(format!("the signal is {status}"))),
                };
                let action = if resolve.is_some() { "signal.resolve" } else { "signal.acknowledge" };
                actor.record(conn, action, "signal", Some(id), serde_json::json!({}))?;
                Ok(Transition::Done(Box::new(row)))
            })
        })
        .await
    }
}

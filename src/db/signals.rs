//! Stored signals: listing with filters, acknowledging and resolving. Creating them is part of
//! a response's submission (`db::responses`).

use super::audit::Actor;
use super::page::{Page, PageRequest};
use super::schema::{episodes, signals};
use super::stored::stored;
use super::{Database, DbError};
use crate::domain::Role;
use crate::domain::signals::{Severity, SignalKind, SignalStatus};
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
    pub response_id: Option<Uuid>,
    pub instrument_key: Option<String>,
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

/// A stored signal with its closed-set columns typed (see [`super::stored`]).
#[derive(Debug, Clone)]
pub struct Signal {
    pub id: Uuid,
    pub kind: SignalKind,
    pub severity: Severity,
    pub client_id: Uuid,
    pub episode_id: Uuid,
    pub session_id: Option<Uuid>,
    pub clinician_id: Uuid,
    /// The response that raised it; `None` for a session's transcript signal.
    pub response_id: Option<Uuid>,
    pub instrument_key: Option<String>,
    pub response_ids: Vec<Uuid>,
    pub evidence: serde_json::Value,
    pub status: SignalStatus,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<SignalRow> for Signal {
    type Error = DbError;

    fn try_from(row: SignalRow) -> Result<Self, DbError> {
        Ok(Self {
            id: row.id,
            kind: stored(&row.kind, SignalKind::parse, "signals.kind")?,
            severity: stored(&row.severity, Severity::parse, "signals.severity")?,
            client_id: row.client_id,
            episode_id: row.episode_id,
            session_id: row.session_id,
            clinician_id: row.clinician_id,
            response_id: row.response_id,
            instrument_key: row.instrument_key,
            response_ids: row.response_ids.into_iter().flatten().collect(),
            evidence: row.evidence,
            status: stored(&row.status, SignalStatus::parse, "signals.status")?,
            acknowledged_by: row.acknowledged_by,
            acknowledged_at: row.acknowledged_at,
            resolved_by: row.resolved_by,
            resolved_at: row.resolved_at,
            resolution_note: row.resolution_note,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Typed signals from rows.
pub fn typed(rows: Vec<SignalRow>) -> Result<Vec<Signal>, DbError> {
    rows.into_iter().map(Signal::try_from).collect()
}

#[derive(Debug, Clone, Default)]
pub struct SignalFilter {
    pub status: Option<SignalStatus>,
    pub kind: Option<SignalKind>,
    pub clinician_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub episode_id: Option<Uuid>,
}

/// What acknowledging or resolving a signal led to.
#[derive(Debug)]
pub enum Transition {
    Done(Box<Signal>),
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
    ) -> Result<Page<Signal>, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let mut query =
                    visible(&actor).select(SignalRow::as_select()).order(signals::id.desc()).limit(page.limit + 1);
                if let Some(after) = page.after {
                    query = query.filter(signals::id.lt(after));
                }
                if let Some(status) = filter.status {
                    query = query.filter(signals::status.eq(status.as_str()));
                }
                if let Some(kind) = filter.kind {
                    query = query.filter(signals::kind.eq(kind.as_str()));
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
                Ok(Page { items: typed(page.items)?, next: page.next })
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
                let current: Signal = signals::table
                    .find(key)
                    .select(SignalRow::as_select())
                    .for_update()
                    .first::<SignalRow>(conn)?
                    .try_into()?;
                let row: SignalRow = match (&resolve, current.status) {
                    (None, SignalStatus::Open) => diesel::update(signals::table.find(key))
                        .set((
                            signals::status.eq(SignalStatus::Acknowledged.as_str()),
                            signals::acknowledged_by.eq(actor.id),
                            signals::acknowledged_at.eq(diesel::dsl::now),
                            signals::updated_at.eq(diesel::dsl::now),
                        ))
                        .returning(SignalRow::as_returning())
                        .get_result(conn)?,
                    (Some(note), SignalStatus::Open | SignalStatus::Acknowledged) => {
                        diesel::update(signals::table.find(key))
                            .set((
                                signals::status.eq(SignalStatus::Resolved.as_str()),
                                signals::resolved_by.eq(actor.id),
                                signals::resolved_at.eq(diesel::dsl::now),
                                signals::resolution_note.eq(note),
                                signals::updated_at.eq(diesel::dsl::now),
                            ))
                            .returning(SignalRow::as_returning())
                            .get_result(conn)?
                    }
                    (_, status) => return Ok(Transition::NotAllowed(format!("the signal is {}", status.as_str()))),
                };
                let action = if resolve.is_some() { "signal.resolve" } else { "signal.acknowledge" };
                actor.record(conn, action, "signal", Some(id), serde_json::json!({}))?;
                let signal: Signal = row.try_into()?;
                let updated = crate::domain::webhooks::EventType::SignalUpdated;
                super::webhooks::emit_signal(conn, actor.organization_id, updated, &signal)?;
                Ok(Transition::Done(Box::new(signal)))
            })
        })
        .await
    }
}

//! Responses: the stored rows and their views' inputs, listing, reading and voiding. Submitting
//! is in `submit`.

use super::audit::Actor;
use super::episodes::visible_episodes;
use super::instruments::{InstrumentVersion, versions_by_id};
use super::page::{Page, PageRequest};
use super::schema::{clients, episodes, responses, sessions, signals};
use super::signals::{Signal, SignalRow, typed};
use super::{Database, DbError};
use crate::domain::Role;
use crate::domain::instruments::definition::Rater;
use crate::domain::instruments::{Answers, InstrumentDefinition, Scores, score};
use crate::domain::time::Timestamp;
use crate::domain::validation::FieldError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = responses, check_for_backend(diesel::pg::Pg))]
pub struct ResponseRow {
    pub id: Uuid,
    pub instrument_version_id: Uuid,
    pub instrument_key: String,
    pub client_id: Uuid,
    pub episode_id: Uuid,
    pub session_id: Option<Uuid>,
    pub rater: String,
    pub administered_at: DateTime<Utc>,
    pub answers: Value,
    pub scores: Value,
    pub comment: Option<String>,
    pub settings_version: i32,
    pub voided_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub administered_at_defaulted: bool,
    pub identifier_system: Option<String>,
    pub identifier_value: Option<String>,
}

/// A response whose answers are already parsed against `instrument`.
pub struct ParsedSubmission {
    /// Prefix of the JSON pointers of this submission's fields ("" alone, "/responses/3" in a batch).
    pub pointer: String,
    pub instrument: InstrumentVersion,
    pub answers: Answers,
    pub session_id: Option<Uuid>,
    pub episode_id: Option<Uuid>,
    pub rater: Rater,
    pub administered_at: Timestamp,
    /// No `administered_at` was sent: the time of receipt is used.
    pub administered_at_defaulted: bool,
    pub comment: Option<String>,
    /// The client the response must be about (a FHIR `subject`). With neither session nor
    /// episode, the response goes to that client's one active episode the caller may see.
    pub client_id: Option<Uuid>,
    /// A business identifier (system, or "" for none; value): at most one response of the
    /// organization has it, and submitting it again returns that one instead of storing another.
    pub identifier: Option<(String, String)>,
}

/// One submitted response as stored: new, or found by its identifier.
#[derive(Debug, Clone)]
pub struct Submission {
    pub response: StoredResponse,
    /// It was stored earlier (its identifier matched); nothing new was stored.
    pub existed: bool,
}

/// A stored response with what a view needs.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub row: ResponseRow,
    pub rater: Rater,
    pub session_number: Option<i32>,
    pub version: i32,
    pub definition: InstrumentDefinition,
    pub scores: Scores,
    pub signals: Vec<Signal>,
}

#[derive(Debug)]
pub enum Submitted {
    Created(Value),
    /// The same key and request came before: its stored answer.
    Replayed(Value),
}

impl Submitted {
    /// The answer body, and whether it is an earlier request's stored answer.
    pub fn into_parts(self) -> (Value, bool) {
        match self {
            Submitted::Created(body) => (body, false),
            Submitted::Replayed(body) => (body, true),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("invalid submission")]
    Invalid(Vec<FieldError>),
    #[error("the idempotency key was used with another request")]
    IdempotencyMismatch,
    #[error("a request with this idempotency key is still in flight")]
    InFlight,
    #[error("this form was already submitted or was not requested")]
    NotRequested,
    #[error("a response you may not see already has this identifier")]
    IdentifierInUse,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for SubmitError {
    fn from(error: diesel::result::Error) -> Self {
        let text = error.to_string();
        if text.contains("lock timeout") { SubmitError::InFlight } else { SubmitError::Db(error.into()) }
    }
}

/// Responses with the number of their session (`NULL` for episode-level responses), the join
/// every series read starts from.
#[diesel::dsl::auto_type]
pub(super) fn with_session_numbers() -> _ {
    let same_session =
        sessions::organization_id.eq(responses::organization_id).and(sessions::id.nullable().eq(responses::session_id));
    responses::table.left_join(sessions::table.on(same_session))
}

mod idempotency;
mod series;
mod submit;

pub use idempotency::Idempotency;
pub(crate) use idempotency::forget_answers;

impl Database {
    /// Deletes stored idempotent answers past their 24-hour replay window; returns how many.
    pub async fn purge_expired_answers(&self) -> Result<usize, DbError> {
        self.run(idempotency::purge_expired).await
    }
}

impl Database {
    pub async fn list_responses(
        &self,
        actor: Actor,
        filter: ResponseFilter,
        page: PageRequest,
    ) -> Result<Page<StoredResponse>, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let caseload = visible_episodes(&actor).select(episodes::id);
                let mut query = with_session_numbers()
                    .filter(responses::organization_id.eq(actor.organization_id))
                    .filter(responses::episode_id.eq_any(caseload))
                    .select((ResponseRow::as_select(), sessions::number.nullable()))
                    .order(responses::id.asc())
                    .limit(page.limit + 1)
                    .into_boxed();
                if let Some(after) = page.after {
                    query = query.filter(responses::id.gt(after));
                }
                if let Some(client) = filter.client_id {
                    query = query.filter(responses::client_id.eq(client));
                }
                if let Some(episode) = filter.episode_id {
                    query = query.filter(responses::episode_id.eq(episode));
                }
                if let Some(instrument) = filter.instrument {
                    query = query.filter(responses::instrument_key.eq(instrument));
                }
                if let Some(from) = filter.from {
                    query = query.filter(responses::administered_at.ge(from.get()));
                }
                if let Some(to) = filter.to {
                    query = query.filter(responses::administered_at.lt(to.get()));
                }
                if let Some(external_id) = filter.client_external_id {
                    let named = clients::table
                        .filter(clients::organization_id.eq(actor.organization_id))
                        .filter(clients::external_id.eq(external_id))
                        .select(clients::id);
                    query = query.filter(responses::client_id.eq_any(named));
                }
                if let Some(session) = filter.session_id {
                    query = query.filter(responses::session_id.eq(session));
                }
                if let Some(keys) = filter.instrument_keys {
                    query = query.filter(responses::instrument_key.eq_any(keys));
                }
                if let Some(version) = filter.instrument_version_id {
                    query = query.filter(responses::instrument_version_id.eq(version));
                }
                let changed = diesel::dsl::sql::<diesel::sql_types::Timestamptz>(
                    "coalesce(responses.voided_at, responses.created_at)",
                );
                if let Some(from) = filter.changed_from {
                    query = query.filter(changed.clone().ge(from.get()));
                }
                if let Some(to) = filter.changed_to {
                    query = query.filter(changed.lt(to.get()));
                }
                if let Some((system, value)) = filter.identifier {
                    query = query.filter(responses::identifier_value.eq(value));
                    if let Some(system) = system {
                        query = query.filter(responses::identifier_system.eq(system));
                    }
                }
                let rows: Vec<(ResponseRow, Option<i32>)> = query.load(conn)?;
                let page = Page::from_rows(rows, page.limit, |(row, _)| row.id);
                let stored = with_definitions(conn, actor.organization_id, page.items, false)?;
                let ids: Vec<Uuid> = stored.iter().map(|s| s.row.id).collect();
                actor.record(conn, "response.list", "response", None, serde_json::json!({ "response_ids": ids }))?;
                Ok(Page { items: stored, next: page.next })
            })
        })
        .await
    }

    pub async fn find_response(&self, actor: Actor, id: Uuid) -> Result<StoredResponse, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let stored = find_visible(conn, &actor, id)?;
                actor.record(conn, "response.read", "response", Some(id), serde_json::json!({}))?;
                Ok(stored)
            })
        })
        .await
    }

    /// Voids a response: kept for audit, excluded from analytics. `None` when already void.
    pub async fn void_response(
        &self,
        actor: Actor,
        id: Uuid,
        reason: String,
    ) -> Result<Option<StoredResponse>, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let current = find_visible(conn, &actor, id)?;
                if current.row.voided_at.is_some() {
                    return Ok(None);
                }
                // Before the response's row is touched, the same lock order as a submission's.
                let series = crate::db::series_states::SeriesKey {
                    organization_id: actor.organization_id,
                    episode_id: current.row.episode_id,
                    instrument_key: &current.row.instrument_key,
                    rater: current.rater,
                };
                crate::db::series_states::forget(conn, &series)?;
                // A void is a change exports must carry again: it moves the row past every
                // export cursor handed out so far (migration 000013).
                diesel::sql_query(
                    "UPDATE responses SET voided_at = now(), void_reason = $3, change_xact = pg_current_xact_id() \
                     WHERE organization_id = $1 AND id = $2",
                )
                .bind::<diesel::sql_types::Uuid, _>(actor.organization_id)
                .bind::<diesel::sql_types::Uuid, _>(id)
                .bind::<diesel::sql_types::Text, _>(&reason)
                .execute(conn)?;
                actor.record(conn, "response.void", "response", Some(id), serde_json::json!({}))?;
                let voided = find_visible(conn, &actor, id)?;
                super::webhooks::emit_response_voided(conn, actor.organization_id, &voided)?;
                Ok(Some(voided))
            })
        })
        .await
    }
}

#[derive(Debug, Default, Clone)]
pub struct ResponseFilter {
    pub client_id: Option<Uuid>,
    pub episode_id: Option<Uuid>,
    pub instrument: Option<String>,
    /// Inclusive lower bound on `administered_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound on `administered_at`.
    pub to: Option<Timestamp>,
    /// The client whose `external_id` this is.
    pub client_external_id: Option<String>,
    pub session_id: Option<Uuid>,
    /// Any of these instrument keys.
    pub instrument_keys: Option<Vec<String>>,
    pub instrument_version_id: Option<Uuid>,
    /// Bounds on when the response last changed (stored, or voided), `[from, to)`.
    pub changed_from: Option<Timestamp>,
    pub changed_to: Option<Timestamp>,
    /// (system, value) of its business identifier; `None` system matches any.
    pub identifier: Option<(Option<String>, String)>,
}

fn find_visible(conn: &mut PgConnection, actor: &Actor, id: Uuid) -> Result<StoredResponse, DbError> {
    let caseload = visible_episodes(actor).select(episodes::id);
    let row: (ResponseRow, Option<i32>) = with_session_numbers()
        .filter(responses::organization_id.eq(actor.organization_id))
        .filter(responses::id.eq(id))
        .filter(responses::episode_id.eq_any(caseload))
        .select((ResponseRow::as_select(), sessions::number.nullable()))
        .first(conn)?;
    with_definitions(conn, actor.organization_id, vec![row], true)?.pop().ok_or(DbError::NotFound)
}

/// Attaches each row's instrument version (and, when asked, its signals).
fn with_definitions(
    conn: &mut PgConnection,
    organization_id: Uuid,
    rows: Vec<(ResponseRow, Option<i32>)>,
    with_signals: bool,
) -> Result<Vec<StoredResponse>, DbError> {
    let version_ids: Vec<Uuid> = rows.iter().map(|(row, _)| row.instrument_version_id).collect();
    let versions = versions_by_id(conn, organization_id, &version_ids)?;
    let mut signals_by_response: BTreeMap<Uuid, Vec<Signal>> = BTreeMap::new();
    if with_signals {
        let ids: Vec<Uuid> = rows.iter().map(|(row, _)| row.id).collect();
        let found: Vec<SignalRow> = signals::table
            .filter(signals::organization_id.eq(organization_id))
            .filter(signals::response_id.eq_any(ids))
            .order(signals::id.asc())
            .select(SignalRow::as_select())
            .load(conn)?;
        for signal in typed(found)? {
            if let Some(response_id) = signal.response_id {
                signals_by_response.entry(response_id).or_default().push(signal);
            }
        }
    }
    rows.into_iter()
        .map(|(row, session_number)| {
            let (version, definition) = versions
                .get(&row.instrument_version_id)
                .cloned()
                .ok_or_else(|| DbError::Corrupt("a response names a missing instrument version".into()))?;
            let scores = serde_json::from_value(row.scores.clone())
                .map_err(|e| DbError::Corrupt(format!("stored scores: {e}")))?;
            let signals = signals_by_response.remove(&row.id).unwrap_or_default();
            let rater = super::stored::stored(&row.rater, Rater::parse, "responses.rater")?;
            Ok(StoredResponse { row, rater, session_number, version, definition, scores, signals })
        })
        .collect()
}

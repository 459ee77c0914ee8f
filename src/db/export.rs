//! The response export (docs/integration.md, "Export"): one snapshot, read in keyset batches
//! so memory stays flat however many rows there are, in the order of the transaction that last
//! changed each row.

use super::audit::Actor;
use super::instruments::versions_by_id;
use super::schema::organization_keys;
use super::stored::stored;
use super::{Database, DbError};
use crate::domain::export::{
    ExportCursor, ExportRow, IdKind, IdMode, Namer, ParsedCursor, PseudonymKey, score_columns,
};
use crate::domain::instruments::answers::answer_values;
use crate::domain::instruments::definition::Rater;
use crate::domain::instruments::{InstrumentDefinition, Scores};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Int4, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Rows read per round trip.
const BATCH: i64 = 1000;

/// What an export hands its writer, in order: the cursor that resumes after the whole export
/// (known before the first row), batches of rows, then the end.
pub enum ExportEvent {
    /// The cursor, as the caller should pass it back.
    Start(String),
    Rows(Vec<ExportRow>),
    End,
}

/// What the caller asked for.
pub struct ExportRequest {
    /// Absent: from the beginning.
    pub since: Option<ParsedCursor>,
    pub ids: IdMode,
    /// Audit detail (format, id mode): no PHI.
    pub detail: serde_json::Value,
}

#[derive(QueryableByName)]
struct SourceRow {
    #[diesel(sql_type = Text)]
    xact: String,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    client_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    episode_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    session_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    clinician_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    instrument_key: String,
    #[diesel(sql_type = SqlUuid)]
    instrument_version_id: Uuid,
    #[diesel(sql_type = Text)]
    rater: String,
    #[diesel(sql_type = Timestamptz)]
    administered_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Jsonb)]
    answers: serde_json::Value,
    #[diesel(sql_type = Jsonb)]
    scores: serde_json::Value,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    voided_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Int4>)]
    session_number: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    program: Option<String>,
    #[diesel(sql_type = Text)]
    age_group: String,
    #[diesel(sql_type = Jsonb)]
    attributes: serde_json::Value,
}

#[derive(QueryableByName)]
struct Xmin {
    #[diesel(sql_type = Text)]
    xmin: String,
}

impl Database {
    /// Streams the organization's responses after `request.since` to `write`, which answers
    /// `false` to stop (its reader went away). Returns the number of rows written.
    pub async fn export_responses(
        &self,
        actor: Actor,
        request: ExportRequest,
        mut write: impl FnMut(ExportEvent) -> bool + Send + 'static,
    ) -> Result<u64, DbError> {
        self.run(move |conn| {
            let namer = conn.transaction(|conn| {
                actor.record(conn, "export.responses", "response", None, request.detail.clone())?;
                Ok::<_, DbError>(Namer { mode: request.ids, key: pseudonym_key(conn, actor.organization_id)? })
            })?;
            let mut definitions: BTreeMap<Uuid, (i32, InstrumentDefinition)> = BTreeMap::new();
            conn.build_transaction().repeatable_read().read_only().run(|conn| {
                // The reader sets the pace: between two batches the transaction waits while the
                // body drains, longer than the pool's usual idle-in-transaction limit allows.
                diesel::sql_query("SET LOCAL idle_in_transaction_session_timeout = '300s'").execute(conn)?;
                let xmin: Xmin = diesel::sql_query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin")
                    .get_result(conn)?;
                let end = xmin.xmin.parse::<u64>().map_err(|_| DbError::Corrupt("snapshot xmin".into()))?;
                let mut cursor = request.since.map_or(ExportCursor::START, |since| namer.open(since));
                // A cursor this service handed out never lies above the current xmin; one that
                // does (a restored database) is handed back rather than moved backwards.
                let next = if cursor.xact > end { cursor } else { ExportCursor::below(end) };
                if !write(ExportEvent::Start(namer.cursor(next))) {
                    return Ok(0);
                }
                let mut written = 0_u64;
                loop {
                    let batch = read_batch(conn, actor.organization_id, cursor, end)?;
                    let Some(last) = batch.last() else { break };
                    cursor = ExportCursor { xact: parse_xact(&last.xact)?, after: last.id };
                    let full = batch.len() as i64 == BATCH;
                    let unknown: Vec<Uuid> = batch
                        .iter()
                        .map(|row| row.instrument_version_id)
                        .filter(|id| !definitions.contains_key(id))
                        .collect();
                    if !unknown.is_empty() {
                        definitions.extend(versions_by_id(conn, actor.organization_id, &unknown)?);
                    }
                    let rows = batch
                        .into_iter()
                        .map(|row| export_row(row, &namer, &definitions))
                        .collect::<Result<Vec<_>, _>>()?;
                    written = written.saturating_add(rows.len() as u64);
                    if !write(ExportEvent::Rows(rows)) {
                        return Ok(written);
                    }
                    if !full {
                        break;
                    }
                }
                write(ExportEvent::End);
                Ok(written)
            })
        })
        .await
    }
}

fn parse_xact(text: &str) -> Result<u64, DbError> {
    text.parse().map_err(|_| DbError::Corrupt(format!("responses.change_xact `{text}`")))
}

fn read_batch(
    conn: &mut PgConnection,
    organization_id: Uuid,
    after: ExportCursor,
    end: u64,
) -> Result<Vec<SourceRow>, DbError> {
    // Everything below `end` had ended when the snapshot was taken, so what this reads is
    // complete and the next export starting at `end` misses nothing.
    Ok(diesel::sql_query(
        "SELECT r.change_xact::text AS xact, r.id, r.client_id, r.episode_id, r.session_id, \
                coalesce(r.clinician_id, e.clinician_id) AS clinician_id, r.instrument_key, r.instrument_version_id, r.rater, \
                r.administered_at, r.created_at, r.answers, r.scores, r.voided_at, s.number AS session_number, \
                e.program, c.age_group, c.attributes \
         FROM responses r \
         JOIN episodes e ON e.organization_id = r.organization_id AND e.id = r.episode_id \
         JOIN clients c ON c.organization_id = r.organization_id AND c.id = r.client_id \
         LEFT JOIN sessions s ON s.organization_id = r.organization_id AND s.id = r.session_id \
         WHERE r.organization_id = $1 AND (r.change_xact, r.id) > ($2::text::xid8, $3) \
           AND r.change_xact < $4::text::xid8 \
         ORDER BY r.change_xact, r.id \
         LIMIT $5",
    )
    .bind::<SqlUuid, _>(organization_id)
    .bind::<Text, _>(after.xact.to_string())
    .bind::<SqlUuid, _>(after.after)
    .bind::<Text, _>(end.to_string())
    .bind::<diesel::sql_types::BigInt, _>(BATCH)
    .load(conn)?)
}

fn export_row(
    row: SourceRow,
    namer: &Namer,
    definitions: &BTreeMap<Uuid, (i32, InstrumentDefinition)>,
) -> Result<ExportRow, DbError> {
    let (version, definition) = definitions
        .get(&row.instrument_version_id)
        .ok_or_else(|| DbError::Corrupt("a response names a missing instrument version".into()))?;
    let scores: Scores =
        serde_json::from_value(row.scores).map_err(|e| DbError::Corrupt(format!("stored scores: {e}")))?;
    let rater = stored(&row.rater, Rater::parse, "responses.rater")?;
    let (subscales, flags) = score_columns(&scores);
    let cursor = ExportCursor { xact: parse_xact(&row.xact)?, after: row.id };
    Ok(ExportRow {
        cursor: namer.cursor(cursor),
        response_id: namer.name(IdKind::Response, row.id),
        client_id: namer.name(IdKind::Client, row.client_id),
        episode_id: namer.name(IdKind::Episode, row.episode_id),
        session_id: row.session_id.map(|id| namer.name(IdKind::Session, id)),
        clinician_id: row.clinician_id.map(|id| namer.name(IdKind::Clinician, id)),
        instrument: row.instrument_key,
        instrument_version: *version,
        rater: rater.as_str().to_owned(),
        administered_at: row.administered_at,
        recorded_at: row.created_at,
        session_number: row.session_number,
        program: row.program,
        age_group: row.age_group,
        client_attributes: row.attributes,
        answers: answer_values(definition, &row.answers),
        total: scores.total,
        item_mean: scores.item_mean,
        subscales,
        band: scores.band,
        flags,
        voided: row.voided_at.is_some(),
        voided_at: row.voided_at,
    })
}

/// The organization's pseudonym key, made on first use. The key is drawn here and bound as a
/// value, so the upsert holds no volatile function.
fn pseudonym_key(conn: &mut PgConnection, organization_id: Uuid) -> Result<PseudonymKey, DbError> {
    let fresh: [u8; 32] = rand::random();
    diesel::insert_into(organization_keys::table)
        .values((
            organization_keys::organization_id.eq(organization_id),
            organization_keys::pseudonym_key.eq(&fresh[..]),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    let key: Vec<u8> = organization_keys::table
        .filter(organization_keys::organization_id.eq(organization_id))
        .select(organization_keys::pseudonym_key)
        .first(conn)?;
    let key: [u8; 32] = key.try_into().map_err(|_| DbError::Corrupt("organization_keys.pseudonym_key".into()))?;
    Ok(PseudonymKey::new(key))
}

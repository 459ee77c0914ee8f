//! Session transcripts: the latest analysis per session (re-uploading replaces it, counting the
//! version up), the sealed text when the organization keeps it, the session's
//! `transcript_rupture_unaddressed` signal, and the reads behind the alliance view and the
//! clinician's areas for growth. The text never reaches this module unsealed.

mod rotation;
mod signal;

use super::audit::Actor;
use super::episodes::{EpisodeRow, find_visible_episode};
use super::schema::{responses, session_transcripts, sessions};
use super::{Database, DbError};
use crate::domain::settings::OrganizationSettings;
use crate::domain::transcript::TranscriptAnalysis;
use crate::domain::transcript::analysis::TranscriptMetrics;
use crate::domain::transcript::series::AnalysedSession;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

/// The session a transcript is for, and the settings in force.
#[derive(Debug, Clone)]
pub struct TranscriptTarget {
    pub session_id: Uuid,
    pub episode_id: Uuid,
    pub client_id: Uuid,
    pub clinician_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub settings_version: i32,
    pub settings: OrganizationSettings,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = session_transcripts, check_for_backend(diesel::pg::Pg))]
pub struct TranscriptRow {
    pub session_id: Uuid,
    pub episode_id: Uuid,
    pub client_id: Uuid,
    pub clinician_id: Uuid,
    pub version: i32,
    pub rules_version: String,
    pub settings_version: i32,
    pub language: String,
    pub analysis: serde_json::Value,
    pub text_key_id: Option<String>,
    pub uploaded_by: Uuid,
    pub uploaded_at: DateTime<Utc>,
}

/// A stored analysis, typed.
#[derive(Debug, Clone)]
pub struct StoredTranscript {
    pub row: TranscriptRow,
    pub analysis: TranscriptAnalysis,
}

impl TryFrom<TranscriptRow> for StoredTranscript {
    type Error = DbError;

    fn try_from(row: TranscriptRow) -> Result<Self, DbError> {
        let analysis = serde_json::from_value(row.analysis.clone())
            .map_err(|e| DbError::Corrupt(format!("session_transcripts.analysis: {e}")))?;
        Ok(Self { row, analysis })
    }
}

/// The sealed text of a session, with what opens it.
#[derive(Debug, Clone)]
pub struct SealedText {
    pub key_id: String,
    pub sealed: Vec<u8>,
}

/// One analysed session of a clinician, with the client's session-alliance total if rated.
#[derive(Debug, Clone)]
pub struct ClinicianTranscript {
    pub session_id: Uuid,
    pub metrics: TranscriptMetrics,
    pub alliance_total: Option<f64>,
}

/// What binds sealed text to its row: a sealed value moved elsewhere does not open.
pub fn seal_binding(organization_id: Uuid, session_id: Uuid, version: i32) -> Vec<u8> {
    let mut bound = Vec::with_capacity(36);
    bound.extend_from_slice(organization_id.as_bytes());
    bound.extend_from_slice(session_id.as_bytes());
    bound.extend_from_slice(&version.to_be_bytes());
    bound
}

fn metrics(value: serde_json::Value) -> Result<TranscriptMetrics, DbError> {
    serde_json::from_value(value).map_err(|e| DbError::Corrupt(format!("session_transcripts.metrics: {e}")))
}

/// The session's episode and time, if the caller may see the session.
fn visible_session(
    conn: &mut PgConnection,
    actor: &Actor,
    session_id: Uuid,
) -> Result<(EpisodeRow, DateTime<Utc>), DbError> {
    let (episode_id, occurred_at): (Uuid, DateTime<Utc>) = sessions::table
        .find((actor.organization_id, session_id))
        .select((sessions::episode_id, sessions::occurred_at))
        .first(conn)?;
    Ok((find_visible_episode(conn, actor, episode_id)?, occurred_at))
}

fn find_row(
    conn: &mut PgConnection,
    organization_id: Uuid,
    session_id: Uuid,
) -> Result<Option<TranscriptRow>, DbError> {
    Ok(session_transcripts::table
        .find((organization_id, session_id))
        .select(TranscriptRow::as_select())
        .first(conn)
        .optional()?)
}

/// The episode's analysed sessions in session order.
pub(super) fn episode_transcripts(
    conn: &mut PgConnection,
    organization_id: Uuid,
    episode_id: Uuid,
) -> Result<Vec<AnalysedSession>, DbError> {
    let rows: Vec<(Uuid, i32, i32, String, serde_json::Value)> = session_transcripts::table
        .inner_join(
            sessions::table.on(sessions::organization_id
                .eq(session_transcripts::organization_id)
                .and(sessions::id.eq(session_transcripts::session_id))),
        )
        .filter(session_transcripts::organization_id.eq(organization_id))
        .filter(session_transcripts::episode_id.eq(episode_id))
        .order((sessions::number.asc(), sessions::id.asc()))
        .select((
            session_transcripts::session_id,
            sessions::number,
            session_transcripts::version,
            session_transcripts::rules_version,
            session_transcripts::metrics,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(session_id, session_number, version, rules_version, value)| {
            Ok(AnalysedSession { session_id, session_number, version, rules_version, metrics: metrics(value)? })
        })
        .collect()
}

/// A clinician's analysed sessions that took place in `[from, to)`, each with the client's
/// total on a session-alliance instrument (`alliance_keys`, asked of the catalogue) if rated.
pub(super) fn clinician_transcripts(
    conn: &mut PgConnection,
    organization_id: Uuid,
    clinician_id: Uuid,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    alliance_keys: &[&str],
) -> Result<Vec<ClinicianTranscript>, DbError> {
    let rows: Vec<(Uuid, serde_json::Value)> = session_transcripts::table
        .filter(session_transcripts::organization_id.eq(organization_id))
        .filter(session_transcripts::clinician_id.eq(clinician_id))
        .filter(session_transcripts::session_occurred_at.ge(from))
        .filter(session_transcripts::session_occurred_at.lt(to))
        .order(session_transcripts::session_occurred_at.asc())
        .select((session_transcripts::session_id, session_transcripts::metrics))
        .load(conn)?;
    let session_ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
    let totals: Vec<(Option<Uuid>, serde_json::Value)> = responses::table
        .filter(responses::organization_id.eq(organization_id))
        .filter(responses::session_id.eq_any(&session_ids))
        .filter(responses::instrument_key.eq_any(alliance_keys))
        .filter(responses::rater.eq(crate::domain::instruments::definition::Rater::Client.as_str()))
        .filter(responses::voided_at.is_null())
        .order((responses::administered_at.asc(), responses::id.asc()))
        .select((responses::session_id, responses::scores))
        .load(conn)?;
    rows.into_iter()
        .map(|(session_id, value)| {
            let alliance_total = totals
                .iter()
                .filter(|(id, _)| *id == Some(session_id))
                .filter_map(|(_, scores)| scores.get("total").and_then(serde_json::Value::as_f64))
                .next_back();
            Ok(ClinicianTranscript { session_id, metrics: metrics(value)?, alliance_total })
        })
        .collect()
}

/// Erasure: the client's transcripts go (their sealed text with them). Returns how many.
pub(super) fn forget_client(conn: &mut PgConnection, organization_id: Uuid, client_id: Uuid) -> Result<usize, DbError> {
    Ok(diesel::delete(
        session_transcripts::table
            .filter(session_transcripts::organization_id.eq(organization_id))
            .filter(session_transcripts::client_id.eq(client_id)),
    )
    .execute(conn)?)
}

/// What one upload stores.
pub struct Upload {
    pub analysis: TranscriptAnalysis,
    /// "json" or "vtt", for the audit record.
    pub format: &'static str,
}

impl Database {
    /// The session the caller may upload a transcript for, and the settings in force.
    pub async fn transcript_target(&self, actor: Actor, session_id: Uuid) -> Result<TranscriptTarget, DbError> {
        self.run(move |conn| {
            let (episode, occurred_at) = visible_session(conn, &actor, session_id)?;
            let (settings_version, settings) = super::settings::current(conn, actor.organization_id)?;
            Ok(TranscriptTarget {
                session_id,
                episode_id: episode.id,
                client_id: episode.client_id,
                clinician_id: episode.clinician_id,
                occurred_at,
                settings_version,
                settings,
            })
        })
        .await
    }

    /// Stores an analysis as the session's next version. `seal` is given the version and
    /// returns the sealed text (key id, bytes) when the organization keeps it.
    pub async fn store_transcript(
        &self,
        actor: Actor,
        target: TranscriptTarget,
        upload: Upload,
        seal: impl FnOnce(i32) -> Option<(String, Vec<u8>)> + Send + 'static,
    ) -> Result<(StoredTranscript, Option<Uuid>), DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let org = actor.organization_id;
                // One upload per session at a time: the version and the seal's binding agree.
                sessions::table
                    .find((org, target.session_id))
                    .select(sessions::id)
                    .for_no_key_update()
                    .first::<Uuid>(conn)?;
                let previous = find_row(conn, org, target.session_id)?.map_or(0, |row| row.version);
                let version =
                    previous.checked_add(1).ok_or_else(|| DbError::Corrupt("transcript version overflow".into()))?;
                let sealed = seal(version);
                let analysis_json = serde_json::to_value(&upload.analysis).expect("an analysis serializes");
                let metrics_json = serde_json::to_value(&upload.analysis.metrics).expect("metrics serialize");
                let now = Utc::now();
                let (key_id, text) = sealed.map_or((None, None), |(key, bytes)| (Some(key), Some(bytes)));
                let values = (
                    session_transcripts::organization_id.eq(org),
                    session_transcripts::session_id.eq(target.session_id),
                    session_transcripts::episode_id.eq(target.episode_id),
                    session_transcripts::client_id.eq(target.client_id),
                    session_transcripts::clinician_id.eq(target.clinician_id),
                    session_transcripts::session_occurred_at.eq(target.occurred_at),
                    session_transcripts::version.eq(version),
                    session_transcripts::rules_version.eq(&upload.analysis.rules_version),
                    session_transcripts::settings_version.eq(target.settings_version),
                    session_transcripts::language.eq(&upload.analysis.language),
                    session_transcripts::analysis.eq(&analysis_json),
                    session_transcripts::metrics.eq(&metrics_json),
                    session_transcripts::text_key_id.eq(&key_id),
                    session_transcripts::text_sealed.eq(&text),
                    session_transcripts::uploaded_by.eq(actor.id),
                    session_transcripts::uploaded_at.eq(now),
                );
                use diesel::upsert::excluded;
                let row = diesel::insert_into(session_transcripts::table)
                    .values(values)
                    .on_conflict((session_transcripts::organization_id, session_transcripts::session_id))
                    .do_update()
                    .set((
                        session_transcripts::episode_id.eq(excluded(session_transcripts::episode_id)),
                        session_transcripts::client_id.eq(excluded(session_transcripts::client_id)),
                        session_transcripts::clinician_id.eq(excluded(session_transcripts::clinician_id)),
                        session_transcripts::version.eq(excluded(session_transcripts::version)),
                        session_transcripts::rules_version.eq(excluded(session_transcripts::rules_version)),
                        session_transcripts::settings_version.eq(excluded(session_transcripts::settings_version)),
                        session_transcripts::language.eq(excluded(session_transcripts::language)),
                        session_transcripts::analysis.eq(excluded(session_transcripts::analysis)),
                        session_transcripts::metrics.eq(excluded(session_transcripts::metrics)),
                        session_transcripts::text_key_id.eq(excluded(session_transcripts::text_key_id)),
                        session_transcripts::text_sealed.eq(excluded(session_transcripts::text_sealed)),
                        session_transcripts::uploaded_by.eq(excluded(session_transcripts::uploaded_by)),
                        session_transcripts::uploaded_at.eq(excluded(session_transcripts::uploaded_at)),
                    ))
                    .returning(TranscriptRow::as_returning())
                    .get_result(conn)?;
                let signal = signal::transcript_signal(conn, &actor, &target, version, &upload.analysis)?;
                let metrics = &upload.analysis.metrics;
                actor.record(
                    conn,
                    "transcript.upload",
                    "session",
                    Some(target.session_id),
                    serde_json::json!({
                        "version": version,
                        "format": upload.format,
                        "rules_version": upload.analysis.rules_version,
                        "markers": metrics.markers,
                        "unaddressed_episodes": metrics.unaddressed_episodes,
                        "text_retained": key_id.is_some(),
                        "signal_id": signal,
                    }),
                )?;
                Ok((StoredTranscript { row, analysis: upload.analysis }, signal))
            })
        })
        .await
    }

    /// The session's analysis (audited as a read of client data).
    pub async fn transcript_analysis(&self, actor: Actor, session_id: Uuid) -> Result<StoredTranscript, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                visible_session(conn, &actor, session_id)?;
                let row = find_row(conn, actor.organization_id, session_id)?.ok_or(DbError::NotFound)?;
                actor.record(
                    conn,
                    "transcript.analysis.read",
                    "session",
                    Some(session_id),
                    serde_json::json!({ "version": row.version }),
                )?;
                StoredTranscript::try_from(row)
            })
        })
        .await
    }

    /// Deletes the session's analysis and kept text; resolves its open transcript signal.
    pub async fn delete_transcript(&self, actor: Actor, session_id: Uuid) -> Result<(), DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                visible_session(conn, &actor, session_id)?;
                let org = actor.organization_id;
                let row = find_row(conn, org, session_id)?.ok_or(DbError::NotFound)?;
                diesel::delete(session_transcripts::table.find((org, session_id))).execute(conn)?;
                let signal = signal::resolve_for_deleted(conn, &actor, session_id, row.version)?;
                actor.record(
                    conn,
                    "transcript.delete",
                    "session",
                    Some(session_id),
                    serde_json::json!({
                        "version": row.version,
                        "text_deleted": row.text_key_id.is_some(),
                        "signal_id": signal,
                    }),
                )?;
                Ok(())
            })
        })
        .await
    }

    /// The session's sealed text, if kept (audited, whether or not it was).
    pub async fn transcript_text(
        &self,
        actor: Actor,
        session_id: Uuid,
    ) -> Result<(TranscriptRow, Option<SealedText>), DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                visible_session(conn, &actor, session_id)?;
                let org = actor.organization_id;
                let (row, sealed): (TranscriptRow, Option<Vec<u8>>) = session_transcripts::table
                    .find((org, session_id))
                    .select((TranscriptRow::as_select(), session_transcripts::text_sealed))
                    .first(conn)
                    .optional()?
                    .ok_or(DbError::NotFound)?;
                actor.record(
                    conn,
                    "transcript.text.read",
                    "session",
                    Some(session_id),
                    serde_json::json!({ "version": row.version, "retained": sealed.is_some() }),
                )?;
                let text = match (row.text_key_id.clone(), sealed) {
                    (Some(key_id), Some(sealed)) => Some(SealedText { key_id, sealed }),
                    _ => None,
                };
                Ok((row, text))
            })
        })
        .await
    }
}

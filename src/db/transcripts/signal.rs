//! The session's `transcript_rupture_unaddressed` signal: raised with the first analysis that
//! leaves a rupture unaddressed, refreshed by later ones, resolved by one without.

use super::TranscriptTarget;
use crate::db::DbError;
use crate::db::audit::Actor;
use crate::db::schema::signals;
use crate::db::signals::{Signal, SignalRow};
use crate::domain::signals::{SignalKind, SignalStatus};
use crate::domain::transcript::TranscriptAnalysis;
use crate::domain::webhooks::EventType;
use chrono::Utc;
use diesel::prelude::*;
use uuid::Uuid;

/// Raises, refreshes or resolves the session's `transcript_rupture_unaddressed` signal.
pub(super) fn transcript_signal(
    conn: &mut PgConnection,
    actor: &Actor,
    target: &TranscriptTarget,
    version: i32,
    analysis: &TranscriptAnalysis,
) -> Result<Option<Uuid>, DbError> {
    let kind = SignalKind::TranscriptRuptureUnaddressed;
    let org = actor.organization_id;
    let existing: Option<SignalRow> = signals::table
        .filter(signals::organization_id.eq(org))
        .filter(signals::session_id.eq(target.session_id))
        .filter(signals::kind.eq(kind.as_str()))
        .filter(signals::response_id.is_null())
        .select(SignalRow::as_select())
        .for_update()
        .first(conn)
        .optional()?;
    let unaddressed: Vec<serde_json::Value> = analysis
        .rupture_episodes
        .iter()
        .filter(|e| e.status == crate::domain::transcript::analysis::EpisodeStatus::Unaddressed)
        .map(|e| serde_json::json!({ "family": e.family, "first_turn": e.first_turn, "last_turn": e.last_turn }))
        .collect();
    let evidence = serde_json::json!({
        "transcript_version": version,
        "rules_version": analysis.rules_version,
        "unaddressed_episodes": unaddressed,
        "validity_note": crate::domain::transcript::VALIDITY_NOTE,
    });
    let now = Utc::now();
    let changed: Option<(SignalRow, EventType)> = match (existing, unaddressed.is_empty()) {
        (None, true) => None,
        (None, false) => diesel::insert_into(signals::table)
            .values((
                signals::organization_id.eq(org),
                signals::id.eq(Uuid::now_v7()),
                signals::kind.eq(kind.as_str()),
                signals::severity.eq(kind.severity().as_str()),
                signals::client_id.eq(target.client_id),
                signals::episode_id.eq(target.episode_id),
                signals::session_id.eq(target.session_id),
                signals::clinician_id.eq(target.clinician_id),
                signals::response_ids.eq(Vec::<Uuid>::new()),
                signals::evidence.eq(&evidence),
            ))
            .on_conflict_do_nothing()
            .returning(SignalRow::as_returning())
            .get_result(conn)
            .optional()?
            .map(|row| (row, EventType::SignalCreated)),
        (Some(row), false) => {
            let updated = diesel::update(signals::table.find((org, row.id)))
                .set((signals::evidence.eq(&evidence), signals::updated_at.eq(now)))
                .returning(SignalRow::as_returning())
                .get_result(conn)?;
            Some((updated, EventType::SignalUpdated))
        }
        (Some(row), true) if row.status != SignalStatus::Resolved.as_str() => {
            let note = format!("Version {version} of the transcript analysis found no unaddressed rupture.");
            let updated = diesel::update(signals::table.find((org, row.id)))
                .set((
                    signals::status.eq(SignalStatus::Resolved.as_str()),
                    signals::resolved_by.eq(actor.id),
                    signals::resolved_at.eq(now),
                    signals::resolution_note.eq(note),
                    signals::evidence.eq(&evidence),
                    signals::updated_at.eq(now),
                ))
                .returning(SignalRow::as_returning())
                .get_result(conn)?;
            Some((updated, EventType::SignalUpdated))
        }
        (Some(_), true) => None,
    };
    match changed {
        Some((row, event)) => {
            let signal = Signal::try_from(row)?;
            crate::db::webhooks::emit_signal(conn, org, event, &signal)?;
            Ok(Some(signal.id))
        }
        None => Ok(None),
    }
}

/// The analysis behind the session's open transcript signal was deleted: the signal is resolved
/// (kept, as the record of what was raised), with a note naming the version.
pub(super) fn resolve_for_deleted(
    conn: &mut PgConnection,
    actor: &Actor,
    session_id: Uuid,
    version: i32,
) -> Result<Option<Uuid>, DbError> {
    let kind = SignalKind::TranscriptRuptureUnaddressed;
    let org = actor.organization_id;
    let now = Utc::now();
    let note = format!("Version {version} of the transcript analysis was deleted.");
    let resolved: Option<SignalRow> = diesel::update(
        signals::table
            .filter(signals::organization_id.eq(org))
            .filter(signals::session_id.eq(session_id))
            .filter(signals::kind.eq(kind.as_str()))
            .filter(signals::response_id.is_null())
            .filter(signals::status.ne(SignalStatus::Resolved.as_str())),
    )
    .set((
        signals::status.eq(SignalStatus::Resolved.as_str()),
        signals::resolved_by.eq(actor.id),
        signals::resolved_at.eq(now),
        signals::resolution_note.eq(note),
        signals::updated_at.eq(now),
    ))
    .returning(SignalRow::as_returning())
    .get_result(conn)
    .optional()?;
    match resolved {
        Some(row) => {
            let signal = Signal::try_from(row)?;
            crate::db::webhooks::emit_signal(conn, org, EventType::SignalUpdated, &signal)?;
            Ok(Some(signal.id))
        }
        None => Ok(None),
    }
}

//! The stored running state of each series (migration 000015; docs/scaling.md, "Series state").
//! A submission locks its series' row, continues the state when the new response comes after
//! its last point under the same settings, and otherwise rebuilds it from the series.

use super::DbError;
use super::schema::series_states;
use crate::domain::instruments::definition::Rater;
use crate::domain::series_state::SeriesState;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use uuid::Uuid;

/// One series of an episode.
pub struct SeriesKey<'a> {
    pub organization_id: Uuid,
    pub episode_id: Uuid,
    pub instrument_key: &'a str,
    pub rater: Rater,
}

/// Where a point sorts in its series: session number (none sorts last), time, id.
pub type SeriesOrder = (i32, DateTime<Utc>, Uuid);

pub fn series_order(session_number: Option<i32>, administered_at: DateTime<Utc>, id: Uuid) -> SeriesOrder {
    (session_number.unwrap_or(i32::MAX), administered_at, id)
}

/// A state as stored: the settings version it was built under and its last point's order.
pub struct StoredState {
    pub settings_version: i32,
    pub last: SeriesOrder,
    pub state: SeriesState,
}

type StateRow = (Option<i32>, Option<i32>, Option<DateTime<Utc>>, Option<Uuid>, Option<serde_json::Value>);

/// Locks the series' row until the transaction ends (creating an empty one), so concurrent
/// submissions to one series continue each other's state; returns the state stored there.
pub fn lock(conn: &mut PgConnection, key: &SeriesKey<'_>) -> Result<Option<StoredState>, DbError> {
    let (version, session, at, id, state): StateRow = diesel::insert_into(series_states::table)
        .values((
            series_states::organization_id.eq(key.organization_id),
            series_states::episode_id.eq(key.episode_id),
            series_states::instrument_key.eq(key.instrument_key),
            series_states::rater.eq(key.rater.as_str()),
        ))
        .on_conflict((
            series_states::organization_id,
            series_states::episode_id,
            series_states::instrument_key,
            series_states::rater,
        ))
        // A no-op update: it takes the row lock and returns the row as it is.
        .do_update()
        .set(series_states::rater.eq(excluded(series_states::rater)))
        .returning((
            series_states::settings_version,
            series_states::last_session_number,
            series_states::last_administered_at,
            series_states::last_response_id,
            series_states::state,
        ))
        .get_result(conn)?;
    let (Some(settings_version), Some(at), Some(id), Some(state)) = (version, at, id, state) else { return Ok(None) };
    let state = serde_json::from_value(state).map_err(|e| DbError::Corrupt(format!("series_states.state: {e}")))?;
    Ok(Some(StoredState { settings_version, last: series_order(session, at, id), state }))
}

/// Stores the state after the series' last point, `last` (session number, time, id).
pub fn store(
    conn: &mut PgConnection,
    key: &SeriesKey<'_>,
    settings_version: i32,
    last: (Option<i32>, DateTime<Utc>, Uuid),
    state: &SeriesState,
) -> Result<(), DbError> {
    let state = serde_json::to_value(state).map_err(|e| DbError::Corrupt(format!("series state: {e}")))?;
    diesel::update(series_states::table.find((
        key.organization_id,
        key.episode_id,
        key.instrument_key,
        key.rater.as_str(),
    )))
    .set((
        series_states::settings_version.eq(settings_version),
        series_states::last_session_number.eq(last.0),
        series_states::last_administered_at.eq(last.1),
        series_states::last_response_id.eq(last.2),
        series_states::state.eq(state),
    ))
    .execute(conn)?;
    Ok(())
}

/// Drops the series' state (a point left it); the next submission rebuilds it.
pub fn forget(conn: &mut PgConnection, key: &SeriesKey<'_>) -> Result<(), DbError> {
    diesel::delete(series_states::table.find((
        key.organization_id,
        key.episode_id,
        key.instrument_key,
        key.rater.as_str(),
    )))
    .execute(conn)?;
    Ok(())
}

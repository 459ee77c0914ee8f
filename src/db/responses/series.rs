//! A submission's view of its series: the stored running state continued, or the series read
//! once and folded when it cannot be (docs/scaling.md, "Series state").

use super::*;
use crate::db::schema::{responses, sessions};
use crate::db::series_states::{self, SeriesKey, SeriesOrder, series_order};
use crate::domain::analytics::RuptureSettings;
use crate::domain::series_state::SeriesState;
use crate::domain::signals::EarlierScore;

pub(super) type SeriesRow = (Uuid, Option<i32>, DateTime<Utc>, i32);

fn earlier_score((response_id, session_number, _, hundredths): &SeriesRow) -> EarlierScore {
    EarlierScore { response_id: *response_id, session_number: *session_number, total: f64::from(*hundredths) / 100.0 }
}

/// The series of `key` before the new response `new`, and the points that sort after it (a
/// late entry). Takes the series' lock; continues its stored state when that ends before `new`
/// under the current settings, and otherwise reads the whole series once.
pub(super) fn series_before(
    conn: &mut PgConnection,
    key: &SeriesKey<'_>,
    new: SeriesOrder,
    settings_version: i32,
    rupture: &RuptureSettings,
) -> Result<(SeriesState, Vec<SeriesRow>), SubmitError> {
    if let Some(stored) = series_states::lock(conn, key)? {
        if stored.settings_version == settings_version && stored.last < new {
            return Ok((stored.state, Vec::new()));
        }
    }
    let mut rows: Vec<SeriesRow> = with_session_numbers()
        .filter(responses::organization_id.eq(key.organization_id))
        .filter(responses::episode_id.eq(key.episode_id))
        .filter(responses::instrument_key.eq(key.instrument_key))
        .filter(responses::rater.eq(key.rater.as_str()))
        .filter(responses::voided_at.is_null())
        .select((responses::id, sessions::number.nullable(), responses::administered_at, responses::total_hundredths))
        .load(conn)?;
    rows.sort_by_key(|(id, n, at, _)| series_order(*n, *at, *id));
    let later = rows.split_off(rows.partition_point(|(id, n, at, _)| series_order(*n, *at, *id) < new));
    let earlier: Vec<EarlierScore> = rows.iter().map(earlier_score).collect();
    Ok((SeriesState::from_series(&earlier, rupture), later))
}

/// Stores the series' state after the new response and any points that sort after it.
pub(super) fn store_series_after(
    conn: &mut PgConnection,
    key: &SeriesKey<'_>,
    settings_version: i32,
    before: &SeriesState,
    new: SeriesRow,
    later: Vec<SeriesRow>,
    rupture: &RuptureSettings,
) -> Result<(), SubmitError> {
    let mut state = before.clone();
    let mut last = new;
    for row in std::iter::once(new).chain(later) {
        state.push(&earlier_score(&row), rupture);
        last = row;
    }
    let (id, session_number, administered_at, _) = last;
    series_states::store(conn, key, settings_version, (session_number, administered_at, id), &state)?;
    Ok(())
}

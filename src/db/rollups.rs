//! Incremental statistics written in the same transaction as each response: the organization's
//! SD of session-to-session alliance change (sharded sums), and outcome points with their
//! episode's intake (the ETR reference set, condensed by a trigger into `etr_reference`).
//! Reads are primary-key or small index range scans.
//!
//! Approximation, by design: a voided response's contribution stays in these sums (voids are
//! rare and the statistics are organization-wide); the per-episode reads exclude voided
//! responses exactly.

use super::DbError;
use super::schema::{alliance_change_stats, etr_reference, outcome_points};
use crate::domain::analytics::{EtrBandPoint, band_point};
use diesel::prelude::*;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Pairs an organization needs before its own SD replaces the fallback spread.
pub const MIN_CHANGE_PAIRS: i64 = 100;

/// SD of session-to-session change across the organization, and how many pairs it rests on.
pub fn org_change_sd(conn: &mut PgConnection, organization_id: Uuid, key: &str) -> Result<(Option<f64>, i64), DbError> {
    Ok(org_change_sds(conn, organization_id, &[key])?.remove(key).unwrap_or((None, 0)))
}

/// A form's key and its sums over the shards: pairs, Σ change, Σ change².
type ChangeSums = (String, Option<i64>, Option<f64>, Option<f64>);

/// [`org_change_sd`] of each of `keys` (every key present, with 0 pairs when none), in one
/// statement: the episode reads ask for every session-alliance form at once.
pub fn org_change_sds(
    conn: &mut PgConnection,
    organization_id: Uuid,
    keys: &[&str],
) -> Result<BTreeMap<String, (Option<f64>, i64)>, DbError> {
    let rows: Vec<ChangeSums> = alliance_change_stats::table
        .filter(alliance_change_stats::organization_id.eq(organization_id))
        .filter(alliance_change_stats::instrument_key.eq_any(keys))
        .group_by(alliance_change_stats::instrument_key)
        .select((
            alliance_change_stats::instrument_key,
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>("sum(n)::bigint"),
            diesel::dsl::sum(alliance_change_stats::sum),
            diesel::dsl::sum(alliance_change_stats::sum_sq),
        ))
        .load(conn)?;
    let mut sds: BTreeMap<String, (Option<f64>, i64)> = keys.iter().map(|key| ((*key).to_owned(), (None, 0))).collect();
    for (key, n, sum, sum_sq) in rows {
        let n = n.unwrap_or(0);
        sds.insert(key, change_sd_from_sums(n, sum.unwrap_or(0.0), sum_sq.unwrap_or(0.0)));
    }
    Ok(sds)
}

/// The SD from the sharded sums, once there are [`MIN_CHANGE_PAIRS`] pairs.
fn change_sd_from_sums(n: i64, sum: f64, sum_sq: f64) -> (Option<f64>, i64) {
    if n < MIN_CHANGE_PAIRS {
        return (None, n);
    }
    let variance = ((sum_sq - sum * sum / n as f64) / (n - 1) as f64).max(0.0);
    (Some(variance.sqrt()), n)
}

/// Shards of `alliance_change_stats` (its check constraint allows 0–15).
const CHANGE_SHARDS: u8 = 16;

pub fn record_change(conn: &mut PgConnection, organization_id: Uuid, key: &str, change: f64) -> Result<(), DbError> {
    // A shard row no concurrent submission holds (SKIP LOCKED); when each existing one is held,
    // a random shard, most often one not made yet. The row stays locked until commit, so a
    // random pick alone would make concurrent submissions queue on the rows they collide on.
    let free: Option<i16> = alliance_change_stats::table
        .filter(alliance_change_stats::organization_id.eq(organization_id))
        .filter(alliance_change_stats::instrument_key.eq(key))
        .select(alliance_change_stats::shard)
        .order(alliance_change_stats::shard)
        .for_update()
        .skip_locked()
        .first(conn)
        .optional()?;
    let shard = free.unwrap_or_else(|| i16::from(rand::random::<u8>() % CHANGE_SHARDS));
    diesel::insert_into(alliance_change_stats::table)
        .values((
            alliance_change_stats::organization_id.eq(organization_id),
            alliance_change_stats::instrument_key.eq(key),
            alliance_change_stats::shard.eq(shard),
            alliance_change_stats::n.eq(1i64),
            alliance_change_stats::sum.eq(change),
            alliance_change_stats::sum_sq.eq(change * change),
        ))
        .on_conflict((
            alliance_change_stats::organization_id,
            alliance_change_stats::instrument_key,
            alliance_change_stats::shard,
        ))
        .do_update()
        .set((
            alliance_change_stats::n.eq(alliance_change_stats::n + 1i64),
            alliance_change_stats::sum.eq(alliance_change_stats::sum + change),
            alliance_change_stats::sum_sq.eq(alliance_change_stats::sum_sq + change * change),
        ))
        .execute(conn)?;
    Ok(())
}

pub struct OutcomePoint {
    pub episode_id: Uuid,
    pub session_number: i32,
    pub intake_hundredths: i32,
    pub total_hundredths: i32,
}

pub fn record_outcome_point(
    conn: &mut PgConnection,
    organization_id: Uuid,
    key: &str,
    point: OutcomePoint,
) -> Result<(), DbError> {
    diesel::insert_into(outcome_points::table)
        .values((
            outcome_points::organization_id.eq(organization_id),
            outcome_points::instrument_key.eq(key),
            outcome_points::episode_id.eq(point.episode_id),
            outcome_points::session_number.eq(point.session_number),
            outcome_points::intake_hundredths.eq(point.intake_hundredths),
            outcome_points::total_hundredths.eq(point.total_hundredths),
        ))
        .on_conflict((
            outcome_points::organization_id,
            outcome_points::instrument_key,
            outcome_points::episode_id,
            outcome_points::session_number,
        ))
        .do_update()
        .set(outcome_points::total_hundredths.eq(point.total_hundredths))
        .execute(conn)?;
    Ok(())
}

/// The expected-treatment-response band of the other episodes whose intake is within
/// `intake ± window`, per session up to `max_session`: the sorted totals of `etr_reference`
/// (kept from `outcome_points` by a trigger) for every intake value in the window, minus the
/// episode's own points, with type-7 percentiles ([`band_point`], the interpolation of
/// `percentile_cont`).
///
/// Plan on 1 M responses: `Bitmap Index Scan on etr_reference_pkey` (organization,
/// instrument, intake window, session ≤ 20): 420 rows holding ≈ 55 k totals, 0.33 ms, where
/// the same reference set read from `outcome_points` was 54 693 index entries, 31.6 ms.
pub fn etr_band(
    conn: &mut PgConnection,
    organization_id: Uuid,
    key: &str,
    episode_id: Uuid,
    intake: f64,
    window: f64,
    max_session: i32,
) -> Result<Vec<EtrBandPoint>, DbError> {
    let low = ((intake - window) * 100.0).round() as i32;
    let high = ((intake + window) * 100.0).round() as i32;
    let rows: Vec<(i32, Vec<i32>)> = etr_reference::table
        .filter(etr_reference::organization_id.eq(organization_id))
        .filter(etr_reference::instrument_key.eq(key))
        .filter(etr_reference::intake_hundredths.between(low, high))
        .filter(etr_reference::session_number.le(max_session))
        .select((etr_reference::session_number, etr_reference::totals))
        .load(conn)?;
    let own: Vec<(i32, i32)> = outcome_points::table
        .filter(outcome_points::organization_id.eq(organization_id))
        .filter(outcome_points::instrument_key.eq(key))
        .filter(outcome_points::episode_id.eq(episode_id))
        .filter(outcome_points::intake_hundredths.between(low, high))
        .filter(outcome_points::session_number.le(max_session))
        .select((outcome_points::session_number, outcome_points::total_hundredths))
        .load(conn)?;
    let mut by_session: std::collections::BTreeMap<i32, Vec<i32>> = std::collections::BTreeMap::new();
    for (session, totals) in rows {
        by_session.entry(session).or_default().extend(totals);
    }
    for (session, total) in own {
        if let Some(totals) = by_session.get_mut(&session) {
            if let Some(index) = totals.iter().position(|t| *t == total) {
                totals.swap_remove(index);
            }
        }
    }
    Ok(by_session
        .into_iter()
        .filter(|(_, totals)| !totals.is_empty())
        .map(|(session, mut totals)| {
            totals.sort_unstable();
            let values: Vec<f64> = totals.iter().map(|t| f64::from(*t) / 100.0).collect();
            band_point(session, &values)
        })
        .collect())
}

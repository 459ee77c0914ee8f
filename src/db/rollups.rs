//! Incremental statistics written in the same transaction as each response: the organization's
//! SD of session-to-session alliance change (sharded sums), and outcome points with their
//! episode's intake (the ETR reference set). Reads are primary-key or index-only scans.
//!
//! Approximation, by design: a voided response's contribution stays in these sums (voids are
//! rare and the statistics are organization-wide); the per-episode reads exclude voided
//! responses exactly.

use super::DbError;
use super::schema::{alliance_change_stats, outcome_points};
use crate::domain::analytics::EtrBandPoint;
use diesel::prelude::*;
use uuid::Uuid;

/// Pairs an organization needs before its own SD replaces the fallback spread.
pub const MIN_CHANGE_PAIRS: i64 = 100;

/// SD of session-to-session change across the organization, and how many pairs it rests on.
pub fn org_change_sd(conn: &mut PgConnection, organization_id: Uuid, key: &str) -> Result<(Option<f64>, i64), DbError> {
    let (n, sum, sum_sq): (Option<i64>, Option<f64>, Option<f64>) = alliance_change_stats::table
        .filter(alliance_change_stats::organization_id.eq(organization_id))
        .filter(alliance_change_stats::instrument_key.eq(key))
        .select((
            diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>>("sum(n)::bigint"),
            diesel::dsl::sum(alliance_change_stats::sum),
            diesel::dsl::sum(alliance_change_stats::sum_sq),
        ))
        .first(conn)?;
    let n = n.unwrap_or(0);
    if n < MIN_CHANGE_PAIRS {
        return Ok((None, n));
    }
    let (sum, sum_sq) = (sum.unwrap_or(0.0), sum_sq.unwrap_or(0.0));
    let variance = ((sum_sq - sum * sum / n as f64) / (n - 1) as f64).max(0.0);
    Ok((Some(variance.sqrt()), n))
}

pub fn record_change(conn: &mut PgConnection, organization_id: Uuid, key: &str, change: f64) -> Result<(), DbError> {
    let shard = (rand::random::<u8>() % 16) as i16;
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
/// `intake ± window`, per session up to `max_session`, aggregated in PostgreSQL
/// (`percentile_cont` interpolates linearly, like the domain's percentiles).
///
/// Plan on 1 M responses (index-only, then a sort per session group):
/// `Index Only Scan using outcome_points_reference on outcome_points` with
/// `Index Cond: organization_id, instrument_key, intake_hundredths BETWEEN …, session_number <= 20`.
pub fn etr_band(
    conn: &mut PgConnection,
    organization_id: Uuid,
    key: &str,
    episode_id: Uuid,
    intake: f64,
    window: f64,
    max_session: i32,
) -> Result<Vec<EtrBandPoint>, DbError> {
    #[derive(QueryableByName)]
    struct BandRow {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        session_number: i32,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Double>)]
        percentiles: Vec<f64>,
    }
    let low = ((intake - window) * 100.0).round() as i32;
    let high = ((intake + window) * 100.0).round() as i32;
    let rows: Vec<BandRow> = diesel::sql_query(
        "SELECT session_number, count(*)::bigint AS n, \
                percentile_cont(ARRAY[0.1, 0.25, 0.5, 0.75, 0.9]) WITHIN GROUP (ORDER BY total_hundredths) AS percentiles \
         FROM outcome_points WHERE organization_id = $1 AND instrument_key = $2 \
         AND intake_hundredths BETWEEN $3 AND $4 AND session_number <= $5 AND episode_id <> $6 \
         GROUP BY session_number ORDER BY session_number",
    )
    .bind::<diesel::sql_types::Uuid, _>(organization_id)
    .bind::<diesel::sql_types::Text, _>(key)
    .bind::<diesel::sql_types::Integer, _>(low)
    .bind::<diesel::sql_types::Integer, _>(high)
    .bind::<diesel::sql_types::Integer, _>(max_session)
    .bind::<diesel::sql_types::Uuid, _>(episode_id)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let p = |i: usize| row.percentiles.get(i).copied().unwrap_or(f64::NAN) / 100.0;
            EtrBandPoint {
                session_number: row.session_number,
                n: row.n as usize,
                p10: p(0),
                p25: p(1),
                p50: p(2),
                p75: p(3),
                p90: p(4),
            }
        })
        .collect())
}

//! Reads of `alliance_rollup`, the monthly per-episode sums kept by triggers on `responses`
//! (migration `000005`): whole months come from the rollup, the partial months at the edges of
//! a range from the responses, through the same `alliance_contribution` SQL function the
//! trigger uses, so a range that does not start or end on a month boundary is still exact.
//!
//! Plans on 1 M responses, one year, month-aligned (`cargo bench --bench load -- analytics`,
//! full text in `target/bench-plans.txt`):
//! ```text
//! organization analytics, group by clinician:
//!   GroupAggregate -> Sort -> Append
//!     -> Index Scan using alliance_rollup_pkey on alliance_rollup   (org, month range)
//!     -> Index Scan using responses_by_time on responses            (org, edge ranges: empty here)
//! rest of the organization (insights): Aggregate over the same Append, clinician_key <> $2
//! ```
//! For comparison, the plain `GROUP BY` over `responses` is a parallel sequential scan of every
//! response in range (jsonb rows, all instruments).

use super::DbError;
use crate::domain::analytics::{MonthSplit, split_into_months};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{Date, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

/// The columns every reader takes from the rollup rows of a range.
const COLUMNS: &str = "month, episode_id, clinician_key, client_id, total_n, total_sum, total_sum_sq, below_cutoff, \
    ceiling, srs_n, relationship_sum, relationship_sum_sq, goals_topics_sum, goals_topics_sum_sq, approach_method_sum, \
    approach_method_sum_sq, overall_sum, overall_sum_sq, wai_n, goal_sum, goal_sum_sq, task_sum, task_sum_sq, \
    bond_sum, bond_sum_sq";

/// The nil UUID the rollup keys "no clinician" with.
pub const NO_CLINICIAN: &str = "00000000-0000-0000-0000-000000000000";

/// A `WITH parts AS (…)` clause: one row per (month, episode, clinician) of the organization
/// in `[from, to)`, rollup rows for whole months and per-response rows for the edges. Binds
/// `$1` organization, `$2`–`$3` whole months, `$4`–`$7` the two edges; callers bind further
/// parameters from `$8`.
pub fn parts_clause() -> String {
    let edge_columns: String = COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ");
    format!(
        "WITH cut AS (SELECT * FROM alliance_cutoff($1)), parts AS ( \
           SELECT {COLUMNS} FROM alliance_rollup WHERE organization_id = $1 AND month >= $2 AND month < $3 \
           UNION ALL \
           SELECT {edge_columns} FROM responses r CROSS JOIN cut \
           CROSS JOIN LATERAL alliance_contribution(r.organization_id, r.episode_id, r.clinician_id, r.client_id, \
             r.administered_at, r.rater, r.instrument_key, r.total_hundredths, r.answers, r.scores, \
             cut.cutoff_hundredths, cut.inclusive) AS c \
           WHERE r.organization_id = $1 AND r.voided_at IS NULL AND r.rater = 'client' \
             AND r.instrument_key IN ('srs', 'csrs', 'wai-sr') \
             AND ((r.administered_at >= $4 AND r.administered_at < $5) \
               OR (r.administered_at >= $6 AND r.administered_at < $7)))"
    )
}

/// Binds `$1`–`$7` of [`parts_clause`] for `organization_id` and `[from, to)`.
pub fn bind_parts(
    sql: String,
    organization_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
    let MonthSplit { first_month, end_month, head, tail } = split_into_months(from, to);
    diesel::sql_query(sql)
        .into_boxed()
        .bind::<SqlUuid, _>(organization_id)
        .bind::<Date, NaiveDate>(first_month)
        .bind::<Date, NaiveDate>(end_month)
        .bind::<Timestamptz, _>(head.0)
        .bind::<Timestamptz, _>(head.1)
        .bind::<Timestamptz, _>(tail.0)
        .bind::<Timestamptz, _>(tail.1)
}

/// Recomputes the organization's rollup from its responses (after a change of the SRS
/// cutoff, on which `below_cutoff` depends). Waits for in-flight submissions and holds new
/// ones of the organization until the transaction ends.
pub fn rebuild(conn: &mut PgConnection, organization_id: Uuid) -> Result<(), DbError> {
    diesel::sql_query("SELECT alliance_rollup_rebuild($1)").bind::<SqlUuid, _>(organization_id).execute(conn)?;
    Ok(())
}

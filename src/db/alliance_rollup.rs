//! Reads of `alliance_rollup`, the monthly per-episode sums kept by triggers on `responses`
//! (`rollup_schema.sql`): whole months come from the rollup, the partial months at the edges of
//! a range from the responses, through the same `alliance_contribution` SQL function the
//! trigger uses, so a range that does not start or end on a month boundary is still exact.
//!
//! Three rollups, all kept by the trigger `alliance_rollup_maintenance` (`rollup_schema.sql`):
//! - `alliance_rollup`: per (month, episode, clinician); organization analytics by program,
//!   month, age group and client attribute (joined to episodes or clients at read time, so a
//!   changed attribute regroups history);
//! - `alliance_clinician_sums`: per (UTC month or day, clinician, shard); the
//!   clinician's and the rest of the organization's item statistics in clinician insights,
//!   and the sums of analytics by clinician (whole months from the first, whole days of partial
//!   months from the second);
//! - `alliance_clinician_clients`: the months each clinician had an SRS from each client;
//!   distinct clients of analytics by clinician.
//!
//! Plans on 1 000 006 responses, one year, month-aligned (`cargo bench --bench load --
//! analytics`; full text in `target/bench-plans.txt`; 2 shared cores):
//! ```text
//! item statistics (insights)               Aggregate -> Index Scan using alliance_clinician_sums_pkey
//!                                            (month rows) 588 rows, 0.28 ms
//! analytics by clinician, sums             HashAggregate -> Index Only Scan using
//!                                            alliance_clinician_sums_totals, 600 rows, 0.40 ms
//! analytics by clinician, distinct clients HashAggregate -> Seq Scan on alliance_clinician_clients
//!                                            17 700 pairs, month overlap via InitPlan array, 12 ms
//! analytics by program                     GroupAggregate -> Sort -> Hash Join
//!                                            -> Index Only Scan using alliance_rollup_totals
//!                                               (56 544 rows, Heap Fetches: 0), 120-180 ms
//! baseline: GROUP BY scan of responses     parallel scan or Index Only Scan using
//!                                            responses_by_clinician (575 k entries), 350-700 ms
//! ```
//! The tables are small enough that PostgreSQL prefers a sequential scan of the
//! organization's rows; the edges (partial days or months) are index range scans of
//! `responses_by_time`, empty for a month-aligned range.

use super::DbError;
use super::rollup_schema::{self, RollupKeys};
use crate::domain::analytics::{PeriodSplit, split_into_days, split_into_months};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::connection::SimpleConnection;
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

/// The columns of `alliance_clinician_sums` rows.
const CLINICIAN_COLUMNS: &str = "clinician_key, total_n, total_sum, total_sum_sq, below_cutoff, ceiling, srs_n, \
    relationship_sum, relationship_sum_sq, goals_topics_sum, goals_topics_sum_sq, approach_method_sum, \
    approach_method_sum_sq, overall_sum, overall_sum_sq, wai_n, goal_sum, goal_sum_sq, task_sum, task_sum_sq, \
    bond_sum, bond_sum_sq";

/// `columns` taken from the per-response contribution `c` of [`edge_contributions`].
fn of_contribution(columns: &str) -> String {
    columns.split(", ").map(|column| format!("c.{column}")).collect::<Vec<_>>().join(", ")
}

/// Responses that count for the rollups, per-row contributions joined in (`c`), restricted to
/// `intervals` time intervals bound as pairs from `$first`.
fn edge_contributions(first: usize, intervals: usize) -> String {
    let within: Vec<String> = (0..intervals)
        .map(|i| {
            let start = first + 2 * i;
            format!("(r.administered_at >= ${start} AND r.administered_at < ${})", start + 1)
        })
        .collect();
    format!(
        "responses r CROSS JOIN cut \
         CROSS JOIN LATERAL alliance_contribution(r.organization_id, r.episode_id, r.clinician_id, r.client_id, \
           r.administered_at, r.rater, r.instrument_key, r.total_hundredths, r.answers, r.scores, \
           cut.cutoff_hundredths, cut.inclusive) AS c \
         WHERE r.organization_id = $1 AND r.voided_at IS NULL AND r.rater = 'client' \
           AND r.instrument_key IN ({}) AND ({})",
        RollupKeys::sql_list(&rollup_schema::keys().rolled_up()),
        within.join(" OR ")
    )
}

/// The nil UUID the rollup keys "no clinician" with.
pub const NO_CLINICIAN: &str = "00000000-0000-0000-0000-000000000000";

/// The SRS cutoff in force for an organization, as `alliance_cutoff` (rollup_schema.sql)
/// computes it from the settings.
#[derive(Clone, Copy, Debug, QueryableByName)]
pub struct Cutoff {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    cutoff_hundredths: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    inclusive: bool,
}

impl Cutoff {
    /// Read in a statement of its own: on Citus a function that reads a distributed table
    /// cannot run inside a query that is pushed down to a shard.
    pub fn of(conn: &mut PgConnection, organization_id: Uuid) -> QueryResult<Self> {
        diesel::sql_query("SELECT cutoff_hundredths, inclusive FROM alliance_cutoff($1)")
            .bind::<SqlUuid, _>(organization_id)
            .get_result(conn)
    }

    /// `WITH cut AS (…)` with the values as literals (an integer and a boolean).
    fn clause(self) -> String {
        format!(
            "WITH cut AS (SELECT {}::integer AS cutoff_hundredths, {}::boolean AS inclusive)",
            self.cutoff_hundredths, self.inclusive
        )
    }
}

/// A `WITH parts AS (…)` clause: one row per (month, episode, clinician) of the organization
/// in `[from, to)`, rollup rows for whole months and per-response rows for the edges. Binds
/// `$1` organization, `$2`–`$3` whole months, `$4`–`$7` the two edges; callers bind further
/// parameters from `$8`.
pub fn parts_clause(cut: Cutoff) -> String {
    let edge_columns = of_contribution(COLUMNS);
    format!(
        "{}, parts AS ( \
           SELECT {COLUMNS} FROM alliance_rollup WHERE organization_id = $1 AND month >= $2 AND month < $3 \
           UNION ALL \
           SELECT {edge_columns} FROM {})",
        cut.clause(),
        edge_contributions(4, 2)
    )
}

/// Binds `$1`–`$7` of [`parts_clause`] for `organization_id` and `[from, to)`.
pub fn bind_parts(
    sql: String,
    organization_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
    bind_split(diesel::sql_query(sql).into_boxed().bind::<SqlUuid, _>(organization_id), split_into_months(from, to))
}

/// A `WITH cut AS (…), daily AS (…)` clause: per-clinician sums of `[from, to)` from
/// `alliance_clinician_sums` month rows for whole months, its day rows for the whole days of
/// the partial months, and one row per response for the partial days. Binds `$1`–`$15`
/// ([`bind_clinician_sums`]); callers bind further parameters from `$16`.
pub fn clinician_sums_clause(cut: Cutoff) -> String {
    let edge_columns = of_contribution(CLINICIAN_COLUMNS);
    format!(
        "{}, daily AS ( \
           SELECT {CLINICIAN_COLUMNS} FROM alliance_clinician_sums WHERE organization_id = $1 AND grain = 'month' \
             AND period >= $2 AND period < $3 \
           UNION ALL \
           SELECT {CLINICIAN_COLUMNS} FROM alliance_clinician_sums WHERE organization_id = $1 AND grain = 'day' \
             AND ((period >= $4 AND period < $5) OR (period >= $6 AND period < $7)) \
           UNION ALL \
           SELECT {edge_columns} FROM {})",
        cut.clause(),
        edge_contributions(8, 4)
    )
}

/// Binds `$1`–`$15` of [`clinician_sums_clause`].
pub fn bind_clinician_sums(
    sql: String,
    organization_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
    let months = split_into_months(from, to);
    let head = split_into_days(months.head.0, months.head.1);
    let tail = split_into_days(months.tail.0, months.tail.1);
    let mut query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<SqlUuid, _>(organization_id)
        .bind::<Date, NaiveDate>(months.first)
        .bind::<Date, NaiveDate>(months.end)
        .bind::<Date, NaiveDate>(head.first)
        .bind::<Date, NaiveDate>(head.end)
        .bind::<Date, NaiveDate>(tail.first)
        .bind::<Date, NaiveDate>(tail.end);
    for (start, end) in [head.head, head.tail, tail.head, tail.tail] {
        query = query.bind::<Timestamptz, _>(start).bind::<Timestamptz, _>(end);
    }
    query
}

/// Binds a split's whole periods and its two edges (six parameters).
pub fn bind_split(
    query: BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery>,
    split: PeriodSplit,
) -> BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
    let PeriodSplit { first, end, head, tail } = split;
    query
        .bind::<Date, NaiveDate>(first)
        .bind::<Date, NaiveDate>(end)
        .bind::<Timestamptz, _>(head.0)
        .bind::<Timestamptz, _>(head.1)
        .bind::<Timestamptz, _>(tail.0)
        .bind::<Timestamptz, _>(tail.1)
}

/// Distinct clients per clinician with a client-rated SRS/CSRS in `[from, to)`: the pairs of
/// `alliance_clinician_clients` with a whole month in range, plus the pairs of the responses
/// in the partial months at the edges. A `pairs (clinician_key, client_id)` clause to append
/// after [`clinician_sums_clause`]; binds `$16`–`$21` ([`bind_split`] of [`split_into_months`]).
pub fn clinician_clients_clause() -> String {
    format!(
        ", pairs AS ( \
       SELECT clinician_key, client_id FROM alliance_clinician_clients \
       WHERE organization_id = $1 AND last_month >= $16 AND first_month < $17 \
         AND ((first_month >= $16 AND last_month < $17) \
           OR months && ARRAY(SELECT d::date FROM generate_series($16::timestamp, ($17::date - 1)::timestamp, \
                                                                 interval '1 month') AS d)) \
       UNION \
       SELECT coalesce(r.clinician_id, '00000000-0000-0000-0000-000000000000'::uuid), r.client_id FROM responses r \
       WHERE r.organization_id = $1 AND r.voided_at IS NULL AND r.rater = 'client' \
         AND r.instrument_key IN ({}) \
         AND ((r.administered_at >= $18 AND r.administered_at < $19) \
           OR (r.administered_at >= $20 AND r.administered_at < $21)))",
        RollupKeys::sql_list(&rollup_schema::keys().session_alliance)
    )
}

/// Recomputes the organization's rollup from its responses (after a change of the SRS
/// cutoff, on which `below_cutoff` depends), inside the caller's transaction. Waits for
/// in-flight submissions and holds new ones of the organization until the transaction ends
/// (about 11 s on 1 M responses).
pub fn rebuild(conn: &mut PgConnection, organization_id: Uuid) -> Result<(), DbError> {
    // Seconds on a large organization: beyond the request-sized statement timeout.
    conn.batch_execute("SET LOCAL statement_timeout = 0")?;
    diesel::sql_query("SELECT alliance_rollup_rebuild($1)").bind::<SqlUuid, _>(organization_id).execute(conn)?;
    Ok(())
}

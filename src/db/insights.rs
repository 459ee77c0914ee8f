//! What clinician insights and organization analytics read.
//!
//! Clinician insights load the clinician's own responses in the range (index
//! `responses_by_clinician`; only the columns the report needs, item JSON only for SRS and
//! WAI forms) and the rest of the organization's sums from `alliance_clinician_sums`. Organization
//! analytics aggregate the rollup rows of the range, grouped by the requested key. See
//! [`super::alliance_rollup`] for the plans.

use super::alliance_rollup::{
    Cutoff, NO_CLINICIAN, bind_clinician_sums, bind_parts, bind_split, clinician_clients_clause, clinician_sums_clause,
    parts_clause,
};
use super::audit::Actor;
use super::schema::{clients, episodes, responses, sessions, users};
use super::stored::stored;
use super::{Database, DbError};
use crate::domain::analytics::clinician::{ClinicianData, ClinicianResponse};
use crate::domain::analytics::statistics::Summary;
use crate::domain::analytics::{moments_from_sums, split_into_months};
use crate::domain::clients::AgeGroup;
use crate::domain::instruments::Catalogue;
use crate::domain::instruments::definition::Rater;
use crate::domain::settings::OrganizationSettings;
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Nullable, Text, Uuid as SqlUuid};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// What clinician insights read, owned; [`InsightInputs::data`] lends it to the domain.
pub struct InsightInputs {
    /// The clinician's display name (staff data, for the report's heading).
    pub clinician_name: Option<String>,
    pub settings: OrganizationSettings,
    pub catalogue: std::sync::Arc<Catalogue>,
    pub responses: Vec<ClinicianResponse>,
    pub outcome_history: Vec<ClinicianResponse>,
    pub age_groups: BTreeMap<Uuid, AgeGroup>,
    pub sessions: usize,
    pub own: Vec<(String, Summary)>,
    pub organization: Vec<(String, Summary)>,
    /// The clinician's analysed session transcripts in the range.
    pub transcripts: Vec<super::transcripts::ClinicianTranscript>,
}

impl InsightInputs {
    pub fn data(&self) -> ClinicianData<'_> {
        ClinicianData {
            catalogue: &self.catalogue,
            settings: &self.settings,
            responses: &self.responses,
            age_groups: &self.age_groups,
            outcome_history: &self.outcome_history,
            sessions: self.sessions,
            own: &self.own,
            organization: &self.organization,
        }
    }
}

/// What insights read of a response: index-only columns of `responses_by_clinician`.
#[derive(Queryable, Selectable)]
#[diesel(table_name = responses, check_for_backend(diesel::pg::Pg))]
struct Row {
    id: Uuid,
    episode_id: Uuid,
    client_id: Uuid,
    session_id: Option<Uuid>,
    instrument_key: String,
    rater: String,
    administered_at: DateTime<Utc>,
    total_hundredths: i32,
}

/// Rows as typed responses (without subscale means), with their session numbers, in series
/// order per episode.
fn clinician_responses(rows: Vec<Row>, numbers: &HashMap<Uuid, i32>) -> Result<Vec<ClinicianResponse>, DbError> {
    let mut responses = Vec::with_capacity(rows.len());
    for row in rows {
        responses.push(ClinicianResponse {
            id: row.id,
            episode_id: row.episode_id,
            client_id: row.client_id,
            session_id: row.session_id,
            rater: stored(&row.rater, Rater::parse, "responses.rater")?,
            instrument_key: row.instrument_key,
            session_number: row.session_id.and_then(|id| numbers.get(&id).copied()),
            administered_at: row.administered_at,
            total: f64::from(row.total_hundredths) / 100.0,
            subscale_means: BTreeMap::new(),
        });
    }
    // UUIDs compared as integers: the same order as their bytes, without a `memcmp` call per
    // comparison (a tenth of the service's time in insights went to those calls).
    responses.sort_by_key(|r| {
        (r.episode_id.as_u128(), r.session_number.unwrap_or(i32::MAX), r.administered_at, r.id.as_u128())
    });
    Ok(responses)
}

impl Database {
    /// Everything the insights of `clinician_id` over `[from, to)` need; `NotFound` when the
    /// clinician is not a person of the organization.
    pub async fn clinician_data(
        &self,
        actor: Actor,
        clinician_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        audit_action: &'static str,
    ) -> Result<InsightInputs, DbError> {
        self.run_aggregate(move |conn| {
            conn.transaction(|conn| {
                let org = actor.organization_id;
                let clinician_name: Option<String> =
                    users::table.find((org, clinician_id)).select(users::display_name).first(conn)?;
                let (_, settings) = super::settings::current(conn, org)?;
                let catalogue = super::catalogues::current(conn, org)?;
                // Index-only on `responses_by_clinician`. Session numbers come from one index read
                // of the episodes' sessions below (a join here made PostgreSQL hash every session of
                // the organization); subscale means from a second, narrow read; item statistics
                // from `alliance_clinician_sums`.
                let rows: Vec<Row> = responses::table
                    .filter(responses::organization_id.eq(org))
                    .filter(responses::clinician_id.eq(clinician_id))
                    .filter(responses::voided_at.is_null())
                    .filter(responses::administered_at.ge(from))
                    .filter(responses::administered_at.lt(to))
                    .select(Row::as_select())
                    .load(conn)?;
                let caseload: Vec<Uuid> = episodes::table
                    .filter(episodes::organization_id.eq(org))
                    .filter(episodes::clinician_id.eq(clinician_id))
                    .select(episodes::id)
                    .load(conn)?;
                let mut episode_ids: Vec<Uuid> =
                    caseload.iter().copied().chain(rows.iter().map(|r| r.episode_id)).collect();
                episode_ids.sort_unstable();
                episode_ids.dedup();
                let session_rows: Vec<(Uuid, Uuid, i32, DateTime<Utc>)> = sessions::table
                    .filter(sessions::organization_id.eq(org))
                    .filter(sessions::episode_id.eq_any(&episode_ids))
                    .select((sessions::id, sessions::episode_id, sessions::number, sessions::occurred_at))
                    .load(conn)?;
                let numbers: HashMap<Uuid, i32> =
                    session_rows.iter().map(|(id, _, number, _)| (*id, *number)).collect();
                let caseload: HashSet<Uuid> = caseload.into_iter().collect();
                let sessions = session_rows
                    .iter()
                    .filter(|(_, episode, _, at)| caseload.contains(episode) && *at >= from && *at < to)
                    .count();
                let client_ids: BTreeSet<Uuid> = rows.iter().map(|r| r.client_id).collect();
                let age_groups = age_groups(conn, org, &client_ids)?;
                let working_alliance: Vec<&str> =
                    catalogue.iter().filter(|d| d.counterpart().is_some()).map(|d| d.key.as_str()).collect();
                let mut subscales = subscale_means(conn, org, clinician_id, &working_alliance, (from, to))?;
                let mut responses = clinician_responses(rows, &numbers)?;
                for response in &mut responses {
                    response.subscale_means = subscales.remove(&response.id).unwrap_or_default();
                }
                let outcome_history = outcome_history(conn, org, &catalogue, &responses, &numbers, to)?;
                let (own, organization) = item_summaries(conn, org, clinician_id, from, to)?;
                let alliance_keys = catalogue.session_alliance_keys();
                let transcripts =
                    super::transcripts::clinician_transcripts(conn, org, clinician_id, (from, to), &alliance_keys)?;
                actor.record(
                    conn,
                    audit_action,
                    "user",
                    Some(clinician_id),
                    serde_json::json!({ "from": from, "to": to }),
                )?;
                Ok(InsightInputs {
                    clinician_name,
                    settings,
                    catalogue,
                    responses,
                    outcome_history,
                    age_groups,
                    sessions,
                    own,
                    organization,
                    transcripts,
                })
            })
        })
        .await
    }
}

/// The client-rated session-by-session outcome responses (ORS, CORS) of the episodes that have
/// one among `in_range`, from each episode's intake up to `to`, in series order. An index-only
/// scan of `responses_series` (its INCLUDE columns are the ones read here) over those episodes.
fn outcome_history(
    conn: &mut PgConnection,
    org: Uuid,
    catalogue: &Catalogue,
    in_range: &[ClinicianResponse],
    numbers: &HashMap<Uuid, i32>,
    to: DateTime<Utc>,
) -> Result<Vec<ClinicianResponse>, DbError> {
    let keys = catalogue.session_outcome_keys();
    let episodes: BTreeSet<Uuid> = in_range
        .iter()
        .filter(|r| r.rater == Rater::Client && keys.contains(&r.instrument_key.as_str()))
        .map(|r| r.episode_id)
        .collect();
    if episodes.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Row> = responses::table
        .filter(responses::organization_id.eq(org))
        .filter(responses::episode_id.eq_any(&episodes))
        .filter(responses::instrument_key.eq_any(&keys))
        .filter(responses::voided_at.is_null())
        .filter(responses::rater.eq(Rater::Client.as_str()))
        .filter(responses::administered_at.lt(to))
        .select(Row::as_select())
        .load(conn)?;
    clinician_responses(rows, numbers)
}

/// The age group of each client, typed; every client asked for must be found.
fn age_groups(conn: &mut PgConnection, org: Uuid, ids: &BTreeSet<Uuid>) -> Result<BTreeMap<Uuid, AgeGroup>, DbError> {
    let rows: Vec<(Uuid, String)> = clients::table
        .filter(clients::organization_id.eq(org))
        .filter(clients::id.eq_any(ids))
        .select((clients::id, clients::age_group))
        .load(conn)?;
    let groups = rows
        .into_iter()
        .map(|(id, group)| Ok((id, stored(&group, AgeGroup::parse, "clients.age_group")?)))
        .collect::<Result<BTreeMap<_, _>, DbError>>()?;
    if groups.len() != ids.len() {
        return Err(DbError::Corrupt("a response names a client that does not exist".into()));
    }
    Ok(groups)
}

/// Subscale item means of the clinician's working-alliance forms in range, by response id.
fn subscale_means(
    conn: &mut PgConnection,
    org: Uuid,
    clinician: Uuid,
    keys: &[&str],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<HashMap<Uuid, BTreeMap<String, f64>>, DbError> {
    #[derive(serde::Deserialize)]
    struct Subscale {
        item_mean: f64,
    }
    let rows: Vec<(Uuid, Option<serde_json::Value>)> = responses::table
        .filter(responses::organization_id.eq(org))
        .filter(responses::clinician_id.eq(clinician))
        .filter(responses::instrument_key.eq_any(keys))
        .filter(responses::voided_at.is_null())
        .filter(responses::administered_at.ge(from))
        .filter(responses::administered_at.lt(to))
        .select((
            responses::id,
            diesel::dsl::sql::<Nullable<diesel::sql_types::Jsonb>>("responses.scores->'subscales'"),
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, subscales)| {
            let parsed: BTreeMap<String, Subscale> = match subscales {
                Some(value) => serde_json::from_value(value)
                    .map_err(|e| DbError::Corrupt(format!("stored subscale scores: {e}")))?,
                None => BTreeMap::new(),
            };
            Ok((id, parsed.into_iter().map(|(name, s)| (name, s.item_mean)).collect()))
        })
        .collect()
}

/// The item measures the rollups keep, as (area name, count column, sum column prefix, unit of
/// the stored values): the items of the session alliance form whose items are compared (SRS, in
/// tenths) and the subscales of the client's working-alliance form (item means). A unit test
/// holds these against the instrument definitions.
pub const ROLLUP_MEASURES: [(&str, &str, &str, f64); 7] = [
    ("srs:relationship", "srs_n", "relationship", 0.1),
    ("srs:goals_topics", "srs_n", "goals_topics", 0.1),
    ("srs:approach_method", "srs_n", "approach_method", 0.1),
    ("srs:overall", "srs_n", "overall", 0.1),
    ("wai:goal", "wai_n", "goal", 1.0),
    ("wai:task", "wai_n", "task", 1.0),
    ("wai:bond", "wai_n", "bond", 1.0),
];

/// Count, mean and variance of every SRS item and WAI-SR subscale item mean of the clinician's
/// client-rated forms, and of the rest of the organization (everyone else, including
/// responses with no clinician), from the per-month and per-day sums.
type OwnAndRest = (Vec<(String, Summary)>, Vec<(String, Summary)>);

fn item_summaries(
    conn: &mut PgConnection,
    org: Uuid,
    clinician: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<OwnAndRest, DbError> {
    #[derive(QueryableByName)]
    struct Sums {
        #[diesel(sql_type = Array<Double>)]
        own: Vec<f64>,
        #[diesel(sql_type = Array<Double>)]
        rest: Vec<f64>,
    }
    // Integer sums stay exact in f64 far beyond any organization's volume (< 2^53).
    let columns = |whose: &str| -> String {
        ROLLUP_MEASURES
            .iter()
            .flat_map(|(_, n, prefix, _)| [n.to_string(), format!("{prefix}_sum"), format!("{prefix}_sum_sq")])
            .map(|column| format!("coalesce(sum({column}) FILTER (WHERE {whose}), 0)::float8"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = format!(
        "{} SELECT ARRAY[{}] AS own, ARRAY[{}] AS rest FROM daily",
        clinician_sums_clause(Cutoff::of(conn, org)?),
        columns("clinician_key = $16"),
        columns("clinician_key <> $16")
    );
    let row: Sums = bind_clinician_sums(sql, org, from, to).bind::<SqlUuid, _>(clinician).get_result(conn)?;
    let summaries = |sums: &[f64]| -> Vec<(String, Summary)> {
        ROLLUP_MEASURES
            .iter()
            .enumerate()
            .map(|(index, (name, _, _, unit))| {
                let (n, sum, sum_sq) = (sums[3 * index], sums[3 * index + 1], sums[3 * index + 2]);
                let (mean, variance) = moments_from_sums(n as i64, sum * unit, sum_sq * unit * unit);
                ((*name).to_owned(), Summary { n: n as usize, mean, variance })
            })
            .collect()
    };
    Ok((summaries(&row.own), summaries(&row.rest)))
}

/// One group of the organization's alliance analytics.
#[derive(Debug, Clone, QueryableByName)]
pub struct AllianceGroup {
    #[diesel(sql_type = Nullable<Text>)]
    pub group_key: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub clients: i64,
    #[diesel(sql_type = BigInt)]
    pub responses: i64,
    /// Σ and Σ² of the totals, in hundredths.
    #[diesel(sql_type = BigInt)]
    pub total_sum: i64,
    #[diesel(sql_type = BigInt)]
    pub total_sum_sq: i64,
    #[diesel(sql_type = BigInt)]
    pub below_cutoff: i64,
    #[diesel(sql_type = BigInt)]
    pub ceiling: i64,
}

/// How analytics may group.
#[derive(Debug, Clone)]
pub enum GroupBy {
    Clinician,
    Program,
    Month,
    AgeGroup,
    /// A client attribute the organization declared.
    Attribute(String),
}

impl Database {
    pub async fn alliance_groups(
        &self,
        actor: Actor,
        group_by: GroupBy,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(OrganizationSettings, Vec<AllianceGroup>), DbError> {
        self.run_aggregate(move |conn| {
            conn.transaction(|conn| {
                let org = actor.organization_id;
                // The per-client hash of a year of episode-month rows (~56 k on 1 M responses)
                // spills to disk at the default 4 MB.
                conn.batch_execute("SET LOCAL work_mem = '16MB'")?;
                let (_, settings) = super::settings::current(conn, org)?;
                // `below_cutoff` was counted with the cutoff in force (a cutoff change rebuilds the rollups).
                let cut = Cutoff::of(conn, org)?;
                let statement = if let GroupBy::Clinician = group_by {
                    // Sums from the per-day table, distinct clients from the clinician–client pairs.
                    let query = format!(
                        "{}{} SELECT NULLIF(m.clinician_key, '{NO_CLINICIAN}'::uuid)::text AS group_key, \
                         coalesce(cl.clients, 0)::bigint AS clients, m.responses, m.total_sum, m.total_sum_sq, \
                         m.below_cutoff, m.ceiling FROM ( \
                           SELECT clinician_key, sum(total_n)::bigint AS responses, sum(total_sum)::bigint AS total_sum, \
                           sum(total_sum_sq)::bigint AS total_sum_sq, sum(below_cutoff)::bigint AS below_cutoff, \
                           sum(ceiling)::bigint AS ceiling FROM daily GROUP BY 1 HAVING sum(total_n) > 0) AS m \
                         LEFT JOIN (SELECT clinician_key, count(*) AS clients FROM pairs GROUP BY 1) AS cl \
                           USING (clinician_key) \
                         ORDER BY 1",
                        clinician_sums_clause(cut),
                        clinician_clients_clause()
                    );
                    bind_split(bind_clinician_sums(query, org, from, to), split_into_months(from, to))
                } else {
                    let (key, join) = match &group_by {
                        GroupBy::Program => {
                            ("e.program", "JOIN episodes e ON e.organization_id = $1 AND e.id = p.episode_id")
                        }
                        GroupBy::AgeGroup => {
                            ("c.age_group", "JOIN clients c ON c.organization_id = $1 AND c.id = p.client_id")
                        }
                        GroupBy::Attribute(_) => {
                            ("c.attributes->>$8", "JOIN clients c ON c.organization_id = $1 AND c.id = p.client_id")
                        }
                        GroupBy::Month | GroupBy::Clinician => ("to_char(p.month, 'YYYY-MM')", ""),
                    };
                    // Two hash aggregations (per group and client, then per group) instead of a
                    // sorted count(DISTINCT client_id).
                    let query = format!(
                        "{} SELECT group_key, count(*)::bigint AS clients, sum(n)::bigint AS responses, \
                         sum(total_sum)::bigint AS total_sum, sum(total_sum_sq)::bigint AS total_sum_sq, \
                         sum(below)::bigint AS below_cutoff, sum(ceiling)::bigint AS ceiling FROM ( \
                           SELECT {key} AS group_key, p.client_id, sum(p.total_n) AS n, sum(p.total_sum) AS total_sum, \
                           sum(p.total_sum_sq) AS total_sum_sq, sum(p.below_cutoff) AS below, sum(p.ceiling) AS ceiling \
                           FROM parts p {join} WHERE p.total_n > 0 GROUP BY 1, 2) AS per_client \
                         GROUP BY 1 ORDER BY 1",
                        parts_clause(cut)
                    );
                    let mut statement = bind_parts(query, org, from, to);
                    if let GroupBy::Attribute(name) = &group_by {
                        statement = statement.bind::<Text, _>(name.clone());
                    }
                    statement
                };
                let groups: Vec<AllianceGroup> = statement.load(conn)?;
                actor.record(
                    conn,
                    "analytics.alliance.read",
                    "organization",
                    Some(org),
                    serde_json::json!({ "groups": groups.len() }),
                )?;
                Ok((settings, groups))
            })
        })
        .await
    }
}

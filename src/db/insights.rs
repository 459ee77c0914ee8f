//! What clinician insights and organization analytics read.
//!
//! Plans on 1 M responses (`cargo bench --bench load -- analytics`):
//! ```text
//! clinician's responses: Index Scan using responses_by_clinician (rows≈11.7 k for a year, 17 ms)
//!                          Index Cond: organization_id, clinician_id, administered_at range
//! rest of organization:  Parallel Seq Scan on responses (≈ 195 k SRS/WAI-SR rows, ≈ 350 ms): the
//!                          item values live in jsonb, so no index covers them. Next step: a
//!                          per-month, per-clinician rollup of item sums maintained at submission.
//! group by clinician:    GroupAggregate -> Index Only Scan using responses_by_clinician
//!                          (≈ 200 k index entries for a year, ≈ 440 ms): covering, but still a
//!                          scan; the same rollup would answer from ≈ 40 k narrow rows.
//! ``` Clinician insights load the
//! clinician's own responses in the range (index `responses_by_clinician`) and summary
//! statistics of the rest of the organization (one aggregate per item). Organization analytics
//! aggregate in PostgreSQL, grouped by the requested key.

use super::audit::Actor;
use super::schema::{episodes, responses, sessions, users};
use super::{Database, DbError};
use crate::domain::settings::OrganizationSettings;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct ClinicianResponse {
    pub id: Uuid,
    pub episode_id: Uuid,
    pub client_id: Uuid,
    pub session_id: Option<Uuid>,
    pub instrument_key: String,
    pub rater: String,
    pub session_number: Option<i32>,
    pub administered_at: DateTime<Utc>,
    pub answers: Value,
    pub scores: Value,
}

/// Count, mean and sample variance of one measure over the rest of the organization.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub n: i64,
    pub mean: Option<f64>,
    pub variance: Option<f64>,
}

pub struct ClinicianData {
    pub settings: OrganizationSettings,
    pub responses: Vec<ClinicianResponse>,
    pub sessions: i64,
    pub sessions_with_srs: i64,
    /// Measure name (`srs:relationship`, `wai:goal`, …) → the rest of the organization.
    pub organization: Vec<(String, Summary)>,
}

type Row = (Uuid, Uuid, Uuid, Option<Uuid>, String, String, Option<i32>, DateTime<Utc>, Value, Value);

const SRS_ITEMS: [&str; 4] = ["relationship", "goals_topics", "approach_method", "overall"];
const WAI_SUBSCALES: [&str; 3] = ["goal", "task", "bond"];

impl Database {
    /// Everything the insights of `clinician_id` over `[from, to)` need; `NotFound` when the
    /// clinician is not a person of the organization.
    pub async fn clinician_data(
        &self,
        actor: Actor,
        clinician_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ClinicianData, DbError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let org = actor.organization_id;
                users::table.find((org, clinician_id)).select(users::id).first::<Uuid>(conn)?;
                let (_, settings) = super::settings::current(conn, org)?;
                let rows: Vec<Row> = super::responses::with_session_numbers()
                    .filter(responses::organization_id.eq(org))
                    .filter(responses::clinician_id.eq(clinician_id))
                    .filter(responses::voided_at.is_null())
                    .filter(responses::administered_at.ge(from))
                    .filter(responses::administered_at.lt(to))
                    .select((
                        responses::id,
                        responses::episode_id,
                        responses::client_id,
                        responses::session_id,
                        responses::instrument_key,
                        responses::rater,
                        sessions::number.nullable(),
                        responses::administered_at,
                        responses::answers,
                        responses::scores,
                    ))
                    .load(conn)?;
                let mut responses: Vec<ClinicianResponse> = rows
                    .into_iter()
                    .map(
                        |(
                            id,
                            episode_id,
                            client_id,
                            session_id,
                            instrument_key,
                            rater,
                            session_number,
                            administered_at,
                            answers,
                            scores,
                        )| ClinicianResponse {
                            id,
                            episode_id,
                            client_id,
                            session_id,
                            instrument_key,
                            rater,
                            session_number,
                            administered_at,
                            answers,
                            scores,
                        },
                    )
                    .collect();
                responses
                    .sort_by_key(|r| (r.episode_id, r.session_number.unwrap_or(i32::MAX), r.administered_at, r.id));
                let caseload = episodes::table
                    .filter(episodes::organization_id.eq(org))
                    .filter(episodes::clinician_id.eq(clinician_id))
                    .select(episodes::id);
                let in_range = sessions::table
                    .filter(sessions::organization_id.eq(org))
                    .filter(sessions::episode_id.eq_any(caseload))
                    .filter(sessions::occurred_at.ge(from))
                    .filter(sessions::occurred_at.lt(to));
                let session_count: i64 = in_range.count().get_result(conn)?;
                let with_srs: std::collections::BTreeSet<Uuid> = responses
                    .iter()
                    .filter(|r| matches!(r.instrument_key.as_str(), "srs" | "csrs") && r.rater == "client")
                    .filter_map(|r| r.session_id)
                    .collect();
                let organization = rest_of_organization(conn, org, clinician_id, from, to)?;
                actor.record(
                    conn,
                    "clinician.insights.read",
                    "user",
                    Some(clinician_id),
                    serde_json::json!({ "from": from, "to": to }),
                )?;
                Ok(ClinicianData {
                    settings,
                    responses,
                    sessions: session_count,
                    sessions_with_srs: with_srs.len() as i64,
                    organization,
                })
            })
        })
        .await
    }
}

/// Count, mean and variance of every SRS item and WAI-SR subscale item mean over the rest of
/// the organization, in one pass (one scan of its SRS and WAI-SR responses in range).
fn rest_of_organization(
    conn: &mut PgConnection,
    org: Uuid,
    clinician: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, Summary)>, DbError> {
    let measures: Vec<(String, &str, String)> = SRS_ITEMS
        .iter()
        .map(|item| (format!("srs:{item}"), "srs", format!("(answers->>'{item}')::float8 / 10.0")))
        .chain(WAI_SUBSCALES.iter().map(|subscale| {
            (format!("wai:{subscale}"), "wai-sr", format!("(scores->'subscales'->'{subscale}'->>'item_mean')::float8"))
        }))
        .collect();
    // The expressions are the fixed set above, never caller input.
    let columns: Vec<String> = measures
        .iter()
        .map(|(name, instrument, value)| {
            let only = format!("FILTER (WHERE instrument_key = '{instrument}')");
            format!("'{name}', json_build_array(count({value}) {only}, avg({value}) {only}, var_samp({value}) {only})")
        })
        .collect();
    #[derive(QueryableByName)]
    struct Summaries {
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        summaries: Value,
    }
    let row: Summaries = diesel::sql_query(format!(
        "SELECT jsonb_build_object({}) AS summaries FROM responses \
         WHERE organization_id = $1 AND clinician_id <> $2 AND instrument_key IN ('srs', 'wai-sr') AND rater = 'client' \
         AND voided_at IS NULL AND administered_at >= $3 AND administered_at < $4",
        columns.join(", ")
    ))
    .bind::<SqlUuid, _>(org)
    .bind::<SqlUuid, _>(clinician)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .get_result(conn)?;
    Ok(measures
        .into_iter()
        .map(|(name, _, _)| {
            let triple = &row.summaries[&name];
            let summary =
                Summary { n: triple[0].as_i64().unwrap_or(0), mean: triple[1].as_f64(), variance: triple[2].as_f64() };
            (name, summary)
        })
        .collect())
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
    #[diesel(sql_type = Nullable<Double>)]
    pub mean: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub sd: Option<f64>,
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
        self.run(move |conn| {
            conn.transaction(|conn| {
                let org = actor.organization_id;
                let (_, settings) = super::settings::current(conn, org)?;
                let cutoff = settings.srs_cutoff * 100.0;
                let below = match settings.srs_cutoff_comparator {
                    crate::domain::settings::Comparator::Lt => "<",
                    crate::domain::settings::Comparator::Le => "<=",
                };
                let key = match &group_by {
                    GroupBy::Clinician => "r.clinician_id::text".to_owned(),
                    GroupBy::Program => "e.program".to_owned(),
                    GroupBy::Month => "to_char(date_trunc('month', r.administered_at), 'YYYY-MM')".to_owned(),
                    GroupBy::AgeGroup => "c.age_group".to_owned(),
                    GroupBy::Attribute(_) => "c.attributes->>$4".to_owned(),
                };
                let query = format!(
                    "SELECT {key} AS group_key, count(DISTINCT r.client_id)::bigint AS clients, count(*)::bigint AS responses, \
                     avg(r.total_hundredths / 100.0)::float8 AS mean, stddev_samp(r.total_hundredths / 100.0)::float8 AS sd, \
                     count(*) FILTER (WHERE r.total_hundredths {below} {cutoff})::bigint AS below_cutoff, \
                     count(*) FILTER (WHERE r.total_hundredths = 4000)::bigint AS ceiling \
                     FROM responses r \
                     JOIN episodes e ON e.organization_id = r.organization_id AND e.id = r.episode_id \
                     JOIN clients c ON c.organization_id = r.organization_id AND c.id = r.client_id \
                     WHERE r.organization_id = $1 AND r.instrument_key IN ('srs', 'csrs') AND r.rater = 'client' \
                     AND r.voided_at IS NULL AND r.administered_at >= $2 AND r.administered_at < $3 \
                     GROUP BY 1 ORDER BY 1"
                );
                let attribute = match &group_by {
                    GroupBy::Attribute(name) => name.clone(),
                    _ => String::new(),
                };
                let mut statement = diesel::sql_query(query).bind::<SqlUuid, _>(org).bind::<Timestamptz, _>(from).bind::<Timestamptz, _>(to).into_boxed();
                if matches!(group_by, GroupBy::Attribute(_)) {
                    statement = statement.bind::<Text, _>(attribute);
                }
                let groups: Vec<AllianceGroup> = statement.load(conn)?;
                actor.record(conn, "analytics.alliance.read", "organization", Some(org), serde_json::json!({ "groups": groups.len() }))?;
                Ok((settings, groups))
            })
        })
        .await
    }
}

//! `GET /v1/clinicians/{id}/insights` and `GET /v1/analytics/alliance`.

use super::auth_user::AuthUser;
use super::query::Query;
use super::rounded::Rounded;
use super::views::round2;
use crate::db::Database;
use crate::db::insights::{ClinicianResponse, GroupBy, Summary};
use crate::domain::Role;
use crate::domain::analytics::*;
use crate::domain::time::Timestamp;
use crate::error::{ApiError, AuthProblems, NotFoundProblem, QueryProblems};
use actix_web::{get, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Inclusive; default one year before `to` (not before 1900-01-01).
    pub from: Option<Timestamp>,
    /// Exclusive; default now. At most five years after `from`.
    pub to: Option<Timestamp>,
}

/// The longest reporting range.
const MAX_RANGE_DAYS: i64 = 5 * 366;

fn range(from: Option<Timestamp>, to: Option<Timestamp>) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = to.unwrap_or_else(Timestamp::now);
    let from = from.unwrap_or_else(|| to.saturating_sub(Duration::days(365)));
    if from >= to {
        return Err(ApiError::query("from", "must be before `to`"));
    }
    if to.get().signed_duration_since(from.get()) > Duration::days(MAX_RANGE_DAYS) {
        return Err(ApiError::query("to", "must be at most five years after `from`"));
    }
    Ok((from.get(), to.get()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Volume {
    pub clients: usize,
    pub episodes: usize,
    pub sessions: i64,
    /// Sessions with an SRS ÷ sessions.
    pub srs_completion_rate: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllianceSummary {
    /// Mean SRS total with its 95% t interval (`null` bounds below n = 2).
    pub mean_srs: MeanWithCi,
    pub below_cutoff_share: Option<f64>,
    pub ruptures: usize,
    pub ruptures_per_100_sessions: Option<f64>,
    /// Share of ruptures repaired.
    pub repair_rate: Option<f64>,
    /// Share of perfect 40/40 scores (a ceiling can mean a client does not feel safe to criticise).
    pub ceiling_share: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InsightsView {
    pub clinician_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Fewer distinct clients than the setting (default 30): read every number with caution.
    pub low_reliability: bool,
    pub volume: Volume,
    pub alliance: AllianceSummary,
    pub areas: AreasForGrowth,
    /// Mean client WAI-SR minus therapist WAI-SR-T item mean per subscale, same sessions.
    pub agreement: Vec<Agreement>,
    /// ORS episodes with ≥ 2 administrations.
    pub outcomes: OutcomeSummary,
}

fn shares<T>(items: &[T], test: impl Fn(&T) -> bool) -> Option<f64> {
    share(items.iter().filter(|i| test(i)).count(), items.len())
}

fn client_rated<'a>(data: &'a [ClinicianResponse], keys: &[&str]) -> Vec<&'a ClinicianResponse> {
    data.iter().filter(|r| keys.contains(&r.instrument_key.as_str()) && r.rater == "client").collect()
}

fn total(response: &ClinicianResponse) -> f64 {
    response.total
}

/// A clinician's insights over a date range ("supervision-like").
///
/// Formulas (ANALYTICS.md). Volume: distinct clients and episodes with responses; sessions in
/// range; SRS completion = sessions with an SRS ÷ sessions. Alliance: mean SRS total with a 95%
/// t interval (n − 1 df); share below the cutoff; ruptures (rule of `GET
/// /v1/episodes/{id}/alliance`, per episode, within the range) per 100 sessions with an SRS;
/// repair rate = repaired ÷ ruptures; ceiling share = totals of 40.0 ÷ SRS. **Areas for growth**:
/// for each SRS item and WAI-SR subscale item mean, clinician mean − the rest of the
/// organization's mean with a Welch 95% interval; the most negative one is named only when its
/// interval lies below zero. Agreement: mean (client WAI-SR − therapist WAI-SR-T) item mean per
/// subscale over sessions with both. Outcomes: ORS episodes with ≥ 2 administrations classified
/// as in `/outcomes`; shares, mean change, effect size = mean change ÷ SD of intakes.
/// `low_reliability` below 30 distinct clients (setting; Crits-Christoph et al. 2011 suggest
/// about 60 for dependable therapist means). A clinician may read its own; supervisors and
/// admins anyone's.
#[utoipa::path(
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The clinician's user id"), RangeQuery),
    responses((status = 200, description = "The insights", body = InsightsView), AuthProblems, NotFoundProblem, QueryProblems),
    security(("bearer" = []))
)]
#[get("/v1/clinicians/{id}/insights")]
pub async fn clinician_insights(
    user: AuthUser,
    id: web::Path<Uuid>,
    query: Query<RangeQuery>,
    database: web::Data<Database>,
) -> Result<Rounded<InsightsView>, ApiError> {
    user.require(&[Role::Admin, Role::Supervisor, Role::Clinician])?;
    let clinician_id = id.into_inner();
    if user.role == Role::Clinician && clinician_id != user.id {
        return Err(ApiError::Forbidden);
    }
    let (from, to) = range(query.from, query.to)?;
    let data = database.clinician_data(user.actor(), clinician_id, from, to).await?;
    let settings = &data.settings;
    let all = &data.responses;
    let clients: std::collections::BTreeSet<Uuid> = all.iter().map(|r| r.client_id).collect();
    let episodes: std::collections::BTreeSet<Uuid> = all.iter().map(|r| r.episode_id).collect();
    let srs = client_rated(all, &["srs", "csrs"]);
    let totals: Vec<f64> = srs.iter().map(|r| total(r)).collect();
    let below = |t: &f64| settings.srs_cutoff_comparator.below(*t, settings.srs_cutoff);
    let mut by_episode: BTreeMap<Uuid, Vec<AlliancePoint>> = BTreeMap::new();
    for (index, response) in srs.iter().enumerate() {
        let session = response.session_number.unwrap_or(index as i32 + 1);
        by_episode
            .entry(response.episode_id)
            .or_default()
            .push(AlliancePoint { session_number: session, score: total(response) });
    }
    let rule = settings.rupture_settings(None);
    let trajectories: Vec<AllianceTrajectory> =
        by_episode.values().map(|points| alliance_trajectory(points, &rule)).collect();
    let ruptures: usize = trajectories.iter().map(|t| t.rupture_count).sum();
    let repaired: usize = trajectories.iter().map(|t| t.repaired_count).sum();
    let wai = client_rated(all, &["wai-sr"]);
    let mut areas = Vec::new();
    let own: BTreeMap<&str, &Summary> = data.own.iter().map(|(name, summary)| (name.as_str(), summary)).collect();
    for (name, summary) in &data.organization {
        let mine = own.get(name.as_str()).copied().copied().unwrap_or(Summary { n: 0, mean: None, variance: None });
        let as_triple = |s: &Summary| (s.n.max(0) as usize, s.mean.unwrap_or(0.0), s.variance.unwrap_or(0.0));
        let difference = welch_from_summaries(as_triple(&mine), as_triple(summary));
        areas.push(AreaComparison {
            area: name.clone(),
            clinician: mean_with_ci_from_summary(mine.n.max(0) as usize, mine.mean, mine.variance),
            organization: mean_with_ci_from_summary(summary.n as usize, summary.mean, summary.variance),
            significant: difference.as_ref().is_some_and(DifferenceWithCi::excludes_zero),
            difference,
        });
    }
    let area_for_growth = areas
        .iter()
        .filter_map(|a| a.difference.as_ref().map(|d| (a, d)))
        .min_by(|(_, x), (_, y)| x.difference.total_cmp(&y.difference))
        .filter(|(_, d)| d.ci_upper < 0.0)
        .map(|(a, _)| a.area.clone());
    let therapist: BTreeMap<Option<Uuid>, &ClinicianResponse> = all
        .iter()
        .filter(|r| r.instrument_key == "wai-sr-t" && r.session_id.is_some())
        .map(|r| (r.session_id, r))
        .collect();
    let agreement = ["goal", "task", "bond"]
        .iter()
        .map(|subscale| {
            let pairs: Vec<(f64, f64)> = wai
                .iter()
                .filter_map(|c| {
                    let t = therapist.get(&c.session_id).filter(|_| c.session_id.is_some())?;
                    Some((c.subscale_mean(subscale)?, t.subscale_mean(subscale)?))
                })
                .collect();
            Agreement::from_pairs(*subscale, &pairs)
        })
        .collect();
    let mut ors_by_episode: BTreeMap<Uuid, Vec<f64>> = BTreeMap::new();
    for response in client_rated(all, &["ors"]) {
        ors_by_episode.entry(response.episode_id).or_default().push(total(response));
    }
    let assessments: Vec<ChangeAssessment> = ors_by_episode
        .values()
        .map(|series| {
            classify(
                series,
                Direction::HigherIsBetter,
                settings.ors_reliable_change,
                Some(ClinicalRange { cutoff: settings.ors_cutoff_adult, clinical_when: ClinicalWhen::BelowCutoff }),
            )
        })
        .collect();
    Ok(Rounded(InsightsView {
        clinician_id,
        from,
        to,
        low_reliability: low_reliability(clients.len(), settings.insight_min_clients.max(0) as usize),
        volume: Volume {
            clients: clients.len(),
            episodes: episodes.len(),
            sessions: data.sessions,
            srs_completion_rate: share(data.sessions_with_srs as usize, data.sessions as usize).map(round2),
        },
        alliance: AllianceSummary {
            mean_srs: mean_with_ci(&totals),
            below_cutoff_share: shares(&totals, below),
            ruptures,
            ruptures_per_100_sessions: rate_per_100(ruptures, data.sessions_with_srs as usize),
            repair_rate: share(repaired, ruptures),
            ceiling_share: shares(&totals, |t| (*t - 40.0).abs() < 1e-9),
        },
        areas: AreasForGrowth { comparisons: areas, area_for_growth },
        agreement,
        outcomes: outcome_summary(&assessments),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// `clinician`, `program`, `month`, `age_group`, or `attribute:<name>` (a declared client attribute).
    pub group_by: String,
    /// Inclusive; default one year before `to` (not before 1900-01-01).
    pub from: Option<Timestamp>,
    /// Exclusive; default now. At most five years after `from`.
    pub to: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    /// The group's value (`null`: not set).
    pub group: Option<String>,
    /// Distinct clients; `"<5"` when suppressed.
    #[schema(value_type = Object)]
    pub clients: serde_json::Value,
    pub suppressed: bool,
    pub responses: Option<i64>,
    pub mean_srs: Option<MeanWithCi>,
    pub below_cutoff_share: Option<f64>,
    pub ceiling_share: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllianceAnalyticsView {
    pub group_by: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Groups with fewer distinct clients are suppressed for every role but admin.
    pub small_cell_k: i32,
    pub groups: Vec<GroupView>,
}

/// The organization's alliance by group.
///
/// Per group of client-rated SRS/CSRS responses in `[from, to)` (voided excluded): distinct
/// clients, responses, mean total with a 95% t interval, share below the cutoff, share at the
/// 40/40 ceiling. **Small-cell suppression**: a group with fewer than k distinct clients
/// (setting, default 5) shows its size as `"<k"` and no metrics, for every role but admin.
#[utoipa::path(
    tag = "analytics",
    params(AnalyticsQuery),
    responses((status = 200, description = "The groups", body = AllianceAnalyticsView), AuthProblems, QueryProblems),
    security(("bearer" = []))
)]
#[get("/v1/analytics/alliance")]
pub async fn alliance_analytics(
    user: AuthUser,
    query: Query<AnalyticsQuery>,
    database: web::Data<Database>,
) -> Result<Rounded<AllianceAnalyticsView>, ApiError> {
    user.require(&[Role::Admin, Role::Supervisor, Role::Analyst])?;
    let query = query.into_inner();
    let (from, to) = range(query.from, query.to)?;
    let group_by = match query.group_by.as_str() {
        "clinician" => GroupBy::Clinician,
        "program" => GroupBy::Program,
        "month" => GroupBy::Month,
        "age_group" => GroupBy::AgeGroup,
        other => match other.strip_prefix("attribute:") {
            Some(name) => {
                let (_, settings) = database.organization_settings(user.organization_id).await?;
                if !settings.declared_attributes.iter().any(|declared| declared == name) {
                    return Err(ApiError::query("group_by", format!("`{name}` is not a declared client attribute")));
                }
                GroupBy::Attribute(name.to_owned())
            }
            None => {
                return Err(ApiError::query(
                    "group_by",
                    "must be clinician, program, month, age_group or attribute:<name>",
                ));
            }
        },
    };
    let (settings, groups) = database.alliance_groups(user.actor(), group_by, from, to).await?;
    let k = settings.small_cell_k;
    let groups = groups
        .into_iter()
        .map(|g| {
            let suppressed = user.role != Role::Admin && g.clients < i64::from(k);
            if suppressed {
                return GroupView {
                    group: g.group_key,
                    clients: serde_json::json!(format!("<{k}")),
                    suppressed,
                    responses: None,
                    mean_srs: None,
                    below_cutoff_share: None,
                    ceiling_share: None,
                };
            }
            let n = g.responses as usize;
            let (mean, variance) = moments_from_integer_sums(g.responses, g.total_sum, g.total_sum_sq, 0.01);
            GroupView {
                group: g.group_key,
                clients: serde_json::json!(g.clients),
                suppressed,
                responses: Some(g.responses),
                mean_srs: Some(mean_with_ci_from_summary(n, mean, variance)),
                below_cutoff_share: share(g.below_cutoff as usize, n),
                ceiling_share: share(g.ceiling as usize, n),
            }
        })
        .collect();
    Ok(Rounded(AllianceAnalyticsView { group_by: query.group_by, from, to, small_cell_k: k, groups }))
}

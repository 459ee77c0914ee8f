//! `GET /v1/clinicians/{id}/insights` and `GET /v1/analytics/alliance`.

use super::auth_user::AuthUser;
use super::query::Query;
use super::rounded::Rounded;
use crate::db::Database;
use crate::db::insights::{GroupBy, InsightInputs};
use crate::domain::Role;
use crate::domain::analytics::clinician::{self, ClinicianInsights};
use crate::domain::analytics::{MeanWithCi, mean_with_ci_from_summary, moments_from_integer_sums, share};
use crate::domain::time::Timestamp;
use crate::domain::transcript::growth::{SessionSummary, TranscriptGrowth, transcript_growth};
use crate::error::{ApiError, AuthProblems, NotFoundProblem, QueryProblems};
use actix_web::{get, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Inclusive; default one year before `to` (not before 1900-01-01).
    pub from: Option<Timestamp>,
    /// Exclusive; default now (one year after `from` when `from` is not in the past).
    pub to: Option<Timestamp>,
}

/// The reporting range `[from, to)`; `from` must come before `to`. Long ranges cost little:
/// whole months and days come from the rollups.
pub fn range(from: Option<Timestamp>, to: Option<Timestamp>) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let year = Duration::days(365);
    let now = Timestamp::now();
    let to = match (to, from) {
        (Some(to), _) => to.get(),
        (None, Some(from)) if from >= now => {
            from.checked_add(year).map_or_else(crate::domain::time::end, Timestamp::get)
        }
        (None, _) => now.get(),
    };
    let from = match from {
        Some(from) => from.get(),
        None => Timestamp::clamped(to).saturating_sub(year).get(),
    };
    if from >= to {
        return Err(ApiError::query("from", "must be before `to`"));
    }
    Ok((from, to))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InsightsView {
    pub clinician_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(flatten)]
    pub insights: ClinicianInsights,
    /// Areas for growth read from the clinician's session transcripts in the range, each with
    /// its rule, threshold, value and sessions, behind a minimum-sessions guard; and the
    /// agreement of transcript markers with clients' session ratings.
    pub transcript_areas_for_growth: TranscriptGrowth,
}

/// A clinician's insights over a date range ("supervision-like").
///
/// Formulas (docs/methodology.md, section 10). Volume: distinct clients and episodes with responses; sessions in
/// range; SRS completion = sessions with an SRS ÷ sessions. Alliance: mean SRS total with a 95%
/// t interval (n − 1 df); share below the cutoff; ruptures (rule of `GET
/// /v1/episodes/{id}/alliance`, per episode, within the range) per 100 sessions with an SRS;
/// repair rate = repaired ÷ ruptures; ceiling share = totals of 40.0 ÷ SRS. **Areas for growth**:
/// for each SRS item and WAI-SR subscale item mean, clinician mean − the rest of the
/// organization's mean with a Welch 95% interval; the most negative one is named only when its
/// interval lies below zero. Agreement: mean (client WAI-SR − therapist WAI-SR-T) item mean per
/// subscale over sessions with both. Outcomes: ORS and CORS episodes with an administration in
/// the range and ≥ 2 in all, classified as in `/outcomes` from the episode's intake (even before
/// the range) to its latest administration in the range, each against its client's own
/// age-group cutoff; shares, mean change, effect size = mean change ÷ SD of intakes.
/// `low_reliability` below 30 distinct clients (setting; Crits-Christoph et al. 2011 suggest
/// about 60 for dependable therapist means). **Transcript areas for growth** (sessions that took
/// place in the range with an analysed transcript; docs/methodology.md, section 14):
/// `feedback_rarely_elicited` (share of sessions with a feedback request < 0.5),
/// `therapist_talk_share_high` (mean share > 0.6), `confrontation_often_unaddressed` (share of
/// confrontation episodes unaddressed > 0.5), `few_reflections` (reflections ÷ questions < 1);
/// thresholds are settings, and none is named below `min_sessions` (5). A clinician may read
/// its own; supervisors and admins anyone's.
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
    let clinician_id = id.into_inner();
    may_read_clinician(&user, clinician_id)?;
    let (from, to) = range(query.from, query.to)?;
    let inputs = database.clinician_data(user.actor(), clinician_id, from, to, "clinician.insights.read").await?;
    let (insights, transcript_areas_for_growth) = insights_of(&inputs);
    Ok(Rounded(InsightsView { clinician_id, from, to, insights, transcript_areas_for_growth }))
}

/// A clinician may read its own insights and report; supervisors and admins anyone's.
pub fn may_read_clinician(user: &AuthUser, clinician_id: Uuid) -> Result<(), ApiError> {
    user.require(&[Role::Admin, Role::Supervisor, Role::Clinician])?;
    if user.role == Role::Clinician && clinician_id != user.id {
        return Err(ApiError::Forbidden);
    }
    Ok(())
}

/// The insights and transcript areas for growth of loaded inputs: what the JSON and the report show.
pub fn insights_of(inputs: &InsightInputs) -> (ClinicianInsights, TranscriptGrowth) {
    let insights = clinician::clinician_insights(&inputs.data());
    let sessions: Vec<SessionSummary> = inputs
        .transcripts
        .iter()
        .map(|t| SessionSummary { session_id: t.session_id, metrics: t.metrics.clone(), srs_total: t.alliance_total })
        .collect();
    (insights, transcript_growth(&sessions, &inputs.settings.transcripts))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// `clinician`, `program`, `month`, `age_group`, or `attribute:<name>` (a declared client attribute).
    #[param(pattern = r"^(clinician|program|month|age_group|attribute:[a-z0-9_]{1,64})$")]
    pub group_by: String,
    /// Inclusive; default one year before `to` (not before 1900-01-01).
    pub from: Option<Timestamp>,
    /// Exclusive; default now (one year after `from` when `from` is not in the past).
    pub to: Option<Timestamp>,
}

/// A group's number of distinct clients, or `"<k"` when the group is too small to show.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ClientCount {
    Exact(i64),
    /// `"<k"` with k the small-cell threshold.
    #[schema(example = "<5")]
    Suppressed(String),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    /// The group's value (`null`: not set).
    pub group: Option<String>,
    /// Distinct clients; `"<5"` (the suppression threshold) when suppressed.
    pub clients: ClientCount,
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
                    clients: ClientCount::Suppressed(format!("<{k}")),
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
                clients: ClientCount::Exact(g.clients),
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

//! Charts: an episode's alliance and outcomes as SVG, drawn from the same analytics the JSON
//! endpoints return (`domain::analytics::episode`), with no script and nothing fetched from
//! elsewhere, so they work offline, inside an EHR's `<img>` or `<iframe>`, and in print.
//! Methodology, palette and accessibility: docs/methodology.md, section 15.

pub mod alliance;
pub mod conditional;
#[cfg(test)]
mod examples;
pub mod links;
pub mod outcomes;
pub mod plot;
pub mod svg;
pub mod viewer;

use super::episode_analytics::data;
use super::query::Query;
use crate::db::Database;
use crate::db::episode_analytics::EpisodeSeries;
use crate::domain::analytics::episode::{self, EpisodeAlliance, InstrumentOutcome};
use crate::domain::analytics::etr::status_by_session;
use crate::error::{ApiError, AuthProblems, NotFoundProblem, PathProblems};
use actix_web::{HttpRequest, HttpResponse, get, web};
use alliance::{AllianceScales, alliance_svg};
use outcomes::{OutcomeScales, outcomes_svg};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;
use viewer::ChartViewer;

pub const SVG: &str = "image/svg+xml";

/// What a chart endpoint answers besides its problems.
#[derive(utoipa::IntoResponses)]
pub enum ChartAnswers {
    /// The chart.
    #[response(status = 200, content_type = "image/svg+xml",
               headers(("ETag" = String, description = "Changes exactly when the chart's bytes do")))]
    Chart(String),
    /// The chart is unchanged since the `If-None-Match` tag.
    #[response(status = 304)]
    NotModified,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AllianceChartQuery {
    /// A chart link's token (`POST /v1/episodes/{id}/chart-links`), when there is no bearer token.
    pub token: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutcomesChartQuery {
    /// The outcome measure (`ors`, `cors`, `phq-9`, `gad-7`, or an organization's own); default:
    /// the first one the client has filled in, in catalogue order.
    pub instrument: Option<String>,
    /// A chart link's token (`POST /v1/episodes/{id}/chart-links`), when there is no bearer token.
    pub token: Option<String>,
}

/// The alliance chart's names and scales, asked of the instruments' definitions.
pub fn alliance_scales(series: &EpisodeSeries, alliance: &EpisodeAlliance) -> AllianceScales {
    let catalogue = &series.catalogue;
    let key =
        alliance.instrument.clone().or_else(|| catalogue.session_alliance_keys().first().map(|k| (*k).to_owned()));
    let definition = key.as_deref().and_then(|key| catalogue.get(key));
    let working_alliance = alliance.working_alliance.first().and_then(|s| catalogue.get(&s.instrument));
    AllianceScales {
        name: key.map_or_else(|| "alliance".to_owned(), |key| key.to_uppercase()),
        range: definition.map_or((0.0, 40.0), |d| d.total_range()),
        working_alliance_range: working_alliance.map_or((1.0, 5.0), |d| d.item_mean_range()),
    }
}

/// One outcome measure's chart from the episode's outcomes.
pub fn outcome_chart(series: &EpisodeSeries, outcome: &InstrumentOutcome, id: &str) -> String {
    let definition = series.catalogue.get(&outcome.instrument);
    let scales = OutcomeScales {
        name: outcome.instrument.to_uppercase(),
        range: definition.map_or((0.0, 40.0), |d| d.total_range()),
        higher_is_better: definition.is_some_and(|d| d.higher_is_better()),
        age_group: series.age_group.as_str().to_owned(),
    };
    let statuses = outcome.etr.as_ref().map_or_else(Vec::new, |etr| {
        let points: Vec<(i32, f64)> =
            outcome.series.iter().filter_map(|p| p.session_number.map(|n| (n, p.total))).collect();
        let mut statuses = status_by_session(&etr.band, &points, &series.settings.etr_settings());
        // The band stops at its last session; the current point's status is the assessment's own.
        if let Some(last) = statuses.last_mut() {
            *last = etr.status;
        }
        statuses
    });
    outcomes_svg(outcome, &scales, &statuses, id)
}

/// An episode's alliance as a chart.
///
/// The client's SRS (or CSRS) totals by session with the cutoff line; drops (▼), ruptures (◇)
/// and repairs (▲) as `GET /v1/episodes/{id}/alliance` labels them; open circles are below the
/// cutoff. With working-alliance forms, a second panel shows the WAI-SR (client, solid, circles)
/// and WAI-SR-T (therapist, dashed, squares) item means. `<title>` and `<desc>` say the trend in
/// words. The same data gives the same bytes: `ETag`, and `304` for a matching `If-None-Match`.
/// Authorized by a bearer token or by a chart link's `token`; every view is audited.
#[utoipa::path(
    tag = "charts",
    params(("id" = Uuid, Path, description = "The episode's id"), AllianceChartQuery),
    responses(ChartAnswers, AuthProblems, NotFoundProblem, PathProblems),
    security(("bearer" = []), ("chart_link" = []))
)]
#[get("/v1/episodes/{id}/charts/alliance.svg")]
pub async fn alliance_chart(
    viewer: ChartViewer,
    id: web::Path<Uuid>,
    _query: Query<AllianceChartQuery>,
    request: HttpRequest,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let detail = viewer.audit_detail();
    let series =
        database.episode_series(viewer.actor, id.into_inner(), "episode.chart.alliance.view", detail, false).await?;
    let alliance = episode::episode_alliance(&data(&series));
    let body = alliance_svg(&alliance, &alliance_scales(&series, &alliance), "alliance");
    Ok(conditional::respond(&request, SVG, body))
}

/// An episode's outcome measure as a chart.
///
/// Totals by session for `instrument`, with the clinical cutoff for the client's age group, the
/// reliable-change band (intake ± the reliable change index), and, for session-by-session
/// measures, the expected-response band (p10–p90 and p25–p75 shaded, median dashed) of
/// `GET /v1/episodes/{id}/outcomes`; each point is marked at risk (▼) or off track (◇) as if it
/// were the current one. An instrument the client has not filled in yet gives an empty chart.
/// `ETag` and `304` as for the alliance chart; bearer token or chart link; audited.
#[utoipa::path(
    tag = "charts",
    params(("id" = Uuid, Path, description = "The episode's id"), OutcomesChartQuery),
    responses(ChartAnswers, AuthProblems, NotFoundProblem, PathProblems),
    security(("bearer" = []), ("chart_link" = []))
)]
#[get("/v1/episodes/{id}/charts/outcomes.svg")]
pub async fn outcomes_chart(
    viewer: ChartViewer,
    id: web::Path<Uuid>,
    query: Query<OutcomesChartQuery>,
    request: HttpRequest,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    let detail = viewer.audit_detail();
    let series =
        database.episode_series(viewer.actor, id.into_inner(), "episode.chart.outcomes.view", detail, true).await?;
    let outcomes = episode::episode_outcomes(&data(&series));
    let wanted = match query.into_inner().instrument {
        Some(key) => {
            let outcome_measure = series.catalogue.get(&key).is_some_and(|d| d.outcome().is_some());
            if !outcome_measure {
                return Err(ApiError::query("instrument", format!("`{key}` is not an outcome measure here")));
            }
            Some(key)
        }
        None => outcomes
            .first()
            .map(|o| o.instrument.clone())
            .or_else(|| series.catalogue.outcome_keys().first().map(|key| (*key).to_owned())),
    };
    let Some(wanted) = wanted else {
        return Err(ApiError::query("instrument", "this organization has no outcome measure"));
    };
    let outcome = match outcomes.into_iter().find(|o| o.instrument == wanted) {
        Some(outcome) => outcome,
        None => episode::empty_outcome(&data(&series), &wanted)
            .ok_or_else(|| ApiError::query("instrument", format!("`{wanted}` is not an outcome measure here")))?,
    };
    Ok(conditional::respond(&request, SVG, outcome_chart(&series, &outcome, "outcomes")))
}

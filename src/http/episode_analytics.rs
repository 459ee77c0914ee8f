//! `GET /v1/episodes/{id}/alliance` and `GET /v1/episodes/{id}/outcomes`: the arithmetic of
//! ANALYTICS.md on one episode, with every formula stated in the operation's description.

use super::auth_user::AuthUser;
use super::rounded::Rounded;
use super::views::{SignalView, round2};
use crate::db::Database;
use crate::db::episode_analytics::{EpisodeSeries, SeriesResponse};
use crate::domain::Role;
use crate::domain::analytics::{
    AlliancePoint, AllianceTrajectory, ChangeAssessment, ClinicalRange, ClinicalWhen, Direction, EtrAssessment,
    alliance_trajectory, assess_against_band, classify,
};
use crate::domain::instruments::scoring::outcome_cutoff;
use crate::error::{ApiError, AuthProblems, NotFoundProblem};
use actix_web::{get, web};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

const READERS: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Clinician, Role::Integration];

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPoint {
    pub response_id: Uuid,
    pub session_number: i32,
    pub administered_at: chrono::DateTime<chrono::Utc>,
    pub total: f64,
    /// Item scores (SRS items, 0.0–10.0).
    #[schema(value_type = Object)]
    pub items: Value,
    pub below_cutoff: bool,
    /// The fall since the previous point when it is at least the drop threshold (negative).
    pub drop: Option<f64>,
    pub rupture: bool,
    pub repair: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SpreadRule {
    pub k: f64,
    /// SD of session-to-session change across the organization (`null` below 100 pairs).
    pub org_change_sd: Option<f64>,
    pub org_change_pairs: i64,
    pub fallback_sd: f64,
    pub repair_window: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscaleComparison {
    pub client_item_mean: f64,
    pub therapist_item_mean: f64,
    /// Client minus therapist.
    pub difference: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaiSession {
    pub session_number: i32,
    pub client_response_id: Uuid,
    pub therapist_response_id: Uuid,
    pub subscales: BTreeMap<String, SubscaleComparison>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllianceView {
    pub episode_id: Uuid,
    pub client_id: Uuid,
    /// `srs` or `csrs` (whichever the episode uses), `null` without one.
    pub instrument: Option<String>,
    pub rule: SpreadRule,
    pub series: Vec<SeriesPoint>,
    /// Each rupture with its evidence (baseline, spread and its source, k, drop) and status.
    pub ruptures: Vec<crate::domain::analytics::Rupture>,
    pub rupture_count: usize,
    pub repaired_count: usize,
    pub unrepaired_count: usize,
    pub pending_count: usize,
    /// Sessions with both a client WAI-SR and a therapist WAI-SR-T.
    pub wai_discrepancy: Vec<WaiSession>,
    pub signals: Vec<SignalView>,
}

fn client_series<'a>(series: &'a EpisodeSeries, key: &str) -> Vec<&'a SeriesResponse> {
    series.responses.iter().filter(|r| r.instrument_key == key && r.rater == "client").collect()
}

fn session_of(index: usize, response: &SeriesResponse) -> i32 {
    response.session_number.unwrap_or(index as i32 + 1)
}

fn items_view(answers: &Value) -> Value {
    let items: Map<String, Value> = answers
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), Value::from(round2(v.as_f64().unwrap_or(0.0) / 10.0)))).collect())
        .unwrap_or_default();
    Value::Object(items)
}

fn wai_sessions(series: &EpisodeSeries) -> Vec<WaiSession> {
    let latest = |key: &str| -> BTreeMap<i32, &SeriesResponse> {
        series
            .responses
            .iter()
            .filter(|r| r.instrument_key == key)
            .filter_map(|r| r.session_number.map(|n| (n, r)))
            .collect()
    };
    let (client, therapist) = (latest("wai-sr"), latest("wai-sr-t"));
    client
        .iter()
        .filter_map(|(session, c)| {
            let t = therapist.get(session)?;
            let subscales = c
                .scores
                .subscales
                .iter()
                .filter_map(|(key, cs)| {
                    let ts = t.scores.subscales.get(key)?;
                    Some((
                        key.clone(),
                        SubscaleComparison {
                            client_item_mean: round2(cs.item_mean),
                            therapist_item_mean: round2(ts.item_mean),
                            difference: round2(cs.item_mean - ts.item_mean),
                        },
                    ))
                })
                .collect();
            Some(WaiSession {
                session_number: *session,
                client_response_id: c.id,
                therapist_response_id: t.id,
                subscales,
            })
        })
        .collect()
}

/// An episode's alliance: the SRS series with each point labelled, ruptures and repairs.
///
/// Formulas (ANALYTICS.md). Series: the client's SRS (or CSRS) totals by session number, then
/// administered time, then id; voided responses excluded. `below_cutoff`: total < cutoff
/// (default 36; `le` comparator: ≤). `drop`: previous − total ≥ 1.0. **Rupture** at session t:
/// baseline = mean of all earlier totals (needs ≥ 2); spread s = max(SD of those earlier totals,
/// SD of session-to-session change across the organization — or 2.0 points while it has fewer
/// than 100 pairs); rupture when total_t ≤ baseline − k·s (k = 1 standard, 2 strict). While a
/// rupture is pending no new one starts. **Repair**: a later session within 3 sessions with total
/// ≥ baseline − 0.5·s; none within the window: `unrepaired`; window not yet over: `pending`.
/// WAI: per session with both forms, client − therapist item mean per subscale.
#[utoipa::path(
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The episode's id")),
    responses((status = 200, description = "The episode's alliance", body = AllianceView), AuthProblems, NotFoundProblem),
    security(("bearer" = []))
)]
#[get("/v1/episodes/{id}/alliance")]
pub async fn episode_alliance(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<Rounded<AllianceView>, ApiError> {
    user.require(&READERS)?;
    let series = database.episode_series(user.actor(), id.into_inner(), "episode.alliance.read", false).await?;
    let instrument = ["srs", "csrs"]
        .into_iter()
        .max_by_key(|key| client_series(&series, key).len())
        .filter(|key| !client_series(&series, key).is_empty());
    let key = instrument.unwrap_or("srs");
    let points = client_series(&series, key);
    let (org_change_sd, pairs) = series.change_sd.get(key).copied().unwrap_or((None, 0));
    let rule = series.settings.rupture_settings(org_change_sd);
    let trajectory: AllianceTrajectory = alliance_trajectory(
        &points
            .iter()
            .enumerate()
            .map(|(i, r)| AlliancePoint { session_number: session_of(i, r), score: r.scores.total })
            .collect::<Vec<_>>(),
        &rule,
    );
    let labelled = points
        .iter()
        .zip(&trajectory.points)
        .map(|(response, point)| SeriesPoint {
            response_id: response.id,
            session_number: point.session_number,
            administered_at: response.administered_at,
            total: round2(point.score),
            items: items_view(&response.answers),
            below_cutoff: point.below_cutoff,
            drop: point.drop.map(round2),
            rupture: point.rupture,
            repair: point.repair,
        })
        .collect();
    Ok(Rounded(AllianceView {
        episode_id: series.episode.id,
        client_id: series.episode.client_id,
        instrument: instrument.map(str::to_owned),
        rule: SpreadRule {
            k: rule.k,
            org_change_sd: org_change_sd.map(round2),
            org_change_pairs: pairs,
            fallback_sd: rule.fallback_sd,
            repair_window: rule.repair_window,
        },
        series: labelled,
        rupture_count: trajectory.rupture_count,
        repaired_count: trajectory.repaired_count,
        unrepaired_count: trajectory.unrepaired_count,
        pending_count: trajectory.pending_count,
        ruptures: trajectory.ruptures,
        wai_discrepancy: wai_sessions(&series),
        signals: series.signals.into_iter().map(SignalView::from).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomePoint {
    pub response_id: Uuid,
    pub session_number: Option<i32>,
    pub administered_at: chrono::DateTime<chrono::Utc>,
    pub total: f64,
    pub band: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeInstrument {
    pub instrument: String,
    pub series: Vec<OutcomePoint>,
    /// Intake, current, change (current − intake) and the reliable-change classification.
    pub change: ChangeAssessment,
    /// Points of change that count as reliable.
    pub reliable_change: f64,
    /// The clinical cutoff used (ORS by age group; PHQ-9/GAD-7 caseness).
    pub clinical_cutoff: Option<f64>,
    /// ORS/CORS only: expected treatment response.
    pub etr: Option<EtrAssessment>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomesView {
    pub episode_id: Uuid,
    pub client_id: Uuid,
    pub instruments: Vec<OutcomeInstrument>,
}

/// An episode's outcomes: change from intake, reliable change, expected treatment response.
///
/// Formulas. Per outcome instrument (ORS, CORS, PHQ-9, GAD-7; client-rated; voided excluded):
/// intake = first administration, current = latest, change = current − intake. Reliable when
/// |change| ≥ the raw-point reliable change index (ORS/CORS 5, PHQ-9 6, GAD-7 4; settings);
/// improvement is up for ORS/CORS, down for PHQ-9/GAD-7 (Jacobson & Truax 1991). `recovered` =
/// reliable improvement with intake in the clinical range and current not (ORS: clinical below
/// the cutoff — adult 25, adolescent 28, child 32; PHQ-9: clinical at ≥ 10; GAD-7: ≥ 8);
/// `improved` = reliable improvement otherwise; `deteriorated` = reliable worsening; `unchanged`
/// otherwise; `insufficient_data` below two administrations. **ETR** (ORS/CORS): the reference
/// set is the organization's other episodes whose intake is within intake ± 1.0 and that have a
/// score at session n; with ≥ 30 values (setting) the band per session is their 10th, 25th, 50th,
/// 75th and 90th percentiles (linear interpolation) and the status is `on_track` (current ≥ p25),
/// `at_risk` (p10 ≤ current < p25) or `off_track` (< p10); with fewer, `insufficient_reference`
/// and the count.
#[utoipa::path(
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The episode's id")),
    responses((status = 200, description = "The episode's outcomes", body = OutcomesView), AuthProblems, NotFoundProblem),
    security(("bearer" = []))
)]
#[get("/v1/episodes/{id}/outcomes")]
pub async fn episode_outcomes(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<Rounded<OutcomesView>, ApiError> {
    user.require(&READERS)?;
    let series = database.episode_series(user.actor(), id.into_inner(), "episode.outcomes.read", true).await?;
    let settings = &series.settings;
    let mut instruments = Vec::new();
    for key in ["ors", "cors", "phq-9", "gad-7"] {
        let points = client_series(&series, key);
        if points.is_empty() {
            continue;
        }
        let (direction, rci, cutoff, clinical_when) = match key {
            "ors" | "cors" => (
                Direction::HigherIsBetter,
                settings.ors_reliable_change,
                outcome_cutoff(key, settings, series.age_group),
                ClinicalWhen::BelowCutoff,
            ),
            "phq-9" => (
                Direction::LowerIsBetter,
                settings.phq9_reliable_change,
                Some(settings.phq9_caseness),
                ClinicalWhen::AtOrAboveCutoff,
            ),
            _ => (
                Direction::LowerIsBetter,
                settings.gad7_reliable_change,
                Some(settings.gad7_caseness),
                ClinicalWhen::AtOrAboveCutoff,
            ),
        };
        let totals: Vec<f64> = points.iter().map(|r| r.scores.total).collect();
        let change = classify(&totals, direction, rci, cutoff.map(|cutoff| ClinicalRange { cutoff, clinical_when }));
        let etr = series.etr_bands.get(key).map(|band| {
            let with_sessions: Vec<(i32, f64)> =
                points.iter().filter_map(|r| r.session_number.map(|n| (n, r.scores.total))).collect();
            assess_against_band(band, &with_sessions, &settings.etr_settings())
        });
        instruments.push(OutcomeInstrument {
            instrument: key.to_owned(),
            series: points
                .iter()
                .map(|r| OutcomePoint {
                    response_id: r.id,
                    session_number: r.session_number,
                    administered_at: r.administered_at,
                    total: round2(r.scores.total),
                    band: r.scores.band.clone(),
                })
                .collect(),
            change,
            reliable_change: rci,
            clinical_cutoff: cutoff,
            etr,
        });
    }
    Ok(Rounded(OutcomesView { episode_id: series.episode.id, client_id: series.episode.client_id, instruments }))
}

//! `GET /v1/episodes/{id}/alliance` and `GET /v1/episodes/{id}/outcomes`: one read of the
//! episode's series (`db::episode_analytics`), the arithmetic of `domain::analytics::episode`,
//! and every formula stated in the operation's description (docs/methodology.md).

use super::auth_user::AuthUser;
use super::rounded::Rounded;
use super::views::SignalView;
use crate::db::Database;
use crate::db::episode_analytics::EpisodeSeries;
use crate::domain::Role;
use crate::domain::analytics::episode::{self, EpisodeAlliance, EpisodeData, InstrumentOutcome};
use crate::domain::transcript::series::{TranscriptSeries, transcript_series};
use crate::error::{ApiError, AuthProblems, NotFoundProblem, PathProblems};
use actix_web::{get, web};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

pub const READERS: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Clinician, Role::Integration];

#[derive(Debug, Serialize, ToSchema)]
pub struct AllianceView {
    pub episode_id: Uuid,
    pub client_id: Uuid,
    #[serde(flatten)]
    pub alliance: EpisodeAlliance,
    pub signals: Vec<SignalView>,
    /// Beside the SRS series, never instead of it: what the session transcripts' rules found
    /// (docs/methodology.md, section 14), with its agreement with the client's ratings.
    pub transcript: TranscriptSeries,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomesView {
    pub episode_id: Uuid,
    pub client_id: Uuid,
    /// One entry per outcome measure the client has filled in.
    pub instruments: Vec<InstrumentOutcome>,
}

pub fn data(series: &EpisodeSeries) -> EpisodeData<'_> {
    EpisodeData {
        catalogue: &series.catalogue,
        settings: &series.settings,
        age_group: series.age_group,
        responses: &series.responses,
        change_sd: &series.change_sd,
        etr_bands: &series.etr_bands,
    }
}

/// An episode's alliance: the SRS series with each point labelled, ruptures and repairs.
///
/// Formulas (docs/methodology.md, sections 8–9). Series: the client's SRS (or CSRS) totals by session number, then
/// administered time, then id; voided responses excluded. `below_cutoff`: total < cutoff
/// (default 36; `le` comparator: ≤). `drop`: previous − total ≥ 1.0. **Rupture** at session t:
/// baseline = mean of all earlier totals (needs ≥ 2); spread s = max(SD of those earlier totals,
/// SD of session-to-session change across the organization — or 2.0 points while it has fewer
/// than 100 pairs); rupture when total_t ≤ baseline − k·s (k = 1 standard, 2 strict). While a
/// rupture is pending no new one starts. **Repair**: one of the next 3 administrations (setting
/// `repair_window`; sessions without an SRS do not count) with total ≥ baseline − 0.5·s; none
/// within the window: `unrepaired`; window not yet over: `pending`.
/// WAI: per session with both forms, client − therapist item mean per subscale. `transcript`:
/// per analysed session transcript, its marker counts and rupture episodes, and Pearson's r
/// between markers per 1,000 client words and the SRS total over sessions with both (95%
/// Fisher-z interval from n ≥ 4).
#[utoipa::path(
    tag = "analytics",
    params(("id" = Uuid, Path, description = "The episode's id")),
    responses((status = 200, description = "The episode's alliance", body = AllianceView), AuthProblems, NotFoundProblem, PathProblems),
    security(("bearer" = []))
)]
#[get("/v1/episodes/{id}/alliance")]
pub async fn episode_alliance(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<Rounded<AllianceView>, ApiError> {
    user.require(&READERS)?;
    let series = database
        .episode_series(user.actor(), id.into_inner(), "episode.alliance.read", serde_json::json!({}), false)
        .await?;
    let alliance = episode::episode_alliance(&data(&series));
    let totals: BTreeMap<i32, f64> = alliance.series.iter().map(|p| (p.session_number, p.total)).collect();
    let transcript = transcript_series(&series.transcripts, &totals);
    Ok(Rounded(AllianceView {
        episode_id: series.episode.id,
        client_id: series.episode.client_id,
        alliance,
        signals: series.signals.into_iter().map(SignalView::from).collect(),
        transcript,
    }))
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
    responses((status = 200, description = "The episode's outcomes", body = OutcomesView), AuthProblems, NotFoundProblem, PathProblems),
    security(("bearer" = []))
)]
#[get("/v1/episodes/{id}/outcomes")]
pub async fn episode_outcomes(
    user: AuthUser,
    id: web::Path<Uuid>,
    database: web::Data<Database>,
) -> Result<Rounded<OutcomesView>, ApiError> {
    user.require(&READERS)?;
    let series = database
        .episode_series(user.actor(), id.into_inner(), "episode.outcomes.read", serde_json::json!({}), true)
        .await?;
    let instruments = episode::episode_outcomes(&data(&series));
    Ok(Rounded(OutcomesView { episode_id: series.episode.id, client_id: series.episode.client_id, instruments }))
}

//! One episode's analytics from its loaded series: the alliance (the client's session ratings
//! labelled for drops, ruptures and repairs; working-alliance discrepancies) and the outcomes
//! (change from intake, reliable change, expected treatment response). Which forms count as
//! what is asked of each instrument's definition (docs/methodology.md).

use super::etr::{EtrAssessment, EtrBandPoint, assess_against_band};
use super::reliable_change::{ChangeAssessment, ClinicalRange, ClinicalWhen, Direction, classify};
use super::rupture::{AlliancePoint, Rupture, alliance_trajectory};
use crate::domain::clients::AgeGroup;
use crate::domain::instruments::definition::{InstrumentDefinition, Rater};
use crate::domain::instruments::measure::{ClinicalSide, ResolvedCutoff};
use crate::domain::instruments::{Answers, Catalogue, Scores};
use crate::domain::settings::OrganizationSettings;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// One non-voided response of the episode, in series order (session number, administered
/// time, id).
#[derive(Debug, Clone)]
pub struct SeriesResponse {
    pub id: Uuid,
    pub instrument_key: String,
    pub rater: Rater,
    pub session_number: Option<i32>,
    pub administered_at: DateTime<Utc>,
    pub answers: Answers,
    pub scores: Scores,
}

/// Everything the episode's analytics read.
pub struct EpisodeData<'a> {
    pub catalogue: &'a Catalogue,
    pub settings: &'a OrganizationSettings,
    pub age_group: AgeGroup,
    pub responses: &'a [SeriesResponse],
    /// Per session-alliance instrument: the organization's SD of session-to-session change
    /// (once it has enough pairs) and how many pairs it rests on.
    pub change_sd: &'a BTreeMap<String, (Option<f64>, i64)>,
    /// Per session-by-session outcome instrument: the reference band for this episode's intake.
    pub etr_bands: &'a BTreeMap<String, Vec<EtrBandPoint>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPoint {
    pub response_id: Uuid,
    pub session_number: i32,
    pub administered_at: DateTime<Utc>,
    pub total: f64,
    /// Item scores in the item's units (SRS: 0.0–10.0).
    pub items: BTreeMap<String, f64>,
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
pub struct EpisodeAlliance {
    /// The session alliance rating the episode uses most (`srs` or `csrs`), `null` without one.
    pub instrument: Option<String>,
    /// The alliance cutoff `below_cutoff` is read against (setting `srs_cutoff`, default 36).
    pub cutoff: f64,
    pub rule: SpreadRule,
    pub series: Vec<SeriesPoint>,
    /// Each rupture with its evidence (baseline, spread and its source, k, drop) and status.
    pub ruptures: Vec<Rupture>,
    pub rupture_count: usize,
    pub repaired_count: usize,
    pub unrepaired_count: usize,
    pub pending_count: usize,
    /// Sessions with both a client and a therapist working-alliance form.
    pub wai_discrepancy: Vec<WaiSession>,
    /// Each working-alliance form (WAI-SR, WAI-SR-T) the episode has, as its item mean by
    /// session (the latest form of a session), whether or not the other rater's form exists.
    pub working_alliance: Vec<WorkingAllianceSeries>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkingAllianceSeries {
    pub instrument: String,
    pub rater: Rater,
    pub points: Vec<WorkingAlliancePoint>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkingAlliancePoint {
    pub session_number: i32,
    pub response_id: Uuid,
    pub item_mean: f64,
}

fn client_series<'a>(data: &EpisodeData<'a>, key: &str) -> Vec<&'a SeriesResponse> {
    data.responses.iter().filter(|r| r.instrument_key == key && r.rater == Rater::Client).collect()
}

/// A point's session: its session's number, or its position for episode-level responses.
fn session_of(index: usize, response: &SeriesResponse) -> i32 {
    response.session_number.unwrap_or_else(|| i32::try_from(index).map_or(i32::MAX, |i| i.saturating_add(1)))
}

pub fn episode_alliance(data: &EpisodeData<'_>) -> EpisodeAlliance {
    let keys = data.catalogue.session_alliance_keys();
    let instrument = keys
        .iter()
        .copied()
        .map(|key| (key, client_series(data, key).len()))
        .filter(|(_, count)| *count > 0)
        .fold(None::<(&str, usize)>, |best, (key, count)| match best {
            Some((_, most)) if most >= count => best,
            _ => Some((key, count)),
        })
        .map(|(key, _)| key);
    let key = instrument.or(keys.first().copied()).unwrap_or_default();
    let points = client_series(data, key);
    let (org_change_sd, pairs) = data.change_sd.get(key).copied().unwrap_or((None, 0));
    let rule = data.settings.rupture_settings(org_change_sd);
    let alliance_points: Vec<AlliancePoint> = points
        .iter()
        .enumerate()
        .map(|(i, r)| AlliancePoint { session_number: session_of(i, r), score: r.scores.total })
        .collect();
    let trajectory = alliance_trajectory(&alliance_points, &rule);
    let definition = data.catalogue.get(key);
    let series = points
        .iter()
        .zip(&trajectory.points)
        .map(|(response, point)| SeriesPoint {
            response_id: response.id,
            session_number: point.session_number,
            administered_at: response.administered_at,
            total: point.score,
            items: definition
                .map(|d| {
                    response
                        .answers
                        .0
                        .keys()
                        .filter_map(|item| Some((item.clone(), response.answers.value(d, item)?)))
                        .collect()
                })
                .unwrap_or_default(),
            below_cutoff: point.below_cutoff,
            drop: point.drop,
            rupture: point.rupture,
            repair: point.repair,
        })
        .collect();
    EpisodeAlliance {
        instrument: instrument.map(str::to_owned),
        cutoff: rule.cutoff,
        rule: SpreadRule {
            k: rule.k,
            org_change_sd,
            org_change_pairs: pairs,
            fallback_sd: rule.fallback_sd,
            repair_window: rule.repair_window,
        },
        series,
        rupture_count: trajectory.rupture_count,
        repaired_count: trajectory.repaired_count,
        unrepaired_count: trajectory.unrepaired_count,
        pending_count: trajectory.pending_count,
        ruptures: trajectory.ruptures,
        wai_discrepancy: wai_sessions(data),
        working_alliance: working_alliance_series(data),
    }
}

/// The latest form of `key` in each session that has one.
fn latest_by_session<'a>(data: &EpisodeData<'a>, key: &str) -> BTreeMap<i32, &'a SeriesResponse> {
    data.responses.iter().filter(|r| r.instrument_key == key).filter_map(|r| r.session_number.map(|n| (n, r))).collect()
}

/// Client then therapist form of each working-alliance pair, those with at least one form.
fn working_alliance_series(data: &EpisodeData<'_>) -> Vec<WorkingAllianceSeries> {
    data.catalogue
        .working_alliance_pairs()
        .into_iter()
        .flat_map(|(client, therapist)| [(client, Rater::Client), (therapist, Rater::Therapist)])
        .filter_map(|(key, rater)| {
            let points: Vec<WorkingAlliancePoint> = latest_by_session(data, key)
                .into_iter()
                .map(|(session_number, r)| WorkingAlliancePoint {
                    session_number,
                    response_id: r.id,
                    item_mean: r.scores.item_mean,
                })
                .collect();
            (!points.is_empty()).then(|| WorkingAllianceSeries { instrument: key.to_owned(), rater, points })
        })
        .collect()
}

/// Per session with both forms of a working-alliance pair: client − therapist item mean per
/// subscale (the latest form of each kind in the session).
fn wai_sessions(data: &EpisodeData<'_>) -> Vec<WaiSession> {
    let latest = |key: &str| latest_by_session(data, key);
    let mut sessions = Vec::new();
    for (client_key, therapist_key) in data.catalogue.working_alliance_pairs() {
        let (client, therapist) = (latest(client_key), latest(therapist_key));
        for (session, c) in &client {
            let Some(t) = therapist.get(session) else { continue };
            let subscales = c
                .scores
                .subscales
                .iter()
                .filter_map(|(key, cs)| {
                    let ts = t.scores.subscales.get(key)?;
                    let comparison = SubscaleComparison {
                        client_item_mean: cs.item_mean,
                        therapist_item_mean: ts.item_mean,
                        difference: cs.item_mean - ts.item_mean,
                    };
                    Some((key.clone(), comparison))
                })
                .collect();
            sessions.push(WaiSession {
                session_number: *session,
                client_response_id: c.id,
                therapist_response_id: t.id,
                subscales,
            });
        }
    }
    sessions
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomePoint {
    pub response_id: Uuid,
    pub session_number: Option<i32>,
    pub administered_at: DateTime<Utc>,
    pub total: f64,
    pub band: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstrumentOutcome {
    pub instrument: String,
    pub series: Vec<OutcomePoint>,
    /// Intake, current, change (current − intake) and the reliable-change classification.
    pub change: ChangeAssessment,
    /// Points of change that count as reliable.
    pub reliable_change: f64,
    /// The clinical cutoff for this client (ORS by age group; PHQ-9/GAD-7 caseness).
    pub clinical_cutoff: Option<f64>,
    /// Session-by-session outcome measures only: expected treatment response.
    pub etr: Option<EtrAssessment>,
}

/// Change and classification per outcome measure the client has filled in, in catalogue order.
pub fn episode_outcomes(data: &EpisodeData<'_>) -> Vec<InstrumentOutcome> {
    data.catalogue
        .iter()
        .filter_map(|definition| {
            let points = client_series(data, &definition.key);
            if points.is_empty() { None } else { instrument_outcome(data, definition, &points) }
        })
        .collect()
}

/// The outcome of measure `key` with no administrations yet (a chart drawn before any score:
/// its cutoff and scale, no points); `None` when `key` is not an outcome measure.
pub fn empty_outcome(data: &EpisodeData<'_>, key: &str) -> Option<InstrumentOutcome> {
    instrument_outcome(data, data.catalogue.get(key)?, &[])
}

fn instrument_outcome(
    data: &EpisodeData<'_>,
    definition: &InstrumentDefinition,
    points: &[&SeriesResponse],
) -> Option<InstrumentOutcome> {
    let rule = definition.outcome()?;
    let direction = if definition.higher_is_better() { Direction::HigherIsBetter } else { Direction::LowerIsBetter };
    let reliable_change = rule.reliable_change(data.settings);
    let cutoff = rule.cutoff(data.settings, data.age_group);
    let totals: Vec<f64> = points.iter().map(|r| r.scores.total).collect();
    let change = classify(&totals, direction, reliable_change, Some(clinical_range(cutoff)));
    let etr = data.etr_bands.get(&definition.key).filter(|_| rule.session_by_session).map(|band| {
        let with_sessions: Vec<(i32, f64)> =
            points.iter().filter_map(|r| r.session_number.map(|n| (n, r.scores.total))).collect();
        assess_against_band(band, &with_sessions, &data.settings.etr_settings())
    });
    Some(InstrumentOutcome {
        instrument: definition.key.clone(),
        series: points
            .iter()
            .map(|r| OutcomePoint {
                response_id: r.id,
                session_number: r.session_number,
                administered_at: r.administered_at,
                total: r.scores.total,
                band: r.scores.band.clone(),
            })
            .collect(),
        change,
        reliable_change,
        clinical_cutoff: Some(cutoff.cutoff),
        etr,
    })
}

/// The cutoff of an outcome rule as the reliable-change classification reads it.
pub fn clinical_range(cutoff: ResolvedCutoff) -> ClinicalRange {
    let clinical_when = match cutoff.clinical {
        ClinicalSide::Below => ClinicalWhen::BelowCutoff,
        ClinicalSide::AtOrAbove => ClinicalWhen::AtOrAboveCutoff,
    };
    ClinicalRange { cutoff: cutoff.cutoff, clinical_when }
}

#[cfg(test)]
#[path = "episode_tests.rs"]
mod tests;

//! A clinician's insights over a date range ("supervision-like"), from the clinician's loaded
//! responses and the item summaries of the clinician and of the rest of the organization:
//! volume, alliance, areas for growth, client–therapist agreement and outcomes
//! (docs/methodology.md, "Clinician insights"). Which forms count as what is asked of each
//! instrument's definition; each client's outcome cutoff is that of their own age group.

use super::episode::clinical_range;
use super::insights::{
    Agreement, AreasForGrowth, OutcomeSummary, areas_for_growth, low_reliability, outcome_summary, rate_per_100, share,
};
use super::reliable_change::{ChangeAssessment, Direction, classify};
use super::rupture::{AlliancePoint, alliance_trajectory};
use super::statistics::{MeanWithCi, Summary, mean_with_ci};
use crate::domain::clients::AgeGroup;
use crate::domain::instruments::Catalogue;
use crate::domain::instruments::definition::Rater;
use crate::domain::settings::OrganizationSettings;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// One of the clinician's non-voided responses in the range.
#[derive(Debug, Clone)]
pub struct ClinicianResponse {
    pub id: Uuid,
    pub episode_id: Uuid,
    pub client_id: Uuid,
    pub session_id: Option<Uuid>,
    pub instrument_key: String,
    pub rater: Rater,
    pub session_number: Option<i32>,
    pub administered_at: DateTime<Utc>,
    pub total: f64,
    /// Item mean per subscale (working-alliance forms); empty for other instruments.
    pub subscale_means: BTreeMap<String, f64>,
}

/// Everything the insights read.
pub struct ClinicianData<'a> {
    pub catalogue: &'a Catalogue,
    pub settings: &'a OrganizationSettings,
    /// Sorted by episode, session number, administered time, id.
    pub responses: &'a [ClinicianResponse],
    /// Every client-rated session-by-session outcome response (ORS, CORS) of the episodes that
    /// have one in the range, from the episode's intake up to the end of the range, in the same
    /// order: change is measured from the true intake, even when it came before the range.
    pub outcome_history: &'a [ClinicianResponse],
    /// The age group of every client in `responses`.
    pub age_groups: &'a BTreeMap<Uuid, AgeGroup>,
    /// Sessions of the clinician's episodes that took place in the range.
    pub sessions: usize,
    /// Measure name (`srs:relationship`, `wai:goal`, …) → the clinician's own summary.
    pub own: &'a [(String, Summary)],
    /// Measure name → the rest of the organization's summary, in the order to compare.
    pub organization: &'a [(String, Summary)],
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Volume {
    pub clients: usize,
    pub episodes: usize,
    pub sessions: usize,
    /// Sessions with a client-rated session alliance form (SRS/CSRS) ÷ sessions.
    pub srs_completion_rate: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllianceSummary {
    /// Mean SRS/CSRS total with its 95% t interval (`null` bounds below n = 2).
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
pub struct ClinicianInsights {
    /// Fewer distinct clients than the setting (default 30): read every number with caution.
    pub low_reliability: bool,
    pub volume: Volume,
    pub alliance: AllianceSummary,
    pub areas: AreasForGrowth,
    /// Mean client minus therapist working-alliance item mean per subscale, same sessions.
    pub agreement: Vec<Agreement>,
    /// Episodes with an administration of a session-by-session outcome measure (ORS, CORS) in
    /// the range and ≥ 2 in all: change from the episode's intake to its latest administration
    /// in the range, each judged against its client's own age-group cutoff.
    pub outcomes: OutcomeSummary,
}

/// The largest total a session alliance form can have: the ceiling.
const SESSION_ALLIANCE_CEILING: f64 = 40.0;

pub fn clinician_insights(data: &ClinicianData<'_>) -> ClinicianInsights {
    let settings = data.settings;
    let all = data.responses;
    let clients: BTreeSet<Uuid> = all.iter().map(|r| r.client_id).collect();
    let episodes: BTreeSet<Uuid> = all.iter().map(|r| r.episode_id).collect();
    let alliance: Vec<&ClinicianResponse> =
        all.iter().filter(|r| data.catalogue.is_client_session_alliance(&r.instrument_key, r.rater)).collect();
    let sessions_with_alliance = alliance.iter().filter_map(|r| r.session_id).collect::<BTreeSet<_>>().len();
    let totals: Vec<f64> = alliance.iter().map(|r| r.total).collect();
    let mut by_episode: BTreeMap<Uuid, Vec<AlliancePoint>> = BTreeMap::new();
    for response in &alliance {
        let points = by_episode.entry(response.episode_id).or_default();
        let position = i32::try_from(points.len()).map_or(i32::MAX, |n| n.saturating_add(1));
        points
            .push(AlliancePoint { session_number: response.session_number.unwrap_or(position), score: response.total });
    }
    let rule = settings.rupture_settings(None);
    let trajectories: Vec<_> = by_episode.values().map(|points| alliance_trajectory(points, &rule)).collect();
    let ruptures: usize = trajectories.iter().map(|t| t.rupture_count).sum();
    let repaired: usize = trajectories.iter().map(|t| t.repaired_count).sum();
    let below = |t: &&f64| settings.srs_cutoff_comparator.below(**t, settings.srs_cutoff);
    let at_ceiling = |t: &&f64| (**t - SESSION_ALLIANCE_CEILING).abs() < 1e-9;
    ClinicianInsights {
        low_reliability: low_reliability(clients.len(), usize::try_from(settings.insight_min_clients).unwrap_or(0)),
        volume: Volume {
            clients: clients.len(),
            episodes: episodes.len(),
            sessions: data.sessions,
            srs_completion_rate: share(sessions_with_alliance, data.sessions),
        },
        alliance: AllianceSummary {
            mean_srs: mean_with_ci(&totals),
            below_cutoff_share: share(totals.iter().filter(below).count(), totals.len()),
            ruptures,
            ruptures_per_100_sessions: rate_per_100(ruptures, sessions_with_alliance),
            repair_rate: share(repaired, ruptures),
            ceiling_share: share(totals.iter().filter(at_ceiling).count(), totals.len()),
        },
        areas: areas(data),
        agreement: agreement(data),
        outcomes: outcomes(data),
    }
}

/// The clinician's summary of each measure against the rest of the organization's.
fn areas(data: &ClinicianData<'_>) -> AreasForGrowth {
    let own: BTreeMap<&str, Summary> = data.own.iter().map(|(name, summary)| (name.as_str(), *summary)).collect();
    let compared: Vec<(String, Summary, Summary)> = data
        .organization
        .iter()
        .map(|(name, rest)| (name.clone(), own.get(name.as_str()).copied().unwrap_or_default(), *rest))
        .collect();
    areas_for_growth(&compared)
}

/// Per subscale of each working-alliance pair: client − therapist item means over the sessions
/// with both forms.
fn agreement(data: &ClinicianData<'_>) -> Vec<Agreement> {
    let mut agreements = Vec::new();
    for (client_key, therapist_key) in data.catalogue.working_alliance_pairs() {
        let therapist: BTreeMap<Uuid, &ClinicianResponse> = data
            .responses
            .iter()
            .filter(|r| r.instrument_key == therapist_key)
            .filter_map(|r| r.session_id.map(|session| (session, r)))
            .collect();
        let client: Vec<&ClinicianResponse> =
            data.responses.iter().filter(|r| r.instrument_key == client_key && r.rater == Rater::Client).collect();
        let Some(definition) = data.catalogue.get(client_key) else { continue };
        for subscale in &definition.subscales {
            let pairs: Vec<(f64, f64)> = client
                .iter()
                .filter_map(|c| {
                    let t = therapist.get(&c.session_id?)?;
                    Some((*c.subscale_means.get(&subscale.key)?, *t.subscale_means.get(&subscale.key)?))
                })
                .collect();
            agreements.push(Agreement::from_pairs(subscale.key.clone(), &pairs));
        }
    }
    agreements
}

/// Each episode's series of a session-by-session outcome measure, from its intake, classified
/// against its client's own cutoff.
fn outcomes(data: &ClinicianData<'_>) -> OutcomeSummary {
    let is_outcome = |r: &&ClinicianResponse| {
        r.rater == Rater::Client && data.catalogue.get(&r.instrument_key).is_some_and(|d| d.is_session_outcome())
    };
    let in_range: BTreeSet<(Uuid, &str)> =
        data.responses.iter().filter(is_outcome).map(|r| (r.episode_id, r.instrument_key.as_str())).collect();
    let mut series: BTreeMap<(Uuid, &str), Vec<f64>> = BTreeMap::new();
    for response in data.outcome_history.iter().filter(is_outcome) {
        let key = (response.episode_id, response.instrument_key.as_str());
        if in_range.contains(&key) {
            series.entry(key).or_default().push(response.total);
        }
    }
    let client_of: BTreeMap<Uuid, Uuid> = data.outcome_history.iter().map(|r| (r.episode_id, r.client_id)).collect();
    let assessments: Vec<ChangeAssessment> = series
        .iter()
        .filter_map(|((episode, key), totals)| {
            let definition = data.catalogue.get(key)?;
            let rule = definition.outcome()?;
            let age_group = client_of.get(episode).and_then(|client| data.age_groups.get(client)).copied()?;
            let direction =
                if definition.higher_is_better() { Direction::HigherIsBetter } else { Direction::LowerIsBetter };
            let range = clinical_range(rule.cutoff(data.settings, age_group));
            Some(classify(totals, direction, rule.reliable_change(data.settings), Some(range)))
        })
        .collect();
    outcome_summary(&assessments)
}

#[cfg(test)]
#[path = "clinician_tests.rs"]
mod tests;

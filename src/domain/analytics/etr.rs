//! Empirical expected treatment response (ETR) for the ORS: compares an episode's latest score
//! with the scores that reference episodes of similar intake had at the same session, and gives
//! the p10–p90 band per session for plotting. Pure arithmetic: no I/O.
//!
//! Rule (docs/methodology.md, "Expected treatment response"): for intake `x` at session `n`, the reference set is the episodes
//! whose intake is within `x ± intake_window` (inclusive) that have a score at session `n`.
//! With at least `min_reference` values: expected = median; `on_track` if current ≥ p25,
//! `at_risk` if p10 ≤ current < p25, `off_track` if current < p10; otherwise
//! `insufficient_reference` with the count. Percentiles are R type 7 (see `statistics.rs`).
//!
//! Decisions where the spec is silent:
//! - the caller chooses the reference episodes (the organization's or the pooled set) and must
//!   leave out the episode being assessed;
//! - a reference episode with several scores at one session contributes once, its last one
//!   (series order: session number, then time, then id);
//! - the status is computed at the current session even when it is beyond `max_session`,
//!   which only bounds the plotted band; an empty series is `insufficient_reference`;
//! - comparisons with p10/p25 and the intake window tolerate 1e-9 of float noise (see `rupture.rs`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rupture::EPSILON;
use super::statistics::{percentile, sorted};

/// A reference episode: its intake score and its `(session_number, score)` series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceEpisode {
    pub intake: f64,
    pub scores: Vec<(i32, f64)>,
}

/// Settings; `Default` is window ±1, at least 30 reference values, band up to session 20.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EtrSettings {
    /// Half-width of the intake window (inclusive).
    pub intake_window: f64,
    /// Minimum number of reference values at a session.
    pub min_reference: usize,
    /// Last session number of the band.
    pub max_session: i32,
}

impl Default for EtrSettings {
    fn default() -> Self {
        Self { intake_window: 1.0, min_reference: 30, max_session: 20 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EtrStatus {
    OnTrack,
    AtRisk,
    OffTrack,
    InsufficientReference,
}

/// Percentiles of the reference values at one session.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EtrBandPoint {
    pub session_number: i32,
    /// Number of reference values.
    pub n: usize,
    pub p10: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EtrAssessment {
    pub status: EtrStatus,
    /// Current session (the last of the series); `null` for an empty series.
    pub session_number: Option<i32>,
    pub current_score: Option<f64>,
    /// Reference values at the current session (also when insufficient).
    pub reference_count: usize,
    /// Median of the reference values at the current session; `null` when insufficient.
    pub expected: Option<f64>,
    /// Sessions 1..=max_session with at least `min_reference` values; others are omitted.
    pub band: Vec<EtrBandPoint>,
}

/// The assessment of an episode with intake `intake` and series `series` (ordered, current last).
pub fn expected_treatment_response(
    reference: &[ReferenceEpisode],
    intake: f64,
    series: &[(i32, f64)],
    settings: &EtrSettings,
) -> EtrAssessment {
    // Every session of the band, and the current one even past `max_session` (its status).
    let current = series.last().map(|(session, _)| *session).filter(|session| *session > settings.max_session);
    let points: Vec<EtrBandPoint> = (1..=settings.max_session)
        .chain(current)
        .filter_map(|session| {
            let values = reference_values(reference, intake, session, settings.intake_window);
            (!values.is_empty()).then(|| band_point(session, &values))
        })
        .collect();
    assess_against_band(&points, series, settings)
}

/// The status of each point of `series` as if it were the current one: what a chart marks at
/// every session. The same rule as [`assess_against_band`], applied to each prefix.
pub fn status_by_session(points: &[EtrBandPoint], series: &[(i32, f64)], settings: &EtrSettings) -> Vec<EtrStatus> {
    (1..=series.len()).map(|end| assess_against_band(points, &series[..end], settings).status).collect()
}

/// The same assessment from band points computed elsewhere (the database aggregates the
/// reference set with `percentile_cont`, the same linear interpolation): `points` holds every
/// session with at least one reference value and its count `n`.
pub fn assess_against_band(points: &[EtrBandPoint], series: &[(i32, f64)], settings: &EtrSettings) -> EtrAssessment {
    let minimum = settings.min_reference.max(1);
    let band: Vec<EtrBandPoint> =
        points.iter().filter(|p| p.n >= minimum && p.session_number <= settings.max_session).cloned().collect();
    let Some(&(session_number, current)) = series.last() else {
        return EtrAssessment {
            status: EtrStatus::InsufficientReference,
            session_number: None,
            current_score: None,
            reference_count: 0,
            expected: None,
            band,
        };
    };
    let at_session = points.iter().find(|p| p.session_number == session_number);
    let reference_count = at_session.map_or(0, |p| p.n);
    let (status, expected) = match at_session.filter(|p| p.n >= minimum) {
        None => (EtrStatus::InsufficientReference, None),
        Some(point) => {
            let status = if current >= point.p25 - EPSILON {
                EtrStatus::OnTrack
            } else if current >= point.p10 - EPSILON {
                EtrStatus::AtRisk
            } else {
                EtrStatus::OffTrack
            };
            (status, Some(point.p50))
        }
    };
    EtrAssessment {
        status,
        session_number: Some(session_number),
        current_score: Some(current),
        reference_count,
        expected,
        band,
    }
}

/// Ascending scores at `session` of the reference episodes whose intake is within the window.
fn reference_values(reference: &[ReferenceEpisode], intake: f64, session: i32, window: f64) -> Vec<f64> {
    let values: Vec<f64> = reference
        .iter()
        .filter(|episode| (episode.intake - intake).abs() <= window + EPSILON)
        .filter_map(|episode| episode.scores.iter().rev().find(|(s, _)| *s == session).map(|&(_, score)| score))
        .collect();
    sorted(&values)
}

/// Band point of a non-empty ascending slice.
pub fn band_point(session_number: i32, values: &[f64]) -> EtrBandPoint {
    let p = |q: f64| percentile(values, q).unwrap_or(f64::NAN);
    EtrBandPoint {
        session_number,
        n: values.len(),
        p10: p(10.0),
        p25: p(25.0),
        p50: p(50.0),
        p75: p(75.0),
        p90: p(90.0),
    }
}

#[cfg(test)]
mod band_tests {
    use super::*;

    #[test]
    fn assessing_against_precomputed_band_points_matches_the_raw_computation() {
        // Five reference episodes, intake 18, session 2 at 20, 22, 24, 26, 28; current 19.
        let reference: Vec<ReferenceEpisode> = [20.0, 22.0, 24.0, 26.0, 28.0]
            .iter()
            .map(|s| ReferenceEpisode { intake: 18.0, scores: vec![(1, 18.0), (2, *s)] })
            .collect();
        let settings = EtrSettings { min_reference: 5, ..Default::default() };
        let series = [(1, 18.0), (2, 19.0)];
        let raw = expected_treatment_response(&reference, 18.0, &series, &settings);
        let points: Vec<EtrBandPoint> =
            (1..=2).map(|session| band_point(session, &reference_values(&reference, 18.0, session, 1.0))).collect();
        assert_eq!(assess_against_band(&points, &series, &settings), raw);
        assert_eq!(raw.status, EtrStatus::OffTrack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Intake 20 ± 1. In the window: A 19 and B 21 (both edges, inclusive), C 20, D 20.5, E 19.5,
    /// H 20 (no session 3). Outside: F 22, G 18.9.
    fn reference() -> Vec<ReferenceEpisode> {
        let episode = |intake: f64, scores: &[(i32, f64)]| ReferenceEpisode { intake, scores: scores.to_vec() };
        vec![
            episode(19.0, &[(1, 19.0), (2, 20.0), (3, 20.0), (4, 30.0)]),
            episode(21.0, &[(1, 21.0), (2, 22.0), (3, 22.0), (4, 31.0)]),
            episode(20.0, &[(1, 20.0), (2, 21.0), (3, 24.0)]),
            episode(20.5, &[(1, 20.5), (2, 23.0), (3, 26.0)]),
            episode(19.5, &[(1, 19.5), (2, 22.0), (3, 28.0)]),
            episode(20.0, &[(1, 20.0), (2, 24.0)]),
            episode(22.0, &[(1, 22.0), (2, 10.0), (3, 10.0)]),
            episode(18.9, &[(1, 18.9), (2, 10.0), (3, 10.0)]),
        ]
    }

    fn settings() -> EtrSettings {
        EtrSettings { intake_window: 1.0, min_reference: 5, max_session: 4 }
    }

    fn status_at_session_3(current: f64) -> EtrStatus {
        expected_treatment_response(&reference(), 20.0, &[(1, 20.0), (3, current)], &settings()).status
    }

    fn assert_band(actual: &EtrBandPoint, expected: [f64; 5]) {
        let got = [actual.p10, actual.p25, actual.p50, actual.p75, actual.p90];
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-12, "{got:?} vs {expected:?}");
        }
    }

    #[test]
    fn the_band_holds_hand_computed_percentiles_and_omits_thin_sessions() {
        let a = expected_treatment_response(&reference(), 20.0, &[(1, 20.0), (3, 22.0)], &settings());
        let sessions: Vec<(i32, usize)> = a.band.iter().map(|b| (b.session_number, b.n)).collect();
        // Session 4 has only A and B (2 < 5): omitted.
        assert_eq!(sessions, [(1, 6), (2, 6), (3, 5)]);
        // Session 1: [19, 19.5, 20, 20, 20.5, 21], h = 5p: p10 h=.5 → 19.25; p25 h=1.25 → 19.625;
        // p50 h=2.5 → 20; p75 h=3.75 → 20.375; p90 h=4.5 → 20.75.
        assert_band(&a.band[0], [19.25, 19.625, 20.0, 20.375, 20.75]);
        // Session 2: [20, 21, 22, 22, 23, 24]: p10 20.5; p25 21.25; p50 22; p75 22.75; p90 23.5.
        assert_band(&a.band[1], [20.5, 21.25, 22.0, 22.75, 23.5]);
        // Session 3: [20, 22, 24, 26, 28], h = 4p: p10 h=.4 → 20.8; p25 22; p50 24; p75 26;
        // p90 h=3.6 → 27.2.
        assert_band(&a.band[2], [20.8, 22.0, 24.0, 26.0, 27.2]);
        assert_eq!((a.session_number, a.current_score, a.reference_count), (Some(3), Some(22.0), 5));
        assert_eq!(a.expected, Some(24.0));
    }

    #[test]
    fn each_point_is_marked_as_if_it_were_the_current_one() {
        let band = expected_treatment_response(&reference(), 20.0, &[(1, 20.0)], &settings()).band;
        // Session 1: 19 < p10 19.25; session 2: p10 20.5 ≤ 21 < p25 21.25; session 3: 24 ≥ p25 22;
        // session 9: no band there.
        let series = [(1, 19.0), (2, 21.0), (3, 24.0), (9, 30.0)];
        let statuses = status_by_session(&band, &series, &settings());
        use EtrStatus::*;
        assert_eq!(statuses, [OffTrack, AtRisk, OnTrack, InsufficientReference]);
    }

    #[test]
    fn a_score_exactly_at_the_25th_percentile_is_on_track() {
        assert_eq!(status_at_session_3(22.0), EtrStatus::OnTrack);
        assert_eq!(status_at_session_3(30.0), EtrStatus::OnTrack);
    }

    #[test]
    fn a_score_from_the_10th_up_to_below_the_25th_percentile_is_at_risk() {
        assert_eq!(status_at_session_3(20.8), EtrStatus::AtRisk); // exactly p10
        assert_eq!(status_at_session_3(21.9), EtrStatus::AtRisk);
    }

    #[test]
    fn a_score_below_the_10th_percentile_is_off_track() {
        assert_eq!(status_at_session_3(20.7), EtrStatus::OffTrack);
    }

    #[test]
    fn too_few_reference_values_is_insufficient_reference_with_the_count() {
        // Session 4: only A and B have a score → 2 < 5.
        let a = expected_treatment_response(&reference(), 20.0, &[(4, 25.0)], &settings());
        assert_eq!((a.status, a.reference_count, a.expected), (EtrStatus::InsufficientReference, 2, None));
        // Session 3 has 5 values: insufficient when 6 are required.
        let six = EtrSettings { min_reference: 6, ..settings() };
        let a = expected_treatment_response(&reference(), 20.0, &[(3, 25.0)], &six);
        assert_eq!((a.status, a.reference_count), (EtrStatus::InsufficientReference, 5));
    }

    #[test]
    fn an_empty_series_is_insufficient_reference_but_still_has_a_band() {
        let a = expected_treatment_response(&reference(), 20.0, &[], &settings());
        assert_eq!(
            (a.status, a.session_number, a.current_score, a.reference_count),
            (EtrStatus::InsufficientReference, None, None, 0)
        );
        assert_eq!(a.band.len(), 3);
    }

    #[test]
    fn a_reference_episode_with_two_scores_at_one_session_counts_once_with_its_last() {
        let refs = vec![ReferenceEpisode { intake: 20.0, scores: vec![(1, 10.0), (1, 30.0)] }];
        let one = EtrSettings { min_reference: 1, max_session: 1, ..settings() };
        let a = expected_treatment_response(&refs, 20.0, &[(1, 30.0)], &one);
        assert_eq!((a.reference_count, a.band[0].p50), (1, 30.0));
    }

    #[test]
    fn the_status_is_computed_beyond_the_last_band_session() {
        let refs: Vec<ReferenceEpisode> =
            (0..5).map(|i| ReferenceEpisode { intake: 20.0, scores: vec![(9, 20.0 + f64::from(i))] }).collect();
        // Session 9 values [20..24]: p10 20.4, p25 21; 20.5 → at risk. Band stops at 4: empty.
        let a = expected_treatment_response(&refs, 20.0, &[(9, 20.5)], &settings());
        assert_eq!((a.status, a.band.len()), (EtrStatus::AtRisk, 0));
    }
}

//! Across a clinician's analysed sessions: the transcript areas for growth (each a rule with
//! its threshold, the value, the sessions behind it and a reliability guard) and how far the
//! transcript markers agree with the clients' own session ratings (docs/methodology.md,
//! section 14).

use super::analysis::TranscriptMetrics;
use super::settings::TranscriptSettings;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One analysed session, with the client's SRS (or CSRS) total for it when there is one.
#[derive(Clone, Debug)]
pub struct SessionSummary {
    pub session_id: Uuid,
    pub metrics: TranscriptMetrics,
    pub srs_total: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrowthRule {
    /// Share of sessions with at least one feedback request below `feedback_min_share`.
    FeedbackRarelyElicited,
    /// Mean therapist talk share above `talk_share_max`.
    TherapistTalkShareHigh,
    /// Share of confrontation episodes left unaddressed above `unaddressed_max_share`.
    ConfrontationOftenUnaddressed,
    /// Reflections ÷ questions below `reflection_question_min`.
    FewReflections,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GrowthArea {
    pub rule: GrowthRule,
    /// The clinician's value (`null` when nothing to measure, e.g. no confrontation episode).
    pub value: Option<f64>,
    pub threshold: f64,
    /// How many sessions (or, for unaddressed confrontations, episodes) the value rests on.
    pub n: usize,
    /// Named as an area for growth: past the threshold, with the guard met.
    pub flagged: bool,
    /// The evidence: each session that shows it (e.g. those without a feedback request), with
    /// its own value (feedback requests, talk share, unaddressed confrontations, R:Q).
    pub sessions: Vec<SessionValue>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SessionValue {
    pub session_id: Uuid,
    pub value: f64,
}

/// Pearson's r between markers per 1,000 client words and the session's SRS total, with a 95%
/// Fisher-z interval (n ≥ 4). A negative r means more markers where clients rated the session
/// lower: the direction expected if the markers mean what they claim.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct SrsAgreement {
    pub n: usize,
    pub r: Option<f64>,
    pub ci_lower: Option<f64>,
    pub ci_upper: Option<f64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TranscriptGrowth {
    /// Analysed sessions in the range.
    pub sessions: usize,
    pub min_sessions: i32,
    /// Fewer sessions than `min_sessions`: no area is named.
    pub low_reliability: bool,
    pub areas: Vec<GrowthArea>,
    pub agreement_with_srs: SrsAgreement,
    pub validity_note: &'static str,
}

pub fn srs_agreement(pairs: &[(f64, f64)]) -> SrsAgreement {
    let n = pairs.len();
    let none = SrsAgreement { n, r: None, ci_lower: None, ci_upper: None };
    if n < 3 {
        return none;
    }
    let count = n as f64;
    let (mean_x, mean_y) = pairs.iter().fold((0.0, 0.0), |(x, y), (a, b)| (x + a / count, y + b / count));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mean_x) * (y - mean_y);
        sxx += (x - mean_x) * (x - mean_x);
        syy += (y - mean_y) * (y - mean_y);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return none;
    }
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    let (ci_lower, ci_upper) = if n >= 4 && r.abs() < 1.0 {
        let z = r.atanh();
        let half = 1.959_963_984_540_054 / (count - 3.0).sqrt();
        (Some((z - half).tanh()), Some((z + half).tanh()))
    } else {
        (None, None)
    };
    SrsAgreement { n, r: Some(r), ci_lower, ci_upper }
}

pub fn transcript_growth(sessions: &[SessionSummary], settings: &TranscriptSettings) -> TranscriptGrowth {
    let n = sessions.len();
    let guard = n >= usize::try_from(settings.min_sessions).unwrap_or(usize::MAX);
    // The sessions whose own value (`None`: not measurable) passes `shows`.
    let evidence = |value: &dyn Fn(&SessionSummary) -> Option<f64>, shows: &dyn Fn(f64) -> bool| -> Vec<SessionValue> {
        sessions
            .iter()
            .filter_map(|s| {
                value(s).filter(|v| shows(*v)).map(|value| SessionValue { session_id: s.session_id, value })
            })
            .collect()
    };
    let mut areas = Vec::new();

    let with_feedback = sessions.iter().filter(|s| s.metrics.feedback_elicited > 0).count();
    let share = (n > 0).then(|| with_feedback as f64 / n as f64);
    areas.push(GrowthArea {
        rule: GrowthRule::FeedbackRarelyElicited,
        value: share,
        threshold: settings.feedback_min_share,
        n,
        flagged: guard && share.is_some_and(|v| v < settings.feedback_min_share),
        sessions: evidence(&|s| Some(s.metrics.feedback_elicited as f64), &|v| v == 0.0),
    });

    let talk: Vec<f64> = sessions.iter().filter_map(|s| s.metrics.therapist_talk_share).collect();
    let mean_talk = (!talk.is_empty()).then(|| talk.iter().sum::<f64>() / talk.len() as f64);
    areas.push(GrowthArea {
        rule: GrowthRule::TherapistTalkShareHigh,
        value: mean_talk,
        threshold: settings.talk_share_max,
        n: talk.len(),
        flagged: guard && mean_talk.is_some_and(|v| v > settings.talk_share_max),
        sessions: evidence(&|s| s.metrics.therapist_talk_share, &|v| v > settings.talk_share_max),
    });

    let episodes: usize = sessions.iter().map(|s| s.metrics.confrontation_episodes).sum();
    let unaddressed: usize = sessions.iter().map(|s| s.metrics.confrontation_unaddressed).sum();
    let unaddressed_share = (episodes > 0).then(|| unaddressed as f64 / episodes as f64);
    areas.push(GrowthArea {
        rule: GrowthRule::ConfrontationOftenUnaddressed,
        value: unaddressed_share,
        threshold: settings.unaddressed_max_share,
        n: episodes,
        flagged: guard && unaddressed_share.is_some_and(|v| v > settings.unaddressed_max_share),
        sessions: evidence(&|s| Some(s.metrics.confrontation_unaddressed as f64), &|v| v > 0.0),
    });

    let reflections: usize = sessions.iter().map(|s| s.metrics.reflections).sum();
    let questions: usize =
        sessions.iter().map(|s| s.metrics.open_questions.saturating_add(s.metrics.closed_questions)).sum();
    let ratio = (questions > 0).then(|| reflections as f64 / questions as f64);
    areas.push(GrowthArea {
        rule: GrowthRule::FewReflections,
        value: ratio,
        threshold: settings.reflection_question_min,
        n,
        flagged: guard && ratio.is_some_and(|v| v < settings.reflection_question_min),
        sessions: evidence(&|s| s.metrics.reflection_to_question_ratio, &|v| v < settings.reflection_question_min),
    });

    let pairs: Vec<(f64, f64)> =
        sessions.iter().filter_map(|s| Some((s.metrics.markers_per_1000_client_words?, s.srs_total?))).collect();
    TranscriptGrowth {
        sessions: n,
        min_sessions: settings.min_sessions,
        low_reliability: !guard,
        areas,
        agreement_with_srs: srs_agreement(&pairs),
        validity_note: super::VALIDITY_NOTE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(feedback: usize, talk: f64, reflections: usize, questions: usize) -> SessionSummary {
        use crate::domain::transcript::analysis::{PerSpeaker, ShareBasis, TranscriptMetrics};
        SessionSummary {
            session_id: Uuid::now_v7(),
            srs_total: None,
            metrics: TranscriptMetrics {
                turns: 10,
                words: PerSpeaker::default(),
                speaking_ms: PerSpeaker::default(),
                therapist_talk_share: Some(talk),
                talk_share_basis: ShareBasis::Time,
                markers: 0,
                withdrawal_markers: 0,
                confrontation_markers: 0,
                markers_per_1000_client_words: None,
                rupture_episodes: 0,
                unaddressed_episodes: 0,
                confrontation_episodes: 0,
                confrontation_unaddressed: 0,
                feedback_elicited: feedback,
                reflections,
                open_questions: questions,
                closed_questions: 0,
                reflection_to_question_ratio: (questions > 0).then(|| reflections as f64 / questions as f64),
                open_question_share: None,
            },
        }
    }

    #[test]
    fn areas_are_named_only_past_their_threshold_and_from_enough_sessions() {
        let settings = TranscriptSettings::default();
        let area =
            |growth: &TranscriptGrowth, rule: GrowthRule| growth.areas.iter().find(|a| a.rule == rule).unwrap().clone();
        // Five sessions: feedback in one (0.2 < 0.5), talk share 0.7 (> 0.6), R:Q 2/4 (< 1).
        let mut five: Vec<SessionSummary> = (0..4).map(|_| session(0, 0.7, 2, 4)).collect();
        five.push(session(1, 0.7, 2, 4));
        let growth = transcript_growth(&five, &settings);
        assert!(!growth.low_reliability);
        let feedback = area(&growth, GrowthRule::FeedbackRarelyElicited);
        assert_eq!((feedback.value, feedback.flagged, feedback.sessions.len()), (Some(0.2), true, 4));
        assert!(area(&growth, GrowthRule::TherapistTalkShareHigh).flagged);
        assert_eq!(area(&growth, GrowthRule::FewReflections).value, Some(0.5));
        let confrontation = area(&growth, GrowthRule::ConfrontationOftenUnaddressed);
        assert_eq!((confrontation.value, confrontation.flagged), (None, false));
        // The same with four sessions: shown, never named.
        let growth = transcript_growth(&five[..4], &settings);
        assert!(growth.low_reliability);
        assert!(growth.areas.iter().all(|a| !a.flagged));
        // Good practice names nothing.
        let good: Vec<SessionSummary> = (0..6).map(|_| session(2, 0.4, 6, 4)).collect();
        assert!(transcript_growth(&good, &settings).areas.iter().all(|a| !a.flagged));
    }

    #[test]
    fn pearson_r_and_its_fisher_interval_match_a_worked_example() {
        // x = 1..5, y = 2, 4, 5, 4, 5: r = 0.7746 (by hand: sxy = 6, sxx = 10, syy = 6).
        let pairs = [(1.0, 2.0), (2.0, 4.0), (3.0, 5.0), (4.0, 4.0), (5.0, 5.0)];
        let agreement = srs_agreement(&pairs);
        assert!((agreement.r.unwrap() - 0.774_596_669).abs() < 1e-6);
        // z = atanh(r) = 1.0317; ± 1.96 / √2 → tanh(−0.3542) = −0.3401, tanh(2.4176) = 0.9842.
        assert!((agreement.ci_lower.unwrap() + 0.3401).abs() < 1e-3);
        assert!((agreement.ci_upper.unwrap() - 0.9842).abs() < 1e-3);
        assert_eq!(srs_agreement(&pairs[..2]).r, None);
        assert_eq!(srs_agreement(&[(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)]).r, None);
    }
}

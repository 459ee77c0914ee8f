//! The episode alliance view's transcript series: one point per analysed session, labelled as
//! the rule-based, lower-validity signal it is, with its agreement with the client's own
//! session ratings (docs/methodology.md, section 14).

use super::analysis::TranscriptMetrics;
use super::growth::{SrsAgreement, srs_agreement};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// One analysed session as stored.
#[derive(Clone, Debug)]
pub struct AnalysedSession {
    pub session_id: Uuid,
    pub session_number: i32,
    pub version: i32,
    pub rules_version: String,
    pub metrics: TranscriptMetrics,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TranscriptPoint {
    pub session_id: Uuid,
    pub session_number: i32,
    /// The analysis' version (each upload counts up) and the rules that produced it.
    pub version: i32,
    pub rules_version: String,
    pub markers: usize,
    pub withdrawal_markers: usize,
    pub confrontation_markers: usize,
    pub markers_per_1000_client_words: Option<f64>,
    pub rupture_episodes: usize,
    pub unaddressed_episodes: usize,
    pub therapist_talk_share: Option<f64>,
    pub feedback_elicited: usize,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TranscriptSeries {
    pub label: &'static str,
    pub validity_note: &'static str,
    pub points: Vec<TranscriptPoint>,
    /// Sessions with both an analysis and the client's session rating: markers per 1,000 client
    /// words against the rating's total.
    pub agreement_with_srs: SrsAgreement,
}

pub const LABEL: &str = "Transcript markers (rule-based; beside the client's ratings, not instead of them)";

/// `alliance_totals`: the client's session-alliance total by session number.
pub fn transcript_series(sessions: &[AnalysedSession], alliance_totals: &BTreeMap<i32, f64>) -> TranscriptSeries {
    let points = sessions
        .iter()
        .map(|s| TranscriptPoint {
            session_id: s.session_id,
            session_number: s.session_number,
            version: s.version,
            rules_version: s.rules_version.clone(),
            markers: s.metrics.markers,
            withdrawal_markers: s.metrics.withdrawal_markers,
            confrontation_markers: s.metrics.confrontation_markers,
            markers_per_1000_client_words: s.metrics.markers_per_1000_client_words,
            rupture_episodes: s.metrics.rupture_episodes,
            unaddressed_episodes: s.metrics.unaddressed_episodes,
            therapist_talk_share: s.metrics.therapist_talk_share,
            feedback_elicited: s.metrics.feedback_elicited,
        })
        .collect();
    let pairs: Vec<(f64, f64)> = sessions
        .iter()
        .filter_map(|s| Some((s.metrics.markers_per_1000_client_words?, *alliance_totals.get(&s.session_number)?)))
        .collect();
    TranscriptSeries {
        label: LABEL,
        validity_note: super::VALIDITY_NOTE,
        points,
        agreement_with_srs: srs_agreement(&pairs),
    }
}

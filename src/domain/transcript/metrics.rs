//! A session's counts from its findings (docs/methodology.md, section 14.7).

use super::analysis::{Marker, Move};
use super::episodes::{EpisodeFamily, EpisodeStatus, RuptureEpisode};
use super::kinds::{Family, MoveKind, Speaker};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Per speaker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PerSpeaker {
    pub therapist: u64,
    pub client: u64,
    pub other: u64,
}

impl PerSpeaker {
    pub(super) fn add(&mut self, speaker: Speaker, amount: u64) {
        let slot = match speaker {
            Speaker::Therapist => &mut self.therapist,
            Speaker::Client => &mut self.client,
            Speaker::Other => &mut self.other,
        };
        *slot = slot.saturating_add(amount);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareBasis {
    /// Speaking time from the turns' timestamps.
    Time,
    /// Words, when the turns carry no duration.
    Words,
}

/// The session's counts. Moves are counted once per therapist turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptMetrics {
    pub turns: usize,
    pub words: PerSpeaker,
    pub speaking_ms: PerSpeaker,
    /// Therapist ÷ (therapist + client); other speakers left out.
    pub therapist_talk_share: Option<f64>,
    pub talk_share_basis: ShareBasis,
    pub markers: usize,
    pub withdrawal_markers: usize,
    pub confrontation_markers: usize,
    /// Markers per 1,000 client words.
    pub markers_per_1000_client_words: Option<f64>,
    pub rupture_episodes: usize,
    pub unaddressed_episodes: usize,
    /// Episodes with a confrontation marker (confrontation or mixed).
    pub confrontation_episodes: usize,
    pub confrontation_unaddressed: usize,
    pub feedback_elicited: usize,
    pub reflections: usize,
    pub open_questions: usize,
    pub closed_questions: usize,
    /// Reflections ÷ questions (MITI R:Q; 1 is fair, 2 good).
    pub reflection_to_question_ratio: Option<f64>,
    /// Open ÷ all questions.
    pub open_question_share: Option<f64>,
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

pub(super) fn metrics(
    turns: usize,
    words: PerSpeaker,
    speaking_ms: PerSpeaker,
    markers: &[Marker],
    moves: &[Move],
    episodes: &[RuptureEpisode],
) -> TranscriptMetrics {
    let count = |kind: MoveKind| moves.iter().filter(|m| m.kind == kind).count();
    let timed = speaking_ms.therapist.saturating_add(speaking_ms.client);
    let (therapist_talk_share, talk_share_basis) = if timed > 0 {
        (Some(speaking_ms.therapist as f64 / timed as f64), ShareBasis::Time)
    } else {
        let spoken = words.therapist.saturating_add(words.client);
        ((spoken > 0).then(|| words.therapist as f64 / spoken as f64), ShareBasis::Words)
    };
    let withdrawal_markers = markers.iter().filter(|m| m.family == Family::Withdrawal).count();
    let confrontational: Vec<&RuptureEpisode> =
        episodes.iter().filter(|e| e.family != EpisodeFamily::Withdrawal).collect();
    let (open_questions, closed_questions) = (count(MoveKind::QuestionOpen), count(MoveKind::QuestionClosed));
    let questions = open_questions.saturating_add(closed_questions);
    TranscriptMetrics {
        turns,
        words,
        speaking_ms,
        therapist_talk_share,
        talk_share_basis,
        markers: markers.len(),
        withdrawal_markers,
        confrontation_markers: markers.len().saturating_sub(withdrawal_markers),
        markers_per_1000_client_words: (words.client > 0).then(|| markers.len() as f64 * 1000.0 / words.client as f64),
        rupture_episodes: episodes.len(),
        unaddressed_episodes: episodes.iter().filter(|e| e.status == EpisodeStatus::Unaddressed).count(),
        confrontation_episodes: confrontational.len(),
        confrontation_unaddressed: confrontational.iter().filter(|e| e.status == EpisodeStatus::Unaddressed).count(),
        feedback_elicited: count(MoveKind::FeedbackElicited),
        reflections: count(MoveKind::Reflection),
        open_questions,
        closed_questions,
        reflection_to_question_ratio: ratio(count(MoveKind::Reflection), questions),
        open_question_share: ratio(open_questions, questions),
    }
}

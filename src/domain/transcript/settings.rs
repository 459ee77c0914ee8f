//! An organization's transcript settings (organization settings, `transcripts`): what is kept,
//! the analysis' parameters, the areas-for-growth thresholds and its own lexicon entries.
//! Defaults and their reasons: docs/methodology.md, section 14.

use super::analysis::AnalysisSettings;
use super::lexicon::{CustomEntry, Lexicon};
use crate::domain::validation::{FieldError, whole_number};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod default {
    pub fn evidence_chars() -> i32 {
        80
    }
    pub fn resolution_window_turns() -> i32 {
        3
    }
    pub fn minimal_response_words() -> i32 {
        3
    }
    pub fn talk_share_max() -> f64 {
        0.6
    }
    pub fn feedback_min_share() -> f64 {
        0.5
    }
    pub fn unaddressed_max_share() -> f64 {
        0.5
    }
    pub fn reflection_question_min() -> f64 {
        1.0
    }
    pub fn min_sessions() -> i32 {
        5
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscriptSettings {
    /// Keep the transcript's text, encrypted, after the analysis (off: only the analysis is kept).
    #[serde(default)]
    pub retain_text: bool,
    /// Longest evidence snippet stored with a marker or move, in characters; 0 stores none.
    #[serde(default = "default::evidence_chars", deserialize_with = "whole_number")]
    #[schema(minimum = 0.0, maximum = 400.0)]
    pub evidence_chars: i32,
    /// A rupture counts as addressed when a resolving move follows within this many turns.
    #[serde(default = "default::resolution_window_turns", deserialize_with = "whole_number")]
    #[schema(minimum = 1.0, maximum = 20.0)]
    pub resolution_window_turns: i32,
    /// A client answer of at most this many words to an open question is a minimal response.
    #[serde(default = "default::minimal_response_words", deserialize_with = "whole_number")]
    #[schema(minimum = 1.0, maximum = 10.0)]
    pub minimal_response_words: i32,
    /// Area for growth when the clinician's mean talk share is above this.
    #[serde(default = "default::talk_share_max")]
    #[schema(minimum = 0.1, maximum = 0.95)]
    pub talk_share_max: f64,
    /// Area for growth when fewer sessions than this share elicit feedback.
    #[serde(default = "default::feedback_min_share")]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub feedback_min_share: f64,
    /// Area for growth when more confrontation episodes than this share go unaddressed.
    #[serde(default = "default::unaddressed_max_share")]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub unaddressed_max_share: f64,
    /// Area for growth when reflections ÷ questions is below this (MITI: 1 fair, 2 good).
    #[serde(default = "default::reflection_question_min")]
    #[schema(minimum = 0.0, maximum = 10.0)]
    pub reflection_question_min: f64,
    /// Areas for growth are named only from at least this many analysed sessions.
    #[serde(default = "default::min_sessions", deserialize_with = "whole_number")]
    #[schema(minimum = 1.0, maximum = 1000.0)]
    pub min_sessions: i32,
    /// The organization's own lexicon entries, added to the built-in ones (at most 200).
    #[serde(default)]
    #[schema(max_items = 200)]
    pub custom_lexicon: Vec<CustomEntry>,
}

impl Default for TranscriptSettings {
    fn default() -> Self {
        serde_json::from_str("{}").expect("every field has a default")
    }
}

impl TranscriptSettings {
    pub fn analysis(&self) -> AnalysisSettings {
        AnalysisSettings {
            evidence_chars: usize::try_from(self.evidence_chars).unwrap_or(0),
            resolution_window_turns: usize::try_from(self.resolution_window_turns).unwrap_or(1),
            minimal_response_words: usize::try_from(self.minimal_response_words).unwrap_or(1),
        }
    }

    /// Every problem at once, with pointers from the settings' root.
    pub fn validate(&self, errors: &mut Vec<FieldError>) {
        let mut range = |name: &str, value: f64, low: f64, high: f64| {
            if !(low..=high).contains(&value) || !value.is_finite() {
                errors.push(FieldError::new(format!("/transcripts/{name}"), format!("must be from {low} to {high}")));
            }
        };
        range("evidence_chars", f64::from(self.evidence_chars), 0.0, 400.0);
        range("resolution_window_turns", f64::from(self.resolution_window_turns), 1.0, 20.0);
        range("minimal_response_words", f64::from(self.minimal_response_words), 1.0, 10.0);
        range("talk_share_max", self.talk_share_max, 0.1, 0.95);
        range("feedback_min_share", self.feedback_min_share, 0.0, 1.0);
        range("unaddressed_max_share", self.unaddressed_max_share, 0.0, 1.0);
        range("reflection_question_min", self.reflection_question_min, 0.0, 10.0);
        range("min_sessions", f64::from(self.min_sessions), 1.0, 1000.0);
        if self.custom_lexicon.len() > 200 {
            errors.push(FieldError::new("/transcripts/custom_lexicon", "at most 200 entries"));
        } else if let Err(lexicon_errors) = Lexicon::with_custom(&self.custom_lexicon, 0) {
            errors.extend(lexicon_errors);
        }
    }
}

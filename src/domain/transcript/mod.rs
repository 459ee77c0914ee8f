//! Session transcripts read for the alliance: client rupture markers after the Rupture
//! Resolution Rating System, therapist moves, rupture episodes and whether they were
//! addressed, session metrics, and a clinician's areas for growth (docs/methodology.md,
//! section 14). Transparent rules over versioned data (`lexicon_en.json`), each finding naming
//! the rule and entry that fired. A lower-validity signal than the client's own ratings, shown
//! beside them and never instead of them.

pub mod analysis;
mod episodes;
pub mod growth;
pub mod kinds;
pub mod language;
pub mod lexicon;
mod metrics;
pub mod parse;
pub mod series;
pub mod settings;
mod tokens;

#[cfg(test)]
mod analysis_tests;

pub use analysis::{AnalysisSettings, TranscriptAnalysis, Turn, analyse};
pub use kinds::{Family, MarkerKind, MoveKind, Speaker, Strength};
pub use lexicon::Lexicon;
pub use settings::TranscriptSettings;

/// Shown with every transcript result.
pub const VALIDITY_NOTE: &str = "Found by transparent rules in what was said, not rated by the client: a \
lower-validity signal than the client's own session ratings, to be read beside them and never instead of them. \
Precision and recall per marker kind, measured on a labelled set, are in docs/methodology.md (section 14).";

//! Instruments as data, answer parsing and scoring.

pub mod answers;
pub mod builtin;
pub mod catalogue;
pub mod definition;
pub mod measure;
pub mod scoring;

pub use answers::Answers;
pub use catalogue::Catalogue;
pub use definition::InstrumentDefinition;
pub use scoring::{Scores, score};

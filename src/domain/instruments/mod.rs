//! Instruments as data, answer parsing and scoring.

pub mod answers;
pub mod builtin;
pub mod definition;
pub mod scoring;

pub use answers::Answers;
pub use definition::InstrumentDefinition;
pub use scoring::{Scores, score};

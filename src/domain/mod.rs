//! Pure clinical logic and value types. No actix, no diesel, no I/O: everything here is
//! testable without a database, with examples from the literature next to the code.

pub mod analytics;
pub mod clients;
pub mod episodes;
pub mod instruments;
pub mod people;
pub mod role;
pub mod settings;
pub mod signals;
pub mod time;
pub mod validation;

pub use role::Role;

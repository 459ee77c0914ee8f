//! Pure clinical logic and value types. No actix, no diesel, no I/O: everything here is
//! testable without a database, with examples from the literature next to the code.

pub mod clients;
pub mod people;
pub mod role;
pub mod validation;

pub use role::Role;

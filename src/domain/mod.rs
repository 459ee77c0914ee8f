//! Pure clinical logic and value types. No actix, no diesel, no I/O: everything here is
//! testable without a database, with examples from the literature next to the code.
//!
//! Integer arithmetic here may meet values a caller sent: it is checked or saturating, never
//! able to panic (`clippy::arithmetic_side_effects` is denied). Floating-point arithmetic
//! cannot panic and is not affected.

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod analytics;
pub mod bulk_export;
pub mod clients;
pub mod episodes;
pub mod export;
pub mod instruments;
pub mod network;
pub mod people;
pub mod role;
pub mod scopes;
pub mod series_state;
pub mod settings;
pub mod signals;
pub mod time;
pub mod transcript;
pub mod validation;
pub mod webhooks;

pub use role::Role;

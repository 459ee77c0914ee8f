//! Authentication building blocks: password and secret hashing, roles.
//!
//! May import `domain`; must not import actix or diesel.

pub mod password;
pub mod role;

pub use role::Role;

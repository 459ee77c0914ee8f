//! Authentication building blocks: access tokens (JWT), refresh tokens, password and secret
//! hashing, roles. Pure: no actix, no diesel (the `AuthUser` extractor lives in `http`).

pub mod hashing_pool;
pub mod password;
pub mod refresh;
pub mod tokens;

pub use crate::domain::Role;

//! Authentication building blocks: access tokens (JWT), refresh tokens, password and secret
//! hashing, roles, SMART client assertions and the key sets they are verified with. No actix,
//! no diesel (the `AuthUser` extractor lives in `http`); the one I/O here is fetching a
//! service account's key set from its URL.

pub mod chart_links;
pub mod client_assertion;
pub mod hashing_pool;
pub mod password;
pub mod refresh;
pub mod remote_jwks;
pub mod tokens;

pub use crate::domain::Role;

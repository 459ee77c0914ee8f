//! Rapport: scores session feedback forms, stores them, and finds alliance ruptures and
//! off-track cases early.
//!
//! The map (each module's own `//!` says more):
//! - [`cli`]: the subcommands (`serve`, `migrate`, `openapi`, `create-org`).
//! - [`config`]: settings from the environment, validated at start-up.
//! - [`telemetry`]: the tracing subscriber.
//! - [`startup`]: builds the application (database, migrations, routes, listener).
//! - [`embedded_pg`]: the embedded default database cluster.
//! - [`error`]: `ApiError`, the one place errors become problem+json.
//! - [`openapi`]: the OpenAPI document, collected from the registered handlers.
//! - [`auth`]: password hashing and roles.
//! - [`domain`]: pure clinical logic and value types; no I/O.
//! - [`db`]: the only module that imports diesel.
//! - [`http`]: the only module (with `error`) that knows HTTP.
//! - [`jobs`]: background work of the service process (retention).
//! - [`outbound`]: requests to URLs callers register, behind the SSRF guard.
//! - [`sealing`]: the authenticated cipher for retained transcript text.
//!
//! Dependency rules: `domain` imports nothing from the crate; `db` imports `domain`;
//! `http` imports `domain`, `db`, `auth` and `error`. Settings and the pool are built in
//! `startup` and passed in; nothing is global.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod embedded_pg;
pub mod error;
pub mod http;
pub mod jobs;
pub mod memory;
pub mod openapi;
pub mod outbound;
pub mod sealing;
pub mod startup;
pub mod telemetry;

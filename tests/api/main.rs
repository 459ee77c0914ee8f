//! The integration suite: one binary, the real application on a real PostgreSQL.
//!
//! Without `DATABASE_URL` the harness starts a throw-away cluster (the same embedded-PostgreSQL
//! code the service uses) in a temporary directory; with it, it creates its databases on that
//! server. Either way every test gets a fresh database cloned from a migrated template, and
//! nothing is left behind. With `DATABASE_URL` naming a Citus coordinator, each test database is
//! made on every node and distributed instead (`harness_citus`).

mod actors;
mod analytics;
pub mod analytics_rollup;
mod audit_log;
mod authentication;
mod browser;
pub mod charts;
mod cli;
mod clients;
mod distribution;
mod edges;
mod errors;
pub mod export;
mod feedback;
mod fhir;
pub mod fhir_bulk;
mod fhir_smart;
mod fhir_validator;
mod fixtures;
mod form_configuration;
mod harness;
mod harness_citus;
mod migrations;
mod openapi_document;
mod operations;
pub mod role_matrix;
mod schema_rules;
mod series_state;
mod shutdown;
mod sql_rules;
pub mod tenancy;
pub mod transcripts;
mod users;
pub mod webhooks;
